//! The group coordinator, one Kafka rule per test.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use consumer_groups::coordinator::{
    CoordinatorConfig, GroupCoordinator, GroupState, Request, RequestId, Response,
};
use consumer_groups::log::{
    CompactionStats, Log, MemoryLog, Producer, ReadLimit, Record, RecordView, TxnOutcome,
};
use consumer_groups::offsets::{LogOffsetStore, OffsetCommit, OffsetStore};
use consumer_groups::protocol::consumer::{Subscription, TopicPartitions};
use consumer_groups::protocol::group::{
    HeartbeatRequest, JoinGroupMember, JoinGroupRequest, JoinGroupResponse, JoinProtocol,
    LeaveGroupRequest, LeaveGroupResponse, LeavingMember, OffsetCommitRequest, OffsetFetchRequest,
    SyncGroupRequest, SyncGroupResponse, TxnOffsetCommitRequest,
};
use consumer_groups::{
    Error, ErrorCode, Generation, GroupId, GroupInstanceId, MemberId, Offset, Timestamp,
    TopicPartition,
};

const G: &str = "group";

struct H {
    c: GroupCoordinator,
    store: Arc<LogOffsetStore>,
    log: Arc<MemoryLog>,
    next: u64,
}

fn config() -> CoordinatorConfig {
    CoordinatorConfig {
        initial_rebalance_delay_ms: 0,
        ..CoordinatorConfig::default()
    }
}

fn subscription(topics: &[&str]) -> Vec<u8> {
    Subscription::new(topics.iter().copied()).encode(1).unwrap()
}

fn protocols() -> Vec<JoinProtocol> {
    vec![JoinProtocol::new("range", subscription(&["t"]))]
}

impl H {
    fn new(config: CoordinatorConfig) -> H {
        let log = Arc::new(MemoryLog::new(5));
        let store = Arc::new(LogOffsetStore::new(log.clone()));
        H {
            c: GroupCoordinator::new(config, store.clone()),
            store,
            log,
            next: 0,
        }
    }

    fn send(&mut self, now: u64, r: Request) -> RequestId {
        self.next += 1;
        let id = RequestId(self.next);
        self.c.handle(Timestamp(now), id, r);
        id
    }

    fn drain(&mut self) -> Vec<(RequestId, Response)> {
        std::iter::from_fn(|| self.c.poll_response()).collect()
    }

    fn answer(&mut self, id: RequestId) -> Option<Response> {
        let all = self.drain();
        let mut found = None;
        for (rid, r) in all {
            if rid == id {
                assert!(found.is_none(), "two answers to {id:?}");
                found = Some(r);
            }
        }
        found
    }

    fn join_req(&self, member: &str, instance: Option<&str>) -> JoinGroupRequest {
        let mut r = JoinGroupRequest::new(G, protocols());
        r.member_id = MemberId::from(member);
        r.group_instance_id = instance.map(GroupInstanceId::from);
        r.session_timeout_ms = 10_000;
        r.rebalance_timeout_ms = 60_000;
        r.client_id = "client".into();
        r
    }

    /// The first join of a new dynamic member: MEMBER_ID_REQUIRED with its id.
    fn member_id(&mut self, now: u64) -> MemberId {
        let id = self.send(now, Request::JoinGroup(self.join_req("", None)));
        let Some(Response::JoinGroup(r)) = self.answer(id) else {
            panic!("no answer")
        };
        assert_eq!(r.error, ErrorCode::MemberIdRequired);
        r.member_id
    }

    fn rejoin(&mut self, now: u64, member: &MemberId) -> RequestId {
        self.send(now, Request::JoinGroup(self.join_req(member, None)))
    }

    /// Joins as a new dynamic member: MEMBER_ID_REQUIRED, then the rejoin.
    fn new_member(&mut self, now: u64) -> (MemberId, RequestId) {
        let m = self.member_id(now);
        let rejoin = self.rejoin(now, &m);
        (m, rejoin)
    }

    /// Several new members: all get their ids first, then all rejoin, so one rebalance
    /// takes them all in.
    fn new_members(&mut self, now: u64, n: usize) -> Vec<(MemberId, RequestId)> {
        let ids: Vec<MemberId> = (0..n).map(|_| self.member_id(now)).collect();
        ids.into_iter()
            .map(|m| {
                let j = self.rejoin(now, &m);
                (m, j)
            })
            .collect()
    }

    fn sync(
        &mut self,
        now: u64,
        member: &MemberId,
        generation: i32,
        assign: Vec<(MemberId, Vec<u8>)>,
    ) -> RequestId {
        self.send(
            now,
            Request::SyncGroup(SyncGroupRequest {
                group_id: G.into(),
                generation: Generation(generation),
                member_id: member.clone(),
                group_instance_id: None,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignments: assign,
            }),
        )
    }

    fn heartbeat(&mut self, now: u64, member: &MemberId, generation: i32) -> ErrorCode {
        let id = self.send(
            now,
            Request::Heartbeat(HeartbeatRequest {
                group_id: G.into(),
                generation: Generation(generation),
                member_id: member.clone(),
                group_instance_id: None,
            }),
        );
        match self.answer(id) {
            Some(Response::Heartbeat(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    fn state(&self) -> Option<GroupState> {
        self.c.group_state(G)
    }
}

fn join_resp(r: Option<Response>) -> JoinGroupResponse {
    match r {
        Some(Response::JoinGroup(j)) => j,
        other => panic!("expected a JoinGroup response, got {other:?}"),
    }
}

fn sync_resp(r: Option<Response>) -> SyncGroupResponse {
    match r {
        Some(Response::SyncGroup(s)) => s,
        other => panic!("expected a SyncGroup response, got {other:?}"),
    }
}

/// Two dynamic members through a full rebalance to Stable; returns (leader, follower).
fn stable_pair(h: &mut H) -> (MemberId, MemberId) {
    let v = h.new_members(0, 2);
    let ((a, ja), (b, jb)) = (v[0].clone(), v[1].clone());
    // The join completes once both rejoined (no initial delay in this config).
    let (ra, rb) = {
        let all = h.drain();
        let find = |id| all.iter().find(|(r, _)| *r == id).map(|(_, r)| r.clone());
        (join_resp(find(ja)), join_resp(find(jb)))
    };
    assert_eq!(ra.generation, Generation(1));
    assert_eq!(ra.leader, a);
    let sa = h.sync(0, &a, 1, vec![(a.clone(), vec![1]), (b.clone(), vec![2])]);
    let sb = h.sync(0, &b, 1, vec![]);
    let all = h.drain();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|(r, _)| *r == sa));
    assert!(all.iter().any(|(r, _)| *r == sb));
    assert_eq!(rb.members.len(), 0);
    assert_eq!(h.state(), Some(GroupState::Stable));
    (a, b)
}

#[test]
fn join_of_new_dynamic_member_requires_member_id() {
    let mut h = H::new(config());
    let id = h.send(0, Request::JoinGroup(h.join_req("", None)));
    let r = join_resp(h.answer(id));
    assert_eq!(r.error, ErrorCode::MemberIdRequired);
    assert!(r.member_id.starts_with("client-"), "{}", r.member_id);
    assert_eq!(h.c.members(G).len(), 0, "pending, not yet a member");
    // The same seed gives the same ids.
    let mut again = H::new(config());
    let id = again.send(0, Request::JoinGroup(again.join_req("", None)));
    assert_eq!(join_resp(again.answer(id)).member_id, r.member_id);
}

#[test]
fn first_rebalance_completes_when_all_members_have_joined() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    assert_eq!(h.c.generation(G), Some(Generation(1)));
    assert_eq!(h.c.leader(G), Some(a.clone()));
    assert_eq!(h.c.members(G), [a, b]);
}

#[test]
fn the_leader_gets_every_members_metadata_and_followers_none() {
    let mut h = H::new(config());
    let v = h.new_members(0, 2);
    let ((a, ja), (b, jb)) = (v[0].clone(), v[1].clone());
    let all = h.drain();
    let get = |id| join_resp(all.iter().find(|(r, _)| *r == id).map(|(_, r)| r.clone()));
    let (ra, rb) = (get(ja), get(jb));
    assert_eq!(ra.members.len(), 2);
    assert_eq!(ra.members[0].member_id, a);
    assert_eq!(ra.members[1].member_id, b);
    assert_eq!(ra.members[0].metadata, subscription(&["t"]));
    assert!(rb.members.is_empty());
    assert_eq!(rb.leader, a);
    assert_eq!(ra.protocol_name.as_deref(), Some("range"));
    assert_eq!(ra.protocol_type.as_deref(), Some("consumer"));
}

#[test]
fn initial_rebalance_delay_waits_and_extends_while_members_arrive() {
    let mut h = H::new(CoordinatorConfig {
        initial_rebalance_delay_ms: 3_000,
        // The log cleaner's first look comes after the delay.
        log_cleaner_backoff_ms: 60_000,
        ..CoordinatorConfig::default()
    });
    let (_, ja) = h.new_member(0);
    assert_eq!(h.c.poll_timeout(), Some(Timestamp(3_000)));
    let (_, jb) = h.new_member(2_000);
    h.c.handle_timeout(Timestamp(3_000));
    // A member arrived during the delay: wait another delay.
    assert!(h.drain().is_empty());
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
    h.c.handle_timeout(Timestamp(5_999));
    assert!(h.drain().is_empty());
    h.c.handle_timeout(Timestamp(6_000));
    let all = h.drain();
    assert!(all.iter().any(|(r, _)| *r == ja));
    assert!(all.iter().any(|(r, _)| *r == jb));
    assert_eq!(h.state(), Some(GroupState::CompletingRebalance));
}

#[test]
fn join_with_session_timeout_out_of_bounds_is_invalid() {
    let mut h = H::new(config());
    for t in [5_999, 1_800_001] {
        let mut r = h.join_req("", None);
        r.session_timeout_ms = t;
        let id = h.send(0, Request::JoinGroup(r));
        assert_eq!(
            join_resp(h.answer(id)).error,
            ErrorCode::InvalidSessionTimeout
        );
    }
    let mut r = h.join_req("", None);
    r.group_id = "".into();
    let id = h.send(0, Request::JoinGroup(r));
    assert_eq!(join_resp(h.answer(id)).error, ErrorCode::InvalidGroupId);
    assert_eq!(h.state(), None, "refused joins leave no group behind");
}

#[test]
fn join_with_unknown_member_id_is_refused() {
    let mut h = H::new(config());
    let id = h.send(0, Request::JoinGroup(h.join_req("ghost", None)));
    assert_eq!(join_resp(h.answer(id)).error, ErrorCode::UnknownMemberId);
    stable_pair(&mut h);
    let id = h.send(0, Request::JoinGroup(h.join_req("ghost", None)));
    assert_eq!(join_resp(h.answer(id)).error, ErrorCode::UnknownMemberId);
}

#[test]
fn join_without_a_common_protocol_is_inconsistent() {
    let mut h = H::new(config());
    stable_pair(&mut h);
    let mut r = h.join_req("", None);
    r.protocols = vec![JoinProtocol::new("roundrobin", vec![])];
    let id = h.send(0, Request::JoinGroup(r));
    assert_eq!(
        join_resp(h.answer(id)).error,
        ErrorCode::InconsistentGroupProtocol
    );
    let mut r = h.join_req("", None);
    r.protocol_type = "connect".into();
    let id = h.send(0, Request::JoinGroup(r));
    assert_eq!(
        join_resp(h.answer(id)).error,
        ErrorCode::InconsistentGroupProtocol
    );
    // An empty group refuses an empty protocol list.
    let mut h = H::new(config());
    let mut r = h.join_req("", None);
    r.protocols.clear();
    let id = h.send(0, Request::JoinGroup(r));
    assert_eq!(
        join_resp(h.answer(id)).error,
        ErrorCode::InconsistentGroupProtocol
    );
}

#[test]
fn protocol_is_chosen_by_vote_of_preferences_all_members_support() {
    let mut h = H::new(config());
    let mut ra = h.join_req("", Some("a"));
    ra.protocols = vec![
        JoinProtocol::new("sticky", vec![]),
        JoinProtocol::new("range", vec![]),
    ];
    let mut rb = h.join_req("", Some("b"));
    rb.protocols = vec![
        JoinProtocol::new("range", vec![]),
        JoinProtocol::new("sticky", vec![]),
    ];
    let mut rc = h.join_req("", Some("c"));
    rc.protocols = vec![
        JoinProtocol::new("range", vec![]),
        JoinProtocol::new("sticky", vec![]),
    ];
    let ia = h.send(0, Request::JoinGroup(ra));
    h.send(0, Request::JoinGroup(rb));
    h.send(0, Request::JoinGroup(rc));
    // Static members join without MEMBER_ID_REQUIRED; with no initial delay the first join
    // completes alone, then the others trigger the next rebalance.
    let all = h.drain();
    let first = join_resp(all.iter().find(|(r, _)| *r == ia).map(|(_, r)| r.clone()));
    assert_eq!(first.protocol_name.as_deref(), Some("sticky"));
}

#[test]
fn group_max_size_refuses_the_members_that_join_last() {
    let mut h = H::new(CoordinatorConfig {
        max_group_size: 2,
        ..config()
    });
    stable_pair(&mut h);
    let id = h.send(0, Request::JoinGroup(h.join_req("", None)));
    assert_eq!(
        join_resp(h.answer(id)).error,
        ErrorCode::GroupMaxSizeReached
    );
    assert_eq!(h.c.members(G).len(), 2);
}

#[test]
fn heartbeat_rules_follow_the_group_state() {
    let mut h = H::new(config());
    assert_eq!(h.heartbeat(0, &"x".into(), 0), ErrorCode::UnknownMemberId);
    let v = h.new_members(0, 2);
    let ((a, ja), (b, _)) = (v[0].clone(), v[1].clone());
    let _ = h.answer(ja);
    // CompletingRebalance: accepted.
    assert_eq!(h.state(), Some(GroupState::CompletingRebalance));
    assert_eq!(h.heartbeat(0, &a, 1), ErrorCode::None);
    assert_eq!(h.heartbeat(0, &a, 0), ErrorCode::IllegalGeneration);
    assert_eq!(
        h.heartbeat(0, &"ghost".into(), 1),
        ErrorCode::UnknownMemberId
    );
    h.sync(0, &a, 1, vec![]);
    h.drain();
    assert_eq!(h.state(), Some(GroupState::Stable));
    assert_eq!(h.heartbeat(1, &b, 1), ErrorCode::None);
    // A third member triggers a rebalance: heartbeats say so.
    h.new_member(2);
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
    assert_eq!(h.heartbeat(3, &b, 1), ErrorCode::RebalanceInProgress);
}

#[test]
fn heartbeat_during_completing_rebalance_is_accepted() {
    let mut h = H::new(config());
    let (a, _) = h.new_member(0);
    h.drain();
    assert_eq!(h.state(), Some(GroupState::CompletingRebalance));
    assert_eq!(h.heartbeat(5, &a, 1), ErrorCode::None);
}

#[test]
fn a_missed_session_deadline_removes_the_member_and_rebalances() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    // a keeps heartbeating, b falls silent; its session is 10 s from its last sync.
    for t in (1_000..=10_000).step_by(1_000) {
        assert_eq!(h.heartbeat(t, &a, 1), ErrorCode::None);
        h.c.handle_timeout(Timestamp(t));
    }
    assert_eq!(h.c.members(G), std::slice::from_ref(&a));
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
    assert_eq!(h.heartbeat(10_001, &b, 1), ErrorCode::UnknownMemberId);
    assert_eq!(h.heartbeat(10_001, &a, 1), ErrorCode::RebalanceInProgress);
    let rejoin = h.send(10_002, Request::JoinGroup(h.join_req(&a, None)));
    let r = join_resp(h.answer(rejoin));
    assert_eq!(r.generation, Generation(2));
    assert_eq!(r.members.len(), 1);
}

