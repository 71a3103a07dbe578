//! [`Storage`]: the facade the server uses to write, and the query layer to read.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::record_batch::RecordBatch;
use hearth_catalog::catalog::{Catalog, Database};
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

/// Longest a write waits for the persister before it is taken anyway (the memory limit still
/// applies).
const MAX_BACKLOG_WAIT: Duration = Duration::from_secs(5);

/// How often, and how long in all, writes waited for the persister (see
/// [`Storage::backlog_bound`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct BacklogStats {
    pub waits: u64,
    pub wait_seconds: f64,
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
        Ok(Arc::new(Storage {
            catalog,
            store,
            wal,
            buffer,
            idempotency,
            config,
            persist_lock: tokio::sync::Mutex::new(()),
            maintenance: tokio::sync::Mutex::new(()),
            last: Arc::new(LastCache::default()),
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

    /// How many unpersisted bytes (live buffer and snapshots being persisted) make writes wait
    /// for the persister: the configured backlog, by default half the memory limit (at least
    /// four flushes' worth), at most three quarters of it. A load that outruns the persister
    /// then slows to its pace before writes would be refused for memory; a smaller backlog
    /// keeps a long load in less memory, reusing it, at some cost to the load's own rate (see
    /// BENCHMARKS.md).
    pub fn backlog_bound(&self) -> usize {
        let limit = self.config.memory_limit / 4 * 3;
        let wanted = self.config.write_backlog.unwrap_or_else(|| {
            (self.config.memory_limit / 2).max(self.config.flush.max_bytes.saturating_mul(4))
        });
        wanted.min(limit).max(1)
    }

    /// How often and how long writes waited for the persister.
    pub fn backlog_stats(&self) -> BacklogStats {
        use std::sync::atomic::Ordering::Relaxed;
        BacklogStats {
            waits: self.backlog_waits.load(Relaxed),
            wait_seconds: self.backlog_wait_micros.load(Relaxed) as f64 / 1e6,
        }
    }

    /// Waits while the unpersisted backlog is at or over [`Storage::backlog_bound`] (at most
    /// [`MAX_BACKLOG_WAIT`], and only while the flusher runs and its flushes succeed); wakes the
    /// flusher once the live buffer holds a flush's worth.
    async fn wait_for_backlog(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let bound = self.backlog_bound();
        let mut started: Option<Instant> = None;
        loop {
            let persisted = self.persisted.notified();
            let stats = self.buffer.stats();
            if stats.bytes >= self.config.flush.max_bytes {
                self.flush_wanted.notify_one();
            }
            let waited = started.map_or(Duration::ZERO, |t| t.elapsed());
            if stats.bytes + stats.persisting_bytes < bound
                || !self.persister_ready.load(Relaxed)
                || waited >= MAX_BACKLOG_WAIT
            {
                break;
            }
            started.get_or_insert_with(Instant::now);
            let _ = tokio::time::timeout(MAX_BACKLOG_WAIT - waited, persisted).await;
        }
        if let Some(t) = started {
            self.backlog_waits.fetch_add(1, Relaxed);
            let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.backlog_wait_micros.fetch_add(micros, Relaxed);
        }
    }

    /// Refuses a write while unflushed data is over the memory limit.
    fn check_memory(&self) -> Result<(), StorageError> {
        let stats = self.buffer.stats();
        let buffered = stats.bytes + stats.persisting_bytes;
        if buffered >= self.config.memory_limit {
            return Err(StorageError::MemoryLimit {
                buffered,
                limit: self.config.memory_limit,
            });
        }
        Ok(())
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
        self.wait_for_backlog().await;
        self.check_memory()?;
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
        let payload = batch.encode()?;
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

    /// Writes rows given as columns by name (from SQL: `COPY ... FROM STDIN`, `INSERT`) into
    /// the existing table `table` of database `db`, through the WAL like line protocol: the
    /// rows are durable and visible when this returns, and merge by identity (tags, time) with
    /// the table's other rows. Each column must be one of the table's; its values are cast to
    /// the column's type; `time` is required and must not be NULL. Columns not given are NULL
    /// (a field not written keeps its value if the identity exists).
    ///
    /// Into a SQL table (`CREATE TABLE`) the columns are the declared ones; primary key columns
    /// must not be NULL; a row replaces the row of equal key whole, and without a primary key
    /// every row is a new one (the hidden `time` is set here, see [`TableSchema`]).
    pub async fn write_rows(
        &self,
        db: &str,
        table: &str,
        columns: Vec<(String, ArrayRef)>,
    ) -> Result<usize, StorageError> {
        use datafusion::arrow::datatypes::{Field, Schema};
        self.wait_for_backlog().await;
        self.check_memory()?;
        let Some(schema) = self
            .catalog
            .database(db)
            .and_then(|d| d.table(table))
            .map(|t| t.schema())
        else {
            return Err(StorageError::Rows {
                code: "42P01",
                message: format!("relation \"{table}\" does not exist"),
            });
        };
        let sql_table = schema.is_sql_table();
        let rows = columns.first().map_or(0, |(_, values)| values.len());
        let mut identity = Vec::new();
        let mut fields = Vec::new();
        let mut time = None;
        for (name, values) in columns {
            let Some(column) = schema.visible_columns().find(|c| c.name == name) else {
                return Err(StorageError::Rows {
                    code: "42703",
                    message: format!("column \"{name}\" of relation \"{table}\" does not exist"),
                });
            };
            let wanted = column.kind.arrow_type();
            let values = datafusion::arrow::compute::cast(&values, &wanted).map_err(|e| {
                StorageError::Rows {
                    code: "22P02",
                    message: format!("column \"{name}\": {e}"),
                }
            })?;
            let not_null = |values: &ArrayRef| {
                if values.null_count() == 0 {
                    Ok(())
                } else {
                    Err(StorageError::Rows {
                        code: "23502",
                        message: format!(
                            "null value in column \"{name}\" of relation \"{table}\" violates not-null constraint"
                        ),
                    })
                }
            };
            match column.kind {
                ColumnKind::Time => {
                    not_null(&values)?;
                    time = Some(values);
                }
                ColumnKind::Tag => identity.push((
                    Field::new(&name, wanted, true).with_metadata(std::collections::HashMap::from(
                        [(KIND_KEY.to_string(), KIND_TAG.to_string())],
                    )),
                    values,
                )),
                ColumnKind::Key(_) => {
                    not_null(&values)?;
                    identity.push((Field::new(&name, wanted, true), values));
                }
                ColumnKind::Field(_) => fields.push((Field::new(&name, wanted, true), values)),
            }
        }
        if sql_table {
            if let Some(key) = schema.visible_columns().find(|c| {
                matches!(c.kind, ColumnKind::Key(_))
                    && !identity.iter().any(|(f, _)| f.name() == &c.name)
            }) {
                return Err(StorageError::Rows {
                    code: "23502",
                    message: format!(
                        "null value in column \"{}\" of relation \"{table}\" violates not-null constraint",
                        key.name
                    ),
                });
            }
            time = Some(self.hidden_times(&schema, rows));
        }
        let Some(time) = time else {
            return Err(StorageError::Rows {
                code: "23502",
                message: format!(
                    "null value in column \"{TIME_COLUMN}\" of relation \"{table}\" violates not-null constraint"
                ),
            });
        };
        if rows == 0 {
            return Ok(0);
        }
        let (mut schema_fields, mut arrays): (Vec<Field>, Vec<ArrayRef>) =
            identity.into_iter().chain(fields).unzip();
        schema_fields.push(Field::new(TIME_COLUMN, time.data_type().clone(), false));
        arrays.push(time);
        let batch = RecordBatch::try_new(Arc::new(Schema::new(schema_fields)), arrays)?;
        let write = WriteBatch {
            db: db.to_string(),
            tables: vec![(table.to_string(), batch)],
            idempotency: None,
        };
        self.append(write, true, || {}).await?;
        Ok(rows)
    }

    /// The hidden `time` of `rows` new rows of a SQL table: the epoch for all of them with a
    /// primary key (the key alone is the identity); otherwise distinct row numbers (see
    /// [`Storage::row_numbers`]).
    fn hidden_times(&self, schema: &TableSchema, rows: usize) -> ArrayRef {
        use datafusion::arrow::array::TimestampMicrosecondArray;
        let values: Vec<i64> = if schema.has_primary_key() {
            vec![0; rows]
        } else {
            let first = self.row_numbers(rows);
            (0..rows as i64).map(|i| first + i).collect()
        };
        Arc::new(
            TimestampMicrosecondArray::from(values)
                .with_timezone(hearth_catalog::schema::TIME_ZONE),
        )
    }

    /// Reserves `n` consecutive row numbers and returns the first: the current time in
    /// microseconds (so a row's hidden `time` is when it was inserted, and its file lands in
    /// that day's partition), or just above the last one given if that is later.
    fn row_numbers(&self, n: usize) -> i64 {
        let mut last = self.row_clock.lock();
        let first = now_micros().max(*last + 1);
        *last = first + n as i64 - 1;
        first
    }

    /// Creates SQL table `name` in database `db` with `schema`
    /// ([`TableSchema::sql_table`]): in the catalog and, at once, as a Delta table in the
    /// object store, so it exists for every node from now on, rows or not. Returns `false` if
    /// a table or view of that name exists (and then changes nothing).
    pub async fn create_table(
        &self,
        db: &str,
        name: &str,
        schema: TableSchema,
    ) -> Result<bool, StorageError> {
        let Some(database) = self.catalog.database(db) else {
            return Err(StorageError::Rows {
                code: "3D000",
                message: format!("database \"{db}\" does not exist"),
            });
        };
        let Some(table) = database.create_table(name, schema)? else {
            return Ok(false);
        };
        match self.store.create_table_log(&table).await {
            Ok(version) => {
                table.update(|s| s.delta_version = Some(version));
                Ok(true)
            }
            Err(e) => {
                database.remove_table(name);
                Err(e.into())
            }
        }
    }

    /// Drops table `name` of database `db`: its rows, its files and its Delta table. What was
    /// written before is persisted first, so no WAL record brings it back. Refused (`2BP01`)
    /// while a continuous view reads it. Returns `false` if there is no such table.
    pub async fn drop_table(&self, db: &str, name: &str) -> Result<bool, StorageError> {
        if self
            .catalog
            .database(db)
            .and_then(|d| d.table(name))
            .is_none()
        {
            return Ok(false);
        }
        if let Some(observer) = self.observer() {
            observer
                .before_drop(db, name)
                .map_err(|message| StorageError::Rows {
                    code: "2BP01",
                    message,
                })?;
        }
        let _maintenance = self.maintenance.lock().await;
        self.flush(FlushReason::Age).await?;
        let _persist = self.persist_lock.lock().await;
        let Some(database) = self.catalog.database(db) else {
            return Ok(false);
        };
        if database.remove_table(name).is_none() {
            return Ok(false);
        }
        // Rows written since the flush above: the table is gone, and so are they; a replay of
        // the WAL skips their records (the settings file keeps the position of the drop, and
        // says the database exists once its last table is gone).
        self.buffer.drop_table(db, name);
        self.last.invalidate(db, name);
        database.note_dropped(name, self.wal.last_seq());
        self.store.save_database_settings(&database).await?;
        self.store.drop_table_dir(db, name).await?;
        info!(db, table = name, "table dropped");
        Ok(true)
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
        let done = compact_all(&self.store, &tables, &self.config.compaction).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> WriteOptions {
        WriteOptions {
            precision: Precision::Second,
            accept_partial: false,
            no_sync: false,
        }
    }

    #[tokio::test]
    async fn a_replay_skips_records_of_a_table_dropped_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(StorageConfig::in_dir(dir.path()))
            .await
            .unwrap();
        storage
            .write_lp("home", b"t v=1 1764000000\nu v=1 1764000000", options())
            .await
            .unwrap();
        // As a drop racing with that write leaves it: its record still in the WAL, the drop's
        // position in the database's settings.
        let seq = storage.wal.last_seq();
        let db = storage.catalog().database("home").unwrap();
        db.note_dropped("t", seq);
        storage.store().save_database_settings(&db).await.unwrap();
        storage.wal.close();
        drop(storage);

        let storage = Storage::open(StorageConfig::in_dir(dir.path()))
            .await
            .unwrap();
        let db = storage.catalog().database("home").unwrap();
        assert!(
            db.table("t").is_none(),
            "the dropped table's record was replayed"
        );
        assert!(db.table("u").is_some());
        assert_eq!(db.dropped_through("t"), seq);
        // A table of that name written again is a new table whose records replay.
        let written = storage
            .write_lp("home", b"t v=2 1764000001", options())
            .await
            .unwrap();
        assert!(written.seq.unwrap() > seq);
        storage.wal.close();
        drop(storage);
        let storage = Storage::open(StorageConfig::in_dir(dir.path()))
            .await
            .unwrap();
        let chunks = storage.buffer().table_chunks("home", "t");
        assert_eq!(chunks.iter().map(|(_, b)| b.num_rows()).sum::<usize>(), 1);
    }

    /// `rows` lines of `host` from `start` (seconds), one per second, ten fields each.
    fn lines(host: usize, start: i64, rows: i64) -> String {
        (0..rows)
            .map(|i| {
                format!(
                    "cpu,host=h{host} a={i}i,b={i}i,c={i}i,d={i}i,e={i}i,f=1.5,g=2.5,h=3.5,j=4.5,k=5.5 {}\n",
                    start + i
                )
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_wait_for_the_persister_past_the_backlog_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StorageConfig::in_dir(dir.path());
        config.flush.max_bytes = 64 << 10;
        config.write_backlog = Some(256 << 10);
        let storage = Storage::open(config).await.unwrap();
        assert_eq!(storage.backlog_bound(), 256 << 10);
        let (stop, stopped) = watch::channel(false);
        let flusher = tokio::spawn(storage.clone().run_flusher(stopped));
        // Eight writers of 1 000 rows a request, 12 requests each: far more than the bound.
        let (writers, requests, rows) = (8, 12, 1_000);
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (storage, peak) = (storage.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let mut largest = 0;
                for r in 0..requests {
                    let body = lines(w, 1_764_000_000 + r * rows, rows);
                    let before = storage.buffer().stats().bytes;
                    storage
                        .write_lp("db", body.as_bytes(), options())
                        .await
                        .unwrap();
                    let stats = storage.buffer().stats();
                    largest = largest.max(stats.bytes.saturating_sub(before));
                    peak.fetch_max(
                        stats.bytes + stats.persisting_bytes,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
                largest
            }));
        }
        let mut one_write = 0;
        for t in tasks {
            one_write = one_write.max(t.await.unwrap());
        }
        let waits = storage.backlog_stats();
        assert!(waits.waits > 0 && waits.wait_seconds > 0.0, "{waits:?}");
        // A write is admitted only below the bound; the ones admitted together add theirs.
        let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            peak <= storage.backlog_bound() + writers * one_write,
            "backlog reached {peak} bytes, bound {} + {writers} writes of {one_write}",
            storage.backlog_bound()
        );
        stop.send(true).unwrap();
        flusher.await.unwrap();
        let db = storage.catalog().database("db").unwrap();
        let persisted: u64 = db
            .table("cpu")
            .unwrap()
            .state()
            .files
            .iter()
            .map(|f| f.rows)
            .sum();
        assert_eq!(
            persisted,
            (writers * requests as usize * rows as usize) as u64
        );

        // Without a flusher to wait for, nothing waits, however large the backlog.
        let dir = tempfile::tempdir().unwrap();
        let mut config = StorageConfig::in_dir(dir.path());
        config.write_backlog = Some(1);
        let storage = Storage::open(config).await.unwrap();
        for r in 0..3 {
            let body = lines(0, 1_764_000_000 + r * 10, 10);
            storage
                .write_lp("db", body.as_bytes(), options())
                .await
                .unwrap();
        }
        assert_eq!(storage.backlog_stats().waits, 0);
    }
}
