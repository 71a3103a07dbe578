//! DataFusion's view of Hearth's catalog: each database is a DataFusion catalog with schema
//! `public` holding its tables.
//!
//! Everything is live: databases and tables created by writes after start appear at once,
//! because names are read from [`hearth_catalog::catalog::Catalog`] on every call. Other layers
//! can add schemas to every database (the PostgreSQL front end adds `pg_catalog`) with
//! [`Catalogs::add_schema_factory`]; a factory runs once per database, when the database is
//! first looked up.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::TableType;
use hearth_catalog::schema::ColumnKind;
use hearth_storage::Storage;
use parking_lot::RwLock;

use crate::lastpoint::LastSource;
use crate::provider::{RawTable, TsTable};

/// Name of the schema holding a database's tables.
pub const PUBLIC: &str = "public";

/// Builds an extra schema for a database (e.g. `pg_catalog`).
pub type SchemaFactory = Arc<dyn Fn(&str) -> Result<Arc<dyn SchemaProvider>> + Send + Sync>;

/// More tables of a schema than the catalog's own (materialized views in `public`, their
/// system table in `system`), looked up live like the catalog's tables.
#[async_trait]
pub trait TableSource: Send + Sync + std::fmt::Debug {
    /// The names of this source's tables in database `db`.
    fn table_names(&self, db: &str) -> Vec<String>;

    /// Table `name` of database `db`, if this source has it.
    async fn table(&self, db: &str, name: &str) -> Result<Option<Arc<dyn TableProvider>>>;

    /// Of this source's tables in `db`, the materialized views: (name, defining query). The
    /// PostgreSQL catalog shows them as such (`relkind` `m`, `pg_matviews`).
    fn materialized_views(&self, _db: &str) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// The table sources of each schema name.
pub(crate) type TableSources = Arc<RwLock<Vec<(String, Arc<dyn TableSource>)>>>;

/// The sources of `schema` in `sources`.
pub(crate) fn sources_of(sources: &TableSources, schema: &str) -> Vec<Arc<dyn TableSource>> {
    sources
        .read()
        .iter()
        .filter(|(s, _)| s == schema)
        .map(|(_, source)| source.clone())
        .collect()
}

/// All databases, as DataFusion catalogs.
pub struct Catalogs {
    storage: Arc<Storage>,
    dbs: RwLock<HashMap<String, Arc<DbCatalog>>>,
    factories: RwLock<Vec<(String, SchemaFactory)>>,
    sources: TableSources,
}

impl std::fmt::Debug for Catalogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogs").finish_non_exhaustive()
    }
}

impl Catalogs {
    /// The catalogs of `storage`.
    pub fn new(storage: Arc<Storage>) -> Arc<Catalogs> {
        Arc::new(Catalogs {
            storage,
            dbs: RwLock::new(HashMap::new()),
            factories: RwLock::new(Vec::new()),
            sources: Default::default(),
        })
    }

    /// Adds `source`'s tables to schema `schema` (`public` or `system`) of every database.
    pub fn add_table_source(&self, schema: &str, source: Arc<dyn TableSource>) {
        self.sources.write().push((schema.to_string(), source));
    }

    /// The materialized views of database `db` in schema `schema`: (name, defining query).
    pub fn materialized_views(&self, db: &str, schema: &str) -> Vec<(String, String)> {
        sources_of(&self.sources, schema)
            .iter()
            .flat_map(|s| s.materialized_views(db))
            .collect()
    }

    /// The table sources of every schema.
    pub(crate) fn table_sources(&self) -> TableSources {
        self.sources.clone()
    }

    /// Adds schema `name` to every database, built by `factory`.
    pub fn add_schema_factory(&self, name: &str, factory: SchemaFactory) {
        self.factories.write().push((name.to_string(), factory));
        self.dbs.write().clear();
    }

