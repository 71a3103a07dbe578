//! Rewrites of PostgreSQL constructs DataFusion does not run, on the parsed statement, before
//! it is planned. Each keeps PostgreSQL's meaning:
//!
//! - `x LIKE p ESCAPE 'c'` with an escape character other than backslash (SQLAlchemy writes
//!   `ESCAPE '/'`): the pattern is rewritten to use backslash, DataFusion's only one.
//! - A scalar subquery that returns a plain column (`(SELECT c.relkind = 'c' FROM pg_class c
//!   WHERE c.oid = t.typrelid)`, as pgjdbc and psql send): DataFusion only decorrelates
//!   aggregated scalar subqueries, so the value becomes `first_value(...)` of it. PostgreSQL
//!   would fail if such a subquery returned more than one row; Hearth returns the first.
//! - A scalar subquery over catalog tables that are always empty in Hearth (`pg_attrdef`,
//!   `pg_index`, `pg_constraint`, ...; SQLAlchemy reads column defaults this way): NULL, which
//!   is what it returns (DataFusion cannot decorrelate some of these).
//! - `generate_subscripts(a, 1)` (SQLAlchemy) as `unnest` of the positions, and
//!   `information_schema._pg_expandarray` (pgjdbc, on `pg_index`, which is empty) as its row
//!   type.
//! - `(composite).field` as `get_field(composite, 'field')`, and `CAST($1 AS regclass)` as
//!   `to_regclass($1)` (a parameter the parser cannot look up).
//! - `'name'::regproc` (pgjdbc: `typinput = 'pg_catalog.array_in'::regproc`, which
//!   datafusion-pg-catalog's parser turns into a lookup of the function's oid): the function
//!   name as text, which is how `pg_catalog.pg_type` holds it; likewise a join of
//!   `pg_proc.oid` with one of `pg_type`'s function columns (Npgsql: `proc.oid =
//!   typ.typreceive`) joins on `pg_proc.proname`.
//! - `x::regtype::text` (pgcli) as `format_type(x, NULL)`: the type's name.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, BinaryOperator, DataType, Expr, Function, FunctionArguments,
    GroupByExpr, SelectItem, SetExpr, Statement, TableFactor, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Aggregate functions a scalar subquery may already use (then it needs no rewrite).
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "first_value",
    "last_value",
    "json_agg",
    "jsonb_agg",
];

/// Catalog tables that never have rows in Hearth (no column defaults, inheritance, policies,
/// triggers, sequences, extended statistics, publications, indexes or constraints).
const EMPTY_CATALOG_TABLES: &[&str] = &[
    "pg_attrdef",
    "pg_inherits",
    "pg_policy",
    "pg_trigger",
    "pg_sequence",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_index",
    "pg_constraint",
];

/// Whether `t` names one of [`EMPTY_CATALOG_TABLES`] (with or without `pg_catalog.`).
fn is_empty_catalog_table(t: &TableFactor) -> bool {
    let TableFactor::Table { name, .. } = t else {
        return false;
    };
    let name = name.to_string().to_ascii_lowercase();
    let name = name.trim_start_matches("pg_catalog.");
    EMPTY_CATALOG_TABLES.contains(&name)
}

/// `ARRAY(subquery)` (psql): the subquery's single column aggregated with `array_agg`.
/// Over `unnest` of one of the catalog's array columns that are always NULL in Hearth
/// (`reloptions`, ACLs), it is NULL (psql applies `array_to_string`, which gives NULL for the
/// empty array PostgreSQL would build too; DataFusion cannot unnest an outer column in `FROM`).
fn array_of(query: &datafusion::sql::sqlparser::ast::Query) -> Option<Expr> {
    if let SetExpr::Select(select) = query.body.as_ref()
        && let [table] = select.from.as_slice()
    {
        let from = table.relation.to_string().to_ascii_lowercase();
        if table.joins.is_empty()
            && from.contains("unnest(")
            && (from.contains("reloptions") || from.contains("acl"))
        {
            return expr("NULL");
        }
    }
    // The single column becomes `array_agg` of it (ordered as the subquery was).
    let mut query = query.clone();
    let order = query.order_by.take().map(|o| o.to_string());
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(g, _) if g.is_empty());
    if select.projection.len() != 1 || grouped || select.distinct.is_some() {
        return None;
    }
    let item = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(e) => e,
        SelectItem::ExprWithAlias { expr, .. } => expr,
        _ => return None,
    };
    let aggregated = match &order {
        Some(order) => format!("array_agg({item} {order})"),
        None => format!("array_agg({item})"),
    };
    *item = expr(&aggregated)?;
    expr(&format!("({query})"))
}

