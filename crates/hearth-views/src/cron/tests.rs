use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Every scheduled instant in `(from, to]`.
fn runs(schedule: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = from;
    while let Some(next) = schedule.next_after(t) {
        if next > to {
            break;
        }
        assert!(next > t, "{} went backwards after {t}", schedule.text());
        out.push(next);
        t = next;
    }
    out
}

fn strings(times: &[DateTime<Utc>]) -> Vec<String> {
    times.iter().map(|t| t.to_rfc3339()).collect()
}

#[test]
fn schedules_that_cannot_run_are_refused_with_what_is_wrong() {
    let err = |s: &str| Schedule::parse(s, "UTC").unwrap_err().to_string();
    assert_eq!(
        err("0 3 1 *"),
        "invalid schedule \"0 3 1 *\": expected 5 fields (minute hour day-of-month month \
         day-of-week), found 4"
    );
    assert_eq!(
        err("0 24 * * *"),
        "invalid schedule \"0 24 * * *\": hour field \"24\": 24 is out of range 0-23"
    );
    assert_eq!(
        err("*/0 * * * *"),
        "invalid schedule \"*/0 * * * *\": minute field \"*/0\": step \"0\" is not a positive \
         number"
    );
    assert_eq!(
        err("0 0 * foo *"),
        "invalid schedule \"0 0 * foo *\": month field \"foo\": \"foo\" is not a number or a name"
    );
    assert_eq!(
        err("0 0 5-1 * *"),
        "invalid schedule \"0 0 5-1 * *\": day of month field \"5-1\": range 5-1 is backwards"
    );
    assert_eq!(
        err("0 $ * * *"),
        "invalid schedule \"0 $ * * *\": hour field \"$\": '$' (last day of the month) is only \
         for the day of month"
    );
    assert_eq!(
        err("60 seconds"),
        "invalid schedule \"60 seconds\": an interval schedule is 1 to 59 seconds, not \"60\""
    );
    assert_eq!(
        err("@reboot"),
        "invalid schedule \"@reboot\": unknown macro @reboot"
    );
    assert_eq!(
        Schedule::parse("0 0 * * *", "Mars/Olympus")
            .unwrap_err()
            .to_string(),
        "unknown time zone \"Mars/Olympus\""
    );
    // A date that never exists parses but never runs.
    let never = Schedule::parse("0 0 30 2 *", "UTC").unwrap();
    assert_eq!(never.next_after(utc("2026-01-01T00:00:00Z")), None);
    assert_eq!(
        next(
            &never,
            utc("2026-01-01T00:00:00Z"),
            utc("2030-01-01T00:00:00Z")
        ),
        Due::Never
    );
}

