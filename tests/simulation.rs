//! The deterministic simulation: seeded clusters under faults, checked after every step.
//!
//! `seeds` runs 1,000 random scenarios (a few hundred operations each). Widen it for long
//! local runs with `SIM_SEEDS` (how many) and `SIM_SEED` (the first):
//!
//! ```text
//! SIM_SEEDS=100000 cargo test --release --test simulation seeds -- --nocapture
//! ```
//!
//! A failing seed prints the line that replays it alone; add `SIM_TRACE=1` for its trace.

use consumer_groups::consumer::ConsumerConfig;
use consumer_groups::sim::{
    DeliveryMode, Invariant, MemberHandle, MemberSpec, MemberStatus, NetworkConfig, Op, Scenario,
    ScenarioConfig, SimConfig, Simulation,
};
use consumer_groups::{GroupInstanceId, Offset, TopicPartition};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs `seeds` and returns the failing ones, printing each with its replay line.
fn run_seeds(seeds: std::ops::Range<u64>, config: &ScenarioConfig) -> Vec<u64> {
    let mut failures = Vec::new();
    for seed in seeds {
        let scenario = Scenario::random(seed, config);
        if let Err(v) = scenario.run() {
            eprintln!("seed {seed}: {v}");
            eprintln!("replay: SIM_SEED={seed} cargo test --test simulation seeds");
            if std::env::var("SIM_TRACE").is_ok() {
                if let Err(traced) = scenario.traced().run() {
                    eprintln!("{}", traced.detail);
                }
            }
            failures.push(seed);
        }
    }
    failures
}

#[test]
fn seeds() {
    let start = env_u64("SIM_SEED").unwrap_or(0);
    // SIM_SEED alone replays one seed.
    let default_count = if env_u64("SIM_SEED").is_some() {
        1
    } else {
        1_000
    };
    let count = env_u64("SIM_SEEDS").unwrap_or(default_count);
    if std::env::var("SIM_PRINT_TRACE").is_ok() {
        let outcome = Scenario::random(start, &ScenarioConfig::default())
            .traced()
            .run();
        match outcome {
            Ok(o) => print!("{}", o.trace.unwrap_or_default()),
            Err(v) => print!("{v}"),
        }
        return;
    }
    let config = ScenarioConfig::default();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4) as u64;
    let started = std::time::Instant::now();
    let failures: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let lo = start + count * t / threads;
                let hi = start + count * (t + 1) / threads;
                let config = &config;
                s.spawn(move || run_seeds(lo..hi, config))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("seed thread"))
            .collect()
    });
    eprintln!(
        "{count} seeds from {start} in {:.1} s on {threads} threads",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
}

#[test]
fn a_seed_replays_byte_for_byte() {
    let config = ScenarioConfig::default();
    for seed in [3, 17, 42] {
        let a = Scenario::random(seed, &config)
            .traced()
            .run()
            .expect("seed passes");
        let b = Scenario::random(seed, &config)
            .traced()
            .run()
            .expect("seed passes");
        let (ta, tb) = (a.trace.clone().unwrap(), b.trace.clone().unwrap());
        assert!(
            ta.lines().count() > 500,
            "seed {seed} traced {} lines",
            ta.lines().count()
        );
        assert_eq!(
            ta.as_bytes(),
            tb.as_bytes(),
            "seed {seed} replayed differently"
        );
        assert_eq!(a, b);
    }
    let other = Scenario::random(4, &config)
        .traced()
        .run()
        .expect("seed passes");
    let three = Scenario::random(3, &config)
        .traced()
        .run()
        .expect("seed passes");
    assert_ne!(
        other.trace, three.trace,
        "different seeds give different runs"
    );
}

#[test]
fn the_same_scenario_is_drawn_from_the_same_seed() {
    let config = ScenarioConfig::default();
    assert_eq!(Scenario::random(9, &config), Scenario::random(9, &config));
    assert_ne!(
        Scenario::random(9, &config).ops,
        Scenario::random(10, &config).ops
    );
    assert_eq!(Scenario::random(9, &config).ops.len(), config.operations);
}

fn member(group: &str, assignor: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(group);
    c.assignors = vec![assignor.to_string()];
    c.session_timeout_ms = 10_000;
    c.heartbeat_interval_ms = 1_000;
    c.max_poll_interval_ms = 30_000;
    c.enable_auto_commit = false;
    c.auto_offset_reset = consumer_groups::consumer::OffsetReset::Earliest;
    c
}

fn sim(seed: u64) -> Simulation {
    let mut s = Simulation::new(SimConfig::new(seed));
    s.create_topic("orders", 6);
    s
}

