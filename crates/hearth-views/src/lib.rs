//! Continuous materialized views: rollups that cost in proportion to new data and never show a
//! number that differs from their defining query over the source at that moment.
//!
//! ```text
//! write ──► around_write (under the gate, before the rows are visible):
//!             buckets of the rows ─► pending of each view over the table (and, aligned,
//!             of each view over those views)
//!       ──► rows applied (visible)
//! flush of a table ──► before_persist: each view over it saves its pending buckets
//!                      (before the rows can leave the WAL)
//! DELETE ──► before_delete: buckets of the deleted identities pending, saved
//! maintainer (every interval) ──► settled pending buckets, a bounded chunk at a time:
//!             partial states from the source ─► the view's files of those buckets replaced
//!             in one Delta commit ─► pending saved
//! query of a view ──► Final aggregate of (stored states of materialized buckets
//!                                         ∪ partial states of pending buckets from the source)
//! ```
//!
//! [`cron`] holds scheduled SQL's schedule language and the pure rules of what runs when.
//!
//! - [`sql`]: the statements; [`shape`]: a definition planned and checked; [`exec`]: the
//!   physical plans; [`view`]: one view's state, refresh and files; [`table`]: the view as a
//!   table; [`system`]: `system.views`; [`ranges`] and [`bucket`]: sets of time and buckets.
//!
//! Durability: a view's files and saved pending buckets, plus the source's WAL, always cover
//! every change of the source: a change is either in the WAL (replayed at start, its buckets
//! marked pending again) or was committed to the source's files after the view saved its
//! pending buckets, which then included it. A crash anywhere loses nothing; it can only make
//! buckets pending that were already current.

pub mod bucket;
pub mod cron;
pub mod error;
pub mod exec;
pub mod ranges;
pub mod shape;
pub mod sql;
pub mod system;
pub mod table;
pub mod view;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::execution::session_state::SessionState;
use hearth_catalog::names;
use hearth_catalog::schema::TIME_COLUMN;
use hearth_catalog::store::Store;
use hearth_query::catalogs::{PUBLIC, TableSource};
use hearth_query::engine::{CommandResult, EngineExtension};
use hearth_query::{QueryEngine, QueryError};
use hearth_storage::Storage;
use hearth_storage::observe::{DeleteFuture, DeleteGuard, ObserverFuture, WriteObserver};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::error::ViewError;
use crate::ranges::Ranges;
use crate::shape::{Shape, Source, compile};
use crate::sql::ViewStatement;
use crate::view::{DEFINITION_FILE, Definition, View, delta_columns, stored_signature};

/// How the views are maintained.
#[derive(Debug, Clone)]
pub struct ViewsConfig {
    /// How often the maintainer looks for buckets to materialize.
    pub interval: Duration,
    /// A bucket is materialized once it ended this long ago (until then its rows keep
    /// arriving, and queries compute it from the source).
    pub settle: Duration,
    /// About how many source rows one refresh reads (a backfill is done in such chunks).
    pub chunk_rows: u64,
    /// Files of one day past which they are merged into one.
    pub max_files_per_day: usize,
    /// How long replaced files are kept for queries still reading them.
    pub vacuum_grace: Duration,
}

impl Default for ViewsConfig {
    fn default() -> ViewsConfig {
        ViewsConfig {
            interval: Duration::from_secs(1),
            settle: Duration::from_secs(5),
            chunk_rows: 4_000_000,
            max_files_per_day: 8,
            vacuum_grace: Duration::from_secs(300),
        }
    }
}

/// What `system.views` and `/metrics` show of a view besides its counters.
#[derive(Debug, Clone)]
pub struct Report {
    /// `current`, `pending` or `backfilling`.
    pub status: String,
    /// Fraction of the backfill done: while one runs, the share of the source's buckets
    /// materialized; otherwise 1 once the view was materialized, 0 before (WITH NO DATA).
    pub backfill: Option<f64>,
    /// Pending buckets within the source's data.
    pub pending: u128,
}

/// One figure of a view, for a metric family.
type Measure = dyn Fn(&View, &Report) -> f64;

