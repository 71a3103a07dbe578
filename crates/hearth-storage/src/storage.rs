//! [`Storage`]: the facade the server uses to write, and the query layer to read.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::record_batch::RecordBatch;
use hearth_catalog::catalog::{Catalog, Database, Table};
use hearth_catalog::names;
use hearth_catalog::schema::{ColumnKind, TIME_COLUMN, TableSchema};
use hearth_catalog::store::{Store, StoreOptions};
use hearth_lineproto::{LineError, Precision};
use hearth_wal::{Wal, WalConfig};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::batch::{KIND_KEY, KIND_TAG, is_tag};
use crate::buffer::{Buffer, Snapshot};
use crate::codec::WriteBatch;
use crate::compact::{Compacted, CompactionPolicy, compact_all, expire_table};
use crate::error::StorageError;
use crate::flush::{FlushPolicy, FlushReason};
use crate::idempotency::{Applied, Claim, Idempotency, MAX_KEY_LEN, now_ms};
use crate::last::LastCache;
use crate::observe::WriteObserver;
use crate::persist::persist_table;
use crate::validate::validate;

mod backlog;
mod sql_tables;
#[cfg(test)]
mod tests;

pub use backlog::BacklogStats;

/// How storage is set up.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Local directory for the WAL.
    pub wal_dir: PathBuf,
    /// Object store URL for Delta tables (`file:///...`, `s3://bucket/prefix`).
    pub object_store: String,
    /// Settings of the object store beyond its URL.
    pub store_options: StoreOptions,
    /// When to flush.
    pub flush: FlushPolicy,
    /// Bound for buffered, unflushed bytes; writes past it are refused with
    /// [`StorageError::MemoryLimit`].
    pub memory_limit: usize,
    /// Unpersisted bytes at which writes wait for the persister (see
    /// [`Storage::backlog_bound`]); `None` for half the memory limit.
    pub write_backlog: Option<usize>,
    /// How long an idempotency key is remembered.
    pub idempotency_window: Duration,
    /// When and how much to compact.
    pub compaction: CompactionPolicy,
    /// How long rows are kept (by their time) in every database; `None` keeps them forever.
    pub retention: Option<Duration>,
    /// The local file remembering which tables' latest-row caches are on, so they can be built
    /// again after a restart ([`LastCache::remembering`]); `None` to not remember.
    pub latest_row_caches: Option<PathBuf>,
}

impl StorageConfig {
    /// Everything under the local directory `dir` (the WAL in `wal/`, the Delta tables in
    /// `objects/`) with the default policies and a 1 GiB buffer limit: an embedded or test
    /// setup.
    pub fn in_dir(dir: &std::path::Path) -> StorageConfig {
        StorageConfig {
            wal_dir: dir.join("wal"),
            object_store: format!("file://{}", dir.join("objects").display()),
            store_options: Default::default(),
            flush: Default::default(),
            memory_limit: 1 << 30,
            write_backlog: None,
            idempotency_window: Duration::from_secs(3600),
            compaction: Default::default(),
            retention: None,
            latest_row_caches: Some(dir.join("latest-row-caches.json")),
        }
    }
}

/// Per-request write options.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    /// Line timestamps' unit.
    pub precision: Precision,
    /// Write the good lines even if some are bad.
    pub accept_partial: bool,
    /// Acknowledge without waiting for fsync.
    pub no_sync: bool,
}

/// What a write did.
#[derive(Debug, Clone, Default)]
pub struct WriteOutcome {
    /// Rows written (0 if nothing was written).
    pub rows: usize,
    /// One error per bad line.
    pub errors: Vec<LineError>,
    /// WAL sequence number of the write, if one was written.
    pub seq: Option<u64>,
    /// True if the request repeated an idempotency key already applied: nothing was written
    /// again, and `rows` / `errors` are the first attempt's.
    pub repeat: bool,
}

