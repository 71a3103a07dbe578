//! "The newest N": queries ordered by time (or a time bucket) descending with a limit read the
//! newest data they need, not all data before their end.
//!
//! ```sql
//! SELECT date_trunc('minute', time) AS minute, max(usage_user) FROM cpu WHERE time < $end
//! GROUP BY minute ORDER BY minute DESC LIMIT 5;
//! SELECT * FROM cpu WHERE hostname = 'host_7' ORDER BY time DESC LIMIT 10;
//! ```
//!
//! [`RecentRule`] finds a sort with a fetch (`ORDER BY ... LIMIT n [OFFSET m]`, which DataFusion
//! plans as a sort keeping n + m rows) whose first key is, descending, `time` or a bucket of it
//! (`date_trunc(unit, time)`, `date_bin(stride, time[, origin])`, `time_bucket(stride, time)`),
//! over projections, filters and at most one aggregate grouping by that key, over a Hearth
//! table. It puts a [`RecentTable`] under the sort, which runs that input with `time >= lo` for
//! a bucket boundary `lo` a little before the newest data, and widens the window (four times
//! each round) until the input yields n + m rows, or reads everything once the window covers all
//! data.
//!
//! Why that is the same answer: a bucket function `b` is monotonic with `b(t) <= t`, so for a
//! boundary `lo = b(lo)`, `t >= lo` exactly when `b(t) >= lo`. Every row (or group) with a key at
//! or after `lo` is then complete under the bound: a group's rows share its key, so all of them
//! pass. Every row or group left out has a key before `lo`, so it sorts after all that were kept.
//! Once n + m of them are kept, the first n + m of the full answer are among them, whatever
//! filters, `HAVING` conditions and aggregates lie in between.

use std::any::Any;
use std::sync::Arc;

use std::fmt;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result, ScalarValue, internal_err};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, Sort, SortExpr, TableScan, TableType,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, collect,
};
use futures::TryStreamExt;
use hearth_catalog::schema::TIME_COLUMN;

use crate::provider::{TsTable, time_bounds, time_literal};

/// How much wider each round's window is than the last one's. Wider rounds mean fewer of them,
/// at the risk of reading up to this many times the rows needed in the last one.
const WIDEN: i64 = 4;

/// Rewrites newest-first queries to read from [`RecentTable`] (see the module).
#[derive(Debug, Default)]
pub struct RecentRule;

impl OptimizerRule for RecentRule {
    fn name(&self) -> &str {
        "hearth_recent"
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_down(|node| match node {
            LogicalPlan::Sort(sort) if sort.fetch.is_some() => rewrite(sort),
            other => Ok(Transformed::no(other)),
        })
    }
}

/// The name the rewritten input is scanned under (its columns are aliased back to theirs).
const SCAN_NAME: &str = "__recent";

fn rewrite(sort: Sort) -> Result<Transformed<LogicalPlan>> {
    let unchanged = |sort| Ok(Transformed::no(LogicalPlan::Sort(sort)));
    let (Some(fetch), Some(first)) = (sort.fetch, sort.expr.first()) else {
        return unchanged(sort);
    };
    if first.asc || fetch == 0 {
        return unchanged(sort);
    }
    let Some((key, scan)) = trace(&first.expr, &sort.input, false) else {
        return unchanged(sort);
    };
    if !is_bucket_of_time(&key) {
        return unchanged(sort);
    }
    let Ok(provider) = source_as_provider(&scan.source) else {
        return unchanged(sort);
    };
    let is_ts_table = (provider.as_ref() as &dyn Any).is::<TsTable>();
    if !is_ts_table {
        return unchanged(sort);
    }
    let input_schema = sort.input.schema().clone();
    let fields: Vec<Field> = input_schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| Field::new(format!("c{i}"), f.data_type().clone(), f.is_nullable()))
        .collect();
    let newest = Newest {
        input: sort.input.as_ref().clone(),
        sort: sort.expr.clone(),
        fetch,
        key,
        scan_filters: scan.filters.clone(),
        table: provider,
        schema: Arc::new(Schema::new(fields)),
    };
    let table = RecentTable {
        newest: Arc::new(newest),
    };
    // The scan's columns under their names in the input, qualifiers included, so the plan above
    // sees the same schema.
    let columns = input_schema.iter().enumerate().map(|(i, (qualifier, f))| {
        Expr::Column(Column::new(Some(SCAN_NAME), format!("c{i}")))
            .alias_qualified(qualifier.cloned(), f.name())
    });
    let input = LogicalPlanBuilder::scan(SCAN_NAME, provider_as_source(Arc::new(table)), None)?
        .project(columns)?
        .build()?;
    Ok(Transformed::yes(LogicalPlan::Sort(Sort {
        input: Arc::new(input),
        ..sort
    })))
}

