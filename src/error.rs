//! Errors and Kafka error codes.
//!
//! Two different things live here, and they must not be confused:
//!
//! * [`ErrorCode`] is *data*. It is what a Kafka response carries: `UNKNOWN_MEMBER_ID` is a
//!   perfectly successful answer from a coordinator to a member that it no longer knows. The
//!   state machines put codes into their responses; they never turn them into Rust errors.
//! * [`Error`] is for the *host*: an API used wrongly (a group spec with two members of the same
//!   id, an unknown assignor name) or a fault of the crate's own machinery (a store that failed).
//!   Each variant says whose fault it is.

use std::fmt;

/// A Kafka protocol error code, carried as data inside responses.
///
/// The numeric values are Kafka's own (`org.apache.kafka.common.protocol.Errors`), so a wire
/// front end can put [`ErrorCode::code`] on the wire unchanged and [`ErrorCode::from_code`]
/// reads it back.
///
/// ```
/// use consumer_groups::ErrorCode;
///
/// assert_eq!(ErrorCode::UnknownMemberId.code(), 25);
/// assert_eq!(ErrorCode::from_code(79), Some(ErrorCode::MemberIdRequired));
/// assert_eq!(ErrorCode::RebalanceInProgress.name(), "REBALANCE_IN_PROGRESS");
/// assert!(ErrorCode::CoordinatorLoadInProgress.is_retriable());
/// assert_eq!(ErrorCode::from_code(-2), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i16)]
#[non_exhaustive]
pub enum ErrorCode {
    /// An unexpected server error.
    UnknownServerError = -1,
    /// No error.
    None = 0,
    /// The requested offset is outside the range the log holds.
    OffsetOutOfRange = 1,
    /// A record failed its integrity check.
    CorruptMessage = 2,
    /// The topic or partition does not exist.
    UnknownTopicOrPartition = 3,
    /// The request timed out.
    RequestTimedOut = 7,
    /// The commit's metadata string is larger than the configured maximum.
    OffsetMetadataTooLarge = 12,
    /// The coordinator is still loading the group's offsets partition.
    CoordinatorLoadInProgress = 14,
    /// The coordinator is not available.
    CoordinatorNotAvailable = 15,
    /// This node is not the coordinator of the group.
    NotCoordinator = 16,
    /// The topic name is invalid.
    InvalidTopicException = 17,
    /// The request carries a generation that is not the group's current one.
    IllegalGeneration = 22,
    /// The member's protocol type or protocols are incompatible with the group's.
    InconsistentGroupProtocol = 23,
    /// The group id is empty or otherwise invalid.
    InvalidGroupId = 24,
    /// The coordinator does not know this member id.
    UnknownMemberId = 25,
    /// The session timeout is outside the broker's allowed range.
    InvalidSessionTimeout = 26,
    /// The group is rebalancing; the member must rejoin.
    RebalanceInProgress = 27,
    /// The committed offset data has an invalid size.
    InvalidCommitOffsetSize = 28,
    /// Not authorized to access the topic.
    TopicAuthorizationFailed = 29,
    /// Not authorized to access the group.
    GroupAuthorizationFailed = 30,
    /// Not authorized to perform a cluster action.
    ClusterAuthorizationFailed = 31,
    /// The request version is not supported.
    UnsupportedVersion = 35,
    /// The request is malformed.
    InvalidRequest = 42,
    /// The producer epoch is stale.
    InvalidProducerEpoch = 47,
    /// The transaction is in the wrong state for this operation.
    InvalidTxnState = 48,
    /// The producer id is not known to the transaction coordinator.
    InvalidProducerIdMapping = 49,
    /// Another transaction on the same partitions is in progress.
    ConcurrentTransactions = 51,
    /// The group cannot be deleted because it still has members.
    NonEmptyGroup = 68,
    /// The group does not exist.
    GroupIdNotFound = 69,
    /// The leader epoch in the request is older than the broker's.
    FencedLeaderEpoch = 74,
    /// The leader epoch in the request is newer than the broker's.
    UnknownLeaderEpoch = 75,
    /// A dynamic member must rejoin with the member id the coordinator generated.
    MemberIdRequired = 79,
    /// The group has reached its maximum size.
    GroupMaxSizeReached = 81,
    /// Another member with the same group instance id has taken over.
    FencedInstanceId = 82,
    /// The group is still subscribed to the topic whose offsets were to be deleted.
    GroupSubscribedToTopic = 86,
    /// A record failed validation.
    InvalidRecord = 87,
    /// There are unstable (pending transactional) offsets for the requested partitions.
    UnstableOffsetCommit = 88,
    /// The producer has been fenced by a newer instance.
    ProducerFenced = 90,
    /// The member epoch is fenced by the group coordinator.
    FencedMemberEpoch = 110,
    /// The instance id is still used by another member.
    UnreleasedInstanceId = 111,
    /// The assignor or its version range is not supported by the group.
    UnsupportedAssignor = 112,
    /// The member epoch is stale.
    StaleMemberEpoch = 113,
}

