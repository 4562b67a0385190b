//! [`ConsumerConfig`]: the settings of a group member, by Kafka's consumer property names.
//!
//! A config is built in code with [`ConsumerConfig::new`] (Kafka's defaults) or read from a
//! Kafka-style property list with [`ConsumerConfig::from_properties`], which also reports the
//! keys a Kafka consumer knows but this crate has no use for (`bootstrap.servers`,
//! `key.deserializer`, …) apart from the keys nobody knows (typos, mostly).
//! [`ConsumerConfig::to_properties`] writes the settings back as properties.
//!
//! Every setting is checked by [`ConsumerConfig::validate`], and every refusal is an
//! [`Error::InvalidConfig`] naming the Kafka property at fault.

use std::collections::HashSet;
use std::fmt;

use crate::error::Error;
use crate::types::{ClientId, GroupId, GroupInstanceId, Rack};

/// What to do when a partition has no committed offset (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetReset {
    /// Start from the earliest offset the log still holds (`"earliest"`).
    Earliest,
    /// Start from the end of the log: only records written from now on (`"latest"`, Kafka's
    /// default).
    Latest,
    /// Fail: the host has to seek the partition itself (`"none"`).
    None,
}

impl OffsetReset {
    /// Kafka's string for the setting: `"earliest"`, `"latest"` or `"none"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
            OffsetReset::None => "none",
        }
    }

    fn parse(value: &str) -> Option<OffsetReset> {
        match value {
            "earliest" => Some(OffsetReset::Earliest),
            "latest" => Some(OffsetReset::Latest),
            "none" => Some(OffsetReset::None),
            _ => None,
        }
    }
}

impl fmt::Display for OffsetReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which records of transactional producers a consumer reads (`isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IsolationLevel {
    /// Every record, including those of open and aborted transactions (`"read_uncommitted"`,
    /// Kafka's default).
    ReadUncommitted,
    /// Only records of committed transactions, up to the last stable offset
    /// (`"read_committed"`).
    ReadCommitted,
}

impl IsolationLevel {
    /// Kafka's string for the setting: `"read_uncommitted"` or `"read_committed"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "read_uncommitted",
            IsolationLevel::ReadCommitted => "read_committed",
        }
    }

    fn parse(value: &str) -> Option<IsolationLevel> {
        match value {
            "read_uncommitted" => Some(IsolationLevel::ReadUncommitted),
            "read_committed" => Some(IsolationLevel::ReadCommitted),
            _ => None,
        }
    }
}

