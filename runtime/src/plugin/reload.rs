//! Hot reload: keeps the registry in step with the plugins directory.
//!
//! A file renamed into the directory (`mv`, atomic on one filesystem) is loaded at once. A
//! file written in place (`cp`) is loaded once it has been quiet for [`DEBOUNCE`]; if it still
//! does not parse while it was modified in the last few seconds, it is taken for a copy in
//! progress and retried rather than reported. A file whose content hash equals the serving
//! version's is not reloaded. A file that fails to load leaves the previous version serving and
//! is reported (log, API, `ward_plugin_reloads_total{result="failure"}`). A removed file stops
//! its plugin: calls in flight finish, no new call starts. A version that first serves
//! baseline code (see [`super::engine`]) is optimized in the background and swapped in as
//! soon as that is done, unless the file changed again in between.

use super::{Host, LoadError, LoadedPlugin, Registry, Tier};
use crate::metrics::{Metrics, labels};
use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Quiet time after the last write before a file written in place is loaded.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// A file modified this recently that does not parse is taken for a copy in progress.
const YOUNG: Duration = Duration::from_secs(3);
const RETRY: Duration = Duration::from_millis(300);

/// Whether `path` names a plugin file: `*.wasm`, not hidden (editors and copy tools use
/// hidden temporary names).
pub fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'))
}

fn plugin_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Loads every plugin file in `dir` (the initial scan). Missing directory: nothing to load.
pub async fn load_dir(host: &Arc<Host>, registry: &Arc<Registry>, metrics: &Metrics, dir: &Path) {
    for path in plugin_files(dir) {
        sync(host, registry, metrics, &path, false).await;
    }
}

fn plugin_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| is_plugin_file(p) && p.is_file())
        .collect();
    files.sort();
    files
}

/// What [`sync`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// A new version is serving.
    Loaded,
    /// Same content as the serving version.
    Unchanged,
    /// The file is gone; so is the plugin.
    Removed,
    /// Load failed and was reported.
    Failed,
    /// Looks like a copy in progress: try again later.
    Retry,
}

/// Brings the registry in line with the file at `path`.
pub async fn sync(
    host: &Arc<Host>,
    registry: &Arc<Registry>,
    metrics: &Metrics,
    path: &Path,
    may_retry: bool,
) -> SyncOutcome {
    let name = plugin_name(path);
    let count = |result: &str| {
        metrics
            .plugin_reloads
            .get_or_create(&labels([("plugin", &name), ("result", result)]))
            .inc();
    };
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if registry.names().contains(&name) {
                registry.remove(&name);
                count("removed");
                tracing::info!(plugin = %name, "plugin removed");
            }
            return SyncOutcome::Removed;
        }
        Err(e) => {
            let error = LoadError::Read {
                path: path.display().to_string(),
                error: e,
            };
            return fail(registry, &name, path, error, count);
        }
    };
    let sha256 = super::engine::content_hash(&bytes);
    if registry.sha256(&name).as_deref() == Some(sha256.as_str()) {
        count("unchanged");
        return SyncOutcome::Unchanged;
    }
    match host
        .load_hashed(&name, path, bytes.clone(), sha256.clone())
        .await
    {
        Ok(plugin) => {
            tracing::info!(
                plugin = %name,
                kind = %plugin.kind(),
                version = %plugin.description().version,
                sha256 = %&sha256[..12],
                compile_ms = plugin.compile_time().as_millis() as u64,
                cached = plugin.from_cache(),
                tier = %plugin.tier().as_str(),
                "plugin loaded"
            );
            let serving = registry.install(plugin);
            count("success");
            if serving.tier() == Tier::Baseline {
                optimize_later(host, registry, serving, bytes);
            }
            SyncOutcome::Loaded
        }
        Err(LoadError::Inspect { .. }) if may_retry && is_young(path) => SyncOutcome::Retry,
        Err(error) => fail(registry, &name, path, error, count),
    }
}

