//! Tests of the public API: round trips, close, locking, payload limits,
//! segment rolling and truncation (also concurrent with appends).

use super::*;
use crate::test_util::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn wal_is_send_and_sync_and_append_future_is_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Wal>();
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
    send(&wal.append(Vec::new(), false, noop()));
}

#[test]
fn round_trip_blocking_and_async_then_seqs_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, replayed) = open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert!(replayed.is_empty());
    assert_eq!(wal.last_seq(), 0);
    for i in 1..=10 {
        let seq = wal.append_blocking(payload(i), i % 2 == 0, noop()).unwrap();
        assert_eq!(seq, i);
    }
    let wal = Arc::new(wal);
    runtime().block_on(async {
        for i in 11..=20 {
            let seq = wal.append(payload(i), i % 3 == 0, noop()).await.unwrap();
            assert_eq!(seq, i);
        }
    });
    assert_eq!(wal.last_seq(), 20);
    drop(wal);

    let (wal, replayed) = open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_records(&replayed, 1..=20);
    assert_eq!(wal.last_seq(), 20);
    assert_eq!(append_one(&wal, &payload(21)), 21);
    drop(wal);
    let (_, replayed) = open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_records(&replayed, 1..=21);
}

#[test]
fn payload_buffers_come_back_empty_after_the_write_and_only_so_many() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_eq!(wal.payload_buffer().capacity(), 0, "none spent yet");
    let mut first = wal.payload_buffer();
    first.extend_from_slice(&payload(1));
    first.reserve(1000);
    let capacity = first.capacity();
    assert_eq!(wal.append_blocking(first, true, noop()).unwrap(), 1);
    let again = wal.payload_buffer();
    assert!(again.is_empty());
    assert_eq!(again.capacity(), capacity);
    // What was written is the payload, not whatever the buffer holds later.
    let mut reused = again;
    reused.extend_from_slice(&payload(2));
    wal.append_blocking(reused, true, noop()).unwrap();
    drop(wal);
    let (wal, replayed) = open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_records(&replayed, 1..=2);
    // Many spent buffers: a bounded number is kept.
    assert_eq!(wal.payload_buffer().capacity(), 0, "a new WAL has none");
    for i in 3..23 {
        let mut p = Vec::with_capacity(64);
        p.extend_from_slice(&payload(i));
        wal.append_blocking(p, false, noop()).unwrap();
    }
    let kept = (0..20)
        .map(|_| wal.payload_buffer())
        .filter(|b| b.capacity() > 0)
        .count();
    assert_eq!(kept, 8);
}

#[test]
fn close_drains_syncs_and_rejects_later_calls() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
    for i in 1..=3 {
        wal.append_blocking(payload(i), false, noop()).unwrap();
    }
    assert_eq!(wal.stats().syncs, 0);
    wal.close();
    wal.close();
    assert_eq!(wal.stats().syncs, 1, "close fdatasyncs unsynced writes");
    let err = wal.append_blocking(payload(4), true, noop()).unwrap_err();
    assert!(matches!(err, WalError::Closed), "{err}");
    let err = runtime()
        .block_on(wal.append(payload(4), true, noop()))
        .unwrap_err();
    assert!(matches!(err, WalError::Closed), "{err}");
    assert!(matches!(wal.truncate_through(1), Err(WalError::Closed)));
    drop(wal);
    let (_, replayed) = open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_records(&replayed, 1..=3);
}

#[test]
fn oversized_payload_is_rejected_without_poisoning() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
    let err = wal
        .append_blocking(vec![0; MAX_PAYLOAD_LEN + 1], true, noop())
        .unwrap_err();
    assert!(matches!(err, WalError::PayloadTooLarge { .. }), "{err}");
    assert_eq!(append_one(&wal, b"fine"), 1);
}

#[test]
fn second_open_of_same_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
    let err = Wal::open(WalConfig::new(dir.path())).unwrap_err();
    assert!(matches!(err, WalError::Locked { .. }), "{err}");
    drop(wal);
    open_wal(dir.path(), DEFAULT_SEGMENT_BYTES);
}

/// 16-byte header + two 32-byte frames: two records per segment.
const TWO_PER_SEGMENT: u64 = 16 + 2 * FRAME_LEN_SMALL as u64;

