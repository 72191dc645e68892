//! [`Label`]: a Prometheus label, shared by every plugin kind.

use crate::bindings::host::ward::plugin::types as wit;

/// One label: a Prometheus label name and its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// Label name, Prometheus rules (`[a-zA-Z_][a-zA-Z0-9_]*`).
    pub name: String,
    /// Label value, any UTF-8.
    pub value: String,
}

impl Label {
    /// A label `name`=`value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl From<Label> for wit::Label {
    fn from(label: Label) -> Self {
        Self {
            name: label.name,
            value: label.value,
        }
    }
}

impl From<wit::Label> for Label {
    fn from(label: wit::Label) -> Self {
        Self {
            name: label.name,
            value: label.value,
        }
    }
}

pub(crate) fn to_wit(labels: Vec<Label>) -> Vec<wit::Label> {
    labels.into_iter().map(Into::into).collect()
}

pub(crate) fn from_wit(labels: Vec<wit::Label>) -> Vec<Label> {
    labels.into_iter().map(Into::into).collect()
}
