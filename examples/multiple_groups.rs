//! Two consumer groups read one topic independently, each with its own committed offsets.
//!
//! ```text
//! cargo run --release --example multiple_groups
//! ```
//!
//! A topic `events` with 3 partitions is read by two groups:
//!
//! * `notifications`: two fast consumers that keep up with the log;
//! * `analytics`: one slow consumer, stopped part-way (with `close`, which commits), then
//!   restarted later.
//!
//! The groups share the records but nothing else: each partition has an owner in each group,
//! and each group has its own committed offset per partition. While `analytics` is stopped its
//! offsets stay where it left them and its lag grows as records arrive; `notifications` is not
//! affected. When `analytics` comes back it resumes at its own committed offsets, not at the
//! start and not at the end of the log.
//!
//! The output is the table group / topic / partition / committed offset / log end / lag at
//! each step, and a final check that each group processed every record exactly once. Where
//! `analytics` stops depends on timing, so its offsets vary from run to run.

mod common;

use common::{print_table, show, wrap};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use consumer_groups::consumer::{ConsumerConfig, ConsumerEvent, OffsetReset};
use consumer_groups::coordinator::{CoordinatorConfig, GroupState};
use consumer_groups::log::MemoryLog;
use consumer_groups::offsets::{LogOffsetStore, OffsetStore};
use consumer_groups::sync::{Consumer, GroupService, Producer, Topics};
use consumer_groups::{GroupId, Offset, TopicPartition};
use parking_lot::Mutex;

