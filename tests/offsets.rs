//! The offset store: commits, fetches, deletes, group metadata, retention, transactions, lag,
//! replay and thread safety.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use consumer_groups::log::codec::{GroupMetadataValue, MemberMetadata};
use consumer_groups::log::{
    CompactionStats, Log, MemoryLog, Producer, ReadLimit, Record, RecordView, TxnOutcome,
};
use consumer_groups::offsets::{
    CommitOptions, LogOffsetStore, OffsetCommit, OffsetStore, OffsetStoreConfig,
};
use consumer_groups::protocol::consumer::Subscription;
use consumer_groups::{Error, ErrorCode, GroupId, Offset, Timestamp, TopicPartition};

const DAY: u64 = 24 * 60 * 60 * 1000;

fn tp(t: &str, p: i32) -> TopicPartition {
    TopicPartition::new(t, p)
}

fn commit(t: &str, p: i32, o: i64) -> OffsetCommit {
    OffsetCommit::new(tp(t, p), Offset(o))
}

fn store(partitions: u32) -> (Arc<MemoryLog>, LogOffsetStore) {
    let log = Arc::new(MemoryLog::new(partitions));
    (log.clone(), LogOffsetStore::new(log))
}

fn offset_of(s: &LogOffsetStore, g: &GroupId, t: &str, p: i32) -> Option<i64> {
    s.fetch(g, &[tp(t, p)], false)[0]
        .clone()
        .unwrap()
        .map(|c| c.offset.0)
}

fn replayed(log: &Arc<MemoryLog>) -> LogOffsetStore {
    let s = LogOffsetStore::new(log.clone());
    s.load_all().unwrap();
    s
}

fn assert_replay_matches(log: &Arc<MemoryLog>, live: &LogOffsetStore) {
    let again = replayed(log);
    for p in 0..log.partition_count() {
        assert_eq!(
            again.snapshot(p).unwrap(),
            live.snapshot(p).unwrap(),
            "partition {p}"
        );
    }
}

fn members_metadata(topics: &[&str], state_ts: Option<i64>) -> GroupMetadataValue {
    let members = if topics.is_empty() {
        Vec::new()
    } else {
        vec![MemberMetadata {
            member_id: "m-1".into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/10.0.0.1".into(),
            rebalance_timeout_ms: 300_000,
            session_timeout_ms: 45_000,
            subscription: Subscription::new(topics.iter().copied()).encode(1).unwrap(),
            assignment: Vec::new(),
        }]
    };
    GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 3,
        protocol: Some("range".into()),
        leader: members.first().map(|m| m.member_id.clone()),
        current_state_timestamp: state_ts,
        members,
    }
}

#[test]
fn commit_then_fetch_and_missing_offsets_read_as_none() {
    let (_, s) = store(5);
    let g = GroupId::from("g");
    let codes = s
        .commit(
            &g,
            &[
                commit("orders", 0, 501).leader_epoch(4).metadata("m"),
                commit("orders", 1, -2), // kafkajs commits -2
                commit("orders", 2, i64::MIN),
            ],
            Timestamp(100),
        )
        .unwrap();
    assert_eq!(codes, [ErrorCode::None; 3]);
    let got = s.fetch(
        &g,
        &[tp("orders", 0), tp("orders", 3), tp("other", 0)],
        false,
    );
    let first = got[0].clone().unwrap().unwrap();
    assert_eq!(first.offset, Offset(501));
    assert_eq!(first.leader_epoch, Some(4));
    assert_eq!(&*first.metadata, "m");
    assert_eq!(first.commit_timestamp, Timestamp(100));
    assert_eq!(first.expire_timestamp, None);
    assert_eq!(got[1], Ok(None));
    assert_eq!(got[2], Ok(None));
    assert_eq!(offset_of(&s, &g, "orders", 1), Some(-2));
    assert_eq!(offset_of(&s, &g, "orders", 2), Some(i64::MIN));
    assert_eq!(
        s.fetch(&GroupId::from("nobody"), &[tp("orders", 0)], true),
        [Ok(None)]
    );
    // A later commit replaces the earlier one.
    s.commit(&g, &[commit("orders", 0, 600)], Timestamp(200))
        .unwrap();
    assert_eq!(offset_of(&s, &g, "orders", 0), Some(600));
}

