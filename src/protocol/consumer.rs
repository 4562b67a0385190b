//! Kafka's consumer protocol: the bytes of a [`Subscription`] and an [`Assignment`].
//!
//! A group whose protocol type is [`CONSUMER_PROTOCOL_TYPE`] (`"consumer"`) carries these bytes
//! opaquely: each member puts its encoded [`Subscription`] in the metadata of every protocol
//! (assignor) it offers in JoinGroup, the leader decodes them all, runs the chosen assignor and
//! sends each member's encoded [`Assignment`] back through SyncGroup.
//!
//! The layout is Kafka's `ConsumerProtocolSubscription` and `ConsumerProtocolAssignment`
//! schemas, non-flexible: an `i16` version, then the fields that version has, in order. Integers
//! are big-endian; a string is an `i16` length and UTF-8 bytes (`-1` for a null string); bytes
//! are an `i32` length and the bytes (`-1` for null); an array is an `i32` count and the
//! elements.
//!
//! | message | version | fields after the version |
//! |---|---|---|
//! | subscription | 0 | topics `[string]`, user data `bytes?` |
//! | subscription | 1 | + owned partitions `[topic string, partitions [i32]]` |
//! | subscription | 2 | + generation id `i32` |
//! | subscription | 3 | + rack id `string?` |
//! | assignment | 0–3 | assigned partitions `[topic string, partitions [i32]]`, user data `bytes?` |
//!
//! Versions are forward compatible: a newer version only appends fields. So decoding accepts
//! any version `>= 0`, reads the fields of `min(version, 3)` and ignores whatever follows when
//! the version is above 3; for versions 0–3 the bytes must end exactly after the last field.
//! Fields a version lacks decode to their defaults: no owned partitions, generation `-1`, no
//! rack. Decoding never panics, and never reserves room for more elements than the bytes left
//! could hold: truncated input, negative or oversized lengths and invalid UTF-8 are a
//! [`ProtocolError`].
//!
//! ```
//! use consumer_groups::protocol::consumer::{Subscription, TopicPartitions};
//!
//! let subscription = Subscription {
//!     topics: vec!["orders".into(), "payments".into()],
//!     user_data: None,
//!     owned_partitions: vec![TopicPartitions::new("orders", [0, 2])],
//!     generation: 4,
//!     rack: Some("eu-west-1a".into()),
//! };
//! let bytes = subscription.encode(3)?;
//! assert_eq!(&bytes[..2], [0, 3], "an i16 version comes first");
//! assert_eq!(Subscription::decode(&bytes)?, (3, subscription.clone()));
//!
//! // Version 0 has only the topics and the user data; the rest decodes to defaults.
//! let (version, v0) = Subscription::decode(&subscription.encode(0)?)?;
//! assert_eq!(version, 0);
//! assert_eq!(v0.topics, subscription.topics);
//! assert_eq!((v0.owned_partitions.len(), v0.generation, v0.rack), (0, -1, None));
//! # Ok::<(), consumer_groups::protocol::consumer::ProtocolError>(())
//! ```

use crate::wire::{Reader, WireError, Writer};

/// The protocol type of a group of consumers, as JoinGroup carries it.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The highest [`Subscription`] version this module writes and fully reads.
pub const SUBSCRIPTION_MAX_VERSION: i16 = 3;

/// The highest [`Assignment`] version this module writes and fully reads.
pub const ASSIGNMENT_MAX_VERSION: i16 = 3;

/// Why a subscription or an assignment could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes ended inside a field, or an array's count promises more elements than the
    /// remaining bytes can hold.
    #[error("truncated: at least {needed} more bytes needed for {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// How many more bytes are needed, at least.
        needed: usize,
    },
    /// A version outside `0..=3` to encode, or a negative version to decode.
    #[error("unsupported {message} version {version}")]
    UnsupportedVersion {
        /// `"subscription"` or `"assignment"`.
        message: &'static str,
        /// The version asked for or found.
        version: i16,
    },
    /// A negative length or count other than a nullable field's `-1` null marker.
    #[error("invalid length {length} for {field}")]
    InvalidLength {
        /// The field.
        field: &'static str,
        /// The length found.
        length: i32,
    },
    /// A string that is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// Bytes left over after the last field of a version (0–3) whose layout is exact.
    #[error("{count} trailing bytes after a version {version} {message}")]
    TrailingBytes {
        /// `"subscription"` or `"assignment"`.
        message: &'static str,
        /// The version found.
        version: i16,
        /// How many bytes were left over.
        count: usize,
    },
    /// A value too large for its length prefix: a string over 32,767 bytes, or bytes or an
    /// array over `i32::MAX`.
    #[error("{field} is too large to encode ({len} bytes or elements)")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
}

