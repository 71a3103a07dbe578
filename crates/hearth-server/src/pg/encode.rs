//! Arrow record batches → PostgreSQL `DataRow` messages.
//!
//! The column types and formats clients see are arrow-pg's (`arrow_schema_to_pg_fields`); the
//! values of the types Hearth returns are written here, column by column, in PostgreSQL's text
//! format ([`text`](super::text)) or its binary format, into one buffer per batch that each
//! row's message is split off without copying. Any other type (intervals, lists, a binary
//! `numeric`, ...) goes through arrow-pg's encoder for that value.
//!
//! `timestamp with time zone` is shown in the session's `TimeZone`, as PostgreSQL shows it,
//! unless the value carries another zone than UTC (DataFusion's timestamps keep one), which is
//! then shown.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, PrimitiveArray,
};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, Date32Type, Field, FieldRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion_postgres::arrow_pg::encoder::encode_value;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::data::DataRow;

use super::text;

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;

/// How values of one zone are shown: a fixed offset, or a named zone's offset at each instant.
#[derive(Debug, Clone)]
pub(crate) enum Zone {
    /// UTC or another fixed offset, in seconds east of UTC.
    Fixed(i32),
    /// A zone with rules (daylight saving time).
    Named(Tz),
}

impl Zone {
    /// The zone PostgreSQL's `TimeZone` setting names (`UTC`, `Europe/Berlin`, `+02:00`).
    pub(crate) fn parse(name: &str) -> Option<Zone> {
        let trimmed = name.trim();
        if trimmed.eq_ignore_ascii_case("utc")
            || trimmed.eq_ignore_ascii_case("etc/utc")
            || trimmed.eq_ignore_ascii_case("z")
            || trimmed.eq_ignore_ascii_case("gmt")
        {
            return Some(Zone::Fixed(0));
        }
        if let Ok(tz) = trimmed.parse::<Tz>() {
            return Some(Zone::Named(tz));
        }
        // `+02:00`, `-0530`: ISO 8601 offsets east of UTC.
        let (sign, rest) = match trimmed.as_bytes().first()? {
            b'+' => (1, &trimmed[1..]),
            b'-' => (-1, &trimmed[1..]),
            _ => return None,
        };
        let digits: String = rest.chars().filter(|c| c.is_ascii_digit()).collect();
        let (h, m) = match digits.len() {
            1 | 2 => (digits.parse::<i32>().ok()?, 0),
            4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
            _ => return None,
        };
        Some(Zone::Fixed(sign * (h * 3_600 + m * 60)))
    }

    /// Seconds east of UTC at `micros` since the epoch.
    fn offset_at(&self, micros: i64) -> i32 {
        use chrono::{Offset, TimeZone};
        match self {
            Zone::Fixed(s) => *s,
            Zone::Named(tz) => chrono::DateTime::from_timestamp_micros(micros).map_or(0, |utc| {
                tz.offset_from_utc_datetime(&utc.naive_utc())
                    .fix()
                    .local_minus_utc()
            }),
        }
    }
}

/// Session settings that change how values are written.
#[derive(Debug, Clone)]
pub(crate) struct TextOptions {
    /// `extra_float_digits` (1 unless the client sets it; pgjdbc sets 3).
    pub(crate) extra_float_digits: i32,
    /// `TimeZone`, in which `timestamp with time zone` values are shown.
    pub(crate) zone: Zone,
}

impl Default for TextOptions {
    fn default() -> TextOptions {
        TextOptions {
            extra_float_digits: 1,
            zone: Zone::Fixed(0),
        }
    }
}

/// Writes the rows of record batches as `DataRow`s for `fields` (the row description sent).
pub(crate) struct RowEncoder {
    fields: Arc<Vec<FieldInfo>>,
    options: TextOptions,
}

/// Microseconds of a timestamp array of any unit, by row.
fn micros_of(array: &ArrayRef, unit: TimeUnit) -> Vec<Option<i64>> {
    fn conv<T: ArrowTimestampType>(a: &ArrayRef, f: impl Fn(i64) -> i64) -> Vec<Option<i64>> {
        a.as_primitive::<T>().iter().map(|v| v.map(&f)).collect()
    }
    match unit {
        TimeUnit::Second => conv::<TimestampSecondType>(array, |v| v.saturating_mul(1_000_000)),
        TimeUnit::Millisecond => {
            conv::<TimestampMillisecondType>(array, |v| v.saturating_mul(1_000))
        }
        TimeUnit::Microsecond => conv::<TimestampMicrosecondType>(array, |v| v),
        TimeUnit::Nanosecond => conv::<TimestampNanosecondType>(array, |v| v.div_euclid(1_000)),
    }
}

