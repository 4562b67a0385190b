//! A `KafkaServer` in a process of its own, for tests that read its resident memory and
//! threads from `/proc/PID/status`: the test binary runs itself again in server mode (the
//! `server_process` test, with `HOSTILE_SERVER` set), which serves until its standard input
//! closes. Also the small request helpers those tests share.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use consumer_groups::kafka::{KafkaConfig, KafkaServer};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Encodable, StrBytes};

#[path = "../common/frames.rs"]
mod frames;

/// How long a test waits for a connection or an answer.
pub const WAIT: Duration = Duration::from_secs(20);

/// Server mode: started by [`Broker::spawn`] with `HOSTILE_SERVER` set; serves until its
/// standard input closes.
#[test]
fn server_process() {
    if std::env::var_os("HOSTILE_SERVER").is_none() {
        return;
    }
    let mut config = KafkaConfig::default()
        .port(0)
        .default_partitions(1)
        .initial_rebalance_delay_ms(0);
    config.coordinator.min_session_timeout_ms = 1_000;
    config.max_connections = 20_000;
    if let Some(ms) = std::env::var("HOSTILE_CLEANER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.coordinator.log_cleaner_backoff_ms = ms;
    }
    let server = KafkaServer::start(config).expect("start");
    // A partition of 2,000 records of 1 KiB, and one of 100,000 small records, for the
    // fetch and timestamp cases.
    server.topics().create("big", 1).unwrap();
    server.topics().create("many", 1).unwrap();
    let big = consumer_groups::TopicPartition::new("big", 0);
    let many = consumer_groups::TopicPartition::new("many", 0);
    for i in 0..2_000u64 {
        let ts = consumer_groups::Timestamp(i);
        server
            .topics()
            .append(&big, None, Some(&[b'x'; 1024]), ts)
            .unwrap();
    }
    for i in 0..100_000u64 {
        let ts = consumer_groups::Timestamp(i);
        server.topics().append(&many, None, Some(b"v"), ts).unwrap();
    }
    println!("port {}", server.local_addr().port());
    std::io::stdout().flush().unwrap();
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink);
    server.shutdown();
}

pub struct Broker {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Broker {
    pub fn spawn() -> Broker {
        Broker::spawn_with(&[])
    }

    pub fn spawn_with(env: &[(&str, String)]) -> Broker {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args([
                "--exact",
                "broker_process::server_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("HOSTILE_SERVER", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server process starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut port = None;
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen.push(line.clone());
            // The harness may print the test's name on the same line.
            if let Some((_, p)) = line.split_once("port ") {
                port = Some(p.trim().parse::<u16>().unwrap());
                break;
            }
        }
        let addr = SocketAddr::from((
            [127, 0, 0, 1],
            port.unwrap_or_else(|| panic!("the server printed no port: {seen:?}")),
        ));
        // Drain what else it prints, so it never writes to a closed pipe.
        std::thread::spawn(move || for _ in lines {});
        Broker { child, addr }
    }

    /// A field of `/proc/PID/status`, in bytes for sizes (given in kB there).
    pub fn status(&self, field: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| {
                let v = v.trim();
                let scale = if v.ends_with(" kB") { 1024 } else { 1 };
                v.trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .map(|n| n * scale)
            })
            .unwrap_or(0)
    }

    pub fn alive(&mut self) -> bool {
        if self.child.try_wait().ok().flatten().is_some() {
            return false;
        }
        // ApiVersions v0 on a new connection.
        let Ok(mut s) = TcpStream::connect_timeout(&self.addr, WAIT) else {
            return false;
        };
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut frame = vec![0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 9, 0, 0];
        if s.write_all(&frame).is_err() {
            return false;
        }
        frame.clear();
        matches!(read_reply(&mut s), Some(r) if r[..4] == [0, 0, 0, 9])
    }

    /// Sends `frame` on a new connection and waits for its answer or the connection's close;
    /// returns the reply's size (0 if closed) and the peak memory growth while serving it.
    pub fn measure(&mut self, frame: &[u8]) -> (usize, u64) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").unwrap();
        let base = self.status("VmRSS:");
        let mut s = TcpStream::connect_timeout(&self.addr, WAIT).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let _ = s.write_all(frame);
        let reply = read_reply(&mut s).map_or(0, |r| r.len());
        drop(s);
        let peak = self.status("VmHWM:");
        (reply, peak.saturating_sub(base))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Closing its standard input stops it; kill it by its id if it does not stop.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn read_reply(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

pub fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// A framed request: size, header, body (correlation id 1).
pub fn frame(key: ApiKey, version: i16, body: &impl Encodable) -> Vec<u8> {
    frames::request_frame(key, version, 1, body)
}
