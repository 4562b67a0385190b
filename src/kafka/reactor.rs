//! The reactor: one thread that accepts connections, reads request frames as their bytes
//! arrive, hands each complete frame to the worker pool, and writes the answers back.
//!
//! As on a Kafka broker, a connection with a request in flight is muted: its next frame is
//! not read until the answer is on its way, so answers leave in request order and a client
//! cannot queue up work. An idle connection costs a socket and an empty buffer, no thread.
//! Limits:
//! * connections: at most [`KafkaConfig::max_connections`](super::KafkaConfig), and at most
//!   `max_connections_per_ip` from one address; a connection past either is closed at once;
//! * memory: a frame's buffer grows only as its bytes arrive, never to the size it claims,
//!   and the bytes buffered across all connections stay under `max_buffered_bytes`; a
//!   connection that would go past it is not read until others drain;
//! * time: a connection idle for `connections_max_idle_ms` is closed.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use crossbeam_channel::Receiver;
use hashbrown::HashMap;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::pool::{Done, Job, Pool};
use super::server::{Limits, Shared};
use super::session::{Outcome, Session};

const LISTENER: Token = Token(0);
pub(super) const WAKER: Token = Token(1);
/// Bytes read from a socket per call.
const READ_CHUNK: usize = 64 * 1024;
/// How often idle connections are looked for.
const SWEEP: Duration = Duration::from_secs(1);
/// A buffer kept between frames is shrunk back to this.
const KEEP: usize = 64 * 1024;

struct Conn {
    stream: TcpStream,
    ip: IpAddr,
    /// Bytes read and not yet handed to a worker.
    rbuf: Vec<u8>,
    /// Answers not yet written, and how much of the first was written.
    wbuf: VecDeque<Bytes>,
    /// The session, here between requests and with a worker during one.
    session: Option<Session>,
    /// The socket has bytes we have not read (we stopped while muted or over budget).
    unread: bool,
    /// The peer closed or the input was bad: close once the worker returns.
    closing: bool,
    last_active: Instant,
}

/// The reactor's state.
pub(super) struct Reactor {
    poll: Poll,
    listener: TcpListener,
    shared: Arc<Shared>,
    limits: Limits,
    conns: HashMap<usize, Conn>,
    per_ip: HashMap<IpAddr, usize>,
    next_token: usize,
    /// Bytes in every connection's read buffer.
    buffered: usize,
    /// Connections not read because the buffer budget was spent.
    starved: VecDeque<usize>,
    pool: Pool,
    done: Receiver<Done>,
}

impl Reactor {
    pub(super) fn new(
        poll: Poll,
        mut listener: TcpListener,
        shared: Arc<Shared>,
        limits: Limits,
        waker: Arc<mio::Waker>,
    ) -> io::Result<Self> {
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let (done_tx, done) = crossbeam_channel::unbounded();
        let pool = Pool::new(shared.clone(), done_tx, waker, limits.max_connections);
        Ok(Reactor {
            poll,
            listener,
            shared,
            limits,
            conns: HashMap::new(),
            per_ip: HashMap::new(),
            next_token: 2,
            buffered: 0,
            starved: VecDeque::new(),
            pool,
            done,
        })
    }

