//! Text values as PostgreSQL reads them, into the Arrow types of a Hearth column (for
//! `COPY ... FROM STDIN`): `double precision` (`Infinity`, `NaN` included), `bigint`,
//! unsigned 64-bit (`numeric(20,0)`), `boolean` (`t`, `true`, `yes`, `on`, `1`, ...), `text`,
//! and `timestamp with time zone` (`2025-11-24 16:00:00+00`, ISO 8601 with `T` and `Z`, a date
//! alone; without an offset, in the session's time zone).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use hearth_catalog::schema::{ColumnKind, FieldType, TIME_ZONE};

use super::encode::Zone;

/// An error of one value: its row and the message.
type ValueError = (usize, String);

fn invalid(row: usize, type_name: &str, value: &str) -> ValueError {
    (
        row,
        format!("invalid input syntax for type {type_name}: \"{value}\""),
    )
}

/// The values of one column as an array of `kind`'s Arrow type.
pub(super) fn parse_column(
    values: &[Option<String>],
    kind: ColumnKind,
    zone: &Zone,
) -> Result<ArrayRef, ValueError> {
    let each = |type_name: &'static str, parse: &dyn Fn(&str) -> Option<()>| {
        for (row, v) in values.iter().enumerate() {
            if let Some(v) = v
                && parse(v).is_none()
            {
                return Err(invalid(row, type_name, v));
            }
        }
        Ok(())
    };
    Ok(match kind.value_type() {
        FieldType::String => Arc::new(values.iter().map(|v| v.as_deref()).collect::<StringArray>()),
        FieldType::Float => {
            each("double precision", &|v| parse_f64(v).map(|_| ()))?;
            Arc::new(
                values
                    .iter()
                    .map(|v| v.as_deref().and_then(parse_f64))
                    .collect::<Float64Array>(),
            )
        }
        FieldType::Integer => {
            each("bigint", &|v| v.trim().parse::<i64>().ok().map(|_| ()))?;
            Arc::new(
                values
                    .iter()
                    .map(|v| v.as_deref().and_then(|v| v.trim().parse::<i64>().ok()))
                    .collect::<Int64Array>(),
            )
        }
        FieldType::UInteger => {
            each("numeric", &|v| v.trim().parse::<u64>().ok().map(|_| ()))?;
            Arc::new(
                values
                    .iter()
                    .map(|v| {
                        v.as_deref()
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(i128::from)
                    })
                    .collect::<Decimal128Array>()
                    .with_precision_and_scale(20, 0)
                    .map_err(|e| (0, e.to_string()))?,
            )
        }
        FieldType::Boolean => {
            each("boolean", &|v| parse_bool(v).map(|_| ()))?;
            Arc::new(
                values
                    .iter()
                    .map(|v| v.as_deref().and_then(parse_bool))
                    .collect::<BooleanArray>(),
            )
        }
        FieldType::Timestamp => {
            each("timestamp with time zone", &|v| {
                parse_timestamp(v, zone).map(|_| ())
            })?;
            Arc::new(
                values
                    .iter()
                    .map(|v| v.as_deref().and_then(|v| parse_timestamp(v, zone)))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone(TIME_ZONE),
            )
        }
    })
}

/// A `double precision` as PostgreSQL reads it.
pub(super) fn parse_f64(v: &str) -> Option<f64> {
    let t = v.trim();
    match t.to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" | "inf" | "+inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => t.parse::<f64>().ok().filter(|f| f.is_finite()),
    }
}

/// A `boolean` as PostgreSQL reads it (any unique prefix of true/false/yes/no, on/off, 1/0).
pub(super) fn parse_bool(v: &str) -> Option<bool> {
    let t = v.trim().to_ascii_lowercase();
    if t.is_empty() {
        return None;
    }
    let prefix_of = |word: &str| word.starts_with(t.as_str());
    match t.as_str() {
        "1" | "on" => Some(true),
        "0" | "of" | "off" => Some(false),
        _ if prefix_of("true") || prefix_of("yes") => Some(true),
        _ if prefix_of("false") || prefix_of("no") => Some(false),
        _ => None,
    }
}

/// Digits `s[at..at+n]` as a number.
fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at + n)?;
    if !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(part.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
}

