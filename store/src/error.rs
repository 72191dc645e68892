//! The store's error type.

use std::path::PathBuf;

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
    /// The underlying LSM engine failed (I/O error, full disk, ...). After a failed write to
    /// its journal, fjall refuses further writes until the store is reopened.
    #[error("storage engine error in {path}: {source}")]
    Storage {
        /// The store's directory.
        path: PathBuf,
        /// What fjall said.
        source: fjall::Error,
    },
    /// A file-system operation outside fjall failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory holds a store written in another format version.
    #[error(
        "{path} holds a ward store in format version {found}, but this ward reads version \
         {expected}: open it with a matching ward, or move it aside to start empty"
    )]
    IncompatibleFormat {
        /// The store's directory.
        path: PathBuf,
        /// Version found on disk.
        found: u32,
        /// Version this build reads and writes.
        expected: u32,
    },
    /// The directory is not empty and does not hold a ward store.
    #[error("{path} is not a ward store (no format marker); refusing to write into it")]
    NotAStore {
        /// The directory.
        path: PathBuf,
    },
    /// Stored data could not be decoded.
    #[error("corrupt data in store: {0}")]
    Corrupt(String),
    /// An append batch is larger than [`crate::StoreOptions::max_batch_samples`]; nothing
    /// from it was written.
    #[error("batch of {got} samples exceeds the limit of {limit}; nothing was written")]
    BatchTooLarge {
        /// Samples in the batch.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// A select would load more samples than its limit allows.
    #[error("query would load more than {limit} samples")]
    TooManySamples {
        /// The limit.
        limit: usize,
    },
    /// A select would return more series than its limit allows.
    #[error("query would return more than {limit} series")]
    TooManySeries {
        /// The limit.
        limit: usize,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
}

/// `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
