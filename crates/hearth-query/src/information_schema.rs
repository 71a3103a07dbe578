//! Schema `information_schema` of every database, in PostgreSQL's shape: `schemata`, `tables`,
//! `columns`, `views`, with PostgreSQL's type names (`double precision`, `timestamp with time
//! zone`, ...) where DataFusion's own would show Arrow's (`Float64`, `Timestamp(µs, "UTC")`).
//! Tools read these to list tables and pick time columns (Grafana's query builder, DBeaver,
//! SQLAlchemy). Like PostgreSQL's, it describes the current database only. Rows are computed
//! when a query scans them.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use crate::catalogs::Catalogs;

/// Name of the schema.
pub const INFORMATION_SCHEMA: &str = "information_schema";

const NAMES: [&str; 4] = ["schemata", "tables", "columns", "views"];

/// PostgreSQL's name of a type (`information_schema.columns.data_type`) and its internal name
/// (`udt_name`).
pub fn pg_type_names(t: &DataType) -> (&'static str, &'static str) {
    match t {
        DataType::Boolean => ("boolean", "bool"),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => ("smallint", "int2"),
        DataType::Int32 | DataType::UInt16 => ("integer", "int4"),
        DataType::Int64 | DataType::UInt32 => ("bigint", "int8"),
        DataType::UInt64 | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            ("numeric", "numeric")
        }
        DataType::Float16 | DataType::Float32 => ("real", "float4"),
        DataType::Float64 => ("double precision", "float8"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ("text", "text"),
        DataType::Dictionary(_, v) => pg_type_names(v),
        DataType::Timestamp(_, Some(_)) => ("timestamp with time zone", "timestamptz"),
        DataType::Timestamp(_, None) => ("timestamp without time zone", "timestamp"),
        DataType::Date32 | DataType::Date64 => ("date", "date"),
        DataType::Time32(_) | DataType::Time64(_) => ("time without time zone", "time"),
        DataType::Interval(_) | DataType::Duration(_) => ("interval", "interval"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => ("bytea", "bytea"),
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            ("ARRAY", "_text")
        }
        _ => ("USER-DEFINED", "text"),
    }
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn schema_of(table: &str) -> SchemaRef {
    let fields = match table {
        "schemata" => vec![
            text("catalog_name"),
            text("schema_name"),
            text("schema_owner"),
            text("default_character_set_catalog"),
            text("default_character_set_schema"),
            text("default_character_set_name"),
            text("sql_path"),
        ],
        "tables" => vec![
            text("table_catalog"),
            text("table_schema"),
            text("table_name"),
            text("table_type"),
            text("self_referencing_column_name"),
            text("reference_generation"),
            text("user_defined_type_catalog"),
            text("user_defined_type_schema"),
            text("user_defined_type_name"),
            text("is_insertable_into"),
            text("is_typed"),
            text("commit_action"),
        ],
        "columns" => vec![
            text("table_catalog"),
            text("table_schema"),
            text("table_name"),
            text("column_name"),
            Field::new("ordinal_position", DataType::Int32, false),
            text("column_default"),
            text("is_nullable"),
            text("data_type"),
            Field::new("character_maximum_length", DataType::Int32, true),
            Field::new("character_octet_length", DataType::Int32, true),
            Field::new("numeric_precision", DataType::Int32, true),
            Field::new("numeric_precision_radix", DataType::Int32, true),
            Field::new("numeric_scale", DataType::Int32, true),
            Field::new("datetime_precision", DataType::Int32, true),
            text("interval_type"),
            text("udt_catalog"),
            text("udt_schema"),
            text("udt_name"),
            text("is_identity"),
            text("is_generated"),
            text("is_updatable"),
        ],
        _ => vec![
            text("table_catalog"),
            text("table_schema"),
            text("table_name"),
            text("view_definition"),
            text("check_option"),
            text("is_updatable"),
            text("is_insertable_into"),
        ],
    };
    Arc::new(Schema::new(fields))
}

/// One table of the current database, as the rows below need it.
struct TableInfo {
    schema: String,
    name: String,
    kind: TableType,
    columns: SchemaRef,
}

/// Schema `information_schema` of one database.
#[derive(Debug)]
pub struct InformationSchema {
    catalogs: Weak<Catalogs>,
    db: String,
}

impl InformationSchema {
    /// The schema of database `db` of `catalogs`.
    pub fn new(catalogs: Weak<Catalogs>, db: &str) -> InformationSchema {
        InformationSchema {
            catalogs,
            db: db.to_string(),
        }
    }
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        NAMES.iter().map(|n| n.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let name = name.to_ascii_lowercase();
        if !NAMES.contains(&name.as_str()) {
            return Ok(None);
        }
        Ok(Some(Arc::new(InfoTable {
            catalogs: self.catalogs.clone(),
            db: self.db.clone(),
            name,
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        NAMES.contains(&name.to_ascii_lowercase().as_str())
    }
}

/// One of the tables, computed at scan.
#[derive(Debug)]
struct InfoTable {
    catalogs: Weak<Catalogs>,
    db: String,
    name: String,
}

impl InfoTable {
    async fn tables(&self) -> Result<Vec<TableInfo>> {
        let catalogs = self
            .catalogs
            .upgrade()
            .ok_or_else(|| DataFusionError::Internal("catalogs dropped".into()))?;
        let Some(catalog) = catalogs.catalog(&self.db) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut schemas = catalog.schema_names();
        schemas.sort();
        for schema_name in schemas {
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            let mut names = schema.table_names();
            names.sort();
            for name in names {
                if schema_name == INFORMATION_SCHEMA && NAMES.contains(&name.as_str()) {
                    out.push(TableInfo {
                        schema: schema_name.clone(),
                        columns: schema_of(&name),
                        name,
                        kind: TableType::View,
                    });
                    continue;
                }
                if let Some(t) = schema.table(&name).await? {
                    let columns =
                        catalogs.presented_columns(&self.db, &schema_name, &name, t.schema());
                    out.push(TableInfo {
                        schema: schema_name.clone(),
                        name,
                        kind: t.table_type(),
                        columns,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn batch(&self) -> Result<RecordBatch> {
        let schema = schema_of(&self.name);
        let db = Some(self.db.as_str());
        let columns: Vec<ArrayRef> = match self.name.as_str() {
            "schemata" => {
                let catalogs = self
                    .catalogs
                    .upgrade()
                    .ok_or_else(|| DataFusionError::Internal("catalogs dropped".into()))?;
                let mut names = catalogs
                    .catalog(&self.db)
                    .map(|c| c.schema_names())
                    .unwrap_or_default();
                names.sort();
                let n = names.len();
                vec![
                    strings(vec![db; n]),
                    strings(names.iter().map(|s| Some(s.as_str())).collect()),
                    strings(vec![Some("hearth"); n]),
                    strings(vec![None; n]),
                    strings(vec![None; n]),
                    strings(vec![None; n]),
                    strings(vec![None; n]),
                ]
            }
            "tables" => {
                let tables = self.tables().await?;
                let n = tables.len();
                let kind = |t: &TableInfo| match t.kind {
                    TableType::View => "VIEW",
                    TableType::Temporary => "LOCAL TEMPORARY",
                    TableType::Base => "BASE TABLE",
                };
                vec![
                    strings(vec![db; n]),
                    strings(tables.iter().map(|t| Some(t.schema.as_str())).collect()),
                    strings(tables.iter().map(|t| Some(t.name.as_str())).collect()),
                    strings(tables.iter().map(|t| Some(kind(t))).collect()),
                    strings(vec![None; n]),
                    strings(vec![None; n]),
                    strings(vec![None; n]),
                    strings(vec![None; n]),
                    strings(vec![None; n]),
                    strings(
                        tables
                            .iter()
                            .map(|t| {
                                Some(if t.kind == TableType::Base {
                                    "YES"
                                } else {
                                    "NO"
                                })
                            })
                            .collect(),
                    ),
                    strings(vec![Some("NO"); n]),
                    strings(vec![None; n]),
                ]
            }
            "columns" => {
                let tables = self.tables().await?;
                let mut rows = Vec::new();
                for t in &tables {
                    for (i, f) in t.columns.fields().iter().enumerate() {
                        if f.name().starts_with("__") {
                            continue;
                        }
                        rows.push((t, i, f.clone()));
                    }
                }
                let n = rows.len();
                let precision = |t: &DataType| -> (Option<i32>, Option<i32>, Option<i32>) {
                    match t {
                        DataType::Int16 | DataType::Int8 | DataType::UInt8 => {
                            (Some(16), Some(2), Some(0))
                        }
                        DataType::Int32 | DataType::UInt16 => (Some(32), Some(2), Some(0)),
                        DataType::Int64 | DataType::UInt32 => (Some(64), Some(2), Some(0)),
                        DataType::Float32 => (Some(24), Some(2), None),
                        DataType::Float64 => (Some(53), Some(2), None),
                        DataType::Decimal128(p, s) => {
                            (Some(i32::from(*p)), Some(10), Some(i32::from(*s)))
                        }
                        DataType::UInt64 => (Some(20), Some(10), Some(0)),
                        _ => (None, None, None),
                    }
                };
                let datetime = |t: &DataType| match t {
                    DataType::Timestamp(TimeUnit::Second, _) => Some(0),
                    DataType::Timestamp(TimeUnit::Millisecond, _) => Some(3),
                    DataType::Timestamp(..) => Some(6),
                    DataType::Date32 | DataType::Date64 => Some(0),
                    _ => None,
                };
                vec![
                    strings(vec![db; n]),
                    strings(rows.iter().map(|(t, ..)| Some(t.schema.as_str())).collect()),
                    strings(rows.iter().map(|(t, ..)| Some(t.name.as_str())).collect()),
                    strings(rows.iter().map(|(.., f)| Some(f.name().as_str())).collect()),
                    Arc::new(Int32Array::from(
                        rows.iter()
                            .map(|(_, i, _)| *i as i32 + 1)
                            .collect::<Vec<_>>(),
                    )),
                    strings(vec![None; n]),
                    strings(
                        rows.iter()
                            .map(|(.., f)| Some(if f.is_nullable() { "YES" } else { "NO" }))
                            .collect(),
                    ),
                    strings(
                        rows.iter()
                            .map(|(.., f)| Some(pg_type_names(f.data_type()).0))
                            .collect(),
                    ),
                    ints(vec![None; n]),
                    ints(
                        rows.iter()
                            .map(|(.., f)| {
                                matches!(
                                    f.data_type(),
                                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                                )
                                .then_some(1_073_741_824)
                            })
                            .collect(),
                    ),
                    ints(
                        rows.iter()
                            .map(|(.., f)| precision(f.data_type()).0)
                            .collect(),
                    ),
                    ints(
                        rows.iter()
                            .map(|(.., f)| precision(f.data_type()).1)
                            .collect(),
                    ),
                    ints(
                        rows.iter()
                            .map(|(.., f)| precision(f.data_type()).2)
                            .collect(),
                    ),
                    ints(rows.iter().map(|(.., f)| datetime(f.data_type())).collect()),
                    strings(vec![None; n]),
                    strings(vec![db; n]),
                    strings(vec![Some("pg_catalog"); n]),
                    strings(
                        rows.iter()
                            .map(|(.., f)| Some(pg_type_names(f.data_type()).1))
                            .collect(),
                    ),
                    strings(vec![Some("NO"); n]),
                    strings(vec![Some("NEVER"); n]),
                    strings(
                        rows.iter()
                            .map(|(t, ..)| {
                                Some(if t.kind == TableType::Base {
                                    "YES"
                                } else {
                                    "NO"
                                })
                            })
                            .collect(),
                    ),
                ]
            }
            _ => {
                let views: Vec<TableInfo> = self
                    .tables()
                    .await?
                    .into_iter()
                    .filter(|t| t.kind == TableType::View && t.schema != INFORMATION_SCHEMA)
                    .collect();
                let n = views.len();
                vec![
                    strings(vec![db; n]),
                    strings(views.iter().map(|t| Some(t.schema.as_str())).collect()),
                    strings(views.iter().map(|t| Some(t.name.as_str())).collect()),
                    strings(vec![None; n]),
                    strings(vec![Some("NONE"); n]),
                    strings(vec![Some("NO"); n]),
                    strings(vec![Some("NO"); n]),
                ]
            }
        };
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

fn strings(values: Vec<Option<&str>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn ints(values: Vec<Option<i32>>) -> ArrayRef {
    Arc::new(Int32Array::from(values))
}

#[async_trait]
impl TableProvider for InfoTable {
    fn schema(&self) -> SchemaRef {
        schema_of(&self.name)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.batch().await?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema(),
            projection.cloned(),
        )?)
    }
}
