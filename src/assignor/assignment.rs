//! The output of an assignment: partitions per member.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::spec::{GroupSpec, NONE, PartitionRef, Shared};
use crate::error::Error;
use crate::types::{MemberId, Topic, TopicPartition};

/// Partitions per member, for the members of the [`GroupSpec`] it was made from.
///
/// Each member's partitions are sorted by topic name, then partition number. A partition appears
/// at most once in the whole assignment: the representation makes two owners impossible.
///
/// ```
/// use consumer_groups::assignor::{GroupSpec, MemberSpec, PartitionAssignor, RangeAssignor, TopicSpec};
///
/// let spec = GroupSpec::builder()
///     .topic(TopicSpec::new("orders", 3))
///     .member(MemberSpec::new("c0").subscribe(["orders"]))
///     .member(MemberSpec::new("c1").subscribe(["orders"]))
///     .build()?;
/// let assignment = RangeAssignor.assign(&spec)?;
/// assert_eq!(assignment.to_string(), "c0 orders:0,orders:1\nc1 orders:2\n");
/// let c1 = assignment.get("c1").unwrap();
/// assert_eq!(c1.topic_partitions().collect::<Vec<_>>(), ["orders:2".parse().unwrap()]);
/// # Ok::<(), consumer_groups::Error>(())
/// ```
#[derive(Clone)]
pub struct Assignment {
    shared: Arc<Shared>,
    offsets: Vec<u32>,
    parts: Vec<PartitionRef>,
}

/// How an assignment differs from the ownership its spec reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Diff {
    /// Partitions that stay with the member that reported owning them.
    pub retained: usize,
    /// Owned partitions the member must give up (not in its new assignment).
    pub revoked: usize,
    /// Partitions a member receives that it did not report owning: the partitions that move.
    pub added: usize,
}

impl Assignment {
    /// Builds the assignment from an owner table indexed by global partition.
    pub(crate) fn from_owners(spec: &GroupSpec, owners: &[u32]) -> Assignment {
        let m = spec.member_count();
        let mut offsets = vec![0u32; m + 1];
        for &o in owners {
            if o != NONE {
                offsets[o as usize + 1] += 1;
            }
        }
        for i in 0..m {
            offsets[i + 1] += offsets[i];
        }
        let total = offsets[m] as usize;
        let mut cursor: Vec<u32> = offsets[..m].to_vec();
        let mut parts = vec![PartitionRef::default(); total];
        for t in 0..spec.topic_count() {
            let base = spec.topic_base[t] as usize;
            let n = spec.partitions_of(t) as usize;
            for (p, &o) in owners[base..base + n].iter().enumerate() {
                if o != NONE {
                    let c = &mut cursor[o as usize];
                    parts[*c as usize] = PartitionRef {
                        topic: t as u32,
                        partition: p as u32,
                    };
                    *c += 1;
                }
            }
        }
        Assignment {
            shared: spec.shared.clone(),
            offsets,
            parts,
        }
    }

    /// Number of members (every member of the spec, including those assigned nothing).
    #[must_use]
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// `true` if the spec had no members.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Partitions assigned, summed over members.
    #[must_use]
    pub fn assigned_partitions(&self) -> usize {
        self.parts.len()
    }

    /// How this assignment differs from the ownership reported in the spec (computed on each
    /// call, in time linear in the owned and assigned partitions).
    #[must_use]
    pub fn diff(&self) -> Diff {
        let mut d = Diff::default();
        for m in 0..self.len() {
            let owned = self.shared.owned(m);
            let assigned = &self.parts[self.offsets[m] as usize..self.offsets[m + 1] as usize];
            // Both lists are sorted by (topic index, partition): merge.
            let (mut i, mut j, mut kept) = (0, 0, 0);
            while i < owned.len() && j < assigned.len() {
                match owned[i].cmp(&assigned[j]) {
                    std::cmp::Ordering::Equal => {
                        kept += 1;
                        i += 1;
                        j += 1;
                    }
                    std::cmp::Ordering::Less => i += 1,
                    std::cmp::Ordering::Greater => j += 1,
                }
            }
            d.retained += kept;
            d.revoked += owned.len() - kept;
            d.added += assigned.len() - kept;
        }
        d
    }

