//! [`ConsumerCoordinator`]: what a Kafka consumer's coordinator does, driven by the host.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::assignor::{AssignorRegistry, GroupSpec, MemberSpec, RebalanceProtocol, TopicSpec};
use crate::consumer::config::{ConsumerConfig, IsolationLevel, OffsetReset};
use crate::error::{Error, ErrorCode};
use crate::offsets::OffsetCommit;
use crate::protocol::consumer::{
    Assignment as ConsumerAssignment, CONSUMER_PROTOCOL_TYPE, ProtocolError, Subscription,
    TopicPartitions,
};
use crate::protocol::group::{
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, JoinProtocol, LeaveGroupRequest,
    LeavingMember, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use crate::protocol::{Request, RequestId, Response};
use crate::types::{
    Generation, GroupId, GroupInstanceId, MemberId, Offset, Timestamp, Topic, TopicPartition,
};
use crate::wire::{Reader, Writer};

/// Consumer-protocol version this member writes (subscriptions and assignments). Version 3
/// carries owned partitions, their generation and the rack; every current Kafka client reads it.
const PROTOCOL_VERSION: i16 = 3;

/// Extra time a JoinGroup may take beyond the rebalance timeout before the member gives up on
/// it (Kafka's consumer allows the same 5 s).
const JOIN_GRACE_MS: u64 = 5_000;

/// The tag of a commit, returned by [`ConsumerCoordinator::commit`] and carried by its
/// [`ConsumerEvent::CommitCompleted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub u64);

/// What a transactional producer sends with the offsets it commits for a consumer (Kafka's
/// `ConsumerGroupMetadata`, from `consumer.groupMetadata()`; KIP-447): the group and the
/// member's place in it, so the group coordinator can refuse offsets from a consumer that has
/// left the group or missed a rebalance. Taken from
/// [`ConsumerCoordinator::group_metadata`]; the fields of a
/// [`TxnOffsetCommitRequest`](crate::protocol::group::TxnOffsetCommitRequest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// The consumer's group.
    pub group_id: GroupId,
    /// The member's generation, [`Generation::NONE`] when it is not in one.
    pub generation: Generation,
    /// The member's id, `""` when it is not in a generation.
    pub member_id: MemberId,
    /// The consumer's `group.instance.id`, if it is a static member.
    pub group_instance_id: Option<GroupInstanceId>,
}

/// Where the member is in its group's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Not in a generation: no subscription yet, partitions assigned by hand, or waiting to
    /// (re)join.
    Unjoined,
    /// A revocation was handed to the host ([`ConsumerEvent::PartitionsRevoked`]); the member
    /// waits for [`ConsumerCoordinator::revocation_done`] (and, with auto-commit, for the commit
    /// that follows it) before it rejoins.
    Revoking,
    /// JoinGroup sent; the coordinator holds it until the group's join phase completes
    /// (Kafka's `PREPARING_REBALANCE`).
    Joining,
    /// SyncGroup sent, waiting for the assignment (Kafka's `COMPLETING_REBALANCE`).
    Syncing,
    /// In a generation with an assignment; heartbeating.
    Stable,
    /// Closing: the last commit and the LeaveGroup are in flight.
    Closing,
    /// Closed by the host, or stopped by a fatal error; takes no more commands.
    Closed,
}

/// What the member tells the application, in the order Kafka calls its rebalance listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// These partitions are being taken away. The host may commit their offsets now; the member
    /// does not rejoin (so the partitions do not move) until the host calls
    /// [`ConsumerCoordinator::revocation_done`].
    PartitionsRevoked {
        /// The partitions, sorted.
        partitions: Vec<TopicPartition>,
    },
    /// A rebalance completed. Emitted after every successful sync, even when nothing was added.
    PartitionsAssigned {
        /// The partitions added by this rebalance (eager: the whole assignment), sorted.
        partitions: Vec<TopicPartition>,
        /// The member's whole assignment now, sorted.
        assignment: Vec<TopicPartition>,
        /// The generation the assignment belongs to.
        generation: Generation,
    },
    /// The member lost its membership (fenced, unknown member, stale generation, session or
    /// poll timeout): these partitions may already belong to someone else and must not be
    /// committed.
    PartitionsLost {
        /// The partitions, sorted.
        partitions: Vec<TopicPartition>,
    },
    /// These partitions have no committed offset and the reset policy is `earliest` or
    /// `latest`: the host looks up the log-start or log-end offset of each and answers with
    /// [`ConsumerCoordinator::seek`].
    ResetOffsets {
        /// Which end of the log to start from.
        policy: OffsetReset,
        /// The partitions, sorted.
        partitions: Vec<TopicPartition>,
    },
    /// These partitions have no committed offset and the reset policy is `none` (Kafka's
    /// `NoOffsetForPartitionException`): they are not read until the host seeks.
    NoOffset {
        /// The partitions, sorted.
        partitions: Vec<TopicPartition>,
    },
    /// A commit finished, with the coordinator's code per partition (or the reason it could not
    /// be sent, for every partition).
    CommitCompleted {
        /// The commit.
        id: CommitId,
        /// `true` for a commit the member made itself (auto-commit).
        auto: bool,
        /// Each partition's offset and result.
        results: Vec<(TopicPartition, Offset, ErrorCode)>,
    },
    /// A member's subscription or this member's assignment bytes could not be decoded. The
    /// member carries on: a subscription it cannot read counts as subscribing to nothing; an
    /// assignment it cannot read makes it rejoin.
    InvalidMetadata {
        /// The member whose bytes were bad (this member, for an assignment).
        member_id: MemberId,
        /// What was wrong.
        error: ProtocolError,
    },
    /// The leader's assignor refused the group; the leader rejoins after a backoff.
    AssignmentFailed {
        /// The assignor's error.
        error: Error,
    },
    /// The member left its group because the host did not call
    /// [`poll`](ConsumerCoordinator::poll) within `max.poll.interval.ms`. It rejoins at the
    /// next `poll`.
    PollTimeoutExpired,
    /// A fatal error (another member took this one's `group.instance.id`, the group refused the
    /// member's settings, …): the member stopped and is [`MemberState::Closed`].
    Fatal {
        /// The coordinator's code.
        error: ErrorCode,
    },
    /// [`close`](ConsumerCoordinator::close) finished.
    Closed,
}

impl ConsumerEvent {
    /// `true` if every partition of a [`CommitCompleted`](ConsumerEvent::CommitCompleted) was
    /// committed; `false` for other events.
    #[must_use]
    pub fn is_successful_commit(&self) -> bool {
        matches!(self, ConsumerEvent::CommitCompleted { results, .. }
            if results.iter().all(|(_, _, e)| *e == ErrorCode::None))
    }
}

/// What the member reads: topics under group management, or partitions by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    None,
    Subscribed(BTreeSet<Topic>),
    Manual,
}

/// How the member knows its coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coordinator {
    /// Not known; look it up at `retry_at`.
    Unknown { retry_at: Timestamp },
    /// A FindCoordinator is in flight.
    Finding,
    /// Known.
    Known,
}

/// Why a commit is being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CommitPurpose {
    /// The host asked.
    Manual,
    /// The auto-commit timer.
    Auto,
    /// Auto-commit of revoked partitions before rejoining.
    BeforeJoin,
    /// Auto-commit on close.
    OnClose,
}

/// A request waiting for its response.
#[derive(Debug, Clone)]
enum InFlight {
    FindCoordinator,
    /// A JoinGroup, sent at `sent`.
    Join {
        sent: Timestamp,
    },
    /// A SyncGroup, sent at `sent`.
    Sync {
        sent: Timestamp,
    },
    /// A Heartbeat, sent at `sent` in `generation`. The coordinator restarts the member's
    /// session when it receives the request, never before it was sent, so a session the
    /// member times from `sent` ends no later than the coordinator's.
    Heartbeat {
        sent: Timestamp,
        generation: Generation,
    },
    Commit {
        id: CommitId,
        purpose: CommitPurpose,
        offsets: Vec<(TopicPartition, Offset)>,
    },
    Fetch,
    Leave,
}

/// A commit accepted from the host but not sent yet (the coordinator is not known).
#[derive(Debug, Clone)]
struct QueuedCommit {
    id: CommitId,
    purpose: CommitPurpose,
    offsets: Vec<OffsetCommit>,
    /// The member's generation when the commit was made.
    generation: Generation,
}

/// Where an owned partition stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PartitionState {
    /// The next offset the application reads, once known.
    position: Option<Offset>,
    /// The last offset known committed.
    committed: Option<Offset>,
    /// Waiting for the committed offset from the coordinator.
    fetching: bool,
    /// Waiting for the host to resolve a reset (or a seek after `NoOffset`).
    awaiting_reset: bool,
}

