//! Metadata: the one broker, the topics asked for, and topics created on first use within
//! bounds.

use std::time::Instant;

use hashbrown::HashSet;
use kafka_protocol::messages::{
    self as kp, BrokerId, TopicName,
    metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic},
};
use parking_lot::Mutex;

use super::convert::s;
use super::records::{Broker, INVALID_TOPIC, UNKNOWN_TOPIC_OR_PARTITION};

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

/// How many topics Metadata requests may create: none once the broker has `max_topics`
/// topics, and at most `per_second` a second (a token bucket holding up to one second's worth).
#[derive(Debug)]
pub(super) struct AutoCreate {
    enabled: bool,
    max_topics: usize,
    per_second: u32,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl AutoCreate {
    pub(super) fn new(enabled: bool, max_topics: usize, per_second: u32) -> Self {
        AutoCreate {
            enabled,
            max_topics,
            per_second,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(per_second),
                at: Instant::now(),
            }),
        }
    }

    /// Takes one creation from the allowance, if there is one left with `topics` topics
    /// existing.
    fn take(&self, topics: usize) -> bool {
        if !self.enabled || topics >= self.max_topics {
            return false;
        }
        let mut b = self.bucket.lock();
        let now = Instant::now();
        let rate = f64::from(self.per_second);
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        if b.tokens < 1.0 {
            return false;
        }
        b.tokens -= 1.0;
        true
    }
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
            if self.auto_create.take(self.topics.len()) {
                // Two clients may race to create it: either way it exists afterwards.
                let _ = self.topics.create(name, self.default_partitions);
                count = self.topics.partitions(name);
            }
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

    /// Answers a Metadata request. A topic named more than once is answered once, as Kafka
    /// answers a set of names.
    pub(super) fn metadata(&self, req: &kp::MetadataRequest, version: i16) -> kp::MetadataResponse {
        let all = match &req.topics {
            None => true,
            Some(t) => t.is_empty() && version == 0,
        };
        // Before version 4 a request always allows auto-creation.
        let create = version < 4 || req.allow_auto_topic_creation;
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
            let mut seen = HashSet::new();
            let mut ids = HashSet::new();
            req.topics
                .iter()
                .flatten()
                .filter_map(|t| match &t.name {
                    Some(name) if seen.insert(name.0.as_str()) => {
                        Some(self.topic_metadata(name.0.as_str(), create))
                    }
                    Some(_) => None,
                    // Topics by id are not served: each id is told so once.
                    None if ids.insert(t.topic_id) => {
                        let mut kt = MetadataResponseTopic::default();
                        kt.topic_id = t.topic_id;
                        kt.error_code = UNKNOWN_TOPIC_OR_PARTITION;
                        Some(kt)
                    }
                    None => None,
                })
                .collect()
        };
        out
    }
}
