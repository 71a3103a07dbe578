//! Gap filling: `date_bin_gapfill`, `locf()` and `interpolate()` (InfluxDB 3's names).
//!
//! ```sql
//! SELECT date_bin_gapfill(INTERVAL '1 minute', time) AS minute, room,
//!        locf(avg(temperature)), interpolate(max(humidity))
//! FROM climate WHERE time >= '2024-05-01T10:00:00Z' AND time < '2024-05-01T11:00:00Z'
//! GROUP BY minute, room
//! ```
//!
//! answers one row per minute of the hour for every room that has data, minutes without rows
//! included: their aggregates are NULL, or carried forward from the last minute with a value
//! (`locf`), or interpolated linearly between the minutes around them (`interpolate`).
//!
//! The analyzer rule [`GapFillRule`] rewrites such a query: the aggregate groups by `date_bin`
//! instead, and a [`GapFill`] node above it adds the missing buckets. The range comes from the
//! `WHERE` clause's bounds on the binned column, both of which are required (a bound such as
//! `now() - INTERVAL '1 hour'` is evaluated when the query runs); the first bucket is the one
//! holding the lower bound, the last the one before the upper bound (or holding it, for `<=`).
//! Groups are the combinations of the other `GROUP BY` values that have rows in the range.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DFSchemaRef, Result, exec_err, plan_err};
use datafusion::logical_expr::expr::{Alias, ScalarFunction};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, ColumnarValue, Expr, Extension, LogicalPlan, Operator, Projection,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, UserDefinedLogicalNodeCore,
    Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use super::bins;

mod exec;

pub use exec::{GapFillExec, GapFillPlanner};

const GAPFILL: &str = "date_bin_gapfill";
const LOCF: &str = "locf";
const INTERPOLATE: &str = "interpolate";

/// A marker function: meaningful only where [`GapFillRule`] rewrites it away.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Marker {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for Marker {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if self.name == GAPFILL {
            return bins::date_bin_udf().return_type(arg_types);
        }
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!("{}", misuse(self.name))
    }
}

/// Why a marker function cannot run where it stands.
fn misuse(name: &str) -> String {
    if name == GAPFILL {
        "date_bin_gapfill(interval, time) can only be a GROUP BY expression of an aggregate query \
         whose WHERE clause bounds the time from below and above"
            .to_string()
    } else {
        format!(
            "{name}() can only wrap an aggregate of a query that groups by date_bin_gapfill, \
             as in SELECT date_bin_gapfill(...) AS t, {name}(avg(x)) ... GROUP BY t"
        )
    }
}

/// `date_bin_gapfill(interval, time [, origin])`.
pub fn date_bin_gapfill_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Marker {
        name: GAPFILL,
        signature: bins::date_bin_udf().signature().clone(),
    })
}

/// `locf(aggregate)`: last observation carried forward.
pub fn locf_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Marker {
        name: LOCF,
        signature: Signature::any(1, Volatility::Immutable),
    })
}

/// `interpolate(aggregate)`: linear interpolation between the buckets around a gap.
pub fn interpolate_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Marker {
        name: INTERPOLATE,
        signature: Signature::any(1, Volatility::Immutable),
    })
}

/// The arguments of `expr` if it calls the function `name`.
fn call_of<'a>(expr: &'a Expr, name: &str) -> Option<&'a [Expr]> {
    match expr {
        Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == name => Some(args),
        _ => None,
    }
}

fn uses(expr: &Expr, name: &str) -> bool {
    expr.exists(|e| Ok(call_of(e, name).is_some()))
        .unwrap_or(false)
}

/// How a filled copy of an aggregate column gets values for missing buckets (the column itself
/// is NULL there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum Fill {
    /// The last non-NULL value before it in the group.
    Locf,
    /// Linear between the non-NULL values before and after it in the group.
    Interpolate,
}

/// A filled copy of an aggregate column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct Derived {
    source: usize,
    fill: Fill,
    name: String,
}

