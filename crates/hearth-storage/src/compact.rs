//! Compaction: the small files of a day partition merged into one sorted, deduplicated file, in
//! one Delta commit; replaced files deleted once no reader can still need them (vacuum).
//!
//! Guarantees:
//! * Answers never change: the merged file holds, per identity, the fields the merge of its
//!   inputs gave (the same last-non-NULL-by-rank rule as the persister and the query), and it
//!   ranks as its newest input. Every buffered row ranks above every committed file, and a file
//!   committed after the compaction started ranks above all its inputs, so merging across the
//!   remaining files and the buffer gives what it gave before.
//! * Files of a day share no time where it can be helped: when the large file ranked before
//!   the merged run holds rows at or after the run's earliest time (writes that arrived out of
//!   order around a flush), those rows join the merge and the rest of that file is rewritten
//!   at its own rank. Nothing ranks between it and the run, and the two outputs share no
//!   identity (an identity includes its time), so every merge across files gives what it gave
//!   before; queries then read the seam without merging rows. A partition no longer written
//!   (settled: see [`CompactionPolicy::settle_passes`]) gets this for its last file too, where
//!   fewer than `min_files` small files would otherwise stay as they are for good.
//! * Atomic: the inputs are removed and the output added in one commit; the catalog's file list
//!   changes in one step after it. A failed compaction changes nothing (an uploaded but
//!   uncommitted output is an orphan that vacuum deletes).
//! * Bounded: one partition at a time, inputs of at most the target size (compressed) plus one
//!   file and of at most the memory budget decoded (estimated from rows and columns), decoded
//!   on a blocking thread.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::kernels::boolean::not;
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use hearth_catalog::catalog::{FileMeta, FileOrder, Table};
use hearth_catalog::delta::Replacement;
use hearth_catalog::schema::TIME_COLUMN;
use hearth_catalog::store::Store;

use crate::align::align;
use crate::dedup::dedup_sorted;
use crate::error::StorageError;
use crate::persist::{EncodedFile, encode_file, file_rank, sorted_order, time_column};

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
    /// A partition whose files have not changed for this many compaction passes is settled
    /// (no writes reach it any more, such as yesterday's): it is compacted below `min_files`
    /// too, so its last few small files do not stay apart, or overlapping the file before
    /// them, for good.
    pub settle_passes: u32,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            target_bytes: 128 << 20,
            min_files: 4,
            grace: Duration::from_secs(3600),
            memory_budget: 1 << 30,
            settle_passes: 10,
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
    /// Bytes of the files written.
    pub bytes_out: u64,
    /// Rows of the files written.
    pub rows_out: u64,
    /// Files written: the merged one, and the rest of a trimmed file (see [`Picked::trim`]).
    pub files_out: usize,
}

/// What the next compaction takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    /// Small files adjacent in rank, merged into one file ranked as the newest of them.
    pub inputs: Vec<FileMeta>,
    /// The large file ranked just before `inputs`, when its newest rows reach into their time
    /// range (writes that arrived out of order around a flush): its rows from the earliest time
    /// of `inputs` on join the merge, and the rest is rewritten as a file of its own rank. The
    /// two files then share no time, so queries need not merge rows across them.
    pub trim: Option<FileMeta>,
}

/// A trimmed file's rows that join the merge may be at most this share of it (estimated from
/// its time range): rewriting the rest costs about as much as the merge, which pays off for a
/// seam between files and not for late data across a day.
const TRIM_SHARE: f64 = 0.25;