impl fmt::Display for IsolationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settings of a consumer-group member, one field per Kafka consumer property.
///
/// [`ConsumerConfig::new`] starts from Kafka's defaults; fields are public, so a host changes
/// what it needs and calls [`validate`](ConsumerConfig::validate).
/// [`from_properties`](ConsumerConfig::from_properties) reads a Kafka property list, and says
/// which of its keys mean nothing here:
///
/// ```
/// use consumer_groups::consumer::{ConsumerConfig, OffsetReset};
///
/// let parsed = ConsumerConfig::from_properties([
///     ("group.id", "billing"),
///     ("bootstrap.servers", "kafka-1:9092,kafka-2:9092"),
///     ("auto.offset.reset", "earliest"),
///     ("session.timeout.ms", "10000"),
///     (
///         "partition.assignment.strategy",
///         "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
///     ),
///     ("enable.autocommit", "false"), // a typo of enable.auto.commit
/// ])?;
/// let config = &parsed.config;
/// assert_eq!(config.group_id, "billing");
/// assert_eq!(config.auto_offset_reset, OffsetReset::Earliest);
/// assert_eq!(config.session_timeout_ms, 10_000);
/// assert_eq!(config.heartbeat_interval_ms, 3_000); // Kafka's default
/// assert_eq!(config.assignors, ["cooperative-sticky"]);
/// assert!(config.enable_auto_commit, "the typo did not switch it off");
///
/// // A Kafka consumer setting that has no meaning for a group member here:
/// assert_eq!(parsed.not_applicable, ["bootstrap.servers"]);
/// // A key no consumer knows:
/// assert_eq!(parsed.unknown, ["enable.autocommit"]);
/// // `strict` refuses unknown keys.
/// assert_eq!(
///     parsed.strict().unwrap_err().to_string(),
///     "unknown consumer properties: enable.autocommit"
/// );
/// # Ok::<(), consumer_groups::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// The group to join (`group.id`). Required; never empty.
    pub group_id: GroupId,
    /// The client id the member reports (`client.id`, default `"consumer"`). Coordinators build
    /// member ids from it.
    pub client_id: ClientId,
    /// The static member id (`group.instance.id`, KIP-345), or `None` for a dynamic member.
    pub group_instance_id: Option<GroupInstanceId>,
    /// The member's rack (`client.rack`), for rack-aware assignors (KIP-881). Kafka's empty
    /// string is `None`.
    pub client_rack: Option<Rack>,
    /// How long the coordinator waits for a heartbeat before it evicts the member
    /// (`session.timeout.ms`, default 45,000).
    pub session_timeout_ms: u64,
    /// How often the member heartbeats (`heartbeat.interval.ms`, default 3,000). Lower than
    /// the session timeout.
    pub heartbeat_interval_ms: u64,
    /// The longest the host may take between polls before the member leaves the group
    /// (`max.poll.interval.ms`, default 300,000). Also the rebalance timeout the member sends
    /// in JoinGroup.
    pub max_poll_interval_ms: u64,
    /// How long the member waits for an answer to a request (`request.timeout.ms`, default
    /// 30,000).
    pub request_timeout_ms: u64,
    /// The first pause before a failed request is retried (`retry.backoff.ms`, default 100).
    pub retry_backoff_ms: u64,
    /// The longest pause between retries, which grow exponentially from `retry_backoff_ms`
    /// (`retry.backoff.max.ms`, default 1,000, KIP-580).
    pub retry_backoff_max_ms: u64,
    /// Whether the member commits its position periodically (`enable.auto.commit`, default
    /// `true`).
    pub enable_auto_commit: bool,
    /// How often positions are committed when auto commit is on (`auto.commit.interval.ms`,
    /// default 5,000).
    pub auto_commit_interval_ms: u64,
    /// What to do for a partition without a committed offset (`auto.offset.reset`, default
    /// [`OffsetReset::Latest`]).
    pub auto_offset_reset: OffsetReset,
    /// Which transactional records to read (`isolation.level`, default
    /// [`IsolationLevel::ReadUncommitted`]).
    pub isolation_level: IsolationLevel,
    /// The assignors the member supports, by name, preferred first
    /// (`partition.assignment.strategy`, default `["range", "cooperative-sticky"]` as in Kafka
    /// 3.x). Built-in assignors go by their short names (`"range"`, `"roundrobin"`,
    /// `"sticky"`, `"cooperative-sticky"`); any other name is a custom assignor, looked up in
    /// an [`AssignorRegistry`](crate::AssignorRegistry) later.
    pub assignors: Vec<String>,
}

/// What [`ConsumerConfig::from_properties`] made of a property list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromProperties {
    /// The settings read, validated.
    pub config: ConsumerConfig,
    /// Keys neither this crate nor a Kafka consumer knows, in input order, each once.
    pub unknown: Vec<String>,
    /// Kafka consumer keys that mean nothing here (`bootstrap.servers`, `key.deserializer`,
    /// `fetch.min.bytes`, `max.poll.records`, `security.protocol`, `sasl.*`, `ssl.*`, …), in
    /// input order, each once. Their values are not checked.
    pub not_applicable: Vec<String>,
}

impl FromProperties {
    /// The config, or an error if any key was unknown.
    ///
    /// Keys that are [not applicable](FromProperties::not_applicable) are accepted: a property
    /// file shared with Kafka consumers is fine, a typo is not.
    ///
    /// # Errors
    /// [`Error::UnknownConfig`] with the [unknown](FromProperties::unknown) keys, in input order.
    pub fn strict(self) -> Result<ConsumerConfig, Error> {
        if self.unknown.is_empty() {
            Ok(self.config)
        } else {
            Err(Error::UnknownConfig(self.unknown))
        }
    }
}

/// Kafka's default `session.timeout.ms` (since 3.0, KIP-735).
const DEFAULT_SESSION_TIMEOUT_MS: u64 = 45_000;
const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 3_000;
const DEFAULT_MAX_POLL_INTERVAL_MS: u64 = 300_000;
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_RETRY_BACKOFF_MS: u64 = 100;
const DEFAULT_RETRY_BACKOFF_MAX_MS: u64 = 1_000;
const DEFAULT_AUTO_COMMIT_INTERVAL_MS: u64 = 5_000;
const DEFAULT_CLIENT_ID: &str = "consumer";
/// Kafka's default `partition.assignment.strategy` (since 3.0).
const DEFAULT_ASSIGNORS: [&str; 2] = ["range", "cooperative-sticky"];

