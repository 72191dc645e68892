//! The scheduler: runs each check's prober against each target at its interval, and writes
//! the results to the store.
//!
//! Every (check, target) pair has its own task with a fixed-rate ticker, offset by a stable
//! per-pair jitter so checks spread over the interval. Each tick looks the plugin up afresh,
//! so a hot-reloaded plugin serves the next tick while the previous version finishes the call
//! in flight; a tick is never skipped for a reload. A global semaphore bounds calls in flight.
//!
//! Results become series with blackbox_exporter's names: `probe_success` (1 up, 0 down) and
//! `probe_duration_seconds`, labelled `check` and `instance`, plus the plugin's own samples.
//! A plugin failure (trap, deadline, limit, bad output, or the plugin's own error) is not a
//! verdict on the target: it writes `ward_probe_plugin_error` = 1 and no `probe_success`, so it
//! cannot page anyone as if the target were down. After three consecutive plugin failures a
//! target is retried with exponential backoff (up to 32 intervals) instead of every tick,
//! until a new version of the plugin arrives: that runs at the next tick.

use crate::capability::net::NetGrant;
use crate::config::CheckConfig;
use crate::metrics::{Metrics, labels};
use crate::plugin::registry::rfc3339;
use crate::plugin::state::CallGrant;
use crate::plugin::{CallError, Kind, ProbeOutcome, ProbeStatus, Registry};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use ward_store::{Labels, Store};

/// Consecutive plugin failures after which a target backs off.
const BACKOFF_AFTER: u32 = 3;
/// Most intervals skipped while backing off.
const MAX_BACKOFF_INTERVALS: u32 = 32;
/// How long a resolved network grant is reused.
const GRANT_TTL: Duration = Duration::from_secs(60);

/// The status of one target of a check, as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetStatus {
    /// The target.
    pub target: String,
    /// `pending` (not run yet), `up`, `down`, `unknown`, `error` (plugin failure) or
    /// `waiting` (plugin not loaded).
    pub status: String,
    /// The plugin's message, or the failure.
    pub message: String,
    /// For `error`: the reason (timeout, memory, trap, output, config, permission, ...).
    pub error_reason: Option<String>,
    /// When the last run started (RFC 3339).
    pub last_run: Option<String>,
    /// How long the last run took, seconds.
    pub last_duration_seconds: Option<f64>,
    /// Runs so far.
    pub runs: u64,
    /// Plugin failures in a row.
    pub consecutive_plugin_failures: u32,
    /// Version of the plugin that served the last run.
    pub plugin_version: Option<String>,
}

/// One check as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckStatus {
    /// Check name.
    pub name: String,
    /// Prober plugin name.
    pub plugin: String,
    /// Interval, seconds.
    pub interval_seconds: f64,
    /// Timeout, seconds.
    pub timeout_seconds: f64,
    /// Granted network rules.
    pub grant_net: Vec<String>,
    /// Per-target status.
    pub targets: Vec<TargetStatus>,
}

type StatusMap = Arc<Mutex<BTreeMap<String, CheckStatus>>>;

/// The verdict of one probe run, as the supervisor's health gating sees it.
#[derive(Debug, Clone)]
pub struct ProbeEvent {
    /// The check.
    pub check: Arc<str>,
    /// Index of the target in the check's `targets`.
    pub target: usize,
    /// How many targets the check has.
    pub targets: usize,
    /// `Some(true)` up, `Some(false)` down; `None` unknown or a plugin failure (no verdict).
    pub up: Option<bool>,
    /// When the run started.
    pub started: Instant,
}

struct Running {
    config: CheckConfig,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The scheduler. [`Scheduler::apply`] makes the running checks match a config.
pub struct Scheduler {
    registry: Arc<Registry>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    running: Mutex<HashMap<String, Running>>,
    status: StatusMap,
    events: tokio::sync::broadcast::Sender<ProbeEvent>,
}

impl Scheduler {
    /// A scheduler with no checks; at most `max_concurrency` plugin calls run at once.
    pub fn new(
        registry: Arc<Registry>,
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        max_concurrency: usize,
    ) -> Self {
        Self {
            registry,
            store,
            metrics,
            permits: Arc::new(Semaphore::new(max_concurrency)),
            running: Mutex::new(HashMap::new()),
            status: Arc::new(Mutex::new(BTreeMap::new())),
            events: tokio::sync::broadcast::channel(1024).0,
        }
    }

    /// Every probe verdict from now on (a slow receiver loses the oldest).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ProbeEvent> {
        self.events.subscribe()
    }

