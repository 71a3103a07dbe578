//! After a graceful stop the data is a plain Delta Lake table that another reader sees whole.

use crate::server::{Server, query_json, write_two_days};

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
