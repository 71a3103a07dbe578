//! The statements of scheduled SQL, in pg_cron's words, plus Hearth's `cron.run`:
//!
//! ```sql
//! SELECT cron.schedule([job_name,] schedule, command)
//! SELECT cron.schedule_in_database(job_name, schedule, command, database
//!                                  [, username [, active]])
//! SELECT cron.unschedule(job_id | job_name)
//! SELECT cron.alter_job(job_id [, schedule [, command [, database [, username [, active]]]]])
//! SELECT cron.run(job_id | job_name, TIMESTAMPTZ '...')
//! ```
//!
//! Arguments are literals: quoted or dollar-quoted text (a command is usually `$$ ... $$`),
//! integers, `true`/`false`, `NULL`; by position or by name (`schedule => '...'`, as
//! PostgreSQL's named notation). Hearth adds the argument `timezone` (default `UTC`) to
//! `schedule`, `schedule_in_database` and `alter_job`; a schedule may also start with
//! `CRON_TZ=Zone ` as in cronie and Kubernetes.

/// A job named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRef {
    /// `cron.job.jobid`.
    Id(i64),
    /// `cron.job.jobname`.
    Name(String),
}

/// A scheduled-SQL statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronCall {
    /// `cron.schedule` / `cron.schedule_in_database`: a new job, or new settings for the job
    /// of that name (as pg_cron does).
    Schedule {
        /// `jobname`, if given.
        name: Option<String>,
        /// The schedule text, without a `CRON_TZ=` prefix.
        schedule: String,
        /// The SQL to run.
        command: String,
        /// The database it runs in (default: the session's).
        database: Option<String>,
        /// Whom it runs as (recorded only).
        username: Option<String>,
        /// Whether it runs.
        active: bool,
        /// The time zone of the schedule.
        timezone: Option<String>,
    },
    /// `cron.unschedule`.
    Unschedule(JobRef),
    /// `cron.alter_job`: the settings given change, the rest stay.
    AlterJob {
        /// The job.
        id: i64,
        /// A new schedule.
        schedule: Option<String>,
        /// A new command.
        command: Option<String>,
        /// A new database.
        database: Option<String>,
        /// A new user name.
        username: Option<String>,
        /// Active or not.
        active: Option<bool>,
        /// A new time zone.
        timezone: Option<String>,
    },
    /// `cron.run`: run the job now as of the given scheduled time.
    Run {
        /// The job.
        job: JobRef,
        /// The scheduled time, as written.
        at: String,
    },
}

/// A literal argument.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    Null,
}

impl Value {
    fn describe(&self) -> &'static str {
        match self {
            Value::Text(_) => "text",
            Value::Int(_) => "an integer",
            Value::Bool(_) => "a boolean",
            Value::Null => "NULL",
        }
    }
}

/// Whether `sql` calls one of the `cron` functions (so that a malformed call gets this
/// module's error rather than DataFusion's "unknown function").
pub fn recognizes(sql: &str) -> bool {
    let mut words = sql.split_whitespace();
    if !words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("select"))
    {
        return false;
    }
    let Some(word) = words.next().map(str::to_ascii_lowercase) else {
        return false;
    };
    let Some(rest) = word.strip_prefix("cron.") else {
        return false;
    };
    let name_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(name_end);
    let known = [
        "schedule",
        "schedule_in_database",
        "unschedule",
        "alter_job",
        "run",
    ]
    .contains(&name);
    // Any other `cron.f(...)` too, so that it gets "function does not exist" (42883).
    let call = after.starts_with('(')
        || (after.is_empty() && words.next().is_some_and(|w| w.starts_with('(')));
    !name.is_empty() && (call || (known && after.is_empty()))
}

