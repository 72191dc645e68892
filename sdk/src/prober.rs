//! Probers: health checks that probe one target and say whether it is up.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::bindings::host::ward::plugin::types as wit_types;
use crate::bindings::plugin::exports::ward::plugin::plugin;
use crate::bindings::prober::exports::ward::plugin::prober as wit;
use crate::{Description, Error, Label, Result, config, deadline};

/// A health check. Implement it and export the type with [`export_prober!`](crate::export_prober).
///
/// ```no_run
/// use ward_sdk::{Description, NoConfig, ProbeResult, Prober};
///
/// struct AlwaysUp;
///
/// impl Prober for AlwaysUp {
///     type Config = NoConfig;
///
///     fn describe() -> Description {
///         Description::new("always-up", "0.1.0", "Says every target is up.")
///     }
///
///     fn probe(target: &str, _config: NoConfig) -> ward_sdk::Result<ProbeResult> {
///         Ok(ProbeResult::up(format!("{target} is fine")))
///     }
/// }
///
/// ward_sdk::export_prober!(AlwaysUp);
/// ```
pub trait Prober {
    /// The config document, parsed from JSON; its JSON schema is published in the description.
    /// Use [`NoConfig`](crate::NoConfig) for none.
    type Config: DeserializeOwned + JsonSchema;

    /// Who the plugin is and what it needs. The kind and config schema are filled in.
    fn describe() -> Description;

    /// Probe `target` (an address or URL, as the operator configured it).
    ///
    /// A target that is down is `Ok` with [`Status::Down`]. Errors that are the target's fault
    /// ([`Error::Network`], [`Error::Timeout`], [`Error::Protocol`]) are turned into
    /// [`Status::Down`] with the error's message, so `?` on a network operation does the right
    /// thing. The other errors (config, permission, internal) mean the probe itself could not
    /// be carried out, and ward reports them as a plugin failure.
    ///
    /// The host gives each call a deadline; see [`deadline`](crate::deadline).
    fn probe(target: &str, config: Self::Config) -> Result<ProbeResult>;

    /// Parse the config document. The default parses JSON into `Config`, naming the field at
    /// fault on error; override it to accept other shapes.
    fn parse_config(json: &str) -> Result<Self::Config> {
        config::parse_config(json)
    }
}

/// The verdict on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The target answered as expected.
    Up,
    /// The target did not answer, or answered wrongly.
    Down,
    /// The plugin could not tell (e.g. a dependency of the check is missing).
    Unknown,
}

/// One extra measurement, written to ward's store as a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name, Prometheus rules (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    pub name: String,
    /// Labels beyond those ward adds (`check`, `instance`).
    pub labels: Vec<Label>,
    /// The value.
    pub value: f64,
}

/// What a probe found: a status, a message for humans, and measurements.
///
/// ```
/// use std::time::Duration;
/// use ward_sdk::{ProbeResult, Status};
///
/// let result = ProbeResult::up("HTTP 200")
///     .with_sample("probe_http_status_code", &[], 200.0)
///     .with_sample("probe_http_duration_seconds", &[("phase", "transfer")], 0.002)
///     .with_duration(Duration::from_millis(12));
/// assert_eq!(result.status(), Status::Up);
/// assert_eq!(result.samples().len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    status: Status,
    duration: Option<Duration>,
    message: String,
    samples: Vec<Sample>,
}

impl ProbeResult {
    /// A result with `status` and `message`.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            duration: None,
            message: message.into(),
            samples: Vec::new(),
        }
    }

    /// The target is up; `message` says what was seen.
    pub fn up(message: impl Into<String>) -> Self {
        Self::new(Status::Up, message)
    }

    /// The target is down; `message` says why.
    pub fn down(message: impl Into<String>) -> Self {
        Self::new(Status::Down, message)
    }

    /// The plugin cannot tell; `message` says why.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(Status::Unknown, message)
    }

    /// Add a sample `name{labels} value`.
    #[must_use]
    pub fn with_sample(
        mut self,
        name: impl Into<String>,
        labels: &[(&str, &str)],
        value: f64,
    ) -> Self {
        self.push_sample(name, labels, value);
        self
    }

    /// Add a sample `name{labels} value`, in place.
    pub fn push_sample(&mut self, name: impl Into<String>, labels: &[(&str, &str)], value: f64) {
        self.samples.push(Sample {
            name: name.into(),
            labels: labels.iter().map(|&(n, v)| Label::new(n, v)).collect(),
            value,
        });
    }

    /// Set the time the probe took. When unset, the SDK measures the `probe` call.
    #[must_use]
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// Replace the status.
    #[must_use]
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// Replace the message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The verdict.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The duration set with [`with_duration`](Self::with_duration), if any.
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The samples, in the order they were added.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    fn into_wit(self, measured: Duration) -> wit::ProbeResult {
        let duration = self.duration.unwrap_or(measured);
        wit::ProbeResult {
            status: match self.status {
                Status::Up => wit::Status::Up,
                Status::Down => wit::Status::Down,
                Status::Unknown => wit::Status::Unknown,
            },
            duration_ns: u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
            message: self.message,
            samples: self
                .samples
                .into_iter()
                .map(|sample| wit_types::Sample {
                    name: sample.name,
                    labels: crate::label::to_wit(sample.labels),
                    value: sample.value,
                })
                .collect(),
        }
    }
}

/// Implements the generated `prober` world for any [`Prober`]; named by `export_prober!`.
#[doc(hidden)]
pub struct ProberAdapter<T>(PhantomData<T>);

impl<T: Prober> plugin::Guest for ProberAdapter<T> {
    fn describe() -> wit_types::Description {
        T::describe().into_wit(wit_types::Kind::Prober, config::schema_of::<T::Config>())
    }
}

impl<T: Prober> wit::Guest for ProberAdapter<T> {
    fn probe(
        target: String,
        config: String,
        timeout_ms: u32,
    ) -> Result<wit::ProbeResult, wit_types::Error> {
        let start = Instant::now();
        deadline::start_call(timeout_ms);
        let config = T::parse_config(&config)?;
        let result = match T::probe(&target, config) {
            Ok(result) => result,
            // The target's fault, not the probe's: the host counts errors as plugin failures.
            Err(error @ (Error::Network(_) | Error::Timeout(_) | Error::Protocol(_))) => {
                ProbeResult::down(error.message())
            }
            Err(error) => return Err(error.into()),
        };
        Ok(result.into_wit(start.elapsed()))
    }
}

/// Export a [`Prober`] implementation as this component's `prober` world. Invoke it once, in
/// the plugin's `lib.rs`.
#[macro_export]
macro_rules! export_prober {
    ($ty:ty) => {
        const _: () = {
            type __WardProber = $crate::__private::ProberAdapter<$ty>;
            $crate::__private::plugin::export!(__WardProber with_types_in $crate::__private::plugin);
            $crate::__private::prober::export!(__WardProber with_types_in $crate::__private::prober);
        };
    };
}
