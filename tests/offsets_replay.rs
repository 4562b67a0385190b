//! Invariant 4: replaying the offsets log rebuilds exactly the state that wrote it, whatever
//! sequence of commits, transactional commits and markers, deletes, metadata writes, expiry,
//! compaction and coordinator takeovers came before.

use std::sync::Arc;

use consumer_groups::log::codec::{GroupMetadataValue, MemberMetadata};
use consumer_groups::log::{Log, MemoryLog, Producer, TxnOutcome};
use consumer_groups::offsets::{
    CommitOptions, LogOffsetStore, OffsetCommit, OffsetStore, OffsetStoreConfig,
};
use consumer_groups::protocol::consumer::Subscription;
use consumer_groups::{GroupId, Offset, Timestamp, TopicPartition};
use proptest::prelude::*;

const PARTITIONS: u32 = 3;
const TOPICS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Op {
    Commit {
        group: u8,
        items: Vec<(u8, i32, i64, u8, Option<i32>)>,
        retention: Option<u64>,
        producer: Option<(i64, i16)>,
    },
    Marker {
        partition: u32,
        producer: i64,
        commit: bool,
    },
    DeleteOffsets {
        group: u8,
        partitions: Vec<(u8, i32)>,
    },
    DeleteGroup {
        group: u8,
    },
    Metadata {
        group: u8,
        topics: Vec<u8>,
    },
    Expire,
    Compact {
        partition: u32,
        retention: u64,
    },
    /// A new coordinator takes over: the live store is replaced by a replayed one.
    Takeover,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (
            0u8..5,
            prop::collection::vec(
                (0u8..3, 0i32..6, -3i64..1_000, 0u8..3, prop::option::of(-2i32..5)),
                1..8
            ),
            prop::option::weighted(0.15, 0u64..5_000),
            prop::option::weighted(0.3, (1i64..4, 0i16..3)),
        )
            .prop_map(|(group, items, retention, producer)| Op::Commit {
                group,
                items,
                retention,
                producer
            }),
        2 => (0..PARTITIONS, 1i64..4, any::<bool>()).prop_map(|(partition, producer, commit)| {
            Op::Marker { partition, producer, commit }
        }),
        1 => (0u8..5, prop::collection::vec((0u8..3, 0i32..6), 0..4))
            .prop_map(|(group, partitions)| Op::DeleteOffsets { group, partitions }),
        1 => (0u8..5).prop_map(|group| Op::DeleteGroup { group }),
        1 => (0u8..5, prop::collection::vec(0u8..3, 0..3))
            .prop_map(|(group, topics)| Op::Metadata { group, topics }),
        1 => Just(Op::Expire),
        1 => (0..PARTITIONS, 0u64..3_000)
            .prop_map(|(partition, retention)| Op::Compact { partition, retention }),
        1 => Just(Op::Takeover),
    ]
}

fn group(g: u8) -> GroupId {
    GroupId::from(format!("g{g}"))
}

fn metadata(topics: &[u8], now: u64) -> GroupMetadataValue {
    let members: Vec<MemberMetadata> = if topics.is_empty() {
        Vec::new()
    } else {
        vec![MemberMetadata {
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout_ms: 1,
            session_timeout_ms: 1,
            subscription: Subscription::new(topics.iter().map(|&t| TOPICS[t as usize]))
                .encode(0)
                .unwrap(),
            assignment: vec![1, 2, 3],
        }]
    };
    GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 1,
        protocol: Some("range".into()),
        leader: members.first().map(|m| m.member_id.clone()),
        current_state_timestamp: Some(now as i64),
        members,
    }
}

fn config() -> OffsetStoreConfig {
    OffsetStoreConfig {
        max_metadata_bytes: 1,
        retention_ms: 2_000,
    }
}

fn replay(log: &Arc<MemoryLog>) -> LogOffsetStore {
    let s = LogOffsetStore::with_config(log.clone(), config());
    s.load_all().unwrap();
    s
}

fn check(log: &Arc<MemoryLog>, live: &LogOffsetStore) -> Result<(), TestCaseError> {
    let again = replay(log);
    for p in 0..PARTITIONS {
        prop_assert_eq!(again.snapshot(p).unwrap(), live.snapshot(p).unwrap());
    }
    prop_assert_eq!(again.list_groups(), live.list_groups());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn replay_rebuilds_the_state_that_wrote_the_log(ops in prop::collection::vec(op(), 1..60)) {
        let log = Arc::new(MemoryLog::new(PARTITIONS));
        let mut live = LogOffsetStore::with_config(log.clone(), config());
        let mut now = 0u64;
        for op in ops {
            now += 137;
            match op {
                Op::Commit { group: g, items, retention, producer } => {
                    let commits: Vec<OffsetCommit> = items
                        .iter()
                        .map(|&(t, p, o, m, e)| OffsetCommit {
                            partition: TopicPartition::new(TOPICS[t as usize], p),
                            offset: Offset(o),
                            leader_epoch: e,
                            // "bb" is over the 1-byte limit: that commit fails alone.
                            metadata: ["", "a", "bb"][m as usize].to_string(),
                        })
                        .collect();
                    let options = CommitOptions {
                        retention_ms: retention,
                        producer: producer.map(|(id, epoch)| Producer { id, epoch }),
                    };
                    live.commit_with(&group(g), &commits, options, Timestamp(now)).unwrap();
                }
                Op::Marker { partition, producer, commit } => {
                    let outcome = if commit { TxnOutcome::Commit } else { TxnOutcome::Abort };
                    live.write_txn_marker(
                        partition,
                        Producer { id: producer, epoch: 0 },
                        outcome,
                        0,
                        Timestamp(now),
                    )
                    .unwrap();
                }
                Op::DeleteOffsets { group: g, partitions } => {
                    let tps: Vec<TopicPartition> = partitions
                        .iter()
                        .map(|&(t, p)| TopicPartition::new(TOPICS[t as usize], p))
                        .collect();
                    live.delete_offsets(&group(g), &tps, Timestamp(now)).unwrap();
                }
                Op::DeleteGroup { group: g } => {
                    live.delete_group(&group(g), Timestamp(now)).unwrap();
                }
                Op::Metadata { group: g, topics } => {
                    live.store_group_metadata(&group(g), metadata(&topics, now), Timestamp(now))
                        .unwrap();
                }
                Op::Expire => {
                    live.expire_offsets(Timestamp(now)).unwrap();
                }
                Op::Compact { partition, retention } => {
                    log.compact(partition, Timestamp(now), retention).unwrap();
                    check(&log, &live)?;
                }
                Op::Takeover => {
                    check(&log, &live)?;
                    live = replay(&log);
                }
            }
        }
        check(&log, &live)?;
        // Compacting everything at the end changes nothing a replay sees either.
        for p in 0..PARTITIONS {
            log.compact(p, Timestamp(now), 0).unwrap();
        }
        check(&log, &live)?;
    }
}
