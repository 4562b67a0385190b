//! [`Topics`], the records of an in-process broker, and [`Producer`], which appends to them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::RwLock;

use crate::assignor::TopicSpec;
use crate::error::Error;
use crate::log::{Log, MemoryLog, ReadLimit, Record, RecordView};
use crate::sync::Clock;
use crate::types::{Offset, Timestamp, Topic, TopicPartition};

/// A record as a consumer reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Where it was read from.
    pub partition: TopicPartition,
    /// Its offset in the partition.
    pub offset: Offset,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value (`None` for a tombstone).
    pub value: Option<Vec<u8>>,
    /// When it was appended.
    pub timestamp: Timestamp,
}

/// Topics of records, each a [`MemoryLog`] with one log partition per topic partition. Clones
/// share the same topics; every method takes `&self` and is safe from many threads.
///
/// ```
/// use consumer_groups::sync::Topics;
/// use consumer_groups::{Offset, Timestamp, TopicPartition};
///
/// let topics = Topics::new();
/// topics.create("orders", 3)?;
/// let tp = TopicPartition::new("orders", 1);
/// topics.append(&tp, Some(b"k"), Some(b"v"), Timestamp(0))?;
/// assert_eq!(topics.end_offset(&tp)?, Offset(1));
/// let records = topics.read(&tp, Offset(0), 10)?;
/// assert_eq!(records[0].value.as_deref(), Some(&b"v"[..]));
/// # Ok::<(), consumer_groups::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Topics {
    inner: Arc<RwLock<BTreeMap<Topic, Arc<MemoryLog>>>>,
}

impl Topics {
    /// No topics yet.
    #[must_use]
    pub fn new() -> Topics {
        Topics::default()
    }

    /// Creates `topic` with `partitions` partitions; creating an existing topic with the same
    /// count does nothing.
    ///
    /// # Errors
    /// [`Error::EmptyId`] for an empty name; [`Error::InvalidPartitionCount`] for zero
    /// partitions, more than `i32::MAX`, or a topic that exists with another count.
    pub fn create(&self, topic: impl Into<Topic>, partitions: u32) -> Result<(), Error> {
        let topic = topic.into();
        if topic.is_empty() {
            return Err(Error::EmptyId("topic name"));
        }
        if partitions == 0 || partitions > i32::MAX as u32 {
            return Err(Error::InvalidPartitionCount {
                topic: topic.to_string(),
                reason: format!("{partitions} partitions"),
            });
        }
        let mut topics = self.inner.write();
        match topics.get(&topic) {
            Some(log) if log.partition_count() == partitions => Ok(()),
            Some(log) => Err(Error::InvalidPartitionCount {
                topic: topic.to_string(),
                reason: format!("exists with {} partitions", log.partition_count()),
            }),
            None => {
                topics.insert(topic, Arc::new(MemoryLog::new(partitions)));
                Ok(())
            }
        }
    }

    /// The partition count of `topic`.
    #[must_use]
    pub fn partitions(&self, topic: &str) -> Option<u32> {
        self.inner
            .read()
            .get(topic)
            .map(|log| log.partition_count())
    }

    /// Every topic with its partition count, sorted by name: the metadata members need.
    #[must_use]
    pub fn specs(&self) -> Vec<TopicSpec> {
        self.inner
            .read()
            .iter()
            .map(|(t, log)| TopicSpec::new(t.clone(), log.partition_count()))
            .collect()
    }

