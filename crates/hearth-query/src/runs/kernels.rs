//! `count`, `sum`, `avg`, `min` and `max` of a run at once.
//!
//! DataFusion's groups accumulators take one group index per row and add row by row. Over a
//! run, where every row belongs to the same group, one pass over the run's values gives the
//! same partial state for a fraction of the work: a loop over the raw values for short runs,
//! arrow's vectorised kernels (`sum`, `min`, `max`) from [`LONG_RUN`] rows on. A kernel is used
//! only where its state is exactly the state DataFusion's final aggregate expects (checked
//! against the aggregate's state fields); anything else keeps the accumulator. `min` and `max`
//! of floats keep it too: DataFusion's compare with `partial_cmp`, arrow's kernels in a total
//! order, which differ on NaN and on -0 against 0.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowNumericType, AsArray, Float64Array, Int64Array, PrimitiveArray,
    UInt64Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{max as arrow_max, min as arrow_min, sum};
use datafusion::arrow::datatypes::ArrowNativeTypeOp;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt64Type,
};
use datafusion::logical_expr::EmitTo;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::CastExpr;

/// The partial state of one aggregate for the groups of a partition, a run at a time.
pub(super) trait RunKernel: Send {
    /// Adds each run of `values` (the aggregate's one argument) to its group: run `j` to group
    /// `first + j`, where `first` is the last group held (the run continues it) or the next.
    fn add(&mut self, values: &ArrayRef, runs: &[Range<usize>], first: usize);

    /// The state of the groups `emit` names, taken out (as `GroupsAccumulator::state`).
    fn state(&mut self, emit: EmitTo) -> Vec<ArrayRef>;
}

/// The kernel computing `aggregate`'s partial state over `schema`'s rows, if there is one, and
/// the expression whose values it reads: the aggregate's argument, or for `avg` of integers
/// (which DataFusion casts to floats row by row) the integers themselves.
pub(super) fn kernel(
    aggregate: &AggregateFunctionExpr,
    schema: &Schema,
) -> Option<(Box<dyn RunKernel>, Arc<dyn PhysicalExpr>)> {
    let [argument] = aggregate.expressions().try_into().ok()?;
    let input = argument.data_type(schema).ok()?;
    if let Some(cast) = argument.downcast_ref::<CastExpr>()
        && aggregate.fun().name() == "avg"
        && input == DataType::Float64
        && cast.expr().data_type(schema).ok()? == DataType::Int64
        && states_of(aggregate)? == [DataType::UInt64, DataType::Float64]
    {
        return Some((Box::new(AvgOfIntegers::default()), cast.expr().clone()));
    }
    let kernel = by_type(aggregate, &input, &states_of(aggregate)?)?;
    Some((kernel, argument))
}

/// The types of `aggregate`'s partial state.
fn states_of(aggregate: &AggregateFunctionExpr) -> Option<Vec<DataType>> {
    Some(
        aggregate
            .state_fields()
            .ok()?
            .iter()
            .map(|f| f.data_type().clone())
            .collect(),
    )
}

