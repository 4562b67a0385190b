//! The offsets-log replay fuzz target: records for one log partition, loaded by a
//! [`LogOffsetStore`] and compared with a model of the documented replay rules; its input
//! format, structure-aware mutator and seeds.

use std::collections::BTreeMap;
use std::sync::Arc;

use consumer_groups::log::codec::{GroupMetadataValue, OffsetCommitValue, OffsetsKey};
use consumer_groups::log::{Log, MemoryLog, Producer, ReadLimit, Record, Transaction, TxnOutcome};
use consumer_groups::offsets::{
    CommitOptions, CommittedOffset, GroupSnapshot, LoadStats, LogOffsetStore, OffsetCommit,
    OffsetStore, SnapshotEntry, StateSnapshot,
};
use consumer_groups::{Error, GroupId, Offset, Timestamp, TopicPartition};

use super::fuzz::{Rng, mutate_once, next_input};
use super::targets::{log_codec_seeds, sample_group_metadata};

/// One record of an offsets-log replay input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The transaction tag.
    pub txn: Transaction,
    /// The timestamp.
    pub timestamp: u64,
    /// The key.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Option<Vec<u8>>,
}

/// An offsets-log replay input: records for one log partition, how many of them are loaded
/// first, and the tombstone retention of the compaction that follows.
///
/// Bytes: `[prefix records] [retention / 100 ms]`, then per record `[tag] [timestamp / 100]
/// [key length: u16, 0xffff for none] [key] [value length: u16, 0xffff for none] [value]`. The
/// tag's low two bits say plain (0), transactional data (1), commit marker (2) or abort marker
/// (3); bits 2–4 are the producer id, bits 5–6 its epoch. A truncated record ends the list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayInput {
    /// Records loaded before the rest are appended.
    pub prefix: usize,
    /// `delete_retention_ms` of the compaction.
    pub retention_ms: u64,
    /// The records, in log order.
    pub records: Vec<LogRecord>,
}

const NONE_LEN: u16 = u16::MAX;

impl ReplayInput {
    /// Parses fuzz bytes (never fails: whatever does not parse is left out).
    pub fn parse(data: &[u8]) -> ReplayInput {
        let mut input = ReplayInput::default();
        let [prefix, retention, rest @ ..] = data else {
            return input;
        };
        input.prefix = usize::from(*prefix);
        input.retention_ms = u64::from(*retention) * 100;
        let mut r = rest;
        fn bytes<'a>(r: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
            let (len, rest) = r.split_first_chunk::<2>()?;
            let len = u16::from_be_bytes(*len);
            if len == NONE_LEN {
                *r = rest;
                return Some(None);
            }
            let (b, rest) = rest.split_at_checked(usize::from(len))?;
            *r = rest;
            Some(Some(b))
        }
        while let [tag, ts, rest @ ..] = r {
            r = rest;
            let producer = Producer {
                id: i64::from((tag >> 2) & 7),
                epoch: i16::from((tag >> 5) & 3),
            };
            let txn = match tag & 3 {
                0 => Transaction::None,
                1 => Transaction::Data(producer),
                2 => Transaction::Marker(producer, TxnOutcome::Commit),
                _ => Transaction::Marker(producer, TxnOutcome::Abort),
            };
            let Some(key) = bytes(&mut r) else { break };
            let Some(value) = bytes(&mut r) else { break };
            input.records.push(LogRecord {
                txn,
                timestamp: u64::from(*ts) * 100,
                key: key.map(<[u8]>::to_vec),
                value: value.map(<[u8]>::to_vec),
            });
            if input.records.len() == 256 {
                break;
            }
        }
        input
    }

    /// The bytes [`parse`](Self::parse) reads back as `self` (timestamps rounded down to 100
    /// ms, producer ids and epochs to their low bits).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![
            self.prefix.min(255) as u8,
            (self.retention_ms / 100).min(255) as u8,
        ];
        for r in &self.records {
            let (kind, p) = match r.txn {
                Transaction::None => (0, Producer { id: 0, epoch: 0 }),
                Transaction::Data(p) => (1, p),
                Transaction::Marker(p, TxnOutcome::Commit) => (2, p),
                Transaction::Marker(p, TxnOutcome::Abort) => (3, p),
            };
            out.push(kind | ((p.id as u8 & 7) << 2) | ((p.epoch as u8 & 3) << 5));
            out.push((r.timestamp / 100).min(255) as u8);
            for field in [&r.key, &r.value] {
                match field {
                    Some(b) => {
                        out.extend_from_slice(&(b.len().min(0xfffe) as u16).to_be_bytes());
                        out.extend_from_slice(&b[..b.len().min(0xfffe)]);
                    }
                    None => out.extend_from_slice(&NONE_LEN.to_be_bytes()),
                }
            }
        }
        out
    }
}

