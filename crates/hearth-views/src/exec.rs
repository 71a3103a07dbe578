//! The physical plans of a view: partial states computed from the source for some buckets,
//! stored states read from the view's files, and the final aggregate that turns states into
//! the view's rows.
//!
//! ```text
//! reading:  Projection(view columns)
//!             AggregateExec(FinalPartitioned)
//!               Union(KeepTimes(materialized buckets) over Parquet scan of the view's files,
//!                     KeepTimes(pending buckets) over AggregateExec(Partial) over the source)
//! refresh:  AggregateExec(PartialReduce) over AggregateExec(Partial) over the source
//! ```

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, Result, plan_err};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::{conjunction, disjunction};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col, lit};
use datafusion::physical_expr::expressions::{CastExpr, Column as PhysicalColumn};
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
};
use futures::StreamExt;
use hearth_catalog::catalog::FileMeta;
use hearth_catalog::store::Store;
use object_store::ObjectMeta;

use crate::ranges::Ranges;
use crate::shape::{Shape, partial_aggregate, time_scalar};

/// Most intervals of a time condition pushed to the source (more are joined; the exact set is
/// applied to the partial states).
const MAX_SOURCE_INTERVALS: usize = 32;

/// Keeps the rows whose time (column `column`, a microsecond timestamp) is in `keep`.
#[derive(Debug, Clone)]
pub struct KeepTimesExec {
    input: Arc<dyn ExecutionPlan>,
    column: usize,
    keep: Arc<Ranges>,
    properties: Arc<PlanProperties>,
}

impl KeepTimesExec {
    /// `input`'s rows whose column `column` is in `keep`.
    pub fn new(input: Arc<dyn ExecutionPlan>, column: usize, keep: Ranges) -> KeepTimesExec {
        let properties = Arc::new(PlanProperties::new(
            input.equivalence_properties().clone(),
            input.output_partitioning().clone(),
            input.pipeline_behavior(),
            input.boundedness(),
        ));
        KeepTimesExec {
            input,
            column,
            keep: Arc::new(keep),
            properties,
        }
    }
}

impl DisplayAs for KeepTimesExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let shown: Vec<String> = self
            .keep
            .intervals()
            .iter()
            .take(4)
            .map(|(lo, hi)| format!("[{lo}, {hi})"))
            .collect();
        let more = self.keep.intervals().len().saturating_sub(4);
        write!(
            f,
            "KeepTimesExec: {} in {}{}",
            self.input.schema().field(self.column).name(),
            shown.join(" "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    }
}

/// A timestamp array of any unit as microseconds (Int64): bucket functions may answer in
/// nanoseconds, ranges and stored times are microseconds.
pub fn micros_of(times: &ArrayRef) -> Result<ArrayRef> {
    let times = match times.data_type() {
        DataType::Timestamp(unit, tz) if *unit != TimeUnit::Microsecond => cast(
            times,
            &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        )?,
        _ => times.clone(),
    };
    Ok(cast(&times, &DataType::Int64)?)
}

/// The rows of `batch` whose column `column` (a timestamp of any unit) is in `keep`
/// (microseconds).
pub fn keep_rows(batch: &RecordBatch, column: usize, keep: &Ranges) -> Result<RecordBatch> {
    let times = micros_of(batch.column(column))?;
    let times = times.as_primitive::<Int64Type>();
    let mask: BooleanArray = (0..times.len())
        .map(|i| Some(times.is_valid(i) && keep.contains(times.value(i))))
        .collect();
    Ok(filter_record_batch(batch, &mask)?)
}

impl ExecutionPlan for KeepTimesExec {
    fn name(&self) -> &str {
        "KeepTimesExec"
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

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Ok([input]) = <[Arc<dyn ExecutionPlan>; 1]>::try_from(children) else {
            return plan_err!("KeepTimesExec takes one input");
        };
        Ok(Arc::new(KeepTimesExec::new(
            input,
            self.column,
            self.keep.as_ref().clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        let (column, keep) = (self.column, self.keep.clone());
        let schema = self.input.schema();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            stream.map(move |batch| keep_rows(&batch?, column, &keep)),
        )))
    }
}

/// A time literal of the type of `shape`'s source time.
fn time_literal(shape: &Shape, micros: i64) -> Expr {
    lit(time_scalar(micros, &shape.time_type))
}

/// `time` in one of `ranges` (of the source's time), as a condition on the source.
fn source_condition(shape: &Shape, ranges: &Ranges) -> Option<Expr> {
    let time = Expr::Column(shape.time.clone());
    disjunction(ranges.intervals().iter().map(|&(lo, hi)| {
        let mut parts = Vec::new();
        if lo != i64::MIN {
            parts.push(time.clone().gt_eq(time_literal(shape, lo)));
        }
        if hi != i64::MAX {
            parts.push(time.clone().lt(time_literal(shape, hi)));
        }
        conjunction(parts).unwrap_or(lit(true))
    }))
}

/// The partial states of the view's buckets in `ranges` (bucket-aligned), computed from its
/// source now: one row per group and partition of the source (rows of one group may repeat
/// across partitions; the final aggregate merges them).
pub async fn live_partial(
    state: &SessionState,
    shape: &Shape,
    ranges: &Ranges,
) -> Result<(Arc<AggregateExec>, Arc<dyn ExecutionPlan>)> {
    let condition =
        source_condition(shape, &ranges.coarsened(MAX_SOURCE_INTERVALS)).unwrap_or(lit(false));
    let input = LogicalPlanBuilder::from(shape.input.clone())
        .filter(condition)?
        .build()?;
    let physical = if ranges.is_empty() {
        Arc::new(EmptyExec::new(Arc::new(input.schema().as_arrow().clone())))
            as Arc<dyn ExecutionPlan>
    } else {
        hearth_query::engine::plan_inner(state, &input).await?
    };
    let partial = Arc::new(
        partial_aggregate(state, input.schema(), &shape.group, &shape.aggs, physical)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?,
    );
    let kept = Arc::new(KeepTimesExec::new(
        partial.clone(),
        shape.bucket,
        ranges.clone(),
    ));
    Ok((partial, kept))
}

