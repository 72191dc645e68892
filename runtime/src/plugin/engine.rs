//! The wasmtime engine and linker shared by every plugin, and the loading entry point.

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
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch ticks: the granularity of call deadlines, and how often a busy plugin
/// yields its thread back to the async runtime.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

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
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            cache_dir: None,
            max_instances: 256,
            keep_resident: DEFAULT_KEEP_RESIDENT,
        }
    }
}

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
#[error("plugin host: {0}")]
pub struct HostError(String);

/// The plugin host: one engine, one linker, the compile cache and the epoch ticker.
pub struct Host {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) ticker: Arc<Ticker>,
    pub(crate) linker: Linker<HostState>,
    pub(crate) limits: Limits,
    cache: Option<Cache>,
}

impl Host {
    /// Builds the engine (pooling allocator, epoch interruption, optional fuel) and the
    /// linker with WASI p2, wasi:http and ward's host interfaces, and starts the epoch ticker.
    pub fn new(options: HostOptions) -> Result<Self, HostError> {
        let limits = options.limits.clone();
        let mut config = Config::new();
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
        let warm = warm_memory(options.keep_resident, limits.memory_bytes);
        if warm > 0 {
            pool.pagemap_scan(Enabled::Yes)
                .linear_memory_keep_resident(warm);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // Reserve only what the cap allows, so hundreds of slots stay cheap in address space.
        config.memory_reservation(limits.memory_bytes as u64);
        config.memory_reservation_for_growth(0);
        let engine = Engine::new(&config).map_err(|e| HostError(format!("engine: {e:#}")))?;

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

        let cache = match &options.cache_dir {
            Some(dir) => Some(
                Cache::open(dir, &engine)
                    .map_err(|e| HostError(format!("compile cache {}: {e}", dir.display())))?,
            ),
            None => None,
        };
        let ticker = start_ticker(&engine);
        Ok(Self {
            inner: Arc::new(Shared {
                engine,
                ticker,
                linker,
                limits,
                cache,
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
        let started = Instant::now();
        let compiled = tokio::task::spawn_blocking(move || {
            let sha256 = sha256.unwrap_or_else(|| content_hash(&bytes));
            let compiled = match &shared.cache {
                Some(cache) => cache.load_or_compile(&shared.engine, &sha256, &bytes),
                None => {
                    wasmtime::component::Component::new(&shared.engine, &bytes).map(|c| (c, false))
                }
            };
            compiled
                .map(|(c, cached)| (c, cached, sha256))
                .map_err(|e| format!("compile: {e:#}"))
        })
        .await;
        let (component, cached, sha256) = match compiled {
            Ok(Ok(done)) => done,
            Ok(Err(message)) => {
                return Err(LoadError::Compile {
                    path: shown,
                    message,
                });
            }
            Err(e) => {
                return Err(LoadError::Compile {
                    path: shown,
                    message: format!("compile task failed: {e}"),
                });
            }
        };
        let compile_time = started.elapsed();
        LoadedPlugin::link(
            self.inner.clone(),
            name,
            path,
            sha256,
            interface,
            component,
            compile_time,
            cached,
        )
        .await
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
