//! Result column names as PostgreSQL gives them.
//!
//! DataFusion names an unaliased select item after its whole expression (`count(*)`,
//! `Int64(1)`); PostgreSQL names it after the column or function it is (`count`), the type it
//! is cast to (`int4`), a keyword (`case`), or else `?column?` (its `FigureColname`). Clients
//! read these names (`row["count"]`, DataFrame columns, the headers psql prints), so the names
//! in `RowDescription` are PostgreSQL's. Only the top-level statement's names are changed, at
//! the wire: the plan keeps DataFusion's (which must be unique within a projection, while
//! PostgreSQL's need not be).

use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, DataType, ExactNumberInfo, Expr, Function, Ident, Query,
    SelectItem, SetExpr, Statement, TableFactor, TimezoneInfo,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_postgres::pgwire::api::results::FieldInfo;
use hearth_query::idents::{folded, last_folded as last};

/// The message of DataFusion's refusal of two result columns of one name (`SELECT 1, 1::int`
/// names both `Int64(1)`), which PostgreSQL allows.
pub(super) const NOT_UNIQUE: &str = "Projections require unique expression names";

/// `statement` with every unnamed select item of its `SELECT`s given a name of its own, so that
/// DataFusion accepts what it refused with [`NOT_UNIQUE`]; the client still sees PostgreSQL's
/// names (see [`renamed`]). `None` when nothing was unnamed.
pub(super) fn uniquely_named(statement: &Statement) -> Option<Statement> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let mut query = query.clone();
    let mut changed = false;
    let mut stack = vec![query.body.as_mut()];
    while let Some(body) = stack.pop() {
        match body {
            SetExpr::Select(select) => {
                for (i, item) in select.projection.iter_mut().enumerate() {
                    if let SelectItem::UnnamedExpr(expr) = item {
                        *item = SelectItem::ExprWithAlias {
                            expr: expr.clone(),
                            alias: Ident::with_quote('"', format!("__column_{}", i + 1)),
                        };
                        changed = true;
                    }
                }
            }
            SetExpr::Query(inner) => stack.push(inner.body.as_mut()),
            SetExpr::SetOperation { left, right, .. } => {
                stack.push(left.as_mut());
                stack.push(right.as_mut());
            }
            _ => {}
        }
    }
    changed.then_some(Statement::Query(query))
}

/// The prefix datafusion-pg-catalog's rewrite gives a column that `*` also returns
/// (`SELECT n.oid, n.*`), since DataFusion refuses two columns of one name.
const DUPLICATE_ALIAS: &str = "__alias_";

/// What a select item contributes to the result's names.
#[derive(Debug, PartialEq)]
enum Item {
    /// Columns whose names stay as the plan has them (`*`, `t.*`): any number of them.
    Wildcard,
    /// One column named as the plan names it (an alias).
    Kept,
    /// One column, named so.
    Named(String),
}

/// `fields` (the plan's result columns of the statement `sql`) with PostgreSQL's names. The
/// names come from the text as the client wrote it, before datafusion-pg-catalog's rewrites
/// (which turn `'t'::regclass` into a subquery, for one).
pub(super) fn renamed(fields: Vec<FieldInfo>, sql: &str) -> Vec<FieldInfo> {
    let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .ok()
        .filter(|s| s.len() == 1)
        .and_then(|mut s| s.pop());
    let names = statement.and_then(|s| names(&s, fields.len()));
    fields
        .into_iter()
        .enumerate()
        .map(|(i, field)| {
            let name = match names.as_ref().and_then(|n| n[i].as_deref()) {
                Some(name) => name.to_string(),
                None => match field.name().strip_prefix(DUPLICATE_ALIAS) {
                    Some(original) => original.to_string(),
                    None => return field,
                },
            };
            FieldInfo::new(
                name,
                field.table_id(),
                field.column_id(),
                field.datatype().clone(),
                field.format(),
            )
            .with_format_options(field.format_options().clone())
            .with_type_size(field.type_size())
            .with_type_modifier(field.type_modifier())
        })
        .collect()
}

/// The new name of each of the `count` result columns of `statement` (`None`: as planned), or
/// `None` when the select items cannot be matched to the columns.
fn names(statement: &Statement, count: usize) -> Option<Vec<Option<String>>> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let items = items(query)?;
    let wildcards = items.iter().filter(|i| **i == Item::Wildcard).count();
    let fixed = items.len() - wildcards;
    let expanded = match wildcards {
        0 if fixed == count => 0,
        1 if fixed <= count => count - fixed,
        _ => return None,
    };
    let mut out = Vec::with_capacity(count);
    for item in items {
        match item {
            Item::Wildcard => out.extend(std::iter::repeat_n(None, expanded)),
            Item::Kept => out.push(None),
            Item::Named(name) => out.push(Some(name)),
        }
    }
    Some(out)
}

