//! Cost of the group coordinator, `GroupCoordinator` over a `LogOffsetStore` and a `MemoryLog`,
//! on the workloads of the coordinator issue (figures in `BENCHMARKS.md`):
//!
//! * `rebalance/1000x10000`: one whole rebalance of a new group of 1,000 members subscribed to
//!   10 topics × 1,000 partitions. Every member has already been given its member id
//!   (MEMBER_ID_REQUIRED, untimed); timed are the 1,000 rejoins, the leader's work on its
//!   JoinGroup response (decode every subscription, build the `GroupSpec`, run `sticky`, encode
//!   one consumer-protocol `Assignment` per member), the 999 followers' SyncGroups, the leader's
//!   SyncGroup, and draining every response. Each iteration is a fresh coordinator; the id
//!   handshake (the clients' first contact, not part of a rebalance) and building the rejoin
//!   and follower SyncGroup requests are setup, outside the timing.
//! * `rebalance/join-phase`, `rebalance/leader`, `rebalance/leader-spec`, `rebalance/sync-phase`:
//!   the parts of that cycle alone. `rebalance/sticky-alone` is `sticky` alone on the `GroupSpec`
//!   the leader builds.
//! * `heartbeat/100k-members`: `handle(Heartbeat)` plus draining `poll_response()` for 100,000
//!   members in 10,000 Stable groups of 10, round-robin over all members (member 0 of every
//!   group, then member 1 of every group, …). Each call clones a prebuilt `HeartbeatRequest`.
//!   Throughput is heartbeats. `heartbeat/100k-members-3s` advances the clock by a heartbeat
//!   interval per round, so members' session timers fall due and `handle_timeout` re-arms them
//!   (timed). `heartbeat/1k-members` is the same on 100 groups, whose state fits in the caches.
//!   `heartbeat/bare-lookup-{100k,1k}` are the floor: the same requests against a hash map of
//!   groups holding hash maps of members.
//!
//! Before the benchmarks, untimed, the heap that 10,000 Stable groups of 10 members (and of 5)
//! hold is printed: in all, then the coordinator's, the offset store index's and the log's
//! shares, and the coordinator's again after rebuilding the groups from the store.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use consumer_groups::assignor::{self, GroupSpec, MemberSpec, TopicSpec};
use consumer_groups::coordinator::{
    CoordinatorConfig, GroupCoordinator, GroupState, Request, RequestId, Response,
};
use consumer_groups::log::{Log, MemoryLog, ReadLimit};
use consumer_groups::offsets::LogOffsetStore;
use consumer_groups::protocol::consumer::{
    Assignment as ConsumerAssignment, Subscription, SubscriptionRef, TopicPartitions,
};
use consumer_groups::protocol::group::{
    HeartbeatRequest, JoinGroupMember, JoinGroupRequest, JoinGroupResponse, JoinProtocol,
    SyncGroupRequest,
};
use consumer_groups::{
    Assignment, ErrorCode, Generation, GroupId, MemberId, PartitionAssignor, Timestamp, Topic,
    TopicPartition,
};
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};

