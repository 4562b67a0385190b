//! The input of an assignment: the group's members and the topics they subscribe to.

use std::sync::Arc;

use hashbrown::HashMap;

use crate::error::Error;
use crate::types::{Generation, GroupInstanceId, MemberId, Rack, Topic, TopicPartition};

/// Marks "no member", "no rack", … in the crate's index tables.
pub(crate) const NONE: u32 = u32::MAX;

/// The most partitions (summed over the spec's topics) one assignment may plan: 16,777,216.
///
/// Assignors keep a few words of state per partition; the limit keeps a hostile spec from asking
/// for gigabytes. Kafka clusters are far below it.
pub const MAX_PARTITIONS: u64 = 1 << 24;

/// The most members one group spec may hold: 16,777,216.
pub const MAX_MEMBERS: u64 = 1 << 24;

/// A topic the assignor may hand out: its name, partition count and, optionally, the racks of
/// each partition's replicas (for rack-aware assignment, KIP-881).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    name: Topic,
    partitions: u32,
    replica_racks: Option<Arc<[Box<[Rack]>]>>,
}

impl TopicSpec {
    /// A topic with `partitions` partitions and no rack information.
    pub fn new(name: impl Into<Topic>, partitions: u32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            replica_racks: None,
        }
    }

    /// Gives the racks of each partition's replicas, one list per partition in partition order.
    /// [`GroupSpecBuilder::build`] refuses a list whose length differs from the partition count.
    #[must_use]
    pub fn with_replica_racks<I, R, S>(mut self, racks: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: IntoIterator<Item = S>,
        S: Into<Rack>,
    {
        let racks: Vec<Box<[Rack]>> = racks
            .into_iter()
            .map(|r| {
                let mut v: Vec<Rack> = r.into_iter().map(Into::into).collect();
                v.sort();
                v.dedup();
                v.into_boxed_slice()
            })
            .collect();
        self.replica_racks = Some(racks.into());
        self
    }

    /// The topic's name.
    #[must_use]
    pub fn name(&self) -> &Topic {
        &self.name
    }

    /// The number of partitions.
    #[must_use]
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// The racks of partition `partition`'s replicas, if rack information was given.
    #[must_use]
    pub fn replica_racks(&self, partition: u32) -> Option<&[Rack]> {
        self.replica_racks
            .as_ref()
            .and_then(|r| r.get(partition as usize))
            .map(|b| &**b)
    }
}

/// One member of the group as the assignor sees it: its id, optional static instance id and rack,
/// the topics it subscribes to, and the partitions it owns with the generation it owned them in.
///
/// ```
/// use consumer_groups::assignor::MemberSpec;
/// use consumer_groups::{Generation, TopicPartition};
///
/// let m = MemberSpec::new("consumer-1")
///     .subscribe(["orders", "payments"])
///     .owned([TopicPartition::new("orders", 0)])
///     .generation(Generation(4))
///     .rack("eu-west-1a")
///     .instance_id("host-7");
/// assert_eq!(m.topics().len(), 2);
/// assert_eq!(m.owned_generation(), Some(Generation(4)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    id: MemberId,
    instance_id: Option<GroupInstanceId>,
    rack: Option<Rack>,
    topics: Vec<Topic>,
    owned: Vec<TopicPartition>,
    generation: Option<Generation>,
    user_data: Option<Arc<[u8]>>,
}

impl MemberSpec {
    /// A member with no subscription yet.
    pub fn new(id: impl Into<MemberId>) -> Self {
        MemberSpec {
            id: id.into(),
            instance_id: None,
            rack: None,
            topics: Vec::new(),
            owned: Vec::new(),
            generation: None,
            user_data: None,
        }
    }

