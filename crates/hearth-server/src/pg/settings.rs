//! A connection's settings, as PostgreSQL keeps them: `SET`, `RESET`, `SHOW`, `SHOW ALL`,
//! `current_setting()` and `set_config()`.
//!
//! Every connection has its own [`Settings`]; nothing a client sets reaches another session.
//! Settings that change what Hearth does are checked and applied: `TimeZone` (how
//! `timestamp with time zone` values are shown), `extra_float_digits`, `statement_timeout`, and
//! `datafusion.*` (the connection's own DataFusion session options; the runtime and catalog
//! ones are server-wide and refused). The settings clients send on connect (`DateStyle`,
//! `client_encoding`, `application_name`, `search_path`, transaction isolation, ...) are
//! accepted and answered back as PostgreSQL would; a name PostgreSQL does not know is an
//! error (`42704`), as there, unless it holds a dot (a custom setting such as `app.user`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ParamValues, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, EmptyRelation, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, TypeSignature, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Set, Statement, Value};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::results::{
    DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag,
};
use datafusion_postgres::pgwire::api::{ClientInfo, Type};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::startup::ParameterStatus;
use hearth_query::functions::PG_VERSION;
use parking_lot::RwLock;

use super::encode::{TextOptions, Zone};

/// Settings PostgreSQL reports to the client whenever they change (`GUC_REPORT`), by their
/// canonical names.
const REPORTED: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "search_path",
    "standard_conforming_strings",
    "is_superuser",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "server_encoding",
    "server_version",
    "session_authorization",
];

/// Settings a client may read but not change (`55P02` in PostgreSQL).
const READ_ONLY: &[&str] = &[
    "server_version",
    "server_version_num",
    "server_encoding",
    "integer_datetimes",
    "max_identifier_length",
    "lc_collate",
    "lc_ctype",
    "block_size",
    "in_hot_standby",
    "is_superuser",
    "max_connections",
    "ssl",
    "data_directory_mode",
    "scram_iterations",
];

/// Settings PostgreSQL has that clients are known to set; accepted and kept, with no effect
/// beyond what `SHOW` answers.
const ACCEPTED: &[&str] = &[
    "application_name",
    "array_nulls",
    "backslash_quote",
    "bytea_output",
    "client_min_messages",
    "cursor_tuple_fraction",
    "default_text_search_config",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "enable_seqscan",
    "escape_string_warning",
    "geqo",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "jit",
    "join_collapse_limit",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "lock_timeout",
    "maintenance_work_mem",
    "max_parallel_workers_per_gather",
    "plan_cache_mode",
    "quote_all_identifiers",
    "role",
    "row_security",
    "search_path",
    "session_authorization",
    "standard_conforming_strings",
    "synchronous_commit",
    "temp_buffers",
    "timezone_abbreviations",
    "transaction_isolation",
    "transaction_read_only",
    "work_mem",
    "xmlbinary",
    "xmloption",
];

/// The canonical spelling of a setting (PostgreSQL's mixed-case ones; others lower case).
fn canonical(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "datestyle" => "DateStyle".into(),
        "intervalstyle" => "IntervalStyle".into(),
        "timezone" | "time zone" | "time_zone" => "TimeZone".into(),
        _ => lower,
    }
}

