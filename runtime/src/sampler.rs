//! The native sampling loop: every `[sampler] interval`, one round of
//! [`ward_sampler::SystemSampler`] (node_exporter's families), the process tree of every
//! supervised service and every configured process group
//! ([`ward_sampler::ProcessSampler`], process-exporter's families with `groupname` = the
//! service or group name), and the supervisor's `ward_service_*` series, written to the store
//! in one append with one timestamp.
//!
//! Rounds run on a blocking thread (reading `/proc` is blocking I/O). Label sets are built
//! once per series and reused across rounds (a cache keyed by a hash of the sampler's
//! borrowed name and labels), so a steady round allocates no label strings.

use crate::config::SamplerConfig;
use crate::metrics::Metrics;
use crate::supervisor::Supervisor;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use ward_sampler::{ProcessSampler, Sink, SystemOptions, SystemSampler};
use ward_store::{Labels, Store};

/// Rounds a cached label set may go unused before it is dropped.
const EVICT_AFTER_ROUNDS: u64 = 10;

/// The running sampling loop; stops when dropped.
pub struct SamplerTask {
    config: watch::Sender<SamplerConfig>,
    task: JoinHandle<()>,
}

impl Drop for SamplerTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SamplerTask {
    /// Starts sampling with `config`.
    pub fn start(
        config: SamplerConfig,
        store: Arc<Store>,
        supervisor: Arc<Supervisor>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = watch::channel(config);
        let task = tokio::spawn(run(rx, store, supervisor, metrics));
        Self { config: tx, task }
    }

    /// Applies a reloaded `[sampler]` section from the next round on.
    pub fn apply(&self, config: &SamplerConfig) {
        self.config.send_if_modified(|c| {
            let changed = c != config;
            *c = config.clone();
            changed
        });
    }
}

async fn run(
    mut config_rx: watch::Receiver<SamplerConfig>,
    store: Arc<Store>,
    supervisor: Arc<Supervisor>,
    metrics: Arc<Metrics>,
) {
    let mut state = Some(Box::new(Round::new()));
    loop {
        let config = config_rx.borrow_and_update().clone();
        // Looked up once per config: `instance` defaults to the host name (a syscall).
        let target = Arc::new(config.target_labels());
        let mut ticker = tokio::time::interval(config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = config_rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
            }
            let Some(mut round) = state.take() else {
                return;
            };
            let services = if config.services {
                supervisor.pids()
            } else {
                Vec::new()
            };
            let ts = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let store = store.clone();
            let supervisor = supervisor.clone();
            let cfg = config.clone();
            let target = target.clone();
            let done = tokio::task::spawn_blocking(move || {
                let appended = round.sample(&cfg, &target, &services, ts, &supervisor, &store);
                (round, appended)
            })
            .await;
            match done {
                Ok((round, appended)) => {
                    metrics
                        .sampler_missing_files
                        .set(round.system.missing().len() as i64);
                    match appended {
                        Ok(n) => {
                            metrics.sampler_samples.inc_by(n as u64);
                        }
                        Err(e) => tracing::error!("sampler: store append failed: {e}"),
                    }
                    state = Some(round);
                }
                Err(e) => {
                    tracing::error!("sampler round failed: {e}");
                    state = Some(Box::new(Round::new()));
                }
            }
        }
    }
}

/// The samplers and the label cache, kept across rounds.
struct Round {
    system: SystemSampler,
    processes: ProcessSampler,
    cache: LabelCache,
    batch: Vec<(Arc<Labels>, i64, f64)>,
    patterns: Vec<(String, regex::Regex)>,
}

impl Round {
    fn new() -> Self {
        Self {
            system: SystemSampler::new(SystemOptions::default()),
            processes: ProcessSampler::new("/proc"),
            cache: LabelCache::default(),
            batch: Vec::new(),
            patterns: Vec::new(),
        }
    }