/// The member side of a consumer group, as a sans-IO state machine.
///
/// The host drives it: it passes time and the coordinator's responses in, and takes requests to
/// send ([`poll_request`](Self::poll_request)), events for the application
/// ([`poll_event`](Self::poll_event)) and the next deadline ([`poll_timeout`](Self::poll_timeout))
/// out. Requests carry the member's own [`RequestId`]s; the host hands each response back with
/// the id of its request ([`handle_response`](Self::handle_response)), or reports that it could
/// not be delivered ([`handle_request_failed`](Self::handle_request_failed)).
///
/// The member sends its JoinGroup as soon as a rebalance needs it, as long as the host has
/// called [`poll`](Self::poll) within `max.poll.interval.ms` and has acknowledged any
/// revocation; a Kafka consumer waits for its next `poll()` call instead.
///
/// ```
/// use std::sync::Arc;
/// use consumer_groups::consumer::{ConsumerConfig, ConsumerCoordinator, ConsumerEvent};
/// use consumer_groups::coordinator::{CoordinatorConfig, GroupCoordinator};
/// use consumer_groups::assignor::TopicSpec;
/// use consumer_groups::log::MemoryLog;
/// use consumer_groups::offsets::LogOffsetStore;
/// use consumer_groups::protocol::RequestId;
/// use consumer_groups::{Timestamp, TopicPartition};
///
/// let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(1))));
/// let mut broker = GroupCoordinator::new(
///     CoordinatorConfig { initial_rebalance_delay_ms: 0, ..CoordinatorConfig::default() },
///     store,
/// );
/// let mut member = ConsumerCoordinator::new(ConsumerConfig::new("billing"))?;
/// let now = Timestamp(0);
/// member.update_metadata(now, [TopicSpec::new("orders", 3)]);
/// member.subscribe(now, ["orders"])?;
/// member.poll(now);
///
/// // The host carries requests to the coordinator and responses back.
/// let mut tags = std::collections::HashMap::new();
/// for step in 0..20u64 {
///     while let Some((id, request)) = member.poll_request() {
///         broker.handle(now, RequestId(step * 100 + id.0), request);
///         tags.insert(RequestId(step * 100 + id.0), id);
///     }
///     while let Some((tag, response)) = broker.poll_response() {
///         member.handle_response(now, tags[&tag], response);
///     }
/// }
/// let mut assigned = Vec::new();
/// while let Some(event) = member.poll_event() {
///     if let ConsumerEvent::PartitionsAssigned { assignment, .. } = event {
///         assigned = assignment;
///     }
/// }
/// assert_eq!(assigned.len(), 3, "a lone member reads every partition");
/// # Ok::<(), consumer_groups::Error>(())
/// ```
#[derive(Debug)]
pub struct ConsumerCoordinator {
    config: ConsumerConfig,
    assignors: AssignorRegistry,
    protocol: RebalanceProtocol,
    mode: Mode,
    /// Partition counts (and replica racks) of the topics the host told the member about.
    metadata: BTreeMap<Topic, TopicSpec>,
    /// The leader's view of its subscribed topics' partition counts when it last assigned.
    assigned_metadata: Option<BTreeMap<Topic, u32>>,
    state: MemberState,
    member_id: MemberId,
    generation: Generation,
    leader: Option<MemberId>,
    protocol_name: Option<String>,
    rejoin_needed: bool,
    /// The assignment (or the manual set); every owned partition has a `PartitionState`.
    owned: BTreeMap<TopicPartition, PartitionState>,
    /// Revoked, awaiting the host's acknowledgment: still committable.
    revoking: BTreeMap<TopicPartition, PartitionState>,
    /// The generation `revoking` was owned in.
    revoking_generation: Generation,
    /// Partitions owned before an eager revocation, with their generation: sent as owned
    /// partitions in the next subscription so sticky assignors can keep them in place.
    previous: (Vec<TopicPartition>, Generation),
    /// The partitions the last JoinGroup said the member owned (cooperative).
    announced: BTreeSet<TopicPartition>,
    /// The revocation acknowledged and its commit made (or not needed): JoinGroup may go.
    join_commit_pending: bool,
    coordinator: Coordinator,
    in_flight: BTreeMap<RequestId, (InFlight, Timestamp)>,
    next_request: u64,
    next_commit: u64,
    queued_commits: Vec<QueuedCommit>,
    outbox: VecDeque<(RequestId, Request)>,
    events: VecDeque<ConsumerEvent>,
    /// When the next heartbeat is due (while in a generation).
    heartbeat_due: Option<Timestamp>,
    /// When the session ends without a successful heartbeat (while in a generation).
    session_deadline: Option<Timestamp>,
    /// When the member last sent a request whose success proved it a member of a settled
    /// generation (a heartbeat, JoinGroup or SyncGroup answered without error): no rebalance
    /// that could leave it out had started before then.
    in_group_at: Option<Timestamp>,
    /// The host's last `poll`.
    last_poll: Option<Timestamp>,
    /// The poll interval expired and the member left; it rejoins at the next `poll`.
    poll_expired: bool,
    next_auto_commit: Option<Timestamp>,
    /// When a JoinGroup, an OffsetFetch or the leader's assignment may be retried.
    join_retry_at: Option<Timestamp>,
    fetch_retry_at: Option<Timestamp>,
    /// Consecutive failures, for the exponential backoff (KIP-580).
    failures: u32,
    fatal: Option<ErrorCode>,
    /// When a close gives up on its commit and LeaveGroup.
    close_deadline: Option<Timestamp>,
}

impl ConsumerCoordinator {
    /// A member with `config`, choosing among the built-in assignors.
    ///
    /// # Errors
    /// As [`with_assignors`](Self::with_assignors).
    pub fn new(config: ConsumerConfig) -> Result<Self, Error> {
        Self::with_assignors(config, AssignorRegistry::with_builtins())
    }

    /// A member with `config` whose `partition.assignment.strategy` names assignors of
    /// `assignors`. The rebalance protocol is cooperative when every configured assignor
    /// supports it, eager otherwise (Kafka's rule).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a config that fails [`ConsumerConfig::validate`] or names an
    /// assignor the registry lacks.
    pub fn with_assignors(
        config: ConsumerConfig,
        assignors: AssignorRegistry,
    ) -> Result<Self, Error> {
        config.validate()?;
        let mut cooperative = true;
        for name in &config.assignors {
            let Some(a) = assignors.get(name) else {
                return Err(Error::InvalidConfig {
                    key: "partition.assignment.strategy".into(),
                    reason: format!("no assignor named {name:?} is registered"),
                });
            };
            cooperative &= a
                .supported_protocols()
                .contains(&RebalanceProtocol::Cooperative);
        }
        let protocol = if cooperative {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        };
        Ok(ConsumerCoordinator {
            config,
            assignors,
            protocol,
            mode: Mode::None,
            metadata: BTreeMap::new(),
            assigned_metadata: None,
            state: MemberState::Unjoined,
            member_id: MemberId::from(""),
            generation: Generation::NONE,
            leader: None,
            protocol_name: None,
            rejoin_needed: false,
            owned: BTreeMap::new(),
            revoking: BTreeMap::new(),
            revoking_generation: Generation::NONE,
            previous: (Vec::new(), Generation::NONE),
            join_commit_pending: false,
            coordinator: Coordinator::Unknown {
                retry_at: Timestamp(0),
            },
            in_flight: BTreeMap::new(),
            next_request: 0,
            next_commit: 0,
            queued_commits: Vec::new(),
            announced: BTreeSet::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            heartbeat_due: None,
            session_deadline: None,
            in_group_at: None,
            last_poll: None,
            poll_expired: false,
            next_auto_commit: None,
            join_retry_at: None,
            fetch_retry_at: None,
            failures: 0,
            fatal: None,
            close_deadline: None,
        })
    }

    // ---- Introspection ------------------------------------------------------------------------

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The rebalance protocol the configured assignors allow.
    #[must_use]
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    /// Where the member is.
    #[must_use]
    pub fn state(&self) -> MemberState {
        self.state
    }

    /// The member id the coordinator gave this member (`""` before it has one).
    #[must_use]
    pub fn member_id(&self) -> &MemberId {
        &self.member_id
    }

    /// The generation of the member's assignment, [`Generation::NONE`] outside one.
    #[must_use]
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// The member's group metadata (Kafka's `consumer.groupMetadata()`): what a transactional
    /// producer sends with the offsets it commits for this consumer (KIP-447), so that the
    /// coordinator refuses them if the member has since left the group or missed a rebalance.
    /// The generation and member id are those the member's commits carry: [`Generation::NONE`]
    /// and `""` when it is not in a generation (not yet joined, between generations, or
    /// reading partitions assigned by hand).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use consumer_groups::assignor::TopicSpec;
    /// use consumer_groups::consumer::{ConsumerConfig, ConsumerCoordinator};
    /// use consumer_groups::coordinator::{CoordinatorConfig, GroupCoordinator, Request, Response};
    /// use consumer_groups::log::MemoryLog;
    /// use consumer_groups::offsets::{LogOffsetStore, OffsetCommit};
    /// use consumer_groups::protocol::RequestId;
    /// use consumer_groups::protocol::group::TxnOffsetCommitRequest;
    /// use consumer_groups::{ErrorCode, Generation, Offset, Timestamp, TopicPartition};
    ///
    /// let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(1))));
    /// let config = CoordinatorConfig { initial_rebalance_delay_ms: 0, ..CoordinatorConfig::default() };
    /// let mut broker = GroupCoordinator::new(config, store);
    /// let mut member = ConsumerCoordinator::new(ConsumerConfig::new("billing"))?;
    /// assert_eq!(member.group_metadata().generation, Generation::NONE);
    ///
    /// let now = Timestamp(0);
    /// member.update_metadata(now, [TopicSpec::new("orders", 1)]);
    /// member.subscribe(now, ["orders"])?;
    /// member.poll(now);
    /// for _ in 0..10 {
    ///     while let Some((id, request)) = member.poll_request() {
    ///         broker.handle(now, id, request);
    ///     }
    ///     while let Some((id, response)) = broker.poll_response() {
    ///         member.handle_response(now, id, response);
    ///     }
    /// }
    /// let meta = member.group_metadata();
    /// assert_eq!(meta.generation, Generation(1));
    /// assert_eq!(&meta.member_id, member.member_id());
    ///
    /// // A transactional producer commits the consumer's progress with it.
    /// let commit = TxnOffsetCommitRequest {
    ///     transactional_id: "billing-tx".into(),
    ///     producer_id: 1,
    ///     producer_epoch: 0,
    ///     group_id: meta.group_id,
    ///     generation: meta.generation,
    ///     member_id: meta.member_id,
    ///     group_instance_id: meta.group_instance_id,
    ///     offsets: vec![OffsetCommit::new(TopicPartition::new("orders", 0), Offset(42))],
    /// };
    /// broker.handle(now, RequestId(1_000), Request::TxnOffsetCommit(commit));
    /// let Some((_, Response::TxnOffsetCommit(r))) = broker.poll_response() else { panic!() };
    /// assert_eq!(r.partitions[0].1, ErrorCode::None);
    /// # Ok::<(), consumer_groups::Error>(())
    /// ```
    #[must_use]
    pub fn group_metadata(&self) -> ConsumerGroupMetadata {
        let in_generation =
            matches!(self.mode, Mode::Subscribed(_)) && self.generation != Generation::NONE;
        let (generation, member_id) = if in_generation {
            (self.generation, self.member_id.clone())
        } else {
            (Generation::NONE, MemberId::from(""))
        };
        ConsumerGroupMetadata {
            group_id: self.config.group_id.clone(),
            generation,
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
        }
    }