#[test]
fn invalid_commits_fail_alone_and_the_rest_of_the_batch_goes_through() {
    let log = Arc::new(MemoryLog::new(3));
    let s = LogOffsetStore::with_config(
        log.clone(),
        OffsetStoreConfig {
            max_metadata_bytes: 10,
            ..OffsetStoreConfig::default()
        },
    );
    let g = GroupId::from("g");
    let codes = s
        .commit(
            &g,
            &[
                commit("t", 0, 1),
                commit("t", 1, 2).metadata("x".repeat(11)),
                commit("t", -1, 3),
                commit("", 0, 4),
                commit("t", 2, 5).metadata("y".repeat(10)),
            ],
            Timestamp(1),
        )
        .unwrap();
    assert_eq!(
        codes,
        [
            ErrorCode::None,
            ErrorCode::OffsetMetadataTooLarge,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::InvalidTopicException,
            ErrorCode::None
        ]
    );
    assert_eq!(offset_of(&s, &g, "t", 0), Some(1));
    assert_eq!(offset_of(&s, &g, "t", 1), None);
    assert_eq!(offset_of(&s, &g, "t", 2), Some(5));
    // Only the two valid commits reached the log.
    assert_eq!(log.end_offset(s.partition_of(&g)).unwrap(), 2);
    // The default limit is Kafka's 4096 bytes.
    let d = LogOffsetStore::new(Arc::new(MemoryLog::new(1)));
    let codes = d
        .commit(
            &g,
            &[
                commit("t", 0, 1).metadata("a".repeat(4096)),
                commit("t", 1, 1).metadata("a".repeat(4097)),
            ],
            Timestamp(1),
        )
        .unwrap();
    assert_eq!(codes, [ErrorCode::None, ErrorCode::OffsetMetadataTooLarge]);
}

