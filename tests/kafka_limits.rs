//! What a Kafka broker answers to requests that ask for a lot, over real sockets on 127.0.0.1:
//! Fetch limits as Kafka reads them, a name asked for twice answered once, and topics created
//! on first use within bounds.
#![cfg(feature = "kafka-wire")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use consumer_groups::kafka::{KafkaConfig, KafkaServer};
use consumer_groups::{Timestamp, TopicPartition};
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, FetchRequest, FetchResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, MetadataRequest, MetadataResponse,
    OffsetFetchRequest, OffsetFetchResponse, ResponseHeader, TopicName,
    fetch_request::{FetchPartition, FetchTopic},
    metadata_request::MetadataRequestTopic,
    offset_fetch_request::OffsetFetchRequestTopic,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;

#[allow(dead_code)]
#[path = "common/frames.rs"]
mod frames;

const WAIT: Duration = Duration::from_secs(5);

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Sends one request and decodes its response.
fn call<R: Decodable>(s: &mut TcpStream, key: ApiKey, version: i16, body: &impl Encodable) -> R {
    s.write_all(&frames::request_frame(key, version, 3, body))
        .unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).expect("a response");
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).unwrap();
    let mut body = Bytes::from(body);
    let h = ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
    assert_eq!(h.correlation_id, 3);
    R::decode(&mut body, version).unwrap()
}

fn start(config: KafkaConfig) -> (KafkaServer, TcpStream) {
    let server = KafkaServer::start(config.port(0)).unwrap();
    let s = TcpStream::connect_timeout(&server.local_addr(), WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    (server, s)
}

/// A server whose topic `t` has two partitions of five records of 100 bytes each.
fn with_records() -> (KafkaServer, TcpStream) {
    let (server, s) = start(KafkaConfig::default());
    server.topics().create("t", 2).unwrap();
    for p in 0..2 {
        for i in 0..5 {
            let tp = TopicPartition::new("t", p);
            server
                .topics()
                .append(&tp, None, Some(&[b'a' + i; 100]), Timestamp(7))
                .unwrap();
        }
    }
    (server, s)
}

/// A Fetch of `t`'s partitions from offset 0 with these limits.
fn fetch(partitions: &[i32], max_bytes: i32, partition_max_bytes: i32) -> FetchRequest {
    let mut f = FetchRequest::default();
    f.max_wait_ms = 0;
    f.min_bytes = 1;
    f.max_bytes = max_bytes;
    let mut t = FetchTopic::default();
    t.topic = TopicName(str("t"));
    t.partitions = partitions
        .iter()
        .map(|&p| {
            let mut fp = FetchPartition::default();
            fp.partition = p;
            fp.partition_max_bytes = partition_max_bytes;
            fp
        })
        .collect();
    f.topics = vec![t];
    f
}

/// The records each answered partition carries, in answer order.
fn counts(r: &FetchResponse) -> Vec<(i32, usize)> {
    r.responses[0]
        .partitions
        .iter()
        .map(|p| {
            let mut bytes = p.records.clone().unwrap_or_default();
            let n = if bytes.is_empty() {
                0
            } else {
                RecordBatchDecoder::decode_all(&mut bytes)
                    .unwrap()
                    .iter()
                    .map(|set| set.records.len())
                    .sum()
            };
            (p.partition_index, n)
        })
        .collect()
}

/// KIP-74: the first partition with records returns one even past the limits; after it the
/// limits hold, and 0 is a limit, not "no limit".
#[test]
fn fetch_limits_hold_as_kafka_reads_them() {
    let (server, mut s) = with_records();
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 11, &fetch(&[0, 1], 0, 1 << 20));
    assert_eq!(counts(&r), [(0, 1), (1, 0)], "max_bytes 0: one record");
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 11, &fetch(&[0, 1], 1 << 20, 0));
    assert_eq!(counts(&r), [(0, 1), (1, 0)], "partition_max_bytes 0");
    // A record takes 61 + 108 bytes alone in a batch, and 108 more for each next one.
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 11, &fetch(&[0, 1], 300, 1 << 20));
    assert_eq!(counts(&r), [(0, 2), (1, 0)], "max_bytes 300");
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 11, &fetch(&[0, 1], 1 << 20, 300));
    assert_eq!(counts(&r), [(0, 2), (1, 2)], "partition_max_bytes 300");
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 11, &fetch(&[0, 1], 1 << 20, 1 << 20));
    assert_eq!(counts(&r), [(0, 5), (1, 5)]);
    // A partition named three times is answered once.
    let r: FetchResponse = call(
        &mut s,
        ApiKey::Fetch,
        11,
        &fetch(&[1, 1, 0, 1], 1 << 20, 1 << 20),
    );
    assert_eq!(counts(&r), [(1, 5), (0, 5)]);
    server.shutdown();
}

