//! [`Consumer`]: a blocking consumer for one host thread, in the shape of a Kafka client.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;

use crate::assignor::AssignorRegistry;
use crate::consumer::{
    CommitId, ConsumerConfig, ConsumerCoordinator, ConsumerEvent, MemberState, OffsetReset,
};
use crate::error::{Error, ErrorCode};
use crate::offsets::OffsetCommit;
use crate::protocol::group::OffsetFetchRequest;
use crate::protocol::{Request, RequestId, Response};
use crate::sync::{Clock, Connection, ConsumerRecord, GroupService, Topics};
use crate::types::{Generation, MemberId, Offset, Topic, TopicPartition};

/// Kafka's default `max.poll.records`.
pub const DEFAULT_MAX_POLL_RECORDS: usize = 500;

/// The longest the heartbeat thread sleeps without looking at the member's deadline again.
const HEARTBEAT_MAX_SLEEP: Duration = Duration::from_millis(250);

/// How often a waiting `poll` looks for new records.
const RECORD_CHECK: Duration = Duration::from_millis(5);

/// What one [`Consumer::poll`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    /// Records of the member's partitions, in offset order per partition.
    pub records: Vec<ConsumerRecord>,
    /// What happened to the member, in order: [`ConsumerEvent::PartitionsRevoked`] (commit what
    /// you must before the next `poll`: the partitions move only after it),
    /// [`ConsumerEvent::PartitionsAssigned`], [`ConsumerEvent::PartitionsLost`], completions of
    /// [`commit_async`](Consumer::commit_async), and the rest. Offset resets are resolved by the
    /// consumer itself and do not appear.
    pub events: Vec<ConsumerEvent>,
}

impl Polled {
    /// `true` if there is neither a record nor an event.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.events.is_empty()
    }
}

/// What the host thread and the heartbeat thread share.
#[derive(Debug)]
struct Shared {
    member: Mutex<ConsumerCoordinator>,
    conn: Connection,
    clock: Clock,
    /// Nudges the heartbeat thread when the member's deadline may have moved earlier.
    wake: Sender<()>,
    /// Tells a waiting `poll` that the member has events.
    notify: Sender<()>,
}

impl Shared {
    /// Sends everything the member wants sent. Call with the member locked.
    fn flush(&self, member: &mut ConsumerCoordinator) {
        while let Some((id, request)) = member.poll_request() {
            self.conn.send(id, request);
        }
    }

    /// Runs `f` on the member, then sends its requests and wakes the heartbeat thread.
    fn with<R>(&self, f: impl FnOnce(&mut ConsumerCoordinator, crate::Timestamp) -> R) -> R {
        let now = self.clock.now();
        let mut member = self.member.lock();
        let out = f(&mut member, now);
        self.flush(&mut member);
        drop(member);
        let _ = self.wake.try_send(());
        out
    }
}

/// The heartbeat thread: delivers responses to the member and fires its timers, so the member
/// heartbeats (and auto-commits) while the host is busy between polls, as a Kafka consumer's
/// background thread does.
fn heartbeat_loop(shared: &Shared, wake: &Receiver<()>, stop: &Receiver<()>) {
    loop {
        let sleep = {
            let mut member = shared.member.lock();
            let now = shared.clock.now();
            if member.poll_timeout().is_some_and(|t| t <= now) {
                member.handle_timeout(now);
                shared.flush(&mut member);
                let _ = shared.notify.try_send(());
            }
            member.poll_timeout().map_or(HEARTBEAT_MAX_SLEEP, |t| {
                shared.clock.until(t).min(HEARTBEAT_MAX_SLEEP)
            })
        };
        crossbeam_channel::select! {
            recv(stop) -> _ => return,
            recv(wake) -> _ => {}
            recv(shared.conn.responses()) -> delivery => {
                if let Ok((id, response)) = delivery {
                    let now = shared.clock.now();
                    let mut member = shared.member.lock();
                    member.handle_response(now, id, response);
                    while let Ok((id, response)) = shared.conn.responses().try_recv() {
                        member.handle_response(now, id, response);
                    }
                    shared.flush(&mut member);
                    drop(member);
                    let _ = shared.notify.try_send(());
                }
            }
            default(sleep) => {}
        }
    }
}

