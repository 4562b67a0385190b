//! Property tests and named rule tests for the built-in assignors.
//!
//! Groups are generated from a handful of proptest-chosen parameters (sizes, shares of static
//! members, of owned and of conflicting partitions, …) and a seed that drives a small
//! deterministic generator, so one case can describe hundreds of members without proptest
//! having to shrink hundreds of values. A failing group prints as a scenario file (the format
//! of the `assign` example), ready to be replayed with
//! `cargo run --example assign -- --assignor NAME FILE`.
//!
//! The oracles are written here, independently of `src/`: the Kafka reference models of
//! `range` (including KIP-881 rack awareness) and `roundrobin` are naive transliterations of
//! Kafka's algorithms over `BTreeMap`s, and the checks of validity, balance, stickiness and
//! cooperative safety look only at the public output.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use consumer_groups::assignor::{
    Assignment, AssignmentBuilder, AssignorRegistry, BUILTIN_NAMES, CooperativeStickyAssignor,
    GroupSpec, MemberSpec, PartitionAssignor, RangeAssignor, RoundRobinAssignor, StickyAssignor,
    TopicSpec,
};
use consumer_groups::{Error, Generation, TopicPartition};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// A group as plain data, independent of the crate's types.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct TopicDesc {
    name: String,
    partitions: u32,
    racks: Option<Vec<Vec<String>>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct MemberDesc {
    id: String,
    instance: Option<String>,
    rack: Option<String>,
    topics: Vec<String>,
    owned: Vec<(String, i32)>,
    generation: Option<i32>,
}

#[derive(Clone, Default, PartialEq, Eq)]
struct Group {
    topics: Vec<TopicDesc>,
    members: Vec<MemberDesc>,
}

/// Member id → its partitions as `(topic, partition)`.
type Plan = BTreeMap<String, BTreeSet<(String, i32)>>;

impl Group {
    fn topic_spec(t: &TopicDesc) -> TopicSpec {
        let spec = TopicSpec::new(t.name.as_str(), t.partitions);
        match &t.racks {
            Some(racks) => {
                spec.with_replica_racks(racks.iter().map(|p| p.iter().map(String::as_str)))
            }
            None => spec,
        }
    }

    fn member_spec(m: &MemberDesc) -> MemberSpec {
        let mut spec = MemberSpec::new(m.id.as_str())
            .subscribe(m.topics.iter().map(String::as_str))
            .owned(
                m.owned
                    .iter()
                    .map(|(t, p)| TopicPartition::new(t.as_str(), *p)),
            );
        if let Some(g) = m.generation {
            spec = spec.generation(Generation(g));
        }
        if let Some(r) = &m.rack {
            spec = spec.rack(r.as_str());
        }
        if let Some(i) = &m.instance {
            spec = spec.instance_id(i.as_str());
        }
        spec
    }

    fn try_spec(&self) -> Result<GroupSpec, Error> {
        GroupSpec::builder()
            .topics(self.topics.iter().map(Self::topic_spec))
            .members(self.members.iter().map(Self::member_spec))
            .build()
    }

    fn spec(&self) -> GroupSpec {
        self.try_spec()
            .unwrap_or_else(|e| panic!("a generated group must be valid: {e}\n{self:?}"))
    }

    /// Partition counts of the topics with metadata, by name.
    fn partition_counts(&self) -> BTreeMap<&str, u32> {
        self.topics
            .iter()
            .map(|t| (t.name.as_str(), t.partitions))
            .collect()
    }

    fn member(&self, id: &str) -> &MemberDesc {
        self.members
            .iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("no member {id:?}"))
    }

    fn total_partitions(&self) -> usize {
        self.topics.iter().map(|t| t.partitions as usize).sum()
    }

    /// Every member's partitions replaced by its share of `plan`, at `generation`.
    fn with_ownership(&self, plan: &Plan, generation: Option<i32>) -> Group {
        let mut g = self.clone();
        for m in &mut g.members {
            m.owned = plan
                .get(&m.id)
                .map(|ps| ps.iter().cloned().collect())
                .unwrap_or_default();
            m.generation = generation;
        }
        g
    }

    /// The same group, declared in a different order: members, topics, every subscription and
    /// every owned list shuffled, and one topic declared twice (identically).
    fn shuffled(&self, rng: &mut Rng) -> Group {
        let mut g = self.clone();
        rng.shuffle(&mut g.members);
        rng.shuffle(&mut g.topics);
        if let Some(t) = g.topics.first().cloned() {
            g.topics.push(t);
        }
        for m in &mut g.members {
            rng.shuffle(&mut m.topics);
            rng.shuffle(&mut m.owned);
        }
        g
    }
}

/// Prints the group as a scenario file of the `assign` example (`{:#?}` prints all of a large
/// group; `{:?}` only its first lines).
impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.scenario();
        const HEAD: usize = 40;
        let lines = text.lines().count();
        if f.alternate() || lines <= HEAD {
            return f.write_str(&text);
        }
        for line in text.lines().take(HEAD) {
            let cut: String = line.chars().take(200).collect();
            writeln!(f, "{cut}")?;
        }
        writeln!(f, "# … {} more lines", lines - HEAD)
    }
}

impl Group {
    fn scenario(&self) -> String {
        let mut f = String::new();
        let _ = self.write_scenario(&mut f);
        f
    }

