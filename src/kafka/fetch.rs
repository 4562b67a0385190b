//! Fetch: records read straight from the log into one v2 batch per partition, within the
//! request's limits as Kafka reads them.
//!
//! `max_bytes` (the whole response) and `partition_max_bytes` are limits, never "unlimited":
//! the first partition that has records returns at least one record even if that record alone
//! is over the limits (KIP-74), so a consumer always makes progress; after it, a partition
//! returns records only while they fit what is left. A partition named twice in one request is
//! answered once, as Kafka's fetch keeps a map of the partitions asked for.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::HashSet;
use kafka_protocol::messages::{
    self as kp, BrokerId,
    fetch_response::{FetchableTopicResponse, PartitionData},
};

use super::batch::BatchWriter;
use super::records::{Broker, NONE, OFFSET_OUT_OF_RANGE, code};
use crate::log::ReadLimit;
use crate::types::{Offset, TopicPartition};

/// How often a waiting Fetch looks for new records.
const FETCH_POLL: Duration = Duration::from_millis(2);
/// The fewest bytes a record takes in a batch (length, attributes, two deltas, key and value
/// lengths, header count).
const MIN_RECORD: usize = 7;

/// One partition's limits while a response is filled.
struct Room {
    /// Bytes left in the response.
    left: usize,
    /// Whether no partition has returned records yet (the first one must return one).
    first: bool,
}

impl Broker {
    /// One partition of a Fetch.
    fn fetch_partition(
        &self,
        tp: &TopicPartition,
        offset: i64,
        partition_max: usize,
        room: &mut Room,
    ) -> PartitionData {
        let mut data = PartitionData::default();
        data.partition_index = tp.partition;
        data.aborted_transactions = Some(Vec::new());
        data.preferred_read_replica = BrokerId(-1);
        data.records = Some(Bytes::new());
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
                return data;
            }
        };
        data.high_watermark = end;
        data.last_stable_offset = end;
        data.log_start_offset = start;
        if offset < start || offset > end {
            data.error_code = OFFSET_OUT_OF_RANGE;
            return data;
        }
        let limit = partition_max.min(room.left);
        if offset == end || (limit == 0 && !room.first) {
            return data;
        }
        let mut batch: Option<BatchWriter> = None;
        let mut full = false;
        // The log stops after `limit` bytes of keys and values or `limit / MIN_RECORD`
        // records, whichever first (and always gives the first record).
        let read = ReadLimit {
            max_records: limit / MIN_RECORD + 1,
            max_bytes: limit,
        };
        let first = room.first;
        let _ = self.topics.visit(tp, Offset(offset), read, &mut |r| {
            if full {
                return;
            }
            let ts = i64::try_from(r.timestamp.0).unwrap_or(i64::MAX);
            let w = batch.get_or_insert_with(|| BatchWriter::new(r.offset, ts));
            let size = w.size_with(r.offset, ts, r.key, r.value);
            if size > limit && !(w.is_empty() && first) {
                full = true;
                return;
            }
            w.push(r.offset, r.timestamp, r.key, r.value);
        });
        let bytes = batch.map(BatchWriter::finish).unwrap_or_default();
        if !bytes.is_empty() {
            room.first = false;
            room.left = room.left.saturating_sub(bytes.len());
        }
        data.records = Some(Bytes::from(bytes));
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
        // Versions before 3 have no response limit.
        let max_total = if version >= 3 {
            usize::try_from(req.max_bytes).unwrap_or(0)
        } else {
            usize::MAX
        };
        let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0).max(1);
        // Each partition once, at its first mention.
        let mut seen = HashSet::new();
        let wanted: Vec<(usize, &kp::fetch_request::FetchPartition)> = req
            .topics
            .iter()
            .enumerate()
            .flat_map(|(i, t)| t.partitions.iter().map(move |p| (i, p)))
            .filter(|(i, p)| seen.insert((req.topics[*i].topic.0.as_str(), p.partition)))
            .collect();
        drop(seen);
        loop {
            let mut room = Room {
                left: max_total,
                first: true,
            };
            let mut errors = false;
            let mut responses: Vec<FetchableTopicResponse> = Vec::new();
            for &(i, p) in &wanted {
                let t = &req.topics[i];
                let tp = TopicPartition::new(t.topic.0.as_str(), p.partition);
                let limit = usize::try_from(p.partition_max_bytes).unwrap_or(0);
                let data = self.fetch_partition(&tp, p.fetch_offset, limit, &mut room);
                errors |= data.error_code != NONE;
                match responses.last_mut() {
                    Some(r) if r.topic == t.topic => r.partitions.push(data),
                    _ => {
                        let mut kt = FetchableTopicResponse::default();
                        kt.topic = t.topic.clone();
                        kt.topic_id = t.topic_id;
                        kt.partitions.push(data);
                        responses.push(kt);
                    }
                }
            }
            let total = max_total.saturating_sub(room.left);
            let got = !room.first;
            if (got && total >= min_bytes.min(max_total.max(1)))
                || errors
                || Instant::now() >= deadline
                || stop()
            {
                let mut out = kp::FetchResponse::default();
                out.responses = responses;
                return out;
            }
            drop(responses);
            std::thread::sleep(FETCH_POLL);
        }
    }
}
