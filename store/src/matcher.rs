//! Label matchers: `=`, `!=`, `=~`, `!~`, with Prometheus's semantics.

use crate::{Error, Labels, Result};
use regex::Regex;

/// The operator of a [`Matcher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

/// One label matcher. A missing label matches as the empty string, as in Prometheus.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; regexes are anchored at both ends.
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$")).map_err(|e| Error::InvalidRegex {
                    regex: value.clone(),
                    reason: e.to_string(),
                })?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or regex as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a series without the label (an empty value) matches.
    pub fn matches_empty(&self) -> bool {
        self.matches_value("")
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }

    /// Whether a label value satisfies this matcher.
    pub fn matches_value(&self, actual: &str) -> bool {
        match (&self.op, &self.regex) {
            (MatchOp::Equal, _) => actual == self.value,
            (MatchOp::NotEqual, _) => actual != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(actual),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(actual),
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels::from_pairs([("__name__", "probe_success"), ("check", "api")]).unwrap()
    }

    #[test]
    fn operators() {
        let l = labels();
        assert!(Matcher::equal("check", "api").matches(&l));
        assert!(
            Matcher::new("check", MatchOp::NotEqual, "db")
                .unwrap()
                .matches(&l)
        );
        assert!(
            Matcher::new("check", MatchOp::Regex, "a.i")
                .unwrap()
                .matches(&l)
        );
        assert!(
            !Matcher::new("check", MatchOp::Regex, "a")
                .unwrap()
                .matches(&l)
        );
        assert!(
            Matcher::new("check", MatchOp::NotRegex, "db|web")
                .unwrap()
                .matches(&l)
        );
        // A missing label is the empty string.
        assert!(Matcher::equal("instance", "").matches(&l));
    }

    #[test]
    fn bad_regex_is_an_error() {
        let err = Matcher::new("a", MatchOp::Regex, "(").unwrap_err();
        assert!(err.to_string().starts_with("invalid regex \"(\""), "{err}");
    }
}
