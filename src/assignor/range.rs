//! Kafka's range assignor.

use super::assignment::Assignment;
use super::spec::{GroupSpec, NONE, Subscribers};
use super::{PartitionAssignor, RebalanceProtocol};
use crate::error::Error;

/// Kafka's `RangeAssignor` (name `range`): per topic, the subscribers in Kafka's member order
/// each take a contiguous range of partitions; with `P` partitions and `C` subscribers each gets
/// `P / C` and the first `P % C` one more.
///
/// The output equals Kafka's Java client for the same input. Member order is static members
/// first by group instance id, then dynamic members by member id, comparing the ids' bytes
/// (Java compares UTF-16 code units; the two orders differ only for ids holding characters
/// beyond U+FFFF next to characters in U+E000–U+FFFF).
///
/// Rack-aware (KIP-881) exactly as Kafka's: when members report racks and partitions carry
/// replica racks, a first pass gives each subscriber the partitions of its own rack it may take
/// without exceeding its range quota (co-partitioned topics with the same subscribers keep the
/// same partition numbers together), and the normal range pass places the rest. Without racks
/// the output is the plain range output.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl PartitionAssignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    fn assign(&self, spec: &GroupSpec) -> Result<Assignment, Error> {
        let mut owners = vec![NONE; spec.total_partitions() as usize];
        let subscribers = &spec.subscribers;
        if spec.has_partition_racks() && spec.member_rack.iter().any(|&r| r != NONE) {
            rack_aware(spec, subscribers, &mut owners);
        } else {
            for t in 0..spec.topic_count() {
                plain_ranges(spec, t, subscribers.of(t), &mut owners);
            }
        }
        Ok(Assignment::from_owners(spec, &owners))
    }
}

fn plain_ranges(spec: &GroupSpec, t: usize, subs: &[u32], owners: &mut [u32]) {
    if subs.is_empty() || !spec.is_subscribed(subs[0] as usize, t) {
        return;
    }
    let n = spec.partitions_of(t) as usize;
    let c = subs.len();
    let per = n / c;
    let extra = n % c;
    let base = spec.topic_base[t] as usize;
    let mut start = 0usize;
    for (i, &m) in subs.iter().enumerate() {
        let len = per + usize::from(i < extra);
        if len == 0 {
            break;
        }
        owners[base + start..base + start + len].fill(m);
        start += len;
    }
}

/// One topic's progress in the rack-aware range assignment (Kafka's `TopicAssignmentState`).
struct TopicState<'a> {
    topic: usize,
    subs: &'a [u32],
    base: usize,
    unassigned: Vec<u32>,
    assigned: Vec<u32>,
    per: usize,
    extra_left: usize,
    needs_rack_aware: bool,
    /// Whether the topic's subscribers carry racks (Kafka then records partition racks).
    has_consumer_racks: bool,
}

impl TopicState<'_> {
    fn max_assignable(&self, i: usize) -> usize {
        (self.per + usize::from(self.extra_left > 0)).saturating_sub(self.assigned[i] as usize)
    }

    fn on_assigned(&mut self, i: usize, parts: &[u32], owners: &mut [u32]) {
        for &p in parts {
            owners[self.base + p as usize] = self.subs[i];
        }
        self.assigned[i] += parts.len() as u32;
        if self.assigned[i] as usize > self.per {
            self.extra_left = self.extra_left.saturating_sub(1);
        }
        self.unassigned.retain(|p| !parts.contains(p));
    }

    fn racks_match(&self, spec: &GroupSpec, i: usize, p: u32) -> bool {
        let rack = spec.member_rack[self.subs[i] as usize];
        rack == NONE || spec.partition_racks(self.base + p as usize).contains(&rack)
    }

    /// Kafka's `assignRanges`: each subscriber in order takes, up to its quota, the lowest
    /// unassigned partitions it may take.
    fn assign_ranges(&mut self, spec: &GroupSpec, rack_match: bool, owners: &mut [u32]) {
        let mut picked = Vec::new();
        for i in 0..self.subs.len() {
            if self.unassigned.is_empty() {
                break;
            }
            let max = self.max_assignable(i);
            picked.clear();
            picked.extend(
                self.unassigned
                    .iter()
                    .copied()
                    .filter(|&p| !rack_match || self.racks_match(spec, i, p))
                    .take(max),
            );
            if !picked.is_empty() {
                let parts = std::mem::take(&mut picked);
                self.on_assigned(i, &parts, owners);
                picked = parts;
            }
        }
    }
}

