//! The sticky assignors: balanced, and keeping partitions where they are.
//!
//! Both assignors share one plan, in three steps:
//!
//! 1. **Claims.** Every member reports the partitions it owns and the generation it owned them
//!    in. A partition claimed by several members goes to the claim of the highest generation;
//!    if several claims share the highest generation, none of them wins (the partition is
//!    *contested*). Claims on topics or partitions the spec does not describe are dropped.
//! 2. **Plan.** When every member subscribes to the same topics ([`homogeneous`]), each member
//!    keeps its claimed partitions up to its quota (`P / M`, the first `P % M` members to need
//!    it `P / M + 1`) and the rest are dealt round-robin to the members below quota. Otherwise
//!    ([`heterogeneous`]) each member keeps every claimed partition it still subscribes to,
//!    free partitions are poured, topic by topic from the one with fewest subscribers, into
//!    the subscribers with the fewest partitions, and a balancing pass moves a partition from
//!    `m` to `s` only while `s` subscribes to its topic and owns at least two fewer.
//! 3. **Cooperative filter** (cooperative-sticky only). A partition planned for a member other
//!    than its current owner (the winning claimant), or a contested one, is left unassigned in
//!    this round; the owner revokes it, and the follow-up rebalance hands it over.
//!
//! Rack awareness (KIP-881) is active when members report racks, partitions carry replica
//! racks, the two overlap, and not every partition has a replica on every rack. It never
//! changes the quotas or the balance: it only decides which member below quota receives which
//! free partition (rack-local first) and which claimed partitions an over-quota member keeps
//! (rack-local first). Without it the plan is exactly the rack-less plan.

// Members, topics and partitions are dense indices shared by several tables; index loops
// read better here than zipped iterators.
#![allow(clippy::needless_range_loop)]

mod heterogeneous;
mod homogeneous;

use super::assignment::Assignment;
use super::spec::{GroupSpec, NONE};
use super::{PartitionAssignor, RebalanceProtocol};
use crate::error::Error;

/// Kafka's `StickyAssignor` semantics (name `sticky`), eager protocol.
///
/// * **Complete:** every partition of a subscribed topic goes to exactly one subscriber.
/// * **Balanced:** with identical subscriptions, partition counts differ by at most one; with
///   different subscriptions, no partition could move to another subscriber of its topic that
///   owns at least two fewer.
/// * **Sticky:** a partition stays with its owner unless balance needs it elsewhere. Removing
///   one of `M` equally loaded members moves exactly its partitions; adding one moves about
///   `P / (M + 1)`.
/// * **Deterministic** and independent of the order members were added to the spec.
///
/// ```
/// use consumer_groups::assignor::{GroupSpec, MemberSpec, PartitionAssignor, StickyAssignor, TopicSpec};
/// use consumer_groups::{Generation, TopicPartition};
///
/// let tp = |p| TopicPartition::new("t", p);
/// // c has left; a and b keep what they had and share c's partitions.
/// let spec = GroupSpec::builder()
///     .topic(TopicSpec::new("t", 6))
///     .member(MemberSpec::new("a").subscribe(["t"]).owned([tp(0), tp(1)]).generation(Generation(3)))
///     .member(MemberSpec::new("b").subscribe(["t"]).owned([tp(2), tp(3)]).generation(Generation(3)))
///     .build()?;
/// let out = StickyAssignor.assign(&spec)?;
/// assert_eq!(out.to_string(), "a t:0,t:1,t:4\nb t:2,t:3,t:5\n");
/// assert_eq!(out.diff().revoked, 0);
/// # Ok::<(), consumer_groups::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

