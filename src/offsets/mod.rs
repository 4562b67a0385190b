//! Committed offsets and group metadata: the [`OffsetStore`] trait and its default,
//! [`LogOffsetStore`], which keeps them as records in the offsets log.
//!
//! A committed offset belongs to a (group, topic, partition) and is the offset of the next
//! record the group will read. The store keeps, per group:
//!
//! * the committed offsets, each with the leader epoch and metadata string the client sent,
//!   when it was committed and, for clients that asked for a retention time, when it expires;
//! * offsets committed inside a transaction that has not ended yet (pending until the
//!   transaction's commit marker makes them visible, or its abort marker drops them);
//! * the group's metadata record (generation, protocol, leader, members), as the group
//!   coordinator stores it after each rebalance and when the group empties.
//!
//! Missing offsets are not errors: a fetch answers `None`. Offsets may be any `i64`, including
//! the negative sentinels real clients commit (kafkajs commits -2).
//!
//! ```
//! use std::sync::Arc;
//! use consumer_groups::log::MemoryLog;
//! use consumer_groups::offsets::{LogOffsetStore, OffsetCommit, OffsetStore};
//! use consumer_groups::{ErrorCode, GroupId, Offset, Timestamp, TopicPartition};
//!
//! let log = Arc::new(MemoryLog::new(50));
//! let store = LogOffsetStore::new(log.clone());
//! let group = GroupId::from("billing");
//! let tp = TopicPartition::new("orders", 3);
//!
//! let codes = store.commit(&group, &[OffsetCommit::new(tp.clone(), Offset(501))], Timestamp(1_000))?;
//! assert_eq!(codes, [ErrorCode::None]);
//! let fetched = store.fetch(&group, &[tp.clone(), TopicPartition::new("orders", 4)], false);
//! assert_eq!(fetched[0].as_ref().unwrap().as_ref().unwrap().offset, Offset(501));
//! assert_eq!(fetched[1], Ok(None), "never committed: none, not an error");
//!
//! // A new coordinator replays the group's log partition and sees the same offsets.
//! let successor = LogOffsetStore::new(log);
//! successor.load(store.partition_of(&group))?;
//! assert_eq!(successor.fetch(&group, &[tp], false), fetched[..1]);
//! # Ok::<(), consumer_groups::Error>(())
//! ```

mod store;
mod table;

pub use store::{
    GroupSnapshot, LoadStats, LogOffsetStore, MemoryUsage, OffsetStoreConfig, SnapshotEntry,
    StateSnapshot,
};

use std::sync::Arc;

use crate::error::{Error, ErrorCode};
use crate::log::codec::GroupMetadataValue;
use crate::log::{CompactionStats, Producer, TxnOutcome};
use crate::types::{GroupId, Offset, Timestamp, TopicPartition};

/// Kafka's default `offset.metadata.max.bytes`.
pub const DEFAULT_MAX_METADATA_BYTES: usize = 4096;

/// Kafka's default `offsets.retention.minutes`: seven days, in milliseconds.
pub const DEFAULT_RETENTION_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// One offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    /// The partition.
    pub partition: TopicPartition,
    /// The offset: the next one the group will read. Any `i64` is accepted.
    pub offset: Offset,
    /// The leader epoch of the last record consumed, if the client knows it. Negative epochs
    /// are stored as `None`, as Kafka's records store them.
    pub leader_epoch: Option<i32>,
    /// The client's metadata string (`""` when it sent none).
    pub metadata: String,
}

impl OffsetCommit {
    /// A commit of `offset` for `partition`, with no leader epoch and no metadata.
    #[must_use]
    pub fn new(partition: TopicPartition, offset: Offset) -> Self {
        OffsetCommit {
            partition,
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }

    /// Sets the leader epoch.
    #[must_use]
    pub fn leader_epoch(mut self, epoch: i32) -> Self {
        self.leader_epoch = Some(epoch);
        self
    }

    /// Sets the metadata string.
    #[must_use]
    pub fn metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = metadata.into();
        self
    }
}

/// How a batch is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitOptions {
    /// A retention time the client asked for (OffsetCommit versions 2–4): the offsets expire
    /// this many milliseconds after the commit, whatever the group does.
    pub retention_ms: Option<u64>,
    /// Commit inside this producer's transaction (TxnOffsetCommit): the offsets stay pending
    /// until [`OffsetStore::write_txn_marker`] ends the transaction.
    pub producer: Option<Producer>,
}

