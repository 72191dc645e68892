//! The plugins ward knows: the version serving for each name, the last load error, and call
//! statistics that survive reloads.

use super::loaded::LoadedPlugin;
use super::{CallError, Kind};
use crate::metrics::{Metrics, labels};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Call latencies kept per plugin for the API's quantiles.
const RECENT_CALLS: usize = 1024;

/// Where a plugin stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    /// The file's current content is serving.
    Loaded,
    /// An older version is serving: the file's current content failed to load.
    Stale,
    /// Nothing is serving: the file never loaded.
    Failed,
}

/// One plugin as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginStatus {
    /// File stem.
    pub name: String,
    /// Kind, if a version is serving.
    pub kind: Option<Kind>,
    /// The serving version's own version string.
    pub version: Option<String>,
    /// `ward:plugin` interface version it was built against.
    pub interface_version: Option<String>,
    /// SHA-256 of the serving component.
    pub sha256: Option<String>,
    /// The plugin file.
    pub path: String,
    /// When the serving version was loaded (RFC 3339).
    pub loaded_at: Option<String>,
    /// Loaded, stale or failed.
    pub state: PluginState,
    /// Why the latest load failed, if it did.
    pub last_error: Option<String>,
    /// Calls since ward started (across versions).
    pub calls: u64,
    /// Failed calls.
    pub failures: u64,
    /// Failed calls by reason.
    pub failures_by_reason: BTreeMap<String, u64>,
    /// Median call time over the last calls, seconds.
    pub call_p50_seconds: Option<f64>,
    /// 99th percentile call time over the last calls, seconds.
    pub call_p99_seconds: Option<f64>,
    /// Compile (or cache load) time of the serving version, seconds.
    pub compile_seconds: Option<f64>,
    /// Whether the serving version came from the compile cache.
    pub from_cache: Option<bool>,
    /// Which compiler produced the serving code: `baseline` until the optimized code is
    /// ready (usually within a second), then `optimized`.
    pub tier: Option<super::Tier>,
    /// What the plugin says about itself.
    pub description: Option<super::Description>,
}

#[derive(Default)]
struct Entry {
    path: String,
    active: Option<Arc<LoadedPlugin>>,
    last_error: Option<String>,
    calls: u64,
    failures: u64,
    by_reason: BTreeMap<String, u64>,
    recent: VecDeque<f64>,
}

/// The plugin registry. Lookups are cheap (a read lock and an `Arc` clone).
pub struct Registry {
    entries: RwLock<BTreeMap<String, Entry>>,
    changed: watch::Sender<u64>,
    metrics: Arc<Metrics>,
}

