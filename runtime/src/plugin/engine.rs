//! The wasmtime engines and linkers shared by every plugin, and the loading entry point.
//!
//! Code comes in two tiers. New code is compiled first by wasmtime's baseline compiler
//! (Winch: one pass, about 5x faster to compile than Cranelift, slower code), so a plugin
//! dropped into the directory serves within about a tenth of a second; [`Host::optimize`] then
//! compiles it with Cranelift in the background (one plugin at a time, one core, low
//! priority), and the caller swaps the optimized version in. Only optimized code goes to the
//! compile cache, so a restart or a rollback serves optimized code at once.

use super::bindings::v0_1;
use super::cache::Cache;
use super::limits::Limits;
use super::loaded::LoadedPlugin;
use super::state::HostState;
use super::{LoadError, inspect};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy,
};

/// How often the epoch ticks: the granularity of call deadlines, and how often a busy plugin
/// yields its thread back to the async runtime.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Nice value of the thread compiling optimized code behind baseline code.
const OPTIMIZE_NICE: i32 = 10;

/// Default of [`HostOptions::keep_resident`]: 4 MiB per slot (a Rust plugin's 1 MiB shadow
/// stack comes first in its memory, its data and heap after it).
pub const DEFAULT_KEEP_RESIDENT: usize = 4 << 20;

/// Settings of the plugin host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Per-call caps.
    pub limits: Limits,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Plugin instances alive at once (sizes the pooling allocator).
    pub max_instances: u32,
    /// Bytes of each instance slot's linear memory kept resident between calls: only pages a
    /// call touched, reset in place for the next one. Needs Linux's `PAGEMAP_SCAN` (6.7+);
    /// without it every page goes back to the kernel after each call, as with 0.
    pub keep_resident: usize,
    /// Serve new code from the baseline compiler first (see the module doc); where the
    /// baseline compiler does not run (not x86_64 or aarch64), code is optimized at once.
    pub baseline: bool,
}

/// Which compiler produced a plugin's serving code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Winch, the baseline compiler: compiled fast, runs slower; replaced by optimized code
    /// as soon as that is compiled.
    Baseline,
    /// Cranelift, the optimizing compiler.
    Optimized,
}

impl Tier {
    /// `baseline` or `optimized`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Optimized => "optimized",
        }
    }
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            cache_dir: None,
            max_instances: 256,
            keep_resident: DEFAULT_KEEP_RESIDENT,
            baseline: true,
        }
    }
}

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
#[error("plugin host: {0}")]
pub struct HostError(String);

/// The plugin host: the engines and linkers of both tiers, the compile cache and the epoch
/// tickers.
pub struct Host {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    /// Cranelift: the code that serves for good.
    pub(crate) optimized: Arc<Backend>,
    /// Winch, when enabled and supported here.
    pub(crate) baseline: Option<Arc<Backend>>,
    pub(crate) limits: Limits,
    cache: Option<Cache>,
    /// One background optimization at a time: they all compete with probes for the cores.
    optimizing: tokio::sync::Semaphore,
}

/// One compiler's engine (with its own instance pool), the linker bound to it, and the
/// ticker of its epoch: a store, an `InstancePre` and a compiled component belong to one
/// engine.
pub(crate) struct Backend {
    pub(crate) tier: Tier,
    pub(crate) engine: Engine,
    pub(crate) ticker: Arc<Ticker>,
    pub(crate) linker: Linker<HostState>,
}

/// Compiled code and how it was obtained.
pub(crate) struct Compiled {
    pub(crate) component: wasmtime::component::Component,
    pub(crate) backend: Arc<Backend>,
    pub(crate) time: Duration,
    pub(crate) cached: bool,
}

