//! Processes: process-exporter's `namedprocess_namegroup_*` families for groups of
//! processes.
//!
//! [`ProcessSampler::scan`] reads every `/proc/<pid>/stat` once (pid, parent, name, state,
//! CPU, memory, threads, start time) into a table reused from scan to scan;
//! [`ProcessSampler::tree`] and [`ProcessSampler::matching`] pick groups from it, and
//! [`ProcessSampler::sample_group`] emits a group's aggregate, reading the few files the
//! scan does not (`status`, `io`, `fd/`) for the group's processes only.
//!
//! Families, each with label `groupname` (as process-exporter 0.7 names them):
//! `namedprocess_namegroup_num_procs`, `_num_threads`, `_cpu_seconds_total{mode="user"|"system"}`,
//! `_memory_bytes{memtype="resident"|"virtual"|"swapped"}`, `_open_filedesc`,
//! `_read_bytes_total`, `_write_bytes_total`, `_major_page_faults_total`,
//! `_minor_page_faults_total`, `_context_switches_total{ctxswitchtype="voluntary"|"nonvoluntary"}`,
//! `_oldest_start_time_seconds` (whole seconds, when the group has a process) and
//! `_states{state="Running"|"Sleeping"|"Waiting"|"Zombie"|"Other"}`. Not emitted:
//! `_worst_fd_ratio` (it needs `/proc/<pid>/limits`), thread and wchan details.
//!
//! Counters are the group's, not its current processes' sum: as in process-exporter, what
//! a process used stays counted after it exits, so `rate()` does not see a reset when a
//! worker restarts. A process is one (pid, start time): a recycled pid is a new process.
//!
//! Files of other users' processes that cannot be read (`io`, `fd/` without privileges)
//! leave their part out; a process that exits mid-read is skipped silently.

use crate::Sink;
use crate::files::{Files, PROC, each_entry};
use crate::parse::{fields, lines, str_of, u64_of};
use regex::Regex;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// One process as its `stat` file shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    /// Process id.
    pub pid: i32,
    /// Parent's process id.
    pub ppid: i32,
    comm: [u8; 16],
    comm_len: u8,
    /// State letter (`R`, `S`, `D`, `Z`, ...).
    pub state: u8,
    /// Minor page faults.
    pub minflt: u64,
    /// Major page faults.
    pub majflt: u64,
    /// User CPU time, clock ticks.
    pub utime: u64,
    /// System CPU time, clock ticks.
    pub stime: u64,
    /// Threads.
    pub threads: u64,
    /// Start time, clock ticks after boot.
    pub starttime: u64,
    /// Virtual memory size, bytes.
    pub vsize: u64,
    /// Resident set size, pages.
    pub rss: u64,
}

impl Proc {
    /// The command name (`comm`, at most 15 bytes), as UTF-8 when it is.
    pub fn comm(&self) -> Option<&str> {
        str_of(&self.comm[..usize::from(self.comm_len)])
    }
}

/// The counters process-exporter keeps per group.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    utime: u64,
    stime: u64,
    minflt: u64,
    majflt: u64,
    read_bytes: u64,
    write_bytes: u64,
    voluntary: u64,
    nonvoluntary: u64,
}

impl Counters {
    fn add_delta(&mut self, now: &Counters, before: &Counters) {
        let d = |n: u64, b: u64| n.saturating_sub(b);
        self.utime += d(now.utime, before.utime);
        self.stime += d(now.stime, before.stime);
        self.minflt += d(now.minflt, before.minflt);
        self.majflt += d(now.majflt, before.majflt);
        self.read_bytes += d(now.read_bytes, before.read_bytes);
        self.write_bytes += d(now.write_bytes, before.write_bytes);
        self.voluntary += d(now.voluntary, before.voluntary);
        self.nonvoluntary += d(now.nonvoluntary, before.nonvoluntary);
    }
}

/// A group's accumulated counters and each member's counters at the last round.
#[derive(Default)]
struct Group {
    totals: Counters,
    last: HashMap<(i32, u64), Counters>,
    next: HashMap<(i32, u64), Counters>,
}

