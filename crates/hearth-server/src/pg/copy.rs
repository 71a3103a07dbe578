//! `COPY ... TO STDOUT` and `COPY table FROM STDIN`, in PostgreSQL's text and CSV formats (what
//! psql's `\copy` sends).
//!
//! Out: `COPY (query) TO STDOUT` or `COPY table [(columns)] TO STDOUT`, one `CopyData` per
//! row, values written as query results are ([`encode`](super::encode)), then escaped for the
//! format. In: `COPY table [(columns)] FROM STDIN`; the data is kept until the client's
//! `CopyDone`, parsed and checked whole (an error names the line and column and writes
//! nothing), then written through the WAL like any write, so the rows are durable and visible
//! when the client is told `COPY n`. Only existing tables and columns can be copied into; input
//! past a quarter of the memory limit is refused (`54000`): split it.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::copy::CopyHandler;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{CopyResponse, Response, Tag};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::copy::{CopyData, CopyDone, CopyFail, CopyOutResponse};
use futures::{Sink, SinkExt, StreamExt};
use hearth_catalog::schema::ColumnKind;
use tokio_util::sync::CancellationToken;

use super::encode::RowEncoder;
use super::session::{Connection, session};

/// `08P01`: copy data without a `COPY FROM STDIN` in progress.
fn no_copy() -> PgWireError {
    error("08P01", "no COPY in progress".into())
}

/// `0A000` for a COPY option Hearth does not take.
fn unsupported(what: impl std::fmt::Display) -> PgWireError {
    error("0A000", format!("COPY option {what} is not supported"))
}

fn query_error(e: hearth_query::QueryError) -> PgWireError {
    let (code, message) = e.sqlstate();
    error(code, message)
}

fn error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

/// The format of a `COPY`.
#[derive(Debug, Clone)]
struct CopyFormat {
    csv: bool,
    delimiter: u8,
    null: String,
    header: bool,
    quote: u8,
    escape: u8,
}

