//! The crate's main demo: one consumer group over a 5-partition topic while records keep
//! arriving, through joins, a clean leave, a crash and a restart.
//!
//! ```text
//! cargo run --release --example rebalance
//! ```
//!
//! Everything runs in one process: a [`GroupService`] (the group coordinator on its own driver
//! thread), in-memory [`Topics`], a producer thread appending keyed records at a steady rate,
//! and one thread per [`Consumer`]. The story, one step at a time:
//!
//! 1. `alpha`, `bravo` and `charlie` join one by one; each join is a rebalance and a new
//!    generation, and the assignment table (member → partitions) is printed for each.
//! 2. `bravo` leaves cleanly with `close`: it commits and sends LeaveGroup, so its partitions
//!    move at once.
//! 3. `charlie` crashes (dropped without `close`): nobody tells the coordinator, so its
//!    partitions move only when its session times out.
//! 4. `charlie` comes back as a new consumer, with a new member id.
//! 5. The producer stops, the consumers drain to the end of the log and commit, and a tally
//!    checks the at-least-once contract: nothing lost, and the only records processed twice
//!    are those `charlie` processed after its last commit, before it crashed.
//!
//! Committed offsets per partition are printed at every step. Timeouts are short (session
//! 1.5 s, heartbeat 250 ms) so the whole story takes a few seconds; times in the output, and the
//! offsets, vary from run to run. The demo exits non-zero if a record was lost.
//!
//! The group uses the eager `range` assignor: every rebalance revokes every partition, and
//! each member commits before it rejoins. Set [`ASSIGNOR`] to `"cooperative-sticky"` to watch
//! the cooperative protocol instead: each change takes two generations, and only the
//! partitions that move are revoked.

mod common;

use common::{print_table, short_id, wrap};
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
use consumer_groups::{Generation, GroupId, MemberId, Offset, TopicPartition};
use crossbeam_channel::{Receiver, Sender, unbounded};
use parking_lot::Mutex;

const TOPIC: &str = "orders";
const PARTITIONS: u32 = 5;
const GROUP: &str = "billing";
const SESSION_TIMEOUT_MS: u64 = 1_500;
const HEARTBEAT_INTERVAL_MS: u64 = 250;
const AUTO_COMMIT_INTERVAL_MS: u64 = 1_000;
/// The eager protocol: every rebalance revokes everything, and each member commits before it
/// rejoins.
const ASSIGNOR: &str = "range";
/// One record every this often: about 500 records a second.
const PRODUCE_EVERY: Duration = Duration::from_millis(2);
/// How long records flow between two steps.
const FLOW: Duration = Duration::from_millis(400);
/// The longest a step may take to settle before the demo gives up.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("rebalance: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The story. `Ok(false)` when the final check fails.
fn run() -> Result<bool, String> {
    let demo = Demo::start()?;
    let mut demo = demo;
    println!(
        "{}",
        wrap(
            &format!(
                "Topic {TOPIC} ({PARTITIONS} partitions), group {GROUP}, assignor {ASSIGNOR} \
                 (eager). Consumers: session timeout {SESSION_TIMEOUT_MS} ms, heartbeat \
                 {HEARTBEAT_INTERVAL_MS} ms, auto-commit every {AUTO_COMMIT_INTERVAL_MS} ms, and \
                 a commit_sync on every revocation. A producer appends keyed records (about {} a \
                 second) for the whole story. Times are seconds since the start; they and the \
                 offsets vary from run to run.",
                1_000 / PRODUCE_EVERY.as_millis().max(1)
            ),
            0
        )
    );

    demo.step("alpha joins");
    demo.spawn("alpha")?;
    demo.settle(&["alpha"])?;
    demo.flow();

    demo.step("bravo joins");
    demo.spawn("bravo")?;
    demo.settle(&["alpha", "bravo"])?;
    demo.flow();

    demo.step("charlie joins");
    demo.spawn("charlie")?;
    demo.settle(&["alpha", "bravo", "charlie"])?;
    demo.flow();

    demo.step("bravo leaves cleanly (close: it commits, then sends LeaveGroup)");
    demo.stop("bravo", Command::Close)?;
    demo.say("bravo closed; the coordinator rebalances at once");
    demo.settle(&["alpha", "charlie"])?;
    demo.flow();

    demo.step("charlie crashes (dropped without close: no commit, no LeaveGroup)");
    let crashed_at = demo.start.elapsed();
    let window = demo.crash("charlie")?;
    demo.settle(&["alpha"])?;
    let moved = demo.start.elapsed().saturating_sub(crashed_at);
    demo.say(&format!(
        "charlie's partitions moved {:.2} s after the crash",
        moved.as_secs_f64()
    ));
    demo.flow();

    demo.step("charlie comes back");
    demo.say(
        "as a new Consumer with dynamic membership: it gets a new member id (the old one was \
         evicted at the session timeout), and the group rebalances. A static member \
         (group_instance_id) restarted within the session timeout would instead have kept its \
         partitions without a rebalance.",
    );
    demo.spawn("charlie")?;
    demo.settle(&["alpha", "charlie"])?;
    demo.flow();

    demo.step("the producer stops; the consumers drain to the log end and commit");
    demo.finish(&window)
}

