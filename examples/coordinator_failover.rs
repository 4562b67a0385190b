//! The group coordinator fails over twice while a consumer group reads and commits: once in
//! the middle of a rebalance, once while commits stream in. No committed offset is lost.
//!
//! ```text
//! cargo run --release --example coordinator_failover
//! ```
//!
//! A [`GroupService`] runs the coordinator over a [`LogOffsetStore`] whose records live in a
//! [`MemoryLog`] (the offsets log). A producer appends keyed records to a 4-partition topic,
//! and `alpha`, `bravo` and later `charlie` read it, committing (`commit_sync`) after every
//! batch they process. A failover, done through [`GroupService::with_coordinator`]:
//!
//! 1. Under the coordinator's lock, the committed offsets are read (every commit made before
//!    the failover is among them) and the coordinator gives up the group's offsets-log
//!    partition (`unload_partition`): the group goes, and requests it had parked are answered
//!    NOT_COORDINATOR.
//! 2. For a moment nobody owns the partition: every request of the group (heartbeats,
//!    commits, joins) is answered NOT_COORDINATOR, and the members look for the coordinator
//!    again, with backoff. Commits in that window fail, and are made again afterwards.
//! 3. A new coordinator takes over with a *new* store instance over the same offsets log: the
//!    store replays the partition (`LogOffsetStore::load`) and the coordinator rebuilds the
//!    group from its last metadata record (`load_partition`). The members find it and carry
//!    on.
//!
//! The first failover strikes as `charlie` joins, while the group is preparing a rebalance:
//! the rebalance in progress dies with the old coordinator and is done again on the new one.
//! The second strikes in a stable generation, with commits in flight. The demo prints, each
//! time, the committed offsets before and after, and the generations; it checks that every
//! offset committed before a failover is still there after it (the replayed store answers the
//! same offsets), and that at the end every partition's committed offset is its log end. It
//! exits non-zero otherwise. Timeouts are short (session 1.5 s, heartbeat 250 ms): the whole
//! story takes a few seconds; times and offsets vary from run to run.

mod common;

use common::{print_table, wrap};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use consumer_groups::consumer::{ConsumerConfig, ConsumerEvent, OffsetReset};
use consumer_groups::coordinator::{CoordinatorConfig, GroupCoordinator, GroupState};
use consumer_groups::log::MemoryLog;
use consumer_groups::offsets::{LogOffsetStore, OffsetStore};
use consumer_groups::sync::{Consumer, GroupService, Producer, Topics};
use consumer_groups::{Generation, GroupId, Offset, TopicPartition};
use crossbeam_channel::{Receiver, Sender, unbounded};

const TOPIC: &str = "orders";
const PARTITIONS: u32 = 4;
const GROUP: &str = "billing";
const SESSION_TIMEOUT_MS: u64 = 1_500;
const HEARTBEAT_INTERVAL_MS: u64 = 250;
const ASSIGNOR: &str = "range";
/// One record every this often: about 500 records a second.
const PRODUCE_EVERY: Duration = Duration::from_millis(2);
/// How long records flow between two steps.
const FLOW: Duration = Duration::from_millis(400);
/// How long nobody owns the group's offsets-log partition during a failover.
const GAP: Duration = Duration::from_millis(300);
/// The longest a step may take to settle before the demo gives up.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("coordinator_failover: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    let mut demo = Demo::start()?;
    println!(
        "{}",
        wrap(
            &format!(
                "Topic {TOPIC} ({PARTITIONS} partitions), group {GROUP} (offsets-log partition \
                 {}), assignor {ASSIGNOR}. Consumers commit after every batch they process; \
                 session timeout {SESSION_TIMEOUT_MS} ms, heartbeat {HEARTBEAT_INTERVAL_MS} ms. \
                 A producer appends about {} records a second. Times are seconds since the \
                 start; they and the offsets vary from run to run.",
                demo.partition,
                1_000 / PRODUCE_EVERY.as_millis().max(1)
            ),
            0
        )
    );

    demo.step("alpha and bravo join");
    demo.spawn("alpha")?;
    demo.spawn("bravo")?;
    demo.settle(&["alpha", "bravo"])?;
    thread::sleep(FLOW);

    demo.step("charlie joins, and the coordinator fails over during the rebalance");
    demo.spawn("charlie")?;
    demo.await_rebalance()?;
    let since = demo.failover()?;
    demo.settle(&["alpha", "bravo", "charlie"])?;
    demo.await_commits(&since)?;
    thread::sleep(FLOW);

    demo.step("the coordinator fails over again, in a stable generation, with commits in flight");
    let since = demo.failover()?;
    demo.settle(&["alpha", "bravo", "charlie"])?;
    demo.await_commits(&since)?;
    thread::sleep(FLOW);

    demo.step("the producer stops; the consumers drain to the log end and commit");
    demo.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Commit whenever a poll finds nothing new.
    Drain,
    /// `close` and stop.
    Close,
}

