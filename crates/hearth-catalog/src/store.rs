//! The object store holding Hearth's Delta tables, and the loading of the catalog from it.
//!
//! Layout under the root URL: `<db>/<table>/_delta_log/…` and `<db>/<table>/date=YYYY-MM-DD/…`.
//! Roots are `file:///path` (the directory is created if missing) or `s3://bucket[/prefix]` on
//! any S3-compatible store, configured by the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, ...) and an optional
//! endpoint. S3 commits use conditional (create-only, `If-None-Match: *`) puts, so two writers
//! can never both commit one Delta version. Everything goes through one `ObjectStore`, which is
//! also handed to delta-rs (with its default log store for `s3://`, registered here), so Hearth
//! needs neither delta-rs's AWS SDK nor a locking service.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Once};

use bytes::Bytes;
use deltalake::DeltaTable;
use deltalake::logstore::{LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig};
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tracing::{info, warn};
use url::Url;

use crate::catalog::{Catalog, Database, FileMeta, Table};

/// Name of the per-database settings file.
const SETTINGS_FILE: &str = "_hearth.json";
/// Directory of a database's materialized views: `<db>/_views/<view>/` (the leading `_` keeps
/// it apart from tables).
const VIEWS_DIR: &str = "_views";
use crate::delta;
use crate::error::CatalogError;
use crate::schema::TableSchema;

/// Settings of the object store beyond its URL.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Endpoint of an S3-compatible server (`http://127.0.0.1:9000`); AWS when unset (or
    /// `AWS_ENDPOINT`).
    pub s3_endpoint: Option<String>,
}

/// The object store root and the open Delta tables.
pub struct Store {
    /// The root, with a trailing slash.
    url: Url,
    /// The local root directory, for `file://`.
    local_dir: Option<PathBuf>,
    /// The store, rooted at the URL's scheme and authority (`/` or the bucket).
    object_store: Arc<dyn ObjectStore>,
    /// `file://` or `s3://bucket`: where the store is registered for DataFusion and delta-rs.
    store_url: String,
    /// The root's path within `object_store`.
    root: Path,
    tables: tokio::sync::Mutex<HashMap<(String, String), DeltaTable>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url.as_str())
            .finish()
    }
}

/// delta-rs's default log store (commits by create-only puts) for `s3://` tables, whose object
/// store Hearth builds itself.
struct ConditionalPutLogStore;

impl LogStoreFactory for ConditionalPutLogStore {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn LogStore>> {
        Ok(deltalake::logstore::default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

fn register_s3_log_store() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let url = Url::parse("s3://").expect("valid URL");
        deltalake::logstore::logstore_factories().insert(url, Arc::new(ConditionalPutLogStore));
    });
}

