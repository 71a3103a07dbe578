//! Table providers: what a Hearth table looks like to DataFusion.
//!
//! Two layers, so that a planned query (a prepared statement may be planned once and run many
//! times) never holds a stale copy of the data:
//!
//! ```text
//! TsTable (what SQL sees)  = Aggregate(group by tags, time;
//!                                      per field last_value(field ORDER BY __rank) IGNORE NULLS)
//!                              over RawTable
//! RawTable (internal)      = scan() takes one snapshot: buffer chunks, then Delta files
//!                          = Union(Parquet scan of the files, rows of the buffer), each row
//!                            with its rank `__rank`
//! ```
//!
//! The merge is InfluxDB's: for one identity (tags, time) each field takes its latest written
//! value, fields not written keep theirs. "Latest" is the rank: the WAL sequence number (and line
//! within the write) for buffered rows, the flush position for persisted files. The buffer is read
//! before the file list, so a flush that completes in between can only make a row appear twice
//! (merged away by the aggregate), never make it disappear. Filters on tags and time are pushed
//! below the aggregate by DataFusion and reach the Parquet scan for pruning.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result, ScalarValue, project_schema};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::{TableSchema as DfTableSchema, TableSchemaBuilder};
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::functions_aggregate::first_last::last_value_udaf;
use datafusion::logical_expr::expr::NullTreatment;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, TableType,
    ident,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use hearth_catalog::catalog::Table;
use hearth_catalog::schema::{ColumnKind, TIME_COLUMN};
use hearth_catalog::store::Store;
use hearth_storage::align::align;
use hearth_storage::buffer::Buffer;
use hearth_storage::persist::{file_rank, row_rank};

use crate::lastpoint::LastSource;
use object_store::ObjectMeta;

/// Name of the internal rank column.
pub const RANK: &str = "__rank";

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The raw rows of a table (files and buffer, duplicates included) with their ranks.
#[derive(Debug)]
pub struct RawTable {
    table: Arc<Table>,
    buffer: Arc<Buffer>,
    store: Arc<Store>,
    file_schema: SchemaRef,
    raw_schema: SchemaRef,
    last: Option<LastSource>,
}

impl RawTable {
    /// The raw table of `table` with the table's current schema.
    pub fn new(table: Arc<Table>, buffer: Arc<Buffer>, store: Arc<Store>) -> RawTable {
        let file_schema = table.schema().arrow_schema();
        let raw_schema = df_table_schema(&file_schema).table_schema().clone();
        RawTable {
            table,
            buffer,
            store,
            file_schema,
            raw_schema,
            last: None,
        }
    }

    /// The raw table whose latest rows per series can come from `last`'s cache (see
    /// [`lastpoint`](crate::lastpoint)).
    pub fn with_last(mut self, last: LastSource) -> RawTable {
        self.last = Some(last);
        self
    }

    /// Where the latest rows per series of this table are kept, if anywhere.
    pub fn last_source(&self) -> Option<&LastSource> {
        self.last.as_ref()
    }

    fn parquet_exec(
        &self,
        state: &dyn Session,
        files: Vec<PartitionedFile>,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let url = ObjectStoreUrl::parse(self.store.object_store_url())?;
        let runtime = state.runtime_env();
        let object_store = runtime.object_store(&url)?;
        let mut source = ParquetSource::new(df_table_schema(&self.file_schema));
        // The conditions pushed down here are on tags and time only (DataFusion pushes nothing
        // else through the merging aggregate), so row groups, pages and rows they exclude can
        // never merge with a row the query keeps.
        if let Some(predicate) = conjunction(filters.iter().cloned()) {
            let schema = datafusion::common::DFSchema::try_from(self.raw_schema.clone())?;
            source = source.with_predicate(state.create_physical_expr(predicate, &schema)?);
        }
        let source = source
            .with_table_parquet_options(state.default_table_options().parquet)
            .with_parquet_file_reader_factory(Arc::new(CachedParquetFileReaderFactory::new(
                object_store,
                runtime.cache_manager.get_file_metadata_cache(),
            )));
        let n = state
            .config()
            .target_partitions()
            .clamp(1, files.len().max(1));
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); n];
        for (i, f) in files.into_iter().enumerate() {
            groups[i % n].push(f);
        }
        let config = FileScanConfigBuilder::new(url, Arc::new(source))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(projection.cloned())?
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }

    fn buffer_batches(&self) -> Result<Vec<RecordBatch>> {
        let chunks = self.buffer.table_chunks(self.table.db(), self.table.name());
        chunks
            .iter()
            .map(|(seq, batch)| {
                let aligned = align(batch, &self.file_schema).map_err(external)?;
                let mut columns: Vec<ArrayRef> = aligned.columns().to_vec();
                let ranks: UInt64Array = (0..batch.num_rows() as u64)
                    .map(|row| row_rank(*seq, row))
                    .collect();
                columns.push(Arc::new(ranks));
                Ok(RecordBatch::try_new(self.raw_schema.clone(), columns)?)
            })
            .collect()
    }
}

