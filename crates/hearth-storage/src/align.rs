//! Aligning record batches to a wider schema.
//!
//! Batches of one table differ in columns (each write mentions only some). To read them together
//! they are aligned to the table schema: columns are reordered, and the ones a batch lacks become
//! all-NULL arrays. Extra columns of the batch that the target lacks are dropped.

use datafusion::arrow::array::{ArrayRef, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::error::StorageError;

/// Returns `batch` with exactly the columns of `target`, in its order.
pub fn align(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch, StorageError> {
    let schema = batch.schema();
    let columns: Vec<ArrayRef> = target
        .fields()
        .iter()
        .map(|f| match schema.index_of(f.name()) {
            Ok(i) => {
                let col = batch.column(i);
                if col.data_type() == f.data_type() {
                    Ok(col.clone())
                } else {
                    cast(col, f.data_type()).map_err(StorageError::from)
                }
            }
            Err(_) => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<_, StorageError>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        target.clone(),
        columns,
        &options,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn missing_columns_become_nulls_and_order_follows_target() {
        let src = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("b", DataType::Int64, true)])),
            vec![Arc::new(Int64Array::from(vec![1, 2]))],
        )
        .unwrap();
        let target = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Int64, true),
        ]));
        let out = align(&src, &target).unwrap();
        assert_eq!(out.schema(), target);
        assert_eq!(out.column(0).null_count(), 2);
        let b = out.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(b.values(), &[1, 2]);
    }
}
