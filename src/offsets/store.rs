//! [`LogOffsetStore`]: offsets and group metadata as records in a [`Log`], indexed in memory.

use std::collections::BTreeMap;
use std::mem::size_of;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use parking_lot::RwLock;

use super::table::{Entry, GroupState, PendingTxn, Strings, TopicOffsets, TxnGroups};
use super::{
    CommitOptions, CommittedOffset, DEFAULT_MAX_METADATA_BYTES, DEFAULT_RETENTION_MS, ExpiryStats,
    FetchResult, OffsetCommit, OffsetStore,
};
use crate::error::{Error, ErrorCode};
use crate::log::codec::{
    EndTxnMarker, GroupMetadataValue, OffsetCommitValueRef, OffsetsKeyRef, raw_commit_key,
    raw_commit_value_v3,
};
use crate::log::{
    CompactionStats, Log, Producer, ReadLimit, Record, RecordView, Transaction, TxnOutcome,
};
use crate::protocol::consumer::{CONSUMER_PROTOCOL_TYPE, Subscription};
use crate::types::{GroupId, Offset, Timestamp, Topic, TopicPartition};

/// Longest string Kafka's record format carries.
const MAX_STRING: usize = i16::MAX as usize;

/// Settings of a [`LogOffsetStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetStoreConfig {
    /// Longest metadata string a commit may carry (Kafka's `offset.metadata.max.bytes`,
    /// default 4096); longer ones fail with [`ErrorCode::OffsetMetadataTooLarge`].
    pub max_metadata_bytes: usize,
    /// How long offsets are kept (Kafka's `offsets.retention.minutes`, default 7 days), in
    /// milliseconds; see [`LogOffsetStore`] for when the clock starts.
    pub retention_ms: u64,
}

impl Default for OffsetStoreConfig {
    fn default() -> Self {
        OffsetStoreConfig {
            max_metadata_bytes: DEFAULT_MAX_METADATA_BYTES,
            retention_ms: DEFAULT_RETENTION_MS,
        }
    }
}

/// What [`LogOffsetStore::load`] replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadStats {
    /// Records read.
    pub records: usize,
    /// Groups the partition holds afterwards.
    pub groups: usize,
    /// Committed offsets it holds afterwards.
    pub offsets: usize,
    /// Pending transactional offsets it holds afterwards.
    pub pending: usize,
}

/// Memory the index holds, as [`LogOffsetStore::memory_usage`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryUsage {
    /// Committed offsets held.
    pub offsets: usize,
    /// Groups held.
    pub groups: usize,
    /// Heap bytes of the index's tables: entries, per-topic and per-group tables and the
    /// group and metadata-string maps. Group and topic names are shared with the caller's
    /// `Arc<str>`s and not counted.
    pub table_bytes: usize,
}

impl MemoryUsage {
    /// Table bytes per committed offset.
    #[must_use]
    pub fn bytes_per_offset(&self) -> f64 {
        if self.offsets == 0 {
            0.0
        } else {
            self.table_bytes as f64 / self.offsets as f64
        }
    }
}

/// A committed or pending offset in a [`StateSnapshot`], with the log offset of the record
/// that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// The offset as a fetch returns it.
    pub committed: CommittedOffset,
    /// The log offset of the record that wrote it.
    pub log_position: i64,
}

/// One group in a [`StateSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupSnapshot {
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), SnapshotEntry>,
    /// Pending transactional offsets by producer id, then (topic, partition).
    pub pending: BTreeMap<i64, BTreeMap<(String, i32), SnapshotEntry>>,
    /// The stored group metadata.
    pub metadata: Option<GroupMetadataValue>,
}

/// Everything one log partition's index holds, in sorted maps so two snapshots compare
/// exactly: how tests check that a replay rebuilds the state that wrote the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateSnapshot {
    /// Groups by id.
    pub groups: BTreeMap<String, GroupSnapshot>,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    commit: usize,
    key: usize,
    value: usize,
    end: usize,
}

/// One offsets-log partition's index and scratch space.
#[derive(Debug, Default)]
struct Shard {
    groups: Vec<GroupState>,
    index: HashMap<GroupId, u32>,
    strings: Strings,
    txn_groups: TxnGroups,
    /// The newest epoch seen per transactional producer id in this partition (Kafka's
    /// producer state): a write from an older epoch is fenced, even after the newer epoch's
    /// marker ended everything pending.
    producer_epochs: HashMap<i64, i16>,
    scratch: Vec<u8>,
    spans: Vec<Span>,
    /// The record list of the last commit, emptied, kept for its allocation.
    records: Vec<Record<'static>>,
    /// Records in the partition's log: what the last load read, plus what was appended since,
    /// less what compaction removed.
    log_records: u64,
    /// `log_records` right after the last cleaning (0 after a load: all of it may be dirty).
    cleaned: u64,
}

/// Empties `v` and returns its allocation as a vector of records of another lifetime (the
/// standard library collects a same-layout `into_iter` in place).
// `filter` could not change the lifetime; this `filter_map` exists to.
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'b>(v: Vec<Record<'_>>) -> Vec<Record<'b>> {
    v.into_iter().filter_map(|_| None).collect()
}

