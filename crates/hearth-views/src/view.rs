//! One continuous view: its definition, the buckets it has materialized (the files of its
//! Delta table), the buckets pending, and the refresh that turns pending buckets into files.
//!
//! In the object store, under `<db>/_views/<name>/`:
//! - the Delta table of partial states (`date=YYYY-MM-DD/view-<uuid>.zstd.parquet`, one row
//!   per bucket and group);
//! - `_hearth_view.json`: the definition (written last at creation: a directory without it is
//!   the leftover of a creation that did not finish);
//! - `_pending.json`: the buckets whose stored states may be out of date. It is saved before
//!   any change it records can leave the WAL (see [`crate::Views`]), so after a restart the
//!   saved set plus the buckets of the rows replayed from the WAL cover every change the files
//!   lack.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{SortColumn, cast, concat_batches, lexsort_to_indices, take};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::execution::session_state::SessionState;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::kernel::StructField;
use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
use hearth_catalog::catalog::{FileMeta, FileOrder};
use hearth_catalog::delta::DATE_COLUMN;
use hearth_catalog::store::Store;
use hearth_catalog::timefmt::{day_of, format_utc_millis};
use object_store::ObjectStoreExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::bucket::Bucketing;
use crate::error::ViewError;
use crate::exec::{states_plan, to_stored};
use crate::ranges::Ranges;
use crate::shape::{STORED_TIME, Shape, Source};

/// Name of the definition file in a view's directory.
pub const DEFINITION_FILE: &str = "_hearth_view.json";
/// Name of the pending-buckets file in a view's directory.
pub const PENDING_FILE: &str = "_pending.json";
/// Rows of a Parquet row group of a view's file.
const ROW_GROUP_ROWS: usize = 65_536;

/// A view's definition as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    /// Format of this file.
    pub format: u32,
    /// The view's name.
    pub name: String,
    /// The defining query.
    pub query: String,
    /// Names given to the query's columns (empty: the query's own).
    pub columns: Vec<String>,
    /// When the view was created (µs since the epoch).
    pub created: i64,
    /// The table or view it reads.
    pub source: String,
    /// The columns of its files, `name type` each: a definition planned differently by a later
    /// version (other partial states) is rebuilt rather than misread.
    pub stored: Vec<String>,
}

/// The stored columns of `shape` as the definition records them.
pub fn stored_signature(shape: &Shape) -> Vec<String> {
    shape
        .stored_schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect()
}

/// The Delta columns of a view's table: its stored columns and the `date` partition.
pub fn delta_columns(shape: &Shape) -> Result<Vec<StructField>, ViewError> {
    let mut out = Vec::with_capacity(shape.stored_schema.fields().len() + 1);
    for f in shape.stored_schema.fields() {
        let t = deltalake::kernel::DataType::try_from_arrow(f.data_type())
            .map_err(|e| ViewError::internal(format!("column {}: {e}", f.name())))?;
        out.push(StructField::nullable(f.name(), t));
    }
    out.push(StructField::nullable(
        DATE_COLUMN,
        deltalake::kernel::DataType::DATE,
    ));
    Ok(out)
}

/// Counters of a view, for `system.views` and `/metrics`.
#[derive(Debug, Default)]
pub struct ViewStats {
    /// Rows written into buckets already materialized (late data).
    pub late_rows: AtomicU64,
    /// Refreshes that materialized something.
    pub refreshes: AtomicU64,
    /// Duration of the last refresh, µs.
    pub last_refresh_micros: AtomicU64,
    /// When the last refresh ended, µs since the epoch (0: never).
    pub last_refresh_at: AtomicU64,
    /// Buckets materialized by the last refresh.
    pub last_refresh_buckets: AtomicU64,
    /// Total time spent refreshing, µs.
    pub refresh_micros_total: AtomicU64,
}

/// What can change of a view, under one lock.
#[derive(Debug, Default)]
struct State {
    /// The files of its Delta table.
    files: Vec<FileMeta>,
    /// Buckets whose stored states may be out of date (bucket-aligned).
    pending: Ranges,
    /// A refresh has taken buckets and not committed yet.
    in_flight: bool,
    /// Buckets invalidated while a refresh is in flight (they stay pending after it).
    dirty: Ranges,
    /// `pending` changed since it was last saved.
    unsaved: bool,
    /// End of the latest bucket ever materialized.
    watermark: Option<i64>,
    /// Buckets pending when the current backfill began, for its progress.
    backfill_total: Option<u128>,
}

/// A snapshot of what a query of the view reads.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The files.
    pub files: Vec<FileMeta>,
    /// The pending buckets.
    pub pending: Ranges,
}

