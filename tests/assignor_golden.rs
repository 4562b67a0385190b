//! Data-driven golden tests for the built-in assignors.
//!
//! Every `tests/data/*.txt` file is one scenario in the format of the `assign` example (see
//! `examples/assign/scenario.rs`): an `assignor` directive, the topics, the members, and one
//! `expect ID T:P,…|-` line per member. The expected outputs were computed by hand from the
//! documented rules (and, for `range` / `roundrobin`, checked against the expectations of
//! Kafka's own `RangeAssignorTest` / `RoundRobinAssignorTest`), not pasted from the code.

#[path = "../examples/assign/scenario.rs"]
mod scenario;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use consumer_groups::AssignorRegistry;
use scenario::Scenario;

/// The golden scenarios, sorted by file name.
fn golden_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

/// Runs one scenario; `Err` describes what is wrong with it.
fn check(registry: &AssignorRegistry, file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    if !text.trim_start().starts_with('#') {
        return Err("the file must start with a comment saying which rule it shows".into());
    }
    let scenario = Scenario::parse(&text).map_err(|e| e.to_string())?;
    let name = scenario
        .assignor
        .as_deref()
        .ok_or("no `assignor` directive")?;
    let assignor = registry.require(name).map_err(|e| e.to_string())?;

    // One `expect` line per member, no more, no fewer.
    let members: BTreeSet<&str> = scenario.members.iter().map(|m| m.id().as_str()).collect();
    let mut expected_ids = BTreeSet::new();
    for (id, _) in &scenario.expect {
        if !expected_ids.insert(id.as_str()) {
            return Err(format!("two `expect` lines for {id}"));
        }
    }
    if members != expected_ids {
        return Err(format!(
            "`expect` lines must name every member exactly: members {members:?}, expect lines {expected_ids:?}"
        ));
    }

    let spec = scenario.spec().map_err(|e| format!("invalid spec: {e}"))?;
    let assignment = assignor
        .assign(&spec)
        .map_err(|e| format!("{name} failed: {e}"))?;
    let expected = scenario.expected_output().ok_or("no `expect` lines")?;
    let actual = assignment.to_string();
    if actual != expected {
        return Err(format!(
            "{name} output differs\n--- expected\n{expected}--- actual\n{actual}"
        ));
    }
    Ok(())
}

#[test]
fn golden_scenarios_match_their_expect_lines() {
    let files = golden_files();
    assert!(
        files.len() >= 20,
        "expected at least 20 golden files in tests/data, found {}",
        files.len()
    );
    let registry = AssignorRegistry::with_builtins();
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| {
            check(&registry, file)
                .err()
                .map(|e| format!("{}: {e}", file.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden files failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn golden_files_cover_every_builtin_assignor() {
    let mut seen = BTreeSet::new();
    for file in golden_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let scenario = Scenario::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Some(name) = scenario.assignor {
            seen.insert(name);
        }
    }
    for name in consumer_groups::assignor::BUILTIN_NAMES {
        assert!(seen.contains(name), "no golden file for {name}");
    }
}
