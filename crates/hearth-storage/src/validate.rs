//! Turning a line-protocol body into a [`WriteBatch`], line by line.
//!
//! Parsing runs without locks. Validation against the table schemas runs under the database's
//! schema lock: each line is checked against the schemas as the earlier good lines of the same
//! body left them, so a field keeps the type of its first write even within one request. A bad
//! line becomes a [`LineError`] with its 1-based line number; the good lines still form the batch.
//! The schema changes of the good lines are published to the catalog under the same lock, and
//! only when the batch will be written, so two concurrent first writes of a column can never
//! give it two types.

use std::collections::HashMap;

use hearth_catalog::catalog::Database;
use hearth_catalog::names;
use hearth_catalog::schema::{ColumnKind, FieldType, TableSchema};
use hearth_lineproto::{FieldValue, LineError, ParsedLine, Precision};

use crate::batch::{BatchBuilder, Value};
use crate::codec::WriteBatch;
use crate::error::StorageError;

/// The result of validating a body.
pub struct Validated {
    /// The rows of the good lines, per table; empty when nothing is to be written.
    pub batch: WriteBatch,
    /// One error per bad line, in line order.
    pub errors: Vec<LineError>,
}

/// The body as text. Lines that are not valid UTF-8 become errors (and blank lines, so the line
/// numbers of the others do not move); the rest of the body is kept.
fn utf8_lines(body: &[u8]) -> (std::borrow::Cow<'_, str>, Vec<LineError>) {
    if let Ok(text) = std::str::from_utf8(body) {
        return (std::borrow::Cow::Borrowed(text), Vec::new());
    }
    let mut text = String::with_capacity(body.len());
    let mut errors = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            text.push('\n');
        }
        match std::str::from_utf8(line) {
            Ok(l) => text.push_str(l),
            Err(e) => errors.push(line_error(
                i + 1,
                &String::from_utf8_lossy(line),
                format!(
                    "invalid UTF-8 at column {}: line protocol must be UTF-8",
                    e.valid_up_to() + 1
                ),
            )),
        }
    }
    (std::borrow::Cow::Owned(text), errors)
}

/// Column names Hearth keeps for itself: the Delta partition column and internal columns.
fn reserved(name: &str) -> Option<&'static str> {
    if name == hearth_catalog::delta::DATE_COLUMN {
        Some("is the day partition column of every table")
    } else if name.starts_with("__") {
        Some("starts with '__', which is reserved for internal columns")
    } else {
        None
    }
}

/// Checks a column name that is new to `schema`.
fn check_new_column(name: &str, schema: &TableSchema, table: &str) -> Result<(), String> {
    if let Some(why) = reserved(name) {
        return Err(format!("column name '{name}' on table {table} {why}"));
    }
    // Delta Lake (and Spark) treat column names case-insensitively.
    if let Some(other) = schema
        .columns()
        .iter()
        .find(|c| c.name != name && c.name.eq_ignore_ascii_case(name))
    {
        return Err(format!(
            "column '{name}' on table {table} differs from existing column '{}' only in case",
            other.name
        ));
    }
    Ok(())
}

fn field_type(v: &FieldValue<'_>) -> FieldType {
    match v {
        FieldValue::F64(_) => FieldType::Float,
        FieldValue::I64(_) => FieldType::Integer,
        FieldValue::U64(_) => FieldType::UInteger,
        FieldValue::Str(_) => FieldType::String,
        FieldValue::Bool(_) => FieldType::Boolean,
    }
}

fn kind_name(kind: ColumnKind) -> String {
    match kind {
        ColumnKind::Tag => "tag".to_string(),
        ColumnKind::Time => "time".to_string(),
        ColumnKind::Field(t) => format!("{} field", t.name()),
    }
}

