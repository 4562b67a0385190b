//! A partitioned, append-only log: where the crate keeps its `__consumer_offsets`, and where
//! examples and front ends keep ordinary topics.
//!
//! A log has partitions `0..n`. Each partition is a sequence of [`Record`]s at increasing
//! offsets: appends get dense offsets from the log-end offset on; compaction may later remove
//! records, leaving gaps, but never renumbers one. The *log-start offset* is the first offset
//! still readable, the *log-end offset* the offset the next append gets.
//!
//! [`Log`] is the seam: the offsets code talks to `dyn Log`, so a durable, file-backed log can
//! replace the in-memory [`MemoryLog`] without touching it.
//!
//! ```
//! use consumer_groups::log::{Log, MemoryLog, ReadLimit, Record};
//! use consumer_groups::Timestamp;
//!
//! let log = MemoryLog::new(3);
//! let written = log.append(1, &[
//!     Record::new(Some(b"k1"), Some(b"v1"), Timestamp(10)),
//!     Record::new(Some(b"k2"), Some(b"v2"), Timestamp(11)),
//! ])?;
//! assert_eq!(written, 0..2);
//! let mut seen = Vec::new();
//! log.read(1, 0, ReadLimit::records(10), &mut |r| seen.push((r.offset, r.value.map(<[u8]>::to_vec))))?;
//! assert_eq!(seen, [(0, Some(b"v1".to_vec())), (1, Some(b"v2".to_vec()))]);
//! assert_eq!(log.end_offset(1)?, 2);
//! # Ok::<(), consumer_groups::Error>(())
//! ```

pub mod codec;
mod memory;

pub use memory::MemoryLog;

use std::ops::Range;

use crate::error::Error;
use crate::types::Timestamp;

/// The default number of partitions of the offsets log (Kafka's
/// `offsets.topic.num.partitions`).
pub const DEFAULT_OFFSETS_PARTITIONS: u32 = 50;

/// A transactional producer: its id and epoch, as a transaction coordinator assigns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Producer {
    /// The producer id.
    pub id: i64,
    /// The producer epoch.
    pub epoch: i16,
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnOutcome {
    /// Its records take effect.
    Commit,
    /// Its records never take effect.
    Abort,
}

/// Whether a record belongs to a transaction.
///
/// A producer's [`Transaction::Data`] records, from its previous marker (or the log start) on,
/// form one transaction, which its next [`Transaction::Marker`] in the same partition ends.
/// Compaction honours this: it never compacts past the first record of a transaction that has
/// not ended, drops the records of aborted transactions, and keeps a marker while records of
/// its transaction remain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transaction {
    /// An ordinary record.
    #[default]
    None,
    /// A record written inside `Producer`'s open transaction.
    Data(Producer),
    /// The control record that ends `Producer`'s open transaction (Kafka's commit or abort
    /// marker; see [`codec::EndTxnMarker`] for its key and value bytes).
    Marker(Producer, TxnOutcome),
}

/// A record to append: an optional key, an optional value (`None` is a tombstone for
/// compaction), a timestamp, and the transaction it belongs to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The key; compaction keeps the latest record per key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` marks the key deleted (a tombstone).
    pub value: Option<&'a [u8]>,
    /// When the record was written, on the host's clock.
    pub timestamp: Timestamp,
    /// The transaction the record belongs to ([`Transaction::None`] for most records).
    pub txn: Transaction,
}

impl<'a> Record<'a> {
    /// An ordinary (non-transactional) record.
    #[must_use]
    pub fn new(key: Option<&'a [u8]>, value: Option<&'a [u8]>, timestamp: Timestamp) -> Self {
        Record {
            key,
            value,
            timestamp,
            txn: Transaction::None,
        }
    }

    /// The same record, tagged with a transaction.
    #[must_use]
    pub fn in_txn(self, txn: Transaction) -> Self {
        Record { txn, ..self }
    }
}

/// A record as read back, borrowed from the log for the duration of a read callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The record's offset.
    pub offset: i64,
    /// The key.
    pub key: Option<&'a [u8]>,
    /// The value (`None` for a tombstone).
    pub value: Option<&'a [u8]>,
    /// The timestamp it was appended with.
    pub timestamp: Timestamp,
    /// The transaction it belongs to.
    pub txn: Transaction,
}

/// How much one read may return. A read always returns at least one record if one is
/// available, even if that record alone exceeds `max_bytes`, so a consumer can make progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimit {
    /// Most records to return.
    pub max_records: usize,
    /// Most bytes of keys and values to return (see the type's note on the first record).
    pub max_bytes: usize,
}

impl ReadLimit {
    /// At most `n` records, no byte limit.
    #[must_use]
    pub const fn records(n: usize) -> Self {
        ReadLimit {
            max_records: n,
            max_bytes: usize::MAX,
        }
    }

    /// At most `n` bytes of keys and values, no record limit.
    #[must_use]
    pub const fn bytes(n: usize) -> Self {
        ReadLimit {
            max_records: usize::MAX,
            max_bytes: n,
        }
    }

