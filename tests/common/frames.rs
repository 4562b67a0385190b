//! Kafka wire inputs for the fuzz targets (feature `kafka-wire`): request frames built with
//! the `kafka-protocol` codec, record batches, and the seeds made of them, a valid frame of
//! every API and version the server speaks ([`supported_versions`]).

use bytes::{BufMut, Bytes, BytesMut};
use consumer_groups::kafka::supported_versions;
use consumer_groups::protocol::consumer::{Assignment, Subscription, TopicPartitions};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest,
    GroupId, HeartbeatRequest, InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest,
    ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, RequestHeader, RequestKind, SyncGroupRequest, TopicName,
    fetch_request::{FetchPartition, FetchTopic},
    join_group_request::JoinGroupRequestProtocol,
    leave_group_request::MemberIdentity,
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    metadata_request::MetadataRequestTopic,
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
    offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    },
    produce_request::{PartitionProduceData, TopicProduceData},
    sync_group_request::SyncGroupRequestAssignment,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// The topic the seed requests name; the server under test creates it.
pub const TOPIC: &str = "orders";
/// The group the seed requests name.
const GROUP: &str = "fuzz-group";

/// A protocol string.
pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// A request frame with its size: size, header (client id "fuzz"), body.
pub fn request_frame(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &impl Encodable,
) -> Vec<u8> {
    frame_with(key, version, correlation_id, |buf| {
        body.encode(buf, version).map_err(|e| format!("{e:#}"))
    })
}

/// A request frame whose body `encode` writes.
fn frame_with(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    encode: impl FnOnce(&mut BytesMut) -> Result<(), String>,
) -> Vec<u8> {
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(s("fuzz"));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, key.request_header_version(version))
        .expect("a request header encodes");
    encode(&mut buf).unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.to_vec()
}

/// A Produce of `records` to partition 0 of `topic`, acks=-1.
pub fn produce_request(topic: &str, records: Bytes) -> ProduceRequest {
    let mut partition = PartitionProduceData::default();
    partition.index = 0;
    partition.records = Some(records);
    let mut data = TopicProduceData::default();
    data.name = TopicName(s(topic));
    data.partition_data = vec![partition];
    let mut request = ProduceRequest::default();
    request.acks = -1;
    request.timeout_ms = 1_000;
    request.topic_data = vec![data];
    request
}

/// A record for a batch.
fn record(offset: i64, key: Option<&str>, value: Option<&str>, headers: &[(&str, &str)]) -> Record {
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
        key: key.map(|k| Bytes::from(k.to_owned())),
        value: value.map(|v| Bytes::from(v.to_owned())),
        headers: headers
            .iter()
            .map(|(k, v)| (s(k), Some(Bytes::from((*v).to_owned()))))
            .collect::<IndexMap<_, _>>(),
    }
}

/// One uncompressed v2 batch of `records`.
fn batch(records: &[Record]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records, &options).expect("a batch encodes");
    buf.to_vec()
}

