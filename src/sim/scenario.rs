//! Random scenarios: a seed becomes a cluster, members and a few hundred operations.

use super::check::Violation;
use super::cluster::{DeliveryReport, MemberHandle, Simulation};
use super::rng::SimRng;
use super::{DeliveryMode, MemberSpec, NetworkConfig, Op, SimConfig};
use crate::consumer::{ConsumerConfig, OffsetReset};
use crate::types::{GroupInstanceId, Topic};

/// What [`Scenario::random`] may generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioConfig {
    /// Operations per scenario, before the final heal.
    pub operations: usize,
    /// Most members (counting crashed ones) a scenario adds.
    pub max_members: usize,
    /// Include network faults (delay spread, drops, duplicates, cut-off members, commits
    /// replayed from an earlier generation).
    pub network_faults: bool,
    /// Include coordinator crashes and failovers.
    pub coordinator_faults: bool,
    /// Virtual time the cluster gets to settle after the heal.
    pub settle_ms: u64,
}

impl Default for ScenarioConfig {
    /// 200 operations, at most 6 members, every kind of fault, 3 minutes to settle.
    fn default() -> Self {
        ScenarioConfig {
            operations: 200,
            max_members: 6,
            network_faults: true,
            coordinator_faults: true,
            settle_ms: 180_000,
        }
    }
}

/// A whole simulated run: the cluster's settings, the topics, and the operations, all drawn
/// from one seed. [`run`](Self::run) replays it exactly.
///
/// ```
/// use consumer_groups::sim::{Scenario, ScenarioConfig};
///
/// let config = ScenarioConfig { operations: 40, ..ScenarioConfig::default() };
/// let scenario = Scenario::random(7, &config);
/// let outcome = scenario.run()?;
/// assert!(outcome.steps > 0);
/// # Ok::<(), consumer_groups::sim::Violation>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The seed it was drawn from.
    pub seed: u64,
    /// The cluster's settings.
    pub config: SimConfig,
    /// Topics created before the first operation, with their partition counts.
    pub topics: Vec<(Topic, u32)>,
    /// The operations, in order; [`Op::Heal`] and a final production follow them.
    pub ops: Vec<Op>,
    /// Virtual time the cluster gets to settle after the heal.
    pub settle_ms: u64,
}

/// What a [`Scenario`] run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioOutcome {
    /// The delivery check's counts.
    pub report: DeliveryReport,
    /// Virtual time from the heal to a settled cluster.
    pub settle_ms: u64,
    /// Steps taken (each checked).
    pub steps: u64,
    /// Virtual time the whole run covered.
    pub virtual_ms: u64,
    /// The trace, if the scenario's config asked for one.
    pub trace: Option<String>,
}

const ASSIGNORS: [&str; 4] = ["range", "roundrobin", "sticky", "cooperative-sticky"];
const DELIVERIES: [DeliveryMode; 3] = [
    DeliveryMode::AtMostOnce,
    DeliveryMode::AtLeastOnce,
    DeliveryMode::ExactlyOnce,
];