#[derive(Debug)]
enum Note {
    Assigned {
        name: &'static str,
        generation: Generation,
        assignment: Vec<TopicPartition>,
    },
    Commit {
        name: &'static str,
        result: Result<(), String>,
    },
    Failed {
        name: &'static str,
        error: String,
    },
}

struct Running {
    commands: Sender<Command>,
    thread: JoinHandle<()>,
}

struct Demo {
    start: Instant,
    service: GroupService,
    config: CoordinatorConfig,
    /// The offsets log: what survives a coordinator.
    log: Arc<MemoryLog>,
    /// The store of the coordinator in charge now.
    store: Arc<LogOffsetStore>,
    group: GroupId,
    /// The group's offsets-log partition.
    partition: u32,
    topics: Topics,
    produced: Arc<AtomicU64>,
    producing: Arc<AtomicBool>,
    producer: Option<JoinHandle<()>>,
    notes_tx: Sender<Note>,
    notes: Receiver<Note>,
    consumers: BTreeMap<&'static str, Running>,
    history: BTreeMap<Generation, BTreeMap<&'static str, Vec<TopicPartition>>>,
    printed: Generation,
    /// Per consumer: successful commits, and failed ones by error.
    commits: BTreeMap<&'static str, (u64, BTreeMap<String, u64>)>,
    steps: usize,
    failovers: usize,
    /// What went wrong: a lost commit, a consumer error.
    problems: Vec<String>,
}

impl Demo {
    fn start() -> Result<Demo, String> {
        let log = Arc::new(MemoryLog::new(50));
        let store = Arc::new(LogOffsetStore::new(log.clone()));
        let config = CoordinatorConfig {
            min_session_timeout_ms: 500,
            initial_rebalance_delay_ms: 0,
            ..CoordinatorConfig::default()
        };
        let service = GroupService::start(config.clone(), store.clone());
        let topics = Topics::new();
        topics
            .create(TOPIC, PARTITIONS)
            .map_err(|e| e.to_string())?;
        let group = GroupId::from(GROUP);
        let partition = store.partition_of(&group);

        let produced = Arc::new(AtomicU64::new(0));
        let producing = Arc::new(AtomicBool::new(true));
        let producer = {
            let producer = Producer::new(topics.clone(), service.clock());
            let produced = produced.clone();
            let producing = producing.clone();
            thread::spawn(move || {
                let mut n = 0u64;
                while producing.load(Ordering::Relaxed) {
                    let key = format!("customer-{}", n % 100);
                    let value = format!("order-{n}");
                    if producer
                        .send(TOPIC, Some(key.as_bytes()), value.as_bytes())
                        .is_ok()
                    {
                        n += 1;
                        produced.store(n, Ordering::Relaxed);
                    }
                    thread::sleep(PRODUCE_EVERY);
                }
            })
        };
        let (notes_tx, notes) = unbounded();
        Ok(Demo {
            start: Instant::now(),
            service,
            config,
            log,
            store,
            group,
            partition,
            topics,
            produced,
            producing,
            producer: Some(producer),
            notes_tx,
            notes,
            consumers: BTreeMap::new(),
            history: BTreeMap::new(),
            printed: Generation::NONE,
            commits: BTreeMap::new(),
            steps: 0,
            failovers: 0,
            problems: Vec::new(),
        })
    }

