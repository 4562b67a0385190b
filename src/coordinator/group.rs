//! One group's state as the coordinator holds it: members, generation, protocol, leader.

use hashbrown::{HashMap, HashSet};

use super::RequestId;
use crate::protocol::group::JoinProtocol;
use crate::types::{ClientId, GroupId, GroupInstanceId, MemberId, Timestamp};

/// The states of a classic group, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; the group may still hold offsets.
    Empty,
    /// A rebalance has begun: waiting for members to (re)join.
    PreparingRebalance,
    /// Everyone has joined: waiting for the leader's assignment.
    CompletingRebalance,
    /// Members have their assignments and heartbeat.
    Stable,
    /// The group is gone (deleted, or its partition moved to another coordinator).
    Dead,
}

impl GroupState {
    /// Kafka's name for the state.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Whether Kafka allows a transition from `self` to `to`.
    #[must_use]
    pub fn can_become(self, to: GroupState) -> bool {
        use GroupState::*;
        match to {
            // Kafka: PreparingRebalance's valid previous states.
            PreparingRebalance => matches!(self, Stable | CompletingRebalance | Empty),
            CompletingRebalance => self == PreparingRebalance,
            Stable => self == CompletingRebalance,
            Empty => self == PreparingRebalance,
            Dead => true,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: MemberId,
    pub(crate) instance_id: Option<GroupInstanceId>,
    pub(crate) client_id: ClientId,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocols: Vec<JoinProtocol>,
    pub(crate) assignment: Vec<u8>,
    pub(crate) awaiting_join: Option<RequestId>,
    pub(crate) awaiting_sync: Option<RequestId>,
    /// Joined but has not yet completed a join: expires on the new-member timeout.
    pub(crate) is_new: bool,
    /// Order of first join: the deterministic tie-breaker wherever Kafka uses hash order.
    pub(crate) seq: u64,
}

impl Member {
    pub(crate) fn metadata(&self, protocol: &str) -> Vec<u8> {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    pub(crate) fn same_protocols(&self, protocols: &[JoinProtocol]) -> bool {
        self.protocols == protocols
    }
}

/// Adds (`add`) or removes one member's protocols to or from the count of members per
/// protocol name.
fn count_protocols(supported: &mut HashMap<String, usize>, protocols: &[JoinProtocol], add: bool) {
    // Each distinct name once; members offer a handful of protocols, so a scan of the ones
    // before beats sorting a copy.
    for (i, p) in protocols.iter().enumerate() {
        let n = p.name.as_str();
        if protocols[..i].iter().any(|q| q.name == n) {
            continue;
        }
        if add {
            *supported.entry_ref(n).or_insert(0) += 1;
        } else if let Some(c) = supported.get_mut(n) {
            *c -= 1;
            if *c == 0 {
                supported.remove(n);
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: GroupId,
    /// The offsets-log partition that holds the group.
    pub(crate) partition: u32,
    pub(crate) state: GroupState,
    pub(crate) state_since: Timestamp,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<MemberId>,
    pub(crate) members: HashMap<MemberId, Member>,
    pub(crate) statics: HashMap<GroupInstanceId, MemberId>,
    /// Dynamic members told MEMBER_ID_REQUIRED, with when they lapse.
    pub(crate) pending: HashMap<MemberId, Timestamp>,
    /// Members that joined the current generation but have not sent SyncGroup.
    pub(crate) pending_sync: HashSet<MemberId>,
    /// The running join phase's deadline and whether it is the first rebalance's delay.
    pub(crate) join_deadline: Option<Timestamp>,
    pub(crate) initial_delay: bool,
    pub(crate) delay_remaining_ms: u64,
    pub(crate) new_member_added: bool,
    pub(crate) sync_deadline: Option<Timestamp>,
    pub(crate) next_seq: u64,
    /// Members with a parked JoinGroup.
    awaiting_joins: usize,
    /// How many members support each protocol name.
    supported: HashMap<String, usize>,
}

impl Group {
    pub(crate) fn new(id: GroupId, partition: u32, now: Timestamp) -> Self {
        Group {
            id,
            partition,
            state: GroupState::Empty,
            state_since: now,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: HashMap::new(),
            statics: HashMap::new(),
            pending: HashMap::new(),
            pending_sync: HashSet::new(),
            join_deadline: None,
            initial_delay: false,
            delay_remaining_ms: 0,
            new_member_added: false,
            sync_deadline: None,
            next_seq: 0,
            awaiting_joins: 0,
            supported: HashMap::new(),
        }
    }

    /// Adds (`add`) or removes a member's contribution to the join and protocol counts.
    fn count(&mut self, m: &Member, add: bool) {
        if m.awaiting_join.is_some() {
            if add {
                self.awaiting_joins += 1;
            } else {
                self.awaiting_joins -= 1;
            }
        }
        count_protocols(&mut self.supported, &m.protocols, add);
    }

    /// Adds a member, keeping the counts.
    pub(crate) fn insert_member(&mut self, m: Member) {
        self.count(&m, true);
        if let Some(old) = self.members.insert(m.id.clone(), m) {
            self.count(&old, false);
        }
    }

    /// Removes a member, keeping the counts.
    pub(crate) fn take_member(&mut self, id: &str) -> Option<Member> {
        let m = self.members.remove(id)?;
        self.count(&m, false);
        Some(m)
    }

    /// Sets a member's parked JoinGroup, returning the one it replaces.
    pub(crate) fn set_awaiting_join(
        &mut self,
        id: &str,
        r: Option<RequestId>,
    ) -> Option<RequestId> {
        let m = self.members.get_mut(id)?;
        let old = std::mem::replace(&mut m.awaiting_join, r);
        match (old.is_some(), r.is_some()) {
            (false, true) => self.awaiting_joins += 1,
            (true, false) => self.awaiting_joins -= 1,
            _ => {}
        }
        old
    }

    /// Replaces a member's protocols, returning the old ones.
    pub(crate) fn set_protocols(
        &mut self,
        id: &str,
        protocols: Vec<JoinProtocol>,
    ) -> Vec<JoinProtocol> {
        let Some(m) = self.members.get_mut(id) else {
            return Vec::new();
        };
        count_protocols(&mut self.supported, &m.protocols, false);
        count_protocols(&mut self.supported, &protocols, true);
        std::mem::replace(&mut m.protocols, protocols)
    }

    /// Checks the counts against the members (for the consistency check).
    pub(crate) fn counts_agree(&self) -> bool {
        let mut fresh = Group::new(self.id.clone(), self.partition, self.state_since);
        for m in self.members.values() {
            fresh.count(m, true);
        }
        fresh.awaiting_joins == self.awaiting_joins && fresh.supported == self.supported
    }

    pub(crate) fn transition(&mut self, to: GroupState, now: Timestamp) {
        debug_assert!(self.state.can_become(to), "{:?} -> {:?}", self.state, to);
        self.state = to;
        self.state_since = now;
    }

    /// The earliest-joined member.
    pub(crate) fn first(&self) -> Option<&Member> {
        self.members.values().min_by_key(|m| m.seq)
    }

    /// Takes every member's parked JoinGroup, in order of first join, marking the members as
    /// no longer new.
    pub(crate) fn take_parked_joins(&mut self) -> Vec<(RequestId, MemberId)> {
        let mut parked: Vec<(u64, RequestId, MemberId)> = Vec::with_capacity(self.awaiting_joins);
        for m in self.members.values_mut() {
            if let Some(r) = m.awaiting_join.take() {
                m.is_new = false;
                parked.push((m.seq, r, m.id.clone()));
            }
        }
        self.awaiting_joins = 0;
        parked.sort_unstable_by_key(|p| p.0);
        parked.into_iter().map(|(_, r, m)| (r, m)).collect()
    }

    /// Members in order of first join.
    pub(crate) fn ordered(&self) -> Vec<&Member> {
        let mut v: Vec<&Member> = self.members.values().collect();
        v.sort_unstable_by_key(|m| m.seq);
        v
    }

    /// Whether a static member's instance id maps to another member id.
    pub(crate) fn static_fenced(&self, instance: Option<&GroupInstanceId>, member: &str) -> bool {
        instance
            .and_then(|i| self.statics.get(i))
            .is_some_and(|m| &**m != member)
    }

    /// Protocols every member supports.
    pub(crate) fn candidates(&self) -> HashSet<&str> {
        let n = self.members.len();
        self.supported
            .iter()
            .filter(|&(_, &c)| c == n)
            .map(|(p, _)| p.as_str())
            .collect()
    }

    /// Kafka's `supportsProtocols`: whether a member with `protocol_type` and `protocols` may
    /// join.
    pub(crate) fn supports(&self, protocol_type: &str, protocols: &[JoinProtocol]) -> bool {
        if self.members.is_empty() {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            let n = self.members.len();
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols
                    .iter()
                    .any(|p| self.supported.get(p.name.as_str()) == Some(&n))
        }
    }

    /// The protocol for the next generation: each member votes for its most preferred
    /// protocol that every member supports; most votes wins, and a tie goes to the protocol
    /// the earliest-joined member prefers among the tied (Kafka breaks ties in hash order).
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidates();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some(p) = m
                .protocols
                .iter()
                .find(|p| candidates.contains(p.name.as_str()))
            {
                *votes.entry(p.name.as_str()).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        let first = self.first()?;
        first
            .protocols
            .iter()
            .find(|p| votes.get(p.name.as_str()) == Some(&best))
            .map(|p| p.name.clone())
    }

    pub(crate) fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.awaiting_joins == self.members.len()
    }

    /// The largest rebalance timeout of the members (Kafka's group rebalance timeout).
    pub(crate) fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms.max(0) as u64)
            .max()
            .unwrap_or(0)
    }

    pub(crate) fn awaiting(&self) -> usize {
        self.awaiting_joins
    }
}
