//! `INSERT ... ON CONFLICT`, PostgreSQL's upsert, into a SQL table with a primary key.
//!
//! Every `INSERT` into such a table already replaces the row of an existing key whole, so
//! `ON CONFLICT (key columns) DO UPDATE SET c = EXCLUDED.c` for every column outside the key
//! (what ORMs send for an upsert) asks for exactly what Hearth does: the clause is dropped and
//! the `INSERT` runs as it is. Anything that would keep part of the old row (`DO NOTHING`, a
//! `SET` of some columns or of other values, a `WHERE`) is refused rather than done otherwise.

use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, ConflictTarget, Expr, OnConflictAction, OnInsert, Statement, TableObject,
};
use hearth_catalog::schema::ColumnKind;
use hearth_storage::Storage;

use crate::error::QueryError;
use crate::idents::{folded, last_folded};

/// `statement` without its `ON CONFLICT` clause if it is an upsert into a keyed SQL table of
/// database `db` that replaces whole rows (`Ok(Some)`); `Ok(None)` for any statement without
/// the clause; an error (`0A000`, or `42P10` for a conflict target that is not the key) for an
/// upsert Hearth would not do as asked.
pub fn without_upsert(
    storage: &Storage,
    db: &str,
    statement: &Statement,
) -> Result<Option<Statement>, QueryError> {
    let Statement::Insert(insert) = statement else {
        return Ok(None);
    };
    let Some(on) = &insert.on else {
        return Ok(None);
    };
    let OnInsert::OnConflict(conflict) = on else {
        return Err(QueryError::command(
            "42601",
            "ON DUPLICATE KEY UPDATE is MySQL's; use ON CONFLICT",
        ));
    };
    let table = match &insert.table {
        TableObject::TableName(name) => last_folded(name),
        _ => None,
    }
    .unwrap_or_default();
    let schema = storage
        .catalog()
        .database(db)
        .and_then(|d| d.table(&table))
        .map(|t| t.schema())
        .ok_or_else(|| {
            QueryError::command("42P01", format!("relation \"{table}\" does not exist"))
        })?;
    if !schema.has_primary_key() {
        return Err(QueryError::command(
            "42P10",
            format!(
                "there is no unique or exclusion constraint matching the ON CONFLICT \
                 specification (\"{table}\" has no primary key)"
            ),
        ));
    }
    let mut key: Vec<String> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    for c in schema.visible_columns() {
        match c.kind {
            ColumnKind::Key(_) => key.push(c.name.clone()),
            _ => rest.push(c.name.clone()),
        }
    }
    let update = match &conflict.action {
        OnConflictAction::DoUpdate(update) => update,
        OnConflictAction::DoNothing => {
            return Err(QueryError::command(
                "0A000",
                format!(
                    "ON CONFLICT DO NOTHING is not supported: a row with an existing key of \
                     \"{table}\" replaces it (use DO UPDATE SET every column = EXCLUDED.column, \
                     or a plain INSERT)"
                ),
            ));
        }
    };
    match &conflict.conflict_target {
        Some(ConflictTarget::Columns(columns)) => {
            let mut named: Vec<String> = columns.iter().map(folded).collect();
            named.sort();
            let mut want = key.clone();
            want.sort();
            if named != want {
                return Err(QueryError::command(
                    "42P10",
                    format!(
                        "there is no unique or exclusion constraint matching the ON CONFLICT \
                         specification (the key of \"{table}\" is ({}))",
                        key.join(", ")
                    ),
                ));
            }
        }
        Some(ConflictTarget::OnConstraint(name)) => {
            if last_folded(name).as_deref() != Some(format!("{table}_pkey").as_str()) {
                return Err(QueryError::command(
                    "42704",
                    format!("constraint \"{name}\" for table \"{table}\" does not exist"),
                ));
            }
        }
        None => {
            return Err(QueryError::command(
                "42601",
                "ON CONFLICT DO UPDATE requires inference specification or constraint name",
            ));
        }
    }
    let whole_row = || {
        format!(
            "ON CONFLICT DO UPDATE into \"{table}\" must set every column outside the key to \
             EXCLUDED's value ({}): Hearth replaces whole rows",
            rest.iter()
                .map(|c| format!("{c} = EXCLUDED.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if update.selection.is_some() {
        return Err(QueryError::command("0A000", whole_row()));
    }
    let mut set: Vec<String> = Vec::new();
    for a in &update.assignments {
        let AssignmentTarget::ColumnName(target) = &a.target else {
            return Err(QueryError::command("0A000", whole_row()));
        };
        let target = last_folded(target).unwrap_or_default();
        let from_excluded = match &a.value {
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                parts[0].value.eq_ignore_ascii_case("excluded") && folded(&parts[1]) == target
            }
            _ => false,
        };
        if !from_excluded || !rest.contains(&target) || set.contains(&target) {
            return Err(QueryError::command("0A000", whole_row()));
        }
        set.push(target);
    }
    if set.len() != rest.len() {
        return Err(QueryError::command("0A000", whole_row()));
    }
    let mut plain = insert.clone();
    plain.on = None;
    Ok(Some(Statement::Insert(plain)))
}
