//! The in-memory log: the embedded default.

use std::mem::size_of;
use std::ops::Range;

use hashbrown::HashMap;
use parking_lot::RwLock;

use super::{
    CompactionStats, Log, Producer, ReadLimit, Record, RecordView, Transaction, TxnOutcome,
};
use crate::error::Error;
use crate::types::Timestamp;

/// Marks an absent key or value in an [`Entry`].
const ABSENT: u32 = u32::MAX;

/// One record's place in its partition: its offset, timestamp, transaction, and where its key
/// and value bytes sit in the partition's byte arena. 48 bytes, no allocation per record.
#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: i64,
    timestamp: u64,
    pos: u64,
    key_len: u32,
    value_len: u32,
    producer_id: i64,
    producer_epoch: i16,
    kind: u8,
}

const KIND_PLAIN: u8 = 0;
const KIND_TXN_DATA: u8 = 1;
const KIND_COMMIT: u8 = 2;
const KIND_ABORT: u8 = 3;

fn split_txn(txn: Transaction) -> (i64, i16, u8) {
    match txn {
        Transaction::None => (-1, -1, KIND_PLAIN),
        Transaction::Data(p) => (p.id, p.epoch, KIND_TXN_DATA),
        Transaction::Marker(p, TxnOutcome::Commit) => (p.id, p.epoch, KIND_COMMIT),
        Transaction::Marker(p, TxnOutcome::Abort) => (p.id, p.epoch, KIND_ABORT),
    }
}

impl Entry {
    fn txn(&self) -> Transaction {
        let p = Producer {
            id: self.producer_id,
            epoch: self.producer_epoch,
        };
        match self.kind {
            KIND_TXN_DATA => Transaction::Data(p),
            KIND_COMMIT => Transaction::Marker(p, TxnOutcome::Commit),
            KIND_ABORT => Transaction::Marker(p, TxnOutcome::Abort),
            _ => Transaction::None,
        }
    }

    fn key<'a>(&self, data: &'a [u8]) -> Option<&'a [u8]> {
        (self.key_len != ABSENT).then(|| {
            let a = self.pos as usize;
            &data[a..a + self.key_len as usize]
        })
    }

    fn value<'a>(&self, data: &'a [u8]) -> Option<&'a [u8]> {
        (self.value_len != ABSENT).then(|| {
            let a = self.pos as usize + self.key_bytes();
            &data[a..a + self.value_len as usize]
        })
    }

    fn key_bytes(&self) -> usize {
        if self.key_len == ABSENT {
            0
        } else {
            self.key_len as usize
        }
    }

    fn value_bytes(&self) -> usize {
        if self.value_len == ABSENT {
            0
        } else {
            self.value_len as usize
        }
    }
}

#[derive(Debug, Default)]
struct Partition {
    start: i64,
    end: i64,
    /// Live records are `entries[head..]`, in offset order.
    entries: Vec<Entry>,
    head: usize,
    data: Vec<u8>,
    /// Bytes of `data` no live entry refers to.
    dead_bytes: usize,
}

impl Partition {
    fn live(&self) -> &[Entry] {
        &self.entries[self.head..]
    }

    /// Drops dead entries and bytes once they are at least half of what is held, moving the
    /// live ones to the front of the same allocations, so later appends reuse memory that is
    /// already mapped instead of faulting in fresh pages.
    fn reclaim(&mut self) {
        if self.head > 0 && self.head * 2 >= self.entries.len() {
            self.entries.drain(..self.head);
            self.head = 0;
        }
        if self.dead_bytes > 0 && self.dead_bytes * 2 >= self.data.len() {
            // Live entries are in offset order and so are their bytes: copying each run
            // forward never overwrites bytes still to be moved.
            let mut to = 0usize;
            for i in self.head..self.entries.len() {
                let e = &mut self.entries[i];
                let from = e.pos as usize;
                let n = e.key_bytes() + e.value_bytes();
                if from != to {
                    self.data.copy_within(from..from + n, to);
                }
                e.pos = to as u64;
                to += n;
            }
            self.data.truncate(to);
            self.dead_bytes = 0;
        }
        // Keep headroom for the appends to come, but give back a large excess.
        const SLACK: usize = 64 << 20;
        if self.data.capacity() > 2 * self.data.len() + SLACK {
            self.data.shrink_to(2 * self.data.len());
        }
        let entries = self.entries.len() * size_of::<Entry>();
        if self.entries.capacity() * size_of::<Entry>() > 2 * entries + SLACK {
            self.entries.shrink_to(2 * self.entries.len());
        }
    }
}

