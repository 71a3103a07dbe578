//! The persister: buffered rows → sorted, deduplicated Parquet files → one Delta commit per table.
//!
//! For each table of a [`Snapshot`] the persister aligns the chunks to the table schema, merges
//! duplicate identities by rank ([`crate::dedup`]), splits the rows by UTC day and writes one
//! Parquet file per day, sorted by (tags, time), zstd-compressed. The files and the snapshot's
//! WAL sequence number go into a single Delta commit (`txn` action), so after a crash the WAL
//! replay knows exactly which writes each table already holds. A table whose commit fails keeps
//! its rows in the snapshot; the next flush retries it, and tables already committed are skipped.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::array::{Array, TimestampMicrosecondArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;
use datafusion::parquet::arrow::{ARROW_SCHEMA_META_KEY, ArrowWriter, encode_arrow_schema};
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::metadata::{KeyValue, ParquetMetaData, SortingColumn};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::file::statistics::Statistics;
use datafusion::parquet::schema::types::ColumnPath;
use hearth_catalog::catalog::{FileMeta, FileOrder, Table};
use hearth_catalog::schema::TIME_COLUMN;
use hearth_catalog::stats::stats_json_with;
use hearth_catalog::store::Store;

use crate::align::align;
use crate::buffer::TableChunks;
use crate::dedup::{dedup_sorted, tag_dictionary_type};
use crate::error::StorageError;

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Bits of a rank that number the rows within one write.
pub const ROW_BITS: u32 = 24;

/// The rank of row `row` of the write with WAL sequence number `seq`: later writes rank
/// higher, and within one write a later line ranks higher (so the last line wins).
pub fn row_rank(seq: u64, row: u64) -> u64 {
    (seq << ROW_BITS) | row.min((1 << ROW_BITS) - 1)
}

/// The rank of every row of a file persisted by the flush that covered WAL position `seq`:
/// above every buffered row of that flush, below every later write.
pub fn file_rank(seq: u64) -> u64 {
    (seq << ROW_BITS) | ((1 << ROW_BITS) - 1)
}
/// Rows per Parquet row group. Pages (at most 20 000 rows, with statistics in the page index)
/// still let a query of one series skip most of a row group, while each row group read costs a
/// fixed share: its statistics are evaluated, and a decompressor is set up for each column chunk
/// (zstd asks the CPU for its features each time, which traps to the hypervisor on a virtual
/// machine: about 22 µs on the one `BENCHMARKS.md` was measured on). TSBS cpu, 1 000 hosts × a
/// day, `hearth-bench query`, p50 of three alternating runs, 65 536 → 262 144 rows: cpu-max-all-8
/// 31.5 → 26.7 ms, double-groupby-1 175 → 154 ms, high-cpu-all 517 → 464 ms, single-host
/// queries unchanged; 2^20 rows made single-host queries 5–10% slower.
pub const ROW_GROUP_ROWS: usize = 262_144;

/// Merges the chunks of one table into one sorted, deduplicated batch in the table schema
/// (`whole_rows`: a later row replaces an earlier one of its identity whole, as a SQL table's
/// primary key wants; see [`dedup_sorted`]).
pub fn merge_chunks(
    chunks: &[(u64, RecordBatch)],
    schema: &SchemaRef,
    tag_columns: &[usize],
    whole_rows: bool,
) -> Result<RecordBatch, StorageError> {
    let mut aligned = Vec::with_capacity(chunks.len());
    let mut ranks: Vec<u64> = Vec::new();
    for (seq, batch) in chunks {
        aligned.push(align(batch, schema)?);
        ranks.extend((0..batch.num_rows() as u64).map(|row| row_rank(*seq, row)));
    }
    let time = schema.index_of(TIME_COLUMN)?;
    let mut keys = tag_columns.to_vec();
    keys.push(time);
    dedup_sorted(schema, &aligned, &keys, &ranks, whole_rows)
}

pub use hearth_catalog::timefmt::day_of;

