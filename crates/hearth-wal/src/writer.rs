//! The group-commit writer thread, the only code that writes segment files.
//!
//! Callers push commands (see [`crate::queue`]) onto a `Mutex<Vec>` queue and signal a condvar.
//! The writer swaps the whole queue out and processes it as one batch:
//! it assigns seqs, encodes all frames into one reused buffer, writes them
//! with a single `write_all`, fdatasyncs once if any record asked for sync,
//! then calls every `on_durable` in seq order and only then answers the
//! callers. A batch is split into several groups only at segment boundaries
//! (a frame never straddles two segments) and around truncation commands.
//!
//! Guarantees:
//! - Seqs are contiguous and strictly increasing; `on_durable` runs on this
//!   thread, in seq order, after the record's group is written (and synced if
//!   requested), before the caller's future resolves.
//! - A segment is fdatasynced before the next one is created, so only the
//!   last segment can ever have an unsynced (tearable) tail.
//! - On any I/O error the failed group's callers get [`WalError::Io`], its
//!   callbacks are never called, and the WAL is poisoned: every queued and
//!   later request fails with [`WalError::Poisoned`]. A panicking callback
//!   poisons the WAL the same way. Note that a failed record may still be
//!   found on disk after a restart (the rollback is best effort and a failed
//!   fsync leaves the page cache in an unknown state).
//! - On close the queue is drained and the active segment fdatasynced.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::WalError;
use crate::format::{FRAME_HEADER_LEN, encode_frame};
use crate::queue::{Command, OnDurable, Reply, Shared};
use crate::segment::{ActiveSegment, recycled_path, segment_path, sync_dir};

/// The write buffer keeps at most this much capacity between groups.
const MAX_RETAINED_BUF: usize = 8 << 20;

/// Segment files kept for reuse after truncation (each as large as its segment grew).
pub(crate) const MAX_RECYCLED: usize = 2;

/// A failure that poisons the WAL; its direct victims were already answered.
struct Fatal {
    seq: u64,
    error: WalError,
}

/// Poisons the WAL if the writer thread unwinds, so no caller waits forever.
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let seq = self.0.last_seq() + 1;
            self.0.poison(seq, "WAL writer thread panicked".to_owned());
        }
    }
}

