//! The byte-format fuzz targets: the offsets-log record codec and the consumer protocol. Each
//! takes arbitrary bytes, panics on a bug, and returns whether it accepted the input; each has
//! seed inputs, valid ones, to mutate from.
//!
//! `tests/fuzz.rs` runs them under a time budget, and the cargo-fuzz targets in `fuzz/` run
//! the same functions for as long as a developer likes.

use consumer_groups::log::TxnOutcome;
use consumer_groups::log::codec::{
    EndTxnMarker, GroupMetadataValue, MemberMetadata, OffsetCommitValue, OffsetCommitValueRef,
    OffsetsKey, OffsetsKeyRef,
};
use consumer_groups::protocol::consumer::{
    Assignment, ProtocolError, Subscription, SubscriptionRef, TopicPartitions,
};

use super::fuzz::allocated_bytes;

/// The most a decoder may ask the allocator for, in all, for `len` input bytes: invariant 6,
/// no input costs more than a small multiple of its own size.
fn cost_bound(len: usize) -> usize {
    32 * len + 4096
}

/// Runs `f`, asserting that it allocates no more than [`cost_bound`] of `len`.
fn bounded<T>(what: &str, len: usize, f: impl FnOnce() -> T) -> T {
    let before = allocated_bytes();
    let out = f();
    let cost = allocated_bytes() - before;
    assert!(
        cost <= cost_bound(len),
        "{what} of {len} bytes allocated {cost} bytes"
    );
    out
}

/// The offsets-log record codec: every decoder, on the same bytes. Whatever decodes encodes
/// again to bytes that decode to the same value (to the same bytes, where the version read
/// is the one written), the borrowed and owned decoders agree, and no decode costs more than
/// a small multiple of the input.
pub fn log_codec(data: &[u8]) -> bool {
    let version = data.get(..2).map(|v| i16::from_be_bytes([v[0], v[1]]));
    let mut accepted = false;

    let key = bounded("OffsetsKey::decode", data.len(), || {
        OffsetsKey::decode(data)
    });
    let key_ref = OffsetsKeyRef::decode(data);
    match (&key, &key_ref) {
        (Ok(k), Ok(r)) => assert_eq!(k.as_ref(), *r),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("owned and borrowed key decoders disagree: {key:?} vs {key_ref:?}"),
    }
    if let Ok(k) = key {
        accepted = true;
        let bytes = k.encode().expect("a decoded key encodes");
        assert_eq!(OffsetsKey::decode(&bytes).as_ref(), Ok(&k));
        // Versions 1 and 2 are what the encoder writes: the bytes come back unchanged.
        if matches!(version, Some(1 | 2)) {
            assert_eq!(bytes, data);
        }
        let mut appended = vec![0xaa];
        k.as_ref().encode_into(&mut appended).unwrap();
        assert_eq!(appended[1..], bytes[..]);
    }

    let value = bounded("OffsetCommitValue::decode", data.len(), || {
        OffsetCommitValue::decode(data)
    });
    let value_ref = OffsetCommitValueRef::decode(data);
    match (&value, &value_ref) {
        (Ok(v), Ok(r)) => assert_eq!(v.as_ref(), *r),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("owned and borrowed value decoders disagree: {value:?} vs {value_ref:?}"),
    }
    if let Ok(v) = value {
        accepted = true;
        assert!(v.leader_epoch.is_none_or(|e| e >= 0));
        let bytes = v.encode().expect("a decoded value encodes");
        assert_eq!(OffsetCommitValue::decode(&bytes).as_ref(), Ok(&v));
        // Version 1 comes back unchanged, and version 3 unless its leader epoch was a
        // negative other than -1 (read as none, written as -1).
        let epoch = data
            .get(10..14)
            .map(|e| i32::from_be_bytes([e[0], e[1], e[2], e[3]]));
        if version == Some(1) || (version == Some(3) && epoch.is_some_and(|e| e >= -1)) {
            assert_eq!(bytes, data);
        }
        let mut appended = vec![0xaa];
        v.as_ref().encode_into(&mut appended).unwrap();
        assert_eq!(appended[1..], bytes[..]);
    }

    let group = bounded("GroupMetadataValue::decode", data.len(), || {
        GroupMetadataValue::decode(data)
    });
    if let Ok(g) = group {
        accepted = true;
        assert!(g.current_state_timestamp.is_none_or(|t| t >= 0));
        let bytes = g.encode().expect("a decoded group encodes");
        assert_eq!(GroupMetadataValue::decode(&bytes).as_ref(), Ok(&g));
        if version == Some(3) && group_state_timestamp(data).is_some_and(|t| t >= -1) {
            assert_eq!(bytes, data);
        }
    }

    let split = data.len().min(4);
    if let Ok(m) = EndTxnMarker::decode(&data[..split], &data[split..]) {
        accepted = true;
        assert_eq!(m.key_bytes()[..], data[..split]);
        assert_eq!(m.value_bytes()[..], data[split..]);
    }
    accepted
}

