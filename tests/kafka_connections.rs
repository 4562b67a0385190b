//! The Kafka front end's connection limits, over real sockets on 127.0.0.1: a connection past
//! the cap (in all, or from one address) is closed at once and counted, and an idle one is
//! closed after the idle limit.
#![cfg(feature = "kafka-wire")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use consumer_groups::kafka::{KafkaConfig, KafkaServer};

const WAIT: Duration = Duration::from_secs(5);

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Whether an ApiVersions v0 on `s` is answered.
fn served(s: &mut TcpStream) -> bool {
    if s.write_all(&[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 5, 0, 0])
        .is_err()
    {
        return false;
    }
    let mut size = [0u8; 4];
    if s.read_exact(&mut size).is_err() {
        return false;
    }
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).is_ok() && body[..4] == [0, 0, 0, 5]
}

/// Whether the server closed `s` (read returns end of stream or an error).
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

/// Waits until `f` holds, up to the wait.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_connection_past_the_cap_is_closed_at_once_and_counted() {
    let mut config = KafkaConfig::default().port(0);
    config.max_connections = 3;
    let server = KafkaServer::start(config).unwrap();
    let mut open: Vec<TcpStream> = (0..3).map(|_| connect(server.local_addr())).collect();
    for s in &mut open {
        assert!(served(s));
    }
    let mut extra = connect(server.local_addr());
    assert!(closed(&mut extra), "the fourth connection is closed");
    assert!(eventually(|| server.stats().refused == 1));
    // One closes: a new one is served again.
    drop(open.pop());
    assert!(eventually(|| {
        let mut s = connect(server.local_addr());
        served(&mut s)
    }));
    server.shutdown();
}

#[test]
fn a_connection_past_the_per_address_cap_is_closed() {
    let mut config = KafkaConfig::default().port(0);
    config.max_connections_per_ip = 2;
    let server = KafkaServer::start(config).unwrap();
    let mut a = connect(server.local_addr());
    let mut b = connect(server.local_addr());
    assert!(served(&mut a) && served(&mut b));
    let mut c = connect(server.local_addr());
    assert!(closed(&mut c));
    assert!(eventually(|| server.stats().refused == 1));
    server.shutdown();
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_limit() {
    let mut config = KafkaConfig::default().port(0);
    config.connections_max_idle_ms = 200;
    let server = KafkaServer::start(config).unwrap();
    let mut idle = connect(server.local_addr());
    assert!(served(&mut idle));
    // A frame begun and never finished does not keep it open either.
    let mut partial = connect(server.local_addr());
    partial.write_all(&[0, 0, 1, 0, 0, 18]).unwrap();
    // The reactor looks for idle connections about once a second.
    assert!(closed(&mut idle), "the idle connection is closed");
    assert!(closed(&mut partial), "the stalled one is closed");
    assert!(eventually(|| server.stats().connections == 0));
    server.shutdown();
}

/// A frame that claims 100 MiB but sends 10 bytes costs its bytes, not its claim.
#[test]
fn a_claimed_size_is_not_reserved_before_the_bytes_arrive() {
    let server = KafkaServer::start(KafkaConfig::default().port(0)).unwrap();
    let mut s = connect(server.local_addr());
    let mut frame = (100 * 1024 * 1024i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&[0, 18, 0, 0, 0, 0, 0, 1, 0, 0]);
    s.write_all(&frame).unwrap();
    assert!(eventually(|| server.stats().buffered_bytes == 14));
    // Other connections are served meanwhile.
    let mut other = connect(server.local_addr());
    assert!(served(&mut other));
    server.shutdown();
}
