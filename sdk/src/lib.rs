//! Write [ward] plugins in Rust: probers, discoverers, alert rules and notifiers, built as
//! WebAssembly components (`cargo build --target wasm32-wasip2 --release`).
//!
//! A plugin implements one trait — [`Prober`], [`Discoverer`], [`AlertRule`] or [`Notifier`] —
//! and exports it with the matching macro. The SDK parses the JSON config into the trait's
//! `Config` type (publishing its JSON schema), fills in the plugin kind, measures the call and
//! converts results for the host. Helpers reach the outside world within the operator's
//! grants: [`http`], [`net`] and [`tls`] for probers, [`query`] for alert rules, [`log`] for all.
//!
//! ```no_run
//! use std::time::Duration;
//! use ward_sdk::{Capability, Description, ProbeResult, Prober, net::TcpStream};
//!
//! /// Config of the `port-open` prober.
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     /// Connect timeout in milliseconds.
//!     #[serde(default = "default_timeout_ms")]
//!     timeout_ms: u64,
//! }
//!
//! fn default_timeout_ms() -> u64 {
//!     2000
//! }
//!
//! struct PortOpen;
//!
//! impl Prober for PortOpen {
//!     type Config = Config;
//!
//!     fn describe() -> Description {
//!         Description::new("port-open", "0.1.0", "Checks that a TCP port accepts connections.")
//!             .capability(Capability::Network)
//!     }
//!
//!     fn probe(target: &str, config: Config) -> ward_sdk::Result<ProbeResult> {
//!         // A refused or timed-out connection becomes a "down" result.
//!         TcpStream::connect(target, Duration::from_millis(config.timeout_ms))?;
//!         Ok(ProbeResult::up(format!("connected to {target}")))
//!     }
//! }
//!
//! ward_sdk::export_prober!(PortOpen);
//! ```
//!
//! What this crate is not: a host. It has no runtime of its own; outside a wasm component (e.g.
//! in a plugin's native unit tests) only pure logic works, and [`log`] writes to stderr.
//!
//! [ward]: https://example.invalid/ward

mod alert_rule;
mod bindings;
mod config;
pub mod deadline;
mod description;
mod discoverer;
mod error;
pub mod http;
mod label;
pub mod log;
pub mod net;
mod notifier;
mod prober;
pub mod query;
pub mod tls;
mod wait;

pub use alert_rule::{Alert, AlertRule, AlertState};
pub use config::{NoConfig, parse_config};
pub use description::{Capability, Description};
pub use discoverer::{Discoverer, Discovery, Target, Targets};
pub use error::{Error, Result};
pub use label::Label;
pub use notifier::{Delivery, Notification, NotificationStatus, NotifiedAlert, Notifier};
pub use prober::{ProbeResult, Prober, Sample, Status};

/// What the export macros expand to; not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::alert_rule::AlertRuleAdapter;
    pub use crate::bindings::{alert_rule, discoverer, notifier, plugin, prober};
    pub use crate::discoverer::DiscovererAdapter;
    pub use crate::notifier::NotifierAdapter;
    pub use crate::prober::ProberAdapter;
}