/// Parses a call; the error is a message for the user (SQLSTATE 42601 or 42883/22023 by its
/// kind, see [`CronError`]).
pub fn parse(sql: &str) -> Result<CronCall, CronError> {
    let mut p = Parser {
        s: sql.trim().trim_end_matches(';').trim_end(),
        at: 0,
    };
    p.keyword("select")?;
    p.skip_ws();
    let function = p.identifier()?.to_ascii_lowercase();
    let Some(function) = function.strip_prefix("cron.").map(str::to_string) else {
        return Err(CronError::syntax(format!(
            "expected a cron function, found \"{function}\""
        )));
    };
    p.skip_ws();
    p.expect('(')?;
    let mut positional = Vec::new();
    let mut named: Vec<(String, Value)> = Vec::new();
    p.skip_ws();
    if !p.peek_is(')') {
        loop {
            p.skip_ws();
            let save = p.at;
            let name = p.identifier().ok();
            p.skip_ws();
            if let Some(name) = name.filter(|_| p.rest().starts_with("=>")) {
                p.at += 2;
                p.skip_ws();
                let value = p.value()?;
                named.push((name.to_ascii_lowercase(), value));
            } else {
                p.at = save;
                if !named.is_empty() {
                    return Err(CronError::syntax(
                        "positional argument cannot follow named argument".into(),
                    ));
                }
                positional.push(p.value()?);
            }
            p.skip_ws();
            if p.peek_is(',') {
                p.at += 1;
                continue;
            }
            break;
        }
    }
    p.expect(')')?;
    p.skip_ws();
    // `AS jobid` and the like name the result column only.
    if p.keyword("as").is_ok() {
        p.skip_ws();
        p.identifier()?;
        p.skip_ws();
    }
    if !p.rest().is_empty() {
        return Err(CronError::syntax(format!(
            "syntax error at or near \"{}\"",
            p.rest().chars().take(20).collect::<String>()
        )));
    }
    call(&function, positional, named)
}

/// The parameters of each function, in order, and how many are required.
fn parameters(function: &str, positional: usize) -> Option<(&'static [&'static str], usize)> {
    Some(match function {
        // pg_cron's two-argument form has no name.
        "schedule" if positional == 2 => (&["schedule", "command", "timezone"], 2),
        "schedule" => (&["job_name", "schedule", "command", "timezone"], 3),
        "schedule_in_database" => (
            &[
                "job_name", "schedule", "command", "database", "username", "active", "timezone",
            ],
            4,
        ),
        "unschedule" => (&["job"], 1),
        "alter_job" => (
            &[
                "job_id", "schedule", "command", "database", "username", "active", "timezone",
            ],
            1,
        ),
        "run" => (&["job", "scheduled_time"], 2),
        _ => return None,
    })
}