/// What replaying records should give, worked out from the decoders and the store's
/// documented rules, independently of the store's index: the first record that cannot be
/// replayed, or the state.
#[derive(Debug, Default)]
struct Model {
    state: StateSnapshot,
    /// Whether every record is one the store itself writes: keys in the encoder's versions,
    /// and only offset commits inside transactions. Only such logs are held to compaction
    /// changing nothing a replay sees. Others may legitimately differ, as they would under
    /// Kafka's log cleaner: compaction tells keys apart by their bytes, so a version-0 key
    /// outlives a version-1 tombstone of the same partition; and it drops an aborted
    /// transaction's records, while replay applies a tombstone or group metadata at once
    /// whatever its transaction.
    canonical: bool,
}

impl Model {
    fn new() -> Model {
        Model {
            state: StateSnapshot::default(),
            canonical: true,
        }
    }

    /// Applies the record at `offset`; `Err` if the store must refuse it.
    fn apply(&mut self, offset: i64, r: &LogRecord) -> Result<(), ()> {
        if let Transaction::Marker(producer, outcome) = r.txn {
            self.apply_marker(producer.id, outcome);
            return Ok(());
        }
        let key_bytes = r.key.as_deref().ok_or(())?;
        let key = OffsetsKey::decode(key_bytes).map_err(|_| ())?;
        if key.encode().ok().as_deref() != Some(key_bytes) {
            self.canonical = false;
        }
        let producer = match r.txn {
            Transaction::Data(p) => Some(p.id),
            _ => None,
        };
        match (key, &r.value) {
            (
                OffsetsKey::OffsetCommit {
                    group,
                    topic,
                    partition,
                },
                Some(value),
            ) => {
                if partition < 0 {
                    return Err(());
                }
                let v = OffsetCommitValue::decode(value).map_err(|_| ())?;
                let clamp = |t: i64| Timestamp(u64::try_from(t).unwrap_or(0));
                let entry = SnapshotEntry {
                    committed: CommittedOffset {
                        offset: Offset(v.offset),
                        leader_epoch: v.leader_epoch,
                        metadata: Arc::from(v.metadata.as_str()),
                        commit_timestamp: clamp(v.commit_timestamp),
                        expire_timestamp: v.expire_timestamp.map(clamp),
                    },
                    log_position: offset,
                };
                let g = self.state.groups.entry(group).or_default();
                match producer {
                    None => g.offsets.insert((topic, partition), entry),
                    Some(id) => g
                        .pending
                        .entry(id)
                        .or_default()
                        .insert((topic, partition), entry),
                };
            }
            (
                OffsetsKey::OffsetCommit {
                    group,
                    topic,
                    partition,
                },
                None,
            ) => {
                // A tombstone deletes the committed offset and any pending one, at once.
                self.canonical &= producer.is_none();
                if let Some(g) = self.state.groups.get_mut(&group) {
                    let tp = (topic, partition);
                    g.offsets.remove(&tp);
                    for pending in g.pending.values_mut() {
                        pending.remove(&tp);
                    }
                    g.pending.retain(|_, p| !p.is_empty());
                }
                self.drop_if_empty(&group);
            }
            (OffsetsKey::GroupMetadata { group }, Some(value)) => {
                self.canonical &= producer.is_none();
                let v = GroupMetadataValue::decode(value).map_err(|_| ())?;
                self.state.groups.entry(group).or_default().metadata = Some(v);
            }
            (OffsetsKey::GroupMetadata { group }, None) => {
                self.canonical &= producer.is_none();
                if let Some(g) = self.state.groups.get_mut(&group) {
                    g.metadata = None;
                }
                self.drop_if_empty(&group);
            }
        }
        Ok(())
    }