/// The inputs of the next compaction of `files` (rows taking about `bytes_per_row` each while
/// compacted): in the partition with the most small files (under the target size and under
/// half the rows the memory budget allows), the first run of at least `min_files` small files
/// that are adjacent in rank order (no other file of the partition ranks between them, so the
/// merged file can take the rank of its newest input), oldest first, up to the target size and
/// the budget, and the large file before the run when the run reaches into its time range (see
/// [`Picked::trim`]); `None` when no partition has such a run.
///
/// In a partition `settled` names (see [`CompactionPolicy::settle_passes`]) a run qualifies with
/// fewer than `min_files`: two or more small files, or a lone one that the file before it
/// reaches into and that can be trimmed apart from it.
pub fn pick(
    files: &[FileMeta],
    policy: &CompactionPolicy,
    bytes_per_row: u64,
    settled: &(dyn Fn(&str) -> bool + Sync),
) -> Option<Picked> {
    let max_rows = policy.memory_budget / bytes_per_row.max(1);
    let large = |f: &FileMeta| f.size >= policy.target_bytes || f.rows >= max_rows / 2;
    let mut by_date: std::collections::BTreeMap<&str, Vec<&FileMeta>> = Default::default();
    for f in files {
        by_date.entry(f.date.as_str()).or_default().push(f);
    }
    let min_files = policy.min_files.max(2);
    // Whether the rows of `b` from `from` on are few enough to trim (see [`TRIM_SHARE`]).
    let trims = |b: &FileMeta, from: i64| {
        let share = (b.max_time.saturating_sub(from) as f64 + 1.0)
            / (b.max_time.saturating_sub(b.min_time) as f64 + 1.0);
        b.max_time >= from && from > b.min_time && share <= TRIM_SHARE
    };
    // Trimming the file before decodes it and copies the rows it keeps once: about two thirds
    // of what its rows would take merged.
    let reserve = |b: &FileMeta| b.rows * 2 / 3;
    // The longest run of each partition, with the file ranked before it.
    let mut best: Option<(Option<&FileMeta>, Vec<&FileMeta>)> = None;
    for (date, mut partition) in by_date {
        let settled = settled(date);
        partition.sort_by_key(|f| (f.rank, f.path.clone()));
        let mut start = 0;
        while start < partition.len() {
            let end = partition[start..]
                .iter()
                .position(|f| large(f))
                .map_or(partition.len(), |i| start + i);
            let run = &partition[start..end];
            let before = start.checked_sub(1).map(|i| partition[i]);
            let qualifies = run.len() >= min_files
                || settled && run.len() >= 2
                || settled
                    && run.len() == 1
                    && before.is_some_and(|b| {
                        reserve(b) + run[0].rows <= max_rows && trims(b, run[0].min_time)
                    });
            if qualifies && best.as_ref().is_none_or(|(_, b)| run.len() > b.len()) {
                best = Some((before, run.to_vec()));
            }
            start = end + 1;
        }
    }
    let (before, run) = best?;
    // With a trim, one small file may be merged alone (the next compaction merges the result
    // with the rest of the run).
    let take = |reserve: u64, least: usize| {
        let mut picked: Vec<FileMeta> = Vec::new();
        let (mut bytes, mut rows) = (0, reserve);
        for f in &run {
            // Two small files always fit the budget: each holds under half of it.
            if picked.len() >= least
                && (bytes + f.size > policy.target_bytes || rows + f.rows > max_rows)
            {
                break;
            }
            bytes += f.size;
            rows += f.rows;
            picked.push((*f).clone());
        }
        picked
    };
    if let Some(b) = before
        && reserve(b) + run[0].rows <= max_rows
    {
        let picked = take(reserve(b), 1);
        let from = picked.iter().map(|f| f.min_time).min().unwrap_or(i64::MAX);
        if trims(b, from) {
            return Some(Picked {
                inputs: picked,
                trim: Some(b.clone()),
            });
        }
    }
    let inputs = take(0, 2);
    // A file merged alone would be rewritten as it is, again and again (a lone file of a
    // settled partition qualifies only where it is trimmed, above).
    (inputs.len() >= 2).then_some(Picked { inputs, trim: None })
}

/// The rows of a file in the table schema, batch by batch.
fn decode(
    bytes: &Bytes,
    schema: &datafusion::arrow::datatypes::SchemaRef,
) -> Result<impl Iterator<Item = Result<RecordBatch, StorageError>>, StorageError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())?.build()?;
    Ok(reader.map(|batch| align(&batch?, schema)))
}

/// Merges batches of rows ranked `rank` into one batch sorted by (tags, time) in `schema`,
/// one row per identity.
fn merge(
    ranked: Vec<(u64, RecordBatch)>,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    tags: &[usize],
    whole_rows: bool,
) -> Result<RecordBatch, StorageError> {
    let mut ranks: Vec<u64> = Vec::new();
    let mut batches = Vec::with_capacity(ranked.len());
    for (rank, batch) in ranked {
        ranks.extend(std::iter::repeat_n(file_rank(rank), batch.num_rows()));
        batches.push(batch);
    }
    let mut keys = tags.to_vec();
    keys.push(schema.index_of(TIME_COLUMN)?);
    dedup_sorted(schema, &batches, &keys, &ranks, whole_rows)
}

