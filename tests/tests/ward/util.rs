//! Helpers that make each test a few lines: a shared plugin host, loopback servers, a tiny
//! HTTP client, the `ward` binary as a child process, and polling with a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use ward::capability::net::{NetGrant, NetRule};
use ward::plugin::state::CallGrant;
use ward::plugin::{Host, HostOptions, LoadedPlugin, Tier};

/// One host for the whole test binary, with a compile cache so each component compiles once.
pub fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    HOST.get_or_init(|| {
        let cache = CACHE.get_or_init(|| tempfile::tempdir().expect("temp dir"));
        Host::new(HostOptions {
            cache_dir: Some(cache.path().join("cache")),
            max_instances: 64,
            ..HostOptions::default()
        })
        .expect("plugin host")
    })
}

/// Loads an artifact through the shared host.
pub async fn load(path: &str) -> LoadedPlugin {
    host()
        .load_file(Path::new(path))
        .await
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// Loads an artifact as baseline code and as optimized code, in that order, so a test can
/// hold both compilers' output to the same behaviour.
pub async fn load_tiers(path: &str) -> [LoadedPlugin; 2] {
    static HOSTS: OnceLock<[Host; 2]> = OnceLock::new();
    let [baseline, optimized] = HOSTS.get_or_init(|| {
        // No cache: every load compiles, so the first host always serves baseline code.
        [true, false].map(|baseline| {
            Host::new(HostOptions {
                max_instances: 16,
                baseline,
                ..HostOptions::default()
            })
            .expect("plugin host")
        })
    });
    [
        load_on(baseline, path, Tier::Baseline).await,
        load_on(optimized, path, Tier::Optimized).await,
    ]
}

async fn load_on(host: &Host, path: &str, tier: Tier) -> LoadedPlugin {
    let p = host
        .load_file(Path::new(path))
        .await
        .unwrap_or_else(|e| panic!("loading {path}: {e}"));
    assert_eq!(p.tier(), tier, "{path}");
    p
}

/// A grant of `rules`, recording every denied address.
pub async fn grant(rules: &[&str]) -> (CallGrant, Arc<Mutex<Vec<String>>>) {
    let denied = Arc::new(Mutex::new(Vec::new()));
    let mut net = NetGrant::new(
        rules
            .iter()
            .map(|r| r.parse::<NetRule>().unwrap())
            .collect(),
    );
    net.resolve(Duration::from_secs(2)).await;
    let log = denied.clone();
    let grant = CallGrant {
        check: "test".into(),
        net: Arc::new(net),
        on_deny: Arc::new(move |addr: &str| log.lock().unwrap().push(addr.to_string())),
    };
    (grant, denied)
}

/// An HTTP/1.1 server on 127.0.0.1 answering every request with `status` and `body`, until
/// dropped. Counts requests.
pub struct HttpServer {
    pub addr: SocketAddr,
    pub requests: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl HttpServer {
    pub fn start(status: u16, body: &'static str) -> Self {
        Self::start_with(move |_path| (status, vec![], body.to_string()))
    }

    /// `respond(path) -> (status, extra headers, body)`.
    pub fn start_with(
        respond: impl Fn(&str) -> (u16, Vec<(String, String)>, String) + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (s, r) = (stop.clone(), requests.clone());
        let respond = Arc::new(respond);
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        r.fetch_add(1, Ordering::Relaxed);
                        let respond = respond.clone();
                        std::thread::spawn(move || serve_one(stream, &*respond));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Self {
            addr,
            requests,
            stop,
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `path -> (status, extra headers, body)`.
type Respond = dyn Fn(&str) -> (u16, Vec<(String, String)>, String) + Send + Sync;

fn serve_one(stream: TcpStream, respond: &Respond) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let (status, headers, body) = respond(&path);
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// GET `path` from `addr`: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    (status, body.to_string())
}

/// GET a JSON API path and return its `data`.
pub fn api(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = http_get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    v["data"].clone()
}

/// Polls `f` every 20 ms until it returns `Some`, failing after `within`.
pub fn eventually<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub use ward_tests::ward_bin;

/// A running `ward run`, killed on drop.
pub struct Ward {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub stderr: Arc<Mutex<String>>,
}

impl Ward {
    /// Starts `ward run --config <dir>/ward.toml` with `config` (which must not set listen,
    /// data_dir or plugins_dir) in a fresh directory with an empty `plugins/`.
    pub fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        std::fs::write(dir.path().join("ward.toml"), config).unwrap();
        Self::start_in(dir)
    }

    /// `start` with the sampler off, for tests that write samples at fixed past times: the
    /// store refuses samples more than its out-of-order window behind the newest one, and
    /// live samples would make the newest one now.
    pub fn start_without_sampler(config: &str) -> Self {
        Self::start(&format!(
            "{config}\n[sampler]\nsystem = false\nservices = false\n"
        ))
    }

    pub fn start_in(dir: tempfile::TempDir) -> Self {
        let mut child = Command::new(ward_bin())
            .arg("run")
            .arg("--config")
            .arg(dir.path().join("ward.toml"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--plugins-dir")
            .arg(dir.path().join("plugins"))
            .env("WARD_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let log = stderr.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).is_ok_and(|n| n > 0) {
                log.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "ward did not print its URL: {first:?}; stderr: {}",
                    stderr.lock().unwrap()
                )
            });
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = out.read_to_string(&mut sink);
        });
        Self {
            child,
            addr,
            dir,
            stderr,
        }
    }

    /// SIGTERMs ward (a graceful shutdown: services stopped, store flushed) and waits for it
    /// to exit, at most 30 s.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.child.id(), rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ward did not exit within 30 s of SIGTERM; log:\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Terminates ward gracefully and hands back its directory for a restart.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.terminate();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// Every service's status.
    pub fn services(&self) -> serde_json::Value {
        api(self.addr, "/api/v1/services")
    }

    /// One service's status (`Null` when unknown).
    pub fn service(&self, name: &str) -> serde_json::Value {
        self.services()
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }

    /// SIGKILLs ward and hands back its directory (config, data, plugins) for a restart.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// Installs `artifact` as `<name>.wasm` the atomic way: copy beside, then rename.
    pub fn install(&self, artifact: &str, name: &str) {
        install(artifact, &self.plugins_dir(), name);
    }

    pub fn checks(&self) -> serde_json::Value {
        api(self.addr, "/api/v1/checks")
    }

    pub fn plugins(&self) -> serde_json::Value {
        api(self.addr, "/api/v1/plugins")
    }

    /// The status of target `i` of check `name`.
    pub fn target(&self, name: &str, i: usize) -> serde_json::Value {
        let checks = self.checks();
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["targets"][i].clone())
            .unwrap_or(serde_json::Value::Null)
    }

    pub fn plugin(&self, name: &str) -> serde_json::Value {
        self.plugins()
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for Ward {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- ward's log ---\n{}", self.stderr.lock().unwrap());
            if let Ok(Some(status)) = self.child.try_wait() {
                eprintln!("--- ward exited: {status}");
            }
        }
        // Gracefully first, so that ward stops the services it supervises.
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `sig` to process `pid`.
pub fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Whether process `pid` is gone (or a zombie nobody waited for yet: dead all the same).
pub fn process_gone(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .is_some_and(|i| stat[i + 1..].trim_start().starts_with(['Z', 'X'])),
    }
}

/// Copies `artifact` to `<dir>/.<name>.tmp` then renames it to `<dir>/<name>.wasm`.
pub fn install(artifact: &str, dir: &Path, name: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::copy(artifact, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join(format!("{name}.wasm"))).unwrap();
}

/// An HTTP answer: status, headers (names lowercase) and body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One HTTP/1.1 request to `addr` (`Connection: close`), with a 10 s bound on the answer.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_response(s)
}

/// Reads an answer until the server closes the connection.
pub fn read_response(mut s: TcpStream) -> HttpResponse {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `POST path` with a urlencoded form.
pub fn post_form(addr: SocketAddr, path: &str, form: &str) -> HttpResponse {
    http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
}

/// Imports text exposition lines into ward; panics unless ward answers 204.
pub fn import(addr: SocketAddr, lines: &str) {
    let r = http(
        addr,
        "POST",
        "/api/v1/import/prometheus",
        &[],
        lines.as_bytes(),
    );
    assert_eq!(r.status, 204, "import: {}", r.body);
}

/// Percent-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
