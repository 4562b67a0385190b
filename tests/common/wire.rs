//! The fuzz targets over the Kafka wire front end (feature `kafka-wire`): whole request
//! frames, and record batches in a Produce, sent to a real [`KafkaServer`] on 127.0.0.1. After
//! every input a fresh connection must still be answered, by the acceptor and by the group
//! coordinator behind it; whatever the server answers must be a response to the request sent
//! (its correlation id) that decodes whole. Their seeds are in [`super::frames`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use consumer_groups::kafka::{KafkaConfig, KafkaServer, supported_versions};
use consumer_groups::sync::Topics;
use consumer_groups::{Offset, TopicPartition};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, ProduceResponse, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::frames::{
    KeyValue, TOPIC, batch_records, fix_batches, produce_request, request_frame, s,
};

/// How long a liveness check waits for its answers.
const ALIVE_WAIT: Duration = Duration::from_secs(5);
/// How long a fuzz input waits for an answer or the connection's close before moving on: only
/// a request parked in the coordinator (a JoinGroup awaiting other members, rare with the
/// seeds' short sessions) takes this long. Long enough that a slow decode finishes (or
/// aborts) while its input is still the one being run.
const ANSWER_WAIT: Duration = Duration::from_secs(1);
/// The topic the record batch target produces to; no other target touches it.
const BATCH_TOPIC: &str = "batches";
/// Kafka's CORRUPT_MESSAGE.
const CORRUPT_MESSAGE: i16 = 2;
/// Kafka's UNSUPPORTED_COMPRESSION_TYPE.
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;

/// A server to fuzz, on 127.0.0.1 and a free port.
#[derive(Debug)]
pub struct Wire {
    server: KafkaServer,
    addr: SocketAddr,
}

impl Wire {
    /// Starts a server with short waits, so inputs that park are cheap, and the topics the
    /// seeds name.
    pub fn start() -> Wire {
        let mut config = KafkaConfig::default()
            .port(0)
            .default_partitions(2)
            .initial_rebalance_delay_ms(0);
        config.max_fetch_wait_ms = 20;
        config.offsets_partitions = 4;
        config.coordinator.max_group_size = 4;
        // Members of the seeds' short sessions leave soon, so few JoinGroups park for long.
        config.coordinator.min_session_timeout_ms = 10;
        config.coordinator.max_session_timeout_ms = 30_000;
        let server = KafkaServer::start(config).expect("the server starts");
        server.topics().create(TOPIC, 2).expect("a new topic");
        server.topics().create(BATCH_TOPIC, 1).expect("a new topic");
        let addr = server.local_addr();
        Wire { server, addr }
    }

