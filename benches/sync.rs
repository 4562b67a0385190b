//! End to end through the sync layer (figures in `BENCHMARKS.md`): one `GroupService`, 100
//! consumer threads (`sync::Consumer`, each with its heartbeat thread) in one group, a topic of
//! 1,000 partitions.
//!
//! * `e2e/stable-100x1000`: from starting the 100 consumers to a stable group (the coordinator
//!   Stable with 100 members, and every consumer Stable). Each iteration is a fresh service and
//!   topic; stopping the threads is outside the timing. The coordinator has no initial rebalance
//!   delay and the consumers heartbeat every 100 ms (sessions 10 s, cooperative-sticky), so the
//!   figure is the machinery's cost plus the heartbeats that carry each rebalance to the members
//!   already in the group.
//! * `e2e/consume-100x1000`: records per second consumed by the 100 consumers of a stable group,
//!   each committing (`commit_sync`) after every 1,000 records it reads. Each iteration appends
//!   200,000 records (4-byte keys, 16-byte values) while the consumers wait, untimed, then
//!   releases them and times until every record has been read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use consumer_groups::consumer::{ConsumerConfig, MemberState, OffsetReset};
use consumer_groups::coordinator::{CoordinatorConfig, GroupState};
use consumer_groups::log::MemoryLog;
use consumer_groups::offsets::LogOffsetStore;
use consumer_groups::sync::{Consumer, GroupService, Producer, Topics};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CONSUMERS: usize = 100;
const PARTITIONS: u32 = 1_000;
const GROUP: &str = "e2e";
const TOPIC: &str = "events";
const RECORDS_PER_ROUND: u64 = 200_000;
const COMMIT_EVERY: u64 = 1_000;

fn service() -> Arc<GroupService> {
    let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
    Arc::new(GroupService::start(
        CoordinatorConfig {
            initial_rebalance_delay_ms: 0,
            ..CoordinatorConfig::default()
        },
        store,
    ))
}

fn config() -> ConsumerConfig {
    let mut c = ConsumerConfig::new(GROUP);
    c.auto_offset_reset = OffsetReset::Earliest;
    c.enable_auto_commit = false;
    c.assignors = vec!["cooperative-sticky".into()];
    // Existing members hear of a rebalance through their next heartbeat: at Kafka's 3 s
    // interval, the time to a stable group would be mostly that wait.
    c.heartbeat_interval_ms = 100;
    c.session_timeout_ms = 10_000;
    c
}

/// The consumers of one run and the flags that steer them.
struct Fleet {
    service: Arc<GroupService>,
    topics: Topics,
    /// Consumers read only while this is set.
    go: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    read: Arc<AtomicU64>,
    stable: Arc<Vec<AtomicBool>>,
    threads: Vec<JoinHandle<()>>,
}

impl Fleet {
    fn start(reading: bool) -> Fleet {
        let service = service();
        let topics = Topics::new();
        topics.create(TOPIC, PARTITIONS).expect("topic");
        let go = Arc::new(AtomicBool::new(reading));
        let stop = Arc::new(AtomicBool::new(false));
        let read = Arc::new(AtomicU64::new(0));
        let stable: Arc<Vec<AtomicBool>> =
            Arc::new((0..CONSUMERS).map(|_| AtomicBool::new(false)).collect());
        let threads = (0..CONSUMERS)
            .map(|i| {
                let (service, topics) = (service.clone(), topics.clone());
                let (go, stop, read, stable) =
                    (go.clone(), stop.clone(), read.clone(), stable.clone());
                thread::spawn(move || {
                    let mut c = Consumer::new(config(), &service, topics).expect("consumer");
                    c.subscribe([TOPIC]).expect("subscribe");
                    let mut since_commit = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if !go.load(Ordering::Relaxed) {
                            // Keep the membership current, read nothing.
                            c.pause(c.assignment());
                        } else if !c.paused().is_empty() {
                            c.resume(c.paused());
                        }
                        let polled = c.poll(Duration::from_millis(5)).expect("poll");
                        let n = polled.records.len() as u64;
                        if n > 0 {
                            read.fetch_add(n, Ordering::Relaxed);
                            since_commit += n;
                            if since_commit >= COMMIT_EVERY {
                                // A refusal while rebalancing is retried at the next batch.
                                if c.commit_sync(None).is_ok() {
                                    since_commit = 0;
                                }
                            }
                        }
                        stable[i].store(c.state() == MemberState::Stable, Ordering::Relaxed);
                    }
                    let _ = c.close();
                })
            })
            .collect();
        Fleet {
            service,
            topics,
            go,
            stop,
            read,
            stable,
            threads,
        }
    }

    /// The coordinator Stable with every consumer in it, and every consumer Stable.
    fn is_stable(&self) -> bool {
        let group = self.service.with_coordinator(|c, _| {
            c.group_state(GROUP) == Some(GroupState::Stable) && c.members(GROUP).len() == CONSUMERS
        });
        group && self.stable.iter().all(|s| s.load(Ordering::Relaxed))
    }

    fn wait_stable(&self) {
        let start = Instant::now();
        while !self.is_stable() {
            assert!(start.elapsed() < Duration::from_secs(120), "never stable");
            thread::sleep(Duration::from_millis(1));
        }
    }

    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("consumer thread");
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("e2e");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));

    group.bench_function("stable-100x1000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let fleet = Fleet::start(true);
                fleet.wait_stable();
                total += start.elapsed();
                fleet.finish();
            }
            total
        });
    });

    let fleet = Fleet::start(false);
    fleet.wait_stable();
    let producer = Producer::new(fleet.topics.clone(), fleet.service.clock());
    let value = [7u8; 16];
    let mut produced = 0u64;
    group.throughput(Throughput::Elements(RECORDS_PER_ROUND));
    group.bench_function("consume-100x1000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                fleet.go.store(false, Ordering::Relaxed);
                for _ in 0..RECORDS_PER_ROUND {
                    let key = (produced as u32).to_be_bytes();
                    producer
                        .send(TOPIC, Some(&key[..]), &value)
                        .expect("append");
                    produced += 1;
                }
                let target = produced;
                let start = Instant::now();
                fleet.go.store(true, Ordering::Relaxed);
                while fleet.read.load(Ordering::Relaxed) < target {
                    thread::sleep(Duration::from_micros(200));
                }
                total += start.elapsed();
            }
            total
        });
    });
    assert_eq!(
        fleet.read.load(Ordering::Relaxed),
        produced,
        "read exactly once"
    );
    fleet.finish();
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
