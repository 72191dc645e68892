//! Query errors, with the class Prometheus's HTTP API reports them as.

/// Why a query failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum QueryError {
    /// The query text does not parse or is ill-typed (HTTP 400, `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed (HTTP 422, `execution`): e.g. many-to-many matching, a limit hit.
    #[error("{0}")]
    Execution(String),
    /// The query ran past its timeout (HTTP 503, `timeout`).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The store failed (HTTP 500, `internal`).
    #[error("{0}")]
    Internal(String),
}

impl QueryError {
    /// The `errorType` Prometheus's HTTP API reports for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Internal(_) => "internal",
        }
    }

    /// The HTTP status Prometheus answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            QueryError::BadData(_) => 400,
            QueryError::Execution(_) => 422,
            QueryError::Timeout(_) => 503,
            QueryError::Internal(_) => 500,
        }
    }
}
