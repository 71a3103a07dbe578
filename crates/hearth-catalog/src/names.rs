//! Which database and table names Hearth accepts.
//!
//! Names become directory names in the object store (on local disks and S3, read by Spark and
//! other Delta readers) and identifiers in SQL, so they are limited to what is safe in all of
//! them: no path separators, no `..`, no control characters, none of the characters object
//! stores and URLs treat specially (`# ? % * : " < > | [ ] { } ^ ~` and backquote), no leading `_`
//! or `.` (reserved for `_delta_log` and hidden files), at most 255 bytes. Letters of any
//! script and spaces are fine.

use crate::error::CatalogError;

fn check(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.len() > 255 {
        return Err("longer than 255 bytes");
    }
    if name.starts_with('_') || name.starts_with('.') {
        return Err("must not start with '_' or '.'");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err("must not contain '/', '\\' or control characters");
    }
    if name.contains('=') {
        return Err("must not contain '='");
    }
    if name.chars().any(|c| "#?%*:\"<>|[]{}^~`".contains(c)) {
        return Err("must not contain any of # ? % * : \" < > | [ ] { } ^ ~ `");
    }
    Ok(())
}

/// Checks a database name.
pub fn check_database(name: &str) -> Result<(), CatalogError> {
    check(name).map_err(|reason| CatalogError::InvalidDatabaseName {
        name: name.to_string(),
        reason,
    })?;
    if matches!(name, "system" | "information_schema" | "pg_catalog") {
        return Err(CatalogError::InvalidDatabaseName {
            name: name.to_string(),
            reason: "reserved name",
        });
    }
    Ok(())
}

/// Checks a table name.
pub fn check_table(name: &str) -> Result<(), CatalogError> {
    check(name).map_err(|reason| CatalogError::InvalidTableName {
        name: name.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tricks_are_refused() {
        for bad in [
            "",
            "..",
            "a/b",
            "_delta_log",
            ".hidden",
            "a\nb",
            "date=x",
            "cpu#1",
            "a?b",
            "%2e%2e",
            "a:b",
            "x*",
            "t~1",
        ] {
            assert!(check_table(bad).is_err(), "{bad:?}");
        }
        assert!(check_database("system").is_err());
        for good in ["home", "energy", "device_status", "Küche", "a.b", "a-b c"] {
            assert!(check_table(good).is_ok(), "{good:?}");
        }
    }
}
