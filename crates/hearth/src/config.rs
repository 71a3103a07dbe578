//! Command line, environment and TOML configuration of `hearth serve`.
//!
//! Every option is a long flag, an environment variable (`HEARTH_*`) and a key of the TOML file
//! given by `--config`, in that order of precedence; the default applies when none sets it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// Hearth: a columnar time-series warehouse. Line protocol in, PostgreSQL out, Delta Lake
/// underneath.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about, long_about = None)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server: HTTP (writes, SQL, health, metrics) and the PostgreSQL wire protocol.
    Serve(ServeArgs),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Options of `hearth serve`.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ServeArgs {
    /// Local state: the WAL, and the object store when none is given [default: ./hearth-data]
    #[arg(long, env = "HEARTH_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    /// Where Parquet files and Delta logs live: file:///absolute/path or s3://bucket/prefix
    /// (credentials and region from AWS_* variables) [default: file://<data-dir>/objects]
    #[arg(long, env = "HEARTH_OBJECT_STORE", value_name = "URL")]
    pub(crate) object_store: Option<String>,

    /// Endpoint of an S3-compatible server for s3:// object stores (MinIO, Ceph, ...), e.g.
    /// http://127.0.0.1:9000 (plain HTTP also needs AWS_ALLOW_HTTP=true) [default: AWS]
    #[arg(long, env = "HEARTH_S3_ENDPOINT", value_name = "URL")]
    pub(crate) s3_endpoint: Option<String>,

    /// HTTP listener; port 0 picks a free port (the bound address is logged) [default: 127.0.0.1:8086]
    #[arg(long, env = "HEARTH_HTTP_ADDR", value_name = "ADDR")]
    pub(crate) http_addr: Option<SocketAddr>,

    /// PostgreSQL wire protocol listener; port 0 picks a free port [default: 127.0.0.1:5432]
    #[arg(long, env = "HEARTH_PG_ADDR", value_name = "ADDR")]
    pub(crate) pg_addr: Option<SocketAddr>,

    /// TOML file with these options as keys (e.g. `http-addr = "0.0.0.0:8086"`); flags and
    /// environment variables override it
    #[arg(long, env = "HEARTH_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub(crate) config: Option<PathBuf>,

    /// Memory bound (e.g. 2GiB): half for buffered unflushed writes (past it writes get 503 with
    /// Retry-After), half for query execution [default: a quarter of the machine's memory]
    #[arg(long, env = "HEARTH_MEMORY_LIMIT", value_name = "SIZE")]
    pub(crate) memory_limit: Option<String>,

    /// Flush buffered rows to Parquet when the oldest is this old (e.g. 60s, 10m) [default: 60s]
    #[arg(long, env = "HEARTH_FLUSH_INTERVAL", value_name = "DURATION")]
    pub(crate) flush_interval: Option<String>,

    /// Flush buffered rows to Parquet when they take this much memory [default: 64MiB]
    #[arg(long, env = "HEARTH_FLUSH_SIZE", value_name = "SIZE")]
    pub(crate) flush_size: Option<String>,

    /// Writes wait for the persister (up to 5 s each) while this much is not yet persisted, so a
    /// load that outruns it slows down instead of being refused for memory [default: a quarter
    /// of --memory-limit]
    #[arg(long, env = "HEARTH_WRITE_BACKLOG", value_name = "SIZE")]
    pub(crate) write_backlog: Option<String>,

    /// Largest accepted HTTP request body, after decompression; larger bodies get 413 [default: 10MiB]
    #[arg(long, env = "HEARTH_MAX_REQUEST_SIZE", value_name = "SIZE")]
    pub(crate) max_request_size: Option<String>,

    /// How long an idempotency key (Idempotency-Key header or batch_id parameter) is remembered:
    /// a repeat within it is answered without writing again [default: 1h]
    #[arg(long, env = "HEARTH_IDEMPOTENCY_WINDOW", value_name = "DURATION")]
    pub(crate) idempotency_window: Option<String>,

    /// Keep rows for this long (by their time, e.g. 400d): queries never show older rows, and
    /// the compactor drops whole day partitions past it [default: forever]
    #[arg(long, env = "HEARTH_RETENTION", value_name = "DURATION")]
    pub(crate) retention: Option<String>,

    /// How often the background compactor looks for partitions to compact [default: 1m]
    #[arg(long, env = "HEARTH_COMPACTION_INTERVAL", value_name = "DURATION")]
    pub(crate) compaction_interval: Option<String>,

    /// Compaction merges the small files of a day partition into files of about this size; files
    /// this large are left alone [default: 128MiB]
    #[arg(long, env = "HEARTH_COMPACTION_TARGET_SIZE", value_name = "SIZE")]
    pub(crate) compaction_target_size: Option<String>,

    /// A day partition is compacted once it has this many small files [default: 4]
    #[arg(long, env = "HEARTH_COMPACTION_MIN_FILES", value_name = "N")]
    pub(crate) compaction_min_files: Option<usize>,

    /// Files replaced by a compaction are deleted this long afterwards (queries still reading
    /// them must finish within it) [default: 1h]
    #[arg(long, env = "HEARTH_VACUUM_GRACE", value_name = "DURATION")]
    pub(crate) vacuum_grace: Option<String>,

    /// How often the view maintainer materializes the pending buckets of the continuous views
    /// [default: 1s]
    #[arg(long, env = "HEARTH_VIEW_REFRESH_INTERVAL", value_name = "DURATION")]
    pub(crate) view_refresh_interval: Option<String>,

    /// A view's bucket is materialized once it ended this long ago; until then queries compute
    /// it from the source (late rows are materialized at the next refresh either way)
    /// [default: 5s]
    #[arg(long, env = "HEARTH_VIEW_SETTLE", value_name = "DURATION")]
    pub(crate) view_settle: Option<String>,

    /// A scheduled job's run that fails is tried again this many times (waiting
    /// --cron-retry-backoff, then twice as long each time) before it is marked failed [default: 2]
    #[arg(long, env = "HEARTH_CRON_RETRIES", value_name = "N")]
    pub(crate) cron_retries: Option<u32>,

    /// The wait before a failed job run's first retry [default: 30s]
    #[arg(long, env = "HEARTH_CRON_RETRY_BACKOFF", value_name = "DURATION")]
    pub(crate) cron_retry_backoff: Option<String>,

    /// Queries running longer are cancelled with SQLSTATE 57014 (a session's `SET
    /// statement_timeout` overrides it); 0 for none [default: 0]
    #[arg(long, env = "HEARTH_STATEMENT_TIMEOUT", value_name = "DURATION")]
    pub(crate) statement_timeout: Option<String>,

    /// Token clients must present: HTTP as `Authorization: Bearer TOKEN` (or `Token`, Basic
    /// auth's password, v1's `p=`), PostgreSQL as the password (SCRAM-SHA-256; any user name)
    /// [default: none, everyone is let in]
    #[arg(
        long,
        env = "HEARTH_AUTH_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub(crate) auth_token: Option<Secret>,

    /// TLS certificate chain (PEM) for both listeners; with it every client must use TLS, and a
    /// certificate that cannot be loaded stops the start [default: none]
    #[arg(
        long,
        env = "HEARTH_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub(crate) tls_cert: Option<PathBuf>,

    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1) for --tls-cert [default: none]
    #[arg(
        long,
        env = "HEARTH_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub(crate) tls_key: Option<PathBuf>,

    /// Most clients each listener serves at once; past it a PostgreSQL client gets FATAL 53300
    /// and an HTTP connection is closed [default: 500]
    #[arg(long, env = "HEARTH_MAX_CONNECTIONS", value_name = "N")]
    pub(crate) max_connections: Option<usize>,

    /// Log format on stderr [default: text]
    #[arg(long, env = "HEARTH_LOG_FORMAT", value_name = "FORMAT")]
    pub(crate) log_format: Option<LogFormat>,
}