#[test]
fn spurious_timeouts_change_nothing() {
    let mut h = H::new(config());
    let (a, _) = stable_pair(&mut h);
    for t in [0, 1, 5_000, 9_999] {
        h.c.handle_timeout(Timestamp(t));
    }
    assert!(h.drain().is_empty());
    assert_eq!(h.state(), Some(GroupState::Stable));
    assert_eq!(h.heartbeat(9_999, &a, 1), ErrorCode::None);
}

#[test]
fn sync_of_a_follower_waits_for_the_leader_and_missing_members_get_empty_assignments() {
    let mut h = H::new(config());
    let v = h.new_members(0, 2);
    let (a, b) = (v[0].0.clone(), v[1].0.clone());
    h.drain();
    let sb = h.sync(0, &b, 1, vec![]);
    assert!(h.drain().is_empty(), "parked until the leader syncs");
    let sa = h.sync(0, &a, 1, vec![(a.clone(), vec![7])]);
    let all = h.drain();
    let get = |id| sync_resp(all.iter().find(|(r, _)| *r == id).map(|(_, r)| r.clone()));
    assert_eq!(get(sa).assignment, [7]);
    assert_eq!(get(sb).assignment, Vec::<u8>::new());
    assert_eq!(get(sb).error, ErrorCode::None);
    // The assignment was stored before anyone was answered.
    let meta = h.store.group_metadata(&GroupId::from(G)).unwrap();
    assert_eq!(meta.generation, 1);
    assert_eq!(meta.members.len(), 2);
    assert_eq!(meta.members[0].assignment, [7]);
    // A later sync in Stable returns the stored assignment.
    let again = h.sync(1, &a, 1, vec![]);
    assert_eq!(sync_resp(h.answer(again)).assignment, [7]);
}

#[test]
fn sync_errors_follow_kafka() {
    let mut h = H::new(config());
    let (a, _) = stable_pair(&mut h);
    let id = h.sync(0, &"ghost".into(), 1, vec![]);
    assert_eq!(sync_resp(h.answer(id)).error, ErrorCode::UnknownMemberId);
    let id = h.sync(0, &a, 7, vec![]);
    assert_eq!(sync_resp(h.answer(id)).error, ErrorCode::IllegalGeneration);
    let id = h.send(
        0,
        Request::SyncGroup(SyncGroupRequest {
            group_id: G.into(),
            generation: Generation(1),
            member_id: a.clone(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("roundrobin".into()),
            assignments: vec![],
        }),
    );
    assert_eq!(
        sync_resp(h.answer(id)).error,
        ErrorCode::InconsistentGroupProtocol
    );
    h.new_member(1);
    let id = h.sync(1, &a, 1, vec![]);
    assert_eq!(
        sync_resp(h.answer(id)).error,
        ErrorCode::RebalanceInProgress
    );
}

#[test]
fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
    let mut h = H::new(config());
    let v = h.new_members(0, 2);
    let (a, b) = (v[0].0.clone(), v[1].0.clone());
    h.drain();
    h.sync(0, &a, 1, vec![]);
    h.drain();
    // b never syncs; it keeps heartbeating, but the pending-sync deadline (60 s) removes it.
    for t in (5_000..=60_000).step_by(5_000) {
        h.heartbeat(t, &a, 1);
        h.heartbeat(t, &b, 1);
        h.c.handle_timeout(Timestamp(t));
    }
    assert_eq!(h.c.members(G), [a]);
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
}

#[test]
fn leave_group_removes_members_in_a_batch_with_per_member_errors() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    let id = h.send(
        0,
        Request::LeaveGroup(LeaveGroupRequest {
            group_id: G.into(),
            members: vec![
                LeavingMember {
                    member_id: a.clone(),
                    group_instance_id: None,
                    reason: None,
                },
                LeavingMember {
                    member_id: "ghost".into(),
                    group_instance_id: None,
                    reason: None,
                },
                LeavingMember {
                    member_id: "".into(),
                    group_instance_id: Some("nobody".into()),
                    reason: None,
                },
            ],
        }),
    );
    let Some(Response::LeaveGroup(r)) = h.answer(id) else {
        panic!()
    };
    assert_eq!(r.error, ErrorCode::None);
    let codes: Vec<ErrorCode> = r.members.iter().map(|(_, e)| *e).collect();
    assert_eq!(
        codes,
        [
            ErrorCode::None,
            ErrorCode::UnknownMemberId,
            ErrorCode::UnknownMemberId
        ]
    );
    assert_eq!(h.c.members(G), std::slice::from_ref(&b));
    assert_eq!(h.c.leader(G), Some(b));
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
}

#[test]
fn the_last_member_leaving_empties_the_group_and_stores_it() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    let leave = |m: &MemberId| LeavingMember {
        member_id: m.clone(),
        group_instance_id: None,
        reason: None,
    };
    h.send(
        50,
        Request::LeaveGroup(LeaveGroupRequest {
            group_id: G.into(),
            members: vec![leave(&a), leave(&b)],
        }),
    );
    h.drain();
    assert_eq!(h.state(), Some(GroupState::Empty));
    assert_eq!(h.c.generation(G), Some(Generation(2)));
    let meta = h.store.group_metadata(&GroupId::from(G)).unwrap();
    assert!(meta.members.is_empty());
    assert_eq!(meta.current_state_timestamp, Some(50));
}

fn static_join(h: &mut H, now: u64, instance: &str) -> RequestId {
    let r = h.join_req("", Some(instance));
    h.send(now, Request::JoinGroup(r))
}

#[test]
fn static_member_rejoin_in_stable_group_skips_rebalance() {
    let mut h = H::new(config());
    let j = static_join(&mut h, 0, "i-1");
    let first = join_resp(h.answer(j));
    assert_eq!(
        first.error,
        ErrorCode::None,
        "static members need no member id round"
    );
    let old = first.member_id.clone();
    let s = h.sync(0, &old, 1, vec![(old.clone(), vec![9])]);
    assert_eq!(sync_resp(h.answer(s)).assignment, [9]);
    // The instance restarts and joins without its member id.
    let j = static_join(&mut h, 10, "i-1");
    let r = join_resp(h.answer(j));
    assert_eq!(r.error, ErrorCode::None);
    assert_ne!(r.member_id, old);
    assert_eq!(r.generation, Generation(1), "no rebalance");
    assert!(
        r.skip_assignment,
        "the leader was replaced: it must not reassign (KIP-814)"
    );
    assert_eq!(r.leader, r.member_id);
    assert_eq!(h.state(), Some(GroupState::Stable));
    // The old member id is fenced; the new one inherits the assignment.
    let hb = h.send(
        11,
        Request::Heartbeat(HeartbeatRequest {
            group_id: G.into(),
            generation: Generation(1),
            member_id: old.clone(),
            group_instance_id: Some("i-1".into()),
        }),
    );
    assert_eq!(
        h.answer(hb),
        Some(Response::Heartbeat(ErrorCode::FencedInstanceId))
    );
    let s = h.sync(12, &r.member_id, 1, vec![]);
    assert_eq!(sync_resp(h.answer(s)).assignment, [9]);
    let meta = h.store.group_metadata(&GroupId::from(G)).unwrap();
    assert_eq!(meta.members[0].member_id, r.member_id.to_string());
}

