//! Delta Lake file statistics (`numRecords`, `minValues`, `maxValues`, `nullCount`) computed
//! from the rows of a file, so Delta readers (and Hearth) can skip files by time and tag.

use datafusion::arrow::array::{
    Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::{max, max_string, min, min_string};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value, json};

use crate::timefmt::format_utc_millis;

/// Longest string kept as a min/max statistic; longer maxima are left out.
const MAX_STRING_STAT: usize = 32;

/// The stats JSON of a file holding exactly `batch`.
pub fn stats_json(batch: &RecordBatch) -> String {
    let mut mins = Map::new();
    let mut maxs = Map::new();
    let mut nulls = Map::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name().clone();
        nulls.insert(name.clone(), json!(column.null_count()));
        let any = column.as_any();
        let (lo, hi): (Option<Value>, Option<Value>) =
            if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
                (
                    min(a).map(|v| json!(format_utc_millis(v))),
                    max(a).map(|v| json!(format_utc_millis(v))),
                )
            } else if let Some(a) = any.downcast_ref::<Int64Array>() {
                (min(a).map(Value::from), max(a).map(Value::from))
            } else if let Some(a) = any.downcast_ref::<Float64Array>() {
                let finite = |v: Option<f64>| v.filter(|x| x.is_finite()).map(Value::from);
                // NaN poisons min/max in Delta readers: leave both out if any is present.
                if a.iter().flatten().any(f64::is_nan) {
                    (None, None)
                } else {
                    (finite(min(a)), finite(max(a)))
                }
            } else if let Some(a) = any.downcast_ref::<StringArray>() {
                let lo = min_string(a).map(|s| json!(truncate(s)));
                let hi = max_string(a)
                    .filter(|s| s.len() <= MAX_STRING_STAT)
                    .map(|s| json!(s));
                (lo, hi)
            } else {
                (None, None)
            };
        if let (Some(lo), Some(hi)) = (lo, hi) {
            mins.insert(name.clone(), lo);
            maxs.insert(name, hi);
        }
    }
    json!({
        "numRecords": batch.num_rows(),
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": nulls,
    })
    .to_string()
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(MAX_STRING_STAT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;

    #[test]
    fn time_and_tag_ranges_are_recorded() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("h", DataType::Utf8, true),
            Field::new("v", DataType::Float64, true),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("b"), None, Some("a")])),
                Arc::new(Float64Array::from(vec![1.0, 2.5, -1.0])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![3_000, 1_000, 2_000]).with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let v: Value = serde_json::from_str(&stats_json(&batch)).unwrap();
        assert_eq!(v["numRecords"], 3);
        assert_eq!(v["minValues"]["h"], "a");
        assert_eq!(v["maxValues"]["h"], "b");
        assert_eq!(v["nullCount"]["h"], 1);
        assert_eq!(v["minValues"]["v"], -1.0);
        assert_eq!(v["minValues"]["time"], "1970-01-01T00:00:00.001Z");
        assert_eq!(v["maxValues"]["time"], "1970-01-01T00:00:00.003Z");
    }
}
