//! ward's sampler of the machine and its processes, read from `/proc` and `/sys`.
//!
//! [`SystemSampler`] reads the kernel's files and emits what node_exporter 1.5's default
//! collectors emit for them, under the same metric names, label names and units (see
//! [`system`] for the families); [`ProcessSampler`] reads `/proc/<pid>` and emits
//! process-exporter's `namedprocess_namegroup_*` families for a group of processes (a
//! supervised service's process tree, or the processes whose name matches a pattern).
//!
//! Samples go to a [`Sink`], one call per sample. Names and label values borrow from the
//! sampler's reused buffers: a round reads each file into the same buffer, walks it as bytes
//! and allocates nothing per line. A sampler never panics on what it reads: a missing or
//! unreadable file is skipped (logged once and listed by [`SystemSampler::missing`]), a
//! malformed line is skipped, a process that exits mid-read is skipped.
//!
//! It is not an exporter: it serves nothing, keeps no history, stamps no timestamps and knows
//! nothing of the store; the runtime decides when to sample and where samples go. It covers
//! Linux only, and only the collectors listed in [`system`].
//!
//! ```no_run
//! use ward_sampler::{ProcessSampler, SystemOptions, SystemSampler};
//! let mut system = SystemSampler::new(SystemOptions::default());
//! let mut processes = ProcessSampler::new("/proc");
//! let mut print = |name: &str, labels: &[(&str, &str)], value: f64| {
//!     println!("{name}{labels:?} {value}");
//! };
//! system.sample(&mut print);
//! processes.begin_round();
//! let pids = processes.tree(1);
//! processes.sample_group("init", &pids, &mut print);
//! ```

mod files;
mod parse;
pub mod process;
mod process_files;
mod sink;
pub mod system;

pub use process::ProcessSampler;
pub use sink::Sink;
pub use system::{SystemOptions, SystemSampler};

#[cfg(test)]
mod testing;
