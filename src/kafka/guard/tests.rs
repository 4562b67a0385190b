//! The guard's tests, and a sample request of every served API and version.

use super::*;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, GroupId,
    HeartbeatRequest, InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest,
    ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, RequestHeader, SyncGroupRequest, TopicName,
    fetch_request::{FetchPartition, FetchTopic, ForgottenTopic},
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

use crate::kafka::supported_versions;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// Encodes a request into a buffer.
type Encode = Box<dyn Fn(&mut BytesMut) -> Result<(), String>>;

/// A request of `key` with two elements in every array it has in `version`.
fn request(key: ApiKey, v: i16) -> Encode {
    fn boxed<T: Encodable + 'static>(req: T, v: i16) -> Encode {
        Box::new(move |buf| req.encode(buf, v).map_err(|e| format!("{e:#}")))
    }
    match key {
        ApiKey::Metadata => {
            let mut r = MetadataRequest::default();
            let mut t = MetadataRequestTopic::default();
            t.name = Some(TopicName(s("orders")));
            r.topics = Some(vec![t.clone(), t]);
            boxed(r, v)
        }
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            if v >= 4 {
                r.coordinator_keys = vec![s("a"), s("bb")];
            } else {
                r.key = s("group");
            }
            boxed(r, v)
        }
        ApiKey::JoinGroup => {
            let mut r = JoinGroupRequest::default();
            r.group_id = GroupId(s("g"));
            r.protocol_type = s("consumer");
            let mut p = JoinGroupRequestProtocol::default();
            p.name = s("range");
            p.metadata = Bytes::from_static(b"\0\0\0\0\0\x01\0\x01t\0\0\0\0");
            r.protocols = vec![p.clone(), p];
            if v >= 5 {
                r.group_instance_id = Some(s("i"));
            }
            boxed(r, v)
        }
        ApiKey::SyncGroup => {
            let mut r = SyncGroupRequest::default();
            let mut a = SyncGroupRequestAssignment::default();
            a.member_id = s("m");
            a.assignment = Bytes::from_static(b"abc");
            r.assignments = vec![a.clone(), a];
            boxed(r, v)
        }
        ApiKey::LeaveGroup => {
            let mut r = LeaveGroupRequest::default();
            if v >= 3 {
                let mut m = MemberIdentity::default();
                m.member_id = s("m");
                r.members = vec![m.clone(), m];
            } else {
                r.member_id = s("m");
            }
            boxed(r, v)
        }
        ApiKey::OffsetCommit => {
            let mut r = OffsetCommitRequest::default();
            let mut p = OffsetCommitRequestPartition::default();
            p.committed_offset = 5;
            p.committed_metadata = Some(s("meta"));
            let mut t = OffsetCommitRequestTopic::default();
            t.name = TopicName(s("orders"));
            t.partitions = vec![p.clone(), p];
            r.topics = vec![t.clone(), t];
            boxed(r, v)
        }
        ApiKey::OffsetFetch => {
            let mut r = OffsetFetchRequest::default();
            if v >= 8 {
                let mut t = OffsetFetchRequestTopics::default();
                t.name = TopicName(s("orders"));
                t.partition_indexes = vec![0, 1];
                let mut g = OffsetFetchRequestGroup::default();
                g.group_id = GroupId(s("g"));
                g.topics = Some(vec![t.clone(), t]);
                r.groups = vec![g.clone(), g];
            } else {
                let mut t = OffsetFetchRequestTopic::default();
                t.name = TopicName(s("orders"));
                t.partition_indexes = vec![0, 1];
                r.group_id = GroupId(s("g"));
                r.topics = Some(vec![t.clone(), t]);
            }
            boxed(r, v)
        }
        ApiKey::ListGroups => {
            let mut r = ListGroupsRequest::default();
            if v >= 4 {
                r.states_filter = vec![s("Stable"), s("Empty")];
            }
            boxed(r, v)
        }
        ApiKey::DescribeGroups => {
            let mut r = DescribeGroupsRequest::default();
            r.groups = vec![GroupId(s("a")), GroupId(s("b"))];
            boxed(r, v)
        }
        ApiKey::ListOffsets => {
            let mut r = ListOffsetsRequest::default();
            let mut p = ListOffsetsPartition::default();
            p.timestamp = -1;
            let mut t = ListOffsetsTopic::default();
            t.name = TopicName(s("orders"));
            t.partitions = vec![p.clone(), p];
            r.topics = vec![t.clone(), t];
            boxed(r, v)
        }
        ApiKey::Fetch => {
            let mut r = FetchRequest::default();
            let mut p = FetchPartition::default();
            p.fetch_offset = 3;
            let mut t = FetchTopic::default();
            t.topic = TopicName(s("orders"));
            t.partitions = vec![p.clone(), p];
            r.topics = vec![t.clone(), t];
            if v >= 7 {
                let mut f = ForgottenTopic::default();
                f.topic = TopicName(s("old"));
                f.partitions = vec![1, 2];
                r.forgotten_topics_data = vec![f.clone(), f];
            }
            boxed(r, v)
        }
        ApiKey::Produce => {
            let mut r = ProduceRequest::default();
            let mut p = PartitionProduceData::default();
            p.records = Some(Bytes::from_static(&[0; 70]));
            let mut t = TopicProduceData::default();
            t.name = TopicName(s("orders"));
            t.partition_data = vec![p.clone(), p];
            r.topic_data = vec![t.clone(), t];
            boxed(r, v)
        }
        ApiKey::Heartbeat => {
            let mut r = HeartbeatRequest::default();
            r.group_id = GroupId(s("g"));
            r.member_id = s("m");
            boxed(r, v)
        }
        ApiKey::ApiVersions => {
            let mut r = ApiVersionsRequest::default();
            r.client_software_name = s("test");
            r.client_software_version = s("1.0");
            boxed(r, v)
        }
        ApiKey::InitProducerId => boxed(InitProducerIdRequest::default(), v),
        other => panic!("no sample for {other:?}"),
    }
}

