//! What remote SQL may do. Runs before every other statement hook.
//!
//! Remote clients must not read or write files on the server (`COPY ... FROM 'file'`, `COPY
//! ... TO PROGRAM`, `CREATE EXTERNAL TABLE`); `COPY ... TO STDOUT / FROM STDIN` and exports
//! (`COPY (query) TO 'path'`, written only under the object store's root) go to
//! [`copy`](super::copy).
//! Settings are each connection's own ([`settings`](super::settings) refuses the server-wide
//! `datafusion.runtime.*` and `datafusion.catalog.*`).
//! Statements this version does not support (DDL, DML) are refused with `0A000` up front, rather
//! than reaching DataFusion's in-memory defaults that would silently do something else.

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{CopyTarget, Statement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

/// Why `COPY` from a server file or to a program is refused (SQLSTATE 42501).
pub(super) const FILE_COPY_REFUSED: &str = "permission denied: COPY from server files or to \
     programs is not allowed; use STDIN or STDOUT (psql's \\copy), or COPY (query) TO 'path' \
     under the object store";

/// Refuses statements remote clients may not run.
pub(super) struct PolicyHook;

fn refuse(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

/// `Some(error)` if `statement` is not allowed.
pub(super) fn check(statement: &Statement) -> Option<PgWireError> {
    let text = statement.to_string();
    let head: String = text
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    match statement {
        Statement::Copy { target, to, .. } => match target {
            CopyTarget::Stdin | CopyTarget::Stdout => None,
            // An export: written only into the object store (`script::export` checks where).
            CopyTarget::File { .. } if *to => None,
            CopyTarget::File { .. } | CopyTarget::Program { .. } => Some(refuse(
                "42501",
                FILE_COPY_REFUSED.into(),
            )),
        },
        Statement::Query(_)
        // Into and from Hearth tables, through the WAL and the files (`QueryEngine::insert`,
        // `QueryEngine::delete`).
        | Statement::Insert(_)
        | Statement::Delete(_)
        | Statement::Explain { .. }
        | Statement::ExplainTable { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Declare { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Discard { .. }
        | Statement::Deallocate { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. }
        | Statement::Reset(_)
        // Settings are the connection's own; server-wide ones are refused where they are set.
        | Statement::Set(_) => None,
        _ if head.starts_with("CREATE EXTERNAL") => Some(refuse(
            "42501",
            "permission denied: external tables would read server files".into(),
        )),
        _ => Some(refuse("0A000", format!("statement not supported: {head}"))),
    }
}

#[async_trait]
impl QueryHook for PolicyHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        check(statement).map(Err)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        check(statement).map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        check(statement).map(Err)
    }
}
