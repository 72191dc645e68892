//! Process supervision: keeps the config's `[[service]]`s running.
//!
//! Each service has a task ([`service`]) that owns its process: it waits until every
//! `depends_on` service is running, spawns the process in its own process group
//! ([`process`]), drains its output into a rotated log file and an in-memory tail ([`logs`]),
//! moves `starting -> running` once the process is alive (for `start_period`) or its health
//! check passes, restarts it by its policy with exponential backoff ([`backoff`]) and gives up
//! (`failed`) after `max_restarts` within `restart_window`. Stopping sends the stop signal to
//! the whole group, waits `stop_timeout`, then SIGKILLs it; nothing of a run outlives it.
//!
//! States: `stopped -> starting -> running -> stopping -> stopped`, plus `backoff` (waiting
//! to restart) and `failed` (not restarted: policy or too many restarts).
//!
//! [`Supervisor::apply`] makes the running services match a config (changed ones restart,
//! removed ones stop, unchanged ones are left alone); [`Supervisor::shutdown`] stops every
//! service, dependents before their dependencies. When ward is PID 1 ([`reaper`]) it also
//! reaps orphaned zombies.

pub mod backoff;
pub mod logs;
pub mod process;
pub mod reaper;
pub mod service;

use crate::config::{RestartPolicy, ServiceConfig};
use crate::scheduler::Scheduler;
use logs::{LogLine, ServiceLog};
use serde::Serialize;
use service::{Command, ServiceTask};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// A service's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Not running, not wanted.
    Stopped,
    /// Waiting for dependencies, or started and not yet alive/healthy.
    Starting,
    /// Alive (and healthy, with a health check).
    Running,
    /// Stop signal sent, waiting for it to exit.
    Stopping,
    /// Exited; waiting out the restart delay.
    Backoff,
    /// Exited and not restarted (policy, or too many restarts).
    Failed,
}

impl Phase {
    /// Every state, in the order of `ward_service_state`'s series.
    pub const ALL: [Phase; 6] = [
        Phase::Stopped,
        Phase::Starting,
        Phase::Running,
        Phase::Stopping,
        Phase::Backoff,
        Phase::Failed,
    ];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Backoff => "backoff",
            Self::Failed => "failed",
        }
    }
}

/// How the last run ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExitInfo {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal, when one killed it.
    pub signal: Option<i32>,
    /// When (RFC 3339).
    pub at: String,
    /// How long it ran, seconds.
    pub ran_seconds: f64,
    /// Why, in words.
    pub reason: String,
}

/// The health check's view of a service.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HealthInfo {
    /// The check's name.
    pub check: String,
    /// Whether every target's last probe (since the process started) passed; `None` before
    /// the first probe.
    pub healthy: Option<bool>,
    /// Failed probes in a row.
    pub consecutive_failures: u32,
}

/// One service as `GET /api/v1/services` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    /// Name.
    pub name: String,
    /// State.
    pub state: Phase,
    /// Why it is in that state (waiting for what, restarting when, gave up why).
    pub detail: String,
    /// Pid of the process (its process group too).
    pub pid: Option<i32>,
    /// When the process started (RFC 3339).
    pub started_at: Option<String>,
    /// Seconds since the process started.
    pub uptime_seconds: Option<f64>,
    /// Restarts since ward started (not counting operator restarts).
    pub restarts: u64,
    /// Times the service gave up (`failed` after too many restarts).
    pub failures: u64,
    /// The last run's end.
    pub last_exit: Option<ExitInfo>,
    /// The health check, when one is set.
    pub health: Option<HealthInfo>,
    /// Restart policy.
    pub restart: String,
    /// Dependencies.
    pub depends_on: Vec<String>,
    /// The log file.
    pub log_file: String,
    #[serde(skip)]
    pub(crate) started: Option<Instant>,
    #[serde(skip)]
    pub(crate) start_time_seconds: Option<f64>,
}

/// What a caller asks of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start.
    Start,
    /// Stop.
    Stop,
    /// Restart.
    Restart,
}

/// Why a command could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// No such service.
    #[error("no service named {0:?}")]
    NotFound(String),
    /// The service's task is gone (ward is shutting down).
    #[error("service {0:?} is shutting down")]
    Gone(String),
}

/// State shared by the supervisor and its service tasks.
pub(crate) struct Shared {
    pub(crate) phases: watch::Sender<HashMap<String, Phase>>,
    pub(crate) status: Mutex<BTreeMap<String, ServiceStatus>>,
    /// Pids of processes ward spawned and has not waited for; the reaper leaves them alone.
    children: Mutex<HashSet<i32>>,
    logs_dir: PathBuf,
    stopped_dir: PathBuf,
}

impl Shared {
    /// Spawns a service's process, registering its pid before the reaper can see it exit.
    pub(crate) fn spawn(
        &self,
        config: &ServiceConfig,
    ) -> Result<process::Running, process::SpawnError> {
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        let run = process::spawn(config)?;
        children.insert(run.pid);
        Ok(run)
    }

