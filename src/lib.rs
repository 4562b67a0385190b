//! # consumer-groups
//!
//! Kafka-style consumer groups for any Rust service: a pool of consumers shares the partitions
//! of one or more topics, each partition owned by exactly one member of a group, progress kept
//! as committed offsets per group, topic and partition, and the work rebalanced when members
//! join, leave, crash or stall.
//!
//! ## The concepts
//!
//! * **Topic, partition, offset.** A topic has partitions `0..n`; each partition is an ordered
//!   log whose records have offsets `0, 1, 2, …` ([`TopicPartition`], [`Offset`]).
//! * **Group.** Consumers sharing a [`GroupId`] form a group. Within a group each partition is
//!   owned by at most one member; a member may own many; members beyond the partition count sit
//!   idle. Different groups read the same partitions independently.
//! * **Committed offset.** Per group, topic and partition: the offset of the *next* record the
//!   group will read. Having processed record 500, a member commits 501. Progress belongs to the
//!   group, not the member, so whichever member takes a partition over resumes there.
//! * **Generation.** Each completed rebalance starts a new [`Generation`]. Requests carry the
//!   generation they were issued under, and stale ones are fenced.
//! * **Rebalance.** When members join, leave, crash or stall, or subscriptions change, the
//!   group's leader runs a [`PartitionAssignor`] over a [`GroupSpec`](assignor::GroupSpec) and
//!   the partitions move. Eager: every member gives up everything first. Cooperative: members
//!   give up only the partitions that move, and a follow-up round hands them to their new owners.
//!
//! ## Quick start: planning an assignment
//!
//! Three consumers share two topics. The leader describes the group and runs an assignor:
//!
//! ```
//! use consumer_groups::assignor::{GroupSpec, MemberSpec, TopicSpec};
//! use consumer_groups::{AssignorRegistry, Generation, TopicPartition};
//!
//! let registry = AssignorRegistry::with_builtins();
//! let spec = GroupSpec::builder()
//!     .topic(TopicSpec::new("orders", 4))
//!     .topic(TopicSpec::new("payments", 2))
//!     .member(MemberSpec::new("consumer-a").subscribe(["orders", "payments"]))
//!     .member(MemberSpec::new("consumer-b").subscribe(["orders", "payments"]))
//!     .member(MemberSpec::new("consumer-c").subscribe(["orders"]))
//!     .build()?;
//!
//! let sticky = registry.require("sticky")?;
//! let first = sticky.assign(&spec)?;
//! // Every partition has exactly one owner, and the load is even.
//! assert_eq!(first.assigned_partitions(), 6);
//! assert!(first.iter().all(|m| m.len() == 2));
//!
//! // consumer-c leaves. The others report what they own, and keep it.
//! let owned = |id: &str| first.get(id).unwrap().topic_partitions().collect::<Vec<_>>();
//! let spec = GroupSpec::builder()
//!     .topic(TopicSpec::new("orders", 4))
//!     .topic(TopicSpec::new("payments", 2))
//!     .member(MemberSpec::new("consumer-a").subscribe(["orders", "payments"])
//!         .owned(owned("consumer-a")).generation(Generation(1)))
//!     .member(MemberSpec::new("consumer-b").subscribe(["orders", "payments"])
//!         .owned(owned("consumer-b")).generation(Generation(1)))
//!     .build()?;
//! let second = sticky.assign(&spec)?;
//! assert_eq!(second.diff().revoked, 0, "nobody loses a partition");
//! assert_eq!(second.diff().added, 2, "only consumer-c's two partitions move");
//! # Ok::<(), consumer_groups::Error>(())
//! ```
//!
//! ## Modules
//!
//! * [`assignor`]: the [`PartitionAssignor`] trait and the built-in `range`, `roundrobin`,
//!   `sticky` and `cooperative-sticky` assignors.
//! * [`log`]: the partitioned append-only [`Log`](log::Log) and the in-memory
//!   [`MemoryLog`](log::MemoryLog); [`partition_for`](log::partition_for), Kafka's rule for the
//!   offsets partition of a group.
//! * [`offsets`]: the [`OffsetStore`](offsets::OffsetStore) trait and
//!   [`LogOffsetStore`](offsets::LogOffsetStore), committed offsets and group metadata kept as
//!   records in the offsets log, with retention, transactional offsets and lag.
//! * [`coordinator`]: [`GroupCoordinator`](coordinator::GroupCoordinator), the broker side of
//!   the classic group protocol: a sans-IO state machine the host drives with requests and
//!   time.
//! * [`consumer`]: [`ConsumerCoordinator`](consumer::ConsumerCoordinator), the member side: a
//!   sans-IO state machine that joins, leads, heartbeats, tracks positions, commits and reports
//!   revoked, assigned and lost partitions, eager or cooperative; and
//!   [`ConsumerConfig`](consumer::ConsumerConfig), its settings under Kafka's property names.
//! * [`sync`]: the thread-safe embedding: [`GroupService`](sync::GroupService) (a shared
//!   coordinator with a real-clock driver), the blocking [`Consumer`](sync::Consumer), and
//!   in-memory [`Topics`](sync::Topics) with a [`Producer`](sync::Producer). The only place a
//!   clock is read.
//! * `kafka` (feature `kafka-wire`, off by default): a Kafka wire-protocol front end, a TCP
//!   server on which unmodified Kafka clients join groups on the coordinator, commit, produce and
//!   fetch.
//! * `sim` (feature `sim`, on by default): a deterministic simulation of whole clusters in
//!   virtual time: brokers, members, a faulty network and delivery-mode workloads, with the
//!   group invariants checked after every step; every run replays from its seed.
//! * [`protocol`]: plain-data messages between member and coordinator; the consumer-protocol
//!   byte format ([`Subscription`](protocol::consumer::Subscription),
//!   [`Assignment`](protocol::consumer::Assignment)).
//! * [`error`]: [`ErrorCode`] (Kafka's codes, carried as data) and [`Error`] (for the host).
//! * [`types`]: identifiers and value types.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub)]

pub mod assignor;
pub mod consumer;
pub mod coordinator;
pub mod error;
#[cfg(feature = "kafka-wire")]
pub mod kafka;
pub mod log;
pub mod offsets;
pub mod protocol;
#[cfg(feature = "sim")]
pub mod sim;
pub mod sync;
pub mod types;
mod wire;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use assignor::{Assignment, AssignorRegistry, PartitionAssignor, RebalanceProtocol};
pub use error::{Error, ErrorCode};
pub use types::{
    ClientId, Generation, GroupId, GroupInstanceId, MemberId, Offset, Rack, Timestamp, Topic,
    TopicPartition,
};
