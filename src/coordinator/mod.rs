//! [`GroupCoordinator`]: the broker side of the classic group protocol, as a sans-IO state
//! machine.
//!
//! The host hands each request in with [`handle`](GroupCoordinator::handle), tagged with a
//! [`RequestId`] of its choosing, and drains answers with
//! [`poll_response`](GroupCoordinator::poll_response). A JoinGroup or SyncGroup that must wait
//! for the rest of the group is parked and answered later, when another request or
//! [`handle_timeout`](GroupCoordinator::handle_timeout) completes it.
//! [`poll_timeout`](GroupCoordinator::poll_timeout) says when the next timer is due; calling
//! `handle_timeout` early or twice is harmless.
//!
//! Behaviour follows Apache Kafka's classic group coordinator. Where Kafka's choice depends on
//! hash-map order, this one is deterministic:
//! * the leader is the first member to join; if it leaves or does not rejoin, the rejoined
//!   member that joined earliest;
//! * a tie in the protocol vote goes to the tied protocol the earliest-joined member prefers;
//! * the leader's member list is in order of first join;
//! * member ids are the client id, `-`, and a UUID-shaped suffix drawn from a generator seeded
//!   by [`CoordinatorConfig::seed`]. The coordinator never reads randomness itself: a host that
//!   restarts must give each start its own seed, or a restarted coordinator hands out the ids
//!   of the previous run again ([`GroupService`](crate::sync::GroupService) draws one unless
//!   given one).
//!
//! ```
//! use std::sync::Arc;
//! use consumer_groups::coordinator::{CoordinatorConfig, GroupCoordinator, Request, RequestId, Response};
//! use consumer_groups::log::MemoryLog;
//! use consumer_groups::offsets::LogOffsetStore;
//! use consumer_groups::protocol::group::{JoinGroupRequest, JoinProtocol};
//! use consumer_groups::{ErrorCode, Timestamp};
//!
//! let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
//! let mut coordinator = GroupCoordinator::new(CoordinatorConfig::default(), store);
//! let join = JoinGroupRequest::new("billing", vec![JoinProtocol::new("range", vec![])]);
//! coordinator.handle(Timestamp(0), RequestId(1), Request::JoinGroup(join));
//! let Some((RequestId(1), Response::JoinGroup(r))) = coordinator.poll_response() else { panic!() };
//! assert_eq!(r.error, ErrorCode::MemberIdRequired); // KIP-394: rejoin with the id given
//! assert!(r.member_id.starts_with("consumer-"));
//! ```

mod group;
mod maintenance;

pub use group::GroupState;
pub use maintenance::MaintenanceStats;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};

use crate::error::ErrorCode;
use crate::log::Producer;
use crate::log::codec::{GroupMetadataValue, MemberMetadata};
use crate::offsets::{CommitOptions, OffsetCommit, OffsetStore};
use crate::protocol::consumer::{CONSUMER_PROTOCOL_TYPE, Subscription, SubscriptionRef};
use crate::protocol::group::{
    DescribedGroup, DescribedMember, FindCoordinatorResponse, HeartbeatRequest, JoinGroupMember,
    JoinGroupRequest, JoinGroupResponse, JoinProtocol, LeaveGroupRequest, LeaveGroupResponse,
    ListedGroup, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse, TxnOffsetCommitRequest,
};
use crate::types::{Generation, GroupId, GroupInstanceId, MemberId, Timestamp, TopicPartition};
use group::{Group, Member};

pub use crate::protocol::{Request, RequestId, Response};

