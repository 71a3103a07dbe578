//! Property-style tests (test builds only): thousands of pseudo-random inputs
//! from a fixed-seed xorshift generator, asserting that parsing never panics,
//! that results respect the documented invariants, and that randomly generated
//! valid lines (with arbitrary escaping) parse back to exactly what was written.

use crate::{Cow, FieldValue, ParsedLine, parse_line, parse_lines};

/// xorshift64* — small, deterministic, good enough to explore the input space.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub(crate) fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }
}

/// Runs both entry points and checks the invariants that hold for any input.
fn check_invariants(body: &str) {
    let physical_lines = body.bytes().filter(|&b| b == b'\n').count() + 1;
    let mut last = 0;
    for item in parse_lines(body) {
        let number = match item {
            Ok((n, line)) => {
                assert!(!line.fields.is_empty(), "{body:?}");
                assert!(!line.measurement.is_empty(), "{body:?}");
                n
            }
            Err(e) => {
                assert!(e.original_line.len() <= 100, "{body:?}");
                assert!(body.contains(e.original_line.as_str()), "{body:?}");
                assert!(!e.message.is_empty());
                e.line_number
            }
        };
        assert!(number > last && number <= physical_lines, "{body:?}");
        last = number;
    }
    let _ = parse_line(body);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let len = rng.below(120);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        check_invariants(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn random_line_protocol_fragments_never_panic() {
    const PIECES: &[&str] = &[
        "m",
        "cpu",
        ",",
        "=",
        " ",
        "  ",
        "\t",
        "\\",
        "\"",
        "\n",
        "\r",
        "\r\n",
        "#",
        "1",
        "-",
        ".",
        "e",
        "i",
        "u",
        "t",
        "F",
        "true",
        "9223372036854775808",
        "18446744073709551616",
        "1e999",
        "nan",
        "é",
        "€",
        "😀",
        "\\ ",
        "\\,",
        "\\=",
        "\\\\",
        "\\\"",
        "host=a",
        "f=1",
        "s=\"x\"",
        " 1700000000",
    ];
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..5000 {
        let count = rng.below(24);
        let body: String = (0..count).map(|_| *rng.pick(PIECES)).collect();
        check_invariants(&body);
    }
}

#[test]
fn mutated_valid_lines_never_panic() {
    const SEEDS: &[&str] = &[
        "cpu,host=a\\ b,region=west usage=0.5,count=3i,up=t,name=\"x \\\"y\\\"\",big=7u 1700000000",
        "m\\,x,t\\=k=v f=\"multi\nline\" -5\r\n# comment\n\nn f=1",
    ];
    const INSERTS: &[char] = &[',', '=', ' ', '\\', '"', '\n', '#', 'é', '\r', '0', 'i'];
    let mut rng = Rng(0xA076_1D64_78BD_642F);
    for _ in 0..3000 {
        let mut chars: Vec<char> = rng.pick(SEEDS).chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(chars.len() + 1);
            match rng.below(3) {
                0 => chars.insert(at, *rng.pick(INSERTS)),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ => chars.truncate(at),
            }
        }
        let body: String = chars.into_iter().collect();
        check_invariants(&body);
    }
}

/// Characters used to build identifiers, including every escapable one.
const IDENT_CHARS: &[char] = &[
    'a', 'b', 'Z', '0', '_', ',', '=', ' ', '\\', '"', 'é', '€', '#',
];

fn random_ident(rng: &mut Rng) -> String {
    (0..1 + rng.below(6))
        .map(|_| *rng.pick(IDENT_CHARS))
        .collect()
}

/// Escapes `s` so the parser reads it back verbatim in the given context.
fn escape(s: &str, specials: &[char]) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c == '\\' || specials.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn random_value(rng: &mut Rng) -> (String, FieldValue<'static>) {
    match rng.below(5) {
        0 => {
            let v = f64::from_bits(rng.next_u64());
            let v = if v.is_finite() {
                v
            } else {
                rng.next_u64() as f64
            };
            let text = if rng.below(2) == 0 {
                format!("{v}")
            } else {
                format!("{v:e}")
            };
            (text, FieldValue::F64(v))
        }
        1 => {
            let v = rng.next_u64() as i64 >> rng.below(64);
            (format!("{v}i"), FieldValue::I64(v))
        }
        2 => {
            let v = rng.next_u64() >> rng.below(64);
            (format!("{v}u"), FieldValue::U64(v))
        }
        3 => {
            let spelling = *rng.pick(&[
                "t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE",
            ]);
            (
                spelling.to_owned(),
                FieldValue::Bool(spelling.starts_with(['t', 'T'])),
            )
        }
        _ => {
            let chars = ['a', ' ', ',', '=', '"', '\\', '\n', '\t', 'ü', 'n'];
            let s: String = (0..rng.below(8)).map(|_| *rng.pick(&chars)).collect();
            let quoted = format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
            (quoted, FieldValue::Str(Cow::Owned(s)))
        }
    }
}

#[test]
fn random_valid_lines_round_trip() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    for _ in 0..3000 {
        let mut measurement = random_ident(&mut rng);
        if measurement.starts_with('#') {
            measurement.insert(0, 'm');
        }
        let mut text = escape(&measurement, &[',', ' ']);
        let mut tags = Vec::new();
        for i in 0..rng.below(4) {
            let (k, v) = (
                format!("{}{i}", random_ident(&mut rng)),
                random_ident(&mut rng),
            );
            text.push_str(&format!(
                ",{}={}",
                escape(&k, &[',', '=', ' ']),
                escape(&v, &[',', '=', ' '])
            ));
            tags.push((Cow::Owned(k), Cow::Owned(v)));
        }
        let mut fields = Vec::new();
        for i in 0..1 + rng.below(4) {
            let key = format!("{}{i}F", random_ident(&mut rng));
            let (value_text, value) = random_value(&mut rng);
            let sep = if i == 0 { " " } else { "," };
            text.push_str(&format!(
                "{sep}{}={value_text}",
                escape(&key, &[',', '=', ' '])
            ));
            fields.push((Cow::Owned(key), value));
        }
        let timestamp = (rng.below(2) == 0).then(|| rng.next_u64() as i64);
        if let Some(ts) = timestamp {
            text.push_str(&format!(" {ts}"));
        }
        let expected = ParsedLine {
            measurement: Cow::Owned(measurement),
            tags,
            fields,
            timestamp,
        };
        assert_eq!(parse_line(&text), Ok(expected.clone()), "{text:?}");

        let body = format!("# c\n{text}\r\n");
        let got: Vec<_> = parse_lines(&body).collect();
        assert_eq!(got, vec![Ok((2, expected))], "{body:?}");
    }
}
