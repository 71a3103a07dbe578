//! Structured round trip: builds a point from the fuzzer's bytes, writes it as line protocol
//! with escaping and random whitespace, and checks that `parse_line` and `parse_lines` read back
//! exactly that point (or, when its keys repeat, exactly the message `check_keys` gives).
#![no_main]

use hearth_lineproto::{Cow, FieldValue, ParsedLine, check_keys, parse_line, parse_lines};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok((point, text)) = build(&mut u) else {
        return;
    };
    check(&point, &text, &mut u);
});

/// Characters for identifiers: every delimiter and escape the grammar knows, a few multi-byte
/// ones, and (via `None`) any character the fuzzer picks.
const IDENT_CHARS: &[Option<char>] = &[
    Some('a'),
    Some('Z'),
    Some('0'),
    Some(','),
    Some('='),
    Some(' '),
    Some('\\'),
    Some('"'),
    Some('#'),
    Some('\r'),
    Some('é'),
    Some('€'),
    Some('😀'),
    None,
];

/// An identifier that line protocol can express: no tab or newline (no escape exists for them;
/// `\<tab>` keeps the backslash).
fn ident(u: &mut Unstructured<'_>, min_len: usize) -> Result<String> {
    let len = u.int_in_range(min_len..=8)?;
    let mut s = String::new();
    while s.chars().count() < len {
        let c = match *u.choose(IDENT_CHARS)? {
            Some(c) => c,
            None => u.arbitrary()?,
        };
        if c != '\t' && c != '\n' {
            s.push(c);
        } else if u.is_empty() {
            break;
        }
    }
    if s.chars().count() < min_len {
        // Out of input: pad so that the identifier is never shorter than asked.
        s.extend(std::iter::repeat_n('a', min_len));
    }
    Ok(s)
}

/// Escapes an identifier: `\`, `,` and space always; `=` in keys and tag values.
fn escape_ident(s: &str, escape_equals: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | ' ') || (escape_equals && c == '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const STRING_CHARS: &[Option<char>] = &[
    Some('a'),
    Some(' '),
    Some('\t'),
    Some('\n'),
    Some('\r'),
    Some(','),
    Some('='),
    Some('"'),
    Some('\\'),
    Some('#'),
    Some('ü'),
    None,
];

fn field_value(u: &mut Unstructured<'_>) -> Result<(String, FieldValue<'static>)> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => {
            let v: f64 = u.arbitrary()?;
            let v = if v.is_finite() { v } else { 0.5 };
            let text = if u.arbitrary()? {
                format!("{v:?}")
            } else {
                format!("{v:e}")
            };
            (text, FieldValue::F64(v))
        }
        1 => {
            let v: i64 = u.arbitrary()?;
            (format!("{v}i"), FieldValue::I64(v))
        }
        2 => {
            let v: u64 = u.arbitrary()?;
            (format!("{v}u"), FieldValue::U64(v))
        }
        3 => {
            let spelling = *u.choose(&[
                "t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE",
            ])?;
            (
                spelling.to_owned(),
                FieldValue::Bool(spelling.starts_with(['t', 'T'])),
            )
        }
        _ => {
            let len = u.int_in_range(0..=12)?;
            let mut s = String::new();
            for _ in 0..len {
                match *u.choose(STRING_CHARS)? {
                    Some(c) => s.push(c),
                    None => s.push(u.arbitrary()?),
                }
            }
            let quoted = format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
            (quoted, FieldValue::Str(Cow::Owned(s)))
        }
    })
}

/// A run of spaces and tabs, at least `min` long.
fn gap(u: &mut Unstructured<'_>, min: usize) -> Result<String> {
    let len = u.int_in_range(min..=min + 2)?;
    let mut s = String::new();
    for _ in 0..len {
        s.push(if u.arbitrary()? { ' ' } else { '\t' });
    }
    Ok(s)
}

fn build(u: &mut Unstructured<'_>) -> Result<(ParsedLine<'static>, String)> {
    let mut measurement = ident(u, 1)?;
    if measurement.starts_with('#') {
        // A leading `#` makes a comment line, and `\#` keeps its backslash.
        measurement.insert(0, 'm');
    }
    let mut text = gap(u, 0)?;
    text.push_str(&escape_ident(&measurement, false));

    let mut tags = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let (key, value) = (ident(u, 1)?, ident(u, 1)?);
        text.push(',');
        text.push_str(&escape_ident(&key, true));
        text.push('=');
        text.push_str(&escape_ident(&value, true));
        tags.push((Cow::Owned(key), Cow::Owned(value)));
    }

    let mut fields = Vec::new();
    for i in 0..u.int_in_range(1..=4)? {
        let key = ident(u, 1)?;
        let (value_text, value) = field_value(u)?;
        if i == 0 {
            text.push_str(&gap(u, 1)?);
        } else {
            text.push(',');
        }
        text.push_str(&escape_ident(&key, true));
        text.push('=');
        text.push_str(&value_text);
        fields.push((Cow::Owned(key), value));
    }

    let timestamp = if u.arbitrary()? {
        let ts: i64 = u.arbitrary()?;
        text.push_str(&gap(u, 1)?);
        text.push_str(&ts.to_string());
        Some(ts)
    } else {
        None
    };
    text.push_str(&gap(u, 0)?);

    let point = ParsedLine {
        measurement: Cow::Owned(measurement),
        tags,
        fields,
        timestamp,
    };
    Ok((point, text))
}

fn check(point: &ParsedLine<'_>, text: &str, u: &mut Unstructured<'_>) {
    let keys = check_keys(&point.tags, &point.fields);
    let want = keys.clone().map(|()| point.clone());
    assert_eq!(parse_line(text), want, "parse_line({text:?})");

    // In a body: after a comment, with LF or CRLF, followed by another line whose number counts
    // the newlines inside quoted strings.
    let ending = if u.arbitrary().unwrap_or(false) {
        "\r\n"
    } else {
        "\n"
    };
    let body = format!("# comment\n{text}{ending}next f=1i\n");
    let next_number = 3 + text.matches('\n').count();
    let got: Vec<_> = parse_lines(&body)
        .map(|r| match r {
            Ok((n, line)) => Ok((n, line)),
            Err(e) => Err((e.line_number, e.message)),
        })
        .collect();
    let next = ParsedLine {
        measurement: Cow::Borrowed("next"),
        tags: Vec::new(),
        fields: vec![(Cow::Borrowed("f"), FieldValue::I64(1))],
        timestamp: None,
    };
    let first = match &keys {
        Ok(()) => Ok((2, point.clone())),
        Err(message) => Err((2, message.clone())),
    };
    assert_eq!(
        got,
        vec![first, Ok((next_number, next.clone()))],
        "body {body:?}"
    );

    // Without key checks the point itself comes back, repeated keys or not.
    let mut lines = parse_lines(&body).skip_key_checks();
    let mut line = ParsedLine::empty();
    assert_eq!(lines.next_into(&mut line), Some(Ok(2)), "body {body:?}");
    assert_eq!(&line, point, "body {body:?}");
    assert_eq!(
        lines.next_into(&mut line),
        Some(Ok(next_number)),
        "body {body:?}"
    );
    assert_eq!(line, next, "body {body:?}");
    assert_eq!(lines.next_into(&mut line), None, "body {body:?}");
}