/// The partial states of the view's buckets in `ranges`, one row per group (for storing).
pub async fn states_plan(
    state: &SessionState,
    shape: &Shape,
    ranges: &Ranges,
) -> Result<Arc<dyn ExecutionPlan>> {
    let (partial, kept) = live_partial(state, shape, ranges).await?;
    let mut plan: Arc<dyn ExecutionPlan> = kept;
    for rule in state.physical_optimizers() {
        plan = rule.optimize(plan, state.config_options())?;
    }
    // All partitions' states into one, each group merged into one row. (Added after the
    // optimizer, which would drop the coalescing a partial-reduce step does not ask for.)
    let single = Arc::new(CoalescePartitionsExec::new(plan));
    Ok(Arc::new(AggregateExec::try_new(
        AggregateMode::PartialReduce,
        partial.group_expr().as_final(),
        partial.aggr_expr().to_vec(),
        vec![None; partial.aggr_expr().len()],
        single,
        partial.input_schema(),
    )?))
}

/// `batch` (partial states) in the form of the view's files.
pub fn to_stored(batch: &RecordBatch, stored: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(stored.fields())
        .map(|(c, f)| Ok(cast(c, f.data_type())?))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(stored.clone(), columns)?)
}

/// The stored states of `files` (of view `view` of database `db`) whose bucket is in `keep`,
/// in the partial aggregate's form.
pub fn stored_states(
    state: &SessionState,
    shape: &Shape,
    store: &Store,
    db: &str,
    view: &str,
    files: &[FileMeta],
    keep: Ranges,
) -> Result<Arc<dyn ExecutionPlan>> {
    let files: Vec<&FileMeta> = files
        .iter()
        .filter(|f| keep.touches(f.min_time, f.max_time))
        .collect();
    let stored = shape.stored_schema.clone();
    let scan: Arc<dyn ExecutionPlan> = if files.is_empty() {
        Arc::new(EmptyExec::new(stored.clone()))
    } else {
        let url = ObjectStoreUrl::parse(store.object_store_url())?;
        let mut source = ParquetSource::new(stored.clone());
        // Row groups and pages outside the kept times are skipped.
        let bounds = match (keep.first(), keep.end()) {
            (Some(lo), Some(hi)) => {
                let time = col(stored.field(shape.bucket).name());
                let kind = stored.field(shape.bucket).data_type().clone();
                let at = |v: i64| lit(time_scalar(v, &kind));
                let mut parts = Vec::new();
                if lo != i64::MIN {
                    parts.push(time.clone().gt_eq(at(lo)));
                }
                if hi != i64::MAX {
                    parts.push(time.lt(at(hi)));
                }
                conjunction(parts)
            }
            _ => None,
        };
        if let Some(bounds) = bounds {
            let schema = DFSchema::try_from(stored.as_ref().clone())?;
            source = source.with_predicate(create_physical_expr(
                &bounds,
                &schema,
                state.execution_props(),
                &PhysicalPlanningContext::default(),
            )?);
        }
        let source = source.with_table_parquet_options(state.default_table_options().parquet);
        let target = state.config().target_partitions().max(1);
        let mut groups = vec![Vec::new(); target.min(files.len())];
        let count = groups.len();
        for (i, f) in files.into_iter().enumerate() {
            let meta = ObjectMeta {
                location: store.view_file_key(db, view, &f.path),
                last_modified: Default::default(),
                size: f.size,
                e_tag: None,
                version: None,
            };
            groups[i % count].push(PartitionedFile::new_from_meta(meta));
        }
        let config = FileScanConfigBuilder::new(url, Arc::new(source))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .build();
        DataSourceExec::from_data_source(config)
    };
    // Back to the partial aggregate's names and types.
    let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = shape
        .state_schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let column: Arc<dyn PhysicalExpr> =
                Arc::new(PhysicalColumn::new(stored.field(i).name(), i));
            let expr: Arc<dyn PhysicalExpr> = if stored.field(i).data_type() == f.data_type() {
                column
            } else {
                Arc::new(CastExpr::new(column, f.data_type().clone(), None))
            };
            (expr, f.name().clone())
        })
        .collect();
    let projected = Arc::new(ProjectionExec::try_new(exprs, scan)?);
    Ok(Arc::new(KeepTimesExec::new(projected, shape.bucket, keep)))
}

/// The view's rows from partial states (`inputs`, each in the partial aggregate's form; a
/// group may appear in several of them), built on `partial`'s aggregates.
pub fn final_rows(
    state: &SessionState,
    shape: &Shape,
    partial: &AggregateExec,
    inputs: Vec<Arc<dyn ExecutionPlan>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let union = UnionExec::try_new(inputs)?;
    let aggregate = Arc::new(AggregateExec::try_new(
        AggregateMode::FinalPartitioned,
        partial.group_expr().as_final(),
        partial.aggr_expr().to_vec(),
        vec![None; partial.aggr_expr().len()],
        union,
        partial.input_schema(),
    )?);
    let planning = PhysicalPlanningContext::default();
    let exprs = shape
        .projection
        .iter()
        .zip(shape.output_schema.fields())
        .map(|(e, f)| {
            Ok((
                create_physical_expr(
                    e,
                    &shape.aggregate_schema,
                    state.execution_props(),
                    &planning,
                )?,
                f.name().clone(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(ProjectionExec::try_new(exprs, aggregate)?))
}
