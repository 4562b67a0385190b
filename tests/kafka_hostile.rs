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

mod broker_process;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use broker_process::{Broker, WAIT, frame, read_reply, str};
use bytes::Bytes;
use consumer_groups::kafka::supported_versions;
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, GroupId, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, SyncGroupRequest, TopicName,
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
use kafka_protocol::protocol::{Decodable, StrBytes};

/// Room for what any request may touch once: a worker thread's stack and allocator arena,
/// buffers of the reactor.
const SLACK: u64 = 3 << 20;

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
