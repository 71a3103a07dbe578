//! Table providers: what a Hearth table looks like to DataFusion.
//!
//! Two layers; the plan is made at each scan, so a planned query (a prepared statement may be
//! planned once and run many times) never holds a stale copy of the data:
//!
//! ```text
//! TsTable (what SQL sees)  = scan() takes one snapshot: buffer chunks, then Delta files
//!                          = Union(RawTable of the files, rows at times outside the merge
//!                                  intervals, read as they are;
//!                                  Aggregate(group by tags, time; per field
//!                                            last_value(field ORDER BY __rank) IGNORE NULLS)
//!                                  over RawTable of the buffer and the files that reach into
//!                                  the merge intervals, rows at times inside them)
//! RawTable (internal)      = Union(Parquet scan of its files, rows of its buffer chunks), each
//!                            row with its rank `__rank`
//! ```
//!
//! The merge is InfluxDB's: for one identity (tags, time) each field takes its latest written
//! value, fields not written keep theirs. "Latest" is the rank: the WAL sequence number (and line
//! within the write) for buffered rows, the flush position for persisted files. A persisted file
//! holds each identity once, and an identity includes its time, so rows at a time no other
//! source covers need no merging. The merge intervals are where sources meet: the time ranges
//! two files share (flushes of out-of-order writes overlap by a few minutes at their edges) and
//! the range of each buffered write; everything else, most of the data, is read as it is, and
//! time conditions on both sides keep the Parquet scans to their row groups. The buffer is read
//! before the file list, so a flush that completes in between can only make a row appear twice,
//! in the buffer and in a new file whose rows then lie inside the buffer's intervals (merged away
//! by the aggregate), never make it disappear. Filters on tags and time are pushed below the
//! aggregate by DataFusion and reach the Parquet scan for pruning.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, UInt64Array};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result, ScalarValue, project_schema};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::{TableSchema as DfTableSchema, TableSchemaBuilder};
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::functions_aggregate::first_last::last_value_udaf;
use datafusion::logical_expr::expr::NullTreatment;
use datafusion::logical_expr::utils::{conjunction, disjunction};
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, TableType,
    ident,
};
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use hearth_catalog::catalog::{FileMeta, FileOrder, Table};
use hearth_catalog::schema::{ColumnKind, TIME_COLUMN, TIME_ZONE, TableSchema};
use hearth_catalog::store::Store;
use hearth_storage::align::align;
use hearth_storage::buffer::Buffer;
use hearth_storage::persist::{file_rank, row_rank};

use crate::lastpoint::LastSource;
use crate::readers::IndexedReaders;
use object_store::ObjectMeta;

/// Name of the internal rank column.
pub const RANK: &str = "__rank";

/// Most files a scan reads as one partition each (so that their sort order is known).
const MAX_ORDERED_GROUPS: usize = 64;

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Buffered writes, each in the raw schema with its rows' ranks, and the time range of each.
type Buffered = (Vec<RecordBatch>, Vec<(i64, i64)>);

/// One buffered write of a table, as written.
struct BufferedWrite {
    /// Its WAL sequence number.
    seq: u64,
    rows: RecordBatch,
    /// The least and greatest `time` of its rows.
    range: (i64, i64),
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
    /// Fixed contents (files, buffered rows with ranks) instead of the table's live ones.
    snapshot: Option<(Vec<FileMeta>, Vec<RecordBatch>)>,
    /// Whether the Parquet scan takes the conditions pushed to this table as its predicate
    /// (see [`RawTable::parquet_exec`]).
    carries_conditions: bool,
    /// The table's schema when this was made (`file_schema` is its Arrow form).
    table_schema: TableSchema,
}