impl CopyFormat {
    fn from_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> PgWireResult<Self> {
        let mut csv = false;
        let (mut delimiter, mut null, mut header, mut quote, mut escape) =
            (None, None, false, None, None);
        for o in options {
            match o {
                CopyOption::Format(f) => match f.value.to_ascii_lowercase().as_str() {
                    "csv" => csv = true,
                    "text" => csv = false,
                    other => {
                        return Err(error(
                            "0A000",
                            format!("COPY format \"{other}\" is not supported: use text or csv"),
                        ));
                    }
                },
                CopyOption::Delimiter(c) => delimiter = Some(*c),
                CopyOption::Null(n) => null = Some(n.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(c) => quote = Some(*c),
                CopyOption::Escape(c) => escape = Some(*c),
                CopyOption::Encoding(e) => {
                    let e = e.to_ascii_uppercase().replace('-', "");
                    if e != "UTF8" {
                        return Err(error(
                            "0A000",
                            format!("COPY encoding \"{e}\" is not supported: only UTF8"),
                        ));
                    }
                }
                CopyOption::Freeze(_) => {}
                other => return Err(unsupported(other)),
            }
        }
        for o in legacy {
            match o {
                CopyLegacyOption::Csv(opts) => {
                    csv = true;
                    for c in opts {
                        match c {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(q) => quote = Some(*q),
                            CopyLegacyCsvOption::Escape(e) => escape = Some(*e),
                            other => return Err(unsupported(other)),
                        }
                    }
                }
                CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
                CopyLegacyOption::Null(n) => null = Some(n.clone()),
                CopyLegacyOption::Header => header = true,
                CopyLegacyOption::Binary => {
                    return Err(error(
                        "0A000",
                        "COPY in binary format is not supported: use text or csv".into(),
                    ));
                }
                other => return Err(unsupported(other)),
            }
        }
        let ascii = |c: char, what: &str| -> PgWireResult<u8> {
            u8::try_from(c)
                .ok()
                .filter(|b| b.is_ascii() && *b != b'\n' && *b != b'\r')
                .ok_or_else(|| {
                    error(
                        "22023",
                        format!("COPY {what} must be a single one-byte character"),
                    )
                })
        };
        let delimiter = ascii(
            delimiter.unwrap_or(if csv { ',' } else { '\t' }),
            "delimiter",
        )?;
        let quote = ascii(quote.unwrap_or('"'), "quote")?;
        let escape = ascii(escape.unwrap_or(quote as char), "escape")?;
        if !csv && (quote != b'"' || escape != b'"') {
            return Err(error(
                "0A000",
                "COPY quote and escape are for CSV only".into(),
            ));
        }
        Ok(CopyFormat {
            csv,
            delimiter,
            null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() }),
            header,
            quote,
            escape,
        })
    }

    /// Appends one value (`None`: NULL) to a line being written.
    fn put(&self, line: &mut Vec<u8>, value: Option<&[u8]>) {
        let Some(v) = value else {
            line.extend_from_slice(self.null.as_bytes());
            return;
        };
        if self.csv {
            let needs_quotes = v == self.null.as_bytes()
                || v == b"\\."
                || v.iter()
                    .any(|&b| b == self.delimiter || b == self.quote || b == b'\n' || b == b'\r');
            if !needs_quotes {
                line.extend_from_slice(v);
                return;
            }
            line.push(self.quote);
            for &b in v {
                if b == self.quote || b == self.escape {
                    line.push(self.escape);
                }
                line.push(b);
            }
            line.push(self.quote);
        } else {
            for &b in v {
                match b {
                    b'\\' => line.extend_from_slice(b"\\\\"),
                    b'\n' => line.extend_from_slice(b"\\n"),
                    b'\r' => line.extend_from_slice(b"\\r"),
                    b'\t' => line.extend_from_slice(b"\\t"),
                    b if b == self.delimiter => {
                        line.push(b'\\');
                        line.push(b);
                    }
                    b => line.push(b),
                }
            }
        }
    }

    /// The records of `data`: per line (CSV: per record, which may span lines), its values
    /// (`None`: NULL), with its 1-based line number.
    fn records(&self, data: &[u8]) -> PgWireResult<Vec<(usize, Vec<Option<String>>)>> {
        let text = std::str::from_utf8(data).map_err(|e| {
            error(
                "22021",
                format!("invalid byte sequence for encoding \"UTF8\": {e}"),
            )
        })?;
        if self.csv {
            self.csv_records(text)
        } else {
            self.text_records(text)
        }
    }

    fn text_records(&self, text: &str) -> PgWireResult<Vec<(usize, Vec<Option<String>>)>> {
        let mut out = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line == "\\." {
                break;
            }
            if line.is_empty() && i + 1 == text.split('\n').count() {
                break;
            }
            let mut values = Vec::new();
            let mut raw = String::new();
            let mut current = String::new();
            let mut chars = line.chars().peekable();
            let finish =
                |raw: &mut String, current: &mut String, values: &mut Vec<Option<String>>| {
                    values.push(if *raw == self.null {
                        None
                    } else {
                        Some(std::mem::take(current))
                    });
                    raw.clear();
                    current.clear();
                };
            while let Some(c) = chars.next() {
                if c as u32 == u32::from(self.delimiter) {
                    finish(&mut raw, &mut current, &mut values);
                    continue;
                }
                raw.push(c);
                if c != '\\' {
                    current.push(c);
                    continue;
                }
                let Some(next) = chars.next() else {
                    return Err(error(
                        "22P04",
                        format!("unterminated backslash sequence (line {})", i + 1),
                    ));
                };
                raw.push(next);
                match next {
                    'b' => current.push('\u{8}'),
                    'f' => current.push('\u{c}'),
                    'n' => current.push('\n'),
                    'r' => current.push('\r'),
                    't' => current.push('\t'),
                    'v' => current.push('\u{b}'),
                    '0'..='7' => {
                        let mut v = next.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            match chars.peek().and_then(|d| d.to_digit(8)) {
                                Some(d) => {
                                    v = v * 8 + d;
                                    raw.push(chars.next().unwrap_or('0'));
                                }
                                None => break,
                            }
                        }
                        current.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    }
                    other => current.push(other),
                }
            }
            finish(&mut raw, &mut current, &mut values);
            out.push((i + 1, values));
        }
        Ok(out)
    }

    fn csv_records(&self, text: &str) -> PgWireResult<Vec<(usize, Vec<Option<String>>)>> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut line = 1usize;
        let mut i = 0usize;
        while i < bytes.len() {
            let start_line = line;
            // `\.` alone on a line ends the data.
            let rest = &bytes[i..];
            if rest.starts_with(b"\\.") && matches!(rest.get(2), None | Some(b'\n') | Some(b'\r')) {
                break;
            }
            let mut values = Vec::new();
            loop {
                // One value.
                let mut value = Vec::new();
                let mut quoted = false;
                if bytes.get(i) == Some(&self.quote) {
                    quoted = true;
                    i += 1;
                    loop {
                        match bytes.get(i) {
                            None => {
                                return Err(error(
                                    "22P04",
                                    format!("unterminated CSV quoted field (line {start_line})"),
                                ));
                            }
                            // A doubled quote (or the escape before a quote or itself).
                            Some(&b)
                                if b == self.escape
                                    && (bytes.get(i + 1) == Some(&self.quote)
                                        || self.escape != self.quote
                                            && bytes.get(i + 1) == Some(&self.escape)) =>
                            {
                                value.push(bytes[i + 1]);
                                i += 2;
                            }
                            Some(&b) if b == self.quote => {
                                i += 1;
                                break;
                            }
                            Some(&b) => {
                                if b == b'\n' {
                                    line += 1;
                                }
                                value.push(b);
                                i += 1;
                            }
                        }
                    }
                }
                while let Some(&b) = bytes.get(i) {
                    if b == self.delimiter || b == b'\n' || b == b'\r' {
                        break;
                    }
                    value.push(b);
                    i += 1;
                }
                let text = String::from_utf8(value).map_err(|e| error("22021", e.to_string()))?;
                values.push(if !quoted && text == self.null {
                    None
                } else {
                    Some(text)
                });
                match bytes.get(i) {
                    Some(&b) if b == self.delimiter => {
                        i += 1;
                    }
                    Some(b'\r') => {
                        i += 1;
                        if bytes.get(i) == Some(&b'\n') {
                            i += 1;
                        }
                        line += 1;
                        break;
                    }
                    Some(b'\n') => {
                        i += 1;
                        line += 1;
                        break;
                    }
                    _ => break,
                }
            }
            out.push((start_line, values));
        }
        Ok(out)
    }
}

