//! [`KafkaServer`]: the TCP listener and one thread per connection.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use hashbrown::HashMap;
use kafka_protocol::messages::{
    self as kp, ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
    api_versions_response::ApiVersion,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use parking_lot::Mutex;

use super::KafkaConfig;
use super::convert::{self, Client, UNSUPPORTED_VERSION};
use super::guard;
use super::records::Broker;
use super::versions::{SupportedApi, supported_versions};
use crate::log::MemoryLog;
use crate::offsets::LogOffsetStore;
use crate::protocol::{Request, RequestId, Response};
use crate::sync::{Connection, GroupService, Topics};
use crate::types::GroupId;

/// How often a thread waiting on the coordinator looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct Shared {
    service: GroupService,
    broker: Broker,
    max_frame_bytes: usize,
    log_closes: bool,
    apis: Vec<SupportedApi>,
    stop: AtomicBool,
    /// The last producer id handed out by InitProducerId.
    producer_ids: AtomicI64,
    /// Open sockets, to unblock their threads at shutdown.
    sockets: Mutex<HashMap<u64, TcpStream>>,
}

/// A Kafka broker on TCP, fronting a [`GroupService`] and in-memory [`Topics`]. See the
/// [module](super) docs.
///
/// Dropping the server (or [`shutdown`](Self::shutdown)) stops the listener, closes every
/// connection and joins their threads.
#[derive(Debug)]
pub struct KafkaServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl KafkaServer {
    /// Binds `config.bind` and starts serving on a new thread.
    ///
    /// # Errors
    /// The listener's I/O error (an address in use, say).
    pub fn start(config: KafkaConfig) -> io::Result<KafkaServer> {
        let listener = TcpListener::bind(config.bind)?;
        let addr = listener.local_addr()?;
        let store = Arc::new(LogOffsetStore::new(Arc::new(MemoryLog::new(
            config.offsets_partitions.max(1),
        ))));
        let service = GroupService::start(config.coordinator.clone(), store);
        let host = config
            .advertised_host
            .clone()
            .unwrap_or_else(|| addr.ip().to_string());
        let shared = Arc::new(Shared {
            service,
            broker: Broker {
                topics: config.topics.clone(),
                host,
                port: i32::from(addr.port()),
                default_partitions: config.default_partitions.max(1),
                auto_create: config.auto_create_topics,
                max_fetch_wait: Duration::from_millis(config.max_fetch_wait_ms),
            },
            max_frame_bytes: config.max_frame_bytes,
            log_closes: config.log_closes,
            apis: supported_versions(),
            stop: AtomicBool::new(false),
            producer_ids: AtomicI64::new(0),
            sockets: Mutex::new(HashMap::new()),
        });
        let workers = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let shared = shared.clone();
            let workers = workers.clone();
            std::thread::Builder::new()
                .name("kafka-accept".into())
                .spawn(move || accept(&listener, &shared, &workers))?
        };
        Ok(KafkaServer {
            addr,
            shared,
            acceptor: Some(acceptor),
            workers,
        })
    }

    /// The address the server listens on (with the port chosen, if port 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The topics the server serves.
    #[must_use]
    pub fn topics(&self) -> &Topics {
        &self.shared.broker.topics
    }

    /// The group service behind the server, to inspect groups.
    #[must_use]
    pub fn service(&self) -> &GroupService {
        &self.shared.service
    }

    /// Stops the server: no new connections, every open one closed, every thread joined.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.shared.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the acceptor with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        for (_, socket) in self.shared.sockets.lock().drain() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let workers = std::mem::take(&mut *self.workers.lock());
        for w in workers {
            let _ = w.join();
        }
    }
}

