//! The consumer-protocol byte format against hand-derived Kafka bytes, and its decoders against
//! hostile input.
//!
//! The expected byte vectors are derived by hand from Kafka's `ConsumerProtocolSubscription` and
//! `ConsumerProtocolAssignment` schemas (non-flexible): an `i16` version, then each field the
//! version has, in schema order. `i16`/`i32` are big-endian, a string is an `i16` length and its
//! UTF-8 bytes (`ff ff` for null), bytes are an `i32` length and the bytes (`ff ff ff ff` for
//! null), and an array is an `i32` count followed by its elements.

use consumer_groups::protocol::consumer::{
    ASSIGNMENT_MAX_VERSION, Assignment, CONSUMER_PROTOCOL_TYPE, ProtocolError,
    SUBSCRIPTION_MAX_VERSION, Subscription, SubscriptionRef, TopicPartitions,
};
use proptest::prelude::*;

/// Concatenates byte pieces, so the expected vectors can be laid out field by field.
fn cat(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.concat()
}

#[test]
fn protocol_type_and_max_versions() {
    assert_eq!(CONSUMER_PROTOCOL_TYPE, "consumer");
    assert_eq!(SUBSCRIPTION_MAX_VERSION, 3);
    assert_eq!(ASSIGNMENT_MAX_VERSION, 3);
}

#[test]
fn subscription_v0_bytes() {
    let subscription = Subscription::new(["orders", "payments"]);
    let expected = cat(&[
        &[0x00, 0x00],             // version 0
        &[0x00, 0x00, 0x00, 0x02], // topics: 2 strings
        &[0x00, 0x06],             //   "orders": length 6
        b"orders",
        &[0x00, 0x08], //   "payments": length 8
        b"payments",
        &[0xff, 0xff, 0xff, 0xff], // user_data: null
    ]);
    assert_eq!(expected.len(), 2 + 4 + 8 + 10 + 4);
    assert_eq!(subscription.encode(0).unwrap(), expected);
    assert_eq!(Subscription::decode(&expected).unwrap(), (0, subscription));
}

#[test]
fn subscription_v1_bytes_with_owned_partitions() {
    let subscription = Subscription {
        topics: vec!["t".into()],
        user_data: Some(vec![0xca, 0xfe]),
        owned_partitions: vec![
            TopicPartitions::new("t", [0, 2]),
            TopicPartitions::new("u", []),
        ],
        ..Subscription::default()
    };
    let expected = cat(&[
        &[0x00, 0x01],             // version 1
        &[0x00, 0x00, 0x00, 0x01], // topics: 1 string
        &[0x00, 0x01, b't'],       //   "t"
        &[0x00, 0x00, 0x00, 0x02], // user_data: 2 bytes
        &[0xca, 0xfe],
        &[0x00, 0x00, 0x00, 0x02], // owned_partitions: 2 entries
        &[0x00, 0x01, b't'],       //   topic "t"
        &[0x00, 0x00, 0x00, 0x02], //   partitions: 2 i32s
        &[0x00, 0x00, 0x00, 0x00], //     0
        &[0x00, 0x00, 0x00, 0x02], //     2
        &[0x00, 0x01, b'u'],       //   topic "u"
        &[0x00, 0x00, 0x00, 0x00], //   partitions: empty
    ]);
    assert_eq!(subscription.encode(1).unwrap(), expected);
    assert_eq!(Subscription::decode(&expected).unwrap(), (1, subscription));
}

#[test]
fn subscription_v2_bytes_with_generation() {
    let subscription = Subscription {
        topics: vec![],
        generation: 258,
        ..Subscription::default()
    };
    let expected = cat(&[
        &[0x00, 0x02],             // version 2
        &[0x00, 0x00, 0x00, 0x00], // topics: empty
        &[0xff, 0xff, 0xff, 0xff], // user_data: null
        &[0x00, 0x00, 0x00, 0x00], // owned_partitions: empty
        &[0x00, 0x00, 0x01, 0x02], // generation_id: 258
    ]);
    assert_eq!(subscription.encode(2).unwrap(), expected);
    assert_eq!(Subscription::decode(&expected).unwrap(), (2, subscription));
}

