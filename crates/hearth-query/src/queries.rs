//! Running and recent queries (`system.queries`), and the statement timeout.
//!
//! Every physical plan Hearth's planner makes is wrapped in [`TrackedExec`], which enters the
//! query into the [`QueryLog`] as it is planned. Its output streams count rows and stop with
//! SQLSTATE 57014 when the statement timeout passes (a timer wakes them even while the plan
//! waits); when the plan and its streams are gone, the entry moves to the recent queries with
//! its outcome and the bytes the Parquet scans read. Front ends tell the plan its SQL text and
//! the session's timeout through a [`StatementContext`] in the session config.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{FutureExt, Stream, StreamExt};
use hearth_catalog::schema::{TIME_ZONE, time_type};
use parking_lot::Mutex;

/// How many finished queries `system.queries` keeps.
const RECENT: usize = 200;

/// The message PostgreSQL gives for a statement timeout (SQLSTATE 57014).
pub const TIMEOUT_MESSAGE: &str = "canceling statement due to statement timeout";

/// What the front end knows about the statement being planned: set in the session config.
#[derive(Debug, Clone, Default)]
pub struct StatementContext {
    /// The SQL text as the client sent it.
    pub text: String,
    /// The session's statement timeout (`SET statement_timeout`; zero: none); `None` for the
    /// server's.
    pub timeout: Option<Duration>,
}

/// How a query ended.
#[derive(Debug, Clone)]
enum Outcome {
    Running,
    Finished,
    Failed(String),
    Cancelled,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    db: String,
    text: String,
    started: SystemTime,
    clock: Instant,
    rows: AtomicU64,
    state: Mutex<(Outcome, Option<Duration>, u64)>,
}

/// The queries running now and the most recent finished ones.
#[derive(Debug, Default)]
pub struct QueryLog {
    next_id: AtomicU64,
    running: Mutex<BTreeMap<u64, Arc<Entry>>>,
    recent: Mutex<VecDeque<Arc<Entry>>>,
}

/// The columns of `system.queries`.
pub fn queries_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("query_id", DataType::Int64, false),
        Field::new("query_text", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("started", time_type(), false),
        Field::new("duration_ms", DataType::Float64, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("bytes_scanned", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
    ]))
}

impl QueryLog {
    fn begin(&self, db: &str, text: String) -> Arc<Entry> {
        let entry = Arc::new(Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            db: db.to_string(),
            text,
            started: SystemTime::now(),
            clock: Instant::now(),
            rows: AtomicU64::new(0),
            state: Mutex::new((Outcome::Running, None, 0)),
        });
        self.running.lock().insert(entry.id, entry.clone());
        entry
    }

    fn finish(&self, entry: &Arc<Entry>, outcome: Outcome, bytes: u64) {
        *entry.state.lock() = (outcome, Some(entry.clock.elapsed()), bytes);
        self.running.lock().remove(&entry.id);
        let mut recent = self.recent.lock();
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(entry.clone());
    }

    /// The rows of `system.queries` for database `db`: running queries first, then the recent
    /// ones, newest first.
    pub fn batch(&self, db: &str) -> Result<RecordBatch> {
        let running: Vec<Arc<Entry>> = self.running.lock().values().rev().cloned().collect();
        let recent: Vec<Arc<Entry>> = self.recent.lock().iter().rev().cloned().collect();
        let entries: Vec<Arc<Entry>> = running
            .into_iter()
            .chain(recent)
            .filter(|e| e.db == db)
            .collect();
        let mut states = Vec::new();
        let mut durations = Vec::new();
        let mut bytes = Vec::new();
        let mut errors = Vec::new();
        for e in &entries {
            let (outcome, duration, scanned) = e.state.lock().clone();
            let duration = duration.unwrap_or_else(|| e.clock.elapsed());
            states.push(match outcome {
                Outcome::Running => "running",
                Outcome::Finished => "finished",
                Outcome::Failed(_) => "failed",
                Outcome::Cancelled => "cancelled",
            });
            durations.push(duration.as_secs_f64() * 1e3);
            bytes.push(i64::try_from(scanned).unwrap_or(i64::MAX));
            errors.push(match outcome {
                Outcome::Failed(m) => Some(m),
                _ => None,
            });
        }
        let micros = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        };
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|e| e.id as i64),
            )),
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|e| &e.text),
            )),
            Arc::new(StringArray::from(states)),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    entries.iter().map(|e| micros(e.started)),
                )
                .with_timezone(TIME_ZONE),
            ),
            Arc::new(Float64Array::from(durations)),
            Arc::new(Int64Array::from_iter_values(
                entries
                    .iter()
                    .map(|e| e.rows.load(Ordering::Relaxed) as i64),
            )),
            Arc::new(Int64Array::from(bytes)),
            Arc::new(StringArray::from(errors)),
        ];
        Ok(RecordBatch::try_new(queries_schema(), arrays)?)
    }
}

/// A planned query's entry while its plan or any of its streams is alive; when the last of
/// them goes, the entry moves to the recent queries.
#[derive(Debug)]
struct Tracking {
    entry: Arc<Entry>,
    log: Arc<QueryLog>,
    timeout: Option<Duration>,
    open: AtomicUsize,
}

