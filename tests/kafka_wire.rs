//! The Kafka wire front end over real sockets on 127.0.0.1, spoken with the `kafka-protocol`
//! codec as a client would: ApiVersions (and its fallback for an unsupported version), a group
//! round trip, records produced and fetched, and bad input that never takes the server down.
#![cfg(feature = "kafka-wire")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use consumer_groups::kafka::{KafkaConfig, KafkaServer, supported_versions};
use consumer_groups::protocol::consumer::{Assignment, Subscription, TopicPartitions};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    FetchRequest, FetchResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, ProduceRequest, ProduceResponse,
    RequestHeader, ResponseHeader, SyncGroupRequest, SyncGroupResponse, TopicName,
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
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

const WAIT: Duration = Duration::from_secs(5);

fn server() -> KafkaServer {
    let config = KafkaConfig::default()
        .port(0)
        .default_partitions(3)
        .initial_rebalance_delay_ms(0);
    KafkaServer::start(config).expect("the server starts")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// A framed request: size, header, body.
fn request_frame(key: ApiKey, version: i16, correlation_id: i32, body: &impl Encodable) -> Vec<u8> {
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(str("wire-test"));
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

/// The next response frame's bytes, `None` if the server closed the connection.
fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body).ok()?;
    Some(Bytes::from(body))
}

fn call<R: Decodable>(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
    body: &impl Encodable,
) -> R {
    stream
        .write_all(&request_frame(key, version, 42, body))
        .unwrap();
    let mut frame = read_frame(stream).expect("a response");
    let header = ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 42);
    R::decode(&mut frame, version).expect("a response that decodes")
}

/// Whether the server closed the connection (rather than answer) within the wait.
fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(0) | Err(_))
}

#[test]
fn api_versions_advertises_what_is_implemented_within_the_codec_ranges() {
    let server = server();
    let mut s = connect(server.local_addr());
    let mut req = ApiVersionsRequest::default();
    req.client_software_name = str("wire-test");
    req.client_software_version = str("1.0");
    let r: ApiVersionsResponse = call(&mut s, ApiKey::ApiVersions, 3, &req);
    assert_eq!(r.error_code, 0);
    let listed: Vec<(i16, i16, i16)> = r
        .api_keys
        .iter()
        .map(|a| (a.api_key, a.min_version, a.max_version))
        .collect();
    let expected: Vec<(i16, i16, i16)> = supported_versions()
        .iter()
        .map(|a| (a.api_key, a.min_version, a.max_version))
        .collect();
    assert_eq!(listed, expected);
    for (key, min, max) in listed {
        let codec = ApiKey::try_from(key).unwrap().valid_versions();
        assert!(
            codec.min <= min && max <= codec.max,
            "api {key}: {min}..{max} vs {codec}"
        );
    }
    // librdkafka uses Fetch v4+ only when Produce v3+ is advertised.
    let produce = r.api_keys.iter().find(|a| a.api_key == 0).unwrap();
    assert!(produce.min_version <= 3 && produce.max_version >= 3);
    let list_offsets = r.api_keys.iter().find(|a| a.api_key == 2).unwrap();
    assert_eq!(list_offsets.max_version, 10);
}

/// KIP-511: an ApiVersions in a version the broker does not speak is answered in version 0
/// with UNSUPPORTED_VERSION and the versions, so the client falls back.
#[test]
fn api_versions_unsupported_version_answers_v0_with_the_versions() {
    let server = server();
    let mut s = connect(server.local_addr());
    // Version 99 with a v2 request header, as a future client would send it.
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    frame.put_i16(ApiKey::ApiVersions as i16);
    frame.put_i16(99);
    frame.put_i32(7);
    frame.put_i16(9);
    frame.put_slice(b"wire-test");
    frame.put_u8(0); // no tagged fields
    frame.put_slice(&[3, b'a', b'b', 3, b'1', b'0', 0]); // a guess at the body
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    s.write_all(&frame).unwrap();
    let mut body = read_frame(&mut s).expect("an answer, not a closed connection");
    let header = ResponseHeader::decode(&mut body, 0).unwrap();
    assert_eq!(header.correlation_id, 7);
    let r = ApiVersionsResponse::decode(&mut body, 0).unwrap();
    assert_eq!(r.error_code, 35, "UNSUPPORTED_VERSION");
    let api_versions = r.api_keys.iter().find(|a| a.api_key == 18).unwrap();
    assert_eq!((api_versions.min_version, api_versions.max_version), (0, 4));
    // The connection stays usable: the client retries in a version it can use.
    let again: ApiVersionsResponse = call(
        &mut s,
        ApiKey::ApiVersions,
        0,
        &ApiVersionsRequest::default(),
    );
    assert_eq!(again.error_code, 0);
}

