//! Static membership (KIP-345): a member that restarts within its session timeout gets its
//! partitions back without a rebalance.
//!
//! ```text
//! cargo run --release --example static_membership
//! ```
//!
//! Three consumers (`alpha`, `bravo`, `charlie`) share a 6-partition topic with the eager
//! `range` assignor. Once the group is stable, `bravo` restarts: its consumer is closed, and
//! after a pause (the process coming back up) a new `Consumer` with the same configuration
//! joins. The same story runs twice, in two fresh groups:
//!
//! 1. **static**: every member sets `ConsumerConfig::group_instance_id`. A static member's
//!    `close` sends no LeaveGroup, so the coordinator keeps `bravo`'s place (and its
//!    partitions) for the session timeout. The new consumer joins with the same instance id
//!    before that runs out: the coordinator swaps the new member id in for the old one and
//!    hands back the same assignment. The generation does not move, and `alpha` and `charlie`
//!    see nothing at all. The price: `bravo`'s partitions are not read while it is down.
//! 2. **dynamic**: no instance id. `close` sends LeaveGroup, so the group rebalances at once
//!    without `bravo` (generation + 1, every member's partitions revoked under the eager
//!    protocol), and again when the new consumer joins (generation + 2), as a stranger with a
//!    new member id.
//!
//! For each scenario the demo prints the group's state changes as the coordinator saw them
//! (state, generation, member count, with times in seconds since the scenario's start) and a
//! table per member: member id, partitions and generation before and after the restart, the
//! revocations it was handed and the rebalances (new generations) it took part in. Member ids
//! and times vary from run to run. The demo exits non-zero unless the static restart caused no
//! rebalance (same generation, same partitions, no revocation anywhere) and the dynamic one
//! caused exactly two.

mod common;

use common::{print_table, short_id, wrap};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use consumer_groups::consumer::{ConsumerConfig, ConsumerEvent, OffsetReset};
use consumer_groups::coordinator::{CoordinatorConfig, GroupState};
use consumer_groups::log::MemoryLog;
use consumer_groups::offsets::LogOffsetStore;
use consumer_groups::sync::{Consumer, GroupService, Topics};
use consumer_groups::{Generation, GroupInstanceId, MemberId, TopicPartition};
use crossbeam_channel::{Receiver, Sender, unbounded};

const TOPIC: &str = "events";
const PARTITIONS: u32 = 6;
const NAMES: [&str; 3] = ["alpha", "bravo", "charlie"];
/// The member that restarts.
const RESTARTS: &str = "bravo";
const ASSIGNOR: &str = "range";
const SESSION_TIMEOUT_MS: u64 = 2_000;
const HEARTBEAT_INTERVAL_MS: u64 = 200;
/// How long the restarting member is down: well within the session timeout.
const DOWNTIME: Duration = Duration::from_millis(700);
/// How long the group is watched after the restart for a rebalance that should not come.
const WATCH: Duration = Duration::from_millis(600);
/// The longest any wait may take before the demo gives up.
const WAIT_LIMIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("static_membership: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    println!(
        "{}",
        wrap(
            &format!(
                "Topic {TOPIC} ({PARTITIONS} partitions), members {}, assignor {ASSIGNOR} \
                 (eager), session timeout {SESSION_TIMEOUT_MS} ms, heartbeat \
                 {HEARTBEAT_INTERVAL_MS} ms. {RESTARTS} restarts: close, {} ms down, then a new \
                 Consumer with the same configuration. Times are seconds since each scenario's \
                 start; member ids and times vary from run to run.",
                NAMES.join(", "),
                DOWNTIME.as_millis()
            ),
            0
        )
    );
    let static_ok = Scenario::run(true)?;
    let dynamic_ok = Scenario::run(false)?;

    println!("\n── summary {}", "─".repeat(89));
    let mut ok = true;
    for (label, outcome) in [("static", &static_ok), ("dynamic", &dynamic_ok)] {
        for problem in &outcome.problems {
            println!("FAILED ({label}): {problem}");
            ok = false;
        }
    }
    print_table(
        &[
            "membership",
            "generation before",
            "after",
            "rebalances",
            "revocations (all members)",
        ],
        &[false, true, true, true, true],
        &[
            static_ok.summary_row("static"),
            dynamic_ok.summary_row("dynamic"),
        ],
    );
    if ok {
        println!(
            "{}",
            wrap(
                "OK: the static member came back within its session timeout to the same \
                 partitions and the same generation, and nobody saw a rebalance; the dynamic \
                 member's restart cost the group two rebalances, each revoking every member's \
                 partitions.",
                0
            )
        );
    }
    Ok(ok)
}

