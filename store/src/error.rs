//! The store's error type.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label name breaks Prometheus's rules (`[a-zA-Z_][a-zA-Z0-9_]*`).
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
    /// A metric name breaks Prometheus's rules (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    /// The same label name appears twice in one label set.
    #[error("duplicate label name {0:?}")]
    DuplicateLabel(String),
    /// A series has no `__name__` label.
    #[error("series has no metric name")]
    MissingMetricName,
    /// A regex matcher does not compile.
    #[error("invalid regex {regex:?} in matcher: {reason}")]
    InvalidRegex {
        /// The regex as given.
        regex: String,
        /// What the regex engine said.
        reason: String,
    },
}

/// `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