/// Some partitions of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TopicPartitions {
    /// The topic.
    pub topic: String,
    /// The partitions, in the order they are written.
    pub partitions: Vec<i32>,
}

impl TopicPartitions {
    /// Partitions `partitions` of `topic`.
    #[must_use]
    pub fn new(topic: impl Into<String>, partitions: impl IntoIterator<Item = i32>) -> Self {
        TopicPartitions {
            topic: topic.into(),
            partitions: partitions.into_iter().collect(),
        }
    }
}

/// What a consumer subscribes to: Kafka's `ConsumerProtocolSubscription`, versions 0–3.
///
/// [`Default`] is the value every field a version lacks decodes to: no topics, null user data,
/// no owned partitions, generation `-1`, null rack.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// The topics the member subscribes to (version 0+).
    pub topics: Vec<String>,
    /// Assignor-specific data, opaque here (version 0+); `None` is written as a null.
    pub user_data: Option<Vec<u8>>,
    /// The partitions the member owns now, for cooperative and sticky assignors (version 1+).
    pub owned_partitions: Vec<TopicPartitions>,
    /// The generation in which the member was given its owned partitions, `-1` if unknown
    /// (version 2+).
    pub generation: i32,
    /// The member's rack, for rack-aware assignment (version 3+).
    pub rack: Option<String>,
}

impl Default for Subscription {
    fn default() -> Self {
        Subscription {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation: -1,
            rack: None,
        }
    }
}

impl Subscription {
    /// A subscription to `topics`, every other field at its default.
    #[must_use]
    pub fn new<T: Into<String>>(topics: impl IntoIterator<Item = T>) -> Self {
        Subscription {
            topics: topics.into_iter().map(Into::into).collect(),
            ..Subscription::default()
        }
    }

    /// Kafka's bytes for this subscription at `version`: the version, then exactly the fields
    /// that version has. Fields it lacks are left out (Kafka marks them ignorable).
    ///
    /// # Errors
    /// [`ProtocolError::UnsupportedVersion`] for a version outside `0..=3`;
    /// [`ProtocolError::TooLarge`] for a topic or rack over 32,767 bytes, or user data or an
    /// array over `i32::MAX`.
    pub fn encode(&self, version: i16) -> Result<Vec<u8>, ProtocolError> {
        check_encode_version("subscription", version, SUBSCRIPTION_MAX_VERSION)?;
        let mut w = Writer::default();
        w.i16(version);
        w.len32("topics", self.topics.len())?;
        for topic in &self.topics {
            w.string("topics", topic)?;
        }
        w.nullable_bytes("user_data", self.user_data.as_deref())?;
        if version >= 1 {
            w.topic_partitions("owned_partitions", &self.owned_partitions)?;
        }
        if version >= 2 {
            w.i32(self.generation);
        }
        if version >= 3 {
            w.nullable_string("rack_id", self.rack.as_deref())?;
        }
        Ok(w.0)
    }

    /// Reads a subscription, returning the version found on the wire and the fields of
    /// `min(version, 3)`; fields that version lacks get their [`Default`] values.
    ///
    /// # Errors
    /// [`ProtocolError::UnsupportedVersion`] for a negative version, and any other
    /// [`ProtocolError`] for bytes that do not hold a subscription of their version. Bytes after
    /// the known fields are an error for versions 0–3 and ignored above.
    pub fn decode(bytes: &[u8]) -> Result<(i16, Self), ProtocolError> {
        let mut r = Reader(bytes);
        let version = r.version("subscription")?;
        let count = r.count("topics", MIN_STRING)?;
        let mut topics = Vec::with_capacity(count);
        for _ in 0..count {
            topics.push(r.string("topics")?);
        }
        let user_data = r.nullable_bytes("user_data")?;
        let owned_partitions = if version >= 1 {
            r.topic_partitions("owned_partitions")?
        } else {
            Vec::new()
        };
        let generation = if version >= 2 {
            r.i32("generation_id")?
        } else {
            -1
        };
        let rack = if version >= 3 {
            r.nullable_string("rack_id")?
        } else {
            None
        };
        r.finish("subscription", version, SUBSCRIPTION_MAX_VERSION)?;
        let subscription = Subscription {
            topics,
            user_data,
            owned_partitions,
            generation,
            rack,
        };
        Ok((version, subscription))
    }
}

