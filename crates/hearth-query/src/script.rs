//! Running SQL text the way a scheduled job runs it: statement by statement, in one session of
//! a database, with `now()` fixed to a given instant.
//!
//! A job's window must be a pure function of its schedule, so `now()`, `current_timestamp`,
//! `current_date` and `current_time` answer the run's scheduled time however late the run
//! happens ([`AsOf`]). What a job may run: queries, `INSERT INTO table SELECT ...` (through the
//! WAL like any write), `DELETE`, Hearth's own statements (views, databases) and
//! `COPY (query) TO 'target' (FORMAT csv|parquet)` exports into the object store
//! ([`export`]); anything else is refused.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result as DfResult;
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::ast::{CopyLegacyOption, CopyOption, CopySource, CopyTarget};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::QueryEngine;
use crate::engine::set_statement;
use crate::error::QueryError;
use crate::split::split_statements;

/// What one statement of a script did: its command tag as PostgreSQL prints it (`INSERT 0 12`,
/// `COPY 12`, `SELECT 3`, `DELETE 2`, `REFRESH MATERIALIZED VIEW`) and its row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The command tag with its count.
    pub tag: String,
    /// Rows written, deleted, exported or returned, if the statement counts rows.
    pub rows: Option<u64>,
}

/// The time functions that answer the scheduled time in a job.
const TIME_FUNCTIONS: [&str; 3] = ["now", "current_date", "current_time"];

/// A session of database `db` in which `now()` (and `current_timestamp`, `current_date`,
/// `current_time`) is `at`, parsing PostgreSQL's dialect.
pub fn session_as_of(engine: &QueryEngine, db: &str, at: DateTime<Utc>) -> SessionContext {
    let ctx = engine.session(db);
    {
        let state = ctx.state_ref();
        let mut state = state.write();
        state.config_mut().options_mut().sql_parser.dialect =
            datafusion::config::Dialect::PostgreSQL;
    }
    for name in TIME_FUNCTIONS {
        if let Some(inner) = ctx.state().scalar_functions().get(name).cloned() {
            ctx.register_udf(ScalarUDF::new_from_impl(AsOf {
                inner: inner.as_ref().clone(),
                at,
            }));
        }
    }
    ctx
}

/// Runs the statements of `text` in database `db` with `now()` fixed at `at`, in order, stopping
/// at the first error. Returns what each statement did.
pub async fn run(
    engine: &QueryEngine,
    db: &str,
    text: &str,
    at: DateTime<Utc>,
) -> Result<Vec<Done>, QueryError> {
    if !engine.catalogs().exists(db) {
        return Err(QueryError::DatabaseNotFound(db.to_string()));
    }
    let ctx = session_as_of(engine, db, at);
    let mut done = Vec::new();
    for piece in split_statements(text) {
        done.push(run_statement(engine, &ctx, db, piece).await?);
    }
    Ok(done)
}

async fn run_statement(
    engine: &QueryEngine,
    ctx: &SessionContext,
    db: &str,
    sql: &str,
) -> Result<Done, QueryError> {
    if engine.is_command(sql) {
        let result = engine
            .execute_command(db, sql)
            .await
            .unwrap_or_else(|| Err(not_in_a_job(sql)))?;
        return Ok(match result {
            crate::engine::CommandResult::Done(tag, rows) => Done {
                tag: match rows {
                    Some(n) => format!("{tag} {n}"),
                    None => tag.to_string(),
                },
                rows: rows.map(|n| n as u64),
            },
            crate::engine::CommandResult::Rows(_, batches) => {
                let n: usize = batches.iter().map(|b| b.num_rows()).sum();
                Done {
                    tag: format!("SELECT {n}"),
                    rows: Some(n as u64),
                }
            }
        });
    }
    set_statement(ctx, sql, None);
    if let Some(copy) = Copy::parse(sql)? {
        let rows = export(engine, ctx, &copy).await?;
        return Ok(Done {
            tag: format!("COPY {rows}"),
            rows: Some(rows),
        });
    }
    let state = ctx.state();
    let mut statement = state.sql_to_statement(sql, &datafusion::config::Dialect::PostgreSQL)?;
    // An upsert Hearth does as asked runs as its plain INSERT (see `upsert`).
    if let datafusion::sql::parser::Statement::Statement(parsed) = &mut statement
        && let Some(plain) = crate::upsert::without_upsert(engine.storage(), db, parsed)?
    {
        **parsed = plain;
    }
    let plan = state.statement_to_plan(statement).await?;
    if let Some(written) = engine.insert(ctx, db, &plan).await {
        let n = written? as u64;
        return Ok(Done {
            tag: format!("INSERT 0 {n}"),
            rows: Some(n),
        });
    }
    if let Some(deleted) = engine.delete(ctx, db, &plan).await {
        let n = deleted? as u64;
        return Ok(Done {
            tag: format!("DELETE {n}"),
            rows: Some(n),
        });
    }
    if matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_)
    ) {
        return Err(not_in_a_job(sql));
    }
    let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    Ok(Done {
        tag: format!("SELECT {n}"),
        rows: Some(n as u64),
    })
}