fn df_table_schema(file_schema: &SchemaRef) -> DfTableSchema {
    TableSchemaBuilder::new(file_schema.clone())
        .with_table_partition_cols(vec![
            Arc::new(Field::new(RANK, DataType::UInt64, false)) as FieldRef
        ])
        .build()
}

#[async_trait]
impl TableProvider for RawTable {
    fn schema(&self) -> SchemaRef {
        self.raw_schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Buffer first, files second: see the module documentation.
        let buffered = self.buffer_batches()?;
        let files = self.table.state().files;
        // Files whose time range misses the query's are not read: an identity includes its time,
        // so no row of them could merge with a row the query keeps.
        let (from, to) = time_bounds(filters);
        let partitioned: Vec<PartitionedFile> = files
            .iter()
            .filter(|f| f.max_time >= from && f.min_time <= to)
            .map(|f| {
                let meta = ObjectMeta {
                    location: self.store.table_file_key(
                        self.table.db(),
                        self.table.name(),
                        &f.path,
                    ),
                    last_modified: Default::default(),
                    size: f.size,
                    e_tag: None,
                    version: None,
                };
                PartitionedFile::new_from_meta(meta)
                    .with_partition_values(vec![ScalarValue::UInt64(Some(file_rank(f.rank)))])
            })
            .collect();
        let mut children: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !partitioned.is_empty() {
            children.push(self.parquet_exec(state, partitioned, projection, filters)?);
        }
        if !buffered.is_empty() {
            children.push(MemorySourceConfig::try_new_exec(
                &[buffered],
                self.raw_schema.clone(),
                projection.cloned(),
            )?);
        }
        if children.is_empty() {
            return Ok(Arc::new(EmptyExec::new(project_schema(
                &self.raw_schema,
                projection,
            )?)));
        }
        UnionExec::try_new(children)
    }
}