/// One continuous view.
#[derive(Debug)]
pub struct View {
    /// Its database.
    pub db: String,
    /// Its name.
    pub name: String,
    /// Its definition.
    pub def: Definition,
    /// What it reads.
    pub source: Source,
    /// Its buckets.
    pub bucketing: Bucketing,
    /// Its columns.
    pub output_schema: SchemaRef,
    /// Which column is the bucket.
    pub time_output: usize,
    /// The columns of its files.
    pub stored_schema: SchemaRef,
    state: Mutex<State>,
    /// One refresh at a time.
    refresh: tokio::sync::Mutex<()>,
    /// One save of the pending buckets at a time, each from a newer snapshot.
    save: tokio::sync::Mutex<()>,
    /// Counters.
    pub stats: ViewStats,
}

/// The UTC day of each row of a sorted batch, as runs: (day, rows).
fn split_by_day(batch: &RecordBatch, time: usize) -> Vec<(String, RecordBatch)> {
    let Ok(times) = cast(batch.column(time), &DataType::Int64) else {
        return Vec::new();
    };
    let times = times.as_primitive::<Int64Type>();
    let mut out = Vec::new();
    let mut start = 0;
    while start < batch.num_rows() {
        let day = day_of(times.value(start));
        let mut end = start + 1;
        while end < batch.num_rows() && day_of(times.value(end)) == day {
            end += 1;
        }
        out.push((day, batch.slice(start, end - start)));
        start = end;
    }
    out
}

fn parquet_bytes(batch: &RecordBatch) -> Result<Bytes, ViewError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).map_err(ViewError::internal)?,
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("hearth {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).map_err(ViewError::internal)?;
    writer.write(batch).map_err(ViewError::internal)?;
    writer.close().map_err(ViewError::internal)?;
    Ok(Bytes::from(out))
}

/// Sorts stored rows by bucket, then the other group columns.
fn sort_rows(batch: &RecordBatch, groups: usize, bucket: usize) -> Result<RecordBatch, ViewError> {
    if batch.num_rows() <= 1 {
        return Ok(batch.clone());
    }
    let mut keys = vec![SortColumn {
        values: batch.column(bucket).clone(),
        options: None,
    }];
    for g in (0..groups).filter(|&g| g != bucket) {
        keys.push(SortColumn {
            values: batch.column(g).clone(),
            options: None,
        });
    }
    let indices = lexsort_to_indices(&keys, None).map_err(ViewError::internal)?;
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &indices, None))
        .collect::<Result<_, _>>()
        .map_err(ViewError::internal)?;
    RecordBatch::try_new(batch.schema(), columns).map_err(ViewError::internal)
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The saved form of the pending buckets.
#[derive(Debug, Serialize, Deserialize)]
struct SavedPending {
    pending: Ranges,
    watermark: Option<i64>,
}

impl View {
    /// A view of database `db` defined by `def`, planned as `shape`, with `files` and
    /// `pending` buckets.
    pub fn new(db: &str, def: Definition, shape: &Shape, files: Vec<FileMeta>) -> View {
        View {
            db: db.to_string(),
            name: def.name.clone(),
            source: shape.source.clone(),
            bucketing: shape.bucketing,
            output_schema: shape.output_schema.clone(),
            time_output: shape.time_output,
            stored_schema: shape.stored_schema.clone(),
            def,
            state: Mutex::new(State {
                files,
                ..Default::default()
            }),
            refresh: tokio::sync::Mutex::new(()),
            save: tokio::sync::Mutex::new(()),
            stats: ViewStats::default(),
        }
    }

    /// The name of its time (bucket) column.
    pub fn time_column(&self) -> &str {
        self.output_schema.field(self.time_output).name()
    }

    /// The files and pending buckets now.
    pub fn snapshot(&self) -> Snapshot {
        let st = self.state.lock();
        Snapshot {
            files: st.files.clone(),
            pending: st.pending.clone(),
        }
    }

    /// Marks `buckets` (aligned to this view's buckets) pending. `late_rows` rows of the
    /// change fell into buckets already materialized.
    pub fn invalidate(&self, buckets: &Ranges) {
        if buckets.is_empty() {
            return;
        }
        let mut st = self.state.lock();
        st.pending.extend(buckets);
        if st.in_flight {
            st.dirty.extend(buckets);
        }
        st.unsaved = true;
    }