const TOPIC: &str = "events";
const PARTITIONS: u32 = 3;
const NOTIFICATIONS: &str = "notifications";
const ANALYTICS: &str = "analytics";
/// Records written before the consumers start, and again while `analytics` is stopped.
const FIRST_BATCH: u64 = 2_000;
const SECOND_BATCH: u64 = 1_000;
/// `analytics` is stopped once it has processed this many records.
const ANALYTICS_STOPS_AFTER: u64 = 800;
/// The longest any wait may take before the demo gives up.
const WAIT_LIMIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("multiple_groups: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    let start = Instant::now();
    let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
    let service = GroupService::start(
        CoordinatorConfig {
            min_session_timeout_ms: 500,
            initial_rebalance_delay_ms: 200,
            ..CoordinatorConfig::default()
        },
        store.clone(),
    );
    let topics = Topics::new();
    topics
        .create(TOPIC, PARTITIONS)
        .map_err(|e| e.to_string())?;
    let producer = Producer::new(topics.clone(), service.clock());
    let mut next_record = 0u64;
    let mut produce = |n: u64| -> Result<(), String> {
        for _ in 0..n {
            let key = format!("user-{}", next_record % 250);
            let value = format!("event-{next_record}");
            producer
                .send(TOPIC, Some(key.as_bytes()), value.as_bytes())
                .map_err(|e| e.to_string())?;
            next_record += 1;
        }
        Ok(())
    };
    let ledger = Arc::new(Ledger::default());
    let demo = Demo {
        start,
        service: &service,
        store: &store,
        topics: &topics,
        ledger: &ledger,
    };

    println!(
        "{}",
        wrap(
            &format!(
                "Topic {TOPIC} ({PARTITIONS} partitions), read by two groups: {NOTIFICATIONS} \
                 (two fast consumers) and {ANALYTICS} (one slow consumer, about 1,000 records a \
                 second). Times are seconds since the start; where {ANALYTICS} stops varies from \
                 run to run."
            ),
            0
        )
    );

    demo.step(&format!(
        "{FIRST_BATCH} records are written; both groups start reading"
    ));
    produce(FIRST_BATCH)?;
    let mut workers = vec![
        demo.spawn(NOTIFICATIONS, "notify-1", Speed::Fast)?,
        demo.spawn(NOTIFICATIONS, "notify-2", Speed::Fast)?,
        demo.spawn(ANALYTICS, "analytics-1", Speed::Slow)?,
    ];
    demo.wait_for("notifications to catch up", || {
        demo.lag_total(NOTIFICATIONS) == 0
    })?;
    demo.print_owners(&workers);
    demo.print_lag("notifications has caught up; analytics, slower, is part-way");

    demo.step(&format!(
        "analytics is stopped (close: it commits, then leaves) after about \
         {ANALYTICS_STOPS_AFTER} records"
    ));
    demo.wait_for("analytics to reach its stopping point", || {
        workers[2].processed.load(Ordering::Relaxed) >= ANALYTICS_STOPS_AFTER
    })?;
    let analytics = workers.pop().ok_or("no analytics worker")?;
    let stopped = analytics.stop()?;
    demo.say(&format!(
        "analytics-1 closed after processing {} records; group {ANALYTICS} is {}",
        stopped.processed,
        demo.state(ANALYTICS)
    ));
    let analytics_at_stop = demo.committed(ANALYTICS);
    demo.print_lag("analytics is stopped part-way: its committed offsets stay where it left them");

    demo.step(&format!(
        "{SECOND_BATCH} more records are written while analytics is stopped"
    ));
    produce(SECOND_BATCH)?;
    demo.wait_for("notifications to catch up", || {
        demo.lag_total(NOTIFICATIONS) == 0
    })?;
    demo.print_lag("notifications keeps up; analytics' offsets have not moved, its lag grows");

    demo.step("analytics restarts and resumes at its own committed offsets");
    let analytics = demo.spawn(ANALYTICS, "analytics-2", Speed::Slow)?;
    demo.wait_for("analytics to catch up", || demo.lag_total(ANALYTICS) == 0)?;
    workers.push(analytics);
    let first_read = workers[2].first_read.lock().clone();
    let mut rows = Vec::new();
    let mut resumed_ok = true;
    for (p, committed) in analytics_at_stop.iter().enumerate() {
        let tp = TopicPartition::new(TOPIC, p as i32);
        let first = first_read.get(&tp).copied();
        resumed_ok &= first == *committed;
        rows.push(vec![
            tp.to_string(),
            show(*committed),
            show(first),
            if first == *committed { "yes" } else { "NO" }.to_string(),
        ]);
    }
    demo.say("the first record analytics-2 read from each partition:");
    print_table(
        &[
            "partition",
            "committed when analytics-1 stopped",
            "first offset analytics-2 read",
            "same",
        ],
        &[false, true, true, false],
        &rows,
    );
    demo.print_lag("both groups are at the log end");

    demo.step("the consumers close; each group's tally");
    let mut processed: BTreeMap<&str, u64> = BTreeMap::new();
    *processed.entry(ANALYTICS).or_default() += stopped.processed;
    for worker in workers {
        let group = worker.group;
        let done = worker.stop()?;
        *processed.entry(group).or_default() += done.processed;
    }
    let counts = ledger.counts.lock().clone();
    let ends = demo.log_ends();
    let mut rows = Vec::new();
    let mut ok = resumed_ok;
    for group in [NOTIFICATIONS, ANALYTICS] {
        let (mut once, mut more, mut never) = (0u64, 0u64, 0u64);
        for (p, end) in ends.iter().enumerate() {
            for offset in 0..end.0 {
                match counts.get(&(group, p as i32, offset)).copied().unwrap_or(0) {
                    0 => never += 1,
                    1 => once += 1,
                    _ => more += 1,
                }
            }
        }
        ok &= never == 0 && more == 0 && demo.lag_total(group) == 0;
        rows.push(vec![
            group.to_string(),
            processed.get(group).copied().unwrap_or(0).to_string(),
            once.to_string(),
            more.to_string(),
            never.to_string(),
            demo.state(group),
        ]);
    }
    print_table(
        &[
            "group",
            "processed",
            "exactly once",
            "more than once",
            "never",
            "group state",
        ],
        &[false, true, true, true, true, false],
        &rows,
    );
    println!(
        "{}",
        wrap(
            "Each group processed all of the topic's records, at its own pace, from its own \
             committed offsets: one group's progress, lag or absence never moves the other's. \
             No record was processed twice because every stop was a clean close, which commits \
             what was processed.",
            0
        )
    );
    if ok {
        println!("OK");
    } else {
        println!("FAILED: a record was missed or repeated, or a restart did not resume in place");
    }
    Ok(ok)
}

