//! The in-memory index of one offsets-log partition: compact per-partition entries, per-topic
//! tables, per-group state and the shared metadata strings.

use std::mem::size_of;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};

use crate::log::Producer;
use crate::log::codec::GroupMetadataValue;
use crate::types::{GroupId, Topic};

/// Marks a vacant slot of a dense table (in [`Entry::meta`]).
const VACANT: u32 = u32::MAX;

/// One committed (or pending) offset: 32 bytes. The topic and group live in the tables that
/// hold it; the metadata string is an id into the partition's [`Strings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) offset: i64,
    pub(crate) commit_ts: i64,
    /// The log offset of the record that wrote it: on a transaction's commit, the newer
    /// position wins.
    pub(crate) log_pos: i64,
    /// `-1` for none.
    pub(crate) leader_epoch: i32,
    pub(crate) meta: u32,
}

impl Entry {
    const EMPTY: Entry = Entry {
        offset: 0,
        commit_ts: 0,
        log_pos: 0,
        leader_epoch: -1,
        meta: VACANT,
    };
}

/// Metadata strings, interned per log partition with reference counts; id 0 is `""`.
#[derive(Debug)]
pub(crate) struct Strings {
    slots: Vec<(Arc<str>, u32)>,
    ids: HashMap<Arc<str>, u32>,
    free: Vec<u32>,
}

impl Default for Strings {
    fn default() -> Self {
        Strings {
            slots: vec![(Arc::from(""), 0)],
            ids: HashMap::new(),
            free: Vec::new(),
        }
    }
}

impl Strings {
    /// Takes a reference to `s`, adding it if new.
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(&id) = self.ids.get(s) {
            self.slots[id as usize].1 += 1;
            return id;
        }
        let arc: Arc<str> = Arc::from(s);
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = (arc.clone(), 1);
                id
            }
            None => {
                self.slots.push((arc.clone(), 1));
                (self.slots.len() - 1) as u32
            }
        };
        self.ids.insert(arc, id);
        id
    }

    /// Drops a reference taken by [`intern`](Self::intern).
    pub(crate) fn release(&mut self, id: u32) {
        if id == 0 || id == VACANT {
            return;
        }
        let slot = &mut self.slots[id as usize];
        slot.1 -= 1;
        if slot.1 == 0 {
            let s = std::mem::replace(&mut slot.0, Arc::from(""));
            self.ids.remove(&s);
            self.free.push(id);
        }
    }

    pub(crate) fn get(&self, id: u32) -> &Arc<str> {
        &self.slots[id as usize].0
    }

    pub(crate) fn live(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<(Arc<str>, u32)>()
            + self.ids.capacity() * (size_of::<(Arc<str>, u32)>() + 1)
            + self.free.capacity() * 4
            + self.ids.keys().map(|s| s.len() + 16).sum::<usize>()
    }
}

/// The offsets of one topic for one group. Partition numbers are usually dense from 0, so
/// entries sit in a vector indexed by partition; a table whose partition numbers are sparse
/// switches to a hash map so a lone high partition number cannot cost memory.
#[derive(Debug)]
pub(crate) struct TopicOffsets {
    pub(crate) topic: Topic,
    slots: Slots,
    /// Expire timestamps, for the rare commits that carry one.
    expire: Option<Box<HashMap<i32, i64>>>,
    live: usize,
}

#[derive(Debug)]
enum Slots {
    Dense(Vec<Entry>),
    Sparse(HashMap<i32, Entry>),
}

