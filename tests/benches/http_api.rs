//! ward's Prometheus-compatible HTTP API side by side with Prometheus and VictoriaMetrics (see
//! BENCHMARKS.md, "HTTP API (issue 4)").
//!
//! One deterministic node_exporter-like data set (20 hosts x 81 series = 1,620 series, 6 h at
//! 15 s: about 2.33 M samples; CPU, memory, network, filesystem, load, a request-latency
//! histogram with 11 buckets per handler, `up`; one host reboots (counter resets), one is
//! down for 10 minutes (a gap longer than the lookback), two scrape with a few ms of jitter) is
//! loaded into:
//! - the real `ward` binary (a child process on a loopback port, temporary config and data)
//!   and VictoriaMetrics, through `POST /api/v1/import/prometheus` with the same bodies (text
//!   lines with ms timestamps): `import` gives samples/s and the ratio ward / VM;
//! - Prometheus 2.42, from blocks written by `promtool tsdb create-blocks-from openmetrics`.
//!
//! `query` runs typical dashboard queries (rate, sum by, a binary operation, histogram_quantile,
//! topk, a subquery) through `/api/v1/query_range` over the last 1 h and 6 h of the data with
//! Grafana-like steps, and a few through `/api/v1/query`, form-POSTed as Grafana sends them, on
//! ward and Prometheus: warm-up, then runs interleaved ward / Prometheus over keep-alive
//! connections; median and p90 latency (request sent to last byte read), ratio ward / Prometheus.
//! Each pair of answers is compared (series, timestamps, values within 1e-6 relative) and a
//! `WARNING` line printed when they differ: a fast wrong answer is worth nothing.
//!
//! Run: `cargo build --release -p ward && cargo bench -p ward-tests --bench http_api [-- query|import|all]`
//! with the same `CARGO_TARGET_DIR` for both: the bench runs `<target>/release/ward`, or
//! `$WARD_BIN`. A missing peer binary is reported and its side skipped (the bench is not a
//! test). `WARD_BENCH_KEEP=1` keeps the work directory. `-- data DIR` only writes the data set
//! (`import-NN.prom` bodies and `data.om`) to `DIR`, for profiling by hand.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../store/benches/common/harness.rs"]
mod harness;
use harness::{
    Http, bin, cpu_secs, dur, free_addr, loadavg, machine, print_peers, secs, si, urlencode,
};