/// One column of a batch, ready to write value by value.
enum Column<'a> {
    Null,
    Bool(&'a BooleanArray),
    I16(&'a Int16Array),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
    Text(Vec<Option<&'a [u8]>>),
    Timestamp(Vec<Option<i64>>, Option<Zone>),
    Date(&'a PrimitiveArray<Date32Type>),
    Decimal(&'a Decimal128Array, i8),
    /// Written by arrow-pg.
    Other(&'a ArrayRef, FieldRef),
}

impl RowEncoder {
    pub(crate) fn new(fields: Arc<Vec<FieldInfo>>, options: TextOptions) -> RowEncoder {
        RowEncoder { fields, options }
    }

    /// The columns of `batch` as `Column`s, each checked against the type announced for it.
    fn columns<'a>(&self, batch: &'a RecordBatch) -> Vec<Column<'a>> {
        let schema = batch.schema();
        batch
            .columns()
            .iter()
            .zip(schema.fields().iter())
            .zip(self.fields.iter())
            .map(|((array, field), pg)| {
                let ty = pg.datatype();
                let binary = pg.format() == FieldFormat::Binary;
                let other = || Column::Other(array, field.clone());
                match array.data_type() {
                    DataType::Null => Column::Null,
                    DataType::Boolean if *ty == Type::BOOL => Column::Bool(array.as_boolean()),
                    DataType::Int16 if *ty == Type::INT2 => Column::I16(array.as_primitive()),
                    DataType::Int32 if *ty == Type::INT4 => Column::I32(array.as_primitive()),
                    DataType::Int64 if *ty == Type::INT8 => Column::I64(array.as_primitive()),
                    DataType::Float32 if *ty == Type::FLOAT4 => Column::F32(array.as_primitive()),
                    DataType::Float64 if *ty == Type::FLOAT8 => Column::F64(array.as_primitive()),
                    DataType::Utf8 if matches!(*ty, Type::TEXT | Type::VARCHAR) => Column::Text(
                        array
                            .as_string::<i32>()
                            .iter()
                            .map(|v| v.map(str::as_bytes))
                            .collect(),
                    ),
                    DataType::LargeUtf8 if matches!(*ty, Type::TEXT | Type::VARCHAR) => {
                        Column::Text(
                            array
                                .as_string::<i64>()
                                .iter()
                                .map(|v| v.map(str::as_bytes))
                                .collect(),
                        )
                    }
                    DataType::Utf8View if matches!(*ty, Type::TEXT | Type::VARCHAR) => {
                        Column::Text(
                            array
                                .as_string_view()
                                .iter()
                                .map(|v| v.map(str::as_bytes))
                                .collect(),
                        )
                    }
                    DataType::Timestamp(unit, None) if *ty == Type::TIMESTAMP => {
                        Column::Timestamp(micros_of(array, *unit), None)
                    }
                    DataType::Timestamp(unit, Some(tz)) if *ty == Type::TIMESTAMPTZ => {
                        // A UTC value (the `time` column) in the session's zone, as PostgreSQL
                        // shows `timestamptz`; one labelled with another zone (`time_bucket(...,
                        // 'Europe/Berlin')`) in that zone, so the local time stays visible.
                        let zone = match Zone::parse(tz) {
                            Some(Zone::Fixed(0)) | None => self.options.zone.clone(),
                            Some(zone) => zone,
                        };
                        Column::Timestamp(micros_of(array, *unit), Some(zone))
                    }
                    DataType::Date32 if *ty == Type::DATE => Column::Date(array.as_primitive()),
                    DataType::Decimal128(_, scale) if *ty == Type::NUMERIC && !binary => {
                        Column::Decimal(array.as_primitive(), *scale)
                    }
                    _ => other(),
                }
            })
            .collect()
    }

    /// Appends the rows of `batch` to `rows`.
    pub(crate) fn encode(&self, batch: &RecordBatch, rows: &mut Vec<DataRow>) -> PgWireResult<()> {
        if batch.num_columns() != self.fields.len() {
            return Err(PgWireError::ApiError(
                format!(
                    "result has {} columns, {} were described",
                    batch.num_columns(),
                    self.fields.len()
                )
                .into(),
            ));
        }
        let columns = self.columns(batch);
        let count = self.fields.len() as i16;
        let mut buffer = BytesMut::with_capacity(batch.num_rows() * (8 + 12 * columns.len()));
        let mut fallback: Option<DataRowEncoder> = None;
        rows.reserve(batch.num_rows());
        for row in 0..batch.num_rows() {
            for (column, pg) in columns.iter().zip(self.fields.iter()) {
                let binary = pg.format() == FieldFormat::Binary;
                self.put(&mut buffer, column, pg, binary, row, &mut fallback)?;
            }
            rows.push(DataRow::new(buffer.split(), count));
        }
        Ok(())
    }

    /// Writes one value (its length, then its bytes; length -1 for NULL).
    fn put(
        &self,
        out: &mut BytesMut,
        column: &Column<'_>,
        pg: &FieldInfo,
        binary: bool,
        row: usize,
        fallback: &mut Option<DataRowEncoder>,
    ) -> PgWireResult<()> {
        let start = out.len();
        out.put_i32(-1);
        let null = match column {
            Column::Null => true,
            Column::Bool(a) => put_or_null(a, row, |a| {
                let v = a.value(row);
                out.put_u8(match (binary, v) {
                    (true, v) => u8::from(v),
                    (false, true) => b't',
                    (false, false) => b'f',
                });
            }),
            Column::I16(a) => put_or_null(*a, row, |a| {
                let v = a.value(row);
                if binary {
                    out.put_i16(v);
                } else {
                    out.put_slice(itoa::Buffer::new().format(v).as_bytes());
                }
            }),
            Column::I32(a) => put_or_null(*a, row, |a| {
                let v = a.value(row);
                if binary {
                    out.put_i32(v);
                } else {
                    out.put_slice(itoa::Buffer::new().format(v).as_bytes());
                }
            }),
            Column::I64(a) => put_or_null(*a, row, |a| {
                let v = a.value(row);
                if binary {
                    out.put_i64(v);
                } else {
                    out.put_slice(itoa::Buffer::new().format(v).as_bytes());
                }
            }),
            Column::F32(a) => put_or_null(*a, row, |a| {
                let v = a.value(row);
                if binary {
                    out.put_f32(v);
                } else {
                    // A float4 written as float8 would show digits it never had.
                    let mut b = ryu::Buffer::new();
                    let shortest: f64 = b.format(v).parse().unwrap_or(f64::from(v));
                    text::put_f64(out, shortest, self.options.extra_float_digits);
                }
            }),
            Column::F64(a) => put_or_null(*a, row, |a| {
                let v = a.value(row);
                if binary {
                    out.put_f64(v);
                } else {
                    text::put_f64(out, v, self.options.extra_float_digits);
                }
            }),
            Column::Text(values) => match values[row] {
                Some(v) => {
                    out.put_slice(v);
                    false
                }
                None => true,
            },
            Column::Timestamp(values, zone) => match values[row] {
                Some(us) => {
                    if binary {
                        out.put_i64(us - PG_EPOCH_US);
                    } else {
                        let offset = zone.as_ref().map(|z| z.offset_at(us));
                        text::put_timestamp(out, us, offset);
                    }
                    false
                }
                None => true,
            },
            Column::Date(a) => put_or_null(*a, row, |a| {
                let days = a.value(row);
                if binary {
                    out.put_i32(days - PG_EPOCH_DAYS);
                } else {
                    text::put_date(out, i64::from(days));
                }
            }),
            Column::Decimal(a, scale) => put_or_null(*a, row, |a| {
                text::put_decimal(out, a.value(row), *scale);
            }),
            Column::Other(array, field) => {
                // arrow-pg writes the value (with its length) into a one-column row.
                out.truncate(start);
                let encoder =
                    fallback.get_or_insert_with(|| DataRowEncoder::new(Arc::new(Vec::new())));
                let single = Field::new(field.name(), field.data_type().clone(), true);
                encode_value(encoder, array, row, &single, pg)?;
                let value = encoder.take_row();
                out.put_slice(&value.data);
                return Ok(());
            }
        };
        if !null {
            let len = (out.len() - start - 4) as i32;
            out[start..start + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }
}

/// Runs `write` for a non-NULL value; returns whether the value is NULL.
fn put_or_null<A: Array>(array: A, row: usize, write: impl FnOnce(A)) -> bool {
    if array.is_null(row) {
        true
    } else {
        write(array);
        false
    }
}

/// The fields clients see for `schema` (arrow-pg's mapping), with one correction: a column
/// tagged as an oid alias (`regproc`, `regtype`, ...) that does not hold 4-byte oids (Hearth's
/// `pg_type` keeps function names in its `regproc` columns) is announced as `text`, so a
/// binary client is not sent a name where it expects an oid.
pub(crate) fn pg_fields(
    schema: &datafusion::arrow::datatypes::Schema,
    format: &datafusion_postgres::pgwire::api::portal::Format,
    options: Option<Arc<datafusion_postgres::pgwire::types::format::FormatOptions>>,
) -> PgWireResult<Vec<FieldInfo>> {
    const ALIAS: &str = "pg.oid_alias";
    let fixed: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.metadata().contains_key(ALIAS) && f.data_type() != &DataType::Int32 {
                let mut metadata = f.metadata().clone();
                metadata.remove(ALIAS);
                Arc::new(f.as_ref().clone().with_metadata(metadata))
            } else {
                f.clone()
            }
        })
        .collect();
    let schema =
        datafusion::arrow::datatypes::Schema::new_with_metadata(fixed, schema.metadata().clone());
    datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields(&schema, format, options)
}
