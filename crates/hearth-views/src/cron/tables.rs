//! Schema `cron` of every database: `cron.job` and `cron.job_run_details`, in pg_cron's
//! columns plus Hearth's (the job's time zone, last and next scheduled time; each run's
//! scheduled time, attempt, rows and SQLSTATE). Jobs are the server's, as pg_cron's are its
//! cluster's, so every database shows them all. Computed when scanned.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use hearth_catalog::schema::{TIME_ZONE, time_type};

use super::jobs::Cron;

/// The schema's name.
pub(crate) const CRON_SCHEMA: &str = "cron";
const JOB: &str = "job";
const RUNS: &str = "job_run_details";

/// Schema `cron` of one database.
#[derive(Debug)]
pub(crate) struct CronSchema {
    cron: Arc<Cron>,
}

impl CronSchema {
    pub(crate) fn new(cron: Arc<Cron>) -> CronSchema {
        CronSchema { cron }
    }
}

#[async_trait]
impl SchemaProvider for CronSchema {
    fn table_names(&self) -> Vec<String> {
        vec![JOB.to_string(), RUNS.to_string()]
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let which = match name {
            JOB => Which::Jobs,
            RUNS => Which::Runs,
            _ => return Ok(None),
        };
        Ok(Some(Arc::new(CronTable {
            cron: self.cron.clone(),
            which,
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == JOB || name == RUNS
    }
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Jobs,
    Runs,
}

/// `cron.job` or `cron.job_run_details`.
#[derive(Debug)]
struct CronTable {
    cron: Arc<Cron>,
    which: Which,
}

fn jobs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("jobid", DataType::Int64, false),
        Field::new("schedule", DataType::Utf8, false),
        Field::new("command", DataType::Utf8, false),
        Field::new("nodename", DataType::Utf8, false),
        Field::new("nodeport", DataType::Int32, false),
        Field::new("database", DataType::Utf8, false),
        Field::new("username", DataType::Utf8, false),
        Field::new("active", DataType::Boolean, false),
        Field::new("jobname", DataType::Utf8, true),
        Field::new("timezone", DataType::Utf8, false),
        Field::new("last_scheduled_time", time_type(), true),
        Field::new("next_scheduled_time", time_type(), true),
    ]))
}

fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("jobid", DataType::Int64, false),
        Field::new("runid", DataType::Int64, false),
        Field::new("job_pid", DataType::Int32, true),
        Field::new("database", DataType::Utf8, false),
        Field::new("username", DataType::Utf8, false),
        Field::new("command", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("return_message", DataType::Utf8, true),
        Field::new("start_time", time_type(), true),
        Field::new("end_time", time_type(), true),
        Field::new("scheduled_time", time_type(), false),
        Field::new("attempt", DataType::Int32, false),
        Field::new("rows", DataType::Int64, true),
        Field::new("sqlstate", DataType::Utf8, true),
        Field::new("manual", DataType::Boolean, false),
    ]))
}

fn times(v: Vec<Option<DateTime<Utc>>>) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from(
            v.into_iter()
                .map(|t| t.map(|t| t.timestamp_micros()))
                .collect::<Vec<_>>(),
        )
        .with_timezone(TIME_ZONE),
    )
}

fn texts<'a>(v: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

impl CronTable {
    fn schema(&self) -> SchemaRef {
        match self.which {
            Which::Jobs => jobs_schema(),
            Which::Runs => runs_schema(),
        }
    }

    fn batch(&self) -> Result<RecordBatch> {
        let now = Utc::now();
        let columns: Vec<ArrayRef> = match self.which {
            Which::Jobs => {
                let jobs = self.cron.jobs();
                vec![
                    Arc::new(Int64Array::from_iter_values(jobs.iter().map(|j| j.jobid))),
                    texts(jobs.iter().map(|j| j.schedule.as_str())),
                    texts(jobs.iter().map(|j| j.command.as_str())),
                    texts(jobs.iter().map(|_| "localhost")),
                    Arc::new(Int32Array::from_iter_values(jobs.iter().map(|_| 0))),
                    texts(jobs.iter().map(|j| j.database.as_str())),
                    texts(jobs.iter().map(|j| j.username.as_str())),
                    Arc::new(BooleanArray::from_iter(jobs.iter().map(|j| Some(j.active)))),
                    Arc::new(StringArray::from_iter(
                        jobs.iter().map(|j| j.jobname.as_deref()),
                    )),
                    texts(jobs.iter().map(|j| j.timezone.as_str())),
                    times(jobs.iter().map(|j| j.done).collect()),
                    times(
                        jobs.iter()
                            .map(|j| j.due(now).map(|(at, _, wait)| wait.unwrap_or(at)))
                            .collect(),
                    ),
                ]
            }
            Which::Runs => {
                let runs = self.cron.runs();
                vec![
                    Arc::new(Int64Array::from_iter_values(runs.iter().map(|r| r.jobid))),
                    Arc::new(Int64Array::from_iter_values(runs.iter().map(|r| r.runid))),
                    Arc::new(Int32Array::from(vec![None; runs.len()])),
                    texts(runs.iter().map(|r| r.database.as_str())),
                    texts(runs.iter().map(|r| r.username.as_str())),
                    texts(runs.iter().map(|r| r.command.as_str())),
                    texts(runs.iter().map(|r| r.status.as_str())),
                    Arc::new(StringArray::from_iter(
                        runs.iter().map(|r| r.return_message.as_deref()),
                    )),
                    times(runs.iter().map(|r| Some(r.start_time)).collect()),
                    times(runs.iter().map(|r| r.end_time).collect()),
                    times(runs.iter().map(|r| Some(r.scheduled_time)).collect()),
                    Arc::new(Int32Array::from_iter_values(
                        runs.iter()
                            .map(|r| i32::try_from(r.attempt).unwrap_or(i32::MAX)),
                    )),
                    Arc::new(Int64Array::from_iter(runs.iter().map(|r| r.rows))),
                    Arc::new(StringArray::from_iter(
                        runs.iter().map(|r| r.sqlstate.as_deref()),
                    )),
                    Arc::new(BooleanArray::from_iter(runs.iter().map(|r| Some(r.manual)))),
                ]
            }
        };
        Ok(RecordBatch::try_new(self.schema(), columns)?)
    }
}

#[async_trait]
impl TableProvider for CronTable {
    fn schema(&self) -> SchemaRef {
        CronTable::schema(self)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![self.batch()?]],
            self.schema(),
            projection.cloned(),
        )?)
    }
}
