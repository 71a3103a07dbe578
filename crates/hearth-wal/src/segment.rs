//! Segment files: naming, listing, creation and the active (appendable)
//! segment.
//!
//! Guarantees:
//! - A new segment is created with `create_new` (never clobbers a file), its
//!   header is written and fdatasynced, and the directory is fsynced before
//!   it is used, so after a crash it either does not exist or is at most
//!   missing its header (which recovery repairs, being the last segment).
//! - A failed append write is rolled back (best effort) by truncating the
//!   file to its previous length.
//! - Only files whose names are exactly `wal-{20 digits}.seg` are treated as
//!   segments; anything else in the directory is ignored.
//! - Recycling: a segment no longer needed may be renamed to
//!   `recycled-{slot}.wal` instead of being deleted, and renamed back into
//!   place as a later segment. Overwriting blocks a file already has makes
//!   `fdatasync` cheaper than growing the file (no block allocation or size
//!   change to journal: 0.37 ms instead of 0.66 ms per 1 MiB write + sync on
//!   this machine's ext4). A recycled file keeps its old records after the
//!   header; they all have seqs below the new segment's first seq, which is
//!   how recovery tells them from new records (see `replay`). When the writer
//!   leaves a recycled segment for the next one, it cuts the file to its
//!   records first, so only the last segment can hold old data.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::WalError;
use crate::format::{HEADER_LEN, encode_header};

const PREFIX: &str = "wal-";
const SUFFIX: &str = ".seg";
const DIGITS: usize = 20;

const RECYCLED_PREFIX: &str = "recycled-";
const RECYCLED_SUFFIX: &str = ".wal";

/// Path of recycling slot `slot` inside `dir`.
pub(crate) fn recycled_path(dir: &Path, slot: usize) -> PathBuf {
    dir.join(format!("{RECYCLED_PREFIX}{slot}{RECYCLED_SUFFIX}"))
}

/// The recycled files in `dir`, by slot.
pub(crate) fn list_recycled(dir: &Path) -> Result<Vec<PathBuf>, WalError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(WalError::io(dir))? {
        let entry = entry.map_err(WalError::io(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let slot = name
            .strip_prefix(RECYCLED_PREFIX)
            .and_then(|n| n.strip_suffix(RECYCLED_SUFFIX))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(slot) = slot {
            found.push((slot, entry.path()));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// File name of the segment whose first record has seq `first_seq`.
pub(crate) fn segment_file_name(first_seq: u64) -> String {
    format!("{PREFIX}{first_seq:020}{SUFFIX}")
}

/// Path of the segment starting at `first_seq` inside `dir`.
pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(segment_file_name(first_seq))
}

/// Parses a segment file name back into its first seq.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// All segment files in `dir`, sorted by first seq.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(WalError::io(dir))? {
        let entry = entry.map_err(WalError::io(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match parse_segment_name(name) {
            Some(first_seq) => segments.push((first_seq, entry.path())),
            None if name.starts_with(PREFIX) && name.ends_with(SUFFIX) => {
                tracing::warn!(file = %entry.path().display(), "ignoring WAL-like file with an invalid name");
            }
            None => {}
        }
    }
    segments.sort_by_key(|(first_seq, _)| *first_seq);
    Ok(segments)
}

/// fsyncs a directory so that file creations and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(WalError::io(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The segment currently being appended to. Owned by the writer thread.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    file: File,
    path: PathBuf,
    first_seq: u64,
    /// Length of the header plus all frames written.
    len: u64,
    /// Size of the file: above `len` while a recycled file still holds old records after ours.
    file_len: u64,
    /// Bytes written since the last fdatasync.
    dirty: bool,
}

impl ActiveSegment {
    /// Creates the segment for records starting at `first_seq` and makes its existence durable
    /// (file and directory fsync): from the recycled file `reuse` if one is given (renamed into
    /// place; the header is the same for every segment), else as a new file.
    pub(crate) fn create(
        dir: &Path,
        first_seq: u64,
        reuse: Option<PathBuf>,
    ) -> Result<Self, WalError> {
        let path = segment_path(dir, first_seq);
        if let Some(recycled) = reuse {
            if path.exists() {
                return Err(WalError::Io {
                    path,
                    source: io::Error::from(io::ErrorKind::AlreadyExists),
                });
            }
            fs::rename(&recycled, &path).map_err(WalError::io(&recycled))?;
            sync_dir(dir)?;
            let mut file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(WalError::io(&path))?;
            let file_len = file.metadata().map_err(WalError::io(&path))?.len();
            file.write_all(&encode_header())
                .and_then(|()| file.sync_data())
                .map_err(WalError::io(&path))?;
            tracing::debug!(segment = %path.display(), "reused a recycled WAL segment");
            return Ok(Self {
                file,
                path,
                first_seq,
                len: HEADER_LEN as u64,
                file_len: file_len.max(HEADER_LEN as u64),
                dirty: false,
            });
        }
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(WalError::io(&path))?;
        file.write_all(&encode_header())
            .and_then(|()| file.sync_data())
            .map_err(WalError::io(&path))?;
        sync_dir(dir)?;
        tracing::debug!(segment = %path.display(), "created WAL segment");
        Ok(Self {
            file,
            path,
            first_seq,
            len: HEADER_LEN as u64,
            file_len: HEADER_LEN as u64,
            dirty: false,
        })
    }

    /// Opens an existing, already validated segment whose header and records take `len` bytes;
    /// appends go after them.
    pub(crate) fn open_existing(path: PathBuf, first_seq: u64, len: u64) -> Result<Self, WalError> {
        let mut file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(WalError::io(&path))?;
        let file_len = file.metadata().map_err(WalError::io(&path))?.len();
        file.seek(SeekFrom::Start(len))
            .map_err(WalError::io(&path))?;
        Ok(Self {
            file,
            path,
            first_seq,
            len,
            file_len: file_len.max(len),
            dirty: false,
        })
    }

    /// Cuts the file to its records (dropping the old records of a recycled file), durably;
    /// done before the writer leaves the segment for the next one.
    pub(crate) fn trim(&mut self) -> io::Result<()> {
        if self.file_len > self.len {
            self.file.set_len(self.len)?;
            self.file.sync_data()?;
            self.file_len = self.len;
        }
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn first_seq(&self) -> u64 {
        self.first_seq
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Whether the segment holds at least one record.
    pub(crate) fn has_records(&self) -> bool {
        self.len > HEADER_LEN as u64
    }

    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Appends `bytes` with a single `write_all`. On failure the file is
    /// truncated back to its previous length (best effort) so a half-written
    /// group does not linger.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = self.file.write_all(bytes) {
            self.rollback(self.len);
            return Err(e);
        }
        self.len += bytes.len() as u64;
        self.file_len = self.file_len.max(self.len);
        self.dirty = true;
        Ok(())
    }

    /// fdatasyncs the file.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.dirty = false;
        Ok(())
    }

    /// Best-effort truncation back to `len` after a failed write or sync.
    pub(crate) fn rollback(&mut self, len: u64) {
        match self
            .file
            .set_len(len)
            .and_then(|()| self.file.seek(SeekFrom::Start(len)))
        {
            Ok(_) => {
                self.len = len;
                self.file_len = len;
            }
            Err(e) => tracing::error!(
                segment = %self.path.display(),
                error = %e,
                "could not roll back a failed WAL write; recovery will treat the tail as torn"
            ),
        }
    }
}

/// Makes `path` a valid empty segment (header only). Used by recovery when
/// the last segment's header itself was torn.
pub(crate) fn rewrite_header(path: &Path) -> Result<(), WalError> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(WalError::io(path))?;
    file.set_len(0)
        .and_then(|()| file.write_all(&encode_header()))
        .and_then(|()| file.sync_data())
        .map_err(WalError::io(path))
}

