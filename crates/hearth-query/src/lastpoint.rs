//! "The latest row of every series" and "the latest value of each field per series" from the
//! cache the write path maintains (`hearth_storage::last`), instead of scanning the table.
//!
//! [`LastPointRule`] rewrites two shapes of query.
//!
//! ```sql
//! SELECT DISTINCT ON (hostname) * FROM cpu [WHERE <tags> | time >= ...] ORDER BY hostname, time DESC
//! ```
//!
//! (any tags in `DISTINCT ON`, `time DESC` right after them) reads [`LastPointTable`]: the
//! latest row of each series. That is the same answer: the first row of a group ordered by time
//! descending is the latest row of one of the group's series, and a filter on tags keeps or drops
//! whole series, as does a lower bound on time (a series whose latest row is older has no later
//! row). The scan applies those conditions and keeps the first row of each group itself
//! (`FirstRows`): a sort and one pass over at most one row per series.
//!
//! ```sql
//! SELECT <tags>, last(f, time), ... FROM t [WHERE <tags> | time >= ...] GROUP BY <tags>
//! ```
//!
//! (only `last` of fields) reads each field's latest value and its time per series: the latest
//! non-NULL value of a group is the latest of its series' latest values, and a lower bound on
//! time becomes, per aggregate, the same bound on that value's own time (`FILTER`).
//!
//! Anything else (a bound from above, conditions on fields, expressions, other aggregates)
//! keeps the plan as it is. The first such query of a table builds its cache with one scan;
//! later ones read only the cache.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, filter_record_batch, lexsort_to_indices, partition, take,
    take_record_batch,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, DataFusionError, Result};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    BinaryExpr, Distinct, DistinctOn, Expr, LogicalPlan, LogicalPlanBuilder, Operator, Projection,
    Sort, SortExpr, TableType,
};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::StreamExt;
use hearth_catalog::schema::{ColumnKind, TIME_COLUMN, TableSchema};
use hearth_storage::last::LastCache;

use crate::provider::TsTable;

/// What [`LastPointTable`] needs of the table it stands for.
#[derive(Debug, Clone)]
pub struct LastSource {
    /// The database and table.
    pub db: String,
    pub table: String,
    /// The table's schema when planned.
    pub schema: TableSchema,
    /// The cache of every table.
    pub cache: Arc<LastCache>,
    /// The retention period of the database.
    pub retention: Option<std::time::Duration>,
}

/// The latest row of every series of a table, with the table's columns; or, with
/// `latest_fields`, each field's latest value and its time (see `TableLast::latest_fields`).
#[derive(Debug)]
pub struct LastPointTable {
    source: LastSource,
    /// The table as queries see it, to build the cache from.
    table_plan: LogicalPlan,
    schema: SchemaRef,
    latest_fields: bool,
    /// For `DISTINCT ON`: which of the latest rows to return.
    first_rows: Option<FirstRows>,
}

/// The rows a `DISTINCT ON` over the latest rows of the series returns, computed in the scan:
/// the rows meeting `conditions` (on whole series), then of each group of equal `on` values
/// the first in `order`. Expressions name columns without qualifiers.
#[derive(Debug, Clone)]
struct FirstRows {
    conditions: Vec<Expr>,
    /// Empty when every row is a group of its own (`DISTINCT ON` every tag).
    on: Vec<Expr>,
    /// The query's `ORDER BY`, then the tags (so that ties are broken the same every time).
    order: Vec<SortExpr>,
}

