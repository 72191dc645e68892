//! The plugin host: loading, validating, limiting, calling and hot-reloading wasm components.
//!
//! - [`inspect`] reads a component's kind and interface version without compiling it.
//! - [`engine`] builds the wasmtime engines of the two code tiers (baseline first, optimized
//!   in the background; pooling allocator, epoch interruption) and the linkers holding WASI
//!   and ward's host interfaces; [`cache`] keeps optimized code on disk.
//! - [`loaded`] is one compiled, validated plugin and the per-call sandbox ([`state`],
//!   [`limits`]) it runs in.
//! - [`registry`] holds what is loaded and its call statistics; [`reload`] keeps it in step
//!   with the plugins directory.

pub mod bindings;
pub mod cache;
pub mod engine;
pub mod inspect;
pub mod limits;
pub mod loaded;
pub mod registry;
pub mod reload;
pub mod state;

pub use engine::{DEFAULT_KEEP_RESIDENT, Host, HostOptions, Tier};
pub use inspect::{InspectError, Interface};
pub use limits::Limits;
pub use loaded::{Description, LoadedPlugin, ProbeOutcome, ProbeStatus};
pub use registry::{PluginState, PluginStatus, Registry};

use std::fmt;

/// The four plugin kinds, one per WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Health checks (`ward:plugin/prober`).
    Prober,
    /// Target discovery (`ward:plugin/discoverer`).
    Discoverer,
    /// Alerting rules (`ward:plugin/alert-rule`).
    AlertRule,
    /// Notification delivery (`ward:plugin/notifier`).
    Notifier,
}

impl Kind {
    /// The kind whose interface is named `name` in the `ward:plugin` package.
    pub fn from_interface(name: &str) -> Option<Self> {
        Some(match name {
            "prober" => Self::Prober,
            "discoverer" => Self::Discoverer,
            "alert-rule" => Self::AlertRule,
            "notifier" => Self::Notifier,
            _ => return None,
        })
    }

    /// The WIT interface (and world) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prober => "prober",
            Self::Discoverer => "discoverer",
            Self::AlertRule => "alert-rule",
            Self::Notifier => "notifier",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a plugin file could not be loaded. The previous version, if any, keeps serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {error}")]
    Read {
        /// The plugin file.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file is not a component this host serves.
    #[error("{path}: {error}")]
    Inspect {
        /// The plugin file.
        path: String,
        /// What is wrong with it.
        error: InspectError,
    },
    /// wasmtime refused to compile or link it (e.g. it imports something the host lacks).
    #[error("{path}: {message}")]
    Compile {
        /// The plugin file.
        path: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// `describe` failed or returned something inconsistent.
    #[error("{path}: describe: {message}")]
    Describe {
        /// The plugin file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Why one plugin call failed. Every variant is the plugin's failure, never a verdict on the
/// target: the scheduler reports these as plugin errors and does not write `probe_success`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The call ran past its deadline and was stopped.
    #[error("deadline of {0:?} exceeded")]
    Timeout(std::time::Duration),
    /// The plugin tried to grow its memory past the cap.
    #[error("memory limit exceeded: tried to grow linear memory to {desired} bytes (cap {cap})")]
    Memory {
        /// Bytes asked for.
        desired: usize,
        /// The cap.
        cap: usize,
    },
    /// Another resource cap was hit (tables, instances).
    #[error("resource limit exceeded: {0}")]
    Resource(String),
    /// The plugin ran out of fuel.
    #[error("fuel exhausted")]
    Fuel,
    /// The plugin trapped (panic, unreachable, out-of-bounds access).
    #[error("trap: {0}")]
    Trap(String),
    /// The plugin returned something the host does not accept (too large, invalid names).
    #[error("bad output: {0}")]
    Output(String),
    /// The plugin could not be instantiated (e.g. the instance pool is exhausted).
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    /// The plugin returned an error of its own (`config`, `permission`, ...).
    #[error("{kind} error: {message}")]
    Guest {
        /// The WIT error variant: config, network, timeout, protocol, permission, internal.
        kind: &'static str,
        /// The plugin's message.
        message: String,
    },
    /// The plugin is of another kind than the call needs.
    #[error("plugin is a {actual}, not a {wanted}")]
    WrongKind {
        /// What the call needs.
        wanted: Kind,
        /// What the plugin is.
        actual: Kind,
    },
}

impl CallError {
    /// A short, stable label for metrics and the API: `timeout`, `memory`, `resource`, `fuel`,
    /// `trap`, `output`, `instantiate`, `wrong_kind` or the guest error variant.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Memory { .. } => "memory",
            Self::Resource(_) => "resource",
            Self::Fuel => "fuel",
            Self::Trap(_) => "trap",
            Self::Output(_) => "output",
            Self::Instantiate(_) => "instantiate",
            Self::Guest { kind, .. } => kind,
            Self::WrongKind { .. } => "wrong_kind",
        }
    }
}
