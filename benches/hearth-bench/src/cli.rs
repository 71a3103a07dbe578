//! Command line of `hearth-bench`.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};

use crate::generate::{GenerateConfig, UseCase, generate};
use crate::ingest::{self, Endpoint, Load, Precision, Target};
use crate::query;
use crate::smart_home::DIRT_HELP;
use crate::units::{duration_arg, timestamp_arg};

/// Load tool for Hearth and other InfluxDB-compatible servers: generates
/// deterministic line protocol and ingests it over HTTP.
#[derive(Debug, Parser)]
#[command(name = "hearth-bench", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Generate(GenerateArgs),
    Ingest(IngestArgs),
    Query(QueryArgs),
}

const GENERATE_AFTER_HELP: &str = "\
cpu-only: TSBS devops cpu-only. SCALE hosts host_0.. with the ten TSBS tags and
  ten usage_* integer fields (clamped random walks in 0..=100), one line per
  host every --interval, ordered by time then host. No dirt.

smart-home: SCALE households h00001.. of the smart-home reference data set:
  energy (every --interval), climate (60 s), motion (on events), device_status
  (5 min), ordered by time then household, except for the dirt below.

Same arguments, same bytes. Lines written, bytes and the time range are
printed on stderr at the end (for smart-home also the dirt counts).
";

/// Write deterministic line protocol (nanosecond timestamps).
#[derive(Debug, Args)]
#[command(after_help = format!("{GENERATE_AFTER_HELP}\n{DIRT_HELP}"))]
struct GenerateArgs {
    /// Data set to generate.
    #[arg(long, value_enum)]
    use_case: UseCase,
    /// Hosts (cpu-only) or households (smart-home).
    #[arg(long)]
    scale: usize,
    /// Length of the time range, e.g. 1h, 1d, 7d, 1h30m (a plain number is seconds).
    #[arg(long, value_parser = duration_arg)]
    duration: i64,
    /// Seed of the pseudo-random generator.
    #[arg(long)]
    seed: u64,
    /// First timestamp (RFC 3339).
    #[arg(long, default_value = "2016-01-01T00:00:00Z", value_parser = timestamp_arg)]
    start: i64,
    /// Spacing of a host's points (cpu-only) or of energy readings (smart-home).
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    interval: i64,
    /// Output file, `-` for stdout.
    #[arg(long, default_value = "-")]
    output: String,
    /// smart-home: include the realistic dirt (see below).
    #[arg(long, default_value = "true", value_name = "BOOL", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    dirty: bool,
}

const INGEST_AFTER_HELP: &str = "\
The input is read into memory and split into batches before the clock starts.
Workers take the next unsent batch in order of batch index and POST it, on
kept-alive connections. A 2xx response acknowledges the batch; 429 and 503 are
retried after Retry-After (seconds) or 100 ms, up to --max-retries times;
anything else (a 400 for malformed lines included) is an error. Rows, MB/s and
batches count acknowledged batches only; MB are 10^6 bytes of uncompressed line
protocol. Latency is per request, from sending it to having read the response.
The report goes to stdout (with --json: one JSON object on stdout, the text on
stderr). Exit status 1 if any batch finally failed, 2 on other errors.
";

