//! Compaction: the small files of a day partition merged into one sorted, deduplicated file, in
//! one Delta commit; replaced files deleted once no reader can still need them (vacuum).
//!
//! Guarantees:
//! * Answers never change: the merged file holds, per identity, the fields the merge of its
//!   inputs gave (the same last-non-NULL-by-rank rule as the persister and the query), and it
//!   ranks as its newest input. Every buffered row ranks above every committed file, and a file
//!   committed after the compaction started ranks above all its inputs, so merging across the
//!   remaining files and the buffer gives what it gave before.
//! * Atomic: the inputs are removed and the output added in one commit; the catalog's file list
//!   changes in one step after it. A failed compaction changes nothing (an uploaded but
//!   uncommitted output is an orphan that vacuum deletes).
//! * Bounded: one partition at a time, inputs of at most the target size (compressed) plus one
//!   file and of at most the memory budget decoded (estimated from rows and columns), decoded
//!   on a blocking thread.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use datafusion::arrow::array::UInt64Array;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use hearth_catalog::catalog::{FileMeta, Table};
use hearth_catalog::delta::Replacement;
use hearth_catalog::schema::TIME_COLUMN;
use hearth_catalog::stats::stats_json;
use hearth_catalog::store::Store;

use crate::align::align;
use crate::dedup::dedup_sorted;
use crate::error::StorageError;
use crate::persist::{file_rank, sorted_order, time_range, write_parquet};

/// When and how much to compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Files at least this large are left alone; inputs of one compaction add up to about this.
    pub target_bytes: u64,
    /// A partition is compacted once it has this many files smaller than the target.
    pub min_files: usize,
    /// Replaced files are deleted this long after the compaction that replaced them.
    pub grace: Duration,
    /// Memory the decoded inputs of one compaction may take (estimated from their rows and the
    /// table's columns): Parquet of time series compresses tens of times, so the target size
    /// alone does not bound it. Files holding half of it or more are left alone.
    pub memory_budget: u64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            target_bytes: 128 << 20,
            min_files: 4,
            grace: Duration::from_secs(3600),
            memory_budget: 1 << 30,
        }
    }
}

/// Estimated memory per row of a table while it is compacted: its columns decoded, and the
/// merged and sorted copies of them.
pub fn compaction_bytes_per_row(schema: &hearth_catalog::schema::TableSchema) -> u64 {
    use hearth_catalog::schema::{ColumnKind, FieldType};
    let decoded: u64 = schema
        .columns()
        .iter()
        .map(|c| match c.kind.value_type() {
            FieldType::String if c.kind == ColumnKind::Tag => 24,
            FieldType::Timestamp => 8,
            FieldType::Float | FieldType::Integer => 9,
            FieldType::UInteger => 17,
            FieldType::Boolean => 1,
            FieldType::String => 32,
        })
        .sum();
    // Decoded batches, their concatenation, the sorted result, plus the rank and sort keys.
    3 * decoded + 24
}

/// What one compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Files replaced.
    pub files_in: usize,
    /// Their bytes.
    pub bytes_in: u64,
    /// Their rows (duplicates included).
    pub rows_in: u64,
    /// Bytes of the merged file.
    pub bytes_out: u64,
    /// Rows of the merged file.
    pub rows_out: u64,
}

/// The inputs of the next compaction of `files` (rows taking about `bytes_per_row` each while
/// compacted): in the partition with the most small files (under the target size and under
/// half the rows the memory budget allows), the first run of at least `min_files` small files
/// that are adjacent in rank order (no other file of the partition ranks between them, so the
/// merged file can take the rank of its newest input), oldest first, up to the target size and
/// the budget; `None` when no partition has such a run.
pub fn pick(
    files: &[FileMeta],
    policy: &CompactionPolicy,
    bytes_per_row: u64,
) -> Option<Vec<FileMeta>> {
    let max_rows = policy.memory_budget / bytes_per_row.max(1);
    let large = |f: &FileMeta| f.size >= policy.target_bytes || f.rows >= max_rows / 2;
    let mut by_date: std::collections::BTreeMap<&str, Vec<&FileMeta>> = Default::default();
    for f in files {
        by_date.entry(f.date.as_str()).or_default().push(f);
    }
    let min_files = policy.min_files.max(2);
    let mut best: Option<Vec<&FileMeta>> = None;
    for (_, mut partition) in by_date {
        partition.sort_by_key(|f| (f.rank, f.path.clone()));
        let runs = partition.split(|f| large(f));
        if let Some(run) = runs
            .filter(|r| r.len() >= min_files)
            .max_by_key(|r| r.len())
            && best.as_ref().is_none_or(|b| run.len() > b.len())
        {
            best = Some(run.to_vec());
        }
    }
    let mut picked = Vec::new();
    let (mut bytes, mut rows) = (0, 0);
    for f in best? {
        // Two small files always fit the budget: each holds under half of it.
        if picked.len() >= 2 && (bytes + f.size > policy.target_bytes || rows + f.rows > max_rows) {
            break;
        }
        bytes += f.size;
        rows += f.rows;
        picked.push(f.clone());
    }
    Some(picked)
}

