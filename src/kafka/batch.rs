//! Record batches (format v2, uncompressed), read in place and written in one pass.
//!
//! The reader is the only reading of produced records: it walks each batch and each record
//! within the bytes the frame holds, checks the batch's CRC-32C and that every record's fields
//! fill exactly its declared length, and allocates nothing sized from the wire. Records are
//! borrowed slices of the request.

use crate::types::Timestamp;

/// Bytes before the first record of a batch.
pub(super) const HEADER: usize = 61;
/// Where the CRC-covered part of a batch starts (its attributes).
const CRC_FROM: usize = 21;

/// Why a batch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BatchError {
    /// Not a well-formed v2 batch (Kafka's CORRUPT_MESSAGE).
    Corrupt,
    /// A compressed batch (Kafka's UNSUPPORTED_COMPRESSION_TYPE here).
    Compressed,
}

/// One batch's header and its records' bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batch<'a> {
    /// The batch's attributes (compression, timestamp type, transactional, control).
    pub(super) attributes: i16,
    /// The timestamp the records' deltas count from.
    pub(super) base_timestamp: i64,
    records: &'a [u8],
}

impl Batch<'_> {
    /// Whether this is a control batch (transaction markers).
    pub(super) fn is_control(&self) -> bool {
        self.attributes & (1 << 5) != 0
    }

    /// Its records, in order.
    pub(super) fn records(&self) -> Records<'_> {
        Records {
            bytes: self.records,
            base_timestamp: self.base_timestamp,
        }
    }
}

/// A record borrowed from its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordRef<'a> {
    /// Its timestamp.
    pub(super) timestamp: i64,
    /// Its key.
    pub(super) key: Option<&'a [u8]>,
    /// Its value.
    pub(super) value: Option<&'a [u8]>,
}

/// The records of a [`Batch`] already checked by [`batches`].
pub(super) struct Records<'a> {
    bytes: &'a [u8],
    base_timestamp: i64,
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordRef<'a>;

    fn next(&mut self) -> Option<RecordRef<'a>> {
        if self.bytes.is_empty() {
            return None;
        }
        let mut c = Cursor(self.bytes);
        let (record, rest) = read_record(&mut c, self.base_timestamp).ok()?;
        self.bytes = rest;
        Some(record)
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BatchError> {
        if n > self.0.len() {
            return Err(BatchError::Corrupt);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn varlong(&mut self) -> Result<i64, BatchError> {
        self.varlong_of(10)
    }

    /// A zigzag varint of at most 5 bytes that fits an `i32`, as Kafka reads one.
    fn varint(&mut self) -> Result<i32, BatchError> {
        let v = self.varlong_of(5)?;
        i32::try_from(v).map_err(|_| BatchError::Corrupt)
    }

    fn varlong_of(&mut self, max: usize) -> Result<i64, BatchError> {
        let mut z = 0u64;
        for i in 0..max {
            let b = self.take(1)?[0];
            z |= u64::from(b & 0x7f) << (i * 7);
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(BatchError::Corrupt)
    }

    /// A length-prefixed field: `None` for length -1.
    fn field(&mut self) -> Result<Option<&'a [u8]>, BatchError> {
        match self.varint()? {
            -1 => Ok(None),
            n => Ok(Some(
                self.take(usize::try_from(n).map_err(|_| BatchError::Corrupt)?)?,
            )),
        }
    }
}

/// Reads one record; returns it and the bytes after it.
fn read_record<'a>(
    c: &mut Cursor<'a>,
    base_timestamp: i64,
) -> Result<(RecordRef<'a>, &'a [u8]), BatchError> {
    let len = usize::try_from(c.varint()?).map_err(|_| BatchError::Corrupt)?;
    let mut r = Cursor(c.take(len)?);
    let rest = c.0;
    r.take(1)?; // attributes
    let timestamp = base_timestamp.wrapping_add(r.varlong()?);
    r.varint()?; // offset delta
    let key = r.field()?;
    let value = r.field()?;
    let headers = r.varint()?;
    if headers < 0 {
        return Err(BatchError::Corrupt);
    }
    for _ in 0..headers {
        // A header key is never null.
        if r.field()?.is_none() {
            return Err(BatchError::Corrupt);
        }
        r.field()?;
    }
    // The fields must fill the record's declared length exactly.
    if !r.0.is_empty() {
        return Err(BatchError::Corrupt);
    }
    Ok((
        RecordRef {
            timestamp,
            key,
            value,
        },
        rest,
    ))
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

/// Checks every batch in `bytes` (a partition's records in a Produce) and returns them.
/// The bytes must be whole v2 batches, each with a correct CRC, whose records fill it exactly
/// and number what its header says.
///
/// # Errors
/// [`BatchError::Corrupt`] for anything malformed; [`BatchError::Compressed`] for a
/// compressed batch (once it has passed the checks that do not need decompression).
pub(super) fn batches(mut bytes: &[u8]) -> Result<Vec<Batch<'_>>, BatchError> {
    if bytes.is_empty() {
        return Err(BatchError::Corrupt);
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < HEADER {
            return Err(BatchError::Corrupt);
        }
        let len = usize::try_from(be_i32(bytes, 8)).map_err(|_| BatchError::Corrupt)?;
        if len < HEADER - 12 || len > bytes.len() - 12 {
            return Err(BatchError::Corrupt);
        }
        let (batch, rest) = bytes.split_at(12 + len);
        bytes = rest;
        if batch[16] != 2 {
            return Err(BatchError::Corrupt);
        }
        let crc = u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]);
        if crc32c::crc32c(&batch[CRC_FROM..]) != crc {
            return Err(BatchError::Corrupt);
        }
        let attributes = i16::from_be_bytes([batch[21], batch[22]]);
        let count = usize::try_from(be_i32(batch, 57)).map_err(|_| BatchError::Corrupt)?;
        if attributes & 0x07 != 0 {
            return Err(BatchError::Compressed);
        }
        let parsed = Batch {
            attributes,
            base_timestamp: be_i64(batch, 27),
            records: &batch[HEADER..],
        };
        // Walk every record now, so a bad one refuses the whole request before anything is
        // appended.
        let mut c = Cursor(parsed.records);
        let mut seen = 0usize;
        while !c.0.is_empty() {
            let (_, rest) = read_record(&mut c, parsed.base_timestamp)?;
            c = Cursor(rest);
            seen += 1;
        }
        if seen != count {
            return Err(BatchError::Corrupt);
        }
        out.push(parsed);
    }
    Ok(out)
}

