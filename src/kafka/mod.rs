//! A Kafka wire-protocol front end (feature `kafka-wire`): unmodified Kafka clients
//! (librdkafka, kafka-python, kafkajs, the Java client) form groups on this crate's
//! [`GroupCoordinator`](crate::coordinator::GroupCoordinator), commit offsets into its
//! [`LogOffsetStore`](crate::offsets::LogOffsetStore), and produce and fetch real records from
//! in-memory [`Topics`].
//!
//! [`KafkaServer`] listens on TCP (127.0.0.1 by default). One reactor thread waits on every
//! connection and reads request frames as their bytes arrive; a pool of workers, as many as
//! there are requests in flight, serves them. Each connection is served as a Kafka broker
//! serves it: one request at a time (the connection is not read while its request is being
//! served), answered in order. Idle connections hold no thread. The wire codec is the `kafka-protocol` crate's; this module maps its messages onto the
//! crate's own [`protocol::Request`](crate::protocol::Request) and
//! [`Response`](crate::protocol::Response), handed to a [`GroupService`](crate::sync::GroupService) through one
//! [`Connection`](crate::sync::Connection) per socket, and maps records onto [`Topics`].
//!
//! The broker is a single node (id 0) that leads every partition and coordinates every group.
//! It speaks these APIs, in the versions [`supported_versions`] lists: ApiVersions, Metadata,
//! FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
//! ListGroups, DescribeGroups, ListOffsets, Fetch, Produce, and InitProducerId for idempotent
//! producers (their sequence numbers are not checked: a retried batch may be appended twice). Records travel in record batch
//! format v2, uncompressed; record headers are not kept.
//!
//! Two details are easy to miss:
//! * an ApiVersions request in a version this broker does not speak is answered in version 0
//!   with UNSUPPORTED_VERSION and the list of versions, so the client retries with one it can
//!   use (KIP-511);
//! * a Produce with `acks=0` gets no response at all, as on a real broker.
//!
//! Bad input (a frame larger than [`KafkaConfig::max_frame_bytes`], bytes that do not decode, an
//! API key or version not listed) closes that connection; the server goes on serving the others.
//! No request costs more than a small multiple of its size:
//! * before the codec decodes a request, every field is walked with the codec's own rules:
//!   each count is checked against the bytes that follow it, and the memory the decoded
//!   request will take against a budget of eight times the frame's size (plus 64 KiB); the
//!   codec reserves memory for a count as soon as it reads it, and a forged count would
//!   otherwise ask for more memory than the machine has;
//! * produced records are read in place by this module's own batch reader (CRC-32C checked,
//!   every record walked before any is appended);
//! * a name asked for twice in one request is answered once (Metadata, FindCoordinator,
//!   DescribeGroups, OffsetFetch, Fetch) or refused as Kafka refuses it (ListOffsets:
//!   INVALID_REQUEST);
//! * Fetch honours `max_bytes` and `partition_max_bytes` as Kafka does: the first partition
//!   with records returns at least one, then the limits hold (0 is not "no limit");
//! * topics created on first use are bounded in number and rate;
//! * connections are capped in all and per address, idle ones are closed, and request bytes
//!   buffered across connections are bounded.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use consumer_groups::kafka::{KafkaConfig, KafkaServer};
//!
//! let server = KafkaServer::start(KafkaConfig::default().port(0))?;
//! let mut socket = TcpStream::connect(server.local_addr())?;
//! // ApiVersions v0: api key 18, version 0, correlation id 7, client id "doc".
//! let mut frame = vec![0, 0, 0, 13, 0, 18, 0, 0, 0, 0, 0, 7, 0, 3];
//! frame.extend_from_slice(b"doc");
//! socket.write_all(&frame)?;
//! let mut size = [0u8; 4];
//! socket.read_exact(&mut size)?;
//! let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
//! socket.read_exact(&mut body)?;
//! assert_eq!(&body[..4], &[0, 0, 0, 7]); // the correlation id
//! assert_eq!(&body[4..6], &[0, 0]); // no error
//! server.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```

