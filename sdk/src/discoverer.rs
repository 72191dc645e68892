//! Discoverers: service discovery that finds targets to probe.

use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::bindings::discoverer::exports::ward::plugin::discoverer as wit;
use crate::bindings::host::ward::plugin::types as wit_types;
use crate::bindings::plugin::exports::ward::plugin::plugin;
use crate::{Description, Label, Result, config};

/// Service discovery. Implement it and export the type with
/// [`export_discoverer!`](crate::export_discoverer).
///
/// ```no_run
/// use ward_sdk::{Description, Discoverer, Discovery, NoConfig, Target};
///
/// struct Static;
///
/// impl Discoverer for Static {
///     type Config = NoConfig;
///
///     fn describe() -> Description {
///         Description::new("static", "0.1.0", "Always the same target.")
///     }
///
///     fn discover(_config: NoConfig, _cursor: Option<&str>) -> ward_sdk::Result<Discovery> {
///         Ok(Discovery::full(vec![Target::new("127.0.0.1:9000").label("env", "dev")]))
///     }
/// }
///
/// ward_sdk::export_discoverer!(Static);
/// ```
pub trait Discoverer {
    /// The config document, parsed from JSON; its JSON schema is published in the description.
    type Config: DeserializeOwned + JsonSchema;

    /// Who the plugin is and what it needs. The kind and config schema are filled in.
    fn describe() -> Description;

    /// Discover targets. `cursor` is the one returned by the previous call, if any; a plugin
    /// that cannot continue from it returns [`Discovery::full`].
    fn discover(config: Self::Config, cursor: Option<&str>) -> Result<Discovery>;

    /// Parse the config document (see [`Prober::parse_config`](crate::Prober::parse_config)).
    fn parse_config(json: &str) -> Result<Self::Config> {
        config::parse_config(json)
    }
}

/// A discovered target: its address and labels (`__meta_*` labels feed relabeling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address to probe, as a prober expects it (`host:port`, a URL).
    pub address: String,
    /// Labels of the target.
    pub labels: Vec<Label>,
}

impl Target {
    /// A target at `address`, without labels.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            labels: Vec::new(),
        }
    }

    /// Add the label `name`=`value`.
    #[must_use]
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push(Label::new(name, value));
        self
    }
}

/// The targets a discovery found: all of them, or the change since the previous call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// The complete current list: ward diffs it against what it knows.
    Full(Vec<Target>),
    /// Only what changed since the call that returned the cursor passed in.
    Delta {
        /// Targets that appeared.
        added: Vec<Target>,
        /// Addresses of targets that went away.
        removed: Vec<String>,
    },
}

/// The answer of [`Discoverer::discover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// What was found.
    pub targets: Targets,
    /// Opaque position to pass to the next call, for incremental sources.
    pub cursor: Option<String>,
}

impl Discovery {
    /// The complete list of targets.
    pub fn full(targets: Vec<Target>) -> Self {
        Self {
            targets: Targets::Full(targets),
            cursor: None,
        }
    }

    /// The change since the previous call.
    pub fn delta(added: Vec<Target>, removed: Vec<String>) -> Self {
        Self {
            targets: Targets::Delta { added, removed },
            cursor: None,
        }
    }

    /// Set the cursor to hand back on the next call.
    #[must_use]
    pub fn with_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

fn target_to_wit(target: Target) -> wit::Target {
    wit::Target {
        address: target.address,
        labels: crate::label::to_wit(target.labels),
    }
}

impl From<Discovery> for wit::Discovery {
    fn from(discovery: Discovery) -> Self {
        let targets = match discovery.targets {
            Targets::Full(targets) => {
                wit::Targets::Full(targets.into_iter().map(target_to_wit).collect())
            }
            Targets::Delta { added, removed } => wit::Targets::Delta(wit::TargetDelta {
                added: added.into_iter().map(target_to_wit).collect(),
                removed,
            }),
        };
        Self {
            targets,
            cursor: discovery.cursor,
        }
    }
}

/// Implements the generated `discoverer` world for any [`Discoverer`].
#[doc(hidden)]
pub struct DiscovererAdapter<T>(PhantomData<T>);

impl<T: Discoverer> plugin::Guest for DiscovererAdapter<T> {
    fn describe() -> wit_types::Description {
        T::describe().into_wit(
            wit_types::Kind::Discoverer,
            config::schema_of::<T::Config>(),
        )
    }
}

impl<T: Discoverer> wit::Guest for DiscovererAdapter<T> {
    fn discover(
        config: String,
        cursor: Option<String>,
    ) -> Result<wit::Discovery, wit_types::Error> {
        let config = T::parse_config(&config)?;
        Ok(T::discover(config, cursor.as_deref())?.into())
    }
}

/// Export a [`Discoverer`] implementation as this component's `discoverer` world. Invoke it
/// once, in the plugin's `lib.rs`.
#[macro_export]
macro_rules! export_discoverer {
    ($ty:ty) => {
        const _: () = {
            type __WardDiscoverer = $crate::__private::DiscovererAdapter<$ty>;
            $crate::__private::plugin::export!(
                __WardDiscoverer with_types_in $crate::__private::plugin
            );
            $crate::__private::discoverer::export!(
                __WardDiscoverer with_types_in $crate::__private::discoverer
            );
        };
    };
}
