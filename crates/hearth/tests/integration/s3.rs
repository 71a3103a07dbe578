//! Delta tables on a real S3 API: moto's server (`moto_server` from PyPI, run as
//! `python3 -m moto.server`), started here on a free port. Persist and read back, a fresh node from the bucket alone, an independent Delta reader,
//! and a store that stops answering (SIGSTOP) in the middle of a load.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::{Server, http, post, query_json, sql, write_two_days};

/// A running `moto_server` with one bucket.
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
    pub(crate) bucket: String,
}

impl Moto {
    /// Starts moto on a free port and creates `bucket`.
    pub(crate) async fn start(bucket: &str) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `python3 -m moto.server` is `moto_server` without relying on pip's script directory
        // being on PATH.
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match http().put(format!("{endpoint}/{bucket}")).send().await {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => panic!("creating bucket {bucket}: {}", r.status()),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!(
                    "moto's server did not start: {e} (pip install 'moto[server]'; scripts/test.sh does)"
                ),
            }
        }
        Moto {
            child,
            endpoint,
            bucket: bucket.to_string(),
        }
    }

    /// The server flags and environment for a Hearth on `s3://bucket/prefix`.
    pub(crate) fn flags(&self, prefix: &str) -> Vec<String> {
        vec![
            "--object-store".into(),
            format!("s3://{}/{prefix}", self.bucket),
            "--s3-endpoint".into(),
            self.endpoint.clone(),
        ]
    }

    /// Object keys under `prefix`.
    pub(crate) async fn keys(&self, prefix: &str) -> Vec<String> {
        let url = format!(
            "{}/{}?list-type=2&prefix={prefix}&max-keys=1000",
            self.endpoint, self.bucket
        );
        let xml = http().get(url).send().await.unwrap().text().await.unwrap();
        xml.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// The bytes of object `key`, read with boto3 (which moto brings); `None` if it is missing.
    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let program = r#"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="testing",
                  aws_secret_access_key="testing", region_name="us-east-1")
try:
    body = s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])["Body"].read()
except s3.exceptions.NoSuchKey:
    sys.exit(3)
