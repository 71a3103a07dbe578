//! Table schemas: which columns a table has, of which kind, and how they map to Arrow.
//!
//! A Hearth table has tag columns (strings that, with `time`, identify a row), field columns
//! (the measured values, each with the type of its first write) and one `time` column. Columns
//! keep the order in which they first appeared; the `time` column is always last. Schemas only
//! grow: a column is never dropped or retyped, which keeps old Parquet files readable.
//!
//! A SQL table (`CREATE TABLE`) is stored the same way, with its columns declared up front: its
//! primary key columns are [`ColumnKind::Key`] (of any type; with the hidden `time` they are
//! the identity, like tags), the others fields, and `time` is hidden from SQL: the same instant
//! (the epoch) for every row of a table with a primary key, so a row with an existing key
//! replaces it, and a distinct row number for every row of a table without one, so rows are
//! only ever appended.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Name of the timestamp column of every table.
pub const TIME_COLUMN: &str = "time";
/// Time zone of the `time` column. Stored as UTC microseconds, like PostgreSQL and Delta Lake.
pub const TIME_ZONE: &str = "UTC";

/// The type of a field column, fixed by its first write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// 64-bit float (`double precision`).
    Float,
    /// Signed 64-bit integer (`bigint`).
    Integer,
    /// Unsigned 64-bit integer, kept as `numeric(20,0)` so no value is lost.
    UInteger,
    /// UTF-8 string (`text`).
    String,
    /// Boolean.
    Boolean,
    /// An instant, UTC microseconds (`timestamp`; SQL tables only: line protocol has none).
    Timestamp,
}

impl FieldType {
    /// The Arrow type the column has in buffers, files and query results.
    pub fn arrow_type(self) -> DataType {
        match self {
            FieldType::Float => DataType::Float64,
            FieldType::Integer => DataType::Int64,
            FieldType::UInteger => DataType::Decimal128(20, 0),
            FieldType::String => DataType::Utf8,
            FieldType::Boolean => DataType::Boolean,
            FieldType::Timestamp => time_type(),
        }
    }

    /// The field type for an Arrow type, if it is one Hearth stores.
    pub fn from_arrow(data_type: &DataType) -> Option<FieldType> {
        Some(match data_type {
            DataType::Float64 => FieldType::Float,
            DataType::Int64 => FieldType::Integer,
            DataType::Decimal128(20, 0) => FieldType::UInteger,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => FieldType::String,
            DataType::Boolean => FieldType::Boolean,
            DataType::Timestamp(_, _) => FieldType::Timestamp,
            _ => return None,
        })
    }

    /// The name used in error messages (InfluxDB's words).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::UInteger => "unsigned integer",
            FieldType::String => "string",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
        }
    }
}

/// The kind of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// A tag: part of the row identity, a string.
    Tag,
    /// A field of the given type.
    Field(FieldType),
    /// A primary key column of a SQL table: part of the row identity, of the given type.
    Key(FieldType),
    /// The `time` column.
    Time,
}

impl ColumnKind {
    /// The Arrow type of a column of this kind.
    pub fn arrow_type(self) -> DataType {
        self.value_type().arrow_type()
    }

    /// The type of the values of a column of this kind (a tag's are strings).
    pub fn value_type(self) -> FieldType {
        match self {
            ColumnKind::Tag => FieldType::String,
            ColumnKind::Field(t) | ColumnKind::Key(t) => t,
            ColumnKind::Time => FieldType::Timestamp,
        }
    }

    /// Whether the column is part of the row identity (a tag, a key or `time`).
    pub fn is_identity(self) -> bool {
        !matches!(self, ColumnKind::Field(_))
    }
}

/// The Arrow type of the `time` column.
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(TIME_ZONE.into()))
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name as written.
    pub name: String,
    /// Tag, field (with type) or time.
    pub kind: ColumnKind,
}

/// The columns of one table, in order of first appearance with `time` last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    columns: Vec<Column>,
    index: HashMap<String, usize>,
    /// A SQL table: columns declared by `CREATE TABLE`, `time` hidden.
    sql: bool,
}

impl Default for TableSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl TableSchema {
    /// A schema with only the `time` column.
    pub fn new() -> Self {
        let mut schema = TableSchema {
            columns: Vec::new(),
            index: HashMap::new(),
            sql: false,
        };
        schema.push(TIME_COLUMN, ColumnKind::Time);
        schema
    }

    /// The schema of a SQL table with `columns` (keys and fields, in order) and the hidden
    /// `time`. `None` if a name repeats or is `time`.
    pub fn sql_table(columns: &[(String, ColumnKind)]) -> Option<TableSchema> {
        let mut schema = TableSchema::new();
        schema.sql = true;
        for (name, kind) in columns {
            if schema.kind(name).is_some() || *kind == ColumnKind::Time || *kind == ColumnKind::Tag
            {
                return None;
            }
            schema.add(name, *kind);
        }
        Some(schema)
    }

