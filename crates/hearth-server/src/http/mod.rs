//! The HTTP front end: InfluxDB-compatible writes, SQL over HTTP, health and metrics.
//!
//! | route | handler |
//! |---|---|
//! | `POST /api/v3/write_lp` | [`write::write_v3`] |
//! | `POST /api/v2/write` | [`write::write_v2`] |
//! | `POST /write` | [`write::write_v1`] |
//! | `GET, POST /api/v3/query_sql` | [`query::query_sql`] |
//! | `GET /health`, `GET, HEAD /ping`, `GET /metrics` | here |
//!
//! Status codes and error bodies are decided in one place per API flavour ([`error`]);
//! [`auth`] checks `--auth-token`; [`serve`] runs the listener (TLS, limits, timeouts).

mod auth;
mod body;
mod error;
mod query;
pub mod serve;
mod write;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hearth_query::QueryEngine;
use hearth_storage::Storage;
use tokio::net::TcpListener;

/// Counters exported on `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    write_requests: AtomicU64,
    write_errors: AtomicU64,
    rows_written: AtomicU64,
    queries: AtomicU64,
    query_errors: AtomicU64,
}

/// The budget of write bodies in flight: an eighth of the server's memory limit, and room for at
/// least two bodies of the largest size. A write takes its share (its `Content-Length`, or the
/// largest body size when the length is unknown or the body is compressed) before it reads the
/// body, and gives it back when answered; a write that waits longer than
/// [`write::BUDGET_WAIT`] for its share gets 429. Together with the buffer's limit this bounds
/// the memory any write load can take.
pub fn write_budget(memory_limit: usize, max_body_bytes: usize) -> Arc<tokio::sync::Semaphore> {
    let bytes = (memory_limit / 8)
        .max(max_body_bytes.saturating_mul(2))
        .min(tokio::sync::Semaphore::MAX_PERMITS);
    Arc::new(tokio::sync::Semaphore::new(bytes))
}

/// What the HTTP handlers share.
#[derive(Debug)]
pub struct HttpState {
    /// The write path.
    pub storage: Arc<Storage>,
    /// The query engine.
    pub engine: Arc<QueryEngine>,
    /// Largest accepted request body, after decompression.
    pub max_body_bytes: usize,
    /// Bytes of write bodies that may be in flight at once (see [`HttpState::write_budget`]).
    pub write_budget: Arc<tokio::sync::Semaphore>,
    /// Counters.
    pub metrics: Metrics,
    /// The token requests must present (`--auth-token`), if any.
    pub auth: Option<TokenCheck>,
    /// Buffers for request bodies, used again.
    pub bodies: hearth_wal::BufferPool,
}

pub use auth::TokenCheck;

/// The router with every route.
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/api/v3/write_lp", post(write::write_v3))
        .route("/api/v2/write", post(write::write_v2))
        .route("/write", post(write::write_v1))
        .route(
            "/api/v3/query_sql",
            get(query::query_sql_get).post(query::query_sql_post),
        )
        .route("/health", get(health))
        .route("/ping", get(ping).head(ping))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .with_state(state)
}

/// Serves HTTP on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    listening: serve::Listening,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve(listener, router(state), listening, shutdown).await
}

async fn health() -> &'static str {
    "OK"
}

async fn ping() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let v = HeaderValue::from_static(concat!("hearth-", env!("CARGO_PKG_VERSION")));
    r.headers_mut().insert("X-Influxdb-Version", v.clone());
    r.headers_mut()
        .insert("X-Influxdb-Build", HeaderValue::from_static("hearth"));
    r
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    let m = &state.metrics;
    let buffer = state.storage.buffer().stats();
    let wal = state.storage.wal_stats();
    let backlog = state.storage.backlog_stats();
    let lines = [
        (
            "hearth_http_write_requests_total",
            "counter",
            m.write_requests.load(Ordering::Relaxed),
        ),
        (
            "hearth_http_write_errors_total",
            "counter",
            m.write_errors.load(Ordering::Relaxed),
        ),
        (
            "hearth_rows_written_total",
            "counter",
            m.rows_written.load(Ordering::Relaxed),
        ),
        (
            "hearth_http_queries_total",
            "counter",
            m.queries.load(Ordering::Relaxed),
        ),
        (
            "hearth_http_query_errors_total",
            "counter",
            m.query_errors.load(Ordering::Relaxed),
        ),
        ("hearth_wal_appends_total", "counter", wal.appends),
        ("hearth_wal_groups_total", "counter", wal.groups),
        ("hearth_wal_syncs_total", "counter", wal.syncs),
        ("hearth_buffer_rows", "gauge", buffer.rows as u64),
        (
            "hearth_buffer_bytes",
            "gauge",
            (buffer.bytes + buffer.persisting_bytes) as u64,
        ),
        (
            "hearth_buffer_bytes_bound",
            "gauge",
            state.storage.backlog_bound() as u64,
        ),
        ("hearth_write_backlog_waits_total", "counter", backlog.waits),
        (
            "hearth_latest_row_cache_builds_total",
            "counter",
            state.storage.last().builds(),
        ),
    ];
    let mut out = String::new();
    for (name, kind, value) in lines {
        out.push_str(&format!("# TYPE {name} {kind}\n{name} {value}\n"));
    }
    let name = "hearth_write_backlog_wait_seconds_total";
    out.push_str(&format!(
        "# TYPE {name} counter\n{name} {}\n",
        backlog.wait_seconds
    ));
    out.push_str(&state.engine.extension_metrics());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