/// The longest string Kafka's protocol carries (an `i16` length).
const MAX_KAFKA_STRING: usize = i16::MAX as usize;
/// The longest `group.instance.id` Kafka accepts.
const MAX_INSTANCE_ID: usize = 249;
/// Timeouts travel in requests as `i32`.
const MAX_I32_MS: u64 = i32::MAX as u64;

/// The built-in assignors' Kafka class names, with their short names.
const ASSIGNOR_CLASSES: [(&str, &str); 4] = [
    ("org.apache.kafka.clients.consumer.RangeAssignor", "range"),
    (
        "org.apache.kafka.clients.consumer.RoundRobinAssignor",
        "roundrobin",
    ),
    ("org.apache.kafka.clients.consumer.StickyAssignor", "sticky"),
    (
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
        "cooperative-sticky",
    ),
];

/// Kafka consumer keys with no meaning for this crate.
const NOT_APPLICABLE: &[&str] = &[
    "allow.auto.create.topics",
    "auto.include.jmx.reporter",
    "bootstrap.resolve.timeout.ms",
    "bootstrap.servers",
    "check.crcs",
    "client.dns.lookup",
    "config.providers",
    "connections.max.idle.ms",
    "default.api.timeout.ms",
    "enable.metrics.push",
    "exclude.internal.topics",
    "fetch.max.bytes",
    "fetch.max.wait.ms",
    "fetch.min.bytes",
    "group.protocol",
    "group.remote.assignor",
    "interceptor.classes",
    "internal.leave.group.on.close",
    "internal.throw.on.fetch.stable.offset.unsupported",
    "key.deserializer",
    "max.partition.fetch.bytes",
    "max.poll.records",
    "metadata.max.age.ms",
    "metadata.recovery.rebootstrap.trigger.ms",
    "metadata.recovery.strategy",
    "metric.reporters",
    "metrics.num.samples",
    "metrics.recording.level",
    "metrics.sample.window.ms",
    "receive.buffer.bytes",
    "reconnect.backoff.max.ms",
    "reconnect.backoff.ms",
    "security.protocol",
    "security.providers",
    "send.buffer.bytes",
    "socket.connection.setup.timeout.max.ms",
    "socket.connection.setup.timeout.ms",
    "value.deserializer",
];

/// Prefixes of families of Kafka client keys with no meaning for this crate.
const NOT_APPLICABLE_PREFIXES: [&str; 4] =
    ["sasl.", "ssl.", "config.providers.", "metrics.context."];

fn is_not_applicable(key: &str) -> bool {
    NOT_APPLICABLE.contains(&key) || NOT_APPLICABLE_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The properties [`ConsumerConfig`] reads, in the order [`ConsumerConfig::to_properties`]
/// writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    GroupId,
    ClientId,
    GroupInstanceId,
    ClientRack,
    SessionTimeoutMs,
    HeartbeatIntervalMs,
    MaxPollIntervalMs,
    RequestTimeoutMs,
    RetryBackoffMs,
    RetryBackoffMaxMs,
    EnableAutoCommit,
    AutoCommitIntervalMs,
    AutoOffsetReset,
    IsolationLevel,
    PartitionAssignmentStrategy,
}

impl Key {
    const ALL: [Key; 15] = [
        Key::GroupId,
        Key::ClientId,
        Key::GroupInstanceId,
        Key::ClientRack,
        Key::SessionTimeoutMs,
        Key::HeartbeatIntervalMs,
        Key::MaxPollIntervalMs,
        Key::RequestTimeoutMs,
        Key::RetryBackoffMs,
        Key::RetryBackoffMaxMs,
        Key::EnableAutoCommit,
        Key::AutoCommitIntervalMs,
        Key::AutoOffsetReset,
        Key::IsolationLevel,
        Key::PartitionAssignmentStrategy,
    ];