fn not_in_a_job(sql: &str) -> QueryError {
    let head: Vec<&str> = sql.split_whitespace().take(3).collect();
    QueryError::Command {
        code: "0A000",
        message: format!(
            "statement not supported in a scheduled job: {} (jobs run queries, INSERT, DELETE, \
             COPY (query) TO the object store, and Hearth's view and database statements)",
            head.join(" ")
        ),
    }
}

/// The file formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV as PostgreSQL writes it (`FORMAT csv`), with a header line under `HEADER`.
    Csv {
        /// Whether the first line names the columns.
        header: bool,
    },
    /// Parquet (zstd).
    Parquet,
}

/// `COPY (query) TO 'target' [WITH] (FORMAT csv|parquet [, HEADER [true|false]])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// The query whose rows are exported.
    pub query: String,
    /// Where to, as written.
    pub target: String,
    /// How (`None`: not named).
    pub format: Option<ExportFormat>,
}

impl Copy {
    /// The export `sql` describes, `None` if it is no `COPY (query) TO 'file'`.
    pub fn parse(sql: &str) -> Result<Option<Copy>, QueryError> {
        let head = sql.trim_start();
        if !head
            .get(..4)
            .is_some_and(|w| w.eq_ignore_ascii_case("copy"))
        {
            return Ok(None);
        }
        let statements =
            Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| QueryError::Command {
                code: "42601",
                message: e.to_string(),
            })?;
        let [statement] = statements.as_slice() else {
            return Ok(None);
        };
        Copy::from_statement(statement)
    }

    /// The export `statement` describes, `None` if it is no `COPY ... TO 'file'`.
    pub fn from_statement(statement: &Statement) -> Result<Option<Copy>, QueryError> {
        let Statement::Copy {
            source,
            to: true,
            target: CopyTarget::File { filename },
            options,
            legacy_options,
            ..
        } = statement
        else {
            return Ok(None);
        };
        let invalid = |message: String| QueryError::Command {
            code: "22023",
            message,
        };
        let query = source_query(source);
        let mut format = None;
        let mut header = false;
        for option in options {
            match option {
                CopyOption::Format(f) => format = Some(f.value.to_ascii_lowercase()),
                CopyOption::Header(h) => header = *h,
                other => {
                    return Err(invalid(format!(
                        "COPY TO a file: option {other} is not supported (FORMAT csv or parquet, HEADER)"
                    )));
                }
            }
        }
        for option in legacy_options {
            match option {
                CopyLegacyOption::Csv(more) if more.is_empty() => {
                    format = Some("csv".into());
                }
                CopyLegacyOption::Csv(more) => {
                    for o in more {
                        match o {
                            datafusion::sql::sqlparser::ast::CopyLegacyCsvOption::Header => {
                                header = true
                            }
                            other => {
                                return Err(invalid(format!(
                                    "COPY TO a file: option {other} is not supported"
                                )));
                            }
                        }
                    }
                    format = Some("csv".into());
                }
                other => {
                    return Err(invalid(format!(
                        "COPY TO a file: option {other} is not supported (FORMAT csv or parquet, HEADER)"
                    )));
                }
            }
        }
        let format = match format.as_deref() {
            Some("csv") => Some(ExportFormat::Csv { header }),
            Some("parquet") if !header => Some(ExportFormat::Parquet),
            Some("parquet") => {
                return Err(invalid("HEADER is only for FORMAT csv".into()));
            }
            // PostgreSQL's default is its text format; Hearth exports files other tools read,
            // so the format must be named (checked after the target, see `export`).
            None => None,
            Some(other) => {
                return Err(invalid(format!(
                    "COPY format \"{other}\" not recognized (csv or parquet)"
                )));
            }
        };
        Ok(Some(Copy {
            query,
            target: filename.to_string(),
            format,
        }))
    }
}

