//! The simulation engine: brokers, members, network, workload and the invariant checks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use super::check::{Invariant, Violation};
use super::rng::SimRng;
use super::{DeliveryMode, MemberSpec, NetworkConfig, Op, SimConfig};
use crate::assignor::{RebalanceProtocol, TopicSpec};
use crate::consumer::{
    CommitId, ConsumerCoordinator, ConsumerEvent, IsolationLevel, MemberState, OffsetReset,
};
use crate::coordinator::{GroupCoordinator, GroupState};
use crate::error::{Error, ErrorCode};
use crate::log::{Log, MemoryLog, Producer, ReadLimit, Record, TxnOutcome, partition_for};
use crate::offsets::{LogOffsetStore, OffsetCommit, OffsetStore};
use crate::protocol::group::{
    FindCoordinatorResponse, OffsetCommitRequest, TxnOffsetCommitRequest,
};
use crate::protocol::{Request, RequestId, Response};
use crate::sync::partition_for_key;
use crate::types::Generation;
use crate::types::{GroupId, GroupInstanceId, MemberId, Offset, Timestamp, Topic, TopicPartition};

/// Virtual time a simulation starts at.
const START: Timestamp = Timestamp(1_000_000);

/// Steps one instant may take before the simulation calls it a livelock.
const MAX_STEPS_PER_INSTANT: u32 = 200_000;

/// A member of a [`Simulation`], as [`Simulation::add_member`] returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberHandle(pub usize);

/// What a member's process is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    /// Polling and processing.
    Running,
    /// Alive and heartbeating, but the application does not poll.
    PollingStopped,
    /// Stopped entirely: no timers, no messages.
    Frozen,
    /// Dead; its state is gone.
    Crashed,
    /// Closed by the application.
    Closed,
}

/// A record an application processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedRecord {
    /// Where the record was.
    pub partition: TopicPartition,
    /// Its offset.
    pub offset: Offset,
    /// The record's id (its value; unique in the simulation).
    pub record: u64,
    /// Which run of the member processed it (0 for the first; each restart adds 1).
    pub incarnation: u32,
    /// The member's generation when it processed the record.
    pub generation: Generation,
    /// When.
    pub at: Timestamp,
}

/// What [`Simulation::check_delivery`] counted, over every group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Records in the topics the groups subscribe to at the end, summed over groups.
    pub records: usize,
    /// Records processed, counting every repeat.
    pub processed: usize,
    /// Processings beyond the first of a record.
    pub repeated: usize,
    /// Records of the subscribed topics never processed.
    pub lost: usize,
    /// Records in exactly-once groups' committed outputs.
    pub output: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Nobody serves the partition; a live broker takes it over at `failover_at`.
    Vacant { failover_at: Timestamp },
    /// `broker` is loading the partition until `done_at`.
    Loading {
        broker: usize,
        inc: u32,
        done_at: Timestamp,
    },
    /// `broker` serves the partition since `since`.
    Owned {
        broker: usize,
        inc: u32,
        since: Timestamp,
    },
}

struct Broker {
    coordinator: Option<GroupCoordinator>,
    store: Option<Arc<LogOffsetStore>>,
    incarnation: u32,
    restart_at: Option<Timestamp>,
}

/// A message in flight.
#[derive(Debug, Clone)]
enum Payload {
    Request {
        member: usize,
        inc: u32,
        broker: usize,
        broker_inc: u32,
        id: RequestId,
        request: Request,
    },
    TxnRequest {
        member: usize,
        inc: u32,
        broker: usize,
        broker_inc: u32,
        seq: u64,
        request: TxnOffsetCommitRequest,
    },
    Response {
        member: usize,
        inc: u32,
        id: RequestId,
        response: Response,
    },
    Failed {
        member: usize,
        inc: u32,
        id: RequestId,
    },
    TxnResult {
        member: usize,
        inc: u32,
        seq: u64,
        accepted: bool,
    },
}

impl Payload {
    fn member(&self) -> (usize, u32) {
        match self {
            Payload::Request { member, inc, .. }
            | Payload::TxnRequest { member, inc, .. }
            | Payload::Response { member, inc, .. }
            | Payload::Failed { member, inc, .. }
            | Payload::TxnResult { member, inc, .. } => (*member, *inc),
        }
    }
}

/// A connection in one direction: a member, a broker, and which way.
type Link = (usize, usize, LinkKind);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LinkKind {
    Requests,
    Responses,
    TxnRequests,
    TxnResponses,
}

/// What the coordinator's answer to a forwarded request is for.
#[derive(Debug, Clone)]
enum RouteKind {
    Heartbeat(MemberId),
    Commit(Vec<OffsetCommit>),
    /// A replayed commit from an earlier generation ([`Op::ReplayCommit`]).
    Zombie(Generation),
    Txn(u64, Vec<OffsetCommit>),
    Admin(Vec<OffsetCommit>),
    Other,
}

