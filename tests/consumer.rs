//! `ConsumerCoordinator` wired to the real `GroupCoordinator` in-process: joins, leaves,
//! eager and cooperative rebalances, static members, poll timeouts, failover, every error-code
//! path, positions and commits, and a proptest of random operation sequences.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use consumer_groups::assignor::TopicSpec;
use consumer_groups::consumer::{
    ConsumerConfig, ConsumerCoordinator, ConsumerEvent, ConsumerGroupMetadata, MemberState,
    OffsetReset,
};
use consumer_groups::coordinator::{CoordinatorConfig, GroupCoordinator, GroupState};
use consumer_groups::log::MemoryLog;
use consumer_groups::offsets::{LogOffsetStore, OffsetCommit, OffsetStore};
use consumer_groups::protocol::group::{FindCoordinatorResponse, TxnOffsetCommitRequest};
use consumer_groups::protocol::{Request, RequestId, Response};
use consumer_groups::{
    AssignorRegistry, Error, ErrorCode, Generation, GroupId, GroupInstanceId, MemberId, Offset,
    RebalanceProtocol, Timestamp, TopicPartition,
};
use proptest::prelude::*;

const GROUP: &str = "readers";
const TOPIC: &str = "orders";
const PARTITIONS: u32 = 6;

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new(TOPIC, p)
}

fn tps(ps: &[i32]) -> Vec<TopicPartition> {
    ps.iter().map(|&p| tp(p)).collect()
}

/// A member's config: short timeouts so tests move quickly through time.
fn config(assignors: &[&str]) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(GROUP);
    c.session_timeout_ms = 10_000;
    c.heartbeat_interval_ms = 1_000;
    c.max_poll_interval_ms = 30_000;
    c.enable_auto_commit = false;
    c.auto_offset_reset = OffsetReset::Earliest;
    c.assignors = assignors.iter().map(|s| s.to_string()).collect();
    c
}

/// One member and what the test's host does for it.
struct Member {
    c: ConsumerCoordinator,
    events: Vec<ConsumerEvent>,
    /// Acknowledge revocations as soon as they arrive.
    auto_ack: bool,
    /// A crashed member's messages are dropped both ways.
    crashed: bool,
    /// Call `poll(now)` whenever time moves (an application that keeps polling).
    polling: bool,
}

/// The coordinator, its store, and the members, with a host that carries messages.
struct Cluster {
    now: Timestamp,
    log: Arc<MemoryLog>,
    store: Arc<LogOffsetStore>,
    coordinator: GroupCoordinator,
    members: Vec<Member>,
    /// Coordinator-side tag → (member, member-side tag).
    routes: HashMap<RequestId, (usize, RequestId)>,
    next: u64,
    /// Check that no partition is held by two members at any moment (cooperative).
    strict: bool,
    /// Check ownership at all (off where a test makes a zombie member on purpose).
    check: bool,
    /// Requests sent by members, for assertions.
    sent: Vec<(usize, Request)>,
}

fn coordinator_config() -> CoordinatorConfig {
    CoordinatorConfig {
        initial_rebalance_delay_ms: 0,
        ..CoordinatorConfig::default()
    }
}

impl Cluster {
    fn new() -> Cluster {
        Cluster::with_config(coordinator_config())
    }

    fn with_config(config: CoordinatorConfig) -> Cluster {
        let log = Arc::new(MemoryLog::new(4));
        let store = Arc::new(LogOffsetStore::new(log.clone()));
        Cluster {
            now: Timestamp(1_000_000),
            coordinator: GroupCoordinator::new(config, store.clone()),
            log,
            store,
            members: Vec::new(),
            routes: HashMap::new(),
            next: 0,
            strict: false,
            check: true,
            sent: Vec::new(),
        }
    }

    /// Adds a member subscribed to the topic, polling, and waits until the group is stable.
    fn join(&mut self, config: ConsumerConfig) -> usize {
        let i = self.add(config);
        self.until_stable();
        i
    }

    /// Adds a member subscribed to the topic, polling, and carries messages until nothing
    /// moves (without moving time).
    fn add(&mut self, config: ConsumerConfig) -> usize {
        let mut c = ConsumerCoordinator::new(config).expect("valid config");
        c.update_metadata(self.now, [TopicSpec::new(TOPIC, PARTITIONS)]);
        c.subscribe(self.now, [TOPIC]).expect("subscribe");
        c.poll(self.now);
        self.members.push(Member {
            c,
            events: Vec::new(),
            auto_ack: true,
            crashed: false,
            polling: true,
        });
        self.settle();
        self.members.len() - 1
    }

    /// Moves time in small steps (heartbeats carry the news of a rebalance to existing
    /// members) until the group and every live member are stable in one generation, at most
    /// one minute.
    fn until_stable(&mut self) {
        for _ in 0..600 {
            self.settle();
            if self.is_stable() {
                return;
            }
            self.advance(100);
        }
        panic!("the group did not stabilise");
    }

    fn is_stable(&self) -> bool {
        let generation = self.coordinator.generation(GROUP);
        self.group_state() == Some(GroupState::Stable)
            && self
                .members
                .iter()
                .filter(|m| !m.crashed && m.c.state() != MemberState::Closed)
                .all(|m| {
                    m.c.state() == MemberState::Stable
                        && Some(m.c.generation()) == generation
                        && m.c.revoking().is_empty()
                })
    }