/// A `COPY ... FROM STDIN` in progress on a connection.
pub(super) struct CopyIn {
    table: String,
    columns: Vec<(String, ColumnKind)>,
    format: CopyFormat,
    data: Vec<u8>,
    limit: usize,
}

/// The connection's `COPY FROM STDIN` in progress, if any.
#[derive(Default)]
pub(super) struct CopyInSlot(parking_lot::Mutex<Option<CopyIn>>);

/// Runs a `COPY` statement (either protocol).
pub(super) async fn copy<C>(
    client: &mut C,
    s: &Connection,
    statement: &Statement,
    cancel: CancellationToken,
) -> PgWireResult<Response>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: std::fmt::Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return Err(error("XX000", "not a COPY statement".into()));
    };
    if let (true, CopyTarget::File { .. }) = (to, target) {
        // An export into the object store (the target is checked to be under it).
        let copy = hearth_query::script::Copy::from_statement(statement)
            .map_err(query_error)?
            .ok_or_else(|| error("XX000", "not a COPY TO a file".into()))?;
        s.begin_statement(&statement.to_string());
        let rows = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(PgWireError::QueryCanceled),
            rows = hearth_query::script::export(&s.engine, &s.ctx, &copy) => rows.map_err(query_error)?,
        };
        return Ok(Response::Execution(
            Tag::new("COPY").with_rows(usize::try_from(rows).unwrap_or(usize::MAX)),
        ));
    }
    let format = CopyFormat::from_options(options, legacy_options)?;
    match (to, target, source) {
        (true, CopyTarget::Stdout, source) => {
            let sql = hearth_query::script::source_query(source);
            copy_out(client, s, &statement.to_string(), &sql, &format, cancel).await
        }
        (
            false,
            CopyTarget::Stdin,
            CopySource::Table {
                table_name,
                columns,
            },
        ) => copy_in(client, s, &table_name.to_string(), columns, format).await,
        _ => Err(error("42501", super::policy::FILE_COPY_REFUSED.into())),
    }
}