fn produce(s: &mut Simulation, n: u32) {
    s.apply(Op::Produce {
        topic: "orders".into(),
        records: n,
    })
    .expect("produce");
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("orders", p)
}

#[test]
fn a_crashed_members_partitions_move_and_at_least_once_loses_nothing() {
    let mut s = sim(1);
    let spec = |_| {
        MemberSpec::new(
            member("billing", "range"),
            ["orders"],
            DeliveryMode::AtLeastOnce,
        )
    };
    let a = s.add_member(spec(0)).unwrap();
    let b = s.add_member(spec(1)).unwrap();
    produce(&mut s, 300);
    s.run_for(2_000).unwrap();
    assert_eq!(s.assignment(a).len() + s.assignment(b).len(), 6);
    s.apply(Op::Crash(a)).unwrap();
    produce(&mut s, 300);
    // The crashed member's session (10 s) runs out; b takes everything.
    s.run_for(9_000).unwrap();
    assert_eq!(s.assignment(b).len(), 3, "not before the session timeout");
    s.run_for(10_000).unwrap();
    assert_eq!(s.assignment(b), (0..6).map(tp).collect::<Vec<_>>());
    s.settle(60_000).unwrap();
    let report = s.check_delivery().unwrap();
    assert_eq!(report.records, 600);
    assert_eq!(report.lost, 0);
    for p in 0..6 {
        assert_eq!(s.committed("billing", &tp(p)), Some(s.end_offset(&tp(p))));
    }
}

#[test]
fn exactly_once_puts_every_record_in_the_output_once_across_crashes() {
    // Slow links keep transactions open long enough for crashes to land inside them.
    let mut config = SimConfig::new(2);
    config.network.min_delay_ms = 50;
    config.network.max_delay_ms = 200;
    let mut s = Simulation::new(config);
    s.create_topic("orders", 6);
    let spec = MemberSpec::new(
        member("ledger", "cooperative-sticky"),
        ["orders"],
        DeliveryMode::ExactlyOnce,
    );
    let a = s.add_member(spec.clone()).unwrap();
    let b = s.add_member(spec.clone()).unwrap();
    let c = s.add_member(spec).unwrap();
    for round in 0..6 {
        // More than the members get through before the crash.
        produce(&mut s, 600);
        s.run_for(700).unwrap();
        // Crash someone mid-stream (transactions open), bring them back later.
        let victim = [a, b, c][round % 3];
        s.apply(Op::Crash(victim)).unwrap();
        s.run_for(3_000).unwrap();
        s.apply(Op::Restart(victim)).unwrap();
    }
    s.apply(Op::Heal).unwrap();
    s.settle(120_000).unwrap();
    let report = s.check_delivery().unwrap();
    assert_eq!(report.records, 3_600);
    assert_eq!(report.output, 3_600, "every record in the output");
    assert!(
        report.repeated > 0,
        "crashes made some records be processed twice: {report:?}"
    );
    assert!(s.output("ledger").iter().all(|(_, n)| *n == 1));
}

#[test]
fn at_most_once_never_processes_a_record_twice() {
    let mut s = sim(3);
    let spec = MemberSpec::new(
        member("alerts", "roundrobin"),
        ["orders"],
        DeliveryMode::AtMostOnce,
    );
    let a = s.add_member(spec.clone()).unwrap();
    let _b = s.add_member(spec).unwrap();
    for _ in 0..4 {
        produce(&mut s, 100);
        s.run_for(300).unwrap();
        s.apply(Op::Crash(a)).unwrap();
        s.run_for(15_000).unwrap();
        s.apply(Op::Restart(a)).unwrap();
    }
    s.settle(120_000).unwrap();
    let report = s.check_delivery().unwrap();
    assert_eq!(report.repeated, 0);
    assert_eq!(report.records, 400);
}

#[test]
fn a_coordinator_crash_moves_the_group_and_keeps_its_commits() {
    let mut s = sim(4);
    let spec = MemberSpec::new(
        member("billing", "sticky"),
        ["orders"],
        DeliveryMode::AtLeastOnce,
    );
    let a = s.add_member(spec.clone()).unwrap();
    let b = s.add_member(spec).unwrap();
    produce(&mut s, 200);
    s.run_for(5_000).unwrap();
    let before: Vec<Option<Offset>> = (0..6).map(|p| s.committed("billing", &tp(p))).collect();
    assert!(before.iter().all(Option::is_some));
    let generation = s.generation("billing");
    s.apply(Op::CrashCoordinator {
        group: "billing".into(),
    })
    .unwrap();
    assert_eq!(s.group_state("billing"), None, "nobody serves the group");
    s.run_for(5_000).unwrap();
    // Another broker loaded the group: same generation, same commits, no rebalance needed.
    assert_eq!(s.generation("billing"), generation);
    let after: Vec<Option<Offset>> = (0..6).map(|p| s.committed("billing", &tp(p))).collect();
    assert_eq!(before, after);
    produce(&mut s, 200);
    s.settle(60_000).unwrap();
    assert_eq!(s.assignment(a).len() + s.assignment(b).len(), 6);
    assert_eq!(s.check_delivery().unwrap().lost, 0);
}