/// All continuous views.
pub struct Views {
    me: Weak<Views>,
    storage: Arc<Storage>,
    engine: OnceLock<Weak<QueryEngine>>,
    views: RwLock<BTreeMap<(String, String), Arc<View>>>,
    /// Held while a write is noted and applied, and while a refresh takes its buckets.
    gate: Mutex<()>,
    /// One `CREATE` / `DROP` at a time.
    ddl: tokio::sync::Mutex<()>,
    /// Read by each refresh, written while a source's rows are deleted: a refresh that read
    /// rows a delete then removes would otherwise clear the buckets the delete made pending.
    deletes: Arc<tokio::sync::RwLock<()>>,
    config: ViewsConfig,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views")
            .field("views", &self.views.read().len())
            .finish_non_exhaustive()
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Views {
    /// The views of `storage` (none until [`Views::start`] loads them).
    pub fn new(storage: Arc<Storage>, config: ViewsConfig) -> Arc<Views> {
        Arc::new_cyclic(|me| Views {
            me: me.clone(),
            storage,
            engine: OnceLock::new(),
            views: RwLock::new(BTreeMap::new()),
            gate: Mutex::new(()),
            ddl: tokio::sync::Mutex::new(()),
            deletes: Arc::default(),
            config,
        })
    }

    /// Adds the view statements, the views as tables and `system.views` to `engine` (before
    /// it is shared).
    pub fn register(self: &Arc<Self>, engine: &mut QueryEngine) {
        engine.add_extension(self.clone());
        engine
            .catalogs()
            .add_table_source(PUBLIC, Arc::new(PublicViews(self.clone())));
        engine.catalogs().add_table_source(
            hearth_query::system::SYSTEM,
            Arc::new(SystemViews(self.clone())),
        );
    }

    /// Loads the views from the object store and starts watching writes. `engine` must have
    /// been [registered](Views::register).
    pub async fn start(self: &Arc<Self>, engine: &Arc<QueryEngine>) -> Result<(), ViewError> {
        let _ = self.engine.set(Arc::downgrade(engine));
        let observer: Arc<dyn WriteObserver> = self.clone();
        self.storage.set_observer(&observer);
        self.load().await
    }

    /// The object store.
    pub fn store(&self) -> &Store {
        self.storage.store()
    }

    fn engine(&self) -> Result<Arc<QueryEngine>, ViewError> {
        self.engine
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| ViewError::internal("the views are not started"))
    }

    /// A session of database `db` on the engine's defaults (views are planned the same way
    /// whatever the session that reads them has set).
    fn session_state(&self, db: &str) -> Result<SessionState, ViewError> {
        Ok(self.engine()?.session(db).state())
    }

    /// `view`'s definition planned now.
    pub async fn shape(&self, view: &View) -> Result<Shape, ViewError> {
        let state = self.session_state(&view.db)?;
        compile(&state, &view.def.query, &view.def.columns).await
    }

    /// View `name` of database `db`.
    pub fn get(&self, db: &str, name: &str) -> Option<Arc<View>> {
        self.views
            .read()
            .get(&(db.to_string(), name.to_string()))
            .cloned()
    }

