//! After a graceful stop the data is a plain Delta Lake table that another reader sees whole;
//! the compactor keeps its files apart in time.

use std::time::{Duration, Instant};

use crate::server::{Server, post, query_json, write_two_days};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_leaves_delta_tables_that_deltalake_reads() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--flush-interval", "1h"]);
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    // Two days, two tables, an overwrite of one identity, a field that appears later.
    write_two_days(&url).await;
    let expected = query_json(
        &server,
        "home",
        "SELECT household, import_kwh, power_w, export_kwh FROM energy ORDER BY household, time",
    )
    .await;
    let status = server.stop();
    assert!(status.success(), "exit status {status}");

    let table = dir.path().join("objects/home/energy");
    assert!(table.join("_delta_log/00000000000000000000.json").is_file());
    let days: Vec<String> = std::fs::read_dir(&table)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("date="))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(days, ["date=2025-11-24", "date=2025-11-25"]);

    // An independent Delta reader: the `deltalake` Python package.
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1])
rows = sorted(t.to_pyarrow_table().to_pylist(), key=lambda r: (r["household"], r["time"]))
print(json.dumps([{k: r[k] for k in ("household", "import_kwh", "power_w", "export_kwh")} for r in rows]))
print(json.dumps(sorted(str(r["date"]) for r in rows)))
# The statistics of each file, as a Delta reader skips files by them.
import pyarrow as pa
files = pa.table(t.get_add_actions(flatten=True)).to_pylist()
print(json.dumps(sorted([str(f["partition.date"]), f["num_records"], f["min.household"],
                         f["max.household"], int(f["min.time"].timestamp()),
                         int(f["max.time"].timestamp()), f["null_count.export_kwh"]]
                        for f in files)))
sys.stdout.flush()
# Skip interpreter teardown: the deltalake/pyarrow thread pools have been seen to abort there
# ("terminate called without an active exception") on a loaded machine, after the work is done.
os._exit(0)
"#;
    let stdout = crate::server::python(script, &[table.to_str().unwrap()]);
    let mut lines = stdout.lines();
    let rows: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    // JSON from Hearth leaves NULL fields out; Python prints them as null.
    let normalized: Vec<serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let obj: serde_json::Map<_, _> = r
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            serde_json::Value::Object(obj)
        })
        .collect();
    assert_eq!(serde_json::Value::Array(normalized), expected);
    let dates: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        dates,
        serde_json::json!(["2025-11-24", "2025-11-24", "2025-11-25"])
    );
    // One file a day: its rows, household and time ranges, and rows without export_kwh, as
    // written above (h2's update merged into its row).
    let stats: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        stats,
        serde_json::json!([
            ["2025-11-24", 2, "h1", "h2", 1764000000, 1764000000, 1],
            ["2025-11-25", 1, "h1", "h1", 1764100000, 1764100000, 1]
        ])
    );

    // And Hearth itself reads the same rows back after the restart.
    let server = Server::start(dir.path(), &[]);
    let again = query_json(
        &server,
        "home",
        "SELECT household, import_kwh, power_w, export_kwh FROM energy ORDER BY household, time",
    )
    .await;
    assert_eq!(again, expected);
}

/// A finished day whose last file is small and overlaps the one before it (writes that arrived
/// late around a flush) is below `--compaction-min-files`; once the day stays unchanged for ten
/// compactor passes it is settled, and the compactor trims the two files apart: same answers,
/// no seam for queries to merge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_day_s_overlapping_last_file_is_trimmed_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--flush-size",
            "1KiB",
            "--compaction-interval",
            "1s",
            "--compaction-target-size",
            "4KiB",
            "--vacuum-grace",
            "0s",
        ],
    );
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    let files = async || {
        query_json(
            &server,
            "home",
            "SELECT rows, bytes, min_time, max_time FROM system.parquet_files ORDER BY rank",
        )
        .await
        .as_array()
        .unwrap()
        .clone()
    };
    let wait_for_files = async |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = files().await;
            if now.len() == n {
                return now;
            }
            assert!(Instant::now() < deadline, "waiting for {n} files: {now:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // Readings i of three households every 10 s; power varies so the file does not compress
    // to nothing. The second write repeats the first's last 20 instants (new values) and goes
    // on for 20 more.
    let readings = |from: i64, to: i64, k: i64| -> String {
        (from..to)
            .flat_map(|i| {
                (0..3).map(move |h| {
                    let power = (i * 7919 + h * 104_729 + k) % 5003;
                    format!(
                        "energy,household=h{h} power_w={power} {}\n",
                        1_764_000_000 + 10 * i
                    )
                })
            })
            .collect()
    };
    assert_eq!(post(&url, readings(0, 1000, 0)).await.0, 204);
    wait_for_files(1).await;
    assert_eq!(post(&url, readings(980, 1020, 1)).await.0, 204);
    let overlapping = wait_for_files(2).await;
    // The premise: a large file (at least the target size), then a lone small one reaching
    // back into its time range.
    assert_eq!(overlapping[0]["rows"], 3000, "{overlapping:?}");
    assert!(
        overlapping[0]["bytes"].as_i64().unwrap() >= 4096,
        "{overlapping:?}"
    );
    assert_eq!(overlapping[1]["rows"], 120, "{overlapping:?}");
    assert!(
        overlapping[1]["bytes"].as_i64().unwrap() < 4096,
        "{overlapping:?}"
    );
    assert!(overlapping[1]["min_time"].as_str() <= overlapping[0]["max_time"].as_str());
    let sql = "SELECT household, power_w, time FROM energy ORDER BY household, time";
    let before = query_json(&server, "home", sql).await;
    assert_eq!(before.as_array().unwrap().len(), 3060);
    // h0 at instant 999, written by both: the late write's value wins.
    assert_eq!(before[999]["power_w"], f64::from((999 * 7919 + 1) % 5003));
    let explain = format!("EXPLAIN {sql}");
    assert!(
        query_json(&server, "home", &explain)
            .await
            .to_string()
            .contains("last_value")
    );

    // Settled after ten unchanged passes (a second each), then trimmed: the large file's last
    // 20 instants (60 rows) join the small file's.
    let deadline = Instant::now() + Duration::from_secs(90);
    let apart = loop {
        let now = files().await;
        if now.len() == 2 && now[0]["max_time"].as_str() < now[1]["min_time"].as_str() {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "not trimmed apart: {now:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(apart[0]["rows"], 2940, "{apart:?}");
    assert_eq!(apart[1]["rows"], 120, "{apart:?}");
    assert_eq!(apart[0]["max_time"], "2025-11-24T18:43:10Z", "{apart:?}");
    assert_eq!(apart[1]["min_time"], "2025-11-24T18:43:20Z", "{apart:?}");
    assert_eq!(query_json(&server, "home", sql).await, before);
    assert!(
        !query_json(&server, "home", &explain)
            .await
            .to_string()
            .contains("last_value")
    );
    assert!(server.log().contains("\"compacted\""));
}
