//! The in-memory catalog: databases, their tables, each table's schema and persisted files.
//!
//! The Delta logs in the object store are the source of truth; this is their in-memory index,
//! loaded at start ([`crate::store::load`]) and updated by the persister after each Delta commit.
//! Schema changes from writes land here first (and in the WAL); they reach the Delta log with
//! the next flush of the table.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::CatalogError;
use crate::names;
use crate::schema::TableSchema;

/// One Parquet file of a table, as recorded in its Delta log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Path relative to the table root, e.g. `date=2025-11-24/part-...parquet`.
    pub path: String,
    /// Day partition value, `YYYY-MM-DD`.
    pub date: String,
    /// Size in bytes.
    pub size: u64,
    /// Number of rows.
    pub rows: u64,
    /// Smallest `time` in the file, microseconds since the epoch.
    pub min_time: i64,
    /// Largest `time` in the file, microseconds since the epoch.
    pub max_time: i64,
    /// Rank of the file's rows when merging duplicates: the WAL sequence number its flush
    /// covered. A later flush has a higher rank.
    pub rank: u64,
    /// How the file's rows are ordered.
    pub order: FileOrder,
}

/// The order of a file's rows, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileOrder {
    /// Not known (a file another tool wrote into the table): no order is assumed.
    #[default]
    Unknown,
    /// Sorted by (tags in schema order, time), NULL tags first: every file Hearth writes.
    /// `tag_nulls` tells whether some tag is NULL in some of the rows but not all of them, the
    /// only case where the place of NULLs in the order matters.
    TagsTime {
        /// Some tag is NULL in part of the rows.
        tag_nulls: bool,
    },
}

/// The mutable state of a table.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    /// Current schema (may be ahead of the Delta log until the next flush).
    pub schema: TableSchema,
    /// Active Parquet files.
    pub files: Vec<FileMeta>,
    /// WAL sequence number through which this table's rows are in `files`.
    pub persisted_seq: u64,
    /// Latest Delta version, `None` until the Delta table exists.
    pub delta_version: Option<i64>,
}

/// One table of a database.
#[derive(Debug)]
pub struct Table {
    db: String,
    name: String,
    state: RwLock<TableState>,
}

impl Table {
    /// A table with the given state.
    pub fn new(db: &str, name: &str, state: TableState) -> Table {
        Table {
            db: db.to_string(),
            name: name.to_string(),
            state: RwLock::new(state),
        }
    }

    /// Database name.
    pub fn db(&self) -> &str {
        &self.db
    }

    /// Table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A copy of the current schema.
    pub fn schema(&self) -> TableSchema {
        self.state.read().schema.clone()
    }

    /// A copy of the whole state (schema, files, positions).
    pub fn state(&self) -> TableState {
        self.state.read().clone()
    }

    /// Changes the state under the table's lock.
    pub fn update<R>(&self, f: impl FnOnce(&mut TableState) -> R) -> R {
        f(&mut self.state.write())
    }
}

/// One database: a set of tables.
#[derive(Debug)]
pub struct Database {
    name: String,
    tables: RwLock<BTreeMap<String, Arc<Table>>>,
    /// Serialises schema changes of this database's tables (validation of a write holds it).
    schema_lock: Mutex<()>,
    /// This database's own retention period, if it has one.
    retention: RwLock<Option<std::time::Duration>>,
    /// Names of relations that are not tables (materialized views): no table of such a name
    /// is created.
    reserved: RwLock<std::collections::BTreeSet<String>>,
    /// Dropped tables and the WAL sequence number at their drop: records of such a table up
    /// to it belong to the dropped table, and a replay skips them.
    dropped: RwLock<BTreeMap<String, u64>>,
}

impl Database {
    fn new(name: &str) -> Database {
        Database {
            name: name.to_string(),
            tables: RwLock::new(BTreeMap::new()),
            schema_lock: Mutex::new(()),
            retention: RwLock::new(None),
            reserved: RwLock::new(Default::default()),
            dropped: RwLock::new(BTreeMap::new()),
        }
    }

    /// Notes that table `name` was dropped when the WAL was at `seq`.
    pub fn note_dropped(&self, name: &str, seq: u64) {
        let mut dropped = self.dropped.write();
        let at = dropped.entry(name.to_string()).or_default();
        *at = (*at).max(seq);
    }

    /// The WAL sequence number through which records of table `name` belong to a dropped table
    /// (0 if it was never dropped).
    pub fn dropped_through(&self, name: &str) -> u64 {
        self.dropped.read().get(name).copied().unwrap_or(0)
    }

    /// Every dropped table with its [`Database::dropped_through`] number.
    pub fn dropped(&self) -> BTreeMap<String, u64> {
        self.dropped.read().clone()
    }

