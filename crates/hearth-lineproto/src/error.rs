//! Per-line error type and helpers for building bounded, panic-free messages.
//!
//! Guarantees: [`LineError::original_line`] never exceeds [`MAX_ORIGINAL_LINE`]
//! bytes and is always cut at a UTF-8 character boundary; excerpts quoted inside
//! messages are likewise bounded so a single huge token cannot blow up an error.

/// Longest `original_line` kept in a [`LineError`], in bytes (therefore also at
/// most this many characters).
pub(crate) const MAX_ORIGINAL_LINE: usize = 100;

/// Longest excerpt of input quoted inside an error message, in bytes.
const MAX_EXCERPT: usize = 64;

/// An error for one line of a line protocol body.
///
/// Displays as `line {line_number}: {message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line_number}: {message}")]
pub struct LineError {
    /// 1-based physical line in the body where the offending line starts.
    pub line_number: usize,
    /// The line text, truncated to at most 100 bytes at a character boundary.
    pub original_line: String,
    /// What is wrong and, where practical, at which 1-based column (byte offset).
    pub message: String,
}

impl LineError {
    /// Builds an error, truncating `line` to [`MAX_ORIGINAL_LINE`] bytes.
    pub(crate) fn new(line_number: usize, line: &str, message: String) -> Self {
        Self {
            line_number,
            original_line: truncate(line, MAX_ORIGINAL_LINE).to_owned(),
            message,
        }
    }
}

/// Returns the longest prefix of `s` that is at most `max` bytes and ends on a
/// character boundary. Never panics.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A short, printable excerpt of user input for use inside error messages:
/// truncated to [`MAX_EXCERPT`] bytes (with a trailing `…` when cut).
pub(crate) fn excerpt(s: &str) -> String {
    let cut = truncate(s, MAX_EXCERPT);
    if cut.len() == s.len() {
        s.to_owned()
    } else {
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_short_strings() {
        assert_eq!(truncate("", 100), "");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn truncate_backs_off_to_char_boundary() {
        // 'é' is two bytes: cutting at 2 would split it.
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("aé", 3), "aé");
        // '€' is three bytes.
        assert_eq!(truncate("€€", 4), "€");
        assert_eq!(truncate("€€", 5), "€");
        assert_eq!(truncate("€€", 6), "€€");
    }

    #[test]
    fn line_error_truncates_original_line() {
        let long = "x".repeat(250);
        let e = LineError::new(7, &long, "bad".to_owned());
        assert_eq!(e.line_number, 7);
        assert_eq!(e.original_line, "x".repeat(100));
        assert_eq!(e.message, "bad");

        // 99 ASCII bytes followed by a two-byte char straddling the limit.
        let tricky = format!("{}é tail", "a".repeat(99));
        let e = LineError::new(1, &tricky, String::new());
        assert_eq!(e.original_line, "a".repeat(99));

        let multi = "€".repeat(60); // 180 bytes
        let e = LineError::new(1, &multi, String::new());
        assert_eq!(e.original_line, "€".repeat(33)); // 99 bytes
    }

    #[test]
    fn display_format() {
        let e = LineError::new(3, "m", "no fields at column 2".to_owned());
        assert_eq!(e.to_string(), "line 3: no fields at column 2");
    }

    #[test]
    fn excerpt_bounds_long_input() {
        assert_eq!(excerpt("short"), "short");
        let long = "y".repeat(200);
        assert_eq!(excerpt(&long), format!("{}…", "y".repeat(64)));
        let wide = "é".repeat(40); // 80 bytes
        assert_eq!(excerpt(&wide), format!("{}…", "é".repeat(32)));
    }
}
