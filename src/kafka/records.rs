//! Topic APIs over [`Topics`]: Metadata, ListOffsets, Produce and Fetch, with records in
//! record batch format v2.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::{
    self as kp, BrokerId, TopicName,
    fetch_response::{FetchableTopicResponse, PartitionData},
    list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse},
    metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic},
    produce_response::{PartitionProduceResponse, TopicProduceResponse},
};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::convert::s;
use crate::error::{Error, ErrorCode};
use crate::sync::{ConsumerRecord, Topics};
use crate::types::{Offset, Timestamp, TopicPartition};

const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = ErrorCode::OffsetOutOfRange.code();
const CORRUPT_MESSAGE: i16 = ErrorCode::CorruptMessage.code();
const UNKNOWN_TOPIC_OR_PARTITION: i16 = ErrorCode::UnknownTopicOrPartition.code();
const INVALID_TOPIC: i16 = ErrorCode::InvalidTopicException.code();
const UNKNOWN_SERVER_ERROR: i16 = ErrorCode::UnknownServerError.code();
/// Kafka's UNSUPPORTED_COMPRESSION_TYPE.
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
/// Kafka's MESSAGE_TOO_LARGE: a record larger than the log accepts.
const MESSAGE_TOO_LARGE: i16 = 10;

/// Records read from the log per step while filling a fetch.
const READ_CHUNK: usize = 500;
/// How often a waiting Fetch looks for new records.
const FETCH_POLL: Duration = Duration::from_millis(2);

/// What the topic APIs need to know about the broker.
#[derive(Debug, Clone)]
pub(super) struct Broker {
    pub(super) topics: Topics,
    pub(super) host: String,
    pub(super) port: i32,
    pub(super) default_partitions: u32,
    pub(super) auto_create: bool,
    pub(super) max_fetch_wait: Duration,
}

