//! Splitting a request body into logical lines and parsing each one.
//!
//! Guarantees:
//! * A newline ends a line except inside a quoted string field value; the
//!   splitter follows the same structure the parser does (key section, field
//!   keys, field values, quoted strings, timestamp), so both agree on where
//!   strings start and end even when the line is otherwise invalid.
//! * Fast path: the parser runs from the start of a line to the first newline
//!   and stops there, so a valid line is read once. Anything unusual (an error,
//!   a newline inside a quoted string, a CRLF ending) falls back to parsing the
//!   physical line (found with a word-at-a-time newline scan) and, if that
//!   fails, the logical line found by the quote-aware splitter. The result is
//!   identical to always splitting first (tested).
//! * Blank lines (only spaces/tabs, optionally `\r`) and comment lines (first
//!   non-whitespace char `#`, up to the next newline) are skipped.
//! * Line numbers are 1-based physical lines of the body: a line is numbered by
//!   the physical line it starts on, and newlines inside quoted strings, blank
//!   lines and comments all advance the count.
//! * A trailing `\r` (CRLF endings) is removed before parsing.
//! * One error per bad line; iteration continues with the next line, never
//!   panics, and is fused.

use std::iter::FusedIterator;

use crate::error::LineError;
use crate::parse::{ParsedLine, parse_into};

/// Iterator over the parsed lines of a body; see [`parse_lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    body: &'a str,
    pos: usize,
    line_number: usize,
    check_keys: bool,
}

/// Iterates the lines of a body: skips blank lines and comment lines (first
/// non-whitespace char `#`); yields `Ok((line_number, ParsedLine))` or
/// `Err(LineError)` per line; never panics on any input.
pub fn parse_lines(body: &str) -> Lines<'_> {
    Lines {
        body,
        pos: 0,
        line_number: 1,
        check_keys: true,
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<(usize, ParsedLine<'a>), LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = ParsedLine::empty();
        let number = self.next_into(&mut line)?;
        Some(number.map(|n| (n, line)))
    }
}

impl<'a> Lines<'a> {
    /// Leaves out the checks that tag and field keys are unique within a line (duplicate tag,
    /// duplicate field, a name used as both). For callers that map keys to columns anyway and
    /// detect repeats on the way; they can produce the same message with [`check_keys`](crate::check_keys).
    pub fn skip_key_checks(mut self) -> Self {
        self.check_keys = false;
        self
    }

    /// Like [`Iterator::next`], but parses into `out`, reusing its vectors, so that a loop over
    /// a body allocates nothing per line. Yields the line number; on an error `out` holds an
    /// unspecified part of the line.
    pub fn next_into(&mut self, out: &mut ParsedLine<'a>) -> Option<Result<usize, LineError>> {
        let body = self.body;
        let bytes = body.as_bytes();
        while self.pos < bytes.len() {
            let start = self.pos;
            let number = self.line_number;
            let first = skip_spaces(bytes, start);
            let rest = &bytes[first..];
            if rest.is_empty()
                || rest.starts_with(b"\n")
                || rest.starts_with(b"\r\n")
                || rest == b"\r"
            {
                self.skip_physical_line(first);
                continue;
            }
            if rest[0] == b'#' {
                self.skip_physical_line(first);
                continue;
            }
            // Fast path: parse up to the first newline, in one pass over the bytes. A newline
            // can only be protected by an open quoted string, and the fast path gives up on a
            // string holding a newline, so when it succeeds the newline where it stopped ends
            // the logical line (the splitter below would stop at the same newline).
            if let Ok(end) = parse_into(&body[start..], out, self.check_keys, true) {
                self.pos = (start + end).saturating_add(1);
                self.line_number += 1;
                return Some(Ok(number));
            }
            // Slow path, with exact errors: the physical line, then the logical line.
            let newline = find_newline(bytes, first);
            let physical = strip_cr(&body[start..newline]);
            let first_try = parse_into(physical, out, self.check_keys, false);
            let (end, embedded_newlines, line, result) = match first_try {
                Ok(_) => (newline, 0, physical, Ok(())),
                Err(message) => {
                    let (end, embedded_newlines) = logical_line_end(bytes, first);
                    if end == newline {
                        (end, 0, physical, Err(message))
                    } else {
                        let logical = strip_cr(&body[start..end]);
                        let result = parse_into(logical, out, self.check_keys, false);
                        (end, embedded_newlines, logical, result.map(|_| ()))
                    }
                }
            };
            self.pos = end.saturating_add(1);
            self.line_number += 1 + embedded_newlines;
            return Some(match result {
                Ok(()) => Ok(number),
                Err(message) => Err(LineError::new(number, line, message)),
            });
        }
        None
    }