fn put_varlong(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

fn varlong_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    (64 - z.leading_zeros() as usize).max(1).div_ceil(7)
}

fn field_len(f: Option<&[u8]>) -> usize {
    match f {
        None => 1,
        Some(b) => varlong_len(b.len() as i64) + b.len(),
    }
}

fn put_field(buf: &mut Vec<u8>, f: Option<&[u8]>) {
    match f {
        None => put_varlong(buf, -1),
        Some(b) => {
            put_varlong(buf, b.len() as i64);
            buf.extend_from_slice(b);
        }
    }
}

/// Writes records into one uncompressed v2 batch, as they are read from a log.
#[derive(Debug)]
pub(super) struct BatchWriter {
    buf: Vec<u8>,
    base_offset: i64,
    base_timestamp: i64,
    max_timestamp: i64,
    last_delta: i64,
    count: i32,
}

impl BatchWriter {
    /// A batch whose first record will be at `base_offset`, stamped `base_timestamp`.
    pub(super) fn new(base_offset: i64, base_timestamp: i64) -> Self {
        let mut buf = Vec::with_capacity(HEADER + 64);
        buf.resize(HEADER, 0);
        BatchWriter {
            buf,
            base_offset,
            base_timestamp,
            max_timestamp: base_timestamp,
            last_delta: 0,
            count: 0,
        }
    }

