//! Reading files under a sampler's roots (`/proc`, `/sys`, `/`) into reused buffers.
//!
//! Each root is opened once as a directory and files are opened relative to it (`openat`),
//! so a read is open + read(s) + close, with the path on the stack and the bytes in a buffer
//! the caller keeps between rounds.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{CWD, Mode, OFlags, RawDir, openat};
use std::io;
use std::path::{Path, PathBuf};

/// Index of a root in [`Files`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Root(usize);

/// The proc file system (`/proc`).
pub(crate) const PROC: Root = Root(0);
/// The sys file system (`/sys`).
pub(crate) const SYS: Root = Root(1);
/// The root file system (`/`), for `etc/os-release`.
pub(crate) const ROOTFS: Root = Root(2);

struct Dir {
    path: PathBuf,
    fd: Option<OwnedFd>,
}

/// The roots, and the files of fixed path found unreadable so far.
pub(crate) struct Files {
    dirs: Vec<Dir>,
    missing: Vec<PathBuf>,
    missing_keys: Vec<(Root, &'static str)>,
}

impl Files {
    /// Roots in the order of [`PROC`], [`SYS`], [`ROOTFS`] (a prefix of them is fine).
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> Self {
        Self {
            dirs: roots
                .into_iter()
                .map(|path| Dir { path, fd: None })
                .collect(),
            missing: Vec::new(),
            missing_keys: Vec::new(),
        }
    }

    /// The path of a root.
    pub fn root(&self, root: Root) -> &Path {
        self.dirs.get(root.0).map_or(Path::new(""), |d| &d.path)
    }

    /// Files of fixed path that could not be read, each once, in the order they were found.
    pub fn missing(&self) -> &[PathBuf] {
        &self.missing
    }

    /// Reads `root/rel` into `buf` (cleared first). A file that cannot be read is logged and
    /// listed once, and `false` is returned every time.
    pub fn read(&mut self, root: Root, rel: &'static str, buf: &mut Vec<u8>) -> bool {
        match self.read_dyn(root, rel, buf) {
            Ok(()) => true,
            Err(e) => {
                self.note_missing(root, rel, &e);
                false
            }
        }
    }

    /// Records `root/rel` as unreadable, logging it the first time.
    pub fn note_missing(&mut self, root: Root, rel: &'static str, error: &io::Error) {
        if self.missing_keys.contains(&(root, rel)) {
            return;
        }
        let path = self.root(root).join(rel);
        tracing::warn!(
            path = %path.display(),
            %error,
            "cannot read a kernel file: its metrics are skipped while it stays unreadable"
        );
        self.missing_keys.push((root, rel));
        self.missing.push(path);
    }

    /// Reads `root/rel` into `buf` (cleared first), for files that may come and go (a
    /// process's, an interface's): nothing is logged.
    pub fn read_dyn(&mut self, root: Root, rel: &str, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        self.append_dyn(root, rel, buf)
    }

    /// Appends the content of `root/rel` to `buf`.
    pub fn append_dyn(&mut self, root: Root, rel: &str, buf: &mut Vec<u8>) -> io::Result<()> {
        let fd = openat(
            self.dir(root)?,
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )?;
        read_to_end(&fd, buf)
    }

