//! Errors of the view layer, each with the SQLSTATE a client gets.

use hearth_query::QueryError;

/// A view statement or maintenance step that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ViewError {
    /// SQLSTATE.
    pub code: &'static str,
    /// What went wrong, naming the view.
    pub message: String,
}

impl ViewError {
    /// A definition Hearth cannot maintain incrementally (`0A000`, feature not supported).
    pub fn refused(message: impl Into<String>) -> ViewError {
        ViewError {
            code: "0A000",
            message: message.into(),
        }
    }

    /// A malformed statement (`42601`).
    pub fn syntax(message: impl Into<String>) -> ViewError {
        ViewError {
            code: "42601",
            message: message.into(),
        }
    }

    /// A view that does not exist (`42P01`).
    pub fn missing(name: &str) -> ViewError {
        ViewError {
            code: "42P01",
            message: format!("materialized view \"{name}\" does not exist"),
        }
    }

    /// A failure of the machinery underneath (object store, query execution): `58030`, I/O
    /// error, unless the query engine gave a more precise SQLSTATE.
    pub fn internal(message: impl std::fmt::Display) -> ViewError {
        ViewError {
            code: "58030",
            message: message.to_string(),
        }
    }
}

impl From<datafusion::error::DataFusionError> for ViewError {
    fn from(e: datafusion::error::DataFusionError) -> ViewError {
        let (code, message) = QueryError::DataFusion(e).sqlstate();
        ViewError { code, message }
    }
}

impl From<hearth_catalog::CatalogError> for ViewError {
    fn from(e: hearth_catalog::CatalogError) -> ViewError {
        ViewError::internal(e)
    }
}

impl From<ViewError> for QueryError {
    fn from(e: ViewError) -> QueryError {
        QueryError::Command {
            code: e.code,
            message: e.message,
        }
    }
}
