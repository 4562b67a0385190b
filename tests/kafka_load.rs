//! Load on a `KafkaServer` in its own process: 10,000 idle connections, and a steady commit
//! load, with the server's threads and resident memory read from `/proc/PID/status`.
//! `HOSTILE_REPORT=1` prints the figures.
#![cfg(all(feature = "kafka-wire", target_os = "linux"))]

mod broker_process;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use broker_process::{Broker, WAIT, frame, read_reply, str};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, TopicName,
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
};

/// 10,000 idle connections cost no thread each and a few KiB each; the broker still serves
/// a new one. `HOSTILE_REPORT=1` prints the figures.
#[test]
fn ten_thousand_idle_connections_hold_no_thread_and_little_memory() {
    let mut broker = Broker::spawn();
    assert!(broker.alive());
    let threads_before = broker.status("Threads:");
    let rss_before = broker.status("VmRSS:");
    let started = Instant::now();
    let mut held = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        held.push(TcpStream::connect_timeout(&broker.addr, WAIT).expect("connect"));
    }
    // Every connection reaches the reactor (a client's connect returns once the kernel
    // queues it): the broker answers a new one after them.
    assert!(
        broker.alive(),
        "a new connection is served beside 10,000 idle ones"
    );
    let opened = started.elapsed();
    std::thread::sleep(Duration::from_millis(1_500));
    let threads = broker.status("Threads:");
    let rss = broker.status("VmRSS:");
    let per_connection = rss.saturating_sub(rss_before) / 10_000;
    if std::env::var_os("HOSTILE_REPORT").is_some() {
        println!(
            "10,000 idle connections: opened in {} ms; threads {threads_before} -> {threads}; \
             RSS {rss_before} -> {rss} bytes ({per_connection} bytes a connection)",
            opened.as_millis()
        );
    }
    assert!(
        threads <= threads_before + 2,
        "threads {threads_before} -> {threads}"
    );
    assert!(
        per_connection <= 4096,
        "{per_connection} bytes a connection"
    );
    drop(held);
}

/// A steady commit load (4 connections committing 6 partitions each, as fast as answered)
/// leaves the broker's memory bounded: the coordinator compacts the offsets log on its own
/// timer. `SOAK_SECONDS` (default 4) sets the length, `SOAK_CLEANER_MS` (default 200) the
/// cleaner's backoff; `HOSTILE_REPORT=1` prints RSS once a second.
#[test]
fn a_steady_commit_load_leaves_memory_bounded() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let cleaner = std::env::var("SOAK_CLEANER_MS").unwrap_or_else(|_| "200".into());
    let broker = Broker::spawn_with(&[("HOSTILE_CLEANER_MS", cleaner)]);
    let report = std::env::var_os("HOSTILE_REPORT").is_some();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let commits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, commits, addr) = (stop.clone(), commits.clone(), broker.addr);
            std::thread::spawn(move || {
                let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
                s.set_read_timeout(Some(WAIT)).unwrap();
                let mut offset = 0i64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    offset += 1;
                    let mut oc = OffsetCommitRequest::default();
                    oc.group_id = GroupId(str(&format!("soak-{w}")));
                    oc.generation_id_or_member_epoch = -1;
                    let mut t = OffsetCommitRequestTopic::default();
                    t.name = TopicName(str("big"));
                    t.partitions = (0..6)
                        .map(|p| {
                            let mut cp = OffsetCommitRequestPartition::default();
                            cp.partition_index = p;
                            cp.committed_offset = offset;
                            cp
                        })
                        .collect();
                    oc.topics = vec![t];
                    s.write_all(&frame(ApiKey::OffsetCommit, 2, &oc)).unwrap();
                    read_reply(&mut s).expect("the commit is answered");
                    commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        let rss = broker.status("VmRSS:");
        samples.push(rss);
        if report {
            println!(
                "t={:>3} s  commits {:>9}  RSS {:>6.1} MB",
                started.elapsed().as_secs(),
                commits.load(std::sync::atomic::Ordering::Relaxed),
                rss as f64 / 1e6
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let total = commits.load(std::sync::atomic::Ordering::Relaxed);
    assert!(total > 1_000, "only {total} commits");
    // After the first second, memory may not keep growing with the commits: the last
    // sample stays within 64 MB of the first (an unbounded log grows by tens of MB a second
    // at this rate).
    let (first, last) = (samples[0], *samples.last().unwrap());
    assert!(
        last <= first + (64 << 20),
        "RSS {first} -> {last} bytes over {total} commits"
    );
}
