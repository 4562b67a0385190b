//! Produce: each partition's batches checked whole, then appended.

use bytes::Bytes;
use kafka_protocol::messages::{
    self as kp,
    produce_response::{PartitionProduceResponse, TopicProduceResponse},
};

use super::batch::{BatchError, batches};
use super::records::{
    Broker, CORRUPT_MESSAGE, NONE, UNKNOWN_TOPIC_OR_PARTITION, UNSUPPORTED_COMPRESSION_TYPE, code,
};
use crate::types::{Timestamp, TopicPartition};

impl Broker {
    /// Appends one partition's batches; the offset of the first record, or an error code.
    /// Nothing is appended unless every batch and every record in them is well formed.
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
        let sets = match batches(records) {
            Ok(b) => b,
            Err(BatchError::Corrupt) => return (CORRUPT_MESSAGE, -1),
            Err(BatchError::Compressed) => return (UNSUPPORTED_COMPRESSION_TYPE, -1),
        };
        let mut first = -1;
        for record in sets
            .iter()
            .filter(|b| !b.is_control())
            .flat_map(|b| b.records())
        {
            let timestamp = u64::try_from(record.timestamp).map_or(now, Timestamp);
            match self.topics.append(tp, record.key, record.value, timestamp) {
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
}
