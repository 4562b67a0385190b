//! Deterministic simulation: a seeded cluster in virtual time.
//!
//! A [`Simulation`] runs the crate's real [`GroupCoordinator`]s and [`ConsumerCoordinator`]s
//! together, with everything around them simulated: a virtual clock, a network, brokers that
//! crash and fail over, topics that producers append to, and consumer applications that read,
//! process and commit. Every random choice comes from one seed, so a run replays exactly, byte
//! for byte, and a failure found by a random [`Scenario`] is reproduced from its seed alone.
//!
//! * **Clock.** Time is a [`Timestamp`](crate::Timestamp) that jumps straight to the next thing
//!   due: the earliest `poll_timeout()` of any coordinator or member, a message's arrival, an
//!   application's next poll, a scheduled fault. No thread sleeps; hours of group life take
//!   milliseconds.
//! * **Network.** Members talk to coordinators through messages that the network delays
//!   (uniformly within [`NetworkConfig`]'s bounds, so messages overtake each other), drops
//!   and duplicates with the configured probabilities. A member can be cut off
//!   ([`Op::Isolate`]) and reconnected. Requests to a broker that has crashed fail as a broken
//!   connection does.
//! * **Brokers.** [`SimConfig::brokers`] brokers each run a [`GroupCoordinator`] over its own
//!   [`LogOffsetStore`](crate::offsets::LogOffsetStore); all share one offsets log. Each
//!   offsets-log partition has one owner. When the owner crashes ([`Op::CrashCoordinator`]),
//!   another live broker takes the partition over after [`SimConfig::failover_delay_ms`],
//!   replays it for [`SimConfig::load_time_ms`] (answering COORDINATOR_LOAD_IN_PROGRESS
//!   meanwhile), and serves the group from what the log holds. The crashed broker comes back,
//!   empty, after [`SimConfig::broker_restart_ms`].
//! * **Workload.** [`Op::Produce`] appends keyed records (Kafka's default partitioner) to
//!   topics in in-memory logs; each record's value is a unique record id. Each member runs an
//!   application that polls every [`SimConfig::app_tick_ms`], reads up to
//!   [`SimConfig::max_batch`] records from the partitions it may read, processes them and
//!   commits according to its group's [`DeliveryMode`].
//! * **Faults** are [`Op`]s: crash and restart a member, stop its polling (past
//!   `max.poll.interval.ms`) or freeze it entirely (no heartbeats), cut it off the network,
//!   crash the coordinator, change a subscription, add partitions, turn network faults on and
//!   off, and [`Op::Heal`] to end them all.
//!
//! After every step (every message delivered, timer fired, application poll or operation) the
//! simulation checks the group invariants below and stops at the first violation with a
//! [`Violation`]:
//!
//! 1. **Ownership.** No partition has two owners in one generation; in a group whose members
//!    all use the cooperative protocol, no partition is held by two running members at any
//!    moment (counting partitions still being revoked).
//! 2. **Generations.** A member's assignments come in non-decreasing generations; a group's
//!    generation never decreases while one coordinator serves it, and a coordinator that
//!    takes a group over starts at or above the last generation that reached Stable (a
//!    generation that never completed its sync was never stored and had no owners, so it may
//!    be issued again, as in Kafka).
//! 3. **Committed offsets** change only to a value some commit was accepted for (an
//!    OffsetCommit answered NONE, or a TxnOffsetCommit whose transaction committed), and never
//!    go backwards except by [`Op::ResetOffsets`].
//! 4. **Static members** are never removed before their session timeout has run out since
//!    the coordinator last heard from them, unless they left, were replaced by a new instance
//!    with the same `group.instance.id`, or did not sync within the rebalance timeout.
//!
//! The checks assume what Kafka's defaults give: `max.poll.interval.ms` (the rebalance
//! timeout) longer than `session.timeout.ms` plus a heartbeat interval. A member that stops
//! for longer than its session learns so from its own session timer before the coordinator
//! can hand its partitions on; a frozen process ([`Op::Freeze`]) is not counted as holding
//! anything until it runs again, and then fires its timers first.
//!
//! [`Simulation::settle`] checks liveness after the faults heal (5: every group Stable with
//! every partition of its subscription assigned to exactly one subscriber, and every record
//! consumed and committed, within a bounded virtual time), and
//! [`Simulation::check_delivery`] checks delivery (6: at-least-once processed every record at
//! least once, at-most-once never processed one twice, exactly-once put every record into
//! its output exactly once). Records count from the start of each partition, so members
//! should reset to the earliest offset (`auto.offset.reset=earliest`).
//!
//! ```
//! use consumer_groups::consumer::ConsumerConfig;
//! use consumer_groups::sim::{DeliveryMode, MemberSpec, Op, SimConfig, Simulation};
//!
//! let mut sim = Simulation::new(SimConfig::new(42));
//! sim.create_topic("orders", 4);
//! let mut config = ConsumerConfig::new("billing");
//! config.assignors = vec!["cooperative-sticky".into()];
//! config.auto_offset_reset = consumer_groups::consumer::OffsetReset::Earliest;
//! let a = sim.add_member(MemberSpec::new(config.clone(), ["orders"], DeliveryMode::AtLeastOnce))?;
//! let b = sim.add_member(MemberSpec::new(config, ["orders"], DeliveryMode::AtLeastOnce))?;
//!
//! sim.apply(Op::Produce { topic: "orders".into(), records: 200 })?;
//! sim.apply(Op::RunFor(20_000))?;
//! sim.apply(Op::Crash(a))?;
//! sim.apply(Op::Produce { topic: "orders".into(), records: 200 })?;
//! sim.apply(Op::RunFor(60_000))?;
//!
//! sim.settle(300_000)?;
//! let report = sim.check_delivery()?;
//! assert_eq!(report.records, 400);
//! assert_eq!(sim.assignment(b).len(), 4); // b took over every partition
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`GroupCoordinator`]: crate::coordinator::GroupCoordinator
//! [`ConsumerCoordinator`]: crate::consumer::ConsumerCoordinator

