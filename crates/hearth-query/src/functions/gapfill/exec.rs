//! Executing gap filling: [`GapFillPlanner`] turns the [`GapFill`] node into [`GapFillExec`],
//! which collects the aggregate's rows and emits every bucket of the range for every group.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, RecordBatch, RecordBatchOptions, UInt32Array,
};
use datafusion::arrow::compute::{cast, concat_batches, take};
use datafusion::arrow::datatypes::{DataType, Float64Type, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{ColumnarValue, Expr, LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PlanProperties, collect,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};

use super::{Derived, Fill, GapFill};
use crate::functions::{ticks_of, ticks_per_second, timestamps_from};

/// Most rows one gap-filling query may produce (groups × buckets).
const MAX_ROWS: usize = 10_000_000;

/// Plans [`GapFill`] as [`GapFillExec`].
#[derive(Debug, Default)]
pub struct GapFillPlanner;

#[async_trait]
impl ExtensionPlanner for GapFillPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn Session,
        planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<GapFill>() else {
            return Ok(None);
        };
        let input_schema = logical_inputs[0].schema();
        let physical =
            |e: &Expr| planner.create_physical_expr(e, input_schema, session, planning_ctx);
        let schema = Arc::new(node.schema.as_arrow().clone());
        Ok(Some(Arc::new(GapFillExec {
            input: physical_inputs[0].clone(),
            properties: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema.clone()),
                Partitioning::UnknownPartitioning(1),
                EmissionType::Final,
                Boundedness::Bounded,
            )),
            schema,
            bucket: node.bucket,
            groups: node.groups.clone(),
            derived: node.derived.clone(),
            stride: physical(&node.stride)?,
            first: physical(&node.first)?,
            upper: physical(&node.upper)?,
            upper_inclusive: node.upper_inclusive,
        })))
    }
}

/// Collects the aggregate's rows and emits them with the missing buckets, group by group.
#[derive(Debug, Clone)]
pub struct GapFillExec {
    input: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    bucket: usize,
    groups: Vec<usize>,
    derived: Vec<Derived>,
    stride: Arc<dyn PhysicalExpr>,
    first: Arc<dyn PhysicalExpr>,
    upper: Arc<dyn PhysicalExpr>,
    upper_inclusive: bool,
}

impl DisplayAs for GapFillExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "GapFillExec: bucket={}, stride={}, from {} to {}",
            self.schema.field(self.bucket).name(),
            self.stride,
            self.first,
            self.upper
        )
    }
}

