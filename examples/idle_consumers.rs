//! More consumers than partitions: the extra members sit idle, ready to take over.
//!
//! ```text
//! cargo run --release --example idle_consumers
//! ```
//!
//! Five consumers join one group on a topic with three partitions while records flow. Within a
//! group each partition has at most one owner, so three members get a partition each and two
//! get an empty assignment. The idle members are full members all the same: they joined, they
//! heartbeat, and they are in every rebalance.
//!
//! Then one of the active members leaves (`close`: it commits, then sends LeaveGroup). The
//! group rebalances, and with the `cooperative-sticky` assignor the freed partition goes to
//! one of the idle members, while the two other active members keep theirs and go on reading
//! without a pause (nothing is revoked from them). The new owner starts at the offset the
//! leaver committed, so no record is skipped or read twice.
//!
//! The output is who owns what before and after, and the handover. Which members end up idle,
//! and which idle member takes over, depend on the order of the joins and on the assignor, so
//! they vary from run to run.

mod common;

use common::{print_table, short_id, show, wrap};
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
use parking_lot::Mutex;

const TOPIC: &str = "jobs";
const PARTITIONS: u32 = 3;
const GROUP: &str = "workers";
const NAMES: [&str; 5] = ["w1", "w2", "w3", "w4", "w5"];
const ASSIGNOR: &str = "cooperative-sticky";
/// One record every this often: about 300 records a second.
const PRODUCE_EVERY: Duration = Duration::from_millis(3);
/// How long records flow between two steps.
const FLOW: Duration = Duration::from_millis(500);
/// The longest any wait may take before the demo gives up.
const WAIT_LIMIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("idle_consumers: {message}");
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
                "Topic {TOPIC} ({PARTITIONS} partitions), group {GROUP}, five consumers, \
                 assignor {ASSIGNOR}. A producer appends about {} records a second throughout. \
                 Times are seconds since the start; which members are idle varies from run to \
                 run.",
                1_000 / PRODUCE_EVERY.as_millis().max(1)
            ),
            0
        )
    );

    demo.step("five consumers join");
    for name in NAMES {
        demo.spawn(name)?;
    }
    let generation = demo.settle(&NAMES)?;
    demo.say(&format!(
        "generation {generation}: {} members, {PARTITIONS} partitions",
        demo.members()
    ));
    thread::sleep(FLOW);
    demo.print_owners("before", generation);

    let owners = demo.assignments(generation);
    let (leaver, freed) = owners
        .iter()
        .find(|(_, a)| !a.is_empty())
        .map(|(n, a)| (*n, a.clone()))
        .ok_or("nobody owns a partition")?;
    let stayers: Vec<&'static str> = owners
        .iter()
        .filter(|(n, a)| **n != leaver && !a.is_empty())
        .map(|(n, _)| *n)
        .collect();
    demo.step(&format!(
        "{leaver} leaves (close: it commits, then sends LeaveGroup)"
    ));
    let revoked_before: u64 = stayers.iter().map(|n| demo.workers[n].revoked()).sum();
    demo.stop(leaver)?;
    let committed_at_leave = demo.committed();
    let live: Vec<&str> = NAMES.iter().copied().filter(|n| *n != leaver).collect();
    let generation = demo.settle(&live)?;
    demo.say(&format!(
        "generation {generation}: {} members, {PARTITIONS} partitions",
        demo.members()
    ));
    thread::sleep(FLOW);
    demo.print_owners("after", generation);

    let after = demo.assignments(generation);
    let mut rows = Vec::new();
    let mut handed_over = true;
    for tp in &freed {
        let new_owner = after.iter().find(|(_, a)| a.contains(tp)).map(|(n, _)| *n);
        let committed = committed_at_leave[tp.partition as usize];
        let first = new_owner.and_then(|n| demo.workers[n].first_read.lock().get(tp).copied());
        handed_over &= new_owner.is_some() && first == committed;
        rows.push(vec![
            tp.to_string(),
            leaver.to_string(),
            show(committed),
            new_owner.unwrap_or("-").to_string(),
            show(first),
        ]);
    }
    demo.say("the handover:");
    print_table(
        &[
            "partition",
            "from",
            "committed at the leave",
            "to",
            "first offset it read",
        ],
        &[false, false, true, false, true],
        &rows,
    );
    let revoked_after: u64 = stayers.iter().map(|n| demo.workers[n].revoked()).sum();
    let untouched = revoked_after == revoked_before;
    demo.say(&format!(
        "{} kept their partitions through the rebalance: partitions revoked from them: {}",
        stayers.join(" and "),
        revoked_after - revoked_before
    ));

    demo.step("the producer stops; the consumers drain, commit and close");
    let ok = demo.finish()? && handed_over;
    if !untouched {
        println!(
            "Note: the members that kept their partitions saw a revocation; the cooperative \
             protocol should not revoke partitions that stay."
        );
    }
    if ok {
        println!("OK");
    } else {
        println!("FAILED");
    }
    Ok(ok)
}

