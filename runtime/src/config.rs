//! The configuration file (TOML): where ward listens and keeps its data, plugin limits, and the
//! checks to run, the services to supervise. Unknown keys are errors; every error names the
//! file, line and key.

mod service;

pub use service::{
    DependencyPolicy, OutputConfig, RestartPolicy, ServiceConfig, StopSignal, is_valid_name,
};

use crate::capability::net::NetRule;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP API.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory for ward's data (store, compile cache).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Directory watched for `*.wasm` plugins.
    #[serde(default = "default_plugins_dir")]
    pub plugins_dir: PathBuf,
    /// Caps on every plugin call.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Scheduler settings.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// Time-series store settings.
    #[serde(default)]
    pub store: StoreConfig,
    /// HTTP API settings: auth tokens, query and ingest limits.
    #[serde(default)]
    pub api: ApiConfig,
    /// Checks: a prober plugin run against targets on an interval.
    #[serde(default, rename = "check")]
    pub checks: Vec<CheckConfig>,
    /// Native sampling of the machine and of processes.
    #[serde(default)]
    pub sampler: SamplerConfig,
    /// Services: processes ward starts, keeps running and stops.
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceConfig>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("ward-data")
}

fn default_plugins_dir() -> PathBuf {
    PathBuf::from("plugins")
}

/// `[limits]`: caps on every plugin call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Linear memory per plugin instance, in MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u32,
    /// Fuel per call (roughly, wasm instructions); unset disables fuel metering.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Largest message a probe may return, in bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Most extra samples one probe may return.
    #[serde(default = "default_max_samples")]
    pub max_samples: usize,
}

fn default_memory_mib() -> u32 {
    128
}
fn default_max_message_bytes() -> usize {
    64 << 10
}
fn default_max_samples() -> usize {
    10_000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            memory_mib: default_memory_mib(),
            fuel: None,
            max_message_bytes: default_max_message_bytes(),
            max_samples: default_max_samples(),
        }
    }
}

/// `[scheduler]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Plugin calls running at once, across all checks.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Linear memory each plugin instance slot keeps resident between calls, in KiB (only
    /// the pages a call touched; Linux 6.7+; 0 gives every page back after each call).
    #[serde(default = "default_keep_resident_kib")]
    pub keep_resident_kib: u32,
    /// New plugin code serves first from wasmtime's baseline compiler (Winch, ~5x faster to
    /// compile), then from Cranelift's optimized code compiled in the background; `false`
    /// waits for Cranelift.
    #[serde(default = "default_true")]
    pub baseline_compile: bool,
}

fn default_keep_resident_kib() -> u32 {
    (crate::plugin::DEFAULT_KEEP_RESIDENT >> 10) as u32
}

fn default_concurrency() -> usize {
    64
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_concurrency: default_concurrency(),
            keep_resident_kib: default_keep_resident_kib(),
            baseline_compile: true,
        }
    }
}

/// `[store]`: the embedded time-series store (in `<data_dir>/store`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Samples older than this (relative to the newest) are dropped, a day at a time.
    #[serde(default = "default_retention", with = "humantime_serde")]
    pub retention: Duration,
    /// How far behind the newest sample a sample may arrive and still be merged.
    #[serde(default = "default_ooo_window", with = "humantime_serde")]
    pub out_of_order_window: Duration,
    /// `"sync"`: every write is fsynced before it is acknowledged (group commit).
    /// `"buffered"`: written to the OS at once, fsynced every `sync_interval`.
    #[serde(default)]
    pub durability: DurabilityConfig,
    /// Time between syncs with `durability = "buffered"`.
    #[serde(default = "default_sync_interval", with = "humantime_serde")]
    pub sync_interval: Duration,
    /// Block cache for reads from disk, in MiB (0 caches nothing).
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u64,
    /// Memtable of each day's chunk and index keyspaces and of the series dictionary, in MiB
    /// (at least 1): what fresh chunks hold in memory before they are written to a table.
    /// fjall fixes it when a keyspace is created: a change reaches day partitions created
    /// after it; the series dictionary keeps the size it was created with.
    #[serde(default = "default_memtable_mib")]
    pub memtable_mib: u64,
    /// Recent chunks already written that the head keeps in memory (at most 4 per series)
    /// so that queries of the last minutes need not read the disk, in MiB (0 keeps none).
    #[serde(default = "default_kept_mib")]
    pub kept_mib: u64,
}