#[test]
fn bad_group_ids_are_typed_errors() {
    let (log, s) = store(3);
    assert_eq!(
        s.commit(&GroupId::from(""), &[commit("t", 0, 1)], Timestamp(0)),
        Err(Error::EmptyId("group id"))
    );
    let long = GroupId::from("g".repeat(40_000));
    assert!(matches!(
        s.commit(&long, &[commit("t", 0, 1)], Timestamp(0)),
        Err(Error::IdTooLong { len: 40_000, .. })
    ));
    assert!(
        s.store_group_metadata(&long, members_metadata(&[], None), Timestamp(0))
            .is_err()
    );
    for p in 0..3 {
        assert_eq!(log.end_offset(p).unwrap(), 0, "nothing was written");
    }
    assert!(s.list_groups().is_empty());
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
fn a_failed_write_changes_nothing() {
    let log = Arc::new(FlakyLog {
        inner: MemoryLog::new(4),
        fail: AtomicBool::new(false),
    });
    let s = LogOffsetStore::new(log.clone());
    let g = GroupId::from("g");
    s.commit(&g, &[commit("t", 0, 10), commit("t", 1, 10)], Timestamp(1))
        .unwrap();
    s.store_group_metadata(&g, members_metadata(&["t"], None), Timestamp(1))
        .unwrap();
    let before = s.snapshot(s.partition_of(&g)).unwrap();
    log.fail.store(true, Ordering::SeqCst);
    let batch: Vec<OffsetCommit> = (0..100).map(|p| commit("t", p, 99)).collect();
    assert_eq!(
        s.commit(&g, &batch, Timestamp(2)),
        Err(Error::Storage("disk full".into()))
    );
    assert!(s.delete_offsets(&g, &[tp("t", 0)], Timestamp(2)).is_err());
    assert!(s.delete_group(&g, Timestamp(2)).is_err());
    assert!(
        s.store_group_metadata(&g, members_metadata(&[], Some(2)), Timestamp(2))
            .is_err()
    );
    let producer = Producer { id: 1, epoch: 0 };
    assert!(
        s.write_txn_marker(
            s.partition_of(&g),
            producer,
            TxnOutcome::Commit,
            0,
            Timestamp(2)
        )
        .is_err()
    );
    assert_eq!(s.snapshot(s.partition_of(&g)).unwrap(), before);
    assert_eq!(offset_of(&s, &g, "t", 0), Some(10));
    assert_eq!(offset_of(&s, &g, "t", 50), None);
}

#[test]
fn fetch_all_lists_a_groups_offsets_in_order() {
    let (_, s) = store(7);
    let g = GroupId::from("g");
    s.commit(
        &g,
        &[
            commit("b", 1, 11),
            commit("a", 2, 2),
            commit("b", 0, 10),
            commit("a", 0, 0),
        ],
        Timestamp(5),
    )
    .unwrap();
    let all: Vec<(String, i64)> = s
        .fetch_all(&g, false)
        .into_iter()
        .map(|(tp, r)| (tp.to_string(), r.unwrap().offset.0))
        .collect();
    assert_eq!(
        all,
        [
            ("a:0".to_string(), 0),
            ("a:2".into(), 2),
            ("b:0".into(), 10),
            ("b:1".into(), 11)
        ]
    );
    assert!(s.fetch_all(&GroupId::from("none"), true).is_empty());
}

#[test]
fn deletes_write_tombstones_that_replay_honours() {
    let (log, s) = store(3);
    let g = GroupId::from("g");
    let h = GroupId::from("h");
    s.commit(
        &g,
        &[commit("t", 0, 1), commit("t", 1, 2), commit("u", 0, 3)],
        Timestamp(1),
    )
    .unwrap();
    s.commit(&h, &[commit("t", 0, 7)], Timestamp(1)).unwrap();
    s.store_group_metadata(&h, members_metadata(&[], Some(1)), Timestamp(1))
        .unwrap();
    assert_eq!(s.list_groups(), [g.clone(), h.clone()]);
    let n = s
        .delete_offsets(&g, &[tp("t", 0), tp("t", 0), tp("t", 9)], Timestamp(2))
        .unwrap();
    assert_eq!(
        n, 1,
        "one committed offset deleted; duplicates and unknowns ignored"
    );
    assert_eq!(offset_of(&s, &g, "t", 0), None);
    assert_eq!(offset_of(&s, &g, "t", 1), Some(2));
    assert!(s.delete_group(&h, Timestamp(3)).unwrap());
    assert!(!s.delete_group(&h, Timestamp(3)).unwrap());
    assert_eq!(s.group_metadata(&h), None);
    assert_eq!(offset_of(&s, &h, "t", 0), None);
    assert_eq!(s.list_groups(), std::slice::from_ref(&g));
    assert_replay_matches(&log, &s);
    // Deleting the last offsets of a group without metadata removes the group.
    s.delete_offsets(&g, &[tp("t", 1), tp("u", 0)], Timestamp(4))
        .unwrap();
    assert!(s.list_groups().is_empty());
    assert_replay_matches(&log, &s);
}

#[test]
fn group_metadata_is_stored_replaced_and_replayed() {
    let (log, s) = store(50);
    let g = GroupId::from("payments");
    assert_eq!(s.group_metadata(&g), None);
    let first = members_metadata(&["orders"], None);
    s.store_group_metadata(&g, first.clone(), Timestamp(10))
        .unwrap();
    assert_eq!(s.group_metadata(&g), Some(first));
    let emptied = members_metadata(&[], Some(20));
    s.store_group_metadata(&g, emptied.clone(), Timestamp(20))
        .unwrap();
    assert_eq!(s.group_metadata(&g), Some(emptied.clone()));
    assert_eq!(s.list_groups(), std::slice::from_ref(&g));
    let again = replayed(&log);
    assert_eq!(again.group_metadata(&g), Some(emptied));
    assert_eq!(
        s.partition_of(&g),
        consumer_groups::log::partition_for("payments", 50)
    );
}

#[test]
fn standalone_offsets_expire_retention_after_their_commit() {
    let (log, s) = store(3);
    let g = GroupId::from("simple");
    s.commit(&g, &[commit("t", 0, 1)], Timestamp(1_000))
        .unwrap();
    s.commit(&g, &[commit("t", 1, 1)], Timestamp(2_000))
        .unwrap();
    let stats = s.expire_offsets(Timestamp(1_000 + 7 * DAY - 1)).unwrap();
    assert_eq!(stats.offsets_expired, 0);
    let stats = s.expire_offsets(Timestamp(1_000 + 7 * DAY)).unwrap();
    assert_eq!(stats.offsets_expired, 1);
    assert_eq!(offset_of(&s, &g, "t", 0), None);
    assert_eq!(offset_of(&s, &g, "t", 1), Some(1));
    assert_replay_matches(&log, &s);
    s.expire_offsets(Timestamp(2_000 + 7 * DAY)).unwrap();
    assert!(s.list_groups().is_empty());
    assert_replay_matches(&log, &s);
}

#[test]
fn offsets_of_an_empty_group_expire_retention_after_it_emptied() {
    let (log, s) = store(3);
    let g = GroupId::from("g");
    s.store_group_metadata(&g, members_metadata(&["t"], None), Timestamp(0))
        .unwrap();
    s.commit(&g, &[commit("t", 0, 5)], Timestamp(100)).unwrap();
    // While the group has members subscribed to "t", its offsets stay, however old.
    assert_eq!(
        s.expire_offsets(Timestamp(30 * DAY))
            .unwrap()
            .offsets_expired,
        0
    );
    // The group empties at day 40: the clock starts then, not at the commit.
    s.store_group_metadata(
        &g,
        members_metadata(&[], Some((40 * DAY) as i64)),
        Timestamp(40 * DAY),
    )
    .unwrap();
    assert_eq!(
        s.expire_offsets(Timestamp(47 * DAY - 1))
            .unwrap()
            .offsets_expired,
        0
    );
    let stats = s.expire_offsets(Timestamp(47 * DAY)).unwrap();
    assert_eq!(stats.offsets_expired, 1);
    assert_eq!(
        stats.groups_removed, 1,
        "an empty group with no offsets is dead"
    );
    assert_eq!(s.group_metadata(&g), None);
    assert!(s.list_groups().is_empty());
    assert_replay_matches(&log, &s);
}

#[test]
fn a_stable_consumer_group_loses_only_offsets_of_topics_nobody_subscribes_to() {
    let (log, s) = store(3);
    let g = GroupId::from("g");
    s.commit(
        &g,
        &[commit("kept", 0, 1), commit("dropped", 0, 1)],
        Timestamp(0),
    )
    .unwrap();
    s.store_group_metadata(&g, members_metadata(&["kept"], None), Timestamp(0))
        .unwrap();
    let stats = s.expire_offsets(Timestamp(7 * DAY)).unwrap();
    assert_eq!(stats.offsets_expired, 1);
    assert_eq!(offset_of(&s, &g, "kept", 0), Some(1));
    assert_eq!(offset_of(&s, &g, "dropped", 0), None);
    // Subscriptions that cannot be read expire nothing.
    let mut unreadable = members_metadata(&["kept"], None);
    unreadable.members[0].subscription = vec![0xff];
    s.store_group_metadata(&g, unreadable, Timestamp(0))
        .unwrap();
    assert_eq!(
        s.expire_offsets(Timestamp(70 * DAY))
            .unwrap()
            .offsets_expired,
        0
    );
    assert_replay_matches(&log, &s);
}

#[test]
fn a_retention_time_sent_with_the_commit_wins() {
    let (log, s) = store(3);
    let g = GroupId::from("g");
    let h = GroupId::from("h");
    let opts = CommitOptions {
        retention_ms: Some(1_000),
        producer: None,
    };
    let codes = s
        .commit_with(
            &g,
            &[commit("t", 0, 9).leader_epoch(3)],
            opts,
            Timestamp(500),
        )
        .unwrap();
    assert_eq!(codes, [ErrorCode::None]);
    // A group whose members subscribe to the topic keeps it, expiry or not (as Kafka does).
    s.store_group_metadata(&h, members_metadata(&["t"], None), Timestamp(0))
        .unwrap();
    s.commit_with(&h, &[commit("t", 0, 9)], opts, Timestamp(500))
        .unwrap();
    let c = s.fetch(&g, &[tp("t", 0)], false)[0]
        .clone()
        .unwrap()
        .unwrap();
    assert_eq!(c.expire_timestamp, Some(Timestamp(1_500)));
    assert_eq!(
        c.leader_epoch, None,
        "Kafka's version-1 record has no epoch"
    );
    assert_eq!(
        s.expire_offsets(Timestamp(1_499)).unwrap().offsets_expired,
        0
    );
    assert_eq!(
        s.expire_offsets(Timestamp(1_500)).unwrap().offsets_expired,
        1
    );
    assert_eq!(offset_of(&s, &g, "t", 0), None);
    assert_eq!(offset_of(&s, &h, "t", 0), Some(9));
    assert_replay_matches(&log, &s);
}

fn txn(id: i64) -> CommitOptions {
    CommitOptions {
        retention_ms: None,
        producer: Some(Producer { id, epoch: 0 }),
    }
}

#[test]
fn transactional_offsets_are_pending_until_the_commit_marker() {
    let (log, s) = store(3);
    let g = GroupId::from("g");
    let p = s.partition_of(&g);
    s.commit(&g, &[commit("t", 0, 10)], Timestamp(1)).unwrap();
    s.commit_with(
        &g,
        &[commit("t", 0, 20), commit("t", 1, 5)],
        txn(7),
        Timestamp(2),
    )
    .unwrap();
    // Read-uncommitted fetches see the last committed offset; stable fetches are refused.
    assert_eq!(offset_of(&s, &g, "t", 0), Some(10));
    assert_eq!(offset_of(&s, &g, "t", 1), None);
    let stable = s.fetch(&g, &[tp("t", 0), tp("t", 1), tp("t", 2)], true);
    assert_eq!(
        stable,
        [
            Err(ErrorCode::UnstableOffsetCommit),
            Err(ErrorCode::UnstableOffsetCommit),
            Ok(None)
        ]
    );
    let all = s.fetch_all(&g, true);
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|(_, r)| *r == Err(ErrorCode::UnstableOffsetCommit))
    );
    assert_replay_matches(&log, &s);
    s.write_txn_marker(
        p,
        Producer { id: 7, epoch: 0 },
        TxnOutcome::Commit,
        0,
        Timestamp(3),
    )
    .unwrap();
    assert_eq!(offset_of(&s, &g, "t", 0), Some(20));
    assert_eq!(offset_of(&s, &g, "t", 1), Some(5));
    assert!(s.fetch(&g, &[tp("t", 0)], true)[0].is_ok());
    assert_replay_matches(&log, &s);
}