impl PartitionAssignor for StickyAssignor {
    fn name(&self) -> &str {
        "sticky"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    fn assign(&self, spec: &GroupSpec) -> Result<Assignment, Error> {
        let plan = plan(spec);
        Ok(Assignment::from_owners(spec, &plan.owners))
    }
}

/// Kafka's `CooperativeStickyAssignor` semantics (name `cooperative-sticky`): the sticky plan,
/// but a partition that moves is first only taken from its owner; the next round, once the
/// owner has revoked it, assigns it (KIP-429). No partition ever has two owners at once.
///
/// With identical subscriptions the second round completes the first round's plan exactly and
/// revokes nothing. With different subscriptions the second round assigns every held-back
/// partition but may itself move another one, so a third round is sometimes needed (in the
/// crate's seeded test of 1,000 heterogeneous groups: 18% settle in one round, 78% in two,
/// 4% in three, none later), as with Kafka's own cooperative-sticky assignor.
///
/// ```
/// use consumer_groups::assignor::{CooperativeStickyAssignor, GroupSpec, MemberSpec, PartitionAssignor, TopicSpec};
/// use consumer_groups::{Generation, TopicPartition};
///
/// let tp = |p| TopicPartition::new("t", p);
/// let owned = [tp(0), tp(1), tp(2), tp(3)];
/// // b joins a group where a owns everything.
/// let round1 = GroupSpec::builder()
///     .topic(TopicSpec::new("t", 4))
///     .member(MemberSpec::new("a").subscribe(["t"]).owned(owned.clone()).generation(Generation(1)))
///     .member(MemberSpec::new("b").subscribe(["t"]))
///     .build()?;
/// let out = CooperativeStickyAssignor.assign(&round1)?;
/// // a gives up two partitions, but b does not get them yet.
/// assert_eq!(out.to_string(), "a t:0,t:1\nb -\n");
///
/// let round2 = GroupSpec::builder()
///     .topic(TopicSpec::new("t", 4))
///     .member(MemberSpec::new("a").subscribe(["t"]).owned([tp(0), tp(1)]).generation(Generation(2)))
///     .member(MemberSpec::new("b").subscribe(["t"]).generation(Generation(2)))
///     .build()?;
/// let out = CooperativeStickyAssignor.assign(&round2)?;
/// assert_eq!(out.to_string(), "a t:0,t:1\nb t:2,t:3\n");
/// # Ok::<(), consumer_groups::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl PartitionAssignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    }

    fn assign(&self, spec: &GroupSpec) -> Result<Assignment, Error> {
        let mut plan = plan(spec);
        if let Some(claims) = &plan.claims {
            for (slot, &claim) in plan.owners.iter_mut().zip(&claims.owner) {
                if *slot != NONE && claim != NONE && claim != *slot {
                    // Moving (or contested): the owner revokes it first.
                    *slot = NONE;
                }
            }
        }
        Ok(Assignment::from_owners(spec, &plan.owners))
    }
}

/// A partition claimed by several members at the same, highest, generation.
pub(crate) const CONTESTED: u32 = u32::MAX - 1;

/// The winning claim per global partition.
pub(crate) struct Claims {
    /// Winning member, [`NONE`] or [`CONTESTED`].
    pub(crate) owner: Vec<u32>,
}

impl Claims {
    /// Resolves every member's claims; `None` if nobody claims anything.
    fn resolve(spec: &GroupSpec) -> Option<Claims> {
        if !spec.has_claims() {
            return None;
        }
        let mut owner = vec![NONE; spec.total_partitions() as usize];
        // The generation of a contested partition; contests are rare, so a small map.
        let mut contested: hashbrown::HashMap<usize, i32> = hashbrown::HashMap::new();
        for m in 0..spec.member_count() {
            let g = spec.member_gen[m];
            let mu = m as u32;
            for &p in spec.owned(m) {
                let gp = spec.global(p);
                let o = owner[gp];
                if o == NONE {
                    owner[gp] = mu;
                    continue;
                }
                // A member's claims all carry its generation.
                let og = if o == CONTESTED {
                    // Every contested slot has its generation recorded.
                    contested.get(&gp).copied().unwrap_or(i32::MIN)
                } else {
                    spec.member_gen[o as usize]
                };
                if g > og {
                    owner[gp] = mu;
                    contested.remove(&gp);
                } else if g == og && o != mu {
                    owner[gp] = CONTESTED;
                    contested.insert(gp, g);
                }
            }
        }
        Some(Claims { owner })
    }

    /// Whether member `m` holds the winning claim on global partition `gp`.
    #[inline]
    pub(crate) fn holds(claims: Option<&Claims>, gp: usize, m: u32) -> bool {
        claims.is_some_and(|c| c.owner[gp] == m)
    }
}