/// Counts the bytes the program holds on the heap (requested sizes; the system allocator's own
/// overhead is not included). It adds one atomic add per allocation and free to every benchmark.
#[global_allocator]
static ALLOC: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Partitions of the offsets log (Kafka's default).
const LOG_PARTITIONS: u32 = 50;

/// The protocol (assignor) every member offers.
const PROTOCOL: &str = "sticky";

/// Consumer-protocol version of subscriptions and assignments (what current clients send).
const VERSION: i16 = 3;

/// When the benchmarks start.
const NOW: Timestamp = Timestamp(1_700_000_000_000);

/// Kafka's default `heartbeat.interval.ms`.
const HEARTBEAT_INTERVAL_MS: u64 = 3_000;

fn config() -> CoordinatorConfig {
    CoordinatorConfig {
        initial_rebalance_delay_ms: 0,
        ..CoordinatorConfig::default()
    }
}

/// A coordinator over a fresh `LogOffsetStore` over a fresh `MemoryLog`.
fn fresh() -> (GroupCoordinator, Arc<LogOffsetStore>, Arc<MemoryLog>) {
    let log = Arc::new(MemoryLog::new(LOG_PARTITIONS));
    let store = Arc::new(LogOffsetStore::new(log.clone()));
    (GroupCoordinator::new(config(), store.clone()), store, log)
}

/// What a host does around the coordinator: tags requests and drains answers.
struct Host {
    c: GroupCoordinator,
    next: u64,
}

impl Host {
    fn send(&mut self, now: Timestamp, r: Request) -> RequestId {
        self.next += 1;
        let id = RequestId(self.next);
        self.c.handle(now, id, r);
        id
    }

    /// The answer to the one request in flight.
    fn only_answer(&mut self) -> Response {
        let (_, r) = self.c.poll_response().expect("an answer");
        assert!(self.c.poll_response().is_none(), "one answer");
        r
    }
}

/// A consumer's first JoinGroup: no member id, one protocol.
fn first_join(group: &GroupId, subscription: &[u8]) -> JoinGroupRequest {
    JoinGroupRequest::new(
        group.clone(),
        vec![JoinProtocol::new(PROTOCOL, subscription.to_vec())],
    )
}

/// Sends `n` first joins and returns the member ids the coordinator hands out
/// (MEMBER_ID_REQUIRED, KIP-394), with the rejoin request of each, ready to send.
fn member_ids(
    h: &mut Host,
    now: Timestamp,
    group: &GroupId,
    subscription: &[u8],
    n: usize,
) -> Vec<JoinGroupRequest> {
    (0..n)
        .map(|_| {
            let mut r = first_join(group, subscription);
            h.send(now, Request::JoinGroup(r.clone()));
            let Response::JoinGroup(resp) = h.only_answer() else {
                panic!("not a JoinGroup answer")
            };
            assert_eq!(resp.error, ErrorCode::MemberIdRequired);
            r.member_id = resp.member_id;
            r
        })
        .collect()
}

fn sync_request(
    group: &GroupId,
    generation: Generation,
    member: &MemberId,
    assignments: Vec<(MemberId, Vec<u8>)>,
) -> SyncGroupRequest {
    SyncGroupRequest {
        group_id: group.clone(),
        generation,
        member_id: member.clone(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some(PROTOCOL.into()),
        assignments,
    }
}

/// The leader's first step: every member's subscription, decoded in place
/// (`SubscriptionRef`), as a `GroupSpec` over `topics` (the leader's topic metadata). Topic
/// names are looked up in `topics` so the spec shares their strings instead of allocating one
/// per member and topic.
fn spec_from_join(members: &[JoinGroupMember], topics: &[TopicSpec]) -> GroupSpec {
    let names: hashbrown::HashMap<&str, &Topic> = topics
        .iter()
        .map(|t| (t.name().as_str(), t.name()))
        .collect();
    let topic = |name: &str| {
        names
            .get(name)
            .map_or_else(|| Topic::from(name), |&t| t.clone())
    };
    let specs: Vec<MemberSpec> = members
        .iter()
        .map(|m| {
            let (_, sub) = SubscriptionRef::decode(&m.metadata).expect("subscription");
            let mut spec = MemberSpec::new(m.member_id.clone())
                .subscribe(sub.topics().map(topic))
                .owned(sub.owned_partitions().flat_map(|(t, partitions)| {
                    let t = topic(t);
                    partitions.map(move |p| TopicPartition::new(t.clone(), p))
                }));
            if sub.generation() >= 0 {
                spec = spec.generation(Generation(sub.generation()));
            }
            if let Some(rack) = sub.rack() {
                spec = spec.rack(rack);
            }
            if let Some(i) = &m.group_instance_id {
                spec = spec.instance_id(i.clone());
            }
            if let Some(data) = sub.user_data() {
                spec = spec.user_data(data);
            }
            spec
        })
        .collect();
    GroupSpec::builder()
        .topics(topics.iter().cloned())
        .members(specs)
        .build()
        .expect("valid spec")
}

/// The leader's last step: one consumer-protocol `Assignment` per member, encoded straight
/// from the plan's per-topic runs (`Assignment::encode_topics`) into exact-size buffers.
fn encode_plan(plan: &Assignment, spec: &GroupSpec) -> Vec<(MemberId, Vec<u8>)> {
    let topics = spec.topics();
    plan.iter()
        .map(|m| {
            let runs = m
                .partitions()
                .chunk_by(|a, b| a.topic_index() == b.topic_index())
                .map(|run| {
                    (
                        topics[run[0].topic_index()].name().as_str(),
                        run.iter().map(|p| p.partition()),
                    )
                });
            let bytes = ConsumerAssignment::encode_topics(VERSION, runs, None).expect("encode");
            (m.member_id().clone(), bytes)
        })
        .collect()
}

/// Everything the leader's consumer does with its JoinGroup response.
fn lead(
    leader: &JoinGroupResponse,
    topics: &[TopicSpec],
    assignor: &dyn PartitionAssignor,
) -> Vec<(MemberId, Vec<u8>)> {
    let spec = spec_from_join(&leader.members, topics);
    let plan = assignor.assign(&spec).expect("assign");
    encode_plan(&plan, &spec)
}

// ---- Rebalance ----------------------------------------------------------------------------

/// The group of the rebalance benchmarks: 1,000 members, 10 topics × 1,000 partitions.
struct RebalanceWorkload {
    group: GroupId,
    topics: Vec<TopicSpec>,
    subscription: Vec<u8>,
    members: usize,
    assignor: Box<dyn PartitionAssignor>,
}

impl RebalanceWorkload {
    fn new(members: usize, topics: usize, partitions: u32) -> RebalanceWorkload {
        let names: Vec<Topic> = (0..topics)
            .map(|t| Topic::new(format!("topic-{t:03}")))
            .collect();
        RebalanceWorkload {
            group: GroupId::from("rebalance-group"),
            topics: names
                .iter()
                .map(|t| TopicSpec::new(t.clone(), partitions))
                .collect(),
            subscription: Subscription::new(names.iter().map(|t| t.to_string()))
                .encode(VERSION)
                .expect("encode"),
            members,
            assignor: assignor::builtin(PROTOCOL).expect("sticky"),
        }
    }

    /// A fresh coordinator in which every member has its id (untimed setup), with the rejoin
    /// requests ready.
    fn with_ids(&self) -> (Host, Vec<JoinGroupRequest>) {
        let (h, rejoins, _) = self.with_ids_and_log();
        (h, rejoins)
    }

    /// [`with_ids`](Self::with_ids), and the coordinator's log.
    fn with_ids_and_log(&self) -> (Host, Vec<JoinGroupRequest>, Arc<MemoryLog>) {
        let (c, _, log) = fresh();
        let mut h = Host { c, next: 0 };
        let rejoins = member_ids(&mut h, NOW, &self.group, &self.subscription, self.members);
        (h, rejoins, log)
    }
}

/// The join phase: every member rejoins; the last rejoin completes the join and answers all.
/// Returns the leader's JoinGroup response.
fn join_phase(h: &mut Host, rejoins: Vec<JoinGroupRequest>) -> JoinGroupResponse {
    let n = rejoins.len();
    for r in rejoins {
        h.send(NOW, Request::JoinGroup(r));
    }
    let mut leader = None;
    let mut answered = 0;
    while let Some((_, r)) = h.c.poll_response() {
        let Response::JoinGroup(r) = r else {
            panic!("not a JoinGroup answer")
        };
        assert_eq!(r.error, ErrorCode::None);
        answered += 1;
        if r.leader == r.member_id {
            leader = Some(r);
        }
    }
    assert_eq!(answered, n);
    leader.expect("the leader's answer")
}

/// The sync phase: the followers' SyncGroups (parked), then the leader's, which answers all.
fn sync_phase(h: &mut Host, followers: Vec<SyncGroupRequest>, leader: SyncGroupRequest) -> usize {
    for r in followers {
        h.send(NOW, Request::SyncGroup(r));
    }
    h.send(NOW, Request::SyncGroup(leader));
    let mut answered = 0;
    while let Some((_, r)) = h.c.poll_response() {
        let Response::SyncGroup(r) = r else {
            panic!("not a SyncGroup answer")
        };
        assert_eq!(r.error, ErrorCode::None);
        answered += 1;
    }
    answered
}

/// The followers' SyncGroup requests for generation 1 (prebuilt, untimed).
fn follower_syncs(
    w: &RebalanceWorkload,
    rejoins: &[JoinGroupRequest],
    leader: &MemberId,
) -> Vec<SyncGroupRequest> {
    rejoins
        .iter()
        .filter(|r| r.member_id != *leader)
        .map(|r| sync_request(&w.group, Generation(1), &r.member_id, Vec::new()))
        .collect()
}

/// One whole rebalance cycle after the id handshake, with the followers' SyncGroup requests
/// prebuilt; returns the host for an untimed drop.
fn cycle(
    w: &RebalanceWorkload,
    mut h: Host,
    rejoins: Vec<JoinGroupRequest>,
    (leader_id, followers): (MemberId, Vec<SyncGroupRequest>),
) -> Host {
    let leader = join_phase(&mut h, rejoins);
    assert_eq!(
        leader.member_id, leader_id,
        "the followers' requests assumed this leader"
    );
    let assignments = lead(&leader, &w.topics, &*w.assignor);
    let leader_sync = sync_request(&w.group, leader.generation, &leader.member_id, assignments);
    let answered = sync_phase(&mut h, followers, leader_sync);
    assert_eq!(answered, w.members);
    h
}

fn bench_rebalance(c: &mut Criterion) {
    let w = RebalanceWorkload::new(1_000, 10, 1_000);

    // One cycle, untimed, to check it ends Stable and to keep the leader's view for the
    // leader-only benchmarks.
    let (mut h, rejoins, log) = w.with_ids_and_log();
    let leader_id = rejoins[0].member_id.clone();
    let followers = follower_syncs(&w, &rejoins, &leader_id);
    let leader = join_phase(&mut h, rejoins);
    assert_eq!(leader.member_id, leader_id);
    assert_eq!(leader.members.len(), w.members);
    let assignments = lead(&leader, &w.topics, &*w.assignor);
    let leader_sync = sync_request(&w.group, leader.generation, &leader_id, assignments.clone());
    assert_eq!(sync_phase(&mut h, followers, leader_sync), w.members);
    assert_eq!(h.c.group_state("rebalance-group"), Some(GroupState::Stable));
    let spec = spec_from_join(&leader.members, &w.topics);
    // The in-place encoding gives the bytes of the owned `Assignment`'s.
    let plan = w.assignor.assign(&spec).expect("assign");
    for (m, (id, bytes)) in plan.iter().zip(&assignments) {
        let owned = ConsumerAssignment {
            partitions: m
                .by_topic()
                .map(|(t, partitions)| TopicPartitions {
                    topic: t.as_str().to_owned(),
                    partitions,
                })
                .collect(),
            user_data: None,
        };
        assert_eq!(
            (m.member_id(), bytes),
            (id, &owned.encode(VERSION).expect("encode"))
        );
    }
    let decoded: Vec<ConsumerAssignment> = assignments
        .iter()
        .map(|(_, a)| ConsumerAssignment::decode(a).expect("assignment").1)
        .collect();
    let parts = |a: &ConsumerAssignment| a.partitions.iter().map(|t| t.partitions.len()).sum();
    let assigned: usize = decoded.iter().map(parts).sum();
    assert_eq!(assigned, spec.total_partitions() as usize);
    let topics: Vec<usize> = decoded.iter().map(|a| a.partitions.len()).collect();
    println!(
        "rebalance: {} members; per member {}..={} partitions over {}..={} topics; assignment \
         {} bytes and subscription {} bytes each on average",
        decoded.len(),
        decoded.iter().map(parts).min().unwrap_or(0),
        decoded.iter().map(parts).max().unwrap_or(0),
        topics.iter().min().unwrap_or(&0),
        topics.iter().max().unwrap_or(&0),
        assignments.iter().map(|(_, a)| a.len()).sum::<usize>() / assignments.len(),
        w.subscription.len()
    );
    let (records, bytes) = log_bytes(&log);
    println!("rebalance: the log holds {records} record(s), {bytes} bytes of keys and values");
    drop(h);

    let mut group = c.benchmark_group("rebalance");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    group.bench_function("1000x10000", |b| {
        b.iter_batched(
            || {
                let (h, rejoins) = w.with_ids();
                // The first member to join leads (the coordinator's documented rule), so the
                // followers' SyncGroups can be built before the join completes.
                let leader = rejoins[0].member_id.clone();
                let followers = follower_syncs(&w, &rejoins, &leader);
                (h, rejoins, (leader, followers))
            },
            |(h, rejoins, followers)| cycle(&w, h, rejoins, followers),
            BatchSize::PerIteration,
        );
    });

    group.bench_function("join-phase", |b| {
        b.iter_batched(
            || w.with_ids(),
            |(mut h, rejoins)| {
                let leader = join_phase(&mut h, rejoins);
                (h, leader)
            },
            BatchSize::PerIteration,
        );
    });

    group.bench_function("sync-phase", |b| {
        b.iter_batched(
            || {
                let (mut h, rejoins) = w.with_ids();
                let followers = follower_syncs(&w, &rejoins, &leader_id);
                let leader = join_phase(&mut h, rejoins);
                // Member ids come from a seeded generator: the same in every fresh coordinator.
                assert_eq!(leader.member_id, leader_id);
                let sync =
                    sync_request(&w.group, leader.generation, &leader_id, assignments.clone());
                (h, followers, sync)
            },
            |(mut h, followers, sync)| {
                assert_eq!(sync_phase(&mut h, followers, sync), w.members);
                h
            },
            BatchSize::PerIteration,
        );
    });

    group.bench_function("leader", |b| {
        b.iter(|| lead(black_box(&leader), &w.topics, &*w.assignor));
    });

    group.bench_function("leader-spec", |b| {
        b.iter(|| spec_from_join(black_box(&leader.members), &w.topics));
    });

    group.bench_function("sticky-alone", |b| {
        b.iter(|| w.assignor.assign(black_box(&spec)).expect("assign"));
    });
    group.finish();
}

// ---- Heartbeats -----------------------------------------------------------------------------

/// Many Stable groups built through real joins and syncs, with every member's heartbeat.
struct Fleet {
    c: GroupCoordinator,
    store: Arc<LogOffsetStore>,
    log: Arc<MemoryLog>,
    /// One heartbeat per member, round-robin order: member 0 of every group, then member 1 of
    /// every group, and so on.
    heartbeats: Vec<HeartbeatRequest>,
    /// Bytes of each member's subscription, and of all the assignments the leaders sent.
    subscription_bytes: usize,
    assignment_bytes: usize,
}

/// `groups` groups of `per_group` members, each group reading its own topic of 100
/// partitions, formed at [`NOW`]: ids, rejoins, the leader's `sticky` assignment, syncs.
fn fleet(groups: usize, per_group: usize) -> Fleet {
    let (c, store, log) = fresh();
    let mut h = Host { c, next: 0 };
    let assignor = assignor::builtin(PROTOCOL).expect("sticky");
    let mut members: Vec<(GroupId, Vec<MemberId>)> = Vec::with_capacity(groups);
    let (mut subscription_bytes, mut assignment_bytes) = (0, 0);
    for g in 0..groups {
        let group = GroupId::from(format!("group-{g:05}"));
        let topic = Topic::from(format!("topic-{g:05}"));
        let topics = [TopicSpec::new(topic.clone(), 100)];
        let subscription = Subscription::new([topic.to_string()])
            .encode(VERSION)
            .expect("encode");
        let rejoins = member_ids(&mut h, NOW, &group, &subscription, per_group);
        let ids: Vec<MemberId> = rejoins.iter().map(|r| r.member_id.clone()).collect();
        let leader = join_phase(&mut h, rejoins);
        let assignments = lead(&leader, &topics, &*assignor);
        subscription_bytes = subscription.len();
        assignment_bytes += assignments.iter().map(|(_, a)| a.len()).sum::<usize>();
        for m in &ids[1..] {
            let r = sync_request(&group, leader.generation, m, Vec::new());
            h.send(NOW, Request::SyncGroup(r));
        }
        let r = sync_request(&group, leader.generation, &ids[0], assignments);
        h.send(NOW, Request::SyncGroup(r));
        let mut answered = 0;
        while let Some((_, r)) = h.c.poll_response() {
            let Response::SyncGroup(r) = r else {
                panic!("not a SyncGroup answer")
            };
            assert_eq!(r.error, ErrorCode::None);
            answered += 1;
        }
        assert_eq!(answered, per_group);
        members.push((group, ids));
    }
    let mut heartbeats = Vec::with_capacity(groups * per_group);
    for k in 0..per_group {
        for (group, ids) in &members {
            heartbeats.push(HeartbeatRequest {
                group_id: group.clone(),
                generation: Generation(1),
                member_id: ids[k].clone(),
                group_instance_id: None,
            });
        }
    }
    Fleet {
        c: h.c,
        store,
        log,
        heartbeats,
        subscription_bytes,
        assignment_bytes,
    }
}

/// Where a heartbeat benchmark is, carried across criterion's calls.
struct Clock {
    /// The next heartbeat.
    next: usize,
    now: Timestamp,
    /// Sequence of request ids.
    seq: u64,
    /// Answers other than NONE.
    errors: u64,
}

/// Sends `iters` heartbeats round-robin from `at`, draining the answer of each. After every
/// full round the clock moves on by `round_ms`, and `handle_timeout` runs if a timer is due.
fn timed_heartbeats(
    c: &mut GroupCoordinator,
    heartbeats: &[HeartbeatRequest],
    at: &mut Clock,
    round_ms: u64,
    iters: u64,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let r = heartbeats[at.next].clone();
        at.seq += 1;
        c.handle(at.now, RequestId(at.seq), Request::Heartbeat(r));
        while let Some((_, resp)) = c.poll_response() {
            if !matches!(resp, Response::Heartbeat(ErrorCode::None)) {
                at.errors += 1;
            }
        }
        at.next += 1;
        if at.next == heartbeats.len() {
            at.next = 0;
            at.now = at.now.plus_millis(round_ms);
            if c.poll_timeout().is_some_and(|t| t <= at.now) {
                c.handle_timeout(at.now);
            }
        }
    }
    start.elapsed()
}

/// The floor: what a heartbeat must do at least. Look the group up, then the member, check the
/// generation, move the deadline, queue and dequeue the answer; the same request clones.
struct BareMember {
    generation: i32,
    session_timeout_ms: u64,
    deadline: Timestamp,
}

/// The floor of `heartbeats`: the same requests against a map of groups to maps of members.
fn bench_bare_lookup(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    heartbeats: &[HeartbeatRequest],
) {
    let mut bare: hashbrown::HashMap<GroupId, hashbrown::HashMap<MemberId, BareMember>> =
        hashbrown::HashMap::new();
    for r in heartbeats {
        bare.entry(r.group_id.clone()).or_default().insert(
            r.member_id.clone(),
            BareMember {
                generation: 1,
                session_timeout_ms: 45_000,
                deadline: NOW,
            },
        );
    }
    let mut out: VecDeque<(RequestId, Response)> = VecDeque::new();
    let (mut next, mut seq, mut now, mut errors) = (0usize, 0u64, NOW, 0u64);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let r = heartbeats[next].clone();
                seq += 1;
                let e = match bare
                    .get_mut(&r.group_id)
                    .and_then(|g| g.get_mut(&r.member_id))
                {
                    None => ErrorCode::UnknownMemberId,
                    Some(m) if m.generation != r.generation.0 => ErrorCode::IllegalGeneration,
                    Some(m) => {
                        m.deadline = now.plus_millis(m.session_timeout_ms);
                        ErrorCode::None
                    }
                };
                out.push_back((RequestId(seq), Response::Heartbeat(e)));
                while let Some((_, resp)) = out.pop_front() {
                    if !matches!(resp, Response::Heartbeat(ErrorCode::None)) {
                        errors += 1;
                    }
                }
                next += 1;
                if next == heartbeats.len() {
                    next = 0;
                    now = now.plus_millis(1);
                }
            }
            start.elapsed()
        });
    });
    assert_eq!(errors, 0);
}