    /// Adds topics to the subscription. Topics the group spec has no metadata for are kept here
    /// but assigned nothing (Kafka skips them the same way).
    #[must_use]
    pub fn subscribe<I, T>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Topic>,
    {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Adds partitions the member currently owns (the consumer protocol's `owned_partitions`).
    #[must_use]
    pub fn owned<I>(mut self, partitions: I) -> Self
    where
        I: IntoIterator<Item = TopicPartition>,
    {
        self.owned.extend(partitions);
        self
    }

    /// The generation in which the member owned its partitions.
    #[must_use]
    pub fn generation(mut self, generation: Generation) -> Self {
        self.generation = Some(generation);
        self
    }

    /// The member's rack (`client.rack`).
    #[must_use]
    pub fn rack(mut self, rack: impl Into<Rack>) -> Self {
        self.rack = Some(rack.into());
        self
    }

    /// The member's static group instance id (`group.instance.id`).
    #[must_use]
    pub fn instance_id(mut self, instance_id: impl Into<GroupInstanceId>) -> Self {
        self.instance_id = Some(instance_id.into());
        self
    }

    /// Opaque bytes a custom assignor asked its members to send (the subscription's user data).
    #[must_use]
    pub fn user_data(mut self, data: impl Into<Arc<[u8]>>) -> Self {
        self.user_data = Some(data.into());
        self
    }

    /// The member id.
    #[must_use]
    pub fn id(&self) -> &MemberId {
        &self.id
    }

    /// The static group instance id, if the member is static.
    #[must_use]
    pub fn group_instance_id(&self) -> Option<&GroupInstanceId> {
        self.instance_id.as_ref()
    }

    /// The member's rack, if it reported one.
    #[must_use]
    pub fn member_rack(&self) -> Option<&Rack> {
        self.rack.as_ref()
    }

    /// The subscribed topics (sorted and without duplicates once the spec is built).
    #[must_use]
    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    /// The partitions the member reported owning (sorted, without duplicates once built).
    #[must_use]
    pub fn owned_partitions(&self) -> &[TopicPartition] {
        &self.owned
    }

    /// The generation of the owned partitions, if the member reported one.
    #[must_use]
    pub fn owned_generation(&self) -> Option<Generation> {
        self.generation
    }

    /// The subscription's user data, if any.
    #[must_use]
    pub fn subscription_user_data(&self) -> Option<&[u8]> {
        self.user_data.as_deref()
    }
}

/// The members and topic metadata shared by a [`GroupSpec`] and the assignments made from it.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) topics: Box<[TopicSpec]>,
    pub(crate) members: Box<[MemberSpec]>,
    pub(crate) member_index: HashMap<MemberId, u32>,
    pub(crate) topic_index: HashMap<Topic, u32>,
    /// Valid owned partitions per member (CSR: `owned[owned_off[m]..owned_off[m + 1]]`), sorted.
    pub(crate) owned_off: Vec<u32>,
    pub(crate) owned: Vec<PartitionRef>,
}

impl Shared {
    pub(crate) fn owned(&self, member: usize) -> &[PartitionRef] {
        match (self.owned_off.get(member), self.owned_off.get(member + 1)) {
            (Some(&a), Some(&b)) => &self.owned[a as usize..b as usize],
            _ => &[],
        }
    }
}

/// A subscription shared by one or more members, as sorted topic indices plus a bit set.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) topics: Box<[u32]>,
    bits: Box<[u64]>,
}

impl Subscription {
    #[inline]
    pub(crate) fn contains(&self, topic: u32) -> bool {
        let w = (topic / 64) as usize;
        w < self.bits.len() && self.bits[w] & (1u64 << (topic % 64)) != 0
    }
}

/// Subscribers per topic, in member order, built once with the spec.
#[derive(Debug, Clone)]
pub(crate) struct Subscribers {
    all: Vec<u32>,
    homogeneous: bool,
    off: Vec<u32>,
    list: Vec<u32>,
}

