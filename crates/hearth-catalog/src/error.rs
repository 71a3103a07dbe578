//! Errors of the catalog layer, each with the offending names or paths.

use thiserror::Error;

/// What can go wrong reading or changing the catalog.
#[derive(Debug, Error)]
pub enum CatalogError {
    /// A database name that Hearth does not accept.
    #[error("invalid database name {name:?}: {reason}")]
    InvalidDatabaseName {
        /// The name as given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A table name that Hearth does not accept.
    #[error("invalid table name {name:?}: {reason}")]
    InvalidTableName {
        /// The name as given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The object store URL could not be used.
    #[error("invalid object store URL {url:?}: {reason}")]
    InvalidStoreUrl {
        /// The URL as given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// An error from the Delta Lake library, with the table it concerned.
    #[error("delta table {table}: {source}")]
    Delta {
        /// `db.table` or the table URL.
        table: String,
        /// The underlying error.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    /// An error from the object store.
    #[error("object store: {0}")]
    ObjectStore(Box<object_store::Error>),
    /// A Delta table whose contents Hearth cannot interpret.
    #[error("delta table {table}: {reason}")]
    Unreadable {
        /// `db.table`.
        table: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<object_store::Error> for CatalogError {
    fn from(e: object_store::Error) -> Self {
        CatalogError::ObjectStore(Box::new(e))
    }
}