#[test]
fn aborted_transactional_offsets_vanish() {
    let (log, s) = store(3);
    let g = GroupId::from("g");
    s.commit(&g, &[commit("t", 0, 10)], Timestamp(1)).unwrap();
    s.commit_with(&g, &[commit("t", 0, 20)], txn(7), Timestamp(2))
        .unwrap();
    s.write_txn_marker(
        s.partition_of(&g),
        Producer { id: 7, epoch: 0 },
        TxnOutcome::Abort,
        0,
        Timestamp(3),
    )
    .unwrap();
    assert_eq!(offset_of(&s, &g, "t", 0), Some(10));
    assert!(s.fetch(&g, &[tp("t", 0)], true)[0].is_ok());
    assert_replay_matches(&log, &s);
    // A transaction that only touched a new group leaves nothing behind.
    let h = GroupId::from("h");
    s.commit_with(&h, &[commit("t", 0, 1)], txn(8), Timestamp(4))
        .unwrap();
    assert_eq!(s.list_groups().len(), 2);
    s.write_txn_marker(
        s.partition_of(&h),
        Producer { id: 8, epoch: 0 },
        TxnOutcome::Abort,
        0,
        Timestamp(5),
    )
    .unwrap();
    assert_eq!(s.list_groups(), [g]);
    assert_replay_matches(&log, &s);
}

