//! Counters that only go up until they reset: energy meters (`import_kwh`), packet counts.
//!
//! - `counter_increase(value, time)`: how much the counter grew over the group's rows, taken in
//!   time order. A drop is a reset to zero, so the reading after it counts in full (Prometheus'
//!   `increase` without extrapolation): the result is never negative and never counts a reading
//!   twice. One reading gives 0; none gives NULL.
//! - `counter_rate(value, time)`: that increase per second between the first and the last
//!   reading; NULL with fewer than two readings at different times.
//!
//! Rows with a NULL value or time are skipped. Two readings at the same time count once (the
//! larger, so the result does not depend on the order rows arrive in).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, ListArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type, TimeUnit};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

/// What a counter function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Measure {
    Increase,
    Rate,
}

/// `counter_increase` or `counter_rate`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Counter {
    measure: Measure,
    signature: Signature,
}

impl AggregateUDFImpl for Counter {
    fn name(&self) -> &str {
        match self.measure {
            Measure::Increase => "counter_increase",
            Measure::Rate => "counter_rate",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [value, time] = arg_types else {
            return plan_err!("{}(value, time) takes two arguments", self.name());
        };
        if !value.is_numeric() && !value.is_null() {
            return plan_err!("{}: the value must be a number, got {value}", self.name());
        }
        let DataType::Timestamp(..) = time else {
            return plan_err!("{}: the time must be a timestamp, got {time}", self.name());
        };
        Ok(vec![DataType::Float64, time.clone()])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CounterAccumulator {
            measure: self.measure,
            readings: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: &str, item: DataType| {
            Arc::new(Field::new(
                format!("{}[{name}]", args.name),
                DataType::new_list(item, true),
                true,
            )) as FieldRef
        };
        Ok(vec![
            list("times", DataType::Int64),
            list("values", DataType::Float64),
        ])
    }
}

/// `counter_increase(value, time)`.
pub fn counter_increase_udaf() -> AggregateUDF {
    AggregateUDF::new_from_impl(Counter {
        measure: Measure::Increase,
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

/// `counter_rate(value, time)`.
pub fn counter_rate_udaf() -> AggregateUDF {
    AggregateUDF::new_from_impl(Counter {
        measure: Measure::Rate,
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

/// The readings of one group: (time in nanoseconds, value).
#[derive(Debug)]
struct CounterAccumulator {
    measure: Measure,
    readings: Vec<(i64, f64)>,
}

/// Nanoseconds since the epoch of a timestamp array (any unit; the zone does not matter).
fn nanos(times: &ArrayRef) -> Result<Vec<Option<i64>>> {
    let DataType::Timestamp(_, zone) = times.data_type() else {
        return plan_err!(
            "counter functions: the time must be a timestamp, got {}",
            times.data_type()
        );
    };
    super::ticks_of(&cast(
        times,
        &DataType::Timestamp(TimeUnit::Nanosecond, zone.clone()),
    )?)
}

impl CounterAccumulator {
    /// The readings in time order, one per time (the larger value where two share a time).
    fn ordered(&mut self) -> &[(i64, f64)] {
        self.readings
            .sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        // Keep the last of each run of equal times: the largest value.
        self.readings.reverse();
        self.readings.dedup_by_key(|r| r.0);
        self.readings.reverse();
        &self.readings
    }
}

/// Growth of a counter over `readings` (in time order), a drop counting as a reset to zero.
pub fn increase(readings: &[(i64, f64)]) -> f64 {
    readings
        .windows(2)
        .map(|w| {
            let (before, after) = (w[0].1, w[1].1);
            if after >= before {
                after - before
            } else {
                after
            }
        })
        // Not `sum()`: an empty float sum is -0.
        .fold(0.0, |total, step| total + step)
}

impl Accumulator for CounterAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let readings = cast(&values[0], &DataType::Float64)?;
        let readings = readings.as_primitive::<Float64Type>();
        let times = nanos(&values[1])?;
        for (value, time) in readings.iter().zip(times) {
            if let (Some(v), Some(t)) = (value, time) {
                self.readings.push((t, v));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let times = states[0].as_list::<i32>();
        let values = states[1].as_list::<i32>();
        for (t, v) in times.iter().zip(values.iter()) {
            let (Some(t), Some(v)) = (t, v) else { continue };
            let t = t.as_primitive::<Int64Type>();
            let v = v.as_primitive::<Float64Type>();
            self.readings
                .extend(t.values().iter().copied().zip(v.values().iter().copied()));
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let times: Int64Array = self.readings.iter().map(|r| Some(r.0)).collect();
        let values: Float64Array = self.readings.iter().map(|r| Some(r.1)).collect();
        let list = |a: ArrayRef| {
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(a.data_type().clone(), true)),
                datafusion::arrow::buffer::OffsetBuffer::from_lengths([a.len()]),
                a,
                None,
            )))
        };
        Ok(vec![list(Arc::new(times)), list(Arc::new(values))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let measure = self.measure;
        let readings = self.ordered();
        let result = match (measure, readings) {
            (_, []) => None,
            (Measure::Increase, r) => Some(increase(r)),
            (Measure::Rate, [first, .., last]) if last.0 > first.0 => {
                Some(increase(readings) / ((last.0 - first.0) as f64 / 1e9))
            }
            (Measure::Rate, _) => None,
        };
        Ok(ScalarValue::Float64(result))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.readings.capacity() * std::mem::size_of::<(i64, f64)>()
    }
}

#[cfg(test)]
mod tests {
    use super::increase;

    #[test]
    fn a_reset_counts_the_reading_after_it_in_full() {
        assert!(increase(&[]).is_sign_positive());
        assert_eq!(increase(&[(0, 5.0)]), 0.0);
        assert_eq!(increase(&[(0, 5.0), (1, 7.0), (2, 10.0)]), 5.0);
        // 10 → 2: reset, 2 more; then 2 → 4.
        assert_eq!(increase(&[(0, 5.0), (1, 10.0), (2, 2.0), (3, 4.0)]), 9.0);
    }
}
