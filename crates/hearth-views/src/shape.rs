//! A view's definition, planned and checked: what it reads, how it buckets time, which
//! aggregates it keeps as partial states, and the columns it shows.
//!
//! A continuous view is `SELECT <bucket> AS time, <keys>, <aggregates> FROM source [WHERE ...]
//! GROUP BY ...`, with `source` a Hearth table or another materialized view of the same
//! database and `<bucket>` a fixed-width bucket of the source's time (`date_bin`,
//! `time_bucket`, `date_trunc` up to weeks). Each aggregate must be one whose partial state
//! DataFusion can merge (count, sum, min, max, avg, first/last by time, counters,
//! approximations, statistics); anything else is refused with the reason.
//!
//! The view's rows of one bucket depend only on the source's rows of that bucket's time range,
//! which is what lets the maintainer recompute buckets one by one.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchemaRef, ScalarValue};
use datafusion::datasource::source_as_provider;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams, ScalarFunction};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::aggregate::{AggregateFunctionExpr, LoweredAggregateBuilder};
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, PhysicalGroupBy};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use deltalake::kernel::engine::arrow_conversion::{TryFromArrow, TryIntoArrow};
use hearth_catalog::schema::TIME_COLUMN;
use hearth_query::provider::TsTable;

use crate::bucket::Bucketing;
use crate::error::ViewError;
use crate::table::ViewTable;

/// Name of the bucket column in a view's files.
pub const STORED_TIME: &str = TIME_COLUMN;

/// Aggregates whose partial states merge exactly (DataFusion's names, after Hearth's `first` /
/// `last` become `first_value` / `last_value` ordered by time).
const MERGEABLE: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "mean",
    "first_value",
    "last_value",
    "counter_increase",
    "counter_rate",
    "approx_distinct",
    "approx_percentile_cont",
    "approx_percentile_cont_with_weight",
    "approx_median",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "var",
    "var_samp",
    "var_pop",
    "variance",
    "variance_samp",
    "variance_pop",
    "corr",
    "covar",
    "covar_samp",
    "covar_pop",
    "regr_slope",
    "regr_intercept",
    "regr_count",
    "regr_r2",
    "regr_avgx",
    "regr_avgy",
    "regr_sxx",
    "regr_syy",
    "regr_sxy",
    "bool_and",
    "bool_or",
    "bit_and",
    "bit_or",
    "bit_xor",
];

/// What a view reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A Hearth table.
    Table(String),
    /// Another materialized view.
    View(String),
}

impl Source {
    /// The table's or view's name.
    pub fn name(&self) -> &str {
        match self {
            Source::Table(n) | Source::View(n) => n,
        }
    }
}

/// A view's definition, planned.
#[derive(Debug, Clone)]
pub struct Shape {
    /// What it reads.
    pub source: Source,
    /// The aggregate's input: the source, filtered by the definition's `WHERE`.
    pub input: LogicalPlan,
    /// The source's time column in `input`.
    pub time: Column,
    /// Its type (a microsecond timestamp).
    pub time_type: DataType,
    /// The `GROUP BY` expressions over `input`; `group[bucket]` is the time bucket.
    pub group: Vec<Expr>,
    /// The aggregates over `input`.
    pub aggs: Vec<Expr>,
    /// Which group expression is the bucket.
    pub bucket: usize,
    /// The buckets.
    pub bucketing: Bucketing,
    /// The schema of `Aggregate(group, aggs)`.
    pub aggregate_schema: DFSchemaRef,
    /// The view's columns as expressions over `aggregate_schema`, named.
    pub projection: Vec<Expr>,
    /// The view's columns.
    pub output_schema: SchemaRef,
    /// Which of them is the bucket (its time column).
    pub time_output: usize,
    /// The partial aggregate's output: group columns, then each aggregate's state fields.
    pub state_schema: SchemaRef,
    /// The same columns as the view's files hold them: names readable in Delta, types Delta
    /// knows (unsigned integers as signed, lists' items as `element`).
    pub stored_schema: SchemaRef,
}

fn refuse(message: impl Into<String>) -> ViewError {
    ViewError::refused(message)
}

