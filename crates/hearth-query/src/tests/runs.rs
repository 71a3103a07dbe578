//! Partial aggregation by runs against DataFusion's hashing partial aggregate.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::physical_plan::{ExecutionPlan, collect, displayable};
use datafusion::prelude::SessionContext;
use hearth_storage::flush::FlushReason;

use super::{open, physical_plan, write_lines, xorshift};
use crate::QueryEngine;
use crate::runs::{GATHER_BATCHES, Outgoing, RunAggregateExec};

/// `plan` with every [`RunAggregateExec`] put back to the aggregate it replaced.
fn hashing(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    plan.transform_up(|node| {
        Ok(match node.downcast_ref::<RunAggregateExec>() {
            Some(runs) => Transformed::yes(Arc::new(runs.aggregate().clone()) as _),
            None => Transformed::no(node),
        })
    })
    .data()
    .unwrap()
}

/// The rows `plan`'s [`RunAggregateExec`] hashed, once it ran.
fn rows_hashed(plan: &Arc<dyn ExecutionPlan>) -> usize {
    let mut hashed = 0;
    plan.apply(|node| {
        if node.downcast_ref::<RunAggregateExec>().is_some() {
            hashed += node
                .metrics()
                .and_then(|m| m.sum_by_name("rows_hashed"))
                .map_or(0, |v| v.as_usize());
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .unwrap();
    hashed
}

/// The [`RunAggregateExec`] of `plan`.
fn run_aggregate(plan: &Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    let mut found = None;
    plan.apply(|node| {
        if node.downcast_ref::<RunAggregateExec>().is_some() {
            found = Some(node.clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .unwrap();
    found.expect("a RunAggregateExec")
}

/// The rows into a plan's [`RunAggregateExec`], and partition by partition the rows of each
/// batch it lets out, from two copies of the plan (a repartition runs once).
async fn output_batches(
    ctx: &SessionContext,
    plan: &Arc<dyn ExecutionPlan>,
    copy: &Arc<dyn ExecutionPlan>,
) -> (usize, Vec<Vec<usize>>) {
    let runs = run_aggregate(plan);
    let input = run_aggregate(copy).children()[0].clone();
    let rows = async |plan: &Arc<dyn ExecutionPlan>, p| {
        let stream = plan.execute(p, ctx.task_ctx()).unwrap();
        let batches = datafusion::physical_plan::common::collect(stream)
            .await
            .unwrap();
        batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>()
    };
    let (mut rows_in, mut partitions) = (0, Vec::new());
    for p in 0..runs.properties().output_partitioning().partition_count() {
        rows_in += rows(&input, p).await.iter().sum::<usize>();
        partitions.push(rows(&runs, p).await);
    }
    (rows_in, partitions)
}

/// The answer of `plan`, printed.
async fn answer(ctx: &SessionContext, plan: Arc<dyn ExecutionPlan>) -> String {
    let batches = collect(plan, ctx.task_ctx()).await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// Grouping by tags and time buckets, with any aggregate DataFusion can accumulate by group:
/// each query's plan aggregates by runs, and answers what the hashing aggregate answers, for
/// batch sizes that cut runs anywhere, over files, the buffer and rows merged between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregating_by_runs_answers_what_hashing_answers() {
    let (_dir, storage, engine) = open().await;
    // 4 homes × 3 rooms, and one series per home without a room (a null key), at 10 s for 3
    // hours, written in three parts with a flush after each of the first two: the third repeats
    // and overwrites points of the first hour, so the scan merges files and buffer there.
    // Temperatures are quarters (sums are exact in any order); some points have no temperature
    // (the series without a room none at all), some no state.
    let mut next = xorshift(0x2545_f491_4f6c_dd1d_u64);
    let start = 1_714_557_600_i64;
    let parts = [(0, 3600), (3600, 10_800), (1800, 4000)];
    for (i, (from, to)) in parts.into_iter().enumerate() {
        let mut body = String::new();
        for home in ["h1", "h2", "h3", "h4"] {
            for room in [",room=kitchen", ",room=bath", ",room=hall", ""] {
                for t in (from..to).step_by(10) {
                    let mut fields = vec![format!("hum={}i", 30 + next(50))];
                    if next(10) > 0 && !room.is_empty() {
                        fields.push(format!("temp={}", 15.0 + next(40) as f64 / 4.0));
                    }
                    if next(3) > 0 {
                        fields.push(format!(
                            "state=\"{}\"",
                            ["on", "off", "eco"][next(3) as usize]
                        ));
                    }
                    let line = format!(
                        "climate,home={home}{room} {} {}\n",
                        fields.join(","),
                        start + t
                    );
                    body.push_str(&line);
                }
            }
        }
        write_lines(&storage, &body).await;
        if i < 2 {
            storage.flush(FlushReason::Age).await.unwrap();
        }
    }
    let queries = [
        "SELECT date_trunc('hour', time) AS hour, home, avg(temp), count(*), count(temp), \
         sum(hum), min(hum), max(temp), round(stddev(hum), 9) FROM climate \
         GROUP BY hour, home ORDER BY hour, home",
        "SELECT room, count(*) FILTER (WHERE hum > 50), max(state), min(state), avg(hum) \
         FROM climate GROUP BY room ORDER BY room",
        "SELECT date_trunc('hour', time) AS hour, room, sum(temp), avg(temp), count(temp), \
         min(hum) FROM climate GROUP BY hour, room ORDER BY hour, room",
        "SELECT date_bin(INTERVAL '15 minutes', time) AS b, home, room, sum(temp), count(state), \
         min(time), max(time) \
         FROM climate WHERE time >= to_timestamp(1714558000) AND time < to_timestamp(1714566000) \
         AND room <> 'hall' GROUP BY b, home, room ORDER BY b, home, room",
        "SELECT time_bucket(INTERVAL '20 minutes', time) AS b, max(hum), bool_and(temp > 20) \
         FROM climate GROUP BY b ORDER BY b",
        "SELECT date_trunc('minute', time) AS m, count(*), sum(hum), max(hum) FROM climate \
         GROUP BY m ORDER BY m",
    ];
    // Aggregates without a kernel (`FILTER`, `stddev`, `bool_and`, `min` and `max` of floats
    // and strings) add row by row; the others a run at a time.
    let row_by_row = [
        vec!["stddev", "max(climate.temp)"],
        vec!["FILTER", "max(climate.state)", "min(climate.state)"],
        vec![],
        vec![],
        vec!["bool_and"],
        vec![],
    ];
    // Files and buffer overlap: the scan declares no order, so every query's runs are merged by
    // key.
    for (sql, row_by_row) in queries.iter().zip(&row_by_row) {
        check(&engine, sql, row_by_row, true, &[]).await;
    }
    // Compacted, the files are sorted by home, room, time: where home leads the keys, groups
    // come in order and leave as they complete.
    storage.flush(FlushReason::Age).await.unwrap();
    storage.compact().await.unwrap();
    let merged = [false, true, true, false, true, true];
    for ((sql, row_by_row), merged) in queries.iter().zip(&row_by_row).zip(merged) {
        check(&engine, sql, row_by_row, merged, &[]).await;
    }
    // Keys that do not run long in series order stay with the hashing aggregate.
    for sql in [
        "SELECT hum, count(*) FROM climate GROUP BY hum",
        "SELECT time, home, avg(temp) FROM climate GROUP BY time, home",
        "SELECT home, array_agg(temp ORDER BY time) FROM climate GROUP BY home",
    ] {
        let plan = physical_plan(&engine, sql).await;
        assert!(!plan.contains("RunAggregateExec"), "{sql}\n{plan}");
    }
}

/// Where the aggregate reads the files alone, the tags it groups by and uses for nothing else
/// are read as dictionaries, whose keys mark the runs; the answers are the hashing aggregate's,
/// conditions on those tags included.
#[test]
fn closed_groups_leave_at_the_batch_size_or_after_gathering_long_enough() {
    let schema = Arc::new(Schema::new(vec![Field::new("g", DataType::Int64, false)]));
    let groups = |from: i64, n: i64| {
        let column = Arc::new(Int64Array::from_iter_values(from..from + n));
        RecordBatch::try_new(schema.clone(), vec![column]).unwrap()
    };
    let leaving = |out: &mut Outgoing| {
        let mut batches = Vec::new();
        while let Some(batch) = out.next() {
            let values = batch.column(0).as_primitive::<Int64Type>();
            batches.push(values.values().to_vec());
        }
        batches
    };
    let mut out = Outgoing::new(schema.clone(), 10);
    // Input batches of 10 rows closing a few groups each: full batches, in order.
    out.push(groups(0, 3)).unwrap();
    out.read(10).unwrap();
    out.push(groups(3, 3)).unwrap();
    out.read(10).unwrap();
    assert!(leaving(&mut out).is_empty());
    out.push(groups(6, 3)).unwrap();
    out.read(10).unwrap();
    out.push(groups(9, 1)).unwrap();
    out.read(10).unwrap();
    assert_eq!(leaving(&mut out), vec![(0..10).collect::<Vec<_>>()]);
    // Wide groups: those gathered leave once GATHER_BATCHES input batches were read since the
    // first arrived, not when 10 are closed.
    out.push(groups(100, 1)).unwrap();
    for i in 1..GATHER_BATCHES {
        out.read(10).unwrap();
        assert!(leaving(&mut out).is_empty(), "{i}");
    }
    out.push(groups(101, 1)).unwrap();
    out.read(10).unwrap();
    assert_eq!(leaving(&mut out), vec![vec![100, 101]]);
    // Input read with nothing waiting does not count.
    for _ in 0..2 * GATHER_BATCHES {
        out.read(10).unwrap();
    }
    out.push(groups(102, 1)).unwrap();
    out.read(10).unwrap();
    assert!(leaving(&mut out).is_empty());
    // The end lets out whatever is gathered.
    out.push(groups(200, 2)).unwrap();
    out.flush().unwrap();
    out.flush().unwrap();
    assert_eq!(leaving(&mut out), vec![vec![102, 200, 201]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_grouped_by_are_read_as_dictionaries() {
    let (_dir, storage, engine) = open().await;
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15_u64);
    let start = 1_714_557_600_i64;
    let mut body = String::new();
    for home in ["h1", "h2", "h3", "h4"] {
        for room in [",room=kitchen", ",room=bath", ""] {
            for t in (0..7200).step_by(10) {
                let line = format!(
                    "climate,home={home}{room} hum={}i,temp={} {}\n",
                    30 + next(50),
                    15.0 + next(40) as f64 / 4.0,
                    start + t
                );
                body.push_str(&line);
            }
        }
    }
    write_lines(&storage, &body).await;
    storage.flush(FlushReason::Age).await.unwrap();
    let checks: [(&str, &[&str], bool, &[&str]); 6] = [
        // `room` does not lead the files' order: its runs are merged by key, or hashed row by
        // row where they prove short, both with the dictionary made strings first.
        (
            "SELECT room, count(*), sum(hum) FROM climate GROUP BY room ORDER BY room",
            &[],
            true,
            &["room"],
        ),
        (
            // `avg` and `stddev` share a cast of `hum`, computed in a projection below.
            "SELECT date_trunc('hour', time) AS hour, home, avg(temp), count(*), sum(hum), \
             max(hum), avg(hum), round(stddev(hum), 9) FROM climate GROUP BY hour, home \
             ORDER BY hour, home",
            &["stddev"],
            false,
            &["home"],
        ),
        (
            "SELECT room, home, min(temp), count(temp) FROM climate \
             WHERE home IN ('h1', 'h3', 'h4') AND room <> 'bath' GROUP BY room, home \
             ORDER BY room, home",
            &["min(climate.temp)"],
            false,
            &["room", "home"],
        ),
        (
            "SELECT date_bin(INTERVAL '25 minutes', time) AS b, home, room, sum(temp) \
             FROM climate WHERE home = 'h2' OR room = 'kitchen' GROUP BY b, home, room \
             ORDER BY b, home, room",
            &[],
            false,
            &["home", "room"],
        ),
        // A tag also used otherwise (an aggregate's argument, a `FILTER`) stays a string.
        (
            "SELECT home, room, count(*), max(home) FROM climate GROUP BY home, room \
             ORDER BY home, room",
            &["max(climate.home)"],
            false,
            &["room"],
        ),
        (
            "SELECT home, room, count(*) FILTER (WHERE room = 'bath') FROM climate \
             GROUP BY home, room ORDER BY home, room",
            &["FILTER"],
            false,
            &["home"],
        ),
    ];
    for (sql, row_by_row, merged, dictionaries) in checks {
        check(&engine, sql, row_by_row, merged, dictionaries).await;
    }
}

/// Checks that `sql` aggregates by runs, with `row_by_row` the aggregates that add row by row,
/// `merged` whether the runs are merged by key and `dictionaries` the keys read as
/// dictionaries, and that it answers what the hashing aggregate answers, with batches that cut
/// runs anywhere. Grouping by minute (runs of 6 rows) hashes rows where runs are merged.
async fn check(
    engine: &QueryEngine,
    sql: &str,
    row_by_row: &[&str],
    merged: bool,
    dictionaries: &[&str],
) {
    let short = sql.contains("'minute'");
    let plan = physical_plan(engine, sql).await;
    let runs = plan
        .lines()
        .find(|l| l.contains("RunAggregateExec"))
        .unwrap_or_else(|| panic!("{sql}\n{plan}"));
    assert_eq!(runs.contains("runs merged by key"), merged, "{runs}");
    let read_as_dictionaries = runs
        .split_once("runs of dictionary keys [")
        .map(|(_, keys)| keys.split(']').next().unwrap_or_default());
    let expected = (!dictionaries.is_empty()).then(|| dictionaries.join(", "));
    assert_eq!(read_as_dictionaries, expected.as_deref(), "{plan}");
    assert_eq!(
        runs.matches("row by row").count(),
        row_by_row.len(),
        "{runs}"
    );
    for name in row_by_row {
        assert!(runs.contains(name), "{name}: {runs}");
    }
    for batch_size in [13, 100, 8192] {
        let ctx = engine.session("home");
        ctx.sql(&format!(
            "SET datafusion.execution.batch_size = {batch_size}"
        ))
        .await
        .unwrap();
        // A plan runs once (its repartitions keep their state), so each answer has its own.
        let plan = async || {
            ctx.sql(sql)
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap()
        };
        let by_runs = plan().await;
        let shown = displayable(by_runs.as_ref()).indent(false).to_string();
        assert!(shown.contains("RunAggregateExec"), "{shown}");
        let by_runs_plan = by_runs.clone();
        let by_runs = answer(&ctx, by_runs).await;
        // Runs of 13 rows or fewer are short: where they are merged, rows are hashed instead.
        let hashed = rows_hashed(&by_runs_plan);
        if merged && (short || batch_size == 13) {
            assert!(hashed > 0, "{sql}, batches of {batch_size}");
        } else if !merged || !short && batch_size == 8192 {
            assert_eq!(hashed, 0, "{sql}, batches of {batch_size}");
        }
        let by_hashing = answer(&ctx, hashing(plan().await)).await;
        assert_eq!(by_runs, by_hashing, "{sql}, batches of {batch_size}");
        if !merged {
            // Groups leave gathered, not as the few each input batch closes: a batch leaves full
            // (batch size) or after GATHER_BATCHES batches' worth of input, and once at the end
            // of each partition.
            let (rows_in, sizes) = output_batches(&ctx, &plan().await, &plan().await).await;
            let groups: usize = sizes.iter().flatten().sum();
            let most = groups / batch_size + rows_in / (GATHER_BATCHES * batch_size) + sizes.len();
            let batches: usize = sizes.iter().map(Vec::len).sum();
            assert!(
                batches <= most,
                "{sql}, batches of {batch_size}, {rows_in} rows in: {sizes:?}"
            );
        }
        assert!(by_runs.lines().count() > 6, "{by_runs}");
    }
}