    fn log(&self, tp: &TopicPartition) -> Result<(Arc<MemoryLog>, u32), Error> {
        let log = self
            .inner
            .read()
            .get(&tp.topic)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic(tp.topic.to_string()))?;
        let partition = u32::try_from(tp.partition)
            .ok()
            .filter(|&p| p < log.partition_count())
            .ok_or_else(|| Error::UnknownPartition {
                topic: tp.topic.to_string(),
                partition: tp.partition,
            })?;
        Ok((log, partition))
    }

    /// Appends one record to a partition and returns its offset.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] / [`Error::UnknownPartition`]; [`Error::RecordTooLarge`].
    pub fn append(
        &self,
        tp: &TopicPartition,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: Timestamp,
    ) -> Result<Offset, Error> {
        let (log, p) = self.log(tp)?;
        let range = log.append(p, &[Record::new(key, value, timestamp)])?;
        Ok(Offset(range.start))
    }

    /// Up to `max` records of a partition from offset `from`.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] / [`Error::UnknownPartition`]; [`Error::OffsetOutOfRange`] for
    /// an offset outside the partition.
    pub fn read(
        &self,
        tp: &TopicPartition,
        from: Offset,
        max: usize,
    ) -> Result<Vec<ConsumerRecord>, Error> {
        let (log, p) = self.log(tp)?;
        let mut out = Vec::new();
        log.read(p, from.0, ReadLimit::records(max), &mut |r| {
            out.push(ConsumerRecord {
                partition: tp.clone(),
                offset: Offset(r.offset),
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
                timestamp: r.timestamp,
            });
        })?;
        Ok(out)
    }

    /// The first offset of a partition (`earliest`).
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] / [`Error::UnknownPartition`].
    pub fn start_offset(&self, tp: &TopicPartition) -> Result<Offset, Error> {
        let (log, p) = self.log(tp)?;
        Ok(Offset(log.start_offset(p)?))
    }

    /// The offset the next record of a partition will get (`latest`).
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] / [`Error::UnknownPartition`].
    pub fn end_offset(&self, tp: &TopicPartition) -> Result<Offset, Error> {
        let (log, p) = self.log(tp)?;
        Ok(Offset(log.end_offset(p)?))
    }

    /// The number of topics.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.read().len()
    }

    /// Whether there are no topics.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.read().is_empty()
    }

    /// Visits the records of a partition from offset `from` within `limit`, borrowed from the
    /// log (no copy): what a server needs to encode a fetch straight from the log.
    ///
    /// ```
    /// use consumer_groups::log::ReadLimit;
    /// use consumer_groups::sync::Topics;
    /// use consumer_groups::{Offset, Timestamp, TopicPartition};
    ///
    /// let topics = Topics::new();
    /// topics.create("orders", 1)?;
    /// let tp = TopicPartition::new("orders", 0);
    /// for v in [&b"a"[..], b"bb", b"ccc"] {
    ///     topics.append(&tp, None, Some(v), Timestamp(0))?;
    /// }
    /// let mut sizes = Vec::new();
    /// topics.visit(&tp, Offset(1), ReadLimit::records(10), &mut |r| {
    ///     sizes.push(r.value.map_or(0, <[u8]>::len));
    /// })?;
    /// assert_eq!(sizes, [2, 3]);
    /// # Ok::<(), consumer_groups::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] / [`Error::UnknownPartition`]; [`Error::OffsetOutOfRange`] for
    /// an offset outside the partition.
    pub fn visit(
        &self,
        tp: &TopicPartition,
        from: Offset,
        limit: ReadLimit,
        visit: &mut dyn FnMut(RecordView<'_>),
    ) -> Result<(), Error> {
        let (log, p) = self.log(tp)?;
        log.read(p, from.0, limit, visit)?;
        Ok(())
    }
}

/// Kafka's murmur2 hash (the default partitioner's), over `data`.
#[must_use]
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Kafka hashes the length as a Java int.
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner gives a keyed record:
/// `(murmur2(key) & 0x7fffffff) % partitions`.
#[must_use]
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    if partitions == 0 {
        return 0;
    }
    ((murmur2(key) as u32) & 0x7fff_ffff) % partitions
}

/// Appends records to [`Topics`]: a keyed record goes to the partition of its key (Kafka's
/// default partitioner), an unkeyed one to the next partition in turn.
///
/// ```
/// use consumer_groups::sync::{Clock, Producer, Topics};
///
/// let topics = Topics::new();
/// topics.create("orders", 4)?;
/// let producer = Producer::new(topics.clone(), Clock::default());
/// let (a, _) = producer.send("orders", Some(b"customer-7"), b"first")?;
/// let (b, _) = producer.send("orders", Some(b"customer-7"), b"second")?;
/// assert_eq!(a, b, "one key, one partition");
/// # Ok::<(), consumer_groups::Error>(())
/// ```
#[derive(Debug)]
pub struct Producer {
    topics: Topics,
    clock: Clock,
    next: AtomicU32,
}

impl Producer {
    /// A producer appending to `topics`, stamping records with `clock`.
    #[must_use]
    pub fn new(topics: Topics, clock: Clock) -> Producer {
        Producer {
            topics,
            clock,
            next: AtomicU32::new(0),
        }
    }

    /// Appends one record and returns where it went.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`]; [`Error::RecordTooLarge`].
    pub fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
    ) -> Result<(TopicPartition, Offset), Error> {
        let partitions = self
            .topics
            .partitions(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let partition = match key {
            Some(k) => partition_for_key(k, partitions),
            None => self.next.fetch_add(1, Ordering::Relaxed) % partitions,
        };
        let tp = TopicPartition::new(topic, partition as i32);
        let offset = self
            .topics
            .append(&tp, key, Some(value), self.clock.now())?;
        Ok((tp, offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (data, expected) in cases {
            assert_eq!(
                murmur2(data),
                expected,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
}