    /// Moves past the physical line containing `from` (a blank or a comment).
    fn skip_physical_line(&mut self, from: usize) {
        let bytes = self.body.as_bytes();
        let mut i = from;
        while bytes.get(i).is_some_and(|&b| b != b'\n') {
            i += 1;
        }
        self.pos = i.saturating_add(1);
        self.line_number += 1;
    }
}

impl FusedIterator for Lines<'_> {}

/// Removes one trailing `\r` (CRLF line endings).
fn strip_cr(line: &str) -> &str {
    line.strip_suffix('\r').unwrap_or(line)
}

/// Offset of the first `\n` at or after `from`, or `bytes.len()`. Scans eight
/// bytes at a time (SWAR), which matters because every line goes through here.
fn find_newline(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word) ^ NEWLINES;
        // Non-zero iff some byte of `x` is zero, i.e. some byte was '\n'.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            break;
        }
        i += 8;
    }
    while bytes.get(i).is_some_and(|&b| b != b'\n') {
        i += 1;
    }
    i
}

fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while matches!(bytes.get(pos), Some(b' ' | b'\t')) {
        pos += 1;
    }
    pos
}

/// Where the splitter is within a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Measurement and tags, up to the first unescaped space.
    Key,
    /// Spaces between the key section and the fields.
    Gap,
    /// A field key, up to its `=`.
    FieldKey,
    /// Just after a field key's `=`.
    ValueStart,
    /// An unquoted field value (or junk after a closing quote).
    Value,
    /// Inside a double-quoted string value.
    Quoted,
    /// After the field set: timestamp and trailing whitespace.
    Rest,
}

/// Finds the end of the logical line starting at `from`: the offset of the
/// terminating newline (or `bytes.len()`), and how many newlines it spans.
fn logical_line_end(bytes: &[u8], from: usize) -> (usize, usize) {
    let mut state = State::Key;
    let mut newlines = 0;
    let mut i = from;
    while let Some(&b) = bytes.get(i) {
        match state {
            State::Key | State::FieldKey => match b {
                // An escape covers the next byte, but never a newline.
                b'\\' if bytes.get(i + 1).is_some_and(|&n| n != b'\n') => {
                    i += 2;
                    continue;
                }
                b'\n' => return (i, newlines),
                b' ' | b'\t' if state == State::Key => state = State::Gap,
                b' ' | b'\t' => state = State::Rest,
                b'=' if state == State::FieldKey => state = State::ValueStart,
                _ => {}
            },
            State::Gap => match b {
                b'\n' => return (i, newlines),
                b' ' | b'\t' => {}
                _ => {
                    state = State::FieldKey;
                    continue;
                }
            },
            State::ValueStart => {
                if b == b'"' {
                    state = State::Quoted;
                } else {
                    state = State::Value;
                    continue;
                }
            }
            State::Value => match b {
                b',' => state = State::FieldKey,
                b' ' | b'\t' => state = State::Rest,
                b'\n' => return (i, newlines),
                _ => {}
            },
            State::Quoted => match b {
                b'\\' if i + 1 < bytes.len() => {
                    newlines += usize::from(bytes[i + 1] == b'\n');
                    i += 2;
                    continue;
                }
                b'"' => state = State::Value,
                b'\n' => newlines += 1,
                _ => {}
            },
            State::Rest => {
                if b == b'\n' {
                    return (i, newlines);
                }
            }
        }
        i += 1;
    }
    (bytes.len(), newlines)
}

#[cfg(test)]
#[path = "lines_tests.rs"]
mod tests;