async fn copy_out<C>(
    client: &mut C,
    s: &Connection,
    text: &str,
    sql: &str,
    format: &CopyFormat,
    cancel: CancellationToken,
) -> PgWireResult<Response>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: std::fmt::Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let api = |e: datafusion::error::DataFusionError| PgWireError::ApiError(Box::new(e));
    s.begin_statement(text);
    let df = s.ctx.sql(sql).await.map_err(api)?;
    let schema = df.schema().as_arrow().clone();
    let fields = Arc::new(super::encode::pg_fields(
        &schema,
        &Format::UnifiedText,
        None,
    )?);
    let encoder = RowEncoder::new(fields, s.settings.text_options());
    let mut batches = df.execute_stream().await.map_err(api)?;
    let n = schema.fields().len();
    client
        .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            0,
            n as i16,
            vec![0; n],
        )))
        .await?;
    let mut header = format.header.then(|| {
        let mut line = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            if i > 0 {
                line.push(format.delimiter);
            }
            format.put(&mut line, Some(f.name().as_bytes()));
        }
        line.push(b'\n');
        line
    });
    let mut count = 0usize;
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(PgWireError::QueryCanceled),
            next = batches.next() => next,
        };
        let Some(batch) = next else { break };
        let batch = batch.map_err(api)?;
        let mut rows = Vec::with_capacity(batch.num_rows());
        encoder.encode(&batch, &mut rows)?;
        for row in rows {
            let mut line = header.take().unwrap_or_default();
            let mut data = &row.data[..];
            for i in 0..n {
                if i > 0 {
                    line.push(format.delimiter);
                }
                let len = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                data = &data[4..];
                if len < 0 {
                    format.put(&mut line, None);
                } else {
                    let (value, rest) = data.split_at(len as usize);
                    format.put(&mut line, Some(value));
                    data = rest;
                }
            }
            line.push(b'\n');
            client
                .feed(PgWireBackendMessage::CopyData(CopyData::new(line.into())))
                .await?;
            count += 1;
        }
    }
    if let Some(header) = header {
        client
            .feed(PgWireBackendMessage::CopyData(CopyData::new(header.into())))
            .await?;
    }
    client
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    Ok(Response::Execution(Tag::new("COPY").with_rows(count)))
}

async fn copy_in<C>(
    client: &mut C,
    s: &Connection,
    table: &str,
    columns: &[datafusion::sql::sqlparser::ast::Ident],
    format: CopyFormat,
) -> PgWireResult<Response>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: std::fmt::Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let name = table.trim_matches('"').to_string();
    let schema = s
        .engine
        .storage()
        .catalog()
        .database(&s.db)
        .and_then(|d| d.table(&name))
        .map(|t| t.schema())
        .ok_or_else(|| error("42P01", format!("relation \"{name}\" does not exist")))?;
    let wanted: Vec<(String, ColumnKind)> = if columns.is_empty() {
        schema
            .visible_columns()
            .map(|c| (c.name.clone(), c.kind))
            .collect()
    } else {
        columns
            .iter()
            .map(|c| {
                schema
                    .visible_columns()
                    .find(|col| col.name == c.value)
                    .map(|col| (col.name.clone(), col.kind))
                    .ok_or_else(|| {
                        error(
                            "42703",
                            format!(
                                "column \"{}\" of relation \"{name}\" does not exist",
                                c.value
                            ),
                        )
                    })
            })
            .collect::<PgWireResult<_>>()?
    };
    let n = wanted.len();
    let slot = client
        .session_extensions()
        .get::<CopyInSlot>()
        .ok_or_else(|| error("08P01", "connection has no COPY state".into()))?;
    *slot.0.lock() = Some(CopyIn {
        table: name,
        columns: wanted,
        format,
        data: Vec::new(),
        limit: s.engine.storage().memory_limit() / 4,
    });
    Ok(Response::CopyIn(CopyResponse::new(
        0,
        n,
        futures::stream::empty(),
    )))
}