    /// The bytes the batch would take with a record of this key and value added.
    pub(super) fn size_with(
        &self,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> usize {
        let body = self.body_len(offset, timestamp, key, value);
        self.buf.len() + varlong_len(body as i64) + body
    }

    fn body_len(
        &self,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> usize {
        1 + varlong_len(timestamp.wrapping_sub(self.base_timestamp))
            + varlong_len(offset - self.base_offset)
            + field_len(key)
            + field_len(value)
            + 1
    }

    /// Adds a record. Offsets must increase; their distance from the base must fit an `i32`.
    pub(super) fn push(
        &mut self,
        offset: i64,
        timestamp: Timestamp,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        let timestamp = i64::try_from(timestamp.0).unwrap_or(i64::MAX);
        let body = self.body_len(offset, timestamp, key, value);
        put_varlong(&mut self.buf, body as i64);
        self.buf.push(0);
        put_varlong(&mut self.buf, timestamp.wrapping_sub(self.base_timestamp));
        put_varlong(&mut self.buf, offset - self.base_offset);
        put_field(&mut self.buf, key);
        put_field(&mut self.buf, value);
        self.buf.push(0); // no headers
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.last_delta = offset - self.base_offset;
        self.count += 1;
    }

    /// Whether no record was added.
    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The finished batch (empty if no record was added).
    pub(super) fn finish(mut self) -> Vec<u8> {
        if self.count == 0 {
            return Vec::new();
        }
        let len = (self.buf.len() - 12) as i32;
        let b = &mut self.buf;
        b[..8].copy_from_slice(&self.base_offset.to_be_bytes());
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[12..16].copy_from_slice(&0i32.to_be_bytes()); // partition leader epoch
        b[16] = 2;
        b[21..23].copy_from_slice(&0i16.to_be_bytes());
        b[23..27].copy_from_slice(&(self.last_delta as i32).to_be_bytes());
        b[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        b[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        b[43..51].copy_from_slice(&(-1i64).to_be_bytes()); // producer id
        b[51..53].copy_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        b[53..57].copy_from_slice(&(-1i32).to_be_bytes()); // base sequence
        b[57..61].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&b[CRC_FROM..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    fn encoded(n: i64, headers: bool) -> Vec<u8> {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: i as i32,
                timestamp: 1_000 + i,
                key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; i as usize])),
                headers: if headers {
                    IndexMap::from([(StrBytes::from_static_str("h"), None)])
                } else {
                    IndexMap::new()
                },
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
        buf.to_vec()
    }

    #[test]
    fn batches_the_codec_writes_are_read_record_for_record() {
        let bytes = encoded(5, true);
        let got = batches(&bytes).unwrap();
        assert_eq!(got.len(), 1);
        let records: Vec<RecordRef<'_>> = got[0].records().collect();
        assert_eq!(records.len(), 5);
        assert_eq!(records[2].key, Some(&b"k2"[..]));
        assert_eq!(records[3].key, None);
        assert_eq!(records[3].value, Some(&b"vvv"[..]));
        assert_eq!(records[4].timestamp, 1_004);
    }

    #[test]
    fn what_the_writer_writes_the_codec_reads() {
        let mut w = BatchWriter::new(40, 500);
        assert!(w.is_empty());
        w.push(40, Timestamp(500), Some(b"a"), Some(b"xyz"));
        let predicted = w.size_with(42, 520, None, Some(b"q"));
        w.push(42, Timestamp(520), None, Some(b"q"));
        let bytes = w.finish();
        assert_eq!(bytes.len(), predicted);
        let sets = RecordBatchDecoder::decode_all(&mut Bytes::from(bytes.clone())).unwrap();
        let records = &sets[0].records;
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].offset, 42);
        assert_eq!(records[1].timestamp, 520);
        assert_eq!(records[0].key.as_deref(), Some(&b"a"[..]));
        // And the reader reads it too.
        assert_eq!(batches(&bytes).unwrap()[0].records().count(), 2);
    }

    #[test]
    fn a_bad_crc_a_short_batch_or_a_wrong_count_is_corrupt() {
        let good = encoded(3, false);
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(batches(&bad).unwrap_err(), BatchError::Corrupt);
        assert_eq!(
            batches(&good[..good.len() - 1]).unwrap_err(),
            BatchError::Corrupt
        );
        let mut wrong = good.clone();
        wrong[57..61].copy_from_slice(&4i32.to_be_bytes());
        let crc = crc32c::crc32c(&wrong[CRC_FROM..]);
        wrong[17..21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(batches(&wrong).unwrap_err(), BatchError::Corrupt);
        assert_eq!(batches(&[]).unwrap_err(), BatchError::Corrupt);
    }

    /// The Produce that aborted the process: a record whose offset delta is a varint of five
    /// bytes ending in a continuation bit, so that the next field is read out of step and a
    /// header count of 2^31 - 1 follows.
    #[test]
    fn a_varint_longer_than_five_bytes_in_a_record_is_corrupt() {
        let mut b = BatchWriter::new(0, 0);
        b.push(0, Timestamp(0), Some(b"k"), Some(b"v"));
        let mut bytes = b.finish();
        // Record: length, attributes, timestamp delta (0), offset delta (0) at HEADER + 3.
        let at = HEADER + 3;
        assert_eq!(bytes[at], 0);
        bytes.splice(
            at..=at,
            [0x80, 0x80, 0x80, 0x80, 0x80, 0xfe, 0xff, 0xff, 0xff, 0x0f],
        );
        bytes[HEADER] += 18; // the record's zigzag length: 9 bytes more
        let len = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[CRC_FROM..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(batches(&bytes).unwrap_err(), BatchError::Corrupt);
    }
}
