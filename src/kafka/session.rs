//! One client connection's requests: a frame in, a frame (or nothing, or a close) out.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use hashbrown::HashSet;
use kafka_protocol::messages::{
    self as kp, ApiKey, RequestHeader, RequestKind, ResponseHeader,
    api_versions_response::ApiVersion,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::convert::{self, Client, UNSUPPORTED_VERSION};
use super::guard;
use super::server::Shared;
use super::versions::SupportedApi;
use crate::protocol::{Request, RequestId, Response};
use crate::sync::Connection;
use crate::types::GroupId;

/// How often a thread waiting on the coordinator looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// What to do after a request.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Send these bytes (a whole frame).
    Reply(Bytes),
    /// Send nothing (a Produce with `acks=0`).
    Silent,
    /// Close the connection: the input was bad.
    Close,
}

/// One client connection's state, carried to whichever worker serves its next request.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) peer: String,
    conn: Option<Connection>,
    next_id: u64,
}

/// A frame: size, response header, body, in one buffer of exactly its size.
fn frame<T: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<Bytes, String> {
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let header_version = key.response_header_version(version);
    let size = header
        .compute_size(header_version)
        .map_err(|e| e.to_string())?
        + body.compute_size(version).map_err(|e| format!("{e:#}"))?;
    let size32 = i32::try_from(size).map_err(|_| "response too large".to_owned())?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size32);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| e.to_string())?;
    body.encode(&mut buf, version)
        .map_err(|e| format!("{e:#}"))?;
    Ok(buf.freeze())
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

/// The items of `items` whose key was not seen before, in order: a name asked for twice is
/// answered once.
fn first_of_each<'a, T, K: std::hash::Hash + Eq>(
    items: impl IntoIterator<Item = &'a T>,
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T>
where
    T: 'a,
{
    let mut seen = HashSet::new();
    items.into_iter().filter(|i| seen.insert(key(i))).collect()
}

impl Session {
    pub(super) fn new(peer: String) -> Self {
        Session {
            peer,
            conn: None,
            next_id: 0,
        }
    }

    /// Serves one request frame (without its size prefix).
    pub(super) fn handle(&mut self, shared: &Shared, frame: Vec<u8>) -> Outcome {
        if frame.len() < 8 {
            return Outcome::Close;
        }
        let api_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let Ok(key) = ApiKey::try_from(api_key) else {
            return self.close(shared, format_args!("unknown api key {api_key}"));
        };
        let Some(api) = shared.apis.iter().find(|a| a.api_key == api_key) else {
            return self.close(shared, format_args!("{key:?} is not served"));
        };
        if version < api.min_version || version > api.max_version {
            if key == ApiKey::ApiVersions {
                // KIP-511: answer in version 0 with the versions, so the client can fall back.
                let body = api_versions(&shared.apis, UNSUPPORTED_VERSION);
                return self.reply(shared, ApiKey::ApiVersions, 0, correlation_id, &body);
            }
            return self.close(shared, format_args!("{key:?} v{version} is not served"));
        }
        if let Err(refused) = guard::check(key, version, &frame) {
            return self.close(shared, format_args!("{key:?} v{version}: {refused}"));
        }
        let mut buf = Bytes::from(frame);
        let header = match RequestHeader::decode(&mut buf, key.request_header_version(version)) {
            Ok(h) => h,
            Err(e) => return self.close(shared, format_args!("{key:?} v{version} header: {e}")),
        };
        let request = match RequestKind::decode(key, &mut buf, version) {
            Ok(r) => r,
            Err(e) => {
                return self.close(shared, format_args!("{key:?} v{version} request: {e:#}"));
            }
        };
        let client = Client {
            client_id: header
                .client_id
                .as_ref()
                .map_or_else(String::new, |c| c.as_str().to_owned()),
            host: self.peer.clone(),
        };
        drop(header);
        let reply = Reply {
            key,
            version,
            correlation_id,
        };
        self.dispatch(shared, request, &client, reply)
            .unwrap_or(Outcome::Close)
    }

