//! Byte-level scanning and unescaping of identifiers and quoted string values.
//!
//! Guarantees:
//! * Zero-copy: a token is returned as `Cow::Borrowed` unless it contains an
//!   escape sequence that actually changes its text; only then is a `String`
//!   allocated.
//! * Slicing happens only at ASCII delimiter/backslash positions or the ends of
//!   the input, so no function here can panic on a char boundary.
//!
//! Escape rules (line protocol spec, as InfluxDB 3 applies them):
//! * measurement: `\,` `\ ` and `\\` are unescaped;
//! * tag keys, tag values, field keys: `\,` `\=` `\ ` and `\\`;
//! * quoted string field values: `\"` and `\\`.
//!
//! A backslash before any other character is kept literally (together with the
//! character, which it still protects from being read as a delimiter). A
//! backslash with nothing after it (end of line) is an error.

use std::borrow::Cow;

/// Which part of a line an identifier belongs to; selects delimiters and escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ident {
    Measurement,
    TagKey,
    TagValue,
    FieldKey,
}

/// Byte class: ends any token (space, tab, newline, comma).
const SEPARATOR: u8 = 1;
/// Byte class: `=`, which ends keys.
const EQUALS: u8 = 2;
/// Byte class: `\`.
const BACKSLASH: u8 = 4;

/// Class bits for every byte value; scanning loops test one table entry per
/// byte instead of a chain of comparisons.
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    table[b' ' as usize] = SEPARATOR;
    table[b'\t' as usize] = SEPARATOR;
    table[b'\n' as usize] = SEPARATOR;
    table[b',' as usize] = SEPARATOR;
    table[b'=' as usize] = EQUALS;
    table[b'\\' as usize] = BACKSLASH;
    table
};

