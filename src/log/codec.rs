//! The records of the offsets log, in Kafka's `__consumer_offsets` byte format.
//!
//! A record's key starts with an `i16` version that says what the record is:
//!
//! | key version | record | value versions written |
//! |---|---|---|
//! | 0, 1 | an offset commit: group, topic, partition | 3 (1 when an expire timestamp is set) |
//! | 2 | group metadata: group | 3 |
//!
//! The value starts with its own `i16` version. A record with a `None` value is a tombstone: the
//! offset or the group was deleted. Strings are an `i16` length and UTF-8 bytes (`-1` for a null
//! string), byte arrays an `i32` length and the bytes, integers big-endian, as in Kafka's
//! non-flexible schemas. Decoding reads every version 0–3 Kafka writes and refuses everything
//! else with [`CodecError`], whatever the bytes: truncated, oversized, or not UTF-8.
//!
//! ```
//! use consumer_groups::log::codec::{OffsetCommitValue, OffsetsKey};
//!
//! let key = OffsetsKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 3 };
//! let bytes = key.encode()?;
//! assert_eq!(bytes, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
//! assert_eq!(OffsetsKey::decode(&bytes)?, key);
//!
//! let value = OffsetCommitValue { offset: 501, leader_epoch: Some(7), metadata: "".into(),
//!     commit_timestamp: 1_700_000_000_000, expire_timestamp: None };
//! assert_eq!(OffsetCommitValue::decode(&value.encode()?)?, value);
//! # Ok::<(), consumer_groups::log::codec::CodecError>(())
//! ```

use std::fmt;

use crate::wire::{Reader, WireError, Writer};

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes ended inside a field.
    #[error("truncated record: needed {needed} more bytes for {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes missing.
        needed: usize,
    },
    /// A version this codec does not know.
    #[error("unknown {what} version {version}")]
    UnknownVersion {
        /// Key or value kind.
        what: &'static str,
        /// The version found.
        version: i16,
    },
    /// A string that is not UTF-8.
    #[error("field {0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// A negative length other than the null marker, or a null where one is not allowed.
    #[error("invalid length {length} for field {field}")]
    InvalidLength {
        /// The field.
        field: &'static str,
        /// The length found.
        length: i64,
    },
    /// Bytes left over after the last field.
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    /// A value too large to encode in Kafka's format (a string over 32,767 bytes, say).
    #[error("field {0} is too large to encode")]
    TooLarge(&'static str),
}

/// The key of an offsets-log record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OffsetsKey {
    /// The committed offset of one partition for one group.
    OffsetCommit {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The metadata of a group: its generation, protocol, leader and members.
    GroupMetadata {
        /// The group.
        group: String,
    },
}

impl OffsetsKey {
    /// The group the record belongs to.
    #[must_use]
    pub fn group(&self) -> &str {
        match self {
            OffsetsKey::OffsetCommit { group, .. } | OffsetsKey::GroupMetadata { group } => group,
        }
    }

    /// Kafka's key bytes (version 1 for commits, 2 for group metadata).
    ///
    /// # Errors
    /// [`CodecError::TooLarge`] for a group or topic longer than 32,767 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut buf = Vec::new();
        self.as_ref().encode_into(&mut buf)?;
        Ok(buf)
    }

    /// The key, borrowed.
    #[must_use]
    pub fn as_ref(&self) -> OffsetsKeyRef<'_> {
        match self {
            OffsetsKey::OffsetCommit {
                group,
                topic,
                partition,
            } => OffsetsKeyRef::OffsetCommit {
                group,
                topic,
                partition: *partition,
            },
            OffsetsKey::GroupMetadata { group } => OffsetsKeyRef::GroupMetadata { group },
        }
    }

    /// Decodes a key.
    ///
    /// # Errors
    /// Any [`CodecError`].
    pub fn decode(bytes: &[u8]) -> Result<OffsetsKey, CodecError> {
        Ok(match OffsetsKeyRef::decode(bytes)? {
            OffsetsKeyRef::OffsetCommit {
                group,
                topic,
                partition,
            } => OffsetsKey::OffsetCommit {
                group: group.to_owned(),
                topic: topic.to_owned(),
                partition,
            },
            OffsetsKeyRef::GroupMetadata { group } => OffsetsKey::GroupMetadata {
                group: group.to_owned(),
            },
        })
    }
}