    /// Carries messages until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the cluster did not settle");
    }

    /// One round of message passing; `true` if anything moved.
    fn step(&mut self) -> bool {
        let mut moved = false;
        let now = self.now;
        for i in 0..self.members.len() {
            while let Some((id, request)) = self.members[i].c.poll_request() {
                moved = true;
                if self.members[i].crashed {
                    continue;
                }
                if std::env::var("TRACE").is_ok() {
                    eprintln!("{} {i} -> {request:?}", self.now.0);
                }
                self.sent.push((i, request.clone()));
                self.deliver(i, id, request);
            }
        }
        while let Some((tag, response)) = self.coordinator.poll_response() {
            moved = true;
            let Some((i, id)) = self.routes.remove(&tag) else {
                continue;
            };
            if self.members[i].crashed {
                continue;
            }
            if std::env::var("TRACE").is_ok() {
                eprintln!("{} {i} <- {response:?}", self.now.0);
            }
            self.members[i].c.handle_response(now, id, response);
            self.check_ownership();
        }
        for i in 0..self.members.len() {
            while let Some(e) = self.members[i].c.poll_event() {
                moved = true;
                if let ConsumerEvent::PartitionsRevoked { .. } = &e {
                    if self.members[i].auto_ack
                        && self.members[i].c.state() == MemberState::Revoking
                    {
                        self.members[i].c.revocation_done(now).expect("ack");
                    }
                }
                if let ConsumerEvent::ResetOffsets { partitions, .. } = &e {
                    for p in partitions {
                        self.members[i].c.seek(p, Offset(0)).expect("seek");
                    }
                }
                self.members[i].events.push(e);
            }
        }
        self.check_ownership();
        moved
    }

    /// At every moment: no partition has two owners in one generation; with `strict`, no
    /// partition has two holders at all (counting partitions being revoked, which the host may
    /// still be processing).
    fn check_ownership(&mut self) {
        if !self.check {
            return;
        }
        let mut now_held: BTreeMap<TopicPartition, usize> = BTreeMap::new();
        let mut in_generation: BTreeMap<(Generation, TopicPartition), usize> = BTreeMap::new();
        for (i, m) in self.members.iter().enumerate() {
            if m.crashed || m.c.state() == MemberState::Closed {
                continue;
            }
            let g = m.c.generation();
            for p in m.c.assignment() {
                if m.c.state() == MemberState::Stable || m.c.state() == MemberState::Revoking {
                    let prev = in_generation.insert((g, p.clone()), i);
                    assert!(
                        prev.is_none(),
                        "{p} owned by members {prev:?} and {i} in generation {g:?}"
                    );
                }
                if self.strict {
                    let prev = now_held.insert(p.clone(), i);
                    assert!(prev.is_none(), "{p} held by {prev:?} and {i} at once");
                }
            }
            if self.strict {
                for p in m.c.revoking() {
                    let prev = now_held.insert(p.clone(), i);
                    assert!(prev.is_none(), "{p} held by {prev:?} and {i} at once");
                }
            }
        }
    }

    /// Moves time forward by `ms` in steps of at most 100 ms, firing every due timer and
    /// polling for the members that poll.
    fn advance(&mut self, ms: u64) {
        let end = self.now.plus_millis(ms);
        while self.now < end {
            self.now = self.now.plus_millis(100).min(end);
            let now = self.now;
            for m in &mut self.members {
                if m.crashed {
                    continue;
                }
                if m.polling {
                    m.c.poll(now);
                }
                if m.c.poll_timeout().is_some_and(|t| t <= now) {
                    m.c.handle_timeout(now);
                }
            }
            if self.coordinator.poll_timeout().is_some_and(|t| t <= now) {
                self.coordinator.handle_timeout(now);
            }
            self.settle();
        }
    }

    /// A paused member resumes: like any host, it first fires the timers that fell due while
    /// it was away (a session that ended means its partitions are lost), then carries on.
    fn revive(&mut self, i: usize) {
        let now = self.now;
        if let Some(m) = self.members.get_mut(i) {
            m.crashed = false;
            if m.c.poll_timeout().is_some_and(|t| t <= now) {
                m.c.handle_timeout(now);
            }
        }
        self.settle();
    }

    fn assignment(&self, i: usize) -> Vec<TopicPartition> {
        self.members[i].c.assignment()
    }

    fn take_events(&mut self, i: usize) -> Vec<ConsumerEvent> {
        std::mem::take(&mut self.members[i].events)
    }

    /// Every partition of the topic is owned by exactly one live member.
    fn assert_fully_assigned(&self) {
        let mut all: Vec<TopicPartition> = self
            .members
            .iter()
            .filter(|m| !m.crashed && m.c.state() != MemberState::Closed)
            .flat_map(|m| m.c.assignment())
            .collect();
        all.sort();
        assert_eq!(all, tps(&(0..PARTITIONS as i32).collect::<Vec<_>>()));
    }

    fn group_state(&self) -> Option<GroupState> {
        self.coordinator.group_state(GROUP)
    }

    fn committed(&self, p: i32) -> Option<Offset> {
        let fetched = self.store.fetch(&GROUP.into(), &[tp(p)], false);
        fetched[0].clone().ok().flatten().map(|c| c.offset)
    }

    /// The kinds of the requests member `i` sent since the last call.
    fn sent_kinds(&mut self, i: usize) -> Vec<&'static str> {
        let kinds = self
            .sent
            .iter()
            .filter(|(m, _)| *m == i)
            .map(|(_, r)| kind(r))
            .collect();
        self.sent.retain(|(m, _)| *m != i);
        kinds
    }
}

fn kind(r: &Request) -> &'static str {
    match r {
        Request::JoinGroup(_) => "JoinGroup",
        Request::SyncGroup(_) => "SyncGroup",
        Request::Heartbeat(_) => "Heartbeat",
        Request::LeaveGroup(_) => "LeaveGroup",
        Request::OffsetCommit(_) => "OffsetCommit",
        Request::OffsetFetch(_) => "OffsetFetch",
        Request::FindCoordinator(_) => "FindCoordinator",
        _ => "other",
    }
}

/// Assigned events as (added, generation) pairs; revoked and lost as partition lists.
fn summary(events: &[ConsumerEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ConsumerEvent::PartitionsRevoked { partitions } => {
                Some(format!("revoked {}", list(partitions)))
            }
            ConsumerEvent::PartitionsAssigned {
                partitions,
                generation,
                ..
            } => Some(format!("assigned {} g{}", list(partitions), generation.0)),
            ConsumerEvent::PartitionsLost { partitions } => {
                Some(format!("lost {}", list(partitions)))
            }
            ConsumerEvent::Fatal { error } => Some(format!("fatal {}", error.name())),
            ConsumerEvent::PollTimeoutExpired => Some("poll timeout".into()),
            ConsumerEvent::Closed => Some("closed".into()),
            _ => None,
        })
        .collect()
}

fn list(ps: &[TopicPartition]) -> String {
    if ps.is_empty() {
        return "-".into();
    }
    ps.iter()
        .map(|p| p.partition.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

// ---- Configuration and construction ----------------------------------------------------------

#[test]
fn protocol_is_cooperative_only_when_every_assignor_supports_it() {
    let c = ConsumerCoordinator::new(config(&["cooperative-sticky"])).unwrap();
    assert_eq!(c.rebalance_protocol(), RebalanceProtocol::Cooperative);
    let c = ConsumerCoordinator::new(config(&["range", "cooperative-sticky"])).unwrap();
    assert_eq!(c.rebalance_protocol(), RebalanceProtocol::Eager);
}

#[test]
fn an_assignor_missing_from_the_registry_is_a_config_error() {
    let err = ConsumerCoordinator::with_assignors(config(&["sticky"]), AssignorRegistry::new())
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidConfig { ref key, .. } if key == "partition.assignment.strategy")
    );
}

#[test]
fn subscribe_and_assign_are_mutually_exclusive() {
    let now = Timestamp(0);
    let mut c = ConsumerCoordinator::new(config(&["range"])).unwrap();
    c.assign(now, [tp(0)]).unwrap();
    assert!(matches!(
        c.subscribe(now, [TOPIC]),
        Err(Error::IllegalState(_))
    ));
    let mut c = ConsumerCoordinator::new(config(&["range"])).unwrap();
    c.subscribe(now, [TOPIC]).unwrap();
    assert!(matches!(
        c.assign(now, [tp(0)]),
        Err(Error::IllegalState(_))
    ));
    assert!(matches!(c.subscribe(now, [""]), Err(Error::EmptyId(_))));
}

// ---- Joining ---------------------------------------------------------------------------------

#[test]
fn first_join_uses_the_member_id_from_member_id_required() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let kinds = k.sent_kinds(a);
    assert_eq!(
        kinds,
        [
            "FindCoordinator",
            "JoinGroup",
            "JoinGroup",
            "SyncGroup",
            "OffsetFetch"
        ]
    );
    let joins: Vec<String> = k
        .sent
        .iter()
        .filter_map(|(_, r)| match r {
            Request::JoinGroup(j) => Some(j.member_id.to_string()),
            _ => None,
        })
        .collect();
    assert!(joins.is_empty(), "sent_kinds drained the log");
    assert!(!k.members[a].c.member_id().is_empty());
    assert!(k.members[a].c.is_leader());
    assert_eq!(k.members[a].c.generation(), Generation(1));
    assert_eq!(k.members[a].c.state(), MemberState::Stable);
    assert_eq!(k.group_state(), Some(GroupState::Stable));
}

#[test]
fn the_join_carries_the_configured_timeouts_protocols_and_subscription() {
    let now = Timestamp(0);
    let mut cfg = config(&["cooperative-sticky", "range"]);
    cfg.client_rack = Some("az-1".into());
    let mut c = ConsumerCoordinator::new(cfg).unwrap();
    c.subscribe(now, ["b", "a"]).unwrap();
    c.poll(now);
    let (id, r) = c.poll_request().unwrap();
    assert!(matches!(r, Request::FindCoordinator(ref g) if g == GROUP));
    c.handle_response(
        now,
        id,
        Response::FindCoordinator(FindCoordinatorResponse {
            error: ErrorCode::None,
            partition: 0,
        }),
    );
    let (_, Request::JoinGroup(j)) = c.poll_request().unwrap() else {
        panic!("a JoinGroup")
    };
    assert_eq!(j.session_timeout_ms, 10_000);
    assert_eq!(j.rebalance_timeout_ms, 30_000);
    assert_eq!(j.member_id, "");
    assert_eq!(j.protocol_type, "consumer");
    let names: Vec<&str> = j.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["cooperative-sticky", "range"]);
    let (version, sub) =
        consumer_groups::protocol::consumer::Subscription::decode(&j.protocols[1].metadata)
            .unwrap();
    assert_eq!(version, 3);
    assert_eq!(sub.topics, ["a", "b"]);
    assert_eq!(sub.rack.as_deref(), Some("az-1"));
    assert_eq!(sub.generation, -1);
}

