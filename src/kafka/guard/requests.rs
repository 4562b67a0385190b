//! The field layout of each served request body, in the order the codec reads it.

use std::mem::size_of;

use kafka_protocol::messages::{
    ApiKey, GroupId, fetch_request::FetchPartition, fetch_request::FetchTopic,
    fetch_request::ForgottenTopic, join_group_request::JoinGroupRequestProtocol,
    leave_group_request::MemberIdentity, list_offsets_request::ListOffsetsPartition,
    list_offsets_request::ListOffsetsTopic, metadata_request::MetadataRequestTopic,
    offset_commit_request::OffsetCommitRequestPartition,
    offset_commit_request::OffsetCommitRequestTopic, offset_fetch_request::OffsetFetchRequestGroup,
    offset_fetch_request::OffsetFetchRequestTopic, offset_fetch_request::OffsetFetchRequestTopics,
    produce_request::PartitionProduceData, produce_request::TopicProduceData,
    sync_group_request::SyncGroupRequestAssignment,
};
use kafka_protocol::protocol::StrBytes;

use super::{Step, Stop, Walk};

/// The first version of each API that uses the flexible (compact, tagged) encoding.
pub(in crate::kafka) fn first_flexible(key: ApiKey) -> i16 {
    match key {
        ApiKey::Produce => 9,
        ApiKey::Fetch => 12,
        ApiKey::ListOffsets => 6,
        ApiKey::Metadata => 9,
        ApiKey::OffsetCommit => 8,
        ApiKey::OffsetFetch => 6,
        ApiKey::FindCoordinator => 3,
        ApiKey::JoinGroup => 6,
        ApiKey::Heartbeat => 4,
        ApiKey::LeaveGroup => 4,
        ApiKey::SyncGroup => 4,
        ApiKey::DescribeGroups => 5,
        ApiKey::ListGroups => 3,
        ApiKey::ApiVersions => 3,
        ApiKey::InitProducerId => 2,
        _ => i16::MAX,
    }
}

/// The smallest wire size of an array of strings' element.
fn min_string(w: &Walk<'_>) -> usize {
    if w.flexible { 1 } else { 2 }
}

fn strings(w: &mut Walk<'_>) -> Step {
    let min = min_string(w);
    w.array(min, size_of::<StrBytes>(), Walk::string)
}

fn int32s(w: &mut Walk<'_>) -> Step {
    w.array(4, size_of::<i32>(), |w| w.int(4))
}

/// Walks a request body, its top-level tagged fields included.
pub(super) fn walk(w: &mut Walk<'_>, key: ApiKey, v: i16) -> Step {
    match key {
        ApiKey::Metadata => metadata(w, v)?,
        ApiKey::FindCoordinator => {
            if v <= 3 {
                w.string()?;
            }
            if v >= 1 {
                w.int(1)?;
            }
            if v >= 4 {
                strings(w)?;
            }
        }
        ApiKey::JoinGroup => join_group(w, v)?,
        ApiKey::SyncGroup => sync_group(w, v)?,
        ApiKey::Heartbeat => {
            w.string()?;
            w.int(4)?;
            w.string()?;
            if v >= 3 {
                w.string()?;
            }
        }
        ApiKey::LeaveGroup => leave_group(w, v)?,
        ApiKey::OffsetCommit => offset_commit(w, v)?,
        ApiKey::OffsetFetch => offset_fetch(w, v)?,
        ApiKey::ListGroups => {
            if v >= 4 {
                strings(w)?;
            }
            if v >= 5 {
                strings(w)?;
            }
        }
        ApiKey::DescribeGroups => {
            let min = min_string(w);
            w.array(min, size_of::<GroupId>(), Walk::string)?;
            if v >= 3 {
                w.int(1)?;
            }
        }
        ApiKey::ListOffsets => list_offsets(w, v)?,
        ApiKey::Fetch => return fetch(w, v),
        ApiKey::Produce => produce(w, v)?,
        ApiKey::ApiVersions => {
            if v >= 3 {
                w.string()?;
                w.string()?;
            }
        }
        ApiKey::InitProducerId => {
            w.string()?;
            w.int(4)?;
            if v >= 3 {
                w.int(8 + 2)?;
            }
        }
        // Not served: refused before the walk.
        _ => return Err(Stop::Forged),
    }
    w.tags()
}

fn metadata(w: &mut Walk<'_>, v: i16) -> Step {
    let min = if v >= 10 { 16 + 1 + 1 } else { min_string(w) };
    w.array(min, size_of::<MetadataRequestTopic>(), |w| {
        if v >= 10 {
            w.uuid()?;
        }
        w.string()?;
        w.tags()
    })?;
    if v >= 4 {
        w.int(1)?;
    }
    if (8..=10).contains(&v) {
        w.int(1)?;
    }
    if v >= 8 {
        w.int(1)?;
    }
    Ok(())
}

fn join_group(w: &mut Walk<'_>, v: i16) -> Step {
    w.string()?;
    w.int(4)?;
    if v >= 1 {
        w.int(4)?;
    }
    w.string()?;
    if v >= 5 {
        w.string()?;
    }
    w.string()?;
    let min = if w.flexible { 3 } else { 6 };
    w.array(min, size_of::<JoinGroupRequestProtocol>(), |w| {
        w.string()?;
        w.bytes()?;
        w.tags()
    })?;
    if v >= 8 {
        w.string()?;
    }
    Ok(())
}

