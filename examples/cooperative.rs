//! Eager versus cooperative rebalancing on the same membership change: which partitions stop
//! being processed, and for how long.
//!
//! ```text
//! cargo run --release --example cooperative
//! ```
//!
//! Three consumers (`alpha`, `bravo`, `charlie`) read a 12-partition topic while a producer
//! appends to every partition at a steady rate; then a fourth, `delta`, joins. The same story
//! runs twice, in two fresh groups:
//!
//! 1. **eager** (`range`): when the group rebalances, every member gives up every partition
//!    before it rejoins (a `PartitionsRevoked` with its whole assignment), and gets its new
//!    assignment only when the whole group has rejoined and synced. Every partition stops,
//!    including those that end up with the same owner.
//! 2. **cooperative** (`cooperative-sticky`, KIP-429): members keep their partitions through
//!    the rebalance; only the partitions that move to `delta` are revoked (after the first
//!    rebalance), and they are handed to `delta` by a second one. The others never stop.
//!
//! Every record processed is timed. Per partition the demo prints the owner before and after
//! the join, whether the partition was revoked, and its stall: the longest gap between two
//! records processed in a row, from the join until the group has settled and records have
//! flowed a while longer (for a revoked partition, that is the gap between the last record
//! processed before the revocation and the first one processed by its new owner). The steady
//! gap before the join is printed for comparison. Times vary from run to run.
//!
//! How long a revoked partition stalls depends on when its members learn of the rebalance. The
//! members of a group heartbeat in step after a rebalance, so the eager group usually rejoins
//! within one heartbeat and its stall is short, though it hits every partition. The
//! cooperative group's moved partitions stall longer: they are revoked after the first
//! rebalance and wait for the second, which the members that gave nothing up only notice at
//! their next heartbeat.
//!
//! The demo exits non-zero unless the eager group revoked every partition and the cooperative
//! group revoked exactly the partitions that moved, and those only.

mod common;

use common::{print_table, wrap};
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use consumer_groups::TopicPartition;
use consumer_groups::consumer::{ConsumerConfig, ConsumerEvent, OffsetReset};
use consumer_groups::coordinator::{CoordinatorConfig, GroupState};
use consumer_groups::log::MemoryLog;
use consumer_groups::offsets::LogOffsetStore;
use consumer_groups::sync::{Consumer, GroupService, Producer, Topics};
use crossbeam_channel::{Receiver, Sender, unbounded};
use parking_lot::Mutex;