    pub(crate) fn forget_child(&self, pid: i32) {
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pid);
    }

    fn marker(&self, name: &str) -> PathBuf {
        self.stopped_dir.join(name)
    }

    pub(crate) fn set_stopped_marker(&self, name: &str) {
        let write = std::fs::create_dir_all(&self.stopped_dir)
            .and_then(|_| std::fs::write(self.marker(name), b"stopped by the operator\n"));
        if let Err(e) = write {
            tracing::warn!(service = name, "cannot record the stop: {e}");
        }
    }

    pub(crate) fn clear_stopped_marker(&self, name: &str) {
        let _ = std::fs::remove_file(self.marker(name));
    }

    fn stopped_by_operator(&self, name: &str) -> bool {
        self.marker(name).exists()
    }
}

struct Handle {
    config: ServiceConfig,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
    log: Arc<ServiceLog>,
}

/// The supervisor: one task per service.
pub struct Supervisor {
    shared: Arc<Shared>,
    scheduler: Option<Arc<Scheduler>>,
    services: Mutex<HashMap<String, Handle>>,
    /// Serializes `apply` and `shutdown`.
    applying: tokio::sync::Mutex<()>,
}

impl Supervisor {
    /// A supervisor with no services, keeping logs in `<data_dir>/logs` and operator stops
    /// in `<data_dir>/services`. Health checks come from `scheduler`.
    pub fn new(data_dir: &Path, scheduler: Option<Arc<Scheduler>>) -> Self {
        Self {
            shared: Arc::new(Shared {
                phases: watch::channel(HashMap::new()).0,
                status: Mutex::new(BTreeMap::new()),
                children: Mutex::new(HashSet::new()),
                logs_dir: data_dir.join("logs"),
                stopped_dir: data_dir.join("services").join("stopped"),
            }),
            scheduler,
            services: Mutex::new(HashMap::new()),
            applying: tokio::sync::Mutex::new(()),
        }
    }

    /// Starts the zombie reaper when ward is PID 1.
    pub fn reap_if_init(&self) -> Option<JoinHandle<()>> {
        reaper::start_if_init(self.shared.clone())
    }

    /// Makes the services match `services`: new ones start, changed ones restart (stopped,
    /// then started with the new config), removed ones stop, unchanged ones are untouched.
    pub async fn apply(&self, services: &[ServiceConfig]) {
        let _guard = self.applying.lock().await;
        let wanted: HashMap<&str, &ServiceConfig> =
            services.iter().map(|s| (s.name.as_str(), s)).collect();
        let outgoing: Vec<(String, Handle)> = {
            let mut running = self.services.lock().unwrap_or_else(|e| e.into_inner());
            let names: Vec<String> = running
                .iter()
                .filter(|(name, h)| wanted.get(name.as_str()) != Some(&&h.config))
                .map(|(name, _)| name.clone())
                .collect();
            names
                .into_iter()
                .filter_map(|n| running.remove(&n).map(|h| (n, h)))
                .collect()
        };
        self.stop_in_order(outgoing).await;
        {
            let mut status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
            status.retain(|name, _| wanted.contains_key(name.as_str()));
        }
        self.shared.phases.send_if_modified(|m| {
            let before = m.len();
            m.retain(|name, _| wanted.contains_key(name.as_str()));
            before != m.len()
        });
        let mut running = self.services.lock().unwrap_or_else(|e| e.into_inner());
        for config in services {
            if running.contains_key(&config.name) {
                continue;
            }
            tracing::info!(service = %config.name, command = %config.command, "supervising");
            running.insert(config.name.clone(), self.launch(config));
        }
    }