/// POST line protocol in batches and report throughput and latency.
#[derive(Debug, Args)]
#[command(after_help = INGEST_AFTER_HELP)]
struct IngestArgs {
    /// Line protocol file (gzip is detected), `-` for stdin.
    #[arg(value_name = "FILE|-")]
    input: String,
    /// Base URL of the server.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8086")]
    http: String,
    /// Database (v1, v3) or bucket (v2).
    #[arg(long, value_name = "NAME")]
    db: String,
    /// Concurrent requests.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    workers: u32,
    /// Lines per request.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Precision of the input timestamps.
    #[arg(long, value_enum, default_value = "ns")]
    precision: Precision,
    /// Acknowledge before the WAL is synced (v3 `no_sync=true`).
    #[arg(long)]
    no_sync: bool,
    /// Gzip the bodies (compressed before the clock starts).
    #[arg(long)]
    gzip: bool,
    /// Write API.
    #[arg(long, value_enum, default_value = "v3")]
    endpoint: Endpoint,
    /// Use only the first N rows of the input.
    #[arg(long, value_name = "N")]
    limit_rows: Option<u64>,
    /// Loop over the input until this much time has passed (e.g. 60, 5m).
    /// Re-sent rows are duplicates.
    #[arg(long, value_parser = duration_arg)]
    duration: Option<i64>,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Per-request timeout.
    #[arg(long, default_value = "60s", value_parser = duration_arg)]
    timeout: i64,
    /// Retries of a batch after 429/503 before it counts as failed.
    #[arg(long, default_value_t = 100)]
    max_retries: u32,
    /// Sent as `Authorization: Bearer TOKEN` (v3) or `Token TOKEN` (v1, v2).
    #[arg(long, env = "HEARTH_BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// v2 only: the org parameter.
    #[arg(long)]
    org: Option<String>,
    /// Client runtime threads (the server usually needs the cores more).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: u32,
}

const QUERY_AFTER_HELP: &str = "\
Runs the TSBS devops query types against a table `cpu` of TSBS cpu-only data
(as `generate --use-case cpu-only` and `ingest` load it), over the PostgreSQL
protocol. Parameters (hosts, time windows) are drawn as TSBS draws them, from
the hosts and time range found in the table, deterministically from --seed.
Each iteration runs every type once, in turn; prints p50/p99/min/max per type.

Types: single-groupby-1-1-1, single-groupby-1-1-12, single-groupby-5-1-12,
single-groupby-5-8-1, cpu-max-all-8, double-groupby-1, double-groupby-all,
high-cpu-all, high-cpu-1, lastpoint, groupby-orderby-limit.";

