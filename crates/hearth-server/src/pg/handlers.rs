//! Query handlers: every call is delegated to the connection's own [`DfSessionService`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::{DfSessionService, Parser};
use futures::Sink;
use hearth_query::QueryError;

use super::session::session;

/// The answer to a statement Hearth runs itself (`CREATE` / `ALTER DATABASE`, which
/// DataFusion's parser does not know), on either protocol.
fn command_response(
    result: Result<(&'static str, Option<usize>), QueryError>,
) -> PgWireResult<Response> {
    match result {
        Ok((tag, None)) => Ok(Response::Execution(Tag::new(tag))),
        Ok((tag, Some(rows))) => Ok(Response::Execution(Tag::new(tag).with_rows(rows))),
        Err(e) => {
            let (code, message) = e.sqlstate();
            Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                code.into(),
                message,
            ))))
        }
    }
}

/// A statement as datafusion-postgres prepares it.
pub(super) type DfStatement = (String, Option<(sqlparser::ast::Statement, LogicalPlan)>);

/// The stateless handler shared by all connections.
pub(super) struct HearthQuery {
    parser: Arc<HearthParser>,
}

impl HearthQuery {
    pub(super) fn new() -> HearthQuery {
        // Describe (parameter and result types) only looks at the plan, so any parser serves.
        let describe = DfSessionService::new(Arc::new(SessionContext::new()));
        HearthQuery {
            parser: Arc::new(HearthParser {
                describe: ExtendedQueryHandler::query_parser(&describe),
            }),
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for HearthQuery {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let s = session(client)?;
        if let Some(result) = s.engine.execute_command(&s.db, query).await {
            return command_response(result).map(|r| vec![r]);
        }
        s.begin_statement(client, query);
        <DfSessionService as SimpleQueryHandler>::do_query(&s.service, client, query).await
    }
}

#[async_trait]
impl ExtendedQueryHandler for HearthQuery {
    type Statement = DfStatement;
    type QueryParser = HearthParser;

    fn query_parser(&self) -> Arc<HearthParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<DfStatement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let s = session(client)?;
        let sql = &portal.statement.statement.0;
        if portal.statement.statement.1.is_none()
            && let Some(result) = s.engine.execute_command(&s.db, sql).await
        {
            return command_response(result);
        }
        s.begin_statement(client, sql);
        <DfSessionService as ExtendedQueryHandler>::do_query(&s.service, client, portal, max_rows)
            .await
    }
}

/// Parses and plans against the connection's session.
pub(super) struct HearthParser {
    describe: Arc<Parser>,
}

#[async_trait]
impl QueryParser for HearthParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<DfStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        // Hearth's own statements have no plan; they run at Execute.
        if hearth_query::ddl::parse(sql).is_some() {
            return Ok(Some((sql.to_string(), None)));
        }
        let s = session(client)?;
        ExtendedQueryHandler::query_parser(&s.service)
            .parse_sql(client, sql, types)
            .await
    }

    fn get_parameter_types(&self, statement: &DfStatement) -> PgWireResult<Vec<Type>> {
        self.describe.get_parameter_types(statement)
    }

    fn get_result_schema(
        &self,
        statement: &DfStatement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        self.describe.get_result_schema(statement, format)
    }
}
