//! `[[service]]`: a process ward keeps running (command, environment, restart policy, stop,
//! health check, dependencies, logs).

use super::humantime_serde;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

/// One supervised service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Unique name (letters, digits, `_`, `-`, `.`): the `service` label of its series and
    /// the stem of its log file.
    pub name: String,
    /// The program: a path, or a name looked up in `PATH`.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Variables added to ward's environment for the process.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory; ward's own when unset.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// User to run as (name or uid); only when ward runs as root.
    #[serde(default)]
    pub user: Option<String>,
    /// Group to run as (name or gid); only when ward runs as root. Defaults to the user's
    /// primary group when `user` is set.
    #[serde(default)]
    pub group: Option<String>,
    /// Where standard output goes: `"log"` (the service's log file), `"inherit"` (ward's
    /// own), `"null"`.
    #[serde(default)]
    pub stdout: OutputConfig,
    /// Where standard error goes; as `stdout`.
    #[serde(default)]
    pub stderr: OutputConfig,
    /// A log file is rotated when it reaches this size, in bytes.
    #[serde(default = "default_log_max_bytes")]
    pub log_max_bytes: u64,
    /// Rotated log files kept (`<name>.log.1` ...).
    #[serde(default = "default_log_backups")]
    pub log_backups: u32,
    /// When to restart after the process exits.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// First restart delay; each further restart in a row doubles it.
    #[serde(default = "default_delay", with = "humantime_serde")]
    pub delay: Duration,
    /// Longest restart delay. A run that lasts longer than this resets the doubling.
    #[serde(default = "default_delay_max", with = "humantime_serde")]
    pub delay_max: Duration,
    /// Random spread of each delay, as a fraction (0.1: +-10%).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// Most restarts within `restart_window`; one more and the service is `failed`.
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// The window `max_restarts` counts over.
    #[serde(default = "default_restart_window", with = "humantime_serde")]
    pub restart_window: Duration,
    /// Signal sent to the process group to stop it (`TERM`, `INT`, `QUIT`, `HUP`, `USR1`,
    /// `USR2`, `KILL`; with or without `SIG`).
    #[serde(default = "default_stop_signal")]
    pub stop_signal: StopSignal,
    /// How long to wait after the stop signal before SIGKILL.
    #[serde(default = "default_stop_timeout", with = "humantime_serde")]
    pub stop_timeout: Duration,
    /// Without a health check: how long the process must stay alive to count as running.
    #[serde(default, with = "humantime_serde")]
    pub start_period: Duration,
    /// A `[[check]]` (by name) whose probes gate `starting -> running` and, when they fail
    /// `health_failures` times in a row, restart the service.
    #[serde(default)]
    pub health_check: Option<String>,
    /// Failed health probes in a row that restart a running service.
    #[serde(default = "default_health_failures")]
    pub health_failures: u32,
    /// With a health check: how long a start may take to pass it before it counts as a
    /// failed start.
    #[serde(default = "default_start_timeout", with = "humantime_serde")]
    pub start_timeout: Duration,
    /// Services that must be running (and healthy) before this one starts.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// What happens to this service when a dependency stops running: `"stop"` it (and start
    /// it again once the dependency is back) or `"hold"` it (leave it running; it only waits
    /// for the dependency before its next start).
    #[serde(default)]
    pub on_dependency_failure: DependencyPolicy,
    /// Start with ward (false: only when started through the API).
    #[serde(default = "default_true")]
    pub autostart: bool,
}

fn default_log_max_bytes() -> u64 {
    10 << 20
}
fn default_log_backups() -> u32 {
    3
}
fn default_delay() -> Duration {
    Duration::from_secs(1)
}
fn default_delay_max() -> Duration {
    Duration::from_secs(60)
}
fn default_jitter() -> f64 {
    0.1
}
fn default_max_restarts() -> u32 {
    10
}
fn default_restart_window() -> Duration {
    Duration::from_secs(300)
}
fn default_stop_signal() -> StopSignal {
    StopSignal::Term
}
fn default_stop_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_health_failures() -> u32 {
    3
}
fn default_start_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_true() -> bool {
    true
}

/// `stdout` / `stderr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputConfig {
    /// The service's log file (rotated) and the in-memory tail the API serves.
    #[default]
    Log,
    /// ward's own stream.
    Inherit,
    /// Discarded.
    Null,
}

/// `restart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// After every exit.
    Always,
    /// After an exit with a non-zero code, a signal, a failed start or failed health checks.
    #[default]
    OnFailure,
    /// Never.
    Never,
    /// As `always`, but a service stopped through the API stays stopped, across ward
    /// restarts too, until started through the API.
    UnlessStopped,
}

