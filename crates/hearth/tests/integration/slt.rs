//! The sqllogictest files in `sql/`, run twice: in-process (storage and query engine in this
//! process, values formatted as PostgreSQL prints them) and over the PostgreSQL wire protocol
//! against the real binary (tokio-postgres' simple query protocol, values as the server sends
//! them). Both must give the answers the files expect.
//!
//! Besides SQL, a file can say (see `sql/README.md`):
//! - `WRITE LINES [PRECISION p]` followed by line protocol: written to the file's database
//!   (in-process through `Storage::write_lp`, over the wire through `POST /api/v3/write_lp`);
//! - `FLUSH`: buffered rows become Parquet files (over the wire: a graceful restart, which
//!   flushes);
//! - `RESTART`: the storage is reopened from its WAL and object store (over the wire: the
//!   server process is stopped with SIGTERM and started again).
//!
//! Each file gets its own database, named after the file (`time_series.slt` → `time_series`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use hearth_lineproto::Precision;
use hearth_query::QueryEngine;
use hearth_query::engine::CommandResult;
use hearth_storage::flush::FlushReason;
use hearth_storage::{Storage, StorageConfig, WriteOptions};
use hearth_views::{Views, ViewsConfig};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, MakeConnection, Runner};

use crate::server::{Server, http, sql};

/// A statement or query that failed, with its SQLSTATE when there is one.
#[derive(Debug)]
struct SltError {
    code: Option<String>,
    message: String,
}

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} (SQLSTATE {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SltError {}

fn fail(message: impl std::fmt::Display) -> SltError {
    SltError {
        code: None,
        message: message.to_string(),
    }
}

/// The harness statements a file may use besides SQL.
enum Directive<'a> {
    /// `precision` as written (`s`, `ms`, ...; the v3 API's names), nanoseconds if absent.
    Write {
        precision: &'a str,
        body: &'a str,
    },
    Flush,
    Restart,
}

fn directive(sql: &str) -> Result<Option<Directive<'_>>, SltError> {
    let (first, rest) = sql.split_once('\n').unwrap_or((sql, ""));
    let words: Vec<&str> = first.split_whitespace().collect();
    Ok(Some(match words.as_slice() {
        ["WRITE", "LINES"] => Directive::Write {
            precision: "ns",
            body: rest,
        },
        ["WRITE", "LINES", "PRECISION", p] => Directive::Write {
            precision: p,
            body: rest,
        },
        ["FLUSH"] => Directive::Flush,
        ["RESTART"] => Directive::Restart,
        _ => return Ok(None),
    }))
}

/// The database a file's statements run in.
fn database_of(file: &Path) -> String {
    file.file_stem()
        .and_then(|s| s.to_str())
        .expect("file name")
        .replace('-', "_")
}

/// `value` as PostgreSQL's text output shows it, the way sqllogictest files write it.
fn pg_text(column: &ArrayRef, row: usize) -> String {
    if column.is_null(row) {
        return "NULL".into();
    }
    let text = match column.data_type() {
        DataType::Boolean => if column.as_boolean().value(row) {
            "t"
        } else {
            "f"
        }
        .to_string(),
        DataType::Float64 => float_text(
            column
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .value(row),
        ),
        DataType::Float32 => float_text(f64::from(
            column
                .as_primitive::<datafusion::arrow::datatypes::Float32Type>()
                .value(row),
        )),
        DataType::Timestamp(_, zone) => {
            let as_micros = datafusion::arrow::compute::cast(
                &column.slice(row, 1),
                &DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
            )
            .expect("timestamps convert to microseconds");
            let micros = as_micros
                .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
                .value(0);
            timestamp_text(micros, zone.as_deref())
        }
        _ => {
            let options = FormatOptions::default();
            ArrayFormatter::try_new(column.as_ref(), &options)
                .expect("formattable")
                .value(row)
                .to_string()
        }
    };
    if text.is_empty() {
        "(empty)".into()
    } else {
        text
    }
}

/// A float as PostgreSQL prints it: the shortest text that reads back the same, no `.0`.
fn float_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{v}")
    }
}