fn subscription(topic: &str) -> Bytes {
    Bytes::from(Subscription::new([topic]).encode(0).unwrap())
}

#[test]
fn group_round_trip_join_sync_heartbeat_commit_fetch_leave() {
    let server = server();
    let mut s = connect(server.local_addr());
    let group = GroupId(str("wire-group"));

    let mut find = FindCoordinatorRequest::default();
    find.key = str("wire-group");
    let r: FindCoordinatorResponse = call(&mut s, ApiKey::FindCoordinator, 3, &find);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.port, i32::from(server.local_addr().port()));

    let mut join = JoinGroupRequest::default();
    join.group_id = group.clone();
    join.session_timeout_ms = 10_000;
    join.rebalance_timeout_ms = 10_000;
    join.protocol_type = str("consumer");
    let mut protocol = JoinGroupRequestProtocol::default();
    protocol.name = str("range");
    protocol.metadata = subscription("orders");
    join.protocols = vec![protocol];
    // KIP-394: the first join is answered MEMBER_ID_REQUIRED with the id to use.
    let first: JoinGroupResponse = call(&mut s, ApiKey::JoinGroup, 7, &join);
    assert_eq!(first.error_code, 79);
    assert!(first.member_id.as_str().starts_with("wire-test-"));
    join.member_id = first.member_id.clone();
    let joined: JoinGroupResponse = call(&mut s, ApiKey::JoinGroup, 7, &join);
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(
        joined.protocol_name.as_ref().map(StrBytes::as_str),
        Some("range")
    );
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata, subscription("orders"));

    let assignment = Assignment {
        partitions: vec![TopicPartitions::new("orders", [0, 1, 2])],
        user_data: None,
    };
    let bytes = Bytes::from(assignment.encode(0).unwrap());
    let mut sync = SyncGroupRequest::default();
    sync.group_id = group.clone();
    sync.generation_id = 1;
    sync.member_id = joined.member_id.clone();
    let mut a = SyncGroupRequestAssignment::default();
    a.member_id = joined.member_id.clone();
    a.assignment = bytes.clone();
    sync.assignments = vec![a];
    let synced: SyncGroupResponse = call(&mut s, ApiKey::SyncGroup, 5, &sync);
    assert_eq!(synced.error_code, 0);
    assert_eq!(synced.assignment, bytes);

    let mut list = ListGroupsRequest::default();
    list.states_filter = vec![str("stable")];
    let listed: ListGroupsResponse = call(&mut s, ApiKey::ListGroups, 4, &list);
    let names: Vec<(&str, &str)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.0.as_str(), g.group_state.as_str()))
        .collect();
    assert_eq!(names, [("wire-group", "Stable")]);
    let mut describe = DescribeGroupsRequest::default();
    describe.groups = vec![group.clone()];
    let described: DescribeGroupsResponse = call(&mut s, ApiKey::DescribeGroups, 5, &describe);
    let g = &described.groups[0];
    assert_eq!((g.error_code, g.group_state.as_str()), (0, "Stable"));
    assert_eq!(g.protocol_data.as_str(), "range");
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].member_assignment, bytes);
    assert_eq!(g.members[0].client_id.as_str(), "wire-test");

    let mut hb = HeartbeatRequest::default();
    hb.group_id = group.clone();
    hb.generation_id = 1;
    hb.member_id = joined.member_id.clone();
    let beat: HeartbeatResponse = call(&mut s, ApiKey::Heartbeat, 4, &hb);
    assert_eq!(beat.error_code, 0);
    hb.generation_id = 0;
    let stale: HeartbeatResponse = call(&mut s, ApiKey::Heartbeat, 4, &hb);
    assert_eq!(stale.error_code, 22, "ILLEGAL_GENERATION");

    // Offsets, a negative one included: kafkajs commits -2 after an out-of-range fetch.
    let mut commit = OffsetCommitRequest::default();
    commit.group_id = group.clone();
    commit.generation_id_or_member_epoch = 1;
    commit.member_id = joined.member_id.clone();
    let mut topic = OffsetCommitRequestTopic::default();
    topic.name = TopicName(str("orders"));
    topic.partitions = [(0, 17), (1, -2), (2, 0)]
        .iter()
        .map(|&(p, o)| {
            let mut part = OffsetCommitRequestPartition::default();
            part.partition_index = p;
            part.committed_offset = o;
            part.committed_metadata = Some(str("meta"));
            part
        })
        .collect();
    commit.topics = vec![topic];
    let committed: OffsetCommitResponse = call(&mut s, ApiKey::OffsetCommit, 8, &commit);
    let codes: Vec<i16> = committed.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, [0, 0, 0]);

    // A fresh connection reads them back (OffsetFetch v7, and v1 without a top-level error).
    let mut other = connect(server.local_addr());
    for version in [1, 7] {
        let mut fetch = OffsetFetchRequest::default();
        fetch.group_id = group.clone();
        let mut t = OffsetFetchRequestTopic::default();
        t.name = TopicName(str("orders"));
        t.partition_indexes = vec![0, 1, 2];
        fetch.topics = Some(vec![t]);
        let r: OffsetFetchResponse = call(&mut other, ApiKey::OffsetFetch, version, &fetch);
        assert_eq!(r.error_code, 0);
        let got: Vec<(i32, i64, i16)> = r.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset, p.error_code))
            .collect();
        assert_eq!(
            got,
            [(0, 17, 0), (1, -2, 0), (2, 0, 0)],
            "version {version}"
        );
    }

    let mut leave = LeaveGroupRequest::default();
    leave.group_id = group;
    let mut m = MemberIdentity::default();
    m.member_id = joined.member_id.clone();
    leave.members = vec![m];
    let left: LeaveGroupResponse = call(&mut s, ApiKey::LeaveGroup, 4, &leave);
    assert_eq!(left.error_code, 0);
    assert_eq!(left.members[0].error_code, 0);
    assert!(
        server
            .service()
            .with_coordinator(|c, _| c.members("wire-group").is_empty())
    );
}

