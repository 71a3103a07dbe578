//! Partial aggregation by runs of equal group keys.
//!
//! A table's files and buffer are sorted by series (tags), then time. A query grouping by tags
//! and time buckets (`GROUP BY date_trunc('hour', time), hostname`) therefore sees each group
//! as long runs of consecutive rows: 360 rows of one host's hour at 10 s a point. DataFusion's
//! partial aggregate hashes every row's key and looks it up anyway; on TSBS double-groupby that
//! was a third of the query's CPU (interning, string compares, hashing).
//!
//! [`PartialAggregateByRuns`], run after DataFusion's rules, puts a [`RunAggregateExec`] in the
//! place of such a partial `AggregateExec`. It finds where the key changes between neighbouring
//! rows (arrow's `partition`, one vectorised compare per key column) and reduces each run at
//! once: `count`, `sum`, `avg`, `min` and `max` with arrow's kernels ([`kernels`]), any other
//! aggregate through DataFusion's groups accumulator, given the run's group for each row. A group
//! is closed as soon as the next begins, so the state held is one group wide (closed groups
//! leave gathered into batches, each of the session's batch size or of a bounded stretch of
//! input: [`Outgoing`]).
//!
//! Partial aggregation may emit a group more than once: the final aggregate merges the states.
//! So the result is the same whatever the input's order; order only decides how much the
//! partial step reduces. Where a key is ordered in the input (`hostname` leads the files' sort),
//! a group's runs are neighbours and the states leave in the order the plan declares. Where none
//! is (grouping by minute over all series), a key recurs once per series, so the runs' states
//! are merged by key again ([`Merger`]), and where runs prove short (a minute of 10-second
//! points), every row is hashed into the merger as DataFusion would. The rule is applied only
//! where the storage's order makes runs long: every grouping key is a text column (a tag) or a
//! time bucket of a timestamp column.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::kernels::cmp::distinct;
use datafusion::arrow::compute::{BatchCoalescer, cast, concat, partition, take};
use datafusion::arrow::datatypes::{DataType, Int32Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, internal_err};
use datafusion::config::ConfigOptions;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::{OrderingRequirements, PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, RecordOutput,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    InputDistributionRequirements, InputOrderMode, PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;

use dictionary::dictionary_scan;
use kernels::{RunKernel, kernel};

mod dictionary;
mod kernels;

/// The time bucket functions whose results keep a series' rows in runs.
const BUCKETS: [&str; 4] = ["date_trunc", "datetrunc", "date_bin", "time_bucket"];

/// Replaces partial aggregates grouping by tags and time buckets with [`RunAggregateExec`].
#[derive(Debug, Default)]
pub struct PartialAggregateByRuns;

impl PhysicalOptimizerRule for PartialAggregateByRuns {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match node.downcast_ref::<AggregateExec>() {
                Some(aggregate) if by_runs(aggregate) => {
                    let runs = match dictionary_scan(aggregate)? {
                        Some((scan, keys)) => {
                            RunAggregateExec::over_dictionaries(aggregate.clone(), scan, keys)
                        }
                        None => RunAggregateExec::new(aggregate.clone()),
                    };
                    Transformed::yes(Arc::new(runs) as _)
                }
                _ => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "partial_aggregate_by_runs"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether `aggregate` is a plain partial aggregate whose keys come in runs in Hearth's order.
fn by_runs(aggregate: &AggregateExec) -> bool {
    let group_by = aggregate.group_expr();
    let schema = aggregate.input_schema();
    *aggregate.mode() == AggregateMode::Partial
        && group_by.is_single()
        && !group_by.is_empty()
        && aggregate.limit_options().is_none()
        && aggregate.dynamic_expressions_produced().is_empty()
        && aggregate.aggr_expr().iter().all(|a| {
            a.groups_accumulator_supported() && !a.is_distinct() && a.order_bys().is_empty()
        })
        && group_by.expr().iter().all(|(e, _)| runs_long(e, &schema))
}

/// Whether rows sorted by series, then time, hold `key` constant over long runs: a text column
/// (a tag), or a time bucket of timestamps.
fn runs_long(key: &Arc<dyn PhysicalExpr>, schema: &Schema) -> bool {
    let type_of = |c: &Column| {
        schema
            .fields()
            .get(c.index())
            .map(|f| f.data_type().clone())
    };
    if let Some(column) = key.downcast_ref::<Column>() {
        return matches!(
            type_of(column),
            Some(
                DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Dictionary(..)
            )
        );
    }
    let Some(function) = key.downcast_ref::<ScalarFunctionExpr>() else {
        return false;
    };
    let columns = collect_columns(key);
    BUCKETS.contains(&function.name())
        && !columns.is_empty()
        && columns
            .iter()
            .all(|c| matches!(type_of(c), Some(DataType::Timestamp(..))))
}

/// A partial aggregate that groups runs of equal keys (see the [module](self)).
///
/// It keeps the [`AggregateExec`] it replaces for its expressions and plan properties: the
/// output (schema, partitioning, order) is that aggregate's. Its input is the aggregate's, or
/// the same scan reading some text keys as dictionaries ([`dictionary`]).
#[derive(Debug)]
pub struct RunAggregateExec {
    aggregate: AggregateExec,
    input: Arc<dyn ExecutionPlan>,
    /// The grouping keys the input gives as dictionaries, made strings as groups leave.
    dictionary_keys: Vec<usize>,
    metrics: ExecutionPlanMetricsSet,
}

impl RunAggregateExec {
    /// Runs `aggregate` (a partial aggregate) by runs.
    pub fn new(aggregate: AggregateExec) -> Self {
        RunAggregateExec {
            input: aggregate.input().clone(),
            aggregate,
            dictionary_keys: Vec::new(),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// Runs `aggregate` by runs over `input`, its input but for the grouping keys at
    /// `dictionary_keys`, which `input` reads as dictionaries of the strings.
    fn over_dictionaries(
        aggregate: AggregateExec,
        input: Arc<dyn ExecutionPlan>,
        dictionary_keys: Vec<usize>,
    ) -> Self {
        RunAggregateExec {
            input,
            dictionary_keys,
            ..RunAggregateExec::new(aggregate)
        }
    }

    /// The partial aggregate this runs.
    pub fn aggregate(&self) -> &AggregateExec {
        &self.aggregate
    }

    /// Whether the runs' states are merged by key before they leave: where no key is ordered
    /// in the input (see [`Merger`]).
    fn merges(&self) -> bool {
        *self.aggregate.input_order_mode() == InputOrderMode::Linear
    }
}

impl DisplayAs for RunAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<&str> = self
            .aggregate
            .group_expr()
            .expr()
            .iter()
            .map(|(_, name)| name.as_str())
            .collect();
        // An aggregate without a kernel adds row by row (see `kernels`).
        let schema = self.aggregate.input_schema();
        let aggregates: Vec<String> = self
            .aggregate
            .aggr_expr()
            .iter()
            .zip(self.aggregate.filter_expr())
            .map(|(a, filter)| match kernel(a, filter.is_some(), &schema) {
                Some(_) => a.name().to_string(),
                None => format!("{} row by row", a.name()),
            })
            .collect();
        let dictionaries: Vec<&str> = self.dictionary_keys.iter().map(|&k| keys[k]).collect();
        write!(
            f,
            "RunAggregateExec: mode=Partial, gby=[{}], aggr=[{}]{}{}",
            keys.join(", "),
            aggregates.join(", "),
            if dictionaries.is_empty() {
                String::new()
            } else {
                format!(", runs of dictionary keys [{}]", dictionaries.join(", "))
            },
            if self.merges() {
                ", runs merged by key"
            } else {
                ""
            }
        )
    }
}

impl ExecutionPlan for RunAggregateExec {
    fn name(&self) -> &str {
        "RunAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.aggregate.properties()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.aggregate.apply_expressions(f)
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    // What the input must be and what it keeps of it are the aggregate's, for any optimizer
    // pass that sees this plan again.
    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.aggregate.input_distribution_requirements()
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.aggregate.required_input_ordering()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.aggregate.maintains_input_order()
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The same input again (a pass over the plan that changed nothing below).
        if let [child] = children.as_slice()
            && child.schema() == self.input.schema()
        {
            return Ok(Arc::new(RunAggregateExec {
                aggregate: self.aggregate.clone(),
                input: child.clone(),
                dictionary_keys: self.dictionary_keys.clone(),
                metrics: ExecutionPlanMetricsSet::new(),
            }));
        }
        let recompute = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        let aggregate = Arc::new(self.aggregate.clone()).replace_children(children, recompute)?;
        match aggregate.downcast_ref::<AggregateExec>() {
            Some(aggregate) => Ok(Arc::new(RunAggregateExec::new(aggregate.clone()))),
            None => internal_err!("an AggregateExec with new children is an AggregateExec"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context.clone())?;
        let batch_size = context.session_config().batch_size();
        let aggregates = self.aggregate.aggr_expr();
        let runs = Runs {
            schema: self.aggregate.schema(),
            keys: self.aggregate.group_expr().input_exprs(),
            arguments: aggregates.iter().map(|a| a.expressions()).collect(),
            filters: self.aggregate.filter_expr().to_vec(),
            reducers: aggregates
                .iter()
                .zip(self.aggregate.filter_expr())
                .map(|(a, filter)| reducer(a, filter.is_some(), &self.aggregate.input_schema()))
                .collect::<Result<_>>()?,
            open: None,
            merger: self
                .merges()
                .then(|| Merger::new(&self.aggregate, context.memory_pool(), partition))
                .transpose()?,
            hashing: false,
            outgoing: Outgoing::new(self.aggregate.schema(), batch_size),
            rows_hashed: MetricBuilder::new(&self.metrics).counter("rows_hashed", partition),
            metrics: BaselineMetrics::new(&self.metrics, partition),
        };
        let schema = runs.schema.clone();
        let batches = futures::stream::try_unfold(
            (input, runs, false),
            |(mut input, mut runs, mut ended)| async move {
                loop {
                    if let Some(out) = runs.next_out() {
                        return Ok(Some((out, (input, runs, ended))));
                    }
                    if ended {
                        return Ok(None);
                    }
                    match input.next().await {
                        Some(batch) => runs.aggregate(&batch?)?,
                        None => {
                            runs.finish()?;
                            ended = true;
                        }
                    }
                }
            },
        );
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

/// How one aggregate of a partition adds up its rows.
enum Reducer {
    /// A kernel over each run's values ([`kernels`]), and the expression giving the values.
    Runs(Box<dyn RunKernel>, Arc<dyn PhysicalExpr>),
    /// DataFusion's accumulator, given the group of every row.
    Rows(Box<dyn GroupsAccumulator>),
}

/// The reducer of `aggregate`: its kernel if it has one, else its accumulator.
fn reducer(aggregate: &AggregateFunctionExpr, filtered: bool, schema: &Schema) -> Result<Reducer> {
    match kernel(aggregate, filtered, schema) {
        Some((kernel, input)) => Ok(Reducer::Runs(kernel, input)),
        None => Ok(Reducer::Rows(aggregate.create_groups_accumulator()?)),
    }
}

/// The state of one partition's aggregation by runs.
struct Runs {
    /// The output: the keys, then each aggregate's state.
    schema: SchemaRef,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    arguments: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    reducers: Vec<Reducer>,
    /// The key of the last run seen (one row per key column), whose group is still open: the
    /// next batch may continue it. It is group 0 of the reducers.
    open: Option<Vec<ArrayRef>>,
    /// Where nothing orders the output: the states merged by key before they leave.
    merger: Option<Merger>,
    /// Whether runs turned out short, and every row is now hashed into the merger's groups.
    hashing: bool,
    /// The groups on their way out, in order, gathered into batches.
    outgoing: Outgoing,
    /// The rows hashed so (`EXPLAIN ANALYZE`).
    rows_hashed: Count,
    metrics: BaselineMetrics,
}

impl Runs {
    /// The next batch of groups ready to leave, if any.
    fn next_out(&mut self) -> Option<RecordBatch> {
        Some(self.outgoing.next()?.record_output(&self.metrics))
    }

    /// Adds `batch`; the groups it closes are queued to leave.
    fn aggregate(&mut self, batch: &RecordBatch) -> Result<()> {
        self.add(batch)?;
        self.outgoing.read(batch.num_rows())
    }

    /// Adds `batch` to the groups; those it closes are queued.
    fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let elapsed = self.metrics.elapsed_compute().clone();
        let _timer = elapsed.timer();
        let keys = self
            .keys
            .iter()
            .map(|k| k.evaluate(batch)?.into_array(rows))
            .collect::<Result<Vec<_>>>()?;
        if self.hashing {
            return self.hash(batch, &keys);
        }
        let runs = partition(&run_keys(&keys))?.ranges();
        if self.merger.is_some() && rows >= DECIDING_ROWS && rows < SHORT_RUN * runs.len() {
            // Runs this short cost more than they save: the open group goes to the merger, and
            // from now on every row is hashed, as DataFusion's partial aggregate would.
            self.hashing = true;
            if let Some(open) = self.open.take() {
                let last = self.emit(open, EmitTo::All)?;
                if let Some(merger) = &mut self.merger {
                    merger.add(&last)?;
                }
            }
            return self.hash(batch, &keys);
        }
        // The first run continues the open group when its key is the open group's.
        let continues = match &self.open {
            Some(open) => {
                let first_keys = self.as_output(keys.iter().map(|k| k.slice(0, 1)).collect())?;
                open.iter()
                    .zip(&first_keys)
                    .try_fold(true, |same, (o, k)| {
                        Ok::<_, datafusion::common::DataFusionError>(
                            same && !distinct(o, k)?.value(0),
                        )
                    })?
            }
            None => false,
        };
        let first = usize::from(self.open.is_some() && !continues);
        let groups = first + runs.len();
        let mut group_indices = Vec::new();
        for (i, reducer) in self.reducers.iter_mut().enumerate() {
            match reducer {
                Reducer::Runs(kernel, input) => {
                    kernel.add(&input.evaluate(batch)?.into_array(rows)?, &runs, first)
                }
                Reducer::Rows(accumulator) => {
                    let (values, filter) = arguments(&self.arguments[i], &self.filters[i], batch)?;
                    if group_indices.is_empty() {
                        group_indices.reserve(rows);
                        for (j, run) in runs.iter().enumerate() {
                            group_indices.resize(run.end, first + j);
                        }
                    }
                    let filter = filter.as_ref().map(|f| f.as_boolean());
                    accumulator.update_batch(&values, &group_indices, filter, groups)?;
                }
            }
        }
        // The key of every group the reducers hold, in group order.
        let starts: UInt32Array = runs
            .iter()
            .skip(usize::from(continues))
            .map(|r| r.start as u32)
            .collect();
        let mut group_keys = self.as_output(
            keys.iter()
                .map(|k| take(k, &starts, None))
                .collect::<Result<Vec<_>, _>>()?,
        )?;
        if let Some(open) = self.open.take() {
            group_keys = open
                .iter()
                .zip(&group_keys)
                .map(|(o, k)| concat(&[o.as_ref(), k.as_ref()]))
                .collect::<Result<_, _>>()?;
        }
        // All but the last group are complete.
        self.open = Some(group_keys.iter().map(|k| k.slice(groups - 1, 1)).collect());
        if groups == 1 {
            return Ok(());
        }
        let keys = group_keys.iter().map(|k| k.slice(0, groups - 1)).collect();
        let complete = self.emit(keys, EmitTo::First(groups - 1))?;
        self.pass(complete)
    }

    /// Adds `batch`, whose keys are `keys`, row by row to the merger's groups; queues them to
    /// leave if it is full.
    fn hash(&mut self, batch: &RecordBatch, keys: &[ArrayRef]) -> Result<()> {
        let keys = self.as_output(keys.to_vec())?;
        let Some(merger) = &mut self.merger else {
            return internal_err!("runs are hashed only where they are merged");
        };
        merger.values.intern(&keys, &mut merger.groups)?;
        self.rows_hashed.add(batch.num_rows());
        let total = merger.values.len();
        for (i, accumulator) in merger.accumulators.iter_mut().enumerate() {
            let (values, filter) = arguments(&self.arguments[i], &self.filters[i], batch)?;
            let filter = filter.as_ref().map(|f| f.as_boolean());
            accumulator.update_batch(&values, &merger.groups, filter, total)?;
        }
        let out = if merger.full() {
            merger.take(&self.schema)?
        } else {
            None
        };
        self.send(out)
    }

    /// Ends the input: the open group, if any, and what the merger holds, queued to leave with
    /// the groups still waiting.
    fn finish(&mut self) -> Result<()> {
        let elapsed = self.metrics.elapsed_compute().clone();
        let _timer = elapsed.timer();
        let last = match self.open.take() {
            Some(keys) => Some(self.emit(keys, EmitTo::All)?),
            None => None,
        };
        let out = match &mut self.merger {
            None => last,
            Some(merger) => {
                if let Some(last) = last {
                    merger.add(&last)?;
                }
                merger.take(&self.schema)?
            }
        };
        self.send(out)?;
        self.outgoing.flush()
    }

    /// `groups` (complete ones) on their way out: through the merger if there is one.
    fn pass(&mut self, groups: RecordBatch) -> Result<()> {
        let out = match &mut self.merger {
            None => Some(groups),
            Some(merger) => {
                merger.add(&groups)?;
                if merger.full() {
                    merger.take(&self.schema)?
                } else {
                    None
                }
            }
        };
        self.send(out)
    }

    /// Grouping keys as the output has them: keys read as dictionaries made strings.
    fn as_output(&self, mut keys: Vec<ArrayRef>) -> Result<Vec<ArrayRef>> {
        for (key, field) in keys.iter_mut().zip(self.schema.fields()) {
            if key.data_type() != field.data_type() {
                *key = cast(key, field.data_type())?;
            }
        }
        Ok(keys)
    }

    /// Queues `out` to leave.
    fn send(&mut self, out: Option<RecordBatch>) -> Result<()> {
        match out {
            Some(out) => self.outgoing.push(out),
            None => Ok(()),
        }
    }

    /// The rows of the groups `emit` takes from the reducers, whose keys are `keys`.
    fn emit(&mut self, mut columns: Vec<ArrayRef>, emit: EmitTo) -> Result<RecordBatch> {
        for reducer in &mut self.reducers {
            match reducer {
                Reducer::Runs(kernel, _) => columns.extend(kernel.state(emit)),
                Reducer::Rows(accumulator) => columns.extend(accumulator.state(emit)?),
            }
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// A batch of groups leaves, full or not, once this many batch sizes of input rows were read
/// since its first group arrived.
pub(crate) const GATHER_BATCHES: usize = 16;

/// The groups on their way out, in order, gathered into batches: a batch leaves when it holds
/// the session's batch size of groups, or once [`GATHER_BATCHES`] times as many input rows were
/// read since its first group arrived.
///
/// An input batch closes only a few dozen groups (one host's hours); sent on one by one, each
/// tiny batch costs the repartition and merge above more than its rows do (double-groupby-all:
/// 533 batches of ~30 rows, 39 ms of 16 000 rows' repartitioning). Gathered up to the batch size
/// only, they read too far where a top-k sort or `LIMIT` above stops reading once it has
/// enough: the order-preserving repartition between merges whole batches from every partition
/// (and pulls ahead), so the larger each batch, the more input every partition has read when
/// the top-k is done (a top-k over hourly groups: 5.4–7.7 M of 7.9 M rows instead of 4.5 M).
/// Bounding a batch by the input it covers bounds that read-ahead in rows, whatever the groups'
/// width.
pub(crate) struct Outgoing {
    /// The groups, gathered into batches of the batch size.
    coalescer: BatchCoalescer,
    /// The input rows read while groups waited, since a batch last left.
    read: usize,
    /// The input rows after which the groups waiting leave anyway.
    gather: usize,
}

impl Outgoing {
    pub(crate) fn new(schema: SchemaRef, batch_size: usize) -> Outgoing {
        let batch_size = batch_size.max(1);
        Outgoing {
            coalescer: BatchCoalescer::new(schema, batch_size),
            read: 0,
            gather: batch_size.saturating_mul(GATHER_BATCHES),
        }
    }

    /// Adds `groups`; a batch is ready once the batch size is reached.
    pub(crate) fn push(&mut self, groups: RecordBatch) -> Result<()> {
        let waiting = self.coalescer.get_buffered_rows() + groups.num_rows();
        self.coalescer.push_batch(groups)?;
        if self.coalescer.get_buffered_rows() < waiting {
            // A batch left: the groups still waiting arrived just now.
            self.read = 0;
        }
        Ok(())
    }

    /// Counts `rows` more input read; the groups gathered leave if they have waited long enough.
    pub(crate) fn read(&mut self, rows: usize) -> Result<()> {
        if self.coalescer.get_buffered_rows() == 0 {
            return Ok(());
        }
        self.read += rows;
        if self.read >= self.gather {
            self.flush()?;
        }
        Ok(())
    }

    /// The next batch ready to leave, if any.
    pub(crate) fn next(&mut self) -> Option<RecordBatch> {
        self.coalescer.next_completed_batch()
    }

    /// Makes whatever is gathered a batch ready to leave.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.read = 0;
        Ok(self.coalescer.finish_buffered_batch()?)
    }
}

/// The arrays whose neighbouring rows differ where a run of `keys` ends: a dictionary's keys
/// stand for its strings (a string with two keys splits a run, which partial aggregation allows).
fn run_keys(keys: &[ArrayRef]) -> Vec<ArrayRef> {
    keys.iter()
        .map(|k| match k.as_dictionary_opt::<Int32Type>() {
            Some(dictionary) => Arc::new(dictionary.keys().clone()) as ArrayRef,
            None => k.clone(),
        })
        .collect()
}

/// The arguments of an aggregate and its `FILTER`, if any, evaluated over `batch`.
fn arguments(
    arguments: &[Arc<dyn PhysicalExpr>],
    filter: &Option<Arc<dyn PhysicalExpr>>,
    batch: &RecordBatch,
) -> Result<(Vec<ArrayRef>, Option<ArrayRef>)> {
    let rows = batch.num_rows();
    let values = arguments
        .iter()
        .map(|a| a.evaluate(batch)?.into_array(rows))
        .collect::<Result<Vec<_>>>()?;
    let filter = match filter {
        Some(f) => Some(f.evaluate(batch)?.into_array(rows)?),
        None => None,
    };
    Ok((values, filter))
}

/// Runs shorter than this on average, where they are merged by key, are not worth finding:
/// every row is hashed instead (grouping by minute over 10-second series gives runs of 6).
const SHORT_RUN: usize = 16;

/// The least rows of a batch that decides whether runs are short (the last batch of a
/// partition may be a few rows of one run).
const DECIDING_ROWS: usize = if cfg!(test) { 13 } else { 1024 };

/// The most groups a [`Merger`] holds before it lets them out.
const MERGED_GROUPS: usize = if cfg!(test) { 7 } else { 1 << 16 };

/// Merges the states of equal keys again, by hashing, where nothing orders the output.
///
/// Where no key is ordered in the input (grouping by minute over all series), runs are as short
/// as a series' rows in a bucket, and a key recurs once per series. Hashing the runs' states (one
/// row per run, not per input row) leaves the final aggregate as few rows as DataFusion's
/// partial aggregate would. Where a key is ordered, its groups come in order and are let out as
/// they complete, which the plan's ordering relies on.
struct Merger {
    /// The number of key columns of the states.
    keys: usize,
    /// The number of state columns of each aggregate.
    widths: Vec<usize>,
    values: Box<dyn GroupValues>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// The group of each row added last (reused).
    groups: Vec<usize>,
    /// The memory of the groups held, from the query's pool.
    reservation: MemoryReservation,
}

impl Merger {
    /// A merger of `aggregate`'s partial states, holding memory of `pool`.
    fn new(
        aggregate: &AggregateExec,
        pool: &Arc<dyn MemoryPool>,
        partition: usize,
    ) -> Result<Self> {
        let schema = aggregate.schema();
        let keys = aggregate.group_expr().expr().len();
        let key_schema = Arc::new(Schema::new(schema.fields()[..keys].to_vec()));
        Ok(Merger {
            keys,
            widths: aggregate
                .aggr_expr()
                .iter()
                .map(|a| Ok(a.state_fields()?.len()))
                .collect::<Result<_>>()?,
            values: new_group_values(key_schema, &GroupOrdering::None)?,
            accumulators: aggregate
                .aggr_expr()
                .iter()
                .map(|a| a.create_groups_accumulator())
                .collect::<Result<_>>()?,
            groups: Vec::new(),
            reservation: MemoryConsumer::new(format!("RunAggregateExec[{partition}]"))
                .register(pool),
        })
    }

    /// Merges `states` (keys, then each aggregate's state columns) into the groups held.
    fn add(&mut self, states: &RecordBatch) -> Result<()> {
        let columns = states.columns();
        self.values
            .intern(&columns[..self.keys], &mut self.groups)?;
        let total = self.values.len();
        let mut at = self.keys;
        for (accumulator, &width) in self.accumulators.iter_mut().zip(&self.widths) {
            accumulator.merge_batch(&columns[at..at + width], &self.groups, total)?;
            at += width;
        }
        Ok(())
    }

    /// Whether it holds as many groups as it may: [`MERGED_GROUPS`], or as much memory as the
    /// pool grants it (the groups then leave early, as a partial aggregate's may).
    fn full(&mut self) -> bool {
        let size = self.values.size() + self.accumulators.iter().map(|a| a.size()).sum::<usize>();
        self.values.len() >= MERGED_GROUPS || self.reservation.try_resize(size).is_err()
    }

    /// Every group held, as rows of `schema`; none are held after.
    fn take(&mut self, schema: &SchemaRef) -> Result<Option<RecordBatch>> {
        if self.values.is_empty() {
            return Ok(None);
        }
        let mut columns = self.values.emit(EmitTo::All)?;
        self.values.clear_shrink(0);
        self.reservation.free();
        for accumulator in &mut self.accumulators {
            columns.extend(accumulator.state(EmitTo::All)?);
        }
        Ok(Some(RecordBatch::try_new(schema.clone(), columns)?))
    }
}