/// A committed offset as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The offset.
    pub offset: Offset,
    /// The leader epoch committed with it.
    pub leader_epoch: Option<i32>,
    /// The metadata committed with it; equal strings share one allocation.
    pub metadata: Arc<str>,
    /// When it was committed.
    pub commit_timestamp: Timestamp,
    /// When it expires, if the committing client asked for a retention time.
    pub expire_timestamp: Option<Timestamp>,
}

/// The answer for one partition of a fetch: the committed offset, `None` if there is none, or
/// [`ErrorCode::UnstableOffsetCommit`] when stable offsets were asked for and a transaction
/// holds a pending commit for the partition.
pub type FetchResult = Result<Option<CommittedOffset>, ErrorCode>;

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpiryStats {
    /// Groups looked at.
    pub groups_examined: usize,
    /// Offsets expired (a tombstone written for each).
    pub offsets_expired: usize,
    /// Empty groups with no offsets left, whose metadata was deleted (Kafka moves them to Dead).
    pub groups_removed: usize,
}

/// One partition's lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The group's committed offset, if any.
    pub committed: Option<Offset>,
    /// The partition's log-end offset, as given.
    pub log_end: Offset,
    /// `log_end - committed`, at least 0; `None` when nothing (or a negative sentinel) is
    /// committed, since then the lag is unknown.
    pub lag: Option<i64>,
}

/// A group's lag over the partitions asked about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupLag {
    /// Per partition, in the order asked.
    pub partitions: Vec<PartitionLag>,
    /// The sum of the known lags.
    pub total: i64,
    /// Partitions whose lag is unknown.
    pub unknown: usize,
}

/// Where a consumer group's progress lives.
///
/// Every method is keyed by group and takes `&self`: implementations synchronise internally,
/// so one store serves every coordinator shard and reader thread. Writes are atomic per call:
/// a commit, a delete or a metadata store either reaches storage entirely and becomes visible
/// at once, or fails with an [`Error`] and changes nothing.
pub trait OffsetStore: Send + Sync {
    /// Number of offsets-log partitions.
    fn partition_count(&self) -> u32;

    /// The offsets-log partition that holds `group`'s records.
    fn partition_of(&self, group: &GroupId) -> u32;

    /// Commits a batch of offsets for `group` at `now`, returning one code per commit, in
    /// order. A commit that fails validation gets its error code
    /// ([`ErrorCode::OffsetMetadataTooLarge`], [`ErrorCode::UnknownTopicOrPartition`] for a
    /// negative partition, [`ErrorCode::InvalidTopicException`] for an empty or oversized
    /// topic) and the rest of the batch goes through, as in Kafka.
    ///
    /// # Errors
    /// [`Error::EmptyId`] or [`Error::IdTooLong`] for a bad group id; a storage failure, in
    /// which case nothing was committed.
    fn commit_with(
        &self,
        group: &GroupId,
        commits: &[OffsetCommit],
        options: CommitOptions,
        now: Timestamp,
    ) -> Result<Vec<ErrorCode>, Error>;

    /// [`commit_with`](Self::commit_with) with default options: an ordinary commit.
    ///
    /// # Errors
    /// As [`commit_with`](Self::commit_with).
    fn commit(
        &self,
        group: &GroupId,
        commits: &[OffsetCommit],
        now: Timestamp,
    ) -> Result<Vec<ErrorCode>, Error> {
        self.commit_with(group, commits, CommitOptions::default(), now)
    }

