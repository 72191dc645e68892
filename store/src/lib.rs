//! ward's time-series store.
//!
//! The store keeps series (a metric name plus a label set) and their samples (millisecond
//! timestamp, `f64` value) and selects them back by Prometheus-style label matchers over a time
//! range. It knows nothing of plugins or HTTP.
//!
//! This version is an in-memory store with age-based retention: the interface the runtime
//! writes through ([`Store::append`]) and reads through ([`Store::select`]) is the one the
//! embedded LSM store on fjall will implement; see the project's ARCHITECTURE.md.
//!
//! ```
//! use ward_store::{Labels, Matcher, Store};
//! let store = Store::in_memory();
//! let labels = Labels::from_pairs([("__name__", "probe_success"), ("check", "api")])?;
//! store.append(&[(labels, 1_700_000_000_000, 1.0)])?;
//! let series = store.select(&[Matcher::equal("check", "api")], i64::MIN, i64::MAX)?;
//! assert_eq!(series[0].samples, vec![(1_700_000_000_000, 1.0)]);
//! # Ok::<(), ward_store::Error>(())
//! ```

mod error;
mod labels;
mod matcher;
mod memory;

pub use error::{Error, Result};
pub use labels::{Label, Labels, METRIC_NAME};
pub use labels::{is_valid_label_name, is_valid_metric_name};
pub use matcher::{MatchOp, Matcher};
pub use memory::{Series, Store, StoreOptions};