    /// The views of database `db`, by name.
    pub fn list(&self, db: &str) -> Vec<Arc<View>> {
        self.views
            .read()
            .iter()
            .filter(|((d, _), _)| d == db)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The views of database `db` reading `source` directly.
    fn readers(&self, db: &str, source: &Source) -> Vec<Arc<View>> {
        self.views
            .read()
            .iter()
            .filter(|((d, _), v)| d == db && &v.source == source)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `roots` and every view reading them, directly or through other views.
    fn closure(&self, db: &str, roots: Vec<Arc<View>>) -> Vec<Arc<View>> {
        let mut out: Vec<Arc<View>> = Vec::new();
        let mut todo = roots;
        while let Some(v) = todo.pop() {
            if out.iter().any(|o| o.name == v.name) {
                continue;
            }
            todo.extend(self.readers(db, &Source::View(v.name.clone())));
            out.push(v);
        }
        out
    }

    /// All views, each after the views it reads.
    fn in_order(&self) -> Vec<Arc<View>> {
        let all: Vec<Arc<View>> = self.views.read().values().cloned().collect();
        let mut out: Vec<Arc<View>> = Vec::with_capacity(all.len());
        let mut left = all;
        while !left.is_empty() {
            let before = left.len();
            left.retain(|v| {
                let ready = match &v.source {
                    Source::Table(_) => true,
                    Source::View(s) => out.iter().any(|o| o.db == v.db && &o.name == s),
                };
                if ready {
                    out.push(v.clone());
                }
                !ready
            });
            if left.len() == before {
                out.append(&mut left);
            }
        }
        out
    }

    /// Marks `buckets` of `view` pending, and what they change of the views reading it.
    fn cascade(&self, view: &Arc<View>, buckets: &Ranges) {
        view.invalidate(buckets);
        for reader in self.readers(&view.db, &Source::View(view.name.clone())) {
            let aligned = reader.bucketing.align_all(buckets);
            self.cascade(&reader, &aligned);
        }
    }

    /// Marks the buckets of `times` (a time column of table `table`'s rows) pending in every
    /// view over the table.
    fn invalidate_rows(&self, db: &str, table: &str, times: &[i64], count_late: bool) {
        for view in self.readers(db, &Source::Table(table.to_string())) {
            if count_late {
                view.count_late(times.iter().copied());
            }
            let buckets = view.bucketing.buckets_of(times.iter().copied());
            self.cascade(&view, &buckets);
        }
    }

    /// Saves the pending buckets of `views`.
    async fn save(&self, views: &[Arc<View>]) -> Result<(), ViewError> {
        for v in views {
            v.save_pending(self.store()).await?;
        }
        Ok(())
    }

    /// The time range of the rows `source` may have (`None`: none).
    fn extent(&self, db: &str, source: &Source) -> Option<(i64, i64)> {
        match source {
            Source::Table(t) => {
                let table = self.storage.catalog().database(db)?.table(t)?;
                let mut lo = i64::MAX;
                let mut hi = i64::MIN;
                for f in table.state().files {
                    lo = lo.min(f.min_time);
                    hi = hi.max(f.max_time);
                }
                for (_, batch) in self.storage.buffer().table_chunks(db, t) {
                    if let Ok(Some((l, h))) = hearth_storage::persist::time_range(&batch) {
                        lo = lo.min(l);
                        hi = hi.max(h);
                    }
                }
                (lo <= hi).then_some((lo, hi))
            }
            Source::View(v) => {
                let view = self.get(db, v)?;
                let (lo, hi) = self.extent(db, &view.source)?;
                Some((view.bucketing.start(lo), view.bucketing.start(hi)))
            }
        }
    }

    /// About how many source rows of `view` lie in `[lo, hi)`.
    fn estimate(&self, view: &View, lo: i64, hi: i64) -> u64 {
        let fraction = |min: i64, max: i64| -> f64 {
            if max < lo || min >= hi {
                return 0.0;
            }
            let span = (i128::from(max) - i128::from(min) + 1) as f64;
            let inside =
                (i128::from(max.min(hi.saturating_sub(1))) - i128::from(min.max(lo)) + 1) as f64;
            (inside / span).clamp(0.0, 1.0)
        };
        match &view.source {
            Source::Table(t) => {
                let Some(table) = self
                    .storage
                    .catalog()
                    .database(&view.db)
                    .and_then(|d| d.table(t))
                else {
                    return 0;
                };
                let files: f64 = table
                    .state()
                    .files
                    .iter()
                    .map(|f| f.rows as f64 * fraction(f.min_time, f.max_time))
                    .sum();
                let buffered: usize = self
                    .storage
                    .buffer()
                    .table_chunks(&view.db, t)
                    .iter()
                    .map(|(_, b)| b.num_rows())
                    .sum();
                files as u64 + buffered as u64
            }
            Source::View(v) => {
                let Some(source) = self.get(&view.db, v) else {
                    return 0;
                };
                let snapshot = source.snapshot();
                let stored: f64 = snapshot
                    .files
                    .iter()
                    .map(|f| f.rows as f64 * fraction(f.min_time, f.max_time))
                    .sum();
                // Pending buckets of the source are computed from its own source.
                let pending: u64 = snapshot
                    .pending
                    .clip(lo, hi)
                    .intervals()
                    .iter()
                    .map(|&(l, h)| self.estimate(&source, l, h))
                    .sum();
                stored as u64 + pending
            }
        }
    }

    /// The next pending buckets of `view` within `limit` to refresh: in time order, about
    /// `chunk_rows` source rows' worth, at least one bucket.
    fn next_chunk(&self, view: &View, limit: &Ranges) -> Ranges {
        let snapshot = view.snapshot();
        let mut pending = Ranges::new();
        for &(lo, hi) in limit.intervals() {
            pending.extend(&snapshot.pending.clip(lo, hi));
        }
        let b = view.bucketing;
        let extent = self.extent(&view.db, &view.source);
        let mut chunk = Ranges::new();
        let mut rows = 0u64;
        for &(lo, hi) in pending.intervals() {
            let Some((first, last)) = extent else {
                // No rows anywhere: nothing to compute.
                chunk.insert(lo, hi);
                continue;
            };
            let (first, end) = (b.start(first), b.end(b.start(last)));
            // Before and after the source's rows there is nothing to compute.
            if lo < first {
                chunk.insert(lo, hi.min(first));
            }
            if hi > end {
                chunk.insert(lo.max(end), hi);
            }
            let (lo, hi) = (lo.max(first), hi.min(end));
            if lo >= hi {
                continue;
            }
            let estimate = self.estimate(view, lo, hi);
            if rows + estimate <= self.config.chunk_rows {
                chunk.insert(lo, hi);
                rows += estimate;
                continue;
            }
            let room = self.config.chunk_rows.saturating_sub(rows).max(1) as f64;
            let share = (room / estimate.max(1) as f64).clamp(0.0, 1.0);
            let cut = lo.saturating_add(((hi - lo) as f64 * share) as i64);
            let cut = b.end(b.start(cut.max(lo))).min(hi);
            if rows == 0 || cut > lo {
                chunk.insert(lo, cut.max(b.end(lo).min(hi)));
            }
            break;
        }
        chunk
    }

    /// Refreshes the pending buckets of `view` within `limit`, a chunk at a time, until none
    /// is left or `budget` has passed. Returns the buckets materialized.
    async fn refresh_within(
        &self,
        view: &Arc<View>,
        limit: &Ranges,
        budget: Option<Duration>,
    ) -> Result<usize, ViewError> {
        let started = Instant::now();
        let mut total = 0;
        let extent = self.extent(&view.db, &view.source);
        let mut logged = Instant::now();
        loop {
            let chunk = self.next_chunk(view, limit);
            if chunk.is_empty() {
                break;
            }
            let shape = self.shape(view).await?;
            let state = self.session_state(&view.db)?;
            let no_delete = self.deletes.read().await;
            total += view
                .refresh(&state, &shape, self.store(), &self.gate, &chunk)
                .await?;
            drop(no_delete);
            if let (Some(extent), true) = (extent, logged.elapsed() > Duration::from_secs(10)) {
                if let Some((all, left)) = view.backfill(extent) {
                    info!(
                        db = %view.db,
                        view = %view.name,
                        done = format!("{:.1}%", 100.0 * (all - left) as f64 / all.max(1) as f64),
                        buckets_left = left as u64,
                        "backfilling"
                    );
                }
                logged = Instant::now();
            }
            if budget.is_some_and(|b| started.elapsed() > b) {
                break;
            }
        }
        Ok(total)
    }

    /// Refreshes every pending bucket of `view`, after the views it reads.
    async fn refresh_all(&self, view: &Arc<View>) -> Result<usize, ViewError> {
        if let Source::View(s) = &view.source
            && let Some(source) = self.get(&view.db, s)
        {
            Box::pin(self.refresh_all(&source)).await?;
        }
        let extent = self.extent(&view.db, &view.source);
        if let Some(e) = extent {
            view.begin_backfill(e);
        }
        let done = self.refresh_within(view, &Ranges::all(), None).await;
        view.end_backfill();
        done
    }

    /// The times, in `view`'s buckets, from which its rows are visible and from which they
    /// are complete under its database's retention period: the buckets in between hold rows
    /// the period is cutting away as time passes. `None` without a retention period.
    pub fn cutoffs(&self, view: &View) -> Option<(i64, i64)> {
        let (visible, complete) = match &view.source {
            Source::Table(_) => {
                let c = self.storage.retention_cutoff(&view.db)?;
                (c, c)
            }
            Source::View(s) => self.cutoffs(self.get(&view.db, s)?.as_ref())?,
        };
        let b = view.bucketing;
        Some((b.start(visible), b.start_at_or_after(complete)))
    }

    /// Status, backfill progress and pending buckets of `view`.
    pub fn report(&self, view: &View) -> Report {
        let extent = self.extent(&view.db, &view.source);
        let pending = match extent {
            Some((lo, hi)) => {
                let b = view.bucketing;
                b.count(
                    &view
                        .snapshot()
                        .pending
                        .clip(b.start(lo), b.end(b.start(hi))),
                )
            }
            None => 0,
        };
        let backfill = extent
            .and_then(|e| view.backfill(e))
            .map(|(all, left)| (all - left) as f64 / all.max(1) as f64);
        let status = match (backfill, pending) {
            (Some(_), _) => "backfilling",
            (None, 0) => "current",
            (None, _) => "pending",
        };
        // Not backfilling: done once anything was materialized (or nothing needs to be); a
        // view created WITH NO DATA has not begun.
        let backfill = backfill.or(if view.watermark().is_some() || pending == 0 {
            Some(1.0)
        } else {
            Some(0.0)
        });
        Report {
            status: status.to_string(),
            backfill,
            pending,
        }
    }

    async fn load(self: &Arc<Self>) -> Result<(), ViewError> {
        let mut defs: Vec<(String, Definition)> = Vec::new();
        for db in self.storage.catalog().database_names() {
            for name in self.store().view_names(&db).await? {
                let Some(bytes) = self
                    .store()
                    .get_view_object(&db, &name, DEFINITION_FILE)
                    .await?
                else {
                    warn!(db = %db, view = %name, "view directory without a definition ignored (a creation that did not finish)");
                    continue;
                };
                match serde_json::from_slice::<Definition>(&bytes) {
                    Ok(def) => defs.push((db.clone(), def)),
                    Err(e) => {
                        warn!(db = %db, view = %name, error = %e, "unreadable view definition ignored")
                    }
                }
            }
        }
        // Views over views after their sources.
        let mut loaded = 0;
        while !defs.is_empty() {
            let before = defs.len();
            let mut rest = Vec::new();
            for (db, def) in defs {
                let source_ready = self
                    .storage
                    .catalog()
                    .database(&db)
                    .is_some_and(|d| d.table(&def.source).is_some())
                    || self.get(&db, &def.source).is_some();
                if !source_ready {
                    rest.push((db, def));
                    continue;
                }
                match self.load_one(&db, def.clone()).await {
                    Ok(()) => loaded += 1,
                    Err(e) => warn!(db = %db, view = %def.name, error = %e, "view not loaded"),
                }
            }
            if rest.len() == before {
                for (db, def) in &rest {
                    warn!(db = %db, view = %def.name, source = %def.source, "view not loaded: its source does not exist");
                }
                break;
            }
            defs = rest;
        }
        info!(views = loaded, "views loaded");
        Ok(())
    }

    async fn load_one(self: &Arc<Self>, db: &str, def: Definition) -> Result<(), ViewError> {
        let state = self.session_state(db)?;
        let shape = compile(&state, &def.query, &def.columns).await?;
        let files = self
            .store()
            .open_view_table(db, &def.name, delta_columns(&shape)?)
            .await?;
        let rebuild = stored_signature(&shape) != def.stored;
        let view = Arc::new(View::new(db, def.clone(), &shape, files));
        view.load_pending(self.store()).await?;
        if rebuild {
            view.reset(self.store()).await?;
        }
        // Rows replayed from the WAL may be in no file yet, and in no saved pending set.
        {
            let _gate = self.gate.lock();
            self.reserve(db, &view.name)?;
            self.views
                .write()
                .insert((db.to_string(), view.name.clone()), view.clone());
            match &view.source {
                Source::Table(t) => {
                    let times: Vec<i64> = self
                        .storage
                        .buffer()
                        .table_chunks(db, t)
                        .iter()
                        .flat_map(|(_, b)| times_of(b))
                        .collect();
                    let buckets = view.bucketing.buckets_of(times);
                    view.invalidate(&buckets);
                }
                Source::View(s) => {
                    if let Some(source) = self.get(db, s) {
                        let pending = source.snapshot().pending;
                        view.invalidate(&view.bucketing.align_all(&pending));
                    }
                }
            }
        }
        Ok(())
    }

    fn reserve(&self, db: &str, name: &str) -> Result<(), ViewError> {
        let database = self
            .storage
            .catalog()
            .database(db)
            .ok_or_else(|| ViewError {
                code: "3D000",
                message: format!("database \"{db}\" does not exist"),
            })?;
        if !database.reserve(name) {
            return Err(ViewError {
                code: "42P07",
                message: format!("relation \"{name}\" already exists"),
            });
        }
        Ok(())
    }

    async fn create(
        self: &Arc<Self>,
        db: &str,
        statement: ViewStatement,
    ) -> Result<(&'static str, Option<usize>), ViewError> {
        let ViewStatement::Create {
            name,
            if_not_exists,
            columns,
            query,
            no_data,
        } = statement
        else {
            unreachable!("create takes a CREATE statement");
        };
        let _ddl = self.ddl.lock().await;
        names::check_table(&name).map_err(|e| ViewError {
            code: "42602",
            message: e.to_string(),
        })?;
        let Some(database) = self.storage.catalog().database(db) else {
            return Err(ViewError {
                code: "3D000",
                message: format!("database \"{db}\" does not exist"),
            });
        };
        if self.get(db, &name).is_some() || database.table(&name).is_some() {
            if if_not_exists && self.get(db, &name).is_some() {
                return Ok(("CREATE MATERIALIZED VIEW", None));
            }
            return Err(ViewError {
                code: "42P07",
                message: format!("relation \"{name}\" already exists"),
            });
        }
        let state = self.session_state(db)?;
        let shape = compile(&state, &query, &columns).await?;
        let def = Definition {
            format: 1,
            name: name.clone(),
            query,
            columns,
            created: now_micros(),
            source: shape.source.name().to_string(),
            stored: stored_signature(&shape),
        };
        // Leftovers of a creation that did not finish go first.
        self.store().drop_view_dir(db, &name).await?;
        let files = self
            .store()
            .open_view_table(db, &name, delta_columns(&shape)?)
            .await?;
        let view = Arc::new(View::new(db, def.clone(), &shape, files));
        {
            let _gate = self.gate.lock();
            self.reserve(db, &name)?;
            view.invalidate(&Ranges::all());
            self.views
                .write()
                .insert((db.to_string(), name.clone()), view.clone());
        }
        let made = async {
            view.save_pending(self.store()).await?;
            let bytes = serde_json::to_vec_pretty(&def).map_err(ViewError::internal)?;
            self.store()
                .put_view_object(db, &name, DEFINITION_FILE, bytes.into())
                .await?;
            info!(db = %db, view = %name, source = %def.source, "materialized view created");
            if !no_data {
                self.refresh_all(&view).await?;
            }
            Ok::<_, ViewError>(())
        }
        .await;
        if let Err(e) = made {
            self.remove(db, &name).await;
            return Err(e);
        }
        if no_data {
            return Ok(("CREATE MATERIALIZED VIEW", None));
        }
        let (rows, _, _) = view.materialized();
        Ok(("SELECT", Some(rows as usize)))
    }

    /// Forgets view `name` and deletes its directory (definition first, so a crash midway
    /// leaves a directory the next start ignores).
    async fn remove(&self, db: &str, name: &str) {
        {
            let _gate = self.gate.lock();
            self.views
                .write()
                .remove(&(db.to_string(), name.to_string()));
            if let Some(d) = self.storage.catalog().database(db) {
                d.release(name);
            }
        }
        if let Err(e) = self
            .store()
            .delete_view_object(db, name, DEFINITION_FILE)
            .await
        {
            warn!(db = %db, view = %name, error = %e, "cannot delete the view's definition");
            return;
        }
        if let Err(e) = self.store().drop_view_dir(db, name).await {
            warn!(db = %db, view = %name, error = %e, "cannot delete the view's files; they are ignored");
        }
    }

    async fn drop_views(
        &self,
        db: &str,
        names: Vec<String>,
        if_exists: bool,
        cascade: bool,
    ) -> Result<(&'static str, Option<usize>), ViewError> {
        let _ddl = self.ddl.lock().await;
        let mut doomed: Vec<Arc<View>> = Vec::new();
        for name in &names {
            let Some(view) = self.get(db, name) else {
                if if_exists {
                    continue;
                }
                return Err(ViewError::missing(name));
            };
            let all = self.closure(db, vec![view.clone()]);
            if !cascade
                && let Some(dependent) = all
                    .iter()
                    .find(|v| v.name != view.name && !names.contains(&v.name))
            {
                return Err(ViewError {
                    code: "2BP01",
                    message: format!(
                        "cannot drop materialized view {name} because other objects depend on it: materialized view {} reads it (use DROP ... CASCADE to drop it too)",
                        dependent.name
                    ),
                });
            }
            doomed.extend(all);
        }
        // Readers before what they read.
        doomed.reverse();
        let mut gone = std::collections::HashSet::new();
        for v in doomed {
            if gone.insert(v.name.clone()) {
                self.remove(db, &v.name).await;
                info!(db = %db, view = %v.name, "materialized view dropped");
            }
        }
        Ok(("DROP MATERIALIZED VIEW", None))
    }

    /// Runs the maintainer until `shutdown` turns true: every interval, the settled pending
    /// buckets of each view are materialized (the views each reads first), a bounded time
    /// per view; files of a day are merged past the configured count; replaced files are
    /// vacuumed now and then.
    pub async fn run_maintainer(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut last_vacuum = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.config.interval) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            self.maintain_once().await;
            if last_vacuum.elapsed() > self.config.vacuum_grace {
                for view in self.in_order() {
                    if let Err(e) = self
                        .store()
                        .vacuum_view(&view.db, &view.name, self.config.vacuum_grace)
                        .await
                    {
                        warn!(view = %view.name, error = %e, "view vacuum failed");
                    }
                }
                last_vacuum = Instant::now();
            }
        }
    }

