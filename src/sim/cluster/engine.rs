//! Moving the simulation: time, the network, the applications and transactions.

use super::*;

impl Simulation {
    pub(super) fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_mut() {
            let _ = writeln!(t, "{} {}", self.now.0, line());
        }
    }

    pub(super) fn check_violation(&self) -> Result<(), Violation> {
        match &self.violation {
            Some(v) => Err(v.clone()),
            None => Ok(()),
        }
    }

    pub(super) fn violate(&mut self, invariant: Invariant, detail: String) {
        if self.violation.is_none() {
            self.note(|| format!("VIOLATION {}: {detail}", invariant.name()));
            self.violation = Some(Violation::new(invariant, self.now, detail));
        }
    }

    /// Every step ends here: markers that can be written are, then the invariants are checked.
    pub(super) fn after_step(&mut self) -> Result<(), Violation> {
        self.steps += 1;
        self.flush_markers();
        self.observe();
        self.check_violation()
    }

    /// The earliest time anything is due.
    pub(super) fn next_due(&self) -> Option<Timestamp> {
        let mut next: Option<Timestamp> = None;
        let mut consider = |t: Option<Timestamp>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
            }
        };
        consider(self.net.keys().next().map(|(t, _)| *t));
        for m in &self.members {
            if m.active() {
                consider(
                    m.consumer
                        .as_ref()
                        .and_then(ConsumerCoordinator::poll_timeout),
                );
            }
            if m.status == MemberStatus::Running && m.consumer.is_some() {
                consider(Some(m.next_tick));
            }
            if m.status != MemberStatus::Frozen {
                if let App::TxnSent { deadline, .. } = m.app {
                    consider(Some(deadline));
                }
            }
        }
        for b in &self.brokers {
            match &b.coordinator {
                Some(c) => consider(c.poll_timeout()),
                None => consider(b.restart_at),
            }
        }
        for owner in self.owners.values() {
            match *owner {
                Owner::Vacant { failover_at } => consider(Some(failover_at)),
                Owner::Loading { done_at, .. } => consider(Some(done_at)),
                Owner::Owned { .. } => {}
            }
        }
        for txn in self.txns.values() {
            consider(Some(
                txn.started.plus_millis(self.config.transaction_timeout_ms),
            ));
        }
        next
    }

    /// Does one due thing at `now`, then checks.
    pub(super) fn fire_due(&mut self) -> Result<(), Violation> {
        let now = self.now;
        // Brokers coming back, failovers, loads.
        for b in 0..self.brokers.len() {
            if self.brokers[b].coordinator.is_none()
                && self.brokers[b].restart_at.is_some_and(|t| t <= now)
            {
                self.start_broker(b, Vec::new());
                self.note(|| format!("broker {b} is back"));
                return self.after_step();
            }
        }
        let partitions: Vec<(u32, Owner)> = self.owners.iter().map(|(p, o)| (*p, *o)).collect();
        for (p, owner) in partitions {
            match owner {
                Owner::Vacant { failover_at } if failover_at <= now => {
                    self.fail_over(p);
                    return self.after_step();
                }
                Owner::Loading {
                    broker,
                    inc,
                    done_at,
                } if done_at <= now => {
                    self.finish_load(p, broker, inc);
                    return self.after_step();
                }
                _ => {}
            }
        }
        // Member timers fire before the coordinators' at the same instant: a member whose
        // session ran out gives its partitions up no later than the coordinator hands them on.
        for i in 0..self.members.len() {
            let m = &mut self.members[i];
            if !m.active() {
                continue;
            }
            let Some(c) = m.consumer.as_mut() else {
                continue;
            };
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
                self.note(|| format!("m{i} timer"));
                self.pump_member(i);
                return self.after_step();
            }
        }
        for b in 0..self.brokers.len() {
            let Some(c) = self.brokers[b].coordinator.as_mut() else {
                continue;
            };
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
                if self.trace.is_some() {
                    let groups: Vec<String> = self
                        .groups
                        .keys()
                        .filter_map(|g| {
                            let c = self.brokers[b].coordinator.as_ref()?;
                            Some(format!("{g}: {:?} {:?}", c.group_state(g), c.members(g)))
                        })
                        .collect();
                    self.note(|| format!("broker {b} timer ({})", groups.join("; ")));
                }
                self.pump_broker(b);
                return self.after_step();
            }
        }
        if let Some((&key, _)) = self.net.iter().next() {
            if key.0 <= now {
                if let Some(p) = self.net.remove(&key) {
                    self.deliver(p);
                }
                return self.after_step();
            }
        }
        for i in 0..self.members.len() {
            let m = &self.members[i];
            if m.status != MemberStatus::Frozen {
                if let App::TxnSent { deadline, seq, .. } = m.app {
                    if deadline <= now {
                        self.note(|| format!("m{i} transaction {seq} timed out"));
                        self.end_txn(i, false);
                        return self.after_step();
                    }
                }
            }
            if m.status == MemberStatus::Running && m.consumer.is_some() && m.next_tick <= now {
                self.tick(i);
                return self.after_step();
            }
        }
        let expired: Option<i64> = self
            .txns
            .iter()
            .find(|(_, t)| t.started.plus_millis(self.config.transaction_timeout_ms) <= now)
            .map(|(pid, _)| *pid);
        if let Some(pid) = expired {
            if let Some(txn) = self.txns.remove(&pid) {
                self.note(|| format!("transaction of producer {pid} aborted by timeout"));
                self.queue_marker(&txn, TxnOutcome::Abort);
            }
            return self.after_step();
        }
        Ok(())
    }

    // ---- Failover -----------------------------------------------------------------------------

    fn fail_over(&mut self, p: u32) {
        let live: Vec<usize> = (0..self.brokers.len())
            .filter(|b| self.brokers[*b].coordinator.is_some())
            .collect();
        let Some(&b) = self.rng.pick(&live) else {
            // Nobody to take over: wait for a broker to come back.
            let back = self
                .brokers
                .iter()
                .filter_map(|b| b.restart_at)
                .min()
                .unwrap_or(self.now.plus_millis(1_000));
            self.owners.insert(
                p,
                Owner::Vacant {
                    failover_at: back.max(self.now.plus_millis(1)),
                },
            );
            return;
        };
        if let Some(c) = self.brokers[b].coordinator.as_mut() {
            c.begin_loading(p);
        }
        let inc = self.brokers[b].incarnation;
        self.owners.insert(
            p,
            Owner::Loading {
                broker: b,
                inc,
                done_at: self.now.plus_millis(self.config.load_time_ms),
            },
        );
        self.note(|| format!("broker {b} loads offsets partition {p}"));
    }

    fn finish_load(&mut self, p: u32, b: usize, inc: u32) {
        let now = self.now;
        if self.brokers[b].incarnation != inc || self.brokers[b].coordinator.is_none() {
            self.owners.insert(p, Owner::Vacant { failover_at: now });
            return;
        }
        let loaded = self.brokers[b].store.as_ref().map(|s| s.load(p));
        if let Some(Err(e)) = loaded {
            self.violate(
                Invariant::CommittedOffsets,
                format!("broker {b} could not replay offsets partition {p}: {e}"),
            );
            return;
        }
        if let Some(c) = self.brokers[b].coordinator.as_mut() {
            c.load_partition(now, p);
        }
        self.owners.insert(
            p,
            Owner::Owned {
                broker: b,
                inc,
                since: now,
            },
        );
        self.note(|| format!("broker {b} serves offsets partition {p}"));
        self.pump_broker(b);
    }

    // ---- Network ------------------------------------------------------------------------------

    /// Puts a message on the network: dropped, delayed and maybe duplicated. Messages on one
    /// `link` (a connection in one direction) arrive in the order sent, as over TCP, which
    /// Kafka's protocol relies on (a coordinator handles a connection's requests in order);
    /// messages on different links overtake each other. A duplicate arrives right after its
    /// original.
    fn transmit(&mut self, payload: Payload, duplicable: bool, link: Option<Link>) {
        let (member, _) = payload.member();
        if self.members.get(member).is_some_and(|m| m.isolated) {
            self.note(|| format!("lost (m{member} cut off)"));
            return;
        }
        if self.rng.chance(self.network.drop_probability) {
            // A lost message breaks its connection (Kafka runs over TCP): the member learns
            // that the request failed, whether the request or its answer was lost.
            self.note(|| format!("lost {} (connection reset)", describe(&payload)));
            let reset = match payload {
                Payload::Request {
                    member, inc, id, ..
                }
                | Payload::Response {
                    member, inc, id, ..
                } => Payload::Failed { member, inc, id },
                Payload::TxnRequest {
                    member, inc, seq, ..
                }
                | Payload::TxnResult {
                    member, inc, seq, ..
                } => Payload::TxnResult {
                    member,
                    inc,
                    seq,
                    accepted: false,
                },
                Payload::Failed { .. } => payload,
            };
            self.send_reliably(reset);
            return;
        }
        let copies = if duplicable && self.rng.chance(self.network.duplicate_probability) {
            2
        } else {
            1
        };
        let mut at = self.now.plus_millis(
            self.rng
                .between(self.network.min_delay_ms, self.network.max_delay_ms),
        );
        if let Some(link) = link {
            let last = self.links.entry(link).or_insert(at);
            at = at.max(*last);
            *last = at;
        }
        for _ in 0..copies {
            self.net_seq += 1;
            self.net.insert((at, self.net_seq), payload.clone());
        }
    }

    /// Puts a message on the network that arrives (a broken connection's failure).
    pub(super) fn send_reliably(&mut self, payload: Payload) {
        self.schedule(payload);
    }

    fn schedule(&mut self, payload: Payload) {
        let delay = self
            .rng
            .between(self.network.min_delay_ms, self.network.max_delay_ms);
        self.net_seq += 1;
        self.net
            .insert((self.now.plus_millis(delay), self.net_seq), payload);
    }

    fn send_request(&mut self, i: usize, id: RequestId, request: Request) {
        let inc = self.members[i].incarnation;
        let group = self.members[i].spec.config.group_id.clone();
        let partition = partition_for(&group, self.config.offsets_partitions);
        let target = if matches!(request, Request::FindCoordinator(_)) {
            let found = self.coordinator_of(partition);
            if found.is_none() {
                // Any broker answers: the group has no coordinator right now.
                self.transmit(
                    Payload::Response {
                        member: i,
                        inc,
                        id,
                        response: Response::FindCoordinator(FindCoordinatorResponse {
                            error: ErrorCode::CoordinatorNotAvailable,
                            partition,
                        }),
                    },
                    false,
                    None,
                );
                return;
            }
            self.members[i].connection = found;
            found
        } else {
            self.members[i].connection
        };
        match target {
            Some((broker, broker_inc)) => self.transmit(
                Payload::Request {
                    member: i,
                    inc,
                    broker,
                    broker_inc,
                    id,
                    request,
                },
                true,
                Some((i, broker, LinkKind::Requests)),
            ),
            None => self.send_reliably(Payload::Failed { member: i, inc, id }),
        }
    }

    pub(super) fn deliver(&mut self, payload: Payload) {
        let (i, inc) = payload.member();
        match payload {
            Payload::Request {
                broker,
                broker_inc,
                id,
                request,
                ..
            } => {
                let alive = self.brokers[broker].incarnation == broker_inc
                    && self.brokers[broker].coordinator.is_some();
                if !alive {
                    self.note(|| format!("m{i}: connection to broker {broker} refused"));
                    self.send_reliably(Payload::Failed { member: i, inc, id });
                    return;
                }
                let group = self.members[i].spec.config.group_id.clone();
                self.note_request(&group, &request);
                if let Request::OffsetCommit(c) = &request {
                    let sent = &mut self.members[i].sent_commits;
                    if c.generation != Generation::NONE
                        && sent.back().is_none_or(|r| r.generation != c.generation)
                    {
                        if sent.len() == REMEMBERED_COMMITS {
                            sent.pop_front();
                        }
                        sent.push_back(c.clone());
                    }
                }
                let kind = match &request {
                    Request::Heartbeat(h) => RouteKind::Heartbeat(h.member_id.clone()),
                    Request::OffsetCommit(c) => RouteKind::Commit(c.offsets.clone()),
                    _ => RouteKind::Other,
                };
                self.note(|| format!("broker {broker} <- m{i} {}", short_request(&request)));
                self.next_tag += 1;
                let tag = self.next_tag;
                self.routes.insert(
                    tag,
                    Route {
                        broker,
                        member: i,
                        inc,
                        id,
                        group,
                        kind,
                    },
                );
                if let Some(c) = self.brokers[broker].coordinator.as_mut() {
                    c.handle(self.now, RequestId(tag), request);
                }
                self.pump_broker(broker);
            }
            Payload::TxnRequest {
                broker,
                broker_inc,
                seq,
                request,
                ..
            } => {
                let alive = self.brokers[broker].incarnation == broker_inc
                    && self.brokers[broker].coordinator.is_some();
                if !alive {
                    self.send_reliably(Payload::TxnResult {
                        member: i,
                        inc,
                        seq,
                        accepted: false,
                    });
                    return;
                }
                self.note(|| format!("broker {broker} <- m{i} TxnOffsetCommit {seq}"));
                self.next_tag += 1;
                let tag = self.next_tag;
                self.routes.insert(
                    tag,
                    Route {
                        broker,
                        member: i,
                        inc,
                        id: RequestId(0),
                        group: request.group_id.clone(),
                        kind: RouteKind::Txn(seq, request.offsets.clone()),
                    },
                );
                if let Some(c) = self.brokers[broker].coordinator.as_mut() {
                    c.handle(self.now, RequestId(tag), Request::TxnOffsetCommit(request));
                }
                self.pump_broker(broker);
            }
            other => {
                let m = &mut self.members[i];
                if m.incarnation != inc || m.consumer.is_none() {
                    return;
                }
                if m.status == MemberStatus::Frozen {
                    m.inbox.push_back(other);
                    return;
                }
                if m.isolated {
                    return;
                }
                self.deliver_to_member(i, other);
            }
        }
    }

    fn deliver_to_member(&mut self, i: usize, payload: Payload) {
        let now = self.now;
        match payload {
            Payload::Response { id, response, .. } => {
                self.note(|| format!("m{i} <- {}", short_response(&response)));
                if let Some(c) = self.members[i].consumer.as_mut() {
                    c.handle_response(now, id, response);
                }
                self.pump_member(i);
            }
            Payload::Failed { id, .. } => {
                self.note(|| format!("m{i} request {} failed", id.0));
                if let Some(c) = self.members[i].consumer.as_mut() {
                    c.handle_request_failed(now, id);
                }
                self.pump_member(i);
            }
            Payload::TxnResult { seq, accepted, .. } => {
                if let App::TxnSent { seq: s, .. } = self.members[i].app {
                    if s == seq {
                        self.note(|| format!("m{i} TxnOffsetCommit {seq} accepted={accepted}"));
                        self.end_txn(i, accepted);
                    }
                }
            }
            Payload::Request { .. } | Payload::TxnRequest { .. } => {}
        }
    }

    /// What a request delivered to a coordinator tells the static-member check.
    fn note_request(&mut self, group: &GroupId, request: &Request) {
        let Some(info) = self.groups.get_mut(group) else {
            return;
        };
        match request {
            Request::JoinGroup(j) => {
                if let Some(inst) = &j.group_instance_id {
                    self.observed += 1;
                    info.instance_joins
                        .entry(inst.clone())
                        .or_default()
                        .push((j.member_id.clone(), self.observed));
                }
            }
            Request::SyncGroup(s) if Some(s.generation.0) == info.generation => {
                info.synced.insert(s.member_id.clone());
            }
            Request::LeaveGroup(l) => {
                for m in &l.members {
                    info.left.insert(m.member_id.clone());
                    if let Some(inst) = &m.group_instance_id {
                        info.left_instances.insert(inst.clone());
                    }
                }
            }
            _ => {}
        }
    }

    /// Sends what a broker's coordinator answered.
    pub(super) fn pump_broker(&mut self, b: usize) {
        let mut out = Vec::new();
        if let Some(c) = self.brokers[b].coordinator.as_mut() {
            while let Some(r) = c.poll_response() {
                out.push(r);
            }
        }
        for (tag, response) in out {
            let Some(route) = self.routes.remove(&tag.0) else {
                continue;
            };
            self.note_response(&route, &response);
            match route.kind {
                RouteKind::Admin(_) | RouteKind::Zombie(_) => {}
                RouteKind::Txn(seq, _) => {
                    let accepted = match &response {
                        Response::TxnOffsetCommit(r) => {
                            r.partitions.iter().all(|(_, e)| *e == ErrorCode::None)
                        }
                        _ => false,
                    };
                    self.transmit(
                        Payload::TxnResult {
                            member: route.member,
                            inc: route.inc,
                            seq,
                            accepted,
                        },
                        false,
                        Some((route.member, b, LinkKind::TxnResponses)),
                    );
                }
                _ => self.transmit(
                    Payload::Response {
                        member: route.member,
                        inc: route.inc,
                        id: route.id,
                        response,
                    },
                    true,
                    Some((route.member, b, LinkKind::Responses)),
                ),
            }
        }
    }

    /// What a coordinator's answer tells the checks: accepted commits, contact with members,
    /// static members' ids.
    fn note_response(&mut self, route: &Route, response: &Response) {
        let now = self.now;
        let instance = self
            .members
            .get(route.member)
            .and_then(|m| m.spec.config.group_instance_id.clone());
        let (session, rebalance) = self.members.get(route.member).map_or((0, 0), |m| {
            (
                m.spec.config.session_timeout_ms,
                m.spec.config.max_poll_interval_ms,
            )
        });
        let Some(info) = self.groups.get_mut(&route.group) else {
            return;
        };
        match (&route.kind, response) {
            (RouteKind::Commit(offsets) | RouteKind::Admin(offsets), Response::OffsetCommit(r)) => {
                for (c, (_, e)) in offsets.iter().zip(&r.partitions) {
                    if *e == ErrorCode::None {
                        info.accepted
                            .entry(c.partition.clone())
                            .or_default()
                            .insert(c.offset.0);
                    }
                }
            }
            (RouteKind::Zombie(generation), Response::OffsetCommit(r)) => {
                if let Some((tp, _)) = r.partitions.iter().find(|(_, e)| *e == ErrorCode::None) {
                    let detail = format!(
                        "group {}'s coordinator accepted a replayed commit of {tp} from generation {}",
                        route.group, generation.0
                    );
                    self.violate(Invariant::CommittedOffsets, detail);
                }
            }
            (RouteKind::Txn(..), Response::TxnOffsetCommit(r)) => {
                if let RouteKind::Txn(_, offsets) = &route.kind {
                    let pid = self.members.get(route.member).map(|m| m.producer_id);
                    if let Some(txn) = pid.and_then(|p| self.txns.get_mut(&p)) {
                        for (c, (_, e)) in offsets.iter().zip(&r.partitions) {
                            if *e == ErrorCode::None {
                                txn.accepted.push((c.partition.clone(), c.offset.0));
                            }
                        }
                    }
                }
            }
            (RouteKind::Heartbeat(id), Response::Heartbeat(e)) => {
                if matches!(e, ErrorCode::None | ErrorCode::RebalanceInProgress) {
                    info.contact.insert(id.clone(), now);
                }
            }
            (_, Response::JoinGroup(j)) if j.error == ErrorCode::None => {
                // A join that completes a rebalance restarts the session; one answered at
                // once with the current generation (a member that missed its answer) does
                // not.
                if Some(j.generation.0) != info.generation {
                    info.contact.insert(j.member_id.clone(), now);
                }
                if let Some(inst) = instance {
                    self.observed += 1;
                    info.statics.insert(
                        j.member_id.clone(),
                        (inst, session, rebalance, self.observed),
                    );
                }
            }
            (_, Response::SyncGroup(_)) => {}
            _ => {}
        }
    }

    // ---- Members ------------------------------------------------------------------------------

    /// Sends what member `i` wants sent and hands its events to its application, until it
    /// has nothing more.
    pub(super) fn pump_member(&mut self, i: usize) {
        loop {
            let mut requests = Vec::new();
            let mut events = Vec::new();
            if let Some(c) = self.members[i].consumer.as_mut() {
                while let Some(r) = c.poll_request() {
                    requests.push(r);
                }
                while let Some(e) = c.poll_event() {
                    events.push(e);
                }
            }
            if requests.is_empty() && events.is_empty() {
                return;
            }
            for (id, request) in requests {
                self.send_request(i, id, request);
            }
            for e in events {
                self.on_event(i, e);
            }
        }
    }

    fn on_event(&mut self, i: usize, event: ConsumerEvent) {
        let now = self.now;
        self.note(|| format!("m{i} event {}", short_event(&event)));
        match event {
            ConsumerEvent::PartitionsRevoked { .. } => {
                let m = &mut self.members[i];
                if m.app != App::Idle {
                    m.ack_pending = true;
                    return;
                }
                if m.spec.delivery == DeliveryMode::AtLeastOnce {
                    if let Some(c) = m.consumer.as_mut() {
                        if let Some(ends) = uncommitted(c) {
                            if let Ok(id) = c.commit(now, Some(ends.clone())) {
                                m.app = App::Committing {
                                    id,
                                    batch: Vec::new(),
                                    ends,
                                };
                                m.ack_pending = true;
                                return;
                            }
                        }
                    }
                }
                self.ack_revocation(i);
            }
            ConsumerEvent::PartitionsAssigned { generation, .. } => {
                let m = &mut self.members[i];
                if generation < m.last_assigned {
                    let last = m.last_assigned;
                    self.violate(
                        Invariant::Generation,
                        format!("m{i} was assigned partitions in generation {generation} after generation {last}"),
                    );
                    return;
                }
                m.last_assigned = generation;
            }
            ConsumerEvent::ResetOffsets { policy, partitions } => {
                for tp in partitions {
                    let to = match policy {
                        OffsetReset::Latest => self.end_offset(&tp),
                        _ => Offset(
                            self.topic_log(&tp)
                                .and_then(|l| l.start_offset(0).ok())
                                .unwrap_or(0),
                        ),
                    };
                    if let Some(c) = self.members[i].consumer.as_mut() {
                        let _ = c.seek(&tp, to);
                    }
                }
            }
            ConsumerEvent::NoOffset { partitions } => {
                for tp in partitions {
                    if let Some(c) = self.members[i].consumer.as_mut() {
                        let _ = c.seek(&tp, Offset(0));
                    }
                }
            }
            ConsumerEvent::CommitCompleted { id, results, .. } => {
                let App::Committing {
                    id: waiting,
                    batch,
                    ends,
                } = &self.members[i].app
                else {
                    return;
                };
                if *waiting != id {
                    return;
                }
                let ok: BTreeSet<TopicPartition> = results
                    .iter()
                    .filter(|(_, _, e)| *e == ErrorCode::None)
                    .map(|(tp, _, _)| tp.clone())
                    .collect();
                let batch = batch.clone();
                let ends = ends.clone();
                if self.members[i].spec.delivery == DeliveryMode::AtMostOnce {
                    let done: Vec<(TopicPartition, Offset, u64)> = batch
                        .into_iter()
                        .filter(|(tp, ..)| ok.contains(tp))
                        .collect();
                    self.process(i, &done);
                    // A failed commit may still have been applied (its answer was lost): the
                    // batch's records are skipped, never processed, so the next commit does
                    // not move the offset back.
                    if let Some(c) = self.members[i].consumer.as_mut() {
                        for e in &ends {
                            let _ = c.seek(&e.partition, e.offset);
                        }
                    }
                }
                self.members[i].app = App::Idle;
                if self.members[i].ack_pending {
                    self.ack_revocation(i);
                }
            }
            ConsumerEvent::Closed | ConsumerEvent::Fatal { .. } => {
                let m = &mut self.members[i];
                if m.status != MemberStatus::Crashed {
                    m.status = MemberStatus::Closed;
                }
            }
            ConsumerEvent::PartitionsLost { .. }
            | ConsumerEvent::InvalidMetadata { .. }
            | ConsumerEvent::AssignmentFailed { .. }
            | ConsumerEvent::PollTimeoutExpired => {}
        }
    }

    fn ack_revocation(&mut self, i: usize) {
        let now = self.now;
        let m = &mut self.members[i];
        m.ack_pending = false;
        if let Some(c) = m.consumer.as_mut() {
            if c.state() == MemberState::Revoking {
                let _ = c.revocation_done(now);
            }
        }
        self.pump_member(i);
    }

    /// The application's poll: refresh metadata, poll, read a batch and handle it by the
    /// group's delivery mode.
    fn tick(&mut self, i: usize) {
        let now = self.now;
        let tick = self.config.app_tick_ms.max(1);
        let specs =
            (self.members[i].metadata_seen != self.metadata_version).then(|| self.topic_specs());
        let version = self.metadata_version;
        let m = &mut self.members[i];
        m.next_tick = now.plus_millis(tick);
        let Some(c) = m.consumer.as_mut() else { return };
        if let Some(specs) = specs {
            c.update_metadata(now, specs);
            m.metadata_seen = version;
        }
        c.poll(now);
        self.pump_member(i);
        if self.members[i].app != App::Idle || self.members[i].ack_pending {
            return;
        }
        let batch = self.read_batch(i);
        let delivery = self.members[i].spec.delivery;
        let Some(c) = self.members[i].consumer.as_mut() else {
            return;
        };
        let mut ends: BTreeMap<TopicPartition, Offset> = BTreeMap::new();
        for (tp, offset, _) in &batch {
            ends.insert(tp.clone(), Offset(offset.0 + 1));
        }
        let ends: Vec<OffsetCommit> = ends
            .into_iter()
            .map(|(tp, o)| OffsetCommit::new(tp, o))
            .collect();
        match delivery {
            DeliveryMode::AtLeastOnce => {
                if !batch.is_empty() {
                    self.process(i, &batch);
                }
                let Some(c) = self.members[i].consumer.as_mut() else {
                    return;
                };
                for e in &ends {
                    let _ = c.seek(&e.partition, e.offset);
                }
                if let Some(all) = uncommitted(c) {
                    if let Ok(id) = c.commit(now, Some(all.clone())) {
                        self.members[i].app = App::Committing {
                            id,
                            batch: Vec::new(),
                            ends: all,
                        };
                    }
                }
            }
            DeliveryMode::AtMostOnce => {
                // With nothing new to read, positions a failed commit skipped past are
                // committed on their own.
                let ends = if batch.is_empty() {
                    match uncommitted(c) {
                        Some(all) => all,
                        None => return,
                    }
                } else {
                    ends
                };
                if let Ok(id) = c.commit(now, Some(ends.clone())) {
                    self.members[i].app = App::Committing { id, batch, ends };
                }
            }
            DeliveryMode::ExactlyOnce => {
                if batch.is_empty() {
                    return;
                }
                self.begin_txn(i, batch, ends);
            }
        }
        self.pump_member(i);
    }

    /// Up to `max_batch` records from the partitions the member may read, starting at a
    /// partition that rotates from poll to poll.
    fn read_batch(&mut self, i: usize) -> Vec<(TopicPartition, Offset, u64)> {
        let max = self.config.max_batch.max(1);
        let Some(c) = self.members[i].consumer.as_ref() else {
            return Vec::new();
        };
        if matches!(c.state(), MemberState::Closing | MemberState::Closed) {
            return Vec::new();
        }
        let fetchable = c.fetchable();
        if fetchable.is_empty() {
            return Vec::new();
        }
        let start = self.members[i].cursor % fetchable.len();
        self.members[i].cursor = self.members[i].cursor.wrapping_add(1);
        let mut batch = Vec::new();
        for k in 0..fetchable.len() {
            let (tp, pos) = &fetchable[(start + k) % fetchable.len()];
            let Some(log) = self.topic_log(tp) else {
                continue;
            };
            let want = max - batch.len();
            let _ = log.read(0, pos.0, ReadLimit::records(want), &mut |r| {
                batch.push((tp.clone(), Offset(r.offset), record_id(r.value)));
            });
            if batch.len() >= max {
                break;
            }
        }
        batch
    }

    fn process(&mut self, i: usize, batch: &[(TopicPartition, Offset, u64)]) {
        let now = self.now;
        let m = &mut self.members[i];
        let generation = m
            .consumer
            .as_ref()
            .map_or(Generation::NONE, ConsumerCoordinator::generation);
        for (tp, offset, id) in batch {
            m.processed.push(ProcessedRecord {
                partition: tp.clone(),
                offset: *offset,
                record: *id,
                incarnation: m.incarnation,
                generation,
                at: now,
            });
        }
        let n = batch.len();
        if n > 0 {
            self.note(|| format!("m{i} processes {n} records"));
        }
    }

    // ---- Transactions -------------------------------------------------------------------------

    fn begin_txn(
        &mut self,
        i: usize,
        batch: Vec<(TopicPartition, Offset, u64)>,
        ends: Vec<OffsetCommit>,
    ) {
        let now = self.now;
        let Some(c) = self.members[i].consumer.as_ref() else {
            return;
        };
        if c.generation() == Generation::NONE || c.member_id().is_empty() {
            return;
        }
        let group = c.config().group_id.clone();
        let request = TxnOffsetCommitRequest {
            transactional_id: format!("txn-m{i}"),
            producer_id: self.members[i].producer_id,
            producer_epoch: self.members[i].producer_epoch,
            group_id: group.clone(),
            generation: c.generation(),
            member_id: c.member_id().clone(),
            group_instance_id: c.config().group_instance_id.clone(),
            offsets: ends.clone(),
        };
        let producer = Producer {
            id: self.members[i].producer_id,
            epoch: self.members[i].producer_epoch,
        };
        self.process(i, &batch);
        self.txns.insert(
            producer.id,
            Txn {
                producer,
                group: group.clone(),
                started: now,
                outputs: batch.iter().map(|(_, _, id)| *id).collect(),
                accepted: Vec::new(),
            },
        );
        let m = &mut self.members[i];
        m.txn_seq += 1;
        let seq = m.txn_seq;
        let inc = m.incarnation;
        let deadline = now.plus_millis(m.spec.config.request_timeout_ms);
        m.app = App::TxnSent {
            seq,
            deadline,
            ends,
        };
        let partition = partition_for(&group, self.config.offsets_partitions);
        match self.coordinator_of(partition) {
            Some((broker, broker_inc)) => self.transmit(
                Payload::TxnRequest {
                    member: i,
                    inc,
                    broker,
                    broker_inc,
                    seq,
                    request,
                },
                false,
                Some((i, broker, LinkKind::TxnRequests)),
            ),
            None => self.send_reliably(Payload::TxnResult {
                member: i,
                inc,
                seq,
                accepted: false,
            }),
        }
    }

    /// The application ends its transaction: commits it if its offsets were accepted and the
    /// transaction coordinator has not aborted it meanwhile, aborts it otherwise.
    pub(super) fn end_txn(&mut self, i: usize, commit: bool) {
        let App::TxnSent { ends, .. } = std::mem::replace(&mut self.members[i].app, App::TxnEnding)
        else {
            return;
        };
        let pid = self.members[i].producer_id;
        match self.txns.remove(&pid) {
            Some(txn) if commit => {
                if let Some(info) = self.groups.get_mut(&txn.group) {
                    for id in &txn.outputs {
                        *info.outputs.entry(*id).or_default() += 1;
                    }
                }
                self.queue_marker(&txn, TxnOutcome::Commit);
                if let Some(c) = self.members[i].consumer.as_mut() {
                    for e in &ends {
                        let _ = c.seek(&e.partition, e.offset);
                    }
                }
            }
            Some(txn) => self.queue_marker(&txn, TxnOutcome::Abort),
            None => {}
        }
        self.finish_txns();
    }

    pub(super) fn queue_marker(&mut self, txn: &Txn, outcome: TxnOutcome) {
        self.markers.push_back(Marker {
            partition: partition_for(&txn.group, self.config.offsets_partitions),
            producer: txn.producer,
            outcome,
            group: txn.group.clone(),
            offsets: txn.accepted.clone(),
        });
    }

    /// Writes the queued transaction markers whose offsets partition has a coordinator.
    fn flush_markers(&mut self) {
        let mut wrote = false;
        while let Some(m) = self.markers.front() {
            let Some((b, inc, _)) = self.owned(m.partition) else {
                break;
            };
            let Some(store) = self.brokers[b].store.clone() else {
                break;
            };
            if store
                .write_txn_marker(m.partition, m.producer, m.outcome, inc as i32, self.now)
                .is_err()
            {
                break;
            }
            let Some(m) = self.markers.pop_front() else {
                break;
            };
            if m.outcome == TxnOutcome::Commit {
                if let Some(info) = self.groups.get_mut(&m.group) {
                    for (tp, o) in m.offsets {
                        info.accepted.entry(tp).or_default().insert(o);
                    }
                }
            }
            wrote = true;
        }
        if wrote {
            self.finish_txns();
        }
    }

    /// Members whose transaction's markers are all written go back to work.
    fn finish_txns(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].app != App::TxnEnding {
                continue;
            }
            let pid = self.members[i].producer_id;
            if self.markers.iter().any(|m| m.producer.id == pid) {
                continue;
            }
            self.members[i].app = App::Idle;
            if self.members[i].ack_pending && self.members[i].consumer.is_some() {
                self.ack_revocation(i);
            }
        }
    }
}

