//! Idempotent retries: a repeated key is answered without writing again, also after a crash
//! and after a flush and restart.

use crate::server::{Server, http, query_json};

async fn send(server: &Server, path: &str, key: Option<&str>, body: &str) -> u16 {
    let mut r = http().post(server.url(path)).body(body.to_string());
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    r.send().await.unwrap().status().as_u16()
}

async fn value(server: &Server) -> serde_json::Value {
    query_json(server, "home", "SELECT v FROM m WHERE t = 'a'").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_key_is_not_applied_twice_across_crash_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let v3 = "/api/v3/write_lp?db=home&precision=s";
    let server = Server::start(dir.path(), &["--flush-interval", "1h"]);
    assert_eq!(send(&server, v3, Some("k1"), "m,t=a v=1 1").await, 204);
    assert_eq!(send(&server, v3, None, "m,t=a v=2 1").await, 204);
    // The retry of k1 must not bring v back to 1.
    assert_eq!(send(&server, v3, Some("k1"), "m,t=a v=1 1").await, 204);
    assert_eq!(value(&server).await, serde_json::json!([{"v": 2.0}]));

    // Without a timestamp every application adds a row: concurrent repeats add exactly one.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = server.url("/api/v3/write_lp?db=home");
        tasks.push(tokio::spawn(async move {
            let r = http()
                .post(url)
                .header("Idempotency-Key", "k2")
                .body("n v=1")
                .send();
            r.await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 204);
    }
    let n = query_json(&server, "home", "SELECT count(*) AS n FROM n").await;
    assert_eq!(n, serde_json::json!([{"n": 1}]));

    // batch_id on the v2 endpoint; a bad body leaves the key free for the corrected retry.
    let v2 = "/api/v2/write?bucket=home&precision=s&batch_id=b1";
    assert_eq!(send(&server, v2, None, "m,t=b v=").await, 400);
    assert_eq!(send(&server, v2, None, "m,t=b v=5 1").await, 204);
    assert_eq!(send(&server, v2, None, "m,t=b v=6 1").await, 204);
    let b = query_json(&server, "home", "SELECT v FROM m WHERE t = 'b'").await;
    assert_eq!(b, serde_json::json!([{"v": 5.0}]));

    // Crash: the keys come back from the WAL.
    server.kill9();
    let server = Server::start(dir.path(), &[]);
    assert_eq!(send(&server, v3, Some("k1"), "m,t=a v=1 1").await, 204);
    assert_eq!(value(&server).await, serde_json::json!([{"v": 2.0}]));

    // Graceful stop flushes and truncates the WAL: the keys come back from the key file.
    assert!(server.stop().success());
    let server = Server::start(dir.path(), &[]);
    assert_eq!(send(&server, v3, Some("k1"), "m,t=a v=1 1").await, 204);
    assert_eq!(value(&server).await, serde_json::json!([{"v": 2.0}]));
    assert_eq!(
        send(&server, v3, Some(&"x".repeat(300)), "m,t=a v=1 1").await,
        400
    );
}