fn record(offset: i64, key: &str, value: &str) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: offset as i32,
        timestamp: 1_700_000_000_000 + offset,
        key: Some(Bytes::from(key.to_owned())),
        value: Some(Bytes::from(value.to_owned())),
        headers: IndexMap::new(),
    }
}

#[test]
fn produce_then_fetch_returns_the_records_in_batch_format_v2() {
    let server = server();
    let mut s = connect(server.local_addr());

    // Metadata creates the topic with the configured partition count.
    let mut md = MetadataRequest::default();
    let mut t = MetadataRequestTopic::default();
    t.name = Some(TopicName(str("events")));
    md.topics = Some(vec![t]);
    md.allow_auto_topic_creation = true;
    let meta: MetadataResponse = call(&mut s, ApiKey::Metadata, 9, &md);
    assert_eq!(meta.topics[0].error_code, 0);
    assert_eq!(meta.topics[0].partitions.len(), 3);
    assert_eq!(meta.brokers[0].port, i32::from(server.local_addr().port()));

    let records: Vec<Record> = (0..5)
        .map(|i| record(i, &format!("k{i}"), &format!("v{i}")))
        .collect();
    let mut batch = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut batch, &records, &options).unwrap();
    let mut produce = ProduceRequest::default();
    produce.acks = -1;
    produce.timeout_ms = 1000;
    let mut td = TopicProduceData::default();
    td.name = TopicName(str("events"));
    let mut pd = PartitionProduceData::default();
    pd.index = 1;
    pd.records = Some(batch.freeze());
    td.partition_data = vec![pd];
    produce.topic_data = vec![td];
    for expected_base in [0, 5] {
        let r: ProduceResponse = call(&mut s, ApiKey::Produce, 7, &produce);
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, expected_base));
    }

    // Both batches carry timestamps T+0..T+4: the partition's go back in time at offset 5.
    const T: i64 = 1_700_000_000_000;
    let list_offsets = |timestamps: &[i64]| {
        let mut lo = ListOffsetsRequest::default();
        lo.replica_id = (-1).into();
        let mut lt = ListOffsetsTopic::default();
        lt.name = TopicName(str("events"));
        lt.partitions = timestamps
            .iter()
            .map(|&ts| {
                let mut p = ListOffsetsPartition::default();
                p.partition_index = 1;
                p.timestamp = ts;
                p
            })
            .collect();
        lo.topics = vec![lt];
        lo
    };
    for version in [3, 7] {
        // One timestamp a request: a partition named twice in one is refused (below).
        let mut got = Vec::new();
        for ts in [-2, -1, -3, T + 2, T + 5, -4, -5] {
            let r: ListOffsetsResponse =
                call(&mut s, ApiKey::ListOffsets, version, &list_offsets(&[ts]));
            let p = &r.topics[0].partitions[0];
            got.push((p.error_code, p.timestamp, p.offset));
        }
        // -3: the earliest record with the largest timestamp, as Kafka answers; by timestamp:
        // the earliest record at or after it, or -1 past the last; -4 (earliest local) is the
        // log start, -5 (latest tiered) is -1 with nothing tiered.
        let expected = [
            (0, -1, 0),
            (0, -1, 10),
            (0, T + 4, 4),
            (0, T + 2, 2),
            (0, -1, -1),
            (0, -1, 0),
            (0, -1, -1),
        ];
        assert_eq!(got, expected, "ListOffsets v{version}");
        // One partition named twice: INVALID_REQUEST at each mention, as Kafka answers.
        let r: ListOffsetsResponse = call(
            &mut s,
            ApiKey::ListOffsets,
            version,
            &list_offsets(&[-2, -1]),
        );
        let codes: Vec<i16> = r.topics[0]
            .partitions
            .iter()
            .map(|p| p.error_code)
            .collect();
        assert_eq!(codes, [42, 42], "ListOffsets v{version} duplicates");
    }

    let fetch = |offset: i64| {
        let mut f = FetchRequest::default();
        f.replica_id = (-1).into();
        f.max_wait_ms = 100;
        f.min_bytes = 1;
        f.max_bytes = 1 << 20;
        f.session_epoch = -1;
        let mut ft = FetchTopic::default();
        ft.topic = TopicName(str("events"));
        let mut fp = FetchPartition::default();
        fp.partition = 1;
        fp.fetch_offset = offset;
        fp.partition_max_bytes = 1 << 20;
        ft.partitions = vec![fp];
        f.topics = vec![ft];
        f
    };
    for version in [4, 11, 12] {
        let r: FetchResponse = call(&mut s, ApiKey::Fetch, version, &fetch(3));
        let p = &r.responses[0].partitions[0];
        assert_eq!(
            (p.error_code, p.high_watermark),
            (0, 10),
            "Fetch v{version}"
        );
        let mut bytes = p.records.clone().unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        let got: Vec<(i64, String)> = sets
            .iter()
            .flat_map(|set| &set.records)
            .map(|r| {
                let key = String::from_utf8(r.key.clone().unwrap().to_vec()).unwrap();
                (r.offset, key)
            })
            .collect();
        let expected: Vec<(i64, String)> = (3..10).map(|o| (o, format!("k{}", o % 5))).collect();
        assert_eq!(got, expected, "Fetch v{version}");
    }
    // Past the end: OFFSET_OUT_OF_RANGE, answered (not an error of the connection).
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 11, &fetch(11));
    assert_eq!(r.responses[0].partitions[0].error_code, 1);
    // At the end: nothing, after the wait.
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 11, &fetch(10));
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert!(p.records.as_ref().is_none_or(Bytes::is_empty));
}

