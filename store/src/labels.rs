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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Labels(Vec<Label>);

impl Labels {
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
        Ok(Self(labels))
    }

    /// Wraps labels that are already sorted, unique, valid and non-empty (as decoded from the
    /// store's own keys).
    pub(crate) fn from_sorted_unchecked(mut labels: Vec<Label>) -> Self {
        labels.shrink_to_fit();
        Self(labels)
    }

    /// Total bytes of names and values.
    pub fn byte_len(&self) -> usize {
        self.0.iter().map(|l| l.name.len() + l.value.len()).sum()
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The labels, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Labels {
    /// Prometheus's notation: `name{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.metric_name().unwrap_or(""))?;
        f.write_str("{")?;
        let mut first = true;
        for label in self.0.iter().filter(|l| l.name != METRIC_NAME) {
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
