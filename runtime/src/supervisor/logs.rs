//! A service's output: its log file `<logs dir>/<service>.log`, rotated by size
//! (`<service>.log.1` is the newest rotated file), and the last lines kept in memory for the
//! API. Lines longer than [`MAX_LINE`] are cut into several.

use serde::Serialize;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::net::unix::pipe;

/// Longest line kept whole, in bytes.
pub const MAX_LINE: usize = 16 << 10;
/// Lines kept in memory per service.
pub const TAIL_LINES: usize = 1000;

/// One line of output.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogLine {
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// When ward read it (RFC 3339).
    pub time: String,
    /// The text (invalid UTF-8 replaced).
    pub line: String,
}

/// The log file and tail of one service; shared by the tasks that drain its pipes.
pub struct ServiceLog {
    path: PathBuf,
    max_bytes: u64,
    backups: u32,
    file: Mutex<Option<(File, u64)>>,
    tail: Mutex<VecDeque<LogLine>>,
}

impl ServiceLog {
    /// The log of service `name` in `dir`, rotated at `max_bytes`, keeping `backups` files.
    pub fn new(dir: &Path, name: &str, max_bytes: u64, backups: u32) -> Self {
        Self {
            path: dir.join(format!("{name}.log")),
            max_bytes,
            backups,
            file: Mutex::new(None),
            tail: Mutex::new(VecDeque::new()),
        }
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<LogLine> {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.iter()
            .skip(tail.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// Appends a line to the file (rotating first when it is full) and to the tail.
    pub fn push(&self, stream: &'static str, line: &[u8]) {
        let text = String::from_utf8_lossy(line).into_owned();
        if let Err(e) = self.write_file(line) {
            tracing::warn!(path = %self.path.display(), "cannot write the service log: {e}");
        }
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(LogLine {
            stream,
            time: crate::plugin::registry::rfc3339(std::time::SystemTime::now()),
            line: text,
        });
    }

    fn write_file(&self, line: &[u8]) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard
            .as_ref()
            .is_some_and(|(_, size)| *size >= self.max_bytes)
        {
            *guard = None;
            self.rotate()?;
        }
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let size = file.metadata()?.len();
            *guard = Some((file, size));
        }
        if let Some((file, size)) = guard.as_mut() {
            file.write_all(line)?;
            file.write_all(b"\n")?;
            *size += line.len() as u64 + 1;
        }
        Ok(())
    }

    /// `x.log.(n-1)` -> `x.log.n`, ..., `x.log` -> `x.log.1`; the oldest is dropped.
    fn rotate(&self) -> std::io::Result<()> {
        let numbered = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.backups == 0 {
            return std::fs::remove_file(&self.path).or_else(not_found_ok);
        }
        std::fs::remove_file(numbered(self.backups)).or_else(not_found_ok)?;
        for i in (1..self.backups).rev() {
            std::fs::rename(numbered(i), numbered(i + 1)).or_else(not_found_ok)?;
        }
        std::fs::rename(&self.path, numbered(1)).or_else(not_found_ok)
    }

    /// Reads the pipe `reader` to its end, one line at a time, into the log. Nothing is
    /// buffered while the pipe is quiet (the read buffer lives only for one read after a
    /// wake-up), so a service that writes little costs its task and no more.
    pub async fn drain(&self, stream: &'static str, reader: pipe::Receiver) {
        let mut line: Vec<u8> = Vec::new();
        loop {
            if reader.readable().await.is_err() {
                break;
            }
            {
                let mut buf = [0u8; 8192];
                match reader.try_read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => self.split(stream, &buf[..n], &mut line),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                        ) => {}
                    Err(_) => break,
                }
            }
            // `readable` takes nothing from tokio's cooperative budget: without this, a
            // service that writes without pause would hold a runtime thread for good.
            tokio::task::consume_budget().await;
        }
        if !line.is_empty() {
            self.push(stream, &line);
        }
    }

    /// Cuts `bytes` into lines, `line` holding the unfinished one between calls.
    fn split(&self, stream: &'static str, bytes: &[u8], line: &mut Vec<u8>) {
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let (body, ends) = match chunk.strip_suffix(b"\n") {
                Some(b) => (b, true),
                None => (chunk, false),
            };
            let mut body = body;
            while line.len() + body.len() > MAX_LINE {
                let take = MAX_LINE - line.len();
                line.extend_from_slice(&body[..take]);
                self.push(stream, line);
                line.clear();
                body = &body[take..];
            }
            line.extend_from_slice(body);
            if ends {
                let text = line.strip_suffix(b"\r").unwrap_or(line);
                self.push(stream, text);
                line.clear();
            }
        }
    }
}

