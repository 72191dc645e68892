//! Metric metadata (type, help, unit) as remote-write senders and imported `# TYPE`/`# HELP`
//! lines declare it, kept in memory (bounded) for `/api/v1/metadata`. The store keeps no
//! metadata: after a restart this is empty until senders send it again (Prometheus resends
//! metadata every minute by default).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Most metric names remembered; past it, new names are not recorded.
const MAX_METRICS: usize = 100_000;
/// Distinct entries kept per metric name (the newest win).
const MAX_PER_METRIC: usize = 4;
/// Longest help text kept, in bytes.
const MAX_HELP_BYTES: usize = 4096;

/// One metadata entry of a metric.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricMetadata {
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`, `info`, `stateset` or
    /// `unknown`.
    pub kind: String,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

/// Metadata by metric name.
#[derive(Debug, Default)]
pub struct MetadataStore {
    inner: Mutex<BTreeMap<String, Vec<MetricMetadata>>>,
}

impl MetadataStore {
    /// Records an entry for `metric` (the newest first).
    pub fn record(&self, metric: &str, mut entry: MetricMetadata) {
        if metric.is_empty() {
            return;
        }
        if entry.help.len() > MAX_HELP_BYTES {
            let mut cut = MAX_HELP_BYTES;
            while !entry.help.is_char_boundary(cut) {
                cut -= 1;
            }
            entry.help.truncate(cut);
        }
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(metric) && map.len() >= MAX_METRICS {
            return;
        }
        let list = map.entry(metric.to_string()).or_default();
        list.retain(|e| *e != entry);
        list.insert(0, entry);
        list.truncate(MAX_PER_METRIC);
    }

    /// Merges a `# TYPE` or `# HELP` line's part into the newest entry of `metric`.
    pub fn update(&self, metric: &str, kind: Option<&str>, help: Option<&str>) {
        let current = {
            let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            map.get(metric).and_then(|l| l.first().cloned())
        };
        let mut entry = current.unwrap_or_else(|| MetricMetadata {
            kind: "unknown".into(),
            ..MetricMetadata::default()
        });
        if let Some(k) = kind {
            entry.kind = k.to_string();
        }
        if let Some(h) = help {
            entry.help = h.to_string();
        }
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = map.get_mut(metric)
            && let Some(first) = list.first_mut()
        {
            *first = entry;
            return;
        }
        drop(map);
        self.record(metric, entry);
    }

    /// Up to `limit` metrics, `per_metric` entries each, optionally only `metric`.
    pub fn query(
        &self,
        metric: Option<&str>,
        limit: usize,
        per_metric: usize,
    ) -> Vec<(String, Vec<MetricMetadata>)> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let take = |l: &Vec<MetricMetadata>| l.iter().take(per_metric).cloned().collect::<Vec<_>>();
        let it: Box<dyn Iterator<Item = (&String, &Vec<MetricMetadata>)>> = match metric {
            Some(m) => Box::new(map.get_key_value(m).into_iter()),
            None => Box::new(map.iter()),
        };
        it.take(limit).map(|(k, l)| (k.clone(), take(l))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_distinct_entries() {
        let m = MetadataStore::default();
        let e = |help: &str| MetricMetadata {
            kind: "counter".into(),
            help: help.into(),
            unit: String::new(),
        };
        m.record("a", e("one"));
        m.record("a", e("two"));
        m.record("a", e("one"));
        let all = usize::MAX;
        let got = m.query(None, all, all);
        assert_eq!(got[0].1, vec![e("one"), e("two")]);
        assert_eq!(m.query(Some("a"), all, 1)[0].1.len(), 1);
        assert!(m.query(Some("b"), all, all).is_empty());
        assert!(m.query(None, 0, all).is_empty());
        m.update("b", Some("gauge"), None);
        m.update("b", None, Some("help"));
        let b = &m.query(Some("b"), all, all)[0].1[0];
        assert_eq!((b.kind.as_str(), b.help.as_str()), ("gauge", "help"));
    }
}
