//! Turning a line-protocol body into a [`WriteBatch`], line by line.
//!
//! One pass over the body parses each line and appends it straight to the Arrow column builders
//! of its table; nothing is allocated per line. Each line is checked against the table's schema
//! as the earlier good lines of the same body left it, so a field keeps the type of its first
//! write even within one request. A bad line becomes a [`LineError`] with its 1-based line number
//! and adds nothing; the good lines still form the batch.
//!
//! The pass runs without locks, against the schemas the catalog had when it started. Under the
//! database's schema lock the columns the body introduces are then checked against the catalog
//! as it is now; only if a concurrent write published one of them first with another type (or a
//! name differing only in case) is the body built again, under the lock. The new columns are
//! published under the same lock, and only when the batch will be written, so two concurrent
//! first writes of a column can never give it two types.
//!
//! Keys are mapped to columns through the previous line's keys (lines of one table usually
//! repeat them in the same order: one string comparison per key) and a hash map otherwise.
//! A key named twice in one line is caught by a per-column stamp of the last line that named it;
//! the message is then the parser's own (see [`hearth_lineproto::check_keys`]).

use std::borrow::Cow;
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
fn utf8_lines(body: &[u8]) -> (Cow<'_, str>, Vec<LineError>) {
    if let Ok(text) = std::str::from_utf8(body) {
        return (Cow::Borrowed(text), Vec::new());
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
    (Cow::Owned(text), errors)
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

/// An existing column whose name equals `name` but for case (Delta Lake and Spark treat column
/// names case-insensitively).
fn case_twin<'s>(name: &str, mut existing: impl Iterator<Item = &'s str>) -> Option<&'s str> {
    existing.find(|c| *c != name && c.eq_ignore_ascii_case(name))
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

fn value<'a>(v: &'a FieldValue<'_>) -> Value<'a> {
    match v {
        FieldValue::F64(x) => Value::F64(*x),
        FieldValue::I64(x) => Value::I64(*x),
        FieldValue::U64(x) => Value::U64(*x),
        FieldValue::Str(s) => Value::Str(s.as_ref()),
        FieldValue::Bool(b) => Value::Bool(*b),
    }
}

fn kind_name(kind: ColumnKind) -> String {
    match kind {
        ColumnKind::Tag => "tag".to_string(),
        ColumnKind::Time => "time".to_string(),
        ColumnKind::Field(t) => format!("{} field", t.name()),
        ColumnKind::Key(t) => format!("{} primary key column", t.name()),
    }
}

/// Why `key` cannot be written as `want` into a column of kind `have`.
fn kind_error(table: &str, key: &str, have: ColumnKind, want: ColumnKind) -> String {
    match (have, want) {
        (ColumnKind::Field(existing), ColumnKind::Field(t)) => format!(
            "Field type mismatch on table {table} column {key}. \
             Existing column is {} but attempted to add {}",
            existing.name(),
            t.name()
        ),
        (other, ColumnKind::Tag) => format!(
            "invalid column type for column '{key}' on table {table}: \
             existing column is a {}, cannot write it as a tag",
            kind_name(other)
        ),
        (other, _) => format!(
            "invalid column type for column '{key}' on table {table}: \
             existing column is a {}, cannot write it as a field",
            kind_name(other)
        ),
    }
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

/// `a == b` for the short strings keys are, compared eight bytes at a time in line: this runs
/// for every key of every line, and a call to the C library's `memcmp` cost more than the
/// comparison.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    (&mut a8).zip(&mut b8).all(|(x, y)| {
        u64::from_ne_bytes(x.try_into().unwrap_or_default())
            == u64::from_ne_bytes(y.try_into().unwrap_or_default())
    }) && a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .all(|(x, y)| x == y)
}

/// The rows one body has for one table.
struct TableWriter {
    name: String,
    /// The table's schema when the build started (empty for a new table).
    schema: TableSchema,
    builder: BatchBuilder,
    /// The column of each key (tags, then fields) of the previous good line.
    layout: Vec<usize>,
    /// Per builder column, the serial of the last line that named it.
    stamps: Vec<u64>,
}

impl TableWriter {
    fn new(name: &str, schema: TableSchema) -> TableWriter {
        TableWriter {
            name: name.to_string(),
            schema,
            builder: BatchBuilder::new(),
            layout: Vec::new(),
            stamps: Vec::new(),
        }
    }