/// The kernel of `aggregate` over values of type `input`, whose state has types `states`.
fn by_type(
    aggregate: &AggregateFunctionExpr,
    input: &DataType,
    states: &[DataType],
) -> Option<Box<dyn RunKernel>> {
    let input = input.clone();
    use DataType::*;
    Some(match (aggregate.fun().name(), &input, states) {
        ("count", _, [Int64]) => Box::new(Count::default()),
        ("sum", Int64, [Int64]) => Box::new(Sum::<Int64Type>::new(Int64)),
        ("sum", Float64, [Float64]) => Box::new(Sum::<Float64Type>::new(Float64)),
        ("avg", Float64, [UInt64, Float64]) => Box::new(Avg::default()),
        (name @ ("min" | "max"), _, [state]) if *state == input => {
            let max = name == "max";
            match &input {
                Int64 => Box::new(Extreme::<Int64Type>::new(input.clone(), max)),
                Int32 => Box::new(Extreme::<Int32Type>::new(input.clone(), max)),
                UInt64 => Box::new(Extreme::<UInt64Type>::new(input.clone(), max)),
                Timestamp(TimeUnit::Second, _) => {
                    Box::new(Extreme::<TimestampSecondType>::new(input.clone(), max))
                }
                Timestamp(TimeUnit::Millisecond, _) => {
                    Box::new(Extreme::<TimestampMillisecondType>::new(input.clone(), max))
                }
                Timestamp(TimeUnit::Microsecond, _) => {
                    Box::new(Extreme::<TimestampMicrosecondType>::new(input.clone(), max))
                }
                Timestamp(TimeUnit::Nanosecond, _) => {
                    Box::new(Extreme::<TimestampNanosecondType>::new(input.clone(), max))
                }
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// `values[group]`, added when `group` is one past the last.
fn slot<T: Default>(values: &mut Vec<T>, group: usize) -> &mut T {
    if group == values.len() {
        values.push(T::default());
    }
    &mut values[group]
}

/// The values `emit` names, taken out of `values`.
fn take<T>(values: &mut Vec<T>, emit: EmitTo) -> Vec<T> {
    match emit {
        EmitTo::All => std::mem::take(values),
        EmitTo::First(n) => {
            let rest = values.split_off(n);
            std::mem::replace(values, rest)
        }
    }
}

/// Runs at least this long are summed by arrow's vectorised kernel, shorter ones in a loop
/// (slicing an array costs more than adding a few values).
const LONG_RUN: usize = 64;

/// Calls `f(group, run)` for each run of `array`: run `j` belongs to group `first + j`.
fn each_run<T: ArrowNumericType>(
    array: &PrimitiveArray<T>,
    runs: &[Range<usize>],
    first: usize,
    mut f: impl FnMut(usize, Run<'_, T>),
) {
    let nulls = array.nulls().filter(|n| n.null_count() > 0);
    for (j, rows) in runs.iter().enumerate() {
        f(
            first + j,
            Run {
                array,
                rows: rows.clone(),
                nulls,
            },
        );
    }
}

/// The rows of one run of an array.
struct Run<'a, T: ArrowNumericType> {
    array: &'a PrimitiveArray<T>,
    rows: Range<usize>,
    /// The array's nulls, if it has any.
    nulls: Option<&'a NullBuffer>,
}

impl<T: ArrowNumericType> Run<'_, T> {
    /// The valid values, in order.
    fn values(&self) -> impl Iterator<Item = T::Native> + '_ {
        let values = &self.array.values()[self.rows.clone()];
        let start = self.rows.start;
        values
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.nulls.is_none_or(|n| n.is_valid(start + i)))
            .map(|(_, v)| *v)
    }

    /// The number of valid values.
    fn count(&self) -> usize {
        match self.nulls {
            None => self.rows.len(),
            Some(n) => self.rows.clone().filter(|&i| n.is_valid(i)).count(),
        }
    }

    /// The wrapping sum of the valid values, `None` if there are none.
    fn sum(&self) -> Option<T::Native> {
        if self.rows.len() >= LONG_RUN {
            return sum(&self.array.slice(self.rows.start, self.rows.len()));
        }
        let mut values = self.values().peekable();
        values.peek()?;
        Some(values.fold(T::Native::ZERO, |a, b| a.add_wrapping(b)))
    }

    /// The greatest (`max`) or least valid value, `None` if there are none.
    fn extreme(&self, max: bool) -> Option<T::Native> {
        if self.rows.len() >= LONG_RUN {
            let part = self.array.slice(self.rows.start, self.rows.len());
            return if max {
                arrow_max(&part)
            } else {
                arrow_min(&part)
            };
        }
        self.values()
            .reduce(|a, b| if max == a.is_lt(b) { b } else { a })
    }
}

/// Keeps the greater (`max`) or lesser of a held value and a run's.
fn keep<V: ArrowNativeTypeOp>(held: &mut Option<V>, part: Option<V>, max: bool) {
    *held = match (*held, part) {
        (Some(a), Some(b)) => Some(if max == a.is_lt(b) { b } else { a }),
        (a, b) => a.or(b),
    };
}

/// Adds a run's sum to a held one (wrapping, as DataFusion's `sum`).
fn add<V: ArrowNativeTypeOp>(held: &mut Option<V>, part: Option<V>) {
    *held = match (*held, part) {
        (Some(a), Some(b)) => Some(a.add_wrapping(b)),
        (a, b) => a.or(b),
    };
}

/// `count(x)`: the rows that are not null.
#[derive(Default)]
struct Count {
    counts: Vec<i64>,
}

impl RunKernel for Count {
    fn add(&mut self, values: &ArrayRef, runs: &[Range<usize>], first: usize) {
        let nulls = values.logical_nulls().filter(|n| n.null_count() > 0);
        for (j, run) in runs.iter().enumerate() {
            let valid = match &nulls {
                None => run.len(),
                Some(n) => run.clone().filter(|&i| n.is_valid(i)).count(),
            };
            *slot(&mut self.counts, first + j) += valid as i64;
        }
    }

    fn state(&mut self, emit: EmitTo) -> Vec<ArrayRef> {
        vec![Arc::new(Int64Array::from(take(&mut self.counts, emit)))]
    }
}

/// `sum(x)` of integers (wrapping, as DataFusion's) or floats; null where all were null.
struct Sum<T: ArrowNumericType> {
    sums: Vec<Option<T::Native>>,
    data_type: DataType,
}

impl<T: ArrowNumericType> Sum<T> {
    fn new(data_type: DataType) -> Self {
        Sum {
            sums: Vec::new(),
            data_type,
        }
    }
}

impl<T: ArrowNumericType> RunKernel for Sum<T> {
    fn add(&mut self, values: &ArrayRef, runs: &[Range<usize>], first: usize) {
        each_run(values.as_primitive::<T>(), runs, first, |group, run| {
            add(slot(&mut self.sums, group), run.sum());
        });
    }

    fn state(&mut self, emit: EmitTo) -> Vec<ArrayRef> {
        let sums = PrimitiveArray::<T>::from_iter(take(&mut self.sums, emit));
        vec![Arc::new(sums.with_data_type(self.data_type.clone()))]
    }
}

/// `avg(x)` of floats: the count and the sum, both null where no value was seen.
#[derive(Default)]
struct Avg {
    counts: Vec<u64>,
    sums: Vec<f64>,
}

impl RunKernel for Avg {
    fn add(&mut self, values: &ArrayRef, runs: &[Range<usize>], first: usize) {
        each_run(
            values.as_primitive::<Float64Type>(),
            runs,
            first,
            |group, run| {
                *slot(&mut self.counts, group) += run.count() as u64;
                *slot(&mut self.sums, group) += run.sum().unwrap_or(0.0);
            },
        );
    }

    fn state(&mut self, emit: EmitTo) -> Vec<ArrayRef> {
        let counts = take(&mut self.counts, emit);
        let sums = take(&mut self.sums, emit);
        avg_state(counts, sums)
    }
}

/// `avg(x)` of 64-bit integers, summed exactly (in 128 bits) and turned into a float once per
/// group: the float sum DataFusion adds row by row is the same while it stays under 2^53, and
/// this one stays exact beyond. The count and the sum are null where no value was seen.
#[derive(Default)]
struct AvgOfIntegers {
    counts: Vec<u64>,
    sums: Vec<i128>,
}

impl RunKernel for AvgOfIntegers {
    fn add(&mut self, values: &ArrayRef, runs: &[Range<usize>], first: usize) {
        each_run(
            values.as_primitive::<Int64Type>(),
            runs,
            first,
            |group, run| {
                *slot(&mut self.counts, group) += run.count() as u64;
                *slot(&mut self.sums, group) += run.values().map(i128::from).sum::<i128>();
            },
        );
    }

    fn state(&mut self, emit: EmitTo) -> Vec<ArrayRef> {
        let counts = take(&mut self.counts, emit);
        let sums: Vec<f64> = take(&mut self.sums, emit)
            .into_iter()
            .map(|s| s as f64)
            .collect();
        avg_state(counts, sums)
    }
}

/// The partial state of `avg`: counts and sums, both null where the count is 0.
fn avg_state(counts: Vec<u64>, sums: Vec<f64>) -> Vec<ArrayRef> {
    let seen = NullBuffer::from_iter(counts.iter().map(|&c| c > 0));
    let seen = (seen.null_count() > 0).then_some(seen);
    vec![
        Arc::new(UInt64Array::new(counts.into(), seen.clone())),
        Arc::new(Float64Array::new(sums.into(), seen)),
    ]
}

/// `min(x)` or `max(x)` of integers or timestamps; null where all were null.
struct Extreme<T: ArrowNumericType> {
    values: Vec<Option<T::Native>>,
    data_type: DataType,
    max: bool,
}

impl<T: ArrowNumericType> Extreme<T> {
    fn new(data_type: DataType, max: bool) -> Self {
        Extreme {
            values: Vec::new(),
            data_type,
            max,
        }
    }
}

impl<T: ArrowNumericType> RunKernel for Extreme<T> {
    fn add(&mut self, values: &ArrayRef, runs: &[Range<usize>], first: usize) {
        let max = self.max;
        each_run(values.as_primitive::<T>(), runs, first, |group, run| {
            keep(slot(&mut self.values, group), run.extreme(max), max);
        });
    }

    fn state(&mut self, emit: EmitTo) -> Vec<ArrayRef> {
        let values = PrimitiveArray::<T>::from_iter(take(&mut self.values, emit));
        vec![Arc::new(values.with_data_type(self.data_type.clone()))]
    }
}