/// Hearth's storage: catalog, WAL, buffer and persister.
pub struct Storage {
    catalog: Arc<Catalog>,
    store: Arc<Store>,
    wal: Wal,
    buffer: Arc<Buffer>,
    idempotency: Arc<Idempotency>,
    config: StorageConfig,
    persist_lock: tokio::sync::Mutex<()>,
    /// Serialises the rewrites of files (compaction, retention, deletes).
    maintenance: tokio::sync::Mutex<()>,
    /// Which day partitions have stopped changing, pass by pass of the compactor.
    settling: parking_lot::Mutex<crate::compact::Settling>,
    /// The latest row of every series of the tables that asked for it.
    last: Arc<LastCache>,
    /// Told of every write, flush and delete (the continuous views). Weak: the observer
    /// holds the storage.
    observer: Arc<parking_lot::RwLock<Option<Weak<dyn WriteObserver>>>>,
    /// The last row number given to a row of a SQL table without a primary key (its hidden
    /// `time`, see [`Storage::row_numbers`]).
    row_clock: parking_lot::Mutex<i64>,
    /// Told when a snapshot has been persisted (writers waiting for the backlog to shrink).
    persisted: tokio::sync::Notify,
    /// Told when the buffer has grown past the flush size (wakes the flusher at once).
    flush_wanted: tokio::sync::Notify,
    /// The flusher runs and its last flush succeeded: writers wait only for a persister that
    /// is progressing.
    persister_ready: std::sync::atomic::AtomicBool,
    /// Writes that waited for the backlog to shrink, and how long in all.
    backlog_waits: std::sync::atomic::AtomicU64,
    backlog_wait_micros: std::sync::atomic::AtomicU64,
}

fn now_micros() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Server time truncated to the request's precision, as InfluxDB stamps lines without time.
fn default_time(precision: Precision) -> i64 {
    let now = now_micros();
    let unit: i64 = match precision {
        Precision::Second => 1_000_000,
        Precision::Minute => 60_000_000,
        Precision::Hour => 3_600_000_000,
        Precision::Millisecond => 1_000,
        _ => 1,
    };
    now - now.rem_euclid(unit)
}

/// The table schema a WAL batch implies (for replay before the Delta log knows the columns).
fn schema_of_batch(batch: &datafusion::arrow::record_batch::RecordBatch) -> TableSchema {
    let schema = batch.schema();
    let tags: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| is_tag(f))
        .map(|f| f.name().clone())
        .collect();
    TableSchema::from_arrow(&schema, &tags)
}

