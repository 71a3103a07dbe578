//! The `hearth` binary: command line, configuration, wiring of the layers, and shutdown.
//!
//! `hearth serve` opens storage (catalog from the object store, WAL replay), builds the query
//! engine, binds the HTTP and PostgreSQL listeners (logging the bound addresses, so port 0
//! works), runs the flusher, and on SIGTERM/SIGINT stops accepting work, finishes in-flight
//! requests, flushes the buffer to Delta and exits 0.

mod config;

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use hearth_catalog::store::StoreOptions;
use hearth_query::QueryEngine;
use hearth_server::{http, pg};
use hearth_storage::compact::CompactionPolicy;
use hearth_storage::flush::FlushPolicy;
use hearth_storage::{Storage, StorageConfig};
use hearth_views::cron::{Cron, CronConfig, Retry};
use hearth_views::{Views, ViewsConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use config::{Cli, Command, LogFormat, ServeConfig};

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,deltalake=warn,deltalake_core=warn,buoyant_kernel=warn,datafusion=warn",
        )
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            tune_allocator(config.memory_limit);
            init_logging(config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("hearth")
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(serve(config))
        }
    }
}

/// Keeps glibc's allocator from handing the write path's large, short-lived buffers (request
/// bodies, Arrow columns, WAL payloads, Parquet pages) back to the kernel after each use: by
/// default blocks above a dynamic threshold are mmapped and unmapped every time, and the heap top
/// is trimmed at 128 KiB, so each request faults in freshly zeroed pages (a quarter of the
/// server's CPU time under load). Blocks up to 256 MiB now come from the heap, and up to an
/// eighth of the memory limit (64 MiB to 1 GiB) of free heap is kept for reuse. Measured with
/// `hearth-bench ingest` (TSBS cpu, 1 000 hosts, 4 workers): 0.81/0.95 M rows/s before,
/// 0.98/1.04 M after, alternating runs.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator(memory_limit: usize) {
    let keep = (memory_limit / 8).clamp(64 << 20, 1 << 30);
    let keep = libc::c_int::try_from(keep).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only changes allocator parameters; it is called before any thread starts.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, keep);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator(_memory_limit: usize) {}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received; shutting down"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received; shutting down"),
    }
}