#[test]
fn a_static_member_restarting_within_its_session_keeps_its_partitions_without_a_rebalance() {
    let mut s = sim(5);
    let spec = |i: u32| {
        let mut c = member("billing", "range");
        c.group_instance_id = Some(GroupInstanceId::from(format!("host-{i}")));
        MemberSpec::new(c, ["orders"], DeliveryMode::AtLeastOnce)
    };
    let a = s.add_member(spec(0)).unwrap();
    let b = s.add_member(spec(1)).unwrap();
    s.run_for(3_000).unwrap();
    let generation = s.generation("billing");
    let held = s.assignment(a);
    s.apply(Op::Crash(a)).unwrap();
    s.run_for(5_000).unwrap();
    assert_eq!(s.assignment(b).len(), 3, "b did not take a's partitions");
    s.apply(Op::Restart(a)).unwrap();
    s.run_for(2_000).unwrap();
    assert_eq!(s.assignment(a), held);
    assert_eq!(s.generation("billing"), generation, "no rebalance");
}

#[test]
fn a_member_cut_off_loses_its_partitions_before_anyone_else_gets_them_and_rejoins_after() {
    let mut s = sim(6);
    let spec = MemberSpec::new(
        member("billing", "cooperative-sticky"),
        ["orders"],
        DeliveryMode::AtLeastOnce,
    );
    let a = s.add_member(spec.clone()).unwrap();
    let b = s.add_member(spec).unwrap();
    produce(&mut s, 100);
    s.run_for(3_000).unwrap();
    s.apply(Op::Isolate(a)).unwrap();
    // The ownership invariant is checked after every step of these 30 s.
    s.run_for(30_000).unwrap();
    assert!(s.assignment(a).is_empty());
    assert_eq!(s.assignment(b).len(), 6);
    s.apply(Op::Reconnect(a)).unwrap();
    produce(&mut s, 100);
    s.settle(60_000).unwrap();
    assert_eq!(s.assignment(a).len(), 3);
    assert_eq!(s.check_delivery().unwrap().lost, 0);
}

#[test]
fn a_member_that_stops_polling_leaves_and_comes_back_when_it_polls_again() {
    let mut s = sim(7);
    let spec = MemberSpec::new(
        member("billing", "range"),
        ["orders"],
        DeliveryMode::AtLeastOnce,
    );
    let a = s.add_member(spec.clone()).unwrap();
    let b = s.add_member(spec).unwrap();
    s.run_for(2_000).unwrap();
    s.apply(Op::StopPolling(a)).unwrap();
    s.run_for(35_000).unwrap();
    assert_eq!(s.status(a), Some(MemberStatus::PollingStopped));
    assert!(
        s.assignment(a).is_empty(),
        "left after max.poll.interval.ms"
    );
    assert_eq!(s.assignment(b).len(), 6);
    s.apply(Op::ResumePolling(a)).unwrap();
    s.settle(60_000).unwrap();
    assert_eq!(s.assignment(a).len(), 3);
}

#[test]
fn added_partitions_and_changed_subscriptions_are_rebalanced() {
    let mut s = sim(8);
    s.create_topic("refunds", 2);
    let spec = MemberSpec::new(
        member("billing", "range"),
        ["orders"],
        DeliveryMode::AtLeastOnce,
    );
    let a = s.add_member(spec.clone()).unwrap();
    let b = s.add_member(spec).unwrap();
    s.run_for(2_000).unwrap();
    s.apply(Op::AddPartitions {
        topic: "orders".into(),
        count: 2,
    })
    .unwrap();
    s.apply(Op::Subscribe(b, vec!["orders".into(), "refunds".into()]))
        .unwrap();
    s.apply(Op::Produce {
        topic: "refunds".into(),
        records: 50,
    })
    .unwrap();
    produce(&mut s, 100);
    s.settle(60_000).unwrap();
    let mut all = s.assignment(a);
    all.extend(s.assignment(b));
    all.sort();
    assert_eq!(all.len(), 10);
    assert!(s.assignment(a).iter().all(|tp| tp.topic == "orders"));
    assert_eq!(s.check_delivery().unwrap().records, 150);
}

