//! PostgreSQL catalog functions that clients call and neither DataFusion nor
//! datafusion-pg-catalog provides: `to_regtype`, `to_regclass`, `*_is_visible`, comments
//! (`obj_description`, `col_description`, `shobj_description`), sizes (`pg_table_size`,
//! `pg_database_size`, `pg_size_pretty`), `pg_get_indexdef`, `pg_get_serial_sequence`,
//! `pg_get_function_result`/`_arguments`, and `json_build_object` (as text).
//!
//! Hearth has no comments, sequences, indexes or user functions, so those answer NULL, as
//! PostgreSQL does for objects without them. Object ids are `int4`, as datafusion-pg-catalog
//! keeps them.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// A function of any arguments computing its result from the arguments as arrays.
#[derive(Debug)]
struct PgFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: fn(&[ArrayRef], usize) -> Result<ArrayRef>,
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl std::hash::Hash for PgFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let out = (self.body)(&arrays, if scalar { 1 } else { rows })?;
        if scalar {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

fn udf(
    name: &'static str,
    returns: DataType,
    body: fn(&[ArrayRef], usize) -> Result<ArrayRef>,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(PgFunction {
        name,
        signature: Signature::variadic_any(Volatility::Stable),
        returns,
        body,
    })
}

fn nulls_text(_: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    Ok(Arc::new(StringArray::from(vec![None::<&str>; rows])))
}

fn nulls_oid(_: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    Ok(Arc::new(Int32Array::from(vec![None; rows])))
}

fn always_true(_: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    Ok(Arc::new(BooleanArray::from(vec![true; rows])))
}

fn zero_size(_: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    Ok(Arc::new(Int64Array::from(vec![0; rows])))
}

/// The oids of the built-in types Hearth's columns and clients' probes use (PostgreSQL's).
fn type_oid(name: &str) -> Option<i32> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    Some(match name {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "char" => 18,
        "name" => 19,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "regproc" => 24,
        "text" => 25,
        "oid" => 26,
        "json" => 114,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "varchar" | "character varying" => 1043,
        "date" => 1082,
        "time" | "time without time zone" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        "uuid" => 2950,
        "jsonb" => 3802,
        _ => return None,
    })
}

/// The oids of PostgreSQL's system catalogs (what `'pg_catalog.pg_class'::regclass` is).
fn catalog_oid(name: &str) -> Option<i32> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    Some(match name {
        "pg_type" => 1247,
        "pg_attribute" => 1249,
        "pg_proc" => 1255,
        "pg_class" => 1259,
        "pg_authid" => 1260,
        "pg_database" => 1262,
        "pg_am" => 2601,
        "pg_attrdef" => 2604,
        "pg_constraint" => 2606,
        "pg_description" => 2609,
        "pg_index" => 2610,
        "pg_namespace" => 2615,
        "pg_rewrite" => 2618,
        "pg_trigger" => 2620,
        "pg_extension" => 3079,
        _ => return None,
    })
}

/// The oid `lookup` gives each name of the first argument (NULL where it gives none).
fn oids_of(args: &[ArrayRef], rows: usize, lookup: fn(&str) -> Option<i32>) -> Result<ArrayRef> {
    let Some(names) = args.first() else {
        return nulls_oid(args, rows);
    };
    let names = cast(names, &DataType::Utf8)?;
    let names = names.as_string::<i32>();
    Ok(Arc::new(
        names
            .iter()
            .map(|n| n.and_then(lookup))
            .collect::<Int32Array>(),
    ))
}

/// `to_regclass(name)`: the oid of a system catalog; NULL for anything else (as PostgreSQL
/// answers for a name it does not know).
fn to_regclass(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    oids_of(args, rows, catalog_oid)
}

/// `to_regtype(name)`: the oid of a built-in type, else NULL.
fn to_regtype(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    oids_of(args, rows, type_oid)
}

/// `pg_size_pretty(bigint)` as PostgreSQL computes it: bytes below 10 kB, then the largest
/// unit (kB .. PB, base 1024) that keeps the number below 20 480, rounded half away from zero.
fn size_pretty(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes.abs() < 10 * 1024 {
        return format!("{bytes} bytes");
    }
    // In halves of the unit, so the last step can round.
    let mut size = bytes / 512;
    for (i, unit) in UNITS.iter().enumerate() {
        if i == UNITS.len() - 1 || size.abs() < 20 * 1024 - 1 {
            let rounded = (size + if size < 0 { -1 } else { 1 }) / 2;
            return format!("{rounded} {unit}");
        }
        size /= 1024;
    }
    unreachable!("the last unit returns")
}

fn pg_size_pretty(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let Some(values) = args.first() else {
        return nulls_text(args, rows);
    };
    let values = cast(values, &DataType::Int64)?;
    let values = values.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    Ok(Arc::new(
        (0..values.len())
            .map(|i| (!values.is_null(i)).then(|| size_pretty(values.value(i))))
            .collect::<StringArray>(),
    ))
}

/// A value as JSON (`json_build_object`'s values).
fn json_value(array: &ArrayRef, row: usize) -> Result<serde_json::Value> {
    use datafusion::common::ScalarValue as S;
    use serde_json::Value as J;
    Ok(match S::try_from_array(array, row)? {
        v if v.is_null() => J::Null,
        S::Boolean(Some(b)) => J::Bool(b),
        S::Int8(Some(v)) => J::from(v),
        S::Int16(Some(v)) => J::from(v),
        S::Int32(Some(v)) => J::from(v),
        S::Int64(Some(v)) => J::from(v),
        S::UInt8(Some(v)) => J::from(v),
        S::UInt16(Some(v)) => J::from(v),
        S::UInt32(Some(v)) => J::from(v),
        S::UInt64(Some(v)) => J::from(v),
        S::Float32(Some(v)) => J::from(v),
        S::Float64(Some(v)) => J::from(v),
        S::Utf8(Some(v)) | S::LargeUtf8(Some(v)) | S::Utf8View(Some(v)) => J::String(v),
        other => J::String(other.to_string()),
    })
}