/// Scans `/proc` and samples groups of processes (see the [module docs](self)).
pub struct ProcessSampler {
    files: Files,
    procs: Vec<Proc>,
    /// (ppid, pid), sorted.
    children: Vec<(i32, i32)>,
    groups: HashMap<String, Group>,
    buf: Vec<u8>,
    dir: Vec<u8>,
    path: String,
    pids: Vec<i32>,
    ticks: f64,
    page_size: f64,
    boot_time: Option<f64>,
}

impl ProcessSampler {
    /// A sampler of the processes under `proc_root` (normally `/proc`). Nothing is read
    /// until [`Self::scan`].
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        Self {
            files: Files::new([proc_root.into()]),
            procs: Vec::new(),
            children: Vec::new(),
            groups: HashMap::new(),
            buf: Vec::with_capacity(4096),
            dir: Vec::new(),
            path: String::with_capacity(64),
            pids: Vec::new(),
            ticks: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as f64,
            boot_time: None,
        }
    }

    /// One pass over `/proc/<pid>/stat` for every process, replacing the previous scan's
    /// table. Processes that exit during the pass are left out.
    pub fn scan(&mut self) {
        if self.boot_time.is_none() && self.files.read(PROC, "stat", &mut self.buf) {
            self.boot_time = lines(&self.buf)
                .find_map(|l| l.strip_prefix(b"btime "))
                .and_then(|v| u64_of(v.trim_ascii()))
                .map(|v| v as f64);
        }
        self.procs.clear();
        self.pids.clear();
        let dir = match self.files.open_dir(PROC, ".") {
            Ok(dir) => dir,
            Err(e) => {
                self.files.note_missing(PROC, ".", &e);
                return;
            }
        };
        let pids = &mut self.pids;
        let listed = each_entry(&dir, &mut self.dir, |name| {
            if let Some(pid) = u64_of(name).and_then(|p| i32::try_from(p).ok()) {
                pids.push(pid);
            }
        });
        if let Err(e) = listed {
            self.files.note_missing(PROC, ".", &e);
        }
        for &pid in &self.pids {
            self.path.clear();
            let _ = write!(self.path, "{pid}/stat");
            if self.files.read_dyn(PROC, &self.path, &mut self.buf).is_ok()
                && let Some(p) = parse_stat(&self.buf)
            {
                self.procs.push(p);
            }
        }
        self.procs.sort_unstable_by_key(|p| p.pid);
        self.children.clear();
        self.children
            .extend(self.procs.iter().map(|p| (p.ppid, p.pid)));
        self.children.sort_unstable();
    }

    /// The processes of the last scan, by pid.
    pub fn processes(&self) -> &[Proc] {
        &self.procs
    }

    /// `root` and all its descendants in the last scan (parent before children); empty when
    /// `root` was not running.
    pub fn tree(&self, root: i32) -> Vec<i32> {
        let mut out = Vec::new();
        if self.procs.binary_search_by_key(&root, |p| p.pid).is_err() {
            return out;
        }
        out.push(root);
        let mut i = 0;
        // Bounded by the table: a pid loop (impossible, but read from files) cannot spin.
        while i < out.len() && out.len() <= self.procs.len() {
            let parent = out[i];
            let start = self.children.partition_point(|&(pp, _)| pp < parent);
            for &(pp, child) in &self.children[start..] {
                if pp != parent {
                    break;
                }
                if child != parent {
                    out.push(child);
                }
            }
            i += 1;
        }
        out
    }

    /// Pids of the last scan whose command name (`comm`), or else the base name of their
    /// `argv[0]` (`/proc/<pid>/cmdline`; `comm` is cut at 15 bytes), matches `pattern`.
    pub fn matching(&mut self, pattern: &Regex) -> Vec<i32> {
        let mut out = Vec::new();
        for p in &self.procs {
            if p.comm().is_some_and(|c| pattern.is_match(c)) {
                out.push(p.pid);
                continue;
            }
            self.path.clear();
            let _ = write!(self.path, "{}/cmdline", p.pid);
            if self
                .files
                .read_dyn(PROC, &self.path, &mut self.buf)
                .is_err()
            {
                continue;
            }
            let argv0 = self.buf.split(|&b| b == 0).next().unwrap_or_default();
            let base = argv0.rsplit(|&b| b == b'/').next().unwrap_or_default();
            if !base.is_empty() && str_of(base).is_some_and(|b| pattern.is_match(b)) {
                out.push(p.pid);
            }
        }
        out
    }

    /// Emits group `group`'s families for the processes `pids` of the last scan (pids not in
    /// it are ignored; repeats count once).
    pub fn sample_group(&mut self, group: &str, pids: &[i32], sink: &mut dyn Sink) {
        self.pids.clear();
        self.pids.extend_from_slice(pids);
        self.pids.sort_unstable();
        self.pids.dedup();
        if !self.groups.contains_key(group) {
            self.groups.insert(group.to_owned(), Group::default());
        }
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let mut agg = Aggregate::default();
        for &pid in &self.pids {
            let Ok(i) = self.procs.binary_search_by_key(&pid, |p| p.pid) else {
                continue;
            };
            let p = self.procs[i];
            let mut now = Counters {
                utime: p.utime,
                stime: p.stime,
                minflt: p.minflt,
                majflt: p.majflt,
                ..Counters::default()
            };
            agg.procs += 1;
            agg.threads += p.threads;
            agg.resident += p.rss;
            agg.virtual_bytes += p.vsize;
            agg.oldest = Some(agg.oldest.map_or(p.starttime, |o: u64| o.min(p.starttime)));
            agg.states[state_index(p.state)] += 1;

            self.path.clear();
            let _ = write!(self.path, "{pid}/status");
            if self.files.read_dyn(PROC, &self.path, &mut self.buf).is_ok() {
                let s = parse_status(&self.buf);
                agg.swapped += s.swap_bytes;
                now.voluntary = s.voluntary;
                now.nonvoluntary = s.nonvoluntary;
            }
            self.path.clear();
            let _ = write!(self.path, "{pid}/io");
            if self.files.read_dyn(PROC, &self.path, &mut self.buf).is_ok() {
                (now.read_bytes, now.write_bytes) = parse_io(&self.buf);
            }
            self.path.clear();
            let _ = write!(self.path, "{pid}/fd");
            if let Ok(dir) = self.files.open_dir(PROC, &self.path) {
                let mut n = 0u64;
                if each_entry(&dir, &mut self.dir, |_| n += 1).is_ok() {
                    agg.fds += n;
                }
            }

            let key = (pid, p.starttime);
            let before = g.last.get(&key).copied().unwrap_or_default();
            g.totals.add_delta(&now, &before);
            g.next.insert(key, now);
        }
        std::mem::swap(&mut g.last, &mut g.next);
        g.next.clear();
        let oldest = agg
            .oldest
            .zip(self.boot_time)
            .map(|(start, boot)| (boot + start as f64 / self.ticks).floor());
        emit(
            group,
            &agg,
            &g.totals,
            oldest,
            self.ticks,
            self.page_size,
            sink,
        );
    }

    /// Drops what is kept for group `group` (its counters start over if sampled again).
    pub fn forget_group(&mut self, group: &str) {
        self.groups.remove(group);
    }
}

