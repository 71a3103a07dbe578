//! `CREATE TABLE` and `DROP TABLE` through the real server: a primary key makes a row replace the
//! row of its key whole (NULLs included), in the buffer, after `kill -9` (WAL replay) and across
//! persisted files; without one rows are appended, repeats included; retention never drops SQL
//! tables' rows; line protocol cannot write them; `DROP TABLE` removes the files and is refused
//! while a continuous view reads the table.

use std::path::Path;

use crate::cron::code;
use crate::server::{Server, post};

/// (key, value) rows of `prices`, by key.
async fn prices(client: &tokio_postgres::Client) -> Vec<(String, Option<f64>)> {
    client
        .query("SELECT k, v FROM prices ORDER BY k", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn log_rows(client: &tokio_postgres::Client) -> Vec<(String, i64)> {
    client
        .query("SELECT msg, n FROM log ORDER BY msg, n", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
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
    let columns: Vec<String> = client
        .query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'prices' \
             ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
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
    let tables: Vec<String> = client
        .query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
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