impl Host {
    /// Builds the engines (pooling allocator, epoch interruption, optional fuel) and the
    /// linkers with WASI p2, wasi:http and ward's host interfaces, and starts the epoch
    /// tickers.
    pub fn new(options: HostOptions) -> Result<Self, HostError> {
        let warm = warm_memory(options.keep_resident, options.limits.memory_bytes);
        let baseline = if options.baseline {
            // Baseline code serves for about a second per version: slots that keep memory
            // resident would hold it for good, for calls that no longer come.
            match Backend::new(&options, 0, Tier::Baseline, true) {
                Ok(b) => Some(b),
                Err(e) => {
                    tracing::info!(
                        "no baseline compiler here, new plugins wait for Cranelift: {e}"
                    );
                    None
                }
            }
        } else {
            None
        };
        // Behind baseline code, Cranelift is a background job: one core, low priority, so
        // probes and the next reload keep the other. Otherwise a plugin waits for it: all cores.
        let optimized = Backend::new(&options, warm, Tier::Optimized, baseline.is_none())?;
        let cache = match &options.cache_dir {
            Some(dir) => Some(
                Cache::open(dir, &optimized.engine)
                    .map_err(|e| HostError(format!("compile cache {}: {e}", dir.display())))?,
            ),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Shared {
                optimized,
                baseline,
                limits: options.limits.clone(),
                cache,
                optimizing: tokio::sync::Semaphore::new(1),
            }),
        })
    }

    /// The per-call caps.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Loads the plugin in `path`: reads it, checks its interface without compiling,
    /// compiles (off the async runtime, through the cache), links and calls `describe`.
    /// The plugin's name is the file stem.
    pub async fn load_file(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        let shown = path.display().to_string();
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|error| LoadError::Read {
                path: shown.clone(),
                error,
            })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.load_bytes(&name, path, bytes).await
    }

    /// Like [`Host::load_file`] for bytes already read.
    pub async fn load_bytes(
        &self,
        name: &str,
        path: &Path,
        bytes: Vec<u8>,
    ) -> Result<LoadedPlugin, LoadError> {
        self.load_inner(name, path, bytes, None).await
    }

    /// Like [`Host::load_bytes`] for bytes whose [`content_hash`] the caller already has.
    pub async fn load_hashed(
        &self,
        name: &str,
        path: &Path,
        bytes: Vec<u8>,
        sha256: String,
    ) -> Result<LoadedPlugin, LoadError> {
        self.load_inner(name, path, bytes, Some(sha256)).await
    }

    async fn load_inner(
        &self,
        name: &str,
        path: &Path,
        bytes: Vec<u8>,
        sha256: Option<String>,
    ) -> Result<LoadedPlugin, LoadError> {
        let shown = path.display().to_string();
        let interface = inspect::inspect(&bytes).map_err(|error| LoadError::Inspect {
            path: shown.clone(),
            error,
        })?;
        let shared = self.inner.clone();
        // Hashing (when the caller has not) and compiling both stay off the async runtime.
        let (sha256, compiled) = tokio::task::spawn_blocking(move || {
            let sha256 = sha256.unwrap_or_else(|| content_hash(&bytes));
            let compiled = shared.compile_first(&sha256, &bytes)?;
            Ok((sha256, compiled))
        })
        .await
        .map_err(|e| format!("compile task failed: {e}"))
        .and_then(|r| r)
        .map_err(|message| LoadError::Compile {
            path: shown,
            message,
        })?;
        LoadedPlugin::link(self.inner.clone(), name, path, sha256, interface, compiled).await
    }

    /// The optimized version of `plugin`, which serves baseline code compiled from `bytes`:
    /// compiled by Cranelift on a low-priority thread of its own (one plugin at a time, on
    /// one core), stored in the cache, linked and described. `wanted` is asked again once
    /// this plugin's turn comes, so a version replaced in the meantime is not compiled for
    /// nothing (`Ok(None)`).
    pub async fn optimize(
        &self,
        plugin: &LoadedPlugin,
        bytes: Vec<u8>,
        wanted: impl Fn() -> bool,
    ) -> Result<Option<LoadedPlugin>, LoadError> {
        let shown = plugin.path().display().to_string();
        let Ok(_turn) = self.inner.optimizing.acquire().await else {
            return Ok(None);
        };
        if !wanted() {
            return Ok(None);
        }
        let shared = self.inner.clone();
        let key = plugin.sha256().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("ward-optimize".into())
            .spawn(move || {
                // On Linux the nice value belongs to the thread: only this compile yields.
                let _ = rustix::process::setpriority_process(None, OPTIMIZE_NICE);
                let _ = tx.send(shared.compile_optimized(&key, &bytes));
            });
        let compiled = match spawned {
            Ok(_) => rx
                .await
                .map_err(|_| "the compiler thread died".to_string())
                .and_then(|r| r),
            Err(e) => Err(format!("cannot start a compiler thread: {e}")),
        }
        .map_err(|message| LoadError::Compile {
            path: shown,
            message,
        })?;
        let optimized = LoadedPlugin::link(
            self.inner.clone(),
            plugin.name(),
            plugin.path(),
            plugin.sha256().to_string(),
            plugin.interface().clone(),
            compiled,
        )
        .await?;
        Ok(Some(optimized.serving_since(plugin.loaded_at())))
    }
}