#[test]
fn the_monthly_invoice_job_runs_at_three_in_berlin_on_each_first_of_the_month() {
    let s = Schedule::parse("0 3 1 * *", "Europe/Berlin").unwrap();
    let got = runs(&s, utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"));
    // 03:00 CET is 02:00 UTC; 03:00 CEST (from March 29th to October 25th) is 01:00 UTC.
    assert_eq!(
        strings(&got),
        [
            "2026-01-01T02:00:00+00:00",
            "2026-02-01T02:00:00+00:00",
            "2026-03-01T02:00:00+00:00",
            "2026-04-01T01:00:00+00:00",
            "2026-05-01T01:00:00+00:00",
            "2026-06-01T01:00:00+00:00",
            "2026-07-01T01:00:00+00:00",
            "2026-08-01T01:00:00+00:00",
            "2026-09-01T01:00:00+00:00",
            "2026-10-01T01:00:00+00:00",
            "2026-11-01T02:00:00+00:00",
            "2026-12-01T02:00:00+00:00",
        ]
    );
}

#[test]
fn a_wall_time_skipped_or_repeated_by_daylight_saving_runs_once() {
    let s = Schedule::parse("30 2 * * *", "Europe/Berlin").unwrap();
    // Clocks go forward at 02:00 on March 29th 2026: 02:30 does not exist and runs at 03:30
    // summer time (01:30 UTC), as PostgreSQL reads '2026-03-29 02:30 Europe/Berlin'.
    assert_eq!(
        strings(&runs(
            &s,
            utc("2026-03-27T12:00:00Z"),
            utc("2026-03-30T12:00:00Z")
        )),
        [
            "2026-03-28T01:30:00+00:00",
            "2026-03-29T01:30:00+00:00",
            "2026-03-30T00:30:00+00:00",
        ]
    );
    // Clocks go back at 03:00 on October 25th 2026: 02:30 happens twice and runs once, at the
    // first (summer time, 00:30 UTC).
    assert_eq!(
        strings(&runs(
            &s,
            utc("2026-10-23T12:00:00Z"),
            utc("2026-10-26T12:00:00Z")
        )),
        [
            "2026-10-24T00:30:00+00:00",
            "2026-10-25T00:30:00+00:00",
            "2026-10-26T01:30:00+00:00",
        ]
    );
    // An hourly job runs once per wall-clock hour: 23 times on the short day (02:00 is 03:00)
    // and 24 on the long one (02:00 happens twice and runs once).
    let hourly = Schedule::parse("0 * * * *", "Europe/Berlin").unwrap();
    let day = |d: &str| {
        let midnight = |day: NaiveDate| {
            chrono_tz::Europe::Berlin
                .from_local_datetime(&day.into())
                .unwrap()
                .with_timezone(&Utc)
        };
        let day = NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let (from, to) = (midnight(day), midnight(day + Duration::days(1)));
        runs(
            &hourly,
            from - Duration::seconds(1),
            to - Duration::seconds(1),
        )
    };
    let short = day("2026-03-29");
    assert_eq!(short.len(), 23, "{:?}", strings(&short));
    let long = day("2026-10-25");
    assert_eq!(long.len(), 24, "{:?}", strings(&long));
}

#[test]
fn when_both_day_fields_are_given_either_matches() {
    // "The 13th, and every Friday" (Vixie cron and pg_cron), checked day by day in 2026.
    let s = Schedule::parse("0 0 13 * fri", "UTC").unwrap();
    let got = runs(&s, utc("2025-12-31T23:00:00Z"), utc("2026-12-31T23:59:00Z"));
    let mut want = Vec::new();
    let mut day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    while day.year() == 2026 {
        if day.day() == 13 || day.weekday() == Weekday::Fri {
            want.push(Utc.from_utc_datetime(&day.into()));
        }
        day += Duration::days(1);
    }
    assert_eq!(got, want);
    assert_eq!(got.len(), 61); // 52 Fridays and the nine 13ths that are not Fridays
    // Only one restricted: both must hold (Fridays in January to March at 09:15 and 09:45).
    let s = Schedule::parse("15,45 9 * jan-mar 5", "UTC").unwrap();
    let got = runs(&s, utc("2026-01-01T00:00:00Z"), utc("2026-12-31T00:00:00Z"));
    assert_eq!(got.len(), 2 * 13);
    assert!(
        got.iter()
            .all(|t| t.weekday() == Weekday::Fri && t.month() <= 3)
    );
    // Sunday is 0 and 7.
    let a = Schedule::parse("0 0 * * 0", "UTC").unwrap();
    let b = Schedule::parse("0 0 * * 7", "UTC").unwrap();
    let from = utc("2026-01-01T00:00:00Z");
    let to = utc("2026-03-01T00:00:00Z");
    assert_eq!(runs(&a, from, to), runs(&b, from, to));
    assert_eq!(runs(&a, from, to)[0], utc("2026-01-04T00:00:00Z"));
}

#[test]
fn last_day_of_month_steps_ranges_macros_and_seconds() {
    let s = Schedule::parse("0 23 $ * *", "UTC").unwrap();
    assert_eq!(
        strings(&runs(
            &s,
            utc("2028-01-15T00:00:00Z"),
            utc("2028-04-15T00:00:00Z")
        )),
        [
            "2028-01-31T23:00:00+00:00",
            "2028-02-29T23:00:00+00:00",
            "2028-03-31T23:00:00+00:00",
        ]
    );
    let s = Schedule::parse("5/20 8-10/2 * * *", "UTC").unwrap();
    let got = runs(&s, utc("2026-05-01T00:00:00Z"), utc("2026-05-02T00:00:00Z"));
    assert_eq!(
        got.iter()
            .map(|t| t.format("%H:%M").to_string())
            .collect::<Vec<_>>(),
        ["08:05", "08:25", "08:45", "10:05", "10:25", "10:45"]
    );
    let daily = Schedule::parse("@daily", "UTC").unwrap();
    let explicit = Schedule::parse("0 0 * * *", "UTC").unwrap();
    let (from, to) = (utc("2026-01-01T00:00:00Z"), utc("2026-02-01T00:00:00Z"));
    assert_eq!(runs(&daily, from, to), runs(&explicit, from, to));
    let s = Schedule::parse("10 seconds", "UTC").unwrap();
    assert_eq!(
        s.next_after(utc("2026-05-01T12:00:03Z")),
        Some(utc("2026-05-01T12:00:10Z"))
    );
    assert_eq!(
        s.next_after(utc("2026-05-01T12:00:10Z")),
        Some(utc("2026-05-01T12:00:20Z"))
    );
}

#[test]
fn failed_runs_are_retried_with_doubling_backoff_then_marked_failed() {
    let retry = Retry {
        attempts: 4,
        backoff: Duration::seconds(30),
        max_backoff: Duration::seconds(100),
    };
    let t = utc("2026-02-01T03:00:00Z");
    assert_eq!(
        after_failure(&retry, 1, t),
        AfterFailure::RetryAt(t + Duration::seconds(30))
    );
    assert_eq!(
        after_failure(&retry, 2, t),
        AfterFailure::RetryAt(t + Duration::seconds(60))
    );
    assert_eq!(
        after_failure(&retry, 3, t),
        AfterFailure::RetryAt(t + Duration::seconds(100))
    );
    assert_eq!(after_failure(&retry, 4, t), AfterFailure::Failed);
    let once = Retry {
        attempts: 1,
        ..retry
    };
    assert_eq!(after_failure(&once, 1, t), AfterFailure::Failed);
}

/// A simulated scheduler over six months of an injected clock: the server is up and down at
/// random, crashes in the middle of runs, and some runs fail and are retried. Every scheduled
/// time from the job's creation on must finish exactly once, in order, never before its time
/// and never overlapping another run of the job.
#[test]
fn over_months_of_simulated_time_every_scheduled_time_runs_once_in_order() {
    for (text, tz) in [
        ("0 3 1 * *", "Europe/Berlin"),
        ("*/30 * * * *", "America/New_York"),
        ("15 7-21 * * mon-fri", "Europe/Berlin"),
    ] {
        let schedule = Schedule::parse(text, tz).unwrap();
        let retry = Retry::default();
        let created = utc("2026-01-10T10:07:00Z");
        let end = utc("2026-07-10T00:00:00Z");
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        // The durable ledger: the last scheduled time finished.
        let mut done = created;
        let mut finished: Vec<(DateTime<Utc>, bool)> = Vec::new();
        let mut now = created;
        let mut busy_until = created;
        while now < end {
            // Up for a while, then down (a crash or a stop) for a while.
            let up_until = (now + Duration::minutes(random(60 * 24 * 20) as i64 + 1)).min(end);
            let mut attempt = 1;
            while now < up_until {
                match next(&schedule, done, now) {
                    Due::Never => panic!("{text} stopped"),
                    Due::Wait(at) => now = at.min(up_until),
                    Due::Run(at) => {
                        assert!(at <= now && now >= busy_until, "{text}: run {at} at {now}");
                        let took = Duration::seconds(random(600) as i64 + 1);
                        if now + took > up_until {
                            // Crashed mid-run: the ledger did not move; the same time is due
                            // again after the restart.
                            now = up_until;
                            break;
                        }
                        now += took;
                        busy_until = now;
                        if random(10) == 0 {
                            match after_failure(&retry, attempt, now) {
                                AfterFailure::RetryAt(later) => {
                                    attempt += 1;
                                    now = later;
                                    continue;
                                }
                                AfterFailure::Failed => finished.push((at, false)),
                            }
                        } else {
                            finished.push((at, true));
                        }
                        attempt = 1;
                        done = at;
                    }
                }
            }
            now += Duration::minutes(random(60 * 24 * 5) as i64);
        }
        // Catch up to the end, as the last start would.
        while let Due::Run(at) = next(&schedule, done, end + Duration::days(30)) {
            if at > end {
                break;
            }
            finished.push((at, true));
            done = at;
        }
        let expected = runs(&schedule, created, end);
        let got: Vec<DateTime<Utc>> = finished.iter().map(|(at, _)| *at).collect();
        assert!(!expected.is_empty());
        let first_difference = got.iter().zip(&expected).position(|(g, e)| g != e);
        assert_eq!(
            (got.len(), first_difference),
            (expected.len(), None),
            "{text} {tz}: {:?}",
            first_difference.map(|i| (&got[i.saturating_sub(2)..=i], &expected[i]))
        );
    }
}