/// Splits `batch` into its rows before `from` (microseconds) and the rest, each in order.
fn split_at_time(
    batch: &RecordBatch,
    from: i64,
) -> Result<(RecordBatch, RecordBatch), StorageError> {
    let time = time_column(batch)?;
    let before: BooleanArray = time
        .iter()
        .map(|t| Some(t.is_some_and(|t| t < from)))
        .collect();
    let after = not(&before)?;
    Ok((
        filter_record_batch(batch, &before)?,
        filter_record_batch(batch, &after)?,
    ))
}

/// A file written by a compaction, with its Delta statistics.
struct Written {
    bytes: Bytes,
    stats: String,
    rows: u64,
    min_time: i64,
    max_time: i64,
    order: FileOrder,
}

impl Written {
    fn of(batch: &RecordBatch, tags: &[usize], order: FileOrder) -> Result<Written, StorageError> {
        let EncodedFile {
            bytes,
            stats,
            time: (min_time, max_time),
        } = encode_file(batch, tags)?;
        Ok(Written {
            bytes,
            stats,
            rows: batch.num_rows() as u64,
            min_time,
            max_time,
            order,
        })
    }

    fn meta(&self, date: &str, rank: u64) -> FileMeta {
        FileMeta {
            path: format!(
                "date={date}/part-{rank:020}-{}.zstd.parquet",
                uuid::Uuid::new_v4().simple()
            ),
            date: date.to_string(),
            size: self.bytes.len() as u64,
            rows: self.rows,
            min_time: self.min_time,
            max_time: self.max_time,
            rank,
            order: self.order,
        }
    }
}

