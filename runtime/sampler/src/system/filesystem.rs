//! Mounted file systems: node_exporter's `filesystem` collector.
//!
//! Mounts come from `/proc/1/mounts` (the host's view when ward runs in a container that
//! shares the host's PID namespace), else `/proc/mounts`. Each mount not excluded by mount
//! point or type is stat'ed (`statvfs`) once per round; a (device, type, mount point) seen
//! twice is reported once.
//!
//! A statfs can block forever (a dead NFS server). It runs on a worker thread and the round
//! waits for it at most [`SystemOptions::statfs_timeout`]; past that the mount point is
//! reported with `node_filesystem_device_error 1` and skipped until the blocked call
//! returns, and the worker is abandoned (one parked thread per stuck mount point, as
//! node_exporter parks a goroutine).

use super::{Cx, SystemOptions};
use crate::Sink;
use crate::files::{PROC, ROOTFS, is_gone};
use crate::parse::str_of;
use rustix::fs::StatVfs;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

/// The statfs worker and reused buffers.
pub(crate) struct State {
    statfs: Statfs,
    seen: Vec<[Range<usize>; 3]>,
}

/// The statfs worker and the mount points found stuck.
struct Statfs {
    timeout: Duration,
    worker: Option<Worker>,
    /// (mount point, the abandoned worker's count of finished calls, the count at which the
    /// stuck call has returned).
    stuck: Vec<(String, Arc<AtomicU64>, u64)>,
    /// The path sent to the worker, which sends it back.
    path: String,
}

struct Worker {
    requests: SyncSender<String>,
    replies: Receiver<(String, rustix::io::Result<StatVfs>)>,
    finished: Arc<AtomicU64>,
    sent: u64,
}

impl State {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            statfs: Statfs {
                timeout,
                worker: None,
                stuck: Vec::new(),
                path: String::with_capacity(256),
            },
            seen: Vec::new(),
        }
    }
}

pub(super) fn collect(cx: &mut Cx, state: &mut State, opts: &SystemOptions, sink: &mut dyn Sink) {
    match cx.files.read_dyn(PROC, "1/mounts", &mut cx.buf) {
        Ok(()) => {}
        Err(e) if is_gone(&e) => {
            if !cx.read_proc("mounts") {
                return;
            }
        }
        Err(e) => {
            cx.files.note_missing(PROC, "1/mounts", &e);
            return;
        }
    }
    let Some(rootfs) = cx.files.root(ROOTFS).to_str() else {
        return;
    };
    let rootfs = rootfs.trim_end_matches('/');
    let statfs = &mut state.statfs;
    parse(
        &mut cx.buf,
        opts,
        &mut state.seen,
        sink,
        &mut |mountpoint| {
            statfs.path.clear();
            statfs.path.push_str(rootfs);
            statfs.path.push_str(mountpoint);
            stat(statfs, mountpoint)
        },
    );
}

/// What the round learnt of a mount point.
pub(crate) enum Stat {
    Ok(StatVfs),
    Error,
}

/// Walks a mount table, unescaping mount points in place, and reports each mount kept,
/// stat'ed through `stat`.
pub(crate) fn parse(
    buf: &mut [u8],
    opts: &SystemOptions,
    seen: &mut Vec<[Range<usize>; 3]>,
    sink: &mut dyn Sink,
    stat: &mut dyn FnMut(&str) -> Stat,
) {
    seen.clear();
    let mut start = 0;
    while start < buf.len() {
        let end = buf[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| start + i);
        let line = start..end;
        start = end + 1;
        let Some([device, mountpoint, fstype, options]) = four_fields(buf, line) else {
            continue;
        };
        let len = unescape(&mut buf[mountpoint.clone()]);
        let mountpoint = mountpoint.start..mountpoint.start + len;
        let b: &[u8] = buf;
        let (Some(dev), Some(mp), Some(fs)) = (
            str_of(&b[device.clone()]),
            str_of(&b[mountpoint.clone()]),
            str_of(&b[fstype.clone()]),
        ) else {
            continue;
        };
        if opts.mount_points_exclude.is_match(mp) || opts.fs_types_exclude.is_match(fs) {
            continue;
        }
        let key = [device, mountpoint, fstype];
        if seen.iter().any(|k| {
            k.iter()
                .zip(&key)
                .all(|(a, b)| buf[a.clone()] == buf[b.clone()])
        }) {
            continue;
        }
        seen.push(key);
        let labels = [("device", dev), ("fstype", fs), ("mountpoint", mp)];
        let st = match stat(mp) {
            Stat::Ok(st) => st,
            Stat::Error => {
                sink.sample("node_filesystem_device_error", &labels, 1.0);
                continue;
            }
        };
        let ro = b[options].split(|&c| c == b',').any(|o| o == b"ro");
        let bsize = st.f_bsize as f64;
        sink.sample("node_filesystem_device_error", &labels, 0.0);
        sink.sample(
            "node_filesystem_size_bytes",
            &labels,
            st.f_blocks as f64 * bsize,
        );
        sink.sample(
            "node_filesystem_free_bytes",
            &labels,
            st.f_bfree as f64 * bsize,
        );
        sink.sample(
            "node_filesystem_avail_bytes",
            &labels,
            st.f_bavail as f64 * bsize,
        );
        sink.sample("node_filesystem_files", &labels, st.f_files as f64);
        sink.sample("node_filesystem_files_free", &labels, st.f_ffree as f64);
        sink.sample("node_filesystem_readonly", &labels, f64::from(u8::from(ro)));
    }
}

