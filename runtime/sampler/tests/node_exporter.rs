//! ward-sampler against the real thing: `prometheus-node-exporter` (1.5) runs on a free
//! loopback port with ward's filter defaults, and one scrape of it is compared with one
//! round of `SystemSampler` taken right after, family by family. Skipped (with a message)
//! when node_exporter is not installed, unless `WARD_REQUIRE_PEERS=1`.
//!
//! Also: `ProcessSampler` on a real process tree.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use ward_sampler::system::{
    DEFAULT_DISKSTATS_DEVICE_EXCLUDE, DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE,
};
use ward_sampler::{ProcessSampler, Sink, SystemOptions, SystemSampler};

/// One sample: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Default)]
struct Collect(Vec<Sample>);

impl Sink for Collect {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push(Sample {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            value,
        });
    }
}

/// Samples by family name.
type Families = BTreeMap<String, Vec<Sample>>;

fn families(samples: Vec<Sample>) -> Families {
    let mut out = Families::new();
    for s in samples {
        out.entry(s.name.clone()).or_default().push(s);
    }
    out
}

/// Kills node_exporter however the test ends.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|p| p.join(name))
        .find(|p| p.is_file())
}

/// node_exporter on a free port with ward's defaults as flags, once it answers; `None`
/// (after saying why) when it is not installed and peers are not required.
fn start_node_exporter() -> Option<(Exporter, String)> {
    let Some(path) = bin("prometheus-node-exporter").or_else(|| bin("node_exporter")) else {
        assert!(
            std::env::var("WARD_REQUIRE_PEERS").as_deref() != Ok("1"),
            "prometheus-node-exporter is not on the PATH and WARD_REQUIRE_PEERS=1"
        );
        println!(
            "SKIPPED: prometheus-node-exporter is not on the PATH (apt-get install prometheus-node-exporter)"
        );
        return None;
    };
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let child = Command::new(path)
        .arg(format!("--web.listen-address={addr}"))
        // ward's defaults are upstream node_exporter 1.5's; Debian's package changes some.
        .arg(format!(
            "--collector.filesystem.mount-points-exclude={DEFAULT_MOUNT_POINTS_EXCLUDE}"
        ))
        .arg(format!(
            "--collector.filesystem.fs-types-exclude={DEFAULT_FS_TYPES_EXCLUDE}"
        ))
        .arg(format!(
            "--collector.diskstats.device-exclude={DEFAULT_DISKSTATS_DEVICE_EXCLUDE}"
        ))
        .arg("--collector.netdev.device-exclude=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let exporter = Exporter(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if get(&addr, "/metrics").is_ok() {
            return Some((exporter, addr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("node_exporter did not answer on {addr} within 10 s");
}

/// `GET path` over HTTP/1.0: the body of a 200.
fn get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(std::io::Error::other(head.to_string()));
    }
    Ok(body.to_string())
}

/// The text exposition format: `name{label="value",...} value`, `#` lines skipped.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap();
        let name = &line[..name_end];
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            rest = r;
            loop {
                if let Some(r) = rest.strip_prefix('}') {
                    rest = r;
                    break;
                }
                let eq = rest.find('=').unwrap();
                let label = rest[..eq].trim_start_matches(',').to_string();
                let mut value = String::new();
                let mut chars = rest[eq + 2..].char_indices();
                let end = loop {
                    match chars.next().unwrap() {
                        (_, '\\') => match chars.next().unwrap().1 {
                            'n' => value.push('\n'),
                            c => value.push(c),
                        },
                        (i, '"') => break eq + 2 + i + 1,
                        (_, c) => value.push(c),
                    }
                };
                labels.insert(label, value);
                rest = rest[end..].trim_start_matches(',');
            }
        }
        let value = rest.split_whitespace().next().unwrap();
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap(),
        };
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    out
}

fn label_names(samples: &[Sample]) -> BTreeSet<Vec<String>> {
    samples
        .iter()
        .map(|s| s.labels.keys().cloned().collect())
        .collect()
}

fn label_values(f: &Families, name: &str, labels: &[&str]) -> BTreeSet<Vec<String>> {
    f.get(name)
        .into_iter()
        .flatten()
        .map(|s| labels.iter().map(|l| s.labels[*l].clone()).collect())
        .collect()
}

fn value(f: &Families, name: &str, labels: &BTreeMap<String, String>) -> Option<f64> {
    f.get(name)?
        .iter()
        .find(|s| &s.labels == labels)
        .map(|s| s.value)
}