/// What one round sums over a group's processes.
#[derive(Default)]
struct Aggregate {
    procs: u64,
    threads: u64,
    resident: u64,
    virtual_bytes: u64,
    swapped: u64,
    fds: u64,
    oldest: Option<u64>,
    states: [u64; 5],
}

const STATES: [&str; 5] = ["Running", "Sleeping", "Waiting", "Zombie", "Other"];

fn state_index(state: u8) -> usize {
    match state {
        b'R' => 0,
        b'S' => 1,
        b'D' => 2,
        b'Z' => 3,
        _ => 4,
    }
}

fn emit(
    group: &str,
    a: &Aggregate,
    c: &Counters,
    oldest: Option<f64>,
    ticks: f64,
    page_size: f64,
    sink: &mut dyn Sink,
) {
    let g = [("groupname", group)];
    let with = |name: &'static str, value: &'static str| [("groupname", group), (name, value)];
    sink.sample("namedprocess_namegroup_num_procs", &g, a.procs as f64);
    sink.sample("namedprocess_namegroup_num_threads", &g, a.threads as f64);
    sink.sample(
        "namedprocess_namegroup_cpu_seconds_total",
        &with("mode", "user"),
        c.utime as f64 / ticks,
    );
    sink.sample(
        "namedprocess_namegroup_cpu_seconds_total",
        &with("mode", "system"),
        c.stime as f64 / ticks,
    );
    let memory = [
        ("resident", a.resident as f64 * page_size),
        ("virtual", a.virtual_bytes as f64),
        ("swapped", a.swapped as f64),
    ];
    for (memtype, v) in memory {
        sink.sample(
            "namedprocess_namegroup_memory_bytes",
            &with("memtype", memtype),
            v,
        );
    }
    sink.sample("namedprocess_namegroup_open_filedesc", &g, a.fds as f64);
    sink.sample(
        "namedprocess_namegroup_read_bytes_total",
        &g,
        c.read_bytes as f64,
    );
    sink.sample(
        "namedprocess_namegroup_write_bytes_total",
        &g,
        c.write_bytes as f64,
    );
    sink.sample(
        "namedprocess_namegroup_major_page_faults_total",
        &g,
        c.majflt as f64,
    );
    sink.sample(
        "namedprocess_namegroup_minor_page_faults_total",
        &g,
        c.minflt as f64,
    );
    sink.sample(
        "namedprocess_namegroup_context_switches_total",
        &with("ctxswitchtype", "voluntary"),
        c.voluntary as f64,
    );
    sink.sample(
        "namedprocess_namegroup_context_switches_total",
        &with("ctxswitchtype", "nonvoluntary"),
        c.nonvoluntary as f64,
    );
    if let Some(oldest) = oldest {
        sink.sample(
            "namedprocess_namegroup_oldest_start_time_seconds",
            &g,
            oldest,
        );
    }
    for (state, n) in STATES.iter().zip(a.states) {
        sink.sample(
            "namedprocess_namegroup_states",
            &with("state", state),
            n as f64,
        );
    }
}

