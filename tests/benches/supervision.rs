//! Benchmarks of process supervision (see BENCHMARKS.md), with the real `ward` binary:
//!
//! 1. `restart`: a service (`sleep`, `restart = "always"`, `delay = "0s"`) is SIGKILLed; the
//!    time until its replacement has been exec'd (a new child of ward whose name is `sleep`),
//!    found by polling `/proc/<ward>/task/*/children`. 200 crashes.
//! 2. `idle`: ward supervising 500 idle services (`sleep`): the time until all run, then
//!    ward's CPU seconds and RSS over `WARD_BENCH_SECONDS` (default 60): once with sampling
//!    off (supervision alone), once with the default sampling (every 10 s: the machine, and
//!    each service's process tree).
//! 3. `sampling`: the whole of ward's native side at 1 s resolution, side by side with
//!    node_exporter: ward supervising 200 services (`sleep`) with `[sampler] interval = "1s"`
//!    (the machine, and each service's process tree, written to the store every second),
//!    while `prometheus-node-exporter` is scraped every second; CPU seconds and RSS of each
//!    over `WARD_BENCH_SECONDS` (default 60), ward's RSS every tenth of the run.
//!
//! Run: `cargo build --release -p ward && cargo bench -p ward-tests --bench supervision
//! [-- restart|idle|sampling|all]` with the same `CARGO_TARGET_DIR` for both (or set `WARD_BIN`).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../store/benches/common/harness.rs"]
mod harness;
use harness::{Http, cpu_secs, loadavg, machine};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let bin = match harness::ward_release_bin() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!("machine: {}", machine());
    println!("load average before: {}", loadavg());
    println!("ward: {}", bin.display());
    if matches!(which, "restart" | "all") {
        restart(&bin);
    }
    if matches!(which, "idle" | "all") {
        idle(&bin, false);
        idle(&bin, true);
    }
    if matches!(which, "sampling" | "all") {
        sampling(&bin);
    }
}

/// A `ward run` in a temporary directory, SIGTERMed on drop.
struct Ward {
    child: Child,
    http: Http,
    _dir: tempfile::TempDir,
}

