//! Errors of the query layer, and their PostgreSQL SQLSTATE codes (in one place, for the wire
//! protocol, HTTP and tests alike).

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
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
    DataFusion(#[from] DataFusionError),
}

impl QueryError {
    /// An error of a statement Hearth runs itself, with its SQLSTATE.
    pub fn command(code: &'static str, message: impl Into<String>) -> QueryError {
        QueryError::Command {
            code,
            message: message.into(),
        }
    }

    /// The SQLSTATE and the message a PostgreSQL client gets.
    pub fn sqlstate(&self) -> (&'static str, String) {
        match self {
            QueryError::DatabaseNotFound(_) => ("3D000", self.to_string()),
            QueryError::Command { code, message } => (code, message.clone()),
            QueryError::DataFusion(e) => datafusion_sqlstate(e),
        }
    }
}

/// A storage failure of a statement from SQL (`INSERT`, `COPY`, `CREATE TABLE`, ...) as the
/// error the client gets: the rows' own SQLSTATE when they were refused, `42602` for a name
/// Hearth does not take, `53200` over the memory limit, `58030` (I/O) otherwise.
pub fn from_storage(e: hearth_storage::StorageError) -> QueryError {
    use hearth_catalog::CatalogError;
    use hearth_storage::StorageError;
    match e {
        StorageError::Rows { code, message } => QueryError::Command { code, message },
        StorageError::Catalog(
            CatalogError::InvalidDatabaseName { .. } | CatalogError::InvalidTableName { .. },
        ) => QueryError::Command {
            code: "42602",
            message: e.to_string(),
        },
        StorageError::MemoryLimit { .. } => QueryError::Command {
            code: "53200",
            message: e.to_string(),
        },
        other => QueryError::Command {
            code: "58030",
            message: other.to_string(),
        },
    }
}

/// The SQLSTATE and message of an error DataFusion (or its SQL parser) raised, if it is one.
pub fn sqlstate(
    error: &(dyn std::error::Error + Send + Sync + 'static),
) -> Option<(&'static str, String)> {
    if let Some(p) = error.downcast_ref::<ParserError>() {
        return Some(("42601", p.to_string()));
    }
    if let Some(q) = error.downcast_ref::<QueryError>() {
        return Some(q.sqlstate());
    }
    error
        .downcast_ref::<DataFusionError>()
        .map(datafusion_sqlstate)
}

pub(crate) fn datafusion_sqlstate(error: &DataFusionError) -> (&'static str, String) {
    let root = error.find_root();
    match root {
        DataFusionError::External(e) if e.is::<crate::queries::StatementTimeout>() => {
            ("57014", crate::queries::TIMEOUT_MESSAGE.into())
        }
        DataFusionError::SQL(p, _) => ("42601", p.to_string()),
        DataFusionError::Plan(m) if m.starts_with("table '") && m.ends_with("' not found") => {
            let full = &m["table '".len()..m.len() - "' not found".len()];
            let name = full.rsplit('.').next().unwrap_or(full);
            ("42P01", format!("relation \"{name}\" does not exist"))
        }
        DataFusionError::Plan(m) if m.starts_with("failed to resolve schema") => {
            ("3F000", m.clone())
        }
        DataFusionError::SchemaError(s, _)
            if matches!(s.as_ref(), SchemaError::FieldNotFound { .. }) =>
        {
            ("42703", root.message().into_owned())
        }
        DataFusionError::NotImplemented(m) => ("0A000", m.clone()),
        DataFusionError::ResourcesExhausted(m) => (
            "53200",
            format!(
                "out of memory: the query needs more than the memory queries share (half of \
                 --memory-limit): {}",
                m.lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(" as:")
            ),
        ),
        DataFusionError::ArrowError(e, _)
            if matches!(
                e.as_ref(),
                datafusion::arrow::error::ArrowError::DivideByZero
            ) =>
        {
            ("22012", "division by zero".into())
        }
        DataFusionError::ArrowError(e, _)
            if matches!(
                e.as_ref(),
                datafusion::arrow::error::ArrowError::CastError(_)
                    | datafusion::arrow::error::ArrowError::ParseError(_)
            ) =>
        {
            ("22P02", root.message().into_owned())
        }
        DataFusionError::Plan(m) => ("42601", m.clone()),
        other => ("XX000", other.message().into_owned()),
    }
}
