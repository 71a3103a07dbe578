//! HTTP errors: the one place that maps failures to status codes and to each API's error body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_lineproto::LineError;
use hearth_storage::StorageError;
use serde_json::json;

/// Which InfluxDB API an answer must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `/write`: `{"error": "..."}`.
    V1,
    /// `/api/v2/write`: `{"code": "...", "message": "..."}`.
    V2,
    /// `/api/v3/*`: `{"error": "...", "data": ...}`.
    V3,
}

/// A failed request.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// Bad request parameters or body.
    BadRequest(String),
    /// The database does not exist (reads).
    NotFound(String),
    /// The body is over the limit.
    TooLarge(usize),
    /// Unsupported `Content-Encoding`.
    UnsupportedEncoding(String),
    /// Some lines were bad.
    Lines {
        errors: Vec<LineError>,
        written: usize,
    },
    /// Too many write bodies in flight: the request waited for its share and did not get it.
    Busy,
    /// The body did not arrive in time.
    BodyTimeout(std::time::Duration),
    /// Storage failed or refused.
    Storage(StorageError),
    /// No valid `--auth-token` was presented.
    Unauthorized,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Lines { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Busy => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Storage(e) => match e {
                StorageError::Catalog(_) | StorageError::Invalid(_) | StorageError::Rows { .. } => {
                    StatusCode::BAD_REQUEST
                }
                // A WAL that failed to write or fsync refuses every later write (as PostgreSQL
                // stops rather than acknowledge what it could not make durable).
                StorageError::MemoryLimit { .. } | StorageError::Wal(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m) | ApiError::NotFound(m) => m.clone(),
            ApiError::TooLarge(limit) => {
                format!("request body is larger than the limit of {limit} bytes")
            }
            ApiError::UnsupportedEncoding(e) => format!("unsupported Content-Encoding {e:?}"),
            ApiError::BodyTimeout(wait) => {
                format!(
                    "the request body did not arrive within {} s",
                    wait.as_secs()
                )
            }
            ApiError::Busy => {
                "too many write requests in flight; retry after the time in Retry-After".into()
            }
            ApiError::Lines { errors, written } => {
                let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
                if *written > 0 {
                    format!("partial write: {first} dropped={}", errors.len())
                } else {
                    format!("{first}; no lines written")
                }
            }
            ApiError::Storage(e) => e.to_string(),
            ApiError::Unauthorized => "unauthorized access".into(),
        }
    }

    /// The response in the shape of `flavor`.
    pub(crate) fn into_response(self, flavor: Flavor) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self.message(), "request failed");
        }
        let body = match (&self, flavor) {
            (ApiError::Lines { errors, .. }, Flavor::V3) => json!({
                "error": "partial write of line protocol occurred",
                "data": errors.iter().map(|e| json!({
                    "original_line": e.original_line,
                    "line_number": e.line_number,
                    "error_message": e.message,
                })).collect::<Vec<_>>(),
            }),
            (_, Flavor::V1 | Flavor::V3) => json!({ "error": self.message() }),
            (_, Flavor::V2) => {
                let code = match status {
                    StatusCode::NOT_FOUND => "not found",
                    StatusCode::UNAUTHORIZED => "unauthorized",
                    StatusCode::PAYLOAD_TOO_LARGE => "request too large",
                    StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                    StatusCode::TOO_MANY_REQUESTS => "too many requests",
                    StatusCode::INTERNAL_SERVER_ERROR => "internal error",
                    _ => "invalid",
                };
                let mut body = json!({ "code": code, "message": self.message() });
                if let ApiError::Lines { errors, .. } = &self
                    && let Some(first) = errors.first()
                {
                    body["line"] = json!(first.line_number);
                }
                body
            }
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