/// A valid request of `key` in version `v`, with a value in every field that version has.
pub fn sample_request(key: ApiKey, v: i16) -> RequestKind {
    let subscription = Subscription::new([TOPIC]).encode(1).unwrap();
    let assignment = Assignment {
        partitions: vec![TopicPartitions::new(TOPIC, [0, 1])],
        user_data: None,
    }
    .encode(0)
    .unwrap();
    match key {
        ApiKey::Produce => {
            let records = batch(&[
                record(0, Some("k0"), Some("v0"), &[]),
                record(1, Some("k1"), None, &[("h", "x")]),
            ]);
            RequestKind::Produce(produce_request(TOPIC, Bytes::from(records)))
        }
        ApiKey::Fetch => {
            let mut r = FetchRequest::default();
            r.replica_id = (-1).into();
            r.max_wait_ms = 10;
            r.min_bytes = 1;
            r.max_bytes = 1 << 20;
            r.session_epoch = -1;
            let mut p = FetchPartition::default();
            p.fetch_offset = 0;
            p.partition_max_bytes = 1 << 16;
            let mut t = FetchTopic::default();
            t.topic = TopicName(s(TOPIC));
            t.partitions = vec![p.clone(), p.with_partition(1)];
            r.topics = vec![t];
            RequestKind::Fetch(r)
        }
        ApiKey::ListOffsets => {
            let mut r = ListOffsetsRequest::default();
            r.replica_id = (-1).into();
            let mut t = ListOffsetsTopic::default();
            t.name = TopicName(s(TOPIC));
            t.partitions = [-1, -2]
                .iter()
                .map(|&timestamp| {
                    let mut p = ListOffsetsPartition::default();
                    p.timestamp = timestamp;
                    p
                })
                .collect();
            r.topics = vec![t];
            RequestKind::ListOffsets(r)
        }
        ApiKey::Metadata => {
            let mut r = MetadataRequest::default();
            let mut t = MetadataRequestTopic::default();
            t.name = Some(TopicName(s(TOPIC)));
            r.topics = Some(vec![t]);
            r.allow_auto_topic_creation = true;
            RequestKind::Metadata(r)
        }
        ApiKey::OffsetCommit => {
            let mut r = OffsetCommitRequest::default();
            r.group_id = GroupId(s(GROUP));
            r.generation_id_or_member_epoch = -1;
            if (2..=4).contains(&v) {
                r.retention_time_ms = -1;
            }
            let mut p = OffsetCommitRequestPartition::default();
            p.committed_offset = 5;
            p.committed_metadata = Some(s("meta"));
            if v >= 6 {
                p.committed_leader_epoch = 2;
            }
            let mut t = OffsetCommitRequestTopic::default();
            t.name = TopicName(s(TOPIC));
            t.partitions = vec![p.clone(), p.with_partition_index(1)];
            r.topics = vec![t];
            RequestKind::OffsetCommit(r)
        }
        ApiKey::OffsetFetch => {
            let mut r = OffsetFetchRequest::default();
            if v >= 8 {
                let mut t = OffsetFetchRequestTopics::default();
                t.name = TopicName(s(TOPIC));
                t.partition_indexes = vec![0, 1];
                let mut g = OffsetFetchRequestGroup::default();
                g.group_id = GroupId(s(GROUP));
                g.topics = Some(vec![t]);
                r.groups = vec![g];
            } else {
                let mut t = OffsetFetchRequestTopic::default();
                t.name = TopicName(s(TOPIC));
                t.partition_indexes = vec![0, 1];
                r.group_id = GroupId(s(GROUP));
                r.topics = Some(vec![t]);
            }
            RequestKind::OffsetFetch(r)
        }
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            if v >= 4 {
                r.coordinator_keys = vec![s(GROUP), s("other")];
            } else {
                r.key = s(GROUP);
            }
            RequestKind::FindCoordinator(r)
        }
        ApiKey::JoinGroup => {
            let mut r = JoinGroupRequest::default();
            r.group_id = GroupId(s(GROUP));
            r.session_timeout_ms = 100;
            if v >= 1 {
                r.rebalance_timeout_ms = 100;
            }
            r.protocol_type = s("consumer");
            let mut p = JoinGroupRequestProtocol::default();
            p.name = s("range");
            p.metadata = Bytes::from(subscription);
            r.protocols = vec![p];
            if v >= 8 {
                r.reason = Some(s("fuzz"));
            }
            RequestKind::JoinGroup(r)
        }
        ApiKey::Heartbeat => {
            let mut r = HeartbeatRequest::default();
            r.group_id = GroupId(s(GROUP));
            r.generation_id = 1;
            r.member_id = s("member");
            if v >= 3 {
                r.group_instance_id = Some(s("instance"));
            }
            RequestKind::Heartbeat(r)
        }
        ApiKey::LeaveGroup => {
            let mut r = LeaveGroupRequest::default();
            r.group_id = GroupId(s(GROUP));
            if v >= 3 {
                let mut m = MemberIdentity::default();
                m.member_id = s("member");
                if v >= 5 {
                    m.reason = Some(s("fuzz"));
                }
                r.members = vec![m];
            } else {
                r.member_id = s("member");
            }
            RequestKind::LeaveGroup(r)
        }
        ApiKey::SyncGroup => {
            let mut r = SyncGroupRequest::default();
            r.group_id = GroupId(s(GROUP));
            r.generation_id = 1;
            r.member_id = s("member");
            if v >= 5 {
                r.protocol_type = Some(s("consumer"));
                r.protocol_name = Some(s("range"));
            }
            let mut a = SyncGroupRequestAssignment::default();
            a.member_id = s("member");
            a.assignment = Bytes::from(assignment);
            r.assignments = vec![a];
            RequestKind::SyncGroup(r)
        }
        ApiKey::DescribeGroups => {
            let mut r = DescribeGroupsRequest::default();
            r.groups = vec![GroupId(s(GROUP)), GroupId(s("other"))];
            RequestKind::DescribeGroups(r)
        }
        ApiKey::ListGroups => {
            let mut r = ListGroupsRequest::default();
            if v >= 4 {
                r.states_filter = vec![s("Stable"), s("Empty")];
            }
            RequestKind::ListGroups(r)
        }
        ApiKey::ApiVersions => {
            let mut r = ApiVersionsRequest::default();
            if v >= 3 {
                r.client_software_name = s("fuzz");
                r.client_software_version = s("1.0");
            }
            RequestKind::ApiVersions(r)
        }
        ApiKey::InitProducerId => {
            let mut r = InitProducerIdRequest::default();
            r.transaction_timeout_ms = 60_000;
            RequestKind::InitProducerId(r)
        }
        other => panic!("no sample request for {other:?}"),
    }
}

