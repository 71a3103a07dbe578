//! Errors of the query layer.

use thiserror::Error;

/// What can go wrong running a query.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The database does not exist.
    #[error("database \"{0}\" does not exist")]
    DatabaseNotFound(String),
    /// DataFusion refused or failed the query.
    #[error("{}", .0.message())]
    DataFusion(#[from] datafusion::error::DataFusionError),
}