/// The select items of `query`'s leftmost `SELECT`, which names a set operation's columns.
fn items(query: &Query) -> Option<Vec<Item>> {
    let mut body = query.body.as_ref();
    loop {
        match body {
            SetExpr::Select(select) => {
                if let [SelectItem::Wildcard(_)] = select.projection.as_slice()
                    && let [from] = select.from.as_slice()
                    && from.joins.is_empty()
                    && let Some(name) = function_name(&from.relation)
                {
                    // `SELECT * FROM unnest(...)`: one column, named after the function.
                    return Some(vec![Item::Named(name)]);
                }
                return Some(select.projection.iter().map(item).collect());
            }
            SetExpr::Query(inner) => body = inner.body.as_ref(),
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            _ => return None,
        }
    }
}

/// The name of the column of a table function without an alias (`unnest(...)`,
/// `generate_series(1, 3)`), which PostgreSQL names after the function.
fn function_name(relation: &TableFactor) -> Option<String> {
    match relation {
        TableFactor::UNNEST {
            alias: None,
            array_exprs,
            with_offset: false,
            with_ordinality: false,
            ..
        } if array_exprs.len() == 1 => Some("unnest".into()),
        TableFactor::Table {
            name,
            alias: None,
            args: Some(_),
            ..
        } => last(name),
        _ => None,
    }
}

fn item(item: &SelectItem) -> Item {
    match item {
        SelectItem::UnnamedExpr(e) => {
            Item::Named(figure(e).0.unwrap_or_else(|| "?column?".to_string()))
        }
        SelectItem::ExprWithAlias { .. } | SelectItem::ExprWithAliases { .. } => Item::Kept,
        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => Item::Wildcard,
    }
}

