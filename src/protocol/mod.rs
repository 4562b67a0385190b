//! Plain-data messages between member and coordinator; the consumer-protocol byte format.
//!
//! * [`group`]: the classic group protocol's requests and responses (JoinGroup, SyncGroup,
//!   Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups,
//!   FindCoordinator), plain data with Kafka's fields and error codes.
//! * [`consumer`]: Kafka's consumer protocol, the bytes a consumer puts in its JoinGroup
//!   protocol metadata (a [`Subscription`](consumer::Subscription)) and the bytes the leader
//!   hands each member through SyncGroup (an [`Assignment`](consumer::Assignment)).

pub mod consumer;
pub mod group;

pub use crate::coordinator::{Request, RequestId, Response};
