//! End to end: `hearth-bench generate` writes a file, `hearth-bench ingest`
//! posts it to a small in-process HTTP server that counts the lines it gets.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

#[derive(Default)]
struct Server {
    lines: AtomicU64,
    requests: AtomicU64,
    rejected_once: AtomicBool,
    always_fail: bool,
    queries: Mutex<Vec<String>>,
}

async fn write(
    State(server): State<Arc<Server>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    server.requests.fetch_add(1, Ordering::SeqCst);
    if server.always_fail {
        return (StatusCode::INTERNAL_SERVER_ERROR, "{\"error\":\"boom\"}").into_response();
    }
    // The first request is turned away once, without Retry-After.
    if !server.rejected_once.swap(true, Ordering::SeqCst) {
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    }
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip");
    let mut text = String::new();
    if gzip {
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .is_err()
        {
            return StatusCode::BAD_REQUEST.into_response();
        }
    } else {
        text = String::from_utf8_lossy(&body).into_owned();
    }
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    server.lines.fetch_add(lines, Ordering::SeqCst);
    server
        .queries
        .lock()
        .expect("lock")
        .push(query.unwrap_or_default());
    StatusCode::NO_CONTENT.into_response()
}

/// Starts the server on 127.0.0.1:0 in a runtime that lives as long as the returned handle.
fn start(server: Arc<Server>) -> (tokio::runtime::Runtime, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let app = Router::new()
        .route("/api/v3/write_lp", post(write))
        .route("/api/v2/write", post(write))
        .route("/write", post(write))
        .with_state(server);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    runtime.spawn(async move { axum::serve(listener, app).await });
    (runtime, addr)
}

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth-bench"))
        .args(args)
        .output()
        .expect("run hearth-bench")
}

fn generate(path: &Path) -> u64 {
    let out = bench(&[
        "generate",
        "--use-case",
        "cpu-only",
        "--scale",
        "7",
        "--duration",
        "10m",
        "--seed",
        "3",
        "--output",
        path.to_str().expect("utf-8 path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrote 420 lines"), "{stderr}");
    let text = std::fs::read_to_string(path).expect("read generated file");
    text.lines().count() as u64
}

fn report(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn ingest_counts_every_line_and_retries_a_429() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cpu.lp");
    let lines = generate(&path);
    assert_eq!(lines, 420);

    for (endpoint, gzip, query) in [
        ("v3", false, "db=bench&precision=nanosecond"),
        ("v2", true, "bucket=bench&precision=ns"),
    ] {
        let server = Arc::new(Server::default());
        let (_runtime, addr) = start(server.clone());
        let url = format!("http://{addr}");
        let mut args = vec![
            "ingest",
            "--http",
            &url,
            "--db",
            "bench",
            "--workers",
            "3",
            "--batch",
            "50",
            "--endpoint",
            endpoint,
            "--json",
            path.to_str().expect("utf-8 path"),
        ];
        if gzip {
            args.push("--gzip");
        }
        let out = bench(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(server.lines.load(Ordering::SeqCst), lines, "{endpoint}");
        let json = report(&out);
        assert_eq!(json["rows"], lines);
        assert_eq!(
            json["batches"], 9,
            "420 lines in batches of 50: 8 full and one of 20"
        );
        assert_eq!(json["retries"], 1);
        assert_eq!(json["errors"], 0);
        assert_eq!(json["requests"], 10);
        assert_eq!(server.requests.load(Ordering::SeqCst), 10);
        assert!(json["latency_ms"]["max"].as_f64().is_some_and(|v| v > 0.0));
        assert!(json["rows_per_s"].as_f64().is_some_and(|v| v > 0.0));
        let queries = server.queries.lock().expect("lock");
        assert!(queries.iter().all(|q| q == query), "{queries:?}");
    }
}

#[test]
fn ingest_fails_when_batches_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cpu.lp");
    generate(&path);
    let server = Arc::new(Server {
        always_fail: true,
        ..Server::default()
    });
    let (_runtime, addr) = start(server.clone());
    let url = format!("http://{addr}");
    let out = bench(&[
        "ingest",
        "--http",
        &url,
        "--db",
        "bench",
        "--batch",
        "100",
        "--limit-rows",
        "250",
        "--json",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json = report(&out);
    assert_eq!(json["errors"], 3);
    assert_eq!(json["rows"], 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 500"));
}
