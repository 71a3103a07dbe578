//! The scheduler: jobs, their run ledger and history, kept in the object store, and the task
//! that runs what [`next`](super::next) says is due.
//!
//! State lives in one object, `_cron/state.json` under the store's root, rewritten after every
//! change (a job scheduled, altered or dropped; a run started or finished), so a restarted or
//! fresh node sees every job, the last scheduled time each finished, any retry it was waiting
//! for, and the run history. A run is recorded as `running` before it starts; one still
//! `running` when the state is loaded was cut short by a crash or a stop, and counts as a failed
//! attempt (retried like any), so a scheduled time is run again only when no attempt of it
//! finished. Writes are idempotent by identity (a row written again replaces itself), so a
//! repeated attempt leaves the same rows.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use hearth_query::engine::{CommandResult, EngineExtension};
use hearth_query::{QueryEngine, QueryError};
use hearth_storage::Storage;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use super::plan::{AfterFailure, Due, Retry, after_failure, next};
use super::schedule::Schedule;
use super::sql::{self, CronCall, CronError, JobRef};

/// Where the scheduler's state is kept, relative to the store's root.
pub const STATE_OBJECT: &str = "_cron/state.json";

/// How the scheduler behaves.
#[derive(Debug, Clone)]
pub struct CronConfig {
    /// Retries of a failed run.
    pub retry: Retry,
    /// Run records kept (the oldest are dropped beyond this).
    pub history: usize,
}

impl Default for CronConfig {
    fn default() -> Self {
        CronConfig {
            retry: Retry::default(),
            history: 10_000,
        }
    }
}

/// A scheduled job (`cron.job`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub jobid: i64,
    pub jobname: Option<String>,
    pub schedule: String,
    pub timezone: String,
    pub command: String,
    pub database: String,
    pub username: String,
    pub active: bool,
    /// When the job was scheduled (it runs for scheduled times after this only).
    pub created: DateTime<Utc>,
    /// The last scheduled time finished (succeeded, or failed after its last attempt).
    pub done: Option<DateTime<Utc>>,
    /// A failed scheduled time waiting for its next attempt.
    pub retry: Option<PendingRetry>,
}

/// A retry the job waits for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingRetry {
    pub scheduled: DateTime<Utc>,
    pub attempt: u32,
    pub at: DateTime<Utc>,
}

impl Job {
    fn parsed(&self) -> Result<Schedule, CronError> {
        Schedule::parse(&self.schedule, &self.timezone)
            .map_err(|e| CronError::invalid(e.to_string()))
    }

    /// Scheduled time `scheduled` is done with (succeeded, or failed for good).
    fn finish(&mut self, scheduled: DateTime<Utc>) {
        self.done = Some(self.done.map_or(scheduled, |d| d.max(scheduled)));
        self.retry = None;
    }

    /// What the job does next at `now`.
    pub fn due(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, u32, Option<DateTime<Utc>>)> {
        if !self.active {
            return None;
        }
        if let Some(r) = self.retry {
            return Some((r.scheduled, r.attempt, (r.at > now).then_some(r.at)));
        }
        let schedule = self.parsed().ok()?;
        match next(&schedule, self.done.unwrap_or(self.created), now) {
            Due::Run(at) => Some((at, 1, None)),
            Due::Wait(t) => Some((t, 1, Some(t))),
            Due::Never => None,
        }
    }
}

/// One attempt of a run (`cron.job_run_details`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub runid: i64,
    pub jobid: i64,
    pub database: String,
    pub username: String,
    pub command: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    pub return_message: Option<String>,
    pub sqlstate: Option<String>,
    pub rows: Option<i64>,
    pub scheduled_time: DateTime<Utc>,
    pub attempt: u32,
    /// Whether `cron.run` started it rather than the schedule.
    pub manual: bool,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    next_jobid: i64,
    next_runid: i64,
    jobs: BTreeMap<i64, Job>,
    runs: VecDeque<RunRecord>,
}

