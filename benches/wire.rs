//! The Kafka wire front end's request path over loopback (feature `kafka-wire`; figures in
//! `BENCHMARKS.md`): one client connection to an in-process `KafkaServer`, requests encoded and
//! responses decoded with `kafka-protocol`, as a client would.
//!
//! * `wire/heartbeat`: one Heartbeat round trip of a member of a stable group (socket, decode,
//!   the coordinator under its lock, encode).
//! * `wire/produce-1000`: a Produce of one uncompressed batch of 1,000 records of 100 bytes.
//! * `wire/fetch-1000`: a Fetch that returns 1,000 records of 100 bytes in one v2 batch.

use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::{BufMut, Bytes, BytesMut};
use consumer_groups::kafka::{KafkaConfig, KafkaServer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, GroupId, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, SyncGroupRequest, SyncGroupResponse, TopicName,
    fetch_request::{FetchPartition, FetchTopic},
    join_group_request::JoinGroupRequestProtocol,
    produce_request::{PartitionProduceData, TopicProduceData},
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn call<R: Decodable>(s: &mut TcpStream, key: ApiKey, version: i16, body: &impl Encodable) -> R {
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(str("bench"));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    s.write_all(&buf).unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let mut frame = vec![0u8; u32::from_be_bytes(size) as usize];
    s.read_exact(&mut frame).unwrap();
    let mut frame = Bytes::from(frame);
    ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
    R::decode(&mut frame, version).unwrap()
}

fn batch(n: i64) -> Bytes {
    let value = Bytes::from(vec![b'x'; 100]);
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: i as i32,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(value.clone()),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

fn produce_request(topic: &str, records: Bytes) -> ProduceRequest {
    let mut produce = ProduceRequest::default();
    produce.acks = 1;
    produce.timeout_ms = 1000;
    let mut td = TopicProduceData::default();
    td.name = TopicName(str(topic));
    let mut pd = PartitionProduceData::default();
    pd.records = Some(records);
    td.partition_data = vec![pd];
    produce.topic_data = vec![td];
    produce
}

fn bench(c: &mut Criterion) {
    let server =
        KafkaServer::start(KafkaConfig::default().port(0).initial_rebalance_delay_ms(0)).unwrap();
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_nodelay(true).unwrap();
    let mut group = c.benchmark_group("wire");

    // A member of a stable group of one.
    let mut join = JoinGroupRequest::default();
    join.group_id = GroupId(str("bench"));
    join.session_timeout_ms = 60_000;
    join.rebalance_timeout_ms = 60_000;
    join.protocol_type = str("consumer");
    let mut protocol = JoinGroupRequestProtocol::default();
    protocol.name = str("range");
    join.protocols = vec![protocol];
    let first: JoinGroupResponse = call(&mut s, ApiKey::JoinGroup, 7, &join);
    join.member_id = first.member_id;
    let joined: JoinGroupResponse = call(&mut s, ApiKey::JoinGroup, 7, &join);
    let mut sync = SyncGroupRequest::default();
    sync.group_id = GroupId(str("bench"));
    sync.generation_id = joined.generation_id;
    sync.member_id = joined.member_id.clone();
    let synced: SyncGroupResponse = call(&mut s, ApiKey::SyncGroup, 5, &sync);
    assert_eq!(synced.error_code, 0);
    let mut hb = HeartbeatRequest::default();
    hb.group_id = GroupId(str("bench"));
    hb.generation_id = joined.generation_id;
    hb.member_id = joined.member_id;
    group.bench_function("heartbeat", |b| {
        b.iter(|| {
            let r: HeartbeatResponse = call(&mut s, ApiKey::Heartbeat, 4, &hb);
            assert_eq!(r.error_code, 0);
        });
    });

    server.topics().create("produce", 1).unwrap();
    let produce = produce_request("produce", batch(1000));
    group.throughput(Throughput::Elements(1000));
    group.bench_function("produce-1000", |b| {
        b.iter(|| {
            let r: ProduceResponse = call(&mut s, ApiKey::Produce, 7, &produce);
            assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        });
    });

    server.topics().create("fetch", 1).unwrap();
    let _: ProduceResponse = call(
        &mut s,
        ApiKey::Produce,
        7,
        &produce_request("fetch", batch(1000)),
    );
    let mut fetch = FetchRequest::default();
    fetch.replica_id = (-1).into();
    fetch.max_bytes = 1 << 22;
    fetch.session_epoch = -1;
    let mut ft = FetchTopic::default();
    ft.topic = TopicName(str("fetch"));
    let mut fp = FetchPartition::default();
    fp.partition_max_bytes = 1 << 22;
    ft.partitions = vec![fp];
    fetch.topics = vec![ft];
    group.bench_function("fetch-1000", |b| {
        b.iter(|| {
            let r: FetchResponse = call(&mut s, ApiKey::Fetch, 11, &fetch);
            let bytes = r.responses[0].partitions[0].records.as_ref().unwrap().len();
            assert!(bytes > 100_000);
        });
    });
    group.finish();
    drop(s);
    server.shutdown();
}

criterion_group!(benches, bench);
criterion_main!(benches);
