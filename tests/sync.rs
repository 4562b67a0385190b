//! The thread-safe layer with real threads and real time (short, bounded waits): the shared
//! coordinator service under concurrent connections, the blocking `Consumer`, and a stress test
//! of 50 consumers in 5 groups joining, leaving and crashing at random.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use consumer_groups::consumer::{ConsumerConfig, ConsumerEvent, OffsetReset};
use consumer_groups::coordinator::{CoordinatorConfig, GroupState};
use consumer_groups::log::MemoryLog;
use consumer_groups::offsets::{LogOffsetStore, OffsetCommit};
use consumer_groups::protocol::group::{JoinGroupRequest, JoinProtocol, OffsetFetchRequest};
use consumer_groups::protocol::{Request, RequestId, Response};
use consumer_groups::sync::{Consumer, GroupService, Polled, Producer, Topics};
use consumer_groups::{Error, ErrorCode, GroupId, MemberId, Offset, TopicPartition};
use parking_lot::Mutex;

const TOPIC: &str = "events";

fn service() -> GroupService {
    let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(8))));
    GroupService::start(
        CoordinatorConfig {
            initial_rebalance_delay_ms: 0,
            min_session_timeout_ms: 100,
            ..CoordinatorConfig::default()
        },
        store,
    )
}

fn config(group: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(group);
    c.session_timeout_ms = 1_000;
    c.heartbeat_interval_ms = 100;
    c.max_poll_interval_ms = 5_000;
    c.request_timeout_ms = 2_000;
    c.auto_offset_reset = OffsetReset::Earliest;
    c.enable_auto_commit = false;
    c.assignors = vec!["range".into()];
    c
}

fn topic(partitions: u32, records: u32) -> (Topics, Producer, GroupService) {
    let service = service();
    let topics = Topics::new();
    topics.create(TOPIC, partitions).unwrap();
    let producer = Producer::new(topics.clone(), service.clock());
    for i in 0..records {
        producer
            .send(TOPIC, Some(format!("key-{i}").as_bytes()), b"payload")
            .unwrap();
    }
    (topics, producer, service)
}

/// Polls until `done` says so, for at most `limit`; returns everything polled.
fn poll_until(
    c: &mut Consumer,
    limit: Duration,
    mut done: impl FnMut(&Consumer, &Polled) -> bool,
) -> Vec<Polled> {
    let start = Instant::now();
    let mut all = Vec::new();
    while start.elapsed() < limit {
        let p = c.poll(Duration::from_millis(20)).expect("poll");
        let stop = done(c, &p);
        all.push(p);
        if stop {
            return all;
        }
    }
    panic!("condition not reached within {limit:?}");
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new(TOPIC, p)
}

// ---- The service -----------------------------------------------------------------------------