    /// One round of the maintainer.
    pub async fn maintain_once(&self) {
        let settle = i64::try_from(self.config.settle.as_micros()).unwrap_or(i64::MAX);
        for view in self.in_order() {
            let settled = view.bucketing.start(now_micros().saturating_sub(settle));
            let limit = Ranges::of(i64::MIN, settled);
            if let Some(extent) = self.extent(&view.db, &view.source)
                && view.backfill(extent).is_none()
                && view
                    .bucketing
                    .count(&view.snapshot().pending.clip(extent.0, extent.1))
                    > 10_000
            {
                view.begin_backfill(extent);
            }
            let done = self
                .refresh_within(&view, &limit, Some(Duration::from_secs(5)))
                .await;
            if let Err(e) = done {
                warn!(db = %view.db, view = %view.name, error = %e, "view refresh failed; retried at the next interval");
                continue;
            }
            if view.backfill((i64::MIN, i64::MAX)).is_some()
                && view.snapshot().pending.clip(i64::MIN, settled).is_empty()
            {
                view.end_backfill();
                info!(db = %view.db, view = %view.name, "backfill done");
            }
            let shape = match self.shape(&view).await {
                Ok(s) => s,
                Err(_) => continue,
            };
            if let Err(e) = view
                .compact(
                    self.store(),
                    shape.bucket,
                    shape.group.len(),
                    self.config.max_files_per_day,
                )
                .await
            {
                warn!(db = %view.db, view = %view.name, error = %e, "view compaction failed");
            }
        }
    }