/// What the main thread tells a consumer thread.
enum Command {
    /// `close` the consumer and stop.
    Close,
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
    },
    Lost {
        name: &'static str,
    },
    Failed {
        name: &'static str,
        error: String,
    },
}

/// The last assignment a member reported.
#[derive(Debug, Clone)]
struct Seen {
    member: MemberId,
    generation: Generation,
    assignment: Vec<TopicPartition>,
}

/// After the baseline: what a member was handed.
#[derive(Debug, Default, Clone)]
struct Tally {
    revocations: u32,
    lost: u32,
    /// Generations newer than the baseline in which the member got an assignment.
    generations: Vec<Generation>,
}

struct Running {
    commands: Sender<Command>,
    thread: JoinHandle<()>,
}

/// What one scenario found.
struct Outcome {
    before: Generation,
    after: Generation,
    revocations: u32,
    problems: Vec<String>,
}

impl Outcome {
    fn summary_row(&self, label: &str) -> Vec<String> {
        vec![
            label.to_string(),
            self.before.to_string(),
            self.after.to_string(),
            (self.after.get() - self.before.get()).to_string(),
            self.revocations.to_string(),
        ]
    }
}

struct Scenario {
    start: Instant,
    group: &'static str,
    static_members: bool,
    service: GroupService,
    topics: Topics,
    notes_tx: Sender<Note>,
    notes: Receiver<Note>,
    consumers: BTreeMap<&'static str, Running>,
    latest: BTreeMap<&'static str, Seen>,
    tally: BTreeMap<&'static str, Tally>,
    baseline: Option<Generation>,
    failed: Vec<String>,
    /// The group as the coordinator saw it, one row per change, and the restart's steps:
    /// (time, state, generation, members, what happened).
    timeline: Vec<(f64, String, String, usize, String)>,
}