/// What the leader gives one member: Kafka's `ConsumerProtocolAssignment`, versions 0–3 (all
/// four have the same fields).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Assignment {
    /// The partitions assigned to the member.
    pub partitions: Vec<TopicPartitions>,
    /// Assignor-specific data, opaque here; `None` is written as a null.
    pub user_data: Option<Vec<u8>>,
}

impl Assignment {
    /// Kafka's bytes for this assignment at `version`: the version, the assigned partitions and
    /// the user data.
    ///
    /// # Errors
    /// [`ProtocolError::UnsupportedVersion`] for a version outside `0..=3`;
    /// [`ProtocolError::TooLarge`] for a topic over 32,767 bytes, or user data or an array over
    /// `i32::MAX`.
    pub fn encode(&self, version: i16) -> Result<Vec<u8>, ProtocolError> {
        check_encode_version("assignment", version, ASSIGNMENT_MAX_VERSION)?;
        let mut w = Writer::default();
        w.i16(version);
        w.topic_partitions("assigned_partitions", &self.partitions)?;
        w.nullable_bytes("user_data", self.user_data.as_deref())?;
        Ok(w.0)
    }

    /// Reads an assignment, returning the version found on the wire and the fields.
    ///
    /// Empty bytes are not an assignment (they are [`ProtocolError::Truncated`]): a coordinator
    /// that got no assignment for a member from the leader sends it empty bytes, and what that
    /// means is the caller's decision.
    ///
    /// # Errors
    /// [`ProtocolError::UnsupportedVersion`] for a negative version, and any other
    /// [`ProtocolError`] for bytes that do not hold an assignment of their version. Bytes after
    /// the known fields are an error for versions 0–3 and ignored above.
    pub fn decode(bytes: &[u8]) -> Result<(i16, Self), ProtocolError> {
        let mut r = Reader(bytes);
        let version = r.version("assignment")?;
        let partitions = r.topic_partitions("assigned_partitions")?;
        let user_data = r.nullable_bytes("user_data")?;
        r.finish("assignment", version, ASSIGNMENT_MAX_VERSION)?;
        Ok((
            version,
            Assignment {
                partitions,
                user_data,
            },
        ))
    }
}

fn check_encode_version(
    message: &'static str,
    version: i16,
    max: i16,
) -> Result<(), ProtocolError> {
    if (0..=max).contains(&version) {
        Ok(())
    } else {
        Err(ProtocolError::UnsupportedVersion { message, version })
    }
}

/// The fewest bytes a string takes: its `i16` length.
const MIN_STRING: usize = 2;
/// The fewest bytes an `i32` takes.
const MIN_I32: usize = 4;
/// The fewest bytes a topic's partitions take: an empty topic string and an empty array.
const MIN_TOPIC_PARTITIONS: usize = MIN_STRING + 4;

impl From<WireError> for ProtocolError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated { field, needed } => ProtocolError::Truncated { field, needed },
            WireError::InvalidLength { field, length } => ProtocolError::InvalidLength {
                field,
                // Lengths are read from `i16`s and `i32`s: they fit.
                length: i32::try_from(length).unwrap_or(i32::MIN),
            },
            WireError::InvalidUtf8 { field } => ProtocolError::InvalidUtf8 { field },
            WireError::TooLarge { field, len } => ProtocolError::TooLarge { field, len },
        }
    }
}

impl Writer {
    fn topic_partitions(
        &mut self,
        field: &'static str,
        list: &[TopicPartitions],
    ) -> Result<(), ProtocolError> {
        self.len32(field, list.len())?;
        for tp in list {
            self.string("topic", &tp.topic)?;
            self.len32("partitions", tp.partitions.len())?;
            for &p in &tp.partitions {
                self.i32(p);
            }
        }
        Ok(())
    }
}

