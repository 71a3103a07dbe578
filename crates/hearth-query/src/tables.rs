//! `CREATE TABLE` and `DROP TABLE`: SQL tables, declared rather than grown by line protocol.
//!
//! ```sql
//! CREATE TABLE [IF NOT EXISTS] name (column type [PRIMARY KEY] [NOT NULL], ...
//!                                    [, PRIMARY KEY (column, ...)])
//! DROP TABLE [IF EXISTS] name [, ...]
//! ```
//!
//! Types: `text` (`varchar`, `char`), `timestamp` / `timestamptz` (both an instant, stored as
//! UTC microseconds like `time`), `double precision` (`float8`, `real`, `float`), `bigint`
//! (`integer`, `int`, `smallint`) and `boolean`. With a primary key a row with an existing key
//! replaces it; without one rows are appended (see `hearth_catalog::schema`). A SQL table is a
//! Delta table like any other, written through the WAL by `INSERT`.

use datafusion::sql::sqlparser::ast::{
    ColumnOption, CreateTable, DataType, Expr, ObjectName, ObjectType, Statement, TableConstraint,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use hearth_catalog::schema::{ColumnKind, FieldType, TIME_COLUMN, TableSchema};

use crate::catalogs::PUBLIC;
use crate::error::QueryError;
use crate::idents::folded;

/// A table statement.
#[derive(Debug, Clone, PartialEq)]
pub enum TableCommand {
    /// `CREATE TABLE`.
    Create {
        /// The table.
        name: String,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
        /// Its columns.
        schema: TableSchema,
    },
    /// `DROP TABLE`.
    Drop {
        /// The tables, in order.
        names: Vec<String>,
        /// `IF EXISTS` was given.
        if_exists: bool,
    },
}

fn unsupported(message: impl Into<String>) -> QueryError {
    QueryError::command("0A000", message)
}

/// Whether `sql` is a `CREATE [TEMP] TABLE` or `DROP TABLE` statement (by its first words).
fn recognizes(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
        .take(3)
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        words.as_slice(),
        ["CREATE", "TABLE", ..]
            | ["CREATE", "TEMP" | "TEMPORARY" | "UNLOGGED", "TABLE"]
            | ["DROP", "TABLE", ..]
    )
}

/// `Some` if `sql` is a table statement: the command, or why it cannot run (`42601` for bad
/// syntax, `0A000` for what Hearth does not support, `42701`/`42P16`/`42703` for bad columns).
pub fn parse(sql: &str) -> Option<Result<TableCommand, QueryError>> {
    if !recognizes(sql) {
        return None;
    }
    let statements = match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(s) => s,
        Err(e) => return Some(Err(QueryError::command("42601", e.to_string()))),
    };
    let [statement] = statements.as_slice() else {
        return Some(Err(QueryError::command("42601", "expected one statement")));
    };
    Some(match statement {
        Statement::CreateTable(create) => create_table(create),
        Statement::Drop {
            object_type: ObjectType::Table,
            if_exists,
            names,
            cascade,
            ..
        } => {
            if *cascade {
                return Some(Err(unsupported(
                    "DROP TABLE ... CASCADE is not supported: drop the views that read the \
                     table first",
                )));
            }
            names
                .iter()
                .map(table_name)
                .collect::<Result<Vec<_>, _>>()
                .map(|names| TableCommand::Drop {
                    names,
                    if_exists: *if_exists,
                })
        }
        _ => Err(QueryError::command(
            "42601",
            "expected CREATE TABLE or DROP TABLE",
        )),
    })
}

/// The table of `name`: `t` or `public.t` (tables live in schema `public` of the session's
/// database).
fn table_name(name: &ObjectName) -> Result<String, QueryError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(folded))
        .collect::<Option<_>>()
        .ok_or_else(|| QueryError::command("42601", format!("invalid table name {name}")))?;
    match parts.as_slice() {
        [table] => Ok(table.clone()),
        [schema, table] if schema == PUBLIC => Ok(table.clone()),
        [schema, _] => Err(QueryError::command(
            "3F000",
            format!("schema \"{schema}\" does not exist (tables are created in \"public\")"),
        )),
        _ => Err(QueryError::command(
            "0A000",
            format!("{name}: tables are created in the session's database"),
        )),
    }
}