    /// The member at `index` in [`GroupSpec::members`] order.
    #[must_use]
    pub fn member(&self, index: usize) -> Option<MemberAssignment<'_>> {
        (index < self.len()).then(|| self.member_at(index))
    }

    fn member_at(&self, index: usize) -> MemberAssignment<'_> {
        let a = self.offsets[index] as usize;
        let b = self.offsets[index + 1] as usize;
        MemberAssignment {
            member_id: self.shared.members[index].id(),
            partitions: &self.parts[a..b],
            shared: &self.shared,
        }
    }

    /// The assignment of the member with this id.
    #[must_use]
    pub fn get(&self, member_id: &str) -> Option<MemberAssignment<'_>> {
        let i = *self.shared.member_index.get(member_id)?;
        self.member(i as usize)
    }

    /// Every member's assignment, in [`GroupSpec::members`] order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = MemberAssignment<'_>> + '_ {
        (0..self.len()).map(move |i| self.member_at(i))
    }

    /// The assignment as an ordered map from member id to partitions.
    #[must_use]
    pub fn to_map(&self) -> BTreeMap<MemberId, Vec<TopicPartition>> {
        self.iter()
            .map(|m| (m.member_id().clone(), m.topic_partitions().collect()))
            .collect()
    }
}

impl fmt::Debug for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|m| {
                (
                    m.member_id().clone(),
                    m.topic_partitions().collect::<Vec<_>>(),
                )
            }))
            .finish()
    }
}

/// One line per member, sorted by member id (bytes): `ID T:P,T:P,…`, or `ID -` for a member that
/// is assigned nothing. This is the output format of the `assign` example.
impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut members: Vec<MemberAssignment<'_>> = self.iter().collect();
        members.sort_by(|a, b| a.member_id().as_bytes().cmp(b.member_id().as_bytes()));
        for m in members {
            write!(f, "{} ", m.member_id())?;
            if m.partitions.is_empty() {
                f.write_str("-")?;
            }
            for (i, p) in m.partitions.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(
                    f,
                    "{}:{}",
                    self.shared.topics[p.topic as usize].name(),
                    p.partition
                )?;
            }
            f.write_str("\n")?;
        }
        Ok(())
    }
}

/// One member's part of an [`Assignment`].
#[derive(Clone, Copy)]
pub struct MemberAssignment<'a> {
    member_id: &'a MemberId,
    partitions: &'a [PartitionRef],
    shared: &'a Shared,
}

impl<'a> MemberAssignment<'a> {
    /// The member's id.
    #[must_use]
    pub fn member_id(&self) -> &'a MemberId {
        self.member_id
    }

    /// The assigned partitions as indices into the spec's topics, sorted.
    #[must_use]
    pub fn partitions(&self) -> &'a [PartitionRef] {
        self.partitions
    }

    /// Number of partitions assigned.
    #[must_use]
    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    /// `true` if the member is assigned nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// The assigned partitions by name, sorted by topic then partition.
    pub fn topic_partitions(&self) -> impl Iterator<Item = TopicPartition> + 'a {
        let shared = self.shared;
        self.partitions.iter().map(move |p| {
            TopicPartition::new(
                shared.topics[p.topic as usize].name().clone(),
                p.partition(),
            )
        })
    }

    /// The assigned partitions grouped by topic (the shape of Kafka's
    /// `ConsumerProtocolAssignment`), topics sorted by name.
    pub fn by_topic(&self) -> impl Iterator<Item = (&'a Topic, Vec<i32>)> + 'a {
        let shared = self.shared;
        self.partitions
            .chunk_by(|a, b| a.topic == b.topic)
            .map(move |chunk| {
                (
                    shared.topics[chunk[0].topic as usize].name(),
                    chunk.iter().map(|p| p.partition()).collect(),
                )
            })
    }
}