/// PostgreSQL's default of a setting Hearth knows, for a server with `timeout` as its
/// statement timeout.
fn default_of(name: &str, user: &str, timeout: Option<Duration>) -> Option<String> {
    Some(match name {
        "server_version" => format!("{PG_VERSION} (Hearth {})", env!("CARGO_PKG_VERSION")),
        "server_version_num" => {
            let mut parts = PG_VERSION.split('.');
            let major: u32 = parts.next()?.parse().ok()?;
            let minor: u32 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
            (major * 10_000 + minor).to_string()
        }
        "server_encoding" | "client_encoding" => "UTF8".into(),
        "DateStyle" => "ISO, MDY".into(),
        "IntervalStyle" => "postgres".into(),
        "TimeZone" => "UTC".into(),
        "integer_datetimes"
        | "standard_conforming_strings"
        | "escape_string_warning"
        | "array_nulls"
        | "row_security"
        | "synchronous_commit"
        | "enable_seqscan"
        | "is_superuser"
        | "jit"
        | "geqo" => "on".into(),
        "default_transaction_read_only"
        | "transaction_read_only"
        | "in_hot_standby"
        | "quote_all_identifiers"
        | "ssl" => "off".into(),
        "search_path" => "\"$user\", public".into(),
        "application_name" => String::new(),
        "extra_float_digits" => "1".into(),
        "max_identifier_length" => "63".into(),
        "transaction_isolation" | "default_transaction_isolation" => "read committed".into(),
        "statement_timeout" => format_duration(timeout),
        "lock_timeout" | "idle_in_transaction_session_timeout" | "idle_session_timeout" => {
            "0".into()
        }
        "bytea_output" => "hex".into(),
        "client_min_messages" => "notice".into(),
        "lc_collate" | "lc_ctype" | "lc_messages" | "lc_monetary" | "lc_numeric" | "lc_time" => {
            "C.UTF-8".into()
        }
        "block_size" => "8192".into(),
        "session_authorization" | "role" => user.to_string(),
        "scram_iterations" => "4096".into(),
        "backslash_quote" => "safe_encoding".into(),
        "default_text_search_config" => "pg_catalog.english".into(),
        "timezone_abbreviations" => "Default".into(),
        "xmlbinary" => "base64".into(),
        "xmloption" => "content".into(),
        "plan_cache_mode" => "auto".into(),
        "work_mem" => "4MB".into(),
        "maintenance_work_mem" => "64MB".into(),
        "temp_buffers" => "8MB".into(),
        "cursor_tuple_fraction" => "0.1".into(),
        "join_collapse_limit" => "8".into(),
        "max_parallel_workers_per_gather" => "2".into(),
        _ => return None,
    })
}