    /// The column for the key at `position` of a line, written as `want`; checks the kind, and
    /// that the line (number `serial`) has not named the column before.
    fn resolve(
        &mut self,
        position: usize,
        key: &str,
        want: ColumnKind,
        serial: u64,
    ) -> Result<usize, String> {
        let col = match self.layout.get(position) {
            Some(&c) if same_key(self.builder.name(c), key) => c,
            _ => match self.builder.find(key) {
                Some(c) => c,
                None => {
                    let kind = self.schema.kind(key).unwrap_or(want);
                    self.stamps.push(0);
                    self.builder.column(key, kind)
                }
            },
        };
        if self.stamps[col] == serial {
            return Err(format!("duplicate key '{key}'"));
        }
        self.stamps[col] = serial;
        // A column no good line has written yet is not part of the table: check its name, and
        // let this line decide its kind.
        if self.builder.written(col) == 0 && self.schema.kind(key).is_none() {
            self.check_new_column(key)?;
            if self.builder.kind(col) != want {
                self.builder.set_kind(col, want);
            }
            return Ok(col);
        }
        let have = self.builder.kind(col);
        if have != want {
            return Err(kind_error(&self.name, key, have, want));
        }
        Ok(col)
    }

    /// Checks a column name that is new to the table.
    fn check_new_column(&self, name: &str) -> Result<(), String> {
        let table = &self.name;
        if let Some(why) = reserved(name) {
            return Err(format!("column name '{name}' on table {table} {why}"));
        }
        let existing = self.schema.columns().iter().map(|c| c.name.as_str());
        let written = self.builder.written_columns().map(|(n, _)| n);
        if let Some(other) = case_twin(name, existing.chain(written)) {
            return Err(format!(
                "column '{name}' on table {table} differs from existing column '{other}' only in case"
            ));
        }
        Ok(())
    }

    /// Checks a line and maps its keys (tags, then fields) to columns in `cols`.
    fn check(
        &mut self,
        line: &ParsedLine<'_>,
        serial: u64,
        cols: &mut Vec<usize>,
    ) -> Result<(), String> {
        cols.clear();
        if self.schema.is_sql_table() {
            return Err(format!(
                "table {} was created with CREATE TABLE: write its rows with INSERT, not line \
                 protocol",
                self.name
            ));
        }
        for (p, (k, _)) in line.tags.iter().enumerate() {
            cols.push(self.resolve(p, k, ColumnKind::Tag, serial)?);
        }
        let n = line.tags.len();
        for (p, (k, v)) in line.fields.iter().enumerate() {
            cols.push(self.resolve(n + p, k, ColumnKind::Field(field_type(v)), serial)?);
        }
        Ok(())
    }

    /// Appends a checked line whose keys map to `cols`.
    fn append(&mut self, line: &ParsedLine<'_>, cols: &[usize], time: i64) {
        let (tag_cols, field_cols) = cols.split_at(line.tags.len());
        for ((_, v), &c) in line.tags.iter().zip(tag_cols) {
            self.builder.append_tag(c, v);
        }
        for ((_, v), &c) in line.fields.iter().zip(field_cols) {
            self.builder.append_field(c, value(v));
        }
        self.builder.end_row(time);
        self.layout.clear();
        self.layout.extend_from_slice(cols);
    }

    /// True if a column this body introduces was published differently since the build started.
    fn conflicts_with(&self, current: &TableSchema) -> bool {
        self.builder
            .written_columns()
            .any(|(name, kind)| match current.kind(name) {
                Some(k) => k != kind,
                None => {
                    case_twin(name, current.columns().iter().map(|c| c.name.as_str())).is_some()
                }
            })
    }

    /// The table's schema with the columns this body introduces.
    fn grown_schema(&self) -> TableSchema {
        let mut schema = self.schema.clone();
        for (name, kind) in self.builder.written_columns() {
            schema.add(name, kind);
        }
        schema
    }
}

/// A body turned into per-table rows and per-line errors.
struct Build {
    tables: Vec<TableWriter>,
    errors: Vec<LineError>,
}

impl Build {
    fn rows(&self) -> usize {
        self.tables.iter().map(|t| t.builder.rows()).sum()
    }
}