/// An [`OffsetsKey`] borrowed from bytes or strings: what replay decodes without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetsKeyRef<'a> {
    /// The committed offset of one partition for one group.
    OffsetCommit {
        /// The group.
        group: &'a str,
        /// The topic.
        topic: &'a str,
        /// The partition.
        partition: i32,
    },
    /// The metadata of a group.
    GroupMetadata {
        /// The group.
        group: &'a str,
    },
}

impl<'a> OffsetsKeyRef<'a> {
    /// The group the record belongs to.
    #[must_use]
    pub fn group(&self) -> &'a str {
        match *self {
            OffsetsKeyRef::OffsetCommit { group, .. } | OffsetsKeyRef::GroupMetadata { group } => {
                group
            }
        }
    }

    /// Appends Kafka's key bytes to `buf`; on error `buf` is left as it was.
    ///
    /// # Errors
    /// [`CodecError::TooLarge`] for a group or topic longer than 32,767 bytes.
    pub fn encode_into(&self, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        let mark = buf.len();
        let mut w = Writer(std::mem::take(buf));
        let r = match *self {
            OffsetsKeyRef::OffsetCommit {
                group,
                topic,
                partition,
            } => {
                w.i16(1);
                w.string("group", group)
                    .and_then(|()| w.string("topic", topic))
                    .map(|()| w.i32(partition))
            }
            OffsetsKeyRef::GroupMetadata { group } => {
                w.i16(2);
                w.string("group", group)
            }
        };
        *buf = w.0;
        if r.is_err() {
            buf.truncate(mark);
        }
        r.map_err(CodecError::from)
    }

    /// Decodes a key without copying its strings.
    ///
    /// # Errors
    /// Any [`CodecError`].
    pub fn decode(bytes: &'a [u8]) -> Result<OffsetsKeyRef<'a>, CodecError> {
        let mut r = Reader(bytes);
        let key = match r.i16("key version")? {
            0 | 1 => OffsetsKeyRef::OffsetCommit {
                group: r.str("group")?,
                topic: r.str("topic")?,
                partition: r.i32("partition")?,
            },
            2 => OffsetsKeyRef::GroupMetadata {
                group: r.str("group")?,
            },
            v => {
                return Err(CodecError::UnknownVersion {
                    what: "key",
                    version: v,
                });
            }
        };
        finish(r)?;
        Ok(key)
    }
}

/// A committed offset, the value of an [`OffsetsKey::OffsetCommit`] record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    /// The committed offset: the next offset the group will read.
    pub offset: i64,
    /// The leader epoch of the last record consumed, if the client sent one. Not stored when an
    /// expire timestamp is set (Kafka's version 1 has no field for it).
    pub leader_epoch: Option<i32>,
    /// The client's metadata string.
    pub metadata: String,
    /// When the commit was made.
    pub commit_timestamp: i64,
    /// When the commit expires, for clients that asked for a retention time (old protocol).
    pub expire_timestamp: Option<i64>,
}

impl OffsetCommitValue {
    /// Kafka's value bytes: version 3, or version 1 when an expire timestamp is set.
    ///
    /// # Errors
    /// [`CodecError::TooLarge`].
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut buf = Vec::with_capacity(26 + self.metadata.len());
        self.as_ref().encode_into(&mut buf)?;
        Ok(buf)
    }

    /// The value, borrowed.
    #[must_use]
    pub fn as_ref(&self) -> OffsetCommitValueRef<'_> {
        OffsetCommitValueRef {
            offset: self.offset,
            leader_epoch: self.leader_epoch,
            metadata: &self.metadata,
            commit_timestamp: self.commit_timestamp,
            expire_timestamp: self.expire_timestamp,
        }
    }

    /// Decodes versions 0 to 3.
    ///
    /// # Errors
    /// Any [`CodecError`].
    pub fn decode(bytes: &[u8]) -> Result<OffsetCommitValue, CodecError> {
        let v = OffsetCommitValueRef::decode(bytes)?;
        Ok(OffsetCommitValue {
            offset: v.offset,
            leader_epoch: v.leader_epoch,
            metadata: v.metadata.to_owned(),
            commit_timestamp: v.commit_timestamp,
            expire_timestamp: v.expire_timestamp,
        })
    }
}