    /// Prometheus lines for every view.
    fn metrics_text(&self) -> String {
        let views: Vec<Arc<View>> = self.views.read().values().cloned().collect();
        let mut out = String::new();
        let families: [(&str, &str, &Measure); 7] = [
            ("hearth_view_buckets_pending", "gauge", &|_, r| {
                r.pending as f64
            }),
            ("hearth_view_late_rows_total", "counter", &|v, _| {
                v.stats.late_rows.load(Ordering::Relaxed) as f64
            }),
            ("hearth_view_refreshes_total", "counter", &|v, _| {
                v.stats.refreshes.load(Ordering::Relaxed) as f64
            }),
            ("hearth_view_refresh_seconds_total", "counter", &|v, _| {
                v.stats.refresh_micros_total.load(Ordering::Relaxed) as f64 / 1e6
            }),
            ("hearth_view_last_refresh_seconds", "gauge", &|v, _| {
                v.stats.last_refresh_micros.load(Ordering::Relaxed) as f64 / 1e6
            }),
            (
                "hearth_view_materialized_watermark_seconds",
                "gauge",
                &|v, _| v.watermark().map_or(0.0, |w| w as f64 / 1e6),
            ),
            ("hearth_view_materialized_rows", "gauge", &|v, _| {
                v.materialized().0 as f64
            }),
        ];
        let reports: Vec<Report> = views.iter().map(|v| self.report(v)).collect();
        for (name, kind, value) in families {
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            for (v, r) in views.iter().zip(&reports) {
                out.push_str(&format!(
                    "{name}{{db=\"{}\",view=\"{}\"}} {}\n",
                    escape_label(&v.db),
                    escape_label(&v.name),
                    value(v, r)
                ));
            }
        }
        out
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The `time` values of a table's rows, in microseconds.
fn times_of(batch: &RecordBatch) -> Vec<i64> {
    match batch.schema().index_of(TIME_COLUMN) {
        Ok(i) => View::times_of(batch, i),
        Err(_) => Vec::new(),
    }
}

#[async_trait]
impl EngineExtension for Views {
    fn recognizes(&self, sql: &str) -> bool {
        sql::recognizes(sql)
    }

    async fn execute(
        &self,
        _engine: &QueryEngine,
        db: &str,
        sql: &str,
    ) -> Result<CommandResult, QueryError> {
        let this = self
            .me
            .upgrade()
            .ok_or_else(|| QueryError::from(ViewError::internal("the views are shutting down")))?;
        let statement = sql::parse(sql).map_err(ViewError::syntax)?;
        let done = match statement {
            s @ ViewStatement::Create { .. } => this.create(db, s).await,
            ViewStatement::Refresh { name } => match this.get(db, &name) {
                None => Err(ViewError {
                    code: "42P01",
                    message: format!("relation \"{name}\" does not exist"),
                }),
                Some(view) => this
                    .refresh_all(&view)
                    .await
                    .map(|_| ("REFRESH MATERIALIZED VIEW", None)),
            },
            ViewStatement::Drop {
                names,
                if_exists,
                cascade,
            } => this.drop_views(db, names, if_exists, cascade).await,
        };
        done.map(|(tag, rows)| CommandResult::Done(tag, rows))
            .map_err(QueryError::from)
    }

    fn metrics(&self) -> String {
        self.metrics_text()
    }
}

impl WriteObserver for Views {
    fn around_write(&self, db: &str, tables: &[(String, RecordBatch)], apply: &mut dyn FnMut()) {
        let _gate = self.gate.lock();
        for (table, batch) in tables {
            if self.readers(db, &Source::Table(table.clone())).is_empty() {
                continue;
            }
            self.invalidate_rows(db, table, &times_of(batch), true);
        }
        apply();
    }

    fn before_persist<'a>(&'a self, db: &'a str, table: &'a str) -> ObserverFuture<'a> {
        Box::pin(async move {
            let direct = self.readers(db, &Source::Table(table.to_string()));
            if direct.is_empty() {
                return Ok(());
            }
            let all = self.closure(db, direct);
            self.save(&all).await.map_err(|e| e.to_string())
        })
    }

