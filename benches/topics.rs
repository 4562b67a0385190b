//! ListOffsets by timestamp through `sync::Topics`' time index (figures in `BENCHMARKS.md`), on
//! one partition of 10,000,000 records (no key, an 8-byte value), stamped 1 ms apart, so every
//! record raises the partition's largest timestamp and gets an index entry (the index's
//! largest case).
//!
//! * `list-offsets/offset-for-timestamp-10M`: `Topics::offset_for_timestamp` for timestamps
//!   drawn from 4,096 precomputed uniform ones (SplitMix64) over the partition's range, each
//!   chosen by the previous answer, so the time is a lookup's latency.
//!   `list-offsets/floor-10M` is the floor: `partition_point` over a bare sorted
//!   `Vec<(u64, i64)>` of the same 10,000,000 `(timestamp, offset)` pairs, chosen the same way.
//!   The `-independent` pair takes the timestamps in turn instead, so consecutive lookups can
//!   overlap their cache misses.
//! * `list-offsets/max-timestamp-10M`: `Topics::max_timestamp` (ListOffsets `-3`).
//! * `build/topics-10M`: appending the 10,000,000 records one `Topics::append` at a time to a
//!   fresh topic (log and index). Its floors: `build/map-and-log-10M`, the same appends as
//!   `Topics::append` made them before the index (the topic looked up in a locked `BTreeMap`,
//!   then its `MemoryLog`), and `build/memory-log-10M`, the same appends straight to a
//!   `MemoryLog`. Dropping is outside the timing.
//!
//! Before the benchmarks, untimed, it prints the heap the partition holds (log and index), the
//! index's share per record, also for a clock stamping 100 records per millisecond, and the time
//! of one lookup by the scan that the index replaces (reading the records from the start, 500 at
//! a time, to the first one at or after the timestamp), to the middle of the partition.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use consumer_groups::log::{Log, MemoryLog, Record};
use consumer_groups::sync::Topics;
use consumer_groups::{Offset, Timestamp, Topic, TopicPartition};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use parking_lot::RwLock;

/// Counts the bytes the program holds on the heap (requested sizes; the system allocator's own
/// overhead is not included). It adds one atomic add per allocation and free to every benchmark.
#[global_allocator]
static ALLOC: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

const RECORDS: u64 = 10_000_000;
/// The timestamp of offset 0.
const BASE: u64 = 1_700_000_000_000;
/// Timestamps looked up, in turn (a power of two).
const LOOKUPS: usize = 4_096;
const TOPIC: &str = "events";

fn tp() -> TopicPartition {
    TopicPartition::new(TOPIC, 0)
}

/// A topic of one partition holding `RECORDS` records, record `i` stamped `stamp(i)`.
fn build_topics(stamp: impl Fn(u64) -> u64) -> Topics {
    let topics = Topics::new();
    topics.create(TOPIC, 1).expect("topic");
    let tp = tp();
    for i in 0..RECORDS {
        topics
            .append(&tp, None, Some(&i.to_le_bytes()), Timestamp(stamp(i)))
            .expect("append");
    }
    topics
}

/// The same records appended as `Topics::append` did before the time index: the topic looked
/// up in a `BTreeMap` behind a `parking_lot::RwLock` on every append, then its `MemoryLog`.
fn build_map_and_log() -> RwLock<BTreeMap<Topic, Arc<MemoryLog>>> {
    let topics = RwLock::new(BTreeMap::new());
    topics
        .write()
        .insert(Topic::new(TOPIC), Arc::new(MemoryLog::new(1)));
    let tp = tp();
    for i in 0..RECORDS {
        let log = topics.read().get(&tp.topic).cloned().expect("topic");
        let partition = u32::try_from(tp.partition)
            .ok()
            .filter(|&p| p < log.partition_count())
            .expect("partition");
        let value = i.to_le_bytes();
        log.append(
            partition,
            &[Record::new(None, Some(&value), Timestamp(BASE + i))],
        )
        .expect("append");
    }
    topics
}

/// The same records straight into a `MemoryLog`.
fn build_log() -> MemoryLog {
    let log = MemoryLog::new(1);
    for i in 0..RECORDS {
        let value = i.to_le_bytes();
        log.append(0, &[Record::new(None, Some(&value), Timestamp(BASE + i))])
            .expect("append");
    }
    log
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `LOOKUPS` timestamps, uniform over the partition's.
fn targets() -> Vec<u64> {
    let mut state = 0x5eed_cafe_f00d_2024;
    (0..LOOKUPS)
        .map(|_| BASE + splitmix64(&mut state) % RECORDS)
        .collect()
}

/// The index of the next timestamp to look up. It depends on the previous answer (`last`), so
/// one lookup starts only once the previous one is done: the time per lookup is its latency,
/// with no overlap of consecutive lookups' cache misses.
fn next(i: &mut usize, last: i64) -> usize {
    *i = (*i + 1 + (last & 1) as usize) % LOOKUPS;
    *i
}

/// The lookup the index replaces: records read from the start, 500 at a time, up to the first
/// one at or after `t`.
fn scan(topics: &Topics, tp: &TopicPartition, t: u64) -> Option<(Timestamp, Offset)> {
    let end = topics.end_offset(tp).expect("end").0;
    let mut from = 0;
    while from < end {
        let chunk = topics.read(tp, Offset(from), 500).expect("read");
        if let Some(r) = chunk.iter().find(|r| r.timestamp.0 >= t) {
            return Some((r.timestamp, r.offset));
        }
        from = chunk.last().map_or(end, |r| r.offset.0 + 1);
    }
    None
}

fn held() -> usize {
    ALLOC.allocated()
}

/// `f`'s result and the heap it holds.
fn holding<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = held();
    let x = f();
    let bytes = held() - before;
    (x, bytes)
}