/// What the main thread tells a consumer thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Keep reading, and commit whenever a poll comes back empty.
    Drain,
    /// `close` the consumer (commit, leave the group) and stop.
    Close,
    /// Drop the consumer without `close`: a crash.
    Crash,
}

/// What a consumer thread tells the main thread.
#[derive(Debug)]
enum Note {
    Assigned {
        name: &'static str,
        member: MemberId,
        generation: Generation,
        assignment: Vec<TopicPartition>,
    },
    Revoked {
        name: &'static str,
        partitions: Vec<TopicPartition>,
        commit: Result<(), String>,
    },
    Lost {
        name: &'static str,
        partitions: Vec<TopicPartition>,
    },
    Failed {
        name: &'static str,
        error: String,
    },
}

/// How often each record was processed, by partition and offset.
#[derive(Debug, Default)]
struct Ledger {
    counts: Mutex<Vec<Vec<u32>>>,
}

impl Ledger {
    fn new() -> Ledger {
        Ledger {
            counts: Mutex::new(vec![Vec::new(); PARTITIONS as usize]),
        }
    }

    fn record(&self, tp: &TopicPartition, offset: Offset) {
        let (Ok(p), Ok(o)) = (usize::try_from(tp.partition), usize::try_from(offset.0)) else {
            return;
        };
        let mut counts = self.counts.lock();
        let Some(partition) = counts.get_mut(p) else {
            return;
        };
        if partition.len() <= o {
            partition.resize(o + 1, 0);
        }
        partition[o] += 1;
    }
}

/// One partition of a crashed consumer: how many records it processed past the last commit.
struct CrashRow {
    partition: TopicPartition,
    again: u64,
}

/// A running consumer thread.
struct Running {
    commands: Sender<Command>,
    thread: JoinHandle<Vec<(TopicPartition, Offset)>>,
}

/// Everything the story shares.
struct Demo {
    start: Instant,
    service: Arc<GroupService>,
    store: Arc<LogOffsetStore>,
    topics: Topics,
    ledger: Arc<Ledger>,
    produced: Arc<AtomicU64>,
    producing: Arc<AtomicBool>,
    producer: Option<JoinHandle<()>>,
    notes_tx: Sender<Note>,
    notes: Receiver<Note>,
    consumers: BTreeMap<&'static str, Running>,
    /// Per generation, what each member reported: member id and assignment.
    history: BTreeMap<Generation, BTreeMap<&'static str, (MemberId, Vec<TopicPartition>)>>,
    /// The last generation whose table was printed.
    printed: Generation,
    steps: usize,
    failed: Vec<String>,
}