fn rack_aware(spec: &GroupSpec, subscribers: &Subscribers, owners: &mut [u32]) {
    let mut states: Vec<TopicState<'_>> = Vec::new();
    for t in 0..spec.topic_count() {
        let n = spec.partitions_of(t) as usize;
        let subs = subscribers.of(t);
        if n == 0 || subs.is_empty() || !spec.is_subscribed(subs[0] as usize, t) {
            continue;
        }
        let base = spec.topic_base[t] as usize;
        let consumer_racks: Vec<u32> = {
            let mut v: Vec<u32> = subs
                .iter()
                .map(|&m| spec.member_rack[m as usize])
                .filter(|&r| r != NONE)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let needs = if consumer_racks.is_empty() {
            false
        } else {
            let mut all: Vec<u32> = (0..n)
                .flat_map(|p| spec.partition_racks(base + p).iter().copied())
                .collect();
            all.sort_unstable();
            all.dedup();
            let overlap = consumer_racks.iter().any(|r| all.binary_search(r).is_ok());
            // Rack-aware unless every partition has replicas on every rack.
            overlap
                && !(0..n).all(|p| {
                    let mut r = spec.partition_racks(base + p).to_vec();
                    r.sort_unstable();
                    r.dedup();
                    r == all
                })
        };
        states.push(TopicState {
            topic: t,
            subs,
            base,
            unassigned: (0..n as u32).collect(),
            assigned: vec![0; subs.len()],
            per: n / subs.len(),
            extra_left: n % subs.len(),
            needs_rack_aware: needs,
            has_consumer_racks: !consumer_racks.is_empty(),
        });
    }

    if states.iter().any(|s| s.needs_rack_aware) {
        // Group topics by subscriber list, then by the size of Kafka's partition-rack map
        // (the partition count when the subscribers carry racks, else zero).
        let mut order: Vec<usize> = (0..states.len()).collect();
        fn key<'a>(spec: &GroupSpec, s: &TopicState<'a>) -> (&'a [u32], usize) {
            let racks = if s.has_consumer_racks {
                spec.partitions_of(s.topic) as usize
            } else {
                0
            };
            (s.subs, racks)
        }
        order.sort_by(|&a, &b| {
            key(spec, &states[a])
                .cmp(&key(spec, &states[b]))
                .then(a.cmp(&b))
        });
        let mut i = 0;
        while i < order.len() {
            let k = key(spec, &states[order[i]]);
            let mut j = i + 1;
            while j < order.len() && key(spec, &states[order[j]]) == k {
                j += 1;
            }
            let group = &order[i..j];
            if group.len() > 1 {
                co_partitioned(spec, &mut states, group, k.1, owners);
            } else {
                let s = &mut states[group[0]];
                if s.needs_rack_aware {
                    s.assign_ranges(spec, true, owners);
                }
            }
            i = j;
        }
    }
    for s in &mut states {
        s.assign_ranges(spec, false, owners);
    }
}