#[test]
fn on_commit_the_newest_log_position_wins() {
    let (log, s) = store(1);
    let g = GroupId::from("g");
    // The transactional commit is older in the log than the plain commit after it.
    s.commit_with(
        &g,
        &[commit("t", 0, 20), commit("t", 1, 20)],
        txn(1),
        Timestamp(1),
    )
    .unwrap();
    s.commit(&g, &[commit("t", 0, 30)], Timestamp(2)).unwrap();
    s.write_txn_marker(
        0,
        Producer { id: 1, epoch: 0 },
        TxnOutcome::Commit,
        0,
        Timestamp(3),
    )
    .unwrap();
    assert_eq!(
        offset_of(&s, &g, "t", 0),
        Some(30),
        "the later plain commit stays"
    );
    assert_eq!(offset_of(&s, &g, "t", 1), Some(20));
    // And a transactional commit newer than the plain one replaces it.
    s.commit(&g, &[commit("t", 0, 40)], Timestamp(4)).unwrap();
    s.commit_with(&g, &[commit("t", 0, 50)], txn(1), Timestamp(5))
        .unwrap();
    s.write_txn_marker(
        0,
        Producer { id: 1, epoch: 0 },
        TxnOutcome::Commit,
        0,
        Timestamp(6),
    )
    .unwrap();
    assert_eq!(offset_of(&s, &g, "t", 0), Some(50));
    assert_replay_matches(&log, &s);
    log.compact(0, Timestamp(7), 0).unwrap();
    assert_replay_matches(&log, &s);
}

