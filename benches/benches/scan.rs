//! Scans of persisted data through the query engine, with and without pruning.
//!
//! A day of TSBS cpu rows (1 000 hosts × 8 640 points, 8.64 M rows, the TSBS query data) is
//! written and persisted in four flushes of six hours each, so the table has four Parquet files
//! whose time ranges do not overlap (as after settling: no merge in any plan). Then, through
//! `QueryEngine` sessions (the planning, the table provider, DataFusion's Parquet scan), each
//! measured iteration runs one query and collects its answer:
//!
//! - `scan/all_rows`: `count(*)` and `sum(usage_user)` of the whole table (nothing to prune;
//!   every value of `usage_user` decoded);
//! - `scan/one_host_hour`: the same for one host and one hour (360 rows): the files outside the
//!   hour are left out by their time range, and row groups and pages by their statistics
//!   (`hostname`, `time`), before the remaining rows are filtered as they are decoded;
//! - `scan/one_host_hour_without_pruning`: the same query in a session with DataFusion's Parquet
//!   pruning, page index and filter pushdown switched off, so the file's rows are decoded and
//!   filtered afterwards. (The files outside the hour are still left out: that is Hearth's own
//!   choice of files, which has no switch.)
//! - `scan/no_file_in_range`: the same for an hour a year before the data: no file is read, so
//!   this is the fixed cost of planning and running the query.
//!
//! Throughput is the table's rows, so the rates compare directly. The answers are checked
//! before measuring.
//!
//! Run: `cargo bench -p hearth-benches --bench scan` (generating and writing the table takes
//! about a minute, and 3 GB of memory for the line protocol).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use hearth_lineproto::Precision;
use hearth_query::QueryEngine;
use hearth_query::engine::read_only;
use hearth_storage::flush::{FlushPolicy, FlushReason};
use hearth_storage::{Storage, StorageConfig, WriteOptions};

const HOSTS: usize = 1_000;
const POINTS: usize = 8_640;
const FLUSHES: usize = 4;
/// Lines per write request.
const BODY_LINES: usize = 50_000;

const OPTIONS: WriteOptions = WriteOptions {
    precision: Precision::Nanosecond,
    accept_partial: false,
    no_sync: true,
};

const ALL_ROWS: &str = "SELECT count(*), sum(usage_user) FROM cpu";
const ONE_HOST_HOUR: &str = "SELECT count(*), sum(usage_user) FROM cpu \
    WHERE hostname = 'host_7' \
    AND time >= '2016-01-01 12:00:00+00' AND time < '2016-01-01 13:00:00+00'";

/// No file holds this hour: what planning and running a query costs without reading rows.
const NO_FILE: &str = "SELECT count(*), sum(usage_user) FROM cpu \
    WHERE hostname = 'host_7' \
    AND time >= '2015-01-01 12:00:00+00' AND time < '2015-01-01 13:00:00+00'";

/// Settings that leave every row of a chosen file to be decoded, then filtered.
const WITHOUT_PRUNING: [&str; 3] = [
    "SET datafusion.execution.parquet.pruning = false",
    "SET datafusion.execution.parquet.enable_page_index = false",
    "SET datafusion.execution.parquet.pushdown_filters = false",
];

struct Table {
    _dir: tempfile::TempDir,
    engine: Arc<QueryEngine>,
    runtime: tokio::runtime::Runtime,
}

impl Table {
    /// The day of rows, persisted in `FLUSHES` files of consecutive time ranges.
    fn open() -> Table {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lines = hearth_benches::cpu_lines(HOSTS, POINTS, 1);
        // Lines are ordered by time, then host: each quarter of them is six hours.
        let lines: Vec<&str> = lines.lines().collect();
        let engine = runtime.block_on(async {
            // A buffer that holds a quarter of the day, flushed only when told.
            let mut config = StorageConfig::in_dir(dir.path());
            config.memory_limit = 8 << 30;
            config.flush = FlushPolicy {
                max_bytes: 4 << 30,
                max_age: Duration::from_secs(3600),
            };
            let storage = Storage::open(config).await.unwrap();
            for part in lines.chunks(lines.len() / FLUSHES) {
                for body in part.chunks(BODY_LINES) {
                    let body = body.join("\n");
                    let out = storage
                        .write_lp("bench", body.as_bytes(), OPTIONS)
                        .await
                        .unwrap();
                    assert!(out.errors.is_empty(), "{:?}", out.errors);
                }
                storage.flush(FlushReason::Shutdown).await.unwrap();
            }
            Arc::new(QueryEngine::new(storage, 1 << 30).unwrap())
        });
        Table {
            _dir: dir,
            engine,
            runtime,
        }
    }

