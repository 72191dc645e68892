//! What sampling costs: ward's samplers against node_exporter, side by side in one run.
//!
//! `cargo bench -p ward-sampler --bench sampling` (duration: `WARD_BENCH_SECONDS`, default
//! 60). The bench spawns 200 idle processes (`sleep 3600`), then at the same time:
//!
//! - ward: this binary re-executed as a child (`WARD_SAMPLER_BENCH_ROLE=ward`), which every
//!   second samples the machine (`SystemSampler`) and the 200 processes as 200 groups (one
//!   `ProcessSampler::begin_round`, then `tree(pid)` + `sample_group` per process, as the
//!   runtime's sampler loop does for services) into a real `ward-store` store in a temporary
//!   directory (one append per round, label sets cached across rounds as the runtime does),
//!   and reports its CPU time and peak RSS. `WARD_SAMPLER_BENCH_SCAN=1` starts each
//!   round with `ProcessSampler::scan` instead (every process's `stat`, as a round with
//!   `[[sampler.processes]]` patterns does), so trees come from the scan's parent links;
//! - node_exporter (`prometheus-node-exporter`, default flags), scraped at `/metrics` every
//!   second by this process; its CPU time (`/proc/<pid>/stat`) and peak RSS (`VmHWM`) are
//!   read at the end.
//!
//! CPU seconds are counted from the first round to the last (start-up excluded) on both
//! sides; peak RSS is the process's whole life.
#![allow(clippy::unwrap_used)]

#[path = "../../../store/benches/common/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use ward_sampler::{ProcessSampler, Sink, SystemOptions, SystemSampler};
use ward_store::{Labels, Store, StoreOptions};

const ROLE: &str = "WARD_SAMPLER_BENCH_ROLE";
const PIDS: &str = "WARD_SAMPLER_BENCH_PIDS";
const STORE: &str = "WARD_SAMPLER_BENCH_STORE";
const SCAN: &str = "WARD_SAMPLER_BENCH_SCAN";
const IDLE_PROCESSES: usize = 200;

