//! View maintenance: the cost of materializing new data into a continuous view must follow the
//! new data (the buckets it touches), not the size of the table under the view.
//!
//! For each table size N (`HEARTH_BENCH_VIEW_ROWS`, default `1000000,16000000`): N rows of
//! smart-home power readings (1000 households, one reading per household every 10 s) are
//! written and persisted, `energy_1m` (a one-minute rollup per household) is created and
//! backfilled; then each measured iteration appends new readings after the last ones and
//! times `REFRESH MATERIALIZED VIEW energy_1m` (appending is not timed). Two groups:
//!
//! - `view_refresh_fixed/N`: 10 000 new rows each time (the same new data whatever N);
//! - `view_refresh_1pct/N`: 1 % of N new rows each time.
//!
//! Run: `cargo bench -p hearth-benches --bench views` (a few minutes; the 16 M-row table is
//! written once per group).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hearth_lineproto::Precision;
use hearth_query::QueryEngine;
use hearth_storage::flush::FlushReason;
use hearth_storage::{Storage, StorageConfig, WriteOptions};
use hearth_views::{Views, ViewsConfig};

const HOUSEHOLDS: u64 = 1000;
const STEP_S: u64 = 10;
const T0_S: u64 = 1_767_225_600; // 2026-01-01

const VIEW: &str = "CREATE MATERIALIZED VIEW energy_1m AS \
    SELECT date_bin(INTERVAL '1 minute', time) AS time, household, count(*) AS n, \
    sum(power_w) AS total_w, max(power_w) AS peak_w, avg(power_w) AS mean_w, \
    last(power_w, time) AS last_w FROM energy GROUP BY 1, 2";

struct Bench {
    _dir: tempfile::TempDir,
    storage: Arc<Storage>,
    engine: Arc<QueryEngine>,
    _views: Arc<Views>,
    /// Readings written per household so far.
    written: u64,
    runtime: tokio::runtime::Runtime,
}

const OPTIONS: WriteOptions = WriteOptions {
    precision: Precision::Second,
    accept_partial: false,
    no_sync: true,
};

impl Bench {
    /// `rows` readings: the next `rows / HOUSEHOLDS` of each household.
    fn append(&mut self, rows: u64) {
        let per = (rows / HOUSEHOLDS).max(1);
        let mut body = String::with_capacity(64 * 100_000);
        let mut pending = 0;
        for i in self.written..self.written + per {
            let t = T0_S + i * STEP_S;
            for h in 0..HOUSEHOLDS {
                let w = (h * 7919 + i * 104_729) % 5000;
                body.push_str(&format!("energy,household=h{h:04} power_w={w} {t}\n"));
                pending += 1;
                if pending == 100_000 {
                    self.write(&body);
                    body.clear();
                    pending = 0;
                }
            }
        }
        if !body.is_empty() {
            self.write(&body);
        }
        self.written += per;
    }

    fn write(&self, body: &str) {
        let out = self
            .runtime
            .block_on(self.storage.write_lp("bench", body.as_bytes(), OPTIONS))
            .unwrap();
        assert!(out.errors.is_empty());
    }

    fn sql(&self, sql: &str) {
        self.runtime
            .block_on(self.engine.execute_command("bench", sql))
            .expect("a command")
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn open(rows: u64) -> Bench {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (storage, engine, views) = runtime.block_on(async {
            let storage = Storage::open(StorageConfig::in_dir(dir.path()))
                .await
                .unwrap();
            let mut engine = QueryEngine::new(storage.clone(), 1 << 30).unwrap();
            let views = Views::new(storage.clone(), ViewsConfig::default());
            views.register(&mut engine);
            let engine = Arc::new(engine);
            views.start(&engine).await.unwrap();
            (storage, engine, views)
        });
        let mut bench = Bench {
            _dir: dir,
            storage,
            engine,
            _views: views,
            written: 0,
            runtime,
        };
        let began = Instant::now();
        bench.append(rows);
        bench
            .runtime
            .block_on(bench.storage.flush(FlushReason::Shutdown))
            .unwrap();
        let written = began.elapsed();
        let began = Instant::now();
        bench.sql(VIEW);
        eprintln!(
            "table of {rows} rows: written and persisted in {:.1} s, view backfilled in {:.1} s",
            written.as_secs_f64(),
            began.elapsed().as_secs_f64()
        );
        bench
    }
}

fn sizes() -> Vec<u64> {
    std::env::var("HEARTH_BENCH_VIEW_ROWS")
        .unwrap_or_else(|_| "1000000,16000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("row counts"))
        .collect()
}

fn refresh(c: &mut Criterion, group_name: &str, new_rows: impl Fn(u64) -> u64) {
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    for n in sizes() {
        let mut bench = Bench::open(n);
        let added = new_rows(n);
        group.throughput(Throughput::Elements(added));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iterations| {
                let mut spent = Duration::ZERO;
                for _ in 0..iterations {
                    bench.append(added);
                    let began = Instant::now();
                    bench.sql("REFRESH MATERIALIZED VIEW energy_1m");
                    spent += began.elapsed();
                }
                spent
            })
        });
    }
    group.finish();
}

fn views(c: &mut Criterion) {
    refresh(c, "view_refresh_fixed", |_| 10_000);
    refresh(c, "view_refresh_1pct", |n| n / 100);
}

criterion_group!(benches, views);
criterion_main!(benches);
