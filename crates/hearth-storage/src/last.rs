//! The latest row of every series, maintained as writes arrive ("current state of every
//! device", TSBS `lastpoint`).
//!
//! A table's cache is switched on by the first query that can use it ([`LastCache::table`]).
//! From that moment every write applied to the buffer is observed; the query layer then feeds
//! the table's rows as queries see them once (rank 0, below every write), and marks the cache
//! ready. Observing is order-independent: per series the cache keeps the latest time, and per
//! field its latest time and the rank (WAL position) of the write that set it, so a write
//! observed twice (it was both in the initial rows and recorded) or out of order changes
//! nothing. The latest row of a series is its latest time with the fields whose latest write is
//! at that time (the others were not written then: NULL), which is exactly the row the merged
//! table shows at that time.
//!
//! Deletes drop the table's cache ([`LastCache::invalidate`]); the next query builds it again.
//! Retention needs nothing: a series whose latest row is past it has no rows left to show, and
//! readers filter by time. The rows are not persisted, only which tables had their cache on
//! ([`LastCache::remembering`]): after a restart the server builds those in the background
//! (one scan each), so the first query after it does not pay for the build.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMicrosecondType};
use datafusion::common::ScalarValue;
use hearth_catalog::schema::{ColumnKind, TIME_COLUMN, TableSchema};
use parking_lot::Mutex;

use crate::persist::row_rank;

/// A series: its non-NULL tags, sorted by name.
type SeriesKey = Vec<(Arc<str>, Arc<str>)>;

/// One field's latest value in a series.
#[derive(Debug, Clone)]
struct Latest {
    time: i64,
    rank: u64,
    value: ScalarValue,
}

/// One series' latest time and fields.
#[derive(Debug, Default)]
struct Series {
    time: i64,
    fields: HashMap<Arc<str>, Latest>,
}

/// Series by the hash of their tags (collisions share a bucket).
type SeriesMap = HashMap<u64, Vec<(SeriesKey, Series)>, foldhash::fast::FixedState>;

/// The latest rows of one table.
#[derive(Debug, Default)]
pub struct TableLast {
    series: Mutex<SeriesMap>,
    ready: tokio::sync::OnceCell<()>,
    /// The builds of every table's cache, counted (see [`LastCache::builds`]).
    builds: Arc<AtomicU64>,
}

/// The tag, field and time columns of a batch, by index.
struct Layout {
    tags: Vec<(usize, Arc<str>)>,
    fields: Vec<(usize, Arc<str>)>,
    time: usize,
}

impl Layout {
    fn of(batch_schema: &SchemaRef, schema: &TableSchema) -> Option<Layout> {
        let mut tags: Vec<(usize, Arc<str>)> = Vec::new();
        let mut fields: Vec<(usize, Arc<str>)> = Vec::new();
        let mut time = None;
        for (i, f) in batch_schema.fields().iter().enumerate() {
            let name = f.name().as_str();
            if name == TIME_COLUMN {
                time = Some(i);
                continue;
            }
            match schema.kind(name) {
                Some(ColumnKind::Tag) => tags.push((i, Arc::from(name))),
                Some(ColumnKind::Field(_)) => fields.push((i, Arc::from(name))),
                _ => {}
            }
        }
        tags.sort_by(|a, b| a.1.cmp(&b.1));
        Some(Layout {
            tags,
            fields,
            time: time?,
        })
    }
}

/// The microseconds of a `time` column (any unit in).
fn micros(column: &ArrayRef) -> Option<Vec<Option<i64>>> {
    let column = match column.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => column.clone(),
        DataType::Timestamp(_, zone) => datafusion::arrow::compute::cast(
            column,
            &DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
        )
        .ok()?,
        _ => return None,
    };
    Some(
        column
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .collect(),
    )
}

