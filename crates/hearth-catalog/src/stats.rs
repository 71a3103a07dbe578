//! Delta Lake file statistics (`numRecords`, `minValues`, `maxValues`, `nullCount`) computed
//! from the rows of a file, so Delta readers (and Hearth) can skip files by time and tag.

use datafusion::arrow::array::{
    Array, DictionaryArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::{max, min};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value, json};

use crate::timefmt::format_utc_millis;

/// Longest string kept as a min/max statistic; longer maxima are left out.
const MAX_STRING_STAT: usize = 32;

/// The stats JSON of a file holding exactly `batch`.
pub fn stats_json(batch: &RecordBatch) -> String {
    stats_json_with(batch, &[])
}

/// The stats JSON of a file holding exactly `batch`, where `known[i]`, if given, is the least
/// and greatest value of column `i` when that is a 64-bit integer or timestamp column (as the
/// Parquet writer's own statistics tell; it spares a pass over the column).
pub fn stats_json_with(batch: &RecordBatch, known: &[Option<(i64, i64)>]) -> String {
    let mut mins = Map::new();
    let mut maxs = Map::new();
    let mut nulls = Map::new();
    for (i, (field, column)) in batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .enumerate()
    {
        let name = field.name().clone();
        nulls.insert(name.clone(), json!(column.null_count()));
        let any = column.as_any();
        let known = known.get(i).copied().flatten();
        let (lo, hi): (Option<Value>, Option<Value>) =
            if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
                let (lo, hi) = known.map_or_else(|| (min(a), max(a)), |(l, h)| (Some(l), Some(h)));
                (
                    lo.map(|v| json!(format_utc_millis(v))),
                    hi.map(|v| json!(format_utc_millis(v))),
                )
            } else if let Some(a) = any.downcast_ref::<Int64Array>() {
                let (lo, hi) = known.map_or_else(|| (min(a), max(a)), |(l, h)| (Some(l), Some(h)));
                (lo.map(Value::from), hi.map(Value::from))
            } else if let Some(a) = any.downcast_ref::<Float64Array>() {
                let finite = |v: Option<f64>| v.filter(|x| x.is_finite()).map(Value::from);
                // NaN poisons min/max in Delta readers: leave both out if any is present.
                if a.iter().flatten().any(f64::is_nan) {
                    (None, None)
                } else {
                    (finite(min(a)), finite(max(a)))
                }
            } else if let Some(a) = any.downcast_ref::<StringArray>() {
                string_range(a.iter().flatten())
            } else if let Some(a) = any.downcast_ref::<DictionaryArray<Int32Type>>()
                && let Some(values) = a.values().as_any().downcast_ref::<StringArray>()
            {
                // The range of the values the keys use (the dictionary may hold others).
                let mut used = vec![false; values.len()];
                for key in a.keys().iter().flatten() {
                    used[key as usize] = true;
                }
                string_range(
                    values
                        .iter()
                        .zip(used)
                        .filter_map(|(v, used)| v.filter(|_| used)),
                )
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

/// The min and max statistics of text values: the least value cut to [`MAX_STRING_STAT`] bytes
/// (still a lower bound), the greatest only when it is that short.
fn string_range<'a>(values: impl Iterator<Item = &'a str>) -> (Option<Value>, Option<Value>) {
    let (lo, hi) = values.fold((None, None), |(lo, hi): (Option<&str>, Option<&str>), v| {
        (
            Some(lo.map_or(v, |lo| lo.min(v))),
            Some(hi.map_or(v, |hi| hi.max(v))),
        )
    });
    (
        lo.map(|s| json!(truncate(s))),
        hi.filter(|s| s.len() <= MAX_STRING_STAT).map(|s| json!(s)),
    )
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

    #[test]
    fn dictionary_text_ranges_cover_only_the_values_in_use() {
        // Values "a" and "z" are in the dictionary but no row uses them; one row is NULL.
        let values = StringArray::from(vec![Some("a"), Some("m"), None, Some("k"), Some("z")]);
        let keys =
            datafusion::arrow::array::Int32Array::from(vec![Some(1), Some(3), None, Some(1)]);
        let tag = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new(
            "h",
            tag.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(tag)]).unwrap();
        let v: Value = serde_json::from_str(&stats_json(&batch)).unwrap();
        assert_eq!(v["minValues"]["h"], "k");
        assert_eq!(v["maxValues"]["h"], "m");
        assert_eq!(v["nullCount"]["h"], 1);
    }
}