impl Reader<'_> {
    fn version(&mut self, message: &'static str) -> Result<i16, ProtocolError> {
        let version = self.i16("version")?;
        if version < 0 {
            return Err(ProtocolError::UnsupportedVersion { message, version });
        }
        Ok(version)
    }

    fn topic_partitions(
        &mut self,
        field: &'static str,
    ) -> Result<Vec<TopicPartitions>, ProtocolError> {
        let count = self.count(field, MIN_TOPIC_PARTITIONS)?;
        let mut list = Vec::with_capacity(count);
        for _ in 0..count {
            let topic = self.string("topic")?;
            let n = self.count("partitions", MIN_I32)?;
            let mut partitions = Vec::with_capacity(n);
            for _ in 0..n {
                partitions.push(self.i32("partitions")?);
            }
            list.push(TopicPartitions { topic, partitions });
        }
        Ok(list)
    }

    /// Versions up to `max` end exactly after their fields; newer ones may append more.
    fn finish(self, message: &'static str, version: i16, max: i16) -> Result<(), ProtocolError> {
        if version <= max && !self.0.is_empty() {
            return Err(ProtocolError::TrailingBytes {
                message,
                version,
                count: self.0.len(),
            });
        }
        Ok(())
    }
}

/// A [`Subscription`] read in place: the decoded fields borrow from the bytes, so reading one
/// allocates nothing. The leader of a large group decodes every member's subscription; this is
/// the way to do it without a `String` per topic.
///
/// [`decode`](Self::decode) checks the whole message exactly as [`Subscription::decode`] does
/// (same errors for the same bytes), so the iterators it hands out cannot fail.
///
/// ```
/// use consumer_groups::protocol::consumer::{Subscription, SubscriptionRef, TopicPartitions};
///
/// let subscription = Subscription {
///     topics: vec!["orders".into(), "payments".into()],
///     owned_partitions: vec![TopicPartitions::new("orders", [0, 2])],
///     generation: 4,
///     ..Subscription::default()
/// };
/// let bytes = subscription.encode(3)?;
/// let (version, s) = SubscriptionRef::decode(&bytes)?;
/// assert_eq!(version, 3);
/// assert_eq!(s.topics().collect::<Vec<&str>>(), ["orders", "payments"]);
/// let (topic, partitions) = s.owned_partitions().next().unwrap();
/// assert_eq!((topic, partitions.collect::<Vec<i32>>()), ("orders", vec![0, 2]));
/// assert_eq!((s.generation(), s.rack(), s.user_data()), (4, None, None));
/// assert_eq!(s.to_subscription(), subscription);
/// assert!(SubscriptionRef::decode(&bytes[..bytes.len() - 1]).is_err());
/// # Ok::<(), consumer_groups::protocol::consumer::ProtocolError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRef<'a> {
    topics: TopicNames<'a>,
    user_data: Option<&'a [u8]>,
    owned_partitions: OwnedPartitions<'a>,
    generation: i32,
    rack: Option<&'a str>,
}

impl<'a> SubscriptionRef<'a> {
    /// Reads a subscription in place, returning the version found on the wire. Accepts and
    /// refuses exactly the bytes [`Subscription::decode`] does, with the same errors.
    ///
    /// # Errors
    /// As [`Subscription::decode`].
    pub fn decode(bytes: &'a [u8]) -> Result<(i16, Self), ProtocolError> {
        let mut r = Reader(bytes);
        let version = r.version("subscription")?;
        let count = r.count("topics", MIN_STRING)?;
        let start = r.0;
        for _ in 0..count {
            r.str("topics")?;
        }
        let topics = TopicNames {
            bytes: consumed(start, r.0),
            left: count,
        };
        let user_data = r.nullable_bytes_ref("user_data")?;
        let owned_partitions = if version >= 1 {
            r.topic_partitions_ref("owned_partitions")?
        } else {
            OwnedPartitions::default()
        };
        let generation = if version >= 2 {
            r.i32("generation_id")?
        } else {
            -1
        };
        let rack = if version >= 3 {
            r.nullable_str("rack_id")?
        } else {
            None
        };
        r.finish("subscription", version, SUBSCRIPTION_MAX_VERSION)?;
        Ok((
            version,
            SubscriptionRef {
                topics,
                user_data,
                owned_partitions,
                generation,
                rack,
            },
        ))
    }