    /// Whether database `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.storage.catalog().database(name).is_some()
    }

    /// The columns of table `table` in schema `schema` of database `db` as the catalogs show
    /// them (`information_schema.columns`, `pg_attribute`), from `columns`, its provider's
    /// schema: a SQL table's primary-key columns are NOT NULL, as inserts enforce (the Arrow
    /// schema of its rows keeps them nullable, as its files have them).
    pub fn presented_columns(
        &self,
        db: &str,
        schema: &str,
        table: &str,
        columns: SchemaRef,
    ) -> SchemaRef {
        if schema != PUBLIC {
            return columns;
        }
        let Some(stored) = self
            .storage
            .catalog()
            .database(db)
            .and_then(|d| d.table(table))
        else {
            return columns;
        };
        let stored = stored.schema();
        let key = |name: &str| matches!(stored.kind(name), Some(ColumnKind::Key(_)));
        if !columns.fields().iter().any(|f| key(f.name())) {
            return columns;
        }
        let fields: Vec<_> = columns
            .fields()
            .iter()
            .map(|f| match key(f.name()) {
                true => Arc::new(f.as_ref().clone().with_nullable(false)),
                false => f.clone(),
            })
            .collect();
        Arc::new(Schema::new_with_metadata(
            fields,
            columns.metadata().clone(),
        ))
    }

    fn db(&self, name: &str) -> Result<Option<Arc<DbCatalog>>> {
        if !self.exists(name) {
            return Ok(None);
        }
        if let Some(db) = self.dbs.read().get(name) {
            return Ok(Some(db.clone()));
        }
        let mut extra: HashMap<String, Arc<dyn SchemaProvider>> = HashMap::new();
        for (schema, factory) in self.factories.read().iter() {
            extra.insert(schema.clone(), factory(name)?);
        }
        let db = Arc::new(DbCatalog {
            public: Arc::new(PublicSchema {
                db: name.to_string(),
                storage: self.storage.clone(),
                sources: self.sources.clone(),
            }),
            extra: RwLock::new(extra),
        });
        Ok(Some(
            self.dbs
                .write()
                .entry(name.to_string())
                .or_insert(db)
                .clone(),
        ))
    }
}

impl CatalogProviderList for Catalogs {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        // Databases come from Hearth's catalog only.
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        self.storage.catalog().database_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        match self.db(name) {
            Ok(db) => db.map(|d| d as Arc<dyn CatalogProvider>),
            Err(e) => {
                tracing::warn!(db = name, error = %e, "cannot build catalog");
                None
            }
        }
    }
}

/// One database.
#[derive(Debug)]
pub struct DbCatalog {
    public: Arc<PublicSchema>,
    extra: RwLock<HashMap<String, Arc<dyn SchemaProvider>>>,
}

impl CatalogProvider for DbCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = vec![PUBLIC.to_string()];
        names.extend(self.extra.read().keys().cloned());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == PUBLIC {
            return Some(self.public.clone());
        }
        self.extra.read().get(name).cloned()
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if name == PUBLIC {
            return Err(DataFusionError::Plan(
                "schema public cannot be replaced".to_string(),
            ));
        }
        Ok(self.extra.write().insert(name.to_string(), schema))
    }
}

/// Schema `public` of a database: its tables, and those of the table sources added to it.
pub struct PublicSchema {
    db: String,
    storage: Arc<Storage>,
    sources: TableSources,
}

impl std::fmt::Debug for PublicSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicSchema")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SchemaProvider for PublicSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self
            .storage
            .catalog()
            .database(&self.db)
            .map(|d| d.table_names())
            .unwrap_or_default();
        for source in sources_of(&self.sources, PUBLIC) {
            names.extend(source.table_names(&self.db));
        }
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(table) = self
            .storage
            .catalog()
            .database(&self.db)
            .and_then(|d| d.table(name))
        else {
            for source in sources_of(&self.sources, PUBLIC) {
                if let Some(table) = source.table(&self.db, name).await? {
                    return Ok(Some(table));
                }
            }
            return Ok(None);
        };
        let schema = table.schema();
        let raw = RawTable::new(
            table.clone(),
            self.storage.buffer().clone(),
            self.storage.store().clone(),
        );
        // A SQL table's rows have no time of their own: no retention, no latest-row cache.
        if schema.is_sql_table() {
            return Ok(Some(Arc::new(TsTable::try_new(
                table,
                Arc::new(raw),
                None,
            )?)));
        }
        let retention = self.storage.retention(&self.db);
        let last = LastSource {
            db: self.db.clone(),
            table: table.name().to_string(),
            schema,
            cache: self.storage.last().clone(),
            retention,
        };
        let raw = Arc::new(raw.with_last(last));
        Ok(Some(Arc::new(TsTable::try_new(table, raw, retention)?)))
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        let base = self
            .storage
            .catalog()
            .database(&self.db)
            .is_some_and(|d| d.table(name).is_some());
        if base {
            return Ok(Some(TableType::Base));
        }
        Ok(self.table(name).await?.map(|t| t.table_type()))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.storage
            .catalog()
            .database(&self.db)
            .is_some_and(|d| d.table(name).is_some())
            || sources_of(&self.sources, PUBLIC)
                .iter()
                .any(|s| s.table_names(&self.db).iter().any(|n| n == name))
    }
}