    /// Counts rows written at `times` that fall into buckets already materialized.
    pub fn count_late(&self, times: impl Iterator<Item = i64>) {
        let Some(watermark) = self.state.lock().watermark else {
            return;
        };
        let late = times.filter(|&t| t < watermark).count() as u64;
        if late > 0 {
            self.stats.late_rows.fetch_add(late, Ordering::Relaxed);
        }
    }

    /// Sets the pending buckets and watermark loaded at start.
    fn set_loaded(&self, pending: Ranges, watermark: Option<i64>) {
        let mut st = self.state.lock();
        st.pending = pending;
        st.watermark = watermark;
        st.unsaved = true;
    }

    /// The end of the latest bucket ever materialized.
    pub fn watermark(&self) -> Option<i64> {
        self.state.lock().watermark
    }

    /// Progress of the backfill running now: (buckets pending when it began, buckets pending
    /// now), both within `extent`.
    pub fn backfill(&self, extent: (i64, i64)) -> Option<(u128, u128)> {
        let st = self.state.lock();
        let total = st.backfill_total?;
        let left = self.bucketing.count(&st.pending.clip(extent.0, extent.1));
        Some((total, left.min(total)))
    }

    /// Notes that a backfill of `pending ∩ extent` begins (for its progress).
    pub fn begin_backfill(&self, extent: (i64, i64)) {
        let mut st = self.state.lock();
        let total = self.bucketing.count(&st.pending.clip(extent.0, extent.1));
        st.backfill_total = (total > 0).then_some(total);
    }

    /// Notes that the backfill ended.
    pub fn end_backfill(&self) {
        self.state.lock().backfill_total = None;
    }