fn seconds() -> u64 {
    std::env::var("WARD_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

fn main() {
    if std::env::var(ROLE).as_deref() == Ok("ward") {
        ward_side();
        return;
    }
    let secs = seconds();
    println!("machine: {}", harness::machine());
    println!("load average before: {}", harness::loadavg());
    harness::print_peers(
        &[("prometheus-node-exporter", "--version")],
        "the node_exporter side is skipped",
    );

    let mut children = Children(Vec::new());
    for _ in 0..IDLE_PROCESSES {
        let c = Command::new("sleep")
            .arg("3600")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        children.0.push(c);
    }
    let pids: Vec<String> = children.0.iter().map(|c| c.id().to_string()).collect();
    let dir = tempfile::tempdir().unwrap();

    let exporter = harness::bin("prometheus-node-exporter").map(|path| {
        let addr = harness::free_addr();
        let child = Command::new(path)
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (child, addr)
    });
    if let Some((_, addr)) = &exporter {
        let deadline = Instant::now() + Duration::from_secs(10);
        while harness::Http::new(*addr)
            .request("GET", "/metrics", b"")
            .is_err()
        {
            assert!(Instant::now() < deadline, "node_exporter did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    let ward = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "ward")
        .env("WARD_BENCH_SECONDS", secs.to_string())
        .env(PIDS, pids.join(","))
        .env(STORE, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    // node_exporter, scraped every second for the same duration, meanwhile.
    let ne = exporter.map(|(child, addr)| {
        let pid = child.id();
        children.0.push(child);
        let mut http = harness::Http::new(addr);
        let cpu0 = harness::cpu_secs(pid);
        let t0 = Instant::now();
        let (mut rounds, mut samples) = (0u64, 0usize);
        for i in 0..secs {
            let (status, body) = http.request("GET", "/metrics", b"").unwrap();
            assert_eq!(status, 200);
            samples = String::from_utf8_lossy(&body)
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .count();
            rounds += 1;
            let next = t0 + Duration::from_secs(i + 1);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        let cpu = harness::cpu_secs(pid) - cpu0;
        let hwm = vm_hwm_kib(&format!("/proc/{pid}/status"));
        Side {
            cpu,
            wall: t0.elapsed().as_secs_f64(),
            hwm_kib: hwm,
            rounds,
            samples,
            detail: String::new(),
        }
    });

    let out = ward.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("the ward child printed no result: {text}"));
    let field = |k: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let ward = Side {
        cpu: field("cpu"),
        wall: field("wall"),
        hwm_kib: field("hwm_kib") as u64,
        rounds: field("rounds") as u64,
        samples: field("samples") as usize,
        detail: format!(
            "per round: system {:.2} ms ({} samples), processes {:.2} ms ({} samples: {} {:.2} ms, 200 groups (tree + sample_group) {:.2} ms), store append {:.2} ms (thread CPU time); /proc/<pid> files kept open {} (budget {})",
            field("system_ms"),
            field("system_samples"),
            field("process_ms"),
            field("process_samples"),
            if field("scan") > 0.0 {
                "scan"
            } else {
                "begin_round"
            },
            field("scan_ms"),
            field("groups_ms"),
            field("append_ms"),
            field("open_files"),
            field("fd_budget"),
        ),
    };
    drop(children);

    println!("load average after: {}", harness::loadavg());
    println!();
    println!(
        "| side | CPU seconds | CPU % of one core | peak RSS MiB | samples per round | rounds |"
    );
    println!("|---|---|---|---|---|---|");
    ward.row("ward (system + 200 process groups + store)");
    if let Some(ne) = &ne {
        ne.row("node_exporter (default collectors, scraped)");
        println!();
        println!(
            "ratio ward/node_exporter: CPU {:.2}, peak RSS {:.2}",
            ward.cpu / ne.cpu.max(1e-9),
            ward.hwm_kib as f64 / ne.hwm_kib.max(1) as f64
        );
    }
    println!("ward {}", ward.detail);
}

/// One side's figures.
struct Side {
    cpu: f64,
    wall: f64,
    hwm_kib: u64,
    rounds: u64,
    samples: usize,
    detail: String,
}

impl Side {
    fn row(&self, name: &str) {
        println!(
            "| {name} | {:.2} | {:.2} % | {:.1} | {} | {} |",
            self.cpu,
            self.cpu / self.wall * 100.0,
            self.hwm_kib as f64 / 1024.0,
            self.samples,
            self.rounds
        );
    }
}

/// Kills and reaps every child however the bench ends.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

fn vm_hwm_kib(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The child: sample every second into a store, then print `RESULT k=v ...`.
fn ward_side() {
    let secs = seconds();
    let pids: Vec<i32> = std::env::var(PIDS)
        .unwrap()
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    let groups: Vec<(String, i32)> = pids.iter().map(|p| (format!("sleep-{p}"), *p)).collect();
    let store = Store::open(std::env::var(STORE).unwrap(), StoreOptions::default()).unwrap();
    let mut system = SystemSampler::new(SystemOptions::default());
    let mut processes = ProcessSampler::new("/proc");
    let scan = std::env::var(SCAN).as_deref() == Ok("1");
    let mut cache = LabelCache::default();
    let mut batch: Vec<(Arc<Labels>, i64, f64)> = Vec::new();

    let self_pid = std::process::id();
    let cpu0 = harness::cpu_secs(self_pid);
    let t0 = Instant::now();
    let (mut system_t, mut scan_t, mut groups_t, mut append_t) = Default::default();
    let (mut system_samples, mut process_samples, mut rounds) = (0, 0, 0u64);
    for i in 0..secs {
        let ts = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        batch.clear();
        let mut sink = BatchSink {
            cache: &mut cache,
            batch: &mut batch,
            ts,
        };
        let c0 = thread_cpu();
        system.sample(&mut sink);
        system_samples = sink.batch.len();
        let c1 = thread_cpu();
        if scan {
            processes.scan();
        } else {
            processes.begin_round();
        }
        let c2 = thread_cpu();
        for (name, pid) in &groups {
            let tree = processes.tree(*pid);
            processes.sample_group(name, &tree, &mut sink);
        }
        let c3 = thread_cpu();
        process_samples = batch.len() - system_samples;
        store.append(&batch).unwrap();
        let c4 = thread_cpu();
        system_t += c1 - c0;
        scan_t += c2 - c1;
        groups_t += c3 - c2;
        append_t += c4 - c3;
        rounds += 1;
        let next = t0 + Duration::from_secs(i + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let cpu = harness::cpu_secs(self_pid) - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let per = |d: Duration| d.as_secs_f64() * 1e3 / rounds.max(1) as f64;
    println!(
        "RESULT cpu={cpu:.3} wall={wall:.3} hwm_kib={} rounds={rounds} samples={} system_ms={:.3} scan_ms={:.3} groups_ms={:.3} process_ms={:.3} append_ms={:.3} system_samples={system_samples} process_samples={process_samples} scan={} open_files={} fd_budget={}",
        vm_hwm_kib("/proc/self/status"),
        system_samples + process_samples,
        per(system_t),
        per(scan_t),
        per(groups_t),
        per(scan_t + groups_t),
        per(append_t),
        u8::from(scan),
        processes.open_files(),
        processes.fd_budget(),
    );
    drop(store);
}

struct BatchSink<'a> {
    cache: &'a mut LabelCache,
    batch: &'a mut Vec<(Arc<Labels>, i64, f64)>,
    ts: i64,
}

impl Sink for BatchSink<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let l = self.cache.get(name, labels);
        self.batch.push((l, self.ts, value));
    }
}

/// Label sets by a hash of the sampler's borrowed name and labels (built once per series).
/// The runtime (`runtime/src/sampler.rs`) hashes with foldhash, not a dependency here.
#[derive(Default)]
struct LabelCache {
    hasher: RandomState,
    entries: HashMap<u64, Vec<Arc<Labels>>>,
}

impl LabelCache {
    fn get(&mut self, name: &str, labels: &[(&str, &str)]) -> Arc<Labels> {
        let mut h = self.hasher.build_hasher();
        h.write(name.as_bytes());
        for (k, v) in labels {
            h.write_u8(0xff);
            h.write(k.as_bytes());
            h.write_u8(0xfe);
            h.write(v.as_bytes());
        }
        let slot = self.entries.entry(h.finish()).or_default();
        let same = |l: &Labels| {
            l.metric_name() == Some(name)
                && labels
                    .iter()
                    .all(|(k, v)| l.get(k) == Some(*v) || v.is_empty())
                && l.len() == 1 + labels.iter().filter(|(_, v)| !v.is_empty()).count()
        };
        if let Some(l) = slot.iter().find(|l| same(l)) {
            return l.clone();
        }
        let pairs = std::iter::once(("__name__", name)).chain(labels.iter().copied());
        let l = Arc::new(Labels::from_pairs(pairs).unwrap());
        slot.push(l.clone());
        l
    }
}
