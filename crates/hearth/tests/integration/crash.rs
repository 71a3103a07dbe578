//! `kill -9` at random moments under concurrent load, several times over: every acknowledged
//! batch survives exactly once, and every batch is atomic (all of its rows or none).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::server::{Server, http, query_json};

const WRITERS: usize = 6;
const LINES: usize = 20;

/// A small deterministic generator for the kill moments; the seed is printed on failure.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs writers against `server` until it dies; returns the acknowledged batches.
async fn load_until_killed(
    server: Server,
    cycle: usize,
    kill_after: Duration,
) -> BTreeSet<(usize, usize, usize)> {
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    let acked: Arc<Mutex<BTreeSet<(usize, usize, usize)>>> = Default::default();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let url = url.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0.. {
                let mut body = String::new();
                for l in 0..LINES {
                    let t = 1_700_000_000 + (cycle * 1_000_000 + r * LINES + l) as i64;
                    // Each identity twice in one body: the later line must win.
                    body.push_str(&format!(
                        "load,cycle=c{cycle},writer=w{w},batch=b{r} v={l}.5,l={l}i {t}\n"
                    ));
                    body.push_str(&format!(
                        "load,cycle=c{cycle},writer=w{w},batch=b{r} v={l} {t}\n"
                    ));
                }
                match http().post(&url).body(body).send().await {
                    Ok(resp) if resp.status().as_u16() == 204 => {
                        acked.lock().await.insert((cycle, w, r));
                    }
                    _ => break, // the server is gone
                }
            }
        }));
    }
    tokio::time::sleep(kill_after).await;
    server.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    acked.lock().await.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_batches_survive_repeated_kill_9_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = seed;
    let mut acked = BTreeSet::new();
    for cycle in 0..4 {
        // Flushes every 150 ms, so kills land before, during and after Delta commits.
        let server = Server::start(dir.path(), &["--flush-interval", "150ms"]);
        let kill_after = Duration::from_millis(300 + next(&mut rng) % 900);
        let got = load_until_killed(server, cycle, kill_after).await;
        assert!(
            !got.is_empty(),
            "seed {seed}: cycle {cycle} acknowledged nothing"
        );
        acked.extend(got);
    }
    let parquet_files = walk(&dir.path().join("objects"))
        .iter()
        .filter(|p| p.ends_with(".parquet"))
        .count();
    assert!(
        parquet_files > 0,
        "seed {seed}: no flush happened before a crash"
    );

    let server = Server::start(dir.path(), &[]);
    let rows = query_json(
        &server,
        "home",
        "SELECT cycle, writer, batch, l, v, count(*) OVER (PARTITION BY cycle, writer, batch, time) AS copies FROM load",
    )
    .await;
    let mut per_batch: BTreeMap<(usize, usize, usize), usize> = BTreeMap::new();
    for row in rows.as_array().unwrap() {
        let num = |k: &str| row[k].as_str().unwrap()[1..].parse::<usize>().unwrap();
        let key = (num("cycle"), num("writer"), num("batch"));
        assert_eq!(
            row["copies"], 1,
            "seed {seed}: a row of {key:?} appears twice"
        );
        // The later line set v, the earlier one set l: both survive the merge.
        let l = row["l"].as_i64().unwrap();
        assert_eq!(
            row["v"].as_f64().unwrap(),
            l as f64,
            "seed {seed}: wrong merge in {key:?}"
        );
        *per_batch.entry(key).or_default() += 1;
    }
    for (key, n) in &per_batch {
        assert_eq!(
            *n, LINES,
            "seed {seed}: batch {key:?} is partly present ({n} of {LINES} rows)"
        );
    }
    for key in &acked {
        assert!(
            per_batch.contains_key(key),
            "seed {seed}: acknowledged batch {key:?} was lost"
        );
    }
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
