//! [`Topics`], the records of an in-process broker, with a time index per partition.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::assignor::TopicSpec;
use crate::error::Error;
use crate::log::{Log, MemoryLog, ReadLimit, Record, RecordView};
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
/// Beside each partition's records, `Topics` keeps a time index: one `(timestamp, offset)`
/// entry for every record whose timestamp is greater than that of every earlier record of the
/// partition. It answers [`offset_for_timestamp`](Topics::offset_for_timestamp) and
/// [`max_timestamp`](Topics::max_timestamp) by binary search, exactly, even when timestamps
/// arrive out of order; it grows only when a partition's largest timestamp does, by 16 bytes
/// per entry. An append takes its partition's index lock around both the log append and the
/// index update, so the index holds its entries in offset order whatever the threads do.
///
/// Topics are never truncated or compacted: every partition starts at offset 0 and keeps every
/// record appended to it, so the index always covers the whole partition.
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
    inner: Arc<RwLock<BTreeMap<Topic, Arc<TopicLog>>>>,
}

/// One topic: its records, and per partition the time index, whose lock every append to the
/// partition holds.
#[derive(Debug)]
struct TopicLog {
    log: MemoryLog,
    times: Box<[RwLock<TimeIndex>]>,
}

impl TopicLog {
    fn new(partitions: u32) -> TopicLog {
        TopicLog {
            log: MemoryLog::new(partitions),
            times: (0..partitions)
                .map(|_| RwLock::new(TimeIndex::default()))
                .collect(),
        }
    }

    fn partition_count(&self) -> u32 {
        self.log.partition_count()
    }
}

/// A partition's time index: `(largest timestamp so far, offset)` for each record whose
/// timestamp is greater than that of every earlier record, in offset order, so both columns
/// strictly increase.
///
/// The running maximum of the timestamps first reaches `t` at exactly the earliest record whose
/// timestamp is at least `t`, and that record is an entry: the first entry whose timestamp is at
/// least `t` is the answer. Records between two entries are no newer than the earlier entry, so
/// the answer holds with out-of-order timestamps too. It assumes the partition is never
/// truncated (see [`Topics`]).
#[derive(Debug, Default)]
struct TimeIndex {
    entries: Vec<(Timestamp, Offset)>,
}

impl TimeIndex {
    /// Records that `offset`, the partition's next record, has `timestamp`.
    fn push(&mut self, timestamp: Timestamp, offset: Offset) {
        if self.entries.last().is_none_or(|&(max, _)| timestamp > max) {
            self.entries.push((timestamp, offset));
        }
    }

    /// The earliest record whose timestamp is at least `timestamp`.
    fn first_at_or_after(&self, timestamp: Timestamp) -> Option<(Timestamp, Offset)> {
        let i = self.entries.partition_point(|&(max, _)| max < timestamp);
        self.entries.get(i).copied()
    }

    /// The earliest record with the largest timestamp.
    fn max(&self) -> Option<(Timestamp, Offset)> {
        self.entries.last().copied()
    }
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
                topics.insert(topic, Arc::new(TopicLog::new(partitions)));
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