/// Prints the memory figures and the scan's time; returns the 1 ms-apart partition.
fn report() -> Topics {
    let start = Instant::now();
    let (topics, topics_bytes) = holding(|| build_topics(|i| BASE + i));
    println!(
        "build: 10M records through Topics::append in {:?}",
        start.elapsed()
    );
    let (log, log_bytes) = holding(build_log);
    drop(log);
    let per = |b: usize| b as f64 / RECORDS as f64;
    let index = topics_bytes - log_bytes;
    println!(
        "memory: the partition holds {topics_bytes} bytes = {:.1} per record; the log alone \
         {log_bytes} bytes = {:.1} per record; the index {index} bytes = {:.1} per record \
         ({RECORDS} entries of 16 bytes = 16.0 per record in use, the rest the Vec's growth)",
        per(topics_bytes),
        per(log_bytes),
        per(index)
    );
    let (clock, clock_bytes) = holding(|| build_topics(|i| BASE + i / 100));
    drop(clock);
    let index = clock_bytes - log_bytes;
    println!(
        "memory: stamped 100 records per ms, the index holds {index} bytes = {:.2} per record \
         ({} entries)",
        per(index),
        RECORDS / 100
    );

    let tp = tp();
    let middle = BASE + RECORDS / 2;
    let start = Instant::now();
    let found = scan(&topics, &tp, middle);
    let took = start.elapsed();
    assert_eq!(
        found,
        Some((Timestamp(middle), Offset((RECORDS / 2) as i64)))
    );
    println!("scan: one lookup of the middle of the partition by reading it in {took:?}");
    topics
}

fn bench(c: &mut Criterion) {
    let topics = report();
    let tp = tp();
    let targets = targets();
    let floor: Vec<(u64, i64)> = (0..RECORDS).map(|i| (BASE + i, i as i64)).collect();
    let bare = |t: u64| {
        let i = floor.partition_point(|&(max, _)| max < t);
        floor.get(i).copied()
    };
    for &t in &targets {
        let expected = (t, (t - BASE) as i64);
        let got = topics
            .offset_for_timestamp(&tp, Timestamp(t))
            .expect("lookup");
        assert_eq!(got.map(|(ts, o)| (ts.0, o.0)), Some(expected));
        assert_eq!(bare(t), Some(expected));
    }

    let mut group = c.benchmark_group("list-offsets");
    group.bench_function("offset-for-timestamp-10M", |b| {
        let mut i = 0usize;
        let mut last = 0i64;
        b.iter(|| {
            let t = targets[next(&mut i, last)];
            let found = topics
                .offset_for_timestamp(&tp, Timestamp(t))
                .expect("lookup");
            last = found.map_or(0, |(_, o)| o.0);
        });
    });
    group.bench_function("floor-10M", |b| {
        let mut i = 0usize;
        let mut last = 0i64;
        b.iter(|| {
            let t = targets[next(&mut i, last)];
            last = bare(t).map_or(0, |(_, o)| o);
        });
    });
    group.bench_function("offset-for-timestamp-10M-independent", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let t = targets[i % LOOKUPS];
            i += 1;
            black_box(topics.offset_for_timestamp(&tp, Timestamp(black_box(t))))
        });
    });
    group.bench_function("floor-10M-independent", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let t = targets[i % LOOKUPS];
            i += 1;
            black_box(bare(black_box(t)))
        });
    });
    group.bench_function("max-timestamp-10M", |b| {
        b.iter(|| black_box(topics.max_timestamp(black_box(&tp))));
    });
    group.finish();
    drop(floor);
    drop(topics);

    let mut group = c.benchmark_group("build");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.bench_function("topics-10M", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let topics = build_topics(|i| BASE + i);
                total += start.elapsed();
                drop(topics);
            }
            total
        });
    });
    group.bench_function("map-and-log-10M", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let topics = build_map_and_log();
                total += start.elapsed();
                drop(topics);
            }
            total
        });
    });
    group.bench_function("memory-log-10M", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let log = build_log();
                total += start.elapsed();
                drop(log);
            }
            total
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
