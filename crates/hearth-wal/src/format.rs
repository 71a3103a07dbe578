//! On-disk record framing, format version 1. **This format is frozen**: the
//! golden test below compares freshly encoded bytes with the checked-in file
//! `testdata/wal/golden-v1.seg`, so any change fails the build's tests. A
//! change requires a new version number and a reader for the old one.
//!
//! # Segment files
//!
//! A WAL is a directory of segment files named `wal-{first_seq:020}.seg`,
//! where `first_seq` is the seq of the first record the segment holds (or
//! will hold, if it is still empty). Every segment starts with a 16-byte
//! header:
//!
//! | offset | size | field                          |
//! |--------|------|--------------------------------|
//! | 0      | 8    | magic `b"HRTHWAL\0"`           |
//! | 8      | 4    | version, u32 little-endian = 1 |
//! | 12     | 4    | reserved, u32 = 0              |
//!
//! # Record frames
//!
//! The header is followed by zero or more frames, back to back:
//!
//! | offset | size | field                                                 |
//! |--------|------|-------------------------------------------------------|
//! | 0      | 4    | payload length `n`, u32 LE, at most 256 MiB           |
//! | 4      | 4    | CRC-32 (IEEE, `crc32fast`) of `seq bytes ++ payload`  |
//! | 8      | 8    | seq, u64 LE                                           |
//! | 16     | n    | payload                                               |
//!
//! Seqs start at 1 and are contiguous: within a segment each frame's seq is
//! its predecessor's plus one, and the first frame's seq equals the file
//! name's `first_seq`. A length above [`MAX_PAYLOAD_LEN`] is corruption.

/// Magic bytes at the start of every segment file.
pub(crate) const MAGIC: [u8; 8] = *b"HRTHWAL\0";
/// Format version written to (and accepted in) segment headers.
pub(crate) const VERSION: u32 = 1;
/// Size of the segment header in bytes.
pub(crate) const HEADER_LEN: usize = 16;
/// Size of a frame header (length, CRC, seq) in bytes.
pub(crate) const FRAME_HEADER_LEN: usize = 16;
/// Largest payload a record may carry (256 MiB). Longer appends are rejected
/// with [`crate::WalError::PayloadTooLarge`]; longer lengths on disk are
/// corruption.
pub const MAX_PAYLOAD_LEN: usize = 256 * 1024 * 1024;

/// The 16-byte segment header.
pub(crate) fn encode_header() -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    // bytes 12..16: reserved, zero
    header
}

/// Validates a complete segment header; `Err` describes what is wrong.
pub(crate) fn check_header(header: &[u8; HEADER_LEN]) -> Result<(), String> {
    if header[..8] != MAGIC {
        return Err(format!("bad magic {:02x?}", &header[..8]));
    }
    let version = u32::from_le_bytes(array(&header[8..12]));
    if version != VERSION {
        return Err(format!(
            "unsupported format version {version} (expected {VERSION})"
        ));
    }
    let reserved = u32::from_le_bytes(array(&header[12..16]));
    if reserved != 0 {
        return Err(format!("reserved header field is {reserved}, expected 0"));
    }
    Ok(())
}