/// Scheduled SQL: the `cron.*` statements, the `cron` tables and the scheduler task.
pub struct Cron {
    storage: Arc<Storage>,
    config: CronConfig,
    engine: OnceLock<Weak<QueryEngine>>,
    me: Weak<Cron>,
    state: Mutex<State>,
    /// Serializes saves, so the stored state never goes back in time.
    saving: tokio::sync::Mutex<()>,
    /// Jobs with an attempt in progress (runs of one job never overlap).
    running: Mutex<HashSet<i64>>,
    wake: Notify,
}

impl std::fmt::Debug for Cron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cron").finish_non_exhaustive()
    }
}

fn failed(code: &'static str, message: String) -> QueryError {
    QueryError::Command { code, message }
}

impl From<CronError> for QueryError {
    fn from(e: CronError) -> QueryError {
        QueryError::Command {
            code: e.code,
            message: e.message,
        }
    }
}

impl Cron {
    /// The scheduler of the jobs kept in `storage`'s object store.
    pub fn new(storage: Arc<Storage>, config: CronConfig) -> Arc<Cron> {
        Arc::new_cyclic(|me| Cron {
            storage,
            config,
            engine: OnceLock::new(),
            me: me.clone(),
            state: Mutex::new(State {
                next_jobid: 1,
                next_runid: 1,
                ..Default::default()
            }),
            saving: tokio::sync::Mutex::new(()),
            running: Mutex::new(HashSet::new()),
            wake: Notify::new(),
        })
    }

    /// Adds the `cron.*` statements and the `cron` schema to `engine` (before it is shared).
    pub fn register(self: &Arc<Self>, engine: &mut QueryEngine) {
        engine.add_extension(self.clone());
        let me = self.clone();
        engine.catalogs().add_schema_factory(
            super::tables::CRON_SCHEMA,
            Arc::new(move |_db: &str| {
                Ok(Arc::new(super::tables::CronSchema::new(me.clone()))
                    as Arc<dyn datafusion::catalog::SchemaProvider>)
            }),
        );
    }

    /// Loads the jobs from the object store; a run left `running` by a crash counts as a
    /// failed attempt. `engine` must have been [registered](Cron::register).
    pub async fn start(self: &Arc<Self>, engine: &Arc<QueryEngine>) -> Result<(), QueryError> {
        let _ = self.engine.set(Arc::downgrade(engine));
        let stored = self
            .storage
            .store()
            .get_root_object(STATE_OBJECT)
            .await
            .map_err(|e| failed("58030", format!("cannot read {STATE_OBJECT}: {e}")))?;
        let Some(bytes) = stored else {
            return Ok(());
        };
        let mut state: State = serde_json::from_slice(&bytes)
            .map_err(|e| failed("XX001", format!("{STATE_OBJECT} is damaged: {e}")))?;
        let now = Utc::now();
        let mut interrupted = 0;
        let State { jobs, runs, .. } = &mut state;
        for run in runs.iter_mut().filter(|r| r.status == "running") {
            interrupted += 1;
            run.status = "failed".into();
            run.return_message = Some("interrupted: the server stopped during the run".into());
            run.sqlstate = Some("57P01".into());
            run.end_time = Some(now);
            if let Some(job) = jobs.get_mut(&run.jobid).filter(|_| !run.manual) {
                settle_failure(
                    job,
                    &self.config.retry,
                    run.scheduled_time,
                    run.attempt,
                    now,
                );
            }
        }
        info!(
            jobs = state.jobs.len(),
            interrupted, "scheduled jobs loaded"
        );
        *self.state.lock() = state;
        if interrupted > 0 {
            self.save().await?;
        }
        Ok(())
    }