/// Plans `query` (a view definition) in `state` (a session of the view's database) and checks
/// that it can be maintained incrementally; `columns` renames the view's columns.
pub async fn compile(
    state: &SessionState,
    query: &str,
    columns: &[String],
) -> Result<Shape, ViewError> {
    let mut statements =
        datafusion::sql::parser::DFParser::parse_sql_with_dialect(query, &PostgreSqlDialect {})
            .map_err(|e| ViewError::syntax(e.to_string()))?;
    if statements.len() != 1 {
        return Err(ViewError::syntax(
            "a materialized view is defined by exactly one query",
        ));
    }
    let statement = statements.pop_front().expect("one statement");
    if !matches!(&statement, datafusion::sql::parser::Statement::Statement(s)
        if matches!(s.as_ref(), datafusion::sql::sqlparser::ast::Statement::Query(_)))
    {
        return Err(ViewError::syntax(
            "a materialized view is defined by a SELECT query",
        ));
    }
    let plan = state.statement_to_plan(statement).await?;
    let plan = state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})?;
    let (projection, aggregate) = match &plan {
        LogicalPlan::Projection(p) => match p.input.as_ref() {
            LogicalPlan::Aggregate(a) => (p.expr.clone(), a.clone()),
            other => return Err(not_an_aggregate(other)),
        },
        other => return Err(not_an_aggregate(other)),
    };
    let input = aggregate.input.as_ref().clone();
    let provider = check_input(&input)?;
    let (source, time_name) = source_of(&provider, &input)?;
    if aggregate.group_expr.is_empty() {
        return Err(refuse(
            "a continuous view needs GROUP BY with a time bucket, e.g. GROUP BY date_bin(INTERVAL '1 minute', time)",
        ));
    }
    let input_schema = input.schema().clone();
    let time = input_schema
        .columns()
        .into_iter()
        .find(|c| c.name == time_name)
        .ok_or_else(|| refuse(format!("{} has no column \"{time_name}\"", source.name())))?;
    let time_type = input_schema
        .qualified_field_from_column(&time)
        .map_err(ViewError::from)?
        .1
        .data_type()
        .clone();
    if !matches!(time_type, DataType::Timestamp(_, _)) {
        return Err(refuse(format!(
            "the time column of {} is {time_type}, not a timestamp",
            source.name()
        )));
    }
    let simplifier = ExprSimplifier::new(
        SimplifyContext::builder()
            .with_schema(input_schema.clone())
            .with_config_options(state.config_options().clone())
            .build(),
    );
    let simplify = |e: &Expr| -> Result<Expr, ViewError> {
        let name = e.schema_name().to_string();
        Ok(simplifier.simplify(e.clone())?.alias_if_changed(name)?)
    };
    let group: Vec<Expr> = aggregate
        .group_expr
        .iter()
        .map(simplify)
        .collect::<Result<_, _>>()?;
    for g in &group {
        check_deterministic(g, "GROUP BY")?;
        if matches!(g, Expr::GroupingSet(_)) {
            return Err(refuse(
                "GROUPING SETS, CUBE and ROLLUP are not supported in a continuous view",
            ));
        }
    }
    let mut bucket = None;
    for (i, g) in group.iter().enumerate() {
        if let Some(b) = bucketing_of(state, g, &time, &time_type)? {
            if bucket.is_some() {
                return Err(refuse(
                    "GROUP BY holds two time buckets; a continuous view has one",
                ));
            }
            bucket = Some((i, b));
        }
    }
    let Some((bucket, bucketing)) = bucket else {
        return Err(refuse(format!(
            "GROUP BY must include a time bucket of {time_name}: date_bin(INTERVAL '1 minute', {time_name}), time_bucket(INTERVAL '1 hour', {time_name}) or date_trunc('hour', {time_name})"
        )));
    };
    let aggs: Vec<Expr> = aggregate
        .aggr_expr
        .iter()
        .map(simplify)
        .collect::<Result<_, _>>()?;
    for a in &aggs {
        check_aggregate(a)?;
    }
    let rebuilt = Aggregate::try_new(Arc::new(input.clone()), group.clone(), aggs.clone())?;
    let aggregate_schema = rebuilt.schema.clone();
    if aggregate_schema.fields().len() != aggregate.schema.fields().len() {
        return Err(ViewError::internal(
            "the aggregate changed shape when simplified",
        ));
    }
    // The view's columns, renamed if a column list was given.
    if !columns.is_empty() && columns.len() != projection.len() {
        return Err(ViewError::syntax(format!(
            "the view's column list names {} columns, its query has {}",
            columns.len(),
            projection.len()
        )));
    }
    let mut named = Vec::with_capacity(projection.len());
    for (i, e) in projection.iter().enumerate() {
        check_deterministic(e, "the SELECT list")?;
        let name = match columns.get(i) {
            Some(c) => c.clone(),
            None => plan.schema().field(i).name().clone(),
        };
        named.push(e.clone().unalias().alias(name));
    }
    let output_fields: Vec<FieldRef> = named
        .iter()
        .map(|e| {
            let (_, field) = e.to_field(&aggregate_schema)?;
            Ok(field)
        })
        .collect::<Result<_, datafusion::error::DataFusionError>>()?;
    let output_schema = Arc::new(Schema::new(output_fields));
    let group_of = |e: &Expr| -> Option<usize> {
        match e.clone().unalias() {
            Expr::Column(c) => aggregate_schema
                .index_of_column(&c)
                .ok()
                .filter(|&i| i < group.len()),
            _ => None,
        }
    };
    let time_output = named
        .iter()
        .position(|e| group_of(e) == Some(bucket))
        .ok_or_else(|| {
            refuse(
                "the view must select its time bucket as a column, e.g. SELECT date_bin(INTERVAL '1 minute', time) AS time, ...",
            )
        })?;
    {
        let mut seen = std::collections::HashSet::new();
        for f in output_schema.fields() {
            if !seen.insert(f.name().clone()) {
                return Err(ViewError {
                    code: "42701",
                    message: format!("column \"{}\" specified more than once", f.name()),
                });
            }
        }
    }
    // The partial aggregate's output, as DataFusion builds it.
    let partial = partial_aggregate(
        state,
        &input_schema,
        &group,
        &aggs,
        Arc::new(EmptyExec::new(Arc::new(input_schema.as_arrow().clone()))),
    )?;
    let state_schema = partial.schema();
    let states_per_aggregate = partial
        .aggr_expr()
        .iter()
        .map(|a| Ok(a.state_fields()?.len()))
        .collect::<Result<Vec<usize>, datafusion::error::DataFusionError>>()?;
    let stored_schema = stored_schema(
        &state_schema,
        group.len(),
        bucket,
        &named,
        &group_of,
        &aggs,
        &states_per_aggregate,
    )?;
    Ok(Shape {
        source,
        input,
        time,
        time_type,
        group,
        aggs,
        bucket,
        bucketing,
        aggregate_schema,
        projection: named,
        output_schema,
        time_output,
        state_schema,
        stored_schema,
    })
}