    /// A marker ends the producer's transaction in every group: a commit makes each pending
    /// offset visible unless a later log position already replaced it; an abort drops them.
    fn apply_marker(&mut self, producer: i64, outcome: TxnOutcome) {
        let groups: Vec<String> = self.state.groups.keys().cloned().collect();
        for group in groups {
            let g = self.state.groups.get_mut(&group).unwrap();
            let Some(pending) = g.pending.remove(&producer) else {
                continue;
            };
            if outcome == TxnOutcome::Commit {
                for (tp, e) in pending {
                    let newer = g
                        .offsets
                        .get(&tp)
                        .is_none_or(|cur| cur.log_position < e.log_position);
                    if newer {
                        g.offsets.insert(tp, e);
                    }
                }
            }
            self.drop_if_empty(&group);
        }
    }

    fn drop_if_empty(&mut self, group: &str) {
        let empty = |g: &GroupSnapshot| {
            g.offsets.is_empty() && g.pending.is_empty() && g.metadata.is_none()
        };
        if self.state.groups.get(group).is_some_and(empty) {
            self.state.groups.remove(group);
        }
    }

    /// Replays `records` from log offset 0: the state, or the offset of the first record
    /// the store must refuse.
    fn replay(records: &[LogRecord]) -> (Result<StateSnapshot, i64>, bool) {
        let mut m = Model::new();
        for (i, r) in records.iter().enumerate() {
            if m.apply(i as i64, r).is_err() {
                return (Err(i as i64), m.canonical);
            }
        }
        (Ok(m.state), m.canonical)
    }
}

/// Compares the store's load result with what the model expects.
fn check_load(
    got: Result<LoadStats, Error>,
    expected: &Result<StateSnapshot, i64>,
    store: &LogOffsetStore,
) {
    match (got, expected) {
        (Ok(stats), Ok(state)) => {
            let snapshot = store.snapshot(0).unwrap();
            assert_eq!(&snapshot, state, "the replayed state is not the model's");
            assert_eq!(stats.groups, state.groups.len());
        }
        (
            Err(Error::CorruptLog {
                partition, offset, ..
            }),
            Err(at),
        ) => assert_eq!(
            (partition, offset),
            (0, *at),
            "the wrong record was refused"
        ),
        (got, expected) => panic!("load gave {got:?}, the model {expected:?}"),
    }
}

/// Offsets-log replay: the records go into a one-partition [`MemoryLog`] and a
/// [`LogOffsetStore`] loads them, first the prefix and then all. Each load rebuilds exactly
/// the state a model of the documented rules expects, or refuses the first record that does
/// not decode with [`Error::CorruptLog`] naming it and leaves the index as it was. When the
/// log is one the store could have written, compacting it changes nothing a replay sees.
pub fn offsets_replay(data: &[u8]) -> bool {
    let input = ReplayInput::parse(data);
    let log = Arc::new(MemoryLog::new(1));
    let store = LogOffsetStore::new(log.clone());
    let prefix = input.prefix.min(input.records.len());
    let append = |records: &[LogRecord]| {
        for r in records {
            let record = Record::new(r.key.as_deref(), r.value.as_deref(), Timestamp(r.timestamp))
                .in_txn(r.txn);
            log.append(0, &[record]).expect("a memory log appends");
        }
    };

    append(&input.records[..prefix]);
    let (expected, _) = Model::replay(&input.records[..prefix]);
    check_load(store.load(0), &expected, &store);
    let before = store.snapshot(0).unwrap();

    append(&input.records[prefix..]);
    let (expected, canonical) = Model::replay(&input.records);
    check_load(store.load(0), &expected, &store);
    let Ok(state) = expected else {
        assert_eq!(
            store.snapshot(0).unwrap(),
            before,
            "a failed load changed the index"
        );
        return false;
    };

    // A fresh store reads the same; so does one after compaction, for logs the store writes.
    let now = input.records.iter().map(|r| r.timestamp).max().unwrap_or(0) + 1_000;
    if canonical {
        log.compact(0, Timestamp(now), input.retention_ms)
            .expect("a memory log compacts");
    }
    let successor = LogOffsetStore::new(log.clone());
    successor.load(0).expect("a log that loaded loads again");
    assert_eq!(
        successor.snapshot(0).unwrap(),
        state,
        "a successor (after compaction: {canonical}) replays another state"
    );
    !input.records.is_empty()
}

