//! Scheduled SQL, in pg_cron's words: the schedule language and the pure rules of what runs
//! when. The SQL surface (`cron.schedule`, `cron.job`, `cron.job_run_details`) and the runner
//! build on these.

mod plan;
mod schedule;
pub mod sql;
#[cfg(test)]
mod tests;

pub use plan::{AfterFailure, Due, Retry, after_failure, next};
pub use schedule::{Schedule, ScheduleError};
