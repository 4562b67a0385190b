//! Plain-data messages between member and coordinator; the consumer-protocol byte format.
//!
//! * [`group`]: the classic group protocol's requests and responses (JoinGroup, SyncGroup,
//!   Heartbeat, LeaveGroup, OffsetCommit, TxnOffsetCommit, OffsetFetch, ListGroups,
//!   DescribeGroups, FindCoordinator), plain data with Kafka's fields and error codes.
//! * [`consumer`]: Kafka's consumer protocol, the bytes a consumer puts in its JoinGroup
//!   protocol metadata (a [`Subscription`](consumer::Subscription)) and the bytes the leader
//!   hands each member through SyncGroup (an [`Assignment`](consumer::Assignment)).

pub mod consumer;
pub mod group;

use crate::error::ErrorCode;
use crate::types::{GroupId, TopicPartition};
use group::{
    DescribedGroup, FindCoordinatorResponse, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListedGroup, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
    TxnOffsetCommitRequest,
};

/// The sender's tag for a request; its response carries the same tag. Each side numbers its
/// own requests: a member tags what it sends, and a host that forwards requests to a
/// coordinator may retag them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A request from a member (or an administrator) to a group coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// JoinGroup.
    JoinGroup(JoinGroupRequest),
    /// SyncGroup.
    SyncGroup(SyncGroupRequest),
    /// Heartbeat.
    Heartbeat(HeartbeatRequest),
    /// LeaveGroup.
    LeaveGroup(LeaveGroupRequest),
    /// OffsetCommit.
    OffsetCommit(OffsetCommitRequest),
    /// TxnOffsetCommit: offsets committed inside a producer's transaction.
    TxnOffsetCommit(TxnOffsetCommitRequest),
    /// OffsetFetch.
    OffsetFetch(OffsetFetchRequest),
    /// ListGroups.
    ListGroups,
    /// DescribeGroups.
    DescribeGroups(Vec<GroupId>),
    /// DeleteGroups.
    DeleteGroups(Vec<GroupId>),
    /// OffsetDelete: a group's offsets for some partitions.
    OffsetDelete {
        /// The group.
        group_id: GroupId,
        /// The partitions.
        partitions: Vec<TopicPartition>,
    },
    /// FindCoordinator.
    FindCoordinator(GroupId),
}

/// A group coordinator's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// To a JoinGroup.
    JoinGroup(JoinGroupResponse),
    /// To a SyncGroup.
    SyncGroup(SyncGroupResponse),
    /// To a Heartbeat: its error code.
    Heartbeat(ErrorCode),
    /// To a LeaveGroup.
    LeaveGroup(LeaveGroupResponse),
    /// To an OffsetCommit.
    OffsetCommit(OffsetCommitResponse),
    /// To a TxnOffsetCommit: one code per offset, in request order.
    TxnOffsetCommit(OffsetCommitResponse),
    /// To an OffsetFetch.
    OffsetFetch(OffsetFetchResponse),
    /// To a ListGroups.
    ListGroups {
        /// The error.
        error: ErrorCode,
        /// The groups, sorted by id.
        groups: Vec<ListedGroup>,
    },
    /// To a DescribeGroups, one per group asked.
    DescribeGroups(Vec<DescribedGroup>),
    /// To a DeleteGroups, one per group asked.
    DeleteGroups(Vec<(GroupId, ErrorCode)>),
    /// To an OffsetDelete.
    OffsetDelete {
        /// The request-level error.
        error: ErrorCode,
        /// Per partition.
        partitions: Vec<(TopicPartition, ErrorCode)>,
    },
    /// To a FindCoordinator.
    FindCoordinator(FindCoordinatorResponse),
}
