//! Notifiers: deliver alert notifications (webhooks, chat, mail).

use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::bindings::host::ward::plugin::types as wit_types;
use crate::bindings::notifier::exports::ward::plugin::notifier as wit;
use crate::bindings::plugin::exports::ward::plugin::plugin;
use crate::label::from_wit as labels;
use crate::{Description, Label, Result, config};

/// A notifier. Implement it and export the type with
/// [`export_notifier!`](crate::export_notifier).
///
/// ```no_run
/// use ward_sdk::{Delivery, Description, NoConfig, Notification, Notifier};
///
/// struct LogIt;
///
/// impl Notifier for LogIt {
///     type Config = NoConfig;
///
///     fn describe() -> Description {
///         Description::new("log-it", "0.1.0", "Writes notifications to ward's log.")
///     }
///
///     fn notify(_config: NoConfig, notification: &Notification) -> ward_sdk::Result<Delivery> {
///         ward_sdk::log::info!("{} alerts for {}", notification.alerts.len(), notification.receiver);
///         Ok(Delivery::new("logged"))
///     }
/// }
///
/// ward_sdk::export_notifier!(LogIt);
/// ```
pub trait Notifier {
    /// The config document, parsed from JSON; its JSON schema is published in the description.
    type Config: DeserializeOwned + JsonSchema;

    /// Who the plugin is and what it needs. The kind and config schema are filled in.
    fn describe() -> Description;

    /// Deliver `notification`. [`Error::Network`](crate::Error::Network) and
    /// [`Error::Timeout`](crate::Error::Timeout) are retried with backoff; other errors are not.
    fn notify(config: Self::Config, notification: &Notification) -> Result<Delivery>;

    /// Parse the config document (see [`Prober::parse_config`](crate::Prober::parse_config)).
    fn parse_config(json: &str) -> Result<Self::Config> {
        config::parse_config(json)
    }
}

/// Whether alerts fire or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationStatus {
    /// Firing.
    Firing,
    /// Resolved.
    Resolved,
}

/// One alert inside a notification, as in Alertmanager's webhook payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifiedAlert {
    /// Firing or resolved.
    pub status: NotificationStatus,
    /// Identifying labels.
    pub labels: Vec<Label>,
    /// Descriptive annotations.
    pub annotations: Vec<Label>,
    /// When it started firing (ms since the epoch).
    pub starts_at_ms: i64,
    /// When it resolved, once it has.
    pub ends_at_ms: Option<i64>,
    /// Link to where the alert was generated.
    pub generator_url: String,
    /// Stable identity of the alert.
    pub fingerprint: String,
}

/// A group of alerts routed to one receiver: Alertmanager's webhook payload (version 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The receiver the group was routed to.
    pub receiver: String,
    /// Firing if any alert fires.
    pub status: NotificationStatus,
    /// Identity of the group.
    pub group_key: String,
    /// Labels the group was formed by.
    pub group_labels: Vec<Label>,
    /// Labels all alerts share.
    pub common_labels: Vec<Label>,
    /// Annotations all alerts share.
    pub common_annotations: Vec<Label>,
    /// Link to ward.
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<NotifiedAlert>,
    /// Alerts left out because the group was too large.
    pub truncated_alerts: u32,
}

/// What the receiving end said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// E.g. "HTTP 200", a message id.
    pub message: String,
}

impl Delivery {
    /// A delivery the receiver acknowledged with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

fn status_from_wit(status: wit::NotificationStatus) -> NotificationStatus {
    match status {
        wit::NotificationStatus::Firing => NotificationStatus::Firing,
        wit::NotificationStatus::Resolved => NotificationStatus::Resolved,
    }
}

impl From<wit::Notification> for Notification {
    fn from(n: wit::Notification) -> Self {
        Self {
            receiver: n.receiver,
            status: status_from_wit(n.status),
            group_key: n.group_key,
            group_labels: labels(n.group_labels),
            common_labels: labels(n.common_labels),
            common_annotations: labels(n.common_annotations),
            external_url: n.external_url,
            alerts: n
                .alerts
                .into_iter()
                .map(|alert| NotifiedAlert {
                    status: status_from_wit(alert.status),
                    labels: labels(alert.labels),
                    annotations: labels(alert.annotations),
                    starts_at_ms: alert.starts_at_ms,
                    ends_at_ms: alert.ends_at_ms,
                    generator_url: alert.generator_url,
                    fingerprint: alert.fingerprint,
                })
                .collect(),
            truncated_alerts: n.truncated_alerts,
        }
    }
}

/// Implements the generated `notifier` world for any [`Notifier`].
#[doc(hidden)]
pub struct NotifierAdapter<T>(PhantomData<T>);

impl<T: Notifier> plugin::Guest for NotifierAdapter<T> {
    fn describe() -> wit_types::Description {
        T::describe().into_wit(wit_types::Kind::Notifier, config::schema_of::<T::Config>())
    }
}

impl<T: Notifier> wit::Guest for NotifierAdapter<T> {
    fn notify(
        config: String,
        notification: wit::Notification,
    ) -> Result<wit::Delivery, wit_types::Error> {
        let config = T::parse_config(&config)?;
        let delivery = T::notify(config, &notification.into())?;
        Ok(wit::Delivery {
            message: delivery.message,
        })
    }
}

/// Export a [`Notifier`] implementation as this component's `notifier` world. Invoke it once,
/// in the plugin's `lib.rs`.
#[macro_export]
macro_rules! export_notifier {
    ($ty:ty) => {
        const _: () = {
            type __WardNotifier = $crate::__private::NotifierAdapter<$ty>;
            $crate::__private::plugin::export!(
                __WardNotifier with_types_in $crate::__private::plugin
            );
            $crate::__private::notifier::export!(
                __WardNotifier with_types_in $crate::__private::notifier
            );
        };
    };
}