    /// Serves until the server stops; then closes every connection and joins the workers.
    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = Instant::now();
        while !self.shared.stop.load(Ordering::SeqCst) {
            if let Err(e) = self.poll.poll(&mut events, Some(SWEEP)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            for event in &events {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(t) => {
                        if event.is_readable() || event.is_read_closed() {
                            if let Some(c) = self.conns.get_mut(&t) {
                                c.unread = true;
                            }
                            self.read(t);
                        }
                        if event.is_writable() {
                            self.write(t);
                        }
                    }
                }
            }
            while let Ok(done) = self.done.try_recv() {
                self.finish(done);
            }
            self.feed_starved();
            if last_sweep.elapsed() >= SWEEP {
                last_sweep = Instant::now();
                self.sweep();
                self.publish();
            }
        }
        self.conns.clear();
        self.pool.join();
    }

    /// What the server reports of itself.
    fn publish(&self) {
        let stats = &self.shared.stats;
        stats.connections.store(self.conns.len(), Ordering::Relaxed);
        stats
            .threads
            .store(self.pool.threads() + 1, Ordering::Relaxed);
        stats.buffered.store(self.buffered, Ordering::Relaxed);
    }

    fn accept(&mut self) {
        loop {
            let (mut stream, addr) = match self.listener.accept() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors or the like: try again on the next event.
                Err(_) => return,
            };
            if self.shared.stop.load(Ordering::SeqCst) {
                return;
            }
            let ip = addr.ip();
            let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
            if self.conns.len() >= self.limits.max_connections
                || from_ip >= self.limits.max_connections_per_ip
            {
                self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                if self.shared.log_closes {
                    eprintln!(
                        "refusing a connection from /{ip}: {} open, {from_ip} from that address",
                        self.conns.len()
                    );
                }
                drop(stream);
                continue;
            }
            let token = self.next_token;
            self.next_token += 1;
            let _ = stream.set_nodelay(true);
            if self
                .poll
                .registry()
                .register(
                    &mut stream,
                    Token(token),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            *self.per_ip.entry(ip).or_insert(0) += 1;
            self.conns.insert(
                token,
                Conn {
                    stream,
                    ip,
                    rbuf: Vec::new(),
                    wbuf: VecDeque::new(),
                    session: Some(Session::new(format!("/{ip}"))),
                    unread: true,
                    closing: false,
                    last_active: Instant::now(),
                },
            );
            // Bytes that arrived with the connection raise a readable event on registration.
            self.shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reads what the socket has, while the connection is not muted and the budget allows,
    /// then dispatches a complete frame.
    fn read(&mut self, t: usize) {
        let max_frame = self.shared.max_frame_bytes;
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        let mut close = false;
        let mut starved = false;
        while c.unread && c.session.is_some() && !c.closing {
            // Read no further than the end of the current frame: a muted connection's next
            // request stays in the socket.
            let want = match frame_len(&c.rbuf) {
                Some(Err(())) => {
                    close = true;
                    break;
                }
                Some(Ok(n)) if n > max_frame => {
                    close = true;
                    break;
                }
                Some(Ok(n)) if c.rbuf.len() >= 4 + n => break,
                Some(Ok(n)) => (4 + n - c.rbuf.len()).min(READ_CHUNK),
                None => 4 - c.rbuf.len(),
            };
            if self.buffered + want > self.limits.max_buffered_bytes && !c.rbuf.is_empty() {
                starved = true;
                break;
            }
            let at = c.rbuf.len();
            c.rbuf.resize(at + want, 0);
            match c.stream.read(&mut c.rbuf[at..]) {
                Ok(0) => {
                    c.rbuf.truncate(at);
                    close = true;
                    break;
                }
                Ok(n) => {
                    c.rbuf.truncate(at + n);
                    self.buffered += n;
                    c.last_active = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.rbuf.truncate(at);
                    c.unread = false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => c.rbuf.truncate(at),
                Err(_) => {
                    c.rbuf.truncate(at);
                    close = true;
                    break;
                }
            }
        }
        if starved {
            self.starved.push_back(t);
        }
        if close {
            self.close_or_mark(t);
            return;
        }
        self.dispatch(t);
    }

    /// Hands the connection's complete frame, if it has one, to a worker.
    fn dispatch(&mut self, t: usize) {
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        let Some(Ok(n)) = frame_len(&c.rbuf) else {
            return;
        };
        if c.rbuf.len() < 4 + n || c.closing {
            return;
        }
        let Some(session) = c.session.take() else {
            return;
        };
        let mut frame = std::mem::take(&mut c.rbuf);
        frame.drain(..4);
        self.buffered -= 4 + n;
        c.last_active = Instant::now();
        self.pool.submit(Job {
            token: t,
            session,
            frame,
        });
    }

    /// A worker's answer: queue it, unmute the connection, read on.
    fn finish(&mut self, done: Done) {
        let Some(c) = self.conns.get_mut(&done.token) else {
            return;
        };
        c.session = Some(done.session);
        c.last_active = Instant::now();
        match done.outcome {
            Outcome::Reply(bytes) => c.wbuf.push_back(bytes),
            Outcome::Silent => {}
            Outcome::Close => c.closing = true,
        }
        if c.rbuf.capacity() > KEEP {
            c.rbuf.shrink_to(KEEP);
        }
        self.write(done.token);
        if self.conns.contains_key(&done.token) {
            self.read(done.token);
        }
    }

    /// Writes queued answers; closes a closing connection once they are out.
    fn write(&mut self, t: usize) {
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        let mut failed = false;
        while let Some(front) = c.wbuf.front_mut() {
            match c.stream.write(front) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => {
                    front.advance(n);
                    if front.is_empty() {
                        c.wbuf.pop_front();
                    }
                    c.last_active = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed || (c.closing && c.wbuf.is_empty() && c.session.is_some()) {
            self.close(t);
        }
    }

    /// Closes now if no worker holds the session, else once it returns.
    fn close_or_mark(&mut self, t: usize) {
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        if c.session.is_some() {
            self.close(t);
        } else {
            c.closing = true;
        }
    }

    fn close(&mut self, t: usize) {
        let Some(mut c) = self.conns.remove(&t) else {
            return;
        };
        self.buffered -= c.rbuf.len();
        let _ = self.poll.registry().deregister(&mut c.stream);
        if let Some(n) = self.per_ip.get_mut(&c.ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&c.ip);
            }
        }
    }

    /// Reads connections that waited for buffer room, while there is room.
    fn feed_starved(&mut self) {
        let n = self.starved.len();
        for _ in 0..n {
            let Some(t) = self.starved.pop_front() else {
                break;
            };
            self.read(t);
        }
    }

    /// Closes connections idle for longer than the limit (never one with a request in flight).
    fn sweep(&mut self) {
        let idle = self.limits.max_idle;
        let stale: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.session.is_some() && c.last_active.elapsed() >= idle)
            .map(|(&t, _)| t)
            .collect();
        for t in stale {
            if self.shared.log_closes {
                eprintln!("closing an idle connection");
            }
            self.close(t);
        }
    }
}

/// The size a buffer's frame claims: `None` before its 4 size bytes are in, `Err` for a
/// negative size.
fn frame_len(buf: &[u8]) -> Option<Result<usize, ()>> {
    let size: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    Some(usize::try_from(i32::from_be_bytes(size)).map_err(|_| ()))
}