/// Kafka's `assignCoPartitionedWithRackMatching`: partition `p` of every topic in the group
/// goes to the first remaining subscriber that matches the racks of all of them and still has
/// room in all of them.
fn co_partitioned(
    spec: &GroupSpec,
    states: &mut [TopicState<'_>],
    group: &[usize],
    partitions: usize,
    owners: &mut [u32],
) {
    let consumers = states[group[0]].subs.len();
    let mut remaining: Vec<usize> = (0..consumers).collect();
    for p in 0..partitions as u32 {
        let found = remaining.iter().position(|&c| {
            group.iter().all(|&s| {
                let st = &states[s];
                st.racks_match(spec, c, p) && st.max_assignable(c) > 0
            })
        });
        if let Some(pos) = found {
            let c = remaining[pos];
            for &s in group {
                states[s].on_assigned(c, &[p], owners);
            }
            if group.iter().all(|&s| states[s].max_assignable(c) == 0) {
                remaining.remove(pos);
                if remaining.is_empty() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::{MemberSpec, TopicSpec};

    fn spec(members: &[(&str, &[&str])], topics: &[(&str, u32)]) -> GroupSpec {
        let mut b = GroupSpec::builder();
        for (t, n) in topics {
            b = b.topic(TopicSpec::new(*t, *n));
        }
        for (m, subs) in members {
            b = b.member(MemberSpec::new(*m).subscribe(subs.iter().copied()));
        }
        b.build().unwrap()
    }

    #[test]
    fn first_members_take_the_extra_partition() {
        let s = spec(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])], &[("t", 7)]);
        let out = RangeAssignor.assign(&s).unwrap();
        assert_eq!(out.to_string(), "a t:0,t:1,t:2\nb t:3,t:4\nc t:5,t:6\n");
    }

    #[test]
    fn members_beyond_the_partition_count_sit_idle() {
        let s = spec(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])], &[("t", 2)]);
        let out = RangeAssignor.assign(&s).unwrap();
        assert_eq!(out.to_string(), "a t:0\nb t:1\nc -\n");
    }

    #[test]
    fn topics_without_metadata_are_skipped() {
        let s = spec(&[("a", &["t", "ghost"]), ("b", &["ghost"])], &[("t", 2)]);
        let out = RangeAssignor.assign(&s).unwrap();
        assert_eq!(out.to_string(), "a t:0,t:1\nb -\n");
    }

    #[test]
    fn rack_aware_prefers_local_partitions_within_the_range_quota() {
        // Two members in racks r0 and r1; partition p lives only on rack r(p % 2).
        let s = GroupSpec::builder()
            .topic(TopicSpec::new("t", 4).with_replica_racks([["r0"], ["r1"], ["r0"], ["r1"]]))
            .member(MemberSpec::new("a").subscribe(["t"]).rack("r0"))
            .member(MemberSpec::new("b").subscribe(["t"]).rack("r1"))
            .build()
            .unwrap();
        let out = RangeAssignor.assign(&s).unwrap();
        assert_eq!(out.to_string(), "a t:0,t:2\nb t:1,t:3\n");
    }

    #[test]
    fn rack_aware_is_off_when_every_partition_is_on_every_rack() {
        let s = GroupSpec::builder()
            .topic(TopicSpec::new("t", 4).with_replica_racks([["r0", "r1"]; 4]))
            .member(MemberSpec::new("a").subscribe(["t"]).rack("r0"))
            .member(MemberSpec::new("b").subscribe(["t"]).rack("r1"))
            .build()
            .unwrap();
        let out = RangeAssignor.assign(&s).unwrap();
        assert_eq!(out.to_string(), "a t:0,t:1\nb t:2,t:3\n");
    }

    #[test]
    fn co_partitioned_topics_stay_together_under_rack_awareness() {
        let racks = [["r0"], ["r1"], ["r0"], ["r1"]];
        let s = GroupSpec::builder()
            .topic(TopicSpec::new("t1", 4).with_replica_racks(racks))
            .topic(TopicSpec::new("t2", 4).with_replica_racks(racks))
            .member(MemberSpec::new("a").subscribe(["t1", "t2"]).rack("r0"))
            .member(MemberSpec::new("b").subscribe(["t1", "t2"]).rack("r1"))
            .build()
            .unwrap();
        let out = RangeAssignor.assign(&s).unwrap();
        assert_eq!(
            out.to_string(),
            "a t1:0,t1:2,t2:0,t2:2\nb t1:1,t1:3,t2:1,t2:3\n"
        );
    }
}
