//! Checks a request body's array counts against the bytes that follow them, before the codec
//! sees it.
//!
//! The `kafka-protocol` decoder reserves room for an array's elements as soon as it reads the
//! count, so a forged count of two billion asks the allocator for hundreds of gigabytes, and a
//! failed allocation aborts the process. This walk reads the same fields in the same order, but
//! only to skip them: it keeps nothing, allocates nothing, and refuses a count that could not
//! fit in the bytes left. It is not a codec: where it runs out of bytes it lets the request
//! through, and the codec's own checks refuse it.

use kafka_protocol::messages::ApiKey;

/// Why a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Forged;

enum Stop {
    /// The walk ran out of bytes: the codec will say what is wrong.
    Short,
    /// A count larger than the bytes left could hold.
    Forged,
}

type Step = Result<(), Stop>;

struct Walk<'a> {
    bytes: &'a [u8],
    flexible: bool,
}

impl Walk<'_> {
    fn skip(&mut self, n: usize) -> Step {
        if n > self.bytes.len() {
            return Err(Stop::Short);
        }
        self.bytes = &self.bytes[n..];
        Ok(())
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let head: [u8; N] = self
            .bytes
            .get(..N)
            .and_then(|h| h.try_into().ok())
            .ok_or(Stop::Short)?;
        self.bytes = &self.bytes[N..];
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, Stop> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let [b] = self.take::<1>()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Stop::Forged)
    }

    fn int(&mut self, width: usize) -> Step {
        self.skip(width)
    }

    /// A string or nullable string.
    fn string(&mut self) -> Step {
        let len = if self.flexible {
            self.varint()?.saturating_sub(1)
        } else {
            u64::try_from(i16::from_be_bytes(self.take()?)).unwrap_or(0)
        };
        self.skip(usize::try_from(len).map_err(|_| Stop::Forged)?)
    }

    /// Bytes or nullable bytes.
    fn bytes(&mut self) -> Step {
        let len = if self.flexible {
            self.varint()?.saturating_sub(1)
        } else {
            u64::try_from(i32::from_be_bytes(self.take()?)).unwrap_or(0)
        };
        self.skip(usize::try_from(len).map_err(|_| Stop::Forged)?)
    }

    fn uuid(&mut self) -> Step {
        self.skip(16)
    }

    /// The tagged fields of a flexible version, skipped by their sizes.
    fn tags(&mut self) -> Step {
        if !self.flexible {
            return Ok(());
        }
        let n = self.varint()?;
        for _ in 0..n {
            self.varint()?;
            let size = self.varint()?;
            self.skip(usize::try_from(size).map_err(|_| Stop::Forged)?)?;
        }
        Ok(())
    }

    /// An array whose elements each take at least `min` bytes.
    fn array(&mut self, min: usize, mut each: impl FnMut(&mut Self) -> Step) -> Step {
        let count = if self.flexible {
            self.varint()?.saturating_sub(1)
        } else {
            // -1 is null; other negative counts are the codec's to refuse.
            u64::try_from(i32::from_be_bytes(self.take()?)).unwrap_or(0)
        };
        let room = (self.bytes.len() / min.max(1)) as u64;
        if count > room {
            return Err(Stop::Forged);
        }
        for _ in 0..count {
            each(self)?;
        }
        Ok(())
    }

    /// An array of int32s.
    fn int32s(&mut self) -> Step {
        self.array(4, |w| w.int(4))
    }

    /// An array of strings.
    fn strings(&mut self) -> Step {
        let min = if self.flexible { 1 } else { 2 };
        self.array(min, Walk::string)
    }
}

