//! Unit tests for single-line parsing: every value kind, every escape, the
//! zero-copy guarantee, and each error kind with its exact message.

use super::*;

fn ok(line: &str) -> ParsedLine<'_> {
    parse_line(line).unwrap_or_else(|e| panic!("{line:?} should parse: {e}"))
}

fn err(line: &str) -> String {
    match parse_line(line) {
        Ok(parsed) => panic!("{line:?} should fail, got {parsed:?}"),
        Err(e) => e,
    }
}

#[expect(clippy::ptr_arg, reason = "inspects which Cow variant it is")]
fn borrowed(c: &Cow<'_, str>) -> bool {
    matches!(c, Cow::Borrowed(_))
}

#[test]
fn full_line() {
    let p = ok("cpu,host=a,region=west usage=0.5,count=3i,up=t,name=\"x y\",big=7u 1700000000");
    assert_eq!(p.measurement, "cpu");
    assert_eq!(
        p.tags,
        vec![
            ("host".into(), "a".into()),
            ("region".into(), "west".into())
        ]
    );
    assert_eq!(
        p.fields,
        vec![
            ("usage".into(), FieldValue::F64(0.5)),
            ("count".into(), FieldValue::I64(3)),
            ("up".into(), FieldValue::Bool(true)),
            ("name".into(), FieldValue::Str("x y".into())),
            ("big".into(), FieldValue::U64(7)),
        ]
    );
    assert_eq!(p.timestamp, Some(1_700_000_000));
}

#[test]
fn minimal_line_and_no_timestamp() {
    let p = ok("m f=1");
    assert_eq!(p.measurement, "m");
    assert!(p.tags.is_empty());
    assert_eq!(p.fields, vec![("f".into(), FieldValue::F64(1.0))]);
    assert_eq!(p.timestamp, None);
}

#[test]
fn unescaped_input_borrows_everything() {
    let p = ok("cpu,host=a f=\"str\",g=1 5");
    assert!(borrowed(&p.measurement));
    assert!(borrowed(&p.tags[0].0) && borrowed(&p.tags[0].1));
    assert!(borrowed(&p.fields[0].0) && borrowed(&p.fields[1].0));
    assert!(matches!(&p.fields[0].1, FieldValue::Str(s) if borrowed(s)));
    // No tags: the tag vector never allocated.
    assert_eq!(ok("m f=1").tags.capacity(), 0);
}

#[test]
fn every_value_kind() {
    let cases: Vec<(&str, FieldValue<'static>)> = vec![
        ("1", FieldValue::F64(1.0)),
        ("1.5", FieldValue::F64(1.5)),
        ("-1e3", FieldValue::F64(-1000.0)),
        ("1.", FieldValue::F64(1.0)),
        (".5", FieldValue::F64(0.5)),
        ("1i", FieldValue::I64(1)),
        ("-9223372036854775808i", FieldValue::I64(i64::MIN)),
        ("1u", FieldValue::U64(1)),
        ("18446744073709551615u", FieldValue::U64(u64::MAX)),
        ("\"s\"", FieldValue::Str("s".into())),
        ("\"\"", FieldValue::Str("".into())),
        ("t", FieldValue::Bool(true)),
        ("TRUE", FieldValue::Bool(true)),
        ("False", FieldValue::Bool(false)),
        ("F", FieldValue::Bool(false)),
    ];
    for (text, want) in cases {
        let line = format!("m v={text}");
        let got = parse_line(&line).map(|p| p.fields[0].1.clone());
        assert_eq!(got, Ok(want), "{line}");
    }
}

#[test]
fn measurement_escapes() {
    let p = ok(r"my\ cpu\,x\=y\\z,t=1 f=1");
    assert_eq!(p.measurement, r"my cpu,x\=y\z");
    assert!(!borrowed(&p.measurement));
    assert_eq!(ok("a=b f=1").measurement, "a=b");
}