/// A whole frame (header and body, no size prefix) of the sample request.
pub(crate) fn sample_frame(key: ApiKey, v: i16) -> Vec<u8> {
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = v;
    header.correlation_id = 7;
    header.client_id = Some(s("guard-test"));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(v))
        .unwrap();
    request(key, v)(&mut buf).unwrap_or_else(|e| panic!("{key:?} v{v}: {e}"));
    buf.to_vec()
}

fn served() -> Vec<(ApiKey, i16)> {
    supported_versions()
        .into_iter()
        .flat_map(|a| {
            let key = ApiKey::try_from(a.api_key).unwrap();
            (a.min_version..=a.max_version).map(move |v| (key, v))
        })
        .collect()
}

/// Every request a client can send, in every version served, passes the walk, which ends
/// exactly at the frame's end: the walk reads the fields where the codec does.
#[test]
fn valid_requests_of_every_served_version_pass_and_are_walked_to_their_end() {
    for (key, v) in served() {
        let frame = sample_frame(key, v);
        assert!(check(key, v, &frame).is_ok(), "{key:?} v{v}");
        let mut w = Walk::new(&frame, false);
        header(&mut w, key, v).unwrap();
        w.flexible = v >= first_flexible(key);
        assert!(requests::walk(&mut w, key, v).is_ok(), "{key:?} v{v}");
        assert!(
            w.bytes.is_empty(),
            "{key:?} v{v}: {} bytes left",
            w.bytes.len()
        );
    }
}

/// A frame cut anywhere is refused by the walk, never left for the codec to find out.
#[test]
fn every_truncation_of_a_valid_request_is_refused() {
    for (key, v) in served() {
        let frame = sample_frame(key, v);
        for cut in 0..frame.len() {
            let got = check(key, v, &frame[..cut]);
            assert!(
                got.is_err(),
                "{key:?} v{v} cut at {cut} of {}: {got:?}",
                frame.len()
            );
        }
    }
}

