//! The HTTP listener: connections, TLS, limits and graceful shutdown.
//!
//! Each accepted socket is served on its own task (HTTP/1.1 with keep-alive), after a TLS
//! handshake when TLS is configured (then plain HTTP is not spoken at all). At most
//! `max_connections` sockets are served at once; past that a new socket is closed at once, so a
//! flood of connections costs file descriptors only briefly. A client must send a request's
//! headers within [`HEADER_TIMEOUT`] and finish a TLS handshake within [`HANDSHAKE_TIMEOUT`],
//! so slow clients cannot hold slots (write bodies have their own deadline, see
//! [`write`](super::write)). On shutdown the listener stops accepting and open connections
//! finish their requests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use datafusion_postgres::pgwire::tokio::tokio_rustls;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the listener serves connections.
#[derive(Clone)]
pub struct Listening {
    /// TLS for every connection, if configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Most connections served at once.
    pub max_connections: usize,
}

/// Serves one connection until it closes or `stop` turns true (then it finishes the request in
/// progress and closes).
async fn serve_connection<I>(io: I, app: Router, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => connection.as_mut().graceful_shutdown(),
    }
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    listening: Listening,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(listening.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "HTTP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, max = listening.max_connections, "HTTP connection refused: too many connections");
                    drop(socket);
                    continue;
                };
                let _ = socket.set_nodelay(true);
                let app = with_peer(&app, peer);
                let stop = stop_rx.clone();
                let tls = listening.tls.clone();
                connections.spawn(async move {
                    match tls {
                        None => serve_connection(socket, app, stop).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                                Ok(Ok(stream)) => serve_connection(stream, app, stop).await,
                                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        }
                    }
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// `app` with the client's address available to handlers (`ConnectInfo<SocketAddr>`).
fn with_peer(app: &Router, peer: SocketAddr) -> Router {
    app.clone().layer(axum::Extension(ConnectInfo(peer)))
}