    /// `true` if this member led the last rebalance it took part in.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.leader.as_ref() == Some(&self.member_id) && !self.member_id.is_empty()
    }

    /// The protocol (assignor) the group chose in the member's generation.
    #[must_use]
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    /// The partitions the member owns, sorted.
    #[must_use]
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.owned.keys().cloned().collect()
    }

    /// The partitions handed to the host in a [`ConsumerEvent::PartitionsRevoked`] that it has
    /// not acknowledged yet, sorted. They are still committable.
    #[must_use]
    pub fn revoking(&self) -> Vec<TopicPartition> {
        self.revoking.keys().cloned().collect()
    }

    /// The subscribed topics, sorted (empty without a subscription).
    #[must_use]
    pub fn subscription(&self) -> Vec<Topic> {
        match &self.mode {
            Mode::Subscribed(t) => t.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The owned partitions whose position is known: the ones the application reads now.
    #[must_use]
    pub fn fetchable(&self) -> Vec<(TopicPartition, Offset)> {
        self.owned
            .iter()
            .filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), p)))
            .collect()
    }

    /// The position of an owned (or being-revoked) partition: the next offset the application
    /// reads, once known.
    #[must_use]
    pub fn position(&self, tp: &TopicPartition) -> Option<Offset> {
        self.partition(tp).and_then(|s| s.position)
    }

    /// The last committed offset the member knows for an owned partition.
    #[must_use]
    pub fn committed(&self, tp: &TopicPartition) -> Option<Offset> {
        self.partition(tp).and_then(|s| s.committed)
    }

    /// The fatal error that stopped the member, if any.
    #[must_use]
    pub fn fatal_error(&self) -> Option<ErrorCode> {
        self.fatal
    }

    /// `true` while the member knows its coordinator.
    #[must_use]
    pub fn coordinator_known(&self) -> bool {
        self.coordinator == Coordinator::Known
    }

    fn partition(&self, tp: &TopicPartition) -> Option<&PartitionState> {
        self.owned.get(tp).or_else(|| self.revoking.get(tp))
    }

    // ---- Commands from the application --------------------------------------------------------

    /// Subscribes to `topics` under group management, replacing any earlier subscription. A
    /// member in a generation rejoins so the group can rebalance the new subscription.
    ///
    /// # Errors
    /// [`Error::IllegalState`] while partitions are assigned by hand (Kafka: subscription and
    /// manual assignment are mutually exclusive); [`Error::EmptyId`] for an empty topic name;
    /// [`Error::Closed`] after close.
    pub fn subscribe<I, T>(&mut self, now: Timestamp, topics: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<Topic>,
    {
        self.check_open()?;
        if self.mode == Mode::Manual {
            return Err(Error::IllegalState(
                "subscribe() while partitions are assigned by hand",
            ));
        }
        let topics: BTreeSet<Topic> = topics.into_iter().map(Into::into).collect();
        if topics.iter().any(Topic::is_empty) {
            return Err(Error::EmptyId("topic name"));
        }
        if self.mode == Mode::Subscribed(topics.clone()) {
            return Ok(());
        }
        self.mode = Mode::Subscribed(topics);
        self.rejoin_needed = true;
        self.drive(now);
        Ok(())
    }

    /// Stops reading: revokes every owned partition (the host acknowledges as usual) and leaves
    /// the group, or drops a manual assignment.
    ///
    /// # Errors
    /// [`Error::Closed`] after close.
    pub fn unsubscribe(&mut self, now: Timestamp) -> Result<(), Error> {
        self.check_open()?;
        match self.mode {
            Mode::None => return Ok(()),
            Mode::Manual => {
                self.owned.clear();
            }
            Mode::Subscribed(_) => {
                self.revoke_all_for_leave();
                self.send_leave(now, "the consumer unsubscribed");
                self.reset_membership(true);
            }
        }
        self.mode = Mode::None;
        self.rejoin_needed = false;
        self.drive(now);
        Ok(())
    }

    /// Reads `partitions` without group management (Kafka's `assign()`): no membership, no
    /// rebalance events; commits carry generation `-1`. Replaces any earlier manual assignment.
    ///
    /// # Errors
    /// [`Error::IllegalState`] while subscribed; [`Error::Closed`] after close.
    pub fn assign<I>(&mut self, now: Timestamp, partitions: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = TopicPartition>,
    {
        self.check_open()?;
        if matches!(self.mode, Mode::Subscribed(_)) {
            return Err(Error::IllegalState("assign() while subscribed"));
        }
        let wanted: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        if wanted.iter().any(|tp| tp.topic.is_empty()) {
            return Err(Error::EmptyId("topic name"));
        }
        self.owned.retain(|tp, _| wanted.contains(tp));
        for tp in wanted {
            self.owned.entry(tp).or_insert_with(|| PartitionState {
                fetching: true,
                ..PartitionState::default()
            });
        }
        self.mode = Mode::Manual;
        self.arm_auto_commit(now);
        self.drive(now);
        Ok(())
    }

    /// Tells the member about topics' partition counts (Kafka's metadata). Topics not named
    /// keep what they had. A leader whose subscribed topics changed since its last assignment
    /// rejoins so the group is rebalanced.
    pub fn update_metadata<I>(&mut self, now: Timestamp, topics: I)
    where
        I: IntoIterator<Item = TopicSpec>,
    {
        for t in topics {
            self.metadata.insert(t.name().clone(), t);
        }
        if self.state == MemberState::Stable && self.is_leader() {
            if let Some(snapshot) = &self.assigned_metadata {
                let now_seen = self.subscribed_metadata(snapshot.keys());
                if now_seen != *snapshot {
                    self.rejoin_needed = true;
                }
            }
        }
        self.drive(now);
    }

    /// The application's heartbeat of progress (Kafka's `poll()`, KIP-62): restarts the
    /// `max.poll.interval.ms` timer, and rejoins a member that left because the timer expired.
    pub fn poll(&mut self, now: Timestamp) {
        if self.state == MemberState::Closed {
            return;
        }
        self.last_poll = Some(now);
        if self.poll_expired {
            self.poll_expired = false;
            if matches!(self.mode, Mode::Subscribed(_)) {
                self.rejoin_needed = true;
            }
        }
        self.drive(now);
    }

    /// Acknowledges the last [`ConsumerEvent::PartitionsRevoked`]: the host is done with those
    /// partitions (and has committed what it wanted to). With auto-commit, the member commits
    /// their positions, then rejoins.
    ///
    /// # Errors
    /// [`Error::IllegalState`] if no revocation is waiting; [`Error::Closed`] after close.
    pub fn revocation_done(&mut self, now: Timestamp) -> Result<(), Error> {
        self.check_open()?;
        if self.state != MemberState::Revoking {
            return Err(Error::IllegalState("no revocation is waiting"));
        }
        let revoked = std::mem::take(&mut self.revoking);
        let generation = self.revoking_generation;
        self.state = if self.generation == Generation::NONE {
            MemberState::Unjoined
        } else {
            MemberState::Stable
        };
        if self.config.enable_auto_commit && generation == self.generation {
            let offsets = Self::uncommitted(revoked.iter());
            if !offsets.is_empty() {
                self.join_commit_pending = true;
                self.start_commit(now, CommitPurpose::BeforeJoin, offsets);
            }
        }
        self.drive(now);
        Ok(())
    }

    /// Sets the position of an owned partition: the offset of the next record the application
    /// reads. The host calls it to report progress as it consumes (auto-commit commits
    /// positions), to answer [`ConsumerEvent::ResetOffsets`], and to jump.
    ///
    /// # Errors
    /// [`Error::NotAssigned`] for a partition the member does not own (revoked partitions stay
    /// settable until [`revocation_done`](Self::revocation_done); lost ones never);
    /// [`Error::Closed`] after close.
    pub fn seek(&mut self, tp: &TopicPartition, offset: Offset) -> Result<(), Error> {
        self.check_open()?;
        let state = match self.owned.get_mut(tp) {
            Some(s) => s,
            None => self.revoking.get_mut(tp).ok_or_else(|| not_assigned(tp))?,
        };
        state.position = Some(offset);
        state.fetching = false;
        state.awaiting_reset = false;
        Ok(())
    }

    /// Commits offsets: `None` commits every owned partition's position; `Some` commits the
    /// given offsets. The result arrives as [`ConsumerEvent::CommitCompleted`] with the returned
    /// id. Commits of partitions being revoked are allowed until
    /// [`revocation_done`](Self::revocation_done); lost partitions are refused.
    ///
    /// # Errors
    /// [`Error::NotAssigned`] for a partition the member does not own;
    /// [`Error::RebalanceInProgress`] while the member is joining or syncing;
    /// [`Error::IllegalState`] without a subscription or assignment; [`Error::Closed`] after
    /// close.
    pub fn commit(
        &mut self,
        now: Timestamp,
        offsets: Option<Vec<OffsetCommit>>,
    ) -> Result<CommitId, Error> {
        self.check_open()?;
        match self.mode {
            Mode::None => {
                return Err(Error::IllegalState(
                    "commit() without a subscription or assignment",
                ));
            }
            Mode::Subscribed(_) => {
                if matches!(self.state, MemberState::Joining | MemberState::Syncing)
                    || self.generation == Generation::NONE
                {
                    return Err(Error::RebalanceInProgress);
                }
            }
            Mode::Manual => {}
        }
        let offsets = match offsets {
            Some(list) => {
                for c in &list {
                    if self.partition(&c.partition).is_none() {
                        return Err(not_assigned(&c.partition));
                    }
                }
                list
            }
            None => self
                .owned
                .iter()
                .chain(self.revoking.iter())
                .filter_map(|(tp, s)| s.position.map(|p| OffsetCommit::new(tp.clone(), p)))
                .collect(),
        };
        Ok(self.start_commit(now, CommitPurpose::Manual, offsets))
    }

    /// Closes the member: commits positions (with auto-commit), revokes its partitions, leaves
    /// the group (dynamic members; a static member's session simply ends), and reaches
    /// [`MemberState::Closed`], announced by [`ConsumerEvent::Closed`]. It waits at most
    /// `request.timeout.ms` for the commit and the leave.
    pub fn close(&mut self, now: Timestamp) {
        if matches!(self.state, MemberState::Closed | MemberState::Closing) {
            return;
        }
        let in_generation =
            self.generation != Generation::NONE || matches!(self.mode, Mode::Manual);
        if self.config.enable_auto_commit && in_generation {
            let offsets = Self::uncommitted(self.owned.iter().chain(self.revoking.iter()));
            if !offsets.is_empty() {
                self.start_commit(now, CommitPurpose::OnClose, offsets);
            }
        }
        if matches!(self.mode, Mode::Subscribed(_)) {
            self.revoke_all_for_leave();
        }
        self.state = MemberState::Closing;
        self.close_deadline = Some(now.plus_millis(self.config.request_timeout_ms));
        self.drive(now);
    }

    // ---- Network ------------------------------------------------------------------------------

    /// The next request to send to the group coordinator, with the member's tag for it.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<(RequestId, Request)> {
        self.outbox.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ConsumerEvent> {
        self.events.pop_front()
    }

    /// When the member next needs [`handle_timeout`](Self::handle_timeout), if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let mut next: Option<Timestamp> = None;
        let mut consider = |t: Option<Timestamp>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if self.state == MemberState::Closed {
            return None;
        }
        for (_, deadline) in self.in_flight.values() {
            consider(Some(*deadline));
        }
        if let Coordinator::Unknown { retry_at } = self.coordinator {
            if self.needs_coordinator() {
                consider(Some(retry_at));
            }
        }
        // Heartbeats, auto-commits, joins and offset fetches only go to a known coordinator:
        // while it is being looked up their timers wait, so a host sleeping until this
        // deadline is not woken for nothing. Every deadline returned here is one that
        // `handle_timeout` acts on.
        // A closing member only finishes its commit and leave.
        let known = self.coordinator == Coordinator::Known && self.state != MemberState::Closing;
        if self.in_generation() {
            if known && !self.heartbeat_in_flight() {
                consider(self.heartbeat_due);
            }
            consider(self.session_deadline);
        }
        if self.generation != Generation::NONE && !self.poll_expired {
            consider(self.poll_deadline());
        }
        consider(self.hand_out_deadline());
        if known {
            if self.config.enable_auto_commit && !self.auto_commit_in_flight() {
                consider(self.next_auto_commit);
            }
            consider(self.join_retry_at);
            consider(self.fetch_retry_at);
        }
        consider(self.close_deadline);
        next
    }

    /// Fires whatever is due at `now`: request timeouts, the session and poll timers,
    /// heartbeats, auto-commits and retries. Calls before anything is due do nothing.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.state == MemberState::Closed {
            return;
        }
        let expired: Vec<RequestId> = self
            .in_flight
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.handle_request_failed(now, id);
        }
        if self.in_generation() && self.session_deadline.is_some_and(|d| d <= now) {
            // No heartbeat got through for a whole session: the coordinator has removed the
            // member by now, so its partitions are lost. Find the coordinator again and rejoin.
            self.session_deadline = None;
            self.lose_membership(self.config.group_instance_id.is_none());
            self.coordinator_lost(now);
        }
        if self.hand_out_deadline().is_some_and(|d| d <= now) {
            // The rebalance may have ended without this member (its JoinGroup or SyncGroup
            // lost on the way) and its partitions gone to others: give them up now rather
            // than hold them alongside their new owners. The request stays out; its answer,
            // if one comes, brings them back through the usual assignment.
            self.lose_partitions();
        }
        if self.generation != Generation::NONE
            && !self.poll_expired
            && self.poll_deadline().is_some_and(|d| d <= now)
        {
            self.leave_for_poll_timeout(now);
        }
        if self.close_deadline.is_some_and(|d| d <= now) {
            self.finish_close();
            return;
        }
        self.drive(now);
    }

    /// The coordinator's response to the member's request `id`. Responses to requests the
    /// member no longer waits for (timed out, or sent to a coordinator it has since left) are
    /// ignored, as are responses of the wrong kind.
    pub fn handle_response(&mut self, now: Timestamp, id: RequestId, response: Response) {
        let Some((kind, _)) = self.in_flight.remove(&id) else {
            return;
        };
        if self.state == MemberState::Closed {
            return;
        }
        match (kind, response) {
            (InFlight::FindCoordinator, Response::FindCoordinator(r)) => {
                if r.error == ErrorCode::None {
                    self.coordinator = Coordinator::Known;
                    self.failures = 0;
                } else {
                    self.coordinator = Coordinator::Unknown {
                        retry_at: self.backoff(now),
                    };
                }
            }
            (InFlight::Join { sent }, Response::JoinGroup(r)) => self.on_join(now, sent, r),
            (InFlight::Sync { sent }, Response::SyncGroup(r)) => self.on_sync(now, sent, r),
            (InFlight::Heartbeat { sent, generation }, Response::Heartbeat(e)) => {
                self.on_heartbeat(now, sent, generation, e);
            }
            (
                InFlight::Commit {
                    id,
                    purpose,
                    offsets,
                },
                Response::OffsetCommit(r),
            ) => self.on_commit(now, id, purpose, &offsets, r),
            (InFlight::Fetch, Response::OffsetFetch(r)) => self.on_fetch(now, r),
            (InFlight::Leave, Response::LeaveGroup(_)) => {}
            (kind, _) => {
                // A response of the wrong kind: treat the request as failed.
                self.in_flight.insert(id, (kind, now));
                self.handle_request_failed(now, id);
                return;
            }
        }
        if self.state == MemberState::Closing {
            self.maybe_finish_close(now);
        }
        self.drive(now);
    }

    /// The request `id` could not be delivered or answered (the connection dropped, or the
    /// host gave up on it). The member treats its coordinator as lost and retries what the
    /// request was for.
    pub fn handle_request_failed(&mut self, now: Timestamp, id: RequestId) {
        let Some((kind, _)) = self.in_flight.remove(&id) else {
            return;
        };
        match kind {
            InFlight::FindCoordinator => {
                self.coordinator = Coordinator::Unknown {
                    retry_at: self.backoff(now),
                };
            }
            InFlight::Commit {
                id,
                purpose,
                offsets,
            } => {
                self.complete_commit_with(id, purpose, &offsets, ErrorCode::RequestTimedOut);
                self.coordinator_lost(now);
            }
            InFlight::Leave => {}
            InFlight::Join { .. }
            | InFlight::Sync { .. }
            | InFlight::Heartbeat { .. }
            | InFlight::Fetch => {
                self.in_flight.insert(id, (kind, now));
                self.coordinator_lost(now);
            }
        }
        if self.state == MemberState::Closing {
            self.maybe_finish_close(now);
        }
        self.drive(now);
    }

    // ---- Response handlers --------------------------------------------------------------------

    fn on_join(&mut self, now: Timestamp, sent: Timestamp, r: JoinGroupResponse) {
        if self.state != MemberState::Joining {
            return;
        }
        self.state = MemberState::Unjoined;
        match r.error {
            ErrorCode::None => {
                self.failures = 0;
                // A member that holds partitions through the rebalance (cooperative) times its
                // session from what it knows the coordinator saw: the coordinator restarted it
                // when the join completed, after the request left. (Heartbeats while the join
                // was parked kept it fresher.) A member holding nothing only needs a deadline
                // for liveness, from the answer.
                let holds = !self.owned.is_empty() || !self.revoking.is_empty();
                self.arm_session(now, if holds { sent } else { now });
                self.note_in_group(sent);
                self.member_id = r.member_id.clone();
                self.generation = r.generation;
                self.leader = Some(r.leader.clone());
                self.protocol_name = r.protocol_name.clone();
                self.state = MemberState::Syncing;
                self.rejoin_needed = false;
                let assignments = if self.is_leader() && !r.skip_assignment {
                    match self.lead(&r) {
                        Some(a) => a,
                        None => {
                            // The assignor failed: rejoin after a backoff.
                            self.state = MemberState::Unjoined;
                            self.rejoin_needed = true;
                            self.join_retry_at = Some(self.backoff(now));
                            return;
                        }
                    }
                } else {
                    if self.is_leader() {
                        // A replaced static leader (KIP-814) keeps the stored assignment; it
                        // still watches the group's topics so a partition count change
                        // triggers a rebalance.
                        let topics: BTreeSet<Topic> = r
                            .members
                            .iter()
                            .filter_map(|m| Subscription::decode(&m.metadata).ok())
                            .flat_map(|(_, sub)| sub.topics)
                            .filter(|t| !t.is_empty())
                            .map(|t| Topic::from(t.as_str()))
                            .collect();
                        self.assigned_metadata = Some(self.subscribed_metadata(topics.iter()));
                    }
                    Vec::new()
                };
                let request = SyncGroupRequest {
                    group_id: self.config.group_id.clone(),
                    generation: self.generation,
                    member_id: self.member_id.clone(),
                    group_instance_id: self.config.group_instance_id.clone(),
                    protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
                    protocol_name: self.protocol_name.clone(),
                    assignments,
                };
                self.send(
                    now,
                    Request::SyncGroup(request),
                    InFlight::Sync { sent: now },
                );
            }
            ErrorCode::MemberIdRequired => {
                self.member_id = r.member_id;
                self.rejoin_needed = true;
            }
            // The generation is gone: partitions kept through a cooperative rebalance may
            // belong to someone else now (Kafka's onPartitionsLost).
            ErrorCode::UnknownMemberId => {
                self.lose_membership(true);
                self.rejoin_needed = true;
            }
            ErrorCode::IllegalGeneration => {
                self.lose_membership(false);
                self.rejoin_needed = true;
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.rejoin_needed = true;
                self.coordinator_lost(now);
            }
            e if is_fatal(e) => self.fail(e),
            _ => {
                // COORDINATOR_LOAD_IN_PROGRESS, REBALANCE_IN_PROGRESS, and anything unexpected:
                // try again after a backoff.
                self.rejoin_needed = true;
                self.join_retry_at = Some(self.backoff(now));
            }
        }
    }

    /// The leader's work: decode every subscription, run the group's assignor, encode each
    /// member's assignment. `None` if the assignor failed.
    fn lead(&mut self, r: &JoinGroupResponse) -> Option<Vec<(MemberId, Vec<u8>)>> {
        let name = r.protocol_name.clone().unwrap_or_default();
        let Some(assignor) = self.assignors.get(&name) else {
            self.events.push_back(ConsumerEvent::AssignmentFailed {
                error: Error::UnknownAssignor(name),
            });
            return None;
        };
        let mut members = Vec::with_capacity(r.members.len());
        let mut topics: BTreeSet<Topic> = BTreeSet::new();
        for m in &r.members {
            let mut spec = MemberSpec::new(m.member_id.clone());
            if let Some(i) = &m.group_instance_id {
                spec = spec.instance_id(i.clone());
            }
            match Subscription::decode(&m.metadata) {
                Ok((_, sub)) => {
                    let subscribed: Vec<Topic> = sub
                        .topics
                        .iter()
                        .filter(|t| !t.is_empty())
                        .map(|t| Topic::from(t.as_str()))
                        .collect();
                    topics.extend(subscribed.iter().cloned());
                    spec = spec.subscribe(subscribed).owned(
                        sub.owned_partitions
                            .iter()
                            .filter(|tp| !tp.topic.is_empty())
                            .flat_map(|tp| {
                                let t = Topic::from(tp.topic.as_str());
                                tp.partitions
                                    .iter()
                                    .map(move |&p| TopicPartition::new(t.clone(), p))
                            }),
                    );
                    if sub.generation >= 0 {
                        spec = spec.generation(Generation(sub.generation));
                    }
                    if let Some(rack) = sub.rack.filter(|r| !r.is_empty()) {
                        spec = spec.rack(rack);
                    }
                    if let Some(data) = sub.user_data {
                        spec = spec.user_data(data);
                    }
                }
                Err(error) => self.events.push_back(ConsumerEvent::InvalidMetadata {
                    member_id: m.member_id.clone(),
                    error,
                }),
            }
            members.push(spec);
        }
        let snapshot = self.subscribed_metadata(topics.iter());
        let spec = GroupSpec::builder()
            .topics(topics.iter().filter_map(|t| self.metadata.get(t)).cloned())
            .members(members)
            .build();
        let plan = match spec.and_then(|spec| assignor.assign(&spec)) {
            Ok(plan) => plan,
            Err(error) => {
                self.events
                    .push_back(ConsumerEvent::AssignmentFailed { error });
                return None;
            }
        };
        let mut out = Vec::with_capacity(plan.len());
        for m in plan.iter() {
            let a = ConsumerAssignment {
                partitions: m
                    .by_topic()
                    .map(|(t, partitions)| TopicPartitions {
                        topic: t.as_str().to_owned(),
                        partitions,
                    })
                    .collect(),
                // The leader's own assignment remembers the partition counts it was planned
                // for, so a static leader replaced later (KIP-814, which skips the assignor)
                // can tell that partitions were added while it was away.
                user_data: (m.member_id() == &self.member_id)
                    .then(|| encode_snapshot(&snapshot))
                    .flatten(),
            };
            match a.encode(PROTOCOL_VERSION) {
                Ok(bytes) => out.push((m.member_id().clone(), bytes)),
                Err(error) => {
                    self.events.push_back(ConsumerEvent::InvalidMetadata {
                        member_id: m.member_id().clone(),
                        error,
                    });
                    return None;
                }
            }
        }
        self.assigned_metadata = Some(snapshot);
        Some(out)
    }

    fn on_sync(&mut self, now: Timestamp, sent: Timestamp, r: SyncGroupResponse) {
        if self.state != MemberState::Syncing {
            return;
        }
        self.state = MemberState::Unjoined;
        match r.error {
            ErrorCode::None => {
                self.failures = 0;
                // The coordinator restarted the session when the SyncGroup arrived.
                self.arm_session(now, sent);
                self.note_in_group(sent);
                let decoded = ConsumerAssignment::decode(&r.assignment);
                let assignment = match decoded {
                    Ok((_, a)) => a,
                    Err(error) => {
                        self.events.push_back(ConsumerEvent::InvalidMetadata {
                            member_id: self.member_id.clone(),
                            error,
                        });
                        self.rejoin_needed = true;
                        self.join_retry_at = Some(self.backoff(now));
                        return;
                    }
                };
                if r.protocol_name.is_some() {
                    self.protocol_name = r.protocol_name;
                }
                if self.is_leader() {
                    // A replaced static leader compares against the partition counts the kept
                    // assignment was planned for, not the ones it saw on its return.
                    if let Some(planned) = assignment.user_data.as_deref().and_then(decode_snapshot)
                    {
                        self.assigned_metadata = Some(planned);
                    }
                }
                let subscribed = match &self.mode {
                    Mode::Subscribed(t) => t.clone(),
                    _ => BTreeSet::new(),
                };
                let mut assigned = BTreeSet::new();
                for tp in &assignment.partitions {
                    let topic = Topic::from(tp.topic.as_str());
                    if !subscribed.contains(&topic) {
                        // Assigned a topic the member no longer subscribes to: the group must
                        // rebalance again (Kafka does the same).
                        self.rejoin_needed = true;
                        continue;
                    }
                    for &p in &tp.partitions {
                        assigned.insert(TopicPartition::new(topic.clone(), p));
                    }
                }
                self.complete_rebalance(now, assigned);
            }
            ErrorCode::RebalanceInProgress => {
                self.state = MemberState::Stable;
                self.rejoin_needed = true;
            }
            ErrorCode::UnknownMemberId => {
                self.lose_membership(true);
            }
            ErrorCode::IllegalGeneration => {
                self.lose_membership(false);
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.state = MemberState::Stable;
                self.rejoin_needed = true;
                self.coordinator_lost(now);
            }
            e if is_fatal(e) => self.fail(e),
            _ => {
                self.state = MemberState::Stable;
                self.rejoin_needed = true;
                self.join_retry_at = Some(self.backoff(now));
            }
        }
    }

    /// Applies a new assignment: revocations (cooperative), then the assignment event, then
    /// committed-offset lookups for the new partitions.
    fn complete_rebalance(&mut self, now: Timestamp, assigned: BTreeSet<TopicPartition>) {
        self.state = MemberState::Stable;
        self.previous = (Vec::new(), Generation::NONE);
        let revoked: Vec<TopicPartition> = self
            .owned
            .keys()
            .filter(|tp| !assigned.contains(*tp))
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = assigned
            .iter()
            .filter(|tp| !self.owned.contains_key(*tp))
            .cloned()
            .collect();
        // Partitions the JoinGroup announced but the member lost before the answer: the
        // leader may have withheld them for a move (cooperative), and nobody else knows to
        // rejoin, so this member asks for the follow-up round.
        if self
            .announced
            .iter()
            .any(|tp| !assigned.contains(tp) && !self.owned.contains_key(tp))
        {
            self.rejoin_needed = true;
        }
        self.announced.clear();
        if !revoked.is_empty() {
            // Cooperative: give up only what moves, then rejoin so it reaches its new owner.
            for tp in &revoked {
                if let Some(s) = self.owned.remove(tp) {
                    self.revoking.insert(tp.clone(), s);
                }
            }
            self.revoking_generation = self.generation;
            self.events.push_back(ConsumerEvent::PartitionsRevoked {
                partitions: revoked,
            });
            self.state = MemberState::Revoking;
            self.rejoin_needed = true;
        }
        for tp in &added {
            self.owned.insert(
                tp.clone(),
                PartitionState {
                    fetching: true,
                    ..PartitionState::default()
                },
            );
        }
        self.events.push_back(ConsumerEvent::PartitionsAssigned {
            partitions: added,
            assignment: self.owned.keys().cloned().collect(),
            generation: self.generation,
        });
        self.heartbeat_due = Some(now.plus_millis(self.config.heartbeat_interval_ms));
        self.arm_auto_commit(now);
        if let Some(snapshot) = &self.assigned_metadata {
            if self.is_leader() && self.subscribed_metadata(snapshot.keys()) != *snapshot {
                self.rejoin_needed = true;
            }
        }
    }

    fn on_heartbeat(
        &mut self,
        now: Timestamp,
        sent: Timestamp,
        generation: Generation,
        e: ErrorCode,
    ) {
        if !self.in_generation() {
            return;
        }
        if generation != self.generation
            && matches!(
                e,
                ErrorCode::RebalanceInProgress
                    | ErrorCode::IllegalGeneration
                    | ErrorCode::UnknownMemberId
            )
        {
            // About a generation the member has since left (Kafka ignores these too).
            return;
        }
        match e {
            ErrorCode::None => {
                self.failures = 0;
                self.arm_session(now, sent);
                self.note_in_group(sent);
            }
            ErrorCode::RebalanceInProgress => {
                // During a join or a sync, that request's own answer says what happens next.
                self.arm_session(now, sent);
                if !matches!(self.state, MemberState::Joining | MemberState::Syncing) {
                    self.rejoin_needed = true;
                }
            }
            ErrorCode::UnknownMemberId => self.lose_membership(true),
            ErrorCode::IllegalGeneration if self.state == MemberState::Joining => {
                // The group completed a generation while this member's join is parked or on
                // its way: its partitions may have moved. Give them up; the join's answer
                // decides the rest.
                self.lose_partitions();
            }
            ErrorCode::IllegalGeneration => self.lose_membership(false),
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.coordinator_lost(now);
            }
            e if is_fatal(e) => self.fail(e),
            _ => {
                // COORDINATOR_LOAD_IN_PROGRESS and anything unexpected: beat again later.
                self.heartbeat_due = Some(self.backoff(now));
            }
        }
    }

    fn on_commit(
        &mut self,
        now: Timestamp,
        id: CommitId,
        purpose: CommitPurpose,
        offsets: &[(TopicPartition, Offset)],
        r: OffsetCommitResponse,
    ) {
        let codes: BTreeMap<&TopicPartition, ErrorCode> =
            r.partitions.iter().map(|(tp, e)| (tp, *e)).collect();
        let mut results = Vec::with_capacity(offsets.len());
        let mut worst = ErrorCode::None;
        for (tp, offset) in offsets {
            let e = codes
                .get(tp)
                .copied()
                .unwrap_or(ErrorCode::UnknownServerError);
            if e == ErrorCode::None {
                if let Some(s) = self.owned.get_mut(tp).or_else(|| self.revoking.get_mut(tp)) {
                    s.committed = Some(*offset);
                }
            } else if worst == ErrorCode::None {
                worst = e;
            }
            results.push((tp.clone(), *offset, e));
        }
        self.finish_commit(id, purpose, results);
        match worst {
            ErrorCode::None => self.failures = 0,
            ErrorCode::UnknownMemberId => self.lose_membership(true),
            ErrorCode::IllegalGeneration => self.lose_membership(false),
            ErrorCode::RebalanceInProgress => {
                if matches!(self.mode, Mode::Subscribed(_)) {
                    self.rejoin_needed = true;
                }
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.coordinator_lost(now);
            }
            e if is_fatal(e) => self.fail(e),
            _ => {}
        }
    }

    fn on_fetch(&mut self, now: Timestamp, r: OffsetFetchResponse) {
        match r.error {
            ErrorCode::None => {}
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.coordinator_lost(now);
                return;
            }
            _ => {
                self.fetch_retry_at = Some(self.backoff(now));
                return;
            }
        }
        let mut reset = Vec::new();
        let mut retry = false;
        for (tp, result) in r.partitions {
            let Some(s) = self.owned.get_mut(&tp) else {
                continue;
            };
            if !s.fetching {
                continue;
            }
            match result {
                Ok(Some(c)) if c.offset.0 >= 0 => {
                    s.fetching = false;
                    s.committed = Some(c.offset);
                    s.position = Some(c.offset);
                }
                Ok(_) => {
                    s.fetching = false;
                    s.awaiting_reset = true;
                    reset.push(tp);
                }
                Err(_) => retry = true,
            }
        }
        if retry {
            self.fetch_retry_at = Some(self.backoff(now));
        }
        if !reset.is_empty() {
            self.events.push_back(match self.config.auto_offset_reset {
                OffsetReset::None => ConsumerEvent::NoOffset { partitions: reset },
                policy => ConsumerEvent::ResetOffsets {
                    policy,
                    partitions: reset,
                },
            });
        }
    }

    // ---- Membership changes -------------------------------------------------------------------

    /// The member lost its generation: its partitions are lost, and it rejoins.
    fn lose_membership(&mut self, reset_member_id: bool) {
        self.lose_partitions();
        self.reset_membership(reset_member_id);
        if matches!(self.mode, Mode::Subscribed(_)) {
            self.rejoin_needed = true;
        }
    }

    /// Gives up every partition as lost, keeping the membership.
    fn note_in_group(&mut self, sent: Timestamp) {
        self.in_group_at = Some(self.in_group_at.map_or(sent, |t| t.max(sent)));
    }

    /// While a rejoin is out and the member still holds partitions (cooperative): the
    /// earliest moment the coordinator could finish the join phase without it and hand its
    /// partitions on. That phase began after [`in_group_at`](Self::in_group_at) and lasts at
    /// least this member's rebalance timeout (the coordinator waits for the largest).
    fn hand_out_deadline(&self) -> Option<Timestamp> {
        let holds = !self.owned.is_empty() || !self.revoking.is_empty();
        if !holds || !matches!(self.state, MemberState::Joining | MemberState::Syncing) {
            return None;
        }
        self.in_group_at
            .map(|t| t.plus_millis(self.config.max_poll_interval_ms))
    }

    fn lose_partitions(&mut self) {
        let lost: Vec<TopicPartition> = self
            .owned
            .keys()
            .chain(self.revoking.keys())
            .cloned()
            .collect();
        self.owned.clear();
        self.revoking.clear();
        if !lost.is_empty() {
            self.events
                .push_back(ConsumerEvent::PartitionsLost { partitions: lost });
        }
    }

    /// Forgets the generation (and the member id). Partitions are the caller's business.
    fn reset_membership(&mut self, reset_member_id: bool) {
        if reset_member_id {
            self.member_id = MemberId::from("");
        }
        self.generation = Generation::NONE;
        self.leader = None;
        self.state = MemberState::Unjoined;
        self.heartbeat_due = None;
        self.session_deadline = None;
        self.join_commit_pending = false;
        self.previous = (Vec::new(), Generation::NONE);
        self.in_flight.retain(|_, (k, _)| {
            !matches!(
                k,
                InFlight::Join { .. } | InFlight::Sync { .. } | InFlight::Heartbeat { .. }
            )
        });
    }

    /// Revokes everything before leaving (close, unsubscribe).
    fn revoke_all_for_leave(&mut self) {
        let revoked: Vec<TopicPartition> = self
            .owned
            .keys()
            .chain(self.revoking.keys())
            .cloned()
            .collect();
        self.owned.clear();
        self.revoking.clear();
        if !revoked.is_empty() {
            self.events.push_back(ConsumerEvent::PartitionsRevoked {
                partitions: revoked,
            });
        }
    }

    /// KIP-62: the host stopped polling. Dynamic members send a LeaveGroup; static ones just
    /// stop heartbeating and let the session end. Either way the partitions are lost.
    fn leave_for_poll_timeout(&mut self, now: Timestamp) {
        if self.config.group_instance_id.is_none() {
            self.send_leave(now, "consumer poll timeout has expired");
        }
        self.events.push_back(ConsumerEvent::PollTimeoutExpired);
        self.lose_membership(self.config.group_instance_id.is_none());
        self.rejoin_needed = false;
        self.poll_expired = true;
    }

    fn send_leave(&mut self, now: Timestamp, reason: &str) {
        if self.config.group_instance_id.is_some()
            || self.member_id.is_empty()
            || self.coordinator != Coordinator::Known
        {
            return;
        }
        let request = LeaveGroupRequest {
            group_id: self.config.group_id.clone(),
            members: vec![LeavingMember {
                member_id: self.member_id.clone(),
                group_instance_id: None,
                reason: Some(reason.into()),
            }],
        };
        self.send(now, Request::LeaveGroup(request), InFlight::Leave);
    }

    /// A fatal error: the member stops.
    fn fail(&mut self, error: ErrorCode) {
        self.lose_partitions();
        self.fatal = Some(error);
        self.events.push_back(ConsumerEvent::Fatal { error });
        self.stop();
    }

    fn stop(&mut self) {
        self.state = MemberState::Closed;
        self.in_flight.clear();
        self.outbox.clear();
        self.heartbeat_due = None;
        self.session_deadline = None;
        self.next_auto_commit = None;
        self.join_retry_at = None;
        self.fetch_retry_at = None;
        self.close_deadline = None;
        for q in std::mem::take(&mut self.queued_commits) {
            let offsets: Vec<(TopicPartition, Offset)> = q
                .offsets
                .iter()
                .map(|c| (c.partition.clone(), c.offset))
                .collect();
            self.complete_commit_with(q.id, q.purpose, &offsets, ErrorCode::RequestTimedOut);
        }
    }

    /// The coordinator stopped answering or moved: find it again, after a backoff.
    fn coordinator_lost(&mut self, now: Timestamp) {
        let retry_at = self.backoff(now);
        self.coordinator = Coordinator::Unknown { retry_at };
        let failed: Vec<(RequestId, InFlight)> = std::mem::take(&mut self.in_flight)
            .into_iter()
            .map(|(id, (k, _))| (id, k))
            .collect();
        for (_, kind) in failed {
            match kind {
                InFlight::Join { .. } => {
                    self.state = MemberState::Unjoined;
                    self.rejoin_needed = true;
                }
                InFlight::Sync { .. } => {
                    // The generation may or may not have completed: rejoin to find out.
                    self.state = if self.generation == Generation::NONE {
                        MemberState::Unjoined
                    } else {
                        MemberState::Stable
                    };
                    self.rejoin_needed = true;
                }
                InFlight::Commit {
                    id,
                    purpose,
                    offsets,
                } => {
                    self.complete_commit_with(
                        id,
                        purpose,
                        &offsets,
                        ErrorCode::CoordinatorNotAvailable,
                    );
                }
                InFlight::Fetch => self.fetch_retry_at = Some(retry_at),
                InFlight::Heartbeat { .. } | InFlight::FindCoordinator | InFlight::Leave => {}
            }
        }
        if self.in_generation() {
            // Keep heartbeating once the coordinator is found again.
            self.heartbeat_due = Some(retry_at);
        }
        if self.state == MemberState::Closing {
            self.maybe_finish_close(now);
        }
    }

    // ---- Commits ------------------------------------------------------------------------------

    fn uncommitted<'a>(
        parts: impl Iterator<Item = (&'a TopicPartition, &'a PartitionState)>,
    ) -> Vec<OffsetCommit> {
        parts
            .filter_map(|(tp, s)| match s.position {
                Some(p) if s.committed != Some(p) => Some(OffsetCommit::new(tp.clone(), p)),
                _ => None,
            })
            .collect()
    }

    fn start_commit(
        &mut self,
        now: Timestamp,
        purpose: CommitPurpose,
        offsets: Vec<OffsetCommit>,
    ) -> CommitId {
        self.next_commit += 1;
        let id = CommitId(self.next_commit);
        if offsets.is_empty() {
            self.finish_commit(id, purpose, Vec::new());
            return id;
        }
        if self.coordinator == Coordinator::Known {
            self.send_commit(now, id, purpose, offsets);
        } else {
            self.queued_commits.push(QueuedCommit {
                id,
                purpose,
                offsets,
                generation: self.generation,
            });
        }
        id
    }

    fn send_commit(
        &mut self,
        now: Timestamp,
        id: CommitId,
        purpose: CommitPurpose,
        offsets: Vec<OffsetCommit>,
    ) {
        let (generation, member_id) = match self.mode {
            Mode::Subscribed(_) => (self.generation, self.member_id.clone()),
            _ => (Generation::NONE, MemberId::from("")),
        };
        let tracked = offsets
            .iter()
            .map(|c| (c.partition.clone(), c.offset))
            .collect();
        let request = OffsetCommitRequest {
            group_id: self.config.group_id.clone(),
            generation,
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
            retention_ms: None,
            offsets,
        };
        self.send(
            now,
            Request::OffsetCommit(request),
            InFlight::Commit {
                id,
                purpose,
                offsets: tracked,
            },
        );
    }

    fn complete_commit_with(
        &mut self,
        id: CommitId,
        purpose: CommitPurpose,
        offsets: &[(TopicPartition, Offset)],
        error: ErrorCode,
    ) {
        let results = offsets
            .iter()
            .map(|(tp, o)| (tp.clone(), *o, error))
            .collect();
        self.finish_commit(id, purpose, results);
    }

    fn finish_commit(
        &mut self,
        id: CommitId,
        purpose: CommitPurpose,
        results: Vec<(TopicPartition, Offset, ErrorCode)>,
    ) {
        if purpose == CommitPurpose::BeforeJoin {
            self.join_commit_pending = false;
        }
        self.events.push_back(ConsumerEvent::CommitCompleted {
            id,
            auto: purpose != CommitPurpose::Manual,
            results,
        });
    }

    fn arm_auto_commit(&mut self, now: Timestamp) {
        if self.config.enable_auto_commit && self.next_auto_commit.is_none() {
            self.next_auto_commit = Some(now.plus_millis(self.config.auto_commit_interval_ms));
        }
    }

    fn auto_commit_in_flight(&self) -> bool {
        self.in_flight.values().any(|(k, _)| {
            matches!(
                k,
                InFlight::Commit {
                    purpose: CommitPurpose::Auto,
                    ..
                }
            )
        }) || self
            .queued_commits
            .iter()
            .any(|q| q.purpose == CommitPurpose::Auto)
    }

    // ---- The driver ---------------------------------------------------------------------------

    /// Sends whatever the member's state calls for now. Idempotent.
    fn drive(&mut self, now: Timestamp) {
        if matches!(self.state, MemberState::Closed) {
            return;
        }
        if self.state == MemberState::Closing {
            self.drive_close(now);
            return;
        }
        if !self.ensure_coordinator(now) {
            return;
        }
        self.send_queued_commits(now);
        // Committed offsets of new partitions.
        self.maybe_fetch(now);
        // Auto-commit.
        if self.config.enable_auto_commit
            && self.next_auto_commit.is_some_and(|t| t <= now)
            && !self.auto_commit_in_flight()
        {
            self.next_auto_commit = Some(now.plus_millis(self.config.auto_commit_interval_ms));
            let can_commit = match self.mode {
                Mode::Manual => true,
                Mode::Subscribed(_) => self.state == MemberState::Stable,
                Mode::None => false,
            };
            if can_commit {
                let offsets = Self::uncommitted(self.owned.iter());
                if !offsets.is_empty() {
                    self.start_commit(now, CommitPurpose::Auto, offsets);
                }
            }
        }
        // Heartbeat.
        if self.in_generation()
            && !self.heartbeat_in_flight()
            && self.heartbeat_due.is_some_and(|t| t <= now)
        {
            self.heartbeat_due = Some(now.plus_millis(self.config.heartbeat_interval_ms));
            let request = HeartbeatRequest {
                group_id: self.config.group_id.clone(),
                generation: self.generation,
                member_id: self.member_id.clone(),
                group_instance_id: self.config.group_instance_id.clone(),
            };
            self.send(
                now,
                Request::Heartbeat(request),
                InFlight::Heartbeat {
                    sent: now,
                    generation: self.generation,
                },
            );
        }
        self.maybe_join(now);
        // A retry time only says "not before": once it has passed, the retry waits on other
        // conditions (a stable state, no request in flight), whose change drives it, not on
        // a timer.
        if self.join_retry_at.is_some_and(|t| t <= now) {
            self.join_retry_at = None;
        }
        if self.fetch_retry_at.is_some_and(|t| t <= now) {
            self.fetch_retry_at = None;
        }
    }

    /// `true` if the coordinator is known; otherwise looks it up when the backoff allows.
    fn ensure_coordinator(&mut self, now: Timestamp) -> bool {
        match self.coordinator {
            Coordinator::Known => true,
            Coordinator::Finding => false,
            Coordinator::Unknown { retry_at } => {
                if self.needs_coordinator() && retry_at <= now {
                    self.coordinator = Coordinator::Finding;
                    let group = self.config.group_id.clone();
                    self.send(
                        now,
                        Request::FindCoordinator(group),
                        InFlight::FindCoordinator,
                    );
                }
                false
            }
        }
    }

    fn needs_coordinator(&self) -> bool {
        match self.mode {
            Mode::None => !self.queued_commits.is_empty() || self.state == MemberState::Closing,
            _ => true,
        }
    }

    fn maybe_fetch(&mut self, now: Timestamp) {
        if self.fetch_retry_at.is_some_and(|t| t > now)
            || self
                .in_flight
                .values()
                .any(|(k, _)| matches!(k, InFlight::Fetch))
        {
            return;
        }
        if matches!(self.mode, Mode::Subscribed(_))
            && !matches!(self.state, MemberState::Stable | MemberState::Revoking)
        {
            return;
        }
        let wanted: Vec<TopicPartition> = self
            .owned
            .iter()
            .filter(|(_, s)| s.fetching)
            .map(|(tp, _)| tp.clone())
            .collect();
        if wanted.is_empty() {
            return;
        }
        self.fetch_retry_at = None;
        let request = OffsetFetchRequest {
            group_id: self.config.group_id.clone(),
            partitions: Some(wanted),
            require_stable: self.config.isolation_level == IsolationLevel::ReadCommitted,
        };
        self.send(now, Request::OffsetFetch(request), InFlight::Fetch);
    }

    /// Starts a rejoin if one is needed and nothing holds it back.
    fn maybe_join(&mut self, now: Timestamp) {
        let Mode::Subscribed(topics) = &self.mode else {
            return;
        };
        let wants = self.rejoin_needed || self.generation == Generation::NONE;
        if !wants
            || self.poll_expired
            || self.last_poll.is_none()
            || self.join_commit_pending
            || self.join_retry_at.is_some_and(|t| t > now)
            || !matches!(self.state, MemberState::Stable | MemberState::Unjoined)
        {
            return;
        }
        self.join_retry_at = None;
        // Before a join: eager members revoke everything; cooperative ones only what they no
        // longer subscribe to. Either way the host acknowledges before the JoinGroup goes out.
        let revoke: Vec<TopicPartition> = match self.protocol {
            RebalanceProtocol::Eager => self.owned.keys().cloned().collect(),
            RebalanceProtocol::Cooperative => self
                .owned
                .keys()
                .filter(|tp| !topics.contains(&tp.topic))
                .cloned()
                .collect(),
        };
        if !revoke.is_empty() {
            if self.protocol == RebalanceProtocol::Eager {
                self.previous = (revoke.clone(), self.generation);
            }
            for tp in &revoke {
                if let Some(s) = self.owned.remove(tp) {
                    self.revoking.insert(tp.clone(), s);
                }
            }
            self.revoking_generation = self.generation;
            self.events
                .push_back(ConsumerEvent::PartitionsRevoked { partitions: revoke });
            self.state = MemberState::Revoking;
            return;
        }
        let request = self.join_request();
        self.announced = if self.protocol == RebalanceProtocol::Cooperative {
            self.owned.keys().cloned().collect()
        } else {
            BTreeSet::new()
        };
        self.state = MemberState::Joining;
        self.send(
            now,
            Request::JoinGroup(request),
            InFlight::Join { sent: now },
        );
    }

    fn join_request(&self) -> JoinGroupRequest {
        let topics = self.subscription();
        let names: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let (owned, generation) =
            if self.protocol == RebalanceProtocol::Eager && !self.previous.0.is_empty() {
                (self.previous.0.clone(), self.previous.1)
            } else {
                (self.assignment(), self.generation)
            };
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in &owned {
            by_topic
                .entry(tp.topic.as_str())
                .or_default()
                .push(tp.partition);
        }
        let owned_partitions: Vec<TopicPartitions> = by_topic
            .into_iter()
            .map(|(t, p)| TopicPartitions::new(t, p))
            .collect();
        let protocols = self
            .config
            .assignors
            .iter()
            .filter_map(|name| self.assignors.get(name))
            .map(|a| {
                let subscription = Subscription {
                    topics: names.clone(),
                    user_data: a.subscription_user_data(&topics),
                    owned_partitions: owned_partitions.clone(),
                    generation: generation.0,
                    rack: self.config.client_rack.as_ref().map(|r| r.to_string()),
                };
                // Topic names were checked non-empty and assignor data is the assignor's own;
                // an encoding failure leaves the member with no metadata for that protocol.
                JoinProtocol::new(
                    a.name(),
                    subscription.encode(PROTOCOL_VERSION).unwrap_or_default(),
                )
            })
            .collect();
        JoinGroupRequest {
            group_id: self.config.group_id.clone(),
            session_timeout_ms: clamp_i32(self.config.session_timeout_ms),
            rebalance_timeout_ms: clamp_i32(self.config.max_poll_interval_ms),
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
            protocols,
            reason: None,
            client_id: self.config.client_id.clone(),
            client_host: String::new(),
            require_known_member_id: true,
        }
    }

    fn drive_close(&mut self, now: Timestamp) {
        if !self.ensure_coordinator(now) {
            if !self.needs_coordinator() {
                self.finish_close();
            }
            return;
        }
        self.send_queued_commits(now);
        self.maybe_finish_close(now);
    }

    /// Sends the commits queued while the coordinator was unknown, now that it is known.
    fn send_queued_commits(&mut self, now: Timestamp) {
        for q in std::mem::take(&mut self.queued_commits) {
            if matches!(self.mode, Mode::Subscribed(_)) && q.generation != self.generation {
                // Made in a generation the member has since left: its partitions may belong
                // to someone else now, who may have committed further (Kafka's
                // CommitFailedException). This holds for a closing member too.
                let offsets: Vec<(TopicPartition, Offset)> = q
                    .offsets
                    .iter()
                    .map(|c| (c.partition.clone(), c.offset))
                    .collect();
                self.complete_commit_with(q.id, q.purpose, &offsets, ErrorCode::IllegalGeneration);
                continue;
            }
            self.send_commit(now, q.id, q.purpose, q.offsets);
        }
    }

    /// Once the close's commits are done, leave (dynamic members) and finish.
    fn maybe_finish_close(&mut self, now: Timestamp) {
        let commits_pending = !self.queued_commits.is_empty()
            || self
                .in_flight
                .values()
                .any(|(k, _)| matches!(k, InFlight::Commit { .. }));
        if commits_pending {
            return;
        }
        if matches!(self.mode, Mode::Subscribed(_)) && self.generation != Generation::NONE {
            self.send_leave(now, "the consumer is being closed");
        }
        self.finish_close();
    }

    fn finish_close(&mut self) {
        // Anything still unsent stays with the host through `poll_request`.
        let outbox = std::mem::take(&mut self.outbox);
        self.stop();
        self.outbox = outbox;
        self.member_id = MemberId::from("");
        self.generation = Generation::NONE;
        self.events.push_back(ConsumerEvent::Closed);
    }

    // ---- Helpers ------------------------------------------------------------------------------

    fn send(&mut self, now: Timestamp, request: Request, kind: InFlight) {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        let timeout = match kind {
            InFlight::Join { .. } => self
                .config
                .max_poll_interval_ms
                .saturating_add(JOIN_GRACE_MS)
                .max(self.config.request_timeout_ms),
            _ => self.config.request_timeout_ms,
        };
        self.in_flight.insert(id, (kind, now.plus_millis(timeout)));
        self.outbox.push_back((id, request));
    }

    fn check_open(&self) -> Result<(), Error> {
        if matches!(self.state, MemberState::Closed | MemberState::Closing) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// `true` while the member holds a generation it must keep alive with heartbeats.
    /// In a generation: heartbeating, with a session the member times. A member rejoining
    /// from a generation (joining, or between join attempts) keeps heartbeating, so it
    /// learns within a session if the coordinator that knew it is gone. Kafka's consumer
    /// stops heartbeating while its JoinGroup is out; a cooperative member still owns
    /// partitions then, so this one doesn't.
    fn in_generation(&self) -> bool {
        self.generation != Generation::NONE
            && !matches!(self.state, MemberState::Closing | MemberState::Closed)
    }

    fn heartbeat_in_flight(&self) -> bool {
        self.in_flight
            .values()
            .any(|(k, _)| matches!(k, InFlight::Heartbeat { .. }))
    }

    /// Restarts the session from `sent`, when the request that proved the member alive left.
    /// The coordinator heard from the member at or after `sent`: its session runs at least
    /// until `sent` plus the session timeout.
    fn arm_session(&mut self, now: Timestamp, sent: Timestamp) {
        let deadline = sent.plus_millis(self.config.session_timeout_ms);
        self.session_deadline = Some(self.session_deadline.map_or(deadline, |d| d.max(deadline)));
        if self.heartbeat_due.is_none() {
            self.heartbeat_due = Some(now.plus_millis(self.config.heartbeat_interval_ms));
        }
    }

    fn poll_deadline(&self) -> Option<Timestamp> {
        self.last_poll
            .map(|t| t.plus_millis(self.config.max_poll_interval_ms))
    }

    /// The next retry time after one more failure: `retry.backoff.ms` doubling per consecutive
    /// failure up to `retry.backoff.max.ms` (KIP-580, without the jitter, so runs replay).
    fn backoff(&mut self, now: Timestamp) -> Timestamp {
        let shift = self.failures.min(20);
        self.failures = self.failures.saturating_add(1);
        let ms = self
            .config
            .retry_backoff_ms
            .saturating_mul(1u64 << shift)
            .min(self.config.retry_backoff_max_ms);
        now.plus_millis(ms)
    }

    /// Partition counts of `topics` as the member knows them now.
    fn subscribed_metadata<'a>(
        &self,
        topics: impl Iterator<Item = &'a Topic>,
    ) -> BTreeMap<Topic, u32> {
        topics
            .map(|t| {
                (
                    t.clone(),
                    self.metadata.get(t).map_or(0, TopicSpec::partitions),
                )
            })
            .collect()
    }
}

