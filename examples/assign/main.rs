//! An assignment planner: reads a scenario file and prints who gets which partition.
//!
//! ```text
//! cargo run --release --example assign -- [--assignor NAME] [--timing] FILE
//! ```
//!
//! The scenario format is described in `scenario.rs`; `examples/scenarios/` has samples.
//! Output: one line per member sorted by id, `ID T:P,T:P,…`, or `ID -` for a member that gets
//! nothing. `--timing` prints `assign_ms=…` (the assign call alone) on stderr. Bad input exits
//! with status 1 and a message naming the file and line.

mod cli;
mod scenario;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::run(&args) {
        Ok(out) => {
            print!("{}", out.stdout);
            if let Some(timing) = out.stderr {
                eprintln!("{timing}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("assign: {message}");
            ExitCode::FAILURE
        }
    }
}
