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

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Instance, Module, Store};

    fn caps() -> Limits {
        Limits {
            memory_bytes: 1 << 20,
            table_elements: 100,
            instances: 2,
            ..Limits::default()
        }
    }

    /// Instantiates `wat` `times` times in one store under the limiter, then calls the last
    /// instance's `grow`.
    fn run(wat: &str, times: usize) -> (wasmtime::Result<i32>, Option<LimitHit>) {
        let engine = Engine::default();
        let module = Module::new(&engine, wat::parse_str(wat).expect("wat")).expect("module");
        let mut store = Store::new(&engine, Limiter::new(&caps()));
        store.limiter(|l| l);
        let mut result = Err(wasmtime::Error::msg("not called"));
        for _ in 0..times {
            result = Instance::new(&mut store, &module, &[]).and_then(|i| {
                i.get_typed_func::<(), i32>(&mut store, "grow")?
                    .call(&mut store, ())
            });
        }
        (result, store.data().hit().cloned())
    }

    fn memory(pages: u32) -> String {
        format!(
            r#"(module (memory 1) (func (export "grow") (result i32) (memory.grow (i32.const {pages}))))"#
        )
    }

    fn table(elements: u32) -> String {
        format!(
            r#"(module (table 1 funcref)
                 (func (export "grow") (result i32)
                   (table.grow (ref.null func) (i32.const {elements}))))"#
        )
    }

    #[test]
    fn memory_grows_up_to_the_cap_and_traps_past_it() {
        // 1 + 15 pages of 64 KiB = 1 MiB: allowed.
        let (r, hit) = run(&memory(15), 1);
        assert_eq!(r.expect("within the cap"), 1);
        assert_eq!(hit, None);
        let (r, hit) = run(&memory(16), 1);
        let e = r.expect_err("past the cap");
        assert!(e.is::<LimitTrap>(), "{e:#}");
        assert_eq!(hit, Some(LimitHit::Memory { desired: 17 << 16 }));
    }

    #[test]
    fn tables_grow_up_to_the_cap_and_trap_past_it() {
        let (r, hit) = run(&table(99), 1);
        assert_eq!(r.expect("within the cap"), 1);
        assert_eq!(hit, None);
        let (r, hit) = run(&table(200), 1);
        assert!(r.expect_err("past the cap").is::<LimitTrap>());
        assert_eq!(hit, Some(LimitHit::Table { desired: 201 }));
    }

    #[test]
    fn instances_past_the_cap_are_refused() {
        assert!(run(&memory(0), 2).0.is_ok());
        let e = run(&memory(0), 3).0.expect_err("a third instance");
        assert!(format!("{e:#}").contains("instance"), "{e:#}");
    }
}