    /// Reserves `name` for a relation that is not a table (a materialized view): writes can
    /// no longer create a table of that name. Returns `false` if a table of that name exists
    /// (and then reserves nothing).
    pub fn reserve(&self, name: &str) -> bool {
        let tables = self.tables.read();
        if tables.contains_key(name) {
            return false;
        }
        self.reserved.write().insert(name.to_string());
        true
    }

    /// Frees a name reserved with [`Database::reserve`].
    pub fn release(&self, name: &str) {
        self.reserved.write().remove(name);
    }

    /// This database's own retention period (`None`: the server default applies).
    pub fn retention(&self) -> Option<std::time::Duration> {
        *self.retention.read()
    }

    /// Sets this database's own retention period.
    pub fn set_retention(&self, retention: Option<std::time::Duration>) {
        *self.retention.write() = retention;
    }

    /// Database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table, if it exists.
    pub fn table(&self, name: &str) -> Option<Arc<Table>> {
        self.tables.read().get(name).cloned()
    }

    /// All tables, by name.
    pub fn tables(&self) -> Vec<Arc<Table>> {
        self.tables.read().values().cloned().collect()
    }

    /// Table names, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.tables.read().keys().cloned().collect()
    }

    /// The table, created empty if missing.
    pub fn table_or_create(&self, name: &str) -> Result<Arc<Table>, CatalogError> {
        if let Some(t) = self.table(name) {
            return Ok(t);
        }
        names::check_table(name)?;
        let mut tables = self.tables.write();
        if self.reserved.read().contains(name) {
            return Err(CatalogError::InvalidTableName {
                name: name.to_string(),
                reason: "a materialized view has this name",
            });
        }
        Ok(tables
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Table::new(&self.name, name, TableState::default())))
            .clone())
    }

    /// Whether `name` is reserved for a relation that is not a table (see
    /// [`Database::reserve`]).
    pub fn is_reserved(&self, name: &str) -> bool {
        self.reserved.read().contains(name)
    }

    /// Creates table `name` with `schema` (a SQL table's declared columns). `Ok(None)` if a
    /// table or view of that name exists (and then nothing changes).
    pub fn create_table(
        &self,
        name: &str,
        schema: TableSchema,
    ) -> Result<Option<Arc<Table>>, CatalogError> {
        names::check_table(name)?;
        let mut tables = self.tables.write();
        if tables.contains_key(name) || self.reserved.read().contains(name) {
            return Ok(None);
        }
        let table = Arc::new(Table::new(
            &self.name,
            name,
            TableState {
                schema,
                ..TableState::default()
            },
        ));
        tables.insert(name.to_string(), table.clone());
        Ok(Some(table))
    }

    /// Removes table `name` from the database; returns it if it existed.
    pub fn remove_table(&self, name: &str) -> Option<Arc<Table>> {
        self.tables.write().remove(name)
    }

    /// Inserts a table loaded from the store.
    pub fn insert_table(&self, table: Table) {
        self.tables
            .write()
            .insert(table.name().to_string(), Arc::new(table));
    }

    /// Holds the schema lock of this database while `f` runs.
    pub fn with_schema_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.schema_lock.lock();
        f()
    }
}

/// All databases.
#[derive(Debug, Default)]
pub struct Catalog {
    databases: RwLock<BTreeMap<String, Arc<Database>>>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// The database, if it exists.
    pub fn database(&self, name: &str) -> Option<Arc<Database>> {
        self.databases.read().get(name).cloned()
    }

    /// The database, created if missing.
    pub fn database_or_create(&self, name: &str) -> Result<Arc<Database>, CatalogError> {
        if let Some(db) = self.database(name) {
            return Ok(db);
        }
        names::check_database(name)?;
        let mut dbs = self.databases.write();
        Ok(dbs
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Database::new(name)))
            .clone())
    }

    /// Database names, sorted.
    pub fn database_names(&self) -> Vec<String> {
        self.databases.read().keys().cloned().collect()
    }

    /// All databases.
    pub fn databases(&self) -> Vec<Arc<Database>> {
        self.databases.read().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_and_tables_are_created_once() {
        let c = Catalog::new();
        let a = c.database_or_create("home").unwrap();
        let b = c.database_or_create("home").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let t1 = a.table_or_create("energy").unwrap();
        let t2 = b.table_or_create("energy").unwrap();
        assert!(Arc::ptr_eq(&t1, &t2));
        assert_eq!(c.database_names(), ["home"]);
        assert_eq!(a.table_names(), ["energy"]);
        assert!(c.database_or_create("a/b").is_err());
        assert!(a.table_or_create("_delta_log").is_err());
    }
}