/// An [`OffsetCommitValue`] whose metadata is borrowed: what the store encodes from and
/// replay decodes into, without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetCommitValueRef<'a> {
    /// The committed offset.
    pub offset: i64,
    /// The leader epoch (`None` is written as -1; not written in version 1).
    pub leader_epoch: Option<i32>,
    /// The client's metadata string.
    pub metadata: &'a str,
    /// When the commit was made.
    pub commit_timestamp: i64,
    /// When the commit expires, if the client asked for a retention time.
    pub expire_timestamp: Option<i64>,
}

impl<'a> OffsetCommitValueRef<'a> {
    /// Appends Kafka's value bytes to `buf` (version 3, or 1 with an expire timestamp); on
    /// error `buf` is left as it was.
    ///
    /// # Errors
    /// [`CodecError::TooLarge`] for metadata longer than 32,767 bytes.
    pub fn encode_into(&self, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        let mark = buf.len();
        let mut w = Writer(std::mem::take(buf));
        let r = match self.expire_timestamp {
            Some(expire) => {
                w.i16(1);
                w.i64(self.offset);
                w.string("metadata", self.metadata).map(|()| {
                    w.i64(self.commit_timestamp);
                    w.i64(expire);
                })
            }
            None => {
                w.i16(3);
                w.i64(self.offset);
                w.i32(self.leader_epoch.unwrap_or(-1));
                w.string("metadata", self.metadata)
                    .map(|()| w.i64(self.commit_timestamp))
            }
        };
        *buf = w.0;
        if r.is_err() {
            buf.truncate(mark);
        }
        r.map_err(CodecError::from)
    }

    /// Decodes versions 0 to 3 without copying the metadata. A negative leader epoch reads as
    /// `None`.
    ///
    /// # Errors
    /// Any [`CodecError`].
    pub fn decode(bytes: &'a [u8]) -> Result<OffsetCommitValueRef<'a>, CodecError> {
        let mut r = Reader(bytes);
        let version = r.i16("value version")?;
        if !(0..=3).contains(&version) {
            return Err(CodecError::UnknownVersion {
                what: "offset commit value",
                version,
            });
        }
        let offset = r.i64("offset")?;
        let leader_epoch = if version >= 3 {
            Some(r.i32("leader epoch")?).filter(|&e| e >= 0)
        } else {
            None
        };
        let v = OffsetCommitValueRef {
            offset,
            leader_epoch,
            metadata: r.str("metadata")?,
            commit_timestamp: r.i64("commit timestamp")?,
            expire_timestamp: if version == 1 {
                Some(r.i64("expire timestamp")?)
            } else {
                None
            },
        };
        finish(r)?;
        Ok(v)
    }
}

/// The raw fields of an offset-commit key (versions 0 and 1), strings not yet checked for
/// UTF-8: the replay fast path. `None` for anything else; the caller then decodes with
/// [`OffsetsKeyRef::decode`], which says what is wrong.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawCommitKey<'a> {
    pub(crate) group: &'a [u8],
    pub(crate) topic: &'a [u8],
    pub(crate) partition: i32,
}

#[inline]
fn split_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = b.split_first_chunk::<2>()?;
    let n = usize::try_from(i16::from_be_bytes(*len)).ok()?;
    rest.split_at_checked(n)
}

#[inline]
pub(crate) fn raw_commit_key(b: &[u8]) -> Option<RawCommitKey<'_>> {
    let (version, rest) = b.split_first_chunk::<2>()?;
    if !matches!(i16::from_be_bytes(*version), 0 | 1) {
        return None;
    }
    let (group, rest) = split_string(rest)?;
    let (topic, rest) = split_string(rest)?;
    let partition: [u8; 4] = rest.try_into().ok()?;
    Some(RawCommitKey {
        group,
        topic,
        partition: i32::from_be_bytes(partition),
    })
}