/// Settings of a [`GroupCoordinator`], with Kafka's broker defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// `group.min.session.timeout.ms` (6 s).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (30 min).
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms` (3 s): how long the first rebalance of an empty group
    /// waits for more members, extended while they keep arriving.
    pub initial_rebalance_delay_ms: u64,
    /// `group.max.size`: most members per group.
    pub max_group_size: usize,
    /// How long a new member may take to complete its first join (Kafka: 5 min).
    pub new_member_join_timeout_ms: u64,
    /// Offsets-log partitions this coordinator owns; `None` for all of them.
    pub owned_partitions: Option<Vec<u32>>,
    /// Seed of the member-id generator: the same seed gives the same member ids in the same
    /// order. `None` (the default) leaves the choice to the host:
    /// [`GroupService`](crate::sync::GroupService) (and the Kafka front end on it) draws a
    /// fresh seed from the operating system's randomness at each start, see
    /// [`random_seed`](crate::sync::random_seed); a bare [`GroupCoordinator`], which never reads
    /// randomness, uses a fixed seed. Give a seed to replay a run (tests, simulation).
    pub seed: Option<u64>,
    /// `offsets.retention.check.interval.ms` (10 min): how often offsets past their retention
    /// are expired (the retention itself is the store's, `offsets.retention.minutes`).
    pub offsets_retention_check_interval_ms: u64,
    /// How often each owned partition of the offsets log is looked at for compaction (1 s;
    /// Kafka's `log.cleaner.backoff.ms` is 15 s for a log on disk, but a log in memory holds
    /// every superseded record in memory until it is cleaned: at 300,000 offsets committed a
    /// second, 15 s of them are about 400 MB). A look that finds the partition clean enough
    /// costs nothing.
    pub log_cleaner_backoff_ms: u64,
    /// Compact a partition once the records appended since its last cleaning make up this
    /// percentage of it (Kafka's `min.cleanable.dirty.ratio`, 0.5 → 50).
    pub min_cleanable_dirty_percent: u8,
    /// How long compaction keeps a tombstone (Kafka's `delete.retention.ms`, 1 day), so a
    /// reader replaying the log sees the deletion.
    pub delete_retention_ms: u64,
}

/// The member-id seed of a [`GroupCoordinator`] whose [`CoordinatorConfig::seed`] is `None`.
const DEFAULT_SEED: u64 = 0x5eed;

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_group_size: i32::MAX as usize,
            new_member_join_timeout_ms: 300_000,
            owned_partitions: None,
            seed: None,
            offsets_retention_check_interval_ms: 600_000,
            log_cleaner_backoff_ms: 1_000,
            min_cleanable_dirty_percent: 50,
            delete_retention_ms: 86_400_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Member(GroupId, MemberId),
    Pending(GroupId, MemberId),
    Join(GroupId),
    Sync(GroupId, i32),
    /// Offsets retention (see [`maintenance`]).
    Expiry,
    /// Compaction of the offsets log (see [`maintenance`]).
    Clean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ownership {
    Owned,
    Loading,
}

/// The broker side of Kafka's classic consumer-group protocol. See the [module](self) docs.
pub struct GroupCoordinator {
    config: CoordinatorConfig,
    store: Arc<dyn OffsetStore>,
    partitions: HashMap<u32, Ownership>,
    groups: HashMap<GroupId, Group>,
    /// Every member's session, keyed by group and member: the only state a heartbeat touches
    /// besides its group's, kept apart from the rest of the member so the table stays small.
    /// It holds an entry exactly for each member of each group.
    sessions: HashMap<SessionKey, Session>,
    timers: BinaryHeap<Reverse<(Timestamp, u64, TimerKind)>>,
    timer_seq: u64,
    out: VecDeque<(RequestId, Response)>,
    rng: u64,
    maintenance_armed: bool,
    maintenance: MaintenanceStats,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("groups", &self.groups.len())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

fn join_error(out: &mut VecDeque<(RequestId, Response)>, id: RequestId, e: ErrorCode, m: MemberId) {
    out.push_back((id, Response::JoinGroup(JoinGroupResponse::error(e, m))));
}

fn sync_error(out: &mut VecDeque<(RequestId, Response)>, id: RequestId, e: ErrorCode) {
    out.push_back((id, Response::SyncGroup(SyncGroupResponse::error(e))));
}

/// Moves a member's deadline. The timer already armed for it fires no later than a later
/// deadline and re-arms itself then, so only an earlier deadline needs a new heap entry: a
/// heartbeat costs no heap operation.
fn set_deadline(
    timers: &mut BinaryHeap<Reverse<(Timestamp, u64, TimerKind)>>,
    timer_seq: &mut u64,
    key: SessionKeyRef<'_>,
    s: &mut Session,
    deadline: Timestamp,
) {
    s.deadline = deadline;
    if s.timer_at.is_none_or(|t| t > deadline) {
        s.timer_at = Some(deadline);
        *timer_seq += 1;
        timers.push(Reverse((
            deadline,
            *timer_seq,
            TimerKind::Member(key.group.clone(), key.member.clone()),
        )));
    }
}

/// A member's session: its timeout, when it lapses, and the timer armed for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Session {
    /// When the member is removed unless it heartbeats (or, while new, completes its join).
    deadline: Timestamp,
    /// The deadline the timer heap holds for this member.
    timer_at: Option<Timestamp>,
    /// The member's session timeout (a copy of [`Member`]'s).
    session_timeout_ms: i32,
}

impl Session {
    fn new(now: Timestamp, session_timeout_ms: i32) -> Self {
        Session {
            deadline: now,
            timer_at: None,
            session_timeout_ms,
        }
    }

    fn renewed(&self, now: Timestamp) -> Timestamp {
        now.plus_millis(self.session_timeout_ms.max(0) as u64)
    }
}

/// The key of [`GroupCoordinator::sessions`]: a group and one of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionKey {
    group: GroupId,
    member: MemberId,
}

/// A [`SessionKey`] by reference, to look sessions up without cloning the ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SessionKeyRef<'a> {
    group: &'a GroupId,
    member: &'a MemberId,
}

fn key<'a>(group: &'a GroupId, member: &'a MemberId) -> SessionKeyRef<'a> {
    SessionKeyRef { group, member }
}

impl SessionKey {
    fn new(k: SessionKeyRef<'_>) -> Self {
        SessionKey {
            group: k.group.clone(),
            member: k.member.clone(),
        }
    }
}

// Both keys hash the two names' strings, so a `SessionKeyRef` finds its `SessionKey`.
impl std::hash::Hash for SessionKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        key(&self.group, &self.member).hash(h);
    }
}

impl std::hash::Hash for SessionKeyRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.group.as_str().hash(h);
        self.member.as_str().hash(h);
    }
}

impl hashbrown::Equivalent<SessionKey> for SessionKeyRef<'_> {
    fn equivalent(&self, k: &SessionKey) -> bool {
        same_name(self.group, &k.group) && same_name(self.member, &k.member)
    }
}

/// Whether two names are equal, without comparing the bytes when both share one string (a
/// request naming a member by the id the coordinator handed out usually does).
fn same_name(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

fn unknown() -> MemberId {
    MemberId::from("")
}

/// The JoinGroup answer for `member` in `g`'s current generation: the leader gets every
/// member's metadata.
fn join_response(g: &Group, member: &MemberId, error: ErrorCode) -> JoinGroupResponse {
    let is_leader = g.leader.as_ref() == Some(member);
    JoinGroupResponse {
        error,
        generation: Generation(g.generation),
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol.clone(),
        leader: g.leader.clone().unwrap_or_else(unknown),
        skip_assignment: false,
        member_id: member.clone(),
        members: if is_leader {
            let protocol = g.protocol.as_deref().unwrap_or_default();
            g.ordered()
                .into_iter()
                .map(|m| JoinGroupMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    metadata: m.metadata(protocol),
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// Who commits offsets, and how: the fields OffsetCommit and TxnOffsetCommit share.
struct CommitFrom<'a> {
    group_id: &'a GroupId,
    generation: Generation,
    member_id: &'a MemberId,
    group_instance_id: Option<&'a GroupInstanceId>,
    /// A TxnOffsetCommit.
    transactional: bool,
}

/// Why `g` refuses the offset commit `c`, in the order of Kafka's `validateOffsetCommit`
/// (GroupCoordinator.scala, with KAFKA-14201's rule for generation -1 from Kafka 3.4):
///
/// 1. a Dead group: COORDINATOR_NOT_AVAILABLE;
/// 2. generation -1 to an Empty group: accepted, whatever the member fields say (an admin
///    client, or a consumer that assigns its partitions itself);
/// 3. if any of generation, member id or instance id is given: the instance id must map to
///    the member id (UNKNOWN_MEMBER_ID if it maps to nothing, FENCED_INSTANCE_ID if to another
///    member), the member id must be a member (UNKNOWN_MEMBER_ID), and the generation must be
///    the group's (ILLEGAL_GENERATION);
/// 4. otherwise (none given): an ordinary commit to a group with members is UNKNOWN_MEMBER_ID,
///    since only members commit there; a transactional one is accepted, as clients from
///    before KIP-447 send none of the fields.
fn offset_commit_refusal(g: &Group, c: &CommitFrom<'_>) -> Option<ErrorCode> {
    if g.state == GroupState::Dead {
        return Some(ErrorCode::CoordinatorNotAvailable);
    }
    if c.generation.0 < 0 && g.state == GroupState::Empty {
        return None;
    }
    if c.generation.0 >= 0 || !c.member_id.is_empty() || c.group_instance_id.is_some() {
        let member = match c.group_instance_id {
            Some(i) => match g.statics.get(i) {
                Some(current) if current != c.member_id => Some(ErrorCode::FencedInstanceId),
                Some(_) => None,
                None => Some(ErrorCode::UnknownMemberId),
            },
            None if !g.members.contains_key(c.member_id) => Some(ErrorCode::UnknownMemberId),
            None => None,
        };
        member.or((c.generation.0 != g.generation).then_some(ErrorCode::IllegalGeneration))
    } else if !c.transactional && g.state != GroupState::Empty {
        Some(ErrorCode::UnknownMemberId)
    } else {
        None
    }
}

/// Whether a static member that came back subscribes to other topics than before, under the
/// group's protocol `name`. Kafka keeps the stored assignment whenever the selected protocol
/// stays the same; then nobody would assign the new topics (or take back the dropped ones), so
/// a changed topic set rebalances instead (as Kafka's KAFKA-19546 does for its downgrade
/// path). Only the consumer protocol's bytes are understood; owned partitions and user data,
/// which a restarted process always changes, are not compared.
fn subscription_changed(g: &Group, name: &str, old: &[JoinProtocol], new: &[JoinProtocol]) -> bool {
    if g.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
        return false;
    }
    fn topics<'a>(protocols: &'a [JoinProtocol], name: &str) -> Option<Vec<&'a str>> {
        let p = protocols.iter().find(|p| p.name == name)?;
        let (_, sub) = SubscriptionRef::decode(&p.metadata).ok()?;
        let mut topics: Vec<&str> = sub.topics().collect();
        topics.sort_unstable();
        topics.dedup();
        Some(topics)
    }
    topics(old, name) != topics(new, name)
}

impl GroupCoordinator {
    /// A coordinator over `store`, owning the partitions `config` names (all by default).
    /// Groups already in the store are not known until [`load_partition`](Self::load_partition).
    pub fn new(config: CoordinatorConfig, store: Arc<dyn OffsetStore>) -> Self {
        let partitions = match &config.owned_partitions {
            Some(ps) => ps.iter().map(|&p| (p, Ownership::Owned)).collect(),
            None => (0..store.partition_count())
                .map(|p| (p, Ownership::Owned))
                .collect(),
        };
        let rng = config.seed.unwrap_or(DEFAULT_SEED);
        GroupCoordinator {
            config,
            store,
            partitions,
            groups: HashMap::new(),
            sessions: HashMap::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            out: VecDeque::new(),
            rng,
            maintenance_armed: false,
            maintenance: MaintenanceStats::default(),
        }
    }

    /// The next response to send.
    #[must_use]
    pub fn poll_response(&mut self) -> Option<(RequestId, Response)> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed (it may find nothing due:
    /// timers are re-armed lazily).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    /// The state of `group`, if this coordinator holds it.
    #[must_use]
    pub fn group_state(&self, group: &str) -> Option<GroupState> {
        self.groups.get(group).map(|g| g.state)
    }

    /// The generation of `group`, if held.
    #[must_use]
    pub fn generation(&self, group: &str) -> Option<Generation> {
        self.groups.get(group).map(|g| Generation(g.generation))
    }

    /// Member ids of `group`, in order of first join.
    #[must_use]
    pub fn members(&self, group: &str) -> Vec<MemberId> {
        self.groups
            .get(group)
            .map(|g| g.ordered().into_iter().map(|m| m.id.clone()).collect())
            .unwrap_or_default()
    }

    /// The leader of `group`, if any.
    #[must_use]
    pub fn leader(&self, group: &str) -> Option<MemberId> {
        self.groups.get(group).and_then(|g| g.leader.clone())
    }

    /// The pending members of `group`, sorted: dynamic members told MEMBER_ID_REQUIRED (KIP-394)
    /// that have not yet joined with the id they were given. They are not members yet, but a
    /// rebalance waits for them (until they join, or their session timeout lapses).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use consumer_groups::coordinator::{CoordinatorConfig, GroupCoordinator, Request, RequestId, Response};
    /// # use consumer_groups::log::MemoryLog;
    /// # use consumer_groups::offsets::LogOffsetStore;
    /// # use consumer_groups::protocol::group::{JoinGroupRequest, JoinProtocol};
    /// # use consumer_groups::Timestamp;
    /// # let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
    /// let mut coordinator = GroupCoordinator::new(CoordinatorConfig::default(), store);
    /// let join = JoinGroupRequest::new("billing", vec![JoinProtocol::new("range", vec![])]);
    /// coordinator.handle(Timestamp(0), RequestId(1), Request::JoinGroup(join));
    /// let Some((_, Response::JoinGroup(r))) = coordinator.poll_response() else { panic!() };
    /// assert_eq!(coordinator.pending_members("billing"), [r.member_id]);
    /// assert!(coordinator.members("billing").is_empty());
    /// ```
    #[must_use]
    pub fn pending_members(&self, group: &str) -> Vec<MemberId> {
        let mut pending: Vec<MemberId> = self
            .groups
            .get(group)
            .map(|g| g.pending.keys().cloned().collect())
            .unwrap_or_default();
        pending.sort_unstable();
        pending
    }

    /// The members of `group` that still owe a SyncGroup for the current generation, in order
    /// of first join. Empty unless a rebalance has handed out its JoinGroup answers; those
    /// still listed when the rebalance timeout passes are removed from the group.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use consumer_groups::coordinator::{CoordinatorConfig, GroupCoordinator, Request, RequestId, Response};
    /// # use consumer_groups::log::MemoryLog;
    /// # use consumer_groups::offsets::LogOffsetStore;
    /// # use consumer_groups::protocol::group::{JoinGroupRequest, JoinProtocol, SyncGroupRequest};
    /// # use consumer_groups::Timestamp;
    /// # let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
    /// let config = CoordinatorConfig { initial_rebalance_delay_ms: 0, ..CoordinatorConfig::default() };
    /// let mut coordinator = GroupCoordinator::new(config, store);
    /// let mut join = JoinGroupRequest::new("billing", vec![JoinProtocol::new("range", vec![])]);
    /// join.require_known_member_id = false; // a client from before KIP-394
    /// coordinator.handle(Timestamp(0), RequestId(1), Request::JoinGroup(join));
    /// let Some((_, Response::JoinGroup(r))) = coordinator.poll_response() else { panic!() };
    /// assert_eq!(coordinator.pending_sync_members("billing"), [r.member_id.clone()]);
    /// let sync = SyncGroupRequest {
    ///     group_id: "billing".into(),
    ///     generation: r.generation,
    ///     member_id: r.member_id,
    ///     group_instance_id: None,
    ///     protocol_type: None,
    ///     protocol_name: None,
    ///     assignments: vec![],
    /// };
    /// coordinator.handle(Timestamp(1), RequestId(2), Request::SyncGroup(sync));
    /// assert!(coordinator.pending_sync_members("billing").is_empty());
    /// ```
    #[must_use]
    pub fn pending_sync_members(&self, group: &str) -> Vec<MemberId> {
        self.groups
            .get(group)
            .map(|g| {
                g.ordered()
                    .into_iter()
                    .filter(|m| g.pending_sync.contains(&m.id))
                    .map(|m| m.id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks the coordinator's internal consistency: every group's leader and pending-sync
    /// members are members, static members and the instance map agree, Empty groups have no
    /// members and groups with members are not Empty, a generation's protocol is set while it
    /// is completing or stable, parked requests fit the state. For tests and debugging; an
    /// `Err` names the first broken rule.
    ///
    /// # Errors
    /// A description of the broken rule.
    pub fn check_consistency(&self) -> Result<(), String> {
        let members: usize = self.groups.values().map(|g| g.members.len()).sum();
        if members != self.sessions.len() {
            return Err(format!(
                "{} sessions for {members} members",
                self.sessions.len()
            ));
        }
        for g in self.groups.values() {
            let id = &g.id;
            if g.state == GroupState::Dead {
                return Err(format!("{id}: a Dead group is still held"));
            }
            if let Some(l) = &g.leader {
                if !g.members.contains_key(l) {
                    return Err(format!("{id}: leader {l} is not a member"));
                }
            } else if !g.members.is_empty() && g.state != GroupState::PreparingRebalance {
                return Err(format!("{id}: members but no leader"));
            }
            if (g.state == GroupState::Empty) != g.members.is_empty()
                && g.state != GroupState::PreparingRebalance
            {
                return Err(format!(
                    "{id}: {:?} with {} members",
                    g.state,
                    g.members.len()
                ));
            }
            for (i, m) in &g.statics {
                if g.members.get(m).and_then(|m| m.instance_id.as_ref()) != Some(i) {
                    return Err(format!("{id}: instance {i} maps to {m}, which is not it"));
                }
            }
            for m in g.members.values() {
                if let Some(i) = &m.instance_id {
                    if g.statics.get(i) != Some(&m.id) {
                        return Err(format!("{id}: static member {} not in the map", m.id));
                    }
                }
                if m.awaiting_sync.is_some() && g.state != GroupState::CompletingRebalance {
                    return Err(format!("{id}: {} waits for a sync in {:?}", m.id, g.state));
                }
                if m.awaiting_join.is_some() && g.state != GroupState::PreparingRebalance {
                    return Err(format!("{id}: {} waits for a join in {:?}", m.id, g.state));
                }
            }
            for m in g.members.values() {
                match self.sessions.get(&key(id, &m.id)) {
                    None => return Err(format!("{id}: member {} has no session", m.id)),
                    Some(s) if s.session_timeout_ms != m.session_timeout_ms => {
                        return Err(format!("{id}: {}'s session has another timeout", m.id));
                    }
                    Some(_) => {}
                }
            }
            if !g.counts_agree() {
                return Err(format!(
                    "{id}: join or protocol counts disagree with the members"
                ));
            }
            if let Some(m) = g.pending_sync.iter().find(|m| !g.members.contains_key(*m)) {
                return Err(format!("{id}: pending sync of non-member {m}"));
            }
            if matches!(
                g.state,
                GroupState::CompletingRebalance | GroupState::Stable
            ) && g.protocol.is_none()
            {
                return Err(format!("{id}: {:?} without a protocol", g.state));
            }
        }
        Ok(())
    }

    /// Folds `bytes` into the member-id generator's state (FNV-1a, then one splitmix step), so
    /// what a coordinator has loaded steers the ids it generates afterwards.
    fn mix_into_generator(&mut self, bytes: &[u8]) {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.rng = (self.rng ^ h).wrapping_add(0x9e37_79b9_7f4a_7c15);
    }

    fn next_member_id(&mut self, client_id: &str) -> MemberId {
        let mut next = || {
            // splitmix64
            self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let (a, b) = (next(), next());
        MemberId::from(format!(
            "{client_id}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        ))
    }

    fn arm(&mut self, at: Timestamp, kind: TimerKind) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, kind)));
    }

    /// Restarts a member's session from `now`.
    fn heartbeat_member(&mut self, now: Timestamp, group: &GroupId, member: &MemberId) {
        self.move_deadline(group, member, |s| s.renewed(now));
    }

    /// Sets a member's deadline to `deadline(session)`, with one lookup.
    fn move_deadline(
        &mut self,
        group: &GroupId,
        member: &MemberId,
        deadline: impl FnOnce(&Session) -> Timestamp,
    ) {
        let k = key(group, member);
        if let Some(s) = self.sessions.get_mut(&k) {
            let d = deadline(s);
            set_deadline(&mut self.timers, &mut self.timer_seq, k, s, d);
        }
    }

    /// Starts the session of a member just added to its group, at `now` with no timer armed.
    fn open_session(
        &mut self,
        now: Timestamp,
        group: &GroupId,
        member: &MemberId,
        timeout_ms: i32,
    ) {
        self.sessions.insert(
            SessionKey::new(key(group, member)),
            Session::new(now, timeout_ms),
        );
    }

    /// Sets a member's session timeout, in the member and in its session.
    fn set_session_timeout(&mut self, group: &GroupId, member: &MemberId, timeout_ms: i32) {
        if let Some(m) = self
            .groups
            .get_mut(group)
            .and_then(|g| g.members.get_mut(member))
        {
            m.session_timeout_ms = timeout_ms;
        }
        if let Some(s) = self.sessions.get_mut(&key(group, member)) {
            s.session_timeout_ms = timeout_ms;
        }
    }

    /// Checks that this coordinator serves `group` now.
    /// The offsets-log partitions this coordinator owns now (not those it is loading).
    fn owned_partitions(&self) -> impl Iterator<Item = u32> + '_ {
        self.partitions
            .iter()
            .filter(|(_, o)| **o == Ownership::Owned)
            .map(|(&p, _)| p)
    }

    fn serves(&self, group: &GroupId) -> Result<(), ErrorCode> {
        let partition = match self.groups.get(group) {
            Some(g) => g.partition,
            None => self.store.partition_of(group),
        };
        self.serves_partition(partition)
    }

    fn serves_partition(&self, partition: u32) -> Result<(), ErrorCode> {
        match self.partitions.get(&partition) {
            Some(Ownership::Owned) => Ok(()),
            Some(Ownership::Loading) => Err(ErrorCode::CoordinatorLoadInProgress),
            None => Err(ErrorCode::NotCoordinator),
        }
    }

    /// Handles one request at `now`; its response (now or later) comes out of
    /// [`poll_response`](Self::poll_response) tagged `id`.
    pub fn handle(&mut self, now: Timestamp, id: RequestId, request: Request) {
        self.arm_maintenance(now);
        match request {
            Request::JoinGroup(r) => self.join(now, id, r),
            Request::SyncGroup(r) => self.sync(now, id, r),
            Request::Heartbeat(r) => {
                let e = self.heartbeat(now, &r);
                self.out.push_back((id, Response::Heartbeat(e)));
            }
            Request::LeaveGroup(r) => {
                let resp = self.leave(now, r);
                self.out.push_back((id, Response::LeaveGroup(resp)));
            }
            Request::OffsetCommit(r) => {
                let resp = self.commit(now, r);
                self.out.push_back((id, Response::OffsetCommit(resp)));
            }
            Request::TxnOffsetCommit(r) => {
                let resp = self.txn_commit(now, r);
                self.out.push_back((id, Response::TxnOffsetCommit(resp)));
            }
            Request::OffsetFetch(r) => {
                let resp = self.fetch(&r);
                self.out.push_back((id, Response::OffsetFetch(resp)));
            }
            Request::ListGroups => {
                let mut groups: Vec<ListedGroup> = self
                    .groups
                    .values()
                    .filter(|g| g.state != GroupState::Dead)
                    .map(|g| ListedGroup {
                        group_id: g.id.clone(),
                        protocol_type: g.protocol_type.clone().unwrap_or_default(),
                        state: g.state.name().to_string(),
                    })
                    .collect();
                groups.sort_unstable_by(|a, b| a.group_id.cmp(&b.group_id));
                let error = if self.partitions.values().any(|o| *o == Ownership::Loading) {
                    ErrorCode::CoordinatorLoadInProgress
                } else {
                    ErrorCode::None
                };
                self.out
                    .push_back((id, Response::ListGroups { error, groups }));
            }
            Request::DescribeGroups(ids) => {
                let v = ids.iter().map(|g| self.describe(g)).collect();
                self.out.push_back((id, Response::DescribeGroups(v)));
            }
            Request::DeleteGroups(ids) => {
                let v = ids
                    .into_iter()
                    .map(|g| {
                        let e = self.delete_group(now, &g);
                        (g, e)
                    })
                    .collect();
                self.out.push_back((id, Response::DeleteGroups(v)));
            }
            Request::OffsetDelete {
                group_id,
                partitions,
            } => {
                let (error, partitions) = self.offset_delete(now, &group_id, partitions);
                self.out
                    .push_back((id, Response::OffsetDelete { error, partitions }));
            }
            Request::FindCoordinator(g) => {
                let error = match self.serves(&g) {
                    Ok(()) => ErrorCode::None,
                    Err(e) => e,
                };
                let partition = self.store.partition_of(&g);
                self.out.push_back((
                    id,
                    Response::FindCoordinator(FindCoordinatorResponse { error, partition }),
                ));
            }
        }
    }

    // ---- JoinGroup -------------------------------------------------------------------------

    fn join(&mut self, now: Timestamp, id: RequestId, r: JoinGroupRequest) {
        let out = &mut self.out;
        if r.group_id.is_empty() || r.group_id.len() > i16::MAX as usize {
            return join_error(out, id, ErrorCode::InvalidGroupId, r.member_id);
        }
        if let Err(e) = self.serves(&r.group_id) {
            return join_error(&mut self.out, id, e, r.member_id);
        }
        if r.session_timeout_ms < self.config.min_session_timeout_ms
            || r.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return join_error(
                &mut self.out,
                id,
                ErrorCode::InvalidSessionTimeout,
                r.member_id,
            );
        }
        if r.group_instance_id.as_ref().is_some_and(|i| i.is_empty()) {
            return join_error(&mut self.out, id, ErrorCode::InvalidRequest, r.member_id);
        }
        let new_member = r.member_id.is_empty();
        let existing = self.groups.get(&r.group_id);
        let created = existing.is_none();
        if created && !new_member {
            return join_error(&mut self.out, id, ErrorCode::UnknownMemberId, r.member_id);
        }
        let refusal = match existing {
            None => {
                let g = Group::new(r.group_id.clone(), 0, now);
                self.join_refusal(&g, &r)
            }
            Some(g) => self.join_refusal(g, &r),
        };
        if let Some(e) = refusal {
            if e == ErrorCode::GroupMaxSizeReached {
                // Kafka answers without a member id (JoinGroupRequest.UNKNOWN_MEMBER_ID).
                join_error(&mut self.out, id, e, unknown());
                if !created {
                    self.remove_refused_member(now, &r.group_id, &r.member_id);
                }
                return;
            }
            return join_error(&mut self.out, id, e, r.member_id);
        }
        if created {
            self.groups.insert(
                r.group_id.clone(),
                Group::new(
                    r.group_id.clone(),
                    self.store.partition_of(&r.group_id),
                    now,
                ),
            );
        }
        if new_member {
            self.join_new_member(now, id, r);
        } else {
            self.join_known_member(now, id, r);
        }
    }

    /// Why `g` refuses the join `r`, in Kafka's order of checks.
    fn join_refusal(&self, g: &Group, r: &JoinGroupRequest) -> Option<ErrorCode> {
        if !self.accepts_joining(g, &r.member_id) {
            Some(ErrorCode::GroupMaxSizeReached)
        } else if g.state == GroupState::Dead {
            Some(ErrorCode::CoordinatorNotAvailable)
        } else if !g.supports(&r.protocol_type, &r.protocols) {
            Some(ErrorCode::InconsistentGroupProtocol)
        } else {
            None
        }
    }

    /// Drops `member` from a group that has no room for it, as Kafka's `group.remove` does
    /// when it refuses a join: a member leaves the group, a pending member (told
    /// MEMBER_ID_REQUIRED) leaves the pending set, so no rebalance waits for it.
    fn remove_refused_member(&mut self, now: Timestamp, gid: &GroupId, member: &MemberId) {
        let g = self.groups.get_mut(gid).expect("checked");
        if g.pending.remove(member).is_some() {
            self.try_complete_join(now, gid);
        } else if g.members.contains_key(member) {
            self.remove_member_quietly(gid, member);
            self.after_removal(now, gid);
        }
    }

    /// Kafka's `acceptJoiningMember`: whether `group.max.size` lets `member` in.
    fn accepts_joining(&self, g: &Group, member: &MemberId) -> bool {
        let max = self.config.max_group_size;
        match g.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                g.members
                    .get(member)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || g.awaiting() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                g.members.contains_key(member) || g.members.len() < max
            }
        }
    }

    fn join_new_member(&mut self, now: Timestamp, id: RequestId, r: JoinGroupRequest) {
        let gid = r.group_id.clone();
        // Never hand out an id the group already knows (a member or a pending one), whatever
        // the generator's state: a coordinator that took a group over from another must not
        // give a newcomer the id of a member it inherited.
        let member_id = loop {
            let candidate = self.next_member_id(&r.client_id);
            let g = &self.groups[&gid];
            if !g.members.contains_key(&candidate) && !g.pending.contains_key(&candidate) {
                break candidate;
            }
        };
        if let Some(instance) = r.group_instance_id.clone() {
            let known = self.groups[&gid].statics.get(&instance).cloned();
            match known {
                Some(old) => self.replace_static_member(now, id, r, old, member_id),
                None => self.add_member_and_rebalance(now, id, r, member_id),
            }
        } else if r.require_known_member_id {
            let deadline = now.plus_millis(r.session_timeout_ms.max(0) as u64);
            self.groups
                .get_mut(&gid)
                .expect("checked")
                .pending
                .insert(member_id.clone(), deadline);
            self.arm(deadline, TimerKind::Pending(gid, member_id.clone()));
            join_error(&mut self.out, id, ErrorCode::MemberIdRequired, member_id);
        } else {
            self.add_member_and_rebalance(now, id, r, member_id);
        }
    }

    fn join_known_member(&mut self, now: Timestamp, id: RequestId, r: JoinGroupRequest) {
        let gid = r.group_id.clone();
        let g = self.groups.get_mut(&gid).expect("checked");
        if g.pending.contains_key(&r.member_id) {
            if r.group_instance_id.is_some() {
                // Pending ids are only handed to dynamic members; Kafka fails this with an
                // internal error, here it is the client's INVALID_REQUEST.
                return join_error(&mut self.out, id, ErrorCode::InvalidRequest, r.member_id);
            }
            g.pending.remove(&r.member_id);
            let member_id = r.member_id.clone();
            return self.add_member_and_rebalance(now, id, r, member_id);
        }
        if g.static_fenced(r.group_instance_id.as_ref(), &r.member_id) {
            return join_error(&mut self.out, id, ErrorCode::FencedInstanceId, r.member_id);
        }
        let Some(m) = g.members.get(&r.member_id) else {
            return join_error(&mut self.out, id, ErrorCode::UnknownMemberId, r.member_id);
        };
        let same = m.same_protocols(&r.protocols);
        let is_leader = g.leader.as_ref() == Some(&r.member_id);
        match g.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(now, id, r),
            GroupState::CompletingRebalance => {
                if same {
                    // It lost its JoinGroup response: answer again for this generation.
                    let resp = join_response(&self.groups[&gid], &r.member_id, ErrorCode::None);
                    self.out.push_back((id, Response::JoinGroup(resp)));
                } else {
                    self.update_member_and_rebalance(now, id, r);
                }
            }
            GroupState::Stable => {
                if is_leader || !same {
                    self.update_member_and_rebalance(now, id, r);
                } else {
                    let resp = join_response(&self.groups[&gid], &r.member_id, ErrorCode::None);
                    self.out.push_back((id, Response::JoinGroup(resp)));
                }
            }
            GroupState::Empty | GroupState::Dead => {
                join_error(&mut self.out, id, ErrorCode::UnknownMemberId, r.member_id);
            }
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        now: Timestamp,
        id: RequestId,
        r: JoinGroupRequest,
        member_id: MemberId,
    ) {
        let gid = r.group_id.clone();
        let g = self.groups.get_mut(&gid).expect("checked");
        if g.state == GroupState::PreparingRebalance && g.generation == 0 {
            g.new_member_added = true;
        }
        let seq = g.next_seq;
        g.next_seq += 1;
        if g.members.is_empty() {
            g.protocol_type = Some(r.protocol_type.clone());
        }
        if let Some(i) = &r.group_instance_id {
            g.statics.insert(i.clone(), member_id.clone());
        }
        if g.leader.is_none() {
            g.leader = Some(member_id.clone());
        }
        // Members told MEMBER_ID_REQUIRED are expected back: make room for them at once
        // instead of growing the tables one rehash at a time.
        let expected = g.pending.len() + 1;
        g.members.reserve(expected);
        self.sessions.reserve(expected);
        g.insert_member(Member {
            id: member_id.clone(),
            instance_id: r.group_instance_id,
            client_id: r.client_id,
            client_host: r.client_host,
            session_timeout_ms: r.session_timeout_ms,
            rebalance_timeout_ms: r.rebalance_timeout_ms,
            protocols: r.protocols,
            assignment: Vec::new(),
            awaiting_join: Some(id),
            awaiting_sync: None,
            is_new: true,
            seq,
        });
        let deadline = now.plus_millis(self.config.new_member_join_timeout_ms);
        let k = key(&gid, &member_id);
        let mut session = Session::new(now, r.session_timeout_ms);
        set_deadline(
            &mut self.timers,
            &mut self.timer_seq,
            k,
            &mut session,
            deadline,
        );
        self.sessions.insert(SessionKey::new(k), session);
        self.maybe_prepare_rebalance(now, &gid);
        self.try_complete_join(now, &gid);
    }

    fn update_member_and_rebalance(&mut self, now: Timestamp, id: RequestId, r: JoinGroupRequest) {
        let gid = r.group_id.clone();
        let g = self.groups.get_mut(&gid).expect("checked");
        if let Some(old) = g.set_awaiting_join(&r.member_id, Some(id)) {
            // A second join from the same member supersedes the first.
            if old != id {
                join_error(
                    &mut self.out,
                    old,
                    ErrorCode::UnknownMemberId,
                    r.member_id.clone(),
                );
            }
        }
        g.set_protocols(&r.member_id, r.protocols);
        let m = g.members.get_mut(&r.member_id).expect("checked");
        m.rebalance_timeout_ms = r.rebalance_timeout_ms;
        m.client_id = r.client_id;
        m.client_host = r.client_host;
        self.set_session_timeout(&gid, &r.member_id, r.session_timeout_ms);
        self.maybe_prepare_rebalance(now, &gid);
        self.try_complete_join(now, &gid);
    }

    fn replace_static_member(
        &mut self,
        now: Timestamp,
        id: RequestId,
        r: JoinGroupRequest,
        old: MemberId,
        new: MemberId,
    ) {
        let gid = r.group_id.clone();
        let g = self.groups.get_mut(&gid).expect("checked");
        let Some(mut m) = g.take_member(&old) else {
            // The mapping points at a member that is gone: treat as new.
            return self.add_member_and_rebalance(now, id, r, new);
        };
        // The old incarnation's parked requests are fenced.
        if let Some(j) = m.awaiting_join.take() {
            join_error(&mut self.out, j, ErrorCode::FencedInstanceId, old.clone());
        }
        if let Some(s) = m.awaiting_sync.take() {
            sync_error(&mut self.out, s, ErrorCode::FencedInstanceId);
        }
        let was_leader = g.leader.as_ref() == Some(&old);
        if was_leader {
            g.leader = Some(new.clone());
        }
        if g.pending_sync.remove(&old) {
            g.pending_sync.insert(new.clone());
        }
        let old_protocols = std::mem::replace(&mut m.protocols, r.protocols);
        let old_timeouts = (m.rebalance_timeout_ms, m.session_timeout_ms);
        m.id = new.clone();
        m.rebalance_timeout_ms = r.rebalance_timeout_ms;
        m.session_timeout_ms = r.session_timeout_ms;
        m.awaiting_join = Some(id);
        let instance = r.group_instance_id.clone().expect("static");
        g.statics.insert(instance, new.clone());
        g.insert_member(m);
        self.sessions.remove(&key(&gid, &old));
        self.open_session(now, &gid, &new, r.session_timeout_ms);
        self.heartbeat_member(now, &gid, &new);
        let g = self.groups.get_mut(&gid).expect("checked");
        match g.state {
            GroupState::Stable => {
                let next = g.select_protocol();
                let changed = match (&next, g.members.get(&new)) {
                    (Some(name), Some(m)) => {
                        subscription_changed(g, name, &old_protocols, &m.protocols)
                    }
                    _ => false,
                };
                if next.is_some() && next == g.protocol && !changed {
                    // No rebalance: persist the new member id, then answer.
                    let value = self.metadata_value(&gid, now);
                    let g = self.groups.get_mut(&gid).expect("checked");
                    g.set_awaiting_join(&new, None);
                    match self.store.store_group_metadata(&gid, value, now) {
                        Ok(()) => {
                            let mut resp = join_response(&self.groups[&gid], &new, ErrorCode::None);
                            resp.skip_assignment = was_leader;
                            self.out.push_back((id, Response::JoinGroup(resp)));
                        }
                        Err(_) => {
                            // Put the old incarnation back.
                            let g = self.groups.get_mut(&gid).expect("checked");
                            let mut m = g.take_member(&new).expect("inserted");
                            m.id = old.clone();
                            m.protocols = old_protocols;
                            (m.rebalance_timeout_ms, m.session_timeout_ms) = old_timeouts;
                            g.insert_member(m);
                            self.sessions.remove(&key(&gid, &new));
                            self.open_session(now, &gid, &old, old_timeouts.1);
                            let g = self.groups.get_mut(&gid).expect("checked");
                            if let Some(i) = &r.group_instance_id {
                                g.statics.insert(i.clone(), old.clone());
                            }
                            if was_leader {
                                g.leader = Some(old.clone());
                            }
                            if g.pending_sync.remove(&new) {
                                g.pending_sync.insert(old.clone());
                            }
                            self.heartbeat_member(now, &gid, &old);
                            join_error(&mut self.out, id, ErrorCode::UnknownServerError, unknown());
                        }
                    }
                } else {
                    self.maybe_prepare_rebalance(now, &gid);
                }
            }
            GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, &gid);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, &gid),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    // ---- Rebalance phases ------------------------------------------------------------------

    fn maybe_prepare_rebalance(&mut self, now: Timestamp, gid: &GroupId) {
        let state = self.groups[gid].state;
        if matches!(
            state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now, gid);
        }
    }

    fn prepare_rebalance(&mut self, now: Timestamp, gid: &GroupId) {
        if self.groups[gid].state == GroupState::CompletingRebalance {
            // Everyone waiting for an assignment must rejoin.
            self.reset_and_propagate_error(now, gid, ErrorCode::RebalanceInProgress);
        }
        let g = self.groups.get_mut(gid).expect("known group");
        g.pending_sync.clear();
        g.sync_deadline = None;
        let rebalance_ms = g.rebalance_timeout_ms();
        let delay = self.config.initial_rebalance_delay_ms.min(rebalance_ms);
        let deadline = if g.state == GroupState::Empty && delay > 0 {
            // Kafka's InitialDelayedJoin: the first rebalance waits for more members.
            g.initial_delay = true;
            g.new_member_added = false;
            g.delay_remaining_ms = rebalance_ms - delay;
            now.plus_millis(delay)
        } else {
            g.initial_delay = false;
            now.plus_millis(rebalance_ms)
        };
        g.transition(GroupState::PreparingRebalance, now);
        g.join_deadline = Some(deadline);
        self.arm(deadline, TimerKind::Join(gid.clone()));
        // Kafka's tryCompleteElseWatch: everyone may already be waiting.
        self.try_complete_join(now, gid);
    }

    fn try_complete_join(&mut self, now: Timestamp, gid: &GroupId) {
        let g = &self.groups[gid];
        if g.state == GroupState::PreparingRebalance && !g.initial_delay && g.all_joined() {
            self.complete_join(now, gid);
        }
    }

    fn on_join_timer(&mut self, now: Timestamp, gid: &GroupId, at: Timestamp) {
        let Some(g) = self.groups.get_mut(gid) else {
            return;
        };
        if g.state != GroupState::PreparingRebalance || g.join_deadline != Some(at) {
            return;
        }
        if g.initial_delay && g.new_member_added && g.delay_remaining_ms > 0 {
            // Kafka's InitialDelayedJoin: more members arrived, wait a little longer.
            let step = self
                .config
                .initial_rebalance_delay_ms
                .min(g.delay_remaining_ms);
            g.delay_remaining_ms -= step;
            g.new_member_added = false;
            let deadline = now.plus_millis(step);
            g.join_deadline = Some(deadline);
            self.arm(deadline, TimerKind::Join(gid.clone()));
            return;
        }
        // The delay (or the rebalance timeout) is over: complete with whoever has joined.
        self.complete_join(now, gid);
    }

    fn complete_join(&mut self, now: Timestamp, gid: &GroupId) {
        let g = self.groups.get_mut(gid).expect("known group");
        g.join_deadline = None;
        g.initial_delay = false;
        // Dynamic members that did not rejoin are gone; static ones stay.
        let gone: Vec<MemberId> = g
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for m in gone {
            self.remove_member_quietly(gid, &m);
        }
        let g = self.groups.get_mut(gid).expect("known group");
        if g.awaiting() == 0 && !g.members.is_empty() {
            // Nobody rejoined, but static members remain (Kafka's completeClassicGroupJoin when
            // maybeElectNewJoinedLeader fails): no generation without a member, so wait another
            // rebalance timeout; their sessions lapse meanwhile unless they heartbeat.
            let deadline = now.plus_millis(g.rebalance_timeout_ms().max(1));
            g.join_deadline = Some(deadline);
            self.arm(deadline, TimerKind::Join(gid.clone()));
            return;
        }
        // Keep the leader if it rejoined, else the earliest-joined member that did.
        if g.leader
            .as_ref()
            .is_none_or(|l| g.members.get(l).is_none_or(|m| m.awaiting_join.is_none()))
        {
            g.leader = g
                .ordered()
                .into_iter()
                .find(|m| m.awaiting_join.is_some())
                .or_else(|| g.ordered().into_iter().next())
                .map(|m| m.id.clone());
        }
        g.generation = g.generation.wrapping_add(1);
        if g.members.is_empty() {
            g.protocol = None;
            g.leader = None;
            g.transition(GroupState::Empty, now);
            let value = self.metadata_value(gid, now);
            // Kafka logs a failure here and carries on: the group is empty either way.
            let _ = self.store.store_group_metadata(gid, value, now);
            return;
        }
        g.protocol = g.select_protocol();
        g.transition(GroupState::CompletingRebalance, now);
        let sync_deadline = now.plus_millis(g.rebalance_timeout_ms());
        g.sync_deadline = Some(sync_deadline);
        g.pending_sync = g.members.keys().cloned().collect();
        let generation = g.generation;
        // Answer every parked join, in order of first join; each member's session then
        // restarts.
        let waiting = g.take_parked_joins();
        let GroupCoordinator {
            groups,
            sessions,
            timers,
            timer_seq,
            out,
            ..
        } = self;
        let g = &groups[gid];
        out.reserve(waiting.len());
        for (req, member) in &waiting {
            let resp = join_response(g, member, ErrorCode::None);
            out.push_back((*req, Response::JoinGroup(resp)));
        }
        for (_, member) in &waiting {
            let k = key(gid, member);
            if let Some(s) = sessions.get_mut(&k) {
                let d = s.renewed(now);
                set_deadline(timers, timer_seq, k, s, d);
            }
        }
        self.arm(sync_deadline, TimerKind::Sync(gid.clone(), generation));
    }

    fn on_sync_timer(&mut self, now: Timestamp, gid: &GroupId, generation: i32, at: Timestamp) {
        let Some(g) = self.groups.get(gid) else {
            return;
        };
        if g.generation != generation
            || g.sync_deadline != Some(at)
            || !matches!(
                g.state,
                GroupState::CompletingRebalance | GroupState::Stable
            )
        {
            return;
        }
        let mut late: Vec<MemberId> = g.pending_sync.iter().cloned().collect();
        late.sort_unstable();
        if late.is_empty() {
            return;
        }
        for m in late {
            self.remove_member_quietly(gid, &m);
        }
        self.after_removal(now, gid);
    }

    // ---- SyncGroup ---------------------------------------------------------------------------

    fn sync(&mut self, now: Timestamp, id: RequestId, r: SyncGroupRequest) {
        if r.group_id.is_empty() {
            return sync_error(&mut self.out, id, ErrorCode::InvalidGroupId);
        }
        if let Err(e) = self.serves(&r.group_id) {
            return sync_error(&mut self.out, id, e);
        }
        let Some(g) = self.groups.get_mut(&r.group_id) else {
            return sync_error(&mut self.out, id, ErrorCode::UnknownMemberId);
        };
        let error = if g.state == GroupState::Dead {
            Some(ErrorCode::CoordinatorNotAvailable)
        } else if g.static_fenced(r.group_instance_id.as_ref(), &r.member_id) {
            Some(ErrorCode::FencedInstanceId)
        } else if !g.members.contains_key(&r.member_id) {
            Some(ErrorCode::UnknownMemberId)
        } else if r.generation.0 != g.generation {
            Some(ErrorCode::IllegalGeneration)
        } else if r
            .protocol_type
            .as_ref()
            .is_some_and(|t| g.protocol_type.as_ref() != Some(t))
            || r.protocol_name
                .as_ref()
                .is_some_and(|p| g.protocol.as_ref() != Some(p))
        {
            Some(ErrorCode::InconsistentGroupProtocol)
        } else {
            None
        };
        if let Some(e) = error {
            return sync_error(&mut self.out, id, e);
        }
        g.pending_sync.remove(&r.member_id);
        match g.state {
            GroupState::Empty => sync_error(&mut self.out, id, ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => {
                sync_error(&mut self.out, id, ErrorCode::RebalanceInProgress);
            }
            GroupState::CompletingRebalance => {
                let is_leader = g.leader.as_ref() == Some(&r.member_id);
                let m = g.members.get_mut(&r.member_id).expect("checked");
                if let Some(old) = m.awaiting_sync.replace(id) {
                    sync_error(&mut self.out, old, ErrorCode::UnknownMemberId);
                }
                self.heartbeat_member(now, &r.group_id, &r.member_id);
                if is_leader {
                    self.complete_sync(now, &r.group_id, r.assignments);
                }
            }
            GroupState::Stable => {
                let resp = SyncGroupResponse {
                    error: ErrorCode::None,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol.clone(),
                    assignment: g.members[&r.member_id].assignment.clone(),
                };
                self.out.push_back((id, Response::SyncGroup(resp)));
                self.heartbeat_member(now, &r.group_id, &r.member_id);
            }
            GroupState::Dead => unreachable!("checked above"),
        }
    }

    /// The leader's assignment arrived: persist it, then answer every parked SyncGroup.
    fn complete_sync(
        &mut self,
        now: Timestamp,
        gid: &GroupId,
        assignments: Vec<(MemberId, Vec<u8>)>,
    ) {
        let g = self.groups.get_mut(gid).expect("known group");
        // Members missing from the assignment get an empty one; a member named twice gets
        // the last, and names of non-members are ignored.
        for m in g.members.values_mut() {
            m.assignment = Vec::new();
        }
        for (id, a) in assignments {
            if let Some(m) = g.members.get_mut(&id) {
                m.assignment = a;
            }
        }
        let value = self.metadata_value(gid, now);
        let stored = self.store.store_group_metadata(gid, value, now);
        match stored {
            Ok(()) => {
                self.propagate_assignment(now, gid, ErrorCode::None);
                let g = self.groups.get_mut(gid).expect("known group");
                g.transition(GroupState::Stable, now);
            }
            Err(_) => {
                self.reset_and_propagate_error(now, gid, ErrorCode::CoordinatorNotAvailable);
                self.maybe_prepare_rebalance(now, gid);
            }
        }
    }

    /// Kafka's `resetAndPropagateAssignmentWithError`: clears every member's assignment, then
    /// answers the parked SyncGroups with `error`.
    fn reset_and_propagate_error(&mut self, now: Timestamp, gid: &GroupId, error: ErrorCode) {
        let g = self.groups.get_mut(gid).expect("known group");
        for m in g.members.values_mut() {
            m.assignment.clear();
        }
        self.propagate_assignment(now, gid, error);
    }

    /// Kafka's `propagateAssignment`: answers every parked SyncGroup of `gid`, in order of first
    /// join, with the member's assignment (or with `error` alone), and restarts the session of
    /// each member answered: its deadline may have passed while it waited, and it must not be
    /// removed before it could heartbeat again.
    fn propagate_assignment(&mut self, now: Timestamp, gid: &GroupId, error: ErrorCode) {
        let GroupCoordinator {
            groups,
            sessions,
            timers,
            timer_seq,
            out,
            ..
        } = self;
        let g = groups.get_mut(gid).expect("known group");
        let mut parked: Vec<(u64, RequestId, &MemberId, &[u8])> = g
            .members
            .values_mut()
            .filter_map(|m| {
                let r = m.awaiting_sync.take()?;
                Some((m.seq, r, &m.id, m.assignment.as_slice()))
            })
            .collect();
        parked.sort_unstable_by_key(|p| p.0);
        out.reserve(parked.len());
        for (_, req, member, assignment) in parked {
            let resp = if error == ErrorCode::None {
                SyncGroupResponse {
                    error,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol.clone(),
                    assignment: assignment.to_vec(),
                }
            } else {
                SyncGroupResponse::error(error)
            };
            out.push_back((req, Response::SyncGroup(resp)));
            let k = key(gid, member);
            if let Some(s) = sessions.get_mut(&k) {
                let d = s.renewed(now);
                set_deadline(timers, timer_seq, k, s, d);
            }
        }
    }

    fn metadata_value(&self, gid: &GroupId, now: Timestamp) -> GroupMetadataValue {
        let g = &self.groups[gid];
        let protocol = g.protocol.clone().unwrap_or_default();
        GroupMetadataValue {
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation: g.generation,
            protocol: g.protocol.clone(),
            leader: g.leader.as_ref().map(|l| l.as_str().to_owned()),
            current_state_timestamp: Some(i64::try_from(now.0).unwrap_or(i64::MAX)),
            members: g
                .ordered()
                .into_iter()
                .map(|m| MemberMetadata {
                    // `as_str().to_owned()`: a straight copy, not `Display` formatting.
                    member_id: m.id.as_str().to_owned(),
                    group_instance_id: m.instance_id.as_ref().map(|i| i.as_str().to_owned()),
                    client_id: m.client_id.as_str().to_owned(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    // ---- Heartbeat and LeaveGroup ---------------------------------------------------------

    /// Kafka's heartbeat rules, in one pass over the group and member (the hot path: a
    /// stable member heartbeats every few seconds).
    fn heartbeat(&mut self, now: Timestamp, r: &HeartbeatRequest) -> ErrorCode {
        if r.group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        let GroupCoordinator {
            groups,
            sessions,
            timers,
            timer_seq,
            partitions,
            store,
            ..
        } = self;
        let group = groups.get(&r.group_id);
        let partition = match &group {
            Some(g) => g.partition,
            None => store.partition_of(&r.group_id),
        };
        match partitions.get(&partition) {
            Some(Ownership::Owned) => {}
            // Kafka lets heartbeats through while the partition loads.
            Some(Ownership::Loading) => return ErrorCode::None,
            None => return ErrorCode::NotCoordinator,
        }
        let Some(g) = group else {
            return ErrorCode::UnknownMemberId;
        };
        if g.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if g.static_fenced(r.group_instance_id.as_ref(), &r.member_id) {
            return ErrorCode::FencedInstanceId;
        }
        // The member's session stands for the member: one entry exists exactly per member.
        let k = key(&r.group_id, &r.member_id);
        let Some(s) = sessions.get_mut(&k) else {
            return ErrorCode::UnknownMemberId;
        };
        if r.generation.0 != g.generation {
            return ErrorCode::IllegalGeneration;
        }
        let answer = match g.state {
            GroupState::Empty | GroupState::Dead => return ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
        };
        let deadline = s.renewed(now);
        set_deadline(timers, timer_seq, k, s, deadline);
        answer
    }

    fn leave(&mut self, now: Timestamp, r: LeaveGroupRequest) -> LeaveGroupResponse {
        let top = if r.group_id.is_empty() {
            Some(ErrorCode::InvalidGroupId)
        } else {
            self.serves(&r.group_id).err()
        };
        if let Some(error) = top {
            return LeaveGroupResponse {
                error,
                members: Vec::new(),
            };
        }
        let Some(g) = self.groups.get(&r.group_id) else {
            return LeaveGroupResponse {
                error: ErrorCode::None,
                members: r
                    .members
                    .into_iter()
                    .map(|m| (m, ErrorCode::UnknownMemberId))
                    .collect(),
            };
        };
        if g.state == GroupState::Dead {
            return LeaveGroupResponse {
                error: ErrorCode::CoordinatorNotAvailable,
                members: Vec::new(),
            };
        }
        let gid = r.group_id.clone();
        let mut results = Vec::with_capacity(r.members.len());
        let mut removed_any = false;
        for leaving in r.members {
            let g = self.groups.get_mut(&gid).expect("known group");
            let target: Result<MemberId, ErrorCode> = match &leaving.group_instance_id {
                Some(i) => match g.statics.get(i) {
                    None => Err(ErrorCode::UnknownMemberId),
                    Some(current)
                        if !leaving.member_id.is_empty() && *current != leaving.member_id =>
                    {
                        Err(ErrorCode::FencedInstanceId)
                    }
                    Some(current) => Ok(current.clone()),
                },
                None => {
                    if g.pending.remove(&leaving.member_id).is_some() {
                        results.push((leaving, ErrorCode::None));
                        removed_any = true;
                        continue;
                    }
                    if g.members.contains_key(&leaving.member_id) {
                        Ok(leaving.member_id.clone())
                    } else {
                        Err(ErrorCode::UnknownMemberId)
                    }
                }
            };
            match target {
                Ok(member) => {
                    self.remove_member_quietly(&gid, &member);
                    removed_any = true;
                    results.push((leaving, ErrorCode::None));
                }
                Err(e) => results.push((leaving, e)),
            }
        }
        if removed_any {
            self.after_removal(now, &gid);
        }
        LeaveGroupResponse {
            error: ErrorCode::None,
            members: results,
        }
    }

    /// Removes a member, answering its parked requests with UNKNOWN_MEMBER_ID; the caller
    /// then calls [`after_removal`](Self::after_removal).
    fn remove_member_quietly(&mut self, gid: &GroupId, member: &MemberId) {
        let Some(g) = self.groups.get_mut(gid) else {
            return;
        };
        let Some(m) = g.take_member(member) else {
            return;
        };
        self.sessions.remove(&key(gid, member));
        if let Some(j) = m.awaiting_join {
            join_error(&mut self.out, j, ErrorCode::UnknownMemberId, member.clone());
        }
        if let Some(s) = m.awaiting_sync {
            sync_error(&mut self.out, s, ErrorCode::UnknownMemberId);
        }
        if let Some(i) = &m.instance_id {
            if g.statics.get(i) == Some(member) {
                g.statics.remove(i);
            }
        }
        g.pending_sync.remove(member);
        if g.leader.as_ref() == Some(member) {
            g.leader = g.ordered().into_iter().next().map(|m| m.id.clone());
        }
    }

    /// What a member's departure does to its group (Kafka's `removeMemberAndUpdateGroup`).
    fn after_removal(&mut self, now: Timestamp, gid: &GroupId) {
        match self.groups.get(gid).map(|g| g.state) {
            Some(GroupState::Stable | GroupState::CompletingRebalance) => {
                self.maybe_prepare_rebalance(now, gid);
            }
            Some(GroupState::PreparingRebalance) => self.try_complete_join(now, gid),
            _ => {}
        }
    }

    // ---- Timers ------------------------------------------------------------------------------

    /// Fires every timer due at `now`: expired sessions, pending members that never rejoined,
    /// rebalance and sync deadlines.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.arm_maintenance(now);
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, _, kind))) = self.timers.pop() else {
                break;
            };
            match kind {
                TimerKind::Member(gid, mid) => self.on_member_timer(now, &gid, &mid, at),
                TimerKind::Pending(gid, mid) => {
                    let Some(g) = self.groups.get_mut(&gid) else {
                        continue;
                    };
                    if g.pending.get(&mid) == Some(&at) {
                        g.pending.remove(&mid);
                        self.try_complete_join(now, &gid);
                    }
                }
                TimerKind::Join(gid) => self.on_join_timer(now, &gid, at),
                TimerKind::Sync(gid, generation) => self.on_sync_timer(now, &gid, generation, at),
                TimerKind::Expiry => self.on_expiry_timer(now),
                TimerKind::Clean => self.on_clean_timer(now),
            }
        }
    }

    fn on_member_timer(&mut self, now: Timestamp, gid: &GroupId, mid: &MemberId, at: Timestamp) {
        let k = key(gid, mid);
        let Some(s) = self.sessions.get_mut(&k) else {
            return;
        };
        if s.timer_at != Some(at) {
            return; // superseded
        }
        s.timer_at = None;
        let Some(m) = self.groups.get(gid).and_then(|g| g.members.get(mid)) else {
            return;
        };
        let parked = m.awaiting_join.is_some() || m.awaiting_sync.is_some();
        if s.deadline > now {
            let d = s.deadline;
            set_deadline(&mut self.timers, &mut self.timer_seq, k, s, d);
        } else if parked && !m.is_new {
            // Members waiting on a rebalance count as alive (Kafka's hasSatisfiedHeartbeat).
            let d = s.renewed(now);
            set_deadline(&mut self.timers, &mut self.timer_seq, k, s, d);
        } else {
            self.remove_member_quietly(gid, mid);
            self.after_removal(now, gid);
        }
    }

    // ---- Offsets -----------------------------------------------------------------------------

    fn commit(&mut self, now: Timestamp, r: OffsetCommitRequest) -> OffsetCommitResponse {
        let options = CommitOptions {
            retention_ms: r.retention_ms,
            producer: None,
        };
        self.commit_offsets(
            now,
            &CommitFrom {
                group_id: &r.group_id,
                generation: r.generation,
                member_id: &r.member_id,
                group_instance_id: r.group_instance_id.as_ref(),
                transactional: false,
            },
            &r.offsets,
            options,
        )
    }

    /// TxnOffsetCommit (Kafka's `handleTxnCommitOffsets`): validated as an OffsetCommit is,
    /// minus what only applies to members committing for themselves (see
    /// [`offset_commit_refusal`]); stored pending under the producer.
    fn txn_commit(&mut self, now: Timestamp, r: TxnOffsetCommitRequest) -> OffsetCommitResponse {
        let options = CommitOptions {
            producer: Some(Producer {
                id: r.producer_id,
                epoch: r.producer_epoch,
            }),
            ..CommitOptions::default()
        };
        self.commit_offsets(
            now,
            &CommitFrom {
                group_id: &r.group_id,
                generation: r.generation,
                member_id: &r.member_id,
                group_instance_id: r.group_instance_id.as_ref(),
                transactional: true,
            },
            &r.offsets,
            options,
        )
    }

    /// OffsetCommit and TxnOffsetCommit: checks that this coordinator serves the group and
    /// that the group takes the commit, then stores the offsets (answering only once they are
    /// stored).
    fn commit_offsets(
        &mut self,
        now: Timestamp,
        c: &CommitFrom<'_>,
        offsets: &[OffsetCommit],
        options: CommitOptions,
    ) -> OffsetCommitResponse {
        let all = |e: ErrorCode| OffsetCommitResponse {
            partitions: offsets.iter().map(|o| (o.partition.clone(), e)).collect(),
        };
        if c.group_id.is_empty() {
            return all(ErrorCode::InvalidGroupId);
        }
        if let Err(e) = self.serves(c.group_id) {
            return all(e);
        }
        match self.groups.get(c.group_id) {
            // An OffsetCommit from a generation of a group this coordinator does not know.
            None if !c.transactional && c.generation.0 >= 0 => {
                return all(ErrorCode::IllegalGeneration);
            }
            None => {
                // Kafka creates the group Empty and validates the commit against it; here the
                // group is created only if the commit passes (a group that only stores offsets).
                let g = Group::new(c.group_id.clone(), self.store.partition_of(c.group_id), now);
                if let Some(e) = offset_commit_refusal(&g, c) {
                    return all(e);
                }
                self.groups.insert(c.group_id.clone(), g);
            }
            Some(g) => {
                if let Some(e) = offset_commit_refusal(g, c) {
                    return all(e);
                }
                // Kafka's doCommitOffsets checks the state; doTxnCommitOffsets does not, and a
                // TxnOffsetCommit does not count as a sign of life either.
                if !c.transactional {
                    if g.state == GroupState::CompletingRebalance {
                        return all(ErrorCode::RebalanceInProgress);
                    }
                    if g.members.contains_key(c.member_id) {
                        self.heartbeat_member(now, c.group_id, c.member_id);
                    }
                }
            }
        }
        match self.store.commit_with(c.group_id, offsets, options, now) {
            Ok(codes) => OffsetCommitResponse {
                partitions: offsets
                    .iter()
                    .zip(codes)
                    .map(|(o, e)| (o.partition.clone(), e))
                    .collect(),
            },
            Err(_) => all(ErrorCode::CoordinatorNotAvailable),
        }
    }

    fn fetch(&self, r: &OffsetFetchRequest) -> OffsetFetchResponse {
        let fail = |error| OffsetFetchResponse {
            error,
            partitions: Vec::new(),
        };
        if r.group_id.is_empty() {
            return fail(ErrorCode::InvalidGroupId);
        }
        if let Err(e) = self.serves(&r.group_id) {
            return fail(e);
        }
        let partitions = match &r.partitions {
            Some(ps) => ps
                .iter()
                .cloned()
                .zip(self.store.fetch(&r.group_id, ps, r.require_stable))
                .collect(),
            None => self
                .store
                .fetch_all(&r.group_id, r.require_stable)
                .into_iter()
                .map(|(tp, res)| (tp, res.map(Some)))
                .collect(),
        };
        OffsetFetchResponse {
            error: ErrorCode::None,
            partitions,
        }
    }

    fn describe(&self, gid: &GroupId) -> DescribedGroup {
        let empty = |error, state: &str| DescribedGroup {
            error,
            group_id: gid.clone(),
            state: state.to_string(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        };
        if gid.is_empty() {
            return empty(ErrorCode::InvalidGroupId, "Dead");
        }
        if let Err(e) = self.serves(gid) {
            return empty(e, "Dead");
        }
        let Some(g) = self.groups.get(gid) else {
            return empty(ErrorCode::None, "Dead");
        };
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        DescribedGroup {
            error: ErrorCode::None,
            group_id: gid.clone(),
            state: g.state.name().to_string(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .ordered()
                .into_iter()
                .map(|m| DescribedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(&protocol)
                    } else {
                        Vec::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }

    fn delete_group(&mut self, now: Timestamp, gid: &GroupId) -> ErrorCode {
        if gid.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        if let Err(e) = self.serves(gid) {
            return e;
        }
        match self.groups.get(gid).map(|g| g.state) {
            None => {
                // A group known only to the store (offsets of a standalone consumer).
                match self.store.delete_group(gid, now) {
                    Ok(true) => ErrorCode::None,
                    Ok(false) => ErrorCode::GroupIdNotFound,
                    Err(_) => ErrorCode::CoordinatorNotAvailable,
                }
            }
            Some(GroupState::Dead) => ErrorCode::GroupIdNotFound,
            Some(GroupState::Empty) => match self.store.delete_group(gid, now) {
                Ok(_) => {
                    self.groups.remove(gid);
                    ErrorCode::None
                }
                Err(_) => ErrorCode::CoordinatorNotAvailable,
            },
            Some(_) => ErrorCode::NonEmptyGroup,
        }
    }

    fn offset_delete(
        &mut self,
        now: Timestamp,
        gid: &GroupId,
        partitions: Vec<TopicPartition>,
    ) -> (ErrorCode, Vec<(TopicPartition, ErrorCode)>) {
        if gid.is_empty() {
            return (ErrorCode::InvalidGroupId, Vec::new());
        }
        if let Err(e) = self.serves(gid) {
            return (e, Vec::new());
        }
        let subscribed: HashSet<String> = match self.groups.get(gid) {
            Some(g) if g.state == GroupState::Dead => {
                return (ErrorCode::GroupIdNotFound, Vec::new());
            }
            Some(g) if g.state != GroupState::Empty => {
                if g.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
                    return (ErrorCode::NonEmptyGroup, Vec::new());
                }
                let protocol = g.protocol.clone().unwrap_or_default();
                g.members
                    .values()
                    .filter_map(|m| Subscription::decode(&m.metadata(&protocol)).ok())
                    .flat_map(|(_, s)| s.topics)
                    .collect()
            }
            Some(_) => HashSet::new(),
            None => {
                if self.store.fetch_all(gid, false).is_empty() {
                    return (ErrorCode::GroupIdNotFound, Vec::new());
                }
                HashSet::new()
            }
        };
        let (blocked, free): (Vec<TopicPartition>, Vec<TopicPartition>) = partitions
            .into_iter()
            .partition(|tp| subscribed.contains(tp.topic.as_str()));
        if let Err(_e) = self.store.delete_offsets(gid, &free, now) {
            return (ErrorCode::CoordinatorNotAvailable, Vec::new());
        }
        let mut out: Vec<(TopicPartition, ErrorCode)> =
            free.into_iter().map(|tp| (tp, ErrorCode::None)).collect();
        out.extend(
            blocked
                .into_iter()
                .map(|tp| (tp, ErrorCode::GroupSubscribedToTopic)),
        );
        (ErrorCode::None, out)
    }

    // ---- Partition ownership -----------------------------------------------------------------

    /// Marks `partition` as loading: its groups' requests get COORDINATOR_LOAD_IN_PROGRESS
    /// (heartbeats get NONE, as in Kafka) until [`load_partition`](Self::load_partition).
    pub fn begin_loading(&mut self, partition: u32) {
        self.partitions.insert(partition, Ownership::Loading);
    }

    /// Takes ownership of `partition` and rebuilds its groups from the store's metadata (the
    /// store must already hold the partition's state, e.g. after
    /// [`LogOffsetStore::load`](crate::offsets::LogOffsetStore::load)). Members of a group
    /// that was Stable resume with their assignments; their sessions run from `now`.
    pub fn load_partition(&mut self, now: Timestamp, partition: u32) {
        self.arm_maintenance(now);
        self.partitions.insert(partition, Ownership::Owned);
        // A coordinator taking over continues from a generator state of its own, not the one
        // its predecessor had when it started with the same seed.
        self.mix_into_generator(&now.0.to_le_bytes());
        self.mix_into_generator(&partition.to_le_bytes());
        for gid in self.store.list_groups() {
            if self.store.partition_of(&gid) != partition {
                continue;
            }
            let Some(meta) = self.store.group_metadata(&gid) else {
                continue;
            };
            let mut g = Group::new(gid.clone(), partition, now);
            g.generation = meta.generation;
            g.protocol_type = (!meta.protocol_type.is_empty()).then(|| meta.protocol_type.clone());
            g.protocol = meta.protocol.clone();
            g.leader = meta.leader.as_deref().map(MemberId::from);
            for (seq, mm) in meta.members.iter().enumerate() {
                self.mix_into_generator(mm.member_id.as_bytes());
                let id = MemberId::from(mm.member_id.as_str());
                let instance = mm.group_instance_id.as_deref().map(GroupInstanceId::from);
                if let Some(i) = &instance {
                    g.statics.insert(i.clone(), id.clone());
                }
                let protocols = g
                    .protocol
                    .iter()
                    .map(|p| {
                        crate::protocol::group::JoinProtocol::new(
                            p.clone(),
                            mm.subscription.clone(),
                        )
                    })
                    .collect();
                g.insert_member(Member {
                    id,
                    instance_id: instance,
                    client_id: mm.client_id.as_str().into(),
                    client_host: mm.client_host.clone(),
                    session_timeout_ms: mm.session_timeout_ms,
                    rebalance_timeout_ms: mm.rebalance_timeout_ms,
                    protocols,
                    assignment: mm.assignment.clone(),
                    awaiting_join: None,
                    awaiting_sync: None,
                    is_new: false,
                    seq: seq as u64,
                });
            }
            g.next_seq = meta.members.len() as u64;
            g.state = if g.members.is_empty() {
                GroupState::Empty
            } else {
                GroupState::Stable
            };
            let members: Vec<(MemberId, i32)> = g
                .members
                .values()
                .map(|m| (m.id.clone(), m.session_timeout_ms))
                .collect();
            if let Some(old) = self.groups.insert(gid.clone(), g) {
                // Loading again over a group held already: the old members' sessions go.
                for m in old.members.keys() {
                    self.sessions.remove(&key(&gid, m));
                }
            }
            let over_capacity = members.len() > self.config.max_group_size;
            for (m, timeout_ms) in members {
                self.open_session(now, &gid, &m, timeout_ms);
                self.heartbeat_member(now, &gid, &m);
            }
            if over_capacity {
                // Kafka's onLoaded: `group.max.size` may have shrunk since the group was
                // written; a rebalance lets the members commit, and only that many rejoin.
                self.prepare_rebalance(now, &gid);
            }
        }
    }

    /// Gives up `partition`: its groups go Dead and are dropped, and their parked requests
    /// are answered NOT_COORDINATOR.
    pub fn unload_partition(&mut self, partition: u32) {
        self.partitions.remove(&partition);
        let mut gone: Vec<GroupId> = self
            .groups
            .keys()
            .filter(|g| self.store.partition_of(g) == partition)
            .cloned()
            .collect();
        gone.sort_unstable();
        for gid in gone {
            let Some(g) = self.groups.remove(&gid) else {
                continue;
            };
            for m in g.members.keys() {
                self.sessions.remove(&key(&gid, m));
            }
            for m in g.ordered() {
                if let Some(j) = m.awaiting_join {
                    join_error(&mut self.out, j, ErrorCode::NotCoordinator, m.id.clone());
                }
                if let Some(s) = m.awaiting_sync {
                    sync_error(&mut self.out, s, ErrorCode::NotCoordinator);
                }
            }
        }
    }
}
