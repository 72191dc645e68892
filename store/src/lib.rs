//! ward's time-series store: an embedded LSM store on fjall.
//!
//! A series is a metric name plus a label set; its samples are `(timestamp ms, f64)`. The
//! store keeps them in three places:
//!
//! - the **head** (memory): each series' open Gorilla chunk plus out-of-order samples, made
//!   durable first by a write-ahead log record per append (segment files of the store's own
//!   beside fjall, `wal/`), synced before `append` returns;
//! - **time partitions** (one fjall keyspace of chunks `d_<p>` and one of index `i_<p>` per
//!   partition): sealed hot chunks of ~120 samples, re-packed into cold zstd blocks once the
//!   partition closes; retention drops a whole partition at once;
//! - the **series dictionary** (`series`): label set <-> compact id.
//!
//! It knows nothing of plugins or HTTP. See ARCHITECTURE.md for how the runtime uses it.
//!
//! ```
//! use ward_store::{Labels, Matcher, Store, StoreOptions};
//! let store = Store::temporary(StoreOptions::default())?;
//! let labels = Labels::from_pairs([("__name__", "probe_success"), ("check", "api")])?;
//! store.append(&[(labels, 1_700_000_000_000, 1.0)])?;
//! let series = store.select(&[Matcher::equal("check", "api")], i64::MIN, i64::MAX)?;
//! assert_eq!(series[0].samples, vec![(1_700_000_000_000, 1.0)]);
//! # Ok::<(), ward_store::Error>(())
//! ```

pub mod codec;
mod error;
mod head;
mod index;
mod keys;
mod labels;
mod matcher;
mod options;
mod store;
mod times;
mod wal;

pub use error::{Error, Result};
pub use labels::{Label, Labels, METRIC_NAME};
pub use labels::{is_valid_label_name, is_valid_metric_name};
pub use matcher::{MatchOp, Matcher};
pub use options::{Durability, StoreOptions};
pub use store::{
    AppendReport, Cardinality, FORMAT_VERSION, RejectReason, SelectLimits, Series, Store,
    StoreStats,
};

/// The value Prometheus writes to mark a series stale (a NaN with this exact bit pattern).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
