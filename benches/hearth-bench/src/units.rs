//! Parsing of durations and timestamps given on the command line, and
//! formatting of nanosecond timestamps.

use anyhow::{Context as _, Result, bail};

/// Nanoseconds per second.
pub const SECOND_NS: i64 = 1_000_000_000;
/// Nanoseconds per minute.
pub const MINUTE_NS: i64 = 60 * SECOND_NS;
/// Nanoseconds per hour.
pub const HOUR_NS: i64 = 60 * MINUTE_NS;
/// Nanoseconds per day.
pub const DAY_NS: i64 = 24 * HOUR_NS;

/// Parses a duration into nanoseconds: a plain number of seconds (`3600`) or
/// one or more `<integer><unit>` parts (`1d`, `10s`, `1h30m`, `500ms`), with
/// units `ns`, `us`, `ms`, `s`, `m`, `h`, `d`, `w`. Must be positive.
pub fn parse_duration_ns(text: &str) -> Result<i64> {
    let text = text.trim();
    if text.is_empty() {
        bail!("empty duration");
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = text
            .parse()
            .with_context(|| format!("duration {text:?} too large"))?;
        return positive(text, secs.checked_mul(SECOND_NS));
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            bail!(
                "invalid duration {text:?}: expected e.g. 10s, 5m, 1h30m, 1d or a number of seconds"
            );
        }
        let number: i64 = rest[..digits]
            .parse()
            .with_context(|| format!("duration {text:?} too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => SECOND_NS,
            "m" => MINUTE_NS,
            "h" => HOUR_NS,
            "d" => DAY_NS,
            "w" => 7 * DAY_NS,
            other => bail!(
                "invalid duration {text:?}: unknown unit {other:?} (ns, us, ms, s, m, h, d, w)"
            ),
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .with_context(|| format!("duration {text:?} too large"))?;
    }
    positive(text, Some(total))
}

fn positive(text: &str, ns: Option<i64>) -> Result<i64> {
    match ns {
        None => bail!("duration {text:?} too large"),
        Some(0) => bail!("duration {text:?} must be positive"),
        Some(ns) => Ok(ns),
    }
}

/// Parses an RFC 3339 timestamp (`2016-01-01T00:00:00Z`,
/// `2025-11-24T17:00:00+01:00`) into nanoseconds since the Unix epoch.
pub fn parse_timestamp_ns(text: &str) -> Result<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(text.trim()).with_context(|| {
        format!("invalid timestamp {text:?}: expected RFC 3339, e.g. 2016-01-01T00:00:00Z")
    })?;
    t.timestamp_nanos_opt()
        .with_context(|| format!("timestamp {text:?} is out of the nanosecond range"))
}

/// Formats nanoseconds since the epoch as RFC 3339 in UTC.
pub fn format_timestamp(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// clap value parser for durations (nanoseconds).
pub fn duration_arg(text: &str) -> Result<i64, String> {
    parse_duration_ns(text).map_err(|e| format!("{e:#}"))
}

/// clap value parser for timestamps (nanoseconds).
pub fn timestamp_arg(text: &str) -> Result<i64, String> {
    parse_timestamp_ns(text).map_err(|e| format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("10s").unwrap(), 10 * SECOND_NS);
        assert_eq!(parse_duration_ns("1d").unwrap(), DAY_NS);
        assert_eq!(parse_duration_ns("1h30m").unwrap(), 90 * MINUTE_NS);
        assert_eq!(parse_duration_ns("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration_ns("3600").unwrap(), HOUR_NS);
        assert_eq!(parse_duration_ns("2w").unwrap(), 14 * DAY_NS);
        for bad in ["", "0", "0s", "s", "10x", "1.5h", "-1s", "99999999999999d"] {
            assert!(parse_duration_ns(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        let ns = parse_timestamp_ns("2016-01-01T00:00:00Z").unwrap();
        assert_eq!(ns, 1_451_606_400_000_000_000);
        assert_eq!(parse_timestamp_ns("2016-01-01T01:00:00+01:00").unwrap(), ns);
        assert_eq!(format_timestamp(ns), "2016-01-01T00:00:00Z");
        assert_eq!(
            format_timestamp(ns + 1_500_000_000),
            "2016-01-01T00:00:01.500Z"
        );
        assert!(parse_timestamp_ns("yesterday").is_err());
    }
}