/// The logical node: the aggregate's rows plus the missing buckets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GapFill {
    input: LogicalPlan,
    /// Index of the bucket column in the input.
    bucket: usize,
    /// Indices of the other grouping columns.
    groups: Vec<usize>,
    /// The aggregate columns (NULL in added buckets).
    aggregates: Vec<usize>,
    /// Filled copies of aggregate columns, appended after the input's columns: `locf(c)`,
    /// `interpolate(c)`.
    derived: Vec<Derived>,
    /// The bucket width (an interval).
    stride: Expr,
    /// The first bucket: `date_bin(stride, lower bound, origin)`.
    first: Expr,
    /// The upper bound, and whether it is inclusive.
    upper: Expr,
    upper_inclusive: bool,
    schema: DFSchemaRef,
}

impl GapFill {
    fn output_schema(
        input: &LogicalPlan,
        aggregates: &[usize],
        derived: &[Derived],
    ) -> Result<DFSchemaRef> {
        let schema = input.schema();
        let mut fields: Vec<_> = schema
            .iter()
            .enumerate()
            .map(|(i, (qualifier, field))| {
                let field = if aggregates.contains(&i) {
                    Arc::new(field.as_ref().clone().with_nullable(true))
                } else {
                    field.clone()
                };
                (qualifier.cloned(), field)
            })
            .collect();
        for d in derived {
            let source = schema.field(d.source);
            fields.push((
                None,
                Arc::new(datafusion::arrow::datatypes::Field::new(
                    &d.name,
                    source.data_type().clone(),
                    true,
                )),
            ));
        }
        Ok(Arc::new(DFSchema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        )?))
    }
}

impl PartialOrd for GapFill {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        let key = |g: &GapFill| {
            (
                g.input.clone(),
                g.bucket,
                g.groups.clone(),
                g.aggregates.clone(),
                g.derived.clone(),
                (g.stride.clone(), g.first.clone(), g.upper.clone()),
                g.upper_inclusive,
            )
        };
        key(self).partial_cmp(&key(other))
    }
}

impl UserDefinedLogicalNodeCore for GapFill {
    fn name(&self) -> &str {
        "GapFill"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![self.stride.clone(), self.first.clone(), self.upper.clone()]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "GapFill: bucket={}, stride={}, from {} to {}{}",
            self.schema.field(self.bucket).name(),
            self.stride,
            self.first,
            self.upper,
            if self.upper_inclusive {
                " (inclusive)"
            } else {
                ""
            }
        )
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let (Ok([stride, first, upper]), Ok([input])) = (
            <[Expr; 3]>::try_from(exprs),
            <[LogicalPlan; 1]>::try_from(inputs),
        ) else {
            return plan_err!("GapFill takes three expressions and one input");
        };
        let schema = GapFill::output_schema(&input, &self.aggregates, &self.derived)?;
        Ok(GapFill {
            input,
            stride,
            first,
            upper,
            schema,
            ..self.clone()
        })
    }
}

/// Rewrites gap-filling aggregates into [`GapFill`] over a plain aggregate.
#[derive(Debug, Default)]
pub struct GapFillRule;