    fn before_delete<'a>(
        &'a self,
        db: &'a str,
        table: &'a str,
        identities: &'a [RecordBatch],
    ) -> DeleteFuture<'a> {
        Box::pin(async move {
            let direct = self.readers(db, &Source::Table(table.to_string()));
            if direct.is_empty() {
                return Ok(Box::new(()) as DeleteGuard);
            }
            // No refresh runs until the delete is done (the guard is held until then), so the
            // buckets made pending here stay pending until a refresh reads the rows after it.
            let guard = self.deletes.clone().write_owned().await;
            {
                let _gate = self.gate.lock();
                let times: Vec<i64> = identities.iter().flat_map(times_of).collect();
                self.invalidate_rows(db, table, &times, false);
            }
            let all = self.closure(db, direct);
            self.save(&all).await.map_err(|e| e.to_string())?;
            Ok(Box::new(guard) as DeleteGuard)
        })
    }

    fn before_drop(&self, db: &str, table: &str) -> Result<(), String> {
        let readers = self.readers(db, &Source::Table(table.to_string()));
        match readers.first() {
            None => Ok(()),
            Some(view) => Err(format!(
                "cannot drop table {table} because materialized view {} depends on it",
                view.name
            )),
        }
    }
}

/// The views of a database as tables of its schema `public`.
#[derive(Debug)]
struct PublicViews(Arc<Views>);