/// A [`Log`] held in memory: per partition, one byte arena for keys and values and one table of
/// 32-byte entries, behind a `parking_lot::RwLock` each, so partitions are written and read
/// independently from many threads.
#[derive(Debug)]
pub struct MemoryLog {
    partitions: Box<[RwLock<Partition>]>,
}

impl MemoryLog {
    /// A log with `partitions` empty partitions.
    #[must_use]
    pub fn new(partitions: u32) -> Self {
        MemoryLog {
            partitions: (0..partitions)
                .map(|_| RwLock::new(Partition::default()))
                .collect(),
        }
    }

    fn partition(&self, partition: u32) -> Result<&RwLock<Partition>, Error> {
        self.partitions
            .get(partition as usize)
            .ok_or(Error::UnknownLogPartition {
                partition,
                partitions: self.partitions.len() as u32,
            })
    }

    /// Number of records currently held in `partition` (after compaction and truncation).
    ///
    /// # Errors
    /// [`Error::UnknownLogPartition`].
    pub fn record_count(&self, partition: u32) -> Result<usize, Error> {
        Ok(self.partition(partition)?.read().live().len())
    }
}

impl Log for MemoryLog {
    fn partition_count(&self) -> u32 {
        self.partitions.len() as u32
    }

    fn append(&self, partition: u32, records: &[Record<'_>]) -> Result<Range<i64>, Error> {
        let lock = self.partition(partition)?;
        for r in records {
            let too_big = |b: Option<&[u8]>| b.is_some_and(|b| b.len() >= ABSENT as usize);
            if too_big(r.key) || too_big(r.value) {
                return Err(Error::RecordTooLarge {
                    partition,
                    limit: ABSENT as usize - 1,
                });
            }
        }
        let mut p = lock.write();
        let first = p.end;
        p.entries.reserve(records.len());
        for r in records {
            let pos = p.data.len() as u64;
            if let Some(k) = r.key {
                p.data.extend_from_slice(k);
            }
            if let Some(v) = r.value {
                p.data.extend_from_slice(v);
            }
            let offset = p.end;
            let (producer_id, producer_epoch, kind) = split_txn(r.txn);
            p.entries.push(Entry {
                offset,
                timestamp: r.timestamp.0,
                pos,
                key_len: r.key.map_or(ABSENT, |k| k.len() as u32),
                value_len: r.value.map_or(ABSENT, |v| v.len() as u32),
                producer_id,
                producer_epoch,
                kind,
            });
            p.end += 1;
        }
        Ok(first..p.end)
    }

    fn read(
        &self,
        partition: u32,
        from: i64,
        limit: ReadLimit,
        visit: &mut dyn FnMut(RecordView<'_>),
    ) -> Result<i64, Error> {
        let p = self.partition(partition)?.read();
        if from < p.start || from > p.end {
            return Err(Error::OffsetOutOfRange {
                partition,
                offset: from,
                start: p.start,
                end: p.end,
            });
        }
        let live = p.live();
        let first = live.partition_point(|e| e.offset < from);
        let mut next = from;
        let mut bytes = 0usize;
        for (count, e) in live[first..].iter().enumerate() {
            let size = e.key_bytes() + e.value_bytes();
            if count >= limit.max_records
                || (count > 0 && bytes.saturating_add(size) > limit.max_bytes)
            {
                return Ok(next);
            }
            visit(RecordView {
                offset: e.offset,
                key: e.key(&p.data),
                value: e.value(&p.data),
                timestamp: Timestamp(e.timestamp),
                txn: e.txn(),
            });
            bytes = bytes.saturating_add(size);
            next = e.offset + 1;
        }
        // Everything up to the end was visited (or compacted away).
        Ok(p.end.max(next))
    }

    fn start_offset(&self, partition: u32) -> Result<i64, Error> {
        Ok(self.partition(partition)?.read().start)
    }

    fn end_offset(&self, partition: u32) -> Result<i64, Error> {
        Ok(self.partition(partition)?.read().end)
    }

    fn truncate_prefix(&self, partition: u32, new_start: i64) -> Result<(), Error> {
        let mut p = self.partition(partition)?.write();
        if new_start > p.end {
            return Err(Error::OffsetOutOfRange {
                partition,
                offset: new_start,
                start: p.start,
                end: p.end,
            });
        }
        if new_start <= p.start {
            return Ok(());
        }
        let drop = p.live().partition_point(|e| e.offset < new_start);
        let freed: usize = p.live()[..drop]
            .iter()
            .map(|e| e.key_bytes() + e.value_bytes())
            .sum();
        p.head += drop;
        p.dead_bytes += freed;
        p.start = new_start;
        p.reclaim();
        Ok(())
    }

    fn compact(
        &self,
        partition: u32,
        now: Timestamp,
        delete_retention_ms: u64,
    ) -> Result<CompactionStats, Error> {
        let mut guard = self.partition(partition)?.write();
        let p = &mut *guard;
        let live = &p.entries[p.head..];
        let txns = Transactions::scan(live);
        let cleanable = txns.stable_prefix;
        let mut latest: HashMap<&[u8], usize> = HashMap::with_capacity(cleanable / 2);
        for (i, e) in live[..cleanable].iter().enumerate() {
            if e.kind == KIND_PLAIN || (e.kind == KIND_TXN_DATA && !txns.aborted(i)) {
                if let Some(k) = e.key(&p.data) {
                    latest.insert(k, i);
                }
            }
        }
        let mut stats = CompactionStats {
            examined: cleanable,
            ..CompactionStats::default()
        };
        let expired = |e: &Entry| now.0.saturating_sub(e.timestamp) > delete_retention_ms;
        // First decide which data records stay, counting survivors per transaction, then
        // which markers stay.
        let mut keep = vec![true; live.len()];
        let mut survivors = vec![0u32; txns.outcomes.len()];
        for (i, e) in live[..cleanable].iter().enumerate() {
            if e.kind == KIND_COMMIT || e.kind == KIND_ABORT {
                continue;
            }
            if e.kind == KIND_TXN_DATA && txns.aborted(i) {
                stats.aborted_removed += 1;
                keep[i] = false;
            } else if let Some(k) = e.key(&p.data) {
                if latest.get(k) != Some(&i) {
                    stats.superseded += 1;
                    keep[i] = false;
                } else if e.value_len == ABSENT && expired(e) {
                    stats.tombstones_removed += 1;
                    keep[i] = false;
                }
            }
            if keep[i] && e.kind == KIND_TXN_DATA {
                survivors[txns.of[i] as usize] += 1;
            }
        }
        for (i, e) in live[..cleanable].iter().enumerate() {
            if (e.kind == KIND_COMMIT || e.kind == KIND_ABORT)
                && survivors[txns.of[i] as usize] == 0
                && expired(e)
            {
                stats.markers_removed += 1;
                keep[i] = false;
            }
        }
        let kept_count = keep.iter().filter(|&&k| k).count();
        let mut kept: Vec<Entry> = Vec::with_capacity(kept_count);
        let mut data: Vec<u8> = Vec::with_capacity(p.data.len() - p.dead_bytes);
        for (i, e) in live.iter().enumerate() {
            if !keep[i] {
                continue;
            }
            let a = e.pos as usize;
            let n = e.key_bytes() + e.value_bytes();
            let mut e = *e;
            e.pos = data.len() as u64;
            data.extend_from_slice(&p.data[a..a + n]);
            kept.push(e);
        }
        drop(latest);
        p.entries = kept;
        p.head = 0;
        p.data = data;
        p.dead_bytes = 0;
        Ok(stats)
    }
}

/// The transactions of a run of entries: which transaction each transactional entry belongs
/// to, how each ended, and how long a prefix holds only ended transactions.
struct Transactions {
    /// For each entry, its transaction's index in `outcomes` (`u32::MAX` for plain records).
    of: Vec<u32>,
    /// Each transaction's outcome; `None` while it is open.
    outcomes: Vec<Option<TxnOutcome>>,
    /// Entries before this index belong only to ended transactions whose markers also lie
    /// before it: the part compaction may touch.
    stable_prefix: usize,
}

impl Transactions {
    fn scan(entries: &[Entry]) -> Transactions {
        let mut of = vec![u32::MAX; entries.len()];
        let mut outcomes = Vec::new();
        // Per transaction: index of its first entry and of its marker.
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut open: HashMap<i64, u32> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let outcome = match e.kind {
                KIND_TXN_DATA => None,
                KIND_COMMIT => Some(TxnOutcome::Commit),
                KIND_ABORT => Some(TxnOutcome::Abort),
                _ => continue,
            };
            let t = *open.entry(e.producer_id).or_insert_with(|| {
                outcomes.push(None);
                spans.push((i, usize::MAX));
                (outcomes.len() - 1) as u32
            });
            of[i] = t;
            if let Some(outcome) = outcome {
                outcomes[t as usize] = Some(outcome);
                spans[t as usize].1 = i;
                open.remove(&e.producer_id);
            }
        }
        // The stable prefix ends at the first entry of any transaction that is still open, or
        // whose marker lies at or past the end of the prefix; shrinking the prefix can make
        // more transactions straddle it, so repeat until nothing changes.
        let mut stable_prefix = entries.len();
        loop {
            let cut = spans
                .iter()
                .filter(|&&(first, marker)| first < stable_prefix && marker >= stable_prefix)
                .map(|&(first, _)| first)
                .min();
            match cut {
                Some(first) => stable_prefix = first,
                None => break,
            }
        }
        Transactions {
            of,
            outcomes,
            stable_prefix,
        }
    }

    fn aborted(&self, i: usize) -> bool {
        self.of[i] != u32::MAX && self.outcomes[self.of[i] as usize] == Some(TxnOutcome::Abort)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(k: &'a str, v: Option<&'a str>, t: u64) -> Record<'a> {
        Record::new(Some(k.as_bytes()), v.map(str::as_bytes), Timestamp(t))
    }

    fn all(log: &MemoryLog, p: u32) -> Vec<(i64, String, Option<String>)> {
        let mut out = Vec::new();
        let start = log.start_offset(p).unwrap();
        log.read(p, start, ReadLimit::unlimited(), &mut |r| {
            out.push((
                r.offset,
                String::from_utf8(r.key.unwrap().to_vec()).unwrap(),
                r.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
            ));
        })
        .unwrap();
        out
    }

    #[test]
    fn appends_get_dense_offsets_per_partition() {
        let log = MemoryLog::new(2);
        assert_eq!(log.append(0, &[rec("a", Some("1"), 0)]).unwrap(), 0..1);
        assert_eq!(
            log.append(0, &[rec("b", Some("2"), 0), rec("c", Some("3"), 0)])
                .unwrap(),
            1..3
        );
        assert_eq!(log.append(1, &[rec("x", Some("9"), 0)]).unwrap(), 0..1);
        assert_eq!(log.append(0, &[]).unwrap(), 3..3);
        assert_eq!(log.end_offset(0).unwrap(), 3);
        assert_eq!(log.start_offset(0).unwrap(), 0);
    }

    #[test]
    fn unknown_partitions_and_bad_offsets_are_errors() {
        let log = MemoryLog::new(1);
        assert!(matches!(
            log.append(1, &[]),
            Err(Error::UnknownLogPartition {
                partition: 1,
                partitions: 1
            })
        ));
        assert!(matches!(
            log.read(0, 1, ReadLimit::unlimited(), &mut |_| {}),
            Err(Error::OffsetOutOfRange { offset: 1, .. })
        ));
        assert!(matches!(
            log.read(0, -1, ReadLimit::unlimited(), &mut |_| {}),
            Err(Error::OffsetOutOfRange { .. })
        ));
        assert!(matches!(
            log.truncate_prefix(0, 5),
            Err(Error::OffsetOutOfRange { .. })
        ));
    }

    #[test]
    fn reads_respect_record_and_byte_limits_but_always_make_progress() {
        let log = MemoryLog::new(1);
        log.append(
            0,
            &[
                rec("k0", Some("vvvv"), 0),
                rec("k1", Some("vvvv"), 0),
                rec("k2", Some("vvvv"), 0),
            ],
        )
        .unwrap();
        let mut n = 0;
        assert_eq!(
            log.read(0, 0, ReadLimit::records(2), &mut |_| n += 1)
                .unwrap(),
            2
        );
        assert_eq!(n, 2);
        let mut n = 0;
        // Each record is 6 bytes; a 1-byte limit still returns the first.
        assert_eq!(
            log.read(0, 1, ReadLimit::bytes(1), &mut |_| n += 1)
                .unwrap(),
            2
        );
        assert_eq!(n, 1);
        let mut n = 0;
        assert_eq!(
            log.read(0, 0, ReadLimit::bytes(12), &mut |_| n += 1)
                .unwrap(),
            2
        );
        assert_eq!(n, 2);
        assert_eq!(
            log.read(0, 3, ReadLimit::unlimited(), &mut |_| panic!())
                .unwrap(),
            3
        );
    }

    #[test]
    fn truncate_prefix_moves_the_start_and_keeps_later_records() {
        let log = MemoryLog::new(1);
        for i in 0..10 {
            log.append(0, &[rec(&format!("k{i}"), Some("v"), 0)])
                .unwrap();
        }
        log.truncate_prefix(0, 7).unwrap();
        assert_eq!(log.start_offset(0).unwrap(), 7);
        let got: Vec<i64> = all(&log, 0).iter().map(|r| r.0).collect();
        assert_eq!(got, [7, 8, 9]);
        log.truncate_prefix(0, 3).unwrap();
        assert_eq!(
            log.start_offset(0).unwrap(),
            7,
            "the start never moves back"
        );
        assert_eq!(log.append(0, &[rec("z", None, 0)]).unwrap(), 10..11);
    }

    #[test]
    fn compaction_keeps_the_latest_per_key_and_preserves_offsets() {
        let log = MemoryLog::new(1);
        log.append(
            0,
            &[
                rec("a", Some("1"), 0),
                rec("b", Some("1"), 0),
                rec("a", Some("2"), 0),
                rec("c", Some("1"), 0),
                rec("b", None, 100),
                Record::new(None, Some(b"unkeyed"), Timestamp(0)),
            ],
        )
        .unwrap();
        let stats = log.compact(0, Timestamp(150), 1_000).unwrap();
        assert_eq!(
            stats,
            CompactionStats {
                examined: 6,
                superseded: 2,
                tombstones_removed: 0,
                ..CompactionStats::default()
            }
        );
        let mut got = Vec::new();
        log.read(0, 0, ReadLimit::unlimited(), &mut |r| {
            got.push((r.offset, r.key.map(<[u8]>::to_vec)))
        })
        .unwrap();
        assert_eq!(
            got,
            [
                (2, Some(b"a".to_vec())),
                (3, Some(b"c".to_vec())),
                (4, Some(b"b".to_vec())),
                (5, None)
            ]
        );
        // Later, the tombstone is past its retention and goes too.
        let stats = log.compact(0, Timestamp(2_000), 1_000).unwrap();
        assert_eq!(stats.tombstones_removed, 1);
        assert_eq!(log.record_count(0).unwrap(), 3);
        assert_eq!(
            log.end_offset(0).unwrap(),
            6,
            "the log end never moves back"
        );
        // Reading from inside a gap starts at the next kept record.
        let mut first = None;
        log.read(0, 4, ReadLimit::records(1), &mut |r| first = Some(r.offset))
            .unwrap();
        assert_eq!(first, Some(5));
    }

    #[test]
    fn concurrent_appends_to_one_partition_lose_nothing() {
        let log = std::sync::Arc::new(MemoryLog::new(2));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..1_000 {
                        let k = format!("{t}-{i}");
                        log.append(0, &[rec(&k, Some("v"), 0)]).unwrap();
                        log.append(1, &[rec(&k, Some("v"), 0)]).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(log.end_offset(0).unwrap(), 4_000);
        let mut keys: Vec<String> = all(&log, 0).into_iter().map(|r| r.1).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 4_000);
    }

    fn txn(id: i64) -> Transaction {
        Transaction::Data(Producer { id, epoch: 0 })
    }

    fn marker(id: i64, outcome: TxnOutcome, t: u64) -> Record<'static> {
        Record::new(Some(b"\0\0\0\x01"), Some(b"\0\0\0\0\0\0"), Timestamp(t))
            .in_txn(Transaction::Marker(Producer { id, epoch: 0 }, outcome))
    }