/// The writer thread's state.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    dir: PathBuf,
    segment_bytes: u64,
    active: ActiveSegment,
    /// First seqs of the segments before `active`, ascending.
    closed: VecDeque<u64>,
    /// Files of deleted segments kept for reuse by the next ones (at most [`MAX_RECYCLED`]).
    recycled: Vec<PathBuf>,
    next_seq: u64,
    buf: Vec<u8>,
    group_sync: bool,
    callbacks: Vec<(u64, OnDurable)>,
    replies: Vec<(u64, Reply)>,
    /// The directory lock, released only when this thread is done writing.
    _lock: File,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        dir: PathBuf,
        segment_bytes: u64,
        active: ActiveSegment,
        closed: VecDeque<u64>,
        recycled: Vec<PathBuf>,
        lock: File,
    ) -> Self {
        let next_seq = shared.last_seq() + 1;
        Self {
            shared,
            dir,
            segment_bytes,
            active,
            closed,
            recycled,
            next_seq,
            buf: Vec::new(),
            group_sync: false,
            callbacks: Vec::new(),
            replies: Vec::new(),
            _lock: lock,
        }
    }

    /// The thread body: process batches until closed (or poisoned).
    pub(crate) fn run(mut self) {
        let _guard = ExitGuard(Arc::clone(&self.shared));
        let mut batch = Vec::new();
        while self.shared.next_batch(&mut batch) {
            let mut commands = batch.drain(..);
            if let Err(fatal) = self.process(&mut commands) {
                let reason = match fatal.error {
                    WalError::Poisoned { reason, .. } => reason,
                    other => other.to_string(),
                };
                let error = self.shared.poison(fatal.seq, reason);
                commands.for_each(|command| command.fail(&error));
                return;
            }
        }
        if self.active.is_dirty() {
            match self.active.sync() {
                Ok(()) => self.shared.record_sync(),
                Err(e) => tracing::error!(segment = %self.active.path().display(), error = %e,
                    "final WAL fdatasync on close failed"),
            }
        }
    }

    fn process(&mut self, commands: impl Iterator<Item = Command>) -> Result<(), Fatal> {
        for command in commands {
            match command {
                Command::Append {
                    payload,
                    sync,
                    on_durable,
                    reply,
                } => {
                    let frame_len = (FRAME_HEADER_LEN + payload.len()) as u64;
                    let used = self.active.len() + self.buf.len() as u64;
                    let has_records = self.active.has_records() || !self.buf.is_empty();
                    if has_records && used.saturating_add(frame_len) > self.segment_bytes {
                        let rolled = self.flush_group().and_then(|()| self.roll());
                        if let Err(fatal) = rolled {
                            reply.send(Err(fatal.error.duplicate()));
                            return Err(fatal);
                        }
                    }
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    encode_frame(&mut self.buf, seq, &payload);
                    self.shared.spare.give_back(payload);
                    self.group_sync |= sync;
                    self.callbacks.push((seq, on_durable));
                    self.replies.push((seq, reply));
                }
                Command::Truncate { through, reply } => {
                    self.flush_group()?;
                    match self.truncate(through) {
                        Ok(result) => drop(reply.send(result)),
                        Err(fatal) => {
                            drop(reply.send(Err(fatal.error.duplicate())));
                            return Err(fatal);
                        }
                    }
                }
            }
        }
        self.flush_group()
    }

    /// Writes the pending group, syncs it if requested, runs the callbacks in
    /// order and answers the callers.
    fn flush_group(&mut self) -> Result<(), Fatal> {
        let (Some(&(first_seq, _)), Some(&(last_seq, _))) =
            (self.replies.first(), self.replies.last())
        else {
            return Ok(());
        };
        let prev_len = self.active.len();
        let written = self.write_group();
        self.group_sync = false;
        self.buf.clear();
        self.buf.shrink_to(MAX_RETAINED_BUF);
        if let Err(source) = written {
            self.active.rollback(prev_len);
            let error = WalError::Io {
                path: self.active.path().to_path_buf(),
                source,
            };
            self.callbacks.clear();
            for (_, reply) in self.replies.drain(..) {
                reply.send(Err(error.duplicate()));
            }
            return Err(Fatal {
                seq: first_seq,
                error,
            });
        }
        self.shared
            .record_group(last_seq, self.replies.len() as u64);

        let mut panicked = None;
        for (seq, on_durable) in self.callbacks.drain(..) {
            if panicked.is_none() && catch_unwind(AssertUnwindSafe(|| on_durable(seq))).is_err() {
                panicked = Some(seq);
            }
        }
        let Some(bad) = panicked else {
            for (seq, reply) in self.replies.drain(..) {
                reply.send(Ok(seq));
            }
            return Ok(());
        };
        let error = WalError::Poisoned {
            seq: bad,
            reason: format!("on_durable callback for seq {bad} panicked"),
        };
        for (seq, reply) in self.replies.drain(..) {
            reply.send(if seq < bad {
                Ok(seq)
            } else {
                Err(error.duplicate())
            });
        }
        Err(Fatal { seq: bad, error })
    }

    fn write_group(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if self.shared.io_failure_injected() {
            return Err(io::Error::other("injected I/O failure"));
        }
        self.active.write(&self.buf)?;
        if self.group_sync {
            self.active.sync()?;
            self.shared.record_sync();
        }
        Ok(())
    }

    /// Closes the active segment (fdatasyncing it if needed) and starts a new
    /// one for `next_seq`.
    fn roll(&mut self) -> Result<(), Fatal> {
        let seq = self.next_seq;
        let path = self.active.path().to_path_buf();
        if self.active.is_dirty() {
            self.active.sync().map_err(|source| Fatal {
                seq,
                error: WalError::Io {
                    path: path.clone(),
                    source,
                },
            })?;
            self.shared.record_sync();
        }
        // Only the last segment may hold old records of a recycled file.
        self.active.trim().map_err(|source| Fatal {
            seq,
            error: WalError::Io { path, source },
        })?;
        let reuse = self.recycled.pop();
        let new =
            ActiveSegment::create(&self.dir, seq, reuse).map_err(|error| Fatal { seq, error })?;
        let old = std::mem::replace(&mut self.active, new);
        self.closed.push_back(old.first_seq());
        tracing::debug!(first_seq = seq, "rolled WAL segment");
        Ok(())
    }

    /// Deletes a segment file, or keeps it for reuse if fewer than [`MAX_RECYCLED`] are kept.
    fn recycle(&mut self, path: PathBuf) -> io::Result<()> {
        let taken = |slot: usize| {
            self.recycled
                .iter()
                .any(|p| *p == recycled_path(&self.dir, slot))
        };
        if self.recycled.len() < MAX_RECYCLED
            && let Some(slot) = (0..MAX_RECYCLED).find(|&slot| !taken(slot))
        {
            let target = recycled_path(&self.dir, slot);
            fs::rename(&path, &target)?;
            self.recycled.push(target);
            return Ok(());
        }
        fs::remove_file(&path)
    }

    /// Deletes the closed segments whose records all have seq <= `through`,
    /// rolling the active segment first if it is entirely covered. Outer
    /// `Err` is fatal (roll failed); inner `Err` is a deletion failure that
    /// leaves the WAL usable.
    fn truncate(&mut self, through: u64) -> Result<Result<(), WalError>, Fatal> {
        if self.active.has_records() && self.next_seq - 1 <= through {
            self.roll()?;
        }
        let mut result = Ok(());
        let mut deleted = 0usize;
        while let Some(&first) = self.closed.front() {
            let next_first = self
                .closed
                .get(1)
                .copied()
                .unwrap_or(self.active.first_seq());
            if next_first - 1 > through {
                break;
            }
            let path = segment_path(&self.dir, first);
            match self.recycle(path.clone()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    result = Err(WalError::Io { path, source });
                    break;
                }
            }
            self.closed.pop_front();
            deleted += 1;
        }
        if deleted > 0 {
            tracing::debug!(through, deleted, "truncated WAL segments");
            if let Err(e) = sync_dir(&self.dir) {
                result = result.and(Err(e));
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests;