/// The next [`offsets_replay`] input: mostly a pool entry mutated record by record (a tag, a
/// timestamp, a key's or a value's bytes, records duplicated, dropped or taken from another
/// input), sometimes bytes mutated blindly.
pub fn offsets_replay_mutate(rng: &mut Rng, pool: &[Vec<u8>]) -> Vec<u8> {
    if pool.is_empty() || rng.one_in(5) {
        return next_input(rng, pool, 8192);
    }
    let mut input = ReplayInput::parse(&pool[rng.below(pool.len())]);
    for _ in 0..1 + rng.below(4) {
        let n = input.records.len();
        let i = rng.below(n);
        match rng.below(12) {
            0 => input.prefix = rng.below(n + 2),
            1 => input.retention_ms = rng.below(256) as u64 * 100,
            2 if n > 0 => {
                let producer = Producer {
                    id: rng.below(4) as i64,
                    epoch: rng.below(2) as i16,
                };
                input.records[i].txn = match rng.below(4) {
                    0 => Transaction::None,
                    1 => Transaction::Data(producer),
                    2 => Transaction::Marker(producer, TxnOutcome::Commit),
                    _ => Transaction::Marker(producer, TxnOutcome::Abort),
                };
            }
            3 if n > 0 => input.records[i].timestamp = rng.below(256) as u64 * 100,
            4..=7 if n > 0 => {
                let r = &mut input.records[i];
                let field = if rng.one_in(2) {
                    &mut r.key
                } else {
                    &mut r.value
                };
                match rng.below(8) {
                    0 => *field = None,
                    1 => *field = Some(Vec::new()),
                    _ => {
                        let bytes = field.get_or_insert_with(Vec::new);
                        for _ in 0..1 + rng.below(3) {
                            mutate_once(rng, bytes, &[]);
                        }
                    }
                }
            }
            8 if n > 0 => {
                let r = input.records[i].clone();
                input.records.insert(rng.below(n + 1), r);
            }
            9 if n > 0 => {
                input.records.remove(i);
            }
            10 if n > 0 => {
                let j = rng.below(n);
                input.records.swap(i, j);
            }
            _ => {
                let other = ReplayInput::parse(&pool[rng.below(pool.len())]);
                if !other.records.is_empty() {
                    let mut r = other.records[rng.below(other.records.len())].clone();
                    // Half the time, only the key or the value comes from the other input.
                    if n > 0 && rng.one_in(2) {
                        let mine = input.records[i].clone();
                        if rng.one_in(2) {
                            r.key = mine.key;
                        } else {
                            r.value = mine.value;
                        }
                        input.records[i] = r;
                    } else {
                        input.records.insert(rng.below(n + 1), r);
                    }
                }
            }
        }
    }
    input.records.truncate(64);
    input.to_bytes()
}

/// Seed inputs for [`offsets_replay`]: logs written by a real store (plain and transactional
/// commits, markers, retention times, deletes and group metadata), and one of hand-made
/// records in every version the decoders read.
pub fn offsets_replay_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    type Script = fn(&LogOffsetStore);
    let scripts: [(&str, Script); 3] = [
        ("plain", script_plain),
        ("transactions", script_transactions),
        ("retention-and-deletes", script_retention_and_deletes),
    ];
    for (name, script) in scripts {
        let log = Arc::new(MemoryLog::new(1));
        let store = LogOffsetStore::new(log.clone());
        script(&store);
        let mut records = Vec::new();
        log.read(0, 0, ReadLimit::unlimited(), &mut |r| {
            records.push(LogRecord {
                txn: r.txn,
                timestamp: r.timestamp.0,
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
            });
        })
        .unwrap();
        let input = ReplayInput {
            prefix: records.len() / 2,
            retention_ms: 500,
            records,
        };
        seeds.push((format!("store-{name}"), input.to_bytes()));
    }
    // Records of every decodable version, by hand.
    let codec: BTreeMap<String, Vec<u8>> = log_codec_seeds().into_iter().collect();
    let plain = |key: &str, value: Option<&str>, timestamp: u64| LogRecord {
        txn: Transaction::None,
        timestamp,
        key: Some(codec[key].clone()),
        value: value.map(|v| codec[v].clone()),
    };
    let input = ReplayInput {
        prefix: 3,
        retention_ms: 0,
        records: vec![
            plain("key-commit-v0", Some("value-commit-v0"), 100),
            plain("key-commit-v1", Some("value-commit-v2"), 200),
            plain("key-commit-v1", Some("value-commit-v1"), 300),
            plain("key-group-v2", Some("value-group-v0"), 400),
            plain("key-group-v2", Some("value-group-v1"), 500),
            plain("key-group-v2", Some("value-group-v2"), 600),
            plain("key-commit-v1", None, 700),
            plain("key-group-v2", Some("value-group-v3-empty"), 800),
            plain("key-commit-v1", Some("value-commit-v3"), 900),
        ],
    };
    seeds.push(("hand-made-versions".into(), input.to_bytes()));
    seeds
}

