//! Consumer settings: Kafka's defaults, property parsing, unknown and not-applicable keys,
//! validation, and the round trip through properties.

use consumer_groups::consumer::{ConsumerConfig, FromProperties, IsolationLevel, OffsetReset};
use consumer_groups::{ClientId, Error, GroupId, GroupInstanceId, Rack};
use proptest::prelude::*;

const RANGE: &str = "org.apache.kafka.clients.consumer.RangeAssignor";
const ROUND_ROBIN: &str = "org.apache.kafka.clients.consumer.RoundRobinAssignor";
const STICKY: &str = "org.apache.kafka.clients.consumer.StickyAssignor";
const COOPERATIVE_STICKY: &str = "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";

/// Parses `props` after a `group.id`.
fn parse(props: &[(&str, &str)]) -> Result<FromProperties, Error> {
    ConsumerConfig::from_properties([("group.id", "g")].iter().chain(props).copied())
}

/// The config of `props` after a `group.id`; panics if refused.
fn config(props: &[(&str, &str)]) -> ConsumerConfig {
    parse(props).unwrap().config
}

/// The key of the `InvalidConfig` error.
fn key_of(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::InvalidConfig { key, .. }) => key,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

/// The key `from_properties` refuses in `props` (after a `group.id`).
fn refused(props: &[(&str, &str)]) -> String {
    key_of(parse(props))
}

/// The key `validate` refuses after `change` to a default config.
fn invalid_after(change: impl FnOnce(&mut ConsumerConfig)) -> String {
    let mut c = ConsumerConfig::new("g");
    change(&mut c);
    key_of(c.validate())
}