/// Splits a batch sorted by (tags, time) into per-day batches (each still sorted).
pub fn split_by_day(batch: &RecordBatch) -> Result<Vec<(String, RecordBatch)>, StorageError> {
    let time = batch.column(batch.schema().index_of(TIME_COLUMN)?);
    let time = time
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| StorageError::Payload("time column is not microseconds".into()))?;
    let mut days: Vec<i64> = time
        .values()
        .iter()
        .map(|t| t.div_euclid(MICROS_PER_DAY))
        .collect();
    let per_row = days.clone();
    days.sort_unstable();
    days.dedup();
    if days.len() == 1 {
        return Ok(vec![(day_of(days[0] * MICROS_PER_DAY), batch.clone())]);
    }
    days.iter()
        .map(|&d| {
            let mask = BooleanArray::from(per_row.iter().map(|&r| r == d).collect::<Vec<_>>());
            Ok((
                day_of(d * MICROS_PER_DAY),
                filter_record_batch(batch, &mask)?,
            ))
        })
        .collect()
}

/// Largest dictionary page of a float column (4 096 distinct values); past it the column
/// falls back to byte stream split.
const FLOAT_DICTIONARY_BYTES: usize = 32 * 1024;

/// `schema` with dictionary columns (text tags from [`dedup_sorted`]) as their values' type: the
/// schema a file of the batch has.
fn plain_schema(schema: &SchemaRef) -> SchemaRef {
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Dictionary(_, _)))
    {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, value) => f.as_ref().clone().with_data_type(*value.clone()),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The Arrow schema a file records for its readers: `schema` with the text tags as
