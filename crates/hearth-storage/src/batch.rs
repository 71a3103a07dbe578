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
    len: usize,
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

    fn column(&mut self, name: &str, kind: ColumnKind) -> &mut ColumnBuilder {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.columns.push(ColumnBuilder {
                    name: name.to_string(),
                    kind,
                    values: Values::new(kind),
                    len: 0,
                });
                self.index.insert(name.to_string(), self.columns.len() - 1);
                self.columns.len() - 1
            }
        };
        let rows = self.rows;
        let col = &mut self.columns[i];
        col.pad_to(rows);
        col
    }

    /// Adds one row. The caller has validated kinds and types against the table schema, so a
    /// value of another type than the column's is a bug; it is stored as NULL.
    pub fn push_row<'a>(
        &mut self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
        fields: impl IntoIterator<Item = (&'a str, FieldType, Value<'a>)>,
        time_us: i64,
    ) {
        for (k, v) in tags {
            let col = self.column(k, ColumnKind::Tag);
            if let Values::Tag(b) = &mut col.values {
                b.append_value(v);
                col.len += 1;
            }
        }
        for (k, t, v) in fields {
            let col = self.column(k, ColumnKind::Field(t));
            let stored = match (&mut col.values, v) {
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
            if stored {
                col.len += 1;
            }
        }
        self.time.append_value(time_us);
        self.rows += 1;
    }

    /// Finishes the batch: tags, then fields, in order of first appearance, then `time`.
    pub fn finish(mut self) -> RecordBatch {
        let rows = self.rows;
        let mut fields = Vec::with_capacity(self.columns.len() + 1);
        let mut arrays = Vec::with_capacity(self.columns.len() + 1);
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