fn call(
    function: &str,
    positional: Vec<Value>,
    named: Vec<(String, Value)>,
) -> Result<CronCall, CronError> {
    let signature = || format!("cron.{function}");
    let Some((params, required)) = parameters(function, positional.len()) else {
        return Err(CronError::undefined(format!(
            "function cron.{function} does not exist; Hearth has cron.schedule, \
             cron.schedule_in_database, cron.unschedule, cron.alter_job and cron.run"
        )));
    };
    if positional.len() > params.len() {
        return Err(CronError::undefined(format!(
            "{} takes at most {} arguments, got {}",
            signature(),
            params.len(),
            positional.len()
        )));
    }
    let mut args: Vec<Option<Value>> = vec![None; params.len()];
    for (i, v) in positional.into_iter().enumerate() {
        args[i] = Some(v);
    }
    for (name, v) in named {
        // pg_cron names unschedule's and run's argument by its kind.
        let name = match name.as_str() {
            "job_id" | "job_name" if params[0] == "job" => "job".to_string(),
            _ => name,
        };
        let Some(i) = params.iter().position(|p| *p == name) else {
            return Err(CronError::undefined(format!(
                "{} has no argument \"{name}\" (it has {})",
                signature(),
                params.join(", ")
            )));
        };
        if args[i].is_some() {
            return Err(CronError::undefined(format!(
                "argument \"{name}\" of {} given twice",
                signature()
            )));
        }
        args[i] = Some(v);
    }
    for (i, param) in params.iter().enumerate().take(required) {
        if args[i].is_none() {
            return Err(CronError::undefined(format!(
                "{} needs argument \"{param}\"",
                signature()
            )));
        }
    }
    let get = |name: &str| -> Option<Value> {
        let i = params.iter().position(|p| *p == name)?;
        args[i].clone().filter(|v| *v != Value::Null)
    };
    let text = |name: &str| -> Result<Option<String>, CronError> {
        match get(name) {
            None => Ok(None),
            Some(Value::Text(t)) => Ok(Some(t)),
            Some(Value::Int(i)) if name == "job_name" => Ok(Some(i.to_string())),
            Some(other) => Err(CronError::invalid(format!(
                "argument \"{name}\" of {} must be text, not {}",
                signature(),
                other.describe()
            ))),
        }
    };
    let required_text = |name: &str| -> Result<String, CronError> {
        text(name)?.ok_or_else(|| {
            CronError::invalid(format!(
                "argument \"{name}\" of {} must not be NULL",
                signature()
            ))
        })
    };
    let boolean = |name: &str| -> Result<Option<bool>, CronError> {
        match get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::Text(t)) => match t.to_ascii_lowercase().as_str() {
                "t" | "true" | "on" | "yes" | "1" => Ok(Some(true)),
                "f" | "false" | "off" | "no" | "0" => Ok(Some(false)),
                _ => Err(CronError::invalid(format!(
                    "invalid input syntax for type boolean: \"{t}\""
                ))),
            },
            Some(other) => Err(CronError::invalid(format!(
                "argument \"{name}\" of {} must be a boolean, not {}",
                signature(),
                other.describe()
            ))),
        }
    };
    let job = |name: &str| -> Result<JobRef, CronError> {
        match get(name) {
            Some(Value::Int(i)) => Ok(JobRef::Id(i)),
            Some(Value::Text(t)) => Ok(JobRef::Name(t)),
            Some(other) => Err(CronError::invalid(format!(
                "argument \"{name}\" of {} must be a job id or name, not {}",
                signature(),
                other.describe()
            ))),
            None => Err(CronError::invalid(format!(
                "argument \"{name}\" of {} must not be NULL",
                signature()
            ))),
        }
    };
    // `CRON_TZ=Europe/Berlin 0 3 1 * *`: the zone from the schedule text, unless given.
    let split_zone = |schedule: String,
                      timezone: Option<String>|
     -> Result<(String, Option<String>), CronError> {
        let trimmed = schedule.trim_start();
        let Some(rest) = trimmed
            .strip_prefix("CRON_TZ=")
            .or_else(|| trimmed.strip_prefix("TZ="))
        else {
            return Ok((schedule, timezone));
        };
        let (zone, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if timezone.as_deref().is_some_and(|t| t != zone) {
            return Err(CronError::invalid(format!(
                "the schedule says CRON_TZ={zone} but timezone is \"{}\"",
                timezone.unwrap_or_default()
            )));
        }
        Ok((rest.trim().to_string(), Some(zone.to_string())))
    };
    Ok(match function {
        "schedule" | "schedule_in_database" => {
            let (schedule, timezone) = split_zone(required_text("schedule")?, text("timezone")?)?;
            CronCall::Schedule {
                name: text("job_name")?,
                schedule,
                command: required_text("command")?,
                database: if function == "schedule_in_database" {
                    Some(required_text("database")?)
                } else {
                    None
                },
                username: text("username")?,
                active: boolean("active")?.unwrap_or(true),
                timezone,
            }
        }
        "unschedule" => CronCall::Unschedule(job("job")?),
        "alter_job" => {
            let id = match get("job_id") {
                Some(Value::Int(i)) => i,
                other => {
                    return Err(CronError::invalid(format!(
                        "argument \"job_id\" of cron.alter_job must be a job id, not {}",
                        other.map_or("NULL", |v| v.describe())
                    )));
                }
            };
            let (schedule, timezone) = match text("schedule")? {
                Some(s) => {
                    let (s, tz) = split_zone(s, text("timezone")?)?;
                    (Some(s), tz)
                }
                None => (None, text("timezone")?),
            };
            CronCall::AlterJob {
                id,
                schedule,
                command: text("command")?,
                database: text("database")?,
                username: text("username")?,
                active: boolean("active")?,
                timezone,
            }
        }
        "run" => CronCall::Run {
            job: job("job")?,
            at: required_text("scheduled_time")?,
        },
        _ => unreachable!("parameters() knows only these"),
    })
}