/// `ProduceRequest` as a snake-case name: `produce`, `offset_commit`, ...
fn snake(key: ApiKey) -> String {
    let mut out = String::new();
    for (i, c) in format!("{key:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Seed inputs for the request target: a valid frame (after its size) of every API and
/// version served, named `<api>-v<version>`.
pub fn request_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for api in supported_versions() {
        let key = ApiKey::try_from(api.api_key).expect("a known API");
        for v in api.min_version..=api.max_version {
            let body = sample_request(key, v);
            let frame = frame_with(key, v, 1, |buf| {
                body.encode(buf, v).map_err(|e| format!("{e:#}"))
            });
            seeds.push((format!("{}-v{v}", snake(key)), frame[4..].to_vec()));
        }
    }
    seeds
}

/// Seed inputs for the record batch target (a flags byte, then the batches): batches of one
/// and several records, with headers, null keys and values, two batches back to back, a
/// transactional control batch, and a batch that claims gzip.
pub fn record_batch_seeds() -> Vec<(String, Vec<u8>)> {
    let one = batch(&[record(0, Some("k"), Some("v"), &[])]);
    let several = batch(&[
        record(0, Some("a"), Some("1"), &[("trace", "t1"), ("span", "s1")]),
        record(1, None, Some("2"), &[]),
        record(2, Some("c"), None, &[("h", "")]),
        record(5, Some("d"), Some("4"), &[]),
    ]);
    let mut control = record(0, Some("\0\0\0\x01"), Some("\0\0\0\0\0\0"), &[]);
    control.control = true;
    control.transactional = true;
    control.producer_id = 7;
    control.producer_epoch = 0;
    let control = batch(&[control]);
    let mut gzip = one.clone();
    gzip[22] |= 1;
    fix_batches(&mut gzip);
    let with_flags = |flags: u8, b: &[u8]| [&[flags][..], b].concat();
    vec![
        ("one-record".into(), with_flags(1, &one)),
        ("one-record-no-fixup".into(), with_flags(0, &one)),
        ("several-records".into(), with_flags(3, &several)),
        (
            "two-batches".into(),
            with_flags(5, &[&one[..], &several[..]].concat()),
        ),
        ("control-batch".into(), with_flags(7, &control)),
        ("gzip-claimed".into(), with_flags(9, &gzip)),
    ]
}

/// A v2 batch of one uncompressed record, written by hand: `base_timestamp`, and `record`, the
/// record's bytes after its length (attributes, deltas, key, value, headers), which may be
/// anything.
pub fn one_record_batch(base_timestamp: i64, record: &[u8]) -> Vec<u8> {
    let mut batch = Vec::new();
    batch.extend_from_slice(&0i64.to_be_bytes()); // base offset
    batch.extend_from_slice(&0i32.to_be_bytes()); // length, fixed below
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    batch.push(2); // magic
    batch.extend_from_slice(&0u32.to_be_bytes()); // crc, fixed below
    batch.extend_from_slice(&0i16.to_be_bytes()); // attributes
    batch.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    batch.extend_from_slice(&base_timestamp.to_be_bytes()); // base timestamp
    batch.extend_from_slice(&base_timestamp.to_be_bytes()); // max timestamp
    batch.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    batch.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    batch.extend_from_slice(&1i32.to_be_bytes()); // records
    let zigzag = (record.len() as u64) << 1;
    let mut n = zigzag;
    while n >= 0x80 {
        batch.push(n as u8 | 0x80);
        n >>= 7;
    }
    batch.push(n as u8);
    batch.extend_from_slice(record);
    fix_batches(&mut batch);
    batch
}

/// A record's key and value.
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The keys and values of the records of uncompressed v2 batches, read as Kafka reads them
/// (varints of at most 5 bytes, varlongs of at most 10, no negative lengths, each record and
/// batch exactly its stated size and count), skipping control batches; `None` for anything
/// Kafka would refuse, or compressed. The reference a record batch target compares the records
/// a server appended with, without trusting any decoder under test.
pub fn batch_records(mut bytes: &[u8]) -> Option<Vec<KeyValue>> {
    fn varlong(r: &mut &[u8], max_bytes: usize) -> Option<i64> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let (&b, rest) = r.split_first()?;
            *r = rest;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        None
    }
    fn varint(r: &mut &[u8]) -> Option<i64> {
        varlong(r, 5).filter(|v| i32::try_from(*v).is_ok())
    }
    fn take<'a>(r: &mut &'a [u8], n: i64) -> Option<&'a [u8]> {
        let (head, rest) = r.split_at_checked(usize::try_from(n).ok()?)?;
        *r = rest;
        Some(head)
    }
    fn nullable(r: &mut &[u8]) -> Option<Option<Vec<u8>>> {
        match varint(r)? {
            -1 => Some(None),
            n => take(r, n).map(|b| Some(b.to_vec())),
        }
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = i32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
        let batch = take(&mut bytes, 12 + i64::from(len))?;
        if batch.len() < 61 || batch[16] != 2 {
            return None;
        }
        if crc32c(&batch[21..]) != u32::from_be_bytes(batch[17..21].try_into().ok()?) {
            return None;
        }
        let attributes = i16::from_be_bytes([batch[21], batch[22]]);
        if attributes & 7 != 0 {
            return None;
        }
        let count = i32::from_be_bytes(batch[57..61].try_into().ok()?);
        let mut records = &batch[61..];
        for _ in 0..count {
            let size = varint(&mut records)?;
            let mut r = take(&mut records, size)?;
            take(&mut r, 1)?; // attributes
            varlong(&mut r, 10)?; // timestamp delta
            varint(&mut r)?; // offset delta
            let key = nullable(&mut r)?;
            let value = nullable(&mut r)?;
            for _ in 0..varint(&mut r)? {
                let key_len = varint(&mut r)?;
                take(&mut r, key_len)?;
                nullable(&mut r)?;
            }
            if !r.is_empty() {
                return None;
            }
            if attributes & 0x20 == 0 {
                out.push((key, value));
            }
        }
        if !records.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// CRC-32C (Castagnoli), as record batches carry it.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0x82f6_3b78 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// Makes each v2 batch's length and CRC agree with its bytes: batches are walked by their
/// length fields, and the last one (or one whose length runs past the end, or is shorter
/// than a batch header) takes every byte left. Anything too short to be a batch is left alone.
pub fn fix_batches(bytes: &mut [u8]) {
    const HEADER: usize = 61;
    let mut at = 0;
    while bytes.len() - at >= HEADER {
        let rest = bytes.len() - at;
        let stated = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        let mut len = usize::try_from(stated).unwrap_or(usize::MAX);
        if len < HEADER - 12 || len > rest - 12 || rest - 12 - len < HEADER {
            len = rest - 12;
        }
        bytes[at + 8..at + 12].copy_from_slice(&(len as i32).to_be_bytes());
        if len >= 9 {
            let crc = crc32c(&bytes[at + 21..at + 12 + len]);
            bytes[at + 17..at + 21].copy_from_slice(&crc.to_be_bytes());
        }
        at += 12 + len;
    }
}

/// Bytes from hex (whitespace ignored); panics on anything else, for test constants.
pub fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|d| u8::from_str_radix(std::str::from_utf8(d).unwrap(), 16).unwrap())
        .collect()
}