impl Store {
    /// Opens the store at `url`: `file:///absolute/path` or `s3://bucket[/prefix]`.
    pub fn new(url: &str, options: &StoreOptions) -> Result<Store, CatalogError> {
        let invalid = |reason: &str| CatalogError::InvalidStoreUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| invalid("not an absolute local path"))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| invalid(&format!("cannot create directory: {e}")))?;
                let dir = dir
                    .canonicalize()
                    .map_err(|e| invalid(&format!("cannot resolve directory: {e}")))?;
                let root = Path::from_filesystem_path(&dir).map_err(|e| invalid(&e.to_string()))?;
                let url = Url::from_directory_path(&dir)
                    .map_err(|()| invalid("not an absolute local path"))?;
                Ok(Store {
                    url,
                    local_dir: Some(dir),
                    object_store: Arc::new(LocalFileSystem::new()),
                    store_url: "file://".to_string(),
                    root,
                    tables: tokio::sync::Mutex::new(HashMap::new()),
                })
            }
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| invalid("missing bucket name (s3://bucket/prefix)"))?
                    .to_string();
                if !parsed.username().is_empty() || parsed.password().is_some() {
                    return Err(invalid(
                        "credentials do not belong in the URL; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    ));
                }
                let prefix = parsed.path().trim_matches('/').to_string();
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
                if let Some(endpoint) = &options.s3_endpoint {
                    builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
                    if endpoint.starts_with("http://")
                        && std::env::var_os("AWS_ALLOW_HTTP").is_none()
                    {
                        return Err(invalid(&format!(
                            "endpoint {endpoint} is plain HTTP; set AWS_ALLOW_HTTP=true to allow it"
                        )));
                    }
                }
                let s3 = builder.build().map_err(|e| invalid(&e.to_string()))?;
                register_s3_log_store();
                let mut url =
                    Url::parse(&format!("s3://{bucket}/")).map_err(|e| invalid(&e.to_string()))?;
                if !prefix.is_empty() {
                    url = url
                        .join(&format!("{prefix}/"))
                        .map_err(|e| invalid(&e.to_string()))?;
                }
                Ok(Store {
                    url,
                    local_dir: None,
                    object_store: Arc::new(s3),
                    store_url: format!("s3://{bucket}"),
                    root: Path::from(prefix),
                    tables: tokio::sync::Mutex::new(HashMap::new()),
                })
            }
            other => Err(invalid(&format!(
                "unsupported scheme {other:?}; use file:///path or s3://bucket/prefix"
            ))),
        }
    }

    /// The root URL (with a trailing slash).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The object store, rooted at the URL's scheme and authority (`/` for `file://`, the
    /// bucket for `s3://`).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.object_store.clone()
    }

    /// The URL the object store is registered under (`file://`, `s3://bucket`).
    pub fn object_store_url(&self) -> &str {
        &self.store_url
    }

    /// The object store key of a file of a table, e.g. `/data/objects/home/energy/date=…/x`
    /// as a store path.
    pub fn table_file_key(&self, db: &str, table: &str, relative: &str) -> Path {
        let mut p = self.dir_path(&[db, table]);
        for part in relative.split('/') {
            p = p.join(part);
        }
        p
    }

    /// The URL of directory `names` under the root: each name one path segment, percent-encoded
    /// as a URL needs, with a trailing slash.
    fn dir_url(&self, names: &[&str]) -> Result<Url, CatalogError> {
        let mut url = self.url.clone();
        {
            let mut segments =
                url.path_segments_mut()
                    .map_err(|()| CatalogError::InvalidStoreUrl {
                        url: self.url.to_string(),
                        reason: "cannot hold a path".into(),
                    })?;
            segments.pop_if_empty();
            for name in names {
                segments.push(name);
            }
            segments.push("");
        }
        Ok(url)
    }

    fn table_url(&self, db: &str, table: &str) -> Result<Url, CatalogError> {
        self.dir_url(&[db, table])
    }

    /// Directory `names` under the root as an object store path, derived from its URL exactly as
    /// delta-rs derives a table's directory, so Hearth's own files and the Delta log always
    /// share one directory whatever letters the names hold.
    fn dir_path(&self, names: &[&str]) -> Path {
        self.dir_url(names)
            .ok()
            .and_then(|url| Path::from_url_path(url.path()).ok())
            .unwrap_or_else(|| {
                names
                    .iter()
                    .fold(self.root.clone(), |p, name| p.join(*name))
            })
    }

    /// True if the table has any Delta log file.
    async fn has_log(&self, db: &str, table: &str) -> Result<bool, CatalogError> {
        let log = self.dir_path(&[db, table]).join("_delta_log");
        let first = self.object_store.list(Some(&log)).try_next().await?;
        Ok(first.is_some())
    }

    /// The names of the "directories" right under `prefix`.
    async fn list_dirs(&self, prefix: &Path) -> Result<Vec<String>, CatalogError> {
        let listing = self.object_store.list_with_delimiter(Some(prefix)).await?;
        let mut out: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Uploads a file of a table (before it is committed).
    pub async fn put_table_file(
        &self,
        db: &str,
        table: &str,
        relative: &str,
        bytes: Bytes,
    ) -> Result<(), CatalogError> {
        let key = self.table_file_key(db, table, relative);
        self.object_store.put(&key, bytes.into()).await?;
        Ok(())
    }

    /// Commits uploaded `files` of `table` together with the WAL position `seq`.
    pub async fn commit_files(
        &self,
        table: &Table,
        schema: &TableSchema,
        files: &[FileMeta],
        stats: &[String],
        seq: u64,
    ) -> Result<i64, CatalogError> {
        let full = format!("{}.{}", table.db(), table.name());
        let mut tables = self.tables.lock().await;
        let delta_table = self.delta_table(&mut tables, table, schema).await?;
        delta::commit(delta_table, &full, schema, files, stats, seq).await
    }

    /// The open Delta table of `table`, opened or created (with `schema`) if need be.
    async fn delta_table<'a>(
        &self,
        tables: &'a mut HashMap<(String, String), DeltaTable>,
        table: &Table,
        schema: &TableSchema,
    ) -> Result<&'a mut DeltaTable, CatalogError> {
        let key = (table.db().to_string(), table.name().to_string());
        let full = format!("{}.{}", table.db(), table.name());
        if !tables.contains_key(&key) {
            let url = self.table_url(table.db(), table.name())?;
            if let Some(dir) = &self.local_dir {
                std::fs::create_dir_all(dir.join(table.db()).join(table.name())).map_err(|e| {
                    CatalogError::Unreadable {
                        table: full.clone(),
                        reason: e.to_string(),
                    }
                })?;
            }
            let maybe_exists = self.has_log(table.db(), table.name()).await?;
            let t = delta::open_or_create(self.object_store(), &url, &full, schema, maybe_exists)
                .await?;
            tables.insert(key.clone(), t);
        }
        Ok(tables.get_mut(&key).expect("inserted above"))
    }

    /// Creates the Delta table of `table` now, with its schema (a SQL table exists in the store
    /// from `CREATE TABLE` on, before any row). Returns its version.
    pub async fn create_table_log(&self, table: &Table) -> Result<i64, CatalogError> {
        let mut tables = self.tables.lock().await;
        let delta_table = self
            .delta_table(&mut tables, table, &table.schema())
            .await?;
        Ok(delta_table.version().map_or(0, |v| v as i64))
    }

    /// Deletes everything in the directory of table `table` of database `db`: its Delta log
    /// and its files.
    pub async fn drop_table_dir(&self, db: &str, table: &str) -> Result<(), CatalogError> {
        self.tables
            .lock()
            .await
            .remove(&(db.to_string(), table.to_string()));
        self.delete_dir(&[db, table]).await
    }

    /// Deletes every object under directory `names` of the root.
    async fn delete_dir(&self, names: &[&str]) -> Result<(), CatalogError> {
        let dir = self.dir_path(names);
        let keys: Vec<Path> = self
            .object_store
            .list(Some(&dir))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        for key in keys {
            match self.object_store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(local) = &self.local_dir {
            // The local store leaves empty directories behind.
            let _ = std::fs::remove_dir_all(names.iter().fold(local.clone(), |p, n| p.join(n)));
        }
        Ok(())
    }

    /// Stores the settings of database `db` (`<root>/<db>/_hearth.json`; the leading `_` keeps
    /// it apart from tables), so they survive restarts and reach fresh nodes. An empty database
    /// exists in the store by this file alone.
    pub async fn save_database_settings(&self, db: &Database) -> Result<(), CatalogError> {
        let settings = serde_json::json!({
            "retention_seconds": db.retention().map(|r| r.as_secs()),
            "dropped_tables": db.dropped(),
        });
        let key = self.dir_path(&[db.name()]).join(SETTINGS_FILE);
        self.object_store
            .put(&key, Bytes::from(settings.to_string()).into())
            .await?;
        Ok(())
    }

    /// Whether database `db` has its settings file.
    async fn has_settings(&self, db: &str) -> Result<bool, CatalogError> {
        let key = self.dir_path(&[db]).join(SETTINGS_FILE);
        match self.object_store.head(&key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn load_database_settings(&self, db: &Database) -> Result<(), CatalogError> {
        let key = self.dir_path(&[db.name()]).join(SETTINGS_FILE);
        let bytes = match self.object_store.get(&key).await {
            Ok(got) => got.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let settings: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| CatalogError::Unreadable {
                table: format!("{}/{SETTINGS_FILE}", db.name()),
                reason: e.to_string(),
            })?;
        let retention = settings["retention_seconds"]
            .as_u64()
            .map(std::time::Duration::from_secs);
        db.set_retention(retention);
        if let Some(dropped) = settings["dropped_tables"].as_object() {
            for (name, seq) in dropped {
                db.note_dropped(name, seq.as_u64().unwrap_or(0));
            }
        }
        Ok(())
    }

    /// Reads a file of a table.
    pub async fn get_table_file(
        &self,
        db: &str,
        table: &str,
        relative: &str,
    ) -> Result<Bytes, CatalogError> {
        let key = self.table_file_key(db, table, relative);
        Ok(self.object_store.get(&key).await?.bytes().await?)
    }

    /// Replaces files of `table` by others in one commit (see [`delta::commit_replace`]).
    pub async fn replace_files(
        &self,
        table: &Table,
        removed: &[FileMeta],
        added: &[FileMeta],
        stats: &[String],
        why: &delta::Replacement,
    ) -> Result<i64, CatalogError> {
        let full = format!("{}.{}", table.db(), table.name());
        let mut tables = self.tables.lock().await;
        let key = (table.db().to_string(), table.name().to_string());
        let delta_table = tables
            .get_mut(&key)
            .ok_or_else(|| CatalogError::Unreadable {
                table: full.clone(),
                reason: "the table has no Delta log to compact".into(),
            })?;
        delta::commit_replace(delta_table, &full, removed, added, stats, why).await
    }

    /// Deletes files of `table` that were replaced more than `grace` ago.
    pub async fn vacuum_table(
        &self,
        table: &Table,
        grace: std::time::Duration,
    ) -> Result<usize, CatalogError> {
        let full = format!("{}.{}", table.db(), table.name());
        let key = (table.db().to_string(), table.name().to_string());
        let mut tables = self.tables.lock().await;
        match tables.get_mut(&key) {
            Some(delta_table) => delta::vacuum(delta_table, &full, grace).await,
            None => Ok(0),
        }
    }

    /// The object store key of `relative` in the directory of view `view` of database `db`
    /// (`<db>/_views/<view>/<relative>`).
    pub fn view_file_key(&self, db: &str, view: &str, relative: &str) -> Path {
        let mut p = self.dir_path(&[db, VIEWS_DIR, view]);
        for part in relative.split('/') {
            p = p.join(part);
        }
        p
    }

    fn view_key(db: &str, view: &str) -> (String, String) {
        (db.to_string(), format!("{VIEWS_DIR}/{view}"))
    }

    /// The names of the views of database `db` that have a directory in the store.
    pub async fn view_names(&self, db: &str) -> Result<Vec<String>, CatalogError> {
        self.list_dirs(&self.dir_path(&[db, VIEWS_DIR])).await
    }

    /// Opens the Delta table of view `view` of database `db`, creating it with `columns` (which
    /// must include the `date` partition column) if it does not exist; returns its files.
    pub async fn open_view_table(
        &self,
        db: &str,
        view: &str,
        columns: Vec<deltalake::kernel::StructField>,
    ) -> Result<Vec<FileMeta>, CatalogError> {
        let full = format!("{db}.{view}");
        let url = self.dir_url(&[db, VIEWS_DIR, view])?;
        if let Some(dir) = &self.local_dir {
            std::fs::create_dir_all(dir.join(db).join(VIEWS_DIR).join(view)).map_err(|e| {
                CatalogError::Unreadable {
                    table: full.clone(),
                    reason: e.to_string(),
                }
            })?;
        }
        let table = match delta::open(self.object_store(), &url, &full).await? {
            Some(t) => t,
            None => delta::create(self.object_store(), &url, &full, columns).await?,
        };
        let files = delta::files_of(&table, &full, |_| crate::catalog::FileOrder::Unknown)?;
        self.tables
            .lock()
            .await
            .insert(Self::view_key(db, view), table);
        Ok(files)
    }

    /// Replaces files of view `view`'s Delta table in one commit: `removed` go, `added`
    /// (uploaded with [`Store::put_view_object`]) come, recorded as an overwrite of the rows
    /// matching `predicate`.
    pub async fn commit_view_files(
        &self,
        db: &str,
        view: &str,
        removed: &[FileMeta],
        added: &[FileMeta],
        stats: &[String],
        predicate: String,
    ) -> Result<i64, CatalogError> {
        let full = format!("{db}.{view}");
        let mut tables = self.tables.lock().await;
        let table =
            tables
                .get_mut(&Self::view_key(db, view))
                .ok_or_else(|| CatalogError::Unreadable {
                    table: full.clone(),
                    reason: "the view's Delta table is not open".into(),
                })?;
        let why = delta::Replacement::Overwrite { predicate };
        delta::commit_replace(table, &full, removed, added, stats, &why).await
    }

    /// The key of `relative` (`/`-separated, no empty, `.` or `..` segments) under the root.
    fn root_key(&self, relative: &str) -> Path {
        relative
            .split('/')
            .fold(self.root.clone(), |p, part| p.join(part))
    }

    /// Stores `bytes` as `relative` under the root (Hearth's own objects, such as
    /// `_cron/state.json`), replacing it whole.
    pub async fn put_root_object(&self, relative: &str, bytes: Bytes) -> Result<(), CatalogError> {
        self.put_object(&self.root_key(relative), bytes).await
    }

    /// Reads `relative` under the root; `None` if it does not exist.
    pub async fn get_root_object(&self, relative: &str) -> Result<Option<Bytes>, CatalogError> {
        self.get_if_exists(&self.root_key(relative)).await
    }

    /// The bytes at `key`; `None` if there is no such object.
    async fn get_if_exists(&self, key: &Path) -> Result<Option<Bytes>, CatalogError> {
        match self.object_store.get(key).await {
            Ok(got) => Ok(Some(got.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `bytes` at `key` (from [`Store::export_key`]) in one put.
    pub async fn put_object(&self, key: &Path, bytes: Bytes) -> Result<(), CatalogError> {
        self.object_store.put(key, bytes.into()).await?;
        Ok(())
    }

    /// Where an export to `target` (`COPY ... TO 'target'`) may be written: a path relative to
    /// the root (`exports/invoices/2026-11.csv`), or an `s3://` or `file://` URL under the root.
    /// Refused, with the reason: anything outside the root, `.` / `..` / empty segments,
    /// segments starting with `_` or `.` (Hearth's and Delta's own), and the directories of the
    /// `databases` (their tables and views).
    pub fn export_key(&self, target: &str, databases: &[String]) -> Result<Path, String> {
        let relative: Vec<String> = if target.contains("://") {
            let url = Url::parse(target).map_err(|e| format!("not a URL: {e}"))?;
            let root = self.url.as_str();
            if url.scheme() != self.url.scheme() || !url.as_str().starts_with(root) {
                return Err(format!("outside the object store {root}"));
            }
            let rest = &url.as_str()[root.len()..];
            if rest.is_empty() || rest.ends_with('/') {
                return Err("names a directory, not a file".into());
            }
            Path::from_url_path(rest)
                .map_err(|e| format!("not a path of the store: {e}"))?
                .parts()
                .map(|p| p.as_ref().to_string())
                .collect()
        } else if target.starts_with('/') || target.starts_with('\\') {
            return Err("a server path; name a path relative to the object store".into());
        } else {
            target.split('/').map(str::to_string).collect()
        };
        if relative.last().is_some_and(String::is_empty) {
            return Err("names a directory, not a file".into());
        }
        for part in &relative {
            if part.is_empty() || part == "." || part == ".." {
                return Err("empty, '.' or '..' path segments are not allowed".into());
            }
            if part.starts_with('_') || part.starts_with('.') {
                return Err(format!(
                    "segment '{part}' starts with '_' or '.' (reserved for Hearth and Delta Lake)"
                ));
            }
            if part.contains('\\') || part.chars().any(char::is_control) {
                return Err(format!("segment '{part}' holds '\\' or control characters"));
            }
        }
        if let Some(first) = relative.first()
            && databases.iter().any(|d| d == first)
        {
            return Err(format!(
                "'{first}' is the directory of database \"{first}\", where only its tables go"
            ));
        }
        Ok(relative
            .iter()
            .fold(self.root.clone(), |p, part| p.join(part.as_str())))
    }

    /// Stores `bytes` as `relative` in the directory of view `view` of database `db`.
    pub async fn put_view_object(
        &self,
        db: &str,
        view: &str,
        relative: &str,
        bytes: Bytes,
    ) -> Result<(), CatalogError> {
        self.put_object(&self.view_file_key(db, view, relative), bytes)
            .await
    }

    /// Reads `relative` from the directory of view `view` of database `db`; `None` if it does
    /// not exist.
    pub async fn get_view_object(
        &self,
        db: &str,
        view: &str,
        relative: &str,
    ) -> Result<Option<Bytes>, CatalogError> {
        self.get_if_exists(&self.view_file_key(db, view, relative))
            .await
    }

    /// Deletes `relative` from the directory of view `view` (nothing if it does not exist).
    pub async fn delete_view_object(
        &self,
        db: &str,
        view: &str,
        relative: &str,
    ) -> Result<(), CatalogError> {
        let key = self.view_file_key(db, view, relative);
        match self.object_store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes everything in the directory of view `view` of database `db`: its Delta table
    /// and its files.
    pub async fn drop_view_dir(&self, db: &str, view: &str) -> Result<(), CatalogError> {
        self.tables.lock().await.remove(&Self::view_key(db, view));
        self.delete_dir(&[db, VIEWS_DIR, view]).await
    }

    /// Deletes the files of view `view`'s Delta table that were replaced more than `grace` ago,
    /// and uploads no commit refers to (the caller makes sure none is waiting for its commit).
    pub async fn vacuum_view(
        &self,
        db: &str,
        view: &str,
        grace: std::time::Duration,
    ) -> Result<usize, CatalogError> {
        let full = format!("{db}.{view}");
        let mut tables = self.tables.lock().await;
        match tables.get_mut(&Self::view_key(db, view)) {
            Some(table) => delta::vacuum(table, &full, grace).await,
            None => Ok(0),
        }
    }

    /// Loads every Delta table under the root into `catalog`.
    pub async fn load(&self, catalog: &Catalog) -> Result<(), CatalogError> {
        let mut loaded = 0usize;
        for db_name in self.list_dirs(&self.root).await? {
            if crate::names::check_database(&db_name).is_err() {
                continue;
            }
            let dirs = self.list_dirs(&self.dir_path(&[db_name.as_str()])).await?;
            let mut tables = Vec::new();
            for table_name in &dirs {
                if crate::names::check_table(table_name).is_ok()
                    && self.has_log(&db_name, table_name).await?
                {
                    tables.push(table_name.clone());
                }
            }
            // A database is a directory with tables, views or its settings file; any other
            // directory (exports written under the root, say) is not one.
            if tables.is_empty()
                && !dirs.iter().any(|d| d == VIEWS_DIR)
                && !self.has_settings(&db_name).await?
            {
                continue;
            }
            let db = catalog.database_or_create(&db_name)?;
            self.load_database_settings(&db).await?;
            for table_name in tables {
                let full = format!("{db_name}.{table_name}");
                let url = self.table_url(&db_name, &table_name)?;
                let Some(t) = delta::open(self.object_store(), &url, &full).await? else {
                    warn!(table = %full, "directory without a Delta log ignored");
                    continue;
                };
                let state = delta::read_state(&t, &full).await?;
                db.insert_table(Table::new(&db_name, &table_name, state));
                self.tables
                    .lock()
                    .await
                    .insert((db_name.clone(), table_name.clone()), t);
                loaded += 1;
            }
        }
        info!(tables = loaded, root = %self.url, "catalog loaded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dbs() -> Vec<String> {
        vec!["home".to_string()]
    }

    #[test]
    fn exports_stay_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = format!("file://{}", dir.path().display());
        let store = Store::new(&root, &StoreOptions::default()).unwrap();
        let prefix = dir.path().to_str().unwrap().trim_start_matches('/');
        let ok = |target: &str| store.export_key(target, &dbs()).unwrap().to_string();
        assert_eq!(
            ok("exports/invoices/2026-11.csv"),
            format!("{prefix}/exports/invoices/2026-11.csv")
        );
        assert_eq!(
            ok(&format!("{root}/exports/a%20b.parquet")),
            format!("{prefix}/exports/a b.parquet")
        );
        for (bad, why) in [
            ("/etc/passwd", "server path"),
            ("file:///etc/passwd", "outside"),
            ("s3://bucket/x.csv", "outside"),
            ("exports/../../x.csv", "'..'"),
            ("exports//x.csv", "empty"),
            ("exports/", "directory"),
            ("_cron/state.json", "reserved"),
            ("exports/.hidden", "reserved"),
            (
                "home/energy/_delta_log/00000000000000000009.json",
                "reserved",
            ),
            ("home/x.csv", "database \"home\""),
        ] {
            let e = store.export_key(bad, &dbs()).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn exports_to_the_bucket_under_its_prefix() {
        let store = Store::new(
            "s3://bucket/hearth",
            &StoreOptions {
                s3_endpoint: Some("https://127.0.0.1:1".into()),
            },
        )
        .unwrap();
        let key = store
            .export_key("s3://bucket/hearth/exports/x.csv", &dbs())
            .unwrap();
        assert_eq!(key.to_string(), "hearth/exports/x.csv");
        assert_eq!(
            store
                .export_key("exports/x.csv", &dbs())
                .unwrap()
                .to_string(),
            "hearth/exports/x.csv"
        );
        for bad in [
            "s3://bucket/other/x.csv",
            "s3://other/hearth/x.csv",
            "s3://bucket/hearthx/y",
        ] {
            assert!(store.export_key(bad, &dbs()).is_err(), "{bad}");
        }
    }
}