/// Offset of the first space, tab, newline or comma at or after `from`
/// (or `bytes.len()`): the end of an unquoted field value.
#[inline]
pub(crate) fn find_separator(bytes: &[u8], from: usize) -> usize {
    skip_to_class(bytes, from, SEPARATOR)
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// Bit 7 set in each byte of `word` equal to `b`, exact up to the lowest such byte (the
/// classic "has zero byte" test; a borrow can only flag bytes above a true match).
#[inline(always)]
fn bytes_equal(word: u64, b: u8) -> u64 {
    let x = word ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Bit 7 set in each byte of `word` that may belong to one of the `classes`; the lowest set
/// byte is exact for the test that flagged it, so the lowest candidate is never past the first
/// real match. Separators (space, tab, newline, comma) are all below `-` (0x2D): one
/// "less than" test covers them, at the price of flagging a few rare punctuation bytes too.
#[inline(always)]
fn candidates(word: u64, classes: u8) -> u64 {
    let mut m = 0;
    if classes & SEPARATOR != 0 {
        m |= word.wrapping_sub(ONES * 0x2D) & !word & HIGHS;
    }
    if classes & EQUALS != 0 {
        m |= bytes_equal(word, b'=');
    }
    if classes & BACKSLASH != 0 {
        m |= bytes_equal(word, b'\\');
    }
    m
}

/// Offset of the first byte at or after `from` whose class is in `classes` (or `bytes.len()`).
/// Skips eight bytes at a time while none of them can match, then confirms byte by byte.
#[inline(always)]
fn skip_to_class(bytes: &[u8], mut i: usize, classes: u8) -> usize {
    loop {
        while let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let m = candidates(u64::from_le_bytes(word), classes);
            if m != 0 {
                i += (m.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match bytes.get(i) {
            None => return i,
            Some(&b) if CLASS[usize::from(b)] & classes != 0 => return i,
            // A false candidate, or one of the last few bytes.
            Some(_) => i += 1,
        }
    }
}

impl Ident {
    /// Classes that interrupt the fast scan: this identifier's delimiters
    /// plus the backslash.
    #[inline]
    fn stop_classes(self) -> u8 {
        match self {
            Ident::Measurement | Ident::TagValue => SEPARATOR | BACKSLASH,
            Ident::TagKey | Ident::FieldKey => SEPARATOR | EQUALS | BACKSLASH,
        }
    }

    /// Bytes for which `\x` is replaced by `x`.
    #[inline]
    fn is_escapable(self, b: u8) -> bool {
        match b {
            b'\\' | b',' | b' ' => true,
            b'=' => self != Ident::Measurement,
            _ => false,
        }
    }
}

/// Scanning stopped at a backslash that has no character after it on the line.
/// Holds the byte offset of that backslash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrailingBackslash(pub(crate) usize);

/// Scans an identifier of kind `kind` starting at byte `start` of `line`.
///
/// Returns the unescaped text and the offset of the first byte after it (an
/// unescaped delimiter, or `line.len()`). The text may be empty.
#[inline(always)]
pub(crate) fn scan_ident(
    line: &str,
    start: usize,
    kind: Ident,
) -> Result<(Cow<'_, str>, usize), TrailingBackslash> {
    let bytes = line.as_bytes();
    let stop = kind.stop_classes();
    let mut i = start;
    let mut needs_unescape = false;
    loop {
        i = skip_to_class(bytes, i, stop);
        // Stopped at a delimiter, the end, or a backslash.
        if bytes.get(i) != Some(&b'\\') {
            break;
        }
        match bytes.get(i + 1) {
            None | Some(b'\n') => return Err(TrailingBackslash(i)),
            Some(&next) => {
                needs_unescape |= kind.is_escapable(next);
                i += 2;
            }
        }
    }
    let raw = &line[start..i];
    let text = if needs_unescape {
        Cow::Owned(unescape(raw, |b| kind.is_escapable(b)))
    } else {
        Cow::Borrowed(raw)
    };
    Ok((text, i))
}

/// The quoted string starting at `start` has no closing quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unterminated;

/// Scans a double-quoted string value; `line.as_bytes()[start]` must be `"`.
///
/// Returns the unescaped contents and the offset just past the closing quote.
/// Newlines inside the quotes are ordinary characters.
#[inline]
pub(crate) fn scan_quoted(line: &str, start: usize) -> Result<(Cow<'_, str>, usize), Unterminated> {
    let bytes = line.as_bytes();
    let open = start + 1;
    let mut i = open;
    let mut needs_unescape = false;
    loop {
        match bytes.get(i) {
            None => return Err(Unterminated),
            Some(b'"') => break,
            Some(b'\\') => match bytes.get(i + 1) {
                None => return Err(Unterminated),
                Some(&next) => {
                    needs_unescape |= next == b'"' || next == b'\\';
                    i += 2;
                }
            },
            Some(_) => i += 1,
        }
    }
    let raw = &line[open..i];
    let text = if needs_unescape {
        Cow::Owned(unescape(raw, |b| b == b'"' || b == b'\\'))
    } else {
        Cow::Borrowed(raw)
    };
    Ok((text, i + 1))
}

/// Replaces `\x` with `x` for every `x` accepted by `escapable`; any other
/// backslash (and the byte after it) is copied unchanged. Each backslash
/// consumes the byte after it, so `\\,` yields `\,` rather than `,`.
fn unescape(raw: &str, escapable: impl Fn(u8) -> bool) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut segment_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            if escapable(bytes[i + 1]) {
                // `i` is an ASCII backslash and `i + 1` an ASCII char: both boundaries.
                out.push_str(&raw[segment_start..i]);
                segment_start = i + 1;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push_str(&raw[segment_start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(s: &str, kind: Ident) -> (Cow<'_, str>, usize) {
        scan_ident(s, 0, kind).expect("scan")
    }

    #[test]
    fn plain_identifiers_borrow() {
        let (t, end) = ident("cpu,host=a", Ident::Measurement);
        assert_eq!((t.as_ref(), end), ("cpu", 3));
        assert!(matches!(t, Cow::Borrowed(_)));

        let (t, end) = ident("host=a", Ident::TagKey);
        assert_eq!((t.as_ref(), end), ("host", 4));
        let (t, end) = ident("a=b,c", Ident::TagValue);
        assert_eq!((t.as_ref(), end), ("a=b", 3));
        let (t, end) = ident("usage idle", Ident::FieldKey);
        assert_eq!((t.as_ref(), end), ("usage", 5));
        let (t, end) = ident("tab\tx", Ident::FieldKey);
        assert_eq!((t.as_ref(), end), ("tab", 3));
        let (t, end) = ident("nl\nx", Ident::Measurement);
        assert_eq!((t.as_ref(), end), ("nl", 2));
    }

    #[test]
    fn measurement_escapes() {
        let (t, end) = ident(r"my\ meas\,ure f=1", Ident::Measurement);
        assert_eq!((t.as_ref(), end), ("my meas,ure", 13));
        assert!(matches!(t, Cow::Owned(_)));
        // `=` is not a measurement escape: kept literally, still borrowed.
        let (t, _) = ident(r"a\=b", Ident::Measurement);
        assert_eq!(t, r"a\=b");
        assert!(matches!(t, Cow::Borrowed(_)));
        // `=` is not a measurement delimiter either.
        assert_eq!(ident("a=b c", Ident::Measurement).0, "a=b");
    }

    #[test]
    fn key_and_value_escapes() {
        for kind in [Ident::TagKey, Ident::TagValue, Ident::FieldKey] {
            let (t, end) = ident(r"a\,b\=c\ d x", kind);
            assert_eq!(t, "a,b=c d", "{kind:?}");
            assert_eq!(end, 10, "{kind:?}");
        }
    }

    #[test]
    fn backslash_rules() {
        // Double backslash is one literal backslash and does not escape the space.
        let (t, end) = ident(r"a\\ b", Ident::TagValue);
        assert_eq!((t.as_ref(), end), (r"a\", 3));
        // Backslash before an ordinary char stays literal and borrowed.
        let (t, _) = ident(r"a\b\tc", Ident::FieldKey);
        assert_eq!(t, r"a\b\tc");
        assert!(matches!(t, Cow::Borrowed(_)));
        // Three backslashes then a space: `\\` -> `\`, `\ ` -> ` `.
        assert_eq!(ident(r"a\\\ b", Ident::TagKey).0, r"a\ b");
        // A backslash protects a multi-byte char without splitting it.
        assert_eq!(ident("x\\é,y", Ident::TagValue).0, "x\\é");
        assert_eq!(ident("x\\é\\,y", Ident::TagValue).0, "x\\é,y");
    }

    #[test]
    fn trailing_backslash_is_an_error() {
        assert_eq!(
            scan_ident(r"abc\", 0, Ident::Measurement),
            Err(TrailingBackslash(3))
        );
        assert_eq!(
            scan_ident("ab\\\ncd", 0, Ident::TagValue),
            Err(TrailingBackslash(2))
        );
        assert_eq!(
            scan_ident(r"\", 0, Ident::FieldKey),
            Err(TrailingBackslash(0))
        );
    }

    #[test]
    fn scan_from_offset_and_empty() {
        let (t, end) = scan_ident("m,k=v", 2, Ident::TagKey).expect("scan");
        assert_eq!((t.as_ref(), end), ("k", 3));
        let (t, end) = scan_ident("m,=v", 2, Ident::TagKey).expect("scan");
        assert_eq!((t.as_ref(), end), ("", 2));
        let (t, end) = scan_ident("m", 1, Ident::TagKey).expect("scan");
        assert_eq!((t.as_ref(), end), ("", 1));
    }

    #[test]
    fn quoted_strings() {
        let (t, end) = scan_quoted(r#""hello world",x"#, 0).expect("quoted");
        assert_eq!((t.as_ref(), end), ("hello world", 13));
        assert!(matches!(t, Cow::Borrowed(_)));

        let (t, _) = scan_quoted(r#""say \"hi\" \\ now""#, 0).expect("quoted");
        assert_eq!(t, r#"say "hi" \ now"#);
        assert!(matches!(t, Cow::Owned(_)));

        // Other backslashes are literal and do not force an allocation.
        let (t, _) = scan_quoted(r#""a\nb\,c""#, 0).expect("quoted");
        assert_eq!(t, r"a\nb\,c");
        assert!(matches!(t, Cow::Borrowed(_)));

        let (t, end) = scan_quoted("f=\"line1\nline2\" 5", 2).expect("quoted");
        assert_eq!((t.as_ref(), end), ("line1\nline2", 15));

        let (t, end) = scan_quoted(r#""""#, 0).expect("empty");
        assert_eq!((t.as_ref(), end), ("", 2));

        assert_eq!(scan_quoted(r#""\\\"""#, 0).expect("q").0, r#"\""#);
        assert_eq!(scan_quoted("\"é\\\"ü\"", 0).expect("q").0, "é\"ü");
    }

    #[test]
    fn unterminated_quoted_strings() {
        assert_eq!(scan_quoted(r#""abc"#, 0), Err(Unterminated));
        assert_eq!(scan_quoted(r#""abc\""#, 0), Err(Unterminated));
        assert_eq!(scan_quoted(r#""abc\"#, 0), Err(Unterminated));
        assert_eq!(scan_quoted(r#"""#, 0), Err(Unterminated));
    }
}