#[test]
fn new_has_kafkas_defaults() {
    let c = ConsumerConfig::new("billing");
    assert_eq!(c.group_id, "billing");
    assert_eq!(c.client_id, "consumer");
    assert_eq!(c.group_instance_id, None);
    assert_eq!(c.client_rack, None);
    assert_eq!(c.session_timeout_ms, 45_000);
    assert_eq!(c.heartbeat_interval_ms, 3_000);
    assert_eq!(c.max_poll_interval_ms, 300_000);
    assert_eq!(c.request_timeout_ms, 30_000);
    assert_eq!(c.retry_backoff_ms, 100);
    assert_eq!(c.retry_backoff_max_ms, 1_000);
    assert!(c.enable_auto_commit);
    assert_eq!(c.auto_commit_interval_ms, 5_000);
    assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
    assert_eq!(c.isolation_level, IsolationLevel::ReadUncommitted);
    assert_eq!(c.assignors, ["range", "cooperative-sticky"]);
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn from_properties_with_only_a_group_id_gives_the_defaults() {
    let parsed = ConsumerConfig::from_properties([("group.id", "billing")]).unwrap();
    assert_eq!(parsed.config, ConsumerConfig::new("billing"));
    assert!(parsed.unknown.is_empty());
    assert!(parsed.not_applicable.is_empty());
}

#[test]
fn every_property_maps_to_its_field() {
    let c = ConsumerConfig::from_properties([
        ("group.id", "billing"),
        ("client.id", "billing-client"),
        ("group.instance.id", "billing-1"),
        ("client.rack", "eu-west-1a"),
        ("session.timeout.ms", "20000"),
        ("heartbeat.interval.ms", "2000"),
        ("max.poll.interval.ms", "600000"),
        ("request.timeout.ms", "40000"),
        ("retry.backoff.ms", "200"),
        ("retry.backoff.max.ms", "2000"),
        ("enable.auto.commit", "false"),
        ("auto.commit.interval.ms", "7000"),
        ("auto.offset.reset", "earliest"),
        ("isolation.level", "read_committed"),
        ("partition.assignment.strategy", "roundrobin"),
    ])
    .unwrap()
    .strict()
    .unwrap();
    assert_eq!(c.group_id, GroupId::from("billing"));
    assert_eq!(c.client_id, ClientId::from("billing-client"));
    assert_eq!(
        c.group_instance_id,
        Some(GroupInstanceId::from("billing-1"))
    );
    assert_eq!(c.client_rack, Some(Rack::from("eu-west-1a")));
    assert_eq!(c.session_timeout_ms, 20_000);
    assert_eq!(c.heartbeat_interval_ms, 2_000);
    assert_eq!(c.max_poll_interval_ms, 600_000);
    assert_eq!(c.request_timeout_ms, 40_000);
    assert_eq!(c.retry_backoff_ms, 200);
    assert_eq!(c.retry_backoff_max_ms, 2_000);
    assert!(!c.enable_auto_commit);
    assert_eq!(c.auto_commit_interval_ms, 7_000);
    assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
    assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
    assert_eq!(c.assignors, ["roundrobin"]);
}

#[test]
fn enum_settings_take_kafkas_strings() {
    for (s, v) in [
        ("earliest", OffsetReset::Earliest),
        ("latest", OffsetReset::Latest),
        ("none", OffsetReset::None),
    ] {
        assert_eq!(config(&[("auto.offset.reset", s)]).auto_offset_reset, v);
        assert_eq!(v.as_str(), s);
        assert_eq!(v.to_string(), s);
    }
    for (s, v) in [
        ("read_uncommitted", IsolationLevel::ReadUncommitted),
        ("read_committed", IsolationLevel::ReadCommitted),
    ] {
        assert_eq!(config(&[("isolation.level", s)]).isolation_level, v);
        assert_eq!(v.as_str(), s);
        assert_eq!(v.to_string(), s);
    }
    // Kafka's validators for these two are case-sensitive.
    assert_eq!(
        refused(&[("auto.offset.reset", "EARLIEST")]),
        "auto.offset.reset"
    );
    assert_eq!(
        refused(&[("auto.offset.reset", "smallest")]),
        "auto.offset.reset"
    );
    assert_eq!(
        refused(&[("isolation.level", "READ_COMMITTED")]),
        "isolation.level"
    );
    assert_eq!(
        refused(&[("isolation.level", "committed")]),
        "isolation.level"
    );
}

#[test]
fn booleans_are_true_or_false_in_any_case() {
    for (s, v) in [
        ("true", true),
        ("TRUE", true),
        ("True", true),
        ("false", false),
        ("FALSE", false),
        ("fAlSe", false),
    ] {
        assert_eq!(
            config(&[("enable.auto.commit", s)]).enable_auto_commit,
            v,
            "{s}"
        );
    }
    for bad in ["yes", "1", "0", "t", "", "truee"] {
        assert_eq!(
            refused(&[("enable.auto.commit", bad)]),
            "enable.auto.commit",
            "{bad:?}"
        );
    }
}

#[test]
fn values_are_trimmed_and_keys_are_not() {
    let c = config(&[
        ("client.id", "  spaced  "),
        ("session.timeout.ms", " 10000\t"),
        ("enable.auto.commit", " false "),
        ("auto.offset.reset", "\nnone "),
    ]);
    assert_eq!(c.client_id, "spaced");
    assert_eq!(c.session_timeout_ms, 10_000);
    assert!(!c.enable_auto_commit);
    assert_eq!(c.auto_offset_reset, OffsetReset::None);
    let parsed = parse(&[(" session.timeout.ms", "1")]).unwrap();
    assert_eq!(parsed.unknown, [" session.timeout.ms"]);
    assert_eq!(parsed.config.session_timeout_ms, 45_000);
}

#[test]
fn keys_are_case_sensitive_as_in_kafka() {
    let parsed = parse(&[("Session.Timeout.Ms", "10000"), ("GROUP.ID", "other")]).unwrap();
    assert_eq!(parsed.config.session_timeout_ms, 45_000);
    assert_eq!(parsed.config.group_id, "g");
    assert_eq!(parsed.unknown, ["Session.Timeout.Ms", "GROUP.ID"]);
    assert_eq!(
        key_of(ConsumerConfig::from_properties([("GROUP.ID", "g")])),
        "group.id"
    );
}

#[test]
fn later_duplicate_keys_win() {
    let c = config(&[
        ("session.timeout.ms", "abc"),
        ("session.timeout.ms", "10000"),
        ("group.id", "second"),
        ("partition.assignment.strategy", "range"),
        ("partition.assignment.strategy", "sticky"),
    ]);
    assert_eq!(
        c.session_timeout_ms, 10_000,
        "the bad first value is overridden"
    );
    assert_eq!(c.group_id, "second");
    assert_eq!(c.assignors, ["sticky"]);
}

#[test]
fn assignors_accept_kafka_class_names_and_short_names() {
    let c = config(&[(
        "partition.assignment.strategy",
        &format!("{RANGE},{ROUND_ROBIN},{STICKY},{COOPERATIVE_STICKY}"),
    )]);
    assert_eq!(
        c.assignors,
        ["range", "roundrobin", "sticky", "cooperative-sticky"]
    );
    let c = config(&[(
        "partition.assignment.strategy",
        "cooperative-sticky,sticky,roundrobin,range",
    )]);
    assert_eq!(
        c.assignors,
        ["cooperative-sticky", "sticky", "roundrobin", "range"]
    );
}

#[test]
fn custom_assignor_names_are_kept_verbatim_and_empty_entries_skipped() {
    let c = config(&[(
        "partition.assignment.strategy",
        " ,com.example.RackAssignor , ,my-assignor,, org.apache.kafka.clients.consumer.RangeAssignor ,",
    )]);
    assert_eq!(
        c.assignors,
        ["com.example.RackAssignor", "my-assignor", "range"]
    );
    // Names are case-sensitive: this is a custom assignor, not "range".
    let c = config(&[("partition.assignment.strategy", "Range")]);
    assert_eq!(c.assignors, ["Range"]);
}

#[test]
fn assignor_lists_that_name_nothing_or_repeat_a_name_are_refused() {
    for bad in [
        "",
        " ",
        ",",
        " , ,",
        "range,range",
        format!("range,{RANGE}").as_str(),
    ] {
        assert_eq!(
            refused(&[("partition.assignment.strategy", bad)]),
            "partition.assignment.strategy",
            "{bad:?}"
        );
    }
}

#[test]
fn unknown_and_not_applicable_keys_are_reported_in_input_order() {
    let parsed = parse(&[
        ("bootstrap.servers", "localhost:9092"),
        ("enable.autocommit", "false"),
        (
            "key.deserializer",
            "org.apache.kafka.common.serialization.StringDeserializer",
        ),
        (
            "value.deserializer",
            "org.apache.kafka.common.serialization.StringDeserializer",
        ),
        ("fetch.min.bytes", "1"),
        ("fetch.max.bytes", "52428800"),
        ("fetch.max.wait.ms", "500"),
        ("max.partition.fetch.bytes", "1048576"),
        ("max.poll.records", "500"),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        ),
        ("ssl.truststore.location", "/etc/kafka/truststore.jks"),
        ("session.timeout", "10000"),
        ("", "empty key"),
    ])
    .unwrap();
    assert_eq!(
        parsed.not_applicable,
        [
            "bootstrap.servers",
            "key.deserializer",
            "value.deserializer",
            "fetch.min.bytes",
            "fetch.max.bytes",
            "fetch.max.wait.ms",
            "max.partition.fetch.bytes",
            "max.poll.records",
            "security.protocol",
            "sasl.mechanism",
            "sasl.jaas.config",
            "ssl.truststore.location",
        ]
    );
    assert_eq!(parsed.unknown, ["enable.autocommit", "session.timeout", ""]);
    assert_eq!(parsed.config, ConsumerConfig::new("g"));
}

