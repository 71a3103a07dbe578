//! What the PostgreSQL front end shares between connections ([`Shared`]) and what each
//! connection owns ([`Connection`]): its DataFusion session, settings and cancel signal.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use datafusion::catalog::{CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use datafusion_postgres::QueryHook;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{
    PgCatalogStaticTables, create_current_database_udf, setup_pg_catalog,
};
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::SecretKey;
use hearth_query::QueryEngine;
use hearth_query::functions::version_udf;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::catalog::pg_catalog_factory;
use super::policy::PolicyHook;
use super::settings::{Settings, SettingsHook, setting_functions};
use super::startup::{Parameters, Verifier};

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
        for udf in super::functions::pg_functions() {
            scratch_ctx.register_udf(udf);
        }
        *ctx.state_ref().write() = scratch_ctx.state();
    });
    match setup_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// How the PostgreSQL front end admits clients.
#[derive(Debug, Default)]
pub struct Access {
    /// The auth token clients must give as their password (SCRAM-SHA-256), if any.
    pub verifier: Option<Arc<Verifier>>,
    /// The TLS certificate chain in PEM when TLS is on (every client must then use it); for
    /// SCRAM channel binding.
    pub certificate_pem: Option<Vec<u8>>,
}

/// Per-statement cancellation of one connection: a `CancelRequest` (from another socket)
/// trips the token of the statement running now, which stops its row stream.
#[derive(Debug, Default)]
pub(super) struct CancelSlot {
    current: Mutex<CancellationToken>,
}

impl CancelSlot {
    /// A fresh token for the statement about to run.
    pub(super) fn begin(&self) -> CancellationToken {
        let token = CancellationToken::new();
        *self.current.lock() = token.clone();
        token
    }

    fn cancel(&self) {
        self.current.lock().cancel();
    }
}

type CancelKey = (i32, Bytes);

/// Every connection's cancel slot by (backend pid, secret key).
#[derive(Debug, Default)]
pub(super) struct CancelRegistry {
    slots: Mutex<HashMap<CancelKey, Weak<CancelSlot>>>,
}

impl CancelRegistry {
    /// Trips the running statement of the connection `(pid, key)` names, if there is one.
    pub(super) fn cancel(&self, pid: i32, key: &SecretKey) {
        let slot = self
            .slots
            .lock()
            .get(&(pid, key.to_bytes()))
            .and_then(Weak::upgrade);
        if let Some(slot) = slot {
            slot.cancel();
        }
    }
}

/// Removes a connection's slot from the registry when the connection ends.
struct Registration {
    registry: Arc<CancelRegistry>,
    key: CancelKey,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.slots.lock().remove(&self.key);
    }
}

/// State shared by all connections.
pub struct Shared {
    pub(super) engine: Arc<QueryEngine>,
    pub(super) verifier: Option<Arc<Verifier>>,
    pub(super) certificate_pem: Option<Vec<u8>>,
    /// Plain-text clients are refused (TLS is configured).
    pub(super) tls_required: bool,
    pub(super) parameters: Parameters,
    /// One generator, so every connection gets its own backend pid.
    pub(super) pids: Arc<dyn PidSecretKeyGenerator>,
    pub(super) cancels: Arc<CancelRegistry>,
    /// pgwire's cancel handling, which stops a statement while it is being planned.
    pub(super) connections: Arc<ConnectionManager>,
}

impl Shared {
    /// The shared state over a [`prepare`]d engine.
    pub fn new(engine: Arc<QueryEngine>, access: Access) -> Shared {
        Shared {
            engine,
            parameters: Parameters::new(access.verifier.is_none()),
            verifier: access.verifier,
            tls_required: access.certificate_pem.is_some(),
            certificate_pem: access.certificate_pem,
            pids: Arc::new(RandomPidSecretKeyGenerator::default()),
            cancels: Arc::default(),
            connections: Arc::new(ConnectionManager::new()),
        }
    }

    /// The session of a client admitted to database `db` as backend `(pid, key)`.
    pub(super) fn connect<C: ClientInfo + ?Sized>(
        &self,
        client: &mut C,
        db: &str,
        pid: i32,
        key: SecretKey,
    ) -> Connection {
        let (handle, guard) = self.connections.register(pid, key.clone());
        client
            .session_extensions()
            .insert::<Arc<ConnectionHandle>>(handle);
        client.session_extensions().insert::<ConnectionGuard>(guard);
        client
            .session_extensions()
            .insert(super::copy::CopyInSlot::default());
        let startup: std::collections::BTreeMap<String, String> = client
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let settings = Arc::new(Settings::new(&startup, self.engine.statement_timeout()));
        let ctx = self.engine.session(db);
        ctx.register_udf(create_current_database_udf(db));
        for udf in setting_functions(settings.clone()) {
            ctx.register_udf(udf);
        }
        let ctx = Arc::new(ctx);
        // Order matters: a failed transaction refuses everything but its end; what remote SQL
        // may not do is refused before anything runs.
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(TransactionStatementHook),
            Arc::new(PolicyHook),
            Arc::new(SettingsHook),
            Arc::new(CursorStatementHook),
        ];
        let cancel = Arc::new(CancelSlot::default());
        let cancel_key = (pid, key.to_bytes());
        self.cancels
            .slots
            .lock()
            .insert(cancel_key.clone(), Arc::downgrade(&cancel));
        Connection {
            hooks,
            ctx,
            engine: self.engine.clone(),
            db: db.to_string(),
            settings,
            cancel,
            _registration: Registration {
                registry: self.cancels.clone(),
                key: cancel_key,
            },
        }
    }
}

/// One connection's session.
pub(super) struct Connection {
    /// The statement hooks, in the order they are asked.
    pub(super) hooks: Vec<Arc<dyn QueryHook>>,
    /// The connection's DataFusion session.
    pub(super) ctx: Arc<SessionContext>,
    /// The engine, for the statements Hearth answers itself.
    pub(super) engine: Arc<QueryEngine>,
    /// The connection's database.
    pub(super) db: String,
    /// `SET`/`SHOW` settings.
    pub(super) settings: Arc<Settings>,
    /// Cancels the running statement.
    pub(super) cancel: Arc<CancelSlot>,
    _registration: Registration,
}

impl Connection {
    /// Tells the plans of the statement about to run its text and the connection's
    /// `statement_timeout` (zero: none).
    pub(super) fn begin_statement(&self, sql: &str) {
        hearth_query::engine::set_statement(
            &self.ctx,
            sql,
            Some(self.settings.statement_timeout()),
        );
    }
}

/// The session of a connection, installed at startup.
pub(super) fn session<C: ClientInfo + ?Sized>(client: &C) -> PgWireResult<Arc<Connection>> {
    client
        .session_extensions()
        .get::<Connection>()
        .ok_or_else(|| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "08P01".into(),
                "connection has no session".into(),
            )))
        })
}