#[test]
fn connections_on_many_threads_each_get_exactly_their_own_answers() {
    let service = Arc::new(service());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let service = service.clone();
            thread::spawn(move || {
                let conn = service.connect();
                for i in 0..500u64 {
                    let group = GroupId::from(format!("group-{t}"));
                    let request = if i % 2 == 0 {
                        Request::FindCoordinator(group)
                    } else {
                        Request::OffsetFetch(OffsetFetchRequest {
                            group_id: group,
                            partitions: Some(vec![tp(0)]),
                            require_stable: false,
                        })
                    };
                    conn.send(RequestId(i), request);
                    let (id, response) = conn
                        .recv_timeout(Duration::from_secs(5))
                        .expect("an answer");
                    assert_eq!(id, RequestId(i));
                    match (i % 2, response) {
                        (0, Response::FindCoordinator(_)) | (1, Response::OffsetFetch(_)) => {}
                        (_, other) => panic!("wrong answer {other:?}"),
                    }
                }
                assert!(conn.recv_timeout(Duration::from_millis(10)).is_none());
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no panic");
    }
}

/// The member ids a fresh service over a fresh store hands out to three new members of one
/// group (Kafka's MEMBER_ID_REQUIRED answers, KIP-394).
fn first_member_ids(seed: Option<u64>) -> Vec<MemberId> {
    let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(8))));
    let service = GroupService::start(
        CoordinatorConfig {
            seed,
            ..CoordinatorConfig::default()
        },
        store,
    );
    let conn = service.connect();
    (0..3)
        .map(|i| {
            let join = JoinGroupRequest::new("billing", vec![JoinProtocol::new("range", vec![])]);
            conn.send(RequestId(i), Request::JoinGroup(join));
            match conn.recv_timeout(Duration::from_secs(5)) {
                Some((id, Response::JoinGroup(r))) if id == RequestId(i) => {
                    assert_eq!(r.error, ErrorCode::MemberIdRequired);
                    r.member_id
                }
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

/// Member ids never repeat across restarts: a service given no seed draws its own (Kafka's
/// `ClassicGroup.generateMemberId` uses a random UUID); the same explicit seed replays them.
#[test]
fn member_ids_differ_across_starts_unless_the_same_seed_is_given() {
    let (first, second) = (first_member_ids(None), first_member_ids(None));
    assert!(
        first.iter().all(|id| !second.contains(id)),
        "{first:?} {second:?}"
    );
    assert_eq!(first_member_ids(Some(7)), first_member_ids(Some(7)));
    assert_ne!(first_member_ids(Some(7)), first_member_ids(Some(8)));
}

#[test]
fn the_driver_fires_the_coordinators_timers_from_the_real_clock() {
    let service = service();
    let mut c = Consumer::new(config("g"), &service, Topics::new()).unwrap();
    c.subscribe([TOPIC]).unwrap();
    poll_until(&mut c, Duration::from_secs(5), |c, _| c.generation().0 >= 1);
    let member = c.member_id();
    // The consumer dies without a word; only the coordinator's session timer can notice.
    drop(c);
    let start = Instant::now();
    while service.with_coordinator(|co, _| co.members("g").contains(&member)) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "session never expired"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "not before the session ends"
    );
    assert_eq!(
        service.with_coordinator(|co, _| co.group_state("g")),
        Some(GroupState::Empty)
    );
}

// ---- The consumer ----------------------------------------------------------------------------

#[test]
fn a_consumer_reads_every_record_commits_and_sees_its_commits() {
    let (topics, _producer, service) = topic(3, 30);
    let mut c = Consumer::new(config("readers"), &service, topics.clone()).unwrap();
    c.subscribe([TOPIC]).unwrap();
    let mut seen = BTreeSet::new();
    poll_until(&mut c, Duration::from_secs(5), |_, p| {
        for r in &p.records {
            assert!(
                seen.insert((r.partition.partition, r.offset)),
                "no duplicates"
            );
        }
        seen.len() == 30
    });
    c.commit_sync(None).unwrap();
    let committed = c.committed(&[tp(0), tp(1), tp(2)]).unwrap();
    for (p, offset) in committed {
        assert_eq!(offset, Some(topics.end_offset(&p).unwrap()), "{p}");
    }
    c.close().unwrap();
}

#[test]
fn records_returned_by_a_poll_are_committed_only_after_the_host_comes_back() {
    let (topics, _producer, service) = topic(1, 10);
    let mut cfg = config("alo");
    cfg.enable_auto_commit = true;
    cfg.auto_commit_interval_ms = 100;
    let mut c = Consumer::new(cfg, &service, topics).unwrap();
    c.subscribe([TOPIC]).unwrap();
    let polls = poll_until(&mut c, Duration::from_secs(5), |_, p| !p.records.is_empty());
    let got: usize = polls.iter().map(|p| p.records.len()).sum();
    assert_eq!(got, 10);
    // The host is "processing": several auto-commit intervals pass without a poll.
    thread::sleep(Duration::from_millis(400));
    assert_ne!(
        c.committed(&[tp(0)]).unwrap()[0].1,
        Some(Offset(10)),
        "nothing the host has not finished is committed"
    );
    // Back for more: now the batch counts as processed, and auto-commit commits it.
    let _ = c.poll(Duration::from_millis(10)).unwrap();
    let start = Instant::now();
    while c.committed(&[tp(0)]).unwrap()[0].1 != Some(Offset(10)) {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "auto-commit never came"
        );
        let _ = c.poll(Duration::from_millis(20)).unwrap();
    }
    c.close().unwrap();
}

#[test]
fn two_consumers_share_the_partitions_and_a_clean_leave_hands_them_over_at_once() {
    let (topics, _producer, service) = topic(4, 0);
    // A long session, so that a handover well inside it can only be the leave's doing.
    let config = |g: &str| {
        let mut c = config(g);
        c.session_timeout_ms = 5_000;
        c
    };
    let mut a = Consumer::new(config("share"), &service, topics.clone()).unwrap();
    a.subscribe([TOPIC]).unwrap();
    poll_until(&mut a, Duration::from_secs(5), |c, _| {
        c.assignment().len() == 4
    });
    // b joins; both keep polling (each on its own thread) until the rebalance is done.
    let mut b = thread::scope(|s| {
        let h = s.spawn(|| {
            let mut b = Consumer::new(config("share"), &service, topics.clone()).unwrap();
            b.subscribe([TOPIC]).unwrap();
            poll_until(&mut b, Duration::from_secs(5), |c, _| {
                c.assignment().len() == 2
            });
            b
        });
        poll_until(&mut a, Duration::from_secs(5), |c, _| {
            c.assignment().len() == 2
        });
        h.join().unwrap()
    });
    let mine: BTreeSet<TopicPartition> = a.assignment().into_iter().collect();
    let theirs: BTreeSet<TopicPartition> = b.assignment().into_iter().collect();
    assert!(mine.is_disjoint(&theirs));
    let start = Instant::now();
    a.close().unwrap();
    poll_until(&mut b, Duration::from_secs(5), |c, _| {
        c.assignment().len() == 4
    });
    assert!(
        start.elapsed() < Duration::from_millis(4_000),
        "a leave does not wait for the 5 s session timeout"
    );
    b.close().unwrap();
}

#[test]
fn a_crashed_consumers_partitions_move_after_the_session_timeout() {
    let (topics, _producer, service) = topic(2, 0);
    let mut a = Consumer::new(config("crash"), &service, topics.clone()).unwrap();
    a.subscribe([TOPIC]).unwrap();
    poll_until(&mut a, Duration::from_secs(5), |c, _| {
        c.assignment().len() == 2
    });
    let mut b = Consumer::new(config("crash"), &service, topics).unwrap();
    b.subscribe([TOPIC]).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            poll_until(&mut a, Duration::from_secs(5), |c, _| {
                c.assignment().len() == 1
            });
        });
        poll_until(&mut b, Duration::from_secs(5), |c, _| {
            c.assignment().len() == 1
        });
    });
    let start = Instant::now();
    drop(a);
    poll_until(&mut b, Duration::from_secs(5), |c, _| {
        c.assignment().len() == 2
    });
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "only after the session"
    );
    b.close().unwrap();
}