/// Days since 1970-01-01 of a date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A `timestamp with time zone` in microseconds since the epoch: `YYYY-MM-DD[( |T)HH:MM[:SS
/// [.ffffff]]][ ][Z|±HH[[:]MM[[:]SS]]]`; without an offset the time is `zone`'s local time.
pub(super) fn parse_timestamp(v: &str, zone: &Zone) -> Option<i64> {
    let s = v.trim().as_bytes();
    let year = digits(s, 0, 4)?;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut at = 10;
    let mut micros = 0i64;
    if matches!(s.get(at), Some(b' ') | Some(b'T') | Some(b't'))
        && s.get(at + 1).is_some_and(u8::is_ascii_digit)
    {
        at += 1;
        let h = digits(s, at, 2)?;
        if s.get(at + 2) != Some(&b':') {
            return None;
        }
        let m = digits(s, at + 3, 2)?;
        at += 5;
        let mut sec = 0;
        if s.get(at) == Some(&b':') {
            sec = digits(s, at + 1, 2)?;
            at += 3;
        }
        if h > 24 || m > 59 || sec > 60 {
            return None;
        }
        let mut fraction = 0i64;
        if s.get(at) == Some(&b'.') {
            at += 1;
            let start = at;
            while s.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            let frac = &s[start..at];
            if frac.is_empty() {
                return None;
            }
            for i in 0..6 {
                fraction = fraction * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
            }
            // Rounded to microseconds, as PostgreSQL does.
            if frac.get(6).is_some_and(|d| *d >= b'5') {
                fraction += 1;
            }
        }
        micros = ((h * 60 + m) * 60 + sec) * 1_000_000 + fraction;
    }
    let local = days_from_civil(year, month, day) * 86_400_000_000 + micros;
    while s.get(at) == Some(&b' ') {
        at += 1;
    }
    let offset = match s.get(at) {
        None => return Some(local - i64::from(zone_offset_for_local(zone, local)) * 1_000_000),
        Some(b'Z') | Some(b'z') if at + 1 == s.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest: Vec<u8> = s[at + 1..].iter().copied().filter(|b| *b != b':').collect();
            let (h, m, sec) = match rest.len() {
                1 => (digits(&rest, 0, 1)?, 0, 0),
                2 => (digits(&rest, 0, 2)?, 0, 0),
                4 => (digits(&rest, 0, 2)?, digits(&rest, 2, 2)?, 0),
                6 => (
                    digits(&rest, 0, 2)?,
                    digits(&rest, 2, 2)?,
                    digits(&rest, 4, 2)?,
                ),
                _ => return None,
            };
            let o = h * 3_600 + m * 60 + sec;
            if sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    Some(local - offset * 1_000_000)
}

/// The offset (seconds east of UTC) of `zone` at a local time, the earlier one when the local
/// time repeats.
fn zone_offset_for_local(zone: &Zone, local_micros: i64) -> i32 {
    match zone {
        Zone::Fixed(s) => *s,
        Zone::Named(tz) => {
            use chrono::{Offset, TimeZone};
            let Some(naive) =
                chrono::DateTime::from_timestamp_micros(local_micros).map(|d| d.naive_utc())
            else {
                return 0;
            };
            match tz.offset_from_local_datetime(&naive) {
                chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => {
                    o.fix().local_minus_utc()
                }
                chrono::LocalResult::None => {
                    tz.offset_from_utc_datetime(&naive).fix().local_minus_utc()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_postgres_spellings() {
        let utc = Zone::Fixed(0);
        let t = 1_764_000_000_000_000; // 2025-11-24 16:00:00 UTC
        for text in [
            "2025-11-24 16:00:00+00",
            "2025-11-24 16:00:00",
            "2025-11-24T16:00:00Z",
            "2025-11-24T16:00:00.000000+00:00",
            "2025-11-24 17:00:00+01",
            "2025-11-24 21:30:00+05:30",
            "2025-11-24 12:30:00-0330",
        ] {
            assert_eq!(parse_timestamp(text, &utc), Some(t), "{text}");
        }
        assert_eq!(
            parse_timestamp("2025-11-24 16:00:00.5+00", &utc),
            Some(t + 500_000)
        );
        assert_eq!(
            parse_timestamp("2025-11-24", &utc),
            Some(t - 16 * 3_600_000_000)
        );
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        assert_eq!(parse_timestamp("2025-11-24 17:00:00", &berlin), Some(t));
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-11-24 16",
            "2025-11-24 16:00:00 +0x",
        ] {
            assert_eq!(parse_timestamp(bad, &utc), None, "{bad}");
        }
    }

    #[test]
    fn numbers_and_booleans() {
        assert_eq!(parse_f64(" 1.5 "), Some(1.5));
        assert_eq!(parse_f64("Infinity"), Some(f64::INFINITY));
        assert!(parse_f64("NaN").unwrap().is_nan());
        assert_eq!(parse_f64("abc"), None);
        assert_eq!(parse_bool("t"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("Y"), Some(true));
        assert_eq!(parse_bool("maybe"), None);
        let column = parse_column(
            &[Some("1".into()), None, Some("x".into())],
            ColumnKind::Field(FieldType::Integer),
            &Zone::Fixed(0),
        );
        assert_eq!(
            column.unwrap_err(),
            (2, "invalid input syntax for type bigint: \"x\"".into())
        );
    }
}