    /// One round: samples into the batch and appends it. Returns the samples written.
    fn sample(
        &mut self,
        config: &SamplerConfig,
        target: &[(String, String)],
        services: &[(String, i32)],
        ts: i64,
        supervisor: &Supervisor,
        store: &Store,
    ) -> Result<usize, ward_store::Error> {
        if self.cache.target != target {
            // Other target labels: other series; build every label set anew.
            self.cache = LabelCache {
                target: target.to_vec(),
                ..LabelCache::default()
            };
        }
        self.cache.round += 1;
        self.batch.clear();
        let mut sink = BatchSink {
            cache: &mut self.cache,
            batch: &mut self.batch,
            ts,
        };
        if config.system {
            self.system.sample(&mut sink);
        }
        if !services.is_empty() || !config.processes.is_empty() {
            // A new round: trees are walked through `children` files (only the services'
            // processes are read); the first pattern scans every process.
            self.processes.begin_round();
            for (name, pid) in services {
                let pids = self.processes.tree(*pid);
                self.processes.sample_group(name, &pids, &mut sink);
            }
            if self.patterns.len() != config.processes.len()
                || self
                    .patterns
                    .iter()
                    .zip(&config.processes)
                    .any(|((n, r), p)| *n != p.name || r.as_str() != p.pattern)
            {
                self.patterns = config
                    .processes
                    .iter()
                    .filter_map(|p| Some((p.name.clone(), regex::Regex::new(&p.pattern).ok()?)))
                    .collect();
            }
            for (name, pattern) in &self.patterns {
                let pids = self.processes.matching(pattern);
                self.processes.sample_group(name, &pids, &mut sink);
            }
        }
        supervisor.sample(&mut sink);
        self.cache.evict();
        let n = self.batch.len();
        if n > 0 {
            store.append_shared(&self.batch)?;
        }
        Ok(n)
    }
}

struct BatchSink<'a> {
    cache: &'a mut LabelCache,
    batch: &'a mut Vec<(Arc<Labels>, i64, f64)>,
    ts: i64,
}

impl Sink for BatchSink<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        if let Some(l) = self.cache.get(name, labels) {
            self.batch.push((l, self.ts, value));
        }
    }
}

/// Label sets by a hash of (name, labels as the sampler gives them).
///
/// Rounds emit the same series in the same order, so the cache also remembers the previous
/// round's sequence: when the sample at position `i` has the hash the previous round had at
/// `i`, its label set is taken from there without a map lookup or a comparison (a different
/// series at the same position with the same 64-bit hash is the only way to be wrong).
#[derive(Default)]
struct LabelCache {
    hasher: foldhash::fast::FixedState,
    entries: HashMap<u64, Vec<(Arc<Labels>, u64)>>,
    round: u64,
    previous: Vec<(u64, Arc<Labels>)>,
    current: Vec<(u64, Arc<Labels>)>,
    /// `job` and `instance`, added to every label set (unless the sampler set them).
    target: Vec<(String, String)>,
}

impl LabelCache {
    fn get(&mut self, name: &str, labels: &[(&str, &str)]) -> Option<Arc<Labels>> {
        let mut h = self.hasher.build_hasher();
        h.write(name.as_bytes());
        for (k, v) in labels {
            h.write_u8(0xff);
            h.write(k.as_bytes());
            h.write_u8(0xfe);
            h.write(v.as_bytes());
        }
        let key = h.finish();
        if let Some((k, l)) = self.previous.get(self.current.len())
            && *k == key
        {
            let l = l.clone();
            self.current.push((key, l.clone()));
            return Some(l);
        }
        let round = self.round;
        let slot = self.entries.entry(key).or_default();
        let target = &self.target;
        if let Some((l, used)) = slot.iter_mut().find(|(l, _)| same(l, name, labels, target)) {
            *used = round;
            let l = l.clone();
            self.current.push((key, l.clone()));
            return Some(l);
        }
        let pairs = std::iter::once(("__name__", name)).chain(with_target(labels, target));
        match Labels::from_pairs(pairs) {
            Ok(l) => {
                let l = Arc::new(l);
                slot.push((l.clone(), round));
                self.current.push((key, l.clone()));
                Some(l)
            }
            Err(e) => {
                tracing::debug!("sampler: dropping {name}: {e}");
                None
            }
        }
    }