/// `pg_type`'s columns naming a function (`regproc` in PostgreSQL, names in Hearth).
const REGPROC_COLUMNS: &[&str] = &[
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
];

/// `q.proname` when `oid` is `q.oid` and `function` is one of `pg_type`'s function columns.
fn regproc_join(oid: &Expr, function: &Expr) -> Option<Expr> {
    let Expr::CompoundIdentifier(parts) = oid else {
        return None;
    };
    let [qualifier @ .., column] = parts.as_slice() else {
        return None;
    };
    if qualifier.is_empty() || !column.value.eq_ignore_ascii_case("oid") {
        return None;
    }
    let last = match function {
        Expr::CompoundIdentifier(p) => p.last()?,
        Expr::Identifier(i) => i,
        _ => return None,
    };
    if !REGPROC_COLUMNS.contains(&last.value.to_ascii_lowercase().as_str()) {
        return None;
    }
    let mut parts = qualifier.to_vec();
    parts.push(datafusion::sql::sqlparser::ast::Ident::new("proname"));
    Some(Expr::CompoundIdentifier(parts))
}

/// An expression from SQL text (the rewrites build theirs as text).
fn expr(text: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .ok()?
        .parse_expr()
        .ok()
}

/// Whether `data_type` is `regtype` (or `pg_catalog.regtype`).
fn is_regtype(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Custom(name, _)
        if name.to_string().to_ascii_lowercase().trim_start_matches("pg_catalog.") == "regtype")
}

/// Whether `element` is the element type of `regtype[]`.
fn regtype_array(element: &ArrayElemTypeDef) -> bool {
    match element {
        ArrayElemTypeDef::SquareBracket(t, _) | ArrayElemTypeDef::AngleBracket(t) => is_regtype(t),
        _ => false,
    }
}

/// Applies every rewrite to `statement`.
pub(super) fn rewrite(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |e| {
        rewrite_expr(e);
        ControlFlow::<()>::Continue(())
    });
}

