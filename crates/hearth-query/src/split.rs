//! Splitting one message of SQL into its statements, at the semicolons PostgreSQL's lexer would
//! end a statement at: not inside quoted text (`'...'`, `E'...'` with backslash escapes,
//! `"..."`), dollar-quoted text (`$$...$$`, `$tag$...$tag$`) or comments (`-- ...`, nested
//! `/* ... */`).
//!
//! The server needs this because a simple-protocol message may mix statements Hearth parses
//! itself (`CREATE DATABASE`, `REFRESH MATERIALIZED VIEW`, ...) with SQL DataFusion parses.

/// The statements of `sql`, each without its terminating semicolon and trimmed; pieces that
/// hold only whitespace and comments are left out. Unterminated quotes or comments run to the
/// end (the parser of the piece reports them).
pub fn split_statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut substantive = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        match c {
            b';' => {
                if substantive {
                    out.push(sql[start..i].trim());
                }
                start = i + 1;
                substantive = false;
                i += 1;
                continue;
            }
            b'-' if next == Some(b'-') => {
                i = memchr(bytes, i, b'\n').map_or(bytes.len(), |n| n + 1);
                continue;
            }
            b'/' if next == Some(b'*') => {
                i = block_comment_end(bytes, i);
                continue;
            }
            _ => {}
        }
        if !c.is_ascii_whitespace() {
            substantive = true;
        }
        i = match c {
            b'\'' => {
                let escapes = i > 0
                    && matches!(bytes[i - 1], b'e' | b'E')
                    && (i < 2 || !is_ident(bytes[i - 2]));
                quoted_end(bytes, i, b'\'', escapes)
            }
            b'"' => quoted_end(bytes, i, b'"', false),
            b'$' if i == 0 || !is_ident(bytes[i - 1]) => dollar_end(sql, i).unwrap_or(i + 1),
            _ => i + 1,
        };
    }
    if substantive {
        out.push(sql[start..].trim());
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn memchr(bytes: &[u8], from: usize, b: u8) -> Option<usize> {
    bytes[from..].iter().position(|&c| c == b).map(|p| from + p)
}

/// The index after the quoted text opening at `open` (a doubled quote is part of the text).
fn quoted_end(bytes: &[u8], open: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if backslash_escapes && bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The index after the block comment opening at `open`; comments nest, as in PostgreSQL.
fn block_comment_end(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after the dollar-quoted text opening at `open`, or `None` when the `$` does not
/// open one (a parameter such as `$1`).
fn dollar_end(sql: &str, open: usize) -> Option<usize> {
    let rest = &sql[open + 1..];
    let tag_len = rest.find('$')?;
    let tag = &rest[..tag_len];
    let valid = tag
        .chars()
        .enumerate()
        .all(|(k, c)| c == '_' || c.is_alphabetic() || (k > 0 && c.is_ascii_digit()));
    if !valid {
        return None;
    }
    let delimiter = &sql[open..open + tag_len + 2];
    let body = open + delimiter.len();
    Some(
        sql[body..]
            .find(delimiter)
            .map_or(sql.len(), |at| body + at + delimiter.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        assert_eq!(
            split_statements("REFRESH MATERIALIZED VIEW a; REFRESH MATERIALIZED VIEW b;"),
            ["REFRESH MATERIALIZED VIEW a", "REFRESH MATERIALIZED VIEW b"]
        );
        assert_eq!(
            split_statements("SELECT 'a;b', \"c;d\" ; SELECT E'it\\'s;' ;;"),
            ["SELECT 'a;b', \"c;d\"", "SELECT E'it\\'s;'"]
        );
        assert_eq!(
            split_statements("SELECT 'it''s;'; SELECT 1"),
            ["SELECT 'it''s;'", "SELECT 1"]
        );
        // Without E, a backslash is an ordinary character.
        assert_eq!(
            split_statements("SELECT 'a\\'; SELECT 1"),
            ["SELECT 'a\\'", "SELECT 1"]
        );
        assert_eq!(
            split_statements("SELECT cron.schedule('j', '* * * * *', $$DELETE FROM t; SELECT 1$$)"),
            ["SELECT cron.schedule('j', '* * * * *', $$DELETE FROM t; SELECT 1$$)"]
        );
        assert_eq!(
            split_statements("SELECT $q$a;$$;b$q$; SELECT $1 + 1; SELECT x$y FROM t"),
            ["SELECT $q$a;$$;b$q$", "SELECT $1 + 1", "SELECT x$y FROM t"]
        );
        assert_eq!(
            split_statements("-- a; b\nSELECT 1 /* c; /* nested; */ d; */; SELECT 2"),
            ["-- a; b\nSELECT 1 /* c; /* nested; */ d; */", "SELECT 2"]
        );
    }

    #[test]
    fn empty_pieces_and_comments_alone_are_no_statements() {
        assert!(split_statements("").is_empty());
        assert!(split_statements(" ; ;\n").is_empty());
        assert!(split_statements("-- only a comment").is_empty());
        assert_eq!(split_statements("SELECT 1; -- done"), ["SELECT 1"]);
        assert_eq!(split_statements("SELECT 1 -- done"), ["SELECT 1 -- done"]);
    }

    #[test]
    fn unterminated_text_runs_to_the_end() {
        assert_eq!(split_statements("SELECT 'a; b"), ["SELECT 'a; b"]);
        assert_eq!(split_statements("SELECT $$a; b"), ["SELECT $$a; b"]);
        assert_eq!(split_statements("SELECT 1 /* a; b"), ["SELECT 1 /* a; b"]);
    }
}