/// `expr` (over `plan`'s output) in terms of the columns of the Hearth table scan at the bottom
/// of `plan`, with that scan; `None` unless everything between is projections, filters, aliases
/// and at most one aggregate, which groups by everything `expr` uses (`aggregated`: one was
/// passed already).
fn trace<'a>(
    expr: &Expr,
    plan: &'a LogicalPlan,
    aggregated: bool,
) -> Option<(Expr, &'a TableScan)> {
    match plan {
        LogicalPlan::TableScan(scan) if scan.fetch.is_none() => Some((expr.clone(), scan)),
        LogicalPlan::Projection(p) => {
            if p.expr.iter().any(has_subquery) {
                return None;
            }
            let e = substitute(expr, &p.schema, |i| Some(p.expr[i].clone().unalias()))?;
            trace(&e, &p.input, aggregated)
        }
        LogicalPlan::Filter(f) if !has_subquery(&f.predicate) => trace(expr, &f.input, aggregated),
        LogicalPlan::SubqueryAlias(s) => {
            let below = s.input.schema();
            let e = substitute(expr, &s.schema, |i| {
                Some(Expr::Column(Column::from(below.qualified_field(i))))
            })?;
            trace(&e, &s.input, aggregated)
        }
        LogicalPlan::Aggregate(a) if !aggregated => {
            if a.group_expr
                .iter()
                .any(|g| matches!(g, Expr::GroupingSet(_)))
            {
                return None;
            }
            // Only grouping columns: an aggregate's value is no key of time.
            let e = substitute(expr, &a.schema, |i| {
                a.group_expr.get(i).map(|g| g.clone().unalias())
            })?;
            trace(&e, &a.input, true)
        }
        _ => None,
    }
}

/// `expr` with each column of `schema` replaced by `of(its index)`; `None` if one has none.
fn substitute(expr: &Expr, schema: &DFSchema, of: impl Fn(usize) -> Option<Expr>) -> Option<Expr> {
    let mut missing = false;
    let replaced = expr
        .clone()
        .transform_up(|e| match e {
            Expr::Column(c) => match schema.maybe_index_of_column(&c).and_then(&of) {
                Some(below) => Ok(Transformed::yes(below)),
                None => {
                    missing = true;
                    Ok(Transformed::new(
                        Expr::Column(c),
                        false,
                        TreeNodeRecursion::Stop,
                    ))
                }
            },
            other => Ok(Transformed::no(other)),
        })
        .ok()?
        .data;
    (!missing).then_some(replaced)
}

fn has_subquery(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(matches!(
            e,
            Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
        ))
    })
    .unwrap_or(true)
}

fn is_time(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == TIME_COLUMN)
}

/// `time`, or `time` cast to another timestamp type (a finer unit, as type coercion makes it
/// for a nanosecond origin, which keeps every value).
fn is_time_cast(e: &Expr) -> bool {
    match e {
        Expr::Cast(c) => matches!(c.field.data_type(), DataType::Timestamp(..)) && is_time(&c.expr),
        e => is_time(e),
    }
}

fn is_literal(e: &Expr) -> bool {
    matches!(e, Expr::Literal(..))
}

/// Whether `e` is `time` or one of the bucket functions known to be monotonic with
/// `b(t) <= t`, of `time` and constants (a time zone argument, which makes buckets follow a
/// wall clock that goes back in autumn, is not one of them).
fn is_bucket_of_time(e: &Expr) -> bool {
    if is_time(e) {
        return true;
    }
    let Expr::ScalarFunction(f) = e else {
        return false;
    };
    match (f.name(), f.args.as_slice()) {
        ("date_trunc", [unit, t]) => is_literal(unit) && is_time_cast(t),
        ("date_bin", [stride, t]) | ("time_bucket", [stride, t]) => {
            is_literal(stride) && is_time_cast(t)
        }
        ("date_bin", [stride, t, origin]) => {
            is_literal(stride) && is_time_cast(t) && is_literal(origin)
        }
        _ => false,
    }
}