#[test]
fn static_member_rejoin_in_completing_rebalance_forces_a_rebalance() {
    let mut h = H::new(config());
    let j = static_join(&mut h, 0, "i-1");
    let first = join_resp(h.answer(j));
    assert_eq!(h.state(), Some(GroupState::CompletingRebalance));
    let j2 = static_join(&mut h, 1, "i-1");
    let r = join_resp(h.answer(j2));
    assert_ne!(r.member_id, first.member_id);
    assert_eq!(r.generation, Generation(2), "a new rebalance ran");
}

#[test]
fn static_members_are_kept_when_they_miss_a_rebalance() {
    let mut h = H::new(config());
    let j1 = static_join(&mut h, 0, "i-1");
    let a = join_resp(h.answer(j1)).member_id;
    h.sync(0, &a, 1, vec![]);
    h.drain();
    // A dynamic member joins; the static one does not rejoin before the rebalance timeout.
    let (b, _) = h.new_member(1);
    for t in (5_000..=60_000).step_by(5_000) {
        // Heartbeats keep the static member's session alive; they don't make it rejoin.
        assert_eq!(h.heartbeat(t, &a, 1), ErrorCode::RebalanceInProgress);
        h.c.handle_timeout(Timestamp(t));
    }
    h.c.handle_timeout(Timestamp(1 + 60_000));
    let all = h.drain();
    assert!(!all.is_empty());
    let members = h.c.members(G);
    assert!(members.contains(&a), "static member kept");
    assert!(members.contains(&b));
    assert_eq!(h.c.generation(G), Some(Generation(2)));
}

#[test]
fn a_pending_member_that_never_rejoins_lapses() {
    let mut h = H::new(config());
    let id = h.send(0, Request::JoinGroup(h.join_req("", None)));
    let pending = join_resp(h.answer(id)).member_id;
    h.c.handle_timeout(Timestamp(10_000));
    let id = h.send(10_001, Request::JoinGroup(h.join_req(&pending, None)));
    assert_eq!(join_resp(h.answer(id)).error, ErrorCode::UnknownMemberId);
}

fn commit_req(member: &MemberId, generation: i32, offset: i64) -> Request {
    Request::OffsetCommit(OffsetCommitRequest {
        group_id: G.into(),
        generation: Generation(generation),
        member_id: member.clone(),
        group_instance_id: None,
        retention_ms: None,
        offsets: vec![OffsetCommit::new(
            TopicPartition::new("t", 0),
            Offset(offset),
        )],
    })
}

fn commit_code(h: &mut H, now: u64, r: Request) -> ErrorCode {
    let id = h.send(now, r);
    match h.answer(id) {
        Some(Response::OffsetCommit(c)) => c.partitions[0].1,
        other => panic!("{other:?}"),
    }
}

#[test]
fn offset_commits_are_validated_as_kafka_does() {
    let mut h = H::new(config());
    // A group that only stores offsets: generation -1 and no member id.
    assert_eq!(
        commit_code(&mut h, 0, commit_req(&"".into(), -1, 5)),
        ErrorCode::None
    );
    assert_eq!(h.state(), Some(GroupState::Empty));
    // Unknown group with a generation: a stale member.
    let mut other = H::new(config());
    assert_eq!(
        commit_code(&mut other, 0, commit_req(&"m".into(), 3, 5)),
        ErrorCode::IllegalGeneration
    );
    let v = h.new_members(0, 2);
    let a = v[0].0.clone();
    h.drain();
    assert_eq!(h.state(), Some(GroupState::CompletingRebalance));
    assert_eq!(
        commit_code(&mut h, 0, commit_req(&a, 1, 6)),
        ErrorCode::RebalanceInProgress
    );
    h.sync(0, &a, 1, vec![]);
    h.drain();
    assert_eq!(
        commit_code(&mut h, 1, commit_req(&a, 1, 7)),
        ErrorCode::None
    );
    assert_eq!(
        commit_code(&mut h, 1, commit_req(&a, 0, 8)),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        commit_code(&mut h, 1, commit_req(&"ghost".into(), 1, 8)),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        commit_code(&mut h, 1, commit_req(&"".into(), -1, 8)),
        ErrorCode::UnknownMemberId,
        "only members commit to a group with members"
    );
    let id = h.send(
        2,
        Request::OffsetFetch(OffsetFetchRequest {
            group_id: G.into(),
            partitions: None,
            require_stable: true,
        }),
    );
    let Some(Response::OffsetFetch(f)) = h.answer(id) else {
        panic!()
    };
    assert_eq!(f.partitions.len(), 1);
    assert_eq!(
        f.partitions[0].1.as_ref().unwrap().as_ref().unwrap().offset,
        Offset(7)
    );
}

#[test]
fn a_commit_from_a_stable_member_extends_its_session() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    // Only commits, no heartbeats, keep a alive past its 10 s session.
    for t in (4_000..=20_000).step_by(4_000) {
        assert_eq!(
            commit_code(&mut h, t, commit_req(&a, 1, t as i64)),
            ErrorCode::None
        );
        h.heartbeat(t, &b, 1);
        h.c.handle_timeout(Timestamp(t));
    }
    assert_eq!(h.c.members(G).len(), 2);
    assert_eq!(h.state(), Some(GroupState::Stable));
}

#[test]
fn requests_for_groups_of_partitions_not_owned_get_not_coordinator() {
    let log = Arc::new(MemoryLog::new(5));
    let store = Arc::new(LogOffsetStore::new(log));
    let p = store.partition_of(&GroupId::from(G));
    let mut c = GroupCoordinator::new(
        CoordinatorConfig {
            owned_partitions: Some(vec![(p + 1) % 5]),
            ..config()
        },
        store,
    );
    c.handle(
        Timestamp(0),
        RequestId(1),
        Request::JoinGroup(JoinGroupRequest::new(G, protocols())),
    );
    let Some((_, Response::JoinGroup(r))) = c.poll_response() else {
        panic!()
    };
    assert_eq!(r.error, ErrorCode::NotCoordinator);
    c.handle(
        Timestamp(0),
        RequestId(2),
        Request::FindCoordinator(G.into()),
    );
    let Some((_, Response::FindCoordinator(f))) = c.poll_response() else {
        panic!()
    };
    assert_eq!((f.error, f.partition), (ErrorCode::NotCoordinator, p));
    c.begin_loading(p);
    c.handle(
        Timestamp(0),
        RequestId(3),
        Request::JoinGroup(JoinGroupRequest::new(G, protocols())),
    );
    let Some((_, Response::JoinGroup(r))) = c.poll_response() else {
        panic!()
    };
    assert_eq!(r.error, ErrorCode::CoordinatorLoadInProgress);
    c.handle(
        Timestamp(0),
        RequestId(4),
        Request::Heartbeat(HeartbeatRequest {
            group_id: G.into(),
            generation: Generation(1),
            member_id: "m".into(),
            group_instance_id: None,
        }),
    );
    assert_eq!(
        c.poll_response(),
        Some((RequestId(4), Response::Heartbeat(ErrorCode::None)))
    );
}

#[test]
fn a_coordinator_that_takes_a_group_over_never_hands_out_an_inherited_member_id() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    let p = h.store.partition_of(&GroupId::from(G));
    // A successor with the same seed: its generator would start where the first one did.
    let store = Arc::new(LogOffsetStore::new(h.log.clone()));
    store.load(p).unwrap();
    let mut c = GroupCoordinator::new(config(), store.clone());
    c.load_partition(Timestamp(100), p);
    let mut h2 = H {
        c,
        store,
        log: h.log.clone(),
        next: 100,
    };
    let mut handed_out = Vec::new();
    for _ in 0..20 {
        let id = h2.send(200, Request::JoinGroup(h2.join_req("", None)));
        let r = join_resp(h2.answer(id));
        assert_eq!(r.error, ErrorCode::MemberIdRequired);
        handed_out.push(r.member_id);
    }
    assert!(
        !handed_out.contains(&a) && !handed_out.contains(&b),
        "{handed_out:?}"
    );
    let unique: std::collections::BTreeSet<_> = handed_out.iter().collect();
    assert_eq!(unique.len(), handed_out.len());
}

#[test]
fn a_new_coordinator_loading_the_partition_resumes_the_group() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    assert_eq!(
        commit_code(&mut h, 5, commit_req(&a, 1, 42)),
        ErrorCode::None
    );
    let p = h.store.partition_of(&GroupId::from(G));
    // The first coordinator dies; a second replays the log.
    let store = Arc::new(LogOffsetStore::new(h.log.clone()));
    store.load(p).unwrap();
    let mut c = GroupCoordinator::new(config(), store.clone());
    c.load_partition(Timestamp(100), p);
    let mut h2 = H {
        c,
        store,
        log: h.log.clone(),
        next: 100,
    };
    assert_eq!(h2.state(), Some(GroupState::Stable));
    assert_eq!(h2.c.generation(G), Some(Generation(1)));
    assert_eq!(h2.c.members(G), [a.clone(), b.clone()]);
    assert_eq!(h2.heartbeat(200, &a, 1), ErrorCode::None);
    let s = h2.sync(200, &a, 1, vec![]);
    assert_eq!(sync_resp(h2.answer(s)).assignment, [1]);
    assert_eq!(
        commit_code(&mut h2, 300, commit_req(&b, 1, 43)),
        ErrorCode::None
    );
    // Sessions run from the load: b stops heartbeating and is gone 10 s after its commit.
    for t in (1_000..=11_000).step_by(1_000) {
        h2.heartbeat(t, &a, 1);
        h2.c.handle_timeout(Timestamp(t));
    }
    assert_eq!(h2.c.members(G), [a]);
}

#[test]
fn delete_groups_refuses_groups_with_members() {
    let mut h = H::new(config());
    stable_pair(&mut h);
    let id = h.send(
        0,
        Request::DeleteGroups(vec![G.into(), "nothing".into(), "".into()]),
    );
    let Some(Response::DeleteGroups(r)) = h.answer(id) else {
        panic!()
    };
    let codes: Vec<ErrorCode> = r.iter().map(|(_, e)| *e).collect();
    assert_eq!(
        codes,
        [
            ErrorCode::NonEmptyGroup,
            ErrorCode::GroupIdNotFound,
            ErrorCode::InvalidGroupId
        ]
    );
    let mut h = H::new(config());
    commit_code(&mut h, 0, commit_req(&"".into(), -1, 1));
    let id = h.send(0, Request::DeleteGroups(vec![G.into()]));
    let Some(Response::DeleteGroups(r)) = h.answer(id) else {
        panic!()
    };
    assert_eq!(r[0].1, ErrorCode::None);
    assert_eq!(h.state(), None);
    assert!(h.store.list_groups().is_empty());
}