/// Compiles the optimized code of `baseline`, the version just installed, in the background
/// and swaps it in.
fn optimize_later(
    host: &Arc<Host>,
    registry: &Arc<Registry>,
    baseline: Arc<LoadedPlugin>,
    bytes: Vec<u8>,
) {
    let (host, registry) = (host.clone(), registry.clone());
    tokio::spawn(async move {
        let name = baseline.name();
        let still_serving = || {
            registry
                .get(name)
                .is_some_and(|p| Arc::ptr_eq(&p, &baseline))
        };
        match host.optimize(&baseline, bytes, still_serving).await {
            Ok(Some(optimized)) => {
                let compile_ms = optimized.compile_time().as_millis() as u64;
                if registry.upgrade(optimized) {
                    tracing::info!(plugin = %name, compile_ms, "optimized code serving");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(plugin = %name, "cannot optimize, baseline code keeps serving: {e}")
            }
        }
    });
}

fn fail(
    registry: &Registry,
    name: &str,
    path: &Path,
    error: LoadError,
    count: impl Fn(&str),
) -> SyncOutcome {
    let serving = registry.get(name).is_some();
    tracing::error!(plugin = %name, previous_version_serving = serving, "plugin load failed: {error}");
    registry.record_load_failure(name, &path.display().to_string(), error.to_string());
    count("failure");
    SyncOutcome::Failed
}

fn is_young(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < YOUNG)
}

/// A running directory watcher; dropping it stops watching.
pub struct WatchHandle {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches `dir` and applies every change to `registry`. The directory must exist.
pub fn watch(
    host: Arc<Host>,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    dir: &Path,
) -> notify::Result<WatchHandle> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    let dir = dir.to_path_buf();
    let task = tokio::spawn(async move {
        // Path -> when to look at it.
        let mut pending: HashMap<PathBuf, (Instant, u32)> = HashMap::new();
        loop {
            let next = pending.values().map(|(t, _)| *t).min();
            tokio::select! {
                event = rx.recv() => {
                    let Some(event) = event else { return };
                    match event {
                        Ok(event) => {
                            let delay = match event.kind {
                                // A rename into the directory is complete when it happens.
                                EventKind::Modify(ModifyKind::Name(RenameMode::To))
                                | EventKind::Modify(ModifyKind::Name(RenameMode::Both))
                                | EventKind::Remove(_)
                                | EventKind::Modify(ModifyKind::Name(_)) => Duration::ZERO,
                                EventKind::Access(_) => continue,
                                _ => DEBOUNCE,
                            };
                            for path in event.paths.into_iter().filter(|p| is_plugin_file(p)) {
                                let at = Instant::now() + delay;
                                let slot = pending.entry(path).or_insert((at, 0));
                                // Writes push the deadline back; an immediate event pulls it in.
                                slot.0 = if delay.is_zero() { at.min(slot.0) } else { at };
                            }
                        }
                        Err(e) => {
                            tracing::warn!("plugin directory watch error, rescanning: {e}");
                            for path in plugin_files(&dir) {
                                pending.entry(path).or_insert((Instant::now(), 0));
                            }
                            for name in registry.names() {
                                pending.entry(dir.join(format!("{name}.wasm"))).or_insert((Instant::now(), 0));
                            }
                        }
                    }
                }
                _ = sleep_until(next) => {
                    let now = Instant::now();
                    let due: Vec<(PathBuf, u32)> = pending
                        .iter()
                        .filter(|(_, (t, _))| *t <= now)
                        .map(|(p, (_, tries))| (p.clone(), *tries))
                        .collect();
                    for (path, tries) in due {
                        pending.remove(&path);
                        let outcome = sync(&host, &registry, &metrics, &path, tries < 20).await;
                        if outcome == SyncOutcome::Retry {
                            pending.insert(path, (Instant::now() + RETRY, tries + 1));
                        }
                    }
                }
            }
        }
    });
    Ok(WatchHandle {
        _watcher: watcher,
        task,
    })
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
