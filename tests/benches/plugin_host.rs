//! Benchmarks of the plugin host's hot paths (see BENCHMARKS.md):
//!
//! 1. `call`: a trivial probe through the host, fresh instance per call, on one thread.
//! 2. `reload`: a component renamed into a watched plugins directory until it serves, with an
//!    empty and with a warm compile cache.
//! 3. `http`: probes per CPU-second of ward's `http` plugin against
//!    `prometheus-blackbox-exporter` probing the same loopback server, side by side.
//!
//! Run: `cargo bench -p ward-tests --bench plugin_host [call|reload|http]`. Peer binaries are
//! optional unless `WARD_REQUIRE_PEERS=1`. `WARD_BENCH_COMPONENT=FILE` adds a component to
//! `reload`.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ward::capability::net::NetGrant;
use ward::plugin::state::CallGrant;
use ward::plugin::{Host, HostOptions};
use ward_tests::artifacts;

#[path = "../../store/benches/common/harness.rs"]
mod harness;
use harness::{cpu_secs, machine};

/// CPU time (user + system) of process `pid` in nanoseconds (clock ticks of 10 ms: runs are
/// long enough for that).
fn cpu_ns_of(pid: u32) -> u64 {
    (cpu_secs(pid) * 1e9).round() as u64
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--serve-http") {
        serve_http_forever();
    }
    let all = args.is_empty();
    let want = |name: &str| all || args.iter().any(|a| a == name);
    println!("machine: {}", machine());
    if want("call") {
        bench_call();
    }
    if want("reload") {
        bench_reload();
    }
    if want("http") {
        bench_http();
    }
}

/// A host serving Cranelift's code at once: the code that serves for good.
fn host(cache: Option<&Path>) -> Host {
    host_with(cache, false)
}

fn host_with(cache: Option<&Path>, baseline: bool) -> Host {
    Host::new(HostOptions {
        cache_dir: cache.map(Path::to_path_buf),
        max_instances: 64,
        baseline,
        ..HostOptions::default()
    })
    .unwrap()
}

fn bench_call() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for baseline in [false, true] {
        let host = host_with(None, baseline);
        rt.block_on(call_loop(&host));
    }
}

async fn call_loop(host: &Host) {
    {
        let noop = host.load_file(Path::new(artifacts::NOOP_V1)).await.unwrap();
        let tier = noop.tier().as_str();
        let grant = CallGrant::none("bench");
        let timeout = Duration::from_secs(5);
        for _ in 0..2_000 {
            noop.probe("t", "{}", &grant, timeout).await.unwrap();
        }
        let n = 20_000;
        let mut times = Vec::with_capacity(n);
        let rss_before = rss_kib();
        let cpu0 = cpu_ns_of(std::process::id());
        let started = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            noop.probe("t", "{}", &grant, timeout).await.unwrap();
            times.push(t.elapsed());
        }
        let wall = started.elapsed();
        let cpu = cpu_ns_of(std::process::id()) - cpu0;
        times.sort();
        println!(
            "call: trivial probe, {tier} code, fresh instance per call, one thread: {n} calls, median {:.1} us, p99 {:.1} us, {:.0} calls/s wall, {:.0} calls per CPU-second",
            us(times[n / 2]),
            us(times[n * 99 / 100]),
            n as f64 / wall.as_secs_f64(),
            n as f64 / (cpu as f64 / 1e9),
        );
        println!(
            "call: {tier} code: process RSS {} KiB after warm-up, {} KiB after the timed calls",
            rss_before,
            rss_kib()
        );
    }
}

