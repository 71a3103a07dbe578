//! Text tags kept as dictionaries up to the runs that group by them.
//!
//! Hearth's files record their text tags as dictionaries (`persist::read_schema`), but the
//! table's schema says `Utf8`, so the Parquet scan turns every row's tag into a string, and
//! [`RunAggregateExec`](super::RunAggregateExec) then compares those strings row by row to
//! find where a run ends: on TSBS double-groupby-all (12 hours of 1 000 hosts by hour and host)
//! the two were a tenth of the query. Where a partial aggregate groups by a tag it reads from
//! a Parquet scan (through projections that pass the tag on and round-robin repartitions) and
//! uses it for nothing else, [`dictionary_scan`] rebuilds the scan to leave that tag a
//! dictionary: runs are then found on its integer keys, and only each group's key becomes a
//! string, as it leaves the aggregate.
//!
//! A file written before tags were recorded as dictionaries holds plain strings; the scan's
//! [`RunDictionaries`] adapter makes them dictionaries a run at a time ([`RunDictionary`]),
//! comparing neighbours as the runs did before, instead of hashing every row as a cast would.

use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int32Array, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int32Type, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, internal_err};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, ExecutionPlan, Partitioning, ReplaceChildrenOptions,
};
use hearth_storage::dedup::tag_dictionary_type;

/// An aggregate's input that reads some text keys as dictionaries, and the positions of those
/// keys among the aggregate's grouping keys.
pub(super) type DictionaryInput = (Arc<dyn ExecutionPlan>, Vec<usize>);

/// A plan rebuilt to give some of its output columns as dictionaries, and those columns.
type Rebuilt = (Arc<dyn ExecutionPlan>, HashSet<usize>);

/// The input of `aggregate` (a partial aggregate that groups by runs) rebuilt to read as
/// dictionaries the text tags that are its grouping keys and nothing else of it; with the
/// positions of those keys. None where no such key reaches a Parquet scan of Hearth's files
/// through projections that pass it on and round-robin repartitions.
pub(super) fn dictionary_scan(aggregate: &AggregateExec) -> Result<Option<DictionaryInput>> {
    // The aggregate's input columns used other than as a bare grouping key stay strings.
    let group_by = aggregate.group_expr().expr();
    let mut other_uses = HashSet::new();
    let arguments = aggregate.aggr_expr().iter().flat_map(|a| a.expressions());
    let filters = aggregate.filter_expr().iter().flatten().cloned();
    let computed_keys = group_by
        .iter()
        .map(|(e, _)| e.clone())
        .filter(|e| e.downcast_ref::<Column>().is_none());
    for e in arguments.chain(filters).chain(computed_keys) {
        other_uses.extend(collect_columns(&e).iter().map(Column::index));
    }
    let keys: Vec<(usize, usize)> = group_by
        .iter()
        .enumerate()
        .filter_map(|(position, (key, _))| {
            let column = key.downcast_ref::<Column>()?.index();
            (!other_uses.contains(&column)).then_some((position, column))
        })
        .collect();
    let columns = keys.iter().map(|&(_, column)| column).collect();
    let Some((input, converted)) = as_dictionaries(aggregate.input(), &columns)? else {
        return Ok(None);
    };
    let keys: Vec<usize> = keys
        .into_iter()
        .filter(|(_, column)| converted.contains(column))
        .map(|(position, _)| position)
        .collect();
    Ok((!keys.is_empty()).then_some((input, keys)))
}