/// dictionaries. Parquet stores them as the same dictionary-encoded strings either way (readers
/// of Parquet alone see strings); Arrow readers read them back as dictionaries, so a query's
/// condition on a tag compares each page's dictionary, not every row's string, and only the
/// rows it keeps become strings for the operators above the scan.
fn read_schema(schema: &SchemaRef, tag_columns: &[usize]) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match f.data_type() {
            DataType::Utf8 if tag_columns.contains(&i) => {
                f.as_ref().clone().with_data_type(tag_dictionary_type())
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// Encodes a sorted batch as a Parquet file. Dictionary columns are written as their values'
/// type; the file's Arrow schema records the text tags (`tag_columns`) as dictionaries, whatever
/// they were in memory, so that Arrow readers read them back as such.
pub fn write_parquet(batch: &RecordBatch, tag_columns: &[usize]) -> Result<Bytes, StorageError> {
    Ok(write_parquet_meta(batch, tag_columns)?.0)
}

/// A batch encoded as a Parquet file, with what the table log records of it.
pub struct EncodedFile {
    pub bytes: Bytes,
    /// The file's Delta statistics (`stats_json`).
    pub stats: String,
    /// The least and greatest `time` ((0, 0) for no rows).
    pub time: (i64, i64),
}

/// A sorted batch as a Parquet file with its Delta statistics and time range, whose integer
/// and timestamp ranges come from the statistics the Parquet writer keeps anyway.
pub fn encode_file(
    batch: &RecordBatch,
    tag_columns: &[usize],
) -> Result<EncodedFile, StorageError> {
    let (bytes, meta) = write_parquet_meta(batch, tag_columns)?;
    let known: Vec<Option<(i64, i64)>> = (0..batch.num_columns())
        .map(|i| integer_range(&meta, i))
        .collect();
    let time = match known
        .get(batch.schema().index_of(TIME_COLUMN)?)
        .copied()
        .flatten()
    {
        Some(range) => range,
        None => time_range(batch)?.unwrap_or((0, 0)),
    };
    Ok(EncodedFile {
        bytes,
        stats: stats_json_with(batch, &known),
        time,
    })
}

/// The least and greatest value of leaf column `column` over all row groups, if it is a 64-bit
/// integer column (timestamps included) with statistics in every row group.
fn integer_range(meta: &ParquetMetaData, column: usize) -> Option<(i64, i64)> {
    let mut range: Option<(i64, i64)> = None;
    for group in meta.row_groups() {
        let Some(Statistics::Int64(s)) = group.columns().get(column)?.statistics() else {
            return None;
        };
        let (lo, hi) = (*s.min_opt()?, *s.max_opt()?);
        range = Some(range.map_or((lo, hi), |(l, h)| (l.min(lo), h.max(hi))));
    }
    range
}

/// [`write_parquet`], with the file's metadata as the writer left it.
fn write_parquet_meta(
    batch: &RecordBatch,
    tag_columns: &[usize],
) -> Result<(Bytes, ParquetMetaData), StorageError> {
    let schema = plain_schema(&batch.schema());
    let time = schema.index_of(TIME_COLUMN)?;
    let mut sorting: Vec<SortingColumn> = tag_columns
        .iter()
        .map(|&i| SortingColumn {
            column_idx: i as i32,
            descending: false,
            nulls_first: true,
        })
        .collect();
    sorting.push(SortingColumn {
        column_idx: time as i32,
        descending: false,
        nulls_first: true,
    });
    let mut props = WriterProperties::builder();
    // Encodings by measurement (zstd on top):
    // * time and integer fields change by small steps within a series, which delta encoding
    //   turns into a few bits a value (TSBS cpu, a day of 100 hosts in one file: 8.8 MB with
    //   dictionaries everywhere, 4.0 MB this way);
    // * floats keep a dictionary while it stays small (thermostat readings such as 21.5: 0.53 MB
    //   against 1.19 MB split by byte, for a day of 50 homes' `climate`) and fall back to byte
    //   stream split once it passes 4 096 values (meter readings: 2.5 MB against 3.3 MB with
    //   dictionaries only, for the same homes' `energy`);
    // * tags keep dictionaries.
    // Codecs: zstd, but LZ4 (raw) for tags. Sorted tags are dictionary indices in long runs,
    // which zstd shrinks by a few bytes per column chunk, while the Parquet reader creates a
    // zstd compressor and decompressor for each column chunk it reads (CPU feature checks that
    // cost 45 µs on a virtual machine). TSBS cpu, 1 000 hosts for a day: 0.006 B/row more, and
    // queries of a few hosts 5-10 % faster.
    for (i, field) in schema.fields().iter().enumerate() {
        let column = ColumnPath::from(field.name().as_str());
        if tag_columns.contains(&i) && field.data_type() == &DataType::Utf8 {
            props = props.set_column_compression(column.clone(), Compression::LZ4_RAW);
        }
        props = match field.data_type() {
            DataType::Int64 | DataType::Timestamp(_, _) => props
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_encoding(column, Encoding::DELTA_BINARY_PACKED),
            DataType::Float64 => props
                .set_column_dictionary_page_size_limit(column.clone(), FLOAT_DICTIONARY_BYTES)
                .set_column_encoding(column, Encoding::BYTE_STREAM_SPLIT),
            _ => props,
        };
    }
    let props = props
        .set_key_value_metadata(Some(vec![KeyValue::new(
            ARROW_SCHEMA_META_KEY.to_string(),
            encode_arrow_schema(&read_schema(&schema, tag_columns)),
        )]))
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("hearth {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 4 + 1024);
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_skip_arrow_metadata(true);
    let mut writer = ArrowWriter::try_new_with_options(&mut out, schema, options)?;
    writer.write(batch)?;
    let meta = writer.close()?;
    Ok((Bytes::from(out), meta))
}

/// The table schema as Arrow, without Hearth's field metadata (what files and Delta hold), the
/// identity columns but `time`, and whether rows replace each other whole.
fn file_schema(table: &Table) -> (SchemaRef, Vec<usize>, bool) {
    let schema = table.schema();
    (
        schema.arrow_schema(),
        schema.tag_indices(),
        schema.is_sql_table(),
    )
}

/// Merges a table's chunks and encodes one Parquet file per day: each file's metadata, bytes
/// and Delta statistics.
fn encode_files(
    chunks: &[(u64, RecordBatch)],
    schema: &SchemaRef,
    tags: &[usize],
    whole_rows: bool,
    seq: u64,
) -> Result<Vec<(FileMeta, Bytes, String)>, StorageError> {
    let merged = merge_chunks(chunks, schema, tags, whole_rows)?;
    let mut out = Vec::new();
    for (date, rows) in split_by_day(&merged)? {
        let EncodedFile {
            bytes,
            stats,
            time: (min_time, max_time),
        } = encode_file(&rows, tags)?;
        let path = format!(
            "date={date}/part-{seq:020}-{}.zstd.parquet",
            uuid::Uuid::new_v4().simple()
        );
        let meta = FileMeta {
            path,
            date,
            size: bytes.len() as u64,
            rows: rows.num_rows() as u64,
            min_time,
            max_time,
            rank: seq,
            order: sorted_order(&rows, tags),
        };
        out.push((meta, bytes, stats));
    }
    Ok(out)
}

/// Persists one table's chunks of a snapshot with WAL position `seq`. Returns the files added.
pub async fn persist_table(
    store: &Store,
    table: &Table,
    chunks: &TableChunks,
    seq: u64,
) -> Result<Vec<FileMeta>, StorageError> {
    let (schema, tags, whole_rows) = file_schema(table);
    // Sorting, merging and encoding take whole cores for a while: off the async workers.
    let input = chunks.chunks.clone();
    let encoded =
        tokio::task::spawn_blocking(move || encode_files(&input, &schema, &tags, whole_rows, seq))
            .await
            .map_err(|e| StorageError::Payload(format!("persisting failed: {e}")))??;
    let mut files = Vec::new();
    let mut stats = Vec::new();
    for (meta, bytes, file_stats) in encoded {
        store
            .put_table_file(table.db(), table.name(), &meta.path, bytes)
            .await?;
        files.push(meta);
        stats.push(file_stats);
    }
    let version = store
        .commit_files(table, &table.schema(), &files, &stats, seq)
        .await?;
    table.update(|s| {
        s.files.extend(files.iter().cloned());
        s.persisted_seq = s.persisted_seq.max(seq);
        s.delta_version = Some(version);
    });
    Ok(files)
}

/// The order of `batch` once sorted by (tags, time) as the persister sorts (`tags` are the
/// indices of its tag columns).
pub fn sorted_order(batch: &RecordBatch, tags: &[usize]) -> FileOrder {
    let rows = batch.num_rows();
    FileOrder::TagsTime {
        tag_nulls: tags.iter().any(|&i| {
            let nulls = batch.column(i).null_count();
            nulls > 0 && nulls < rows
        }),
    }
}

/// The `time` column of a batch in a table's schema.
pub fn time_column(batch: &RecordBatch) -> Result<&TimestampMicrosecondArray, StorageError> {
    batch
        .column(batch.schema().index_of(TIME_COLUMN)?)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| StorageError::Payload("time column of the wrong type".into()))
}

/// The smallest and largest `time` of a batch in a table's schema; `None` when it has no rows.
pub fn time_range(batch: &RecordBatch) -> Result<Option<(i64, i64)>, StorageError> {
    let v = time_column(batch)?.values();
    Ok(v.iter().copied().min().zip(v.iter().copied().max()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::compute::concat_batches;
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn days_are_utc_and_floor_negative_times() {
        assert_eq!(day_of(1_764_000_000_000_000), "2025-11-24");
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(-1), "1969-12-31");
    }

    #[test]
    fn time_range_of_a_batch() {
        let t = TimestampMicrosecondArray::from(vec![3, 1, 2]).with_timezone("UTC");
        assert_eq!(t.null_count(), 0);
        let schema = Arc::new(Schema::new(vec![Field::new(
            TIME_COLUMN,
            t.data_type().clone(),
            false,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(t)]).unwrap();
        assert_eq!(time_range(&batch).unwrap(), Some((1, 3)));
        assert_eq!(time_range(&batch.slice(0, 0)).unwrap(), None);
    }

    #[test]
    fn tags_are_lz4_and_the_rest_zstd_and_the_file_reads_back() {
        use datafusion::arrow::array::{Float64Array, StringArray};
        use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let n = 3_000;
        let time = TimestampMicrosecondArray::from_iter_values((0..n).map(|i| i * 10_000_000))
            .with_timezone("UTC");
        let schema = Arc::new(Schema::new(vec![
            Field::new("host", DataType::Utf8, true),
            Field::new("note", DataType::Utf8, true),
            Field::new("usage", DataType::Float64, true),
            Field::new(TIME_COLUMN, time.data_type().clone(), false),
        ]));
        let host: StringArray = (0..n).map(|i| Some(format!("h{}", i / 1_000))).collect();
        let note: StringArray = (0..n).map(|i| Some(format!("n{}", i % 7))).collect();
        let usage: Float64Array = (0..n).map(|i| Some((i % 100) as f64 / 4.0)).collect();
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(host),
                Arc::new(note),
                Arc::new(usage),
                Arc::new(time),
            ],
        )
        .unwrap();
        let bytes = write_parquet(&batch, &[0]).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let codecs: Vec<(String, &str)> = reader
            .metadata()
            .row_group(0)
            .columns()
            .iter()
            .map(|c| {
                let codec = match c.compression() {
                    Compression::LZ4_RAW => "lz4",
                    Compression::ZSTD(_) => "zstd",
                    _ => "other",
                };
                (c.column_path().string(), codec)
            })
            .collect();
        // The tag is LZ4; a string field, a float field and the time stay zstd.
        let expected = [
            ("host", "lz4"),
            ("note", "zstd"),
            ("usage", "zstd"),
            ("time", "zstd"),
        ];
        assert_eq!(codecs, expected.map(|(c, z)| (c.to_string(), z)));
        // The tag reads back as a dictionary, the rest as written.
        let types: Vec<DataType> = reader
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(types[0], tag_dictionary_type());
        assert_eq!(
            types[1..],
            batch.schema().fields()[1..]
                .iter()
                .map(|f| f.data_type().clone())
                .collect::<Vec<_>>()
        );
        let read: Vec<RecordBatch> = reader
            .build()
            .unwrap()
            .map(|b| align(&b.unwrap(), &batch.schema()).unwrap())
            .collect();
        assert_eq!(concat_batches(&batch.schema(), &read).unwrap(), batch);
    }

    #[test]
    fn merged_text_tags_are_dictionaries_in_memory_and_in_the_files_arrow_schema() {
        use datafusion::arrow::array::{Float64Array, StringArray};
        use datafusion::arrow::compute::cast;
        use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use hearth_catalog::stats::stats_json;
        let utc = DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Microsecond,
            Some("UTC".into()),
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("home", DataType::Utf8, true),
            Field::new("room", DataType::Utf8, true),
            Field::new("t", DataType::Float64, true),
            Field::new(TIME_COLUMN, utc.clone(), false),
        ]));
        let chunk = |home: Vec<&str>, room: Vec<Option<&str>>, t: Vec<f64>, time: Vec<i64>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(home)),
                    Arc::new(StringArray::from(room)),
                    Arc::new(Float64Array::from(t)),
                    Arc::new(TimestampMicrosecondArray::from(time).with_timezone("UTC")),
                ],
            )
            .unwrap()
        };
        let chunks = vec![
            (
                1,
                chunk(
                    vec!["b", "a", "b"],
                    vec![Some("x"), None, Some("x")],
                    vec![1.0, 2.0, 3.0],
                    vec![2, 1, 1],
                ),
            ),
            (
                2,
                chunk(
                    vec!["b", "c"],
                    vec![Some("x"), Some("y")],
                    vec![9.0, 4.0],
                    vec![2, 5],
                ),
            ),
        ];
        let merged = merge_chunks(&chunks, &schema, &[0, 1], false).unwrap();
        for tag in [0, 1] {
            assert_eq!(
                merged.column(tag).data_type(),
                &crate::dedup::tag_dictionary_type()
            );
        }
        // Sorted by (home, room with NULL first, time); the later write of (b, x, 2) wins.
        let expected = chunk(
            vec!["a", "b", "b", "c"],
            vec![None, Some("x"), Some("x"), Some("y")],
            vec![2.0, 3.0, 9.0, 4.0],
            vec![1, 1, 2, 5],
        );
        let plain: Vec<_> = merged
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| cast(c, f.data_type()).unwrap())
            .collect();
        assert_eq!(
            RecordBatch::try_new(schema.clone(), plain).unwrap(),
            expected
        );
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(write_parquet(&merged, &[0, 1]).unwrap())
                .unwrap();
        let hinted: Vec<Field> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match i {
                0 | 1 => f.as_ref().clone().with_data_type(tag_dictionary_type()),
                _ => f.as_ref().clone(),
            })
            .collect();
        assert_eq!(
            reader.schema().fields(),
            Schema::new(hinted).fields(),
            "the file's Arrow schema is the table's, tags as dictionaries"
        );
        let read: Vec<RecordBatch> = reader
            .build()
            .unwrap()
            .map(|b| align(&b.unwrap(), &schema).unwrap())
            .collect();
        assert_eq!(concat_batches(&schema, &read).unwrap(), expected);
        let encoded = encode_file(&merged, &[0, 1]).unwrap();
        assert_eq!(encoded.time, (1, 5));
        let stats: serde_json::Value = serde_json::from_str(&encoded.stats).unwrap();
        assert_eq!(
            stats,
            serde_json::from_str::<serde_json::Value>(&stats_json(&merged)).unwrap()
        );
        assert_eq!(
            (&stats["minValues"]["home"], &stats["maxValues"]["home"]),
            (&"a".into(), &"c".into())
        );
        assert_eq!(
            (&stats["minValues"]["room"], &stats["nullCount"]["room"]),
            (&"x".into(), &1.into())
        );
        // A day's part of the batch keeps only the values its rows use in its statistics.
        let day = merged.slice(1, 2);
        let stats: serde_json::Value =
            serde_json::from_str(&encode_file(&day, &[0, 1]).unwrap().stats).unwrap();
        assert_eq!(
            (&stats["minValues"]["home"], &stats["maxValues"]["home"]),
            (&"b".into(), &"b".into())
        );
        assert_eq!(stats["nullCount"]["room"], 0);
    }

    #[test]
    fn integer_ranges_from_the_writer_span_all_row_groups() {
        use datafusion::arrow::array::Int64Array;
        use hearth_catalog::stats::stats_json;
        // Two row groups; the extremes of `v` lie in the second, of `time` one in each.
        let n = ROW_GROUP_ROWS as i64 + 1_000;
        let time = TimestampMicrosecondArray::from_iter_values((0..n).map(|i| i * 1_000))
            .with_timezone("UTC");
        let v = Int64Array::from_iter((0..n).map(|i| match i {
            i if i == n - 2 => Some(-5),
            i if i == n - 1 => Some(1 << 40),
            i if i % 3 == 0 => None,
            i => Some(i % 1_000),
        }));
        let none = Int64Array::from(vec![None::<i64>; n as usize]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("v", DataType::Int64, true),
            Field::new("none", DataType::Int64, true),
            Field::new(TIME_COLUMN, time.data_type().clone(), false),
        ]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(v), Arc::new(none), Arc::new(time)])
            .unwrap();
        let EncodedFile { bytes, stats, time } = encode_file(&batch, &[]).unwrap();
        assert_eq!(time, (0, (n - 1) * 1_000));
        let meta = datafusion::parquet::arrow::arrow_reader::ArrowReaderMetadata::load(
            &bytes,
            Default::default(),
        )
        .unwrap();
        assert_eq!(meta.metadata().num_row_groups(), 2);
        assert_eq!(integer_range(meta.metadata(), 0), Some((-5, 1 << 40)));
        assert_eq!(integer_range(meta.metadata(), 1), None);
        let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
        assert_eq!(
            stats,
            serde_json::from_str::<serde_json::Value>(&stats_json(&batch)).unwrap()
        );
        assert_eq!(stats["maxValues"]["v"], 1i64 << 40);
        assert!(stats["minValues"].get("none").is_none());
    }
}