fn rewrite_expr(e: &mut Expr) {
    match e {
        Expr::Like {
            pattern,
            escape_char: escape @ Some(_),
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char: escape @ Some(_),
            ..
        } => {
            let Some(c) = escape.as_ref().and_then(|v| match &v.value {
                Value::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            }) else {
                return;
            };
            if c == "\\" {
                *escape = None;
                return;
            }
            if c.chars().count() != 1 || c == "'" {
                return;
            }
            // A doubled escape character is a literal one; a backslash must be matched as
            // itself; the escape character becomes a backslash.
            let text = format!(
                "replace(replace(replace(replace({pattern}, '{c}{c}', chr(1)), '\\', '\\\\'), '{c}', '\\'), chr(1), '{c}')"
            );
            if let Some(new) = expr(&text) {
                **pattern = new;
                *escape = None;
            }
        }
        Expr::Subquery(query) => {
            // datafusion-pg-catalog's parser turns `'f'::regproc` into this subquery, which
            // compares an oid with `pg_type`'s function names; the name it looks up is what
            // those columns hold.
            let text = query.to_string();
            if let Some(name) = text
                .strip_prefix("SELECT oid FROM pg_catalog.pg_proc WHERE proname = '")
                .and_then(|rest| rest.strip_suffix('\''))
                && !name.contains('\'')
            {
                let function = name.rsplit('.').next().unwrap_or(name);
                if let Some(new) = expr(&format!("'{function}'")) {
                    *e = new;
                }
                return;
            }
            if query.order_by.is_some() {
                return;
            }
            let SetExpr::Select(select) = query.body.as_mut() else {
                return;
            };
            let over_empty = !select.from.is_empty()
                && select.from.iter().all(|t| {
                    std::iter::once(&t.relation)
                        .chain(t.joins.iter().map(|j| &j.relation))
                        .all(is_empty_catalog_table)
                });
            let grouped =
                !matches!(&select.group_by, GroupByExpr::Expressions(g, _) if g.is_empty());
            if select.projection.len() != 1
                || grouped
                || select.having.is_some()
                || select.distinct.is_some()
            {
                return;
            }
            let item = match &mut select.projection[0] {
                SelectItem::UnnamedExpr(e) => e,
                SelectItem::ExprWithAlias { expr, .. } => expr,
                _ => return,
            };
            if let Expr::Function(Function { name, .. }) = item
                && AGGREGATES.contains(
                    &name
                        .to_string()
                        .to_ascii_lowercase()
                        .trim_start_matches("pg_catalog."),
                )
            {
                return;
            }
            if matches!(item, Expr::Value(_)) {
                return;
            }
            if over_empty {
                // No rows: the value is NULL, whatever the subquery's conditions.
                if let Some(new) = expr("NULL") {
                    *e = new;
                }
                return;
            }
            if let Some(new) = expr(&format!("first_value({item})")) {
                *item = new;
            }
        }
        Expr::Function(Function { name, args, .. }) => {
            let function = name.to_string().to_ascii_lowercase();
            let function = function
                .trim_start_matches("pg_catalog.")
                .trim_start_matches("information_schema.");
            if let FunctionArguments::Subquery(query) = args
                && function == "array"
            {
                if let Some(new) = array_of(query) {
                    *e = new;
                }
                return;
            }
            let FunctionArguments::List(list) = args else {
                return;
            };
            let arg = |i: usize| list.args.get(i).map(|a| a.to_string());
            match function {
                // PostgreSQL's set-returning `generate_subscripts(a, 1)`: the positions of a's
                // elements (SQLAlchemy lists index columns with it).
                "generate_subscripts" => {
                    if let (Some(array), Some(dimension)) = (arg(0), arg(1))
                        && let Some(new) = expr(&format!(
                            "unnest(generate_series(1, array_length({array}, {dimension})))"
                        ))
                    {
                        *e = new;
                    }
                }
                // pgjdbc expands `pg_index.indkey` with `information_schema._pg_expandarray`;
                // Hearth has no indexes (`pg_index` is empty), so the row type is all it needs.
                "_pg_expandarray" => {
                    if let Some(new) = expr(
                        "named_struct('x', CAST(NULL AS smallint), 'n', CAST(NULL AS integer))",
                    ) {
                        *e = new;
                    }
                }
                _ => {}
            }
        }
        // `(composite).field`, which DataFusion's planner does not take for a computed value.
        Expr::CompoundFieldAccess { root, access_chain } => {
            let mut text = root.to_string();
            for access in access_chain.iter() {
                let AccessExpr::Dot(Expr::Identifier(field)) = access else {
                    return;
                };
                text = format!("get_field({text}, '{}')", field.value.to_ascii_lowercase());
            }
            if let Some(new) = expr(&text) {
                *e = new;
            }
        }
        // `proargtypes::regtype[]` (pgcli): the types' names.
        Expr::Cast {
            expr: oids,
            data_type: DataType::Array(element),
            ..
        } if regtype_array(element) => {
            if let Some(new) = expr(&format!("hearth_regtypes({oids})")) {
                *e = new;
            }
        }
        // `atttypid::regtype::text` (pgcli, psql): the type's name, as `format_type` gives it.
        Expr::Cast {
            expr: inner,
            data_type: DataType::Text | DataType::Varchar(_),
            ..
        } => {
            if let Expr::Cast {
                expr: oid,
                data_type,
                ..
            } = inner.as_ref()
                && is_regtype(data_type)
                && let Some(new) = expr(&format!("format_type({oid}, NULL)"))
            {
                *e = new;
            }
        }
        // `proc.oid = typ.typreceive` (Npgsql's type loading): `pg_type`'s function columns
        // hold the function's name, so the join is on `proname`.
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            if let Some(new) = regproc_join(left, right) {
                **left = new;
            } else if let Some(new) = regproc_join(right, left) {
                **right = new;
            }
        }
        // `CAST($1 AS regclass)` (SQLAlchemy passes a catalog's name as a parameter): the oid
        // the name has, from `to_regclass`.
        Expr::Cast {
            expr: inner,
            data_type: DataType::Custom(name, _),
            ..
        } if matches!(inner.as_ref(), Expr::Value(v) if matches!(v.value, Value::Placeholder(_)))
            && name
                .to_string()
                .to_ascii_lowercase()
                .trim_start_matches("pg_catalog.")
                == "regclass" =>
        {
            if let Some(new) = expr(&format!("to_regclass(CAST({inner} AS TEXT))")) {
                *e = new;
            }
        }
        Expr::Cast {
            expr: inner,
            data_type: DataType::Custom(name, _),
            ..
        } => {
            let type_name = name.to_string().to_ascii_lowercase();
            let type_name = type_name.trim_start_matches("pg_catalog.");
            if !matches!(type_name, "regproc" | "regprocedure") {
                return;
            }
            if let Expr::Value(v) = inner.as_ref()
                && let Value::SingleQuotedString(s) = &v.value
            {
                let function = s.rsplit('.').next().unwrap_or(s).to_string();
                if let Some(new) = expr(&format!("'{}'", function.replace('\'', "''"))) {
                    *e = new;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;

    fn rewritten(sql: &str) -> String {
        let mut statements = PostgresCompatibilityParser::new().parse(sql).unwrap();
        rewrite(&mut statements[0]);
        statements[0].to_string()
    }

    #[test]
    fn like_with_another_escape_character() {
        let out = rewritten("SELECT 1 WHERE x NOT LIKE 'pg/_' || '%' ESCAPE '/'");
        assert!(!out.contains("ESCAPE"), "{out}");
        assert!(out.contains("replace(replace(replace(replace('pg/_' || '%', '//', chr(1)), '\\', '\\\\'), '/', '\\'), chr(1), '/')"), "{out}");
    }

    #[test]
    fn function_columns_of_pg_type_join_pg_proc_by_name() {
        let out = rewritten(
            "SELECT 1 FROM pg_type typ JOIN pg_proc proc ON proc.oid = typ.typreceive WHERE a.typsend = pg_proc.oid",
        );
        assert!(out.contains("ON proc.proname = typ.typreceive"), "{out}");
        assert!(out.contains("a.typsend = pg_proc.proname"), "{out}");
        let kept = rewritten("SELECT 1 FROM pg_class c JOIN pg_type t ON t.oid = c.reltype");
        assert!(kept.contains("t.oid = c.reltype"), "{kept}");
    }

    #[test]
    fn regtype_as_text_is_the_type_name() {
        let out = rewritten("SELECT att.atttypid::regtype::text FROM pg_attribute att");
        assert!(out.contains("format_type(att.atttypid, NULL)"), "{out}");
    }

    #[test]
    fn plain_scalar_subqueries_take_their_first_value() {
        // (In a projection, datafusion-pg-catalog's parser already replaced a correlated one
        // by NULL; elsewhere it is left to this rewrite.)
        let out = rewritten(
            "SELECT 1 FROM pg_class c WHERE (SELECT n.nspname FROM pg_namespace n WHERE n.oid = c.relnamespace) = 'public'",
        );
        assert!(out.contains("(SELECT first_value(n.nspname) FROM"), "{out}");
        let kept = "SELECT 1 FROM pg_class WHERE (SELECT count(*) FROM pg_type) > 0";
        assert_eq!(
            rewritten(kept),
            "SELECT 1 FROM pg_catalog.pg_class WHERE (SELECT count(*) FROM pg_catalog.pg_type) > 0"
        );
    }

    #[test]
    fn regproc_literals_are_names() {
        let out = rewritten("SELECT typinput = 'pg_catalog.array_in'::regproc FROM pg_type");
        assert_eq!(out, "SELECT typinput = 'array_in' FROM pg_catalog.pg_type");
    }
}