#[test]
fn a_faulty_network_still_keeps_every_promise() {
    let mut config = SimConfig::new(9);
    config.network = NetworkConfig {
        min_delay_ms: 1,
        max_delay_ms: 300,
        drop_probability: 0.05,
        duplicate_probability: 0.05,
    };
    let mut s = Simulation::new(config);
    s.create_topic("orders", 6);
    for _ in 0..4 {
        let mode = DeliveryMode::ExactlyOnce;
        s.add_member(MemberSpec::new(
            member("ledger", "cooperative-sticky"),
            ["orders"],
            mode,
        ))
        .unwrap();
    }
    for _ in 0..10 {
        produce(&mut s, 50);
        s.run_for(2_000).unwrap();
    }
    s.apply(Op::Heal).unwrap();
    s.settle(120_000).unwrap();
    let report = s.check_delivery().unwrap();
    assert_eq!(report.output, 500);
}

#[test]
fn operations_on_unknown_members_and_mixed_modes_are_refused() {
    let mut s = sim(10);
    let err = s.apply(Op::Crash(MemberHandle(7))).unwrap_err();
    assert_eq!(err.invariant, Invariant::Operation);
    s.add_member(MemberSpec::new(
        member("g", "range"),
        ["orders"],
        DeliveryMode::AtLeastOnce,
    ))
    .unwrap();
    let err = s
        .add_member(MemberSpec::new(
            member("g", "range"),
            ["orders"],
            DeliveryMode::AtMostOnce,
        ))
        .unwrap_err();
    assert_eq!(err.invariant, Invariant::Operation);
    let mut bad = member("h", "range");
    bad.heartbeat_interval_ms = bad.session_timeout_ms + 1;
    let err = s
        .add_member(MemberSpec::new(bad, ["orders"], DeliveryMode::AtLeastOnce))
        .unwrap_err();
    assert_eq!(err.invariant, Invariant::Operation);
}

#[test]
fn an_admin_reset_may_move_offsets_back_only_while_the_group_is_empty() {
    let mut s = sim(11);
    let spec = MemberSpec::new(
        member("billing", "range"),
        ["orders"],
        DeliveryMode::AtLeastOnce,
    );
    let a = s.add_member(spec).unwrap();
    produce(&mut s, 60);
    s.settle(30_000).unwrap();
    let end = s.end_offset(&tp(0));
    assert!(end.0 > 0);
    // Refused while the group has a member.
    s.apply(Op::ResetOffsets {
        group: "billing".into(),
        partition: tp(0),
        offset: Offset(0),
    })
    .unwrap();
    assert_eq!(s.committed("billing", &tp(0)), Some(end));
    s.apply(Op::Close(a)).unwrap();
    s.run_for(1_000).unwrap();
    s.apply(Op::ResetOffsets {
        group: "billing".into(),
        partition: tp(0),
        offset: Offset(0),
    })
    .unwrap();
    assert_eq!(s.committed("billing", &tp(0)), Some(Offset(0)));
    s.apply(Op::Restart(a)).unwrap();
    s.settle(30_000).unwrap();
    // Partition 0 was read again from the start.
    let report = s.check_delivery().unwrap();
    assert!(report.repeated as i64 >= end.0);
}

#[test]
fn a_commit_replayed_from_an_earlier_generation_is_refused() {
    let mut config = SimConfig::new(12);
    config.trace = true;
    let mut s = Simulation::new(config);
    s.create_topic("orders", 6);
    let spec = MemberSpec::new(
        member("billing", "range"),
        ["orders"],
        DeliveryMode::AtLeastOnce,
    );
    let a = s.add_member(spec.clone()).unwrap();
    produce(&mut s, 60);
    s.settle(30_000).unwrap();
    let first = s.generation("billing").unwrap();
    // Nothing older to replay yet: a's commits are all from the current generation.
    s.apply(Op::ReplayCommit(a)).unwrap();
    assert!(
        s.trace()
            .unwrap()
            .contains("m0 has no stale commit to replay")
    );
    // b joins; a processes on into the new generation.
    let _b = s.add_member(spec).unwrap();
    produce(&mut s, 120);
    s.settle(30_000).unwrap();
    assert!(s.generation("billing").unwrap() > first);
    let before: Vec<_> = (0..6).map(|p| s.committed("billing", &tp(p))).collect();
    // A copy of a's first commit, from generation `first`, arrives now: refused, nothing moves.
    s.apply(Op::ReplayCommit(a)).unwrap();
    s.run_for(1_000).unwrap();
    let replayed = format!("replayed OffsetCommit gen {}", first.0);
    assert!(s.trace().unwrap().contains(&replayed), "{replayed}");
    let after: Vec<_> = (0..6).map(|p| s.committed("billing", &tp(p))).collect();
    assert_eq!(before, after);
    s.settle(30_000).unwrap();
    assert_eq!(s.check_delivery().unwrap().lost, 0);
}