    /// A session on the table, after `settings`.
    fn session(&self, settings: &[&str]) -> SessionContext {
        let ctx = self.engine.session("bench");
        self.runtime.block_on(async {
            for set in settings {
                ctx.sql(set).await.unwrap().collect().await.unwrap();
            }
        });
        ctx
    }

    fn run(&self, ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
        self.runtime.block_on(async {
            ctx.sql_with_options(sql, read_only())
                .await
                .unwrap()
                .collect()
                .await
                .unwrap()
        })
    }

    /// `count(*)` and `sum(usage_user)` of a query's single row.
    fn answer(&self, ctx: &SessionContext, sql: &str) -> (i64, i64) {
        let batches = self.run(ctx, sql);
        let row = batches.iter().find(|b| b.num_rows() > 0).expect("one row");
        (
            row.column(0).as_primitive::<Int64Type>().value(0),
            row.column(1).as_primitive::<Int64Type>().value(0),
        )
    }

    /// The pruning and row counts of the query's Parquet scan, from `EXPLAIN ANALYZE`.
    fn scan_metrics(&self, ctx: &SessionContext, sql: &str) -> String {
        let batches = self.run(ctx, &format!("EXPLAIN ANALYZE {sql}"));
        let plan = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let wanted = [
            "output_rows=",
            "row_groups_pruned_statistics=",
            "page_index_rows_pruned=",
            "pushdown_rows_pruned=",
        ];
        let scan = plan
            .lines()
            .find(|l| l.contains("DataSourceExec"))
            .unwrap_or_default();
        scan.split(", ")
            .filter(|m| {
                wanted
                    .iter()
                    .any(|w| m.trim_start_matches("metrics=[").starts_with(w))
            })
            .map(|m| m.trim_start_matches("metrics=["))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Files the table has, from `system.parquet_files`.
    fn files(&self, ctx: &SessionContext) -> usize {
        let sql = "SELECT path FROM system.parquet_files WHERE table_name = 'cpu'";
        self.run(ctx, sql).iter().map(RecordBatch::num_rows).sum()
    }
}

fn scan(c: &mut Criterion) {
    let table = Table::open();
    let pruned = table.session(&[]);
    let unpruned = table.session(&WITHOUT_PRUNING);

    let files = table.files(&pruned);
    assert_eq!(files, FLUSHES, "one file per flush");
    let all = table.answer(&pruned, ALL_ROWS);
    assert_eq!(all.0, (HOSTS * POINTS) as i64);
    let one = table.answer(&pruned, ONE_HOST_HOUR);
    assert_eq!(one.0, 360, "one host's hour at 10 s");
    assert_eq!(table.answer(&unpruned, ONE_HOST_HOUR), one);
    assert_eq!(table.answer(&unpruned, ALL_ROWS), all);
    assert_eq!(table.answer(&pruned, NO_FILE).0, 0);

    eprintln!(
        "one_host_hour: {}\none_host_hour_without_pruning: {}",
        table.scan_metrics(&pruned, ONE_HOST_HOUR),
        table.scan_metrics(&unpruned, ONE_HOST_HOUR)
    );

    let mut group = c.benchmark_group("scan");
    group.sample_size(20);
    group.throughput(Throughput::Elements((HOSTS * POINTS) as u64));
    group.bench_function("all_rows", |b| {
        b.iter(|| black_box(table.run(&pruned, ALL_ROWS)))
    });
    group.bench_function("one_host_hour", |b| {
        b.iter(|| black_box(table.run(&pruned, ONE_HOST_HOUR)))
    });
    group.bench_function("one_host_hour_without_pruning", |b| {
        b.iter(|| black_box(table.run(&unpruned, ONE_HOST_HOUR)))
    });
    group.bench_function("no_file_in_range", |b| {
        b.iter(|| black_box(table.run(&pruned, NO_FILE)))
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
