//! Limits under write load: a stalled store fills the buffer up to the memory limit, after which
//! writes get 503 with Retry-After while queries keep answering, and writes are accepted again
//! once the store is back; write bodies in flight are bounded, and a write that cannot get its
//! share in time gets 429.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::server::{Server, http, post, query_json};

/// `lines` lines of one table, ~100 bytes each, numbered from `first`.
fn body(first: usize, lines: usize) -> String {
    (first..first + lines)
        .map(|i| {
            format!(
                "m,host=h{} v={i}i,pad=\"{}\" {}\n",
                i % 7,
                "x".repeat(60),
                1_000 + i
            )
        })
        .collect()
}

async fn count(server: &Server) -> i64 {
    let rows = query_json(server, "home", "SELECT count(*) AS n FROM m").await;
    rows[0]["n"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_store_fills_the_buffer_to_503_and_queries_keep_answering() {
    let dir = tempfile::tempdir().unwrap();
    let objects = dir.path().join("objects");
    let store = format!("file://{}", objects.display());
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--object-store",
            &store,
            "--memory-limit",
            "8MiB",
            "--flush-interval",
            "1h",
        ],
    );
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    let client = http();
    // A first write and flush-worthy table, then the store goes away: its directory is
    // replaced by a file, so every put fails.
    let mut next = 0;
    let r = client.post(&url).body(body(next, 10)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    next += 10;
    let hidden = dir.path().join("objects.away");
    std::fs::rename(&objects, &hidden).unwrap();
    std::fs::write(&objects, b"not a directory").unwrap();

    let mut refused = None;
    for _ in 0..400 {
        let r = client
            .post(&url)
            .body(body(next, 2_000))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            204 => next += 2_000,
            503 => {
                let retry = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                refused = Some((retry, r.text().await.unwrap()));
                break;
            }
            other => panic!("unexpected status {other}: {}", r.text().await.unwrap()),
        }
    }
    let (retry, text) = refused.expect("the buffer reaches the memory limit");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(text.contains("memory limit"), "{text}");
    // Everything acknowledged is there, and queries answer while writes are refused.
    assert_eq!(count(&server).await, next as i64);
    let pg = server.pg("home").await;
    let row = pg.query_one("SELECT count(*) FROM m", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), next as i64);
    assert!(server.log().contains("flush failed"), "{}", server.log());

    // The store comes back: the flusher's retry persists the buffer and writes are accepted.
    std::fs::remove_file(&objects).unwrap();
    std::fs::rename(&hidden, &objects).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = client.post(&url).body(body(next, 10)).send().await.unwrap();
        if r.status().as_u16() == 204 {
            next += 10;
            break;
        }
        assert_eq!(r.status().as_u16(), 503);
        assert!(
            Instant::now() < deadline,
            "writes still refused; log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(count(&server).await, next as i64);
    assert!(server.stop().success());
    let server = Server::start(&dir.path().join("data"), &["--object-store", &store]);
    assert_eq!(count(&server).await, next as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_beyond_the_in_flight_budget_wait_then_get_429() {
    let dir = tempfile::tempdir().unwrap();
    // Budget: max(8 MiB / 8, 2 x 1 MiB) = 2 MiB, i.e. two bodies of the largest size.
    let server = Server::start(
        dir.path(),
        &["--memory-limit", "8MiB", "--max-request-size", "1MiB"],
    );
    let path = "/api/v3/write_lp?db=home&precision=s";
    let r = http()
        .post(server.url(path))
        .body("m v=0i 0\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    // Two uploads that announce 1 MiB and then stall hold the whole budget.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(server.http).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\nm v=1i 1\n",
            1 << 20
        );
        s.write_all(head.as_bytes()).await.unwrap();
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let r = http()
        .post(server.url(path))
        .body("m v=2i 2\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let text = r.text().await.unwrap();
    assert!(text.contains("too many write requests in flight"), "{text}");
    // Queries are not part of the budget.
    assert_eq!(count(&server).await, 1);
    // Once the stalled uploads go away, their shares come back.
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = http()
        .post(server.url(path))
        .body("m v=3i 3\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let rows = query_json(&server, "home", "SELECT v FROM m ORDER BY time").await;
    assert_eq!(rows, serde_json::json!([{"v": 0}, {"v": 3}]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_larger_than_its_memory_share_spills_or_fails_cleanly_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // 32 MiB: queries share 16 MiB.
    let server = Server::start(
        dir.path(),
        &["--memory-limit", "32MiB", "--flush-interval", "1s"],
    );
    // 200 000 distinct series with a 60-byte string field: far more than 16 MiB to sort or
    // group in memory.
    // Written in pieces; the buffer's half of the limit fills, so 503s are waited out (the
    // flush frees it).
    for chunk in 0..20 {
        let lines: String = (chunk * 10_000..(chunk + 1) * 10_000)
            .map(|i| {
                format!(
                    "big,s=s{i:07} v={i}i,pad=\"{}\" {}\n",
                    "y".repeat(60),
                    1_000 + i
                )
            })
            .collect();
        let mut tries = 0;
        loop {
            let r = http()
                .post(server.url("/api/v3/write_lp?db=home&precision=s"))
                .body(lines.clone())
                .send()
                .await
                .unwrap();
            match r.status().as_u16() {
                204 => break,
                503 | 429 if tries < 120 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => panic!("write: {other}"),
            }
        }
    }
    let mut pg = server.pg("home").await;
    // A sort of every row by a string, and a grouping with as many groups as rows: each either
    // completes (spilling to disk) with the right answer or fails with SQLSTATE 53200.
    for sql in [
        "SELECT s, pad FROM big ORDER BY pad, s DESC",
        "SELECT s, count(*) AS n, min(pad) AS p FROM big GROUP BY s ORDER BY s DESC",
    ] {
        match pg.simple_query(sql).await {
            Ok(messages) => {
                let rows: Vec<_> = messages
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
                        _ => None,
                    })
                    .collect();
                assert_eq!(rows.len(), 200_000, "{sql}");
                assert_eq!(rows[0].get(0), Some("s0199999"), "{sql}");
                eprintln!("{sql}: completed");
            }
            Err(e) => {
                let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
                assert_eq!(db.code().code(), "53200", "{sql}: {}", db.message());
                eprintln!("{sql}: {}", db.message());
                assert!(
                    db.message().contains("Resources exhausted") || db.message().contains("memory"),
                    "{sql}: {}",
                    db.message()
                );
                // The connection is still usable after the error.
                pg = server.pg("home").await;
            }
        }
    }
    // The server is unharmed: the same connection and a new one answer.
    let n = pg.simple_query("SELECT count(*) FROM big").await.unwrap();
    assert!(
        matches!(&n[1], tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("200000"))
    );
    assert_eq!(
        query_json(&server, "home", "SELECT count(*) AS n FROM big").await,
        serde_json::json!([{"n": 200000}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_statement_timeout_stops_long_queries_and_a_session_can_lift_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--statement-timeout", "300ms"]);
    let endless = "SELECT count(*) FROM generate_series(1, 100000000000)";
    let (status, body) = post(
        &server.url("/api/v3/write_lp?db=home&precision=s"),
        "m v=1i 1",
    )
    .await;
    assert_eq!(status, 204, "{body}");
    // Over the wire: SQLSTATE 57014, and the connection goes on.
    let pg = server.pg("home").await;
    let started = Instant::now();
    let e = pg.simple_query(endless).await.unwrap_err();
    let db = e.as_db_error().unwrap_or_else(|| panic!("{e}"));
    assert_eq!(db.code().code(), "57014");
    assert_eq!(db.message(), "canceling statement due to statement timeout");
    assert!(started.elapsed() < Duration::from_secs(30));
    // Over HTTP: a clear error, not a hang.
    let (status, body) = crate::server::sql(&server, "home", endless).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("statement timeout"), "{body}");
    // A session lifts it with 0 (PostgreSQL's "no timeout") and a longer query completes.
    pg.simple_query("SET statement_timeout = 0").await.unwrap();
    let rows = pg
        .simple_query("SELECT count(*) FROM generate_series(1, 20000000)")
        .await
        .unwrap();
    assert!(
        matches!(&rows[1], tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("20000000"))
    );
}