#[test]
fn each_reported_key_appears_once_where_it_first_appeared() {
    let parsed = parse(&[
        ("typo.a", "1"),
        ("bootstrap.servers", "a:9092"),
        ("typo.b", "1"),
        ("typo.a", "2"),
        ("bootstrap.servers", "b:9092"),
    ])
    .unwrap();
    assert_eq!(parsed.unknown, ["typo.a", "typo.b"]);
    assert_eq!(parsed.not_applicable, ["bootstrap.servers"]);
}

#[test]
fn values_of_not_applicable_keys_are_not_checked() {
    let parsed = parse(&[
        ("fetch.min.bytes", "-5"),
        ("max.poll.records", "lots"),
        ("check.crcs", "maybe"),
        ("ssl.keystore.password", ""),
    ])
    .unwrap();
    assert_eq!(parsed.not_applicable.len(), 4);
    assert!(parsed.strict().is_ok());
}

#[test]
fn strict_refuses_unknown_keys_and_accepts_not_applicable_ones() {
    let ok = parse(&[("bootstrap.servers", "localhost:9092")]).unwrap();
    assert_eq!(ok.strict(), Ok(ConsumerConfig::new("g")));

    let err = parse(&[
        ("typo.one", "1"),
        ("bootstrap.servers", "x"),
        ("typo.two", "2"),
    ])
    .unwrap()
    .strict()
    .unwrap_err();
    assert_eq!(
        err,
        Error::UnknownConfig(vec!["typo.one".into(), "typo.two".into()])
    );
}

