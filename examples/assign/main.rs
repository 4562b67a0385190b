//! An assignment planner: reads a scenario file and prints who gets which partition.
//!
//! ```text
//! cargo run --release --example assign -- [--assignor NAME] [--timing] FILE
//! ```
//!
//! The scenario format is described in `scenario.rs`; `examples/scenarios/` has samples.
//! Output: one line per member sorted by id, `ID T:P,T:P,…`, or `ID -` for a member that gets
//! nothing. `--timing` prints `assign_ms=…` (the assign call alone) on stderr.

mod scenario;

use std::process::ExitCode;
use std::time::Instant;

use consumer_groups::AssignorRegistry;
use scenario::Scenario;

const USAGE: &str = "usage: assign [--assignor NAME] [--timing] FILE";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("assign: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut assignor: Option<String> = None;
    let mut timing = false;
    let mut file: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--assignor" => {
                assignor = Some(args.next().ok_or("--assignor needs a NAME")?);
            }
            "--timing" => timing = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ if file.is_none() => file = Some(arg),
            _ => return Err(format!("unexpected argument {arg}\n{USAGE}")),
        }
    }
    let file = file.ok_or(USAGE)?;
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
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

    print!("{assignment}");
    if timing {
        eprintln!("assign_ms={:.3}", elapsed.as_secs_f64() * 1e3);
    }
    Ok(())
}