/// The stored type of a declared SQL type.
fn field_type(data_type: &DataType) -> Result<FieldType, String> {
    Ok(match data_type {
        DataType::Text
        | DataType::Varchar(_)
        | DataType::CharacterVarying(_)
        | DataType::Char(_)
        | DataType::Character(_)
        | DataType::String(_) => FieldType::String,
        DataType::Timestamp(_, _) | DataType::TimestampNtz(_) => FieldType::Timestamp,
        DataType::DoublePrecision
        | DataType::Double(_)
        | DataType::Float8
        | DataType::Float(_)
        | DataType::Float4
        | DataType::Real => FieldType::Float,
        DataType::BigInt(_)
        | DataType::Int8(_)
        | DataType::Int(_)
        | DataType::Int4(_)
        | DataType::Integer(_)
        | DataType::SmallInt(_)
        | DataType::Int2(_) => FieldType::Integer,
        DataType::Bool | DataType::Boolean => FieldType::Boolean,
        other => {
            return Err(format!(
                "type {other} is not supported in tables (use text, timestamp, double \
                 precision, bigint or boolean)"
            ));
        }
    })
}

fn create_table(create: &CreateTable) -> Result<TableCommand, QueryError> {
    if create.temporary {
        return Err(unsupported("temporary tables are not supported"));
    }
    if create.query.is_some() {
        return Err(unsupported(
            "CREATE TABLE ... AS is not supported: CREATE TABLE, then INSERT INTO ... SELECT",
        ));
    }
    if create.or_replace || create.external {
        return Err(unsupported(
            "only CREATE TABLE [IF NOT EXISTS] name (columns)",
        ));
    }
    let name = table_name(&create.name)?;
    if create.columns.is_empty() {
        return Err(QueryError::command(
            "42601",
            format!("table \"{name}\" needs columns"),
        ));
    }
    let mut columns: Vec<(String, FieldType)> = Vec::new();
    let mut key: Option<Vec<String>> = None;
    let mut set_key = |names: Vec<String>| {
        if key.replace(names).is_some() {
            return Err(QueryError::command(
                "42P16",
                format!("multiple primary keys for table \"{name}\" are not allowed"),
            ));
        }
        Ok(())
    };
    for column in &create.columns {
        let column_name = folded(&column.name);
        if column_name == TIME_COLUMN {
            return Err(QueryError::command(
                "42939",
                format!(
                    "column name \"{TIME_COLUMN}\" is reserved in tables created with CREATE \
                     TABLE (Hearth keeps its own hidden time column)"
                ),
            ));
        }
        if columns.iter().any(|(n, _)| *n == column_name) {
            return Err(QueryError::command(
                "42701",
                format!("column \"{column_name}\" specified more than once"),
            ));
        }
        let data_type = field_type(&column.data_type)
            .map_err(|m| unsupported(format!("column \"{column_name}\": {m}")))?;
        let mut primary = false;
        let mut not_null = false;
        for option in &column.options {
            match &option.option {
                ColumnOption::PrimaryKey(_) => primary = true,
                ColumnOption::NotNull => not_null = true,
                ColumnOption::Null => {}
                other => {
                    return Err(unsupported(format!(
                        "column \"{column_name}\": {other} is not supported"
                    )));
                }
            }
        }
        if primary {
            set_key(vec![column_name.clone()])?;
        } else if not_null {
            // Checked only on key columns; promising it elsewhere would be a lie.
            return Err(unsupported(format!(
                "column \"{column_name}\": NOT NULL is only enforced on primary key columns"
            )));
        }
        columns.push((column_name, data_type));
    }
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                let mut names = Vec::new();
                for c in &pk.columns {
                    let Expr::Identifier(id) = &c.column.expr else {
                        return Err(unsupported(format!(
                            "primary key on an expression ({}) is not supported",
                            c.column.expr
                        )));
                    };
                    let n = folded(id);
                    if !columns.iter().any(|(c, _)| *c == n) {
                        return Err(QueryError::command(
                            "42703",
                            format!("column \"{n}\" named in key does not exist"),
                        ));
                    }
                    if names.contains(&n) {
                        return Err(QueryError::command(
                            "42701",
                            format!("column \"{n}\" appears twice in primary key constraint"),
                        ));
                    }
                    names.push(n);
                }
                set_key(names)?;
            }
            other => return Err(unsupported(format!("constraint {other} is not supported"))),
        }
    }
    let key = key.unwrap_or_default();
    let kinds: Vec<(String, ColumnKind)> = columns
        .into_iter()
        .map(|(n, t)| {
            let kind = if key.contains(&n) {
                ColumnKind::Key(t)
            } else {
                ColumnKind::Field(t)
            };
            (n, kind)
        })
        .collect();
    let schema = TableSchema::sql_table(&kinds).ok_or_else(|| {
        QueryError::command("42601", format!("invalid columns for table \"{name}\""))
    })?;
    Ok(TableCommand::Create {
        name,
        if_not_exists: create.if_not_exists,
        schema,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(sql: &str) -> (String, bool, TableSchema) {
        match parse(sql).unwrap().unwrap() {
            TableCommand::Create {
                name,
                if_not_exists,
                schema,
            } => (name, if_not_exists, schema),
            other => panic!("{other:?}"),
        }
    }

    fn code(sql: &str) -> &'static str {
        match parse(sql).unwrap() {
            Err(QueryError::Command { code, .. }) => code,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn creates_with_a_table_primary_key() {
        let (name, ine, schema) = create(
            "CREATE TABLE IF NOT EXISTS Invoices (household text, period_start timestamp, \
             period_end timestamptz, kwh_peak double precision, n bigint, ok boolean, \
             PRIMARY KEY (household, period_start))",
        );
        assert_eq!((name.as_str(), ine), ("invoices", true));
        let kinds: Vec<(&str, ColumnKind)> = schema
            .visible_columns()
            .map(|c| (c.name.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("household", ColumnKind::Key(FieldType::String)),
                ("period_start", ColumnKind::Key(FieldType::Timestamp)),
                ("period_end", ColumnKind::Field(FieldType::Timestamp)),
                ("kwh_peak", ColumnKind::Field(FieldType::Float)),
                ("n", ColumnKind::Field(FieldType::Integer)),
                ("ok", ColumnKind::Field(FieldType::Boolean)),
            ]
        );
        assert!(schema.has_primary_key());
    }

    #[test]
    fn creates_with_a_column_primary_key_or_none() {
        let (_, _, schema) =
            create("create table public.households (household text primary key, name varchar)");
        assert_eq!(schema.tag_indices(), [0]);
        let (_, ine, schema) = create("CREATE TABLE tariffs (zone text, \"Fee\" real)");
        assert!(!ine && schema.is_sql_table() && !schema.has_primary_key());
        assert_eq!(
            schema.kind("Fee"),
            Some(ColumnKind::Field(FieldType::Float))
        );
    }

    #[test]
    fn drops() {
        assert_eq!(
            parse("DROP TABLE IF EXISTS a, public.B").unwrap().unwrap(),
            TableCommand::Drop {
                names: vec!["a".into(), "b".into()],
                if_exists: true
            }
        );
        assert_eq!(code("DROP TABLE a CASCADE"), "0A000");
    }

    #[test]
    fn refuses_what_it_cannot_keep() {
        for (sql, expected) in [
            ("CREATE TABLE t (a numeric(10,2))", "0A000"),
            ("CREATE TABLE t (a text NOT NULL)", "0A000"),
            ("CREATE TABLE t (a text DEFAULT 'x')", "0A000"),
            ("CREATE TABLE t (a text UNIQUE)", "0A000"),
            ("CREATE TEMP TABLE t (a text)", "0A000"),
            ("CREATE TABLE t AS SELECT 1", "0A000"),
            ("CREATE TABLE t (time timestamp)", "42939"),
            ("CREATE TABLE t (a text, a text)", "42701"),
            (
                "CREATE TABLE t (a text PRIMARY KEY, PRIMARY KEY (a))",
                "42P16",
            ),
            ("CREATE TABLE t (a text, PRIMARY KEY (b))", "42703"),
            ("CREATE TABLE other.t (a text)", "3F000"),
            ("CREATE TABLE t (a text", "42601"),
        ] {
            assert_eq!(code(sql), expected, "{sql}");
        }
        assert!(parse("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/x'").is_none());
        assert!(parse("CREATE DATABASE x").is_none());
        assert!(parse("SELECT 1").is_none());
    }
}