/// Cuts `path` down to `len` bytes and makes that durable. Used by recovery
/// to drop a torn tail.
pub(crate) fn truncate_file(path: &Path, len: u64) -> Result<(), WalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(WalError::io(path))?;
    file.set_len(len)
        .and_then(|()| file.sync_data())
        .map_err(WalError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_lexicographically() {
        assert_eq!(segment_file_name(1), "wal-00000000000000000001.seg");
        assert_eq!(segment_file_name(u64::MAX), "wal-18446744073709551615.seg");
        for seq in [0, 1, 42, 1 << 40, u64::MAX] {
            assert_eq!(parse_segment_name(&segment_file_name(seq)), Some(seq));
        }
        assert!(segment_file_name(9) < segment_file_name(10));
    }

    #[test]
    fn rejects_foreign_names() {
        for name in [
            "wal-1.seg",
            "wal-0000000000000000000a.seg",
            "wal-00000000000000000001.seg.tmp",
            "xwal-00000000000000000001.seg",
            "wal-99999999999999999999.seg", // overflows u64
            "wal.lock",
        ] {
            assert_eq!(parse_segment_name(name), None, "{name}");
        }
    }

    #[test]
    fn list_ignores_other_files_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        for seq in [30, 1, 12] {
            fs::write(segment_path(dir.path(), seq), b"").unwrap();
        }
        fs::write(dir.path().join("wal.lock"), b"").unwrap();
        fs::write(dir.path().join("wal-1.seg"), b"").unwrap();
        let seqs: Vec<u64> = list_segments(dir.path())
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(seqs, vec![1, 12, 30]);
    }

    #[test]
    fn create_writes_header_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = ActiveSegment::create(dir.path(), 5, None).unwrap();
        assert!(!seg.has_records());
        assert_eq!(fs::read(seg.path()).unwrap(), encode_header());
        seg.write(b"abc").unwrap();
        assert!(seg.is_dirty() && seg.has_records());
        seg.sync().unwrap();
        assert!(!seg.is_dirty());
        assert_eq!(seg.len(), HEADER_LEN as u64 + 3);
        assert!(ActiveSegment::create(dir.path(), 5, None).is_err());
    }
}