/// A duration as `SHOW` prints it (`0`, `250ms`, `5s`, `2min`).
fn format_duration(d: Option<Duration>) -> String {
    let Some(d) = d else { return "0".into() };
    let ms = d.as_millis();
    if ms == 0 {
        "0".into()
    } else if ms % 60_000 == 0 {
        format!("{}min", ms / 60_000)
    } else if ms % 1_000 == 0 {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// A duration setting's value: a number of milliseconds, or a number with a unit (`us`, `ms`,
/// `s`, `min`, `h`, `d`) as PostgreSQL reads it.
fn parse_duration(value: &str) -> Option<Duration> {
    let v = value.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let number: f64 = number.parse().ok()?;
    let ms = match unit.trim() {
        "" | "ms" => number,
        "us" => number / 1_000.0,
        "s" => number * 1_000.0,
        "min" => number * 60_000.0,
        "h" => number * 3_600_000.0,
        "d" => number * 86_400_000.0,
        _ => return None,
    };
    (ms.is_finite() && ms >= 0.0).then(|| Duration::from_micros((ms * 1_000.0) as u64))
}

fn error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

/// One connection's settings.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Values set in this session, by canonical name.
    values: RwLock<BTreeMap<String, String>>,
    /// The user the connection logged in as.
    user: String,
    /// The server's statement timeout (`--statement-timeout`).
    server_timeout: Option<Duration>,
}

impl Settings {
    /// The settings of a new connection: PostgreSQL's defaults, with what the client sent in its
    /// startup message (`application_name`, `client_encoding`, `DateStyle`, `TimeZone`,
    /// `extra_float_digits`, ... and `options=-c name=value`).
    pub(crate) fn new(
        startup: &BTreeMap<String, String>,
        server_timeout: Option<Duration>,
    ) -> Settings {
        let user = startup.get("user").cloned().unwrap_or_default();
        let settings = Settings {
            values: RwLock::new(BTreeMap::new()),
            user,
            server_timeout,
        };
        for (name, value) in startup {
            if matches!(
                name.as_str(),
                "user" | "database" | "replication" | "options"
            ) {
                continue;
            }
            let _ = settings.set(name, value);
        }
        if let Some(options) = startup.get("options") {
            // libpq's PGOPTIONS: `-c name=value` or `--name=value`, space separated.
            let mut words = options.split_whitespace().peekable();
            while let Some(word) = words.next() {
                let pair = match word {
                    "-c" => words.next(),
                    w => w.strip_prefix("--").or_else(|| w.strip_prefix("-c")),
                };
                if let Some((name, value)) = pair.and_then(|p| p.split_once('=')) {
                    let _ = settings.set(&name.replace('-', "_"), value);
                }
            }
        }
        settings
    }

    /// The value of `name` (any spelling), if it has one.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let name = canonical(name);
        if let Some(v) = self.values.read().get(&name) {
            return Some(v.clone());
        }
        default_of(&name, &self.user, self.server_timeout)
    }

    /// Sets `name` to `value` after checking it; returns the canonical name.
    pub(crate) fn set(&self, name: &str, value: &str) -> PgWireResult<String> {
        let name = canonical(name);
        if READ_ONLY.contains(&name.as_str()) {
            return Err(error(
                "55P02",
                format!("parameter \"{name}\" cannot be changed"),
            ));
        }
        let invalid = || {
            error(
                "22023",
                format!("invalid value for parameter \"{name}\": \"{value}\""),
            )
        };
        let value = match name.as_str() {
            "TimeZone" => {
                Zone::parse(value).ok_or_else(invalid)?;
                value.to_string()
            }
            "extra_float_digits" => match value.trim().parse::<i32>() {
                Ok(v) if (-15..=3).contains(&v) => v.to_string(),
                _ => return Err(invalid()),
            },
            "statement_timeout" => {
                let d = parse_duration(value).ok_or_else(invalid)?;
                format_duration(Some(d))
            }
            "client_encoding" => {
                let v = value.trim().to_ascii_uppercase().replace('-', "");
                if !matches!(v.as_str(), "UTF8" | "UNICODE") {
                    return Err(error(
                        "0A000",
                        format!("client encoding \"{value}\" is not supported: only UTF8"),
                    ));
                }
                "UTF8".into()
            }
            "DateStyle" => {
                // Hearth writes dates in ISO style only; the field order part is kept.
                let parts: Vec<String> = value
                    .split(',')
                    .map(|p| p.trim().to_ascii_uppercase())
                    .filter(|p| !p.is_empty())
                    .collect();
                let style_ok = parts.iter().all(|p| {
                    matches!(
                        p.as_str(),
                        "ISO"
                            | "MDY"
                            | "DMY"
                            | "YMD"
                            | "US"
                            | "EURO"
                            | "EUROPEAN"
                            | "NONEURO"
                            | "NONEUROPEAN"
                    )
                });
                if parts.is_empty() || !style_ok {
                    return Err(error(
                        "0A000",
                        format!(
                            "DateStyle \"{value}\" is not supported: Hearth writes dates in ISO style"
                        ),
                    ));
                }
                let order = parts
                    .iter()
                    .find(|p| matches!(p.as_str(), "MDY" | "DMY" | "YMD"))
                    .map_or("MDY", String::as_str);
                format!("ISO, {order}")
            }
            "IntervalStyle" => match value.trim().to_ascii_lowercase().as_str() {
                v @ ("postgres" | "postgres_verbose" | "sql_standard" | "iso_8601") => v.into(),
                _ => return Err(invalid()),
            },
            n if ACCEPTED.contains(&n) || n.contains('.') => value.to_string(),
            _ => {
                return Err(error(
                    "42704",
                    format!("unrecognized configuration parameter \"{name}\""),
                ));
            }
        };
        self.values.write().insert(name.clone(), value);
        Ok(name)
    }

    /// Back to the default.
    pub(crate) fn reset(&self, name: &str) -> String {
        let name = canonical(name);
        self.values.write().remove(&name);
        name
    }

    /// Every setting with a value, for `SHOW ALL`.
    fn all(&self) -> Vec<(String, String)> {
        let mut names: Vec<String> = REPORTED
            .iter()
            .chain(READ_ONLY)
            .chain(ACCEPTED)
            .map(|n| n.to_string())
            .chain(["extra_float_digits", "statement_timeout"].map(String::from))
            .chain(self.values.read().keys().cloned())
            .collect();
        names.sort_by_key(|n| n.to_ascii_lowercase());
        names.dedup();
        names
            .into_iter()
            .filter_map(|n| self.get(&n).map(|v| (n, v)))
            .collect()
    }

    /// How values are written for this session.
    pub(crate) fn text_options(&self) -> TextOptions {
        TextOptions {
            extra_float_digits: self
                .get("extra_float_digits")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
            zone: self
                .get("TimeZone")
                .and_then(|z| Zone::parse(&z))
                .unwrap_or(Zone::Fixed(0)),
        }
    }

    /// The statement timeout in effect: zero when turned off.
    pub(crate) fn statement_timeout(&self) -> Duration {
        self.get("statement_timeout")
            .and_then(|v| parse_duration(&v))
            .unwrap_or_default()
    }
}

