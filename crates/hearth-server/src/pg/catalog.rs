//! A `pg_catalog` schema per database that lists every database (`\l`) but only the current
//! database's schemas and tables (`\dt`, `\d`), as PostgreSQL does.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProviderList, SchemaProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
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
        Ok(Arc::new(provider) as Arc<dyn SchemaProvider>)
    })
}