#[test]
fn subscription_v3_bytes_with_rack() {
    let subscription = Subscription {
        topics: vec!["t".into()],
        user_data: Some(vec![]),
        owned_partitions: vec![TopicPartitions::new("t", [7])],
        generation: 7,
        rack: Some("r1".into()),
    };
    let expected = cat(&[
        &[0x00, 0x03],             // version 3
        &[0x00, 0x00, 0x00, 0x01], // topics: 1 string
        &[0x00, 0x01, b't'],       //   "t"
        &[0x00, 0x00, 0x00, 0x00], // user_data: empty, not null
        &[0x00, 0x00, 0x00, 0x01], // owned_partitions: 1 entry
        &[0x00, 0x01, b't'],       //   topic "t"
        &[0x00, 0x00, 0x00, 0x01], //   partitions: 1 i32
        &[0x00, 0x00, 0x00, 0x07], //     7
        &[0x00, 0x00, 0x00, 0x07], // generation_id: 7
        &[0x00, 0x02, b'r', b'1'], // rack_id: "r1"
    ]);
    assert_eq!(subscription.encode(3).unwrap(), expected);
    assert_eq!(Subscription::decode(&expected).unwrap(), (3, subscription));

    // A null rack is an i16 -1.
    let no_rack = Subscription::new(["t"]);
    let bytes = no_rack.encode(3).unwrap();
    assert_eq!(bytes[bytes.len() - 2..], [0xff, 0xff]);
    assert_eq!(Subscription::decode(&bytes).unwrap(), (3, no_rack));
}