impl Scenario {
    /// The scenario `seed` draws: one or two groups (each with its own assignor and delivery
    /// mode), one or two topics, two to four starting members (some static), then
    /// `config.operations` operations mixing time, production and faults.
    #[must_use]
    pub fn random(seed: u64, config: &ScenarioConfig) -> Scenario {
        let mut rng = SimRng::new(seed ^ 0x5ce1_a210);
        let mut sim = SimConfig::new(seed);
        sim.app_tick_ms = rng.between(50, 200);
        sim.max_batch = rng.between(5, 30) as usize;
        let mut topics = vec![(Topic::from("t0"), rng.between(1, 6) as u32)];
        if rng.chance(0.4) {
            topics.push((Topic::from("t1"), rng.between(1, 4) as u32));
        }
        let groups = if rng.chance(0.25) { 2 } else { 1 };
        let group_setup: Vec<(String, &str, DeliveryMode)> = (0..groups)
            .map(|g| {
                (
                    format!("g{g}"),
                    *rng.pick(&ASSIGNORS).unwrap_or(&"range"),
                    *rng.pick(&DELIVERIES).unwrap_or(&DeliveryMode::AtLeastOnce),
                )
            })
            .collect();
        let mut ops = Vec::with_capacity(config.operations + 8);
        let mut members = 0usize;
        let mut statics = 0usize;
        let mut new_member =
            |rng: &mut SimRng, members: &mut usize, topics: &[(Topic, u32)]| -> Op {
                let (group, assignor, delivery) = &group_setup[rng.below(groups as u64) as usize];
                let mut c = ConsumerConfig::new(group.as_str());
                c.client_id = format!("m{members}").into();
                c.assignors = vec![(*assignor).to_string()];
                c.session_timeout_ms = rng.between(6_000, 10_000);
                c.heartbeat_interval_ms = rng.between(500, 2_000);
                c.max_poll_interval_ms = rng.between(20_000, 30_000);
                c.request_timeout_ms = 5_000;
                c.retry_backoff_ms = 100;
                c.retry_backoff_max_ms = 1_000;
                c.auto_offset_reset = OffsetReset::Earliest;
                c.enable_auto_commit = *delivery == DeliveryMode::AtLeastOnce && rng.chance(0.3);
                c.auto_commit_interval_ms = 1_000;
                if rng.chance(0.4) {
                    c.group_instance_id =
                        Some(GroupInstanceId::from(format!("{group}-i{statics}")));
                    statics += 1;
                }
                let subscribed: Vec<Topic> = pick_topics(rng, topics);
                *members += 1;
                Op::AddMember(MemberSpec {
                    config: c,
                    topics: subscribed,
                    delivery: *delivery,
                })
            };
        let start = rng.between(2, 4);
        for _ in 0..start {
            ops.push(new_member(&mut rng, &mut members, &topics));
        }
        let faulty = NetworkConfig::faulty();
        while ops.len() < config.operations {
            let roll = rng.below(100);
            let h = MemberHandle(rng.below(members as u64) as usize);
            let op = match roll {
                0..=29 => Op::RunFor(rng.between(10, 3_000)),
                30..=44 => Op::Produce {
                    topic: topics[rng.below(topics.len() as u64) as usize].0.clone(),
                    records: rng.between(1, 30) as u32,
                },
                45..=48 if members < config.max_members => {
                    new_member(&mut rng, &mut members, &topics)
                }
                45..=52 => Op::Crash(h),
                53..=58 => Op::Restart(h),
                59..=60 => Op::Close(h),
                61..=62 => Op::StopPolling(h),
                63..=65 => Op::ResumePolling(h),
                66..=67 => Op::Freeze(h),
                68..=70 => Op::Thaw(h),
                71..=72 if config.network_faults => Op::Isolate(h),
                73..=75 if config.network_faults => Op::Reconnect(h),
                76..=77 => Op::Subscribe(h, pick_topics(&mut rng, &topics)),
                78..=79 if config.coordinator_faults => Op::CrashCoordinator {
                    group: group_setup[rng.below(groups as u64) as usize]
                        .0
                        .as_str()
                        .into(),
                },
                80 => {
                    let t = rng.below(topics.len() as u64) as usize;
                    if topics[t].1 < 8 {
                        topics[t].1 += 1;
                        Op::AddPartitions {
                            topic: topics[t].0.clone(),
                            count: 1,
                        }
                    } else {
                        Op::RunFor(100)
                    }
                }
                81..=83 if config.network_faults => Op::Network(if rng.chance(0.5) {
                    faulty
                } else {
                    NetworkConfig::reliable()
                }),
                84..=86 if config.network_faults => Op::ReplayCommit(h),
                _ => Op::RunFor(rng.between(100, 1_000)),
            };
            ops.push(op);
        }
        // Partition counts only grow through the operations: start from the initial ones.
        let mut initial = topics.clone();
        for op in &ops {
            if let Op::AddPartitions { topic, count } = op {
                if let Some(t) = initial.iter_mut().find(|t| &t.0 == topic) {
                    t.1 -= count;
                }
            }
        }
        Scenario {
            seed,
            config: sim,
            topics: initial,
            ops,
            settle_ms: config.settle_ms,
        }
    }

    /// The same scenario with the trace on.
    #[must_use]
    pub fn traced(mut self) -> Scenario {
        self.config.trace = true;
        self
    }

    /// Runs the scenario: its operations, then [`Op::Heal`], a restart of every crashed
    /// member, 20 more records on every topic,
    /// [`Simulation::settle`] and [`Simulation::check_delivery`].
    ///
    /// # Errors
    /// The first [`Violation`] (with the trace so far in its detail if the trace is on).
    pub fn run(&self) -> Result<ScenarioOutcome, Violation> {
        let mut sim = Simulation::new(self.config.clone());
        let result = self.drive(&mut sim);
        match result {
            Ok((report, settle_ms)) => Ok(ScenarioOutcome {
                report,
                settle_ms,
                steps: sim.steps(),
                virtual_ms: sim.now().0.saturating_sub(1_000_000),
                trace: sim.trace().map(str::to_string),
            }),
            Err(mut v) => {
                if let Some(t) = sim.trace() {
                    v.detail = format!("{}\ntrace:\n{t}", v.detail);
                }
                Err(v)
            }
        }
    }

    fn drive(&self, sim: &mut Simulation) -> Result<(DeliveryReport, u64), Violation> {
        for (topic, partitions) in &self.topics {
            sim.create_topic(topic.clone(), *partitions);
        }
        for op in &self.ops {
            sim.apply(op.clone())?;
        }
        sim.apply(Op::Heal)?;
        // Crashed members come back, so every group has members to settle and deliver.
        for i in 0..sim.member_count() {
            if sim.status(MemberHandle(i)) == Some(super::MemberStatus::Crashed) {
                sim.apply(Op::Restart(MemberHandle(i)))?;
            }
        }
        for (topic, _) in &self.topics {
            sim.apply(Op::Produce {
                topic: topic.clone(),
                records: 20,
            })?;
        }
        let settle_ms = sim.settle(self.settle_ms)?;
        let report = sim.check_delivery()?;
        Ok((report, settle_ms))
    }
}

fn pick_topics(rng: &mut SimRng, topics: &[(Topic, u32)]) -> Vec<Topic> {
    let mut chosen: Vec<Topic> = topics
        .iter()
        .filter(|_| rng.chance(0.6))
        .map(|t| t.0.clone())
        .collect();
    if chosen.is_empty() {
        chosen.push(topics[rng.below(topics.len() as u64) as usize].0.clone());
    }
    chosen
}