/// A refused statement: SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    /// `42601` syntax, `42883` no such function or argument, `22023` a bad value.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl CronError {
    fn syntax(message: String) -> Self {
        CronError {
            code: "42601",
            message,
        }
    }

    fn undefined(message: String) -> Self {
        CronError {
            code: "42883",
            message,
        }
    }

    /// A bad argument value.
    pub fn invalid(message: String) -> Self {
        CronError {
            code: "22023",
            message,
        }
    }
}

impl std::fmt::Display for CronError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CronError {}

struct Parser<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.at..]
    }

    fn peek_is(&self, c: char) -> bool {
        self.rest().starts_with(c)
    }

    fn skip_ws(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.at += rest.len() - trimmed.len();
            if trimmed.starts_with("--") {
                self.at += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if trimmed.starts_with("/*") {
                self.at += trimmed.find("*/").map_or(trimmed.len(), |i| i + 2);
            } else {
                return;
            }
        }
    }

    fn expect(&mut self, c: char) -> Result<(), CronError> {
        self.skip_ws();
        if self.peek_is(c) {
            self.at += c.len_utf8();
            Ok(())
        } else {
            Err(self.unexpected(&format!("\"{c}\"")))
        }
    }

    fn unexpected(&self, wanted: &str) -> CronError {
        let near: String = self.rest().chars().take(20).collect();
        if near.is_empty() {
            CronError::syntax(format!("syntax error at end of input: expected {wanted}"))
        } else {
            CronError::syntax(format!(
                "syntax error at or near \"{near}\": expected {wanted}"
            ))
        }
    }

    fn keyword(&mut self, word: &str) -> Result<(), CronError> {
        self.skip_ws();
        let rest = self.rest();
        let matches = rest.len() >= word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && !rest[word.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
        if matches {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.unexpected(&word.to_ascii_uppercase()))
        }
    }

    /// A possibly qualified identifier (`cron.schedule`, `"cron"."run"`), folded to lower case
    /// unless quoted.
    fn identifier(&mut self) -> Result<String, CronError> {
        let mut out = String::new();
        loop {
            let rest = self.rest();
            if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| self.unexpected("an identifier"))?;
                out.push_str(&quoted[..end]);
                self.at += end + 2;
            } else {
                let len = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if len == 0 || rest.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(self.unexpected("an identifier"));
                }
                out.push_str(&rest[..len].to_ascii_lowercase());
                self.at += len;
            }
            if self.peek_is('.') {
                self.at += 1;
                out.push('.');
            } else {
                return Ok(out);
            }
        }
    }

    fn value(&mut self) -> Result<Value, CronError> {
        self.skip_ws();
        let rest = self.rest();
        // A typed literal: TIMESTAMPTZ '...', TIMESTAMP WITH TIME ZONE '...', TEXT '...'.
        for prefix in [
            "timestamp with time zone",
            "timestamptz",
            "timestamp",
            "text",
        ] {
            if rest.len() > prefix.len()
                && rest[..prefix.len()].eq_ignore_ascii_case(prefix)
                && rest[prefix.len()..].trim_start().starts_with('\'')
            {
                self.at += prefix.len();
                self.skip_ws();
                return self.value();
            }
        }
        let value = if rest.starts_with('\'') {
            Value::Text(self.quoted(false)?)
        } else if (rest.starts_with('E') || rest.starts_with('e')) && rest[1..].starts_with('\'') {
            self.at += 1;
            Value::Text(self.quoted(true)?)
        } else if rest.starts_with('$') {
            Value::Text(self.dollar_quoted()?)
        } else if rest.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            let len = rest[1..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(rest.len(), |i| i + 1);
            let number = &rest[..len];
            self.at += len;
            Value::Int(
                number
                    .parse()
                    .map_err(|_| CronError::invalid(format!("\"{number}\" is not an integer")))?,
            )
        } else {
            let word = self.identifier()?;
            match word.as_str() {
                "null" => Value::Null,
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(CronError::syntax(format!(
                        "arguments of cron functions are literals; found \"{word}\""
                    )));
                }
            }
        };
        // A cast of the literal (`'...'::timestamptz`, `1::bigint`) changes nothing here.
        self.skip_ws();
        while self.rest().starts_with("::") {
            self.at += 2;
            self.skip_ws();
            self.identifier()?;
            self.skip_ws();
            // `timestamp with time zone`
            for word in ["with", "time", "zone"] {
                if self.keyword(word).is_ok() {
                    self.skip_ws();
                }
            }
        }
        Ok(value)
    }

    fn quoted(&mut self, escapes: bool) -> Result<String, CronError> {
        let start = self.at;
        self.at += 1;
        let mut out = String::new();
        let mut chars = self.s[self.at..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if escapes => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, other)) => out.push(other),
                    None => break,
                },
                '\'' => {
                    if self.s[self.at + i + 1..].starts_with('\'') {
                        out.push('\'');
                        chars.next();
                    } else {
                        self.at += i + 1;
                        return Ok(out);
                    }
                }
                other => out.push(other),
            }
        }
        self.at = start;
        Err(CronError::syntax("unterminated quoted string".to_string()))
    }

    fn dollar_quoted(&mut self) -> Result<String, CronError> {
        let rest = self.rest();
        let close = rest[1..]
            .find('$')
            .ok_or_else(|| self.unexpected("a dollar-quoted string"))?;
        let tag = &rest[..close + 2];
        if !tag[1..tag.len() - 1]
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_')
        {
            return Err(self.unexpected("a dollar-quoted string"));
        }
        let body = &rest[tag.len()..];
        let end = body.find(tag).ok_or_else(|| {
            CronError::syntax(format!(
                "unterminated dollar-quoted string at or near \"{tag}\""
            ))
        })?;
        let text = body[..end].to_string();
        self.at += tag.len() * 2 + end;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(
        name: Option<&str>,
        schedule: &str,
        command: &str,
        timezone: Option<&str>,
    ) -> CronCall {
        CronCall::Schedule {
            name: name.map(str::to_string),
            schedule: schedule.into(),
            command: command.into(),
            database: None,
            username: None,
            active: true,
            timezone: timezone.map(str::to_string),
        }
    }

    #[test]
    fn pg_cron_calls_parse() {
        assert_eq!(
            parse("SELECT cron.schedule('monthly-invoices', '0 3 1 * *', $$INSERT INTO t SELECT 1; $$);")
                .unwrap(),
            schedule(Some("monthly-invoices"), "0 3 1 * *", "INSERT INTO t SELECT 1; ", None)
        );
        assert_eq!(
            parse("select cron.schedule('*/5 * * * *', $job$DELETE FROM t WHERE x = 'a$$b'$job$)")
                .unwrap(),
            schedule(None, "*/5 * * * *", "DELETE FROM t WHERE x = 'a$$b'", None)
        );
        assert_eq!(
            parse(
                "SELECT cron.schedule(job_name => 'j', schedule => 'CRON_TZ=Europe/Berlin 0 3 1 * *', \
                 command => 'SELECT ''x''')"
            )
            .unwrap(),
            schedule(Some("j"), "0 3 1 * *", "SELECT 'x'", Some("Europe/Berlin"))
        );
        assert_eq!(
            parse(
                "SELECT cron.schedule('j', '@daily', 'SELECT 1', timezone => 'America/New_York')"
            )
            .unwrap(),
            schedule(Some("j"), "@daily", "SELECT 1", Some("America/New_York"))
        );
        assert_eq!(
            parse(
                "SELECT cron.schedule_in_database('j', '@hourly', 'SELECT 1', 'home', NULL, false)"
            )
            .unwrap(),
            CronCall::Schedule {
                name: Some("j".into()),
                schedule: "@hourly".into(),
                command: "SELECT 1".into(),
                database: Some("home".into()),
                username: None,
                active: false,
                timezone: None,
            }
        );
        assert_eq!(
            parse("SELECT cron.unschedule('j')").unwrap(),
            CronCall::Unschedule(JobRef::Name("j".into()))
        );
        assert_eq!(
            parse("SELECT cron.unschedule(42) AS gone").unwrap(),
            CronCall::Unschedule(JobRef::Id(42))
        );
        assert_eq!(
            parse("SELECT cron.alter_job(3, active => false, command => E'SELECT\\n1')").unwrap(),
            CronCall::AlterJob {
                id: 3,
                schedule: None,
                command: Some("SELECT\n1".into()),
                database: None,
                username: None,
                active: Some(false),
                timezone: None,
            }
        );
        assert_eq!(
            parse("SELECT cron.run('j', TIMESTAMPTZ '2026-03-01 03:00:00+01')").unwrap(),
            CronCall::Run {
                job: JobRef::Name("j".into()),
                at: "2026-03-01 03:00:00+01".into()
            }
        );
        assert_eq!(
            parse("SELECT cron.run(7, '2026-03-01 02:00:00Z'::timestamptz)").unwrap(),
            CronCall::Run {
                job: JobRef::Id(7),
                at: "2026-03-01 02:00:00Z".into()
            }
        );
    }

    #[test]
    fn recognised_statements() {
        assert!(recognizes("SELECT cron.schedule('a', 'b', 'c')"));
        assert!(recognizes("select  CRON.UNSCHEDULE ('a')"));
        assert!(recognizes("SELECT cron.run"));
        assert!(!recognizes("SELECT cron_schedule('a')"));
        assert!(!recognizes("SELECT * FROM cron.job"));
        assert!(recognizes("SELECT cron.scheduled_thing()"));
        assert!(!recognizes("SELECT cron.jobid FROM cron.job"));
        assert_eq!(parse("SELECT cron.nothing(1)").unwrap_err().code, "42883");
    }

    #[test]
    fn bad_calls_say_what_is_wrong() {
        let err = |sql: &str| parse(sql).unwrap_err();
        assert_eq!(
            err("SELECT cron.schedule('j', '0 3 1 * *', NULL)"),
            CronError {
                code: "22023",
                message: "argument \"command\" of cron.schedule must not be NULL".into(),
            }
        );
        assert_eq!(
            err("SELECT cron.schedule_in_database('j', '@daily', 'x')").message,
            "cron.schedule_in_database needs argument \"database\""
        );
        assert_eq!(err("SELECT cron.frobnicate(1)").code, "42883");
        assert_eq!(
            err("SELECT cron.schedule('j', '@daily', 'x', color => 'red')").message,
            "cron.schedule has no argument \"color\" (it has job_name, schedule, command, timezone)"
        );
        assert_eq!(
            err("SELECT cron.schedule('j', '@daily', $$SELECT 1)").message,
            "unterminated dollar-quoted string at or near \"$$\""
        );
        assert_eq!(
            err("SELECT cron.schedule('j', '@daily', 'x') FROM t").message,
            "syntax error at or near \"FROM t\""
        );
        assert_eq!(
            err("SELECT cron.unschedule(now())").message,
            "arguments of cron functions are literals; found \"now\""
        );
        assert_eq!(
            err("SELECT cron.alter_job('j')").message,
            "argument \"job_id\" of cron.alter_job must be a job id, not text"
        );
        assert_eq!(
            err(
                "SELECT cron.schedule('j', 'CRON_TZ=UTC @daily', 'x', timezone => 'Europe/Berlin')"
            )
            .message,
            "the schedule says CRON_TZ=UTC but timezone is \"Europe/Berlin\""
        );
    }
}
