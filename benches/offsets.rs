//! Cost of the log-backed offset store, `LogOffsetStore` over a `MemoryLog`, on the workloads of
//! the offset store issue (figures in `BENCHMARKS.md`):
//!
//! * `commit/batch/{1,100,10000}`: commits through the log, in batches of 1, 100 and 10,000
//!   offsets. Batches of 1 and 100 use 1,000 groups × 100 partitions of topic `orders`; batches of
//!   10,000 use 100 groups, each committing 100 topics × 100 partitions, so the index holds about
//!   a million offsets either way. Throughput is offsets committed.
//! * `commit-breakdown/*/10000`: the parts of a 10,000-offset commit measured alone: encoding the
//!   records, appending the records the store wrote to a `MemoryLog`, and the whole commit over a
//!   log that drops what it is given (so: validation, encoding and updating the index).
//! * `fetch/{1,100}`: fetching 1 or 100 partitions of one group from a store holding 1,000
//!   groups × 100 partitions. Throughput is partitions fetched.
//! * `replay/10M`: `LogOffsetStore::load` of one log partition holding 10,000,000 commit records
//!   (1,000 groups × 100 partitions, committed 100 times over). Throughput is records read.
//!   `replay/log-read/10M` and `replay/read-decode/10M` are its first parts alone: reading the
//!   records, and reading and decoding them.
//! * `compact/1M`: `Log::compact` of a partition with 1,000,000 commit records over 100,000 keys.
//!   Throughput is records examined.
//!
//! Every batch, group id and partition list is built before timing starts. Before the
//! benchmarks, the index's memory is printed twice, untimed: as `memory_usage()` reports it, and
//! as the allocator counts it.
//!
//! `MemoryLog` keeps every record appended to it, so the commit benchmarks truncate the log,
//! outside the timed region, each time about a million records have been appended.

use std::hint::black_box;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use consumer_groups::log::codec::{OffsetCommitValueRef, OffsetsKeyRef};
use consumer_groups::log::{
    CompactionStats, Log, MemoryLog, ReadLimit, Record, RecordView, Transaction,
};
use consumer_groups::offsets::{LogOffsetStore, OffsetCommit, OffsetStore};
use consumer_groups::{Error, GroupId, Offset, Timestamp, Topic, TopicPartition};
use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