    const fn name(self) -> &'static str {
        match self {
            Key::GroupId => "group.id",
            Key::ClientId => "client.id",
            Key::GroupInstanceId => "group.instance.id",
            Key::ClientRack => "client.rack",
            Key::SessionTimeoutMs => "session.timeout.ms",
            Key::HeartbeatIntervalMs => "heartbeat.interval.ms",
            Key::MaxPollIntervalMs => "max.poll.interval.ms",
            Key::RequestTimeoutMs => "request.timeout.ms",
            Key::RetryBackoffMs => "retry.backoff.ms",
            Key::RetryBackoffMaxMs => "retry.backoff.max.ms",
            Key::EnableAutoCommit => "enable.auto.commit",
            Key::AutoCommitIntervalMs => "auto.commit.interval.ms",
            Key::AutoOffsetReset => "auto.offset.reset",
            Key::IsolationLevel => "isolation.level",
            Key::PartitionAssignmentStrategy => "partition.assignment.strategy",
        }
    }

    fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl ConsumerConfig {
    /// A config for the group `group_id` with Kafka's defaults for everything else.
    ///
    /// ```
    /// use consumer_groups::consumer::{ConsumerConfig, IsolationLevel, OffsetReset};
    ///
    /// let config = ConsumerConfig::new("billing");
    /// assert_eq!(config.session_timeout_ms, 45_000);
    /// assert_eq!(config.heartbeat_interval_ms, 3_000);
    /// assert_eq!(config.max_poll_interval_ms, 300_000);
    /// assert_eq!(config.auto_offset_reset, OffsetReset::Latest);
    /// assert_eq!(config.isolation_level, IsolationLevel::ReadUncommitted);
    /// assert_eq!(config.assignors, ["range", "cooperative-sticky"]);
    /// assert!(config.validate().is_ok());
    /// ```
    #[must_use]
    pub fn new(group_id: impl Into<GroupId>) -> ConsumerConfig {
        ConsumerConfig {
            group_id: group_id.into(),
            client_id: ClientId::from(DEFAULT_CLIENT_ID),
            group_instance_id: None,
            client_rack: None,
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
            heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
            max_poll_interval_ms: DEFAULT_MAX_POLL_INTERVAL_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            retry_backoff_ms: DEFAULT_RETRY_BACKOFF_MS,
            retry_backoff_max_ms: DEFAULT_RETRY_BACKOFF_MAX_MS,
            enable_auto_commit: true,
            auto_commit_interval_ms: DEFAULT_AUTO_COMMIT_INTERVAL_MS,
            auto_offset_reset: OffsetReset::Latest,
            isolation_level: IsolationLevel::ReadUncommitted,
            assignors: DEFAULT_ASSIGNORS.iter().map(|&a| a.to_owned()).collect(),
        }
    }

    /// Checks every setting, and the settings against each other.
    ///
    /// The rules, each refused with the property it concerns:
    /// * `group.id` is not empty.
    /// * `group.instance.id`, if set, follows Kafka's rule for instance ids: 1 to 249
    ///   characters of `a-z A-Z 0-9 . _ -`, and neither `.` nor `..`.
    /// * `client.rack`, if set, is not empty (an empty rack is `None`, as in Kafka).
    /// * `session.timeout.ms`, `heartbeat.interval.ms`, `max.poll.interval.ms` and
    ///   `request.timeout.ms` are between 1 and `i32::MAX`: they travel in requests as `i32`.
    /// * `heartbeat.interval.ms` is lower than `session.timeout.ms`.
    /// * `auto.commit.interval.ms` is at least 1 when `enable.auto.commit` is on.
    /// * `retry.backoff.ms` is at most `retry.backoff.max.ms`.
    /// * `partition.assignment.strategy` names at least one assignor, no name twice and no
    ///   empty name.
    ///
    /// So that every valid config survives [`to_properties`](ConsumerConfig::to_properties)
    /// and [`from_properties`](ConsumerConfig::from_properties) unchanged, and fits in Kafka's
    /// requests, also:
    /// * `group.id`, `client.id`, `client.rack` and assignor names neither begin nor end with
    ///   whitespace (property values are trimmed) and are at most 32,767 bytes long (Kafka's
    ///   longest string);
    /// * an assignor name has no comma (the list separator) and is not the class name of a
    ///   built-in assignor (write `"range"`, not `org.apache.kafka.clients.consumer.RangeAssignor`).
    ///
    /// ```
    /// use consumer_groups::consumer::ConsumerConfig;
    /// use consumer_groups::Error;
    ///
    /// let mut config = ConsumerConfig::new("billing");
    /// config.heartbeat_interval_ms = config.session_timeout_ms;
    /// let Err(Error::InvalidConfig { key, reason }) = config.validate() else { panic!() };
    /// assert_eq!(key, "heartbeat.interval.ms");
    /// assert_eq!(reason, "heartbeat.interval.ms must be set lower than session.timeout.ms");
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for the first rule broken, with the Kafka property name as
    /// `key`.
    pub fn validate(&self) -> Result<(), Error> {
        check_string(Key::GroupId, &self.group_id)?;
        if self.group_id.is_empty() {
            return Err(invalid(Key::GroupId, "must not be empty"));
        }
        check_string(Key::ClientId, &self.client_id)?;
        if let Some(id) = &self.group_instance_id {
            check_instance_id(id)?;
        }
        if let Some(rack) = &self.client_rack {
            if rack.is_empty() {
                return Err(invalid(
                    Key::ClientRack,
                    "must not be empty; no rack is None (Kafka's empty client.rack)",
                ));
            }
            check_string(Key::ClientRack, rack)?;
        }
        for (key, value) in [
            (Key::SessionTimeoutMs, self.session_timeout_ms),
            (Key::HeartbeatIntervalMs, self.heartbeat_interval_ms),
            (Key::MaxPollIntervalMs, self.max_poll_interval_ms),
            (Key::RequestTimeoutMs, self.request_timeout_ms),
        ] {
            if !(1..=MAX_I32_MS).contains(&value) {
                return Err(invalid(
                    key,
                    format!(
                        "must be between 1 and {MAX_I32_MS} (it travels as an i32), got {value}"
                    ),
                ));
            }
        }
        if self.heartbeat_interval_ms >= self.session_timeout_ms {
            return Err(invalid(
                Key::HeartbeatIntervalMs,
                "heartbeat.interval.ms must be set lower than session.timeout.ms",
            ));
        }
        if self.enable_auto_commit && self.auto_commit_interval_ms == 0 {
            return Err(invalid(
                Key::AutoCommitIntervalMs,
                "must be at least 1 when enable.auto.commit is true",
            ));
        }
        if self.retry_backoff_ms > self.retry_backoff_max_ms {
            return Err(invalid(
                Key::RetryBackoffMs,
                format!(
                    "must be at most retry.backoff.max.ms ({}), got {}",
                    self.retry_backoff_max_ms, self.retry_backoff_ms
                ),
            ));
        }
        self.check_assignors()
    }

    fn check_assignors(&self) -> Result<(), Error> {
        let key = Key::PartitionAssignmentStrategy;
        if self.assignors.is_empty() {
            return Err(invalid(key, "must name at least one assignor"));
        }
        let mut seen = HashSet::with_capacity(self.assignors.len());
        for name in &self.assignors {
            if name.is_empty() {
                return Err(invalid(key, "an assignor name is empty"));
            }
            check_string(key, name)?;
            if name.contains(',') {
                return Err(invalid(
                    key,
                    format!("assignor name {} contains a comma", shown(name)),
                ));
            }
            if let Some((class, short)) = ASSIGNOR_CLASSES.iter().find(|(c, _)| *c == name) {
                return Err(invalid(
                    key,
                    format!("write the built-in assignor {class} by its name {short:?}"),
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(invalid(
                    key,
                    format!("assignor {} is listed twice", shown(name)),
                ));
            }
        }
        Ok(())
    }

    /// Reads a config from Kafka consumer properties, and sorts out the keys it does not use.
    ///
    /// * Keys are matched exactly (case-sensitive, as in Kafka); when a key repeats, its last
    ///   value wins.
    /// * Values are trimmed. Integers are decimal (`"45000"`, `"+45000"`); negatives and
    ///   anything else are refused. Booleans are `true` or `false` in any case.
    ///   `auto.offset.reset` and `isolation.level` take Kafka's lower-case strings.
    /// * `partition.assignment.strategy` is a comma-separated list, preferred first, of
    ///   Kafka's assignor class names (`org.apache.kafka.clients.consumer.RangeAssignor`,
    ///   `…RoundRobinAssignor`, `…StickyAssignor`, `…CooperativeStickyAssignor`), which become
    ///   the short names `range`, `roundrobin`, `sticky`, `cooperative-sticky`; of those short
    ///   names; and of any other name, kept as it is (a custom assignor). Empty entries are
    ///   skipped.
    /// * An empty `client.rack` means no rack; an empty `group.instance.id` is refused.
    /// * `group.id` is required.
    /// * Kafka consumer keys that mean nothing here land in
    ///   [`not_applicable`](FromProperties::not_applicable), unchecked; other keys land in
    ///   [`unknown`](FromProperties::unknown). [`FromProperties::strict`] refuses the latter.
    ///
    /// The config is [validated](ConsumerConfig::validate) before it is returned.
    ///
    /// ```
    /// use consumer_groups::consumer::ConsumerConfig;
    /// use consumer_groups::Error;
    ///
    /// // Lines of a .properties file, say.
    /// let text = "group.id = billing
    ///     client.id = billing-7
    ///     group.instance.id = billing-7
    ///     partition.assignment.strategy = org.apache.kafka.clients.consumer.StickyAssignor, my-assignor
    ///     enable.auto.commit = FALSE
    ///     max.poll.records = 100
    ///     session.timeout.ms = 60000
    ///     session.timeout.ms = 30000";
    /// // Keys are matched as given, so trim them; values are trimmed by `from_properties`.
    /// let props = text.lines().filter_map(|line| line.split_once('=')).map(|(k, v)| (k.trim(), v));
    /// let config = ConsumerConfig::from_properties(props)?.strict()?;
    /// assert_eq!(config.group_instance_id.as_ref().unwrap(), "billing-7");
    /// assert_eq!(config.assignors, ["sticky", "my-assignor"]);
    /// assert!(!config.enable_auto_commit);
    /// assert_eq!(config.session_timeout_ms, 30_000, "the last value wins");
    ///
    /// // Values are checked, and errors name the property.
    /// let err = ConsumerConfig::from_properties([("group.id", "g"), ("session.timeout.ms", "-1")])
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::InvalidConfig { key, .. } if key == "session.timeout.ms"));
    /// let err = ConsumerConfig::from_properties([("client.id", "c")]).unwrap_err();
    /// assert!(matches!(err, Error::InvalidConfig { key, .. } if key == "group.id"));
    /// # Ok::<(), consumer_groups::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a value that does not parse (the first one in input
    /// order), for a missing `group.id`, or for a config that
    /// [`validate`](ConsumerConfig::validate) refuses.
    pub fn from_properties<I, K, V>(props: I) -> Result<FromProperties, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        // For each known key: where it first appeared, and its last value.
        let mut known: [Option<(usize, String)>; Key::ALL.len()] = Default::default();
        let mut unknown = Vec::new();
        let mut not_applicable = Vec::new();
        let mut reported: HashSet<String> = HashSet::new();
        for (position, (key, value)) in props.into_iter().enumerate() {
            let (key, value) = (key.as_ref(), value.as_ref());
            if let Some(k) = Key::from_name(key) {
                let slot = &mut known[k as usize];
                match slot {
                    Some((_, last)) => value.clone_into(last),
                    None => *slot = Some((position, value.to_owned())),
                }
            } else if !reported.contains(key) {
                reported.insert(key.to_owned());
                if is_not_applicable(key) {
                    not_applicable.push(key.to_owned());
                } else {
                    unknown.push(key.to_owned());
                }
            }
        }

        let mut set: Vec<(usize, Key, &str)> = Key::ALL
            .into_iter()
            .filter_map(|k| {
                let (position, value) = known[k as usize].as_ref()?;
                Some((*position, k, value.trim()))
            })
            .collect();
        set.sort_unstable_by_key(|&(position, _, _)| position);

        let mut config = ConsumerConfig::new("");
        let mut has_group_id = false;
        for (_, key, value) in set {
            match key {
                Key::GroupId => {
                    config.group_id = GroupId::from(value);
                    has_group_id = true;
                }
                Key::ClientId => config.client_id = ClientId::from(value),
                Key::GroupInstanceId => {
                    config.group_instance_id = Some(GroupInstanceId::from(value));
                }
                Key::ClientRack => {
                    config.client_rack = (!value.is_empty()).then(|| Rack::from(value));
                }
                Key::SessionTimeoutMs => config.session_timeout_ms = parse_u64(key, value)?,
                Key::HeartbeatIntervalMs => config.heartbeat_interval_ms = parse_u64(key, value)?,
                Key::MaxPollIntervalMs => config.max_poll_interval_ms = parse_u64(key, value)?,
                Key::RequestTimeoutMs => config.request_timeout_ms = parse_u64(key, value)?,
                Key::RetryBackoffMs => config.retry_backoff_ms = parse_u64(key, value)?,
                Key::RetryBackoffMaxMs => config.retry_backoff_max_ms = parse_u64(key, value)?,
                Key::EnableAutoCommit => config.enable_auto_commit = parse_bool(key, value)?,
                Key::AutoCommitIntervalMs => {
                    config.auto_commit_interval_ms = parse_u64(key, value)?;
                }
                Key::AutoOffsetReset => {
                    config.auto_offset_reset = OffsetReset::parse(value)
                        .ok_or_else(|| one_of(key, value, &["earliest", "latest", "none"]))?;
                }
                Key::IsolationLevel => {
                    config.isolation_level = IsolationLevel::parse(value).ok_or_else(|| {
                        one_of(key, value, &["read_uncommitted", "read_committed"])
                    })?;
                }
                Key::PartitionAssignmentStrategy => {
                    config.assignors = value
                        .split(',')
                        .map(str::trim)
                        .filter(|name| !name.is_empty())
                        .map(|name| short_assignor_name(name).to_owned())
                        .collect();
                }
            }
        }
        if !has_group_id {
            return Err(invalid(
                Key::GroupId,
                "is required: a group member needs the id of its group",
            ));
        }
        config.validate()?;
        Ok(FromProperties {
            config,
            unknown,
            not_applicable,
        })
    }

    /// The settings as Kafka consumer properties: every property this config reads, by
    /// Kafka's name, with its value as a string.
    ///
    /// `group.instance.id` is left out when unset; no rack is written as an empty
    /// `client.rack`, as Kafka does; built-in assignors are written by their Kafka class names,
    /// so that a Kafka consumer accepts the list too. For a config that
    /// [`validate`](ConsumerConfig::validate) accepts,
    /// [`from_properties`](ConsumerConfig::from_properties) reads the list back to an equal
    /// config.
    ///
    /// ```
    /// use consumer_groups::consumer::ConsumerConfig;
    ///
    /// let mut config = ConsumerConfig::new("billing");
    /// config.session_timeout_ms = 10_000;
    /// let props = config.to_properties();
    /// assert!(props.contains(&("session.timeout.ms".into(), "10000".into())));
    /// assert!(props.contains(&(
    ///     "partition.assignment.strategy".into(),
    ///     "org.apache.kafka.clients.consumer.RangeAssignor,\
    ///      org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
    ///         .into()
    /// )));
    /// assert_eq!(ConsumerConfig::from_properties(props)?.config, config);
    /// # Ok::<(), consumer_groups::Error>(())
    /// ```
    #[must_use]
    pub fn to_properties(&self) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(Key::ALL.len());
        for key in Key::ALL {
            let value = match key {
                Key::GroupId => self.group_id.to_string(),
                Key::ClientId => self.client_id.to_string(),
                Key::GroupInstanceId => match &self.group_instance_id {
                    Some(id) => id.to_string(),
                    None => continue,
                },
                Key::ClientRack => self
                    .client_rack
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string),
                Key::SessionTimeoutMs => self.session_timeout_ms.to_string(),
                Key::HeartbeatIntervalMs => self.heartbeat_interval_ms.to_string(),
                Key::MaxPollIntervalMs => self.max_poll_interval_ms.to_string(),
                Key::RequestTimeoutMs => self.request_timeout_ms.to_string(),
                Key::RetryBackoffMs => self.retry_backoff_ms.to_string(),
                Key::RetryBackoffMaxMs => self.retry_backoff_max_ms.to_string(),
                Key::EnableAutoCommit => self.enable_auto_commit.to_string(),
                Key::AutoCommitIntervalMs => self.auto_commit_interval_ms.to_string(),
                Key::AutoOffsetReset => self.auto_offset_reset.as_str().to_owned(),
                Key::IsolationLevel => self.isolation_level.as_str().to_owned(),
                Key::PartitionAssignmentStrategy => self
                    .assignors
                    .iter()
                    .map(|name| assignor_class_name(name))
                    .collect::<Vec<_>>()
                    .join(","),
            };
            out.push((key.name().to_owned(), value));
        }
        out
    }
}

