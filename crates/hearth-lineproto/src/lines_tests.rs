//! Unit tests for body splitting: line numbering across blank lines, comments,
//! quoted newlines and CRLF; per-line errors; and the splitter state machine.

use super::*;
use crate::fuzz::Rng;
use crate::parse::parse_logical_line;
use crate::{Cow, FieldValue};

/// Collects `(line_number, Ok(measurement) | Err(message))` for a body.
fn summary(body: &str) -> Vec<(usize, Result<String, String>)> {
    parse_lines(body)
        .map(|r| match r {
            Ok((n, p)) => (n, Ok(p.measurement.into_owned())),
            Err(e) => (e.line_number, Err(e.message)),
        })
        .collect()
}

#[test]
fn empty_and_whitespace_bodies_yield_nothing() {
    for body in [
        "",
        "\n",
        "\n\n\n",
        "   ",
        " \t \n\t\n",
        "\r\n",
        "\r",
        "  \r\n \r\n",
    ] {
        assert_eq!(summary(body), vec![], "{body:?}");
    }
}

#[test]
fn numbers_lines_and_skips_blanks_and_comments() {
    let body = "\n# header \"with a quote\n  \na f=1\n\t# indented comment\nb f=2\n\n\nc f=3";
    assert_eq!(
        summary(body),
        vec![
            (4, Ok("a".to_owned())),
            (6, Ok("b".to_owned())),
            (9, Ok("c".to_owned())),
        ]
    );
}

#[test]
fn yields_line_numbers_with_parsed_lines() {
    let lines: Vec<_> = parse_lines("m f=1 1\nm f=2 2\n").collect();
    assert_eq!(lines.len(), 2);
    let (n, p) = lines[1].clone().expect("ok");
    assert_eq!(n, 2);
    assert_eq!(p.fields, vec![(Cow::Borrowed("f"), FieldValue::F64(2.0))]);
    assert_eq!(p.timestamp, Some(2));
}

#[test]
fn quoted_newlines_do_not_end_a_line() {
    let body = "a s=\"one\ntwo\nthree\",n=1i 5\nb f=1\nc s=\"x\\\"\ny\" 6\nd f=2";
    let lines: Vec<_> = parse_lines(body).collect();
    assert_eq!(lines.len(), 4);
    let (n, a) = lines[0].clone().expect("a");
    assert_eq!(n, 1);
    assert_eq!(a.fields[0].1, FieldValue::Str("one\ntwo\nthree".into()));
    assert_eq!(a.fields[1].1, FieldValue::I64(1));
    assert_eq!(a.timestamp, Some(5));
    assert_eq!(lines[1].clone().expect("b").0, 4);
    let (n, c) = lines[2].clone().expect("c");
    assert_eq!(n, 5);
    assert_eq!(c.fields[0].1, FieldValue::Str("x\"\ny".into()));
    assert_eq!(lines[3].clone().expect("d").0, 7);
}

#[test]
fn quotes_outside_field_values_do_not_open_strings() {
    // A quote in the measurement/tags, a field key or the timestamp is literal.
    let body = "m\"x f=1\nm,t=\"a f=1\nm f=1 \"2\nok f=1";
    assert_eq!(
        summary(body),
        vec![
            (1, Ok("m\"x".to_owned())),
            (2, Ok("m".to_owned())),
            (
                3,
                Err("invalid timestamp '\"2' at column 7: expected an integer".to_owned())
            ),
            (4, Ok("ok".to_owned())),
        ]
    );
}

#[test]
fn crlf_line_endings() {
    let body = "a f=1 10\r\n\r\n# c\r\nb,t=x s=\"q\" 20\r\nc f=t\r\n";
    let lines: Vec<_> = parse_lines(body).map(|r| r.expect("ok")).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!((lines[0].0, lines[0].1.timestamp), (1, Some(10)));
    assert_eq!((lines[1].0, lines[1].1.timestamp), (4, Some(20)));
    assert_eq!(lines[1].1.tags[0].1, "x");
    assert_eq!(lines[2].0, 5);
    assert_eq!(lines[2].1.fields[0].1, FieldValue::Bool(true));
}