impl Demo {
    fn start() -> Result<Demo, String> {
        let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
        let config = CoordinatorConfig {
            min_session_timeout_ms: 500,
            initial_rebalance_delay_ms: 0,
            ..CoordinatorConfig::default()
        };
        let service = Arc::new(GroupService::start(config, store.clone()));
        let topics = Topics::new();
        topics
            .create(TOPIC, PARTITIONS)
            .map_err(|e| e.to_string())?;

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
            store,
            topics,
            ledger: Arc::new(Ledger::new()),
            produced,
            producing,
            producer: Some(producer),
            notes_tx,
            notes,
            consumers: BTreeMap::new(),
            history: BTreeMap::new(),
            printed: Generation::NONE,
            steps: 0,
            failed: Vec::new(),
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

    /// Lets records flow for a while.
    fn flow(&self) {
        thread::sleep(FLOW);
    }

    /// Starts a consumer thread.
    fn spawn(&mut self, name: &'static str) -> Result<(), String> {
        let mut config = ConsumerConfig::new(GROUP);
        config.client_id = name.into();
        config.session_timeout_ms = SESSION_TIMEOUT_MS;
        config.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS;
        config.max_poll_interval_ms = 5_000;
        config.request_timeout_ms = 3_000;
        config.enable_auto_commit = true;
        config.auto_commit_interval_ms = AUTO_COMMIT_INTERVAL_MS;
        config.auto_offset_reset = OffsetReset::Earliest;
        config.assignors = vec![ASSIGNOR.into()];
        let mut consumer = Consumer::new(config, &self.service, self.topics.clone())
            .map_err(|e| format!("{name}: {e}"))?;
        consumer
            .subscribe([TOPIC])
            .map_err(|e| format!("{name}: {e}"))?;
        let (commands, inbox) = unbounded();
        let notes = self.notes_tx.clone();
        let ledger = self.ledger.clone();
        let thread = thread::spawn(move || consume(name, consumer, &inbox, &notes, &ledger));
        self.consumers.insert(name, Running { commands, thread });
        Ok(())
    }

    /// Stops a consumer thread with `Close` or `Crash`; a crash returns, per partition the
    /// consumer owned, the offset after the last record it processed.
    fn stop(
        &mut self,
        name: &'static str,
        how: Command,
    ) -> Result<Vec<(TopicPartition, Offset)>, String> {
        let running = self
            .consumers
            .remove(name)
            .ok_or_else(|| format!("no consumer {name}"))?;
        let _ = running.commands.send(how);
        running
            .thread
            .join()
            .map_err(|_| format!("{name}'s thread panicked"))
    }

    /// Takes the consumers' notes: revocations and losses are printed as they come,
    /// assignments are kept for the generation tables.
    fn take_notes(&mut self) {
        while let Ok(note) = self.notes.try_recv() {
            match note {
                Note::Assigned {
                    name,
                    member,
                    generation,
                    assignment,
                } => {
                    self.history
                        .entry(generation)
                        .or_default()
                        .insert(name, (member, assignment));
                }
                Note::Revoked {
                    name,
                    partitions,
                    commit,
                } => {
                    let what = match commit {
                        Ok(()) => "committed its position (commit_sync) before rejoining".into(),
                        Err(e) => format!("its commit failed: {e}"),
                    };
                    self.say(&format!(
                        "{name}: revoked {}; {what}",
                        partition_list(&partitions)
                    ));
                }
                Note::Lost { name, partitions } => self.say(&format!(
                    "{name}: lost {} (membership ended; nothing committed)",
                    partition_list(&partitions)
                )),
                Note::Failed { name, error } => {
                    self.say(&format!("{name}: stopped on an error: {error}"));
                    self.failed.push(format!("{name}: {error}"));
                }
            }
        }
    }

    /// Waits until the group is stable with exactly `live` as members and each of them has
    /// reported the group's generation; then prints every generation since the last table,
    /// and the committed offsets.
    fn settle(&mut self, live: &[&str]) -> Result<Generation, String> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            self.take_notes();
            let (state, generation, members) = self.service.with_coordinator(|c, _| {
                (
                    c.group_state(GROUP),
                    c.generation(GROUP),
                    c.members(GROUP).len(),
                )
            });
            if let (Some(GroupState::Stable), Some(generation)) = (state, generation) {
                let reported = self
                    .history
                    .get(&generation)
                    .is_some_and(|g| live.iter().all(|n| g.contains_key(n)));
                if members == live.len() && reported {
                    self.print_generations(generation);
                    self.print_offsets(
                        generation,
                        "committed offsets (lag = log end − committed, while the log grows; - = none yet)",
                    );
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

    /// Prints the assignment table of every generation after the last one printed, up to
    /// `upto`.
    fn print_generations(&mut self, upto: Generation) {
        let leader = self
            .service
            .with_coordinator(|c, _| c.leader(GROUP))
            .map(|m| m.to_string());
        let gens: Vec<Generation> = self
            .history
            .range(self.printed.next()..=upto)
            .map(|(g, _)| *g)
            .collect();
        for generation in gens {
            let members = &self.history[&generation];
            let mut rows = Vec::new();
            let mut owned = 0;
            for (name, (member, assignment)) in members {
                owned += assignment.len();
                let role = if generation == upto && leader.as_deref() == Some(member.as_str()) {
                    "leader"
                } else {
                    ""
                };
                rows.push(vec![
                    (*name).to_string(),
                    short_id(member),
                    role.to_string(),
                    partition_list(assignment),
                ]);
            }
            println!(
                "{} generation {generation}: {} member(s), {owned} of {PARTITIONS} partitions assigned",
                self.elapsed(),
                members.len()
            );
            print_table(
                &["member", "member id", "role", "partitions"],
                &[false, false, false, false],
                &rows,
            );
        }
        self.printed = upto;
    }

    /// The owner of each partition in `generation`, by name.
    fn owners(&self, generation: Generation) -> BTreeMap<i32, &'static str> {
        let mut out = BTreeMap::new();
        if let Some(members) = self.history.get(&generation) {
            for (name, (_, assignment)) in members {
                for tp in assignment {
                    out.insert(tp.partition, *name);
                }
            }
        }
        out
    }

    /// The group's committed offset of each partition.
    fn committed(&self) -> Vec<Option<Offset>> {
        let group = GroupId::from(GROUP);
        let tps: Vec<TopicPartition> = (0..PARTITIONS as i32)
            .map(|p| TopicPartition::new(TOPIC, p))
            .collect();
        self.store
            .fetch(&group, &tps, false)
            .into_iter()
            .map(|r| r.ok().flatten().map(|c| c.offset))
            .collect()
    }

    fn print_offsets(&self, generation: Generation, caption: &str) {
        let owners = self.owners(generation);
        let committed = self.committed();
        let mut rows = Vec::new();
        for p in 0..PARTITIONS as i32 {
            let tp = TopicPartition::new(TOPIC, p);
            let end = self.topics.end_offset(&tp).map_or(0, |o| o.0);
            let c = committed[p as usize];
            rows.push(vec![
                tp.to_string(),
                owners.get(&p).copied().unwrap_or("-").to_string(),
                end.to_string(),
                c.map_or_else(|| "-".into(), |o| o.0.to_string()),
                c.map_or_else(|| "-".into(), |o| (end - o.0).max(0).to_string()),
            ]);
        }
        println!("{} {caption}", self.elapsed());
        print_table(
            &["partition", "owner", "log end", "committed", "lag"],
            &[false, false, true, true, true],
            &rows,
        );
    }

    /// Crashes consumer `name` and prints what it had processed but not committed: per
    /// partition it owned, the offset after its last processed record and the committed
    /// offset, read once it is gone (nobody else commits those partitions until they move).
    fn crash(&mut self, name: &'static str) -> Result<Vec<CrashRow>, String> {
        let processed = self.stop(name, Command::Crash)?;
        self.say(&format!(
            "{name} is gone; its partitions stay with it until its session times out \
             ({SESSION_TIMEOUT_MS} ms after its last heartbeat)"
        ));
        let committed = self.committed();
        let mut window = Vec::new();
        let mut rows = Vec::new();
        for (tp, upto) in processed {
            let c = committed
                .get(tp.partition as usize)
                .copied()
                .flatten()
                .map_or(0, |o| o.0);
            let again = (upto.0 - c).max(0);
            rows.push(vec![
                tp.to_string(),
                upto.0.to_string(),
                c.to_string(),
                again.to_string(),
            ]);
            window.push(CrashRow {
                partition: tp,
                again: u64::try_from(again).unwrap_or(0),
            });
        }
        let total: u64 = window.iter().map(|r| r.again).sum();
        self.say(&format!(
            "{name} had processed {total} record(s) past its last commit; whoever takes its \
             partitions over will read them again (at-least-once)"
        ));
        print_table(
            &[
                "partition",
                "processed up to",
                "committed",
                "to be read again",
            ],
            &[false, true, true, true],
            &rows,
        );
        Ok(window)
    }

    /// Stops the producer, drains, closes the consumers and prints the tally. `window` is the
    /// crash's uncommitted range.
    fn finish(&mut self, window: &[CrashRow]) -> Result<bool, String> {
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
        loop {
            self.take_notes();
            let committed = self.committed();
            let done = committed
                .iter()
                .zip(&ends)
                .all(|(c, end)| c.is_some_and(|c| c.0 == *end));
            if done {
                break;
            }
            if Instant::now() > deadline {
                self.say("the consumers did not commit up to the log end in time");
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.say("every partition committed up to its log end; closing the consumers");
        let names: Vec<&'static str> = self.consumers.keys().copied().collect();
        for name in names {
            self.stop(name, Command::Close)?;
        }
        self.take_notes();
        let state = self
            .service
            .with_coordinator(|c, _| c.group_state(GROUP))
            .map_or("-", |s| s.name());
        let generation = self.printed;
        self.print_offsets(
            generation,
            "committed offsets at the end (owner: the last one, now closed)",
        );
        self.say(&format!("group {GROUP} is {state}"));

        // The tally.
        let counts = self.ledger.counts.lock().clone();
        let mut processed = 0u64;
        let mut twice = 0u64;
        let mut more = 0u64;
        let mut lost = 0u64;
        let mut dup_rows = Vec::new();
        for (p, end) in ends.iter().enumerate() {
            let seen = &counts[p];
            let mut dups = 0u64;
            for o in 0..usize::try_from(*end).unwrap_or(0) {
                match seen.get(o).copied().unwrap_or(0) {
                    0 => lost += 1,
                    1 => {}
                    2 => dups += 1,
                    _ => more += 1,
                }
            }
            processed += seen.iter().map(|&c| u64::from(c)).sum::<u64>();
            twice += dups;
            let expected = window
                .iter()
                .find(|r| r.partition.partition as usize == p)
                .map_or(0, |r| r.again);
            if dups > 0 || expected > 0 {
                dup_rows.push(vec![
                    format!("{TOPIC}:{p}"),
                    dups.to_string(),
                    expected.to_string(),
                ]);
            }
        }
        let expected_total: u64 = window.iter().map(|r| r.again).sum();
        let committed_ok = self
            .committed()
            .iter()
            .zip(&ends)
            .all(|(c, end)| c.is_some_and(|c| c.0 == *end));

        println!("\n── final tally {}", "─".repeat(86));
        print_table(
            &["", "records"],
            &[false, true],
            &[
                vec!["produced".into(), produced.to_string()],
                vec!["processed (deliveries)".into(), processed.to_string()],
                vec!["processed twice".into(), twice.to_string()],
                vec!["processed three times or more".into(), more.to_string()],
                vec!["lost (never processed)".into(), lost.to_string()],
            ],
        );
        if !dup_rows.is_empty() {
            println!("  where the duplicates are, against what charlie had not committed:");
            print_table(
                &["partition", "processed twice", "uncommitted at the crash"],
                &[false, true, true],
                &dup_rows,
            );
        }
        println!(
            "{}",
            wrap(
                &format!(
                    "Duplicates are expected: charlie crashed without committing \
                     {expected_total} record(s) it had already processed, so the member that \
                     took its partitions over resumed at the last committed offset and \
                     processed them again. That is the at-least-once contract: commit after \
                     processing, and a crash between the two repeats work instead of losing it."
                ),
                0
            )
        );
        if twice != expected_total || more > 0 {
            println!(
                "Note: {twice} record(s) processed twice and {more} three times or more, where \
                 the crash explains {expected_total}."
            );
        }
        let ok = lost == 0
            && committed_ok
            && u64::try_from(ends.iter().sum::<i64>()).unwrap_or(0) == produced
            && self.failed.is_empty();
        if ok {
            println!("OK: no record lost, and every partition's committed offset is its log end.");
        } else {
            println!(
                "FAILED: {lost} record(s) lost; committed offsets at the log end: {committed_ok}; \
                 consumer errors: {:?}",
                self.failed
            );
        }
        Ok(ok)
    }
}

/// The consumer thread: poll, process, commit on revocation, obey commands. Returns, after a
/// crash, the offset after the last record processed in each partition it owned.
fn consume(
    name: &'static str,
    mut consumer: Consumer,
    inbox: &Receiver<Command>,
    notes: &Sender<Note>,
    ledger: &Ledger,
) -> Vec<(TopicPartition, Offset)> {
    let mut draining = false;
    let mut uncommitted = false;
    let mut seen: BTreeMap<TopicPartition, Offset> = BTreeMap::new();
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
                return Vec::new();
            }
            Ok(Command::Crash) => {
                let owned = consumer.assignment();
                drop(consumer);
                return seen
                    .into_iter()
                    .filter(|(tp, _)| owned.contains(tp))
                    .collect();
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
                return Vec::new();
            }
        };
        for event in polled.events {
            match event {
                ConsumerEvent::PartitionsRevoked { partitions } => {
                    // Commit what was processed before the partitions move.
                    let commit = consumer.commit_sync(None).map_err(|e| e.to_string());
                    for tp in &partitions {
                        seen.remove(tp);
                    }
                    let _ = notes.send(Note::Revoked {
                        name,
                        partitions,
                        commit,
                    });
                }
                ConsumerEvent::PartitionsAssigned {
                    assignment,
                    generation,
                    ..
                } => {
                    let _ = notes.send(Note::Assigned {
                        name,
                        member: consumer.member_id(),
                        generation,
                        assignment,
                    });
                }
                ConsumerEvent::PartitionsLost { partitions } => {
                    for tp in &partitions {
                        seen.remove(tp);
                    }
                    let _ = notes.send(Note::Lost { name, partitions });
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
        // Processing: note each record in the ledger.
        for record in &polled.records {
            ledger.record(&record.partition, record.offset);
            seen.insert(record.partition.clone(), Offset(record.offset.0 + 1));
        }
        // Draining: commit once a poll finds nothing new (auto-commit would get there too,
        // within its interval).
        if !polled.records.is_empty() {
            uncommitted = true;
        } else if draining && uncommitted {
            match consumer.commit_sync(None) {
                Ok(()) => uncommitted = false,
                Err(e) => {
                    let _ = notes.send(Note::Failed {
                        name,
                        error: format!("commit: {e}"),
                    });
                }
            }
        }
    }
}

/// `orders: 0, 1, 2`, or `(none: idle)`.
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