fn invalid(key: Key, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        key: key.name().to_owned(),
        reason: reason.into(),
    }
}

/// A value for an error message: quoted, and cut short if long.
fn shown(value: &str) -> String {
    const MAX_CHARS: usize = 40;
    match value.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

fn one_of(key: Key, value: &str, accepted: &[&str]) -> Error {
    invalid(
        key,
        format!(
            "expected one of {}, got {}",
            accepted.join(", "),
            shown(value)
        ),
    )
}

/// Parses a trimmed value as Kafka parses an integer setting: decimal, an optional `+`.
fn parse_u64(key: Key, value: &str) -> Result<u64, Error> {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(magnitude) = value.strip_prefix('-') {
        if all_digits(magnitude) {
            return Err(invalid(
                key,
                format!("must not be negative, got {}", shown(value)),
            ));
        }
    }
    let digits = value.strip_prefix('+').unwrap_or(value);
    if !all_digits(digits) {
        return Err(invalid(
            key,
            format!(
                "expected a non-negative decimal integer, got {}",
                shown(value)
            ),
        ));
    }
    digits.parse().map_err(|_| {
        invalid(
            key,
            format!("{} is too large (at most {})", shown(value), u64::MAX),
        )
    })
}

/// Parses a trimmed value as Kafka parses a boolean setting: `true` or `false`, in any case.
fn parse_bool(key: Key, value: &str) -> Result<bool, Error> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(invalid(
            key,
            format!("expected true or false, got {}", shown(value)),
        ))
    }
}