impl ErrorCode {
    const ALL: &'static [ErrorCode] = &[
        ErrorCode::UnknownServerError,
        ErrorCode::None,
        ErrorCode::OffsetOutOfRange,
        ErrorCode::CorruptMessage,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::RequestTimedOut,
        ErrorCode::OffsetMetadataTooLarge,
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotCoordinator,
        ErrorCode::InvalidTopicException,
        ErrorCode::IllegalGeneration,
        ErrorCode::InconsistentGroupProtocol,
        ErrorCode::InvalidGroupId,
        ErrorCode::UnknownMemberId,
        ErrorCode::InvalidSessionTimeout,
        ErrorCode::RebalanceInProgress,
        ErrorCode::InvalidCommitOffsetSize,
        ErrorCode::TopicAuthorizationFailed,
        ErrorCode::GroupAuthorizationFailed,
        ErrorCode::ClusterAuthorizationFailed,
        ErrorCode::UnsupportedVersion,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidProducerEpoch,
        ErrorCode::InvalidTxnState,
        ErrorCode::InvalidProducerIdMapping,
        ErrorCode::ConcurrentTransactions,
        ErrorCode::NonEmptyGroup,
        ErrorCode::GroupIdNotFound,
        ErrorCode::FencedLeaderEpoch,
        ErrorCode::UnknownLeaderEpoch,
        ErrorCode::MemberIdRequired,
        ErrorCode::GroupMaxSizeReached,
        ErrorCode::FencedInstanceId,
        ErrorCode::GroupSubscribedToTopic,
        ErrorCode::InvalidRecord,
        ErrorCode::UnstableOffsetCommit,
        ErrorCode::ProducerFenced,
        ErrorCode::FencedMemberEpoch,
        ErrorCode::UnreleasedInstanceId,
        ErrorCode::UnsupportedAssignor,
        ErrorCode::StaleMemberEpoch,
    ];

    /// Kafka's numeric value of this code.
    #[must_use]
    pub const fn code(self) -> i16 {
        self as i16
    }

    /// The code with Kafka's numeric value `code`, or `None` if this crate does not know it.
    #[must_use]
    pub fn from_code(code: i16) -> Option<ErrorCode> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// Every code this crate knows, in numeric order.
    #[must_use]
    pub fn all() -> &'static [ErrorCode] {
        Self::ALL
    }

    /// `true` for [`ErrorCode::None`].
    #[must_use]
    pub const fn is_ok(self) -> bool {
        matches!(self, ErrorCode::None)
    }

    /// Whether Kafka classifies the error as retriable: the same request may succeed if sent
    /// again later, without any other action by the client.
    #[must_use]
    pub const fn is_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::CorruptMessage
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::RequestTimedOut
                | ErrorCode::CoordinatorLoadInProgress
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NotCoordinator
                | ErrorCode::ConcurrentTransactions
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::UnstableOffsetCommit
        )
    }

    /// Kafka's name of the code, in upper snake case (`"UNKNOWN_MEMBER_ID"`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::UnknownServerError => "UNKNOWN_SERVER_ERROR",
            ErrorCode::None => "NONE",
            ErrorCode::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            ErrorCode::CorruptMessage => "CORRUPT_MESSAGE",
            ErrorCode::UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            ErrorCode::RequestTimedOut => "REQUEST_TIMED_OUT",
            ErrorCode::OffsetMetadataTooLarge => "OFFSET_METADATA_TOO_LARGE",
            ErrorCode::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
            ErrorCode::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            ErrorCode::NotCoordinator => "NOT_COORDINATOR",
            ErrorCode::InvalidTopicException => "INVALID_TOPIC_EXCEPTION",
            ErrorCode::IllegalGeneration => "ILLEGAL_GENERATION",
            ErrorCode::InconsistentGroupProtocol => "INCONSISTENT_GROUP_PROTOCOL",
            ErrorCode::InvalidGroupId => "INVALID_GROUP_ID",
            ErrorCode::UnknownMemberId => "UNKNOWN_MEMBER_ID",
            ErrorCode::InvalidSessionTimeout => "INVALID_SESSION_TIMEOUT",
            ErrorCode::RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            ErrorCode::InvalidCommitOffsetSize => "INVALID_COMMIT_OFFSET_SIZE",
            ErrorCode::TopicAuthorizationFailed => "TOPIC_AUTHORIZATION_FAILED",
            ErrorCode::GroupAuthorizationFailed => "GROUP_AUTHORIZATION_FAILED",
            ErrorCode::ClusterAuthorizationFailed => "CLUSTER_AUTHORIZATION_FAILED",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            ErrorCode::InvalidTxnState => "INVALID_TXN_STATE",
            ErrorCode::InvalidProducerIdMapping => "INVALID_PRODUCER_ID_MAPPING",
            ErrorCode::ConcurrentTransactions => "CONCURRENT_TRANSACTIONS",
            ErrorCode::NonEmptyGroup => "NON_EMPTY_GROUP",
            ErrorCode::GroupIdNotFound => "GROUP_ID_NOT_FOUND",
            ErrorCode::FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            ErrorCode::UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            ErrorCode::MemberIdRequired => "MEMBER_ID_REQUIRED",
            ErrorCode::GroupMaxSizeReached => "GROUP_MAX_SIZE_REACHED",
            ErrorCode::FencedInstanceId => "FENCED_INSTANCE_ID",
            ErrorCode::GroupSubscribedToTopic => "GROUP_SUBSCRIBED_TO_TOPIC",
            ErrorCode::InvalidRecord => "INVALID_RECORD",
            ErrorCode::UnstableOffsetCommit => "UNSTABLE_OFFSET_COMMIT",
            ErrorCode::ProducerFenced => "PRODUCER_FENCED",
            ErrorCode::FencedMemberEpoch => "FENCED_MEMBER_EPOCH",
            ErrorCode::UnreleasedInstanceId => "UNRELEASED_INSTANCE_ID",
            ErrorCode::UnsupportedAssignor => "UNSUPPORTED_ASSIGNOR",
            ErrorCode::StaleMemberEpoch => "STALE_MEMBER_EPOCH",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// What went wrong, for the host. Kafka's protocol errors are [`ErrorCode`]s, not this.
