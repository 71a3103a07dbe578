//! What the scheduler does next, as pure functions of the job, what has run and the clock.
//!
//! The scheduler keeps, per job, the last scheduled time it finished (succeeded, or failed
//! after its last retry) in the run ledger. From that alone follow the rules the issue asks
//! for: each scheduled time runs at most once (the ledger moves past it when it finishes, and a
//! run that was started but not finished before a crash is the next one due again, under the
//! same scheduled time); runs missed while the server was down are due one after another, in
//! order, as soon as it starts (catch-up); runs of one job never overlap, since only the single
//! next scheduled time is ever due.

use chrono::{DateTime, Duration, Utc};

use super::schedule::Schedule;

/// What to do next for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Run the job now, as of this scheduled time (`now()` in the job is this time).
    Run(DateTime<Utc>),
    /// Nothing is due until this instant.
    Wait(DateTime<Utc>),
    /// The schedule never fires again.
    Never,
}

/// The job's next step: `done` is the last scheduled time finished, or the time the job was
/// scheduled when it has never run (a job does not run for times before it existed).
pub fn next(schedule: &Schedule, done: DateTime<Utc>, now: DateTime<Utc>) -> Due {
    match schedule.next_after(done) {
        Some(at) if at <= now => Due::Run(at),
        Some(at) => Due::Wait(at),
        None => Due::Never,
    }
}

/// How failed runs are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included (1: no retry).
    pub attempts: u32,
    /// The wait before the first retry; each further retry waits twice as long as the one
    /// before, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 3,
            backoff: Duration::seconds(30),
            max_backoff: Duration::minutes(30),
        }
    }
}

impl Retry {
    /// `retries` retries after the first attempt, the first after `backoff`, each later one
    /// twice as long as the one before, up to 30 minutes (or `backoff`, if longer).
    pub fn with_retries(retries: u32, backoff: std::time::Duration) -> Retry {
        let backoff = Duration::from_std(backoff).unwrap_or(Duration::MAX);
        Retry {
            attempts: retries.saturating_add(1),
            backoff,
            max_backoff: backoff.max(Duration::minutes(30)),
        }
    }
}

/// After a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try the same scheduled time again at this instant.
    RetryAt(DateTime<Utc>),
    /// That was the last attempt: the run is failed and the job moves on.
    Failed,
}

/// What follows attempt number `attempt` (1 for the first) failing at `failed_at`.
pub fn after_failure(retry: &Retry, attempt: u32, failed_at: DateTime<Utc>) -> AfterFailure {
    if attempt >= retry.attempts {
        return AfterFailure::Failed;
    }
    let doublings = attempt.saturating_sub(1).min(30);
    let wait = retry
        .backoff
        .checked_mul(1 << doublings)
        .map_or(retry.max_backoff, |w| w.min(retry.max_backoff));
    AfterFailure::RetryAt(failed_at + wait)
}