/// Checks one parsed line against (and extends) the working schema of its table.
fn check_line(line: &ParsedLine<'_>, schema: &mut TableSchema) -> Result<(), String> {
    let table = line.measurement.as_ref();
    for (k, _) in &line.tags {
        match schema.kind(k) {
            None => check_new_column(k, schema, table)?,
            Some(ColumnKind::Tag) => {}
            Some(other) => {
                return Err(format!(
                    "invalid column type for column '{k}' on table {table}: \
                     existing column is a {}, cannot write it as a tag",
                    kind_name(other)
                ));
            }
        }
    }
    for (k, v) in &line.fields {
        let t = field_type(v);
        match schema.kind(k) {
            None => check_new_column(k, schema, table)?,
            Some(ColumnKind::Field(existing)) if existing == t => {}
            Some(ColumnKind::Field(existing)) => {
                return Err(format!(
                    "Field type mismatch on table {table} column {k}. \
                     Existing column is {} but attempted to add {}",
                    existing.name(),
                    t.name()
                ));
            }
            Some(other) => {
                return Err(format!(
                    "invalid column type for column '{k}' on table {table}: \
                     existing column is a {}, cannot write it as a field",
                    kind_name(other)
                ));
            }
        }
    }
    for (k, _) in &line.tags {
        schema.add(k, ColumnKind::Tag);
    }
    for (k, v) in &line.fields {
        schema.add(k, ColumnKind::Field(field_type(v)));
    }
    Ok(())
}

fn line_error(line_number: usize, original: &str, message: String) -> LineError {
    let mut end = original.len().min(100);
    while !original.is_char_boundary(end) {
        end -= 1;
    }
    LineError {
        line_number,
        original_line: original[..end].to_string(),
        message,
    }
}