/// This process's resident set (VmRSS), KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn bench_reload() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let work = tempfile::tempdir().unwrap();
        let plugins = work.path().join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        // A 1 MiB component: the http prober (the largest first-party plugin) padded with a
        // custom section, which the loader must read and hash but not compile.
        let mut big = std::fs::read(artifacts::HTTP).unwrap();
        let http_len = big.len();
        pad_with_custom_section(&mut big, 1 << 20);
        let mut cases: Vec<(String, Vec<u8>)> = vec![
            ("http.wasm".into(), std::fs::read(artifacts::HTTP).unwrap()),
            ("http padded to 1 MiB".into(), big),
        ];
        // Any other component, e.g. one with more code than the first-party plugins have.
        if let Ok(extra) = std::env::var("WARD_BENCH_COMPONENT") {
            let bytes = std::fs::read(&extra).unwrap();
            cases.push((extra, bytes));
        }
        // (what is in the cache, whether baseline code serves first)
        let modes = [
            ("uncached, baseline first (default)", false, true),
            ("uncached, Cranelift only", false, false),
            ("cached", true, true),
        ];
        for (label, bytes) in cases {
            for (mode, cached, baseline) in modes {
                let mut serving = Vec::new();
                let mut optimized = Vec::new();
                for round in 0..5 {
                    // Uncached: a fresh cache each round. Cached: one warmed beforehand.
                    let cache = work.path().join(format!("cache-{mode}-{round}"));
                    let host = Arc::new(host_with(Some(&cache), baseline));
                    let metrics = Arc::new(ward::metrics::Metrics::new());
                    let registry = Arc::new(ward::plugin::Registry::new(metrics.clone()));
                    if cached {
                        let warm = host.load_bytes("warm", Path::new("warm"), bytes.clone()).await.unwrap();
                        host.optimize(&warm, bytes.clone(), || true).await.unwrap();
                    }
                    let dir = work.path().join(format!("plugins-{mode}-{round}"));
                    std::fs::create_dir_all(&dir).unwrap();
                    let _watch =
                        ward::plugin::reload::watch(host, registry.clone(), metrics, &dir).unwrap();
                    let tmp = dir.join(".p.tmp");
                    std::fs::write(&tmp, &bytes).unwrap();
                    let started = Instant::now();
                    std::fs::rename(&tmp, dir.join("p.wasm")).unwrap();
                    let mut first = None;
                    loop {
                        assert!(started.elapsed() < Duration::from_secs(30), "reload never finished");
                        if let Some(p) = registry.get("p") {
                            first.get_or_insert_with(|| (started.elapsed(), p.tier()));
                            if p.tier() == ward::plugin::Tier::Optimized {
                                break;
                            }
                        }
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                    let (took, tier) = first.unwrap();
                    serving.push((took, tier));
                    optimized.push(started.elapsed());
                }
                serving.sort_by_key(|s| s.0);
                optimized.sort();
                let (median, tier) = serving[serving.len() / 2];
                println!(
                    "reload: {label} ({} bytes, {} bytes of code), {mode}: rename -> serving ({}), median of 5: {:.1} ms; -> optimized serving: {:.1} ms",
                    bytes.len(),
                    if label.contains("padded") { http_len } else { bytes.len() },
                    tier.as_str(),
                    ms(median),
                    ms(optimized[optimized.len() / 2]),
                );
            }
        }
    });
}

/// Appends a custom section so that `bytes` grows to `target` bytes.
fn pad_with_custom_section(bytes: &mut Vec<u8>, target: usize) {
    let name = b"ward-bench-padding";
    let overhead = 1 + 5 + 1 + name.len();
    let payload = target.saturating_sub(bytes.len() + overhead);
    let size = 1 + name.len() + payload;
    bytes.push(0); // custom section id
    leb128(bytes, size as u32);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.resize(bytes.len() + payload, 0);
}

fn leb128(out: &mut Vec<u8>, mut v: u32) {
    // Always five bytes, so the overhead is fixed.
    for i in 0..5 {
        let mut byte = (v & 0x7f) as u8;
        v >>= 7;
        if i < 4 {
            byte |= 0x80;
        }
        out.push(byte);
    }
}