/// The query whose rows `COPY source TO ...` sends: the query itself, or `SELECT columns FROM
/// table`.
pub fn source_query(source: &CopySource) -> String {
    match source {
        CopySource::Query(q) => q.to_string(),
        CopySource::Table {
            table_name,
            columns,
        } => {
            let list = if columns.is_empty() {
                "*".to_string()
            } else {
                columns
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("SELECT {list} FROM {table_name}")
        }
    }
}

/// Runs `copy`'s query in `ctx` and writes its rows to the object store at its target (a path
/// relative to the store's root, or an `s3://` / `file://` URL under it); any other target is
/// refused with SQLSTATE 42501. The file is written whole, in one put, so readers never see
/// part of it. Returns the number of rows.
pub async fn export(
    engine: &QueryEngine,
    ctx: &SessionContext,
    copy: &Copy,
) -> Result<u64, QueryError> {
    let store = engine.storage().store();
    let databases = engine.storage().catalog().database_names();
    let target = expand_target(ctx, &copy.target).await?;
    let key = store
        .export_key(&target, &databases)
        .map_err(|reason| QueryError::Command {
            code: "42501",
            message: format!(
                "permission denied: COPY TO '{target}': {reason}; exports go into the object \
                 store ({}) under a path of their own, such as 'exports/name.csv'",
                store.url()
            ),
        })?;
    let format = copy.format.ok_or_else(|| QueryError::Command {
        code: "22023",
        message: "COPY TO a file needs (FORMAT csv) or (FORMAT parquet)".into(),
    })?;
    let df = ctx.sql(&copy.query).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let bytes = encode(format, &schema, &batches).map_err(|e| QueryError::Command {
        code: "58030",
        message: format!("cannot encode the export: {e}"),
    })?;
    store
        .put_object(&key, bytes.into())
        .await
        .map_err(|e| QueryError::Command {
            code: "58030",
            message: format!("cannot write the export to {target}: {e}"),
        })?;
    Ok(rows as u64)
}

/// The pieces of an export target: text, and SQL expressions written `{expr}` (`{{` and `}}`
/// stand for braces).
fn target_pieces(target: &str) -> Result<Vec<(bool, String)>, String> {
    let mut pieces: Vec<(bool, String)> = vec![(false, String::new())];
    let mut chars = target.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                pieces.last_mut().expect("never empty").1.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                pieces.last_mut().expect("never empty").1.push('}');
            }
            '{' => {
                let mut expr = String::new();
                let mut depth = 0usize;
                loop {
                    match chars.next() {
                        None => return Err("an expression in braces is not closed".into()),
                        Some('}') if depth == 0 => break,
                        Some(c) => {
                            depth = match c {
                                '{' => depth + 1,
                                '}' => depth - 1,
                                _ => depth,
                            };
                            expr.push(c);
                        }
                    }
                }
                if expr.trim().is_empty() {
                    return Err("empty braces".into());
                }
                pieces.push((true, expr));
                pieces.push((false, String::new()));
            }
            '}' => return Err("a '}' without '{' (write '}}' for a brace)".into()),
            c => pieces.last_mut().expect("never empty").1.push(c),
        }
    }
    Ok(pieces)
}