fn not_an_aggregate(plan: &LogicalPlan) -> ViewError {
    match plan {
        LogicalPlan::Sort(_) => {
            refuse("ORDER BY has no effect on a view's rows; order them when you query the view")
        }
        LogicalPlan::Limit(_) => refuse("LIMIT is not supported in a continuous view"),
        LogicalPlan::Distinct(_) => refuse(
            "SELECT DISTINCT is not supported in a continuous view; GROUP BY the columns instead",
        ),
        LogicalPlan::Filter(_) => refuse(
            "HAVING filters whole groups after aggregation and cannot be maintained by bucket; filter when you query the view (WHERE) instead",
        ),
        LogicalPlan::Window(_) => refuse(
            "window functions are not supported in a continuous view; use them when you query it",
        ),
        LogicalPlan::Union(_) => refuse(
            "set operations (UNION, INTERSECT, EXCEPT) are not supported in a continuous view",
        ),
        LogicalPlan::Projection(p) => not_an_aggregate(p.input.as_ref()),
        _ => refuse(
            "a continuous view aggregates: SELECT <time bucket>, <columns>, <aggregates> FROM <table or view> [WHERE ...] GROUP BY ...",
        ),
    }
}

/// Checks that the aggregate's input is one table or view, optionally aliased and filtered;
/// returns its provider.
fn check_input(input: &LogicalPlan) -> Result<Arc<dyn TableProvider>, ViewError> {
    match input {
        LogicalPlan::Filter(f) => {
            check_deterministic(&f.predicate, "WHERE")?;
            check_input(f.input.as_ref())
        }
        LogicalPlan::SubqueryAlias(a) => match a.input.as_ref() {
            LogicalPlan::TableScan(_) => check_input(a.input.as_ref()),
            _ => Err(refuse(
                "a continuous view reads one table or materialized view directly (FROM name [WHERE ...]); subqueries cannot be maintained incrementally",
            )),
        },
        LogicalPlan::TableScan(scan) => Ok(source_as_provider(&scan.source)?),
        LogicalPlan::Join(_) => Err(refuse(
            "joins cannot be maintained incrementally: a continuous view reads one table or materialized view",
        )),
        _ => Err(refuse(
            "a continuous view reads one table or materialized view directly (FROM name [WHERE ...]); subqueries, joins and set operations cannot be maintained incrementally",
        )),
    }
}