impl CopyIn {
    /// Parses the data into one text column per copied column, checking every value against
    /// its column's type.
    fn columns(
        &self,
        zone: &super::encode::Zone,
    ) -> PgWireResult<(Vec<(String, ArrayRef)>, usize)> {
        let mut records = self.format.records(&self.data)?;
        if self.format.header && !records.is_empty() {
            records.remove(0);
        }
        let n = self.columns.len();
        let mut values: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(records.len()); n];
        for (line, record) in &records {
            if record.len() != n {
                let what = if record.len() < n {
                    "missing data"
                } else {
                    "extra data after last expected column"
                };
                return Err(error(
                    "22P04",
                    format!(
                        "{what} (COPY {}, line {line}: {} values for {n} columns)",
                        self.table,
                        record.len()
                    ),
                ));
            }
            for (i, v) in record.iter().enumerate() {
                values[i].push(v.clone());
            }
        }
        let rows = records.len();
        let mut out = Vec::with_capacity(n);
        for ((name, kind), column) in self.columns.iter().zip(values) {
            let line_of = |row: usize| records[row].0;
            let array =
                super::values::parse_column(&column, *kind, zone).map_err(|(row, message)| {
                    error(
                        "22P02",
                        format!(
                            "{message} (COPY {}, line {}, column {name})",
                            self.table,
                            line_of(row)
                        ),
                    )
                })?;
            out.push((name.clone(), array));
        }
        Ok((out, rows))
    }
}

/// Receives the data of a `COPY FROM STDIN` (one handler per connection).
pub(super) struct HearthCopy;

#[async_trait]
impl CopyHandler for HearthCopy {
    async fn on_copy_data<C>(&self, client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let slot = client
            .session_extensions()
            .get::<CopyInSlot>()
            .ok_or_else(no_copy)?;
        let mut guard = slot.0.lock();
        let Some(copy) = guard.as_mut() else {
            return Err(no_copy());
        };
        if copy.data.len() + data.data.len() > copy.limit {
            let limit = copy.limit;
            *guard = None;
            return Err(error(
                "54000",
                format!(
                    "COPY input over {limit} bytes (a quarter of --memory-limit): split it into smaller COPYs"
                ),
            ));
        }
        copy.data.extend_from_slice(&data.data);
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let copy = client
            .session_extensions()
            .get::<CopyInSlot>()
            .and_then(|slot| slot.0.lock().take())
            .ok_or_else(no_copy)?;
        let s = session(client)?;
        let (columns, rows) = copy.columns(&s.settings.text_options().zone)?;
        if rows > 0 {
            s.engine
                .storage()
                .write_rows(&s.db, &copy.table, columns)
                .await
                .map_err(|e| {
                    PgWireError::ApiError(Box::new(hearth_query::error::from_storage(e)))
                })?;
        }
        client
            .send(PgWireBackendMessage::CommandComplete(
                Tag::new("COPY").with_rows(rows).into(),
            ))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(slot) = client.session_extensions().get::<CopyInSlot>() {
            *slot.0.lock() = None;
        }
        error("57014", format!("COPY from stdin failed: {}", fail.message))
    }
}