#[test]
fn assignment_bytes_same_layout_for_every_version() {
    let assignment = Assignment {
        partitions: vec![
            TopicPartitions::new("orders", [0, 1]),
            TopicPartitions::new("t", [-1]),
        ],
        user_data: Some(vec![0x01]),
    };
    let body = cat(&[
        &[0x00, 0x00, 0x00, 0x02], // assigned_partitions: 2 entries
        &[0x00, 0x06],             //   topic "orders"
        b"orders",
        &[0x00, 0x00, 0x00, 0x02], //   partitions: 2 i32s
        &[0x00, 0x00, 0x00, 0x00], //     0
        &[0x00, 0x00, 0x00, 0x01], //     1
        &[0x00, 0x01, b't'],       //   topic "t"
        &[0x00, 0x00, 0x00, 0x01], //   partitions: 1 i32
        &[0xff, 0xff, 0xff, 0xff], //     -1 (written as is; validity is not the codec's concern)
        &[0x00, 0x00, 0x00, 0x01], // user_data: 1 byte
        &[0x01],
    ]);
    for version in 0..=3i16 {
        let expected = cat(&[&version.to_be_bytes(), &body]);
        assert_eq!(assignment.encode(version).unwrap(), expected, "v{version}");
        assert_eq!(
            Assignment::decode(&expected).unwrap(),
            (version, assignment.clone())
        );
    }

    // An empty assignment with null user data.
    let empty = Assignment::default();
    let expected = [0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(empty.encode(0).unwrap(), expected);
    assert_eq!(Assignment::decode(&expected).unwrap(), (0, empty));
}

#[test]
fn version_5_subscription_decodes_its_v3_fields_and_ignores_the_rest() {
    let v3 = Subscription {
        topics: vec!["t".into()],
        user_data: None,
        owned_partitions: vec![TopicPartitions::new("t", [1])],
        generation: 9,
        rack: Some("az".into()),
    };
    let mut bytes = v3.encode(3).unwrap();
    bytes[..2].copy_from_slice(&5i16.to_be_bytes());
    // Whatever version 5 appended: here, something that is not even a valid v3 field.
    bytes.extend_from_slice(&[0xff, 0x00, 0x12, 0x34, 0x56]);
    assert_eq!(Subscription::decode(&bytes).unwrap(), (5, v3.clone()));

    // And with nothing appended.
    let mut bytes = v3.encode(3).unwrap();
    bytes[..2].copy_from_slice(&i16::MAX.to_be_bytes());
    assert_eq!(Subscription::decode(&bytes).unwrap(), (i16::MAX, v3));
}

#[test]
fn version_4_assignment_ignores_trailing_bytes() {
    let assignment = Assignment {
        partitions: vec![TopicPartitions::new("t", [3])],
        user_data: None,
    };
    let mut bytes = assignment.encode(3).unwrap();
    bytes[..2].copy_from_slice(&4i16.to_be_bytes());
    bytes.extend_from_slice(&[0; 9]);
    assert_eq!(Assignment::decode(&bytes).unwrap(), (4, assignment));
}

#[test]
fn trailing_bytes_at_known_versions_are_an_error() {
    for version in 0..=3 {
        let mut bytes = Subscription::new(["t"]).encode(version).unwrap();
        bytes.push(0);
        assert_eq!(
            Subscription::decode(&bytes),
            Err(ProtocolError::TrailingBytes {
                message: "subscription",
                version,
                count: 1
            })
        );
        let mut bytes = Assignment::default().encode(version).unwrap();
        bytes.extend_from_slice(&[0, 0]);
        assert_eq!(
            Assignment::decode(&bytes),
            Err(ProtocolError::TrailingBytes {
                message: "assignment",
                version,
                count: 2
            })
        );
    }
}

#[test]
fn negative_versions_are_refused() {
    let mut bytes = Subscription::new(["t"]).encode(0).unwrap();
    bytes[..2].copy_from_slice(&(-1i16).to_be_bytes());
    assert_eq!(
        Subscription::decode(&bytes),
        Err(ProtocolError::UnsupportedVersion {
            message: "subscription",
            version: -1
        })
    );
    let mut bytes = Assignment::default().encode(0).unwrap();
    bytes[..2].copy_from_slice(&i16::MIN.to_be_bytes());
    assert_eq!(
        Assignment::decode(&bytes),
        Err(ProtocolError::UnsupportedVersion {
            message: "assignment",
            version: i16::MIN
        })
    );
}

#[test]
fn encoding_an_unknown_version_is_refused() {
    for version in [-1, 4, i16::MAX, i16::MIN] {
        assert_eq!(
            Subscription::default().encode(version),
            Err(ProtocolError::UnsupportedVersion {
                message: "subscription",
                version
            })
        );
        assert_eq!(
            Assignment::default().encode(version),
            Err(ProtocolError::UnsupportedVersion {
                message: "assignment",
                version
            })
        );
    }
}

#[test]
fn strings_over_32767_bytes_are_refused() {
    let longest = "x".repeat(32_767);
    let too_long = "x".repeat(32_768);

    let ok = Subscription::new([longest.as_str()]);
    assert_eq!(Subscription::decode(&ok.encode(0).unwrap()).unwrap().1, ok);
    assert_eq!(
        Subscription::new([too_long.as_str()]).encode(0),
        Err(ProtocolError::TooLarge {
            field: "topics",
            len: 32_768
        })
    );

    let rack = Subscription {
        rack: Some(too_long.clone()),
        ..Subscription::default()
    };
    assert_eq!(
        rack.encode(3),
        Err(ProtocolError::TooLarge {
            field: "rack_id",
            len: 32_768
        })
    );
    // Version 2 has no rack, so the oversized rack is not written and not an error.
    assert!(rack.encode(2).is_ok());

    let owned = Subscription {
        owned_partitions: vec![TopicPartitions::new(too_long.clone(), [0])],
        ..Subscription::default()
    };
    assert!(matches!(
        owned.encode(1),
        Err(ProtocolError::TooLarge { field: "topic", .. })
    ));
    assert!(owned.encode(0).is_ok());

    let assignment = Assignment {
        partitions: vec![TopicPartitions::new(too_long, [0])],
        user_data: None,
    };
    assert!(matches!(
        assignment.encode(0),
        Err(ProtocolError::TooLarge { field: "topic", .. })
    ));
}

#[test]
fn fields_a_version_lacks_decode_to_defaults() {
    let full = Subscription {
        topics: vec!["a".into(), "b".into()],
        user_data: Some(vec![1, 2, 3]),
        owned_partitions: vec![TopicPartitions::new("a", [0])],
        generation: 12,
        rack: Some("rack".into()),
    };
    let (_, v0) = Subscription::decode(&full.encode(0).unwrap()).unwrap();
    assert_eq!(
        v0,
        Subscription {
            topics: full.topics.clone(),
            user_data: full.user_data.clone(),
            ..Subscription::default()
        }
    );
    let (_, v1) = Subscription::decode(&full.encode(1).unwrap()).unwrap();
    assert_eq!(
        (v1.owned_partitions.len(), v1.generation, v1.rack),
        (1, -1, None)
    );
    let (_, v2) = Subscription::decode(&full.encode(2).unwrap()).unwrap();
    assert_eq!((v2.generation, v2.rack), (12, None));
    assert_eq!(Subscription::default().generation, -1);
}

#[test]
fn empty_and_tiny_inputs_are_truncated() {
    for bytes in [&[][..], &[0][..]] {
        assert_eq!(
            Subscription::decode(bytes),
            Err(ProtocolError::Truncated {
                field: "version",
                needed: 2 - bytes.len()
            })
        );
        assert!(matches!(
            Assignment::decode(bytes),
            Err(ProtocolError::Truncated {
                field: "version",
                ..
            })
        ));
    }
}

#[test]
fn hostile_lengths_are_typed_errors() {
    // topics: a null (-1) array is not allowed, nor any other negative count.
    for count in [-1i32, -2, i32::MIN] {
        let bytes = cat(&[&[0, 0], &count.to_be_bytes()]);
        assert_eq!(
            Subscription::decode(&bytes),
            Err(ProtocolError::InvalidLength {
                field: "topics",
                length: count
            })
        );
    }
    // A count far beyond the bytes left is refused before anything is allocated.
    let bytes = cat(&[&[0, 0], &i32::MAX.to_be_bytes(), &[0, 0]]);
    assert!(matches!(
        Subscription::decode(&bytes),
        Err(ProtocolError::Truncated {
            field: "topics",
            ..
        })
    ));
    let bytes = cat(&[&[0, 0], &i32::MAX.to_be_bytes()]);
    assert!(matches!(
        Assignment::decode(&bytes),
        Err(ProtocolError::Truncated {
            field: "assigned_partitions",
            ..
        })
    ));
    // A null topic name.
    let bytes = cat(&[&[0, 0], &[0, 0, 0, 1], &[0xff, 0xff]]);
    assert_eq!(
        Subscription::decode(&bytes),
        Err(ProtocolError::InvalidLength {
            field: "topics",
            length: -1
        })
    );
    // A string longer than what is left.
    let bytes = cat(&[&[0, 0], &[0, 0, 0, 1], &[0x7f, 0xff], b"abc"]);
    assert_eq!(
        Subscription::decode(&bytes),
        Err(ProtocolError::Truncated {
            field: "topics",
            needed: 32_767 - 3
        })
    );
    // Invalid UTF-8 in a topic.
    let bytes = cat(&[&[0, 0], &[0, 0, 0, 1], &[0, 2, 0xc3, 0x28], &[0xff; 4]]);
    assert_eq!(
        Subscription::decode(&bytes),
        Err(ProtocolError::InvalidUtf8 { field: "topics" })
    );
    // user_data: -2 is not the null marker.
    let bytes = cat(&[&[0, 0], &[0, 0, 0, 0], &(-2i32).to_be_bytes()]);
    assert_eq!(
        Subscription::decode(&bytes),
        Err(ProtocolError::InvalidLength {
            field: "user_data",
            length: -2
        })
    );
    // user_data longer than what is left.
    let bytes = cat(&[&[0, 0], &[0, 0, 0, 0], &i32::MAX.to_be_bytes(), &[1, 2]]);
    assert!(matches!(
        Subscription::decode(&bytes),
        Err(ProtocolError::Truncated {
            field: "user_data",
            ..
        })
    ));
    // rack_id: -2 is not the null marker; invalid UTF-8.
    let prefix = cat(&[
        &[0, 3],
        &[0, 0, 0, 0],
        &[0xff; 4],
        &[0, 0, 0, 0],
        &[0, 0, 0, 1],
    ]);
    assert_eq!(
        Subscription::decode(&cat(&[&prefix, &[0xff, 0xfe]])),
        Err(ProtocolError::InvalidLength {
            field: "rack_id",
            length: -2
        })
    );
    assert_eq!(
        Subscription::decode(&cat(&[&prefix, &[0, 1, 0xff]])),
        Err(ProtocolError::InvalidUtf8 { field: "rack_id" })
    );
    // Partitions: a negative count inside an assignment.
    let bytes = cat(&[
        &[0, 0],
        &[0, 0, 0, 1],
        &[0, 1, b't'],
        &(-1i32).to_be_bytes(),
    ]);
    assert_eq!(
        Assignment::decode(&bytes),
        Err(ProtocolError::InvalidLength {
            field: "partitions",
            length: -1
        })
    );
}

#[test]
fn errors_display() {
    let e = ProtocolError::Truncated {
        field: "topics",
        needed: 3,
    };
    assert_eq!(
        e.to_string(),
        "truncated: at least 3 more bytes needed for topics"
    );
    let e = ProtocolError::UnsupportedVersion {
        message: "assignment",
        version: -1,
    };
    assert_eq!(e.to_string(), "unsupported assignment version -1");
}

/// The borrowed decoder's verdict, made owned so it compares with `Subscription::decode`'s.
fn decode_ref(bytes: &[u8]) -> Result<(i16, Subscription), ProtocolError> {
    SubscriptionRef::decode(bytes).map(|(v, s)| (v, s.to_subscription()))
}

/// An assignment encoded through `Assignment::encode_topics`, from its per-topic lists.
fn encode_topics(a: &Assignment, version: i16) -> Result<Vec<u8>, ProtocolError> {
    Assignment::encode_topics(
        version,
        a.partitions
            .iter()
            .map(|tp| (tp.topic.as_str(), tp.partitions.iter().copied())),
        a.user_data.as_deref(),
    )
}

#[test]
fn subscription_ref_reads_every_field_in_place() {
    let subscription = Subscription {
        topics: vec!["t".into(), "ü".into()],
        user_data: Some(vec![0xca, 0xfe]),
        owned_partitions: vec![
            TopicPartitions::new("t", [0, 2]),
            TopicPartitions::new("u", []),
        ],
        generation: 9,
        rack: Some("r1".into()),
    };
    let bytes = subscription.encode(3).unwrap();
    let (version, s) = SubscriptionRef::decode(&bytes).unwrap();
    assert_eq!(version, 3);
    let topics = s.topics();
    assert_eq!(topics.len(), 2);
    assert_eq!(topics.collect::<Vec<_>>(), ["t", "ü"]);
    assert_eq!(s.user_data(), Some(&[0xca, 0xfe][..]));
    let owned: Vec<(&str, Vec<i32>)> = s
        .owned_partitions()
        .map(|(t, ps)| {
            assert_eq!(ps.len(), ps.clone().count());
            (t, ps.collect())
        })
        .collect();
    assert_eq!(owned, [("t", vec![0, 2]), ("u", vec![])]);
    assert_eq!((s.generation(), s.rack()), (9, Some("r1")));
    assert_eq!(s.to_subscription(), subscription);
    // Every topic name borrows from the bytes.
    let range = bytes.as_ptr_range();
    assert!(s.topics().all(|t| range.contains(&t.as_ptr())));
}

#[test]
fn subscription_ref_fields_a_version_lacks_are_defaults() {
    let subscription = Subscription {
        topics: vec!["t".into()],
        user_data: None,
        owned_partitions: vec![TopicPartitions::new("t", [1])],
        generation: 3,
        rack: Some("r".into()),
    };
    for version in 0..=3 {
        let bytes = subscription.encode(version).unwrap();
        let (v, s) = SubscriptionRef::decode(&bytes).unwrap();
        assert_eq!(v, version);
        assert_eq!(s.owned_partitions().len(), usize::from(version >= 1));
        assert_eq!(s.generation(), if version >= 2 { 3 } else { -1 });
        assert_eq!(s.rack(), (version >= 3).then_some("r"));
        assert_eq!(decode_ref(&bytes), Subscription::decode(&bytes));
    }
}

#[test]
fn subscription_ref_refuses_what_decode_refuses_with_the_same_error() {
    let good = Subscription {
        topics: vec!["orders".into()],
        user_data: Some(vec![1, 2, 3]),
        owned_partitions: vec![TopicPartitions::new("orders", [0, 1, 2])],
        generation: 1,
        rack: None,
    }
    .encode(3)
    .unwrap();
    let hostile: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0xff, 0xff],
        vec![0, 0, 0x7f, 0xff, 0xff, 0xff], // 2^31 - 1 topics
        vec![0, 0, 0xff, 0xff, 0xff, 0xfe], // -2 topics
        vec![0, 0, 0, 0, 0, 1, 0xff, 0xff], // a null topic
        vec![0, 0, 0, 0, 0, 1, 0, 2, 0xc3, 0x28], // invalid UTF-8
        vec![0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe], // user data of length -2
        vec![0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff], // user data longer than the bytes
        vec![0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0], // a trailing byte
        vec![
            0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0x7f, 0, 0, 0,
        ],
    ];
    for bytes in hostile
        .iter()
        .map(Vec::as_slice)
        .chain((0..good.len()).map(|end| &good[..end]))
    {
        let expected = Subscription::decode(bytes);
        assert!(expected.is_err(), "{bytes:?}");
        assert_eq!(decode_ref(bytes), expected, "{bytes:?}");
    }
}