/// How fast a worker processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speed {
    /// As fast as records come.
    Fast,
    /// 20 records per poll, 20 ms per batch of work: about 1,000 records a second.
    Slow,
}

/// How often each group processed each record: (group, partition, offset) → count.
#[derive(Debug, Default)]
struct Ledger {
    counts: Mutex<BTreeMap<(&'static str, i32, i64), u32>>,
}

/// A consumer on its own thread.
struct Worker {
    group: &'static str,
    name: &'static str,
    processed: Arc<AtomicU64>,
    /// The first offset read from each partition.
    first_read: Arc<Mutex<BTreeMap<TopicPartition, Offset>>>,
    /// The partitions owned now.
    owned: Arc<Mutex<Vec<TopicPartition>>>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<(), String>>,
}

/// What a stopped worker did.
struct Stopped {
    processed: u64,
}

impl Worker {
    /// Closes the consumer (it commits, then leaves its group) and joins the thread.
    fn stop(self) -> Result<Stopped, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| format!("{}'s thread panicked", self.name))??;
        Ok(Stopped {
            processed: self.processed.load(Ordering::Relaxed),
        })
    }
}

/// What the steps share.
struct Demo<'a> {
    start: Instant,
    service: &'a GroupService,
    store: &'a LogOffsetStore,
    topics: &'a Topics,
    ledger: &'a Arc<Ledger>,
}

