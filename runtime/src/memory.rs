//! The allocator's share of ward's memory. ward holds long-lived small objects (chunks kept
//! for queries, label sets) between bursts of short-lived ones (a sampling round's batch, a
//! checkpoint's chunk writes, memtable flushes on the store's threads). glibc's malloc keeps
//! what a burst frees inside the arena it came from: unused, yet resident, wherever a
//! long-lived object sits on the same page or above the free space. [`tune`] sets two
//! parameters at start that keep that bounded (measured in BENCHMARKS.md, `sampling`: RSS
//! after the first checkpoint 45.7 MiB with glibc's defaults, 40.4 MiB with these):
//!
//! - One arena for every thread. glibc gives threads their own arenas (up to 8 per core), so
//!   the store's maintenance thread, which runs a checkpoint every 15 minutes, kept the
//!   megabytes that checkpoint freed for itself alone. ward's threads allocate little, and
//!   glibc's per-thread cache serves most small allocations without the arena's lock.
//! - A fixed mmap threshold of 128 KiB. glibc raises the threshold each time it frees a
//!   mapped block (up to 32 MiB), after which large transient buffers (a flush's, a
//!   query's) are carved from the arena instead of mapped, and leave holes there.
//!
//! With another allocator or C library this does nothing.

/// Sets glibc's malloc parameters. Call first thing in `main`, before any thread starts.
#[allow(unsafe_code)]
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it runs before other threads exist,
    // and glibc takes its own lock anyway.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