/// `[store] durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityConfig {
    /// fsync before acknowledging.
    #[default]
    Sync,
    /// fsync on an interval.
    Buffered,
}

fn default_retention() -> Duration {
    Duration::from_secs(15 * 24 * 3600)
}
fn default_ooo_window() -> Duration {
    Duration::from_secs(3600)
}
fn default_sync_interval() -> Duration {
    Duration::from_secs(1)
}
// A monitoring agent shares its host with what it watches: these keep the store's own memory
// to a few MiB beyond its head (see BENCHMARKS.md, supervision and sampling). A server that
// imports or queries a lot can raise them.
fn default_cache_mib() -> u64 {
    8
}
fn default_memtable_mib() -> u64 {
    1
}
fn default_kept_mib() -> u64 {
    2
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            retention: default_retention(),
            out_of_order_window: default_ooo_window(),
            durability: DurabilityConfig::default(),
            sync_interval: default_sync_interval(),
            cache_mib: default_cache_mib(),
            memtable_mib: default_memtable_mib(),
            kept_mib: default_kept_mib(),
        }
    }
}

impl StoreConfig {
    fn validate(&self) -> Result<(), String> {
        for (key, mib, min) in [
            ("cache_mib", self.cache_mib, 0),
            ("memtable_mib", self.memtable_mib, 1),
            ("kept_mib", self.kept_mib, 0),
        ] {
            if !(min..=4096).contains(&mib) {
                return Err(format!("store.{key}: must be between {min} and 4096"));
            }
        }
        Ok(())
    }

    /// The store's options.
    pub fn options(&self) -> ward_store::StoreOptions {
        ward_store::StoreOptions {
            retention: self.retention,
            out_of_order_window: self.out_of_order_window,
            durability: match self.durability {
                DurabilityConfig::Sync => ward_store::Durability::Sync,
                DurabilityConfig::Buffered => ward_store::Durability::Buffered {
                    interval: self.sync_interval,
                },
            },
            maintenance_interval: Some(self.sync_interval.min(Duration::from_secs(10))),
            cache_bytes: self.cache_mib << 20,
            memtable_bytes: self.memtable_mib << 20,
            kept_bytes: usize::try_from(self.kept_mib << 20).unwrap_or(usize::MAX),
            ..ward_store::StoreOptions::default()
        }
    }
}

/// `[sampler]`: what ward samples from `/proc` and `/sys`, and how often. Reloaded live.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerConfig {
    /// Time between rounds; at least 1s.
    #[serde(default = "default_sampler_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Sample the machine (node_exporter's `node_*` families).
    #[serde(default = "default_true")]
    pub system: bool,
    /// Sample each service's process tree (process-exporter's `namedprocess_namegroup_*`
    /// families, `groupname` = the service).
    #[serde(default = "default_true")]
    pub services: bool,
    /// More process groups: every process whose name matches `pattern`.
    #[serde(default)]
    pub processes: Vec<ProcessGroupConfig>,
    /// The `job` label of every sampled series, as a Prometheus scrape of node_exporter
    /// would add it (dashboards such as "Node Exporter Full" select on it).
    #[serde(default = "default_sampler_job")]
    pub job: String,
    /// The `instance` label of every sampled series; unset: this machine's host name.
    #[serde(default)]
    pub instance: Option<String>,
}

fn default_sampler_job() -> String {
    "node".into()
}

/// `[[sampler.processes]]`: a group of processes sampled together.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessGroupConfig {
    /// The `groupname` label.
    pub name: String,
    /// Regular expression matched against the process name (`comm`) and the base name of
    /// its executable.
    pub pattern: String,
}

fn default_sampler_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_true() -> bool {
    true
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            interval: default_sampler_interval(),
            system: true,
            services: true,
            processes: Vec::new(),
            job: default_sampler_job(),
            instance: None,
        }
    }
}

impl SamplerConfig {
    /// `job` and `instance` (the configured one, or the host name).
    pub fn target_labels(&self) -> Vec<(String, String)> {
        let instance = self.instance.clone().unwrap_or_else(|| {
            rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned()
        });
        vec![
            ("job".into(), self.job.clone()),
            ("instance".into(), instance),
        ]
    }