/// The member id and assignment of each generation a member completed.
type Generations = BTreeMap<Generation, (MemberId, Vec<TopicPartition>)>;

/// A consumer on its own thread.
struct Worker {
    /// The member id and assignment of each generation the member completed.
    generations: Arc<Mutex<Generations>>,
    processed: Arc<AtomicU64>,
    revocations: Arc<AtomicU64>,
    /// The first offset read from each partition.
    first_read: Arc<Mutex<BTreeMap<TopicPartition, Offset>>>,
    draining: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Worker {
    fn revoked(&self) -> u64 {
        self.revocations.load(Ordering::Relaxed)
    }
}

/// What the steps share.
struct Demo {
    start: Instant,
    service: GroupService,
    store: Arc<LogOffsetStore>,
    topics: Topics,
    /// How often each record was processed: (partition, offset) → count.
    ledger: Arc<Mutex<BTreeMap<(i32, i64), u32>>>,
    producing: Arc<AtomicBool>,
    producer: Option<JoinHandle<u64>>,
    workers: BTreeMap<&'static str, Worker>,
}

impl Demo {
    fn start() -> Result<Demo, String> {
        let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
        let service = GroupService::start(
            CoordinatorConfig {
                min_session_timeout_ms: 500,
                // Long enough for all five to arrive before the first assignment.
                initial_rebalance_delay_ms: 300,
                ..CoordinatorConfig::default()
            },
            store.clone(),
        );
        let topics = Topics::new();
        topics
            .create(TOPIC, PARTITIONS)
            .map_err(|e| e.to_string())?;
        let producing = Arc::new(AtomicBool::new(true));
        let producer = {
            let producer = Producer::new(topics.clone(), service.clock());
            let producing = producing.clone();
            thread::spawn(move || {
                let mut n = 0u64;
                while producing.load(Ordering::Relaxed) {
                    let key = format!("job-{n}");
                    if producer.send(TOPIC, Some(key.as_bytes()), b"work").is_ok() {
                        n += 1;
                    }
                    thread::sleep(PRODUCE_EVERY);
                }
                n
            })
        };
        Ok(Demo {
            start: Instant::now(),
            service,
            store,
            topics,
            ledger: Arc::new(Mutex::new(BTreeMap::new())),
            producing,
            producer: Some(producer),
            workers: BTreeMap::new(),
        })
    }

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