/// Counts the bytes the program holds on the heap (requested sizes; the system allocator's own
/// overhead is not included). It adds one atomic add per allocation and free to every benchmark.
#[global_allocator]
static ALLOC: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Partitions of the offsets log (Kafka's default).
const LOG_PARTITIONS: u32 = 50;

/// Truncate the commit benchmarks' log once this many records have been appended since the last
/// truncation.
const TRUNCATE_EVERY: usize = 1_000_000;

/// The commit timestamp of every commit.
const NOW: Timestamp = Timestamp(1_700_000_000_000);

fn group_ids(n: usize) -> Vec<GroupId> {
    (0..n)
        .map(|g| GroupId::new(format!("group-{g:04}")))
        .collect()
}

fn topic_names(n: usize) -> Vec<Topic> {
    (0..n)
        .map(|t| Topic::new(format!("topic-{t:03}")))
        .collect()
}

/// Every partition `0..partitions` of every topic, topic by topic.
fn partitions_of(topics: &[Topic], partitions: i32) -> Vec<TopicPartition> {
    topics
        .iter()
        .flat_map(|t| (0..partitions).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect()
}

/// A commit workload: batches committed in turn, each by one group. Once every batch has been
/// committed, a round ends and every offset moves on.
struct Workload {
    groups: Vec<GroupId>,
    /// (index into `groups`, commits).
    batches: Vec<(usize, Vec<OffsetCommit>)>,
}

impl Workload {
    /// `groups` groups each committing all of `partitions`, `batch` offsets at a time
    /// (`batch` divides `partitions.len()`). Consecutive batches belong to different groups, so
    /// a round walks through the groups over and over.
    fn new(groups: usize, partitions: &[TopicPartition], batch: usize) -> Workload {
        assert_eq!(partitions.len() % batch, 0);
        let chunks: Vec<&[TopicPartition]> = partitions.chunks(batch).collect();
        let mut batches = Vec::with_capacity(groups * chunks.len());
        for chunk in &chunks {
            for g in 0..groups {
                let commits = chunk
                    .iter()
                    .map(|tp| OffsetCommit::new(tp.clone(), Offset(0)))
                    .collect();
                batches.push((g, commits));
            }
        }
        Workload {
            groups: group_ids(groups),
            batches,
        }
    }

    fn offsets(&self) -> usize {
        self.batches.iter().map(|(_, b)| b.len()).sum()
    }

    /// Sets every offset for round `round`.
    fn set_round(&mut self, round: i64) {
        for (_, batch) in &mut self.batches {
            for (i, c) in batch.iter_mut().enumerate() {
                c.offset = Offset(round * 1_000 + i as i64);
            }
        }
    }

    /// Commits one full round, untimed: how the benchmarks start from a populated index.
    fn commit_round(&self, store: &LogOffsetStore) {
        for (g, batch) in &self.batches {
            store.commit(&self.groups[*g], batch, NOW).expect("commit");
        }
    }
}

/// Cuts every partition of `log` down to nothing (`MemoryLog` then frees the records).
fn truncate_all(log: &dyn Log) {
    for p in 0..log.partition_count() {
        let end = log.end_offset(p).expect("end offset");
        log.truncate_prefix(p, end).expect("truncate");
    }
}

/// Where a commit benchmark is, carried across criterion's calls.
#[derive(Default)]
struct Cursor {
    /// The next batch.
    next: usize,
    /// The round being committed.
    round: i64,
    /// Records appended since the log was last truncated.
    appended: usize,
}

/// Commits `work`'s batches in turn, `iters` of them, and returns the time spent in `commit`
/// alone. Between commits, untimed: after a full round the offsets move on, and, if `truncate`,
/// once [`TRUNCATE_EVERY`] records have been appended the log is truncated.
fn timed_commits(
    store: &LogOffsetStore,
    work: &mut Workload,
    at: &mut Cursor,
    truncate: bool,
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut start = Instant::now();
    for _ in 0..iters {
        let (g, batch) = &work.batches[at.next];
        black_box(
            store
                .commit(&work.groups[*g], black_box(batch), NOW)
                .expect("commit"),
        );
        at.appended += batch.len();
        at.next += 1;
        let wrapped = at.next == work.batches.len();
        let full = truncate && at.appended >= TRUNCATE_EVERY;
        if wrapped || full {
            total += start.elapsed();
            if wrapped {
                at.next = 0;
                at.round += 1;
                work.set_round(at.round);
            }
            if full {
                truncate_all(&**store.log());
                at.appended = 0;
            }
            start = Instant::now();
        }
    }
    total + start.elapsed()
}

fn commit_workloads() -> Vec<(usize, Workload)> {
    let orders = partitions_of(&[Topic::from("orders")], 100);
    let wide = partitions_of(&topic_names(100), 100);
    vec![
        (1, Workload::new(1_000, &orders, 1)),
        (100, Workload::new(1_000, &orders, 100)),
        (10_000, Workload::new(100, &wide, 10_000)),
    ]
}

fn bench_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (batch, mut work) in commit_workloads() {
        let log = Arc::new(MemoryLog::new(LOG_PARTITIONS));
        let store = LogOffsetStore::new(log.clone());
        work.commit_round(&store);
        truncate_all(&*log);
        let mut at = Cursor::default();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("batch", batch), |b| {
            b.iter_custom(|iters| timed_commits(&store, &mut work, &mut at, true, iters));
        });
        assert_eq!(store.memory_usage().offsets, work.offsets());
    }
    group.finish();
}

/// A log that keeps nothing: appends only hand out offsets. A store over it does everything a
/// commit does except storing the records.
struct NullLog {
    ends: Vec<AtomicI64>,
}

impl NullLog {
    fn new(partitions: u32) -> NullLog {
        NullLog {
            ends: (0..partitions).map(|_| AtomicI64::new(0)).collect(),
        }
    }

    fn end(&self, partition: u32) -> Result<&AtomicI64, Error> {
        self.ends
            .get(partition as usize)
            .ok_or(Error::UnknownLogPartition {
                partition,
                partitions: self.ends.len() as u32,
            })
    }
}

