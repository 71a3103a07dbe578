//! The object store holding Hearth's Delta tables, and the loading of the catalog from it.
//!
//! Layout under the root URL: `<db>/<table>/_delta_log/…` and `<db>/<table>/date=YYYY-MM-DD/…`.
//! Only `file://` roots are supported in this version; the root directory is created if missing.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use deltalake::DeltaTable;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tracing::{info, warn};
use url::Url;

use crate::catalog::{Catalog, FileMeta, Table};
use crate::delta;
use crate::error::CatalogError;
use crate::schema::TableSchema;

/// The object store root and the open Delta tables.
pub struct Store {
    url: Url,
    dir: PathBuf,
    object_store: Arc<dyn ObjectStore>,
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

impl Store {
    /// Opens the store at `url` (`file:///absolute/path`).
    pub fn new(url: &str) -> Result<Store, CatalogError> {
        let invalid = |reason: &str| CatalogError::InvalidStoreUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        match parsed.scheme() {
            "file" => {}
            "s3" => {
                return Err(invalid(
                    "s3:// object stores are not supported by this build yet",
                ));
            }
            other => {
                return Err(invalid(&format!(
                    "unsupported scheme {other:?}; use file:///path"
                )));
            }
        }
        let dir = parsed
            .to_file_path()
            .map_err(|()| invalid("not an absolute local path"))?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| invalid(&format!("cannot create directory: {e}")))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| invalid(&format!("cannot resolve directory: {e}")))?;
        let root = Path::from_filesystem_path(&dir).map_err(|e| invalid(&e.to_string()))?;
        let url =
            Url::from_directory_path(&dir).map_err(|()| invalid("not an absolute local path"))?;
        Ok(Store {
            url,
            dir,
            object_store: Arc::new(LocalFileSystem::new()),
            root,
            tables: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The root URL (with a trailing slash).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The object store (rooted at the file system root for `file://`).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.object_store.clone()
    }

    /// The URL DataFusion registers the object store under (`file://`).
    pub fn object_store_url(&self) -> &'static str {
        "file://"
    }

    /// The object store key of a file of a table, e.g. `/data/objects/home/energy/date=…/x`
    /// as a store path.
    pub fn table_file_key(&self, db: &str, table: &str, relative: &str) -> Path {
        let mut p = self.root.clone().join(db).join(table);
        for part in relative.split('/') {
            p = p.join(part);
        }
        p
    }

    fn table_dir(&self, db: &str, table: &str) -> PathBuf {
        self.dir.join(db).join(table)
    }

    fn table_url(&self, db: &str, table: &str) -> Result<Url, CatalogError> {
        let dir = self.table_dir(db, table);
        Url::from_directory_path(&dir).map_err(|()| CatalogError::InvalidStoreUrl {
            url: dir.display().to_string(),
            reason: "not an absolute path".into(),
        })
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
        let key = (table.db().to_string(), table.name().to_string());
        let full = format!("{}.{}", table.db(), table.name());
        let mut tables = self.tables.lock().await;
        if !tables.contains_key(&key) {
            let url = self.table_url(table.db(), table.name())?;
            std::fs::create_dir_all(self.table_dir(table.db(), table.name())).map_err(|e| {
                CatalogError::Unreadable {
                    table: full.clone(),
                    reason: e.to_string(),
                }
            })?;
            let dir = self.table_dir(table.db(), table.name());
            let maybe_exists = dir.join("_delta_log").exists();
            let t = delta::open_or_create(&url, &full, schema, maybe_exists).await?;
            tables.insert(key.clone(), t);
        }
        let delta_table = tables.get_mut(&key).expect("inserted above");
        delta::commit(delta_table, &full, schema, files, stats, seq).await
    }

    /// Loads every Delta table under the root into `catalog`.
    pub async fn load(&self, catalog: &Catalog) -> Result<(), CatalogError> {
        let mut loaded = 0usize;
        for db_name in list_dirs(&self.dir)? {
            if crate::names::check_database(&db_name).is_err() {
                continue;
            }
            let db = catalog.database_or_create(&db_name)?;
            for table_name in list_dirs(&self.dir.join(&db_name))? {
                if crate::names::check_table(&table_name).is_err() {
                    continue;
                }
                let full = format!("{db_name}.{table_name}");
                let url = self.table_url(&db_name, &table_name)?;
                let Some(t) = delta::open(&url, &full).await? else {
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

fn list_dirs(dir: &FsPath) -> Result<Vec<String>, CatalogError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(CatalogError::Unreadable {
                table: dir.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    out.sort();
    Ok(out)
}