fn describe(p: &Payload) -> String {
    match p {
        Payload::Request {
            member, request, ..
        } => format!("m{member} {}", short_request(request)),
        Payload::TxnRequest { member, seq, .. } => format!("m{member} TxnOffsetCommit {seq}"),
        Payload::Response {
            member, response, ..
        } => {
            format!("to m{member} {}", short_response(response))
        }
        Payload::Failed { member, id, .. } => format!("failure of m{member} request {}", id.0),
        Payload::TxnResult { member, seq, .. } => format!("to m{member} txn result {seq}"),
    }
}

pub(super) fn short_request(r: &Request) -> String {
    match r {
        Request::JoinGroup(j) => format!("JoinGroup {:?}", j.member_id),
        Request::SyncGroup(s) => format!("SyncGroup {:?} gen {}", s.member_id, s.generation),
        Request::Heartbeat(h) => format!("Heartbeat {:?} gen {}", h.member_id, h.generation),
        Request::LeaveGroup(_) => "LeaveGroup".into(),
        Request::OffsetCommit(c) => format!(
            "OffsetCommit gen {} {:?}",
            c.generation,
            c.offsets
                .iter()
                .map(|o| format!("{}={}", o.partition, o.offset))
                .collect::<Vec<_>>()
        ),
        Request::OffsetFetch(_) => "OffsetFetch".into(),
        Request::FindCoordinator(_) => "FindCoordinator".into(),
        other => format!("{other:?}"),
    }
}

