//! The member side of a consumer group: [`ConsumerCoordinator`], a sans-IO state machine.

mod config;
mod coordinator;

pub use config::{ConsumerConfig, FromProperties, IsolationLevel, OffsetReset};
pub use coordinator::{CommitId, ConsumerCoordinator, ConsumerEvent, MemberState};