impl AnalyzerRule for GapFillRule {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let plan = plan
            .transform_up_with_subqueries(|node| match node {
                LogicalPlan::Aggregate(agg) if agg.group_expr.iter().any(|e| uses(e, GAPFILL)) => {
                    rewrite_aggregate(agg).map(Transformed::yes)
                }
                LogicalPlan::Projection(p) if is_gapfill(&p.input) => {
                    rewrite_projection(p).map(Transformed::yes)
                }
                other => Ok(Transformed::no(other)),
            })?
            .data;
        // Anything left is a misuse.
        let mut left = None;
        plan.apply_with_subqueries(|node| {
            for e in node.expressions() {
                if let Some(name) = [GAPFILL, LOCF, INTERPOLATE]
                    .into_iter()
                    .find(|n| uses(&e, n))
                {
                    left = Some(name);
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        match left {
            Some(name) => plan_err!("{}", misuse(name)),
            None => Ok(plan),
        }
    }

    fn name(&self) -> &str {
        "hearth_gapfill"
    }
}

fn is_gapfill(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Extension(e) if e.node.as_any().is::<GapFill>())
}

/// The bounds on `time` in the filters right below an aggregate: (lower, upper, inclusive).
fn time_bounds(plan: &LogicalPlan, time: &Column) -> (Option<Expr>, Option<(Expr, bool)>) {
    let mut lower: Option<Expr> = None;
    let mut upper: Option<(Expr, bool)> = None;
    let is_time = |e: &Expr| {
        let mut e = e;
        while let Expr::Cast(c) = e {
            e = &c.expr;
        }
        matches!(e, Expr::Column(c) if c.name == time.name)
    };
    let constant = |e: &Expr| e.column_refs().is_empty();
    let mut add_lower = |e: Expr| {
        lower = Some(match lower.take() {
            Some(l) => datafusion::functions::core::expr_fn::greatest(vec![l, e]),
            None => e,
        })
    };
    let mut uppers: Vec<(Expr, bool)> = Vec::new();
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Filter(f) => {
                for c in split_conjunction(&f.predicate) {
                    match c {
                        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                            let (op, value) = if is_time(left) && constant(right) {
                                (*op, right.as_ref())
                            } else if is_time(right) && constant(left) {
                                let Some(op) = op.swap() else { continue };
                                (op, left.as_ref())
                            } else {
                                continue;
                            };
                            match op {
                                Operator::Gt | Operator::GtEq => add_lower(value.clone()),
                                Operator::Lt => uppers.push((value.clone(), false)),
                                Operator::LtEq => uppers.push((value.clone(), true)),
                                Operator::Eq => {
                                    add_lower(value.clone());
                                    uppers.push((value.clone(), true));
                                }
                                _ => {}
                            }
                        }
                        Expr::Between(b)
                            if !b.negated
                                && is_time(&b.expr)
                                && constant(&b.low)
                                && constant(&b.high) =>
                        {
                            add_lower(b.low.as_ref().clone());
                            uppers.push((b.high.as_ref().clone(), true));
                        }
                        _ => {}
                    }
                }
                node = f.input.as_ref();
            }
            LogicalPlan::Projection(p) => node = p.input.as_ref(),
            LogicalPlan::SubqueryAlias(s) => node = s.input.as_ref(),
            _ => break,
        }
    }
    // Several upper bounds: the smallest wins; inclusive only when one bound is given.
    if uppers.len() == 1 {
        upper = uppers.pop();
    } else if !uppers.is_empty() {
        let exprs = uppers.into_iter().map(|(e, _)| e).collect();
        upper = Some((datafusion::functions::core::expr_fn::least(exprs), false));
    }
    (lower, upper)
}