    fn offsets(log: &MemoryLog) -> Vec<i64> {
        let mut got = Vec::new();
        let start = log.start_offset(0).unwrap();
        log.read(0, start, ReadLimit::unlimited(), &mut |r| {
            got.push(r.offset)
        })
        .unwrap();
        got
    }

    #[test]
    fn reads_return_the_transaction_tag() {
        let log = MemoryLog::new(1);
        log.append(
            0,
            &[
                rec("a", Some("1"), 0).in_txn(txn(7)),
                marker(7, TxnOutcome::Abort, 0),
            ],
        )
        .unwrap();
        let mut tags = Vec::new();
        log.read(0, 0, ReadLimit::unlimited(), &mut |r| tags.push(r.txn))
            .unwrap();
        assert_eq!(
            tags,
            [
                txn(7),
                Transaction::Marker(Producer { id: 7, epoch: 0 }, TxnOutcome::Abort)
            ]
        );
    }

    #[test]
    fn compaction_stops_at_the_first_open_transaction() {
        let log = MemoryLog::new(1);
        log.append(
            0,
            &[
                rec("a", Some("1"), 0),
                rec("a", Some("2"), 0),
                rec("a", Some("3"), 0).in_txn(txn(1)), // open: nothing from here is touched
                rec("a", Some("4"), 0),
                rec("a", Some("5"), 0),
            ],
        )
        .unwrap();
        let stats = log.compact(0, Timestamp(0), 0).unwrap();
        assert_eq!(stats.examined, 2);
        assert_eq!(stats.superseded, 1);
        assert_eq!(offsets(&log), [1, 2, 3, 4]);
    }

