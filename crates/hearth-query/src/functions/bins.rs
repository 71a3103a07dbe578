//! Time buckets: `date_bin` in a time zone's local time, and TimescaleDB's `time_bucket`.
//!
//! DataFusion's `date_bin` bins instants on the UTC clock, so a day or a month bucket of
//! Berlin's time starts an hour or two off. Hearth's `date_bin` bins a timestamp that carries a
//! time zone other than UTC (`time AT TIME ZONE 'Europe/Berlin'`) on that zone's wall clock:
//! the timestamp and the origin are read as local times, binned, and the bucket start is turned
//! back into an instant (the earlier one when a local time repeats, the first instant after a
//! gap when it does not exist). UTC and zone-less timestamps go to DataFusion's function as
//! they are.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Offset, TimeZone};
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, IntervalUnit, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::{ticks_of, ticks_per_second, timestamps_from};

/// Whether `tz` names UTC (binning there is DataFusion's own).
pub(crate) fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "utc" | "Z" | "+00:00" | "00:00" | "Etc/UTC")
}

/// Offset of `tz` from UTC, in seconds, at the instant `ticks` (of `unit`).
fn offset_at(tz: &Tz, ticks: i64, unit: TimeUnit) -> i64 {
    let per = ticks_per_second(unit);
    let secs = ticks.div_euclid(per);
    DateTime::from_timestamp(secs, 0).map_or(0, |utc| {
        i64::from(
            tz.offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    })
}

/// The instant (ticks of `unit`) whose wall-clock time in `tz` is `local` (ticks of `unit`
/// since the local epoch): the earlier of two when the wall clock repeats an hour, the first
/// instant after the gap when it skips one.
fn from_local(tz: &Tz, local: i64, unit: TimeUnit) -> i64 {
    let per = ticks_per_second(unit);
    let secs = local.div_euclid(per);
    let Some(naive) = DateTime::from_timestamp(secs, 0).map(|d| d.naive_utc()) else {
        return local;
    };
    let offset = match tz.offset_from_local_datetime(&naive) {
        chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => {
            i64::from(o.fix().local_minus_utc())
        }
        // Inside a gap (clocks moved forward): the offset before it maps the local time to
        // the instant just after the change.
        chrono::LocalResult::None => offset_at(tz, local - 86_400 * per, unit),
    };
    local - offset * per
}

/// `array` (timestamps of `unit`) with every value moved by `f`, labelled with `tz`.
fn map_ticks(
    array: &ArrayRef,
    unit: TimeUnit,
    tz: Option<Arc<str>>,
    f: impl Fn(i64) -> i64,
) -> Result<ArrayRef> {
    let moved = ticks_of(array)?.into_iter().map(|t| t.map(&f));
    timestamps_from(moved, unit, tz)
}

/// Applies `f` to `value` as an array and returns a value of the same shape.
fn on_array(
    value: &ColumnarValue,
    f: impl FnOnce(&ArrayRef) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    match value {
        ColumnarValue::Array(a) => Ok(ColumnarValue::Array(f(a)?)),
        ColumnarValue::Scalar(s) => {
            let out = f(&s.to_array_of_size(1)?)?;
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        }
    }
}

/// Timestamps in `tz` read as wall-clock times: the same values shifted by the offset, without
/// a time zone.
fn to_local_value(value: &ColumnarValue, tz: &Tz) -> Result<ColumnarValue> {
    let DataType::Timestamp(unit, _) = value.data_type() else {
        return exec_err!("date_bin: expected a timestamp, got {}", value.data_type());
    };
    on_array(value, |a| {
        let per = ticks_per_second(unit);
        map_ticks(a, unit, None, |t| t + offset_at(tz, t, unit) * per)
    })
}

/// The call `like` (rows, settings) with other arguments and result.
pub(crate) fn with_args(
    like: &ScalarFunctionArgs,
    args: Vec<ColumnarValue>,
    return_field: FieldRef,
) -> ScalarFunctionArgs {
    let arg_fields = args
        .iter()
        .map(|a| Arc::new(Field::new("", a.data_type(), true)) as FieldRef)
        .collect();
    ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: like.number_rows,
        return_field,
        config_options: like.config_options.clone(),
    }
}

