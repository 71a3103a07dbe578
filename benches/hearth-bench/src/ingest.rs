//! `hearth-bench ingest`: posts line protocol in batches over HTTP and
//! reports throughput and acknowledgement latency.

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde_json::json;

/// Which write API to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Endpoint {
    /// `POST /api/v3/write_lp?db=NAME&precision=nanosecond` (InfluxDB 3, Hearth)
    V3,
    /// `POST /api/v2/write?bucket=NAME&precision=ns` (InfluxDB 2)
    V2,
    /// `POST /write?db=NAME&precision=ns` (InfluxDB 1)
    V1,
}

/// Precision of the timestamps in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// nanoseconds
    Ns,
    /// microseconds
    Us,
    /// milliseconds
    Ms,
    /// seconds
    S,
}

impl Precision {
    /// The `precision` query parameter of `endpoint`.
    fn param(self, endpoint: Endpoint) -> &'static str {
        match (endpoint, self) {
            (Endpoint::V3, Precision::Ns) => "nanosecond",
            (Endpoint::V3, Precision::Us) => "microsecond",
            (Endpoint::V3, Precision::Ms) => "millisecond",
            (Endpoint::V3, Precision::S) => "second",
            (Endpoint::V1, Precision::Us) => "u",
            (_, Precision::Ns) => "ns",
            (_, Precision::Us) => "us",
            (_, Precision::Ms) => "ms",
            (_, Precision::S) => "s",
        }
    }
}

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL of the server, e.g. `http://127.0.0.1:8086`.
    pub base_url: String,
    /// Database (v1, v3) or bucket (v2).
    pub db: String,
    /// The write API.
    pub endpoint: Endpoint,
    /// Precision of the input timestamps.
    pub precision: Precision,
    /// v3 only: `no_sync=true` (acknowledge before the WAL is synced).
    pub no_sync: bool,
    /// v2 only: the `org` parameter.
    pub org: Option<String>,
}

/// The full write URL of `target`.
pub fn write_url(target: &Target) -> Result<Url> {
    let mut url = Url::parse(&target.base_url)
        .with_context(|| format!("invalid --http URL {:?}", target.base_url))?;
    if url.scheme() != "http" {
        bail!(
            "--http {:?}: only http:// URLs are supported (hearth-bench is built without TLS)",
            target.base_url
        );
    }
    if target.no_sync && target.endpoint != Endpoint::V3 {
        bail!("--no-sync is a parameter of the v3 endpoint only (--endpoint v3)");
    }
    if target.org.is_some() && target.endpoint != Endpoint::V2 {
        bail!("--org is a parameter of the v2 endpoint only (--endpoint v2)");
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    let path = match target.endpoint {
        Endpoint::V3 => "api/v3/write_lp",
        Endpoint::V2 => "api/v2/write",
        Endpoint::V1 => "write",
    };
    let mut url = url.join(path).context("building the write URL")?;
    url.set_query(None);
    {
        let mut query = url.query_pairs_mut();
        let db_param = if target.endpoint == Endpoint::V2 {
            "bucket"
        } else {
            "db"
        };
        query.append_pair(db_param, &target.db);
        if let Some(org) = &target.org {
            query.append_pair("org", org);
        }
        query.append_pair("precision", target.precision.param(target.endpoint));
        if target.no_sync {
            query.append_pair("no_sync", "true");
        }
    }
    Ok(url)
}

/// Reads all of `path` (`-`: stdin) into memory; gzip input is decompressed.
pub fn read_input(path: &str) -> Result<Bytes> {
    let mut data = Vec::new();
    if path == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut data)
            .context("reading stdin")?;
    } else {
        data = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    }
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(&data[..])
            .read_to_end(&mut plain)
            .with_context(|| format!("decompressing {path}"))?;
        data = plain;
    }
    Ok(Bytes::from(data))
}

/// One request body.
#[derive(Debug, Clone)]
pub struct Batch {
    /// What is sent (gzip-compressed with `--gzip`).
    pub body: Bytes,
    /// Line protocol rows in it.
    pub rows: u64,
    /// Bytes of line protocol in it (before compression).
    pub lp_bytes: u64,
}

/// Whether a line is a row (not blank, not a `#` comment).
fn is_row(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    !line.is_empty() && line[0] != b'#'
}