fn rewrite_aggregate(agg: Aggregate) -> Result<LogicalPlan> {
    let mut bucket = None;
    let mut group_expr = Vec::with_capacity(agg.group_expr.len());
    for (i, e) in agg.group_expr.iter().enumerate() {
        let name = e.schema_name().to_string();
        let inner = match e {
            Expr::Alias(Alias { expr, .. }) => expr.as_ref(),
            other => other,
        };
        match call_of(inner, GAPFILL) {
            Some(_) if bucket.is_some() => {
                return plan_err!("a query can group by date_bin_gapfill only once");
            }
            Some(args) => {
                bucket = Some((i, args.to_vec()));
                let date_bin = Arc::new(bins::date_bin_udf());
                group_expr.push(
                    Expr::ScalarFunction(ScalarFunction::new_udf(date_bin, args.to_vec()))
                        .alias(name),
                );
            }
            None if uses(e, GAPFILL) => {
                return plan_err!("date_bin_gapfill must be a GROUP BY expression by itself");
            }
            None => group_expr.push(e.clone()),
        }
    }
    let Some((bucket, args)) = bucket else {
        return plan_err!("{}", misuse(GAPFILL));
    };
    let Some(Expr::Column(time)) = args.get(1).map(|e| {
        let mut e = e;
        while let Expr::Cast(c) = e {
            e = &c.expr;
        }
        e.clone()
    }) else {
        return plan_err!("date_bin_gapfill: the second argument must be a time column");
    };
    let (lower, upper) = time_bounds(&agg.input, &time);
    let (Some(lower), Some((upper, upper_inclusive))) = (lower, upper) else {
        return plan_err!(
            "date_bin_gapfill needs the time range in WHERE: a lower and an upper bound on {} \
             (such as time >= '2024-05-01T00:00:00Z' AND time < '2024-05-02T00:00:00Z')",
            time.name
        );
    };
    let mut first_args = vec![args[0].clone(), lower];
    first_args.extend(args.get(2).cloned());
    let first = Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(bins::date_bin_udf()),
        first_args,
    ));
    let n_groups = agg.group_expr.len();
    let n_aggs = agg.aggr_expr.len();
    let input = LogicalPlan::Aggregate(Aggregate::try_new(
        agg.input.clone(),
        group_expr,
        agg.aggr_expr.clone(),
    )?);
    let aggregates: Vec<usize> = (n_groups..n_groups + n_aggs).collect();
    let schema = GapFill::output_schema(&input, &aggregates, &[])?;
    let node = GapFill {
        input,
        bucket,
        groups: (0..n_groups).filter(|i| *i != bucket).collect(),
        aggregates,
        derived: Vec::new(),
        stride: args[0].clone(),
        first,
        upper,
        upper_inclusive,
        schema,
    };
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    }))
}

/// Moves `locf(c)` / `interpolate(c)` of the projection above a [`GapFill`] into the node.
fn rewrite_projection(p: Projection) -> Result<LogicalPlan> {
    let LogicalPlan::Extension(ext) = p.input.as_ref() else {
        return plan_err!("expected GapFill below the projection");
    };
    let Some(node) = ext.node.as_any().downcast_ref::<GapFill>() else {
        return plan_err!("expected GapFill below the projection");
    };
    let mut node = node.clone();
    let mut exprs = Vec::with_capacity(p.expr.len());
    for e in p.expr {
        let name = e.schema_name().to_string();
        let rewritten = e
            .transform_up(|e| {
                let fill = if call_of(&e, LOCF).is_some() {
                    Fill::Locf
                } else if call_of(&e, INTERPOLATE).is_some() {
                    Fill::Interpolate
                } else {
                    return Ok(Transformed::no(e));
                };
                let args = call_of(&e, if fill == Fill::Locf { LOCF } else { INTERPOLATE })
                    .unwrap_or_default();
                let Some(Expr::Column(c)) = args.first() else {
                    return plan_err!(
                        "locf() and interpolate() take an aggregate of the query, such as locf(avg(x))"
                    );
                };
                let source = node.input.schema().index_of_column(c)?;
                if !node.aggregates.contains(&source) {
                    return plan_err!(
                        "locf() and interpolate() apply to aggregates, not to {}",
                        c.name
                    );
                }
                let data_type = node.input.schema().field(source).data_type();
                if fill == Fill::Interpolate && !data_type.is_numeric() {
                    return plan_err!(
                        "interpolate() needs a numeric aggregate, {} is {data_type}",
                        c.name
                    );
                }
                let name = e.schema_name().to_string();
                if !node.derived.iter().any(|d| d.name == name) {
                    node.derived.push(Derived {
                        source,
                        fill,
                        name: name.clone(),
                    });
                }
                Ok(Transformed::yes(Expr::Column(Column::from_name(name))))
            })?
            .data;
        exprs.push(if rewritten.schema_name().to_string() == name {
            rewritten
        } else {
            rewritten.alias(name)
        });
    }
    node.schema = GapFill::output_schema(&node.input, &node.aggregates, &node.derived)?;
    let input = LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    });
    Ok(LogicalPlan::Projection(Projection::try_new(
        exprs,
        Arc::new(input),
    )?))
}
