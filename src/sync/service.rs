//! [`GroupService`]: one [`GroupCoordinator`] shared by many member threads.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use hashbrown::HashMap;
use parking_lot::Mutex;

use crate::coordinator::{CoordinatorConfig, GroupCoordinator};
use crate::offsets::OffsetStore;
use crate::protocol::{Request, RequestId, Response};
use crate::sync::Clock;
use crate::types::Timestamp;

/// A response for a connection, tagged with the connection's own request id.
pub type Delivery = (RequestId, Response);

/// The longest the driver sleeps without looking at the coordinator's deadline again.
const DRIVER_MAX_SLEEP: Duration = Duration::from_millis(250);

#[derive(Debug)]
struct Core {
    coordinator: GroupCoordinator,
    /// Coordinator-side tag → (connection, the connection's tag).
    routes: HashMap<RequestId, (u64, RequestId)>,
    connections: HashMap<u64, Sender<Delivery>>,
    next_tag: u64,
    next_connection: u64,
}

impl Core {
    /// Hands every response the coordinator has to its connection. Responses for connections
    /// that are gone are dropped, as a network drops them.
    fn route(&mut self) {
        while let Some((tag, response)) = self.coordinator.poll_response() {
            if let Some((conn, id)) = self.routes.remove(&tag) {
                if let Some(tx) = self.connections.get(&conn) {
                    // A receiver dropped mid-flight is a closed connection: drop the response.
                    let _ = tx.send((id, response));
                }
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    core: Mutex<Core>,
    clock: Clock,
    /// Nudges the driver when a request may have moved the coordinator's deadline earlier.
    wake: Sender<()>,
}

/// A [`GroupCoordinator`] behind a `parking_lot::Mutex`, serving many member threads over
/// `crossbeam_channel`s, with one driver thread that fires
/// [`handle_timeout`](GroupCoordinator::handle_timeout) from a real [`Clock`].
///
/// Members talk to it through [`Connection`]s: [`send`](Connection::send) hands a request to
/// the coordinator at once, under the lock, and the responses (immediate or parked) arrive on
/// the connection's channel. Dropping the service stops the driver.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use consumer_groups::coordinator::CoordinatorConfig;
/// use consumer_groups::log::MemoryLog;
/// use consumer_groups::offsets::LogOffsetStore;
/// use consumer_groups::protocol::{Request, RequestId, Response};
/// use consumer_groups::sync::GroupService;
///
/// let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
/// let service = GroupService::start(CoordinatorConfig::default(), store);
/// let conn = service.connect();
/// conn.send(RequestId(1), Request::FindCoordinator("billing".into()));
/// let (id, response) = conn.recv_timeout(Duration::from_secs(1)).expect("an answer");
/// assert_eq!(id, RequestId(1));
/// assert!(matches!(response, Response::FindCoordinator(_)));
/// ```
#[derive(Debug)]
pub struct GroupService {
    shared: Arc<Shared>,
    stop: Option<Sender<()>>,
    driver: Option<JoinHandle<()>>,
}

/// A seed for [`CoordinatorConfig::seed`] that differs from one call to the next and from one
/// process to the next: the keys the standard library draws from the operating system's
/// randomness for `RandomState` (fresh per thread, stepped per call), mixed with the time and
/// the process id. What [`GroupService`] uses when its config gives no seed; a host that
/// drives a [`GroupCoordinator`] itself can call it at each start.
#[must_use]
pub fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(since_epoch.as_nanos());
    h.write_u32(std::process::id());
    h.finish()
}

impl GroupService {
    /// Starts a coordinator over `store` on a fresh [`Clock`], with its driver thread. With no
    /// [`seed`](CoordinatorConfig::seed) in `config`, it draws one ([`random_seed`]), so the
    /// member ids it hands out differ from those of any earlier start.
    #[must_use]
    pub fn start(config: CoordinatorConfig, store: Arc<dyn OffsetStore>) -> GroupService {
        Self::with_clock(config, store, Clock::default())
    }

    /// As [`start`](Self::start), on `clock` (share it with the members so all use one
    /// timeline).
    #[must_use]
    pub fn with_clock(
        mut config: CoordinatorConfig,
        store: Arc<dyn OffsetStore>,
        clock: Clock,
    ) -> GroupService {
        config.seed.get_or_insert_with(random_seed);
        let (wake_tx, wake_rx) = bounded(1);
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                coordinator: GroupCoordinator::new(config, store),
                routes: HashMap::new(),
                connections: HashMap::new(),
                next_tag: 0,
                next_connection: 0,
            }),
            clock,
            wake: wake_tx,
        });
        let for_driver = shared.clone();
        let driver = std::thread::Builder::new()
            .name("group-service-driver".into())
            .spawn(move || drive(&for_driver, &wake_rx, &stop_rx))
            .ok();
        GroupService {
            shared,
            stop: Some(stop_tx),
            driver,
        }
    }

    /// A new connection for one member.
    #[must_use]
    pub fn connect(&self) -> Connection {
        let (tx, rx) = unbounded();
        let mut core = self.shared.core.lock();
        core.next_connection += 1;
        let id = core.next_connection;
        core.connections.insert(id, tx);
        Connection {
            id,
            shared: self.shared.clone(),
            responses: rx,
        }
    }

    /// The service's clock.
    #[must_use]
    pub fn clock(&self) -> Clock {
        self.shared.clock
    }

    /// The current time on the service's clock.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// Runs `f` on the coordinator under the lock (to inspect groups, or to drive it as an
    /// administrator would), then delivers whatever responses it produced.
    pub fn with_coordinator<R>(&self, f: impl FnOnce(&mut GroupCoordinator, Timestamp) -> R) -> R {
        let now = self.now();
        let mut core = self.shared.core.lock();
        let out = f(&mut core.coordinator, now);
        core.route();
        drop(core);
        let _ = self.shared.wake.try_send(());
        out
    }
}

