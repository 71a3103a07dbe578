//! Cron schedules in pg_cron's syntax, evaluated in a time zone.
//!
//! A schedule is five fields, `minute hour day-of-month month day-of-week`, each a list of `*`,
//! `n`, `a-b`, with an optional `/step` (`*/15`, `1-31/2`, `5/10` = `5-59/10`); months and days
//! of the week also by name (`jan`, `mon`), Sunday as `0` or `7`, and `$` for the last day of
//! the month (pg_cron's extension). As in Vixie cron and pg_cron, when both day fields are
//! restricted a day matches either of them (`0 0 13 * 5`: the 13th and every Friday). The
//! macros `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight` and `@hourly`, and
//! pg_cron's `'N seconds'` (1 to 59) are accepted as well.
//!
//! Times are matched on the wall clock of the job's time zone. Across daylight-saving changes:
//! a wall time that does not exist (02:30 on the night clocks go forward) runs at the instant
//! PostgreSQL gives that local time (`'02:30' AT TIME ZONE` reads it with the offset in force
//! before the change: 03:30 summer time); a wall time that happens twice (02:30 on the night
//! clocks go back) runs once, at its first occurrence. Each instant runs at most once.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// How far ahead [`Schedule::next_after`] looks for a matching day (a schedule such as
/// `0 0 29 2 1`, "Feb 29th or a Monday in February", matches within a year; one that names a
/// date that never exists never does).
const HORIZON_DAYS: i64 = 366 * 8;

/// A parsed schedule with its time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    tz: Tz,
    rule: Rule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// Every `n` seconds, at multiples of `n` seconds since the Unix epoch.
    Seconds(u32),
    Calendar(Calendar),
}

/// The five fields as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Calendar {
    minutes: u64,
    hours: u32,
    /// Bit d for day d of the month (1..=31).
    days: u32,
    /// `$`: the last day of the month.
    last_day: bool,
    /// Bit m for month m (1..=12).
    months: u16,
    /// Bit d for weekday d, Sunday = 0.
    weekdays: u8,
    /// Whether the day-of-month / day-of-week field was `*` (unrestricted).
    days_any: bool,
    weekdays_any: bool,
}

/// A schedule that cannot be used, with what is wrong in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError(pub String);

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScheduleError {}

/// The fields: name, lowest and highest value, names of values (index = value - lowest).
const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    ),
    // 7 is Sunday too.
    (
        "day of week",
        0,
        7,
        &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    ),
];

impl Schedule {
    /// Parses `text` for the time zone named `tz` (an IANA name such as `Europe/Berlin`, or
    /// `UTC`).
    pub fn parse(text: &str, tz: &str) -> Result<Self, ScheduleError> {
        let zone: Tz = tz
            .parse()
            .map_err(|_| ScheduleError(format!("unknown time zone \"{tz}\"")))?;
        let bad = |why: String| ScheduleError(format!("invalid schedule \"{text}\": {why}"));
        let trimmed = text.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
            "@monthly" => "0 0 1 * *".to_string(),
            "@weekly" => "0 0 * * 0".to_string(),
            "@daily" | "@midnight" => "0 0 * * *".to_string(),
            "@hourly" => "0 * * * *".to_string(),
            other if other.starts_with('@') => {
                return Err(bad(format!("unknown macro {other}")));
            }
            _ => trimmed.to_string(),
        };
        if let Some(seconds) = interval_seconds(&expanded) {
            let n = seconds.map_err(bad)?;
            return Ok(Schedule {
                text: text.to_string(),
                tz: zone,
                rule: Rule::Seconds(n),
            });
        }
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(bad(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        }
        let mut sets = [0u64; 5];
        let mut last_day = false;
        for (i, field) in fields.iter().enumerate() {
            let (set, dollar) = parse_field(field, i).map_err(bad)?;
            sets[i] = set;
            last_day |= dollar;
        }
        // Sunday as 7.
        let mut weekdays = sets[4];
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        Ok(Schedule {
            text: text.to_string(),
            tz: zone,
            rule: Rule::Calendar(Calendar {
                minutes: sets[0],
                hours: sets[1] as u32,
                days: sets[2] as u32,
                last_day,
                months: sets[3] as u16,
                weekdays: weekdays as u8,
                days_any: fields[2] == "*" || fields[2].starts_with("*/"),
                weekdays_any: fields[4] == "*" || fields[4].starts_with("*/"),
            }),
        })
    }

