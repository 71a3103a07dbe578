//! The TSBS devops queries against DuckDB as the oracle: the same generated rows go into Hearth
//! (half persisted as Parquet, half in the write buffer) and into DuckDB (by
//! `tsbs_oracle.py`, which parses the line protocol itself); every query type, with random
//! hosts and windows, must give the same answer on both.

use std::process::Command;

use hearth_bench::generate::{GenerateConfig, UseCase, generate};
use hearth_bench::query::{QUERY_TYPES, QueryLoad, run};

use crate::server::{Server, post};

/// TSBS cpu-only: 10 hosts × 1 day at 10 s, from 2016-01-01 (TSBS's start).
fn tsbs_lines() -> Vec<u8> {
    let config = GenerateConfig {
        use_case: UseCase::CpuOnly,
        scale: 10,
        start_ns: 1_451_606_400_000_000_000,
        duration_ns: 86_400_000_000_000,
        interval_ns: 10_000_000_000,
        seed: 1,
        dirty: false,
    };
    let mut out = Vec::new();
    generate(&config, &mut out).expect("generate");
    out
}

async fn write_all(server: &Server, lines: &[&str]) {
    for chunk in lines.chunks(20_000) {
        let (status, body) = post(
            &server.url("/api/v3/write_lp?db=tsbs&precision=ns"),
            chunk.join("\n"),
        )
        .await;
        assert_eq!(status, 204, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsbs_queries_answer_what_duckdb_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = tsbs_lines();
    let file = dir.path().join("cpu.lp");
    std::fs::write(&file, &data).unwrap();
    let text = std::str::from_utf8(&data).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10 * 8_640);
    let (first, second) = lines.split_at(lines.len() / 2);

    // The first half in Parquet files (a graceful stop flushes), the second in the buffer.
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir, &[]);
    write_all(&server, first).await;
    assert!(server.stop().success());
    let server = Server::start(&data_dir, &["--flush-interval", "1h"]);
    write_all(&server, second).await;

    let oracle = crate::server::manifest_dir().join("tests/integration/tsbs_oracle.py");
    let output = Command::new("python3")
        .arg(&oracle)
        .args(["--http", &server.url(""), "--db", "tsbs", "--seed", "5"])
        .arg("--lines")
        .arg(&file)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the oracle found differences (is Python's duckdb installed? scripts/test.sh installs \
         it):\n{stdout}\n{stderr}"
    );
    // Every query type ran and matched.
    for kind in QUERY_TYPES {
        assert!(
            stdout.lines().any(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some(kind) && words.next() == Some("ok")
            }),
            "{kind} not reported as matching:\n{stdout}"
        );
    }

    // The load tool's `query` against the same server: every type runs over the PostgreSQL
    // protocol with its own draws, and lastpoint answers one row per host.
    let reports = run(&QueryLoad {
        url: format!("postgres://test@{}/tsbs", server.pg),
        types: QUERY_TYPES.iter().map(|t| t.to_string()).collect(),
        iterations: 2,
        warmup: 1,
        seed: 3,
    })
    .await
    .expect("hearth-bench query runs");
    assert_eq!(reports.len(), QUERY_TYPES.len());
    for r in &reports {
        assert_eq!(r.times.len(), 2, "{}", r.name);
        let expected = match r.name.as_str() {
            "lastpoint" => Some(10),
            "groupby-orderby-limit" => Some(5),
            _ => None,
        };
        if let Some(n) = expected {
            assert_eq!(r.rows, vec![n, n], "{}", r.name);
        }
        assert!(
            r.rows.iter().all(|&n| n > 0) || r.name.starts_with("high-cpu"),
            "{r:?}"
        );
    }
}