impl RawTable {
    /// The raw table of `table` with the table's current schema.
    pub fn new(table: Arc<Table>, buffer: Arc<Buffer>, store: Arc<Store>) -> RawTable {
        let table_schema = table.schema();
        let file_schema = table_schema.arrow_schema();
        let raw_schema = df_table_schema(&file_schema).table_schema().clone();
        RawTable {
            table,
            buffer,
            store,
            file_schema,
            raw_schema,
            last: None,
            snapshot: None,
            carries_conditions: true,
            table_schema,
        }
    }

    /// This table reading exactly `files` and the buffered rows `buffered` (from
    /// [`RawTable::buffer_batches`]), below a merging aggregate or not (`merged`).
    fn with_contents(
        &self,
        files: Vec<FileMeta>,
        buffered: Vec<RecordBatch>,
        merged: bool,
    ) -> RawTable {
        RawTable {
            table: self.table.clone(),
            buffer: self.buffer.clone(),
            store: self.store.clone(),
            file_schema: self.file_schema.clone(),
            raw_schema: self.raw_schema.clone(),
            last: self.last.clone(),
            snapshot: Some((files, buffered)),
            carries_conditions: merged,
            table_schema: self.table_schema.clone(),
        }
    }

    /// The raw table whose latest rows per series can come from `last`'s cache (see
    /// [`lastpoint`](crate::lastpoint)).
    pub fn with_last(mut self, last: LastSource) -> RawTable {
        self.last = Some(last);
        self
    }

    /// Whether the table was created with `CREATE TABLE` (its `time` hidden).
    pub fn is_sql_table(&self) -> bool {
        self.table_schema.is_sql_table()
    }

    /// Where the latest rows per series of this table are kept, if anywhere.
    pub fn last_source(&self) -> Option<&LastSource> {
        self.last.as_ref()
    }

    fn parquet_exec(
        &self,
        state: &dyn Session,
        files: Vec<PartitionedFile>,
        orderings: Vec<LexOrdering>,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let url = ObjectStoreUrl::parse(self.store.object_store_url())?;
        let runtime = state.runtime_env();
        let object_store = runtime.object_store(&url)?;
        let mut source = ParquetSource::new(df_table_schema(&self.file_schema));
        // Below the merging aggregate the conditions pushed down here are on tags and time only
        // (DataFusion pushes nothing else through it), so row groups, pages and rows they
        // exclude can never merge with a row the query keeps; there they become the scan's
        // predicate. Where nothing is merged the query's filter stands right above the scan, and
        // DataFusion's physical filter pushdown moves it into the scan: taking the conditions
        // here as well built the scan twice and repeated each condition in its predicate.
        let predicate = self
            .carries_conditions
            .then(|| conjunction(filters.iter().cloned()))
            .flatten();
        if let Some(predicate) = predicate {
            let schema = datafusion::common::DFSchema::try_from(self.raw_schema.clone())?;
            source = source.with_predicate(state.create_physical_expr(predicate, &schema)?);
        }
        let source = source
            .with_table_parquet_options(state.default_table_options().parquet)
            .with_parquet_file_reader_factory(Arc::new(IndexedReaders::new(
                object_store,
                runtime.cache_manager.get_file_metadata_cache(),
            )));
        // Each file is sorted by (tags, time): with a file per group DataFusion knows each
        // partition's order and can skip sorts and merge sorted streams instead. Past
        // `MAX_ORDERED_GROUPS` files (each group is a stream that may be open at once) the files
        // share groups and the order is not declared (DataFusion drops an ordering it cannot
        // prove for a group of several files).
        let target = state.config().target_partitions().max(1);
        let groups: Vec<Vec<PartitionedFile>> = if files.len() <= MAX_ORDERED_GROUPS.max(target) {
            files.into_iter().map(|f| vec![f]).collect()
        } else {
            let mut groups = vec![Vec::new(); target];
            for (i, f) in files.into_iter().enumerate() {
                groups[i % target].push(f);
            }
            groups
        };
        let config = FileScanConfigBuilder::new(url, Arc::new(source))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_output_ordering(orderings)
            // Files must not move between partitions at run time, or the order would not hold.
            .with_preserve_order(true)
            .with_projection_indices(projection.cloned())?
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }

    /// The order, on the raw schema, that holds in each of `files`: Hearth sorts a file by the
    /// tags in schema order, then time, ascending with NULL tags first (`hearth_storage::dedup`);
    /// where no tag is NULL in part of a file's rows the place of NULLs does not matter, and
    /// the order is declared with NULLs last, as PostgreSQL's and DataFusion's `ORDER BY` mean
    /// by default. (One order only: DataFusion 55 fails to match either of two orderings of the
    /// same columns.) A tag added to the table after a file was written is NULL throughout that
    /// file, so the order holds for old files too. None if a file's order is unknown.
    fn file_orderings(&self, files: &[&FileMeta]) -> Result<Vec<LexOrdering>> {
        let mut tag_nulls = false;
        for f in files {
            match f.order {
                FileOrder::Unknown => return Ok(Vec::new()),
                FileOrder::TagsTime { tag_nulls: t } => tag_nulls |= t,
            }
        }
        let ascending = |nulls_first: bool| SortOptions {
            descending: false,
            nulls_first,
        };
        let mut exprs = Vec::new();
        for c in self.table_schema.columns() {
            if matches!(c.kind, ColumnKind::Tag | ColumnKind::Key(_)) {
                let column = PhysicalColumn::new_with_schema(&c.name, &self.raw_schema)?;
                exprs.push(PhysicalSortExpr::new(
                    Arc::new(column),
                    ascending(tag_nulls),
                ));
            }
        }
        // `time` is never NULL.
        let time = PhysicalColumn::new_with_schema(TIME_COLUMN, &self.raw_schema)?;
        exprs.push(PhysicalSortExpr::new(Arc::new(time), ascending(false)));
        Ok(LexOrdering::new(exprs).into_iter().collect())
    }

    /// The buffered writes of the table with rows at times from `from` to `to` (microseconds,
    /// inclusive). A write wholly outside the range is left out: none of its rows is at a time
    /// the query keeps, and a row merges only with rows at its own time.
    fn buffered_writes(&self, from: i64, to: i64) -> Result<Vec<BufferedWrite>> {
        let mut kept = Vec::new();
        for (seq, rows) in self.buffer.table_chunks(self.table.db(), self.table.name()) {
            let range = hearth_storage::persist::time_range(&rows).map_err(external)?;
            if let Some(range) = range.filter(|&(lo, hi)| hi >= from && lo <= to) {
                kept.push(BufferedWrite { seq, rows, range });
            }
        }
        Ok(kept)
    }

