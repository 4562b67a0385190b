//! The invariants, checked after every step, and the settled condition.

use super::*;

impl Simulation {
    /// Checks invariants 1–4 against what the members and the coordinators hold now.
    pub(super) fn observe(&mut self) {
        if self.violation.is_some() {
            return;
        }
        self.check_ownership();
        let groups: Vec<GroupId> = self.groups.keys().cloned().collect();
        for g in groups {
            if self.violation.is_some() {
                return;
            }
            self.observe_group(&g);
        }
    }

    /// Invariant 1.
    fn check_ownership(&mut self) {
        // Groups whose running members all use the cooperative protocol.
        let mut cooperative: BTreeMap<&GroupId, bool> = BTreeMap::new();
        for m in self.members.iter().filter(|m| m.active()) {
            let Some(c) = m.consumer.as_ref() else {
                continue;
            };
            let coop = c.rebalance_protocol() == RebalanceProtocol::Cooperative;
            let e = cooperative.entry(&m.spec.config.group_id).or_insert(true);
            *e &= coop;
        }
        let mut in_generation: BTreeMap<(&GroupId, Generation, TopicPartition), usize> =
            BTreeMap::new();
        let mut held: BTreeMap<(&GroupId, TopicPartition), usize> = BTreeMap::new();
        let mut problem = None;
        'members: for (i, m) in self.members.iter().enumerate() {
            if !m.active() {
                continue;
            }
            let Some(c) = m.consumer.as_ref() else {
                continue;
            };
            let group = &m.spec.config.group_id;
            let strict = cooperative.get(group).copied().unwrap_or(false);
            let generation = c.generation();
            let counted = matches!(c.state(), MemberState::Stable | MemberState::Revoking);
            for tp in c.assignment() {
                if counted {
                    if let Some(j) = in_generation.insert((group, generation, tp.clone()), i) {
                        problem = Some(format!(
                            "{tp} of group {group} owned by m{j} and m{i} in generation {generation}"
                        ));
                        break 'members;
                    }
                }
                if strict {
                    if let Some(j) = held.insert((group, tp.clone()), i) {
                        problem = Some(format!(
                            "{tp} of cooperative group {group} held by m{j} and m{i} at once"
                        ));
                        break 'members;
                    }
                }
            }
            if strict {
                for tp in c.revoking() {
                    if let Some(j) = held.insert((group, tp.clone()), i) {
                        problem = Some(format!(
                            "{tp} of cooperative group {group} held by m{j} and m{i} at once \
                             (m{i} is still revoking it)"
                        ));
                        break 'members;
                    }
                }
            }
        }
        if let Some(p) = problem {
            self.violate(Invariant::Ownership, p);
        }
    }

    /// Invariants 2, 3 and 4 for one group, against the coordinator serving it.
    fn observe_group(&mut self, gid: &GroupId) {
        let now = self.now;
        let Some(info) = self.groups.get(gid) else {
            return;
        };
        let Some((b, inc, since)) = self.owned(info.partition) else {
            return;
        };
        let Some(c) = self.brokers[b].coordinator.as_ref() else {
            return;
        };
        let Some(store) = self.brokers[b].store.as_ref() else {
            return;
        };
        let state = c.group_state(gid);
        let generation = c.generation(gid).map(|g| g.0);
        let members: BTreeSet<MemberId> = c.members(gid).into_iter().collect();
        let committed = store.fetch_all(gid, false);
        let mut problems: Vec<(Invariant, String)> = Vec::new();
        let Some(info) = self.groups.get_mut(gid) else {
            return;
        };

        // Invariant 2: generations.
        if info.owner == Some((b, inc)) {
            if let (Some(was), Some(is)) = (info.generation, generation) {
                if is < was {
                    problems.push((
                        Invariant::Generation,
                        format!("group {gid} went from generation {was} to {is} at broker {b}"),
                    ));
                }
            }
            // Invariant 4: members that went away.
            for gone in info.members.difference(&members) {
                if let Some(why) = early_static_removal(info, gone, now) {
                    problems.push((Invariant::StaticExpiry, why));
                }
            }
        } else {
            if let Some(is) = generation {
                if is < info.last_stable {
                    problems.push((
                        Invariant::Generation,
                        format!(
                            "broker {b} took group {gid} over in generation {is}, below its \
                             last stable generation {}",
                            info.last_stable
                        ),
                    ));
                }
            }
            info.owner = Some((b, inc));
            info.load_at = since;
            info.join_completed_at = now;
            info.synced.clear();
        }
        if generation != info.generation {
            info.join_completed_at = now;
            info.synced.clear();
        }
        if state == Some(GroupState::Stable) {
            if let Some(g) = generation {
                info.last_stable = info.last_stable.max(g);
            }
        }
        info.generation = generation;
        info.members = members;

        // Invariant 3: committed offsets.
        let mut seen: BTreeSet<TopicPartition> = BTreeSet::new();
        for (tp, result) in committed {
            let Ok(c) = result else { continue };
            let new = c.offset.0;
            seen.insert(tp.clone());
            let old = info.committed.get(&tp).copied();
            if old == Some(new) {
                continue;
            }
            let reset = info.resets.get(&tp) == Some(&new);
            let accepted = info.accepted.get(&tp).is_some_and(|s| s.contains(&new));
            if !accepted && !reset {
                problems.push((
                    Invariant::CommittedOffsets,
                    format!(
                        "group {gid}'s committed offset of {tp} changed from {old:?} to {new} \
                         without an accepted commit"
                    ),
                ));
            } else if old.is_some_and(|o| new < o) && !reset {
                problems.push((
                    Invariant::CommittedOffsets,
                    format!(
                        "group {gid}'s committed offset of {tp} went backwards from {} to {new}",
                        old.unwrap_or_default()
                    ),
                ));
            }
            if reset {
                info.resets.remove(&tp);
            }
            info.committed.insert(tp, new);
        }
        let vanished: Vec<TopicPartition> = info
            .committed
            .keys()
            .filter(|tp| !seen.contains(*tp))
            .cloned()
            .collect();
        for tp in vanished {
            problems.push((
                Invariant::CommittedOffsets,
                format!(
                    "group {gid}'s committed offset of {tp} ({}) disappeared at broker {b}",
                    info.committed[&tp]
                ),
            ));
        }
        for (invariant, detail) in problems {
            self.violate(invariant, detail);
        }
    }

    /// Why the cluster has not settled yet, or `Ok` once every group with running members is
    /// Stable, every partition of its members' subscriptions is assigned to exactly one
    /// member subscribed to it, every record is consumed and committed, and no transaction
    /// is open.
    pub(super) fn settled(&self) -> Result<(), String> {
        if !self.txns.is_empty() {
            return Err(format!("{} transaction(s) open", self.txns.len()));
        }
        if !self.markers.is_empty() {
            return Err(format!(
                "{} transaction marker(s) not yet written",
                self.markers.len()
            ));
        }
        for (gid, info) in &self.groups {
            let running: Vec<usize> = (0..self.members.len())
                .filter(|i| {
                    let m = &self.members[*i];
                    m.spec.config.group_id == *gid && m.active()
                })
                .collect();
            if running.is_empty() {
                continue;
            }
            let Some((b, ..)) = self.owned(info.partition) else {
                return Err(format!("group {gid} has no coordinator"));
            };
            let Some(c) = self.brokers[b].coordinator.as_ref() else {
                return Err(format!("group {gid} has no coordinator"));
            };
            if c.group_state(gid) != Some(GroupState::Stable) {
                return Err(format!("group {gid} is {:?}", c.group_state(gid)));
            }
            let generation = c.generation(gid).unwrap_or(Generation::NONE);
            let at_coordinator = c.members(gid).len();
            if at_coordinator != running.len() {
                return Err(format!(
                    "group {gid} has {at_coordinator} members at its coordinator and {} running",
                    running.len()
                ));
            }
            let mut owners: BTreeMap<TopicPartition, usize> = BTreeMap::new();
            let mut subscribed: BTreeSet<Topic> = BTreeSet::new();
            for &i in &running {
                let m = &self.members[i];
                let Some(mc) = m.consumer.as_ref() else {
                    continue;
                };
                if m.status != MemberStatus::Running {
                    return Err(format!("m{i} is {:?}", m.status));
                }
                if mc.state() != MemberState::Stable || mc.generation() != generation {
                    return Err(format!(
                        "m{i} is {:?} in generation {}, the group is in {generation}",
                        mc.state(),
                        mc.generation()
                    ));
                }
                if !mc.revoking().is_empty() || m.app != App::Idle || m.ack_pending {
                    return Err(format!("m{i} is still busy ({:?})", m.app));
                }
                subscribed.extend(m.topics.iter().cloned());
                for tp in mc.assignment() {
                    if !m.topics.contains(&tp.topic) {
                        return Err(format!("m{i} owns {tp} without subscribing to it"));
                    }
                    if let Some(j) = owners.insert(tp.clone(), i) {
                        return Err(format!("{tp} is owned by m{j} and m{i}"));
                    }
                }
            }
            for topic in &subscribed {
                let n = self.partitions(topic).unwrap_or(0);
                for p in 0..n as i32 {
                    let tp = TopicPartition::new(topic.clone(), p);
                    let Some(&i) = owners.get(&tp) else {
                        return Err(format!("{tp} of group {gid} is not assigned"));
                    };
                    let end = self.end_offset(&tp);
                    let position = self.members[i]
                        .consumer
                        .as_ref()
                        .and_then(|c| c.position(&tp));
                    if end.0 > 0 && position != Some(end) {
                        return Err(format!(
                            "m{i} is at {position:?} of {tp}, which ends at {end}"
                        ));
                    }
                    if end.0 > 0 && info.committed.get(&tp) != Some(&end.0) {
                        return Err(format!(
                            "group {gid} committed {:?} for {tp}, which ends at {end}",
                            info.committed.get(&tp)
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why removing static member `gone` now was too early, if it was.
fn early_static_removal(info: &GroupInfo, gone: &MemberId, now: Timestamp) -> Option<String> {
    let (instance, session_ms, rebalance_ms, since) = info.statics.get(gone)?;
    if info.left.contains(gone) || info.left_instances.contains(instance) {
        return None;
    }
    // Replaced: a JoinGroup for the instance without this member id came after the id was
    // handed out.
    if info
        .instance_joins
        .get(instance)
        .is_some_and(|joins| joins.iter().any(|(m, seq)| m != gone && seq > since))
    {
        return None;
    }
    let contact = info
        .contact
        .get(gone)
        .copied()
        .unwrap_or(info.load_at)
        .max(info.load_at);
    if now >= contact.plus_millis(*session_ms) {
        return None;
    }
    if now >= info.join_completed_at.plus_millis(*rebalance_ms) && !info.synced.contains(gone) {
        return None;
    }
    Some(format!(
        "static member {gone} ({instance}) was removed {} ms after the coordinator last heard \
         from it; its session timeout is {session_ms} ms",
        now.0.saturating_sub(contact.0)
    ))
}