/// 2023-11-14T00:00:00Z: aligned to 6 h, so promtool writes the data set as one 6 h block
/// (what Prometheus's compaction would make of three 2 h blocks).
const T0: i64 = 1_699_920_000_000;
const STEP: i64 = 15_000;
/// 6 h of scrapes.
const SCRAPES: usize = 1_440;
const HOSTS: usize = 20;
/// Hosts that scrape with 0-7 ms of timestamp jitter.
const JITTERED: &[usize] = &[3, 11];
/// A host that reboots at scrape `REBOOT_AT`: its counters restart near zero.
const REBOOTED: usize = 5;
const REBOOT_AT: usize = 700;
/// A host unreachable for scrapes `DOWN_FROM..DOWN_TO` (10 min): only `up` = 0 is written.
const DOWN: usize = 7;
const DOWN_FROM: usize = 900;
const DOWN_TO: usize = 940;
/// Scrapes per import body (30 min, about 195 k samples and 18 MB: under ward's default
/// per-request limits).
const SCRAPES_PER_BODY: usize = 120;
/// Timed runs per query and system, after `WARMUP`; fewer when a query is slow.
const RUNS: usize = 15;
const WARMUP: usize = 2;
/// A query's runs stop early (after at least `MIN_RUNS`) past this much time.
const QUERY_BUDGET: Duration = Duration::from_secs(40);
const MIN_RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--bench"))
        .collect();
    if args.first().map(String::as_str) == Some("data") {
        let dir = PathBuf::from(args.get(1).expect("usage: data DIR"));
        std::fs::create_dir_all(&dir).unwrap();
        let data = Data::generate();
        for (n, body) in data.prometheus_text().iter().enumerate() {
            std::fs::write(dir.join(format!("import-{n:02}.prom")), body).unwrap();
        }
        data.write_openmetrics(&dir.join("data.om"));
        println!("wrote {} samples to {}", data.samples(), dir.display());
        return;
    }
    let all = args.is_empty() || args.iter().any(|a| a == "all");
    let want = |name: &str| all || args.iter().any(|a| a == name);
    let started = Instant::now();
    print_machine();
    let tmp = tempfile::Builder::new()
        .prefix("ward-http-bench-")
        .tempdir()
        .unwrap();
    println!("work directory: {}", tmp.path().display());

    let t = Instant::now();
    let data = Data::generate();
    let bodies = data.prometheus_text();
    println!(
        "data: {HOSTS} hosts, {} series, {SCRAPES} scrapes at {} s ({} h), {} samples; {} import bodies, {:.1} MB of text; generated in {:.1} s",
        data.series.len(),
        STEP / 1000,
        SCRAPES as i64 * STEP / 3_600_000,
        data.samples(),
        bodies.len(),
        bodies.iter().map(Vec::len).sum::<usize>() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let mut report = Report {
        samples: data.samples(),
        ..Report::default()
    };
    let ward = match harness::ward_release_bin() {
        Ok(bin) => Some(Server::ward(&bin, &tmp.path().join("ward"))),
        Err(reason) => {
            println!("ward side skipped: {reason}");
            None
        }
    };
    if let Some(ward) = &ward {
        match import(ward, &bodies) {
            Ok(run) => {
                println!(
                    "import: ward: {} samples in {:.2} s wall, {:.2} CPU-s: {} samples/s",
                    data.samples(),
                    run.wall,
                    run.cpu,
                    si(data.samples() as f64 / run.wall)
                );
                report.ward_import = Some(run);
            }
            Err(e) => println!("WARNING: import into ward failed: {e}"),
        }
    }
    if want("import") {
        match bin("victoria-metrics") {
            Some(vm_bin) => {
                let vm = Server::victoria_metrics(&vm_bin, &tmp.path().join("vm"));
                match import(&vm, &bodies) {
                    Ok(run) => {
                        println!(
                            "import: VictoriaMetrics: {} samples in {:.2} s wall (with force_flush), {:.2} CPU-s: {} samples/s",
                            data.samples(),
                            run.wall,
                            run.cpu,
                            si(data.samples() as f64 / run.wall)
                        );
                        report.vm_import = Some(run);
                    }
                    Err(e) => println!("WARNING: import into VictoriaMetrics failed: {e}"),
                }
            }
            None => println!(
                "import: VictoriaMetrics side skipped: victoria-metrics not on PATH (apt-get install victoria-metrics)"
            ),
        }
    }
    drop(bodies);

    if want("query") {
        let prom = match (bin("prometheus"), bin("promtool")) {
            (Some(prom), Some(promtool)) => {
                let t = Instant::now();
                let om = tmp.path().join("data.om");
                data.write_openmetrics(&om);
                let blocks = tmp.path().join("prom");
                let out = Command::new(&promtool)
                    .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
                    .arg("--max-block-duration=6h")
                    .arg(&om)
                    .arg(&blocks)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "promtool: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                std::fs::remove_file(&om).unwrap();
                println!(
                    "prometheus: blocks written by promtool in {:.1} s",
                    t.elapsed().as_secs_f64()
                );
                Some(Server::prometheus(&prom, &blocks))
            }
            _ => {
                println!(
                    "query: Prometheus side skipped: prometheus or promtool not on PATH (apt-get install prometheus)"
                );
                None
            }
        };
        if let Some(prom) = &prom {
            let (status, body) = Http::new(prom.addr)
                .request(
                    "GET",
                    &format!("/api/v1/query?query=count(up)&time={}", secs(end_ms())),
                    b"",
                )
                .unwrap();
            println!(
                "prometheus: count(up) at the end: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        match (&ward, &prom) {
            (Some(ward), Some(prom)) if report.ward_import.is_some() => {
                report.queries = run_queries(ward, prom);
            }
            _ => println!("query: skipped (needs ward with the data set and Prometheus)"),
        }
    }
    if let Some(ward) = &ward {
        ward.print_query_metrics();
    }
    drop(ward);
    report.print();
    println!(
        "load average at the end: {}; whole run: {:.0} s",
        loadavg(),
        started.elapsed().as_secs_f64()
    );
    if std::env::var_os("WARD_BENCH_KEEP").is_some() {
        println!("kept {}", tmp.keep().display());
    }
}

// ---------------------------------------------------------------------------------------
// The data set

/// splitmix64: small, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x2545_F491_4F6C_DD1D)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f()
    }
}

fn round_to(v: f64, quantum: f64) -> f64 {
    (v / quantum).round() * quantum
}

fn round_dec(v: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (v * m).round() / m
}

struct Series {
    /// `name{label="value",...}` as written in both formats.
    key: String,
    name: String,
    host: usize,
}

/// Every series' value at every scrape; NaN where the series has no sample.
struct Data {
    series: Vec<Series>,
    values: Vec<Vec<f64>>,
}

impl Data {
    fn generate() -> Self {
        let mut d = Data {
            series: Vec::new(),
            values: Vec::new(),
        };
        for h in 0..HOSTS {
            d.host(h);
        }
        // A down host has no samples but `up` (a real scrape would also write stale markers).
        for (s, v) in d.series.iter().zip(&mut d.values) {
            if s.host == DOWN && s.name != "up" {
                v[DOWN_FROM..DOWN_TO].fill(f64::NAN);
            }
        }
        d
    }

