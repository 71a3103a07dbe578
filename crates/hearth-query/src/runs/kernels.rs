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

/// The kernel computing `aggregate`'s partial state over `schema`'s rows, if there is one (and
/// no `FILTER`), and the expression whose values it reads: the aggregate's argument, or for
/// `avg` of integers (which DataFusion casts to floats row by row) the integers themselves.
pub(super) fn kernel(
    aggregate: &AggregateFunctionExpr,
    filtered: bool,
    schema: &Schema,
) -> Option<(Box<dyn RunKernel>, Arc<dyn PhysicalExpr>)> {
    use DataType::*;
    if filtered {
        return None;
    }
    let [argument] = aggregate.expressions().try_into().ok()?;
    let input = argument.data_type(schema).ok()?;
    let states: Vec<DataType> = aggregate
        .state_fields()
        .ok()?
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let kernel: Box<dyn RunKernel> = match (aggregate.fun().name(), &input, states.as_slice()) {
        ("count", _, [Int64]) => Box::new(Count::default()),
        ("avg", Float64, [UInt64, Float64]) => match argument.downcast_ref::<CastExpr>() {
            Some(cast) if cast.expr().data_type(schema).ok()? == Int64 => {
                return Some((Box::new(AvgOfIntegers::default()), cast.expr().clone()));
            }
            _ => Box::new(Avg::default()),
        },
        ("sum", Int64 | Float64, [state]) if *state == input => fold(&input, Op::Sum)?,
        ("min", _, [state]) if *state == input => fold(&input, Op::Min)?,
        ("max", _, [state]) if *state == input => fold(&input, Op::Max)?,
        _ => return None,
    };
    Some((kernel, argument))
}

/// The [`Fold`] by `op` of values of `data_type`, if that type has one: integers, floats for
/// sums only, timestamps.
fn fold(data_type: &DataType, op: Op) -> Option<Box<dyn RunKernel>> {
    use DataType::*;
    fn of<T: ArrowNumericType>(data_type: &DataType, op: Op) -> Option<Box<dyn RunKernel>> {
        Some(Box::new(Fold::<T> {
            values: Vec::new(),
            data_type: data_type.clone(),
            op,
        }))
    }
    match data_type {
        Int64 => of::<Int64Type>(data_type, op),
        Int32 => of::<Int32Type>(data_type, op),
        UInt64 => of::<UInt64Type>(data_type, op),
        Float64 if op == Op::Sum => of::<Float64Type>(data_type, op),
        Timestamp(TimeUnit::Second, _) => of::<TimestampSecondType>(data_type, op),
        Timestamp(TimeUnit::Millisecond, _) => of::<TimestampMillisecondType>(data_type, op),
        Timestamp(TimeUnit::Microsecond, _) => of::<TimestampMicrosecondType>(data_type, op),
        Timestamp(TimeUnit::Nanosecond, _) => of::<TimestampNanosecondType>(data_type, op),
        _ => None,
    }
}

/// Makes room for `groups` groups in `values` (a kernel's per-group state), once per batch.
fn grow<T: Default + Clone>(values: &mut Vec<T>, groups: usize) {
    if values.len() < groups {
        values.resize(groups, T::default());
    }
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

    /// The valid values folded by `op`, `None` if there are none.
    fn fold(&self, op: Op) -> Option<T::Native> {
        if self.rows.len() >= LONG_RUN {
            let part = self.array.slice(self.rows.start, self.rows.len());
            return match op {
                Op::Sum => sum(&part),
                Op::Min => arrow_min(&part),
                Op::Max => arrow_max(&part),
            };
        }
        self.values().reduce(|a, b| op.apply(a, b))
    }
}

/// How a [`Fold`] combines two values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Wrapping addition, as DataFusion's `sum`.
    Sum,
    Min,
    Max,
}

impl Op {
    fn apply<V: ArrowNativeTypeOp>(self, a: V, b: V) -> V {
        match self {
            Op::Sum => a.add_wrapping(b),
            Op::Min if b.is_lt(a) => b,
            Op::Max if a.is_lt(b) => b,
            Op::Min | Op::Max => a,
        }
    }

    /// `held` combined with a run's `part`; `None` stands for no value yet.
    fn combine<V: ArrowNativeTypeOp>(self, held: Option<V>, part: Option<V>) -> Option<V> {
        match (held, part) {
            (Some(a), Some(b)) => Some(self.apply(a, b)),
            (a, b) => a.or(b),
        }
    }
}