impl fmt::Debug for MemberAssignment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberAssignment")
            .field("member_id", self.member_id)
            .field("partitions", &self.topic_partitions().collect::<Vec<_>>())
            .finish()
    }
}

/// Builds an [`Assignment`] one partition at a time, checking the assignor contract as it goes:
/// the member exists and subscribes to the topic, the partition exists and has no owner yet.
///
/// This is how a custom [`PartitionAssignor`](crate::PartitionAssignor) produces its output.
///
/// ```
/// use consumer_groups::assignor::{AssignmentBuilder, GroupSpec, MemberSpec, TopicSpec};
///
/// let spec = GroupSpec::builder()
///     .topic(TopicSpec::new("t", 2))
///     .member(MemberSpec::new("a").subscribe(["t"]))
///     .build()?;
/// let mut b = AssignmentBuilder::new(&spec);
/// b.assign("a", "t", 1)?;
/// assert!(b.assign("a", "t", 1).is_err(), "a partition has one owner");
/// assert!(b.assign("a", "t", 2).is_err(), "t has no partition 2");
/// assert_eq!(b.finish().to_string(), "a t:1\n");
/// # Ok::<(), consumer_groups::Error>(())
/// ```
#[derive(Debug)]
pub struct AssignmentBuilder<'a> {
    spec: &'a GroupSpec,
    owners: Vec<u32>,
}

impl<'a> AssignmentBuilder<'a> {
    /// An empty assignment for `spec`.
    #[must_use]
    pub fn new(spec: &'a GroupSpec) -> Self {
        AssignmentBuilder {
            spec,
            owners: vec![NONE; spec.total_partitions() as usize],
        }
    }

    /// Assigns `topic:partition` to the member with id `member_id`.
    ///
    /// # Errors
    /// [`Error::UnknownMember`], [`Error::UnknownPartition`], or [`Error::AssignorContract`] if the
    /// partition already has an owner or the member does not subscribe to the topic.
    pub fn assign(&mut self, member_id: &str, topic: &str, partition: i32) -> Result<(), Error> {
        let member = self
            .spec
            .member_index(member_id)
            .ok_or_else(|| Error::UnknownMember(member_id.to_string()))?;
        let p =
            self.spec
                .partition_ref(topic, partition)
                .ok_or_else(|| Error::UnknownPartition {
                    topic: topic.to_string(),
                    partition,
                })?;
        self.assign_ref(member, p)
    }

    /// Assigns partition `p` to the member at index `member` of [`GroupSpec::members`].
    ///
    /// # Errors
    /// As [`AssignmentBuilder::assign`].
    pub fn assign_ref(&mut self, member: usize, p: PartitionRef) -> Result<(), Error> {
        let spec = self.spec;
        let Some(m) = spec.members().get(member) else {
            return Err(Error::UnknownMember(format!("#{member}")));
        };
        let Some(tp) = spec.topic_partition(p) else {
            return Err(Error::UnknownPartition {
                topic: format!("#{}", p.topic),
                partition: p.partition(),
            });
        };
        if !spec.is_subscribed(member, p.topic_index()) {
            return Err(Error::AssignorContract(format!(
                "{tp} given to {}, which does not subscribe to {}",
                m.id(),
                tp.topic
            )));
        }
        let slot = &mut self.owners[spec.global(p)];
        if *slot != NONE {
            return Err(Error::AssignorContract(format!(
                "{tp} given to both {} and {}",
                spec.members()[*slot as usize].id(),
                m.id()
            )));
        }
        *slot = member as u32;
        Ok(())
    }

    /// The finished assignment.
    #[must_use]
    pub fn finish(self) -> Assignment {
        Assignment::from_owners(self.spec, &self.owners)
    }
}
