//! Read-only PromQL over ward's store, for alert rules granted
//! [`Capability::Query`](crate::Capability::Query).
//!
//! ```no_run
//! let value = ward_sdk::query::instant("up", 1_700_000_000_000)?;
//! for series in value.series() {
//!     println!("{:?} = {:?}", series.labels, series.points.last());
//! }
//! # Ok::<(), ward_sdk::query::QueryError>(())
//! ```

use crate::bindings::host::ward::plugin::query as wit;
use crate::{Error, Label};

/// One sample of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value.
    pub value: f64,
}

/// A series: its labels and points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels, `__name__` included when it has one.
    pub labels: Vec<Label>,
    /// Its points, oldest first. An instant vector has exactly one.
    pub points: Vec<Point>,
}

impl Series {
    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|label| label.name == name)
            .map(|label| label.value.as_str())
    }
}

/// The result of a PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar.
    Scalar(Point),
    /// A string.
    String(String),
    /// An instant vector: each series holds exactly one point.
    Vector(Vec<Series>),
    /// A range vector.
    Matrix(Vec<Series>),
}

impl Value {
    /// The series of a vector or matrix; none for a scalar or string.
    pub fn series(&self) -> &[Series] {
        match self {
            Self::Vector(series) | Self::Matrix(series) => series,
            Self::Scalar(_) | Self::String(_) => &[],
        }
    }

    /// Whether the result holds no data: an empty vector or matrix.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Vector(series) | Self::Matrix(series) => series.is_empty(),
            Self::Scalar(_) | Self::String(_) => false,
        }
    }
}

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The expression does not parse; the text gives the position.
    #[error("bad query: {0}")]
    BadQuery(String),
    /// Evaluation failed or exceeded a limit (samples, series).
    #[error("query failed: {0}")]
    Execution(String),
    /// The query took too long.
    #[error("query timed out: {0}")]
    Timeout(String),
    /// The plugin was not granted `query`.
    #[error("query not granted: {0}")]
    Permission(String),
}

impl From<QueryError> for Error {
    fn from(error: QueryError) -> Self {
        let message = error.to_string();
        match error {
            QueryError::BadQuery(_) => Self::Config(message),
            QueryError::Execution(_) => Self::Internal(message),
            QueryError::Timeout(_) => Self::Timeout(message),
            QueryError::Permission(_) => Self::Permission(message),
        }
    }
}

/// Evaluate `promql` at `time_ms` (ms since the Unix epoch).
pub fn instant(promql: &str, time_ms: i64) -> Result<Value, QueryError> {
    wit::instant(promql, time_ms)
        .map(from_wit_value)
        .map_err(from_wit_error)
}

/// Evaluate `promql` over [`start_ms`, `end_ms`] every `step_ms`.
pub fn range(promql: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<Value, QueryError> {
    wit::range(promql, start_ms, end_ms, step_ms)
        .map(from_wit_value)
        .map_err(from_wit_error)
}

fn from_wit_point(point: wit::Point) -> Point {
    Point {
        timestamp_ms: point.timestamp_ms,
        value: point.value,
    }
}

fn from_wit_series(series: Vec<wit::Series>) -> Vec<Series> {
    series
        .into_iter()
        .map(|series| Series {
            labels: crate::label::from_wit(series.labels),
            points: series.points.into_iter().map(from_wit_point).collect(),
        })
        .collect()
}

fn from_wit_value(value: wit::Value) -> Value {
    match value {
        wit::Value::Scalar(point) => Value::Scalar(from_wit_point(point)),
        wit::Value::String(string) => Value::String(string),
        wit::Value::Vector(series) => Value::Vector(from_wit_series(series)),
        wit::Value::Matrix(series) => Value::Matrix(from_wit_series(series)),
    }
}

fn from_wit_error(error: wit::QueryError) -> QueryError {
    match error {
        wit::QueryError::BadQuery(m) => QueryError::BadQuery(m),
        wit::QueryError::Execution(m) => QueryError::Execution(m),
        wit::QueryError::Timeout(m) => QueryError::Timeout(m),
        wit::QueryError::Permission(m) => QueryError::Permission(m),
    }
}
