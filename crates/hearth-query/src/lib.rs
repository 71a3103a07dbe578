//! Hearth's query layer: DataFusion over Delta files and the write buffer.
//!
//! - [`provider`]: the table providers that merge duplicates and read files + buffer together.
//! - [`catalogs`]: databases as DataFusion catalogs, live.
//! - [`engine`]: sessions with a per-database default catalog, and read-only query execution.
//! - [`functions`]: SQL functions Hearth adds or replaces (time buckets, selectors, counters,
//!   gap filling, `version()`).
//! - [`lastpoint`]: latest row per series from the write path's cache.
//! - [`recent`]: newest-first queries (`ORDER BY time DESC LIMIT n`) read the newest data first.
//! - [`scan_predicate`]: each condition once in a Parquet scan's predicate.
//! - [`runs`]: partial aggregation by runs of equal keys (tags and time buckets).
//! - [`queries`]: running and recent queries (`system.queries`) and the statement timeout.
//! - [`script`]: SQL text run as a scheduled job runs it (`now()` fixed, exports).
//! - [`split`]: one message of SQL into its statements.
//! - [`system`], [`information_schema`]: the schemas describing a database.

pub mod catalogs;
pub mod ddl;
pub mod engine;
pub mod error;
pub mod functions;
pub mod idents;
pub mod information_schema;
pub mod lastpoint;
pub mod provider;
pub mod queries;
mod readers;
pub mod recent;
pub mod runs;
pub mod scan_predicate;
pub mod script;
pub mod split;
pub mod system;
pub mod tables;
pub mod upsert;

pub use engine::QueryEngine;
pub use error::QueryError;

#[cfg(test)]
mod tests;