    fn push(&mut self, host: usize, name: &str, labels: &[(&str, &str)], values: Vec<f64>) {
        let mut key = format!("{name}{{instance=\"{}\",job=\"node\"", instance(host));
        for (k, v) in labels {
            write!(key, ",{k}=\"{v}\"").unwrap();
        }
        key.push('}');
        self.series.push(Series {
            key,
            name: name.to_string(),
            host,
        });
        self.values.push(values);
    }

    fn host(&mut self, h: usize) {
        let mut rng = Rng::new(h as u64 + 1);
        let busy = rng.between(0.3, 1.6);
        const MODES: [(&str, f64, f64); 8] = [
            ("idle", 0.0, 0.0),
            ("iowait", 0.0, 0.03),
            ("irq", 0.0, 0.004),
            ("nice", 0.0, 0.01),
            ("softirq", 0.0, 0.02),
            ("steal", 0.0, 0.01),
            ("system", 0.03, 0.12),
            ("user", 0.08, 0.3),
        ];
        for cpu in 0..4 {
            let cpu_s = cpu.to_string();
            for (mode, lo, hi) in MODES {
                let (lo, hi) = if mode == "idle" {
                    // Whatever the others leave, roughly.
                    (1.0 - 0.45 * busy, 1.0 - 0.1 * busy)
                } else {
                    (lo * busy, hi * busy)
                };
                let v = counter(&mut rng, h, lo * 15.0, hi * 15.0, 0.01, 5e5);
                self.push(
                    h,
                    "node_cpu_seconds_total",
                    &[("cpu", &cpu_s), ("mode", mode)],
                    v,
                );
            }
        }

        let total = if h.is_multiple_of(3) { 32.0 } else { 16.0 } * 1024.0 * 1024.0 * 1024.0;
        let kib = 1024.0;
        self.push(h, "node_memory_MemTotal_bytes", &[], vec![total; SCRAPES]);
        let avail = gauge(&mut rng, total * 0.2, total * 0.9, total * 0.002, kib);
        let free: Vec<f64> = avail
            .iter()
            .map(|a| round_to(a * rng.between(0.3, 0.35), kib))
            .collect();
        self.push(h, "node_memory_MemAvailable_bytes", &[], avail);
        self.push(h, "node_memory_MemFree_bytes", &[], free);
        let buffers = gauge(&mut rng, 1e8, 6e8, 2e6, kib);
        self.push(h, "node_memory_Buffers_bytes", &[], buffers);
        let cached = gauge(&mut rng, total * 0.1, total * 0.5, total * 0.001, kib);
        self.push(h, "node_memory_Cached_bytes", &[], cached);

        for dir in ["receive", "transmit"] {
            let name = format!("node_network_{dir}_bytes_total");
            for (dev, lo, hi) in [("eth0", 2e5, 4e6), ("eth1", 1e3, 2e5), ("lo", 5e2, 2e4)] {
                let scale = rng.between(0.2, 3.0);
                let v = counter(&mut rng, h, lo * scale * 15.0, hi * scale * 15.0, 1.0, 1e12);
                self.push(h, &name, &[("device", dev)], v);
            }
        }

        for (dev, fstype, mount, size) in [
            ("/dev/vda1", "ext4", "/", 100e9),
            ("/dev/vda15", "vfat", "/boot/efi", 0.1e9),
            ("/dev/vdb", "xfs", "/var", 500e9),
            ("tmpfs", "tmpfs", "/run", 1.6e9),
        ] {
            let size = round_to(size * rng.between(0.9, 1.1), 4096.0);
            let labels = [("device", dev), ("fstype", fstype), ("mountpoint", mount)];
            let avail = gauge(&mut rng, size * 0.05, size * 0.95, size * 0.0005, 4096.0);
            self.push(h, "node_filesystem_avail_bytes", &labels, avail);
            self.push(
                h,
                "node_filesystem_size_bytes",
                &labels,
                vec![size; SCRAPES],
            );
        }

        let load1 = gauge(&mut rng, 0.0, 4.0 * busy, 0.3, 0.01);
        let smooth = |v: &[f64], alpha: f64| {
            let mut s = v[0];
            v.iter()
                .map(|x| {
                    s += alpha * (x - s);
                    round_dec(s, 2)
                })
                .collect::<Vec<f64>>()
        };
        let load5 = smooth(&load1, 0.2);
        let load15 = smooth(&load1, 0.07);
        self.push(h, "node_load1", &[], load1);
        self.push(h, "node_load5", &[], load5);
        self.push(h, "node_load15", &[], load15);

        const LE: [&str; 11] = [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
        ];
        for (handler, per_scrape, slowness) in
            [("/api/v1/query", 60.0, 1.0), ("/metrics", 4.0, 0.2)]
        {
            let bounds: Vec<f64> = LE.iter().map(|l| l.parse().unwrap()).collect();
            let mut buckets = vec![vec![0.0; SCRAPES]; LE.len()];
            let mut sum = vec![0.0; SCRAPES];
            let mut count = vec![0.0; SCRAPES];
            let mut cum = vec![0.0; LE.len()];
            let (mut cum_sum, mut cum_count) = (0.0, 0.0);
            for i in 0..SCRAPES {
                if h == REBOOTED && i == REBOOT_AT {
                    cum.fill(0.0);
                    (cum_sum, cum_count) = (0.0, 0.0);
                }
                // Busier and slower in some stretches of the day.
                let wave = 1.0 + 0.5 * ((i as f64 / 240.0) + h as f64).sin();
                let n = (per_scrape * wave * rng.between(0.5, 1.5)).round() as usize;
                for _ in 0..n {
                    // Log-uniform-ish latency between 1 ms and 10 s, mostly fast.
                    let u = rng.f();
                    let latency = 0.001 * 10f64.powf(4.0 * u * u * u * slowness * wave);
                    for (b, bound) in bounds.iter().enumerate() {
                        if latency <= *bound {
                            cum[b] += 1.0;
                        }
                    }
                    cum_sum += latency;
                    cum_count += 1.0;
                }
                for b in 0..LE.len() {
                    buckets[b][i] = cum[b];
                }
                sum[i] = round_dec(cum_sum, 6);
                count[i] = cum_count;
            }
            for (le, v) in LE.iter().zip(buckets) {
                self.push(
                    h,
                    "http_request_duration_seconds_bucket",
                    &[("handler", handler), ("le", le)],
                    v,
                );
            }
            self.push(
                h,
                "http_request_duration_seconds_sum",
                &[("handler", handler)],
                sum,
            );
            self.push(
                h,
                "http_request_duration_seconds_count",
                &[("handler", handler)],
                count,
            );
        }

        let up = (0..SCRAPES)
            .map(|i| {
                if h == DOWN && (DOWN_FROM..DOWN_TO).contains(&i) {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        self.push(h, "up", &[], up);
    }

    fn samples(&self) -> usize {
        self.values
            .iter()
            .map(|v| v.iter().filter(|x| !x.is_nan()).count())
            .sum()
    }

    /// The timestamp of scrape `i` of `host`, in ms.
    fn ts(host: usize, i: usize) -> i64 {
        let jitter = if JITTERED.contains(&host) {
            (Rng::new((host * 100_000 + i) as u64).next() % 8) as i64
        } else {
            0
        };
        T0 + i as i64 * STEP + jitter
    }

    /// Prometheus text lines with ms timestamps, scrape after scrape (as a scraper would send
    /// them), `SCRAPES_PER_BODY` scrapes per body.
    fn prometheus_text(&self) -> Vec<Vec<u8>> {
        (0..SCRAPES)
            .step_by(SCRAPES_PER_BODY)
            .map(|from| {
                let mut out = Vec::with_capacity(SCRAPES_PER_BODY * self.series.len() * 100);
                for i in from..(from + SCRAPES_PER_BODY).min(SCRAPES) {
                    for (s, v) in self.series.iter().zip(&self.values) {
                        if !v[i].is_nan() {
                            writeln!(out, "{} {} {}", s.key, v[i], Self::ts(s.host, i)).unwrap();
                        }
                    }
                }
                out
            })
            .collect()
    }

    /// OpenMetrics with second timestamps: one metric name after the other, each series'
    /// samples together and in time order, `# EOF` at the end.
    fn write_openmetrics(&self, path: &Path) {
        let mut order: Vec<usize> = (0..self.series.len()).collect();
        order.sort_by(|&a, &b| {
            (&self.series[a].name, &self.series[a].key)
                .cmp(&(&self.series[b].name, &self.series[b].key))
        });
        let mut w =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
        for s in order {
            let series = &self.series[s];
            for (i, v) in self.values[s].iter().enumerate() {
                if !v.is_nan() {
                    let t = Self::ts(series.host, i);
                    writeln!(w, "{} {v} {}", series.key, secs(t)).unwrap();
                }
            }
        }
        w.write_all(b"# EOF\n").unwrap();
        w.flush().unwrap();
    }
}

fn instance(host: usize) -> String {
    format!("host-{host:02}:9100")
}

/// A counter growing by `lo..hi` per scrape, rounded to `quantum`, starting somewhere below
/// `start_max`; it restarts near zero when its host reboots.
fn counter(rng: &mut Rng, host: usize, lo: f64, hi: f64, quantum: f64, start_max: f64) -> Vec<f64> {
    let mut v = round_to(rng.between(0.0, start_max), quantum);
    (0..SCRAPES)
        .map(|i| {
            let inc = round_to(rng.between(lo, hi), quantum);
            if host == REBOOTED && i == REBOOT_AT {
                v = inc;
            } else {
                v = round_to(v + inc, quantum);
            }
            v
        })
        .collect()
}

/// A gauge wandering between `lo` and `hi` by up to `step` per scrape, rounded to `quantum`.
fn gauge(rng: &mut Rng, lo: f64, hi: f64, step: f64, quantum: f64) -> Vec<f64> {
    let mut v = rng.between(lo, hi);
    (0..SCRAPES)
        .map(|_| {
            v = (v + rng.between(-step, step)).clamp(lo, hi);
            round_to(v, quantum)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The servers

/// ward, VictoriaMetrics or Prometheus as a child process on a loopback port, killed on drop
/// (also when the bench panics).
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn ward(bin: &Path, dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        let config = dir.join("ward.toml");
        // No checks: the store holds the imported data set only. Defaults otherwise (sync
        // durability, 64 MiB bodies, 2 M samples per request, 1 h out-of-order window).
        // Defaults, no checks, and no sampling of this host: its samples (now) would put the
        // data set's days behind the out-of-order window.
        std::fs::write(
            &config,
            "# http_api bench: defaults, no checks, no sampler\n[sampler]\nsystem = false\nservices = false\n",
        )
        .unwrap();
        let log = dir.join("ward.log");
        let mut child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--plugins-dir")
            .arg(dir.join("plugins"))
            .env("WARD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        // Drain the rest so that ward never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        let mut s = Self {
            name: "ward",
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        match first
            .split("http://")
            .nth(1)
            .and_then(|u| u.split('/').next())
            .and_then(|u| u.parse().ok())
        {
            Some(addr) => s.addr = addr,
            None => panic!(
                "ward did not print its URL: {first:?}; log: {}",
                std::fs::read_to_string(&s.log).unwrap_or_default()
            ),
        }
        s.wait_ready("/-/healthy");
        s
    }

    fn victoria_metrics(bin: &Path, dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let addr = free_addr();
        let log = dir.with_extension("log");
        let child = Command::new(bin)
            .arg(format!("-storageDataPath={}", dir.display()))
            .arg(format!("-httpListenAddr={addr}"))
            .arg("-retentionPeriod=100y")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let s = Self {
            name: "VictoriaMetrics",
            child,
            addr,
            log,
        };
        s.wait_ready("/health");
        s
    }

    fn prometheus(bin: &Path, blocks: &Path) -> Self {
        let config = blocks.with_extension("yml");
        std::fs::write(&config, "global: {}\n").unwrap();
        let addr = free_addr();
        let log = blocks.with_extension("log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", blocks.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--storage.tsdb.retention.time=100y")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let s = Self {
            name: "Prometheus",
            child,
            addr,
            log,
        };
        s.wait_ready("/-/ready");
        s
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&self, path: &str) {
        let t = Instant::now();
        loop {
            if let Ok((200, _)) = Http::new(self.addr).request("GET", path, b"") {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{} on {} never got ready; log: {}",
                self.name,
                self.addr,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// ward's own query-duration metrics, if it exposes any (a hint at where time goes).
    fn print_query_metrics(&self) {
        let Ok((200, body)) = Http::new(self.addr).request("GET", "/metrics", b"") else {
            return;
        };
        let text = String::from_utf8_lossy(&body);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| {
                !l.starts_with('#')
                    && (l.contains("query") || l.contains("ingest") || l.contains("import"))
                    && (l.contains("_sum") || l.contains("_count") || l.contains("_total"))
            })
            .collect();
        if !lines.is_empty() {
            println!("ward's own metrics after the run:");
            for l in lines {
                println!("  {l}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Import

struct ImportRun {
    wall: f64,
    cpu: f64,
}

/// POSTs `bodies` in order over one keep-alive connection (VictoriaMetrics: then
/// `/internal/force_flush`, so the samples are searchable). Wall time and the server's CPU.
fn import(server: &Server, bodies: &[Vec<u8>]) -> Result<ImportRun, String> {
    let mut http = Http::new(server.addr);
    let cpu0 = cpu_secs(server.pid());
    let t = Instant::now();
    for (n, body) in bodies.iter().enumerate() {
        let (status, resp) = http
            .request("POST", "/api/v1/import/prometheus", body)
            .map_err(|e| format!("body {n}: {e}"))?;
        if status >= 300 {
            return Err(format!(
                "body {n}: {status} {}",
                String::from_utf8_lossy(&resp[..resp.len().min(2000)])
            ));
        }
    }
    if server.name == "VictoriaMetrics" {
        let (status, _) = http
            .request("GET", "/internal/force_flush", b"")
            .map_err(|e| e.to_string())?;
        assert!(status < 300);
    }
    Ok(ImportRun {
        wall: t.elapsed().as_secs_f64(),
        cpu: cpu_secs(server.pid()) - cpu0,
    })
}

// ---------------------------------------------------------------------------------------
// Queries

/// The end of every query: 15 s after the last scrape, where a dashboard's "now" would be.
fn end_ms() -> i64 {
    T0 + SCRAPES as i64 * STEP
}

struct Case {
    name: String,
    expr: String,
    /// `(window, step)` in seconds for a range query; `None`: instant query at the end.
    range: Option<(i64, i64)>,
}

impl Case {
    fn form(&self) -> String {
        let end = end_ms() / 1000;
        match self.range {
            Some((window, step)) => format!(
                "query={}&start={}&end={end}&step={step}",
                urlencode(&self.expr),
                end - window
            ),
            None => format!("query={}&time={end}", urlencode(&self.expr)),
        }
    }

    fn path(&self) -> &'static str {
        if self.range.is_some() {
            "/api/v1/query_range"
        } else {
            "/api/v1/query"
        }
    }

    fn range_label(&self) -> String {
        match self.range {
            Some((window, step)) => format!("{}h/{step}s", window / 3600),
            None => "instant".into(),
        }
    }
}

fn cases() -> Vec<Case> {
    let range = [
        (
            "rate",
            r#"rate(node_cpu_seconds_total{mode!="idle"}[5m])"#.to_string(),
        ),
        (
            "rate, one host",
            format!(
                r#"rate(node_cpu_seconds_total{{instance="{}",mode!="idle"}}[5m])"#,
                instance(3)
            ),
        ),
        (
            "sum by",
            r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#.into(),
        ),
        (
            "binary op",
            "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes".into(),
        ),
        (
            "histogram_quantile",
            "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"
                .into(),
        ),
        (
            "topk",
            "topk(5, rate(node_network_receive_bytes_total[5m]))".into(),
        ),
        (
            "subquery",
            r#"max_over_time(rate(node_cpu_seconds_total{mode="user"}[5m])[30m:1m])"#.into(),
        ),
    ];
    let instant = [
        ("up", "up".to_string()),
        (
            "increase, sum by",
            "sum by (instance) (increase(http_request_duration_seconds_count[1h]))".into(),
        ),
        (
            "topk, sum by",
            r#"topk(3, sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m])))"#.into(),
        ),
        ("avg_over_time", "avg_over_time(node_load1[1h])".into()),
    ];
    let mut out = Vec::new();
    // Grafana's steps for a ~1,000 px panel: 15 s over 1 h, 30 s over 6 h.
    for (window, step) in [(3600, 15), (6 * 3600, 30)] {
        for (name, expr) in &range {
            out.push(Case {
                name: name.to_string(),
                expr: expr.clone(),
                range: Some((window, step)),
            });
        }
    }
    for (name, expr) in instant {
        out.push(Case {
            name: name.to_string(),
            expr,
            range: None,
        });
    }
    out
}

struct QueryResult {
    case: String,
    range: String,
    expr: String,
    series: (usize, usize),
    bytes: (usize, usize),
    ward: Vec<Duration>,
    prom: Vec<Duration>,
    agree: Agreement,
}

fn run_queries(ward: &Server, prom: &Server) -> Vec<QueryResult> {
    println!(
        "query: {RUNS} runs per query and system after {WARMUP} warm-up runs, interleaved; load average {}",
        loadavg()
    );
    let mut w = Http::new(ward.addr);
    let mut p = Http::new(prom.addr);
    let mut results = Vec::new();
    for case in cases() {
        let form = case.form();
        let send = |http: &mut Http| -> (Duration, u16, Vec<u8>) {
            let t = Instant::now();
            let (status, body) = http
                .request_form(case.path(), form.as_bytes())
                .unwrap_or_else(|e| panic!("{} {}: {e}", case.path(), case.expr));
            (t.elapsed(), status, body)
        };
        let (_, ws, wbody) = send(&mut w);
        let (_, ps, pbody) = send(&mut p);
        for _ in 1..WARMUP {
            send(&mut w);
            send(&mut p);
        }
        let (mut wt, mut pt) = (Vec::new(), Vec::new());
        let t = Instant::now();
        for r in 0..RUNS {
            // Alternate who goes first, so neither always runs on a cache the other warmed.
            if r % 2 == 0 {
                wt.push(send(&mut w).0);
                pt.push(send(&mut p).0);
            } else {
                pt.push(send(&mut p).0);
                wt.push(send(&mut w).0);
            }
            if r + 1 >= MIN_RUNS && t.elapsed() > QUERY_BUDGET {
                break;
            }
        }
        let label = format!("{} [{}]", case.name, case.range_label());
        let (agree, series) = compare(&label, &case.expr, (ws, &wbody), (ps, &pbody));
        wt.sort();
        pt.sort();
        let r = QueryResult {
            case: case.name.clone(),
            range: case.range_label(),
            expr: case.expr.clone(),
            series,
            bytes: (wbody.len(), pbody.len()),
            ward: wt,
            prom: pt,
            agree,
        };
        println!(
            "  {label}: ward median {} p90 {}, Prometheus median {} p90 {}: ratio {:.2}; series {}/{}, {}/{} bytes",
            dur(median(&r.ward)),
            dur(p90(&r.ward)),
            dur(median(&r.prom)),
            dur(p90(&r.prom)),
            ratio(&r),
            series.0,
            series.1,
            r.bytes.0,
            r.bytes.1
        );
        results.push(r);
    }
    results
}

fn median(t: &[Duration]) -> Duration {
    t.get(t.len() / 2).copied().unwrap_or_default()
}

fn p90(t: &[Duration]) -> Duration {
    t.get((t.len() * 9).div_ceil(10).saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

fn ratio(r: &QueryResult) -> f64 {
    median(&r.ward).as_secs_f64() / median(&r.prom).as_secs_f64()
}

/// One series of an answer: its points `(timestamp in ms, value as sent)`.
type Answer = BTreeMap<String, Vec<(i64, String)>>;

/// Parses a query answer into series keyed by their sorted labels.
fn parse_answer(status: u16, body: &[u8]) -> Result<(String, Answer), String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "{status}, not JSON ({e}): {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )
    })?;
    if status != 200 || v["status"] != "success" {
        return Err(format!("{status} {v}"));
    }
    let kind = v["data"]["resultType"].as_str().unwrap_or("").to_string();
    let point = |p: &serde_json::Value| -> (i64, String) {
        let t = p[0].as_f64().unwrap_or(f64::NAN);
        (
            (t * 1000.0).round() as i64,
            p[1].as_str().unwrap_or("").to_string(),
        )
    };
    let mut out = Answer::new();
    let result = &v["data"]["result"];
    if kind == "scalar" || kind == "string" {
        // One unnamed "series".
        out.insert(String::new(), vec![point(result)]);
        return Ok((kind, out));
    }
    for s in result.as_array().map(Vec::as_slice).unwrap_or_default() {
        let metric: BTreeMap<String, String> = s["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let points = match (&s["values"], &s["value"]) {
            (serde_json::Value::Array(ps), _) => ps.iter().map(point).collect(),
            (_, p @ serde_json::Value::Array(_)) => vec![point(p)],
            _ => Vec::new(),
        };
        out.insert(format!("{metric:?}"), points);
    }
    Ok((kind, out))
}

fn close(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_nan() && y.is_nan() => true,
        (Ok(x), Ok(y)) => {
            let d = (x - y).abs();
            d <= 1e-9 || d <= 1e-6 * x.abs().max(y.abs())
        }
        _ => false,
    }
}

/// How ward's answer compares with Prometheus's.
#[derive(Clone, Copy, PartialEq)]
enum Agreement {
    /// The same series, timestamps and value strings.
    Same,
    /// The same, with values equal within 1e-6 relative but not printed identically.
    Close,
    /// Different series, timestamps or values, or an error.
    Differ,
}

/// Compares ward's answer with Prometheus's; prints a `WARNING` line per kind of difference
/// (with the first example). Returns how they agree and the series counts.
fn compare(
    label: &str,
    expr: &str,
    (ws, wbody): (u16, &[u8]),
    (ps, pbody): (u16, &[u8]),
) -> (Agreement, (usize, usize)) {
    let (wk, w) = match parse_answer(ws, wbody) {
        Ok(a) => a,
        Err(e) => {
            println!("  WARNING {label}: ward failed `{expr}`: {e}");
            return (
                Agreement::Differ,
                (0, parse_answer(ps, pbody).map_or(0, |a| a.1.len())),
            );
        }
    };
    let (pk, p) = match parse_answer(ps, pbody) {
        Ok(a) => a,
        Err(e) => {
            println!("  WARNING {label}: Prometheus failed `{expr}`: {e}");
            return (Agreement::Differ, (w.len(), 0));
        }
    };
    let counts = (w.len(), p.len());
    let mut problems = Vec::new();
    if wk != pk {
        problems.push(format!("result type: ward {wk}, Prometheus {pk}"));
    }
    let only_prom: Vec<&String> = p.keys().filter(|k| !w.contains_key(*k)).collect();
    let only_ward: Vec<&String> = w.keys().filter(|k| !p.contains_key(*k)).collect();
    if !only_prom.is_empty() {
        problems.push(format!(
            "{} series only in Prometheus's answer, e.g. {}",
            only_prom.len(),
            only_prom[0]
        ));
    }
    if !only_ward.is_empty() {
        problems.push(format!(
            "{} series only in ward's answer, e.g. {}",
            only_ward.len(),
            only_ward[0]
        ));
    }
    let (mut diff_series, mut diff_points, mut first) = (0, 0, None);
    // Points within the tolerance whose text differs (e.g. the last digits of a sum added in
    // another order): not wrong, but not what Prometheus prints.
    let (mut inexact, mut first_inexact) = (0, None);
    for (key, pp) in &p {
        let Some(wp) = w.get(key) else { continue };
        let wmap: BTreeMap<i64, &String> = wp.iter().map(|(t, v)| (*t, v)).collect();
        let pmap: BTreeMap<i64, &String> = pp.iter().map(|(t, v)| (*t, v)).collect();
        let mut n = 0;
        let times: std::collections::BTreeSet<i64> =
            wmap.keys().chain(pmap.keys()).copied().collect();
        for t in &times {
            let (a, b) = (wmap.get(t), pmap.get(t));
            let same = matches!((a, b), (Some(a), Some(b)) if close(a, b));
            if same && a != b {
                inexact += 1;
                first_inexact.get_or_insert_with(|| {
                    format!(
                        "{key} at {}: ward {}, Prometheus {}",
                        secs(*t),
                        a.map_or("", |s| s.as_str()),
                        b.map_or("", |s| s.as_str())
                    )
                });
            }
            if !same {
                n += 1;
                first.get_or_insert_with(|| {
                    format!(
                        "{key} at {}: ward {}, Prometheus {}",
                        secs(*t),
                        a.map_or("(no point)", |s| s.as_str()),
                        b.map_or("(no point)", |s| s.as_str())
                    )
                });
            }
        }
        if n > 0 {
            diff_series += 1;
            diff_points += n;
        }
    }
    if diff_series > 0 {
        problems.push(format!(
            "{diff_series} common series differ ({diff_points} points), first: {}",
            first.unwrap_or_default()
        ));
    }
    for p in &problems {
        println!("  WARNING {label}: `{expr}`: {p}");
    }
    let agreement = if !problems.is_empty() {
        Agreement::Differ
    } else if inexact > 0 {
        println!(
            "  note {label}: {inexact} points equal within 1e-6 but printed differently from Prometheus, first: {}",
            first_inexact.unwrap_or_default()
        );
        Agreement::Close
    } else {
        Agreement::Same
    };
    (agreement, counts)
}

// ---------------------------------------------------------------------------------------
// The report

#[derive(Default)]
struct Report {
    samples: usize,
    ward_import: Option<ImportRun>,
    vm_import: Option<ImportRun>,
    queries: Vec<QueryResult>,
}

impl Report {
    fn print(&self) {
        println!();
        let samples = self.samples;
        if let Some(w) = &self.ward_import {
            let ward_rate = samples as f64 / w.wall;
            print!(
                "import /api/v1/import/prometheus: ward {} samples/s ({} per CPU-s)",
                si(ward_rate),
                si(samples as f64 / w.cpu)
            );
            match &self.vm_import {
                Some(vm) => {
                    let vm_rate = samples as f64 / vm.wall;
                    println!(
                        ", VictoriaMetrics {} samples/s ({} per CPU-s): ratio ward/VM {:.2} (goal >= 1.0: {})",
                        si(vm_rate),
                        si(samples as f64 / vm.cpu),
                        ward_rate / vm_rate,
                        if ward_rate >= vm_rate {
                            "met"
                        } else {
                            "not met"
                        }
                    );
                }
                None => println!(),
            }
        }
        if self.queries.is_empty() {
            return;
        }
        println!(
            "\n{:<20} {:<9} {:>11} {:>9} {:>9} {:>9} {:>9} {:>6}  answers",
            "query", "range", "series w/p", "ward med", "ward p90", "prom med", "prom p90", "ratio"
        );
        for r in &self.queries {
            println!(
                "{:<20} {:<9} {:>11} {:>9} {:>9} {:>9} {:>9} {:>6.2}  {}",
                r.case,
                r.range,
                format!("{}/{}", r.series.0, r.series.1),
                dur(median(&r.ward)),
                dur(p90(&r.ward)),
                dur(median(&r.prom)),
                dur(p90(&r.prom)),
                ratio(r),
                match r.agree {
                    Agreement::Same => "same",
                    Agreement::Close => "same within 1e-6",
                    Agreement::Differ => "DIFFER",
                }
            );
        }
        let met = self.queries.iter().filter(|r| ratio(r) <= 1.0).count();
        println!(
            "ward faster (ratio <= 1.0) on {met} of {} queries (goal: all); answers differ on {}",
            self.queries.len(),
            self.queries
                .iter()
                .filter(|r| r.agree == Agreement::Differ)
                .count()
        );
        println!("queries:");
        for r in self.queries.iter().filter(|r| r.range != "1h/15s") {
            println!("  {:<20} {}", r.case, r.expr);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Machine and helpers

fn print_machine() {
    println!(
        "machine: {}, load average {} (shared and noisy: expect +-15%)",
        machine(),
        loadavg()
    );
    let commit = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("ward: commit {commit}");
    print_peers(
        &[
            ("victoria-metrics", "-version"),
            ("prometheus", "--version"),
            ("promtool", "--version"),
        ],
        "its side is skipped",
    );
}