/// A blocking consumer for one host thread, over a [`GroupService`] and [`Topics`]: the shape
/// users know from Kafka clients. A background thread keeps the membership alive (heartbeats,
/// auto-commits, responses) while the host processes records between polls.
///
/// Positions advance when the host comes back: records returned by one `poll` count as
/// processed when the host calls `poll` again (or `commit_sync`, or `close`), so auto-commit
/// never commits a record the host has not finished. That is Kafka's at-least-once contract.
///
/// Dropping a consumer without [`close`](Self::close) is a crash as far as the group is
/// concerned: nothing is committed and nobody leaves; the group notices at the session timeout.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use consumer_groups::consumer::{ConsumerConfig, ConsumerEvent};
/// use consumer_groups::coordinator::CoordinatorConfig;
/// use consumer_groups::log::MemoryLog;
/// use consumer_groups::offsets::LogOffsetStore;
/// use consumer_groups::sync::{Consumer, GroupService, Producer, Topics};
///
/// let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(50))));
/// let service = GroupService::start(
///     CoordinatorConfig { initial_rebalance_delay_ms: 0, ..CoordinatorConfig::default() },
///     store,
/// );
/// let topics = Topics::new();
/// topics.create("orders", 2)?;
/// let producer = Producer::new(topics.clone(), service.clock());
/// for i in 0..10u32 {
///     producer.send("orders", Some(&i.to_be_bytes()), b"order")?;
/// }
///
/// let mut config = ConsumerConfig::new("billing");
/// config.auto_offset_reset = consumer_groups::consumer::OffsetReset::Earliest;
/// let mut consumer = Consumer::new(config, &service, topics.clone())?;
/// consumer.subscribe(["orders"])?;
/// let mut seen = 0;
/// while seen < 10 {
///     let polled = consumer.poll(Duration::from_millis(100))?;
///     seen += polled.records.len();
/// }
/// consumer.commit_sync(None)?;
/// consumer.close()?;
/// # Ok::<(), consumer_groups::Error>(())
/// ```
#[derive(Debug)]
pub struct Consumer {
    shared: Arc<Shared>,
    topics: Topics,
    /// A second line to the coordinator for the host's own lookups (`committed`).
    admin: Connection,
    admin_next: u64,
    notified: Receiver<()>,
    stop: Option<Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
    max_poll_records: usize,
    paused: BTreeSet<TopicPartition>,
    /// Where the host's reading has got to: applied to the member when the host comes back.
    consumed: BTreeMap<TopicPartition, Offset>,
    /// Events seen while waiting for something else, for the next `poll`.
    buffered: VecDeque<ConsumerEvent>,
    /// A revocation was handed out; acknowledge it at the next `poll`.
    ack_due: bool,
    /// Where the next poll starts looking for records, for fairness between partitions.
    rotation: usize,
    request_timeout: Duration,
}

impl Consumer {
    /// A consumer with `config` (the built-in assignors), talking to `service`, reading from
    /// `topics`.
    ///
    /// # Errors
    /// As [`ConsumerCoordinator::new`].
    pub fn new(
        config: ConsumerConfig,
        service: &GroupService,
        topics: Topics,
    ) -> Result<Self, Error> {
        Self::with_assignors(config, AssignorRegistry::with_builtins(), service, topics)
    }

    /// A consumer whose assignors come from `assignors`.
    ///
    /// # Errors
    /// As [`ConsumerCoordinator::with_assignors`].
    pub fn with_assignors(
        config: ConsumerConfig,
        assignors: AssignorRegistry,
        service: &GroupService,
        topics: Topics,
    ) -> Result<Self, Error> {
        let request_timeout = Duration::from_millis(config.request_timeout_ms);
        let member = ConsumerCoordinator::with_assignors(config, assignors)?;
        let (wake_tx, wake_rx) = bounded(1);
        let (notify_tx, notify_rx) = bounded(1);
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let shared = Arc::new(Shared {
            member: Mutex::new(member),
            conn: service.connect(),
            clock: service.clock(),
            wake: wake_tx,
            notify: notify_tx,
        });
        let for_thread = shared.clone();
        let heartbeat = std::thread::Builder::new()
            .name("consumer-heartbeat".into())
            .spawn(move || heartbeat_loop(&for_thread, &wake_rx, &stop_rx))
            .map_err(|_| Error::IllegalState("cannot start the heartbeat thread"))?;
        Ok(Consumer {
            shared,
            topics,
            admin: service.connect(),
            admin_next: 0,
            notified: notify_rx,
            stop: Some(stop_tx),
            heartbeat: Some(heartbeat),
            max_poll_records: DEFAULT_MAX_POLL_RECORDS,
            paused: BTreeSet::new(),
            consumed: BTreeMap::new(),
            buffered: VecDeque::new(),
            ack_due: false,
            rotation: 0,
            request_timeout,
        })
    }

