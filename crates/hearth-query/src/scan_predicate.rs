//! Each condition once in a Parquet scan's predicate.
//!
//! Below a merging aggregate the raw table's scan carries the query's conditions on tags and
//! time as its predicate (see [`provider`](crate::provider)), and DataFusion's physical filter
//! pushdown, which passes conditions on grouping columns through the aggregate, then appends the
//! same conditions to that predicate again: every statistic, page index and row would be tested
//! twice (`predicate=A AND B AND A AND B` in `EXPLAIN`). This rule, run after DataFusion's, keeps
//! the first of equal conditions; a scan without repeats (every scan where nothing is merged) is
//! left as it is.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::utils::{conjunction, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// Removes repeated conditions from the predicates of Parquet scans.
#[derive(Debug, Default)]
pub struct DistinctScanConditions;

impl PhysicalOptimizerRule for DistinctScanConditions {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match without_repeats(&node) {
                Some(scan) => Transformed::yes(scan),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "distinct_scan_conditions"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `node` with its predicate's repeated conditions removed, if it is a Parquet scan that has any.
fn without_repeats(node: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let exec = node.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
    let source = config.file_source.downcast_ref::<ParquetSource>()?;
    let predicate = source.filter()?;
    let conditions = split_conjunction(&predicate);
    let total = conditions.len();
    let mut kept: Vec<&Arc<dyn PhysicalExpr>> = Vec::with_capacity(conditions.len());
    for condition in conditions {
        if !kept.iter().any(|k| k.as_ref() == condition.as_ref()) {
            kept.push(condition);
        }
    }
    if kept.len() == total {
        return None;
    }
    let mut config = config.clone();
    config.file_source = Arc::new(source.with_predicate(conjunction(kept.into_iter().cloned())));
    Some(DataSourceExec::from_data_source(config))
}
