//! The APIs and versions this broker speaks.

use kafka_protocol::messages::ApiKey;

/// One API the broker speaks, with the versions it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedApi {
    /// Kafka's API key.
    pub api_key: i16,
    /// The oldest version accepted.
    pub min_version: i16,
    /// The newest version accepted.
    pub max_version: i16,
}

/// The newest version this broker implements of each API it speaks. Later versions exist but
/// need what this broker does not have (topic ids in Produce v13 and Fetch v13+, the
/// KIP-848 member epochs in OffsetCommit v9+ and OffsetFetch v9+, transaction coordinators in
/// FindCoordinator v5+ and InitProducerId v5+).
const IMPLEMENTED: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 12),
    (ApiKey::Fetch, 12),
    (ApiKey::ListOffsets, 10),
    (ApiKey::Metadata, 12),
    (ApiKey::OffsetCommit, 8),
    (ApiKey::OffsetFetch, 8),
    (ApiKey::FindCoordinator, 4),
    (ApiKey::JoinGroup, 9),
    (ApiKey::Heartbeat, 4),
    (ApiKey::LeaveGroup, 5),
    (ApiKey::SyncGroup, 5),
    (ApiKey::DescribeGroups, 5),
    (ApiKey::ListGroups, 4),
    (ApiKey::ApiVersions, 4),
    (ApiKey::InitProducerId, 4),
];

/// The APIs this broker speaks, in API-key order: for each, the intersection of what it
/// implements and the versions the `kafka-protocol` codec knows. This is what ApiVersions
/// advertises.
///
/// ```
/// use consumer_groups::kafka::supported_versions;
///
/// let apis = supported_versions();
/// let fetch = apis.iter().find(|a| a.api_key == 1).unwrap();
/// assert_eq!((fetch.min_version, fetch.max_version), (4, 12));
/// ```
#[must_use]
pub fn supported_versions() -> Vec<SupportedApi> {
    let mut out: Vec<SupportedApi> = IMPLEMENTED
        .iter()
        .filter_map(|&(key, max)| {
            let codec = key.valid_versions();
            let max = max.min(codec.max);
            (codec.min <= max).then_some(SupportedApi {
                api_key: key as i16,
                min_version: codec.min,
                max_version: max,
            })
        })
        .collect();
    out.sort_by_key(|a| a.api_key);
    out
}
