//! Timestamp precision: the names each write endpoint accepts, and conversion
//! of a written timestamp to microseconds since the Unix epoch.
//!
//! Guarantees: name lookups are exact and case-sensitive (unknown → `None`);
//! conversion never panics or wraps — it floors sub-microsecond values toward
//! negative infinity and reports overflow as an error message.

/// The unit a written timestamp is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Guess the unit from the magnitude, as InfluxDB 3 does.
    Auto,
    /// Nanoseconds.
    Nanosecond,
    /// Microseconds.
    Microsecond,
    /// Milliseconds.
    Millisecond,
    /// Seconds.
    Second,
    /// Minutes (v1 only).
    Minute,
    /// Hours (v1 only).
    Hour,
}

impl Precision {
    /// v3 `/api/v3/write_lp` names: `auto`, `nanosecond|ns|n`,
    /// `microsecond|us|u`, `millisecond|ms`, `second|s`. `None` if unknown.
    pub fn from_v3(s: &str) -> Option<Precision> {
        Some(match s {
            "auto" => Precision::Auto,
            "nanosecond" | "ns" | "n" => Precision::Nanosecond,
            "microsecond" | "us" | "u" => Precision::Microsecond,
            "millisecond" | "ms" => Precision::Millisecond,
            "second" | "s" => Precision::Second,
            _ => return None,
        })
    }

    /// v2 `/api/v2/write` names: `ns`, `us`, `ms`, `s`. `None` if unknown.
    pub fn from_v2(s: &str) -> Option<Precision> {
        Some(match s {
            "ns" => Precision::Nanosecond,
            "us" => Precision::Microsecond,
            "ms" => Precision::Millisecond,
            "s" => Precision::Second,
            _ => return None,
        })
    }

    /// v1 `/write` names: `n`, `ns`, `u`, `us`, `ms`, `s`, `m`, `h`. `None` if
    /// unknown.
    pub fn from_v1(s: &str) -> Option<Precision> {
        Some(match s {
            "n" | "ns" => Precision::Nanosecond,
            "u" | "us" => Precision::Microsecond,
            "ms" => Precision::Millisecond,
            "s" => Precision::Second,
            "m" => Precision::Minute,
            "h" => Precision::Hour,
            _ => return None,
        })
    }

    /// Converts a written timestamp to microseconds since the epoch
    /// (nanoseconds truncated toward negative infinity, i.e. floor division).
    ///
    /// `Auto` guesses like InfluxDB 3: `|ts|/1e9 < 5` → seconds;
    /// `< 5e3` → milliseconds; `< 5e6` → microseconds; else nanoseconds.
    ///
    /// Errors when the result overflows i64 microseconds, e.g.
    /// `timestamp 99999999999999999 out of range for precision second`.
    pub fn to_micros(self, ts: i64) -> Result<i64, String> {
        let precision = match self {
            Precision::Auto => guess(ts),
            other => other,
        };
        let micros_per_unit: i64 = match precision {
            Precision::Nanosecond => return Ok(ts.div_euclid(1_000)),
            Precision::Microsecond => return Ok(ts),
            Precision::Millisecond => 1_000,
            Precision::Second => 1_000_000,
            Precision::Minute => 60_000_000,
            Precision::Hour => 3_600_000_000,
            // `guess` never returns Auto; treat it as the identity defensively.
            Precision::Auto => return Ok(ts),
        };
        ts.checked_mul(micros_per_unit).ok_or_else(|| {
            format!(
                "timestamp {ts} out of range for precision {}",
                precision.name()
            )
        })
    }

    /// Long lowercase name used in messages.
    fn name(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::Nanosecond => "nanosecond",
            Precision::Microsecond => "microsecond",
            Precision::Millisecond => "millisecond",
            Precision::Second => "second",
            Precision::Minute => "minute",
            Precision::Hour => "hour",
        }
    }
}

/// InfluxDB 3's magnitude-based guess; never returns `Auto`.
fn guess(ts: i64) -> Precision {
    const NANOS_PER_SEC: u64 = 1_000_000_000;
    // Integer division matches `|ts| / 1e9 < k` for these integer thresholds.
    let secs = ts.unsigned_abs() / NANOS_PER_SEC;
    if secs < 5 {
        Precision::Second
    } else if secs < 5_000 {
        Precision::Millisecond
    } else if secs < 5_000_000 {
        Precision::Microsecond
    } else {
        Precision::Nanosecond
    }
}

#[cfg(test)]
mod tests {
    use super::Precision::{self, *};