impl FirstRows {
    fn apply(&self, state: &dyn Session, batch: RecordBatch) -> Result<RecordBatch> {
        let schema = Arc::new(DFSchema::try_from(batch.schema().as_ref().clone())?);
        // The conditions were taken before DataFusion simplified them: `now()` and the like
        // become this query's values here.
        let simplifier = ExprSimplifier::new(
            SimplifyContext::builder()
                .with_schema(schema.clone())
                .with_query_execution_start_time(state.execution_props().query_execution_start_time)
                .with_config_options(state.config().options().clone())
                .build(),
        );
        let eval = |e: &Expr, batch: &RecordBatch| -> Result<ArrayRef> {
            state
                .create_physical_expr(simplifier.simplify(e.clone())?, &schema)?
                .evaluate(batch)?
                .into_array(batch.num_rows())
        };
        let batch = match conjunction(self.conditions.iter().cloned()) {
            Some(condition) => {
                let keep = eval(&condition, &batch)?;
                let keep = keep.as_boolean_opt().ok_or_else(|| {
                    DataFusionError::Internal(format!("condition {condition} is not boolean"))
                })?;
                filter_record_batch(&batch, keep)?
            }
            None => batch,
        };
        if self.on.is_empty() || batch.num_rows() == 0 {
            return Ok(batch);
        }
        let sort_columns = self
            .order
            .iter()
            .map(|s| {
                Ok(SortColumn {
                    values: eval(&s.expr, &batch)?,
                    options: Some(SortOptions::new(!s.asc, s.nulls_first)),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let order = lexsort_to_indices(&sort_columns, None)?;
        let groups = self
            .on
            .iter()
            .map(|e| Ok(take(&eval(e, &batch)?, &order, None)?))
            .collect::<Result<Vec<_>>>()?;
        let first: UInt32Array = partition(&groups)?
            .ranges()
            .into_iter()
            .map(|r| order.value(r.start))
            .collect();
        Ok(take_record_batch(&batch, &first)?)
    }
}

#[async_trait]
impl TableProvider for LastPointTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
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
        let s = &self.source;
        let last = s.cache.table(&s.db, &s.table);
        last.ready(async {
            let plan = crate::engine::plan_inner(state, &self.table_plan).await?;
            let mut rows = execute_stream(plan, state.task_ctx())?;
            while let Some(batch) = rows.next().await {
                last.observe_table_rows(&batch?, &s.schema);
            }
            Ok::<(), datafusion::error::DataFusionError>(())
        })
        .await?;
        let since = s.retention.map_or(i64::MIN, |keep| {
            let now = chrono::Utc::now().timestamp_micros();
            now.saturating_sub(i64::try_from(keep.as_micros()).unwrap_or(i64::MAX))
        });
        let rows = if self.latest_fields {
            last.latest_fields(&s.schema, since)?
        } else {
            last.rows(&s.schema, since)?
        };
        let mut batch = RecordBatch::try_new(self.schema.clone(), rows.columns().to_vec())?;
        if let Some(first) = &self.first_rows {
            batch = first.apply(state, batch)?;
        }
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}

/// Rewrites latest-row-per-series queries to [`LastPointTable`] (see the module).
#[derive(Debug, Default)]
pub struct LastPointRule;

impl OptimizerRule for LastPointRule {
    fn name(&self) -> &str {
        "hearth_lastpoint"
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_down(|node| match node {
            LogicalPlan::Distinct(Distinct::On(d)) => rewrite(d),
            LogicalPlan::Aggregate(a) => rewrite_last_values(a),
            other => Ok(Transformed::no(other)),
        })
    }
}

/// The column `e` names, through casts.
fn column(e: &Expr) -> Option<&Column> {
    match e {
        Expr::Column(c) => Some(c),
        Expr::Cast(c) => column(&c.expr),
        _ => None,
    }
}

/// Whether `c` bounds `time` from below by a value without columns (`time >(=) x`,
/// `x <(=) time`).
fn is_lower_time_bound(c: &Expr) -> bool {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = c else {
        return false;
    };
    let is_time = |e: &Expr| column(e).is_some_and(|c| c.name == TIME_COLUMN);
    (is_time(left) && matches!(op, Operator::Gt | Operator::GtEq) && right.column_refs().is_empty())
        || (is_time(right)
            && matches!(op, Operator::Lt | Operator::LtEq)
            && left.column_refs().is_empty())
}

/// Whether a condition keeps or drops whole series only: on tags alone, or `time >(=) c`.
fn per_series(condition: &Expr, schema: &TableSchema) -> bool {
    split_conjunction(condition).into_iter().all(|c| {
        let tags_only = c
            .column_refs()
            .iter()
            .all(|r| schema.kind(&r.name) == Some(ColumnKind::Tag));
        !c.is_volatile() && (tags_only || is_lower_time_bound(c))
    })
}

fn rewrite(d: DistinctOn) -> Result<Transformed<LogicalPlan>> {
    let n = d.on_expr.len();
    let ordered_by_latest = d.sort_expr.as_ref().is_some_and(|sorts| {
        sorts.len() > n
            && !sorts[n].asc
            && column(&sorts[n].expr).is_some_and(|c| c.name == TIME_COLUMN)
    });
    if !ordered_by_latest || d.on_expr.iter().any(|e| column(e).is_none()) {
        return Ok(Transformed::no(LogicalPlan::Distinct(Distinct::On(d))));
    }
    let tags: Vec<String> = table_schema_below(&d.input).map_or_else(Vec::new, |schema| {
        schema
            .columns()
            .iter()
            .filter(|c| c.kind == ColumnKind::Tag)
            .map(|c| c.name.clone())
            .collect()
    });
    let every_tag = tags.iter().all(|tag| {
        d.on_expr
            .iter()
            .any(|e| column(e).is_some_and(|c| &c.name == tag))
    });
    let sorts = d.sort_expr.clone().unwrap_or_default();
    // Over the latest row of each series, the scan itself keeps the first row of each group:
    // DataFusion's `first_value` per column, or `row_number` per group, cost milliseconds at
    // 1 000 series. `DISTINCT ON` every tag: each group is one row already (a series is its
    // tags, NULLs included).
    let mut first = FirstRows {
        conditions: Vec::new(),
        on: if every_tag {
            Vec::new()
        } else {
            d.on_expr.iter().cloned().map(unnormalize_col).collect()
        },
        order: sorts
            .iter()
            .map(|s| s.with_expr(unnormalize_col(s.expr.clone())))
            .chain(
                tags.iter()
                    .map(|t| Expr::Column(Column::from_name(t)).sort(true, true)),
            )
            .collect(),
    };
    let Some(input) = replace_scan(d.input.as_ref(), &d.on_expr, &mut first)? else {
        return Ok(Transformed::no(LogicalPlan::Distinct(Distinct::On(d))));
    };
    let sorted = LogicalPlan::Sort(Sort {
        expr: sorts,
        input: Arc::new(input),
        fetch: None,
    });
    Ok(Transformed::yes(LogicalPlan::Projection(
        Projection::try_new_with_schema(d.select_expr.clone(), Arc::new(sorted), d.schema.clone())?,
    )))
}

/// The conjuncts of a condition that bound `time` from below.
fn lower_time_bounds(condition: &Expr) -> Vec<Expr> {
    split_conjunction(condition)
        .into_iter()
        .filter(|c| is_lower_time_bound(c))
        .cloned()
        .collect()
}

/// `last(field, time)` of the table, if `e` is exactly that: the field's column.
fn last_of_field<'a>(e: &'a Expr, schema: &TableSchema) -> Option<&'a Column> {
    let Expr::AggregateFunction(f) = e else {
        return None;
    };
    let p = &f.params;
    if f.func.name() != "last"
        || p.distinct
        || p.filter.is_some()
        || !p.order_by.is_empty()
        || p.null_treatment.is_some()
    {
        return None;
    }
    match p.args.as_slice() {
        [Expr::Column(value), Expr::Column(time)]
            if time.name == TIME_COLUMN
                && matches!(schema.kind(&value.name), Some(ColumnKind::Field(_))) =>
        {
            Some(value)
        }
        _ => None,
    }
}

/// `SELECT <tags>, last(f, time), ... FROM t [WHERE <tags> | time >= ...] GROUP BY <tags>`
/// read from each field's latest value per series: the latest non-NULL value of a group is the
/// latest of its series' latest values, and a lower time bound becomes a bound on each value's
/// own time.
fn rewrite_last_values(a: datafusion::logical_expr::Aggregate) -> Result<Transformed<LogicalPlan>> {
    let unchanged = |a| Ok(Transformed::no(LogicalPlan::Aggregate(a)));
    let Some(schema) = table_schema_below(&a.input) else {
        return unchanged(a);
    };
    let groups_are_tags = a
        .group_expr
        .iter()
        .all(|g| matches!(g, Expr::Column(c) if schema.kind(&c.name) == Some(ColumnKind::Tag)));
    let all_last = !a.aggr_expr.is_empty()
        && a.aggr_expr
            .iter()
            .all(|e| last_of_field(e, &schema).is_some());
    if !groups_are_tags || !all_last {
        return unchanged(a);
    }
    let mut bounds: Vec<Expr> = Vec::new();
    let Some(input) = replace_for_fields(&a.input, &mut bounds)? else {
        return unchanged(a);
    };
    let mut aggr_expr = Vec::with_capacity(a.aggr_expr.len());
    for e in &a.aggr_expr {
        let Expr::AggregateFunction(f) = e else {
            return unchanged(a);
        };
        let Some(value) = last_of_field(e, &schema) else {
            return unchanged(a);
        };
        let value_time = Expr::Column(Column::new(
            value.relation.clone(),
            hearth_storage::last::field_time_column(&value.name),
        ));
        // Each bound on the series' time, as written (casts included), on the value's time.
        let on_value_time = |bound: &Expr| {
            bound
                .clone()
                .transform(|e| match e {
                    Expr::Column(c) if c.name == TIME_COLUMN => {
                        Ok(Transformed::yes(value_time.clone()))
                    }
                    other => Ok(Transformed::no(other)),
                })
                .map(|t| t.data)
        };
        let filter = bounds
            .iter()
            .map(on_value_time)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .reduce(Expr::and)
            .map(Box::new);
        let call =
            Expr::AggregateFunction(datafusion::logical_expr::expr::AggregateFunction::new_udf(
                f.func.clone(),
                vec![Expr::Column(value.clone()), value_time],
                false,
                filter,
                vec![],
                None,
            ));
        aggr_expr.push(call.alias(e.schema_name().to_string()));
    }
    let rewritten = datafusion::logical_expr::Aggregate::try_new(
        Arc::new(input),
        a.group_expr.clone(),
        aggr_expr,
    )?;
    Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)))
}

