//! The classic group protocol's requests and responses, as plain data with the fields of
//! Kafka's messages. Errors travel as [`ErrorCode`]s inside responses, as on the wire.
//!
//! A member id of `""` is Kafka's `UNKNOWN_MEMBER_ID`: the member has none yet.

use crate::error::ErrorCode;
use crate::offsets::{CommittedOffset, OffsetCommit};
use crate::types::{ClientId, Generation, GroupId, GroupInstanceId, MemberId, TopicPartition};

/// One protocol a joining member supports: its name (an assignor, for consumers) and the
/// metadata it sends with it (a consumer's [`Subscription`](super::consumer::Subscription)
/// bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinProtocol {
    /// The protocol's name.
    pub name: String,
    /// The member's metadata for it.
    pub metadata: Vec<u8>,
}

impl JoinProtocol {
    /// A protocol.
    pub fn new(name: impl Into<String>, metadata: impl Into<Vec<u8>>) -> Self {
        JoinProtocol {
            name: name.into(),
            metadata: metadata.into(),
        }
    }
}

/// JoinGroup: a member asks to (re)join a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupRequest {
    /// The group.
    pub group_id: GroupId,
    /// How long the coordinator waits for a heartbeat before removing the member.
    pub session_timeout_ms: i32,
    /// How long the coordinator waits for the member to rejoin during a rebalance.
    pub rebalance_timeout_ms: i32,
    /// The member's id, `""` if it has none yet.
    pub member_id: MemberId,
    /// The static member's instance id (KIP-345).
    pub group_instance_id: Option<GroupInstanceId>,
    /// The protocol type (`"consumer"` for consumers).
    pub protocol_type: String,
    /// The protocols the member supports, in order of preference.
    pub protocols: Vec<JoinProtocol>,
    /// Why the member is joining, for the log (KIP-800).
    pub reason: Option<String>,
    /// The client's id (prefixes the member ids the coordinator generates).
    pub client_id: ClientId,
    /// The client's host.
    pub client_host: String,
    /// Whether the client understands MEMBER_ID_REQUIRED (JoinGroup version 4 and later).
    pub require_known_member_id: bool,
}

impl JoinGroupRequest {
    /// A consumer's first join: no member id, `"consumer"` protocol type, 45 s session and
    /// 5 min rebalance timeouts (Kafka's consumer defaults), version 4+ behaviour.
    pub fn new(group_id: impl Into<GroupId>, protocols: Vec<JoinProtocol>) -> Self {
        JoinGroupRequest {
            group_id: group_id.into(),
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            member_id: MemberId::from(""),
            group_instance_id: None,
            protocol_type: "consumer".into(),
            protocols,
            reason: None,
            client_id: ClientId::from("consumer"),
            client_host: String::new(),
            require_known_member_id: true,
        }
    }
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupMember {
    /// The member's id.
    pub member_id: MemberId,
    /// Its instance id, if static.
    pub group_instance_id: Option<GroupInstanceId>,
    /// Its metadata for the chosen protocol.
    pub metadata: Vec<u8>,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponse {
    /// The error, [`ErrorCode::None`] on success.
    pub error: ErrorCode,
    /// The generation the member joined.
    pub generation: Generation,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The protocol chosen for this generation.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: MemberId,
    /// Whether the leader should skip running the assignor (a static leader replaced in a
    /// stable group, KIP-814).
    pub skip_assignment: bool,
    /// The member's id (newly generated for a new member).
    pub member_id: MemberId,
    /// Every member with its metadata, for the leader; empty for followers.
    pub members: Vec<JoinGroupMember>,
}

impl JoinGroupResponse {
    /// An error response.
    #[must_use]
    pub fn error(error: ErrorCode, member_id: MemberId) -> Self {
        JoinGroupResponse {
            error,
            generation: Generation::NONE,
            protocol_type: None,
            protocol_name: None,
            leader: MemberId::from(""),
            skip_assignment: false,
            member_id,
            members: Vec::new(),
        }
    }
}

/// SyncGroup: a member asks for its assignment; the leader brings everyone's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupRequest {
    /// The group.
    pub group_id: GroupId,
    /// The generation the member joined.
    pub generation: Generation,
    /// The member's id.
    pub member_id: MemberId,
    /// The static member's instance id.
    pub group_instance_id: Option<GroupInstanceId>,
    /// The protocol type, checked against the group's if given.
    pub protocol_type: Option<String>,
    /// The protocol name, checked against the generation's if given.
    pub protocol_name: Option<String>,
    /// The leader's assignment: bytes per member (a consumer's
    /// [`Assignment`](super::consumer::Assignment)); empty for followers.
    pub assignments: Vec<(MemberId, Vec<u8>)>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupResponse {
    /// The error, [`ErrorCode::None`] on success.
    pub error: ErrorCode,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The generation's protocol.
    pub protocol_name: Option<String>,
    /// The member's assignment bytes.
    pub assignment: Vec<u8>,
}

impl SyncGroupResponse {
    /// An error response.
    #[must_use]
    pub fn error(error: ErrorCode) -> Self {
        SyncGroupResponse {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Vec::new(),
        }
    }
}

/// Heartbeat: a member says it is alive in a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    /// The group.
    pub group_id: GroupId,
    /// The member's generation.
    pub generation: Generation,
    /// The member's id.
    pub member_id: MemberId,
    /// The static member's instance id.
    pub group_instance_id: Option<GroupInstanceId>,
}

/// One member leaving, in a [`LeaveGroupRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// The member's id (`""` to name a static member by instance id alone).
    pub member_id: MemberId,
    /// The static member's instance id.
    pub group_instance_id: Option<GroupInstanceId>,
    /// Why it leaves.
    pub reason: Option<String>,
}

