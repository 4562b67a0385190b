//! Hostile requests against a broker in its own process: the frames that used to abort it,
//! requests whose answers used to cost far more than their size, and the worst inputs of each
//! kind for every served API and version. After each, the broker must still answer on a new
//! connection, and its peak resident memory while serving it must stay within
//! `8 × (request + the reply a Kafka broker would lawfully send) + SLACK`.
//!
//! The broker runs as a child process (this test binary again, in server mode) so that its
//! peak memory can be read from `/proc/PID/status` (`VmHWM`, reset before each request through
//! `/proc/PID/clear_refs`). `HOSTILE_REPORT=1` prints the table of peak bytes per request byte.
#![cfg(all(feature = "kafka-wire", target_os = "linux"))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use consumer_groups::kafka::{KafkaConfig, KafkaServer, supported_versions};
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, GroupId, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, RequestHeader, SyncGroupRequest, TopicName,
    fetch_request::{FetchPartition, FetchTopic},
    join_group_request::JoinGroupRequestProtocol,
    leave_group_request::MemberIdentity,
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    metadata_request::MetadataRequestTopic,
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
    offset_fetch_request::OffsetFetchRequestTopic,
    produce_request::{PartitionProduceData, TopicProduceData},
    sync_group_request::SyncGroupRequestAssignment,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

const WAIT: Duration = Duration::from_secs(20);
/// Room for what any request may touch once: a worker thread's stack and allocator arena,
/// buffers of the reactor.
const SLACK: u64 = 3 << 20;

/// Server mode: started by [`Broker::spawn`] with `HOSTILE_SERVER` set; serves until its
/// standard input closes.
#[test]
fn server_process() {
    if std::env::var_os("HOSTILE_SERVER").is_none() {
        return;
    }
    let mut config = KafkaConfig::default()
        .port(0)
        .default_partitions(1)
        .initial_rebalance_delay_ms(0);
    config.coordinator.min_session_timeout_ms = 1_000;
    config.max_connections = 20_000;
    if let Some(ms) = std::env::var("HOSTILE_CLEANER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.coordinator.log_cleaner_backoff_ms = ms;
    }
    let server = KafkaServer::start(config).expect("start");
    // A partition of 2,000 records of 1 KiB, and one of 100,000 small records, for the
    // fetch and timestamp cases.
    server.topics().create("big", 1).unwrap();
    server.topics().create("many", 1).unwrap();
    let big = consumer_groups::TopicPartition::new("big", 0);
    let many = consumer_groups::TopicPartition::new("many", 0);
    for i in 0..2_000u64 {
        let ts = consumer_groups::Timestamp(i);
        server
            .topics()
            .append(&big, None, Some(&[b'x'; 1024]), ts)
            .unwrap();
    }
    for i in 0..100_000u64 {
        let ts = consumer_groups::Timestamp(i);
        server.topics().append(&many, None, Some(b"v"), ts).unwrap();
    }
    println!("port {}", server.local_addr().port());
    std::io::stdout().flush().unwrap();
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink);
    server.shutdown();
}

struct Broker {
    child: Child,
    addr: SocketAddr,
}

impl Broker {
    fn spawn() -> Broker {
        Broker::spawn_with(&[])
    }

    fn spawn_with(env: &[(&str, String)]) -> Broker {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args([
                "--exact",
                "server_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("HOSTILE_SERVER", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server process starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut port = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            // The harness may print the test's name on the same line.
            if let Some((_, p)) = line.split_once("port ") {
                port = Some(p.trim().parse::<u16>().unwrap());
                break;
            }
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port.expect("the server printed its port")));
        // Drain what else it prints, so it never writes to a closed pipe.
        std::thread::spawn(move || for _ in lines {});
        Broker { child, addr }
    }