    fn launch(&self, config: &ServiceConfig) -> Handle {
        let log = Arc::new(ServiceLog::new(
            &self.shared.logs_dir,
            &config.name,
            config.log_max_bytes,
            config.log_backups,
        ));
        self.shared
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                config.name.clone(),
                ServiceStatus {
                    name: config.name.clone(),
                    state: Phase::Stopped,
                    detail: String::new(),
                    pid: None,
                    started_at: None,
                    uptime_seconds: None,
                    restarts: 0,
                    failures: 0,
                    last_exit: None,
                    health: config.health_check.as_ref().map(|c| HealthInfo {
                        check: c.clone(),
                        healthy: None,
                        consecutive_failures: 0,
                    }),
                    restart: config.restart.as_str().into(),
                    depends_on: config.depends_on.clone(),
                    log_file: log.path().display().to_string(),
                    started: None,
                    start_time_seconds: None,
                },
            );
        let (tx, rx) = mpsc::channel(16);
        let want_up = config.autostart
            && !(config.restart == RestartPolicy::UnlessStopped
                && self.shared.stopped_by_operator(&config.name));
        let task = ServiceTask {
            config: config.clone(),
            shared: self.shared.clone(),
            log: log.clone(),
            commands: rx,
            phases: self.shared.phases.subscribe(),
            health: match (&config.health_check, &self.scheduler) {
                (Some(_), Some(s)) => Some(s.subscribe()),
                _ => None,
            },
        };
        Handle {
            config: config.clone(),
            commands: tx,
            task: tokio::spawn(task.run(want_up)),
            log,
        }
    }

    /// Shuts services down, dependents before the services they depend on; services with
    /// no order between them stop concurrently.
    async fn stop_in_order(&self, mut outgoing: Vec<(String, Handle)>) {
        while !outgoing.is_empty() {
            // A service waits while a service still to stop depends on it.
            let needed: HashSet<String> = outgoing
                .iter()
                .flat_map(|(_, h)| h.config.depends_on.iter().cloned())
                .collect();
            let (now, later): (Vec<_>, Vec<_>) = outgoing
                .into_iter()
                .partition(|(name, _)| !needed.contains(name));
            // A cycle cannot pass validation; stop everything rather than loop if one did.
            let (now, later) = if now.is_empty() {
                (later, Vec::new())
            } else {
                (now, later)
            };
            let mut stops = tokio::task::JoinSet::new();
            for (name, h) in now {
                stops.spawn(async move {
                    let (ack, done) = oneshot::channel();
                    if h.commands.send(Command::Shutdown(ack)).await.is_ok() {
                        let _ = done.await;
                    }
                    let _ = h.task.await;
                    tracing::info!(service = %name, "stopped");
                });
            }
            stops.join_all().await;
            outgoing = later;
        }
    }

    /// Stops every service (dependents first) and ends their tasks.
    pub async fn shutdown(&self) {
        let _guard = self.applying.lock().await;
        let all: Vec<(String, Handle)> = self
            .services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        self.stop_in_order(all).await;
    }

    /// Asks a service to start, stop or restart, and waits for it to happen (a stop: until
    /// the process is gone; a restart: until the old process is gone). Returns its status.
    pub async fn command(
        &self,
        name: &str,
        action: Action,
    ) -> Result<ServiceStatus, SupervisorError> {
        let sender = self
            .services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map(|h| h.commands.clone())
            .ok_or_else(|| SupervisorError::NotFound(name.into()))?;
        let (ack, done) = oneshot::channel();
        let command = match action {
            Action::Start => Command::Start(ack),
            Action::Stop => Command::Stop(ack),
            Action::Restart => Command::Restart(ack),
        };
        sender
            .send(command)
            .await
            .map_err(|_| SupervisorError::Gone(name.into()))?;
        done.await.map_err(|_| SupervisorError::Gone(name.into()))?;
        self.status(name)
            .ok_or_else(|| SupervisorError::NotFound(name.into()))
    }

    /// One service's status.
    pub fn status(&self, name: &str) -> Option<ServiceStatus> {
        let status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
        status.get(name).map(with_uptime)
    }

    /// Every service's status, by name.
    pub fn list(&self) -> Vec<ServiceStatus> {
        let status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
        status.values().map(with_uptime).collect()
    }

    /// The last `n` lines of a service's output.
    pub fn logs(&self, name: &str, n: usize) -> Option<Vec<LogLine>> {
        self.services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map(|h| h.log.tail(n))
    }

    /// (service, pid) of every service with a process.
    pub fn pids(&self) -> Vec<(String, i32)> {
        let status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
        status
            .values()
            .filter_map(|s| s.pid.map(|p| (s.name.clone(), p)))
            .collect()
    }

    /// The `ward_service_*` samples, into `sink`: `up`, `state{state}`, `restarts_total`,
    /// `failures_total`, `start_time_seconds`, `last_exit_code`, `health_up`, each labelled
    /// `service`.
    pub fn sample(&self, sink: &mut dyn ward_sampler::Sink) {
        let status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
        for s in status.values() {
            let service = [("service", s.name.as_str())];
            let flag = |b: bool| f64::from(u8::from(b));
            sink.sample("ward_service_up", &service, flag(s.state == Phase::Running));
            for p in Phase::ALL {
                sink.sample(
                    "ward_service_state",
                    &[("service", s.name.as_str()), ("state", p.as_str())],
                    flag(s.state == p),
                );
            }
            sink.sample("ward_service_restarts_total", &service, s.restarts as f64);
            sink.sample("ward_service_failures_total", &service, s.failures as f64);
            if let Some(t) = s.start_time_seconds.filter(|_| s.pid.is_some()) {
                sink.sample("ward_service_start_time_seconds", &service, t);
            }
            if let Some(e) = &s.last_exit {
                let code = match (e.code, e.signal) {
                    (Some(c), _) => c,
                    (None, Some(sig)) => 128 + sig,
                    _ => -1,
                };
                sink.sample("ward_service_last_exit_code", &service, f64::from(code));
            }
            if let Some(healthy) = s.health.as_ref().and_then(|h| h.healthy) {
                sink.sample("ward_service_health_up", &service, flag(healthy));
            }
        }
    }
}

fn with_uptime(s: &ServiceStatus) -> ServiceStatus {
    let mut s = s.clone();
    s.uptime_seconds = s.started.map(|t| t.elapsed().as_secs_f64());
    s
}
