//! Values in PostgreSQL's text format, byte for byte as PostgreSQL 16 prints them.
//!
//! pgwire's own text output differs from PostgreSQL's in ways clients and people notice
//! (`240.0` for a float 240, six fraction digits on every timestamp, `inf` for Infinity), so
//! Hearth formats the common types itself: here for query results and `COPY ... TO STDOUT`.
//!
//! - `double precision`: the shortest text that reads back as the same number (PostgreSQL's
//!   default since 12, `extra_float_digits` ≥ 1), fixed notation for decimal exponents -4..14,
//!   scientific (`1e+20`, `1.5e-07`) otherwise; with `extra_float_digits` ≤ 0, `15 +
//!   extra_float_digits` significant digits laid out the same way.
//! - `timestamp [with time zone]`: `YYYY-MM-DD HH:MM:SS`, then the fraction of a second without
//!   trailing zeros, then the zone offset (`+00`, `+05:30`); years outside 1..=9999 as
//!   PostgreSQL writes them (five digits, ` BC`).

use bytes::{BufMut, BytesMut};

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

/// Writes `v` as PostgreSQL writes a `double precision` with `extra_float_digits`.
pub(crate) fn put_f64(out: &mut BytesMut, v: f64, extra_float_digits: i32) {
    if v.is_nan() {
        out.put_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.put_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    if v == 0.0 {
        out.put_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    let (digits, exponent) = if extra_float_digits > 0 {
        shortest_digits(v)
    } else {
        rounded_digits(v, (15 + extra_float_digits).max(1) as usize)
    };
    if v < 0.0 {
        out.put_u8(b'-');
    }
    layout(out, &digits, exponent);
}

/// The shortest decimal digits that read back as `v` (finite, not zero), without sign, and the
/// decimal exponent of the first digit.
fn shortest_digits(v: f64) -> (Vec<u8>, i32) {
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(v.abs()).as_bytes();
    split_decimal(text)
}

/// `v` rounded to `precision` significant digits, trailing zeros removed, and the decimal
/// exponent of the first digit.
fn rounded_digits(v: f64, precision: usize) -> (Vec<u8>, i32) {
    let text = format!("{:.*e}", precision - 1, v.abs());
    split_decimal(text.as_bytes())
}

/// Splits a decimal text (`123.45`, `1.5e-7`, `1e20`) into its significant digits and the
/// exponent of the first one.
fn split_decimal(text: &[u8]) -> (Vec<u8>, i32) {
    let (mantissa, mut exponent) = match text.iter().position(|&b| b == b'e' || b == b'E') {
        Some(i) => (
            &text[..i],
            std::str::from_utf8(&text[i + 1..])
                .ok()
                .and_then(|e| e.parse::<i32>().ok())
                .unwrap_or(0),
        ),
        None => (text, 0),
    };
    let point = mantissa
        .iter()
        .position(|&b| b == b'.')
        .unwrap_or(mantissa.len());
    let mut digits: Vec<u8> = mantissa.iter().copied().filter(|b| *b != b'.').collect();
    // Exponent of the first digit of `digits` as written.
    exponent += point as i32 - 1;
    let leading = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..leading);
    exponent -= leading as i32;
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    (digits, exponent)
}

/// Lays out significant `digits` with the first digit's decimal `exponent` as PostgreSQL
/// (and C's `%g`) does: fixed notation for exponents -4..14, else `d.ddde±XX`.
fn layout(out: &mut BytesMut, digits: &[u8], exponent: i32) {
    if (-4..15).contains(&exponent) {
        if exponent < 0 {
            out.put_slice(b"0.");
            for _ in 0..(-exponent - 1) {
                out.put_u8(b'0');
            }
            out.put_slice(digits);
        } else {
            let whole = exponent as usize + 1;
            if digits.len() <= whole {
                out.put_slice(digits);
                for _ in digits.len()..whole {
                    out.put_u8(b'0');
                }
            } else {
                out.put_slice(&digits[..whole]);
                out.put_u8(b'.');
                out.put_slice(&digits[whole..]);
            }
        }
        return;
    }
    out.put_u8(digits[0]);
    if digits.len() > 1 {
        out.put_u8(b'.');
        out.put_slice(&digits[1..]);
    }
    out.put_u8(b'e');
    out.put_u8(if exponent < 0 { b'-' } else { b'+' });
    let e = exponent.unsigned_abs();
    if e < 10 {
        out.put_u8(b'0');
    }
    let mut b = itoa::Buffer::new();
    out.put_slice(b.format(e).as_bytes());
}

/// (year, month, day) of a day number (days since 1970-01-01), proleptic Gregorian.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn put_2(out: &mut BytesMut, v: u32) {
    out.put_u8(b'0' + (v / 10) as u8);
    out.put_u8(b'0' + (v % 10) as u8);
}

/// Writes a date as `YYYY-MM-DD`, years before 1 as PostgreSQL does (`0001-01-01 BC` is year
/// 0); returns whether the date is BC (the suffix goes after the time when there is one).
fn put_date_part(out: &mut BytesMut, days: i64) -> bool {
    let (year, month, day) = civil_from_days(days);
    let (shown, bc) = if year <= 0 {
        (1 - year, true)
    } else {
        (year, false)
    };
    let mut b = itoa::Buffer::new();
    let y = b.format(shown);
    for _ in y.len()..4 {
        out.put_u8(b'0');
    }
    out.put_slice(y.as_bytes());
    out.put_u8(b'-');
    put_2(out, month);
    out.put_u8(b'-');
    put_2(out, day);
    bc
}

/// Writes a date (days since 1970-01-01) as PostgreSQL does.
pub(crate) fn put_date(out: &mut BytesMut, days: i64) {
    if put_date_part(out, days) {
        out.put_slice(b" BC");
    }
}

