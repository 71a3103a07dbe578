//! Tests of the group-commit writer: batching and fsync sharing, callback
//! order, sync flag handling, poisoning on I/O failure or callback panic.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::test_util::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .enable_all()
        .build()
        .unwrap()
}

/// Callback that records its seq (and checks it runs on the writer).
fn recorder(log: &Arc<Mutex<Vec<u64>>>) -> OnDurable {
    let log = Arc::clone(log);
    Box::new(move |seq| {
        assert_eq!(std::thread::current().name(), Some("hearth-wal-writer"));
        log.lock().unwrap().push(seq);
    })
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Checks that every append resolved after its callback ran, that the
/// callbacks ran in strictly increasing seq order and that the seqs are
/// exactly 1..=n.
fn check_order(seqs: &[u64], log: &Mutex<Vec<u64>>, n: u64) {
    let log = log.lock().unwrap();
    assert!(
        log.windows(2).all(|w| w[0] < w[1]),
        "callbacks out of order: {log:?}"
    );
    assert_eq!(*log, (1..=n).collect::<Vec<_>>());
    let distinct: HashSet<u64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len() as u64, n, "duplicate seqs");
}

#[test]
fn concurrent_appends_share_one_group_and_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), u64::MAX);
    let wal = Arc::new(wal);
    let log = Arc::new(Mutex::new(Vec::new()));
    // Hold the writer back until all 64 appends are queued, so the test
    // does not depend on fsync being slow.
    wal.shared.set_paused(true);
    let rt = runtime();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (wal, log) = (Arc::clone(&wal), Arc::clone(&log));
            rt.spawn(async move {
                let seq = wal.append(payload(i), true, recorder(&log)).await.unwrap();
                assert!(
                    log.lock().unwrap().contains(&seq),
                    "resolved before on_durable"
                );
                seq
            })
        })
        .collect();
    wait_until("64 queued appends", || wal.shared.queued_len() == 64);
    wal.shared.set_paused(false);
    let seqs: Vec<u64> = rt.block_on(async {
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.push(task.await.unwrap());
        }
        seqs
    });
    check_order(&seqs, &log, 64);
    let stats = wal.stats();
    assert_eq!(stats.appends, 64);
    assert_eq!(stats.groups, 1);
    assert_eq!(stats.syncs, 1);
    assert!(stats.syncs < stats.appends);
}

#[test]
fn free_running_concurrent_appends_stay_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), 4096);
    let wal = Arc::new(wal);
    let log = Arc::new(Mutex::new(Vec::new()));
    let rt = runtime();
    let tasks: Vec<_> = (0..64u64)
        .map(|t| {
            let (wal, log) = (Arc::clone(&wal), Arc::clone(&log));
            rt.spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..10 {
                    let sync = (t + i) % 3 == 0;
                    let seq = wal.append(payload(i), sync, recorder(&log)).await.unwrap();
                    assert!(log.lock().unwrap().contains(&seq));
                    seqs.push(seq);
                }
                seqs
            })
        })
        .collect();
    // Blocking appenders interleave with the async ones.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (wal, log) = (Arc::clone(&wal), Arc::clone(&log));
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        wal.append_blocking(payload(i), true, recorder(&log))
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = rt.block_on(async {
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.extend(task.await.unwrap());
        }
        seqs
    });
    for t in threads {
        seqs.extend(t.join().unwrap());
    }
    check_order(&seqs, &log, 680);
    let stats = wal.stats();
    assert_eq!(stats.appends, 680);
    assert!(stats.groups <= stats.appends);
    drop(wal);
    let (_, replayed) = open_wal(dir.path(), 4096);
    assert_seqs(&replayed, 1..=680);
}

#[test]
fn unsynced_groups_skip_fdatasync() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), u64::MAX);
    for i in 1..=5 {
        wal.append_blocking(payload(i), false, noop()).unwrap();
    }
    assert_eq!(wal.stats().syncs, 0);
    wal.append_blocking(payload(6), true, noop()).unwrap();
    assert_eq!(wal.stats().syncs, 1);
    assert_eq!(wal.stats().groups, 6);
}

#[test]
fn io_failure_fails_the_group_skips_callbacks_and_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), u64::MAX);
    for i in 1..=2 {
        assert_eq!(append_one(&wal, &payload(i)), i);
    }
    wal.shared.inject_io_failure(true);
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let err = wal
        .append_blocking(
            payload(3),
            true,
            Box::new(move |_| flag.store(true, Ordering::SeqCst)),
        )
        .unwrap_err();
    assert!(matches!(err, WalError::Io { .. }), "{err}");
    assert!(
        !called.load(Ordering::SeqCst),
        "on_durable ran for a failed group"
    );
    wal.shared.inject_io_failure(false);
    let err = wal.append_blocking(payload(3), true, noop()).unwrap_err();
    assert!(matches!(err, WalError::Poisoned { seq: 3, .. }), "{err}");
    let err = runtime()
        .block_on(wal.append(payload(3), true, noop()))
        .unwrap_err();
    assert!(matches!(err, WalError::Poisoned { .. }), "{err}");
    assert!(matches!(
        wal.truncate_through(1),
        Err(WalError::Poisoned { .. })
    ));
    assert_eq!(wal.last_seq(), 2);
    drop(wal);
    let (wal, replayed) = open_wal(dir.path(), u64::MAX);
    assert_records(&replayed, 1..=2);
    assert_eq!(append_one(&wal, &payload(3)), 3);
}

#[test]
fn panicking_callback_poisons_but_record_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), u64::MAX);
    append_one(&wal, &payload(1));
    let err = wal
        .append_blocking(payload(2), true, Box::new(|_| panic!("callback bug")))
        .unwrap_err();
    assert!(matches!(err, WalError::Poisoned { seq: 2, .. }), "{err}");
    let err = wal.append_blocking(payload(3), true, noop()).unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    drop(wal);
    let (_, replayed) = open_wal(dir.path(), u64::MAX);
    assert_records(&replayed, 1..=2);
}

#[test]
fn callbacks_see_last_seq_and_cannot_block_on_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open_wal(dir.path(), u64::MAX);
    let wal = Arc::new(wal);
    let seen = Arc::new(Mutex::new(None));
    let (wal2, seen2) = (Arc::clone(&wal), Arc::clone(&seen));
    let seq = wal
        .append_blocking(
            payload(1),
            true,
            Box::new(move |seq| {
                let nested = wal2.append_blocking(payload(9), true, noop());
                let truncate = wal2.truncate_through(seq);
                *seen2.lock().unwrap() = Some((wal2.last_seq(), nested, truncate));
            }),
        )
        .unwrap();
    let (last, nested, truncate) = seen.lock().unwrap().take().unwrap();
    assert_eq!((seq, last), (1, 1));
    assert!(matches!(nested, Err(WalError::Reentrant)));
    assert!(matches!(truncate, Err(WalError::Reentrant)));
    assert_eq!(append_one(&wal, &payload(2)), 2);
}