#[test]
fn no_join_before_the_first_poll() {
    let now = Timestamp(0);
    let mut c = ConsumerCoordinator::new(config(&["range"])).unwrap();
    c.subscribe(now, [TOPIC]).unwrap();
    let (id, _) = c.poll_request().unwrap();
    c.handle_response(
        now,
        id,
        Response::FindCoordinator(FindCoordinatorResponse {
            error: ErrorCode::None,
            partition: 0,
        }),
    );
    assert!(c.poll_request().is_none(), "waits for poll()");
    c.poll(now);
    assert!(matches!(c.poll_request(), Some((_, Request::JoinGroup(_)))));
}

#[test]
fn two_members_split_the_partitions_and_every_sync_announces_an_assignment() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    assert_eq!(summary(&k.take_events(a)), ["assigned 0,1,2,3,4,5 g1"]);
    let b = k.join(config(&["range"]));
    k.settle();
    // Eager: a gives everything up before rejoining, then gets its half back.
    assert_eq!(
        summary(&k.take_events(a)),
        ["revoked 0,1,2,3,4,5", "assigned 0,1,2 g2"]
    );
    assert_eq!(summary(&k.take_events(b)), ["assigned 3,4,5 g2"]);
    assert_eq!(k.assignment(a), tps(&[0, 1, 2]));
    assert_eq!(k.assignment(b), tps(&[3, 4, 5]));
    k.assert_fully_assigned();
}

#[test]
fn three_members_join_and_the_leader_assigns_with_the_chosen_assignor() {
    let mut k = Cluster::new();
    let a = k.join(config(&["roundrobin"]));
    let b = k.join(config(&["roundrobin"]));
    let c = k.join(config(&["roundrobin"]));
    assert!(k.members[a].c.is_leader());
    assert!(!k.members[b].c.is_leader() && !k.members[c].c.is_leader());
    assert_eq!(k.members[a].c.protocol_name(), Some("roundrobin"));
    for i in [a, b, c] {
        assert_eq!(k.members[i].c.generation(), Generation(3));
        assert_eq!(k.assignment(i).len(), 2);
    }
    k.assert_fully_assigned();
}

#[test]
fn a_member_with_an_empty_assignment_still_gets_an_assigned_event() {
    let mut k = Cluster::new();
    let mut members = Vec::new();
    for _ in 0..7 {
        members.push(k.join(config(&["range"])));
    }
    let idle: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| summary(&k.take_events(i)).last().unwrap() == "assigned - g7")
        .collect();
    assert_eq!(idle.len(), 1, "one of seven members has nothing to read");
    k.assert_fully_assigned();
}

#[test]
fn the_leader_leaving_hands_leadership_over_and_the_rest_rebalance_at_once() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let b = k.join(config(&["range"]));
    let c = k.join(config(&["range"]));
    assert!(k.members[a].c.is_leader());
    k.take_events(b);
    k.members[a].c.close(k.now);
    k.until_stable();
    assert_eq!(summary(&k.take_events(a)).last().unwrap(), "closed");
    assert!(k.sent_kinds(a).contains(&"LeaveGroup"));
    // No session timeout had to pass: the LeaveGroup started the rebalance.
    assert_eq!(k.members[b].c.generation(), Generation(4));
    assert!(k.members[b].c.is_leader() || k.members[c].c.is_leader());
    assert_eq!(k.members[a].c.state(), MemberState::Closed);
    k.assert_fully_assigned();
    assert_eq!(k.group_state(), Some(GroupState::Stable));
}

// ---- Eager versus cooperative ----------------------------------------------------------------

#[test]
fn cooperative_rebalance_never_revokes_unmoved_partitions_and_never_double_assigns() {
    let mut k = Cluster::new();
    k.strict = true;
    let a = k.join(config(&["cooperative-sticky"]));
    assert_eq!(summary(&k.take_events(a)), ["assigned 0,1,2,3,4,5 g1"]);
    let b = k.join(config(&["cooperative-sticky"]));
    // First round: a gives up only what moves, keeps the rest; b gets nothing yet.
    // Second round (a rejoined at once): b gets the moved partitions.
    let ea = summary(&k.take_events(a));
    let eb = summary(&k.take_events(b));
    assert_eq!(ea[0], "revoked 3,4,5");
    assert_eq!(ea[1], "assigned - g2");
    assert_eq!(ea[2], "assigned - g3");
    assert_eq!(ea.len(), 3);
    assert_eq!(eb, ["assigned - g2", "assigned 3,4,5 g3"]);
    assert_eq!(k.assignment(a), tps(&[0, 1, 2]));
    assert_eq!(k.assignment(b), tps(&[3, 4, 5]));
    // A third member: each of a and b gives up one partition, nothing else is revoked.
    let c = k.join(config(&["cooperative-sticky"]));
    for i in [a, b] {
        let revoked: Vec<String> = summary(&k.take_events(i))
            .into_iter()
            .filter(|e| e.starts_with("revoked"))
            .collect();
        assert_eq!(revoked.len(), 1, "one revocation per member: {revoked:?}");
        assert_eq!(
            revoked[0].split(',').count(),
            1,
            "one partition: {revoked:?}"
        );
        assert_eq!(k.assignment(i).len(), 2);
    }
    assert_eq!(k.assignment(c).len(), 2);
    k.assert_fully_assigned();
}

#[test]
fn a_cooperative_member_that_lost_what_its_join_announced_asks_for_the_follow_up_round() {
    let mut k = Cluster::new();
    k.strict = true;
    let a = k.join(config(&["cooperative-sticky"]));
    k.take_events(a);
    // c joins; its JoinGroup waits for a.
    let c = k.add(config(&["cooperative-sticky"]));
    // a hears of the rebalance and rejoins, announcing all six partitions; its JoinGroup is
    // held back on the way.
    let (join_id, join) = k.hold_next_join(a);
    // A late heartbeat answer tells a its generation is over: it loses the six partitions
    // but keeps its JoinGroup going.
    k.answer_next_heartbeat(a, ErrorCode::IllegalGeneration);
    assert_eq!(summary(&k.take_events_direct(a)), ["lost 0,1,2,3,4,5"]);
    // The JoinGroup arrives. The leader keeps three partitions with a (which announced
    // them) and withholds the three that move to c; a, holding nothing, revokes nothing, so
    // only its own check of what it announced brings the second round.
    k.deliver(a, join_id, join);
    k.until_stable();
    k.advance(1_000);
    k.until_stable();
    assert_eq!(k.assignment(a).len(), 3);
    assert_eq!(k.assignment(c).len(), 3);
    k.assert_fully_assigned();
}

#[test]
fn a_cooperative_member_whose_join_is_lost_gives_up_its_partitions_before_they_move() {
    let mut k = Cluster::new();
    k.strict = true;
    let a = k.join(config(&["cooperative-sticky"]));
    k.take_events(a);
    // Out of step with a's heartbeats (next paragraph), so none lands just as the join
    // phase ends.
    k.advance(400);
    let c = k.add(config(&["cooperative-sticky"]));
    k.advance(300);
    // a hears of the rebalance and rejoins, but its JoinGroup is lost on the way. Its
    // heartbeats still get through (REBALANCE_IN_PROGRESS), so its session stays alive.
    let _lost = k.hold_next_join(a);
    // After the rebalance timeout (30 s) the coordinator finishes the join phase without a
    // and hands everything to c. a lets go first: the strict check would fail otherwise.
    k.advance(27_500);
    assert_eq!(
        k.assignment(a).len(),
        6,
        "held while the coordinator may still wait"
    );
    k.advance(4_000);
    let events = summary(&k.take_events(a));
    assert_eq!(events[0], "lost 0,1,2,3,4,5", "{events:?}");
    // Its next heartbeat finds it gone (UNKNOWN_MEMBER_ID); it rejoins and the group shares
    // the partitions again, never with two holders at once.
    k.until_stable();
    k.advance(2_000);
    k.until_stable();
    assert_eq!(k.assignment(a).len(), 3);
    assert_eq!(k.assignment(c).len(), 3);
}

