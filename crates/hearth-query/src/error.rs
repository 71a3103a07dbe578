//! Errors of the query layer.

use thiserror::Error;

/// What can go wrong running a query.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The database does not exist.
    #[error("database \"{0}\" does not exist")]
    DatabaseNotFound(String),
    /// A database statement (`CREATE DATABASE`, `ALTER DATABASE`) failed; `code` is its SQLSTATE.
    #[error("{message}")]
    Command {
        /// SQLSTATE, e.g. `42P04` (exists), `3D000` (no such database), `42601` (syntax).
        code: &'static str,
        /// What went wrong.
        message: String,
    },
    /// DataFusion refused or failed the query.
    #[error("{}", .0.message())]
    DataFusion(#[from] datafusion::error::DataFusionError),
}
