//! Host capabilities offered to plugins, one module per interface, each checked against the
//! operator's grants in one place.
//!
//! - [`net`]: the network grant, enforced on wasi:sockets (every connect/bind address) and on
//!   wasi:http (every request's authority).
//! - [`log`]: `ward:plugin/log`, plugin log lines into ward's log, bounded per call.
//! - [`tls`]: `ward:plugin/tls`, certificates a server presents (for expiry probes).
//! - [`query`]: `ward:plugin/query`, read-only PromQL for alert rules.

pub mod log;
pub mod net;
pub mod query;
pub mod tls;