    /// Starts new checks, restarts changed ones, stops removed ones; unchanged checks keep
    /// running undisturbed. Must be called inside a tokio runtime.
    pub fn apply(&self, checks: &[CheckConfig]) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let wanted: HashMap<&str, &CheckConfig> =
            checks.iter().map(|c| (c.name.as_str(), c)).collect();
        running.retain(|name, r| wanted.get(name.as_str()).is_some_and(|c| **c == r.config));
        {
            let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
            status.retain(|name, _| running.contains_key(name));
        }
        for check in checks {
            if running.contains_key(&check.name) {
                continue;
            }
            tracing::info!(check = %check.name, plugin = %check.plugin, targets = check.targets.len(), "starting check");
            self.status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(check.name.clone(), initial_status(check));
            let tasks = (0..check.targets.len())
                .map(|i| {
                    let runner = TargetRunner {
                        check: Arc::new(check.clone()),
                        config_json: Arc::from(check.config_json()),
                        index: i,
                        registry: self.registry.clone(),
                        store: self.store.clone(),
                        metrics: self.metrics.clone(),
                        permits: self.permits.clone(),
                        status: self.status.clone(),
                        events: self.events.clone(),
                    };
                    tokio::spawn(runner.run())
                })
                .collect();
            running.insert(
                check.name.clone(),
                Running {
                    config: check.clone(),
                    tasks,
                },
            );
        }
    }

    /// Every check's status, by name.
    pub fn statuses(&self) -> Vec<CheckStatus> {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

fn initial_status(check: &CheckConfig) -> CheckStatus {
    CheckStatus {
        name: check.name.clone(),
        plugin: check.plugin.clone(),
        interval_seconds: check.interval.as_secs_f64(),
        timeout_seconds: check.timeout.as_secs_f64(),
        grant_net: check.grant.net.iter().map(|r| r.0.to_string()).collect(),
        targets: check
            .targets
            .iter()
            .map(|t| TargetStatus {
                target: t.clone(),
                status: "pending".into(),
                message: String::new(),
                error_reason: None,
                last_run: None,
                last_duration_seconds: None,
                runs: 0,
                consecutive_plugin_failures: 0,
                plugin_version: None,
            })
            .collect(),
    }
}

/// A stable offset in `[0, interval)` for a (check, target) pair.
fn jitter(check: &str, target: &str, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (check, target).hash(&mut h);
    let nanos = interval.as_nanos().max(1) as u64;
    Duration::from_nanos(h.finish() % nanos)
}

struct TargetRunner {
    check: Arc<CheckConfig>,
    config_json: Arc<str>,
    index: usize,
    registry: Arc<Registry>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    status: StatusMap,
    events: tokio::sync::broadcast::Sender<ProbeEvent>,
}

impl TargetRunner {
    fn target(&self) -> &str {
        &self.check.targets[self.index]
    }

    async fn run(self) {
        let interval = self.check.interval;
        let start = tokio::time::Instant::now() + jitter(&self.check.name, self.target(), interval);
        let mut ticker = tokio::time::interval_at(start, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut changes = self.registry.subscribe();
        let mut grant: Option<(Instant, Arc<NetGrant>)> = None;
        let mut failures = 0u32;
        let mut skip = 0u32;
        // The content of the version that failed: replacing it ends the backoff.
        let mut failed_sha: Option<String> = None;
        loop {
            let scheduled = ticker.tick().await;
            if scheduled.elapsed() > interval {
                self.metrics
                    .check_late
                    .get_or_create(&labels([("check", &self.check.name)]))
                    .inc();
            }
            if skip > 0 {
                // Same content (its optimized code included) keeps backing off; a new version
                // runs at this tick.
                if self.registry.sha256(&self.check.plugin) == failed_sha {
                    skip -= 1;
                    continue;
                }
                skip = 0;
                failures = 0;
            }
            let Some(plugin) = self.registry.get(&self.check.plugin) else {
                self.update(|t| {
                    t.status = "waiting".into();
                    t.message = format!("plugin {:?} is not loaded", self.check.plugin);
                });
                // Start as soon as the plugin arrives rather than at the next tick.
                tokio::select! {
                    _ = changes.changed() => ticker.reset_immediately(),
                    _ = tokio::time::sleep(interval) => {}
                }
                continue;
            };
            if plugin.kind() != Kind::Prober {
                self.update(|t| {
                    t.status = "waiting".into();
                    t.message = format!(
                        "plugin {:?} is a {}, not a prober",
                        self.check.plugin,
                        plugin.kind()
                    );
                });
                continue;
            }
            let net = match &grant {
                Some((at, g)) if at.elapsed() < GRANT_TTL => g.clone(),
                _ => {
                    let mut g =
                        NetGrant::new(self.check.grant.net.iter().map(|r| r.0.clone()).collect());
                    g.resolve(Duration::from_secs(2).min(self.check.timeout))
                        .await;
                    let g = Arc::new(g);
                    grant = Some((Instant::now(), g.clone()));
                    g
                }
            };
            let call_grant = self.call_grant(net);
            let Ok(_permit) = self.permits.acquire().await else {
                return;
            };
            let wall = SystemTime::now();
            let started = Instant::now();
            let result = plugin
                .probe(
                    self.target(),
                    &self.config_json,
                    &call_grant,
                    self.check.timeout,
                )
                .await;
            let took = started.elapsed();
            drop(_permit);
            self.registry
                .record_call(plugin.name(), took, result.as_ref().map(|_| ()));
            self.metrics
                .check_runs
                .get_or_create(&labels([("check", &self.check.name)]))
                .inc();
            failures = if result.is_err() { failures + 1 } else { 0 };
            failed_sha = result.is_err().then(|| plugin.sha256().to_string());
            if failures >= BACKOFF_AFTER {
                skip = (1u32 << (failures - BACKOFF_AFTER).min(5)).min(MAX_BACKOFF_INTERVALS) - 1;
            }
            self.write(wall, took, &result).await;
            let version = plugin.description().version.clone();
            self.update(|t| {
                t.runs += 1;
                t.last_run = Some(rfc3339(wall));
                t.last_duration_seconds = Some(took.as_secs_f64());
                t.consecutive_plugin_failures = failures;
                t.plugin_version = Some(version);
                match &result {
                    Ok(o) => {
                        t.status = match o.status {
                            ProbeStatus::Up => "up",
                            ProbeStatus::Down => "down",
                            ProbeStatus::Unknown => "unknown",
                        }
                        .into();
                        t.message = o.message.clone();
                        t.error_reason = None;
                    }
                    Err(e) => {
                        t.status = "error".into();
                        t.message = format!("plugin {}: {e}", self.check.plugin);
                        t.error_reason = Some(e.reason().to_string());
                    }
                }
            });
            let _ = self.events.send(ProbeEvent {
                check: Arc::from(self.check.name.as_str()),
                target: self.index,
                targets: self.check.targets.len(),
                up: match &result {
                    Ok(o) => match o.status {
                        ProbeStatus::Up => Some(true),
                        ProbeStatus::Down => Some(false),
                        ProbeStatus::Unknown => None,
                    },
                    Err(_) => None,
                },
                started,
            });
            if let Err(e) = &result {
                tracing::warn!(check = %self.check.name, target = %self.target(), plugin = %self.check.plugin, reason = e.reason(), "plugin call failed: {e}");
            }
        }
    }

    fn call_grant(&self, net: Arc<NetGrant>) -> CallGrant {
        let metrics = self.metrics.clone();
        let plugin = self.check.plugin.clone();
        let check = self.check.name.clone();
        CallGrant {
            check: Arc::from(self.check.name.as_str()),
            net,
            on_deny: Arc::new(move |addr: &str| {
                tracing::warn!(%plugin, %check, address = addr, "network access denied: outside the check's grant");
                metrics
                    .permission_denied
                    .get_or_create(&labels([("plugin", &plugin), ("check", &check)]))
                    .inc();
            }),
        }
    }

    fn update(&self, f: impl FnOnce(&mut TargetStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = status
            .get_mut(&self.check.name)
            .and_then(|c| c.targets.get_mut(self.index))
        {
            f(t);
        }
    }

    fn labels_for(&self, name: &str, extra: &[(String, String)]) -> Option<Labels> {
        let mut pairs: Vec<(String, String)> = vec![
            ("__name__".into(), name.into()),
            ("check".into(), self.check.name.clone()),
            ("instance".into(), self.target().to_string()),
        ];
        pairs.extend(
            self.check
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        pairs.extend(
            extra
                .iter()
                .filter(|(k, _)| !self.check.labels.contains_key(k))
                .cloned(),
        );
        match Labels::from_pairs(pairs) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(check = %self.check.name, "dropping sample {name}: {e}");
                None
            }
        }
    }

    async fn write(
        &self,
        wall: SystemTime,
        took: Duration,
        result: &Result<ProbeOutcome, CallError>,
    ) {
        let ts = wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut batch = Vec::new();
        let mut push = |name: &str, extra: &[(String, String)], value: f64| {
            if let Some(l) = self.labels_for(name, extra) {
                batch.push((l, ts, value));
            }
        };
        match result {
            Ok(o) => {
                match o.status {
                    ProbeStatus::Up => push("probe_success", &[], 1.0),
                    ProbeStatus::Down => push("probe_success", &[], 0.0),
                    ProbeStatus::Unknown => {}
                }
                let d = if o.duration.is_zero() {
                    took
                } else {
                    o.duration
                };
                push("probe_duration_seconds", &[], d.as_secs_f64());
                push("ward_probe_plugin_error", &[], 0.0);
                for s in &o.samples {
                    push(&s.name, &s.labels, s.value);
                }
            }
            Err(_) => push("ward_probe_plugin_error", &[], 1.0),
        }
        // Appends wait for an fsync: keep them off the async workers.
        let store = self.store.clone();
        let written = tokio::task::spawn_blocking(move || {
            let r = store.append(&batch);
            (r, store.series_count())
        })
        .await;
        match written {
            Ok((Ok(report), series)) => {
                if report.rejected_total > 0 {
                    tracing::warn!(
                        check = %self.check.name,
                        rejected = report.rejected_total,
                        "store refused samples: {}",
                        report.rejected.first().map(|r| r.1.to_string()).unwrap_or_default()
                    );
                }
                self.metrics.store_series.set(series as i64);
            }
            Ok((Err(e), _)) => {
                tracing::error!(check = %self.check.name, "store append failed: {e}")
            }
            Err(e) => tracing::error!(check = %self.check.name, "store append failed: {e}"),
        }
    }
}