/// CRC-32 over the seq's little-endian bytes followed by the payload.
pub(crate) fn frame_crc(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends one encoded frame to `buf`. The caller guarantees
/// `payload.len() <= MAX_PAYLOAD_LEN`.
pub(crate) fn encode_frame(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD_LEN);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.reserve(FRAME_HEADER_LEN + payload.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&frame_crc(seq, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// A successfully decoded frame borrowing its payload from the input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) seq: u64,
    pub(crate) payload: &'a [u8],
    /// Total encoded length (header + payload).
    pub(crate) encoded_len: usize,
}

/// Decodes the frame at the start of `buf`. `Err` describes why the bytes are
/// not a complete valid frame (partial header, partial payload, impossible
/// length or CRC mismatch). The caller must not pass an empty slice.
pub(crate) fn decode_frame(buf: &[u8]) -> Result<Frame<'_>, String> {
    if buf.len() < FRAME_HEADER_LEN {
        return Err(format!(
            "partial frame header ({} of {FRAME_HEADER_LEN} bytes)",
            buf.len()
        ));
    }
    let len = u32::from_le_bytes(array(&buf[0..4])) as usize;
    let crc = u32::from_le_bytes(array(&buf[4..8]));
    let seq = u64::from_le_bytes(array(&buf[8..16]));
    if len > MAX_PAYLOAD_LEN {
        return Err(format!(
            "frame length {len} exceeds the maximum of {MAX_PAYLOAD_LEN}"
        ));
    }
    let available = buf.len() - FRAME_HEADER_LEN;
    if available < len {
        return Err(format!(
            "partial frame: payload of seq {seq} has {available} of {len} bytes"
        ));
    }
    let payload = &buf[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len];
    let actual = frame_crc(seq, payload);
    if actual != crc {
        return Err(format!(
            "CRC mismatch for frame claiming seq {seq}: stored {crc:#010x}, computed {actual:#010x}"
        ));
    }
    Ok(Frame {
        seq,
        payload,
        encoded_len: FRAME_HEADER_LEN + len,
    })
}

/// Copies a slice of known length into a fixed-size array.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{GOLDEN_PAYLOAD, GOLDEN_SEQ, golden_path};

    fn read_golden() -> Vec<u8> {
        let path = golden_path();
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("golden file {} must be checked in: {e}", path.display()))
    }

    #[test]
    fn golden_segment_matches_encoder() {
        let mut encoded = encode_header().to_vec();
        encode_frame(&mut encoded, GOLDEN_SEQ, GOLDEN_PAYLOAD);
        let golden = read_golden();
        assert_eq!(
            encoded, golden,
            "WAL format v1 changed: encoded bytes differ from testdata/wal/golden-v1.seg"
        );
    }

    #[test]
    fn golden_segment_decodes() {
        let golden = read_golden();
        let header: [u8; HEADER_LEN] = array(&golden[..HEADER_LEN]);
        check_header(&header).unwrap();
        let frame = decode_frame(&golden[HEADER_LEN..]).unwrap();
        assert_eq!(frame.seq, GOLDEN_SEQ);
        assert_eq!(frame.payload, GOLDEN_PAYLOAD);
        assert_eq!(HEADER_LEN + frame.encoded_len, golden.len());
    }

    #[test]
    fn frame_layout_is_little_endian() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 7, b"abc");
        assert_eq!(&buf[0..4], &[3, 0, 0, 0]);
        assert_eq!(&buf[4..8], &frame_crc(7, b"abc").to_le_bytes());
        assert_eq!(&buf[8..16], &[7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&buf[16..], b"abc");
    }

    #[test]
    fn round_trip_several_frames() {
        let mut buf = Vec::new();
        let payloads: [&[u8]; 3] = [b"", b"x", &[0xAB; 1000]];
        for (i, p) in payloads.iter().enumerate() {
            encode_frame(&mut buf, i as u64 + 1, p);
        }
        let mut rest = &buf[..];
        for (i, p) in payloads.iter().enumerate() {
            let frame = decode_frame(rest).unwrap();
            assert_eq!(frame.seq, i as u64 + 1);
            assert_eq!(frame.payload, *p);
            rest = &rest[frame.encoded_len..];
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn rejects_partial_frames_at_every_cut() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 3, b"payload");
        for cut in 1..buf.len() {
            assert!(decode_frame(&buf[..cut]).is_err(), "cut at {cut} accepted");
        }
        assert!(decode_frame(&buf).is_ok());
    }

    #[test]
    fn rejects_any_flipped_byte() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 3, b"payload");
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            // A flipped length byte may make the frame look longer (partial)
            // or shorter (CRC mismatch); either way it must not decode.
            assert!(decode_frame(&bad).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn rejects_oversized_length_and_zeroes() {
        let mut buf = vec![0u8; 64];
        buf[0..4].copy_from_slice(&(MAX_PAYLOAD_LEN as u32 + 1).to_le_bytes());
        let err = decode_frame(&buf).unwrap_err();
        assert!(err.contains("exceeds the maximum"), "{err}");
        // An all-zero region (e.g. a pre-zeroed tail) is not a valid frame.
        assert!(decode_frame(&[0u8; 64]).is_err());
    }

    #[test]
    fn header_checks() {
        let good = encode_header();
        assert_eq!(&good[..8], b"HRTHWAL\0");
        check_header(&good).unwrap();
        let mut bad = good;
        bad[0] = b'X';
        assert!(check_header(&bad).unwrap_err().contains("magic"));
        let mut bad = good;
        bad[8] = 2;
        assert!(check_header(&bad).unwrap_err().contains("version"));
        let mut bad = good;
        bad[15] = 1;
        assert!(check_header(&bad).unwrap_err().contains("reserved"));
    }
}
