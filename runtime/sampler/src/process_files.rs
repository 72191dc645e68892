//! The files of `/proc/<pid>` that [`ProcessSampler`](crate::ProcessSampler) reads every
//! round, kept open from round to round.
//!
//! Opening a file under `/proc/<pid>` costs more than generating its text for most of them
//! (a path lookup through the pid directory, a file and a seq_file set up and torn down):
//! on the bench machine `stat` costs 11 us opened, read and closed, 3.7 us read again through
//! a file kept open; `io` 6.4 us and 1.4 us. An open procfs file of a process stays bound to
//! that process (its `struct pid`), not to the number: reading it at offset 0 (`pread`) makes
//! the kernel generate the text afresh, and once the process has exited the read fails with
//! `ESRCH`, whereupon its files are closed (a new process that got the pid is opened anew by
//! path). A process's files are closed when a round ends without anyone reading them.
//!
//! Open files count against the process's `RLIMIT_NOFILE`, so they are capped by a budget
//! ([`ProcFiles::budget`], by default a quarter of the soft limit, at most 4096); past it,
//! files are opened, read and closed each time as before. Each kept file also keeps its
//! seq_file buffer (a page) in the kernel.
//!
//! Open fd counts come from `stat("/proc/<pid>/fd")`, whose size is the number of open fds
//! on Linux 6.2 and later (one syscall instead of listing the directory). Whether the kernel
//! does so is found out once, on `/proc/self/fd` (this process always has an fd open: the
//! `/proc` directory it reads through); on older kernels, on file systems that are not
//! procfs (test fixtures) and for a process whose size says 0, the directory is listed.

use crate::files::{Files, PROC, each_entry, is_gone, pread_to_end};
use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, Mode, OFlags, fstat, openat, statat};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

/// A file of `/proc/<pid>` kept open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Stat = 0,
    Status = 1,
    Io = 2,
    /// `task/<pid>/children`: the children of the process's main thread.
    Children = 3,
    Cmdline = 4,
    /// `fd`, opened as a path (`O_PATH`) for `fstat`.
    FdDir = 5,
    Schedstat = 6,
}

const KINDS: usize = 7;

impl Kind {
    /// Appends the path of this file of process `pid`, relative to `/proc`.
    fn push_path(self, path: &mut String, pid: i32) {
        let _ = match self {
            Kind::Stat => write!(path, "{pid}/stat"),
            Kind::Status => write!(path, "{pid}/status"),
            Kind::Io => write!(path, "{pid}/io"),
            Kind::Children => write!(path, "{pid}/task/{pid}/children"),
            Kind::Cmdline => write!(path, "{pid}/cmdline"),
            Kind::FdDir => write!(path, "{pid}/fd"),
            Kind::Schedstat => write!(path, "{pid}/schedstat"),
        };
    }
}

/// A process's open files, and the last round that used them.
struct Held {
    used: u64,
    fds: [Option<OwnedFd>; KINDS],
}

/// Reads the files of `/proc/<pid>`, keeping them open within a budget (see the
/// [module docs](self)).
pub(crate) struct ProcFiles {
    files: Files,
    /// Whether the root is procfs (asked once).
    procfs: Option<bool>,
    /// Whether `stat` of `<pid>/fd` gives the number of open fds (found out once).
    fd_count_by_size: Option<bool>,
    held: HashMap<i32, Held>,
    /// Files kept open, over all of `held`.
    open: usize,
    budget: usize,
    round: u64,
    path: String,
    scratch: Vec<u8>,
}

/// The default budget of kept-open files: a quarter of the soft `RLIMIT_NOFILE`, at most 4096.
fn default_budget() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    usize::try_from(soft.map_or(u64::MAX, |s| s / 4))
        .unwrap_or(usize::MAX)
        .min(4096)
}

impl ProcFiles {
    pub fn new(root: PathBuf) -> Self {
        Self {
            files: Files::new([root]),
            procfs: None,
            fd_count_by_size: None,
            held: HashMap::new(),
            open: 0,
            budget: default_budget(),
            round: 0,
            path: String::with_capacity(64),
            scratch: Vec::new(),
        }
    }

    /// The files under the root, for what is not a process's file.
    pub fn files(&mut self) -> &mut Files {
        &mut self.files
    }

    /// How many files may be kept open.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Files kept open now.
    pub fn open(&self) -> usize {
        self.open
    }