/// `plan` rebuilt to give those of its output `columns` that are tags read straight from a
/// Parquet scan as dictionaries, with the columns it gives so; None if there are none.
fn as_dictionaries(
    plan: &Arc<dyn ExecutionPlan>,
    columns: &HashSet<usize>,
) -> Result<Option<Rebuilt>> {
    if columns.is_empty() {
        return Ok(None);
    }
    let recompute = || ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
    if let Some(repartition) = plan.downcast_ref::<RepartitionExec>() {
        if !matches!(repartition.partitioning(), Partitioning::RoundRobinBatch(_)) {
            return Ok(None);
        }
        let Some((input, converted)) = as_dictionaries(repartition.input(), columns)? else {
            return Ok(None);
        };
        return Ok(Some((
            plan.clone().replace_children(vec![input], recompute())?,
            converted,
        )));
    }
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let passed = passed_on(projection.expr().iter().map(|e| &e.expr), columns, |_| true);
        let inputs = passed.iter().map(|&(_, input)| input).collect();
        let Some((input, converted)) = as_dictionaries(projection.input(), &inputs)? else {
            return Ok(None);
        };
        let outputs = passed
            .into_iter()
            .filter(|(_, input)| converted.contains(input))
            .map(|(output, _)| output)
            .collect();
        // Made anew: a projection's output types are fixed when it is made.
        let projection = ProjectionExec::try_new(projection.expr().to_vec(), input)?;
        return Ok(Some((Arc::new(projection), outputs)));
    }
    match plan.downcast_ref::<DataSourceExec>() {
        Some(scan) => scan_of(scan, columns),
        None => Ok(None),
    }
}

/// Of a projection's `exprs` (by output position), the bare columns at the `wanted` positions
/// that read an `eligible` input column no other expression reads, as (output, input) pairs:
/// those inputs can change type without changing anything else the projection gives.
fn passed_on<'a>(
    exprs: impl Iterator<Item = &'a Arc<dyn PhysicalExpr>>,
    wanted: &HashSet<usize>,
    eligible: impl Fn(usize) -> bool,
) -> Vec<(usize, usize)> {
    let mut passed = Vec::new();
    let mut used = HashSet::new();
    for (output, e) in exprs.enumerate() {
        match e.downcast_ref::<Column>() {
            Some(c) if wanted.contains(&output) && eligible(c.index()) => {
                passed.push((output, c.index()))
            }
            _ => used.extend(collect_columns(e).iter().map(Column::index)),
        }
    }
    passed.retain(|(_, input)| !used.contains(input));
    passed
}

/// `scan` rebuilt to read those of its output `columns` that are text tags as dictionaries.
///
/// A tag is a text column of the files' declared order (tags, then time): the order is declared
/// only for Hearth's own files.
fn scan_of(scan: &DataSourceExec, columns: &HashSet<usize>) -> Result<Option<Rebuilt>> {
    let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    let Some(parquet) = config.file_source.downcast_ref::<ParquetSource>() else {
        return Ok(None);
    };
    let Some(projection) = parquet.projection() else {
        return Ok(None);
    };
    let table = parquet.table_schema();
    let file_schema = table.file_schema();
    let tags: HashSet<usize> = config
        .output_ordering
        .first()
        .into_iter()
        .flat_map(|order| order.iter())
        .filter_map(|sort| sort.expr.downcast_ref::<Column>().map(Column::index))
        .filter(|&i| i < file_schema.fields().len())
        .filter(|&i| file_schema.field(i).data_type() == &DataType::Utf8)
        .collect();
    if tags.is_empty() || !table.virtual_columns().is_empty() {
        return Ok(None);
    }
    let passed = passed_on(projection.iter().map(|e| &e.expr), columns, |c| {
        tags.contains(&c)
    });
    if passed.is_empty() {
        return Ok(None);
    }
    let outputs: HashSet<usize> = passed.iter().map(|&(output, _)| output).collect();
    let converted: HashSet<usize> = passed.iter().map(|&(_, column)| column).collect();

    let fields: Vec<FieldRef> = file_schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match converted.contains(&i) {
            true => Arc::new(f.as_ref().clone().with_data_type(tag_dictionary_type())),
            false => f.clone(),
        })
        .collect();
    let file_schema = Arc::new(Schema::new_with_metadata(
        fields,
        file_schema.metadata().clone(),
    ));
    let partition_columns: Vec<FieldRef> = table.table_partition_cols().iter().cloned().collect();
    let table = TableSchema::builder(file_schema)
        .with_table_partition_cols(partition_columns)
        .build();
    let mut source = ParquetSource::new(table)
        .with_table_parquet_options(parquet.table_parquet_options().clone());
    if let Some(readers) = parquet.parquet_file_reader_factory() {
        source = source.with_parquet_file_reader_factory(readers.clone());
    }
    // The predicate compares the tags as strings; a cast says so, which the scan moves to the
    // other side of each comparison as it does for files whose tags differ in type.
    if let Some(predicate) = parquet.filter() {
        let predicate = predicate
            .transform_up(|e| {
                Ok(match e.downcast_ref::<Column>() {
                    Some(c) if converted.contains(&c.index()) => {
                        Transformed::yes(Arc::new(CastExpr::new(e.clone(), DataType::Utf8, None))
                            as Arc<dyn PhysicalExpr>)
                    }
                    _ => Transformed::no(e),
                })
            })
            .data()?;
        source = source.with_predicate(predicate);
    }
    let Some(source) = source.try_pushdown_projection(projection)? else {
        return Ok(None);
    };
    let mut config = config.clone();
    config.file_source = source;
    config.expr_adapter_factory = Some(Arc::new(RunDictionaries {
        inner: config
            .expr_adapter_factory
            .clone()
            .unwrap_or_else(|| Arc::new(DefaultPhysicalExprAdapterFactory)),
    }));
    Ok(Some((DataSourceExec::from_data_source(config), outputs)))
}