async fn serve(config: ServeConfig) -> Result<()> {
    info!(
        version = env!("CARGO_PKG_VERSION"),
        data_dir = %config.data_dir.display(),
        object_store = %config.object_store,
        "starting Hearth"
    );
    let storage = Storage::open(StorageConfig {
        wal_dir: config.data_dir.join("wal"),
        object_store: config.object_store.clone(),
        store_options: StoreOptions {
            s3_endpoint: config.s3_endpoint.clone(),
        },
        flush: FlushPolicy {
            max_bytes: config.flush_size,
            max_age: config.flush_interval,
        },
        memory_limit: config.memory_limit / 2,
        write_backlog: config.write_backlog,
        idempotency_window: config.idempotency_window,
        compaction: CompactionPolicy {
            target_bytes: config.compaction_target_size as u64,
            min_files: config.compaction_min_files,
            grace: config.vacuum_grace,
            // Compaction decodes its inputs: a quarter of the memory limit for it.
            memory_budget: config.memory_limit as u64 / 4,
            ..CompactionPolicy::default()
        },
        retention: config.retention,
        latest_row_caches: Some(config.data_dir.join("latest-row-caches.json")),
    })
    .await
    .context("cannot open storage")?;

    // TLS first: a certificate that cannot be loaded stops the start before anything listens.
    let tls = match &config.tls {
        Some((cert, key)) => Some(hearth_server::tls::Tls::load(cert, key)?),
        None => None,
    };
    let mut engine = QueryEngine::with_timeout(
        storage.clone(),
        config.memory_limit / 2,
        config.statement_timeout,
    )
    .context("cannot start the query engine")?;
    pg::prepare(&mut engine).context("cannot set up the PostgreSQL catalog")?;
    let views = Views::new(
        storage.clone(),
        ViewsConfig {
            interval: config.view_refresh_interval,
            settle: config.view_settle,
            vacuum_grace: config.vacuum_grace,
            ..Default::default()
        },
    );
    views.register(&mut engine);
    let cron = Cron::new(
        storage.clone(),
        CronConfig {
            retry: Retry::with_retries(config.cron_retries, config.cron_retry_backoff),
            ..Default::default()
        },
    );
    cron.register(&mut engine);
    let engine = Arc::new(engine);
    views
        .start(&engine)
        .await
        .context("cannot load the materialized views")?;
    cron.start(&engine)
        .await
        .context("cannot load the scheduled jobs")?;

    let http_listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on {} (HTTP)", config.http_addr))?;
    let pg_listener = TcpListener::bind(config.pg_addr)
        .await
        .with_context(|| format!("cannot listen on {} (PostgreSQL)", config.pg_addr))?;
    let http_addr = http_listener.local_addr()?;
    let pg_addr = pg_listener.local_addr()?;
    for addr in [http_addr, pg_addr] {
        if !addr.ip().is_loopback() && config.auth_token.is_none() {
            warn!(%addr, "listening beyond loopback without --auth-token: anyone who can reach this address can read and write all data");
        }
        if !addr.ip().is_loopback() && tls.is_none() {
            warn!(%addr, "listening beyond loopback without TLS: data and credentials cross the network unencrypted");
        }
    }
    info!(addr = %http_addr, tls = tls.is_some(), auth = config.auth_token.is_some(), "HTTP listening");
    info!(addr = %pg_addr, tls = tls.is_some(), auth = config.auth_token.is_some(), "PostgreSQL listening");

    let (stop_tx, stop_rx) = watch::channel(false);
    let flusher = tokio::spawn(storage.clone().run_flusher(stop_rx.clone()));
    let compactor = tokio::spawn(
        storage
            .clone()
            .run_compactor(config.compaction_interval, stop_rx.clone()),
    );
    let maintainer = tokio::spawn(views.clone().run_maintainer(stop_rx.clone()));
    let scheduler = tokio::spawn(cron.clone().run_scheduler(stop_rx.clone()));

    let http_state = Arc::new(http::HttpState {
        storage: storage.clone(),
        engine: engine.clone(),
        max_body_bytes: config.max_request_size,
        write_budget: http::write_budget(config.memory_limit, config.max_request_size),
        metrics: Default::default(),
        auth: config
            .auth_token
            .as_ref()
            .map(|t| http::TokenCheck::new(t.expose())),
        bodies: Default::default(),
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let http_task = tokio::spawn(http::serve(
        http_listener,
        http_state,
        http::serve::Listening {
            tls: tls.as_ref().map(|t| t.http.clone()),
            max_connections: config.max_connections,
        },
        stopped(stop_rx.clone()),
    ));
    let access = pg::Access {
        verifier: config
            .auth_token
            .as_ref()
            .map(|t| Arc::new(pg::Verifier::new(t.expose()))),
        certificate_pem: tls.as_ref().map(|t| t.certificate_pem.clone()),
    };
    let pg_server = pg::PgServer::new(
        Arc::new(pg::Shared::new(engine.clone(), access)),
        tls.as_ref().map(|t| t.pg.clone()),
        config.max_connections,
    );
    let pg_task = tokio::spawn(pg::serve(pg_listener, pg_server, stopped(stop_rx.clone())));
    info!("ready");
    // The latest-row caches that were on before the restart, built while the server serves.
    let warming = engine.clone();
    tokio::spawn(async move { warming.build_remembered_latest_rows().await });

    shutdown_signal().await;
    let _ = stop_tx.send(true);
    match http_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "HTTP server stopped with an error"),
        Err(e) => warn!(error = %e, "HTTP server task failed"),
    }
    if let Err(e) = pg_task.await {
        warn!(error = %e, "PostgreSQL server task failed");
    }
    // A compaction is one commit: stopping it half-way leaves at most an uncommitted file,
    // which vacuum deletes later.
    compactor.abort();
    let _ = compactor.await;
    // A refresh is one commit, and the pending buckets are saved by the flush below.
    maintainer.abort();
    let _ = maintainer.await;
    // A run cut short is recorded as `running`; the next start counts it as a failed attempt.
    scheduler.abort();
    let _ = scheduler.await;
    flusher.await.context("flusher task failed")?;
    info!("stopped");
    Ok(())
}
