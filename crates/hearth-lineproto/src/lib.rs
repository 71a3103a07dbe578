//! Fast, zero-copy parser for the InfluxDB line protocol, with per-line errors.
//!
//! ```text
//! measurement[,tag=val...] field=val[,field=val...] [timestamp]
//! ```
//!
//! * [`parse_lines`] walks a whole request body, skipping blank and comment
//!   lines, and yields one `Result` per line so a bad line never hides the good
//!   ones. Errors carry the 1-based physical line number where the line starts.
//! * [`parse_line`] parses a single line.
//! * [`Precision`] maps the `precision` query parameter of the v1, v2 and v3
//!   write endpoints and scales timestamps to microseconds.
//!
//! Guarantees:
//! * **Zero-copy**: measurement, tag keys/values, field keys and string values
//!   borrow from the input ([`Cow::Borrowed`]); a `String` is allocated only for
//!   a token containing an escape sequence that changes its text. The only
//!   per-line allocations on unescaped input are the `tags`/`fields` vectors.
//! * **Total**: no input makes the parser panic — any `&str`, however long,
//!   malformed or full of multi-byte characters.
//! * **Compatible**: follows the line protocol spec as InfluxDB 3 applies it
//!   (escapes, `\\` → `\`, quoted newlines, `i`/`u` suffixes, boolean
//!   spellings, duplicate-field wording, `auto` precision guessing).
//!
//! ```
//! use hearth_lineproto::{FieldValue, parse_lines};
//!
//! let body = "# comment\ncpu,host=a usage=0.5,count=3i 1700000000000000000\n\nbad line\n";
//! let mut lines = parse_lines(body);
//!
//! let (number, line) = lines.next().unwrap().unwrap();
//! assert_eq!(number, 2);
//! assert_eq!(line.measurement, "cpu");
//! assert_eq!(line.tags, [("host".into(), "a".into())]);
//! assert_eq!(line.fields[1], ("count".into(), FieldValue::I64(3)));
//! assert_eq!(line.timestamp, Some(1_700_000_000_000_000_000));
//!
//! let err = lines.next().unwrap().unwrap_err();
//! assert_eq!(err.line_number, 4);
//! assert_eq!(err.original_line, "bad line");
//! assert!(lines.next().is_none());
//! ```

mod error;
mod escape;
mod lines;
mod parse;
mod precision;
mod validate;
mod value;

#[cfg(test)]
mod fuzz;

pub use std::borrow::Cow;

pub use error::LineError;
pub use lines::{Lines, parse_lines};
pub use parse::{ParsedLine, parse_line};
pub use precision::Precision;
pub use validate::check_keys;
pub use value::FieldValue;