impl Log for NullLog {
    fn partition_count(&self) -> u32 {
        self.ends.len() as u32
    }

    fn append(&self, partition: u32, records: &[Record<'_>]) -> Result<Range<i64>, Error> {
        let n = records.len() as i64;
        let first = self.end(partition)?.fetch_add(n, Ordering::Relaxed);
        Ok(first..first + n)
    }

    fn read(
        &self,
        partition: u32,
        _from: i64,
        _limit: ReadLimit,
        _visit: &mut dyn FnMut(RecordView<'_>),
    ) -> Result<i64, Error> {
        Ok(self.end(partition)?.load(Ordering::Relaxed))
    }

    fn start_offset(&self, partition: u32) -> Result<i64, Error> {
        self.end(partition)?;
        Ok(0)
    }

    fn end_offset(&self, partition: u32) -> Result<i64, Error> {
        Ok(self.end(partition)?.load(Ordering::Relaxed))
    }

    fn truncate_prefix(&self, partition: u32, _new_start: i64) -> Result<(), Error> {
        self.end(partition)?;
        Ok(())
    }

    fn compact(
        &self,
        partition: u32,
        _now: Timestamp,
        _delete_retention_ms: u64,
    ) -> Result<CompactionStats, Error> {
        self.end(partition)?;
        Ok(CompactionStats::default())
    }
}

/// Records as read back from a log, owned: key and value bytes in one buffer.
struct OwnedRecords {
    bytes: Vec<u8>,
    /// (key range, value range, timestamp) into `bytes`.
    spans: Vec<(Range<usize>, Range<usize>, Timestamp)>,
}

impl OwnedRecords {
    /// Every record of `partition` of `log`, which holds no tombstones or transactions.
    fn read(log: &dyn Log, partition: u32) -> OwnedRecords {
        let mut out = OwnedRecords {
            bytes: Vec::new(),
            spans: Vec::new(),
        };
        let start = log.start_offset(partition).expect("start offset");
        log.read(partition, start, ReadLimit::unlimited(), &mut |r| {
            assert_eq!(r.txn, Transaction::None);
            let key = r.key.expect("key");
            let value = r.value.expect("value");
            let k = out.bytes.len()..out.bytes.len() + key.len();
            out.bytes.extend_from_slice(key);
            let v = out.bytes.len()..out.bytes.len() + value.len();
            out.bytes.extend_from_slice(value);
            out.spans.push((k, v, r.timestamp));
        })
        .expect("read");
        out
    }

    fn records(&self) -> Vec<Record<'_>> {
        self.spans
            .iter()
            .map(|(k, v, t)| {
                Record::new(
                    Some(&self.bytes[k.clone()]),
                    Some(&self.bytes[v.clone()]),
                    *t,
                )
            })
            .collect()
    }
}

/// Encodes `commits` of `group` as `commit` does: key and value bytes into one buffer, with
/// the spans of each.
fn encode_batch(
    group: &str,
    commits: &[OffsetCommit],
    buf: &mut Vec<u8>,
    spans: &mut Vec<(usize, usize, usize)>,
) {
    buf.clear();
    spans.clear();
    for c in commits {
        let key = buf.len();
        OffsetsKeyRef::OffsetCommit {
            group,
            topic: &c.partition.topic,
            partition: c.partition.partition,
        }
        .encode_into(buf)
        .expect("encode key");
        let value = buf.len();
        OffsetCommitValueRef {
            offset: c.offset.0,
            leader_epoch: c.leader_epoch,
            metadata: &c.metadata,
            commit_timestamp: NOW.0 as i64,
            expire_timestamp: None,
        }
        .encode_into(buf)
        .expect("encode value");
        spans.push((key, value, buf.len()));
    }
}

/// Where the time of a 10,000-offset commit goes: each part on its own, on the same batches as
/// `commit/batch/10000`.
fn bench_commit_breakdown(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit-breakdown");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(10_000));
    let (_, mut work) = commit_workloads().pop().expect("the 10,000 workload");

    // Encoding only, into a reused buffer as the store does.
    let (mut buf, mut spans) = (Vec::new(), Vec::new());
    let mut next = 0usize;
    group.bench_function(BenchmarkId::new("encode", 10_000), |b| {
        b.iter(|| {
            let (g, batch) = &work.batches[next];
            next = (next + 1) % work.batches.len();
            encode_batch(&work.groups[*g], black_box(batch), &mut buf, &mut spans);
            black_box(buf.len());
        });
    });
    drop((buf, spans));

    // The whole commit over a log that keeps nothing: validation, encoding, the index.
    {
        let store = LogOffsetStore::new(Arc::new(NullLog::new(LOG_PARTITIONS)));
        work.commit_round(&store);
        let mut at = Cursor::default();
        group.bench_function(BenchmarkId::new("commit-null-log", 10_000), |b| {
            b.iter_custom(|iters| timed_commits(&store, &mut work, &mut at, false, iters));
        });
    }

    // Appending the records a real commit of each batch wrote, to a `MemoryLog`.
    let written = Arc::new(MemoryLog::new(LOG_PARTITIONS));
    let scratch = LogOffsetStore::new(written.clone());
    let mut batches: Vec<(u32, OwnedRecords)> = Vec::with_capacity(work.batches.len());
    for (g, batch) in &work.batches {
        let group = &work.groups[*g];
        let p = scratch.partition_of(group);
        truncate_all(&*written);
        scratch.commit(group, batch, NOW).expect("commit");
        batches.push((p, OwnedRecords::read(&*written, p)));
    }
    drop((scratch, written));
    let records: Vec<(u32, Vec<Record<'_>>)> =
        batches.iter().map(|(p, r)| (*p, r.records())).collect();
    assert!(records.iter().all(|(_, r)| r.len() == 10_000));
    let log = MemoryLog::new(LOG_PARTITIONS);
    let mut at = Cursor::default();
    group.bench_function(BenchmarkId::new("log-append", 10_000), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut start = Instant::now();
            for _ in 0..iters {
                let (p, recs) = &records[at.next];
                at.next = (at.next + 1) % records.len();
                black_box(log.append(*p, black_box(recs)).expect("append"));
                at.appended += recs.len();
                if at.appended >= TRUNCATE_EVERY {
                    total += start.elapsed();
                    truncate_all(&log);
                    at.appended = 0;
                    start = Instant::now();
                }
            }
            total + start.elapsed()
        });
    });
    group.finish();
}

