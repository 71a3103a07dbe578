//! `date_trunc` with integer arithmetic for UTC timestamps.
//!
//! DataFusion's `date_trunc` truncates to hours, days and coarser units through chrono, row by
//! row, whenever the timestamp carries a time zone, UTC included: about 200 ns a row, most of
//! the time of an hour × host aggregation such as TSBS's double-groupby. Hearth's `time` column
//! is UTC, so this wrapper relabels a UTC timestamp as zone-less (the same values, no copy),
//! lets DataFusion take its arithmetic path, and labels the result UTC again. Timestamps in
//! other zones, and zone-less ones, go to DataFusion's function as they are.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use super::bins::{is_utc, with_args};

/// `value` (timestamps of `unit`) labelled with `zone` instead of its own: the same ticks.
fn relabel(value: &ColumnarValue, unit: TimeUnit, zone: Option<Arc<str>>) -> ColumnarValue {
    match value {
        ColumnarValue::Array(a) => {
            let relabelled: ArrayRef = match unit {
                TimeUnit::Second => Arc::new(
                    a.as_primitive::<TimestampSecondType>()
                        .clone()
                        .with_timezone_opt(zone),
                ),
                TimeUnit::Millisecond => Arc::new(
                    a.as_primitive::<TimestampMillisecondType>()
                        .clone()
                        .with_timezone_opt(zone),
                ),
                TimeUnit::Microsecond => Arc::new(
                    a.as_primitive::<TimestampMicrosecondType>()
                        .clone()
                        .with_timezone_opt(zone),
                ),
                TimeUnit::Nanosecond => Arc::new(
                    a.as_primitive::<TimestampNanosecondType>()
                        .clone()
                        .with_timezone_opt(zone),
                ),
            };
            ColumnarValue::Array(relabelled)
        }
        ColumnarValue::Scalar(s) => ColumnarValue::Scalar(match s {
            ScalarValue::TimestampSecond(v, _) => ScalarValue::TimestampSecond(*v, zone),
            ScalarValue::TimestampMillisecond(v, _) => ScalarValue::TimestampMillisecond(*v, zone),
            ScalarValue::TimestampMicrosecond(v, _) => ScalarValue::TimestampMicrosecond(*v, zone),
            ScalarValue::TimestampNanosecond(v, _) => ScalarValue::TimestampNanosecond(*v, zone),
            other => other.clone(),
        }),
    }
}

/// Hearth's `date_trunc`: DataFusion's, with UTC timestamps truncated as zone-less ones.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UtcDateTrunc {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for UtcDateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(time) = args.args.get(1)
            && let DataType::Timestamp(unit, Some(zone)) = time.data_type()
            && is_utc(&zone)
        {
            let plain = relabel(time, unit, None);
            let field = Arc::new(Field::new(
                self.name(),
                DataType::Timestamp(unit, None),
                args.return_field.is_nullable(),
            ));
            let call = with_args(&args, vec![args.args[0].clone(), plain], field);
            let truncated = self.inner.invoke_with_args(call)?;
            return Ok(relabel(&truncated, unit, Some(zone)));
        }
        self.inner.invoke_with_args(args)
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }
}

/// `date_trunc` (and its alias `datetrunc`), replacing DataFusion's.
pub fn date_trunc_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(UtcDateTrunc {
        inner: datafusion::functions::datetime::date_trunc(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, TimestampMicrosecondArray};
    use datafusion::config::ConfigOptions;

    fn call(udf: &ScalarUDF, unit: &str, times: &TimestampMicrosecondArray) -> ArrayRef {
        let args = vec![
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(unit.into()))),
            ColumnarValue::Array(Arc::new(times.clone())),
        ];
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("", a.data_type(), true)))
            .collect();
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: times.len(),
                return_field: Arc::new(Field::new("", times.data_type().clone(), true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap();
        match out {
            ColumnarValue::Array(a) => a,
            ColumnarValue::Scalar(_) => panic!("expected an array"),
        }
    }

    #[test]
    fn utc_truncation_agrees_with_datafusion_and_keeps_the_zone() {
        let ours = date_trunc_udf();
        let theirs = datafusion::functions::datetime::date_trunc();
        // Around the epoch, leap days, a DST change elsewhere, far past and future, NULL.
        let values = [
            Some(0),
            Some(-1),
            Some(1_709_164_800_123_456),
            Some(1_711_846_800_000_001),
            Some(-2_208_988_800_000_000 - 7),
            Some(4_102_444_799_999_999),
            None,
        ];
        let times = TimestampMicrosecondArray::from(values.to_vec()).with_timezone("UTC");
        for unit in [
            "microsecond",
            "millisecond",
            "second",
            "minute",
            "hour",
            "day",
            "week",
            "month",
            "quarter",
            "year",
        ] {
            let a = call(&ours, unit, &times);
            let b = call(&theirs, unit, &times);
            assert_eq!(a.data_type(), b.data_type(), "{unit}");
            assert_eq!(a.as_ref(), b.as_ref(), "{unit}");
        }
    }

    #[test]
    fn other_zones_are_datafusion_s() {
        let ours = date_trunc_udf();
        let theirs = datafusion::functions::datetime::date_trunc();
        let times = TimestampMicrosecondArray::from(vec![1_711_846_800_000_001, 1_700_000_000])
            .with_timezone("Europe/Berlin");
        for unit in ["hour", "day", "month"] {
            assert_eq!(
                call(&ours, unit, &times).as_ref(),
                call(&theirs, unit, &times).as_ref()
            );
        }
    }
}
