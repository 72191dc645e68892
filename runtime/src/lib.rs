//! ward: a monitoring runtime in one binary.
//!
//! This crate is the host: it loads sandboxed WebAssembly plugins ([`plugin`]), offers them
//! host capabilities under the operator's grants ([`capability`]), runs checks on a schedule
//! ([`scheduler`]) writing results to the store (`ward-store`), keeps services running
//! ([`supervisor`]), samples the machine and processes ([`sampler`], over `ward-sampler`),
//! and serves the HTTP API ([`api`]). [`daemon`] wires them together for `ward run`;
//! [`config`] is the config file.
//!
//! It is not the plugin SDK (`ward-sdk`, the guest side) nor the store (`ward-store`).

pub mod api;
pub mod capability;
pub mod config;
pub mod daemon;
pub mod memory;
pub mod metrics;
pub mod plugin;
pub mod sampler;
pub mod scheduler;
pub mod supervisor;

pub use config::Config;
pub use daemon::{RunOptions, run};