/// `pid (comm) state ppid ...`: `comm` may hold spaces and parentheses, so the fields
/// start after the last `)`.
pub(crate) fn parse_stat(text: &[u8]) -> Option<Proc> {
    let open = text.iter().position(|&b| b == b'(')?;
    let close = text.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid = u64_of(text[..open].trim_ascii()).and_then(|p| i32::try_from(p).ok())?;
    let name = &text[open + 1..close];
    let mut comm = [0u8; 16];
    let len = name.len().min(16);
    comm[..len].copy_from_slice(&name[..len]);
    // Fields after `)`, from field 3 (state): index 0 is state.
    let mut f = fields(&text[close + 1..]);
    let state = *f.next()?.first()?;
    let mut v = [0u64; 22];
    for slot in &mut v[1..] {
        let field = f.next()?;
        // ppid and a few others can be negative (tty, priority); only ppid matters here.
        *slot = match field.strip_prefix(b"-") {
            Some(rest) => {
                u64_of(rest)?;
                0
            }
            None => u64_of(field)?,
        };
    }
    Some(Proc {
        pid,
        ppid: i32::try_from(v[1]).ok()?,
        comm,
        comm_len: u8::try_from(len).ok()?,
        state,
        minflt: v[7],
        majflt: v[9],
        utime: v[11],
        stime: v[12],
        threads: v[17],
        starttime: v[19],
        vsize: v[20],
        rss: v[21],
    })
}

/// What `status` adds to `stat`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Status {
    pub swap_bytes: u64,
    pub voluntary: u64,
    pub nonvoluntary: u64,
}

pub(crate) fn parse_status(text: &[u8]) -> Status {
    let mut s = Status::default();
    for line in lines(text) {
        let mut f = fields(line);
        let (Some(key), Some(value)) = (f.next(), f.next().and_then(u64_of)) else {
            continue;
        };
        match key {
            b"VmSwap:" => s.swap_bytes = value * 1024,
            b"voluntary_ctxt_switches:" => s.voluntary = value,
            b"nonvoluntary_ctxt_switches:" => s.nonvoluntary = value,
            _ => {}
        }
    }
    s
}