impl Subscribers {
    fn build(member_sub: &[u32], subs: &[Subscription], t: usize) -> Self {
        let m = member_sub.len();
        if subs.len() <= 1 {
            return Subscribers {
                all: (0..m as u32).collect(),
                homogeneous: true,
                off: Vec::new(),
                list: Vec::new(),
            };
        }
        let mut off = vec![0u32; t + 1];
        for &s in member_sub {
            for &topic in subs[s as usize].topics.iter() {
                off[topic as usize + 1] += 1;
            }
        }
        for i in 0..t {
            off[i + 1] += off[i];
        }
        let mut cursor = off[..t].to_vec();
        let mut list = vec![0u32; off[t] as usize];
        for (member, &s) in member_sub.iter().enumerate() {
            for &topic in subs[s as usize].topics.iter() {
                let c = &mut cursor[topic as usize];
                list[*c as usize] = member as u32;
                *c += 1;
            }
        }
        Subscribers {
            all: Vec::new(),
            homogeneous: false,
            off,
            list,
        }
    }

    /// Subscribers of topic `t`, ascending member index.
    #[inline]
    pub(crate) fn of(&self, t: usize) -> &[u32] {
        if self.homogeneous {
            // Homogeneous: everyone subscribes to every subscribed topic, or nobody to any.
            return &self.all;
        }
        &self.list[self.off[t] as usize..self.off[t + 1] as usize]
    }
}

/// A partition named by the index of its topic in the spec and its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PartitionRef {
    pub(crate) topic: u32,
    pub(crate) partition: u32,
}

impl PartitionRef {
    /// The index of the topic in [`GroupSpec::topics`].
    #[must_use]
    pub fn topic_index(self) -> usize {
        self.topic as usize
    }

    /// The partition number.
    #[must_use]
    pub fn partition(self) -> i32 {
        // Partition counts are checked to fit in i32 when the spec is built.
        self.partition as i32
    }
}

/// The complete input of one assignment, validated and indexed.
///
/// Build one with [`GroupSpec::builder`]. Building sorts the members into Kafka's order (static
/// members first, by group instance id; then dynamic members, by member id; both by the ids'
/// bytes), sorts the topics by name, interns identical subscriptions, and drops owned partitions
/// that name a topic or partition the spec does not describe. Assignors then work on dense
/// indices, so [`PartitionAssignor::assign`](crate::PartitionAssignor::assign) spends its time
/// on the assignment, not on hashing names.
///
/// ```
/// use consumer_groups::assignor::{GroupSpec, MemberSpec, TopicSpec};
///
/// let spec = GroupSpec::builder()
///     .topic(TopicSpec::new("orders", 4))
///     .member(MemberSpec::new("b").subscribe(["orders"]))
///     .member(MemberSpec::new("a").subscribe(["orders", "no-such-topic"]))
///     .build()?;
/// assert_eq!(spec.members()[0].id(), "a");
/// assert_eq!(spec.total_partitions(), 4);
/// # Ok::<(), consumer_groups::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub(crate) shared: Arc<Shared>,
    /// First global partition index of each topic, plus the total at the end.
    pub(crate) topic_base: Vec<u32>,
    pub(crate) subs: Vec<Subscription>,
    pub(crate) member_sub: Vec<u32>,
    pub(crate) subscribers: Subscribers,
    pub(crate) member_gen: Vec<i32>,
    pub(crate) member_rack: Vec<u32>,
    pub(crate) racks: Vec<Rack>,
    /// Replica racks per global partition (CSR), present when any topic carries racks.
    pub(crate) part_rack_off: Vec<u32>,
    pub(crate) part_rack_ids: Vec<u32>,
}

impl GroupSpec {
    /// Starts an empty spec.
    #[must_use]
    pub fn builder() -> GroupSpecBuilder {
        GroupSpecBuilder::default()
    }

    /// The members, in the canonical order described on [`GroupSpec`]. Assignors and
    /// [`Assignment`](super::Assignment) refer to members by their index in this slice.
    #[must_use]
    pub fn members(&self) -> &[MemberSpec] {
        &self.shared.members
    }

    /// The topics with metadata, sorted by name.
    #[must_use]
    pub fn topics(&self) -> &[TopicSpec] {
        &self.shared.topics
    }