/// Decodes `inputs` and merges them into one batch sorted by (tags, time) in the table schema.
fn merge_files(
    inputs: &[(FileMeta, Bytes)],
    schema: &datafusion::arrow::datatypes::SchemaRef,
    tags: &[usize],
    whole_rows: bool,
) -> Result<RecordBatch, StorageError> {
    let mut batches = Vec::new();
    let mut ranks: Vec<u64> = Vec::new();
    for (meta, bytes) in inputs {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())?.build()?;
        for batch in reader {
            let batch = align(&batch?, schema)?;
            ranks.extend(std::iter::repeat_n(file_rank(meta.rank), batch.num_rows()));
            batches.push(batch);
        }
    }
    let all = concat_batches(schema, &batches)?;
    drop(batches);
    let mut keys = tags.to_vec();
    keys.push(schema.index_of(TIME_COLUMN)?);
    dedup_sorted(&all, &keys, &UInt64Array::from(ranks), whole_rows)
}

/// Compacts the next partition of `table` due under `policy`, if any.
pub async fn compact_table(
    store: &Store,
    table: &Table,
    policy: &CompactionPolicy,
) -> Result<Option<Compacted>, StorageError> {
    let state = table.state();
    let Some(inputs) = pick(
        &state.files,
        policy,
        compaction_bytes_per_row(&state.schema),
    ) else {
        return Ok(None);
    };
    let mut loaded = Vec::with_capacity(inputs.len());
    for f in &inputs {
        let bytes = store
            .get_table_file(table.db(), table.name(), &f.path)
            .await?;
        loaded.push((f.clone(), bytes));
    }
    let schema = table.schema();
    let (arrow_schema, tags) = (schema.arrow_schema(), schema.tag_indices());
    let whole_rows = schema.is_sql_table();
    let rank = inputs.iter().map(|f| f.rank).max().unwrap_or(0);
    let date = inputs[0].date.clone();
    let (merged_bytes, merged_stats, rows, min_time, max_time, order) =
        tokio::task::spawn_blocking(move || -> Result<_, StorageError> {
            let merged = merge_files(&loaded, &arrow_schema, &tags, whole_rows)?;
            let bytes = write_parquet(&merged, &tags)?;
            let (min, max) = time_range(&merged)?.unwrap_or((0, 0));
            Ok((
                bytes,
                stats_json(&merged),
                merged.num_rows() as u64,
                min,
                max,
                sorted_order(&merged, &tags),
            ))
        })
        .await
        .map_err(|e| StorageError::Payload(format!("compaction failed: {e}")))??;
    let out = FileMeta {
        path: format!(
            "date={date}/part-{rank:020}-{}.zstd.parquet",
            uuid::Uuid::new_v4().simple()
        ),
        date,
        size: merged_bytes.len() as u64,
        rows,
        min_time,
        max_time,
        rank,
        order,
    };
    store
        .put_table_file(table.db(), table.name(), &out.path, merged_bytes)
        .await?;
    store
        .replace_files(
            table,
            &inputs,
            std::slice::from_ref(&out),
            &[merged_stats],
            &Replacement::Compaction {
                target_size: policy.target_bytes,
            },
        )
        .await?;
    table.update(|s| {
        s.files.retain(|f| !inputs.iter().any(|i| i.path == f.path));
        s.files.push(out.clone());
    });
    Ok(Some(Compacted {
        files_in: inputs.len(),
        bytes_in: inputs.iter().map(|f| f.size).sum(),
        rows_in: inputs.iter().map(|f| f.rows).sum(),
        bytes_out: out.size,
        rows_out: out.rows,
    }))
}