/// The tag columns of a batch as plain strings (query results may have dictionaries).
fn tag_strings(batch: &RecordBatch, layout: &Layout) -> Option<Vec<ArrayRef>> {
    layout
        .tags
        .iter()
        .map(|(i, _)| {
            let column = batch.column(*i);
            match column.data_type() {
                DataType::Utf8 => Some(column.clone()),
                _ => datafusion::arrow::compute::cast(column, &DataType::Utf8).ok(),
            }
        })
        .collect()
}

/// The tags of one row: (name, value) of the non-NULL ones, in name order.
fn row_tags<'a>(
    layout: &'a Layout,
    tags: &'a [ArrayRef],
    row: usize,
) -> impl Iterator<Item = (&'a Arc<str>, &'a str)> + 'a {
    layout
        .tags
        .iter()
        .zip(tags)
        .filter(move |(_, column)| column.is_valid(row))
        .map(move |((_, name), column)| (name, column.as_string::<i32>().value(row)))
}

fn hash_tags<'a>(tags: impl Iterator<Item = (&'a Arc<str>, &'a str)>) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
    for (name, value) in tags {
        h.write(name.as_bytes());
        h.write_u8(0xff);
        h.write(value.as_bytes());
        h.write_u8(0xfe);
    }
    h.finish()
}

fn same_tags<'a>(key: &SeriesKey, mut tags: impl Iterator<Item = (&'a Arc<str>, &'a str)>) -> bool {
    key.iter().all(|(n, v)| {
        tags.next()
            .is_some_and(|(tn, tv)| tn == n && tv == v.as_ref())
    }) && tags.next().is_none()
}

impl TableLast {
    /// Folds the rows of `batch` (columns named as in `schema`) into the latest rows; the row
    /// `i` has rank `rank(i)`. Rows are grouped by series within the batch first, so the shared
    /// map is touched, and values copied out, once per series and field rather than per row.
    pub fn observe(&self, batch: &RecordBatch, schema: &TableSchema, rank: impl Fn(usize) -> u64) {
        let Some(layout) = Layout::of(&batch.schema(), schema) else {
            return;
        };
        let Some(times) = micros(batch.column(layout.time)) else {
            return;
        };
        let Some(tags) = tag_strings(batch, &layout) else {
            return;
        };
        // The batch's series: (one of its rows, its rows). Rows are hashed column by column
        // (vectorised); equal hashes are confirmed value by value.
        let strings: Vec<&datafusion::arrow::array::StringArray> =
            tags.iter().map(|c| c.as_string::<i32>()).collect();
        let same_row = |a: usize, b: usize| {
            strings
                .iter()
                .all(|c| match (c.is_valid(a), c.is_valid(b)) {
                    (true, true) => c.value(a) == c.value(b),
                    (false, false) => true,
                    _ => false,
                })
        };
        let mut hashes = vec![0u64; batch.num_rows()];
        let state = foldhash::fast::FixedState::with_seed(0x5eed);
        if datafusion::common::hash_utils::create_hashes_with_hasher(&tags, &state, &mut hashes)
            .is_err()
        {
            return;
        }
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut index: HashMap<u64, Vec<usize>, foldhash::fast::FixedState> = HashMap::default();
        for (row, time) in times.iter().enumerate() {
            if time.is_none() {
                continue;
            }
            let candidates = index.entry(hashes[row]).or_default();
            match candidates
                .iter()
                .copied()
                .find(|g| same_row(groups[*g].0, row))
            {
                Some(g) => groups[g].1.push(row),
                None => {
                    candidates.push(groups.len());
                    groups.push((row, vec![row]));
                }
            }
        }
        let latest = |row: &usize| (times[*row].unwrap_or(i64::MIN), rank(*row));
        let mut series = self.series.lock();
        for (first, rows) in groups {
            // The map's key is the series' own (names and values), the same in every batch.
            let hash = hash_tags(row_tags(&layout, &tags, first));
            let bucket = series.entry(hash).or_default();
            let at = match bucket
                .iter()
                .position(|(key, _)| same_tags(key, row_tags(&layout, &tags, first)))
            {
                Some(at) => at,
                None => {
                    let key: SeriesKey = row_tags(&layout, &tags, first)
                        .map(|(n, v)| (n.clone(), Arc::from(v)))
                        .collect();
                    let fresh = Series {
                        time: i64::MIN,
                        fields: HashMap::new(),
                    };
                    bucket.push((key, fresh));
                    bucket.len() - 1
                }
            };
            let entry = &mut bucket[at].1;
            if let Some(time) = rows.iter().filter_map(|r| times[*r]).max() {
                entry.time = entry.time.max(time);
            }
            for (i, name) in &layout.fields {
                let column = batch.column(*i);
                let Some(best) = rows
                    .iter()
                    .filter(|r| column.is_valid(**r))
                    .max_by_key(|r| latest(r))
                else {
                    continue;
                };
                let (time, rank) = latest(best);
                let newer = entry
                    .fields
                    .get(name)
                    .is_none_or(|l| (time, rank) > (l.time, l.rank));
                if newer && let Ok(value) = ScalarValue::try_from_array(column, *best) {
                    entry
                        .fields
                        .insert(name.clone(), Latest { time, rank, value });
                }
            }
        }
    }

