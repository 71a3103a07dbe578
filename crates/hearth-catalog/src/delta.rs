//! Delta Lake access: one Delta table per Hearth table, under `<root>/<db>/<table>/`.
//!
//! Hearth writes Parquet files itself and commits them here with delta-rs's transaction API. A
//! commit carries the new files, the table schema when it grew, and a `txn` action
//! (`appId = hearth-wal`, `version` = WAL sequence number) that tells a restarted server which
//! writes the table already holds. Layout and types are plain Delta (reader 1 / writer 2):
//! `time` TIMESTAMP (UTC, µs), `date` DATE partition column (`date=YYYY-MM-DD/` directories, not
//! stored inside the files), tags STRING with column metadata `hearth.kind = tag`, fields
//! DOUBLE / LONG / DECIMAL(20,0) / STRING / BOOLEAN. Spark, DuckDB and the `deltalake` Python
//! package read these tables as they are.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::ObjectStore;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{
    Action, Add, DataType, MetadataExt, MetadataValue, Remove, StructField, StructType, Transaction,
};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use url::Url;

use crate::catalog::{FileMeta, FileOrder, TableState};
use crate::error::CatalogError;
use crate::schema::{ColumnKind, FieldType, TIME_COLUMN, TableSchema};

/// `appId` of the `txn` action recording the WAL position.
pub const WAL_APP_ID: &str = "hearth-wal";
/// Name of the day partition column.
pub const DATE_COLUMN: &str = "date";
/// Column metadata key marking tag columns in the Delta schema.
pub const KIND_KEY: &str = "hearth.kind";
/// [`KIND_KEY`] value of a SQL table's primary key columns.
pub const KIND_PRIMARY_KEY: &str = "key";
/// [`KIND_KEY`] value of a SQL table's `time` column, which SQL does not see.
pub const KIND_HIDDEN: &str = "hidden";

fn delta_err(table: &str) -> impl FnOnce(DeltaTableError) -> CatalogError + '_ {
    move |source| CatalogError::Delta {
        table: table.to_string(),
        source: Box::new(source),
    }
}

fn field_delta_type(t: FieldType) -> DataType {
    match t {
        FieldType::Float => DataType::DOUBLE,
        FieldType::Integer => DataType::LONG,
        FieldType::UInteger => DataType::decimal(20, 0).expect("20,0 is a valid decimal"),
        FieldType::String => DataType::STRING,
        FieldType::Boolean => DataType::BOOLEAN,
        FieldType::Timestamp => DataType::TIMESTAMP,
    }
}