    /// The index of a member in [`GroupSpec::members`].
    #[must_use]
    pub fn member_index(&self, id: &str) -> Option<usize> {
        self.shared.member_index.get(id).map(|&i| i as usize)
    }

    /// The index of a topic in [`GroupSpec::topics`].
    #[must_use]
    pub fn topic_index(&self, topic: &str) -> Option<usize> {
        self.shared.topic_index.get(topic).map(|&i| i as usize)
    }

    /// Partitions summed over all topics with metadata.
    #[must_use]
    pub fn total_partitions(&self) -> u32 {
        *self.topic_base.last().unwrap_or(&0)
    }

    /// `true` if every member subscribes to the same set of topics with metadata.
    #[must_use]
    pub fn is_homogeneous(&self) -> bool {
        self.subs.len() <= 1
    }

    /// Whether member `member` subscribes to the topic at `topic_index`.
    #[must_use]
    pub fn is_subscribed(&self, member: usize, topic_index: usize) -> bool {
        match (self.member_sub.get(member), u32::try_from(topic_index)) {
            (Some(&s), Ok(t)) => self.subs[s as usize].contains(t),
            _ => false,
        }
    }

    /// The indices of the topics (with metadata) member `member` subscribes to, ascending.
    #[must_use]
    pub fn subscribed_topics(&self, member: usize) -> &[u32] {
        match self.member_sub.get(member) {
            Some(&s) => &self.subs[s as usize].topics,
            None => &[],
        }
    }

    /// The valid owned partitions of member `member` (those naming a known topic and an existing
    /// partition), sorted.
    #[must_use]
    pub fn owned(&self, member: usize) -> &[PartitionRef] {
        self.shared.owned(member)
    }

    /// Resolves a [`PartitionRef`] into a [`TopicPartition`].
    #[must_use]
    pub fn topic_partition(&self, p: PartitionRef) -> Option<TopicPartition> {
        let t = self.shared.topics.get(p.topic as usize)?;
        (p.partition < t.partitions).then(|| TopicPartition::new(t.name.clone(), p.partition()))
    }

    /// Looks up a partition by name.
    #[must_use]
    pub fn partition_ref(&self, topic: &str, partition: i32) -> Option<PartitionRef> {
        let t = *self.shared.topic_index.get(topic)?;
        let p = u32::try_from(partition).ok()?;
        (p < self.shared.topics[t as usize].partitions).then_some(PartitionRef {
            topic: t,
            partition: p,
        })
    }

    /// `true` if some member reported owning a partition the spec describes.
    pub(crate) fn has_claims(&self) -> bool {
        !self.shared.owned.is_empty()
    }

    #[inline]
    pub(crate) fn member_count(&self) -> usize {
        self.member_sub.len()
    }

    #[inline]
    pub(crate) fn global(&self, p: PartitionRef) -> usize {
        (self.topic_base[p.topic as usize] + p.partition) as usize
    }

    #[inline]
    pub(crate) fn topic_count(&self) -> usize {
        self.shared.topics.len()
    }

    #[inline]
    pub(crate) fn partitions_of(&self, topic: usize) -> u32 {
        self.shared.topics[topic].partitions
    }

    pub(crate) fn has_partition_racks(&self) -> bool {
        !self.part_rack_off.is_empty()
    }

    /// Rack ids of the replicas of global partition `g` (empty if unknown).
    #[inline]
    pub(crate) fn partition_racks(&self, g: usize) -> &[u32] {
        if self.part_rack_off.is_empty() {
            return &[];
        }
        let a = self.part_rack_off[g] as usize;
        let b = self.part_rack_off[g + 1] as usize;
        &self.part_rack_ids[a..b]
    }
}

/// Collects topics and members, then validates and indexes them into a [`GroupSpec`].
#[derive(Debug, Default, Clone)]
pub struct GroupSpecBuilder {
    topics: Vec<TopicSpec>,
    members: Vec<MemberSpec>,
}

impl GroupSpecBuilder {
    /// Adds topic metadata. Declaring a topic twice with identical metadata is harmless.
    #[must_use]
    pub fn topic(mut self, topic: TopicSpec) -> Self {
        self.topics.push(topic);
        self
    }