#[test]
fn errors_carry_line_number_text_and_message() {
    let body = "good f=1\n\nbad,t f=1\n# c\nm f=1,f=2\nm f=\"open\nstill open\n";
    let results: Vec<_> = parse_lines(body).collect();
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok());
    let e = results[1].clone().expect_err("tag without =");
    assert_eq!(e.line_number, 3);
    assert_eq!(e.original_line, "bad,t f=1");
    assert_eq!(e.message, "missing '=' after tag key 't' at column 6");
    assert_eq!(
        e.to_string(),
        "line 3: missing '=' after tag key 't' at column 6"
    );
    let e = results[2].clone().expect_err("dup field");
    assert_eq!(e.line_number, 5);
    assert_eq!(e.message, "multiple instances of 'f' field found");
    // An unterminated string swallows the rest of the body.
    let e = results[3].clone().expect_err("unterminated");
    assert_eq!(e.line_number, 6);
    assert_eq!(e.original_line, "m f=\"open\nstill open\n");
    assert_eq!(
        e.message,
        "unterminated string value for field 'f' starting at column 5"
    );
}

#[test]
fn each_error_kind_reports_its_line() {
    let body = [
        ",t=1 f=1",      // 1 missing measurement
        "m",             // 2 no fields
        "m,t f=1",       // 3 tag without '='
        "m,=1 f=1",      // 4 empty tag key
        "m,t= f=1",      // 5 empty tag value
        "m =1",          // 6 empty field key
        "m f=x",         // 7 invalid value
        "m,t=1,t=2 f=1", // 8 duplicate tag
        "m f=1,f=2",     // 9 duplicate field
        "m,f=1 f=2",     // 10 tag/field clash
        "m f=1 12x",     // 11 invalid timestamp
        "m f=\"abc",     // 12 unterminated (last line, so nothing swallowed)
    ]
    .join("\n");
    let got: Vec<usize> = parse_lines(&body)
        .map(|r| r.expect_err("every line is bad").line_number)
        .collect();
    assert_eq!(got, (1..=12).collect::<Vec<_>>());

    let body = "m\\\nm f=1 1 2\n";
    let errors: Vec<_> = parse_lines(body).map(|r| r.expect_err("bad")).collect();
    assert_eq!(errors[0].line_number, 1);
    assert_eq!(errors[0].message, "line ends with a backslash (column 2)");
    assert_eq!(errors[1].line_number, 2);
    assert_eq!(
        errors[1].message,
        "unexpected trailing content '2' after the timestamp at column 9"
    );
}

#[test]
fn columns_count_from_the_physical_line_start() {
    let e = parse_lines("x f=1\n   m,=1 f=1")
        .nth(1)
        .expect("line")
        .expect_err("bad");
    assert_eq!(e.line_number, 2);
    assert_eq!(e.message, "empty tag key at column 6");
    assert_eq!(e.original_line, "   m,=1 f=1");
}

#[test]
fn original_line_is_truncated() {
    let body = format!("m f={}\n", "z".repeat(500));
    let e = parse_lines(&body).next().expect("line").expect_err("bad");
    assert_eq!(e.original_line.len(), 100);
    assert!(e.original_line.starts_with("m f=zzz"));
}

#[test]
fn iterator_is_fused() {
    let mut lines = parse_lines("m f=1");
    assert!(lines.next().is_some());
    assert!(lines.next().is_none());
    assert!(lines.next().is_none());
}

