//! A `pg_catalog` schema per database that lists every database (`\l`) but only the current
//! database's schemas and tables (`\dt`, `\d`), as PostgreSQL does.
//!
//! datafusion-pg-catalog provides the tables; Hearth adjusts three that clients read with
//! PostgreSQL's types in mind: `pg_index` and `pg_constraint` are empty (Hearth has no indexes
//! and no constraints; the copies of a PostgreSQL server's own system rows would only confuse)
//! with their array columns typed as arrays (`indkey`, `conkey`, ... which SQLAlchemy and pgjdbc
//! `unnest` and subscript), and `pg_class` and `pg_namespace` have the array columns psql,
//! SQLAlchemy and pandas read (`reloptions`, `relacl`, `nspacl`) as NULL arrays of text.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProviderList, SchemaProvider, TableProvider, view::ViewTable};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableType, provider_as_source};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, ident};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    PgCatalogSchemaProvider, PgCatalogStaticTables,
};
use hearth_query::catalogs::{Catalogs, SchemaFactory};

/// The catalog as seen from one database.
#[derive(Debug, Clone)]
pub(super) struct DbScoped {
    list: Weak<Catalogs>,
    db: String,
}

impl DbScoped {
    fn list(&self) -> Result<Arc<Catalogs>> {
        self.list
            .upgrade()
            .ok_or_else(|| DataFusionError::Internal("catalogs dropped".into()))
    }
}

#[async_trait]
impl CatalogInfo for DbScoped {
    async fn catalog_names(&self) -> Result<Vec<String>> {
        Ok(CatalogProviderList::catalog_names(self.list()?.as_ref()))
    }

    async fn schema_names(&self, catalog: &str) -> Result<Option<Vec<String>>> {
        if catalog != self.db {
            return Ok(Some(Vec::new()));
        }
        Ok(self.list()?.catalog(catalog).map(|c| c.schema_names()))
    }

    async fn table_names(&self, catalog: &str, schema: &str) -> Result<Option<Vec<String>>> {
        if catalog != self.db {
            return Ok(None);
        }
        Ok(self
            .list()?
            .catalog(catalog)
            .and_then(|c| c.schema(schema))
            .map(|s| s.table_names()))
    }

    async fn table_schema(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<SchemaRef>> {
        match self.list()?.catalog(catalog).and_then(|c| c.schema(schema)) {
            Some(s) => Ok(s.table(table).await?.map(|t| t.schema())),
            None => Ok(None),
        }
    }

    async fn table_type(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<TableType>> {
        match self.list()?.catalog(catalog).and_then(|c| c.schema(schema)) {
            Some(s) => s.table_type(table).await,
            None => Ok(None),
        }
    }
}

/// Builds the `pg_catalog` schema of each database.
pub(super) fn pg_catalog_factory(
    catalogs: &Arc<Catalogs>,
    static_tables: Arc<PgCatalogStaticTables>,
) -> SchemaFactory {
    let list = Arc::downgrade(catalogs);
    Arc::new(move |db: &str| {
        let scoped = DbScoped {
            list: list.clone(),
            db: db.to_string(),
        };
        let provider =
            PgCatalogSchemaProvider::try_new(scoped, static_tables.clone(), EmptyContextProvider)?;
        Ok(Arc::new(HearthPgCatalog {
            inner: Arc::new(provider),
        }) as Arc<dyn SchemaProvider>)
    })
}

/// datafusion-pg-catalog's `pg_catalog` with Hearth's `pg_index`, `pg_constraint` and
/// `pg_class` (see the module documentation).
#[derive(Debug)]
struct HearthPgCatalog {
    inner: Arc<dyn SchemaProvider>,
}

fn list(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

/// An empty table of `columns`.
fn empty(columns: &[(&str, DataType)]) -> Arc<dyn TableProvider> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ));
    Arc::new(MemTable::try_new(schema, vec![vec![]]).expect("an empty table of a valid schema"))
}