/// LeaveGroup: members leave (a batch, KIP-345).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    /// The group.
    pub group_id: GroupId,
    /// The members leaving.
    pub members: Vec<LeavingMember>,
}

/// The answer to a LeaveGroup: a top-level error and one per member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupResponse {
    /// The request-level error.
    pub error: ErrorCode,
    /// Per member, in request order: its identity and error.
    pub members: Vec<(LeavingMember, ErrorCode)>,
}

/// OffsetCommit: a member (or a standalone consumer, with generation -1) commits offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    /// The group.
    pub group_id: GroupId,
    /// The member's generation, or [`Generation::NONE`] for a group that does not use the
    /// coordinator's membership.
    pub generation: Generation,
    /// The member's id, `""` for a standalone consumer.
    pub member_id: MemberId,
    /// The static member's instance id.
    pub group_instance_id: Option<GroupInstanceId>,
    /// A retention time for these offsets (OffsetCommit versions 2–4).
    pub retention_ms: Option<u64>,
    /// The offsets.
    pub offsets: Vec<OffsetCommit>,
}

/// The answer to an OffsetCommit: one code per offset, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    /// Per offset: its partition and error.
    pub partitions: Vec<(TopicPartition, ErrorCode)>,
}

/// TxnOffsetCommit: a transactional producer commits a consumer group's offsets inside its
/// transaction. The offsets stay pending, invisible to fetches, until the transaction's commit
/// marker makes them visible (its abort marker drops them). The answer is an
/// [`OffsetCommitResponse`], one code per offset in request order.
///
/// The group fields are the consumer's group metadata (KIP-447; see
/// [`ConsumerCoordinator::group_metadata`](crate::consumer::ConsumerCoordinator::group_metadata)),
/// which let the coordinator fence a producer whose consumer has left the group or missed a
/// rebalance. Clients from before KIP-447 send [`Generation::NONE`], `""` and no instance id,
/// and skip those checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest {
    /// The producer's transactional id.
    pub transactional_id: String,
    /// The producer id the transaction coordinator assigned.
    pub producer_id: i64,
    /// The producer epoch; a commit with an epoch older than one the group has seen pending for
    /// the same producer id is fenced (PRODUCER_FENCED).
    pub producer_epoch: i16,
    /// The consumer group whose offsets are committed.
    pub group_id: GroupId,
    /// The consumer's generation, or [`Generation::NONE`] (-1). With -1 and an Empty (or
    /// unknown) group, no member checks are made at all; otherwise a generation that is not
    /// the group's gets ILLEGAL_GENERATION.
    pub generation: Generation,
    /// The consumer's member id, `""` if it sends none. `""` with [`Generation::NONE`] and no
    /// instance id skips the member check; otherwise it must name a member of the group
    /// (UNKNOWN_MEMBER_ID).
    pub member_id: MemberId,
    /// The consumer's static instance id, if it is a static member: it must map to
    /// `member_id` (FENCED_INSTANCE_ID if it maps to another, UNKNOWN_MEMBER_ID if to none).
    pub group_instance_id: Option<GroupInstanceId>,
    /// The offsets.
    pub offsets: Vec<OffsetCommit>,
}

/// OffsetFetch: read a group's committed offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    /// The group.
    pub group_id: GroupId,
    /// The partitions, or `None` for all of the group's.
    pub partitions: Option<Vec<TopicPartition>>,
    /// Refuse partitions with pending transactional commits (UNSTABLE_OFFSET_COMMIT).
    pub require_stable: bool,
}

/// The answer to an OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    /// The request-level error.
    pub error: ErrorCode,
    /// Per partition: its committed offset (`None` if none) or error.
    pub partitions: Vec<(TopicPartition, Result<Option<CommittedOffset>, ErrorCode>)>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// The group.
    pub group_id: GroupId,
    /// Its protocol type (`""` for a group that only stores offsets).
    pub protocol_type: String,
    /// Its state's name (`"Stable"`, …).
    pub state: String,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    /// The member's id.
    pub member_id: MemberId,
    /// Its instance id, if static.
    pub group_instance_id: Option<GroupInstanceId>,
    /// Its client id.
    pub client_id: ClientId,
    /// Its host.
    pub client_host: String,
    /// Its metadata for the chosen protocol (empty unless the group is Stable).
    pub metadata: Vec<u8>,
    /// Its assignment bytes (empty unless the group is Stable).
    pub assignment: Vec<u8>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// The error for this group.
    pub error: ErrorCode,
    /// The group.
    pub group_id: GroupId,
    /// Its state's name (`"Dead"` for a group that does not exist).
    pub state: String,
    /// Its protocol type.
    pub protocol_type: String,
    /// The generation's protocol (empty unless the group is Stable).
    pub protocol: String,
    /// Its members.
    pub members: Vec<DescribedMember>,
}

/// FindCoordinator: which coordinator serves a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorResponse {
    /// [`ErrorCode::None`] if this coordinator serves the group, else
    /// [`ErrorCode::NotCoordinator`] (or [`ErrorCode::CoordinatorLoadInProgress`]).
    pub error: ErrorCode,
    /// The offsets-log partition that holds the group.
    pub partition: u32,
}