    /// Opens `root/rel` as a directory, for [`each_entry`].
    pub fn open_dir(&mut self, root: Root, rel: &str) -> io::Result<OwnedFd> {
        Ok(openat(
            self.dir(root)?,
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Whether `root` is a proc file system (`fstatfs`), asked once per root directory.
    pub fn is_procfs(&mut self, root: Root) -> bool {
        self.dir(root)
            .and_then(|fd| Ok(rustix::fs::fstatfs(fd)?))
            .is_ok_and(|s| s.f_type == rustix::fs::PROC_SUPER_MAGIC)
    }

    /// The open directory of `root`, for `openat` and `statat` relative to it.
    pub fn dir(&mut self, root: Root) -> io::Result<&OwnedFd> {
        let dir = self
            .dirs
            .get_mut(root.0)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        match &mut dir.fd {
            Some(fd) => Ok(fd),
            slot @ None => {
                let fd = openat(
                    CWD,
                    &dir.path,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                Ok(slot.insert(fd))
            }
        }
    }
}

/// Reads `fd` to its end, appending to `buf` (whose capacity is kept between calls).
pub(crate) fn read_to_end(fd: &OwnedFd, buf: &mut Vec<u8>) -> io::Result<()> {
    loop {
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(buf.capacity().max(4096));
        }
        let n = rustix::io::read(fd, rustix::buffer::spare_capacity(buf))?;
        if n == 0 {
            return Ok(());
        }
    }
}

/// Below this many bytes read, a read of a procfs file that returned less than the room it
/// was given has reached the end of the file (see [`pread_to_end`]).
pub(crate) const SHORT_READ_IS_END_BELOW: usize = 2048;

/// Reads `fd` from offset 0 to its end with `pread`, appending to `buf` (whose capacity is
/// kept between calls). An open procfs file read again at offset 0 is generated afresh.
///
/// With `procfs_short_read_is_end`, a read that returns less than the room it was given ends
/// the file when fewer than [`SHORT_READ_IS_END_BELOW`] bytes were read in all, which saves
/// the read that would return 0. That holds for procfs's seq_file files: a one-record file
/// (`stat`, `status`, `io`: `single_open`) hands over its whole text in the first read when
/// the room allows, and a many-record one (`task/<tid>/children`) stops a read early only when
/// its page-sized kernel buffer is full, i.e. past ~4 KiB. Above that size, or for other
/// files, reading goes on until a read returns 0.
pub(crate) fn pread_to_end(
    fd: impl AsFd,
    buf: &mut Vec<u8>,
    procfs_short_read_is_end: bool,
) -> io::Result<()> {
    let mut offset = 0u64;
    let mut total = 0usize;
    loop {
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(buf.capacity().max(4096));
        }
        let room = buf.capacity() - buf.len();
        let n = rustix::io::pread(&fd, rustix::buffer::spare_capacity(buf), offset)?;
        if n == 0 {
            return Ok(());
        }
        total += n;
        offset += n as u64;
        if procfs_short_read_is_end && n < room && total < SHORT_READ_IS_END_BELOW {
            return Ok(());
        }
    }
}

/// Calls `f` with the name of each entry of directory `dir` but `.` and `..`, listing it
/// through `scratch` (no allocation once `scratch` has grown). Stops at the first error.
pub(crate) fn each_entry(
    dir: impl AsFd,
    scratch: &mut Vec<u8>,
    mut f: impl FnMut(&[u8]),
) -> io::Result<()> {
    scratch.clear();
    if scratch.capacity() < 8192 {
        scratch.reserve(8192);
    }
    let mut entries = RawDir::new(dir, scratch.spare_capacity_mut());
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            f(name);
        }
    }
    Ok(())
}

/// Whether `e` means the thing is gone (a process or interface that went away).
pub(crate) fn is_gone(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound)
        || e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_lists_missing_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "x".repeat(10_000)).unwrap();
        let mut files = Files::new([dir.path().to_path_buf()]);
        let mut buf = Vec::new();
        assert!(files.read(PROC, "a", &mut buf));
        assert_eq!(buf.len(), 10_000);
        assert!(!files.read(PROC, "b", &mut buf));
        assert!(!files.read(PROC, "b", &mut buf));
        assert_eq!(files.missing(), &[dir.path().join("b")]);
        // A root that does not exist: everything is missing, nothing panics.
        let mut files = Files::new([dir.path().join("nope")]);
        assert!(!files.read(PROC, "a", &mut buf));
        assert_eq!(files.missing().len(), 1);
        // A root index that was never given.
        assert!(!files.read(SYS, "a", &mut buf));
    }

    #[test]
    fn preads_whole_files_in_one_read_or_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("small"), "x".repeat(100)).unwrap();
        std::fs::write(dir.path().join("big"), "y".repeat(10_000)).unwrap();
        let mut files = Files::new([dir.path().to_path_buf()]);
        assert!(!files.is_procfs(PROC));
        let mut buf = Vec::new();
        for (name, len) in [("small", 100), ("big", 10_000)] {
            let fd = openat(
                files.dir(PROC).unwrap(),
                name,
                OFlags::RDONLY,
                Mode::empty(),
            )
            .unwrap();
            for short_is_end in [false, true] {
                for _ in 0..2 {
                    buf.clear();
                    pread_to_end(&fd, &mut buf, short_is_end).unwrap();
                    assert_eq!(buf.len(), len, "{name} {short_is_end}");
                }
            }
        }
        // A procfs file of many records and more than a page (a sleeping child's `smaps`,
        // which does not change): the short-read rule must not cut it.
        let mut proc = Files::new([PathBuf::from("/proc")]);
        if !proc.is_procfs(PROC) {
            return;
        }
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let rel = format!("{}/smaps", child.id());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let whole = std::fs::read(Path::new("/proc").join(&rel)).unwrap();
        let fd = openat(
            proc.dir(PROC).unwrap(),
            rel.as_str(),
            OFlags::RDONLY,
            Mode::empty(),
        )
        .unwrap();
        buf.clear();
        pread_to_end(&fd, &mut buf, true).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(whole.len() > 4096, "{}", whole.len());
        assert_eq!(buf, whole);
    }

    #[test]
    fn lists_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["x", "y", "z"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let mut files = Files::new([dir.path().to_path_buf()]);
        let fd = files.open_dir(PROC, ".").unwrap();
        let mut names = Vec::new();
        each_entry(&fd, &mut Vec::new(), |n| names.push(n.to_vec())).unwrap();
        names.sort();
        assert_eq!(names, vec![b"x".to_vec(), b"y".to_vec(), b"z".to_vec()]);
    }
}
