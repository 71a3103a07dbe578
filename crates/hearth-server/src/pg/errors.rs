//! DataFusion and Hearth errors → PostgreSQL SQLSTATE codes, in one place.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion_postgres::pgwire::api::{ClientInfo, ErrorHandler};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};

/// Rewrites errors before pgwire sends them.
pub(super) struct HearthErrors;

impl ErrorHandler for HearthErrors {
    fn on_error<C>(&self, _client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if let PgWireError::ApiError(inner) = error
            && let Some(info) = sqlstate(inner.as_ref())
        {
            *error = PgWireError::UserError(Box::new(info));
        }
        tracing::debug!(error = %error, "PostgreSQL error");
    }
}

fn info(code: &str, message: String) -> ErrorInfo {
    ErrorInfo::new("ERROR".into(), code.into(), message)
}

/// The SQLSTATE and message of an error.
pub(super) fn sqlstate(
    error: &(dyn std::error::Error + Send + Sync + 'static),
) -> Option<ErrorInfo> {
    if let Some(p) = error.downcast_ref::<ParserError>() {
        return Some(info("42601", p.to_string()));
    }
    let root = error.downcast_ref::<DataFusionError>()?.find_root();
    Some(match root {
        DataFusionError::SQL(p, _) => info("42601", p.to_string()),
        DataFusionError::Plan(m) if m.starts_with("table '") && m.ends_with("' not found") => {
            let full = &m["table '".len()..m.len() - "' not found".len()];
            let name = full.rsplit('.').next().unwrap_or(full);
            info("42P01", format!("relation \"{name}\" does not exist"))
        }
        DataFusionError::Plan(m) if m.starts_with("failed to resolve schema") => {
            info("3F000", m.clone())
        }
        DataFusionError::SchemaError(s, _)
            if matches!(s.as_ref(), SchemaError::FieldNotFound { .. }) =>
        {
            info("42703", root.message().into_owned())
        }
        DataFusionError::NotImplemented(m) => info("0A000", m.clone()),
        DataFusionError::ResourcesExhausted(m) => info("53200", m.clone()),
        DataFusionError::ArrowError(e, _)
            if matches!(
                e.as_ref(),
                datafusion::arrow::error::ArrowError::DivideByZero
            ) =>
        {
            info("22012", "division by zero".into())
        }
        DataFusionError::ArrowError(e, _)
            if matches!(
                e.as_ref(),
                datafusion::arrow::error::ArrowError::CastError(_)
                    | datafusion::arrow::error::ArrowError::ParseError(_)
            ) =>
        {
            info("22P02", root.message().into_owned())
        }
        DataFusionError::Plan(m) => info("42601", m.clone()),
        other => info("XX000", other.message().into_owned()),
    })
}