    /// Saves the pending buckets if they changed since the last save.
    pub async fn save_pending(&self, store: &Store) -> Result<(), ViewError> {
        let _one = self.save.lock().await;
        let saved = {
            let mut st = self.state.lock();
            if !st.unsaved {
                return Ok(());
            }
            st.unsaved = false;
            SavedPending {
                pending: st.pending.clone(),
                watermark: st.watermark,
            }
        };
        let bytes = serde_json::to_vec(&saved).map_err(ViewError::internal)?;
        let put = store
            .put_view_object(&self.db, &self.name, PENDING_FILE, Bytes::from(bytes))
            .await;
        if let Err(e) = put {
            self.state.lock().unsaved = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// Loads the pending buckets saved in the store: everything if none were saved (a view
    /// whose creation did not finish is recomputed in full).
    pub async fn load_pending(&self, store: &Store) -> Result<(), ViewError> {
        let saved = store
            .get_view_object(&self.db, &self.name, PENDING_FILE)
            .await?;
        let (pending, watermark) = match saved {
            Some(bytes) => {
                let saved: SavedPending = serde_json::from_slice(&bytes).map_err(|e| {
                    ViewError::internal(format!(
                        "view {}: unreadable {PENDING_FILE}: {e}",
                        self.name
                    ))
                })?;
                (saved.pending, saved.watermark)
            }
            None => (Ranges::all(), None),
        };
        self.set_loaded(pending, watermark);
        Ok(())
    }

    /// Recomputes the pending buckets within `wanted` from the source (`shape` planned now,
    /// run in `state`) and replaces them in the view's files in one commit. Returns how many
    /// buckets with rows were materialized.
    pub async fn refresh(
        &self,
        state: &SessionState,
        shape: &Shape,
        store: &Store,
        gate: &Mutex<()>,
        wanted: &Ranges,
    ) -> Result<usize, ViewError> {
        let _one = self.refresh.lock().await;
        let started = Instant::now();
        let (todo, files) = {
            // Under the write gate: every write noted before this point is applied (visible
            // to the source read below); every later one lands in `dirty`.
            let _gate = gate.lock();
            let mut st = self.state.lock();
            let mut todo = Ranges::new();
            for &(lo, hi) in wanted.intervals() {
                todo.extend(&st.pending.clip(lo, hi));
            }
            if todo.is_empty() {
                return Ok(0);
            }
            st.in_flight = true;
            st.dirty = Ranges::new();
            (todo, st.files.clone())
        };
        let result = self.replace(state, shape, store, &todo, &files).await;
        let buckets = {
            let mut st = self.state.lock();
            st.in_flight = false;
            // Buckets invalidated meanwhile stay pending (on failure all of `todo` does).
            let dirty = std::mem::take(&mut st.dirty);
            let (removed, added, buckets, last_bucket) = match result {
                Ok(done) => done,
                Err(e) => return Err(e),
            };
            st.files
                .retain(|f| !removed.iter().any(|r| r.path == f.path));
            st.files.extend(added);
            st.pending.subtract(&todo);
            st.pending.extend(&dirty);
            st.unsaved = true;
            if let Some(last) = last_bucket {
                let end = self.bucketing.end(last);
                st.watermark = Some(st.watermark.map_or(end, |w| w.max(end)));
            }
            buckets
        };
        let micros = started.elapsed().as_micros() as u64;
        self.stats.refreshes.fetch_add(1, Ordering::Relaxed);
        self.stats
            .last_refresh_micros
            .store(micros, Ordering::Relaxed);
        self.stats
            .refresh_micros_total
            .fetch_add(micros, Ordering::Relaxed);
        self.stats
            .last_refresh_at
            .store(now_micros() as u64, Ordering::Relaxed);
        self.stats
            .last_refresh_buckets
            .store(buckets as u64, Ordering::Relaxed);
        self.save_pending(store).await?;
        Ok(buckets)
    }

    /// Computes the states of `todo` and writes the files that replace `files`' rows in it:
    /// (files removed, files added, buckets written, the latest bucket written), committed.
    async fn replace(
        &self,
        state: &SessionState,
        shape: &Shape,
        store: &Store,
        todo: &Ranges,
        files: &[FileMeta],
    ) -> Result<(Vec<FileMeta>, Vec<FileMeta>, usize, Option<i64>), ViewError> {
        let plan = states_plan(state, shape, todo).await?;
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
        let stored = &self.stored_schema;
        let mut parts: Vec<RecordBatch> = Vec::with_capacity(batches.len() + 1);
        let mut starts = std::collections::BTreeSet::new();
        for b in &batches {
            if b.num_rows() > 0 {
                starts.extend(View::times_of(b, shape.bucket));
                parts.push(to_stored(b, stored)?);
            }
        }
        // Rows of the touched files outside the refreshed buckets stay.
        let touched: Vec<FileMeta> = files
            .iter()
            .filter(|f| todo.touches(f.min_time, f.max_time))
            .cloned()
            .collect();
        let mut outside = Ranges::all();
        outside.subtract(todo);
        for f in &touched {
            for batch in self.read_file(store, f).await? {
                let kept = crate::exec::keep_rows(&batch, shape.bucket, &outside)?;
                if kept.num_rows() > 0 {
                    parts.push(kept);
                }
            }
        }
        if parts.is_empty() && touched.is_empty() {
            return Ok((Vec::new(), Vec::new(), 0, None));
        }
        let all = concat_batches(stored, &parts).map_err(ViewError::internal)?;
        let sorted = sort_rows(&all, shape.group.len(), shape.bucket)?;
        let mut added = Vec::new();
        let mut stats = Vec::new();
        for (day, rows) in split_by_day(&sorted, shape.bucket) {
            let (meta, bytes, stat) = self.encode(&day, &rows, shape.bucket)?;
            store
                .put_view_object(&self.db, &self.name, &meta.path, bytes)
                .await?;
            added.push(meta);
            stats.push(stat);
        }
        let what: Vec<String> = todo
            .intervals()
            .iter()
            .take(8)
            .map(|&(lo, hi)| {
                let show = |t: i64| match t {
                    i64::MIN => "-infinity".to_string(),
                    i64::MAX => "infinity".to_string(),
                    t => format_utc_millis(t),
                };
                format!("[{}, {})", show(lo), show(hi))
            })
            .collect();
        let predicate = format!("{STORED_TIME} in {}", what.join(" "));
        store
            .commit_view_files(&self.db, &self.name, &touched, &added, &stats, predicate)
            .await?;
        Ok((touched, added, starts.len(), starts.last().copied()))
    }

    /// One file of rows (sorted, one day): its metadata, bytes and Delta statistics.
    fn encode(
        &self,
        day: &str,
        rows: &RecordBatch,
        time: usize,
    ) -> Result<(FileMeta, Bytes, String), ViewError> {
        let bytes = parquet_bytes(rows)?;
        let times = cast(rows.column(time), &DataType::Int64).map_err(ViewError::internal)?;
        let times = times.as_primitive::<Int64Type>();
        let (min_time, max_time) = (times.value(0), times.value(times.len() - 1));
        let path = format!(
            "{DATE_COLUMN}={day}/view-{}.zstd.parquet",
            uuid::Uuid::new_v4().simple()
        );
        let meta = FileMeta {
            path,
            date: day.to_string(),
            size: bytes.len() as u64,
            rows: rows.num_rows() as u64,
            min_time,
            max_time,
            rank: 0,
            order: FileOrder::Unknown,
        };
        Ok((meta, bytes, hearth_catalog::stats::stats_json(rows)))
    }

    /// The rows of one of the view's files.
    async fn read_file(&self, store: &Store, f: &FileMeta) -> Result<Vec<RecordBatch>, ViewError> {
        let key = store.view_file_key(&self.db, &self.name, &f.path);
        let bytes = store
            .object_store()
            .get(&key)
            .await
            .map_err(ViewError::internal)?
            .bytes()
            .await
            .map_err(ViewError::internal)?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(ViewError::internal)?
            .build()
            .map_err(ViewError::internal)?;
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.map_err(ViewError::internal)?;
            // Files are written with the stored schema; cast in case a reader widened a type.
            let columns: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .zip(self.stored_schema.fields())
                .map(|(c, f)| cast(c, f.data_type()))
                .collect::<Result<_, _>>()
                .map_err(ViewError::internal)?;
            out.push(
                RecordBatch::try_new(self.stored_schema.clone(), columns)
                    .map_err(ViewError::internal)?,
            );
        }
        Ok(out)
    }

    /// Merges the files of each day that has more than `max_files` into one file (a
    /// refresh per interval adds a small file each time). Returns how many files went.
    pub async fn compact(
        &self,
        store: &Store,
        bucket: usize,
        groups: usize,
        max_files: usize,
    ) -> Result<usize, ViewError> {
        let _one = self.refresh.lock().await;
        let files = self.state.lock().files.clone();
        let mut by_day: std::collections::BTreeMap<&str, Vec<&FileMeta>> = Default::default();
        for f in &files {
            by_day.entry(f.date.as_str()).or_default().push(f);
        }
        let mut removed_total = 0;
        for (day, day_files) in by_day {
            if day_files.len() <= max_files {
                continue;
            }
            let mut parts = Vec::new();
            for f in &day_files {
                parts.extend(self.read_file(store, f).await?);
            }
            let all = concat_batches(&self.stored_schema, &parts).map_err(ViewError::internal)?;
            let sorted = sort_rows(&all, groups, bucket)?;
            let removed: Vec<FileMeta> = day_files.iter().map(|f| (*f).clone()).collect();
            let mut added = Vec::new();
            let mut stats = Vec::new();
            if sorted.num_rows() > 0 {
                let (meta, bytes, stat) = self.encode(day, &sorted, bucket)?;
                store
                    .put_view_object(&self.db, &self.name, &meta.path, bytes)
                    .await?;
                added.push(meta);
                stats.push(stat);
            }
            store
                .commit_view_files(
                    &self.db,
                    &self.name,
                    &removed,
                    &added,
                    &stats,
                    format!("{DATE_COLUMN} = '{day}' (compaction)"),
                )
                .await?;
            let mut st = self.state.lock();
            st.files
                .retain(|f| !removed.iter().any(|r| r.path == f.path));
            st.files.extend(added);
            removed_total += removed.len();
        }
        if removed_total > 0 {
            info!(
                db = %self.db,
                view = %self.name,
                files = removed_total,
                "compacted view files"
            );
        }
        Ok(removed_total)
    }

    /// Removes every file of the view (its states no longer fit its definition) and marks
    /// everything pending.
    pub async fn reset(&self, store: &Store) -> Result<(), ViewError> {
        let _one = self.refresh.lock().await;
        let files = self.state.lock().files.clone();
        if !files.is_empty() {
            store
                .commit_view_files(&self.db, &self.name, &files, &[], &[], "rebuild".into())
                .await?;
        }
        {
            let mut st = self.state.lock();
            st.files.clear();
            st.pending = Ranges::all();
            st.watermark = None;
            st.unsaved = true;
        }
        warn!(db = %self.db, view = %self.name, "view rebuilt from its source");
        self.save_pending(store).await
    }

    /// Rows and bytes of the materialized states.
    pub fn materialized(&self) -> (u64, u64, usize) {
        let st = self.state.lock();
        (
            st.files.iter().map(|f| f.rows).sum(),
            st.files.iter().map(|f| f.size).sum(),
            st.files.len(),
        )
    }

    /// The time range the view's files cover.
    pub fn files_range(&self) -> Option<(i64, i64)> {
        let st = self.state.lock();
        let lo = st.files.iter().map(|f| f.min_time).min()?;
        let hi = st.files.iter().map(|f| f.max_time).max()?;
        Some((lo, hi))
    }

    /// The time rows of column `time` of `batch` as microseconds (NULLs skipped).
    pub fn times_of(batch: &RecordBatch, time: usize) -> Vec<i64> {
        match crate::exec::micros_of(batch.column(time)) {
            Ok(a) => a.as_primitive::<Int64Type>().iter().flatten().collect(),
            Err(_) => Vec::new(),
        }
    }
}