    fn validate(&self) -> Result<(), String> {
        if self.interval < crate::sampler::MIN_INTERVAL {
            return Err("sampler.interval: must be at least 1s".into());
        }
        let mut names = std::collections::HashSet::new();
        for p in &self.processes {
            if p.name.is_empty() || !names.insert(p.name.as_str()) {
                return Err(format!(
                    "sampler.processes: name {:?}: empty or duplicate",
                    p.name
                ));
            }
            if let Err(e) = regex::Regex::new(&p.pattern) {
                return Err(format!("sampler.processes: pattern of {:?}: {e}", p.name));
            }
        }
        Ok(())
    }
}

/// `[api]`: the HTTP API's tokens and limits. Restart to apply.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Bearer token for reads (queries, series, federation, `/metrics`, plugin and check
    /// status). Unset: reads need no token.
    #[serde(default)]
    pub read_token: Option<Secret>,
    /// File holding the read token (trailing newline ignored); instead of `read_token`.
    #[serde(default)]
    pub read_token_file: Option<PathBuf>,
    /// Bearer token for writes (`/api/v1/write`, `/api/v1/import/prometheus`); it may read
    /// too. Unset: writes need the read token, or nothing when no token is set at all.
    #[serde(default)]
    pub write_token: Option<Secret>,
    /// File holding the write token; instead of `write_token`.
    #[serde(default)]
    pub write_token_file: Option<PathBuf>,
    /// Longest a query may run (a request's `timeout` can only shorten it).
    #[serde(default = "default_query_timeout", with = "humantime_serde")]
    pub query_timeout: Duration,
    /// Most samples a query may hold in memory.
    #[serde(default = "default_query_max_samples")]
    pub max_samples: usize,
    /// Most series a query's result may hold; more is a 422 error.
    #[serde(default = "default_query_max_series")]
    pub max_series: usize,
    /// How far back an instant selector (and `/federate`) looks for a sample.
    #[serde(default = "default_lookback_delta", with = "humantime_serde")]
    pub lookback_delta: Duration,
    /// Queries evaluated at once; more wait (within their timeout).
    #[serde(default = "default_max_concurrent_queries")]
    pub max_concurrent_queries: usize,
    /// Largest request body, in bytes; for remote write also the decompressed size.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Most samples one remote-write or import request may carry.
    #[serde(default = "default_max_samples_per_request")]
    pub max_samples_per_request: usize,
    /// Write requests handled at once; more are answered 503 so that senders retry later.
    #[serde(default = "default_max_concurrent_writes")]
    pub max_concurrent_writes: usize,
}

fn default_query_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_query_max_samples() -> usize {
    50_000_000
}
fn default_query_max_series() -> usize {
    100_000
}
fn default_lookback_delta() -> Duration {
    Duration::from_secs(300)
}
fn default_max_concurrent_queries() -> usize {
    20
}
fn default_max_body_bytes() -> usize {
    64 << 20
}
fn default_max_samples_per_request() -> usize {
    2_000_000
}
fn default_max_concurrent_writes() -> usize {
    8
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            read_token: None,
            read_token_file: None,
            write_token: None,
            write_token_file: None,
            query_timeout: default_query_timeout(),
            max_samples: default_query_max_samples(),
            max_series: default_query_max_series(),
            lookback_delta: default_lookback_delta(),
            max_concurrent_queries: default_max_concurrent_queries(),
            max_body_bytes: default_max_body_bytes(),
            max_samples_per_request: default_max_samples_per_request(),
            max_concurrent_writes: default_max_concurrent_writes(),
        }
    }
}

