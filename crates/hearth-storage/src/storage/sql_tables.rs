//! Rows and tables from SQL: `INSERT`/`COPY` rows, `CREATE TABLE`, `DROP TABLE`.

use super::*;

impl Storage {
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
        self.admit_write().await?;
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
}