impl Drop for GroupService {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
    }
}

/// The driver: sleeps until the coordinator's next deadline (or a nudge), then fires it.
fn drive(shared: &Shared, wake: &Receiver<()>, stop: &Receiver<()>) {
    loop {
        let sleep = {
            let mut core = shared.core.lock();
            let now = shared.clock.now();
            if core.coordinator.poll_timeout().is_some_and(|t| t <= now) {
                core.coordinator.handle_timeout(now);
                core.route();
            }
            core.coordinator
                .poll_timeout()
                .map_or(DRIVER_MAX_SLEEP, |t| {
                    shared.clock.until(t).min(DRIVER_MAX_SLEEP)
                })
        };
        crossbeam_channel::select! {
            recv(stop) -> _ => return,
            recv(wake) -> _ => {}
            default(sleep) => {}
        }
    }
}

/// One member's line to a [`GroupService`]: requests go in with the member's own ids, and the
/// responses come back on a channel with the same ids. Dropping it closes the line; responses
/// still on their way are dropped.
#[derive(Debug)]
pub struct Connection {
    id: u64,
    shared: Arc<Shared>,
    responses: Receiver<Delivery>,
}

impl Connection {
    /// Hands `request` to the coordinator now. Its response, now or later, arrives on
    /// [`responses`](Self::responses) tagged `id`.
    pub fn send(&self, id: RequestId, request: Request) {
        let now = self.shared.clock.now();
        let mut core = self.shared.core.lock();
        core.next_tag += 1;
        let tag = RequestId(core.next_tag);
        core.routes.insert(tag, (self.id, id));
        core.coordinator.handle(now, tag, request);
        core.route();
        drop(core);
        let _ = self.shared.wake.try_send(());
    }

    /// The channel the responses arrive on (for `crossbeam_channel::select!`).
    #[must_use]
    pub fn responses(&self) -> &Receiver<Delivery> {
        &self.responses
    }

    /// The next response, waiting at most `timeout`.
    #[must_use]
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Delivery> {
        self.responses.recv_timeout(timeout).ok()
    }

    /// The clock of the service this connection belongs to.
    #[must_use]
    pub fn clock(&self) -> Clock {
        self.shared.clock
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut core = self.shared.core.lock();
        core.connections.remove(&self.id);
        let id = self.id;
        core.routes.retain(|_, (conn, _)| *conn != id);
    }
}
