//! End-to-end tests of storage + query in one process: writes, merges, flushes, restarts.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use hearth_lineproto::Precision;
use hearth_storage::flush::FlushReason;
use hearth_storage::{Storage, StorageConfig, WriteOptions};

use crate::QueryEngine;

fn config(dir: &std::path::Path) -> StorageConfig {
    StorageConfig::in_dir(dir)
}

const SECONDS: WriteOptions = WriteOptions {
    precision: Precision::Second,
    accept_partial: true,
    no_sync: false,
};

async fn table(engine: &QueryEngine, sql: &str) -> String {
    let (_, batches) = engine.query("home", sql).await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_merge_by_identity_across_buffer_flush_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let body = "energy,household=h1,meter=m1 import_kwh=1.5,power_w=230 1764000000\n\
                energy,household=h2,meter=m1 import_kwh=7.0 1764000000\n\
                energy,household=h1,meter=m1 power_w=240 1764000000\n";
    let out = storage
        .write_lp("home", body.as_bytes(), SECONDS)
        .await
        .unwrap();
    assert_eq!((out.rows, out.errors.len()), (3, 0));
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let sql = "SELECT household, meter, import_kwh, power_w, time FROM energy ORDER BY household";
    let expected = "\
+-----------+-------+------------+---------+----------------------+
| household | meter | import_kwh | power_w | time                 |
+-----------+-------+------------+---------+----------------------+
| h1        | m1    | 1.5        | 240.0   | 2025-11-24T16:00:00Z |
| h2        | m1    | 7.0        |         | 2025-11-24T16:00:00Z |
+-----------+-------+------------+---------+----------------------+";
    assert_eq!(table(&engine, sql).await, expected);

    // Flush to Delta, then overwrite one field in the buffer: the file row and the buffer row merge.
    assert_eq!(storage.flush(FlushReason::Age).await.unwrap(), 2);
    storage
        .write_lp(
            "home",
            b"energy,household=h2,meter=m1 power_w=5 1764000000",
            SECONDS,
        )
        .await
        .unwrap();
    let after = table(&engine, sql).await;
    assert!(
        after.contains("| h2        | m1    | 7.0        | 5.0     |"),
        "{after}"
    );
    // The system tables see the committed file and the buffered row.
    let tables = "SELECT table_name, columns, files, rows, buffered_rows, delta_version, \
                  min_time, max_time FROM system.tables";
    let expected = "\
+------------+---------+-------+------+---------------+---------------+----------------------+----------------------+
| table_name | columns | files | rows | buffered_rows | delta_version | min_time             | max_time             |
+------------+---------+-------+------+---------------+---------------+----------------------+----------------------+
| energy     | 5       | 1     | 2    | 1             | 1             | 2025-11-24T16:00:00Z | 2025-11-24T16:00:00Z |
+------------+---------+-------+------+---------------+---------------+----------------------+----------------------+";
    assert_eq!(table(&engine, tables).await, expected);
    let files = "SELECT table_name, partition, rows, bytes > 0 AS has_bytes, \
                 path LIKE 'date=2025-11-24/part-%.zstd.parquet' AS named FROM system.parquet_files";
    let expected = "\
+------------+------------+------+-----------+-------+
| table_name | partition  | rows | has_bytes | named |
+------------+------------+------+-----------+-------+
| energy     | 2025-11-24 | 2    | true      | true  |
+------------+------------+------+-----------+-------+";
    assert_eq!(table(&engine, files).await, expected);

    // Restart: the flushed row comes from Delta, the unflushed one from the WAL.
    drop(engine);
    let storage_dir = dir.path().to_path_buf();
    drop(storage);
    let storage = Storage::open(config(&storage_dir)).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    assert_eq!(table(&engine, sql).await, after);
    let (_, batches) = engine
        .query(
            "home",
            "SELECT count(*) AS n FROM energy WHERE household = 'h2'",
        )
        .await
        .unwrap();
    assert!(
        pretty_format_batches(&batches)
            .unwrap()
            .to_string()
            .contains("| 1 |")
    );

    // A second flush and restart give the same answer again.
    storage.flush(FlushReason::Shutdown).await.unwrap();
    drop(engine);
    drop(storage);
    let storage = Storage::open(config(&storage_dir)).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    assert_eq!(table(&engine, sql).await, after);
    assert_eq!(
        storage
            .catalog()
            .database("home")
            .unwrap()
            .table("energy")
            .unwrap()
            .state()
            .files
            .len(),
        2
    );
    let _ = Arc::strong_count(&storage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_and_table_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let err = engine.query("nope", "SELECT 1").await.unwrap_err();
    assert_eq!(err.to_string(), "database \"nope\" does not exist");
    storage.write_lp("home", b"m v=1 1", SECONDS).await.unwrap();
    let err = engine
        .query("home", "SELECT * FROM missing")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_writes_never_give_a_column_two_types() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            let value = if i % 2 == 0 {
                format!("{i}i")
            } else {
                format!("{i}.5")
            };
            let body = format!("race,writer=w{i} v={value} 1");
            storage
                .write_lp("home", body.as_bytes(), SECONDS)
                .await
                .unwrap()
        }));
    }
    let mut written = 0;
    for t in tasks {
        let out = t.await.unwrap();
        assert_eq!(out.rows + out.errors.len(), 1);
        written += out.rows;
    }
    assert_eq!(
        written, 16,
        "exactly the writes of the first type are accepted"
    );
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let (_, batches) = engine
        .query("home", "SELECT count(*) AS n, count(v) AS nv FROM race")
        .await
        .unwrap();
    let text = pretty_format_batches(&batches).unwrap().to_string();
    assert!(text.contains("| 16 | 16 |"), "{text}");
    storage.flush(FlushReason::Age).await.unwrap();
    let (_, batches) = engine
        .query("home", "SELECT count(v) AS nv FROM race")
        .await
        .unwrap();
    assert!(
        pretty_format_batches(&batches)
            .unwrap()
            .to_string()
            .contains("| 16 |")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_past_retention_are_hidden_then_their_days_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.retention = Some(std::time::Duration::from_secs(5 * 86_400));
    let storage = Storage::open(cfg.clone()).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = format!(
        "energy,household=h1 power_w=1 {}\nenergy,household=h1 power_w=2 {}\n\
         energy,household=h2 power_w=3 {}\n",
        now - 10 * 86_400,
        now - 86_400,
        now - 60
    );
    storage
        .write_lp("home", body.as_bytes(), SECONDS)
        .await
        .unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let sql = "SELECT household, power_w FROM energy ORDER BY power_w";
    let expected = "\
+-----------+---------+
| household | power_w |
+-----------+---------+
| h1        | 2.0     |
| h2        | 3.0     |
+-----------+---------+";
    // Hidden while buffered...
    assert_eq!(table(&engine, sql).await, expected);
    storage.flush(FlushReason::Age).await.unwrap();
    let days = "SELECT count(*) AS old FROM system.parquet_files \
                WHERE max_time < now() - INTERVAL '5 days'";
    assert!(
        table(&engine, days).await.contains("| 1   |"),
        "{}",
        table(&engine, days).await
    );
    // ...and in files, before the compactor drops their day.
    assert_eq!(table(&engine, sql).await, expected);
    storage.compact().await.unwrap();
    assert!(
        table(&engine, days).await.contains("| 0   |"),
        "{}",
        table(&engine, days).await
    );
    assert_eq!(table(&engine, sql).await, expected);
    // The drop is a Delta commit: a restart (and any reader) sees the same.
    drop(engine);
    drop(storage);
    let storage = Storage::open(cfg).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    assert_eq!(table(&engine, sql).await, expected);
    assert!(table(&engine, days).await.contains("| 0   |"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_any_letters_and_spaces_survive_a_flush_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let body = "Küche\\ Süd,raum=a temperatur=21.5 1764000000\n";
    let out = storage
        .write_lp("Haus Ö", body.as_bytes(), SECONDS)
        .await
        .unwrap();
    assert_eq!((out.rows, out.errors.len()), (1, 0));
    storage.flush(FlushReason::Age).await.unwrap();
    drop(storage);
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let (_, batches) = engine
        .query("Haus Ö", r#"SELECT raum, temperatur FROM "Küche Süd""#)
        .await
        .unwrap();
    let text = pretty_format_batches(&batches).unwrap().to_string();
    assert!(text.contains("| a    | 21.5       |"), "{text}");
    // The rows came from the Delta table: nothing was left in the WAL.
    let (_, batches) = engine
        .query("Haus Ö", "SELECT files, buffered_rows FROM system.tables")
        .await
        .unwrap();
    let text = pretty_format_batches(&batches).unwrap().to_string();
    assert!(text.contains("| 1     | 0             |"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_outside_the_queried_time_range_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    // Two days, so two files after the flush; then an update of day two in the buffer.
    let body = "energy,household=h1 power_w=1 1764000000\n\
                energy,household=h1 power_w=2 1764100000\n";
    storage
        .write_lp("home", body.as_bytes(), SECONDS)
        .await
        .unwrap();
    storage.flush(FlushReason::Age).await.unwrap();
    storage
        .write_lp("home", b"energy,household=h1 power_w=3 1764100000", SECONDS)
        .await
        .unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let day_two = "SELECT power_w FROM energy WHERE time >= '2025-11-25T00:00:00Z'";
    assert!(table(&engine, day_two).await.contains("| 3.0     |"));
    assert!(!table(&engine, day_two).await.contains("| 1.0     |"));
    let plan = table(&engine, &format!("EXPLAIN {day_two}")).await;
    assert!(plan.contains("date=2025-11-25"), "{plan}");
    assert!(!plan.contains("date=2025-11-24"), "{plan}");
    // Without a time condition both files are read.
    let plan = table(&engine, "EXPLAIN SELECT power_w FROM energy").await;
    assert!(
        plan.contains("date=2025-11-24") && plan.contains("date=2025-11-25"),
        "{plan}"
    );
    // Exact time, and the literal on the left.
    let at = "SELECT power_w FROM energy WHERE '2025-11-24T16:00:00Z' = time";
    assert!(table(&engine, at).await.contains("| 1.0     |"));
    // Conditions on tags reach the Parquet scan as its predicate (row groups, pages, rows), and
    // the merge with the buffer is unchanged.
    let tagged = "SELECT power_w FROM energy WHERE household = 'h1' ORDER BY time";
    let plan = table(&engine, &format!("EXPLAIN {tagged}")).await;
    let scans: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains("file_type=parquet"))
        .collect();
    assert!(
        !scans.is_empty()
            && scans
                .iter()
                .all(|l| l.contains("predicate=") && l.contains("household@0 = h1")),
        "{plan}"
    );
    let rows = table(&engine, tagged).await;
    assert!(
        rows.contains("| 1.0     |") && rows.contains("| 3.0     |"),
        "{rows}"
    );
    assert!(!rows.contains("| 2.0     |"), "{rows}");
    let none = "SELECT count(*) AS n FROM energy WHERE household = 'h2'";
    assert!(table(&engine, none).await.contains("| 0 |"));
}

#[test]
fn time_bounds_take_every_comparison_with_a_timestamp() {
    use crate::provider::time_bounds;
    use datafusion::common::ScalarValue;
    use datafusion::prelude::{col, lit};
    let ts = |v: i64| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(v),
            Some("UTC".into()),
        ))
    };
    let ns = |v: i64| lit(ScalarValue::TimestampNanosecond(Some(v), None));
    assert_eq!(time_bounds(&[]), (i64::MIN, i64::MAX));
    assert_eq!(
        time_bounds(&[col("time").gt_eq(ts(10)).and(col("time").lt(ts(20)))]),
        (10, 20)
    );
    assert_eq!(time_bounds(&[ts(10).lt(col("time"))]), (10, i64::MAX));
    assert_eq!(time_bounds(&[col("time").eq(ns(1_500))]), (1, 2));
    assert_eq!(
        time_bounds(&[col("time").lt_eq(ns(-1_500))]),
        (i64::MIN, -1)
    );
    // Other columns, other operators and OR do not narrow anything.
    assert_eq!(time_bounds(&[col("other").gt(ts(5))]), (i64::MIN, i64::MAX));
    assert_eq!(
        time_bounds(&[col("time").gt(ts(5)).or(col("time").lt(ts(1)))]),
        (i64::MIN, i64::MAX)
    );
}

/// The physical plan of `sql`, as `EXPLAIN` prints it.
async fn physical_plan(engine: &QueryEngine, sql: &str) -> String {
    let (_, batches) = engine
        .query("home", &format!("EXPLAIN {sql}"))
        .await
        .unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

const LATEST: &str = "SELECT DISTINCT ON (home, room) home, room, temp, hum, time FROM climate \
                      ORDER BY home, room, time DESC";
/// The same rows asked so that the latest-row cache cannot answer.
const LATEST_BY_SCAN: &str = "SELECT home, room, temp, hum, time FROM (SELECT *, row_number() \
                              OVER (PARTITION BY home, room ORDER BY time DESC) AS n FROM climate) \
                              WHERE n = 1 ORDER BY home, room";

/// The latest temperature and humidity per series since `since` (seconds); `by_scan` adds a
/// `count(*)`, which keeps the latest-row cache from answering.
fn last_values(since: i64, by_scan: bool) -> String {
    let extra = if by_scan { ", count(*) AS n" } else { "" };
    format!(
        "SELECT home, room, t, h FROM (SELECT home, room, last(temp, time) AS t, \
         last(hum, time) AS h{extra} FROM climate WHERE time >= to_timestamp({since}) \
         GROUP BY home, room) ORDER BY home, room"
    )
}

/// The latest row of each home meeting `condition`; `by_scan` asks it so that the cache cannot
/// answer (ties at the latest time go to the first room, as the cache breaks them).
fn latest_per_home(condition: &str, by_scan: bool) -> String {
    if by_scan {
        format!(
            "SELECT home, room, temp, hum, time FROM (SELECT *, row_number() OVER \
             (PARTITION BY home ORDER BY time DESC, room) AS n FROM climate {condition}) \
             WHERE n = 1 ORDER BY home"
        )
    } else {
        format!(
            "SELECT DISTINCT ON (home) home, room, temp, hum, time FROM climate {condition} \
             ORDER BY home, time DESC"
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_rows_from_the_cache_always_equal_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = Storage::open(config(dir.path())).await.unwrap();
    let mut engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    // A fixed-seed stream of writes: in order, late, repeated and overwriting points of 12
    // series, fields written separately; flushes, restarts and deletes in between.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let rooms = ["kitchen", "bath", "hall"];
    let mut clock = 1_714_557_600_i64;
    for round in 0..160 {
        let mut body = String::new();
        for _ in 0..1 + next(8) {
            let home = next(4);
            let room = rooms[next(3) as usize];
            // Mostly forward in time, sometimes late, sometimes the same second again.
            let t = match next(10) {
                0..=5 => {
                    clock += next(30) as i64;
                    clock
                }
                6 | 7 => clock - next(3600) as i64,
                _ => clock,
            };
            let fields = match next(3) {
                0 => format!("temp={}", next(300) as f64 / 10.0),
                1 => format!("hum={}i", next(100)),
                _ => format!("temp={},hum={}i", next(300) as f64 / 10.0, next(100)),
            };
            body.push_str(&format!("climate,home=h{home},room={room} {fields} {t}\n"));
        }
        storage
            .write_lp("home", body.as_bytes(), SECONDS)
            .await
            .unwrap();
        match round % 40 {
            13 => {
                storage.flush(FlushReason::Age).await.unwrap();
            }
            27 => {
                let home = next(4);
                engine
                    .execute_command(
                        "home",
                        &format!(
                            "DELETE FROM climate WHERE home = 'h{home}' \
                             AND time > to_timestamp({})",
                            clock - 600
                        ),
                    )
                    .await
                    .unwrap()
                    .unwrap();
            }
            39 => {
                drop(engine);
                drop(storage);
                storage = Storage::open(config(dir.path())).await.unwrap();
                engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
            }
            _ => {}
        }
        assert_eq!(
            table(&engine, LATEST).await,
            table(&engine, LATEST_BY_SCAN).await,
            "round {round}"
        );
        let since = clock - 1800;
        assert_eq!(
            table(&engine, &last_values(since, false)).await,
            table(&engine, &last_values(since, true)).await,
            "round {round}"
        );
        // On some of the tags, with and without conditions on whole series.
        for condition in [
            String::new(),
            format!("WHERE room <> 'hall' AND time >= to_timestamp({since})"),
        ] {
            assert_eq!(
                table(&engine, &latest_per_home(&condition, false)).await,
                table(&engine, &latest_per_home(&condition, true)).await,
                "round {round}, {condition}"
            );
        }
    }
    let plan = physical_plan(&engine, &last_values(clock, false)).await;
    assert!(plan.contains("__last_time"), "{plan}");
    let scan = physical_plan(&engine, &last_values(clock, true)).await;
    assert!(!scan.contains("__last_time"), "{scan}");
    // The cache answered: no merging aggregate, no Parquet scan in the plan.
    let plan = physical_plan(&engine, LATEST).await;
    assert!(!plan.contains("last_value"), "{plan}");
    assert!(
        !plan.contains("ParquetSource") && !plan.contains("file_groups"),
        "{plan}"
    );
    let scan = physical_plan(&engine, LATEST_BY_SCAN).await;
    assert!(scan.contains("last_value"), "{scan}");
    // `DISTINCT ON` every tag needs no aggregate over the cached rows (one per series); on some
    // of the tags the scan of the cache keeps the first row of each group itself (no
    // `first_value`, no window function), and the answer is still the scan's, also with more
    // sort keys after the time.
    assert!(!plan.contains("first_value"), "{plan}");
    let plan = physical_plan(&engine, &latest_per_home("WHERE room <> 'hall'", false)).await;
    assert!(
        !plan.contains("row_number")
            && !plan.contains("first_value")
            && !plan.contains("FilterExec")
            && !plan.contains("file_groups"),
        "{plan}"
    );
    let per_home = "SELECT DISTINCT ON (home) home, room, temp, time FROM climate \
                    ORDER BY home, time DESC, room";
    let per_home_by_scan = "SELECT home, room, temp, time FROM (SELECT *, row_number() OVER \
                            (PARTITION BY home ORDER BY time DESC, room) AS n FROM climate) \
                            WHERE n = 1 ORDER BY home";
    assert_eq!(
        table(&engine, per_home).await,
        table(&engine, per_home_by_scan).await
    );
    let plan = physical_plan(&engine, per_home).await;
    assert!(
        !plan.contains("row_number")
            && !plan.contains("first_value")
            && !plan.contains("file_groups"),
        "{plan}"
    );
}

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
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    for day in 0..2 {
        let t = 1_714_521_600 + day * 86_400;
        let body = format!("m,s=a v={day} {t}\nm,s=b v={day} {t}\n");
        storage
            .write_lp("home", body.as_bytes(), SECONDS)
            .await
            .unwrap();
        storage.flush(FlushReason::Age).await.unwrap();
    }
    let sql = "SELECT s, v, time FROM m ORDER BY time, s";
    let plan = physical_plan(&engine, sql).await;
    assert!(!plan.contains("last_value"), "{plan}");
    let before = table(&engine, sql).await;
    // A late overwrite of day 0 in the buffer: that day's file and the buffer are merged, day 1
    // is still read as it is.
    storage
        .write_lp("home", b"m,s=a v=7 1714521600", SECONDS)
        .await
        .unwrap();
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_tests_each_condition_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let body =
        "cpu,host=h0 v=1i 1714521600\ncpu,host=h1 v=2i 1714521601\ncpu,host=h0 v=3i 1714521602\n";
    storage
        .write_lp("home", body.as_bytes(), SECONDS)
        .await
        .unwrap();
    storage.flush(FlushReason::Age).await.unwrap();
    let sql = "SELECT sum(v) FROM cpu WHERE host = 'h0' AND time >= '2024-05-01T00:00:01Z'";
    assert!(table(&engine, sql).await.contains("| 3 "), "{sql}");
    let plan = physical_plan(&engine, sql).await;
    let scan = plan
        .lines()
        .find(|l| l.contains("DataSourceExec"))
        .unwrap_or_else(|| panic!("{plan}"));
    let predicate = scan
        .split("predicate=")
        .nth(1)
        .and_then(|p| p.split(", pruning_").next())
        .unwrap_or_else(|| panic!("{scan}"));
    assert_eq!(
        predicate.trim(),
        "host@0 = h0 AND time@2 >= 1714521601000000",
        "{scan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_analyze_shows_row_groups_pruned_by_tag() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    // 3 hosts × three quarters of a row group each: one file sorted by host, three row groups,
    // so host h0 lies in the first row group only. (A reading every 100 ms: all in one day.)
    let per_host = hearth_storage::persist::ROW_GROUP_ROWS * 3 / 4;
    let millis = WriteOptions {
        precision: Precision::Millisecond,
        ..SECONDS
    };
    for host in 0..3 {
        let body: String = (0..per_host)
            .map(|i| format!("cpu,host=h{host} v={i}i {}\n", 1_714_521_600_000 + i * 100))
            .collect();
        storage
            .write_lp("home", body.as_bytes(), millis)
            .await
            .unwrap();
    }
    storage.flush(FlushReason::Age).await.unwrap();
    let sql = "SELECT count(*), max(v) FROM cpu WHERE host = 'h0'";
    let max = per_host - 1;
    assert_eq!(
        table(&engine, sql).await,
        format!(
            "\
+----------+------------+
| count(*) | max(cpu.v) |
+----------+------------+
| {per_host:<8} | {max:<10} |
+----------+------------+"
        )
    );
    let plan = table(&engine, &format!("EXPLAIN ANALYZE {sql}")).await;
    assert!(
        plan.contains("row_groups_pruned_statistics=3 total → 1 matched"),
        "{plan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_sort_order_spares_sorts_and_holds_with_null_tags() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let day = 1_714_521_600;
    // Day 0: every row has both tags, written out of order.
    let body: String = [
        ("b", "y", 3),
        ("a", "x", 2),
        ("b", "x", 1),
        ("a", "y", 4),
        ("a", "x", 0),
    ]
    .iter()
    .map(|(home, room, i)| format!("m,home={home},room={room} v={i}i {}\n", day + 60 * i))
    .collect();
    storage
        .write_lp("home", body.as_bytes(), SECONDS)
        .await
        .unwrap();
    storage.flush(FlushReason::Age).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let by_tags = "SELECT home, room, v FROM m ORDER BY home, room, time";
    let plan = physical_plan(&engine, by_tags).await;
    assert!(!plan.contains("SortExec:"), "{plan}");
    let expected = "\
+------+------+---+
| home | room | v |
+------+------+---+
| a    | x    | 0 |
| a    | x    | 2 |
| a    | y    | 4 |
| b    | x    | 1 |
| b    | y    | 3 |
+------+------+---+";
    assert_eq!(table(&engine, by_tags).await, expected);
    // A household's series in time order: the tags are fixed by the condition.
    let one = "SELECT v FROM m WHERE home = 'a' AND room = 'x' ORDER BY time";
    assert!(!physical_plan(&engine, one).await.contains("SortExec:"));

    // Day 1: some rows without a room, so NULLs first is the only order that holds there;
    // `ORDER BY` (NULLs last, as in PostgreSQL) then sorts, and the answer is still right.
    let body: String = [("a", Some("x"), 0), ("a", None, 1), ("b", None, 2)]
        .iter()
        .map(|(home, room, i)| {
            let room = room.map(|r| format!(",room={r}")).unwrap_or_default();
            format!(
                "m,home={home}{room} v={}i {}\n",
                10 + i,
                day + 86_400 + 60 * i
            )
        })
        .collect();
    storage
        .write_lp("home", body.as_bytes(), SECONDS)
        .await
        .unwrap();
    storage.flush(FlushReason::Age).await.unwrap();
    let expected = "\
+------+------+----+
| home | room | v  |
+------+------+----+
| a    | x    | 0  |
| a    | x    | 2  |
| a    | x    | 10 |
| a    | y    | 4  |
| a    |      | 11 |
| b    | x    | 1  |
| b    | y    | 3  |
| b    |      | 12 |
+------+------+----+";
    let nulls_first = "SELECT home, room, v FROM m \
                       ORDER BY home NULLS FIRST, room NULLS FIRST, time";
    let expected_nulls_first = "\
+------+------+----+
| home | room | v  |
+------+------+----+
| a    |      | 11 |
| a    | x    | 0  |
| a    | x    | 2  |
| a    | x    | 10 |
| a    | y    | 4  |
| b    |      | 12 |
| b    | x    | 1  |
| b    | y    | 3  |
+------+------+----+";
    let mut engine = engine;
    let mut storage = storage;
    for restart in [false, true] {
        // After a restart the order is known from the Delta log's statistics.
        if restart {
            drop(engine);
            drop(storage);
            storage = Storage::open(config(dir.path())).await.unwrap();
            engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
        }
        assert!(physical_plan(&engine, by_tags).await.contains("SortExec:"));
        assert_eq!(table(&engine, by_tags).await, expected);
        // Two files of different days, each its own sorted stream: merged, not sorted.
        let plan = physical_plan(&engine, nulls_first).await;
        assert!(!plan.contains("SortExec:"), "{plan}");
        assert!(plan.contains("SortPreservingMergeExec"), "{plan}");
        assert_eq!(table(&engine, nulls_first).await, expected_nulls_first);
    }
}

/// `sql` without its `LIMIT`/`OFFSET` (so no newest-first rewrite), then rows `offset..offset +
/// limit` of the answer: what `sql` must answer.
async fn top_of_full_answer(
    engine: &QueryEngine,
    sql: &str,
    limit: usize,
    offset: usize,
) -> String {
    let full = sql.split(" LIMIT ").next().unwrap();
    let (schema, batches) = engine.query("home", full).await.unwrap();
    let all = datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap();
    let top = all.slice(
        offset.min(all.num_rows()),
        limit.min(all.num_rows().saturating_sub(offset)),
    );
    pretty_format_batches(&[top]).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_first_queries_read_only_the_newest_days_and_answer_as_a_full_sort() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    // 2025-11-10: every host every 10 minutes. 2025-11-21: h2 twice, late. 2025-11-22: h1 and h3
    // every minute from 10:00 to 11:59, h2 at 08:00 and 09:30.
    let day = |d: i64| 1_763_596_800 + (d - 20) * 86_400;
    let mut body = String::new();
    for i in 0..144 {
        for host in ["h1", "h2", "h3"] {
            body.push_str(&format!("m,host={host} v={i}i {}\n", day(10) + i * 600));
        }
    }
    for (t, v) in [(day(21) + 23 * 3600, 1), (day(21) + 23 * 3600 + 1800, 2)] {
        body.push_str(&format!("m,host=h2 v={v}i {t}\n"));
    }
    for (t, v) in [(day(22) + 8 * 3600, 3), (day(22) + 9 * 3600 + 1800, 4)] {
        body.push_str(&format!("m,host=h2 v={v}i {t}\n"));
    }
    for i in 0..120 {
        for (host, scale) in [("h1", 1), ("h3", 2)] {
            let t = day(22) + 10 * 3600 + i * 60;
            body.push_str(&format!("m,host={host} v={}i {t}\n", i * scale));
        }
    }
    storage
        .write_lp("home", body.as_bytes(), SECONDS)
        .await
        .unwrap();
    storage.flush(FlushReason::Age).await.unwrap();
    // Six minutes of h1 after noon, still in the buffer.
    let buffered: String = (0..6)
        .map(|i| {
            format!(
                "m,host=h1 v={}i {}\n",
                1000 + i,
                day(22) + 12 * 3600 + i * 60
            )
        })
        .collect();
    storage
        .write_lp("home", buffered.as_bytes(), SECONDS)
        .await
        .unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();

    let by_minute = "SELECT date_trunc('minute', time) AS minute, max(v) AS top FROM m \
                     WHERE time < '2025-11-22T11:00:00Z' GROUP BY minute ORDER BY minute DESC \
                     LIMIT 3";
    let sparse = "SELECT host, v, time FROM m WHERE host = 'h2' ORDER BY time DESC LIMIT 4";
    let having = "SELECT date_bin(INTERVAL '1 hour', time, TIMESTAMP '2025-01-01T00:30:00Z') AS \
                  hour, host, count(*) AS n FROM m GROUP BY hour, host HAVING count(*) > 1 \
                  ORDER BY hour DESC, host LIMIT 2 OFFSET 1";
    let in_subquery = "SELECT t.h, t.v FROM (SELECT host AS h, v, time AS at FROM m) AS t \
                       WHERE t.v >= 100 ORDER BY t.at DESC, t.h LIMIT 3";
    let cases = [
        (by_minute, 3, 0),
        (sparse, 4, 0),
        (having, 2, 1),
        (in_subquery, 3, 0),
    ];
    let mut expected = Vec::new();
    for (sql, limit, offset) in cases {
        let plan = table(&engine, &format!("EXPLAIN {sql}")).await;
        assert!(plan.contains("__recent"), "{sql}\n{plan}");
        expected.push(top_of_full_answer(&engine, sql, limit, offset).await);
    }
    // Rows the answers were read from, by hand.
    assert!(
        expected[0].contains("| 2025-11-22T10:59:00Z | 118 |"),
        "{}",
        expected[0]
    );
    assert!(
        expected[0].contains("| 2025-11-22T10:57:00Z | 114 |"),
        "{}",
        expected[0]
    );
    let h2: Vec<&str> = expected[1]
        .lines()
        .filter(|l| l.contains("| h2 "))
        .collect();
    assert_eq!(h2.len(), 4, "{}", expected[1]);
    assert!(
        h2[0].contains("| 4 | 2025-11-22T09:30:00Z |"),
        "{}",
        expected[1]
    );
    assert!(
        h2[3].contains("| 1 | 2025-11-21T23:00:00Z |"),
        "{}",
        expected[1]
    );
    // Hour bins from :30: h1's buffered 12:00-12:05 with 11:30-11:59 make 36 rows.
    assert!(
        expected[2].contains("| 2025-11-22T11:30:00Z | h3   | 30 |"),
        "{}",
        expected[2]
    );
    assert!(
        expected[2].contains("| 2025-11-22T10:30:00Z | h1   | 60 |"),
        "{}",
        expected[2]
    );
    assert!(expected[3].contains("| h1 | 1005 |"), "{}", expected[3]);

    // The first day is gone from disk: a query that read it would fail. The newest-first ones
    // do not read it, and answer the same.
    let first_day = dir.path().join("objects/home/m/date=2025-11-10");
    std::fs::remove_dir_all(&first_day).unwrap();
    assert!(engine.query("home", "SELECT sum(v) FROM m").await.is_err());
    for ((sql, ..), expected) in cases.iter().zip(&expected) {
        assert_eq!(&table(&engine, sql).await, expected, "{sql}");
    }
    // The sparse host needed a second, wider window; the minutes one window; both read Parquet.
    for (sql, rounds) in [(sparse, "rounds=2"), (by_minute, "rounds=1")] {
        let analyzed = table(&engine, &format!("EXPLAIN ANALYZE {sql}")).await;
        let line = analyzed.lines().find(|l| l.contains("RecentExec")).unwrap();
        assert!(line.contains(rounds), "{sql}\n{analyzed}");
        let bytes = line.split("bytes_scanned=").nth(1).unwrap_or_default();
        assert!(
            bytes.starts_with(|c: char| c.is_ascii_digit() && c != '0'),
            "{line}"
        );
    }
    // Not rewritten: oldest first, and sorting first by something other than time.
    for sql in [
        "SELECT v FROM m ORDER BY time LIMIT 3",
        "SELECT host, max(v) AS top FROM m GROUP BY host ORDER BY top DESC LIMIT 1",
    ] {
        let plan = table(&engine, &format!("EXPLAIN {sql}")).await;
        assert!(!plan.contains("__recent"), "{sql}\n{plan}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_leaves_files_that_share_no_time_and_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    // `energy` (time, household, power_w) is compacted at 147 bytes a row: 400 rows fit the
    // budget, and a file of 200 rows or more is large.
    cfg.compaction.memory_budget = 147 * 400;
    let storage = Storage::open(cfg.clone()).await.unwrap();
    // Flush k writes readings i of three households at 1764000000 + 10 i s, power k * 1000 + i:
    // one large file (i < 100), then four small ones, the first rewriting i = 95..99 as writes
    // that arrived out of order around a flush would.
    let flush = async |k: i64, from: i64, to: i64| {
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
        storage
            .write_lp("home", body.as_bytes(), SECONDS)
            .await
            .unwrap();
        storage.flush(FlushReason::Age).await.unwrap();
    };
    flush(1, 0, 100).await;
    flush(2, 95, 110).await;
    flush(3, 110, 125).await;
    flush(4, 125, 140).await;
    flush(5, 140, 155).await;
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
