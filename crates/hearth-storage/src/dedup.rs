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
    Array, ArrayRef, AsArray, DictionaryArray, Int32Array, StringArray,
};
use datafusion::arrow::buffer::{NullBuffer, ScalarBuffer};
use datafusion::arrow::compute::{cast, interleave};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};

use crate::error::StorageError;

/// Rows of several batches numbered as one: row `g` is row `g - starts[b]` of batch `b`.
struct Parts<'a> {
    batches: &'a [RecordBatch],
    /// The number of the first row of each batch, then the total.
    starts: Vec<usize>,
}

impl<'a> Parts<'a> {
    fn new(batches: &'a [RecordBatch]) -> Parts<'a> {
        let mut starts = Vec::with_capacity(batches.len() + 1);
        let mut total = 0;
        starts.push(0);
        for b in batches {
            total += b.num_rows();
            starts.push(total);
        }
        Parts { batches, starts }
    }

    fn rows(&self) -> usize {
        *self.starts.last().unwrap_or(&0)
    }

    /// (batch, row in batch) of row `g`.
    fn locate(&self, g: u32) -> (usize, usize) {
        let b = self.starts.partition_point(|&s| s <= g as usize) - 1;
        (b, g as usize - self.starts[b])
    }

    /// Column `i` of every batch.
    fn column(&self, i: usize) -> Vec<&'a dyn Array> {
        self.batches.iter().map(|b| b.column(i).as_ref()).collect()
    }

    /// Column `i` of the rows `rows` (numbers), in that order.
    fn gather(&self, i: usize, rows: &[(usize, usize)]) -> Result<ArrayRef, StorageError> {
        Ok(interleave(&self.column(i), rows)?)
    }
}

/// The series of the rows.
#[derive(Debug, PartialEq)]
struct Series {
    /// Per row, the rank of its series in the sort order of tags: rows of one series share a
    /// rank, and ranks compare as the tag values do (NULL first, then by value, column by
    /// column).
    rank: Vec<u32>,
    /// Per rank, one row of that series.
    row: Vec<u32>,
}

/// The series of each row; `tags` are the tag columns' indices.
fn series_ranks(parts: &Parts<'_>, tags: &[usize]) -> Result<Series, StorageError> {
    let rows = parts.rows();
    if tags.is_empty() {
        return Ok(Series {
            rank: vec![0; rows],
            row: vec![0],
        });
    }
    let text: Option<Vec<Vec<&StringArray>>> = parts
        .batches
        .iter()
        .map(|b| tags.iter().map(|&i| b.column(i).as_string_opt()).collect())
        .collect();
    if let Some(text) = text
        && let Some(series) = text_series(parts, &text, &foldhash::fast::FixedState::default())
    {
        return Ok(series);
    }
    row_series(parts, tags)
}