/// What rack awareness knows: member racks, partition racks, and whether to use them.
pub(crate) struct Racks<'a> {
    spec: &'a GroupSpec,
    pub(crate) active: bool,
}

impl<'a> Racks<'a> {
    fn new(spec: &'a GroupSpec) -> Self {
        let active = Self::decide(spec);
        Racks { spec, active }
    }

    /// KIP-881's rule: some member racks, overlapping the partitions' racks, and not every
    /// partition replicated on every rack.
    fn decide(spec: &GroupSpec) -> bool {
        if !spec.has_partition_racks() || spec.member_rack.iter().all(|&r| r == NONE) {
            return false;
        }
        let nr = spec.racks.len();
        let mut member_has = vec![false; nr];
        for &r in &spec.member_rack {
            if r != NONE {
                member_has[r as usize] = true;
            }
        }
        let subscribed: Vec<bool> = {
            let mut s = vec![false; spec.topic_count()];
            for sub in &spec.subs {
                for &t in sub.topics.iter() {
                    s[t as usize] = true;
                }
            }
            s
        };
        let mut union = vec![false; nr];
        let mut sizes_differ = false;
        let mut first_len: Option<usize> = None;
        for t in (0..spec.topic_count()).filter(|&t| subscribed[t]) {
            let base = spec.topic_base[t] as usize;
            for p in 0..spec.partitions_of(t) as usize {
                let rs = spec.partition_racks(base + p);
                for &r in rs {
                    union[r as usize] = true;
                }
                match first_len {
                    None => first_len = Some(rs.len()),
                    Some(l) if l != rs.len() => sizes_differ = true,
                    _ => {}
                }
            }
        }
        let overlap = (0..nr).any(|r| union[r] && member_has[r]);
        if !overlap {
            return false;
        }
        // Every partition on every rack of the union means racks cannot guide anything.
        let union_len = union.iter().filter(|&&b| b).count();
        sizes_differ || first_len != Some(union_len)
    }

    /// Whether member `m`'s rack holds a replica of global partition `gp`.
    #[inline]
    pub(crate) fn local(&self, m: u32, gp: usize) -> bool {
        let r = self.spec.member_rack[m as usize];
        r != NONE && self.spec.partition_racks(gp).contains(&r)
    }
}

/// The sticky plan: the final owner of every global partition, and the claims it started from.
pub(crate) struct Plan {
    pub(crate) owners: Vec<u32>,
    pub(crate) claims: Option<Claims>,
}

