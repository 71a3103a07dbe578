//! Schema `system` of every database: tables describing the database as the store holds it,
//! computed when a query scans them (never stale).
//!
//! * `system.tables`: one row per table: columns, committed files, rows and bytes, rows still
//!   buffered, time range, Delta version and the WAL position the table has persisted.
//! * `system.columns`: one row per column: table, name, position, SQL type, and whether it is a
//!   tag, a field or the time.
//! * `system.parquet_files`: one row per committed Parquet file: table, day partition, path
//!   (relative to the table), rows, bytes, time range and the rank its rows merge with.
//! * `system.queries`: the queries running now and the most recent ones (all databases' are
//!   kept, each database shows its own): text, start, duration, rows, bytes scanned, outcome.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use hearth_catalog::catalog::{FileMeta, Table};
use hearth_catalog::schema::{ColumnKind, FieldType, TIME_ZONE, time_type};
use hearth_storage::Storage;

use crate::catalogs::{TableSources, sources_of};
use crate::queries::{QueryLog, queries_schema};

/// Name of the schema.
pub const SYSTEM: &str = "system";

const TABLES: &str = "tables";
const COLUMNS: &str = "columns";
const PARQUET_FILES: &str = "parquet_files";
const QUERIES: &str = "queries";
const NAMES: [&str; 4] = [TABLES, COLUMNS, PARQUET_FILES, QUERIES];

fn tables_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("columns", DataType::Int64, false),
        Field::new("files", DataType::Int64, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("buffered_rows", DataType::Int64, false),
        Field::new("min_time", time_type(), true),
        Field::new("max_time", time_type(), true),
        Field::new("delta_version", DataType::Int64, true),
        Field::new("persisted_wal_seq", DataType::UInt64, false),
    ]))
}

fn columns_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("ordinal_position", DataType::Int64, false),
        Field::new("data_type", DataType::Utf8, false),
        Field::new("column_kind", DataType::Utf8, false),
    ]))
}

fn parquet_files_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("partition", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("min_time", time_type(), false),
        Field::new("max_time", time_type(), false),
        Field::new("rank", DataType::UInt64, false),
    ]))
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn times(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone(TIME_ZONE))
}

/// Schema `system` of one database (and the tables of the table sources added to it).
#[derive(Clone)]
pub struct SystemSchema {
    db: String,
    storage: Arc<Storage>,
    queries: Arc<QueryLog>,
    sources: TableSources,
}