impl ApiConfig {
    /// The tokens, reading token files. Errors name the field and the file.
    pub fn tokens(&self) -> Result<ApiTokens, ConfigError> {
        let read = |field: &str, token: &Option<Secret>, file: &Option<PathBuf>| match (token, file)
        {
            (Some(t), None) => Ok(Some(t.clone())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    path: path.display().to_string(),
                    line: None,
                    column: None,
                    message: format!("api.{field}_file: cannot read the token: {e}"),
                })?;
                let token = text.trim_end_matches(['\n', '\r']);
                if token.is_empty() {
                    return Err(ConfigError {
                        path: path.display().to_string(),
                        line: None,
                        column: None,
                        message: format!("api.{field}_file: the file is empty"),
                    });
                }
                Ok(Some(Secret(token.to_string())))
            }
            _ => Ok(None),
        };
        Ok(ApiTokens {
            read: read("read_token", &self.read_token, &self.read_token_file)?,
            write: read("write_token", &self.write_token, &self.write_token_file)?,
        })
    }

    fn validate(&self) -> Result<(), String> {
        for (field, token, file) in [
            ("read_token", &self.read_token, &self.read_token_file),
            ("write_token", &self.write_token, &self.write_token_file),
        ] {
            if token.is_some() && file.is_some() {
                return Err(format!(
                    "api.{field}: set either {field} or {field}_file, not both"
                ));
            }
            if token.as_ref().is_some_and(|t| t.0.is_empty()) {
                return Err(format!("api.{field}: must not be empty"));
            }
        }
        let positive = [
            ("query_timeout", self.query_timeout.is_zero()),
            ("lookback_delta", self.lookback_delta.is_zero()),
            ("max_samples", self.max_samples == 0),
            ("max_concurrent_queries", self.max_concurrent_queries == 0),
            ("max_samples_per_request", self.max_samples_per_request == 0),
            ("max_concurrent_writes", self.max_concurrent_writes == 0),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, zero)| *zero) {
            return Err(format!("api.{field}: must be more than 0"));
        }
        if self.max_body_bytes < 1024 {
            return Err("api.max_body_bytes: must be at least 1024".into());
        }
        Ok(())
    }
}

/// The API's bearer tokens, read from the config (and token files).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiTokens {
    /// Token for reads.
    pub read: Option<Secret>,
    /// Token for writes (and reads).
    pub write: Option<Secret>,
}

/// A secret from the config: never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// `[[check]]`: one prober plugin run against each of its targets every interval.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Unique name; the `check` label of its series.
    pub name: String,
    /// The prober plugin: the file stem of a `.wasm` in the plugins directory.
    pub plugin: String,
    /// Targets: the `instance` label of each series; passed to the plugin as is.
    pub targets: Vec<String>,
    /// How often each target is probed.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Deadline of one probe; at most the interval.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Plugin config, passed to the plugin as JSON.
    #[serde(default)]
    pub config: toml::Table,
    /// What the plugin may reach.
    #[serde(default)]
    pub grant: Grant,
    /// Extra labels on every series of this check.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// `grant`: capabilities given to a check's plugin. Nothing is granted by default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// `host:port` rules the plugin may connect to (`*` for any host or port).
    #[serde(default)]
    pub net: Vec<NetRuleConfig>,
}

/// A network grant rule, parsed when the config is read.
#[derive(Debug, Clone, PartialEq)]
pub struct NetRuleConfig(pub NetRule);

impl<'de> Deserialize<'de> for NetRuleConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map(NetRuleConfig)
            .map_err(serde::de::Error::custom)
    }
}

pub(crate) mod humantime_serde {
    use serde::Deserialize;
    use std::time::Duration;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?}: {e} (expected e.g. \"10s\", \"1m30s\", \"500ms\")"
            ))
        })
    }
}