#[test]
fn assignment_encode_topics_matches_encode() {
    let a = Assignment {
        partitions: vec![
            TopicPartitions::new("orders", [0, 3]),
            TopicPartitions::new("", []),
            TopicPartitions::new("ü", [i32::MIN, -1, i32::MAX]),
        ],
        user_data: Some(vec![7]),
    };
    for version in 0..=3 {
        let bytes = encode_topics(&a, version).unwrap();
        assert_eq!(bytes, a.encode(version).unwrap());
        assert_eq!(bytes.len(), bytes.capacity(), "an exact-size buffer");
    }
    for version in [-1, 4] {
        assert_eq!(encode_topics(&a, version), a.encode(version));
    }
    let long = Assignment {
        partitions: vec![TopicPartitions::new("x".repeat(32_768), [0])],
        user_data: None,
    };
    assert!(matches!(
        encode_topics(&long, 0),
        Err(ProtocolError::TooLarge { len: 32_768, .. })
    ));
    assert_eq!(encode_topics(&long, 0), long.encode(0));
}

#[test]
fn assignment_encode_topics_counts_what_the_iterators_yield() {
    // A size hint that lies only sizes the buffer: the counts written are what was yielded.
    let lying = (0..5).filter(|p| p % 2 == 0); // size hint (0, Some(5)), yields 3
    let bytes = Assignment::encode_topics(1, [("t", lying)], None).unwrap();
    let expected = Assignment {
        partitions: vec![TopicPartitions::new("t", [0, 2, 4])],
        user_data: None,
    };
    assert_eq!(bytes, expected.encode(1).unwrap());
}