/// `plan` (filters and aliases over a Hearth table) over the table's latest fields instead,
/// collecting the lower time bounds of its filters; `None` if anything else is in the way.
fn replace_for_fields(plan: &LogicalPlan, bounds: &mut Vec<Expr>) -> Result<Option<LogicalPlan>> {
    if let Some(source) = merged_view(plan) {
        let name = source.table.clone();
        let schema = hearth_storage::last::latest_fields_schema(&source.schema);
        let table = LastPointTable {
            source,
            table_plan: plan.clone(),
            schema,
            latest_fields: true,
            first_rows: None,
        };
        return Ok(Some(
            LogicalPlanBuilder::scan(name, provider_as_source(Arc::new(table)), None)?.build()?,
        ));
    }
    let input = match plan {
        LogicalPlan::SubqueryAlias(s) => replace_for_fields(&s.input, bounds)?,
        LogicalPlan::Filter(f) => {
            let Some(schema) = table_schema_below(&f.input) else {
                return Ok(None);
            };
            if !per_series(&f.predicate, &schema) {
                return Ok(None);
            }
            bounds.extend(lower_time_bounds(&f.predicate));
            replace_for_fields(&f.input, bounds)?
        }
        _ => return Ok(None),
    };
    match input {
        Some(input) => Ok(Some(plan.with_new_exprs(plan.expressions(), vec![input])?)),
        None => Ok(None),
    }
}