/// A configuration error: where and what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}{}: {message}", location(*line, *column))]
pub struct ConfigError {
    /// The file (or `<embedded default>`).
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong, naming the key.
    pub message: String,
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.display().to_string(),
            line: None,
            column: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `path` is only used in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, ConfigError> {
        let at = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = match span {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    (Some(line), Some(column))
                }
                None => (None, None),
            };
            ConfigError {
                path: path.to_string(),
                line,
                column,
                message,
            }
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            at(e.span(), message)
        })?;
        // Semantic checks; locate the offending check by its name's position in the text.
        let locate = |name: &str| {
            let needle = format!("\"{name}\"");
            text.find(&needle).map(|i| i..i + needle.len())
        };
        let mut seen = std::collections::HashSet::new();
        for check in &config.checks {
            let err = |message: String| Err(at(locate(&check.name), message));
            if check.name.is_empty() {
                return err("check.name: must not be empty".into());
            }
            if !seen.insert(check.name.as_str()) {
                return err(format!("check.name: duplicate check name {:?}", check.name));
            }
            if check.targets.is_empty() {
                return err(format!(
                    "check {:?}: targets: at least one target is needed",
                    check.name
                ));
            }
            if check.interval < Duration::from_millis(100) {
                return err(format!(
                    "check {:?}: interval: must be at least 100ms",
                    check.name
                ));
            }
            if check.timeout.is_zero() || check.timeout > check.interval {
                return err(format!(
                    "check {:?}: timeout: must be more than 0 and at most the interval ({:?})",
                    check.name, check.interval
                ));
            }
            for label in check.labels.keys() {
                if !ward_store::is_valid_label_name(label)
                    || label == "check"
                    || label == "instance"
                {
                    return err(format!(
                        "check {:?}: labels.{label}: invalid or reserved label name",
                        check.name
                    ));
                }
            }
        }
        let check_names: std::collections::HashSet<&str> =
            config.checks.iter().map(|c| c.name.as_str()).collect();
        if let Err(message) = service::validate(&config.services, &check_names) {
            // The message starts `service "<name>": <key>:`; point at the key in that
            // service's table when it is written there, else at the name.
            let name = message.split('"').nth(1).unwrap_or_default();
            let key = message.split(": ").nth(1).unwrap_or_default();
            let span = locate(name).map(|name_at| {
                let table_end = text[name_at.end..]
                    .find("[[")
                    .map_or(text.len(), |i| name_at.end + i);
                let table_start = text[..name_at.start].rfind("[[").unwrap_or(0);
                let key_at = text[table_start..table_end]
                    .find(&format!("\n{key}"))
                    .map(|i| table_start + i + 1);
                match key_at {
                    Some(k) if !key.is_empty() && key != "name" => k..k + key.len(),
                    _ => name_at,
                }
            });
            return Err(at(span, message));
        }
        if config.limits.memory_mib == 0 || config.limits.memory_mib > 4096 {
            return Err(at(
                None,
                "limits.memory_mib: must be between 1 and 4096".into(),
            ));
        }
        // `section.key: problem`: point at the line setting the key after the section header
        // (`key =`, so that a key is not found inside a longer one that ends with it).
        let key_span = |section: &str, message: &str| {
            let key = message.split([':', '.']).nth(1).unwrap_or(section);
            let start = text.find(&format!("[{section}]"))?;
            let mut at = start;
            for line in text[start..].split_inclusive('\n') {
                let indent = line.len() - line.trim_start().len();
                let rest = &line[indent..];
                if rest
                    .strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with('='))
                {
                    return Some(at + indent..at + indent + key.len());
                }
                at += line.len();
            }
            None
        };
        for (section, checked) in [
            ("api", config.api.validate()),
            ("store", config.store.validate()),
        ] {
            if let Err(message) = checked {
                return Err(at(key_span(section, &message), message));
            }
        }
        if let Err(message) = config.sampler.validate() {
            let span = text.find("[sampler").map(|i| i..i + "[sampler".len());
            return Err(at(span, message));
        }
        if config.scheduler.max_concurrency == 0 {
            return Err(at(
                None,
                "scheduler.max_concurrency: must be at least 1".into(),
            ));
        }
        Ok(config)
    }

    /// The embedded default: loopback API, `ward-data/`, `plugins/`, and checks that probe
    /// ward's own API with the first-party `http` and `tcp` probers.
    pub fn embedded_default(listen: SocketAddr) -> Self {
        let text = format!(
            r#"
listen = "{listen}"

[[check]]
name = "ward-api"
plugin = "http"
targets = ["http://{listen}/-/healthy"]
interval = "10s"
timeout = "2s"
config = {{ expect_status = [200], body_contains = "Healthy" }}
grant = {{ net = ["{listen}"] }}

[[check]]
name = "ward-port"
plugin = "tcp"
targets = ["{listen}"]
interval = "10s"
timeout = "2s"
grant = {{ net = ["{listen}"] }}
"#
        );
        // The embedded text is built from a valid socket address; parsing cannot fail.
        Self::parse(&text, "<embedded default>").unwrap_or_else(|e| {
            tracing::error!("embedded default config: {e}");
            Self::parse("", "<empty>").unwrap_or_else(|_| unreachable!())
        })
    }

    /// Limits for the plugin host.
    pub fn host_limits(&self) -> crate::plugin::Limits {
        crate::plugin::Limits {
            memory_bytes: (self.limits.memory_mib as usize) << 20,
            fuel: self.limits.fuel,
            max_message_bytes: self.limits.max_message_bytes,
            max_samples: self.limits.max_samples,
            ..crate::plugin::Limits::default()
        }
    }
}

