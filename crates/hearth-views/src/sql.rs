//! The view statements, in PostgreSQL's words:
//!
//! ```sql
//! CREATE MATERIALIZED VIEW [IF NOT EXISTS] name [(column, ...)]
//!     [WITH (timescaledb.continuous)] AS query [WITH [NO] DATA]
//! REFRESH MATERIALIZED VIEW [CONCURRENTLY] name
//! DROP MATERIALIZED VIEW [IF EXISTS] name [, ...] [CASCADE | RESTRICT]
//! ```
//!
//! Names are bare identifiers (folded to lower case) or double-quoted, optionally qualified by
//! schema `public`. The query is planned by DataFusion (see [`crate::shape`]).

/// A view statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewStatement {
    /// `CREATE MATERIALIZED VIEW`.
    Create {
        /// The view.
        name: String,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
        /// Names for the query's columns, if given.
        columns: Vec<String>,
        /// The query text.
        query: String,
        /// `WITH NO DATA`: the view starts with nothing materialized (it still answers; the
        /// maintainer fills it in the background).
        no_data: bool,
    },
    /// `REFRESH MATERIALIZED VIEW`.
    Refresh {
        /// The view.
        name: String,
    },
    /// `DROP MATERIALIZED VIEW`.
    Drop {
        /// The views.
        names: Vec<String>,
        /// `IF EXISTS` was given.
        if_exists: bool,
        /// `CASCADE`: views over these go too.
        cascade: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Str,
    Symbol(char),
}

/// Tokens with the byte offset each starts at.
fn tokenize(sql: &str) -> Result<Vec<(usize, Token)>, String> {
    let mut out = Vec::new();
    let bytes: Vec<(usize, char)> = sql.char_indices().collect();
    let mut i = 0;
    while i < bytes.len() {
        let (at, c) = bytes[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && bytes.get(i + 1).is_some_and(|&(_, n)| n == '-') {
            while i < bytes.len() && bytes[i].1 != '\n' {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let mut w = String::new();
            while i < bytes.len() && (bytes[i].1.is_alphanumeric() || bytes[i].1 == '_') {
                w.push(bytes[i].1);
                i += 1;
            }
            out.push((at, Token::Word(w)));
        } else if c == '"' || c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err("unterminated quoted text".into()),
                    Some(&(_, q)) if q == c => {
                        if bytes.get(i + 1).is_some_and(|&(_, n)| n == c) {
                            s.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&(_, other)) => {
                        s.push(other);
                        i += 1;
                    }
                }
            }
            out.push((
                at,
                if c == '"' {
                    Token::Quoted(s)
                } else {
                    Token::Str
                },
            ));
        } else {
            out.push((at, Token::Symbol(c)));
            i += 1;
        }
    }
    Ok(out)
}