/// The input of a newest-first sort, read newest data first (see the module).
#[derive(Debug)]
pub struct RecentTable {
    newest: Arc<Newest>,
}

/// What [`RecentTable`] reads, and how.
#[derive(Debug)]
struct Newest {
    /// The plan under the sort, over a scan of a [`TsTable`].
    input: LogicalPlan,
    /// The sort, on `input`'s columns.
    sort: Vec<SortExpr>,
    /// How many rows the sort keeps.
    fetch: usize,
    /// The first sort key: a bucket of the scan's `time`.
    key: Expr,
    /// The filters pushed into the scan (where the query's time bounds are).
    scan_filters: Vec<Expr>,
    /// The table scanned (a [`TsTable`]).
    table: Arc<dyn TableProvider>,
    /// `input`'s schema, columns named by position.
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for RecentTable {
    fn schema(&self) -> SchemaRef {
        self.newest.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(state) = state.as_any().downcast_ref::<SessionState>() else {
            return internal_err!("a newest-first scan needs a DataFusion session state");
        };
        let schema = match projection {
            Some(p) => Arc::new(self.newest.schema.project(p)?),
            None => self.newest.schema.clone(),
        };
        Ok(Arc::new(RecentExec {
            newest: self.newest.clone(),
            state: Arc::new(state.clone()),
            projection: projection.cloned(),
            metrics: ExecutionPlanMetricsSet::new(),
            properties: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema.clone()),
                Partitioning::UnknownPartitioning(1),
                EmissionType::Final,
                Boundedness::Bounded,
            )),
            schema,
        }))
    }
}

/// Runs [`Newest`] when executed (not when planned, so that `EXPLAIN` reads nothing and the
/// statement timeout covers the reading). Its metrics count the windows read (`rounds`) and the
/// Parquet bytes they read (`bytes_scanned`, which `system.queries` sums).
#[derive(Debug)]
struct RecentExec {
    newest: Arc<Newest>,
    state: Arc<SessionState>,
    projection: Option<Vec<usize>>,
    metrics: ExecutionPlanMetricsSet,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl DisplayAs for RecentExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "RecentExec: newest {} rows by {}",
            self.newest.fetch, self.newest.key
        )
    }
}

impl ExecutionPlan for RecentExec {
    fn name(&self) -> &str {
        "RecentExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return internal_err!("RecentExec has no inputs");
        }
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("RecentExec has one partition, not {partition}");
        }
        let (newest, state) = (self.newest.clone(), self.state.clone());
        let (schema, projection) = (self.schema.clone(), self.projection.clone());
        let out = schema.clone();
        let read = Read {
            rounds: MetricBuilder::new(&self.metrics).global_counter("rounds"),
            bytes: MetricBuilder::new(&self.metrics).global_counter("bytes_scanned"),
        };
        let batches = futures::stream::once(async move {
            let rows = newest.newest(state.as_ref(), &read).await?;
            rows.into_iter()
                .map(|b| {
                    let columns = match &projection {
                        Some(p) => p.iter().map(|&i| b.column(i).clone()).collect(),
                        None => b.columns().to_vec(),
                    };
                    Ok(RecordBatch::try_new(out.clone(), columns)?)
                })
                .collect::<Result<Vec<_>>>()
        })
        .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

/// What the windows read, counted into [`RecentExec`]'s metrics.
struct Read {
    rounds: Count,
    bytes: Count,
}