    /// Everything from the starting offset to the log end.
    #[must_use]
    pub const fn unlimited() -> Self {
        ReadLimit {
            max_records: usize::MAX,
            max_bytes: usize::MAX,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactionStats {
    /// Records examined.
    pub examined: usize,
    /// Records removed because a later record has the same key.
    pub superseded: usize,
    /// Tombstones removed because they were older than the delete retention.
    pub tombstones_removed: usize,
    /// Records removed because their transaction was aborted.
    pub aborted_removed: usize,
    /// Transaction markers removed because no record of their transaction remained and they
    /// were older than the delete retention.
    pub markers_removed: usize,
}

/// A partitioned append-only log.
///
/// Implementations take `&self` and synchronise internally, so one log can be shared by a
/// coordinator, a replaying successor and readers on other threads.
pub trait Log: Send + Sync {
    /// Number of partitions; valid partitions are `0..partition_count()`.
    fn partition_count(&self) -> u32;

    /// Appends `records` to `partition` atomically and returns the offsets they were given.
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`] for a partition outside the log; a durable log may also
    /// fail with [`Error::Storage`], in which case nothing was appended.
    fn append(&self, partition: u32, records: &[Record<'_>]) -> Result<Range<i64>, Error>;

    /// Calls `visit` for each record of `partition` at or after `from`, in offset order, within
    /// `limit`, and returns the offset after the last record visited (the position to read
    /// from next). Reading at the log-end offset visits nothing.
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`]; [`Error::OffsetOutOfRange`] if `from` is before the
    /// log-start offset or after the log-end offset.
    fn read(
        &self,
        partition: u32,
        from: i64,
        limit: ReadLimit,
        visit: &mut dyn FnMut(RecordView<'_>),
    ) -> Result<i64, Error>;

    /// The first readable offset of `partition`.
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`].
    fn start_offset(&self, partition: u32) -> Result<i64, Error>;

    /// The offset the next append to `partition` will get.
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`].
    fn end_offset(&self, partition: u32) -> Result<i64, Error>;

    /// Removes every record before `new_start` and makes it the log-start offset (which never
    /// moves backwards and never passes the log-end offset).
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`]; [`Error::OffsetOutOfRange`] if `new_start` is past the
    /// log-end offset.
    fn truncate_prefix(&self, partition: u32, new_start: i64) -> Result<(), Error>;

    /// Compacts `partition`: keeps only the latest record of each key (records without a key
    /// are all kept), and drops tombstones whose timestamp is more than `delete_retention_ms`
    /// before `now`. Offsets of the kept records do not change, and replaying the compacted
    /// partition yields the same latest value per key as replaying it before.
    ///
    /// Transactions (see [`Transaction`]): only the prefix before the first record of a
    /// transaction still open is compacted (Kafka's last stable offset); records of aborted
    /// transactions are dropped and never supersede anything; a marker stays while any record
    /// of its transaction does, and afterwards for `delete_retention_ms`, like a tombstone.
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`].
    fn compact(
        &self,
        partition: u32,
        now: Timestamp,
        delete_retention_ms: u64,
    ) -> Result<CompactionStats, Error>;
}

/// The partition of the offsets log that holds `group_id`'s records: Kafka's rule,
/// `abs(java_string_hash(group_id)) % partitions`, with `abs(i32::MIN)` taken as 0.
///
/// Java's `String.hashCode` runs over UTF-16 code units with wrapping `i32` arithmetic
/// (`h = 31 * h + unit`), so the same group lands in the same partition here as on a Kafka
/// broker with the same partition count. Returns 0 when `partitions` is 0.
///
/// ```
/// use consumer_groups::log::partition_for;
///
/// assert_eq!(partition_for("group", 50), 47);       // "group".hashCode() == 98629247
/// assert_eq!(partition_for("polygenelubricants", 50), 0); // hashCode() == i32::MIN
/// ```
#[must_use]
pub fn partition_for(group_id: &str, partitions: u32) -> u32 {
    if partitions == 0 {
        return 0;
    }
    let h = java_string_hash(group_id);
    let abs = if h == i32::MIN { 0 } else { h.unsigned_abs() };
    abs % partitions
}

/// Java's `String.hashCode` of `s`.
#[must_use]
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes worked out by hand from Java's definition `s[0]*31^(n-1) + … + s[n-1]` over UTF-16
    /// code units, reduced to a wrapping i32, and the partition for Kafka's default of 50.
    #[test]
    fn partition_for_matches_javas_string_hash_code() {
        let vectors: &[(&str, i32, u32)] = &[
            ("", 0, 0),
            ("a", 97, 47),
            // g=103 r=114 o=111 u=117 p=112:
            // ((((103*31+114)*31+111)*31+117)*31+112) = 98629247
            ("group", 98_629_247, 47),
            ("GROUP", 68_091_487, 37),
            ("my-group", -1_906_497_762, 12),
            ("consumer-group-1", 147_483_020, 20),
            ("payments-service-v2", 1_873_119_028, 28),
            // The classic string whose hash is Integer.MIN_VALUE: abs is taken as 0.
            ("polygenelubricants", i32::MIN, 0),
            // U+00E9 is one code unit, 233.
            ("é", 233, 33),
            ("grüppe", -1_233_264_812, 12),
            ("日本語", 25_921_943, 43),
            // U+1F600 is the surrogate pair D83D DE00: 55357*31 + 56832 = 1772899.
            ("😀", 1_772_899, 49),
        ];
        for &(id, hash, partition) in vectors {
            assert_eq!(java_string_hash(id), hash, "hash of {id:?}");
            assert_eq!(partition_for(id, 50), partition, "partition of {id:?}");
        }
    }

    #[test]
    fn partition_for_zero_partitions_is_zero() {
        assert_eq!(partition_for("group", 0), 0);
        assert_eq!(partition_for("group", 1), 0);
    }
}