/// A timestamp as PostgreSQL prints it: `2024-05-01 10:00:00.5+02` (with a zone) or without
/// the offset (without one); fractions only when there are some, trailing zeros trimmed.
fn timestamp_text(micros: i64, zone: Option<&str>) -> String {
    use chrono::{DateTime, Offset, TimeZone};
    let utc = DateTime::from_timestamp_micros(micros).expect("timestamp in range");
    let (local, offset) = match zone {
        Some(z) => {
            let tz: datafusion::arrow::array::timezone::Tz = z.parse().expect("zone");
            let offset = tz.offset_from_utc_datetime(&utc.naive_utc()).fix();
            (utc.naive_utc() + offset, Some(offset.local_minus_utc()))
        }
        None => (utc.naive_utc(), None),
    };
    let mut text = local.format("%Y-%m-%d %H:%M:%S").to_string();
    let fraction = local.and_utc().timestamp_subsec_micros();
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    if let Some(seconds) = offset {
        let sign = if seconds < 0 { '-' } else { '+' };
        let seconds = seconds.abs();
        text.push_str(&format!("{sign}{:02}", seconds / 3600));
        if seconds % 3600 != 0 {
            text.push_str(&format!(":{:02}", seconds % 3600 / 60));
        }
    }
    text
}

/// Hearth in this process.
struct InProcess {
    dir: PathBuf,
    db: String,
    storage: Option<Arc<Storage>>,
    engine: Option<Arc<QueryEngine>>,
    views: Option<Arc<Views>>,
}

impl InProcess {
    async fn open(dir: PathBuf, db: String) -> InProcess {
        let storage = Storage::open(StorageConfig::in_dir(&dir))
            .await
            .expect("storage opens");
        let mut engine = QueryEngine::new(storage.clone(), 1 << 28).expect("engine");
        let views = Views::new(storage.clone(), ViewsConfig::default());
        views.register(&mut engine);
        let engine = Arc::new(engine);
        views.start(&engine).await.expect("views load");
        InProcess {
            dir,
            db,
            storage: Some(storage),
            engine: Some(engine),
            views: Some(views),
        }
    }

    fn storage(&self) -> &Arc<Storage> {
        self.storage.as_ref().expect("open")
    }

    fn engine(&self) -> &QueryEngine {
        self.engine.as_ref().expect("open")
    }
}

fn query_failed(e: &hearth_query::QueryError) -> SltError {
    let (code, message) = e.sqlstate();
    SltError {
        code: Some(code.to_string()),
        message,
    }
}

#[async_trait]
impl AsyncDB for InProcess {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        match directive(sql)? {
            Some(Directive::Write { precision, body }) => {
                let precision = Precision::from_v3(precision)
                    .ok_or_else(|| fail(format!("unknown precision {precision}")))?;
                let options = WriteOptions {
                    precision,
                    accept_partial: false,
                    no_sync: false,
                };
                let out = self
                    .storage()
                    .write_lp(&self.db, body.as_bytes(), options)
                    .await
                    .map_err(fail)?;
                if let Some(e) = out.errors.first() {
                    return Err(fail(format!("line {}: {}", e.line_number, e.message)));
                }
                return Ok(DBOutput::StatementComplete(out.rows as u64));
            }
            Some(Directive::Flush) => {
                self.storage().flush(FlushReason::Age).await.map_err(fail)?;
                return Ok(DBOutput::StatementComplete(0));
            }
            Some(Directive::Restart) => {
                self.views = None;
                self.engine = None;
                self.storage = None;
                *self = InProcess::open(self.dir.clone(), self.db.clone()).await;
                return Ok(DBOutput::StatementComplete(0));
            }
            None => {}
        }
        let (schema, batches) = match self.engine().execute_command(&self.db, sql).await {
            Some(result) => match result.map_err(|e| query_failed(&e))? {
                CommandResult::Done(_, rows) => {
                    return Ok(DBOutput::StatementComplete(rows.unwrap_or(0) as u64));
                }
                CommandResult::Rows(schema, batches) => (schema, batches),
            },
            None => self
                .engine()
                .query(&self.db, sql)
                .await
                .map_err(|e| query_failed(&e))?,
        };
        let mut rows = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                rows.push(batch.columns().iter().map(|c| pg_text(c, row)).collect());
            }
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; schema.fields().len()],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "in-process"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        err.code.clone()
    }
}

/// The server's flags: no background refresh of views, so that what a file expects of
/// `system.views` holds as it does in-process (views refresh on `REFRESH MATERIALIZED VIEW`).
const SERVER_FLAGS: &[&str] = &["--view-refresh-interval", "24h"];

/// Hearth over the PostgreSQL wire protocol.
struct OverPg {
    dir: PathBuf,
    db: String,
    server: Option<Server>,
    client: tokio_postgres::Client,
}

