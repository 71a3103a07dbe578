//! `CREATE TABLE` and `DROP TABLE` through the real server: a primary key makes a row replace the
//! row of its key whole (NULLs included), in the buffer, after `kill -9` (WAL replay) and across
//! persisted files; without one rows are appended, repeats included; retention never drops SQL
//! tables' rows; line protocol cannot write them; `DROP TABLE` removes the files and is refused
//! while a continuous view reads the table.

use std::path::Path;

use crate::cron::code;
use crate::server::{Server, pairs, post, sql, strings};

/// (key, value) rows of `prices`, by key.
async fn prices(client: &tokio_postgres::Client) -> Vec<(String, Option<f64>)> {
    pairs(client, "SELECT k, v FROM prices ORDER BY k").await
}

async fn log_rows(client: &tokio_postgres::Client) -> Vec<(String, i64)> {
    pairs(client, "SELECT msg, n FROM log ORDER BY msg, n").await
}

fn table_dir(dir: &Path, table: &str) -> std::path::PathBuf {
    dir.join("objects/home").join(table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_tables_replace_by_key_append_without_and_drop() {
    let dir = tempfile::tempdir().unwrap();
    // A retention of one day: SQL tables' rows (whose hidden time is not a reading's) stay.
    let server = Server::start(dir.path(), &["--retention", "1d"]);
    let write = write_url(&server);
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        post(&write, format!("energy,household=h1 power_w=5 {now}"))
            .await
            .0,
        204
    );
    let client = server.pg("home").await;
    client
        .batch_execute(
            "CREATE TABLE prices (k text PRIMARY KEY, v double precision, at timestamptz);
             CREATE TABLE log (msg varchar, n bigint);
             CREATE TABLE pairs (a text, b bigint, v real, PRIMARY KEY (a, b));
             INSERT INTO prices VALUES ('a', 1.5, '2026-01-01 00:00:00+00'), ('b', 2.5, NULL);
             INSERT INTO log VALUES ('x', 1), ('x', 1), ('y', 2);",
        )
        .await
        .unwrap();
    // Replaced whole: the NULL wins over 1.5.
    client
        .execute("INSERT INTO prices (k, v) VALUES ('a', NULL)", &[])
        .await
        .unwrap();
    let want = vec![("a".to_string(), None), ("b".to_string(), Some(2.5))];
    assert_eq!(prices(&client).await, want);
    let at: Option<chrono::DateTime<chrono::Utc>> = client
        .query_one("SELECT at FROM prices WHERE k = 'a'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(at, None, "a column not given is NULL in the new row");
    let appended = vec![
        ("x".to_string(), 1),
        ("x".to_string(), 1),
        ("y".to_string(), 2),
    ];
    assert_eq!(log_rows(&client).await, appended);
    // The columns SQL sees are the declared ones.
    let columns = strings(
        &client,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'prices' \
         ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(columns, ["k", "v", "at"]);

    for (sql, expected) in [
        ("CREATE TABLE prices (k text)", "42P07"),
        ("CREATE TABLE energy (k text)", "42P07"),
        ("CREATE TABLE t (a numeric(10, 2))", "0A000"),
        ("CREATE TABLE t (time timestamp)", "42939"),
        ("INSERT INTO prices VALUES (NULL, 1, NULL)", "23502"),
        ("INSERT INTO prices (v) VALUES (1)", "23502"),
        ("INSERT INTO pairs (a, v) VALUES ('x', 1)", "23502"),
        ("INSERT INTO prices (k, nope) VALUES ('a', 1)", "42703"),
        ("DELETE FROM log WHERE n = 1", "0A000"),
        ("DROP TABLE nope", "42P01"),
    ] {
        let e = client.batch_execute(sql).await.unwrap_err();
        assert_eq!(code(e), expected, "{sql}");
    }
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS prices (k text)")
        .await
        .unwrap();
    // PostgreSQL's upsert, as ORMs send it, is what a keyed table does anyway; over the
    // extended protocol with parameters too.
    client
        .batch_execute(
            "INSERT INTO prices VALUES ('c', 7, NULL) ON CONFLICT (k) \
             DO UPDATE SET v = EXCLUDED.v, at = excluded.at",
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO prices (k, v, at) VALUES ($1, $2, NULL) ON CONFLICT ON CONSTRAINT \
             prices_pkey DO UPDATE SET at = EXCLUDED.at, v = EXCLUDED.v",
            &[&"c", &3.5f64],
        )
        .await
        .unwrap();
    for (sql, expected) in [
        (
            "INSERT INTO prices VALUES ('c', 1, NULL) ON CONFLICT DO NOTHING",
            "0A000",
        ),
        (
            "INSERT INTO prices VALUES ('c', 1, NULL) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
            "0A000",
        ),
        (
            "INSERT INTO prices VALUES ('c', 1, NULL) ON CONFLICT (k) DO UPDATE SET v = prices.v + 1, at = EXCLUDED.at",
            "0A000",
        ),
        (
            "INSERT INTO prices VALUES ('c', 1, NULL) ON CONFLICT (v) DO UPDATE SET v = EXCLUDED.v, at = EXCLUDED.at",
            "42P10",
        ),
        (
            "INSERT INTO log VALUES ('x', 1) ON CONFLICT (msg) DO UPDATE SET n = EXCLUDED.n",
            "42P10",
        ),
    ] {
        let e = client.batch_execute(sql).await.unwrap_err();
        assert_eq!(code(e), expected, "{sql}");
    }
    assert_eq!(
        prices(&client).await.last(),
        Some(&("c".to_string(), Some(3.5)))
    );
    client
        .batch_execute("DELETE FROM prices WHERE k = 'c'")
        .await
        .unwrap();
    let (status, body) = post(&write, format!("prices,k=c v=1 {now}")).await;
    assert_eq!(status, 400);
    assert!(body.contains("created with CREATE TABLE"), "{body}");
    assert_eq!(prices(&client).await, want);

    // kill -9: the rows come back from the WAL.
    drop(client);
    server.kill9();
    let server = Server::start(dir.path(), &["--retention", "1d"]);
    let client = server.pg("home").await;
    assert_eq!(prices(&client).await, want);
    assert_eq!(log_rows(&client).await, appended);
    // Persisted on a clean stop; then new rows in the buffer replace persisted ones whole.
    assert!(server.stop().success());
    let server = Server::start(dir.path(), &["--retention", "1d"]);
    let client = server.pg("home").await;
    assert_eq!(prices(&client).await, want);
    client
        .batch_execute(
            "INSERT INTO prices (k, v) VALUES ('b', NULL), ('c', 3.5);
             INSERT INTO log VALUES ('x', 1);
             DELETE FROM prices WHERE k = 'a'",
        )
        .await
        .unwrap();
    assert_eq!(
        prices(&client).await,
        [("b".to_string(), None), ("c".to_string(), Some(3.5))]
    );
    assert_eq!(log_rows(&client).await.len(), 4);

    // DROP TABLE: gone from SQL and from the store, also after a restart.
    assert!(table_dir(dir.path(), "log").exists());
    client.batch_execute("DROP TABLE log").await.unwrap();
    assert_eq!(
        code(client.query("SELECT * FROM log", &[]).await.unwrap_err()),
        "42P01"
    );
    assert!(!table_dir(dir.path(), "log").exists());
    // A view reads energy: it cannot be dropped until the view is.
    client
        .batch_execute(
            "CREATE MATERIALIZED VIEW power_1h AS SELECT date_bin(INTERVAL '1 hour', time) AS \
             time, household, avg(power_w) AS p FROM energy GROUP BY 1, 2",
        )
        .await
        .unwrap();
    let e = client.batch_execute("DROP TABLE energy").await.unwrap_err();
    assert_eq!(code(e), "2BP01");
    let e = client
        .batch_execute("DROP TABLE power_1h")
        .await
        .unwrap_err();
    assert_eq!(code(e), "42809");
    client
        .batch_execute("DROP MATERIALIZED VIEW power_1h; DROP TABLE energy, prices, pairs")
        .await
        .unwrap();
    assert!(!table_dir(dir.path(), "energy").exists());
    drop(client);
    assert!(server.stop().success());
    let server = Server::start(dir.path(), &["--retention", "1d"]);
    let client = server.pg("home").await;
    let tables = strings(
        &client,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await;
    assert!(tables.is_empty(), "{tables:?}");
    // A write creates energy again, as a line protocol table.
    assert_eq!(
        post(
            &write_url(&server),
            format!("energy,household=h2 power_w=7 {now}")
        )
        .await
        .0,
        204
    );
    let n: i64 = client
        .query_one("SELECT count(*) FROM energy", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

fn write_url(server: &Server) -> String {
    server.url("/api/v3/write_lp?db=home&precision=s")
}

/// The other ways in: `CREATE`/`DROP TABLE` over HTTP, psql's `\copy` into a keyed table and
/// `\d`, `system.columns` / `system.tables`, an upsert run by a scheduled job, a client's export
/// whose path holds `{expression}`, and a continuous view over a SQL table (refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_tables_over_http_psql_jobs_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    assert_eq!(
        post(&write_url(&server), "energy,household=h1 power_w=5")
            .await
            .0,
        204
    );
    let created = sql(
        &server,
        "home",
        "CREATE TABLE h (a text PRIMARY KEY, n bigint)",
    )
    .await;
    assert_eq!(
        created,
        (200, serde_json::json!({"command": "CREATE TABLE"}))
    );
    let (status, body) = sql(&server, "home", "CREATE TABLE h (a text)").await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("already exists"), "{body}");

    // psql's \copy: one COPY whose later line replaces the earlier of its key.
    let csv = dir.path().join("h.csv");
    std::fs::write(&csv, "x,1\ny,2\nx,3\n").unwrap();
    let copied = crate::clients::psql(
        &server,
        "home",
        &[
            "-c",
            &format!("\\copy h FROM '{}' WITH (FORMAT csv)", csv.display()),
        ],
    );
    assert!(copied.contains("COPY 3"), "{copied}");
    let d = crate::clients::psql(&server, "home", &["-c", "\\d h"]);
    assert!(d.contains(" n      | bigint "), "{d}");
    assert!(!d.contains("time"), "the hidden time shows: {d}");
    let client = server.pg("home").await;
    let rows: Vec<(String, i64)> = pairs(&client, "SELECT a, n FROM h ORDER BY a").await;
    assert_eq!(rows, [("x".to_string(), 3), ("y".to_string(), 2)]);
    let kinds: Vec<(String, String)> = pairs(
        &client,
        "SELECT column_name, column_kind FROM system.columns WHERE table_name = 'h' \
         ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(
        kinds,
        [
            ("a".to_string(), "primary key".to_string()),
            ("n".to_string(), "field".to_string())
        ]
    );
    let n: i64 = client
        .query_one(
            "SELECT columns FROM system.tables WHERE table_name = 'h'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2, "system.tables counts the visible columns");

    // A job's upsert runs as the INSERT it amounts to; one Hearth would not do as asked fails
    // the run with its SQLSTATE.
    client
        .batch_execute(
            "SELECT cron.schedule('h-up', '0 0 1 1 *', \
             $$INSERT INTO h VALUES ('y', 9) ON CONFLICT (a) DO UPDATE SET n = EXCLUDED.n$$); \
             SELECT cron.schedule('h-keep', '0 0 1 1 *', \
             $$INSERT INTO h VALUES ('y', 0) ON CONFLICT (a) DO NOTHING$$)",
        )
        .await
        .unwrap();
    client
        .batch_execute("SELECT cron.run('h-up', '2026-01-01 00:00:00+00')")
        .await
        .unwrap();
    let e = client
        .batch_execute("SELECT cron.run('h-keep', '2026-01-01 00:00:00+00')")
        .await
        .unwrap_err();
    assert_eq!(code(e), "0A000");
    let rows: Vec<(String, i64)> = pairs(&client, "SELECT a, n FROM h ORDER BY a").await;
    assert_eq!(rows, [("x".to_string(), 3), ("y".to_string(), 9)]);

    // A client's export names its file with an expression.
    client
        .batch_execute(
            "COPY (SELECT a, n FROM h ORDER BY a) TO \
             'exports/h-{to_char(TIMESTAMPTZ ''2026-11-01 00:00:00+00'', ''%Y-%m'')}.csv' \
             (FORMAT csv)",
        )
        .await
        .unwrap();
    let file = dir.path().join("objects/exports/h-2026-11.csv");
    assert_eq!(std::fs::read_to_string(file).unwrap(), "x,3\ny,9\n");
    for bad in [
        "COPY (SELECT 1) TO 'exports/{nope(}.csv' (FORMAT csv)",
        "COPY (SELECT 1) TO 'exports/{NULL}.csv' (FORMAT csv)",
        "COPY (SELECT 1) TO 'exports/a}.csv' (FORMAT csv)",
    ] {
        let e = client.batch_execute(bad).await.unwrap_err();
        assert_eq!(code(e), "22023", "{bad}");
    }

    // Continuous views read time series, which a SQL table is not (even one with a timestamp).
    client
        .batch_execute("CREATE TABLE ev (at timestamptz, v double precision)")
        .await
        .unwrap();
    let e = client
        .batch_execute(
            "CREATE MATERIALIZED VIEW hv AS SELECT date_bin(INTERVAL '1 hour', at) AS time, \
             count(*) AS c FROM ev GROUP BY 1",
        )
        .await
        .unwrap_err();
    let message = e.as_db_error().map(|d| d.message().to_string());
    assert_eq!(code(e), "0A000");
    assert!(
        message
            .as_deref()
            .unwrap_or_default()
            .contains("CREATE TABLE"),
        "{message:?}"
    );

    let dropped = sql(&server, "home", "DROP TABLE h").await;
    assert_eq!(dropped, (200, serde_json::json!({"command": "DROP TABLE"})));
    let (status, _) = sql(&server, "home", "DROP TABLE h").await;
    assert_eq!(status, 400);
}
