//! [`Producer`], which appends to [`Topics`] as Kafka's default partitioner places records,
//! and that partitioner's hash.

use std::sync::atomic::{AtomicU32, Ordering};

use super::Topics;
use crate::error::Error;
use crate::sync::Clock;
use crate::types::{Offset, TopicPartition};

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