/// The text of a `SET` value as PostgreSQL reads it.
fn value_text(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::NationalStringLiteral(s) => s.clone(),
            Value::Number(n, _) => n.to_string(),
            Value::Boolean(b) => if *b { "on" } else { "off" }.into(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        Expr::UnaryOp { op, expr } => format!("{op}{}", value_text(expr)),
        other => other.to_string().trim_matches('\'').to_string(),
    }
}

/// The setting `SHOW name` shows, which names its column: `SHOW TIME ZONE` is `TimeZone`.
fn shown(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "transaction isolation level" => "transaction_isolation".to_string(),
        "time zone" => "TimeZone".to_string(),
        "session authorization" => "session_authorization".to_string(),
        _ => canonical(name),
    }
}

/// A one-column, one-row answer (`SHOW x`).
fn single(name: &str, value: &str) -> PgWireResult<Response> {
    rows(&[name], vec![vec![value.to_string()]])
}

/// An answer of text columns.
fn rows(names: &[&str], values: Vec<Vec<String>>) -> PgWireResult<Response> {
    let fields: Vec<FieldInfo> = names
        .iter()
        .map(|n| FieldInfo::new(n.to_string(), None, None, Type::TEXT, FieldFormat::Text))
        .collect();
    let fields = Arc::new(fields);
    let mut encoder = DataRowEncoder::new(fields.clone());
    let mut out = Vec::with_capacity(values.len());
    for row in values {
        for v in row {
            encoder.encode_field(&Some(v))?;
        }
        out.push(Ok(encoder.take_row()));
    }
    Ok(Response::Query(QueryResponse::new(
        fields,
        futures::stream::iter(out),
    )))
}

/// The plan a `SET`/`SHOW` statement gets at Parse (its rows are made at Execute).
fn placeholder_plan(columns: &[&str]) -> PgWireResult<LogicalPlan> {
    let schema = Schema::new(
        columns
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    );
    let schema = DFSchema::try_from(schema).map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: true,
        schema: Arc::new(schema),
    }))
}

/// The setting `SHOW` names: `a.b` for dotted names, `time zone` and the other two-word and
/// three-word forms PostgreSQL has as they are.
fn show_name(variable: &[datafusion::sql::sqlparser::ast::Ident]) -> String {
    let words: Vec<&str> = variable.iter().map(|i| i.value.as_str()).collect();
    let spaced = words.join(" ");
    match spaced.to_ascii_lowercase().as_str() {
        "time zone" | "transaction isolation level" | "session authorization" | "all" => spaced,
        _ => words.join("."),
    }
}

/// Answers `SET`, `RESET` and `SHOW` from the connection's [`Settings`].
pub(crate) struct SettingsHook;

impl SettingsHook {
    async fn run(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let session = super::session::session(&*client).ok()?;
        let settings = &session.settings;
        match statement {
            Statement::Set(set) => Some(self.set(set, settings, ctx, client).await),
            Statement::Reset(reset) => {
                use datafusion::sql::sqlparser::ast::Reset;
                match &reset.reset {
                    Reset::ALL => {
                        settings.values.write().clear();
                    }
                    Reset::ConfigurationParameter(name) => {
                        let name = settings.reset(&name.to_string());
                        if let Err(e) = report(client, settings, &name).await {
                            return Some(Err(e));
                        }
                    }
                }
                Some(Ok(Response::Execution(Tag::new("RESET"))))
            }
            Statement::ShowVariable { variable } => {
                let name = show_name(variable);
                if name.eq_ignore_ascii_case("all") {
                    let all = settings
                        .all()
                        .into_iter()
                        .map(|(n, v)| vec![n, v, String::new()])
                        .collect();
                    return Some(rows(&["name", "setting", "description"], all));
                }
                let key = shown(&name);
                if let Some(option) = key.strip_prefix("datafusion.") {
                    let config = ctx.state().config().options().clone();
                    let found = config
                        .entries()
                        .into_iter()
                        .find(|e| e.key == format!("datafusion.{option}"));
                    return Some(match found {
                        Some(e) => single(&key, &e.value.unwrap_or_default()),
                        None => Err(error(
                            "42704",
                            format!("unrecognized configuration parameter \"{key}\""),
                        )),
                    });
                }
                Some(match settings.get(&key) {
                    Some(v) => single(&key, &v),
                    None => Err(error(
                        "42704",
                        format!("unrecognized configuration parameter \"{name}\""),
                    )),
                })
            }
            _ => None,
        }
    }

