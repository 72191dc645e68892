//! One compiled, linked and described plugin, and its calls.
//!
//! Every call gets a fresh instance (from the pooling allocator, through the `InstancePre`
//! made at load time) in a fresh store with the caller's grant, the caps and a deadline, so no
//! state leaks between calls and a misbehaving call harms only itself.

use super::bindings::v0_1::{self, prober, types};
use super::engine::{Backend, Compiled, Shared, Tier};
use super::inspect::Interface;
use super::limits::{LimitHit, LimitTrap};
use super::state::{CallGrant, HostState};
use super::{CallError, Kind, LoadError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap, UpdateDeadline};

/// Extra time past the deadline before the host abandons a call that is blocked in a host
/// function (a call running wasm is stopped by the epoch at the deadline itself).
const ABANDON_GRACE: Duration = Duration::from_millis(100);

/// What a plugin says about itself, validated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Description {
    /// The plugin's own name for itself.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Its kind.
    pub kind: Kind,
    /// One line saying what it does.
    pub summary: String,
    /// JSON Schema of its config (`null` when it takes none).
    pub config_schema: serde_json::Value,
    /// Capabilities it asks for.
    pub capabilities: Vec<String>,
}

/// The verdict of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeStatus {
    /// Target answered as expected.
    Up,
    /// Target did not answer as expected.
    Down,
    /// The plugin could not tell.
    Unknown,
}

/// One validated extra sample from a probe.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProbeSample {
    /// Metric name.
    pub name: String,
    /// Labels beyond `check` and `instance`.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

/// A probe's validated result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProbeOutcome {
    /// Up, down or unknown.
    pub status: ProbeStatus,
    /// Duration the plugin measured.
    pub duration: Duration,
    /// Human-readable explanation.
    pub message: String,
    /// Extra samples.
    pub samples: Vec<ProbeSample>,
}

enum KindIndices {
    Prober(prober::GuestIndices),
    Discoverer,
    AlertRule,
    Notifier,
}

/// A loaded plugin. Cheap to share: the scheduler holds an `Arc` per call in flight, so a
/// replaced version finishes its calls while the next call uses the new one.
pub struct LoadedPlugin {
    name: Arc<str>,
    path: PathBuf,
    sha256: String,
    interface: Interface,
    description: Description,
    compile_time: Duration,
    cached: bool,
    loaded_at: SystemTime,
    shared: Arc<Shared>,
    backend: Arc<Backend>,
    pre: InstancePre<HostState>,
    plugin_indices: v0_1::plugin::GuestIndices,
    kind_indices: KindIndices,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    pub(crate) async fn link(
        shared: Arc<Shared>,
        name: &str,
        path: &Path,
        sha256: String,
        interface: Interface,
        compiled: Compiled,
    ) -> Result<Self, LoadError> {
        let shown = path.display().to_string();
        let compile_err = |message: String| LoadError::Compile {
            path: shown.clone(),
            message,
        };
        let pre = compiled
            .backend
            .linker
            .instantiate_pre(&compiled.component)
            .map_err(|e| compile_err(format!("link: {e:#}")))?;
        let plugin_indices =
            v0_1::plugin::GuestIndices::new(&pre).map_err(|e| compile_err(format!("{e:#}")))?;
        let kind_indices = match interface.kind {
            Kind::Prober => KindIndices::Prober(
                prober::GuestIndices::new(&pre).map_err(|e| compile_err(format!("{e:#}")))?,
            ),
            Kind::Discoverer => {
                v0_1::discoverer::GuestIndices::new(&pre)
                    .map_err(|e| compile_err(format!("{e:#}")))?;
                KindIndices::Discoverer
            }
            Kind::AlertRule => {
                v0_1::alert_rule::GuestIndices::new(&pre)
                    .map_err(|e| compile_err(format!("{e:#}")))?;
                KindIndices::AlertRule
            }
            Kind::Notifier => {
                v0_1::notifier::GuestIndices::new(&pre)
                    .map_err(|e| compile_err(format!("{e:#}")))?;
                KindIndices::Notifier
            }
        };
        let mut plugin = Self {
            name: name.into(),
            path: path.to_path_buf(),
            sha256,
            interface,
            description: Description {
                name: String::new(),
                version: String::new(),
                kind: Kind::Prober,
                summary: String::new(),
                config_schema: serde_json::Value::Null,
                capabilities: Vec::new(),
            },
            compile_time: compiled.time,
            cached: compiled.cached,
            loaded_at: SystemTime::now(),
            shared,
            backend: compiled.backend,
            pre,
            plugin_indices,
            kind_indices,
        };
        plugin.description = plugin.describe().await.map_err(|e| LoadError::Describe {
            path: shown.clone(),
            message: e,
        })?;
        Ok(plugin)
    }