/// Hearth's `date_bin`: DataFusion's, binning on the local clock of a timestamp's time zone.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LocalDateBin {
    inner: Arc<ScalarUDF>,
}

impl LocalDateBin {
    fn new() -> LocalDateBin {
        LocalDateBin {
            inner: datafusion::functions::datetime::date_bin(),
        }
    }

    /// Bins `time` (whose type carries `tz`) by `stride` from `origin` (DataFusion's default,
    /// the epoch, when `None`), on `tz`'s wall clock.
    fn invoke_local(&self, tz_name: &Arc<str>, call: &ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (stride, time, origin) = (&call.args[0], &call.args[1], call.args.get(2));
        let tz = Tz::from_str(tz_name)?;
        let DataType::Timestamp(unit, _) = time.data_type() else {
            return exec_err!("date_bin: expected a timestamp, got {}", time.data_type());
        };
        let local_time = to_local_value(time, &tz)?;
        let local_origin = match origin {
            Some(o) => to_local_value(o, &tz)?,
            None => ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(Some(0), None)),
        };
        let binned = self.inner.invoke_with_args(with_args(
            call,
            vec![stride.clone(), local_time, local_origin],
            Arc::new(Field::new("", DataType::Timestamp(unit, None), true)),
        ))?;
        on_array(&binned, |a| {
            map_ticks(a, unit, Some(tz_name.clone()), |t| from_local(&tz, t, unit))
        })
    }
}

impl ScalarUDFImpl for LocalDateBin {
    fn name(&self) -> &str {
        "date_bin"
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let DataType::Timestamp(_, Some(tz)) = args.args[1].data_type()
            && !is_utc(&tz)
        {
            return self.invoke_local(&tz, &args);
        }
        self.inner.invoke_with_args(args)
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }
}

/// `date_bin`, binning in local time for timestamps with a time zone.
pub fn date_bin_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(LocalDateBin::new())
}

/// TimescaleDB's default origin for buckets of days and weeks: Monday 2000-01-03, so weekly
/// buckets start on Mondays (in microseconds; read as local time in a time zone).
const ORIGIN_MONDAY: i64 = 946_857_600_000_000;
/// TimescaleDB's default origin for buckets of months: 2000-01-01.
const ORIGIN_MONTHS: i64 = 946_684_800_000_000;

/// `time_bucket(interval, time [, origin])` and `time_bucket(interval, time, time_zone
/// [, origin])`, TimescaleDB's: `date_bin` with TimescaleDB's default origins; with a time zone
/// the buckets follow its wall clock and the result carries the zone.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TimeBucket {
    signature: Signature,
    date_bin: LocalDateBin,
}

impl TimeBucket {
    fn new() -> TimeBucket {
        TimeBucket {
            signature: Signature::user_defined(Volatility::Immutable),
            date_bin: LocalDateBin::new(),
        }
    }
}

/// Whether values of `t` are text (tags are dictionary-encoded text).
fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, value) => value.is_string(),
        t => t.is_string(),
    }
}

/// The time zone named by `time_bucket`'s third argument, when it is text.
fn zone_argument(args: &ReturnFieldArgs) -> Result<Option<Arc<str>>> {
    if args.arg_fields.len() < 3 || !is_text(args.arg_fields[2].data_type()) {
        return Ok(None);
    }
    match args.scalar_arguments.get(2).copied().flatten() {
        Some(ScalarValue::Utf8(Some(z)))
        | Some(ScalarValue::LargeUtf8(Some(z)))
        | Some(ScalarValue::Utf8View(Some(z))) => {
            Tz::from_str(z)?;
            Ok(Some(Arc::from(z.as_str())))
        }
        _ => {
            plan_err!("time_bucket: the time zone must be a constant text, such as 'Europe/Berlin'")
        }
    }
}

