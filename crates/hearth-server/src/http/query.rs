//! `/api/v3/query_sql`: read-only SQL over HTTP in json, jsonl, csv, parquet or pretty text.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use hearth_query::QueryError;
use hearth_query::engine::CommandResult;
use serde::Deserialize;

use super::HttpState;
use super::error::{ApiError, Flavor};
use super::write::read_body;

/// The JSON body of `POST /api/v3/query_sql`.
#[derive(Debug, Deserialize)]
pub(crate) struct QueryRequest {
    db: Option<String>,
    q: Option<String>,
    format: Option<String>,
}

pub(crate) async fn query_sql_get(
    State(state): State<Arc<HttpState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let request = QueryRequest {
        db: params.get("db").cloned(),
        q: params.get("q").cloned(),
        format: params.get("format").cloned(),
    };
    run(&state, request).await
}

pub(crate) async fn query_sql_post(
    State(state): State<Arc<HttpState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_body(&state.bodies, &headers, body, state.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(Flavor::V3),
    };
    let mut request: QueryRequest = if bytes.is_empty() {
        QueryRequest {
            db: None,
            q: None,
            format: None,
        }
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                return ApiError::BadRequest(format!("invalid JSON body: {e}"))
                    .into_response(Flavor::V3);
            }
        }
    };
    // Query-string parameters fill what the body leaves out.
    request.db = request.db.or_else(|| params.get("db").cloned());
    request.q = request.q.or_else(|| params.get("q").cloned());
    request.format = request.format.or_else(|| params.get("format").cloned());
    run(&state, request).await
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    JsonLines,
    Csv,
    Parquet,
    Pretty,
}

impl Format {
    fn parse(s: Option<&str>) -> Result<Format, ApiError> {
        Ok(match s.unwrap_or("json") {
            "json" => Format::Json,
            "jsonl" => Format::JsonLines,
            "csv" => Format::Csv,
            "parquet" => Format::Parquet,
            "pretty" => Format::Pretty,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "invalid format {other:?}: expected json, jsonl, csv, parquet or pretty"
                )));
            }
        })
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::JsonLines => "application/jsonl",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
            Format::Pretty => "text/plain; charset=utf-8",
        }
    }
}

async fn run(state: &HttpState, request: QueryRequest) -> Response {
    state.metrics.queries.fetch_add(1, Ordering::Relaxed);
    match execute(state, request).await {
        Ok(r) => r,
        Err(e) => {
            state.metrics.query_errors.fetch_add(1, Ordering::Relaxed);
            e.into_response(Flavor::V3)
        }
    }
}

async fn execute(state: &HttpState, request: QueryRequest) -> Result<Response, ApiError> {
    let format = Format::parse(request.format.as_deref())?;
    let db = request
        .db
        .filter(|d| !d.is_empty())
        .ok_or_else(|| ApiError::BadRequest("missing parameter db".into()))?;
    let q = request
        .q
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("missing parameter q".into()))?;
    let failed = |e: QueryError| match e {
        QueryError::DatabaseNotFound(_) | QueryError::Command { code: "3D000", .. } => {
            ApiError::NotFound(e.to_string())
        }
        QueryError::Command { .. } | QueryError::DataFusion(_) => {
            ApiError::BadRequest(e.to_string())
        }
    };
    let (schema, batches) = match state.engine.execute_command(&db, &q).await {
        Some(result) => match result.map_err(failed)? {
            CommandResult::Done(tag, rows) => {
                let mut body = serde_json::json!({ "command": tag });
                if let Some(rows) = rows {
                    body["rows"] = rows.into();
                }
                return Ok(Json(body).into_response());
            }
            CommandResult::Rows(schema, batches) => (schema, batches),
        },
        None => state.engine.query(&db, &q).await.map_err(failed)?,
    };
    let body = encode(format, &schema, &batches)
        .map_err(|e| ApiError::BadRequest(format!("cannot encode the result: {e}")))?;
    if let Format::Json = format
        && batches.iter().all(|b| b.num_rows() == 0)
    {
        return Ok(Json(serde_json::json!([])).into_response());
    }
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

fn encode(
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    use datafusion::arrow::{csv, json};
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let mut out = Vec::new();
    match format {
        Format::Json => {
            let mut w = json::ArrayWriter::new(&mut out);
            w.write_batches(&refs)?;
            w.finish()?;
        }
        Format::JsonLines => {
            let mut w = json::LineDelimitedWriter::new(&mut out);
            w.write_batches(&refs)?;
            w.finish()?;
        }
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().with_header(true).build(&mut out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Parquet => {
            let mut w =
                datafusion::parquet::arrow::ArrowWriter::try_new(&mut out, schema.clone(), None)?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
        }
        Format::Pretty => {
            let text = datafusion::arrow::util::pretty::pretty_format_batches(batches)?;
            out.extend_from_slice(text.to_string().as_bytes());
            out.push(b'\n');
        }
    }
    Ok(out)
}
