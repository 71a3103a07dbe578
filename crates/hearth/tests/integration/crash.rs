//! `kill -9` after acknowledged writes: every acknowledged row survives, exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::server::{Server, http, query_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_row_survives_kill_9_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // Flushes every 200 ms, so the crash lands with rows in Delta files and in the WAL.
    let server = Server::start(dir.path(), &["--flush-interval", "200ms"]);
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    let acked: Arc<Mutex<BTreeMap<(usize, usize), f64>>> = Default::default();
    let writers = 8;
    let requests = 40;
    let lines = 25;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let url = url.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..requests {
                let mut body = String::new();
                for l in 0..lines {
                    let n = r * lines + l;
                    // Each identity is written twice in one body: the later value must win.
                    body.push_str(&format!(
                        "load,writer=w{w},n={n} v={}.5 {}\n",
                        n,
                        1_700_000_000 + n
                    ));
                    body.push_str(&format!(
                        "load,writer=w{w},n={n} v={} {}\n",
                        n,
                        1_700_000_000 + n
                    ));
                }
                // After the kill, requests fail to connect: that ends this writer.
                match http().post(&url).body(body).send().await {
                    Ok(r) if r.status().as_u16() == 204 => {}
                    _ => break,
                }
                let mut a = acked.lock().await;
                for l in 0..lines {
                    let n = r * lines + l;
                    a.insert((w, n), n as f64);
                }
            }
        }));
    }
    // Let the load run past a few flushes, then crash mid-load.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let acked_before_kill = acked.lock().await.len();
    server.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    assert!(
        acked_before_kill > 0,
        "no write was acknowledged before the crash"
    );
    let files = walk(&dir.path().join("objects"))
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .count();

    let server = Server::start(dir.path(), &[]);
    let rows = query_json(
        &server,
        "home",
        "SELECT writer, n, v, count(*) OVER (PARTITION BY writer, n) AS copies FROM load",
    )
    .await;
    let mut seen = BTreeMap::new();
    for row in rows.as_array().unwrap() {
        let w: usize = row["writer"].as_str().unwrap()[1..].parse().unwrap();
        let n: usize = row["n"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            row["copies"], 1,
            "identity w{w} n={n} appears more than once"
        );
        assert!(seen.insert((w, n), row["v"].as_f64().unwrap()).is_none());
    }
    for (key, value) in &acked {
        assert_eq!(
            seen.get(key),
            Some(value),
            "acknowledged row {key:?} lost or wrong"
        );
    }
    assert!(
        files > 0,
        "the crash test should cover rows already persisted to Delta (no Parquet file was written)"
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}