    #[test]
    fn v3_names() {
        let table = [
            ("auto", Auto),
            ("nanosecond", Nanosecond),
            ("ns", Nanosecond),
            ("n", Nanosecond),
            ("microsecond", Microsecond),
            ("us", Microsecond),
            ("u", Microsecond),
            ("millisecond", Millisecond),
            ("ms", Millisecond),
            ("second", Second),
            ("s", Second),
        ];
        for (name, want) in table {
            assert_eq!(Precision::from_v3(name), Some(want), "{name}");
        }
        for bad in [
            "", "m", "h", "minute", "hour", "AUTO", "Second", "sec", "µs", " s",
        ] {
            assert_eq!(Precision::from_v3(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn v2_names() {
        let table = [
            ("ns", Nanosecond),
            ("us", Microsecond),
            ("ms", Millisecond),
            ("s", Second),
        ];
        for (name, want) in table {
            assert_eq!(Precision::from_v2(name), Some(want), "{name}");
        }
        for bad in ["", "n", "u", "m", "h", "auto", "second", "NS"] {
            assert_eq!(Precision::from_v2(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn v1_names() {
        let table = [
            ("n", Nanosecond),
            ("ns", Nanosecond),
            ("u", Microsecond),
            ("us", Microsecond),
            ("ms", Millisecond),
            ("s", Second),
            ("m", Minute),
            ("h", Hour),
        ];
        for (name, want) in table {
            assert_eq!(Precision::from_v1(name), Some(want), "{name}");
        }
        for bad in ["", "auto", "second", "d", "H", "mn"] {
            assert_eq!(Precision::from_v1(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn fixed_precisions() {
        assert_eq!(Nanosecond.to_micros(1_500_000_123), Ok(1_500_000));
        assert_eq!(Microsecond.to_micros(1_500_000_123), Ok(1_500_000_123));
        assert_eq!(Millisecond.to_micros(1_500), Ok(1_500_000));
        assert_eq!(Second.to_micros(1_700_000_000), Ok(1_700_000_000_000_000));
        assert_eq!(Minute.to_micros(2), Ok(120_000_000));
        assert_eq!(Hour.to_micros(2), Ok(7_200_000_000));
        assert_eq!(Second.to_micros(-3), Ok(-3_000_000));
        assert_eq!(Hour.to_micros(0), Ok(0));
    }

    #[test]
    fn nanoseconds_floor_toward_negative_infinity() {
        assert_eq!(Nanosecond.to_micros(999), Ok(0));
        assert_eq!(Nanosecond.to_micros(1_000), Ok(1));
        assert_eq!(Nanosecond.to_micros(-1), Ok(-1));
        assert_eq!(Nanosecond.to_micros(-999), Ok(-1));
        assert_eq!(Nanosecond.to_micros(-1_000), Ok(-1));
        assert_eq!(Nanosecond.to_micros(-1_001), Ok(-2));
        assert_eq!(Nanosecond.to_micros(i64::MIN), Ok(-9_223_372_036_854_776));
        assert_eq!(Nanosecond.to_micros(i64::MAX), Ok(9_223_372_036_854_775));
        assert_eq!(Microsecond.to_micros(i64::MIN), Ok(i64::MIN));
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(
            Second.to_micros(99_999_999_999_999_999),
            Err("timestamp 99999999999999999 out of range for precision second".to_owned())
        );
        assert_eq!(
            Millisecond.to_micros(i64::MAX),
            Err(format!(
                "timestamp {} out of range for precision millisecond",
                i64::MAX
            ))
        );
        assert_eq!(
            Minute.to_micros(i64::MIN),
            Err(format!(
                "timestamp {} out of range for precision minute",
                i64::MIN
            ))
        );
        assert_eq!(
            Hour.to_micros(3_000_000_000),
            Err("timestamp 3000000000 out of range for precision hour".to_owned())
        );
        // Largest representable seconds value still converts.
        let max_s = i64::MAX / 1_000_000;
        assert_eq!(Second.to_micros(max_s), Ok(max_s * 1_000_000));
        assert!(Second.to_micros(max_s + 1).is_err());
    }

    #[test]
    fn auto_guesses_by_magnitude() {
        // Seconds: |ts| < 5e9.
        assert_eq!(Auto.to_micros(0), Ok(0));
        assert_eq!(Auto.to_micros(1_700_000_000), Ok(1_700_000_000_000_000));
        assert_eq!(Auto.to_micros(4_999_999_999), Ok(4_999_999_999_000_000));
        assert_eq!(Auto.to_micros(-4_999_999_999), Ok(-4_999_999_999_000_000));
        // Milliseconds: 5e9 <= |ts| < 5e12.
        assert_eq!(Auto.to_micros(5_000_000_000), Ok(5_000_000_000_000));
        assert_eq!(Auto.to_micros(1_700_000_000_000), Ok(1_700_000_000_000_000));
        assert_eq!(Auto.to_micros(-5_000_000_000), Ok(-5_000_000_000_000));
        assert_eq!(Auto.to_micros(4_999_999_999_999), Ok(4_999_999_999_999_000));
        // Microseconds: 5e12 <= |ts| < 5e15.
        assert_eq!(Auto.to_micros(5_000_000_000_000), Ok(5_000_000_000_000));
        assert_eq!(
            Auto.to_micros(1_700_000_000_000_000),
            Ok(1_700_000_000_000_000)
        );
        assert_eq!(
            Auto.to_micros(4_999_999_999_999_999),
            Ok(4_999_999_999_999_999)
        );
        // Nanoseconds: |ts| >= 5e15, floored.
        assert_eq!(Auto.to_micros(5_000_000_000_000_000), Ok(5_000_000_000_000));
        assert_eq!(
            Auto.to_micros(1_700_000_000_000_000_123),
            Ok(1_700_000_000_000_000)
        );
        assert_eq!(
            Auto.to_micros(-5_000_000_000_000_001),
            Ok(-5_000_000_000_001)
        );
        assert_eq!(Auto.to_micros(i64::MIN), Ok(-9_223_372_036_854_776));
        assert_eq!(Auto.to_micros(i64::MAX), Ok(9_223_372_036_854_775));
    }
}
