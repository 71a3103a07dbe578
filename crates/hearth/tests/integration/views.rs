//! Continuous views against the real binary, differentially: random steps
//! (in-order, late, duplicate and overwriting points over HTTP, SQL `INSERT` and `COPY FROM`;
//! deletes; `REFRESH`; graceful restarts and `kill -9`), with the background maintainer
//! refreshing concurrently. After every step each view must equal its defining query over what
//! the server holds at that moment: a view over the raw table, one over that view, and a
//! filtered one without tags. The seed is fixed (`HEARTH_VIEWS_SEED` overrides it, and
//! `HEARTH_VIEWS_ROUNDS` the number of steps); a failure names the seed and the step.
//!
//! The suite runs 500 steps: each step compares three views with their queries (six queries,
//! about 0.1 s each in a debug build, growing with the data), so 1,200 steps take 21 minutes
//! here. Longer runs: `HEARTH_VIEWS_ROUNDS=3000 cargo test --release -p hearth --test
//! integration -- views::` (see the README's testing section).

use std::path::Path;

use chrono::DateTime;

use crate::server::{Server, http};

/// The views: (name, defining query).
const VIEWS: [(&str, &str); 3] = [
    (
        "m_1m",
        "SELECT date_bin(INTERVAL '1 minute', time) AS time, dev, count(*) AS n, sum(v) AS total, \
         min(v) AS lo, max(v) AS hi, avg(v) AS mean, first(v, time) AS first_v, \
         last(v, time) AS last_v, counter_increase(c, time) AS inc \
         FROM m GROUP BY 1, 2",
    ),
    (
        "m_10m",
        "SELECT date_bin(INTERVAL '10 minutes', time) AS time, dev, sum(n) AS n, \
         sum(total) AS total, max(hi) AS hi, min(lo) AS lo, last(last_v, time) AS last_v, \
         avg(mean) AS mean_of_means \
         FROM m_1m GROUP BY 1, 2",
    ),
    (
        "m_busy_5m",
        "SELECT time_bucket(INTERVAL '5 minutes', time) AS time, count(v) AS n, \
         approx_distinct(dev) AS devs, stddev(v) AS sd, max(c) AS top \
         FROM m WHERE v > 20 GROUP BY 1",
    ),
];

/// Seconds of the first point.
const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// xorshift64: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the test has written so far, to pick late and overwriting points from.
struct Written {
    /// Identities written: (device, seconds).
    points: Vec<(u64, i64)>,
    /// The latest in-order time.
    frontier: i64,
    /// Each device's counter.
    counters: [f64; 5],
}

impl Written {
    /// A point to write: in order, late, or over an earlier identity.
    fn point(&mut self, rng: &mut Rng) -> (u64, i64, f64, f64) {
        let (dev, t) = match rng.below(10) {
            0..=4 => {
                self.frontier += rng.below(8) as i64;
                (rng.below(5), self.frontier)
            }
            5..=7 => (
                rng.below(5),
                T0 + rng.below((self.frontier - T0 + 1) as u64) as i64,
            ),
            _ if !self.points.is_empty() => {
                self.points[rng.below(self.points.len() as u64) as usize]
            }
            _ => (rng.below(5), self.frontier),
        };
        let counter = &mut self.counters[dev as usize];
        *counter = if rng.chance(3) {
            (rng.below(4) as f64) * 0.5 // a meter reset
        } else {
            *counter + rng.below(9) as f64 * 0.25
        };
        self.points.push((dev, t));
        // Quarters: sums are exact in binary floating point.
        (dev, t, rng.below(200) as f64 * 0.25, *counter)
    }
}

fn timestamp(seconds: i64) -> String {
    DateTime::from_timestamp(seconds, 0)
        .expect("in range")
        .format("%Y-%m-%d %H:%M:%S+00")
        .to_string()
}

/// A query's rows as text, sorted.
pub(crate) async fn rows(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Vec<Vec<String>>, String> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| format!("{sql}: {e:?}"))?;
    let mut out = Vec::new();
    for m in messages {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            out.push(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            );
        }
    }
    out.sort();
    Ok(out)
}

/// Whether two results agree, floats within a relative (or, near zero, absolute) 1e-9.
fn same(a: &[Vec<String>], b: &[Vec<String>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| {
                    p == q
                        || match (p.parse::<f64>(), q.parse::<f64>()) {
                            (Ok(u), Ok(v)) => (u - v).abs() <= 1e-9 * u.abs().max(v.abs()).max(1.0),
                            _ => false,
                        }
                })
        })
}

