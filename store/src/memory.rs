//! The in-memory store: a map from label set to time-ordered samples, with retention.

use crate::{Labels, Matcher, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

/// Options for [`Store`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Samples older than this (relative to the newest sample of their series) are dropped.
    pub retention_ms: i64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            retention_ms: 6 * 60 * 60 * 1000,
        }
    }
}

/// A selected series: its labels and its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels, including `__name__`.
    pub labels: Labels,
    /// `(timestamp ms, value)` pairs, ascending by timestamp.
    pub samples: Vec<(i64, f64)>,
}

/// The store. Cheap to share behind an `Arc`; safe for concurrent readers and writers.
#[derive(Debug)]
pub struct Store {
    options: StoreOptions,
    series: RwLock<HashMap<Labels, BTreeMap<i64, f64>>>,
}

impl Store {
    /// An empty in-memory store with default options.
    pub fn in_memory() -> Self {
        Self::with_options(StoreOptions::default())
    }

    /// An empty in-memory store.
    pub fn with_options(options: StoreOptions) -> Self {
        Self {
            options,
            series: RwLock::new(HashMap::new()),
        }
    }

    /// Appends a batch of `(labels, timestamp ms, value)`. A sample with the timestamp of an
    /// existing one replaces it (last write wins).
    pub fn append(&self, batch: &[(Labels, i64, f64)]) -> Result<()> {
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        for (labels, ts, value) in batch {
            let samples = series.entry(labels.clone()).or_default();
            samples.insert(*ts, *value);
            if let Some((&newest, _)) = samples.last_key_value() {
                let horizon = newest.saturating_sub(self.options.retention_ms);
                while samples.first_key_value().is_some_and(|(&t, _)| t < horizon) {
                    samples.pop_first();
                }
            }
        }
        Ok(())
    }

    /// Series matching every matcher with at least one sample in `[start, end]` (ms), sorted by
    /// labels.
    pub fn select(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<Series>> {
        let series = self.series.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Series> = series
            .iter()
            .filter(|(labels, _)| matchers.iter().all(|m| m.matches(labels)))
            .filter_map(|(labels, samples)| {
                let samples: Vec<(i64, f64)> =
                    samples.range(start..=end).map(|(&t, &v)| (t, v)).collect();
                (!samples.is_empty()).then(|| Series {
                    labels: labels.clone(),
                    samples,
                })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Number of series held.
    pub fn series_count(&self) -> usize {
        self.series.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(check: &str) -> Labels {
        Labels::from_pairs([("__name__", "probe_success"), ("check", check)]).unwrap()
    }

    #[test]
    fn last_write_wins_and_order_is_by_time() {
        let store = Store::in_memory();
        store
            .append(&[(l("a"), 20, 1.0), (l("a"), 10, 0.0), (l("a"), 20, 2.0)])
            .unwrap();
        let got = store
            .select(&[Matcher::equal("check", "a")], 0, 100)
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples, vec![(10, 0.0), (20, 2.0)]);
    }

    #[test]
    fn range_and_matchers_filter() {
        let store = Store::in_memory();
        store
            .append(&[(l("a"), 10, 1.0), (l("b"), 30, 1.0)])
            .unwrap();
        assert_eq!(store.select(&[], 0, 20).unwrap().len(), 1);
        assert_eq!(
            store
                .select(&[Matcher::equal("check", "b")], 0, 20)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(store.series_count(), 2);
    }

    #[test]
    fn retention_drops_old_samples() {
        let store = Store::with_options(StoreOptions { retention_ms: 100 });
        store
            .append(&[(l("a"), 0, 1.0), (l("a"), 500, 1.0)])
            .unwrap();
        let got = store.select(&[], i64::MIN, i64::MAX).unwrap();
        assert_eq!(got[0].samples, vec![(500, 1.0)]);
    }
}
