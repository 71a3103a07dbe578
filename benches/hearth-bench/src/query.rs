//! `hearth-bench query`: the TSBS devops queries over the PostgreSQL protocol, with random
//! parameters drawn as TSBS draws them, and latency percentiles per query type.
//!
//! The hosts and the time range are read from the `cpu` table first, so any TSBS cpu-only
//! data set loaded by `ingest` will do. Each iteration runs every selected type once, in
//! turn, so noise falls on all types alike. A query's time is from sending it to having read
//! its last row.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::cpu::CPU_FIELDS;
use crate::rng::XorShift64;

const MINUTE_US: i64 = 60_000_000;
const HOUR_US: i64 = 60 * MINUTE_US;

/// What a query type is drawn from.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Max of `metrics` metrics per minute for `hosts` random hosts over `hours` hours.
    SingleGroupby {
        metrics: usize,
        hosts: usize,
        hours: i64,
    },
    /// Max of all metrics per hour for `hosts` random hosts over 8 hours.
    CpuMaxAll { hosts: usize },
    /// Average of `metrics` metrics per (hour, host) over 12 hours, all hosts.
    DoubleGroupby { metrics: usize },
    /// The rows with usage_user > 90 in 12 hours, of all hosts (0) or `hosts` random ones.
    HighCpu { hosts: usize },
    /// The last row of every host.
    Lastpoint,
    /// Max usage_user per minute of the last 5 minutes before a random time.
    GroupbyOrderbyLimit,
}

/// The TSBS devops query types, by TSBS's names.
pub const QUERY_TYPES: [&str; 11] = [
    "single-groupby-1-1-1",
    "single-groupby-1-1-12",
    "single-groupby-5-1-12",
    "single-groupby-5-8-1",
    "cpu-max-all-8",
    "double-groupby-1",
    "double-groupby-all",
    "high-cpu-all",
    "high-cpu-1",
    "lastpoint",
    "groupby-orderby-limit",
];

fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "single-groupby-1-1-1" => Kind::SingleGroupby {
            metrics: 1,
            hosts: 1,
            hours: 1,
        },
        "single-groupby-1-1-12" => Kind::SingleGroupby {
            metrics: 1,
            hosts: 1,
            hours: 12,
        },
        "single-groupby-5-1-12" => Kind::SingleGroupby {
            metrics: 5,
            hosts: 1,
            hours: 12,
        },
        "single-groupby-5-8-1" => Kind::SingleGroupby {
            metrics: 5,
            hosts: 8,
            hours: 1,
        },
        "cpu-max-all-8" => Kind::CpuMaxAll { hosts: 8 },
        "double-groupby-1" => Kind::DoubleGroupby { metrics: 1 },
        "double-groupby-all" => Kind::DoubleGroupby { metrics: 10 },
        "high-cpu-all" => Kind::HighCpu { hosts: 0 },
        "high-cpu-1" => Kind::HighCpu { hosts: 1 },
        "lastpoint" => Kind::Lastpoint,
        "groupby-orderby-limit" => Kind::GroupbyOrderbyLimit,
        _ => return None,
    })
}

/// TSBS's random choices over the hosts and time range of a data set.
#[derive(Debug)]
pub struct Drawer {
    rng: XorShift64,
    hosts: Vec<String>,
    /// First timestamp, microseconds.
    start_us: i64,
    /// From the first to one past the last timestamp, microseconds.
    span_us: i64,
}

impl Drawer {
    /// A drawer over `hosts` and the timestamps `first_us..=last_us`.
    pub fn new(seed: u64, hosts: Vec<String>, first_us: i64, last_us: i64) -> Self {
        Drawer {
            rng: XorShift64::new(seed),
            hosts,
            start_us: first_us,
            span_us: (last_us - first_us + 1).max(1),
        }
    }

