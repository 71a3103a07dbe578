//! The PostgreSQL wire protocol front end (pgwire, with datafusion-postgres for `pg_catalog`,
//! statement parsing and parameter decoding).
//!
//! Each connection gets its own DataFusion session whose default catalog is the database named
//! in the startup message (`psql -d home`), so settings never leak between connections and
//! unqualified table names resolve in that database. An unknown database is refused at startup
//! with `FATAL 3D000`, as PostgreSQL does.
//!
//! - [`startup`]: authentication (none, or SCRAM-SHA-256 with `--auth-token`), parameters.
//! - [`session`]: shared state and each connection's session, settings and cancel signal.
//! - [`handlers`]: simple and extended query handling; [`encode`] writes result rows
//!   ([`text`] in PostgreSQL's text format); [`copy`] runs `COPY` to and from the client
//!   ([`values`] reads its text).
//! - [`policy`]: what remote SQL may do (no server files; only the DDL and DML Hearth supports);
//!   [`rewrite`]: PostgreSQL constructs DataFusion lacks, rewritten before planning.
//! - [`settings`]: `SET`/`SHOW`/`current_setting()`; [`functions`]: catalog functions clients
//!   call; [`catalog`]: a `pg_catalog` per database that lists only that database's tables.
//! - [`errors`]: DataFusion errors → SQLSTATE, in one place.
//!
//! Connections are limited (`--max-connections`; past it a client gets `FATAL 53300`), and a
//! client must finish logging in within [`STARTUP_TIMEOUT`], so idle sockets cannot hold slots
//! for long.

mod catalog;
mod copy;
mod encode;
mod errors;
mod functions;
mod handlers;
mod names;
mod policy;
mod rewrite;
mod session;
mod settings;
mod startup;
mod text;
mod values;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::PgWireServerHandlers;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::copy::CopyHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{ClientInfo, ErrorHandler};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::cancel::CancelRequest;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::tokio::{TlsAcceptor, process_socket};
use futures::Sink;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use session::{Access, Shared, prepare};
pub use startup::Verifier;

/// How long a client has to log in after connecting (PostgreSQL's `authentication_timeout`
/// is a minute; a shorter one frees slots held by stalled or hostile clients sooner).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// The handlers of one connection (pgwire asks for them once per socket).
struct ConnectionHandlers {
    shared: Arc<Shared>,
    query: Arc<handlers::HearthQuery>,
    admitted: Arc<AtomicBool>,
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(startup::Startup::new(
            self.shared.clone(),
            self.admitted.clone(),
        ))
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        Arc::new(copy::HearthCopy)
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(errors::HearthErrors)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(Cancel {
            shared: self.shared.clone(),
        })
    }
}

/// A `CancelRequest` stops the statement the connection it names is running: while it is
/// planned (pgwire's own cancel) and while its rows are sent (the statement's token).
struct Cancel {
    shared: Arc<Shared>,
}

#[async_trait]
impl CancelHandler for Cancel {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.shared.cancels.cancel(request.pid, &request.secret_key);
        DefaultCancelHandler::new(self.shared.connections.clone())
            .on_cancel_request(request)
            .await;
    }
}

/// Refuses a client at startup with `FATAL 53300`, as PostgreSQL does past
/// `max_connections`.
struct TooMany;

#[async_trait]
impl StartupHandler for TooMany {
    async fn on_startup<C>(
        &self,
        _client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(_) => {
                Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    "FATAL".into(),
                    "53300".into(),
                    "sorry, too many clients already".into(),
                ))))
            }
            _ => Ok(()),
        }
    }
}

impl PgWireServerHandlers for TooMany {
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(TooMany)
    }
}

/// The PostgreSQL listener's settings.
#[derive(Clone)]
pub struct PgServer {
    shared: Arc<Shared>,
    query: Arc<handlers::HearthQuery>,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
}

impl PgServer {
    /// A server over `shared` for at most `max_connections` clients at once; with `tls`, every
    /// client must use TLS (a plain-text startup gets `FATAL 28000`, so a client that forgot
    /// `sslmode` never sends its data in the clear).
    pub fn new(shared: Arc<Shared>, tls: Option<TlsAcceptor>, max_connections: usize) -> PgServer {
        PgServer {
            query: Arc::new(handlers::HearthQuery::new(shared.engine.clone())),
            shared,
            tls,
            max_connections: max_connections.max(1),
        }
    }
}

/// Serves the PostgreSQL protocol on `listener` until `shutdown` resolves; then stops
/// accepting, gives open connections 5 seconds to finish, and closes the rest.
pub async fn serve(
    listener: TcpListener,
    server: PgServer,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(server.max_connections));
    // Refusals are cheap, but bounded too: past this many at once a socket is just closed.
    let refusals = Arc::new(Semaphore::new(64));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    let tls = server.tls.clone();
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, max = server.max_connections, "PostgreSQL connection refused: too many clients");
                        if let Ok(permit) = refusals.clone().try_acquire_owned() {
                            connections.spawn(async move {
                                let refuse = process_socket(socket, tls, TooMany);
                                let _ = tokio::time::timeout(STARTUP_TIMEOUT, refuse).await;
                                drop(permit);
                            });
                        }
                        continue;
                    };
                    let admitted = Arc::new(AtomicBool::new(false));
                    let handlers = ConnectionHandlers {
                        shared: server.shared.clone(),
                        query: server.query.clone(),
                        admitted: admitted.clone(),
                    };
                    connections.spawn(async move {
                        let connection = process_socket(socket, tls, handlers);
                        tokio::pin!(connection);
                        let outcome = tokio::select! {
                            outcome = &mut connection => Some(outcome),
                            _ = tokio::time::sleep(STARTUP_TIMEOUT) => None,
                        };
                        let outcome = match outcome {
                            Some(outcome) => outcome,
                            None if admitted.load(Ordering::Acquire) => connection.await,
                            None => {
                                tracing::info!(%peer, "PostgreSQL client did not log in in time; closed");
                                Ok(())
                            }
                        };
                        if let Err(e) = outcome {
                            tracing::debug!(%peer, error = %e, "PostgreSQL connection ended with an error");
                        }
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "PostgreSQL accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        tracing::info!(
            open = connections.len(),
            "closing PostgreSQL connections at shutdown"
        );
    }
    connections.shutdown().await;
    Ok(())
}