    fn engine(&self) -> Result<Arc<QueryEngine>, QueryError> {
        self.engine
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| failed("57P01", "the scheduler is not running".into()))
    }

    /// The jobs, by id.
    pub fn jobs(&self) -> Vec<Job> {
        self.state.lock().jobs.values().cloned().collect()
    }

    /// The run records, oldest first.
    pub fn runs(&self) -> Vec<RunRecord> {
        self.state.lock().runs.iter().cloned().collect()
    }

    /// Writes the state to the object store.
    async fn save(&self) -> Result<(), QueryError> {
        let _saving = self.saving.lock().await;
        let bytes = serde_json::to_vec(&*self.state.lock())
            .map_err(|e| failed("XX000", format!("cannot encode the jobs: {e}")))?;
        self.storage
            .store()
            .put_root_object(STATE_OBJECT, bytes.into())
            .await
            .map_err(|e| failed("58030", format!("cannot save the jobs: {e}")))
    }

    /// Runs the scheduler until `stop` turns true: starts every run that is due (each job's in
    /// order, one at a time per job) and sleeps until the next is.
    pub async fn run_scheduler(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let wake_at = self.start_due(Utc::now());
            let wait = wake_at
                .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(std::time::Duration::from_secs(60))
                .min(std::time::Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => {
                    if *stop.borrow() {
                        return;
                    }
                }
            }
        }
    }

    /// Starts the attempts due at `now`; the earliest instant something else becomes due.
    fn start_due(self: &Arc<Self>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let jobs = self.jobs();
        let mut wake: Option<DateTime<Utc>> = None;
        for job in jobs {
            if self.running.lock().contains(&job.jobid) {
                continue;
            }
            let Some((scheduled, attempt, wait)) = job.due(now) else {
                continue;
            };
            if let Some(t) = wait {
                wake = Some(wake.map_or(t, |w| w.min(t)));
                continue;
            }
            self.running.lock().insert(job.jobid);
            let me = self.clone();
            tokio::spawn(async move {
                let began = std::time::Instant::now();
                if me
                    .attempt(job.jobid, scheduled, attempt, false)
                    .await
                    .is_err()
                {
                    // A run that could not even start (the object store refused the record)
                    // leaves the job due at once: pause rather than spin on it.
                    let spent = began.elapsed();
                    if spent < std::time::Duration::from_secs(1) {
                        tokio::time::sleep(std::time::Duration::from_secs(1) - spent).await;
                    }
                }
                me.running.lock().remove(&job.jobid);
                me.wake.notify_one();
            });
        }
        wake
    }

    /// Runs one attempt of job `jobid` as of `scheduled`, recording it; the run id and, if it
    /// failed, the error.
    async fn attempt(
        &self,
        jobid: i64,
        scheduled: DateTime<Utc>,
        attempt: u32,
        manual: bool,
    ) -> Result<i64, (i64, QueryError)> {
        let engine = self.engine().map_err(|e| (0, e))?;
        let (runid, job) = {
            let mut state = self.state.lock();
            let Some(job) = state.jobs.get(&jobid).cloned() else {
                return Err((0, failed("42704", format!("job {jobid} does not exist"))));
            };
            let runid = state.next_runid;
            state.next_runid += 1;
            state.runs.push_back(RunRecord {
                runid,
                jobid,
                database: job.database.clone(),
                username: job.username.clone(),
                command: job.command.clone(),
                status: "running".into(),
                return_message: None,
                sqlstate: None,
                rows: None,
                scheduled_time: scheduled,
                attempt,
                manual,
                start_time: Utc::now(),
                end_time: None,
            });
            while state.runs.len() > self.config.history {
                state.runs.pop_front();
            }
            (runid, job)
        };
        if let Err(e) = self.save().await {
            warn!(job = jobid, error = %e, "cannot record the start of a run; not running it");
            let mut state = self.state.lock();
            state.runs.retain(|r| r.runid != runid);
            return Err((runid, e));
        }
        info!(job = jobid, run = runid, %scheduled, attempt, "job run starting");
        // In a task of its own, so that a panic in the query fails the run, not the scheduler.
        let run = {
            let engine = engine.clone();
            let (db, command) = (job.database.clone(), job.command.clone());
            tokio::spawn(async move {
                hearth_query::script::run(&engine, &db, &command, scheduled).await
            })
        };
        let outcome = match run.await {
            Ok(result) => result,
            Err(e) => Err(failed("XX000", format!("the run failed: {e}"))),
        };
        let now = Utc::now();
        let result = {
            let mut state = self.state.lock();
            let record = state.runs.iter_mut().find(|r| r.runid == runid);
            let result = match &outcome {
                Ok(done) => {
                    if let Some(r) = record {
                        r.status = "succeeded".into();
                        let tags: Vec<&str> = done.iter().map(|d| d.tag.as_str()).collect();
                        r.return_message = Some(tags.join("; "));
                        r.rows = done.last().and_then(|d| d.rows).map(|n| n as i64);
                        r.end_time = Some(now);
                    }
                    Ok(runid)
                }
                Err(e) => {
                    let (code, message) = e.sqlstate();
                    if let Some(r) = record {
                        r.status = "failed".into();
                        r.sqlstate = Some(code.to_string());
                        r.return_message = Some(message.clone());
                        r.end_time = Some(now);
                    }
                    Err((runid, failed(code, message)))
                }
            };
            if !manual && let Some(job) = state.jobs.get_mut(&jobid) {
                match &outcome {
                    Ok(_) => job.finish(scheduled),
                    Err(_) => settle_failure(job, &self.config.retry, scheduled, attempt, now),
                }
            }
            result
        };
        match &result {
            Ok(_) => info!(job = jobid, run = runid, %scheduled, "job run succeeded"),
            Err((_, e)) => {
                warn!(job = jobid, run = runid, %scheduled, attempt, error = %e, "job run failed")
            }
        }
        if let Err(e) = self.save().await {
            warn!(job = jobid, run = runid, error = %e, "cannot record the end of a run");
        }
        result
    }

    /// Runs a `cron.*` call in database `db`.
    async fn call(&self, db: &str, call: CronCall) -> Result<CommandResult, QueryError> {
        let engine = self.engine()?;
        let result = match call {
            CronCall::Schedule {
                name,
                schedule,
                command,
                database,
                username,
                active,
                timezone,
            } => {
                let in_database = database.is_some();
                let database = database.unwrap_or_else(|| db.to_string());
                if !engine.catalogs().exists(&database) {
                    return Err(QueryError::DatabaseNotFound(database));
                }
                let timezone = timezone.unwrap_or_else(|| "UTC".into());
                Schedule::parse(&schedule, &timezone)
                    .map_err(|e| CronError::invalid(e.to_string()))?;
                let jobid = {
                    let mut state = self.state.lock();
                    let existing = name.as_ref().and_then(|n| {
                        state
                            .jobs
                            .values()
                            .find(|j| j.jobname.as_deref() == Some(n.as_str()))
                            .map(|j| j.jobid)
                    });
                    let jobid = existing.unwrap_or_else(|| {
                        let id = state.next_jobid;
                        state.next_jobid += 1;
                        id
                    });
                    let previous = state.jobs.get(&jobid).cloned();
                    let changed_schedule = previous
                        .as_ref()
                        .is_some_and(|p| p.schedule != schedule || p.timezone != timezone);
                    let now = Utc::now();
                    state.jobs.insert(
                        jobid,
                        Job {
                            jobid,
                            jobname: name,
                            schedule,
                            timezone,
                            command,
                            database,
                            username: username.unwrap_or_else(|| "hearth".into()),
                            active,
                            // A new schedule runs from now on, not for times it never had.
                            created: match &previous {
                                Some(p) if !changed_schedule => p.created,
                                _ => now,
                            },
                            done: previous
                                .as_ref()
                                .filter(|_| !changed_schedule)
                                .and_then(|p| p.done),
                            retry: previous
                                .as_ref()
                                .filter(|_| !changed_schedule)
                                .and_then(|p| p.retry),
                        },
                    );
                    jobid
                };
                self.save().await?;
                let column = if in_database {
                    "schedule_in_database"
                } else {
                    "schedule"
                };
                rows_of(column, Arc::new(Int64Array::from(vec![jobid])))
            }
            CronCall::Unschedule(job) => {
                let jobid = self.resolve(&job)?;
                self.state.lock().jobs.remove(&jobid);
                self.save().await?;
                rows_of("unschedule", Arc::new(BooleanArray::from(vec![true])))
            }
            CronCall::AlterJob {
                id,
                schedule,
                command,
                database,
                username,
                active,
                timezone,
            } => {
                if let Some(d) = &database
                    && !engine.catalogs().exists(d)
                {
                    return Err(QueryError::DatabaseNotFound(d.clone()));
                }
                {
                    let mut state = self.state.lock();
                    let Some(job) = state.jobs.get_mut(&id) else {
                        return Err(no_job(&JobRef::Id(id)));
                    };
                    let mut altered = job.clone();
                    if let Some(s) = schedule {
                        altered.schedule = s;
                    }
                    if let Some(t) = timezone {
                        altered.timezone = t;
                    }
                    altered.parsed()?;
                    if altered.schedule != job.schedule || altered.timezone != job.timezone {
                        altered.created = Utc::now();
                        altered.done = None;
                        altered.retry = None;
                    }
                    if let Some(c) = command {
                        altered.command = c;
                    }
                    if let Some(d) = database {
                        altered.database = d;
                    }
                    if let Some(u) = username {
                        altered.username = u;
                    }
                    if let Some(a) = active {
                        altered.active = a;
                    }
                    *job = altered;
                }
                self.save().await?;
                rows_of("alter_job", Arc::new(StringArray::from(vec![None::<&str>])))
            }
            CronCall::Run { job, at } => {
                let jobid = self.resolve(&job)?;
                let at = parse_instant(&at)?;
                if !self.running.lock().insert(jobid) {
                    return Err(failed(
                        "55006",
                        format!("job {jobid} is running; try again when its run has ended"),
                    ));
                }
                let outcome = self.attempt(jobid, at, 1, true).await;
                self.running.lock().remove(&jobid);
                self.wake.notify_one();
                match outcome {
                    Ok(runid) => rows_of("run", Arc::new(Int64Array::from(vec![runid]))),
                    Err((runid, e)) => {
                        let (code, message) = e.sqlstate();
                        return Err(failed(
                            code,
                            format!("job {jobid} failed (run {runid}): {message}"),
                        ));
                    }
                }
            }
        };
        self.wake.notify_one();
        Ok(result)
    }

    fn resolve(&self, job: &JobRef) -> Result<i64, QueryError> {
        let state = self.state.lock();
        let found = match job {
            JobRef::Id(id) => state.jobs.get(id).map(|j| j.jobid),
            JobRef::Name(name) => state
                .jobs
                .values()
                .find(|j| j.jobname.as_deref() == Some(name.as_str()))
                .map(|j| j.jobid),
        };
        found.ok_or_else(|| no_job(job))
    }
}

