//! Watching what the write path changes: [`WriteObserver`], through which a layer above (the
//! continuous views) learns of every row before it becomes visible, and of every file commit
//! and delete before it happens.

use std::future::Future;
use std::pin::Pin;

use datafusion::arrow::record_batch::RecordBatch;

/// A boxed future of an observer.
pub type ObserverFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Held by the storage while a delete runs: the observer's guard against reading the rows
/// half-deleted (dropped when the delete is done, whether it succeeded or not).
pub type DeleteGuard = Box<dyn Send + Sync>;

/// A boxed future of [`WriteObserver::before_delete`].
pub type DeleteFuture<'a> = Pin<Box<dyn Future<Output = Result<DeleteGuard, String>> + Send + 'a>>;

/// Told of every change to the tables' rows, at points that let it keep derived data exact and
/// durable:
///
/// - [`WriteObserver::around_write`] runs for each durable write, on the WAL's thread in
///   sequence order, and must call `apply` (which makes the rows visible to queries) exactly
///   once: the observer can note the write before any query sees it, under its own lock.
/// - [`WriteObserver::before_persist`] runs before buffered rows of a table are committed to its
///   files, after which they may leave the WAL: what the observer derived from them must be
///   durable by then, since a restart replays only the WAL.
/// - [`WriteObserver::before_delete`] runs before rows with the given identities are deleted
///   from a table's files; the guard it returns is held until the delete is done, so the
///   observer can keep its own reads of the table from running meanwhile (a read before the
///   delete is applied must not pass for one after it).
///
/// An error from the two `before_` calls stops the commit (the flush is retried later, the
/// `DELETE` fails), so nothing is lost.
pub trait WriteObserver: Send + Sync {
    /// A durable write of `tables` (name, rows) to database `db`.
    fn around_write(&self, db: &str, tables: &[(String, RecordBatch)], apply: &mut dyn FnMut());

    /// Buffered rows of `db.table` are about to be committed to its files.
    fn before_persist<'a>(&'a self, db: &'a str, table: &'a str) -> ObserverFuture<'a>;

    /// Rows of `db.table` with these identities (batches of its tag and time columns) are about
    /// to be deleted; the guard is dropped when the delete is done.
    fn before_delete<'a>(
        &'a self,
        db: &'a str,
        table: &'a str,
        identities: &'a [RecordBatch],
    ) -> DeleteFuture<'a>;

    /// Table `db.table` is about to be dropped: an error (why not) refuses the drop.
    fn before_drop(&self, _db: &str, _table: &str) -> Result<(), String> {
        Ok(())
    }
}