impl Shard {
    fn group(&self, id: &str) -> Option<usize> {
        self.index.get(id).map(|&i| i as usize)
    }

    fn group_or_insert(&mut self, id: &str, hint: Option<usize>) -> usize {
        if let Some(i) = hint.filter(|&i| self.groups.get(i).is_some_and(|g| *g.id == *id)) {
            return i;
        }
        if let Some(i) = self.group(id) {
            return i;
        }
        let gid = GroupId::from(id);
        self.groups.push(GroupState::new(gid.clone()));
        let i = self.groups.len() - 1;
        self.index.insert(gid, i as u32);
        i
    }

    /// Removes group `gi` if nothing is left of it.
    fn drop_if_empty(&mut self, gi: usize) {
        if !self.groups[gi].is_empty() {
            return;
        }
        let gone = self.groups.swap_remove(gi);
        self.index.remove(&gone.id);
        if let Some(moved) = self.groups.get(gi) {
            self.index.insert(moved.id.clone(), gi as u32);
        }
    }

    fn entry(&mut self, v: &OffsetCommitValueRef<'_>, log_pos: i64) -> Entry {
        Entry {
            offset: v.offset,
            commit_ts: v.commit_timestamp,
            log_pos,
            leader_epoch: v.leader_epoch.unwrap_or(-1),
            meta: self.strings.intern(v.metadata),
        }
    }

    /// Applies an offset-commit record; `topic_hint` is the slot of the topic last used.
    fn apply_commit(
        &mut self,
        gi: usize,
        (topic, partition): (&str, i32),
        v: &OffsetCommitValueRef<'_>,
        log_pos: i64,
        txn: Option<Producer>,
        topic_hint: &mut usize,
    ) {
        let entry = self.entry(v, log_pos);
        let g = &mut self.groups[gi];
        match txn {
            None => {
                let slot = match g.topics.get(*topic_hint) {
                    Some(t) if *t.topic == *topic => *topic_hint,
                    _ => g.topic_slot(topic),
                };
                *topic_hint = slot;
                self.apply_plain(gi, slot, partition, entry, v.expire_timestamp);
            }
            Some(producer) => {
                let txn = match g.pending.iter().position(|t| t.producer.id == producer.id) {
                    Some(i) => &mut g.pending[i],
                    None => {
                        g.pending.push(PendingTxn {
                            producer,
                            offsets: HashMap::new(),
                        });
                        g.pending.last_mut().expect("just pushed")
                    }
                };
                txn.producer = producer;
                let table = match txn.offsets.get_mut(topic) {
                    Some(t) => t,
                    None => txn.offsets.entry(Topic::from(topic)).or_default(),
                };
                if let Some((old, _)) = table.insert(partition, (entry, v.expire_timestamp)) {
                    self.strings.release(old.meta);
                }
                let gid = g.id.clone();
                self.txn_groups.entry(producer.id).or_default().insert(gid);
            }
        }
    }

    /// Stores a committed entry in topic table `slot` of group `gi`.
    #[inline]
    fn apply_plain(
        &mut self,
        gi: usize,
        slot: usize,
        partition: i32,
        entry: Entry,
        expire: Option<i64>,
    ) {
        if let Some(old) = self.groups[gi].put(slot, partition, entry, expire) {
            self.strings.release(old.meta);
        }
    }

    /// Applies an offset tombstone: the committed offset and any pending ones go.
    fn apply_tombstone(&mut self, gi: usize, topic: &str, partition: i32) -> bool {
        let g = &mut self.groups[gi];
        let old = g.remove(topic, partition);
        if let Some(old) = old {
            self.strings.release(old.meta);
        }
        let mut ended = Vec::new();
        for t in &mut g.pending {
            if let Some(e) = t.remove(topic, partition) {
                self.strings.release(e.meta);
                if t.offsets.is_empty() {
                    ended.push(t.producer.id);
                }
            }
        }
        for pid in ended {
            g.pending.retain(|t| t.producer.id != pid);
            if let Some(set) = self.txn_groups.get_mut(&pid) {
                set.remove(&g.id);
                if set.is_empty() {
                    self.txn_groups.remove(&pid);
                }
            }
        }
        old.is_some()
    }

    fn apply_metadata(&mut self, gi: usize, value: Option<GroupMetadataValue>) {
        self.groups[gi].metadata = value.map(Box::new);
    }

    /// Notes that `producer` wrote to the partition.
    fn see_producer(&mut self, producer: Producer) {
        let epoch = self
            .producer_epochs
            .entry(producer.id)
            .or_insert(producer.epoch);
        *epoch = (*epoch).max(producer.epoch);
    }

    /// Whether `producer` is older than an epoch of its id already seen.
    fn is_fenced(&self, producer: Producer) -> bool {
        self.producer_epochs
            .get(&producer.id)
            .is_some_and(|e| *e > producer.epoch)
    }