    /// The schedule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The time zone it is evaluated in.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The first scheduled instant strictly after `after`, or `None` when there is none in the
    /// next eight years (a date that never exists, such as February 30th).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.rule {
            Rule::Seconds(n) => {
                let n = i64::from(*n);
                let t = after.timestamp().div_euclid(n) * n + n;
                DateTime::from_timestamp(t, 0)
            }
            Rule::Calendar(calendar) => {
                // The wall-clock date `after` falls on, and a day earlier (a time shifted
                // forward by a DST gap belongs to the day before).
                let start = after.with_timezone(&self.tz).date_naive() - Duration::days(1);
                let mut best: Option<DateTime<Utc>> = None;
                for offset in 0..HORIZON_DAYS {
                    let day = start + Duration::days(offset);
                    if let Some(found) = best {
                        // Every instant of `day` is later than the day's local midnight minus
                        // a day's worth of offset changes; stop once the day begins after it.
                        if self.instant(day.and_time(NaiveTime::MIN)) - Duration::hours(3) > found {
                            return best;
                        }
                    }
                    if !calendar.matches_day(day) {
                        continue;
                    }
                    for hour in 0..24u32 {
                        if calendar.hours & (1 << hour) == 0 {
                            continue;
                        }
                        for minute in 0..60u32 {
                            if calendar.minutes & (1 << minute) == 0 {
                                continue;
                            }
                            let Some(time) = NaiveTime::from_hms_opt(hour, minute, 0) else {
                                continue;
                            };
                            let at = self.instant(day.and_time(time));
                            if at > after && best.is_none_or(|b| at < b) {
                                best = Some(at);
                            }
                        }
                    }
                }
                best
            }
        }
    }

    /// The instant of the wall-clock time `local` in the schedule's zone (see the module
    /// documentation for times that do not exist or exist twice).
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            chrono::LocalResult::None => {
                // Read with the offset in force before the gap, as PostgreSQL does.
                let before = local - Duration::hours(6);
                let offset = match self.tz.from_local_datetime(&before) {
                    chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                        t.offset().fix()
                    }
                    chrono::LocalResult::None => chrono::FixedOffset::east_opt(0).unwrap(),
                };
                Utc.from_utc_datetime(&(local - Duration::seconds(offset.local_minus_utc().into())))
            }
        }
    }
}

use chrono::Offset;

impl Calendar {
    fn matches_day(&self, day: NaiveDate) -> bool {
        if self.months & (1 << day.month()) == 0 {
            return false;
        }
        let by_date = self.days & (1 << day.day()) != 0
            || (self.last_day && (day + Duration::days(1)).month() != day.month());
        let by_weekday = self.weekdays & (1 << day.weekday().num_days_from_sunday()) != 0;
        match (self.days_any, self.weekdays_any) {
            // Both restricted: either matches (Vixie cron's rule).
            (false, false) => by_date || by_weekday,
            _ => by_date && by_weekday,
        }
    }
}

/// `Some` when `text` is pg_cron's `'N seconds'` form, with N or what is wrong with it.
fn interval_seconds(text: &str) -> Option<Result<u32, String>> {
    let mut words = text.split_whitespace();
    let (number, unit) = (words.next()?, words.next()?);
    if words.next().is_some() || !matches!(unit.to_ascii_lowercase().as_str(), "second" | "seconds")
    {
        return None;
    }
    Some(match number.parse::<u32>() {
        Ok(n @ 1..=59) => Ok(n),
        _ => Err(format!(
            "an interval schedule is 1 to 59 seconds, not \"{number}\""
        )),
    })
}

/// Field `index` of a schedule as a bit set, and whether it held `$`.
fn parse_field(field: &str, index: usize) -> Result<(u64, bool), String> {
    let (name, low, high, names) = FIELDS[index];
    let mut set = 0u64;
    let mut dollar = false;
    for item in field.split(',') {
        let bad = |why: &str| format!("{name} field \"{field}\": {why}");
        if item.is_empty() {
            return Err(bad("empty list item"));
        }
        if item == "$" {
            if index != 2 {
                return Err(bad(
                    "'$' (last day of the month) is only for the day of month",
                ));
            }
            dollar = true;
            continue;
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| bad(&format!("step \"{step}\" is not a positive number")))?;
                (range, step)
            }
            None => (item, 1),
        };
        let value = |text: &str| -> Result<u32, String> {
            let lower = text.to_ascii_lowercase();
            let v = match names.iter().position(|n| *n == lower) {
                Some(i) => i as u32 + low,
                None => text
                    .parse::<u32>()
                    .map_err(|_| bad(&format!("\"{text}\" is not a number or a name")))?,
            };
            if v < low || v > high {
                return Err(bad(&format!("{v} is out of range {low}-{high}")));
            }
            Ok(v)
        };
        let (from, to) = if range == "*" {
            (low, high)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(bad(&format!("range {a}-{b} is backwards")));
            }
            (a, b)
        } else {
            let a = value(range)?;
            // `5/10` is `5-59/10`; a lone value is itself.
            (a, if item.contains('/') { high } else { a })
        };
        let mut v = from;
        while v <= to {
            set |= 1 << v;
            v += step;
        }
    }
    Ok((set, dollar))
}