    /// A field of `/proc/PID/status`, in bytes for sizes (given in kB there).
    fn status(&self, field: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| {
                let v = v.trim();
                let scale = if v.ends_with(" kB") { 1024 } else { 1 };
                v.trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .map(|n| n * scale)
            })
            .unwrap_or(0)
    }

    fn alive(&mut self) -> bool {
        if self.child.try_wait().ok().flatten().is_some() {
            return false;
        }
        // ApiVersions v0 on a new connection.
        let Ok(mut s) = TcpStream::connect_timeout(&self.addr, WAIT) else {
            return false;
        };
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut frame = vec![0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 9, 0, 0];
        if s.write_all(&frame).is_err() {
            return false;
        }
        frame.clear();
        matches!(read_reply(&mut s), Some(r) if r[..4] == [0, 0, 0, 9])
    }

    /// Sends `frame` on a new connection and waits for its answer or the connection's close;
    /// returns the reply's size (0 if closed) and the peak memory growth while serving it.
    fn measure(&mut self, frame: &[u8]) -> (usize, u64) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").unwrap();
        let base = self.status("VmRSS:");
        let mut s = TcpStream::connect_timeout(&self.addr, WAIT).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let _ = s.write_all(frame);
        let reply = read_reply(&mut s).map_or(0, |r| r.len());
        drop(s);
        let peak = self.status("VmHWM:");
        (reply, peak.saturating_sub(base))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Closing its standard input stops it; kill it by its id if it does not stop.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_reply(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// A framed request: size, header, body.
fn frame(key: ApiKey, version: i16, body: &impl Encodable) -> Vec<u8> {
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(str("hostile"));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.to_vec()
}

/// A frame of `key`/`version` with a raw body after a header without client id.
fn raw(key: ApiKey, version: i16, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&(key as i16).to_be_bytes());
    f.extend_from_slice(&version.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0xff, 0xff]);
    if key.request_header_version(version) >= 2 {
        f.push(0);
    }
    f.extend_from_slice(body);
    let mut out = (f.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&f);
    out
}

/// A Produce v3 of one partition of `topic` whose records are `batch`.
fn produce(topic: &str, batch: Vec<u8>) -> Vec<u8> {
    let mut p = PartitionProduceData::default();
    p.records = Some(Bytes::from(batch));
    let mut t = TopicProduceData::default();
    t.name = TopicName(str(topic));
    t.partition_data = vec![p];
    let mut r = ProduceRequest::default();
    r.acks = 1;
    r.timeout_ms = 1000;
    r.topic_data = vec![t];
    frame(ApiKey::Produce, 3, &r)
}

/// One v2 batch holding `record` (a record's bytes after its length), with a right CRC.
fn batch_of(record: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 61];
    b[16] = 2;
    b[57..61].copy_from_slice(&1i32.to_be_bytes());
    // The record's zigzag length.
    let mut z = (record.len() as u32) << 1;
    while z >= 0x80 {
        b.push((z as u8) | 0x80);
        z >>= 7;
    }
    b.push(z as u8);
    b.extend_from_slice(record);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// One case: its name, the frame, and the size of the reply a Kafka broker would lawfully send
/// (duplicates answered once, fetch limits honoured), which the measured reply may not exceed.
struct Case {
    name: String,
    frame: Vec<u8>,
    lawful: usize,
    /// What the broker must hold first (a group to describe).
    setup: Option<fn(SocketAddr)>,
}

fn case(name: impl Into<String>, frame: Vec<u8>, lawful: usize) -> Case {
    Case {
        name: name.into(),
        frame,
        lawful,
        setup: None,
    }
}