#[test]
fn a_stale_producer_epoch_is_fenced() {
    let (_, s) = store(1);
    let g = GroupId::from("g");
    let opts = |epoch| CommitOptions {
        retention_ms: None,
        producer: Some(Producer { id: 3, epoch }),
    };
    s.commit_with(&g, &[commit("t", 0, 1)], opts(2), Timestamp(1))
        .unwrap();
    let codes = s
        .commit_with(
            &g,
            &[commit("t", 0, 2), commit("t", 1, 2)],
            opts(1),
            Timestamp(2),
        )
        .unwrap();
    assert_eq!(codes, [ErrorCode::ProducerFenced; 2]);
    let pending = &s.snapshot(0).unwrap().groups["g"].pending[&3];
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[&("t".to_string(), 0)].committed.offset, Offset(1));
}

#[test]
fn deleting_an_offset_drops_its_pending_transactional_commit() {
    let (log, s) = store(1);
    let g = GroupId::from("g");
    s.commit(&g, &[commit("t", 0, 1)], Timestamp(1)).unwrap();
    s.commit_with(&g, &[commit("t", 0, 2)], txn(4), Timestamp(2))
        .unwrap();
    assert_eq!(
        s.delete_offsets(&g, &[tp("t", 0)], Timestamp(3)).unwrap(),
        1
    );
    s.write_txn_marker(
        0,
        Producer { id: 4, epoch: 0 },
        TxnOutcome::Commit,
        0,
        Timestamp(4),
    )
    .unwrap();
    assert_eq!(offset_of(&s, &g, "t", 0), None);
    assert!(s.list_groups().is_empty());
    assert_replay_matches(&log, &s);
}

#[test]
fn lag_is_log_end_minus_committed() {
    let (_, s) = store(3);
    let g = GroupId::from("g");
    s.commit(
        &g,
        &[commit("t", 0, 90), commit("t", 1, 120), commit("t", 2, -1)],
        Timestamp(1),
    )
    .unwrap();
    let lag = s.lag(
        &g,
        &[
            (tp("t", 0), Offset(100)),
            (tp("t", 1), Offset(100)),
            (tp("t", 2), Offset(100)),
            (tp("t", 3), Offset(100)),
        ],
    );
    let per: Vec<Option<i64>> = lag.partitions.iter().map(|p| p.lag).collect();
    assert_eq!(per, [Some(10), Some(0), None, None]);
    assert_eq!(lag.total, 10);
    assert_eq!(lag.unknown, 2);
    assert_eq!(lag.partitions[0].committed, Some(Offset(90)));
    assert_eq!(lag.partitions[3].committed, None);
}