/// The 16-byte DescribeGroups v5 frame that aborted the process: a compact array count
/// whose fifth varint byte still has its continuation bit set.
#[test]
fn a_five_byte_varint_with_a_continuation_bit_is_refused() {
    let frame = [
        0x00, 0x0f, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
        0x8f,
    ];
    assert_eq!(
        check(ApiKey::DescribeGroups, 5, &frame),
        Err(Refused::Forged)
    );
    let mut w = Walk::new(&[0xff, 0xff, 0xff, 0xff, 0x0f], true);
    assert_eq!(w.varint(), Ok(u32::MAX));
    let mut w = Walk::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], true);
    assert_eq!(w.varint(), Err(Stop::Forged));
}

fn body_check(key: ApiKey, v: i16, body: &[u8]) -> Result<usize, Refused> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&(key as i16).to_be_bytes());
    frame.extend_from_slice(&v.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 1, 0xff, 0xff]);
    if key.request_header_version(v) >= 2 {
        frame.push(0);
    }
    frame.extend_from_slice(body);
    check(key, v, &frame)
}

/// A count in place of the first array's is refused when the bytes left cannot hold it.
#[test]
fn a_count_past_the_end_is_forged() {
    use ApiKey::DescribeGroups as D;
    // DescribeGroups v0: an array of strings, nothing before it.
    assert_eq!(
        body_check(D, 0, &[0x7f, 0xff, 0xff, 0xff]),
        Err(Refused::Forged)
    );
    assert!(body_check(D, 0, &[0, 0, 0, 1, 0, 0]).is_ok());
    assert_eq!(body_check(D, 0, &[0, 0, 0, 2, 0, 0]), Err(Refused::Forged));
    // Flexible: a compact count of u32::MAX.
    assert_eq!(
        body_check(D, 5, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        Err(Refused::Forged)
    );
    // Null arrays are fine; v5 then wants the include-operations byte and tags.
    assert!(body_check(D, 0, &[0xff, 0xff, 0xff, 0xff]).is_ok());
    assert!(body_check(D, 5, &[0, 0, 0]).is_ok());
    // Tagged fields: a count of tags the bytes cannot hold.
    assert_eq!(body_check(D, 5, &[1, 0, 0x7f]), Err(Refused::Forged));
}

/// Many tiny elements that each decode to a large struct cost more than the budget.
#[test]
fn a_request_whose_decoded_form_is_over_budget_is_refused() {
    // DescribeGroups v5 with 400,000 empty ids: 400 KB on the wire, 12.8 MB decoded.
    let n = 400_000u32;
    let mut body = Vec::new();
    let mut count = n + 1;
    while count >= 0x80 {
        body.push((count as u8) | 0x80);
        count >>= 7;
    }
    body.push(count as u8);
    body.extend(std::iter::repeat_n(1u8, n as usize));
    body.extend_from_slice(&[0, 0]);
    assert!(matches!(
        body_check(ApiKey::DescribeGroups, 5, &body),
        Err(Refused::OverBudget { .. })
    ));
    // 1,000 ids of 20 bytes are fine.
    let mut body = vec![0x80 | (1001 & 0x7f) as u8, (1001 >> 7) as u8];
    for _ in 0..1000 {
        body.push(21);
        body.extend_from_slice(b"group-00000000000000");
    }
    body.extend_from_slice(&[0, 0]);
    assert!(body_check(ApiKey::DescribeGroups, 5, &body).is_ok());
}

/// Fetch's cluster id (tag 0) is read as a string of its own length, as the codec does.
#[test]
fn fetch_cluster_id_tag_is_walked_like_the_codec() {
    let mut frame = sample_frame(ApiKey::Fetch, 12);
    // Replace the final empty tag section with one tag 0 whose declared size (1) differs
    // from its string's length (a 3-byte string).
    assert_eq!(frame.pop(), Some(0));
    frame.extend_from_slice(&[1, 0, 1, 4, b'a', b'b', b'c']);
    assert!(check(ApiKey::Fetch, 12, &frame).is_ok());
    // Tag 1 (replica state) is refused before version 15.
    let mut frame = sample_frame(ApiKey::Fetch, 12);
    frame.pop();
    frame.extend_from_slice(&[1, 1, 0]);
    assert_eq!(check(ApiKey::Fetch, 12, &frame), Err(Refused::Forged));
}
