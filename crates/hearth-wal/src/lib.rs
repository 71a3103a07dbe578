//! Hearth's write-ahead log: framed, CRC-checked records in segment files,
//! written by a single group-commit thread, replayed on open and truncated
//! once their data is persisted elsewhere.
//!
//! Guarantees (see the module docs for details):
//! - Seqs are 1, 2, 3, ... without gaps, never reused, also across restarts
//!   (the active segment's file name records the next seq even when every
//!   record has been truncated away).
//! - An append resolves only after its record was written (and fdatasynced
//!   if it, or any record in its group, asked for sync), and after its
//!   `on_durable` callback ran on the writer thread in seq order.
//! - [`Wal::open`] replays every record in seq order; a torn tail of the last
//!   segment is dropped with a warning, any other damage is an error.
//! - After an I/O failure the WAL refuses appends instead of leaving a hole.
//! - One open [`Wal`] per directory: the writer thread holds an exclusive
//!   lock on `wal.lock` for as long as it can write.
//!
//! The on-disk format is specified and frozen in `src/format.rs`: segment
//! files `wal-{first_seq:020}.seg` with a 16-byte header (`HRTHWAL\0`, u32
//! version 1, u32 reserved), then frames of u32 length, u32 CRC-32 of
//! `seq ++ payload`, u64 seq and the payload, all little-endian.

mod error;
mod format;
mod pool;
mod queue;
mod replay;
mod segment;
#[cfg(test)]
mod test_util;
mod writer;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::{self, JoinHandle, ThreadId};

pub use crate::error::WalError;
pub use crate::format::MAX_PAYLOAD_LEN;
pub use crate::pool::BufferPool;
pub use crate::queue::WalStats;
use crate::queue::{Command, Reply, Shared};
use crate::writer::Writer;

/// Default segment size: roll to a new segment file after 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

const LOCK_FILE: &str = "wal.lock";

/// Configuration of a [`Wal`].
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// Directory holding the segment files (created if missing).
    pub dir: PathBuf,
    /// Roll to a new segment file once the current one would grow beyond
    /// this many bytes. A single record larger than this gets a segment of
    /// its own. Default [`DEFAULT_SEGMENT_BYTES`] (64 MiB).
    pub segment_bytes: u64,
    /// Seqs handed out must be greater than this (the highest seq already persisted
    /// elsewhere). An empty WAL starts its numbering after it, so a node whose WAL directory
    /// was lost keeps numbering above the persisted data. A WAL that still holds records
    /// numbered at or below it is refused as belonging to another history. Default 0.
    pub min_last_seq: u64,
}

impl WalConfig {
    /// Configuration for `dir` with default settings.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            min_last_seq: 0,
        }
    }
}

/// A record read back by [`Wal::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayedRecord {
    /// The record's seq (>= 1).
    pub seq: u64,
    /// The payload exactly as appended.
    pub payload: Vec<u8>,
}

/// An open write-ahead log. `Send + Sync`; share it behind an `Arc`.
pub struct Wal {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    writer_id: ThreadId,
    dir: PathBuf,
}