#[test]
fn eager_revokes_everything_before_rejoining() {
    let mut k = Cluster::new();
    let a = k.join(config(&["sticky"]));
    let _b = k.join(config(&["sticky"]));
    let e = summary(&k.take_events(a));
    assert_eq!(e[1], "revoked 0,1,2,3,4,5");
    // Sticky keeps a's first three partitions in place even though a revoked them all.
    assert_eq!(k.assignment(a).len(), 3);
}

#[test]
fn the_join_waits_for_the_hosts_revocation_acknowledgment() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    k.members[a].c.seek(&tp(0), Offset(42)).unwrap();
    k.members[a].auto_ack = false;
    k.take_events(a);
    k.sent_kinds(a);
    let _b = k.add(config(&["range"]));
    k.advance(1_500); // a's heartbeat learns of the rebalance
    assert_eq!(k.members[a].c.state(), MemberState::Revoking);
    assert_eq!(summary(&k.take_events(a)), ["revoked 0,1,2,3,4,5"]);
    assert!(
        !k.sent_kinds(a).contains(&"JoinGroup"),
        "no JoinGroup before the acknowledgment"
    );
    // The host commits the revoked partition's offset in the window.
    let id = k.members[a]
        .c
        .commit(k.now, Some(vec![OffsetCommit::new(tp(0), Offset(42))]))
        .unwrap();
    k.settle();
    let done = k
        .take_events(a)
        .into_iter()
        .find(|e| matches!(e, ConsumerEvent::CommitCompleted { id: i, .. } if *i == id))
        .unwrap();
    assert!(done.is_successful_commit());
    assert_eq!(k.committed(0), Some(Offset(42)));
    k.members[a].c.revocation_done(k.now).unwrap();
    k.until_stable();
    assert!(k.sent_kinds(a).contains(&"JoinGroup"));
    k.assert_fully_assigned();
    assert!(matches!(
        k.members[a].c.revocation_done(k.now),
        Err(Error::IllegalState(_))
    ));
}

// ---- Static membership -----------------------------------------------------------------------

#[test]
fn static_member_restart_within_the_session_timeout_causes_no_rebalance() {
    let mut k = Cluster::new();
    let mut sa = config(&["range"]);
    sa.group_instance_id = Some(GroupInstanceId::from("instance-a"));
    let a = k.join(sa.clone());
    let b = k.join(config(&["range"]));
    let before = k.assignment(a);
    let generation = k.members[b].c.generation();
    k.take_events(b);
    // The static member closes: no LeaveGroup.
    k.members[a].c.close(k.now);
    k.settle();
    assert!(!k.sent_kinds(a).contains(&"LeaveGroup"));
    k.advance(3_000);
    // It restarts with the same instance id before its session ends.
    let a2 = k.join(sa);
    assert_eq!(k.assignment(a2), before);
    assert_eq!(k.members[b].c.generation(), generation);
    assert!(summary(&k.take_events(b)).is_empty(), "b saw no rebalance");
    assert_eq!(k.group_state(), Some(GroupState::Stable));
}

#[test]
fn a_duplicate_static_member_fences_the_old_one_fatally() {
    let mut k = Cluster::new();
    let mut sa = config(&["range"]);
    sa.group_instance_id = Some(GroupInstanceId::from("instance-a"));
    let a = k.join(sa.clone());
    // The new instance takes a's place and assignment while a still believes it owns them,
    // until its next heartbeat is fenced (as in Kafka).
    k.check = false;
    k.members[a].crashed = true;
    let _a2 = k.join(sa);
    k.members[a].crashed = false;
    k.advance(2_000); // a's next heartbeat gets FENCED_INSTANCE_ID
    let events = summary(&k.take_events(a));
    assert_eq!(
        events[events.len() - 2..],
        ["lost 0,1,2,3,4,5", "fatal FENCED_INSTANCE_ID"]
    );
    assert_eq!(k.members[a].c.state(), MemberState::Closed);
    assert_eq!(
        k.members[a].c.fatal_error(),
        Some(ErrorCode::FencedInstanceId)
    );
    assert!(matches!(
        k.members[a].c.commit(k.now, None),
        Err(Error::Closed)
    ));
}

#[test]
fn a_replaced_static_leader_notices_partitions_added_while_it_was_away() {
    let mut k = Cluster::new();
    let mut sa = config(&["range"]);
    sa.group_instance_id = Some(GroupInstanceId::from("instance-a"));
    let a = k.join(sa.clone());
    let b = k.join(config(&["range"]));
    assert!(k.members[a].c.is_leader());
    // The static leader goes away without leaving; the topic grows meanwhile. Only the
    // leader watches partition counts, so the follower's news changes nothing.
    k.members[a].c.close(k.now);
    k.settle();
    k.members[b]
        .c
        .update_metadata(k.now, [TopicSpec::new(TOPIC, PARTITIONS + 2)]);
    k.advance(3_000);
    // It comes back within its session: the coordinator hands it the stored assignment
    // without running the assignor (KIP-814). The partition counts that assignment was
    // planned for differ from what the leader sees now, so it asks for a rebalance.
    let mut c = ConsumerCoordinator::new(sa).expect("valid config");
    c.update_metadata(k.now, [TopicSpec::new(TOPIC, PARTITIONS + 2)]);
    c.subscribe(k.now, [TOPIC]).expect("subscribe");
    c.poll(k.now);
    k.members.push(Member {
        c,
        events: Vec::new(),
        auto_ack: true,
        crashed: false,
        polling: true,
    });
    let a2 = k.members.len() - 1;
    k.until_stable();
    k.advance(2_000);
    k.until_stable();
    let mut all: Vec<TopicPartition> = [a2, b].iter().flat_map(|&i| k.assignment(i)).collect();
    all.sort();
    assert_eq!(all, tps(&(0..PARTITIONS as i32 + 2).collect::<Vec<_>>()));
}

// ---- Liveness --------------------------------------------------------------------------------

#[test]
fn heartbeats_keep_a_stable_member_in_its_group() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    k.sent_kinds(a);
    k.advance(60_000);
    let kinds = k.sent_kinds(a);
    let beats = kinds.iter().filter(|k| **k == "Heartbeat").count();
    assert!((55..=61).contains(&beats), "{beats} heartbeats in 60 s");
    assert_eq!(k.members[a].c.generation(), Generation(1));
    assert_eq!(k.group_state(), Some(GroupState::Stable));
}

#[test]
fn max_poll_interval_expiry_leaves_the_group_and_the_next_poll_rejoins() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let b = k.join(config(&["range"]));
    k.take_events(a);
    k.members[a].polling = false;
    k.advance(31_000);
    assert_eq!(
        summary(&k.take_events(a)),
        ["poll timeout", "lost 0,1,2"],
        "lost, not revoked"
    );
    assert!(k.sent_kinds(a).contains(&"LeaveGroup"));
    assert_eq!(k.members[a].c.state(), MemberState::Unjoined);
    assert_eq!(k.assignment(b).len(), 6, "b took everything over");
    // The application comes back.
    k.members[a].polling = true;
    k.advance(1_000);
    assert_eq!(k.assignment(a).len(), 3);
    k.assert_fully_assigned();
}

