//! `first(value, time)` and `last(value, time)`: the value at the earliest / latest time of
//! each group, as TimescaleDB and InfluxDB name them.
//!
//! Rows whose value is NULL are skipped (a field not written at the latest time does not hide
//! its last written value, as in InfluxDB), and so are rows whose time is NULL. Both are planned
//! as DataFusion's `first_value` / `last_value` with an ordering (their grouped accumulators,
//! partial states and order-aware plans come for free): the rewrite happens when the optimizer
//! simplifies expressions, so names and types seen by the client are `first` / `last`.

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::functions_aggregate::first_last::{first_value_udaf, last_value_udaf};
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams, NullTreatment};
use datafusion::logical_expr::function::{AccumulatorArgs, AggregateFunctionSimplification};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility,
};

/// Which end of the time range a selector picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum End {
    First,
    Last,
}

/// `first(value, time)` or `last(value, time)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    end: End,
    signature: Signature,
}

impl Selector {
    fn new(end: End) -> Selector {
        Selector {
            end,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for Selector {
    fn name(&self) -> &str {
        match self.end {
            End::First => "first",
            End::Last => "last",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !matches!(
            arg_types[1],
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
        ) && !arg_types[1].is_numeric()
        {
            return plan_err!(
                "{}(value, time): the second argument orders the rows and must be a timestamp, got {}",
                self.name(),
                arg_types[1]
            );
        }
        Ok(arg_types[0].clone())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        exec_err!(
            "{}(value, time) is executed as {}_value(value ORDER BY time); the rewrite did not run",
            self.name(),
            self.name()
        )
    }

    fn state_fields(
        &self,
        _args: datafusion::logical_expr::function::StateFieldsArgs,
    ) -> Result<Vec<FieldRef>> {
        exec_err!("{}(value, time) has no state of its own", self.name())
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        let end = self.end;
        Some(Box::new(move |call: AggregateFunction, _| {
            let AggregateFunctionParams {
                mut args, filter, ..
            } = call.params;
            let (value, time) = match (args.pop(), args.pop()) {
                (Some(time), Some(value)) => (value, time),
                _ => return plan_err!("first/last take (value, time)"),
            };
            let udaf = match end {
                End::First => first_value_udaf(),
                End::Last => last_value_udaf(),
            };
            let order = vec![time.clone().sort(true, false)];
            // Rows without a time are not candidates.
            let filter = Some(Box::new(match filter {
                Some(f) => time.is_not_null().and(*f),
                None => time.is_not_null(),
            }));
            Ok(Expr::AggregateFunction(AggregateFunction::new_udf(
                udaf,
                vec![value],
                false,
                filter,
                order,
                Some(NullTreatment::IgnoreNulls),
            )))
        }))
    }
}

/// `first(value, time)`.
pub fn first_udaf() -> AggregateUDF {
    AggregateUDF::new_from_impl(Selector::new(End::First))
}

/// `last(value, time)`.
pub fn last_udaf() -> AggregateUDF {
    AggregateUDF::new_from_impl(Selector::new(End::Last))
}