fn commit(store: &LogOffsetStore, group: &str, items: &[(&str, i32, i64)], now: u64) {
    commit_with(store, group, items, CommitOptions::default(), now);
}

fn commit_with(
    store: &LogOffsetStore,
    group: &str,
    items: &[(&str, i32, i64)],
    options: CommitOptions,
    now: u64,
) {
    let commits: Vec<OffsetCommit> = items
        .iter()
        .map(|&(topic, partition, offset)| {
            let c = OffsetCommit::new(TopicPartition::new(topic, partition), Offset(offset));
            if offset % 2 == 0 {
                c.leader_epoch(3).metadata("m")
            } else {
                c
            }
        })
        .collect();
    store
        .commit_with(&GroupId::from(group), &commits, options, Timestamp(now))
        .unwrap();
}

fn script_plain(store: &LogOffsetStore) {
    commit(
        store,
        "billing",
        &[("orders", 0, 10), ("orders", 1, 11)],
        100,
    );
    commit(store, "billing", &[("payments", 0, 4)], 200);
    commit(store, "audit", &[("orders", 0, 3)], 300);
    store
        .store_group_metadata(
            &GroupId::from("billing"),
            sample_group_metadata(2, 400),
            Timestamp(400),
        )
        .unwrap();
    commit(store, "billing", &[("orders", 0, 12)], 500);
    store
        .delete_offsets(
            &GroupId::from("audit"),
            &[TopicPartition::new("orders", 0)],
            Timestamp(600),
        )
        .unwrap();
}

fn script_transactions(store: &LogOffsetStore) {
    let txn = |id: i64, epoch: i16| CommitOptions {
        retention_ms: None,
        producer: Some(Producer { id, epoch }),
    };
    commit(store, "billing", &[("orders", 0, 1)], 100);
    commit_with(
        store,
        "billing",
        &[("orders", 0, 5), ("orders", 1, 6)],
        txn(1, 0),
        200,
    );
    commit_with(store, "audit", &[("orders", 0, 7)], txn(2, 1), 300);
    commit(store, "billing", &[("orders", 1, 2)], 400);
    store
        .write_txn_marker(
            0,
            Producer { id: 1, epoch: 0 },
            TxnOutcome::Commit,
            0,
            Timestamp(500),
        )
        .unwrap();
    store
        .write_txn_marker(
            0,
            Producer { id: 2, epoch: 1 },
            TxnOutcome::Abort,
            0,
            Timestamp(600),
        )
        .unwrap();
    commit_with(store, "billing", &[("payments", 2, 8)], txn(3, 0), 700);
}

fn script_retention_and_deletes(store: &LogOffsetStore) {
    let retention = CommitOptions {
        retention_ms: Some(1_000),
        producer: None,
    };
    commit_with(
        store,
        "billing",
        &[("orders", 0, 9), ("orders", 2, 4)],
        retention,
        100,
    );
    commit(store, "audit", &[("orders", 0, 3)], 200);
    store
        .store_group_metadata(
            &GroupId::from("audit"),
            sample_group_metadata(0, 200),
            Timestamp(200),
        )
        .unwrap();
    store.expire_offsets(Timestamp(1_500)).unwrap();
    store
        .delete_group(&GroupId::from("audit"), Timestamp(1_600))
        .unwrap();
    commit(store, "audit", &[("orders", 5, 1)], 1_700);
}
