//! The query engine: DataFusion sessions over Hearth's catalogs.
//!
//! One runtime (memory pool, object stores, file metadata cache) and one template session state
//! are shared; every connection or HTTP request gets its own cheap [`SessionContext`] whose
//! default catalog is its database, so `SELECT * FROM energy` in database `home` means
//! `home.public.energy` and settings never leak between sessions.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::CatalogProviderList;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::ScalarUDF;
use datafusion::logical_expr::{Expr, LogicalPlan, ident, lit};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use hearth_catalog::schema::ColumnKind;
use hearth_storage::Storage;

use crate::catalogs::{Catalogs, PUBLIC};
use crate::error::QueryError;
use crate::functions;
use crate::queries::{QueryLog, StatementContext, TrackedExec};
use crate::system;

/// Statements a layer above the engine runs itself (the continuous views' `CREATE
/// MATERIALIZED VIEW`, ...), and the metrics it reports.
#[async_trait::async_trait]
pub trait EngineExtension: Send + Sync {
    /// Whether `sql` is one of this extension's statements (a malformed one included, so that
    /// its error comes from here).
    fn recognizes(&self, sql: &str) -> bool;

    /// Runs statement `sql` in database `db`: what it answers, or the error.
    async fn execute(
        &self,
        engine: &QueryEngine,
        db: &str,
        sql: &str,
    ) -> Result<CommandResult, QueryError>;

    /// The columns statement `sql` answers with, if it answers with rows (for the extended
    /// protocol's Describe, before it runs).
    fn result_schema(&self, _sql: &str) -> Option<SchemaRef> {
        None
    }

    /// Prometheus text-format lines of this extension's metrics.
    fn metrics(&self) -> String {
        String::new()
    }
}

/// What a statement Hearth runs itself answers.
#[derive(Debug)]
pub enum CommandResult {
    /// A command tag and, for statements that count rows, the count (`DELETE 3`).
    Done(&'static str, Option<usize>),
    /// Rows, as a query answers (`SELECT cron.schedule(...)` answers the job id).
    Rows(SchemaRef, Vec<RecordBatch>),
}

/// DataFusion sessions over Hearth's data.
pub struct QueryEngine {
    extensions: Vec<Arc<dyn EngineExtension>>,
    statement_timeout: Option<Duration>,
    storage: Arc<Storage>,
    catalogs: Arc<Catalogs>,
    runtime: Arc<RuntimeEnv>,
    template: SessionState,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine").finish_non_exhaustive()
    }
}

/// DataFusion's physical planner with Hearth's plan nodes; every plan is tracked (see
/// [`queries`](crate::queries)).
#[derive(Debug)]
struct HearthPlanner {
    log: Arc<QueryLog>,
    statement_timeout: Option<Duration>,
}

#[async_trait::async_trait]
impl QueryPlanner for HearthPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let statement = session
            .config()
            .get_extension::<StatementContext>()
            .map(|s| s.as_ref().clone())
            .unwrap_or_default();
        let text = if statement.text.is_empty() {
            logical_plan.display().to_string()
        } else {
            statement.text
        };
        let db = &session.config_options().catalog.default_catalog;
        let tracker = self
            .log
            .track(db, text, statement.timeout.or(self.statement_timeout));
        let planned = physical_planner()
            .create_physical_plan(logical_plan, session)
            .await;
        match planned {
            Ok(plan) => Ok(Arc::new(TrackedExec::new(plan, tracker))),
            Err(e) => {
                tracker.fail(crate::error::datafusion_sqlstate(&e).1);
                Err(e)
            }
        }
    }
}

/// The physical plan of `plan` inside another query's planning (a table's own plan, made when
/// the table is scanned): optimized and planned like any, but not entered in the query log
/// again; its work counts toward the query it is part of.
pub async fn plan_inner(
    session: &dyn Session,
    plan: &LogicalPlan,
) -> Result<Arc<dyn ExecutionPlan>> {
    let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
        return session.create_physical_plan(plan).await;
    };
    let optimized = state.optimize(plan)?;
    physical_planner()
        .create_physical_plan(&optimized, session)
        .await
}

/// The physical plan of `plan`, already optimized, inside another query's planning (see
/// [`plan_inner`]).
pub(crate) async fn plan_optimized(
    session: &dyn Session,
    plan: &LogicalPlan,
) -> Result<Arc<dyn ExecutionPlan>> {
    physical_planner().create_physical_plan(plan, session).await
}

/// DataFusion's physical planner with Hearth's plan nodes (gap filling).
fn physical_planner() -> DefaultPhysicalPlanner {
    DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(
        functions::gapfill::GapFillPlanner,
    )])
}

