//! Kafka's round-robin assignor.

use super::assignment::Assignment;
use super::spec::{GroupSpec, NONE};
use super::{PartitionAssignor, RebalanceProtocol};
use crate::error::Error;

/// Kafka's `RoundRobinAssignor` (name `roundrobin`): all subscribed partitions, sorted by topic
/// then partition, are dealt one at a time over the members in Kafka's member order (static
/// members first by instance id, then by member id), skipping a member that does not subscribe
/// to the partition's topic.
///
/// The output equals Kafka's Java client for the same input. The skip is a binary search in the
/// topic's subscriber list rather than a walk, so a topic with few subscribers in a large group
/// costs `O(log members)` per topic, not `O(members)` per partition.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl PartitionAssignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    fn assign(&self, spec: &GroupSpec) -> Result<Assignment, Error> {
        let mut owners = vec![NONE; spec.total_partitions() as usize];
        let m = spec.member_count() as u32;
        if m == 0 {
            return Ok(Assignment::from_owners(spec, &owners));
        }
        let subscribers = &spec.subscribers;
        // The member the circular iterator points at.
        let mut cursor: u32 = 0;
        for t in 0..spec.topic_count() {
            let subs = subscribers.of(t);
            let n = spec.partitions_of(t) as usize;
            if n == 0 || subs.is_empty() || !spec.is_subscribed(subs[0] as usize, t) {
                continue;
            }
            let base = spec.topic_base[t] as usize;
            // First subscriber at or after the cursor, wrapping around.
            let mut k = subs.partition_point(|&s| s < cursor);
            if k == subs.len() {
                k = 0;
            }
            for slot in &mut owners[base..base + n] {
                *slot = subs[k];
                k += 1;
                if k == subs.len() {
                    k = 0;
                }
            }
            // The iterator stands just after the last member served.
            let last = owners[base + n - 1];
            cursor = if last + 1 == m { 0 } else { last + 1 };
        }
        Ok(Assignment::from_owners(spec, &owners))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::{MemberSpec, TopicSpec};

    #[test]
    fn unsubscribed_members_are_skipped_and_the_cycle_continues() {
        // Kafka's RoundRobinAssignor documentation: C0 subscribes to t0; C1 to t0, t1;
        // C2 to t0, t1, t2; topics have 1, 2 and 3 partitions.
        let s = GroupSpec::builder()
            .topic(TopicSpec::new("t0", 1))
            .topic(TopicSpec::new("t1", 2))
            .topic(TopicSpec::new("t2", 3))
            .member(MemberSpec::new("C0").subscribe(["t0"]))
            .member(MemberSpec::new("C1").subscribe(["t0", "t1"]))
            .member(MemberSpec::new("C2").subscribe(["t0", "t1", "t2"]))
            .build()
            .unwrap();
        let out = RoundRobinAssignor.assign(&s).unwrap();
        assert_eq!(
            out.to_string(),
            "C0 t0:0\nC1 t1:0\nC2 t1:1,t2:0,t2:1,t2:2\n"
        );
    }

    #[test]
    fn static_members_are_dealt_first() {
        let s = GroupSpec::builder()
            .topic(TopicSpec::new("t", 3))
            .member(MemberSpec::new("a").subscribe(["t"]))
            .member(MemberSpec::new("z").subscribe(["t"]).instance_id("i"))
            .build()
            .unwrap();
        let out = RoundRobinAssignor.assign(&s).unwrap();
        assert_eq!(out.to_string(), "a t:1\nz t:0,t:2\n");
    }
}