/// Compacts the next partition of `table` due under `policy`, if any.
pub async fn compact_table(
    store: &Store,
    table: &Table,
    policy: &CompactionPolicy,
    settled: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Option<Compacted>, StorageError> {
    let state = table.state();
    let Some(Picked { inputs, trim }) = pick(
        &state.files,
        policy,
        compaction_bytes_per_row(&state.schema),
        settled,
    ) else {
        return Ok(None);
    };
    let mut loaded = Vec::with_capacity(inputs.len());
    for f in &inputs {
        let bytes = store
            .get_table_file(table.db(), table.name(), &f.path)
            .await?;
        loaded.push((f.rank, bytes));
    }
    let trimmed = match &trim {
        Some(f) => Some((
            f.clone(),
            store
                .get_table_file(table.db(), table.name(), &f.path)
                .await?,
        )),
        None => None,
    };
    let schema = table.schema();
    let (arrow_schema, tags) = (schema.arrow_schema(), schema.tag_indices());
    let whole_rows = schema.is_sql_table();
    let rank = inputs.iter().map(|f| f.rank).max().unwrap_or(0);
    let from = inputs.iter().map(|f| f.min_time).min().unwrap_or(0);
    let date = inputs[0].date.clone();
    let (merged, kept) = tokio::task::spawn_blocking(move || -> Result<_, StorageError> {
        let mut ranked = Vec::new();
        for (rank, bytes) in &loaded {
            for batch in decode(bytes, &arrow_schema)? {
                ranked.push((*rank, batch?));
            }
        }
        // The trimmed file keeps its rows before the run's first time, in their order; the
        // rest joins the merge at the file's rank.
        let mut kept = None;
        if let Some((meta, bytes)) = &trimmed {
            let mut before = Vec::new();
            for batch in decode(bytes, &arrow_schema)? {
                let (early, late) = split_at_time(&batch?, from)?;
                before.push(early);
                ranked.push((meta.rank, late));
            }
            let before = concat_batches(&arrow_schema, &before)?;
            if before.num_rows() > 0 {
                kept = Some(Written::of(&before, &tags, meta.order)?);
            }
        }
        let merged = merge(ranked, &arrow_schema, &tags, whole_rows)?;
        let merged = Written::of(&merged, &tags, sorted_order(&merged, &tags))?;
        Ok((merged, kept))
    })
    .await
    .map_err(|e| StorageError::Payload(format!("compaction failed: {e}")))??;
    let mut removed = inputs;
    let mut added = vec![merged.meta(&date, rank)];
    let mut stats = vec![merged.stats.clone()];
    let mut writes = vec![merged.bytes.clone()];
    if let Some(t) = trim {
        if let Some(kept) = &kept {
            added.push(kept.meta(&date, t.rank));
            stats.push(kept.stats.clone());
            writes.push(kept.bytes.clone());
        }
        removed.push(t);
    }
    for (meta, bytes) in added.iter().zip(writes) {
        store
            .put_table_file(table.db(), table.name(), &meta.path, bytes)
            .await?;
    }
    store
        .replace_files(
            table,
            &removed,
            &added,
            &stats,
            &Replacement::Compaction {
                target_size: policy.target_bytes,
            },
        )
        .await?;
    table.update(|s| {
        s.files
            .retain(|f| !removed.iter().any(|i| i.path == f.path));
        s.files.extend(added.iter().cloned());
    });
    Ok(Some(Compacted {
        files_in: removed.len(),
        bytes_in: removed.iter().map(|f| f.size).sum(),
        rows_in: removed.iter().map(|f| f.rows).sum(),
        bytes_out: added.iter().map(|f| f.size).sum(),
        rows_out: added.iter().map(|f| f.rows).sum(),
        files_out: added.len(),
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

/// Compacts every table until nothing is due; returns what was compacted. `settled(table,
/// date)` tells the partitions settled (see [`CompactionPolicy::settle_passes`]).
pub async fn compact_all(
    store: &Store,
    tables: &[Arc<Table>],
    policy: &CompactionPolicy,
    settled: &(dyn Fn(&Table, &str) -> bool + Sync),
) -> Result<Vec<Compacted>, StorageError> {
    let mut done = Vec::new();
    for table in tables {
        let settled = |date: &str| settled(table, date);
        while let Some(c) = compact_table(store, table, policy, &settled).await? {
            done.push(c);
        }
    }
    Ok(done)
}

/// The partitions whose files have not changed for some compaction passes (see
/// [`CompactionPolicy::settle_passes`]), kept across passes.
#[derive(Debug, Default, Clone)]
pub struct Settling {
    /// Per (database, table, day): a digest of the partition's files, and the passes since it
    /// last changed.
    seen: std::collections::HashMap<(String, String, String), (u64, u32)>,
}

impl Settling {
    /// Records one pass over `tables`: a partition whose files are the ones of the last pass
    /// counts one more unchanged pass; partitions that are gone are forgotten.
    pub fn observe(&mut self, tables: &[Arc<Table>]) {
        use std::hash::{Hash, Hasher};
        let mut digests: std::collections::HashMap<(String, String, String), Vec<&str>> =
            Default::default();
        let states: Vec<_> = tables.iter().map(|t| (t, t.state())).collect();
        for (table, state) in &states {
            for f in &state.files {
                let key = (
                    table.db().to_string(),
                    table.name().to_string(),
                    f.date.clone(),
                );
                digests.entry(key).or_default().push(&f.path);
            }
        }
        let mut seen = std::collections::HashMap::with_capacity(digests.len());
        for (key, mut paths) in digests {
            paths.sort_unstable();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            paths.hash(&mut hasher);
            let digest = hasher.finish();
            let passes = match self.seen.get(&key) {
                Some(&(last, passes)) if last == digest => passes.saturating_add(1),
                _ => 0,
            };
            seen.insert(key, (digest, passes));
        }
        self.seen = seen;
    }

    /// Whether `table`'s partition `date` has been unchanged for at least `passes` passes.
    pub fn settled(&self, table: &Table, date: &str, passes: u32) -> bool {
        let key = (
            table.db().to_string(),
            table.name().to_string(),
            date.to_string(),
        );
        self.seen.get(&key).is_some_and(|&(_, n)| n >= passes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsettled(_: &str) -> bool {
        false
    }

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
            settle_passes: 10,
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
        let picked = pick(&files, &policy, 100, &unsettled).unwrap().inputs;
        let ranks: Vec<u64> = picked.iter().map(|f| f.rank).collect();
        // The large file stays; 40 + 40 fits, a third would pass the target.
        assert_eq!(ranks, [3, 4]);
        assert!(picked.iter().all(|f| f.date == "2025-01-02"));
        // Too few small files anywhere: nothing to do.
        assert_eq!(pick(&files[..3], &policy, 100, &unsettled), None);
        // A large file ranked between small ones splits them: merging 3 and 5 into a file of
        // rank 5 would put 3's values above the large file's.
        let files = vec![
            file("2025-01-02", 40, 3),
            file("2025-01-02", 500, 4),
            file("2025-01-02", 40, 5),
            file("2025-01-02", 10, 6),
            file("2025-01-02", 10, 7),
        ];
        let ranks: Vec<u64> = pick(&files, &policy, 100, &unsettled)
            .unwrap()
            .inputs
            .iter()
            .map(|f| f.rank)
            .collect();
        assert_eq!(ranks, [5, 6, 7]);
        let policy = CompactionPolicy {
            min_files: 4,
            ..policy
        };
        assert_eq!(pick(&files, &policy, 100, &unsettled), None);
    }

    #[test]
    fn the_memory_budget_caps_the_rows_of_one_compaction() {
        // 1 000 rows of 100 bytes fit the budget; files of 500 rows or more are left alone.
        let policy = CompactionPolicy {
            target_bytes: 1 << 30,
            min_files: 2,
            grace: Duration::ZERO,
            memory_budget: 100_000,
            settle_passes: 10,
        };
        let rows = |rank: u64, rows: u64| FileMeta {
            rows,
            ..file("2025-01-01", 10, rank)
        };
        let files = vec![rows(1, 300), rows(2, 300), rows(3, 300), rows(4, 300)];
        let picked: Vec<u64> = pick(&files, &policy, 100, &unsettled)
            .unwrap()
            .inputs
            .iter()
            .map(|f| f.rank)
            .collect();
        // A fourth 300 would pass 1 000 rows.
        assert_eq!(picked, [1, 2, 3]);
        // The merged 900-row file is left alone from then on.
        let files = vec![rows(3, 900), rows(4, 300), rows(5, 300)];
        let picked: Vec<u64> = pick(&files, &policy, 100, &unsettled)
            .unwrap()
            .inputs
            .iter()
            .map(|f| f.rank)
            .collect();
        assert_eq!(picked, [4, 5]);
        assert_eq!(
            pick(&[rows(5, 600), rows(6, 700)], &policy, 100, &unsettled),
            None
        );
    }

    #[test]
    fn a_large_file_whose_newest_rows_reach_into_the_run_is_trimmed() {
        // 1 000 rows fit the budget; files of 500 rows or more are large.
        let policy = CompactionPolicy {
            target_bytes: 1 << 30,
            min_files: 2,
            grace: Duration::ZERO,
            memory_budget: 100_000,
            settle_passes: 10,
        };
        let span = |rank: u64, rows: u64, min_time: i64, max_time: i64| FileMeta {
            rows,
            min_time,
            max_time,
            ..file("2025-01-01", 10, rank)
        };
        let large = span(1, 600, 0, 999);
        let run = [span(2, 250, 950, 1_100), span(3, 250, 1_090, 1_200)];
        let files = [&[large.clone()][..], &run].concat();
        let picked = pick(&files, &policy, 100, &unsettled).unwrap();
        assert_eq!(picked.inputs, run);
        assert_eq!(picked.trim, Some(large.clone()));
        // The trimmed file's share counts against the budget: a third small file would pass it.
        let more = [&files[..], &[span(4, 250, 1_200, 1_300)]].concat();
        let picked = pick(&more, &policy, 100, &unsettled).unwrap();
        assert_eq!((picked.inputs.len(), picked.trim.is_some()), (2, true));
        // A large file near the budget is trimmed with one small file.
        let full = [span(1, 900, 0, 999), run[0].clone(), run[1].clone()];
        let picked = pick(&full, &policy, 100, &unsettled).unwrap();
        assert_eq!(picked.inputs, run[..1]);
        assert_eq!(picked.trim, Some(full[0].clone()));
        // Too large to trim within the budget: the run is merged as before.
        let huge = [span(1, 1_200, 0, 999), run[0].clone(), run[1].clone()];
        assert_eq!(
            pick(&huge, &policy, 100, &unsettled).unwrap(),
            Picked {
                inputs: run.to_vec(),
                trim: None
            }
        );
        // No overlap: nothing to trim, and the budget is the run's.
        let apart = [span(1, 600, 0, 900), run[0].clone(), run[1].clone()];
        let picked = pick(&apart, &policy, 100, &unsettled).unwrap();
        assert_eq!(picked.trim, None);
        let later = [&apart[..], &[span(4, 250, 1_200, 1_300)]].concat();
        assert_eq!(
            pick(&later, &policy, 100, &unsettled).unwrap().inputs.len(),
            3
        );
        // Late rows across most of the large file: rewriting it is not worth a seam.
        let late = [large.clone(), span(2, 250, 100, 1_100), run[1].clone()];
        assert_eq!(pick(&late, &policy, 100, &unsettled).unwrap().trim, None);
        // A large file ranked after the run is not the run's to trim.
        let after = [run[0].clone(), run[1].clone(), span(4, 600, 1_000, 1_500)];
        assert_eq!(pick(&after, &policy, 100, &unsettled).unwrap().trim, None);
    }

    #[test]
    fn a_settled_partition_is_compacted_below_min_files() {
        // 1 000 rows fit the budget; files of 500 rows or more are large.
        let policy = CompactionPolicy {
            target_bytes: 1 << 30,
            min_files: 4,
            grace: Duration::ZERO,
            memory_budget: 100_000,
            settle_passes: 10,
        };
        let span = |date: &str, rank: u64, rows: u64, min_time: i64, max_time: i64| FileMeta {
            rows,
            min_time,
            max_time,
            ..file(date, 10, rank)
        };
        let settled = |date: &str| date == "2025-01-01";
        // A day's last small file reaches into the large file before it (a flush's late rows).
        let large = span("2025-01-01", 1, 600, 0, 999);
        let last = span("2025-01-01", 2, 300, 990, 1_200);
        let day = [large.clone(), last.clone()];
        assert_eq!(pick(&day, &policy, 100, &unsettled), None);
        assert_eq!(
            pick(&day, &policy, 100, &settled),
            Some(Picked {
                inputs: vec![last.clone()],
                trim: Some(large.clone()),
            })
        );
        // Once trimmed apart, nothing is left to do: a lone file is never merged by itself.
        let apart = [
            span("2025-01-01", 1, 590, 0, 989),
            span("2025-01-01", 2, 310, 990, 1_200),
        ];
        assert_eq!(pick(&apart, &policy, 100, &settled), None);
        // Nor where trimming would rewrite most of the file before, or pass the budget.
        let late = [large.clone(), span("2025-01-01", 2, 300, 100, 1_200)];
        assert_eq!(pick(&late, &policy, 100, &settled), None);
        let big = [span("2025-01-01", 1, 1_100, 0, 999), last.clone()];
        assert_eq!(pick(&big, &policy, 100, &settled), None);
        // Two or three small files of a settled day are merged; of a day still written, not.
        let small = [
            large.clone(),
            span("2025-01-01", 2, 100, 1_000, 1_100),
            span("2025-01-01", 3, 100, 1_100, 1_200),
        ];
        let picked = pick(&small, &policy, 100, &settled).unwrap();
        assert_eq!((picked.inputs.len(), picked.trim), (2, None));
        let today: Vec<FileMeta> = small
            .iter()
            .map(|f| FileMeta {
                date: "2025-01-02".into(),
                ..f.clone()
            })
            .collect();
        assert_eq!(pick(&today, &policy, 100, &settled), None);
        // A settled day's lone run does not displace a longer run elsewhere.
        let mut both = day.to_vec();
        both.extend(today.iter().cloned());
        both.push(span("2025-01-02", 4, 100, 1_200, 1_300));
        both.push(span("2025-01-02", 5, 100, 1_300, 1_400));
        let picked = pick(&both, &policy, 100, &settled).unwrap();
        assert!(picked.inputs.iter().all(|f| f.date == "2025-01-02"));
    }
}