/// Parses and validates `body` for database `db`.
///
/// `now_us` is the server time used for lines without a timestamp (already truncated to the
/// request's precision by the caller). When some lines are bad and `accept_partial` is false,
/// nothing is kept: the batch is empty and the catalog unchanged.
pub fn validate(
    db: &Database,
    body: &[u8],
    precision: Precision,
    now_us: i64,
    accept_partial: bool,
) -> Result<Validated, StorageError> {
    let (body, utf8_errors) = utf8_lines(body);
    let body = body.as_ref();
    let mut parsed: Vec<_> = hearth_lineproto::parse_lines(body).collect();
    parsed.extend(utf8_errors.into_iter().map(Err));
    parsed.sort_by_key(|item| match item {
        Ok((n, _)) => *n,
        Err(e) => e.line_number,
    });
    // The text of bad lines, indexed only if some line is bad (the common body has none).
    let physical: std::cell::OnceCell<Vec<&str>> = std::cell::OnceCell::new();
    let original = |n: usize| {
        let lines = physical.get_or_init(|| body.split('\n').collect());
        lines.get(n.saturating_sub(1)).copied().unwrap_or("")
    };

    db.with_schema_lock(|| {
        let mut schemas: HashMap<String, TableSchema> = HashMap::new();
        let mut builders: Vec<(String, BatchBuilder)> = Vec::new();
        let mut builder_index: HashMap<String, usize> = HashMap::new();
        let mut errors = Vec::new();
        for item in &parsed {
            let (number, line) = match item {
                Ok(ok) => ok,
                Err(e) => {
                    errors.push(e.clone());
                    continue;
                }
            };
            let table = line.measurement.as_ref();
            if let Err(e) = names::check_table(table) {
                errors.push(line_error(*number, original(*number), e.to_string()));
                continue;
            }
            let time = match line.timestamp {
                None => now_us,
                Some(ts) => match precision.to_micros(ts) {
                    Ok(t) => t,
                    Err(msg) => {
                        errors.push(line_error(*number, original(*number), msg));
                        continue;
                    }
                },
            };
            let schema = schemas
                .entry(table.to_string())
                .or_insert_with(|| db.table(table).map(|t| t.schema()).unwrap_or_default());
            if let Err(msg) = check_line(line, schema) {
                errors.push(line_error(*number, original(*number), msg));
                continue;
            }
            let i = *builder_index.entry(table.to_string()).or_insert_with(|| {
                builders.push((table.to_string(), BatchBuilder::new()));
                builders.len() - 1
            });
            builders[i].1.push_row(
                line.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
                line.fields.iter().map(|(k, v)| {
                    let value = match v {
                        FieldValue::F64(x) => Value::F64(*x),
                        FieldValue::I64(x) => Value::I64(*x),
                        FieldValue::U64(x) => Value::U64(*x),
                        FieldValue::Str(s) => Value::Str(s.as_ref()),
                        FieldValue::Bool(b) => Value::Bool(*b),
                    };
                    (k.as_ref(), field_type(v), value)
                }),
                time,
            );
        }
        let write = !builders.is_empty() && (errors.is_empty() || accept_partial);
        let tables = if write {
            for (name, schema) in &schemas {
                if builder_index.contains_key(name) {
                    let table = db.table_or_create(name)?;
                    table.update(|s| s.schema.merge(schema));
                }
            }
            builders
                .into_iter()
                .map(|(name, b)| (name, b.finish()))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Validated {
            batch: WriteBatch {
                db: db.name().to_string(),
                tables,
                idempotency: None,
            },
            errors,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_catalog::catalog::Catalog;

    #[test]
    fn type_conflicts_are_per_line_and_first_type_wins() {
        let catalog = Catalog::new();
        let db = catalog.database_or_create("home").unwrap();
        let body = "m,h=a v=1i 1\nm,h=a v=1.5 2\nm v=2i,h=\"x\" 3\nm,h=b v=3i 4";
        let v = validate(&db, body.as_bytes(), Precision::Second, 0, true).unwrap();
        let lines: Vec<_> = v.errors.iter().map(|e| e.line_number).collect();
        assert_eq!(lines, [2, 3]);
        assert!(
            v.errors[0]
                .message
                .contains("Existing column is integer but attempted to add float")
        );
        assert!(v.errors[1].message.contains("existing column is a tag"));
        assert_eq!(v.batch.rows(), 2);
        let schema = db.table("m").unwrap().schema();
        assert_eq!(
            schema.kind("v"),
            Some(ColumnKind::Field(FieldType::Integer))
        );
        assert_eq!(schema.kind("h"), Some(ColumnKind::Tag));
    }

    #[test]
    fn missing_timestamp_takes_server_time() {
        let catalog = Catalog::new();
        let db = catalog.database_or_create("home").unwrap();
        let v = validate(&db, b"m v=1", Precision::Nanosecond, 42, true).unwrap();
        assert!(v.errors.is_empty());
        let batch = &v.batch.tables[0].1;
        let time = batch
            .column(batch.num_columns() - 1)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(time.value(0), 42);
    }

    #[test]
    fn reserved_and_case_colliding_names_are_line_errors() {
        let catalog = Catalog::new();
        let db = catalog.database_or_create("home").unwrap();
        let body = "m,Host=a v=1 1\nm,host=b v=2 2\nm date=3 3\nm __rank=4 4\nm,x=1 V=5 5";
        let v = validate(&db, body.as_bytes(), Precision::Second, 0, true).unwrap();
        let lines: Vec<_> = v.errors.iter().map(|e| e.line_number).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        assert!(
            v.errors[0].message.contains("only in case"),
            "{}",
            v.errors[0].message
        );
        assert!(v.errors[1].message.contains("day partition column"));
        assert!(v.errors[2].message.contains("reserved"));
    }

    #[test]
    fn nothing_is_published_when_a_strict_write_fails() {
        let catalog = Catalog::new();
        let db = catalog.database_or_create("home").unwrap();
        let v = validate(&db, b"m a=1 1\nm b= 2", Precision::Second, 0, false).unwrap();
        assert_eq!(v.errors.len(), 1);
        assert_eq!(v.batch.rows(), 0);
        assert!(db.table("m").is_none());
    }

    #[test]
    fn invalid_utf8_is_an_error_of_its_line_only() {
        let catalog = Catalog::new();
        let db = catalog.database_or_create("home").unwrap();
        let body = b"m,t=a v=1 1\nm,t=\xff v=2 2\nm,t=c v=3 3";
        let v = validate(&db, body, Precision::Second, 0, true).unwrap();
        assert_eq!(v.errors.len(), 1);
        assert_eq!(v.errors[0].line_number, 2);
        assert!(
            v.errors[0].message.contains("invalid UTF-8 at column 5"),
            "{}",
            v.errors[0].message
        );
        assert_eq!(v.batch.rows(), 2);
        let strict = validate(&db, body, Precision::Second, 0, false).unwrap();
        assert_eq!(strict.batch.rows(), 0);
    }
}