fn assert_still_serving(addr: SocketAddr) {
    let mut s = connect(addr);
    let r: ApiVersionsResponse = call(
        &mut s,
        ApiKey::ApiVersions,
        0,
        &ApiVersionsRequest::default(),
    );
    assert_eq!(r.error_code, 0);
}

#[test]
fn bad_input_closes_that_connection_and_the_server_keeps_serving() {
    let server = server();
    let addr = server.local_addr();

    // Random bytes, a deterministic stream from a small generator, several times.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..20 {
        let mut s = connect(addr);
        let junk: Vec<u8> = (0..(64 + round * 37))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let _ = s.write_all(&junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    assert_still_serving(addr);

    // Random bodies behind a well-formed size and a known API key and version.
    for key in [
        ApiKey::JoinGroup,
        ApiKey::Fetch,
        ApiKey::Produce,
        ApiKey::Metadata,
    ] {
        let mut s = connect(addr);
        let mut frame = BytesMut::new();
        frame.put_i32(40);
        frame.put_i16(key as i16);
        frame.put_i16(4);
        frame.put_i32(1);
        frame.put_i16(-1);
        frame.put_slice(&[0xff; 30]);
        s.write_all(&frame).unwrap();
        let _ = read_frame(&mut s);
    }
    assert_still_serving(addr);

    // A frame over the size limit: closed without reading it.
    let mut s = connect(addr);
    s.write_all(&(200 * 1024 * 1024i32).to_be_bytes()).unwrap();
    assert!(closed(&mut s));
    // A negative size.
    let mut s = connect(addr);
    s.write_all(&(-5i32).to_be_bytes()).unwrap();
    assert!(closed(&mut s));

    // An unknown API key, and a known one in a version not served.
    let mut s = connect(addr);
    s.write_all(&[0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0])
        .unwrap();
    assert!(closed(&mut s));
    let mut s = connect(addr);
    s.write_all(&request_frame(ApiKey::Heartbeat, 0, 1, &HeartbeatRequest::default())[..4])
        .unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(10);
    frame.put_i16(ApiKey::Fetch as i16);
    frame.put_i16(99);
    frame.put_i32(1);
    frame.put_i16(0);
    let mut s2 = connect(addr);
    s2.write_all(&frame).unwrap();
    assert!(closed(&mut s2));
    drop(s);

    // A client that disconnects mid-request.
    let mut s = connect(addr);
    let full = request_frame(ApiKey::Metadata, 9, 1, &MetadataRequest::default());
    s.write_all(&full[..full.len() / 2]).unwrap();
    drop(s);
    // ... and one that disconnects while its JoinGroup is parked.
    let mut s = connect(addr);
    let mut join = JoinGroupRequest::default();
    join.group_id = GroupId(str("abandoned"));
    join.session_timeout_ms = 6000;
    join.rebalance_timeout_ms = 6000;
    join.protocol_type = str("consumer");
    s.write_all(&request_frame(ApiKey::JoinGroup, 3, 1, &join))
        .unwrap();
    drop(s);

    assert_still_serving(addr);
    server.shutdown();
}

/// A count the bytes cannot hold (the codec would reserve memory for it at once) closes the
/// connection, or for a produced batch answers CORRUPT_MESSAGE, and never aborts the server.
#[test]
fn forged_counts_are_refused_before_the_codec_reserves_memory() {
    let server = server();
    let addr = server.local_addr();

    // JoinGroup v5 whose protocols array claims i32::MAX elements.
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    frame.put_i16(ApiKey::JoinGroup as i16);
    frame.put_i16(5);
    frame.put_i32(1);
    frame.put_i16(1);
    frame.put_slice(b"x");
    frame.put_i16(1);
    frame.put_slice(b"g");
    frame.put_i32(6000);
    frame.put_i32(6000);
    frame.put_i16(0);
    frame.put_i16(-1);
    frame.put_i16(8);
    frame.put_slice(b"consumer");
    frame.put_i32(i32::MAX);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    let mut s = connect(addr);
    s.write_all(&frame).unwrap();
    assert!(closed(&mut s));

    // The same in a flexible version: a compact array count of u32::MAX.
    let mut req = FetchRequest::default();
    req.replica_id = (-1).into();
    let mut bytes = request_frame(ApiKey::Fetch, 12, 1, &req);
    // The body ends: topics (empty: 0x01), forgotten topics (0x01), rack id (0x01), tags (0x00).
    let at = bytes.len() - 4;
    bytes.truncate(at);
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let size = (bytes.len() - 4) as i32;
    bytes[..4].copy_from_slice(&size.to_be_bytes());
    let mut s = connect(addr);
    s.write_all(&bytes).unwrap();
    assert!(closed(&mut s));

    // A produced batch whose record count is i32::MAX.
    let mut batch = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut batch, &[record(0, "k", "v")], &options).unwrap();
    batch[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let mut produce = ProduceRequest::default();
    produce.acks = 1;
    let mut td = TopicProduceData::default();
    td.name = TopicName(str("forged"));
    let mut pd = PartitionProduceData::default();
    pd.records = Some(batch.freeze());
    td.partition_data = vec![pd];
    produce.topic_data = vec![td];
    server.topics().create("forged", 1).unwrap();
    let mut s = connect(addr);
    let r: ProduceResponse = call(&mut s, ApiKey::Produce, 7, &produce);
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 2,
        "CORRUPT_MESSAGE"
    );

    assert_still_serving(addr);
}
