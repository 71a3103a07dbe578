//! The write path of Hearth: validate, log, buffer, persist.
//!
//! ```text
//! line protocol ─► validate (per-line errors, schema on write) ─► WAL append (group commit)
//!        ─► on durable: apply to the buffer in WAL order ─► 204
//! buffer ─► (size / age / shutdown) snapshot ─► Parquet per table × day ─► Delta commit with
//!        the WAL position ─► WAL truncated through that position
//! ```
//!
//! Invariants:
//! - A write is acknowledged only after its WAL record is durable (unless the caller opts out
//!   with `no_sync`), and it is in the buffer before the acknowledgement, so the next query sees
//!   it.
//! - Every acknowledged row is, at any moment, in the WAL or in a committed Delta file (or both);
//!   the WAL is truncated only through a position that every table has committed.
//! - Duplicates of one identity are merged by WAL sequence number, never by arrival order.

pub mod align;
pub mod batch;
pub mod buffer;
pub mod codec;
pub mod compact;
pub mod dedup;
pub mod delete;
pub mod error;
pub mod flush;
pub mod idempotency;
pub mod last;
pub mod observe;
pub mod persist;
mod storage;
pub mod validate;

pub use error::StorageError;
pub use storage::{BacklogStats, Storage, StorageConfig, WriteOptions, WriteOutcome};