fn start(dir: &Path) -> Server {
    Server::start(
        dir,
        &[
            "--view-refresh-interval",
            "200ms",
            "--view-settle",
            "0s",
            "--flush-interval",
            "2s",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_equal_their_queries_through_random_writes_deletes_refreshes_and_crashes() {
    let seed: u64 = std::env::var("HEARTH_VIEWS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1e55);
    let rounds: usize = std::env::var("HEARTH_VIEWS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let write_url = server.url("/api/v3/write_lp?db=home&precision=s");
    let first = format!("m,dev=d0 v=1,c=0 {T0}\n");
    let r = http().post(&write_url).body(first).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let mut client = server.pg("home").await;
    for (name, query) in VIEWS {
        client
            .batch_execute(&format!("CREATE MATERIALIZED VIEW {name} AS {query}"))
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
    }
    let mut written = Written {
        points: vec![(0, T0)],
        frontier: T0,
        counters: [0.0; 5],
    };
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut spent = std::collections::BTreeMap::<&str, std::time::Duration>::new();
    for round in 0..rounds {
        let began = std::time::Instant::now();
        let at = || format!("seed {seed}, step {round}");
        let step = rng.below(100);
        let what = match step {
            0..=54 => {
                let mut body = String::new();
                for _ in 0..1 + rng.below(12) {
                    let (dev, t, v, c) = written.point(&mut rng);
                    let line = format!("m,dev=d{dev} v={v},c={c} {t}\n");
                    body.push_str(&line);
                    if rng.chance(10) {
                        body.push_str(&line); // a duplicate in the same body
                    }
                }
                let url = server.url("/api/v3/write_lp?db=home&precision=s");
                let r = http().post(&url).body(body).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 204, "{}", at());
                "http write"
            }
            55..=66 => {
                let mut values = Vec::new();
                for _ in 0..1 + rng.below(4) {
                    let (dev, t, v, c) = written.point(&mut rng);
                    values.push(format!("('d{dev}', {v}, {c}, '{}')", timestamp(t)));
                }
                let sql = format!(
                    "INSERT INTO m (dev, v, c, time) VALUES {}",
                    values.join(", ")
                );
                client
                    .batch_execute(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {sql}: {e:?}", at()));
                "insert"
            }
            67..=72 => {
                let mut csv = String::new();
                for _ in 0..1 + rng.below(6) {
                    let (dev, t, v, c) = written.point(&mut rng);
                    csv.push_str(&format!("d{dev},{v},{c},{}\n", timestamp(t)));
                }
                let sink = client
                    .copy_in("COPY m (dev, v, c, time) FROM STDIN WITH (FORMAT csv)")
                    .await
                    .unwrap_or_else(|e| panic!("{}: copy: {e:?}", at()));
                futures_sink(sink, csv)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", at()));
                "copy"
            }
            73..=78 => {
                let lo = T0 + rng.below((written.frontier - T0 + 1) as u64) as i64;
                let hi = lo + 1 + rng.below(300) as i64;
                let sql = format!(
                    "DELETE FROM m WHERE dev = 'd{}' AND time >= '{}' AND time < '{}'",
                    rng.below(5),
                    timestamp(lo),
                    timestamp(hi)
                );
                client
                    .batch_execute(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {sql}: {e:?}", at()));
                "delete"
            }
            79..=86 => {
                let (name, _) = VIEWS[rng.below(VIEWS.len() as u64) as usize];
                client
                    .batch_execute(&format!("REFRESH MATERIALIZED VIEW {name}"))
                    .await
                    .unwrap_or_else(|e| panic!("{}: refresh {name}: {e:?}", at()));
                "refresh"
            }
            87..=94 => {
                // Let the maintainer run (it refreshes every 200 ms).
                tokio::time::sleep(std::time::Duration::from_millis(rng.below(400))).await;
                "pause"
            }
            95..=97 => {
                drop(client); // a graceful stop waits for open sessions
                assert!(server.stop().success(), "{}: graceful stop", at());
                server = start(dir.path());
                client = server.pg("home").await;
                "restart"
            }
            _ => {
                // kill -9, maybe while the maintainer is writing a view's files.
                tokio::time::sleep(std::time::Duration::from_millis(rng.below(300))).await;
                server.kill9();
                server = start(dir.path());
                client = server.pg("home").await;
                "kill -9"
            }
        };
        *counts.entry(what).or_default() += 1;
        *spent.entry(what).or_default() += began.elapsed();
        let began = std::time::Instant::now();
        for (name, query) in VIEWS {
            let got = rows(&client, &format!("SELECT * FROM {name}")).await;
            let want = rows(&client, query).await;
            let (got, want) = match (got, want) {
                (Ok(g), Ok(w)) => (g, w),
                (g, w) => panic!("{} after {what}: {name}: {g:?} / {w:?}", at()),
            };
            assert!(
                same(&got, &want),
                "{} after {what}: view {name} differs from its query\n got  {got:?}\n want {want:?}\nlog:\n{}",
                at(),
                server.log()
            );
        }
        *spent.entry("compare").or_default() += began.elapsed();
    }
    // The run did what it says.
    let views = rows(
        &client,
        "SELECT view_name, refreshes > 0, late_rows > 0 FROM system.views",
    )
    .await
    .unwrap();
    println!("steps: {counts:?}; time: {spent:?}; views: {views:?}");
    for what in [
        "http write",
        "insert",
        "copy",
        "delete",
        "refresh",
        "restart",
        "kill -9",
    ] {
        assert!(
            counts.get(what).copied().unwrap_or(0) > 0,
            "no {what} step ran"
        );
    }
    let raw = rows(&client, "SELECT count(*) FROM m").await.unwrap();
    assert!(raw[0][0].parse::<usize>().unwrap() > 1000, "{raw:?}");
    // COPY out over the extended protocol too (tokio-postgres' copy_out).
    let out = client
        .copy_out("COPY (SELECT count(*) FROM m) TO STDOUT")
        .await
        .unwrap();
    use futures::TryStreamExt;
    let chunks: Vec<bytes::Bytes> = out.try_collect().await.unwrap();
    let text: String = chunks
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert_eq!(text, format!("{}\n", raw[0][0]));
}

/// Sends `csv` through a `COPY FROM STDIN` sink and finishes it.
async fn futures_sink(
    sink: tokio_postgres::CopyInSink<bytes::Bytes>,
    csv: String,
) -> Result<u64, String> {
    use futures::SinkExt;
    let mut sink = Box::pin(sink);
    sink.send(bytes::Bytes::from(csv))
        .await
        .map_err(|e| format!("copy data: {e:?}"))?;
    sink.as_mut()
        .finish()
        .await
        .map_err(|e| format!("copy end: {e:?}"))
}
