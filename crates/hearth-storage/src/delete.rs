//! Row deletes: every persisted version of the given identities (tags, time) removed from a
//! table's files, in one Delta commit.
//!
//! The caller decides which identities a `DELETE` matches on the merged view (so a predicate on
//! a field value matches what a query shows) and has flushed everything written before the
//! statement. Each file holding one of the identities is rewritten without them, keeping its
//! day and rank, so merging across files, and with rows written after the statement, is as
//! before. Files are read one at a time.

use std::collections::HashSet;

use datafusion::arrow::array::{ArrayRef, BooleanArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use hearth_catalog::catalog::{FileMeta, Table};
use hearth_catalog::delta::Replacement;
use hearth_catalog::schema::TIME_COLUMN;
use hearth_catalog::store::Store;

use crate::align::align;
use crate::error::StorageError;
use crate::persist::{EncodedFile, encode_file, time_range};

/// The identity columns (tags in schema order, then time) of batches in `schema`.
fn identity_columns(schema: &SchemaRef, tags: &[usize]) -> Result<Vec<usize>, StorageError> {
    let mut cols = tags.to_vec();
    cols.push(schema.index_of(TIME_COLUMN)?);
    Ok(cols)
}

fn converter(schema: &SchemaRef, cols: &[usize]) -> Result<RowConverter, StorageError> {
    Ok(RowConverter::new(
        cols.iter()
            .map(|&i| SortField::new(schema.field(i).data_type().clone()))
            .collect(),
    )?)
}

/// Removes the rows whose identity is in `identities` (batches in the table schema) from the
/// files of `table`. Returns the number of file rows removed.
pub async fn delete_identities(
    store: &Store,
    table: &Table,
    identities: &[RecordBatch],
    predicate: &str,
) -> Result<usize, StorageError> {
    let schema = table.schema();
    let (arrow_schema, tags) = (schema.arrow_schema(), schema.tag_indices());
    let cols = identity_columns(&arrow_schema, &tags)?;
    let rows = converter(&arrow_schema, &cols)?;
    let mut doomed: HashSet<Vec<u8>> = HashSet::new();
    let (mut min_time, mut max_time) = (i64::MAX, i64::MIN);
    for batch in identities {
        let batch = align(batch, &arrow_schema)?;
        let keys: Vec<ArrayRef> = cols.iter().map(|&i| batch.column(i).clone()).collect();
        let encoded = rows.convert_columns(&keys)?;
        doomed.extend(encoded.iter().map(|r| r.as_ref().to_vec()));
        if let Some((min, max)) = time_range(&batch)? {
            min_time = min_time.min(min);
            max_time = max_time.max(max);
        }
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    let mut removed = Vec::new();
    let mut added = Vec::new();
    let mut stats = Vec::new();
    let mut deleted = 0usize;
    for file in table.state().files {
        if file.max_time < min_time || file.min_time > max_time {
            continue;
        }
        let bytes = store
            .get_table_file(table.db(), table.name(), &file.path)
            .await?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
        let mut kept = Vec::new();
        let mut gone = 0usize;
        for batch in reader {
            let batch = align(&batch?, &arrow_schema)?;
            let keys: Vec<ArrayRef> = cols.iter().map(|&i| batch.column(i).clone()).collect();
            let encoded = rows.convert_columns(&keys)?;
            let keep: BooleanArray = encoded
                .iter()
                .map(|r| Some(!doomed.contains(r.as_ref())))
                .collect();
            gone += keep.false_count();
            kept.push(filter_record_batch(&batch, &keep)?);
        }
        if gone == 0 {
            continue;
        }
        deleted += gone;
        let kept = datafusion::arrow::compute::concat_batches(&arrow_schema, &kept)?;
        if kept.num_rows() > 0 {
            let EncodedFile {
                bytes: encoded,
                stats: file_stats,
                time: (min, max),
            } = encode_file(&kept, &tags)?;
            let meta = FileMeta {
                path: format!(
                    "date={}/part-{:020}-{}.zstd.parquet",
                    file.date,
                    file.rank,
                    uuid::Uuid::new_v4().simple()
                ),
                date: file.date.clone(),
                size: encoded.len() as u64,
                rows: kept.num_rows() as u64,
                min_time: min,
                max_time: max,
                rank: file.rank,
                // Rows only left out: the file keeps its order.
                order: file.order,
            };
            store
                .put_table_file(table.db(), table.name(), &meta.path, encoded)
                .await?;
            stats.push(file_stats);
            added.push(meta);
        }
        removed.push(file);
    }
    if removed.is_empty() {
        return Ok(0);
    }
    store
        .replace_files(
            table,
            &removed,
            &added,
            &stats,
            &Replacement::Delete {
                predicate: predicate.to_string(),
            },
        )
        .await?;
    table.update(|s| {
        s.files
            .retain(|f| !removed.iter().any(|r| r.path == f.path));
        s.files.extend(added.iter().cloned());
    });
    Ok(deleted)
}