    fn connect(&self, read_wait: Duration) -> io::Result<TcpStream> {
        let stream = TcpStream::connect_timeout(&self.addr, ALIVE_WAIT)?;
        stream.set_read_timeout(Some(read_wait))?;
        stream.set_write_timeout(Some(ALIVE_WAIT))?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Sends `frame` (a request frame after its size, which this adds) on a connection of its
    /// own, half-closed after it, and checks whatever comes back within [`ANSWER_WAIT`];
    /// returns whether the server answered. Then a fresh connection must still be answered.
    ///
    /// # Panics
    /// If an answer is not a response to the request, or the server no longer answers.
    pub fn request(&self, frame: &[u8]) -> bool {
        let answered = self.send(frame, ANSWER_WAIT);
        self.assert_alive();
        answered.is_some()
    }

    /// Sends one framed request and returns the answer's body (after the response header),
    /// checked, if one comes within `wait`.
    fn send(&self, frame: &[u8], wait: Duration) -> Option<(ApiKey, i16, Bytes)> {
        let mut stream = self.connect(wait).expect("connect");
        let mut bytes = Vec::with_capacity(frame.len() + 4);
        bytes.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        bytes.extend_from_slice(frame);
        // The server may close before reading everything: not an error of ours.
        if stream.write_all(&bytes).is_err() {
            return None;
        }
        // No more requests: once the server is done with this one it reads the end of the
        // stream and closes, so a wait ends as soon as the input has been dealt with (and a
        // crash is the input's, not a later one's), unless the request is parked.
        let _ = stream.shutdown(Shutdown::Write);
        let mut size = [0u8; 4];
        match stream.read_exact(&mut size) {
            Ok(()) => {}
            Err(e) if is_wait_or_close(&e) => return None,
            Err(e) => panic!("reading an answer: {e}"),
        }
        let size = i32::from_be_bytes(size);
        assert!(
            (0..=64 << 20).contains(&size),
            "an answer of {size} bytes to a {}-byte request",
            frame.len()
        );
        let mut body = vec![0u8; size as usize];
        stream
            .set_read_timeout(Some(ALIVE_WAIT))
            .expect("a timeout");
        stream
            .read_exact(&mut body)
            .expect("the rest of an answer whose size came");
        Some(check_answer(frame, Bytes::from(body)))
    }

    /// Asserts that a fresh connection is answered: ApiVersions by a worker of the server,
    /// FindCoordinator by the group coordinator; and that no request's handling panicked
    /// (the server closes the connection of a request that panics, and counts it).
    ///
    /// # Panics
    /// If either is not answered in time, or not with success, or a handler panicked.
    pub fn assert_alive(&self) {
        assert_eq!(
            self.server.stats().panics,
            0,
            "a request's handling panicked in the server"
        );
        let mut stream = self.connect(ALIVE_WAIT).expect("a fresh connection");
        let versions: ApiVersionsResponse = call(
            &mut stream,
            ApiKey::ApiVersions,
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(s("fuzz"))
                .with_client_software_version(s("1")),
        )
        .expect("ApiVersions on a fresh connection is answered");
        assert_eq!(versions.error_code, 0);
        let find: FindCoordinatorResponse = call(
            &mut stream,
            ApiKey::FindCoordinator,
            1,
            &FindCoordinatorRequest::default().with_key(s("liveness")),
        )
        .expect("FindCoordinator on a fresh connection is answered");
        assert_eq!(find.error_code, 0);
    }

    /// The record batch target: `data` is a flags byte and then the bytes of the records
    /// field of one partition of a Produce. Flag bit 0 asks for the batches' lengths and CRCs
    /// to be fixed up first, so mutations reach past the CRC check; bits 1–4 choose the
    /// Produce version among those served. The Produce must be answered; a batch the server
    /// accepts must have appended exactly the records Kafka would read from it
    /// ([`batch_records`]), and one it refuses as corrupt nothing. Returns whether the batch
    /// was accepted.
    ///
    /// # Panics
    /// As [`request`](Self::request), or if the appended records differ from the batch's.
    pub fn record_batch(&self, data: &[u8]) -> bool {
        let Some((&flags, batch)) = data.split_first() else {
            return false;
        };
        let mut batch = batch.to_vec();
        if flags & 1 != 0 {
            fix_batches(&mut batch);
        }
        let produce = supported(ApiKey::Produce);
        let version = produce.0 + i16::from((flags >> 1) & 0xf) % (produce.1 - produce.0 + 1);
        let tp = TopicPartition::new(BATCH_TOPIC, 0);
        let end = |topics: &Topics| topics.end_offset(&tp).unwrap().0;
        let before = end(self.server.topics());
        let request = produce_request(BATCH_TOPIC, Bytes::from(batch.clone()));
        let frame = request_frame(ApiKey::Produce, version, 9, &request);
        let (key, _, mut body) = self
            .send(&frame[4..], ALIVE_WAIT)
            .expect("a Produce with acks=-1 is answered");
        assert_eq!(key, ApiKey::Produce);
        let response = ProduceResponse::decode(&mut body, version).unwrap();
        let partition = &response.responses[0].partition_responses[0];
        let after = end(self.server.topics());
        let accepted = partition.error_code == 0;
        // Where Kafka would read the batch, the server must have appended its records; where
        // Kafka would not, a server that is more lenient is not held to anything here.
        let expected = batch_records(&batch).filter(|_| accepted);
        if let Some(expected) = expected {
            let appended = self
                .server
                .topics()
                .read(&tp, Offset(before), expected.len() + 1)
                .unwrap();
            let got: Vec<KeyValue> = appended.into_iter().map(|r| (r.key, r.value)).collect();
            assert_eq!(got, expected, "the records appended are not the batch's");
            if !expected.is_empty() {
                assert_eq!(partition.base_offset, before);
            }
        } else if matches!(
            partition.error_code,
            CORRUPT_MESSAGE | UNSUPPORTED_COMPRESSION_TYPE
        ) {
            assert_eq!(after, before, "a refused batch appended records");
        }
        self.assert_alive();
        accepted
    }
}

/// Whether a read error is a timeout or the peer closing.
fn is_wait_or_close(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// The oldest and newest version served of `key`.
fn supported(key: ApiKey) -> (i16, i16) {
    let api = supported_versions()
        .into_iter()
        .find(|a| a.api_key == key as i16)
        .expect("a served API");
    (api.min_version, api.max_version)
}

/// Checks an answer to `frame`: a response header with the request's correlation id, then a
/// body that decodes whole as the response to the request's API and version (version 0 for
/// an ApiVersions in a version not served, KIP-511). Returns the API, version and body.
fn check_answer(frame: &[u8], mut body: Bytes) -> (ApiKey, i16, Bytes) {
    assert!(
        frame.len() >= 8,
        "an answer to a {}-byte frame",
        frame.len()
    );
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let mut version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let key = ApiKey::try_from(api_key).expect("an answer to an unknown API");
    let (min, max) = supported(key);
    if !(min..=max).contains(&version) {
        assert_eq!(key, ApiKey::ApiVersions, "an answer to {key:?} v{version}");
        version = 0;
    }
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
        .expect("a response header");
    assert_eq!(header.correlation_id, correlation_id, "{key:?} v{version}");
    let whole = body.clone();
    let mut rest = body.clone();
    if let Err(e) = ResponseKind::decode(key, &mut rest, version) {
        panic!("{key:?} v{version}: the answer does not decode: {e:#}");
    }
    assert!(
        rest.is_empty(),
        "{key:?} v{version}: {} bytes after the response",
        rest.len()
    );
    (key, version, whole)
}

/// Sends a request and decodes its response; `None` if the connection closed or timed out.
fn call<R: Decodable>(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
    body: &impl Encodable,
) -> Option<R> {
    stream
        .write_all(&request_frame(key, version, 7, body))
        .ok()?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let mut frame = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut frame).ok()?;
    let mut frame = Bytes::from(frame);
    let header = ResponseHeader::decode(&mut frame, key.response_header_version(version)).ok()?;
    assert_eq!(header.correlation_id, 7);
    Some(R::decode(&mut frame, version).expect("a response that decodes"))
}