    /// The plugin's name (its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 of the component, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Kind and interface version, as read from the component.
    pub fn interface(&self) -> &Interface {
        &self.interface
    }

    /// What the plugin says about itself.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// Its kind.
    pub fn kind(&self) -> Kind {
        self.interface.kind
    }

    /// Time spent compiling (or reading from the cache).
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// Whether the compiled code came from the cache.
    pub fn from_cache(&self) -> bool {
        self.cached
    }

    /// When it was loaded.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// Which compiler produced the code serving.
    pub fn tier(&self) -> Tier {
        self.backend.tier
    }

    /// The same content's optimized code keeps the time its baseline code started serving.
    pub(crate) fn serving_since(mut self, loaded_at: SystemTime) -> Self {
        self.loaded_at = loaded_at;
        self
    }

    fn new_store(&self, grant: &CallGrant, timeout: Duration) -> Store<HostState> {
        let deadline = Instant::now() + timeout;
        let state = HostState::new(self.name.clone(), grant, &self.shared.limits, deadline);
        let mut store = Store::new(&self.backend.engine, state);
        store.data_mut().ticking = Some(self.backend.ticker.begin());
        store.limiter(|s| &mut s.limiter);
        if let Some(fuel) = self.shared.limits.fuel {
            // Cannot fail: fuel is enabled on the engine whenever a fuel limit is set.
            let _ = store.set_fuel(fuel);
        }
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineTrap))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Turns a wasmtime error from a call into the reason the call failed.
    fn classify(store: &Store<HostState>, error: &wasmtime::Error, timeout: Duration) -> CallError {
        if let Some(hit) = store.data().limiter.hit() {
            return match hit {
                LimitHit::Memory { desired } => CallError::Memory {
                    desired: *desired,
                    cap: store.data().limiter.memory_cap(),
                },
                LimitHit::Table { desired } => {
                    CallError::Resource(format!("table grew to {desired} elements"))
                }
            };
        }
        if error.is::<DeadlineTrap>() {
            return CallError::Timeout(timeout);
        }
        if error.is::<LimitTrap>() {
            return CallError::Resource(format!("{error:#}"));
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => CallError::Fuel,
            Some(Trap::Interrupt) => CallError::Timeout(timeout),
            Some(trap) => CallError::Trap(trap.to_string()),
            None => CallError::Trap(first_line(&format!("{error:#}"))),
        }
    }

    /// Calls `describe` with no grants and the describe deadline.
    async fn describe(&self) -> Result<Description, String> {
        let timeout = self.shared.limits.describe_timeout;
        let mut store = self.new_store(&CallGrant::none("describe"), timeout);
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let guest = self.plugin_indices.load(&mut store, &instance)?;
            guest.call_describe(&mut store).await
        };
        let raw = match tokio::time::timeout(timeout + ABANDON_GRACE, call).await {
            Err(_) => return Err(CallError::Timeout(timeout).to_string()),
            Ok(Err(e)) => return Err(Self::classify(&store, &e, timeout).to_string()),
            Ok(Ok(d)) => d,
        };
        validate_description(raw, self.interface.kind)
    }

    /// Probes `target` with `config` (JSON text) under `grant`, stopped at `timeout`.
    pub async fn probe(
        &self,
        target: &str,
        config: &str,
        grant: &CallGrant,
        timeout: Duration,
    ) -> Result<ProbeOutcome, CallError> {
        let KindIndices::Prober(indices) = &self.kind_indices else {
            return Err(CallError::WrongKind {
                wanted: Kind::Prober,
                actual: self.kind(),
            });
        };
        let mut store = self.new_store(grant, timeout);
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let call = async {
            let instance = self
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(Stage::Instantiate)?;
            let guest = indices
                .load(&mut store, &instance)
                .map_err(Stage::Instantiate)?;
            guest
                .call_probe(&mut store, target, config, timeout_ms)
                .await
                .map_err(Stage::Call)
        };
        let raw = match tokio::time::timeout(timeout + ABANDON_GRACE, call).await {
            Err(_) => return Err(CallError::Timeout(timeout)),
            Ok(Err(Stage::Instantiate(e))) => {
                // A limit hit while instantiating (e.g. a huge initial memory) is still a limit.
                let classified = Self::classify(&store, &e, timeout);
                return Err(match classified {
                    CallError::Trap(_) => CallError::Instantiate(first_line(&format!("{e:#}"))),
                    other => other,
                });
            }
            Ok(Err(Stage::Call(e))) => return Err(Self::classify(&store, &e, timeout)),
            Ok(Ok(Err(guest_error))) => return Err(guest_error_to_call(guest_error)),
            Ok(Ok(Ok(result))) => result,
        };
        validate_probe(raw, &self.shared.limits)
    }
}