fn code(e: &Error) -> i16 {
    match e {
        Error::UnknownTopic(_) | Error::UnknownPartition { .. } => UNKNOWN_TOPIC_OR_PARTITION,
        Error::OffsetOutOfRange { .. } => OFFSET_OUT_OF_RANGE,
        Error::RecordTooLarge { .. } => MESSAGE_TOO_LARGE,
        _ => UNKNOWN_SERVER_ERROR,
    }
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Broker {
    fn topic_metadata(&self, name: &str, create: bool) -> MetadataResponseTopic {
        let mut t = MetadataResponseTopic::default();
        t.name = Some(TopicName(s(name)));
        let mut count = self.topics.partitions(name);
        if count.is_none() && create {
            if !valid_topic_name(name) {
                t.error_code = INVALID_TOPIC;
                return t;
            }
            // Two clients may race to create it: either way it exists afterwards.
            let _ = self.topics.create(name, self.default_partitions);
            count = self.topics.partitions(name);
        }
        let Some(count) = count else {
            t.error_code = UNKNOWN_TOPIC_OR_PARTITION;
            return t;
        };
        t.partitions = (0..count as i32)
            .map(|p| {
                let mut kp = MetadataResponsePartition::default();
                kp.partition_index = p;
                kp.leader_id = BrokerId(0);
                kp.leader_epoch = 0;
                kp.replica_nodes = vec![BrokerId(0)];
                kp.isr_nodes = vec![BrokerId(0)];
                kp
            })
            .collect();
        t
    }

    pub(super) fn metadata(&self, req: &kp::MetadataRequest, version: i16) -> kp::MetadataResponse {
        let all = match &req.topics {
            None => true,
            Some(t) => t.is_empty() && version == 0,
        };
        // Before version 4 a request always allows auto-creation.
        let create = self.auto_create && (version < 4 || req.allow_auto_topic_creation);
        let mut out = kp::MetadataResponse::default();
        let mut broker = MetadataResponseBroker::default();
        broker.node_id = BrokerId(0);
        broker.host = s(&self.host);
        broker.port = self.port;
        out.brokers = vec![broker];
        out.cluster_id = Some(s("consumer-groups"));
        out.controller_id = BrokerId(0);
        out.topics = if all {
            self.topics
                .specs()
                .iter()
                .map(|spec| self.topic_metadata(spec.name(), false))
                .collect()
        } else {
            req.topics
                .iter()
                .flatten()
                .map(|t| match &t.name {
                    Some(name) => self.topic_metadata(name.0.as_str(), create),
                    None => {
                        let mut kt = MetadataResponseTopic::default();
                        kt.topic_id = t.topic_id;
                        kt.error_code = UNKNOWN_TOPIC_OR_PARTITION;
                        kt
                    }
                })
                .collect()
        };
        out
    }

    fn list_offset(&self, tp: &TopicPartition, timestamp: i64) -> Result<(i64, i64), Error> {
        let found = match timestamp {
            -2 => return Ok((-1, self.topics.start_offset(tp)?.0)),
            -1 => return Ok((-1, self.topics.end_offset(tp)?.0)),
            // The earliest record with the largest timestamp (KIP-734), as Kafka answers.
            -3 => self.topics.max_timestamp(tp)?,
            // The first record whose timestamp is at least `t`, from the partition's time
            // index. Timestamps here are never negative, so any other negative `t` finds the
            // first record.
            t => self
                .topics
                .offset_for_timestamp(tp, Timestamp(u64::try_from(t).unwrap_or(0)))?,
        };
        Ok(found.map_or((-1, -1), |(t, o)| (t.0 as i64, o.0)))
    }

    pub(super) fn list_offsets(
        &self,
        req: &kp::ListOffsetsRequest,
        version: i16,
    ) -> kp::ListOffsetsResponse {
        let mut out = kp::ListOffsetsResponse::default();
        out.topics = req
            .topics
            .iter()
            .map(|t| {
                let mut kt = ListOffsetsTopicResponse::default();
                kt.name = t.name.clone();
                kt.partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let tp = TopicPartition::new(t.name.0.as_str(), p.partition_index);
                        let mut kp = ListOffsetsPartitionResponse::default();
                        kp.partition_index = p.partition_index;
                        match self.list_offset(&tp, p.timestamp) {
                            Ok((timestamp, offset)) => {
                                kp.timestamp = timestamp;
                                kp.offset = offset;
                                if version >= 4 {
                                    kp.leader_epoch = 0;
                                }
                            }
                            Err(e) => {
                                kp.error_code = code(&e);
                                kp.timestamp = -1;
                                kp.offset = -1;
                            }
                        }
                        kp
                    })
                    .collect();
                kt
            })
            .collect();
        out
    }

    /// Appends one partition's batches; the offset of the first record, or an error code.
    fn append(&self, tp: &TopicPartition, records: Option<&Bytes>, now: Timestamp) -> (i16, i64) {
        if self
            .topics
            .partitions(tp.topic.as_str())
            .is_none_or(|n| u32::try_from(tp.partition).map_or(true, |p| p >= n))
        {
            return (UNKNOWN_TOPIC_OR_PARTITION, -1);
        }
        let Some(records) = records else {
            return (CORRUPT_MESSAGE, -1);
        };
        let Ok(info) = RecordBatchDecoder::decode_batch_info(&mut records.clone()) else {
            return (CORRUPT_MESSAGE, -1);
        };
        if info.iter().any(|b| b.compression != Compression::None) {
            return (UNSUPPORTED_COMPRESSION_TYPE, -1);
        }
        if super::guard::check_records(records).is_err() {
            return (CORRUPT_MESSAGE, -1);
        }
        let Ok(sets) = RecordBatchDecoder::decode_all(&mut records.clone()) else {
            return (CORRUPT_MESSAGE, -1);
        };
        let mut first = -1;
        for record in sets.iter().flat_map(|set| &set.records) {
            if record.control {
                continue;
            }
            let timestamp = u64::try_from(record.timestamp).map_or(now, Timestamp);
            match self.topics.append(
                tp,
                record.key.as_deref(),
                record.value.as_deref(),
                timestamp,
            ) {
                Ok(offset) if first < 0 => first = offset.0,
                Ok(_) => {}
                Err(e) => return (code(&e), first),
            }
        }
        (NONE, first)
    }

    /// Handles a Produce; `None` for `acks=0`, which gets no response.
    pub(super) fn produce(
        &self,
        req: &kp::ProduceRequest,
        now: Timestamp,
    ) -> Option<kp::ProduceResponse> {
        let mut out = kp::ProduceResponse::default();
        out.responses = req
            .topic_data
            .iter()
            .map(|t| {
                let mut kt = TopicProduceResponse::default();
                kt.name = t.name.clone();
                kt.partition_responses = t
                    .partition_data
                    .iter()
                    .map(|p| {
                        let tp = TopicPartition::new(t.name.0.as_str(), p.index);
                        let (error, base) = self.append(&tp, p.records.as_ref(), now);
                        let mut kp = PartitionProduceResponse::default();
                        kp.index = p.index;
                        kp.error_code = error;
                        kp.base_offset = base;
                        kp.log_append_time_ms = -1;
                        kp.log_start_offset = self.topics.start_offset(&tp).map_or(-1, |o| o.0);
                        kp
                    })
                    .collect();
                kt
            })
            .collect();
        (req.acks != 0).then_some(out)
    }

    /// One partition of a Fetch: its data, and the bytes of records it carries.
    fn fetch_partition(&self, tp: &TopicPartition, offset: i64, max_bytes: usize) -> PartitionData {
        let mut data = PartitionData::default();
        data.partition_index = tp.partition;
        data.aborted_transactions = Some(Vec::new());
        data.preferred_read_replica = BrokerId(-1);
        let bounds = self
            .topics
            .start_offset(tp)
            .and_then(|s| Ok((s.0, self.topics.end_offset(tp)?.0)));
        let (start, end) = match bounds {
            Ok(b) => b,
            Err(e) => {
                data.error_code = code(&e);
                data.high_watermark = -1;
                data.last_stable_offset = -1;
                data.log_start_offset = -1;
                data.records = Some(Bytes::new());
                return data;
            }
        };
        data.high_watermark = end;
        data.last_stable_offset = end;
        data.log_start_offset = start;
        if offset < start || offset > end {
            data.error_code = OFFSET_OUT_OF_RANGE;
            data.records = Some(Bytes::new());
            return data;
        }
        let mut picked: Vec<ConsumerRecord> = Vec::new();
        let mut bytes = 0usize;
        let mut from = offset;
        'read: while from < end {
            let Ok(chunk) = self.topics.read(tp, Offset(from), READ_CHUNK) else {
                break;
            };
            if chunk.is_empty() {
                break;
            }
            for r in chunk {
                let size =
                    24 + r.key.as_ref().map_or(0, Vec::len) + r.value.as_ref().map_or(0, Vec::len);
                // At least one record, so a record larger than the limit still moves (KIP-74).
                if !picked.is_empty() && bytes + size > max_bytes {
                    break 'read;
                }
                bytes += size;
                from = r.offset.0 + 1;
                picked.push(r);
            }
        }
        data.records = Some(encode_batch(&picked));
        data
    }

    /// Handles a Fetch: waits up to its `max_wait_ms` (capped) for at least `min_bytes`,
    /// while `stop` is false.
    pub(super) fn fetch(
        &self,
        req: &kp::FetchRequest,
        version: i16,
        stop: &dyn Fn() -> bool,
    ) -> kp::FetchResponse {
        let wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0))
            .min(self.max_fetch_wait);
        let deadline = Instant::now() + wait;
        let max_total = if version >= 3 && req.max_bytes > 0 {
            req.max_bytes as usize
        } else {
            usize::MAX
        };
        let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0).max(1);
        loop {
            let mut total = 0usize;
            let mut errors = false;
            let responses: Vec<FetchableTopicResponse> = req
                .topics
                .iter()
                .map(|t| {
                    let mut kt = FetchableTopicResponse::default();
                    kt.topic = t.topic.clone();
                    kt.topic_id = t.topic_id;
                    kt.partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let tp = TopicPartition::new(t.topic.0.as_str(), p.partition);
                            let room = max_total.saturating_sub(total);
                            let limit = usize::try_from(p.partition_max_bytes)
                                .unwrap_or(0)
                                .min(room);
                            let mut data = self.fetch_partition(&tp, p.fetch_offset, limit);
                            if room == 0 && total > 0 {
                                // The response is full: this partition's turn comes next time.
                                data.records = Some(Bytes::new());
                            }
                            total += data.records.as_ref().map_or(0, Bytes::len);
                            errors |= data.error_code != NONE;
                            data
                        })
                        .collect();
                    kt
                })
                .collect();
            if total >= min_bytes || errors || Instant::now() >= deadline || stop() {
                let mut out = kp::FetchResponse::default();
                out.responses = responses;
                return out;
            }
            std::thread::sleep(FETCH_POLL);
        }
    }
}

/// The records as one uncompressed v2 batch (empty bytes for none).
fn encode_batch(records: &[ConsumerRecord]) -> Bytes {
    let Some(first) = records.first() else {
        return Bytes::new();
    };
    let batch: Vec<Record> = records
        .iter()
        .map(|r| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: r.offset.0,
            // Offsets minus sequences must be constant for the records to share one batch.
            sequence: (r.offset.0 - first.offset.0) as i32,
            timestamp: r.timestamp.0 as i64,
            key: r.key.as_deref().map(Bytes::copy_from_slice),
            value: r.value.as_deref().map(Bytes::copy_from_slice),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    match RecordBatchEncoder::encode(&mut buf, &batch, &options) {
        Ok(()) => buf.freeze(),
        Err(_) => Bytes::new(),
    }
}
