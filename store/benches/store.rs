//! ward-store side by side with VictoriaMetrics and Prometheus (see BENCHMARKS.md, "Store").
//!
//! One deterministic node_exporter-like data set (1,000 series x 24 h at 15 s = 5.76 M
//! samples: counters with 2 and 3 decimals, integer byte/packet counters, wandering gauges,
//! temperatures, constant series, float scrape durations, histogram buckets with `_sum` and
//! `_count`; two of the eight instances have a few ms of timestamp jitter per scrape) is fed
//! to every system:
//!
//! 1. `ingest`: ward through its Rust API (Sync and Buffered, batches of 1 and of 60
//!    scrapes) and VictoriaMetrics through `POST /api/v1/import/prometheus`, samples/s.
//! 2. `size`: bytes per sample on disk: ward after flush + compact + close (the day
//!    partition still open, then closed and re-packed cold), VictoriaMetrics after
//!    force_flush + force_merge, Prometheus blocks written by `promtool tsdb
//!    create-blocks-from openmetrics` (2 h blocks, and 18 h blocks as Prometheus would
//!    compact them).
//! 3. `select`: 1 series x 24 h and 1,000 series x 1 h: ward's `Store::select` (no HTTP),
//!    VictoriaMetrics `/api/v1/export`, Prometheus `/api/v1/query` with a range selector.
//! 4. `rss`: peak RSS (VmHWM) ingesting 10 M samples over 100 k series (100 each): ward in a
//!    child process, VictoriaMetrics as its own process.
//!
//! Run: `cargo bench -p ward-store --bench store [-- ingest|size|select|rss|all]`. A missing
//! peer binary is reported and skipped. `ward-ingest` and `ward-select` run ward's half of
//! `ingest` and `select` alone (for profiling); `codec` shows where cold block bytes go.
//! Set `WARD_BENCH_KEEP=1` to keep the temporary directory.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use ward_store::{Durability, Labels, Matcher, Store, StoreOptions};

#[path = "common/harness.rs"]
mod harness;
use harness::{Http, bin, cpu_secs, dur, free_addr, machine, print_peers, secs, si, urlencode};

/// 2023-11-14T00:00:00Z: a day boundary, so the data set fills exactly one ward partition.
const T0: i64 = 1_699_920_000_000;
const STEP: i64 = 15_000;
const SCRAPES: usize = 5_760;
const INSTANCES: usize = 8;
/// Series per instance (see `templates`).
const PER_INSTANCE: usize = 125;
/// Instances that scrape with a few ms of jitter.
const JITTERED: &[usize] = &[2, 5];
/// The `rss` data set: 800 instances x 125 = 100 k series, 100 scrapes each.
const RSS_INSTANCES: usize = 800;
const RSS_SCRAPES: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--bench"))
        .collect();
    if args.first().map(String::as_str) == Some("--rss-child") {
        rss_child(Path::new(&args[1]));
        return;
    }
    let all = args.is_empty() || args.iter().any(|a| a == "all");
    let want = |name: &str| all || args.iter().any(|a| a == name);
    print_machine();
    let tmp = tempfile::Builder::new()
        .prefix("ward-store-bench-")
        .tempdir()
        .unwrap();
    let mut b = Bench {
        tmp: tmp.path().to_path_buf(),
        rows: Vec::new(),
        data: None,
        ward_dir: None,
        vm: None,
    };
    println!("work directory: {}", b.tmp.display());
    let started = Instant::now();
    if want("ingest") {
        b.ingest(true);
    } else if args.iter().any(|a| a == "ward-ingest") {
        // ward's half of `ingest` alone, for profiling.
        b.ingest(false);
    }
    if want("size") || want("select") {
        b.size_and_select(want("size"), want("select"), true);
    } else if args.iter().any(|a| a == "ward-select") {
        // ward's half of `select` alone, for profiling.
        b.size_and_select(false, true, false);
    }
    if want("rss") {
        b.rss();
    }
    if args.iter().any(|a| a == "codec") {
        // Where the cold bytes go: one block per series, by metric name.
        b.codec_breakdown();
    }
    // Stop VictoriaMetrics before printing (its guard also does it on a panic).
    b.vm = None;
    b.print_table();
    println!("whole run: {:.0} s", started.elapsed().as_secs_f64());
    if std::env::var_os("WARD_BENCH_KEEP").is_some() {
        println!("kept {}", tmp.keep().display());
    }
}

// ---------------------------------------------------------------------------------------
// Machine

fn print_machine() {
    println!("machine: {} (shared and noisy: expect +-15%)", machine());
    print_peers(
        &[
            ("victoria-metrics", "-version"),
            ("prometheus", "--version"),
            ("promtool", "--version"),
        ],
        "its figures are skipped",
    );
}

// ---------------------------------------------------------------------------------------
// Data

/// splitmix64: deterministic whatever the version of any crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi]`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
}

/// How a series' value moves from scrape to scrape. Values are `integer * unit / div` with
/// `div` a power of ten, so they print and parse as the short decimals exporters emit.
#[derive(Clone)]
enum Gen {
    /// Counter: grows by `[lo, hi]` units per scrape.
    Counter {
        v: i64,
        lo: i64,
        hi: i64,
        unit: i64,
        div: f64,
    },
    /// Gauge: random walk of at most `step` units per scrape within `[lo, hi]`.
    Walk {
        v: i64,
        step: i64,
        lo: i64,
        hi: i64,
        unit: i64,
        div: f64,
    },
    /// A fresh random value in `[lo, hi]` / `div` each scrape (durations, small gauges).
    Random {
        lo: i64,
        hi: i64,
        div: f64,
    },
    Const(f64),
    /// The scrape's own time in seconds (`node_time_seconds`).
    TimeSeconds,
    HistBucket {
        h: usize,
        b: usize,
    },
    HistSum {
        h: usize,
    },
    HistCount {
        h: usize,
    },
}

