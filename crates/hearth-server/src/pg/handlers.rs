//! Query handlers for both protocols.
//!
//! A statement goes, in order, to: Hearth's own statements (`CREATE`/`ALTER DATABASE`,
//! `DELETE`), the statement hooks (transactions, [`policy`](super::policy),
//! [`settings`](super::settings), cursors), `COPY` ([`copy`](super::copy)), and otherwise
//! DataFusion, whose record batches [`encode`](super::encode) writes as rows. Every row stream
//! watches the connection's cancel token, so a `CancelRequest` (or the statement timeout, which
//! the plan itself enforces) stops a query while its rows are being sent, with `57014`.
//!
//! In one simple-protocol message of several statements, those before an error run and answer,
//! the error is reported, and the rest are skipped, as in PostgreSQL.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::DEFAULT_NAME;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_describe_response,
};
use datafusion_postgres::pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::Entry;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::data::{NoData, ParameterDescription};
use datafusion_postgres::pgwire::messages::extendedquery::{Describe, TARGET_TYPE_BYTE_STATEMENT};
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{DfSessionService, Parser};
use futures::{Sink, SinkExt, StreamExt};
use hearth_query::QueryEngine;
use hearth_query::QueryError;
use hearth_query::engine::CommandResult;
use hearth_query::split::split_statements;
use tokio_util::sync::CancellationToken;

use super::encode::RowEncoder;
use super::rewrite::rewrite;
use super::session::{Connection, session};

/// A statement as it is prepared: its text and, unless Hearth runs it itself, the parsed
/// statement and its plan.
pub(super) type DfStatement = (String, Option<(Statement, LogicalPlan)>);