#[derive(Debug, Clone)]
struct Route {
    broker: usize,
    member: usize,
    inc: u32,
    id: RequestId,
    group: GroupId,
    kind: RouteKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum App {
    Idle,
    /// A commit of `ends` is in flight; at-most-once processes `batch` once it succeeds.
    Committing {
        id: CommitId,
        batch: Vec<(TopicPartition, Offset, u64)>,
        ends: Vec<OffsetCommit>,
    },
    /// A transaction's TxnOffsetCommit is in flight.
    TxnSent {
        seq: u64,
        deadline: Timestamp,
        ends: Vec<OffsetCommit>,
    },
    /// The transaction ended; its markers are being written.
    TxnEnding,
}

struct Member {
    spec: MemberSpec,
    topics: Vec<Topic>,
    consumer: Option<ConsumerCoordinator>,
    incarnation: u32,
    status: MemberStatus,
    /// The status to return to after a thaw.
    thawed: MemberStatus,
    isolated: bool,
    connection: Option<(usize, u32)>,
    next_tick: Timestamp,
    app: App,
    ack_pending: bool,
    inbox: VecDeque<Payload>,
    processed: Vec<ProcessedRecord>,
    metadata_seen: u64,
    last_assigned: Generation,
    producer_id: i64,
    producer_epoch: i16,
    cursor: usize,
    txn_seq: u64,
    /// The first OffsetCommit the member sent in each of its last few generations, for
    /// [`Op::ReplayCommit`]; kept across restarts, as a zombie process would keep them.
    sent_commits: VecDeque<OffsetCommitRequest>,
}

/// How many generations' commits a member remembers for [`Op::ReplayCommit`].
const REMEMBERED_COMMITS: usize = 4;

impl Member {
    /// Timers run and messages are handled.
    fn active(&self) -> bool {
        matches!(
            self.status,
            MemberStatus::Running | MemberStatus::PollingStopped | MemberStatus::Closed
        ) && self
            .consumer
            .as_ref()
            .is_some_and(|c| c.state() != MemberState::Closed)
    }
}

struct Txn {
    producer: Producer,
    group: GroupId,
    started: Timestamp,
    outputs: Vec<u64>,
    accepted: Vec<(TopicPartition, i64)>,
}

struct Marker {
    partition: u32,
    producer: Producer,
    outcome: TxnOutcome,
    group: GroupId,
    offsets: Vec<(TopicPartition, i64)>,
}

#[derive(Default)]
struct GroupInfo {
    delivery: Option<DeliveryMode>,
    partition: u32,
    // Invariant 2.
    owner: Option<(usize, u32)>,
    generation: Option<i32>,
    last_stable: i32,
    // Invariant 3.
    committed: BTreeMap<TopicPartition, i64>,
    accepted: BTreeMap<TopicPartition, BTreeSet<i64>>,
    resets: BTreeMap<TopicPartition, i64>,
    // Invariant 4.
    members: BTreeSet<MemberId>,
    load_at: Timestamp,
    join_completed_at: Timestamp,
    synced: BTreeSet<MemberId>,
    contact: BTreeMap<MemberId, Timestamp>,
    /// Static members' ids: instance, session and rebalance timeouts, and the observation
    /// sequence number at which the id was handed out.
    statics: BTreeMap<MemberId, (GroupInstanceId, u64, u64, u64)>,
    left: BTreeSet<MemberId>,
    left_instances: BTreeSet<GroupInstanceId>,
    /// JoinGroups delivered per instance id: the member id they named and their observation
    /// sequence number.
    instance_joins: BTreeMap<GroupInstanceId, Vec<(MemberId, u64)>>,
    // Exactly-once output: record id → times committed.
    outputs: BTreeMap<u64, u32>,
}

/// A seeded cluster in virtual time. See the [module](super) documentation.
pub struct Simulation {
    config: SimConfig,
    now: Timestamp,
    rng: SimRng,
    network: NetworkConfig,
    log: Arc<MemoryLog>,
    brokers: Vec<Broker>,
    owners: BTreeMap<u32, Owner>,
    members: Vec<Member>,
    groups: BTreeMap<GroupId, GroupInfo>,
    topics: BTreeMap<Topic, Vec<MemoryLog>>,
    metadata_version: u64,
    next_record: u64,
    net: BTreeMap<(Timestamp, u64), Payload>,
    net_seq: u64,
    /// The last arrival time scheduled on each link.
    links: BTreeMap<Link, Timestamp>,
    routes: BTreeMap<u64, Route>,
    next_tag: u64,
    txns: BTreeMap<i64, Txn>,
    markers: VecDeque<Marker>,
    trace: Option<String>,
    violation: Option<Violation>,
    steps: u64,
    /// Orders the observations of requests and responses.
    observed: u64,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("seed", &self.config.seed)
            .field("now", &self.now)
            .field("members", &self.members.len())
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

fn op_error(at: Timestamp, detail: impl Into<String>) -> Violation {
    Violation::new(Invariant::Operation, at, detail)
}

impl Simulation {
    /// A cluster of `config.brokers` brokers (at least one) with no topics and no members, at
    /// virtual time 1,000,000 ms. Offsets-log partition `p` starts on broker
    /// `p % brokers`.
    #[must_use]
    pub fn new(config: SimConfig) -> Simulation {
        let mut rng = SimRng::new(config.seed);
        let partitions = config.offsets_partitions.max(1);
        let log = Arc::new(MemoryLog::new(partitions));
        let brokers = config.brokers.max(1);
        let mut sim = Simulation {
            network: config.network,
            now: START,
            log,
            brokers: Vec::with_capacity(brokers),
            owners: BTreeMap::new(),
            members: Vec::new(),
            groups: BTreeMap::new(),
            topics: BTreeMap::new(),
            metadata_version: 0,
            next_record: 0,
            net: BTreeMap::new(),
            net_seq: 0,
            links: BTreeMap::new(),
            routes: BTreeMap::new(),
            next_tag: 0,
            txns: BTreeMap::new(),
            markers: VecDeque::new(),
            trace: config.trace.then(String::new),
            violation: None,
            steps: 0,
            observed: 0,
            rng: rng.fork(),
            config,
        };
        sim.config.offsets_partitions = partitions;
        sim.config.brokers = brokers;
        for b in 0..brokers {
            let owned: Vec<u32> = (0..partitions)
                .filter(|p| *p as usize % brokers == b)
                .collect();
            sim.brokers.push(Broker {
                coordinator: None,
                store: None,
                incarnation: 0,
                restart_at: None,
            });
            sim.start_broker(b, owned.clone());
            for p in owned {
                sim.owners.insert(
                    p,
                    Owner::Owned {
                        broker: b,
                        inc: 0,
                        since: START,
                    },
                );
            }
        }
        sim
    }