#[test]
fn a_revocation_comes_before_the_partitions_move_so_the_host_can_commit() {
    let (topics, producer, service) = topic(2, 20);
    let mut a = Consumer::new(config("handover"), &service, topics.clone()).unwrap();
    a.subscribe([TOPIC]).unwrap();
    let mut read = 0;
    poll_until(&mut a, Duration::from_secs(5), |_, p| {
        read += p.records.len();
        read == 20
    });
    let b_handle = {
        let topics = topics.clone();
        let service = &service;
        thread::scope(|s| {
            let h = s.spawn(move || {
                let mut b = Consumer::new(config("handover"), service, topics).unwrap();
                b.subscribe([TOPIC]).unwrap();
                let mut first = None;
                poll_until(&mut b, Duration::from_secs(5), |_, p| {
                    if let Some(r) = p.records.first() {
                        first = Some(r.offset);
                    }
                    first.is_some()
                });
                (b, first)
            });
            // a: the revocation arrives with no records; a commits; the next poll lets go.
            let polls = poll_until(&mut a, Duration::from_secs(5), |_, p| {
                p.events
                    .iter()
                    .any(|e| matches!(e, ConsumerEvent::PartitionsRevoked { .. }))
            });
            assert!(polls.last().unwrap().records.is_empty());
            a.commit_sync(None).unwrap();
            // New records arrive for b to read past a's commit.
            for i in 0..10 {
                producer
                    .send(TOPIC, Some(format!("more-{i}").as_bytes()), b"x")
                    .unwrap();
            }
            poll_until(&mut a, Duration::from_secs(5), |c, _| {
                c.assignment().len() == 1
            });
            h.join().unwrap()
        })
    };
    let (b, first) = b_handle;
    // b starts where a committed: past the 20 records a processed, never at 0.
    assert!(first.unwrap() > Offset(0), "b resumed from a's commit");
    b.close().unwrap();
    a.close().unwrap();
}