    async fn set(
        &self,
        set: &Set,
        settings: &Settings,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> PgWireResult<Response> {
        let assignments: Vec<(String, Option<String>)> = match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let default = values.len() == 1
                    && matches!(&values[0], Expr::Identifier(i) if i.value.eq_ignore_ascii_case("default"));
                let value = values.iter().map(value_text).collect::<Vec<_>>().join(", ");
                vec![(variable.to_string(), (!default).then_some(value))]
            }
            Set::SetTimeZone { value, .. } => {
                let v = value_text(value);
                let default = v.eq_ignore_ascii_case("default") || v.eq_ignore_ascii_case("local");
                vec![("TimeZone".into(), (!default).then_some(v))]
            }
            Set::SetNames { charset_name, .. } => {
                vec![("client_encoding".into(), Some(charset_name.value.clone()))]
            }
            Set::SetNamesDefault {} => vec![("client_encoding".into(), None)],
            Set::MultipleAssignments { assignments } => assignments
                .iter()
                .map(|a| (a.name.to_string(), Some(value_text(&a.value))))
                .collect(),
            // Transaction modes, roles and session authorization have no effect in Hearth
            // (every statement sees the latest committed data; there is one role).
            Set::SetTransaction { .. }
            | Set::SetRole { .. }
            | Set::SetSessionAuthorization(_)
            | Set::SetSessionParam(_) => Vec::new(),
            Set::ParenthesizedAssignments { variables, values } => variables
                .iter()
                .zip(values)
                .map(|(n, v)| (n.to_string(), Some(value_text(v))))
                .collect(),
        };
        for (name, value) in assignments {
            let name = name.trim_matches('"').to_string();
            if let Some(option) = name.to_ascii_lowercase().strip_prefix("datafusion.") {
                if option.starts_with("runtime.") || option.starts_with("catalog.") {
                    return Err(error(
                        "42501",
                        format!("permission denied to set parameter \"{name}\": it is server-wide"),
                    ));
                }
                let value = value.unwrap_or_default();
                let key = format!("datafusion.{option}");
                let state = ctx.state_ref();
                let mut state = state.write();
                let options = state.config_mut().options_mut();
                // DataFusion reads booleans as `true` and `false` only; PostgreSQL's other
                // spellings (`on`, `off`, `yes`, `0`, and `false` unquoted, which arrives as
                // `off`) are tried again as those where the value is not taken as it is.
                if let Err(e) = options.set(&key, &value) {
                    let retried = super::values::parse_bool(&value)
                        .is_some_and(|b| options.set(&key, &b.to_string()).is_ok());
                    if !retried {
                        return Err(error("22023", e.to_string()));
                    }
                }
                continue;
            }
            let name = match value {
                Some(v) => settings.set(&name, &v)?,
                None => settings.reset(&name),
            };
            report(client, settings, &name).await?;
        }
        Ok(Response::Execution(Tag::new("SET")))
    }
}

/// Sends a `ParameterStatus` for `name` if PostgreSQL reports it.
async fn report(client: &mut dyn HookClient, settings: &Settings, name: &str) -> PgWireResult<()> {
    if let Some(reported) = REPORTED.iter().find(|r| **r == name)
        && let Some(value) = settings.get(reported)
    {
        client
            .send_message(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                reported.to_string(),
                value,
            )))
            .await?;
    }
    Ok(())
}

#[async_trait]
impl QueryHook for SettingsHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.run(statement, ctx, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match statement {
            Statement::Set(_) | Statement::Reset(_) => Some(placeholder_plan(&[])),
            Statement::ShowVariable { variable } => {
                let all = variable.len() == 1 && variable[0].value.eq_ignore_ascii_case("all");
                if all {
                    Some(placeholder_plan(&["name", "setting", "description"]))
                } else {
                    Some(placeholder_plan(&[shown(&show_name(variable)).as_str()]))
                }
            }
            _ => None,
        }
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.run(statement, ctx, client).await
    }
}

/// `current_setting(name [, missing_ok])` over one session's settings.
#[derive(Debug)]
struct CurrentSetting {
    settings: Arc<Settings>,
    signature: Signature,
}

impl PartialEq for CurrentSetting {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.settings, &other.settings)
    }
}

impl Eq for CurrentSetting {}