    /// Observes `batch`, a result of the table as queries see it, below every write.
    pub fn observe_table_rows(&self, batch: &RecordBatch, schema: &TableSchema) {
        self.observe(batch, schema, |_| 0);
    }

    /// Marks the cache complete, once, after `build` (which feeds the table's rows) succeeds;
    /// concurrent callers wait for the one build. An error leaves it unbuilt.
    pub async fn ready<F, E>(&self, build: F) -> Result<(), E>
    where
        F: std::future::Future<Output = Result<(), E>>,
    {
        self.ready
            .get_or_try_init(|| async move {
                build.await?;
                self.builds.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Whether the cache is built.
    pub fn is_ready(&self) -> bool {
        self.ready.initialized()
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.lock().values().map(Vec::len).sum()
    }

    /// True if no series is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The latest row of every series with a time at or after `since` (microseconds), in the
    /// columns of `schema` (as `arrow_schema` gives them).
    pub fn rows(
        &self,
        schema: &TableSchema,
        since: i64,
    ) -> datafusion::common::Result<RecordBatch> {
        self.build(schema, since, false)
    }

    /// Per series with a time at or after `since`: its tags, each field's latest value
    /// (at or after `since`), the series' latest time, and then, for each field `f` in schema
    /// order, the time of that value as column [`field_time_column`]`(f)` (NULL if none). What
    /// `last(f, time)` per group of series needs.
    pub fn latest_fields(
        &self,
        schema: &TableSchema,
        since: i64,
    ) -> datafusion::common::Result<RecordBatch> {
        self.build(schema, since, true)
    }

    fn build(
        &self,
        schema: &TableSchema,
        since: i64,
        latest_fields: bool,
    ) -> datafusion::common::Result<RecordBatch> {
        let arrow = if latest_fields {
            latest_fields_schema(schema)
        } else {
            schema.arrow_schema()
        };
        let series = self.series.lock();
        let kept: Vec<(&SeriesKey, &Series)> = series
            .values()
            .flatten()
            .map(|(k, s)| (k, s))
            .filter(|(_, s)| s.time >= since)
            .collect();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(arrow.fields().len());
        for (c, field) in schema.columns().iter().zip(arrow.fields()) {
            // Times and tags are built directly (no value by value conversion): they are most
            // of the cells of a latest-row answer.
            let column: ArrayRef = match c.kind {
                ColumnKind::Time => Arc::new(
                    TimestampMicrosecondArray::from_iter_values(kept.iter().map(|(_, s)| s.time))
                        .with_timezone(hearth_catalog::schema::TIME_ZONE),
                ),
                ColumnKind::Tag => {
                    let values: StringArray = kept
                        .iter()
                        .map(|(key, _)| {
                            key.iter()
                                .find(|(n, _)| n.as_ref() == c.name)
                                .map(|(_, v)| v.as_ref())
                        })
                        .collect();
                    Arc::new(values)
                }
                // The cache serves line protocol tables only (tags, no keys).
                ColumnKind::Key(_) => {
                    datafusion::arrow::array::new_null_array(field.data_type(), kept.len())
                }
                ColumnKind::Field(_) if kept.is_empty() => {
                    datafusion::arrow::array::new_empty_array(field.data_type())
                }
                ColumnKind::Field(_) => ScalarValue::iter_to_array(kept.iter().map(|(_, s)| {
                    match s.fields.get(c.name.as_str()) {
                        Some(l) if (latest_fields && l.time >= since) || l.time == s.time => {
                            l.value.clone()
                        }
                        _ => ScalarValue::try_from(field.data_type()).unwrap_or(ScalarValue::Null),
                    }
                }))?,
            };
            columns.push(column);
        }
        if latest_fields {
            for c in schema.columns() {
                if let ColumnKind::Field(_) = c.kind {
                    let times: Vec<Option<i64>> = kept
                        .iter()
                        .map(|(_, s)| {
                            s.fields
                                .get(c.name.as_str())
                                .map(|l| l.time)
                                .filter(|t| *t >= since)
                        })
                        .collect();
                    columns.push(Arc::new(
                        datafusion::arrow::array::TimestampMicrosecondArray::from(times)
                            .with_timezone(hearth_catalog::schema::TIME_ZONE),
                    ));
                }
            }
        }
        Ok(RecordBatch::try_new(arrow, columns)?)
    }
}

/// The name of the column holding the time of field `field`'s latest value.
pub fn field_time_column(field: &str) -> String {
    format!("__last_time.{field}")
}

/// The columns of [`TableLast::latest_fields`].
pub fn latest_fields_schema(schema: &TableSchema) -> SchemaRef {
    let base = schema.arrow_schema();
    let mut fields: Vec<datafusion::arrow::datatypes::FieldRef> = base.fields().to_vec();
    for c in schema.columns() {
        if let ColumnKind::Field(_) = c.kind {
            fields.push(Arc::new(datafusion::arrow::datatypes::Field::new(
                field_time_column(&c.name),
                hearth_catalog::schema::time_type(),
                true,
            )));
        }
    }
    Arc::new(datafusion::arrow::datatypes::Schema::new(fields))
}

/// The latest rows of every table whose cache is switched on.
#[derive(Debug, Default)]
pub struct LastCache {
    tables: Mutex<HashMap<(String, String), Arc<TableLast>>>,
    /// The file remembering which tables had their cache on, if any, and those tables.
    file: Option<PathBuf>,
    remembered: Mutex<BTreeSet<(String, String)>>,
    builds: Arc<AtomicU64>,
}

impl LastCache {
    /// A cache that remembers in `file` (JSON, `[[db, table], ...]`) which tables had their
    /// cache switched on, and starts with the tables the file names ([`LastCache::remembered`]).
    /// A file that cannot be read is logged and ignored: the caches are built by queries then.
    pub fn remembering(file: PathBuf) -> LastCache {
        let read = match std::fs::read(&file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
            read => read
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string())),
        };
        let remembered = read.unwrap_or_else(|error| {
            tracing::warn!(file = %file.display(), %error, "ignoring unreadable latest-row cache list");
            BTreeSet::new()
        });
        LastCache {
            file: Some(file),
            remembered: Mutex::new(remembered),
            ..LastCache::default()
        }
    }

    /// The tables whose cache was switched on, here or before a restart.
    pub fn remembered(&self) -> Vec<(String, String)> {
        self.remembered.lock().iter().cloned().collect()
    }

    /// Forgets a table (it no longer exists): it is not built after the next restart.
    pub fn forget(&self, db: &str, table: &str) {
        let mut remembered = self.remembered.lock();
        if remembered.remove(&(db.to_string(), table.to_string())) {
            self.save(&remembered);
        }
    }

    /// How many caches were built (from a table's rows) since the start.
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    /// The cache of a table, switched on (and empty, not ready) if it was not.
    pub fn table(&self, db: &str, table: &str) -> Arc<TableLast> {
        use std::collections::hash_map::Entry;
        let (last, switched_on) = match self
            .tables
            .lock()
            .entry((db.to_string(), table.to_string()))
        {
            Entry::Occupied(e) => (e.get().clone(), None),
            Entry::Vacant(e) => {
                let key = e.key().clone();
                let last = Arc::new(TableLast {
                    builds: self.builds.clone(),
                    ..TableLast::default()
                });
                (e.insert(last).clone(), Some(key))
            }
        };
        // Remembered when switched on (a table whose cache a delete dropped may be already).
        if let Some(key) = switched_on
            && self.file.is_some()
        {
            let mut remembered = self.remembered.lock();
            if remembered.insert(key) {
                self.save(&remembered);
            }
        }
        last
    }

    /// Writes `remembered` to the file (a new file renamed over the old). A failure is logged:
    /// the list only saves a build after a restart.
    fn save(&self, remembered: &BTreeSet<(String, String)>) {
        let Some(file) = &self.file else { return };
        let write = || {
            let fresh = file.with_extension("json.new");
            std::fs::write(&fresh, serde_json::to_vec(remembered)?)?;
            std::fs::rename(&fresh, file)
        };
        if let Err(e) = write() {
            tracing::warn!(file = %file.display(), error = %e, "cannot save the latest-row cache list");
        }
    }

    /// The cache of a table if it is switched on.
    pub fn active(&self, db: &str, table: &str) -> Option<Arc<TableLast>> {
        self.tables
            .lock()
            .get(&(db.to_string(), table.to_string()))
            .cloned()
    }

    /// Drops a table's cache (rows were deleted); the next reader builds it again.
    pub fn invalidate(&self, db: &str, table: &str) {
        self.tables
            .lock()
            .remove(&(db.to_string(), table.to_string()));
    }

    /// Observes a write applied with WAL position `seq` (the rows of the tables whose cache is
    /// on); `schema` gives a table's schema.
    pub fn observe_write(
        &self,
        seq: u64,
        db: &str,
        tables: &[(String, RecordBatch)],
        schema: impl Fn(&str) -> Option<TableSchema>,
    ) {
        if self.tables.lock().is_empty() {
            return;
        }
        for (table, batch) in tables {
            let Some(last) = self.active(db, table) else {
                continue;
            };
            if let Some(schema) = schema(table) {
                last.observe(batch, &schema, |row| row_rank(seq, row as u64));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use hearth_catalog::schema::{FieldType, TIME_ZONE};

    fn schema() -> TableSchema {
        let mut s = TableSchema::new();
        s.add("host", ColumnKind::Tag);
        s.add("v", ColumnKind::Field(FieldType::Float));
        s.add("region", ColumnKind::Tag);
        s.add("w", ColumnKind::Field(FieldType::Float));
        s
    }

    /// `(host, region, v, w, time)`.
    type Row<'a> = (&'a str, Option<&'a str>, Option<f64>, Option<f64>, i64);

    /// A write of rows; without `region` the column is absent.
    fn write(rows: &[Row<'_>], region: bool) -> RecordBatch {
        let mut fields = vec![Field::new("host", DataType::Utf8, true)];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0),
        ))];
        if region {
            fields.push(Field::new("region", DataType::Utf8, true));
            columns.push(Arc::new(rows.iter().map(|r| r.1).collect::<StringArray>()));
        }
        fields.push(Field::new("v", DataType::Float64, true));
        columns.push(Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>()));
        fields.push(Field::new("w", DataType::Float64, true));
        columns.push(Arc::new(rows.iter().map(|r| r.3).collect::<Float64Array>()));
        fields.push(Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some(TIME_ZONE.into())),
            false,
        ));
        columns.push(Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.4))
                .with_timezone(TIME_ZONE),
        ));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn sorted_rows(last: &TableLast) -> String {
        let batch = last.rows(&schema(), i64::MIN).unwrap();
        let sorted = datafusion::arrow::compute::lexsort_to_indices(
            &[
                datafusion::arrow::compute::SortColumn {
                    values: batch.column(0).clone(),
                    options: None,
                },
                datafusion::arrow::compute::SortColumn {
                    values: batch.column(2).clone(),
                    options: None,
                },
            ],
            None,
        )
        .unwrap();
        let batch = datafusion::arrow::compute::take_record_batch(&batch, &sorted).unwrap();
        pretty_format_batches(&[batch]).unwrap().to_string()
    }

    #[test]
    fn writes_fold_the_same_in_any_order_and_a_missing_tag_is_a_null_one() {
        let writes = [
            // (seq, batch)
            (
                1,
                write(&[("a", Some("eu"), Some(1.0), Some(10.0), 100)], true),
            ),
            // Later time for a/eu, only v: w is NULL in the latest row.
            (2, write(&[("a", Some("eu"), Some(2.0), None, 200)], true)),
            // Same identity as seq 2, w written later: merges into the latest row.
            (3, write(&[("a", Some("eu"), None, Some(20.0), 200)], true)),
            // Late point: changes nothing.
            (
                4,
                write(&[("a", Some("eu"), Some(-1.0), Some(-1.0), 50)], true),
            ),
            // A batch without the region column and one with an explicit NULL: one series.
            (5, write(&[("b", None, Some(5.0), None, 100)], false)),
            (6, write(&[("b", None, Some(6.0), None, 100)], true)),
        ];
        let mut first = None;
        // Every rotation and the reverse order.
        let mut orders: Vec<Vec<usize>> = (0..writes.len())
            .map(|k| (0..writes.len()).map(|i| (i + k) % writes.len()).collect())
            .collect();
        orders.push((0..writes.len()).rev().collect());
        for order in orders {
            let last = TableLast::default();
            for i in order {
                let (seq, batch) = &writes[i];
                last.observe(batch, &schema(), |row| row_rank(*seq, row as u64));
            }
            assert_eq!(last.len(), 2);
            let rows = sorted_rows(&last);
            assert!(rows.contains("| a    | 2.0 | eu     | 20.0 |"), "{rows}");
            assert!(rows.contains("| b    | 6.0 |        |      |"), "{rows}");
            match &first {
                None => first = Some(rows),
                Some(f) => assert_eq!(&rows, f),
            }
        }
    }

    #[test]
    fn the_tables_with_a_cache_are_remembered_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("latest-row-caches.json");
        let cache = LastCache::remembering(file.clone());
        assert!(cache.remembered().is_empty());
        cache.table("home", "energy");
        cache.table("farm", "barn");
        cache.table("home", "energy");
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let both = pairs(&[("farm", "barn"), ("home", "energy")]);
        assert_eq!(cache.remembered(), both);
        // Dropping a cache (a delete) keeps the table remembered; forgetting does not.
        cache.invalidate("home", "energy");
        let again = LastCache::remembering(file.clone());
        assert_eq!(again.remembered(), both);
        assert!(
            again.active("home", "energy").is_none(),
            "remembered, not switched on"
        );
        again.forget("farm", "barn");
        assert_eq!(
            LastCache::remembering(file.clone()).remembered(),
            pairs(&[("home", "energy")])
        );
        // A damaged list is ignored, and replaced at the next table switched on.
        std::fs::write(&file, "[[\"home\"").unwrap();
        let damaged = LastCache::remembering(file.clone());
        assert!(damaged.remembered().is_empty());
        damaged.table("home", "energy");
        assert_eq!(
            LastCache::remembering(file).remembered(),
            pairs(&[("home", "energy")])
        );
        // Without a file nothing is remembered.
        let plain = LastCache::default();
        plain.table("home", "energy");
        assert_eq!(plain.remembered(), vec![]);
    }
}
