//! Parsing of one logical line into a [`ParsedLine`].
//!
//! Grammar: `measurement[,tag=val...] field=val[,field=val...] [timestamp]`,
//! sections separated by runs of spaces/tabs, leading and trailing whitespace
//! ignored.
//!
//! Guarantees:
//! * single left-to-right pass over the bytes; the only allocations on an
//!   unescaped line are the `tags`/`fields` vectors the API requires (no tags,
//!   no tag allocation); identifiers and strings borrow from the input;
//! * never panics on any `&str`; every error is a message naming what is wrong
//!   and the 1-based column (byte offset within the line) where it was found;
//! * tags and fields keep input order; at least one field; keys are unique.

use std::borrow::Cow;

use crate::error::excerpt;
use crate::escape::{Ident, TrailingBackslash, find_separator, scan_ident, scan_quoted};
use crate::validate::check_keys;
use crate::value::{FieldValue, IntError, parse_i64, parse_unquoted};

/// One parsed point of line protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine<'a> {
    /// The measurement (table) name, unescaped.
    pub measurement: Cow<'a, str>,
    /// Tag key/value pairs in input order, unescaped.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Field key/value pairs in input order; never empty.
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    /// The timestamp exactly as written (not yet scaled by any precision).
    pub timestamp: Option<i64>,
}

/// Parses a single line of line protocol.
///
/// One trailing `\n` or `\r\n` is ignored. A newline is only allowed inside a
/// quoted string value. Blank and comment lines are errors here (use
/// [`parse_lines`](crate::parse_lines) for whole bodies, which skips them).
/// On error returns a message such as `empty tag key at column 5`.
pub fn parse_line(line: &str) -> Result<ParsedLine<'_>, String> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    parse_logical_line(line)
}

#[inline]
fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// First offset at or after `pos` that is not a space or tab.
#[inline]
fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos).copied().is_some_and(is_space) {
        pos += 1;
    }
    pos
}

/// First offset at or after `pos` holding one of `stop` bytes (or the end).
#[inline]
fn find_end(bytes: &[u8], mut pos: usize, stop: impl Fn(u8) -> bool) -> usize {
    while bytes.get(pos).is_some_and(|&b| !stop(b)) {
        pos += 1;
    }
    pos
}

/// Message for a byte that cannot appear at `pos`.
fn unexpected(line: &str, pos: usize, context: &str) -> String {
    match line.get(pos..).and_then(|rest| rest.chars().next()) {
        Some('\n') => format!("unexpected newline {context} at column {}", pos + 1),
        Some(c) => format!("unexpected character {c:?} {context} at column {}", pos + 1),
        None => format!("unexpected end of line {context} at column {}", pos + 1),
    }
}

/// Scans an identifier, turning a dangling backslash into a message.
#[inline(always)]
fn ident(line: &str, pos: usize, kind: Ident) -> Result<(Cow<'_, str>, usize), String> {
    scan_ident(line, pos, kind)
        .map_err(|TrailingBackslash(at)| format!("line ends with a backslash (column {})", at + 1))
}

impl ParsedLine<'_> {
    /// An empty line, to be filled by [`Lines::next_into`](crate::Lines::next_into).
    pub fn empty() -> Self {
        ParsedLine {
            measurement: Cow::Borrowed(""),
            tags: Vec::new(),
            fields: Vec::new(),
            timestamp: None,
        }
    }
}

/// Parses a logical line (it may span physical lines inside quoted strings).
/// The caller has already removed the line terminator and any trailing `\r`.
pub(crate) fn parse_logical_line(line: &str) -> Result<ParsedLine<'_>, String> {
    let mut out = ParsedLine::empty();
    parse_into(line, &mut out, true, false)?;
    Ok(out)
}

