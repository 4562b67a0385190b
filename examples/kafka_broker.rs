//! A Kafka broker for real Kafka clients: this crate's group coordinator and in-memory topics
//! behind the Kafka wire protocol.
//!
//! ```text
//! cargo run --release --features kafka-wire --example kafka_broker -- --port 9092
//! ```
//!
//! Options: `--port N` (0 picks a free one), `--host ADDR` (the address to bind, 127.0.0.1 by
//! default), `--partitions N` (partitions of auto-created topics, default 1),
//! `--initial-rebalance-delay-ms N` (default 3000), `--min-session-timeout-ms N` (default
//! 6000), `--seed N` (seed of the member ids, to replay a run; by default each start draws
//! its own, so ids never repeat across restarts), `--verbose` (print why a connection was
//! closed). The first line printed is `listening on HOST:PORT`; the broker runs until killed.

use std::net::IpAddr;
use std::process::ExitCode;

use consumer_groups::kafka::{KafkaConfig, KafkaServer};

fn parse<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    value
        .ok_or_else(|| format!("{flag} needs a value"))?
        .parse()
        .map_err(|_| format!("{flag}: not a valid value"))
}

fn config() -> Result<KafkaConfig, String> {
    let mut config = KafkaConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => config.bind.set_port(parse("--port", args.next())?),
            "--host" => config.bind.set_ip(parse::<IpAddr>("--host", args.next())?),
            "--partitions" => config.default_partitions = parse("--partitions", args.next())?,
            "--initial-rebalance-delay-ms" => {
                config.coordinator.initial_rebalance_delay_ms =
                    parse("--initial-rebalance-delay-ms", args.next())?;
            }
            "--min-session-timeout-ms" => {
                config.coordinator.min_session_timeout_ms =
                    parse("--min-session-timeout-ms", args.next())?;
            }
            "--seed" => config.coordinator.seed = Some(parse("--seed", args.next())?),
            "--verbose" => config.log_closes = true,
            "-h" | "--help" => {
                return Err(
                    "usage: kafka_broker [--port N] [--host ADDR] [--partitions N] \
                            [--initial-rebalance-delay-ms N] [--min-session-timeout-ms N] \
                            [--seed N] [--verbose]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(config)
}

fn main() -> ExitCode {
    let config = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let server = match KafkaServer::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", server.local_addr());
    // The broker serves until the process is killed.
    loop {
        std::thread::park();
    }
}