/// Splits `input` into batches of `batch` rows (the last one may be smaller),
/// keeping at most `limit` rows. Blank and comment lines are not rows; they
/// stay in a batch's body when they fall between two of its rows. Bodies are
/// slices of `input`, not copies.
pub fn split_batches(input: &Bytes, batch: usize, limit: Option<u64>) -> Vec<Batch> {
    let batch = batch.max(1) as u64;
    let mut batches = Vec::new();
    let (mut first, mut end, mut rows, mut total) = (None, 0, 0u64, 0u64);
    let mut push = |first: usize, end: usize, rows: u64| {
        batches.push(Batch {
            body: input.slice(first..end),
            rows,
            lp_bytes: (end - first) as u64,
        });
    };
    let mut pos = 0;
    while pos < input.len() && limit.is_none_or(|l| total < l) {
        let line_end = input[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(input.len(), |i| pos + i + 1);
        if is_row(&input[pos..line_end]) {
            first.get_or_insert(pos);
            end = line_end;
            rows += 1;
            total += 1;
            if rows == batch
                && let Some(from) = first.take()
            {
                push(from, end, rows);
                rows = 0;
            }
        }
        pos = line_end;
    }
    if let Some(from) = first {
        push(from, end, rows);
    }
    batches
}

/// Gzip-compresses every body, on all cores.
pub fn compress(batches: &mut [Batch]) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = batches.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batches
            .chunks_mut(chunk)
            .map(|part| {
                scope.spawn(move || -> std::io::Result<()> {
                    for batch in part {
                        let mut encoder = flate2::write::GzEncoder::new(
                            Vec::with_capacity(batch.body.len() / 4),
                            flate2::Compression::default(),
                        );
                        encoder.write_all(&batch.body)?;
                        batch.body = Bytes::from(encoder.finish()?);
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(result) => result.context("gzip")?,
                Err(_) => bail!("gzip thread panicked"),
            }
        }
        Ok(())
    })
}

/// How to send.
#[derive(Debug, Clone)]
pub struct Load {
    /// Concurrent requests.
    pub workers: usize,
    /// The bodies are gzip-compressed.
    pub gzip: bool,
    /// Loop over the batches until this much time has passed.
    pub duration: Option<Duration>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of one batch after 429/503 before it counts as failed.
    pub max_retries: u32,
    /// `Authorization` header value.
    pub authorization: Option<String>,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Rows of acknowledged (2xx) batches.
    pub rows: u64,
    /// Acknowledged batches.
    pub batches: u64,
    /// Line protocol bytes of acknowledged batches (before compression).
    pub lp_bytes: u64,
    /// HTTP requests made, retries included.
    pub requests: u64,
    /// Wall time from the first request to the last response.
    pub elapsed: Duration,
    /// Latency of every request that got a response, nanoseconds, sorted.
    pub latencies_ns: Vec<u64>,
    /// Batches that finally failed (non-2xx response or transport error).
    pub errors: u64,
    /// Requests repeated after a 429 or 503.
    pub retries: u64,
}

/// The `p`-th percentile (0 < p <= 100) of `sorted` by the nearest-rank
/// method: the smallest value with at least p% of the values at or below it.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

fn ms(ns: Option<u64>) -> f64 {
    ns.map_or(0.0, |ns| ns as f64 / 1e6)
}

impl Report {
    fn rates(&self) -> (f64, f64, f64) {
        let secs = self.elapsed.as_secs_f64();
        let per_s = |x: u64| if secs > 0.0 { x as f64 / secs } else { 0.0 };
        (secs, per_s(self.rows), per_s(self.lp_bytes) / 1e6)
    }

    fn latency(&self, p: f64) -> f64 {
        ms(percentile(&self.latencies_ns, p))
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let (secs, rows_per_s, mb_per_s) = self.rates();
        format!(
            "rows         {}\n\
             batches      {}\n\
             elapsed      {secs:.3} s\n\
             throughput   {rows_per_s:.0} rows/s, {mb_per_s:.2} MB/s of line protocol ({} bytes)\n\
             ack latency  p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} requests)\n\
             errors       {}\n\
             retries      {}\n",
            self.rows,
            self.batches,
            self.lp_bytes,
            self.latency(50.0),
            self.latency(90.0),
            self.latency(99.0),
            ms(self.latencies_ns.last().copied()),
            self.requests,
            self.errors,
            self.retries,
        )
    }

    /// The same as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        let (secs, rows_per_s, mb_per_s) = self.rates();
        json!({
            "rows": self.rows,
            "batches": self.batches,
            "bytes": self.lp_bytes,
            "requests": self.requests,
            "elapsed_s": secs,
            "rows_per_s": rows_per_s,
            "mb_per_s": mb_per_s,
            "latency_ms": {
                "p50": self.latency(50.0),
                "p90": self.latency(90.0),
                "p99": self.latency(99.0),
                "max": ms(self.latencies_ns.last().copied()),
            },
            "errors": self.errors,
            "retries": self.retries,
        })
    }
}