fn bench_fetch(c: &mut Criterion) {
    let orders = partitions_of(&[Topic::from("orders")], 100);
    let work = Workload::new(1_000, &orders, 100);
    let log = Arc::new(MemoryLog::new(LOG_PARTITIONS));
    let store = LogOffsetStore::new(log.clone());
    work.commit_round(&store);
    truncate_all(&*log);
    let groups = &work.groups;

    let mut group = c.benchmark_group("fetch");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    // Walk through the groups, and for single fetches through the partitions too.
    for n in [1usize, 100] {
        group.throughput(Throughput::Elements(n as u64));
        let mut i = 0usize;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let g = &groups[i % groups.len()];
                let first = if n == 1 { (i / groups.len()) % 100 } else { 0 };
                i += 1;
                let got = store.fetch(black_box(g), &orders[first..first + n], false);
                debug_assert!(got.iter().all(|r| matches!(r, Ok(Some(_)))));
                got
            });
        });
    }
    group.finish();
}

/// One partition holding `rounds` commits of every partition of 1,000 groups × 100 partitions
/// of `orders`, committed through a store in batches of 100 (one group's 100 partitions).
fn commits_log(rounds: i64) -> Arc<MemoryLog> {
    let log = Arc::new(MemoryLog::new(1));
    let store = LogOffsetStore::new(log.clone());
    let mut work = Workload::new(1_000, &partitions_of(&[Topic::from("orders")], 100), 100);
    for round in 0..rounds {
        work.set_round(round);
        work.commit_round(&store);
    }
    log
}

