//! End-to-end tests of storage + query in one process: writes, merges, flushes, restarts.

mod lastpoint;
mod merge;
mod order;
mod prune;
mod runs;
mod writes;

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use hearth_lineproto::Precision;
use hearth_storage::{Storage, StorageConfig, WriteOptions};

use crate::QueryEngine;

fn config(dir: &std::path::Path) -> StorageConfig {
    StorageConfig::in_dir(dir)
}

const SECONDS: WriteOptions = WriteOptions {
    precision: Precision::Second,
    accept_partial: true,
    no_sync: false,
};

/// The answer to `sql` in database `home`, as a printed table.
async fn table(engine: &QueryEngine, sql: &str) -> String {
    let (_, batches) = engine.query("home", sql).await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// The physical plan of `sql`, as `EXPLAIN` prints it.
async fn physical_plan(engine: &QueryEngine, sql: &str) -> String {
    table(engine, &format!("EXPLAIN {sql}")).await
}

/// A store in a fresh directory (deleted with the returned guard) and an engine over it.
async fn open() -> (tempfile::TempDir, Arc<Storage>, QueryEngine) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    (dir, storage, engine)
}

/// Writes line protocol with times in seconds to database `home`.
async fn write_lines(storage: &Storage, body: &str) {
    storage
        .write_lp("home", body.as_bytes(), SECONDS)
        .await
        .unwrap();
}

/// A fixed-seed xorshift generator: each call gives a number below its argument.
fn xorshift(mut state: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    }
}