/// `read_bytes` and `write_bytes` of `io` (storage I/O, as process-exporter reports).
pub(crate) fn parse_io(text: &[u8]) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for line in lines(text) {
        let mut f = fields(line);
        match (f.next(), f.next().and_then(u64_of)) {
            (Some(b"read_bytes:"), Some(v)) => read = v,
            (Some(b"write_bytes:"), Some(v)) => write = v,
            _ => {}
        }
    }
    (read, write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, tree};

    fn stat(pid: i32, comm: &str, state: char, ppid: i32, utime: u64, start: u64) -> String {
        format!(
            "{pid} ({comm}) {state} {ppid} {pid} {pid} 0 -1 4194560 100 0 2 0 {utime} 5 0 0 20 0 1 0 {start} 8192000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        )
    }

    #[test]
    fn parses_stat_with_awkward_names() {
        let p = parse_stat(stat(42, "a) (b c", 'S', 1, 7, 99).as_bytes()).unwrap();
        assert_eq!((p.pid, p.ppid, p.state), (42, 1, b'S'));
        assert_eq!(p.comm(), Some("a) (b c"));
        assert_eq!((p.minflt, p.majflt, p.utime, p.stime), (100, 2, 7, 5));
        assert_eq!(
            (p.threads, p.starttime, p.vsize, p.rss),
            (1, 99, 8192000, 300)
        );
        for bad in ["", "42", "42 (x", "x (y) S 1", "42 (x) S 1 2 3", ") 42 (x"] {
            assert_eq!(parse_stat(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn parses_status_and_io() {
        let status = "Name:\tx\nVmSwap:\t      12 kB\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t6\nbad\n";
        assert_eq!(
            parse_status(status.as_bytes()),
            Status {
                swap_bytes: 12 * 1024,
                voluntary: 5,
                nonvoluntary: 6
            }
        );
        let io =
            "rchar: 1\nwchar: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_io(io.as_bytes()), (4096, 8192));
        assert_eq!(parse_io(b"garbage"), (0, 0));
    }

    /// A fake /proc: 1 -> 10 -> (11, 12), 12 -> 13; 20 alone.
    fn fake_proc(dir: &std::path::Path, utime_11: u64) {
        let procs = [
            (1, "init", 'S', 0, 1, 1),
            (10, "svc", 'S', 1, 10, 500),
            (11, "worker", 'R', 10, utime_11, 600),
            (12, "sh", 'D', 10, 1, 700),
            (13, "sleep", 'Z', 12, 1, 800),
            (20, "other", 'S', 1, 1, 900),
        ];
        let mut files: Vec<(String, String)> =
            vec![("stat".into(), "cpu 1 2\nbtime 1700000000\n".into())];
        for (pid, comm, st, ppid, utime, start) in procs {
            files.push((
                format!("{pid}/stat"),
                stat(pid, comm, st, ppid, utime, start),
            ));
            files.push((
                format!("{pid}/status"),
                "VmSwap: 1 kB\nvoluntary_ctxt_switches: 3\nnonvoluntary_ctxt_switches: 4\n".into(),
            ));
            files.push((
                format!("{pid}/io"),
                "read_bytes: 10\nwrite_bytes: 20\n".into(),
            ));
            files.push((format!("{pid}/fd/0"), String::new()));
            files.push((
                format!("{pid}/cmdline"),
                format!("/usr/bin/{comm}-long-name\0-x\0"),
            ));
        }
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        tree(dir, &files);
        std::fs::write(dir.join("self"), "").unwrap();
    }

    #[test]
    fn trees_patterns_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 100);
        let mut s = ProcessSampler::new(dir.path());
        s.scan();
        assert_eq!(s.processes().len(), 6);
        assert_eq!(s.tree(10), [10, 11, 12, 13]);
        assert_eq!(s.tree(13), [13]);
        assert!(s.tree(99).is_empty());
        assert_eq!(s.matching(&Regex::new("^sh$").unwrap()), [12]);
        assert_eq!(s.matching(&Regex::new("^worker-long").unwrap()), [11]);

        let mut sink = Collect::default();
        let pids = s.tree(10);
        s.sample_group("svc", &[pids.as_slice(), &[10, 999]].concat(), &mut sink);
        let g = |name: &str, extra: &[(&str, &str)]| {
            let mut labels = vec![("groupname", "svc")];
            labels.extend_from_slice(extra);
            sink.get(name, &labels).unwrap()
        };
        assert_eq!(g("namedprocess_namegroup_num_procs", &[]), 4.0);
        assert_eq!(g("namedprocess_namegroup_num_threads", &[]), 4.0);
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        assert_eq!(
            g(
                "namedprocess_namegroup_cpu_seconds_total",
                &[("mode", "user")]
            ),
            (10.0 + 100.0 + 1.0 + 1.0) / ticks
        );
        let page = rustix::param::page_size() as f64;
        assert_eq!(
            g(
                "namedprocess_namegroup_memory_bytes",
                &[("memtype", "resident")]
            ),
            4.0 * 300.0 * page
        );
        assert_eq!(
            g(
                "namedprocess_namegroup_memory_bytes",
                &[("memtype", "swapped")]
            ),
            4.0 * 1024.0
        );
        assert_eq!(g("namedprocess_namegroup_open_filedesc", &[]), 4.0);
        assert_eq!(g("namedprocess_namegroup_read_bytes_total", &[]), 40.0);
        assert_eq!(
            g(
                "namedprocess_namegroup_context_switches_total",
                &[("ctxswitchtype", "nonvoluntary")]
            ),
            16.0
        );
        assert_eq!(
            g("namedprocess_namegroup_oldest_start_time_seconds", &[]),
            (1_700_000_000.0 + 500.0 / ticks).floor()
        );
        for (state, n) in [
            ("Running", 1.0),
            ("Sleeping", 1.0),
            ("Waiting", 1.0),
            ("Zombie", 1.0),
            ("Other", 0.0),
        ] {
            assert_eq!(g("namedprocess_namegroup_states", &[("state", state)]), n);
        }
        assert_eq!(sink.0.len(), 20);

        // The worker exits after 100 more ticks: its CPU stays counted.
        fake_proc(dir.path(), 200);
        s.scan();
        let mut sink = Collect::default();
        s.sample_group("svc", &s.tree(10), &mut sink);
        std::fs::remove_dir_all(dir.path().join("11")).unwrap();
        s.scan();
        let mut sink2 = Collect::default();
        s.sample_group("svc", &s.tree(10), &mut sink2);
        let user = |sink: &Collect| {
            sink.get(
                "namedprocess_namegroup_cpu_seconds_total",
                &[("groupname", "svc"), ("mode", "user")],
            )
            .unwrap()
        };
        assert_eq!(user(&sink), (10.0 + 200.0 + 1.0 + 1.0) / ticks);
        assert_eq!(user(&sink2), user(&sink));
        assert_eq!(
            sink2.get("namedprocess_namegroup_num_procs", &[("groupname", "svc")]),
            Some(3.0)
        );
    }

    #[test]
    fn processes_that_vanish_or_hide() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 1);
        let mut s = ProcessSampler::new(dir.path());
        s.scan();
        // Gone between the scan and the sample: stat-derived figures stay, the rest is
        // skipped.
        std::fs::remove_dir_all(dir.path().join("12")).unwrap();
        std::fs::write(dir.path().join("11/io"), "").unwrap();
        std::fs::remove_dir_all(dir.path().join("11/fd")).unwrap();
        let mut sink = Collect::default();
        s.sample_group("svc", &[11, 12], &mut sink);
        assert_eq!(
            sink.get("namedprocess_namegroup_num_procs", &[("groupname", "svc")]),
            Some(2.0)
        );
        assert_eq!(
            sink.get(
                "namedprocess_namegroup_open_filedesc",
                &[("groupname", "svc")]
            ),
            Some(0.0)
        );
        // An empty group: no start time.
        let mut sink = Collect::default();
        s.sample_group("none", &[], &mut sink);
        assert_eq!(
            sink.get("namedprocess_namegroup_num_procs", &[("groupname", "none")]),
            Some(0.0)
        );
        assert_eq!(sink.names().len(), 11);
        // No /proc at all.
        let mut s = ProcessSampler::new(dir.path().join("nope"));
        s.scan();
        assert!(s.processes().is_empty());
    }
}