const TOPIC: &str = "clicks";
const PARTITIONS: u32 = 12;
const FIRST: [&str; 3] = ["alpha", "bravo", "charlie"];
const JOINER: &str = "delta";
const SESSION_TIMEOUT_MS: u64 = 3_000;
const HEARTBEAT_INTERVAL_MS: u64 = 300;
/// One record every this often, round-robin over the partitions: each partition gets one
/// about every 12 ms.
const PRODUCE_EVERY: Duration = Duration::from_millis(1);
/// How long records flow before the join, and after the group has settled.
const FLOW: Duration = Duration::from_millis(500);
/// The longest any wait may take before the demo gives up.
const WAIT_LIMIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("cooperative: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    println!(
        "{}",
        wrap(
            &format!(
                "Topic {TOPIC} ({PARTITIONS} partitions), members {} and then {JOINER}; session \
                 timeout {SESSION_TIMEOUT_MS} ms, heartbeat {HEARTBEAT_INTERVAL_MS} ms (members \
                 learn of a rebalance at their next heartbeat). A producer appends about {} \
                 records a second, round-robin. Times are seconds since each scenario's start; \
                 they vary from run to run.",
                FIRST.join(", "),
                1_000 / PRODUCE_EVERY.as_millis().max(1)
            ),
            0
        )
    );
    let eager = Scenario::run("range", false)?;
    let cooperative = Scenario::run("cooperative-sticky", true)?;

    println!("\n── per partition, side by side {}", "─".repeat(69));
    let mut rows = Vec::new();
    for p in 0..PARTITIONS as usize {
        let mut row = vec![format!("{TOPIC}:{p}")];
        for outcome in [&eager, &cooperative] {
            let r = &outcome.rows[p];
            row.push(format!("{} → {}", r.before, r.after));
            row.push(if r.revoked { "yes" } else { "no" }.into());
            row.push(ms(r.stall));
        }
        rows.push(row);
    }
    println!("  {:<10}  {:<32}  cooperative-sticky", "", "eager (range)");
    print_table(
        &[
            "partition",
            "owner",
            "revoked",
            "stall ms",
            "owner",
            "revoked",
            "stall ms",
        ],
        &[false, false, false, true, false, false, true],
        &rows,
    );

    println!("\n── summary {}", "─".repeat(89));
    let mut summary = Vec::new();
    for (label, o) in [
        ("eager (range)", &eager),
        ("cooperative-sticky", &cooperative),
    ] {
        let revoked: Vec<f64> = o
            .rows
            .iter()
            .filter(|r| r.revoked)
            .map(|r| r.stall)
            .collect();
        let kept: Vec<f64> = o
            .rows
            .iter()
            .filter(|r| !r.revoked)
            .map(|r| r.stall)
            .collect();
        summary.push(vec![
            label.to_string(),
            o.moved.to_string(),
            revoked.len().to_string(),
            range_ms(&revoked),
            kept.len().to_string(),
            range_ms(&kept),
            ms(o.steady),
            o.rebalances.to_string(),
        ]);
    }
    print_table(
        &[
            "assignor",
            "moved",
            "revoked",
            "their stall ms",
            "kept",
            "their stall ms",
            "steady gap ms",
            "generations",
        ],
        &[false, true, true, true, true, true, true, true],
        &summary,
    );
    println!(
        "{}",
        wrap(
            "(moved: partitions whose owner changed; revoked / kept: partitions taken from their \
             owner or not, with the range of their stalls; steady gap: the longest gap between \
             two records of one partition in the second before the join; generations: \
             rebalances the join took.)",
            1
        )
    );

    let mut ok = true;
    for (label, o) in [("eager", &eager), ("cooperative", &cooperative)] {
        for problem in &o.problems {
            println!("FAILED ({label}): {problem}");
            ok = false;
        }
    }
    if ok {
        println!(
            "{}",
            wrap(
                &format!(
                    "OK: eager revoked all {PARTITIONS} partitions, even the {} that kept their \
                     owner; cooperative revoked only the {} that moved to {JOINER}, and the \
                     other {} kept flowing through both rebalances.",
                    eager.rows.iter().filter(|r| r.before == r.after).count(),
                    cooperative.moved,
                    PARTITIONS as usize - cooperative.moved
                ),
                0
            )
        );
    }
    Ok(ok)
}