impl std::hash::Hash for CurrentSetting {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.settings).hash(state);
    }
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let names = to_array(&args.args[0])?;
        let names = names.as_string::<i32>();
        let missing_ok = match args.args.get(1) {
            Some(v) => Some(to_array(v)?),
            None => None,
        };
        let mut out = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            out.push(match name {
                None => None,
                Some(n) => match self.settings.get(n) {
                    Some(v) => Some(v),
                    None if missing_ok.as_ref().is_some_and(|m| m.as_boolean().value(i)) => None,
                    None => {
                        return exec_err!("unrecognized configuration parameter \"{n}\"");
                    }
                },
            });
        }
        Ok(ColumnarValue::Array(
            Arc::new(StringArray::from(out)) as ArrayRef
        ))
    }
}

/// `current_setting(name [, missing_ok])` and `set_config(name, value, is_local)` over
/// `settings`, for one session.
pub(crate) fn setting_functions(settings: Arc<Settings>) -> Vec<ScalarUDF> {
    let current = ScalarUDF::new_from_impl(CurrentSetting {
        settings: settings.clone(),
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
            ],
            Volatility::Stable,
        ),
    });
    let write = settings;
    let set_config = create_udf(
        "set_config",
        vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(move |args: &[ColumnarValue]| {
            let names = to_array(&args[0])?;
            let values = to_array(&args[1])?;
            let (names, values) = (names.as_string::<i32>(), values.as_string::<i32>());
            let mut out = Vec::with_capacity(names.len());
            for (name, value) in names.iter().zip(values.iter()) {
                let (Some(name), Some(value)) = (name, value) else {
                    out.push(None);
                    continue;
                };
                if let Err(e) = write.set(name, value) {
                    return exec_err!("{e}");
                }
                out.push(Some(value.to_string()));
            }
            Ok(ColumnarValue::Array(
                Arc::new(StringArray::from(out)) as ArrayRef
            ))
        }),
    );
    vec![current, set_config]
}

fn to_array(v: &ColumnarValue) -> datafusion::common::Result<ArrayRef> {
    match v {
        ColumnarValue::Array(a) => Ok(a.clone()),
        ColumnarValue::Scalar(s) => match s {
            ScalarValue::Utf8View(v) | ScalarValue::LargeUtf8(v) => {
                ScalarValue::Utf8(v.clone()).to_array()
            }
            s => s.to_array(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_startup_values_and_checks() {
        let s = Settings::new(
            &startup(&[
                ("user", "ana"),
                ("application_name", "psql"),
                ("DateStyle", "ISO"),
                ("options", "-c statement_timeout=5s --extra-float-digits=3"),
            ]),
            None,
        );
        assert_eq!(s.get("application_name").as_deref(), Some("psql"));
        assert_eq!(s.get("datestyle").as_deref(), Some("ISO, MDY"));
        assert_eq!(s.get("statement_timeout").as_deref(), Some("5s"));
        assert_eq!(s.statement_timeout(), Duration::from_secs(5));
        assert_eq!(s.get("extra_float_digits").as_deref(), Some("3"));
        assert_eq!(s.get("server_version_num").as_deref(), Some("160006"));
        assert_eq!(s.get("session_authorization").as_deref(), Some("ana"));
        assert_eq!(s.get("TimeZone").as_deref(), Some("UTC"));

        assert_eq!(s.set("timezone", "Europe/Berlin").unwrap(), "TimeZone");
        assert!(matches!(s.text_options().zone, Zone::Named(_)));
        assert!(s.set("TimeZone", "Mars/Olympus").is_err());
        assert!(s.set("extra_float_digits", "9").is_err());
        assert!(s.set("server_version", "1").is_err());
        assert!(s.set("no_such_setting", "1").is_err());
        assert!(s.set("app.user_id", "7").is_ok());
        assert_eq!(s.get("app.user_id").as_deref(), Some("7"));
        assert!(s.set("client_encoding", "LATIN1").is_err());
        assert!(s.set("DateStyle", "German").is_err());
        s.set("statement_timeout", "0").unwrap();
        assert_eq!(s.statement_timeout(), Duration::ZERO);
        s.reset("statement_timeout");
        assert_eq!(s.get("statement_timeout").as_deref(), Some("0"));
        assert_eq!(parse_duration("1.5min"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3_600)));
        assert_eq!(parse_duration("soon"), None);
    }
}