    /// Adds metadata for many topics.
    #[must_use]
    pub fn topics(mut self, topics: impl IntoIterator<Item = TopicSpec>) -> Self {
        self.topics.extend(topics);
        self
    }

    /// Adds topic metadata from a name and partition count.
    #[must_use]
    pub fn topic_partitions(self, name: impl Into<Topic>, partitions: u32) -> Self {
        self.topic(TopicSpec::new(name, partitions))
    }

    /// Adds a member.
    #[must_use]
    pub fn member(mut self, member: MemberSpec) -> Self {
        self.members.push(member);
        self
    }

    /// Adds many members.
    #[must_use]
    pub fn members(mut self, members: impl IntoIterator<Item = MemberSpec>) -> Self {
        self.members.extend(members);
        self
    }

    /// Validates and indexes the spec.
    ///
    /// # Errors
    /// [`Error::EmptyId`] for an empty member id, instance id or topic name;
    /// [`Error::DuplicateMember`] / [`Error::DuplicateInstanceId`] when two members share an id;
    /// [`Error::DuplicateTopic`] for a topic declared twice with different metadata;
    /// [`Error::InvalidPartitionCount`] for a count above `i32::MAX` or replica racks that do not
    /// match the count; [`Error::TooManyPartitions`] / [`Error::TooManyMembers`] past the limits.
    pub fn build(self) -> Result<GroupSpec, Error> {
        let GroupSpecBuilder {
            mut topics,
            mut members,
        } = self;

        // Topics: validate, sort by name, merge identical duplicates.
        for t in &topics {
            if t.name.is_empty() {
                return Err(Error::EmptyId("topic name"));
            }
            if t.partitions > i32::MAX as u32 {
                return Err(Error::InvalidPartitionCount {
                    topic: t.name.to_string(),
                    reason: format!("{} is above i32::MAX", t.partitions),
                });
            }
            if let Some(r) = &t.replica_racks {
                if r.len() != t.partitions as usize {
                    return Err(Error::InvalidPartitionCount {
                        topic: t.name.to_string(),
                        reason: format!(
                            "{} replica rack lists for {} partitions",
                            r.len(),
                            t.partitions
                        ),
                    });
                }
            }
        }
        topics.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        let mut dedup: Vec<TopicSpec> = Vec::with_capacity(topics.len());
        for t in topics {
            match dedup.last() {
                Some(last) if last.name == t.name => {
                    if *last != t {
                        return Err(Error::DuplicateTopic(t.name.to_string()));
                    }
                }
                _ => dedup.push(t),
            }
        }
        let topics = dedup;
        let mut topic_base = Vec::with_capacity(topics.len() + 1);
        let mut total: u64 = 0;
        for t in &topics {
            topic_base.push(total as u32);
            total += u64::from(t.partitions);
            if total > MAX_PARTITIONS {
                return Err(Error::TooManyPartitions {
                    total,
                    limit: MAX_PARTITIONS,
                });
            }
        }
        topic_base.push(total as u32);
        let topic_index: HashMap<Topic, u32> = topics
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i as u32))
            .collect();

        // Members: validate, canonical order, duplicate checks.
        if members.len() as u64 > MAX_MEMBERS {
            return Err(Error::TooManyMembers {
                total: members.len() as u64,
                limit: MAX_MEMBERS,
            });
        }
        for m in &members {
            if m.id.is_empty() {
                return Err(Error::EmptyId("member id"));
            }
            if m.instance_id.as_ref().is_some_and(|i| i.is_empty()) {
                return Err(Error::EmptyId("group instance id"));
            }
        }
        members.sort_by(canonical_order);
        for w in members.windows(2) {
            if let (Some(a), Some(b)) = (&w[0].instance_id, &w[1].instance_id) {
                if a == b {
                    return Err(Error::DuplicateInstanceId(a.to_string()));
                }
            }
        }
        let mut member_index: HashMap<MemberId, u32> = HashMap::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            if member_index.insert(m.id.clone(), i as u32).is_some() {
                return Err(Error::DuplicateMember(m.id.to_string()));
            }
        }

        // Racks.
        let mut racks: Vec<Rack> = Vec::new();
        let mut rack_index: HashMap<Rack, u32> = HashMap::new();
        let mut intern_rack = |r: &Rack| -> u32 {
            *rack_index.entry(r.clone()).or_insert_with(|| {
                racks.push(r.clone());
                (racks.len() - 1) as u32
            })
        };

        // Subscriptions, owned partitions, generations, racks per member.
        let words = topics.len().div_ceil(64);
        let mut subs: Vec<Subscription> = Vec::new();
        let mut sub_index: HashMap<Box<[u32]>, u32> = HashMap::new();
        let mut member_sub = Vec::with_capacity(members.len());
        let mut owned_off = Vec::with_capacity(members.len() + 1);
        let mut owned = Vec::new();
        let mut member_gen = Vec::with_capacity(members.len());
        let mut member_rack = Vec::with_capacity(members.len());
        let mut scratch: Vec<u32> = Vec::new();
        for m in &mut members {
            m.topics.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            m.topics.dedup();
            m.owned.sort_by(|a, b| {
                a.topic
                    .as_bytes()
                    .cmp(b.topic.as_bytes())
                    .then(a.partition.cmp(&b.partition))
            });
            m.owned.dedup();

            scratch.clear();
            scratch.extend(m.topics.iter().filter_map(|t| topic_index.get(t).copied()));
            // Topics are sorted by bytes and indices follow the same order.
            let sid = match sub_index.get(scratch.as_slice()) {
                Some(&s) => s,
                None => {
                    let mut bits = vec![0u64; words].into_boxed_slice();
                    for &t in &scratch {
                        bits[(t / 64) as usize] |= 1u64 << (t % 64);
                    }
                    let key: Box<[u32]> = scratch.clone().into_boxed_slice();
                    subs.push(Subscription {
                        topics: key.clone(),
                        bits,
                    });
                    let s = (subs.len() - 1) as u32;
                    sub_index.insert(key, s);
                    s
                }
            };
            member_sub.push(sid);

            owned_off.push(owned.len() as u32);
            for tp in &m.owned {
                if let Some(&t) = topic_index.get(&tp.topic) {
                    if let Ok(p) = u32::try_from(tp.partition) {
                        if p < topics[t as usize].partitions {
                            owned.push(PartitionRef {
                                topic: t,
                                partition: p,
                            });
                        }
                    }
                }
            }
            member_gen.push(m.generation.map_or(Generation::NONE.0, |g| g.0));
            member_rack.push(match &m.rack {
                Some(r) if !r.is_empty() => intern_rack(r),
                _ => NONE,
            });
        }
        owned_off.push(owned.len() as u32);

        let mut part_rack_off = Vec::new();
        let mut part_rack_ids = Vec::new();
        if topics.iter().any(|t| t.replica_racks.is_some()) {
            part_rack_off.reserve(total as usize + 1);
            for t in &topics {
                for p in 0..t.partitions {
                    part_rack_off.push(part_rack_ids.len() as u32);
                    if let Some(rs) = t.replica_racks.as_ref().map(|r| &r[p as usize]) {
                        for r in rs.iter().filter(|r| !r.is_empty()) {
                            part_rack_ids.push(intern_rack(r));
                        }
                    }
                }
            }
            part_rack_off.push(part_rack_ids.len() as u32);
        }

        let topic_count = topics.len();
        Ok(GroupSpec {
            shared: Arc::new(Shared {
                topics: topics.into_boxed_slice(),
                members: members.into_boxed_slice(),
                member_index,
                topic_index,
                owned_off,
                owned,
            }),
            topic_base,
            subscribers: Subscribers::build(&member_sub, &subs, topic_count),
            subs,
            member_sub,
            member_gen,
            member_rack,
            racks,
            part_rack_off,
            part_rack_ids,
        })
    }
}

