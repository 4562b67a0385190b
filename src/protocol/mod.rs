//! Plain-data messages between member and coordinator; the consumer-protocol byte format.
//!
//! * [`consumer`]: Kafka's consumer protocol, the bytes a consumer puts in its JoinGroup
//!   protocol metadata (a [`Subscription`](consumer::Subscription)) and the bytes the leader
//!   hands each member through SyncGroup (an [`Assignment`](consumer::Assignment)).

pub mod consumer;