    fn write_scenario(&self, f: &mut String) -> fmt::Result {
        use std::fmt::Write as _;
        writeln!(f, "# scenario ({} members)", self.members.len())?;
        for t in &self.topics {
            write!(f, "topic {} {}", t.name, t.partitions)?;
            if let Some(racks) = &t.racks {
                let racks: Vec<String> = racks.iter().map(|p| p.join("+")).collect();
                write!(f, " racks={}", racks.join(","))?;
            }
            writeln!(f)?;
        }
        for m in &self.members {
            let topics = if m.topics.is_empty() {
                "-".to_string()
            } else {
                m.topics.join(",")
            };
            write!(f, "member {} {topics}", m.id)?;
            if !m.owned.is_empty() {
                let owned: Vec<String> = m.owned.iter().map(|(t, p)| format!("{t}:{p}")).collect();
                write!(f, " owned={}", owned.join(","))?;
            }
            if let Some(g) = m.generation {
                write!(f, " generation={g}")?;
            }
            if let Some(r) = &m.rack {
                write!(f, " rack={r}")?;
            }
            if let Some(i) = &m.instance {
                write!(f, " instance={i}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

fn plan_of(a: &Assignment) -> Plan {
    a.to_map()
        .into_iter()
        .map(|(id, parts)| {
            (
                id.to_string(),
                parts
                    .into_iter()
                    .map(|tp| (tp.topic.to_string(), tp.partition))
                    .collect(),
            )
        })
        .collect()
}

/// `Ok` if the plans are equal, else the first differing members.
fn same_plan(expected: &Plan, actual: &Plan) -> Result<(), String> {
    if expected == actual {
        return Ok(());
    }
    let ids: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    let mut out = String::from("plans differ:\n");
    for id in ids
        .into_iter()
        .filter(|id| expected.get(*id) != actual.get(*id))
        .take(8)
    {
        let show = |p: Option<&BTreeSet<(String, i32)>>| -> String {
            p.map_or("(absent)".into(), |s| {
                s.iter()
                    .map(|(t, p)| format!("{t}:{p}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
        };
        out.push_str(&format!(
            "  {id}\n    expected {}\n    actual   {}\n",
            show(expected.get(id)),
            show(actual.get(id))
        ));
    }
    Err(out)
}

// ---------------------------------------------------------------------------------------------
// A small deterministic generator.
// ---------------------------------------------------------------------------------------------

/// SplitMix64.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    fn percent(&mut self, pct: u8) -> bool {
        self.below(100) < usize::from(pct)
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

const RACKS: [&str; 4] = ["a", "b", "c", "d"];
/// Member racks: `e` holds no replica.
const MEMBER_RACKS: [&str; 5] = ["a", "b", "c", "d", "e"];
const TOPIC_PREFIXES: [&str; 6] = ["t", "topic-", "T", "orders.", "é", "z_"];
const MEMBER_PREFIXES: [&str; 6] = ["consumer-", "c", "m", "Ü", "a", "Z"];
/// Bound on members × partitions of a generated group, so one case runs in milliseconds.
const WORK: usize = 40_000;

#[derive(Clone, Debug)]
struct Params {
    members: usize,
    topics: usize,
    max_partitions: u32,
    homogeneous: bool,
    /// Share of static members (with a group instance id).
    static_pct: u8,
    /// Share of partitions with a prior owner.
    own_pct: u8,
    /// Share of owned partitions also claimed by a second member.
    conflict_pct: u8,
    /// Share of owned partitions given to any member, subscribed to the topic or not.
    unsubscribed_pct: u8,
    /// Claims on partitions that do not exist.
    bogus_claims: bool,
    /// Subscriptions to topics without metadata.
    ghost_topics: bool,
    racks: bool,
    seed: u64,
}

/// What a strategy may generate.
#[derive(Clone, Copy, Debug)]
struct Kind {
    /// `Some(true)`: every member subscribes to every topic; `Some(false)`: random non-empty
    /// subsets; `None`: either.
    homogeneous: Option<bool>,
    ownership: bool,
    racks: bool,
    min_members: usize,
}

const ANY: Kind = Kind {
    homogeneous: None,
    ownership: true,
    racks: true,
    min_members: 1,
};

fn random_name(rng: &mut Rng, prefixes: &[&str], taken: &mut BTreeSet<String>, i: usize) -> String {
    let mut name = format!("{}{}", prefixes[rng.below(prefixes.len())], rng.below(100));
    if taken.contains(&name) {
        name = format!("{name}-{i}");
    }
    taken.insert(name.clone());
    name
}

fn generate(p: &Params) -> Group {
    let mut rng = Rng::new(p.seed);
    let cap = (WORK / (p.members * p.topics)).clamp(1, 200) as u32;
    let max_partitions = p.max_partitions.clamp(1, cap);

    let mut taken = BTreeSet::new();
    let mut topics = Vec::with_capacity(p.topics);
    for i in 0..p.topics {
        let name = random_name(&mut rng, &TOPIC_PREFIXES, &mut taken, i);
        let partitions = 1 + rng.below(max_partitions as usize) as u32;
        let racks = (p.racks && rng.percent(80)).then(|| {
            let everywhere = rng.percent(15);
            (0..partitions)
                .map(|_| {
                    let mut rs: Vec<String> = RACKS.iter().map(|r| r.to_string()).collect();
                    rng.shuffle(&mut rs);
                    if !everywhere {
                        rs.truncate(1 + rng.below(3));
                    }
                    rs
                })
                .collect()
        });
        topics.push(TopicDesc {
            name,
            partitions,
            racks,
        });
    }
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();

    let subscribe_pct = 10 + rng.below(80) as u8;
    let mut taken = BTreeSet::new();
    let mut instances = BTreeSet::new();
    let mut members = Vec::with_capacity(p.members);
    for i in 0..p.members {
        let id = random_name(&mut rng, &MEMBER_PREFIXES, &mut taken, i);
        let instance = rng.percent(p.static_pct).then(|| {
            let mut inst = format!("i{}", rng.below(1000));
            if instances.contains(&inst) {
                inst = format!("{inst}-{i}");
            }
            instances.insert(inst.clone());
            inst
        });
        let rack = (p.racks && rng.percent(80))
            .then(|| MEMBER_RACKS[rng.below(MEMBER_RACKS.len())].into());
        let mut subs: Vec<String> = if p.homogeneous {
            let mut all = names.clone();
            rng.shuffle(&mut all);
            all
        } else {
            let mut some: Vec<String> = names
                .iter()
                .filter(|_| rng.percent(subscribe_pct))
                .cloned()
                .collect();
            if some.is_empty() {
                some.push(names[rng.below(names.len())].clone());
            }
            some
        };
        if p.ghost_topics && rng.percent(30) {
            subs.push(format!("ghost-{}", rng.below(3)));
        }
        members.push(MemberDesc {
            id,
            instance,
            rack,
            topics: subs,
            ..MemberDesc::default()
        });
    }

    let m = members.len();
    if p.own_pct > 0 {
        for t in &topics {
            let subscribers: Vec<usize> = (0..m)
                .filter(|&i| members[i].topics.contains(&t.name))
                .collect();
            for part in 0..t.partitions as i32 {
                if !rng.percent(p.own_pct) {
                    continue;
                }
                let owner = if subscribers.is_empty() || rng.percent(p.unsubscribed_pct) {
                    rng.below(m)
                } else {
                    subscribers[rng.below(subscribers.len())]
                };
                members[owner].owned.push((t.name.clone(), part));
                if m > 1 && rng.percent(p.conflict_pct) {
                    let other = (owner + 1 + rng.below(m - 1)) % m;
                    members[other].owned.push((t.name.clone(), part));
                }
                if rng.percent(2) {
                    // The same claim reported twice.
                    members[owner].owned.push((t.name.clone(), part));
                }
            }
        }
    }
    if p.bogus_claims {
        for _ in 0..1 + rng.below(5) {
            let t = &topics[rng.below(topics.len())];
            let claim = match rng.below(4) {
                0 => (t.name.clone(), t.partitions as i32 + rng.below(5) as i32),
                1 => (format!("ghost-{}", rng.below(5)), rng.below(3) as i32),
                2 => (t.name.clone(), -1 - rng.below(3) as i32),
                _ => (t.name.clone(), i32::MAX),
            };
            members[rng.below(m)].owned.push(claim);
        }
    }
    for member in &mut members {
        let with_generation = if member.owned.is_empty() {
            rng.percent(50)
        } else {
            rng.percent(90)
        };
        member.generation = with_generation.then(|| rng.below(4) as i32);
    }
    Group { topics, members }
}

fn params(kind: Kind) -> impl Strategy<Value = Params> {
    let sizes = (
        prop_oneof![kind.min_members..=8, kind.min_members..=200],
        prop_oneof![1usize..=4, 1usize..=50],
        prop_oneof![1u32..=10, 1u32..=200],
    );
    let shares = (0u8..=100, 0u8..=100, 0u8..=40, 0u8..=30);
    let flags = (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>());
    (sizes, shares, flags, any::<u64>()).prop_map(
        move |(
            (members, topics, max_partitions),
            (static_pct, own_pct, conflict_pct, unsubscribed_pct),
            (homogeneous, bogus_claims, ghost_topics, racks),
            seed,
        )| Params {
            members,
            topics,
            max_partitions,
            homogeneous: kind.homogeneous.unwrap_or(homogeneous),
            static_pct,
            own_pct: if kind.ownership { own_pct } else { 0 },
            conflict_pct,
            unsubscribed_pct,
            bogus_claims: kind.ownership && bogus_claims,
            ghost_topics,
            racks: kind.racks && racks,
            seed,
        },
    )
}

fn groups(kind: Kind) -> impl Strategy<Value = Group> {
    params(kind).prop_map(|p| generate(&p))
}

/// `cases` per property, or `PROPTEST_CASES` from the environment for a longer soak.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // Counterexamples print as scenarios; nothing is written next to the sources.
        failure_persistence: None,
        // `verify` minimizes counterexamples itself, on the group rather than the parameters.
        max_shrink_iters: 0,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Checks.
// ---------------------------------------------------------------------------------------------

/// Every member of the group is in the assignment; every partition has at most one owner; an
/// owner subscribes to its partition's topic and the partition exists; with `complete`, every
/// partition of every subscribed topic is assigned.
fn check_valid(g: &Group, a: &Assignment, complete: bool) -> Result<(), String> {
    let map = a.to_map();
    let ids: BTreeSet<&str> = g.members.iter().map(|m| m.id.as_str()).collect();
    let assigned_ids: BTreeSet<&str> = map.keys().map(|id| id.as_str()).collect();
    if ids != assigned_ids {
        return Err(format!(
            "the assignment's members {assigned_ids:?} are not the group's {ids:?}"
        ));
    }
    let counts = g.partition_counts();
    let mut owner: BTreeMap<&TopicPartition, &str> = BTreeMap::new();
    for (id, parts) in &map {
        let member = g.member(id);
        for tp in parts {
            if let Some(prev) = owner.insert(tp, id.as_str()) {
                return Err(format!("{tp} is assigned to both {prev} and {id}"));
            }
            if !member.topics.iter().any(|t| *t == *tp.topic) {
                return Err(format!(
                    "{tp} is assigned to {id}, which does not subscribe to it"
                ));
            }
            match counts.get(tp.topic.as_str()) {
                Some(&n) if tp.partition >= 0 && (tp.partition as u32) < n => {}
                _ => return Err(format!("{tp} is assigned to {id} but does not exist")),
            }
        }
    }
    if complete {
        for (&topic, &n) in &counts {
            if !g
                .members
                .iter()
                .any(|m| m.topics.iter().any(|t| t == topic))
            {
                continue;
            }
            for p in 0..n as i32 {
                if !owner.contains_key(&TopicPartition::new(topic, p)) {
                    return Err(format!(
                        "{topic}:{p} is subscribed to but assigned to nobody"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Identical subscriptions: counts differ by at most one. Otherwise: no partition sits on a
/// member `m` while another subscriber of its topic holds at most `count(m) - 2`.
fn check_balance(spec: &GroupSpec, a: &Assignment) -> Result<(), String> {
    let counts: Vec<usize> = a.iter().map(|m| m.len()).collect();
    if counts.is_empty() {
        return Ok(());
    }
    if spec.is_homogeneous() {
        let min = *counts.iter().min().unwrap();
        let max = *counts.iter().max().unwrap();
        if max > min + 1 {
            return Err(format!(
                "identical subscriptions but counts range from {min} to {max}"
            ));
        }
        return Ok(());
    }
    for t in 0..spec.topics().len() {
        let Some((low, low_member)) = (0..counts.len())
            .filter(|&s| spec.is_subscribed(s, t))
            .map(|s| (counts[s], s))
            .min()
        else {
            continue;
        };
        for (i, m) in a.iter().enumerate() {
            if counts[i] >= low + 2 {
                if let Some(p) = m.partitions().iter().find(|p| p.topic_index() == t) {
                    return Err(format!(
                        "{}:{} is on {} ({} partitions) although {} subscribes to {} and has {}",
                        spec.topics()[t].name(),
                        p.partition(),
                        m.member_id(),
                        counts[i],
                        spec.members()[low_member].id(),
                        spec.topics()[t].name(),
                        low
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The winning claim on a partition: the claim of the highest generation (no generation counts
/// as -1); several claims at the highest generation contest the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claim {
    Winner(String),
    Contested,
}

fn winning_claims(g: &Group) -> BTreeMap<(String, i32), Claim> {
    let counts = g.partition_counts();
    // Partition → (highest generation, claimants at it).
    let mut best: BTreeMap<(String, i32), (i32, BTreeSet<&str>)> = BTreeMap::new();
    for m in &g.members {
        let generation = m.generation.unwrap_or(-1);
        for (t, p) in &m.owned {
            let exists = counts
                .get(t.as_str())
                .is_some_and(|&n| *p >= 0 && (*p as u32) < n);
            if !exists {
                continue;
            }
            let entry = best
                .entry((t.clone(), *p))
                .or_insert_with(|| (generation, BTreeSet::new()));
            if generation > entry.0 {
                *entry = (generation, BTreeSet::new());
            }
            if generation == entry.0 {
                entry.1.insert(m.id.as_str());
            }
        }
    }
    best.into_iter()
        .map(|(tp, (_, claimants))| {
            let claim = if claimants.len() == 1 {
                Claim::Winner(claimants.first().unwrap().to_string())
            } else {
                Claim::Contested
            };
            (tp, claim)
        })
        .collect()
}

fn assign(assignor: &dyn PartitionAssignor, spec: &GroupSpec) -> Assignment {
    assignor
        .assign(spec)
        .unwrap_or_else(|e| panic!("{} refused a valid spec: {e}", assignor.name()))
}

fn builtins() -> Vec<Box<dyn PartitionAssignor>> {
    BUILTIN_NAMES
        .iter()
        .map(|n| consumer_groups::assignor::builtin(n).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Kafka reference models, written naively.
// ---------------------------------------------------------------------------------------------

/// Kafka's member order: static members first by group instance id, then dynamic members by
/// member id, comparing bytes.
fn kafka_order(g: &Group) -> Vec<&MemberDesc> {
    let mut order: Vec<&MemberDesc> = g.members.iter().collect();
    order.sort_by(|a, b| match (&a.instance, &b.instance) {
        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.id.as_bytes().cmp(b.id.as_bytes()),
    });
    order
}

fn empty_plan(g: &Group) -> Plan {
    g.members
        .iter()
        .map(|m| (m.id.clone(), BTreeSet::new()))
        .collect()
}

/// Kafka's `RoundRobinAssignor`.
fn reference_roundrobin(g: &Group) -> Plan {
    let mut out = empty_plan(g);
    let order = kafka_order(g);
    if order.is_empty() {
        return out;
    }
    let subscriptions: Vec<BTreeSet<&str>> = order
        .iter()
        .map(|m| m.topics.iter().map(String::as_str).collect())
        .collect();
    let counts = g.partition_counts();
    let subscribed: BTreeSet<&str> = subscriptions.iter().flatten().copied().collect();
    let mut cursor = 0;
    for topic in subscribed {
        let Some(&n) = counts.get(topic) else {
            continue;
        };
        for p in 0..n as i32 {
            while !subscriptions[cursor].contains(topic) {
                cursor = (cursor + 1) % order.len();
            }
            out.get_mut(&order[cursor].id)
                .unwrap()
                .insert((topic.to_string(), p));
            cursor = (cursor + 1) % order.len();
        }
    }
    out
}

/// One topic in Kafka's rack-aware `RangeAssignor` (`TopicAssignmentState`).
struct RangeState {
    topic: String,
    /// Subscribers in member order, with their racks.
    consumers: Vec<(String, Option<String>)>,
    /// Replica racks per partition; empty when no subscriber has a rack.
    partition_racks: Vec<BTreeSet<String>>,
    needs_rack_aware: bool,
    unassigned: Vec<i32>,
    assigned: BTreeMap<String, usize>,
    per_consumer: usize,
    extra_left: usize,
}

impl RangeState {
    fn racks_match(&self, consumer: &str, p: i32) -> bool {
        let rack = &self.consumers.iter().find(|c| c.0 == consumer).unwrap().1;
        match rack {
            None => true,
            Some(r) => self
                .partition_racks
                .get(p as usize)
                .is_some_and(|rs| rs.contains(r)),
        }
    }

    fn max_assignable(&self, consumer: &str) -> usize {
        (self.per_consumer + usize::from(self.extra_left > 0))
            .saturating_sub(self.assigned[consumer])
    }

    fn assign(&mut self, consumer: &str, parts: &[i32], out: &mut Plan) {
        for &p in parts {
            out.get_mut(consumer)
                .unwrap()
                .insert((self.topic.clone(), p));
        }
        let n = self.assigned.get_mut(consumer).unwrap();
        *n += parts.len();
        if *n > self.per_consumer {
            self.extra_left = self.extra_left.saturating_sub(1);
        }
        self.unassigned.retain(|p| !parts.contains(p));
    }

    fn assign_ranges(&mut self, rack_match: bool, out: &mut Plan) {
        let consumers: Vec<String> = self.consumers.iter().map(|c| c.0.clone()).collect();
        for c in consumers {
            if self.unassigned.is_empty() {
                break;
            }
            let parts: Vec<i32> = self
                .unassigned
                .iter()
                .copied()
                .filter(|&p| !rack_match || self.racks_match(&c, p))
                .take(self.max_assignable(&c))
                .collect();
            if !parts.is_empty() {
                self.assign(&c, &parts, out);
            }
        }
    }
}

/// Kafka's `RangeAssignor`, rack-aware as in KIP-881.
fn reference_range(g: &Group) -> Plan {
    let mut out = empty_plan(g);
    let order = kafka_order(g);
    let member_rack = |m: &MemberDesc| m.rack.clone().filter(|r| !r.is_empty());
    let topics: BTreeMap<&str, &TopicDesc> =
        g.topics.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut states: Vec<RangeState> = Vec::new();
    for (&name, t) in &topics {
        let consumers: Vec<(String, Option<String>)> = order
            .iter()
            .filter(|m| m.topics.iter().any(|s| s == name))
            .map(|m| (m.id.clone(), member_rack(m)))
            .collect();
        if t.partitions == 0 || consumers.is_empty() {
            continue;
        }
        let consumer_racks: BTreeSet<String> =
            consumers.iter().filter_map(|c| c.1.clone()).collect();
        let partition_racks: Vec<BTreeSet<String>> = if consumer_racks.is_empty() {
            Vec::new()
        } else {
            (0..t.partitions as usize)
                .map(|p| {
                    t.racks
                        .as_ref()
                        .map(|r| r[p].iter().filter(|s| !s.is_empty()).cloned().collect())
                        .unwrap_or_default()
                })
                .collect()
        };
        let all_racks: BTreeSet<String> = partition_racks.iter().flatten().cloned().collect();
        let needs_rack_aware = !consumer_racks.is_empty()
            && !consumer_racks.is_disjoint(&all_racks)
            && !partition_racks.iter().all(|r| *r == all_racks);
        let n = t.partitions as usize;
        states.push(RangeState {
            topic: name.to_string(),
            assigned: consumers.iter().map(|c| (c.0.clone(), 0)).collect(),
            per_consumer: n / consumers.len(),
            extra_left: n % consumers.len(),
            consumers,
            partition_racks,
            needs_rack_aware,
            unassigned: (0..n as i32).collect(),
        });
    }

    if states.iter().any(|s| s.needs_rack_aware) {
        // Group by subscribers (with racks), then by the size of the partition-rack map.
        type Key = (Vec<(String, Option<String>)>, usize);
        let mut groups: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
        for (i, s) in states.iter().enumerate() {
            groups
                .entry((s.consumers.clone(), s.partition_racks.len()))
                .or_default()
                .push(i);
        }
        for ((consumers, num_partitions), members) in groups {
            if members.len() > 1 {
                // Co-partitioned: partition p of every topic to one consumer.
                let mut remaining: Vec<String> = consumers.into_iter().map(|c| c.0).collect();
                for p in 0..num_partitions as i32 {
                    let found = remaining.iter().position(|c| {
                        members.iter().all(|&s| {
                            states[s].racks_match(c, p) && states[s].max_assignable(c) > 0
                        })
                    });
                    if let Some(pos) = found {
                        let c = remaining[pos].clone();
                        for &s in &members {
                            states[s].assign(&c, &[p], &mut out);
                        }
                        if members.iter().all(|&s| states[s].max_assignable(&c) == 0) {
                            remaining.remove(pos);
                            if remaining.is_empty() {
                                break;
                            }
                        }
                    }
                }
            } else if states[members[0]].needs_rack_aware {
                states[members[0]].assign_ranges(true, &mut out);
            }
        }
    }
    for s in &mut states {
        s.assign_ranges(false, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Minimizing counterexamples.
// ---------------------------------------------------------------------------------------------

/// One way to make a group smaller.
#[derive(Clone, Copy, Debug)]
enum Edit {
    RemoveMembers(usize, usize),
    RemoveTopics(usize, usize),
    Partitions(usize, u32),
    RemoveClaims(usize, usize, usize),
    RemoveSubscription(usize, usize),
    DropTopicRacks(usize),
    DropMemberRack(usize),
    DropInstance(usize),
    DropGeneration(usize),
    /// Short names with the same byte order: `t0…`, `m0…`, `i0…`.
    Rename,
}

/// Ranges `(start, len)` covering `0..n`: halves, then quarters, …, then single items.
fn chunks(n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut size = n.div_ceil(2);
    while size >= 1 {
        out.extend((0..n).step_by(size).map(|s| (s, size.min(n - s))));
        if size == 1 {
            break;
        }
        size = size.div_ceil(2);
    }
    out
}

fn edits(g: &Group) -> Vec<Edit> {
    let mut e = vec![Edit::Rename];
    e.extend(
        chunks(g.members.len())
            .into_iter()
            .map(|(s, l)| Edit::RemoveMembers(s, l)),
    );
    e.extend(
        chunks(g.topics.len())
            .into_iter()
            .map(|(s, l)| Edit::RemoveTopics(s, l)),
    );
    for (t, topic) in g.topics.iter().enumerate() {
        let n = topic.partitions;
        let mut smaller: Vec<u32> = [1, n / 2, n.saturating_sub(1)]
            .into_iter()
            .filter(|&k| k < n)
            .collect();
        smaller.dedup();
        e.extend(smaller.into_iter().map(|k| Edit::Partitions(t, k)));
        if topic.racks.is_some() {
            e.push(Edit::DropTopicRacks(t));
        }
    }
    for (m, member) in g.members.iter().enumerate() {
        e.extend(
            chunks(member.owned.len())
                .into_iter()
                .map(|(s, l)| Edit::RemoveClaims(m, s, l)),
        );
        e.extend((0..member.topics.len()).map(|i| Edit::RemoveSubscription(m, i)));
        if member.rack.is_some() {
            e.push(Edit::DropMemberRack(m));
        }
        if member.instance.is_some() {
            e.push(Edit::DropInstance(m));
        }
        if member.generation.is_some() {
            e.push(Edit::DropGeneration(m));
        }
    }
    e
}

/// Renames by rank, keeping the byte order of the names.
fn ranked(names: impl Iterator<Item = String>, prefix: &str) -> BTreeMap<String, String> {
    let names: BTreeSet<String> = names.collect();
    let width = names.len().saturating_sub(1).to_string().len();
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n, format!("{prefix}{i:0width$}")))
        .collect()
}

fn apply(g: &Group, edit: Edit) -> Group {
    let mut g = g.clone();
    match edit {
        Edit::RemoveMembers(s, l) => {
            g.members.drain(s..s + l);
        }
        Edit::RemoveTopics(s, l) => {
            let gone: BTreeSet<String> = g.topics.drain(s..s + l).map(|t| t.name).collect();
            for m in &mut g.members {
                m.topics.retain(|t| !gone.contains(t));
                m.owned.retain(|(t, _)| !gone.contains(t));
            }
        }
        Edit::Partitions(t, n) => {
            let topic = &mut g.topics[t];
            topic.partitions = n;
            if let Some(r) = &mut topic.racks {
                r.truncate(n as usize);
            }
            let name = topic.name.clone();
            for m in &mut g.members {
                m.owned.retain(|(t, p)| *t != name || *p < n as i32);
            }
        }
        Edit::RemoveClaims(m, s, l) => {
            g.members[m].owned.drain(s..s + l);
        }
        Edit::RemoveSubscription(m, i) => {
            g.members[m].topics.remove(i);
        }
        Edit::DropTopicRacks(t) => g.topics[t].racks = None,
        Edit::DropMemberRack(m) => g.members[m].rack = None,
        Edit::DropInstance(m) => g.members[m].instance = None,
        Edit::DropGeneration(m) => g.members[m].generation = None,
        Edit::Rename => {
            let topics = ranked(g.topics.iter().map(|t| t.name.clone()), "t");
            let ids = ranked(g.members.iter().map(|m| m.id.clone()), "m");
            let instances = ranked(g.members.iter().filter_map(|m| m.instance.clone()), "i");
            let topic = |t: &String| topics.get(t).cloned().unwrap_or_else(|| t.clone());
            for t in &mut g.topics {
                t.name = topic(&t.name);
            }
            for m in &mut g.members {
                m.id = ids[&m.id].clone();
                m.instance = m.instance.as_ref().map(|i| instances[i].clone());
                m.topics = m.topics.iter().map(topic).collect();
                m.owned = m.owned.iter().map(|(t, p)| (topic(t), *p)).collect();
            }
        }
    }
    g
}

/// Greedily applies edits that keep `property` failing, until none does (or the budget runs
/// out). Returns the smallest failing group found and its failure.
fn minimize(g: &Group, property: &dyn Fn(&Group) -> Result<(), String>) -> (Group, String) {
    let run = |g: &Group| -> Result<(), String> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| property(g))).unwrap_or_else(
            |panic| {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err(format!("panic: {msg}"))
            },
        )
    };
    let mut best = g.clone();
    let Err(mut why) = run(&best) else {
        return (best, "(passes when run again)".into());
    };
    let start = std::time::Instant::now();
    let mut evaluations = 0;
    'outer: while start.elapsed().as_secs() < 30 && evaluations < 20_000 {
        for edit in edits(&best) {
            let candidate = apply(&best, edit);
            if candidate == best || candidate.try_spec().is_err() {
                continue;
            }
            evaluations += 1;
            if let Err(e) = run(&candidate) {
                best = candidate;
                why = e;
                continue 'outer;
            }
            if start.elapsed().as_secs() >= 30 {
                break 'outer;
            }
        }
        break;
    }
    (best, why)
}

/// Runs `property`; on failure reports the first failure and a minimized counterexample.
fn verify(g: &Group, property: impl Fn(&Group) -> Result<(), String>) -> Result<(), TestCaseError> {
    let Err(first) = property(g) else {
        return Ok(());
    };
    let (small, why) = minimize(g, &property);
    Err(TestCaseError::fail(format!(
        "{first}\n\nminimized counterexample, failing with: {why}\n{small:#?}"
    )))
}

/// Every member subscribes to every topic with metadata.
fn all_subscribe_all(g: &Group) -> bool {
    g.members
        .iter()
        .all(|m| g.topics.iter().all(|t| m.topics.contains(&t.name)))
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Validity.
// ---------------------------------------------------------------------------------------------

fn prop_validity(g: &Group) -> Result<(), String> {
    let spec = g.spec();
    for assignor in builtins() {
        let a = assignor
            .assign(&spec)
            .map_err(|e| format!("{} refused a valid spec: {e}", assignor.name()))?;
        let complete = assignor.name() != "cooperative-sticky";
        check_valid(g, &a, complete).map_err(|e| format!("{}: {e}", assignor.name()))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn validity_one_owner_per_partition_owners_subscribe_and_eager_assignors_are_complete(
        g in groups(ANY),
    ) {
        verify(&g, prop_validity)?;
    }
}

// ---------------------------------------------------------------------------------------------
// range and roundrobin equal Kafka's algorithms.
// ---------------------------------------------------------------------------------------------

fn prop_range_is_kafka(g: &Group) -> Result<(), String> {
    let actual = plan_of(&assign(&RangeAssignor, &g.spec()));
    same_plan(&reference_range(g), &actual).map_err(|e| format!("range: {e}"))
}

fn prop_roundrobin_is_kafka(g: &Group) -> Result<(), String> {
    let actual = plan_of(&assign(&RoundRobinAssignor, &g.spec()));
    same_plan(&reference_roundrobin(g), &actual).map_err(|e| format!("roundrobin: {e}"))
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn range_equals_kafka_reference_model(g in groups(ANY)) {
        verify(&g, prop_range_is_kafka)?;
    }

    #[test]
    fn roundrobin_equals_kafka_reference_model(g in groups(ANY)) {
        verify(&g, prop_roundrobin_is_kafka)?;
    }
}

// ---------------------------------------------------------------------------------------------
// sticky: balance.
// ---------------------------------------------------------------------------------------------

fn prop_sticky_complete_and_balanced(g: &Group) -> Result<(), String> {
    let spec = g.spec();
    let a = assign(&StickyAssignor, &spec);
    check_valid(g, &a, true)?;
    check_balance(&spec, &a)
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn sticky_balance_homogeneous_counts_differ_by_at_most_one(
        g in groups(Kind { homogeneous: Some(true), ..ANY }),
    ) {
        prop_assert!(g.spec().is_homogeneous());
        verify(&g, prop_sticky_complete_and_balanced)?;
    }

    #[test]
    fn sticky_balance_heterogeneous_no_partition_can_move_to_a_subscriber_with_two_fewer(
        g in groups(Kind { homogeneous: Some(false), ..ANY }),
    ) {
        verify(&g, prop_sticky_complete_and_balanced)?;
    }
}

// ---------------------------------------------------------------------------------------------
// sticky: stickiness.
// ---------------------------------------------------------------------------------------------

/// Gives every member of a group where all subscribe to all a share of a random balanced
/// assignment: the partitions shuffled, `P / M` each and one more for `P % M` random members.
fn with_random_balanced_ownership(g: &Group, rng: &mut Rng, generation: i32) -> Group {
    let mut all: Vec<(String, i32)> = g
        .topics
        .iter()
        .flat_map(|t| (0..t.partitions as i32).map(move |p| (t.name.clone(), p)))
        .collect();
    rng.shuffle(&mut all);
    let m = g.members.len();
    let (q, r) = (all.len() / m, all.len() % m);
    let mut order: Vec<usize> = (0..m).collect();
    rng.shuffle(&mut order);
    let mut out = g.clone();
    let mut next = all.into_iter();
    for (k, &i) in order.iter().enumerate() {
        out.members[i].owned = next.by_ref().take(q + usize::from(k < r)).collect();
        out.members[i].generation = Some(generation);
    }
    out
}

const HOMOGENEOUS_FRESH: Kind = Kind {
    homogeneous: Some(true),
    ownership: false,
    racks: true,
    min_members: 1,
};

/// From a balanced prior assignment, `share`% of the members leave: the survivors keep every
/// partition, and only the leavers' partitions move.
fn prop_removing_members_moves_only_their_partitions(
    g: &Group,
    seed: u64,
    share: usize,
) -> Result<(), String> {
    if g.members.len() < 2 || !all_subscribe_all(g) {
        return Ok(());
    }
    let mut rng = Rng::new(seed);
    let before = with_random_balanced_ownership(g, &mut rng, 7);
    let k = (before.members.len() * share / 100).clamp(1, before.members.len() - 1);
    let mut after = before.clone();
    rng.shuffle(&mut after.members);
    let removed: Vec<MemberDesc> = after.members.drain(..k).collect();
    let orphaned: usize = removed.iter().map(|m| m.owned.len()).sum();

    let spec = after.spec();
    let a = assign(&StickyAssignor, &spec);
    check_valid(&after, &a, true)?;
    check_balance(&spec, &a)?;
    let diff = a.diff();
    ensure!(
        diff.revoked == 0,
        "a survivor lost {} partitions after {k} members left; input:\n{after:#?}",
        diff.revoked
    );
    ensure!(
        diff.added == orphaned,
        "{} partitions moved, but only the {orphaned} of the {k} members who left had to; input:\n{after:#?}",
        diff.added
    );
    Ok(())
}

/// From a balanced prior assignment, one member joins: between `floor(P / (M + 1))` (what the
/// newcomer needs) and `ceil(P / (M + 1))` partitions move.
fn prop_adding_a_member_moves_about_p_over_m_plus_1(
    g: &Group,
    seed: u64,
    newcomer_is_static: bool,
) -> Result<(), String> {
    if g.members.is_empty() || !all_subscribe_all(g) {
        return Ok(());
    }
    let mut rng = Rng::new(seed);
    let before = with_random_balanced_ownership(g, &mut rng, 7);
    let mut after = before.clone();
    after.members.push(MemberDesc {
        id: "newcomer".into(),
        // A static newcomer sorts before every dynamic member.
        instance: newcomer_is_static.then(|| "0-newcomer".into()),
        topics: before.topics.iter().map(|t| t.name.clone()).collect(),
        ..MemberDesc::default()
    });
    if after.try_spec().is_err() {
        return Ok(()); // The minimizer renamed someone into "newcomer".
    }
    let spec = after.spec();
    let a = assign(&StickyAssignor, &spec);
    check_valid(&after, &a, true)?;
    check_balance(&spec, &a)?;
    let (p, m) = (before.total_partitions(), before.members.len());
    let diff = a.diff();
    let (floor, ceil) = (p / (m + 1), p.div_ceil(m + 1));
    ensure!(
        floor <= diff.added && diff.added <= ceil,
        "adding one member to {m} moved {} of {p} partitions, expected {floor}..={ceil}; input:\n{after:#?}",
        diff.added
    );
    ensure!(
        diff.revoked == diff.added,
        "every partition was owned before, yet {} revoked and {} added",
        diff.revoked,
        diff.added
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn sticky_stickiness_removing_members_moves_only_their_partitions(
        g in groups(Kind { min_members: 2, ..HOMOGENEOUS_FRESH }),
        seed in any::<u64>(),
        share in 1usize..=99,
    ) {
        verify(&g, |g| prop_removing_members_moves_only_their_partitions(g, seed, share))?;
    }

    #[test]
    fn sticky_stickiness_adding_a_member_moves_at_most_ceil_p_over_m_plus_1(
        g in groups(HOMOGENEOUS_FRESH),
        seed in any::<u64>(),
        newcomer_is_static in any::<bool>(),
    ) {
        verify(&g, |g| prop_adding_a_member_moves_about_p_over_m_plus_1(g, seed, newcomer_is_static))?;
    }
}

/// 1,000 members on 100 topics × 100 partitions, each owning 10 (a shuffled balanced
/// assignment, generation 7).
fn thousand_members() -> Group {
    let topics = (0..100)
        .map(|t| TopicDesc {
            name: format!("t{t:02}"),
            partitions: 100,
            racks: None,
        })
        .collect::<Vec<_>>();
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let g = Group {
        topics,
        members: (0..1000)
            .map(|i| MemberDesc {
                id: format!("m{i:04}"),
                topics: names.clone(),
                ..MemberDesc::default()
            })
            .collect(),
    };
    let g = with_random_balanced_ownership(&g, &mut Rng::new(1000), 7);
    assert!(g.members.iter().all(|m| m.owned.len() == 10));
    g
}

#[test]
fn sticky_stickiness_removing_one_of_1000_members_moves_exactly_its_10_partitions() {
    let mut g = thousand_members();
    g.members.remove(417);
    let spec = g.spec();
    let a = assign(&StickyAssignor, &spec);
    check_valid(&g, &a, true).unwrap();
    check_balance(&spec, &a).unwrap();
    let diff = a.diff();
    assert_eq!(diff.revoked, 0);
    assert_eq!(diff.added, 10);
    assert_eq!(diff.retained, 9_990);
}

#[test]
fn sticky_stickiness_adding_one_to_1000_members_moves_at_most_10_partitions() {
    let mut g = thousand_members();
    g.members.push(MemberDesc {
        id: "m-new".into(),
        topics: g.topics.iter().map(|t| t.name.clone()).collect(),
        ..MemberDesc::default()
    });
    let spec = g.spec();
    let a = assign(&StickyAssignor, &spec);
    check_valid(&g, &a, true).unwrap();
    check_balance(&spec, &a).unwrap();
    let diff = a.diff();
    eprintln!("adding one member to 1,000 moved {} partitions", diff.added);
    // 10,000 / 1,001 = 9.99: the newcomer needs 9, and nothing else has to move.
    assert!(diff.added <= 10, "moved {}", diff.added);
    assert!(
        diff.added >= 9,
        "the newcomer needs 9, moved {}",
        diff.added
    );
    assert_eq!(a.get("m-new").unwrap().len(), diff.added);
    assert_eq!(diff.revoked, diff.added);
}

/// With identical subscriptions every member keeps its winning claims up to its quota, and
/// every extra slot saves a move: the partitions kept by their winning claimant number exactly
/// `sum(min(w, P / M)) + min(P % M, #{w > P / M})`, where `w` counts a member's winning claims.
fn prop_homogeneous_keeps_claims_up_to_quota(g: &Group) -> Result<(), String> {
    let spec = g.spec();
    if !spec.is_homogeneous() || g.members.is_empty() {
        return Ok(());
    }
    let a = assign(&StickyAssignor, &spec);
    let subscribed: BTreeSet<&str> = g
        .topics
        .iter()
        .filter(|t| g.members[0].topics.contains(&t.name))
        .map(|t| t.name.as_str())
        .collect();
    let p: usize = g
        .topics
        .iter()
        .filter(|t| subscribed.contains(t.name.as_str()))
        .map(|t| t.partitions as usize)
        .sum();
    let m = g.members.len();
    let (quota, extra) = (p / m, p % m);
    let claims = winning_claims(g);
    let mut wins: BTreeMap<&str, usize> = BTreeMap::new();
    for ((topic, _), claim) in &claims {
        if let Claim::Winner(w) = claim {
            if subscribed.contains(topic.as_str()) {
                *wins.entry(w.as_str()).or_default() += 1;
            }
        }
    }
    let bound: usize = wins.values().map(|&w| w.min(quota)).sum::<usize>()
        + extra.min(wins.values().filter(|&&w| w > quota).count());
    let plan = plan_of(&a);
    let kept = claims
        .iter()
        .filter(|(tp, claim)| matches!(claim, Claim::Winner(w) if plan[w].contains(*tp)))
        .count();
    ensure!(
        kept == bound,
        "{kept} partitions stayed with their winning claimant; the quotas allow {bound} \
         (P = {p}, M = {m})"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn sticky_stickiness_homogeneous_keeps_winning_claims_up_to_quota(
        g in groups(Kind { homogeneous: Some(true), ..ANY }),
    ) {
        verify(&g, prop_homogeneous_keeps_claims_up_to_quota)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Racks that cannot guide anything are ignored.
// ---------------------------------------------------------------------------------------------

/// When rack awareness cannot apply (KIP-881: every partition has a replica on every rack, or
/// no member rack holds any replica), every assignor gives exactly its rack-less output.
fn prop_inactive_racks_are_ignored(g: &Group, everywhere: bool) -> Result<(), String> {
    let mut with_racks = g.clone();
    for t in &mut with_racks.topics {
        t.racks = Some(if everywhere {
            vec![RACKS.iter().map(|r| r.to_string()).collect(); t.partitions as usize]
        } else {
            t.racks
                .clone()
                .unwrap_or_else(|| vec![vec!["a".into()]; t.partitions as usize])
        });
    }
    for (i, m) in with_racks.members.iter_mut().enumerate() {
        m.rack = Some(
            if everywhere {
                RACKS[i % RACKS.len()]
            } else {
                "e"
            }
            .to_string(),
        );
    }
    let mut without = g.clone();
    for t in &mut without.topics {
        t.racks = None;
    }
    for m in &mut without.members {
        m.rack = None;
    }
    let (a, b) = (with_racks.spec(), without.spec());
    for assignor in builtins() {
        let x = plan_of(&assign(&*assignor, &a));
        let y = plan_of(&assign(&*assignor, &b));
        same_plan(&y, &x).map_err(|e| {
            format!(
                "{}: inactive racks changed the output: {e}input:\n{with_racks:#?}",
                assignor.name()
            )
        })?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn racks_are_ignored_when_every_partition_is_on_every_rack(g in groups(ANY)) {
        verify(&g, |g| prop_inactive_racks_are_ignored(g, true))?;
    }

    #[test]
    fn racks_are_ignored_when_no_member_rack_holds_a_replica(g in groups(ANY)) {
        verify(&g, |g| prop_inactive_racks_are_ignored(g, false))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Conflicting claims.
// ---------------------------------------------------------------------------------------------

/// A balanced prior assignment (the sticky plan of the fresh group), every member at its own
/// generation, and stale duplicate claims from members of lower generations: every partition
/// stays with its higher-generation owner, eager and cooperative alike, and nothing moves.
fn prop_higher_generation_wins(g: &Group, seed: u64, conflict_pct: u8) -> Result<(), String> {
    if g.members.len() < 2 {
        return Ok(());
    }
    let mut rng = Rng::new(seed);
    let prior = plan_of(&assign(&StickyAssignor, &g.spec()));
    let mut claimed = g.with_ownership(&prior, None);
    let mut generations: Vec<i32> = (10..10 + claimed.members.len() as i32).collect();
    rng.shuffle(&mut generations);
    for (m, generation) in claimed.members.iter_mut().zip(&generations) {
        m.generation = Some(*generation);
    }
    let prior_owned: Vec<Vec<(String, i32)>> =
        claimed.members.iter().map(|m| m.owned.clone()).collect();
    let mut conflicts: Vec<((String, i32), String)> = Vec::new();
    for (owner, owned) in prior_owned.into_iter().enumerate() {
        let lower: Vec<usize> = (0..claimed.members.len())
            .filter(|&x| generations[x] < generations[owner])
            .collect();
        if lower.is_empty() {
            continue;
        }
        for tp in owned {
            if rng.percent(conflict_pct) {
                let stale = lower[rng.below(lower.len())];
                claimed.members[stale].owned.push(tp.clone());
                conflicts.push((tp, claimed.members[owner].id.clone()));
            }
        }
    }
    let spec = claimed.spec();
    for assignor in [
        &StickyAssignor as &dyn PartitionAssignor,
        &CooperativeStickyAssignor,
    ] {
        let plan = plan_of(&assign(assignor, &spec));
        for (tp, owner) in &conflicts {
            ensure!(
                plan[owner].contains(tp),
                "{}: {}:{} left its generation-{} owner {owner} for a stale claimant; input:\n{claimed:#?}",
                assignor.name(),
                tp.0,
                tp.1,
                claimed.member(owner).generation.unwrap()
            );
        }
        same_plan(&prior, &plan)
            .map_err(|e| format!("{}: {e}input:\n{claimed:#?}", assignor.name()))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn conflict_resolution_higher_generation_claim_wins_when_balance_permits(
        g in groups(Kind { ownership: false, min_members: 2, ..ANY }),
        seed in any::<u64>(),
        conflict_pct in 1u8..=60,
    ) {
        verify(&g, |g| prop_higher_generation_wins(g, seed, conflict_pct))?;
    }
}

// ---------------------------------------------------------------------------------------------
// cooperative-sticky.
// ---------------------------------------------------------------------------------------------

/// No partition goes to a member other than its winning claimant, contested partitions go to
/// nobody, and the result is exactly the sticky plan minus those partitions.
fn prop_cooperative_safety(g: &Group) -> Result<(), String> {
    let spec = g.spec();
    let coop = assign(&CooperativeStickyAssignor, &spec);
    check_valid(g, &coop, false)?;
    let claims = winning_claims(g);
    let coop = plan_of(&coop);
    for (member, parts) in &coop {
        for tp in parts {
            match claims.get(tp) {
                None => {}
                Some(Claim::Winner(w)) if w == member => {}
                Some(claim) => {
                    return Err(format!(
                        "{}:{} given to {member} although its claim is {claim:?}",
                        tp.0, tp.1
                    ));
                }
            }
        }
    }
    let mut expected = plan_of(&assign(&StickyAssignor, &spec));
    for (member, parts) in expected.iter_mut() {
        parts.retain(|tp| match claims.get(tp) {
            None => true,
            Some(Claim::Winner(w)) => w == member,
            Some(Claim::Contested) => false,
        });
    }
    same_plan(&expected, &coop)
        .map_err(|e| format!("cooperative is not the sticky plan minus moving partitions: {e}"))
}

/// Round 1, then every member revokes what round 1 did not give it and reports its round-1
/// assignment at the next generation: round 2 is complete, balanced, and the sticky plan.
fn prop_cooperative_converges_in_two_rounds(g: &Group) -> Result<(), String> {
    let round1 = plan_of(&assign(&CooperativeStickyAssignor, &g.spec()));
    let next_generation = g
        .members
        .iter()
        .filter_map(|m| m.generation)
        .max()
        .unwrap_or(0)
        + 1;
    let g2 = g.with_ownership(&round1, Some(next_generation));
    let spec2 = g2.spec();
    let round2 = assign(&CooperativeStickyAssignor, &spec2);
    check_valid(&g2, &round2, true)
        .and_then(|()| check_balance(&spec2, &round2))
        .map_err(|e| format!("round 2: {e}; round 2 input:\n{g2:#?}"))?;
    let sticky = plan_of(&assign(&StickyAssignor, &spec2));
    same_plan(&sticky, &plan_of(&round2))
        .map_err(|e| format!("round 2 is not the sticky assignment: {e}round 2 input:\n{g2:#?}"))
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn cooperative_safety_only_the_winning_claimant_receives_a_claimed_partition(
        g in groups(ANY),
    ) {
        verify(&g, prop_cooperative_safety)?;
    }

    #[test]
    fn cooperative_two_rounds_converge_to_a_complete_balanced_sticky_assignment(
        g in groups(Kind { homogeneous: Some(true), ..ANY }),
    ) {
        verify(&g, prop_cooperative_converges_in_two_rounds)?;
    }

    /// The same with different subscriptions does not hold in general: the follow-up round can
    /// move another partition (a limitation documented on `CooperativeStickyAssignor`; Kafka's
    /// cooperative-sticky shares it). `cooperative_heterogeneous_rounds_are_bounded` measures it.
    #[test]
    #[ignore = "known limitation: with different subscriptions the follow-up round can move \
                another partition, so a third round is sometimes needed"]
    fn cooperative_two_rounds_converge_to_a_complete_balanced_sticky_assignment_heterogeneous(
        g in groups(Kind { homogeneous: Some(false), ..ANY }),
    ) {
        verify(&g, prop_cooperative_converges_in_two_rounds)?;
    }
}

/// Cooperative rebalancing with different subscriptions settles in a bounded number of rounds.
/// Over 1,000 groups drawn with a fixed seed, every group reaches a round that revokes nothing
/// and leaves nothing unassigned within 4 rounds, and the distribution is printed
/// (`cargo test --test assignors cooperative_heterogeneous_rounds -- --nocapture`).
#[test]
fn cooperative_heterogeneous_rounds_are_bounded() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = groups(Kind {
        homogeneous: Some(false),
        ..ANY
    });
    let mut histogram = [0usize; 5];
    for _ in 0..1_000 {
        let mut g = strategy.new_tree(&mut runner).unwrap().current();
        let mut generation = g
            .members
            .iter()
            .filter_map(|m| m.generation)
            .max()
            .unwrap_or(0);
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds <= 4, "not settled after 4 rounds:\n{g:#?}");
            let spec = g.spec();
            let out = assign(&CooperativeStickyAssignor, &spec);
            let settled = out.diff().revoked == 0 && check_valid(&g, &out, true).is_ok();
            if settled {
                break;
            }
            generation += 1;
            g = g.with_ownership(&plan_of(&out), Some(generation));
        }
        histogram[rounds] += 1;
    }
    println!("rounds until settled (1..=4): {:?}", &histogram[1..]);
}

/// The smallest counterexample found for two-round convergence, worked by hand.
///
/// Round 1: `b` still owns `x:0` but no longer subscribes to `x`. The plan gives `solo:0` to
/// `a`, `x:0` to `c` (the least loaded of `x`'s subscribers when `x` is poured), `y:0..2` to
/// `b` and `y:3` to `c`; `x:0` is held back because `b` must revoke it first.
/// Round 2 (everyone at generation 2, owning its round-1 assignment): `x:0` is free again, and
/// the documented plan hands it to its new owner `c`, which gives the complete, balanced and
/// revocation-free `a solo:0 | b y:0,y:1,y:2 | c x:0,y:3`. Instead the pour breaks the tie
/// between `a` (1) and `c` (1) towards `a`, the balancing pass then moves `y:0` from `b` (3) to
/// `c` (1), and the cooperative filter holds `y:0` back: round 2 leaves `y:0` unassigned.
fn solo_x_y_round(round: u8) -> Group {
    let topic = |name: &str, partitions| TopicDesc {
        name: name.into(),
        partitions,
        racks: None,
    };
    let member = |id: &str, topics: &[&str], owned: &[(&str, i32)], generation| MemberDesc {
        id: id.into(),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        owned: owned.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
        generation,
        ..MemberDesc::default()
    };
    let topics = vec![topic("solo", 1), topic("x", 1), topic("y", 4)];
    let members = if round == 1 {
        vec![
            member("a", &["solo", "x"], &[], None),
            member("b", &["y"], &[("x", 0)], Some(1)),
            member("c", &["x", "y"], &[], None),
        ]
    } else {
        vec![
            member("a", &["solo", "x"], &[("solo", 0)], Some(2)),
            member("b", &["y"], &[("y", 0), ("y", 1), ("y", 2)], Some(2)),
            member("c", &["x", "y"], &[("y", 3)], Some(2)),
        ]
    };
    Group { topics, members }
}

#[test]
fn cooperative_heterogeneous_round_one_holds_back_the_partition_its_stale_owner_must_revoke() {
    let spec = solo_x_y_round(1).spec();
    let eager = assign(&StickyAssignor, &spec);
    assert_eq!(eager.to_string(), "a solo:0\nb y:0,y:1,y:2\nc x:0,y:3\n");
    let coop = assign(&CooperativeStickyAssignor, &spec);
    assert_eq!(coop.to_string(), "a solo:0\nb y:0,y:1,y:2\nc y:3\n");
    // The round-2 input is exactly round 1's output at the next generation.
    let round2 = solo_x_y_round(1).with_ownership(&plan_of(&coop), Some(2));
    assert_eq!(round2, solo_x_y_round(2));
}

#[test]
fn cooperative_heterogeneous_follow_up_round_hands_over_the_held_back_partition() {
    let g = solo_x_y_round(2);
    let spec = g.spec();
    let out = assign(&CooperativeStickyAssignor, &spec);
    check_valid(&g, &out, true).unwrap_or_else(|e| panic!("round 2 is incomplete: {e}\n{out}"));
    assert_eq!(out.to_string(), "a solo:0\nb y:0,y:1,y:2\nc x:0,y:3\n");
}

#[test]
fn sticky_heterogeneous_keeps_every_claim_when_a_balanced_assignment_without_revocation_exists() {
    let spec = solo_x_y_round(2).spec();
    let out = assign(&StickyAssignor, &spec);
    assert_eq!(
        out.diff().revoked,
        0,
        "a partition left its owner although balance did not need it:\n{out}"
    );
    assert_eq!(out.to_string(), "a solo:0\nb y:0,y:1,y:2\nc x:0,y:3\n");
}

// ---------------------------------------------------------------------------------------------
// Determinism.
// ---------------------------------------------------------------------------------------------

fn prop_same_spec_same_output(g: &Group) -> Result<(), String> {
    let spec = g.spec();
    for assignor in builtins() {
        let first = assign(&*assignor, &spec);
        let second = assign(&*assignor, &spec);
        ensure!(
            first.to_string() == second.to_string() && first.diff() == second.diff(),
            "{}: two runs differ",
            assignor.name()
        );
    }
    Ok(())
}

fn prop_declaration_order_does_not_matter(g: &Group, seed: u64) -> Result<(), String> {
    let shuffled = g.shuffled(&mut Rng::new(seed));
    let (a, b) = (g.spec(), shuffled.spec());
    for assignor in builtins() {
        let x = assign(&*assignor, &a);
        let y = assign(&*assignor, &b);
        ensure!(
            x.to_string() == y.to_string() && x.diff() == y.diff(),
            "{}: declaration order changed the output\n{}shuffled:\n{shuffled:#?}",
            assignor.name(),
            same_plan(&plan_of(&x), &plan_of(&y))
                .err()
                .unwrap_or_default()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn determinism_same_spec_gives_the_same_assignment(g in groups(ANY)) {
        verify(&g, prop_same_spec_same_output)?;
    }

    #[test]
    fn determinism_insertion_order_does_not_matter(g in groups(ANY), seed in any::<u64>()) {
        verify(&g, |g| prop_declaration_order_does_not_matter(g, seed))?;
    }
}

// ---------------------------------------------------------------------------------------------
// No panic, whatever the spec.
// ---------------------------------------------------------------------------------------------

/// Names: rarely empty (which the builder refuses), often sharing characters, some with
/// characters whose UTF-8 and UTF-16 orders differ (U+E000…U+FFFF against U+10000…).
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        12 => "[a-c]{1,2}",
        6 => "[\u{e000}\u{ffff}\u{10000}a]{1,2}",
        4 => "\\PC{1,4}",
    ]
}

fn arb_topic_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "c", "é", "\u{10000}", "\u{ffff}"]).prop_map(String::from),
        1 => arb_text(),
    ]
}

fn arb_topic() -> impl Strategy<Value = TopicDesc> {
    let count = prop_oneof![
        40 => 0u32..6,
        20 => 0u32..400,
        1 => Just(i32::MAX as u32),
        1 => Just(u32::MAX),
    ];
    let racks = prop::collection::vec(
        prop::collection::vec(prop_oneof![1 => Just(String::new()), 6 => "[a-d]"], 0..4),
        0..6,
    );
    (
        arb_topic_name(),
        count,
        prop::option::of(racks),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(name, partitions, racks, fit)| {
            // Usually stretch the racks to the partition count, so the builder accepts them.
            let racks = racks.map(|mut r| {
                if fit && partitions <= 400 {
                    let template = if r.is_empty() {
                        vec![Vec::new()]
                    } else {
                        r.clone()
                    };
                    r = (0..partitions as usize)
                        .map(|i| template[i % template.len()].clone())
                        .collect();
                }
                r
            });
            TopicDesc {
                name,
                partitions,
                racks,
            }
        })
}

fn arb_member() -> impl Strategy<Value = MemberDesc> {
    let partition = prop_oneof![4 => 0i32..8, 1 => any::<i32>()];
    (
        arb_text(),
        prop::option::weighted(0.3, arb_text()),
        prop::option::of(prop_oneof![1 => Just(String::new()), 4 => "[a-e]"]),
        prop::collection::vec(arb_topic_name(), 0..4),
        prop::collection::vec((arb_topic_name(), partition), 0..6),
        prop::option::of(prop_oneof![0i32..4, any::<i32>()]),
    )
        .prop_map(
            |(id, instance, rack, topics, owned, generation)| MemberDesc {
                id,
                instance,
                rack,
                topics,
                owned,
                generation,
            },
        )
}

/// Up to 8 members and 5 topics; usually one declaration per topic name (the builder refuses
/// a name declared twice with different metadata), sometimes any.
fn arb_group() -> impl Strategy<Value = Group> {
    (
        prop::collection::vec(arb_topic(), 0..5),
        prop::collection::vec(arb_member(), 0..8),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(mut topics, members, unique)| {
            if unique {
                let mut seen = BTreeSet::new();
                topics.retain(|t| seen.insert(t.name.clone()));
            }
            Group { topics, members }
        })
}

/// Whatever the builder accepts, every built-in assignor assigns without panicking, without an
/// error, and validly; range and roundrobin still equal Kafka's (byte-order ids, characters
/// beyond U+FFFF included).
fn prop_no_panic(g: &Group) -> Result<(), String> {
    let Ok(spec) = g.try_spec() else {
        return Ok(());
    };
    for assignor in builtins() {
        let a = assignor.assign(&spec).map_err(|e| {
            format!(
                "{} refused a spec the builder accepted: {e}",
                assignor.name()
            )
        })?;
        let complete = assignor.name() != "cooperative-sticky";
        check_valid(g, &a, complete).map_err(|e| format!("{}: {e}", assignor.name()))?;
        let _ = a.diff();
        let _ = a.to_string();
    }
    prop_range_is_kafka(g)?;
    prop_roundrobin_is_kafka(g)
}

proptest! {
    #![proptest_config(config(5000))]

    #[test]
    fn no_panic_on_arbitrary_specs_the_builder_accepts(g in arb_group()) {
        verify(&g, prop_no_panic)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Registry and AssignmentBuilder.
// ---------------------------------------------------------------------------------------------

/// Gives every partition to the LAST subscriber of its topic in member order.
struct LastSubscriber;

impl PartitionAssignor for LastSubscriber {
    fn name(&self) -> &str {
        "last-subscriber"
    }

    fn assign(&self, spec: &GroupSpec) -> Result<Assignment, Error> {
        let mut out = AssignmentBuilder::new(spec);
        for (t, topic) in spec.topics().iter().enumerate() {
            if let Some(m) = (0..spec.members().len())
                .rev()
                .find(|&m| spec.is_subscribed(m, t))
            {
                for p in 0..topic.partitions() as i32 {
                    out.assign(spec.members()[m].id(), topic.name(), p)?;
                }
            }
        }
        Ok(out.finish())
    }
}

/// Tries to give partition 0 of the first topic to everyone.
struct Greedy;

impl PartitionAssignor for Greedy {
    fn name(&self) -> &str {
        "greedy"
    }

    fn assign(&self, spec: &GroupSpec) -> Result<Assignment, Error> {
        let mut out = AssignmentBuilder::new(spec);
        let topic = spec.topics()[0].name();
        for m in spec.members() {
            out.assign(m.id(), topic, 0)?;
        }
        Ok(out.finish())
    }
}

fn two_member_spec() -> GroupSpec {
    GroupSpec::builder()
        .topic(TopicSpec::new("t", 2))
        .topic(TopicSpec::new("u", 1))
        .member(MemberSpec::new("a").subscribe(["t"]))
        .member(MemberSpec::new("b").subscribe(["t", "u"]))
        .build()
        .unwrap()
}

#[test]
fn custom_assignor_registered_as_box_dyn_is_found_by_name() {
    let mut registry = AssignorRegistry::with_builtins();
    registry.register(Box::new(LastSubscriber)).unwrap();
    assert_eq!(registry.len(), BUILTIN_NAMES.len() + 1);
    assert_eq!(
        registry.names().collect::<Vec<_>>(),
        [
            "range",
            "roundrobin",
            "sticky",
            "cooperative-sticky",
            "last-subscriber"
        ]
    );
    let found = registry.get("last-subscriber").expect("registered by name");
    assert_eq!(found.name(), "last-subscriber");
    assert_eq!(
        found.supported_protocols(),
        [consumer_groups::RebalanceProtocol::Eager]
    );
    let out = registry
        .require("last-subscriber")
        .unwrap()
        .assign(&two_member_spec())
        .unwrap();
    assert_eq!(out.to_string(), "a -\nb t:0,t:1,u:0\n");

    assert_eq!(
        registry.register(Box::new(LastSubscriber)).unwrap_err(),
        Error::DuplicateAssignor("last-subscriber".into())
    );
    assert!(
        registry.get("Last-Subscriber").is_none(),
        "names are case-sensitive"
    );
    assert_eq!(
        registry.require("nope").unwrap_err(),
        Error::UnknownAssignor("nope".into())
    );
}

#[test]
fn custom_assignor_breaking_the_contract_gets_an_error_not_an_assignment() {
    let mut registry = AssignorRegistry::new();
    assert!(registry.is_empty());
    registry.register(Box::new(Greedy)).unwrap();
    let err = registry
        .get("greedy")
        .unwrap()
        .assign(&two_member_spec())
        .unwrap_err();
    assert!(matches!(err, Error::AssignorContract(_)), "{err:?}");
}

#[test]
fn assignment_builder_rejects_double_assignment() {
    let spec = two_member_spec();
    let mut b = AssignmentBuilder::new(&spec);
    b.assign("a", "t", 0).unwrap();
    assert!(matches!(
        b.assign("a", "t", 0).unwrap_err(),
        Error::AssignorContract(_)
    ));
    assert!(matches!(
        b.assign("b", "t", 0).unwrap_err(),
        Error::AssignorContract(_)
    ));
    let p = spec.partition_ref("t", 0).unwrap();
    assert!(matches!(
        b.assign_ref(1, p).unwrap_err(),
        Error::AssignorContract(_)
    ));
    // The failed attempts left the first owner in place.
    assert_eq!(b.finish().to_string(), "a t:0\nb -\n");
}

#[test]
fn assignment_builder_rejects_unsubscribed_members() {
    let spec = two_member_spec();
    let mut b = AssignmentBuilder::new(&spec);
    let err = b.assign("a", "u", 0).unwrap_err();
    assert!(matches!(err, Error::AssignorContract(_)), "{err:?}");
    let u0 = spec.partition_ref("u", 0).unwrap();
    let a = spec.member_index("a").unwrap();
    assert!(matches!(
        b.assign_ref(a, u0).unwrap_err(),
        Error::AssignorContract(_)
    ));
    assert_eq!(
        b.assign("nobody", "t", 0).unwrap_err(),
        Error::UnknownMember("nobody".into())
    );
    assert!(matches!(
        b.assign("a", "t", 2).unwrap_err(),
        Error::UnknownPartition { .. }
    ));
    assert!(matches!(
        b.assign("a", "t", -1).unwrap_err(),
        Error::UnknownPartition { .. }
    ));
    assert!(matches!(
        b.assign("a", "ghost", 0).unwrap_err(),
        Error::UnknownPartition { .. }
    ));
    b.assign("b", "u", 0).unwrap();
    assert_eq!(b.finish().to_string(), "a -\nb u:0\n");
}