///
/// Variants are grouped by whose fault they are: the caller's input (`Invalid*`, `Duplicate*`,
/// `Unknown*`), or an assignor that broke its contract (`AssignorContract`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two members of one group spec share a member id.
    #[error("duplicate member id {0:?}")]
    DuplicateMember(String),
    /// Two static members of one group spec share a group instance id.
    #[error("duplicate group instance id {0:?}")]
    DuplicateInstanceId(String),
    /// A topic was declared twice with different partition counts or replica racks.
    #[error("topic {0:?} declared twice with different metadata")]
    DuplicateTopic(String),
    /// An identifier that must not be empty was empty.
    #[error("empty {0}")]
    EmptyId(&'static str),
    /// A partition count is outside `0..=i32::MAX`, or the replica racks given for a topic do not
    /// match its partition count.
    #[error("invalid partition count for topic {topic:?}: {reason}")]
    InvalidPartitionCount {
        /// The topic.
        topic: String,
        /// Why the count was refused.
        reason: String,
    },
    /// A group spec describes more partitions than an assignor plans in one call.
    #[error("{total} partitions exceed the limit of {limit} per assignment")]
    TooManyPartitions {
        /// Partitions described.
        total: u64,
        /// The limit.
        limit: u64,
    },
    /// A group spec has more members than an assignor plans in one call.
    #[error("{total} members exceed the limit of {limit} per assignment")]
    TooManyMembers {
        /// Members described.
        total: u64,
        /// The limit.
        limit: u64,
    },
    /// No assignor of this name is registered.
    #[error("unknown assignor {0:?}")]
    UnknownAssignor(String),
    /// An assignor of this name is already registered.
    #[error("an assignor named {0:?} is already registered")]
    DuplicateAssignor(String),
    /// An assignment names a member that is not in the group spec.
    #[error("assignment names unknown member {0:?}")]
    UnknownMember(String),
    /// An assignment names a partition that the group spec does not describe.
    #[error("assignment names unknown partition {topic}:{partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// A log partition outside `0..partitions` was named.
    #[error("log partition {partition} does not exist (the log has {partitions})")]
    UnknownLogPartition {
        /// The partition asked for.
        partition: u32,
        /// The log's partition count.
        partitions: u32,
    },
    /// An offset outside what a log partition holds.
    #[error("offset {offset} is outside partition {partition}'s range {start}..={end}")]
    OffsetOutOfRange {
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: i64,
        /// The log-start offset.
        start: i64,
        /// The log-end offset.
        end: i64,
    },
    /// A record's key or value is larger than the log accepts.
    #[error(
        "record too large for log partition {partition} (limit {limit} bytes per key or value)"
    )]
    RecordTooLarge {
        /// The partition.
        partition: u32,
        /// The limit in bytes.
        limit: usize,
    },
    /// An identifier is longer than Kafka's records can carry (32,767 bytes of UTF-8).
    #[error("{what} is {len} bytes long; at most 32767 fit in a record")]
    IdTooLong {
        /// Which identifier.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A record could not be encoded (a field over the sizes Kafka's format allows).
    #[error("cannot encode record: {0}")]
    Codec(#[from] crate::log::codec::CodecError),
    /// Replaying a log partition met a record it cannot decode; the store kept its state.
    #[error("corrupt record at offset {offset} of log partition {partition}: {reason}")]
    CorruptLog {
        /// The log partition.
        partition: u32,
        /// The record's offset.
        offset: i64,
        /// What was wrong.
        reason: String,
    },
    /// A durable store failed; nothing was written.
    #[error("storage failure: {0}")]
    Storage(String),
    /// An assignor broke the contract of [`PartitionAssignor`](crate::PartitionAssignor): it gave
    /// one partition to two members, or a partition to a member not subscribed to its topic.
    #[error("assignor contract violated: {0}")]
    AssignorContract(String),
    /// A consumer setting has a value it cannot take, or two settings contradict each other.
    #[error("invalid value for {key}: {reason}")]
    InvalidConfig {
        /// The setting, by Kafka's property name (`session.timeout.ms`).
        key: String,
        /// Why the value was refused.
        reason: String,
    },
    /// Consumer properties that no setting of this crate or of a Kafka consumer knows.
    #[error("unknown consumer properties: {}", .0.join(", "))]
    UnknownConfig(Vec<String>),
    /// The member does not own this partition (it was never assigned, was revoked, or was lost),
    /// so it may not commit, seek or read it.
    #[error("partition {topic}-{partition} is not assigned to this member")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The member is rejoining its group: its generation is about to end, so a commit now would
    /// be fenced. Retry once the rebalance completes.
    #[error("the group is rebalancing; retry after the rebalance completes")]
    RebalanceInProgress,
    /// The operation does not fit the member's state (subscribing while partitions are assigned
    /// by hand, acknowledging a revocation nobody asked for, …).
    #[error("illegal state: {0}")]
    IllegalState(&'static str),
    /// The member was closed or stopped by a fatal error; it takes no more commands.
    #[error("the consumer is closed")]
    Closed,
    /// No topic of this name exists.
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    /// A commit reached the coordinator and was refused, or could not be sent; the code is the
    /// first partition's error (`REQUEST_TIMED_OUT` when no answer came).
    #[error("commit failed: {0}")]
    CommitFailed(ErrorCode),
    /// A blocking call gave up waiting.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        let mut last = i16::MIN;
        for &c in ErrorCode::all() {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
            assert!(names.insert(c.name()), "duplicate name {}", c.name());
            assert!(c.code() > last, "ALL is in numeric order");
            last = c.code();
        }
    }

    #[test]
    fn the_codes_later_issues_rely_on_have_kafkas_values() {
        use ErrorCode::*;
        let expected = [
            (None, 0),
            (OffsetMetadataTooLarge, 12),
            (CoordinatorLoadInProgress, 14),
            (CoordinatorNotAvailable, 15),
            (NotCoordinator, 16),
            (IllegalGeneration, 22),
            (InconsistentGroupProtocol, 23),
            (InvalidGroupId, 24),
            (UnknownMemberId, 25),
            (InvalidSessionTimeout, 26),
            (RebalanceInProgress, 27),
            (InvalidCommitOffsetSize, 28),
            (NonEmptyGroup, 68),
            (GroupIdNotFound, 69),
            (MemberIdRequired, 79),
            (GroupMaxSizeReached, 81),
            (FencedInstanceId, 82),
            (UnstableOffsetCommit, 88),
        ];
        for (c, v) in expected {
            assert_eq!(c.code(), v, "{c:?}");
        }
    }
}