    fn start_broker(&mut self, b: usize, owned: Vec<u32>) {
        let store = Arc::new(LogOffsetStore::new(self.log.clone()));
        let mut config = self.config.coordinator.clone();
        config.owned_partitions = Some(owned);
        config.seed = Some(
            self.config.seed
                ^ (b as u64).wrapping_mul(0x9e37_79b9)
                ^ u64::from(self.brokers[b].incarnation) << 32,
        );
        self.brokers[b].coordinator = Some(GroupCoordinator::new(config, store.clone()));
        self.brokers[b].store = Some(store);
        self.brokers[b].restart_at = None;
    }

    // ---- Public API ---------------------------------------------------------------------------

    /// The virtual time now.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Steps taken so far (messages delivered, timers fired, polls, operations).
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The trace so far, one line per step, if [`SimConfig::trace`] is on.
    #[must_use]
    pub fn trace(&self) -> Option<&str> {
        self.trace.as_deref()
    }

    /// Creates `topic` with `partitions` partitions (adds partitions if it exists).
    pub fn create_topic(&mut self, topic: impl Into<Topic>, partitions: u32) {
        let topic = topic.into();
        let logs = self.topics.entry(topic).or_default();
        while (logs.len() as u32) < partitions {
            logs.push(MemoryLog::new(1));
        }
        self.metadata_version += 1;
    }

    /// Partitions of `topic`, or `None` if it does not exist.
    #[must_use]
    pub fn partitions(&self, topic: &str) -> Option<u32> {
        self.topics.get(topic).map(|l| l.len() as u32)
    }

    /// The log-end offset of `tp` (0 for an unknown partition).
    #[must_use]
    pub fn end_offset(&self, tp: &TopicPartition) -> Offset {
        Offset(
            self.topic_log(tp)
                .and_then(|l| l.end_offset(0).ok())
                .unwrap_or(0),
        )
    }

    fn topic_log(&self, tp: &TopicPartition) -> Option<&MemoryLog> {
        let p = usize::try_from(tp.partition).ok()?;
        self.topics.get(tp.topic.as_str())?.get(p)
    }

