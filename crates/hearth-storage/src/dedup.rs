//! Sorting and merging rows of one identity (tags, time).
//!
//! Rows arrive with a rank (the WAL sequence number of their write, or the flush sequence of the
//! file holding them). Rows with equal tags and time are merged into one: each field takes the
//! value of the highest-ranked row in which it is not NULL; fields never written stay NULL. The
//! output is sorted by (tags in schema order, time), the sort order of persisted files. The
//! result depends only on the ranks, never on the order rows are handed in.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array, UInt64Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};

use crate::error::StorageError;

/// The rank of each row's series (its tag values) in the sort order of tags: rows of one series
/// share a rank, and ranks compare as the tag values do (NULL first, then by value, column by
/// column). Tags are encoded in Arrow's row format once per row, but compared only once per
/// distinct series: a table has far fewer series than rows.
fn series_ranks(tags: &[ArrayRef], rows: usize) -> Result<Vec<u32>, StorageError> {
    if tags.is_empty() {
        return Ok(vec![0; rows]);
    }
    let converter = RowConverter::new(
        tags.iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect(),
    )?;
    let encoded = converter.convert_columns(tags)?;
    let mut ids: HashMap<&[u8], u32, foldhash::fast::FixedState> = HashMap::default();
    let mut distinct: Vec<&[u8]> = Vec::new();
    let series: Vec<u32> = (0..rows)
        .map(|r| {
            let key = encoded.row(r).data();
            *ids.entry(key).or_insert_with(|| {
                distinct.push(key);
                (distinct.len() - 1) as u32
            })
        })
        .collect();
    let mut by_value: Vec<u32> = (0..distinct.len() as u32).collect();
    by_value.sort_unstable_by_key(|&id| distinct[id as usize]);
    let mut rank_of = vec![0u32; distinct.len()];
    for (rank, &id) in by_value.iter().enumerate() {
        rank_of[id as usize] = rank as u32;
    }
    Ok(series.into_iter().map(|id| rank_of[id as usize]).collect())
}