/// `target` with every `{expr}` replaced by the text of SQL expression `expr`, evaluated in
/// `ctx` (in a job, `now()` is the run's scheduled time, so
/// `'exports/invoices/{to_char(now() - INTERVAL '1 month', '%Y-%m')}.csv'` names the month the
/// run is for). An expression must give one value that is not NULL.
pub async fn expand_target(ctx: &SessionContext, target: &str) -> Result<String, QueryError> {
    let bad = |message: String| QueryError::Command {
        code: "22023",
        message: format!("COPY TO '{target}': {message}"),
    };
    let mut out = String::new();
    for (is_expr, text) in target_pieces(target).map_err(bad)? {
        if !is_expr {
            out.push_str(&text);
            continue;
        }
        let df = ctx
            .sql(&format!("SELECT CAST(({text}) AS TEXT) AS v"))
            .await
            .map_err(|e| bad(format!("{{{text}}}: {e}")))?;
        let batches = df
            .collect()
            .await
            .map_err(|e| bad(format!("{{{text}}}: {e}")))?;
        let mut values: Vec<Option<String>> = Vec::new();
        for b in &batches {
            let column = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)
                .map_err(|e| bad(format!("{{{text}}}: {e}")))?;
            let column = column.as_string::<i32>();
            values.extend(
                (0..column.len()).map(|i| column.is_valid(i).then(|| column.value(i).to_string())),
            );
        }
        match values.as_slice() {
            [Some(v)] => out.push_str(v),
            _ => {
                return Err(bad(format!(
                    "{{{text}}} must give one value that is not NULL"
                )));
            }
        }
    }
    Ok(out)
}

/// The bytes of an export file.
fn encode(
    format: ExportFormat,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[datafusion::arrow::record_batch::RecordBatch],
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let mut out = Vec::new();
    match format {
        ExportFormat::Csv { header } => {
            // Timestamps as PostgreSQL reads them (`2026-11-01 00:00:00+00:00`), not RFC 3339.
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(header)
                .with_timestamp_format("%Y-%m-%d %H:%M:%S%.f".into())
                .with_timestamp_tz_format("%Y-%m-%d %H:%M:%S%.f%:z".into())
                .with_date_format("%Y-%m-%d".into())
                .build(&mut out);
            if batches.is_empty() && header {
                w.write(&datafusion::arrow::record_batch::RecordBatch::new_empty(
                    schema.clone(),
                ))?;
            }
            for b in batches {
                w.write(b)?;
            }
        }
        ExportFormat::Parquet => {
            use datafusion::parquet::arrow::ArrowWriter;
            use datafusion::parquet::basic::{Compression, ZstdLevel};
            use datafusion::parquet::file::properties::WriterProperties;
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_created_by(format!("Hearth {}", env!("CARGO_PKG_VERSION")))
                .build();
            let mut w = ArrowWriter::try_new(&mut out, schema.clone(), Some(props))?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
        }
    }
    Ok(out)
}

/// A time function (`now`, `current_date`, `current_time`) that answers as of a fixed instant:
/// DataFusion's own, simplified with `at` as the query's start time.
#[derive(Debug, PartialEq, Eq, Hash)]
struct AsOf {
    inner: ScalarUDF,
    at: DateTime<Utc>,
}

impl ScalarUDFImpl for AsOf {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        let fixed = SimplifyContext::builder()
            .with_schema(info.schema().clone())
            .with_config_options(info.config_options().clone())
            .with_query_execution_start_time(Some(self.at))
            .build();
        self.inner.simplify(args, &fixed)
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let inner = self.inner.inner().with_updated_config(config)?;
        Some(ScalarUDF::new_from_impl(AsOf { inner, at: self.at }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_targets_split_into_text_and_expressions() {
        assert_eq!(
            target_pieces("exports/{to_char(now(), '%Y')}/a{{b}}.csv").unwrap(),
            [
                (false, "exports/".to_string()),
                (true, "to_char(now(), '%Y')".to_string()),
                (false, "/a{b}.csv".to_string()),
            ]
        );
        assert_eq!(
            target_pieces("x.csv").unwrap(),
            [(false, "x.csv".to_string())]
        );
        for bad in ["a{b", "a}b", "{}", "{ }"] {
            assert!(target_pieces(bad).is_err(), "{bad}");
        }
    }
}