/// The cases found by fuzzing, each with its lawful reply size.
fn reported_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // The 16-byte DescribeGroups v5 that aborted the process.
    let mut f = vec![0, 0, 0, 16];
    f.extend_from_slice(&[
        0x00, 0x0f, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
        0x8f,
    ]);
    cases.push(case("DescribeGroups v5, a 5-byte varint count", f, 0));
    // A record whose offset delta is a 5-byte varint ending in 0x80, then a null key and
    // value and a header count of 2^31 - 1.
    let record = [
        0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f,
    ];
    cases.push(case(
        "Produce v3, a record's 5-byte offset delta",
        produce("big", batch_of(&record)),
        100,
    ));

    // DescribeGroups naming one group 50 times whose member carries 1 MiB of metadata.
    let mut d = DescribeGroupsRequest::default();
    d.groups = vec![GroupId(str("fat")); 50];
    cases.push(Case {
        setup: Some(join_with_big_metadata),
        ..case(
            "DescribeGroups v0, one 1 MiB group named 50 times",
            frame(ApiKey::DescribeGroups, 0, &d),
            (1 << 20) + 400,
        )
    });

    // Fetch naming one partition 100 times with max_bytes 0.
    let mut fr = FetchRequest::default();
    fr.max_wait_ms = 0;
    fr.max_bytes = 0;
    let mut p = FetchPartition::default();
    p.partition_max_bytes = 1 << 20;
    let mut t = FetchTopic::default();
    t.topic = TopicName(str("big"));
    t.partitions = vec![p; 100];
    fr.topics = vec![t];
    cases.push(case(
        "Fetch v11, one partition 100 times, max_bytes 0",
        frame(ApiKey::Fetch, 11, &fr),
        1_200,
    ));

    // OffsetFetch naming one partition 20,000 times.
    let mut of = OffsetFetchRequest::default();
    of.group_id = GroupId(str("fat"));
    let mut t = OffsetFetchRequestTopic::default();
    t.name = TopicName(str("big"));
    t.partition_indexes = vec![0; 20_000];
    of.topics = Some(vec![t]);
    cases.push(case(
        "OffsetFetch v7, one partition 20,000 times",
        frame(ApiKey::OffsetFetch, 7, &of),
        100,
    ));

    // FindCoordinator v4 with 100k empty keys; DescribeGroups with 400k empty ids.
    let mut fc = FindCoordinatorRequest::default();
    fc.coordinator_keys = vec![StrBytes::default(); 100_000];
    cases.push(case(
        "FindCoordinator v4, 100k empty keys",
        frame(ApiKey::FindCoordinator, 4, &fc),
        100,
    ));
    let mut d = DescribeGroupsRequest::default();
    d.groups = vec![GroupId(StrBytes::default()); 400_000];
    cases.push(case(
        "DescribeGroups v5, 400k empty ids",
        frame(ApiKey::DescribeGroups, 5, &d),
        100,
    ));

    // Metadata with 100k new names, and with 400k empty names.
    let mut m = MetadataRequest::default();
    m.allow_auto_topic_creation = true;
    m.topics = Some(
        (0..100_000)
            .map(|i| {
                let mut t = MetadataRequestTopic::default();
                t.name = Some(TopicName(str(&format!("new-topic-{i:06}"))));
                t
            })
            .collect(),
    );
    let f = frame(ApiKey::Metadata, 9, &m);
    // Each name answered: the name and an error or one partition.
    cases.push(case("Metadata v9, 100k new names", f, 100_000 * 40));
    let mut m = MetadataRequest::default();
    m.topics = Some(vec![MetadataRequestTopic::default(); 400_000]);
    cases.push(case(
        "Metadata v9, 400k empty names",
        frame(ApiKey::Metadata, 9, &m),
        100,
    ));

    // ListOffsets by timestamp: 2,000 entries for one 100k-record partition (duplicates:
    // INVALID_REQUEST at each, as Kafka answers, and no lookup).
    let mut lo = ListOffsetsRequest::default();
    let mut t = ListOffsetsTopic::default();
    t.name = TopicName(str("many"));
    t.partitions = (0..2_000)
        .map(|_| {
            let mut p = ListOffsetsPartition::default();
            p.timestamp = 99_000;
            p
        })
        .collect();
    lo.topics = vec![t];
    cases.push(case(
        "ListOffsets v1, 2,000 timestamps",
        frame(ApiKey::ListOffsets, 1, &lo),
        2_000 * 30,
    ));

    // Requests of the kinds measured at 23-53 bytes per byte: many members leaving, many
    // offsets committed, many protocols joining, many records produced.
    let mut lg = LeaveGroupRequest::default();
    lg.group_id = GroupId(str("nobody"));
    let mut m = MemberIdentity::default();
    m.member_id = str("m");
    lg.members = vec![m; 50_000];
    cases.push(case(
        "LeaveGroup v3, 50k members",
        frame(ApiKey::LeaveGroup, 3, &lg),
        50_000 * 12,
    ));
    let mut oc = OffsetCommitRequest::default();
    oc.group_id = GroupId(str("committers"));
    oc.generation_id_or_member_epoch = -1;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = TopicName(str("big"));
    t.partitions = (0..20_000)
        .map(|i| {
            let mut p = OffsetCommitRequestPartition::default();
            p.partition_index = i;
            p.committed_offset = 1;
            p
        })
        .collect();
    oc.topics = vec![t];
    // The answer is 6 bytes a partition; what is kept is a record in the offsets log and an
    // entry in the offsets table for each, about 200 bytes.
    cases.push(case(
        "OffsetCommit v2, 20k partitions",
        frame(ApiKey::OffsetCommit, 2, &oc),
        20_000 * (6 + 200),
    ));
    let mut jg = JoinGroupRequest::default();
    jg.group_id = GroupId(str("joiners"));
    jg.session_timeout_ms = 10_000;
    jg.protocol_type = str("consumer");
    let mut p = JoinGroupRequestProtocol::default();
    p.name = str("x");
    jg.protocols = vec![p; 50_000];
    cases.push(case(
        "JoinGroup v1, 50k protocols",
        frame(ApiKey::JoinGroup, 1, &jg),
        100,
    ));
    let mut many = Vec::new();
    for _ in 0..2_000 {
        many.extend(batch_of(&[0, 0, 0, 1, 1, 0]));
    }
    cases.push(case("Produce v3, 2,000 batches", produce("big", many), 100));
    cases
}