/// A secret (the auth token): never printed, in `Debug` or logs.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    /// The secret itself, for deriving what checks it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    pub(crate) data_dir: PathBuf,
    pub(crate) object_store: String,
    pub(crate) s3_endpoint: Option<String>,
    pub(crate) http_addr: SocketAddr,
    pub(crate) pg_addr: SocketAddr,
    pub(crate) memory_limit: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) flush_size: usize,
    pub(crate) write_backlog: Option<usize>,
    pub(crate) max_request_size: usize,
    pub(crate) idempotency_window: Duration,
    pub(crate) retention: Option<Duration>,
    pub(crate) compaction_interval: Duration,
    pub(crate) compaction_target_size: usize,
    pub(crate) compaction_min_files: usize,
    pub(crate) vacuum_grace: Duration,
    pub(crate) view_refresh_interval: Duration,
    pub(crate) view_settle: Duration,
    pub(crate) cron_retries: u32,
    pub(crate) cron_retry_backoff: Duration,
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) auth_token: Option<Secret>,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) max_connections: usize,
    pub(crate) log_format: LogFormat,
}

impl ServeArgs {
    /// Fills options the command line and environment left unset from the config file.
    fn merge(self, file: ServeArgs) -> ServeArgs {
        ServeArgs {
            data_dir: self.data_dir.or(file.data_dir),
            object_store: self.object_store.or(file.object_store),
            s3_endpoint: self.s3_endpoint.or(file.s3_endpoint),
            http_addr: self.http_addr.or(file.http_addr),
            pg_addr: self.pg_addr.or(file.pg_addr),
            config: self.config,
            memory_limit: self.memory_limit.or(file.memory_limit),
            flush_interval: self.flush_interval.or(file.flush_interval),
            flush_size: self.flush_size.or(file.flush_size),
            write_backlog: self.write_backlog.or(file.write_backlog),
            max_request_size: self.max_request_size.or(file.max_request_size),
            idempotency_window: self.idempotency_window.or(file.idempotency_window),
            retention: self.retention.or(file.retention),
            compaction_interval: self.compaction_interval.or(file.compaction_interval),
            compaction_target_size: self.compaction_target_size.or(file.compaction_target_size),
            compaction_min_files: self.compaction_min_files.or(file.compaction_min_files),
            vacuum_grace: self.vacuum_grace.or(file.vacuum_grace),
            view_refresh_interval: self.view_refresh_interval.or(file.view_refresh_interval),
            view_settle: self.view_settle.or(file.view_settle),
            cron_retries: self.cron_retries.or(file.cron_retries),
            cron_retry_backoff: self.cron_retry_backoff.or(file.cron_retry_backoff),
            statement_timeout: self.statement_timeout.or(file.statement_timeout),
            auth_token: self.auth_token.or(file.auth_token),
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            max_connections: self.max_connections.or(file.max_connections),
            log_format: self.log_format.or(file.log_format),
        }
    }

