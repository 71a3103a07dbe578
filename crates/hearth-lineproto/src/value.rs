//! Field values and the classification of unquoted value and timestamp tokens.
//!
//! Guarantees: every accepted token maps to exactly one [`FieldValue`] per the
//! line protocol spec; floats are always finite (`nan`, `inf` and overflowing
//! literals such as `1e999` are rejected); integers are range-checked; nothing
//! here allocates or panics, whatever the token.

use std::borrow::Cow;

/// The value of one field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// A float: `1`, `1.5`, `-1e3`, `1.`, `.5`. Always finite.
    F64(f64),
    /// A signed integer: `1i`.
    I64(i64),
    /// An unsigned integer: `1u`.
    U64(u64),
    /// A double-quoted string with `\"` and `\\` unescaped.
    Str(Cow<'a, str>),
    /// `t T true True TRUE f F false False FALSE`.
    Bool(bool),
}

/// Classifies an unquoted field value token (already known to be non-empty
/// and free of delimiters). On failure returns why, for the caller to wrap.
#[inline]
pub(crate) fn parse_unquoted(token: &str) -> Result<FieldValue<'static>, &'static str> {
    match token {
        "t" | "T" | "true" | "True" | "TRUE" => return Ok(FieldValue::Bool(true)),
        "f" | "F" | "false" | "False" | "FALSE" => return Ok(FieldValue::Bool(false)),
        _ => {}
    }
    let bytes = token.as_bytes();
    match bytes.last() {
        Some(b'i') => parse_i64(&token[..token.len() - 1])
            .map(FieldValue::I64)
            .map_err(|e| match e {
                IntError::Syntax => "not a valid integer",
                IntError::Range => "integer out of range for i64",
            }),
        Some(b'u') => parse_u64(&token[..token.len() - 1]).map(FieldValue::U64),
        _ => parse_f64(token).map(FieldValue::F64),
    }
}

/// Why a signed integer token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntError {
    /// Not of the form `-?[0-9]+`.
    Syntax,
    /// Well-formed but outside the i64 range.
    Range,
}

/// Parses `-?[0-9]+` into an i64 (no `+`, no whitespace, no suffix) in one pass.
pub(crate) fn parse_i64(s: &str) -> Result<i64, IntError> {
    let (negative, digits) = match s.as_bytes().split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s.as_bytes()),
    };
    // Fast path: up to 18 digits cannot overflow, so no checked arithmetic per digit.
    if (1..=18).contains(&digits.len()) {
        let mut value: i64 = 0;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return Err(IntError::Syntax);
            }
            value = value * 10 + i64::from(d);
        }
        return Ok(if negative { -value } else { value });
    }
    // Accumulate as a negative number so that i64::MIN is representable.
    let magnitude = accumulate(digits, |acc: i64, d| {
        acc.checked_mul(10)?.checked_sub(i64::from(d))
    })
    .map_err(|e| e.unwrap_or(IntError::Range))?;
    if negative {
        Ok(magnitude)
    } else {
        magnitude.checked_neg().ok_or(IntError::Range)
    }
}

/// Parses the digits of an unsigned (`u`-suffixed) field value.
fn parse_u64(s: &str) -> Result<u64, &'static str> {
    const SYNTAX: &str = "not a valid unsigned integer";
    if let Some(rest) = s.strip_prefix('-') {
        return match accumulate(rest.as_bytes(), |_: u64, _| Some(0)) {
            Ok(_) => Err("unsigned integer cannot be negative"),
            Err(_) => Err(SYNTAX),
        };
    }
    accumulate(s.as_bytes(), |acc: u64, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
    .map_err(|e| match e {
        Some(_) => SYNTAX,
        None => "unsigned integer out of range for u64",
    })
}

/// Folds ASCII digits with `step`. Errors with `Some(Syntax)` if `digits` is
/// empty or holds a non-digit, `None` if `step` overflowed (syntax is still
/// checked to the end, so syntax errors win over overflow).
fn accumulate<T: Default>(
    digits: &[u8],
    step: impl Fn(T, u8) -> Option<T>,
) -> Result<T, Option<IntError>> {
    if digits.is_empty() {
        return Err(Some(IntError::Syntax));
    }
    let mut acc = Some(T::default());
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(Some(IntError::Syntax));
        }
        acc = acc.and_then(|a| step(a, d));
    }
    acc.ok_or(None)
}