/// Adapts a dictionary scan's expressions to each file (see the [module](self)): where a file
/// holds a tag as plain strings, the cast to a dictionary the default adapter puts in becomes a
/// [`RunDictionary`], and a comparison's cast back to strings falls away.
#[derive(Debug)]
pub(crate) struct RunDictionaries {
    inner: Arc<dyn PhysicalExprAdapterFactory>,
}

impl PhysicalExprAdapterFactory for RunDictionaries {
    fn create(
        &self,
        logical_file_schema: Arc<Schema>,
        physical_file_schema: Arc<Schema>,
    ) -> Result<Arc<dyn PhysicalExprAdapter>> {
        Ok(Arc::new(RunDictionaryAdapter {
            inner: self
                .inner
                .create(logical_file_schema, physical_file_schema.clone())?,
            physical: physical_file_schema,
        }))
    }
}

#[derive(Debug)]
struct RunDictionaryAdapter {
    inner: Arc<dyn PhysicalExprAdapter>,
    physical: Arc<Schema>,
}

impl PhysicalExprAdapter for RunDictionaryAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        self.inner
            .rewrite(expr)?
            .transform_up(|e| {
                let Some(cast) = e.downcast_ref::<CastExpr>() else {
                    return Ok(Transformed::no(e));
                };
                let inner = cast.expr();
                // Strings cast to a tag dictionary: made run by run.
                if cast.cast_type() == &tag_dictionary_type()
                    && inner.data_type(&self.physical)? == DataType::Utf8
                {
                    return Ok(Transformed::yes(
                        Arc::new(RunDictionary::new(inner.clone())) as _,
                    ));
                }
                // Such a dictionary cast back to strings: the strings.
                Ok(match inner.downcast_ref::<RunDictionary>() {
                    Some(run) if cast.cast_type() == &DataType::Utf8 => {
                        Transformed::yes(run.strings.clone())
                    }
                    _ => Transformed::no(e),
                })
            })
            .data()
    }
}

/// Strings as a dictionary of `Int32` keys, a new entry at each row that differs from the one
/// before: as cheap as comparing neighbours, and, on rows sorted by the strings, the same
/// dictionary a hashing cast would make. A value that comes back after others gets a second
/// entry; runs of equal keys are then still runs of equal strings, which is all the aggregation
/// by runs relies on (it may split a group, never join two).
#[derive(Debug, Clone)]
pub(crate) struct RunDictionary {
    strings: Arc<dyn PhysicalExpr>,
}

impl PartialEq for RunDictionary {
    fn eq(&self, other: &Self) -> bool {
        self.strings.as_ref() == other.strings.as_ref()
    }
}

impl Eq for RunDictionary {}

impl Hash for RunDictionary {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.strings.as_ref().hash(state);
    }
}

impl RunDictionary {
    pub(crate) fn new(strings: Arc<dyn PhysicalExpr>) -> Self {
        RunDictionary { strings }
    }
}

impl fmt::Display for RunDictionary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run_dictionary({})", self.strings)
    }
}

