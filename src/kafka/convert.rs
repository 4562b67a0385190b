//! Group APIs: kafka-protocol messages to the crate's [`Request`]s, and [`Response`]s back.

use bytes::Bytes;
use kafka_protocol::messages::{
    self as kp, BrokerId, GroupId as KpGroupId, TopicName,
    describe_groups_response::{DescribedGroup, DescribedGroupMember},
    find_coordinator_response::Coordinator,
    join_group_response::JoinGroupResponseMember,
    leave_group_response::MemberResponse,
    list_groups_response::ListedGroup,
    offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic},
    offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    },
};
use kafka_protocol::protocol::StrBytes;

use crate::error::ErrorCode;
use crate::offsets::{CommittedOffset, OffsetCommit};
use crate::protocol::group::{
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, JoinProtocol, LeaveGroupRequest,
    LeaveGroupResponse, LeavingMember, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use crate::protocol::{Request, Response};
use crate::types::{
    ClientId, Generation, GroupId, GroupInstanceId, MemberId, Offset, TopicPartition,
};

/// Kafka's UNSUPPORTED_VERSION.
pub(super) const UNSUPPORTED_VERSION: i16 = 35;

pub(super) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn group_id(g: &KpGroupId) -> GroupId {
    GroupId::new(g.0.as_str())
}

fn instance(i: Option<&StrBytes>) -> Option<GroupInstanceId> {
    i.map(|i| GroupInstanceId::new(i.as_str()))
}

/// Who sent a request, for JoinGroup's member bookkeeping.
#[derive(Debug, Clone)]
pub(super) struct Client {
    pub(super) client_id: String,
    pub(super) host: String,
}

pub(super) fn join_group(req: kp::JoinGroupRequest, version: i16, client: &Client) -> Request {
    let rebalance_timeout_ms = if version == 0 || req.rebalance_timeout_ms < 0 {
        req.session_timeout_ms
    } else {
        req.rebalance_timeout_ms
    };
    Request::JoinGroup(JoinGroupRequest {
        group_id: group_id(&req.group_id),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms,
        member_id: MemberId::new(req.member_id.as_str()),
        group_instance_id: instance(req.group_instance_id.as_ref()),
        protocol_type: req.protocol_type.as_str().to_owned(),
        protocols: req
            .protocols
            .iter()
            .map(|p| JoinProtocol::new(p.name.as_str(), p.metadata.to_vec()))
            .collect(),
        reason: req.reason.as_ref().map(|r| r.as_str().to_owned()),
        client_id: ClientId::new(client.client_id.as_str()),
        client_host: client.host.clone(),
        require_known_member_id: version >= 4,
    })
}

pub(super) fn join_group_response(r: JoinGroupResponse, version: i16) -> kp::JoinGroupResponse {
    let mut out = kp::JoinGroupResponse::default();
    out.error_code = r.error.code();
    out.generation_id = r.generation.0;
    out.protocol_type = r.protocol_type.map(|p| s(&p));
    out.protocol_name = match r.protocol_name {
        Some(p) => Some(s(&p)),
        // Before version 7 the protocol name is not nullable.
        None if version < 7 => Some(StrBytes::default()),
        None => None,
    };
    out.leader = s(r.leader.as_str());
    // Only version 9 carries it (KIP-814).
    out.skip_assignment = r.skip_assignment && version >= 9;
    out.member_id = s(r.member_id.as_str());
    out.members = r
        .members
        .into_iter()
        .map(|m| {
            let mut km = JoinGroupResponseMember::default();
            km.member_id = s(m.member_id.as_str());
            km.group_instance_id = m.group_instance_id.map(|i| s(i.as_str()));
            km.metadata = Bytes::from(m.metadata);
            km
        })
        .collect();
    out
}

pub(super) fn sync_group(req: kp::SyncGroupRequest) -> Request {
    Request::SyncGroup(SyncGroupRequest {
        group_id: group_id(&req.group_id),
        generation: Generation(req.generation_id),
        member_id: MemberId::new(req.member_id.as_str()),
        group_instance_id: instance(req.group_instance_id.as_ref()),
        protocol_type: req.protocol_type.as_ref().map(|p| p.as_str().to_owned()),
        protocol_name: req.protocol_name.as_ref().map(|p| p.as_str().to_owned()),
        assignments: req
            .assignments
            .iter()
            .map(|a| (MemberId::new(a.member_id.as_str()), a.assignment.to_vec()))
            .collect(),
    })
}

pub(super) fn sync_group_response(r: SyncGroupResponse) -> kp::SyncGroupResponse {
    let mut out = kp::SyncGroupResponse::default();
    out.error_code = r.error.code();
    out.protocol_type = r.protocol_type.map(|p| s(&p));
    out.protocol_name = r.protocol_name.map(|p| s(&p));
    out.assignment = Bytes::from(r.assignment);
    out
}

pub(super) fn heartbeat(req: kp::HeartbeatRequest) -> Request {
    Request::Heartbeat(HeartbeatRequest {
        group_id: group_id(&req.group_id),
        generation: Generation(req.generation_id),
        member_id: MemberId::new(req.member_id.as_str()),
        group_instance_id: instance(req.group_instance_id.as_ref()),
    })
}

pub(super) fn heartbeat_response(error: ErrorCode) -> kp::HeartbeatResponse {
    let mut out = kp::HeartbeatResponse::default();
    out.error_code = error.code();
    out
}

pub(super) fn leave_group(req: kp::LeaveGroupRequest, version: i16) -> Request {
    let members = if version < 3 {
        vec![LeavingMember {
            member_id: MemberId::new(req.member_id.as_str()),
            group_instance_id: None,
            reason: None,
        }]
    } else {
        req.members
            .iter()
            .map(|m| LeavingMember {
                member_id: MemberId::new(m.member_id.as_str()),
                group_instance_id: instance(m.group_instance_id.as_ref()),
                reason: m.reason.as_ref().map(|r| r.as_str().to_owned()),
            })
            .collect()
    };
    Request::LeaveGroup(LeaveGroupRequest {
        group_id: group_id(&req.group_id),
        members,
    })
}

pub(super) fn leave_group_response(r: LeaveGroupResponse, version: i16) -> kp::LeaveGroupResponse {
    let mut out = kp::LeaveGroupResponse::default();
    out.error_code = r.error.code();
    if version < 3 {
        // One member, no per-member list: its error is the answer.
        if r.error.is_ok() {
            if let Some((_, e)) = r.members.first() {
                out.error_code = e.code();
            }
        }
    } else {
        out.members = r
            .members
            .into_iter()
            .map(|(m, e)| {
                let mut km = MemberResponse::default();
                km.member_id = s(m.member_id.as_str());
                km.group_instance_id = m.group_instance_id.map(|i| s(i.as_str()));
                km.error_code = e.code();
                km
            })
            .collect();
    }
    out
}

pub(super) fn offset_commit(req: kp::OffsetCommitRequest) -> Request {
    let offsets = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| OffsetCommit {
                partition: TopicPartition::new(t.name.0.as_str(), p.partition_index),
                offset: Offset(p.committed_offset),
                leader_epoch: (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch),
                metadata: p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default(),
            })
        })
        .collect();
    Request::OffsetCommit(OffsetCommitRequest {
        group_id: group_id(&req.group_id),
        generation: Generation(req.generation_id_or_member_epoch),
        member_id: MemberId::new(req.member_id.as_str()),
        group_instance_id: instance(req.group_instance_id.as_ref()),
        retention_ms: u64::try_from(req.retention_time_ms).ok(),
        offsets,
    })
}