#[test]
fn a_corrupt_record_fails_the_load_and_keeps_the_old_state() {
    let log = Arc::new(MemoryLog::new(1));
    let s = LogOffsetStore::new(log.clone());
    let g = GroupId::from("g");
    s.commit(&g, &[commit("t", 0, 1)], Timestamp(1)).unwrap();
    log.append(
        0,
        &[Record::new(Some(&[0, 1, 0]), Some(b"junk"), Timestamp(2))],
    )
    .unwrap();
    let err = s.load(0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CorruptLog {
                partition: 0,
                offset: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(offset_of(&s, &g, "t", 0), Some(1));
    log.append(0, &[Record::new(None, Some(b"x"), Timestamp(2))])
        .unwrap();
    assert!(LogOffsetStore::new(log.clone()).load(0).is_err());
    assert!(matches!(s.load(9), Err(Error::UnknownLogPartition { .. })));
}

#[test]
fn unload_forgets_a_partition_and_load_brings_it_back() {
    let (_, s) = store(2);
    let g = GroupId::from("g");
    s.commit(&g, &[commit("t", 0, 1)], Timestamp(1)).unwrap();
    let p = s.partition_of(&g);
    s.unload(p).unwrap();
    assert_eq!(offset_of(&s, &g, "t", 0), None);
    let stats = s.load(p).unwrap();
    assert_eq!((stats.records, stats.groups, stats.offsets), (1, 1, 1));
    assert_eq!(offset_of(&s, &g, "t", 0), Some(1));
}

#[test]
fn metadata_strings_are_shared_and_freed() {
    let (_, s) = store(1);
    let g = GroupId::from("g");
    let batch: Vec<OffsetCommit> = (0..100)
        .map(|p| commit("t", p, 1).metadata("same"))
        .collect();
    s.commit(&g, &batch, Timestamp(1)).unwrap();
    assert_eq!(s.interned_metadata(), 1);
    let a = s.fetch(&g, &[tp("t", 0)], false)[0]
        .clone()
        .unwrap()
        .unwrap();
    let b = s.fetch(&g, &[tp("t", 99)], false)[0]
        .clone()
        .unwrap()
        .unwrap();
    assert!(Arc::ptr_eq(&a.metadata, &b.metadata));
    let batch: Vec<OffsetCommit> = (0..100).map(|p| commit("t", p, 2)).collect();
    s.commit(&g, &batch, Timestamp(2)).unwrap();
    assert_eq!(s.interned_metadata(), 0);
}

#[test]
fn an_offset_costs_at_most_64_bytes_of_index() {
    let (_, s) = store(50);
    for g in 0..1_000 {
        let group = GroupId::from(format!("group-{g}"));
        let batch: Vec<OffsetCommit> = (0..100).map(|p| commit("topic", p, 42)).collect();
        s.commit(&group, &batch, Timestamp(1)).unwrap();
    }
    let usage = s.memory_usage();
    assert_eq!(usage.offsets, 100_000);
    assert_eq!(usage.groups, 1_000);
    assert!(usage.bytes_per_offset() <= 64.0, "{usage:?}");
}

#[test]
fn sparse_partition_numbers_do_not_cost_a_dense_table() {
    let (log, s) = store(1);
    let g = GroupId::from("g");
    s.commit(
        &g,
        &[
            commit("t", 0, 1),
            commit("t", i32::MAX, 2),
            commit("t", 1_000_000, 3),
        ],
        Timestamp(1),
    )
    .unwrap();
    assert_eq!(offset_of(&s, &g, "t", i32::MAX), Some(2));
    assert_eq!(offset_of(&s, &g, "t", 1_000_000), Some(3));
    assert!(s.memory_usage().table_bytes < 10_000);
    assert_replay_matches(&log, &s);
}

#[test]
fn concurrent_commits_lose_nothing() {
    let log = Arc::new(MemoryLog::new(8));
    let s = Arc::new(LogOffsetStore::new(log.clone()));
    let threads = 4;
    let rounds = 200;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let s = &s;
            scope.spawn(move || {
                for r in 0..rounds {
                    // Every thread writes to every group; each owns its topic.
                    for g in 0..10 {
                        let group = GroupId::from(format!("g{g}"));
                        let topic = format!("t{t}");
                        let batch: Vec<OffsetCommit> =
                            (0..5).map(|p| commit(&topic, p, r)).collect();
                        let codes = s.commit(&group, &batch, Timestamp(r as u64)).unwrap();
                        assert!(codes.iter().all(|c| *c == ErrorCode::None));
                    }
                }
            });
        }
        // A reader fetching at the same time never sees half a batch.
        let s = &s;
        scope.spawn(move || {
            for _ in 0..2_000 {
                let got = s.fetch(
                    &GroupId::from("g3"),
                    &(0..5).map(|p| tp("t1", p)).collect::<Vec<_>>(),
                    false,
                );
                let offs: Vec<Option<i64>> = got
                    .into_iter()
                    .map(|r| r.unwrap().map(|c| c.offset.0))
                    .collect();
                assert!(offs.windows(2).all(|w| w[0] == w[1]), "torn batch {offs:?}");
            }
        });
    });
    for g in 0..10 {
        let group = GroupId::from(format!("g{g}"));
        for t in 0..threads {
            for p in 0..5 {
                assert_eq!(offset_of(&s, &group, &format!("t{t}"), p), Some(rounds - 1));
            }
        }
    }
    let total: i64 = (0..8).map(|p| log.end_offset(p).unwrap()).sum();
    assert_eq!(
        total,
        threads * rounds * 10 * 5,
        "every commit reached the log"
    );
    assert_replay_matches(&log, &s);
}