/// `count(x)`: the rows that are not null.
#[derive(Default)]
struct Count {
    counts: Vec<i64>,
}

impl RunKernel for Count {
    fn add(&mut self, values: &ArrayRef, runs: &[Range<usize>], first: usize) {
        let nulls = values.logical_nulls().filter(|n| n.null_count() > 0);
        grow(&mut self.counts, first + runs.len());
        for (j, run) in runs.iter().enumerate() {
            let valid = match &nulls {
                None => run.len(),
                Some(n) => run.clone().filter(|&i| n.is_valid(i)).count(),
            };
            self.counts[first + j] += valid as i64;
        }
    }

    fn state(&mut self, emit: EmitTo) -> Vec<ArrayRef> {
        vec![Arc::new(Int64Array::from(take(&mut self.counts, emit)))]
    }
}

/// `sum(x)` (of integers or floats), `min(x)` or `max(x)` (of integers or timestamps); null
/// where all were null.
struct Fold<T: ArrowNumericType> {
    values: Vec<Option<T::Native>>,
    data_type: DataType,
    op: Op,
}

impl<T: ArrowNumericType> RunKernel for Fold<T> {
    fn add(&mut self, values: &ArrayRef, runs: &[Range<usize>], first: usize) {
        let op = self.op;
        grow(&mut self.values, first + runs.len());
        each_run(values.as_primitive::<T>(), runs, first, |group, run| {
            let held = &mut self.values[group];
            *held = op.combine(*held, run.fold(op));
        });
    }

    fn state(&mut self, emit: EmitTo) -> Vec<ArrayRef> {
        let values = PrimitiveArray::<T>::from_iter(take(&mut self.values, emit));
        vec![Arc::new(values.with_data_type(self.data_type.clone()))]
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
        grow(&mut self.counts, first + runs.len());
        grow(&mut self.sums, first + runs.len());
        each_run(
            values.as_primitive::<Float64Type>(),
            runs,
            first,
            |group, run| {
                self.counts[group] += run.count() as u64;
                self.sums[group] += run.fold(Op::Sum).unwrap_or(0.0);
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
        grow(&mut self.counts, first + runs.len());
        grow(&mut self.sums, first + runs.len());
        each_run(
            values.as_primitive::<Int64Type>(),
            runs,
            first,
            |group, run| {
                self.counts[group] += run.count() as u64;
                self.sums[group] += run.exact_sum();
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

impl Run<'_, Int64Type> {
    /// The exact sum of the valid values.
    fn exact_sum(&self) -> i128 {
        match self.nulls {
            None => exact_sum(&self.array.values()[self.rows.clone()]),
            Some(_) => self.values().map(i128::from).sum(),
        }
    }
}

/// The exact sum of `values`. Each value is split into its upper 32 bits (signed) and its lower
/// 32 bits (unsigned), and each half is summed in 64 bits, which cannot overflow for fewer than
/// 2^31 values and which the compiler vectorises (a sum in 128 bits it does not).
fn exact_sum(values: &[i64]) -> i128 {
    values
        .chunks(1 << 30)
        .map(|chunk| {
            let (mut high, mut low) = (0i64, 0i64);
            for &v in chunk {
                high = high.wrapping_add(v >> 32);
                low = low.wrapping_add(v & 0xffff_ffff);
            }
            (i128::from(high) << 32) + i128::from(low)
        })
        .sum()
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

#[cfg(test)]
mod tests {
    use super::exact_sum;

    #[test]
    fn sums_of_integers_are_exact_at_the_extremes() {
        let cases: [&[i64]; 6] = [
            &[],
            &[i64::MAX, i64::MAX, i64::MAX],
            &[i64::MIN, i64::MIN, -1],
            &[i64::MIN, i64::MAX, 1, -1, 0xffff_ffff, -0x1_0000_0000],
            &[-5, 3, 0x7fff_ffff, 0x8000_0000, -0x8000_0001],
            &[42],
        ];
        for values in cases {
            let want: i128 = values.iter().map(|&v| i128::from(v)).sum();
            assert_eq!(exact_sum(values), want, "{values:?}");
        }
        let many = vec![i64::MIN + 7; 10_000];
        assert_eq!(exact_sum(&many), 10_000 * i128::from(i64::MIN + 7));
    }
}
