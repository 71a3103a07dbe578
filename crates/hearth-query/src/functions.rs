//! SQL functions Hearth adds or replaces.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

/// The PostgreSQL version Hearth reports to clients (they pick their catalog queries by it).
pub const PG_VERSION: &str = "16.6";

/// The text of `version()`: PostgreSQL's shape, so drivers that parse it (SQLAlchemy) accept it.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {PG_VERSION} (Hearth {}) on {}-{}, compiled by rustc, DataFusion {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        datafusion::DATAFUSION_VERSION
    )
}

/// `version()`, replacing DataFusion's.
pub fn version_udf() -> ScalarUDF {
    let v = version_string();
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(v.clone()))))
        }),
    )
}