impl Shared {
    /// The code to serve first: optimized from the cache if there, else baseline if that
    /// compiler is on and accepts the component, else optimized (compiled and cached).
    fn compile_first(&self, sha256: &str, bytes: &[u8]) -> Result<Compiled, String> {
        let started = Instant::now();
        if let Some(component) = self
            .cache
            .as_ref()
            .and_then(|c| c.load(&self.optimized.engine, sha256))
        {
            return Ok(Compiled {
                component,
                backend: self.optimized.clone(),
                time: started.elapsed(),
                cached: true,
            });
        }
        if let Some(baseline) = &self.baseline {
            match wasmtime::component::Component::new(&baseline.engine, bytes) {
                Ok(component) => {
                    return Ok(Compiled {
                        component,
                        backend: baseline.clone(),
                        time: started.elapsed(),
                        cached: false,
                    });
                }
                // Cranelift may still take it (a proposal Winch lacks): say why it was slow.
                Err(e) => {
                    tracing::info!("baseline compiler refused the plugin, optimizing it now: {e:#}")
                }
            }
        }
        self.compile_optimized(sha256, bytes)
    }

    /// Cranelift's code for `bytes`, stored in the cache.
    fn compile_optimized(&self, sha256: &str, bytes: &[u8]) -> Result<Compiled, String> {
        let started = Instant::now();
        let component = wasmtime::component::Component::new(&self.optimized.engine, bytes)
            .map_err(|e| format!("compile: {e:#}"))?;
        if let Some(cache) = &self.cache {
            cache.store(sha256, &component);
        }
        Ok(Compiled {
            component,
            backend: self.optimized.clone(),
            time: started.elapsed(),
            cached: false,
        })
    }
}

