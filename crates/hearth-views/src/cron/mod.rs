//! Scheduled SQL, in pg_cron's words: the schedule language and the pure rules of what runs
//! when. The SQL surface (`cron.schedule`, `cron.job`, `cron.job_run_details`) and the runner
//! build on these.

mod jobs;
mod plan;
mod schedule;
pub mod sql;
mod tables;
#[cfg(test)]
mod tests;

pub use jobs::{Cron, CronConfig, Job, RunRecord, STATE_OBJECT};
pub use plan::{AfterFailure, Due, Retry, after_failure, next};
pub use schedule::{Schedule, ScheduleError};