    /// Adds a member: it subscribes to its topics and starts polling at once.
    ///
    /// # Errors
    /// [`Invariant::Operation`] if the config is invalid or the group already uses another
    /// delivery mode.
    pub fn add_member(&mut self, spec: MemberSpec) -> Result<MemberHandle, Violation> {
        let group = spec.config.group_id.clone();
        let partition = partition_for(&group, self.config.offsets_partitions);
        let info = self.groups.entry(group.clone()).or_default();
        info.partition = partition;
        match info.delivery {
            Some(d) if d != spec.delivery => {
                return Err(op_error(
                    self.now,
                    format!(
                        "group {group} uses {d:?}; a member cannot use {:?}",
                        spec.delivery
                    ),
                ));
            }
            _ => info.delivery = Some(spec.delivery),
        }
        let i = self.members.len();
        self.members.push(Member {
            topics: spec.topics.clone(),
            spec,
            consumer: None,
            incarnation: 0,
            status: MemberStatus::Crashed,
            thawed: MemberStatus::Running,
            isolated: false,
            connection: None,
            next_tick: self.now,
            app: App::Idle,
            ack_pending: false,
            inbox: VecDeque::new(),
            processed: Vec::new(),
            metadata_seen: 0,
            last_assigned: Generation::NONE,
            producer_id: 1_000 + i as i64,
            producer_epoch: 0,
            cursor: 0,
            txn_seq: 0,
            sent_commits: VecDeque::new(),
        });
        if let Err(e) = self.boot(i) {
            self.members.pop();
            return Err(op_error(self.now, format!("member config: {e}")));
        }
        self.note(|| format!("add m{i}"));
        self.after_step()?;
        Ok(MemberHandle(i))
    }

    /// Starts member `i`'s process (a fresh consumer).
    fn boot(&mut self, i: usize) -> Result<(), Error> {
        let now = self.now;
        let specs = self.topic_specs();
        let version = self.metadata_version;
        let m = &mut self.members[i];
        let mut config = m.spec.config.clone();
        if m.spec.delivery == DeliveryMode::ExactlyOnce {
            config.isolation_level = IsolationLevel::ReadCommitted;
            config.enable_auto_commit = false;
        }
        let mut c = ConsumerCoordinator::new(config)?;
        c.update_metadata(now, specs);
        c.subscribe(now, m.topics.iter().cloned())?;
        c.poll(now);
        m.consumer = Some(c);
        m.metadata_seen = version;
        m.status = MemberStatus::Running;
        m.thawed = MemberStatus::Running;
        m.connection = None;
        m.next_tick = now.plus_millis(self.config.app_tick_ms);
        m.app = App::Idle;
        m.ack_pending = false;
        m.inbox.clear();
        m.last_assigned = Generation::NONE;
        self.pump_member(i);
        Ok(())
    }

    fn topic_specs(&self) -> Vec<TopicSpec> {
        self.topics
            .iter()
            .map(|(t, l)| TopicSpec::new(t.clone(), l.len() as u32))
            .collect()
    }

    /// Carries out one operation, checking the invariants after every step it causes.
    ///
    /// # Errors
    /// The first [`Violation`]; [`Invariant::Operation`] for a handle that names no member.
    pub fn apply(&mut self, op: Op) -> Result<(), Violation> {
        self.check_violation()?;
        let now = self.now;
        let member = |h: MemberHandle, sim: &Simulation| -> Result<usize, Violation> {
            if h.0 < sim.members.len() {
                Ok(h.0)
            } else {
                Err(op_error(now, format!("no member {}", h.0)))
            }
        };
        match op {
            Op::RunFor(ms) => return self.run_for(ms),
            Op::Produce { topic, records } => self.produce(&topic, records),
            Op::AddPartitions { topic, count } => {
                let have = self.partitions(&topic).unwrap_or(0);
                self.note(|| format!("add {count} partitions to {topic}"));
                self.create_topic(topic, have + count);
            }
            Op::AddMember(spec) => {
                self.add_member(spec)?;
            }
            Op::Crash(h) => {
                let i = member(h, self)?;
                self.crash_member(i);
            }
            Op::Restart(h) => {
                let i = member(h, self)?;
                self.restart_member(i)?;
            }
            Op::Close(h) => {
                let i = member(h, self)?;
                self.close_member(i);
            }
            Op::StopPolling(h) => {
                let i = member(h, self)?;
                if self.members[i].status == MemberStatus::Running {
                    self.members[i].status = MemberStatus::PollingStopped;
                    self.note(|| format!("m{i} stops polling"));
                }
            }
            Op::ResumePolling(h) => {
                let i = member(h, self)?;
                if self.members[i].status == MemberStatus::PollingStopped {
                    self.members[i].status = MemberStatus::Running;
                    self.members[i].next_tick = now;
                    self.note(|| format!("m{i} resumes polling"));
                }
            }
            Op::Freeze(h) => {
                let i = member(h, self)?;
                let m = &mut self.members[i];
                if matches!(
                    m.status,
                    MemberStatus::Running | MemberStatus::PollingStopped
                ) {
                    m.thawed = m.status;
                    m.status = MemberStatus::Frozen;
                    self.note(|| format!("m{i} freezes"));
                }
            }
            Op::Thaw(h) => {
                let i = member(h, self)?;
                self.thaw(i);
            }
            Op::Isolate(h) => {
                let i = member(h, self)?;
                self.members[i].isolated = true;
                self.note(|| format!("m{i} cut off"));
            }
            Op::Reconnect(h) => {
                let i = member(h, self)?;
                self.members[i].isolated = false;
                self.note(|| format!("m{i} reconnected"));
            }
            Op::Subscribe(h, topics) => {
                let i = member(h, self)?;
                self.note(|| format!("m{i} subscribes to {topics:?}"));
                let m = &mut self.members[i];
                m.topics = topics.clone();
                if let Some(c) = m.consumer.as_mut() {
                    if c.state() != MemberState::Closed {
                        let _ = c.subscribe(now, topics);
                    }
                }
                self.pump_member(i);
            }
            Op::ReplayCommit(h) => {
                let i = member(h, self)?;
                self.replay_commit(i);
            }
            Op::CrashCoordinator { group } => {
                let p = partition_for(&group, self.config.offsets_partitions);
                match self.owners.get(&p).copied() {
                    Some(Owner::Owned { broker, .. } | Owner::Loading { broker, .. }) => {
                        self.crash_broker(broker);
                    }
                    _ => self.note(|| format!("no coordinator of {group} to crash")),
                }
            }
            Op::Network(n) => {
                self.network = n;
                self.note(|| format!("network {n:?}"));
            }
            Op::ResetOffsets {
                group,
                partition,
                offset,
            } => self.reset_offsets(&group, partition, offset),
            Op::Heal => self.heal(),
        }
        self.after_step()
    }

