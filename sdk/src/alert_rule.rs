//! Alert rules: look at ward's store (through [`query`](crate::query)) and say which alerts
//! are active.

use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::bindings::alert_rule::exports::ward::plugin::alert_rule as wit;
use crate::bindings::host::ward::plugin::types as wit_types;
use crate::bindings::plugin::exports::ward::plugin::plugin;
use crate::{Description, Label, Result, config};

/// An alerting rule. Implement it and export the type with
/// [`export_alert_rule!`](crate::export_alert_rule).
///
/// ```no_run
/// use ward_sdk::{Alert, AlertRule, Capability, Description, NoConfig, query};
///
/// struct AnyDown;
///
/// impl AlertRule for AnyDown {
///     type Config = NoConfig;
///
///     fn describe() -> Description {
///         Description::new("any-down", "0.1.0", "Fires for every target that is down.")
///             .capability(Capability::Query)
///     }
///
///     fn evaluate(_config: NoConfig, now_ms: i64) -> ward_sdk::Result<Vec<Alert>> {
///         let down = query::instant("up == 0", now_ms)?;
///         Ok(down
///             .series()
///             .iter()
///             .map(|series| Alert::firing(0.0).labels(series.labels.clone()))
///             .collect())
///     }
/// }
///
/// ward_sdk::export_alert_rule!(AnyDown);
/// ```
pub trait AlertRule {
    /// The config document, parsed from JSON; its JSON schema is published in the description.
    type Config: DeserializeOwned + JsonSchema;

    /// Who the plugin is and what it needs. The kind and config schema are filled in.
    fn describe() -> Description;

    /// Evaluate the rule at `now_ms` (ms since the Unix epoch) and return the alerts that are
    /// active. An empty list means nothing is wrong.
    fn evaluate(config: Self::Config, now_ms: i64) -> Result<Vec<Alert>>;

    /// Parse the config document (see [`Prober::parse_config`](crate::Prober::parse_config)).
    fn parse_config(json: &str) -> Result<Self::Config> {
        config::parse_config(json)
    }
}

/// Where an alert stands, as in a Prometheus alerting rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// The condition does not hold.
    Inactive,
    /// The condition holds, not yet for long enough.
    Pending,
    /// The condition holds: notify.
    Firing,
}

/// One alert, shaped like a Prometheus alerting rule's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Identifying labels.
    pub labels: Vec<Label>,
    /// Descriptive annotations (`summary`, `description`, ...).
    pub annotations: Vec<Label>,
    /// The value that triggered the alert.
    pub value: f64,
    /// Its state.
    pub state: AlertState,
    /// When the condition first held (ms since the epoch), if the rule tracks it; ward tracks
    /// pending/firing transitions itself when this is `None`.
    pub active_since_ms: Option<i64>,
}

impl Alert {
    /// An alert in `state`, triggered by `value`.
    pub fn new(state: AlertState, value: f64) -> Self {
        Self {
            labels: Vec::new(),
            annotations: Vec::new(),
            value,
            state,
            active_since_ms: None,
        }
    }

    /// A firing alert triggered by `value`.
    pub fn firing(value: f64) -> Self {
        Self::new(AlertState::Firing, value)
    }

    /// A pending alert triggered by `value`.
    pub fn pending(value: f64) -> Self {
        Self::new(AlertState::Pending, value)
    }

    /// Add the label `name`=`value`.
    #[must_use]
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push(Label::new(name, value));
        self
    }

    /// Add all of `labels`.
    #[must_use]
    pub fn labels(mut self, labels: impl IntoIterator<Item = Label>) -> Self {
        self.labels.extend(labels);
        self
    }

    /// Add the annotation `name`=`value`.
    #[must_use]
    pub fn annotation(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.push(Label::new(name, value));
        self
    }

    /// Say since when the condition holds.
    #[must_use]
    pub fn active_since_ms(mut self, ms: i64) -> Self {
        self.active_since_ms = Some(ms);
        self
    }
}

impl From<Alert> for wit::Alert {
    fn from(alert: Alert) -> Self {
        Self {
            labels: crate::label::to_wit(alert.labels),
            annotations: crate::label::to_wit(alert.annotations),
            value: alert.value,
            state: match alert.state {
                AlertState::Inactive => wit::AlertState::Inactive,
                AlertState::Pending => wit::AlertState::Pending,
                AlertState::Firing => wit::AlertState::Firing,
            },
            active_since_ms: alert.active_since_ms,
        }
    }
}

/// Implements the generated `alert-rule` world for any [`AlertRule`].
#[doc(hidden)]
pub struct AlertRuleAdapter<T>(PhantomData<T>);

impl<T: AlertRule> plugin::Guest for AlertRuleAdapter<T> {
    fn describe() -> wit_types::Description {
        T::describe().into_wit(wit_types::Kind::AlertRule, config::schema_of::<T::Config>())
    }
}

impl<T: AlertRule> wit::Guest for AlertRuleAdapter<T> {
    fn evaluate(config: String, now_ms: i64) -> Result<Vec<wit::Alert>, wit_types::Error> {
        let config = T::parse_config(&config)?;
        Ok(T::evaluate(config, now_ms)?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// Export an [`AlertRule`] implementation as this component's `alert-rule` world. Invoke it
/// once, in the plugin's `lib.rs`.
#[macro_export]
macro_rules! export_alert_rule {
    ($ty:ty) => {
        const _: () = {
            type __WardAlertRule = $crate::__private::AlertRuleAdapter<$ty>;
            $crate::__private::plugin::export!(
                __WardAlertRule with_types_in $crate::__private::plugin
            );
            $crate::__private::alert_rule::export!(
                __WardAlertRule with_types_in $crate::__private::alert_rule
            );
        };
    };
}