    #[test]
    fn a_transaction_ended_after_an_open_one_began_is_not_compacted() {
        let log = MemoryLog::new(1);
        log.append(
            0,
            &[
                rec("a", Some("1"), 0).in_txn(txn(1)),
                rec("b", Some("1"), 0).in_txn(txn(2)), // open
                marker(1, TxnOutcome::Abort, 0),
            ],
        )
        .unwrap();
        // Producer 1's transaction straddles the start of producer 2's open one: its aborted
        // record must stay until the whole prefix is stable.
        let stats = log.compact(0, Timestamp(10), 0).unwrap();
        assert_eq!(stats.examined, 0);
        assert_eq!(offsets(&log), [0, 1, 2]);
        log.append(0, &[marker(2, TxnOutcome::Commit, 5)]).unwrap();
        let stats = log.compact(0, Timestamp(10), 100).unwrap();
        assert_eq!(stats.aborted_removed, 1);
        assert_eq!(
            stats.markers_removed, 0,
            "markers are within their retention"
        );
        assert_eq!(offsets(&log), [1, 2, 3]);
        let stats = log.compact(0, Timestamp(1_000), 100).unwrap();
        // Producer 1's marker has no records left and is past retention; producer 2's
        // marker still guards its committed record.
        assert_eq!(stats.markers_removed, 1);
        assert_eq!(offsets(&log), [1, 3]);
    }