/// The fields of a version-3 offset-commit value, metadata not yet checked for UTF-8: offset,
/// leader epoch (raw), metadata, commit timestamp. `None` for anything else.
#[inline]
pub(crate) fn raw_commit_value_v3(b: &[u8]) -> Option<(i64, i32, &[u8], i64)> {
    let (version, rest) = b.split_first_chunk::<2>()?;
    if i16::from_be_bytes(*version) != 3 {
        return None;
    }
    let (offset, rest) = rest.split_first_chunk::<8>()?;
    let (epoch, rest) = rest.split_first_chunk::<4>()?;
    let (metadata, rest) = split_string(rest)?;
    let ts: [u8; 8] = rest.try_into().ok()?;
    Some((
        i64::from_be_bytes(*offset),
        i32::from_be_bytes(*epoch),
        metadata,
        i64::from_be_bytes(ts),
    ))
}

/// The control record that ends a transaction in a partition (Kafka's `EndTxnMarker`): key
/// `(version 0, type)` with type 0 for abort and 1 for commit, value `(version 0,
/// coordinator epoch)`. The log tags it [`Transaction::Marker`](super::Transaction::Marker).
///
/// ```
/// use consumer_groups::log::codec::EndTxnMarker;
/// use consumer_groups::log::TxnOutcome;
///
/// let m = EndTxnMarker { outcome: TxnOutcome::Commit, coordinator_epoch: 5 };
/// assert_eq!(m.key_bytes(), [0, 0, 0, 1]);
/// assert_eq!(m.value_bytes(), [0, 0, 0, 0, 0, 5]);
/// assert_eq!(EndTxnMarker::decode(&m.key_bytes(), &m.value_bytes()), Ok(m));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    /// Commit or abort.
    pub outcome: super::TxnOutcome,
    /// The epoch of the transaction coordinator that wrote it.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// The key bytes.
    #[must_use]
    pub fn key_bytes(&self) -> [u8; 4] {
        let kind: i16 = match self.outcome {
            super::TxnOutcome::Abort => 0,
            super::TxnOutcome::Commit => 1,
        };
        let [a, b] = kind.to_be_bytes();
        [0, 0, a, b]
    }

    /// The value bytes.
    #[must_use]
    pub fn value_bytes(&self) -> [u8; 6] {
        let [a, b, c, d] = self.coordinator_epoch.to_be_bytes();
        [0, 0, a, b, c, d]
    }

    /// Decodes a marker's key and value.
    ///
    /// # Errors
    /// Any [`CodecError`]; an unknown control type is [`CodecError::UnknownVersion`] of
    /// `"control type"`.
    pub fn decode(key: &[u8], value: &[u8]) -> Result<EndTxnMarker, CodecError> {
        let mut k = Reader(key);
        let version = k.i16("control key version")?;
        if version != 0 {
            return Err(CodecError::UnknownVersion {
                what: "control key",
                version,
            });
        }
        let outcome = match k.i16("control type")? {
            0 => super::TxnOutcome::Abort,
            1 => super::TxnOutcome::Commit,
            t => {
                return Err(CodecError::UnknownVersion {
                    what: "control type",
                    version: t,
                });
            }
        };
        finish(k)?;
        let mut v = Reader(value);
        let version = v.i16("marker value version")?;
        if version != 0 {
            return Err(CodecError::UnknownVersion {
                what: "marker value",
                version,
            });
        }
        let coordinator_epoch = v.i32("coordinator epoch")?;
        finish(v)?;
        Ok(EndTxnMarker {
            outcome,
            coordinator_epoch,
        })
    }
}

/// One member in a [`GroupMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    /// The member id.
    pub member_id: String,
    /// The static instance id, if any.
    pub group_instance_id: Option<String>,
    /// The client id the member reported.
    pub client_id: String,
    /// The member's host, as the coordinator saw it.
    pub client_host: String,
    /// The member's rebalance timeout in milliseconds.
    pub rebalance_timeout_ms: i32,
    /// The member's session timeout in milliseconds.
    pub session_timeout_ms: i32,
    /// The member's subscription (its metadata for the chosen protocol).
    pub subscription: Vec<u8>,
    /// The member's assignment from the last SyncGroup.
    pub assignment: Vec<u8>,
}

/// A group's state, the value of an [`OffsetsKey::GroupMetadata`] record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// The protocol type (`"consumer"` for consumer groups).
    pub protocol_type: String,
    /// The generation.
    pub generation: i32,
    /// The chosen protocol (assignor), if the group has one.
    pub protocol: Option<String>,
    /// The leader's member id, if the group has a leader.
    pub leader: Option<String>,
    /// When the group last changed state (milliseconds), if known.
    pub current_state_timestamp: Option<i64>,
    /// The members.
    pub members: Vec<MemberMetadata>,
}