/// PostgreSQL's name for a column computed by `e`, with its strength: 2 for a name the
/// expression has (a column, a function), 1 for a fallback (the type of a cast, `case`), 0 for
/// none (`?column?`). A cast keeps its operand's name only if that is strong.
fn figure(e: &Expr) -> (Option<String>, u8) {
    let strong = |name: &str| (Some(name.to_string()), 2);
    let weak = |name: &str| (Some(name.to_string()), 1);
    match e {
        Expr::Identifier(ident) => (Some(folded(ident)), 2),
        Expr::CompoundIdentifier(idents) => (idents.last().map(folded), 2),
        Expr::CompoundFieldAccess { root, access_chain } => match access_chain.last() {
            Some(AccessExpr::Dot(field)) => figure(field),
            _ => figure(root),
        },
        Expr::Function(Function { name, .. }) => (last(name), 2),
        Expr::Cast {
            expr, data_type, ..
        } => match figure(expr) {
            strong @ (_, 2) => strong,
            _ => (Some(type_name(data_type)), 1),
        },
        Expr::TypedString(typed) => (Some(type_name(&typed.data_type)), 1),
        Expr::Interval(_) => weak("interval"),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => figure(inner),
        Expr::Case { .. } => weak("case"),
        Expr::Array(_) => weak("array"),
        Expr::Tuple(_) => weak("row"),
        Expr::Exists { .. } => strong("exists"),
        Expr::Subquery(query) => match items(query).as_deref() {
            Some([Item::Named(name), ..]) if name != "?column?" => strong(name),
            _ => (None, 0),
        },
        Expr::Extract { .. } => strong("extract"),
        Expr::Ceil { .. } => strong("ceil"),
        Expr::Floor { .. } => strong("floor"),
        Expr::Position { .. } => strong("position"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Trim { .. } => strong("btrim"),
        Expr::Overlay { .. } => strong("overlay"),
        Expr::AtTimeZone { .. } => strong("timezone"),
        _ => (None, 0),
    }
}

/// The name PostgreSQL calls `data_type` by internally (`integer` is `int4`), which it gives a
/// column that is a cast of a constant.
fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::SmallInt(_) | DataType::Int2(_) => "int2".into(),
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int4".into(),
        DataType::BigInt(_) | DataType::Int8(_) => "int8".into(),
        DataType::Real | DataType::Float4 => "float4".into(),
        DataType::Float(ExactNumberInfo::Precision(p)) if *p <= 24 => "float4".into(),
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 | DataType::Float(_) => {
            "float8".into()
        }
        DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => "numeric".into(),
        DataType::Bool | DataType::Boolean => "bool".into(),
        DataType::Varchar(_) | DataType::CharacterVarying(_) | DataType::CharVarying(_) => {
            "varchar".into()
        }
        DataType::Char(_) | DataType::Character(_) => "bpchar".into(),
        DataType::Timestamp(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => {
            "timestamptz".into()
        }
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Time(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => "timetz".into(),
        DataType::Time(..) => "time".into(),
        DataType::Interval { .. } => "interval".into(),
        DataType::JSON => "json".into(),
        DataType::JSONB => "jsonb".into(),
        DataType::Regclass => "regclass".into(),
        DataType::Array(element) => match element {
            ArrayElemTypeDef::AngleBracket(t)
            | ArrayElemTypeDef::SquareBracket(t, _)
            | ArrayElemTypeDef::Parenthesis(t) => type_name(t),
            ArrayElemTypeDef::None => "anyarray".into(),
        },
        DataType::Custom(name, _) => last(name).unwrap_or_else(|| "?column?".into()),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::{names, uniquely_named};

    fn named(sql: &str, count: usize) -> Option<Vec<Option<String>>> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        names(&statement, count)
    }

    fn all(sql: &str, count: usize) -> Vec<String> {
        named(sql, count)
            .unwrap()
            .into_iter()
            .map(|n| n.unwrap_or_else(|| "<planned>".into()))
            .collect()
    }

    #[test]
    fn select_items_are_named_as_postgres_names_them() {
        assert_eq!(
            all(
                "SELECT 1, count(*), COUNT(x), t.Host, \"Mixed\", max(v) AS top, 1::integer, \
                 v::text, '1 day'::interval, CAST(2.5 AS double precision), a + b, \
                 CASE WHEN a THEN 1 END, pg_catalog.format_type(t, NULL), \
                 (SELECT max(v) FROM t), EXISTS (SELECT 1), (v), now(), x IS NULL, \
                 date_bin(INTERVAL '1 hour', time), TIMESTAMP '2025-01-01', arr[1], \
                 time AT TIME ZONE 'UTC', '{1}'::int[], 'a'::regclass, 1::varchar(3)",
                25
            ),
            [
                "?column?",
                "count",
                "count",
                "host",
                "Mixed",
                "<planned>",
                "int4",
                "v",
                "interval",
                "float8",
                "?column?",
                "case",
                "format_type",
                "max",
                "exists",
                "v",
                "now",
                "?column?",
                "date_bin",
                "timestamp",
                "arr",
                "timezone",
                "int4",
                "regclass",
                "varchar"
            ]
        );
    }

    #[test]
    fn wildcards_keep_the_planned_names_around_named_items() {
        assert_eq!(
            all("SELECT count(*), *, 1 FROM t", 4),
            ["count", "<planned>", "<planned>", "?column?"]
        );
        assert_eq!(all("SELECT * FROM t", 3), ["<planned>"; 3]);
        // Two wildcards: which columns come from which is not known here.
        assert_eq!(named("SELECT a.*, b.* FROM a, b", 4), None);
        // A set operation is named by its first SELECT.
        assert_eq!(
            all("SELECT 1 UNION ALL SELECT count(*) FROM t", 1),
            ["?column?"]
        );
        assert_eq!(named("VALUES (1)", 1), None);
        assert_eq!(
            all("SELECT * FROM unnest(current_schemas(true))", 1),
            ["unnest"]
        );
        assert_eq!(
            all("SELECT * FROM generate_series(1, 3)", 1),
            ["generate_series"]
        );
        assert_eq!(
            all("SELECT * FROM generate_series(1, 3) g", 1),
            ["<planned>"]
        );
        assert_eq!(named("SELECT 1, 2", 3), None);
    }

    #[test]
    fn unnamed_items_get_names_of_their_own_when_datafusion_needs_them() {
        let statement = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT 1, 1::int AS one, 1 FROM t UNION SELECT 2, 3, 4",
        )
        .unwrap()
        .remove(0);
        assert_eq!(
            uniquely_named(&statement).unwrap().to_string(),
            "SELECT 1 AS \"__column_1\", 1::INT AS one, 1 AS \"__column_3\" FROM t \
             UNION SELECT 2 AS \"__column_1\", 3 AS \"__column_2\", 4 AS \"__column_3\""
        );
        let named = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT 1 AS a")
            .unwrap()
            .remove(0);
        assert_eq!(uniquely_named(&named), None);
    }
}