fn pg_index() -> Arc<dyn TableProvider> {
    use DataType::{Boolean, Int16, Int32, Utf8};
    empty(&[
        ("indexrelid", Int32),
        ("indrelid", Int32),
        ("indnatts", Int16),
        ("indnkeyatts", Int16),
        ("indisunique", Boolean),
        ("indnullsnotdistinct", Boolean),
        ("indisprimary", Boolean),
        ("indisexclusion", Boolean),
        ("indimmediate", Boolean),
        ("indisclustered", Boolean),
        ("indisvalid", Boolean),
        ("indcheckxmin", Boolean),
        ("indisready", Boolean),
        ("indislive", Boolean),
        ("indisreplident", Boolean),
        ("indkey", list(Int16)),
        ("indcollation", list(Int32)),
        ("indclass", list(Int32)),
        ("indoption", list(Int16)),
        ("indexprs", Utf8),
        ("indpred", Utf8),
    ])
}

fn pg_constraint() -> Arc<dyn TableProvider> {
    use DataType::{Boolean, Int16, Int32, Utf8};
    empty(&[
        ("oid", Int32),
        ("conname", Utf8),
        ("connamespace", Int32),
        ("contype", Utf8),
        ("condeferrable", Boolean),
        ("condeferred", Boolean),
        ("convalidated", Boolean),
        ("conrelid", Int32),
        ("contypid", Int32),
        ("conindid", Int32),
        ("conparentid", Int32),
        ("confrelid", Int32),
        ("confupdtype", Utf8),
        ("confdeltype", Utf8),
        ("confmatchtype", Utf8),
        ("conislocal", Boolean),
        ("coninhcount", Int16),
        ("connoinherit", Boolean),
        ("conkey", list(Int16)),
        ("confkey", list(Int16)),
        ("conpfeqop", list(Int32)),
        ("conppeqop", list(Int32)),
        ("conffeqop", list(Int32)),
        ("confdelsetcols", list(Int16)),
        ("conexclop", list(Int32)),
        ("conbin", Utf8),
    ])
}

/// `inner` (catalog table `name`) with `columns` as NULLs of their PostgreSQL types: added if
/// it lacks them, replacing its own if it has them under another type.
fn with_null_columns(
    name: &str,
    inner: Arc<dyn TableProvider>,
    columns: &[(&str, DataType)],
) -> Result<Arc<dyn TableProvider>> {
    let schema = inner.schema();
    let null = |n: &str, t: &DataType| -> Result<Expr> {
        Ok(Expr::Literal(ScalarValue::try_from(t)?, None).alias(n))
    };
    let mut exprs = Vec::new();
    for f in schema.fields() {
        match columns.iter().find(|(n, _)| n == f.name()) {
            Some((n, t)) if t != f.data_type() => exprs.push(null(n, t)?),
            _ => exprs.push(ident(f.name())),
        }
    }
    for (n, t) in columns {
        if schema.field_with_name(n).is_err() {
            exprs.push(null(n, t)?);
        }
    }
    let plan = LogicalPlanBuilder::scan(name, provider_as_source(inner), None)?
        .project(exprs)?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

#[async_trait]
impl SchemaProvider for HearthPgCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match name {
            "pg_index" => Ok(Some(pg_index())),
            "pg_constraint" => Ok(Some(pg_constraint())),
            "pg_class" | "pg_namespace" => {
                let acl = (
                    if name == "pg_class" {
                        "relacl"
                    } else {
                        "nspacl"
                    },
                    list(DataType::Utf8),
                );
                let columns = if name == "pg_class" {
                    vec![("reloptions", list(DataType::Utf8)), acl]
                } else {
                    vec![acl]
                };
                match self.inner.table(name).await? {
                    Some(t) => Ok(Some(with_null_columns(name, t, &columns)?)),
                    None => Ok(None),
                }
            }
            _ => self.inner.table(name).await,
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}