    /// The SQL of one query of type `name` (one of [`QUERY_TYPES`]).
    pub fn draw(&mut self, name: &str) -> Result<String> {
        let Some(kind) = kind(name) else {
            bail!(
                "unknown query type {name:?}; known: {}",
                QUERY_TYPES.join(", ")
            );
        };
        Ok(match kind {
            Kind::SingleGroupby {
                metrics,
                hosts,
                hours,
            } => {
                let (start, end) = self.window(hours * HOUR_US);
                let hosts = self.host_clause(hosts);
                let aggs = aggregates("max", "max", metrics);
                format!(
                    "SELECT date_trunc('minute', time) AS minute, {aggs} FROM cpu \
                     WHERE {hosts} AND time >= {start} AND time < {end} \
                     GROUP BY minute ORDER BY minute ASC"
                )
            }
            Kind::CpuMaxAll { hosts } => {
                let (start, end) = self.window(8 * HOUR_US);
                let hosts = self.host_clause(hosts);
                let aggs = aggregates("max", "max", CPU_FIELDS.len());
                format!(
                    "SELECT date_trunc('hour', time) AS hour, {aggs} FROM cpu \
                     WHERE {hosts} AND time >= {start} AND time < {end} \
                     GROUP BY hour ORDER BY hour"
                )
            }
            Kind::DoubleGroupby { metrics } => {
                let (start, end) = self.window(12 * HOUR_US);
                let aggs = aggregates("avg", "mean", metrics);
                let means: Vec<String> = CPU_FIELDS[..metrics]
                    .iter()
                    .map(|m| format!("mean_{m}"))
                    .collect();
                format!(
                    "WITH cpu_avg AS (SELECT date_trunc('hour', time) AS hour, hostname, {aggs} \
                     FROM cpu WHERE time >= {start} AND time < {end} GROUP BY hour, hostname) \
                     SELECT hour, hostname, {} FROM cpu_avg ORDER BY hour, hostname",
                    means.join(", ")
                )
            }
            Kind::HighCpu { hosts } => {
                let (start, end) = self.window(12 * HOUR_US);
                let hosts = if hosts == 0 {
                    String::new()
                } else {
                    format!(" AND {}", self.host_clause(hosts))
                };
                format!(
                    "SELECT * FROM cpu WHERE usage_user > 90.0 \
                     AND time >= {start} AND time < {end}{hosts}"
                )
            }
            Kind::Lastpoint => {
                "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, time DESC".into()
            }
            Kind::GroupbyOrderbyLimit => {
                let (_, end) = self.window(HOUR_US);
                format!(
                    "SELECT date_trunc('minute', time) AS minute, max(usage_user) AS \
                     max_usage_user FROM cpu WHERE time < {end} \
                     GROUP BY minute ORDER BY minute DESC LIMIT 5"
                )
            }
        })
    }

    /// A random `[start, end)` of `length_us` inside the data (all of it if shorter), as SQL
    /// timestamp literals.
    fn window(&mut self, length_us: i64) -> (String, String) {
        let length = length_us.min(self.span_us);
        let offset = self.rng.range_i64(0, self.span_us - length);
        let start = self.start_us + offset;
        (literal(start), literal(start + length))
    }