fn bench_heartbeat(c: &mut Criterion) {
    let mut group = c.benchmark_group("heartbeat");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));

    // (name, groups of 10 members, floor's name). 1,000 members fit in the caches; 100,000 do
    // not.
    for (name, groups, floor) in [
        ("100k-members", 10_000, "bare-lookup-100k"),
        ("1k-members", 100, "bare-lookup-1k"),
    ] {
        let started = Instant::now();
        let Fleet {
            c: mut coordinator,
            store: _store,
            log: _log,
            heartbeats,
            ..
        } = fleet(groups, 10);
        println!(
            "heartbeat: formed {groups} groups of 10 members in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        let last = format!("group-{:05}", groups - 1);
        assert_eq!(coordinator.group_state(&last), Some(GroupState::Stable));

        // Sessions are 45 s: a clock that moves 1 ms per round of heartbeats lets no session
        // expire.
        let mut at = Clock {
            next: 0,
            now: NOW,
            seq: 0,
            errors: 0,
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed_heartbeats(&mut coordinator, &heartbeats, &mut at, 1, iters)
            });
        });
        assert_eq!(at.errors, 0, "heartbeats refused");
        println!(
            "heartbeat: {name} ran {} rounds of {} heartbeats",
            at.now.0 - NOW.0,
            heartbeats.len()
        );

        if groups == 10_000 {
            // A round per heartbeat interval: every member's timer falls due once per session
            // timeout and `handle_timeout` re-arms it.
            at.now = at.now.plus_millis(1);
            let from = at.now;
            group.bench_function("100k-members-3s", |b| {
                b.iter_custom(|iters| {
                    timed_heartbeats(
                        &mut coordinator,
                        &heartbeats,
                        &mut at,
                        HEARTBEAT_INTERVAL_MS,
                        iters,
                    )
                });
            });
            assert_eq!(at.errors, 0, "heartbeats refused");
            println!(
                "heartbeat: 100k-members-3s covered {:.0} s of session time",
                (at.now.0 - from.0) as f64 / 1_000.0
            );
        }
        assert_eq!(coordinator.group_state(&last), Some(GroupState::Stable));
        assert_eq!(coordinator.members(&last).len(), 10);
        drop(coordinator);
        bench_bare_lookup(&mut group, floor, &heartbeats);
    }
    group.finish();
}