/// The `current_state_timestamp` of a version-2+ group metadata value: after the version,
/// the protocol type, the generation, the protocol and the leader.
fn group_state_timestamp(data: &[u8]) -> Option<i64> {
    let mut at = 2;
    let string = |at: &mut usize, nullable: bool| -> Option<()> {
        let n = i16::from_be_bytes(data.get(*at..*at + 2)?.try_into().ok()?);
        *at += 2;
        if n == -1 && nullable {
            return Some(());
        }
        *at += usize::try_from(n).ok()?;
        Some(())
    };
    string(&mut at, false)?;
    at += 4;
    string(&mut at, true)?;
    string(&mut at, true)?;
    Some(i64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

/// Seed inputs for [`log_codec`]: every key and value version the decoders read.
pub fn log_codec_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let commit_key = OffsetsKey::OffsetCommit {
        group: "billing".into(),
        topic: "orders".into(),
        partition: 3,
    }
    .encode()
    .unwrap();
    let mut key_v0 = commit_key.clone();
    key_v0[1] = 0;
    seeds.push(("key-commit-v1".into(), commit_key));
    seeds.push(("key-commit-v0".into(), key_v0));
    seeds.push((
        "key-group-v2".into(),
        OffsetsKey::GroupMetadata {
            group: "billing".into(),
        }
        .encode()
        .unwrap(),
    ));
    let v3 = OffsetCommitValue {
        offset: 501,
        leader_epoch: Some(7),
        metadata: "meta".into(),
        commit_timestamp: 1_700_000_000_000,
        expire_timestamp: None,
    };
    let v1 = OffsetCommitValue {
        leader_epoch: None,
        expire_timestamp: Some(1_700_000_600_000),
        ..v3.clone()
    };
    seeds.push(("value-commit-v3".into(), v3.encode().unwrap()));
    seeds.push(("value-commit-v1".into(), v1.encode().unwrap()));
    // Versions 0 and 2: version, offset, metadata, commit timestamp.
    for version in [0u8, 2] {
        let mut b = vec![0, version];
        b.extend_from_slice(&42i64.to_be_bytes());
        b.extend_from_slice(&[0, 1, b'm']);
        b.extend_from_slice(&7i64.to_be_bytes());
        seeds.push((format!("value-commit-v{version}"), b));
    }
    let group = sample_group_metadata(2, 1_700_000_000_000);
    let bytes = group.encode().unwrap();
    seeds.push(("value-group-v3".into(), bytes));
    seeds.push((
        "value-group-v3-empty".into(),
        sample_group_metadata(0, -1).encode().unwrap(),
    ));
    for version in 0..3 {
        seeds.push((
            format!("value-group-v{version}"),
            group_metadata_old_version(&group, version),
        ));
    }
    let commit = EndTxnMarker {
        outcome: TxnOutcome::Commit,
        coordinator_epoch: 5,
    };
    let abort = EndTxnMarker {
        outcome: TxnOutcome::Abort,
        coordinator_epoch: 0,
    };
    for (name, m) in [("marker-commit", commit), ("marker-abort", abort)] {
        seeds.push((
            name.into(),
            [&m.key_bytes()[..], &m.value_bytes()[..]].concat(),
        ));
    }
    seeds
}

/// A consumer group's metadata with `members` members.
pub fn sample_group_metadata(members: usize, timestamp: i64) -> GroupMetadataValue {
    let members: Vec<MemberMetadata> = (0..members)
        .map(|i| MemberMetadata {
            member_id: format!("member-{i}"),
            group_instance_id: (i % 2 == 0).then(|| format!("instance-{i}")),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 30_000,
            session_timeout_ms: 10_000,
            subscription: Subscription::new(["orders", "payments"]).encode(1).unwrap(),
            assignment: Assignment {
                partitions: vec![TopicPartitions::new("orders", [i as i32])],
                user_data: None,
            }
            .encode(0)
            .unwrap(),
        })
        .collect();
    GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 4,
        protocol: (!members.is_empty()).then(|| "range".into()),
        leader: members.first().map(|m| m.member_id.clone()),
        current_state_timestamp: (timestamp >= 0).then_some(timestamp),
        members,
    }
}

/// `g` in group-metadata value version 0, 1 or 2 (Kafka's older layouts: no instance id
/// before 3, no state timestamp before 2, no rebalance timeout before 1).
fn group_metadata_old_version(g: &GroupMetadataValue, version: i16) -> Vec<u8> {
    fn string(b: &mut Vec<u8>, s: Option<&str>) {
        match s {
            Some(s) => {
                b.extend_from_slice(&(s.len() as i16).to_be_bytes());
                b.extend_from_slice(s.as_bytes());
            }
            None => b.extend_from_slice(&(-1i16).to_be_bytes()),
        }
    }
    let mut b = version.to_be_bytes().to_vec();
    string(&mut b, Some(&g.protocol_type));
    b.extend_from_slice(&g.generation.to_be_bytes());
    string(&mut b, g.protocol.as_deref());
    string(&mut b, g.leader.as_deref());
    if version >= 2 {
        b.extend_from_slice(&g.current_state_timestamp.unwrap_or(-1).to_be_bytes());
    }
    b.extend_from_slice(&(g.members.len() as i32).to_be_bytes());
    for m in &g.members {
        string(&mut b, Some(&m.member_id));
        string(&mut b, Some(&m.client_id));
        string(&mut b, Some(&m.client_host));
        if version >= 1 {
            b.extend_from_slice(&m.rebalance_timeout_ms.to_be_bytes());
        }
        b.extend_from_slice(&m.session_timeout_ms.to_be_bytes());
        for bytes in [&m.subscription, &m.assignment] {
            b.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            b.extend_from_slice(bytes);
        }
    }
    b
}

