//! Thread-safe embedding: where threads, channels and wall time enter the crate.
//!
//! * [`GroupService`]: one [`GroupCoordinator`](crate::coordinator::GroupCoordinator) behind a
//!   `parking_lot::Mutex`, serving many member threads through [`Connection`]s
//!   (`crossbeam_channel`), with a driver thread that fires its timeouts from a real [`Clock`],
//!   and member ids seeded afresh at each start ([`random_seed`]).
//! * [`Consumer`]: a blocking consumer for one host thread (`subscribe`, `poll`,
//!   `commit_sync`, `commit_async`, `committed`, `position`, `seek`, `pause`/`resume`,
//!   `close`), with a background thread that keeps its membership alive.
//! * [`Topics`] and [`Producer`]: records in in-memory topics, appended by key (Kafka's
//!   default partitioner) and read by consumers.
//!
//! Nothing outside this module reads a clock.

mod clock;
mod consumer;
mod producer;
mod service;
mod topics;

pub use clock::Clock;
pub use consumer::{Consumer, DEFAULT_MAX_POLL_RECORDS, Polled};
pub use producer::{Producer, murmur2, partition_for_key};
pub use service::{Connection, Delivery, GroupService, random_seed};
pub use topics::{ConsumerRecord, Topics};
