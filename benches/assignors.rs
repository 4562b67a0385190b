//! Cost of `PartitionAssignor::assign` for every built-in assignor, on the scenarios of the
//! assignor performance issue (figures in `BENCHMARKS.md`):
//!
//! * `A`: 10 members, 1 topic of 100 partitions, everyone subscribed.
//! * `B`: 1,000 members, 100 topics of 100 partitions, everyone subscribed to everything.
//! * `C`: 10,000 members, 100 topics of 1,000 partitions, everyone subscribed to everything.
//! * `D`: as `B`, but each member subscribes to a seeded pseudo-random 50 of the 100 topics.
//! * `E-remove` / `E-add`: `B` after one rebalance (every member owns its `sticky` assignment,
//!   generation 1), with member 500 gone / with one new member that owns nothing.
//!
//! Specs are built outside the timed closure; only `assign` (and dropping its result) is timed.
//! The partitions each assignor moves on `E-remove` and `E-add` are printed once, untimed.

use std::hint::black_box;
use std::time::Duration;

use consumer_groups::assignor::{self, BUILTIN_NAMES, GroupSpec, MemberSpec, TopicSpec};
use consumer_groups::{Assignment, Generation, PartitionAssignor, Topic};
use criterion::{Criterion, criterion_group, criterion_main};

/// Seed of the subscription generator of scenario `D`.
const SEED: u64 = 0x5EED_CAFE_F00D_2024;

/// Index, in the canonical member order, of the member that leaves in `E-remove`.
const REMOVED: usize = 500;

fn member_id(i: usize) -> String {
    format!("member-{i:05}")
}

fn topic_names(topics: usize) -> Vec<Topic> {
    (0..topics)
        .map(|t| Topic::new(format!("topic-{t:03}")))
        .collect()
}

fn topic_specs(names: &[Topic], partitions: u32) -> Vec<TopicSpec> {
    names
        .iter()
        .map(|t| TopicSpec::new(t.clone(), partitions))
        .collect()
}

fn builtins() -> Vec<Box<dyn PartitionAssignor>> {
    BUILTIN_NAMES
        .iter()
        .map(|name| assignor::builtin(name).expect("built-in assignor"))
        .collect()
}

/// `members` members, all subscribed to all `topics` topics of `partitions` partitions.
fn homogeneous(members: usize, topics: usize, partitions: u32) -> GroupSpec {
    let names = topic_names(topics);
    GroupSpec::builder()
        .topics(topic_specs(&names, partitions))
        .members(
            (0..members).map(|i| MemberSpec::new(member_id(i)).subscribe(names.iter().cloned())),
        )
        .build()
        .expect("valid spec")
}

/// SplitMix64 (Steele, Lea and Flood), enough to draw reproducible subscriptions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (the modulo bias is irrelevant for `n` of 100).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Scenario `D`: 1,000 members, 100 topics of 100 partitions, each member subscribed to exactly
/// 50 topics drawn by a partial Fisher-Yates shuffle.
fn half_subscribed() -> GroupSpec {
    let names = topic_names(100);
    let mut rng = SplitMix64(SEED);
    let mut order: Vec<usize> = (0..names.len()).collect();
    let members = (0..1_000).map(|i| {
        for k in 0..50 {
            let j = k + rng.below(order.len() - k);
            order.swap(k, j);
        }
        MemberSpec::new(member_id(i)).subscribe(order[..50].iter().map(|&t| names[t].clone()))
    });
    GroupSpec::builder()
        .topics(topic_specs(&names, 100))
        .members(members.collect::<Vec<_>>())
        .build()
        .expect("valid spec")
}

/// Every member of `owned`, subscribed to all of `names` and reporting its partitions in `owned`
/// as owned at `generation`.
fn rejoining(
    names: &[Topic],
    owned: &Assignment,
    generation: Generation,
) -> impl Iterator<Item = MemberSpec> {
    owned.iter().map(move |m| {
        MemberSpec::new(m.member_id().clone())
            .subscribe(names.iter().cloned())
            .owned(m.topic_partitions())
            .generation(generation)
    })
}

/// Scenarios `E-remove` and `E-add`, built from `sticky`'s assignment of `B`.
fn after_rebalance(b: &GroupSpec) -> (GroupSpec, GroupSpec) {
    let names: Vec<Topic> = b.topics().iter().map(|t| t.name().clone()).collect();
    let prior = assignor::StickyAssignor.assign(b).expect("sticky on B");
    let members: Vec<MemberSpec> = rejoining(&names, &prior, Generation(1)).collect();
    let remove = GroupSpec::builder()
        .topics(b.topics().iter().cloned())
        .members(
            members
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != REMOVED)
                .map(|(_, m)| m.clone()),
        )
        .build()
        .expect("valid spec");
    let add = GroupSpec::builder()
        .topics(b.topics().iter().cloned())
        .members(members)
        .member(MemberSpec::new(member_id(b.members().len())).subscribe(names.iter().cloned()))
        .build()
        .expect("valid spec");
    (remove, add)
}