/// The short name of a built-in assignor given by its Kafka class name; any other name as it is.
fn short_assignor_name(name: &str) -> &str {
    ASSIGNOR_CLASSES
        .iter()
        .find(|(class, _)| *class == name)
        .map_or(name, |(_, short)| short)
}

/// The Kafka class name of a built-in assignor; any other name as it is.
fn assignor_class_name(name: &str) -> &str {
    ASSIGNOR_CLASSES
        .iter()
        .find(|(_, short)| *short == name)
        .map_or(name, |(class, _)| class)
}

/// A string that must survive a trip through a property list and fit in a Kafka request.
fn check_string(key: Key, value: &str) -> Result<(), Error> {
    if value.len() > MAX_KAFKA_STRING {
        return Err(invalid(
            key,
            format!(
                "is {} bytes long; Kafka's strings hold at most {MAX_KAFKA_STRING}",
                value.len()
            ),
        ));
    }
    if value.trim() != value {
        return Err(invalid(
            key,
            format!(
                "{} begins or ends with whitespace, which property values cannot carry",
                shown(value)
            ),
        ));
    }
    Ok(())
}

/// Kafka's rule for `group.instance.id` (`JoinGroupRequest.validateGroupInstanceId`).
fn check_instance_id(id: &str) -> Result<(), Error> {
    let key = Key::GroupInstanceId;
    if id.is_empty() {
        return Err(invalid(
            key,
            "must not be empty; leave it unset for a dynamic member",
        ));
    }
    if id == "." || id == ".." {
        return Err(invalid(key, "cannot be \".\" or \"..\""));
    }
    if id.len() > MAX_INSTANCE_ID {
        return Err(invalid(
            key,
            format!(
                "is {} characters long; at most {MAX_INSTANCE_ID} are allowed",
                id.chars().count()
            ),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(invalid(
            key,
            format!(
                "{} contains {c:?}; only ASCII letters and digits, '.', '_' and '-' are allowed",
                shown(id)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_has_a_distinct_name_that_is_not_also_not_applicable() {
        let names: HashSet<&str> = Key::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Key::ALL.len());
        for (i, k) in Key::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i, "ALL is in declaration order");
            assert_eq!(Key::from_name(k.name()), Some(k));
            assert!(!is_not_applicable(k.name()), "{}", k.name());
        }
    }

    #[test]
    fn integers_parse_as_kafka_parses_them() {
        let k = Key::SessionTimeoutMs;
        assert_eq!(parse_u64(k, "45000").unwrap(), 45_000);
        assert_eq!(parse_u64(k, "+7").unwrap(), 7);
        assert_eq!(parse_u64(k, "007").unwrap(), 7);
        assert_eq!(parse_u64(k, "18446744073709551615").unwrap(), u64::MAX);
        for bad in [
            "", "-1", "-0", "+", "-", "1e3", "0x10", "1_000", "1 000", "٣", "+-1",
        ] {
            assert!(parse_u64(k, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn long_values_are_cut_short_in_messages() {
        let long = "é".repeat(1000);
        assert!(shown(&long).chars().count() < 50);
        assert_eq!(shown("abc"), "\"abc\"");
    }
}
