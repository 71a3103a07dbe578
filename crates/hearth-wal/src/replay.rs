//! Recovery: reads every segment in seq order, validates it and returns the
//! records plus the state the writer resumes from.
//!
//! Guarantees:
//! - Records are returned in strictly increasing, contiguous seq order.
//! - Damage at the tail of the **last** segment (partial frame, bad CRC,
//!   impossible length, or a header cut short) is a torn write that was never
//!   acknowledged as durable: it is truncated away (and the truncation
//!   fsynced) with a warning, and appends resume right after the last valid
//!   record.
//! - Any damage in an earlier segment, a bad header, or a seq that does not
//!   follow its predecessor (even with a valid CRC) is reported as
//!   [`WalError::Corrupt`] naming the file and byte offset; nothing is
//!   modified in that case.
//! - A directory without segments gets a fresh empty segment for seq 1, so
//!   there is always exactly one active segment afterwards.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};

use crate::ReplayedRecord;
use crate::error::WalError;
use crate::format::{HEADER_LEN, check_header, decode_frame};
use crate::segment::{ActiveSegment, list_segments, rewrite_header, truncate_file};

/// Everything recovery found.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) records: Vec<ReplayedRecord>,
    /// First seqs of the segments before the active one, ascending.
    pub(crate) closed: VecDeque<u64>,
    pub(crate) active: ActiveSegment,
    /// Last seq ever handed out (0 if none).
    pub(crate) last_seq: u64,
}

/// Reads and validates all segments in `dir` (which must exist).
pub(crate) fn recover(dir: &Path) -> Result<Recovered, WalError> {
    let segments = list_segments(dir)?;
    let Some(last_index) = segments.len().checked_sub(1) else {
        let active = ActiveSegment::create(dir, 1, None)?;
        return Ok(Recovered {
            records: Vec::new(),
            closed: VecDeque::new(),
            active,
            last_seq: 0,
        });
    };

    let mut records = Vec::new();
    let mut closed = VecDeque::new();
    let mut expected_first: Option<u64> = None;
    let mut last_len = HEADER_LEN as u64;
    for (index, (first_seq, path)) in segments.iter().enumerate() {
        let is_last = index == last_index;
        if *first_seq == 0 {
            return Err(corrupt(path, 0, "segment name claims first seq 0"));
        }
        if let Some(expected) = expected_first
            && *first_seq != expected
        {
            return Err(corrupt(
                path,
                0,
                format!(
                    "segment starts at seq {first_seq} but the previous segment ends at seq {}",
                    expected - 1
                ),
            ));
        }
        let (next_seq, valid_len) = read_segment(path, *first_seq, is_last, &mut records)?;
        expected_first = Some(next_seq);
        if is_last {
            last_len = valid_len;
        } else {
            closed.push_back(*first_seq);
        }
    }

    let (first_seq, path) = &segments[last_index];
    let active = ActiveSegment::open_existing(path.clone(), *first_seq, last_len)?;
    let last_seq = expected_first.map_or(0, |next| next - 1);
    Ok(Recovered {
        records,
        closed,
        active,
        last_seq,
    })
}