    /// [`RawTable::buffered_writes`], each write in the raw schema with its rows' ranks.
    fn buffer_batches(&self, from: i64, to: i64) -> Result<Buffered> {
        let chunks = self.buffered_writes(from, to)?;
        let mut batches = Vec::with_capacity(chunks.len());
        let mut ranges = Vec::with_capacity(chunks.len());
        for BufferedWrite { seq, rows, range } in chunks {
            let aligned = align(&rows, &self.file_schema).map_err(external)?;
            let mut columns: Vec<ArrayRef> = aligned.columns().to_vec();
            let ranks: UInt64Array = (0..rows.num_rows() as u64)
                .map(|row| row_rank(seq, row))
                .collect();
            columns.push(Arc::new(ranks));
            batches.push(RecordBatch::try_new(self.raw_schema.clone(), columns)?);
            ranges.push(range);
        }
        Ok((batches, ranges))
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
        // Files and buffered writes whose time range misses the query's are not read: an
        // identity includes its time, so no row of them could merge with a row the query keeps.
        let (from, to) = time_bounds(filters);
        // Buffer first, files second: see the module documentation.
        let (files, buffered) = match &self.snapshot {
            Some((files, buffered)) => (files.clone(), buffered.clone()),
            None => {
                let (buffered, _) = self.buffer_batches(from, to)?;
                (self.table.state().files, buffered)
            }
        };
        let files: Vec<&FileMeta> = files
            .iter()
            .filter(|f| f.max_time >= from && f.min_time <= to)
            .collect();
        let orderings = self.file_orderings(&files)?;
        let partitioned: Vec<PartitionedFile> = files
            .into_iter()
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
            children.push(self.parquet_exec(state, partitioned, orderings, projection, filters)?);
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
    column_bounds(filters, TIME_COLUMN)
}

/// [`time_bounds`] of the timestamp column `column`.
pub fn column_bounds(filters: &[Expr], column: &str) -> (i64, i64) {
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
    fn visit(e: &Expr, column: &str, from: &mut i64, to: &mut i64) {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else {
            return;
        };
        if *op == Operator::And {
            visit(left, column, from, to);
            visit(right, column, from, to);
            return;
        }
        let is_time = |e: &Expr| matches!(e, Expr::Column(c) if c.name == column);
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
        visit(f, column, &mut from, &mut to);
    }
    (from, to)
}

/// A Hearth table as SQL sees it: one row per identity, duplicates merged.
///
/// The plan is made for each scan (every execution of a prepared statement plans it again), from
/// one snapshot of the buffer and then the files: rows at times only one file covers are read
/// as they are; rows inside the merge intervals (see [`merge_intervals`]) go, with the buffered
/// rows, through the merging aggregate.
#[derive(Debug)]
pub struct TsTable {
    table: Arc<Table>,
    raw: Arc<RawTable>,
    retention: Option<std::time::Duration>,
    schema: SchemaRef,
}

/// Most time intervals a scan splits its merge on; more are joined into fewer, wider ones
/// (merging more rows than needed is always correct).
const MAX_MERGE_INTERVALS: usize = 32;

/// The times at which more than one source may hold a row of one identity, as sorted, disjoint,
/// inclusive intervals (microseconds): where two files' time ranges overlap, and each buffered
/// write's whole range (the buffer may repeat an identity; a file overlapping such a range
/// meets it there). Outside these intervals each time is covered by one file at most, and a
/// persisted file holds each identity once, so those rows need no merging.
pub(crate) fn merge_intervals(files: &[FileMeta], buffered: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut intervals: Vec<(i64, i64)> = buffered.to_vec();
    let mut ranges: Vec<(i64, i64)> = files.iter().map(|f| (f.min_time, f.max_time)).collect();
    ranges.sort_unstable();
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            if b.0 > a.1 {
                break;
            }
            intervals.push((b.0, a.1.min(b.1)));
        }
    }
    intervals.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(intervals.len());
    for (lo, hi) in intervals {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    while merged.len() > MAX_MERGE_INTERVALS {
        // Join the two intervals with the smallest gap between them.
        let at = (1..merged.len())
            .min_by_key(|&i| merged[i].0.saturating_sub(merged[i - 1].1))
            .expect("more than one interval");
        merged[at - 1].1 = merged[at].1;
        merged.remove(at);
    }
    merged
}

/// A `time` literal.
pub(crate) fn time_literal(micros: i64) -> Expr {
    Expr::Literal(
        ScalarValue::TimestampMicrosecond(Some(micros), Some(TIME_ZONE.into())),
        None,
    )
}

/// `time` within one of `intervals` (`inside`), or outside all of them.
fn time_in(intervals: &[(i64, i64)], inside: bool) -> Option<Expr> {
    let time = || ident(TIME_COLUMN);
    if inside {
        let parts = intervals.iter().map(|&(lo, hi)| {
            time()
                .gt_eq(time_literal(lo))
                .and(time().lt_eq(time_literal(hi)))
        });
        return disjunction(parts);
    }
    // The gaps before, between and after the intervals.
    let mut parts = Vec::with_capacity(intervals.len() + 1);
    let mut after: Option<i64> = None;
    for &(lo, hi) in intervals {
        let below = time().lt(time_literal(lo));
        parts.push(match after {
            None => below,
            Some(prev) => time().gt(time_literal(prev)).and(below),
        });
        after = Some(hi);
    }
    if let Some(prev) = after {
        parts.push(time().gt(time_literal(prev)));
    }
    disjunction(parts)
}