#[test]
fn group_id_is_required() {
    assert_eq!(
        key_of(ConsumerConfig::from_properties(Vec::<(&str, &str)>::new())),
        "group.id"
    );
    assert_eq!(
        key_of(ConsumerConfig::from_properties([("client.id", "c")])),
        "group.id"
    );
    assert_eq!(
        key_of(ConsumerConfig::from_properties([("group.id", "")])),
        "group.id"
    );
    assert_eq!(
        key_of(ConsumerConfig::from_properties([("group.id", "   ")])),
        "group.id"
    );
}

#[test]
fn client_rack_empty_means_no_rack() {
    assert_eq!(config(&[("client.rack", "")]).client_rack, None);
    assert_eq!(config(&[("client.rack", "  ")]).client_rack, None);
    assert_eq!(
        config(&[("client.rack", "az-1")]).client_rack,
        Some(Rack::from("az-1"))
    );
}

#[test]
fn group_instance_id_empty_is_refused() {
    assert_eq!(refused(&[("group.instance.id", "")]), "group.instance.id");
    assert_eq!(refused(&[("group.instance.id", " ")]), "group.instance.id");
}

#[test]
fn from_properties_accepts_owned_strings_and_maps() {
    let owned: Vec<(String, String)> = vec![("group.id".into(), "g".into())];
    assert!(ConsumerConfig::from_properties(owned).is_ok());
    let map: std::collections::BTreeMap<&str, String> =
        [("group.id", "g".to_string())].into_iter().collect();
    assert!(ConsumerConfig::from_properties(&map).is_ok());
}

// Validation, one rule at a time.

#[test]
fn validate_group_id_must_not_be_empty() {
    assert_eq!(
        invalid_after(|c| c.group_id = GroupId::from("")),
        "group.id"
    );
}

#[test]
fn validate_group_instance_id_follows_kafkas_rule() {
    let set = |id: &str| {
        let id = id.to_owned();
        invalid_after(move |c| c.group_instance_id = Some(GroupInstanceId::from(id)))
    };
    for bad in [
        "",
        ".",
        "..",
        "has space",
        "slash/",
        "colon:",
        "ümlaut",
        "tab\t",
        "a".repeat(250).as_str(),
    ] {
        assert_eq!(set(bad), "group.instance.id", "{bad:?}");
    }
    for good in ["a", "A-z_0.9", "...", "a".repeat(249).as_str()] {
        let mut c = ConsumerConfig::new("g");
        c.group_instance_id = Some(GroupInstanceId::from(good));
        assert_eq!(c.validate(), Ok(()), "{good:?}");
    }
}

#[test]
fn validate_client_rack_some_empty_is_refused() {
    assert_eq!(
        invalid_after(|c| c.client_rack = Some(Rack::from(""))),
        "client.rack"
    );
}

#[test]
fn validate_timeouts_are_positive_i32s() {
    type Field = fn(&mut ConsumerConfig) -> &mut u64;
    let fields: [(&str, Field); 4] = [
        ("session.timeout.ms", |c| &mut c.session_timeout_ms),
        ("heartbeat.interval.ms", |c| &mut c.heartbeat_interval_ms),
        ("max.poll.interval.ms", |c| &mut c.max_poll_interval_ms),
        ("request.timeout.ms", |c| &mut c.request_timeout_ms),
    ];
    for (key, field) in fields {
        for bad in [0, i32::MAX as u64 + 1, u64::MAX] {
            let got = invalid_after(|c| {
                // Keep the heartbeat below the session timeout, so only the range is at fault.
                if key == "session.timeout.ms" && bad > 0 {
                    c.heartbeat_interval_ms = 1;
                }
                *field(c) = bad;
            });
            assert_eq!(got, key, "{key} = {bad}");
        }
        let mut c = ConsumerConfig::new("g");
        c.session_timeout_ms = i32::MAX as u64;
        *field(&mut c) = if key == "heartbeat.interval.ms" {
            1
        } else {
            i32::MAX as u64
        };
        assert_eq!(c.validate(), Ok(()), "{key} at its bounds");
    }
}