mod check;
mod cluster;
mod rng;
mod scenario;

pub use check::{Invariant, Violation};
pub use cluster::{DeliveryReport, MemberHandle, MemberStatus, ProcessedRecord, Simulation};
pub use rng::SimRng;
pub use scenario::{Scenario, ScenarioConfig, ScenarioOutcome};

use crate::consumer::ConsumerConfig;
use crate::coordinator::CoordinatorConfig;
use crate::types::{Offset, Topic, TopicPartition};

/// How a group's applications commit, and so what they promise about each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryMode {
    /// Commit the offsets after a batch *before* processing it (and only process it if the
    /// commit was accepted): a crash can lose records, never repeat them.
    AtMostOnce,
    /// Process a batch, then commit the offsets after it: a crash can repeat records, never
    /// lose them.
    AtLeastOnce,
    /// Process a batch inside a transaction: its outputs and the offsets after it (a
    /// TxnOffsetCommit carrying the member's generation, KIP-447) commit or abort together.
    /// Members read committed offsets only (`isolation.level=read_committed`).
    ExactlyOnce,
}

/// The simulated network's behaviour. Each message is delayed independently, uniformly in
/// `min_delay_ms..=max_delay_ms`, so messages overtake each other whenever the bounds differ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkConfig {
    /// Shortest delay of a message.
    pub min_delay_ms: u64,
    /// Longest delay of a message.
    pub max_delay_ms: u64,
    /// Chance that a message is lost. A lost message breaks its connection, as over TCP: the
    /// member learns that the request failed (after a network delay) and finds its
    /// coordinator again. Silent loss is what [`Op::Isolate`] does.
    pub drop_probability: f64,
    /// Chance that a group-protocol message is delivered twice (each copy delayed on its
    /// own). A transactional producer's requests are never duplicated: Kafka's producer
    /// sequence numbers discard duplicates.
    pub duplicate_probability: f64,
}

impl NetworkConfig {
    /// A network that delays messages by 1–5 ms and loses and duplicates none.
    #[must_use]
    pub const fn reliable() -> NetworkConfig {
        NetworkConfig {
            min_delay_ms: 1,
            max_delay_ms: 5,
            drop_probability: 0.0,
            duplicate_probability: 0.0,
        }
    }

    /// A network that delays messages by 1–200 ms, loses 2% and duplicates 2%.
    #[must_use]
    pub const fn faulty() -> NetworkConfig {
        NetworkConfig {
            min_delay_ms: 1,
            max_delay_ms: 200,
            drop_probability: 0.02,
            duplicate_probability: 0.02,
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig::reliable()
    }
}

/// Settings of a [`Simulation`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The seed every random choice comes from.
    pub seed: u64,
    /// Brokers that can coordinate groups (at least 1; failover needs 2).
    pub brokers: usize,
    /// Partitions of the shared offsets log.
    pub offsets_partitions: u32,
    /// Settings of every broker's coordinator (`owned_partitions` is managed by the
    /// simulation; each broker's `seed` is derived from [`seed`](Self::seed)).
    pub coordinator: CoordinatorConfig,
    /// The network, at the start; [`Op::Network`] changes it and [`Op::Heal`] restores it.
    pub network: NetworkConfig,
    /// Time from a coordinator's crash until another broker starts loading its partitions.
    pub failover_delay_ms: u64,
    /// Time a broker spends loading a partition it takes over.
    pub load_time_ms: u64,
    /// Time until a crashed broker is back (empty, owning nothing).
    pub broker_restart_ms: u64,
    /// How often a running application polls.
    pub app_tick_ms: u64,
    /// Most records an application processes per poll.
    pub max_batch: usize,
    /// The transaction coordinator aborts a transaction left open this long (Kafka's
    /// `transaction.timeout.ms`).
    pub transaction_timeout_ms: u64,
    /// Keep a trace of every step ([`Simulation::trace`]).
    pub trace: bool,
}