impl Backend {
    fn new(
        options: &HostOptions,
        warm: usize,
        tier: Tier,
        parallel: bool,
    ) -> Result<Arc<Self>, HostError> {
        let limits = &options.limits;
        let mut config = Config::new();
        config.strategy(match tier {
            Tier::Baseline => Strategy::Winch,
            Tier::Optimized => Strategy::Cranelift,
        });
        config.parallel_compilation(parallel);
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.consume_fuel(limits.fuel.is_some());
        let n = options.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(limits.instances as u32))
            .total_memories(n.saturating_mul(limits.memories as u32))
            .total_tables(n.saturating_mul(limits.tables as u32))
            .total_stacks(n)
            .max_core_instances_per_component(limits.instances as u32)
            .max_memories_per_component(limits.memories as u32)
            .max_tables_per_component(limits.tables as u32)
            .max_memory_size(limits.memory_bytes)
            .table_elements(limits.table_elements)
            // Reset tables with memset rather than giving their pages back to the kernel: a
            // fresh instance per call would otherwise fault them in again every call (measured:
            // median call 46 -> 34 us).
            .table_keep_resident(64 << 10);
        // Linear memory: with Linux's PAGEMAP_SCAN (6.7+), the pages a call wrote are found
        // and reset to the module's image in place, and stay resident for the next instance
        // in the slot: no madvise, TLB shootdown or page faults per call (median trivial call
        // 30 -> 10 us, BENCHMARKS.md). Without it, keeping memory resident means a memset of
        // the whole kept region per call, which costs more than the faults it saves.
        if warm > 0 {
            pool.pagemap_scan(Enabled::Yes)
                .linear_memory_keep_resident(warm);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // Reserve only what the cap allows, so hundreds of slots stay cheap in address space.
        config.memory_reservation(limits.memory_bytes as u64);
        config.memory_reservation_for_growth(0);
        let engine = Engine::new(&config)
            .map_err(|e| HostError(format!("{} engine: {e:#}", tier.as_str())))?;

        let mut linker = Linker::new(&engine);
        let link = |r: wasmtime::Result<()>| r.map_err(|e| HostError(format!("linker: {e:#}")));
        link(wasmtime_wasi::p2::add_to_linker_async(&mut linker))?;
        link(wasmtime_wasi_http::p2::add_only_http_to_linker_async(
            &mut linker,
        ))?;
        link(v0_1::log::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        ))?;
        link(v0_1::tls::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        ))?;
        link(v0_1::query::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        ))?;
        let ticker = start_ticker(&engine);
        Ok(Arc::new(Self {
            tier,
            engine,
            ticker,
            linker,
        }))
    }
}

/// How much of each memory slot to keep resident: `wanted`, capped at the memory limit, and 0
/// where the kernel cannot tell which pages a call wrote (logged once per host).
fn warm_memory(wanted: usize, memory_bytes: usize) -> usize {
    if wanted == 0 {
        return 0;
    }
    if !PoolingAllocationConfig::is_pagemap_scan_available() {
        tracing::info!(
            "PAGEMAP_SCAN unavailable (Linux 6.7+): plugin memory goes back to the kernel after every call"
        );
        return 0;
    }
    wanted.min(memory_bytes)
}

/// The content hash that names a plugin version: SHA-256, hex.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The epoch ticker: ticks every [`EPOCH_TICK`] while at least one call is alive and sleeps
/// (parked) otherwise, so that an idle host costs no wake-ups.
pub(crate) struct Ticker {
    active: AtomicUsize,
    thread: OnceLock<std::thread::Thread>,
}

impl Ticker {
    /// Keeps the epoch ticking until the returned guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Ticking {
        if self.active.fetch_add(1, Ordering::AcqRel) == 0
            && let Some(t) = self.thread.get()
        {
            t.unpark();
        }
        Ticking(self.clone())
    }
}

/// A call alive: the epoch ticks.
pub(crate) struct Ticking(Arc<Ticker>);

impl Drop for Ticking {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Ticks the engine's epoch while calls are alive, until the engine is dropped.
fn start_ticker(engine: &Engine) -> Arc<Ticker> {
    let ticker = Arc::new(Ticker {
        active: AtomicUsize::new(0),
        thread: OnceLock::new(),
    });
    let weak = engine.weak();
    let state = ticker.clone();
    let spawned = std::thread::Builder::new()
        .name("ward-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                if state.active.load(Ordering::Acquire) == 0 {
                    drop(engine);
                    // Woken by the first call; the timeout notices a dropped engine.
                    std::thread::park_timeout(Duration::from_secs(1));
                    continue;
                }
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    match spawned {
        Ok(handle) => {
            let _ = ticker.thread.set(handle.thread().clone());
            // A call that began before the handle was stored found no thread to wake.
            handle.thread().unpark();
        }
        Err(e) => tracing::error!(
            "cannot start the epoch ticker, plugin deadlines rely on timers only: {e}"
        ),
    }
    ticker
}