#[test]
fn same_families_labels_and_values_as_node_exporter() {
    let Some((_exporter, addr)) = start_node_exporter() else {
        return;
    };
    let mut sampler = SystemSampler::new(SystemOptions::default());
    // A first round off the clock: it opens the roots and starts the statfs worker.
    sampler.sample(&mut Collect::default());
    let ne = families(parse_exposition(&get(&addr, "/metrics").unwrap()));
    let mut sink = Collect::default();
    sampler.sample(&mut sink);
    let ward = families(sink.0);
    let mut failures: Vec<String> = Vec::new();

    // (1) Every family ward emits, node_exporter emits, with the same label names.
    for (name, samples) in &ward {
        match ne.get(name) {
            None => failures.push(format!("{name}: node_exporter has no such family")),
            Some(theirs) => {
                let (a, b) = (label_names(samples), label_names(theirs));
                if a != b {
                    failures.push(format!(
                        "{name}: label names ward {a:?} node_exporter {b:?}"
                    ));
                }
            }
        }
    }

    // (2) What dashboards need, whenever node_exporter has it.
    let required = [
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_Buffers_bytes",
        "node_memory_Cached_bytes",
        "node_memory_SwapTotal_bytes",
        "node_memory_SwapFree_bytes",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_disk_read_bytes_total",
        "node_disk_written_bytes_total",
        "node_disk_io_time_seconds_total",
        "node_filesystem_size_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_free_bytes",
        "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total",
        "node_filefd_allocated",
        "node_context_switches_total",
        "node_boot_time_seconds",
        "node_time_seconds",
        "node_pressure_cpu_waiting_seconds_total",
        "node_pressure_io_waiting_seconds_total",
        "node_pressure_io_stalled_seconds_total",
        "node_pressure_memory_waiting_seconds_total",
        "node_pressure_memory_stalled_seconds_total",
    ];
    for name in required {
        if ne.contains_key(name) && !ward.contains_key(name) {
            failures.push(format!("{name}: node_exporter has it, ward does not"));
        }
    }
    // Every meminfo field.
    for name in ne.keys().filter(|n| n.starts_with("node_memory_")) {
        if !ward.contains_key(name) {
            failures.push(format!("{name}: node_exporter has it, ward does not"));
        }
    }

    // (3) The same label values where they are deterministic.
    for (name, labels) in [
        ("node_cpu_seconds_total", &["cpu", "mode"][..]),
        ("node_cpu_guest_seconds_total", &["cpu", "mode"]),
        ("node_network_receive_bytes_total", &["device"]),
        ("node_network_up", &["device"]),
        ("node_disk_reads_completed_total", &["device"]),
        ("node_disk_discards_completed_total", &["device"]),
        ("node_disk_flush_requests_total", &["device"]),
        (
            "node_filesystem_device_error",
            &["device", "fstype", "mountpoint"],
        ),
        (
            "node_filesystem_size_bytes",
            &["device", "fstype", "mountpoint"],
        ),
    ] {
        let (a, b) = (
            label_values(&ward, name, labels),
            label_values(&ne, name, labels),
        );
        if a != b {
            failures.push(format!("{name} {labels:?}: ward {a:?} node_exporter {b:?}"));
        }
    }

    // (4) Values. Exact where the kernel's figure does not move between two reads a few
    // milliseconds apart; counters: ward's read comes after node_exporter's, so it is at
    // least as large; CPU seconds within 2 s per (cpu, mode).
    let exact = [
        "node_memory_MemTotal_bytes",
        "node_memory_SwapTotal_bytes",
        "node_memory_Hugepagesize_bytes",
        "node_memory_HugePages_Total",
        "node_memory_VmallocTotal_bytes",
        "node_boot_time_seconds",
        "node_filefd_maximum",
        "node_entropy_pool_size_bits",
        "node_nf_conntrack_entries_limit",
        "node_filesystem_size_bytes",
        "node_filesystem_readonly",
        "node_filesystem_device_error",
        "node_network_info",
        "node_network_up",
        "node_network_mtu_bytes",
        "node_network_speed_bytes",
        "node_network_transmit_queue_length",
        "node_network_carrier",
        "node_uname_info",
        "node_os_info",
        "node_os_version",
        "node_procs_running",
    ];
    let mut compared = 0;
    for (name, samples) in &ward {
        let counter = name.ends_with("_total");
        for s in samples {
            let Some(theirs) = value(&ne, name, &s.labels) else {
                if exact.contains(&name.as_str()) || counter {
                    failures.push(format!("{name}{:?}: not in node_exporter", s.labels));
                }
                continue;
            };
            let ok = if name == "node_procs_running" {
                // Changes from one instant to the next; both are small.
                (s.value - theirs).abs() <= 8.0
            } else if exact.contains(&name.as_str()) {
                s.value == theirs
            } else if name == "node_cpu_seconds_total" || name == "node_cpu_guest_seconds_total" {
                s.value >= theirs - 1e-9 && s.value - theirs <= 2.0
            } else if counter {
                s.value >= theirs - 1e-9
            } else if name == "node_time_seconds" {
                (s.value - theirs).abs() <= 5.0
            } else {
                continue;
            };
            compared += 1;
            if !ok {
                failures.push(format!(
                    "{name}{:?}: ward {} node_exporter {theirs}",
                    s.labels, s.value
                ));
            }
        }
    }

    println!(
        "ward: {} families, {} samples; node_exporter: {} families; {compared} values compared",
        ward.len(),
        ward.values().map(Vec::len).sum::<usize>(),
        ne.len()
    );
    println!("unreadable on this machine: {:?}", sampler.missing());
    assert!(
        failures.is_empty(),
        "{} differences from node_exporter:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared > 50, "only {compared} values compared");
}

/// Kills and reaps a process tree's members however the test ends.
struct Tree(Child, Vec<i32>);

impl Drop for Tree {
    fn drop(&mut self) {
        for &pid in &self.1 {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_process_tree() {
    let child = Command::new("sh")
        .args(["-c", "sleep 30 & sleep 30"])
        .spawn()
        .unwrap();
    let root = i32::try_from(child.id()).unwrap();
    let mut tree = Tree(child, Vec::new());
    let mut sampler = ProcessSampler::new("/proc");
    let deadline = Instant::now() + Duration::from_secs(10);
    let pids = loop {
        sampler.scan();
        let pids = sampler.tree(root);
        if pids.len() == 3 || Instant::now() > deadline {
            break pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    tree.1 = pids.clone();
    let comm = |pid: i32| {
        sampler
            .processes()
            .iter()
            .find(|p| p.pid == pid)
            .and_then(|p| p.comm().map(str::to_string))
    };
    let mut names: Vec<String> = pids.iter().filter_map(|&p| comm(p)).collect();
    names.sort();
    assert_eq!(names, ["sh", "sleep", "sleep"], "pids {pids:?}");
    assert_eq!(pids[0], root);
    let sleeps = sampler.matching(&regex::Regex::new("^sleep$").unwrap());
    assert!(pids[1..].iter().all(|p| sleeps.contains(p)));

    let mut sink = Collect::default();
    sampler.sample_group("sh", &pids, &mut sink);
    let ward = families(sink.0);
    let one = |name: &str, extra: Option<(&str, &str)>| {
        let s: Vec<&Sample> = ward[name]
            .iter()
            .filter(|s| extra.is_none_or(|(n, v)| s.labels[n] == v))
            .collect();
        assert_eq!(s.len(), 1, "{name}");
        assert_eq!(s[0].labels["groupname"], "sh");
        s[0].value
    };
    assert_eq!(one("namedprocess_namegroup_num_procs", None), 3.0);
    assert!(one("namedprocess_namegroup_num_threads", None) >= 3.0);
    assert!(
        one(
            "namedprocess_namegroup_memory_bytes",
            Some(("memtype", "resident"))
        ) > 0.0
    );
    assert!(
        one(
            "namedprocess_namegroup_memory_bytes",
            Some(("memtype", "virtual"))
        ) > 0.0
    );
    assert!(one("namedprocess_namegroup_open_filedesc", None) >= 3.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = one("namedprocess_namegroup_oldest_start_time_seconds", None);
    assert!((now - start).abs() < 60.0, "start {start} now {now}");

    // Killed between the scan and the sample, then gone from the next scan: no panic.
    drop(tree);
    let mut sink = Collect::default();
    sampler.sample_group("sh", &pids, &mut sink);
    sampler.scan();
    sampler.sample_group("sh", &pids, &mut sink);
    let last = sink
        .0
        .iter()
        .rev()
        .find(|s| s.name == "namedprocess_namegroup_num_procs")
        .unwrap();
    assert!(last.value <= 3.0);
}

#[test]
fn a_process_tree_through_children_files() {
    // A child of this test's thread (libtest runs tests on threads of their own, so usually
    // not the main thread), with children of its own: walking from this process must read
    // every thread's `children` file.
    let child = Command::new("sh")
        .args(["-c", "sleep 30 & sleep 30"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let sh = i32::try_from(child.id()).unwrap();
    let me = i32::try_from(std::process::id()).unwrap();
    let mut tree = Tree(child, Vec::new());
    let mut sampler = ProcessSampler::new("/proc");
    let deadline = Instant::now() + Duration::from_secs(10);
    let walked = loop {
        sampler.begin_round();
        let pids = sampler.tree(sh);
        if pids.len() == 3 || Instant::now() > deadline {
            break pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    tree.1 = walked.clone();
    assert_eq!(walked.len(), 3, "{walked:?}");
    assert!(sampler.processes().is_empty(), "walked, not scanned");
    let mine = sampler.tree(me);
    assert_eq!(mine[0], me);
    assert!(
        walked.iter().all(|p| mine.contains(p)),
        "{walked:?} not all under this process: {mine:?}"
    );

    // The same tree through a scan's parent links.
    sampler.scan();
    assert_eq!(sampler.tree(sh), walked);
    let mut sink = Collect::default();
    sampler.sample_group("sh", &walked, &mut sink);
    let procs = sink
        .0
        .iter()
        .find(|s| s.name == "namedprocess_namegroup_num_procs")
        .unwrap();
    assert_eq!(procs.value, 3.0);
    let fds = sink
        .0
        .iter()
        .find(|s| s.name == "namedprocess_namegroup_open_filedesc")
        .unwrap();
    assert!(fds.value >= 9.0, "{}", fds.value);
}