#[test]
fn offset_delete_refuses_topics_the_group_subscribes_to() {
    let mut h = H::new(config());
    let (a, _) = stable_pair(&mut h);
    let id = h.send(
        0,
        Request::OffsetCommit(OffsetCommitRequest {
            group_id: G.into(),
            generation: Generation(1),
            member_id: a.clone(),
            group_instance_id: None,
            retention_ms: None,
            offsets: vec![
                OffsetCommit::new(TopicPartition::new("t", 0), Offset(1)),
                OffsetCommit::new(TopicPartition::new("old", 0), Offset(1)),
            ],
        }),
    );
    h.answer(id);
    let id = h.send(
        0,
        Request::OffsetDelete {
            group_id: G.into(),
            partitions: vec![TopicPartition::new("t", 0), TopicPartition::new("old", 0)],
        },
    );
    let Some(Response::OffsetDelete { error, partitions }) = h.answer(id) else {
        panic!()
    };
    assert_eq!(error, ErrorCode::None);
    assert!(partitions.contains(&(TopicPartition::new("old", 0), ErrorCode::None)));
    assert!(partitions.contains(&(
        TopicPartition::new("t", 0),
        ErrorCode::GroupSubscribedToTopic
    )));
}

#[test]
fn describe_and_list_show_the_group() {
    let mut h = H::new(config());
    let (a, _) = stable_pair(&mut h);
    let id = h.send(0, Request::DescribeGroups(vec![G.into(), "none".into()]));
    let Some(Response::DescribeGroups(d)) = h.answer(id) else {
        panic!()
    };
    assert_eq!(d[0].state, "Stable");
    assert_eq!(d[0].protocol, "range");
    assert_eq!(d[0].members[0].member_id, a);
    assert_eq!(d[0].members[0].assignment, [1]);
    assert_eq!(d[1].state, "Dead");
    let id = h.send(0, Request::ListGroups);
    let Some(Response::ListGroups { error, groups }) = h.answer(id) else {
        panic!()
    };
    assert_eq!(error, ErrorCode::None);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].protocol_type, "consumer");
}

/// Invariant 5: the same inputs at the same times give the same outputs.
#[test]
fn the_same_inputs_give_the_same_outputs() {
    fn run() -> Vec<String> {
        let mut h = H::new(CoordinatorConfig {
            initial_rebalance_delay_ms: 3_000,
            // The log cleaner's first look comes after the delay.
            log_cleaner_backoff_ms: 60_000,
            ..CoordinatorConfig::default()
        });
        let mut out = Vec::new();
        let mut members = Vec::new();
        for i in 0..5 {
            let (m, _) = h.new_member(i * 100);
            members.push(m);
        }
        assert_eq!(h.c.poll_timeout(), Some(Timestamp(3_000)));
        h.c.handle_timeout(Timestamp(10_000));
        out.extend(h.drain().iter().map(|r| format!("{r:?}")));
        for (i, m) in members.iter().enumerate() {
            h.sync(10_000 + i as u64, m, 1, vec![(m.clone(), vec![i as u8])]);
        }
        h.c.handle_timeout(Timestamp(100_000));
        out.extend(h.drain().iter().map(|r| format!("{r:?}")));
        out
    }
    let first = run();
    assert!(first.len() > 5);
    assert_eq!(first, run());
}

// ---- Every request type in every group state ----------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Fixture {
    NoGroup,
    Empty,
    Preparing,
    Completing,
    Stable,
}

/// A group in the fixture's state and a member the requests speak as (with its generation).
fn fixture(f: Fixture) -> (H, MemberId, i32) {
    let mut h = H::new(config());
    match f {
        Fixture::NoGroup => (h, "client-gone".into(), 1),
        Fixture::Empty => {
            let (a, b) = stable_pair(&mut h);
            let leave = |m: &MemberId| LeavingMember {
                member_id: m.clone(),
                group_instance_id: None,
                reason: None,
            };
            h.send(
                0,
                Request::LeaveGroup(LeaveGroupRequest {
                    group_id: G.into(),
                    members: vec![leave(&a), leave(&b)],
                }),
            );
            h.drain();
            assert_eq!(h.state(), Some(GroupState::Empty));
            (h, b, 2)
        }
        Fixture::Preparing => {
            let (_, b) = stable_pair(&mut h);
            h.new_member(0);
            h.drain();
            assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
            (h, b, 1)
        }
        Fixture::Completing => {
            let v = h.new_members(0, 2);
            h.drain();
            assert_eq!(h.state(), Some(GroupState::CompletingRebalance));
            (h, v[1].0.clone(), 1)
        }
        Fixture::Stable => {
            let (_, b) = stable_pair(&mut h);
            (h, b, 1)
        }
    }
}

/// The outcome of one request: an error code's name, or "parked".
fn outcome(h: &mut H, r: Request) -> String {
    let id = h.send(1, r);
    let Some(resp) = h.answer(id) else {
        return "parked".into();
    };
    let code = match resp {
        Response::JoinGroup(j) => j.error,
        Response::SyncGroup(s) => s.error,
        Response::Heartbeat(e) => e,
        Response::LeaveGroup(l) => {
            if l.error == ErrorCode::None {
                l.members[0].1
            } else {
                l.error
            }
        }
        Response::OffsetCommit(c) | Response::TxnOffsetCommit(c) => c.partitions[0].1,
        Response::OffsetFetch(f) => f.error,
        Response::DeleteGroups(d) => d[0].1,
        other => panic!("{other:?}"),
    };
    code.name().to_string()
}

