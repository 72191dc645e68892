//! Helpers shared by ward's benches (`store/benches/store.rs`, `tests/benches/http_api.rs`,
//! `tests/benches/plugin_host.rs`): the machine and peer versions they print, a minimal
//! keep-alive HTTP/1.1 client, free loopback ports, a process's CPU time and number
//! formatting. Each bench uses a part of it.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// `nproc N, CPU <model>, kernel <release>, <RAM> GiB RAM` of this machine.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0);
    format!(
        "nproc {cores}, CPU {cpu}, kernel {kernel}, {:.1} GiB RAM",
        mem as f64 / (1 << 20) as f64
    )
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Prints each peer's path and version (`name`, the flag that prints its version), or that
/// it is missing and `missing` says what follows.
pub fn print_peers(peers: &[(&str, &str)], missing: &str) {
    for &(name, arg) in peers {
        match bin(name) {
            Some(p) => {
                let v = Command::new(&p).arg(arg).output().ok().map(|o| {
                    let s = String::from_utf8_lossy(&o.stdout).to_string()
                        + &String::from_utf8_lossy(&o.stderr);
                    s.lines().next().unwrap_or("").trim().to_string()
                });
                println!("peer {name}: {} {}", p.display(), v.unwrap_or_default());
            }
            None => println!("peer {name}: not found on PATH, {missing}"),
        }
    }
}

/// `name` on the PATH.
pub fn bin(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// `<target>/release/ward` beside the running bench (`<target>/release/deps/<bench>-*`), or
/// `$WARD_BIN`.
pub fn ward_release_bin() -> Result<PathBuf, String> {
    if let Some(b) = std::env::var_os("WARD_BIN") {
        return Ok(b.into());
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe
        .parent()
        .and_then(std::path::Path::parent)
        .map(|d| d.join("ward"))
        .ok_or("no directory above the bench executable")?;
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: build it with `cargo build --release -p ward` (same CARGO_TARGET_DIR) or set WARD_BIN",
            bin.display()
        ))
    }
}

/// A minimal HTTP/1.1 client: keep-alive, Content-Length and chunked replies.
pub struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, conn: None }
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        self.retrying(method, path, "", body)
    }

    /// A form POST, as Grafana sends queries.
    pub fn request_form(&mut self, path: &str, form: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        self.retrying(
            "POST",
            path,
            "Content-Type: application/x-www-form-urlencoded\r\n",
            form,
        )
    }

    fn retrying(
        &mut self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, headers, body) {
            Err(_) if reused => {
                self.conn = None;
                self.try_request(method, path, headers, body)
            }
            r => r,
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.conn = Some(BufReader::with_capacity(1 << 16, s));
        }
        let conn = self.conn.as_mut().unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{headers}Content-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            self.addr,
            body.len()
        );
        conn.get_mut().write_all(head.as_bytes())?;
        conn.get_mut().write_all(body)?;
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Err(bad("connection closed"));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            match k.as_str() {
                "content-length" => length = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.contains("chunked"),
                "connection" => close = v == "close",
                _ => {}
            }
        }
        let mut out = Vec::new();
        if status == 204 || status == 304 || method == "HEAD" {
        } else if chunked {
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| bad("bad chunk size"))?;
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        line.clear();
                        conn.read_line(&mut line)?;
                        if line.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let at = out.len();
                out.resize(at + size, 0);
                conn.read_exact(&mut out[at..])?;
                line.clear();
                conn.read_line(&mut line)?;
            }
        } else if let Some(n) = length {
            out.resize(n, 0);
            conn.read_exact(&mut out)?;
        } else {
            conn.read_to_end(&mut out)?;
            close = true;
        }
        if close {
            self.conn = None;
        }
        Ok((status, out))
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").unwrap();
        }
    }
    out
}

pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// User + system CPU seconds of a process (all threads).
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')'.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    ticks as f64 / 100.0
}

/// Milliseconds as seconds with three decimals.
pub fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

pub fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub fn dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} us")
    }
}