/// `json_build_object(key, value, ...)`: a JSON object as text.
fn json_build_object(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    if !args.len().is_multiple_of(2) {
        return datafusion::common::exec_err!(
            "json_build_object: argument list must have even number of elements"
        );
    }
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        let mut object = serde_json::Map::new();
        for pair in args.chunks(2) {
            let key = match json_value(&pair[0], row)? {
                serde_json::Value::String(k) => k,
                serde_json::Value::Null => {
                    return datafusion::common::exec_err!(
                        "json_build_object: null value not allowed for object key"
                    );
                }
                other => other.to_string(),
            };
            object.insert(key, json_value(&pair[1], row)?);
        }
        out.push(serde_json::Value::Object(object).to_string());
    }
    Ok(Arc::new(StringArray::from(out)))
}

/// `hearth_regtypes(oids)`: what `oids::regtype[]` shows, the names of a list of type oids
/// (`pg_proc.proargtypes`, which datafusion-pg-catalog keeps as the text `'23 25'` or
/// `'[2276]'`), as `format_type` names them. The rewrite of `::regtype[]` calls it.
fn regtypes(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    use datafusion::arrow::array::{ListBuilder, StringBuilder};
    use datafusion_postgres::datafusion_pg_catalog::pg_catalog::format_type::create_format_type_udf;

    let mut out = ListBuilder::new(StringBuilder::new());
    let Some(oids) = args.first() else {
        return Ok(Arc::new(out.finish()));
    };
    let text = match oids.data_type() {
        DataType::List(_) | DataType::LargeList(_) => cast(
            oids,
            &DataType::List(Arc::new(
                datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true),
            )),
        )
        .and_then(|l| cast(&l, &DataType::Utf8))?,
        _ => cast(oids, &DataType::Utf8)?,
    };
    let text = text.as_string::<i32>();
    let format_type = create_format_type_udf();
    for row in 0..rows.min(text.len()) {
        if text.is_null(row) {
            out.append_null();
            continue;
        }
        let row_oids: Int32Array = text
            .value(row)
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<i32>().ok())
            .map(Some)
            .collect();
        let count = row_oids.len();
        let names = format_type.invoke_with_args(ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Array(Arc::new(row_oids)),
                ColumnarValue::Array(Arc::new(Int32Array::from(vec![None; count]))),
            ],
            arg_fields: vec![
                Arc::new(datafusion::arrow::datatypes::Field::new(
                    "oid",
                    DataType::Int32,
                    true,
                )),
                Arc::new(datafusion::arrow::datatypes::Field::new(
                    "typmod",
                    DataType::Int32,
                    true,
                )),
            ],
            number_rows: count,
            return_field: Arc::new(datafusion::arrow::datatypes::Field::new(
                "name",
                DataType::Utf8,
                true,
            )),
            config_options: Arc::new(Default::default()),
        })?;
        let names = cast(&names.into_array(count)?, &DataType::Utf8)?;
        for name in names.as_string::<i32>() {
            out.values().append_option(name);
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

/// The functions, to register in every session.
pub(super) fn pg_functions() -> Vec<ScalarUDF> {
    vec![
        udf("to_regtype", DataType::Int32, to_regtype),
        udf("to_regclass", DataType::Int32, to_regclass),
        udf("to_regproc", DataType::Int32, nulls_oid),
        udf("pg_type_is_visible", DataType::Boolean, always_true),
        udf("pg_function_is_visible", DataType::Boolean, always_true),
        udf("pg_collation_is_visible", DataType::Boolean, always_true),
        udf("pg_opclass_is_visible", DataType::Boolean, always_true),
        udf("obj_description", DataType::Utf8, nulls_text),
        udf("col_description", DataType::Utf8, nulls_text),
        udf("shobj_description", DataType::Utf8, nulls_text),
        udf("pg_get_indexdef", DataType::Utf8, nulls_text),
        udf("pg_get_serial_sequence", DataType::Utf8, nulls_text),
        udf("pg_get_function_result", DataType::Utf8, nulls_text),
        udf("pg_get_function_arguments", DataType::Utf8, nulls_text),
        udf(
            "pg_get_function_identity_arguments",
            DataType::Utf8,
            nulls_text,
        ),
        udf("pg_get_viewdef", DataType::Utf8, nulls_text),
        udf("pg_get_triggerdef", DataType::Utf8, nulls_text),
        udf("pg_table_size", DataType::Int64, zero_size),
        udf("pg_indexes_size", DataType::Int64, zero_size),
        udf("pg_database_size", DataType::Int64, zero_size),
        udf("pg_size_pretty", DataType::Utf8, pg_size_pretty),
        udf("json_build_object", DataType::Utf8, json_build_object),
        udf(
            "hearth_regtypes",
            DataType::List(Arc::new(
                datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true),
            )),
            regtypes,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_postgres_prints_them() {
        // SELECT pg_size_pretty(x) in PostgreSQL 15.
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10_239), "10239 bytes");
        assert_eq!(size_pretty(10_240), "10 kB");
        assert_eq!(size_pretty(8_192_000), "8000 kB");
        assert_eq!(size_pretty(40_000_000), "38 MB");
        assert_eq!(size_pretty(1 << 40), "1024 GB");
    }

    #[test]
    fn type_names_to_oids() {
        assert_eq!(type_oid("timestamptz"), Some(1184));
        assert_eq!(type_oid("pg_catalog.float8"), Some(701));
        assert_eq!(type_oid("hstore"), None);
    }
}
