//! Processes: process-exporter's `namedprocess_namegroup_*` families for groups of
//! processes.
//!
//! A [`ProcessSampler`] works in rounds: [`ProcessSampler::begin_round`] (or
//! [`ProcessSampler::scan`]) starts one, then [`ProcessSampler::tree`] and
//! [`ProcessSampler::matching`] pick groups and [`ProcessSampler::sample_group`] emits a
//! group's aggregate. A process's `stat` (pid, parent, name, state, CPU, memory, threads,
//! start time) is read at most once a round, by whichever of them needs it first; a group's
//! `status`, `io` and open fd count are read when it is sampled, for its processes only.
//!
//! A single-threaded process that has not run since the last round keeps what those three
//! said then: its `schedstat` (nanoseconds on a CPU, times scheduled in; two numbers, a
//! quarter of the cost of `status`) is read first, and when both numbers and its resident
//! size are unchanged, its context switches, I/O bytes and open fds cannot have changed
//! (only the process itself does any of those), nor its swapped bytes (a page swapped out
//! leaves the resident size). Most supervised daemons sleep through most seconds; this
//! halves what the kernel spends generating text for them. A multi-threaded process is
//! read whole every time (`schedstat` speaks for its main thread only), as is a running one
//! (state `R`: its runtime may lag). Left out by design: a thread started and gone between
//! two rounds while the main thread slept, and another process sharing the fd table
//! (`CLONE_FILES` without `CLONE_THREAD`), go unseen until the process itself runs.
//!
//! - [`ProcessSampler::tree`] walks `/proc/<pid>/task/<tid>/children` (the kernel's list of
//!   a thread's children, `CONFIG_PROC_CHILDREN`) down from the root, reading the `stat` of
//!   the tree's processes only. Where the kernel has no such files (found out once), it
//!   falls back to the parent links of a scan of every process, as does a round that
//!   scanned already.
//! - [`ProcessSampler::matching`] needs every process's name: it scans `/proc` (once a
//!   round, reusing the `stat`s read so far) and reads `cmdline` where `comm` does not
//!   match (once a round per process, whatever the number of patterns).
//!
//! The files read every round are kept open from round to round and read again at offset 0
//! (`pread`; an open procfs file stays bound to its process and its text is generated afresh
//! at each read): one syscall per file instead of open, read, read, close. How many are kept
//! open is capped ([`ProcessSampler::set_fd_budget`]).
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
//! Files of other users' processes that cannot be read (`io` without privileges) leave
//! their part out; a process that exits mid-read is skipped silently. Open fds are counted
//! through `stat` of `fd/` on Linux 6.2 and later, which needs no privileges over the
//! process; older kernels list `fd/`, which does (without them the count is left out).

use crate::Sink;
use crate::files::{PROC, is_gone};
use crate::parse::{fields, lines, str_of, u64_of};
use crate::process_files::{Kind, ProcFiles};
use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::ops::Range;
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

/// Failed `schedstat` reads in a row after which it is not read any more.
const SCHEDSTAT_MISSES: u32 = 16;

/// What a process's `status`, `io` and fd count said, and the `schedstat` and resident size
/// it was read at (see the [module docs](self)).
#[derive(Debug, Default, Clone, Copy)]
struct Details {
    /// `schedstat`'s nanoseconds on a CPU and times scheduled in, when it was read.
    sched: Option<(u64, u64)>,
    rss: u64,
    swap_bytes: u64,
    fds: Option<u64>,
    status: Option<(u64, u64)>,
    io: Option<(u64, u64)>,
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
    files: ProcFiles,
    /// The `stat` of every process read this round.
    round: HashMap<i32, Proc>,
    /// Whether this round scanned every process.
    scanned: bool,
    /// This round's scan, by pid.
    procs: Vec<Proc>,
    /// (ppid, pid) of this round's scan, sorted.
    children: Vec<(i32, i32)>,
    /// Whether `task/<tid>/children` files exist (found out once).
    children_files: Option<bool>,
    /// `argv[0]` base names read this round (ranges of `argv0`), for [`Self::matching`].
    argv0_at: HashMap<i32, Range<usize>>,
    argv0: Vec<u8>,
    groups: HashMap<String, Group>,
    buf: Vec<u8>,
    path: String,
    pids: Vec<i32>,
    members: Vec<((i32, u64), Counters)>,
    /// Per (pid, start time): what the last round read, and what this round read.
    details: HashMap<(i32, u64), Details>,
    details_next: HashMap<(i32, u64), Details>,
    /// `schedstat` reads that failed in a row: a kernel without the file
    /// (`CONFIG_SCHED_INFO` off) is not asked again past a few.
    schedstat_misses: u32,
    kids: Vec<i32>,
    tids: Vec<i32>,
    seen: HashSet<i32>,
    ticks: f64,
    page_size: f64,
    boot_time: Option<f64>,
    boot_time_tried: bool,
}

