//! Database statements Hearth answers itself, before SQL reaches DataFusion (whose parser does
//! not know them):
//!
//! ```sql
//! CREATE DATABASE [IF NOT EXISTS] name [WITH] [(] retention [=] '400 days' [)]
//! ALTER DATABASE name SET retention { = | TO } '30 days'
//! ALTER DATABASE name RESET retention
//! DELETE FROM table [WHERE condition]      -- planned by DataFusion, run by Hearth
//! ```
//!
//! Names are bare identifiers (folded to lower case, as PostgreSQL does) or double-quoted.
//! Periods are a number and a unit: seconds, minutes, hours, days or weeks (`s`, `m`, `h`, `d`,
//! `w` too).

use std::time::Duration;

/// A database statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbCommand {
    /// `CREATE DATABASE`.
    Create {
        /// The database.
        name: String,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
        /// Its own retention period.
        retention: Option<Duration>,
    },
    /// `DELETE FROM ...`: DataFusion plans it (the statement is the SQL itself).
    Delete,
    /// `ALTER DATABASE ... SET retention` (`Some`) or `RESET retention` (`None`).
    SetRetention {
        /// The database.
        name: String,
        /// The new period.
        retention: Option<Duration>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Str(String),
    Symbol(char),
}

fn tokenize(sql: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_alphanumeric() || c == '_' {
            let mut w = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_alphanumeric() || **c == '_') {
                w.push(c);
                chars.next();
            }
            out.push(Token::Word(w));
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted text".into()),
                    Some(q) if q == c => {
                        if chars.peek() == Some(&c) {
                            s.push(c);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    Some(other) => s.push(other),
                }
            }
            out.push(if c == '"' {
                Token::Quoted(s)
            } else {
                Token::Str(s)
            });
        } else {
            out.push(Token::Symbol(c));
            chars.next();
        }
    }
    while out.last() == Some(&Token::Symbol(';')) {
        out.pop();
    }
    Ok(out)
}

/// Parses a period such as `400 days`, `12h` or `2 weeks`.
pub fn parse_period(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid period {text:?}: expected a number and a unit"))?;
    let seconds: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        other => {
            return Err(format!(
                "invalid period {text:?}: unknown unit {other:?} (seconds, minutes, hours, days, weeks)"
            ));
        }
    };
    match n.checked_mul(seconds) {
        Some(0) => Err(format!("invalid period {text:?}: must be longer than 0")),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Err(format!("invalid period {text:?}: too long")),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn keyword(&mut self, word: &str) -> bool {
        match self.tokens.get(self.pos) {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(word) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn expect(&mut self, word: &str) -> Result<(), String> {
        if self.keyword(word) {
            Ok(())
        } else {
            Err(format!("syntax error: expected {}", word.to_uppercase()))
        }
    }

    fn symbol(&mut self, c: char) -> bool {
        if self.tokens.get(self.pos) == Some(&Token::Symbol(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let name = match self.tokens.get(self.pos) {
            Some(Token::Word(w)) => w.to_lowercase(),
            Some(Token::Quoted(q)) => q.clone(),
            _ => return Err("syntax error: expected a database name".into()),
        };
        self.pos += 1;
        Ok(name)
    }

    fn string(&mut self) -> Result<String, String> {
        match self.tokens.get(self.pos) {
            Some(Token::Str(s)) => {
                self.pos += 1;
                Ok(s.clone())
            }
            _ => Err("syntax error: expected a quoted period such as '400 days'".into()),
        }
    }

    fn end(&self) -> Result<(), String> {
        match self.tokens.get(self.pos) {
            None => Ok(()),
            Some(t) => Err(format!(
                "syntax error at {t:?}: expected the end of the statement"
            )),
        }
    }

    /// `retention [=] 'period'`
    fn retention(&mut self) -> Result<Duration, String> {
        self.expect("retention")?;
        let _ = self.symbol('=') || self.keyword("to");
        parse_period(&self.string()?)
    }
}

/// Recognises a database statement: `None` for any other SQL, else the command or why it is
/// malformed.
pub fn parse(sql: &str) -> Option<Result<DbCommand, String>> {
    let head: Vec<String> = sql
        .split_whitespace()
        .take(2)
        .map(str::to_ascii_lowercase)
        .collect();
    let create = match head.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["create", "database"] => true,
        ["alter", "database"] => false,
        ["delete", "from"] => return Some(Ok(DbCommand::Delete)),
        _ => return None,
    };
    Some(parse_command(sql, create))
}

fn parse_command(sql: &str, create: bool) -> Result<DbCommand, String> {
    let mut p = Parser {
        tokens: tokenize(sql)?,
        pos: 2,
    };
    if create {
        let if_not_exists = p.keyword("if");
        if if_not_exists {
            p.expect("not")?;
            p.expect("exists")?;
        }
        let name = p.name()?;
        let mut retention = None;
        let with = p.keyword("with");
        let paren = p.symbol('(');
        if with || paren || p.tokens.get(p.pos).is_some() {
            retention = Some(p.retention()?);
        }
        if paren && !p.symbol(')') {
            return Err("syntax error: expected )".into());
        }
        p.end()?;
        return Ok(DbCommand::Create {
            name,
            if_not_exists,
            retention,
        });
    }
    let name = p.name()?;
    let retention = if p.keyword("set") {
        Some(p.retention()?)
    } else if p.keyword("reset") {
        p.expect("retention")?;
        None
    } else {
        return Err("syntax error: expected SET retention = '...' or RESET retention".into());
    };
    p.end()?;
    Ok(DbCommand::SetRetention { name, retention })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    #[test]
    fn statements() {
        let create = |name: &str, ine, days: Option<u64>| DbCommand::Create {
            name: name.into(),
            if_not_exists: ine,
            retention: days.map(|d| Duration::from_secs(d * DAY)),
        };
        assert_eq!(parse("select 1"), None);
        assert_eq!(parse("CREATE TABLE x (a int)"), None);
        assert_eq!(
            parse("delete  from energy where household = 'h1'"),
            Some(Ok(DbCommand::Delete))
        );
        assert_eq!(
            parse("CREATE DATABASE home").unwrap(),
            Ok(create("home", false, None))
        );
        assert_eq!(
            parse("create database if not exists Home with (retention = '400 days');").unwrap(),
            Ok(create("home", true, Some(400)))
        );
        assert_eq!(
            parse(r#"CREATE DATABASE "Haus Ö" WITH retention '2 weeks'"#).unwrap(),
            Ok(create("Haus Ö", false, Some(14)))
        );
        assert_eq!(
            parse("ALTER DATABASE home SET retention TO '30d'").unwrap(),
            Ok(DbCommand::SetRetention {
                name: "home".into(),
                retention: Some(Duration::from_secs(30 * DAY))
            })
        );
        assert_eq!(
            parse("alter database home reset retention").unwrap(),
            Ok(DbCommand::SetRetention {
                name: "home".into(),
                retention: None
            })
        );
        for bad in [
            "CREATE DATABASE",
            "CREATE DATABASE home WITH (retention = '400 days'",
            "CREATE DATABASE home WITH (retention = 400)",
            "CREATE DATABASE home WITH (retention = '400 fortnights')",
            "CREATE DATABASE home WITH (retention = '0 days')",
            "CREATE DATABASE home OWNER bob",
            "ALTER DATABASE home RENAME TO away",
            "ALTER DATABASE home SET retention = '1 day' extra",
        ] {
            assert!(parse(bad).unwrap().is_err(), "{bad}");
        }
    }
}