    fn log(&self, tp: &TopicPartition) -> Result<(Arc<TopicLog>, u32), Error> {
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
        let (topic, p) = self.log(tp)?;
        // Held across the append, so records enter the index in offset order.
        let mut times = topic.times[p as usize].write();
        let range = topic.log.append(p, &[Record::new(key, value, timestamp)])?;
        let offset = Offset(range.start);
        times.push(timestamp, offset);
        Ok(offset)
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
        let (topic, p) = self.log(tp)?;
        let mut out = Vec::new();
        topic
            .log
            .read(p, from.0, ReadLimit::records(max), &mut |r| {
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
        let (topic, p) = self.log(tp)?;
        Ok(Offset(topic.log.start_offset(p)?))
    }

    /// The offset the next record of a partition will get (`latest`).
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] / [`Error::UnknownPartition`].
    pub fn end_offset(&self, tp: &TopicPartition) -> Result<Offset, Error> {
        let (topic, p) = self.log(tp)?;
        Ok(Offset(topic.log.end_offset(p)?))
    }

    /// The earliest record of a partition whose timestamp is at least `timestamp`, as its
    /// timestamp and offset; `None` when the partition holds no such record (it is empty, or
    /// every record is older). This is Kafka's answer to a ListOffsets by timestamp, also when
    /// timestamps are out of order. A binary search over the partition's time index (see
    /// [`Topics`]): O(log n), no record is read.
    ///
    /// ```
    /// use consumer_groups::sync::Topics;
    /// use consumer_groups::{Offset, Timestamp, TopicPartition};
    ///
    /// let topics = Topics::new();
    /// topics.create("orders", 1)?;
    /// let tp = TopicPartition::new("orders", 0);
    /// for ts in [100, 300, 200, 400] {
    ///     topics.append(&tp, None, Some(b"v"), Timestamp(ts))?;
    /// }
    /// // Offset 2 (200) is older than offset 1 (300), the first record at or after 150.
    /// assert_eq!(
    ///     topics.offset_for_timestamp(&tp, Timestamp(150))?,
    ///     Some((Timestamp(300), Offset(1)))
    /// );
    /// assert_eq!(
    ///     topics.offset_for_timestamp(&tp, Timestamp(400))?,
    ///     Some((Timestamp(400), Offset(3)))
    /// );
    /// assert_eq!(topics.offset_for_timestamp(&tp, Timestamp(401))?, None);
    /// # Ok::<(), consumer_groups::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] / [`Error::UnknownPartition`].
    pub fn offset_for_timestamp(
        &self,
        tp: &TopicPartition,
        timestamp: Timestamp,
    ) -> Result<Option<(Timestamp, Offset)>, Error> {
        let (topic, p) = self.log(tp)?;
        Ok(topic.times[p as usize].read().first_at_or_after(timestamp))
    }

    /// The record of a partition with the largest timestamp, as its timestamp and offset; the
    /// earliest such record when several share it; `None` for an empty partition. This is
    /// Kafka's answer to a ListOffsets for the max timestamp (`-3`, KIP-734), read from the
    /// last entry of the partition's time index.
    ///
    /// ```
    /// use consumer_groups::sync::Topics;
    /// use consumer_groups::{Offset, Timestamp, TopicPartition};
    ///
    /// let topics = Topics::new();
    /// topics.create("orders", 1)?;
    /// let tp = TopicPartition::new("orders", 0);
    /// assert_eq!(topics.max_timestamp(&tp)?, None);
    /// for ts in [100, 300, 200, 300] {
    ///     topics.append(&tp, None, Some(b"v"), Timestamp(ts))?;
    /// }
    /// assert_eq!(topics.max_timestamp(&tp)?, Some((Timestamp(300), Offset(1))));
    /// # Ok::<(), consumer_groups::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`] / [`Error::UnknownPartition`].
    pub fn max_timestamp(&self, tp: &TopicPartition) -> Result<Option<(Timestamp, Offset)>, Error> {
        let (topic, p) = self.log(tp)?;
        Ok(topic.times[p as usize].read().max())
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
        let (topic, p) = self.log(tp)?;
        topic.log.read(p, from.0, limit, visit)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::Ordering;

    fn partition(topics: &Topics, partitions: u32) -> TopicPartition {
        topics.create("t", partitions).unwrap();
        TopicPartition::new("t", 0)
    }

    fn append_all(topics: &Topics, tp: &TopicPartition, timestamps: &[u64]) {
        for (i, &ts) in timestamps.iter().enumerate() {
            let offset = topics.append(tp, None, Some(b"v"), Timestamp(ts)).unwrap();
            assert_eq!(offset, Offset(i as i64));
        }
    }

    /// The earliest record whose timestamp is at least `t`, by reading every record.
    fn scan_for(topics: &Topics, tp: &TopicPartition, t: u64) -> Option<(Timestamp, Offset)> {
        topics
            .read(tp, Offset(0), usize::MAX)
            .unwrap()
            .into_iter()
            .find(|r| r.timestamp.0 >= t)
            .map(|r| (r.timestamp, r.offset))
    }

    /// The earliest record with the largest timestamp, by reading every record.
    fn scan_max(topics: &Topics, tp: &TopicPartition) -> Option<(Timestamp, Offset)> {
        let records = topics.read(tp, Offset(0), usize::MAX).unwrap();
        let max = records.iter().map(|r| r.timestamp).max()?;
        records
            .iter()
            .find(|r| r.timestamp == max)
            .map(|r| (r.timestamp, r.offset))
    }

    fn entries(topics: &Topics, tp: &TopicPartition) -> Vec<(Timestamp, Offset)> {
        let (topic, p) = topics.log(tp).unwrap();
        topic.times[p as usize].read().entries.clone()
    }

    #[test]
    fn in_order_timestamps_find_the_first_record_at_or_after() {
        let topics = Topics::new();
        let tp = partition(&topics, 2);
        append_all(&topics, &tp, &[10, 20, 20, 30, 40]);
        let at = |t| topics.offset_for_timestamp(&tp, Timestamp(t)).unwrap();
        assert_eq!(at(0), Some((Timestamp(10), Offset(0))));
        assert_eq!(at(10), Some((Timestamp(10), Offset(0))));
        assert_eq!(at(11), Some((Timestamp(20), Offset(1))));
        assert_eq!(
            at(20),
            Some((Timestamp(20), Offset(1))),
            "the first of a tie"
        );
        assert_eq!(at(21), Some((Timestamp(30), Offset(3))));
        assert_eq!(at(40), Some((Timestamp(40), Offset(4))));
        assert_eq!(at(41), None, "past the last record");
        assert_eq!(at(u64::MAX), None);
        assert_eq!(
            topics.max_timestamp(&tp).unwrap(),
            Some((Timestamp(40), Offset(4)))
        );
        // One entry per record that raised the maximum.
        assert_eq!(entries(&topics, &tp).len(), 4);
    }

    #[test]
    fn out_of_order_timestamps_skip_older_records() {
        let topics = Topics::new();
        let tp = partition(&topics, 1);
        append_all(&topics, &tp, &[50, 10, 70, 60, 70, 20]);
        let at = |t| topics.offset_for_timestamp(&tp, Timestamp(t)).unwrap();
        assert_eq!(at(5), Some((Timestamp(50), Offset(0))));
        assert_eq!(at(15), Some((Timestamp(50), Offset(0))));
        assert_eq!(at(55), Some((Timestamp(70), Offset(2))));
        assert_eq!(at(71), None);
        // Kafka answers the earliest of the records with the largest timestamp, not the last
        // record.
        assert_eq!(
            topics.max_timestamp(&tp).unwrap(),
            Some((Timestamp(70), Offset(2)))
        );
        assert_eq!(
            entries(&topics, &tp),
            [(Timestamp(50), Offset(0)), (Timestamp(70), Offset(2))]
        );
    }

    #[test]
    fn an_empty_partition_has_no_answer_and_unknown_partitions_are_errors() {
        let topics = Topics::new();
        let tp = partition(&topics, 2);
        append_all(&topics, &TopicPartition::new("t", 1), &[5]);
        assert_eq!(
            topics.offset_for_timestamp(&tp, Timestamp(0)).unwrap(),
            None
        );
        assert_eq!(topics.max_timestamp(&tp).unwrap(), None);
        assert!(matches!(
            topics.offset_for_timestamp(&TopicPartition::new("t", 2), Timestamp(0)),
            Err(Error::UnknownPartition { .. })
        ));
        assert!(matches!(
            topics.max_timestamp(&TopicPartition::new("u", 0)),
            Err(Error::UnknownTopic(_))
        ));
    }

    proptest! {
        #[test]
        fn lookups_match_a_scan_of_the_records(
            timestamps in prop::collection::vec(0u64..40, 0..120),
        ) {
            let topics = Topics::new();
            let tp = partition(&topics, 1);
            append_all(&topics, &tp, &timestamps);
            for t in 0..=41 {
                prop_assert_eq!(
                    topics.offset_for_timestamp(&tp, Timestamp(t)).unwrap(),
                    scan_for(&topics, &tp, t),
                    "t = {}", t
                );
            }
            prop_assert_eq!(topics.max_timestamp(&tp).unwrap(), scan_max(&topics, &tp));
            let index = entries(&topics, &tp);
            prop_assert!(index.len() <= timestamps.len());
            prop_assert!(index.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        }
    }

    /// Threads append to one partition at once, each stamping its record from one shared
    /// counter just before appending, so records often reach the log in another order than
    /// their stamps. The index must be the one a single pass over the log builds.
    #[test]
    fn concurrent_appends_enter_the_index_in_offset_order() {
        const THREADS: u64 = 8;
        const PER_THREAD: u64 = 5_000;
        let topics = Topics::new();
        let tp = partition(&topics, 1);
        let clock = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (topics, tp, clock) = (topics.clone(), tp.clone(), clock.clone());
                std::thread::spawn(move || {
                    for _ in 0..PER_THREAD {
                        let ts = clock.fetch_add(1, Ordering::Relaxed);
                        topics.append(&tp, None, None, Timestamp(ts)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let records = topics.read(&tp, Offset(0), usize::MAX).unwrap();
        assert_eq!(records.len() as u64, THREADS * PER_THREAD);
        let mut rebuilt = TimeIndex::default();
        for r in &records {
            rebuilt.push(r.timestamp, r.offset);
        }
        let index = entries(&topics, &tp);
        if let Some(i) = (0..index.len().max(rebuilt.entries.len()))
            .find(|&i| index.get(i) != rebuilt.entries.get(i))
        {
            panic!(
                "entry {i}: the index holds {:?}, a pass over the log gives {:?}",
                index.get(i),
                rebuilt.entries.get(i)
            );
        }
        for t in (0..THREADS * PER_THREAD).step_by(397) {
            assert_eq!(
                topics.offset_for_timestamp(&tp, Timestamp(t)).unwrap(),
                scan_for(&topics, &tp, t),
                "t = {t}"
            );
        }
        assert_eq!(topics.max_timestamp(&tp).unwrap(), scan_max(&topics, &tp));
    }
}
