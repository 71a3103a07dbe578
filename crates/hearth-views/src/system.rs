//! `system.views`: one row per continuous view of the database, computed when scanned.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use hearth_catalog::schema::{TIME_ZONE, time_type};

use crate::Views;

/// Name of the table in schema `system`.
pub const VIEWS_TABLE: &str = "views";

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("view_name", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("definition", DataType::Utf8, false),
        Field::new("bucket_width", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("backfill_progress", DataType::Float64, true),
        Field::new("materialized_watermark", time_type(), true),
        Field::new("buckets_pending", DataType::Int64, false),
        Field::new("late_rows", DataType::Int64, false),
        Field::new("refreshes", DataType::Int64, false),
        Field::new("last_refresh_at", time_type(), true),
        Field::new("last_refresh_ms", DataType::Float64, true),
        Field::new("materialized_rows", DataType::Int64, false),
        Field::new("files", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
    ]))
}

/// A width in microseconds as PostgreSQL prints an interval (`00:01:00`, `1 day`,
/// `7 days 12:00:00`).
pub fn interval_text(micros: i64) -> String {
    let day = 86_400_000_000;
    let (days, rest) = (micros / day, micros % day);
    let secs = rest / 1_000_000;
    let frac = rest % 1_000_000;
    let clock = if frac == 0 {
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!(
            "{:02}:{:02}:{:02}.{:06}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            frac
        )
        .trim_end_matches('0')
        .to_string()
    };
    match (days, rest) {
        (0, _) => clock,
        (1, 0) => "1 day".into(),
        (d, 0) => format!("{d} days"),
        (1, _) => format!("1 day {clock}"),
        (d, _) => format!("{d} days {clock}"),
    }
}

/// `system.views` of one database.
#[derive(Debug)]
pub struct ViewsTable {
    db: String,
    views: Arc<Views>,
}

impl ViewsTable {
    pub(crate) fn new(db: &str, views: Arc<Views>) -> ViewsTable {
        ViewsTable {
            db: db.to_string(),
            views,
        }
    }

    fn batch(&self) -> Result<RecordBatch> {
        let mut names = Vec::new();
        let mut sources = Vec::new();
        let mut definitions = Vec::new();
        let mut widths = Vec::new();
        let mut statuses = Vec::new();
        let mut progress = Vec::new();
        let mut watermarks = Vec::new();
        let mut pending = Vec::new();
        let mut late = Vec::new();
        let mut refreshes = Vec::new();
        let mut refreshed_at = Vec::new();
        let mut refresh_ms = Vec::new();
        let mut rows = Vec::new();
        let mut files = Vec::new();
        let mut bytes = Vec::new();
        for view in self.views.list(&self.db) {
            let report = self.views.report(&view);
            names.push(view.name.clone());
            sources.push(view.def.source.clone());
            definitions.push(view.def.query.clone());
            widths.push(interval_text(view.bucketing.width()));
            statuses.push(report.status);
            progress.push(report.backfill);
            watermarks.push(view.watermark());
            pending.push(i64::try_from(report.pending).unwrap_or(i64::MAX));
            late.push(view.stats.late_rows.load(Ordering::Relaxed) as i64);
            let n = view.stats.refreshes.load(Ordering::Relaxed);
            refreshes.push(n as i64);
            let at = view.stats.last_refresh_at.load(Ordering::Relaxed);
            refreshed_at.push((at > 0).then_some(at as i64));
            refresh_ms.push(
                (n > 0).then(|| {
                    view.stats.last_refresh_micros.load(Ordering::Relaxed) as f64 / 1000.0
                }),
            );
            let (r, b, f) = view.materialized();
            rows.push(r as i64);
            bytes.push(b as i64);
            files.push(f as i64);
        }
        let times = |v: Vec<Option<i64>>| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(v).with_timezone(TIME_ZONE))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(sources)),
            Arc::new(StringArray::from(definitions)),
            Arc::new(StringArray::from(widths)),
            Arc::new(StringArray::from(statuses)),
            Arc::new(Float64Array::from(progress)),
            times(watermarks),
            Arc::new(Int64Array::from(pending)),
            Arc::new(Int64Array::from(late)),
            Arc::new(Int64Array::from(refreshes)),
            times(refreshed_at),
            Arc::new(Float64Array::from(refresh_ms)),
            Arc::new(Int64Array::from(rows)),
            Arc::new(Int64Array::from(files)),
            Arc::new(Int64Array::from(bytes)),
        ];
        Ok(RecordBatch::try_new(schema(), columns)?)
    }
}

#[async_trait]
impl TableProvider for ViewsTable {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![self.batch()?]],
            schema(),
            projection.cloned(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::interval_text;

    #[test]
    fn intervals_print_as_postgresql_does() {
        assert_eq!(interval_text(60_000_000), "00:01:00");
        assert_eq!(interval_text(15 * 60_000_000), "00:15:00");
        assert_eq!(interval_text(86_400_000_000), "1 day");
        assert_eq!(interval_text(7 * 86_400_000_000), "7 days");
        assert_eq!(
            interval_text(86_400_000_000 + 3_600_000_000),
            "1 day 01:00:00"
        );
        assert_eq!(interval_text(1_500_000), "00:00:01.5");
    }
}