struct Parser<'a> {
    sql: &'a str,
    tokens: Vec<(usize, Token)>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn keyword(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(word) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn keywords(&mut self, words: &[&str]) -> bool {
        let start = self.pos;
        if words.iter().all(|w| self.keyword(w)) {
            return true;
        }
        self.pos = start;
        false
    }

    fn expect(&mut self, word: &str) -> Result<(), String> {
        if self.keyword(word) {
            Ok(())
        } else {
            Err(format!(
                "syntax error at or near {}: expected {}",
                self.near(),
                word.to_uppercase()
            ))
        }
    }

    fn symbol(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Symbol(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn near(&self) -> String {
        match self.tokens.get(self.pos) {
            None => "end of input".into(),
            Some((at, _)) => {
                let rest: String = self.sql[*at..].chars().take(20).collect();
                format!("\"{}\"", rest.split_whitespace().next().unwrap_or(&rest))
            }
        }
    }

    fn identifier(&mut self) -> Result<String, String> {
        let name = match self.peek() {
            Some(Token::Word(w)) => w.to_lowercase(),
            Some(Token::Quoted(q)) => q.clone(),
            _ => return Err(format!("syntax error at or near {}", self.near())),
        };
        self.pos += 1;
        Ok(name)
    }

    /// `name` or `public.name`.
    fn name(&mut self) -> Result<String, String> {
        let first = self.identifier()?;
        if !self.symbol('.') {
            return Ok(first);
        }
        let second = self.identifier()?;
        if first != "public" {
            return Err(format!(
                "schema \"{first}\" holds no materialized views; views live in schema public"
            ));
        }
        Ok(second)
    }

    fn end(&mut self) -> Result<(), String> {
        while self.symbol(';') {}
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(format!("syntax error at or near {}", self.near())),
        }
    }
}

fn head(sql: &str) -> Vec<String> {
    tokenize(sql)
        .unwrap_or_default()
        .into_iter()
        .take(3)
        .map(|(_, t)| match t {
            Token::Word(w) => w.to_ascii_lowercase(),
            _ => String::new(),
        })
        .collect()
}

/// Whether `sql` is a view statement (well-formed or not).
pub fn recognizes(sql: &str) -> bool {
    let head = head(sql);
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    matches!(
        head.as_slice(),
        ["create", "materialized", "view"]
            | ["refresh", "materialized", "view"]
            | ["drop", "materialized", "view"]
    )
}

/// Parses a view statement.
pub fn parse(sql: &str) -> Result<ViewStatement, String> {
    let mut p = Parser {
        sql,
        tokens: tokenize(sql)?,
        pos: 0,
    };
    if p.keywords(&["create", "materialized", "view"]) {
        let if_not_exists = p.keywords(&["if", "not", "exists"]);
        let name = p.name()?;
        let mut columns = Vec::new();
        if p.symbol('(') {
            loop {
                columns.push(p.identifier()?);
                if p.symbol(')') {
                    break;
                }
                if !p.symbol(',') {
                    return Err(format!("syntax error at or near {}", p.near()));
                }
            }
        }
        if p.keyword("with") {
            if !p.symbol('(') {
                return Err(format!("syntax error at or near {}", p.near()));
            }
            // TimescaleDB's marker of a continuous aggregate: every Hearth view is one.
            loop {
                let option = p.identifier()?;
                let full = if p.symbol('.') {
                    format!("{option}.{}", p.identifier()?)
                } else {
                    option
                };
                if full != "timescaledb.continuous" {
                    return Err(format!(
                        "unrecognized parameter \"{full}\" (Hearth accepts only timescaledb.continuous)"
                    ));
                }
                if p.symbol(')') {
                    break;
                }
                if !p.symbol(',') {
                    return Err(format!("syntax error at or near {}", p.near()));
                }
            }
        }
        p.expect("as")?;
        let Some(&(start, _)) = p.tokens.get(p.pos) else {
            return Err("syntax error at end of input: expected a query after AS".into());
        };
        // An optional trailing `WITH [NO] DATA` (and semicolons) ends the query.
        let mut tail = p.tokens.len();
        while tail > p.pos && p.tokens[tail - 1].1 == Token::Symbol(';') {
            tail -= 1;
        }
        let is = |i: usize, w: &str| matches!(p.tokens.get(i), Some((_, Token::Word(x))) if x.eq_ignore_ascii_case(w));
        let mut no_data = false;
        if tail >= 2 && is(tail - 1, "data") {
            if tail >= 3 && is(tail - 2, "no") && is(tail - 3, "with") {
                no_data = true;
                tail -= 3;
            } else if is(tail - 2, "with") {
                tail -= 2;
            }
        }
        let end = p.tokens.get(tail).map_or(sql.len(), |(at, _)| *at);
        let query = sql[start..end].trim().to_string();
        if query.is_empty() {
            return Err("syntax error: expected a query after AS".into());
        }
        return Ok(ViewStatement::Create {
            name,
            if_not_exists,
            columns,
            query,
            no_data,
        });
    }
    if p.keywords(&["refresh", "materialized", "view"]) {
        p.keyword("concurrently");
        let name = p.name()?;
        if p.keywords(&["with", "no", "data"]) {
            return Err(
                "WITH NO DATA is not supported: a Hearth view always answers from its data".into(),
            );
        }
        p.keywords(&["with", "data"]);
        p.end()?;
        return Ok(ViewStatement::Refresh { name });
    }
    p.expect("drop")?;
    p.expect("materialized")?;
    p.expect("view")?;
    let if_exists = p.keywords(&["if", "exists"]);
    let mut names = vec![p.name()?];
    while p.symbol(',') {
        names.push(p.name()?);
    }
    let cascade = p.keyword("cascade");
    if !cascade {
        p.keyword("restrict");
    }
    p.end()?;
    Ok(ViewStatement::Drop {
        names,
        if_exists,
        cascade,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_refresh_drop() {
        assert!(recognizes("create  materialized view x as select 1"));
        assert!(recognizes("DROP MATERIALIZED VIEW x"));
        assert!(!recognizes("create view x as select 1"));
        assert!(!recognizes("select 1"));
        assert_eq!(
            parse(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS Energy_1m (t, h) WITH (timescaledb.continuous) AS\n  SELECT 1 -- x\n WITH NO DATA;"
            )
            .unwrap(),
            ViewStatement::Create {
                name: "energy_1m".into(),
                if_not_exists: true,
                columns: vec!["t".into(), "h".into()],
                query: "SELECT 1 -- x".into(),
                no_data: true,
            }
        );
        let ViewStatement::Create { query, no_data, .. } = parse(
            r#"create materialized view public."A b" as select 'with data' from t with data"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(query, "select 'with data' from t");
        assert!(!no_data);
        assert_eq!(
            parse("REFRESH MATERIALIZED VIEW CONCURRENTLY v;").unwrap(),
            ViewStatement::Refresh { name: "v".into() }
        );
        assert_eq!(
            parse("drop materialized view if exists a, \"B\" cascade").unwrap(),
            ViewStatement::Drop {
                names: vec!["a".into(), "B".into()],
                if_exists: true,
                cascade: true
            }
        );
        for bad in [
            "CREATE MATERIALIZED VIEW v",
            "CREATE MATERIALIZED VIEW v AS",
            "CREATE MATERIALIZED VIEW v WITH (fillfactor = 10) AS SELECT 1",
            "CREATE MATERIALIZED VIEW other.v AS SELECT 1",
            "REFRESH MATERIALIZED VIEW v WITH NO DATA",
            "DROP MATERIALIZED VIEW v extra",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