#[test]
fn a_static_member_whose_poll_times_out_sends_no_leave_group() {
    let mut k = Cluster::new();
    let mut sa = config(&["range"]);
    sa.group_instance_id = Some(GroupInstanceId::from("instance-a"));
    let a = k.join(sa);
    k.sent_kinds(a);
    k.members[a].polling = false;
    k.advance(31_000);
    assert!(!k.sent_kinds(a).contains(&"LeaveGroup"));
    assert!(summary(&k.take_events(a)).contains(&"lost 0,1,2,3,4,5".to_string()));
}

#[test]
fn a_crashed_member_loses_its_partitions_after_the_session_timeout() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let b = k.join(config(&["range"]));
    k.members[a].crashed = true;
    k.advance(5_000);
    assert_eq!(k.assignment(b).len(), 3, "still waiting for a's session");
    k.advance(7_000);
    assert_eq!(k.assignment(b).len(), 6);
}

// ---- Error-code paths ------------------------------------------------------------------------

#[test]
fn unknown_member_id_on_heartbeat_loses_partitions_resets_the_id_and_rejoins() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    k.take_events(a);
    k.answer_next_heartbeat(a, ErrorCode::UnknownMemberId);
    assert_eq!(summary(&k.take_events_direct(a)), ["lost 0,1,2,3,4,5"]);
    assert_eq!(k.members[a].c.member_id(), "");
    let (_, Request::JoinGroup(j)) = k.members[a].c.poll_request().unwrap() else {
        panic!("rejoins at once")
    };
    assert_eq!(j.member_id, "", "with no member id");
}

#[test]
fn a_member_whose_session_ended_while_paused_loses_its_partitions_and_rejoins_with_a_new_id() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let _b = k.join(config(&["range"]));
    let old_id = k.members[a].c.member_id().clone();
    k.take_events(a);
    // a goes silent past its session; the coordinator removes it.
    k.members[a].crashed = true;
    k.advance(12_000);
    k.members[a].crashed = false;
    k.advance(1_000);
    let events = summary(&k.take_events(a));
    assert_eq!(events[0], "lost 0,1,2");
    assert_ne!(k.members[a].c.member_id(), &old_id, "a new member id");
    assert_eq!(k.assignment(a).len(), 3);
    k.assert_fully_assigned();
}

#[test]
fn illegal_generation_on_heartbeat_loses_partitions_and_keeps_the_member_id() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let id = k.members[a].c.member_id().clone();
    k.take_events(a);
    // Time for a heartbeat; answer it with ILLEGAL_GENERATION.
    k.answer_next_heartbeat(a, ErrorCode::IllegalGeneration);
    assert_eq!(summary(&k.take_events_direct(a)), ["lost 0,1,2,3,4,5"]);
    assert_eq!(k.members[a].c.member_id(), &id);
    assert_eq!(k.members[a].c.generation(), Generation::NONE);
    let (_, Request::JoinGroup(j)) = k.members[a].c.poll_request().unwrap() else {
        panic!("rejoins at once")
    };
    assert_eq!(j.member_id, id);
}

impl Cluster {
    /// Moves time to member `i`'s next heartbeat and answers it with `code` (instead of the
    /// coordinator), checking that a heartbeat is what went out.
    fn answer_next_heartbeat(&mut self, i: usize, code: ErrorCode) {
        self.now = self.now.plus_millis(1_000);
        self.members[i].c.handle_timeout(self.now);
        let (hb, r) = self.members[i].c.poll_request().expect("a request");
        assert_eq!(kind(&r), "Heartbeat");
        self.members[i]
            .c
            .handle_response(self.now, hb, Response::Heartbeat(code));
    }

    /// Member `i` hears of a rebalance from its next heartbeat and rejoins; its JoinGroup is
    /// taken off the wire and returned instead of delivered.
    fn hold_next_join(&mut self, i: usize) -> (RequestId, Request) {
        self.answer_next_heartbeat(i, ErrorCode::RebalanceInProgress);
        let (id, join) = self.members[i].c.poll_request().expect("a JoinGroup");
        assert_eq!(kind(&join), "JoinGroup");
        (id, join)
    }

    /// Delivers member `i`'s request `id` to the coordinator now.
    fn deliver(&mut self, i: usize, id: RequestId, request: Request) {
        self.next += 1;
        let tag = RequestId(self.next);
        self.routes.insert(tag, (i, id));
        self.coordinator.handle(self.now, tag, request);
    }

    /// Events straight from the member, without the host's automatic handling.
    fn take_events_direct(&mut self, i: usize) -> Vec<ConsumerEvent> {
        let mut out = std::mem::take(&mut self.members[i].events);
        while let Some(e) = self.members[i].c.poll_event() {
            out.push(e);
        }
        out
    }
}

#[test]
fn rebalance_in_progress_on_heartbeat_rejoins() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    k.take_events(a);
    k.answer_next_heartbeat(a, ErrorCode::RebalanceInProgress);
    assert_eq!(
        summary(&k.take_events_direct(a)),
        ["revoked 0,1,2,3,4,5"],
        "eager: everything revoked before the rejoin"
    );
    k.members[a].c.revocation_done(k.now).unwrap();
    assert!(matches!(
        k.members[a].c.poll_request(),
        Some((_, Request::JoinGroup(_)))
    ));
}

#[test]
fn coordinator_errors_send_the_member_looking_for_its_coordinator_with_backoff() {
    for error in [
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotCoordinator,
    ] {
        let mut k = Cluster::new();
        let a = k.join(config(&["range"]));
        k.take_events(a);
        k.answer_next_heartbeat(a, error);
        assert!(!k.members[a].c.coordinator_known());
        assert!(k.members[a].c.poll_request().is_none(), "backs off first");
        let retry = k.members[a].c.poll_timeout().unwrap();
        assert_eq!(retry, k.now.plus_millis(100), "retry.backoff.ms");
        k.members[a].c.handle_timeout(retry);
        let (_, r) = k.members[a].c.poll_request().unwrap();
        assert_eq!(kind(&r), "FindCoordinator");
        // Membership is kept: partitions are not lost for a coordinator move.
        assert_eq!(k.members[a].c.assignment().len(), 6);
        assert!(summary(&k.take_events_direct(a)).is_empty());
    }
}

#[test]
fn backoff_doubles_per_failure_up_to_the_maximum() {
    let now = Timestamp(0);
    let mut c = ConsumerCoordinator::new(config(&["range"])).unwrap();
    c.subscribe(now, [TOPIC]).unwrap();
    let mut at = now;
    let mut gaps = Vec::new();
    for _ in 0..6 {
        let (id, _) = c.poll_request().expect("FindCoordinator");
        c.handle_response(
            at,
            id,
            Response::FindCoordinator(FindCoordinatorResponse {
                error: ErrorCode::CoordinatorNotAvailable,
                partition: 0,
            }),
        );
        let next = c.poll_timeout().unwrap();
        gaps.push(next.0 - at.0);
        at = next;
        c.handle_timeout(at);
    }
    assert_eq!(gaps, [100, 200, 400, 800, 1_000, 1_000]);
}

#[test]
fn a_session_without_a_successful_heartbeat_rediscovers_the_coordinator() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    k.sent_kinds(a);
    // The coordinator stops answering: requests go out, nothing comes back.
    let mut t = k.now;
    for _ in 0..110 {
        t = t.plus_millis(100);
        k.members[a].c.poll(t);
        k.members[a].c.handle_timeout(t);
        while k.members[a].c.poll_request().is_some() {}
    }
    // The heartbeat's request timeout (30 s) is longer than the session (10 s): the session
    // check fires first.
    assert!(!k.members[a].c.coordinator_known());
}