/// After a failed attempt of `scheduled`: wait for the next attempt, or give the time up.
fn settle_failure(
    job: &mut Job,
    retry: &Retry,
    scheduled: DateTime<Utc>,
    attempt: u32,
    now: DateTime<Utc>,
) {
    match after_failure(retry, attempt, now) {
        AfterFailure::RetryAt(at) => {
            job.retry = Some(PendingRetry {
                scheduled,
                attempt: attempt + 1,
                at,
            });
        }
        AfterFailure::Failed => job.finish(scheduled),
    }
}

fn no_job(job: &JobRef) -> QueryError {
    let what = match job {
        JobRef::Id(id) => id.to_string(),
        JobRef::Name(n) => format!("'{n}'"),
    };
    // pg_cron's words.
    failed(
        "42704",
        format!("could not find valid entry for job {what}"),
    )
}

/// One row of one column, named as PostgreSQL names a function's result.
fn rows_of(column: &str, values: ArrayRef) -> CommandResult {
    let schema = result_schema(column, values.data_type().clone());
    let batch = RecordBatch::try_new(schema.clone(), vec![values])
        .expect("one column of the schema's own type");
    CommandResult::Rows(schema, vec![batch])
}

fn result_schema(column: &str, data_type: DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(column, data_type, true)]))
}