#[test]
fn every_request_in_every_state_gets_kafkas_answer() {
    use Fixture::*;
    let states = [NoGroup, Empty, Preparing, Completing, Stable];
    type Make = fn(&H, &MemberId, i32) -> Request;
    let requests: [(&str, Make, [&str; 5]); 9] = [
        (
            "JoinGroup without member id",
            |h, _, _| Request::JoinGroup(h.join_req("", None)),
            ["MEMBER_ID_REQUIRED"; 5],
        ),
        (
            "JoinGroup as the member",
            |h, m, _| Request::JoinGroup(h.join_req(m, None)),
            [
                "UNKNOWN_MEMBER_ID",
                "UNKNOWN_MEMBER_ID",
                "parked",
                "NONE",
                "NONE",
            ],
        ),
        (
            "SyncGroup",
            |_, m, g| {
                Request::SyncGroup(SyncGroupRequest {
                    group_id: G.into(),
                    generation: Generation(g),
                    member_id: m.clone(),
                    group_instance_id: None,
                    protocol_type: None,
                    protocol_name: None,
                    assignments: vec![],
                })
            },
            [
                "UNKNOWN_MEMBER_ID",
                "UNKNOWN_MEMBER_ID",
                "REBALANCE_IN_PROGRESS",
                "parked",
                "NONE",
            ],
        ),
        (
            "Heartbeat",
            |_, m, g| {
                Request::Heartbeat(HeartbeatRequest {
                    group_id: G.into(),
                    generation: Generation(g),
                    member_id: m.clone(),
                    group_instance_id: None,
                })
            },
            [
                "UNKNOWN_MEMBER_ID",
                "UNKNOWN_MEMBER_ID",
                "REBALANCE_IN_PROGRESS",
                "NONE",
                "NONE",
            ],
        ),
        (
            "LeaveGroup",
            |_, m, _| {
                Request::LeaveGroup(LeaveGroupRequest {
                    group_id: G.into(),
                    members: vec![LeavingMember {
                        member_id: m.clone(),
                        group_instance_id: None,
                        reason: None,
                    }],
                })
            },
            [
                "UNKNOWN_MEMBER_ID",
                "UNKNOWN_MEMBER_ID",
                "NONE",
                "NONE",
                "NONE",
            ],
        ),
        (
            "OffsetCommit as the member",
            |_, m, g| commit_req(m, g, 1),
            [
                "ILLEGAL_GENERATION",
                "UNKNOWN_MEMBER_ID",
                "NONE",
                "REBALANCE_IN_PROGRESS",
                "NONE",
            ],
        ),
        (
            "OffsetCommit standalone",
            |_, _, _| commit_req(&"".into(), -1, 1),
            [
                "NONE",
                "NONE",
                "UNKNOWN_MEMBER_ID",
                "UNKNOWN_MEMBER_ID",
                "UNKNOWN_MEMBER_ID",
            ],
        ),
        (
            "OffsetFetch",
            |_, _, _| {
                Request::OffsetFetch(OffsetFetchRequest {
                    group_id: G.into(),
                    partitions: None,
                    require_stable: false,
                })
            },
            ["NONE"; 5],
        ),
        (
            "DeleteGroups",
            |_, _, _| Request::DeleteGroups(vec![G.into()]),
            [
                "GROUP_ID_NOT_FOUND",
                "NONE",
                "NON_EMPTY_GROUP",
                "NON_EMPTY_GROUP",
                "NON_EMPTY_GROUP",
            ],
        ),
    ];
    let mut wrong = Vec::new();
    for (name, make, expected) in requests {
        for (state, want) in states.iter().zip(expected) {
            let (mut h, m, g) = fixture(*state);
            let r = make(&h, &m, g);
            let got = outcome(&mut h, r);
            if got != want {
                wrong.push(format!("{name} in {state:?}: got {got}, want {want}"));
            }
            h.c.check_consistency().unwrap();
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---- Hostile input ------------------------------------------------------------------------

mod hostile {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Join(usize, Option<usize>, i32, bool),
        Sync(usize, i32, bool),
        Heartbeat(usize, i32),
        Leave(usize, Option<usize>),
        Commit(usize, i32),
        TxnCommit(usize, i32, i16),
        Delete,
        Time(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (
                0usize..8,
                prop::option::of(0usize..3),
                prop_oneof![Just(10_000), any::<i32>()],
                any::<bool>()
            )
                .prop_map(|(m, i, s, p)| Op::Join(m, i, s, p)),
            (0usize..8, -1i32..4, any::<bool>()).prop_map(|(m, g, a)| Op::Sync(m, g, a)),
            (0usize..8, -1i32..4).prop_map(|(m, g)| Op::Heartbeat(m, g)),
            (0usize..8, prop::option::of(0usize..3)).prop_map(|(m, i)| Op::Leave(m, i)),
            (0usize..8, -1i32..4).prop_map(|(m, g)| Op::Commit(m, g)),
            (0usize..8, -1i32..4, 0i16..3).prop_map(|(m, g, e)| Op::TxnCommit(m, g, e)),
            Just(Op::Delete),
            (0u64..20_000).prop_map(Op::Time),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Invariant 6: no input, however malformed or ill-timed, panics; every request is
        /// answered at most once; the coordinator stays consistent.
        #[test]
        fn no_sequence_of_requests_breaks_the_coordinator(ops in prop::collection::vec(op(), 1..80)) {
            let mut h = H::new(CoordinatorConfig { initial_rebalance_delay_ms: 500, ..config() });
            // Ids the members may speak as: learned ones, plus junk.
            let mut ids: Vec<MemberId> = vec![
                "".into(),
                "junk".into(),
                MemberId::from("x".repeat(40_000)),
            ];
            let mut now = 0u64;
            let mut answered = std::collections::HashSet::new();
            for op in ops {
                let pick = |ids: &Vec<MemberId>, m: usize| ids[m % ids.len()].clone();
                let req = match op {
                    Op::Join(m, i, session, bad_protocol) => {
                        let mut r = h.join_req(&pick(&ids, m), i.map(|i| ["s1", "s2", ""][i]));
                        r.session_timeout_ms = session;
                        if bad_protocol {
                            r.protocols = vec![JoinProtocol::new("other", vec![0xff; 3])];
                        }
                        Some(Request::JoinGroup(r))
                    }
                    Op::Sync(m, g, assign) => {
                        let member = pick(&ids, m);
                        let assignments = if assign {
                            ids.iter().map(|id| (id.clone(), vec![1, 2])).collect()
                        } else {
                            vec![]
                        };
                        Some(Request::SyncGroup(SyncGroupRequest {
                            group_id: G.into(),
                            generation: Generation(g),
                            member_id: member,
                            group_instance_id: None,
                            protocol_type: None,
                            protocol_name: None,
                            assignments,
                        }))
                    }
                    Op::Heartbeat(m, g) => Some(Request::Heartbeat(HeartbeatRequest {
                        group_id: G.into(),
                        generation: Generation(g),
                        member_id: pick(&ids, m),
                        group_instance_id: None,
                    })),
                    Op::Leave(m, i) => Some(Request::LeaveGroup(LeaveGroupRequest {
                        group_id: G.into(),
                        members: vec![LeavingMember {
                            member_id: pick(&ids, m),
                            group_instance_id: i.map(|i| GroupInstanceId::from(["s1", "s2", ""][i])),
                            reason: None,
                        }],
                    })),
                    Op::Commit(m, g) => Some(commit_req(&pick(&ids, m), g, 5)),
                    Op::TxnCommit(m, g, epoch) => {
                        let producer = Producer { id: 7, epoch };
                        Some(txn_req_by(producer, &pick(&ids, m), g, None, 5))
                    }
                    Op::Delete => Some(Request::DeleteGroups(vec![G.into()])),
                    Op::Time(dt) => {
                        now += dt;
                        h.c.handle_timeout(Timestamp(now));
                        None
                    }
                };
                if let Some(req) = req {
                    h.next += 1;
                    let id = RequestId(h.next);
                    h.c.handle(Timestamp(now), id, req);
                }
                for (rid, resp) in h.drain() {
                    prop_assert!(answered.insert(rid), "{rid:?} answered twice");
                    if let Response::JoinGroup(j) = &resp {
                        if !j.member_id.is_empty() && !ids.contains(&j.member_id) {
                            ids.push(j.member_id.clone());
                        }
                    }
                }
                if let Err(e) = h.c.check_consistency() {
                    prop_assert!(false, "{e}");
                }
            }
        }
    }
}

#[test]
fn a_new_member_that_never_completes_its_join_is_removed_after_five_minutes() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    // Long rebalance timeouts, so only the new-member timeout can end the wait.
    let join_long = |h: &H, m: &str| {
        let mut r = h.join_req(m, None);
        r.rebalance_timeout_ms = 600_000;
        Request::JoinGroup(r)
    };
    let id = h.send(0, join_long(&h, ""));
    let Some(Response::JoinGroup(r)) = h.answer(id) else {
        panic!()
    };
    let c = r.member_id;
    let parked = h.send(0, join_long(&h, &c));
    // a and b keep heartbeating but never rejoin: the rebalance cannot complete.
    for t in (5_000..300_000).step_by(5_000) {
        h.heartbeat(t, &a, 1);
        h.heartbeat(t, &b, 1);
        h.c.handle_timeout(Timestamp(t));
    }
    assert!(h.c.members(G).contains(&c));
    h.c.handle_timeout(Timestamp(300_000));
    assert!(
        !h.c.members(G).contains(&c),
        "gone after the new-member timeout"
    );
    let r = join_resp(h.answer(parked));
    assert_eq!(r.error, ErrorCode::UnknownMemberId);
}

#[test]
fn unloading_a_partition_answers_parked_requests_with_not_coordinator() {
    let mut h = H::new(config());
    let v = h.new_members(0, 2);
    h.drain();
    let parked = h.sync(0, &v[1].0, 1, vec![]);
    assert!(h.drain().is_empty());
    let p = h.store.partition_of(&GroupId::from(G));
    h.c.unload_partition(p);
    assert_eq!(sync_resp(h.answer(parked)).error, ErrorCode::NotCoordinator);
    assert_eq!(h.state(), None);
    assert_eq!(h.heartbeat(1, &v[0].0, 1), ErrorCode::NotCoordinator);
}

#[test]
fn a_known_member_the_group_has_no_room_for_is_removed() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    // The limit shrinks below the group's size, as after a broker restart with a new
    // group.max.size: loading starts a rebalance, and only one member may rejoin.
    let p = h.store.partition_of(&GroupId::from(G));
    h.c = GroupCoordinator::new(
        CoordinatorConfig {
            max_group_size: 1,
            ..config()
        },
        h.store.clone(),
    );
    h.c.load_partition(Timestamp(0), p);
    assert_eq!(h.c.members(G).len(), 2);
    let ja = h.rejoin(1, &a);
    // a rejoins and is parked; b is over the limit.
    let jb = h.rejoin(1, &b);
    let all = h.drain();
    let get = |id| join_resp(all.iter().find(|(r, _)| *r == id).map(|(_, r)| r.clone()));
    let (ra, rb) = (get(ja), get(jb));
    assert_eq!(rb.error, ErrorCode::GroupMaxSizeReached);
    assert_eq!(h.c.members(G), std::slice::from_ref(&a));
    assert_eq!(ra.error, ErrorCode::None);
    assert_eq!(ra.members.len(), 1);
}

#[test]
fn leaving_answers_the_members_parked_join_and_static_members_leave_by_instance_id() {
    let mut h = H::new(config());
    let j = static_join(&mut h, 0, "i-1");
    let s = join_resp(h.answer(j)).member_id;
    h.sync(0, &s, 1, vec![]);
    h.drain();
    let (d, parked) = h.new_member(1);
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
    let leave = |member: &str, instance: Option<&str>| LeavingMember {
        member_id: member.into(),
        group_instance_id: instance.map(GroupInstanceId::from),
        reason: Some("shutdown".into()),
    };
    let id = h.send(
        2,
        Request::LeaveGroup(LeaveGroupRequest {
            group_id: G.into(),
            members: vec![
                leave(&d, None),
                leave("wrong-id", Some("i-1")),
                leave("", Some("i-1")),
            ],
        }),
    );
    let all = h.drain();
    let parked_answer = all
        .iter()
        .find(|(r, _)| *r == parked)
        .map(|(_, r)| r.clone());
    assert_eq!(join_resp(parked_answer).error, ErrorCode::UnknownMemberId);
    let Some(Response::LeaveGroup(r)) = all.iter().find(|(r, _)| *r == id).map(|(_, r)| r.clone())
    else {
        panic!()
    };
    let codes: Vec<ErrorCode> = r.members.iter().map(|(_, e)| *e).collect();
    assert_eq!(
        codes,
        [
            ErrorCode::None,
            ErrorCode::FencedInstanceId,
            ErrorCode::None
        ]
    );
    assert!(h.c.members(G).is_empty());
    assert_eq!(h.state(), Some(GroupState::Empty));
}

#[test]
fn static_member_rejoin_with_a_new_protocol_in_stable_group_rebalances() {
    let mut h = H::new(config());
    let j = static_join(&mut h, 0, "i-1");
    let old = join_resp(h.answer(j)).member_id;
    h.sync(0, &old, 1, vec![]);
    h.drain();
    let mut r = h.join_req("", Some("i-1"));
    // Still supports the group's protocol, but now prefers another.
    r.protocols = vec![
        JoinProtocol::new("roundrobin", vec![]),
        JoinProtocol::new("range", vec![]),
    ];
    let j = h.send(5, Request::JoinGroup(r));
    let resp = join_resp(h.answer(j));
    assert_eq!(resp.error, ErrorCode::None);
    assert_eq!(
        resp.generation,
        Generation(2),
        "the protocol changes, so a rebalance runs"
    );
    assert_eq!(resp.protocol_name.as_deref(), Some("roundrobin"));
}

#[test]
fn static_member_rejoin_with_other_topics_in_stable_group_rebalances() {
    let mut h = H::new(config());
    let j = static_join(&mut h, 0, "i-1");
    let old = join_resp(h.answer(j)).member_id;
    h.sync(0, &old, 1, vec![]);
    h.drain();
    // Same topics, different owned partitions and user data (as any restarted process
    // sends): the stored assignment stands.
    let mut r = h.join_req("", Some("i-1"));
    let mut same = Subscription::new(["t"]);
    same.user_data = Some(vec![1, 2, 3]);
    same.owned_partitions = vec![TopicPartitions::new("t", [0, 1])];
    r.protocols = vec![JoinProtocol::new("range", same.encode(1).unwrap())];
    let j = h.send(5, Request::JoinGroup(r));
    let resp = join_resp(h.answer(j));
    assert_eq!(resp.generation, Generation(1), "no rebalance");
    assert!(resp.skip_assignment);
    h.drain();
    // Another topic besides: nobody would assign it without a rebalance, so one runs.
    let mut r = h.join_req("", Some("i-1"));
    r.protocols = vec![JoinProtocol::new("range", subscription(&["t", "u"]))];
    let j = h.send(10, Request::JoinGroup(r));
    let resp = join_resp(h.answer(j));
    assert_eq!(resp.error, ErrorCode::None);
    assert_eq!(resp.generation, Generation(2), "the topics changed");
    assert!(!resp.skip_assignment);
}

#[test]
fn the_join_phase_waits_for_the_largest_rebalance_timeout() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    // The leader rejoins (a rebalance) with a 120 s rebalance timeout; b never rejoins but
    // keeps heartbeating. The join phase lasts the largest member's timeout, not b's 60 s.
    let mut r = h.join_req(&a, None);
    r.rebalance_timeout_ms = 120_000;
    let ja = h.send(1_000, Request::JoinGroup(r));
    for t in (5_000..=120_000).step_by(5_000) {
        h.heartbeat(t, &b, 1);
        h.c.handle_timeout(Timestamp(t));
        assert_eq!(h.state(), Some(GroupState::PreparingRebalance), "at {t}");
    }
    h.c.handle_timeout(Timestamp(121_000));
    let resp = join_resp(h.answer(ja));
    assert_eq!(resp.generation, Generation(2));
    assert_eq!(
        h.c.members(G),
        std::slice::from_ref(&a),
        "b did not rejoin in time"
    );
}

// ---- TxnOffsetCommit (KIP-447) ------------------------------------------------------------

/// The transactional producer of these tests.
const PRODUCER: Producer = Producer { id: 7, epoch: 0 };

/// A TxnOffsetCommit of `offset` for t-0 by `producer`, with a consumer's group metadata.
fn txn_req_by(
    producer: Producer,
    member: &MemberId,
    generation: i32,
    instance: Option<&str>,
    offset: i64,
) -> Request {
    Request::TxnOffsetCommit(TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        producer_id: producer.id,
        producer_epoch: producer.epoch,
        group_id: G.into(),
        generation: Generation(generation),
        member_id: member.clone(),
        group_instance_id: instance.map(GroupInstanceId::from),
        offsets: vec![OffsetCommit::new(
            TopicPartition::new("t", 0),
            Offset(offset),
        )],
    })
}

/// A TxnOffsetCommit of `offset` for t-0 by [`PRODUCER`], as a dynamic member.
fn txn_req(member: &MemberId, generation: i32, offset: i64) -> Request {
    txn_req_by(PRODUCER, member, generation, None, offset)
}