#[test]
fn unload_and_failover_during_a_rebalance_completes_on_the_new_coordinator() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    k.members[a].c.seek(&tp(0), Offset(7)).unwrap();
    k.members[a].c.commit(k.now, None).unwrap();
    k.settle();
    // b starts joining; its JoinGroup is parked at the coordinator (a must rejoin too).
    let mut c = ConsumerCoordinator::new(config(&["range"])).unwrap();
    c.update_metadata(k.now, [TopicSpec::new(TOPIC, PARTITIONS)]);
    c.subscribe(k.now, [TOPIC]).unwrap();
    c.poll(k.now);
    k.members.push(Member {
        c,
        events: Vec::new(),
        auto_ack: true,
        crashed: false,
        polling: true,
    });
    let b = 1;
    for _ in 0..6 {
        k.step();
    }
    assert_eq!(k.group_state(), Some(GroupState::PreparingRebalance));
    // The coordinator's partition moves to a new coordinator over the same log.
    let partition = consumer_groups::log::partition_for(GROUP, 4);
    k.coordinator.unload_partition(partition);
    let mut fresh = GroupCoordinator::new(coordinator_config(), k.store.clone());
    fresh.load_partition(k.now, partition);
    // Answers to requests parked at the old coordinator come out of it (NOT_COORDINATOR).
    while let Some((tag, response)) = k.coordinator.poll_response() {
        if let Some((i, id)) = k.routes.remove(&tag) {
            k.members[i].c.handle_response(k.now, id, response);
        }
    }
    k.coordinator = fresh;
    k.advance(15_000);
    for i in [a, b] {
        eprintln!(
            "{i}: {:?} {:?} {:?} {:?}",
            k.members[i].c.state(),
            k.members[i].c.generation(),
            k.assignment(i),
            summary(&k.members[i].events)
        );
    }
    eprintln!(
        "{:?} {:?}",
        k.group_state(),
        k.coordinator.generation(GROUP)
    );
    k.assert_fully_assigned();
    assert_eq!(k.assignment(b).len(), 3);
    assert_eq!(k.group_state(), Some(GroupState::Stable));
    assert_eq!(k.committed(0), Some(Offset(7)));
    let owner = if k.assignment(a).contains(&tp(0)) {
        a
    } else {
        b
    };
    assert_eq!(k.members[owner].c.position(&tp(0)), Some(Offset(7)));
    drop(k.log.clone());
}

#[test]
fn load_in_progress_on_join_is_retried_after_a_backoff() {
    let mut k = Cluster::new();
    let partition = consumer_groups::log::partition_for(GROUP, 4);
    k.coordinator.begin_loading(partition);
    let mut c = ConsumerCoordinator::new(config(&["range"])).unwrap();
    c.update_metadata(k.now, [TopicSpec::new(TOPIC, PARTITIONS)]);
    c.subscribe(k.now, [TOPIC]).unwrap();
    c.poll(k.now);
    k.members.push(Member {
        c,
        events: Vec::new(),
        auto_ack: true,
        crashed: false,
        polling: true,
    });
    k.settle();
    assert_eq!(k.members[0].c.state(), MemberState::Unjoined);
    k.coordinator.load_partition(k.now, partition);
    k.advance(1_000);
    assert_eq!(k.members[0].c.state(), MemberState::Stable);
    k.assert_fully_assigned();
}

#[test]
fn a_corrupt_assignment_is_reported_and_the_member_rejoins() {
    let now = Timestamp(0);
    let mut c = ConsumerCoordinator::new(config(&["range"])).unwrap();
    c.subscribe(now, [TOPIC]).unwrap();
    c.poll(now);
    let (id, _) = c.poll_request().unwrap();
    c.handle_response(
        now,
        id,
        Response::FindCoordinator(FindCoordinatorResponse {
            error: ErrorCode::None,
            partition: 0,
        }),
    );
    let (join, _) = c.poll_request().unwrap();
    c.handle_response(
        now,
        join,
        Response::JoinGroup(consumer_groups::protocol::group::JoinGroupResponse {
            error: ErrorCode::None,
            generation: Generation(1),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: "other".into(),
            skip_assignment: false,
            member_id: "me".into(),
            members: Vec::new(),
        }),
    );
    let (sync, Request::SyncGroup(s)) = c.poll_request().unwrap() else {
        panic!("a SyncGroup")
    };
    assert!(s.assignments.is_empty(), "followers send no assignments");
    c.handle_response(
        now,
        sync,
        Response::SyncGroup(consumer_groups::protocol::group::SyncGroupResponse {
            error: ErrorCode::None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignment: vec![0, 3, 0xff],
        }),
    );
    assert!(matches!(
        c.poll_event(),
        Some(ConsumerEvent::InvalidMetadata { .. })
    ));
    let retry = c.poll_timeout().unwrap();
    c.handle_timeout(retry);
    assert!(matches!(c.poll_request(), Some((_, Request::JoinGroup(_)))));
}

#[test]
fn responses_to_unknown_or_mismatched_requests_are_harmless() {
    let now = Timestamp(0);
    let mut c = ConsumerCoordinator::new(config(&["range"])).unwrap();
    c.subscribe(now, [TOPIC]).unwrap();
    c.handle_response(now, RequestId(999), Response::Heartbeat(ErrorCode::None));
    let (id, _) = c.poll_request().unwrap();
    // A heartbeat answer to a FindCoordinator: treated as a failed request.
    c.handle_response(now, id, Response::Heartbeat(ErrorCode::None));
    assert!(!c.coordinator_known());
    assert_eq!(c.state(), MemberState::Unjoined);
}

#[test]
fn group_max_size_reached_stops_the_refused_member() {
    let mut k = Cluster::with_config(CoordinatorConfig {
        max_group_size: 1,
        ..coordinator_config()
    });
    let a = k.join(config(&["range"]));
    let b = k.add(config(&["range"]));
    k.advance(2_000);
    assert_eq!(summary(&k.take_events(b)), ["fatal GROUP_MAX_SIZE_REACHED"]);
    assert_eq!(k.members[b].c.state(), MemberState::Closed);
    assert_eq!(k.assignment(a).len(), 6, "the member inside is untouched");
}

#[test]
fn inconsistent_group_protocol_stops_the_member_that_offers_no_common_assignor() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let b = k.add(config(&["roundrobin"]));
    k.advance(2_000);
    assert_eq!(
        summary(&k.take_events(b)),
        ["fatal INCONSISTENT_GROUP_PROTOCOL"]
    );
    assert_eq!(
        k.members[b].c.fatal_error(),
        Some(ErrorCode::InconsistentGroupProtocol)
    );
    assert_eq!(k.assignment(a).len(), 6);
}

