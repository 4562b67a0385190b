//! The worker threads that serve requests: as many as there are requests in flight (each
//! connection has at most one, as on a Kafka broker), started on demand and ended after a
//! while with nothing to do, so idle connections hold no thread.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use parking_lot::Mutex;

use super::server::Shared;
use super::session::{Outcome, Session};

/// How long a worker with nothing to do waits before it ends.
const IDLE_EXIT: Duration = Duration::from_secs(10);
/// Stack of a worker thread: requests are decoded and answered without deep recursion.
const STACK: usize = 512 * 1024;

/// A request for a worker: the connection's token and session, and the frame.
pub(super) struct Job {
    pub(super) token: usize,
    pub(super) session: Session,
    pub(super) frame: Vec<u8>,
}

/// A worker's answer, handed back to the reactor.
pub(super) struct Done {
    pub(super) token: usize,
    pub(super) session: Session,
    pub(super) outcome: Outcome,
}

#[derive(Debug, Default)]
struct Count {
    /// Workers waiting for a job that no job sent has claimed.
    idle: usize,
    /// Workers running.
    total: usize,
}

/// The pool. The reactor calls [`Pool::submit`]; answers come back on the channel given to
/// [`Pool::new`], followed by a wake of the reactor.
pub(super) struct Pool {
    jobs: Sender<Job>,
    inbox: Receiver<Job>,
    done: Sender<Done>,
    wake: Arc<mio::Waker>,
    shared: Arc<Shared>,
    count: Arc<Mutex<Count>>,
    max: usize,
    handles: Vec<JoinHandle<()>>,
}

impl Pool {
    pub(super) fn new(
        shared: Arc<Shared>,
        done: Sender<Done>,
        wake: Arc<mio::Waker>,
        max: usize,
    ) -> Self {
        let (jobs, inbox) = unbounded();
        Pool {
            jobs,
            inbox,
            done,
            wake,
            shared,
            count: Arc::new(Mutex::new(Count::default())),
            max: max.max(1),
            handles: Vec::new(),
        }
    }

    /// Threads running now.
    pub(super) fn threads(&self) -> usize {
        self.count.lock().total
    }

    /// Hands a request to an idle worker, or to a new one while under the maximum (else it
    /// waits for the next worker to finish).
    pub(super) fn submit(&mut self, job: Job) {
        let spawn = {
            let mut c = self.count.lock();
            if c.idle > 0 {
                c.idle -= 1;
                false
            } else if c.total < self.max {
                c.total += 1;
                true
            } else {
                false
            }
        };
        if spawn {
            self.handles.retain(|h| !h.is_finished());
            let worker = Worker {
                inbox: self.inbox.clone(),
                done: self.done.clone(),
                wake: self.wake.clone(),
                shared: self.shared.clone(),
                count: self.count.clone(),
            };
            match std::thread::Builder::new()
                .name("kafka-worker".into())
                .stack_size(STACK)
                .spawn(move || worker.run())
            {
                Ok(h) => self.handles.push(h),
                Err(_) => self.count.lock().total -= 1,
            }
        }
        // The receiving end lives as long as the pool.
        let _ = self.jobs.send(job);
    }

    /// Ends every worker once it has finished its request.
    pub(super) fn join(self) {
        let Pool { jobs, handles, .. } = self;
        drop(jobs);
        for h in handles {
            let _ = h.join();
        }
    }
}

struct Worker {
    inbox: Receiver<Job>,
    done: Sender<Done>,
    wake: Arc<mio::Waker>,
    shared: Arc<Shared>,
    count: Arc<Mutex<Count>>,
}

impl Worker {
    fn run(self) {
        loop {
            let job = match self.inbox.recv_timeout(IDLE_EXIT) {
                Ok(job) => job,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let mut c = self.count.lock();
                    if c.idle == 0 {
                        // Every idle slot is claimed by a job on its way: stay for it.
                        continue;
                    }
                    c.idle -= 1;
                    c.total -= 1;
                    return;
                }
            };
            let Job {
                token,
                mut session,
                frame,
            } = job;
            let shared = &*self.shared;
            // A handler that panics on some input costs its connection, never the server.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                session.handle(shared, frame)
            }))
            .unwrap_or_else(|_| {
                shared.stats.panics.fetch_add(1, Ordering::Relaxed);
                Outcome::Close
            });
            self.count.lock().idle += 1;
            if self
                .done
                .send(Done {
                    token,
                    session,
                    outcome,
                })
                .is_err()
            {
                break;
            }
            let _ = self.wake.wake();
        }
        self.count.lock().total -= 1;
    }
}
