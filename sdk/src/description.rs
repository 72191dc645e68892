//! What a plugin says about itself: [`Description`] and the [`Capability`] it asks for.

use crate::bindings::host::ward::plugin::types as wit;

/// A capability a plugin asks the operator to grant. Nothing is granted by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// Outgoing TCP connections, name lookup and HTTP ([`net`](crate::net),
    /// [`http`](crate::http), [`tls`](crate::tls)).
    Network,
    /// Running commands on the host (a later host interface).
    Exec,
    /// Sending ICMP echo requests (a later host interface).
    Icmp,
    /// Read-only PromQL over ward's store ([`query`](crate::query)).
    Query,
}

/// Who a plugin is and what it needs, as `ward plugin check` prints it.
///
/// The plugin kind and the JSON schema of the config are filled in by the SDK from the trait the
/// plugin implements and its `Config` type.
///
/// ```
/// use ward_sdk::{Capability, Description};
///
/// let description = Description::new("http", "0.1.0", "Fetches a URL and checks the answer.")
///     .capability(Capability::Network);
/// assert_eq!(description.name(), "http");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    name: String,
    version: String,
    summary: String,
    capabilities: Vec<Capability>,
}

impl Description {
    /// A description with a short `name`, a semver `version` and a one-line `summary`.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            summary: summary.into(),
            capabilities: Vec::new(),
        }
    }

    /// Ask for `capability` as well.
    #[must_use]
    pub fn capability(mut self, capability: Capability) -> Self {
        if !self.capabilities.contains(&capability) {
            self.capabilities.push(capability);
        }
        self
    }

    /// The plugin's short name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's own version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The one-line summary.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The capabilities asked for.
    pub fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }

    pub(crate) fn into_wit(self, kind: wit::Kind, config_schema: String) -> wit::Description {
        wit::Description {
            name: self.name,
            version: self.version,
            kind,
            summary: self.summary,
            config_schema,
            capabilities: self
                .capabilities
                .into_iter()
                .map(|capability| match capability {
                    Capability::Network => wit::Capability::Network,
                    Capability::Exec => wit::Capability::Exec,
                    Capability::Icmp => wit::Capability::Icmp,
                    Capability::Query => wit::Capability::Query,
                })
                .collect(),
        }
    }
}