#[test]
fn splitter_states() {
    let end = |s: &str| logical_line_end(s.as_bytes(), 0);
    assert_eq!(end("m f=1\nx"), (5, 0));
    assert_eq!(end("m f=1"), (5, 0));
    assert_eq!(end("m,t=a\\ b f=\"a\nb\" 1\nx"), (18, 1));
    assert_eq!(end("m f=\"a\\\nb\"\nx"), (10, 1));
    assert_eq!(end("m f=1,g=\"\n\n\"\nx"), (12, 2));
    // Escaped space in the key section stays in the key section.
    assert_eq!(end("m\\ f=\"\nx"), (6, 0));
    // Backslash never escapes a newline outside quotes.
    assert_eq!(end("m\\\nf=1"), (2, 0));
    // Quote after a closing quote does not reopen.
    assert_eq!(end("m f=\"a\"\"\nx"), (8, 0));
    // Quote in the timestamp section is literal.
    assert_eq!(end("m f=1 \"\nx"), (7, 0));
    // Unterminated string runs to the end.
    assert_eq!(end("m f=\"a\nb\nc"), (10, 2));
}

/// The straightforward algorithm the fast path must be indistinguishable from:
/// always find the logical line with the quote-aware splitter, then parse it.
fn reference(body: &str) -> Vec<Result<(usize, ParsedLine<'_>), LineError>> {
    let bytes = body.as_bytes();
    let (mut out, mut pos, mut number) = (Vec::new(), 0, 1);
    while pos < bytes.len() {
        let first = skip_spaces(bytes, pos);
        let rest = &bytes[first..];
        let blank =
            rest.is_empty() || rest[0] == b'\n' || rest.starts_with(b"\r\n") || rest == b"\r";
        if blank || rest[0] == b'#' {
            pos = first + rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len()) + 1;
            number += 1;
            continue;
        }
        let (end, newlines) = logical_line_end(bytes, first);
        let line = strip_cr(&body[pos..end]);
        out.push(match parse_logical_line(line) {
            Ok(parsed) => Ok((number, parsed)),
            Err(message) => Err(LineError::new(number, line, message)),
        });
        pos = end + 1;
        number += 1 + newlines;
    }
    out
}

#[test]
fn fast_path_matches_reference_splitter() {
    // Mostly well-formed segments (so many lines parse, some across newlines),
    // mixed with single troublesome characters.
    const PIECES: &[&str] = &[
        "m f=1\n",
        "m,t=a f=1i 5\n",
        "m s=\"a\nb\"\n",
        "m s=\"x\\\"\ny\" 2\n",
        "m s=\"",
        "line\n",
        "\" 7\n",
        "\",g=t\n",
        "# c \"\n",
        "\r\n",
        "\n",
        " ",
        "\\",
        "\"",
        ",",
        "=",
        "é",
        "\t",
    ];
    let mut rng = Rng(0x5851_F42D_4C95_7F2D);
    let (mut ok_lines, mut multi_line_ok) = (0, 0);
    for _ in 0..5000 {
        let body: String = (0..rng.below(30)).map(|_| *rng.pick(PIECES)).collect();
        let fast: Vec<_> = parse_lines(&body).collect();
        assert_eq!(fast, reference(&body), "{body:?}");
        let spans_lines = |r: &Result<(usize, ParsedLine<'_>), LineError>| {
            r.as_ref().is_ok_and(|(_, p)| {
                p.fields
                    .iter()
                    .any(|(_, v)| matches!(v, FieldValue::Str(s) if s.contains('\n')))
            })
        };
        ok_lines += fast.iter().filter(|r| r.is_ok()).count();
        multi_line_ok += fast.iter().filter(|r| spans_lines(r)).count();
    }
    // The generator must actually exercise both paths.
    assert!(ok_lines > 5000, "{ok_lines}");
    assert!(multi_line_ok > 1000, "{multi_line_ok}");
}

#[test]
fn find_newline_matches_naive_scan() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..2000 {
        let len = rng.below(40);
        let bytes: Vec<u8> = (0..len)
            .map(|_| *rng.pick(&[b'a', b'\n', 0x0b, 0x8a, 0xff, 0x09]))
            .collect();
        for from in 0..=len {
            let naive = bytes[from..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(len, |p| from + p);
            assert_eq!(find_newline(&bytes, from), naive, "{bytes:?} from {from}");
        }
    }
}