/// Error messages printed as they happen; later ones are only counted.
const MAX_PRINTED_ERRORS: usize = 5;

struct Shared {
    client: reqwest::Client,
    url: Url,
    batches: Arc<Vec<Batch>>,
    load: Load,
    next: AtomicUsize,
    deadline: Option<Instant>,
    printed_errors: Mutex<usize>,
}

impl Shared {
    fn report_error(&self, message: String) {
        let mut printed = self
            .printed_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *printed += 1;
        if *printed <= MAX_PRINTED_ERRORS {
            eprintln!("hearth-bench: {message}");
        } else if *printed == MAX_PRINTED_ERRORS + 1 {
            eprintln!("hearth-bench: further errors are only counted");
        }
    }
}

/// How long a 429/503 response asks to wait (seconds, at most 60).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(60.0)))
}

/// `error: cause: cause` (reqwest's Display leaves out the causes).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Wait before retrying when the response has no usable `Retry-After`.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_millis(100);

async fn worker(shared: Arc<Shared>) -> Report {
    let mut stats = Report::default();
    let n = shared.batches.len();
    loop {
        if shared.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let index = match shared.deadline {
            Some(_) => i % n,
            None if i < n => i,
            None => break,
        };
        let batch = &shared.batches[index];
        let mut attempt = 0;
        loop {
            let mut request = shared
                .client
                .post(shared.url.clone())
                .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(batch.body.clone());
            if shared.load.gzip {
                request = request.header(CONTENT_ENCODING, "gzip");
            }
            if let Some(auth) = &shared.load.authorization {
                request = request.header(AUTHORIZATION, auth);
            }
            let sent = Instant::now();
            let result = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(response.headers());
                    response.bytes().await.map(|body| (status, wait, body))
                }
                Err(e) => Err(e),
            };
            let latency = sent.elapsed();
            stats.requests += 1;
            match result {
                Ok((status, wait, body)) => {
                    stats
                        .latencies_ns
                        .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
                    if status.is_success() {
                        stats.rows += batch.rows;
                        stats.lp_bytes += batch.lp_bytes;
                        stats.batches += 1;
                        break;
                    }
                    let retryable = matches!(
                        status,
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                    );
                    if retryable && attempt < shared.load.max_retries {
                        attempt += 1;
                        stats.retries += 1;
                        tokio::time::sleep(wait.unwrap_or(DEFAULT_RETRY_WAIT)).await;
                        continue;
                    }
                    stats.errors += 1;
                    let text = String::from_utf8_lossy(&body);
                    let text: String = text.chars().take(300).collect();
                    shared.report_error(format!("batch {index}: HTTP {status}: {text}"));
                    break;
                }
                Err(e) => {
                    stats.errors += 1;
                    shared.report_error(format!("batch {index}: {}", error_chain(&e)));
                    break;
                }
            }
        }
    }
    stats
}

