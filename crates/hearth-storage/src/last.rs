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
//! readers filter by time. Nothing is persisted: after a restart the first query builds it.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
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

/// The latest rows of one table.
#[derive(Debug, Default)]
pub struct TableLast {
    series: Mutex<HashMap<SeriesKey, Series>>,
    ready: tokio::sync::OnceCell<()>,
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

/// The text of a tag column at `row` (tags are Utf8, or dictionaries in query results).
fn tag_at(column: &ArrayRef, row: usize) -> Option<Arc<str>> {
    if column.is_null(row) {
        return None;
    }
    match column.data_type() {
        DataType::Utf8 => Some(Arc::from(column.as_string::<i32>().value(row))),
        DataType::LargeUtf8 => Some(Arc::from(column.as_string::<i64>().value(row))),
        DataType::Utf8View => Some(Arc::from(column.as_string_view().value(row))),
        _ => match ScalarValue::try_from_array(column, row).ok()? {
            ScalarValue::Dictionary(_, v) => match *v {
                ScalarValue::Utf8(Some(s)) => Some(Arc::from(s.as_str())),
                _ => None,
            },
            _ => None,
        },
    }
}

impl TableLast {
    /// Folds the rows of `batch` (columns named as in `schema`) into the latest rows; the row
    /// `i` has rank `rank(i)`.
    pub fn observe(&self, batch: &RecordBatch, schema: &TableSchema, rank: impl Fn(usize) -> u64) {
        let Some(layout) = Layout::of(&batch.schema(), schema) else {
            return;
        };
        let Some(times) = micros(batch.column(layout.time)) else {
            return;
        };
        let mut series = self.series.lock();
        for (row, time) in times.into_iter().enumerate() {
            let Some(time) = time else { continue };
            let key: SeriesKey = layout
                .tags
                .iter()
                .filter_map(|(i, name)| tag_at(batch.column(*i), row).map(|v| (name.clone(), v)))
                .collect();
            let entry = series.entry(key).or_insert_with(|| Series {
                time,
                fields: HashMap::new(),
            });
            entry.time = entry.time.max(time);
            let rank = rank(row);
            for (i, name) in &layout.fields {
                let column = batch.column(*i);
                if column.is_null(row) {
                    continue;
                }
                let newer = entry
                    .fields
                    .get(name)
                    .is_none_or(|l| (time, rank) > (l.time, l.rank));
                if newer && let Ok(value) = ScalarValue::try_from_array(column, row) {
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
        self.ready.get_or_try_init(|| build).await.map(|_| ())
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.lock().len()
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
        let arrow = schema.arrow_schema();
        let series = self.series.lock();
        let kept: Vec<(&SeriesKey, &Series)> =
            series.iter().filter(|(_, s)| s.time >= since).collect();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(arrow.fields().len());
        for (c, field) in schema.columns().iter().zip(arrow.fields()) {
            let values = kept.iter().map(|(key, s)| match c.kind {
                ColumnKind::Time => ScalarValue::TimestampMicrosecond(
                    Some(s.time),
                    Some(hearth_catalog::schema::TIME_ZONE.into()),
                ),
                ColumnKind::Tag => ScalarValue::Utf8(
                    key.iter()
                        .find(|(n, _)| n.as_ref() == c.name)
                        .map(|(_, v)| v.to_string()),
                ),
                ColumnKind::Field(_) => match s.fields.get(c.name.as_str()) {
                    Some(l) if l.time == s.time => l.value.clone(),
                    _ => ScalarValue::try_from(field.data_type()).unwrap_or(ScalarValue::Null),
                },
            });
            columns.push(if kept.is_empty() {
                datafusion::arrow::array::new_empty_array(field.data_type())
            } else {
                ScalarValue::iter_to_array(values)?
            });
        }
        Ok(RecordBatch::try_new(arrow, columns)?)
    }
}

/// The latest rows of every table whose cache is switched on.
#[derive(Debug, Default)]
pub struct LastCache {
    tables: Mutex<HashMap<(String, String), Arc<TableLast>>>,
}

impl LastCache {
    /// The cache of a table, switched on (and empty, not ready) if it was not.
    pub fn table(&self, db: &str, table: &str) -> Arc<TableLast> {
        self.tables
            .lock()
            .entry((db.to_string(), table.to_string()))
            .or_default()
            .clone()
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