impl ScalarUDFImpl for TimeBucket {
    fn name(&self) -> &str {
        "time_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=4).contains(&arg_types.len()) {
            return plan_err!(
                "time_bucket takes (interval, time [, origin]) or (interval, time, time_zone [, origin])"
            );
        }
        let interval = DataType::Interval(IntervalUnit::MonthDayNano);
        let time = match &arg_types[1] {
            t @ DataType::Timestamp(..) => t.clone(),
            t if t.is_string() || t.is_null() => {
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
            }
            t => return plan_err!("time_bucket: the second argument must be a timestamp, got {t}"),
        };
        let zone = match &time {
            DataType::Timestamp(_, zone) => zone.clone(),
            _ => None,
        };
        let origin = DataType::Timestamp(TimeUnit::Nanosecond, zone);
        let mut out = vec![interval, time];
        for (i, t) in arg_types.iter().enumerate().skip(2) {
            if i == 2 && is_text(t) {
                out.push(DataType::Utf8);
            } else {
                out.push(origin.clone());
            }
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        plan_err!("time_bucket: return_field_from_args is used instead")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let DataType::Timestamp(unit, zone) = args.arg_fields[1].data_type() else {
            return plan_err!("time_bucket: the second argument must be a timestamp");
        };
        let zone = zone_argument(&args)?.or_else(|| zone.clone());
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Timestamp(*unit, zone),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Timestamp(unit, zone) = args.return_type().clone() else {
            return exec_err!("time_bucket: the result must be a timestamp");
        };
        // With a zone argument the timestamps are the same instants, read in that zone.
        let time = match (&args.args[1], &zone) {
            (t, Some(z)) if t.data_type() != DataType::Timestamp(unit, Some(z.clone())) => {
                on_array(t, |a| map_ticks(a, unit, Some(z.clone()), |v| v))?
            }
            (t, _) => t.clone(),
        };
        let has_zone_arg = args.args.len() >= 3 && is_text(&args.args[2].data_type());
        let origin_arg = args.args.get(if has_zone_arg { 3 } else { 2 });
        let months = match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(i))) => i.months != 0,
            _ => false,
        };
        // The default origin, a wall-clock time: as an instant in the result's zone.
        let default_origin = {
            let local = if months { ORIGIN_MONTHS } else { ORIGIN_MONDAY };
            let instant = match &zone {
                Some(z) if !is_utc(z) => {
                    from_local(&Tz::from_str(z)?, local, TimeUnit::Microsecond)
                }
                _ => local,
            };
            ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(
                Some(instant * 1_000),
                zone.clone(),
            ))
        };
        let origin = origin_arg.cloned().unwrap_or(default_origin);
        let call = vec![args.args[0].clone(), time, origin];
        self.date_bin
            .invoke_with_args(with_args(&args, call, args.return_field.clone()))
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        let constant = |i: usize| {
            input
                .get(i)
                .is_none_or(|p| p.sort_properties == SortProperties::Singleton)
        };
        if constant(0) && constant(2) && constant(3) {
            Ok(input[1].sort_properties)
        } else {
            Ok(SortProperties::Unordered)
        }
    }
}

/// `time_bucket`.
pub fn time_bucket_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(TimeBucket::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    #[test]
    fn local_times_round_trip_except_in_gaps() {
        let berlin = Tz::from_str("Europe/Berlin").unwrap();
        let unit = TimeUnit::Microsecond;
        // Winter (+01:00) and summer (+02:00).
        for s in ["2024-01-15T10:00:00Z", "2024-07-15T10:00:00Z"] {
            let t = micros(s);
            let local = t + offset_at(&berlin, t, unit) * 1_000_000;
            assert_eq!(from_local(&berlin, local, unit), t, "{s}");
        }
        // 2024-03-31 02:30 does not exist in Berlin: the first instant after the gap is 01:30Z
        // (03:30 summer time).
        let gap_local = micros("2024-03-31T02:30:00Z");
        assert_eq!(
            from_local(&berlin, gap_local, unit),
            micros("2024-03-31T01:30:00Z")
        );
        // 2024-10-27 02:30 happens twice: the earlier is 00:30Z.
        let repeated = micros("2024-10-27T02:30:00Z");
        assert_eq!(
            from_local(&berlin, repeated, unit),
            micros("2024-10-27T00:30:00Z")
        );
    }
}