    /// Resolves the configuration: config file, then defaults.
    pub(crate) fn resolve(self) -> Result<ServeConfig> {
        let args = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                let file: ServeArgs = toml::from_str(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?;
                self.merge(file)
            }
            None => self,
        };
        let data_dir = args
            .data_dir
            .unwrap_or_else(|| PathBuf::from("./hearth-data"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("cannot resolve data dir {}", data_dir.display()))?;
        let object_store = match args.object_store {
            Some(url) => url,
            None => file_url(&data_dir.join("objects")),
        };
        Ok(ServeConfig {
            object_store,
            s3_endpoint: args.s3_endpoint,
            http_addr: args
                .http_addr
                .unwrap_or_else(|| "127.0.0.1:8086".parse().expect("valid")),
            pg_addr: args
                .pg_addr
                .unwrap_or_else(|| "127.0.0.1:5432".parse().expect("valid")),
            memory_limit: match args.memory_limit {
                Some(s) => parse_size(&s).context("invalid --memory-limit")?,
                None => default_memory_limit(),
            },
            flush_interval: parse_duration(args.flush_interval.as_deref().unwrap_or("60s"))
                .context("invalid --flush-interval")?,
            flush_size: parse_size(args.flush_size.as_deref().unwrap_or("64MiB"))
                .context("invalid --flush-size")?,
            write_backlog: match args.write_backlog.as_deref() {
                Some(s) => Some(parse_size(s).context("invalid --write-backlog")?),
                None => None,
            },
            max_request_size: parse_size(args.max_request_size.as_deref().unwrap_or("10MiB"))
                .context("invalid --max-request-size")?,
            idempotency_window: parse_duration(args.idempotency_window.as_deref().unwrap_or("1h"))
                .context("invalid --idempotency-window")?,
            retention: match args.retention.as_deref() {
                None => None,
                Some(s) => match parse_duration(s).context("invalid --retention")? {
                    d if d.is_zero() => bail!("invalid --retention: must be longer than 0"),
                    d => Some(d),
                },
            },
            compaction_interval: parse_duration(
                args.compaction_interval.as_deref().unwrap_or("1m"),
            )
            .context("invalid --compaction-interval")?,
            compaction_target_size: parse_size(
                args.compaction_target_size.as_deref().unwrap_or("128MiB"),
            )
            .context("invalid --compaction-target-size")?,
            compaction_min_files: match args.compaction_min_files {
                Some(n) if n < 2 => bail!("invalid --compaction-min-files: at least 2"),
                Some(n) => n,
                None => 4,
            },
            vacuum_grace: parse_duration(args.vacuum_grace.as_deref().unwrap_or("1h"))
                .context("invalid --vacuum-grace")?,
            view_refresh_interval: parse_duration(
                args.view_refresh_interval.as_deref().unwrap_or("1s"),
            )
            .context("invalid --view-refresh-interval")?,
            view_settle: parse_duration(args.view_settle.as_deref().unwrap_or("5s"))
                .context("invalid --view-settle")?,
            cron_retries: args.cron_retries.unwrap_or(2),
            cron_retry_backoff: parse_duration(args.cron_retry_backoff.as_deref().unwrap_or("30s"))
                .context("invalid --cron-retry-backoff")?,
            statement_timeout: match args.statement_timeout.as_deref() {
                None => None,
                Some(s) => Some(parse_duration(s).context("invalid --statement-timeout")?)
                    .filter(|d| !d.is_zero()),
            },
            auth_token: match args.auth_token {
                Some(t) if t.expose().is_empty() => bail!("invalid --auth-token: empty"),
                t => t,
            },
            tls: match (args.tls_cert, args.tls_key) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                _ => bail!("--tls-cert and --tls-key go together"),
            },
            max_connections: match args.max_connections {
                Some(0) => bail!("invalid --max-connections: at least 1"),
                Some(n) => n,
                None => 500,
            },
            log_format: args.log_format.unwrap_or(LogFormat::Text),
            data_dir,
        })
    }
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A quarter of physical memory (from /proc/meminfo), or 1 GiB if unknown.
fn default_memory_limit() -> usize {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<usize>().ok())
            .map(|kb| kb * 1024)
    });
    total.map_or(1 << 30, |t| t / 4)
}

