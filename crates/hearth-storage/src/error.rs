//! Errors of the storage layer, each with the offending values.

use thiserror::Error;

/// What can go wrong writing, buffering or persisting.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The catalog refused a name or failed to read or commit.
    #[error(transparent)]
    Catalog(#[from] hearth_catalog::CatalogError),
    /// The write-ahead log failed; the write was not acknowledged.
    #[error("write-ahead log: {0}")]
    Wal(#[from] hearth_wal::WalError),
    /// An Arrow error while building or aligning batches.
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// A Parquet error while writing a file.
    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// An object store error while uploading a file.
    #[error("object store: {0}")]
    ObjectStore(Box<object_store::Error>),
    /// A request Hearth refuses (bad parameter).
    #[error("{0}")]
    Invalid(String),
    /// A WAL payload that cannot be decoded.
    #[error("{0}")]
    Payload(String),
    /// What is derived from the rows (a continuous view) could not be kept up to date; the
    /// flush or delete did not happen.
    #[error("{0}")]
    Observer(String),
    /// Rows from SQL that cannot be written as given; `code` is the SQLSTATE (`42P01` no such
    /// table, `42703` no such column, `22P02` a value of the wrong type, `23502` no time).
    #[error("{message}")]
    Rows {
        /// SQLSTATE.
        code: &'static str,
        /// What is wrong, naming the table or column.
        message: String,
    },
    /// Buffered data is over the memory limit; the client should retry later.
    #[error("buffered data is over the memory limit ({buffered} of {limit} bytes); retry later")]
    MemoryLimit {
        /// Bytes buffered now.
        buffered: usize,
        /// The configured limit.
        limit: usize,
    },
}

impl From<object_store::Error> for StorageError {
    fn from(e: object_store::Error) -> Self {
        StorageError::ObjectStore(Box::new(e))
    }
}
