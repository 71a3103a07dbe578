//! Feeds arbitrary bytes (lossily decoded as UTF-8) to `parse_lines` and checks the documented
//! invariants, plus a differential check of the allocation-free `skip_key_checks` + `next_into`
//! path against the plain iterator.
#![no_main]

use hearth_lineproto::{LineError, ParsedLine, check_keys, parse_line, parse_lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Borrowed when `data` is valid UTF-8, so the fuzzer's bytes reach the parser unchanged.
    let body = String::from_utf8_lossy(data);
    check(&body);
});

fn check(body: &str) {
    let physical_lines = body.bytes().filter(|&b| b == b'\n').count() + 1;

    // The plain iterator: per-line invariants.
    let plain: Vec<Result<(usize, ParsedLine<'_>), LineError>> = parse_lines(body).collect();
    let mut last = 0;
    for item in &plain {
        let number = match item {
            Ok((n, line)) => {
                assert!(
                    !line.measurement.is_empty(),
                    "empty measurement on line {n}"
                );
                assert!(!line.fields.is_empty(), "no fields on line {n}");
                assert_eq!(
                    check_keys(&line.tags, &line.fields),
                    Ok(()),
                    "line {n} was accepted with repeated keys"
                );
                *n
            }
            Err(e) => {
                assert!(
                    e.original_line.len() <= 100,
                    "original_line of {} bytes",
                    e.original_line.len()
                );
                assert!(
                    body.contains(e.original_line.as_str()),
                    "original_line {:?} is not part of the body",
                    e.original_line
                );
                assert!(
                    !e.message.is_empty(),
                    "empty message on line {}",
                    e.line_number
                );
                e.line_number
            }
        };
        assert!(
            number > last && number <= physical_lines,
            "line number {number} after {last} (body has {physical_lines} physical lines)"
        );
        last = number;
    }

    // The plain iterator is fused.
    let mut lines = parse_lines(body);
    lines.by_ref().for_each(drop);
    assert!(lines.next().is_none(), "iterator not fused");

    // `next_into` with key checks on and one reused line: identical to the plain iterator.
    let mut lines = parse_lines(body);
    let mut reused = ParsedLine::empty();
    for (index, want) in plain.iter().enumerate() {
        let got = lines.next_into(&mut reused);
        match (want, got) {
            (Ok((n, line)), Some(Ok(m))) => {
                assert_eq!(*n, m, "item {index}: line number");
                assert_eq!(line, &reused, "item {index}: next_into parsed differently");
            }
            (Err(e), Some(Err(f))) => assert_eq!(e, &f, "item {index}: next_into error"),
            (want, got) => panic!("item {index}: plain {want:?}, next_into {got:?}"),
        }
    }
    assert!(
        lines.next_into(&mut reused).is_none(),
        "next_into yields extra items"
    );
    assert!(
        lines.next_into(&mut reused).is_none(),
        "next_into not fused"
    );

    // `skip_key_checks` + `next_into`: the same sequence, except that a line rejected only for
    // repeated keys is accepted, and `check_keys` then gives exactly the plain message.
    let mut lines = parse_lines(body).skip_key_checks();
    let mut reused = ParsedLine::empty();
    for (index, want) in plain.iter().enumerate() {
        let got = lines.next_into(&mut reused);
        match (want, got) {
            (Ok((n, line)), Some(Ok(m))) => {
                assert_eq!(*n, m, "item {index}: line number");
                assert_eq!(
                    line, &reused,
                    "item {index}: skip_key_checks parsed differently"
                );
            }
            (Err(e), Some(Err(f))) => assert_eq!(e, &f, "item {index}: skip_key_checks error"),
            (Err(e), Some(Ok(m))) => {
                assert_eq!(e.line_number, m, "item {index}: line number");
                assert!(
                    !reused.measurement.is_empty(),
                    "item {index}: empty measurement"
                );
                assert!(!reused.fields.is_empty(), "item {index}: no fields");
                assert_eq!(
                    check_keys(&reused.tags, &reused.fields),
                    Err(e.message.clone()),
                    "item {index}: skip_key_checks accepted a line the plain iterator rejects"
                );
            }
            (want, got) => panic!("item {index}: plain {want:?}, skip_key_checks {got:?}"),
        }
    }
    assert!(
        lines.next_into(&mut reused).is_none(),
        "skip_key_checks yields extra items"
    );
    assert!(
        lines.next_into(&mut reused).is_none(),
        "skip_key_checks not fused"
    );

    // The single-line entry point must not panic either.
    let _ = parse_line(body);
}