    /// Lets `ms` of virtual time pass.
    ///
    /// # Errors
    /// The first [`Violation`].
    pub fn run_for(&mut self, ms: u64) -> Result<(), Violation> {
        let end = self.now.plus_millis(ms);
        self.run_until(end)
    }

    fn run_until(&mut self, end: Timestamp) -> Result<(), Violation> {
        let mut instant = self.now;
        let mut steps_here = 0u32;
        loop {
            self.check_violation()?;
            let Some(next) = self.next_due().filter(|t| *t <= end) else {
                self.now = self.now.max(end);
                return Ok(());
            };
            self.now = self.now.max(next);
            if self.now == instant {
                steps_here += 1;
                if steps_here > MAX_STEPS_PER_INSTANT {
                    let stuck: Vec<String> = self
                        .members
                        .iter()
                        .enumerate()
                        .filter_map(|(i, m)| {
                            let c = m.consumer.as_ref()?;
                            Some(format!(
                                "m{i} {:?} {:?} timeout {:?} coordinator known {}",
                                m.status,
                                c.state(),
                                c.poll_timeout(),
                                c.coordinator_known()
                            ))
                        })
                        .collect();
                    return Err(Violation::new(
                        Invariant::Liveness,
                        self.now,
                        format!(
                            "livelock: the cluster keeps stepping without time passing ({})",
                            stuck.join("; ")
                        ),
                    ));
                }
            } else {
                instant = self.now;
                steps_here = 0;
            }
            self.fire_due()?;
        }
    }

    /// Runs until every group has settled (see the module docs, invariant 5) or `max_ms` of
    /// virtual time passed, and returns the time it took.
    ///
    /// # Errors
    /// [`Invariant::Liveness`] if a group did not settle in time, with what was unsettled;
    /// any violation found on the way.
    pub fn settle(&mut self, max_ms: u64) -> Result<u64, Violation> {
        let start = self.now;
        let deadline = start.plus_millis(max_ms);
        loop {
            if let Err(why) = self.settled() {
                if self.now >= deadline {
                    return Err(Violation::new(
                        Invariant::Liveness,
                        self.now,
                        format!("not settled {max_ms} ms after the faults healed: {why}"),
                    ));
                }
                let step = self.now.plus_millis(100).min(deadline);
                self.run_until(step)?;
            } else {
                return Ok(self.now.0 - start.0);
            }
        }
    }

    /// Members added so far (handles are `0..member_count()`).
    #[must_use]
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The member's status.
    #[must_use]
    pub fn status(&self, h: MemberHandle) -> Option<MemberStatus> {
        self.members.get(h.0).map(|m| m.status)
    }

    /// The member's consumer, unless it crashed.
    #[must_use]
    pub fn consumer(&self, h: MemberHandle) -> Option<&ConsumerCoordinator> {
        self.members.get(h.0)?.consumer.as_ref()
    }

    /// The member's current assignment (empty if crashed).
    #[must_use]
    pub fn assignment(&self, h: MemberHandle) -> Vec<TopicPartition> {
        self.consumer(h)
            .map(ConsumerCoordinator::assignment)
            .unwrap_or_default()
    }