/// Decodes one segment, pushing its records. Returns the seq that the next
/// record after this segment must have, and the segment's valid length.
fn read_segment(
    path: &Path,
    first_seq: u64,
    is_last: bool,
    records: &mut Vec<ReplayedRecord>,
) -> Result<(u64, u64), WalError> {
    let data = fs::read(path).map_err(WalError::io(path))?;
    let Some(header) = data.first_chunk::<HEADER_LEN>() else {
        if !is_last {
            return Err(corrupt(
                path,
                0,
                format!(
                    "file of {} bytes is shorter than the segment header",
                    data.len()
                ),
            ));
        }
        tracing::warn!(
            segment = %path.display(),
            bytes = data.len(),
            "WAL: last segment has a torn header; rewriting it as an empty segment"
        );
        rewrite_header(path)?;
        return Ok((first_seq, HEADER_LEN as u64));
    };
    check_header(header).map_err(|reason| corrupt(path, 0, reason))?;

    let mut offset = HEADER_LEN;
    let mut next_seq = first_seq;
    while offset < data.len() {
        match decode_frame(&data[offset..]) {
            // A valid record from before: the old contents of a recycled file, after the last
            // record written since (only the last segment can have any).
            Ok(frame) if is_last && frame.seq < next_seq => {
                tracing::debug!(
                    segment = %path.display(),
                    offset,
                    stale_seq = frame.seq,
                    "WAL: end of the records of a recycled segment"
                );
                truncate_file(path, offset as u64)?;
                break;
            }
            Ok(frame) => {
                if frame.seq != next_seq {
                    return Err(corrupt(
                        path,
                        offset as u64,
                        format!("expected seq {next_seq}, found seq {}", frame.seq),
                    ));
                }
                records.push(ReplayedRecord {
                    seq: frame.seq,
                    payload: frame.payload.to_vec(),
                });
                next_seq += 1;
                offset += frame.encoded_len;
            }
            Err(reason) if is_last => {
                tracing::warn!(
                    segment = %path.display(),
                    offset,
                    dropped_bytes = data.len() - offset,
                    last_valid_seq = next_seq - 1,
                    %reason,
                    "WAL: truncating torn tail of the last segment (it was never acknowledged)"
                );
                truncate_file(path, offset as u64)?;
                break;
            }
            Err(reason) => return Err(corrupt(path, offset as u64, reason)),
        }
    }
    Ok((next_seq, offset as u64))
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> WalError {
    WalError::Corrupt {
        path: PathBuf::from(path),
        offset,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::segment_path;
    use crate::test_util::*;

    #[test]
    fn torn_tail_chopped_bytes() {
        for chop in [1, 5, FRAME_LEN_SMALL - 1, FRAME_LEN_SMALL] {
            let dir = tempfile::tempdir().unwrap();
            write_records(dir.path(), u64::MAX, 1..=5);
            let seg = segment_path(dir.path(), 1);
            let len = fs::metadata(&seg).unwrap().len();
            chop_file(&seg, len - chop as u64);
            let (wal, replayed) = open_wal(dir.path(), u64::MAX);
            // Chopping a whole frame leaves a clean file with 4 records.
            assert_seqs(&replayed, 1..=4);
            assert_eq!(wal.last_seq(), 4);
            assert_eq!(append_one(&wal, b"new five"), 5);
            drop(wal);
            let (_, replayed) = open_wal(dir.path(), u64::MAX);
            assert_seqs(&replayed, 1..=5);
            assert_eq!(replayed[4].payload, b"new five");
            assert_eq!(replayed[3].payload, payload(4));
        }
    }

    #[test]
    fn torn_tail_flipped_byte_in_last_record() {
        let dir = tempfile::tempdir().unwrap();
        write_records(dir.path(), u64::MAX, 1..=5);
        let seg = segment_path(dir.path(), 1);
        let len = fs::metadata(&seg).unwrap().len();
        flip_byte(&seg, len - 2);
        let (wal, replayed) = open_wal(dir.path(), u64::MAX);
        assert_seqs(&replayed, 1..=4);
        // The file was cut back to the last valid frame.
        assert_eq!(
            fs::metadata(&seg).unwrap().len(),
            len - FRAME_LEN_SMALL as u64
        );
        assert_eq!(append_one(&wal, b"again"), 5);
        assert_eq!(append_one(&wal, b"and again"), 6);
        drop(wal);
        let (_, replayed) = open_wal(dir.path(), u64::MAX);
        assert_seqs(&replayed, 1..=6);
        assert_eq!(replayed[5].payload, b"and again");
    }

    #[test]
    fn torn_header_of_last_segment_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        // Small segments: one record per segment.
        write_records(dir.path(), 1, 1..=3);
        let last = segment_path(dir.path(), 3);
        chop_file(&last, 7);
        let (wal, replayed) = open_wal(dir.path(), 1);
        assert_seqs(&replayed, 1..=2);
        assert_eq!(wal.last_seq(), 2);
        assert_eq!(append_one(&wal, b"three"), 3);
        drop(wal);
        let (_, replayed) = open_wal(dir.path(), 1);
        assert_seqs(&replayed, 1..=3);
    }

    #[test]
    fn corruption_in_earlier_segment_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_records(dir.path(), 1, 1..=3);
        let first = segment_path(dir.path(), 1);
        let before = fs::read(&first).unwrap();
        flip_byte(&first, HEADER_LEN as u64 + 20);
        match Wal::open(config(dir.path(), 1)).unwrap_err() {
            WalError::Corrupt { path, offset, .. } => {
                assert_eq!(path, first);
                assert_eq!(offset, HEADER_LEN as u64);
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // Nothing was modified, and a partial frame there is an error too.
        let mut after = fs::read(&first).unwrap();
        after[HEADER_LEN + 20] ^= 0x40;
        assert_eq!(after, before);
        fs::write(&first, &before[..before.len() - 3]).unwrap();
        let err = Wal::open(config(dir.path(), 1)).unwrap_err();
        assert!(
            matches!(&err, WalError::Corrupt { path, .. } if *path == first),
            "{err}"
        );
        assert!(
            err.to_string().contains("wal-00000000000000000001.seg"),
            "{err}"
        );
    }

    #[test]
    fn seq_gap_between_segments_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_records(dir.path(), 1, 1..=3);
        fs::remove_file(segment_path(dir.path(), 2)).unwrap();
        let err = Wal::open(config(dir.path(), 1)).unwrap_err();
        assert!(
            matches!(&err, WalError::Corrupt { path, .. } if *path == segment_path(dir.path(), 3)),
            "{err}"
        );
    }

    #[test]
    fn bad_header_is_an_error_even_in_last_segment() {
        let dir = tempfile::tempdir().unwrap();
        write_records(dir.path(), u64::MAX, 1..=2);
        let seg = segment_path(dir.path(), 1);
        flip_byte(&seg, 0);
        let err = Wal::open(config(dir.path(), u64::MAX)).unwrap_err();
        assert!(matches!(err, WalError::Corrupt { offset: 0, .. }), "{err}");
    }

    /// Damages the last record of the last segment (whose records run from `first` to `last`,
    /// all [`payload`]-sized) at every byte offset, by cutting the file there and by flipping
    /// the byte there: each time recovery keeps exactly the records before it, cuts the file
    /// back to them, and appends continue after them.
    fn damage_last_record_at_every_offset(dir: &Path, first: u64, last: u64) {
        let seg = segment_path(dir, first);
        let pristine = fs::read(&seg).unwrap();
        let end = (HEADER_LEN + (last - first + 1) as usize * FRAME_LEN_SMALL) as u64;
        let start = end - FRAME_LEN_SMALL as u64;
        for offset in start..end {
            for flip in [false, true] {
                fs::write(&seg, &pristine).unwrap();
                if flip {
                    flip_byte(&seg, offset);
                } else {
                    chop_file(&seg, offset);
                }
                let (wal, replayed) = open_wal(dir, u64::MAX);
                let seqs: Vec<u64> = replayed.iter().map(|r| r.seq).collect();
                assert_eq!(
                    seqs.last(),
                    Some(&(last - 1)),
                    "offset {offset}, flip {flip}"
                );
                assert_eq!(fs::metadata(&seg).unwrap().len(), start, "offset {offset}");
                assert_eq!(append_one(&wal, &payload(last)), last);
                drop(wal);
                let (_, replayed) = open_wal(dir, u64::MAX);
                assert_eq!(replayed.last().map(|r| r.seq), Some(last));
                assert_eq!(replayed.last().unwrap().payload, payload(last));
            }
        }
    }

    #[test]
    fn torn_or_flipped_last_record_at_every_offset_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        write_records(dir.path(), u64::MAX, 1..=3);
        damage_last_record_at_every_offset(dir.path(), 1, 3);
    }

    #[test]
    fn recycled_segments_are_reused_and_their_old_records_never_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let big = |i: u64| vec![i as u8; 4000];
        // One record per segment; old records are large, so a reused file holds old records
        // after the new ones.
        let (wal, _) = open_wal(dir.path(), 1);
        for i in 1..=6 {
            assert_eq!(append_one(&wal, &big(i)), i);
        }
        // Rolls to a new segment 7 and keeps two of the six files for reuse.
        wal.truncate_through(6).unwrap();
        assert_eq!(segment_seqs(dir.path()), [7]);
        let recycled = crate::segment::list_recycled(dir.path()).unwrap();
        assert_eq!(recycled.len(), crate::writer::MAX_RECYCLED);
        assert!(fs::metadata(&recycled[0]).unwrap().len() > 4000);
        assert_eq!(append_one(&wal, &payload(7)), 7);
        // Segment 8 is a reused file.
        assert_eq!(append_one(&wal, &payload(8)), 8);
        assert_eq!(crate::segment::list_recycled(dir.path()).unwrap().len(), 1);
        assert_eq!(segment_seqs(dir.path()), [7, 8]);
        let len = |seq| fs::metadata(segment_path(dir.path(), seq)).unwrap().len();
        assert!(len(8) > 4000);
        drop(wal);

        // The old record after record 8 ends the replay instead of being taken for a record
        // (or for damage); appends go on after record 8.
        let (wal, replayed) = open_wal(dir.path(), u64::MAX);
        assert_records(&replayed, 7..=8);
        assert_eq!(append_one(&wal, &payload(9)), 9);
        drop(wal);
        let (wal, replayed) = open_wal(dir.path(), u64::MAX);
        assert_records(&replayed, 7..=9);
        drop(wal);

        // Again with a reused file left exactly as the writer left it, damaged at every offset
        // of its last record.
        let (wal, _) = open_wal(dir.path(), 1);
        wal.truncate_through(9).unwrap();
        assert_eq!(append_one(&wal, &payload(10)), 10);
        assert_eq!(append_one(&wal, &payload(11)), 11);
        let segments = segment_seqs(dir.path());
        drop(wal);
        assert_eq!(segments, [10, 11]);
        assert_eq!(
            len(10),
            (HEADER_LEN + FRAME_LEN_SMALL) as u64,
            "closed: cut to its record"
        );
        let reused = fs::read(segment_path(dir.path(), 11)).unwrap();
        damage_last_record_at_every_offset(dir.path(), 11, 11);
        // (With a single record, "the records before it" are the previous segment's.)
        fs::write(segment_path(dir.path(), 11), &reused).unwrap();
        let (_, replayed) = open_wal(dir.path(), u64::MAX);
        assert_records(&replayed, 10..=11);
    }

    #[test]
    fn golden_file_replays() {
        let dir = tempfile::tempdir().unwrap();
        fs::copy(golden_path(), segment_path(dir.path(), GOLDEN_SEQ)).unwrap();
        let (wal, replayed) = open_wal(dir.path(), u64::MAX);
        assert_eq!(replayed.len(), 1);
        assert_eq!(replayed[0].seq, GOLDEN_SEQ);
        assert_eq!(replayed[0].payload, GOLDEN_PAYLOAD);
        assert_eq!(append_one(&wal, b"next"), GOLDEN_SEQ + 1);
    }
}
