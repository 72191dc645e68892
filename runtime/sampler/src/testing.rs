//! Helpers of the unit tests: a sink that keeps everything, and fixture trees.

use crate::Sink;
use std::path::Path;

/// One sample: name, labels as `name=value` sorted, value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Keeps every sample.
#[derive(Default, Debug)]
pub(crate) struct Collect(pub Vec<Sample>);

impl Sink for Collect {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        labels.sort();
        self.0.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
}

impl Collect {
    /// The value of the one sample of `name` whose labels include `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<f64> = self
            .0
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(n, v)| s.labels.iter().any(|(ln, lv)| ln == n && lv == v))
            })
            .map(|s| s.value)
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} matched {found:?}");
        found.first().copied()
    }

    /// Names emitted, sorted, without repeats.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.iter().map(|s| s.name.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Writes `files` (relative path, content) under `root`.
pub(crate) fn tree(root: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}
