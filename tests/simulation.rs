//! The deterministic simulation: seeded clusters under faults, checked after every step.

use consumer_groups::sim::{Scenario, ScenarioConfig};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn seeds() {
    let start = env_u64("SIM_SEED").unwrap_or(0);
    let count = if env_u64("SIM_SEED").is_some() && env_u64("SIM_SEEDS").is_none() {
        1
    } else {
        env_u64("SIM_SEEDS").unwrap_or(1_000)
    };
    let config = ScenarioConfig::default();
    let mut failures = Vec::new();
    let t = std::time::Instant::now();
    for seed in start..start + count {
        let scenario = Scenario::random(seed, &config);
        if let Err(v) = scenario.run() {
            let traced = scenario.clone().traced().run().err();
            eprintln!("seed {seed}: {v}");
            if let Some(t) = traced {
                if std::env::var("SIM_TRACE").is_ok() {
                    eprintln!("{}", t.detail);
                }
            }
            eprintln!("replay: SIM_SEED={seed} cargo test --test simulation seeds");
            failures.push(seed);
            if failures.len() > 10 {
                break;
            }
        }
    }
    eprintln!("{} seeds in {:?}", count, t.elapsed());
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
}