/// Run the TSBS devops queries and report latency per query type.
#[derive(Debug, Args)]
#[command(after_help = QUERY_AFTER_HELP)]
struct QueryArgs {
    /// PostgreSQL connection URL, e.g. postgres://postgres@127.0.0.1:5432/bench.
    #[arg(long, value_name = "URL")]
    pg: String,
    /// Query set (only `tsbs`, the devops queries).
    #[arg(long, default_value = "tsbs", value_parser = ["tsbs"])]
    queries: String,
    /// Comma-separated query types (default: all).
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
    /// Timed runs of each type.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Untimed runs of each type first.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Seed of the parameter draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

fn run_query(args: QueryArgs) -> Result<ExitCode> {
    let types: Vec<String> = if args.types.is_empty() {
        query::QUERY_TYPES.iter().map(|t| t.to_string()).collect()
    } else {
        args.types
    };
    for t in &types {
        if !query::QUERY_TYPES.contains(&t.as_str()) {
            anyhow::bail!(
                "unknown query type {t:?}; known: {}",
                query::QUERY_TYPES.join(", ")
            );
        }
    }
    let load = query::QueryLoad {
        url: args.pg,
        types,
        iterations: usize::try_from(args.iterations).unwrap_or(usize::MAX),
        warmup: usize::try_from(args.warmup).unwrap_or(usize::MAX),
        seed: args.seed,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let reports = runtime.block_on(query::run(&load))?;
    if args.json {
        eprint!("{}", query::table(&reports));
        println!("{}", query::json(&reports));
    } else {
        print!("{}", query::table(&reports));
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => run_generate(args),
        Command::Ingest(args) => run_ingest(args),
        Command::Query(args) => run_query(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("hearth-bench: error: {e:#}");
        ExitCode::from(2)
    })
}

fn run_generate(args: GenerateArgs) -> Result<ExitCode> {
    let config = GenerateConfig {
        use_case: args.use_case,
        scale: args.scale,
        start_ns: args.start,
        duration_ns: args.duration,
        interval_ns: args.interval,
        seed: args.seed,
        dirty: args.dirty,
    };
    if config.start_ns.checked_add(config.duration_ns).is_none() {
        anyhow::bail!("--start + --duration is past the nanosecond range");
    }
    let summary = if args.output == "-" {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        generate(&config, &mut out).context("writing to stdout")?
    } else {
        let file = std::fs::File::create(&args.output)
            .with_context(|| format!("creating {}", args.output))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        generate(&config, &mut out).with_context(|| format!("writing {}", args.output))?
    };
    eprintln!("{}", summary.report(config.use_case));
    Ok(ExitCode::SUCCESS)
}

fn run_ingest(args: IngestArgs) -> Result<ExitCode> {
    let target = Target {
        base_url: args.http,
        db: args.db,
        endpoint: args.endpoint,
        precision: args.precision,
        no_sync: args.no_sync,
        org: args.org,
    };
    let url = ingest::write_url(&target)?;
    let input = ingest::read_input(&args.input)?;
    let batch = usize::try_from(args.batch).unwrap_or(usize::MAX);
    let mut batches = ingest::split_batches(&input, batch, args.limit_rows);
    if batches.is_empty() {
        anyhow::bail!("{}: no line protocol rows", args.input);
    }
    let rows: u64 = batches.iter().map(|b| b.rows).sum();
    let lp_bytes: u64 = batches.iter().map(|b| b.lp_bytes).sum();
    if args.gzip {
        ingest::compress(&mut batches)?;
    }
    eprintln!(
        "hearth-bench: {rows} rows ({lp_bytes} bytes) in {} batches, {} workers -> {url}",
        batches.len(),
        args.workers
    );
    let authorization = args.token.map(|token| match target.endpoint {
        Endpoint::V3 => format!("Bearer {token}"),
        Endpoint::V1 | Endpoint::V2 => format!("Token {token}"),
    });
    let load = Load {
        workers: args.workers as usize,
        gzip: args.gzip,
        duration: args
            .duration
            .map(|ns| Duration::from_nanos(ns.unsigned_abs())),
        timeout: Duration::from_nanos(args.timeout.unsigned_abs()),
        max_retries: args.max_retries,
        authorization,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads as usize)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(ingest::run(url, Arc::new(batches), load))?;
    let text = report.text();
    if args.json {
        eprint!("{text}");
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", report.json()).context("writing the report")?;
    } else {
        print!("{text}");
    }
    Ok(if report.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn command_line() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "hearth-bench",
            "generate",
            "--use-case",
            "smart-home",
            "--scale",
            "10",
            "--duration",
            "1d",
            "--seed",
            "3",
            "--dirty",
            "false",
        ])
        .unwrap();
        let Command::Generate(args) = cli.command else {
            panic!("generate")
        };
        assert!(!args.dirty);
        assert_eq!(args.interval, 10_000_000_000);
        assert_eq!(args.start, 1_451_606_400_000_000_000);
        for bad in [
            &[
                "hearth-bench",
                "generate",
                "--use-case",
                "cpu",
                "--scale",
                "1",
                "--duration",
                "1h",
                "--seed",
                "1",
            ][..],
            &[
                "hearth-bench",
                "generate",
                "--use-case",
                "cpu-only",
                "--scale",
                "-1",
                "--duration",
                "1h",
                "--seed",
                "1",
            ],
            &[
                "hearth-bench",
                "generate",
                "--use-case",
                "cpu-only",
                "--scale",
                "1",
                "--duration",
                "1y",
                "--seed",
                "1",
            ],
            &[
                "hearth-bench",
                "ingest",
                "--db",
                "x",
                "--workers",
                "0",
                "f.lp",
            ],
            &[
                "hearth-bench",
                "ingest",
                "--db",
                "x",
                "--batch",
                "0",
                "f.lp",
            ],
            &[
                "hearth-bench",
                "ingest",
                "--db",
                "x",
                "--endpoint",
                "v4",
                "f.lp",
            ],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
