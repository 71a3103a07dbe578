//! Admitting writes: they wait for the persister while the unpersisted backlog is at its bound,
//! and are refused past the memory limit.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::Storage;
use crate::error::StorageError;

/// Longest a write waits for the persister before it is taken anyway (the memory limit still
/// applies).
const MAX_BACKLOG_WAIT: Duration = Duration::from_secs(5);

/// How often, and how long in all, writes waited for the persister (see
/// [`Storage::backlog_bound`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct BacklogStats {
    pub waits: u64,
    pub wait_seconds: f64,
}

impl Storage {
    /// How many unpersisted bytes (live buffer and snapshots being persisted) make writes wait
    /// for the persister: the configured backlog, by default half the memory limit (at least
    /// four flushes' worth), at most three quarters of it. A load that outruns the persister
    /// then slows to its pace before writes would be refused for memory; a smaller backlog
    /// keeps a long load in less memory, reusing it, at some cost to the load's own rate (see
    /// BENCHMARKS.md).
    pub fn backlog_bound(&self) -> usize {
        let limit = self.config.memory_limit / 4 * 3;
        let wanted = self.config.write_backlog.unwrap_or_else(|| {
            (self.config.memory_limit / 2).max(self.config.flush.max_bytes.saturating_mul(4))
        });
        wanted.min(limit).max(1)
    }

    /// How often and how long writes waited for the persister.
    pub fn backlog_stats(&self) -> BacklogStats {
        BacklogStats {
            waits: self.backlog_waits.load(Relaxed),
            wait_seconds: self.backlog_wait_micros.load(Relaxed) as f64 / 1e6,
        }
    }

    /// Lets a write in: waits while the unpersisted backlog is at or over
    /// [`Storage::backlog_bound`] (at most [`MAX_BACKLOG_WAIT`], and only while the flusher runs
    /// and its flushes succeed), waking the flusher once the live buffer holds a flush's worth;
    /// then refuses the write if unflushed data is over the memory limit.
    pub(super) async fn admit_write(&self) -> Result<(), StorageError> {
        let bound = self.backlog_bound();
        let mut started: Option<Instant> = None;
        let stats = loop {
            let persisted = self.persisted.notified();
            let stats = self.buffer.stats();
            if stats.bytes >= self.config.flush.max_bytes {
                self.flush_wanted.notify_one();
            }
            let waited = started.map_or(Duration::ZERO, |t| t.elapsed());
            if stats.bytes + stats.persisting_bytes < bound
                || !self.persister_ready.load(Relaxed)
                || waited >= MAX_BACKLOG_WAIT
            {
                break stats;
            }
            started.get_or_insert_with(Instant::now);
            let _ = tokio::time::timeout(MAX_BACKLOG_WAIT - waited, persisted).await;
        };
        if let Some(t) = started {
            self.backlog_waits.fetch_add(1, Relaxed);
            let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.backlog_wait_micros.fetch_add(micros, Relaxed);
        }
        let buffered = stats.bytes + stats.persisting_bytes;
        if buffered >= self.config.memory_limit {
            return Err(StorageError::MemoryLimit {
                buffered,
                limit: self.config.memory_limit,
            });
        }
        Ok(())
    }
}