/// Writes a timestamp (microseconds since 1970-01-01 on the wall clock) and, with
/// `offset_seconds`, the zone offset, as PostgreSQL does.
pub(crate) fn put_timestamp(out: &mut BytesMut, micros: i64, offset_seconds: Option<i32>) {
    let local = micros + i64::from(offset_seconds.unwrap_or(0)) * 1_000_000;
    let days = local.div_euclid(DAY_US);
    let of_day = local.rem_euclid(DAY_US);
    let bc = put_date_part(out, days);
    out.put_u8(b' ');
    let secs = (of_day / 1_000_000) as u32;
    put_2(out, secs / 3_600);
    out.put_u8(b':');
    put_2(out, secs / 60 % 60);
    out.put_u8(b':');
    put_2(out, secs % 60);
    let mut fraction = (of_day % 1_000_000) as u32;
    if fraction > 0 {
        out.put_u8(b'.');
        let mut width = 6;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            width -= 1;
        }
        let mut b = itoa::Buffer::new();
        let f = b.format(fraction);
        for _ in f.len()..width {
            out.put_u8(b'0');
        }
        out.put_slice(f.as_bytes());
    }
    if let Some(offset) = offset_seconds {
        out.put_u8(if offset < 0 { b'-' } else { b'+' });
        let o = offset.unsigned_abs();
        put_2(out, o / 3_600);
        if o % 3_600 != 0 {
            out.put_u8(b':');
            put_2(out, o / 60 % 60);
            if o % 60 != 0 {
                out.put_u8(b':');
                put_2(out, o % 60);
            }
        }
    }
    if bc {
        out.put_slice(b" BC");
    }
}

/// Writes a `numeric` of `scale` from its unscaled integer value.
pub(crate) fn put_decimal(out: &mut BytesMut, unscaled: i128, scale: i8) {
    let mut b = itoa::Buffer::new();
    if scale <= 0 {
        out.put_slice(b.format(unscaled).as_bytes());
        for _ in 0..(-i32::from(scale)) {
            out.put_u8(b'0');
        }
        return;
    }
    if unscaled < 0 {
        out.put_u8(b'-');
    }
    let digits = b.format(unscaled.unsigned_abs()).as_bytes();
    let scale = scale as usize;
    if digits.len() <= scale {
        out.put_slice(b"0.");
        for _ in digits.len()..scale {
            out.put_u8(b'0');
        }
        out.put_slice(digits);
    } else {
        let whole = digits.len() - scale;
        out.put_slice(&digits[..whole]);
        out.put_u8(b'.');
        out.put_slice(&digits[whole..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut out = BytesMut::new();
        put_f64(&mut out, v, 1);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn f0(v: f64) -> String {
        let mut out = BytesMut::new();
        put_f64(&mut out, v, 0);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn ts(micros: i64, offset: Option<i32>) -> String {
        let mut out = BytesMut::new();
        put_timestamp(&mut out, micros, offset);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn floats_as_postgres_prints_them() {
        // Checked against PostgreSQL 15 (`SELECT x::float8`, extra_float_digits 1).
        let cases = [
            (240.0, "240"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (1e-7, "1e-07"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (123456789012345.0, "123456789012345"),
            (1234567890123456.0, "1.234567890123456e+15"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (100.0, "100"),
            (21.5, "21.5"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (-0.0, "-0"),
            (0.0, "0"),
        ];
        for (v, want) in cases {
            assert_eq!(f(v), want, "{v:e}");
        }
        // extra_float_digits = 0: 15 significant digits.
        assert_eq!(f0(0.1 + 0.2), "0.3");
        assert_eq!(f0(1.0 / 3.0), "0.333333333333333");
        assert_eq!(f0(1e20), "1e+20");
        assert_eq!(f0(240.0), "240");
    }

    #[test]
    fn timestamps_as_postgres_prints_them() {
        let t = 1_764_000_000_000_000; // 2025-11-24 16:00:00 UTC
        assert_eq!(ts(t, Some(0)), "2025-11-24 16:00:00+00");
        assert_eq!(ts(t + 500_000, Some(0)), "2025-11-24 16:00:00.5+00");
        assert_eq!(ts(t + 123, Some(0)), "2025-11-24 16:00:00.000123+00");
        assert_eq!(ts(t, None), "2025-11-24 16:00:00");
        assert_eq!(ts(t, Some(3_600)), "2025-11-24 17:00:00+01");
        assert_eq!(ts(t, Some(19_800)), "2025-11-24 21:30:00+05:30");
        assert_eq!(ts(t, Some(-12_600)), "2025-11-24 12:30:00-03:30");
        assert_eq!(ts(-1, Some(0)), "1969-12-31 23:59:59.999999+00");
        assert_eq!(ts(0, None), "1970-01-01 00:00:00");
        // 0001-01-01 BC is year 0.
        let year0 = -62_167_219_200_000_000;
        assert_eq!(ts(year0, None), "0001-01-01 00:00:00 BC");
        assert_eq!(ts(253_402_300_800_000_000, None), "10000-01-01 00:00:00");
        let mut out = BytesMut::new();
        put_date(&mut out, 19_000);
        assert_eq!(&out[..], b"2022-01-08");
    }

    #[test]
    fn decimals() {
        let d = |v: i128, s: i8| {
            let mut out = BytesMut::new();
            put_decimal(&mut out, v, s);
            String::from_utf8(out.to_vec()).unwrap()
        };
        assert_eq!(d(18_446_744_073_709_551_615, 0), "18446744073709551615");
        assert_eq!(d(150, 2), "1.50");
        assert_eq!(d(-5, 3), "-0.005");
        assert_eq!(d(0, 2), "0.00");
        assert_eq!(d(7, -2), "700");
    }
}
