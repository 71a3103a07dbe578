//! Views in one process: storage, query engine and views over a temporary directory.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use hearth_lineproto::Precision;
use hearth_query::QueryEngine;
use hearth_query::engine::CommandResult;
use hearth_storage::flush::FlushReason;
use hearth_storage::{Storage, StorageConfig, WriteOptions};

use crate::{Views, ViewsConfig};

const SECONDS: WriteOptions = WriteOptions {
    precision: Precision::Second,
    accept_partial: false,
    no_sync: true,
};

struct Node {
    storage: Arc<Storage>,
    engine: Arc<QueryEngine>,
    views: Arc<Views>,
}

async fn open(dir: &std::path::Path) -> Node {
    let storage = Storage::open(StorageConfig::in_dir(dir)).await.unwrap();
    let mut engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    let views = Views::new(
        storage.clone(),
        ViewsConfig {
            settle: Duration::ZERO,
            ..Default::default()
        },
    );
    views.register(&mut engine);
    let engine = Arc::new(engine);
    views.start(&engine).await.unwrap();
    Node {
        storage,
        engine,
        views,
    }
}

impl Node {
    async fn write(&self, body: &str) {
        self.storage
            .write_lp("home", body.as_bytes(), SECONDS)
            .await
            .unwrap();
    }

    async fn run(&self, sql: &str) -> Result<(&'static str, Option<usize>), String> {
        match self.engine.execute_command("home", sql).await {
            Some(Ok(CommandResult::Done(tag, rows))) => Ok((tag, rows)),
            Some(Ok(CommandResult::Rows(..))) => panic!("rows from {sql}"),
            Some(Err(e)) => {
                let (code, message) = e.sqlstate();
                Err(format!("{code}: {message}"))
            }
            None => panic!("not a command: {sql}"),
        }
    }

    /// Rows of `sql`, each as its columns' text, sorted.
    async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let (_, batches) = self
            .engine
            .query("home", sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows_of(&batches)
    }

    async fn stop(self) {
        self.storage.flush(FlushReason::Shutdown).await.unwrap();
    }
}

fn rows_of(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..b.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out.sort();
    out
}

/// Whether two result sets agree, floats within a relative 1e-9.
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

const ENERGY_1M: &str = "SELECT date_bin(INTERVAL '1 minute', time) AS time, household, \
     avg(power_w) AS avg_w, max(power_w) AS max_w, count(*) AS n, sum(power_w) AS total_w, \
     last(power_w, time) AS last_w \
     FROM energy GROUP BY 1, 2";