impl ExecutionPlan for GapFillExec {
    fn name(&self) -> &str {
        "GapFillExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        datafusion::physical_plan::execution_plan::apply_expression_roots(
            [&self.stride, &self.first, &self.upper],
            f,
        )
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Ok([input]) = <[Arc<dyn ExecutionPlan>; 1]>::try_from(children) else {
            return plan_err!("GapFillExec takes one input");
        };
        Ok(Arc::new(GapFillExec {
            input,
            ..self.as_ref().clone()
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return exec_err!("GapFillExec has one partition, not {partition}");
        }
        let input = self.input.clone();
        let plan = Filler {
            schema: self.schema.clone(),
            bucket: self.bucket,
            groups: self.groups.clone(),
            derived: self.derived.clone(),
            stride: constant(&self.stride)?,
            first: constant(&self.first)?,
            upper: constant(&self.upper)?,
            upper_inclusive: self.upper_inclusive,
        };
        let schema = self.schema.clone();
        let stream = futures::stream::once(async move {
            let batches = collect(input, context).await?;
            let batch = concat_batches(&plan.input_schema(&batches), &batches)?;
            plan.fill(&batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// The value of an expression without columns (bounds, the stride).
fn constant(expr: &Arc<dyn PhysicalExpr>) -> Result<ScalarValue> {
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    match expr.evaluate(&one_row)? {
        ColumnarValue::Scalar(s) => Ok(s),
        ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0),
    }
}

/// The buckets' time unit and the filling itself.
struct Filler {
    schema: SchemaRef,
    bucket: usize,
    groups: Vec<usize>,
    derived: Vec<Derived>,
    stride: ScalarValue,
    first: ScalarValue,
    upper: ScalarValue,
    upper_inclusive: bool,
}

/// Ticks of a timestamp scalar in `unit` (any unit in, converted).
fn ticks(value: &ScalarValue, unit: TimeUnit) -> Result<Option<i64>> {
    let target = DataType::Timestamp(unit, None);
    let cast = match value.data_type() {
        DataType::Timestamp(u, _) if u == unit => value.clone(),
        _ => value.cast_to(&target)?,
    };
    Ok(match cast {
        ScalarValue::TimestampSecond(v, _)
        | ScalarValue::TimestampMillisecond(v, _)
        | ScalarValue::TimestampMicrosecond(v, _)
        | ScalarValue::TimestampNanosecond(v, _) => v,
        other => return exec_err!("date_bin_gapfill: expected a timestamp bound, got {other}"),
    })
}

impl Filler {
    fn input_schema(&self, batches: &[RecordBatch]) -> SchemaRef {
        batches
            .first()
            .map_or_else(|| self.schema.clone(), |b| b.schema())
    }

    /// The bucket starts from `first` up to the upper bound, in ticks of `unit`.
    fn buckets(&self, unit: TimeUnit) -> Result<Vec<i64>> {
        let (Some(first), Some(upper)) = (ticks(&self.first, unit)?, ticks(&self.upper, unit)?)
        else {
            return Ok(Vec::new());
        };
        let ScalarValue::IntervalMonthDayNano(Some(stride)) = self.stride.cast_to(
            &DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
        )?
        else {
            return exec_err!("date_bin_gapfill: the interval must not be NULL");
        };
        let per_second = ticks_per_second(unit);
        let in_range = |t: i64| {
            if self.upper_inclusive {
                t <= upper
            } else {
                t < upper
            }
        };
        let mut out = Vec::new();
        if stride.months != 0 {
            if stride.days != 0 || stride.nanoseconds != 0 || stride.months < 0 {
                return exec_err!(
                    "date_bin_gapfill: a month interval must be whole positive months"
                );
            }
            let start = chrono::DateTime::from_timestamp(
                first.div_euclid(per_second),
                (first.rem_euclid(per_second) * (1_000_000_000 / per_second)) as u32,
            )
            .ok_or_else(|| {
                DataFusionError::Execution("date_bin_gapfill: time out of range".into())
            })?;
            for k in 0u32.. {
                let Some(t) =
                    start.checked_add_months(chrono::Months::new(k * stride.months as u32))
                else {
                    break;
                };
                let t = t.timestamp() * per_second
                    + i64::from(t.timestamp_subsec_nanos()) / (1_000_000_000 / per_second);
                if !in_range(t) {
                    break;
                }
                out.push(t);
                if out.len() > MAX_ROWS {
                    break;
                }
            }
        } else {
            let nanos =
                i128::from(stride.days) * 86_400_000_000_000 + i128::from(stride.nanoseconds);
            let step = nanos * i128::from(per_second) / 1_000_000_000;
            if step <= 0 {
                return exec_err!("date_bin_gapfill: the interval must be positive");
            }
            let step = i64::try_from(step).map_err(|_| {
                DataFusionError::Execution("date_bin_gapfill: interval too large".into())
            })?;
            let mut t = first;
            while in_range(t) && out.len() <= MAX_ROWS {
                out.push(t);
                match t.checked_add(step) {
                    Some(next) => t = next,
                    None => break,
                }
            }
        }
        Ok(out)
    }

    fn fill(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let bucket_column = batch.column(self.bucket);
        let DataType::Timestamp(unit, zone) = bucket_column.data_type().clone() else {
            return exec_err!("date_bin_gapfill: the bucket must be a timestamp");
        };
        let times = ticks_of(bucket_column)?;
        let grid = self.buckets(unit)?;

        // Rows by group, groups in sort order of their values.
        let group_columns: Vec<ArrayRef> = self
            .groups
            .iter()
            .map(|i| batch.column(*i).clone())
            .collect();
        let converter = RowConverter::new(
            group_columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )?;
        let rows = converter.convert_columns(&group_columns)?;
        let mut by_group: HashMap<&[u8], Vec<usize>> = HashMap::new();
        for i in 0..batch.num_rows() {
            // Without grouping columns there are no row keys: one group.
            let key = if group_columns.is_empty() {
                &[][..]
            } else {
                rows.row(i).data()
            };
            by_group.entry(key).or_default().push(i);
        }
        let mut groups: Vec<(&[u8], Vec<usize>)> = by_group.into_iter().collect();
        groups.sort_by(|a, b| a.0.cmp(b.0));
        if groups.len().saturating_mul(grid.len()) > MAX_ROWS {
            return exec_err!(
                "date_bin_gapfill would produce {} groups × {} buckets, over {MAX_ROWS} rows: \
                 narrow the time range or widen the interval",
                groups.len(),
                grid.len()
            );
        }

        // One output row per (group, bucket): the group's representative row, the bucket, and
        // the input row of that bucket if there is one. Rows whose bucket is off the grid (an
        // unexpected origin) are kept in time order.
        let mut group_of: Vec<u32> = Vec::new();
        let mut bucket_of: Vec<Option<i64>> = Vec::new();
        let mut source: Vec<Option<u32>> = Vec::new();
        let mut starts: Vec<usize> = Vec::new();
        for (_, mut members) in groups {
            members.sort_by(|a, b| times[*a].cmp(&times[*b]));
            starts.push(source.len());
            let representative = members[0] as u32;
            let mut present = members.into_iter().peekable();
            let mut grid_iter = grid.iter().copied().peekable();
            loop {
                let next_present = present.peek().map(|r| times[*r]);
                let next_grid = grid_iter.peek().copied();
                let (t, row) = match (next_present, next_grid) {
                    (None, None) => break,
                    (Some(p), Some(g)) if p == Some(g) => {
                        grid_iter.next();
                        (p, present.next())
                    }
                    (Some(p), Some(g)) if p.is_none_or(|p| p < g) => (p, present.next()),
                    (_, Some(g)) => {
                        grid_iter.next();
                        (Some(g), None)
                    }
                    (Some(p), None) => (p, present.next()),
                };
                group_of.push(representative);
                bucket_of.push(t);
                source.push(row.map(|r| r as u32));
            }
        }
        starts.push(source.len());

        let representative = UInt32Array::from(group_of);
        let present = UInt32Array::from(source.clone());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (i, column) in batch.columns().iter().enumerate() {
            let out = if i == self.bucket {
                timestamps_from(bucket_of.iter().copied(), unit, zone.clone())?
            } else if self.groups.contains(&i) {
                take(column, &representative, None)?
            } else {
                take(column, &present, None)?
            };
            columns.push(out);
        }
        for d in &self.derived {
            let column = batch.column(d.source);
            columns.push(match d.fill {
                Fill::Locf => {
                    let carried = carry_forward(column, &source, &starts);
                    take(column, &UInt32Array::from(carried), None)?
                }
                Fill::Interpolate => interpolate(column, &source, &bucket_of, &starts)?,
            });
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// Per output row, the input row whose value it shows: its own when not NULL, else the last
/// earlier one of its group that is.
fn carry_forward(column: &ArrayRef, source: &[Option<u32>], starts: &[usize]) -> Vec<Option<u32>> {
    let mut out = Vec::with_capacity(source.len());
    for w in starts.windows(2) {
        let mut last = None;
        for row in &source[w[0]..w[1]] {
            if let Some(r) = row
                && column.is_valid(*r as usize)
            {
                last = Some(*r);
            }
            out.push(last);
        }
    }
    out
}

/// The column with gaps filled linearly (in time) between the non-NULL values around them;
/// gaps before the first or after the last value of a group stay NULL.
fn interpolate(
    column: &ArrayRef,
    source: &[Option<u32>],
    bucket_of: &[Option<i64>],
    starts: &[usize],
) -> Result<ArrayRef> {
    let values = cast(column, &DataType::Float64)?;
    let values = values.as_primitive::<Float64Type>();
    let known = |i: usize| -> Option<(i64, f64)> {
        let r = source[i]? as usize;
        let t = bucket_of[i]?;
        values.is_valid(r).then(|| (t, values.value(r)))
    };
    let mut out: Vec<Option<f64>> = Vec::with_capacity(source.len());
    for w in starts.windows(2) {
        let (start, end) = (w[0], w[1]);
        // The next known point at or after each row, found from the end.
        let mut next: Vec<Option<(i64, f64)>> = vec![None; end - start];
        let mut upcoming = None;
        for i in (start..end).rev() {
            if let Some(k) = known(i) {
                upcoming = Some(k);
            }
            next[i - start] = upcoming;
        }
        let mut previous: Option<(i64, f64)> = None;
        for i in start..end {
            if let Some(k) = known(i) {
                previous = Some(k);
                out.push(Some(k.1));
                continue;
            }
            let value = match (previous, next[i - start], bucket_of[i]) {
                (Some((t0, v0)), Some((t1, v1)), Some(t)) if t1 > t0 => {
                    Some(v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64)
                }
                _ => None,
            };
            out.push(value);
        }
    }
    let filled: ArrayRef = Arc::new(Float64Array::from(out));
    let target = column.data_type();
    if target.is_integer() {
        // Round to the nearest integer rather than truncate.
        let rounded: Float64Array = filled.as_primitive::<Float64Type>().unary(f64::round);
        return Ok(cast(&rounded, target)?);
    }
    Ok(cast(&filled, target)?)
}