    /// Every record the member's application processed, over all its runs.
    #[must_use]
    pub fn processed(&self, h: MemberHandle) -> &[ProcessedRecord] {
        self.members.get(h.0).map_or(&[], |m| &m.processed)
    }

    /// The group's committed offset of `tp`, as its coordinator serves it now.
    #[must_use]
    pub fn committed(&self, group: &str, tp: &TopicPartition) -> Option<Offset> {
        let (b, ..) = self.owned(self.groups.get(group)?.partition)?;
        let store = self.brokers[b].store.as_ref()?;
        store
            .fetch(&GroupId::from(group), std::slice::from_ref(tp), false)
            .pop()?
            .ok()
            .flatten()
            .map(|c| c.offset)
    }

    /// The group's state at its coordinator, if one serves it.
    #[must_use]
    pub fn group_state(&self, group: &str) -> Option<GroupState> {
        let p = self.groups.get(group)?.partition;
        let (b, ..) = self.owned(p)?;
        self.brokers[b].coordinator.as_ref()?.group_state(group)
    }

    /// The group's generation at its coordinator, if one serves it.
    #[must_use]
    pub fn generation(&self, group: &str) -> Option<Generation> {
        let p = self.groups.get(group)?.partition;
        let (b, ..) = self.owned(p)?;
        self.brokers[b].coordinator.as_ref()?.generation(group)
    }