#[test]
fn a_name_asked_for_twice_is_answered_once() {
    let (server, mut s) = with_records();
    let mut d = DescribeGroupsRequest::default();
    d.groups = vec![GroupId(str("g")), GroupId(str("g")), GroupId(str("h"))];
    let r: DescribeGroupsResponse = call(&mut s, ApiKey::DescribeGroups, 5, &d);
    let ids: Vec<&str> = r.groups.iter().map(|g| g.group_id.0.as_str()).collect();
    assert_eq!(ids, ["g", "h"]);

    let mut f = FindCoordinatorRequest::default();
    f.coordinator_keys = vec![str("a"), str("a"), str("b")];
    let r: FindCoordinatorResponse = call(&mut s, ApiKey::FindCoordinator, 4, &f);
    let keys: Vec<&str> = r.coordinators.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);

    let mut m = MetadataRequest::default();
    let mut t = MetadataRequestTopic::default();
    t.name = Some(TopicName(str("t")));
    m.topics = Some(vec![t.clone(), t]);
    let r: MetadataResponse = call(&mut s, ApiKey::Metadata, 9, &m);
    assert_eq!(r.topics.len(), 1);

    let mut o = OffsetFetchRequest::default();
    o.group_id = GroupId(str("g"));
    let mut t = OffsetFetchRequestTopic::default();
    t.name = TopicName(str("t"));
    t.partition_indexes = vec![0, 0, 1, 0];
    o.topics = Some(vec![t]);
    let r: OffsetFetchResponse = call(&mut s, ApiKey::OffsetFetch, 7, &o);
    let ps: Vec<i32> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.partition_index)
        .collect();
    assert_eq!(ps, [0, 1]);
    server.shutdown();
}

fn metadata_for(names: &[&str]) -> MetadataRequest {
    let mut m = MetadataRequest::default();
    m.allow_auto_topic_creation = true;
    m.topics = Some(
        names
            .iter()
            .map(|n| {
                let mut t = MetadataRequestTopic::default();
                t.name = Some(TopicName(str(n)));
                t
            })
            .collect(),
    );
    m
}

/// Each topic's error code, in answer order (3 is UNKNOWN_TOPIC_OR_PARTITION).
fn errors(r: &MetadataResponse) -> Vec<i16> {
    r.topics.iter().map(|t| t.error_code).collect()
}

#[test]
fn topics_created_on_first_use_are_bounded_in_number_and_rate() {
    let config = KafkaConfig {
        max_auto_create_topics: 3,
        ..KafkaConfig::default()
    };
    let (server, mut s) = start(config);
    let r: MetadataResponse = call(&mut s, ApiKey::Metadata, 9, &metadata_for(&["a", "b"]));
    assert_eq!(errors(&r), [0, 0]);
    let r: MetadataResponse = call(&mut s, ApiKey::Metadata, 9, &metadata_for(&["c", "d", "e"]));
    assert_eq!(errors(&r), [0, 3, 3], "no more than 3 topics");
    assert_eq!(server.topics().len(), 3);
    server.shutdown();

    let config = KafkaConfig {
        auto_create_topics_per_second: 2,
        ..KafkaConfig::default()
    };
    let (server, mut s) = start(config);
    let r: MetadataResponse = call(&mut s, ApiKey::Metadata, 9, &metadata_for(&["a", "b", "c"]));
    assert_eq!(errors(&r), [0, 0, 3], "two a second");
    // The allowance refills: `c` is created within about half a second.
    let deadline = Instant::now() + WAIT;
    loop {
        let r: MetadataResponse = call(&mut s, ApiKey::Metadata, 9, &metadata_for(&["c"]));
        if errors(&r) == [0] {
            break;
        }
        assert!(Instant::now() < deadline, "the allowance refills");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.shutdown();

    let config = KafkaConfig {
        auto_create_topics: false,
        ..KafkaConfig::default()
    };
    let (server, mut s) = start(config);
    let r: MetadataResponse = call(&mut s, ApiKey::Metadata, 9, &metadata_for(&["a"]));
    assert_eq!(errors(&r), [3], "off");
    assert!(server.topics().is_empty());
    server.shutdown();
}