impl TopicOffsets {
    pub(crate) fn new(topic: Topic) -> Self {
        TopicOffsets {
            topic,
            slots: Slots::Dense(Vec::new()),
            expire: None,
            live: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    pub(crate) fn get(&self, partition: i32) -> Option<&Entry> {
        match &self.slots {
            Slots::Dense(v) => v
                .get(usize::try_from(partition).ok()?)
                .filter(|e| e.meta != VACANT),
            Slots::Sparse(m) => m.get(&partition),
        }
    }

    pub(crate) fn expire(&self, partition: i32) -> Option<i64> {
        self.expire.as_ref()?.get(&partition).copied()
    }

    /// Stores `entry` for `partition` (which is not negative) and returns the entry it
    /// replaced.
    pub(crate) fn put(
        &mut self,
        partition: i32,
        entry: Entry,
        expire: Option<i64>,
    ) -> Option<Entry> {
        debug_assert!(partition >= 0 && entry.meta != VACANT);
        let p = partition as usize;
        if let Slots::Dense(v) = &mut self.slots {
            // Past twice the live count (plus slack) the vector would be mostly holes.
            if p >= v.len() && p > 2 * self.live + 64 {
                let map: HashMap<i32, Entry> = v
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.meta != VACANT)
                    .map(|(i, e)| (i as i32, *e))
                    .collect();
                self.slots = Slots::Sparse(map);
            }
        }
        let old = match &mut self.slots {
            Slots::Dense(v) => {
                if p >= v.len() {
                    v.resize(p + 1, Entry::EMPTY);
                }
                let old = std::mem::replace(&mut v[p], entry);
                (old.meta != VACANT).then_some(old)
            }
            Slots::Sparse(m) => m.insert(partition, entry),
        };
        if old.is_none() {
            self.live += 1;
        }
        match expire {
            Some(t) => {
                self.expire
                    .get_or_insert_with(Box::default)
                    .insert(partition, t);
            }
            None => {
                if let Some(m) = &mut self.expire {
                    m.remove(&partition);
                    if m.is_empty() {
                        self.expire = None;
                    }
                }
            }
        }
        old
    }

    pub(crate) fn remove(&mut self, partition: i32) -> Option<Entry> {
        let old = match &mut self.slots {
            Slots::Dense(v) => {
                let slot = v.get_mut(usize::try_from(partition).ok()?)?;
                let old = std::mem::replace(slot, Entry::EMPTY);
                while v.last().is_some_and(|e| e.meta == VACANT) {
                    v.pop();
                }
                (old.meta != VACANT).then_some(old)
            }
            Slots::Sparse(m) => m.remove(&partition),
        }?;
        self.live -= 1;
        if let Some(m) = &mut self.expire {
            m.remove(&partition);
            if m.is_empty() {
                self.expire = None;
            }
        }
        Some(old)
    }

    /// Entries in partition order.
    pub(crate) fn entries(&self) -> Vec<(i32, Entry)> {
        match &self.slots {
            Slots::Dense(v) => v
                .iter()
                .enumerate()
                .filter(|(_, e)| e.meta != VACANT)
                .map(|(i, e)| (i as i32, *e))
                .collect(),
            Slots::Sparse(m) => {
                let mut out: Vec<(i32, Entry)> = m.iter().map(|(&p, &e)| (p, e)).collect();
                out.sort_unstable_by_key(|&(p, _)| p);
                out
            }
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let slots = match &self.slots {
            Slots::Dense(v) => v.capacity() * size_of::<Entry>(),
            Slots::Sparse(m) => m.capacity() * (size_of::<(i32, Entry)>() + 1),
        };
        slots
            + self
                .expire
                .as_ref()
                .map_or(0, |m| m.capacity() * (size_of::<(i32, i64)>() + 1))
    }
}

/// Offsets one producer's open transaction committed for a group.
#[derive(Debug)]
pub(crate) struct PendingTxn {
    pub(crate) producer: Producer,
    pub(crate) offsets: HashMap<Topic, HashMap<i32, (Entry, Option<i64>)>>,
}

impl PendingTxn {
    pub(crate) fn contains(&self, topic: &str, partition: i32) -> bool {
        self.offsets
            .get(topic)
            .is_some_and(|m| m.contains_key(&partition))
    }

    pub(crate) fn remove(&mut self, topic: &str, partition: i32) -> Option<Entry> {
        let m = self.offsets.get_mut(topic)?;
        let (e, _) = m.remove(&partition)?;
        if m.is_empty() {
            self.offsets.remove(topic);
        }
        Some(e)
    }

    pub(crate) fn len(&self) -> usize {
        self.offsets.values().map(HashMap::len).sum()
    }
}

/// Everything the store knows about one group.
#[derive(Debug)]
pub(crate) struct GroupState {
    pub(crate) id: GroupId,
    pub(crate) topics: Vec<TopicOffsets>,
    pub(crate) topic_index: HashMap<Topic, u32>,
    pub(crate) offsets: usize,
    pub(crate) metadata: Option<Box<GroupMetadataValue>>,
    pub(crate) pending: Vec<PendingTxn>,
}

impl GroupState {
    pub(crate) fn new(id: GroupId) -> Self {
        GroupState {
            id,
            topics: Vec::new(),
            topic_index: HashMap::new(),
            offsets: 0,
            metadata: None,
            pending: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.offsets == 0 && self.metadata.is_none() && self.pending.is_empty()
    }

    pub(crate) fn topic(&self, topic: &str) -> Option<&TopicOffsets> {
        self.topic_index
            .get(topic)
            .map(|&i| &self.topics[i as usize])
    }

    /// The index of `topic`'s table, created if missing.
    pub(crate) fn topic_slot(&mut self, topic: &str) -> usize {
        if let Some(&i) = self.topic_index.get(topic) {
            return i as usize;
        }
        let t = Topic::from(topic);
        self.topics.push(TopicOffsets::new(t.clone()));
        let i = self.topics.len() - 1;
        self.topic_index.insert(t, i as u32);
        i
    }

    /// Stores a committed entry; returns the one it replaced.
    pub(crate) fn put(
        &mut self,
        slot: usize,
        partition: i32,
        entry: Entry,
        expire: Option<i64>,
    ) -> Option<Entry> {
        let old = self.topics[slot].put(partition, entry, expire);
        if old.is_none() {
            self.offsets += 1;
        }
        old
    }

    /// Removes a committed entry, dropping the topic's table when it empties.
    pub(crate) fn remove(&mut self, topic: &str, partition: i32) -> Option<Entry> {
        let slot = *self.topic_index.get(topic)? as usize;
        let old = self.topics[slot].remove(partition)?;
        self.offsets -= 1;
        if self.topics[slot].len() == 0 {
            let gone = self.topics.swap_remove(slot);
            self.topic_index.remove(&gone.topic);
            if let Some(moved) = self.topics.get(slot) {
                self.topic_index.insert(moved.topic.clone(), slot as u32);
            }
        }
        Some(old)
    }

    /// Whether any open transaction holds a pending commit for the partition.
    pub(crate) fn has_pending(&self, topic: &str, partition: i32) -> bool {
        self.pending.iter().any(|t| t.contains(topic, partition))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.topics.capacity() * size_of::<TopicOffsets>()
            + self.topic_index.capacity() * (size_of::<(Topic, u32)>() + 1)
            + self
                .topics
                .iter()
                .map(TopicOffsets::heap_bytes)
                .sum::<usize>()
            + self.pending.iter().map(|t| t.len() * 64).sum::<usize>()
            + self.metadata.as_ref().map_or(0, |m| {
                size_of::<GroupMetadataValue>()
                    + m.members
                        .iter()
                        .map(|x| x.subscription.len() + x.assignment.len() + 128)
                        .sum::<usize>()
            })
    }
}

/// Groups with pending transactional offsets, per producer id.
pub(crate) type TxnGroups = HashMap<i64, HashSet<GroupId>>;