/// The closed range of `time` values (microseconds) that conjunctive `filters` allow: comparisons
/// of the time column with timestamp literals (either side); anything else allows everything.
pub fn time_bounds(filters: &[Expr]) -> (i64, i64) {
    use datafusion::logical_expr::{BinaryExpr, Operator};
    /// The literal in microseconds, rounded down and up (equal unless nanoseconds).
    fn micros(e: &Expr) -> Option<(i64, i64)> {
        let exact = |v: Option<i64>| v.map(|v| (v, v));
        match e {
            Expr::Literal(ScalarValue::TimestampMicrosecond(Some(v), _), _) => exact(Some(*v)),
            Expr::Literal(ScalarValue::TimestampNanosecond(Some(v), _), _) => {
                let lo = v.div_euclid(1_000);
                Some((lo, if v.rem_euclid(1_000) == 0 { lo } else { lo + 1 }))
            }
            Expr::Literal(ScalarValue::TimestampMillisecond(Some(v), _), _) => {
                exact(v.checked_mul(1_000))
            }
            Expr::Literal(ScalarValue::TimestampSecond(Some(v), _), _) => {
                exact(v.checked_mul(1_000_000))
            }
            _ => None,
        }
    }
    fn is_time(e: &Expr) -> bool {
        matches!(e, Expr::Column(c) if c.name == TIME_COLUMN)
    }
    fn visit(e: &Expr, from: &mut i64, to: &mut i64) {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else {
            return;
        };
        if *op == Operator::And {
            visit(left, from, to);
            visit(right, from, to);
            return;
        }
        // Normalise to `time <op> value`.
        let (op, value) = if is_time(left) {
            (*op, micros(right))
        } else if is_time(right) {
            let swapped = match op {
                Operator::Lt => Operator::Gt,
                Operator::LtEq => Operator::GtEq,
                Operator::Gt => Operator::Lt,
                Operator::GtEq => Operator::LtEq,
                other => *other,
            };
            (swapped, micros(left))
        } else {
            return;
        };
        // Bounds are kept inclusive and rounded outwards: pruning may keep a file it could
        // skip, never the other way round.
        let Some((lo, hi)) = value else { return };
        match op {
            Operator::Eq => {
                *from = (*from).max(lo);
                *to = (*to).min(hi);
            }
            Operator::Gt | Operator::GtEq => *from = (*from).max(lo),
            Operator::Lt | Operator::LtEq => *to = (*to).min(hi),
            _ => {}
        }
    }
    let (mut from, mut to) = (i64::MIN, i64::MAX);
    for f in filters {
        visit(f, &mut from, &mut to);
    }
    (from, to)
}

/// A Hearth table as SQL sees it: one row per identity, duplicates merged.
#[derive(Debug)]
pub struct TsTable {
    schema: SchemaRef,
    plan: LogicalPlan,
}

impl TsTable {
    /// The merged view over `raw`; with a `retention` period, rows older than it (by their
    /// time, against `now()` of each execution) are not part of the view.
    pub fn try_new(
        table: &Table,
        raw: Arc<RawTable>,
        retention: Option<std::time::Duration>,
    ) -> Result<TsTable> {
        let schema = table.schema();
        let by_rank = vec![ident(RANK).sort(true, false)];
        let mut group: Vec<Expr> = Vec::new();
        let mut aggregates: Vec<Expr> = Vec::new();
        for c in schema.columns() {
            match c.kind {
                ColumnKind::Tag | ColumnKind::Time => group.push(ident(c.name.as_str())),
                ColumnKind::Field(_) => aggregates.push(
                    last_value_udaf()
                        .call(vec![ident(c.name.as_str())])
                        .order_by(by_rank.clone())
                        .null_treatment(NullTreatment::IgnoreNulls)
                        .build()?
                        .alias(c.name.as_str()),
                ),
            }
        }
        let order: Vec<Expr> = schema
            .columns()
            .iter()
            .map(|c| ident(c.name.as_str()))
            .collect();
        let mut plan = LogicalPlanBuilder::scan(table.name(), provider_as_source(raw), None)?;
        if let Some(keep) = retention {
            let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
            let since = datafusion::functions::datetime::expr_fn::now()
                - Expr::Literal(ScalarValue::DurationMicrosecond(Some(keep)), None);
            plan = plan.filter(ident(TIME_COLUMN).gt_eq(since))?;
        }
        let plan = plan.aggregate(group, aggregates)?.project(order)?.build()?;
        let schema = Arc::new(plan.schema().as_arrow().clone());
        debug_assert!(schema.field_with_name(TIME_COLUMN).is_ok());
        Ok(TsTable { schema, plan })
    }
}

#[async_trait]
impl TableProvider for TsTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        Some(Cow::Borrowed(&self.plan))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Exact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut builder = LogicalPlanBuilder::from(self.plan.clone());
        if let Some(predicate) = conjunction(filters.iter().cloned()) {
            builder = builder.filter(predicate)?;
        }
        if let Some(p) = projection {
            builder = builder.project(
                p.iter()
                    .map(|i| ident(self.schema.field(*i).name().as_str())),
            )?;
        }
        if limit.is_some() {
            builder = builder.limit(0, limit)?;
        }
        state.create_physical_plan(&builder.build()?).await
    }
}