/// What a consumer thread tells the main thread.
#[derive(Debug)]
enum Note {
    Assigned {
        name: &'static str,
        generation: i32,
        assignment: Vec<TopicPartition>,
    },
    Revoked {
        name: &'static str,
        at: f64,
        partitions: Vec<TopicPartition>,
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

/// When each record was processed, per partition, in seconds since the scenario's start.
struct Ledger {
    start: Instant,
    times: Mutex<Vec<Vec<f64>>>,
}

/// One partition's story in one scenario.
struct Row {
    before: &'static str,
    after: &'static str,
    revoked: bool,
    /// Seconds.
    stall: f64,
}

/// What one scenario found.
struct Outcome {
    rows: Vec<Row>,
    moved: usize,
    /// The longest steady gap before the join, seconds.
    steady: f64,
    rebalances: i32,
    problems: Vec<String>,
}

struct Running {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

struct Scenario {
    group: &'static str,
    ledger: Arc<Ledger>,
    service: GroupService,
    topics: Topics,
    assignor: &'static str,
    notes_tx: Sender<Note>,
    notes: Receiver<Note>,
    consumers: BTreeMap<&'static str, Running>,
    /// Each member's latest generation and assignment.
    latest: BTreeMap<&'static str, (i32, Vec<TopicPartition>)>,
    /// Revocations after the join: partition → (member, time).
    revoked: BTreeMap<i32, Vec<(&'static str, f64)>>,
    counting: bool,
    failed: Vec<String>,
}

impl Scenario {
    fn run(assignor: &'static str, cooperative: bool) -> Result<Outcome, String> {
        let heading = format!(
            "── {} ({assignor}) ",
            if cooperative { "cooperative" } else { "eager" }
        );
        let pad = 100usize.saturating_sub(heading.chars().count());
        println!("\n{heading}{}", "─".repeat(pad));

        let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
        let config = CoordinatorConfig {
            min_session_timeout_ms: 500,
            initial_rebalance_delay_ms: 0,
            ..CoordinatorConfig::default()
        };
        let service = GroupService::start(config, store);
        let topics = Topics::new();
        topics
            .create(TOPIC, PARTITIONS)
            .map_err(|e| e.to_string())?;
        let ledger = Arc::new(Ledger {
            start: Instant::now(),
            times: Mutex::new(vec![Vec::new(); PARTITIONS as usize]),
        });
        let producing = Arc::new(AtomicBool::new(true));
        let producer = {
            let producer = Producer::new(topics.clone(), service.clock());
            let producing = producing.clone();
            thread::spawn(move || {
                let mut n = 0u64;
                while producing.load(Ordering::Relaxed) {
                    let value = format!("click-{n}");
                    if producer.send(TOPIC, None, value.as_bytes()).is_ok() {
                        n += 1;
                    }
                    thread::sleep(PRODUCE_EVERY);
                }
            })
        };
        let (notes_tx, notes) = unbounded();
        let mut s = Scenario {
            group: if cooperative { "cooperative" } else { "eager" },
            ledger,
            service,
            topics,
            assignor,
            notes_tx,
            notes,
            consumers: BTreeMap::new(),
            latest: BTreeMap::new(),
            revoked: BTreeMap::new(),
            counting: false,
            failed: Vec::new(),
        };

        for name in FIRST {
            s.spawn(name)?;
        }
        let before_gen = s.settle()?;
        let before = s.owners();
        s.say(&format!(
            "stable at generation {before_gen}: {}",
            s.assignment_summary()
        ));
        thread::sleep(FLOW);

        let joined = s.now();
        s.counting = true;
        s.spawn(JOINER)?;
        s.say(&format!("{JOINER} joins"));
        let after_gen = s.settle()?;
        let settled = s.now();
        let after = s.owners();
        s.say(&format!(
            "stable at generation {after_gen} ({} after the join): {}",
            after_gen - before_gen,
            s.assignment_summary()
        ));
        let by_member = s.revocations_by_member();
        for (name, (at, partitions)) in &by_member {
            s.say(&format!(
                "{name} was revoked {} at {at:.2} s",
                partition_list(partitions)
            ));
        }
        thread::sleep(FLOW);
        let end = s.now();
        let names: Vec<&'static str> = s.consumers.keys().copied().collect();
        for name in names {
            s.stop(name)?;
        }
        producing.store(false, Ordering::Relaxed);
        producer
            .join()
            .map_err(|_| "the producer thread panicked".to_string())?;
        s.take_notes();

        // Per partition: owners, revocation, stall.
        let times = s.ledger.times.lock().clone();
        let steady_from = joined - 1.0_f64.min(FLOW.as_secs_f64());
        let mut steady = 0.0_f64;
        let mut rows = Vec::new();
        let mut rows_out = Vec::new();
        let mut problems = Vec::new();
        for p in 0..PARTITIONS as i32 {
            let t = &times[p as usize];
            steady = steady.max(max_gap(t, steady_from, joined));
            let stall = max_gap(t, joined, end);
            let was_revoked = s.revoked.get(&p).is_some_and(|r| !r.is_empty());
            let b = before.get(&p).copied().unwrap_or("-");
            let a = after.get(&p).copied().unwrap_or("-");
            let revoked_at = s
                .revoked
                .get(&p)
                .and_then(|r| r.first())
                .map_or("-".into(), |(_, at)| format!("{at:.2}"));
            rows.push(vec![
                format!("{TOPIC}:{p}"),
                b.to_string(),
                a.to_string(),
                if b == a { "" } else { "moved" }.to_string(),
                if was_revoked { "yes" } else { "no" }.to_string(),
                revoked_at,
                ms(stall),
            ]);
            if cooperative {
                if was_revoked && a == b {
                    problems.push(format!("{TOPIC}:{p} was revoked but did not move"));
                }
                if !was_revoked && a != b {
                    problems.push(format!("{TOPIC}:{p} moved without a revocation"));
                }
            } else if !was_revoked {
                problems.push(format!("{TOPIC}:{p} was not revoked"));
            }
            rows_out.push(Row {
                before: b,
                after: a,
                revoked: was_revoked,
                stall,
            });
        }
        let moved = rows_out.iter().filter(|r| r.before != r.after).count();
        if cooperative && (moved == 0 || moved == PARTITIONS as usize) {
            problems.push(format!("{moved} partitions moved"));
        }
        if after.len() != PARTITIONS as usize {
            problems.push(format!(
                "{} of {PARTITIONS} partitions assigned after the join",
                after.len()
            ));
        }
        s.say(&format!(
            "per partition (stall: the longest gap between two records processed in a row, from \
             the join at {joined:.2} s to {end:.2} s; settled at {settled:.2} s; steady gap before \
             the join: {} ms)",
            ms(steady)
        ));
        print_table(
            &[
                "partition",
                "owner before",
                "after",
                "",
                "revoked",
                "at",
                "stall ms",
            ],
            &[false, false, false, false, false, true, true],
            &rows,
        );
        problems.extend(s.failed.iter().cloned());
        Ok(Outcome {
            rows: rows_out,
            moved,
            steady,
            rebalances: after_gen - before_gen,
            problems,
        })
    }

    fn now(&self) -> f64 {
        self.ledger.start.elapsed().as_secs_f64()
    }

    fn elapsed(&self) -> String {
        format!("[{:5.2}s]", self.now())
    }

    fn say(&self, text: &str) {
        println!("{}", wrap(&format!("{} {text}", self.elapsed()), 9));
    }

    fn spawn(&mut self, name: &'static str) -> Result<(), String> {
        let mut config = ConsumerConfig::new(self.group);
        config.client_id = name.into();
        config.session_timeout_ms = SESSION_TIMEOUT_MS;
        config.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS;
        config.request_timeout_ms = 2_000;
        config.auto_offset_reset = OffsetReset::Earliest;
        config.assignors = vec![self.assignor.into()];
        let mut consumer = Consumer::new(config, &self.service, self.topics.clone())
            .map_err(|e| format!("{name}: {e}"))?;
        consumer
            .subscribe([TOPIC])
            .map_err(|e| format!("{name}: {e}"))?;
        let (stop, inbox) = unbounded();
        let notes = self.notes_tx.clone();
        let ledger = self.ledger.clone();
        let thread = thread::spawn(move || consume(name, consumer, &inbox, &notes, &ledger));
        self.consumers.insert(name, Running { stop, thread });
        Ok(())
    }

    fn stop(&mut self, name: &'static str) -> Result<(), String> {
        let running = self
            .consumers
            .remove(name)
            .ok_or_else(|| format!("no consumer {name}"))?;
        let _ = running.stop.send(());
        running
            .thread
            .join()
            .map_err(|_| format!("{name}'s thread panicked"))
    }

    fn take_notes(&mut self) {
        while let Ok(note) = self.notes.try_recv() {
            match note {
                Note::Assigned {
                    name,
                    generation,
                    assignment,
                } => {
                    self.latest.insert(name, (generation, assignment));
                }
                Note::Revoked {
                    name,
                    at,
                    partitions,
                } => {
                    if self.counting {
                        for tp in partitions {
                            self.revoked
                                .entry(tp.partition)
                                .or_default()
                                .push((name, at));
                        }
                    }
                }
                Note::Lost { name, partitions } => {
                    self.failed.push(format!(
                        "{name} lost {} (its membership ended)",
                        partition_list(&partitions)
                    ));
                }
                Note::Failed { name, error } => {
                    self.say(&format!("{name}: stopped on an error: {error}"));
                    self.failed.push(format!("{name}: {error}"));
                }
            }
        }
    }

    /// Waits until the group is stable with every running consumer in it, each has reported
    /// the group's generation, and every partition is assigned (a cooperative group is not
    /// done while the partitions it revoked are still on their way).
    fn settle(&mut self) -> Result<i32, String> {
        let deadline = Instant::now() + WAIT_LIMIT;
        let group = self.group;
        loop {
            self.take_notes();
            let (state, generation, members) = self.service.with_coordinator(|c, _| {
                (
                    c.group_state(group),
                    c.generation(group),
                    c.members(group).len(),
                )
            });
            if let (Some(GroupState::Stable), Some(generation)) = (state, generation) {
                let reported = self.consumers.keys().all(|n| {
                    self.latest
                        .get(n)
                        .is_some_and(|(g, a)| *g == generation.get() && !a.is_empty())
                });
                if members == self.consumers.len()
                    && reported
                    && self.owners().len() == PARTITIONS as usize
                {
                    return Ok(generation.get());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{group}: the group did not settle within {WAIT_LIMIT:?} (state {state:?}, \
                     generation {generation:?}, {members} members)"
                ));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Each partition's owner, by the running members' latest assignments.
    fn owners(&self) -> BTreeMap<i32, &'static str> {
        let mut out = BTreeMap::new();
        for (name, (_, assignment)) in &self.latest {
            if self.consumers.contains_key(name) {
                for tp in assignment {
                    out.insert(tp.partition, *name);
                }
            }
        }
        out
    }

    fn assignment_summary(&self) -> String {
        self.latest
            .iter()
            .filter(|(name, _)| self.consumers.contains_key(*name))
            .map(|(name, (_, a))| format!("{name} [{}]", partition_list(a)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Per member: when it was first revoked after the join, and what it gave up.
    fn revocations_by_member(&self) -> BTreeMap<&'static str, (f64, Vec<TopicPartition>)> {
        let mut out: BTreeMap<&'static str, (f64, Vec<TopicPartition>)> = BTreeMap::new();
        for (p, revocations) in &self.revoked {
            for (name, at) in revocations {
                let entry = out.entry(name).or_insert((*at, Vec::new()));
                entry.0 = entry.0.min(*at);
                entry.1.push(TopicPartition::new(TOPIC, *p));
            }
        }
        out
    }
}

/// The consumer thread: poll, time every record, commit on revocation, stop on command.
fn consume(
    name: &'static str,
    mut consumer: Consumer,
    stop: &Receiver<()>,
    notes: &Sender<Note>,
    ledger: &Ledger,
) {
    loop {
        if stop.try_recv().is_ok() {
            if let Err(e) = consumer.close() {
                let _ = notes.send(Note::Failed {
                    name,
                    error: format!("close: {e}"),
                });
            }
            return;
        }
        let polled = match consumer.poll(Duration::from_millis(20)) {
            Ok(polled) => polled,
            Err(e) => {
                let _ = notes.send(Note::Failed {
                    name,
                    error: format!("poll: {e}"),
                });
                return;
            }
        };
        let at = ledger.start.elapsed().as_secs_f64();
        for event in polled.events {
            let note = match event {
                ConsumerEvent::PartitionsRevoked { partitions } => {
                    // Commit what was processed before the partitions move.
                    if let Err(e) = consumer.commit_sync(None) {
                        let _ = notes.send(Note::Failed {
                            name,
                            error: format!("commit: {e}"),
                        });
                    }
                    Note::Revoked {
                        name,
                        at,
                        partitions,
                    }
                }
                ConsumerEvent::PartitionsLost { partitions } => Note::Lost { name, partitions },
                ConsumerEvent::PartitionsAssigned {
                    assignment,
                    generation,
                    ..
                } => Note::Assigned {
                    name,
                    generation: generation.get(),
                    assignment,
                },
                ConsumerEvent::Fatal { error } => Note::Failed {
                    name,
                    error: format!("fatal: {error:?}"),
                },
                _ => continue,
            };
            let _ = notes.send(note);
        }
        if !polled.records.is_empty() {
            let mut times = ledger.times.lock();
            for record in &polled.records {
                if let Some(t) = usize::try_from(record.partition.partition)
                    .ok()
                    .and_then(|p| times.get_mut(p))
                {
                    t.push(at);
                }
            }
        }
    }
}

/// The longest gap between two consecutive times in `times` (sorted) that overlaps
/// `[from, to]`.
fn max_gap(times: &[f64], from: f64, to: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .windows(2)
        .filter(|w| w[1] >= from && w[0] <= to)
        .map(|w| w[1] - w[0])
        .fold(0.0, f64::max)
}

fn ms(seconds: f64) -> String {
    format!("{:.0}", seconds * 1_000.0)
}

fn range_ms(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    format!("{}–{}", ms(lo), ms(hi))
}

/// `0, 1, 2`, or `(none)`.
fn partition_list(partitions: &[TopicPartition]) -> String {
    if partitions.is_empty() {
        return "(none)".into();
    }
    let set: BTreeSet<i32> = partitions.iter().map(|tp| tp.partition).collect();
    set.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
