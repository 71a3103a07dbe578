//! The submission queue between [`crate::Wal`] handles and the writer
//! thread: commands, replies, the open/closed/poisoned status and the
//! statistics counters.
//!
//! Guarantees:
//! - A command is accepted only while the WAL is open; once closed or
//!   poisoned, [`Shared::submit`] fails immediately, so nothing is queued
//!   that the writer will not answer.
//! - Poisoning fails every queued command with [`WalError::Poisoned`].
//! - Every accepted append is answered exactly once (dropping the reply
//!   channel only happens if the writer thread itself panics, which callers
//!   observe as [`WalError::Closed`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, mpsc};

use crate::error::WalError;
use crate::pool::BufferPool;

/// Callback run on the writer thread once a record is durable.
pub(crate) type OnDurable = Box<dyn FnOnce(u64) + Send>;

/// Where to send the result of an append.
pub(crate) enum Reply {
    Async(tokio::sync::oneshot::Sender<Result<u64, WalError>>),
    Blocking(mpsc::SyncSender<Result<u64, WalError>>),
}

impl Reply {
    pub(crate) fn send(self, result: Result<u64, WalError>) {
        // A caller that went away (dropped future) is not an error: the
        // record is in the log regardless.
        match self {
            Reply::Async(tx) => drop(tx.send(result)),
            Reply::Blocking(tx) => drop(tx.send(result)),
        }
    }
}

/// A request for the writer thread.
pub(crate) enum Command {
    Append {
        payload: Vec<u8>,
        sync: bool,
        on_durable: OnDurable,
        reply: Reply,
    },
    Truncate {
        through: u64,
        reply: mpsc::SyncSender<Result<(), WalError>>,
    },
}

impl Command {
    pub(crate) fn fail(self, error: &WalError) {
        match self {
            Command::Append { reply, .. } => reply.send(Err(error.duplicate())),
            Command::Truncate { reply, .. } => drop(reply.send(Err(error.duplicate()))),
        }
    }
}

enum Status {
    Open,
    Closed,
    Poisoned { seq: u64, reason: String },
}

struct Queue {
    commands: Vec<Command>,
    status: Status,
    #[cfg(test)]
    paused: bool,
}

/// Counters describing the writer's work so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records written successfully.
    pub appends: u64,
    /// fdatasync calls on segment files (group commits, segment rolls and
    /// the final sync on close).
    pub syncs: u64,
    /// Write groups (one `write_all` each).
    pub groups: u64,
}

/// State shared between the [`crate::Wal`] handle and the writer thread.
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    last_seq: AtomicU64,
    appends: AtomicU64,
    groups: AtomicU64,
    syncs: AtomicU64,
    /// Payload buffers the writer is done with, for the next payloads (see
    /// [`crate::Wal::payload_buffer`]).
    pub(crate) spare: BufferPool,
    #[cfg(test)]
    fail_io: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub(crate) fn new(last_seq: u64) -> Self {
        Self {
            queue: Mutex::new(Queue {
                commands: Vec::new(),
                status: Status::Open,
                #[cfg(test)]
                paused: false,
            }),
            wake: Condvar::new(),
            last_seq: AtomicU64::new(last_seq),
            appends: AtomicU64::new(0),
            groups: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            spare: BufferPool::default(),
            #[cfg(test)]
            fail_io: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a command, or refuses it if the WAL is closed or poisoned.
    pub(crate) fn submit(&self, command: Command) -> Result<(), WalError> {
        let mut queue = self.lock();
        match &queue.status {
            Status::Open => {}
            Status::Closed => return Err(WalError::Closed),
            Status::Poisoned { seq, reason } => {
                return Err(WalError::Poisoned {
                    seq: *seq,
                    reason: reason.clone(),
                });
            }
        }
        queue.commands.push(command);
        drop(queue);
        self.wake.notify_one();
        Ok(())
    }

    /// Refuses new commands; the writer drains what is queued and exits.
    pub(crate) fn begin_close(&self) {
        let mut queue = self.lock();
        if matches!(queue.status, Status::Open) {
            queue.status = Status::Closed;
        }
        drop(queue);
        self.wake.notify_all();
    }

    /// Marks the WAL poisoned and fails everything still queued.
    pub(crate) fn poison(&self, seq: u64, reason: String) -> WalError {
        tracing::error!(seq, %reason, "WAL poisoned; refusing further appends");
        let queued = {
            let mut queue = self.lock();
            if !matches!(queue.status, Status::Poisoned { .. }) {
                queue.status = Status::Poisoned {
                    seq,
                    reason: reason.clone(),
                };
            }
            std::mem::take(&mut queue.commands)
        };
        let error = WalError::Poisoned { seq, reason };
        for command in queued {
            command.fail(&error);
        }
        error
    }

    /// Writer side: waits for work and swaps the queue into `batch`
    /// (reusing its allocation). Returns false once closed and drained.
    pub(crate) fn next_batch(&self, batch: &mut Vec<Command>) -> bool {
        let mut queue = self.lock();
        loop {
            #[cfg(test)]
            let paused = queue.paused;
            #[cfg(not(test))]
            let paused = false;
            let open = matches!(queue.status, Status::Open);
            if (!queue.commands.is_empty() && !paused) || !open {
                break;
            }
            queue = self
                .wake
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if queue.commands.is_empty() {
            return false;
        }
        std::mem::swap(&mut queue.commands, batch);
        true
    }

    /// Writer side: a group of `records` ending at `last_seq` was written.
    pub(crate) fn record_group(&self, last_seq: u64, records: u64) {
        self.last_seq.store(last_seq, Ordering::Release);
        self.appends.fetch_add(records, Ordering::Relaxed);
        self.groups.fetch_add(1, Ordering::Relaxed);
    }

    /// Writer side: one fdatasync of a segment file completed.
    pub(crate) fn record_sync(&self) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn inject_io_failure(&self, fail: bool) {
        self.fail_io.store(fail, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn io_failure_injected(&self) -> bool {
        self.fail_io.load(Ordering::Relaxed)
    }

    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    pub(crate) fn stats(&self) -> WalStats {
        WalStats {
            appends: self.appends.load(Ordering::Relaxed),
            groups: self.groups.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
        }
    }

    #[cfg(test)]
    pub(crate) fn set_paused(&self, paused: bool) {
        self.lock().paused = paused;
        self.wake.notify_all();
    }

    #[cfg(test)]
    pub(crate) fn queued_len(&self) -> usize {
        self.lock().commands.len()
    }
}