    /// Applies `producer`'s transaction marker to every group with pending offsets of its id.
    fn apply_marker(&mut self, producer: Producer, outcome: TxnOutcome) {
        self.see_producer(producer);
        let producer_id = producer.id;
        let Some(groups) = self.txn_groups.remove(&producer_id) else {
            return;
        };
        for gid in groups {
            let Some(gi) = self.group(&gid) else { continue };
            let g = &mut self.groups[gi];
            let Some(pos) = g.pending.iter().position(|t| t.producer.id == producer_id) else {
                continue;
            };
            let txn = g.pending.swap_remove(pos);
            for (topic, table) in txn.offsets {
                for (partition, (entry, expire)) in table {
                    let newer = outcome == TxnOutcome::Commit
                        && g.topic(&topic)
                            .and_then(|t| t.get(partition))
                            .is_none_or(|cur| cur.log_pos < entry.log_pos);
                    if newer {
                        let slot = g.topic_slot(&topic);
                        if let Some(old) = g.put(slot, partition, entry, expire) {
                            self.strings.release(old.meta);
                        }
                    } else {
                        self.strings.release(entry.meta);
                    }
                }
            }
            self.drop_if_empty(gi);
        }
    }

    fn committed(&self, e: &Entry, expire: Option<i64>) -> CommittedOffset {
        CommittedOffset {
            offset: Offset(e.offset),
            leader_epoch: (e.leader_epoch >= 0).then_some(e.leader_epoch),
            metadata: self.strings.get(e.meta).clone(),
            commit_timestamp: Timestamp(u64::try_from(e.commit_ts).unwrap_or(0)),
            expire_timestamp: expire.map(|t| Timestamp(u64::try_from(t).unwrap_or(0))),
        }
    }

    fn snapshot(&self) -> StateSnapshot {
        let entry = |e: &Entry, exp| SnapshotEntry {
            committed: self.committed(e, exp),
            log_position: e.log_pos,
        };
        let mut out = StateSnapshot::default();
        for g in &self.groups {
            let mut gs = GroupSnapshot {
                metadata: g.metadata.as_deref().cloned(),
                ..GroupSnapshot::default()
            };
            for t in &g.topics {
                for (p, e) in t.entries() {
                    gs.offsets
                        .insert((t.topic.to_string(), p), entry(&e, t.expire(p)));
                }
            }
            for txn in &g.pending {
                let m = gs.pending.entry(txn.producer.id).or_default();
                for (topic, table) in &txn.offsets {
                    for (&p, (e, exp)) in table {
                        m.insert((topic.to_string(), p), entry(e, *exp));
                    }
                }
            }
            out.groups.insert(g.id.to_string(), gs);
        }
        out
    }
}

/// The default [`OffsetStore`]: every change is a record appended to the group's partition of
/// a [`Log`] (the crate's `__consumer_offsets`), then applied to an in-memory index that
/// serves reads.
///
/// * **Partitioning.** A group's records go to partition
///   [`partition_for(group, partitions)`](crate::log::partition_for), Kafka's rule, so one
///   coordinator shard owns all of a group. Each partition's index sits behind its own
///   `parking_lot::RwLock`: groups in different partitions commit in parallel, and fetches
///   share a read lock.
/// * **Persist, then apply.** A batch is validated, encoded into one buffer, appended in one
///   call, and applied only if the append succeeded, all under the partition's write lock:
///   readers see all of a batch or none of it.
/// * **Replay.** [`load`](Self::load) rebuilds one partition's index from its records: how a
///   new coordinator takes over a failed one. Live changes and replay run through the same
///   code, so the state a replay rebuilds is exactly the state that wrote the log, also after
///   [`Log::compact`].
/// * **Memory.** An offset costs a 32-byte entry in a per-(group, topic) table indexed by
///   partition; group and topic names are `Arc<str>`s shared by every entry, and equal
///   metadata strings are interned per partition.
/// * **Retention** (KIP-211), in [`expire_offsets`](OffsetStore::expire_offsets), following
///   Kafka: a commit that carried a retention time expires at that time (unless its topic is
///   subscribed by a member of the group); otherwise, for a group whose last
///   stored metadata has no members, offsets expire `retention_ms` after the group became
///   empty (the metadata's `current_state_timestamp`); for a group with no metadata (one that
///   never had members, such as a standalone consumer), each offset expires `retention_ms`
///   after its commit; for a consumer group with members, only offsets of topics no member
///   subscribes to expire, `retention_ms` after their commit. Partitions with a pending
///   transactional commit never expire. An empty group left with no offsets has its metadata
///   deleted too.
/// * **Transactions.** Offsets committed under a producer stay pending, invisible to
///   fetches, until [`write_txn_marker`](OffsetStore::write_txn_marker): a commit makes each
///   one visible unless a later log position already replaced it; an abort drops them.
///   Deleting an offset also drops pending commits for it.
pub struct LogOffsetStore {
    log: Arc<dyn Log>,
    config: OffsetStoreConfig,
    shards: Box<[RwLock<Shard>]>,
}