impl GroupMetadataValue {
    /// Kafka's value bytes, version 3.
    ///
    /// # Errors
    /// [`CodecError::TooLarge`] for a string over 32,767 bytes or more than `i32::MAX` members
    /// or bytes.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut w = Writer::default();
        w.i16(3);
        w.string("protocol type", &self.protocol_type)?;
        w.i32(self.generation);
        w.nullable_string("protocol", self.protocol.as_deref())?;
        w.nullable_string("leader", self.leader.as_deref())?;
        w.i64(self.current_state_timestamp.unwrap_or(-1));
        w.len32("members", self.members.len())?;
        for m in &self.members {
            w.string("member id", &m.member_id)?;
            w.nullable_string("group instance id", m.group_instance_id.as_deref())?;
            w.string("client id", &m.client_id)?;
            w.string("client host", &m.client_host)?;
            w.i32(m.rebalance_timeout_ms);
            w.i32(m.session_timeout_ms);
            w.bytes("subscription", &m.subscription)?;
            w.bytes("assignment", &m.assignment)?;
        }
        Ok(w.0)
    }

    /// Decodes versions 0 to 3.
    ///
    /// # Errors
    /// Any [`CodecError`].
    pub fn decode(bytes: &[u8]) -> Result<GroupMetadataValue, CodecError> {
        let mut r = Reader(bytes);
        let version = r.i16("value version")?;
        if !(0..=3).contains(&version) {
            return Err(CodecError::UnknownVersion {
                what: "group metadata value",
                version,
            });
        }
        let protocol_type = r.string("protocol type")?;
        let generation = r.i32("generation")?;
        let protocol = r.nullable_string("protocol")?;
        let leader = r.nullable_string("leader")?;
        let current_state_timestamp = if version >= 2 {
            Some(r.i64("current state timestamp")?).filter(|&t| t >= 0)
        } else {
            None
        };
        let n = r.i32("members")?;
        if n < 0 {
            return Err(CodecError::InvalidLength {
                field: "members",
                length: i64::from(n),
            });
        }
        // Each member takes at least 22 bytes; never trust a count past what the bytes can hold.
        let mut members = Vec::with_capacity((n as usize).min(r.0.len() / 22));
        for _ in 0..n {
            let member_id = r.string("member id")?;
            let group_instance_id = if version >= 3 {
                r.nullable_string("group instance id")?
            } else {
                None
            };
            let client_id = r.string("client id")?;
            let client_host = r.string("client host")?;
            let rebalance_timeout_ms = if version >= 1 {
                r.i32("rebalance timeout")?
            } else {
                -1
            };
            let session_timeout_ms = r.i32("session timeout")?;
            members.push(MemberMetadata {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                subscription: r.bytes("subscription")?,
                assignment: r.bytes("assignment")?,
            });
        }
        finish(r)?;
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        })
    }
}

/// Checks that `r` read every byte.
fn finish(r: Reader<'_>) -> Result<(), CodecError> {
    if r.0.is_empty() {
        Ok(())
    } else {
        Err(CodecError::TrailingBytes(r.0.len()))
    }
}

impl From<WireError> for CodecError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated { field, needed } => CodecError::Truncated { field, needed },
            WireError::InvalidLength { field, length } => {
                CodecError::InvalidLength { field, length }
            }
            WireError::InvalidUtf8 { field } => CodecError::InvalidUtf8(field),
            WireError::TooLarge { field, .. } => CodecError::TooLarge(field),
        }
    }
}

