//! Maintenance the group coordinator runs on its own timers: offsets retention (KIP-211) and
//! compaction of the offsets log, with time passed in.

use std::sync::Arc;

use consumer_groups::coordinator::{CoordinatorConfig, GroupCoordinator, Request, RequestId};
use consumer_groups::log::{Log, MemoryLog};
use consumer_groups::offsets::{LogOffsetStore, OffsetCommit, OffsetStore, OffsetStoreConfig};
use consumer_groups::protocol::Response;
use consumer_groups::protocol::group::{OffsetCommitRequest, OffsetFetchRequest};
use consumer_groups::{Generation, GroupId, MemberId, Offset, Timestamp, TopicPartition};

fn commit(group: &str, partitions: impl IntoIterator<Item = (i32, i64)>) -> Request {
    Request::OffsetCommit(OffsetCommitRequest {
        group_id: group.into(),
        generation: Generation(-1),
        member_id: MemberId::from(""),
        group_instance_id: None,
        retention_ms: None,
        offsets: partitions
            .into_iter()
            .map(|(p, o)| OffsetCommit::new(TopicPartition::new("t", p), Offset(o)))
            .collect(),
    })
}

struct Harness {
    log: Arc<MemoryLog>,
    store: Arc<LogOffsetStore>,
    c: GroupCoordinator,
    next: u64,
}

impl Harness {
    fn new(config: CoordinatorConfig, retention_ms: u64) -> Harness {
        let log = Arc::new(MemoryLog::new(1));
        let store = Arc::new(LogOffsetStore::with_config(
            log.clone(),
            OffsetStoreConfig {
                retention_ms,
                ..OffsetStoreConfig::default()
            },
        ));
        let c = GroupCoordinator::new(config, store.clone());
        Harness {
            log,
            store,
            c,
            next: 0,
        }
    }

    /// Sends a request and returns its immediate answer.
    fn send(&mut self, now: u64, request: Request) -> Response {
        self.next += 1;
        self.c.handle(Timestamp(now), RequestId(self.next), request);
        let (id, r) = self.c.poll_response().expect("an answer");
        assert_eq!(id, RequestId(self.next));
        r
    }

    /// Fires every timer due up to `until`, in order.
    fn run_until(&mut self, until: u64) {
        while let Some(t) = self.c.poll_timeout() {
            if t.0 > until {
                break;
            }
            self.c.handle_timeout(t);
        }
    }

    fn committed(&mut self, now: u64, group: &str) -> Vec<Option<i64>> {
        let r = self.send(
            now,
            Request::OffsetFetch(OffsetFetchRequest {
                group_id: group.into(),
                partitions: None,
                require_stable: false,
            }),
        );
        let Response::OffsetFetch(r) = r else {
            panic!("{r:?}")
        };
        r.partitions
            .into_iter()
            .map(|(_, o)| o.ok().flatten().map(|c| c.offset.0))
            .collect()
    }
}

/// KIP-211: offsets of a group without members expire `offsets.retention.minutes` after their
/// commit, at the first retention check after that (`offsets.retention.check.interval.ms`),
/// with no call from the host but the timers it is asked for.
#[test]
fn offsets_expire_at_the_first_retention_check_after_their_retention() {
    let config = CoordinatorConfig {
        offsets_retention_check_interval_ms: 1_000,
        ..CoordinatorConfig::default()
    };
    let mut h = Harness::new(config, 2_500);
    assert!(matches!(
        h.send(0, commit("g", [(0, 5), (1, 7)])),
        Response::OffsetCommit(_)
    ));
    // Checks at 1,000 and 2,000 find the offsets within their retention.
    h.run_until(2_999);
    assert_eq!(h.committed(2_999, "g"), [Some(5), Some(7)]);
    assert_eq!(h.c.maintenance_stats().expiry_runs, 2);
    // The check at 3,000 expires them: tombstones in the log, the group gone.
    h.run_until(3_000);
    assert_eq!(h.c.maintenance_stats().offsets_expired, 2);
    assert!(h.committed(3_000, "g").is_empty());
    assert!(h.c.group_state("g").is_none());
    assert!(h.store.list_groups().is_empty());
    // A store that replays the log agrees.
    let replayed = LogOffsetStore::new(h.log.clone());
    replayed.load_all().unwrap();
    assert!(replayed.fetch_all(&GroupId::from("g"), false).is_empty());
}

/// Kafka's log cleaner: a partition is compacted once what was appended since its last
/// cleaning is at least `min.cleanable.dirty.ratio` of it, at the cleaner's next look; the
/// log stays within twice its live keys and replays to the same state.
#[test]
fn the_offsets_log_is_compacted_once_half_of_it_is_new_since_the_last_cleaning() {
    let config = CoordinatorConfig {
        log_cleaner_backoff_ms: 100,
        ..CoordinatorConfig::default()
    };
    let mut h = Harness::new(config, u64::MAX / 4);
    let mut now = 0;
    // 10 partitions committed 1,000 times each, the cleaner looking every 100 ms.
    for round in 0..1_000i64 {
        now += 10;
        h.send(now, commit("g", (0..10).map(|p| (p, round))));
        h.run_until(now);
        let records = h.log.record_count(0).unwrap();
        // Live keys: 10 offsets. Between two looks at most 10 commits of 10 records arrive.
        assert!(
            records <= 2 * 10 + 100 + 10,
            "{records} records at round {round}"
        );
    }
    assert!(h.c.maintenance_stats().compactions > 0);
    assert_eq!(h.c.maintenance_stats().errors, 0);
    let expected: Vec<Option<i64>> = vec![Some(999); 10];
    assert_eq!(h.committed(now, "g"), expected);
    let replayed = LogOffsetStore::new(h.log.clone());
    replayed.load_all().unwrap();
    assert_eq!(
        replayed.snapshot(0).unwrap(),
        h.store.snapshot(0).unwrap(),
        "compaction keeps what a replay rebuilds"
    );
    // A clean log is not compacted again until enough is appended.
    let before = h.c.maintenance_stats().compactions;
    h.run_until(now + 1_000);
    assert_eq!(h.c.maintenance_stats().compactions, before + 1);
    h.run_until(now + 2_000);
    assert_eq!(h.c.maintenance_stats().compactions, before + 1);
    assert!(h.log.end_offset(0).unwrap() > 0);
}