/// The consumer protocol: [`Subscription`] and [`Assignment`] decode the same bytes. The
/// borrowed [`SubscriptionRef`] agrees with the owned decoder, error for error; whatever
/// decodes encodes again (at the version read, or 3 for newer ones) to bytes that decode to
/// the same value, and to the same bytes for versions 0–3.
pub fn consumer_protocol(data: &[u8]) -> bool {
    let mut accepted = false;
    let owned = bounded("Subscription::decode", data.len(), || {
        Subscription::decode(data)
    });
    let borrowed = bounded("SubscriptionRef::decode", data.len(), || {
        SubscriptionRef::decode(data)
    });
    match (&owned, &borrowed) {
        (Ok((v, s)), Ok((w, r))) => {
            assert_eq!(v, w);
            assert_eq!(r.to_subscription(), *s);
            assert_eq!(r.topics().len(), s.topics.len());
            assert_eq!(r.owned_partitions().len(), s.owned_partitions.len());
            for ((topic, partitions), tp) in r.owned_partitions().zip(&s.owned_partitions) {
                assert_eq!(topic, tp.topic);
                assert_eq!(partitions.len(), tp.partitions.len());
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("Subscription and SubscriptionRef disagree: {owned:?} vs {borrowed:?}"),
    }
    if let Ok((version, s)) = owned {
        accepted = true;
        assert!(version >= 0);
        let at = version.min(3);
        let bytes = s.encode(at).expect("a decoded subscription encodes");
        assert_eq!(Subscription::decode(&bytes), Ok((at, s.clone())));
        if version <= 3 {
            assert_eq!(bytes, data);
        }
        // Every older version keeps what it has and drops the rest.
        for older in 0..at {
            let (v, t) = Subscription::decode(&s.encode(older).unwrap()).unwrap();
            assert_eq!(v, older);
            assert_eq!((&t.topics, &t.user_data), (&s.topics, &s.user_data));
        }
    }

    let assignment = bounded("Assignment::decode", data.len(), || {
        Assignment::decode(data)
    });
    if let Ok((version, a)) = assignment {
        accepted = true;
        let at = version.min(3);
        let bytes = a.encode(at).expect("a decoded assignment encodes");
        assert_eq!(Assignment::decode(&bytes), Ok((at, a.clone())));
        if version <= 3 {
            assert_eq!(bytes, data);
        }
        let direct = Assignment::encode_topics(
            at,
            a.partitions
                .iter()
                .map(|tp| (tp.topic.as_str(), tp.partitions.iter().copied())),
            a.user_data.as_deref(),
        );
        assert_eq!(direct.as_ref(), Ok(&bytes));
    } else if let Err(e) = assignment {
        assert!(!matches!(e, ProtocolError::TooLarge { .. }), "{e:?}");
    }
    accepted
}

/// Seed inputs for [`consumer_protocol`]: subscriptions and assignments of every version.
pub fn consumer_protocol_seeds() -> Vec<(String, Vec<u8>)> {
    let subscription = Subscription {
        topics: vec!["orders".into(), "payments".into()],
        user_data: Some(vec![0, 1, 2]),
        owned_partitions: vec![
            TopicPartitions::new("orders", [0, 2]),
            TopicPartitions::new("payments", [1]),
        ],
        generation: 4,
        rack: Some("rack-a".into()),
    };
    let assignment = Assignment {
        partitions: vec![
            TopicPartitions::new("orders", [0, 1, 2]),
            TopicPartitions::new("payments", []),
        ],
        user_data: Some(b"sticky".to_vec()),
    };
    let mut seeds = Vec::new();
    for version in 0..=3 {
        seeds.push((
            format!("subscription-v{version}"),
            subscription.encode(version).unwrap(),
        ));
        seeds.push((
            format!("assignment-v{version}"),
            assignment.encode(version).unwrap(),
        ));
    }
    // A newer version with a field this decoder does not know yet.
    let mut v4 = subscription.encode(3).unwrap();
    v4[1] = 4;
    v4.extend_from_slice(&[0, 0, 0, 9]);
    seeds.push(("subscription-v4".into(), v4));
    seeds.push((
        "subscription-empty".into(),
        Subscription::default().encode(0).unwrap(),
    ));
    seeds.push((
        "assignment-empty".into(),
        Assignment::default().encode(0).unwrap(),
    ));
    seeds
}