impl Newest {
    /// The first `fetch` rows of the sorted input, from the narrowest window that holds them.
    async fn newest(&self, state: &dyn Session, read: &Read) -> Result<Vec<RecordBatch>> {
        let table = (self.table.as_ref() as &dyn Any).downcast_ref::<TsTable>();
        let Some((min_time, max_time, rows)) = table.map(TsTable::extent).transpose()?.flatten()
        else {
            return self.rows_since(state, None, read).await;
        };
        let (from, to) = time_bounds(&self.scan_filters);
        let (start, end) = (from.max(min_time), to.min(max_time));
        let bucket = Bucket {
            key: &self.key,
            state,
        };
        let (Some(width), true) = (bucket.width_before(end), start < end) else {
            return self.rows_since(state, None, read).await;
        };
        // Enough for `fetch` buckets, or rows, at the table's average spacing; twice that.
        let spacing = (max_time - min_time) / i64::try_from(rows.max(1)).unwrap_or(i64::MAX);
        let fetch = i64::try_from(self.fetch).unwrap_or(i64::MAX);
        let mut span = fetch
            .saturating_mul(width.max(spacing).max(1))
            .saturating_mul(2);
        loop {
            let lo = match bucket.boundary_at_or_before(end.saturating_sub(span)) {
                Some(lo) if lo > start => lo,
                // The window covers everything, or the bucket did not behave: read it all.
                _ => return self.rows_since(state, None, read).await,
            };
            let batches = self.rows_since(state, Some(lo), read).await?;
            if batches.iter().map(RecordBatch::num_rows).sum::<usize>() >= self.fetch {
                return Ok(batches);
            }
            span = span.saturating_mul(WIDEN);
        }
    }

    /// The sorted input's first `fetch` rows, of rows at or after `since` only.
    async fn rows_since(
        &self,
        state: &dyn Session,
        since: Option<i64>,
        read: &Read,
    ) -> Result<Vec<RecordBatch>> {
        let input = match since {
            None => self.input.clone(),
            Some(lo) => {
                self.input
                    .clone()
                    .transform_up(|node| match node {
                        LogicalPlan::TableScan(mut scan) => {
                            scan.filters.push(
                                Expr::Column(Column::new_unqualified(TIME_COLUMN))
                                    .gt_eq(time_literal(lo)),
                            );
                            Ok(Transformed::new(
                                LogicalPlan::TableScan(scan),
                                true,
                                TreeNodeRecursion::Stop,
                            ))
                        }
                        other => Ok(Transformed::no(other)),
                    })?
                    .data
            }
        };
        let sorted = LogicalPlan::Sort(Sort {
            expr: self.sort.clone(),
            input: Arc::new(input),
            fetch: Some(self.fetch),
        });
        // Planned as it is: the input was optimized with the query, and optimizing again
        // would apply this rewrite to it once more.
        let plan = crate::engine::plan_optimized(state, &sorted).await?;
        let rows = collect(plan.clone(), state.task_ctx()).await;
        read.rounds.add(1);
        read.bytes
            .add(usize::try_from(crate::queries::bytes_scanned(&plan)).unwrap_or(usize::MAX));
        rows
    }
}

/// A bucket function of time, evaluated on single instants.
struct Bucket<'a> {
    key: &'a Expr,
    state: &'a dyn Session,
}

impl Bucket<'_> {
    /// The bucket holding `t` (microseconds), if the function gives one.
    fn at(&self, t: i64) -> Option<i64> {
        let at_t = self
            .key
            .clone()
            .transform(|e| match e {
                Expr::Column(c) if c.name == TIME_COLUMN => Ok(Transformed::yes(time_literal(t))),
                other => Ok(Transformed::no(other)),
            })
            .ok()?
            .data;
        let expr = self
            .state
            .create_physical_expr(at_t, &DFSchema::empty())
            .ok()?;
        let one_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )
        .ok()?;
        let value = expr.evaluate(&one_row).ok()?.to_array(1).ok()?;
        match ScalarValue::try_from_array(&value, 0).ok()? {
            ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000),
            ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000),
            ScalarValue::TimestampMicrosecond(Some(v), _) => Some(v),
            ScalarValue::TimestampNanosecond(Some(v), _) => Some(v.div_euclid(1_000)),
            _ => None,
        }
    }

    /// The start of the bucket holding `t`, if it is a boundary (`b(b(t)) = b(t) <= t`).
    fn boundary_at_or_before(&self, t: i64) -> Option<i64> {
        let b = self.at(t)?;
        (b <= t && self.at(b) == Some(b)).then_some(b)
    }

    /// The length of the bucket before the one holding `t`.
    fn width_before(&self, t: i64) -> Option<i64> {
        let b = self.at(t)?;
        let before = self.at(b.checked_sub(1)?)?;
        (before < b).then(|| b - before)
    }
}