impl Demo<'_> {
    fn elapsed(&self) -> String {
        format!("[{:5.2}s]", self.start.elapsed().as_secs_f64())
    }

    fn step(&self, title: &str) {
        let heading = format!("── {} {title} ", self.elapsed());
        let pad = 100usize.saturating_sub(heading.chars().count());
        println!("\n{heading}{}", "─".repeat(pad));
    }

    fn say(&self, text: &str) {
        println!("{}", wrap(&format!("{} {text}", self.elapsed()), 9));
    }

    /// Starts consumer `name` of `group` on its own thread.
    fn spawn(
        &self,
        group: &'static str,
        name: &'static str,
        speed: Speed,
    ) -> Result<Worker, String> {
        let mut config = ConsumerConfig::new(group);
        config.client_id = name.into();
        config.session_timeout_ms = 1_500;
        config.heartbeat_interval_ms = 250;
        config.request_timeout_ms = 3_000;
        config.auto_commit_interval_ms = 200;
        config.auto_offset_reset = OffsetReset::Earliest;
        config.assignors = vec!["range".into()];
        let mut consumer =
            Consumer::new(config, self.service, self.topics.clone()).map_err(|e| e.to_string())?;
        if speed == Speed::Slow {
            consumer.set_max_poll_records(20);
        }
        consumer.subscribe([TOPIC]).map_err(|e| e.to_string())?;
        let processed = Arc::new(AtomicU64::new(0));
        let first_read = Arc::new(Mutex::new(BTreeMap::new()));
        let owned = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (processed, first_read, owned, stop) = (
                processed.clone(),
                first_read.clone(),
                owned.clone(),
                stop.clone(),
            );
            let ledger = self.ledger.clone();
            thread::spawn(move || -> Result<(), String> {
                while !stop.load(Ordering::Relaxed) {
                    let polled = consumer
                        .poll(Duration::from_millis(50))
                        .map_err(|e| format!("{name}: {e}"))?;
                    for event in polled.events {
                        match event {
                            ConsumerEvent::PartitionsRevoked { .. } => {
                                consumer
                                    .commit_sync(None)
                                    .map_err(|e| format!("{name}: commit: {e}"))?;
                            }
                            ConsumerEvent::PartitionsAssigned { assignment, .. } => {
                                *owned.lock() = assignment;
                            }
                            ConsumerEvent::PartitionsLost { .. } => owned.lock().clear(),
                            _ => {}
                        }
                    }
                    if polled.records.is_empty() {
                        continue;
                    }
                    {
                        let mut counts = ledger.counts.lock();
                        let mut first = first_read.lock();
                        for r in &polled.records {
                            *counts
                                .entry((group, r.partition.partition, r.offset.0))
                                .or_default() += 1;
                            first.entry(r.partition.clone()).or_insert(r.offset);
                        }
                    }
                    processed.fetch_add(polled.records.len() as u64, Ordering::Relaxed);
                    if speed == Speed::Slow {
                        thread::sleep(Duration::from_millis(20));
                    }
                }
                consumer.close().map_err(|e| format!("{name}: close: {e}"))
            })
        };
        Ok(Worker {
            group,
            name,
            processed,
            first_read,
            owned,
            stop,
            thread,
        })
    }

    /// Waits until `done` holds, checking every few milliseconds.
    fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + WAIT_LIMIT;
        while !done() {
            if Instant::now() > deadline {
                return Err(format!("gave up waiting for {what}"));
            }
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    fn partitions(&self) -> Vec<TopicPartition> {
        (0..PARTITIONS as i32)
            .map(|p| TopicPartition::new(TOPIC, p))
            .collect()
    }

    fn log_ends(&self) -> Vec<Offset> {
        self.partitions()
            .iter()
            .map(|tp| self.topics.end_offset(tp).unwrap_or(Offset(0)))
            .collect()
    }

    /// `group`'s committed offsets, per partition.
    fn committed(&self, group: &str) -> Vec<Option<Offset>> {
        self.store
            .fetch(&GroupId::from(group), &self.partitions(), false)
            .into_iter()
            .map(|r| r.ok().flatten().map(|c| c.offset))
            .collect()
    }

    /// `group`'s total lag; a partition without a committed offset counts as not caught up.
    fn lag_total(&self, group: &str) -> i64 {
        let ends: Vec<(TopicPartition, Offset)> =
            self.partitions().into_iter().zip(self.log_ends()).collect();
        let lag = self.store.lag(&GroupId::from(group), &ends);
        if lag.unknown > 0 { i64::MAX } else { lag.total }
    }

    /// `group`'s state, generation and member count, as the coordinator has them.
    fn state(&self, group: &str) -> String {
        let (state, generation, members) = self.service.with_coordinator(|c, _| {
            (
                c.group_state(group),
                c.generation(group),
                c.members(group).len(),
            )
        });
        match (state, generation) {
            (Some(GroupState::Empty), _) => "Empty (no members; offsets kept)".to_string(),
            (Some(state), Some(generation)) => {
                format!(
                    "{} (generation {generation}, {members} member(s))",
                    state.name()
                )
            }
            _ => "unknown".to_string(),
        }
    }

    /// Who owns what, in each group.
    fn print_owners(&self, workers: &[Worker]) {
        self.say("each partition has one owner in each group:");
        let mut rows = Vec::new();
        for tp in self.partitions() {
            let owner = |group: &str| {
                workers
                    .iter()
                    .filter(|w| w.group == group && w.owned.lock().contains(&tp))
                    .map(|w| w.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            rows.push(vec![tp.to_string(), owner(NOTIFICATIONS), owner(ANALYTICS)]);
        }
        print_table(
            &["partition", NOTIFICATIONS, ANALYTICS],
            &[false, false, false],
            &rows,
        );
    }

    /// The table group / topic / partition / committed / log end / lag.
    fn print_lag(&self, caption: &str) {
        self.say(caption);
        let ends: Vec<(TopicPartition, Offset)> =
            self.partitions().into_iter().zip(self.log_ends()).collect();
        let mut rows = Vec::new();
        for group in [NOTIFICATIONS, ANALYTICS] {
            let lag = self.store.lag(&GroupId::from(group), &ends);
            for p in &lag.partitions {
                rows.push(vec![
                    group.to_string(),
                    p.partition.topic.to_string(),
                    p.partition.partition.to_string(),
                    show(p.committed),
                    p.log_end.to_string(),
                    p.lag.map_or_else(|| "-".to_string(), |l| l.to_string()),
                ]);
            }
            rows.push(vec![
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                "total".into(),
                if lag.unknown > 0 {
                    format!("{}+?", lag.total)
                } else {
                    lag.total.to_string()
                },
            ]);
        }
        print_table(
            &["group", "topic", "partition", "committed", "log end", "lag"],
            &[false, false, true, true, true, true],
            &rows,
        );
        for group in [NOTIFICATIONS, ANALYTICS] {
            println!("  {group:<13}  {}", self.state(group));
        }
    }
}