/// The first version of each API that uses the flexible (compact, tagged) encoding.
fn first_flexible(key: ApiKey) -> i16 {
    match key {
        ApiKey::Produce => 9,
        ApiKey::Fetch => 12,
        ApiKey::ListOffsets => 6,
        ApiKey::Metadata => 9,
        ApiKey::OffsetCommit => 8,
        ApiKey::OffsetFetch => 6,
        ApiKey::FindCoordinator => 3,
        ApiKey::JoinGroup => 6,
        ApiKey::Heartbeat => 4,
        ApiKey::LeaveGroup => 4,
        ApiKey::SyncGroup => 4,
        ApiKey::DescribeGroups => 5,
        ApiKey::ListGroups => 3,
        ApiKey::ApiVersions => 3,
        ApiKey::InitProducerId => 2,
        _ => i16::MAX,
    }
}

/// Walks the body of a request (the bytes after its header).
///
/// # Errors
/// [`Forged`] if an array count could not fit in the bytes that follow it.
pub(super) fn check(key: ApiKey, version: i16, body: &[u8]) -> Result<(), Forged> {
    let mut w = Walk {
        bytes: body,
        flexible: version >= first_flexible(key),
    };
    match walk(&mut w, key, version) {
        Err(Stop::Forged) => Err(Forged),
        Ok(()) | Err(Stop::Short) => Ok(()),
    }
}

fn walk(w: &mut Walk<'_>, key: ApiKey, v: i16) -> Step {
    // The smallest encoding of a struct element: its tagged fields' count in flexible versions.
    let s = usize::from(w.flexible);
    match key {
        ApiKey::Metadata => w.array(s.max(1), |w| {
            if v >= 10 {
                w.uuid()?;
            }
            w.string()?;
            w.tags()
        }),
        ApiKey::FindCoordinator => {
            if v <= 3 {
                w.string()?;
            }
            if v >= 1 {
                w.int(1)?;
            }
            if v >= 4 {
                w.strings()?;
            }
            Ok(())
        }
        ApiKey::JoinGroup => {
            w.string()?;
            w.int(4)?;
            if v >= 1 {
                w.int(4)?;
            }
            w.string()?;
            if v >= 5 {
                w.string()?;
            }
            w.string()?;
            w.array(2, |w| {
                w.string()?;
                w.bytes()?;
                w.tags()
            })
        }
        ApiKey::SyncGroup => {
            w.string()?;
            w.int(4)?;
            w.string()?;
            if v >= 3 {
                w.string()?;
            }
            if v >= 5 {
                w.string()?;
                w.string()?;
            }
            w.array(2, |w| {
                w.string()?;
                w.bytes()?;
                w.tags()
            })
        }
        ApiKey::LeaveGroup => {
            w.string()?;
            if v <= 2 {
                return w.string();
            }
            w.array(2, |w| {
                w.string()?;
                w.string()?;
                if v >= 5 {
                    w.string()?;
                }
                w.tags()
            })
        }
        ApiKey::OffsetCommit => {
            w.string()?;
            w.int(4)?;
            w.string()?;
            if v >= 7 {
                w.string()?;
            }
            if v <= 4 {
                w.int(8)?;
            }
            w.array(2, |w| {
                w.string()?;
                w.array(12, |w| {
                    w.int(4)?;
                    w.int(8)?;
                    if v >= 6 {
                        w.int(4)?;
                    }
                    w.string()?;
                    w.tags()
                })?;
                w.tags()
            })
        }
        ApiKey::OffsetFetch => {
            let topics = |w: &mut Walk<'_>| {
                w.array(2, |w| {
                    w.string()?;
                    w.int32s()?;
                    w.tags()
                })
            };
            if v <= 7 {
                w.string()?;
                topics(w)
            } else {
                w.array(2, |w| {
                    w.string()?;
                    if v >= 9 {
                        w.string()?;
                        w.int(4)?;
                    }
                    topics(w)?;
                    w.tags()
                })
            }
        }
        ApiKey::ListGroups => {
            if v >= 4 {
                w.strings()?;
            }
            if v >= 5 {
                w.strings()?;
            }
            Ok(())
        }
        ApiKey::DescribeGroups => w.strings(),
        ApiKey::ListOffsets => {
            w.int(4)?;
            if v >= 2 {
                w.int(1)?;
            }
            w.array(2, |w| {
                w.string()?;
                w.array(12, |w| {
                    w.int(4)?;
                    if v >= 4 {
                        w.int(4)?;
                    }
                    w.int(8)?;
                    w.tags()
                })?;
                w.tags()
            })
        }
        ApiKey::Fetch => {
            if v <= 14 {
                w.int(4)?;
            }
            w.int(4 + 4 + 4 + 1)?;
            if v >= 7 {
                w.int(8)?;
            }
            w.array(2, |w| {
                if v <= 12 {
                    w.string()?;
                } else {
                    w.uuid()?;
                }
                w.array(16, |w| {
                    w.int(4)?;
                    if v >= 9 {
                        w.int(4)?;
                    }
                    w.int(8)?;
                    if v >= 12 {
                        w.int(4)?;
                    }
                    if v >= 5 {
                        w.int(8)?;
                    }
                    w.int(4)?;
                    w.tags()
                })?;
                w.tags()
            })?;
            if v >= 7 {
                w.array(2, |w| {
                    if v <= 12 {
                        w.string()?;
                    } else {
                        w.uuid()?;
                    }
                    w.int32s()?;
                    w.tags()
                })?;
            }
            Ok(())
        }
        ApiKey::Produce => {
            w.string()?;
            w.int(2 + 4)?;
            w.array(2, |w| {
                if v <= 12 {
                    w.string()?;
                } else {
                    w.uuid()?;
                }
                w.array(5, |w| {
                    w.int(4)?;
                    w.bytes()?;
                    w.tags()
                })?;
                w.tags()
            })
        }
        _ => Ok(()),
    }
}

