//! Label sets: the identity of a series.

use crate::{Error, Result};
use std::fmt;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label: a name and a value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// Label name.
    pub name: String,
    /// Label value (any UTF-8; empty values are dropped, as in Prometheus).
    pub value: String,
}

/// A validated label set, sorted by name, without empty values. Two label sets that hold the
/// same pairs are equal whatever order they were given in.
///
/// It carries its own hash, computed once when built: the store looks every appended sample's
/// series up by its label set, and a caller that keeps its label sets from one append to the
/// next (as scrapers do) then never hashes their strings again. The hash is seeded per process
/// (foldhash), so clients cannot aim label sets at one bucket; it also rejects most unequal
/// sets before their strings are compared.
#[derive(Debug, Clone)]
pub struct Labels {
    labels: Vec<Label>,
    hash: u64,
}

/// The per-process seed of [`Labels`]' hashes.
static LABELS_HASH: std::sync::LazyLock<foldhash::fast::RandomState> =
    std::sync::LazyLock::new(foldhash::fast::RandomState::default);

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.labels == other.labels
    }
}

impl Eq for Labels {}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.labels.cmp(&other.labels)
    }
}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Default for Labels {
    fn default() -> Self {
        Self::wrap(Vec::new())
    }
}

impl Labels {
    fn wrap(labels: Vec<Label>) -> Self {
        use std::hash::BuildHasher;
        let hash = LABELS_HASH.hash_one(&labels);
        Self { labels, hash }
    }

    /// Builds a label set from pairs, checking names and dropping empty values.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Result<Self>
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .filter(|l| !l.value.is_empty())
            .collect();
        labels.sort();
        for pair in labels.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(Error::DuplicateLabel(pair[0].name.clone()));
            }
        }
        for label in &labels {
            if label.name == METRIC_NAME {
                if !is_valid_metric_name(&label.value) {
                    return Err(Error::InvalidMetricName(label.value.clone()));
                }
            } else if !is_valid_label_name(&label.name) {
                return Err(Error::InvalidLabelName(label.name.clone()));
            }
        }
        // A label set lives as long as its series: no spare room from collecting.
        labels.shrink_to_fit();
        Ok(Self::wrap(labels))
    }

    /// Wraps labels that are already sorted, unique, valid and non-empty (as decoded from the
    /// store's own keys).
    pub(crate) fn from_sorted_unchecked(mut labels: Vec<Label>) -> Self {
        labels.shrink_to_fit();
        Self::wrap(labels)
    }

    /// Total bytes of names and values.
    pub fn byte_len(&self) -> usize {
        self.labels
            .iter()
            .map(|l| l.name.len() + l.value.len())
            .sum()
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.labels[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The labels, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.labels.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

impl fmt::Display for Labels {
    /// Prometheus's notation: `name{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.metric_name().unwrap_or(""))?;
        f.write_str("{")?;
        let mut first = true;
        for label in self.labels.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", label.name, label.value)?;
        }
        f.write_str("}")
    }
}

/// Prometheus metric name rule: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Prometheus label name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The carried hash follows the pairs, not the order they came in; equality, ordering and
    /// hashing agree with the pairs.
    #[test]
    fn equal_sets_hash_alike_and_order_by_their_pairs() {
        let a = Labels::from_pairs([("__name__", "up"), ("job", "a"), ("x", "1")]).unwrap();
        let b =
            Labels::from_pairs([("x", "1"), ("job", "a"), ("__name__", "up"), ("e", "")]).unwrap();
        let c = Labels::from_pairs([("__name__", "up"), ("job", "b"), ("x", "1")]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a < c);
        let mut map = std::collections::HashMap::new();
        map.insert(a.clone(), 1);
        map.insert(c.clone(), 2);
        assert_eq!(map.get(&b), Some(&1));
        assert_eq!(map.get(&c), Some(&2));
        assert_eq!(
            Labels::default(),
            Labels::from_pairs::<&str, &str>([]).unwrap()
        );
    }

    #[test]
    fn order_does_not_matter_and_empty_values_drop() {
        let a = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "")]).unwrap();
        let b = Labels::from_pairs([("a", "1"), ("b", "2")]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get("c"), None);
    }

    #[test]
    fn bad_names_are_named() {
        let err = Labels::from_pairs([("1x", "v")]).unwrap_err();
        assert_eq!(err.to_string(), "invalid label name \"1x\"");
        let err = Labels::from_pairs([("__name__", "a-b")]).unwrap_err();
        assert_eq!(err.to_string(), "invalid metric name \"a-b\"");
        let err = Labels::from_pairs([("a", "1"), ("a", "2")]).unwrap_err();
        assert_eq!(err.to_string(), "duplicate label name \"a\"");
    }

    #[test]
    fn display_is_prometheus_notation() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "x")]).unwrap();
        assert_eq!(l.to_string(), "up{job=\"x\"}");
    }
}