/// Kafka's member order: static members first, by instance id; then dynamic ones, by member id.
fn canonical_order(a: &MemberSpec, b: &MemberSpec) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x
            .as_bytes()
            .cmp(y.as_bytes())
            .then_with(|| a.id.as_bytes().cmp(b.id.as_bytes())),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.id.as_bytes().cmp(b.id.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_members_sort_first_by_instance_id() {
        let spec = GroupSpec::builder()
            .member(MemberSpec::new("a"))
            .member(MemberSpec::new("z").instance_id("i1"))
            .member(MemberSpec::new("b").instance_id("i0"))
            .build()
            .unwrap();
        let ids: Vec<&str> = spec.members().iter().map(|m| m.id().as_str()).collect();
        assert_eq!(ids, ["b", "z", "a"]);
    }

    #[test]
    fn duplicate_member_ids_are_refused() {
        let err = GroupSpec::builder()
            .member(MemberSpec::new("a"))
            .member(MemberSpec::new("a"))
            .build()
            .unwrap_err();
        assert_eq!(err, Error::DuplicateMember("a".into()));
    }

    #[test]
    fn duplicate_instance_ids_are_refused() {
        let err = GroupSpec::builder()
            .member(MemberSpec::new("a").instance_id("i"))
            .member(MemberSpec::new("b").instance_id("i"))
            .build()
            .unwrap_err();
        assert_eq!(err, Error::DuplicateInstanceId("i".into()));
    }

    #[test]
    fn empty_ids_are_refused() {
        assert_eq!(
            GroupSpec::builder()
                .member(MemberSpec::new(""))
                .build()
                .unwrap_err(),
            Error::EmptyId("member id")
        );
        assert_eq!(
            GroupSpec::builder()
                .topic(TopicSpec::new("", 1))
                .build()
                .unwrap_err(),
            Error::EmptyId("topic name")
        );
    }

    #[test]
    fn conflicting_topic_metadata_is_refused_and_identical_is_merged() {
        let ok = GroupSpec::builder()
            .topic(TopicSpec::new("t", 3))
            .topic(TopicSpec::new("t", 3))
            .build()
            .unwrap();
        assert_eq!(ok.total_partitions(), 3);
        let err = GroupSpec::builder()
            .topic(TopicSpec::new("t", 3))
            .topic(TopicSpec::new("t", 4))
            .build()
            .unwrap_err();
        assert_eq!(err, Error::DuplicateTopic("t".into()));
    }

    #[test]
    fn oversized_specs_are_refused_without_allocating() {
        let err = GroupSpec::builder()
            .topic(TopicSpec::new("a", i32::MAX as u32))
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::TooManyPartitions { .. }));
        let err = GroupSpec::builder()
            .topic(TopicSpec::new("a", u32::MAX))
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPartitionCount { .. }));
    }

    #[test]
    fn replica_racks_must_match_partition_count() {
        let err = GroupSpec::builder()
            .topic(TopicSpec::new("a", 2).with_replica_racks([["r1"]]))
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPartitionCount { .. }));
    }

    #[test]
    fn invalid_owned_partitions_are_dropped_and_subscriptions_interned() {
        let spec = GroupSpec::builder()
            .topic(TopicSpec::new("t", 2))
            .member(MemberSpec::new("a").subscribe(["t", "gone"]).owned([
                TopicPartition::new("t", 1),
                TopicPartition::new("t", 7),
                TopicPartition::new("t", -1),
                TopicPartition::new("gone", 0),
                TopicPartition::new("t", 1),
            ]))
            .member(MemberSpec::new("b").subscribe(["t"]))
            .build()
            .unwrap();
        assert_eq!(
            spec.owned(0),
            &[PartitionRef {
                topic: 0,
                partition: 1
            }]
        );
        assert!(spec.is_homogeneous());
        assert!(spec.is_subscribed(1, 0));
        assert!(!spec.is_subscribed(5, 0));
    }
}