impl fmt::Display for OffsetsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffsetsKey::OffsetCommit {
                group,
                topic,
                partition,
            } => write!(f, "offset[{group},{topic}:{partition}]"),
            OffsetsKey::GroupMetadata { group } => write!(f, "group[{group}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's GroupMetadataKey (version 2) for group "g": version, then the string.
    #[test]
    fn group_metadata_key_bytes_match_kafkas_layout() {
        let k = OffsetsKey::GroupMetadata { group: "g".into() };
        assert_eq!(k.encode().unwrap(), [0, 2, 0, 1, b'g']);
    }

    /// OffsetCommitValue version 3: version, offset, leader epoch, metadata, commit timestamp.
    #[test]
    fn offset_commit_value_v3_bytes() {
        let v = OffsetCommitValue {
            offset: 1,
            leader_epoch: None,
            metadata: "m".into(),
            commit_timestamp: 2,
            expire_timestamp: None,
        };
        assert_eq!(
            v.encode().unwrap(),
            [
                0, 3, // version
                0, 0, 0, 0, 0, 0, 0, 1, // offset
                0xff, 0xff, 0xff, 0xff, // leader epoch -1
                0, 1, b'm', // metadata
                0, 0, 0, 0, 0, 0, 0, 2, // commit timestamp
            ]
        );
    }

    #[test]
    fn version_0_offset_commit_values_decode() {
        let mut b = vec![0, 0];
        b.extend_from_slice(&42i64.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&7i64.to_be_bytes());
        let v = OffsetCommitValue::decode(&b).unwrap();
        assert_eq!(
            (v.offset, v.commit_timestamp, v.expire_timestamp),
            (42, 7, None)
        );
    }

    #[test]
    fn hostile_bytes_are_errors() {
        assert!(matches!(
            OffsetsKey::decode(&[]),
            Err(CodecError::Truncated { .. })
        ));
        assert!(matches!(
            OffsetsKey::decode(&[0, 9]),
            Err(CodecError::UnknownVersion { .. })
        ));
        assert!(matches!(
            OffsetsKey::decode(&[0, 2, 0, 5, b'a']),
            Err(CodecError::Truncated { .. })
        ));
        assert!(matches!(
            OffsetsKey::decode(&[0, 2, 0xff, 0xfe]),
            Err(CodecError::InvalidLength { .. })
        ));
        assert!(matches!(
            OffsetsKey::decode(&[0, 2, 0xff, 0xff]),
            Err(CodecError::InvalidLength { .. })
        ));
        assert!(matches!(
            OffsetsKey::decode(&[0, 2, 0, 1, 0xff]),
            Err(CodecError::InvalidUtf8(_))
        ));
        assert!(matches!(
            OffsetsKey::decode(&[0, 2, 0, 1, b'a', 0]),
            Err(CodecError::TrailingBytes(1))
        ));
        // A member count of two billion in a handful of bytes.
        let mut g = vec![0, 3, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        g.extend_from_slice(&(-1i64).to_be_bytes());
        g.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            GroupMetadataValue::decode(&g),
            Err(CodecError::Truncated { .. })
        ));
    }

    #[test]
    fn oversized_strings_are_refused_on_encode() {
        let k = OffsetsKey::GroupMetadata {
            group: "x".repeat(40_000),
        };
        assert_eq!(k.encode(), Err(CodecError::TooLarge("group")));
    }

    #[test]
    fn the_replay_fast_path_agrees_with_the_decoders() {
        let key = OffsetsKey::OffsetCommit {
            group: "gé".into(),
            topic: "t".into(),
            partition: 7,
        }
        .encode()
        .unwrap();
        let raw = raw_commit_key(&key).unwrap();
        assert_eq!(
            (raw.group, raw.topic, raw.partition),
            ("gé".as_bytes(), &b"t"[..], 7)
        );
        let value = OffsetCommitValue {
            offset: -2,
            leader_epoch: Some(4),
            metadata: "m".into(),
            commit_timestamp: 9,
            expire_timestamp: None,
        }
        .encode()
        .unwrap();
        assert_eq!(raw_commit_value_v3(&value), Some((-2, 4, &b"m"[..], 9)));
        // Anything unusual is left to the full decoders.
        assert!(raw_commit_key(&key[..key.len() - 1]).is_none());
        assert!(raw_commit_key(&[key.as_slice(), &[0]].concat()).is_none());
        assert!(raw_commit_key(&[0, 2, 0, 1, b'g']).is_none());
        assert!(raw_commit_value_v3(&value[..value.len() - 1]).is_none());
        let v1 = OffsetCommitValue {
            expire_timestamp: Some(1),
            ..OffsetCommitValue::decode(&value).unwrap()
        }
        .encode()
        .unwrap();
        assert!(raw_commit_value_v3(&v1).is_none());
    }
}