    /// An exactly-once group's committed output: each record id and how many times it was
    /// committed.
    #[must_use]
    pub fn output(&self, group: &str) -> Vec<(u64, u32)> {
        self.groups
            .get(group)
            .map(|g| g.outputs.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    /// Checks invariant 6 for every group: at-least-once processed every record of its
    /// subscribed topics at least once, at-most-once processed no record twice, exactly-once
    /// committed every record of its subscribed topics to its output exactly once (and none
    /// twice). Call it after [`settle`](Self::settle).
    ///
    /// # Errors
    /// [`Invariant::Delivery`] naming the first record that broke the promise.
    pub fn check_delivery(&self) -> Result<DeliveryReport, Violation> {
        let mut report = DeliveryReport::default();
        for (gid, info) in &self.groups {
            let Some(mode) = info.delivery else { continue };
            let subscribed: BTreeSet<Topic> = self
                .members
                .iter()
                .filter(|m| m.spec.config.group_id == *gid && m.active())
                .flat_map(|m| m.topics.iter().cloned())
                .collect();
            let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
            for m in self
                .members
                .iter()
                .filter(|m| m.spec.config.group_id == *gid)
            {
                for r in &m.processed {
                    *counts.entry(r.record).or_default() += 1;
                }
            }
            report.processed += counts.values().map(|c| *c as usize).sum::<usize>();
            report.repeated += counts
                .values()
                .map(|c| c.saturating_sub(1) as usize)
                .sum::<usize>();
            let bad = |detail: String| Violation::new(Invariant::Delivery, self.now, detail);
            if mode == DeliveryMode::AtMostOnce {
                if let Some((id, n)) = counts.iter().find(|(_, n)| **n > 1) {
                    return Err(bad(format!(
                        "group {gid} (at-most-once) processed record {id} {n} times"
                    )));
                }
            }
            if mode == DeliveryMode::ExactlyOnce {
                report.output += info.outputs.len();
                if let Some((id, n)) = info.outputs.iter().find(|(_, n)| **n > 1) {
                    return Err(bad(format!(
                        "group {gid} (exactly-once) has record {id} in its output {n} times"
                    )));
                }
            }
            for topic in &subscribed {
                let Some(logs) = self.topics.get(topic) else {
                    continue;
                };
                for (p, log) in logs.iter().enumerate() {
                    let mut ids = Vec::new();
                    let _ = log.read(0, 0, ReadLimit::unlimited(), &mut |r| {
                        ids.push((r.offset, record_id(r.value)));
                    });
                    for (offset, id) in ids {
                        report.records += 1;
                        let processed = counts.get(&id).copied().unwrap_or(0);
                        if processed == 0 {
                            report.lost += 1;
                        }
                        let missing = match mode {
                            DeliveryMode::AtLeastOnce => processed == 0,
                            DeliveryMode::ExactlyOnce => !info.outputs.contains_key(&id),
                            DeliveryMode::AtMostOnce => false,
                        };
                        if missing {
                            return Err(bad(format!(
                                "group {gid} ({mode:?}) never {} record {id} at {topic}:{p}@{offset}",
                                if mode == DeliveryMode::ExactlyOnce {
                                    "committed to its output"
                                } else {
                                    "processed"
                                }
                            )));
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    // ---- Operations ---------------------------------------------------------------------------

    fn produce(&mut self, topic: &Topic, records: u32) {
        let now = self.now;
        if !self.topics.contains_key(topic) {
            self.create_topic(topic.clone(), 1);
        }
        let Some(logs) = self.topics.get(topic) else {
            return;
        };
        let partitions = logs.len() as u32;
        for _ in 0..records {
            let id = self.next_record;
            self.next_record += 1;
            let key = id.to_be_bytes();
            let value = id.to_le_bytes();
            let p = partition_for_key(&key, partitions) as usize;
            let _ = logs[p].append(0, &[Record::new(Some(&key), Some(&value), now)]);
        }
        self.note(|| format!("produce {records} to {topic}"));
    }

    fn crash_member(&mut self, i: usize) {
        let m = &mut self.members[i];
        if m.consumer.is_none() {
            return;
        }
        m.consumer = None;
        m.status = MemberStatus::Crashed;
        m.app = App::Idle;
        m.ack_pending = false;
        m.inbox.clear();
        self.note(|| format!("m{i} crashes"));
    }

    fn restart_member(&mut self, i: usize) -> Result<(), Violation> {
        let m = &mut self.members[i];
        let closed = m
            .consumer
            .as_ref()
            .is_none_or(|c| c.state() == MemberState::Closed);
        if !closed {
            return Ok(());
        }
        m.incarnation += 1;
        m.producer_epoch = m.producer_epoch.wrapping_add(1);
        let pid = m.producer_id;
        // A transactional producer starting again fences its predecessor: the abort marker
        // of the unfinished transaction carries the new epoch, so writes of the old one that
        // are still on their way are refused (PRODUCER_FENCED).
        let epoch = m.producer_epoch;
        if let Some(mut txn) = self.txns.remove(&pid) {
            txn.producer.epoch = epoch;
            self.queue_marker(&txn, TxnOutcome::Abort);
        }
        self.boot(i)
            .map_err(|e| op_error(self.now, format!("restart m{i}: {e}")))?;
        let inc = self.members[i].incarnation;
        self.note(|| format!("m{i} restarts (run {inc})"));
        Ok(())
    }

    fn close_member(&mut self, i: usize) {
        let now = self.now;
        let m = &mut self.members[i];
        let Some(c) = m.consumer.as_mut() else { return };
        if !matches!(
            m.status,
            MemberStatus::Running | MemberStatus::PollingStopped
        ) {
            return;
        }
        if m.spec.delivery == DeliveryMode::AtLeastOnce && m.app == App::Idle {
            if let Some(ends) = uncommitted(c) {
                let _ = c.commit(now, Some(ends));
            }
        }
        c.close(now);
        m.status = MemberStatus::Closed;
        self.note(|| format!("m{i} closes"));
        self.pump_member(i);
    }

    fn thaw(&mut self, i: usize) {
        let now = self.now;
        let m = &mut self.members[i];
        if m.status != MemberStatus::Frozen {
            return;
        }
        m.status = m.thawed;
        m.next_tick = now;
        if let Some(c) = m.consumer.as_mut() {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
        self.note(|| format!("m{i} thaws"));
        self.pump_member(i);
        let inbox = std::mem::take(&mut self.members[i].inbox);
        for p in inbox {
            self.deliver(p);
        }
    }

    fn heal(&mut self) {
        self.note(|| "heal".to_string());
        for i in 0..self.members.len() {
            self.thaw(i);
            let m = &mut self.members[i];
            m.isolated = false;
            if m.status == MemberStatus::PollingStopped {
                m.status = MemberStatus::Running;
                m.next_tick = self.now;
            }
        }
        self.network = NetworkConfig {
            drop_probability: 0.0,
            duplicate_probability: 0.0,
            ..self.config.network
        };
    }

    /// Hands the group's coordinator the oldest remembered commit member `i` made in a
    /// generation other than the group's current one. Its answer goes to no one.
    fn replay_commit(&mut self, i: usize) {
        let group = self.members[i].spec.config.group_id.clone();
        let Some(partition) = self.groups.get(&group).map(|info| info.partition) else {
            return;
        };
        let Some((b, ..)) = self.owned(partition) else {
            self.note(|| format!("m{i}'s replayed commit finds no coordinator"));
            return;
        };
        let Some(current) = self.brokers[b]
            .coordinator
            .as_ref()
            .map(|c| c.generation(&group))
        else {
            return;
        };
        let Some(request) = self.members[i]
            .sent_commits
            .iter()
            .find(|r| Some(r.generation) != current)
            .cloned()
        else {
            self.note(|| format!("m{i} has no stale commit to replay"));
            return;
        };
        self.note(|| {
            format!(
                "broker {b} <- m{i} replayed {}",
                engine::short_request(&Request::OffsetCommit(request.clone()))
            )
        });
        self.send_unanswered(b, RouteKind::Zombie(request.generation), request);
    }

    fn reset_offsets(&mut self, group: &GroupId, tp: TopicPartition, offset: Offset) {
        let Some(info) = self.groups.get(group) else {
            return;
        };
        let Some((b, ..)) = self.owned(info.partition) else {
            self.note(|| format!("reset of {group} refused: no coordinator"));
            return;
        };
        let Some(c) = self.brokers[b].coordinator.as_mut() else {
            return;
        };
        if !matches!(c.group_state(group), None | Some(GroupState::Empty)) {
            self.note(|| format!("reset of {group} refused: the group has members"));
            return;
        }
        let commit = OffsetCommit::new(tp.clone(), offset);
        if let Some(info) = self.groups.get_mut(group) {
            info.resets.insert(tp, offset.0);
        }
        self.note(|| format!("admin resets {group} to {offset}"));
        let request = OffsetCommitRequest {
            group_id: group.clone(),
            generation: Generation::NONE,
            member_id: MemberId::from(""),
            group_instance_id: None,
            retention_ms: None,
            offsets: vec![commit.clone()],
        };
        self.send_unanswered(b, RouteKind::Admin(vec![commit]), request);
    }

    /// Hands broker `b`'s coordinator an OffsetCommit from outside the members (an admin, a
    /// replay); its answer reaches only the checks, through `kind`.
    fn send_unanswered(&mut self, b: usize, kind: RouteKind, request: OffsetCommitRequest) {
        self.next_tag += 1;
        let tag = self.next_tag;
        self.routes.insert(
            tag,
            Route {
                broker: b,
                member: usize::MAX,
                inc: 0,
                id: RequestId(0),
                group: request.group_id.clone(),
                kind,
            },
        );
        if let Some(c) = self.brokers[b].coordinator.as_mut() {
            c.handle(self.now, RequestId(tag), Request::OffsetCommit(request));
        }
        self.pump_broker(b);
    }

    // ---- Brokers ------------------------------------------------------------------------------

    /// The broker serving `partition`, with its incarnation and since when.
    fn owned(&self, partition: u32) -> Option<(usize, u32, Timestamp)> {
        match self.owners.get(&partition)? {
            Owner::Owned { broker, inc, since } if self.brokers[*broker].incarnation == *inc => {
                Some((*broker, *inc, *since))
            }
            _ => None,
        }
    }

    /// The broker a FindCoordinator names for `partition` (serving or loading it).
    fn coordinator_of(&self, partition: u32) -> Option<(usize, u32)> {
        match *self.owners.get(&partition)? {
            Owner::Owned { broker, inc, .. } | Owner::Loading { broker, inc, .. }
                if self.brokers[broker].incarnation == inc
                    && self.brokers[broker].coordinator.is_some() =>
            {
                Some((broker, inc))
            }
            _ => None,
        }
    }

    fn crash_broker(&mut self, b: usize) {
        let now = self.now;
        let broker = &mut self.brokers[b];
        broker.coordinator = None;
        broker.store = None;
        broker.incarnation += 1;
        broker.restart_at = Some(now.plus_millis(self.config.broker_restart_ms));
        self.note(|| format!("broker {b} crashes"));
        // Connections to it break: every request it holds fails at its member.
        let mine: Vec<u64> = self
            .routes
            .iter()
            .filter(|(_, r)| r.broker == b)
            .map(|(t, _)| *t)
            .collect();
        for tag in mine {
            let Some(r) = self.routes.remove(&tag) else {
                continue;
            };
            let payload = match r.kind {
                RouteKind::Txn(seq, _) => Payload::TxnResult {
                    member: r.member,
                    inc: r.inc,
                    seq,
                    accepted: false,
                },
                RouteKind::Admin(_) | RouteKind::Zombie(_) => continue,
                _ => Payload::Failed {
                    member: r.member,
                    inc: r.inc,
                    id: r.id,
                },
            };
            self.send_reliably(payload);
        }
        let failover_at = now.plus_millis(self.config.failover_delay_ms);
        for owner in self.owners.values_mut() {
            if let Owner::Owned { broker, .. } | Owner::Loading { broker, .. } = *owner {
                if broker == b {
                    *owner = Owner::Vacant { failover_at };
                }
            }
        }
    }
}

fn record_id(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| v.get(..8))
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map_or(u64::MAX, u64::from_le_bytes)
}

/// The owned partitions whose position is past their committed offset, as commits.
fn uncommitted(c: &ConsumerCoordinator) -> Option<Vec<OffsetCommit>> {
    let ends: Vec<OffsetCommit> = c
        .assignment()
        .into_iter()
        .chain(c.revoking())
        .filter_map(|tp| {
            let p = c.position(&tp)?;
            (c.committed(&tp) != Some(p)).then(|| OffsetCommit::new(tp, p))
        })
        .collect();
    (!ends.is_empty()).then_some(ends)
}

mod engine;
mod invariants;
