//! ward's own metrics, served on `GET /metrics` in the OpenMetrics text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label pairs of one series.
pub type Labels = Vec<(String, String)>;

/// Builds `Labels` from string pairs.
pub fn labels<const N: usize>(pairs: [(&str, &str); N]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Latency buckets shared by ward's histograms.
#[derive(Clone, Debug)]
pub struct Buckets;

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        // 10 µs .. ~40 s
        Histogram::new(exponential_buckets(0.000_01, 4.0, 12))
    }
}

/// Every metric ward exposes about itself.
pub struct Metrics {
    registry: Registry,
    /// Plugin calls, by plugin.
    pub plugin_calls: Family<Labels, Counter>,
    /// Failed plugin calls, by plugin and reason (timeout, memory, trap, output, ...).
    pub plugin_failures: Family<Labels, Counter>,
    /// Call latency, by plugin.
    pub plugin_call_duration: Family<Labels, Histogram, Buckets>,
    /// Plugin (re)loads, by plugin and result (`success`, `failure`, `unchanged`, `removed`).
    pub plugin_reloads: Family<Labels, Counter>,
    /// Time to compile (or load from cache) a plugin, by plugin and code tier.
    pub plugin_compile_duration: Family<Labels, Histogram, Buckets>,
    /// 1 for each plugin serving, with kind, version and code tier labels.
    pub plugin_info: Family<Labels, Gauge>,
    /// Connections or requests denied by a grant, by plugin and check.
    pub permission_denied: Family<Labels, Counter>,
    /// Whether the last config reload succeeded (as Prometheus's own).
    pub config_last_reload_successful: Gauge,
    /// Check runs, by check.
    pub check_runs: Family<Labels, Counter>,
    /// Check runs that started late because the previous run of the same target overran or
    /// the concurrency limit was saturated, by check.
    pub check_late: Family<Labels, Counter>,
    /// Series held by the store.
    pub store_series: Gauge,
    /// Samples the native sampler (machine, processes, services) wrote.
    pub sampler_samples: Counter,
    /// Files the sampler expected and the kernel lacks (each skipped, logged once).
    pub sampler_missing_files: Gauge,
    /// Store figures refreshed at each scrape (the head, partitions, WAL, disk, memtables,
    /// block cache), by name.
    store_gauges: [(&'static str, &'static str, Gauge); 8],
    /// Samples the store accepted since start.
    pub store_samples_appended: Counter,
    /// Samples the store refused, by reason.
    pub store_samples_rejected: Family<Labels, Counter>,
    /// Samples received by an ingest endpoint, by endpoint (`remote_write`, `import`).
    pub ingest_samples_received: Family<Labels, Counter>,
    /// Samples an ingest endpoint wrote to the store, by endpoint.
    pub ingest_samples_written: Family<Labels, Counter>,
    /// Samples (or lines) an ingest endpoint refused, by endpoint and reason.
    pub ingest_samples_rejected: Family<Labels, Counter>,
    /// HTTP requests answered, by handler (the route) and status code.
    pub http_requests: Family<Labels, Counter>,
    /// HTTP request latency, by handler.
    pub http_request_duration: Family<Labels, Histogram, Buckets>,
    /// PromQL query latency (queueing included), by kind (`instant`, `range`).
    pub query_duration: Family<Labels, Histogram, Buckets>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ward");
        let m = Self {
            plugin_calls: Family::default(),
            plugin_failures: Family::default(),
            plugin_call_duration: Family::new_with_constructor(Buckets),
            plugin_reloads: Family::default(),
            plugin_compile_duration: Family::new_with_constructor(Buckets),
            plugin_info: Family::default(),
            permission_denied: Family::default(),
            config_last_reload_successful: Gauge::default(),
            check_runs: Family::default(),
            check_late: Family::default(),
            store_series: Gauge::default(),
            sampler_samples: Counter::default(),
            sampler_missing_files: Gauge::default(),
            store_gauges: [
                (
                    "store_head_series",
                    "Series with samples in the store's head",
                    Gauge::default(),
                ),
                (
                    "store_head_bytes",
                    "Bytes of samples in the store's head",
                    Gauge::default(),
                ),
                (
                    "store_head_kept_bytes",
                    "Memory of written chunks the store's head keeps for recent queries (see [store] kept_mib)",
                    Gauge::default(),
                ),
                (
                    "store_partitions",
                    "Time partitions in the store",
                    Gauge::default(),
                ),
                (
                    "store_wal_bytes",
                    "Bytes of write-ahead log since the last checkpoint",
                    Gauge::default(),
                ),
                (
                    "store_disk_bytes",
                    "Bytes the store takes on disk",
                    Gauge::default(),
                ),
                (
                    "store_memtable_bytes",
                    "Bytes the store's memtables hold (see [store] memtable_mib)",
                    Gauge::default(),
                ),
                (
                    "store_cache_bytes",
                    "Bytes in the store's block cache (see [store] cache_mib)",
                    Gauge::default(),
                ),
            ],
            store_samples_appended: Counter::default(),
            store_samples_rejected: Family::default(),
            ingest_samples_received: Family::default(),
            ingest_samples_written: Family::default(),
            ingest_samples_rejected: Family::default(),
            http_requests: Family::default(),
            http_request_duration: Family::new_with_constructor(Buckets),
            query_duration: Family::new_with_constructor(Buckets),
            registry: Registry::default(),
        };
        registry.register("plugin_calls", "Plugin calls", m.plugin_calls.clone());
        registry.register(
            "plugin_failures",
            "Plugin calls that failed, by reason",
            m.plugin_failures.clone(),
        );
        registry.register(
            "plugin_call_duration_seconds",
            "Plugin call latency",
            m.plugin_call_duration.clone(),
        );
        registry.register(
            "plugin_reloads",
            "Plugin file loads, by result",
            m.plugin_reloads.clone(),
        );
        registry.register(
            "plugin_compile_duration_seconds",
            "Time to compile a plugin (tier: baseline or optimized) or read it from the compile cache",
            m.plugin_compile_duration.clone(),
        );
        registry.register("plugin_info", "Plugins serving", m.plugin_info.clone());
        registry.register(
            "plugin_permission_denied",
            "Network uses denied by a check's grant",
            m.permission_denied.clone(),
        );
        registry.register(
            "config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            m.config_last_reload_successful.clone(),
        );
        registry.register("check_runs", "Check runs", m.check_runs.clone());
        registry.register(
            "check_late_runs",
            "Check runs that started after their scheduled time by more than one interval",
            m.check_late.clone(),
        );
        registry.register(
            "store_series",
            "Series in the store",
            m.store_series.clone(),
        );
        registry.register(
            "sampler_samples",
            "Samples the native sampler wrote (machine, processes, services)",
            m.sampler_samples.clone(),
        );
        registry.register(
            "sampler_missing_files",
            "Files the sampler reads that this kernel lacks (skipped; each logged once)",
            m.sampler_missing_files.clone(),
        );
        for (name, help, gauge) in &m.store_gauges {
            registry.register(*name, *help, gauge.clone());
        }
        registry.register(
            "store_samples_appended",
            "Samples written to the store",
            m.store_samples_appended.clone(),
        );
        registry.register(
            "store_samples_rejected",
            "Samples the store refused, by reason",
            m.store_samples_rejected.clone(),
        );
        registry.register(
            "ingest_samples_received",
            "Samples received by an ingest endpoint",
            m.ingest_samples_received.clone(),
        );
        registry.register(
            "ingest_samples_written",
            "Samples an ingest endpoint wrote to the store",
            m.ingest_samples_written.clone(),
        );
        registry.register(
            "ingest_samples_rejected",
            "Samples or lines an ingest endpoint refused, by reason",
            m.ingest_samples_rejected.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by handler and status code",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by handler",
            m.http_request_duration.clone(),
        );
        registry.register(
            "query_duration_seconds",
            "PromQL query latency, queueing included, by kind",
            m.query_duration.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts samples received by ingest `endpoint`.
    pub fn ingest_received(&self, endpoint: &str, n: usize) {
        self.ingest_samples_received
            .get_or_create(&labels([("endpoint", endpoint)]))
            .inc_by(n as u64);
    }

    /// Counts samples ingest `endpoint` wrote.
    pub fn ingest_written(&self, endpoint: &str, n: usize) {
        self.ingest_samples_written
            .get_or_create(&labels([("endpoint", endpoint)]))
            .inc_by(n as u64);
    }

    /// Counts samples (or lines) ingest `endpoint` refused for `reason`.
    pub fn ingest_rejected(&self, endpoint: &str, reason: &str, n: usize) {
        if n > 0 {
            self.ingest_samples_rejected
                .get_or_create(&labels([("endpoint", endpoint), ("reason", reason)]))
                .inc_by(n as u64);
        }
    }

    /// Copies the store's figures into the metrics (at scrape time).
    pub fn observe_store(&self, s: &ward_store::StoreStats) {
        self.store_series.set(s.series as i64);
        let values = [
            s.head_series as i64,
            s.head_bytes as i64,
            s.kept_bytes as i64,
            s.partitions as i64,
            s.wal_bytes as i64,
            s.disk_bytes as i64,
            s.memtable_bytes as i64,
            s.cache_bytes as i64,
        ];
        for ((_, _, gauge), v) in self.store_gauges.iter().zip(values) {
            gauge.set(v);
        }
        // The store counts from its open, as ward's counters do: add what is new.
        let c = &self.store_samples_appended;
        c.inc_by(s.samples_appended.saturating_sub(c.get()));
        for (reason, &n) in &s.rejected {
            let c = self
                .store_samples_rejected
                .get_or_create(&labels([("reason", reason)]));
            c.inc_by(n.saturating_sub(c.get()));
        }
    }

    /// The metrics in OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