#[test]
fn pause_resume_and_seek() {
    let (topics, producer, service) = topic(1, 5);
    let mut c = Consumer::new(config("ctl"), &service, topics).unwrap();
    c.subscribe([TOPIC]).unwrap();
    let mut read = 0;
    poll_until(&mut c, Duration::from_secs(5), |_, p| {
        read += p.records.len();
        read == 5
    });
    c.pause([tp(0)]);
    assert_eq!(c.paused(), [tp(0)]);
    for _ in 0..3 {
        producer.send(TOPIC, None, b"later").unwrap();
    }
    let p = c.poll(Duration::from_millis(50)).unwrap();
    assert!(p.records.is_empty(), "paused partitions return nothing");
    c.resume([tp(0)]);
    let polls = poll_until(&mut c, Duration::from_secs(5), |_, p| !p.records.is_empty());
    let offsets = |p: &Polled| p.records.iter().map(|r| r.offset.0).collect::<Vec<_>>();
    assert_eq!(offsets(polls.last().unwrap()), [5, 6, 7]);
    c.seek(&tp(0), Offset(3)).unwrap();
    let polls = poll_until(&mut c, Duration::from_secs(5), |_, p| !p.records.is_empty());
    assert_eq!(offsets(polls.last().unwrap()), [3, 4, 5, 6, 7]);
    assert_eq!(c.position(&tp(0)), Some(Offset(8)));
    assert!(matches!(
        c.seek(&TopicPartition::new("other", 0), Offset(0)),
        Err(Error::NotAssigned { .. })
    ));
    c.commit_sync(Some(vec![OffsetCommit::new(tp(0), Offset(4))]))
        .unwrap();
    assert_eq!(c.committed(&[tp(0)]).unwrap()[0].1, Some(Offset(4)));
    c.close().unwrap();
}

// ---- Stress ----------------------------------------------------------------------------------

/// A small deterministic generator per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, per_thousand: u64) -> bool {
        self.next() % 1_000 < per_thousand
    }
}

/// What every group processed: (partition, offset) → times.
type Processed = Arc<Mutex<HashMap<String, BTreeMap<(i32, i64), u32>>>>;