pub(super) fn offset_commit_response(r: OffsetCommitResponse) -> kp::OffsetCommitResponse {
    let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
    for (tp, e) in r.partitions {
        let mut p = OffsetCommitResponsePartition::default();
        p.partition_index = tp.partition;
        p.error_code = e.code();
        match topics.last_mut() {
            Some(t) if t.name.0.as_str() == tp.topic.as_str() => t.partitions.push(p),
            _ => {
                let mut t = OffsetCommitResponseTopic::default();
                t.name = TopicName(s(tp.topic.as_str()));
                t.partitions.push(p);
                topics.push(t);
            }
        }
    }
    let mut out = kp::OffsetCommitResponse::default();
    out.topics = topics;
    out
}

/// One group's part of an OffsetFetch, whichever version carried it, each partition once.
pub(super) fn offset_fetch_one(
    group: &KpGroupId,
    topics: Option<Vec<(&TopicName, &[i32])>>,
    require_stable: bool,
) -> Request {
    // A partition asked for twice is answered once.
    let partitions = topics.map(|ts| {
        let mut seen = hashbrown::HashSet::new();
        ts.into_iter()
            .flat_map(|(name, ps)| ps.iter().map(move |&p| (name.0.as_str(), p)))
            .filter(|&key| seen.insert(key))
            .map(|(name, p)| TopicPartition::new(name, p))
            .collect()
    });
    Request::OffsetFetch(OffsetFetchRequest {
        group_id: group_id(group),
        partitions,
        require_stable,
    })
}

/// (offset, leader epoch, metadata, error) of one partition of an OffsetFetch answer.
type FetchedOffset = (i64, i32, Option<StrBytes>, i16);

fn fetched(r: Result<Option<CommittedOffset>, ErrorCode>) -> FetchedOffset {
    match r {
        Ok(Some(c)) => (
            c.offset.0,
            c.leader_epoch.unwrap_or(-1),
            Some(s(&c.metadata)),
            0,
        ),
        Ok(None) => (-1, -1, Some(StrBytes::default()), 0),
        Err(e) => (-1, -1, Some(StrBytes::default()), e.code()),
    }
}