impl Wal {
    /// Opens (creating the dir), reads every segment in order, returns the
    /// records with seq > 0 in seq order.
    ///
    /// A torn or corrupt tail of the LAST segment (partial frame, bad CRC) is
    /// truncated away with a warning (it was never acknowledged); corruption
    /// in an earlier segment is an error ([`WalError::Corrupt`] with file and
    /// offset). New appends continue after the last valid seq.
    pub fn open(config: WalConfig) -> Result<(Wal, Vec<ReplayedRecord>), WalError> {
        let dir = config.dir;
        fs::create_dir_all(&dir).map_err(WalError::io(&dir))?;
        let lock = lock_dir(&dir)?;
        let mut recovered = replay::recover(&dir)?;
        if recovered.last_seq < config.min_last_seq {
            if !recovered.records.is_empty() || !recovered.closed.is_empty() {
                return Err(WalError::Corrupt {
                    path: recovered.active.path().to_path_buf(),
                    offset: 0,
                    reason: format!(
                        "the WAL ends at seq {} but seq {} is already persisted: \
                         this WAL belongs to another history",
                        recovered.last_seq, config.min_last_seq
                    ),
                });
            }
            // Only an empty active segment: start numbering after the persisted seq.
            let old = recovered.active.path().to_path_buf();
            recovered.active = segment::ActiveSegment::create(&dir, config.min_last_seq + 1, None)?;
            fs::remove_file(&old).map_err(WalError::io(&old))?;
            segment::sync_dir(&dir)?;
            recovered.last_seq = config.min_last_seq;
        }
        tracing::info!(
            dir = %dir.display(),
            records = recovered.records.len(),
            segments = recovered.closed.len() + 1,
            last_seq = recovered.last_seq,
            "opened WAL"
        );
        let shared = Arc::new(Shared::new(recovered.last_seq));
        let writer = Writer::new(
            Arc::clone(&shared),
            dir.clone(),
            config.segment_bytes,
            recovered.active,
            recovered.closed,
            segment::list_recycled(&dir)?,
            lock,
        );
        let handle = thread::Builder::new()
            .name("hearth-wal-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(WalError::io(&dir))?;
        let wal = Wal {
            shared,
            writer_id: handle.thread().id(),
            writer: Mutex::new(Some(handle)),
            dir,
        };
        Ok((wal, recovered.records))
    }

    /// Appends one record and resolves to its seq once it is written (and
    /// fdatasynced if `sync`).
    ///
    /// Group commit: concurrent callers' records are written together by one
    /// writer thread and share one fdatasync. `on_durable(seq)` is called on
    /// the writer thread, in strictly increasing seq order, after the
    /// record's group is written and (if sync) fsynced, before this future
    /// resolves. With `sync == false` the record is written (write(2)) but
    /// its group skips fdatasync unless another record in it asked for sync.
    ///
    /// On an I/O error this resolves to `Err`, `on_durable` is not called for
    /// the failed group, and the WAL refuses further appends
    /// ([`WalError::Poisoned`]). Dropping the future does not cancel the
    /// append once it has been queued.
    pub async fn append(
        &self,
        payload: Vec<u8>,
        sync: bool,
        on_durable: Box<dyn FnOnce(u64) + Send>,
    ) -> Result<u64, WalError> {
        check_payload(&payload)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.shared.submit(Command::Append {
            payload,
            sync,
            on_durable,
            reply: Reply::Async(tx),
        })?;
        rx.await.unwrap_or(Err(WalError::Closed))
    }

    /// Blocking variant of [`Wal::append`] for non-async callers and tests.
    /// Blocks the calling thread; must not be called from `on_durable`
    /// ([`WalError::Reentrant`]).
    pub fn append_blocking(
        &self,
        payload: Vec<u8>,
        sync: bool,
        on_durable: Box<dyn FnOnce(u64) + Send>,
    ) -> Result<u64, WalError> {
        check_payload(&payload)?;
        self.check_not_writer()?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.shared.submit(Command::Append {
            payload,
            sync,
            on_durable,
            reply: Reply::Blocking(tx),
        })?;
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    /// An empty buffer to build the next payload in: payload buffers go to a [`BufferPool`]
    /// once the writer has copied them, and are handed out again here.
    pub fn payload_buffer(&self) -> Vec<u8> {
        self.shared.spare.take(0)
    }

    /// Last seq handed out so far (0 if none). Updated once a group is
    /// written, before its `on_durable` callbacks run.
    pub fn last_seq(&self) -> u64 {
        self.shared.last_seq()
    }

    /// Deletes every segment whose records all have seq <= `seq` (the data is
    /// persisted elsewhere). The active segment is rolled first if it is
    /// entirely <= `seq`, so truncation after a full flush leaves no old
    /// records. Records of a partially covered segment remain and are
    /// replayed again; callers skip already-persisted seqs themselves.
    ///
    /// Safe to call concurrently with appends: it is executed by the writer
    /// thread between groups (blocking the caller until done).
    pub fn truncate_through(&self, seq: u64) -> Result<(), WalError> {
        self.check_not_writer()?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.shared.submit(Command::Truncate {
            through: seq,
            reply: tx,
        })?;
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    /// Stops the writer thread after draining pending appends and
    /// fdatasyncing the active segment. Later appends fail with
    /// [`WalError::Closed`]. Idempotent; also called on drop. Called from an
    /// `on_durable` callback it only initiates the shutdown.
    pub fn close(&self) {
        self.shared.begin_close();
        if thread::current().id() == self.writer_id {
            return;
        }
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = writer.take()
            && handle.join().is_err()
        {
            tracing::error!(dir = %self.dir.display(), "WAL writer thread panicked");
        }
    }

    /// Counters of the writer's work (records, write groups, fdatasyncs).
    pub fn stats(&self) -> WalStats {
        self.shared.stats()
    }

    fn check_not_writer(&self) -> Result<(), WalError> {
        if thread::current().id() == self.writer_id {
            return Err(WalError::Reentrant);
        }
        Ok(())
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("last_seq", &self.last_seq())
            .finish_non_exhaustive()
    }
}

fn check_payload(payload: &[u8]) -> Result<(), WalError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(WalError::PayloadTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD_LEN,
        });
    }
    Ok(())
}

/// Takes an exclusive advisory lock on `dir/wal.lock`.
fn lock_dir(dir: &Path) -> Result<File, WalError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(WalError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(WalError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(source)) => Err(WalError::Io { path, source }),
    }
}

#[cfg(test)]
mod tests;