/// DataFusion's optimizer rules, with Hearth's latest-row rewrite first (before DataFusion turns
/// `DISTINCT ON` into an aggregate) and its newest-first rewrite last (after limits reach sorts
/// and filters reach scans).
fn optimizer_rules() -> Vec<Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>> {
    let mut rules: Vec<Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>> =
        vec![Arc::new(crate::lastpoint::LastPointRule)];
    rules.extend(datafusion::optimizer::Optimizer::new().rules);
    rules.push(Arc::new(crate::recent::RecentRule));
    rules
}

/// Tells the plans of `ctx`'s next statement its text and the session's timeout (for
/// `system.queries` and the statement timeout).
pub fn set_statement(ctx: &SessionContext, text: &str, timeout: Option<Duration>) {
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(StatementContext {
            text: text.to_string(),
            timeout,
        }));
}

/// Options of remote SQL over HTTP: queries only, no DDL, DML or statements such as `SET`.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

impl QueryEngine {
    /// An engine over `storage` whose queries share `memory_limit` bytes, without a statement
    /// timeout.
    pub fn new(storage: Arc<Storage>, memory_limit: usize) -> Result<QueryEngine> {
        QueryEngine::with_timeout(storage, memory_limit, None)
    }

    /// [`QueryEngine::new`] with a statement timeout for sessions that set none.
    pub fn with_timeout(
        storage: Arc<Storage>,
        memory_limit: usize,
        statement_timeout: Option<Duration>,
    ) -> Result<QueryEngine> {
        let store = storage.store().clone();
        let queries = Arc::new(QueryLog::default());
        let log = queries.clone();
        let catalogs_storage = storage.clone();
        let catalogs = Catalogs::new(storage.clone());
        let sources = catalogs.table_sources();
        catalogs.add_schema_factory(
            system::SYSTEM,
            Arc::new(move |db: &str| {
                Ok(Arc::new(system::SystemSchema::new(
                    db,
                    storage.clone(),
                    log.clone(),
                    sources.clone(),
                ))
                    as Arc<dyn datafusion::catalog::SchemaProvider>)
            }),
        );
        let weak = Arc::downgrade(&catalogs);
        catalogs.add_schema_factory(
            crate::information_schema::INFORMATION_SCHEMA,
            Arc::new(move |db: &str| {
                Ok(Arc::new(crate::information_schema::InformationSchema::new(
                    weak.clone(),
                    db,
                ))
                    as Arc<dyn datafusion::catalog::SchemaProvider>)
            }),
        );
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(TrackConsumersPool::new(
                FairSpillPool::new(memory_limit),
                NonZeroUsize::new(5).expect("5 is not zero"),
            )))
            .build_arc()?;
        // `file://` is DataFusion's own; an S3 bucket is read through the store Hearth writes.
        let store_url = url::Url::parse(store.object_store_url())
            .map_err(|e| DataFusionError::Configuration(e.to_string()))?;
        runtime.register_object_store(&store_url, store.object_store());
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // `information_schema` is Hearth's own (PostgreSQL's shape and type names).
        let mut config = SessionConfig::new()
            .with_information_schema(false)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema("", PUBLIC)
            .with_target_partitions(cores);
        let options = config.options_mut();
        options.execution.parquet.pushdown_filters = true;
        options.execution.parquet.reorder_filters = true;
        options.execution.time_zone = Some("UTC".to_string());
        // Each sort reserves this much for merging its spills (10 MiB by default): scaled to the
        // pool, so that a small memory limit still sorts (spilling) instead of failing outright.
        options.execution.sort_spill_reservation_bytes = options
            .execution
            .sort_spill_reservation_bytes
            .min(memory_limit / 16);
        let mut template = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime.clone())
            .with_catalog_list(catalogs.clone() as Arc<dyn CatalogProviderList>)
            .with_default_features()
            .with_optimizer_rules(optimizer_rules())
            .with_physical_optimizer_rule(Arc::new(crate::scan_predicate::DistinctScanConditions))
            .with_physical_optimizer_rule(Arc::new(crate::runs::PartialAggregateByRuns))
            .with_query_planner(Arc::new(HearthPlanner {
                log: queries.clone(),
                statement_timeout,
            }))
            .build();
        template.add_analyzer_rule(Arc::new(functions::gapfill::GapFillRule));
        for udf in functions::scalar_functions() {
            template.register_udf(Arc::new(udf))?;
        }
        for udaf in functions::aggregate_functions() {
            template.register_udaf(Arc::new(udaf))?;
        }
        Ok(QueryEngine {
            extensions: Vec::new(),
            statement_timeout,
            storage: catalogs_storage,
            catalogs,
            runtime,
            template,
        })
    }

    /// Adds statements (and metrics) of a layer above the engine.
    pub fn add_extension(&mut self, extension: Arc<dyn EngineExtension>) {
        self.extensions.push(extension);
    }

    /// The metrics of the extensions, in Prometheus' text format.
    pub fn extension_metrics(&self) -> String {
        self.extensions.iter().map(|e| e.metrics()).collect()
    }

    /// Whether `sql` is a statement Hearth parses itself rather than DataFusion (`CREATE` /
    /// `ALTER DATABASE`, an extension's statements); `DELETE` is planned by DataFusion.
    pub fn is_command(&self, sql: &str) -> bool {
        self.extensions.iter().any(|e| e.recognizes(sql))
            || crate::tables::parse(sql).is_some()
            || matches!(
                crate::ddl::parse(sql),
                Some(Err(_))
                    | Some(Ok(crate::ddl::DbCommand::Create { .. }
                        | crate::ddl::DbCommand::SetRetention { .. }))
            )
    }

    /// The storage the engine reads (and SQL writes go to).
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// The statement timeout of sessions that set none.
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// The catalogs (to add schemas such as `pg_catalog`).
    pub fn catalogs(&self) -> &Arc<Catalogs> {
        &self.catalogs
    }

    /// The shared runtime.
    pub fn runtime(&self) -> &Arc<RuntimeEnv> {
        &self.runtime
    }

    /// Adds a function to every later session.
    pub fn register_udf(&mut self, udf: ScalarUDF) {
        let ctx = SessionContext::new_with_state(self.template.clone());
        ctx.register_udf(udf);
        self.template = ctx.state();
    }

    /// Replaces the template state (for front ends that add functions and planners in bulk).
    pub fn update_template(&mut self, f: impl FnOnce(&SessionContext)) {
        let ctx = SessionContext::new_with_state(self.template.clone());
        f(&ctx);
        self.template = ctx.state();
    }

    /// A new session whose default catalog is `db`.
    pub fn session(&self, db: &str) -> SessionContext {
        let mut config = self.template.config().clone();
        config.options_mut().catalog.default_catalog = db.to_string();
        let state = SessionStateBuilder::new_from_existing(self.template.clone())
            .with_config(config)
            .with_catalog_list(self.catalogs.clone() as Arc<dyn CatalogProviderList>)
            .build();
        SessionContext::new_with_state(state)
    }

    /// Runs `sql` in database `db` if it is a statement Hearth runs itself (see
    /// [`ddl`](crate::ddl), and the extensions'): `None` for any other SQL, else the command tag
    /// (`CREATE DATABASE`, `ALTER DATABASE`, `DELETE` with its row count, ...) or the error.
    pub async fn execute_command(
        &self,
        db: &str,
        sql: &str,
    ) -> Option<Result<CommandResult, QueryError>> {
        if let Some(extension) = self.extensions.iter().find(|e| e.recognizes(sql)) {
            return Some(extension.execute(self, db, sql).await);
        }
        if let Some(command) = crate::tables::parse(sql) {
            return Some(match command {
                Ok(command) => self.table_command(db, command).await,
                Err(e) => Err(e),
            });
        }
        let command = match crate::ddl::parse(sql)? {
            Ok(command) => command,
            Err(message) => {
                return Some(Err(QueryError::Command {
                    code: "42601",
                    message,
                }));
            }
        };
        let failed = crate::error::from_storage;
        let done = match command {
            crate::ddl::DbCommand::Delete => {
                self.delete_sql(db, sql).await.map(|n| ("DELETE", Some(n)))
            }
            crate::ddl::DbCommand::Create {
                name,
                if_not_exists,
                retention,
            } => match self.storage.create_database(&name, retention).await {
                Ok(true) => Ok(("CREATE DATABASE", None)),
                Ok(false) if if_not_exists => Ok(("CREATE DATABASE", None)),
                Ok(false) => Err(QueryError::Command {
                    code: "42P04",
                    message: format!("database \"{name}\" already exists"),
                }),
                Err(e) => Err(failed(e)),
            },
            crate::ddl::DbCommand::SetRetention { name, retention } => {
                match self.storage.set_retention(&name, retention).await {
                    Ok(true) => Ok(("ALTER DATABASE", None)),
                    Ok(false) => Err(QueryError::Command {
                        code: "3D000",
                        message: format!("database \"{name}\" does not exist"),
                    }),
                    Err(e) => Err(failed(e)),
                }
            }
        };
        Some(done.map(|(tag, rows)| CommandResult::Done(tag, rows)))
    }

    /// Runs `CREATE TABLE` / `DROP TABLE` in database `db` (see [`tables`](crate::tables)).
    async fn table_command(
        &self,
        db: &str,
        command: crate::tables::TableCommand,
    ) -> Result<CommandResult, QueryError> {
        use crate::tables::TableCommand;
        let Some(database) = self.storage.catalog().database(db) else {
            return Err(QueryError::DatabaseNotFound(db.to_string()));
        };
        let failed = crate::error::from_storage;
        match command {
            TableCommand::Create {
                name,
                if_not_exists,
                schema,
            } => match self.storage.create_table(db, &name, schema).await {
                Ok(true) => Ok(CommandResult::Done("CREATE TABLE", None)),
                Ok(false) if if_not_exists => Ok(CommandResult::Done("CREATE TABLE", None)),
                Ok(false) => Err(QueryError::command(
                    "42P07",
                    format!("relation \"{name}\" already exists"),
                )),
                Err(e) => Err(failed(e)),
            },
            TableCommand::Drop { names, if_exists } => {
                for name in &names {
                    if database.is_reserved(name) {
                        return Err(QueryError::command(
                            "42809",
                            format!("\"{name}\" is not a table; use DROP MATERIALIZED VIEW"),
                        ));
                    }
                    if database.table(name).is_none() && !if_exists {
                        return Err(QueryError::command(
                            "42P01",
                            format!("table \"{name}\" does not exist"),
                        ));
                    }
                }
                for name in &names {
                    self.storage.drop_table(db, name).await.map_err(failed)?;
                }
                Ok(CommandResult::Done("DROP TABLE", None))
            }
        }
    }

    /// The columns Hearth's own statement `sql` answers with, if it answers with rows.
    pub fn command_schema(&self, sql: &str) -> Option<SchemaRef> {
        self.extensions
            .iter()
            .find(|e| e.recognizes(sql))
            .and_then(|e| e.result_schema(sql))
    }

    /// Runs `plan` if it is an `INSERT INTO table ...` (as DataFusion plans it): the rows of its
    /// source are computed in `ctx` and written to the table of database `db` through the WAL
    /// (`Storage::write_rows`: durable and visible on return, merged by identity with the
    /// table's other rows; a row repeating an identity overwrites its fields). `None` for any
    /// other plan; else the number of rows written.
    pub async fn insert(
        &self,
        ctx: &SessionContext,
        db: &str,
        plan: &LogicalPlan,
    ) -> Option<Result<usize, QueryError>> {
        use datafusion::logical_expr::{WriteOp, dml::InsertOp};
        let LogicalPlan::Dml(dml) = plan else {
            return None;
        };
        if !matches!(dml.op, WriteOp::Insert(InsertOp::Append)) {
            return None;
        }
        let table = dml.table_name.table().to_string();
        let run = async {
            let df = ctx.execute_logical_plan(dml.input.as_ref().clone()).await?;
            let schema = df.schema().as_arrow().clone();
            let batches = df.collect().await?;
            let batch = datafusion::arrow::compute::concat_batches(&Arc::new(schema), &batches)
                .map_err(DataFusionError::from)?;
            let columns = batch
                .schema()
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| (f.name().clone(), c.clone()))
                .collect();
            self.storage
                .write_rows(db, &table, columns)
                .await
                .map_err(crate::error::from_storage)
        };
        Some(run.await)
    }

    /// `DELETE FROM table [WHERE condition]` in database `db` (SQL text): see
    /// [`QueryEngine::delete`].
    async fn delete_sql(&self, db: &str, sql: &str) -> Result<usize, QueryError> {
        if !self.catalogs.exists(db) {
            return Err(QueryError::DatabaseNotFound(db.to_string()));
        }
        let ctx = self.session(db);
        let plan = ctx.state().create_logical_plan(sql).await?;
        self.delete(&ctx, db, &plan).await.unwrap_or_else(|| {
            Err(QueryError::Command {
                code: "42601",
                message: "expected DELETE FROM table [WHERE condition]".into(),
            })
        })
    }

    /// Runs `plan` if it is a `DELETE FROM table [WHERE condition]` (as DataFusion plans it):
    /// the identities (tags, time) the condition matches on the table as queries see it are
    /// removed from its files (see `Storage::delete_rows`). `None` for any other plan; else how
    /// many rows the table showed that are gone.
    pub async fn delete(
        &self,
        ctx: &SessionContext,
        db: &str,
        plan: &LogicalPlan,
    ) -> Option<Result<usize, QueryError>> {
        use datafusion::logical_expr::WriteOp;
        let LogicalPlan::Dml(dml) = plan else {
            return None;
        };
        if dml.op != WriteOp::Delete {
            return None;
        }
        let run = async {
            let predicate = match dml.input.as_ref() {
                LogicalPlan::Filter(filter) => Some(filter.predicate.clone()),
                _ => None,
            };
            let table = dml.table_name.table().to_string();
            let schema = self
                .storage
                .catalog()
                .database(db)
                .and_then(|d| d.table(&table))
                .map(|t| t.schema())
                .ok_or_else(|| QueryError::Command {
                    code: "42P01",
                    message: format!("relation \"{table}\" does not exist"),
                })?;
            if schema.is_sql_table() && !schema.has_primary_key() {
                return Err(QueryError::command(
                    "0A000",
                    format!(
                        "DELETE from table \"{table}\" is not supported: it has no primary key \
                         (DROP TABLE, or declare a PRIMARY KEY)"
                    ),
                ));
            }
            let mut df = ctx.table(dml.table_name.clone()).await?;
            if let Some(p) = &predicate {
                df = df.filter(p.clone())?;
            }
            let identity: Vec<Expr> = schema
                .columns()
                .iter()
                .filter(|c| c.kind.is_identity())
                .map(|c| match c.kind {
                    // A SQL table's hidden time: the same for every row of a keyed table.
                    ColumnKind::Time if schema.is_sql_table() => {
                        lit(ScalarValue::TimestampMicrosecond(
                            Some(0),
                            Some(hearth_catalog::schema::TIME_ZONE.into()),
                        ))
                        .alias(c.name.as_str())
                    }
                    _ => ident(c.name.as_str()),
                })
                .collect();
            let batches = df.select(identity)?.collect().await?;
            let matched = batches.iter().map(|b| b.num_rows()).sum();
            let text = predicate.map_or_else(|| "true".to_string(), |p| p.to_string());
            self.storage
                .delete_rows(db, &table, &batches, &text)
                .await
                .map_err(|e| QueryError::Command {
                    code: "58030",
                    message: e.to_string(),
                })?;
            Ok(matched)
        };
        Some(run.await)
    }

    /// Builds the latest-row caches of the tables that had theirs on before the server
    /// started (see `hearth_storage::last`), one table after another, each with the query that
    /// switches a cache on (`DISTINCT ON` the table's tags, latest first): run in the
    /// background at start-up, so the first such query after a restart reads a ready cache.
    /// Tables that no longer exist are forgotten; a failure is logged and the next query builds
    /// that cache instead. Returns the caches built.
    pub async fn build_remembered_latest_rows(&self) -> usize {
        let last = self.storage.last().clone();
        let mut built = 0;
        for (db, name) in last.remembered() {
            let table = self
                .storage
                .catalog()
                .database(&db)
                .and_then(|d| d.table(&name));
            let Some(table) = table else {
                last.forget(&db, &name);
                continue;
            };
            if last.active(&db, &name).is_some_and(|t| t.is_ready()) {
                continue;
            }
            let quote = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
            let tags: Vec<String> = table
                .schema()
                .columns()
                .iter()
                .filter(|c| c.kind == ColumnKind::Tag)
                .map(|c| quote(&c.name))
                .collect();
            if tags.is_empty() {
                continue;
            }
            let tags = tags.join(", ");
            let sql = format!(
                "SELECT DISTINCT ON ({tags}) * FROM {} ORDER BY {tags}, time DESC",
                quote(&name)
            );
            let started = std::time::Instant::now();
            match self.query(&db, &sql).await {
                Ok(_) if last.active(&db, &name).is_some_and(|t| t.is_ready()) => {
                    built += 1;
                    tracing::info!(
                        db = %db,
                        table = %name,
                        ms = started.elapsed().as_millis() as u64,
                        "latest-row cache built"
                    );
                }
                Ok(_) => tracing::warn!(db = %db, table = %name, "latest-row cache not built"),
                Err(e) => {
                    tracing::warn!(db = %db, table = %name, error = %e, "cannot build the latest-row cache")
                }
            }
        }
        built
    }

    /// Runs a read-only query in database `db` and collects the result.
    pub async fn query(
        &self,
        db: &str,
        sql: &str,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        if !self.catalogs.exists(db) {
            return Err(QueryError::DatabaseNotFound(db.to_string()));
        }
        let ctx = self.session(db);
        set_statement(&ctx, sql, None);
        let df = ctx.sql_with_options(sql, read_only()).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok((schema, batches))
    }
}