fn not_found_ok(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Drains `bytes` written by another task into a real pipe, as a child's output is.
    async fn drain_bytes(log: &ServiceLog, stream: &'static str, bytes: &[u8]) {
        let (mut tx, rx) = pipe::pipe().unwrap();
        let bytes = bytes.to_vec();
        let writer = tokio::spawn(async move {
            tx.write_all(&bytes).await.unwrap();
        });
        log.drain(stream, rx).await;
        writer.await.unwrap();
    }

    /// A service writing without pause must not keep the drain from giving its thread back:
    /// on a one-thread runtime, a timer still fires while the pipe never runs dry.
    #[tokio::test(flavor = "current_thread")]
    async fn a_pipe_that_never_runs_dry_does_not_hold_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let log = std::sync::Arc::new(ServiceLog::new(dir.path(), "svc", 1 << 20, 1));
        let (tx, rx) = pipe::pipe().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            let fd = tx.into_blocking_fd().unwrap();
            std::thread::spawn(move || {
                let mut file = std::fs::File::from(fd);
                let chunk = "spam\n".repeat(8192);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if file.write_all(chunk.as_bytes()).is_err() {
                        break;
                    }
                }
            })
        };
        // Without the fix this test never ends: bound it.
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                finished.recv_timeout(std::time::Duration::from_secs(60))
            {
                eprintln!("the drain held the runtime's only thread for 60 s");
                std::process::abort();
            }
        });
        let drain = tokio::spawn({
            let log = log.clone();
            async move { log.drain("stdout", rx).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        drain.abort();
        let _ = drain.await;
        writer.join().unwrap();
        done.send(()).unwrap();
        watchdog.join().unwrap();
        assert_eq!(log.tail(1)[0].line, "spam");
    }

    #[tokio::test]
    async fn a_quiet_pipe_holds_no_read_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let log = ServiceLog::new(dir.path(), "svc", 4096, 2);
        let (_tx, rx) = pipe::pipe().unwrap();
        let drain = log.drain("stdout", rx);
        // 200 services x 2 pipes: an 8 KiB buffer each would be 3 MiB of idle memory.
        assert!(
            std::mem::size_of_val(&drain) < 1024,
            "{} bytes",
            std::mem::size_of_val(&drain)
        );
    }

    #[tokio::test]
    async fn lines_reach_file_and_tail_and_files_rotate_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let log = ServiceLog::new(dir.path(), "svc", 4096, 2);
        let mut text = Vec::new();
        for i in 0..1000 {
            text.extend_from_slice(format!("line {i:04}\n").as_bytes());
        }
        text.extend_from_slice(b"no newline at the end");
        drain_bytes(&log, "stdout", &text).await;
        let tail = log.tail(2);
        assert_eq!(tail[0].line, "line 0999");
        assert_eq!(tail[1].line, "no newline at the end");
        assert_eq!(tail[1].stream, "stdout");
        let current = std::fs::read_to_string(dir.path().join("svc.log")).unwrap();
        assert!(current.ends_with("line 0999\nno newline at the end\n"));
        assert!(current.len() <= 4096 + 32);
        let first = std::fs::read_to_string(dir.path().join("svc.log.1")).unwrap();
        let second = std::fs::read_to_string(dir.path().join("svc.log.2")).unwrap();
        assert!(first.len() >= 4096 && second.len() >= 4096);
        assert!(
            !dir.path().join("svc.log.3").exists(),
            "only 2 backups kept"
        );
        // Rotated files hold consecutive, older lines.
        let last_of_first = first.lines().last().unwrap();
        let first_of_current = current.lines().next().unwrap();
        let n = |l: &str| l[5..].parse::<u32>().unwrap();
        assert_eq!(n(last_of_first) + 1, n(first_of_current));
    }

    #[tokio::test]
    async fn long_lines_are_cut_and_the_tail_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let log = ServiceLog::new(dir.path(), "svc", 1 << 30, 1);
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        drain_bytes(&log, "stderr", &long).await;
        let tail = log.tail(10);
        assert_eq!(
            tail.iter().map(|l| l.line.len()).collect::<Vec<_>>(),
            [MAX_LINE, MAX_LINE, 10]
        );
        let many = "x\n".repeat(TAIL_LINES + 50);
        drain_bytes(&log, "stdout", many.as_bytes()).await;
        assert_eq!(log.tail(usize::MAX).len(), TAIL_LINES);
    }
}
