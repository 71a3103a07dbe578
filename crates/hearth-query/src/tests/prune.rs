//! What a scan does not read: files outside the time range, row groups and pages by tag, each
//! condition tested once.

use hearth_lineproto::Precision;
use hearth_storage::flush::FlushReason;
use hearth_storage::{Storage, WriteOptions};

use super::{SECONDS, config, open, physical_plan, table, write_lines};
use crate::QueryEngine;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_outside_the_queried_time_range_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    // Two days, so two files after the flush; then an update of day two in the buffer.
    let body = "energy,household=h1 power_w=1 1764000000\n\
                energy,household=h1 power_w=2 1764100000\n";
    write_lines(&storage, body).await;
    storage.flush(FlushReason::Age).await.unwrap();
    write_lines(&storage, "energy,household=h1 power_w=3 1764100000").await;
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

/// Three rows of hosts h0 and h1, persisted in one file.
async fn open_with_a_file() -> (tempfile::TempDir, std::sync::Arc<Storage>, QueryEngine) {
    let (dir, storage, engine) = open().await;
    let body =
        "cpu,host=h0 v=1i 1714521600\ncpu,host=h1 v=2i 1714521601\ncpu,host=h0 v=3i 1714521602\n";
    write_lines(&storage, body).await;
    storage.flush(FlushReason::Age).await.unwrap();
    (dir, storage, engine)
}

/// Host h0's rows from the second second on.
const H0_LATER: &str =
    "SELECT sum(v) FROM cpu WHERE host = 'h0' AND time >= '2024-05-01T00:00:01Z'";

/// The predicate of each Parquet scan in `plan`, as `EXPLAIN` prints it.
fn parquet_predicates(plan: &str) -> Vec<&str> {
    plan.lines()
        .filter(|l| l.contains("DataSourceExec") && l.contains("file_type=parquet"))
        .map(|scan| {
            scan.split("predicate=")
                .nth(1)
                .and_then(|p| p.split(", pruning_").next())
                .unwrap_or_else(|| panic!("{scan}"))
                .trim()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_tests_each_condition_once() {
    let (_dir, _storage, engine) = open_with_a_file().await;
    assert!(table(&engine, H0_LATER).await.contains("| 3 "));
    let plan = physical_plan(&engine, H0_LATER).await;
    assert_eq!(
        parquet_predicates(&plan),
        ["host@0 = h0 AND time@2 >= 1714521601000000"],
        "{plan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_below_a_merge_tests_each_condition_once() {
    let (_dir, storage, engine) = open_with_a_file().await;
    // A buffered write over the file's time range: its rows are merged with the file's.
    write_lines(&storage, "cpu,host=h0 v=5i 1714521602").await;
    assert!(table(&engine, H0_LATER).await.contains("| 5 "));
    let plan = physical_plan(&engine, H0_LATER).await;
    assert!(plan.contains("AggregateExec"), "{plan}");
    let predicates = parquet_predicates(&plan);
    // The file is read twice: outside the buffered write's time as it is, inside it merged.
    assert_eq!(predicates.len(), 2, "{plan}");
    for predicate in predicates {
        let conditions: Vec<&str> = predicate.split(" AND ").collect();
        let distinct: std::collections::HashSet<&str> = conditions.iter().copied().collect();
        assert!(conditions.contains(&"host@0 = h0"), "{plan}");
        assert_eq!(distinct.len(), conditions.len(), "{plan}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_analyze_shows_row_groups_pruned_by_tag() {
    let (_dir, storage, engine) = open().await;
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
async fn a_files_page_index_is_read_once_and_kept_with_its_footer() {
    let (_dir, storage, engine) = open().await;
    let body = "cpu,host=h0 v=1i 1714521600\ncpu,host=h1 v=2i 1714521601\n";
    write_lines(&storage, body).await;
    storage.flush(FlushReason::Age).await.unwrap();
    let table_meta = storage
        .catalog()
        .database("home")
        .and_then(|db| db.table("cpu"))
        .unwrap();
    let files = table_meta.state().files;
    assert_eq!(files.len(), 1);
    let key = storage
        .store()
        .table_file_key("home", "cpu", &files[0].path);
    let cache = engine.runtime().cache_manager.get_file_metadata_cache();
    let page_index = || {
        cache
            .get(&key)
            .map(|entry| entry.file_metadata.extra_info()["page_index"].clone())
    };
    assert_eq!(page_index(), None, "nothing cached before the first query");
    // A query whose predicate prunes pages: DataFusion alone would cache the footer without
    // the page index and read the index from the file again at every query.
    let sql = "SELECT v FROM cpu WHERE host = 'h1' AND time >= '2024-05-01T00:00:01Z'";
    assert!(table(&engine, sql).await.contains("| 2 "), "{sql}");
    assert_eq!(page_index().as_deref(), Some("true"));
    assert!(table(&engine, sql).await.contains("| 2 "), "{sql}");
}