    /// Sets how many files may be kept open, closing them all when more are open.
    pub fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
        if self.open > budget {
            self.held.clear();
            self.open = 0;
        }
    }

    /// Starts a round: the files of processes that the last round did not read are closed.
    pub fn begin_round(&mut self) {
        self.round += 1;
        let keep_from = self.round - 1;
        let mut closed = 0;
        self.held.retain(|_, h| {
            let keep = h.used >= keep_from;
            if !keep {
                closed += h.fds.iter().flatten().count();
            }
            keep
        });
        self.open -= closed;
    }

    fn procfs(&mut self) -> bool {
        if let Some(p) = self.procfs {
            return p;
        }
        let p = self.files.is_procfs(PROC);
        self.procfs = Some(p);
        p
    }

    /// Reads file `kind` of process `pid` into `buf` (cleared first).
    pub fn read(&mut self, pid: i32, kind: Kind, buf: &mut Vec<u8>) -> io::Result<()> {
        let short_is_end = self.procfs();
        buf.clear();
        let round = self.round;
        let held = self.held.entry(pid).or_insert_with(|| Held {
            used: round,
            fds: Default::default(),
        });
        held.used = round;
        if let Some(fd) = &held.fds[kind as usize] {
            match pread_to_end(fd, buf, short_is_end) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    buf.clear();
                    if is_gone(&e) {
                        // The process has exited: all its files are dead. Only its `stat`
                        // is opened again by path, to find a new process that got the pid.
                        self.forget(pid);
                        if kind != Kind::Stat {
                            return Err(e);
                        }
                    } else {
                        held.fds[kind as usize] = None;
                        self.open -= 1;
                    }
                }
            }
        }
        let fd = self.open_file(pid, kind, OFlags::RDONLY)?;
        pread_to_end(&fd, buf, short_is_end)?;
        self.keep(pid, kind, fd);
        Ok(())
    }

    fn open_file(&mut self, pid: i32, kind: Kind, flags: OFlags) -> io::Result<OwnedFd> {
        self.path.clear();
        kind.push_path(&mut self.path, pid);
        Ok(openat(
            self.files.dir(PROC)?,
            self.path.as_str(),
            flags | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )?)
    }

    /// Keeps `fd` open as file `kind` of `pid` when the budget allows.
    fn keep(&mut self, pid: i32, kind: Kind, fd: OwnedFd) {
        if self.open >= self.budget {
            return;
        }
        let round = self.round;
        let held = self.held.entry(pid).or_insert_with(|| Held {
            used: round,
            fds: Default::default(),
        });
        held.used = round;
        let slot = &mut held.fds[kind as usize];
        if slot.is_none() {
            self.open += 1;
        }
        *slot = Some(fd);
    }

    /// Closes the files of `pid`.
    pub fn forget(&mut self, pid: i32) {
        if let Some(h) = self.held.remove(&pid) {
            self.open -= h.fds.iter().flatten().count();
        }
    }

    /// Reads `rel` (relative to `/proc`, not kept open) into `buf` (cleared first).
    pub fn read_path(&mut self, rel: &str, buf: &mut Vec<u8>) -> io::Result<()> {
        let short_is_end = self.procfs();
        buf.clear();
        let fd = openat(
            self.files.dir(PROC)?,
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )?;
        pread_to_end(&fd, buf, short_is_end)
    }

    /// Whether `rel` (relative to `/proc`) exists.
    pub fn exists(&mut self, rel: &str) -> bool {
        self.files
            .dir(PROC)
            .is_ok_and(|d| statat(d, rel, AtFlags::empty()).is_ok())
    }

    /// Calls `f` with each entry of directory `rel` (relative to `/proc`) but `.` and `..`.
    pub fn each_entry(&mut self, rel: &str, f: impl FnMut(&[u8])) -> io::Result<()> {
        let dir = self.files.open_dir(PROC, rel)?;
        each_entry(&dir, &mut self.scratch, f)
    }

    /// The number of open fds of process `pid` (see the [module docs](self)).
    pub fn fd_count(&mut self, pid: i32) -> io::Result<u64> {
        let size = if self.counts_fds_by_size() {
            Some(self.fd_dir_size(pid))
        } else {
            None
        };
        fd_count_from(size, || {
            self.path.clear();
            Kind::FdDir.push_path(&mut self.path, pid);
            let dir = self.files.open_dir(PROC, &self.path)?;
            let mut n = 0u64;
            each_entry(&dir, &mut self.scratch, |_| n += 1)?;
            Ok(n)
        })
    }

    fn counts_fds_by_size(&mut self) -> bool {
        if let Some(b) = self.fd_count_by_size {
            return b;
        }
        let b = self.procfs()
            && self
                .files
                .dir(PROC)
                .is_ok_and(|d| statat(d, "self/fd", AtFlags::empty()).is_ok_and(|s| s.st_size > 0));
        self.fd_count_by_size = Some(b);
        b
    }

    /// The size `stat` gives `<pid>/fd`, through a kept `O_PATH` descriptor when there is one.
    fn fd_dir_size(&mut self, pid: i32) -> io::Result<u64> {
        let size = |st: rustix::fs::Stat| u64::try_from(st.st_size).unwrap_or(0);
        if let Some(fd) = self
            .held
            .get(&pid)
            .and_then(|h| h.fds[Kind::FdDir as usize].as_ref())
        {
            match fstat(fd) {
                Ok(st) => return Ok(size(st)),
                Err(e) => {
                    self.forget(pid);
                    return Err(e.into());
                }
            }
        }
        if self.open >= self.budget {
            // Nothing more can be kept: one `statat` instead of open, `fstat`, close.
            self.path.clear();
            Kind::FdDir.push_path(&mut self.path, pid);
            let st = statat(self.files.dir(PROC)?, self.path.as_str(), AtFlags::empty())?;
            return Ok(size(st));
        }
        let fd = self.open_file(pid, Kind::FdDir, OFlags::PATH | OFlags::DIRECTORY)?;
        let n = size(fstat(&fd)?);
        self.keep(pid, Kind::FdDir, fd);
        Ok(n)
    }
}

