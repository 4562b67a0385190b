//! Identifiers and small value types shared by every part of the crate.
//!
//! Names are newtypes over a shared `Arc<str>`: cloning one is a reference-count increment, so a
//! topic name can be handed to thousands of partitions without copying the string, and a
//! [`Generation`] cannot be passed where an [`Offset`] is expected.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Creates the name from anything string-like.
            pub fn new(name: impl Into<Arc<str>>) -> Self {
                $name(name.into())
            }

            /// The name as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// `true` if the name is the empty string.
            #[must_use]
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(Arc::from(s))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(Arc::from(s))
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                $name(Arc::from(s.as_str()))
            }
        }

        impl From<Arc<str>> for $name {
            fn from(s: Arc<str>) -> Self {
                $name(s)
            }
        }

        impl From<&$name> for $name {
            fn from(s: &$name) -> Self {
                s.clone()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }
    };
}

name_type!(
    /// The id of a consumer group (Kafka's `group.id`).
    GroupId
);
name_type!(
    /// A member id, assigned by the group coordinator when a member first joins.
    MemberId
);
name_type!(
    /// A static member's `group.instance.id` (KIP-345): stable across restarts.
    GroupInstanceId
);
name_type!(
    /// A topic name.
    Topic
);
name_type!(
    /// A rack (availability zone) of a member (`client.rack`) or of a partition replica.
    Rack
);
name_type!(
    /// A client id, as the client reports it (`client.id`).
    ClientId
);

/// A partition of a topic. Partitions of a topic are numbered `0..n`.
///
/// Ordered by topic name, then partition number: the order of every list this crate prints.
///
/// ```
/// use consumer_groups::TopicPartition;
///
/// let tp = TopicPartition::new("orders", 3);
/// assert_eq!(tp.to_string(), "orders:3");
/// assert!(TopicPartition::new("a", 9) < TopicPartition::new("b", 0));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: Topic,
    /// The partition number (Kafka's partitions are `i32`).
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<Topic>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Debug for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.topic, self.partition)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.topic, self.partition)
    }
}

/// The error of parsing a [`TopicPartition`] from `topic:partition`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected TOPIC:PARTITION with a non-empty topic and a partition in 0..=2147483647, got {0:?}"
)]
pub struct ParseTopicPartitionError(pub String);

/// Parses `topic:partition`; the partition is what follows the last `:`.
///
/// ```
/// use consumer_groups::TopicPartition;
///
/// let tp: TopicPartition = "orders:7".parse().unwrap();
/// assert_eq!(tp, TopicPartition::new("orders", 7));
/// assert!("orders".parse::<TopicPartition>().is_err());
/// assert!("orders:-1".parse::<TopicPartition>().is_err());
/// ```
impl std::str::FromStr for TopicPartition {
    type Err = ParseTopicPartitionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseTopicPartitionError(s.to_string());
        let (topic, partition) = s.rsplit_once(':').ok_or_else(err)?;
        let partition: i32 = partition.parse().map_err(|_| err())?;
        if topic.is_empty() || partition < 0 {
            return Err(err());
        }
        Ok(TopicPartition::new(topic, partition))
    }
}

/// An offset in a partition. A *committed* offset is the offset of the next record the group will
/// read: having processed the record at offset 500, a member commits 501.
///
/// Any `i64` is representable, including the negative sentinels real clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Offset(pub i64);

impl Offset {
    /// The offset as an `i64`.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A group generation (the group epoch): incremented by every completed rebalance.
///
/// Requests carry the generation they were issued under; the coordinator fences stale ones.
/// [`Generation::NONE`] (`-1`) is Kafka's "no generation", used by members that have never
/// completed a rebalance and by commits from consumers outside group management.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Generation(pub i32);

impl Generation {
    /// Kafka's "no generation" (`-1`).
    pub const NONE: Generation = Generation(-1);

    /// The generation as an `i32`.
    #[must_use]
    pub const fn get(self) -> i32 {
        self.0
    }

    /// The generation after this one.
    #[must_use]
    pub const fn next(self) -> Generation {
        Generation(self.0.wrapping_add(1))
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A point in time: milliseconds on a clock the host chooses. Nothing in the crate reads a clock;
/// every input that can move a timer takes a `Timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Milliseconds since the host's epoch.
    #[must_use]
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// This time plus `ms` milliseconds, saturating.
    #[must_use]
    pub const fn plus_millis(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_borrow_as_str_for_map_lookups() {
        let mut m = std::collections::HashMap::new();
        m.insert(Topic::from("orders"), 1);
        assert_eq!(m.get("orders"), Some(&1));
        assert_eq!(Topic::from("orders"), "orders");
    }

    #[test]
    fn topic_partitions_order_by_topic_then_partition() {
        let mut v = [
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 10),
            TopicPartition::new("a", 2),
        ];
        v.sort();
        let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["a:2", "a:10", "b:0"]);
    }

    #[test]
    fn generation_next_wraps_instead_of_panicking() {
        assert_eq!(Generation(i32::MAX).next(), Generation(i32::MIN));
        assert_eq!(Generation::NONE.next(), Generation(0));
    }
}