    fn elapsed(&self) -> String {
        format!("[{:5.2}s]", self.start.elapsed().as_secs_f64())
    }

    fn step(&mut self, title: &str) {
        self.steps += 1;
        let heading = format!("── {} {}. {title} ", self.elapsed(), self.steps);
        let pad = 100usize.saturating_sub(heading.chars().count());
        println!("\n{heading}{}", "─".repeat(pad));
    }

    fn say(&self, text: &str) {
        println!("{}", wrap(&format!("{} {text}", self.elapsed()), 9));
    }

    fn spawn(&mut self, name: &'static str) -> Result<(), String> {
        let mut config = ConsumerConfig::new(GROUP);
        config.client_id = name.into();
        config.session_timeout_ms = SESSION_TIMEOUT_MS;
        config.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS;
        config.max_poll_interval_ms = 5_000;
        config.request_timeout_ms = 2_000;
        config.enable_auto_commit = false;
        config.auto_offset_reset = OffsetReset::Earliest;
        config.assignors = vec![ASSIGNOR.into()];
        let mut consumer = Consumer::new(config, &self.service, self.topics.clone())
            .map_err(|e| format!("{name}: {e}"))?;
        consumer
            .subscribe([TOPIC])
            .map_err(|e| format!("{name}: {e}"))?;
        let (commands, inbox) = unbounded();
        let notes = self.notes_tx.clone();
        let thread = thread::spawn(move || consume(name, consumer, &inbox, &notes));
        self.consumers.insert(name, Running { commands, thread });
        Ok(())
    }

    fn take_notes(&mut self) {
        while let Ok(note) = self.notes.try_recv() {
            match note {
                Note::Assigned {
                    name,
                    generation,
                    assignment,
                } => {
                    self.history
                        .entry(generation)
                        .or_default()
                        .insert(name, assignment);
                }
                Note::Commit { name, result } => {
                    let entry = self.commits.entry(name).or_default();
                    match result {
                        Ok(()) => entry.0 += 1,
                        Err(e) => *entry.1.entry(e).or_default() += 1,
                    }
                }
                Note::Failed { name, error } => {
                    self.say(&format!("{name}: stopped on an error: {error}"));
                    self.problems.push(format!("{name}: {error}"));
                }
            }
        }
    }

    /// The group's state and generation on the coordinator in charge.
    fn group(&self) -> (Option<GroupState>, Option<Generation>, usize) {
        self.service.with_coordinator(|c, _| {
            (
                c.group_state(GROUP),
                c.generation(GROUP),
                c.members(GROUP).len(),
            )
        })
    }

