//! `CREATE DATABASE` and `ALTER DATABASE` with a retention period, over HTTP and the PostgreSQL
//! protocol: rows past it are not shown, the setting survives a restart, an empty database too.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::server::{Server, post, query_json};

/// The rows of `barn`, oldest first.
pub(crate) const BARN: &str = "SELECT t FROM barn ORDER BY time";

/// Creates database `farm` with a retention of 5 days over HTTP, and writes to it a row 10 days
/// old (t=1) and one an hour old (t=2), of which queries show only the second. Returns the
/// current time in seconds.
pub(crate) async fn farm_with_an_old_and_a_new_row(server: &Server) -> u64 {
    let (status, body) = crate::server::sql(
        server,
        "any",
        "CREATE DATABASE farm WITH (retention = '5 days')",
    )
    .await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({"command": "CREATE DATABASE"}))
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = format!(
        "barn,sensor=a t=1 {}\nbarn,sensor=a t=2 {}\n",
        now - 10 * 86_400,
        now - 3_600
    );
    let url = server.url("/api/v3/write_lp?db=farm&precision=s");
    assert_eq!(post(&url, body).await.0, 204);
    assert_eq!(
        query_json(server, "farm", BARN).await,
        serde_json::json!([{"t": 2.0}])
    );
    now
}

async fn sql(server: &Server, q: &str) -> (u16, serde_json::Value) {
    crate::server::sql(server, "any", q).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_with_retention_hide_old_rows_and_keep_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    farm_with_an_old_and_a_new_row(&server).await;
    let (status, body) = sql(&server, "create database FARM").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("already exists"),
        "{body}"
    );
    assert_eq!(
        sql(&server, "CREATE DATABASE IF NOT EXISTS farm").await.0,
        200
    );
    let (status, body) = sql(
        &server,
        "CREATE DATABASE x WITH (retention = '5 fortnights')",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("unknown unit"),
        "{body}"
    );
    assert_eq!(sql(&server, "CREATE DATABASE empty").await.0, 200);

    let q = BARN;

    // Over the PostgreSQL protocol, with its SQLSTATEs.
    let pg = server.pg("farm").await;
    pg.simple_query("ALTER DATABASE farm RESET retention")
        .await
        .unwrap();
    assert_eq!(
        query_json(&server, "farm", q).await,
        serde_json::json!([{"t": 1.0}, {"t": 2.0}])
    );
    pg.simple_query("ALTER DATABASE farm SET retention TO '3 days'")
        .await
        .unwrap();
    let err = pg
        .simple_query("ALTER DATABASE nowhere SET retention = '1 day'")
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "3D000");
    let err = pg.simple_query("CREATE DATABASE farm").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42P04");
    // The connection stays usable.
    let n: i64 = pg
        .query_one("SELECT count(*) FROM barn", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // The extended protocol (what drivers use for execute) runs them too.
    let count = async || -> i64 {
        pg.query_one("SELECT count(*) FROM barn", &[])
            .await
            .unwrap()
            .get(0)
    };
    pg.execute("ALTER DATABASE farm RESET retention", &[])
        .await
        .unwrap();
    assert_eq!(count().await, 2);
    pg.execute("ALTER DATABASE farm SET retention = '3 days'", &[])
        .await
        .unwrap();
    let err = pg.execute("CREATE DATABASE farm", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42P04");
    assert_eq!(count().await, 1);
    drop(pg);

    // After a restart (the WAL replayed, nothing flushed) the setting and the empty database
    // are still there.
    assert!(server.stop().success());
    let server = Server::start(dir.path(), &[]);
    assert_eq!(
        query_json(&server, "farm", q).await,
        serde_json::json!([{"t": 2.0}])
    );
    let pg = server.pg("empty").await;
    let tables = pg
        .query("SELECT count(*) FROM information_schema.tables WHERE table_catalog = 'empty' AND table_schema = 'public'", &[])
        .await
        .unwrap();
    assert_eq!(tables[0].get::<_, i64>(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_flag_applies_to_databases_without_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--retention", "5d"]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = format!("barn t=1 {}\nbarn t=2 {}\n", now - 10 * 86_400, now - 60);
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    assert_eq!(post(&url, body).await.0, 204);
    assert_eq!(
        query_json(&server, "home", BARN).await,
        serde_json::json!([{"t": 2.0}])
    );
    // A database's own period wins over the flag.
    let (status, _) = sql(&server, "ALTER DATABASE home SET retention = '30 days'").await;
    assert_eq!(status, 200);
    assert_eq!(
        query_json(&server, "home", BARN).await,
        serde_json::json!([{"t": 1.0}, {"t": 2.0}])
    );
}