fn bench_replay(c: &mut Criterion) {
    let started = Instant::now();
    let before = ALLOC.allocated();
    let log = commits_log(100);
    let records = log.record_count(0).expect("records");
    assert_eq!(records, 10_000_000);
    println!(
        "replay: built {records} records in {:.1} s; the log holds {:.0} MiB",
        started.elapsed().as_secs_f64(),
        (ALLOC.allocated() - before) as f64 / (1 << 20) as f64
    );
    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(records as u64));
    group.bench_function("10M", |b| {
        b.iter_batched(
            || LogOffsetStore::new(log.clone()),
            |store| {
                let stats = store.load(0).expect("load");
                assert_eq!(stats.offsets, 100_000);
                store
            },
            BatchSize::PerIteration,
        );
    });
    // The parts of a replay alone: reading the records, then also decoding their keys and
    // values. What `10M` adds on top is applying them to the index.
    group.bench_function("log-read/10M", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            log.read(0, 0, ReadLimit::unlimited(), &mut |r| {
                bytes += r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
            })
            .expect("read");
            bytes
        });
    });
    group.bench_function("read-decode/10M", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            log.read(0, 0, ReadLimit::unlimited(), &mut |r| {
                let key = OffsetsKeyRef::decode(r.key.expect("key")).expect("key");
                let value = OffsetCommitValueRef::decode(r.value.expect("value")).expect("value");
                if let OffsetsKeyRef::OffsetCommit { partition, .. } = key {
                    sum += i64::from(partition) + value.offset;
                }
            })
            .expect("read");
            sum
        });
    });
    group.finish();
}

fn bench_compact(c: &mut Criterion) {
    // The records a store writes for 10 rounds over 100,000 keys, appended afresh for each
    // compaction.
    let source = OwnedRecords::read(&*commits_log(10), 0);
    let records = source.records();
    assert_eq!(records.len(), 1_000_000);
    let fresh = || {
        let log = MemoryLog::new(1);
        log.append(0, &records).expect("append");
        log
    };
    let stats = fresh().compact(0, NOW, 0).expect("compact");
    assert_eq!((stats.examined, stats.superseded), (1_000_000, 900_000));

    let mut group = c.benchmark_group("compact");
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("1M", |b| {
        b.iter_batched(
            fresh,
            |log| {
                black_box(log.compact(0, NOW, 0).expect("compact"));
                log
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// Prints, untimed, what the index of 1,000 groups × 100 partitions costs.
///
/// `memory_usage()` is the store's own count of its tables. The allocator's count is the heap
/// growth across `load_all()` of a second, empty store over the same log: replay allocates
/// nothing but the index it builds (records are read in place), so the growth is exactly what
/// the loaded index holds. That includes what `memory_usage()` leaves out: the group and topic
/// name strings the index allocates as it replays (one `Arc<str>` per group, one per (group,
/// topic)), and allocator rounding of hash-table capacities.
fn report_memory() {
    let groups = 1_000;
    let log = Arc::new(MemoryLog::new(LOG_PARTITIONS));
    let store = LogOffsetStore::new(log.clone());
    let work = Workload::new(groups, &partitions_of(&[Topic::from("orders")], 100), 100);
    work.commit_round(&store);
    let u = store.memory_usage();
    println!(
        "memory: committed index: {} groups, {} offsets, table_bytes {}, bytes_per_offset {:.1}",
        u.groups,
        u.offsets,
        u.table_bytes,
        u.bytes_per_offset()
    );

    let replayed = LogOffsetStore::new(log.clone());
    let before = ALLOC.allocated();
    let stats = replayed.load_all().expect("load");
    let grown = ALLOC.allocated() - before;
    assert_eq!(stats.offsets, u.offsets);
    let r = replayed.memory_usage();
    // Name strings the replayed index allocated: an `Arc<str>` (two counters and the bytes)
    // per group id and per (group, topic).
    let names: usize = work
        .groups
        .iter()
        .map(|g| 16 + g.len() + 16 + "orders".len())
        .sum();
    println!(
        "memory: replayed index: table_bytes {} ({:.1} per offset); allocator: {} bytes held \
         = {:.1} per offset, of which name strings about {} ({:.1} per offset), the rest {:.1} \
         per offset",
        r.table_bytes,
        r.bytes_per_offset(),
        grown,
        grown as f64 / stats.offsets as f64,
        names,
        names as f64 / stats.offsets as f64,
        (grown - names) as f64 / stats.offsets as f64
    );
}

fn offsets(c: &mut Criterion) {
    report_memory();
    bench_commit(c);
    bench_commit_breakdown(c);
    bench_fetch(c);
    bench_replay(c);
    bench_compact(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = offsets
}
criterion_main!(benches);
