//! `ward run`: wires the parts together and keeps them in step with the config file and the
//! plugins directory until shutdown.

use crate::api::{self, App};
use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::plugin::{Host, HostOptions, Registry, reload};
use crate::sampler::SamplerTask;
use crate::scheduler::Scheduler;
use crate::supervisor::Supervisor;
use notify::{RecursiveMode, Watcher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use ward_store::Store;

/// Command-line overrides of the config file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Config file; `None` runs the embedded default.
    pub config: Option<PathBuf>,
    /// Overrides `listen`.
    pub listen: Option<SocketAddr>,
    /// Overrides `data_dir`.
    pub data_dir: Option<PathBuf>,
    /// Overrides `plugins_dir`.
    pub plugins_dir: Option<PathBuf>,
}

/// Why ward could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The config file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A directory could not be created or watched, or the address is taken.
    #[error("{0}")]
    Io(String),
    /// The plugin host could not start.
    #[error(transparent)]
    Host(#[from] crate::plugin::engine::HostError),
}

impl RunOptions {
    /// The effective config: the file (or the embedded default) with the overrides applied.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::embedded_default(self.listen.unwrap_or_else(|| {
                crate::config::DEFAULT_LISTEN
                    .parse()
                    .unwrap_or_else(|_| unreachable!())
            })),
        };
        if let Some(l) = self.listen {
            config.listen = l;
        }
        if let Some(d) = &self.data_dir {
            config.data_dir = d.clone();
        }
        if let Some(d) = &self.plugins_dir {
            config.plugins_dir = d.clone();
        }
        Ok(config)
    }
}

/// Runs ward until `shutdown` resolves. `ready` receives the bound API address.
pub async fn run(
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
    ready: impl FnOnce(SocketAddr, &Config),
) -> Result<(), RunError> {
    let config = options.load()?;
    let auth = api::Auth::new(&config.api.tokens()?);
    let io = |what: &str, path: &Path, e: std::io::Error| {
        RunError::Io(format!("{what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| io("cannot create data dir", &config.data_dir, e))?;
    std::fs::create_dir_all(&config.plugins_dir)
        .map_err(|e| io("cannot create plugins dir", &config.plugins_dir, e))?;

    let metrics = Arc::new(Metrics::new());
    metrics.config_last_reload_successful.set(1);
    let host = Arc::new(Host::new(HostOptions {
        limits: config.host_limits(),
        cache_dir: Some(config.data_dir.join("cache").join("components")),
        max_instances: (config.scheduler.max_concurrency as u32)
            .saturating_mul(2)
            .max(16),
        keep_resident: (config.scheduler.keep_resident_kib as usize) << 10,
        baseline: config.scheduler.baseline_compile,
    })?);
    let registry = Arc::new(Registry::new(metrics.clone()));
    let store_dir = config.data_dir.join("store");
    let store = {
        let options = config.store.options();
        let dir = store_dir.clone();
        tokio::task::spawn_blocking(move || Store::open(dir, options))
            .await
            .map_err(|e| RunError::Io(e.to_string()))?
            .map_err(|e| RunError::Io(format!("cannot open the store: {e}")))?
    };
    let store = Arc::new(store);
    let scheduler = Arc::new(Scheduler::new(
        registry.clone(),
        store.clone(),
        metrics.clone(),
        config.scheduler.max_concurrency,
    ));

    let supervisor = Arc::new(Supervisor::new(&config.data_dir, Some(scheduler.clone())));
    let _reaper = supervisor.reap_if_init();

    let listener = api::bind(config.listen)
        .await
        .map_err(|e| RunError::Io(e.to_string()))?;
    let bound = listener
        .local_addr()
        .map_err(|e| RunError::Io(e.to_string()))?;

    reload::load_dir(&host, &registry, &metrics, &config.plugins_dir).await;
    let _plugins_watch = reload::watch(
        host.clone(),
        registry.clone(),
        metrics.clone(),
        &config.plugins_dir,
    )
    .map_err(|e| {
        RunError::Io(format!(
            "cannot watch {}: {e}",
            config.plugins_dir.display()
        ))
    })?;
    scheduler.apply(&config.checks);
    supervisor.apply(&config.services).await;
    let sampler = Arc::new(SamplerTask::start(
        config.sampler.clone(),
        store.clone(),
        supervisor.clone(),
        metrics.clone(),
    ));
    let _config_watch = match &options.config {
        Some(path) => Some(watch_config(
            path,
            options.clone(),
            config.clone(),
            scheduler.clone(),
            supervisor.clone(),
            sampler.clone(),
            metrics.clone(),
        )?),
        None => None,
    };

    ready(bound, &config);
    let app = Arc::new(App::new(
        registry,
        scheduler.clone(),
        supervisor.clone(),
        metrics,
        store.clone(),
        config.api.clone(),
        auth,
    ));
    api::serve(listener, app, shutdown)
        .await
        .map_err(|e| RunError::Io(e.to_string()))?;
    tracing::info!("shutting down");
    // Stop the services (dependents first) while their health checks still run, then the
    // checks, then seal and sync the store so the next start replays no log.
    drop(_config_watch);
    drop(sampler);
    supervisor.shutdown().await;
    scheduler.apply(&[]);
    let flushed = tokio::task::spawn_blocking(move || store.flush()).await;
    match flushed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("flushing the store at shutdown: {e}"),
        Err(e) => tracing::error!("flushing the store at shutdown: {e}"),
    }
    Ok(())
}

struct ConfigWatch {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Re-reads the config file when it changes and applies the checks and services. Settings that need a
/// restart (listen, directories, limits, store, api) are reported, not applied.
fn watch_config(
    path: &Path,
    options: RunOptions,
    mut current: Config,
    scheduler: Arc<Scheduler>,
    supervisor: Arc<Supervisor>,
    sampler: Arc<SamplerTask>,
    metrics: Arc<Metrics>,
) -> Result<ConfigWatch, RunError> {
    // Watch the directory: editors replace files by rename, which a file watch would lose.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let file_name = path.file_name().map(|n| n.to_os_string());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name)
        {
            let _ = tx.send(());
        }
    })
    .map_err(|e| RunError::Io(format!("cannot watch {}: {e}", dir.display())))?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| RunError::Io(format!("cannot watch {}: {e}", dir.display())))?;
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Debounce: editors write in several steps.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while rx.try_recv().is_ok() {}
            match options.load() {
                Ok(new) => {
                    metrics.config_last_reload_successful.set(1);
                    if new == current {
                        continue;
                    }
                    for (what, changed) in [
                        ("listen", new.listen != current.listen),
                        ("data_dir", new.data_dir != current.data_dir),
                        ("plugins_dir", new.plugins_dir != current.plugins_dir),
                        ("limits", new.limits != current.limits),
                        ("scheduler", new.scheduler != current.scheduler),
                        ("store", new.store != current.store),
                        ("api", new.api != current.api),
                    ] {
                        if changed {
                            tracing::warn!(
                                "config reload: a change to `{what}` takes effect at restart"
                            );
                        }
                    }
                    tracing::info!(
                        checks = new.checks.len(),
                        services = new.services.len(),
                        "config reloaded"
                    );
                    scheduler.apply(&new.checks);
                    sampler.apply(&new.sampler);
                    supervisor.apply(&new.services).await;
                    current = new;
                }
                Err(e) => {
                    metrics.config_last_reload_successful.set(0);
                    tracing::error!("config reload failed, keeping the running config: {e}");
                }
            }
        }
    });
    Ok(ConfigWatch {
        _watcher: watcher,
        task,
    })
}