fn short_response(r: &Response) -> String {
    match r {
        Response::JoinGroup(j) => format!(
            "JoinGroup {:?} gen {} {:?} leader {:?}",
            j.error, j.generation, j.member_id, j.leader
        ),
        Response::SyncGroup(s) => format!("SyncGroup {:?}", s.error),
        Response::Heartbeat(e) => format!("Heartbeat {e:?}"),
        Response::OffsetCommit(c) => format!(
            "OffsetCommit {:?}",
            c.partitions.iter().map(|(_, e)| *e).collect::<Vec<_>>()
        ),
        Response::OffsetFetch(f) => format!("OffsetFetch {:?}", f.error),
        Response::FindCoordinator(f) => format!("FindCoordinator {:?}", f.error),
        Response::LeaveGroup(l) => format!("LeaveGroup {:?}", l.error),
        other => format!("{other:?}"),
    }
}

fn short_event(e: &ConsumerEvent) -> String {
    match e {
        ConsumerEvent::PartitionsRevoked { partitions } => format!("revoked {}", list(partitions)),
        ConsumerEvent::PartitionsAssigned {
            partitions,
            generation,
            ..
        } => format!("assigned {} gen {generation}", list(partitions)),
        ConsumerEvent::PartitionsLost { partitions } => format!("lost {}", list(partitions)),
        ConsumerEvent::CommitCompleted { id, results, .. } => format!(
            "commit {} {:?}",
            id.0,
            results.iter().map(|(_, _, e)| *e).collect::<Vec<_>>()
        ),
        other => format!("{other:?}"),
    }
}

fn list(ps: &[TopicPartition]) -> String {
    let names: Vec<String> = ps.iter().map(ToString::to_string).collect();
    format!("[{}]", names.join(" "))
}