    /// `(hostname = 'a' OR ...)` for `n` distinct random hosts (at most all of them).
    fn host_clause(&mut self, n: usize) -> String {
        let mut pool: Vec<usize> = (0..self.hosts.len()).collect();
        let n = n.min(pool.len());
        for i in 0..n {
            let j = i + self.rng.below((pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        let terms: Vec<String> = pool[..n]
            .iter()
            .map(|&i| format!("hostname = '{}'", self.hosts[i].replace('\'', "''")))
            .collect();
        format!("({})", terms.join(" OR "))
    }
}

fn aggregates(function: &str, prefix: &str, metrics: usize) -> String {
    CPU_FIELDS[..metrics]
        .iter()
        .map(|m| format!("{function}({m}) AS {prefix}_{m}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `timestamptz` literal of `us` microseconds since the epoch.
fn literal(us: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default();
    format!("'{}'", t.format("%Y-%m-%d %H:%M:%S%.6f+00"))
}

/// What `query` is asked to do.
#[derive(Debug, Clone)]
pub struct QueryLoad {
    /// `postgres://user@host:port/db`.
    pub url: String,
    /// Query types, in the order they run each iteration.
    pub types: Vec<String>,
    /// Timed runs of each type.
    pub iterations: usize,
    /// Untimed runs of each type first.
    pub warmup: usize,
    /// Seed of the parameter draws.
    pub seed: u64,
}

/// The times of one query type.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeReport {
    /// The type's name.
    pub name: String,
    /// Each timed run.
    pub times: Vec<Duration>,
    /// Rows returned by each timed run.
    pub rows: Vec<usize>,
}

impl TypeReport {
    /// The `p`-th percentile (nearest rank), milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.times.clone();
        sorted.sort();
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
        sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
    }

    fn median_rows(&self) -> usize {
        let mut rows = self.rows.clone();
        rows.sort_unstable();
        rows.get(rows.len() / 2).copied().unwrap_or(0)
    }
}

/// Runs the load; one report per type, in `load.types`' order.
pub async fn run(load: &QueryLoad) -> Result<Vec<TypeReport>> {
    let (client, connection) = tokio_postgres::connect(&load.url, NoTls)
        .await
        .with_context(|| format!("connecting to {}", load.url))?;
    tokio::spawn(connection);
    let range = texts(
        &client,
        "SELECT CAST(extract(epoch FROM min(time)) * 1000000 AS BIGINT), \
         CAST(extract(epoch FROM max(time)) * 1000000 AS BIGINT) FROM cpu",
    )
    .await?;
    let (Some(first), Some(last)) = (
        range
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.parse::<i64>().ok()),
        range
            .first()
            .and_then(|r| r.get(1))
            .and_then(|v| v.parse::<i64>().ok()),
    ) else {
        bail!("table cpu is empty or missing: load TSBS cpu-only data first");
    };
    let hosts: Vec<String> = texts(&client, "SELECT DISTINCT hostname FROM cpu ORDER BY 1")
        .await?
        .into_iter()
        .filter_map(|mut r| r.pop())
        .collect();
    let mut drawer = Drawer::new(load.seed, hosts, first, last);
    let mut reports: Vec<TypeReport> = load
        .types
        .iter()
        .map(|name| TypeReport {
            name: name.clone(),
            times: Vec::new(),
            rows: Vec::new(),
        })
        .collect();
    for iteration in 0..load.warmup + load.iterations {
        for report in &mut reports {
            let sql = drawer.draw(&report.name)?;
            let started = Instant::now();
            let messages = client
                .simple_query(&sql)
                .await
                .with_context(|| format!("{}: {sql}", report.name))?;
            let elapsed = started.elapsed();
            let rows = messages
                .iter()
                .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
                .count();
            if iteration >= load.warmup {
                report.times.push(elapsed);
                report.rows.push(rows);
            }
        }
    }
    Ok(reports)
}

/// The text values of the rows of `sql`.
async fn texts(client: &tokio_postgres::Client, sql: &str) -> Result<Vec<Vec<String>>> {
    Ok(client
        .simple_query(sql)
        .await
        .with_context(|| sql.to_string())?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or_default().to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// The reports as a Markdown table.
pub fn table(reports: &[TypeReport]) -> String {
    let mut out = String::from(
        "| query | runs | rows | p50 ms | p99 ms | min ms | max ms |\n|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            r.name,
            r.times.len(),
            r.median_rows(),
            r.percentile_ms(50.0),
            r.percentile_ms(99.0),
            r.percentile_ms(0.0),
            r.percentile_ms(100.0),
        ));
    }
    out
}

/// The reports as JSON.
pub fn json(reports: &[TypeReport]) -> serde_json::Value {
    serde_json::Value::Array(
        reports
            .iter()
            .map(|r| {
                json!({
                    "type": r.name,
                    "runs": r.times.len(),
                    "rows": r.median_rows(),
                    "p50_ms": r.percentile_ms(50.0),
                    "p99_ms": r.percentile_ms(99.0),
                    "min_ms": r.percentile_ms(0.0),
                    "max_ms": r.percentile_ms(100.0),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawer(seed: u64) -> Drawer {
        let hosts = (0..20).map(|i| format!("host_{i}")).collect();
        // 2016-01-01 00:00:00 .. 23:59:50, every 10 s.
        Drawer::new(seed, hosts, 1_451_606_400_000_000, 1_451_692_790_000_000)
    }

    #[test]
    fn draws_are_deterministic_from_the_seed() {
        let a: Vec<String> = QUERY_TYPES
            .iter()
            .map(|t| drawer(7).draw(t).unwrap())
            .collect();
        let b: Vec<String> = QUERY_TYPES
            .iter()
            .map(|t| drawer(7).draw(t).unwrap())
            .collect();
        assert_eq!(a, b);
        let mut d = drawer(7);
        let c: Vec<String> = (0..5).map(|_| d.draw("high-cpu-1").unwrap()).collect();
        assert!(c.windows(2).any(|w| w[0] != w[1]), "{c:?}");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let report = TypeReport {
            name: "t".into(),
            times: [5, 1, 4, 2, 3].map(Duration::from_millis).to_vec(),
            rows: vec![1, 1, 2, 2, 2],
        };
        assert_eq!(report.percentile_ms(50.0), 3.0);
        assert_eq!(report.percentile_ms(99.0), 5.0);
        assert_eq!(report.percentile_ms(0.0), 1.0);
        assert_eq!(report.median_rows(), 2);
    }

    #[test]
    fn windows_lie_inside_the_data_and_hosts_are_distinct() {
        let mut d = drawer(3);
        for _ in 0..200 {
            let sql = d.draw("single-groupby-5-8-1").unwrap();
            assert_eq!(sql.matches("hostname = ").count(), 8, "{sql}");
            let mut hosts: Vec<&str> = sql
                .split("hostname = '")
                .skip(1)
                .map(|s| s.split('\'').next().unwrap())
                .collect();
            hosts.sort_unstable();
            hosts.dedup();
            assert_eq!(hosts.len(), 8, "{sql}");
            let times: Vec<&str> = sql
                .split("time >= '")
                .nth(1)
                .into_iter()
                .chain(sql.split("time < '").nth(1))
                .map(|s| s.split('\'').next().unwrap())
                .collect();
            let parse = |t: &str| {
                chrono::DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%#z")
                    .unwrap()
                    .timestamp_micros()
            };
            let (start, end) = (parse(times[0]), parse(times[1]));
            assert_eq!(end - start, HOUR_US, "{sql}");
            assert!(start >= 1_451_606_400_000_000, "{sql}");
            assert!(end <= 1_451_692_800_000_000, "{sql}");
        }
        // More hosts asked for than there are: each of them once.
        let mut few = Drawer::new(1, vec!["a".into(), "b".into()], 0, 10);
        let clause = few.host_clause(8);
        assert_eq!(clause.matches("hostname = 'a'").count(), 1, "{clause}");
        assert_eq!(clause.matches("hostname = 'b'").count(), 1, "{clause}");
        assert_eq!(clause.matches(" OR ").count(), 1, "{clause}");
    }
}
