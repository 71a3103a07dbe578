//! Connection startup and per-connection sessions.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    PgCatalogStaticTables, create_current_database_udf, setup_pg_catalog,
};
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, ServerParameterProvider, StartupHandler, finish_authentication,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::{DfSessionService, QueryHook};
use futures::Sink;
use hearth_query::QueryEngine;
use hearth_query::functions::{PG_VERSION, version_udf};

use super::catalog::pg_catalog_factory;
use super::policy::PolicyHook;

/// Installs `pg_catalog` (one per database, listing only its tables) and PostgreSQL's
/// functions into the sessions `engine` creates. Call once, before sharing the engine.
pub fn prepare(engine: &mut QueryEngine) -> Result<(), DataFusionError> {
    let static_tables = Arc::new(PgCatalogStaticTables::try_new()?);
    let catalogs = engine.catalogs().clone();
    catalogs.add_schema_factory("pg_catalog", pg_catalog_factory(&catalogs, static_tables));
    let mut setup_error = None;
    engine.update_template(|ctx| {
        // setup_pg_catalog registers functions and planners on the context and a pg_catalog
        // schema in the named catalog; give it a throwaway catalog so the real ones (which get
        // their own, scoped pg_catalog from the factory above) are untouched.
        let scratch = Arc::new(MemoryCatalogProviderList::new());
        scratch.register_catalog("scratch".into(), Arc::new(MemoryCatalogProvider::new()));
        let state = SessionStateBuilder::new_from_existing(ctx.state())
            .with_catalog_list(scratch)
            .build();
        let scratch_ctx = SessionContext::new_with_state(state);
        if let Err(e) = setup_pg_catalog(&scratch_ctx, "scratch", EmptyContextProvider) {
            setup_error = Some(*e);
        }
        scratch_ctx.register_udf(version_udf());
        *ctx.state_ref().write() = scratch_ctx.state();
    });
    match setup_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// State shared by all connections.
pub struct Shared {
    engine: Arc<QueryEngine>,
}

impl Shared {
    /// The shared state over a [`prepare`]d engine.
    pub fn new(engine: Arc<QueryEngine>) -> Shared {
        Shared { engine }
    }

    fn new_session(&self, db: &str) -> HearthSession {
        let ctx = self.engine.session(db);
        ctx.register_udf(create_current_database_udf(db));
        let ctx = Arc::new(ctx);
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(PolicyHook),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        HearthSession {
            service: DfSessionService::new_with_hooks(ctx.clone(), hooks),
            ctx,
            engine: self.engine.clone(),
            db: db.to_string(),
        }
    }
}

/// One connection's session.
pub(super) struct HearthSession {
    pub(super) service: DfSessionService,
    /// The connection's DataFusion session (the one `service` runs statements in).
    pub(super) ctx: Arc<SessionContext>,
    /// The engine, for the statements Hearth answers itself.
    pub(super) engine: Arc<QueryEngine>,
    /// The connection's database.
    pub(super) db: String,
}

impl HearthSession {
    /// Tells the plans of the statement about to run its text and the connection's
    /// `statement_timeout`: the one datafusion-postgres keeps in the client's metadata, or none
    /// at all after `SET statement_timeout = 0` (which datafusion-postgres records as "not
    /// set", while PostgreSQL means "no timeout", overriding the server's).
    pub(super) fn begin_statement<C: ClientInfo + ?Sized>(&self, client: &mut C, sql: &str) {
        match statement_timeout_assignment(sql) {
            Some(true) => {
                client
                    .metadata_mut()
                    .insert(TIMEOUT_OFF.to_string(), "on".to_string());
            }
            Some(false) => {
                client.metadata_mut().remove(TIMEOUT_OFF);
            }
            None => {}
        }
        let metadata = client.metadata();
        let timeout = if metadata.contains_key(TIMEOUT_OFF) {
            Some(std::time::Duration::ZERO)
        } else {
            metadata
                .get("statement_timeout_ms")
                .and_then(|ms| ms.parse::<u64>().ok())
                .map(std::time::Duration::from_millis)
        };
        hearth_query::engine::set_statement(&self.ctx, sql, timeout);
    }
}

/// The client-metadata key marking a session whose statement timeout is off.
const TIMEOUT_OFF: &str = "hearth_statement_timeout_off";

/// If `sql` sets or resets `statement_timeout`: whether it turns the timeout off (a zero
/// value) rather than to a value or back to the server's.
fn statement_timeout_assignment(sql: &str) -> Option<bool> {
    let text = sql.trim().trim_end_matches(';').to_ascii_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '=')
        .filter(|w| !w.is_empty())
        .collect();
    let value = match words.as_slice() {
        ["reset", "statement_timeout"] => return Some(false),
        ["set", "statement_timeout", "to", v] | ["set", "statement_timeout", v] => *v,
        ["set", "session", "statement_timeout", "to", v]
        | ["set", "session", "statement_timeout", v] => *v,
        _ => return None,
    };
    let digits = value.trim_matches(|c| c == '\'' || c == '"');
    let number: String = digits.chars().take_while(char::is_ascii_digit).collect();
    Some(!number.is_empty() && number.chars().all(|c| c == '0'))
}