/// Sends `batches` to `url` as `load` says and measures it.
pub async fn run(url: Url, batches: Arc<Vec<Batch>>, load: Load) -> Result<Report> {
    if batches.is_empty() {
        bail!("the input has no line protocol rows");
    }
    let workers = load.workers.max(1);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(load.timeout)
        .pool_max_idle_per_host(workers)
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")?;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        client,
        url,
        batches,
        deadline: load.duration.map(|d| start + d),
        load,
        next: AtomicUsize::new(0),
        printed_errors: Mutex::new(0),
    });
    let handles: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(worker(shared.clone())))
        .collect();
    let mut report = Report::default();
    for handle in handles {
        let part = handle.await.context("worker task")?;
        report.rows += part.rows;
        report.batches += part.batches;
        report.lp_bytes += part.lp_bytes;
        report.requests += part.requests;
        report.errors += part.errors;
        report.retries += part.retries;
        report.latencies_ns.extend(part.latencies_ns);
    }
    report.elapsed = start.elapsed();
    report.latencies_ns.sort_unstable();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Bytes {
        Bytes::from(
            (0..n)
                .map(|i| format!("m,t=a f={i}i {i}\n"))
                .collect::<String>(),
        )
    }

    #[test]
    fn batches_of_b_lines_with_a_remainder() {
        let input = lines(12);
        let batches = split_batches(&input, 5, None);
        let rows: Vec<u64> = batches.iter().map(|b| b.rows).collect();
        assert_eq!(rows, [5, 5, 2]);
        let joined: Vec<u8> = batches.iter().flat_map(|b| b.body.to_vec()).collect();
        assert_eq!(joined, input.to_vec());
        assert!(batches[0].body.starts_with(b"m,t=a f=0i 0\n"));
        assert!(batches[2].body.starts_with(b"m,t=a f=10i 10\n"));
        assert_eq!(batches[0].lp_bytes, batches[0].body.len() as u64);
        assert_eq!(split_batches(&input, 4, None).len(), 3);
        assert_eq!(split_batches(&input, 100, None).len(), 1);
        assert!(split_batches(&Bytes::new(), 5, None).is_empty());
    }

    #[test]
    fn limit_blank_lines_and_comments() {
        let input = lines(12);
        let limited = split_batches(&input, 5, Some(7));
        let rows: Vec<u64> = limited.iter().map(|b| b.rows).collect();
        assert_eq!(rows, [5, 2]);
        assert!(limited[1].body.ends_with(b"f=6i 6\n"));
        let input = Bytes::from_static(b"# header\n\na 1\n\nb 2\n# note\nc 3");
        let batches = split_batches(&input, 2, None);
        assert_eq!(batches.len(), 2);
        assert_eq!(&batches[0].body[..], b"a 1\n\nb 2\n");
        assert_eq!(&batches[1].body[..], b"c 3");
        assert_eq!(batches[1].rows, 1);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), Some(50));
        assert_eq!(percentile(&values, 90.0), Some(90));
        assert_eq!(percentile(&values, 99.0), Some(99));
        assert_eq!(percentile(&values, 100.0), Some(100));
        assert_eq!(percentile(&values, 0.1), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[1, 2], 50.0), Some(1));
        assert_eq!(percentile(&[1, 2, 3], 50.0), Some(2));
        assert_eq!(percentile(&[10, 20, 30, 40], 90.0), Some(40));
        assert_eq!(percentile(&[], 50.0), None);
        let report = Report {
            latencies_ns: vec![1_000_000, 2_000_000, 3_000_000, 4_000_000],
            rows: 10,
            elapsed: Duration::from_secs(2),
            ..Report::default()
        };
        let json = report.json();
        assert_eq!(json["latency_ms"]["p50"], 2.0);
        assert_eq!(json["latency_ms"]["max"], 4.0);
        assert_eq!(json["rows_per_s"], 5.0);
        assert!(report.text().contains("p99 4.00 ms"));
    }

    #[test]
    fn urls_per_endpoint() {
        let mut target = Target {
            base_url: "http://127.0.0.1:8086".into(),
            db: "my db".into(),
            endpoint: Endpoint::V3,
            precision: Precision::Ns,
            no_sync: true,
            org: None,
        };
        assert_eq!(
            write_url(&target).unwrap().as_str(),
            "http://127.0.0.1:8086/api/v3/write_lp?db=my+db&precision=nanosecond&no_sync=true"
        );
        target.no_sync = false;
        target.endpoint = Endpoint::V2;
        target.org = Some("acme".into());
        target.base_url = "http://host:9999/prefix/".into();
        assert_eq!(
            write_url(&target).unwrap().as_str(),
            "http://host:9999/prefix/api/v2/write?bucket=my+db&org=acme&precision=ns"
        );
        target.org = None;
        target.endpoint = Endpoint::V1;
        target.precision = Precision::Us;
        assert_eq!(
            write_url(&target).unwrap().as_str(),
            "http://host:9999/prefix/write?db=my+db&precision=u"
        );
        target.no_sync = true;
        assert!(write_url(&target).is_err());
        target.no_sync = false;
        target.base_url = "https://example.com".into();
        assert!(write_url(&target).is_err());
        target.base_url = "not a url".into();
        assert!(write_url(&target).is_err());
    }

    #[test]
    fn gzip_round_trip() {
        let input = lines(50);
        let mut batches = split_batches(&input, 20, None);
        compress(&mut batches).unwrap();
        let mut joined = Vec::new();
        for b in &batches {
            assert!(b.body.starts_with(&[0x1f, 0x8b]));
            flate2::read::GzDecoder::new(&b.body[..])
                .read_to_end(&mut joined)
                .unwrap();
        }
        assert_eq!(joined, input.to_vec());
        assert_eq!(
            batches.iter().map(|b| b.lp_bytes).sum::<u64>(),
            input.len() as u64
        );
    }
}