/// The Hearth table `plan` scans (a scan of a `TsTable`, before anything was pushed into it),
/// if it is one that keeps latest rows.
fn merged_view(plan: &LogicalPlan) -> Option<LastSource> {
    let LogicalPlan::TableScan(scan) = plan else {
        return None;
    };
    if !scan.filters.is_empty() || scan.projection.is_some() || scan.fetch.is_some() {
        return None;
    }
    let provider = source_as_provider(&scan.source).ok()?;
    let any: &dyn Any = provider.as_ref();
    any.downcast_ref::<TsTable>()?.last_source().cloned()
}

/// `plan` with the merged view of a Hearth table replaced by the table's latest rows, if
/// everything between keeps whole series and the `DISTINCT ON` columns are tags. Filters move
/// into `first`'s conditions (they must hold before the first row of a group is chosen).
fn replace_scan(
    plan: &LogicalPlan,
    on: &[Expr],
    first: &mut FirstRows,
) -> Result<Option<LogicalPlan>> {
    let rebuilt = |input: Option<LogicalPlan>| -> Result<Option<LogicalPlan>> {
        match input {
            Some(input) => Ok(Some(plan.with_new_exprs(plan.expressions(), vec![input])?)),
            None => Ok(None),
        }
    };
    if let Some(source) = merged_view(plan) {
        let tags_only = on
            .iter()
            .filter_map(column)
            .all(|c| source.schema.kind(&c.name) == Some(ColumnKind::Tag));
        if !tags_only {
            return Ok(None);
        }
        let name = source.table.clone();
        let table = LastPointTable {
            source,
            table_plan: plan.clone(),
            schema: Arc::new(plan.schema().as_arrow().clone()),
            latest_fields: false,
            first_rows: Some(first.clone()),
        };
        return Ok(Some(
            LogicalPlanBuilder::scan(name, provider_as_source(Arc::new(table)), None)?.build()?,
        ));
    }
    match plan {
        LogicalPlan::Projection(p) if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) => {
            rebuilt(replace_scan(&p.input, on, first)?)
        }
        LogicalPlan::SubqueryAlias(s) => rebuilt(replace_scan(&s.input, on, first)?),
        LogicalPlan::Filter(f) => {
            let Some(schema) = table_schema_below(&f.input) else {
                return Ok(None);
            };
            if !per_series(&f.predicate, &schema) {
                return Ok(None);
            }
            first.conditions.push(unnormalize_col(f.predicate.clone()));
            replace_scan(&f.input, on, first)
        }
        _ => Ok(None),
    }
}

/// The schema of the Hearth table whose merged view is below single-input nodes.
fn table_schema_below(plan: &LogicalPlan) -> Option<TableSchema> {
    if let Some(source) = merged_view(plan) {
        return Some(source.schema);
    }
    match plan {
        LogicalPlan::Projection(p) => table_schema_below(&p.input),
        LogicalPlan::SubqueryAlias(s) => table_schema_below(&s.input),
        LogicalPlan::Filter(f) => table_schema_below(&f.input),
        _ => None,
    }
}
