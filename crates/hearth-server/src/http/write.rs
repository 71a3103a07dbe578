//! Line-protocol writes on the InfluxDB v1, v2 and v3 endpoints.
//!
//! All three share one path: read the body (with the size limit applied after gzip
//! decompression too), parse and validate, append to the WAL, answer 204 once durable. They
//! differ in parameter names, precision names, defaults and error bodies. Each takes an
//! optional idempotency key (`Idempotency-Key` header or `batch_id` parameter): a repeat of a
//! key already applied gets the first answer and writes nothing.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_lineproto::Precision;
use hearth_storage::WriteOptions;
use hearth_wal::BufferPool;

use super::HttpState;
use super::body::{PooledBody, ReadError, read};
use super::error::{ApiError, Flavor};

/// Reads the request body into a buffer of `pool`, bounded by `limit` bytes before and after
/// decompression.
pub(crate) async fn read_body<'p>(
    pool: &'p BufferPool,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<PooledBody<'p>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let raw = read(pool, body, declared, limit)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => ApiError::TooLarge(limit),
            ReadError::Broken(why) => {
                ApiError::BadRequest(format!("the request body could not be read: {why}"))
            }
        })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(raw),
        "gzip" | "x-gzip" => {
            let mut out = PooledBody::empty(pool, 0);
            flate2::read::MultiGzDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(out.buffer())
                .map_err(|e| ApiError::BadRequest(format!("invalid gzip body: {e}")))?;
            if out.len() > limit {
                return Err(ApiError::TooLarge(limit));
            }
            Ok(out)
        }
        other => Err(ApiError::UnsupportedEncoding(other.to_string())),
    }
}

fn parse_bool(
    params: &HashMap<String, String>,
    key: &str,
    default: bool,
) -> Result<bool, ApiError> {
    match params.get(key).map(String::as_str) {
        None | Some("") => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "invalid value {other:?} for parameter {key}: expected true or false"
        ))),
    }
}

/// The idempotency key of a request: the `Idempotency-Key` header or the `batch_id` parameter.
fn idempotency_key<'a>(
    headers: &'a HeaderMap,
    params: &'a HashMap<String, String>,
) -> Result<Option<&'a str>, ApiError> {
    if let Some(v) = headers.get("idempotency-key") {
        return v
            .to_str()
            .map(Some)
            .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()));
    }
    Ok(params.get("batch_id").map(String::as_str))
}

/// How long a write waits for its share of the in-flight budget before it gets 429.
pub(crate) const BUDGET_WAIT: Duration = Duration::from_secs(5);

/// How long a write may take to send its body once it holds its share (so slow senders cannot
/// keep the budget from others); past it the write gets 408.
pub(crate) const BODY_WAIT: Duration = Duration::from_secs(30);

/// The share of the in-flight budget a write takes: its declared length, or the largest body
/// when the length is unknown or the body is compressed (it may grow up to that).
fn budget_share(headers: &HeaderMap, max_body_bytes: usize) -> u32 {
    let identity = headers
        .get(header::CONTENT_ENCODING)
        .is_none_or(|v| v.as_bytes().eq_ignore_ascii_case(b"identity"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|_| identity);
    let bytes = declared
        .unwrap_or(max_body_bytes)
        .clamp(1, max_body_bytes.max(1));
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

async fn write(
    state: &HttpState,
    params: &HashMap<String, String>,
    headers: HeaderMap,
    body: Body,
    db: Option<&String>,
    options: WriteOptions,
) -> Result<Response, ApiError> {
    let db = db.filter(|d| !d.is_empty()).ok_or_else(|| {
        ApiError::BadRequest("missing database name (db or bucket parameter)".into())
    })?;
    let key = idempotency_key(&headers, params)?;
    let share = budget_share(&headers, state.max_body_bytes);
    let _permit = tokio::time::timeout(
        BUDGET_WAIT,
        state.write_budget.clone().acquire_many_owned(share),
    )
    .await
    .map_err(|_| ApiError::Busy)?
    .map_err(|_| ApiError::Busy)?;
    let bytes = tokio::time::timeout(
        BODY_WAIT,
        read_body(&state.bodies, &headers, body, state.max_body_bytes),
    )
    .await
    .map_err(|_| ApiError::BodyTimeout(BODY_WAIT))??;
    let outcome = state
        .storage
        .write_lp_once(db, &bytes, options, key)
        .await
        .map_err(ApiError::Storage)?;
    state
        .metrics
        .rows_written
        .fetch_add(outcome.rows as u64, Ordering::Relaxed);
    if outcome.errors.is_empty() {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::Lines {
            errors: outcome.errors,
            written: outcome.rows,
        })
    }
}

async fn respond(
    state: Arc<HttpState>,
    flavor: Flavor,
    result: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    state.metrics.write_requests.fetch_add(1, Ordering::Relaxed);
    match result.await {
        Ok(r) => r,
        Err(e) => {
            state.metrics.write_errors.fetch_add(1, Ordering::Relaxed);
            e.into_response(flavor)
        }
    }
}

fn precision(
    params: &HashMap<String, String>,
    default: Precision,
    parse: fn(&str) -> Option<Precision>,
) -> Result<Precision, ApiError> {
    match params.get("precision").map(String::as_str) {
        None | Some("") => Ok(default),
        Some(p) => parse(p).ok_or_else(|| ApiError::BadRequest(format!("invalid precision {p:?}"))),
    }
}

/// What distinguishes the three write endpoints.
struct Endpoint {
    flavor: Flavor,
    /// Name of the database parameter.
    db_param: &'static str,
    default_precision: Precision,
    parse_precision: fn(&str) -> Option<Precision>,
    /// Whether `accept_partial` and `no_sync` are parameters (v3) or fixed (v1, v2).
    native: bool,
}

const V3: Endpoint = Endpoint {
    flavor: Flavor::V3,
    db_param: "db",
    default_precision: Precision::Auto,
    parse_precision: Precision::from_v3,
    native: true,
};
const V2: Endpoint = Endpoint {
    flavor: Flavor::V2,
    db_param: "bucket",
    default_precision: Precision::Nanosecond,
    parse_precision: Precision::from_v2,
    native: false,
};
const V1: Endpoint = Endpoint {
    flavor: Flavor::V1,
    db_param: "db",
    default_precision: Precision::Nanosecond,
    parse_precision: Precision::from_v1,
    native: false,
};

async fn handle(
    endpoint: &Endpoint,
    state: Arc<HttpState>,
    params: HashMap<String, String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let s = state.clone();
    respond(state, endpoint.flavor, async move {
        let options = WriteOptions {
            precision: precision(
                &params,
                endpoint.default_precision,
                endpoint.parse_precision,
            )?,
            accept_partial: !endpoint.native || parse_bool(&params, "accept_partial", true)?,
            no_sync: endpoint.native && parse_bool(&params, "no_sync", false)?,
        };
        let db = params.get(endpoint.db_param);
        write(&s, &params, headers, body, db, options).await
    })
    .await
}

/// `POST /api/v3/write_lp?db=&precision=&accept_partial=&no_sync=`
pub(crate) async fn write_v3(
    State(state): State<Arc<HttpState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&V3, state, params, headers, body).await
}

/// `POST /api/v2/write?bucket=&org=&precision=`
pub(crate) async fn write_v2(
    State(state): State<Arc<HttpState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&V2, state, params, headers, body).await
}

/// `POST /write?db=&precision=`
pub(crate) async fn write_v1(
    State(state): State<Arc<HttpState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&V1, state, params, headers, body).await
}