/// Merges duplicate identities of `batch`.
///
/// `key_columns` are the indices of the identity columns in sort order: the tags, then the
/// time (last; an integer or timestamp column without NULLs). `rank` is the rank of each row.
/// With `whole_rows` (a SQL table's primary key) the highest-ranked row of an identity replaces
/// the others whole, NULLs included, instead of field by field.
/// The returned batch has the same schema as `batch`.
pub fn dedup_sorted(
    batch: &RecordBatch,
    key_columns: &[usize],
    rank: &UInt64Array,
    whole_rows: bool,
) -> Result<RecordBatch, StorageError> {
    let n = batch.num_rows();
    if n == 0 {
        return Ok(batch.clone());
    }
    let Some((&time_column, tag_columns)) = key_columns.split_last() else {
        return Err(StorageError::Payload("dedup needs a time column".into()));
    };
    let tags: Vec<ArrayRef> = tag_columns
        .iter()
        .map(|&i| batch.column(i).clone())
        .collect();
    let series = series_ranks(&tags, n)?;
    let time = cast(batch.column(time_column), &DataType::Int64)?;
    let time = time.as_primitive::<Int64Type>().values();
    // Sort by (series, time), ranks breaking ties; ranks are unique, so the order is total and
    // every comparison is between integers.
    // The keys are laid out next to the row numbers, so the sort reads memory in order.
    let ranks = rank.values();
    let mut keyed: Vec<(u32, i64, u64, u32)> = (0..n)
        .map(|r| (series[r], time[r], ranks[r], r as u32))
        .collect();
    keyed.sort_unstable();
    let sorted: Vec<u32> = keyed.iter().map(|k| k.3).collect();
    drop(keyed);
    let identity = |r: u32| (series[r as usize], time[r as usize]);
    let mut groups: Vec<(usize, usize)> = Vec::new(); // [start, end) in sorted positions
    let mut start = 0;
    for i in 1..n {
        if identity(sorted[i]) != identity(sorted[i - 1]) {
            groups.push((start, i));
            start = i;
        }
    }
    groups.push((start, n));
    let order = UInt32Array::from(sorted);
    if groups.len() == n {
        // No duplicates: only the sort was needed.
        let columns = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &order, None))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(RecordBatch::try_new(batch.schema(), columns)?);
    }

    let order = order.values();
    let first: UInt32Array = groups.iter().map(|&(s, _)| order[s]).collect();
    let last: UInt32Array = groups.iter().map(|&(_, e)| order[e - 1]).collect();
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (i, column) in batch.columns().iter().enumerate() {
        if whole_rows {
            columns.push(take(column.as_ref(), &last, None)?);
            continue;
        }
        if key_columns.contains(&i) {
            columns.push(take(column.as_ref(), &first, None)?);
            continue;
        }
        // Within a group rows are in rank order: the last non-null one wins.
        let pick: UInt32Array = groups
            .iter()
            .map(|&(s, e)| {
                (s..e)
                    .rev()
                    .map(|p| order[p])
                    .find(|&r| column.is_valid(r as usize))
                    .unwrap_or(order[e - 1])
            })
            .collect();
        columns.push(take(column.as_ref(), &pick, None)?);
    }
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(
        tags: Vec<Option<&str>>,
        time: Vec<i64>,
        a: Vec<Option<f64>>,
        b: Vec<Option<i64>>,
    ) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("tag", DataType::Utf8, true),
            Field::new("a", DataType::Float64, true),
            Field::new("b", DataType::Int64, true),
            Field::new("time", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(tags)),
                Arc::new(Float64Array::from(a)),
                Arc::new(Int64Array::from(b)),
                Arc::new(Int64Array::from(time)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn later_rank_wins_per_field_and_unwritten_fields_keep_values() {
        let input = batch(
            vec![Some("x"), Some("x"), Some("y"), Some("x")],
            vec![1, 1, 1, 2],
            vec![Some(1.0), Some(2.0), Some(9.0), None],
            vec![Some(10), None, None, Some(7)],
        );
        // Ranks out of input order: row 1 (a=2.0) is older than row 0 (a=1.0).
        let rank = UInt64Array::from(vec![5, 3, 1, 2]);
        let out = dedup_sorted(&input, &[0, 3], &rank, false).unwrap();
        assert_eq!(out.num_rows(), 3);
        let tag = out
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let a = out
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let b = out.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        let t = out.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(
            (tag.value(0), t.value(0), a.value(0), b.value(0)),
            ("x", 1, 1.0, 10)
        );
        assert_eq!((tag.value(1), t.value(1)), ("x", 2));
        assert!(a.is_null(1));
        assert_eq!(b.value(1), 7);
        assert_eq!((tag.value(2), a.value(2)), ("y", 9.0));
        assert!(b.is_null(2));
    }

    #[test]
    fn whole_rows_replace_nulls_included() {
        let input = batch(
            vec![Some("x"), Some("x"), Some("y")],
            vec![0, 0, 0],
            vec![Some(1.0), None, Some(9.0)],
            vec![Some(10), Some(11), None],
        );
        let out = dedup_sorted(&input, &[0, 3], &UInt64Array::from(vec![1, 2, 3]), true).unwrap();
        assert_eq!(out.num_rows(), 2);
        let a = out
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        let b = out.column(2).as_primitive::<Int64Type>();
        // The later row of x wins whole: its NULL replaces 1.0.
        assert!(a.is_null(0));
        assert_eq!(b.value(0), 11);
        assert_eq!(a.value(1), 9.0);
        assert!(b.is_null(1));
    }

    #[test]
    fn null_tags_form_one_identity() {
        let input = batch(
            vec![None, None],
            vec![1, 1],
            vec![Some(1.0), None],
            vec![None, Some(2)],
        );
        let out = dedup_sorted(&input, &[0, 3], &UInt64Array::from(vec![1, 2]), false).unwrap();
        assert_eq!(out.num_rows(), 1);
        let b = out.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(b.value(0), 2);
    }

    #[test]
    fn result_does_not_depend_on_input_order() {
        let a = batch(
            vec![Some("x"), Some("x")],
            vec![1, 1],
            vec![Some(1.0), Some(2.0)],
            vec![None, None],
        );
        let b = batch(
            vec![Some("x"), Some("x")],
            vec![1, 1],
            vec![Some(2.0), Some(1.0)],
            vec![None, None],
        );
        let out_a = dedup_sorted(&a, &[0, 3], &UInt64Array::from(vec![1, 2]), false).unwrap();
        let out_b = dedup_sorted(&b, &[0, 3], &UInt64Array::from(vec![2, 1]), false).unwrap();
        assert_eq!(out_a, out_b);
        let v = out_a
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(v.value(0), 2.0);
    }
}