impl TsTable {
    /// The table's name.
    pub fn name(&self) -> &str {
        self.table.name()
    }

    /// The merged view over `raw`; with a `retention` period, rows older than it (by their
    /// time, against `now()` of each execution) are not part of the view.
    pub fn try_new(
        table: Arc<Table>,
        raw: Arc<RawTable>,
        retention: Option<std::time::Duration>,
    ) -> Result<TsTable> {
        let schema = raw.file_schema.clone();
        let ts = TsTable {
            table,
            raw,
            retention,
            schema: Arc::new(datafusion::arrow::datatypes::Schema::empty()),
        };
        // The schema SQL sees is the merged plan's (nullability as the aggregate gives it).
        let merged = ts.merged_plan(ts.raw.clone(), None)?;
        let schema_seen = Arc::new(merged.schema().as_arrow().clone());
        let hidden = usize::from(ts.raw.table_schema.is_sql_table());
        debug_assert_eq!(schema_seen.fields().len() + hidden, schema.fields().len());
        Ok(TsTable {
            schema: schema_seen,
            ..ts
        })
    }

    /// Whether the table was created with `CREATE TABLE` (its `time` hidden).
    pub fn is_sql_table(&self) -> bool {
        self.raw.is_sql_table()
    }

    /// Where the latest rows per series of this table are kept, if anywhere.
    pub fn last_source(&self) -> Option<&LastSource> {
        self.raw.last_source()
    }

    fn retention_filter(&self, plan: LogicalPlanBuilder) -> Result<LogicalPlanBuilder> {
        let Some(keep) = self.retention else {
            return Ok(plan);
        };
        let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
        let since = datafusion::functions::datetime::expr_fn::now()
            - Expr::Literal(ScalarValue::DurationMicrosecond(Some(keep)), None);
        plan.filter(ident(TIME_COLUMN).gt_eq(since))
    }

    fn columns(&self) -> Vec<Expr> {
        self.raw
            .table_schema
            .visible_columns()
            .map(|c| ident(c.name.as_str()))
            .collect()
    }

    /// The scan of `raw`, its rows restricted to `only` and to the retention period.
    fn scan_of(&self, raw: Arc<RawTable>, only: Option<Expr>) -> Result<LogicalPlanBuilder> {
        let mut plan = LogicalPlanBuilder::scan(self.table.name(), provider_as_source(raw), None)?;
        if let Some(only) = only {
            plan = plan.filter(only)?;
        }
        self.retention_filter(plan)
    }

    /// `raw` merged: per identity, each field's latest value by rank (rows restricted to
    /// `only`: an identity includes its time, so a time condition keeps or drops all its rows).
    /// In a SQL table the latest row of a key replaces the others whole, NULLs included.
    fn merged_plan(&self, raw: Arc<RawTable>, only: Option<Expr>) -> Result<LogicalPlan> {
        let schema = &self.raw.table_schema;
        let by_rank = vec![ident(RANK).sort(true, false)];
        let nulls = if schema.is_sql_table() {
            NullTreatment::RespectNulls
        } else {
            NullTreatment::IgnoreNulls
        };
        let mut group: Vec<Expr> = Vec::new();
        let mut aggregates: Vec<Expr> = Vec::new();
        for c in schema.columns() {
            match c.kind {
                ColumnKind::Tag | ColumnKind::Key(_) | ColumnKind::Time => {
                    group.push(ident(c.name.as_str()))
                }
                ColumnKind::Field(_) => aggregates.push(
                    last_value_udaf()
                        .call(vec![ident(c.name.as_str())])
                        .order_by(by_rank.clone())
                        .null_treatment(nulls)
                        .build()?
                        .alias(c.name.as_str()),
                ),
            }
        }
        self.scan_of(raw, only)?
            .aggregate(group, aggregates)?
            .project(self.columns())?
            .build()
    }