/// Parses `123`, `64KiB`, `64MiB`, `2GiB`, `10MB`, `1GB` (also lower case, `k`/`m`/`g`).
pub(crate) fn parse_size(s: &str) -> Result<usize> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: usize = number
        .parse()
        .with_context(|| format!("{s:?} is not a size"))?;
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        other => bail!("unknown size unit {other:?} in {s:?}"),
    };
    n.checked_mul(factor)
        .with_context(|| format!("{s:?} is too large"))
}

/// Parses `500ms`, `10s`, `5m`, `1h` (a bare number is seconds).
pub(crate) fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .with_context(|| format!("{s:?} is not a duration"))?;
    let scale = |unit: u64| {
        n.checked_mul(unit)
            .map(Duration::from_secs)
            .with_context(|| format!("{s:?} is too long"))
    };
    Ok(match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => scale(60)?,
        "h" => scale(3600)?,
        "d" => scale(86_400)?,
        other => bail!("unknown duration unit {other:?} in {s:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("10MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("1XB").is_err());
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("2 weeks").is_err());
        assert_eq!(
            parse_duration("400d").unwrap(),
            Duration::from_secs(400 * 86_400)
        );
        assert!(parse_duration("99999999999999999d").is_err());
    }

    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hearth.toml");
        std::fs::write(
            &file,
            format!(
                "data-dir = \"{}\"\nhttp-addr = \"127.0.0.1:9999\"\nflush-interval = \"5s\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file),
            flush_interval: Some("7s".into()),
            ..Default::default()
        };
        let c = args.resolve().unwrap();
        assert_eq!(c.http_addr.port(), 9999);
        assert_eq!(c.flush_interval, Duration::from_secs(7));
        assert!(c.object_store.ends_with("/objects"));
    }

    #[test]
    fn unknown_config_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hearth.toml");
        std::fs::write(&file, "http_adr = \"x\"\n").unwrap();
        let args = ServeArgs {
            config: Some(file),
            ..Default::default()
        };
        let err = format!("{:#}", args.resolve().unwrap_err());
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn the_auth_token_is_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let args = ServeArgs {
            data_dir: Some(dir.path().to_path_buf()),
            auth_token: Some("hunter2".parse().unwrap()),
            ..Default::default()
        };
        assert!(!format!("{args:?}").contains("hunter2"));
        let config = args.resolve().unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(config.auth_token.unwrap().expose(), "hunter2");
        let half = ServeArgs {
            data_dir: Some(dir.path().to_path_buf()),
            tls_cert: Some("cert.pem".into()),
            ..Default::default()
        };
        assert!(half.resolve().is_err());
    }
}
