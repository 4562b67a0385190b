//! One crash, three commit strategies: at-most-once, at-least-once and exactly-once, with a
//! count of what each loses and repeats.
//!
//! ```text
//! cargo run --release --example delivery_semantics
//! ```
//!
//! Each strategy gets a fresh [`GroupService`] over its own [`LogOffsetStore`], and a topic
//! holding the same records. `worker-1` joins the group, reads in batches of [`BATCH`] records
//! and, in its third batch, crashes after processing [`CRASH_AFTER`] records (dropped without
//! `close`: no commit, no LeaveGroup). Once its session times out, `worker-2` takes the
//! partitions over, resumes at the committed offsets and reads to the end of the log. The
//! crash is the same every time; only when each strategy commits differs:
//!
//! * **at-most-once** commits the batch's offsets *before* processing it: the records of the
//!   crashed batch that were not processed yet are never processed.
//! * **at-least-once** commits *after* processing the batch: the records the crashed batch
//!   had processed are processed again by `worker-2`.
//! * **exactly-once** processes every record inside a transaction of the offset store: the
//!   record's effect (a counter in an output table kept in the store) and the input offset
//!   after it are committed with [`CommitOptions::producer`], pending until the batch's commit
//!   marker ([`OffsetStore::write_txn_marker`]) makes them visible together. The crash leaves
//!   the transaction unfinished: its effects and offsets are invisible (a stable fetch answers
//!   UNSTABLE_OFFSET_COMMIT), and `worker-2`, starting under the same transactional producer
//!   id with a higher epoch, aborts it, which drops both. `worker-2` processes those records
//!   again, and each effect lands once.
//!
//! A record's *effect* is what processing it changes in the world: for the first two
//! strategies a counter per record outside the group (an external system that is never rolled
//! back), for exactly-once a counter per record in the output table. The final table counts,
//! per strategy, the records produced, how many times records were processed, and the records
//! whose effect was lost or landed more than once. The demo checks the expected shape
//! (at-most-once loses and never repeats, at-least-once repeats and never loses, exactly-once
//! does neither) and exits non-zero if it does not hold. It takes about three seconds, most of
//! it waiting for the crashed member's session to time out.

mod common;

use common::{print_table, wrap};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use consumer_groups::consumer::{ConsumerConfig, ConsumerEvent, IsolationLevel, OffsetReset};
use consumer_groups::coordinator::CoordinatorConfig;
use consumer_groups::log::{MemoryLog, Producer as TxnProducer, TxnOutcome};
use consumer_groups::offsets::{CommitOptions, LogOffsetStore, OffsetCommit, OffsetStore};
use consumer_groups::sync::{Consumer, ConsumerRecord, GroupService, Producer, Topics};
use consumer_groups::{ErrorCode, GroupId, Offset, TopicPartition};

const TOPIC: &str = "payments";
const PARTITIONS: u32 = 3;
const GROUP: &str = "ledger";
/// Records produced before the consumers start.
const RECORDS: u64 = 300;
/// `max_poll_records`: the most records one poll returns.
const BATCH: usize = 40;
/// The batch (1-based) in which `worker-1` crashes.
const CRASH_BATCH: usize = 3;
/// How many records of that batch `worker-1` processes before it crashes.
const CRASH_AFTER: usize = 15;
const SESSION_TIMEOUT_MS: u64 = 600;
const HEARTBEAT_INTERVAL_MS: u64 = 100;
/// The output table's topics: `applied.payments.<partition>`, one entry per input record
/// (keyed by the record's offset), whose value counts how many times its effect landed.
const OUTPUT_PREFIX: &str = "applied";
/// The transactional producer id both workers share (Kafka's `transactional.id`, resolved).
const PRODUCER_ID: i64 = 7;
/// The longest any phase may take before the demo gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    AtMost,
    AtLeast,
    Exactly,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::AtMost => "at-most-once",
            Strategy::AtLeast => "at-least-once",
            Strategy::Exactly => "exactly-once",
        }
    }

    fn how(self) -> &'static str {
        match self {
            Strategy::AtMost => {
                "poll a batch, commit its offsets (commit_sync), then process its records"
            }
            Strategy::AtLeast => {
                "poll a batch, process its records, then commit its offsets (commit_sync)"
            }
            Strategy::Exactly => {
                "poll a batch; for each record write its effect and the input offset after it \
                 into the open transaction (commit_with, producer set); end the batch with a \
                 commit marker (write_txn_marker)"
            }
        }
    }
}

