//! The PostgreSQL wire protocol front end (pgwire, with datafusion-postgres for `pg_catalog`
//! and result encoding).
//!
//! Each connection gets its own DataFusion session whose default catalog is the database named
//! in the startup message (`psql -d home`), so settings never leak between connections and
//! unqualified table names resolve in that database. An unknown database is refused at startup
//! with `FATAL 3D000`, as PostgreSQL does.
//!
//! - [`session`]: startup (database check, parameters), per-connection sessions.
//! - [`handlers`]: simple and extended query handlers delegating to the connection's session.
//! - [`policy`]: what remote SQL may do (no server files, no DDL/DML yet).
//! - [`catalog`]: a `pg_catalog` per database that lists only that database's tables.
//! - [`errors`]: DataFusion errors → SQLSTATE, in one place.

mod catalog;
mod errors;
mod handlers;
mod policy;
mod session;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire::api::PgWireServerHandlers;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{ConnectionManager, ErrorHandler};
use datafusion_postgres::pgwire::tokio::process_socket;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use session::{Shared, prepare};

/// The handler factory pgwire asks for each connection's handlers.
pub struct PgHandlers {
    shared: Arc<Shared>,
    query: Arc<handlers::HearthQuery>,
    connections: Arc<ConnectionManager>,
    cancel: Arc<DefaultCancelHandler>,
}

impl PgHandlers {
    /// Handlers over `shared`.
    pub fn new(shared: Arc<Shared>) -> PgHandlers {
        let connections = Arc::new(ConnectionManager::new());
        PgHandlers {
            query: Arc::new(handlers::HearthQuery::new()),
            cancel: Arc::new(DefaultCancelHandler::new(connections.clone())),
            shared,
            connections,
        }
    }
}

impl PgWireServerHandlers for PgHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(session::Startup::new(
            self.shared.clone(),
            self.connections.clone(),
        ))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(errors::HearthErrors)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// Serves the PostgreSQL protocol on `listener` until `shutdown` resolves; then stops
/// accepting, gives open connections 5 seconds to finish, and closes the rest.
pub async fn serve(
    listener: TcpListener,
    handlers: Arc<PgHandlers>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    let handlers = handlers.clone();
                    connections.spawn(async move {
                        if let Err(e) = process_socket(socket, None, handlers).await {
                            tracing::debug!(%peer, error = %e, "PostgreSQL connection ended with an error");
                        }
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
