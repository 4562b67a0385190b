//! The `assign` example's command line, separate from `main` so tests can drive it.

use std::time::Instant;

use consumer_groups::AssignorRegistry;

use crate::scenario::Scenario;

/// Usage line.
pub const USAGE: &str = "usage: assign [--assignor NAME] [--timing] FILE";

/// What a successful run prints.
#[derive(Debug)]
pub struct Output {
    /// The assignment, one line per member.
    pub stdout: String,
    /// `assign_ms=…` when `--timing` was given.
    pub stderr: Option<String>,
}

/// Runs the planner on its arguments (without the program name).
pub fn run(args: &[String]) -> Result<Output, String> {
    let mut assignor: Option<String> = None;
    let mut timing = false;
    let mut file: Option<&str> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--assignor" => {
                assignor = Some(it.next().ok_or("--assignor needs a NAME")?.clone());
            }
            "--timing" => timing = true,
            "-h" | "--help" => {
                return Ok(Output {
                    stdout: format!("{USAGE}\n"),
                    stderr: None,
                });
            }
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ if file.is_none() => file = Some(arg),
            _ => return Err(format!("unexpected argument {arg}\n{USAGE}")),
        }
    }
    let file = file.ok_or(USAGE)?;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let scenario = Scenario::parse(&text).map_err(|e| format!("{file}: {e}"))?;
    let name = assignor
        .or_else(|| scenario.assignor.clone())
        .unwrap_or_else(|| "range".to_string());
    let registry = AssignorRegistry::with_builtins();
    let assignor = registry.require(&name).map_err(|e| {
        let known: Vec<&str> = registry.names().collect();
        format!("{e} (known: {})", known.join(", "))
    })?;
    let spec = scenario.spec().map_err(|e| format!("{file}: {e}"))?;

    let start = Instant::now();
    let assignment = assignor.assign(&spec).map_err(|e| format!("{file}: {e}"))?;
    let elapsed = start.elapsed();

    Ok(Output {
        stdout: assignment.to_string(),
        stderr: timing.then(|| format!("assign_ms={:.3}", elapsed.as_secs_f64() * 1e3)),
    })
}