#[test]
fn fifty_consumers_in_five_groups_survive_random_joins_leaves_and_crashes() {
    const GROUPS: usize = 5;
    const PER_GROUP: usize = 10;
    const PARTITIONS: u32 = 10;
    let chaos = Duration::from_millis(3_000);

    let service = Arc::new(service());
    let topics = Topics::new();
    topics.create(TOPIC, PARTITIONS).unwrap();
    let producer = Producer::new(topics.clone(), service.clock());
    let processed: Processed = Arc::new(Mutex::new(HashMap::new()));
    let chaos_over = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let crashes = Arc::new(AtomicU64::new(0));
    let leaves = Arc::new(AtomicU64::new(0));

    let threads: Vec<_> = (0..GROUPS * PER_GROUP)
        .map(|i| {
            let (service, topics, processed) = (service.clone(), topics.clone(), processed.clone());
            let (chaos_over, finished) = (chaos_over.clone(), finished.clone());
            let (crashes, leaves) = (crashes.clone(), leaves.clone());
            thread::spawn(move || {
                let group = format!("group-{}", i % GROUPS);
                let mut cfg = config(&group);
                // Groups 0–2 rebalance cooperatively, 3–4 eagerly.
                if i % GROUPS < 3 {
                    cfg.assignors = vec!["cooperative-sticky".into()];
                }
                let mut rng = Rng(i as u64 + 1);
                let start = || {
                    let mut c = Consumer::new(cfg.clone(), &service, topics.clone()).unwrap();
                    c.subscribe([TOPIC]).unwrap();
                    c
                };
                let mut consumer = Some(start());
                while !finished.load(Ordering::Relaxed) {
                    let Some(c) = consumer.as_mut() else {
                        thread::sleep(Duration::from_millis(50));
                        consumer = Some(start());
                        continue;
                    };
                    let polled = match c.poll(Duration::from_millis(20)) {
                        Ok(p) => p,
                        Err(_) => {
                            consumer = None;
                            continue;
                        }
                    };
                    if !polled.records.is_empty() {
                        let mut seen = processed.lock();
                        let mine = seen.entry(group.clone()).or_default();
                        for r in &polled.records {
                            *mine.entry((r.partition.partition, r.offset.0)).or_default() += 1;
                        }
                    }
                    let revoked = polled
                        .events
                        .iter()
                        .any(|e| matches!(e, ConsumerEvent::PartitionsRevoked { .. }));
                    if revoked || rng.chance(50) {
                        // Commit what was processed; a refusal (rebalancing) is fine here.
                        let _ = c.commit_sync(None);
                    }
                    if !chaos_over.load(Ordering::Relaxed) {
                        if rng.chance(8) {
                            let c = consumer.take().unwrap();
                            let _ = c.close();
                            leaves.fetch_add(1, Ordering::Relaxed);
                        } else if rng.chance(4) {
                            drop(consumer.take());
                            crashes.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if let Some(c) = consumer {
                    let _ = c.close();
                }
            })
        })
        .collect();

    // Records flow during the chaos.
    let began = Instant::now();
    let mut produced = 0u32;
    while began.elapsed() < chaos {
        for _ in 0..20 {
            producer
                .send(TOPIC, Some(format!("k-{produced}").as_bytes()), b"v")
                .unwrap();
            produced += 1;
        }
        thread::sleep(Duration::from_millis(10));
    }
    chaos_over.store(true, Ordering::Relaxed);

    // Afterwards: every group becomes stable with all ten members, and every record is
    // processed at least once by every group.
    let ends: Vec<i64> = (0..PARTITIONS as i32)
        .map(|p| topics.end_offset(&tp(p)).unwrap().0)
        .collect();
    let settle = Instant::now();
    loop {
        let all_read = {
            let seen = processed.lock();
            (0..GROUPS).all(|g| {
                seen.get(&format!("group-{g}")).is_some_and(|m| {
                    (0..PARTITIONS as i32)
                        .all(|p| (0..ends[p as usize]).all(|o| m.contains_key(&(p, o))))
                })
            })
        };
        let stable = service.with_coordinator(|co, _| {
            (0..GROUPS).all(|g| {
                let group = format!("group-{g}");
                co.group_state(&group) == Some(GroupState::Stable)
                    && co.members(&group).len() == PER_GROUP
            })
        });
        if all_read && stable {
            break;
        }
        assert!(
            settle.elapsed() < Duration::from_secs(30),
            "not settled: all read {all_read}, stable {stable}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    finished.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("no consumer thread panicked");
    }
    let seen = processed.lock();
    let total: u64 = ends.iter().map(|&e| e as u64).sum();
    assert_eq!(total, u64::from(produced));
    for g in 0..GROUPS {
        let m = &seen[&format!("group-{g}")];
        let distinct = m.len() as u64;
        assert_eq!(distinct, total, "group-{g} processed every record");
    }
    eprintln!(
        "stress: {produced} records, {} clean leaves, {} crashes, settled in {:?}",
        leaves.load(Ordering::Relaxed),
        crashes.load(Ordering::Relaxed),
        settle.elapsed()
    );
    assert!(crashes.load(Ordering::Relaxed) > 0 && leaves.load(Ordering::Relaxed) > 0);
}