/// Parses a float: `-?(D+(.D*)?|.D+)([eE][+-]?D+)?`, finite only.
fn parse_f64(s: &str) -> Result<f64, &'static str> {
    const SYNTAX: &str = "not a valid number (strings must be double-quoted)";
    let bytes = s.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let int_start = i;
    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut mantissa_digits = i - int_start;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        mantissa_digits += i - frac_start;
    }
    if mantissa_digits == 0 {
        return Err(SYNTAX);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return Err(SYNTAX);
        }
    }
    if i != bytes.len() {
        return Err(SYNTAX);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("float out of range for f64"),
        Err(_) => Err(SYNTAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> FieldValue<'static> {
        parse_unquoted(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    #[test]
    fn booleans() {
        for s in ["t", "T", "true", "True", "TRUE"] {
            assert_eq!(ok(s), FieldValue::Bool(true), "{s}");
        }
        for s in ["f", "F", "false", "False", "FALSE"] {
            assert_eq!(ok(s), FieldValue::Bool(false), "{s}");
        }
        for s in ["tRUE", "yes", "TrUe", "fals", "FALSe", "truee"] {
            assert!(parse_unquoted(s).is_err(), "{s}");
        }
    }

    #[test]
    fn floats() {
        let cases: [(&str, f64); 12] = [
            ("1", 1.0),
            ("1.5", 1.5),
            ("-1e3", -1000.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("-.5", -0.5),
            ("0", 0.0),
            ("2E-2", 0.02),
            ("1.5e+2", 150.0),
            ("007", 7.0),
            ("1.7976931348623157e308", f64::MAX),
            ("-12345.678", -12345.678),
        ];
        for (s, want) in cases {
            assert_eq!(ok(s), FieldValue::F64(want), "{s}");
        }
        assert!(matches!(ok("-0"), FieldValue::F64(v) if v == 0.0 && v.is_sign_negative()));
    }

    #[test]
    fn float_rejections() {
        for s in [
            "nan", "NaN", "inf", "-inf", "Infinity", "+1", "1e", "1e+", ".", "-", "-.", "1.2.3",
            "1..", "e5", "0x10", "1_000", "abc", "1.5x", "1,5", "--1",
        ] {
            assert!(parse_unquoted(s).is_err(), "{s:?} should be rejected");
        }
        assert_eq!(parse_unquoted("1e999"), Err("float out of range for f64"));
        assert_eq!(parse_unquoted("-1e999"), Err("float out of range for f64"));
        // Underflow to zero is not an error.
        assert_eq!(ok("1e-999"), FieldValue::F64(0.0));
    }

    #[test]
    fn signed_integers() {
        assert_eq!(ok("1i"), FieldValue::I64(1));
        assert_eq!(ok("-42i"), FieldValue::I64(-42));
        assert_eq!(ok("0i"), FieldValue::I64(0));
        assert_eq!(ok("9223372036854775807i"), FieldValue::I64(i64::MAX));
        assert_eq!(ok("-9223372036854775808i"), FieldValue::I64(i64::MIN));
        assert_eq!(
            parse_unquoted("9223372036854775808i"),
            Err("integer out of range for i64")
        );
        assert_eq!(
            parse_unquoted("-9223372036854775809i"),
            Err("integer out of range for i64")
        );
        for s in ["i", "-i", "+1i", "1.5i", "1ii", "1e3i", " 1i", "1 i", "ti"] {
            assert_eq!(parse_unquoted(s), Err("not a valid integer"), "{s:?}");
        }
    }

    #[test]
    fn unsigned_integers() {
        assert_eq!(ok("1u"), FieldValue::U64(1));
        assert_eq!(ok("0u"), FieldValue::U64(0));
        assert_eq!(ok("18446744073709551615u"), FieldValue::U64(u64::MAX));
        assert_eq!(
            parse_unquoted("18446744073709551616u"),
            Err("unsigned integer out of range for u64")
        );
        assert_eq!(
            parse_unquoted("-1u"),
            Err("unsigned integer cannot be negative")
        );
        assert_eq!(
            parse_unquoted("-0u"),
            Err("unsigned integer cannot be negative")
        );
        for s in ["u", "-u", "+1u", "1.0u", "1uu", "abcu"] {
            assert_eq!(
                parse_unquoted(s),
                Err("not a valid unsigned integer"),
                "{s:?}"
            );
        }
    }

    #[test]
    fn parse_i64_table() {
        assert_eq!(parse_i64("123"), Ok(123));
        assert_eq!(parse_i64("-123"), Ok(-123));
        assert_eq!(parse_i64("-0"), Ok(0));
        assert_eq!(parse_i64(""), Err(IntError::Syntax));
        assert_eq!(parse_i64("-"), Err(IntError::Syntax));
        assert_eq!(parse_i64("+1"), Err(IntError::Syntax));
        assert_eq!(parse_i64("1i"), Err(IntError::Syntax));
        assert_eq!(parse_i64("1.0"), Err(IntError::Syntax));
        assert_eq!(parse_i64("99999999999999999999"), Err(IntError::Range));
    }
}