impl Drop for KafkaServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>, workers: &Mutex<Vec<JoinHandle<()>>>) {
    let mut next = 0u64;
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        next += 1;
        let id = next;
        if let Ok(clone) = stream.try_clone() {
            shared.sockets.lock().insert(id, clone);
        }
        let for_worker = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("kafka-conn-{id}"))
            .spawn(move || {
                serve(&for_worker, stream);
                for_worker.sockets.lock().remove(&id);
            });
        let mut ws = workers.lock();
        ws.retain(|w| !w.is_finished());
        if let Ok(w) = spawned {
            ws.push(w);
        }
    }
}

/// What to do after a request.
enum Outcome {
    /// Send these bytes (a whole frame).
    Reply(Vec<u8>),
    /// Send nothing (a Produce with `acks=0`).
    Silent,
    /// Close the connection: the input was bad.
    Close,
}

/// One client connection's state.
struct Session<'a> {
    shared: &'a Shared,
    peer: String,
    conn: Option<Connection>,
    next_id: u64,
}

fn serve(shared: &Shared, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map_or_else(|_| String::from("unknown"), |a| format!("/{}", a.ip()));
    let mut session = Session {
        shared,
        peer,
        conn: None,
        next_id: 0,
    };
    while !shared.stop.load(Ordering::SeqCst) {
        let Ok(Some(frame)) = read_frame(&mut stream, shared.max_frame_bytes) else {
            break;
        };
        // A handler that panics on some input costs its connection, never the server.
        let outcome =
            catch_unwind(AssertUnwindSafe(|| session.handle(frame))).unwrap_or(Outcome::Close);
        match outcome {
            Outcome::Reply(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    break;
                }
            }
            Outcome::Silent => {}
            Outcome::Close => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Reads one size-prefixed frame; `Ok(None)` at a clean end of stream.
fn read_frame(stream: &mut TcpStream, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut size = [0u8; 4];
    match stream.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad frame size"))?;
    // Grown as the bytes arrive past the first MiB, so a size claimed but never sent costs
    // little memory.
    let mut body = Vec::with_capacity(size.min(1 << 20));
    Read::by_ref(stream)
        .take(size as u64)
        .read_to_end(&mut body)?;
    if body.len() < size {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(body))
}

/// A frame: size, response header, body.
fn frame(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Vec<u8>, String> {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header
        .encode(&mut buf, key.response_header_version(version))
        .map_err(|e| e.to_string())?;
    body.encode(&mut buf, version)
        .map_err(|e| format!("{e:#}"))?;
    let size = i32::try_from(buf.len() - 4).map_err(|_| "response too large".to_owned())?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.to_vec())
}

fn api_versions(apis: &[SupportedApi], error: i16) -> kp::ApiVersionsResponse {
    let mut out = kp::ApiVersionsResponse::default();
    out.error_code = error;
    out.api_keys = apis
        .iter()
        .map(|a| {
            let mut v = ApiVersion::default();
            v.api_key = a.api_key;
            v.min_version = a.min_version;
            v.max_version = a.max_version;
            v
        })
        .collect();
    out
}

impl Session<'_> {
    fn handle(&mut self, frame: Vec<u8>) -> Outcome {
        if frame.len() < 8 {
            return Outcome::Close;
        }
        let api_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let Ok(key) = ApiKey::try_from(api_key) else {
            return self.close(format_args!("unknown api key {api_key}"));
        };
        let Some(api) = self.shared.apis.iter().find(|a| a.api_key == api_key) else {
            return self.close(format_args!("{key:?} is not served"));
        };
        if version < api.min_version || version > api.max_version {
            if key == ApiKey::ApiVersions {
                // KIP-511: answer in version 0 with the versions, so the client can fall back.
                let body =
                    ResponseKind::ApiVersions(api_versions(&self.shared.apis, UNSUPPORTED_VERSION));
                return self.reply(ApiKey::ApiVersions, 0, correlation_id, &body);
            }
            return self.close(format_args!("{key:?} v{version} is not served"));
        }
        let mut buf = Bytes::from(frame);
        let header = match RequestHeader::decode(&mut buf, key.request_header_version(version)) {
            Ok(h) => h,
            Err(e) => return self.close(format_args!("{key:?} v{version} header: {e}")),
        };
        if guard::check(key, version, &buf).is_err() {
            return self.close(format_args!(
                "{key:?} v{version}: an array count past the frame"
            ));
        }
        let request = match RequestKind::decode(key, &mut buf, version) {
            Ok(r) => r,
            Err(e) => return self.close(format_args!("{key:?} v{version} request: {e:#}")),
        };
        let client = Client {
            client_id: header
                .client_id
                .as_ref()
                .map_or_else(String::new, |c| c.as_str().to_owned()),
            host: self.peer.clone(),
        };
        match self.dispatch(request, version, &client) {
            Some(Some(body)) => self.reply(key, version, correlation_id, &body),
            Some(None) => Outcome::Silent,
            None => Outcome::Close,
        }
    }

    /// Closes the connection, saying why if the server logs closes.
    fn close(&self, why: std::fmt::Arguments<'_>) -> Outcome {
        if self.shared.log_closes {
            eprintln!("closing the connection from {}: {why}", self.peer);
        }
        Outcome::Close
    }

    /// The response as a frame, or a close if it does not encode.
    fn reply(
        &self,
        key: ApiKey,
        version: i16,
        correlation_id: i32,
        body: &ResponseKind,
    ) -> Outcome {
        match frame(key, version, correlation_id, body) {
            Ok(bytes) => Outcome::Reply(bytes),
            Err(e) => self.close(format_args!("{key:?} v{version} response: {e:#}")),
        }
    }

    /// The coordinator's answer to `request`; `None` if the server stops first.
    fn call(&mut self, request: Request) -> Option<Response> {
        let conn = self
            .conn
            .get_or_insert_with(|| self.shared.service.connect());
        self.next_id += 1;
        let id = RequestId(self.next_id);
        conn.send(id, request);
        loop {
            match conn.recv_timeout(STOP_CHECK) {
                Some((got, response)) if got == id => return Some(response),
                Some(_) => {}
                None if self.shared.stop.load(Ordering::SeqCst) => return None,
                None => {}
            }
        }
    }

    /// The response body: `Some(None)` for no response, `None` to close the connection.
    fn dispatch(
        &mut self,
        request: RequestKind,
        version: i16,
        client: &Client,
    ) -> Option<Option<ResponseKind>> {
        let broker = &self.shared.broker;
        let body = match request {
            RequestKind::ApiVersions(_) => {
                ResponseKind::ApiVersions(api_versions(&self.shared.apis, 0))
            }
            RequestKind::Metadata(req) => ResponseKind::Metadata(broker.metadata(&req, version)),
            RequestKind::ListOffsets(req) => {
                ResponseKind::ListOffsets(broker.list_offsets(&req, version))
            }
            RequestKind::Produce(req) => {
                let now = self.shared.service.now();
                return Some(broker.produce(&req, now).map(ResponseKind::Produce));
            }
            RequestKind::Fetch(req) => {
                let stop = || self.shared.stop.load(Ordering::SeqCst);
                ResponseKind::Fetch(broker.fetch(&req, version, &stop))
            }
            RequestKind::InitProducerId(req) => {
                let mut out = kp::InitProducerIdResponse::default();
                if req.transactional_id.is_some() {
                    // Transactions are not served here; idempotent producers are.
                    out.error_code = crate::ErrorCode::CoordinatorNotAvailable.code();
                    out.producer_id = kp::ProducerId(-1);
                    out.producer_epoch = -1;
                } else {
                    let id = self.shared.producer_ids.fetch_add(1, Ordering::SeqCst) + 1;
                    out.producer_id = kp::ProducerId(id);
                    out.producer_epoch = 0;
                }
                ResponseKind::InitProducerId(out)
            }
            RequestKind::FindCoordinator(req) => {
                let keys = if version >= 4 {
                    req.coordinator_keys.clone()
                } else {
                    vec![req.key.clone()]
                };
                let mut coordinators = Vec::with_capacity(keys.len());
                for key in keys {
                    let error = if req.key_type != 0 {
                        // Transaction coordinators are not served here.
                        crate::ErrorCode::CoordinatorNotAvailable
                    } else {
                        match self.call(Request::FindCoordinator(GroupId::new(key.as_str())))? {
                            Response::FindCoordinator(r) => r.error,
                            _ => return None,
                        }
                    };
                    coordinators.push(convert::coordinator(key, error, &broker.host, broker.port));
                }
                let mut out = kp::FindCoordinatorResponse::default();
                if version < 4 {
                    let c = coordinators.pop()?;
                    out.error_code = c.error_code;
                    if version >= 1 {
                        out.error_message = c.error_message;
                    }
                    out.node_id = c.node_id;
                    out.host = c.host;
                    out.port = c.port;
                } else {
                    out.coordinators = coordinators;
                }
                ResponseKind::FindCoordinator(out)
            }
            RequestKind::JoinGroup(req) => {
                match self.call(convert::join_group(req, version, client))? {
                    Response::JoinGroup(r) => {
                        ResponseKind::JoinGroup(convert::join_group_response(r, version))
                    }
                    _ => return None,
                }
            }
            RequestKind::SyncGroup(req) => match self.call(convert::sync_group(req))? {
                Response::SyncGroup(r) => ResponseKind::SyncGroup(convert::sync_group_response(r)),
                _ => return None,
            },
            RequestKind::Heartbeat(req) => match self.call(convert::heartbeat(req))? {
                Response::Heartbeat(e) => ResponseKind::Heartbeat(convert::heartbeat_response(e)),
                _ => return None,
            },
            RequestKind::LeaveGroup(req) => match self.call(convert::leave_group(req, version))? {
                Response::LeaveGroup(r) => {
                    ResponseKind::LeaveGroup(convert::leave_group_response(r, version))
                }
                _ => return None,
            },
            RequestKind::OffsetCommit(req) => match self.call(convert::offset_commit(req))? {
                Response::OffsetCommit(r) => {
                    ResponseKind::OffsetCommit(convert::offset_commit_response(r))
                }
                _ => return None,
            },
            RequestKind::OffsetFetch(req) => {
                if version >= 8 {
                    let mut out = kp::OffsetFetchResponse::default();
                    for g in &req.groups {
                        let topics = g.topics.as_ref().map(|ts| {
                            ts.iter()
                                .map(|t| (&t.name, t.partition_indexes.as_slice()))
                                .collect()
                        });
                        let r = self.call(convert::offset_fetch_one(
                            &g.group_id,
                            topics,
                            req.require_stable,
                        ))?;
                        let Response::OffsetFetch(r) = r else {
                            return None;
                        };
                        out.groups
                            .push(convert::offset_fetch_group(g.group_id.clone(), r));
                    }
                    ResponseKind::OffsetFetch(out)
                } else {
                    let topics = req.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (&t.name, t.partition_indexes.as_slice()))
                            .collect()
                    });
                    let r = self.call(convert::offset_fetch_one(
                        &req.group_id,
                        topics,
                        req.require_stable,
                    ))?;
                    let Response::OffsetFetch(r) = r else {
                        return None;
                    };
                    ResponseKind::OffsetFetch(convert::offset_fetch_response(r, version))
                }
            }
            RequestKind::ListGroups(req) => {
                let r = self.call(Request::ListGroups)?;
                ResponseKind::ListGroups(convert::list_groups_response(r, &req.states_filter)?)
            }
            RequestKind::DescribeGroups(req) => {
                let groups = req
                    .groups
                    .iter()
                    .map(|g| GroupId::new(g.0.as_str()))
                    .collect();
                let r = self.call(Request::DescribeGroups(groups))?;
                ResponseKind::DescribeGroups(convert::describe_groups_response(r)?)
            }
            _ => return None,
        };
        Some(Some(body))
    }
}