    /// The topics subscribed to, in wire order.
    #[must_use]
    pub fn topics(&self) -> TopicNames<'a> {
        self.topics.clone()
    }

    /// The user data (`None` for a null).
    #[must_use]
    pub fn user_data(&self) -> Option<&'a [u8]> {
        self.user_data
    }

    /// The partitions the member owns, per topic, in wire order (none before version 1).
    #[must_use]
    pub fn owned_partitions(&self) -> OwnedPartitions<'a> {
        self.owned_partitions.clone()
    }

    /// The generation of the owned partitions, `-1` if unknown or before version 2.
    #[must_use]
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// The member's rack (`None` for a null, or before version 3).
    #[must_use]
    pub fn rack(&self) -> Option<&'a str> {
        self.rack
    }

    /// The owned [`Subscription`] with the same fields.
    #[must_use]
    pub fn to_subscription(&self) -> Subscription {
        Subscription {
            topics: self.topics().map(str::to_owned).collect(),
            user_data: self.user_data.map(<[u8]>::to_vec),
            owned_partitions: self
                .owned_partitions()
                .map(|(topic, partitions)| TopicPartitions {
                    topic: topic.to_owned(),
                    partitions: partitions.collect(),
                })
                .collect(),
            generation: self.generation,
            rack: self.rack.map(str::to_owned),
        }
    }
}

/// The bytes between `start` and `rest`, where `rest` is a tail of `start`.
fn consumed<'a>(start: &'a [u8], rest: &'a [u8]) -> &'a [u8] {
    start.get(..start.len() - rest.len()).unwrap_or_default()
}

/// The topic names of a [`SubscriptionRef`], as `&str`s borrowed from its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicNames<'a> {
    /// The encoded strings not yet read, checked by the decoder.
    bytes: &'a [u8],
    left: usize,
}

impl<'a> Iterator for TopicNames<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        let mut r = Reader(self.bytes);
        // The decoder checked these bytes; should they somehow not hold a string, the
        // iteration ends instead of panicking.
        let Ok(s) = r.str("topics") else {
            self.left = 0;
            return None;
        };
        self.bytes = r.0;
        self.left -= 1;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for TopicNames<'_> {}

/// Per-topic partition lists borrowed from encoded bytes: the owned partitions of a
/// [`SubscriptionRef`]. Yields each topic with an iterator over its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedPartitions<'a> {
    /// The encoded `(topic, [partition])` entries not yet read, checked by the decoder.
    bytes: &'a [u8],
    left: usize,
}

impl<'a> Iterator for OwnedPartitions<'a> {
    type Item = (&'a str, PartitionNumbers<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let mut r = Reader(self.bytes);
        let entry = r.str("topic").and_then(|topic| {
            let n = r.count("partitions", MIN_I32)?;
            let bytes = r.take("partitions", n * MIN_I32)?;
            Ok((topic, PartitionNumbers { bytes }))
        });
        let Ok(entry) = entry else {
            self.left = 0;
            return None;
        };
        self.bytes = r.0;
        self.left -= 1;
        Some(entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for OwnedPartitions<'_> {}

/// The partition numbers of one topic, read from their big-endian `i32`s in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionNumbers<'a> {
    bytes: &'a [u8],
}

impl Iterator for PartitionNumbers<'_> {
    type Item = i32;

    fn next(&mut self) -> Option<i32> {
        let (head, tail) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = tail;
        Some(i32::from_be_bytes(*head))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bytes.len() / MIN_I32;
        (n, Some(n))
    }
}

impl ExactSizeIterator for PartitionNumbers<'_> {}

impl<'a> Reader<'a> {
    /// Nullable bytes, borrowed; the same checks and errors as `nullable_bytes`.
    fn nullable_bytes_ref(
        &mut self,
        field: &'static str,
    ) -> Result<Option<&'a [u8]>, ProtocolError> {
        let n = self.i32(field)?;
        if n == -1 {
            return Ok(None);
        }
        let len =
            usize::try_from(n).map_err(|_| ProtocolError::InvalidLength { field, length: n })?;
        Ok(Some(self.take(field, len)?))
    }

