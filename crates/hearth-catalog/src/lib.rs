//! Hearth's catalog: databases, tables and their schemas, and the Delta Lake tables that hold
//! them in the object store.
//!
//! - [`schema`]: column kinds and types of a table, and their Arrow form.
//! - [`catalog`]: the in-memory index of databases, tables, schemas and persisted files.
//! - [`delta`]: creating, committing to and reading Delta tables (delta-rs).
//! - [`store`]: the object store root, file uploads, and loading the catalog at start.
//!
//! The Delta logs are the source of truth for persisted data; the in-memory catalog is rebuilt
//! from them at every start.

pub mod catalog;
pub mod delta;
mod error;
pub mod names;
pub mod schema;
pub mod stats;
pub mod store;
pub mod timefmt;

pub use error::CatalogError;