async fn check(node: &Node, view: &str, definition: &str) {
    let got = node.rows(&format!("SELECT * FROM {view}")).await;
    let want = node.rows(definition).await;
    assert!(same(&got, &want), "{view}:\n got  {got:?}\n want {want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_equals_its_query_before_and_after_refresh_late_data_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path()).await;
    node.write(
        "energy,household=h1 power_w=100 1764000000\n\
         energy,household=h1 power_w=300 1764000010\n\
         energy,household=h2 power_w=50 1764000070\n",
    )
    .await;
    let (tag, rows) = node
        .run(&format!(
            "CREATE MATERIALIZED VIEW energy_1m AS {ENERGY_1M}"
        ))
        .await
        .unwrap();
    assert_eq!((tag, rows), ("SELECT", Some(2)));
    check(&node, "energy_1m", ENERGY_1M).await;
    // New and late rows: pending until refreshed, exact all along.
    node.write(
        "energy,household=h1 power_w=700 1764000020\n\
         energy,household=h3 power_w=1 1764000200\n",
    )
    .await;
    check(&node, "energy_1m", ENERGY_1M).await;
    let pending = node
        .rows("SELECT buckets_pending, late_rows FROM system.views")
        .await;
    assert_eq!(pending, [["2", "1"]], "pending buckets and late rows");
    node.views.maintain_once().await;
    check(&node, "energy_1m", ENERGY_1M).await;
    assert_eq!(
        node.rows("SELECT buckets_pending, status FROM system.views")
            .await,
        [["0", "current"]]
    );
    // An overwrite of an identity and a delete.
    node.write("energy,household=h1 power_w=1000 1764000010\n")
        .await;
    check(&node, "energy_1m", ENERGY_1M).await;
    node.engine
        .execute_command("home", "DELETE FROM energy WHERE household = 'h2'")
        .await
        .unwrap()
        .unwrap();
    check(&node, "energy_1m", ENERGY_1M).await;
    node.views.maintain_once().await;
    check(&node, "energy_1m", ENERGY_1M).await;
    // Conditions on the view's time and keys.
    let narrow = "SELECT household, max_w FROM energy_1m \
                  WHERE time >= '2025-11-24T16:00:00Z' AND household = 'h1'";
    let want = "SELECT household, max(power_w) FROM energy \
                WHERE time >= '2025-11-24T16:00:00Z' AND household = 'h1' \
                GROUP BY household, date_bin(INTERVAL '1 minute', time)";
    assert!(same(&node.rows(narrow).await, &node.rows(want).await));
    // After a restart (the last writes replayed from the WAL).
    node.write("energy,household=h4 power_w=5 1764000300\n")
        .await;
    drop(node);
    let node = open(dir.path()).await;
    check(&node, "energy_1m", ENERGY_1M).await;
    node.views.maintain_once().await;
    check(&node, "energy_1m", ENERGY_1M).await;
    node.stop().await;
    let node = open(dir.path()).await;
    check(&node, "energy_1m", ENERGY_1M).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_over_a_view_equals_its_query_over_the_finer_one() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path()).await;
    let mut body = String::new();
    for i in 0..200 {
        body.push_str(&format!(
            "energy,household=h{} power_w={} {}\n",
            i % 3,
            i * 7 % 50,
            1_764_000_000 + i * 37
        ));
    }
    node.write(&body).await;
    node.run(&format!(
        "CREATE MATERIALIZED VIEW energy_1m AS {ENERGY_1M}"
    ))
    .await
    .unwrap();
    let hourly = "SELECT date_bin(INTERVAL '1 hour', time) AS time, household, \
                  max(max_w) AS max_w, sum(n) AS n, avg(avg_w) AS avg_of_avg \
                  FROM energy_1m GROUP BY 1, 2";
    node.run(&format!("CREATE MATERIALIZED VIEW energy_1h AS {hourly}"))
        .await
        .unwrap();
    check(&node, "energy_1h", hourly).await;
    node.write("energy,household=h1 power_w=999 1764000100\n")
        .await;
    check(&node, "energy_1h", hourly).await;
    node.views.maintain_once().await;
    check(&node, "energy_1h", hourly).await;
    let refused = node.run("DROP MATERIALIZED VIEW energy_1m").await;
    assert!(
        refused.as_ref().is_err_and(|e| e.starts_with("2BP01")),
        "{refused:?}"
    );
    node.run("DROP MATERIALIZED VIEW energy_1m CASCADE")
        .await
        .unwrap();
    assert!(node.rows("SELECT * FROM system.views").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_past_the_retention_period_leave_the_view_as_they_leave_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Two hours ago, and ten minutes ago.
    let old = now - 7200;
    let recent = now - 600;
    node.write(&format!(
        "energy,household=h1 power_w=1 {old}\n\
         energy,household=h1 power_w=2 {}\n\
         energy,household=h1 power_w=4 {recent}\n\
         energy,household=h2 power_w=8 {}\n",
        old + 5,
        recent + 5
    ))
    .await;
    node.run(&format!(
        "CREATE MATERIALIZED VIEW energy_1m AS {ENERGY_1M}"
    ))
    .await
    .unwrap();
    let all = node.rows("SELECT count(*) FROM energy_1m").await;
    assert!(all == [["3"]] || all == [["4"]], "{all:?}");
    node.run("ALTER DATABASE home SET retention = '1 hour'")
        .await
        .unwrap();
    // The raw table hides the old rows at once; so does the view, materialized or not.
    check(&node, "energy_1m", ENERGY_1M).await;
    let sums = node
        .rows("SELECT household, sum(total_w) FROM energy_1m GROUP BY household")
        .await;
    assert_eq!(sums, [["h1", "4.0"], ["h2", "8.0"]]);
    node.views.maintain_once().await;
    check(&node, "energy_1m", ENERGY_1M).await;
    node.run("ALTER DATABASE home RESET retention")
        .await
        .unwrap();
    check(&node, "energy_1m", ENERGY_1M).await;
}