/// The codes of a TxnOffsetCommit's answer.
fn txn_codes(h: &mut H, now: u64, r: Request) -> Vec<ErrorCode> {
    let id = h.send(now, r);
    match h.answer(id) {
        Some(Response::TxnOffsetCommit(c)) => c.partitions.into_iter().map(|(_, e)| e).collect(),
        other => panic!("expected a TxnOffsetCommit response, got {other:?}"),
    }
}

/// The code of a one-offset TxnOffsetCommit.
fn txn_code(h: &mut H, now: u64, r: Request) -> ErrorCode {
    let codes = txn_codes(h, now, r);
    assert_eq!(codes.len(), 1);
    codes[0]
}

/// t-0's committed offset as an OffsetFetch through the coordinator answers it.
fn fetch_t0(h: &mut H, now: u64, require_stable: bool) -> Result<Option<Offset>, ErrorCode> {
    let id = h.send(
        now,
        Request::OffsetFetch(OffsetFetchRequest {
            group_id: G.into(),
            partitions: Some(vec![TopicPartition::new("t", 0)]),
            require_stable,
        }),
    );
    let Some(Response::OffsetFetch(f)) = h.answer(id) else {
        panic!("no OffsetFetch answer")
    };
    assert_eq!(f.error, ErrorCode::None);
    f.partitions[0].1.clone().map(|c| c.map(|c| c.offset))
}

fn end_txn(h: &H, now: u64, outcome: TxnOutcome) {
    let p = h.store.partition_of(&GroupId::from(G));
    h.store
        .write_txn_marker(p, PRODUCER, outcome, 0, Timestamp(now))
        .unwrap();
}

#[test]
fn a_txn_offset_commit_stays_pending_until_the_commit_marker() {
    let mut h = H::new(config());
    let (a, _) = stable_pair(&mut h);
    assert_eq!(
        commit_code(&mut h, 1, commit_req(&a, 1, 5)),
        ErrorCode::None
    );
    assert_eq!(txn_code(&mut h, 2, txn_req(&a, 1, 9)), ErrorCode::None);
    // Stored before the answer: pending, so a stable fetch refuses and a plain one does not
    // see it.
    assert_eq!(
        fetch_t0(&mut h, 3, true),
        Err(ErrorCode::UnstableOffsetCommit)
    );
    assert_eq!(fetch_t0(&mut h, 3, false), Ok(Some(Offset(5))));
    end_txn(&h, 4, TxnOutcome::Commit);
    assert_eq!(fetch_t0(&mut h, 5, true), Ok(Some(Offset(9))));
    assert_eq!(fetch_t0(&mut h, 5, false), Ok(Some(Offset(9))));
    h.c.check_consistency().unwrap();
}

#[test]
fn a_txn_offset_commit_is_dropped_by_the_abort_marker() {
    let mut h = H::new(config());
    let (a, _) = stable_pair(&mut h);
    assert_eq!(
        commit_code(&mut h, 1, commit_req(&a, 1, 5)),
        ErrorCode::None
    );
    assert_eq!(txn_code(&mut h, 2, txn_req(&a, 1, 9)), ErrorCode::None);
    assert_eq!(
        fetch_t0(&mut h, 3, true),
        Err(ErrorCode::UnstableOffsetCommit)
    );
    end_txn(&h, 4, TxnOutcome::Abort);
    assert_eq!(fetch_t0(&mut h, 5, true), Ok(Some(Offset(5))));
    assert_eq!(fetch_t0(&mut h, 5, false), Ok(Some(Offset(5))));
}

