//! [`KafkaServer`]: the listener, the reactor thread and the worker pool.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::{Poll, Waker};

use super::KafkaConfig;
use super::metadata::AutoCreate;
use super::reactor::{Reactor, WAKER};
use super::records::Broker;
use super::versions::{SupportedApi, supported_versions};
use crate::log::MemoryLog;
use crate::offsets::LogOffsetStore;
use crate::sync::{GroupService, Topics};

/// What the whole server shares: the coordinator, the topics, the settings workers read.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) service: GroupService,
    pub(super) broker: Broker,
    pub(super) max_frame_bytes: usize,
    pub(super) log_closes: bool,
    pub(super) apis: Vec<SupportedApi>,
    pub(super) stop: AtomicBool,
    /// The last producer id handed out by InitProducerId.
    pub(super) producer_ids: AtomicI64,
    pub(super) stats: Stats,
}

/// Counters the reactor keeps up to date.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) accepted: AtomicUsize,
    pub(super) refused: AtomicUsize,
    pub(super) connections: AtomicUsize,
    pub(super) threads: AtomicUsize,
    pub(super) buffered: AtomicUsize,
    pub(super) panics: AtomicUsize,
}

/// The limits the reactor enforces.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_connections: usize,
    pub(super) max_connections_per_ip: usize,
    pub(super) max_buffered_bytes: usize,
    pub(super) max_idle: Duration,
}

/// A snapshot of a [`KafkaServer`]'s connections and threads: the counts of connections
/// accepted and refused and of panics are current, the rest as of the reactor's last look
/// (about once a second).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections accepted since the start.
    pub accepted: usize,
    /// Connections closed at once because a connection cap was reached.
    pub refused: usize,
    /// Connections open.
    pub connections: usize,
    /// Threads serving connections: the reactor and the workers running now.
    pub threads: usize,
    /// Request bytes buffered across every connection.
    pub buffered_bytes: usize,
    /// Requests whose handling panicked (their connections were closed; the server went on).
    /// Any input that makes this grow is a bug.
    pub panics: usize,
}

/// A Kafka broker on TCP, fronting a [`GroupService`] and in-memory [`Topics`]. See the
/// [module](super) docs.
///
/// Dropping the server (or [`shutdown`](Self::shutdown)) stops the listener, closes every
/// connection and joins its threads.
#[derive(Debug)]
pub struct KafkaServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    waker: Arc<Waker>,
    reactor: Option<JoinHandle<()>>,
}

impl KafkaServer {
    /// Binds `config.bind` and starts serving on a new thread.
    ///
    /// # Errors
    /// The listener's I/O error (an address in use, say).
    pub fn start(config: KafkaConfig) -> io::Result<KafkaServer> {
        let listener = listen(config.bind)?;
        let addr = listener.local_addr()?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(
            config.offsets_partitions.max(1),
        ))));
        let service = GroupService::start(config.coordinator.clone(), store);
        let host = config
            .advertised_host
            .clone()
            .unwrap_or_else(|| addr.ip().to_string());
        let shared = Arc::new(Shared {
            service,
            broker: Broker {
                topics: config.topics.clone(),
                host,
                port: i32::from(addr.port()),
                default_partitions: config.default_partitions.max(1),
                auto_create: Arc::new(AutoCreate::new(
                    config.auto_create_topics,
                    config.max_auto_create_topics,
                    config.auto_create_topics_per_second,
                )),
                max_fetch_wait: Duration::from_millis(config.max_fetch_wait_ms),
            },
            max_frame_bytes: config.max_frame_bytes,
            log_closes: config.log_closes,
            apis: supported_versions(),
            stop: AtomicBool::new(false),
            producer_ids: AtomicI64::new(0),
            stats: Stats::default(),
        });
        let limits = Limits {
            max_connections: config.max_connections.max(1),
            max_connections_per_ip: config.max_connections_per_ip.max(1),
            max_buffered_bytes: config.max_buffered_bytes,
            max_idle: Duration::from_millis(config.connections_max_idle_ms),
        };
        let reactor = Reactor::new(poll, listener, shared.clone(), limits, waker.clone())?;
        let reactor = std::thread::Builder::new()
            .name("kafka-reactor".into())
            .spawn(move || reactor.run())?;
        Ok(KafkaServer {
            addr,
            shared,
            waker,
            reactor: Some(reactor),
        })
    }

    /// The address the server listens on (with the port chosen, if port 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The topics the server serves.
    #[must_use]
    pub fn topics(&self) -> &Topics {
        &self.shared.broker.topics
    }

    /// The group service behind the server, to inspect groups.
    #[must_use]
    pub fn service(&self) -> &GroupService {
        &self.shared.service
    }

    /// Connections and threads, as of the reactor's last look (about once a second).
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        let s = &self.shared.stats;
        ServerStats {
            accepted: s.accepted.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            connections: s.connections.load(Ordering::Relaxed),
            threads: s.threads.load(Ordering::Relaxed),
            buffered_bytes: s.buffered.load(Ordering::Relaxed),
            panics: s.panics.load(Ordering::Relaxed),
        }
    }

    /// Stops the server: no new connections, every open one closed, every thread joined.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.shared.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.waker.wake();
        if let Some(r) = self.reactor.take() {
            let _ = r.join();
        }
    }
}

/// A non-blocking listener with a backlog of 1024, so that a burst of connections is queued
/// by the kernel, not dropped, while the reactor accepts them.
fn listen(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

impl Drop for KafkaServer {
    fn drop(&mut self) {
        self.stop();
    }
}