#[test]
fn a_commit_from_a_removed_member_gets_unknown_member_id_and_the_member_rejoins() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let _b = k.join(config(&["range"]));
    k.take_events(a);
    // a goes silent past its session; b takes everything.
    k.members[a].crashed = true;
    k.advance(12_000);
    k.members[a].crashed = false;
    // a, unaware, commits before its next heartbeat.
    let id = k.members[a]
        .c
        .commit(k.now, Some(vec![OffsetCommit::new(tp(0), Offset(5))]))
        .unwrap();
    k.settle();
    let events = k.take_events(a);
    let result = events
        .iter()
        .find_map(|e| match e {
            ConsumerEvent::CommitCompleted { id: i, results, .. } if *i == id => {
                Some(results.clone())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(result, [(tp(0), Offset(5), ErrorCode::UnknownMemberId)]);
    assert_eq!(k.committed(0), None, "a fenced commit changes nothing");
    assert_eq!(summary(&events)[0], "lost 0,1,2");
    k.until_stable();
    k.assert_fully_assigned();
}

#[test]
fn an_unexpected_heartbeat_error_is_retried_not_fatal() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    k.take_events(a);
    k.answer_next_heartbeat(a, ErrorCode::UnknownServerError);
    assert_eq!(k.members[a].c.state(), MemberState::Stable);
    assert!(summary(&k.take_events_direct(a)).is_empty());
    let retry = k.members[a].c.poll_timeout().unwrap();
    assert_eq!(retry, k.now.plus_millis(100));
    k.members[a].c.handle_timeout(retry);
    assert!(matches!(
        k.members[a].c.poll_request(),
        Some((_, Request::Heartbeat(_)))
    ));
}

// ---- Positions and commits -------------------------------------------------------------------

#[test]
fn positions_come_from_committed_offsets_or_the_reset_policy() {
    let mut k = Cluster::new();
    // Offsets committed for partitions 0 and 1 by a manual (generation -1) consumer.
    let mut m = ConsumerCoordinator::new(config(&["range"])).unwrap();
    m.assign(k.now, [tp(0), tp(1)]).unwrap();
    k.members.push(Member {
        c: m,
        events: Vec::new(),
        auto_ack: true,
        crashed: false,
        polling: true,
    });
    k.settle();
    k.members[0].c.seek(&tp(0), Offset(10)).unwrap();
    k.members[0].c.seek(&tp(1), Offset(20)).unwrap();
    let id = k.members[0].c.commit(k.now, None).unwrap();
    k.settle();
    assert!(k.take_events(0).iter().any(|e| matches!(e,
        ConsumerEvent::CommitCompleted { id: i, auto: false, .. } if *i == id)
        && e.is_successful_commit()));
    k.members[0].c.close(k.now);
    k.settle();
    // A group member starts from those; the rest reset to the earliest offset (the host seeks
    // to 0 in this harness).
    let a = k.join(config(&["range"]));
    assert_eq!(k.members[a].c.position(&tp(0)), Some(Offset(10)));
    assert_eq!(k.members[a].c.position(&tp(1)), Some(Offset(20)));
    assert_eq!(k.members[a].c.committed(&tp(1)), Some(Offset(20)));
    assert_eq!(k.members[a].c.position(&tp(2)), Some(Offset(0)));
    let resets: Vec<ConsumerEvent> = k
        .take_events(a)
        .into_iter()
        .filter(|e| matches!(e, ConsumerEvent::ResetOffsets { .. }))
        .collect();
    assert_eq!(
        resets,
        [ConsumerEvent::ResetOffsets {
            policy: OffsetReset::Earliest,
            partitions: tps(&[2, 3, 4, 5])
        }]
    );
    assert_eq!(k.members[a].c.fetchable().len(), 6);
}

#[test]
fn reset_policy_none_reports_partitions_without_offsets() {
    let mut k = Cluster::new();
    let mut cfg = config(&["range"]);
    cfg.auto_offset_reset = OffsetReset::None;
    let a = k.join(cfg);
    let events = k.take_events(a);
    assert!(events.contains(&ConsumerEvent::NoOffset {
        partitions: tps(&[0, 1, 2, 3, 4, 5])
    }));
    assert!(k.members[a].c.fetchable().is_empty(), "nothing to read yet");
    k.members[a].c.seek(&tp(3), Offset(5)).unwrap();
    assert_eq!(k.members[a].c.fetchable(), [(tp(3), Offset(5))]);
}

#[test]
fn auto_commit_commits_positions_every_interval() {
    let mut k = Cluster::new();
    let mut cfg = config(&["range"]);
    cfg.enable_auto_commit = true;
    cfg.auto_commit_interval_ms = 5_000;
    let a = k.join(cfg);
    k.members[a].c.seek(&tp(2), Offset(99)).unwrap();
    k.advance(4_000);
    assert_eq!(k.committed(2), None);
    k.advance(1_500);
    assert_eq!(k.committed(2), Some(Offset(99)));
    // Unchanged positions are not committed again.
    k.sent_kinds(a);
    k.advance(5_000);
    assert!(!k.sent_kinds(a).contains(&"OffsetCommit"));
}

#[test]
fn auto_commit_commits_revoked_partitions_before_rejoining() {
    let mut k = Cluster::new();
    let mut cfg = config(&["range"]);
    cfg.enable_auto_commit = true;
    let a = k.join(cfg);
    k.members[a].c.seek(&tp(5), Offset(55)).unwrap();
    k.sent_kinds(a);
    let _b = k.join(config(&["range"]));
    assert_eq!(k.committed(5), Some(Offset(55)));
    let kinds = k.sent_kinds(a);
    let commit = kinds.iter().position(|k| *k == "OffsetCommit").unwrap();
    let join = kinds.iter().position(|k| *k == "JoinGroup").unwrap();
    assert!(commit < join, "committed before rejoining: {kinds:?}");
    // The new owner of partition 5 resumes there.
    let owner = (0..2).find(|&i| k.assignment(i).contains(&tp(5))).unwrap();
    assert_eq!(k.members[owner].c.position(&tp(5)), Some(Offset(55)));
}

#[test]
fn close_commits_then_leaves() {
    let mut k = Cluster::new();
    let mut cfg = config(&["range"]);
    cfg.enable_auto_commit = true;
    let a = k.join(cfg);
    k.members[a].c.seek(&tp(1), Offset(11)).unwrap();
    k.sent_kinds(a);
    k.take_events(a);
    k.members[a].c.close(k.now);
    k.settle();
    assert_eq!(k.sent_kinds(a), ["OffsetCommit", "LeaveGroup"]);
    assert_eq!(k.committed(1), Some(Offset(11)));
    assert_eq!(
        summary(&k.take_events(a)),
        ["revoked 0,1,2,3,4,5", "closed"]
    );
    assert_eq!(k.group_state(), Some(GroupState::Empty));
    assert!(matches!(
        k.members[a].c.seek(&tp(1), Offset(1)),
        Err(Error::Closed)
    ));
}

#[test]
fn commits_of_partitions_not_owned_or_lost_are_refused_locally() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let _b = k.join(config(&["range"]));
    let theirs = tp(5);
    assert!(!k.assignment(a).contains(&theirs));
    assert_eq!(
        k.members[a].c.commit(
            k.now,
            Some(vec![OffsetCommit::new(theirs.clone(), Offset(1))])
        ),
        Err(Error::NotAssigned {
            topic: TOPIC.into(),
            partition: 5
        })
    );
    // a loses its partitions (poll timeout): they can no longer be committed.
    k.members[a].polling = false;
    k.advance(31_000);
    assert!(matches!(
        k.members[a]
            .c
            .commit(k.now, Some(vec![OffsetCommit::new(tp(0), Offset(1))])),
        Err(Error::RebalanceInProgress | Error::NotAssigned { .. })
    ));
    assert!(matches!(
        k.members[a].c.seek(&tp(0), Offset(1)),
        Err(Error::NotAssigned { .. })
    ));
}

#[test]
fn commits_during_a_rebalance_are_refused_with_rebalance_in_progress() {
    let now = Timestamp(0);
    let mut c = ConsumerCoordinator::new(config(&["range"])).unwrap();
    c.subscribe(now, [TOPIC]).unwrap();
    c.poll(now);
    assert_eq!(c.commit(now, None), Err(Error::RebalanceInProgress));
}

#[test]
fn manual_assignment_commits_with_generation_minus_one_and_emits_no_rebalance_events() {
    let mut k = Cluster::new();
    let mut m = ConsumerCoordinator::new(config(&["range"])).unwrap();
    m.assign(k.now, [tp(4)]).unwrap();
    k.members.push(Member {
        c: m,
        events: Vec::new(),
        auto_ack: true,
        crashed: false,
        polling: true,
    });
    k.settle();
    assert_eq!(k.members[0].c.position(&tp(4)), Some(Offset(0)));
    k.members[0].c.seek(&tp(4), Offset(3)).unwrap();
    k.members[0].c.commit(k.now, None).unwrap();
    k.settle();
    let commits: Vec<Generation> = k
        .sent
        .iter()
        .filter_map(|(_, r)| match r {
            Request::OffsetCommit(c) => Some(c.generation),
            _ => None,
        })
        .collect();
    assert_eq!(commits, [Generation::NONE]);
    assert_eq!(k.committed(4), Some(Offset(3)));
    assert!(summary(&k.take_events(0)).is_empty());
    assert_eq!(k.group_state(), Some(GroupState::Empty));
}