/// The session of a connection, installed at startup.
pub(super) fn session<C: ClientInfo + ?Sized>(client: &C) -> PgWireResult<Arc<HearthSession>> {
    client
        .session_extensions()
        .get::<HearthSession>()
        .ok_or_else(|| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "08P01".into(),
                "connection has no session".into(),
            )))
        })
}

/// The server parameters clients read at startup.
struct Parameters(DefaultServerParameterProvider);

impl ServerParameterProvider for Parameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        self.0.server_parameters(client)
    }
}

/// Startup without authentication: checks the database and installs the session.
pub(super) struct Startup {
    shared: Arc<Shared>,
    connections: Arc<ConnectionManager>,
    parameters: Parameters,
    pids: RandomPidSecretKeyGenerator,
}

impl Startup {
    pub(super) fn new(shared: Arc<Shared>, connections: Arc<ConnectionManager>) -> Startup {
        let mut parameters = DefaultServerParameterProvider::default();
        // Clients pick their catalog queries by version: keep it a PostgreSQL 16 number.
        parameters.server_version = format!("{PG_VERSION} (Hearth {})", env!("CARGO_PKG_VERSION"));
        Startup {
            shared,
            connections,
            parameters: Parameters(parameters),
            pids: RandomPidSecretKeyGenerator::default(),
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(ref startup) = message else {
            return Ok(());
        };
        // Like PostgreSQL: without a database parameter the user name is the database.
        let db = startup
            .parameters
            .get("database")
            .or_else(|| startup.parameters.get("user"))
            .cloned()
            .unwrap_or_default();
        if !self.shared.engine.catalogs().exists(&db) {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "3D000".into(),
                format!("database \"{db}\" does not exist"),
            ))));
        }
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        let (pid, key) = self.pids.generate(&*client);
        client.set_pid_and_secret_key(pid, key.clone());
        let (handle, guard) = self.connections.register(pid, key);
        client
            .session_extensions()
            .insert::<Arc<ConnectionHandle>>(handle);
        client.session_extensions().insert::<ConnectionGuard>(guard);
        client
            .session_extensions()
            .insert(self.shared.new_session(&db));
        finish_authentication(client, &self.parameters).await
    }
}

#[cfg(test)]
mod tests {
    use super::statement_timeout_assignment as assignment;

    #[test]
    fn statement_timeout_assignments() {
        assert_eq!(assignment("SET statement_timeout = 0"), Some(true));
        assert_eq!(assignment("set statement_timeout to '0';"), Some(true));
        assert_eq!(
            assignment("SET SESSION statement_timeout = '0ms'"),
            Some(true)
        );
        assert_eq!(assignment("SET statement_timeout = '5s'"), Some(false));
        assert_eq!(assignment("SET statement_timeout TO DEFAULT"), Some(false));
        assert_eq!(assignment("RESET statement_timeout"), Some(false));
        assert_eq!(assignment("SET search_path = public"), None);
        assert_eq!(assignment("SELECT 0"), None);
    }
}
