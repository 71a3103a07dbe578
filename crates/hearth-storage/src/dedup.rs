//! Sorting and merging rows of one identity (tags, time).
//!
//! Rows arrive with a rank (the WAL sequence number of their write, or the flush sequence of the
//! file holding them). Rows with equal tags and time are merged into one: each field takes the
//! value of the highest-ranked row in which it is not NULL; fields never written stay NULL. The
//! output is sorted by (tags in schema order, time), the sort order of persisted files. The
//! result depends only on the ranks, never on the order rows are handed in.
//!
//! Text tags come out dictionary-encoded, one dictionary entry per series: rows of one series
//! share their tag values, so each output row only needs its series' number, not a copy of its
//! strings, and the Parquet writer and the file statistics read the few distinct values.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int32Array, StringArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::buffer::{NullBuffer, ScalarBuffer};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};

use crate::error::StorageError;

/// The series of a batch's rows.
#[derive(Debug, PartialEq)]
struct Series {
    /// Per row, the rank of its series in the sort order of tags: rows of one series share a
    /// rank, and ranks compare as the tag values do (NULL first, then by value, column by
    /// column).
    rank: Vec<u32>,
    /// Per rank, one row of that series.
    row: Vec<u32>,
}

/// The series of each row.
fn series_ranks(tags: &[ArrayRef], rows: usize) -> Result<Series, StorageError> {
    if tags.is_empty() {
        return Ok(Series {
            rank: vec![0; rows],
            row: vec![0],
        });
    }
    let text: Option<Vec<&StringArray>> = tags.iter().map(|a| a.as_string_opt()).collect();
    if let Some(text) = text
        && let Some(series) = text_series(&text, rows, &foldhash::fast::FixedState::default())
    {
        return Ok(series);
    }
    row_series(tags, rows)
}

/// Numbers the series of rows whose tags are all text. Each row's tag values are hashed column
/// by column into one 64-bit key; rows with equal keys are one series once each has been
/// compared with the series' first row, value by value. `None` if two series share a key
/// (then [`row_series`] decides).
fn text_series(tags: &[&StringArray], rows: usize, state: &impl BuildHasher) -> Option<Series> {
    let mut keys = vec![0u64; rows];
    for column in tags {
        for (r, key) in keys.iter_mut().enumerate() {
            // NULL hashes as a value no string hashes to in practice; a string that did
            // would still be told apart by the comparison below.
            let h = if column.is_valid(r) {
                state.hash_one(column.value(r))
            } else {
                0x9e37_79b9_7f4a_7c15
            };
            *key = (key.rotate_left(23) ^ h).wrapping_mul(0x2545_f491_4f6c_dd1d);
        }
    }
    let same = |a: usize, b: usize| {
        tags.iter().all(|c| match (c.is_valid(a), c.is_valid(b)) {
            (true, true) => c.value(a) == c.value(b),
            (va, vb) => va == vb,
        })
    };
    let mut ids: HashMap<u64, u32, foldhash::fast::FixedState> = HashMap::default();
    let mut first: Vec<u32> = Vec::new();
    let mut series = Vec::with_capacity(rows);
    for (r, &key) in keys.iter().enumerate() {
        let id = *ids.entry(key).or_insert_with(|| {
            first.push(r as u32);
            (first.len() - 1) as u32
        });
        if !same(r, first[id as usize] as usize) {
            return None;
        }
        series.push(id);
    }
    let value = |row: u32| {
        tags.iter()
            .map(move |c| (!c.is_null(row as usize)).then(|| c.value(row as usize)))
    };
    let mut by_value: Vec<u32> = (0..first.len() as u32).collect();
    by_value.sort_unstable_by(|&a, &b| value(first[a as usize]).cmp(value(first[b as usize])));
    Some(ranked(series, &by_value, |id| first[id as usize]))
}