    /// Whether this is a SQL table (`CREATE TABLE`): `time` is hidden, lines cannot write it.
    pub fn is_sql_table(&self) -> bool {
        self.sql
    }

    /// Whether this is a SQL table with a primary key (its rows replace rows of equal key).
    pub fn has_primary_key(&self) -> bool {
        self.sql
            && self
                .columns
                .iter()
                .any(|c| matches!(c.kind, ColumnKind::Key(_)))
    }

    /// The columns SQL sees: all, but the hidden `time` of a SQL table.
    pub fn visible_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(move |c| !(self.sql && c.kind == ColumnKind::Time))
    }

    fn push(&mut self, name: &str, kind: ColumnKind) {
        self.index.insert(name.to_string(), self.columns.len());
        self.columns.push(Column {
            name: name.to_string(),
            kind,
        });
    }

    /// All columns, `time` last.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The kind of a column, if the table has it.
    pub fn kind(&self, name: &str) -> Option<ColumnKind> {
        self.index.get(name).map(|&i| self.columns[i].kind)
    }

    /// Positions of the tag columns (a SQL table's key columns) in [`TableSchema::columns`]
    /// (and the Arrow schema): with `time`, the identity of a row.
    pub fn tag_indices(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.kind, ColumnKind::Tag | ColumnKind::Key(_)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Adds a column (before `time`) if it is new. Returns false if the name exists with another
    /// kind; the schema is then unchanged. Callers check kinds first to word the error.
    pub fn add(&mut self, name: &str, kind: ColumnKind) -> bool {
        match self.kind(name) {
            Some(existing) => existing == kind,
            None => {
                let time = self.columns.pop().expect("time column is always present");
                self.index.remove(TIME_COLUMN);
                self.push(name, kind);
                self.push(&time.name, time.kind);
                true
            }
        }
    }

    /// Adds every column of `other` that this schema lacks. Conflicting kinds keep this schema's.
    /// A SQL table's columns are fixed at creation: nothing is added to them.
    pub fn merge(&mut self, other: &TableSchema) {
        if self.sql {
            return;
        }
        for c in other.columns() {
            self.add(&c.name, c.kind);
        }
    }

    /// The Arrow schema of the table as queries see it. Every column is nullable except `time`.
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(&c.name, c.kind.arrow_type(), c.kind != ColumnKind::Time))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// Rebuilds a schema from an Arrow schema written by [`TableSchema::arrow_schema`] and the
    /// list of tag columns (kept in table metadata, since a tag and a string field are both Utf8).
    pub fn from_arrow(schema: &Schema, tags: &[String]) -> TableSchema {
        let mut out = TableSchema::new();
        for f in schema.fields() {
            if f.name() == TIME_COLUMN {
                continue;
            }
            let kind = if tags.iter().any(|t| t == f.name()) {
                ColumnKind::Tag
            } else {
                match FieldType::from_arrow(f.data_type()) {
                    Some(t) => ColumnKind::Field(t),
                    None => continue,
                }
            };
            out.add(f.name(), kind);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_keep_first_appearance_order_with_time_last() {
        let mut s = TableSchema::new();
        assert!(s.add("household", ColumnKind::Tag));
        assert!(s.add("power_w", ColumnKind::Field(FieldType::Float)));
        assert!(s.add("meter", ColumnKind::Tag));
        let names: Vec<_> = s.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["household", "power_w", "meter", "time"]);
        assert_eq!(s.tag_indices(), [0, 2]);
    }

    #[test]
    fn a_column_keeps_its_first_kind() {
        let mut s = TableSchema::new();
        assert!(s.add("v", ColumnKind::Field(FieldType::Integer)));
        assert!(!s.add("v", ColumnKind::Field(FieldType::Float)));
        assert!(!s.add("v", ColumnKind::Tag));
        assert_eq!(s.kind("v"), Some(ColumnKind::Field(FieldType::Integer)));
        assert!(!s.add("time", ColumnKind::Tag));
    }

    #[test]
    fn arrow_round_trip() {
        let mut s = TableSchema::new();
        s.add("room", ColumnKind::Tag);
        s.add("firmware", ColumnKind::Field(FieldType::String));
        s.add("count", ColumnKind::Field(FieldType::UInteger));
        s.add("on", ColumnKind::Field(FieldType::Boolean));
        let arrow = s.arrow_schema();
        assert_eq!(arrow.field(4).data_type(), &time_type());
        assert!(!arrow.field(4).is_nullable());
        let back = TableSchema::from_arrow(&arrow, &["room".to_string()]);
        assert_eq!(back, s);
    }
}
