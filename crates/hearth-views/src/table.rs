//! A view as SQL sees it: [`ViewTable`], whose scan merges the materialized buckets with the
//! pending ones computed from the source at that moment, so a view always equals its
//! defining query over the source.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use hearth_query::provider::column_bounds;

use crate::Views;
use crate::exec::{final_rows, live_partial, stored_states};
use crate::ranges::Ranges;
use crate::view::View;

/// A materialized view as a table.
#[derive(Debug)]
pub struct ViewTable {
    view: Arc<View>,
    views: Arc<Views>,
}

impl ViewTable {
    pub(crate) fn new(view: Arc<View>, views: Arc<Views>) -> ViewTable {
        ViewTable { view, views }
    }

    /// The view's name.
    pub fn name(&self) -> &str {
        &self.view.name
    }

    /// The view's database.
    pub fn db(&self) -> &str {
        &self.view.db
    }

    /// The view's time (bucket) column.
    pub fn time_column(&self) -> &str {
        self.view.time_column()
    }
}

fn external(e: crate::error::ViewError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl TableProvider for ViewTable {
    fn schema(&self) -> SchemaRef {
        self.view.output_schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
            return Err(DataFusionError::Plan(
                "a materialized view is read in a Hearth session".into(),
            ));
        };
        let view = &self.view;
        let shape = self.views.shape(view).await.map_err(external)?;
        let b = view.bucketing;
        // Buckets the query's conditions on the time column allow.
        let (from, to) = column_bounds(filters, view.time_column());
        let lo = if from == i64::MIN {
            from
        } else {
            b.start_at_or_after(from)
        };
        let hi = if to == i64::MAX {
            to
        } else {
            b.end(b.start(to))
        };
        let snapshot = view.snapshot();
        // Pending buckets are computed from the source now; so are the buckets a retention
        // period cuts through (their source rows vanish as time passes).
        let mut live = snapshot.pending.clip(lo, hi);
        let mut stored_from = lo;
        if let Some((visible, complete)) = self.views.cutoffs(view) {
            live.extend(&Ranges::of(visible.max(lo), complete.min(hi)));
            stored_from = stored_from.max(complete);
        }
        let mut keep = Ranges::of(stored_from, hi);
        keep.subtract(&live);
        let (partial, live_plan) = live_partial(state, &shape, &live).await?;
        let stored = stored_states(
            state,
            &shape,
            self.views.store(),
            &view.db,
            &view.name,
            &snapshot.files,
            keep,
        )?;
        let rows = final_rows(state, &shape, &partial, vec![stored, live_plan])?;
        match projection {
            None => Ok(rows),
            Some(columns) => {
                let schema = rows.schema();
                let exprs: Vec<(Arc<dyn datafusion::physical_expr::PhysicalExpr>, String)> =
                    columns
                        .iter()
                        .map(|&i| {
                            let name = schema.field(i).name().clone();
                            (Arc::new(Column::new(&name, i)) as _, name)
                        })
                        .collect();
                Ok(Arc::new(ProjectionExec::try_new(exprs, rows)?))
            }
        }
    }
}