#[test]
fn validate_heartbeat_interval_is_lower_than_session_timeout() {
    let mut c = ConsumerConfig::new("g");
    c.heartbeat_interval_ms = c.session_timeout_ms;
    assert_eq!(
        c.validate(),
        Err(Error::InvalidConfig {
            key: "heartbeat.interval.ms".into(),
            reason: "heartbeat.interval.ms must be set lower than session.timeout.ms".into(),
        })
    );
    c.heartbeat_interval_ms = c.session_timeout_ms - 1;
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(
        refused(&[
            ("session.timeout.ms", "3000"),
            ("heartbeat.interval.ms", "3000")
        ]),
        "heartbeat.interval.ms"
    );
}

#[test]
fn validate_auto_commit_interval_is_positive_when_auto_commit_is_on() {
    assert_eq!(
        invalid_after(|c| c.auto_commit_interval_ms = 0),
        "auto.commit.interval.ms"
    );
    let mut c = ConsumerConfig::new("g");
    c.enable_auto_commit = false;
    c.auto_commit_interval_ms = 0;
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn validate_retry_backoff_is_at_most_its_maximum() {
    assert_eq!(
        invalid_after(|c| c.retry_backoff_ms = c.retry_backoff_max_ms + 1),
        "retry.backoff.ms"
    );
    let mut c = ConsumerConfig::new("g");
    c.retry_backoff_ms = c.retry_backoff_max_ms;
    assert_eq!(c.validate(), Ok(()));
    c.retry_backoff_ms = 0;
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn validate_assignors_are_non_empty_named_and_distinct() {
    let key = "partition.assignment.strategy";
    assert_eq!(invalid_after(|c| c.assignors.clear()), key);
    assert_eq!(invalid_after(|c| c.assignors.push(String::new())), key);
    assert_eq!(invalid_after(|c| c.assignors.push("range".into())), key);
}

#[test]
fn validate_refuses_what_a_property_list_cannot_carry() {
    let key = "partition.assignment.strategy";
    assert_eq!(invalid_after(|c| c.assignors = vec!["a,b".into()]), key);
    assert_eq!(invalid_after(|c| c.assignors = vec![" a".into()]), key);
    assert_eq!(invalid_after(|c| c.assignors = vec![RANGE.into()]), key);
    assert_eq!(
        invalid_after(|c| c.group_id = GroupId::from(" g")),
        "group.id"
    );
    assert_eq!(
        invalid_after(|c| c.client_id = ClientId::from("c\n")),
        "client.id"
    );
    assert_eq!(
        invalid_after(|c| c.client_rack = Some(Rack::from(" r "))),
        "client.rack"
    );
    let huge = "x".repeat(40_000);
    assert_eq!(
        invalid_after(|c| c.group_id = GroupId::from(huge.as_str())),
        "group.id"
    );
    assert_eq!(
        invalid_after(|c| c.client_id = ClientId::from(huge.as_str())),
        "client.id"
    );
}

#[test]
fn invalid_config_errors_read_well() {
    let err = refused_error(&[("session.timeout.ms", "-5")]);
    assert_eq!(
        err.to_string(),
        "invalid value for session.timeout.ms: must not be negative, got \"-5\""
    );
    let err = refused_error(&[("max.poll.interval.ms", "soon")]);
    assert_eq!(
        err.to_string(),
        "invalid value for max.poll.interval.ms: expected a non-negative decimal integer, got \"soon\""
    );
}

fn refused_error(props: &[(&str, &str)]) -> Error {
    parse(props).unwrap_err()
}

// Round trip.

#[test]
fn to_properties_writes_every_setting_by_kafkas_name() {
    let mut c = ConsumerConfig::new("billing");
    c.group_instance_id = Some(GroupInstanceId::from("billing-1"));
    c.client_rack = Some(Rack::from("az-1"));
    c.assignors = vec!["sticky".into(), "custom".into(), "roundrobin".into()];
    let props = c.to_properties();
    let expected: Vec<(String, String)> = [
        ("group.id", "billing"),
        ("client.id", "consumer"),
        ("group.instance.id", "billing-1"),
        ("client.rack", "az-1"),
        ("session.timeout.ms", "45000"),
        ("heartbeat.interval.ms", "3000"),
        ("max.poll.interval.ms", "300000"),
        ("request.timeout.ms", "30000"),
        ("retry.backoff.ms", "100"),
        ("retry.backoff.max.ms", "1000"),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "5000"),
        ("auto.offset.reset", "latest"),
        ("isolation.level", "read_uncommitted"),
        (
            "partition.assignment.strategy",
            &format!("{STICKY},custom,{ROUND_ROBIN}"),
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(props, expected);
    let back = ConsumerConfig::from_properties(props).unwrap();
    assert_eq!(back.config, c);
    assert!(back.unknown.is_empty() && back.not_applicable.is_empty());
}

#[test]
fn to_properties_leaves_out_an_unset_instance_id_and_writes_no_rack_as_empty() {
    let props = ConsumerConfig::new("g").to_properties();
    assert!(!props.iter().any(|(k, _)| k == "group.instance.id"));
    assert!(props.contains(&("client.rack".into(), String::new())));
    assert_eq!(
        ConsumerConfig::from_properties(props).unwrap().config,
        ConsumerConfig::new("g")
    );
}

// Hostile input.

#[test]
fn hostile_integers_are_refused_with_their_key() {
    let keys = [
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "max.poll.interval.ms",
        "request.timeout.ms",
        "retry.backoff.ms",
        "retry.backoff.max.ms",
        "auto.commit.interval.ms",
    ];
    let huge = "9".repeat(100_000);
    let hostile = [
        "",
        " ",
        "-1",
        "-0",
        "-9223372036854775808",
        "18446744073709551616",
        "99999999999999999999999999999999",
        huge.as_str(),
        "1.5",
        "1e9",
        "0x10",
        "1_000",
        "10 000",
        "∞",
        "NaN",
        "\u{0}",
        "１２３", // full-width digits
        "+",
        "++1",
        "🦀",
    ];
    for key in keys {
        for value in hostile {
            let err = refused_error(&[(key, value)]);
            let Error::InvalidConfig { key: k, reason } = &err else {
                panic!("{err:?}")
            };
            assert_eq!(k, key, "{value:?}");
            assert!(reason.len() < 200, "messages stay short: {reason}");
        }
    }
}

#[test]
fn out_of_i32_timeouts_parse_and_are_refused_by_validation() {
    for key in [
        "session.timeout.ms",
        "max.poll.interval.ms",
        "request.timeout.ms",
    ] {
        assert_eq!(refused(&[(key, "2147483648")]), key);
        assert_eq!(refused(&[(key, "18446744073709551615")]), key);
    }
    // u64 settings take any u64.
    let c = config(&[
        ("retry.backoff.max.ms", "18446744073709551615"),
        ("auto.commit.interval.ms", "18446744073709551615"),
    ]);
    assert_eq!(c.retry_backoff_max_ms, u64::MAX);
    assert_eq!(c.auto_commit_interval_ms, u64::MAX);
}

#[test]
fn hostile_strings_are_refused_or_kept_but_never_panic() {
    let long = "é".repeat(20_000); // 40,000 bytes
    for value in ["", "\u{0}", "🦀", long.as_str(), "a\u{200B}b", "\u{FEFF}"] {
        for key in [
            "group.id",
            "client.id",
            "group.instance.id",
            "client.rack",
            "auto.offset.reset",
            "isolation.level",
            "enable.auto.commit",
            "partition.assignment.strategy",
        ] {
            match parse(&[(key, value)]) {
                Ok(p) => assert_eq!(p.config.validate(), Ok(())),
                Err(Error::InvalidConfig { key: k, .. }) => assert_eq!(k, key, "{value:?}"),
                Err(other) => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(refused(&[("group.id", long.as_str())]), "group.id");
    assert_eq!(refused(&[("group.instance.id", "🦀")]), "group.instance.id");
}

// Property tests.

fn name() -> impl Strategy<Value = String> {
    // Printable text, Unicode included; the filter keeps what validation accepts.
    "\\PC{1,16}".prop_filter("no surrounding whitespace", |s| s.trim() == s)
}

fn assignor() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("range".to_string()),
        Just("roundrobin".to_string()),
        Just("sticky".to_string()),
        Just("cooperative-sticky".to_string()),
        name().prop_filter("no comma", |s| !s.contains(',')),
    ]
}

prop_compose! {
    fn valid_config()(
        group_id in name(),
        client_id in prop_oneof![Just(String::new()), name()],
        group_instance_id in proptest::option::of("[a-zA-Z0-9._-]{1,249}"),
        client_rack in proptest::option::of(name()),
        session_timeout_ms in 2..=i32::MAX as u64,
        heartbeat_fraction in 0.0..1.0f64,
        max_poll_interval_ms in 1..=i32::MAX as u64,
        request_timeout_ms in 1..=i32::MAX as u64,
        retry_backoff_max_ms in any::<u64>(),
        retry_backoff_fraction in 0.0..=1.0f64,
        enable_auto_commit in any::<bool>(),
        auto_commit_interval_ms in any::<u64>(),
        auto_offset_reset in prop_oneof![
            Just(OffsetReset::Earliest), Just(OffsetReset::Latest), Just(OffsetReset::None)
        ],
        isolation_level in prop_oneof![
            Just(IsolationLevel::ReadUncommitted), Just(IsolationLevel::ReadCommitted)
        ],
        assignors in proptest::collection::vec(assignor(), 1..5),
    ) -> ConsumerConfig {
        let heartbeat = ((session_timeout_ms - 1) as f64 * heartbeat_fraction) as u64;
        let mut assignors = assignors;
        let mut seen = std::collections::HashSet::new();
        assignors.retain(|a| seen.insert(a.clone()));
        ConsumerConfig {
            group_id: GroupId::from(group_id),
            client_id: ClientId::from(client_id),
            group_instance_id: group_instance_id
                .filter(|id| id != "." && id != "..")
                .map(GroupInstanceId::from),
            client_rack: client_rack.map(Rack::from),
            session_timeout_ms,
            heartbeat_interval_ms: heartbeat.clamp(1, session_timeout_ms - 1),
            max_poll_interval_ms,
            request_timeout_ms,
            retry_backoff_ms: ((retry_backoff_max_ms as f64 * retry_backoff_fraction) as u64)
                .min(retry_backoff_max_ms),
            retry_backoff_max_ms,
            enable_auto_commit,
            auto_commit_interval_ms: if enable_auto_commit {
                auto_commit_interval_ms.max(1)
            } else {
                auto_commit_interval_ms
            },
            auto_offset_reset,
            isolation_level,
            assignors,
        }
    }
}

proptest! {
    #[test]
    fn every_valid_config_survives_a_trip_through_properties(c in valid_config()) {
        prop_assert_eq!(c.validate(), Ok(()));
        let back = ConsumerConfig::from_properties(c.to_properties()).unwrap();
        prop_assert_eq!(&back.config, &c);
        prop_assert!(back.unknown.is_empty());
        prop_assert!(back.not_applicable.is_empty());
    }

    #[test]
    fn any_property_list_parses_or_is_refused_without_panicking(
        props in proptest::collection::vec(
            (
                prop_oneof![
                    Just("group.id".to_string()),
                    Just("client.id".to_string()),
                    Just("group.instance.id".to_string()),
                    Just("client.rack".to_string()),
                    Just("session.timeout.ms".to_string()),
                    Just("heartbeat.interval.ms".to_string()),
                    Just("max.poll.interval.ms".to_string()),
                    Just("request.timeout.ms".to_string()),
                    Just("retry.backoff.ms".to_string()),
                    Just("retry.backoff.max.ms".to_string()),
                    Just("enable.auto.commit".to_string()),
                    Just("auto.commit.interval.ms".to_string()),
                    Just("auto.offset.reset".to_string()),
                    Just("isolation.level".to_string()),
                    Just("partition.assignment.strategy".to_string()),
                    Just("bootstrap.servers".to_string()),
                    any::<String>(),
                ],
                prop_oneof![any::<String>(), "[0-9+-]{0,25}", "(true|false|latest|none|range|,)*"],
            ),
            0..20,
        )
    ) {
        match ConsumerConfig::from_properties(props.iter().map(|(k, v)| (k, v))) {
            Ok(parsed) => {
                prop_assert_eq!(parsed.config.validate(), Ok(()));
                let back = ConsumerConfig::from_properties(parsed.config.to_properties());
                prop_assert_eq!(back.map(|b| b.config), Ok(parsed.config));
            }
            Err(Error::InvalidConfig { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }
}
