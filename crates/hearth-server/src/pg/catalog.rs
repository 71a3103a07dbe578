//! A `pg_catalog` schema per database that lists every database (`\l`) but only the current
//! database's schemas and tables (`\dt`, `\d`), as PostgreSQL does.
//!
//! datafusion-pg-catalog provides the tables; Hearth adjusts three that clients read with
//! PostgreSQL's types in mind: `pg_index` and `pg_constraint` are empty (Hearth has no indexes
//! and no constraints; the copies of a PostgreSQL server's own system rows would only confuse)
//! with their array columns typed as arrays (`indkey`, `conkey`, ... which SQLAlchemy and pgjdbc
//! `unnest` and subscript), and `pg_class` and `pg_namespace` have the array columns psql,
//! SQLAlchemy and pandas read (`reloptions`, `relacl`, `nspacl`) as NULL arrays of text.
//! Materialized views are `relkind` `m` in `pg_class` and listed in `pg_matviews`.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProviderList, SchemaProvider, TableProvider, view::ViewTable};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableType, provider_as_source};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, ident, lit, when};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    PgCatalogSchemaProvider, PgCatalogStaticTables,
};
use hearth_query::catalogs::{Catalogs, PUBLIC, SchemaFactory};

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
        let list = self.list()?;
        match list.catalog(catalog).and_then(|c| c.schema(schema)) {
            Some(s) => Ok(s
                .table(table)
                .await?
                .map(|t| list.presented_columns(catalog, schema, table, t.schema()))),
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
        let provider = PgCatalogSchemaProvider::try_new(
            scoped.clone(),
            static_tables.clone(),
            EmptyContextProvider,
        )?;
        Ok(Arc::new(HearthPgCatalog {
            inner: Arc::new(provider),
            scope: scoped,
        }) as Arc<dyn SchemaProvider>)
    })
}

/// datafusion-pg-catalog's `pg_catalog` with Hearth's `pg_index`, `pg_constraint` and
/// `pg_class` (see the module documentation).
#[derive(Debug)]
struct HearthPgCatalog {
    inner: Arc<dyn SchemaProvider>,
    scope: DbScoped,
}

impl HearthPgCatalog {
    /// The database's materialized views (schema `public`): (name, defining query).
    fn materialized_views(&self) -> Vec<(String, String)> {
        self.scope
            .list()
            .map(|l| l.materialized_views(&self.scope.db, PUBLIC))
            .unwrap_or_default()
    }

    /// `pg_matviews`: one row per materialized view.
    fn pg_matviews(&self) -> Result<Arc<dyn TableProvider>> {
        use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray};
        let views = self.materialized_views();
        let schema = Arc::new(Schema::new(vec![
            Field::new("schemaname", DataType::Utf8, true),
            Field::new("matviewname", DataType::Utf8, true),
            Field::new("matviewowner", DataType::Utf8, true),
            Field::new("tablespace", DataType::Utf8, true),
            Field::new("hasindexes", DataType::Boolean, true),
            Field::new("ispopulated", DataType::Boolean, true),
            Field::new("definition", DataType::Utf8, true),
        ]));
        let n = views.len();
        let text = |v: Vec<Option<String>>| Arc::new(StringArray::from(v)) as ArrayRef;
        let columns = vec![
            text(vec![Some(PUBLIC.to_string()); n]),
            text(views.iter().map(|(name, _)| Some(name.clone())).collect()),
            text(vec![Some("postgres".to_string()); n]),
            text(vec![None; n]),
            Arc::new(BooleanArray::from(vec![false; n])) as ArrayRef,
            Arc::new(BooleanArray::from(vec![true; n])) as ArrayRef,
            text(views.iter().map(|(_, q)| Some(q.clone())).collect()),
        ];
        let batch = datafusion::arrow::record_batch::RecordBatch::try_new(schema.clone(), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
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
/// it lacks them (in front of column `ahead_of` if given, as PostgreSQL orders them, else at
/// the end), replacing its own if it has them under another type; the columns of `replaced`
/// computed by their expressions (under the expression's alias if it has one); without the
/// columns `dropped`.
fn with_null_columns(
    name: &str,
    inner: Arc<dyn TableProvider>,
    columns: &[(&str, DataType)],
    ahead_of: Option<&str>,
    replaced: Vec<(&str, Expr)>,
    dropped: &[&str],
) -> Result<Arc<dyn TableProvider>> {
    let schema = inner.schema();
    let null = |n: &str, t: &DataType| -> Result<Expr> {
        Ok(Expr::Literal(ScalarValue::try_from(t)?, None).alias(n))
    };
    let missing = || -> Result<Vec<Expr>> {
        columns
            .iter()
            .filter(|(n, _)| schema.field_with_name(n).is_err())
            .map(|(n, t)| null(n, t))
            .collect()
    };
    let mut exprs = Vec::new();
    let mut added = false;
    for f in schema.fields() {
        if Some(f.name().as_str()) == ahead_of {
            exprs.extend(missing()?);
            added = true;
        }
        if dropped.contains(&f.name().as_str()) {
            continue;
        }
        if let Some((n, e)) = replaced.iter().find(|(n, _)| n == f.name()) {
            exprs.push(match e {
                Expr::Alias(_) => e.clone(),
                _ => e.clone().alias(*n),
            });
            continue;
        }
        match columns.iter().find(|(n, _)| n == f.name()) {
            Some((n, t)) if t != f.data_type() => exprs.push(null(n, t)?),
            _ => exprs.push(ident(f.name())),
        }
    }
    if !added {
        exprs.extend(missing()?);
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
                    vec![acl, ("reloptions", list(DataType::Utf8))]
                } else {
                    vec![acl]
                };
                // Materialized views are relkind 'm' (psql's \dm, "Materialized view" in \d).
                let mut replaced = Vec::new();
                let views = self.materialized_views();
                if name == "pg_class" && !views.is_empty() {
                    let names: Vec<Expr> = views.into_iter().map(|(n, _)| lit(n)).collect();
                    let relkind = when(
                        ident("relkind")
                            .eq(lit("v"))
                            .and(ident("relname").in_list(names, false)),
                        lit("m"),
                    )
                    .otherwise(ident("relkind"))?;
                    replaced.push(("relkind", relkind));
                }
                match self.inner.table(name).await? {
                    // datafusion-pg-catalog's pg_namespace has an `options` column
                    // PostgreSQL's lacks (`n.*` would be one column wider).
                    Some(t) => Ok(Some(with_null_columns(
                        name,
                        t,
                        &columns,
                        (name == "pg_class").then_some("relpartbound"),
                        replaced,
                        if name == "pg_namespace" {
                            &["options"]
                        } else {
                            &[]
                        },
                    )?)),
                    None => Ok(None),
                }
            }
            "pg_matviews" => Ok(Some(self.pg_matviews()?)),
            // datafusion-pg-catalog names `boot_val` `bool_val`, and has `enumvals` as text.
            "pg_settings" => match self.inner.table(name).await? {
                Some(t) if t.schema().field_with_name("bool_val").is_ok() => {
                    Ok(Some(with_null_columns(
                        name,
                        t,
                        &[("enumvals", list(DataType::Utf8))],
                        None,
                        vec![("bool_val", ident("bool_val").alias("boot_val"))],
                        &[],
                    )?))
                }
                other => Ok(other),
            },
            _ => self.inner.table(name).await,
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}