    /// Ends `producer`'s transaction in log partition `partition` (Kafka's WriteTxnMarkers):
    /// on [`TxnOutcome::Commit`] its pending offsets, in every group of the partition, become
    /// committed unless a commit later in the log already replaced them; on
    /// [`TxnOutcome::Abort`] they are dropped. `coordinator_epoch` is recorded in the marker.
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`]; a storage failure, which changes nothing.
    fn write_txn_marker(
        &self,
        partition: u32,
        producer: Producer,
        outcome: TxnOutcome,
        coordinator_epoch: i32,
        now: Timestamp,
    ) -> Result<(), Error>;

    /// The committed offsets of `partitions`, in order. With `require_stable`, a partition
    /// with a pending transactional commit answers [`ErrorCode::UnstableOffsetCommit`].
    fn fetch(
        &self,
        group: &GroupId,
        partitions: &[TopicPartition],
        require_stable: bool,
    ) -> Vec<FetchResult>;

    /// Every committed offset of `group`, sorted by topic and partition. With
    /// `require_stable`, partitions with a pending transactional commit are listed with
    /// [`ErrorCode::UnstableOffsetCommit`] (even if nothing is committed for them yet).
    fn fetch_all(
        &self,
        group: &GroupId,
        require_stable: bool,
    ) -> Vec<(TopicPartition, Result<CommittedOffset, ErrorCode>)>;

    /// Deletes the committed (and pending) offsets of `partitions` (Kafka's OffsetDelete) and
    /// returns how many committed offsets there were. Partitions without offsets are ignored.
    ///
    /// # Errors
    /// A storage failure, which changes nothing.
    fn delete_offsets(
        &self,
        group: &GroupId,
        partitions: &[TopicPartition],
        now: Timestamp,
    ) -> Result<usize, Error>;

    /// Deletes every offset and the metadata of `group`; returns whether it existed.
    ///
    /// # Errors
    /// A storage failure, which changes nothing.
    fn delete_group(&self, group: &GroupId, now: Timestamp) -> Result<bool, Error>;

    /// Every group with offsets, pending offsets or metadata, sorted.
    fn list_groups(&self) -> Vec<GroupId>;

    /// Stores `group`'s metadata record, replacing the previous one. The value is taken by
    /// value: the store keeps it.
    ///
    /// # Errors
    /// [`Error::Codec`] for metadata too large for Kafka's format; a storage failure. Either
    /// way the previous metadata stays.
    fn store_group_metadata(
        &self,
        group: &GroupId,
        metadata: GroupMetadataValue,
        now: Timestamp,
    ) -> Result<(), Error>;

    /// `group`'s last stored metadata.
    fn group_metadata(&self, group: &GroupId) -> Option<GroupMetadataValue>;

    /// Expires offsets whose retention has passed at `now` (KIP-211) and writes a tombstone
    /// for each; see [`LogOffsetStore`] for the rules.
    ///
    /// # Errors
    /// A storage failure; groups handled before it keep their expiry.
    fn expire_offsets(&self, now: Timestamp) -> Result<ExpiryStats, Error>;

    /// Compacts the log of offsets-log `partition` if at least `min_dirty_percent` percent of
    /// its records are superseded (Kafka's `min.cleanable.dirty.ratio` as a percentage),
    /// removing tombstones older than `delete_retention_ms`; `None` if it was clean enough.
    /// Replaying the partition afterwards gives the same state. The default does nothing: a
    /// store without a log to compact.
    ///
    /// # Errors
    /// A storage failure; the log is as it was.
    fn compact_if_dirty(
        &self,
        partition: u32,
        now: Timestamp,
        min_dirty_percent: u8,
        delete_retention_ms: u64,
    ) -> Result<Option<CompactionStats>, Error> {
        let _ = (partition, now, min_dirty_percent, delete_retention_ms);
        Ok(None)
    }

    /// `group`'s lag on the partitions of `log_ends`, given their log-end offsets.
    fn lag(&self, group: &GroupId, log_ends: &[(TopicPartition, Offset)]) -> GroupLag {
        let partitions: Vec<TopicPartition> = log_ends.iter().map(|(tp, _)| tp.clone()).collect();
        let fetched = self.fetch(group, &partitions, false);
        let mut out = GroupLag {
            partitions: Vec::with_capacity(log_ends.len()),
            ..GroupLag::default()
        };
        for ((tp, end), got) in log_ends.iter().zip(fetched) {
            let committed = got.ok().flatten().map(|c| c.offset);
            let lag = committed
                .filter(|c| c.0 >= 0)
                .map(|c| end.0.saturating_sub(c.0).max(0));
            match lag {
                Some(l) => out.total = out.total.saturating_add(l),
                None => out.unknown += 1,
            }
            out.partitions.push(PartitionLag {
                partition: tp.clone(),
                committed,
                log_end: *end,
                lag,
            });
        }
        out
    }
}
