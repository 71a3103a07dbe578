//! Writes merged by identity, across flushes and restarts; errors; retention; names.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use hearth_storage::Storage;
use hearth_storage::flush::FlushReason;

use super::{SECONDS, config, open, table, write_lines};
use crate::QueryEngine;

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
    let text = table(
        &engine,
        "SELECT count(*) AS n FROM energy WHERE household = 'h2'",
    )
    .await;
    assert!(text.contains("| 1 |"), "{text}");

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
    let (_dir, storage, engine) = open().await;
    let err = engine.query("nope", "SELECT 1").await.unwrap_err();
    assert_eq!(err.to_string(), "database \"nope\" does not exist");
    write_lines(&storage, "m v=1 1").await;
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
    let text = table(&engine, "SELECT count(*) AS n, count(v) AS nv FROM race").await;
    assert!(text.contains("| 16 | 16 |"), "{text}");
    storage.flush(FlushReason::Age).await.unwrap();
    let text = table(&engine, "SELECT count(v) AS nv FROM race").await;
    assert!(text.contains("| 16 |"), "{text}");
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
    write_lines(&storage, &body).await;
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