fn bench_http() {
    // The target server runs in a child process so neither side's CPU count includes it.
    let exe = std::env::current_exe().unwrap();
    let mut server = KillOnDrop(
        Command::new(exe)
            .arg("--serve-http")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let target: SocketAddr = line.trim().parse().unwrap();
    let url = format!("http://{target}/health");
    let n = 4_000;
    let concurrency = 4;

    let ward_rate = {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let host = host(None);
            let http = Arc::new(host.load_file(Path::new(artifacts::HTTP)).await.unwrap());
            let mut net = NetGrant::new(vec![target.to_string().parse().unwrap()]);
            net.resolve(Duration::from_secs(1)).await;
            let grant = CallGrant {
                check: "bench".into(),
                net: Arc::new(net),
                on_deny: Arc::new(|_| {}),
            };
            let config = r#"{"expect_status":[200]}"#;
            for _ in 0..200 {
                http.probe(&url, config, &grant, Duration::from_secs(5)).await.unwrap();
            }
            let cpu0 = cpu_ns_of(std::process::id());
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..concurrency {
                let (http, grant, url) = (http.clone(), grant.clone(), url.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..n / concurrency {
                        let o = http.probe(&url, config, &grant, Duration::from_secs(5)).await.unwrap();
                        assert_eq!(o.status, ward::plugin::ProbeStatus::Up, "{}", o.message);
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let wall = started.elapsed();
            let cpu = (cpu_ns_of(std::process::id()) - cpu0) as f64 / 1e9;
            println!(
                "http: ward http plugin: {n} probes in {:.2} s wall, {:.2} CPU-s: {:.0} probes per CPU-second",
                wall.as_secs_f64(),
                cpu,
                n as f64 / cpu
            );
            n as f64 / cpu
        })
    };

    match blackbox(&url, n, concurrency) {
        Some(bb_rate) => println!(
            "http: ratio ward / blackbox_exporter (probes per CPU-second): {:.2}",
            ward_rate / bb_rate
        ),
        None => {
            let reason = "prometheus-blackbox-exporter not found (apt-get install prometheus-blackbox-exporter)";
            if std::env::var("WARD_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!("{reason}");
            }
            println!("http: blackbox_exporter side skipped: {reason}");
        }
    }
    drop(server);
}

/// A child process killed when the benchmark ends, panicking or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn blackbox(url: &str, n: usize, concurrency: usize) -> Option<f64> {
    let bin = ["prometheus-blackbox-exporter", "blackbox_exporter"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())?;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bb.yml");
    std::fs::write(
        &config,
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n",
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "blackbox_exporter did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let path = format!("/probe?module=http_2xx&target={url}");
    for _ in 0..200 {
        assert!(get(addr, &path).contains("probe_success 1"));
    }
    let pid = child.0.id();
    let cpu0 = cpu_ns_of(pid);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| {
                for _ in 0..n / concurrency {
                    let body = get(addr, &path);
                    assert!(body.contains("probe_success 1"), "{body}");
                }
            });
        }
    });
    let wall = started.elapsed();
    let cpu = (cpu_ns_of(pid) - cpu0) as f64 / 1e9;
    drop(child);
    println!(
        "http: {bin} (/probe over HTTP, module http_2xx): {n} probes in {:.2} s wall, {:.2} CPU-s: {:.0} probes per CPU-second",
        wall.as_secs_f64(),
        cpu,
        n as f64 / cpu
    );
    Some(n as f64 / cpu)
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    // HTTP/1.0: the body comes whole, not chunked.
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A minimal HTTP/1.1 server answering 200 "ok" on every request; prints its address.
fn serve_http_forever() -> ! {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut stream = stream;
            loop {
                let mut line = String::new();
                let mut keep_alive = true;
                // Request line and headers.
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line.to_ascii_lowercase().starts_with("connection: close") {
                        keep_alive = false;
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let close = if keep_alive {
                    ""
                } else {
                    "Connection: close\r\n"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{close}\r\nok"
                );
                if !keep_alive {
                    return;
                }
            }
        });
    }
    std::process::exit(0)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
