//! Rows merged only where sources share times; compaction keeps the answers.

use hearth_storage::Storage;
use hearth_storage::flush::FlushReason;

use super::{config, open, physical_plan, table, write_lines};
use crate::QueryEngine;

#[test]
fn only_times_two_sources_share_are_merged() {
    use crate::provider::merge_intervals;
    let file = |min_time: i64, max_time: i64| hearth_catalog::catalog::FileMeta {
        path: String::new(),
        date: String::new(),
        size: 1,
        rows: 1,
        min_time,
        max_time,
        rank: 0,
        order: Default::default(),
    };
    // Flushes of out-of-order writes overlap at their edges: only the shared minutes merge.
    let files = [file(0, 100), file(90, 200), file(201, 300), file(400, 500)];
    assert_eq!(merge_intervals(&files, &[]), [(90, 100)]);
    // Buffered writes merge over their whole range (the buffer may repeat an identity), and
    // meet the files there; touching intervals become one.
    assert_eq!(
        merge_intervals(&files, &[(250, 260), (261, 270), (450, 450)]),
        [(90, 100), (250, 270), (450, 450)]
    );
    // A file inside another: the inner one's whole range.
    assert_eq!(
        merge_intervals(&[file(0, 100), file(40, 60)], &[]),
        [(40, 60)]
    );
    // Many overlaps are joined into at most 32 intervals, closest first, covering them all.
    let many: Vec<_> = (0..100)
        .map(|i| file(i * 10, i * 10 + 5))
        .chain([file(0, 1_000)])
        .collect();
    let joined = merge_intervals(&many, &[]);
    assert_eq!(joined.len(), 32);
    for f in &many[..100] {
        assert!(
            joined
                .iter()
                .any(|&(lo, hi)| lo <= f.min_time && f.max_time <= hi)
        );
    }
    assert!(merge_intervals(&[file(0, 9), file(10, 19)], &[]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persisted_days_without_overlap_are_read_without_merging() {
    let (_dir, storage, engine) = open().await;
    for day in 0..2 {
        let t = 1_714_521_600 + day * 86_400;
        let body = format!("m,s=a v={day} {t}\nm,s=b v={day} {t}\n");
        write_lines(&storage, &body).await;
        storage.flush(FlushReason::Age).await.unwrap();
    }
    let sql = "SELECT s, v, time FROM m ORDER BY time, s";
    let plan = physical_plan(&engine, sql).await;
    assert!(!plan.contains("last_value"), "{plan}");
    let before = table(&engine, sql).await;
    // A late overwrite of day 0 in the buffer: that day's file and the buffer are merged, day 1
    // is still read as it is.
    write_lines(&storage, "m,s=a v=7 1714521600").await;
    let plan = physical_plan(&engine, sql).await;
    assert!(plan.contains("last_value"), "{plan}");
    let after = table(&engine, sql).await;
    assert_ne!(before, after);
    assert_eq!(
        after,
        "\
+---+-----+----------------------+
| s | v   | time                 |
+---+-----+----------------------+
| a | 7.0 | 2024-05-01T00:00:00Z |
| b | 0.0 | 2024-05-01T00:00:00Z |
| a | 1.0 | 2024-05-02T00:00:00Z |
| b | 1.0 | 2024-05-02T00:00:00Z |
+---+-----+----------------------+"
    );
    // A query of day 1 alone neither reads the buffered write of day 0 nor merges.
    let day_one = "SELECT s, v FROM m WHERE time >= '2024-05-02T00:00:00Z' ORDER BY s";
    let plan = physical_plan(&engine, day_one).await;
    assert!(!plan.contains("last_value"), "{plan}");
    assert!(!plan.contains("partition_sizes"), "{plan}");
    assert_eq!(
        table(&engine, day_one).await,
        "\
+---+-----+
| s | v   |
+---+-----+
| a | 1.0 |
| b | 1.0 |
+---+-----+"
    );
    // A query reaching into day 0 reads it, merged.
    let late = "SELECT v FROM m WHERE s = 'a' AND time < '2024-05-01T00:00:01Z'";
    let plan = physical_plan(&engine, late).await;
    assert!(
        plan.contains("last_value") && plan.contains("partition_sizes"),
        "{plan}"
    );
    assert!(table(&engine, late).await.contains("| 7.0 |"));
}

/// Writes readings `from..to` (i) of three households at 1764000000 + 10 i s, power
/// k * 1000 + i, and flushes them into a file of their own.
async fn write_readings(storage: &Storage, k: i64, from: i64, to: i64) {
    let body: String = (from..to)
        .flat_map(|i| {
            (0..3).map(move |h| {
                format!(
                    "energy,household=h{h} power_w={} {}\n",
                    k * 1000 + i,
                    1_764_000_000 + 10 * i
                )
            })
        })
        .collect();
    write_lines(storage, &body).await;
    storage.flush(FlushReason::Age).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_leaves_files_that_share_no_time_and_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    // `energy` (time, household, power_w) is compacted at 147 bytes a row: 400 rows fit the
    // budget, and a file of 200 rows or more is large.
    cfg.compaction.memory_budget = 147 * 400;
    let storage = Storage::open(cfg.clone()).await.unwrap();
    // One large file (i < 100), then four small ones, the first rewriting i = 95..99 as writes
    // that arrived out of order around a flush would.
    for (k, from, to) in [
        (1, 0, 100),
        (2, 95, 110),
        (3, 110, 125),
        (4, 125, 140),
        (5, 140, 155),
    ] {
        write_readings(&storage, k, from, to).await;
    }
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let sql = "SELECT household, power_w, time FROM energy ORDER BY household, time";
    let before = table(&engine, sql).await;
    assert!(
        before.contains("| h0        | 2097.0  | 2025-11-24T16:16:10Z |"),
        "{before}"
    );
    assert!(before.contains("| h2        | 1094.0  |"), "{before}");
    // The first file and the second share five readings: reading them merges rows.
    let explain = format!("EXPLAIN {sql}");
    assert!(table(&engine, &explain).await.contains("last_value"));

    let done = storage.compact().await.unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!((done[0].files_in, done[0].files_out), (5, 2), "{done:?}");
    assert_eq!(done[0].rows_out, 3 * 155);
    let files = "SELECT rows, min_time, max_time FROM system.parquet_files ORDER BY min_time";
    assert_eq!(
        table(&engine, files).await,
        "\
+------+----------------------+----------------------+
| rows | min_time             | max_time             |
+------+----------------------+----------------------+
| 285  | 2025-11-24T16:00:00Z | 2025-11-24T16:15:40Z |
| 180  | 2025-11-24T16:15:50Z | 2025-11-24T16:25:40Z |
+------+----------------------+----------------------+"
    );
    assert_eq!(table(&engine, sql).await, before);
    assert!(!table(&engine, &explain).await.contains("last_value"));
    // The same from the Delta log after a restart.
    drop(engine);
    drop(storage);
    let storage = Storage::open(cfg).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    assert_eq!(table(&engine, sql).await, before);
    assert_eq!(table(&engine, files).await.lines().count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_day_s_last_file_is_trimmed_apart_from_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    // As above: 400 rows of `energy` fit the budget, a file of 200 rows or more is large. One
    // small file is below `min_files` (4), so only settling compacts it: after two passes
    // without a change.
    cfg.compaction.memory_budget = 147 * 400;
    cfg.compaction.settle_passes = 2;
    let storage = Storage::open(cfg).await.unwrap();
    for (k, from, to) in [(1, 0, 100), (2, 95, 110)] {
        write_readings(&storage, k, from, to).await;
    }
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let sql = "SELECT household, power_w, time FROM energy ORDER BY household, time";
    let before = table(&engine, sql).await;
    assert!(before.contains("| h1        | 2097.0  |"), "{before}");
    let explain = format!("EXPLAIN {sql}");
    let files = "SELECT rows, min_time, max_time FROM system.parquet_files ORDER BY min_time";
    for pass in 0..2 {
        assert_eq!(storage.compact().await.unwrap(), vec![], "pass {pass}");
        assert!(table(&engine, &explain).await.contains("last_value"));
    }
    let done = storage.compact().await.unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!((done[0].files_in, done[0].files_out), (2, 2), "{done:?}");
    assert_eq!(
        table(&engine, files).await,
        "\
+------+----------------------+----------------------+
| rows | min_time             | max_time             |
+------+----------------------+----------------------+
| 285  | 2025-11-24T16:00:00Z | 2025-11-24T16:15:40Z |
| 45   | 2025-11-24T16:15:50Z | 2025-11-24T16:18:10Z |
+------+----------------------+----------------------+"
    );
    assert_eq!(table(&engine, sql).await, before);
    assert!(!table(&engine, &explain).await.contains("last_value"));
    // Settled and apart: later passes leave it as it is.
    for _ in 0..3 {
        assert_eq!(storage.compact().await.unwrap(), vec![]);
    }
}