// ---- Memory ---------------------------------------------------------------------------------

fn held() -> usize {
    ALLOC.allocated()
}

/// Records in `log`, and the bytes of their keys and values.
fn log_bytes(log: &MemoryLog) -> (usize, usize) {
    let (mut records, mut bytes) = (0, 0);
    for p in 0..log.partition_count() {
        let start = log.start_offset(p).expect("start offset");
        log.read(p, start, ReadLimit::unlimited(), &mut |r| {
            records += 1;
            bytes += r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
        })
        .expect("read");
    }
    (records, bytes)
}

/// Bytes freed by dropping `x`.
fn freed_by<T>(x: T) -> usize {
    let before = held();
    drop(x);
    before - held()
}

/// Prints, untimed, the heap a fleet of `groups` × `per_group` members holds: in all, then the
/// coordinator's, the store index's and the log's shares (each measured by dropping it), and
/// what a coordinator that rebuilds the same groups from the store (`load_partition`) holds.
fn report_memory(groups: usize, per_group: usize) -> (usize, usize) {
    let before = held();
    let Fleet {
        c,
        store,
        log,
        heartbeats,
        subscription_bytes,
        assignment_bytes,
    } = fleet(groups, per_group);
    // The benchmark's own list of requests is not the coordinator's: drop it first (its names
    // are shared `Arc`s, so this frees only the list).
    drop(heartbeats);
    let total = held() - before;
    let members = groups * per_group;
    println!(
        "memory {groups}x{per_group}: each member's subscription is {subscription_bytes} bytes, \
         its assignment {:.1} bytes on average",
        assignment_bytes as f64 / members as f64
    );

    // A second coordinator over the same store, rebuilt from the group metadata it holds.
    let at_load = held();
    let mut reloaded = GroupCoordinator::new(config(), store.clone());
    for p in 0..LOG_PARTITIONS {
        reloaded.load_partition(NOW, p);
    }
    let loaded = held() - at_load;
    assert_eq!(
        reloaded.group_state("group-00000"),
        Some(GroupState::Stable)
    );
    assert_eq!(reloaded.members("group-00000").len(), per_group);
    let reloaded_freed = freed_by(reloaded);

    let (records, bytes) = log_bytes(&log);
    println!(
        "memory {groups}x{per_group}: the log holds {records} records, {bytes} bytes of keys and \
         values = {:.0} per member",
        bytes as f64 / members as f64
    );
    let coordinator = freed_by(c);
    let index = freed_by(store);
    let records = freed_by(log);
    let per = |b: usize| (b as f64 / members as f64, b as f64 / groups as f64);
    for (what, bytes) in [
        ("total", total),
        ("coordinator (built by joins and syncs)", coordinator),
        ("offset store index (group metadata)", index),
        ("log records (group metadata)", records),
        ("coordinator (rebuilt by load_partition)", loaded),
    ] {
        let (m, g) = per(bytes);
        println!(
            "memory {groups}x{per_group}: {what}: {bytes} bytes = {m:.0} per member = {g:.0} per \
             group"
        );
    }
    println!(
        "memory {groups}x{per_group}: unaccounted {} bytes; reloaded coordinator freed {} bytes",
        total as isize - (coordinator + index + records) as isize,
        reloaded_freed
    );
    (total, coordinator)
}

fn coordinator(c: &mut Criterion) {
    let (total10, coord10) = report_memory(10_000, 10);
    let (total5, coord5) = report_memory(10_000, 5);
    // bytes = groups × per_group_cost + members × per_member_cost, from the two fleets.
    let per_member = |a: usize, b: usize| (a - b) as f64 / 50_000.0;
    let (pm_total, pm_coord) = (per_member(total10, total5), per_member(coord10, coord5));
    println!(
        "memory fit (10 vs 5 members per group): total {pm_total:.0} per member + {:.0} per \
         group; coordinator {pm_coord:.0} per member + {:.0} per group",
        (total10 as f64 - pm_total * 100_000.0) / 10_000.0,
        (coord10 as f64 - pm_coord * 100_000.0) / 10_000.0
    );
    bench_rebalance(c);
    bench_heartbeat(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = coordinator
}
criterion_main!(benches);
