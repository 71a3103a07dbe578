//! The files' sort order spares sorts; newest-first reads of `ORDER BY time DESC LIMIT`.

use datafusion::arrow::util::pretty::pretty_format_batches;
use hearth_storage::Storage;
use hearth_storage::flush::FlushReason;

use super::{config, physical_plan, table, write_lines};
use crate::QueryEngine;

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
    write_lines(&storage, &body).await;
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
    write_lines(&storage, &body).await;
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
    write_lines(&storage, &body).await;
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
    write_lines(&storage, &buffered).await;
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