fn topic() -> impl Strategy<Value = String> {
    // Mostly short ASCII names, sometimes arbitrary Unicode (multi-byte UTF-8).
    prop_oneof![3 => "[a-z0-9._-]{0,12}", 1 => any::<String>()]
}

fn topic_partitions() -> impl Strategy<Value = TopicPartitions> {
    (topic(), prop::collection::vec(any::<i32>(), 0..6))
        .prop_map(|(topic, partitions)| TopicPartitions { topic, partitions })
}

fn user_data() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..24))
}

fn subscription() -> impl Strategy<Value = Subscription> {
    (
        prop::collection::vec(topic(), 0..5),
        user_data(),
        prop::collection::vec(topic_partitions(), 0..4),
        any::<i32>(),
        prop::option::of(topic()),
    )
        .prop_map(
            |(topics, user_data, owned_partitions, generation, rack)| Subscription {
                topics,
                user_data,
                owned_partitions,
                generation,
                rack,
            },
        )
}

fn assignment() -> impl Strategy<Value = Assignment> {
    (prop::collection::vec(topic_partitions(), 0..5), user_data()).prop_map(
        |(partitions, user_data)| Assignment {
            partitions,
            user_data,
        },
    )
}

/// What a subscription looks like after a trip through `version`.
fn as_of_version(s: &Subscription, version: i16) -> Subscription {
    let d = Subscription::default();
    Subscription {
        topics: s.topics.clone(),
        user_data: s.user_data.clone(),
        owned_partitions: if version >= 1 {
            s.owned_partitions.clone()
        } else {
            d.owned_partitions
        },
        generation: if version >= 2 {
            s.generation
        } else {
            d.generation
        },
        rack: if version >= 3 { s.rack.clone() } else { d.rack },
    }
}