/// An open fd count from `size`, `stat`'s size of `<pid>/fd` when the kernel counts fds there
/// (`None` when it does not), else from `list`ing the directory. A size of 0 is listed too:
/// the process may have no fds, or the kernel may not count them for it.
pub(crate) fn fd_count_from(
    size: Option<io::Result<u64>>,
    list: impl FnOnce() -> io::Result<u64>,
) -> io::Result<u64> {
    match size {
        Some(Ok(n)) if n > 0 => Ok(n),
        Some(Err(e)) => Err(e),
        Some(Ok(_)) | None => list(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tree;
    use std::process::{Command, Stdio};

    #[test]
    fn counts_fds_by_size_or_by_listing() {
        let gone = || io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(fd_count_from(Some(Ok(7)), || Ok(99)).unwrap(), 7);
        // A size of 0 (an old kernel, or no count for this process): listed.
        assert_eq!(fd_count_from(Some(Ok(0)), || Ok(3)).unwrap(), 3);
        // A kernel that does not count: listed.
        assert_eq!(fd_count_from(None, || Ok(4)).unwrap(), 4);
        assert!(fd_count_from(Some(Err(gone())), || Ok(1)).is_err());
        assert!(fd_count_from(None, || Err(gone())).is_err());

        // A fixture (not procfs): the directory is listed, whatever its size says.
        let dir = tempfile::tempdir().unwrap();
        tree(
            dir.path(),
            &[("5/fd/0", ""), ("5/fd/1", ""), ("5/fd/7", "")],
        );
        let mut f = ProcFiles::new(dir.path().to_path_buf());
        assert_eq!(f.fd_count(5).unwrap(), 3);
        assert!(f.fd_count(6).is_err());

        // The real thing: a sleeping child (stdin, stdout, stderr, and whatever fds other
        // tests' threads had open without close-on-exec when it forked).
        let mut f = ProcFiles::new("/proc".into());
        if !f.files.is_procfs(PROC) {
            return;
        }
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let by_stat = f.fd_count(pid).unwrap();
        assert_eq!(f.open(), 1, "fd/ kept open");
        let mut g = ProcFiles::new("/proc".into());
        g.set_budget(0);
        assert_eq!(g.fd_count(pid).unwrap(), by_stat, "no budget: statat");
        assert_eq!(g.open(), 0);
        f.fd_count_by_size = Some(false);
        let by_listing = f.fd_count(pid).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(by_stat >= 3, "{by_stat}");
        assert_eq!(by_stat, by_listing);
        f.fd_count_by_size = None;
        assert!(f.fd_count(pid).is_err(), "reaped");
    }

    #[test]
    fn kept_files_read_fresh_text_and_close_when_the_process_exits() {
        let mut f = ProcFiles::new("/proc".into());
        if !f.files.is_procfs(PROC) {
            return;
        }
        let mut child = Command::new("sh")
            .args(["-c", "read x; sleep 30"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let mut buf = Vec::new();
        f.begin_round();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // sh waits in `read`, without children, then starts `sleep`: the kept `children`
        // file shows it.
        f.read(pid, Kind::Children, &mut buf).unwrap();
        assert_eq!(buf, b"");
        assert_eq!(f.open(), 1);
        if let Some(stdin) = child.stdin.as_mut() {
            use std::io::Write as _;
            stdin.write_all(b"go\n").unwrap();
        }
        loop {
            f.read(pid, Kind::Children, &mut buf).unwrap();
            if !buf.is_empty() || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!buf.is_empty());
        assert_eq!(f.open(), 1);
        f.read(pid, Kind::Stat, &mut buf).unwrap();
        f.read(pid, Kind::Status, &mut buf).unwrap();
        assert!(buf.starts_with(b"Name:\tsh\n"), "{buf:?}");
        assert_eq!(f.open(), 3);

        let _ = child.kill();
        let _ = child.wait();
        assert!(f.read(pid, Kind::Status, &mut buf).is_err());
        assert_eq!(f.open(), 0, "the exited process's files are closed");

        // Files unread for a whole round are closed; a budget caps them.
        f.set_budget(1);
        f.begin_round();
        f.read(std::process::id() as i32, Kind::Stat, &mut buf)
            .unwrap();
        f.read(std::process::id() as i32, Kind::Io, &mut buf)
            .unwrap();
        assert_eq!(f.open(), 1);
        assert!(!buf.is_empty());
        f.begin_round();
        assert_eq!(f.open(), 1);
        f.begin_round();
        assert_eq!(f.open(), 0);
    }
}