#[test]
fn segments_roll_and_truncate_removes_fully_covered_ones() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), TWO_PER_SEGMENT, 1..=10);
    assert_eq!(segment_seqs(dir.path()), vec![1, 3, 5, 7, 9]);
    for (_, path) in segment::list_segments(dir.path()).unwrap() {
        assert_eq!(fs::metadata(&path).unwrap().len(), TWO_PER_SEGMENT);
    }

    let (wal, replayed) = open_wal(dir.path(), TWO_PER_SEGMENT);
    assert_records(&replayed, 1..=10);
    wal.truncate_through(0).unwrap();
    assert_eq!(segment_seqs(dir.path()), vec![1, 3, 5, 7, 9]);
    wal.truncate_through(4).unwrap();
    assert_eq!(segment_seqs(dir.path()), vec![5, 7, 9]);
    // Seq 5 is only partially covered: its segment (5, 6) stays.
    wal.truncate_through(5).unwrap();
    assert_eq!(segment_seqs(dir.path()), vec![5, 7, 9]);
    drop(wal);
    let (wal, replayed) = open_wal(dir.path(), TWO_PER_SEGMENT);
    assert_records(&replayed, 5..=10);

    // Everything persisted: the active segment is rolled, nothing old
    // remains, and the seq survives in the new segment's name.
    wal.truncate_through(10).unwrap();
    assert_eq!(segment_seqs(dir.path()), vec![11]);
    drop(wal);
    let (wal, replayed) = open_wal(dir.path(), TWO_PER_SEGMENT);
    assert!(replayed.is_empty());
    assert_eq!(wal.last_seq(), 10);
    assert_eq!(append_one(&wal, &payload(11)), 11);
    drop(wal);
    let (_, replayed) = open_wal(dir.path(), TWO_PER_SEGMENT);
    assert_records(&replayed, 11..=11);
}

#[test]
fn record_larger_than_segment_gets_its_own_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), 100);
    append_one(&wal, b"small");
    append_one(&wal, &[7; 500]);
    append_one(&wal, b"small again");
    assert_eq!(segment_seqs(dir.path()), vec![1, 2, 3]);
    drop(wal);
    let (_, replayed) = open_wal(dir.path(), 100);
    assert_eq!(replayed[1].payload, vec![7; 500]);
    assert_eq!(replayed.len(), 3);
}

#[test]
fn truncate_concurrently_with_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), TWO_PER_SEGMENT);
    let wal = Arc::new(wal);
    let appender = {
        let wal = Arc::clone(&wal);
        thread::spawn(move || {
            for i in 1..=300 {
                assert_eq!(
                    wal.append_blocking(payload(i), i % 7 == 0, noop()).unwrap(),
                    i
                );
            }
        })
    };
    let mut through = 0;
    while !appender.is_finished() {
        through = wal.last_seq() / 2;
        wal.truncate_through(through).unwrap();
    }
    appender.join().unwrap();
    drop(wal);
    let (_, replayed) = open_wal(dir.path(), TWO_PER_SEGMENT);
    let first = replayed.first().map_or(301, |r| r.seq);
    assert!(first <= through + 1, "first {first} > {through} + 1");
    assert_records(&replayed, first..=300);
}

#[test]
fn empty_wal_numbers_after_min_last_seq_and_remembers_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path());
    config.min_last_seq = 41;
    {
        let (wal, replayed) = Wal::open(config.clone()).unwrap();
        assert!(replayed.is_empty());
        assert_eq!(wal.last_seq(), 41);
        assert_eq!(wal.append_blocking(payload(1), true, noop()).unwrap(), 42);
        wal.truncate_through(42).unwrap();
    }
    // Reopened without the floor: numbering continues from the segment name.
    let (wal, replayed) = Wal::open(WalConfig::new(dir.path())).unwrap();
    assert!(replayed.is_empty());
    assert_eq!(wal.append_blocking(payload(2), true, noop()).unwrap(), 43);
}

#[test]
fn wal_with_records_below_min_last_seq_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _) = Wal::open(WalConfig::new(dir.path())).unwrap();
        wal.append_blocking(payload(1), true, noop()).unwrap();
    }
    let mut config = WalConfig::new(dir.path());
    config.min_last_seq = 5;
    let err = Wal::open(config).unwrap_err();
    assert!(err.to_string().contains("another history"), "{err}");
}