/// Groups the answer's partitions by topic, in order.
fn by_topic(r: OffsetFetchResponse) -> Vec<(String, Vec<(i32, FetchedOffset)>)> {
    let mut out: Vec<(String, Vec<(i32, FetchedOffset)>)> = Vec::new();
    for (tp, res) in r.partitions {
        let f = fetched(res);
        match out.last_mut() {
            Some((t, ps)) if t == tp.topic.as_str() => ps.push((tp.partition, f)),
            _ => out.push((tp.topic.to_string(), vec![(tp.partition, f)])),
        }
    }
    out
}

pub(super) fn offset_fetch_response(
    r: OffsetFetchResponse,
    version: i16,
) -> kp::OffsetFetchResponse {
    let mut out = kp::OffsetFetchResponse::default();
    // Version 1 has no request-level error: the partitions carry it.
    let error = r.error.code();
    if version >= 2 {
        out.error_code = error;
    }
    let r_error = error;
    out.topics = by_topic(r)
        .into_iter()
        .map(|(t, ps)| {
            let mut kt = OffsetFetchResponseTopic::default();
            kt.name = TopicName(s(&t));
            kt.partitions = ps
                .into_iter()
                .map(|(p, (offset, epoch, metadata, error))| {
                    let mut kp = OffsetFetchResponsePartition::default();
                    kp.partition_index = p;
                    kp.committed_offset = offset;
                    kp.committed_leader_epoch = epoch;
                    kp.metadata = metadata;
                    kp.error_code = if version < 2 && error == 0 {
                        r_error
                    } else {
                        error
                    };
                    kp
                })
                .collect();
            kt
        })
        .collect();
    out
}

pub(super) fn offset_fetch_group(
    group: KpGroupId,
    r: OffsetFetchResponse,
) -> OffsetFetchResponseGroup {
    let mut out = OffsetFetchResponseGroup::default();
    out.group_id = group;
    out.error_code = r.error.code();
    out.topics = by_topic(r)
        .into_iter()
        .map(|(t, ps)| {
            let mut kt = OffsetFetchResponseTopics::default();
            kt.name = TopicName(s(&t));
            kt.partitions = ps
                .into_iter()
                .map(|(p, (offset, epoch, metadata, error))| {
                    let mut kp = OffsetFetchResponsePartitions::default();
                    kp.partition_index = p;
                    kp.committed_offset = offset;
                    kp.committed_leader_epoch = epoch;
                    kp.metadata = metadata;
                    kp.error_code = error;
                    kp
                })
                .collect();
            kt
        })
        .collect();
    out
}

pub(super) fn list_groups_response(
    response: Response,
    states: &[StrBytes],
) -> Option<kp::ListGroupsResponse> {
    let Response::ListGroups { error, groups } = response else {
        return None;
    };
    let mut out = kp::ListGroupsResponse::default();
    out.error_code = error.code();
    out.groups = groups
        .into_iter()
        .filter(|g| {
            states.is_empty()
                || states
                    .iter()
                    .any(|s| s.as_str().eq_ignore_ascii_case(&g.state))
        })
        .map(|g| {
            let mut kg = ListedGroup::default();
            kg.group_id = KpGroupId(s(g.group_id.as_str()));
            kg.protocol_type = s(&g.protocol_type);
            kg.group_state = s(&g.state);
            kg.group_type = s("classic");
            kg
        })
        .collect();
    Some(out)
}

pub(super) fn describe_groups_response(response: Response) -> Option<kp::DescribeGroupsResponse> {
    let Response::DescribeGroups(groups) = response else {
        return None;
    };
    let mut out = kp::DescribeGroupsResponse::default();
    out.groups = groups
        .into_iter()
        .map(|g| {
            let mut kg = DescribedGroup::default();
            kg.error_code = g.error.code();
            kg.group_id = KpGroupId(s(g.group_id.as_str()));
            kg.group_state = s(&g.state);
            kg.protocol_type = s(&g.protocol_type);
            kg.protocol_data = s(&g.protocol);
            kg.members = g
                .members
                .into_iter()
                .map(|m| {
                    let mut km = DescribedGroupMember::default();
                    km.member_id = s(m.member_id.as_str());
                    km.group_instance_id = m.group_instance_id.map(|i| s(i.as_str()));
                    km.client_id = s(m.client_id.as_str());
                    km.client_host = s(&m.client_host);
                    km.member_metadata = Bytes::from(m.metadata);
                    km.member_assignment = Bytes::from(m.assignment);
                    km
                })
                .collect();
            kg
        })
        .collect();
    Some(out)
}

/// This broker as the coordinator of `key`, or the error that says it is not.
pub(super) fn coordinator(key: StrBytes, error: ErrorCode, host: &str, port: i32) -> Coordinator {
    let mut c = Coordinator::default();
    c.key = key;
    c.error_code = error.code();
    if error.is_ok() {
        c.node_id = BrokerId(0);
        c.host = s(host);
        c.port = port;
    } else {
        c.node_id = BrokerId(-1);
        c.port = -1;
        c.error_message = Some(s(error.name()));
    }
    c
}