impl std::fmt::Debug for SystemSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemSchema")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl SystemSchema {
    /// The schema of database `db`.
    pub(crate) fn new(
        db: &str,
        storage: Arc<Storage>,
        queries: Arc<QueryLog>,
        sources: TableSources,
    ) -> SystemSchema {
        SystemSchema {
            db: db.to_string(),
            storage,
            queries,
            sources,
        }
    }

    fn columns_batch(&self) -> Result<RecordBatch> {
        let (mut tables, mut names, mut positions, mut types, mut kinds) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for t in self.tables() {
            for (i, c) in t.schema().visible_columns().enumerate() {
                tables.push(t.name().to_string());
                names.push(c.name.clone());
                positions.push(i as i64 + 1);
                let kind = match c.kind {
                    ColumnKind::Tag => "tag",
                    ColumnKind::Time => "time",
                    ColumnKind::Field(_) => "field",
                    ColumnKind::Key(_) => "primary key",
                };
                let sql_type = match c.kind.value_type() {
                    FieldType::Float => "double precision",
                    FieldType::Integer => "bigint",
                    FieldType::UInteger => "numeric(20,0)",
                    FieldType::String => "text",
                    FieldType::Boolean => "boolean",
                    FieldType::Timestamp => "timestamp with time zone",
                };
                types.push(sql_type);
                kinds.push(kind);
            }
        }
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(tables)),
            Arc::new(StringArray::from(names)),
            Arc::new(Int64Array::from(positions)),
            Arc::new(StringArray::from(types)),
            Arc::new(StringArray::from(kinds)),
        ];
        Ok(RecordBatch::try_new(columns_schema(), arrays)?)
    }

    fn tables(&self) -> Vec<Arc<Table>> {
        let mut tables = self
            .storage
            .catalog()
            .database(&self.db)
            .map(|d| d.tables())
            .unwrap_or_default();
        tables.sort_by(|a, b| a.name().cmp(b.name()));
        tables
    }

    fn tables_batch(&self) -> Result<RecordBatch> {
        let tables = self.tables();
        let mut names = Vec::new();
        let (mut columns, mut files, mut rows, mut bytes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut buffered: Vec<i64> = Vec::new();
        let (mut min_time, mut max_time, mut versions, mut seqs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for t in &tables {
            let state = t.state();
            names.push(t.name().to_string());
            columns.push(state.schema.visible_columns().count() as i64);
            files.push(state.files.len() as i64);
            rows.push(int(state.files.iter().map(|f| f.rows).sum()));
            bytes.push(int(state.files.iter().map(|f| f.size).sum()));
            let chunks = self.storage.buffer().table_chunks(&self.db, t.name());
            buffered.push(chunks.iter().map(|(_, b)| b.num_rows() as i64).sum());
            // A SQL table's hidden time is not a time of its rows: no range.
            let timed = if state.schema.is_sql_table() {
                &[][..]
            } else {
                &state.files[..]
            };
            min_time.push(timed.iter().map(|f| f.min_time).min());
            max_time.push(timed.iter().map(|f| f.max_time).max());
            versions.push(state.delta_version);
            seqs.push(state.persisted_seq);
        }
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(names)),
            Arc::new(Int64Array::from(columns)),
            Arc::new(Int64Array::from(files)),
            Arc::new(Int64Array::from(rows)),
            Arc::new(Int64Array::from(bytes)),
            Arc::new(Int64Array::from(buffered)),
            times(min_time),
            times(max_time),
            Arc::new(Int64Array::from(versions)),
            Arc::new(UInt64Array::from(seqs)),
        ];
        Ok(RecordBatch::try_new(tables_schema(), arrays)?)
    }

    fn parquet_files_batch(&self) -> Result<RecordBatch> {
        let mut all: Vec<(String, FileMeta)> = Vec::new();
        for t in self.tables() {
            for f in t.state().files {
                all.push((t.name().to_string(), f));
            }
        }
        all.sort_by(|a, b| (&a.0, &a.1.path).cmp(&(&b.0, &b.1.path)));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(all.iter().map(|(t, _)| t))),
            Arc::new(StringArray::from_iter_values(
                all.iter().map(|(_, f)| &f.date),
            )),
            Arc::new(StringArray::from_iter_values(
                all.iter().map(|(_, f)| &f.path),
            )),
            Arc::new(Int64Array::from_iter_values(
                all.iter().map(|(_, f)| int(f.rows)),
            )),
            Arc::new(Int64Array::from_iter_values(
                all.iter().map(|(_, f)| int(f.size)),
            )),
            times(all.iter().map(|(_, f)| Some(f.min_time)).collect()),
            times(all.iter().map(|(_, f)| Some(f.max_time)).collect()),
            Arc::new(UInt64Array::from_iter_values(
                all.iter().map(|(_, f)| f.rank),
            )),
        ];
        Ok(RecordBatch::try_new(parquet_files_schema(), arrays)?)
    }
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
        for source in sources_of(&self.sources, SYSTEM) {
            names.extend(source.table_names(&self.db));
        }
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let (schema, kind) = match name {
            TABLES => (tables_schema(), Kind::Tables),
            COLUMNS => (columns_schema(), Kind::Columns),
            PARQUET_FILES => (parquet_files_schema(), Kind::ParquetFiles),
            QUERIES => (queries_schema(), Kind::Queries),
            _ => {
                for source in sources_of(&self.sources, SYSTEM) {
                    if let Some(table) = source.table(&self.db, name).await? {
                        return Ok(Some(table));
                    }
                }
                return Ok(None);
            }
        };
        Ok(Some(Arc::new(SystemTable {
            schema,
            kind,
            source: self.clone(),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        NAMES.contains(&name)
            || sources_of(&self.sources, SYSTEM)
                .iter()
                .any(|s| s.table_names(&self.db).iter().any(|n| n == name))
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Tables,
    Columns,
    ParquetFiles,
    Queries,
}

/// One system table; its rows are computed when it is scanned.
#[derive(Debug)]
struct SystemTable {
    schema: SchemaRef,
    kind: Kind,
    source: SystemSchema,
}

#[async_trait]
impl TableProvider for SystemTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = match self.kind {
            Kind::Tables => self.source.tables_batch()?,
            Kind::Columns => self.source.columns_batch()?,
            Kind::ParquetFiles => self.source.parquet_files_batch()?,
            Kind::Queries => self.source.queries.batch(&self.source.db)?,
        };
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