impl std::fmt::Debug for LogOffsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogOffsetStore")
            .field("partitions", &self.shards.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn clamp_ts(t: Timestamp) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

fn check_group(group: &GroupId) -> Result<(), Error> {
    if group.is_empty() {
        return Err(Error::EmptyId("group id"));
    }
    if group.len() > MAX_STRING {
        return Err(Error::IdTooLong {
            what: "group id",
            len: group.len(),
        });
    }
    Ok(())
}

/// The topics a consumer group's members subscribe to, or `None` when they cannot all be
/// read (another protocol type, or subscription bytes that do not decode).
fn subscribed_topics(meta: &GroupMetadataValue) -> Option<HashSet<String>> {
    if meta.protocol_type != CONSUMER_PROTOCOL_TYPE {
        return None;
    }
    let mut topics = HashSet::new();
    for m in &meta.members {
        let (_, sub) = Subscription::decode(&m.subscription).ok()?;
        topics.extend(sub.topics);
    }
    Some(topics)
}

impl LogOffsetStore {
    /// A store over `log` with the default [`OffsetStoreConfig`]. Its index starts empty: call
    /// [`load`](Self::load) for each partition that already holds records.
    #[must_use]
    pub fn new(log: Arc<dyn Log>) -> Self {
        Self::with_config(log, OffsetStoreConfig::default())
    }

    /// A store over `log` with `config`.
    #[must_use]
    pub fn with_config(log: Arc<dyn Log>, config: OffsetStoreConfig) -> Self {
        let shards = (0..log.partition_count())
            .map(|_| RwLock::new(Shard::default()))
            .collect();
        LogOffsetStore {
            log,
            config,
            shards,
        }
    }

    /// The store's settings.
    #[must_use]
    pub fn config(&self) -> OffsetStoreConfig {
        self.config
    }

    /// The log the store writes to.
    #[must_use]
    pub fn log(&self) -> &Arc<dyn Log> {
        &self.log
    }

    fn shard(&self, partition: u32) -> Result<&RwLock<Shard>, Error> {
        self.shards
            .get(partition as usize)
            .ok_or(Error::UnknownLogPartition {
                partition,
                partitions: self.shards.len() as u32,
            })
    }

    fn shard_of(&self, group: &str) -> (u32, &RwLock<Shard>) {
        let p = crate::log::partition_for(group, self.shards.len() as u32);
        (p, &self.shards[p as usize])
    }

    /// Replays log partition `partition` from its log-start offset and replaces that
    /// partition's index with what the records say: every group, committed offset, pending
    /// transactional offset and metadata record. If a record cannot be decoded the index is
    /// left as it was and [`Error::CorruptLog`] names the record.
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`]; [`Error::CorruptLog`].
    pub fn load(&self, partition: u32) -> Result<LoadStats, Error> {
        let lock = self.shard(partition)?;
        let mut guard = lock.write();
        let mut fresh = Shard::default();
        let mut failure: Option<(i64, String)> = None;
        let mut records = 0usize;
        let mut group_hint = usize::MAX;
        let mut topic_hint = usize::MAX;
        let start = self.log.start_offset(partition)?;
        self.log.read(
            partition,
            start,
            ReadLimit::unlimited(),
            &mut |r: RecordView<'_>| {
                if failure.is_some() {
                    return;
                }
                records += 1;
                if let Err(reason) = replay_record(&mut fresh, &r, &mut group_hint, &mut topic_hint)
                {
                    failure = Some((r.offset, reason));
                }
            },
        )?;
        if let Some((offset, reason)) = failure {
            return Err(Error::CorruptLog {
                partition,
                offset,
                reason,
            });
        }
        let stats = LoadStats {
            records,
            groups: fresh.groups.len(),
            offsets: fresh.groups.iter().map(|g| g.offsets).sum(),
            pending: fresh
                .groups
                .iter()
                .flat_map(|g| &g.pending)
                .map(PendingTxn::len)
                .sum(),
        };
        fresh.log_records = records as u64;
        *guard = fresh;
        Ok(stats)
    }

    /// Replays every partition, as a coordinator that owns them all does at start.
    ///
    /// # Errors
    /// As [`load`](Self::load); partitions before the failing one stay loaded.
    pub fn load_all(&self) -> Result<LoadStats, Error> {
        let mut total = LoadStats::default();
        for p in 0..self.shards.len() as u32 {
            let s = self.load(p)?;
            total.records += s.records;
            total.groups += s.groups;
            total.offsets += s.offsets;
            total.pending += s.pending;
        }
        Ok(total)
    }

    /// Forgets partition `partition`'s index (its records stay in the log), as a coordinator
    /// does when another takes the partition over.
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`].
    pub fn unload(&self, partition: u32) -> Result<(), Error> {
        *self.shard(partition)?.write() = Shard::default();
        Ok(())
    }

    /// A sorted copy of everything partition `partition`'s index holds.
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`].
    pub fn snapshot(&self, partition: u32) -> Result<StateSnapshot, Error> {
        Ok(self.shard(partition)?.read().snapshot())
    }

    /// What the index holds and the heap bytes its tables take.
    #[must_use]
    pub fn memory_usage(&self) -> MemoryUsage {
        let mut u = MemoryUsage::default();
        for s in &*self.shards {
            let s = s.read();
            u.groups += s.groups.len();
            u.offsets += s.groups.iter().map(|g| g.offsets).sum::<usize>();
            u.table_bytes += s.groups.capacity() * size_of::<GroupState>()
                + s.index.capacity() * (size_of::<(GroupId, u32)>() + 1)
                + s.groups.iter().map(GroupState::heap_bytes).sum::<usize>()
                + s.strings.heap_bytes()
                + s.txn_groups.capacity() * 48;
        }
        u
    }

    /// Number of distinct non-empty metadata strings held (they are interned).
    #[must_use]
    pub fn interned_metadata(&self) -> usize {
        self.shards.iter().map(|s| s.read().strings.live()).sum()
    }

    fn check_commit(&self, c: &OffsetCommit) -> ErrorCode {
        let topic = &c.partition.topic;
        if c.partition.partition < 0 {
            ErrorCode::UnknownTopicOrPartition
        } else if topic.is_empty() || topic.len() > MAX_STRING {
            ErrorCode::InvalidTopicException
        } else if c.metadata.len() > self.config.max_metadata_bytes || c.metadata.len() > MAX_STRING
        {
            ErrorCode::OffsetMetadataTooLarge
        } else {
            ErrorCode::None
        }
    }

    /// Appends tombstones for `targets` (and for the group's metadata if `metadata`) of group
    /// `gi`, then applies them. Returns how many committed offsets went.
    fn write_tombstones(
        &self,
        partition: u32,
        shard: &mut Shard,
        gi: usize,
        targets: &[(Topic, i32)],
        metadata: bool,
        now: Timestamp,
    ) -> Result<usize, Error> {
        let group = shard.groups[gi].id.clone();
        shard.scratch.clear();
        let mut ends = Vec::with_capacity(targets.len() + 1);
        for (topic, partition) in targets {
            OffsetsKeyRef::OffsetCommit {
                group: &group,
                topic,
                partition: *partition,
            }
            .encode_into(&mut shard.scratch)?;
            ends.push(shard.scratch.len());
        }
        if metadata {
            OffsetsKeyRef::GroupMetadata { group: &group }.encode_into(&mut shard.scratch)?;
            ends.push(shard.scratch.len());
        }
        if ends.is_empty() {
            return Ok(0);
        }
        let mut from = 0;
        let records: Vec<Record<'_>> = ends
            .iter()
            .map(|&end| {
                let r = Record::new(Some(&shard.scratch[from..end]), None, now);
                from = end;
                r
            })
            .collect();
        self.log.append(partition, &records)?;
        shard.log_records += records.len() as u64;
        drop(records);
        let mut removed = 0;
        for (topic, p) in targets {
            removed += usize::from(shard.apply_tombstone(gi, topic, *p));
        }
        if metadata {
            shard.apply_metadata(gi, None);
        }
        shard.drop_if_empty(gi);
        Ok(removed)
    }

    /// The partitions of group `g` whose offsets have expired at `now`.
    fn expired(&self, g: &GroupState, now: i64) -> Vec<(Topic, i32)> {
        let retention = i64::try_from(self.config.retention_ms).unwrap_or(i64::MAX);
        // The time each offset's retention counts from; `None` for "its commit time".
        let (since, keep): (Option<Option<i64>>, Option<HashSet<String>>) = match &g.metadata {
            None => (Some(None), None),
            Some(m) if m.members.is_empty() => (Some(m.current_state_timestamp), None),
            Some(m) => match subscribed_topics(m) {
                Some(topics) => (Some(None), Some(topics)),
                None => (None, None),
            },
        };
        let mut out = Vec::new();
        let mut topics: Vec<&TopicOffsets> = g.topics.iter().collect();
        topics.sort_unstable_by(|a, b| a.topic.cmp(&b.topic));
        for t in topics {
            if keep.as_ref().is_some_and(|k| k.contains(&*t.topic)) {
                continue;
            }
            for (p, e) in t.entries() {
                if g.has_pending(&t.topic, p) {
                    continue;
                }
                let gone = match (t.expire(p), since) {
                    (Some(at), _) => now >= at,
                    (None, Some(base)) => {
                        now.saturating_sub(base.unwrap_or(e.commit_ts)) >= retention
                    }
                    (None, None) => false,
                };
                if gone {
                    out.push((t.topic.clone(), p));
                }
            }
        }
        out
    }
}

/// The record value of a commit, normalised as Kafka's records store it: no negative leader
/// epoch, and no epoch at all beside an expire timestamp.
fn commit_value(c: &OffsetCommit, commit_ts: i64, expire: Option<i64>) -> OffsetCommitValueRef<'_> {
    OffsetCommitValueRef {
        offset: c.offset.0,
        leader_epoch: c.leader_epoch.filter(|&e| e >= 0 && expire.is_none()),
        metadata: &c.metadata,
        commit_timestamp: commit_ts,
        expire_timestamp: expire,
    }
}

/// Applies a plain version-3 offset commit, the bulk of any offsets log, without decoding
/// strings it has already seen: a group or topic whose bytes equal the last one's is that one.
/// Returns `false`, having changed nothing, for any other record, which then takes the full
/// path.
#[inline]
fn replay_fast(
    shard: &mut Shard,
    r: &RecordView<'_>,
    group_hint: &mut usize,
    topic_hint: &mut usize,
) -> bool {
    let (Some(key), Some(value)) = (r.key, r.value) else {
        return false;
    };
    let (Some(k), Some((offset, epoch, metadata, commit_ts))) =
        (raw_commit_key(key), raw_commit_value_v3(value))
    else {
        return false;
    };
    let Ok(metadata) = std::str::from_utf8(metadata) else {
        return false;
    };
    if k.partition < 0 {
        return false;
    }
    let gi = match shard.groups.get(*group_hint) {
        Some(g) if g.id.as_bytes() == k.group => *group_hint,
        _ => {
            let Ok(name) = std::str::from_utf8(k.group) else {
                return false;
            };
            let gi = shard.group_or_insert(name, None);
            *group_hint = gi;
            *topic_hint = usize::MAX;
            gi
        }
    };
    let slot = match shard.groups[gi].topics.get(*topic_hint) {
        Some(t) if t.topic.as_bytes() == k.topic => *topic_hint,
        _ => {
            let Ok(topic) = std::str::from_utf8(k.topic) else {
                return false;
            };
            let slot = shard.groups[gi].topic_slot(topic);
            *topic_hint = slot;
            slot
        }
    };
    let entry = Entry {
        offset,
        commit_ts,
        log_pos: r.offset,
        leader_epoch: epoch.max(-1),
        meta: shard.strings.intern(metadata),
    };
    shard.apply_plain(gi, slot, k.partition, entry, None);
    true
}

/// Applies one replayed record to `shard`.
fn replay_record(
    shard: &mut Shard,
    r: &RecordView<'_>,
    group_hint: &mut usize,
    topic_hint: &mut usize,
) -> Result<(), String> {
    if let Transaction::Marker(producer, outcome) = r.txn {
        shard.apply_marker(producer, outcome);
        return Ok(());
    }
    if r.txn == Transaction::None && replay_fast(shard, r, group_hint, topic_hint) {
        return Ok(());
    }
    let key = r.key.ok_or("record without a key")?;
    let key = OffsetsKeyRef::decode(key).map_err(|e| e.to_string())?;
    let producer = match r.txn {
        Transaction::Data(p) => Some(p),
        _ => None,
    };
    if let Some(p) = producer {
        shard.see_producer(p);
    }
    match (key, r.value) {
        (
            OffsetsKeyRef::OffsetCommit {
                group,
                topic,
                partition,
            },
            Some(value),
        ) => {
            if partition < 0 {
                return Err(format!("negative partition {partition}"));
            }
            let v = OffsetCommitValueRef::decode(value).map_err(|e| e.to_string())?;
            let gi = shard.group_or_insert(group, Some(*group_hint));
            if gi != *group_hint {
                *group_hint = gi;
                *topic_hint = usize::MAX;
            }
            shard.apply_commit(gi, (topic, partition), &v, r.offset, producer, topic_hint);
        }
        (
            OffsetsKeyRef::OffsetCommit {
                group,
                topic,
                partition,
            },
            None,
        ) => {
            if let Some(gi) = shard.group(group) {
                shard.apply_tombstone(gi, topic, partition);
                shard.drop_if_empty(gi);
            }
        }
        (OffsetsKeyRef::GroupMetadata { group }, Some(value)) => {
            let v = GroupMetadataValue::decode(value).map_err(|e| e.to_string())?;
            let gi = shard.group_or_insert(group, None);
            shard.apply_metadata(gi, Some(v));
        }
        (OffsetsKeyRef::GroupMetadata { group }, None) => {
            if let Some(gi) = shard.group(group) {
                shard.apply_metadata(gi, None);
                shard.drop_if_empty(gi);
            }
        }
    }
    Ok(())
}

impl OffsetStore for LogOffsetStore {
    fn partition_count(&self) -> u32 {
        self.shards.len() as u32
    }

    fn partition_of(&self, group: &GroupId) -> u32 {
        crate::log::partition_for(group, self.shards.len() as u32)
    }

    fn commit_with(
        &self,
        group: &GroupId,
        commits: &[OffsetCommit],
        options: CommitOptions,
        now: Timestamp,
    ) -> Result<Vec<ErrorCode>, Error> {
        check_group(group)?;
        let (partition, lock) = self.shard_of(group);
        let mut guard = lock.write();
        let shard = &mut *guard;
        let mut codes = vec![ErrorCode::None; commits.len()];
        if let Some(producer) = options.producer {
            if shard.is_fenced(producer) {
                codes.fill(ErrorCode::ProducerFenced);
                return Ok(codes);
            }
        }
        let commit_ts = clamp_ts(now);
        let expire = options
            .retention_ms
            .map(|r| commit_ts.saturating_add(i64::try_from(r).unwrap_or(i64::MAX)));
        let value_of = |c| commit_value(c, commit_ts, expire);
        shard.scratch.clear();
        shard.spans.clear();
        for (i, c) in commits.iter().enumerate() {
            let code = self.check_commit(c);
            if code != ErrorCode::None {
                codes[i] = code;
                continue;
            }
            let key = shard.scratch.len();
            OffsetsKeyRef::OffsetCommit {
                group,
                topic: &c.partition.topic,
                partition: c.partition.partition,
            }
            .encode_into(&mut shard.scratch)?;
            let value = shard.scratch.len();
            value_of(c).encode_into(&mut shard.scratch)?;
            shard.spans.push(Span {
                commit: i,
                key,
                value,
                end: shard.scratch.len(),
            });
        }
        if shard.spans.is_empty() {
            return Ok(codes);
        }
        let txn = options
            .producer
            .map_or(Transaction::None, Transaction::Data);
        let written = {
            let data = &shard.scratch;
            let mut records = recycle(std::mem::take(&mut shard.records));
            records.extend(shard.spans.iter().map(|s| Record {
                key: Some(&data[s.key..s.value]),
                value: Some(&data[s.value..s.end]),
                timestamp: now,
                txn,
            }));
            let written = self.log.append(partition, &records);
            if written.is_ok() {
                shard.log_records += records.len() as u64;
            }
            shard.records = recycle(records);
            written?
        };
        let gi = shard.group_or_insert(group, None);
        let mut topic_hint = usize::MAX;
        let spans = std::mem::take(&mut shard.spans);
        let spans_empty = spans.is_empty();
        for (s, pos) in spans.iter().zip(written) {
            let c = &commits[s.commit];
            shard.apply_commit(
                gi,
                (&c.partition.topic, c.partition.partition),
                &value_of(c),
                pos,
                options.producer,
                &mut topic_hint,
            );
        }
        shard.spans = spans;
        if let Some(p) = options.producer {
            if !spans_empty {
                shard.see_producer(p);
            }
        }
        // Don't let one huge batch pin its buffers.
        if shard.scratch.capacity() > 1 << 24 {
            shard.scratch = Vec::new();
            shard.spans = Vec::new();
            shard.records = Vec::new();
        }
        Ok(codes)
    }

    fn write_txn_marker(
        &self,
        partition: u32,
        producer: Producer,
        outcome: TxnOutcome,
        coordinator_epoch: i32,
        now: Timestamp,
    ) -> Result<(), Error> {
        let lock = self.shard(partition)?;
        let mut shard = lock.write();
        let marker = EndTxnMarker {
            outcome,
            coordinator_epoch,
        };
        let (key, value) = (marker.key_bytes(), marker.value_bytes());
        self.log.append(
            partition,
            &[Record::new(Some(&key), Some(&value), now)
                .in_txn(Transaction::Marker(producer, outcome))],
        )?;
        shard.log_records += 1;
        shard.apply_marker(producer, outcome);
        Ok(())
    }

    fn fetch(
        &self,
        group: &GroupId,
        partitions: &[TopicPartition],
        require_stable: bool,
    ) -> Vec<FetchResult> {
        let (_, lock) = self.shard_of(group);
        let shard = lock.read();
        let Some(gi) = shard.group(group) else {
            return vec![Ok(None); partitions.len()];
        };
        let g = &shard.groups[gi];
        partitions
            .iter()
            .map(|tp| {
                if require_stable && g.has_pending(&tp.topic, tp.partition) {
                    return Err(ErrorCode::UnstableOffsetCommit);
                }
                Ok(g.topic(&tp.topic).and_then(|t| {
                    t.get(tp.partition)
                        .map(|e| shard.committed(e, t.expire(tp.partition)))
                }))
            })
            .collect()
    }

    fn fetch_all(
        &self,
        group: &GroupId,
        require_stable: bool,
    ) -> Vec<(TopicPartition, Result<CommittedOffset, ErrorCode>)> {
        let (_, lock) = self.shard_of(group);
        let shard = lock.read();
        let Some(gi) = shard.group(group) else {
            return Vec::new();
        };
        let g = &shard.groups[gi];
        let mut out: BTreeMap<(Topic, i32), Result<CommittedOffset, ErrorCode>> = BTreeMap::new();
        for t in &g.topics {
            for (p, e) in t.entries() {
                out.insert((t.topic.clone(), p), Ok(shard.committed(&e, t.expire(p))));
            }
        }
        if require_stable {
            for txn in &g.pending {
                for (topic, table) in &txn.offsets {
                    for &p in table.keys() {
                        out.insert((topic.clone(), p), Err(ErrorCode::UnstableOffsetCommit));
                    }
                }
            }
        }
        out.into_iter()
            .map(|((topic, partition), r)| (TopicPartition { topic, partition }, r))
            .collect()
    }

    fn delete_offsets(
        &self,
        group: &GroupId,
        partitions: &[TopicPartition],
        now: Timestamp,
    ) -> Result<usize, Error> {
        let (partition, lock) = self.shard_of(group);
        let mut guard = lock.write();
        let shard = &mut *guard;
        let Some(gi) = shard.group(group) else {
            return Ok(0);
        };
        let g = &shard.groups[gi];
        let mut seen = HashSet::new();
        let targets: Vec<(Topic, i32)> = partitions
            .iter()
            .filter(|tp| {
                g.topic(&tp.topic)
                    .and_then(|t| t.get(tp.partition))
                    .is_some()
                    || g.has_pending(&tp.topic, tp.partition)
            })
            .filter(|tp| seen.insert((tp.topic.clone(), tp.partition)))
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect();
        self.write_tombstones(partition, shard, gi, &targets, false, now)
    }

    fn delete_group(&self, group: &GroupId, now: Timestamp) -> Result<bool, Error> {
        let (partition, lock) = self.shard_of(group);
        let mut guard = lock.write();
        let shard = &mut *guard;
        let Some(gi) = shard.group(group) else {
            return Ok(false);
        };
        let g = &shard.groups[gi];
        let mut targets: Vec<(Topic, i32)> = g
            .topics
            .iter()
            .flat_map(|t| t.entries().into_iter().map(|(p, _)| (t.topic.clone(), p)))
            .collect();
        for txn in &g.pending {
            for (topic, table) in &txn.offsets {
                targets.extend(table.keys().map(|&p| (topic.clone(), p)));
            }
        }
        targets.sort_unstable();
        targets.dedup();
        let metadata = g.metadata.is_some();
        self.write_tombstones(partition, shard, gi, &targets, metadata, now)?;
        Ok(true)
    }

    fn list_groups(&self) -> Vec<GroupId> {
        let mut out: Vec<GroupId> = self
            .shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .groups
                    .iter()
                    .map(|g| g.id.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_unstable();
        out
    }

    fn store_group_metadata(
        &self,
        group: &GroupId,
        mut metadata: GroupMetadataValue,
        now: Timestamp,
    ) -> Result<(), Error> {
        check_group(group)?;
        let mut key = Vec::new();
        OffsetsKeyRef::GroupMetadata { group }.encode_into(&mut key)?;
        let value = metadata.encode()?;
        // Keep what a replay will read back: the one field whose decoding normalises.
        metadata.current_state_timestamp = metadata.current_state_timestamp.filter(|&t| t >= 0);
        let stored = metadata;
        let (partition, lock) = self.shard_of(group);
        let mut shard = lock.write();
        self.log
            .append(partition, &[Record::new(Some(&key), Some(&value), now)])?;
        shard.log_records += 1;
        let gi = shard.group_or_insert(group, None);
        shard.apply_metadata(gi, Some(stored));
        Ok(())
    }

    fn group_metadata(&self, group: &GroupId) -> Option<GroupMetadataValue> {
        let (_, lock) = self.shard_of(group);
        let shard = lock.read();
        let gi = shard.group(group)?;
        shard.groups[gi].metadata.as_deref().cloned()
    }

    fn expire_offsets(&self, now: Timestamp) -> Result<ExpiryStats, Error> {
        let now_ms = clamp_ts(now);
        let mut stats = ExpiryStats::default();
        for (partition, lock) in self.shards.iter().enumerate() {
            let partition = partition as u32;
            let mut guard = lock.write();
            let shard = &mut *guard;
            let mut ids: Vec<GroupId> = shard.groups.iter().map(|g| g.id.clone()).collect();
            ids.sort_unstable();
            for id in ids {
                stats.groups_examined += 1;
                let Some(gi) = shard.group(&id) else { continue };
                let expired = self.expired(&shard.groups[gi], now_ms);
                let g = &shard.groups[gi];
                // Kafka's rule: an empty group with nothing left is dead, its metadata goes.
                let dead = g.metadata.as_ref().is_some_and(|m| m.members.is_empty())
                    && g.offsets == expired.len()
                    && g.pending.is_empty();
                if expired.is_empty() && !dead {
                    continue;
                }
                stats.offsets_expired +=
                    self.write_tombstones(partition, shard, gi, &expired, dead, now)?;
                stats.groups_removed += usize::from(dead);
            }
        }
        Ok(stats)
    }

    fn compact_if_dirty(
        &self,
        partition: u32,
        now: Timestamp,
        min_dirty_percent: u8,
        delete_retention_ms: u64,
    ) -> Result<Option<CompactionStats>, Error> {
        let lock = self.shard(partition)?;
        // Under the shard's lock, so no append of this partition runs beside the cleaning.
        let mut shard = lock.write();
        // Kafka's dirty ratio: what was appended since the last cleaning, over the whole log.
        let appended = shard.log_records.saturating_sub(shard.cleaned);
        if appended == 0
            || appended * 100 < shard.log_records * u64::from(min_dirty_percent.min(100))
        {
            return Ok(None);
        }
        let stats = self.log.compact(partition, now, delete_retention_ms)?;
        let removed = stats.superseded
            + stats.tombstones_removed
            + stats.aborted_removed
            + stats.markers_removed;
        shard.log_records = shard.log_records.saturating_sub(removed as u64);
        shard.cleaned = shard.log_records;
        Ok(Some(stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycling_the_record_list_keeps_its_allocation() {
        let data = [1u8; 4];
        let mut v: Vec<Record<'_>> = Vec::with_capacity(1_000);
        v.push(Record::new(Some(&data), None, Timestamp(0)));
        let cap = v.capacity();
        let r: Vec<Record<'static>> = recycle(v);
        assert!(r.is_empty());
        assert_eq!(r.capacity(), cap);
    }
}