/// Kafka's `validateOffsetCommit` with `isTransactional = true`, in every group state: like
/// OffsetCommit's, but no UNKNOWN_MEMBER_ID for a commit without group metadata to a group
/// with members, no REBALANCE_IN_PROGRESS, and an unknown group is created Empty whatever the
/// generation. A refused commit leaves nothing pending.
#[test]
fn txn_offset_commits_are_validated_as_kafka_does_in_every_state() {
    use Fixture::*;
    let states = [NoGroup, Empty, Preparing, Completing, Stable];
    type Make = fn(&MemberId, i32) -> Request;
    let requests: [(&str, Make, [&str; 5]); 6] = [
        (
            "as the member",
            |m, g| txn_req(m, g, 1),
            [
                "UNKNOWN_MEMBER_ID",
                "UNKNOWN_MEMBER_ID",
                "NONE",
                "NONE",
                "NONE",
            ],
        ),
        (
            "without group metadata (before KIP-447)",
            |_, _| txn_req(&"".into(), -1, 1),
            ["NONE"; 5],
        ),
        (
            "with the previous generation",
            |m, g| txn_req(m, g - 1, 1),
            [
                "UNKNOWN_MEMBER_ID",
                "UNKNOWN_MEMBER_ID",
                "ILLEGAL_GENERATION",
                "ILLEGAL_GENERATION",
                "ILLEGAL_GENERATION",
            ],
        ),
        (
            "as a member the group does not know",
            |_, g| txn_req(&"ghost".into(), g, 1),
            ["UNKNOWN_MEMBER_ID"; 5],
        ),
        (
            // Kafka checks the generation whenever a member id is given, except that
            // generation -1 to an Empty group is accepted as is (KAFKA-14201).
            "as the member with generation -1",
            |m, _| txn_req(m, -1, 1),
            [
                "NONE",
                "NONE",
                "ILLEGAL_GENERATION",
                "ILLEGAL_GENERATION",
                "ILLEGAL_GENERATION",
            ],
        ),
        (
            "with the generation but no member id",
            |_, g| txn_req(&"".into(), g, 1),
            ["UNKNOWN_MEMBER_ID"; 5],
        ),
    ];
    let mut wrong = Vec::new();
    for (name, make, expected) in requests {
        for (state, want) in states.iter().zip(expected) {
            let (mut h, m, g) = fixture(*state);
            let before = h.state();
            let got = outcome(&mut h, make(&m, g));
            if got != want {
                wrong.push(format!("{name} in {state:?}: got {got}, want {want}"));
            }
            let pending = h
                .store
                .fetch(&GroupId::from(G), &[TopicPartition::new("t", 0)], true);
            let is_pending = pending[0] == Err(ErrorCode::UnstableOffsetCommit);
            if is_pending != (got == "NONE") {
                wrong.push(format!(
                    "{name} in {state:?}: {got}, but pending: {is_pending}"
                ));
            }
            if got == "NONE" && before.is_none() {
                if h.state() != Some(GroupState::Empty) {
                    wrong.push(format!("{name}: created the group {:?}", h.state()));
                }
            } else if h.state() != before {
                wrong.push(format!(
                    "{name} in {state:?}: {before:?} -> {:?}",
                    h.state()
                ));
            }
            h.c.check_consistency().unwrap();
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_txn_offset_commit_to_an_unknown_group_creates_it_empty_only_without_group_metadata() {
    let mut h = H::new(config());
    assert_eq!(
        txn_code(&mut h, 0, txn_req(&"m".into(), 3, 5)),
        ErrorCode::UnknownMemberId,
        "the group has no members, so no member can commit with a generation"
    );
    assert_eq!(
        txn_code(
            &mut h,
            0,
            txn_req_by(PRODUCER, &"".into(), 0, Some("i-1"), 5)
        ),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(h.state(), None, "refused commits create no group");
    assert_eq!(
        txn_code(&mut h, 1, txn_req(&"".into(), -1, 5)),
        ErrorCode::None
    );
    assert_eq!(h.state(), Some(GroupState::Empty));
    assert_eq!(h.c.generation(G), Some(Generation(0)));
    assert_eq!(
        fetch_t0(&mut h, 2, true),
        Err(ErrorCode::UnstableOffsetCommit)
    );
    end_txn(&h, 3, TxnOutcome::Commit);
    assert_eq!(fetch_t0(&mut h, 4, true), Ok(Some(Offset(5))));
    // An empty group id is refused as OffsetCommit refuses it.
    let mut r = TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        producer_id: 1,
        producer_epoch: 0,
        group_id: "".into(),
        generation: Generation::NONE,
        member_id: "".into(),
        group_instance_id: None,
        offsets: vec![
            OffsetCommit::new(TopicPartition::new("t", 0), Offset(1)),
            OffsetCommit::new(TopicPartition::new("t", 1), Offset(1)),
        ],
    };
    assert_eq!(
        txn_codes(&mut h, 5, Request::TxnOffsetCommit(r.clone())),
        [ErrorCode::InvalidGroupId; 2]
    );
    r.group_id = G.into();
    r.offsets.clear();
    assert!(txn_codes(&mut h, 5, Request::TxnOffsetCommit(r)).is_empty());
}

/// KIP-447's zombie fencing: a producer whose consumer missed a rebalance commits with the
/// old generation and is refused, during the rebalance and after it, while the current
/// generation's commits go through in every state.
#[test]
fn txn_offset_commits_are_fenced_by_generation_through_a_rebalance() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    // A third member joins: PreparingRebalance, still generation 1.
    let (c, jc) = h.new_member(10);
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
    assert_eq!(txn_code(&mut h, 11, txn_req(&a, 1, 1)), ErrorCode::None);
    assert_eq!(
        txn_code(&mut h, 11, txn_req(&a, 0, 1)),
        ErrorCode::IllegalGeneration
    );
    // a and b rejoin: CompletingRebalance in generation 2.
    let ja = h.rejoin(12, &a);
    let jb = h.rejoin(12, &b);
    let all = h.drain();
    assert!([ja, jb, jc].iter().all(|j| all.iter().any(|(r, _)| r == j)));
    assert_eq!(h.state(), Some(GroupState::CompletingRebalance));
    assert_eq!(h.c.generation(G), Some(Generation(2)));
    assert_eq!(
        txn_code(&mut h, 13, txn_req(&b, 1, 2)),
        ErrorCode::IllegalGeneration,
        "b's producer still speaks for generation 1"
    );
    assert_eq!(txn_code(&mut h, 13, txn_req(&b, 2, 2)), ErrorCode::None);
    assert_eq!(txn_code(&mut h, 13, txn_req(&c, 2, 2)), ErrorCode::None);
    // Stable in generation 2.
    h.sync(14, &a, 2, vec![]);
    h.sync(14, &b, 2, vec![]);
    h.sync(14, &c, 2, vec![]);
    h.drain();
    assert_eq!(h.state(), Some(GroupState::Stable));
    assert_eq!(
        txn_code(&mut h, 15, txn_req(&a, 1, 3)),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(txn_code(&mut h, 15, txn_req(&a, 2, 3)), ErrorCode::None);
    end_txn(&h, 16, TxnOutcome::Commit);
    assert_eq!(fetch_t0(&mut h, 17, true), Ok(Some(Offset(3))));
    h.c.check_consistency().unwrap();
}

#[test]
fn a_txn_offset_commit_for_a_replaced_static_member_is_fenced() {
    let mut h = H::new(config());
    let j = static_join(&mut h, 0, "i-1");
    let old = join_resp(h.answer(j)).member_id;
    let s = h.sync(0, &old, 1, vec![(old.clone(), vec![9])]);
    h.answer(s);
    assert_eq!(
        txn_code(&mut h, 1, txn_req_by(PRODUCER, &old, 1, Some("i-1"), 1)),
        ErrorCode::None
    );
    // The instance restarts and takes a new member id.
    let j = static_join(&mut h, 10, "i-1");
    let new = join_resp(h.answer(j)).member_id;
    assert_ne!(new, old);
    assert_eq!(
        txn_code(&mut h, 11, txn_req_by(PRODUCER, &old, 1, Some("i-1"), 2)),
        ErrorCode::FencedInstanceId
    );
    assert_eq!(
        txn_code(&mut h, 11, txn_req_by(PRODUCER, &new, 1, Some("i-2"), 2)),
        ErrorCode::UnknownMemberId,
        "an instance id the group does not know"
    );
    assert_eq!(
        txn_code(&mut h, 11, txn_req_by(PRODUCER, &new, 1, Some("i-1"), 2)),
        ErrorCode::None
    );
}

#[test]
fn a_txn_offset_commit_does_not_extend_the_members_session() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    // a's producer commits, a never heartbeats: a is gone after its 10 s session.
    for t in (4_000..=12_000).step_by(4_000) {
        let code = txn_code(&mut h, t, txn_req(&a, 1, t as i64));
        assert_eq!(code, ErrorCode::None, "at {t}");
        h.heartbeat(t, &b, 1);
        h.c.handle_timeout(Timestamp(t));
    }
    assert_eq!(h.c.members(G), [b]);
    assert_eq!(
        txn_code(&mut h, 12_001, txn_req(&a, 1, 1)),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn txn_offset_commits_get_not_coordinator_and_load_in_progress() {
    let log = Arc::new(MemoryLog::new(5));
    let store = Arc::new(LogOffsetStore::new(log.clone()));
    let p = store.partition_of(&GroupId::from(G));
    let mut h = H {
        c: GroupCoordinator::new(
            CoordinatorConfig {
                owned_partitions: Some(vec![(p + 1) % 5]),
                ..config()
            },
            store,
        ),
        store: Arc::new(LogOffsetStore::new(log.clone())),
        log,
        next: 0,
    };
    for (member, generation) in [("", -1), ("m", 1)] {
        assert_eq!(
            txn_code(&mut h, 0, txn_req(&member.into(), generation, 1)),
            ErrorCode::NotCoordinator
        );
    }
    h.c.begin_loading(p);
    for (member, generation) in [("", -1), ("m", 1)] {
        assert_eq!(
            txn_code(&mut h, 0, txn_req(&member.into(), generation, 1)),
            ErrorCode::CoordinatorLoadInProgress
        );
    }
    assert_eq!(h.state(), None);
    assert_eq!(h.log.record_count(p).unwrap(), 0, "nothing was written");
}

#[test]
fn txn_offset_commit_codes_per_offset_come_from_the_store() {
    let mut h = H::new(config());
    let (a, _) = stable_pair(&mut h);
    let r = |epoch: i16, metadata: usize| TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        producer_id: PRODUCER.id,
        producer_epoch: epoch,
        group_id: G.into(),
        generation: Generation(1),
        member_id: a.clone(),
        group_instance_id: None,
        offsets: vec![
            OffsetCommit::new(TopicPartition::new("t", 0), Offset(1)),
            OffsetCommit::new(TopicPartition::new("t", 1), Offset(1))
                .metadata("x".repeat(metadata)),
        ],
    };
    assert_eq!(
        txn_codes(&mut h, 1, Request::TxnOffsetCommit(r(1, 5_000))),
        [ErrorCode::None, ErrorCode::OffsetMetadataTooLarge]
    );
    // The same producer id with an older epoch than the pending commit's: fenced.
    assert_eq!(
        txn_codes(&mut h, 2, Request::TxnOffsetCommit(r(0, 0))),
        [ErrorCode::ProducerFenced; 2]
    );
}

/// A log whose appends can be made to fail, as a full disk would.
struct FlakyLog {
    inner: MemoryLog,
    fail: AtomicBool,
}

impl Log for FlakyLog {
    fn partition_count(&self) -> u32 {
        self.inner.partition_count()
    }
    fn append(&self, partition: u32, records: &[Record<'_>]) -> Result<Range<i64>, Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::Storage("disk full".into()));
        }
        self.inner.append(partition, records)
    }
    fn read(
        &self,
        partition: u32,
        from: i64,
        limit: ReadLimit,
        visit: &mut dyn FnMut(RecordView<'_>),
    ) -> Result<i64, Error> {
        self.inner.read(partition, from, limit, visit)
    }
    fn start_offset(&self, partition: u32) -> Result<i64, Error> {
        self.inner.start_offset(partition)
    }
    fn end_offset(&self, partition: u32) -> Result<i64, Error> {
        self.inner.end_offset(partition)
    }
    fn truncate_prefix(&self, partition: u32, new_start: i64) -> Result<(), Error> {
        self.inner.truncate_prefix(partition, new_start)
    }
    fn compact(&self, p: u32, now: Timestamp, retention: u64) -> Result<CompactionStats, Error> {
        self.inner.compact(p, now, retention)
    }
}

#[test]
fn a_txn_offset_commit_the_store_fails_to_write_is_refused_and_leaves_nothing_pending() {
    let log = Arc::new(FlakyLog {
        inner: MemoryLog::new(5),
        fail: AtomicBool::new(true),
    });
    let store = Arc::new(LogOffsetStore::new(log.clone()));
    let mut c = GroupCoordinator::new(config(), store.clone());
    let g = GroupId::from(G);
    let ask = |c: &mut GroupCoordinator, id: u64, r: Request| {
        c.handle(Timestamp(id), RequestId(id), r);
        c.poll_response().expect("answered at once")
    };
    let (_, plain) = ask(&mut c, 1, commit_req(&"".into(), -1, 5));
    let Response::OffsetCommit(plain) = plain else {
        panic!("{plain:?}")
    };
    let (_, txn) = ask(&mut c, 2, txn_req(&"".into(), -1, 9));
    let Response::TxnOffsetCommit(txn) = txn else {
        panic!("{txn:?}")
    };
    assert_eq!(txn.partitions[0].1, ErrorCode::CoordinatorNotAvailable);
    assert_eq!(txn, plain, "answered as a failed OffsetCommit write is");
    log.fail.store(false, Ordering::SeqCst);
    let tp = TopicPartition::new("t", 0);
    assert_eq!(store.fetch(&g, std::slice::from_ref(&tp), true), [Ok(None)]);
    // The marker finds nothing to commit.
    store
        .write_txn_marker(
            store.partition_of(&g),
            PRODUCER,
            TxnOutcome::Commit,
            0,
            Timestamp(3),
        )
        .unwrap();
    assert_eq!(store.fetch(&g, &[tp], true), [Ok(None)]);
    c.check_consistency().unwrap();
}

#[test]
fn pending_txn_offsets_survive_a_coordinator_failover() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    assert_eq!(
        commit_code(&mut h, 1, commit_req(&a, 1, 5)),
        ErrorCode::None
    );
    assert_eq!(txn_code(&mut h, 2, txn_req(&a, 1, 9)), ErrorCode::None);
    let p = h.store.partition_of(&GroupId::from(G));
    // The first coordinator dies with the transaction open; a second replays the log.
    let store = Arc::new(LogOffsetStore::new(h.log.clone()));
    store.load(p).unwrap();
    let mut c = GroupCoordinator::new(config(), store.clone());
    c.load_partition(Timestamp(100), p);
    let mut h2 = H {
        c,
        store,
        log: h.log.clone(),
        next: 100,
    };
    assert_eq!(h2.state(), Some(GroupState::Stable));
    assert_eq!(
        fetch_t0(&mut h2, 101, true),
        Err(ErrorCode::UnstableOffsetCommit)
    );
    assert_eq!(fetch_t0(&mut h2, 101, false), Ok(Some(Offset(5))));
    // The new coordinator fences by the generation it loaded.
    assert_eq!(
        txn_code(&mut h2, 102, txn_req(&b, 0, 10)),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(txn_code(&mut h2, 102, txn_req(&b, 1, 10)), ErrorCode::None);
    end_txn(&h2, 103, TxnOutcome::Commit);
    assert_eq!(fetch_t0(&mut h2, 104, true), Ok(Some(Offset(10))));
    h2.c.check_consistency().unwrap();
}

/// KAFKA-14201 (Kafka 3.4), shared by OffsetCommit and TxnOffsetCommit: generation -1 to an
/// Empty group is accepted whatever the member fields say (a consumer with a
/// `group.instance.id` that assigns its partitions by hand sends its instance id); to a group
/// with members they are checked.
#[test]
fn an_offset_commit_with_generation_minus_one_to_an_empty_group_ignores_the_member_fields() {
    let with_instance = |member: &str| {
        let Request::OffsetCommit(mut r) = commit_req(&member.into(), -1, 1) else {
            unreachable!()
        };
        r.group_instance_id = Some("i-1".into());
        Request::OffsetCommit(r)
    };
    let (mut h, _, _) = fixture(Fixture::Empty);
    assert_eq!(commit_code(&mut h, 1, with_instance("")), ErrorCode::None);
    assert_eq!(commit_code(&mut h, 1, with_instance("x")), ErrorCode::None);
    assert_eq!(
        txn_code(
            &mut h,
            1,
            txn_req_by(PRODUCER, &"x".into(), -1, Some("i-1"), 1)
        ),
        ErrorCode::None
    );
    let (mut h, _, _) = fixture(Fixture::Stable);
    assert_eq!(
        commit_code(&mut h, 1, with_instance("")),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        txn_code(
            &mut h,
            1,
            txn_req_by(PRODUCER, &"".into(), -1, Some("i-1"), 1)
        ),
        ErrorCode::UnknownMemberId
    );
}

/// The JoinGroup answer of generation `generation` to `member`, the only member and leader,
/// as the tests' `join_req` builds it.
fn sole_member_join(member: &MemberId, instance: Option<&str>, generation: i32) -> Response {
    Response::JoinGroup(JoinGroupResponse {
        error: ErrorCode::None,
        generation: Generation(generation),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        leader: member.clone(),
        skip_assignment: false,
        member_id: member.clone(),
        members: vec![JoinGroupMember {
            member_id: member.clone(),
            group_instance_id: instance.map(GroupInstanceId::from),
            metadata: subscription(&["t"]),
        }],
    })
}

/// A static member alone in a rebalance it has not rejoined: a dynamic member started the
/// rebalance at 1 s (its timeout ends at 61 s) and left at 2 s. Returns the static member.
fn static_member_alone_in_a_rebalance(h: &mut H) -> MemberId {
    let j = static_join(h, 0, "i-1");
    let a = join_resp(h.answer(j)).member_id;
    let s = h.sync(0, &a, 1, vec![(a.clone(), vec![1])]);
    assert_eq!(sync_resp(h.answer(s)).error, ErrorCode::None);
    let (b, jb) = h.new_member(1_000);
    let leaving = LeavingMember {
        member_id: b.clone(),
        group_instance_id: None,
        reason: None,
    };
    let leave = h.send(
        2_000,
        Request::LeaveGroup(LeaveGroupRequest {
            group_id: G.into(),
            members: vec![leaving.clone()],
        }),
    );
    assert_eq!(
        h.drain(),
        [
            (
                jb,
                Response::JoinGroup(JoinGroupResponse::error(ErrorCode::UnknownMemberId, b))
            ),
            (
                leave,
                Response::LeaveGroup(LeaveGroupResponse {
                    error: ErrorCode::None,
                    members: vec![(leaving, ErrorCode::None)],
                })
            ),
        ]
    );
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
    a
}

/// Kafka's `GroupMetadataManager.completeClassicGroupJoin`: when the rebalance timeout passes
/// and no member has rejoined but static members remain, the join phase waits another
/// rebalance timeout (same generation) instead of completing a generation nobody joined.
#[test]
fn a_join_phase_nobody_rejoined_waits_another_rebalance_timeout_while_static_members_remain() {
    let mut h = H::new(config());
    let a = static_member_alone_in_a_rebalance(&mut h);
    // Through two rebalance timeouts (61 s, 121 s), the join phase goes on in generation 1.
    for t in (4_000..=128_000).step_by(4_000) {
        h.c.handle_timeout(Timestamp(t));
        assert!(h.drain().is_empty(), "at {t}");
        assert_eq!(
            h.heartbeat(t, &a, 1),
            ErrorCode::RebalanceInProgress,
            "at {t}"
        );
    }
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
    assert_eq!(h.c.generation(G), Some(Generation(1)));
    assert_eq!(h.c.members(G), std::slice::from_ref(&a));
    // The static member rejoins: the generation completes at once, with it alone.
    let rejoin = h.send(130_000, Request::JoinGroup(h.join_req(&a, Some("i-1"))));
    assert_eq!(h.drain(), [(rejoin, sole_member_join(&a, Some("i-1"), 2))]);
}

/// Kafka's `GroupMetadataManager.completeClassicGroupJoin`: the extended join phase ends when
/// session timeouts remove the static members that did not rejoin; the group is then Empty.
#[test]
fn a_join_phase_nobody_rejoined_ends_when_the_static_members_sessions_lapse() {
    let mut h = H::new(config());
    let a = static_member_alone_in_a_rebalance(&mut h);
    // The static member heartbeats past the first rebalance timeout, then falls silent.
    for t in (4_000..=64_000).step_by(4_000) {
        h.c.handle_timeout(Timestamp(t));
        assert_eq!(
            h.heartbeat(t, &a, 1),
            ErrorCode::RebalanceInProgress,
            "at {t}"
        );
    }
    h.c.handle_timeout(Timestamp(73_999));
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
    assert_eq!(h.c.generation(G), Some(Generation(1)));
    h.c.handle_timeout(Timestamp(74_000));
    assert!(h.drain().is_empty());
    assert_eq!(h.state(), Some(GroupState::Empty));
    assert_eq!(h.c.generation(G), Some(Generation(2)));
    assert!(h.c.members(G).is_empty());
    let meta = h.store.group_metadata(&GroupId::from(G)).unwrap();
    assert_eq!((meta.generation, meta.members.len()), (2, 0));
}

/// Kafka's `resetAndPropagateAssignmentWithError` → `propagateAssignment`: a member whose
/// parked SyncGroup is answered REBALANCE_IN_PROGRESS (here because the leader expired) gets
/// a fresh session (`rescheduleClassicGroupMemberHeartbeat`), so it has time to rejoin.
#[test]
fn a_member_whose_parked_sync_is_answered_with_an_error_gets_a_fresh_session() {
    let mut h = H::new(config());
    let v = h.new_members(0, 2);
    let (a, b) = (v[0].0.clone(), v[1].0.clone());
    assert_eq!(h.drain().len(), 2);
    // The follower syncs at once and waits; the leader falls silent. Both sessions end at 10 s.
    let sb = h.sync(0, &b, 1, vec![]);
    assert!(h.drain().is_empty());
    h.c.handle_timeout(Timestamp(10_000));
    assert_eq!(
        h.drain(),
        [(
            sb,
            Response::SyncGroup(SyncGroupResponse::error(ErrorCode::RebalanceInProgress))
        )]
    );
    assert_eq!(h.c.members(G), std::slice::from_ref(&b));
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
    // b's session runs from the answer: it rejoins just before 20 s and leads generation 2.
    h.c.handle_timeout(Timestamp(19_999));
    assert!(h.drain().is_empty());
    let rejoin = h.rejoin(19_999, &b);
    assert_eq!(h.drain(), [(rejoin, sole_member_join(&b, None, 2))]);
    assert!(!h.c.members(G).contains(&a));
}

/// Kafka's `setAndPropagateAssignment` → `propagateAssignment`: a member whose parked
/// SyncGroup gets the leader's assignment gets a fresh session, however long it waited.
#[test]
fn a_member_whose_parked_sync_is_answered_with_its_assignment_gets_a_fresh_session() {
    let mut h = H::new(config());
    let v = h.new_members(0, 2);
    let (a, b) = (v[0].0.clone(), v[1].0.clone());
    assert_eq!(h.drain().len(), 2);
    // The follower syncs at once; the leader takes 9 s to assign.
    let sb = h.sync(0, &b, 1, vec![]);
    let sa = h.sync(9_000, &a, 1, vec![(b.clone(), vec![2])]);
    let assigned = |assignment: Vec<u8>| {
        Response::SyncGroup(SyncGroupResponse {
            error: ErrorCode::None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignment,
        })
    };
    assert_eq!(
        h.drain(),
        [(sa, assigned(Vec::new())), (sb, assigned(vec![2]))]
    );
    // b's session runs from its answer at 9 s, not from its sync at 0 s.
    h.c.handle_timeout(Timestamp(18_999));
    assert!(h.drain().is_empty());
    assert_eq!(h.state(), Some(GroupState::Stable));
    assert_eq!(h.c.members(G), [a, b.clone()]);
    assert_eq!(h.heartbeat(18_999, &b, 1), ErrorCode::None);
}

/// Reloads the fixture's group on a new coordinator with `config`, at 100 ms.
fn reload(h: &H, config: CoordinatorConfig) -> H {
    let p = h.store.partition_of(&GroupId::from(G));
    let store = Arc::new(LogOffsetStore::new(h.log.clone()));
    store.load(p).unwrap();
    let mut c = GroupCoordinator::new(config, store.clone());
    c.load_partition(Timestamp(100), p);
    H {
        c,
        store,
        log: h.log.clone(),
        next: 100,
    }
}

/// Kafka's `GroupMetadataManager.onLoaded`: a group loaded with more members than
/// `group.max.size` (the limit shrank since it was written) starts a rebalance, so that only
/// as many members as fit rejoin.
#[test]
fn a_group_loaded_with_more_members_than_group_max_size_rebalances() {
    let mut h = H::new(config());
    let (a, b) = stable_pair(&mut h);
    let fits = reload(
        &h,
        CoordinatorConfig {
            max_group_size: 2,
            ..config()
        },
    );
    assert_eq!(fits.state(), Some(GroupState::Stable));
    let mut h = reload(
        &h,
        CoordinatorConfig {
            max_group_size: 1,
            ..config()
        },
    );
    assert!(h.drain().is_empty());
    assert_eq!(h.state(), Some(GroupState::PreparingRebalance));
    assert_eq!(h.c.generation(G), Some(Generation(1)));
    assert_eq!(h.c.members(G), [a.clone(), b.clone()]);
    assert_eq!(h.heartbeat(200, &b, 1), ErrorCode::RebalanceInProgress);
    // The first to rejoin keeps its place; the other is refused and removed.
    let ja = h.rejoin(300, &a);
    assert!(h.drain().is_empty());
    let jb = h.rejoin(300, &b);
    assert_eq!(
        h.drain(),
        [
            (
                jb,
                Response::JoinGroup(JoinGroupResponse::error(
                    ErrorCode::GroupMaxSizeReached,
                    MemberId::from("")
                ))
            ),
            (ja, sole_member_join(&a, None, 2)),
        ]
    );
}

/// Kafka's `classicGroupJoinToClassicGroup` drops a joining member the group has no room for
/// (`group.remove`), pending members (KIP-394) included: a refused pending member leaves no
/// entry behind for the next rebalance to wait for.
#[test]
fn a_pending_member_refused_for_group_max_size_is_no_longer_pending() {
    let mut h = H::new(CoordinatorConfig {
        max_group_size: 2,
        ..config()
    });
    let (a, b) = stable_pair(&mut h);
    // The leader rejoins, which starts a rebalance; c gets its id while there is room (its
    // session, and so its pending entry, lasts 5 min); b rejoins and fills the group.
    let join_c = |h: &H, member: &MemberId| {
        let mut r = h.join_req(member, None);
        r.session_timeout_ms = 300_000;
        Request::JoinGroup(r)
    };
    let ja = h.rejoin(1, &a);
    let first = h.send(1, join_c(&h, &MemberId::from("")));
    let c = join_resp(h.answer(first)).member_id;
    assert_eq!(h.c.pending_members(G), std::slice::from_ref(&c));
    let jb = h.rejoin(1, &b);
    // Kafka's hasAllMembersJoined: the rebalance waits for c until its timeout.
    assert!(h.drain().is_empty());
    h.c.handle_timeout(Timestamp(60_001));
    let out = h.drain();
    assert_eq!(out.iter().map(|(r, _)| *r).collect::<Vec<_>>(), [ja, jb]);
    let sa = h.sync(60_001, &a, 2, vec![]);
    let sb = h.sync(60_001, &b, 2, vec![]);
    assert_eq!(h.drain().len(), 2, "{sa:?} {sb:?}");
    // c comes back: no room. It is answered without a member id and is no longer pending.
    let refused = h.send(60_002, join_c(&h, &c));
    assert_eq!(
        h.drain(),
        [(
            refused,
            Response::JoinGroup(JoinGroupResponse::error(
                ErrorCode::GroupMaxSizeReached,
                MemberId::from("")
            ))
        )]
    );
    assert!(h.c.pending_members(G).is_empty());
    // The next rebalance completes as soon as both members have rejoined.
    let ja = h.rejoin(60_003, &a);
    let jb = h.rejoin(60_003, &b);
    let out = h.drain();
    assert_eq!(out.iter().map(|(r, _)| *r).collect::<Vec<_>>(), [ja, jb]);
    assert_eq!(join_resp(Some(out[0].1.clone())).generation, Generation(3));
}

/// Kafka's `classicGroupJoinToClassicGroup` answers GROUP_MAX_SIZE_REACHED with no member id
/// (`JoinGroupRequest.UNKNOWN_MEMBER_ID`), even to a pending member that sent its own. Here
/// the refusal leaves nobody to wait for, so the rebalance completes with it.
#[test]
fn a_group_max_size_reached_answer_carries_no_member_id() {
    let mut h = H::new(CoordinatorConfig {
        max_group_size: 2,
        ..config()
    });
    let (a, b) = stable_pair(&mut h);
    // The leader rejoins; c is told MEMBER_ID_REQUIRED; b rejoins and fills the group.
    let ja = h.rejoin(1, &a);
    let c = h.member_id(1);
    let jb = h.rejoin(1, &b);
    assert!(h.drain().is_empty());
    let jc = h.rejoin(2, &c);
    let out = h.drain();
    assert_eq!(
        out[0],
        (
            jc,
            Response::JoinGroup(JoinGroupResponse::error(
                ErrorCode::GroupMaxSizeReached,
                MemberId::from("")
            ))
        )
    );
    assert_eq!(
        out[1..].iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        [ja, jb]
    );
    // A newcomer is refused the same way.
    let jd = h.send(3, Request::JoinGroup(h.join_req("", None)));
    assert_eq!(
        h.drain(),
        [(
            jd,
            Response::JoinGroup(JoinGroupResponse::error(
                ErrorCode::GroupMaxSizeReached,
                MemberId::from("")
            ))
        )]
    );
}