impl Ward {
    fn start(bin: &Path, config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ward.toml"), config).unwrap();
        let mut child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(dir.path().join("ward.toml"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--plugins-dir")
            .arg(dir.path().join("plugins"))
            .env("WARD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("ward did not print its URL: {first:?}"));
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = out.read_to_string(&mut sink);
        });
        Self {
            child,
            http: Http::new(addr),
            _dir: dir,
        }
    }

    fn services(&mut self) -> Vec<serde_json::Value> {
        let (status, body) = self.http.request("GET", "/api/v1/services", &[]).unwrap();
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["data"].as_array().cloned().unwrap_or_default()
    }

    fn wait_running(&mut self, n: usize, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let running = self
                .services()
                .iter()
                .filter(|s| s["state"] == "running")
                .count();
            if running >= n {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "only {running}/{n} services running"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Ward {
    fn drop(&mut self) {
        signal(self.child.id(), rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Children of `pid` whose name is `comm`, from `/proc/<pid>/task/*/children`.
fn children_named(pid: u32, comm: &str, buf: &mut String) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        buf.clear();
        if let Ok(mut f) = std::fs::File::open(t.path().join("children")) {
            let _ = f.read_to_string(buf);
        }
        for c in buf.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
            let name = std::fs::read_to_string(format!("/proc/{c}/comm")).unwrap_or_default();
            if name.trim_end() == comm {
                out.push(c);
            }
        }
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn restart(bin: &Path) {
    println!("\n## restart: crash -> replacement exec'd (restart = always, delay = 0s)");
    let mut w = Ward::start(
        bin,
        r#"
[[service]]
name = "victim"
command = "sleep"
args = ["100000"]
restart = "always"
delay = "0s"
delay_max = "1s"
jitter = 0.0
max_restarts = 100000
restart_window = "1s"
"#,
    );
    w.wait_running(1, Duration::from_secs(10));
    let mut buf = String::new();
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let old = loop {
            let c = children_named(w.pid(), "sleep", &mut buf);
            if c.len() == 1 {
                break c[0];
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let t0 = Instant::now();
        signal(old, rustix::process::Signal::KILL);
        loop {
            let c = children_named(w.pid(), "sleep", &mut buf);
            if c.iter().any(|p| *p != old) {
                latencies.push(t0.elapsed().as_secs_f64() * 1e3);
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "no restart");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "crashes: {}; latency ms: median {:.2}, p90 {:.2}, p99 {:.2}, max {:.2}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
    let restarts = w.services()[0]["restarts"].as_u64().unwrap_or(0);
    println!("ward counted {restarts} restarts");
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn idle(bin: &Path, sampling: bool) {
    let seconds: u64 = std::env::var("WARD_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let sampler = if sampling {
        ""
    } else {
        "[sampler]\nsystem = false\nservices = false\n\n"
    };
    println!(
        "\n## idle: 500 idle services for {seconds} s, sampling {}",
        if sampling {
            "on (defaults: every 10 s)"
        } else {
            "off"
        }
    );
    let baseline = Ward::start(bin, sampler);
    std::thread::sleep(Duration::from_secs(2));
    let base_rss = status_kib(baseline.pid(), "VmRSS:");
    drop(baseline);
    let mut config = sampler.to_string();
    for i in 0..500 {
        config.push_str(&format!(
            "[[service]]\nname = \"idle-{i:03}\"\ncommand = \"sleep\"\nargs = [\"100000\"]\n\n"
        ));
    }
    let mut w = Ward::start(bin, &config);
    let took = w.wait_running(500, Duration::from_secs(60));
    println!("all 500 running after {took:.2?}");
    std::thread::sleep(Duration::from_secs(2));
    let cpu0 = cpu_secs(w.pid());
    let t0 = Instant::now();
    let rss0 = status_kib(w.pid(), "VmRSS:");
    std::thread::sleep(Duration::from_secs(seconds));
    let cpu = cpu_secs(w.pid()) - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let rss1 = status_kib(w.pid(), "VmRSS:");
    let hwm = status_kib(w.pid(), "VmHWM:");
    let running = w
        .services()
        .iter()
        .filter(|s| s["state"] == "running")
        .count();
    println!(
        "ward with no service: RSS {:.1} MiB; with 500: RSS {:.1} MiB at start, {:.1} MiB after {seconds} s (peak {:.1} MiB), {:.1} KiB per service",
        base_rss as f64 / 1024.0,
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        hwm as f64 / 1024.0,
        (rss1.saturating_sub(base_rss)) as f64 / 500.0
    );
    println!(
        "CPU over {wall:.0} s: {cpu:.2} s = {:.2}% of one core; {running}/500 still running",
        cpu / wall * 100.0
    );
}

/// `ward_sampler_samples_total` from ward's `/metrics`.
fn sampler_samples(w: &mut Ward) -> f64 {
    let (_, body) = w.http.request("GET", "/metrics", &[]).unwrap();
    String::from_utf8_lossy(&body)
        .lines()
        .find(|l| l.starts_with("ward_sampler_samples_total"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn sampling(bin: &Path) {
    let seconds: u64 = std::env::var("WARD_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    println!(
        "\n## sampling: ward (200 services, sampler every 1 s) and node_exporter (scraped every 1 s), {seconds} s, side by side"
    );
    harness::print_peers(
        &[("prometheus-node-exporter", "--version")],
        "ward side only",
    );
    let mut config = String::from("[sampler]\ninterval = \"1s\"\n\n");
    for i in 0..200 {
        config.push_str(&format!(
            "[[service]]\nname = \"svc-{i:03}\"\ncommand = \"sleep\"\nargs = [\"100000\"]\n\n"
        ));
    }
    let mut w = Ward::start(bin, &config);
    w.wait_running(200, Duration::from_secs(60));
    let node = harness::bin("prometheus-node-exporter").map(|ne| {
        let addr = harness::free_addr();
        let child = Command::new(ne)
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut http = Http::new(addr);
        let started = Instant::now();
        while http.request("GET", "/metrics", &[]).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "node_exporter did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        (child, http)
    });
    // Let both settle (first rounds, page cache), then measure.
    std::thread::sleep(Duration::from_secs(3));
    let ward_cpu0 = cpu_secs(w.pid());
    let node_cpu0 = node.as_ref().map(|(c, _)| cpu_secs(c.id())).unwrap_or(0.0);
    let samples0 = sampler_samples(&mut w);
    let t0 = Instant::now();
    let mut rss_marks = Vec::new();
    let mut node = node;
    let mut scrapes = 0u64;
    for tick in 1..=seconds {
        if let Some((_, http)) = node.as_mut() {
            let (status, _) = http.request("GET", "/metrics", &[]).unwrap();
            assert_eq!(status, 200);
            scrapes += 1;
        }
        if tick % (seconds / 10).max(1) == 0 {
            rss_marks.push(status_kib(w.pid(), "VmRSS:") as f64 / 1024.0);
        }
        let next = t0 + Duration::from_secs(tick);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let wall = t0.elapsed().as_secs_f64();
    let ward_cpu = cpu_secs(w.pid()) - ward_cpu0;
    let rounds_samples = sampler_samples(&mut w) - samples0;
    let ward_hwm = status_kib(w.pid(), "VmHWM:") as f64 / 1024.0;
    println!("| side | CPU s | % of one core | peak RSS MiB | samples/s |");
    println!("|---|---|---|---|---|");
    println!(
        "| ward: 200 services + sampler (machine + 200 process trees) every 1 s, into its store | {ward_cpu:.2} | {:.2}% | {ward_hwm:.1} | {:.0} |",
        ward_cpu / wall * 100.0,
        rounds_samples / wall
    );
    if let Some((mut child, _)) = node {
        let node_cpu = cpu_secs(child.id()) - node_cpu0;
        let node_hwm = status_kib(child.id(), "VmHWM:") as f64 / 1024.0;
        println!(
            "| node_exporter, scraped {scrapes} times | {node_cpu:.2} | {:.2}% | {node_hwm:.1} | |",
            node_cpu / wall * 100.0
        );
        println!("CPU ratio ward / node_exporter: {:.2}", ward_cpu / node_cpu);
        let _ = child.kill();
        let _ = child.wait();
    }
    println!(
        "ward RSS at the end: {:.1} MiB anonymous + {:.1} MiB file-backed (its code and read-only data)",
        status_kib(w.pid(), "RssAnon:") as f64 / 1024.0,
        status_kib(w.pid(), "RssFile:") as f64 / 1024.0
    );
    println!(
        "ward RSS MiB at each tenth of the run: {}",
        rss_marks
            .iter()
            .map(|r| format!("{r:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