    /// Starts consumer `name` on its own thread.
    fn spawn(&mut self, name: &'static str) -> Result<(), String> {
        let mut config = ConsumerConfig::new(GROUP);
        config.client_id = name.into();
        config.session_timeout_ms = 1_500;
        config.heartbeat_interval_ms = 250;
        config.request_timeout_ms = 3_000;
        config.auto_commit_interval_ms = 500;
        config.auto_offset_reset = OffsetReset::Earliest;
        config.assignors = vec![ASSIGNOR.into()];
        let mut consumer = Consumer::new(config, &self.service, self.topics.clone())
            .map_err(|e| format!("{name}: {e}"))?;
        consumer
            .subscribe([TOPIC])
            .map_err(|e| format!("{name}: {e}"))?;
        let worker = Worker {
            generations: Arc::default(),
            processed: Arc::default(),
            revocations: Arc::default(),
            first_read: Arc::default(),
            draining: Arc::default(),
            stop: Arc::default(),
            thread: None,
        };
        let generations = worker.generations.clone();
        let processed = worker.processed.clone();
        let revocations = worker.revocations.clone();
        let first_read = worker.first_read.clone();
        let draining = worker.draining.clone();
        let stop = worker.stop.clone();
        let ledger = self.ledger.clone();
        let thread = thread::spawn(move || -> Result<(), String> {
            let mut uncommitted = false;
            while !stop.load(Ordering::Relaxed) {
                let polled = consumer
                    .poll(Duration::from_millis(50))
                    .map_err(|e| format!("{name}: {e}"))?;
                for event in polled.events {
                    match event {
                        ConsumerEvent::PartitionsRevoked { .. } => {
                            revocations.fetch_add(1, Ordering::Relaxed);
                            consumer
                                .commit_sync(None)
                                .map_err(|e| format!("{name}: commit: {e}"))?;
                        }
                        ConsumerEvent::PartitionsAssigned {
                            assignment,
                            generation,
                            ..
                        } => {
                            generations
                                .lock()
                                .insert(generation, (consumer.member_id(), assignment));
                        }
                        ConsumerEvent::Fatal { error } => {
                            return Err(format!("{name}: fatal: {error:?}"));
                        }
                        _ => {}
                    }
                }
                if !polled.records.is_empty() {
                    let mut counts = ledger.lock();
                    let mut first = first_read.lock();
                    for r in &polled.records {
                        *counts
                            .entry((r.partition.partition, r.offset.0))
                            .or_default() += 1;
                        first.entry(r.partition.clone()).or_insert(r.offset);
                    }
                    processed.fetch_add(polled.records.len() as u64, Ordering::Relaxed);
                    uncommitted = true;
                } else if uncommitted && draining.load(Ordering::Relaxed) {
                    consumer
                        .commit_sync(None)
                        .map_err(|e| format!("{name}: commit: {e}"))?;
                    uncommitted = false;
                }
            }
            consumer.close().map_err(|e| format!("{name}: close: {e}"))
        });
        self.workers.insert(
            name,
            Worker {
                thread: Some(thread),
                ..worker
            },
        );
        Ok(())
    }