proptest! {
    #[test]
    fn subscription_round_trips_at_every_version(s in subscription(), version in 0..=3i16) {
        let bytes = s.encode(version).unwrap();
        prop_assert_eq!(&bytes[..2], &version.to_be_bytes()[..]);
        let (decoded_version, decoded) = Subscription::decode(&bytes).unwrap();
        prop_assert_eq!(decoded_version, version);
        prop_assert_eq!(&decoded, &as_of_version(&s, version));
        // Re-encoding what was decoded gives the same bytes.
        prop_assert_eq!(decoded.encode(version).unwrap(), bytes);
    }

    #[test]
    fn assignment_round_trips_at_every_version(a in assignment(), version in 0..=3i16) {
        let bytes = a.encode(version).unwrap();
        prop_assert_eq!(Assignment::decode(&bytes).unwrap(), (version, a));
    }

    #[test]
    fn newer_versions_read_as_v3_whatever_follows(
        s in subscription(),
        a in assignment(),
        version in 4..=i16::MAX,
        extra in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let mut bytes = s.encode(3).unwrap();
        bytes[..2].copy_from_slice(&version.to_be_bytes());
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(Subscription::decode(&bytes).unwrap(), (version, s));

        let mut bytes = a.encode(3).unwrap();
        bytes[..2].copy_from_slice(&version.to_be_bytes());
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(Assignment::decode(&bytes).unwrap(), (version, a));
    }

    #[test]
    fn every_strict_prefix_of_an_encoding_is_an_error(
        s in subscription(),
        a in assignment(),
        version in 0..=3i16,
    ) {
        let bytes = s.encode(version).unwrap();
        for end in 0..bytes.len() {
            prop_assert!(Subscription::decode(&bytes[..end]).is_err(), "prefix of {} bytes", end);
        }
        let bytes = a.encode(version).unwrap();
        for end in 0..bytes.len() {
            prop_assert!(Assignment::decode(&bytes[..end]).is_err(), "prefix of {} bytes", end);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Subscription::decode(&bytes);
        let _ = Assignment::decode(&bytes);
        prop_assert_eq!(decode_ref(&bytes), Subscription::decode(&bytes));
    }

    #[test]
    fn subscription_ref_agrees_with_decode(
        s in subscription(),
        version in 0..=3i16,
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = s.encode(version).unwrap();
        prop_assert_eq!(decode_ref(&bytes), Subscription::decode(&bytes));
        let end = cut.index(bytes.len());
        prop_assert_eq!(decode_ref(&bytes[..end]), Subscription::decode(&bytes[..end]));
    }

    #[test]
    fn assignment_encode_topics_agrees_with_encode(a in assignment(), version in -1..=4i16) {
        prop_assert_eq!(encode_topics(&a, version), a.encode(version));
    }

    #[test]
    fn arbitrary_bodies_after_a_plausible_version_never_panic(
        version in -1..=5i16,
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let bytes = [&version.to_be_bytes()[..], &body].concat();
        prop_assert_eq!(decode_ref(&bytes), Subscription::decode(&bytes));
        if let Ok((v, s)) = Subscription::decode(&bytes) {
            prop_assert_eq!(v, version);
            // Whatever decodes at a known version re-encodes to the very same bytes.
            if v <= 3 {
                prop_assert_eq!(s.encode(v).unwrap(), bytes.clone());
            }
        }
        if let Ok((v, a)) = Assignment::decode(&bytes) {
            prop_assert_eq!(v, version);
            if v <= 3 {
                prop_assert_eq!(a.encode(v).unwrap(), bytes);
            }
        }
    }

    #[test]
    fn corrupted_encodings_never_panic(
        s in subscription(),
        version in 0..=3i16,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = s.encode(version).unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        prop_assert_eq!(decode_ref(&bytes), Subscription::decode(&bytes));
        let _ = Subscription::decode(&bytes);
        let _ = Assignment::decode(&bytes);
    }
}
