//! The TSBS devops queries against DuckDB as the oracle: the same generated rows go into Hearth
//! (half persisted as Parquet, half in the write buffer) and into DuckDB (by
//! `tsbs_oracle.py`, which parses the line protocol itself); every query type, with random
//! hosts and windows, must give the same answer on both.

use std::process::Command;

use hearth_bench::generate::{GenerateConfig, UseCase, generate};

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
    for kind in [
        "single-groupby-1-1-1",
        "single-groupby-1-1-12",
        "single-groupby-5-1-12",
        "single-groupby-5-8-1",
        "cpu-max-all-8",
        "double-groupby-1",
        "double-groupby-all",
        "high-cpu-all",
        "high-cpu-1",
        "lastpoint",
        "groupby-orderby-limit",
    ] {
        assert!(
            stdout.lines().any(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some(kind) && words.next() == Some("ok")
            }),
            "{kind} not reported as matching:\n{stdout}"
        );
    }
}
