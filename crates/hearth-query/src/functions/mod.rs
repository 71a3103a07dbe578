//! SQL functions Hearth adds or replaces.
//!
//! - [`bins`]: `date_bin` on a time zone's wall clock, `time_bucket`.
//! - [`selectors`]: `first(value, time)`, `last(value, time)`.
//! - [`counters`]: `counter_increase`, `counter_rate` (resets handled).
//! - [`gapfill`]: `date_bin_gapfill` with `locf()` and `interpolate()`.
//! - [`trunc`]: `date_trunc` with integer arithmetic for UTC timestamps.
//! - `version()` in PostgreSQL's shape.

pub mod bins;
pub mod counters;
pub mod gapfill;
pub mod selectors;
pub mod trunc;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{AggregateUDF, ColumnarValue, ScalarUDF, Volatility, create_udf};

/// Ticks of `unit` in one second.
pub(crate) fn ticks_per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// The values of a timestamp array as they are stored: ticks of its unit since the epoch.
pub(crate) fn ticks_of(timestamps: &ArrayRef) -> datafusion::common::Result<Vec<Option<i64>>> {
    Ok(cast(timestamps, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .iter()
        .collect())
}

/// A timestamp array of `unit`, labelled with `zone`, from ticks of that unit.
pub(crate) fn timestamps_from(
    ticks: impl IntoIterator<Item = Option<i64>>,
    unit: TimeUnit,
    zone: Option<Arc<str>>,
) -> datafusion::common::Result<ArrayRef> {
    let raw: ArrayRef = Arc::new(ticks.into_iter().collect::<Int64Array>());
    Ok(cast(&raw, &DataType::Timestamp(unit, zone))?)
}

/// The PostgreSQL version Hearth reports to clients (they pick their catalog queries by it).
pub const PG_VERSION: &str = "16.6";

/// The text of `version()`: PostgreSQL's shape, so drivers that parse it (SQLAlchemy) accept it.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {PG_VERSION} (Hearth {}) on {}-{}, compiled by rustc, DataFusion {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        datafusion::DATAFUSION_VERSION
    )
}

/// `version()`, replacing DataFusion's.
pub fn version_udf() -> ScalarUDF {
    let v = version_string();
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(v.clone()))))
        }),
    )
}

/// The scalar functions Hearth adds (or replaces: `date_bin`, `date_trunc`, `version`).
pub fn scalar_functions() -> Vec<ScalarUDF> {
    vec![
        version_udf(),
        bins::date_bin_udf(),
        trunc::date_trunc_udf(),
        bins::time_bucket_udf(),
        gapfill::date_bin_gapfill_udf(),
        gapfill::locf_udf(),
        gapfill::interpolate_udf(),
    ]
}

/// The aggregate functions Hearth adds.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![
        selectors::first_udaf(),
        selectors::last_udaf(),
        counters::counter_increase_udaf(),
        counters::counter_rate_udaf(),
    ]
}
