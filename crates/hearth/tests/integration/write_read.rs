//! Write over HTTP, read over PostgreSQL (tokio-postgres and psql) and HTTP.

use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use crate::server::{Server, http, post, query_json};

const QUICK_START: &str = "energy,household=h1,meter=m1 import_kwh=1.5,power_w=230 1764000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_line_reads_back_over_postgres_and_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (status, body) = post(
        &server.url("/api/v2/write?bucket=home&precision=s"),
        QUICK_START,
    )
    .await;
    assert_eq!((status, body.as_str()), (204, ""));

    // Extended protocol, binary results: typed values.
    let pg = server.pg("home").await;
    let rows = pg
        .query(
            "SELECT household, meter, import_kwh, power_w, time FROM energy",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.get::<_, String>(0), "h1");
    assert_eq!(r.get::<_, String>(1), "m1");
    assert_eq!(r.get::<_, f64>(2), 1.5);
    assert_eq!(r.get::<_, f64>(3), 230.0);
    let time: std::time::SystemTime = r.get(4);
    assert_eq!(time, UNIX_EPOCH + Duration::from_secs(1_764_000_000));

    // Simple protocol, text results, `select *` column order.
    let messages = pg.simple_query("select * from energy").await.unwrap();
    let row = messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .expect("one row");
    let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["household", "meter", "import_kwh", "power_w", "time"]
    );
    assert_eq!(row.get("household"), Some("h1"));
    assert!(row.get("time").unwrap().starts_with("2025-11-24 16:00:00"));

    // HTTP, JSON.
    let rows = query_json(&server, "home", "SELECT * FROM energy").await;
    assert_eq!(
        rows,
        serde_json::json!([{"household": "h1", "meter": "m1", "import_kwh": 1.5,
                            "power_w": 230.0, "time": "2025-11-24T16:00:00Z"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_endpoints_field_types_and_precisions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    // v1 in milliseconds, v3 with auto precision (seconds by magnitude) and nanoseconds.
    let v1 =
        "m,host=a f=1.25,i=-3i,u=18446744073709551615u,s=\"hi \\\"there\\\"\",b=true 1764000000123";
    assert_eq!(
        post(&server.url("/write?db=lp&precision=ms"), v1).await.0,
        204
    );
    let v3 = "m,host=b f=2,i=4i,u=0u,s=\"x\",b=F 1764000001";
    assert_eq!(post(&server.url("/api/v3/write_lp?db=lp"), v3).await.0, 204);
    let ns = "m,host=c f=3 1764000002999999999";
    assert_eq!(
        post(
            &server.url("/api/v3/write_lp?db=lp&precision=nanosecond"),
            ns
        )
        .await
        .0,
        204
    );

    let out = query_json(
        &server,
        "lp",
        "SELECT host, f, i, CAST(u AS VARCHAR) AS u, s, b, CAST(time AS VARCHAR) AS t FROM m ORDER BY host",
    )
    .await;
    assert_eq!(
        out,
        serde_json::json!([
            {"host": "a", "f": 1.25, "i": -3, "u": "18446744073709551615", "s": "hi \"there\"", "b": true,
             "t": "2025-11-24T16:00:00.123Z"},
            {"host": "b", "f": 2.0, "i": 4, "u": "0", "s": "x", "b": false, "t": "2025-11-24T16:00:01Z"},
            {"host": "c", "f": 3.0, "t": "2025-11-24T16:00:02.999999Z"}
        ])
    );

    // Column types as PostgreSQL clients see them.
    let pg = server.pg("lp").await;
    let stmt = pg
        .prepare("SELECT host, f, i, u, s, b, time FROM m")
        .await
        .unwrap();
    let types: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.type_().name().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "text",
            "float8",
            "int8",
            "numeric",
            "text",
            "bool",
            "timestamptz"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_merge_per_field_in_wal_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--flush-interval", "1h"]);
    let url = server.url("/api/v3/write_lp?db=home&precision=second");
    assert_eq!(
        post(
            &url,
            "energy,household=h1 a=1,b=1 100\nenergy,household=h1 a=2 100"
        )
        .await
        .0,
        204
    );
    assert_eq!(post(&url, "energy,household=h1 c=3 100").await.0, 204);
    let rows = query_json(&server, "home", "SELECT a, b, c FROM energy").await;
    assert_eq!(rows, serde_json::json!([{"a": 2.0, "b": 1.0, "c": 3.0}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_lists_describes_and_queries_tables() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let url = server.url("/api/v2/write?bucket=home&precision=s");
    assert_eq!(post(&url, QUICK_START).await.0, 204);
    assert_eq!(
        post(
            &server.url("/api/v2/write?bucket=work&precision=s"),
            "other v=1 1"
        )
        .await
        .0,
        204
    );
    let psql = |args: &[&str]| {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &server.pg.port().to_string(),
                "-U",
                "test",
                "-d",
                "home",
            ])
            .args(["-X", "-v", "ON_ERROR_STOP=1"])
            .args(args)
            .output()
            .expect("psql is installed");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.success(), stdout, stderr)
    };
    let (ok, out, err) = psql(&["-c", "\\dt"]);
    assert!(ok, "{err}");
    assert!(out.contains("public | energy | table"), "{out}");
    assert!(
        !out.contains("other"),
        "tables of another database are listed: {out}"
    );
    let (ok, out, err) = psql(&["-c", "\\d energy"]);
    assert!(ok, "{err}");
    assert!(out.contains("import_kwh | double precision"), "{out}");
    assert!(
        out.contains("time       | timestamp with time zone"),
        "{out}"
    );
    let (ok, out, err) = psql(&["-c", "\\l"]);
    assert!(ok, "{err}");
    assert!(out.contains(" home ") && out.contains(" work "), "{out}");
    let (ok, out, err) = psql(&[
        "-A",
        "-t",
        "-c",
        "select household, import_kwh, meter from energy",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "h1|1.5|m1");
    let _ = http();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_query_formats_ping_metrics_and_no_sync() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let url = server.url("/api/v3/write_lp?db=home&precision=s&no_sync=true");
    assert_eq!(post(&url, "m,t=a v=1.5 1\nm,t=b v=2 2").await.0, 204);
    let get = |format: &str| {
        http()
            .get(server.url("/api/v3/query_sql"))
            .query(&[
                ("db", "home"),
                ("q", "SELECT t, v FROM m ORDER BY t"),
                ("format", format),
            ])
            .send()
    };
    let text =
        |format: &'static str| async move { get(format).await.unwrap().text().await.unwrap() };
    assert_eq!(text("csv").await, "t,v\na,1.5\nb,2.0\n");
    assert_eq!(
        text("jsonl").await,
        "{\"t\":\"a\",\"v\":1.5}\n{\"t\":\"b\",\"v\":2.0}\n"
    );
    assert!(text("pretty").await.contains("| a | 1.5 |"));
    let parquet = get("parquet").await.unwrap().bytes().await.unwrap();
    assert_eq!(
        (&parquet[..4], &parquet[parquet.len() - 4..]),
        (&b"PAR1"[..], &b"PAR1"[..])
    );
    let r = get("xml").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let ping = http().get(server.url("/ping")).send().await.unwrap();
    assert_eq!(ping.status().as_u16(), 204);
    assert!(ping.headers().contains_key("x-influxdb-version"));
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("hearth_rows_written_total 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hearth_wal_appends_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_sets_options_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hearth.toml");
    std::fs::write(
        &config,
        "max-request-size = \"64B\"\nflush-interval = \"1h\"\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()]);
    let url = server.url("/api/v3/write_lp?db=home");
    assert_eq!(post(&url, "m v=1").await.0, 204);
    assert_eq!(
        post(
            &url,
            "m,tag=a-rather-long-tag-value-to-pass-the-64-byte-limit v=1 1700000000"
        )
        .await
        .0,
        413
    );
    drop(server);
    let server = Server::start(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--max-request-size",
            "1KiB",
        ],
    );
    let url = server.url("/api/v3/write_lp?db=home");
    assert_eq!(
        post(
            &url,
            "m,tag=a-rather-long-tag-value-to-pass-the-64-byte-limit v=1 1700000000"
        )
        .await
        .0,
        204
    );
}

/// The metric `name`'s value in a `/metrics` text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_the_persister_at_the_write_backlog() {
    let dir = tempfile::tempdir().unwrap();
    // A backlog of 1 KiB: a write arriving before the previous one is persisted waits for it.
    let server = Server::start(
        dir.path(),
        &["--flush-size", "1KiB", "--write-backlog", "1KiB"],
    );
    let url = server.url("/api/v3/write_lp?db=home&precision=second");
    for r in 0..20 {
        let body: String = (0..200)
            .map(|i| {
                format!(
                    "m,host=h{} v={i}i {}\n",
                    i % 10,
                    1_764_000_000 + r * 200 + i
                )
            })
            .collect();
        let (status, text) = post(&url, body).await;
        assert_eq!(status, 204, "{text}");
    }
    let metrics = server.metrics().await;
    assert_eq!(metric(&metrics, "hearth_buffer_bytes_bound"), 1024.0);
    assert!(
        metric(&metrics, "hearth_write_backlog_waits_total") >= 1.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "hearth_write_backlog_wait_seconds_total") > 0.0,
        "{metrics}"
    );
    // Every row written is there, whether it waited or not.
    let rows = query_json(&server, "home", "SELECT count(*) AS n FROM m").await;
    assert_eq!(rows[0]["n"], 4000, "{rows}");
}

/// The latest row per series comes from a cache the first such query builds (one scan). A
/// restart remembers which tables had one and builds them in the background, so the first query
/// after it reads a ready cache; rows written since are in it, and a dropped table is forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_row_caches_are_built_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--flush-interval", "1h"];
    let latest = "SELECT DISTINCT ON (household) household, power_w, time FROM energy \
                  ORDER BY household, time DESC";
    let builds = async |server: &Server| {
        metric(
            &server.metrics().await,
            "hearth_latest_row_cache_builds_total",
        )
    };
    let server = Server::start(dir.path(), &flags);
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    let body: String = (0..30)
        .map(|i| {
            format!(
                "energy,household=h{} power_w={i} {}\n",
                i % 3,
                1_764_000_000 + i
            )
        })
        .collect();
    assert_eq!(post(&url, body).await.0, 204);
    // Another table whose cache is switched on and that is dropped before the restart.
    assert_eq!(post(&url, "gone,room=r1 t=1 1764000000").await.0, 204);
    assert_eq!(builds(&server).await, 0.0);
    let rows = serde_json::json!([
        {"household": "h0", "power_w": 27.0, "time": "2025-11-24T16:00:27Z"},
        {"household": "h1", "power_w": 28.0, "time": "2025-11-24T16:00:28Z"},
        {"household": "h2", "power_w": 29.0, "time": "2025-11-24T16:00:29Z"},
    ]);
    assert_eq!(query_json(&server, "home", latest).await, rows);
    let gone = "SELECT DISTINCT ON (room) * FROM gone ORDER BY room, time DESC";
    assert_eq!(
        query_json(&server, "home", gone)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(builds(&server).await, 2.0);
    assert_eq!(query_json(&server, "home", latest).await, rows);
    assert_eq!(
        builds(&server).await,
        2.0,
        "the second query reads the cache"
    );
    assert_eq!(
        crate::server::sql(&server, "home", "DROP TABLE gone")
            .await
            .0,
        200
    );
    assert!(server.stop().success());

    let server = Server::start(dir.path(), &flags);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while builds(&server).await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.log().contains("latest-row cache built"),
        "{}",
        server.log()
    );
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    assert_eq!(
        post(&url, "energy,household=h1 power_w=99 1764000100")
            .await
            .0,
        204
    );
    let mut rows = rows;
    rows[1] =
        serde_json::json!({"household": "h1", "power_w": 99.0, "time": "2025-11-24T16:01:40Z"});
    assert_eq!(query_json(&server, "home", latest).await, rows);
    // Built once, at start-up, for `energy` only: `gone` was dropped.
    assert_eq!(builds(&server).await, 1.0, "{}", server.log());
    let remembered = std::fs::read_to_string(dir.path().join("latest-row-caches.json")).unwrap();
    assert_eq!(remembered, r#"[["home","energy"]]"#);
}