/// Why a process's children could not be read.
enum NoChildren {
    /// The process is gone (or its files cannot be read).
    Gone,
    /// The kernel has no `children` files.
    Unsupported,
}

impl ProcessSampler {
    /// A sampler of the processes under `proc_root` (normally `/proc`). Nothing is read
    /// until a round starts ([`Self::begin_round`] or [`Self::scan`]).
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        Self {
            files: ProcFiles::new(proc_root.into()),
            round: HashMap::new(),
            scanned: false,
            procs: Vec::new(),
            children: Vec::new(),
            children_files: None,
            argv0_at: HashMap::new(),
            argv0: Vec::new(),
            groups: HashMap::new(),
            buf: Vec::with_capacity(4096),
            path: String::with_capacity(64),
            pids: Vec::new(),
            members: Vec::new(),
            details: HashMap::new(),
            details_next: HashMap::new(),
            schedstat_misses: 0,
            kids: Vec::new(),
            tids: Vec::new(),
            seen: HashSet::new(),
            ticks: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as f64,
            boot_time: None,
            boot_time_tried: false,
        }
    }

    /// How many files of `/proc/<pid>` may be kept open between rounds: by default a
    /// quarter of the soft `RLIMIT_NOFILE` when the sampler was made, at most 4096. Past it,
    /// files are opened and closed at each read (slower, same values). 0 keeps none open.
    pub fn set_fd_budget(&mut self, files: usize) {
        self.files.set_budget(files);
    }

    /// The budget of [`Self::set_fd_budget`].
    pub fn fd_budget(&self) -> usize {
        self.files.budget()
    }

    /// Files of `/proc/<pid>` kept open now.
    pub fn open_files(&self) -> usize {
        self.files.open()
    }

    /// Starts a round: what earlier rounds read is forgotten, and [`Self::tree`],
    /// [`Self::matching`] and [`Self::sample_group`] read each process's `stat` afresh (once
    /// in the round). Call it (or [`Self::scan`]) at the start of every round: without it,
    /// they go on using the `stat`s read earlier. Reads nothing; closes the kept files of
    /// processes the last round did not read.
    pub fn begin_round(&mut self) {
        self.files.begin_round();
        // What this round read becomes the last round's; processes not sampled are dropped.
        std::mem::swap(&mut self.details, &mut self.details_next);
        self.details_next.clear();
        self.round.clear();
        self.scanned = false;
        self.procs.clear();
        self.children.clear();
        self.argv0_at.clear();
        self.argv0.clear();
        self.boot_time_tried = false;
    }

    /// Starts a round ([`Self::begin_round`]) and reads every process's `/proc/<pid>/stat`
    /// ([`Self::processes`]). Processes that exit during the pass are left out. A round
    /// that only walks trees need not scan: [`Self::tree`] reads only the tree's processes.
    pub fn scan(&mut self) {
        self.begin_round();
        self.scan_round();
    }

    /// Reads the `stat` of every process not read yet this round, and links parents to
    /// children.
    fn scan_round(&mut self) {
        self.scanned = true;
        self.procs.clear();
        let mut pids = std::mem::take(&mut self.pids);
        pids.clear();
        let listed = self.files.each_entry(".", |name| {
            if let Some(pid) = u64_of(name).and_then(|p| i32::try_from(p).ok()) {
                pids.push(pid);
            }
        });
        if let Err(e) = listed {
            self.files.files().note_missing(PROC, ".", &e);
        }
        for &pid in &pids {
            if let Some(p) = self.stat(pid) {
                self.procs.push(p);
            }
        }
        self.pids = pids;
        self.procs.sort_unstable_by_key(|p| p.pid);
        self.children.clear();
        self.children
            .extend(self.procs.iter().map(|p| (p.ppid, p.pid)));
        self.children.sort_unstable();
    }

    /// The boot time (`btime` of `/proc/stat`), read once (tried once a round until then).
    fn boot_time(&mut self) -> Option<f64> {
        if self.boot_time.is_none()
            && !self.boot_time_tried
            && self.files.files().read(PROC, "stat", &mut self.buf)
        {
            self.boot_time = lines(&self.buf)
                .find_map(|l| l.strip_prefix(b"btime "))
                .and_then(|v| u64_of(v.trim_ascii()))
                .map(|v| v as f64);
        }
        self.boot_time_tried = true;
        self.boot_time
    }

    /// Process `pid`'s `stat` this round, read now if it was not yet.
    fn stat(&mut self, pid: i32) -> Option<Proc> {
        if let Some(p) = self.round.get(&pid) {
            return Some(*p);
        }
        self.files.read(pid, Kind::Stat, &mut self.buf).ok()?;
        let p = parse_stat(&self.buf).filter(|p| p.pid == pid)?;
        self.round.insert(pid, p);
        Some(p)
    }

    /// The processes of this round's scan, by pid (empty when the round did not scan: a tree
    /// walked through `children` files reads only its own processes).
    pub fn processes(&self) -> &[Proc] {
        &self.procs
    }

    /// `root` and all its descendants now (parent before children, siblings by pid); empty
    /// when `root` is not running. Walks the `children` files from `root` when the round did
    /// not scan and the kernel has them; else uses the scan's parent links (scanning now if
    /// the round did not). See the [module docs](self).
    ///
    /// The kernel builds each `children` file without stopping the process: a process
    /// forked or reparented while the tree is walked may be missed until the next round, as
    /// it may be by a scan.
    pub fn tree(&mut self, root: i32) -> Vec<i32> {
        if !self.scanned
            && self.children_files != Some(false)
            && let Some(out) = self.walk(root)
        {
            return out;
        }
        if !self.scanned {
            self.scan_round();
        }
        self.linked_tree(root)
    }

    /// The tree of `root` through `children` files; `None` when the kernel has none.
    fn walk(&mut self, root: i32) -> Option<Vec<i32>> {
        let mut out = Vec::new();
        if self.stat(root).is_none() {
            return Some(out);
        }
        self.seen.clear();
        self.seen.insert(root);
        out.push(root);
        let mut kids = std::mem::take(&mut self.kids);
        let mut i = 0;
        while i < out.len() {
            let pid = out[i];
            i += 1;
            let threads = self.round.get(&pid).map_or(1, |p| p.threads);
            kids.clear();
            match self.children_of(pid, threads, &mut kids) {
                Ok(()) => {}
                Err(NoChildren::Gone) => continue,
                Err(NoChildren::Unsupported) => {
                    self.kids = kids;
                    return None;
                }
            }
            kids.sort_unstable();
            for &kid in &kids {
                // `seen`: a process reparented during the walk may be listed twice.
                if self.seen.insert(kid) && self.stat(kid).is_some() {
                    out.push(kid);
                }
            }
        }
        self.kids = kids;
        Some(out)
    }

    /// Appends the children of process `pid` (of `threads` threads) to `kids`: those of its
    /// main thread (kept open) and, when it has more threads, those of each other thread.
    fn children_of(
        &mut self,
        pid: i32,
        threads: u64,
        kids: &mut Vec<i32>,
    ) -> Result<(), NoChildren> {
        if let Err(e) = self.files.read(pid, Kind::Children, &mut self.buf) {
            if self.children_files.is_none() && is_gone(&e) {
                // No `children` file for a process whose `stat` is there: the kernel has none.
                self.path.clear();
                let _ = write!(self.path, "{pid}/stat");
                if self.files.exists(&self.path) {
                    self.children_files = Some(false);
                    return Err(NoChildren::Unsupported);
                }
            }
            return Err(NoChildren::Gone);
        }
        self.children_files = Some(true);
        push_pids(&self.buf, kids);
        if threads <= 1 {
            return Ok(());
        }
        self.path.clear();
        let _ = write!(self.path, "{pid}/task");
        let mut tids = std::mem::take(&mut self.tids);
        tids.clear();
        let listed = self.files.each_entry(&self.path, |name| {
            if let Some(tid) = u64_of(name).and_then(|t| i32::try_from(t).ok()) {
                tids.push(tid);
            }
        });
        if listed.is_ok() {
            for &tid in tids.iter().filter(|&&t| t != pid) {
                self.path.clear();
                let _ = write!(self.path, "{pid}/task/{tid}/children");
                // A thread that exits meanwhile hands its children to another thread.
                if self.files.read_path(&self.path, &mut self.buf).is_ok() {
                    push_pids(&self.buf, kids);
                }
            }
        }
        self.tids = tids;
        Ok(())
    }

    /// `root` and its descendants through this round's scan's parent links.
    fn linked_tree(&self, root: i32) -> Vec<i32> {
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

    /// Pids of this round's processes whose command name (`comm`), or else the base name of
    /// their `argv[0]` (`/proc/<pid>/cmdline`; `comm` is cut at 15 bytes), matches `pattern`.
    /// Scans `/proc` if the round did not.
    pub fn matching(&mut self, pattern: &Regex) -> Vec<i32> {
        if !self.scanned {
            self.scan_round();
        }
        let mut out = Vec::new();
        for i in 0..self.procs.len() {
            let p = self.procs[i];
            if p.comm().is_some_and(|c| pattern.is_match(c)) {
                out.push(p.pid);
                continue;
            }
            let base = match self.argv0_at.get(&p.pid) {
                Some(r) => r.clone(),
                None => {
                    let start = self.argv0.len();
                    if self.files.read(p.pid, Kind::Cmdline, &mut self.buf).is_ok() {
                        let argv0 = self.buf.split(|&b| b == 0).next().unwrap_or_default();
                        let base = argv0.rsplit(|&b| b == b'/').next().unwrap_or_default();
                        self.argv0.extend_from_slice(base);
                    }
                    let r = start..self.argv0.len();
                    self.argv0_at.insert(p.pid, r.clone());
                    r
                }
            };
            let base = self.argv0.get(base).unwrap_or_default();
            if !base.is_empty() && str_of(base).is_some_and(|b| pattern.is_match(b)) {
                out.push(p.pid);
            }
        }
        out
    }

    /// Emits group `group`'s families for the processes `pids` (pids not running are
    /// ignored; repeats count once). Uses the `stat`s read this round, reading those not
    /// read yet.
    pub fn sample_group(&mut self, group: &str, pids: &[i32], sink: &mut dyn Sink) {
        let mut sorted = std::mem::take(&mut self.pids);
        sorted.clear();
        sorted.extend_from_slice(pids);
        sorted.sort_unstable();
        sorted.dedup();
        let mut agg = Aggregate::default();
        let mut members = std::mem::take(&mut self.members);
        members.clear();
        for &pid in &sorted {
            let Some(p) = self.stat(pid) else {
                continue;
            };
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

            let d = self.details(&p);
            agg.swapped += d.swap_bytes;
            if let Some((voluntary, nonvoluntary)) = d.status {
                now.voluntary = voluntary;
                now.nonvoluntary = nonvoluntary;
            }
            if let Some((read, written)) = d.io {
                (now.read_bytes, now.write_bytes) = (read, written);
            }
            agg.fds += d.fds.unwrap_or(0);
            members.push(((pid, p.starttime), now));
        }
        self.pids = sorted;
        let boot_time = self.boot_time();
        if !self.groups.contains_key(group) {
            self.groups.insert(group.to_owned(), Group::default());
        }
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        for &(key, now) in &members {
            let before = g.last.get(&key).copied().unwrap_or_default();
            g.totals.add_delta(&now, &before);
            g.next.insert(key, now);
        }
        std::mem::swap(&mut g.last, &mut g.next);
        g.next.clear();
        self.members = members;
        let oldest = agg
            .oldest
            .zip(boot_time)
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

    /// What `status`, `io` and the fd count say of process `p`: read, or kept from the last
    /// round when the process has not run since (see the [module docs](self)).
    fn details(&mut self, p: &Proc) -> Details {
        let key = (p.pid, p.starttime);
        // A process on a CPU right now may have run for a while without its runtime being
        // brought up to date (a `nohz_full` CPU updates it about once a second): read whole.
        let sched = if p.threads == 1 && p.state != b'R' && self.schedstat_misses < SCHEDSTAT_MISSES
        {
            let read = self
                .files
                .read(p.pid, Kind::Schedstat, &mut self.buf)
                .ok()
                .and_then(|()| parse_schedstat(&self.buf));
            self.schedstat_misses = if read.is_some() {
                0
            } else {
                self.schedstat_misses + 1
            };
            read
        } else {
            None
        };
        if sched.is_some()
            && let Some(last) = self.details_next.get(&key).or(self.details.get(&key))
            && last.sched == sched
            && last.rss == p.rss
        {
            let d = *last;
            self.details_next.insert(key, d);
            return d;
        }
        let mut d = Details {
            sched,
            rss: p.rss,
            ..Details::default()
        };
        if self.files.read(p.pid, Kind::Status, &mut self.buf).is_ok() {
            let s = parse_status(&self.buf);
            d.swap_bytes = s.swap_bytes;
            d.status = Some((s.voluntary, s.nonvoluntary));
        }
        if self.files.read(p.pid, Kind::Io, &mut self.buf).is_ok() {
            d.io = Some(parse_io(&self.buf));
        }
        d.fds = self.files.fd_count(p.pid).ok();
        self.details_next.insert(key, d);
        d
    }

    /// Drops what is kept for group `group` (its counters start over if sampled again).
    pub fn forget_group(&mut self, group: &str) {
        self.groups.remove(group);
    }
}

/// Appends the pids of a `children` file (`"12 13 "`) to `out`.
fn push_pids(text: &[u8], out: &mut Vec<i32>) {
    out.extend(
        fields(text)
            .filter_map(u64_of)
            .filter_map(|p| i32::try_from(p).ok()),
    );
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

/// `schedstat`: nanoseconds on a CPU and times scheduled in (the third number; the second is
/// time spent waiting for a CPU). `None` when the kernel keeps no scheduler statistics
/// (before Linux 5.14 it then prints `0 0 0`): a process that exists was scheduled in once.
pub(crate) fn parse_schedstat(text: &[u8]) -> Option<(u64, u64)> {
    let mut fields = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let run_ns = u64_of(fields.next()?)?;
    let scheduled = u64_of(fields.nth(1)?)?;
    (scheduled > 0).then_some((run_ns, scheduled))
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
    // `status` has ~55 lines; only three matter, so a line's fields are split only when its
    // start is one of them.
    for line in lines(text) {
        let (slot, scale) = match line.first() {
            Some(b'V') if line.starts_with(b"VmSwap:") => (&mut s.swap_bytes, 1024),
            Some(b'v') if line.starts_with(b"voluntary_ctxt_switches:") => (&mut s.voluntary, 1),
            Some(b'n') if line.starts_with(b"nonvoluntary_ctxt_switches:") => {
                (&mut s.nonvoluntary, 1)
            }
            _ => continue,
        };
        if let Some(v) = fields(line).nth(1).and_then(u64_of) {
            *slot = v.saturating_mul(scale);
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
    use crate::testing::{Collect, Sample, tree};

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
        let pids = s.tree(10);
        s.sample_group("svc", &pids, &mut sink);
        std::fs::remove_dir_all(dir.path().join("11")).unwrap();
        s.scan();
        let mut sink2 = Collect::default();
        let pids = s.tree(10);
        s.sample_group("svc", &pids, &mut sink2);
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

    /// The fake /proc of [`fake_proc`] with the kernel's `children` files: 1 -> (10, 20),
    /// 10 -> (11, 12), 12 -> 13.
    fn fake_children(dir: &std::path::Path) {
        tree(
            dir,
            &[
                ("1/task/1/children", "10 20 "),
                ("10/task/10/children", "12 11 "),
                ("11/task/11/children", ""),
                ("12/task/12/children", "13 "),
                ("13/task/13/children", ""),
                ("20/task/20/children", ""),
            ],
        );
    }

    fn group(s: &mut ProcessSampler, pids: &[i32]) -> Vec<Sample> {
        let mut sink = Collect::default();
        s.sample_group("g", pids, &mut sink);
        sink.0
    }

    #[test]
    fn trees_through_children_files_read_only_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 100);
        fake_children(dir.path());
        let mut s = ProcessSampler::new(dir.path());
        s.begin_round();
        assert_eq!(s.tree(10), [10, 11, 12, 13]);
        assert_eq!(s.children_files, Some(true));
        // Only the tree's `stat`s were read, and no scan.
        assert!(s.processes().is_empty());
        let mut read: Vec<i32> = s.round.keys().copied().collect();
        read.sort_unstable();
        assert_eq!(read, [10, 11, 12, 13]);
        assert!(s.tree(99).is_empty());
        assert_eq!(s.tree(13), [13]);
        let pids = s.tree(10);
        let walked = group(&mut s, &pids);

        // The same group through a scan's parent links: the same samples.
        let mut t = ProcessSampler::new(dir.path());
        t.scan();
        let pids = t.tree(10);
        assert_eq!(pids, [10, 11, 12, 13]);
        assert_eq!(t.children_files, None, "a scanned round uses its links");
        assert_eq!(group(&mut t, &pids), walked);

        // A process listed twice (reparented during the walk) counts once; a child that
        // exited is left out.
        tree(
            dir.path(),
            &[
                ("11/task/11/children", "13 77 "),
                ("10/task/10/children", "12 11 11 "),
            ],
        );
        s.begin_round();
        assert_eq!(s.tree(10), [10, 11, 12, 13]);

        // A process of two threads: its second thread's children are found too.
        let two_threads = stat(12, "sh", 'D', 10, 1, 700).replace(" 20 0 1 0 ", " 20 0 2 0 ");
        tree(
            dir.path(),
            &[
                ("11/task/11/children", ""),
                ("12/task/12/children", ""),
                ("12/task/14/children", "13 "),
                ("12/stat", &two_threads),
            ],
        );
        s.begin_round();
        assert_eq!(s.tree(10), [10, 11, 12, 13]);
        let threads = group(&mut s, &[12]);
        assert_eq!(threads[1].name, "namedprocess_namegroup_num_threads");
        assert_eq!(threads[1].value, 2.0);

        // `sample_group` reads the `stat`s of pids not read yet this round.
        let mut u = ProcessSampler::new(dir.path());
        u.begin_round();
        let lazy = group(&mut u, &[10, 11, 12, 13, 99]);
        assert_eq!(lazy[0].value, 4.0);
    }

    #[test]
    fn trees_fall_back_to_a_scan_without_children_files() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 100);
        let mut s = ProcessSampler::new(dir.path());
        s.begin_round();
        // A root that is not running tells nothing about the kernel.
        assert!(s.tree(99).is_empty());
        assert_eq!(s.children_files, None);
        assert_eq!(s.tree(10), [10, 11, 12, 13]);
        assert_eq!(s.children_files, Some(false));
        assert_eq!(s.processes().len(), 6, "scanned");
        // Found out once: the next rounds scan straight away.
        fake_children(dir.path());
        s.begin_round();
        assert_eq!(s.tree(12), [12, 13]);
        assert_eq!(s.processes().len(), 6);
    }

    #[test]
    fn patterns_scan_once_a_round_and_read_cmdline_once() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 100);
        fake_children(dir.path());
        let mut s = ProcessSampler::new(dir.path());
        s.begin_round();
        assert_eq!(s.tree(12), [12, 13]);
        assert!(s.processes().is_empty());
        assert_eq!(s.matching(&Regex::new("^worker-long").unwrap()), [11]);
        assert_eq!(s.processes().len(), 6);
        // Within the round, `cmdline` is not read again.
        std::fs::remove_file(dir.path().join("11/cmdline")).unwrap();
        assert_eq!(s.matching(&Regex::new("^worker-long").unwrap()), [11]);
        assert_eq!(s.matching(&Regex::new("^other-").unwrap()), [20]);
        s.set_fd_budget(0);
        s.begin_round();
        assert!(s.matching(&Regex::new("^worker-long").unwrap()).is_empty());
    }

    #[test]
    fn an_idle_process_is_not_read_again_until_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 100);
        let d = dir.path();
        let value = |samples: &[Sample], name: &str, label: &str| {
            samples
                .iter()
                .find(|s| s.name == name && s.labels.iter().any(|(_, v)| v == label))
                .map(|s| s.value)
                .unwrap()
        };
        let voluntary = |samples: &[Sample]| {
            value(
                samples,
                "namedprocess_namegroup_context_switches_total",
                "voluntary",
            )
        };
        let read =
            |samples: &[Sample]| value(samples, "namedprocess_namegroup_read_bytes_total", "g");
        let status = |v: u64| {
            format!("VmSwap: 1 kB\nvoluntary_ctxt_switches: {v}\nnonvoluntary_ctxt_switches: 4\n")
        };
        std::fs::write(d.join("20/schedstat"), "5000 0 7\n").unwrap();
        let mut s = ProcessSampler::new(d);
        s.begin_round();
        let first = group(&mut s, &[20]);
        assert_eq!((voluntary(&first), read(&first)), (3.0, 10.0));
        // Its `status` and `io` change, but `schedstat` says it did not run: the values read
        // last round stand (a real process cannot do that without running).
        std::fs::write(d.join("20/status"), status(30)).unwrap();
        std::fs::write(d.join("20/io"), "read_bytes: 99\nwrite_bytes: 20\n").unwrap();
        s.begin_round();
        assert_eq!(group(&mut s, &[20]), first);
        // It ran: read anew.
        std::fs::write(d.join("20/schedstat"), "6000 0 8\n").unwrap();
        s.begin_round();
        let third = group(&mut s, &[20]);
        assert_eq!((voluntary(&third), read(&third)), (30.0, 99.0));
        // Idle, but its resident size changed (pages swapped out): read anew.
        std::fs::write(d.join("20/status"), status(31)).unwrap();
        std::fs::write(
            d.join("20/stat"),
            stat(20, "other", 'S', 1, 1, 900).replace(" 300 ", " 250 "),
        )
        .unwrap();
        s.begin_round();
        assert_eq!(voluntary(&group(&mut s, &[20])), 31.0);
        // Each round's `status` says `v` switches; the round must report it (read whole).
        let read_whole = |s: &mut ProcessSampler, v: u64| {
            std::fs::write(d.join("20/status"), status(v)).unwrap();
            s.begin_round();
            assert_eq!(voluntary(&group(s, &[20])), v as f64);
        };
        // A kernel without scheduler statistics prints `0 0 0`: read whole each time.
        std::fs::write(d.join("20/schedstat"), "0 0 0\n").unwrap();
        read_whole(&mut s, 40);
        read_whole(&mut s, 41);
        std::fs::write(d.join("20/schedstat"), "6000 0 8\n").unwrap();
        // Two threads: `schedstat` speaks for one of them, so everything is read each time.
        let two = stat(20, "other", 'S', 1, 1, 900).replace(" 20 0 1 0 ", " 20 0 2 0 ");
        std::fs::write(d.join("20/stat"), two).unwrap();
        read_whole(&mut s, 42);
        read_whole(&mut s, 43);
        // Running (state R): its runtime may lag, so it is read whole too.
        let running = stat(20, "other", 'R', 1, 1, 900);
        std::fs::write(d.join("20/stat"), running).unwrap();
        read_whole(&mut s, 44);
        read_whole(&mut s, 45);
    }

    #[test]
    fn kept_files_follow_the_fixture_and_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 100);
        fake_children(dir.path());
        let mut s = ProcessSampler::new(dir.path());
        s.begin_round();
        let pids = s.tree(10);
        let first = group(&mut s, &pids);
        // stat, children, status, io for 4 processes (the fixture's fd/ is listed).
        assert_eq!(s.open_files(), 16);
        fake_proc(dir.path(), 200);
        s.begin_round();
        let pids = s.tree(10);
        let second = group(&mut s, &pids);
        assert_eq!(s.open_files(), 16);
        let user = |samples: &[Sample]| samples[2].value;
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        assert_eq!(user(&second) - user(&first), 100.0 / ticks);
        // No budget: nothing kept open, the same values.
        let mut t = ProcessSampler::new(dir.path());
        t.set_fd_budget(0);
        assert_eq!(t.fd_budget(), 0);
        t.begin_round();
        let pids = t.tree(10);
        let mut again = group(&mut t, &pids);
        assert_eq!(t.open_files(), 0);
        // (t has no history: its CPU counter starts at this round's value.)
        again[2].value = user(&second);
        assert_eq!(again, second);
        // Processes no round reads any more are closed.
        s.begin_round();
        s.begin_round();
        assert_eq!(s.open_files(), 0);
    }
}