const LE: [&str; 11] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
];
const LE_MS: [i64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

#[derive(Clone, Default)]
struct Hist {
    buckets: [i64; 11],
    sum_ms: i64,
    count: i64,
}

struct SeriesDef {
    labels: Labels,
    /// `name{a="x",...}` as Prometheus text and OpenMetrics write it.
    key: String,
    instance: usize,
}

/// A series of an instance: metric name, labels besides `instance` and `job`, generator.
type Template = (String, Vec<(String, String)>, Gen);

/// The 125 series of one node_exporter instance.
fn templates(inst: usize, rng: &mut Rng) -> Vec<Template> {
    let mut t: Vec<Template> = Vec::new();
    let mut add = |name: &str, extra: &[(&str, &str)], g: Gen| {
        t.push((
            name.to_string(),
            extra
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            g,
        ));
    };
    let cents = |lo, hi, start| Gen::Counter {
        v: start,
        lo,
        hi,
        unit: 1,
        div: 100.0,
    };
    let ints = |lo, hi, start, unit| Gen::Counter {
        v: start,
        lo,
        hi,
        unit,
        div: 1.0,
    };
    // CPU: 4 cpus x 8 modes, seconds with 2 decimals, irregular increments.
    for cpu in ["0", "1", "2", "3"] {
        for (mode, lo, hi) in [
            ("idle", 1_150, 1_500),
            ("user", 10, 300),
            ("system", 5, 120),
            ("iowait", 0, 30),
            ("irq", 0, 2),
            ("softirq", 0, 12),
            ("nice", 0, 1),
            ("steal", 0, 6),
        ] {
            let start = rng.range(1_000_000, 90_000_000);
            add(
                "node_cpu_seconds_total",
                &[("cpu", cpu), ("mode", mode)],
                cents(lo, hi, start),
            );
        }
    }
    // Network: 3 devices x bytes/packets both ways, integer counters.
    for (dev, scale) in [("eth0", 100), ("eth1", 10), ("lo", 1)] {
        let s = i64::from(scale);
        for (m, lo, hi) in [
            ("node_network_receive_bytes_total", 200 * s, 40_000 * s),
            ("node_network_transmit_bytes_total", 100 * s, 20_000 * s),
            ("node_network_receive_packets_total", s, 300 * s),
            ("node_network_transmit_packets_total", s, 200 * s),
        ] {
            let start = rng.range(1_000_000, 1_000_000_000) * s;
            add(m, &[("device", dev)], ints(lo, hi, start, 1));
        }
    }
    // Memory: bytes, multiples of 1 KiB, wandering.
    for (m, mid) in [
        ("node_memory_MemAvailable_bytes", 12_000_000),
        ("node_memory_MemFree_bytes", 4_000_000),
        ("node_memory_Cached_bytes", 6_000_000),
        ("node_memory_Buffers_bytes", 400_000),
        ("node_memory_Active_bytes", 5_000_000),
        ("node_memory_Inactive_bytes", 3_000_000),
        ("node_memory_Dirty_bytes", 2_000),
        ("node_memory_SwapFree_bytes", 1_000_000),
    ] {
        add(
            m,
            &[],
            Gen::Walk {
                v: mid,
                step: mid / 500 + 2,
                lo: mid / 2,
                hi: mid * 2,
                unit: 1024,
                div: 1.0,
            },
        );
    }
    // Load averages: 2 decimals.
    for (m, step) in [("node_load1", 25), ("node_load5", 8), ("node_load15", 3)] {
        add(
            m,
            &[],
            Gen::Walk {
                v: 80,
                step,
                lo: 0,
                hi: 800,
                unit: 1,
                div: 100.0,
            },
        );
    }
    // Temperatures: millidegrees in steps of 125 (e.g. 41.125).
    for sensor in ["temp1", "temp2", "temp3", "temp4"] {
        add(
            "node_hwmon_temp_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", sensor)],
            Gen::Walk {
                v: 320,
                step: 2,
                lo: 240,
                hi: 720,
                unit: 125,
                div: 1000.0,
            },
        );
    }
    // Disks: 2 devices.
    for dev in ["sda", "sdb"] {
        let start = rng.range(1_000_000, 100_000_000);
        add(
            "node_disk_read_bytes_total",
            &[("device", dev)],
            ints(0, 2_000, start, 512),
        );
        add(
            "node_disk_written_bytes_total",
            &[("device", dev)],
            ints(0, 8_000, start, 512),
        );
        add(
            "node_disk_io_time_seconds_total",
            &[("device", dev)],
            Gen::Counter {
                v: start,
                lo: 0,
                hi: 900,
                unit: 1,
                div: 1000.0,
            },
        );
        add(
            "node_disk_reads_completed_total",
            &[("device", dev)],
            ints(0, 60, start / 100, 1),
        );
    }
    // Filesystems: 3 mount points, 4 KiB blocks.
    for (mp, dev) in [
        ("/", "/dev/vda1"),
        ("/boot", "/dev/vda2"),
        ("/var", "/dev/vdb1"),
    ] {
        let size = rng.range(1_000_000, 60_000_000);
        let l = [("device", dev), ("fstype", "ext4"), ("mountpoint", mp)];
        add(
            "node_filesystem_avail_bytes",
            &l,
            Gen::Walk {
                v: size / 2,
                step: 40,
                lo: 0,
                hi: size,
                unit: 4096,
                div: 1.0,
            },
        );
        add(
            "node_filesystem_free_bytes",
            &l,
            Gen::Walk {
                v: size / 2 + 5_000,
                step: 40,
                lo: 0,
                hi: size,
                unit: 4096,
                div: 1.0,
            },
        );
        add(
            "node_filesystem_size_bytes",
            &l,
            Gen::Const((size * 4096) as f64),
        );
    }
    // Miscellaneous.
    add(
        "node_context_switches_total",
        &[],
        ints(10_000, 60_000, 1_000_000_000, 1),
    );
    add(
        "node_intr_total",
        &[],
        ints(5_000, 40_000, 2_000_000_000, 1),
    );
    add("node_forks_total", &[], ints(0, 30, 1_000_000, 1));
    add(
        "node_procs_running",
        &[],
        Gen::Random {
            lo: 1,
            hi: 6,
            div: 1.0,
        },
    );
    add(
        "node_procs_blocked",
        &[],
        Gen::Random {
            lo: 0,
            hi: 1,
            div: 1.0,
        },
    );
    add(
        "node_boot_time_seconds",
        &[],
        Gen::Const(1_699_000_000.0 + inst as f64 * 37.0),
    );
    add("node_time_seconds", &[], Gen::TimeSeconds);
    add(
        "node_entropy_available_bits",
        &[],
        Gen::Walk {
            v: 3_500,
            step: 40,
            lo: 3_000,
            hi: 4_096,
            unit: 1,
            div: 1.0,
        },
    );
    add(
        "node_filefd_allocated",
        &[],
        Gen::Walk {
            v: 2_000,
            step: 15,
            lo: 1_000,
            hi: 5_000,
            unit: 1,
            div: 1.0,
        },
    );
    for dev in ["eth0", "eth1", "lo"] {
        add("node_network_up", &[("device", dev)], Gen::Const(1.0));
    }
    add(
        "node_netstat_Tcp_CurrEstab",
        &[],
        Gen::Walk {
            v: 40,
            step: 3,
            lo: 5,
            hi: 300,
            unit: 1,
            div: 1.0,
        },
    );
    add(
        "node_sockstat_TCP_inuse",
        &[],
        Gen::Walk {
            v: 50,
            step: 3,
            lo: 5,
            hi: 300,
            unit: 1,
            div: 1.0,
        },
    );
    add(
        "node_vmstat_pgfault",
        &[],
        ints(1_000, 100_000, 500_000_000, 1),
    );
    add("node_vmstat_pgmajfault", &[], ints(0, 4, 10_000, 1));
    // Scrape durations of collectors: seconds with nanosecond digits, hard to compress.
    for c in [
        "cpu",
        "diskstats",
        "filesystem",
        "hwmon",
        "loadavg",
        "meminfo",
        "netdev",
    ] {
        add(
            "node_scrape_collector_duration_seconds",
            &[("collector", c)],
            Gen::Random {
                lo: 20_000,
                hi: 3_000_000,
                div: 1e9,
            },
        );
    }
    // A histogram per handler: 11 cumulative buckets, _sum, _count.
    for (k, handler) in ["/metrics", "/api/v1/query"].iter().enumerate() {
        let h = inst * 2 + k;
        for (b, le) in LE.iter().enumerate() {
            add(
                "http_request_duration_seconds_bucket",
                &[("handler", handler), ("le", le)],
                Gen::HistBucket { h, b },
            );
        }
        add(
            "http_request_duration_seconds_sum",
            &[("handler", handler)],
            Gen::HistSum { h },
        );
        add(
            "http_request_duration_seconds_count",
            &[("handler", handler)],
            Gen::HistCount { h },
        );
    }
    assert_eq!(t.len(), PER_INSTANCE);
    t
}

