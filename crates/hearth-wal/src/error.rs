//! Error type of the write-ahead log.
//!
//! Every variant that concerns a file names it (`path`), and corruption
//! errors also carry the byte `offset` inside the segment, so an operator can
//! find the damaged spot. Errors are never silently swallowed: the only data
//! the WAL drops on its own is the torn tail of the last segment (see
//! [`crate::Wal::open`]), and that is logged as a warning.

use std::path::PathBuf;

/// Errors returned by the WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// An operating-system I/O call failed on `path` (a segment file, the
    /// lock file or the WAL directory).
    #[error("WAL I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the failing call operated on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A segment contains bytes that do not decode to a valid record (bad
    /// header, bad CRC, impossible length, partial frame or a seq that does
    /// not follow its predecessor) somewhere other than the tail of the last
    /// segment.
    #[error("corrupt WAL segment {} at byte offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The damaged segment file.
        path: PathBuf,
        /// Byte offset inside `path` where the damage starts.
        offset: u64,
        /// Human-readable description (mentions the seq when one is involved).
        reason: String,
    },

    /// The WAL was closed; no further appends or truncations are accepted.
    #[error("WAL is closed")]
    Closed,

    /// An earlier write, fsync or segment roll failed (or an `on_durable`
    /// callback panicked). The WAL refuses further appends rather than risk a
    /// hole in the sequence; reopen it to recover.
    #[error("WAL is poisoned by a failure at seq {seq} and refuses further appends: {reason}")]
    Poisoned {
        /// The first seq that could not be made durable (or whose callback
        /// panicked).
        seq: u64,
        /// Description of the original failure.
        reason: String,
    },

    /// The payload exceeds [`crate::MAX_PAYLOAD_LEN`]. Nothing was written and
    /// the WAL stays usable.
    #[error("WAL payload of {len} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge {
        /// Length of the rejected payload.
        len: usize,
        /// The maximum accepted length.
        max: usize,
    },

    /// Another [`crate::Wal`] (in this or another process) holds the lock on
    /// the directory.
    #[error("WAL directory {} is locked by another open WAL", dir.display())]
    Locked {
        /// The WAL directory.
        dir: PathBuf,
    },

    /// A blocking operation (`append_blocking`, `truncate_through`) was called
    /// from an `on_durable` callback, i.e. on the writer thread itself, which
    /// would deadlock.
    #[error("blocking WAL operation called from the WAL writer thread (inside on_durable)")]
    Reentrant,
}

impl WalError {
    /// Builds a closure that wraps an [`std::io::Error`] with `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WalError {
        let path = path.into();
        move |source| WalError::Io { path, source }
    }

    /// A copy of this error for a second recipient. `std::io::Error` is not
    /// `Clone`, so the source is rebuilt from its kind and message.
    pub(crate) fn duplicate(&self) -> WalError {
        match self {
            WalError::Io { path, source } => WalError::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            WalError::Corrupt {
                path,
                offset,
                reason,
            } => WalError::Corrupt {
                path: path.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            WalError::Closed => WalError::Closed,
            WalError::Poisoned { seq, reason } => WalError::Poisoned {
                seq: *seq,
                reason: reason.clone(),
            },
            WalError::PayloadTooLarge { len, max } => WalError::PayloadTooLarge {
                len: *len,
                max: *max,
            },
            WalError::Locked { dir } => WalError::Locked { dir: dir.clone() },
            WalError::Reentrant => WalError::Reentrant,
        }
    }
}