/// What one strategy's run counted.
struct Tally {
    strategy: Strategy,
    produced: u64,
    processed: u64,
    /// Records whose effect never landed.
    lost: u64,
    /// Extra landings: a record whose effect landed three times counts 2.
    duplicated: u64,
    /// Records processed but whose effect a transaction abort undid.
    undone: u64,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("delivery_semantics: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    let start = Instant::now();
    println!(
        "{}",
        wrap(
            &format!(
                "Topic {TOPIC} ({PARTITIONS} partitions, {RECORDS} records produced up front), \
                 group {GROUP}. worker-1 reads batches of up to {BATCH} records and crashes in \
                 batch {CRASH_BATCH} after processing {CRASH_AFTER} of its records; worker-2 \
                 takes over once worker-1's session ({SESSION_TIMEOUT_MS} ms) times out, and \
                 reads to the log end. Times are seconds since the start."
            ),
            0
        )
    );
    let mut tallies = Vec::new();
    for strategy in [Strategy::AtMost, Strategy::AtLeast, Strategy::Exactly] {
        tallies.push(Run::new(strategy, start)?.play()?);
    }

    println!("\n── tally {}", "─".repeat(92));
    let rows: Vec<Vec<String>> = tallies
        .iter()
        .map(|t| {
            vec![
                t.strategy.name().to_string(),
                t.produced.to_string(),
                t.processed.to_string(),
                t.undone.to_string(),
                t.lost.to_string(),
                t.duplicated.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "strategy",
            "produced",
            "processed",
            "effects undone",
            "lost",
            "duplicated",
        ],
        &[false, true, true, true, true, true],
        &rows,
    );
    println!(
        "{}",
        wrap(
            "processed: record processings, repeats included. effects undone: processings \
             whose effect an aborted transaction dropped. lost: records whose effect never \
             landed. duplicated: effects that landed more than once (extra landings).",
            2
        )
    );

    let mut ok = true;
    for t in &tallies {
        let (shape, expected) = match t.strategy {
            Strategy::AtMost => (t.lost > 0 && t.duplicated == 0, "lost > 0, duplicated 0"),
            Strategy::AtLeast => (t.lost == 0 && t.duplicated > 0, "lost 0, duplicated > 0"),
            Strategy::Exactly => (t.lost == 0 && t.duplicated == 0, "lost 0, duplicated 0"),
        };
        if !shape {
            println!(
                "FAILED: {} should have {expected}, and has lost {} and duplicated {}",
                t.strategy.name(),
                t.lost,
                t.duplicated
            );
            ok = false;
        }
    }
    if ok {
        println!(
            "OK: at-most-once lost records and repeated none, at-least-once repeated records \
             and lost none, exactly-once did neither."
        );
    }
    Ok(ok)
}

/// One strategy's world: a service, its store and a topic.
struct Run {
    strategy: Strategy,
    start: Instant,
    service: GroupService,
    store: Arc<LogOffsetStore>,
    topics: Topics,
    group: GroupId,
    /// Per input partition and offset: how many times the record was processed.
    processed: Vec<Vec<u32>>,
    /// Per input partition and offset: how many times the record's effect landed outside the
    /// group (at-most-once and at-least-once).
    external: Vec<Vec<u32>>,
}

/// How a worker's run ended.
enum End {
    Crashed,
    Drained,
}

impl Run {
    fn new(strategy: Strategy, start: Instant) -> Result<Run, String> {
        let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
        let config = CoordinatorConfig {
            min_session_timeout_ms: 500,
            initial_rebalance_delay_ms: 0,
            ..CoordinatorConfig::default()
        };
        let service = GroupService::start(config, store.clone());
        let topics = Topics::new();
        topics
            .create(TOPIC, PARTITIONS)
            .map_err(|e| e.to_string())?;
        let producer = Producer::new(topics.clone(), service.clock());
        for n in 0..RECORDS {
            let key = format!("account-{}", n % 25);
            let value = format!("payment-{n}");
            producer
                .send(TOPIC, Some(key.as_bytes()), value.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let mut processed = Vec::new();
        for p in 0..PARTITIONS as i32 {
            let end = topics
                .end_offset(&TopicPartition::new(TOPIC, p))
                .map_err(|e| e.to_string())?;
            processed.push(vec![0; usize::try_from(end.0).unwrap_or(0)]);
        }
        Ok(Run {
            strategy,
            start,
            service,
            store,
            topics,
            group: GroupId::from(GROUP),
            external: processed.clone(),
            processed,
        })
    }

    fn say(&self, text: &str) {
        println!(
            "{}",
            wrap(
                &format!("[{:5.2}s] {text}", self.start.elapsed().as_secs_f64()),
                9
            )
        );
    }

    fn play(mut self) -> Result<Tally, String> {
        let heading = format!(
            "── [{:5.2}s] {} ",
            self.start.elapsed().as_secs_f64(),
            self.strategy.name()
        );
        let pad = 100usize.saturating_sub(heading.chars().count());
        println!("\n{heading}{}", "─".repeat(pad));
        self.say(self.strategy.how());

        let worker1 = self.consumer("worker-1")?;
        match self.work("worker-1", worker1, 0)? {
            End::Crashed => {}
            End::Drained => return Err("worker-1 read everything without crashing".into()),
        }
        self.print_offsets("after the crash, committed offsets (and the output table):");
        let mut epoch = 0;
        if self.strategy == Strategy::Exactly {
            self.show_unfinished()?;
            // worker-2 starts under the same transactional id: the transaction coordinator
            // bumps the producer epoch and aborts what the old epoch left open.
            let old = TxnProducer {
                id: PRODUCER_ID,
                epoch: 0,
            };
            epoch = 1;
            self.store
                .write_txn_marker(
                    self.store.partition_of(&self.group),
                    old,
                    TxnOutcome::Abort,
                    0,
                    self.service.now(),
                )
                .map_err(|e| e.to_string())?;
            self.say(&format!(
                "worker-2 starts as producer {PRODUCER_ID} epoch {epoch}: the abort marker for \
                 epoch 0 drops the unfinished transaction, its effects and its offsets alike"
            ));
            self.print_offsets("after the abort:");
        }
        let taken_over = Instant::now();
        let worker2 = self.consumer("worker-2")?;
        match self.work("worker-2", worker2, epoch)? {
            End::Drained => {}
            End::Crashed => return Err("worker-2 crashed".into()),
        }
        self.say(&format!(
            "worker-2 read to the log end {:.2} s after it started (most of it waiting for \
             worker-1's session to time out)",
            taken_over.elapsed().as_secs_f64()
        ));
        self.print_offsets("at the end:");
        Ok(self.tally())
    }

    fn consumer(&self, name: &str) -> Result<Consumer, String> {
        let mut config = ConsumerConfig::new(GROUP);
        config.client_id = name.into();
        config.session_timeout_ms = SESSION_TIMEOUT_MS;
        config.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS;
        config.max_poll_interval_ms = 5_000;
        config.request_timeout_ms = 3_000;
        config.enable_auto_commit = false;
        config.auto_offset_reset = OffsetReset::Earliest;
        if self.strategy == Strategy::Exactly {
            // Committed offsets are read stable: a pending transactional commit is waited for.
            config.isolation_level = IsolationLevel::ReadCommitted;
        }
        let mut consumer =
            Consumer::new(config, &self.service, self.topics.clone()).map_err(|e| e.to_string())?;
        consumer.set_max_poll_records(BATCH);
        consumer.subscribe([TOPIC]).map_err(|e| e.to_string())?;
        Ok(consumer)
    }

    /// Polls and processes with the run's strategy. `worker-1` (`epoch` 0) crashes in batch
    /// [`CRASH_BATCH`]; `worker-2` reads to the log end and closes.
    fn work(&mut self, name: &str, mut consumer: Consumer, epoch: i16) -> Result<End, String> {
        let crashes = name == "worker-1";
        let producer = TxnProducer {
            id: PRODUCER_ID,
            epoch,
        };
        let mut batches = 0usize;
        let deadline = Instant::now() + PHASE_LIMIT;
        loop {
            if Instant::now() > deadline {
                return Err(format!("{name} did not finish within {PHASE_LIMIT:?}"));
            }
            let polled = consumer
                .poll(Duration::from_millis(50))
                .map_err(|e| format!("{name}: poll: {e}"))?;
            for event in &polled.events {
                match event {
                    ConsumerEvent::PartitionsAssigned {
                        assignment,
                        generation,
                        ..
                    } => {
                        let committed = self.store.fetch(&self.group, assignment, true);
                        let start: Vec<String> = committed
                            .iter()
                            .map(|r| match r {
                                Ok(Some(c)) => c.offset.0.to_string(),
                                Ok(None) => "none (earliest)".into(),
                                Err(code) => format!("{code:?}"),
                            })
                            .collect();
                        self.say(&format!(
                            "{name}: generation {generation}, assigned {} partition(s); it \
                             resumes at the committed offsets [{}]",
                            assignment.len(),
                            start.join(", ")
                        ));
                    }
                    ConsumerEvent::Fatal { error } => {
                        return Err(format!("{name}: fatal {error:?}"));
                    }
                    _ => {}
                }
            }
            if polled.records.is_empty() {
                if !crashes && self.at_end(&consumer) {
                    consumer
                        .close()
                        .map_err(|e| format!("{name}: close: {e}"))?;
                    return Ok(End::Drained);
                }
                continue;
            }
            batches += 1;
            let crash_at = (crashes && batches == CRASH_BATCH).then_some(CRASH_AFTER);
            let records = &polled.records;
            match self.strategy {
                Strategy::AtMost => {
                    consumer
                        .commit_sync(None)
                        .map_err(|e| format!("{name}: commit: {e}"))?;
                    for (i, record) in records.iter().enumerate() {
                        if crash_at == Some(i) {
                            return Ok(self.crash(name, consumer, batches, records, i));
                        }
                        self.process_external(record);
                    }
                }
                Strategy::AtLeast => {
                    for (i, record) in records.iter().enumerate() {
                        if crash_at == Some(i) {
                            return Ok(self.crash(name, consumer, batches, records, i));
                        }
                        self.process_external(record);
                    }
                    consumer
                        .commit_sync(None)
                        .map_err(|e| format!("{name}: commit: {e}"))?;
                }
                Strategy::Exactly => {
                    for (i, record) in records.iter().enumerate() {
                        if crash_at == Some(i) {
                            return Ok(self.crash(name, consumer, batches, records, i));
                        }
                        self.process_in_txn(record, producer)?;
                    }
                    self.store
                        .write_txn_marker(
                            self.store.partition_of(&self.group),
                            producer,
                            TxnOutcome::Commit,
                            0,
                            self.service.now(),
                        )
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }

    /// Drops the consumer without `close`, and says what the crash interrupted.
    fn crash(
        &self,
        name: &str,
        consumer: Consumer,
        batch: usize,
        records: &[ConsumerRecord],
        done: usize,
    ) -> End {
        drop(consumer);
        let left = records.len() - done;
        let what = match self.strategy {
            Strategy::AtMost => format!(
                "the batch's offsets were committed first, so the {left} unprocessed record(s) \
                 will be skipped"
            ),
            Strategy::AtLeast => format!(
                "the batch was not committed, so the {done} processed record(s) will be read \
                 and processed again"
            ),
            Strategy::Exactly => format!(
                "the {done} processed record(s) sit in an unfinished transaction: their \
                 effects and offsets are written to the offsets log but pending"
            ),
        };
        self.say(&format!(
            "{name} crashes in batch {batch} ({} records) after processing {done}: {what}",
            records.len()
        ));
        End::Crashed
    }

    /// Processing for the first two strategies: the effect lands outside the group at once.
    fn process_external(&mut self, record: &ConsumerRecord) {
        let (p, o) = index(record);
        self.processed[p][o] += 1;
        self.external[p][o] += 1;
    }

    /// Processing for exactly-once: read the record's counter in the output table (committed
    /// values only), and write counter + 1 and the input offset after the record into the
    /// producer's open transaction, in one store call.
    fn process_in_txn(
        &mut self,
        record: &ConsumerRecord,
        producer: TxnProducer,
    ) -> Result<(), String> {
        let (p, o) = index(record);
        self.processed[p][o] += 1;
        let cell = output_cell(record);
        let current = self
            .store
            .fetch(&self.group, std::slice::from_ref(&cell), false)
            .pop()
            .and_then(|r| r.ok().flatten())
            .map_or(0, |c| c.offset.0);
        let commits = [
            OffsetCommit::new(cell, Offset(current + 1)),
            OffsetCommit::new(record.partition.clone(), Offset(record.offset.0 + 1)),
        ];
        let codes = self
            .store
            .commit_with(
                &self.group,
                &commits,
                CommitOptions {
                    producer: Some(producer),
                    ..CommitOptions::default()
                },
                self.service.now(),
            )
            .map_err(|e| e.to_string())?;
        if let Some(code) = codes.iter().find(|c| **c != ErrorCode::None) {
            return Err(format!("transactional commit refused: {code:?}"));
        }
        Ok(())
    }

    /// `true` when the consumer's position is the log end of every partition.
    fn at_end(&self, consumer: &Consumer) -> bool {
        (0..PARTITIONS as i32).all(|p| {
            let tp = TopicPartition::new(TOPIC, p);
            let end = self.topics.end_offset(&tp).ok();
            end.is_some() && consumer.position(&tp) == end
        })
    }

    fn input_partitions() -> Vec<TopicPartition> {
        (0..PARTITIONS as i32)
            .map(|p| TopicPartition::new(TOPIC, p))
            .collect()
    }

    /// Per input partition: how many entries of the output table are visible, and their sum.
    fn output_table(&self) -> Vec<(u64, u64)> {
        let mut out = vec![(0u64, 0u64); PARTITIONS as usize];
        for (tp, result) in self.store.fetch_all(&self.group, false) {
            let Some(p) = tp
                .topic
                .strip_prefix(OUTPUT_PREFIX)
                .and_then(|t| t.strip_prefix(&format!(".{TOPIC}.")))
                .and_then(|p| p.parse::<usize>().ok())
            else {
                continue;
            };
            if let (Ok(c), Some(slot)) = (result, out.get_mut(p)) {
                slot.0 += 1;
                slot.1 += u64::try_from(c.offset.0).unwrap_or(0);
            }
        }
        out
    }

    fn print_offsets(&self, caption: &str) {
        let tps = Self::input_partitions();
        let committed = self.store.fetch(&self.group, &tps, false);
        let stable = self.store.fetch(&self.group, &tps, true);
        let table = self.output_table();
        let eos = self.strategy == Strategy::Exactly;
        let mut rows = Vec::new();
        for (i, tp) in tps.iter().enumerate() {
            let end = self.topics.end_offset(tp).map_or(0, |o| o.0);
            let show = |r: &consumer_groups::offsets::FetchResult| match r {
                Ok(Some(c)) => c.offset.0.to_string(),
                Ok(None) => "-".into(),
                Err(code) => format!("{code:?}"),
            };
            let mut row = vec![tp.to_string(), end.to_string(), show(&committed[i])];
            if eos {
                row.push(show(&stable[i]));
                row.push(table[i].0.to_string());
            }
            rows.push(row);
        }
        self.say(caption);
        if eos {
            print_table(
                &[
                    "partition",
                    "log end",
                    "committed",
                    "stable fetch",
                    "effects visible",
                ],
                &[false, true, true, true, true],
                &rows,
            );
        } else {
            print_table(
                &["partition", "log end", "committed"],
                &[false, true, true],
                &rows,
            );
        }
    }

    /// Exactly-once, after the crash: what the unfinished transaction holds.
    fn show_unfinished(&self) -> Result<(), String> {
        let snapshot = self
            .store
            .snapshot(self.store.partition_of(&self.group))
            .map_err(|e| e.to_string())?;
        let pending: usize = snapshot
            .groups
            .get(GROUP)
            .map_or(0, |g| g.pending.values().map(BTreeMap::len).sum());
        let effects: usize = snapshot.groups.get(GROUP).map_or(0, |g| {
            g.pending
                .values()
                .flat_map(BTreeMap::keys)
                .filter(|(t, _)| t.starts_with(OUTPUT_PREFIX))
                .count()
        });
        self.say(&format!(
            "the open transaction holds {pending} pending entries: {effects} effect(s) and {} \
             input offset(s). None is visible: a plain fetch still answers the last committed \
             offsets, a stable fetch (require_stable, as a read_committed consumer asks) answers \
             UnstableOffsetCommit for the partitions it touched, and the output table shows \
             none of its effects.",
            pending - effects
        ));
        Ok(())
    }

    fn tally(&self) -> Tally {
        let mut t = Tally {
            strategy: self.strategy,
            produced: RECORDS,
            processed: 0,
            lost: 0,
            duplicated: 0,
            undone: 0,
        };
        let landed: Vec<Vec<u32>> = if self.strategy == Strategy::Exactly {
            let mut landed: Vec<Vec<u32>> =
                self.processed.iter().map(|v| vec![0; v.len()]).collect();
            for (tp, result) in self.store.fetch_all(&self.group, false) {
                let Some(p) = tp
                    .topic
                    .strip_prefix(&format!("{OUTPUT_PREFIX}.{TOPIC}."))
                    .and_then(|p| p.parse::<usize>().ok())
                else {
                    continue;
                };
                let (Ok(c), Ok(o)) = (result, usize::try_from(tp.partition)) else {
                    continue;
                };
                if let Some(slot) = landed.get_mut(p).and_then(|v| v.get_mut(o)) {
                    *slot = u32::try_from(c.offset.0).unwrap_or(u32::MAX);
                }
            }
            landed
        } else {
            self.external.clone()
        };
        for (p, counts) in landed.iter().enumerate() {
            for (o, &n) in counts.iter().enumerate() {
                let attempts = self.processed[p][o];
                t.processed += u64::from(attempts);
                match n {
                    0 => t.lost += 1,
                    n => t.duplicated += u64::from(n - 1),
                }
                t.undone += u64::from(attempts.saturating_sub(n));
            }
        }
        t
    }
}

/// A record's (partition, offset) as indexes.
fn index(record: &ConsumerRecord) -> (usize, usize) {
    (
        usize::try_from(record.partition.partition).unwrap_or(0),
        usize::try_from(record.offset.0).unwrap_or(0),
    )
}

/// The output table's entry for a record: topic `applied.payments.<partition>`, keyed by the
/// record's offset.
fn output_cell(record: &ConsumerRecord) -> TopicPartition {
    TopicPartition::new(
        format!(
            "{OUTPUT_PREFIX}.{}.{}",
            record.partition.topic, record.partition.partition
        ),
        i32::try_from(record.offset.0).unwrap_or(i32::MAX),
    )
}