impl SimConfig {
    /// Defaults for `seed`: 3 brokers, 4 offsets-log partitions, coordinators with Kafka's
    /// settings but no initial rebalance delay, a [reliable](NetworkConfig::reliable)
    /// network, failover after 1 s and a 500 ms load, applications polling every 100 ms for
    /// at most 20 records, a 10 s transaction timeout, no trace.
    #[must_use]
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            brokers: 3,
            offsets_partitions: 4,
            coordinator: CoordinatorConfig {
                initial_rebalance_delay_ms: 0,
                ..CoordinatorConfig::default()
            },
            network: NetworkConfig::reliable(),
            failover_delay_ms: 1_000,
            load_time_ms: 500,
            broker_restart_ms: 5_000,
            app_tick_ms: 100,
            max_batch: 20,
            transaction_timeout_ms: 10_000,
            trace: false,
        }
    }
}

/// A member to add: its consumer settings, the topics it subscribes to, and how its
/// application commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    /// The consumer's settings. `group.instance.id` makes it static.
    pub config: ConsumerConfig,
    /// The topics it subscribes to.
    pub topics: Vec<Topic>,
    /// How its application commits; every member of a group must use the same mode.
    pub delivery: DeliveryMode,
}

impl MemberSpec {
    /// A member with `config`, subscribed to `topics`, committing by `delivery`.
    pub fn new<I, T>(config: ConsumerConfig, topics: I, delivery: DeliveryMode) -> MemberSpec
    where
        I: IntoIterator<Item = T>,
        T: Into<Topic>,
    {
        MemberSpec {
            config,
            topics: topics.into_iter().map(Into::into).collect(),
            delivery,
        }
    }
}

/// One operation on a [`Simulation`]: a fault, a change, or the passing of time.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Lets `ms` of virtual time pass.
    RunFor(u64),
    /// Appends `records` keyed records to `topic`.
    Produce {
        /// The topic.
        topic: Topic,
        /// How many records.
        records: u32,
    },
    /// Adds `count` partitions to `topic`; members learn it at their next poll.
    AddPartitions {
        /// The topic.
        topic: Topic,
        /// How many partitions to add.
        count: u32,
    },
    /// Adds a member, which subscribes and starts polling.
    AddMember(MemberSpec),
    /// The member's process dies: its state is lost, nothing is sent.
    Crash(MemberHandle),
    /// A crashed (or closed) member starts again: with the same `group.instance.id` if it is
    /// static, as a new member otherwise.
    Restart(MemberHandle),
    /// The member closes cleanly (commits as its mode does, revokes, leaves).
    Close(MemberHandle),
    /// The application stops polling (heartbeats go on): after `max.poll.interval.ms` the
    /// member leaves its group.
    StopPolling(MemberHandle),
    /// The application polls again.
    ResumePolling(MemberHandle),
    /// The whole process stops (a long pause): no polls, no heartbeats, no timers; messages
    /// to it wait.
    Freeze(MemberHandle),
    /// A frozen process runs again: it fires the timers that fell due, then reads what
    /// arrived.
    Thaw(MemberHandle),
    /// Cuts the member off the network: everything to or from it is lost.
    Isolate(MemberHandle),
    /// Reconnects an isolated member.
    Reconnect(MemberHandle),
    /// Changes the member's subscription.
    Subscribe(MemberHandle, Vec<Topic>),
    /// A stale copy of an OffsetCommit the member sent in an earlier generation reaches its
    /// group's coordinator now: a zombie client, or a network that delivers a request long
    /// after its sender moved on. The coordinator must refuse it (ILLEGAL_GENERATION or
    /// UNKNOWN_MEMBER_ID); accepting it breaks invariant 3. Nothing happens if the member
    /// sent no commit in a generation other than the group's current one.
    ReplayCommit(MemberHandle),
    /// The broker coordinating `group` crashes (its state is lost); another takes over.
    CrashCoordinator {
        /// The group whose coordinator crashes.
        group: crate::types::GroupId,
    },
    /// Sets the network's behaviour.
    Network(NetworkConfig),
    /// An administrator resets a group's committed offset (the one way offsets may go
    /// backwards). Only allowed while the group has no members, as Kafka's tool requires.
    ResetOffsets {
        /// The group.
        group: crate::types::GroupId,
        /// The partition.
        partition: TopicPartition,
        /// The new committed offset.
        offset: Offset,
    },
    /// Ends every fault: thaws, resumes and reconnects every member and restores the
    /// configured network (crashed members stay crashed; their sessions run out).
    Heal,
}