    /// Closes the connection, saying why if the server logs closes.
    fn close(&self, shared: &Shared, why: std::fmt::Arguments<'_>) -> Outcome {
        if shared.log_closes {
            eprintln!("closing the connection from {}: {why}", self.peer);
        }
        Outcome::Close
    }

    /// The response as a frame, or a close if it does not encode.
    fn reply<T: Encodable>(
        &self,
        shared: &Shared,
        key: ApiKey,
        version: i16,
        correlation_id: i32,
        body: &T,
    ) -> Outcome {
        match frame(key, version, correlation_id, body) {
            Ok(bytes) => Outcome::Reply(bytes),
            Err(e) => self.close(shared, format_args!("{key:?} v{version} response: {e:#}")),
        }
    }

    /// The coordinator's answer to `request`; `None` if the server stops first.
    fn call(&mut self, shared: &Shared, request: Request) -> Option<Response> {
        let conn = self.conn.get_or_insert_with(|| shared.service.connect());
        self.next_id += 1;
        let id = RequestId(self.next_id);
        conn.send(id, request);
        loop {
            match conn.recv_timeout(STOP_CHECK) {
                Some((got, response)) if got == id => return Some(response),
                Some(_) => {}
                None if shared.stop.load(Ordering::SeqCst) => return None,
                None => {}
            }
        }
    }
}

/// Where a response goes: its API, version and correlation id.
#[derive(Debug, Clone, Copy)]
struct Reply {
    key: ApiKey,
    version: i16,
    correlation_id: i32,
}

impl Session {
    fn send<T: Encodable>(&self, shared: &Shared, to: Reply, body: &T) -> Option<Outcome> {
        Some(self.reply(shared, to.key, to.version, to.correlation_id, body))
    }

    /// The outcome of one decoded request; `None` to close the connection.
    fn dispatch(
        &mut self,
        shared: &Shared,
        request: RequestKind,
        client: &Client,
        to: Reply,
    ) -> Option<Outcome> {
        let broker = &shared.broker;
        let version = to.version;
        match request {
            RequestKind::ApiVersions(_) => self.send(shared, to, &api_versions(&shared.apis, 0)),
            RequestKind::Metadata(req) => self.send(shared, to, &broker.metadata(&req, version)),
            RequestKind::ListOffsets(req) => {
                self.send(shared, to, &broker.list_offsets(&req, version))
            }
            RequestKind::Produce(req) => {
                let now = shared.service.now();
                match broker.produce(&req, now) {
                    Some(body) => self.send(shared, to, &body),
                    None => Some(Outcome::Silent),
                }
            }
            RequestKind::Fetch(req) => {
                let stop = || shared.stop.load(Ordering::SeqCst);
                let body = broker.fetch(&req, version, &stop);
                drop(req);
                self.send(shared, to, &body)
            }
            RequestKind::InitProducerId(req) => {
                let mut out = kp::InitProducerIdResponse::default();
                if req.transactional_id.is_some() {
                    // Transactions are not served here; idempotent producers are.
                    out.error_code = crate::ErrorCode::CoordinatorNotAvailable.code();
                    out.producer_id = kp::ProducerId(-1);
                    out.producer_epoch = -1;
                } else {
                    let id = shared.producer_ids.fetch_add(1, Ordering::SeqCst) + 1;
                    out.producer_id = kp::ProducerId(id);
                    out.producer_epoch = 0;
                }
                self.send(shared, to, &out)
            }
            RequestKind::FindCoordinator(req) => self.find_coordinator(shared, &req, to),
            RequestKind::JoinGroup(req) => {
                match self.call(shared, convert::join_group(req, version, client))? {
                    Response::JoinGroup(r) => {
                        self.send(shared, to, &convert::join_group_response(r, version))
                    }
                    _ => None,
                }
            }
            RequestKind::SyncGroup(req) => match self.call(shared, convert::sync_group(req))? {
                Response::SyncGroup(r) => self.send(shared, to, &convert::sync_group_response(r)),
                _ => None,
            },
            RequestKind::Heartbeat(req) => match self.call(shared, convert::heartbeat(req))? {
                Response::Heartbeat(e) => self.send(shared, to, &convert::heartbeat_response(e)),
                _ => None,
            },
            RequestKind::LeaveGroup(req) => {
                match self.call(shared, convert::leave_group(req, version))? {
                    Response::LeaveGroup(r) => {
                        self.send(shared, to, &convert::leave_group_response(r, version))
                    }
                    _ => None,
                }
            }
            RequestKind::OffsetCommit(req) => {
                match self.call(shared, convert::offset_commit(req))? {
                    Response::OffsetCommit(r) => {
                        self.send(shared, to, &convert::offset_commit_response(r))
                    }
                    _ => None,
                }
            }
            RequestKind::OffsetFetch(req) => self.offset_fetch(shared, &req, to),
            RequestKind::ListGroups(req) => {
                let r = self.call(shared, Request::ListGroups)?;
                let body = convert::list_groups_response(r, &req.states_filter)?;
                self.send(shared, to, &body)
            }
            RequestKind::DescribeGroups(req) => {
                let groups = first_of_each(&req.groups, |g| g.0.as_str())
                    .into_iter()
                    .map(|g| GroupId::new(g.0.as_str()))
                    .collect();
                drop(req);
                let r = self.call(shared, Request::DescribeGroups(groups))?;
                let body = convert::describe_groups_response(r)?;
                self.send(shared, to, &body)
            }
            _ => None,
        }
    }