/// Parses a logical line into `out`, reusing its vectors (no allocation once they have grown
/// to the widest line). Checks that keys are unique only when `check` is set. On error `out`
/// holds an unspecified part of the line.
///
/// With `until_newline`, `line` may run on past the end of the line (the rest of a body): the
/// parse stops at the first newline, and returns its offset (or `line.len()`). This mode is a
/// fast path only: it fails on anything unusual (a newline inside a quoted string, a `\r`
/// before the newline, any error) with a message that the caller must not show; the caller
/// then finds the logical line and parses it without `until_newline`. Without `until_newline`
/// it returns `line.len()`.
pub(crate) fn parse_into<'a>(
    line: &'a str,
    out: &mut ParsedLine<'a>,
    check: bool,
    until_newline: bool,
) -> Result<usize, String> {
    out.tags.clear();
    out.fields.clear();
    out.timestamp = None;
    let bytes = line.as_bytes();
    let mut pos = skip_spaces(bytes, 0);
    match bytes.get(pos) {
        None => return Err("missing measurement: line is blank".to_owned()),
        Some(b'#') => return Err("line is a comment, not a point".to_owned()),
        Some(_) => {}
    }

    let (measurement, end) = ident(line, pos, Ident::Measurement)?;
    if measurement.is_empty() {
        return Err(format!("missing measurement at column {}", pos + 1));
    }
    out.measurement = measurement;
    pos = end;

    let tags = &mut out.tags;
    while bytes.get(pos) == Some(&b',') {
        let key_start = pos + 1;
        let (key, end) = ident(line, key_start, Ident::TagKey)?;
        if key.is_empty() {
            return Err(format!("empty tag key at column {}", key_start + 1));
        }
        if bytes.get(end) != Some(&b'=') {
            return Err(format!(
                "missing '=' after tag key '{}' at column {}",
                excerpt(&key),
                end + 1
            ));
        }
        let value_start = end + 1;
        let (value, end) = ident(line, value_start, Ident::TagValue)?;
        if value.is_empty() {
            return Err(format!(
                "empty value for tag '{}' at column {}",
                excerpt(&key),
                value_start + 1
            ));
        }
        tags.push((key, value));
        pos = end;
    }

    match bytes.get(pos) {
        Some(&b) if is_space(b) => pos = skip_spaces(bytes, pos),
        None => {}
        Some(_) => return Err(unexpected(line, pos, "after measurement and tags")),
    }
    if pos == bytes.len() {
        return Err(format!("no fields at column {}", pos + 1));
    }

    let fields = &mut out.fields;
    loop {
        let (field, end) = parse_field(line, pos, until_newline)?;
        fields.push(field);
        pos = end;
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            Some(&b) if is_space(b) => break,
            None => break,
            Some(b'\n') if until_newline => break,
            Some(_) => {
                let context = format!(
                    "after the value of field '{}'",
                    excerpt(&fields[fields.len() - 1].0)
                );
                return Err(unexpected(line, pos, &context));
            }
        }
    }

    // Where the line ends: its end, or in `until_newline` mode the next newline.
    let line_end = |pos: usize| match bytes.get(pos) {
        None => true,
        Some(b'\n') => until_newline,
        Some(_) => false,
    };
    pos = skip_spaces(bytes, pos);
    let timestamp = if !line_end(pos) {
        let end = find_end(bytes, pos, |b| is_space(b) || b == b'\n');
        let token = &line[pos..end];
        let ts = parse_i64(token).map_err(|e| match e {
            IntError::Syntax => format!(
                "invalid timestamp '{}' at column {}: expected an integer",
                excerpt(token),
                pos + 1
            ),
            IntError::Range => format!(
                "invalid timestamp '{}' at column {}: out of range for i64",
                excerpt(token),
                pos + 1
            ),
        })?;
        pos = skip_spaces(bytes, end);
        if !line_end(pos) {
            return Err(match bytes[pos] {
                b'\n' => unexpected(line, pos, "after the timestamp"),
                _ => format!(
                    "unexpected trailing content '{}' after the timestamp at column {}",
                    excerpt(&line[pos..]),
                    pos + 1
                ),
            });
        }
        Some(ts)
    } else {
        None
    };

    out.timestamp = timestamp;
    if check {
        check_keys(&out.tags, &out.fields)?;
    }
    Ok(pos)
}

/// Parses one `key=value` starting at `pos`; returns it and the offset after
/// the value.
#[inline]
fn parse_field(
    line: &str,
    pos: usize,
    until_newline: bool,
) -> Result<((Cow<'_, str>, FieldValue<'_>), usize), String> {
    let bytes = line.as_bytes();
    let (key, end) = ident(line, pos, Ident::FieldKey)?;
    if key.is_empty() {
        return Err(format!("empty field key at column {}", pos + 1));
    }
    if bytes.get(end) != Some(&b'=') {
        return Err(format!(
            "missing '=' after field key '{}' at column {}",
            excerpt(&key),
            end + 1
        ));
    }
    let value_start = end + 1;
    if bytes.get(value_start) == Some(&b'"') {
        let (text, end) = scan_quoted(line, value_start).map_err(|_| {
            format!(
                "unterminated string value for field '{}' starting at column {}",
                excerpt(&key),
                value_start + 1
            )
        })?;
        if until_newline && text.contains('\n') {
            // The string may run over a line end: the splitter decides where the line ends.
            return Err(String::new());
        }
        return Ok(((key, FieldValue::Str(text)), end));
    }
    let end = find_separator(bytes, value_start);
    let token = &line[value_start..end];
    if token.is_empty() {
        return Err(format!(
            "missing value for field '{}' at column {}",
            excerpt(&key),
            value_start + 1
        ));
    }
    let value = parse_unquoted(token).map_err(|why| {
        format!(
            "invalid value '{}' for field '{}' at column {}: {why}",
            excerpt(token),
            excerpt(&key),
            value_start + 1
        )
    })?;
    Ok(((key, value), end))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