#[test]
fn tag_and_field_key_escapes() {
    let p = ok(r"m,t\ k\,\==v\ 1\,\=\\ f\ k\,\==1");
    assert_eq!(p.tags, vec![("t k,=".into(), r"v 1,=\".into())]);
    assert_eq!(p.fields[0].0, "f k,=");
    // Unescaped '=' is allowed inside a tag value.
    assert_eq!(ok("m,t=a=b f=1").tags[0].1, "a=b");
    // Backslash before other characters stays literal (and borrowed).
    let p = ok(r"m,t=C:\path\x f\y=1");
    assert_eq!(p.tags[0].1, r"C:\path\x");
    assert!(borrowed(&p.tags[0].1));
    assert_eq!(p.fields[0].0, r"f\y");
}

#[test]
fn string_field_escapes() {
    let p = ok(r#"m s="a \"q\" \\ b \n c""#);
    assert_eq!(p.fields[0].1, FieldValue::Str(r#"a "q" \ b \n c"#.into()));
    // Delimiters are plain text inside quotes.
    let p = ok(r#"m s="a, b=c d",n=1"#);
    assert_eq!(p.fields[0].1, FieldValue::Str("a, b=c d".into()));
    assert_eq!(p.fields[1].1, FieldValue::F64(1.0));
    // Newlines inside quotes are kept.
    let p = ok("m s=\"one\ntwo\" 7");
    assert_eq!(p.fields[0].1, FieldValue::Str("one\ntwo".into()));
    assert_eq!(p.timestamp, Some(7));
}

#[test]
fn whitespace_handling() {
    let p = ok("  m,t=1 \t f=1,g=2   -5 \t ");
    assert_eq!(p.measurement, "m");
    assert_eq!(p.fields.len(), 2);
    assert_eq!(p.timestamp, Some(-5));
    assert_eq!(ok("m f=1 \r\n").timestamp, None);
    assert_eq!(ok("m f=1 9\r").timestamp, Some(9));
    assert_eq!(ok("m f=1 9\n").timestamp, Some(9));
    assert_eq!(ok("m\tf=1").fields[0].0, "f");
}

#[test]
fn unicode_identifiers() {
    let p = ok("température,lieu=Zürich valeur=1.5,état=\"très chaud\" 1");
    assert_eq!(p.measurement, "température");
    assert_eq!(p.tags[0].1, "Zürich");
    assert_eq!(p.fields[1].1, FieldValue::Str("très chaud".into()));
}

#[test]
fn timestamps() {
    assert_eq!(ok("m f=1 0").timestamp, Some(0));
    assert_eq!(ok("m f=1 -1").timestamp, Some(-1));
    assert_eq!(ok("m f=1 9223372036854775807").timestamp, Some(i64::MAX));
    assert_eq!(ok("m f=1 -9223372036854775808").timestamp, Some(i64::MIN));
    assert_eq!(
        err("m f=1 123i"),
        "invalid timestamp '123i' at column 7: expected an integer"
    );
    assert_eq!(
        err("m f=1 1.5"),
        "invalid timestamp '1.5' at column 7: expected an integer"
    );
    assert_eq!(
        err("m f=1 +5"),
        "invalid timestamp '+5' at column 7: expected an integer"
    );
    assert_eq!(
        err("m f=1 9223372036854775808"),
        "invalid timestamp '9223372036854775808' at column 7: out of range for i64"
    );
    assert_eq!(
        err("m f=1 12 34"),
        "unexpected trailing content '34' after the timestamp at column 10"
    );
    assert_eq!(
        err("m f=1 12 garbage here"),
        "unexpected trailing content 'garbage here' after the timestamp at column 10"
    );
}

#[test]
fn structural_errors() {
    assert_eq!(err(""), "missing measurement: line is blank");
    assert_eq!(err("   "), "missing measurement: line is blank");
    assert_eq!(err("# hi"), "line is a comment, not a point");
    assert_eq!(err(",t=1 f=1"), "missing measurement at column 1");
    assert_eq!(err("  ,t=1 f=1"), "missing measurement at column 3");
    assert_eq!(err("m"), "no fields at column 2");
    assert_eq!(err("m,t=1"), "no fields at column 6");
    assert_eq!(err("m,t=1   "), "no fields at column 9");
    assert_eq!(err("m,t f=1"), "missing '=' after tag key 't' at column 4");
    assert_eq!(err("m,t"), "missing '=' after tag key 't' at column 4");
    assert_eq!(err("m,=v f=1"), "empty tag key at column 3");
    assert_eq!(err("m,t=1, f=1"), "empty tag key at column 7");
    assert_eq!(err("m, f=1"), "empty tag key at column 3");
    assert_eq!(err("m,t= f=1"), "empty value for tag 't' at column 5");
    assert_eq!(err("m,t=,u=1 f=1"), "empty value for tag 't' at column 5");
    assert_eq!(err("m =1"), "empty field key at column 3");
    assert_eq!(err("m f=1,"), "empty field key at column 7");
    assert_eq!(err("m f=1,,g=2"), "empty field key at column 7");
    assert_eq!(err("m f"), "missing '=' after field key 'f' at column 4");
    assert_eq!(
        err("m a,b=1"),
        "missing '=' after field key 'a' at column 4"
    );
    assert_eq!(err("m f= 1"), "missing value for field 'f' at column 5");
    assert_eq!(err("m f=,g=1"), "missing value for field 'f' at column 5");
}

#[test]
fn invalid_field_values_name_the_field() {
    assert_eq!(
        err("m temp=nan"),
        "invalid value 'nan' for field 'temp' at column 8: not a valid number (strings must be double-quoted)"
    );
    assert_eq!(
        err("m f=1,x=inf"),
        "invalid value 'inf' for field 'x' at column 9: not a valid number (strings must be double-quoted)"
    );
    assert_eq!(
        err("m n=-1u"),
        "invalid value '-1u' for field 'n' at column 5: unsigned integer cannot be negative"
    );
    assert_eq!(
        err("m n=9223372036854775808i"),
        "invalid value '9223372036854775808i' for field 'n' at column 5: integer out of range for i64"
    );
    assert_eq!(
        err("m n=18446744073709551616u"),
        "invalid value '18446744073709551616u' for field 'n' at column 5: unsigned integer out of range for u64"
    );
    assert_eq!(
        err("m n=1e999"),
        "invalid value '1e999' for field 'n' at column 5: float out of range for f64"
    );
    assert_eq!(
        err("m s=hello"),
        "invalid value 'hello' for field 's' at column 5: not a valid number (strings must be double-quoted)"
    );
    assert_eq!(
        err("m s=\"abc\"x"),
        "unexpected character 'x' after the value of field 's' at column 10"
    );
    let long = format!("m f={}", "z".repeat(300));
    let msg = err(&long);
    assert!(
        msg.starts_with(&format!(
            "invalid value '{}…' for field 'f'",
            "z".repeat(64)
        )),
        "{msg}"
    );
}

#[test]
fn unterminated_strings() {
    assert_eq!(
        err("m s=\"abc"),
        "unterminated string value for field 's' starting at column 5"
    );
    assert_eq!(
        err(r#"m a=1,s="abc\" 5"#),
        "unterminated string value for field 's' starting at column 9"
    );
}

#[test]
fn trailing_backslash() {
    assert_eq!(err(r"m\"), "line ends with a backslash (column 2)");
    assert_eq!(err(r"m,t=v\"), "line ends with a backslash (column 6)");
    assert_eq!(err(r"m,t\"), "line ends with a backslash (column 4)");
    assert_eq!(err(r"m f\"), "line ends with a backslash (column 4)");
    assert_eq!(err("m,t=v\\\nf=1"), "line ends with a backslash (column 6)");
    // An escaped backslash at the end is a complete token, not a dangling escape.
    assert_eq!(ok(r"m,t=v\\ f=1").tags[0].1, r"v\");
}

#[test]
fn duplicate_and_conflicting_keys() {
    assert_eq!(err("m,a=1,b=2,a=3 f=1"), "duplicate tag key 'a'");
    assert_eq!(
        err("m f=1,g=2,f=3"),
        "multiple instances of 'f' field found"
    );
    assert_eq!(
        err("m f=1,f=\"x\""),
        "multiple instances of 'f' field found"
    );
    assert_eq!(
        err("m,x=1 x=2"),
        "'x' is used as both a tag key and a field key"
    );
    // Escaped spellings are compared after unescaping.
    assert_eq!(err(r"m,a\ b=1,a\ b=2 f=1"), "duplicate tag key 'a b'");
    // Same name as the measurement is fine.
    assert_eq!(ok("m m=1").fields[0].0, "m");
}

#[test]
fn newline_outside_quotes_is_rejected_by_parse_line() {
    assert_eq!(
        err("m f=1\nm f=2"),
        "unexpected newline after the value of field 'f' at column 6"
    );
    assert_eq!(
        err("m,t=1\nf=1"),
        "unexpected newline after measurement and tags at column 6"
    );
    assert_eq!(
        err("m f=1 5\n6"),
        "unexpected newline after the timestamp at column 8"
    );
}