impl Tracking {
    /// Records how a stream ended: a failure wins over a cancellation, which wins over a
    /// normal end.
    fn record(&self, outcome: Outcome) {
        let mut state = self.entry.state.lock();
        let rank = |o: &Outcome| match o {
            Outcome::Running => 0,
            Outcome::Finished => 1,
            Outcome::Cancelled => 2,
            Outcome::Failed(_) => 3,
        };
        if rank(&outcome) > rank(&state.0) {
            state.0 = outcome;
        }
    }
}

impl Drop for Tracking {
    fn drop(&mut self) {
        let (outcome, _, bytes) = self.entry.state.lock().clone();
        // Still running: the plan was never executed, or dropped before its streams ended.
        let outcome = match outcome {
            Outcome::Running => Outcome::Cancelled,
            other => other,
        };
        self.log.finish(&self.entry, outcome, bytes);
    }
}

/// The root of every plan: its query in the log, and the statement timeout.
#[derive(Debug)]
pub struct TrackedExec {
    inner: Arc<dyn ExecutionPlan>,
    tracking: Arc<Tracking>,
}

/// A query entered into the log, before its plan exists (so that it sees itself in
/// `system.queries`).
#[derive(Debug, Clone)]
pub struct Tracker(Arc<Tracking>);

impl Tracker {
    /// Marks the query failed (its planning failed).
    pub fn fail(&self, message: String) {
        self.0.record(Outcome::Failed(message));
    }
}

impl QueryLog {
    /// Enters a query of database `db`; `timeout` (the session's, else the server's) counts
    /// from now.
    pub fn track(self: &Arc<Self>, db: &str, text: String, timeout: Option<Duration>) -> Tracker {
        Tracker(Arc::new(Tracking {
            entry: self.begin(db, text),
            log: self.clone(),
            timeout,
            open: AtomicUsize::new(0),
        }))
    }
}

impl TrackedExec {
    /// `inner`, the plan of the query `tracker` entered.
    pub fn new(inner: Arc<dyn ExecutionPlan>, tracker: Tracker) -> TrackedExec {
        TrackedExec {
            inner,
            tracking: tracker.0,
        }
    }
}

impl DisplayAs for TrackedExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TrackedExec: query_id={}", self.tracking.entry.id)
    }
}

impl ExecutionPlan for TrackedExec {
    fn name(&self) -> &str {
        "TrackedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.inner]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Ok([inner]) = <[Arc<dyn ExecutionPlan>; 1]>::try_from(children) else {
            return Err(DataFusionError::Internal(
                "TrackedExec takes one child".into(),
            ));
        };
        Ok(Arc::new(TrackedExec {
            inner,
            tracking: self.tracking.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let tracking = self.tracking.clone();
        // A zero timeout is none (`SET statement_timeout = 0`).
        let deadline = tracking.timeout.filter(|t| !t.is_zero()).map(|t| {
            let remaining = t.saturating_sub(tracking.entry.clock.elapsed());
            Box::pin(tokio::time::sleep(remaining))
        });
        let inner = self.inner.execute(partition, context)?;
        tracking.open.fetch_add(1, Ordering::SeqCst);
        Ok(Box::pin(TrackedStream {
            inner,
            deadline,
            tracking,
            plan: self.inner.clone(),
            outcome: None,
        }))
    }
}

/// One output stream of a tracked plan.
struct TrackedStream {
    inner: SendableRecordBatchStream,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    tracking: Arc<Tracking>,
    plan: Arc<dyn ExecutionPlan>,
    /// How this stream ended, once it has.
    outcome: Option<Outcome>,
}

/// Bytes the plan's scans read (the Parquet reader's `bytes_scanned`).
pub(crate) fn bytes_scanned(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let own = plan
        .metrics()
        .and_then(|m| m.sum_by_name("bytes_scanned"))
        .map_or(0, |v| v.as_usize() as u64);
    own + plan
        .children()
        .iter()
        .map(|c| bytes_scanned(c))
        .sum::<u64>()
}

impl Drop for TrackedStream {
    fn drop(&mut self) {
        // A stream dropped before its end: the client went away or cancelled.
        let outcome = self.outcome.take().unwrap_or(Outcome::Cancelled);
        self.tracking.record(outcome);
        if self.tracking.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.tracking.entry.state.lock().2 = bytes_scanned(&self.plan);
        }
    }
}

impl Stream for TrackedStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.outcome.is_some() {
            return Poll::Ready(None);
        }
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.poll_unpin(cx).is_ready()
        {
            self.outcome = Some(Outcome::Failed(TIMEOUT_MESSAGE.into()));
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(
                StatementTimeout,
            )))));
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(batch))) => {
                self.tracking
                    .entry
                    .rows
                    .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                Poll::Ready(Some(Ok(batch)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.outcome = Some(Outcome::Failed(crate::error::datafusion_sqlstate(&e).1));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.outcome = Some(Outcome::Finished);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl RecordBatchStream for TrackedStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

/// The statement ran longer than its timeout.
#[derive(Debug)]
pub struct StatementTimeout;

impl fmt::Display for StatementTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TIMEOUT_MESSAGE)
    }
}

impl std::error::Error for StatementTimeout {}
