//! SQL names as PostgreSQL reads them: unquoted identifiers folded to lower case, quoted ones
//! kept as written.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName};

/// An identifier as PostgreSQL stores it: unquoted ones folded to lower case.
pub fn folded(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// The last part of `name` (`t` of `public.t`), folded; `None` if it is not an identifier.
pub fn last_folded(name: &ObjectName) -> Option<String> {
    name.0.last().and_then(|part| part.as_ident()).map(folded)
}
