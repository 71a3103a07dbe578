//! Building Arrow record batches from validated line-protocol rows.
//!
//! One [`BatchBuilder`] collects the rows one write request has for one table. It has a column
//! for each tag and field those rows mention (not the whole table schema: columns a write does not
//! mention stay absent and read as NULL), plus `time`. Tag columns carry the field metadata
//! [`KIND_KEY`] = `tag`, so a batch alone says which columns are tags; WAL replay relies on it.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use hearth_catalog::schema::{ColumnKind, FieldType, TIME_COLUMN, TIME_ZONE};

/// Arrow field metadata key that marks the kind of a column in buffered batches.
pub const KIND_KEY: &str = "hearth.kind";
/// [`KIND_KEY`] value of tag columns.
pub const KIND_TAG: &str = "tag";

/// A field value after validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// 64-bit float.
    F64(f64),
    /// Signed integer.
    I64(i64),
    /// Unsigned integer.
    U64(u64),
    /// String.
    Str(&'a str),
    /// Boolean.
    Bool(bool),
}

enum Values {
    Tag(StringBuilder),
    Float(Float64Builder),
    Integer(Int64Builder),
    UInteger(Decimal128Builder),
    String(StringBuilder),
    Boolean(BooleanBuilder),
}

impl Values {
    fn new(kind: ColumnKind) -> Values {
        match kind {
            ColumnKind::Tag | ColumnKind::Time => Values::Tag(StringBuilder::new()),
            ColumnKind::Field(FieldType::Float) => Values::Float(Float64Builder::new()),
            ColumnKind::Field(FieldType::Integer) => Values::Integer(Int64Builder::new()),
            ColumnKind::Field(FieldType::UInteger) => Values::UInteger(
                Decimal128Builder::new()
                    .with_precision_and_scale(20, 0)
                    .expect("20,0 is a valid decimal"),
            ),
            ColumnKind::Field(FieldType::String) => Values::String(StringBuilder::new()),
            ColumnKind::Field(FieldType::Boolean) => Values::Boolean(BooleanBuilder::new()),
            // Only SQL tables have these, and line protocol does not write SQL tables
            // (`validate` refuses such lines before any column is built).
            ColumnKind::Key(_) | ColumnKind::Field(FieldType::Timestamp) => {
                Values::Integer(Int64Builder::new())
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            Values::Tag(b) | Values::String(b) => b.append_null(),
            Values::Float(b) => b.append_null(),
            Values::Integer(b) => b.append_null(),
            Values::UInteger(b) => b.append_null(),
            Values::Boolean(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Values::Tag(b) | Values::String(b) => Arc::new(b.finish()),
            Values::Float(b) => Arc::new(b.finish()),
            Values::Integer(b) => Arc::new(b.finish()),
            Values::UInteger(b) => Arc::new(b.finish()),
            Values::Boolean(b) => Arc::new(b.finish()),
        }
    }
}

struct ColumnBuilder {
    name: String,
    kind: ColumnKind,
    values: Values,
    /// Entries in `values` (values and padding NULLs).
    len: usize,
    /// Values appended (not counting padding); a column without any is left out of the batch.
    written: usize,
}

impl ColumnBuilder {
    fn pad_to(&mut self, rows: usize) {
        while self.len < rows {
            self.values.append_null();
            self.len += 1;
        }
    }
}

/// Collects rows of one table into one record batch.
///
/// Rows are built column by column: [`BatchBuilder::column`] finds or adds a column, the
/// `append_*` methods set the current row's value in it, and [`BatchBuilder::end_row`] closes
/// the row with its time. Columns a row does not set read NULL.
pub struct BatchBuilder {
    columns: Vec<ColumnBuilder>,
    index: HashMap<String, usize>,
    time: TimestampMicrosecondBuilder,
    rows: usize,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        BatchBuilder {
            columns: Vec::new(),
            index: HashMap::new(),
            time: TimestampMicrosecondBuilder::new().with_timezone(TIME_ZONE),
            rows: 0,
        }
    }

    /// Number of rows added so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The position of column `name`, if it has one.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Name of column `col`.
    pub fn name(&self, col: usize) -> &str {
        &self.columns[col].name
    }

    /// Kind of column `col`.
    pub fn kind(&self, col: usize) -> ColumnKind {
        self.columns[col].kind
    }

    /// Values set in column `col` so far.
    pub fn written(&self, col: usize) -> usize {
        self.columns[col].written
    }

    /// The position of column `name`, added with `kind` if it is new.
    pub fn column(&mut self, name: &str, kind: ColumnKind) -> usize {
        if let Some(i) = self.find(name) {
            return i;
        }
        self.columns.push(ColumnBuilder {
            name: name.to_string(),
            kind,
            values: Values::new(kind),
            len: 0,
            written: 0,
        });
        self.index.insert(name.to_string(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// Changes the kind of column `col`, which must have no values yet.
    pub fn set_kind(&mut self, col: usize, kind: ColumnKind) {
        let c = &mut self.columns[col];
        debug_assert_eq!(c.written, 0, "kind of a column with values changed");
        c.kind = kind;
        c.values = Values::new(kind);
        c.len = 0;
    }

    /// Sets the current row's value of tag column `col`.
    #[inline]
    pub fn append_tag(&mut self, col: usize, value: &str) {
        let rows = self.rows;
        let c = &mut self.columns[col];
        c.pad_to(rows);
        if let Values::Tag(b) = &mut c.values {
            b.append_value(value);
            c.len += 1;
            c.written += 1;
        }
    }

    /// Sets the current row's value of field column `col`. The caller has checked the type
    /// against the column's: a value of another type is a bug, and is left NULL.
    #[inline]
    pub fn append_field(&mut self, col: usize, value: Value<'_>) {
        let rows = self.rows;
        let c = &mut self.columns[col];
        c.pad_to(rows);
        let stored = match (&mut c.values, value) {
            (Values::Float(b), Value::F64(x)) => {
                b.append_value(x);
                true
            }
            (Values::Integer(b), Value::I64(x)) => {
                b.append_value(x);
                true
            }
            (Values::UInteger(b), Value::U64(x)) => {
                b.append_value(i128::from(x));
                true
            }
            (Values::String(b), Value::Str(x)) => {
                b.append_value(x);
                true
            }
            (Values::Boolean(b), Value::Bool(x)) => {
                b.append_value(x);
                true
            }
            _ => false,
        };
        debug_assert!(stored, "value of the wrong type for column {}", c.name);
        if stored {
            c.len += 1;
            c.written += 1;
        }
    }

    /// Ends the current row, at `time_us`.
    #[inline]
    pub fn end_row(&mut self, time_us: i64) {
        self.time.append_value(time_us);
        self.rows += 1;
    }

    /// Adds one row (a convenience over `column`, `append_*` and `end_row`).
    pub fn push_row<'a>(
        &mut self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
        fields: impl IntoIterator<Item = (&'a str, FieldType, Value<'a>)>,
        time_us: i64,
    ) {
        for (k, v) in tags {
            let col = self.column(k, ColumnKind::Tag);
            self.append_tag(col, v);
        }
        for (k, t, v) in fields {
            let col = self.column(k, ColumnKind::Field(t));
            self.append_field(col, v);
        }
        self.end_row(time_us);
    }

    /// The columns that have values, in order of first appearance, as a table schema
    /// (for publishing the columns a write introduces).
    pub fn written_columns(&self) -> impl Iterator<Item = (&str, ColumnKind)> {
        self.columns
            .iter()
            .filter(|c| c.written > 0)
            .map(|c| (c.name.as_str(), c.kind))
    }

    /// Finishes the batch: tags, then fields, in order of first appearance, then `time`.
    /// Columns without any value are left out.
    pub fn finish(mut self) -> RecordBatch {
        let rows = self.rows;
        let mut fields = Vec::with_capacity(self.columns.len() + 1);
        let mut arrays = Vec::with_capacity(self.columns.len() + 1);
        self.columns.retain(|c| c.written > 0);
        self.columns
            .sort_by_key(|c| if c.kind == ColumnKind::Tag { 0 } else { 1 });
        for col in &mut self.columns {
            col.pad_to(rows);
            let mut f = Field::new(&col.name, col.kind.arrow_type(), true);
            if col.kind == ColumnKind::Tag {
                f = f.with_metadata(HashMap::from([(
                    KIND_KEY.to_string(),
                    KIND_TAG.to_string(),
                )]));
            }
            fields.push(f);
            arrays.push(col.values.finish());
        }
        fields.push(Field::new(
            TIME_COLUMN,
            ColumnKind::Time.arrow_type(),
            false,
        ));
        arrays.push(Arc::new(self.time.finish()));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .expect("columns are padded to the same length with the declared types")
    }
}

/// True if the batch column is a tag column (per [`KIND_KEY`]).
pub fn is_tag(field: &Field) -> bool {
    field.metadata().get(KIND_KEY).map(String::as_str) == Some(KIND_TAG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Float64Array, StringArray};

    #[test]
    fn sparse_columns_are_padded_with_nulls() {
        let mut b = BatchBuilder::new();
        b.push_row(
            [("h", "h1")],
            [("p", FieldType::Float, Value::F64(1.5))],
            10,
        );
        b.push_row(
            [("h", "h2"), ("m", "m1")],
            [("e", FieldType::Integer, Value::I64(3))],
            20,
        );
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 2);
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["h", "m", "p", "e", "time"]);
        let m = batch
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert!(m.is_null(0));
        assert_eq!(m.value(1), "m1");
        let p = batch
            .column(2)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(p.value(0), 1.5);
        assert!(p.is_null(1));
        assert!(is_tag(batch.schema().field(0)));
        assert!(!is_tag(batch.schema().field(2)));
    }
}