/// Numbers the series of rows with tags of any type. Tags are encoded in Arrow's row format
/// once per row, but compared only once per distinct series: a table has far fewer series than
/// rows.
fn row_series(tags: &[ArrayRef], rows: usize) -> Result<Series, StorageError> {
    let converter = RowConverter::new(
        tags.iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect(),
    )?;
    let encoded = converter.convert_columns(tags)?;
    let mut ids: HashMap<&[u8], u32, foldhash::fast::FixedState> = HashMap::default();
    let mut distinct: Vec<(&[u8], u32)> = Vec::new();
    let series: Vec<u32> = (0..rows)
        .map(|r| {
            let key = encoded.row(r).data();
            *ids.entry(key).or_insert_with(|| {
                distinct.push((key, r as u32));
                (distinct.len() - 1) as u32
            })
        })
        .collect();
    let mut by_value: Vec<u32> = (0..distinct.len() as u32).collect();
    by_value.sort_unstable_by_key(|&id| distinct[id as usize].0);
    Ok(ranked(series, &by_value, |id| distinct[id as usize].1))
}

/// The series of rows numbered `series` (per row, in any numbering) given the numbers in the
/// sort order of their tags (`by_value`) and a row of each (`row_of`).
fn ranked(series: Vec<u32>, by_value: &[u32], row_of: impl Fn(u32) -> u32) -> Series {
    let mut rank_of = vec![0u32; by_value.len()];
    for (rank, &id) in by_value.iter().enumerate() {
        rank_of[id as usize] = rank as u32;
    }
    Series {
        rank: series.into_iter().map(|id| rank_of[id as usize]).collect(),
        row: by_value.iter().map(|&id| row_of(id)).collect(),
    }
}

/// A text tag column for rows of the series ranked `ranks`: keys are the ranks, the
/// dictionary holds each series' value (`values`, indexed by rank); a series whose value is
/// NULL gets NULL keys.
fn tag_dictionary(values: ArrayRef, ranks: &ScalarBuffer<i32>) -> Result<ArrayRef, StorageError> {
    let nulls = (values.null_count() > 0)
        .then(|| NullBuffer::from_iter(ranks.iter().map(|&r| values.is_valid(r as usize))));
    let keys = Int32Array::new(ranks.clone(), nulls);
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
        keys, values,
    )?))
}

/// The type `dedup_sorted` gives text tag columns.
pub fn tag_dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// Merges duplicate identities of `batch`.
///
/// `key_columns` are the indices of the identity columns in sort order: the tags, then the
/// time (last; an integer or timestamp column without NULLs). `rank` is the rank of each row.
/// With `whole_rows` (a SQL table's primary key) the highest-ranked row of an identity replaces
/// the others whole, NULLs included, instead of field by field.
/// The returned batch has the columns of `batch`, with text (`Utf8`) tags as dictionaries
/// ([`tag_dictionary_type`]); the Parquet writer takes them for their plain type.
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
    let Series {
        rank: series,
        row: series_row,
    } = series_ranks(&tags, n)?;
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
    // Text tags: each output row's series rank, and one row per series for the values.
    let series_row = UInt32Array::from(series_row);
    let keys: ScalarBuffer<i32> = groups
        .iter()
        .map(|&(s, _)| series[sorted[s] as usize] as i32)
        .collect();
    let text_tag = |i: usize, column: &ArrayRef| -> Option<Result<ArrayRef, StorageError>> {
        if !tag_columns.contains(&i) || column.data_type() != &DataType::Utf8 {
            return None;
        }
        Some(
            take(column.as_ref(), &series_row, None)
                .map_err(StorageError::from)
                .and_then(|values| tag_dictionary(values, &keys)),
        )
    };
    let mut columns = Vec::with_capacity(batch.num_columns());
    if groups.len() == n {
        // No duplicates: only the sort was needed.
        let order = UInt32Array::from(sorted);
        for (i, column) in batch.columns().iter().enumerate() {
            columns.push(match text_tag(i, column) {
                Some(tag) => tag?,
                None => take(column.as_ref(), &order, None)?,
            });
        }
        return output(batch, columns);
    }

    let order = &sorted;
    let first: UInt32Array = groups.iter().map(|&(s, _)| order[s]).collect();
    let last: UInt32Array = groups.iter().map(|&(_, e)| order[e - 1]).collect();
    for (i, column) in batch.columns().iter().enumerate() {
        if let Some(tag) = text_tag(i, column) {
            columns.push(tag?);
            continue;
        }
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
    output(batch, columns)
}