    /// Closes consumer `name` and joins its thread.
    fn stop(&mut self, name: &str) -> Result<(), String> {
        let worker = self
            .workers
            .get_mut(name)
            .ok_or_else(|| format!("no consumer {name}"))?;
        worker.stop.store(true, Ordering::Relaxed);
        match worker.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| format!("{name}'s thread panicked"))?,
            None => Ok(()),
        }
    }

    fn members(&self) -> usize {
        self.service.with_coordinator(|c, _| c.members(GROUP).len())
    }

    /// Waits until the group is stable with exactly the members `live`, each of them having
    /// completed the group's generation; returns the generation.
    fn settle(&self, live: &[&str]) -> Result<Generation, String> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let (state, generation, members) = self.service.with_coordinator(|c, _| {
                (
                    c.group_state(GROUP),
                    c.generation(GROUP),
                    c.members(GROUP).len(),
                )
            });
            if let (Some(GroupState::Stable), Some(generation)) = (state, generation) {
                let reported = live.iter().all(|n| {
                    self.workers
                        .get(n)
                        .is_some_and(|w| w.generations.lock().contains_key(&generation))
                });
                if members == live.len() && reported {
                    return Ok(generation);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the group did not settle with {live:?} (state {state:?}, generation \
                     {generation:?}, {members} members)"
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Each member's assignment in `generation`, by name (members of that generation only).
    fn assignments(&self, generation: Generation) -> BTreeMap<&'static str, Vec<TopicPartition>> {
        self.workers
            .iter()
            .filter_map(|(n, w)| {
                w.generations
                    .lock()
                    .get(&generation)
                    .map(|(_, a)| (*n, a.clone()))
            })
            .collect()
    }

    fn committed(&self) -> Vec<Option<Offset>> {
        let tps: Vec<TopicPartition> = (0..PARTITIONS as i32)
            .map(|p| TopicPartition::new(TOPIC, p))
            .collect();
        self.store
            .fetch(&GroupId::from(GROUP), &tps, false)
            .into_iter()
            .map(|r| r.ok().flatten().map(|c| c.offset))
            .collect()
    }

    /// The member table: who owns what in `generation`, and who has processed what so far.
    fn print_owners(&self, caption: &str, generation: Generation) {
        let leader = self
            .service
            .with_coordinator(|c, _| c.leader(GROUP))
            .map(|m| m.to_string());
        let mut rows = Vec::new();
        let mut idle = 0;
        for (name, worker) in &self.workers {
            let gens = worker.generations.lock();
            let (member, state, partitions) = match gens.get(&generation) {
                Some((member, a)) if a.is_empty() => {
                    idle += 1;
                    (short_id(member), "idle", "-".to_string())
                }
                Some((member, a)) => (short_id(member), "active", partition_list(a)),
                None => {
                    let member = gens.values().last().map(|(m, _)| short_id(m));
                    (member.unwrap_or_default(), "left", "-".to_string())
                }
            };
            let is_leader = gens
                .get(&generation)
                .is_some_and(|(m, _)| leader.as_deref() == Some(m.as_str()));
            rows.push(vec![
                (*name).to_string(),
                member,
                if is_leader { "leader" } else { "" }.to_string(),
                state.to_string(),
                partitions,
                worker.processed.load(Ordering::Relaxed).to_string(),
            ]);
        }
        self.say(&format!(
            "{caption}: generation {generation}, {idle} idle member(s)"
        ));
        print_table(
            &[
                "consumer",
                "member id",
                "role",
                "state",
                "partitions",
                "records processed so far",
            ],
            &[false, false, false, false, false, true],
            &rows,
        );
    }

    /// Stops the producer, lets the consumers drain and commit, closes them, and checks that
    /// every record was processed exactly once.
    fn finish(&mut self) -> Result<bool, String> {
        self.producing.store(false, Ordering::Relaxed);
        let produced = self
            .producer
            .take()
            .map(|p| p.join().map_err(|_| "the producer thread panicked"))
            .transpose()?
            .unwrap_or(0);
        for worker in self.workers.values() {
            worker.draining.store(true, Ordering::Relaxed);
        }
        let ends: Vec<i64> = (0..PARTITIONS as i32)
            .map(|p| {
                self.topics
                    .end_offset(&TopicPartition::new(TOPIC, p))
                    .map_or(0, |o| o.0)
            })
            .collect();
        let deadline = Instant::now() + WAIT_LIMIT;
        let caught_up = loop {
            let done = self
                .committed()
                .iter()
                .zip(&ends)
                .all(|(c, end)| c.is_some_and(|c| c.0 == *end));
            if done || Instant::now() > deadline {
                break done;
            }
            thread::sleep(Duration::from_millis(10));
        };
        let names: Vec<&'static str> = self.workers.keys().copied().collect();
        for name in names {
            self.stop(name)?;
        }
        let counts = self.ledger.lock().clone();
        let (mut once, mut more, mut never) = (0u64, 0u64, 0u64);
        for (p, end) in ends.iter().enumerate() {
            for offset in 0..*end {
                match counts.get(&(p as i32, offset)).copied().unwrap_or(0) {
                    0 => never += 1,
                    1 => once += 1,
                    _ => more += 1,
                }
            }
        }
        print_table(
            &["", "records"],
            &[false, true],
            &[
                vec!["produced".into(), produced.to_string()],
                vec!["processed exactly once".into(), once.to_string()],
                vec!["processed more than once".into(), more.to_string()],
                vec!["never processed".into(), never.to_string()],
            ],
        );
        println!(
            "{}",
            wrap(
                "Every member that gave up a partition committed first (close commits), and \
                 the next owner started at that offset: nothing skipped, nothing repeated.",
                0
            )
        );
        Ok(caught_up && never == 0 && more == 0 && once == produced)
    }
}

/// `jobs: 0, 1`.
fn partition_list(partitions: &[TopicPartition]) -> String {
    let numbers: Vec<String> = partitions
        .iter()
        .map(|tp| tp.partition.to_string())
        .collect();
    match partitions.first() {
        Some(tp) => format!("{}: {}", tp.topic, numbers.join(", ")),
        None => "-".to_string(),
    }
}