enum Stage {
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
}

/// Raised by the epoch callback when a call's deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("plugin call deadline exceeded")]
struct DeadlineTrap;

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    crate::capability::log::truncate(line, 1024).to_string()
}

fn guest_error_to_call(e: types::Error) -> CallError {
    let (kind, message) = match e {
        types::Error::Config(m) => ("config", m),
        types::Error::Network(m) => ("network", m),
        types::Error::Timeout(m) => ("timeout", m),
        types::Error::Protocol(m) => ("protocol", m),
        types::Error::Permission(m) => ("permission", m),
        types::Error::Internal(m) => ("internal", m),
    };
    CallError::Guest {
        kind,
        message: crate::capability::log::truncate(&message, 4096).to_string(),
    }
}

fn validate_description(d: types::Description, kind: Kind) -> Result<Description, String> {
    let declared = match d.kind {
        types::Kind::Prober => Kind::Prober,
        types::Kind::Discoverer => Kind::Discoverer,
        types::Kind::AlertRule => Kind::AlertRule,
        types::Kind::Notifier => Kind::Notifier,
    };
    if declared != kind {
        return Err(format!(
            "describes itself as a {declared} but implements the {kind} world"
        ));
    }
    if d.name.is_empty() || d.name.len() > 128 {
        return Err("name must be 1 to 128 bytes".into());
    }
    if d.version.len() > 64 || d.summary.len() > 1024 || d.config_schema.len() > (256 << 10) {
        return Err("version, summary or config schema too long".into());
    }
    let config_schema = if d.config_schema.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&d.config_schema)
            .map_err(|e| format!("config schema is not JSON: {e}"))?
    };
    let capabilities = d
        .capabilities
        .iter()
        .map(|c| {
            match c {
                types::Capability::Network => "network",
                types::Capability::Exec => "exec",
                types::Capability::Icmp => "icmp",
                types::Capability::Query => "query",
            }
            .to_string()
        })
        .collect();
    Ok(Description {
        name: d.name,
        version: d.version,
        kind,
        summary: d.summary,
        config_schema,
        capabilities,
    })
}

/// Labels the host sets on every probe sample; a plugin may not set them itself.
pub const RESERVED_LABELS: [&str; 3] = ["__name__", "check", "instance"];

fn validate_probe(
    r: prober::ProbeResult,
    limits: &super::Limits,
) -> Result<ProbeOutcome, CallError> {
    if r.message.len() > limits.max_message_bytes {
        return Err(CallError::Output(format!(
            "message of {} bytes exceeds the limit of {} bytes",
            r.message.len(),
            limits.max_message_bytes
        )));
    }
    if r.samples.len() > limits.max_samples {
        return Err(CallError::Output(format!(
            "{} samples exceed the limit of {} per probe",
            r.samples.len(),
            limits.max_samples
        )));
    }
    let mut samples = Vec::with_capacity(r.samples.len());
    for (i, s) in r.samples.into_iter().enumerate() {
        if !ward_store::is_valid_metric_name(&s.name) {
            return Err(CallError::Output(format!(
                "sample {i}: invalid metric name {:?}",
                first_line(&s.name)
            )));
        }
        let mut labels = Vec::with_capacity(s.labels.len());
        for l in s.labels {
            if !ward_store::is_valid_label_name(&l.name)
                || RESERVED_LABELS.contains(&l.name.as_str())
            {
                return Err(CallError::Output(format!(
                    "sample {i} ({}): label name {:?} is invalid or reserved",
                    s.name,
                    first_line(&l.name)
                )));
            }
            if l.value.len() > 4096 {
                return Err(CallError::Output(format!(
                    "sample {i} ({}): value of label {} is longer than 4096 bytes",
                    s.name, l.name
                )));
            }
            labels.push((l.name, l.value));
        }
        samples.push(ProbeSample {
            name: s.name,
            labels,
            value: s.value,
        });
    }
    Ok(ProbeOutcome {
        status: match r.status {
            prober::Status::Up => ProbeStatus::Up,
            prober::Status::Down => ProbeStatus::Down,
            prober::Status::Unknown => ProbeStatus::Unknown,
        },
        duration: Duration::from_nanos(r.duration_ns),
        message: r.message,
        samples,
    })
}
