//! Per-call resource caps and the `ResourceLimiter` that enforces them and remembers which one
//! a plugin hit, so a failed call can say why.

use std::time::Duration;
use wasmtime::ResourceLimiter;

/// Caps applied to every plugin call.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Linear memory per memory, in bytes.
    pub memory_bytes: usize,
    /// Elements per table.
    pub table_elements: usize,
    /// Core instances per call (a component holds several).
    pub instances: usize,
    /// Tables per call.
    pub tables: usize,
    /// Memories per call.
    pub memories: usize,
    /// Fuel per call (instructions, roughly); `None` disables fuel metering.
    pub fuel: Option<u64>,
    /// Deadline for `describe` at load time.
    pub describe_timeout: Duration,
    /// Largest message a plugin may return, in bytes.
    pub max_message_bytes: usize,
    /// Most extra samples one probe may return.
    pub max_samples: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 << 20,
            table_elements: 100_000,
            instances: 32,
            tables: 32,
            memories: 8,
            fuel: None,
            describe_timeout: Duration::from_secs(2),
            max_message_bytes: 64 << 10,
            max_samples: 10_000,
        }
    }
}

/// Which cap a call ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitHit {
    /// Linear memory growth beyond the cap.
    Memory {
        /// Bytes asked for.
        desired: usize,
    },
    /// Table growth beyond the cap.
    Table {
        /// Elements asked for.
        desired: usize,
    },
}

/// The store's limiter: denies growth past the caps and records the first denial.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    hit: Option<LimitHit>,
}

impl Limiter {
    /// A limiter for one call.
    pub fn new(limits: &Limits) -> Self {
        Self {
            limits: limits.clone(),
            hit: None,
        }
    }

    /// The cap the call ran into, if any.
    pub fn hit(&self) -> Option<&LimitHit> {
        self.hit.as_ref()
    }

    /// The memory cap.
    pub fn memory_cap(&self) -> usize {
        self.limits.memory_bytes
    }
}

/// Raised (as a trap) when a cap is hit, so the call stops at the growth site.
#[derive(Debug, thiserror::Error)]
#[error("plugin resource limit reached")]
pub struct LimitTrap;

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            self.hit.get_or_insert(LimitHit::Memory { desired });
            return Err(wasmtime::Error::new(LimitTrap));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.table_elements {
            self.hit.get_or_insert(LimitHit::Table { desired });
            return Err(wasmtime::Error::new(LimitTrap));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.limits.instances
    }

    fn tables(&self) -> usize {
        self.limits.tables
    }

    fn memories(&self) -> usize {
        self.limits.memories
    }
}
