//! Shared helpers for the unit tests (compiled only under `cfg(test)`).

use std::fs::{self, OpenOptions};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

pub(crate) use crate::{ReplayedRecord, Wal, WalConfig};

/// The record stored in `testdata/wal/golden-v1.seg`.
pub(crate) const GOLDEN_SEQ: u64 = 0x0102_0304_0506_0708;
pub(crate) const GOLDEN_PAYLOAD: &[u8] = b"hearth golden record \x00\x01\xfe\xff";

/// Encoded size of a frame carrying [`payload`].
pub(crate) const FRAME_LEN_SMALL: usize = 16 + 16;

/// The checked-in golden segment. The crate's directory is read when the test runs (cargo sets
/// it), not baked in at compile time: a test binary reused from a build in another checkout
/// sharing the target directory must still find this checkout's files.
pub(crate) fn golden_path() -> PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    Path::new(&dir).join("../../testdata/wal/golden-v1.seg")
}

/// A 16-byte payload identifying record `i`.
pub(crate) fn payload(i: u64) -> Vec<u8> {
    let p = format!("payload {i:08}").into_bytes();
    assert_eq!(p.len() + 16, FRAME_LEN_SMALL);
    p
}

pub(crate) fn noop() -> Box<dyn FnOnce(u64) + Send> {
    Box::new(|_| {})
}

pub(crate) fn config(dir: &Path, segment_bytes: u64) -> WalConfig {
    WalConfig {
        segment_bytes,
        ..WalConfig::new(dir)
    }
}

pub(crate) fn open_wal(dir: &Path, segment_bytes: u64) -> (Wal, Vec<ReplayedRecord>) {
    Wal::open(config(dir, segment_bytes)).expect("open WAL")
}

pub(crate) fn append_one(wal: &Wal, payload: &[u8]) -> u64 {
    wal.append_blocking(payload.to_vec(), true, noop())
        .expect("append")
}

/// Opens the WAL, appends `payload(i)` for every `i` in `seqs` (checking
/// that `i` is the assigned seq) and closes it again.
pub(crate) fn write_records(dir: &Path, segment_bytes: u64, seqs: RangeInclusive<u64>) {
    let (wal, _) = open_wal(dir, segment_bytes);
    for i in seqs {
        assert_eq!(append_one(&wal, &payload(i)), i);
    }
}

pub(crate) fn assert_seqs(records: &[ReplayedRecord], expected: RangeInclusive<u64>) {
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, expected.collect::<Vec<_>>());
}

/// Asserts seqs and the [`payload`] contents.
pub(crate) fn assert_records(records: &[ReplayedRecord], expected: RangeInclusive<u64>) {
    assert_seqs(records, expected);
    for r in records {
        assert_eq!(r.payload, payload(r.seq), "payload of seq {}", r.seq);
    }
}

pub(crate) fn chop_file(path: &Path, len: u64) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len).unwrap();
}

pub(crate) fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

/// First seqs of the segment files in `dir`.
pub(crate) fn segment_seqs(dir: &Path) -> Vec<u64> {
    crate::segment::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(seq, _)| seq)
        .collect()
}