    #[test]
    fn aborted_records_never_supersede_committed_ones() {
        let log = MemoryLog::new(1);
        log.append(
            0,
            &[
                rec("a", Some("1"), 0),
                rec("a", Some("2"), 0).in_txn(txn(1)),
                marker(1, TxnOutcome::Abort, 0),
                rec("b", Some("1"), 0).in_txn(txn(1)),
                rec("b", Some("2"), 0),
                marker(1, TxnOutcome::Commit, 0),
            ],
        )
        .unwrap();
        let stats = log.compact(0, Timestamp(0), 1_000).unwrap();
        assert_eq!(stats.aborted_removed, 1);
        assert_eq!(stats.superseded, 1);
        // "a"=1 survives its aborted overwrite; "b"'s transactional record is superseded by
        // the later plain one, and its marker, now guarding nothing, waits out retention.
        assert_eq!(offsets(&log), [0, 2, 4, 5]);
    }

    #[test]
    fn reclaimed_space_is_reused_and_live_records_keep_their_bytes() {
        let log = MemoryLog::new(1);
        let keys: Vec<String> = (0..10).map(|i| format!("key-{}", "x".repeat(i))).collect();
        let recs: Vec<Record<'_>> = keys.iter().map(|k| rec(k, Some(k.as_str()), 0)).collect();
        log.append(0, &recs).unwrap();
        log.truncate_prefix(0, 7).unwrap();
        let cap = log.partitions[0].read().data.capacity();
        assert_eq!(
            log.partitions[0].read().dead_bytes,
            0,
            "the dead prefix was reclaimed"
        );
        log.append(0, &[rec("z", None, 0)]).unwrap();
        let got = all(&log, 0);
        assert_eq!(
            got,
            [
                (7, keys[7].clone(), Some(keys[7].clone())),
                (8, keys[8].clone(), Some(keys[8].clone())),
                (9, keys[9].clone(), Some(keys[9].clone())),
                (10, "z".to_string(), None),
            ]
        );
        assert_eq!(
            log.partitions[0].read().data.capacity(),
            cap,
            "same allocation"
        );
    }
}