/// The highest hidden `time` of any row of a SQL table without a primary key, in its files or
/// the buffer: new rows are numbered above it, so they never take an existing row's identity
/// (whatever the clock did across a restart).
fn last_row_number(catalog: &Catalog, buffer: &Buffer) -> i64 {
    let mut last = 0;
    for db in catalog.databases() {
        for table in db.tables() {
            let state = table.state();
            if !state.schema.is_sql_table() || state.schema.has_primary_key() {
                continue;
            }
            last = state.files.iter().map(|f| f.max_time).fold(last, i64::max);
            for (_, batch) in buffer.table_chunks(db.name(), table.name()) {
                if let Ok(Some((_, max))) = crate::persist::time_range(&batch) {
                    last = last.max(max);
                }
            }
        }
    }
    last
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("store", &self.store)
            .field("wal_dir", &self.config.wal_dir)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Loads the catalog from the object store, opens the WAL and replays it.
    ///
    /// The flush size is capped at half the memory limit, so the buffer is flushed well before
    /// writes are refused for it.
    pub async fn open(mut config: StorageConfig) -> Result<Arc<Storage>, StorageError> {
        config.flush.max_bytes = config.flush.max_bytes.min(config.memory_limit / 2).max(1);
        let store = Arc::new(Store::new(&config.object_store, &config.store_options)?);
        let catalog = Arc::new(Catalog::new());
        store.load(&catalog).await?;
        let max_persisted = catalog
            .databases()
            .iter()
            .flat_map(|db| db.tables())
            .map(|t| t.state().persisted_seq)
            .chain(
                catalog
                    .databases()
                    .iter()
                    .flat_map(|db| db.dropped().into_values()),
            )
            .max()
            .unwrap_or(0);
        // A WAL that lost its files (fresh node) must still number new writes above everything
        // persisted (and every table drop), or they would rank below older rows and be skipped
        // by a later replay.
        let mut wal_config = WalConfig::new(&config.wal_dir);
        wal_config.min_last_seq = max_persisted;
        let (wal, records) = Wal::open(wal_config)?;
        let buffer = Arc::new(Buffer::new());
        let idempotency = Arc::new(Idempotency::load(
            &config.wal_dir,
            config.idempotency_window,
        ));
        let mut replayed_rows = 0usize;
        let record_count = records.len();
        for record in records {
            let write = WriteBatch::decode(&record.payload)?;
            if let Some((key, at_ms)) = &write.idempotency {
                idempotency.note_replayed(&write.db, key, *at_ms);
            }
            let db = catalog.database_or_create(&write.db)?;
            let mut keep = Vec::new();
            for (name, batch) in &write.tables {
                if record.seq <= db.dropped_through(name) {
                    continue; // rows of a table dropped since
                }
                let table = db.table_or_create(name)?;
                let fresh = table.update(|s| {
                    s.schema.merge(&schema_of_batch(batch));
                    record.seq > s.persisted_seq
                });
                if fresh {
                    keep.push(name.clone());
                    replayed_rows += batch.num_rows();
                }
            }
            buffer.apply(record.seq, &write, |t| keep.iter().any(|k| k == t));
            buffer.note_seq(record.seq);
        }
        info!(
            records = record_count,
            rows = replayed_rows,
            wal_seq = wal.last_seq(),
            "WAL replayed"
        );
        let row_clock = last_row_number(&catalog, &buffer);
        let last = Arc::new(match &config.latest_row_caches {
            Some(file) => LastCache::remembering(file.clone()),
            None => LastCache::default(),
        });
        Ok(Arc::new(Storage {
            catalog,
            store,
            wal,
            buffer,
            idempotency,
            config,
            persist_lock: tokio::sync::Mutex::new(()),
            maintenance: tokio::sync::Mutex::new(()),
            settling: Default::default(),
            last,
            observer: Default::default(),
            row_clock: parking_lot::Mutex::new(row_clock),
            persisted: tokio::sync::Notify::new(),
            flush_wanted: tokio::sync::Notify::new(),
            persister_ready: Default::default(),
            backlog_waits: Default::default(),
            backlog_wait_micros: Default::default(),
        }))
    }

    /// Sets the observer of writes, flushes and deletes (see [`WriteObserver`]); writes
    /// applied before this are not reported to it. The storage keeps a weak reference: the
    /// caller keeps the observer alive.
    pub fn set_observer(&self, observer: &Arc<dyn WriteObserver>) {
        *self.observer.write() = Some(Arc::downgrade(observer));
    }

    fn observer(&self) -> Option<Arc<dyn WriteObserver>> {
        self.observer.read().as_ref().and_then(Weak::upgrade)
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The object store holding the Delta tables.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The write buffer.
    pub fn buffer(&self) -> &Arc<Buffer> {
        &self.buffer
    }

    /// The latest row of every series, for the tables whose cache is on.
    pub fn last(&self) -> &Arc<LastCache> {
        &self.last
    }

    /// Counters of the WAL writer (appends, write groups, fsyncs).
    pub fn wal_stats(&self) -> hearth_wal::WalStats {
        self.wal.stats()
    }

    /// The configuration.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    fn database_for_write(&self, db: &str) -> Result<Arc<Database>, StorageError> {
        names::check_database(db)?;
        Ok(self.catalog.database_or_create(db)?)
    }

    /// The memory limit of buffered, unflushed writes.
    pub fn memory_limit(&self) -> usize {
        self.config.memory_limit
    }

    /// Writes a line-protocol body to database `db`.
    pub async fn write_lp(
        &self,
        db: &str,
        body: &[u8],
        options: WriteOptions,
    ) -> Result<WriteOutcome, StorageError> {
        self.write_lp_once(db, body, options, None).await
    }

    /// Writes a body at most once per `idempotency_key` (within the retention window): a
    /// repeat of a key already applied answers with the first attempt's outcome and writes
    /// nothing.
    pub async fn write_lp_once(
        &self,
        db: &str,
        body: &[u8],
        options: WriteOptions,
        idempotency_key: Option<&str>,
    ) -> Result<WriteOutcome, StorageError> {
        let claim = match idempotency_key {
            None => None,
            Some(key) => {
                if key.is_empty() || key.len() > MAX_KEY_LEN {
                    return Err(StorageError::Invalid(format!(
                        "idempotency key must be 1 to {MAX_KEY_LEN} bytes long"
                    )));
                }
                names::check_database(db)?;
                match self.idempotency.claim(db, key).await {
                    Claim::Repeat(applied) => {
                        return Ok(WriteOutcome {
                            rows: applied.rows,
                            errors: applied.errors,
                            seq: None,
                            repeat: true,
                        });
                    }
                    Claim::Fresh(guard) => Some((guard, key.to_string())),
                }
            }
        };
        self.admit_write().await?;
        let database = self.database_for_write(db)?;
        let mut validated = validate(
            &database,
            body,
            options.precision,
            default_time(options.precision),
            options.accept_partial,
        )?;
        let mut outcome = WriteOutcome {
            rows: 0,
            errors: validated.errors,
            seq: None,
            repeat: false,
        };
        if validated.batch.rows() == 0 {
            // Nothing written: the key stays free for a corrected retry.
            return Ok(outcome);
        }
        let applied_at = now_ms();
        validated.batch.idempotency = claim.as_ref().map(|(_, key)| (key.clone(), applied_at));
        let rows = validated.batch.rows();
        let answer = Applied {
            rows,
            errors: outcome.errors.clone(),
        };
        // Once the record is durable, the key is marked applied and then the rows join the
        // buffer, both on the WAL's thread: whatever happens to this request from now on (its
        // client gone, its future dropped), the key is applied exactly when the rows are, and
        // any flush that takes the rows also saves the key before the WAL forgets them.
        let guard = claim.map(|(guard, _)| guard);
        let seq = self
            .append(validated.batch, !options.no_sync, move || {
                if let Some(guard) = guard {
                    guard.finish(applied_at, answer);
                }
            })
            .await?;
        outcome.rows = rows;
        outcome.seq = Some(seq);
        Ok(outcome)
    }

    /// Appends `batch` to the WAL; once it is durable (on the WAL's thread, in sequence order),
    /// runs `first`, then applies the rows to the buffer and the latest-row caches.
    async fn append(
        &self,
        batch: WriteBatch,
        sync: bool,
        first: impl FnOnce() + Send + 'static,
    ) -> Result<u64, StorageError> {
        let payload = batch.encode_into(self.wal.payload_buffer())?;
        let buffer = self.buffer.clone();
        let last = self.last.clone();
        let catalog = self.catalog.clone();
        let observer = self.observer.clone();
        let seq = self
            .wal
            .append(
                payload,
                sync,
                Box::new(move |seq| {
                    first();
                    let mut apply = || {
                        buffer.apply(seq, &batch, |_| true);
                        last.observe_write(seq, &batch.db, &batch.tables, |t| {
                            catalog
                                .database(&batch.db)
                                .and_then(|d| d.table(t))
                                .map(|t| t.schema())
                        });
                    };
                    let observer = observer.read().as_ref().and_then(Weak::upgrade);
                    match observer {
                        Some(o) => o.around_write(&batch.db, &batch.tables, &mut apply),
                        None => apply(),
                    }
                }),
            )
            .await?;
        Ok(seq)
    }

    /// Persists what is buffered now: for [`FlushReason::Size`] until less than the flush size
    /// is left, otherwise everything written before the call. Snapshots left by a failed flush
    /// go first. The live buffer is persisted in snapshots of at most twice the flush size
    /// (see [`Buffer::take_snapshot_bounded`]), each committed and cut from the WAL before the
    /// next, so a persister that fell behind catches up in bounded memory. Returns the number of
    /// rows persisted.
    pub async fn flush(&self, reason: FlushReason) -> Result<usize, StorageError> {
        let _guard = self.persist_lock.lock().await;
        let bound = self.config.flush.max_bytes.saturating_mul(2);
        let target = self.buffer.applied_seq();
        let mut pending: std::collections::VecDeque<_> = self.buffer.pending_snapshots().into();
        let mut persisted = 0;
        let mut done_through = 0;
        loop {
            let snap = match pending.pop_front() {
                Some(snap) => snap,
                None => {
                    let stats = self.buffer.stats();
                    let wanted = match reason {
                        FlushReason::Size => stats.bytes >= self.config.flush.max_bytes,
                        FlushReason::Age | FlushReason::Shutdown => stats.rows > 0,
                    };
                    if !wanted || done_through >= target {
                        break;
                    }
                    match self.buffer.take_snapshot_bounded(bound) {
                        Some(snap) => snap,
                        None => break,
                    }
                }
            };
            let rows = self.persist_snapshot(&snap).await?;
            self.buffer.finish_snapshot(&snap);
            self.persisted.notify_waiters();
            persisted += rows;
            done_through = snap.seq;
            // Keys of the writes about to leave the WAL must outlive them.
            self.idempotency
                .save()
                .map_err(|e| StorageError::Payload(format!("cannot save idempotency keys: {e}")))?;
            self.wal.truncate_through(snap.seq)?;
            debug!(?reason, rows, wal_seq = snap.seq, "flushed");
        }
        Ok(persisted)
    }

    async fn persist_snapshot(&self, snap: &Arc<Snapshot>) -> Result<usize, StorageError> {
        let mut rows = 0;
        for ((db, table), chunks) in &snap.tables {
            let database = self.catalog.database_or_create(db)?;
            let table = database.table_or_create(table)?;
            if table.state().persisted_seq >= snap.seq {
                continue; // committed by an earlier attempt
            }
            if let Some(observer) = self.observer() {
                observer
                    .before_persist(db, table.name())
                    .await
                    .map_err(StorageError::Observer)?;
            }
            let files = persist_table(&self.store, &table, chunks, snap.seq).await?;
            rows += files.iter().map(|f| f.rows as usize).sum::<usize>();
        }
        Ok(rows)
    }

    /// Deletes table `table` of database `db`'s rows whose identities are `identities` (batches
    /// with the table's tag and time columns; the caller chose them on the merged view):
    /// everything written so far is flushed first, then every file holding one of them is
    /// rewritten without it, in one Delta commit. Rows written from now on are not touched.
    /// Returns the number of file rows removed.
    pub async fn delete_rows(
        &self,
        db: &str,
        table: &str,
        identities: &[datafusion::arrow::record_batch::RecordBatch],
        predicate: &str,
    ) -> Result<usize, StorageError> {
        let _maintenance = self.maintenance.lock().await;
        self.flush(FlushReason::Age).await?;
        let Some(table) = self.catalog.database(db).and_then(|d| d.table(table)) else {
            return Ok(0);
        };
        let _persist = self.persist_lock.lock().await;
        let _guard = match self.observer() {
            Some(observer) => Some(
                observer
                    .before_delete(db, table.name(), identities)
                    .await
                    .map_err(StorageError::Observer)?,
            ),
            None => None,
        };
        let deleted =
            crate::delete::delete_identities(&self.store, &table, identities, predicate).await;
        // Latest rows may be gone: the next reader rebuilds them.
        self.last.invalidate(db, table.name());
        deleted
    }

    /// How long the rows of database `db` are kept: its own period, else the server default;
    /// `None` keeps them forever.
    pub fn retention(&self, db: &str) -> Option<Duration> {
        self.catalog
            .database(db)
            .and_then(|d| d.retention())
            .or(self.config.retention)
    }

    /// Creates database `name` (empty until written to), with its own retention period if
    /// given. Returns `false` if it already existed (and then changes nothing).
    pub async fn create_database(
        &self,
        name: &str,
        retention: Option<Duration>,
    ) -> Result<bool, StorageError> {
        names::check_database(name)?;
        if self.catalog.database(name).is_some() {
            return Ok(false);
        }
        let db = self.catalog.database_or_create(name)?;
        db.set_retention(retention);
        self.store.save_database_settings(&db).await?;
        Ok(true)
    }

    /// Sets (or with `None` removes) the own retention period of database `name`, which must
    /// exist. Returns `false` if it does not.
    pub async fn set_retention(
        &self,
        name: &str,
        retention: Option<Duration>,
    ) -> Result<bool, StorageError> {
        let Some(db) = self.catalog.database(name) else {
            return Ok(false);
        };
        let before = db.retention();
        db.set_retention(retention);
        if let Err(e) = self.store.save_database_settings(&db).await {
            db.set_retention(before);
            return Err(e.into());
        }
        Ok(true)
    }

    /// The oldest time (microseconds since the epoch) database `db` keeps now, if it has a
    /// retention period: queries never show older rows, and day partitions wholly before it are
    /// dropped by the compactor.
    pub fn retention_cutoff(&self, db: &str) -> Option<i64> {
        let keep = i64::try_from(self.retention(db)?.as_micros()).unwrap_or(i64::MAX);
        Some(now_micros().saturating_sub(keep))
    }

    /// Drops the day partitions past each database's retention period, compacts every table
    /// until nothing is due, then deletes the files replaced more than the grace period ago.
    /// Returns what was compacted.
    pub async fn compact(&self) -> Result<Vec<Compacted>, StorageError> {
        let _maintenance = self.maintenance.lock().await;
        let mut tables = Vec::new();
        for db in self.catalog.databases() {
            let cutoff = self.retention_cutoff(db.name());
            for table in db.tables() {
                if let Some(cutoff) = cutoff {
                    let dropped = expire_table(&self.store, &table, cutoff).await?;
                    if dropped > 0 {
                        info!(
                            db = db.name(),
                            table = table.name(),
                            files = dropped,
                            "dropped day partitions past retention"
                        );
                    }
                }
                tables.push(table);
            }
        }
        let settling = {
            let mut settling = self.settling.lock();
            settling.observe(&tables);
            settling.clone()
        };
        let passes = self.config.compaction.settle_passes;
        let settled = |table: &Table, date: &str| settling.settled(table, date, passes);
        let done = compact_all(&self.store, &tables, &self.config.compaction, &settled).await?;
        // Vacuum also deletes files no commit refers to: never while a flush has uploaded files
        // it has not committed yet.
        let _guard = self.persist_lock.lock().await;
        for table in &tables {
            self.store
                .vacuum_table(table, self.config.compaction.grace)
                .await?;
        }
        Ok(done)
    }

    /// Compacts every `interval` until `shutdown` turns true.
    pub async fn run_compactor(
        self: Arc<Self>,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            match self.compact().await {
                Ok(done) if !done.is_empty() => info!(
                    compactions = done.len(),
                    files_in = done.iter().map(|c| c.files_in).sum::<usize>(),
                    bytes_in = done.iter().map(|c| c.bytes_in).sum::<u64>(),
                    files_out = done.iter().map(|c| c.files_out).sum::<usize>(),
                    bytes_out = done.iter().map(|c| c.bytes_out).sum::<u64>(),
                    "compacted"
                ),
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, "compaction failed; it is retried at the next interval")
                }
            }
        }
    }

    /// Runs the flush policy until `shutdown` turns true, then flushes what is left.
    pub async fn run_flusher(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        use std::sync::atomic::Ordering::Relaxed;
        let tick = Duration::from_millis(250);
        self.persister_ready.store(true, Relaxed);
        let mut backoff = Duration::from_millis(500);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = self.flush_wanted.notified() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            let stats = self.buffer.stats();
            let due = self.config.flush.decide(&stats, Instant::now());
            let pending = !self.buffer.pending_snapshots().is_empty();
            let Some(reason) = due.or(pending.then_some(FlushReason::Age)) else {
                continue;
            };
            let flushed = self.flush(reason).await;
            self.persister_ready.store(flushed.is_ok(), Relaxed);
            // Writers waiting on a failed flush stop waiting (they see it failing).
            self.persisted.notify_waiters();
            match flushed {
                Ok(_) => backoff = Duration::from_millis(500),
                Err(e) => {
                    warn!(error = %e, retry_in = ?backoff, "flush failed; rows stay in the WAL and buffer");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        self.persister_ready.store(false, Relaxed);
        self.persisted.notify_waiters();
        match self.flush(FlushReason::Shutdown).await {
            Ok(rows) => info!(rows, "flushed on shutdown"),
            Err(e) => warn!(error = %e, "flush on shutdown failed; the WAL keeps the rows"),
        }
        self.wal.close();
    }
}