/// A scheduled time as written in `cron.run`: `2026-12-01 03:00:00+01`, RFC 3339, or a time
/// without offset (UTC).
fn parse_instant(text: &str) -> Result<DateTime<Utc>, QueryError> {
    let t = text.trim();
    let normalized = t.replacen(' ', "T", 1);
    if let Ok(d) = DateTime::parse_from_rfc3339(&normalized) {
        return Ok(d.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(d) = DateTime::parse_from_str(&normalized, format) {
            return Ok(d.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(&normalized, format) {
            return Ok(d.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(failed(
        "22007",
        format!("invalid input syntax for type timestamp with time zone: \"{text}\""),
    ))
}

#[async_trait]
impl EngineExtension for Cron {
    fn recognizes(&self, sql: &str) -> bool {
        sql::recognizes(sql)
    }

    async fn execute(
        &self,
        _engine: &QueryEngine,
        db: &str,
        sql: &str,
    ) -> Result<CommandResult, QueryError> {
        let call = sql::parse(sql)?;
        let this = self
            .me
            .upgrade()
            .ok_or_else(|| failed("57P01", "the scheduler is shutting down".into()))?;
        this.call(db, call).await
    }

    fn result_schema(&self, sql: &str) -> Option<SchemaRef> {
        Some(match sql::parse(sql).ok()? {
            CronCall::Schedule { database, .. } => result_schema(
                if database.is_some() {
                    "schedule_in_database"
                } else {
                    "schedule"
                },
                DataType::Int64,
            ),
            CronCall::Unschedule(_) => result_schema("unschedule", DataType::Boolean),
            CronCall::AlterJob { .. } => result_schema("alter_job", DataType::Utf8),
            CronCall::Run { .. } => result_schema("run", DataType::Int64),
        })
    }

    fn metrics(&self) -> String {
        let state = self.state.lock();
        let count = |status: &str| state.runs.iter().filter(|r| r.status == status).count();
        format!(
            "# HELP hearth_cron_jobs Scheduled jobs.\n# TYPE hearth_cron_jobs gauge\n\
             hearth_cron_jobs {}\n\
             # HELP hearth_cron_runs Job runs in the kept history, by status.\n\
             # TYPE hearth_cron_runs gauge\n\
             hearth_cron_runs{{status=\"succeeded\"}} {}\n\
             hearth_cron_runs{{status=\"failed\"}} {}\n\
             hearth_cron_runs{{status=\"running\"}} {}\n",
            state.jobs.len(),
            count("succeeded"),
            count("failed"),
            count("running"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn instants_in_the_forms_people_write() {
        let want = DateTime::parse_from_rfc3339("2026-12-01T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for text in [
            "2026-12-01 03:00:00+01",
            "2026-12-01 03:00:00+01:00",
            "2026-12-01T02:00:00Z",
            "2026-12-01 02:00:00",
            "2026-12-01 02:00",
        ] {
            assert_eq!(parse_instant(text).unwrap(), want, "{text}");
        }
        assert_eq!(
            parse_instant("2026-12-01").unwrap(),
            want - Duration::hours(2)
        );
        let e = parse_instant("yesterday").unwrap_err();
        assert_eq!(e.sqlstate().0, "22007");
    }

    #[test]
    fn a_failure_waits_then_gives_up() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut job = Job {
            jobid: 1,
            jobname: None,
            schedule: "0 * * * *".into(),
            timezone: "UTC".into(),
            command: "SELECT 1".into(),
            database: "home".into(),
            username: "hearth".into(),
            active: true,
            created: t0,
            done: None,
            retry: None,
        };
        let retry = Retry {
            attempts: 2,
            backoff: Duration::seconds(10),
            max_backoff: Duration::minutes(1),
        };
        let first = t0 + Duration::hours(1);
        assert_eq!(job.due(first), Some((first, 1, None)));
        settle_failure(&mut job, &retry, first, 1, first);
        let again = first + Duration::seconds(10);
        assert_eq!(job.due(first), Some((first, 2, Some(again))));
        assert_eq!(job.due(again), Some((first, 2, None)));
        settle_failure(&mut job, &retry, first, 2, again);
        assert_eq!(job.done, Some(first));
        let second = first + Duration::hours(1);
        assert_eq!(job.due(again), Some((second, 1, Some(second))));
        job.active = false;
        assert_eq!(job.due(second), None);
    }
}