impl OverPg {
    async fn start(dir: PathBuf, db: String) -> OverPg {
        let server = Server::start(&dir, SERVER_FLAGS);
        let created = sql(&server, &db, &format!("CREATE DATABASE IF NOT EXISTS {db}")).await;
        assert_eq!(created.0, 200, "create the file's database: {created:?}");
        let client = server.pg(&db).await;
        OverPg {
            dir,
            db,
            server: Some(server),
            client,
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    async fn restart(&mut self) {
        let status = self.server.take().expect("running").stop();
        assert!(status.success(), "graceful stop: {status}");
        let server = Server::start(&self.dir, SERVER_FLAGS);
        self.client = server.pg(&self.db).await;
        self.server = Some(server);
    }
}

/// A value as the server sent it (PostgreSQL's text), with the harness's spelling of the empty
/// string.
fn wire_text(value: &str) -> String {
    if value.is_empty() {
        "(empty)".into()
    } else {
        value.to_string()
    }
}

#[async_trait]
impl AsyncDB for OverPg {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        match directive(sql)? {
            Some(Directive::Write { precision, body }) => {
                let url = self.server().url(&format!(
                    "/api/v3/write_lp?db={}&precision={}&accept_partial=false",
                    self.db, precision
                ));
                let response = http()
                    .post(url)
                    .body(body.to_string())
                    .send()
                    .await
                    .map_err(fail)?;
                let status = response.status();
                let text = response.text().await.map_err(fail)?;
                if !status.is_success() {
                    // A rejected line reads as in-process: `line N: message`.
                    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    let line = &json["data"][0];
                    return Err(fail(
                        match (line["line_number"].as_u64(), line["error_message"].as_str()) {
                            (Some(n), Some(m)) => format!("line {n}: {m}"),
                            _ => format!("write: {status}: {text}"),
                        },
                    ));
                }
                return Ok(DBOutput::StatementComplete(0));
            }
            Some(Directive::Flush | Directive::Restart) => {
                self.restart().await;
                return Ok(DBOutput::StatementComplete(0));
            }
            None => {}
        }
        let messages = self.client.simple_query(sql).await.map_err(|e| SltError {
            code: e.code().map(|c| c.code().to_string()),
            message: e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string()),
        })?;
        let mut rows = Vec::new();
        let mut columns = None;
        let mut affected = None;
        for m in messages {
            match m {
                tokio_postgres::SimpleQueryMessage::RowDescription(d) => columns = Some(d.len()),
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    rows.push(
                        (0..r.len())
                            .map(|i| r.get(i).map_or_else(|| "NULL".into(), wire_text))
                            .collect::<Vec<String>>(),
                    );
                }
                tokio_postgres::SimpleQueryMessage::CommandComplete(n) => affected = Some(n),
                _ => {}
            }
        }
        Ok(match columns {
            Some(n) => DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            },
            None => DBOutput::StatementComplete(affected.unwrap_or(0)),
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "postgres-wire"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        err.code.clone()
    }
}

/// The `.slt` files under `sql/`.
fn slt_files() -> Vec<PathBuf> {
    let root = crate::server::manifest_dir().join("../../sql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("sql/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", root.display());
    files
}

/// A connection maker that hands out one prepared connection (a file runs on one connection).
struct Once<D>(Option<D>);

impl<D: AsyncDB + Send + 'static> MakeConnection for Once<D> {
    type Conn = D;
    type MakeFuture = std::future::Ready<Result<D, D::Error>>;

    fn make(&mut self) -> Self::MakeFuture {
        std::future::ready(Ok(self.0.take().expect("one connection per file")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_files_in_process() {
    for file in slt_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = InProcess::open(dir.path().to_path_buf(), database_of(&file)).await;
        let mut runner = Runner::new(Once(Some(db)));
        runner.add_label("in-process");
        runner
            .run_file_async(&file)
            .await
            .unwrap_or_else(|e| panic!("{} (in-process):\n{e}", file.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_files_over_postgres_wire() {
    for file in slt_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = OverPg::start(dir.path().to_path_buf(), database_of(&file)).await;
        let mut runner = Runner::new(Once(Some(db)));
        runner.add_label("postgres-wire");
        runner
            .run_file_async(&file)
            .await
            .unwrap_or_else(|e| panic!("{} (over the wire):\n{e}", file.display()));
    }
}

#[test]
fn postgres_text_of_timestamps_and_floats() {
    assert_eq!(timestamp_text(0, Some("UTC")), "1970-01-01 00:00:00+00");
    assert_eq!(
        timestamp_text(1_500_000, Some("Europe/Berlin")),
        "1970-01-01 01:00:01.5+01"
    );
    assert_eq!(timestamp_text(-1, None), "1969-12-31 23:59:59.999999");
    assert_eq!(float_text(240.0), "240");
    assert_eq!(float_text(0.1 + 0.2), "0.30000000000000004");
}