/// Marks the leader's own assignment user data as a metadata snapshot, so user data of any
/// other shape is never mistaken for one.
const SNAPSHOT_MAGIC: &[u8; 8] = b"cg-meta0";

/// The partition counts an assignment was planned for: the magic, an `i32` count, then each
/// topic as a string and an `i32` partition count. `None` for names or counts that do not fit
/// their prefixes (no real metadata has them); the leader then falls back to what it sees.
fn encode_snapshot(snapshot: &BTreeMap<Topic, u32>) -> Option<Vec<u8>> {
    let mut w = Writer::default();
    w.0.extend_from_slice(SNAPSHOT_MAGIC);
    w.len32("topics", snapshot.len()).ok()?;
    for (topic, &partitions) in snapshot {
        w.string("topic", topic.as_str()).ok()?;
        w.i32(i32::try_from(partitions).ok()?);
    }
    Some(w.0)
}

/// Reads [`encode_snapshot`]'s bytes; anything else is `None`.
fn decode_snapshot(bytes: &[u8]) -> Option<BTreeMap<Topic, u32>> {
    let rest = bytes.strip_prefix(SNAPSHOT_MAGIC.as_slice())?;
    let mut r = Reader(rest);
    let n = r.count("topics", 6).ok()?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let topic = r.str("topic").ok()?;
        let partitions = u32::try_from(r.i32("partitions").ok()?).ok()?;
        out.insert(Topic::from(topic), partitions);
    }
    r.0.is_empty().then_some(out)
}

fn not_assigned(tp: &TopicPartition) -> Error {
    Error::NotAssigned {
        topic: tp.topic.to_string(),
        partition: tp.partition,
    }
}

/// Codes after which a member cannot go on: another instance took its identity, or the group
/// refuses its settings. Kafka's consumer raises these to the application as fatal.
fn is_fatal(e: ErrorCode) -> bool {
    matches!(
        e,
        ErrorCode::FencedInstanceId
            | ErrorCode::GroupAuthorizationFailed
            | ErrorCode::InconsistentGroupProtocol
            | ErrorCode::InvalidSessionTimeout
            | ErrorCode::InvalidGroupId
            | ErrorCode::GroupMaxSizeReached
            | ErrorCode::UnsupportedVersion
    )
}

fn clamp_i32(ms: u64) -> i32 {
    i32::try_from(ms).unwrap_or(i32::MAX)
}