    /// Sets the most records one `poll` returns (Kafka's `max.poll.records`, default 500).
    pub fn set_max_poll_records(&mut self, n: usize) {
        self.max_poll_records = n.max(1);
    }

    /// Subscribes to `topics` (group management); the group rebalances.
    ///
    /// # Errors
    /// As [`ConsumerCoordinator::subscribe`].
    pub fn subscribe<I, T>(&mut self, topics: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<Topic>,
    {
        let specs = self.topics.specs();
        self.shared.with(|m, now| {
            m.update_metadata(now, specs);
            m.subscribe(now, topics)?;
            m.poll(now);
            Ok(())
        })
    }

    /// Reads `partitions` without group management (Kafka's `assign()`).
    ///
    /// # Errors
    /// As [`ConsumerCoordinator::assign`].
    pub fn assign<I>(&mut self, partitions: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = TopicPartition>,
    {
        self.shared.with(|m, now| m.assign(now, partitions))
    }

    /// Waits up to `timeout` for records or events. Calling it again means the records it
    /// returned last time are processed (their positions are committed by auto-commit from
    /// then on) and any revocation it returned is done with (the member rejoins).
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close`](Self::close) or a fatal error (the fatal error itself
    /// is returned once, as [`ConsumerEvent::Fatal`]).
    pub fn poll(&mut self, timeout: Duration) -> Result<Polled, Error> {
        let deadline = self
            .shared
            .clock
            .now()
            .plus_millis(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        let specs = self.topics.specs();
        let ack = std::mem::take(&mut self.ack_due);
        let consumed = std::mem::take(&mut self.consumed);
        let state = self.shared.with(|m, now| {
            apply_positions(m, &consumed);
            if ack && m.state() == MemberState::Revoking {
                // Only a member in `Revoking` can take the acknowledgment.
                let _ = m.revocation_done(now);
            }
            m.update_metadata(now, specs);
            m.poll(now);
            m.state()
        });
        if state == MemberState::Closed && self.buffered.is_empty() {
            let events = self.drain_events();
            if events.is_empty() {
                return Err(Error::Closed);
            }
            return Ok(Polled {
                records: Vec::new(),
                events,
            });
        }
        loop {
            let events = self.drain_events();
            if events
                .iter()
                .any(|e| matches!(e, ConsumerEvent::PartitionsRevoked { .. }))
            {
                // Hand the revocation over before reading anything more.
                self.ack_due = true;
                return Ok(Polled {
                    records: Vec::new(),
                    events,
                });
            }
            let records = self.fetch();
            if !records.is_empty() || !events.is_empty() {
                return Ok(Polled { records, events });
            }
            let now = self.shared.clock.now();
            if now >= deadline {
                return Ok(Polled::default());
            }
            let wait = self.shared.clock.until(deadline).min(RECORD_CHECK);
            let _ = self.notified.recv_timeout(wait);
        }
    }

    /// Takes the member's events (and those buffered), resolving offset resets on the way.
    fn drain_events(&mut self) -> Vec<ConsumerEvent> {
        let mut events: Vec<ConsumerEvent> = self.buffered.drain(..).collect();
        let mut resets = Vec::new();
        {
            let mut member = self.shared.member.lock();
            while let Some(e) = member.poll_event() {
                events.push(e);
            }
            events.retain(|e| match e {
                ConsumerEvent::ResetOffsets { policy, partitions } => {
                    resets.push((*policy, partitions.clone()));
                    false
                }
                _ => true,
            });
            for (policy, partitions) in resets {
                for tp in partitions {
                    let offset = match policy {
                        OffsetReset::Earliest => self.topics.start_offset(&tp),
                        _ => self.topics.end_offset(&tp),
                    };
                    // A topic the host does not have reads from 0.
                    let _ = member.seek(&tp, offset.unwrap_or(Offset(0)));
                }
            }
        }
        for e in &events {
            // Progress on lost partitions belongs to their new owner now.
            if let ConsumerEvent::PartitionsLost { partitions } = e {
                for tp in partitions {
                    self.consumed.remove(tp);
                }
            }
        }
        events
    }

    /// Reads up to `max_poll_records` from the member's fetchable, unpaused partitions,
    /// starting with a different partition each time.
    fn fetch(&mut self) -> Vec<ConsumerRecord> {
        let fetchable = self.shared.member.lock().fetchable();
        let mut parts: Vec<(TopicPartition, Offset)> = fetchable
            .into_iter()
            .filter(|(tp, _)| !self.paused.contains(tp))
            .map(|(tp, pos)| {
                let pos = self.consumed.get(&tp).copied().unwrap_or(pos);
                (tp, pos)
            })
            .collect();
        if parts.is_empty() {
            return Vec::new();
        }
        let start = self.rotation % parts.len();
        parts.rotate_left(start);
        self.rotation = self.rotation.wrapping_add(1);
        let mut out = Vec::new();
        for (tp, pos) in parts {
            let room = self.max_poll_records - out.len();
            if room == 0 {
                break;
            }
            if let Ok(records) = self.topics.read(&tp, pos, room) {
                if let Some(last) = records.last() {
                    self.consumed.insert(tp, Offset(last.offset.0 + 1));
                }
                out.extend(records);
            }
        }
        out
    }

    /// Commits and waits for the answer: `None` commits the position after every record
    /// returned so far (Kafka's `commitSync()`), `Some` the given offsets.
    ///
    /// # Errors
    /// [`Error::CommitFailed`] with the coordinator's code; [`Error::Timeout`] after
    /// `request.timeout.ms`; the local refusals of [`ConsumerCoordinator::commit`].
    pub fn commit_sync(&mut self, offsets: Option<Vec<OffsetCommit>>) -> Result<(), Error> {
        let id = self.commit_async(offsets)?;
        let deadline = self
            .shared
            .clock
            .now()
            .plus_millis(u64::try_from(self.request_timeout.as_millis()).unwrap_or(u64::MAX));
        loop {
            let events = {
                let mut member = self.shared.member.lock();
                let mut events = Vec::new();
                while let Some(e) = member.poll_event() {
                    events.push(e);
                }
                events
            };
            let mut result = None;
            for e in events {
                match e {
                    ConsumerEvent::CommitCompleted {
                        id: done, results, ..
                    } if done == id => {
                        result = Some(
                            results
                                .iter()
                                .find(|(_, _, code)| *code != ErrorCode::None)
                                .map_or(Ok(()), |(_, _, code)| Err(Error::CommitFailed(*code))),
                        );
                    }
                    other => self.buffered.push_back(other),
                }
            }
            if let Some(result) = result {
                return result;
            }
            if self.shared.clock.now() >= deadline {
                return Err(Error::Timeout("the commit's answer"));
            }
            let _ = self
                .notified
                .recv_timeout(self.shared.clock.until(deadline).min(RECORD_CHECK));
        }
    }

    /// Commits without waiting; the result arrives as a
    /// [`ConsumerEvent::CommitCompleted`] from a later [`poll`](Self::poll). `None` commits the
    /// position after every record returned so far.
    ///
    /// # Errors
    /// The local refusals of [`ConsumerCoordinator::commit`].
    pub fn commit_async(&mut self, offsets: Option<Vec<OffsetCommit>>) -> Result<CommitId, Error> {
        let consumed = std::mem::take(&mut self.consumed);
        self.shared.with(|m, now| {
            apply_positions(m, &consumed);
            m.commit(now, offsets)
        })
    }

    /// The group's committed offsets for `partitions`, asked of the coordinator (any
    /// partitions, owned or not).
    ///
    /// # Errors
    /// [`Error::CommitFailed`] never; [`Error::Timeout`] if no answer comes within
    /// `request.timeout.ms`; [`Error::IllegalState`] for a coordinator error.
    pub fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<Offset>)>, Error> {
        let group = self.shared.member.lock().config().group_id.clone();
        self.admin_next += 1;
        let id = RequestId(self.admin_next);
        self.admin.send(
            id,
            Request::OffsetFetch(OffsetFetchRequest {
                group_id: group,
                partitions: Some(partitions.to_vec()),
                require_stable: false,
            }),
        );
        loop {
            let Some((got, response)) = self.admin.recv_timeout(self.request_timeout) else {
                return Err(Error::Timeout("the committed offsets"));
            };
            if got != id {
                continue;
            }
            let Response::OffsetFetch(r) = response else {
                return Err(Error::IllegalState(
                    "the coordinator answered something else",
                ));
            };
            if r.error != ErrorCode::None {
                return Err(Error::CommitFailed(r.error));
            }
            return Ok(r
                .partitions
                .into_iter()
                .map(|(tp, result)| {
                    let offset = result.ok().flatten().map(|c| c.offset);
                    (tp, offset)
                })
                .collect());
        }
    }

    /// The offset of the next record `poll` returns from `tp`, once known.
    #[must_use]
    pub fn position(&self, tp: &TopicPartition) -> Option<Offset> {
        self.consumed
            .get(tp)
            .copied()
            .or_else(|| self.shared.member.lock().position(tp))
    }

    /// Moves the position of an owned partition: the next `poll` reads from `offset`.
    ///
    /// # Errors
    /// As [`ConsumerCoordinator::seek`].
    pub fn seek(&mut self, tp: &TopicPartition, offset: Offset) -> Result<(), Error> {
        self.consumed.remove(tp);
        self.shared.member.lock().seek(tp, offset)
    }

    /// Stops returning records of `partitions` (they stay assigned).
    pub fn pause<I: IntoIterator<Item = TopicPartition>>(&mut self, partitions: I) {
        self.paused.extend(partitions);
    }

    /// Returns records of `partitions` again.
    pub fn resume<I: IntoIterator<Item = TopicPartition>>(&mut self, partitions: I) {
        for tp in partitions {
            self.paused.remove(&tp);
        }
    }

    /// The paused partitions, sorted.
    #[must_use]
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.paused.iter().cloned().collect()
    }

    /// The partitions the member owns, sorted.
    #[must_use]
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.member.lock().assignment()
    }

    /// The member id the coordinator gave this consumer.
    #[must_use]
    pub fn member_id(&self) -> MemberId {
        self.shared.member.lock().member_id().clone()
    }

    /// The generation of the member's assignment.
    #[must_use]
    pub fn generation(&self) -> Generation {
        self.shared.member.lock().generation()
    }

    /// Where the member is.
    #[must_use]
    pub fn state(&self) -> MemberState {
        self.shared.member.lock().state()
    }

    /// Closes the consumer: commits what was consumed (with auto-commit), leaves the group
    /// (dynamic members), and stops its thread. Waits at most `request.timeout.ms`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the close did not finish in time (the thread is stopped anyway).
    pub fn close(mut self) -> Result<(), Error> {
        let consumed = std::mem::take(&mut self.consumed);
        self.shared.with(|m, now| {
            apply_positions(m, &consumed);
            m.close(now);
        });
        let deadline = self
            .shared
            .clock
            .now()
            .plus_millis(u64::try_from(self.request_timeout.as_millis()).unwrap_or(u64::MAX));
        loop {
            if self.shared.member.lock().state() == MemberState::Closed {
                return Ok(());
            }
            if self.shared.clock.now() >= deadline {
                return Err(Error::Timeout("the close"));
            }
            let _ = self
                .notified
                .recv_timeout(self.shared.clock.until(deadline).min(RECORD_CHECK));
        }
    }
}

/// Applies the host's reading progress to the member (partitions it no longer owns are
/// skipped: their records were read under an assignment that has ended).
fn apply_positions(member: &mut ConsumerCoordinator, consumed: &BTreeMap<TopicPartition, Offset>) {
    for (tp, offset) in consumed {
        let _ = member.seek(tp, *offset);
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.heartbeat.take() {
            let _ = thread.join();
        }
    }
}
