//! The offsets-log record codec: every record type round-trips, and no bytes make it panic.

use consumer_groups::log::codec::{
    GroupMetadataValue, MemberMetadata, OffsetCommitValue, OffsetsKey,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn key() -> impl Strategy<Value = OffsetsKey> {
    prop_oneof![
        (name(), name(), any::<i32>()).prop_map(|(group, topic, partition)| {
            OffsetsKey::OffsetCommit {
                group,
                topic,
                partition,
            }
        }),
        name().prop_map(|group| OffsetsKey::GroupMetadata { group }),
    ]
}

fn commit() -> impl Strategy<Value = OffsetCommitValue> {
    (
        any::<i64>(),
        proptest::option::of(0..i32::MAX),
        name(),
        any::<i64>(),
        proptest::option::of(any::<i64>()),
    )
        .prop_map(
            |(offset, epoch, metadata, commit_timestamp, expire_timestamp)| {
                OffsetCommitValue {
                    offset,
                    // Version 1, written when an expire timestamp is set, has no leader epoch.
                    leader_epoch: if expire_timestamp.is_some() {
                        None
                    } else {
                        epoch
                    },
                    metadata,
                    commit_timestamp,
                    expire_timestamp,
                }
            },
        )
}

fn member() -> impl Strategy<Value = MemberMetadata> {
    (
        name(),
        proptest::option::of(name()),
        name(),
        name(),
        any::<i32>(),
        any::<i32>(),
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(
            |(
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance,
                session,
                subscription,
                assignment,
            )| {
                MemberMetadata {
                    member_id,
                    group_instance_id,
                    client_id,
                    client_host,
                    rebalance_timeout_ms: rebalance,
                    session_timeout_ms: session,
                    subscription,
                    assignment,
                }
            },
        )
}

fn group() -> impl Strategy<Value = GroupMetadataValue> {
    (
        name(),
        any::<i32>(),
        proptest::option::of(name()),
        proptest::option::of(name()),
        proptest::option::of(0..i64::MAX),
        proptest::collection::vec(member(), 0..5),
    )
        .prop_map(
            |(protocol_type, generation, protocol, leader, ts, members)| GroupMetadataValue {
                protocol_type,
                generation,
                protocol,
                leader,
                current_state_timestamp: ts,
                members,
            },
        )
}

proptest! {
    #[test]
    fn keys_round_trip(k in key()) {
        prop_assert_eq!(OffsetsKey::decode(&k.encode().unwrap()).unwrap(), k);
    }

    #[test]
    fn offset_commit_values_round_trip(v in commit()) {
        prop_assert_eq!(OffsetCommitValue::decode(&v.encode().unwrap()).unwrap(), v);
    }

    #[test]
    fn group_metadata_values_round_trip(v in group()) {
        prop_assert_eq!(GroupMetadataValue::decode(&v.encode().unwrap()).unwrap(), v);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = OffsetsKey::decode(&bytes);
        let _ = OffsetCommitValue::decode(&bytes);
        let _ = GroupMetadataValue::decode(&bytes);
    }

    #[test]
    fn every_truncation_of_a_valid_record_is_an_error(v in group(), k in key()) {
        let bytes = v.encode().unwrap();
        for cut in 0..bytes.len() {
            prop_assert!(GroupMetadataValue::decode(&bytes[..cut]).is_err());
        }
        let bytes = k.encode().unwrap();
        for cut in 0..bytes.len() {
            prop_assert!(OffsetsKey::decode(&bytes[..cut]).is_err());
        }
    }
}