impl Scenario {
    fn run(static_members: bool) -> Result<Outcome, String> {
        let label = if static_members { "static" } else { "dynamic" };
        let heading = format!(
            "── {label} membership{} ",
            if static_members {
                " (group_instance_id set)"
            } else {
                " (no group_instance_id)"
            }
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
        let (notes_tx, notes) = unbounded();
        let mut s = Scenario {
            start: Instant::now(),
            group: if static_members {
                "static-group"
            } else {
                "dynamic-group"
            },
            static_members,
            service,
            topics,
            notes_tx,
            notes,
            consumers: BTreeMap::new(),
            latest: BTreeMap::new(),
            tally: BTreeMap::new(),
            baseline: None,
            failed: Vec::new(),
            timeline: Vec::new(),
        };

        for name in NAMES {
            s.spawn(name)?;
        }
        let before_gen = s.settle(NAMES.len(), None)?;
        let before = s.latest.clone();
        s.baseline = Some(before_gen);
        s.say(&format!(
            "stable: generation {before_gen}, {} members",
            NAMES.len()
        ));

        // The restart.
        let closed_at = Instant::now();
        let since = s.start.elapsed().as_secs_f64();
        s.stop(RESTARTS)?;
        s.mark(&format!("{RESTARTS} closed"), since);
        s.say(&if static_members {
            format!(
                "{RESTARTS} closed (static: no LeaveGroup; the coordinator keeps its place for \
                 the session timeout)"
            )
        } else {
            format!("{RESTARTS} closed (dynamic: LeaveGroup; the group rebalances without it)")
        });
        s.watch_until(closed_at + DOWNTIME);
        if !static_members {
            // A dynamic restart that is quicker than the rebalance would fold into it; this
            // one comes back once the group has settled without it.
            s.settle(NAMES.len() - 1, None)?;
        }
        let since = s.start.elapsed().as_secs_f64();
        s.spawn(RESTARTS)?;
        s.mark(&format!("{RESTARTS} restarted"), since);
        s.say(&format!(
            "{RESTARTS} restarted after {:.2} s: a new Consumer with the same configuration",
            closed_at.elapsed().as_secs_f64()
        ));
        let expected = if static_members {
            before_gen
        } else {
            Generation(before_gen.get() + 2)
        };
        let after_gen = s.settle(NAMES.len(), Some(expected))?;
        // Watch a while longer (for the static group: past the moment the old incarnation's
        // session would have run out) to be sure no rebalance follows.
        let session_end = closed_at + Duration::from_millis(SESSION_TIMEOUT_MS);
        let watch_end = if static_members {
            (Instant::now() + WATCH).max(session_end + Duration::from_millis(200))
        } else {
            Instant::now() + WATCH
        };
        s.watch_until(watch_end);
        let after_gen = s
            .service
            .with_coordinator(|c, _| c.generation(s.group))
            .unwrap_or(after_gen);
        s.say(&format!(
            "watched until {:.2} s after the close; the group is at generation {after_gen}",
            closed_at.elapsed().as_secs_f64()
        ));
        for name in NAMES {
            s.stop(name)?;
        }
        s.take_notes();
        Ok(s.report(&before, before_gen, after_gen))
    }

    fn elapsed(&self) -> String {
        format!("[{:5.2}s]", self.start.elapsed().as_secs_f64())
    }

    fn say(&self, text: &str) {
        println!("{}", wrap(&format!("{} {text}", self.elapsed()), 9));
    }

    fn spawn(&mut self, name: &'static str) -> Result<(), String> {
        let mut config = ConsumerConfig::new(self.group);
        config.client_id = name.into();
        if self.static_members {
            config.group_instance_id = Some(GroupInstanceId::from(format!("{name}-host")));
        }
        config.session_timeout_ms = SESSION_TIMEOUT_MS;
        config.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS;
        config.request_timeout_ms = 1_000;
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

    fn stop(&mut self, name: &'static str) -> Result<(), String> {
        let running = self
            .consumers
            .remove(name)
            .ok_or_else(|| format!("no consumer {name}"))?;
        let _ = running.commands.send(Command::Close);
        running
            .thread
            .join()
            .map_err(|_| format!("{name}'s thread panicked"))
    }

    fn take_notes(&mut self) {
        while let Ok(note) = self.notes.try_recv() {
            let counting = self.baseline.is_some();
            match note {
                Note::Assigned {
                    name,
                    member,
                    generation,
                    assignment,
                } => {
                    if self.baseline.is_some_and(|b| generation > b) {
                        self.tally
                            .entry(name)
                            .or_default()
                            .generations
                            .push(generation);
                    }
                    self.latest.insert(
                        name,
                        Seen {
                            member,
                            generation,
                            assignment,
                        },
                    );
                }
                Note::Revoked { name } if counting => {
                    self.tally.entry(name).or_default().revocations += 1;
                }
                Note::Lost { name } if counting => {
                    self.tally.entry(name).or_default().lost += 1;
                }
                Note::Revoked { .. } | Note::Lost { .. } => {}
                Note::Failed { name, error } => {
                    self.say(&format!("{name}: stopped on an error: {error}"));
                    self.failed.push(format!("{name}: {error}"));
                }
            }
        }
    }

    /// Samples the group once, adding a timeline row if anything changed.
    fn sample(&mut self) -> (Option<GroupState>, Option<Generation>, usize) {
        let group = self.group;
        let (state, generation, members) = self.service.with_coordinator(|c, _| {
            (
                c.group_state(group),
                c.generation(group),
                c.members(group).len(),
            )
        });
        let row = (
            self.start.elapsed().as_secs_f64(),
            state.map_or("-", |s| s.name()).to_string(),
            generation.map_or_else(|| "-".into(), |g| g.to_string()),
            members,
            String::new(),
        );
        let changed = self
            .timeline
            .last()
            .is_none_or(|last| (&last.1, &last.2, last.3) != (&row.1, &row.2, row.3));
        if changed {
            self.timeline.push(row);
        }
        (state, generation, members)
    }

    /// Adds a step of the restart to the timeline.
    /// `since`: when the step began, in seconds since the start.
    fn mark(&mut self, what: &str, since: f64) {
        self.sample();
        if let Some(last) = self.timeline.last_mut() {
            // A change the step itself caused: label that row.
            if last.4.is_empty() && last.0 >= since {
                last.4 = what.to_string();
                return;
            }
        }
        if let Some(last) = self.timeline.last() {
            let mut row = last.clone();
            row.0 = self.start.elapsed().as_secs_f64();
            row.4 = what.to_string();
            self.timeline.push(row);
        }
    }

    /// Watches the group (and takes notes) until `until`.
    fn watch_until(&mut self, until: Instant) {
        while Instant::now() < until {
            self.take_notes();
            self.sample();
            thread::sleep(Duration::from_millis(2));
        }
        self.take_notes();
    }

    /// Waits until the group is stable with `members` members (at generation `expected`, if
    /// given) and every running consumer has reported that generation's assignment.
    fn settle(
        &mut self,
        members: usize,
        expected: Option<Generation>,
    ) -> Result<Generation, String> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            self.take_notes();
            let (state, generation, count) = self.sample();
            if let (Some(GroupState::Stable), Some(generation)) = (state, generation) {
                let reported = self.consumers.keys().all(|n| {
                    self.latest
                        .get(n)
                        .is_some_and(|seen| seen.generation == generation)
                });
                if count == members
                    && reported
                    && self.consumers.len() == members
                    && expected.is_none_or(|e| e == generation)
                {
                    return Ok(generation);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{}: the group did not settle with {members} members within {WAIT_LIMIT:?} \
                     (state {state:?}, generation {generation:?}, {count} members)",
                    self.group
                ));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    fn report(
        &self,
        before: &BTreeMap<&'static str, Seen>,
        before_gen: Generation,
        after_gen: Generation,
    ) -> Outcome {
        println!("{} the group as the coordinator saw it:", self.elapsed());
        let rows: Vec<Vec<String>> = self
            .timeline
            .iter()
            .map(|(t, state, generation, members, what)| {
                vec![
                    format!("{t:.2}"),
                    state.clone(),
                    generation.clone(),
                    members.to_string(),
                    what.clone(),
                ]
            })
            .collect();
        print_table(
            &["time", "state", "generation", "members", "step"],
            &[true, false, true, true, false],
            &rows,
        );

        println!(
            "{} each member, before {RESTARTS}'s restart and after:",
            self.elapsed()
        );
        let mut rows = Vec::new();
        let mut problems = Vec::new();
        let mut all_revocations = 0;
        let mut ids = Vec::new();
        for name in NAMES {
            let b = before.get(name);
            let a = self.latest.get(name);
            let t = self.tally.get(name).cloned().unwrap_or_default();
            all_revocations += t.revocations;
            if let (Some(b), Some(a)) = (b, a) {
                if b.member != a.member {
                    ids.push(format!(
                        "{name} was {} and is now {}",
                        short_id(&b.member),
                        short_id(&a.member)
                    ));
                }
            }
            rows.push(vec![
                name.to_string(),
                if self.static_members {
                    format!("{name}-host")
                } else {
                    "-".into()
                },
                b.map_or("-".into(), |s| partition_list(&s.assignment)),
                a.map_or("-".into(), |s| partition_list(&s.assignment)),
                b.map_or("-".into(), |s| s.generation.to_string()),
                a.map_or("-".into(), |s| s.generation.to_string()),
                t.revocations.to_string(),
                t.generations.len().to_string(),
            ]);
            if self.static_members {
                let same = match (b, a) {
                    (Some(b), Some(a)) => b.assignment == a.assignment,
                    _ => false,
                };
                if !same {
                    problems.push(format!("{name}'s partitions changed"));
                }
                if t.revocations > 0 || t.lost > 0 || !t.generations.is_empty() {
                    problems.push(format!(
                        "{name} saw {} revocation(s), {} loss(es) and {} new generation(s)",
                        t.revocations,
                        t.lost,
                        t.generations.len()
                    ));
                }
            } else if name != RESTARTS && (t.revocations != 2 || t.generations.len() != 2) {
                problems.push(format!(
                    "{name} saw {} revocation(s) and {} new generation(s), not 2 and 2",
                    t.revocations,
                    t.generations.len()
                ));
            }
        }
        print_table(
            &[
                "member",
                "instance id",
                "partitions before",
                "after",
                "generation before",
                "after",
                "revoked",
                "rebalances",
            ],
            &[false, false, false, false, true, true, true, true],
            &rows,
        );
        println!(
            "{}",
            wrap(
                &format!(
                    "(revoked: revocations handed to the member; rebalances: new generations                      it took part in. Member ids: {}.)",
                    ids.join("; ")
                ),
                1
            )
        );
        let bumps = after_gen.get() - before_gen.get();
        if self.static_members {
            if bumps != 0 {
                problems.push(format!(
                    "the generation moved from {before_gen} to {after_gen}"
                ));
            }
            println!(
                "{}",
                wrap(
                    &format!(
                        "{RESTARTS} came back with a new member id but the same instance id: \
                         the coordinator swapped the id in place and returned the same \
                         assignment, so the group stayed at generation {after_gen} and the \
                         other members saw nothing. Its partitions were simply not read while \
                         it was down."
                    ),
                    0
                )
            );
        } else {
            if bumps != 2 {
                problems.push(format!(
                    "the generation moved from {before_gen} to {after_gen}, not by 2"
                ));
            }
            println!(
                "{}",
                wrap(
                    &format!(
                        "{RESTARTS}'s LeaveGroup started one rebalance and its return as a new \
                         member another: generation {before_gen} → {after_gen}, and under the \
                         eager protocol every member gave up all of its partitions both times."
                    ),
                    0
                )
            );
        }
        problems.extend(self.failed.iter().cloned());
        Outcome {
            before: before_gen,
            after: after_gen,
            revocations: all_revocations,
            problems,
        }
    }
}

/// The consumer thread: poll, report what happens to the member, close on command.
fn consume(
    name: &'static str,
    mut consumer: Consumer,
    inbox: &Receiver<Command>,
    notes: &Sender<Note>,
) {
    loop {
        if let Ok(Command::Close) = inbox.try_recv() {
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
        for event in polled.events {
            let note = match event {
                ConsumerEvent::PartitionsRevoked { .. } => Note::Revoked { name },
                ConsumerEvent::PartitionsLost { .. } => Note::Lost { name },
                ConsumerEvent::PartitionsAssigned {
                    assignment,
                    generation,
                    ..
                } => Note::Assigned {
                    name,
                    member: consumer.member_id(),
                    generation,
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
    }
}

/// `0, 1`, or `(none)`.
fn partition_list(partitions: &[TopicPartition]) -> String {
    if partitions.is_empty() {
        return "(none)".into();
    }
    let numbers: Vec<String> = partitions
        .iter()
        .map(|tp| tp.partition.to_string())
        .collect();
    numbers.join(", ")
}