sys.stdout.buffer.write(body)
"#;
        let out = Command::new("python3")
            .args(["-c", program, &self.endpoint, &self.bucket, key])
            .output()
            .unwrap();
        match out.status.code() {
            Some(0) => Some(out.stdout),
            Some(3) => None,
            _ => panic!("python: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// Runs `script` (Python: `t` is the Delta table at `uri` opened by the `deltalake` package,
    /// `json` is imported) and returns what it prints: an independent reader of the bucket.
    pub(crate) fn read_delta(&self, uri: &str, script: &str) -> Vec<u8> {
        let program = format!(
            r#"
import json, os, sys
from deltalake import DeltaTable
opts = {{"AWS_ENDPOINT_URL": sys.argv[2], "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}}
t = DeltaTable(sys.argv[1], storage_options=opts)
{script}
sys.stdout.flush()
os._exit(0)
"#
        );
        let out = Command::new("python3")
            .args(["-c", &program, uri, &self.endpoint])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Credentials and settings moto accepts.
pub(crate) const AWS_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_ALLOW_HTTP", "true"),
];

fn start(data_dir: &std::path::Path, moto: &Moto, prefix: &str, extra: &[&str]) -> Server {
    let mut flags = moto.flags(prefix);
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Server::start_env(data_dir, &flags, &AWS_ENV)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persists_to_s3_and_a_fresh_node_serves_it_from_the_bucket_alone() {
    let moto = Moto::start("warehouse").await;
    let first = tempfile::tempdir().unwrap();
    let server = start(
        first.path(),
        &moto,
        "prod/hearth",
        &["--flush-interval", "1h"],
    );
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    write_two_days(&url).await;
    let sql = "SELECT household, import_kwh, power_w, export_kwh, time FROM energy \
               ORDER BY household, time";
    let expected = query_json(&server, "home", sql).await;
    assert_eq!(expected.as_array().unwrap().len(), 3);
    assert!(server.stop().success());

    // The layout: a plain Delta table per measurement under the prefix, day partitions.
    let keys = moto.keys("prod/hearth/home/energy/").await;
    assert!(
        keys.contains(&"prod/hearth/home/energy/_delta_log/00000000000000000000.json".to_string()),
        "{keys:?}"
    );
    let days: std::collections::BTreeSet<&str> = keys
        .iter()
        .filter_map(|k| k.split('/').nth(4))
        .filter(|p| p.starts_with("date="))
        .collect();
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        ["date=2025-11-24", "date=2025-11-25"]
    );
    assert!(
        moto.keys("prod/hearth/home/climate/_delta_log/")
            .await
            .len()
            >= 2
    );

    // A new node with an empty data dir sees every row and the schemas at once.
    let second = tempfile::tempdir().unwrap();
    let server = start(second.path(), &moto, "prod/hearth", &[]);
    assert_eq!(query_json(&server, "home", sql).await, expected);
    let climate = query_json(&server, "home", "SELECT room, heating FROM climate").await;
    assert_eq!(
        climate,
        serde_json::json!([{"room": "kitchen", "heating": true}])
    );
    let pg = server.pg("home").await;
    let columns = crate::server::strings(
        &pg,
        "SELECT column_name FROM information_schema.columns \
         WHERE table_name = 'energy' ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(
        columns,
        [
            "household",
            "meter",
            "import_kwh",
            "power_w",
            "export_kwh",
            "time"
        ]
    );
    // Writes on the new node go on after the persisted ones (rank above them).
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    assert_eq!(
        post(&url, "energy,household=h1,meter=m1 power_w=7 1764000000")
            .await
            .0,
        204
    );
    let rows = query_json(
        &server,
        "home",
        "SELECT import_kwh, power_w FROM energy WHERE household = 'h1' ORDER BY time LIMIT 1",
    )
    .await;
    assert_eq!(
        rows,
        serde_json::json!([{"import_kwh": 1.5, "power_w": 7.0}])
    );
    assert!(server.stop().success());

    // An independent Delta reader (the `deltalake` Python package) on the bucket.
    let out = moto.read_delta(
        "s3://warehouse/prod/hearth/home/energy",
        r#"
rows = t.to_pyarrow_table().to_pylist()
rows = [[r["household"], r["import_kwh"], r["power_w"]] for r in rows]
print(json.dumps(sorted(rows, key=lambda r: [-1 if v is None else v for v in r])))
"#,
    );
    // Each flush's file holds the rows that flush merged: the second node's write of h1 at
    // 1764000000 (power_w only) is a row of its own until compaction merges the files; Hearth
    // merged it on read above.
    let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([
            ["h1", null, 7.0],
            ["h1", 1.5, 230.0],
            ["h1", 9.5, null],
            ["h2", 2.5, 120.0]
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stops_answering_mid_load_loses_nothing() {
    let moto = Moto::start("stalls").await;
    let dir = tempfile::tempdir().unwrap();
    // Frequent flushes, so the persister is busy with the store when it stalls.
    let server = start(
        dir.path(),
        &moto,
        "h",
        &["--flush-size", "256KiB", "--flush-interval", "1s"],
    );
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    let client = http();
    let mut acked = 0usize;
    let mut batch = 0usize;
    let send = async |batch: usize| {
        let body: String = (0..200)
            .map(|i| format!("m,host=h{} v={i}i {}\n", batch % 5, batch * 1000 + i))
            .collect();
        let r = client.post(&url).body(body).send().await.unwrap();
        r.status().as_u16()
    };
    for _ in 0..20 {
        assert_eq!(send(batch).await, 204);
        batch += 1;
        acked += 200;
    }
    moto.signal("-STOP");
    // While the store hangs, writes are still acknowledged from the WAL.
    let stalled = Instant::now();
    while stalled.elapsed() < Duration::from_secs(4) {
        assert_eq!(send(batch).await, 204);
        batch += 1;
        acked += 200;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = query_json(&server, "home", "SELECT count(*) AS n FROM m").await;
    assert_eq!(during[0]["n"], acked);
    moto.signal("-CONT");
    for _ in 0..20 {
        assert_eq!(send(batch).await, 204);
        batch += 1;
        acked += 200;
    }
    assert!(server.stop().success());

    // Everything is in the bucket: a fresh node sees each acknowledged row once.
    let fresh = tempfile::tempdir().unwrap();
    let server = start(fresh.path(), &moto, "h", &[]);
    let rows = query_json(
        &server,
        "home",
        "SELECT count(*) AS n, count(DISTINCT time) AS t FROM m",
    )
    .await;
    assert_eq!(rows[0]["n"], acked);
    assert_eq!(rows[0]["t"], acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_small_files_without_changing_answers() {
    let moto = Moto::start("compact").await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &moto,
        "c",
        &[
            "--flush-size",
            "1KiB",
            "--compaction-interval",
            "1s",
            "--compaction-min-files",
            "2",
            "--vacuum-grace",
            "0s",
        ],
    );
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    // Eight flushes of one day: each rewrites some identities (a field each, so merging across
    // files matters) and adds new ones.
    for round in 0..8 {
        let body: String = (0..40)
            .map(|i| {
                let t = 1_764_000_000 + (i + round * 10) * 60;
                let field = if round % 2 == 0 {
                    "power_w"
                } else {
                    "import_kwh"
                };
                format!("energy,household=h{} {field}={round}.5 {t}\n", i % 3)
            })
            .collect();
        assert_eq!(post(&url, body).await.0, 204);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let sql = "SELECT household, import_kwh, power_w, time FROM energy ORDER BY household, time";
    let before = query_json(&server, "home", sql).await;
    let identities = before.as_array().unwrap().len();
    // Wait for the compactor (it logs what it did), then for the vacuum of the inputs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.log().contains("\"compacted\"") {
        assert!(
            Instant::now() < deadline,
            "no compaction; log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(query_json(&server, "home", sql).await, before);
    let parquet = async || {
        moto.keys("c/home/energy/date=")
            .await
            .into_iter()
            .filter(|k| k.ends_with(".parquet"))
            .count()
    };
    // Flushes that land after a compaction are merged by the next one: in the end one file.
    while parquet().await > 1 {
        assert!(
            Instant::now() < deadline,
            "inputs not compacted and vacuumed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The system tables reflect the store: one file, one row per identity.
    let tables = query_json(&server, "home", "SELECT files, rows FROM system.tables").await;
    assert_eq!(
        tables,
        serde_json::json!([{"files": 1, "rows": identities}])
    );
    let files = query_json(
        &server,
        "home",
        "SELECT table_name, partition, rows FROM system.parquet_files",
    )
    .await;
    assert_eq!(
        files,
        serde_json::json!([{"table_name": "energy", "partition": "2025-11-24", "rows": identities}])
    );
    assert!(server.stop().success());

    // An outside reader now sees one row per identity, with the merged values.
    let out = moto.read_delta(
        "s3://compact/c/home/energy",
        r#"
rows = t.to_pyarrow_table().to_pylist()
rows.sort(key=lambda r: (r["household"], r["time"]))
print(json.dumps({"files": len(t.file_uris()), "rows": [[r["household"], r["import_kwh"], r["power_w"]] for r in rows]}))
"#,
    );
    let seen: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(seen["files"], 1, "{seen}");
    let expected: Vec<serde_json::Value> = before
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::json!([r["household"], r["import_kwh"], r["power_w"]]))
        .collect();
    let rows = seen["rows"].as_array().unwrap();
    assert_eq!(rows.len(), identities);
    assert_eq!(rows, &expected);

    // A fresh node gives the same answers.
    let fresh = tempfile::tempdir().unwrap();
    let server = start(fresh.path(), &moto, "c", &[]);
    assert_eq!(query_json(&server, "home", sql).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_old_days_from_the_bucket_and_travels_with_it() {
    let moto = Moto::start("retain").await;
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--flush-interval",
        "1s",
        "--compaction-interval",
        "1s",
        "--vacuum-grace",
        "0s",
    ];
    let server = start(dir.path(), &moto, "r", &flags);
    let now = crate::databases::farm_with_an_old_and_a_new_row(&server).await;
    let q = crate::databases::BARN;
    // The old day is flushed, then dropped by a Delta commit and its file vacuumed: one file
    // (the kept day) is left, in the catalog and in the bucket.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let files = query_json(
            &server,
            "farm",
            "SELECT count(*) AS n FROM system.parquet_files",
        )
        .await;
        let keys: Vec<String> = moto
            .keys("r/farm/barn/date=")
            .await
            .into_iter()
            .filter(|k| k.ends_with(".parquet"))
            .collect();
        if files[0]["n"] == 1 && keys.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "old day not dropped: {files} {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        server
            .log()
            .contains("dropped day partitions past retention")
    );
    assert!(server.stop().success());

    // An outside reader sees only the kept day.
    let out = moto.read_delta(
        "s3://retain/r/farm/barn",
        r#"
print(json.dumps(sorted(r["t"] for r in t.to_pyarrow_table().to_pylist())))
"#,
    );
    let seen: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(seen, serde_json::json!([2.0]));

    // A fresh node reads the database's retention from the bucket: an old row written there
    // is hidden at once.
    let fresh = tempfile::tempdir().unwrap();
    let server = start(fresh.path(), &moto, "r", &[]);
    let body = format!("barn,sensor=b t=3 {}\n", now - 9 * 86_400);
    let url = server.url("/api/v3/write_lp?db=farm&precision=s");
    assert_eq!(post(&url, body).await.0, 204);
    assert_eq!(
        query_json(&server, "farm", q).await,
        serde_json::json!([{"t": 2.0}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_every_version_of_the_matched_rows() {
    let moto = Moto::start("deletes").await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &moto, "d", &["--flush-interval", "1h"]);
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    // Two flushes: the second overwrites h1's power at 1764000000 (a glitch) in a newer file.
    let first = "energy,household=h1 power_w=5,import_kwh=1 1764000000\n\
                 energy,household=h1 power_w=6,import_kwh=2 1764000060\n\
                 energy,household=h2 power_w=7,import_kwh=3 1764000000\n\
                 energy,household=h2 power_w=8,import_kwh=4 1764100000\n";
    assert_eq!(post(&url, first).await.0, 204);
    // A flush happens inside DELETE; a no-op delete leaves the rows.
    assert_eq!(
        sql(
            &server,
            "home",
            "DELETE FROM energy WHERE household = 'nobody'"
        )
        .await,
        (200, serde_json::json!({"command": "DELETE", "rows": 0}))
    );
    assert_eq!(
        post(&url, "energy,household=h1 power_w=9000 1764000000")
            .await
            .0,
        204
    );
    assert_eq!(
        sql(
            &server,
            "home",
            "DELETE FROM energy WHERE household = 'nobody'"
        )
        .await
        .0,
        200
    );
    let files = query_json(
        &server,
        "home",
        "SELECT count(*) AS n FROM system.parquet_files",
    )
    .await;
    assert_eq!(
        files[0]["n"], 3,
        "two days in the first flush, one in the second"
    );

    // The glitch is deleted by a condition on a field: the older version (power 5, in the older
    // file) must not come back.
    assert_eq!(
        sql(&server, "home", "DELETE FROM energy WHERE power_w > 1000").await,
        (200, serde_json::json!({"command": "DELETE", "rows": 1}))
    );
    let q = "SELECT household, power_w, import_kwh FROM energy ORDER BY household, time";
    let expected = serde_json::json!([
        {"household": "h1", "power_w": 6.0, "import_kwh": 2.0},
        {"household": "h2", "power_w": 7.0, "import_kwh": 3.0},
        {"household": "h2", "power_w": 8.0, "import_kwh": 4.0}
    ]);
    assert_eq!(query_json(&server, "home", q).await, expected);

    // A household's data on request, over the PostgreSQL protocol, in a time range.
    let pg = server.pg("home").await;
    let n = pg
        .execute(
            "DELETE FROM energy WHERE household = 'h2' AND time >= '2025-11-25T00:00:00Z'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let err = pg.execute("DELETE FROM nothing", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42P01", "{err}");
    // Rows written after a DELETE are not touched by it.
    assert_eq!(
        post(&url, "energy,household=h2 power_w=10 1764100000")
            .await
            .0,
        204
    );
    let expected = serde_json::json!([
        {"household": "h1", "power_w": 6.0, "import_kwh": 2.0},
        {"household": "h2", "power_w": 7.0, "import_kwh": 3.0},
        {"household": "h2", "power_w": 10.0}
    ]);
    assert_eq!(query_json(&server, "home", q).await, expected);
    drop(pg);
    assert!(server.stop().success());

    // The Delta table itself no longer has the deleted rows (an outside reader), and a fresh
    // node agrees.
    let out = moto.read_delta(
        "s3://deletes/d/home/energy",
        r#"
print(json.dumps(sorted(r["power_w"] for r in t.to_pyarrow_table().to_pylist())))
"#,
    );
    let seen: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(seen, serde_json::json!([6.0, 7.0, 10.0]));
    let fresh = tempfile::tempdir().unwrap();
    let server = start(fresh.path(), &moto, "d", &[]);
    assert_eq!(query_json(&server, "home", q).await, expected);
}

/// Views live in the bucket with their data: a fresh node with an empty data dir serves a view
/// and a view over it, including buckets that were still pending (late data not yet
/// refreshed), and maintains them from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_and_their_pending_buckets_travel_with_the_bucket() {
    use crate::views::rows;
    const HOURLY: &str = "SELECT date_bin(INTERVAL '1 hour', time) AS time, household, \
                          count(*) AS n, max(power_w) AS peak FROM energy GROUP BY 1, 2";
    const DAILY: &str = "SELECT date_bin(INTERVAL '1 day', time) AS time, household, \
                         sum(n) AS n, max(peak) AS peak FROM energy_1h GROUP BY 1, 2";
    let moto = Moto::start("views").await;
    // No background refresh: what the fresh node shows of the late row comes from the
    // pending buckets the first node saved.
    let flags = ["--view-refresh-interval", "24h"];
    let first = tempfile::tempdir().unwrap();
    let server = start(first.path(), &moto, "v", &flags);
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    write_two_days(&url).await;
    let pg = server.pg("home").await;
    pg.batch_execute(&format!("CREATE MATERIALIZED VIEW energy_1h AS {HOURLY}"))
        .await
        .unwrap();
    pg.batch_execute(&format!("CREATE MATERIALIZED VIEW energy_1d AS {DAILY}"))
        .await
        .unwrap();
    // A late reading in an hour that is already materialized, and one in a new hour.
    let late = "energy,household=h1,meter=m2 power_w=999 1764000030\n\
                energy,household=h3,meter=m1 power_w=5 1764003700";
    assert_eq!(post(&url, late).await.0, 204);
    let hourly = rows(&pg, "SELECT * FROM energy_1h").await.unwrap();
    let daily = rows(&pg, "SELECT * FROM energy_1d").await.unwrap();
    assert_eq!(hourly, rows(&pg, HOURLY).await.unwrap());
    assert_eq!(daily, rows(&pg, DAILY).await.unwrap());
    assert!(
        hourly.contains(&vec![
            "2025-11-24 16:00:00+00".to_string(),
            "h1".to_string(),
            "2".to_string(),
            "999".to_string()
        ]),
        "{hourly:?}"
    );
    let pending = rows(
        &pg,
        "SELECT view_name, buckets_pending > 0 FROM system.views",
    )
    .await
    .unwrap();
    assert_eq!(pending, [["energy_1d", "t"], ["energy_1h", "t"]]);
    drop(pg);
    assert!(server.stop().success());
    let keys = moto.keys("v/home/_views/energy_1h/").await;
    assert!(
        keys.iter().any(|k| k.contains("/_delta_log/")),
        "the view's Delta table is in the bucket: {keys:?}"
    );

    let fresh = tempfile::tempdir().unwrap();
    let server = start(fresh.path(), &moto, "v", &flags);
    let pg = server.pg("home").await;
    assert_eq!(rows(&pg, "SELECT * FROM energy_1h").await.unwrap(), hourly);
    assert_eq!(rows(&pg, "SELECT * FROM energy_1d").await.unwrap(), daily);
    let listed = rows(
        &pg,
        "SELECT view_name, source, buckets_pending > 0 FROM system.views",
    )
    .await
    .unwrap();
    assert_eq!(
        listed,
        [
            ["energy_1d", "energy_1h", "t"],
            ["energy_1h", "energy", "t"]
        ]
    );
    // Maintained on the new node: refreshed, then written to, still equal to the queries.
    pg.batch_execute("REFRESH MATERIALIZED VIEW energy_1h; REFRESH MATERIALIZED VIEW energy_1d")
        .await
        .unwrap();
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    assert_eq!(
        post(&url, "energy,household=h2,meter=m1 power_w=7 1764100100")
            .await
            .0,
        204
    );
    assert_eq!(
        rows(&pg, "SELECT * FROM energy_1h").await.unwrap(),
        rows(&pg, HOURLY).await.unwrap()
    );
    assert_eq!(
        rows(&pg, "SELECT * FROM energy_1d").await.unwrap(),
        rows(&pg, DAILY).await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_exports_travel_with_the_bucket() {
    use crate::views::rows;
    let moto = Moto::start("jobs").await;
    let first = tempfile::tempdir().unwrap();
    let server = start(first.path(), &moto, "p", &[]);
    write_two_days(&server.url("/api/v3/write_lp?db=home&precision=s")).await;
    let pg = server.pg("home").await;
    pg.batch_execute(
        "SELECT cron.schedule('export', '0 3 1 * *', $$
           COPY (SELECT household, count(*) AS n FROM energy WHERE time < now()
                 GROUP BY household ORDER BY household)
             TO 'exports/energy.csv' (FORMAT csv, HEADER)
         $$)",
    )
    .await
    .unwrap();
    pg.batch_execute("SELECT cron.run('export', '2025-12-01 03:00:00+00')")
        .await
        .unwrap();
    let csv = moto
        .get("p/exports/energy.csv")
        .expect("the export is in the bucket");
    assert_eq!(String::from_utf8(csv).unwrap(), "household,n\nh1,2\nh2,1\n");
    // The full URL of the bucket's prefix is the same place; another bucket or prefix is not.
    pg.batch_execute(&format!(
        "COPY (SELECT 1 AS one) TO 's3://{}/p/exports/one.parquet' (FORMAT parquet)",
        moto.bucket
    ))
    .await
    .unwrap();
    let parquet = moto.get("p/exports/one.parquet").unwrap();
    assert_eq!(&parquet[..4], b"PAR1");
    for target in ["s3://other/p/x.csv", "s3://jobs/q/x.csv"] {
        let e = pg
            .batch_execute(&format!("COPY (SELECT 1) TO '{target}' (FORMAT csv)"))
            .await
            .unwrap_err();
        assert_eq!(e.code().unwrap().code(), "42501", "{target}");
    }
    assert_eq!(moto.keys("q/").await, Vec::<String>::new());
    drop(pg);
    assert!(server.stop().success());
    assert!(
        moto.keys("p/_cron/")
            .await
            .contains(&"p/_cron/state.json".to_string())
    );

    // A fresh node on the same bucket has the job and its run.
    let fresh = tempfile::tempdir().unwrap();
    let server = start(fresh.path(), &moto, "p", &[]);
    let pg = server.pg("home").await;
    assert_eq!(
        rows(&pg, "SELECT jobname, schedule FROM cron.job")
            .await
            .unwrap(),
        [["export", "0 3 1 * *"]]
    );
    assert_eq!(
        rows(
            &pg,
            "SELECT status, return_message, scheduled_time FROM cron.job_run_details"
        )
        .await
        .unwrap(),
        [["succeeded", "COPY 2", "2025-12-01 03:00:00+00"]]
    );
    assert!(server.stop().success());
}