fn four_fields(buf: &[u8], line: Range<usize>) -> Option<[Range<usize>; 4]> {
    let mut out: [Range<usize>; 4] = Default::default();
    let mut i = line.start;
    for slot in &mut out {
        while i < line.end && buf[i].is_ascii_whitespace() {
            i += 1;
        }
        let s = i;
        while i < line.end && !buf[i].is_ascii_whitespace() {
            i += 1;
        }
        if s == i {
            return None;
        }
        *slot = s..i;
    }
    Some(out)
}

/// Replaces `\040` by a space and `\011` by a tab (what node_exporter unescapes), in place;
/// returns the new length.
fn unescape(field: &mut [u8]) -> usize {
    let (mut r, mut w) = (0, 0);
    while r < field.len() {
        let c = match field.get(r..r + 4) {
            Some(b"\\040") => Some(b' '),
            Some(b"\\011") => Some(b'\t'),
            _ => None,
        };
        match c {
            Some(c) => {
                field[w] = c;
                r += 4;
            }
            None => {
                field[w] = field[r];
                r += 1;
            }
        }
        w += 1;
    }
    w
}

/// statfs of `state.path` (for mount point `mountpoint`) with the bounded wait.
fn stat(state: &mut Statfs, mountpoint: &str) -> Stat {
    state
        .stuck
        .retain(|(_, finished, at)| finished.load(Ordering::Acquire) < *at);
    if state.stuck.iter().any(|(m, _, _)| m == mountpoint) {
        return Stat::Error;
    }
    if state.worker.is_none() {
        state.worker = Worker::spawn();
    }
    let Some(worker) = &mut state.worker else {
        // No thread to be had: stat inline, unbounded.
        return match rustix::fs::statvfs(state.path.as_str()) {
            Ok(st) => Stat::Ok(st),
            Err(_) => Stat::Error,
        };
    };
    let request = std::mem::take(&mut state.path);
    if worker.requests.send(request).is_err() {
        state.worker = None;
        return Stat::Error;
    }
    worker.sent += 1;
    match worker.replies.recv_timeout(state.timeout) {
        Ok((path, result)) => {
            state.path = path;
            match result {
                Ok(st) => Stat::Ok(st),
                Err(_) => Stat::Error,
            }
        }
        Err(RecvTimeoutError::Timeout) => {
            tracing::warn!(
                mountpoint,
                timeout = ?state.timeout,
                "statfs did not return in time: the mount point is reported as failed until it does"
            );
            let sent = worker.sent;
            state
                .stuck
                .push((mountpoint.to_owned(), worker.finished.clone(), sent));
            state.worker = None;
            Stat::Error
        }
        Err(RecvTimeoutError::Disconnected) => {
            state.worker = None;
            Stat::Error
        }
    }
}