    /// FindCoordinator: each key once (a key asked for twice is answered once).
    fn find_coordinator(
        &mut self,
        shared: &Shared,
        req: &kp::FindCoordinatorRequest,
        to: Reply,
    ) -> Option<Outcome> {
        let broker = &shared.broker;
        let keys = if to.version >= 4 {
            first_of_each(&req.coordinator_keys, |k| k.as_str())
        } else {
            vec![&req.key]
        };
        let mut coordinators = Vec::with_capacity(keys.len());
        for key in keys {
            let error = if req.key_type != 0 {
                // Transaction coordinators are not served here.
                crate::ErrorCode::CoordinatorNotAvailable
            } else {
                match self.call(shared, Request::FindCoordinator(GroupId::new(key.as_str())))? {
                    Response::FindCoordinator(r) => r.error,
                    _ => return None,
                }
            };
            coordinators.push(convert::coordinator(
                key.clone(),
                error,
                &broker.host,
                broker.port,
            ));
        }
        let mut out = kp::FindCoordinatorResponse::default();
        if to.version < 4 {
            let c = coordinators.pop()?;
            out.error_code = c.error_code;
            if to.version >= 1 {
                out.error_message = c.error_message;
            }
            out.node_id = c.node_id;
            out.host = c.host;
            out.port = c.port;
        } else {
            out.coordinators = coordinators;
        }
        self.send(shared, to, &out)
    }

    /// OffsetFetch: each group once, and each partition of a group once.
    fn offset_fetch(
        &mut self,
        shared: &Shared,
        req: &kp::OffsetFetchRequest,
        to: Reply,
    ) -> Option<Outcome> {
        if to.version >= 8 {
            let mut out = kp::OffsetFetchResponse::default();
            for g in first_of_each(&req.groups, |g| g.group_id.0.as_str()) {
                let topics = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (&t.name, t.partition_indexes.as_slice()))
                        .collect()
                });
                let r = self.call(
                    shared,
                    convert::offset_fetch_one(&g.group_id, topics, req.require_stable),
                )?;
                let Response::OffsetFetch(r) = r else {
                    return None;
                };
                out.groups
                    .push(convert::offset_fetch_group(g.group_id.clone(), r));
            }
            self.send(shared, to, &out)
        } else {
            let topics = req.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (&t.name, t.partition_indexes.as_slice()))
                    .collect()
            });
            let r = self.call(
                shared,
                convert::offset_fetch_one(&req.group_id, topics, req.require_stable),
            )?;
            let Response::OffsetFetch(r) = r else {
                return None;
            };
            self.send(shared, to, &convert::offset_fetch_response(r, to.version))
        }
    }
}