/// A batch of `columns`, named and nullable as the columns of `batch`.
fn output(batch: &RecordBatch, columns: Vec<ArrayRef>) -> Result<RecordBatch, StorageError> {
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    let schema = Schema::new_with_metadata(fields, batch.schema().metadata().clone());
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
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
        assert_eq!(out.column(0).data_type(), &tag_dictionary_type());
        let tag = cast(out.column(0), &DataType::Utf8).unwrap();
        let tag = tag.as_string::<i32>();
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
        // The NULL tag is a NULL key, not a key to a NULL value.
        let tag = out.column(0).as_dictionary::<Int32Type>();
        assert_eq!((tag.keys().null_count(), tag.null_count()), (1, 1));
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

    /// Tag columns of `rows` rows drawn from a few values, NULL and the empty string among them.
    fn random_tags(rows: usize, seed: u64) -> Vec<ArrayRef> {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let words = [
            None,
            Some(""),
            Some("a"),
            Some("ab"),
            Some("b"),
            Some("host_10"),
        ];
        (0..3)
            .map(|_| {
                let column: StringArray = (0..rows)
                    .map(|_| words[(next() % words.len() as u64) as usize])
                    .collect();
                Arc::new(column) as ArrayRef
            })
            .collect()
    }

    #[test]
    fn text_series_number_as_the_row_format_does() {
        for seed in [1, 2, 3] {
            let tags = random_tags(2_000, seed);
            let text = series_ranks(&tags, 2_000).unwrap();
            assert_eq!(text, row_series(&tags, 2_000).unwrap());
            // 6^3 combinations, nearly all present.
            assert!(text.row.len() > 150, "{}", text.row.len());
        }
    }

    /// A hasher that gives every value the same hash.
    #[derive(Default)]
    struct Constant;
    impl std::hash::Hasher for Constant {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }
    impl BuildHasher for Constant {
        type Hasher = Constant;
        fn build_hasher(&self) -> Constant {
            Constant
        }
    }

    #[test]
    fn series_sharing_a_hash_are_told_apart_by_value() {
        let tags = random_tags(100, 9);
        let text: Vec<&StringArray> = tags.iter().map(|a| a.as_string::<i32>()).collect();
        // Every series hashes alike: the first row of another series is caught.
        assert_eq!(text_series(&text, 100, &Constant), None);
        // One series (every row alike, NULL included) needs no other hash.
        let one: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("x"); 5])),
            Arc::new(StringArray::from(vec![None::<&str>; 5])),
        ];
        let one_text: Vec<&StringArray> = one.iter().map(|a| a.as_string::<i32>()).collect();
        assert_eq!(
            text_series(&one_text, 5, &Constant),
            Some(Series {
                rank: vec![0; 5],
                row: vec![0]
            })
        );
        // NULL and the empty string are different series, NULL first.
        let null_or_empty: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec![Some(""), None]))];
        let t: Vec<&StringArray> = null_or_empty.iter().map(|a| a.as_string::<i32>()).collect();
        assert_eq!(
            text_series(&t, 2, &Constant),
            Some(Series {
                rank: vec![1, 0],
                row: vec![1, 0]
            })
        );
        assert_eq!(series_ranks(&null_or_empty, 2).unwrap().rank, vec![1, 0]);
    }
}