impl RestartPolicy {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::OnFailure => "on-failure",
            Self::Never => "never",
            Self::UnlessStopped => "unless-stopped",
        }
    }
}

/// `on_dependency_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyPolicy {
    /// Stop the dependent; start it again when every dependency runs.
    #[default]
    Stop,
    /// Leave the dependent running.
    Hold,
}

/// `stop_signal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGTERM.
    Term,
    /// SIGINT.
    Int,
    /// SIGQUIT.
    Quit,
    /// SIGHUP.
    Hup,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
    /// SIGKILL.
    Kill,
}

impl StopSignal {
    /// The signal as rustix knows it.
    pub fn signal(self) -> rustix::process::Signal {
        use rustix::process::Signal;
        match self {
            Self::Term => Signal::TERM,
            Self::Int => Signal::INT,
            Self::Quit => Signal::QUIT,
            Self::Hup => Signal::HUP,
            Self::Usr1 => Signal::USR1,
            Self::Usr2 => Signal::USR2,
            Self::Kill => Signal::KILL,
        }
    }
}

impl<'de> Deserialize<'de> for StopSignal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let name = s.trim_start_matches("SIG");
        Ok(match name {
            "TERM" => Self::Term,
            "INT" => Self::Int,
            "QUIT" => Self::Quit,
            "HUP" => Self::Hup,
            "USR1" => Self::Usr1,
            "USR2" => Self::Usr2,
            "KILL" => Self::Kill,
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "unknown stop signal {s:?} (expected TERM, INT, QUIT, HUP, USR1, USR2 or KILL)"
                )));
            }
        })
    }
}

/// A valid service name: used in a file name and a label value.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Checks the services against each other and the checks; the error names the service and
/// the key.
pub(super) fn validate(services: &[ServiceConfig], checks: &HashSet<&str>) -> Result<(), String> {
    let mut names = HashSet::new();
    for s in services {
        let name = &s.name;
        if !is_valid_name(name) {
            return Err(format!(
                "service {name:?}: name: use letters, digits, '_', '-' and '.' (not first)"
            ));
        }
        if !names.insert(name.as_str()) {
            return Err(format!("service {name:?}: name: duplicate service name"));
        }
        if s.command.is_empty() {
            return Err(format!("service {name:?}: command: must not be empty"));
        }
        if s.delay > s.delay_max {
            return Err(format!(
                "service {name:?}: delay: must be at most delay_max ({:?})",
                s.delay_max
            ));
        }
        if !(0.0..=1.0).contains(&s.jitter) {
            return Err(format!("service {name:?}: jitter: must be between 0 and 1"));
        }
        if s.restart_window.is_zero() {
            return Err(format!(
                "service {name:?}: restart_window: must be more than 0"
            ));
        }
        if s.log_max_bytes < 4096 {
            return Err(format!(
                "service {name:?}: log_max_bytes: must be at least 4096"
            ));
        }
        if s.health_failures == 0 {
            return Err(format!(
                "service {name:?}: health_failures: must be at least 1"
            ));
        }
        if let Some(check) = &s.health_check
            && !checks.contains(check.as_str())
        {
            return Err(format!(
                "service {name:?}: health_check: no [[check]] named {check:?}"
            ));
        }
        for k in s.env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(format!("service {name:?}: env.{k}: invalid variable name"));
            }
        }
    }
    let by_name: HashMap<&str, &ServiceConfig> =
        services.iter().map(|s| (s.name.as_str(), s)).collect();
    for s in services {
        for d in &s.depends_on {
            if d == &s.name {
                return Err(format!(
                    "service {:?}: depends_on: a service cannot depend on itself",
                    s.name
                ));
            }
            if !by_name.contains_key(d.as_str()) {
                return Err(format!(
                    "service {:?}: depends_on: no [[service]] named {d:?}",
                    s.name
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(services, &by_name) {
        return Err(format!(
            "service {:?}: depends_on: dependency cycle {}",
            cycle[0],
            cycle.join(" -> ")
        ));
    }
    Ok(())
}

/// A dependency cycle, as the names along it (first repeated last).
fn find_cycle(
    services: &[ServiceConfig],
    by_name: &HashMap<&str, &ServiceConfig>,
) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        name: &'a str,
        by_name: &HashMap<&'a str, &'a ServiceConfig>,
        marks: &mut HashMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(name) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let from = path.iter().position(|n| *n == name).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(name, Mark::Visiting);
        path.push(name);
        if let Some(s) = by_name.get(name) {
            for d in &s.depends_on {
                if let Some(c) = visit(d, by_name, marks, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        marks.insert(name, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for s in services {
        let mut path = Vec::new();
        if let Some(c) = visit(&s.name, by_name, &mut marks, &mut path) {
            return Some(c);
        }
    }
    None
}