impl PhysicalExpr for RunDictionary {
    fn return_field(&self, input_schema: &Schema) -> Result<FieldRef> {
        // The strings' field (name, nullability), as a dictionary.
        let strings = self.strings.return_field(input_schema)?;
        Ok(Arc::new(
            strings
                .as_ref()
                .clone()
                .with_data_type(tag_dictionary_type()),
        ))
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let strings = self.strings.evaluate(batch)?.into_array(batch.num_rows())?;
        Ok(ColumnarValue::Array(run_dictionary(&strings)?))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.strings]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        match <[_; 1]>::try_from(children) {
            Ok([strings]) => Ok(Arc::new(RunDictionary { strings })),
            Err(_) => internal_err!("run_dictionary takes one argument"),
        }
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run_dictionary(")?;
        self.strings.fmt_sql(f)?;
        write!(f, ")")
    }
}

/// `strings` (text of any Arrow string type) as a [`RunDictionary`].
pub(crate) fn run_dictionary(strings: &ArrayRef) -> Result<ArrayRef> {
    let utf8;
    let strings: &StringArray = match strings.data_type() {
        DataType::Utf8 => strings.as_string(),
        _ => {
            utf8 = cast(strings, &DataType::Utf8)?;
            utf8.as_string()
        }
    };
    let mut keys = Vec::with_capacity(strings.len());
    let mut starts = Vec::new();
    let mut last: Option<&str> = None;
    for value in strings.iter() {
        keys.push(value.map(|v| {
            if last != Some(v) {
                starts.push(v);
                last = Some(v);
            }
            starts.len() as i32 - 1
        }));
    }
    let values = StringArray::from(starts);
    let keys = Int32Array::from(keys);
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
        keys,
        Arc::new(values),
    )?))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::StringViewArray;
    use datafusion::arrow::datatypes::Field;
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{BinaryExpr, lit};

    use super::*;

    #[test]
    fn strings_become_a_dictionary_entry_per_run() {
        let strings: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("a"),
            None,
            Some("a"),
            Some("b"),
            Some("b"),
            Some("a"),
        ]));
        let made = run_dictionary(&strings).unwrap();
        let made = made.as_dictionary::<Int32Type>();
        let keys: Vec<Option<i32>> = made.keys().iter().collect();
        assert_eq!(
            keys,
            [Some(0), Some(0), None, Some(0), Some(1), Some(1), Some(2)]
        );
        let values: Vec<_> = made.values().as_string::<i32>().iter().flatten().collect();
        assert_eq!(values, ["a", "b", "a"]);
        // The strings are those given, of any string type.
        let back = cast(&(Arc::new(made.clone()) as ArrayRef), &DataType::Utf8).unwrap();
        assert_eq!(back.as_ref(), strings.as_ref());
        let views: ArrayRef = Arc::new(StringViewArray::from(vec!["x", "x", "y"]));
        let made = run_dictionary(&views).unwrap();
        assert_eq!(made.as_dictionary::<Int32Type>().values().len(), 2);
    }

    /// A scan's expressions as the adapter makes them for a file whose tag is `physical`.
    fn adapted(physical: DataType, expr: Arc<dyn PhysicalExpr>) -> String {
        let logical = Schema::new(vec![Field::new("home", tag_dictionary_type(), true)]);
        let physical = Schema::new(vec![Field::new("home", physical, true)]);
        let factory = RunDictionaries {
            inner: Arc::new(DefaultPhysicalExprAdapterFactory),
        };
        let adapter = factory
            .create(Arc::new(logical), Arc::new(physical))
            .unwrap();
        adapter.rewrite(expr).unwrap().to_string()
    }

    #[test]
    fn files_with_string_tags_make_dictionaries_by_runs() {
        let home = || Arc::new(Column::new("home", 0)) as Arc<dyn PhysicalExpr>;
        // Read for the aggregate: made a dictionary run by run from strings, as it is from a
        // file that records a dictionary.
        assert_eq!(adapted(DataType::Utf8, home()), "run_dictionary(home@0)");
        assert_eq!(adapted(tag_dictionary_type(), home()), "home@0");
        // Compared with a string: the file's strings, with no dictionary made in between.
        let compared = || -> Arc<dyn PhysicalExpr> {
            Arc::new(BinaryExpr::new(
                Arc::new(CastExpr::new(home(), DataType::Utf8, None)),
                Operator::Eq,
                lit("h1"),
            ))
        };
        assert_eq!(adapted(DataType::Utf8, compared()), "home@0 = h1");
    }
}