/// Joins group `fat` (JoinGroup v3, no member id round) with a protocol carrying 1 MiB of
/// metadata, and waits for the answer.
fn join_with_big_metadata(addr: SocketAddr) {
    let mut jg = JoinGroupRequest::default();
    jg.group_id = GroupId(str("fat"));
    jg.session_timeout_ms = 60_000;
    jg.rebalance_timeout_ms = 60_000;
    jg.protocol_type = str("consumer");
    let mut p = JoinGroupRequestProtocol::default();
    p.name = str("range");
    p.metadata = Bytes::from(vec![7u8; 1 << 20]);
    jg.protocols = vec![p];
    let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&frame(ApiKey::JoinGroup, 3, &jg)).unwrap();
    let reply = read_reply(&mut s).expect("the join is answered");
    let joined = JoinGroupResponse::decode(&mut Bytes::from(reply).slice(4..), 3).unwrap();
    assert_eq!(joined.error_code, 0, "the join succeeds");
    // The leader syncs, so the group is Stable and describes its members' metadata.
    let mut sg = SyncGroupRequest::default();
    sg.group_id = GroupId(str("fat"));
    sg.generation_id = joined.generation_id;
    sg.member_id = joined.member_id.clone();
    let mut a = SyncGroupRequestAssignment::default();
    a.member_id = joined.member_id;
    a.assignment = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    sg.assignments = vec![a];
    s.write_all(&frame(ApiKey::SyncGroup, 1, &sg)).unwrap();
    let reply = read_reply(&mut s).expect("the sync is answered");
    assert_eq!(&reply[8..10], &[0, 0], "the sync succeeds");
}

/// The worst inputs of each kind for every served API and version: counts of 2^31 - 1 and
/// u32::MAX, maximal and over-long varints, and frames cut short.
fn generic_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for api in supported_versions() {
        let key = ApiKey::try_from(api.api_key).unwrap();
        for v in api.min_version..=api.max_version {
            let bodies: [(&str, Vec<u8>); 5] = [
                ("i32::MAX counts", [0x7f, 0xff, 0xff, 0xff].repeat(64)),
                ("maximal varints", [0xff, 0xff, 0xff, 0xff, 0x0f].repeat(64)),
                ("over-long varints", vec![0x80; 300]),
                ("0xff", vec![0xff; 300]),
                ("cut short", vec![0, 1]),
            ];
            for (what, body) in bodies {
                // Bodies that decode (an `0xff` count is a null array: "all topics") get the
                // lawful answer to them, a few KiB.
                cases.push(case(
                    format!("{key:?} v{v}, {what}"),
                    raw(key, v, &body),
                    64 << 10,
                ));
            }
        }
    }
    cases
}

#[test]
fn no_request_crashes_the_broker_or_costs_more_than_a_small_multiple_of_its_size() {
    let report = std::env::var_os("HOSTILE_REPORT").is_some();
    let mut failures = Vec::new();
    // Each case reported by fuzzing on a broker of its own, so that memory freed by one case
    // and still resident does not hide the next one's growth; the generic cases share one.
    for c in reported_cases() {
        let mut broker = Broker::spawn();
        if let Some(setup) = c.setup {
            setup(broker.addr);
        }
        run_case(&mut broker, &c, report, &mut failures);
    }
    let mut broker = Broker::spawn();
    for c in &generic_cases() {
        if !run_case(&mut broker, c, report, &mut failures) {
            broker = Broker::spawn();
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Sends one case and checks the broker after it; `false` if the broker died.
fn run_case(broker: &mut Broker, c: &Case, report: bool, failures: &mut Vec<String>) -> bool {
    let started = Instant::now();
    let (reply, growth) = broker.measure(&c.frame);
    let took = started.elapsed();
    let size = c.frame.len();
    if report {
        println!(
            "| {} | {size} | {reply} | {growth} | {:.1} | {} ms |",
            c.name,
            growth as f64 / size as f64,
            took.as_millis()
        );
    }
    if !broker.alive() {
        failures.push(format!("{}: the broker died", c.name));
        return false;
    }
    if reply > c.lawful.max(size) * 2 + 1024 {
        failures.push(format!("{}: a reply of {reply} bytes", c.name));
    }
    let budget = 8 * (size + c.lawful) as u64 + SLACK;
    if growth > budget {
        failures.push(format!(
            "{}: peak growth {growth} bytes, over {budget}",
            c.name
        ));
    }
    true
}

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