fn sync_group(w: &mut Walk<'_>, v: i16) -> Step {
    w.string()?;
    w.int(4)?;
    w.string()?;
    if v >= 3 {
        w.string()?;
    }
    if v >= 5 {
        w.string()?;
        w.string()?;
    }
    let min = if w.flexible { 3 } else { 6 };
    w.array(min, size_of::<SyncGroupRequestAssignment>(), |w| {
        w.string()?;
        w.bytes()?;
        w.tags()
    })
}

fn leave_group(w: &mut Walk<'_>, v: i16) -> Step {
    w.string()?;
    if v <= 2 {
        return w.string();
    }
    let min = if w.flexible { 3 } else { 4 };
    w.array(min, size_of::<MemberIdentity>(), |w| {
        w.string()?;
        w.string()?;
        if v >= 5 {
            w.string()?;
        }
        w.tags()
    })
}

fn offset_commit(w: &mut Walk<'_>, v: i16) -> Step {
    w.string()?;
    w.int(4)?;
    w.string()?;
    if v >= 7 {
        w.string()?;
    }
    if v <= 4 {
        w.int(8)?;
    }
    let min_topic = if w.flexible { 3 } else { 6 };
    w.array(min_topic, size_of::<OffsetCommitRequestTopic>(), |w| {
        w.string()?;
        w.array(13, size_of::<OffsetCommitRequestPartition>(), |w| {
            w.int(4 + 8)?;
            if v >= 6 {
                w.int(4)?;
            }
            w.string()?;
            w.tags()
        })?;
        w.tags()
    })
}

fn offset_fetch(w: &mut Walk<'_>, v: i16) -> Step {
    let min_topic = if w.flexible { 3 } else { 6 };
    if v <= 7 {
        w.string()?;
        w.array(min_topic, size_of::<OffsetFetchRequestTopic>(), |w| {
            w.string()?;
            int32s(w)?;
            w.tags()
        })?;
    } else {
        w.array(3, size_of::<OffsetFetchRequestGroup>(), |w| {
            w.string()?;
            if v >= 9 {
                w.string()?;
                w.int(4)?;
            }
            w.array(min_topic, size_of::<OffsetFetchRequestTopics>(), |w| {
                w.string()?;
                int32s(w)?;
                w.tags()
            })?;
            w.tags()
        })?;
    }
    if v >= 7 {
        w.int(1)?;
    }
    Ok(())
}

fn list_offsets(w: &mut Walk<'_>, v: i16) -> Step {
    w.int(4)?;
    if v >= 2 {
        w.int(1)?;
    }
    let min_topic = if w.flexible { 3 } else { 6 };
    w.array(min_topic, size_of::<ListOffsetsTopic>(), |w| {
        w.string()?;
        w.array(12, size_of::<ListOffsetsPartition>(), |w| {
            w.int(4)?;
            if v >= 4 {
                w.int(4)?;
            }
            w.int(8)?;
            w.tags()
        })?;
        w.tags()
    })?;
    if v >= 10 {
        w.int(4)?;
    }
    Ok(())
}

fn fetch(w: &mut Walk<'_>, v: i16) -> Step {
    if v <= 14 {
        w.int(4)?;
    }
    w.int(4 + 4 + 4 + 1)?;
    if v >= 7 {
        w.int(4 + 4)?;
    }
    let min_topic = if w.flexible { 3 } else { 6 };
    w.array(min_topic, size_of::<FetchTopic>(), |w| {
        if v <= 12 {
            w.string()?;
        } else {
            w.uuid()?;
        }
        w.array(16, size_of::<FetchPartition>(), |w| {
            w.int(4)?;
            if v >= 9 {
                w.int(4)?;
            }
            w.int(8)?;
            if v >= 12 {
                w.int(4)?;
            }
            if v >= 5 {
                w.int(8)?;
            }
            w.int(4)?;
            // Tags 0 and 1 are fields of later versions: the codec refuses them here.
            w.tags_with(|_, tag| {
                if tag <= 1 {
                    Err(Stop::Forged)
                } else {
                    Ok(false)
                }
            })
        })?;
        w.tags()
    })?;
    if v >= 7 {
        w.array(min_topic, size_of::<ForgottenTopic>(), |w| {
            if v <= 12 {
                w.string()?;
            } else {
                w.uuid()?;
            }
            int32s(w)?;
            w.tags()
        })?;
    }
    if v >= 11 {
        w.string()?;
    }
    // Tag 0 is the cluster id, which the codec reads as a string of its own length; tag 1
    // (replica state) is refused before version 15.
    w.tags_with(|w, tag| match tag {
        0 => w.string().map(|()| true),
        1 if v < 15 => Err(Stop::Forged),
        _ => Ok(false),
    })
}

fn produce(w: &mut Walk<'_>, v: i16) -> Step {
    w.string()?;
    w.int(2 + 4)?;
    let min_topic = if w.flexible { 3 } else { 6 };
    w.array(min_topic, size_of::<TopicProduceData>(), |w| {
        if v <= 12 {
            w.string()?;
        } else {
            w.uuid()?;
        }
        w.array(5, size_of::<PartitionProduceData>(), |w| {
            w.int(4)?;
            w.bytes()?;
            w.tags()
        })?;
        w.tags()
    })
}