impl CheckConfig {
    /// The plugin config as JSON text.
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, "ward.toml").unwrap_err().to_string()
    }

    #[test]
    fn store_settings_parse_and_bad_ones_are_named() {
        let c = Config::parse(
            "[store]\nretention = \"30d\"\ndurability = \"buffered\"\nsync_interval = \"2s\"\n",
            "ward.toml",
        )
        .unwrap();
        let o = c.store.options();
        assert_eq!(o.retention, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(
            o.durability,
            ward_store::Durability::Buffered {
                interval: Duration::from_secs(2)
            }
        );
        let e = err("[store]\ndurability = \"sometimes\"\n");
        assert!(e.starts_with("ward.toml:2:14"), "{e}");
        assert!(e.contains("sometimes"), "{e}");
        let e = err("[store]\nretention = \"forever\"\n");
        assert!(e.contains("invalid duration \"forever\""), "{e}");
        // Memory settings: the small agent defaults, overridable, bad ones named.
        assert_eq!(o.cache_bytes, 8 << 20);
        assert_eq!(o.memtable_bytes, 1 << 20);
        assert_eq!(o.kept_bytes, 2 << 20);
        let c = Config::parse(
            "[store]\ncache_mib = 64\nmemtable_mib = 16\nkept_mib = 0\n",
            "ward.toml",
        )
        .unwrap();
        let o = c.store.options();
        assert_eq!(
            (o.cache_bytes, o.memtable_bytes, o.kept_bytes),
            (64 << 20, 16 << 20, 0)
        );
        let e = err("[store]\nkept_mib = 2\nmemtable_mib = 0\n");
        assert!(
            e.starts_with("ward.toml:3:1: store.memtable_mib: must be between 1 and 4096"),
            "{e}"
        );
    }

    #[test]
    fn api_settings_parse_and_bad_ones_are_named() {
        let c = Config::parse(
            "[api]\nread_token = \"r\"\nwrite_token = \"w\"\nquery_timeout = \"30s\"\nmax_body_bytes = 2048\n",
            "ward.toml",
        )
        .unwrap();
        assert_eq!(c.api.query_timeout, Duration::from_secs(30));
        assert_eq!(c.api.lookback_delta, Duration::from_secs(300));
        let tokens = c.api.tokens().unwrap();
        assert_eq!(tokens.read, Some(Secret("r".into())));
        assert!(
            !format!("{c:?}").contains("\"w\""),
            "tokens are not printed"
        );
        let e = err("[api]\nread_token = \"r\"\nread_token_file = \"/x\"\n");
        assert!(
            e.starts_with("ward.toml:2:1: api.read_token: set either"),
            "{e}"
        );
        let e = err("[api]\nmax_body_bytes = 10\n");
        assert!(
            e.starts_with("ward.toml:2:1: api.max_body_bytes: must be at least"),
            "{e}"
        );
        let e = err("[api]\nwrite_token = \"\"\n");
        assert!(e.contains("api.write_token: must not be empty"), "{e}");
        let e = err("[api]\nlookback_delta = \"0s\"\n");
        assert!(e.contains("api.lookback_delta: must be more than 0"), "{e}");
        let e = err("[api]\nbogus = 1\n");
        assert!(e.contains("unknown field `bogus`"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\n").unwrap();
        let c = Config::parse(
            &format!(
                "[api]\nwrite_token_file = {:?}\n",
                file.display().to_string()
            ),
            "ward.toml",
        )
        .unwrap();
        assert_eq!(c.api.tokens().unwrap().write, Some(Secret("s3cret".into())));
        std::fs::write(&file, "").unwrap();
        let e = c.api.tokens().unwrap_err().to_string();
        assert!(e.contains("api.write_token_file: the file is empty"), "{e}");
    }

    #[test]
    fn the_issue_example_parses() {
        let c = Config::parse(
            r#"
listen = "127.0.0.1:9464"
data_dir = "ward-data"
plugins_dir = "plugins"
[[check]]
name = "api"
plugin = "http"
targets = ["http://127.0.0.1:8080/health"]
interval = "10s"
timeout = "2s"
config = { expect_status = [200], body_contains = "ok" }
grant = { net = ["127.0.0.1:8080"] }
"#,
            "ward.toml",
        )
        .unwrap();
        assert_eq!(c.checks[0].interval, Duration::from_secs(10));
        assert_eq!(
            c.checks[0].config_json(),
            r#"{"body_contains":"ok","expect_status":[200]}"#
        );
        assert_eq!(c.checks[0].grant.net[0].0.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = err("listen = \"127.0.0.1:1\"\nbogus = 1\n");
        assert!(e.starts_with("ward.toml:2:1: unknown field `bogus`"), "{e}");
        let e = err(
            "[[check]]\nname = \"a\"\nplugin = \"http\"\ntargets = [\"x\"]\ninterval = \"ten\"\n",
        );
        assert!(
            e.starts_with("ward.toml:5:12: invalid duration \"ten\""),
            "{e}"
        );
        let e = err(
            "[[check]]\nname = \"a\"\nplugin = \"http\"\ntargets = [\"x\"]\ngrant = { net = [\"nope\"] }\n",
        );
        assert!(
            e.starts_with("ward.toml:5:") && e.contains("invalid network grant \"nope\""),
            "{e}"
        );
        let e = err(
            "[[check]]\nname = \"a\"\nplugin = \"p\"\ntargets = [\"x\"]\n[[check]]\nname = \"a\"\nplugin = \"p\"\ntargets = [\"x\"]\n",
        );
        assert!(e.contains("duplicate check name \"a\""), "{e}");
        let e = err(
            "[[check]]\nname = \"a\"\nplugin = \"p\"\ntargets = [\"x\"]\ninterval = \"1s\"\ntimeout = \"5s\"\n",
        );
        assert!(e.starts_with("ward.toml:2:8: check \"a\": timeout"), "{e}");
        let e = err("[[check]]\nname = \"a\"\nplugin = \"p\"\n");
        assert!(e.contains("missing field `targets`"), "{e}");
    }

    #[test]
    fn the_readme_config_parses_and_states_the_defaults() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\n").expect("a toml block") + 8;
        let end = start + readme[start..].find("```").expect("its end");
        let c = Config::parse(&readme[start..end], "README.md").unwrap();
        assert_eq!(c.api, ApiConfig::default());
        assert_eq!(c.store, StoreConfig::default());
        assert_eq!(c.limits, LimitsConfig::default());
        assert_eq!(c.scheduler, SchedulerConfig::default());
        assert_eq!(c.sampler, SamplerConfig::default());
        // The service example spells out every default it does not change.
        let s = &c.services[0];
        let d = &Config::parse("[[service]]\nname = \"d\"\ncommand = \"x\"\n", "defaults")
            .unwrap()
            .services[0];
        assert_eq!(
            (
                s.delay,
                s.delay_max,
                s.jitter,
                s.max_restarts,
                s.restart_window
            ),
            (
                d.delay,
                d.delay_max,
                d.jitter,
                d.max_restarts,
                d.restart_window
            )
        );
        assert_eq!(
            (
                s.stop_signal,
                s.stop_timeout,
                s.start_period,
                s.start_timeout
            ),
            (
                d.stop_signal,
                d.stop_timeout,
                d.start_period,
                d.start_timeout
            )
        );
        assert_eq!(
            (s.log_max_bytes, s.log_backups, s.restart, s.health_failures),
            (d.log_max_bytes, d.log_backups, d.restart, d.health_failures)
        );
        assert_eq!(
            (s.stdout, s.stderr, s.on_dependency_failure, s.autostart),
            (d.stdout, d.stderr, d.on_dependency_failure, d.autostart)
        );
    }

    #[test]
    fn sampler_settings_parse_and_bad_ones_are_named() {
        let c = Config::parse(
            "[sampler]\ninterval = \"1s\"\n[[sampler.processes]]\nname = \"sh\"\npattern = \"^(ba|da)?sh$\"\n",
            "ward.toml",
        )
        .unwrap();
        assert_eq!(c.sampler.interval, Duration::from_secs(1));
        assert_eq!(c.sampler.processes[0].name, "sh");
        let e = err("[sampler]\ninterval = \"500ms\"\n");
        assert!(
            e.starts_with("ward.toml:1:1: sampler.interval: must be at least 1s"),
            "{e}"
        );
        let e = err("[[sampler.processes]]\nname = \"x\"\npattern = \"(\"\n");
        assert!(e.contains("sampler.processes: pattern of \"x\""), "{e}");
    }

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::embedded_default(default_listen());
        assert_eq!(c.checks.len(), 2);
        assert_eq!(c.listen, default_listen());
    }
}