#[test]
fn a_negative_state_timestamp_is_stored_as_none_as_a_replay_reads_it() {
    let (log, s) = store(3);
    let g = GroupId::from("g");
    s.store_group_metadata(&g, members_metadata(&[], Some(-5)), Timestamp(1))
        .unwrap();
    assert_eq!(s.group_metadata(&g).unwrap().current_state_timestamp, None);
    assert_replay_matches(&log, &s);
}

#[test]
fn a_producer_epoch_older_than_one_already_seen_is_fenced_even_after_its_marker() {
    let (log, s) = store(3);
    let g = GroupId::from("g");
    let p = s.partition_of(&g);
    let old = Producer { id: 9, epoch: 0 };
    let new = Producer { id: 9, epoch: 1 };
    let with = |producer| CommitOptions {
        retention_ms: None,
        producer: Some(producer),
    };
    s.commit_with(&g, &[commit("t", 0, 5)], with(old), Timestamp(1))
        .unwrap();
    // The producer restarts: the abort marker carries the new epoch and ends the old work.
    s.write_txn_marker(p, new, TxnOutcome::Abort, 0, Timestamp(2))
        .unwrap();
    assert_eq!(offset_of(&s, &g, "t", 0), None);
    // A write of the old epoch still on its way arrives afterwards: refused, nothing pending.
    let codes = s
        .commit_with(&g, &[commit("t", 0, 7)], with(old), Timestamp(3))
        .unwrap();
    assert_eq!(codes, [ErrorCode::ProducerFenced]);
    assert!(
        s.fetch(&g, &[tp("t", 0)], true)[0].is_ok(),
        "nothing pending"
    );
    // The new epoch commits normally, and a replayed store fences the old epoch too.
    s.commit_with(&g, &[commit("t", 0, 8)], with(new), Timestamp(4))
        .unwrap();
    s.write_txn_marker(p, new, TxnOutcome::Commit, 0, Timestamp(5))
        .unwrap();
    assert_eq!(offset_of(&s, &g, "t", 0), Some(8));
    let r = replayed(&log);
    let codes = r
        .commit_with(&g, &[commit("t", 0, 1)], with(old), Timestamp(6))
        .unwrap();
    assert_eq!(codes, [ErrorCode::ProducerFenced]);
    assert_eq!(offset_of(&r, &g, "t", 0), Some(8));
}