fn scan_name(input: &LogicalPlan) -> String {
    match input {
        LogicalPlan::Filter(f) => scan_name(f.input.as_ref()),
        LogicalPlan::SubqueryAlias(a) => scan_name(a.input.as_ref()),
        LogicalPlan::TableScan(s) => s.table_name.to_string(),
        _ => String::new(),
    }
}

/// The source and its time column's name.
fn source_of(
    provider: &Arc<dyn TableProvider>,
    input: &LogicalPlan,
) -> Result<(Source, String), ViewError> {
    let any: &dyn std::any::Any = provider.as_ref();
    if let Some(t) = any.downcast_ref::<TsTable>() {
        if t.is_sql_table() {
            return Err(refuse(format!(
                "a continuous view reads time series; {} was created with CREATE TABLE and has \
                 no time column",
                t.name()
            )));
        }
        return Ok((Source::Table(t.name().to_string()), TIME_COLUMN.to_string()));
    }
    if let Some(v) = any.downcast_ref::<ViewTable>() {
        return Ok((
            Source::View(v.name().to_string()),
            v.time_column().to_string(),
        ));
    }
    Err(refuse(format!(
        "a continuous view reads a table or materialized view of its database; {} is neither",
        scan_name(input)
    )))
}

fn check_deterministic(e: &Expr, place: &str) -> Result<(), ViewError> {
    let mut found = None;
    e.apply(|e| {
        if let Expr::ScalarFunction(f) = e
            && f.func.signature().volatility != datafusion::logical_expr::Volatility::Immutable
        {
            found = Some(format!(
                "{}() in {place} changes from one evaluation to the next; a view's definition must give the same rows every time it is computed",
                f.func.name()
            ));
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        if matches!(
            e,
            Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
        ) {
            found = Some(format!(
                "subqueries in {place} cannot be maintained incrementally"
            ));
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })?;
    match found {
        Some(m) => Err(refuse(m)),
        None => Ok(()),
    }
}

fn check_aggregate(e: &Expr) -> Result<(), ViewError> {
    let inner = match e {
        Expr::Alias(a) => a.expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(AggregateFunction {
        func,
        params:
            AggregateFunctionParams {
                args,
                distinct,
                filter,
                order_by,
                ..
            },
    }) = inner
    else {
        return Err(refuse(format!("{e} is not an aggregate")));
    };
    let name = func.name();
    if *distinct {
        return Err(refuse(format!(
            "{name}(DISTINCT ...) keeps every distinct value of a bucket and cannot be maintained incrementally; use approx_distinct(...)"
        )));
    }
    match name {
        "median" | "percentile_cont" | "quantile_cont" | "mode" => {
            return Err(refuse(format!(
                "{name} keeps every value of a bucket and cannot be maintained incrementally; use approx_median or approx_percentile_cont"
            )));
        }
        "array_agg" | "string_agg" | "nth_value" => {
            return Err(refuse(format!(
                "{name} keeps every value of a bucket and cannot be maintained incrementally"
            )));
        }
        "first_value" | "last_value" if order_by.is_empty() => {
            return Err(refuse(format!(
                "{name} without ORDER BY depends on the order rows are read; use {}(value, time)",
                if name == "first_value" {
                    "first"
                } else {
                    "last"
                }
            )));
        }
        _ => {}
    }
    if !MERGEABLE.contains(&name) {
        return Err(refuse(format!(
            "aggregate {name} cannot be maintained incrementally (continuous views support count, sum, min, max, avg, first, last, counter_increase, counter_rate, approx_distinct, approx_percentile_cont, approx_median, stddev, variance, corr, covar, regr_*, bool_and, bool_or, bit_and, bit_or, bit_xor)"
        )));
    }
    for arg in args {
        check_deterministic(arg, name)?;
    }
    if let Some(f) = filter {
        check_deterministic(f, "FILTER")?;
    }
    for o in order_by {
        check_deterministic(&o.expr, "ORDER BY")?;
    }
    Ok(())
}

/// A literal's value, folding casts and constant expressions.
fn constant(state: &SessionState, e: &Expr) -> Option<ScalarValue> {
    let simplifier = ExprSimplifier::new(
        SimplifyContext::builder()
            .with_config_options(state.config_options().clone())
            .build(),
    );
    match simplifier.simplify(e.clone()).ok()? {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

/// Whether `e` is `time` (possibly cast to another timestamp unit).
fn is_time(e: &Expr, time: &Column) -> bool {
    match e {
        Expr::Column(c) => c == time || (c.relation.is_none() && c.name == time.name),
        Expr::Cast(c) => {
            matches!(c.field.data_type(), DataType::Timestamp(..)) && is_time(&c.expr, time)
        }
        _ => false,
    }
}

/// The buckets of `e` if it is a time bucket of `time`, `None` if it is some other expression,
/// or why it is a bucket Hearth cannot maintain.
fn bucketing_of(
    state: &SessionState,
    e: &Expr,
    time: &Column,
    time_type: &DataType,
) -> Result<Option<Bucketing>, ViewError> {
    let call = match e {
        Expr::Alias(a) => a.expr.as_ref(),
        other => other,
    };
    let Expr::ScalarFunction(ScalarFunction { func, args }) = call else {
        return Ok(None);
    };
    let name = func.name();
    if !matches!(
        name,
        "date_bin" | "time_bucket" | "date_trunc" | "datetrunc"
    ) {
        return Ok(None);
    }
    let Some(source) = args.get(1) else {
        return Ok(None);
    };
    if !is_time(source, time) {
        let reads_time = source.column_refs().iter().any(|c| c.name == time.name);
        if reads_time {
            return Err(refuse(format!(
                "{name} must bucket the time column itself ({}); a shifted or converted time (AT TIME ZONE, arithmetic) cannot be maintained by bucket",
                time.name
            )));
        }
        return Ok(None);
    }
    let calendar = || {
        refuse(format!(
            "{name} with months or years makes buckets of different lengths, which a continuous view cannot maintain; use a fixed interval (seconds to weeks) and group by month when querying"
        ))
    };
    let width = if name == "date_trunc" || name == "datetrunc" {
        let unit = match args.first().and_then(|a| constant(state, a)) {
            Some(ScalarValue::Utf8(Some(u)) | ScalarValue::Utf8View(Some(u))) => {
                u.to_ascii_lowercase()
            }
            _ => return Err(refuse("date_trunc needs a constant unit such as 'hour'")),
        };
        match unit.as_str() {
            "microsecond" | "microseconds" => 1,
            "millisecond" | "milliseconds" => 1_000,
            "second" | "seconds" => 1_000_000,
            "minute" | "minutes" => 60_000_000,
            "hour" | "hours" => 3_600_000_000,
            "day" | "days" => 86_400_000_000,
            "week" | "weeks" => 7 * 86_400_000_000,
            "month" | "quarter" | "year" | "decade" | "century" | "millennium" => {
                return Err(calendar());
            }
            other => return Err(refuse(format!("date_trunc: unknown unit '{other}'"))),
        }
    } else {
        if name == "time_bucket" && args.len() >= 3 {
            let third = constant(state, &args[2]);
            if let Some(ScalarValue::Utf8(Some(zone)) | ScalarValue::Utf8View(Some(zone))) = third
                && !matches!(zone.as_str(), "UTC" | "utc" | "Etc/UTC" | "Z")
            {
                return Err(refuse(format!(
                    "time_bucket in time zone '{zone}': buckets on a local clock change length with daylight saving time and cannot be maintained; bucket in UTC"
                )));
            }
        }
        match args.first().and_then(|a| constant(state, a)) {
            Some(ScalarValue::IntervalMonthDayNano(Some(v))) => {
                if v.months != 0 {
                    return Err(calendar());
                }
                if v.nanoseconds % 1_000 != 0 {
                    return Err(refuse(format!(
                        "{name}: the interval must be whole microseconds"
                    )));
                }
                i64::from(v.days) * 86_400_000_000 + v.nanoseconds / 1_000
            }
            Some(ScalarValue::IntervalDayTime(Some(v))) => {
                i64::from(v.days) * 86_400_000_000 + i64::from(v.milliseconds) * 1_000
            }
            Some(ScalarValue::IntervalYearMonth(Some(_))) => return Err(calendar()),
            _ => {
                return Err(refuse(format!(
                    "{name} needs a constant interval such as INTERVAL '1 minute'"
                )));
            }
        }
    };
    if width <= 0 {
        return Err(refuse(format!("{name}: the bucket width must be positive")));
    }
    // The grid's origin: where the bucket of t = 0 starts. Checked against the function itself
    // at times far apart, so the buckets are exactly what the definition computes.
    let at = |t: i64| -> Result<i64, ViewError> {
        let value = time_scalar(t, time_type);
        let replaced = e
            .clone()
            .transform(|x| {
                Ok(if is_time(&x, time) {
                    Transformed::yes(Expr::Literal(value.clone(), None))
                } else {
                    Transformed::no(x)
                })
            })?
            .data;
        let micros = match constant(state, &replaced) {
            Some(ScalarValue::TimestampMicrosecond(Some(v), _)) => Some(v),
            Some(ScalarValue::TimestampNanosecond(Some(v), _)) => Some(v.div_euclid(1_000)),
            Some(ScalarValue::TimestampMillisecond(Some(v), _)) => Some(v * 1_000),
            Some(ScalarValue::TimestampSecond(Some(v), _)) => Some(v * 1_000_000),
            _ => None,
        };
        micros.ok_or_else(|| refuse(format!("{name} does not give a timestamp for every time")))
    };
    let bucketing = Bucketing::new(width, at(0)?);
    for t in [
        1,
        width - 1,
        width,
        -1,
        -width - 7,
        1_764_000_123_456_789,
        -12_345_678_901_234,
        4_102_444_800_000_001,
    ] {
        if at(t)? != bucketing.start(t) {
            return Err(refuse(format!(
                "{name} as written does not make buckets of one fixed width, which a continuous view needs"
            )));
        }
    }
    Ok(Some(bucketing))
}

/// The partial aggregate of `group` and `aggs` over `input` (whose logical schema is
/// `schema`), as DataFusion's planner builds it.
pub fn partial_aggregate(
    state: &SessionState,
    schema: &DFSchemaRef,
    group: &[Expr],
    aggs: &[Expr],
    input: Arc<dyn ExecutionPlan>,
) -> Result<AggregateExec, ViewError> {
    let props = state.execution_props();
    let planning = PhysicalPlanningContext::default();
    let physical_schema = input.schema();
    let groups = group
        .iter()
        .map(|e| {
            Ok((
                create_physical_expr(e, schema, props, &planning)?,
                datafusion::logical_expr::expr::physical_name(e)?,
            ))
        })
        .collect::<Result<Vec<_>, datafusion::error::DataFusionError>>()?;
    let mut aggregates: Vec<Arc<AggregateFunctionExpr>> = Vec::new();
    let mut filters = Vec::new();
    for e in aggs {
        let lowered =
            LoweredAggregateBuilder::new(e, schema, &physical_schema, props, &planning).build()?;
        aggregates.push(lowered.aggregate);
        filters.push(lowered.filter);
    }
    Ok(AggregateExec::try_new(
        AggregateMode::Partial,
        PhysicalGroupBy::new_single(groups),
        aggregates,
        filters,
        input,
        physical_schema,
    )?)
}

/// A Delta-friendly form of `t`: what the kernel's Delta type of it reads back as.
fn stored_type(t: &DataType) -> Option<DataType> {
    let delta = deltalake::kernel::DataType::try_from_arrow(t).ok()?;
    (&delta).try_into_arrow().ok()
}

/// The view files' columns for the partial states `state_schema`: the bucket as `time`, the
/// other group columns by the view column showing them (else `group_<i>`), each state as
/// `<aggregate's view column or agg_<i>>__<state>`.
fn stored_schema(
    state_schema: &SchemaRef,
    groups: usize,
    bucket: usize,
    named: &[Expr],
    group_of: &dyn Fn(&Expr) -> Option<usize>,
    aggs: &[Expr],
    states_per_aggregate: &[usize],
) -> Result<SchemaRef, ViewError> {
    let mut names: Vec<String> = Vec::new();
    let mut taken = std::collections::HashSet::new();
    let mut unique = |wanted: String, fallback: String| {
        let name = if taken.contains(&wanted) || wanted.is_empty() {
            fallback
        } else {
            wanted
        };
        taken.insert(name.clone());
        name
    };
    for g in 0..groups {
        let wanted = if g == bucket {
            STORED_TIME.to_string()
        } else {
            named
                .iter()
                .find(|e| group_of(e) == Some(g))
                .map(|e| e.schema_name().to_string())
                .unwrap_or_default()
        };
        names.push(unique(wanted, format!("group_{g}")));
    }
    let fields = state_schema.fields();
    let mut i = groups;
    for (a, (agg, &count)) in aggs.iter().zip(states_per_aggregate).enumerate() {
        let agg_name = agg.schema_name().to_string();
        // The view column that shows exactly this aggregate, if any.
        let shown = named
            .iter()
            .find(|e| matches!((*e).clone().unalias(), Expr::Column(c) if c.name == agg_name))
            .map(|e| e.schema_name().to_string());
        let base = shown.unwrap_or_else(|| format!("agg_{a}"));
        for _ in 0..count {
            let field_name = fields[i].name();
            // DataFusion names states `<aggregate>[<state>]`, orderings by their column.
            let state = match field_name.strip_prefix(agg_name.as_str()) {
                Some(rest) if rest.starts_with('[') => {
                    rest.trim_start_matches('[').trim_end_matches(']')
                }
                _ => field_name.as_str(),
            };
            let clean: String = state
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { '_' })
                .collect();
            names.push(unique(format!("{base}__{clean}"), format!("agg_{a}__{i}")));
            i += 1;
        }
    }
    if names.len() != fields.len() {
        return Err(ViewError::internal(format!(
            "the partial aggregate has {} columns, {} expected",
            fields.len(),
            names.len()
        )));
    }
    let mut stored = Vec::with_capacity(fields.len());
    for (f, name) in fields.iter().zip(names) {
        let t = stored_type(f.data_type()).ok_or_else(|| {
            refuse(format!(
                "the partial state {} has type {}, which a Delta table cannot hold",
                f.name(),
                f.data_type()
            ))
        })?;
        stored.push(Field::new(name, t, true));
    }
    Ok(Arc::new(Schema::new(stored)))
}

/// `micros` (microseconds since the epoch) as a scalar of `time_type`, a timestamp of any unit
/// (a view over a view reads a bucket function's nanoseconds).
pub fn time_scalar(micros: i64, time_type: &DataType) -> ScalarValue {
    match time_type {
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
            ScalarValue::TimestampNanosecond(Some(micros.saturating_mul(1_000)), tz.clone())
        }
        DataType::Timestamp(TimeUnit::Millisecond, tz) => {
            ScalarValue::TimestampMillisecond(Some(micros.div_euclid(1_000)), tz.clone())
        }
        DataType::Timestamp(TimeUnit::Second, tz) => {
            ScalarValue::TimestampSecond(Some(micros.div_euclid(1_000_000)), tz.clone())
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            ScalarValue::TimestampMicrosecond(Some(micros), tz.clone())
        }
        _ => ScalarValue::TimestampMicrosecond(Some(micros), None),
    }
}