fn plan(spec: &GroupSpec) -> Plan {
    let claims = Claims::resolve(spec);
    let racks = Racks::new(spec);
    let mut owners = vec![NONE; spec.total_partitions() as usize];
    if spec.member_count() > 0 {
        if spec.is_homogeneous() {
            homogeneous::assign(spec, claims.as_ref(), &racks, &mut owners);
        } else {
            heterogeneous::assign(spec, claims.as_ref(), &racks, &mut owners);
        }
    }
    Plan { owners, claims }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::{GroupSpec, MemberSpec, TopicSpec};
    use crate::{Generation, TopicPartition};

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn claims_on_unsubscribed_topics_are_not_kept_homogeneous() {
        let spec = GroupSpec::builder()
            .topic(TopicSpec::new("a", 2))
            .topic(TopicSpec::new("b", 2))
            .member(
                MemberSpec::new("m1")
                    .subscribe(["a"])
                    .owned([tp("b", 0), tp("b", 1)]),
            )
            .member(MemberSpec::new("m2").subscribe(["a"]))
            .build()
            .unwrap();
        let out = StickyAssignor.assign(&spec).unwrap();
        assert_eq!(out.to_string(), "m1 a:0\nm2 a:1\n");
    }

    #[test]
    fn claims_on_unsubscribed_topics_are_not_kept_heterogeneous() {
        let spec = GroupSpec::builder()
            .topic(TopicSpec::new("a", 2))
            .topic(TopicSpec::new("b", 2))
            .member(MemberSpec::new("m1").subscribe(["a"]).owned([tp("b", 0)]))
            .member(MemberSpec::new("m2").subscribe(["a", "b"]))
            .build()
            .unwrap();
        let out = StickyAssignor.assign(&spec).unwrap();
        assert_eq!(out.to_string(), "m1 a:0,a:1\nm2 b:0,b:1\n");
        // Cooperative: m1 still holds b:0 until it revokes it.
        let out = CooperativeStickyAssignor.assign(&spec).unwrap();
        assert_eq!(out.to_string(), "m1 a:0,a:1\nm2 b:1\n");
    }

    #[test]
    fn higher_generation_wins_a_conflicting_claim() {
        let spec = GroupSpec::builder()
            .topic(TopicSpec::new("t", 2))
            .member(
                MemberSpec::new("old")
                    .subscribe(["t"])
                    .owned([tp("t", 0)])
                    .generation(Generation(3)),
            )
            .member(
                MemberSpec::new("new")
                    .subscribe(["t"])
                    .owned([tp("t", 0)])
                    .generation(Generation(4)),
            )
            .build()
            .unwrap();
        let out = StickyAssignor.assign(&spec).unwrap();
        assert_eq!(out.to_string(), "new t:0\nold t:1\n");
        let out = CooperativeStickyAssignor.assign(&spec).unwrap();
        assert_eq!(out.to_string(), "new t:0\nold t:1\n");
    }

    #[test]
    fn same_generation_conflict_is_contested_and_held_back_cooperatively() {
        let spec = GroupSpec::builder()
            .topic(TopicSpec::new("t", 2))
            .member(
                MemberSpec::new("x")
                    .subscribe(["t"])
                    .owned([tp("t", 0)])
                    .generation(Generation(4)),
            )
            .member(
                MemberSpec::new("y")
                    .subscribe(["t"])
                    .owned([tp("t", 0)])
                    .generation(Generation(4)),
            )
            .build()
            .unwrap();
        let eager = StickyAssignor.assign(&spec).unwrap();
        assert_eq!(eager.to_string(), "x t:0\ny t:1\n");
        let coop = CooperativeStickyAssignor.assign(&spec).unwrap();
        assert_eq!(coop.to_string(), "x -\ny t:1\n");
    }

    #[test]
    fn a_member_without_a_generation_loses_to_one_with() {
        let spec = GroupSpec::builder()
            .topic(TopicSpec::new("t", 2))
            .member(MemberSpec::new("a").subscribe(["t"]).owned([tp("t", 1)]))
            .member(
                MemberSpec::new("b")
                    .subscribe(["t"])
                    .owned([tp("t", 1)])
                    .generation(Generation(0)),
            )
            .build()
            .unwrap();
        let out = StickyAssignor.assign(&spec).unwrap();
        assert_eq!(out.to_string(), "a t:0\nb t:1\n");
    }

    #[test]
    fn fresh_homogeneous_sticky_deals_like_round_robin() {
        let spec = GroupSpec::builder()
            .topic(TopicSpec::new("t0", 3))
            .topic(TopicSpec::new("t1", 4))
            .members((0..3).map(|i| MemberSpec::new(format!("m{i}")).subscribe(["t0", "t1"])))
            .build()
            .unwrap();
        let sticky = StickyAssignor.assign(&spec).unwrap();
        let rr = crate::assignor::RoundRobinAssignor.assign(&spec).unwrap();
        assert_eq!(sticky.to_string(), rr.to_string());
    }

    #[test]
    fn rack_awareness_places_free_partitions_on_local_members() {
        let spec = GroupSpec::builder()
            .topic(TopicSpec::new("t", 4).with_replica_racks([["r1"], ["r1"], ["r0"], ["r0"]]))
            .member(MemberSpec::new("a").subscribe(["t"]).rack("r0"))
            .member(MemberSpec::new("b").subscribe(["t"]).rack("r1"))
            .build()
            .unwrap();
        let out = StickyAssignor.assign(&spec).unwrap();
        assert_eq!(out.to_string(), "a t:2,t:3\nb t:0,t:1\n");
        // The same without racks is the round-robin deal.
        let plain = GroupSpec::builder()
            .topic(TopicSpec::new("t", 4))
            .member(MemberSpec::new("a").subscribe(["t"]))
            .member(MemberSpec::new("b").subscribe(["t"]))
            .build()
            .unwrap();
        assert_eq!(
            StickyAssignor.assign(&plain).unwrap().to_string(),
            "a t:0,t:2\nb t:1,t:3\n"
        );
    }
}