impl Registry {
    /// An empty registry reporting to `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            entries: RwLock::new(BTreeMap::new()),
            changed: watch::channel(0).0,
            metrics,
        }
    }

    /// The version of `name` serving now.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.read().get(name).and_then(|e| e.active.clone())
    }

    /// Names of every plugin known (serving or failed).
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// Notified whenever a plugin is installed or removed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Makes `plugin` the serving version of its name, and returns it as served. Calls in
    /// flight keep the version they started with.
    pub fn install(&self, plugin: LoadedPlugin) -> Arc<LoadedPlugin> {
        let plugin = Arc::new(plugin);
        {
            let mut entries = self.write();
            let entry = entries.entry(plugin.name().to_string()).or_default();
            entry.path = plugin.path().display().to_string();
            entry.last_error = None;
            self.serve(entry, plugin.clone());
        }
        self.changed.send_modify(|g| *g += 1);
        plugin
    }

    /// Swaps in `plugin`, the optimized code of the version serving, if that version (same
    /// content) still serves; returns whether it did. Not a reload: path, last error and
    /// statistics stay as they are, and calls in flight finish on the baseline code.
    pub fn upgrade(&self, plugin: LoadedPlugin) -> bool {
        let mut entries = self.write();
        let Some(entry) = entries.get_mut(plugin.name()) else {
            return false;
        };
        let same = entry
            .active
            .as_ref()
            .is_some_and(|a| a.sha256() == plugin.sha256() && a.tier() != plugin.tier());
        if same {
            self.serve(entry, Arc::new(plugin));
        }
        same
    }

    fn serve(&self, entry: &mut Entry, plugin: Arc<LoadedPlugin>) {
        if let Some(old) = &entry.active {
            self.metrics.plugin_info.remove(&info_labels(old));
        }
        self.metrics
            .plugin_info
            .get_or_create(&info_labels(&plugin))
            .set(1);
        self.metrics
            .plugin_compile_duration
            .get_or_create(&labels([
                ("plugin", plugin.name()),
                ("tier", plugin.tier().as_str()),
            ]))
            .observe(plugin.compile_time().as_secs_f64());
        entry.active = Some(plugin);
    }

    /// Records that loading `name` from `path` failed; a serving version stays.
    pub fn record_load_failure(&self, name: &str, path: &str, error: String) {
        let mut entries = self.write();
        let entry = entries.entry(name.to_string()).or_default();
        entry.path = path.to_string();
        entry.last_error = Some(error);
    }

    /// Removes `name`: no new calls start on it.
    pub fn remove(&self, name: &str) {
        if let Some(entry) = self.write().remove(name)
            && let Some(old) = entry.active
        {
            self.metrics.plugin_info.remove(&info_labels(&old));
        }
        self.changed.send_modify(|g| *g += 1);
    }

    /// SHA-256 of the serving version of `name`.
    pub fn sha256(&self, name: &str) -> Option<String> {
        self.read()
            .get(name)
            .and_then(|e| e.active.as_ref().map(|p| p.sha256().to_string()))
    }

    /// Records one call of `name` and its outcome.
    pub fn record_call(&self, name: &str, took: Duration, outcome: Result<(), &CallError>) {
        let plugin = labels([("plugin", name)]);
        self.metrics.plugin_calls.get_or_create(&plugin).inc();
        self.metrics
            .plugin_call_duration
            .get_or_create(&plugin)
            .observe(took.as_secs_f64());
        if let Err(e) = outcome {
            self.metrics
                .plugin_failures
                .get_or_create(&labels([("plugin", name), ("reason", e.reason())]))
                .inc();
        }
        let mut entries = self.write();
        let Some(entry) = entries.get_mut(name) else {
            return;
        };
        entry.calls += 1;
        if let Err(e) = outcome {
            entry.failures += 1;
            *entry.by_reason.entry(e.reason().to_string()).or_default() += 1;
        }
        if entry.recent.len() == RECENT_CALLS {
            entry.recent.pop_front();
        }
        entry.recent.push_back(took.as_secs_f64());
    }

    /// Every plugin's status, by name.
    pub fn statuses(&self) -> Vec<PluginStatus> {
        self.read()
            .iter()
            .map(|(name, e)| {
                let active = e.active.as_deref();
                let mut sorted: Vec<f64> = e.recent.iter().copied().collect();
                sorted.sort_by(f64::total_cmp);
                PluginStatus {
                    name: name.clone(),
                    kind: active.map(|p| p.kind()),
                    version: active.map(|p| p.description().version.clone()),
                    interface_version: active.map(|p| p.interface().version.to_string()),
                    sha256: active.map(|p| p.sha256().to_string()),
                    path: e.path.clone(),
                    loaded_at: active.map(|p| rfc3339(p.loaded_at())),
                    state: match (active.is_some(), e.last_error.is_some()) {
                        (true, false) => PluginState::Loaded,
                        (true, true) => PluginState::Stale,
                        (false, _) => PluginState::Failed,
                    },
                    last_error: e.last_error.clone(),
                    calls: e.calls,
                    failures: e.failures,
                    failures_by_reason: e.by_reason.clone(),
                    call_p50_seconds: quantile(&sorted, 0.5),
                    call_p99_seconds: quantile(&sorted, 0.99),
                    compile_seconds: active.map(|p| p.compile_time().as_secs_f64()),
                    from_cache: active.map(|p| p.from_cache()),
                    tier: active.map(|p| p.tier()),
                    description: active.map(|p| p.description().clone()),
                }
            })
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn info_labels(p: &LoadedPlugin) -> crate::metrics::Labels {
    labels([
        ("plugin", p.name()),
        ("kind", p.kind().as_str()),
        ("version", &p.description().version),
        ("tier", p.tier().as_str()),
    ])
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(idx).copied()
}

/// `t` as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