fn kind_marker(kind: &str) -> [(&'static str, MetadataValue); 1] {
    [(KIND_KEY, MetadataValue::String(kind.into()))]
}

/// The Delta schema of a table: `time`, `date`, then tags and fields in schema order. A SQL
/// table's `time` is marked `hearth.kind = hidden`, its key columns `hearth.kind = key`.
pub fn delta_schema(schema: &TableSchema) -> Result<StructType, CatalogError> {
    let mut time = StructField::nullable(TIME_COLUMN, DataType::TIMESTAMP);
    if schema.is_sql_table() {
        time = time.with_metadata(kind_marker(KIND_HIDDEN));
    }
    let mut fields = vec![time, StructField::nullable(DATE_COLUMN, DataType::DATE)];
    for c in schema.columns() {
        match c.kind {
            ColumnKind::Time => {}
            ColumnKind::Tag => fields.push(
                StructField::nullable(&c.name, DataType::STRING).with_metadata(kind_marker("tag")),
            ),
            ColumnKind::Key(t) => fields.push(
                StructField::nullable(&c.name, field_delta_type(t))
                    .with_metadata(kind_marker(KIND_PRIMARY_KEY)),
            ),
            ColumnKind::Field(t) => {
                fields.push(StructField::nullable(&c.name, field_delta_type(t)))
            }
        }
    }
    StructType::try_new(fields).map_err(|e| CatalogError::Unreadable {
        table: "schema".into(),
        reason: e.to_string(),
    })
}

/// Reads a Hearth table schema back from a Delta schema.
pub fn table_schema(delta: &StructType) -> TableSchema {
    let marker = |f: &StructField| match f.metadata().get(KIND_KEY) {
        Some(MetadataValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let sql = delta
        .fields()
        .any(|f| f.name() == TIME_COLUMN && marker(f) == KIND_HIDDEN);
    let mut columns = Vec::new();
    for f in delta.fields() {
        let name = f.name().as_str();
        if name == TIME_COLUMN || name == DATE_COLUMN {
            continue;
        }
        let t = f.data_type();
        let ft = if *t == DataType::DOUBLE {
            FieldType::Float
        } else if *t == DataType::LONG {
            FieldType::Integer
        } else if *t == DataType::STRING {
            FieldType::String
        } else if *t == DataType::BOOLEAN {
            FieldType::Boolean
        } else if *t == DataType::TIMESTAMP {
            FieldType::Timestamp
        } else if DataType::decimal(20, 0).is_ok_and(|d| d == *t) {
            FieldType::UInteger
        } else {
            continue;
        };
        let kind = match marker(f).as_str() {
            "tag" => ColumnKind::Tag,
            KIND_PRIMARY_KEY if sql => ColumnKind::Key(ft),
            _ => ColumnKind::Field(ft),
        };
        columns.push((name.to_string(), kind));
    }
    if sql && let Some(schema) = TableSchema::sql_table(&columns) {
        return schema;
    }
    let mut out = TableSchema::new();
    for (name, kind) in columns {
        out.add(&name, kind);
    }
    out
}

/// Opens the Delta table at `url`; `Ok(None)` if there is no Delta table there.
pub async fn open(
    store: Arc<dyn ObjectStore>,
    url: &Url,
    name: &str,
) -> Result<Option<DeltaTable>, CatalogError> {
    let mut table = DeltaTableBuilder::from_url(url.clone())
        .map_err(delta_err(name))?
        .with_storage_backend(store, url.clone())
        .build()
        .map_err(delta_err(name))?;
    match table.load().await {
        Ok(()) => Ok(Some(table)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(delta_err(name)(e)),
    }
}

/// Opens the Delta table at `url`, creating it with `schema` if it does not exist.
/// `maybe_exists: false` skips the open attempt (delta-rs logs an error for a missing log).
pub async fn open_or_create(
    store: Arc<dyn ObjectStore>,
    url: &Url,
    name: &str,
    schema: &TableSchema,
    maybe_exists: bool,
) -> Result<DeltaTable, CatalogError> {
    if maybe_exists && let Some(t) = open(store.clone(), url, name).await? {
        return Ok(t);
    }
    let columns: Vec<StructField> = delta_schema(schema)?.fields().cloned().collect();
    create(store, url, name, columns).await
}

/// Creates the Delta table at `url` with `columns` (which must include the `date` partition
/// column), or opens the one a concurrent creator made.
pub async fn create(
    store: Arc<dyn ObjectStore>,
    url: &Url,
    name: &str,
    columns: Vec<StructField>,
) -> Result<DeltaTable, CatalogError> {
    let table = DeltaTableBuilder::from_url(url.clone())
        .map_err(delta_err(name))?
        .with_storage_backend(store.clone(), url.clone())
        .build()
        .map_err(delta_err(name))?;
    let created = table
        .create()
        .with_columns(columns)
        .with_partition_columns([DATE_COLUMN])
        .with_save_mode(SaveMode::Ignore)
        // A lost creation race must fail rather than re-commit a second table metadata.
        .with_commit_properties(CommitProperties::default().with_max_retries(0))
        .await;
    match created {
        Ok(t) => Ok(t),
        Err(e) => match open(store, url, name).await? {
            Some(t) => Ok(t),
            None => Err(delta_err(name)(e)),
        },
    }
}

/// The state of a loaded Delta table as Hearth's catalog holds it.
pub async fn read_state(table: &DeltaTable, name: &str) -> Result<TableState, CatalogError> {
    let state = table.snapshot().map_err(delta_err(name))?;
    let persisted_seq = state
        .transaction_version(table.log_store().as_ref(), WAL_APP_ID)
        .await
        .map_err(delta_err(name))?
        .unwrap_or(0);
    let schema = table_schema(state.schema().as_ref());
    let files = files_of(table, name, |stats| {
        // Hearth's own files are sorted by (tags, time).
        FileOrder::TagsTime {
            tag_nulls: stats.is_none_or(|s| tags_partly_null(s, &schema)),
        }
    })?;
    Ok(TableState {
        schema,
        files,
        persisted_seq: u64::try_from(persisted_seq).unwrap_or(0),
        delta_version: table.version().and_then(|v| i64::try_from(v).ok()),
    })
}

/// The files of a loaded Delta table, their time ranges from the `time` statistics; `order`
/// tells the order of Hearth's own files (named with their rank) from their statistics.
pub fn files_of(
    table: &DeltaTable,
    name: &str,
    order: impl Fn(Option<&str>) -> FileOrder,
) -> Result<Vec<FileMeta>, CatalogError> {
    let state = table.snapshot().map_err(delta_err(name))?;
    let mut files = Vec::new();
    for f in state.log_data().iter() {
        let path = f.path().to_string();
        let date = f
            .partition_values_map()
            .get(DATE_COLUMN)
            .cloned()
            .flatten()
            .unwrap_or_default();
        let stats = f.stats();
        let (min_time, max_time) = stats
            .as_deref()
            .and_then(time_range)
            .unwrap_or((i64::MIN, i64::MAX));
        let rank = rank_of_path(&path);
        let order = if rank > 0 {
            order(stats.as_deref())
        } else {
            FileOrder::Unknown
        };
        files.push(FileMeta {
            rank,
            path,
            date,
            size: f.size().max(0) as u64,
            rows: f.num_records().unwrap_or(0) as u64,
            min_time,
            max_time,
            order,
        });
    }
    Ok(files)
}

/// The rank of a file from its name `part-<seq:020>-<uuid>...`; files named otherwise (written
/// by another tool) rank lowest.
pub fn rank_of_path(path: &str) -> u64 {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_prefix("part-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|seq| seq.parse().ok())
        .unwrap_or(0)
}

/// Whether, by a file's `stats`, some tag of `schema` is NULL in part of its rows (or the stats
/// cannot tell). A tag the stats do not name is newer than the file, so NULL in all its rows.
fn tags_partly_null(stats: &str, schema: &TableSchema) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(stats) else {
        return true;
    };
    let (Some(rows), Some(nulls)) = (
        v.get("numRecords").and_then(|n| n.as_u64()),
        v.get("nullCount"),
    ) else {
        return true;
    };
    schema
        .columns()
        .iter()
        .filter(|c| matches!(c.kind, ColumnKind::Tag | ColumnKind::Key(_)))
        .filter_map(|c| nulls.get(&c.name))
        .any(|n| n.as_u64().is_none_or(|n| n > 0 && n < rows))
}

fn time_range(stats: &str) -> Option<(i64, i64)> {
    let v: serde_json::Value = serde_json::from_str(stats).ok()?;
    let parse = |v: &serde_json::Value| crate::timefmt::parse_utc_micros(v.as_str()?);
    let min = parse(v.get("minValues")?.get(TIME_COLUMN)?)?;
    // Delta truncates the max to milliseconds.
    let max = parse(v.get("maxValues")?.get(TIME_COLUMN)?)? + 999;
    Some((min, max))
}

/// Commits `files` (already uploaded under the table root) with WAL position `seq`, widening the
/// table schema first if `schema` has columns the Delta schema lacks. Returns the new version.
pub async fn commit(
    table: &mut DeltaTable,
    name: &str,
    schema: &TableSchema,
    files: &[FileMeta],
    stats: &[String],
    seq: u64,
) -> Result<i64, CatalogError> {
    table.update_state().await.map_err(delta_err(name))?;
    let state = table.snapshot().map_err(delta_err(name))?;
    let mut actions = Vec::with_capacity(files.len() + 1);
    let current = state.schema();
    let wanted = delta_schema(schema)?;
    let missing: Vec<StructField> = wanted
        .fields()
        .filter(|f| current.field(f.name()).is_none())
        .cloned()
        .collect();
    if !missing.is_empty() {
        let mut fields: Vec<StructField> = current.fields().cloned().collect();
        fields.extend(missing);
        let widened = StructType::try_new(fields).map_err(|e| CatalogError::Unreadable {
            table: name.to_string(),
            reason: e.to_string(),
        })?;
        let metadata = state
            .metadata()
            .clone()
            .with_schema(&widened)
            .map_err(|e| CatalogError::Unreadable {
                table: name.to_string(),
                reason: format!("cannot widen the schema: {e}"),
            })?;
        actions.push(Action::Metadata(metadata));
    }
    let now_ms = now_millis();
    for (f, s) in files.iter().zip(stats) {
        actions.push(Action::Add(Add {
            path: f.path.clone(),
            partition_values: HashMap::from([(DATE_COLUMN.to_string(), Some(f.date.clone()))]),
            size: i64::try_from(f.size).unwrap_or(i64::MAX),
            modification_time: now_ms,
            data_change: true,
            stats: Some(s.clone()),
            ..Default::default()
        }));
    }
    let txn = Transaction::new_with_last_update(
        WAL_APP_ID,
        i64::try_from(seq).unwrap_or(i64::MAX),
        Some(now_ms),
    );
    let op = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(vec![DATE_COLUMN.to_string()]),
        predicate: None,
    };
    let properties = CommitProperties::default().with_application_transaction(txn);
    commit_actions(table, name, properties, actions, op).await
}

/// Commits `actions` on top of the table's current state and returns the new version.
async fn commit_actions(
    table: &mut DeltaTable,
    name: &str,
    properties: CommitProperties,
    actions: Vec<Action>,
    op: DeltaOperation,
) -> Result<i64, CatalogError> {
    let state = table.snapshot().map_err(delta_err(name))?;
    let done = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(state as &dyn TableReference), table.log_store(), op)
        .await
        .map_err(delta_err(name))?;
    let version = done.version();
    table.state = Some(done.snapshot);
    Ok(i64::try_from(version).unwrap_or(i64::MAX))
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Why files are replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// Compaction into files of about this size: the rows stay (`dataChange: false`).
    Compaction {
        /// The target file size.
        target_size: u64,
    },
    /// Whole day partitions past the retention period dropped: rows go away.
    Retention {
        /// The first day kept (`YYYY-MM-DD`).
        keep_from: String,
    },
    /// Files rewritten without the rows a `DELETE` matched.
    Delete {
        /// The statement's condition, for the table history.
        predicate: String,
    },
    /// The rows matching `predicate` replaced by new ones (a materialized view's buckets
    /// recomputed).
    Overwrite {
        /// Which rows were replaced, for the table history.
        predicate: String,
    },
}

/// Replaces `removed` files of a table by `added` ones in one commit (compaction, retention):
/// readers see either all of the old files or all of the new ones. The WAL position is not
/// touched.
pub async fn commit_replace(
    table: &mut DeltaTable,
    name: &str,
    removed: &[FileMeta],
    added: &[FileMeta],
    stats: &[String],
    why: &Replacement,
) -> Result<i64, CatalogError> {
    let data_change = !matches!(why, Replacement::Compaction { .. });
    table.update_state().await.map_err(delta_err(name))?;
    let now_ms = now_millis();
    let partition = |f: &FileMeta| HashMap::from([(DATE_COLUMN.to_string(), Some(f.date.clone()))]);
    let mut actions = Vec::with_capacity(removed.len() + added.len());
    for f in removed {
        actions.push(Action::Remove(Remove {
            path: f.path.clone(),
            data_change,
            deletion_timestamp: Some(now_ms),
            extended_file_metadata: Some(true),
            partition_values: Some(partition(f)),
            size: Some(i64::try_from(f.size).unwrap_or(i64::MAX)),
            ..Default::default()
        }));
    }
    for (f, s) in added.iter().zip(stats) {
        actions.push(Action::Add(Add {
            path: f.path.clone(),
            partition_values: partition(f),
            size: i64::try_from(f.size).unwrap_or(i64::MAX),
            modification_time: now_ms,
            data_change,
            stats: Some(s.clone()),
            ..Default::default()
        }));
    }
    let op = match why {
        Replacement::Compaction { target_size } => DeltaOperation::Optimize {
            predicate: None,
            target_size: i64::try_from(*target_size).unwrap_or(i64::MAX),
        },
        Replacement::Retention { keep_from } => DeltaOperation::Delete {
            predicate: Some(format!("{DATE_COLUMN} < '{keep_from}'")),
        },
        Replacement::Delete { predicate } => DeltaOperation::Delete {
            predicate: Some(predicate.clone()),
        },
        Replacement::Overwrite { predicate } => DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: Some(vec![DATE_COLUMN.to_string()]),
            predicate: Some(predicate.clone()),
        },
    };
    commit_actions(table, name, CommitProperties::default(), actions, op).await
}

/// Deletes the files of a table that no version newer than `grace` ago refers to (the inputs of
/// compactions, once no query can still be reading them). Returns how many were deleted.
pub async fn vacuum(
    table: &mut DeltaTable,
    name: &str,
    grace: std::time::Duration,
) -> Result<usize, CatalogError> {
    table.update_state().await.map_err(delta_err(name))?;
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let (vacuumed, metrics) = table
        .clone()
        .vacuum()
        .with_retention_period(grace)
        .with_enforce_retention_duration(false)
        // Also files no commit refers to (uploads of a flush or compaction that failed before
        // committing); the caller makes sure no upload is waiting for its commit.
        .with_mode(deltalake::operations::vacuum::VacuumMode::Full)
        .await
        .map_err(delta_err(name))?;
    *table = vacuumed;
    Ok(metrics.files_deleted.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_round_trips_through_delta() {
        let mut s = TableSchema::new();
        s.add("household", ColumnKind::Tag);
        s.add("power_w", ColumnKind::Field(FieldType::Float));
        s.add("n", ColumnKind::Field(FieldType::UInteger));
        s.add("fw", ColumnKind::Field(FieldType::String));
        s.add("on", ColumnKind::Field(FieldType::Boolean));
        s.add("c", ColumnKind::Field(FieldType::Integer));
        let delta = delta_schema(&s).unwrap();
        assert_eq!(delta.fields().next().unwrap().name(), "time");
        assert_eq!(table_schema(&delta), s);
    }

    #[test]
    fn sql_table_schema_round_trips_through_delta() {
        let s = TableSchema::sql_table(&[
            ("household".into(), ColumnKind::Key(FieldType::String)),
            ("period_start".into(), ColumnKind::Key(FieldType::Timestamp)),
            ("amount_eur".into(), ColumnKind::Field(FieldType::Float)),
            ("valid_to".into(), ColumnKind::Field(FieldType::Timestamp)),
        ])
        .unwrap();
        let delta = delta_schema(&s).unwrap();
        let back = table_schema(&delta);
        assert_eq!(back, s);
        assert!(back.is_sql_table() && back.has_primary_key());
        assert_eq!(back.tag_indices(), [0, 1]);
        let visible: Vec<_> = back.visible_columns().map(|c| c.name.as_str()).collect();
        assert_eq!(
            visible,
            ["household", "period_start", "amount_eur", "valid_to"]
        );
        // A line protocol table never reads as a SQL table.
        let mut lp = TableSchema::new();
        lp.add("v", ColumnKind::Field(FieldType::Float));
        assert!(!table_schema(&delta_schema(&lp).unwrap()).is_sql_table());
    }

    #[test]
    fn rank_comes_from_the_file_name() {
        assert_eq!(
            rank_of_path("date=2025-11-24/part-00000000000000000042-abc.zstd.parquet"),
            42
        );
        assert_eq!(rank_of_path("date=2025-11-24/other.parquet"), 0);
    }
}
