//! The error a plugin call returns, and the SDK's `Result` alias.

use crate::bindings::host::ward::plugin::types as wit;

/// Why a plugin call could not be carried out.
///
/// A target that answers wrongly is not an error: a prober reports it as
/// [`Status::Down`](crate::Status::Down). An error means the probe itself failed: the config is
/// invalid, the host refused an operation, the plugin hit a bug. Each variant carries a
/// lowercase message naming what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config document is invalid; the message names the field.
    #[error("invalid config: {0}")]
    Config(String),
    /// A network operation failed (refused, unreachable, name not found, reset).
    #[error("network error: {0}")]
    Network(String),
    /// The plugin gave up waiting (its own timeout, shorter than ward's deadline).
    #[error("timed out: {0}")]
    Timeout(String),
    /// The peer answered something the plugin cannot make sense of.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The host refused an operation: it is outside the operator's grants.
    #[error("permission denied: {0}")]
    Permission(String),
    /// A bug or unexpected state inside the plugin.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The message, without the prefix naming the kind of error.
    pub fn message(&self) -> &str {
        match self {
            Self::Config(m)
            | Self::Network(m)
            | Self::Timeout(m)
            | Self::Protocol(m)
            | Self::Permission(m)
            | Self::Internal(m) => m,
        }
    }
}

impl From<Error> for wit::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Config(m) => Self::Config(m),
            Error::Network(m) => Self::Network(m),
            Error::Timeout(m) => Self::Timeout(m),
            Error::Protocol(m) => Self::Protocol(m),
            Error::Permission(m) => Self::Permission(m),
            Error::Internal(m) => Self::Internal(m),
        }
    }
}