    /// Waits until the group is stable with exactly `live` and each has reported the
    /// generation; prints the new generations and the committed offsets.
    fn settle(&mut self, live: &[&str]) -> Result<Generation, String> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            self.take_notes();
            let (state, generation, members) = self.group();
            if let (Some(GroupState::Stable), Some(generation)) = (state, generation) {
                let reported = self
                    .history
                    .get(&generation)
                    .is_some_and(|g| live.iter().all(|n| g.contains_key(n)));
                if members == live.len() && reported {
                    self.print_generations(generation);
                    self.print_offsets("committed offsets (lag = log end − committed)");
                    return Ok(generation);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the group did not settle with {live:?} within {SETTLE_LIMIT:?} \
                     (state {state:?}, generation {generation:?}, {members} members)"
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the coordinator has started a rebalance.
    fn await_rebalance(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            let (state, generation, members) = self.group();
            if matches!(
                state,
                Some(GroupState::PreparingRebalance | GroupState::CompletingRebalance)
            ) {
                self.say(&format!(
                    "the group is {} (generation {}, {members} members): charlie's JoinGroup \
                     started a rebalance",
                    state.map_or("-", |s| s.name()),
                    generation.map_or_else(|| "-".into(), |g| g.to_string()),
                ));
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("charlie's join started no rebalance".into());
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    fn print_generations(&mut self, upto: Generation) {
        if upto <= self.printed {
            self.say(&format!(
                "the group is stable in generation {upto} again, with the same members and \
                 assignment: no rebalance was needed"
            ));
            return;
        }
        let gens: Vec<Generation> = self
            .history
            .range(self.printed.next()..=upto)
            .map(|(g, _)| *g)
            .collect();
        for generation in gens {
            let members = &self.history[&generation];
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|(name, assignment)| vec![(*name).to_string(), partition_list(assignment)])
                .collect();
            println!(
                "{} generation {generation}: {} member(s)",
                self.elapsed(),
                members.len()
            );
            print_table(&["member", "partitions"], &[false, false], &rows);
        }
        self.printed = upto;
    }

    fn committed(&self) -> Vec<Option<Offset>> {
        let tps: Vec<TopicPartition> = (0..PARTITIONS as i32)
            .map(|p| TopicPartition::new(TOPIC, p))
            .collect();
        self.store
            .fetch(&self.group, &tps, false)
            .into_iter()
            .map(|r| r.ok().flatten().map(|c| c.offset))
            .collect()
    }

    fn print_offsets(&self, caption: &str) {
        let committed = self.committed();
        let rows: Vec<Vec<String>> = (0..PARTITIONS as i32)
            .map(|p| {
                let tp = TopicPartition::new(TOPIC, p);
                let end = self.topics.end_offset(&tp).map_or(0, |o| o.0);
                let c = committed[p as usize];
                vec![
                    tp.to_string(),
                    end.to_string(),
                    c.map_or_else(|| "-".into(), |o| o.0.to_string()),
                    c.map_or_else(|| "-".into(), |o| (end - o.0).max(0).to_string()),
                ]
            })
            .collect();
        println!("{} {caption}", self.elapsed());
        print_table(
            &["partition", "log end", "committed", "lag"],
            &[false, true, true, true],
            &rows,
        );
    }

    /// Drops the coordinator and brings up a new one over a new store on the same offsets log;
    /// checks that every offset committed before is still committed after.
    fn failover(&mut self) -> Result<(Instant, BTreeMap<&'static str, u64>), String> {
        self.take_notes();
        let since: BTreeMap<&'static str, u64> =
            self.commits.iter().map(|(n, (ok, _))| (*n, *ok)).collect();
        let at = Instant::now();
        self.failovers += 1;
        let p = self.partition;
        let old_store = self.store.clone();
        let group = self.group.clone();
        // Under the lock: no commit can land between the snapshot and the unload.
        let (before, state, generation) = self.service.with_coordinator(|c, _| {
            let before = old_store.fetch_all(&group, false);
            let state = c.group_state(GROUP);
            let generation = c.generation(GROUP);
            c.unload_partition(p);
            (before, state, generation)
        });
        self.say(&format!(
            "failover {}: the coordinator gives up offsets-log partition {p} with group {GROUP} \
             {} in generation {}; requests it had parked are answered NOT_COORDINATOR, and \
             for {} ms every request of the group gets NOT_COORDINATOR",
            self.failovers,
            state.map_or("-", |s| s.name()),
            generation.map_or_else(|| "-".into(), |g| g.to_string()),
            GAP.as_millis()
        ));
        thread::sleep(GAP);

        // The new coordinator: a new store over the same offsets log, replayed, then a new
        // GroupCoordinator that loads the partition's groups from it.
        let new_store = Arc::new(LogOffsetStore::new(self.log.clone()));
        let config = self.config.clone();
        let (loaded, state, generation, members, after) =
            self.service.with_coordinator(|c, now| {
                let loaded = new_store.load(p);
                *c = GroupCoordinator::new(config, new_store.clone());
                c.load_partition(now, p);
                // Still under the lock: what the replay found, before any member commits again.
                let after = new_store.fetch_all(&group, false);
                (
                    loaded,
                    c.group_state(GROUP),
                    c.generation(GROUP),
                    c.members(GROUP).len(),
                    after,
                )
            });
        let loaded = loaded.map_err(|e| format!("replaying the offsets log: {e}"))?;
        self.store = new_store;
        self.say(&format!(
            "a new coordinator with a new store replays partition {p} ({} records: {} committed \
             offsets, {} group(s)) and loads group {GROUP}: {} in generation {}, {members} \
             member(s), from its last metadata record",
            loaded.records,
            loaded.offsets,
            loaded.groups,
            state.map_or("-", |s| s.name()),
            generation.map_or_else(|| "-".into(), |g| g.to_string()),
        ));

        let after: BTreeMap<TopicPartition, Offset> = after
            .into_iter()
            .filter_map(|(tp, r)| r.ok().map(|c| (tp, c.offset)))
            .collect();
        let mut rows = Vec::new();
        for (tp, r) in before {
            let Ok(c) = r else { continue };
            let now = after.get(&tp).copied();
            let kept = now == Some(c.offset);
            if !kept {
                self.problems.push(format!(
                    "failover {}: {tp} had {} committed, the new coordinator has {now:?}",
                    self.failovers, c.offset.0
                ));
            }
            rows.push(vec![
                tp.to_string(),
                c.offset.0.to_string(),
                now.map_or_else(|| "-".into(), |o| o.0.to_string()),
                if kept { "yes" } else { "LOST" }.to_string(),
            ]);
        }
        print_table(
            &["partition", "committed before", "after the replay", "kept"],
            &[false, true, true, false],
            &rows,
        );
        Ok((at, since))
    }

    /// Waits until every consumer has committed successfully since `since` (through the new
    /// coordinator).
    fn await_commits(
        &mut self,
        (at, since): &(Instant, BTreeMap<&'static str, u64>),
    ) -> Result<(), String> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            self.take_notes();
            let done = self.consumers.keys().all(|n| {
                self.commits.get(n).map_or(0, |c| c.0) > since.get(n).copied().unwrap_or(0)
            });
            if done {
                self.say(&format!(
                    "every member has committed through the new coordinator ({:.2} s after the \
                     failover began)",
                    at.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the members did not commit through the new coordinator".into());
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn finish(&mut self) -> Result<bool, String> {
        self.producing.store(false, Ordering::Relaxed);
        if let Some(producer) = self.producer.take() {
            producer
                .join()
                .map_err(|_| "the producer thread panicked".to_string())?;
        }
        let produced = self.produced.load(Ordering::Relaxed);
        let ends: Vec<i64> = (0..PARTITIONS as i32)
            .map(|p| {
                self.topics
                    .end_offset(&TopicPartition::new(TOPIC, p))
                    .map_or(0, |o| o.0)
            })
            .collect();
        self.say(&format!("producer stopped after {produced} records"));
        for running in self.consumers.values() {
            let _ = running.commands.send(Command::Drain);
        }
        let deadline = Instant::now() + SETTLE_LIMIT;
        let reached = loop {
            self.take_notes();
            let done = self
                .committed()
                .iter()
                .zip(&ends)
                .all(|(c, end)| c.is_some_and(|c| c.0 == *end));
            if done {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            thread::sleep(Duration::from_millis(10));
        };
        let names: Vec<&'static str> = self.consumers.keys().copied().collect();
        for name in names {
            if let Some(running) = self.consumers.remove(name) {
                let _ = running.commands.send(Command::Close);
                running
                    .thread
                    .join()
                    .map_err(|_| format!("{name}'s thread panicked"))?;
            }
        }
        self.take_notes();
        self.print_offsets("committed offsets at the end");

        println!("\n── final tally {}", "─".repeat(86));
        let rows: Vec<Vec<String>> = self
            .commits
            .iter()
            .map(|(name, (ok, failed))| {
                let failed: Vec<String> =
                    failed.iter().map(|(e, n)| format!("{n} × {e}")).collect();
                vec![
                    (*name).to_string(),
                    ok.to_string(),
                    if failed.is_empty() {
                        "-".into()
                    } else {
                        failed.join(", ")
                    },
                ]
            })
            .collect();
        print_table(
            &["member", "commits ok", "commits failed (made again later)"],
            &[false, true, false],
            &rows,
        );
        let committed_ok = self
            .committed()
            .iter()
            .zip(&ends)
            .all(|(c, end)| c.is_some_and(|c| c.0 == *end));
        let ok = reached && committed_ok && self.problems.is_empty();
        if ok {
            println!(
                "OK: after {} failovers every offset committed before each was still committed \
                 after it, and every partition's committed offset is its log end.",
                self.failovers
            );
        } else {
            println!(
                "FAILED: committed offsets at the log end: {committed_ok}; problems: {:?}",
                self.problems
            );
        }
        Ok(ok)
    }
}

/// The consumer thread: poll, process, commit after every batch (and on revocation).
fn consume(
    name: &'static str,
    mut consumer: Consumer,
    inbox: &Receiver<Command>,
    notes: &Sender<Note>,
) {
    let mut draining = false;
    let mut uncommitted = false;
    loop {
        match inbox.try_recv() {
            Ok(Command::Drain) => draining = true,
            Ok(Command::Close) => {
                if let Err(e) = consumer.close() {
                    let _ = notes.send(Note::Failed {
                        name,
                        error: format!("close: {e}"),
                    });
                }
                return;
            }
            Err(_) => {}
        }
        let polled = match consumer.poll(Duration::from_millis(50)) {
            Ok(polled) => polled,
            Err(e) => {
                let _ = notes.send(Note::Failed {
                    name,
                    error: format!("poll: {e}"),
                });
                return;
            }
        };
        for event in polled.events {
            match event {
                ConsumerEvent::PartitionsRevoked { .. } => {
                    let result = consumer.commit_sync(None).map_err(|e| e.to_string());
                    let _ = notes.send(Note::Commit { name, result });
                }
                ConsumerEvent::PartitionsAssigned {
                    assignment,
                    generation,
                    ..
                } => {
                    let _ = notes.send(Note::Assigned {
                        name,
                        generation,
                        assignment,
                    });
                }
                ConsumerEvent::Fatal { error } => {
                    let _ = notes.send(Note::Failed {
                        name,
                        error: format!("fatal: {error:?}"),
                    });
                }
                _ => {}
            }
        }
        // Processing would happen here; then the batch is committed.
        if !polled.records.is_empty() {
            uncommitted = true;
        }
        if uncommitted && (!polled.records.is_empty() || draining) {
            let result = consumer.commit_sync(None).map_err(|e| e.to_string());
            if result.is_ok() {
                uncommitted = false;
            }
            let _ = notes.send(Note::Commit { name, result });
        }
    }
}

/// `orders: 0, 1`, or `(none: idle)`.
fn partition_list(partitions: &[TopicPartition]) -> String {
    if partitions.is_empty() {
        return "(none: idle)".into();
    }
    let numbers: Vec<String> = partitions
        .iter()
        .map(|tp| tp.partition.to_string())
        .collect();
    format!("{}: {}", partitions[0].topic, numbers.join(", "))
}