/// Streams scrapes of `instances` node_exporter-like targets.
struct Generator {
    defs: Vec<SeriesDef>,
    gens: Vec<Gen>,
    hists: Vec<Hist>,
    rng: Rng,
    scrape: usize,
    instances: usize,
}

impl Generator {
    fn new(instances: usize) -> Self {
        let mut rng = Rng(0x5EED_0F3A_2D5E);
        let mut defs = Vec::new();
        let mut gens = Vec::new();
        for inst in 0..instances {
            let instance = format!("host-{inst:03}:9100");
            for (name, extra, g) in templates(inst, &mut rng) {
                let mut pairs = vec![
                    ("__name__".to_string(), name.clone()),
                    ("instance".to_string(), instance.clone()),
                    ("job".to_string(), "node".to_string()),
                ];
                pairs.extend(extra);
                let labels = Labels::from_pairs(pairs).unwrap();
                let mut key = name;
                key.push('{');
                let mut first = true;
                for l in labels.iter().filter(|l| l.name != "__name__") {
                    if !first {
                        key.push(',');
                    }
                    first = false;
                    write!(key, "{}=\"{}\"", l.name, l.value).unwrap();
                }
                key.push('}');
                defs.push(SeriesDef {
                    labels,
                    key,
                    instance: inst,
                });
                gens.push(g);
            }
        }
        Self {
            defs,
            gens,
            hists: vec![Hist::default(); instances * 2],
            rng,
            scrape: 0,
            instances,
        }
    }

    /// The next scrape: a timestamp per instance and a value per series.
    fn next_scrape(&mut self, ts: &mut Vec<i64>, values: &mut Vec<f64>) {
        let i = self.scrape as i64;
        self.scrape += 1;
        ts.clear();
        for inst in 0..self.instances {
            let jitter = if JITTERED.contains(&(inst % INSTANCES)) {
                self.rng.range(0, 7)
            } else {
                0
            };
            ts.push(T0 + i * STEP + jitter);
        }
        for h in &mut self.hists {
            let n = self.rng.range(0, 25);
            for _ in 0..n {
                // Mostly fast, a tail of slow requests.
                let r = self.rng.next() % 100;
                let ms = match r {
                    0..=59 => self.rng.range(1, 12),
                    60..=89 => self.rng.range(10, 120),
                    90..=98 => self.rng.range(100, 1_500),
                    _ => self.rng.range(1_000, 8_000),
                };
                for (b, &le) in LE_MS.iter().enumerate() {
                    if ms <= le {
                        h.buckets[b] += 1;
                    }
                }
                h.buckets[10] += 1;
                h.sum_ms += ms;
                h.count += 1;
            }
        }
        values.clear();
        let rng = &mut self.rng;
        for (s, g) in self.gens.iter_mut().enumerate() {
            let v = match g {
                Gen::Counter {
                    v,
                    lo,
                    hi,
                    unit,
                    div,
                } => {
                    *v += rng.range(*lo, *hi);
                    (*v * *unit) as f64 / *div
                }
                Gen::Walk {
                    v,
                    step,
                    lo,
                    hi,
                    unit,
                    div,
                } => {
                    *v = (*v + rng.range(-*step, *step)).clamp(*lo, *hi);
                    (*v * *unit) as f64 / *div
                }
                Gen::Random { lo, hi, div } => rng.range(*lo, *hi) as f64 / *div,
                Gen::Const(c) => *c,
                Gen::TimeSeconds => ts[self.defs[s].instance] as f64 / 1000.0,
                Gen::HistBucket { h, b } => self.hists[*h].buckets[*b] as f64,
                Gen::HistSum { h } => self.hists[*h].sum_ms as f64 / 1000.0,
                Gen::HistCount { h } => self.hists[*h].count as f64,
            };
            values.push(v);
        }
    }
}

/// The main data set, held in memory: timestamps per instance and scrape, values per series
/// and scrape.
struct Data {
    defs: Vec<SeriesDef>,
    /// `[instance * SCRAPES + scrape]`
    ts: Vec<i64>,
    /// `[series * SCRAPES + scrape]`
    values: Vec<f64>,
}

impl Data {
    fn generate() -> Self {
        let mut g = Generator::new(INSTANCES);
        let n = g.defs.len();
        let mut ts = vec![0; INSTANCES * SCRAPES];
        let mut values = vec![0.0; n * SCRAPES];
        let (mut t, mut v) = (Vec::new(), Vec::new());
        for i in 0..SCRAPES {
            g.next_scrape(&mut t, &mut v);
            for inst in 0..INSTANCES {
                ts[inst * SCRAPES + i] = t[inst];
            }
            for s in 0..n {
                values[s * SCRAPES + i] = v[s];
            }
        }
        Self {
            defs: g.defs,
            ts,
            values,
        }
    }

    fn samples(&self) -> usize {
        self.defs.len() * SCRAPES
    }

    fn ts(&self, series: usize, scrape: usize) -> i64 {
        self.ts[self.defs[series].instance * SCRAPES + scrape]
    }

    fn value(&self, series: usize, scrape: usize) -> f64 {
        self.values[series * SCRAPES + scrape]
    }