#[async_trait]
impl TableSource for PublicViews {
    fn table_names(&self, db: &str) -> Vec<String> {
        self.0.list(db).iter().map(|v| v.name.clone()).collect()
    }

    fn materialized_views(&self, db: &str) -> Vec<(String, String)> {
        self.0
            .list(db)
            .iter()
            .map(|v| (v.name.clone(), v.def.query.clone()))
            .collect()
    }

    async fn table(
        &self,
        db: &str,
        name: &str,
    ) -> datafusion::common::Result<Option<Arc<dyn TableProvider>>> {
        Ok(self
            .0
            .get(db, name)
            .map(|v| Arc::new(table::ViewTable::new(v, self.0.clone())) as _))
    }
}

/// `system.views`.
#[derive(Debug)]
struct SystemViews(Arc<Views>);

#[async_trait]
impl TableSource for SystemViews {
    fn table_names(&self, _db: &str) -> Vec<String> {
        vec![system::VIEWS_TABLE.to_string()]
    }

    async fn table(
        &self,
        db: &str,
        name: &str,
    ) -> datafusion::common::Result<Option<Arc<dyn TableProvider>>> {
        Ok((name == system::VIEWS_TABLE)
            .then(|| Arc::new(system::ViewsTable::new(db, self.0.clone())) as _))
    }
}

#[cfg(test)]
mod tests;