    /// Ends a round: its sequence becomes the one the next round is matched against; every
    /// [`EVICT_AFTER_ROUNDS`] rounds, label sets unused that long are dropped.
    fn evict(&mut self) {
        std::mem::swap(&mut self.previous, &mut self.current);
        self.current.clear();
        // Series taken from the previous round's sequence were not marked in the map.
        let round = self.round;
        if !round.is_multiple_of(EVICT_AFTER_ROUNDS) {
            return;
        }
        let used: std::collections::HashSet<*const Labels> =
            self.previous.iter().map(|(_, l)| Arc::as_ptr(l)).collect();
        for slot in self.entries.values_mut() {
            for (l, at) in slot.iter_mut() {
                if used.contains(&Arc::as_ptr(l)) {
                    *at = round;
                }
            }
        }
        self.entries.retain(|_, slot| {
            slot.retain(|(_, used)| round - used < EVICT_AFTER_ROUNDS);
            !slot.is_empty()
        });
    }
}

/// The sampler's `labels` followed by the `target` labels it did not set itself.
fn with_target<'a>(
    labels: &'a [(&'a str, &'a str)],
    target: &'a [(String, String)],
) -> impl Iterator<Item = (&'a str, &'a str)> {
    let own = |k: &str| labels.iter().any(|(n, _)| *n == k);
    labels.iter().copied().chain(
        target
            .iter()
            .filter(move |(k, _)| !own(k))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// Whether `l` is the label set of `name`, `labels` and the `target` labels the sampler did
/// not set (empty values are absent).
fn same(l: &Labels, name: &str, labels: &[(&str, &str)], target: &[(String, String)]) -> bool {
    let mut n = 0;
    l.metric_name() == Some(name)
        && with_target(labels, target)
            .filter(|(_, v)| !v.is_empty())
            .all(|(k, v)| {
                n += 1;
                l.get(k) == Some(v)
            })
        && l.len() == n + 1
}

/// The shortest `[sampler] interval`.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_labels_are_added_unless_the_sampler_set_them() {
        let mut c = LabelCache {
            round: 1,
            target: vec![
                ("job".into(), "node".into()),
                ("instance".into(), "h1".into()),
            ],
            ..LabelCache::default()
        };
        let l = c.get("node_load1", &[]).unwrap();
        assert_eq!(l.to_string(), "node_load1{instance=\"h1\", job=\"node\"}");
        let own = c.get("m", &[("instance", "mine")]).unwrap();
        assert_eq!(own.get("instance"), Some("mine"));
        assert_eq!(own.get("job"), Some("node"));
        // Found again through the map (out of the previous round's order).
        c.evict();
        c.round += 1;
        let again = c.get("m", &[("instance", "mine")]).unwrap();
        assert!(Arc::ptr_eq(&own, &again));
    }

    #[test]
    fn label_sets_are_built_once_and_evicted_when_unused() {
        let mut c = LabelCache {
            round: 1,
            ..LabelCache::default()
        };
        let a = c.get("node_load1", &[]).unwrap();
        let b = c.get("node_load1", &[]).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let x = c
            .get("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")])
            .unwrap();
        let y = c
            .get("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "user")])
            .unwrap();
        assert_ne!(x, y);
        assert_eq!(x.get("mode"), Some("idle"));
        assert!(c.get("bad name", &[]).is_none());
        assert!(c.get("m", &[("0bad", "x")]).is_none());
        let e = c.get("m", &[("a", "")]).unwrap();
        assert_eq!(e.len(), 1, "empty values are absent");
        c.evict();
        // The next round, in the same order, reuses the same label sets by position.
        c.round += 1;
        let again = c.get("node_load1", &[]).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        let x2 = c
            .get("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")])
            .unwrap();
        assert!(Arc::ptr_eq(&x, &x2));
        // Out of order: found through the map.
        let e2 = c.get("m", &[("a", "")]).unwrap();
        assert!(Arc::ptr_eq(&e, &e2));
        c.evict();
        for _ in 0..2 * EVICT_AFTER_ROUNDS {
            c.round += 1;
            c.get("node_load1", &[]);
            c.evict();
        }
        assert_eq!(c.entries.values().map(Vec::len).sum::<usize>(), 1);
    }
}