    /// Newest timestamp of the data set.
    fn max_ts(&self) -> i64 {
        (0..self.defs.len())
            .map(|s| self.ts(s, SCRAPES - 1))
            .max()
            .unwrap()
    }

    /// Prometheus text lines with ms timestamps, scrape by scrape, in `bodies` bodies.
    fn prometheus_text(&self, bodies: usize) -> Vec<Vec<u8>> {
        let per = SCRAPES.div_ceil(bodies);
        (0..bodies)
            .map(|b| {
                let mut out = Vec::with_capacity(per * self.defs.len() * 96);
                for i in b * per..((b + 1) * per).min(SCRAPES) {
                    for s in 0..self.defs.len() {
                        writeln!(
                            out,
                            "{} {} {}",
                            self.defs[s].key,
                            self.value(s, i),
                            self.ts(s, i)
                        )
                        .unwrap();
                    }
                }
                out
            })
            .collect()
    }

    /// OpenMetrics with second timestamps: one metric family after the other, each series'
    /// samples together and in time order, `# EOF` at the end.
    fn write_openmetrics(&self, path: &Path) {
        let mut order: Vec<usize> = (0..self.defs.len()).collect();
        order.sort_by(|&a, &b| self.defs[a].key.cmp(&self.defs[b].key));
        let mut w =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
        for s in order {
            for i in 0..SCRAPES {
                let t = self.ts(s, i);
                writeln!(
                    w,
                    "{} {} {}.{:03}",
                    self.defs[s].key,
                    self.value(s, i),
                    t / 1000,
                    t % 1000
                )
                .unwrap();
            }
        }
        w.write_all(b"# EOF\n").unwrap();
        w.flush().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Results

struct Row {
    area: &'static str,
    system: String,
    what: String,
    value: String,
}

struct Bench {
    tmp: PathBuf,
    rows: Vec<Row>,
    data: Option<Data>,
    /// A ward store holding the data set (closed).
    ward_dir: Option<PathBuf>,
    /// A VictoriaMetrics holding the data set.
    vm: Option<Peer>,
}

impl Bench {
    fn row(
        &mut self,
        area: &'static str,
        system: &str,
        what: impl Into<String>,
        value: impl Into<String>,
    ) {
        let (what, value) = (what.into(), value.into());
        println!("  [{area}] {system}: {what}: {value}");
        self.rows.push(Row {
            area,
            system: system.to_string(),
            what,
            value,
        });
    }

    fn data(&mut self) -> &Data {
        if self.data.is_none() {
            let t = Instant::now();
            let d = Data::generate();
            println!(
                "data set: {} series x {SCRAPES} scrapes at 15 s = {} samples, generated in {:.1} s",
                d.defs.len(),
                d.samples(),
                t.elapsed().as_secs_f64()
            );
            self.data = Some(d);
        }
        self.data.as_ref().unwrap()
    }

    fn print_table(&self) {
        println!();
        println!("| area | system | measure | result |");
        println!("|---|---|---|---|");
        for r in &self.rows {
            println!("| {} | {} | {} | {} |", r.area, r.system, r.what, r.value);
        }
    }

    // -- ingest ------------------------------------------------------------------------

    fn ingest(&mut self, peers: bool) {
        println!("\n== ingest: {} samples ==", 1_000 * SCRAPES);
        self.data();
        let mut rates = Vec::new();
        for (durability, name, per_batch) in [
            (Durability::Sync, "Sync", 1),
            (Durability::Sync, SHARED, 1),
            (
                Durability::Buffered {
                    interval: Duration::from_secs(1),
                },
                "Buffered(1 s)",
                1,
            ),
            (Durability::Sync, "Sync", 60),
            (
                Durability::Buffered {
                    interval: Duration::from_secs(1),
                },
                "Buffered(1 s)",
                60,
            ),
        ] {
            let dir = self
                .tmp
                .join(format!("ward-ingest-{name}-{per_batch}").replace(['(', ')', ' '], ""));
            let r = ward_ingest_mode(
                self.data.as_ref().unwrap(),
                &dir,
                durability,
                per_batch,
                name == SHARED,
            );
            let rate = r.samples as f64 / (r.append + r.flush).as_secs_f64();
            self.row(
                "ingest",
                "ward",
                format!("{name}, batches of {per_batch} scrape(s) = {} samples", per_batch * 1_000),
                format!(
                    "{} samples/s ({:.2} s append + {:.2} s flush; {:.2} CPU-s, {} samples per CPU-s)",
                    si(rate),
                    r.append.as_secs_f64(),
                    r.flush.as_secs_f64(),
                    r.cpu,
                    si(r.samples as f64 / r.cpu)
                ),
            );
            rates.push((format!("{name}, {per_batch}"), rate));
            if self.ward_dir.is_none() && name == "Sync" && per_batch == 1 {
                self.ward_dir = Some(dir);
            } else {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        let Some(vm_bin) = bin("victoria-metrics").filter(|_| peers) else {
            println!("  victoria-metrics not found or not wanted: VM ingest skipped");
            return;
        };
        let vm = Peer::victoria_metrics(&vm_bin, &self.tmp.join("vm"));
        let bodies = self.data.as_ref().unwrap().prometheus_text(8);
        let bytes: usize = bodies.iter().map(Vec::len).sum();
        let (secs, cpu) = vm_import(&vm, &bodies);
        let n = self.data.as_ref().unwrap().samples();
        let vm_rate = n as f64 / secs;
        self.row(
            "ingest",
            "VictoriaMetrics",
            format!(
                "import/prometheus, {} bodies of ~{} MB over keep-alive, + force_flush",
                bodies.len(),
                (bytes / bodies.len()) >> 20
            ),
            format!(
                "{} samples/s ({secs:.2} s; VM used {cpu:.2} CPU-s, {} samples per CPU-s)",
                si(vm_rate),
                si(n as f64 / cpu)
            ),
        );
        for (name, rate) in rates {
            self.row(
                "ingest",
                "ratio ward/VM",
                name,
                format!("{:.2}", rate / vm_rate),
            );
        }
        self.vm = Some(vm);
    }

    // -- size and select -----------------------------------------------------------------

    fn size_and_select(&mut self, size: bool, select: bool, peers: bool) {
        println!("\n== size / select ==");
        self.data();
        let n = self.data.as_ref().unwrap().samples() as f64;
        let max_ts = self.data.as_ref().unwrap().max_ts();
        // ward: ingest unless the ingest phase left a store.
        let dir = match self.ward_dir.clone() {
            Some(d) => d,
            None => {
                let d = self.tmp.join("ward");
                ward_ingest(
                    self.data.as_ref().unwrap(),
                    &d,
                    Durability::Buffered {
                        interval: Duration::from_secs(1),
                    },
                    60,
                );
                self.ward_dir = Some(d.clone());
                d
            }
        };
        let opts = StoreOptions {
            maintenance_interval: None,
            ..StoreOptions::default()
        };
        {
            let store = Store::open(&dir, opts.clone()).unwrap();
            let t = Instant::now();
            store.flush().unwrap();
            store.compact().unwrap();
            store.close().unwrap();
            println!(
                "  ward flush+compact+close (partition still open): {:.2} s",
                t.elapsed().as_secs_f64()
            );
        }
        if size {
            let (alloc, apparent) = du(&dir);
            let (jnl, rest) = journal_split(&dir);
            self.row(
                "size",
                "ward",
                "hot: flush+compact+close, the day's partition still open (Gorilla chunks of 120)",
                format!(
                    "{:.3} B/sample ({alloc} bytes on disk, {apparent} apparent; fjall journals {:.3} B/sample, the rest {:.3})",
                    alloc as f64 / n,
                    jnl as f64 / n,
                    rest as f64 / n
                ),
            );
        }
        let queries = Queries::new(self.data.as_ref().unwrap(), max_ts);
        if select {
            let t = Instant::now();
            let store = Store::open(&dir, opts.clone()).unwrap();
            let open = t.elapsed();
            self.row(
                "select",
                "ward",
                "Store::open before the hot chunks selects (replays what fjall's journal holds)",
                dur(open),
            );
            self.ward_selects(&store, &queries, "hot chunks");
            store.close().unwrap();
        }
        {
            // Close the partition: one sample of another series an hour into the next day, as
            // the next day's first scrape would do; compaction then re-packs the whole day.
            let store = Store::open(&dir, opts.clone()).unwrap();
            let marker = Labels::from_pairs([("__name__", "ward_bench_marker")]).unwrap();
            store.append(&[(marker, T0 + 25 * 3_600_000, 1.0)]).unwrap();
            let t = Instant::now();
            store.compact().unwrap();
            let took = t.elapsed();
            store.close().unwrap();
            println!(
                "  ward compaction of the closed day: {:.2} s",
                took.as_secs_f64()
            );
            if size {
                let (alloc, apparent) = du(&dir);
                let (jnl, rest) = journal_split(&dir);
                let v = alloc as f64 / n;
                self.row(
                    "size",
                    "ward",
                    "cold: the day closed (1 marker sample in the next day) and re-packed by compact()",
                    format!(
                        "{v:.3} B/sample ({alloc} bytes on disk, {apparent} apparent; fjall journals {:.3} B/sample, the rest {:.3}; compaction {:.1} s)",
                        jnl as f64 / n,
                        rest as f64 / n,
                        took.as_secs_f64()
                    ),
                );
            }
        }
        if select {
            let t = Instant::now();
            let store = Store::open(&dir, opts.clone()).unwrap();
            let open = t.elapsed();
            self.row(
                "select",
                "ward",
                "Store::open before the cold blocks selects (replays what fjall's journal holds)",
                dur(open),
            );
            self.ward_selects(&store, &queries, "cold blocks");
            store.close().unwrap();
        }
        // fjall's active journal holds whatever was written since it last rotated (it rotates
        // past 64 MB), already flushed to tables by compact() and close(): up to 64 MB
        // whatever the data, so the ratio is given without it and with it.
        let (ward_journal, ward_tables) = journal_split(&dir);
        let (ward_cold, ward_journal) = (ward_tables as f64 / n, ward_journal as f64 / n);
        if !peers {
            return;
        }

        // VictoriaMetrics.
        if let Some(vm_bin) = bin("victoria-metrics") {
            if self.vm.is_none() {
                let vm = Peer::victoria_metrics(&vm_bin, &self.tmp.join("vm"));
                let bodies = self.data.as_ref().unwrap().prometheus_text(8);
                vm_import(&vm, &bodies);
                self.vm = Some(vm);
            }
            let vm = self.vm.take().unwrap();
            let t = Instant::now();
            vm.get("/internal/force_flush");
            vm.get("/internal/force_merge");
            wait_vm_merges(&vm);
            println!(
                "  VM force_flush + force_merge until merges finished: {:.1} s",
                t.elapsed().as_secs_f64()
            );
            if size {
                let (alloc, apparent) = du(&vm.dir);
                let v = alloc as f64 / n;
                self.row(
                    "size",
                    "VictoriaMetrics",
                    "force_flush + force_merge (data + indexdb)",
                    format!("{v:.3} B/sample ({alloc} bytes on disk, {apparent} apparent)"),
                );
                self.row(
                    "size",
                    "ratio ward cold/VM",
                    "B/sample, without fjall's active journal (0-64 MB of data already in tables)",
                    format!("{:.2}", ward_cold / v),
                );
                self.row(
                    "size",
                    "ratio ward cold/VM",
                    "B/sample, with fjall's journal",
                    format!("{:.2}", (ward_cold + ward_journal) / v),
                );
            }
            if select {
                self.vm_selects(&vm, &queries);
            }
            self.vm = Some(vm);
        } else {
            println!("  victoria-metrics not found: VM size/select skipped");
        }

        // Prometheus.
        let (Some(promtool), Some(prometheus)) = (bin("promtool"), bin("prometheus")) else {
            println!("  promtool or prometheus not found: Prometheus size/select skipped");
            return;
        };
        let om = self.tmp.join("data.om");
        let t = Instant::now();
        self.data.as_ref().unwrap().write_openmetrics(&om);
        println!(
            "  wrote {} ({} MB) in {:.1} s",
            om.display(),
            std::fs::metadata(&om).unwrap().len() >> 20,
            t.elapsed().as_secs_f64()
        );
        let mut prom_dirs = Vec::new();
        for (what, flag) in [
            ("2 h blocks as promtool writes them", None),
            (
                "18 h blocks (--max-block-duration=24h), about what Prometheus's own compaction leaves",
                Some("--max-block-duration=24h"),
            ),
        ] {
            let out = self.tmp.join(if flag.is_some() {
                "prom-18h"
            } else {
                "prom-2h"
            });
            let t = Instant::now();
            let mut cmd = Command::new(&promtool);
            cmd.args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"]);
            if let Some(f) = flag {
                cmd.arg(f);
            }
            let st = cmd
                .arg(&om)
                .arg(&out)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            let took = t.elapsed();
            if !st.success() {
                println!("  promtool failed ({st}) for {what}");
                continue;
            }
            let blocks = std::fs::read_dir(&out).map(|r| r.count()).unwrap_or(0);
            println!(
                "  promtool {what}: {blocks} blocks in {:.1} s",
                took.as_secs_f64()
            );
            if size {
                let (alloc, apparent) = du(&out);
                let v = alloc as f64 / n;
                self.row(
                    "size",
                    "Prometheus",
                    format!("{what}: {blocks} blocks"),
                    format!("{v:.3} B/sample ({alloc} bytes on disk, {apparent} apparent)"),
                );
                self.row(
                    "size",
                    "ratio ward cold/Prometheus",
                    what,
                    format!("{:.2}", ward_cold / v),
                );
            }
            prom_dirs.push((what, out));
        }
        let _ = std::fs::remove_file(&om);
        if select {
            // Query the compacted form when there is one: that is what a Prometheus holding a
            // day of data mostly reads.
            if let Some((what, dir)) = prom_dirs.last() {
                println!("  Prometheus queries on {what}");
                let prom = Peer::prometheus(&prometheus, dir, &self.tmp.join("prom.yml"));
                self.prom_selects(&prom, &queries);
            }
        }
    }

    fn ward_selects(&mut self, store: &Store, q: &Queries, state: &str) {
        let one = q.one_series_matchers();
        let job = [Matcher::equal("job", "node")];
        for (what, matchers, start, end, runs) in [
            ("1 series x 24 h", &one[..], q.day_start, q.end, 21),
            ("1,000 series x 1 h", &job[..], q.hour_start, q.end, 11),
        ] {
            let mut times = Vec::new();
            let mut count = (0, 0);
            for _ in 0..runs {
                let t = Instant::now();
                let r = store.select(matchers, start, end).unwrap();
                times.push(t.elapsed());
                count = (r.len(), r.iter().map(|s| s.samples.len()).sum::<usize>());
            }
            let first = times[0];
            times.sort();
            self.row(
                "select",
                "ward (Rust API, no HTTP/JSON)",
                format!("{what}, {state}, after reopen"),
                format!(
                    "median {} (first {}), {} series / {} samples",
                    dur(times[runs / 2]),
                    dur(first),
                    count.0,
                    count.1
                ),
            );
        }
    }

    fn vm_selects(&mut self, vm: &Peer, q: &Queries) {
        for (what, selector, start, end, runs) in [
            (
                "1 series x 24 h",
                q.one_series.clone(),
                q.day_start,
                q.end,
                21,
            ),
            (
                "1,000 series x 1 h",
                "{job=\"node\"}".to_string(),
                q.hour_start,
                q.end,
                11,
            ),
        ] {
            let path = format!(
                "/api/v1/export?match[]={}&start={}&end={}",
                urlencode(&selector),
                secs(start),
                secs(end)
            );
            let (times, body) = timed_gets(vm, &path, runs);
            let mut series = 0;
            let mut samples = 0;
            for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let v: serde_json::Value = serde_json::from_slice(line).unwrap();
                series += 1;
                samples += v["values"].as_array().map_or(0, Vec::len);
            }
            self.row(
                "select",
                "VictoriaMetrics (HTTP + JSON)",
                format!("{what}: GET /api/v1/export (raw samples)"),
                format!(
                    "median {} (first {}), {} lines / {} samples, {} KB of JSON",
                    dur(times.1),
                    dur(times.0),
                    series,
                    samples,
                    body.len() >> 10
                ),
            );
        }
    }

    fn prom_selects(&mut self, prom: &Peer, q: &Queries) {
        for (what, selector, range, runs) in [
            ("1 series x 24 h", q.one_series.clone(), "24h", 21),
            ("1,000 series x 1 h", "{job=\"node\"}".to_string(), "1h", 11),
        ] {
            let path = format!(
                "/api/v1/query?query={}&time={}",
                urlencode(&format!("{selector}[{range}]")),
                secs(q.end)
            );
            let (times, body) = timed_gets(prom, &path, runs);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
            let samples: usize = result
                .iter()
                .map(|s| s["values"].as_array().map_or(0, Vec::len))
                .sum();
            self.row(
                "select",
                "Prometheus (HTTP + JSON)",
                format!("{what}: GET /api/v1/query {selector}[{range}]"),
                format!(
                    "median {} (first {}), {} series / {} samples, {} KB of JSON",
                    dur(times.1),
                    dur(times.0),
                    result.len(),
                    samples,
                    body.len() >> 10
                ),
            );
        }
    }

    fn codec_breakdown(&mut self) {
        let d = self.data();
        let mut by_name: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
        for (s, def) in d.defs.iter().enumerate() {
            let samples: Vec<(i64, f64)> =
                (0..SCRAPES).map(|i| (d.ts(s, i), d.value(s, i))).collect();
            let bytes = ward_store::codec::block::encode(&samples, 5)
                .unwrap()
                .unwrap()
                .len();
            let name = def.labels.metric_name().unwrap().to_string();
            let e = by_name.entry(name).or_default();
            e.0 += bytes;
            e.1 += samples.len();
        }
        let total: usize = by_name.values().map(|v| v.0).sum();
        let mut v: Vec<_> = by_name.into_iter().collect();
        v.sort_by_key(|(_, (b, _))| std::cmp::Reverse(*b));
        println!(
            "cold block bytes by metric ({} bytes, {:.3} B/sample):",
            total,
            total as f64 / d.samples() as f64
        );
        let mut hot = 0;
        for s in 0..d.defs.len() {
            let samples: Vec<(i64, f64)> =
                (0..SCRAPES).map(|i| (d.ts(s, i), d.value(s, i))).collect();
            hot += samples
                .chunks(120)
                .map(|c| ward_store::codec::gorilla::encode(c).unwrap().len())
                .sum::<usize>();
        }
        println!(
            "  hot Gorilla chunks of 120: {:.3} B/sample",
            hot as f64 / d.samples() as f64
        );
        for level in [1, 3, 9, 15, 19] {
            let t = Instant::now();
            let mut bytes = 0;
            for s in 0..d.defs.len() {
                let samples: Vec<(i64, f64)> =
                    (0..SCRAPES).map(|i| (d.ts(s, i), d.value(s, i))).collect();
                bytes += ward_store::codec::block::encode(&samples, level)
                    .unwrap()
                    .unwrap()
                    .len();
            }
            println!(
                "  zstd level {level}: {:.3} B/sample, {:.2} s",
                bytes as f64 / d.samples() as f64,
                t.elapsed().as_secs_f64()
            );
        }
        for (name, (bytes, n)) in v {
            println!(
                "  {name:45} {:>5.1}% {:.3} B/sample",
                bytes as f64 * 100.0 / total as f64,
                bytes as f64 / n as f64
            );
        }
    }

    // -- rss -----------------------------------------------------------------------------

    fn rss(&mut self) {
        let total = RSS_INSTANCES * PER_INSTANCE * RSS_SCRAPES;
        println!(
            "\n== rss: {total} samples over {} series ==",
            RSS_INSTANCES * PER_INSTANCE
        );
        let dir = self.tmp.join("ward-rss");
        let out = Command::new(std::env::current_exe().unwrap())
            .arg("--rss-child")
            .arg(&dir)
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "rss child failed: {}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |k: &str| -> f64 {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        let (hwm, base, append, flush) = (
            field("hwm_kb"),
            field("baseline_kb"),
            field("append_s"),
            field("flush_s"),
        );
        println!(
            "  ward child: VmHWM {:.0} MiB after the first append (which creates the 100 k series), VmRSS {:.0} MiB at the end after flush",
            field("first_hwm_kb") / 1024.0,
            field("rss_kb") / 1024.0
        );
        let ward_hwm = hwm;
        self.row(
            "rss",
            "ward (child process, Sync, batches of one scrape = 100 k samples)",
            format!("VmHWM after {total} samples / 100 k series, flushed"),
            format!(
                "{:.0} MiB ({:.0} MiB before opening the store: the 100 k label sets and the generator); {} samples/s ({append:.1} s append + {flush:.1} s flush)",
                hwm / 1024.0,
                base / 1024.0,
                si(total as f64 / (append + flush))
            ),
        );
        let _ = std::fs::remove_dir_all(&dir);
        let Some(vm_bin) = bin("victoria-metrics") else {
            println!("  victoria-metrics not found: VM rss skipped");
            return;
        };
        let vm = Peer::victoria_metrics(&vm_bin, &self.tmp.join("vm-rss"));
        let mut g = Generator::new(RSS_INSTANCES);
        let (mut ts, mut values) = (Vec::new(), Vec::new());
        let mut sending = Duration::ZERO;
        let mut http = Http::new(vm.addr);
        let per_body = 10;
        for _ in 0..RSS_SCRAPES / per_body {
            let mut body = Vec::with_capacity(per_body * g.defs.len() * 96);
            for _ in 0..per_body {
                g.next_scrape(&mut ts, &mut values);
                for (s, d) in g.defs.iter().enumerate() {
                    writeln!(body, "{} {} {}", d.key, values[s], ts[d.instance]).unwrap();
                }
            }
            let t = Instant::now();
            let (status, resp) = http
                .request("POST", "/api/v1/import/prometheus", &body)
                .unwrap();
            sending += t.elapsed();
            assert!(
                status < 300,
                "VM import: {status} {}",
                String::from_utf8_lossy(&resp)
            );
        }
        let t = Instant::now();
        vm.get("/internal/force_flush");
        sending += t.elapsed();
        let vm_hwm = vm_status_kb(vm.pid(), "VmHWM");
        self.row(
            "rss",
            "VictoriaMetrics",
            format!(
                "VmHWM after importing the same {total} samples (bodies of 10 scrapes), force_flush"
            ),
            format!(
                "{:.0} MiB (VmRSS now {:.0} MiB); {} samples/s",
                vm_hwm / 1024.0,
                vm_status_kb(vm.pid(), "VmRSS") / 1024.0,
                si(total as f64 / sending.as_secs_f64())
            ),
        );
        self.row(
            "rss",
            "ratio ward/VM",
            "VmHWM",
            format!("{:.2}", ward_hwm / vm_hwm),
        );
    }
}

// ---------------------------------------------------------------------------------------
// ward

struct IngestRun {
    samples: usize,
    append: Duration,
    flush: Duration,
    cpu: f64,
}

/// Appends the data set to a fresh store in `dir`, `per_batch` scrapes of every series per
/// append. Only `append` and the final `flush` are timed (not filling the batch).
/// The ingest mode that keeps its series' `Arc<Labels>` from append to append and calls
/// `Store::append_shared`, as ward's scheduler and sampler do (the store finds each series by
/// the allocation's address instead of hashing its labels), Sync.
const SHARED: &str = "Sync, append_shared";

fn ward_ingest(data: &Data, dir: &Path, durability: Durability, per_batch: usize) -> IngestRun {
    ward_ingest_mode(data, dir, durability, per_batch, false)
}

fn ward_ingest_mode(
    data: &Data,
    dir: &Path,
    durability: Durability,
    per_batch: usize,
    shared: bool,
) -> IngestRun {
    let opts = StoreOptions {
        durability,
        ..StoreOptions::default()
    };
    let store = Store::open(dir, opts).unwrap();
    let n = data.defs.len();
    let mut batch: Vec<(Labels, i64, f64)> = (0..per_batch)
        .flat_map(|_| data.defs.iter().map(|d| (d.labels.clone(), 0, 0.0)))
        .collect();
    let mut shared_batch: Vec<(std::sync::Arc<Labels>, i64, f64)> = (0..per_batch)
        .flat_map(|_| {
            data.defs
                .iter()
                .map(|d| (std::sync::Arc::new(d.labels.clone()), 0, 0.0))
        })
        .collect();
    let mut append = Duration::ZERO;
    let cpu0 = cpu_secs(std::process::id());
    let mut fill = Duration::ZERO;
    let mut accepted = 0;
    for first in (0..SCRAPES).step_by(per_batch) {
        let t = Instant::now();
        let scrapes = per_batch.min(SCRAPES - first);
        for k in 0..scrapes {
            for s in 0..n {
                let (t, v) = (data.ts(s, first + k), data.value(s, first + k));
                if shared {
                    let e = &mut shared_batch[k * n + s];
                    (e.1, e.2) = (t, v);
                } else {
                    let e = &mut batch[k * n + s];
                    (e.1, e.2) = (t, v);
                }
            }
        }
        let t1 = Instant::now();
        fill += t1 - t;
        let r = if shared {
            store.append_shared(&shared_batch[..scrapes * n]).unwrap()
        } else {
            store.append(&batch[..scrapes * n]).unwrap()
        };
        append += t1.elapsed();
        assert_eq!(r.rejected_total, 0);
        accepted += r.accepted;
    }
    let t = Instant::now();
    store.flush().unwrap();
    let flush = t.elapsed();
    // CPU of the whole process while appending: the batch filling is included, but small.
    let cpu = cpu_secs(std::process::id()) - cpu0 - fill.as_secs_f64();
    store.close().unwrap();
    IngestRun {
        samples: accepted,
        append,
        flush,
        cpu,
    }
}

/// The `rss` child: 100 k series x 100 scrapes into a fresh store; prints its VmHWM.
fn rss_child(dir: &Path) {
    let mut g = Generator::new(RSS_INSTANCES);
    let n = g.defs.len();
    let mut batch: Vec<(Labels, i64, f64)> =
        g.defs.iter().map(|d| (d.labels.clone(), 0, 0.0)).collect();
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    let baseline = vm_status_kb(std::process::id(), "VmRSS");
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let mut append = Duration::ZERO;
    let mut first_hwm = 0.0;
    for k in 0..RSS_SCRAPES {
        if k == 1 {
            // After the append that created every series.
            first_hwm = vm_status_kb(std::process::id(), "VmHWM");
        }
        g.next_scrape(&mut ts, &mut values);
        for s in 0..n {
            batch[s].1 = ts[g.defs[s].instance];
            batch[s].2 = values[s];
        }
        let t = Instant::now();
        let r = store.append(&batch).unwrap();
        append += t.elapsed();
        assert_eq!(r.accepted, n);
    }
    let t = Instant::now();
    store.flush().unwrap();
    let flush = t.elapsed();
    let hwm = vm_status_kb(std::process::id(), "VmHWM");
    let rss = vm_status_kb(std::process::id(), "VmRSS");
    let stats = store.stats();
    store.close().unwrap();
    println!(
        "hwm_kb={hwm} baseline_kb={baseline} first_hwm_kb={first_hwm} rss_kb={rss} head_bytes={} append_s={} flush_s={}",
        stats.head_bytes,
        append.as_secs_f64(),
        flush.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// Peers

/// A peer process on a loopback port, killed and waited for on drop.
struct Peer {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    fn victoria_metrics(bin: &Path, dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let addr = free_addr();
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("-storageDataPath={}", dir.display()))
            .arg(format!("-httpListenAddr={addr}"))
            .arg("-retentionPeriod=100y")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Self {
            child,
            addr,
            dir: dir.to_path_buf(),
        };
        p.wait_ready("/health");
        p
    }

    fn prometheus(bin: &Path, dir: &Path, config: &Path) -> Self {
        std::fs::write(config, "global: {}\n").unwrap();
        let addr = free_addr();
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--storage.tsdb.retention.time=100y")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Self {
            child,
            addr,
            dir: dir.to_path_buf(),
        };
        p.wait_ready("/-/ready");
        p
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
                "peer on {} never got ready",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn get(&self, path: &str) -> Vec<u8> {
        let (status, body) = Http::new(self.addr).request("GET", path, b"").unwrap();
        assert!(
            status < 300,
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        body
    }
}

/// Imports `bodies` in order over one keep-alive connection, then force_flush. Returns the
/// wall time and VM's CPU seconds.
fn vm_import(vm: &Peer, bodies: &[Vec<u8>]) -> (f64, f64) {
    let mut http = Http::new(vm.addr);
    let cpu0 = cpu_secs(vm.pid());
    let t = Instant::now();
    for body in bodies {
        let (status, resp) = http
            .request("POST", "/api/v1/import/prometheus", body)
            .unwrap();
        assert!(
            status < 300,
            "VM import: {status} {}",
            String::from_utf8_lossy(&resp)
        );
    }
    let (status, _) = http.request("GET", "/internal/force_flush", b"").unwrap();
    assert!(status < 300);
    (t.elapsed().as_secs_f64(), cpu_secs(vm.pid()) - cpu0)
}

/// Waits until VictoriaMetrics reports no active (force) merges and its directory stops
/// changing size.
fn wait_vm_merges(vm: &Peer) {
    let t = Instant::now();
    let mut last = (0, 0);
    let mut stable = 0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let metrics = String::from_utf8_lossy(&vm.get("/metrics")).to_string();
        let active: f64 = metrics
            .lines()
            .filter(|l| {
                l.starts_with("vm_active_force_merges") || l.starts_with("vm_active_merges")
            })
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum();
        let size = du(&vm.dir);
        if active == 0.0 && size == last {
            stable += 1;
            if stable >= 3 {
                return;
            }
        } else {
            stable = 0;
        }
        last = size;
        if t.elapsed() > Duration::from_secs(120) {
            println!("  VM merges did not settle in 120 s; measuring anyway");
            return;
        }
    }
}

/// Runs a GET `runs` times over one keep-alive connection; returns (first, median) and the
/// last body.
fn timed_gets(peer: &Peer, path: &str, runs: usize) -> ((Duration, Duration), Vec<u8>) {
    let mut http = Http::new(peer.addr);
    let mut times = Vec::new();
    let mut body = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let (status, b) = http.request("GET", path, b"").unwrap();
        times.push(t.elapsed());
        assert_eq!(status, 200, "GET {path}: {}", String::from_utf8_lossy(&b));
        body = b;
    }
    let first = times[0];
    times.sort();
    ((first, times[runs / 2]), body)
}

/// Time ranges and selectors shared by every system.
struct Queries {
    /// `node_cpu_seconds_total{...}` of one series.
    one_series: String,
    one_labels: Labels,
    day_start: i64,
    hour_start: i64,
    end: i64,
}

impl Queries {
    fn new(data: &Data, max_ts: i64) -> Self {
        let d = data
            .defs
            .iter()
            .find(|d| {
                d.labels.get("instance") == Some("host-002:9100")
                    && d.labels.metric_name() == Some("node_cpu_seconds_total")
                    && d.labels.get("cpu") == Some("1")
                    && d.labels.get("mode") == Some("user")
            })
            .unwrap();
        // A few ms past the newest sample: covers the jitter; one hour before that excludes
        // the scrape exactly an hour earlier everywhere.
        let end = max_ts + 10;
        Self {
            one_series: d.key.clone(),
            one_labels: d.labels.clone(),
            day_start: T0,
            hour_start: end - 3_600_000,
            end,
        }
    }

    fn one_series_matchers(&self) -> Vec<Matcher> {
        self.one_labels
            .iter()
            .map(|l| Matcher::equal(l.name.clone(), l.value.clone()))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

/// Bytes allocated on disk (st_blocks) and apparent bytes of every file under `p`.
fn du(p: &Path) -> (u64, u64) {
    let mut total = (0, 0);
    let Ok(entries) = std::fs::read_dir(p) else {
        return total;
    };
    for e in entries.flatten() {
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        if m.is_dir() {
            let (a, b) = du(&e.path());
            total.0 += a;
            total.1 += b;
        } else {
            total.0 += m.blocks() * 512;
            total.1 += m.len();
        }
    }
    total
}

/// Allocated bytes of fjall journal files (`*.jnl`) under `p`, and of everything else.
fn journal_split(p: &Path) -> (u64, u64) {
    let (all, _) = du(p);
    let mut jnl = 0;
    if let Ok(entries) = std::fs::read_dir(p.join("lsm")) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "jnl") {
                jnl += e.metadata().map(|m| m.blocks() * 512).unwrap_or(0);
            }
        }
    }
    (jnl, all - jnl)
}

/// A field of /proc/<pid>/status in kB.
fn vm_status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(&format!("{field}:")))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(f64::NAN)
}
