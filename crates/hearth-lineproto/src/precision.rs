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

    // Property tests: thousands of pseudo-random timestamps (fixed seed), checked against exact
    // i128 arithmetic rather than against a second copy of the implementation.

    use crate::fuzz::Rng;

    /// Every precision with a fixed unit, and its length in microseconds (`None`: nanoseconds).
    const FIXED: [(Precision, Option<i128>, &str); 6] = [
        (Nanosecond, None, "nanosecond"),
        (Microsecond, Some(1), "microsecond"),
        (Millisecond, Some(1_000), "millisecond"),
        (Second, Some(1_000_000), "second"),
        (Minute, Some(60_000_000), "minute"),
        (Hour, Some(3_600_000_000), "hour"),
    ];

    /// The `Auto` thresholds on `|ts|`, from the doc: 5e9, 5e12 and 5e15.
    const AUTO_THRESHOLDS: [i64; 3] = [5_000_000_000, 5_000_000_000_000, 5_000_000_000_000_000];

    /// Values where something changes: the overflow limits of each unit, the `Auto`
    /// thresholds, zero and the ends of i64.
    fn edges() -> Vec<i64> {
        let mut edges = vec![0, i64::MIN, i64::MAX];
        for per_unit in [1_000, 1_000_000, 60_000_000, 3_600_000_000] {
            edges.extend([i64::MAX / per_unit, i64::MIN / per_unit]);
        }
        for threshold in AUTO_THRESHOLDS {
            edges.extend([threshold, -threshold]);
        }
        edges
    }

    /// A timestamp of any magnitude and sign, often within a few units of an edge.
    fn timestamp(rng: &mut Rng, edges: &[i64]) -> i64 {
        match rng.below(4) {
            0 => rng.next_u64() as i64,
            1 => (rng.next_u64() as i64) >> rng.below(64),
            2 => {
                let spread = [3, 1_000, 1_000_000][rng.below(3)];
                let delta = rng.below(2 * spread + 1) as i64 - spread as i64;
                rng.pick(edges).saturating_add(delta)
            }
            _ => rng.below(4001) as i64 - 2000,
        }
    }

    /// Many timestamps, sorted, every edge ±3 included.
    fn sample(seed: u64, count: usize) -> Vec<i64> {
        let edges = edges();
        let mut rng = Rng(seed);
        let mut all: Vec<i64> = (0..count).map(|_| timestamp(&mut rng, &edges)).collect();
        for edge in &edges {
            all.extend((-3..=3).map(|d| edge.saturating_add(d)));
        }
        all.sort_unstable();
        all
    }

    /// The exact result in microseconds, as the doc defines it (not yet range-checked).
    fn exact_micros(ts: i64, per_unit: Option<i128>) -> i128 {
        let ts = i128::from(ts);
        match per_unit {
            Some(per_unit) => ts * per_unit,
            // Floor: the largest m with m * 1000 <= ts. Truncating division rounds toward zero,
            // one too high for a negative ts that is not a whole number of microseconds.
            None => ts / 1_000 - i128::from(ts % 1_000 < 0),
        }
    }

    #[test]
    fn fixed_precisions_match_exact_arithmetic() {
        let mut overflows = [0usize; FIXED.len()];
        for ts in sample(0x243F_6A88_85A3_08D3, 20_000) {
            for (i, &(precision, per_unit, name)) in FIXED.iter().enumerate() {
                let exact = exact_micros(ts, per_unit);
                match i64::try_from(exact) {
                    Ok(want) => assert_eq!(precision.to_micros(ts), Ok(want), "{name} {ts}"),
                    Err(_) => {
                        overflows[i] += 1;
                        assert_eq!(
                            precision.to_micros(ts),
                            Err(format!("timestamp {ts} out of range for precision {name}")),
                            "{name} {ts}"
                        );
                    }
                }
                if let (None, Ok(micros)) = (per_unit, precision.to_micros(ts)) {
                    // Floor toward negative infinity, also for negative values.
                    let (m, ts) = (i128::from(micros), i128::from(ts));
                    assert!(m * 1_000 <= ts && ts < (m + 1) * 1_000, "{ts} ns -> {m} us");
                }
            }
        }
        // The sample reaches the overflow edges of every multiplying unit, and only those.
        assert_eq!(overflows[0], 0, "nanoseconds never overflow");
        assert_eq!(overflows[1], 0, "microseconds never overflow");
        for (i, &(_, _, name)) in FIXED.iter().enumerate().skip(2) {
            assert!(
                overflows[i] > 100,
                "{name}: only {} overflows",
                overflows[i]
            );
        }
    }

    #[test]
    fn fixed_precisions_are_monotonic() {
        let all = sample(0x1319_8A2E_0370_7344, 20_000);
        for (precision, _, name) in FIXED {
            let mut last: Option<(i64, i64)> = None;
            let mut ok_run_ended = false;
            for &ts in &all {
                match precision.to_micros(ts) {
                    Ok(micros) => {
                        if let Some((prev_ts, prev)) = last {
                            assert!(
                                prev <= micros,
                                "{name}: {prev_ts} -> {prev}, {ts} -> {micros}"
                            );
                        }
                        // The values that convert form one interval: no error between two Oks.
                        assert!(
                            !ok_run_ended,
                            "{name}: {ts} converts after an overflow above"
                        );
                        last = Some((ts, micros));
                    }
                    Err(_) => ok_run_ended = last.is_some(),
                }
            }
        }
    }

    /// The unit the doc says `Auto` picks: `|ts| < 5e9` seconds, `< 5e12` milliseconds,
    /// `< 5e15` microseconds, else nanoseconds (`|i64::MIN|` included, via i128).
    fn documented_guess(ts: i64) -> Precision {
        let magnitude = i128::from(ts).abs();
        match AUTO_THRESHOLDS
            .iter()
            .position(|&t| magnitude < i128::from(t))
        {
            Some(0) => Second,
            Some(1) => Millisecond,
            Some(2) => Microsecond,
            _ => Nanosecond,
        }
    }

    #[test]
    fn auto_picks_the_documented_unit_and_never_fails() {
        let mut picked = [0usize; 4];
        for ts in sample(0xA409_3822_299F_31D0, 20_000) {
            let unit = documented_guess(ts);
            assert_eq!(super::guess(ts), unit, "{ts}");
            let got = Auto.to_micros(ts);
            assert_eq!(got, unit.to_micros(ts), "{ts} as {unit:?}");
            // Each band times its unit stays below 5e15 us: Auto never overflows.
            assert!(got.is_ok(), "{ts}: {got:?}");
            picked[[Second, Millisecond, Microsecond, Nanosecond]
                .iter()
                .position(|&u| u == unit)
                .unwrap()] += 1;
        }
        assert!(picked.iter().all(|&n| n > 100), "{picked:?}");
    }

    #[test]
    fn auto_switches_unit_exactly_at_the_thresholds() {
        let units = [Second, Millisecond, Microsecond, Nanosecond];
        for (i, threshold) in AUTO_THRESHOLDS.into_iter().enumerate() {
            for sign in [1, -1] {
                for delta in 1..=1_000 {
                    let below = sign * (threshold - delta);
                    let at_or_above = sign * (threshold + delta - 1);
                    assert_eq!(Auto.to_micros(below), units[i].to_micros(below), "{below}");
                    assert_eq!(
                        Auto.to_micros(at_or_above),
                        units[i + 1].to_micros(at_or_above),
                        "{at_or_above}"
                    );
                }
            }
        }
        // So Auto is monotonic within a unit but drops at each threshold: the next unit is a
        // thousand times smaller (documented behaviour of the guess, not a bug).
        assert!(Auto.to_micros(4_999_999_999) > Auto.to_micros(5_000_000_000));
        assert!(Auto.to_micros(-4_999_999_999) < Auto.to_micros(-5_000_000_000));
    }

    #[test]
    fn auto_is_monotonic_within_a_unit() {
        let all = sample(0x0827_2FC3_BE4E_6C89, 20_000);
        for pair in all.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if documented_guess(a) == documented_guess(b) {
                assert!(Auto.to_micros(a) <= Auto.to_micros(b), "{a} {b}");
            }
        }
    }
}