/// Checks v2 record batches the same way: each batch's record count, and each record's header
/// count, against the bytes that hold them.
///
/// # Errors
/// [`Forged`] if a count could not fit.
pub(super) fn check_records(mut batches: &[u8]) -> Result<(), Forged> {
    // base offset 8, length 4, leader epoch 4, magic 1, crc 4, attributes 2, last offset delta
    // 4, base timestamp 8, max timestamp 8, producer id 8, epoch 2, base sequence 4, count 4.
    const HEADER: usize = 61;
    while batches.len() >= 12 {
        let len = i32::from_be_bytes([batches[8], batches[9], batches[10], batches[11]]);
        let Ok(len) = usize::try_from(len) else {
            return Ok(());
        };
        let end = (12 + len).min(batches.len());
        let batch = &batches[..end];
        if batch.len() < HEADER || batch[16] != 2 {
            return Ok(());
        }
        let count = i32::from_be_bytes([batch[57], batch[58], batch[59], batch[60]]);
        // A record takes at least 7 bytes (length, attributes, three deltas, key and value
        // lengths, header count); a compressed batch holds its records compressed.
        let compressed = batch[22] & 0x07 != 0;
        if !compressed {
            let room = (batch.len() - HEADER) / 7;
            if usize::try_from(count).is_ok_and(|c| c > room) {
                return Err(Forged);
            }
            check_record_headers(&batch[HEADER..])?;
        }
        batches = &batches[end..];
    }
    Ok(())
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn check_record_headers(records: &[u8]) -> Result<(), Forged> {
    let mut w = Walk {
        bytes: records,
        flexible: true,
    };
    let one = |w: &mut Walk<'_>| -> Step {
        let len = usize::try_from(zigzag(w.varint()?)).map_err(|_| Stop::Short)?;
        let rest = w.bytes.get(len..).ok_or(Stop::Short)?;
        let mut r = Walk {
            bytes: &w.bytes[..len],
            flexible: true,
        };
        r.skip(1)?; // attributes
        r.varint()?; // timestamp delta
        r.varint()?; // offset delta
        for _ in 0..2 {
            // key, value: -1 for null
            let n = zigzag(r.varint()?);
            r.skip(usize::try_from(n).unwrap_or(0))?;
        }
        let headers = zigzag(r.varint()?);
        // A header takes at least 2 bytes (key and value lengths).
        if headers > (r.bytes.len() / 2) as i64 {
            return Err(Stop::Forged);
        }
        w.bytes = rest;
        Ok(())
    };
    while !w.bytes.is_empty() {
        match one(&mut w) {
            Ok(()) => {}
            Err(Stop::Short) => return Ok(()),
            Err(Stop::Forged) => return Err(Forged),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::{
        DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, GroupId, JoinGroupRequest,
        LeaveGroupRequest, ListGroupsRequest, ListOffsetsRequest, MetadataRequest,
        OffsetCommitRequest, OffsetFetchRequest, ProduceRequest, SyncGroupRequest, TopicName,
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
            other => panic!("no sample for {other:?}"),
        }
    }

    /// Every request a client can send, in every version served, passes the walk: the walk
    /// never refuses what the codec accepts.
    #[test]
    fn valid_requests_of_every_served_version_pass() {
        for api in supported_versions() {
            let key = ApiKey::try_from(api.api_key).unwrap();
            if matches!(
                key,
                ApiKey::ApiVersions | ApiKey::Heartbeat | ApiKey::InitProducerId
            ) {
                continue; // no arrays
            }
            for v in api.min_version..=api.max_version {
                let mut buf = BytesMut::new();
                request(key, v)(&mut buf).unwrap_or_else(|e| panic!("{key:?} v{v}: {e}"));
                assert_eq!(check(key, v, &buf), Ok(()), "{key:?} v{v}");
                // ... and walks it to its arrays' ends without running short: the walk reads
                // the fields where the codec does.
                let mut w = Walk {
                    bytes: &buf,
                    flexible: v >= first_flexible(key),
                };
                assert!(
                    walk(&mut w, key, v).is_ok(),
                    "{key:?} v{v} ran short or forged"
                );
                // Every prefix is walked without a panic (refused or left to the codec).
                for cut in 0..buf.len() {
                    let _ = check(key, v, &buf[..cut]);
                }
            }
        }
    }

    /// A count in place of the first array's is refused when the bytes left cannot hold it.
    #[test]
    fn a_count_past_the_end_is_forged() {
        // DescribeGroups v0: an array of strings and nothing before it.
        assert_eq!(
            check(ApiKey::DescribeGroups, 0, &[0x7f, 0xff, 0xff, 0xff]),
            Err(Forged)
        );
        assert_eq!(
            check(ApiKey::DescribeGroups, 0, &[0, 0, 0, 1, 0, 0]),
            Ok(())
        );
        assert_eq!(
            check(ApiKey::DescribeGroups, 0, &[0, 0, 0, 2, 0, 0]),
            Err(Forged)
        );
        // Flexible: a compact count of u32::MAX.
        assert_eq!(
            check(ApiKey::DescribeGroups, 5, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(Forged)
        );
        // Null arrays are fine.
        assert_eq!(
            check(ApiKey::DescribeGroups, 0, &[0xff, 0xff, 0xff, 0xff]),
            Ok(())
        );
        assert_eq!(check(ApiKey::DescribeGroups, 5, &[0, 0]), Ok(()));
    }

    #[test]
    fn record_batches_with_forged_counts_are_refused() {
        use kafka_protocol::indexmap::IndexMap;
        use kafka_protocol::records::{
            Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        let record = |offset: i64| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp: 0,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: IndexMap::from([(s("h"), Some(Bytes::from_static(b"v")))]),
        };
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &[record(0), record(1)], &options).unwrap();
        assert_eq!(check_records(&buf), Ok(()));
        let mut forged = buf.clone();
        forged[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(check_records(&forged), Err(Forged));
        // The first record's header count (zigzag 1, before the header key "h" of length 1)
        // becomes 2^30 (the record's length byte grows with it).
        let mut forged = buf.to_vec();
        let pos = (61..forged.len() - 2)
            .find(|&i| forged[i..i + 3] == [2, 2, b'h'])
            .unwrap();
        forged.splice(pos..=pos, [0x80, 0x80, 0x80, 0x80, 0x08]);
        forged[61] += 8; // the record's zigzag length: 4 bytes more
        assert_eq!(check_records(&forged), Err(Forged));
    }
}