    /// `[topic, [partition]]` entries, checked and borrowed; the same checks and errors as
    /// `topic_partitions`.
    fn topic_partitions_ref(
        &mut self,
        field: &'static str,
    ) -> Result<OwnedPartitions<'a>, ProtocolError> {
        let count = self.count(field, MIN_TOPIC_PARTITIONS)?;
        let start = self.0;
        for _ in 0..count {
            self.str("topic")?;
            let n = self.count("partitions", MIN_I32)?;
            self.take("partitions", n * MIN_I32)?;
        }
        Ok(OwnedPartitions {
            bytes: consumed(start, self.0),
            left: count,
        })
    }
}

impl Assignment {
    /// Kafka's bytes for an assignment given as `(topic, partitions)` pairs, written straight
    /// into a buffer of the exact size, without building an [`Assignment`] first. The bytes are
    /// the same as [`encode`](Self::encode) gives for an `Assignment` with the same topics,
    /// partitions and user data, in the same order.
    ///
    /// `topics` is walked twice (once to size the buffer), hence `Clone`; the partition
    /// iterators' `size_hint` only sizes the buffer, and the counts written are the numbers of
    /// partitions actually yielded.
    ///
    /// ```
    /// use consumer_groups::protocol::consumer::{Assignment, TopicPartitions};
    ///
    /// let plan: Vec<(&str, Vec<i32>)> = vec![("orders", vec![0, 3]), ("payments", vec![1])];
    /// let bytes = Assignment::encode_topics(
    ///     3,
    ///     plan.iter().map(|(t, ps)| (*t, ps.iter().copied())),
    ///     None,
    /// )?;
    /// let owned = Assignment {
    ///     partitions: vec![TopicPartitions::new("orders", [0, 3]), TopicPartitions::new("payments", [1])],
    ///     user_data: None,
    /// };
    /// assert_eq!(bytes, owned.encode(3)?);
    /// assert_eq!(bytes.len(), bytes.capacity());
    /// # Ok::<(), consumer_groups::protocol::consumer::ProtocolError>(())
    /// ```
    ///
    /// # Errors
    /// As [`encode`](Self::encode): [`ProtocolError::UnsupportedVersion`] for a version outside
    /// `0..=3`, [`ProtocolError::TooLarge`] for a topic over 32,767 bytes, or user data or an
    /// array over `i32::MAX`.
    pub fn encode_topics<'t, T, P>(
        version: i16,
        topics: T,
        user_data: Option<&[u8]>,
    ) -> Result<Vec<u8>, ProtocolError>
    where
        T: IntoIterator<Item = (&'t str, P)>,
        T::IntoIter: Clone,
        P: IntoIterator<Item = i32>,
    {
        check_encode_version("assignment", version, ASSIGNMENT_MAX_VERSION)?;
        let topics = topics.into_iter();
        let mut size = 2 + 4 + 4 + user_data.map_or(0, <[u8]>::len);
        for (topic, partitions) in topics.clone() {
            let n = partitions.into_iter().size_hint().0;
            size = size
                .saturating_add(2 + topic.len() + 4)
                .saturating_add(n.saturating_mul(4));
        }
        let mut w = Writer(Vec::with_capacity(size));
        w.i16(version);
        let count_at = w.0.len();
        w.i32(0);
        let mut count = 0usize;
        for (topic, partitions) in topics {
            w.string("topic", topic)?;
            let n_at = w.0.len();
            w.i32(0);
            let mut n = 0usize;
            for p in partitions {
                w.i32(p);
                n += 1;
            }
            patch_len(&mut w.0, n_at, "partitions", n)?;
            count += 1;
        }
        patch_len(&mut w.0, count_at, "assigned_partitions", count)?;
        w.nullable_bytes("user_data", user_data)?;
        Ok(w.0)
    }
}

/// Writes `len` as the `i32` at `at` in `buf`.
fn patch_len(
    buf: &mut [u8],
    at: usize,
    field: &'static str,
    len: usize,
) -> Result<(), ProtocolError> {
    let n = i32::try_from(len).map_err(|_| ProtocolError::TooLarge { field, len })?;
    if let Some(slot) = buf.get_mut(at..at + 4) {
        slot.copy_from_slice(&n.to_be_bytes());
    }
    Ok(())
}