fn api(e: impl std::error::Error + Send + Sync + 'static) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

/// The answer to a statement Hearth runs itself (`CREATE` / `ALTER DATABASE`, `DELETE`, the
/// views' and `cron.*` statements), rows in `format`.
async fn command_response(
    s: &Connection,
    sql: &str,
    result: Result<CommandResult, QueryError>,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Response> {
    match result {
        Ok(CommandResult::Done(tag, None)) => Ok(Response::Execution(Tag::new(tag))),
        Ok(CommandResult::Done(tag, Some(rows))) => {
            Ok(Response::Execution(Tag::new(tag).with_rows(rows)))
        }
        Ok(CommandResult::Rows(schema, batches)) => {
            let table =
                datafusion::datasource::MemTable::try_new(schema, vec![batches]).map_err(api)?;
            let df = s.ctx.read_table(Arc::new(table)).map_err(api)?;
            let response =
                query_response(s, sql, df, format, options, CancellationToken::new()).await?;
            Ok(Response::Query(response))
        }
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

/// `statement`, or for an upsert into a keyed table that replaces whole rows, its plain
/// `INSERT` (see `hearth_query::upsert`).
fn plain_insert(s: &Connection, statement: Statement) -> PgWireResult<Statement> {
    Ok(
        hearth_query::upsert::without_upsert(s.engine.storage(), &s.db, &statement)
            .map_err(api)?
            .unwrap_or(statement),
    )
}

/// Runs `plan` if it writes (`INSERT`, `DELETE`): `INSERT 0 n` / `DELETE n`, or the error.
async fn write(s: &Connection, plan: &LogicalPlan) -> Option<PgWireResult<Response>> {
    if let Some(written) = s.engine.insert(&s.ctx, &s.db, plan).await {
        return Some(
            written
                .map_err(api)
                .map(|rows| Response::Execution(Tag::new("INSERT").with_oid(0).with_rows(rows))),
        );
    }
    if let Some(deleted) = s.engine.delete(&s.ctx, &s.db, plan).await {
        return Some(
            deleted
                .map_err(api)
                .map(|rows| Response::Execution(Tag::new("DELETE").with_rows(rows))),
        );
    }
    None
}

/// Savepoints: accepted, as nothing Hearth does is rolled back (`ROLLBACK TO` ends the failed
/// state of the transaction, as in PostgreSQL).
fn savepoint(statement: &Statement) -> Option<Response> {
    match statement {
        Statement::Savepoint { .. } => Some(Response::Execution(Tag::new("SAVEPOINT"))),
        Statement::ReleaseSavepoint { .. } => Some(Response::Execution(Tag::new("RELEASE"))),
        Statement::Rollback {
            savepoint: Some(_), ..
        } => Some(Response::TransactionStart(Tag::new("ROLLBACK"))),
        _ => None,
    }
}

/// An error as the `ErrorResponse` pgwire would send for it.
pub(super) fn error_info(error: PgWireError) -> ErrorInfo {
    match error {
        PgWireError::UserError(info) => *info,
        PgWireError::ApiError(inner) => super::errors::sqlstate(inner.as_ref())
            .unwrap_or_else(|| ErrorInfo::new("ERROR".into(), "XX000".into(), inner.to_string())),
        other => other.into(),
    }
}

/// `df`'s rows (the result of the statement `sql`) as a query response in `format`, stopped by
/// `cancel`.
pub(super) async fn query_response(
    s: &Connection,
    sql: &str,
    df: DataFrame,
    format: &Format,
    options: Arc<FormatOptions>,
    cancel: CancellationToken,
) -> PgWireResult<QueryResponse> {
    let fields = super::encode::pg_fields(df.schema().as_arrow(), format, Some(options))?;
    let fields = Arc::new(super::names::renamed(fields, sql));
    let announced: Arc<[DataType]> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let encoder = RowEncoder::new(fields.clone(), s.settings.text_options());
    // Planned (and entered in the query log) now, so each statement of a message is tracked
    // with its own text; run as the client reads the rows.
    let batches = df.execute_stream().await.map_err(api)?;
    let rows = futures::stream::unfold(
        Some((batches, encoder, Vec::new().into_iter(), cancel, announced)),
        |state| async move {
            let (mut batches, encoder, mut pending, cancel, announced) = state?;
            loop {
                if let Some(row) = pending.next() {
                    return Some((
                        Ok(row),
                        Some((batches, encoder, pending, cancel, announced)),
                    ));
                }
                let next = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Some((Err(PgWireError::QueryCanceled), None)),
                    next = batches.next() => next,
                };
                match next {
                    None => return None,
                    Some(Err(e)) => return Some((Err(api(e)), None)),
                    Some(Ok(batch)) => {
                        let batch = match as_announced(batch, &announced) {
                            Ok(batch) => batch,
                            Err(e) => return Some((Err(api(e)), None)),
                        };
                        let mut rows = Vec::with_capacity(batch.num_rows());
                        if let Err(e) = encoder.encode(&batch, &mut rows) {
                            return Some((Err(e), None));
                        }
                        pending = rows.into_iter();
                    }
                }
            }
        },
    );
    Ok(QueryResponse::new(fields, rows))
}

/// `batch` with each column of the type its `RowDescription` announced. The description comes
/// from the plan before type coercion, which can type an expression differently from what runs
/// (`CASE WHEN .. THEN oid_column ELSE 0 END` is described by its first branch, `int4`, and
/// computed as `int8`); a binary client must get the bytes of the announced type. A value that
/// does not fit fails the statement (22003) rather than being sent wrong.
fn as_announced(
    batch: RecordBatch,
    announced: &[DataType],
) -> datafusion::error::Result<RecordBatch> {
    let schema = batch.schema();
    if schema.fields().len() != announced.len()
        || schema
            .fields()
            .iter()
            .zip(announced)
            .all(|(f, t)| f.data_type() == t)
    {
        return Ok(batch);
    }
    let options = datafusion::arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    let mut fields = Vec::with_capacity(announced.len());
    let mut columns = Vec::with_capacity(announced.len());
    for ((field, column), to) in schema.fields().iter().zip(batch.columns()).zip(announced) {
        if field.data_type() == to {
            fields.push(field.clone());
            columns.push(column.clone());
        } else {
            fields.push(Arc::new(field.as_ref().clone().with_data_type(to.clone())));
            columns.push(datafusion::arrow::compute::cast_with_options(
                column, to, &options,
            )?);
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        columns,
    )?)
}

/// `q` with all its rows computed.
async fn collected(q: QueryResponse) -> PgWireResult<QueryResponse> {
    let QueryResponse {
        command_tag,
        row_schema,
        data_rows,
        ..
    } = q;
    let rows: Vec<PgWireResult<_>> = data_rows.collect().await;
    let rows = rows.into_iter().collect::<PgWireResult<Vec<_>>>()?;
    let mut done = QueryResponse::new(row_schema, futures::stream::iter(rows.into_iter().map(Ok)));
    done.set_command_tag(&command_tag);
    Ok(done)
}

/// The stateless handler shared by all connections.
pub(super) struct HearthQuery {
    parser: Arc<HearthParser>,
    sql: PostgresCompatibilityParser,
}

impl HearthQuery {
    pub(super) fn new(engine: Arc<QueryEngine>) -> HearthQuery {
        // Describe (parameter and result types) only looks at the plan, so any parser serves.
        let describe = DfSessionService::new(Arc::new(SessionContext::new()));
        HearthQuery {
            parser: Arc::new(HearthParser {
                describe: ExtendedQueryHandler::query_parser(&describe),
                sql: PostgresCompatibilityParser::new(),
                engine,
            }),
            sql: PostgresCompatibilityParser::new(),
        }
    }

    /// One statement of a simple-protocol message.
    async fn simple_statement<C>(
        &self,
        client: &mut C,
        s: &Connection,
        statement: Statement,
        text: &str,
        cancel: &CancellationToken,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(response) = savepoint(&statement) {
            return Ok(response);
        }
        for hook in &s.hooks {
            if let Some(result) = hook
                .handle_simple_query(&statement, &s.ctx, client as &mut dyn HookClient)
                .await
            {
                return result;
            }
        }
        if let Statement::Copy { .. } = statement {
            return super::copy::copy(client, s, &statement, cancel.clone()).await;
        }
        let statement = plain_insert(s, statement)?;
        s.begin_statement(&statement.to_string());
        let plan = plan(&s.ctx, &statement).await.map_err(api)?;
        if let Some(response) = write(s, &plan).await {
            return response;
        }
        let df = s.ctx.execute_logical_plan(plan).await.map_err(api)?;
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let response =
            query_response(s, text, df, &Format::UnifiedText, options, cancel.clone()).await?;
        Ok(Response::Query(response))
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
        // Hearth's own statements are recognised per statement; the rest is parsed up front, so
        // that a syntax error anywhere runs nothing, as in PostgreSQL.
        let mut steps = Vec::new();
        for piece in split_statements(query) {
            if s.engine.is_command(piece) {
                steps.push(Step::Command(piece));
            } else {
                let mut statements = self.sql.parse(piece).map_err(api)?;
                statements.iter_mut().for_each(rewrite);
                steps.extend(
                    statements
                        .into_iter()
                        .map(|statement| Step::Sql(Box::new(statement), piece)),
                );
            }
        }
        if steps.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let cancel = s.cancel.begin();
        let count = steps.len();
        let mut responses = Vec::with_capacity(count);
        for (i, step) in steps.into_iter().enumerate() {
            let response = match step {
                Step::Command(sql) => {
                    let result = s
                        .engine
                        .execute_command(&s.db, sql)
                        .await
                        .unwrap_or_else(|| {
                            Err(QueryError::Command {
                                code: "XX000",
                                message: format!("not a statement Hearth runs: {sql}"),
                            })
                        });
                    let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
                    command_response(&s, sql, result, &Format::UnifiedText, options).await
                }
                Step::Sql(statement, text) => {
                    match self
                        .simple_statement(client, &s, *statement, text, &cancel)
                        .await
                    {
                        // A query followed by more statements runs to its end first, so that an
                        // error in it stops the statements after it, as in PostgreSQL. (A last or
                        // only query streams its rows.)
                        Ok(Response::Query(q)) if i + 1 < count => {
                            collected(q).await.map(Response::Query)
                        }
                        other => other,
                    }
                }
            };
            match response {
                Ok(response) => responses.push(response),
                Err(e) => {
                    responses.push(Response::Error(Box::new(error_info(e))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

/// DataFusion's plan of `statement`. Result columns that DataFusion would name alike (and
/// refuses) but PostgreSQL allows (`SELECT 1, 1::int`) are planned under names of their own.
async fn plan(
    ctx: &SessionContext,
    statement: &Statement,
) -> datafusion::error::Result<LogicalPlan> {
    let state = ctx.state();
    let plan = |statement: Statement| {
        state.statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
            statement,
        )))
    };
    match plan(statement.clone()).await {
        Err(e) if e.to_string().contains(super::names::NOT_UNIQUE) => {
            match super::names::uniquely_named(statement) {
                Some(named) => plan(named).await,
                None => Err(e),
            }
        }
        other => other,
    }
}

/// One statement of a simple-protocol message.
enum Step<'a> {
    /// A statement Hearth runs itself.
    Command(&'a str),
    /// A statement for DataFusion, with the text it came from.
    Sql(Box<Statement>, &'a str),
}

/// The placeholders of `plan` by position (`$1` is 0), with the type DataFusion infers for each;
/// a position the plan does not use (a rewrite may drop one) has none.
fn placeholders(plan: &LogicalPlan) -> PgWireResult<Vec<(bool, Option<DataType>)>> {
    let inferred = plan.get_parameter_types().map_err(api)?;
    let mut ordered: Vec<(usize, Option<DataType>)> = inferred
        .into_iter()
        .filter_map(|(name, t)| {
            name.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .filter(|i| *i > 0)
                .map(|i| (i, t))
        })
        .collect();
    ordered.sort_by_key(|(i, _)| *i);
    let count = ordered.last().map_or(0, |(i, _)| *i);
    let mut out = vec![(false, None); count];
    for (i, t) in ordered {
        out[i - 1] = (true, t);
    }
    Ok(out)
}

/// The wire types of the parameters of `statement`, by position: datafusion-postgres's
/// (which lists only the placeholders the plan uses, in order), put in their places.
fn parameter_types(describe: &Parser, statement: &DfStatement) -> PgWireResult<Vec<Type>> {
    let Some((_, plan)) = &statement.1 else {
        return Ok(Vec::new());
    };
    let used = placeholders(plan)?;
    let mut types = describe.get_parameter_types(statement)?.into_iter();
    Ok(used
        .iter()
        .map(|(present, _)| {
            if *present {
                types.next().unwrap_or(Type::UNKNOWN)
            } else {
                Type::UNKNOWN
            }
        })
        .collect())
}

/// The parameter values of `portal` for `plan`, decoded by the types the client gave or the
/// server inferred.
fn parameters(
    describe: &Parser,
    portal: &Portal<DfStatement>,
    plan: &LogicalPlan,
) -> PgWireResult<ParamValues> {
    let wire = parameter_types(describe, &portal.statement.statement)?;
    let wire: Vec<Option<&Type>> = wire.iter().map(Some).collect();
    let used = placeholders(plan)?;
    let types: Vec<Option<&DataType>> = used.iter().map(|(_, t)| t.as_ref()).collect();
    deserialize_parameters_with_server_types(portal, &types, &wire)
}

#[async_trait]
impl ExtendedQueryHandler for HearthQuery {
    type Statement = DfStatement;
    type QueryParser = HearthParser;

    fn query_parser(&self) -> Arc<HearthParser> {
        self.parser.clone()
    }

    /// pgwire's, except that a statement with parameters and no result rows (an `INSERT`) is
    /// answered `ParameterDescription` + `NoData`, as PostgreSQL does, not an empty
    /// `RowDescription`.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_STATEMENT {
            let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
            if let Some(Entry::Value(statement)) = client.portal_store().get_statement(name) {
                let described = self.do_describe_statement(client, &statement).await?;
                if described.fields.is_empty() {
                    let oids = described.parameters.iter().map(|t| t.oid()).collect();
                    client
                        .send(PgWireBackendMessage::ParameterDescription(
                            ParameterDescription::new(oids),
                        ))
                        .await?;
                    client
                        .send(PgWireBackendMessage::NoData(NoData::new()))
                        .await?;
                } else {
                    send_describe_response(client, &described).await?;
                }
                return Ok(());
            }
        }
        self._on_describe(client, message).await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<DfStatement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let s = session(client)?;
        let (sql, Some((statement, plan))) = &portal.statement.statement else {
            let sql = &portal.statement.statement.0;
            return match s.engine.execute_command(&s.db, sql).await {
                Some(result) => {
                    let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
                    command_response(&s, sql, result, &portal.result_column_format, options).await
                }
                None => Ok(Response::EmptyQuery),
            };
        };
        if let Some(response) = savepoint(statement) {
            return Ok(response);
        }
        let params = parameters(&self.parser.describe, portal, plan)?;
        for hook in &s.hooks {
            if let Some(result) = hook
                .handle_extended_query(
                    statement,
                    plan,
                    &params,
                    &s.ctx,
                    client as &mut dyn HookClient,
                )
                .await
            {
                return result;
            }
        }
        if let Statement::Copy { .. } = statement {
            // As tokio-postgres' copy_in and copy_out send it.
            return super::copy::copy(client, &s, statement, s.cancel.begin()).await;
        }
        let cancel = s.cancel.begin();
        s.begin_statement(sql);
        let plan = plan
            .clone()
            .replace_params_with_values(&params)
            .map_err(api)?;
        if let Some(response) = write(&s, &plan).await {
            return response;
        }
        let df = s.ctx.execute_logical_plan(plan).await.map_err(api)?;
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let response =
            query_response(&s, sql, df, &portal.result_column_format, options, cancel).await?;
        Ok(Response::Query(response))
    }
}

/// Parses and plans against the connection's session.
pub(super) struct HearthParser {
    describe: Arc<Parser>,
    sql: PostgresCompatibilityParser,
    /// For the result columns of Hearth's own statements.
    engine: Arc<QueryEngine>,
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
        let s = session(client)?;
        if s.engine.is_command(sql) {
            return Ok(Some((sql.to_string(), None)));
        }
        let mut statements = self.sql.parse(sql).map_err(api)?;
        if statements.is_empty() {
            return Ok(None);
        }
        let mut statement = statements.remove(0);
        rewrite(&mut statement);
        // The client's parameter types are applied when the parameters are decoded.
        let _ = types;
        for hook in &s.hooks {
            if let Some(plan) = hook
                .handle_extended_parse_query(&statement, &s.ctx, client)
                .await
            {
                return Ok(Some((sql.to_string(), Some((statement, plan?)))));
            }
        }
        let statement = plain_insert(&s, statement)?;
        // COPY has no plan (it runs at Execute) and no result columns.
        if savepoint(&statement).is_some() || matches!(statement, Statement::Copy { .. }) {
            let plan = LogicalPlan::EmptyRelation(datafusion::logical_expr::EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(datafusion::common::DFSchema::empty()),
            });
            return Ok(Some((sql.to_string(), Some((statement, plan)))));
        }
        let plan = plan(&s.ctx, &statement).await.map_err(api)?;
        Ok(Some((sql.to_string(), Some((statement, plan)))))
    }

    fn get_parameter_types(&self, statement: &DfStatement) -> PgWireResult<Vec<Type>> {
        parameter_types(&self.describe, statement)
    }

    fn get_result_schema(
        &self,
        statement: &DfStatement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &statement.1 {
            Some((_, plan)) if !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_)) => {
                let fields = super::encode::pg_fields(
                    plan.schema().as_arrow(),
                    format.unwrap_or(&Format::UnifiedText),
                    None,
                )?;
                Ok(super::names::renamed(fields, &statement.0))
            }
            None => match self.engine.command_schema(&statement.0) {
                Some(schema) => {
                    super::encode::pg_fields(&schema, format.unwrap_or(&Format::UnifiedText), None)
                }
                None => Ok(Vec::new()),
            },
            _ => Ok(Vec::new()),
        }
    }
}