    /// `raw` as it is (its rows within `only` hold each identity once).
    fn plain_plan(&self, raw: Arc<RawTable>, only: Option<Expr>) -> Result<LogicalPlan> {
        self.scan_of(raw, only)?.project(self.columns())?.build()
    }

    /// The earliest and latest time of the table's rows, files and buffer, and how many rows
    /// the files and buffer hold (duplicates counted); `None` for a table without rows.
    pub fn extent(&self) -> Result<Option<(i64, i64, u64)>> {
        // Counted as written: aligning and ranking the rows would only be thrown away.
        let buffered = self.raw.buffered_writes(i64::MIN, i64::MAX)?;
        let files = self.table.state().files;
        let mut rows: u64 = buffered.iter().map(|w| w.rows.num_rows() as u64).sum();
        let mut range: Option<(i64, i64)> = None;
        let mut widen = |(lo, hi): (i64, i64)| {
            range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        };
        for f in &files {
            rows += f.rows;
            widen((f.min_time, f.max_time));
        }
        for w in buffered {
            widen(w.range);
        }
        Ok(range.map(|(lo, hi)| (lo, hi, rows)))
    }

    /// The plan of the table's rows now: see the type's documentation.
    pub fn plan_now(&self, filters: &[Expr]) -> Result<LogicalPlan> {
        let (from, to) = time_bounds(filters);
        let (buffered, buffer_ranges) = self.raw.buffer_batches(from, to)?;
        let files: Vec<FileMeta> = self
            .table
            .state()
            .files
            .into_iter()
            .filter(|f| f.max_time >= from && f.min_time <= to)
            .collect();
        let intervals = merge_intervals(&files, &buffer_ranges);
        let touching = |f: &FileMeta| -> Vec<(i64, i64)> {
            intervals
                .iter()
                .filter(|&&(lo, hi)| lo <= f.max_time && f.min_time <= hi)
                .copied()
                .collect()
        };
        let within = |f: &FileMeta| {
            intervals
                .iter()
                .any(|&(lo, hi)| lo <= f.min_time && f.max_time <= hi)
        };
        // Files apart from every interval are read whole; files reaching into some are read
        // outside them (a condition only on the intervals they reach); the rest is merged.
        let (mut apart, mut cut, mut cut_at, mut merged) = (vec![], vec![], vec![], vec![]);
        for f in files {
            let at = touching(&f);
            if at.is_empty() {
                apart.push(f);
                continue;
            }
            if !within(&f) {
                cut.push(f.clone());
                cut_at.extend(at);
            }
            merged.push(f);
        }
        cut_at.sort_unstable();
        cut_at.dedup();
        let mut parts = Vec::new();
        for (files, only) in [(apart, None), (cut, time_in(&cut_at, false))] {
            if !files.is_empty() {
                let raw = Arc::new(self.raw.with_contents(files, Vec::new(), false));
                parts.push(self.plain_plan(raw, only)?);
            }
        }
        if !intervals.is_empty() || parts.is_empty() {
            let raw = Arc::new(self.raw.with_contents(merged, buffered, true));
            parts.push(self.merged_plan(raw, time_in(&intervals, true))?);
        }
        let mut parts = parts.into_iter();
        let mut plan = LogicalPlanBuilder::from(parts.next().expect("at least one part"));
        for part in parts {
            plan = plan.union(part)?;
        }
        plan.build()
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
        let mut builder = LogicalPlanBuilder::from(self.plan_now(filters)?);
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
        crate::engine::plan_inner(state, &builder.build()?).await
    }
}