/// One pass over `body`: parses, checks and appends every line.
fn build(
    db: &Database,
    body: &str,
    utf8_errors: &[LineError],
    precision: Precision,
    now_us: i64,
) -> Build {
    let mut tables: Vec<TableWriter> = Vec::new();
    let mut table_index: HashMap<String, usize> = HashMap::new();
    let mut errors = Vec::new();
    // The text of bad lines, indexed only if some line is bad (the common body has none).
    let physical: std::cell::OnceCell<Vec<&str>> = std::cell::OnceCell::new();
    let original = |n: usize| {
        let lines = physical.get_or_init(|| body.split('\n').collect());
        lines.get(n.saturating_sub(1)).copied().unwrap_or("")
    };

    let mut lines = hearth_lineproto::parse_lines(body).skip_key_checks();
    let mut line = ParsedLine::empty();
    let mut cols = Vec::new();
    let mut current: Option<usize> = None;
    let mut serial = 0u64;
    while let Some(item) = lines.next_into(&mut line) {
        let number = match item {
            Ok(number) => number,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        serial += 1;
        let outcome = (|| {
            let table = match current {
                Some(i) if tables[i].name == line.measurement => i,
                _ => match table_index.get(line.measurement.as_ref()) {
                    Some(&i) => i,
                    None => {
                        let name = line.measurement.as_ref();
                        names::check_table(name).map_err(|e| e.to_string())?;
                        let schema = db.table(name).map(|t| t.schema()).unwrap_or_default();
                        tables.push(TableWriter::new(name, schema));
                        table_index.insert(name.to_string(), tables.len() - 1);
                        tables.len() - 1
                    }
                },
            };
            current = Some(table);
            let time = match line.timestamp {
                None => now_us,
                Some(ts) => precision.to_micros(ts)?,
            };
            tables[table].check(&line, serial, &mut cols)?;
            tables[table].append(&line, &cols, time);
            Ok::<(), String>(())
        })();
        if let Err(message) = outcome {
            // Repeated keys are reported first, in the parser's words, whatever else is wrong.
            let message = hearth_lineproto::check_keys(&line.tags, &line.fields)
                .err()
                .unwrap_or(message);
            errors.push(line_error(number, original(number), message));
        }
    }
    if !utf8_errors.is_empty() {
        errors.extend_from_slice(utf8_errors);
        errors.sort_by_key(|e| e.line_number);
    }
    Build { tables, errors }
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
    let built = build(db, body, &utf8_errors, precision, now_us);
    publish(db, built, accept_partial, || {
        build(db, body, &utf8_errors, precision, now_us)
    })
}

/// Publishes the new columns of `built` and turns it into the batch to write, under the schema
/// lock; `rebuild` builds the body again if a concurrent write got in the way.
fn publish(
    db: &Database,
    mut built: Build,
    accept_partial: bool,
    rebuild: impl FnOnce() -> Build,
) -> Result<Validated, StorageError> {
    db.with_schema_lock(|| {
        let current = |name: &str| db.table(name).map(|t| t.schema()).unwrap_or_default();
        if built
            .tables
            .iter()
            .any(|t| t.conflicts_with(&current(&t.name)))
        {
            // A concurrent write published one of our new columns first: build again against
            // the schemas as they are now, which cannot change while we hold the lock.
            built = rebuild();
        }
        let write = built.rows() > 0 && (built.errors.is_empty() || accept_partial);
        let mut tables = Vec::new();
        if write {
            for t in &built.tables {
                if t.builder.rows() > 0 {
                    let grown = t.grown_schema();
                    db.table_or_create(&t.name)?
                        .update(|s| s.schema.merge(&grown));
                }
            }
            for t in std::mem::take(&mut built.tables) {
                if t.builder.rows() > 0 {
                    tables.push((t.name, t.builder.finish()));
                }
            }
        }
        Ok(Validated {
            batch: WriteBatch {
                db: db.name().to_string(),
                tables,
                idempotency: None,
            },
            errors: std::mem::take(&mut built.errors),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_catalog::catalog::Catalog;

    #[test]
    fn keys_compare_as_strings_do() {
        let keys = [
            "",
            "a",
            "b",
            "ab",
            "usage_us",
            "usage_ut",
            "usage_user",
            "usage_usex",
            "xsage_user",
            "service_environment",
            "service_environmenT",
            "é",
            "e\u{301}",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(same_key(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

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

    fn messages(v: &Validated) -> Vec<(usize, String)> {
        v.errors
            .iter()
            .map(|e| (e.line_number, e.message.clone()))
            .collect()
    }

    #[test]
    fn a_column_published_concurrently_with_another_type_is_caught() {
        let catalog = Catalog::new();
        let db = catalog.database_or_create("home").unwrap();
        let body = "m,h=a v=1.5 1\nm,h=b w=2i 2";
        // Built against the empty schema: `v` would be a new float column...
        let built = build(&db, body, &[], Precision::Second, 0);
        assert!(built.errors.is_empty());
        // ...but another write publishes it as an integer before this one takes the lock.
        let other = validate(&db, b"m v=7i 5", Precision::Second, 0, true).unwrap();
        assert_eq!(other.batch.rows(), 1);
        let v = publish(&db, built, true, || {
            build(&db, body, &[], Precision::Second, 0)
        })
        .unwrap();
        assert_eq!(v.batch.rows(), 1);
        assert_eq!(messages(&v).len(), 1);
        assert_eq!(messages(&v)[0].0, 1);
        assert!(
            messages(&v)[0]
                .1
                .contains("Existing column is integer but attempted to add float")
        );
        let schema = db.table("m").unwrap().schema();
        assert_eq!(
            schema.kind("v"),
            Some(ColumnKind::Field(FieldType::Integer))
        );
        assert_eq!(
            schema.kind("w"),
            Some(ColumnKind::Field(FieldType::Integer))
        );
        assert_eq!(schema.kind("h"), Some(ColumnKind::Tag));
    }

    #[test]
    fn a_rejected_line_does_not_decide_a_new_column() {
        let catalog = Catalog::new();
        let db = catalog.database_or_create("home").unwrap();
        // Line 1 introduces `a` (integer) and `Z` but is rejected for its repeated field; line 2
        // may then make `a` a float, and line 3 may name `z`.
        let body = "m a=1i,Z=1,b=\"x\",b=2 1\nm a=1.5 2\nm,z=t a=2.5 3";
        let v = validate(&db, body.as_bytes(), Precision::Second, 0, true).unwrap();
        assert_eq!(
            messages(&v),
            [(1, "multiple instances of 'b' field found".to_string())]
        );
        assert_eq!(v.batch.rows(), 2);
        let schema = db.table("m").unwrap().schema();
        assert_eq!(schema.kind("a"), Some(ColumnKind::Field(FieldType::Float)));
        assert_eq!(schema.kind("z"), Some(ColumnKind::Tag));
        assert_eq!(schema.kind("Z"), None);
        assert_eq!(schema.kind("b"), None);
        let names: Vec<_> = v.batch.tables[0]
            .1
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["z", "a", "time"]);
    }

    #[test]
    fn repeated_keys_are_reported_before_other_problems() {
        let catalog = Catalog::new();
        let db = catalog.database_or_create("home").unwrap();
        validate(&db, b"m,t=x v=1i 1", Precision::Second, 0, true).unwrap();
        // `v` has the wrong type and the tag repeats: the repeat is what is reported, in the
        // parser's words, as are a field named as a tag and a table name that is not valid.
        let body = "m,t=a,t=b v=1.5 2\nm,k=a v=1i,k=2i 3\nm,t=c v=2i,v=3i 4\nm,t=d v=1.5 5";
        let v = validate(&db, body.as_bytes(), Precision::Second, 0, true).unwrap();
        assert_eq!(
            messages(&v),
            [
                (1, "duplicate tag key 't'".to_string()),
                (
                    2,
                    "'k' is used as both a tag key and a field key".to_string()
                ),
                (3, "multiple instances of 'v' field found".to_string()),
                (
                    4,
                    "Field type mismatch on table m column v. Existing column is integer but \
                     attempted to add float"
                        .to_string()
                ),
            ]
        );
        assert_eq!(v.batch.rows(), 0);
        // The same line parsed alone gives the same message.
        let parsed = hearth_lineproto::parse_line("m,t=a,t=b v=1.5 2").unwrap_err();
        assert_eq!(parsed, "duplicate tag key 't'");
    }

    #[test]
    fn lines_with_other_key_orders_and_tables_interleave() {
        let catalog = Catalog::new();
        let db = catalog.database_or_create("home").unwrap();
        let body = "a,x=1,y=2 f=1i 1\nb g=2 1\na,y=3,x=4 f=5i 2\na,x=6 f=7i,e=true 3\nb g=3 2";
        let v = validate(&db, body.as_bytes(), Precision::Second, 0, true).unwrap();
        assert!(v.errors.is_empty(), "{:?}", messages(&v));
        let a = &v.batch.tables[0];
        assert_eq!(a.0, "a");
        assert_eq!(a.1.num_rows(), 3);
        let col = |name: &str| {
            let i = a.1.schema().index_of(name).unwrap();
            datafusion::arrow::util::display::ArrayFormatter::try_new(
                a.1.column(i).as_ref(),
                &Default::default(),
            )
            .map(|f| (0..3).map(|r| f.value(r).to_string()).collect::<Vec<_>>())
            .unwrap()
        };
        assert_eq!(col("x"), ["1", "4", "6"]);
        assert_eq!(col("y"), ["2", "3", ""]);
        assert_eq!(col("f"), ["1", "5", "7"]);
        assert_eq!(col("e"), ["", "", "true"]);
        assert_eq!(v.batch.tables[1].1.num_rows(), 2);
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