impl Worker {
    fn spawn() -> Option<Self> {
        let (requests, rx) = mpsc::sync_channel::<String>(1);
        let (tx, replies) = mpsc::sync_channel(1);
        let finished = Arc::new(AtomicU64::new(0));
        let done = finished.clone();
        std::thread::Builder::new()
            .name("ward-statfs".into())
            .spawn(move || {
                for path in rx {
                    let result = rustix::fs::statvfs(path.as_str());
                    done.fetch_add(1, Ordering::Release);
                    if tx.send((path, result)).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Self {
            requests,
            replies,
            finished,
            sent: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    const MOUNTS: &str = "proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
/dev/vda / ext4 rw,relatime,discard 0 0
tmpfs /dev/shm tmpfs rw,relatime 0 0
/dev/vdb /mnt/my\\040disk\\011x ext4 ro,relatime 0 0
/dev/vda / ext4 rw,relatime,discard 0 0
/dev/vdc /data xfs rw 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0
overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0
short line
";

    fn statvfs(blocks: u64) -> StatVfs {
        StatVfs {
            f_bsize: 4096,
            f_frsize: 4096,
            f_blocks: blocks,
            f_bfree: 50,
            f_bavail: 40,
            f_files: 1000,
            f_ffree: 900,
            f_favail: 900,
            f_fsid: 0,
            f_flag: rustix::fs::StatVfsMountFlags::empty(),
            f_namemax: 255,
        }
    }

    #[test]
    fn mounts_kept_unescaped_and_deduplicated() {
        let mut buf = MOUNTS.as_bytes().to_vec();
        buf.extend_from_slice(b"\xff /bad ext4 rw 0 0\n");
        let mut sink = Collect::default();
        let mut asked = Vec::new();
        parse(
            &mut buf,
            &SystemOptions::default(),
            &mut Vec::new(),
            &mut sink,
            &mut |mp: &str| {
                asked.push(mp.to_string());
                if mp == "/data" {
                    Stat::Error
                } else {
                    Stat::Ok(statvfs(100))
                }
            },
        );
        assert_eq!(asked, ["/", "/mnt/my disk\tx", "/data"]);
        let root = [
            ("device", "/dev/vda"),
            ("fstype", "ext4"),
            ("mountpoint", "/"),
        ];
        assert_eq!(
            sink.get("node_filesystem_size_bytes", &root),
            Some(409600.0)
        );
        assert_eq!(
            sink.get("node_filesystem_free_bytes", &root),
            Some(204800.0)
        );
        assert_eq!(
            sink.get("node_filesystem_avail_bytes", &root),
            Some(163840.0)
        );
        assert_eq!(sink.get("node_filesystem_files", &root), Some(1000.0));
        assert_eq!(sink.get("node_filesystem_files_free", &root), Some(900.0));
        assert_eq!(sink.get("node_filesystem_readonly", &root), Some(0.0));
        assert_eq!(sink.get("node_filesystem_device_error", &root), Some(0.0));
        let disk = [("mountpoint", "/mnt/my disk\tx")];
        assert_eq!(sink.get("node_filesystem_readonly", &disk), Some(1.0));
        let data = [("mountpoint", "/data")];
        assert_eq!(sink.get("node_filesystem_device_error", &data), Some(1.0));
        assert_eq!(sink.get("node_filesystem_size_bytes", &data), None);
        assert_eq!(sink.0.len(), 7 + 7 + 1);
    }

    #[test]
    fn statfs_of_this_machine_and_a_stuck_one() {
        let mut state = State::new(Duration::from_secs(5)).statfs;
        let at = |state: &mut Statfs, path: &str| {
            state.path.clear();
            state.path.push_str(path);
            stat(state, path)
        };
        assert!(matches!(at(&mut state, "/"), Stat::Ok(_)));
        assert!(matches!(at(&mut state, "/no/such/dir"), Stat::Error));
        assert!(matches!(at(&mut state, "/"), Stat::Ok(_)));
        // A mount point marked stuck whose call has not returned is not stat'ed again.
        let never = Arc::new(AtomicU64::new(0));
        state.stuck.push(("/".into(), never.clone(), 1));
        assert!(matches!(at(&mut state, "/"), Stat::Error));
        // Once it returned, it is.
        never.store(1, Ordering::Release);
        assert!(matches!(at(&mut state, "/"), Stat::Ok(_)));
        assert!(state.stuck.is_empty());
    }

    #[test]
    fn a_statfs_that_does_not_return_in_time() {
        // A worker that takes requests and never answers: a statfs blocked on a dead server.
        let mut state = State::new(Duration::from_millis(50)).statfs;
        let (requests, _pending) = mpsc::sync_channel::<String>(1);
        let (_never, replies) = mpsc::sync_channel(1);
        state.worker = Some(Worker {
            requests,
            replies,
            finished: Arc::new(AtomicU64::new(0)),
            sent: 0,
        });
        state.path.push('/');
        assert!(matches!(stat(&mut state, "/"), Stat::Error));
        assert_eq!(state.stuck.len(), 1);
        assert!(state.worker.is_none());
        // Still stuck next round: not asked again.
        assert!(matches!(stat(&mut state, "/"), Stat::Error));
    }
}