#[test]
fn a_leader_rejoins_when_partition_counts_change() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let b = k.join(config(&["range"]));
    let leader = if k.members[a].c.is_leader() { a } else { b };
    let g = k.members[a].c.generation();
    let now = k.now;
    k.members[leader]
        .c
        .update_metadata(now, [TopicSpec::new(TOPIC, PARTITIONS + 2)]);
    k.until_stable();
    assert_eq!(k.members[a].c.generation(), Generation(g.0 + 1));
    let total = k.assignment(a).len() + k.assignment(b).len();
    assert_eq!(total, PARTITIONS as usize + 2);
}

#[test]
fn a_commit_queued_in_a_generation_the_member_lost_is_not_sent_by_close() {
    let mut k = Cluster::new();
    let a = k.join(config(&["range"]));
    let _b = k.join(config(&["range"]));
    k.take_events(a);
    // The coordinator moves; a commits while it looks for it: the commit waits.
    k.answer_next_heartbeat(a, ErrorCode::NotCoordinator);
    let id = k.members[a]
        .c
        .commit(k.now, Some(vec![OffsetCommit::new(tp(0), Offset(5))]))
        .unwrap();
    // a is cut off past its session; b takes everything and commits further.
    k.members[a].crashed = true;
    k.advance(12_000);
    let b_owner = k.members[1].c.assignment();
    assert!(b_owner.contains(&tp(0)));
    let done = k.members[1]
        .c
        .commit(k.now, Some(vec![OffsetCommit::new(tp(0), Offset(40))]))
        .unwrap();
    k.settle();
    assert!(k.take_events(1).iter().any(
        |e| matches!(e, ConsumerEvent::CommitCompleted { id: i, .. } if *i == done && e.is_successful_commit())
    ));
    // a comes back, learns its session ended, and closes at once: the queued commit was
    // made in the generation it lost, so it fails instead of going out.
    k.members[a].crashed = false;
    k.members[a].c.handle_timeout(k.now);
    k.members[a].c.close(k.now);
    k.advance(1_000);
    let events = k.take_events_direct(a);
    let result = events
        .iter()
        .find_map(|e| match e {
            ConsumerEvent::CommitCompleted { id: i, results, .. } if *i == id => {
                Some(results.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("the queued commit completes: {:?}", summary(&events)));
    assert_eq!(result, [(tp(0), Offset(5), ErrorCode::IllegalGeneration)]);
    assert!(!k.sent_kinds(a).contains(&"OffsetCommit"));
    assert_eq!(k.committed(0), Some(Offset(40)), "b's progress stands");
}

// ---- Random operation sequences --------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Join { static_id: Option<u8> },
    Close(usize),
    Crash(usize),
    Revive(usize),
    StopPolling(usize),
    Commit(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::option::of(0u8..3).prop_map(|static_id| Op::Join { static_id }),
        1 => (0usize..6).prop_map(Op::Close),
        1 => (0usize..6).prop_map(Op::Crash),
        1 => (0usize..6).prop_map(Op::Revive),
        1 => (0usize..6).prop_map(Op::StopPolling),
        2 => (0usize..6).prop_map(Op::Commit),
        3 => (0u64..15_000).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Random joins, leaves, crashes, stalls, commits and time jumps against the real
    /// coordinator: no partition ever has two owners in one generation (with cooperative
    /// members, never two at once), and once everyone left is healthy the group settles with
    /// every partition owned by exactly one member.
    #[test]
    fn random_operations_keep_the_invariants(cooperative_group in any::<bool>(), ops in proptest::collection::vec(op(), 1..25)) {
        let mut k = Cluster::new();
        k.strict = cooperative_group;
        let assignors: &[&str] = if cooperative_group { &["cooperative-sticky"] } else { &["range"] };
        for op in ops {
            match op {
                Op::Join { static_id, .. } => {
                    if k.members.len() < 6 {
                        let mut cfg = config(assignors);
                        // Static ids are unique per live member so nobody is fenced here.
                        if let Some(s) = static_id {
                            let id = format!("instance-{s}-{}", k.members.len());
                            cfg.group_instance_id = Some(GroupInstanceId::from(id.as_str()));
                        }
                        k.add(cfg);
                    }
                }
                Op::Close(i) => if let Some(m) = k.members.get_mut(i) {
                    if !m.crashed { m.c.close(k.now); }
                },
                Op::Crash(i) => if let Some(m) = k.members.get_mut(i) { m.crashed = true },
                Op::Revive(i) => k.revive(i),
                Op::StopPolling(i) => if let Some(m) = k.members.get_mut(i) { m.polling = false },
                Op::Commit(i) => if let Some(m) = k.members.get_mut(i) {
                    if !m.crashed {
                        // May be refused locally; never panics.
                        let _ = m.c.commit(k.now, None);
                    }
                },
                Op::Advance(ms) => k.advance(ms),
            }
            k.settle();
        }
        // Heal: crashed members stay dead, everyone else polls; wait out sessions and rebalances.
        for m in &mut k.members {
            m.polling = true;
        }
        k.advance(60_000);
        let live: Vec<usize> = (0..k.members.len())
            .filter(|&i| !k.members[i].crashed && k.members[i].c.state() != MemberState::Closed)
            .collect();
        if live.is_empty() {
            prop_assert!(matches!(k.group_state(), Some(GroupState::Empty) | Some(GroupState::Dead) | None));
        } else {
            k.assert_fully_assigned();
            prop_assert_eq!(k.group_state(), Some(GroupState::Stable));
            for &i in &live {
                prop_assert_eq!(k.members[i].c.state(), MemberState::Stable);
            }
        }
    }
}

#[test]
fn group_metadata_is_the_members_generation_and_id_or_none_outside_a_generation() {
    let mut k = Cluster::new();
    let mut cfg = config(&["range"]);
    cfg.group_instance_id = Some(GroupInstanceId::from("instance-a"));
    let outside = ConsumerGroupMetadata {
        group_id: GroupId::from(GROUP),
        generation: Generation::NONE,
        member_id: MemberId::from(""),
        group_instance_id: Some(GroupInstanceId::from("instance-a")),
    };
    let fresh = ConsumerCoordinator::new(cfg.clone()).unwrap();
    assert_eq!(fresh.group_metadata(), outside, "before joining");
    let a = k.join(cfg);
    let meta = k.members[a].c.group_metadata();
    assert_eq!(Some(meta.generation), k.coordinator.generation(GROUP));
    assert_eq!(meta.generation, Generation(1));
    assert_eq!(
        k.coordinator.members(GROUP),
        std::slice::from_ref(&meta.member_id)
    );
    assert_eq!(&meta.member_id, k.members[a].c.member_id());
    assert_eq!(meta.group_instance_id, outside.group_instance_id);
    // A second member joins: a's metadata follows the new generation.
    k.join(config(&["range"]));
    let meta = k.members[a].c.group_metadata();
    assert_eq!(meta.generation, Generation(2));
    assert_eq!(Some(meta.generation), k.coordinator.generation(GROUP));
    // It is what a transactional producer commits a's progress with (KIP-447).
    let commit = TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        producer_id: 1,
        producer_epoch: 0,
        group_id: meta.group_id.clone(),
        generation: meta.generation,
        member_id: meta.member_id.clone(),
        group_instance_id: meta.group_instance_id.clone(),
        offsets: vec![OffsetCommit::new(tp(0), Offset(3))],
    };
    k.coordinator
        .handle(k.now, RequestId(u64::MAX), Request::TxnOffsetCommit(commit));
    let Some((RequestId(u64::MAX), Response::TxnOffsetCommit(r))) = k.coordinator.poll_response()
    else {
        panic!("no TxnOffsetCommit answer")
    };
    assert_eq!(r.partitions, [(tp(0), ErrorCode::None)]);
    // Out of the group again.
    k.members[a].c.unsubscribe(k.now).unwrap();
    k.settle();
    assert_eq!(
        k.members[a].c.group_metadata(),
        outside,
        "after unsubscribing"
    );
}
