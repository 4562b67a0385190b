//! The member side of a consumer group: [`ConsumerCoordinator`], a sans-IO state machine, and
//! [`ConsumerConfig`], its settings.
//!
//! The host drives a member as it drives a [`GroupCoordinator`](crate::coordinator::GroupCoordinator):
//!
//! * **In:** application commands ([`subscribe`](ConsumerCoordinator::subscribe),
//!   [`poll`](ConsumerCoordinator::poll), [`seek`](ConsumerCoordinator::seek),
//!   [`commit`](ConsumerCoordinator::commit),
//!   [`revocation_done`](ConsumerCoordinator::revocation_done),
//!   [`close`](ConsumerCoordinator::close)), the coordinator's responses
//!   ([`handle_response`](ConsumerCoordinator::handle_response)) and time
//!   ([`handle_timeout`](ConsumerCoordinator::handle_timeout)), each with `now`.
//! * **Out:** requests for the coordinator ([`poll_request`](ConsumerCoordinator::poll_request)),
//!   [`ConsumerEvent`]s for the application ([`poll_event`](ConsumerCoordinator::poll_event)),
//!   and the next deadline ([`poll_timeout`](ConsumerCoordinator::poll_timeout)).
//!
//! A rebalance as the member sees it, eager protocol (the host acknowledges the revocation,
//! which lets it commit before the partitions move):
//!
//! ```text
//! heartbeat → REBALANCE_IN_PROGRESS
//!   PartitionsRevoked [all]   → host commits, calls revocation_done
//!   (auto-commit of the revoked positions) → JoinGroup → SyncGroup
//!   PartitionsAssigned [all]  → OffsetFetch → positions (or ResetOffsets / NoOffset)
//! ```
//!
//! Cooperative protocol: after the sync, only `owned − assigned` is revoked, the new
//! partitions are assigned, and if anything was revoked the member rejoins at once so a second
//! round hands those partitions to their new owners. No partition is ever held by two members.

mod config;
mod coordinator;

pub use config::{ConsumerConfig, FromProperties, IsolationLevel, OffsetReset};
pub use coordinator::{
    CommitId, ConsumerCoordinator, ConsumerEvent, ConsumerGroupMetadata, MemberState,
};
