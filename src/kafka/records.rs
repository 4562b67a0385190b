//! Topic APIs over [`Topics`]: what the broker knows of them, error codes, and ListOffsets.
//! Metadata, Produce and Fetch have files of their own.

use std::time::Duration;

use hashbrown::HashSet;
use kafka_protocol::messages::{
    self as kp,
    list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse},
};

use super::metadata::AutoCreate;
use crate::error::{Error, ErrorCode};
use crate::sync::Topics;
use crate::types::{Timestamp, TopicPartition};

pub(super) const NONE: i16 = 0;
pub(super) const OFFSET_OUT_OF_RANGE: i16 = ErrorCode::OffsetOutOfRange.code();
pub(super) const CORRUPT_MESSAGE: i16 = ErrorCode::CorruptMessage.code();
pub(super) const UNKNOWN_TOPIC_OR_PARTITION: i16 = ErrorCode::UnknownTopicOrPartition.code();
pub(super) const INVALID_TOPIC: i16 = ErrorCode::InvalidTopicException.code();
const UNKNOWN_SERVER_ERROR: i16 = ErrorCode::UnknownServerError.code();
/// Kafka's INVALID_REQUEST.
const INVALID_REQUEST: i16 = 42;
/// Kafka's UNSUPPORTED_COMPRESSION_TYPE.
pub(super) const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
/// Kafka's MESSAGE_TOO_LARGE: a record larger than the log accepts.
const MESSAGE_TOO_LARGE: i16 = 10;

/// What the topic APIs need to know about the broker.
#[derive(Debug, Clone)]
pub(super) struct Broker {
    pub(super) topics: Topics,
    pub(super) host: String,
    pub(super) port: i32,
    pub(super) default_partitions: u32,
    pub(super) auto_create: std::sync::Arc<AutoCreate>,
    pub(super) max_fetch_wait: Duration,
}

pub(super) fn code(e: &Error) -> i16 {
    match e {
        Error::UnknownTopic(_) | Error::UnknownPartition { .. } => UNKNOWN_TOPIC_OR_PARTITION,
        Error::OffsetOutOfRange { .. } => OFFSET_OUT_OF_RANGE,
        Error::RecordTooLarge { .. } => MESSAGE_TOO_LARGE,
        _ => UNKNOWN_SERVER_ERROR,
    }
}

impl Broker {
    fn list_offset(&self, tp: &TopicPartition, timestamp: i64) -> Result<(i64, i64), Error> {
        let found = match timestamp {
            // Earliest, and earliest local (KIP-405): one and the same without tiered storage.
            -2 | -4 => return Ok((-1, self.topics.start_offset(tp)?.0)),
            // Latest tiered (KIP-1005): nothing is tiered here.
            -5 => return Ok((-1, -1)),
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
        // A partition named more than once is answered INVALID_REQUEST at each mention, as
        // Kafka does, and never looked up.
        let mut seen = HashSet::new();
        let mut duplicates = HashSet::new();
        for t in &req.topics {
            for p in &t.partitions {
                let key = (t.name.0.as_str(), p.partition_index);
                if !seen.insert(key) {
                    duplicates.insert(key);
                }
            }
        }
        drop(seen);
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
                        let found = if duplicates.contains(&(t.name.0.as_str(), p.partition_index))
                        {
                            Err(INVALID_REQUEST)
                        } else {
                            self.list_offset(&tp, p.timestamp).map_err(|e| code(&e))
                        };
                        match found {
                            Ok((timestamp, offset)) => {
                                kp.timestamp = timestamp;
                                kp.offset = offset;
                                if version >= 4 {
                                    kp.leader_epoch = 0;
                                }
                            }
                            Err(e) => {
                                kp.error_code = e;
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
}