/// Drops the day partitions of `table` that lie wholly before `cutoff_us` (microseconds since
/// the epoch) in one Delta commit. Returns the number of files dropped. A SQL table has no
/// time of its own (its hidden `time` is not a measurement's): retention never drops its rows.
pub async fn expire_table(
    store: &Store,
    table: &Table,
    cutoff_us: i64,
) -> Result<usize, StorageError> {
    if table.schema().is_sql_table() {
        return Ok(0);
    }
    // The first day kept (the cutoff's own), for the table history.
    let keep_from = crate::persist::day_of(cutoff_us);
    // A file holds rows of one day: its day ends before the cutoff's day starts exactly when
    // its newest row does (compared as numbers; day strings do not sort past year 9999).
    let cutoff_day_start = cutoff_us - cutoff_us.rem_euclid(86_400_000_000);
    let expired: Vec<FileMeta> = table
        .state()
        .files
        .into_iter()
        .filter(|f| f.max_time < cutoff_day_start)
        .collect();
    if expired.is_empty() {
        return Ok(0);
    }
    store
        .replace_files(
            table,
            &expired,
            &[],
            &[],
            &Replacement::Retention { keep_from },
        )
        .await?;
    table.update(|s| {
        s.files
            .retain(|f| !expired.iter().any(|e| e.path == f.path))
    });
    Ok(expired.len())
}

/// Compacts every table until nothing is due; returns what was compacted.
pub async fn compact_all(
    store: &Store,
    tables: &[Arc<Table>],
    policy: &CompactionPolicy,
) -> Result<Vec<Compacted>, StorageError> {
    let mut done = Vec::new();
    for table in tables {
        while let Some(c) = compact_table(store, table, policy).await? {
            done.push(c);
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(date: &str, size: u64, rank: u64) -> FileMeta {
        FileMeta {
            path: format!("date={date}/part-{rank:020}-x.zstd.parquet"),
            date: date.into(),
            size,
            rows: 1,
            min_time: 0,
            max_time: 0,
            rank,
            order: Default::default(),
        }
    }

    #[test]
    fn picks_the_small_files_of_the_fullest_partition_oldest_first_up_to_the_target() {
        let policy = CompactionPolicy {
            target_bytes: 100,
            min_files: 3,
            grace: Duration::ZERO,
            memory_budget: 1 << 30,
        };
        let files = vec![
            file("2025-01-01", 10, 1),
            file("2025-01-01", 10, 2),
            file("2025-01-02", 40, 5),
            file("2025-01-02", 500, 1),
            file("2025-01-02", 40, 3),
            file("2025-01-02", 40, 4),
            file("2025-01-02", 40, 6),
        ];
        let picked = pick(&files, &policy, 100).unwrap();
        let ranks: Vec<u64> = picked.iter().map(|f| f.rank).collect();
        // The large file stays; 40 + 40 fits, a third would pass the target.
        assert_eq!(ranks, [3, 4]);
        assert!(picked.iter().all(|f| f.date == "2025-01-02"));
        // Too few small files anywhere: nothing to do.
        assert_eq!(pick(&files[..3], &policy, 100), None);
        // A large file ranked between small ones splits them: merging 3 and 5 into a file of
        // rank 5 would put 3's values above the large file's.
        let files = vec![
            file("2025-01-02", 40, 3),
            file("2025-01-02", 500, 4),
            file("2025-01-02", 40, 5),
            file("2025-01-02", 10, 6),
            file("2025-01-02", 10, 7),
        ];
        let ranks: Vec<u64> = pick(&files, &policy, 100)
            .unwrap()
            .iter()
            .map(|f| f.rank)
            .collect();
        assert_eq!(ranks, [5, 6, 7]);
        let policy = CompactionPolicy {
            min_files: 4,
            ..policy
        };
        assert_eq!(pick(&files, &policy, 100), None);
    }

    #[test]
    fn the_memory_budget_caps_the_rows_of_one_compaction() {
        // 1 000 rows of 100 bytes fit the budget; files of 500 rows or more are left alone.
        let policy = CompactionPolicy {
            target_bytes: 1 << 30,
            min_files: 2,
            grace: Duration::ZERO,
            memory_budget: 100_000,
        };
        let rows = |rank: u64, rows: u64| FileMeta {
            rows,
            ..file("2025-01-01", 10, rank)
        };
        let files = vec![rows(1, 300), rows(2, 300), rows(3, 300), rows(4, 300)];
        let picked: Vec<u64> = pick(&files, &policy, 100)
            .unwrap()
            .iter()
            .map(|f| f.rank)
            .collect();
        // A fourth 300 would pass 1 000 rows.
        assert_eq!(picked, [1, 2, 3]);
        // The merged 900-row file is left alone from then on.
        let files = vec![rows(3, 900), rows(4, 300), rows(5, 300)];
        let picked: Vec<u64> = pick(&files, &policy, 100)
            .unwrap()
            .iter()
            .map(|f| f.rank)
            .collect();
        assert_eq!(picked, [4, 5]);
        assert_eq!(pick(&[rows(5, 600), rows(6, 700)], &policy, 100), None);
    }
}
