//! Test guest: a prober that is up at once, its message naming its version ("noop v1", or
//! "noop v2" with feature `v2`), so hot-reload tests can tell which build answered.
//!
//! Probing the target `count` also reports what this instance has seen, so that tests can
//! check that every call gets a fresh instance even where the host keeps memory resident
//! between calls: `noop_instance_calls` (calls this instance has answered: always 1) and
//! `noop_dirty_grown_bytes` (non-zero bytes in 1 MiB of freshly grown memory, which the call
//! then fills: always 0).

use std::sync::atomic::{AtomicU32, Ordering};
use ward_sdk::{Description, NoConfig, ProbeResult, Prober};

#[cfg(not(feature = "v2"))]
const VERSION: (&str, &str) = ("0.1.0", "noop v1");
#[cfg(feature = "v2")]
const VERSION: (&str, &str) = ("0.2.0", "noop v2");

/// The noop prober.
pub struct Noop;

impl Prober for Noop {
    type Config = NoConfig;

    fn describe() -> Description {
        Description::new(
            "noop",
            VERSION.0,
            "Test guest: always up, says its version.",
        )
    }

    fn probe(target: &str, _config: NoConfig) -> ward_sdk::Result<ProbeResult> {
        if target != "count" {
            return Ok(ProbeResult::up(VERSION.1));
        }
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(ProbeResult::up(VERSION.1)
            .with_sample("noop_instance_calls", &[], f64::from(calls))
            .with_sample("noop_dirty_grown_bytes", &[], dirty_grown_bytes() as f64))
    }
}

/// Calls answered by this instance.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// Grows linear memory by 1 MiB, counts the non-zero bytes found there, and fills it.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)] // reads memory no Rust allocation owns
fn dirty_grown_bytes() -> usize {
    const PAGES: usize = 16;
    const PAGE: usize = 64 << 10;
    let old = core::arch::wasm32::memory_grow(0, PAGES);
    if old == usize::MAX {
        return usize::MAX;
    }
    let start = (old * PAGE) as *mut u8;
    // SAFETY: the pages were just added to linear memory by `memory.grow`; no allocator knows
    // about them, so nothing else reads or writes them.
    let grown = unsafe { core::slice::from_raw_parts_mut(start, PAGES * PAGE) };
    let dirty = grown.iter().filter(|&&b| b != 0).count();
    grown.fill(0xAA);
    dirty
}

ward_sdk::export_prober!(Noop);

/// Native builds (clippy, unit tests of the workspace) have no linear memory to grow; the
/// guest only ever runs as wasm.
#[cfg(not(target_arch = "wasm32"))]
fn dirty_grown_bytes() -> usize {
    0
}