/// Numbers the series of rows whose tags are all text (`tags[batch][column]`). Each row's tag
/// values are hashed column by column into one 64-bit key; rows with equal keys are one series
/// once each has been compared with the series' first row, value by value. `None` if two
/// series share a key (then [`row_series`] decides).
fn text_series(
    parts: &Parts<'_>,
    tags: &[Vec<&StringArray>],
    state: &impl BuildHasher,
) -> Option<Series> {
    let rows = parts.rows();
    let mut keys = vec![0u64; rows];
    for (b, columns) in tags.iter().enumerate() {
        let keys = &mut keys[parts.starts[b]..parts.starts[b + 1]];
        for column in columns {
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
    }
    let value = |(b, r): (usize, usize)| {
        tags[b]
            .iter()
            .map(move |c| (!c.is_null(r)).then(|| c.value(r)))
    };
    let mut ids: HashMap<u64, u32, foldhash::fast::FixedState> = HashMap::default();
    let mut first: Vec<(usize, usize)> = Vec::new();
    let mut series = Vec::with_capacity(rows);
    for (b, columns) in tags.iter().enumerate() {
        for (r, &key) in keys[parts.starts[b]..parts.starts[b + 1]]
            .iter()
            .enumerate()
        {
            let id = *ids.entry(key).or_insert_with(|| {
                first.push((b, r));
                (first.len() - 1) as u32
            });
            let (fb, fr) = first[id as usize];
            let same =
                columns
                    .iter()
                    .zip(&tags[fb])
                    .all(|(c, f)| match (c.is_valid(r), f.is_valid(fr)) {
                        (true, true) => c.value(r) == f.value(fr),
                        (v, w) => v == w,
                    });
            if !same {
                return None;
            }
            series.push(id);
        }
    }
    let mut by_value: Vec<u32> = (0..first.len() as u32).collect();
    by_value.sort_unstable_by(|&a, &b| value(first[a as usize]).cmp(value(first[b as usize])));
    Some(ranked(series, &by_value, |id| {
        let (b, r) = first[id as usize];
        (parts.starts[b] + r) as u32
    }))
}

/// Numbers the series of rows with tags of any type. Tags are encoded in Arrow's row format
/// once per row, but compared only once per distinct series: a table has far fewer series than
/// rows.
fn row_series(parts: &Parts<'_>, tags: &[usize]) -> Result<Series, StorageError> {
    let types = tags
        .iter()
        .map(|&i| SortField::new(parts.batches[0].column(i).data_type().clone()))
        .collect();
    let converter = RowConverter::new(types)?;
    let mut encoded = converter.empty_rows(parts.rows(), 0);
    for batch in parts.batches {
        let columns: Vec<ArrayRef> = tags.iter().map(|&i| batch.column(i).clone()).collect();
        converter.append(&mut encoded, &columns)?;
    }
    let mut ids: HashMap<&[u8], u32, foldhash::fast::FixedState> = HashMap::default();
    let mut distinct: Vec<(&[u8], u32)> = Vec::new();
    let series: Vec<u32> = (0..parts.rows())
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

/// Merges the rows of `batches` (all of schema `schema`) into one batch sorted by identity,
/// with duplicate identities merged.
///
/// `key_columns` are the indices of the identity columns in sort order: the tags, then the
/// time (last; an integer or timestamp column without NULLs). `rank` is the rank of each row,
/// the batches' rows in order. With `whole_rows` (a SQL table's primary key) the
/// highest-ranked row of an identity replaces the others whole, NULLs included, instead of
/// field by field. The batches are read where they are, never concatenated.
/// The returned batch has the columns of `schema`, with text (`Utf8`) tags as dictionaries
/// ([`tag_dictionary_type`]); the Parquet writer takes them for their plain type.
pub fn dedup_sorted(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    key_columns: &[usize],
    rank: &[u64],
    whole_rows: bool,
) -> Result<RecordBatch, StorageError> {
    let parts = Parts::new(batches);
    let n = parts.rows();
    if n == 0 {
        return Ok(RecordBatch::new_empty(schema.clone()));
    }
    if rank.len() != n {
        return Err(StorageError::Payload(format!(
            "dedup of {n} rows given {} ranks",
            rank.len()
        )));
    }
    let Some((&time_column, tag_columns)) = key_columns.split_last() else {
        return Err(StorageError::Payload("dedup needs a time column".into()));
    };
    let Series {
        rank: series,
        row: series_row,
    } = series_ranks(&parts, tag_columns)?;
    let mut time: Vec<i64> = Vec::with_capacity(n);
    for batch in batches {
        let t = cast(batch.column(time_column), &DataType::Int64)?;
        time.extend_from_slice(t.as_primitive::<Int64Type>().values());
    }
    // Sort by (series, time), ranks breaking ties; ranks are unique, so the order is total and
    // every comparison is between integers.
    // The keys are laid out next to the row numbers, so the sort reads memory in order.
    let mut keyed: Vec<(u32, i64, u64, u32)> = (0..n)
        .map(|r| (series[r], time[r], rank[r], r as u32))
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
    drop(time);
    // Text tags: each output row's series rank, and one row per series for the values.
    let series_rows: Vec<(usize, usize)> = series_row.iter().map(|&g| parts.locate(g)).collect();
    let keys: ScalarBuffer<i32> = groups
        .iter()
        .map(|&(s, _)| series[sorted[s] as usize] as i32)
        .collect();
    let text_tag = |i: usize| -> Option<Result<ArrayRef, StorageError>> {
        if !tag_columns.contains(&i) || schema.field(i).data_type() != &DataType::Utf8 {
            return None;
        }
        Some(
            parts
                .gather(i, &series_rows)
                .and_then(|values| tag_dictionary(values, &keys)),
        )
    };
    // Where each sorted row is, found once for every column.
    let order: Vec<(usize, usize)> = sorted.iter().map(|&g| parts.locate(g)).collect();
    drop(sorted);
    let mut columns = Vec::with_capacity(schema.fields().len());
    if groups.len() == n {
        // No duplicates: only the sort was needed.
        for i in 0..schema.fields().len() {
            columns.push(match text_tag(i) {
                Some(tag) => tag?,
                None => parts.gather(i, &order)?,
            });
        }
        return output(schema, columns);
    }

    // Whole rows take every column from an identity's last row; otherwise the key columns
    // come from its first row.
    let picked: Vec<(usize, usize)> = groups
        .iter()
        .map(|&(s, e)| order[if whole_rows { e - 1 } else { s }])
        .collect();
    for i in 0..schema.fields().len() {
        if let Some(tag) = text_tag(i) {
            columns.push(tag?);
            continue;
        }
        if whole_rows || key_columns.contains(&i) {
            columns.push(parts.gather(i, &picked)?);
            continue;
        }
        // Within a group rows are in rank order: the last non-null one wins.
        let column = parts.column(i);
        let pick: Vec<(usize, usize)> = groups
            .iter()
            .map(|&(s, e)| {
                order[s..e]
                    .iter()
                    .rev()
                    .find(|&&(b, r)| column[b].is_valid(r))
                    .copied()
                    .unwrap_or(order[e - 1])
            })
            .collect();
        columns.push(interleave(&column, &pick)?);
    }
    output(schema, columns)
}

/// A batch of `columns`, named and nullable as the columns of `schema`.
fn output(schema: &SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, StorageError> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    let out = Schema::new_with_metadata(fields, schema.metadata().clone());
    Ok(RecordBatch::try_new(Arc::new(out), columns)?)
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

    /// `dedup_sorted` of one batch whose identity is (tag, time).
    fn dedup(batch: &RecordBatch, rank: Vec<u64>, whole_rows: bool) -> RecordBatch {
        let schema = batch.schema();
        dedup_sorted(
            &schema,
            std::slice::from_ref(batch),
            &[0, 3],
            &rank,
            whole_rows,
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
        let rank = vec![5, 3, 1, 2];
        let out = dedup(&input, rank, false);
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
        let out = dedup(&input, vec![1, 2, 3], true);
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
        let out = dedup(&input, vec![1, 2], false);
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
        let out_a = dedup(&a, vec![1, 2], false);
        let out_b = dedup(&b, vec![2, 1], false);
        assert_eq!(out_a, out_b);
        let v = out_a
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(v.value(0), 2.0);
    }

    /// A batch of three tag columns and `rows` rows drawn from a few values, NULL and the empty
    /// string among them.
    fn random_tags(rows: usize, seed: u64) -> RecordBatch {
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
        let columns: Vec<ArrayRef> = (0..3)
            .map(|_| {
                let column: StringArray = (0..rows)
                    .map(|_| words[(next() % words.len() as u64) as usize])
                    .collect();
                Arc::new(column) as ArrayRef
            })
            .collect();
        RecordBatch::try_from_iter(["a", "b", "c"].into_iter().zip(columns)).unwrap()
    }

    /// `batch` cut into parts of 1, 2, 3, ... rows.
    fn cut(batch: &RecordBatch) -> Vec<RecordBatch> {
        let mut parts = Vec::new();
        let (mut at, mut len) = (0, 1);
        while at < batch.num_rows() {
            let take = len.min(batch.num_rows() - at);
            parts.push(batch.slice(at, take));
            at += take;
            len += 1;
        }
        parts
    }

    #[test]
    fn text_series_number_as_the_row_format_does() {
        for seed in [1, 2, 3] {
            let batch = random_tags(2_000, seed);
            let one = [batch.clone()];
            let text = series_ranks(&Parts::new(&one), &[0, 1, 2]).unwrap();
            assert_eq!(text, row_series(&Parts::new(&one), &[0, 1, 2]).unwrap());
            // 6^3 combinations, nearly all present.
            assert!(text.row.len() > 150, "{}", text.row.len());
            // The same rows in 63 batches are numbered the same.
            let parts = cut(&batch);
            assert!(parts.len() > 50);
            assert_eq!(series_ranks(&Parts::new(&parts), &[0, 1, 2]).unwrap(), text);
            assert_eq!(row_series(&Parts::new(&parts), &[0, 1, 2]).unwrap(), text);
        }
    }

    #[test]
    fn batches_merge_as_their_concatenation_does() {
        // Rows of 40 series at 7 times, each written three times by ranks in shuffled order;
        // fields NULL now and then, so merging picks from different batches.
        let mut x = 77u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let n = 40 * 7 * 3;
        // Series 0 has a NULL tag.
        let tag: StringArray = (0..n)
            .map(|_| {
                Some(next() % 40)
                    .filter(|&s| s > 0)
                    .map(|s| format!("s{s}"))
            })
            .collect();
        let time = Int64Array::from_iter_values((0..n).map(|_| (next() % 7) as i64));
        let a = Float64Array::from_iter((0..n).map(|i| (next() % 4 != 0).then_some(i as f64)));
        let b = Int64Array::from_iter((0..n).map(|i| (next() % 3 != 0).then_some(i as i64)));
        let schema = Arc::new(Schema::new(vec![
            Field::new("tag", DataType::Utf8, true),
            Field::new("a", DataType::Float64, true),
            Field::new("b", DataType::Int64, true),
            Field::new("time", DataType::Int64, false),
        ]));
        let all = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(tag), Arc::new(a), Arc::new(b), Arc::new(time)],
        )
        .unwrap();
        let mut rank: Vec<u64> = (0..n as u64).collect();
        for i in (1..rank.len()).rev() {
            rank.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        for whole_rows in [false, true] {
            let whole = dedup(&all, rank.clone(), whole_rows);
            let parts = cut(&all);
            let merged = dedup_sorted(&schema, &parts, &[0, 3], &rank, whole_rows).unwrap();
            assert_eq!(merged, whole);
            assert!(
                whole.num_rows() < n && whole.num_rows() > 200,
                "{}",
                whole.num_rows()
            );
        }
        // A wrong number of ranks is an error, not a panic.
        assert!(dedup_sorted(&schema, &[all], &[0, 3], &rank[1..], false).is_err());
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
        let text_of = |batch: &RecordBatch| -> Vec<Vec<StringArray>> {
            vec![
                batch
                    .columns()
                    .iter()
                    .map(|a| a.as_string::<i32>().clone())
                    .collect(),
            ]
        };
        fn refs(t: &[Vec<StringArray>]) -> Vec<Vec<&StringArray>> {
            t.iter().map(|b| b.iter().collect()).collect()
        }
        let tags = [random_tags(100, 9)];
        // Every series hashes alike: the first row of another series is caught.
        let text = text_of(&tags[0]);
        assert_eq!(
            text_series(&Parts::new(&tags), &refs(&text), &Constant),
            None
        );
        // One series (every row alike, NULL included) needs no other hash.
        let one = [RecordBatch::try_from_iter([
            (
                "x",
                Arc::new(StringArray::from(vec![Some("x"); 5])) as ArrayRef,
            ),
            (
                "y",
                Arc::new(StringArray::from(vec![None::<&str>; 5])) as ArrayRef,
            ),
        ])
        .unwrap()];
        let text = text_of(&one[0]);
        assert_eq!(
            text_series(&Parts::new(&one), &refs(&text), &Constant),
            Some(Series {
                rank: vec![0; 5],
                row: vec![0]
            })
        );
        // NULL and the empty string are different series, NULL first.
        let null_or_empty = [RecordBatch::try_from_iter([(
            "x",
            Arc::new(StringArray::from(vec![Some(""), None])) as ArrayRef,
        )])
        .unwrap()];
        let text = text_of(&null_or_empty[0]);
        assert_eq!(
            text_series(&Parts::new(&null_or_empty), &refs(&text), &Constant),
            Some(Series {
                rank: vec![1, 0],
                row: vec![1, 0]
            })
        );
        assert_eq!(
            series_ranks(&Parts::new(&null_or_empty), &[0])
                .unwrap()
                .rank,
            vec![1, 0]
        );
    }
}
