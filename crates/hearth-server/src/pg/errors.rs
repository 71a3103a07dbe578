//! Errors as pgwire sends them (the SQLSTATE codes are `hearth_query::error`'s).

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

/// The SQLSTATE and message of an error, as pgwire sends them.
pub(super) fn sqlstate(
    error: &(dyn std::error::Error + Send + Sync + 'static),
) -> Option<ErrorInfo> {
    hearth_query::error::sqlstate(error)
        .map(|(code, message)| ErrorInfo::new("ERROR".into(), code.into(), message))
}