mod batch;
mod convert;
mod fetch;
mod guard;
mod metadata;
mod pool;
mod produce;
mod reactor;
mod records;
mod server;
mod session;
mod versions;

pub use server::{KafkaServer, ServerStats};
pub use versions::{SupportedApi, supported_versions};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::coordinator::CoordinatorConfig;
use crate::sync::Topics;

/// Settings of a [`KafkaServer`].
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Where to listen: 127.0.0.1:9092 by default. Port 0 picks a free port; see
    /// [`KafkaServer::local_addr`].
    pub bind: SocketAddr,
    /// The host name given to clients in Metadata and FindCoordinator (the bound IP address if
    /// `None`).
    pub advertised_host: Option<String>,
    /// Partitions of a topic created on first use (Kafka's `num.partitions`; default 1).
    pub default_partitions: u32,
    /// Whether a Metadata request that names an unknown topic creates it (Kafka's
    /// `auto.create.topics.enable`; default `true`), within the next two limits.
    pub auto_create_topics: bool,
    /// No topic is created on first use once the broker has this many (default 10,000).
    pub max_auto_create_topics: usize,
    /// At most this many topics are created on first use a second (default 100); names past
    /// it are answered UNKNOWN_TOPIC_OR_PARTITION, which clients retry.
    pub auto_create_topics_per_second: u32,
    /// The largest request frame accepted, in bytes (Kafka's `socket.request.max.bytes`;
    /// default 100 MiB). A larger frame closes the connection.
    pub max_frame_bytes: usize,
    /// Connections open at once (Kafka's `max.connections`; default 10,000). One past it is
    /// closed as soon as it is accepted.
    pub max_connections: usize,
    /// Connections open at once from one IP address (Kafka's `max.connections.per.ip`;
    /// default: no lower than `max_connections`).
    pub max_connections_per_ip: usize,
    /// Request bytes buffered across all connections (Kafka's `queued.max.request.bytes`;
    /// default 256 MiB). A connection whose next bytes would pass it is not read until
    /// others drain.
    pub max_buffered_bytes: usize,
    /// A connection that sends nothing for this long is closed (Kafka's
    /// `connections.max.idle.ms`; default 600,000).
    pub connections_max_idle_ms: u64,
    /// The longest a Fetch waits for records, whatever the client asks (default 10 s).
    pub max_fetch_wait_ms: u64,
    /// Whether to print to standard error why a connection was closed (bad input, an API or
    /// version not served, a response that would not encode); default `false`.
    pub log_closes: bool,
    /// The group coordinator's settings.
    pub coordinator: CoordinatorConfig,
    /// Partitions of the offsets log (Kafka's `offsets.topic.num.partitions`; default 50).
    pub offsets_partitions: u32,
    /// The topics to serve; share them with the host to produce or read in process.
    pub topics: Topics,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9092),
            advertised_host: None,
            default_partitions: 1,
            auto_create_topics: true,
            max_auto_create_topics: 10_000,
            auto_create_topics_per_second: 100,
            max_frame_bytes: 100 * 1024 * 1024,
            max_connections: 10_000,
            max_connections_per_ip: usize::MAX,
            max_buffered_bytes: 256 * 1024 * 1024,
            connections_max_idle_ms: 600_000,
            max_fetch_wait_ms: 10_000,
            log_closes: false,
            coordinator: CoordinatorConfig::default(),
            offsets_partitions: 50,
            topics: Topics::new(),
        }
    }
}

impl KafkaConfig {
    /// The same settings, listening on `port` of the bound address.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.bind.set_port(port);
        self
    }

    /// The same settings, creating unknown topics with `partitions` partitions.
    #[must_use]
    pub fn default_partitions(mut self, partitions: u32) -> Self {
        self.default_partitions = partitions;
        self
    }

    /// The same settings, with `group.initial.rebalance.delay.ms` set to `ms`.
    #[must_use]
    pub fn initial_rebalance_delay_ms(mut self, ms: u64) -> Self {
        self.coordinator.initial_rebalance_delay_ms = ms;
        self
    }
}