/// Prints, untimed, how many partitions each assignor moves on `spec`; for `cooperative-sticky`
/// also what the follow-up round (everyone owning the first round's output) hands over.
fn report_moves(scenario: &str, spec: &GroupSpec) {
    let names: Vec<Topic> = spec.topics().iter().map(|t| t.name().clone()).collect();
    for a in builtins() {
        let out = a.assign(spec).expect("assign");
        let d = out.diff();
        print!(
            "{scenario} {}: moved (added) {}, revoked {}, retained {}, assigned {}/{}",
            a.name(),
            d.added,
            d.revoked,
            d.retained,
            out.assigned_partitions(),
            spec.total_partitions()
        );
        if a.name() == "cooperative-sticky" {
            let round2 = GroupSpec::builder()
                .topics(spec.topics().iter().cloned())
                .members(rejoining(&names, &out, Generation(2)))
                .build()
                .expect("valid spec");
            let out2 = a.assign(&round2).expect("assign");
            let d2 = out2.diff();
            print!(
                "; follow-up round: added {}, revoked {}, assigned {}/{}",
                d2.added,
                d2.revoked,
                out2.assigned_partitions(),
                round2.total_partitions()
            );
        }
        println!();
    }
}

fn bench_scenario(c: &mut Criterion, scenario: &str, spec: &GroupSpec, sample_size: usize) {
    let mut group = c.benchmark_group(scenario);
    group
        .sample_size(sample_size)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for a in builtins() {
        group.bench_function(a.name(), |bench| {
            bench.iter(|| a.assign(black_box(spec)).expect("assign"));
        });
    }
    group.finish();
}

/// A floor for the "cost of writing the output", which `range` and `roundrobin` are
/// compared with: given who owns each partition (a table precomputed from a complete
/// assignment), write every member's sorted partition list, the shape an `Assignment` holds
/// (per-member offsets into one list of `(topic, partition)` pairs). Group `output-write`.
fn bench_output_write(c: &mut Criterion, scenarios: &[(&str, GroupSpec, usize)]) {
    let mut group = c.benchmark_group("output-write");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    for (scenario, spec, sample_size) in scenarios {
        let out = assignor::RoundRobinAssignor.assign(spec).expect("assign");
        let counts: Vec<u32> = spec.topics().iter().map(|t| t.partitions()).collect();
        let mut owners: Vec<Vec<u32>> = counts.iter().map(|&n| vec![0; n as usize]).collect();
        for (m, a) in out.iter().enumerate() {
            for p in a.partitions() {
                owners[p.topic_index()][p.partition() as usize] = m as u32;
            }
        }
        let members = spec.members().len();
        group.sample_size(*sample_size);
        group.bench_function(*scenario, |bench| {
            bench.iter(|| write_lists(black_box(&owners), members))
        });
    }
    group.finish();
}

/// Per-member partition lists from per-partition owners: count, prefix-sum, fill.
fn write_lists(owners: &[Vec<u32>], members: usize) -> (Vec<u32>, Vec<(u32, u32)>) {
    let mut offsets = vec![0u32; members + 1];
    for topic in owners {
        for &m in topic {
            offsets[m as usize + 1] += 1;
        }
    }
    for i in 0..members {
        offsets[i + 1] += offsets[i];
    }
    let mut cursor = offsets[..members].to_vec();
    let mut parts = vec![(0u32, 0u32); offsets[members] as usize];
    for (t, topic) in owners.iter().enumerate() {
        for (p, &m) in topic.iter().enumerate() {
            let c = &mut cursor[m as usize];
            parts[*c as usize] = (t as u32, p as u32);
            *c += 1;
        }
    }
    (offsets, parts)
}

fn assignors(c: &mut Criterion) {
    let b = homogeneous(1_000, 100, 100);
    let (remove, add) = after_rebalance(&b);
    report_moves("E-remove", &remove);
    report_moves("E-add", &add);

    // (scenario, spec, criterion samples): fewer samples where one call takes long.
    let scenarios = [
        ("A", homogeneous(10, 1, 100), 100),
        ("B", b, 50),
        ("C", homogeneous(10_000, 100, 1_000), 10),
        ("D", half_subscribed(), 10),
        ("E-remove", remove, 50),
        ("E-add", add, 50),
    ];
    for (scenario, spec, sample_size) in &scenarios {
        bench_scenario(c, scenario, spec, *sample_size);
    }
    bench_output_write(c, &scenarios);
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = assignors
}
criterion_main!(benches);
