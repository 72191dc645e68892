//! ward against real Prometheus tools (Debian packages `prometheus`, which has `promtool`):
//! a Prometheus remote-writing into ward and scraping it; `promtool query` answering the
//! same against ward and against a Prometheus loaded with the same data; a Grafana-style
//! sequence of API calls checked against a golden file that Prometheus itself agrees with.
//!
//! A test whose peer is missing prints why and passes, unless `WARD_REQUIRE_PEERS=1` (CI),
//! where it fails. Everything listens on 127.0.0.1; every wait has a deadline.
//! `WARD_BLESS=1` rewrites the golden file (from Prometheus's answers where it is comparable).

use crate::util::{HttpResponse, Ward, closed_port, enc, eventually, http, http_get, import};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of peer binary `name`, or `None` (after saying why) when it is not installed.
fn peer(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let why = format!("{name} is not installed (Debian package `prometheus`)");
        assert!(
            std::env::var("WARD_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{why}, and WARD_REQUIRE_PEERS=1"
        );
        // Straight to stderr, past the test harness's capture: a skip should be seen.
        let _ = writeln!(
            std::io::stderr(),
            "skipping the peer part of this test: {why}"
        );
    }
    found
}

/// A running Prometheus on a loopback port, killed on drop.
struct Prometheus {
    child: Child,
    addr: std::net::SocketAddr,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with `config` (YAML) on `data` and waits until it is ready.
    fn start(bin: &Path, dir: &Path, config: &str, data: &Path) -> Self {
        let port = closed_port();
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--storage.tsdb.retention.time=100y")
            .arg("--log.level=warn")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let p = Self { child, addr, log };
        eventually(Duration::from_secs(60), "Prometheus to be ready", || {
            std::net::TcpStream::connect_timeout(&p.addr, Duration::from_millis(200))
                .ok()
                .and_then(|_| (http_get(p.addr, "/-/ready").0 == 200).then_some(()))
        });
        p
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- Prometheus's log ---\n{log}");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` to completion within `limit`: (success, stdout, stderr).
fn run(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn prometheus_remote_writes_into_ward_and_scrapes_it() {
    let Some(prometheus) = peer("prometheus") else {
        return;
    };
    let ward =
        Ward::start_without_sampler("[api]\nread_token = \"reader\"\nwrite_token = \"writer\"\n");
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ward
    authorization: {{ credentials: reader }}
    static_configs: [{{ targets: ["{addr}"] }}]
remote_write:
  - url: http://{addr}/api/v1/write
    authorization: {{ credentials: writer }}
    queue_config: {{ batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s }}
    metadata_config: {{ send_interval: 1s }}
"#,
        addr = ward.addr
    );
    let prom = Prometheus::start(&prometheus, dir.path(), &config, &dir.path().join("data"));
    let read = [("Authorization", "Bearer reader")];
    let get = |path: &str| http(ward.addr, "GET", path, &read, b"");
    // Prometheus scraped ward and sent what it scraped: ward's own `up` comes back.
    let value = eventually(Duration::from_secs(60), "up{job=\"ward\"} in ward", || {
        let r = get("/api/v1/query?query=up%7Bjob%3D%22ward%22%7D");
        let v = r.json();
        v["data"]["result"][0]["value"][1]
            .as_str()
            .map(String::from)
    });
    assert_eq!(value, "1");
    // ward's metrics, scraped by Prometheus, show the remote-written samples.
    eventually(
        Duration::from_secs(60),
        "ward's ingest metric in Prometheus",
        || {
            let (status, body) = http_get(
                prom.addr,
                "/api/v1/query?query=ward_ingest_samples_written_total%7Bendpoint%3D%22remote_write%22%7D%3E0",
            );
            (status == 200 && body.contains("ward_ingest_samples_written_total")).then_some(())
        },
    );
    let v = get("/api/v1/series?match[]=ward_store_series").json();
    assert_eq!(v["data"][0]["job"], "ward", "{v}");
    // Metadata came along.
    eventually(Duration::from_secs(60), "metadata from Prometheus", || {
        let v = get("/api/v1/metadata?metric=ward_store_series").json();
        v["data"]["ward_store_series"][0]["type"]
            .as_str()
            .map(|t| assert_eq!(t, "gauge"))
    });
}

/// 2023-11-14T22:13:20Z: the first sample of the shared data.
const START: i64 = 1_700_000_000;
/// Samples every 15 s for an hour.
const STEPS: i64 = 240;

/// A series' value at step `i`.
type ValueAt = Box<dyn Fn(i64) -> f64>;

/// A query result: (labels as JSON, points (t, v)) per series.
type Result = Vec<(String, Vec<(f64, f64)>)>;

/// The shared data set, as (OpenMetrics for promtool, text lines with ms for ward).
fn dataset() -> (String, String) {
    struct Family {
        name: &'static str,
        series: Vec<(String, ValueAt)>,
    }
    let mut families = Vec::new();
    let mut requests = Family {
        name: "http_requests_total",
        series: Vec::new(),
    };
    for (k, instance) in ["a:80", "b:80", "c:80"].iter().enumerate() {
        for (code, rate) in [("200", 10.0), ("500", 1.0)] {
            let per_step = rate * (k as f64 + 1.0);
            let reset = k == 1 && code == "200";
            requests.series.push((
                format!(r#"code="{code}",instance="{instance}",job="api""#),
                Box::new(move |i| {
                    // One counter resets half way.
                    let i = if reset && i >= STEPS / 2 {
                        i - STEPS / 2
                    } else {
                        i
                    };
                    per_step * i as f64 + (i % 7) as f64
                }),
            ));
        }
    }
    families.push(requests);
    let mut buckets = Family {
        name: "http_request_duration_seconds_bucket",
        series: Vec::new(),
    };
    for (j, le) in ["0.1", "0.5", "1", "+Inf"].iter().enumerate() {
        buckets.series.push((
            format!(r#"job="api",le="{le}""#),
            Box::new(move |i| (i * (j as i64 + 2) * 3) as f64),
        ));
    }
    families.push(buckets);
    let mut temperature = Family {
        name: "temperature",
        series: Vec::new(),
    };
    for (k, room) in ["hall", "lab", "roof"].iter().enumerate() {
        temperature.series.push((
            format!(r#"room="{room}""#),
            Box::new(move |i| {
                let x = (i as f64 / 20.0 + k as f64).sin() * 5.0 + 18.0 + k as f64 * 2.5;
                (x * 1000.0).round() / 1000.0
            }),
        ));
    }
    families.push(temperature);
    let mut up = Family {
        name: "up",
        series: Vec::new(),
    };
    for (k, (job, instance)) in [("api", "a:80"), ("api", "b:80"), ("db", "c:5432")]
        .iter()
        .enumerate()
    {
        up.series.push((
            format!(r#"instance="{instance}",job="{job}""#),
            Box::new(move |i| {
                if k == 1 && (100..140).contains(&i) {
                    0.0
                } else {
                    1.0
                }
            }),
        ));
    }
    families.push(up);

    let (mut om, mut text) = (String::new(), String::new());
    for f in &families {
        let _ = writeln!(om, "# TYPE {} gauge", f.name);
        for (labels, value) in &f.series {
            for i in 0..STEPS {
                let v = value(i);
                let t = START + i * 15;
                let _ = writeln!(om, "{}{{{labels}}} {v} {t}", f.name);
                let _ = writeln!(text, "{}{{{labels}}} {v} {}", f.name, t * 1000);
            }
        }
    }
    om.push_str("# EOF\n");
    (om, text)
}

/// ward and (when installed) Prometheus, both holding [`dataset`].
struct Loaded {
    ward: Ward,
    prometheus: Option<Prometheus>,
    promtool: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

fn loaded() -> Loaded {
    let (om, text) = dataset();
    let ward = Ward::start_without_sampler("");
    import(ward.addr, &text);
    let dir = tempfile::tempdir().unwrap();
    let (Some(prometheus), Some(promtool)) = (peer("prometheus"), peer("promtool")) else {
        return Loaded {
            ward,
            prometheus: None,
            promtool: None,
            _dir: dir,
        };
    };
    let om_file = dir.path().join("data.om");
    std::fs::write(&om_file, om).unwrap();
    let data = dir.path().join("prom");
    let mut create = Command::new(&promtool);
    create
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om_file)
        .arg(&data);
    let (ok, out, err) = run(create, Duration::from_secs(120));
    assert!(ok, "promtool create-blocks-from failed:\n{out}\n{err}");
    let prom = Prometheus::start(&prometheus, dir.path(), "global: {}\n", &data);
    Loaded {
        ward,
        prometheus: Some(prom),
        promtool: Some(promtool),
        _dir: dir,
    }
}

/// Queries compared between ward and Prometheus, instant and range.
const QUERIES: &[&str] = &[
    "up",
    "http_requests_total",
    "rate(http_requests_total[5m])",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "resets(http_requests_total[30m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum without (instance) (rate(http_requests_total[5m]))",
    "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "topk(2, temperature)",
    "bottomk(1, temperature)",
    "avg_over_time(temperature[10m])",
    "max_over_time(rate(http_requests_total[1m])[10m:1m])",
    "http_requests_total offset 5m",
    "temperature @ 1700001000",
    "count(up == 1)",
    "sum(up) / count(up)",
    r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
    "predict_linear(temperature[10m], 600)",
    "deriv(temperature[10m])",
    "quantile(0.5, temperature)",
    "stddev(temperature)",
    r#"count_values("v", up)"#,
    r#"rate(http_requests_total{code="500"}[5m]) / ignoring(code) group_left sum without (code) (rate(http_requests_total[5m]))"#,
    "temperature > bool 20",
    "absent(nonexistent)",
    "time()",
    "1 + 1",
    "vector(1)",
    "sort_desc(sum by (instance) (http_requests_total))",
];

/// A query result from promtool's JSON output, normalised: series sorted by labels.
fn normalise(json: &str) -> std::result::Result<Result, String> {
    let v: serde_json::Value =
        serde_json::from_str(json.trim()).map_err(|e| format!("{e}: {json}"))?;
    let point = |p: &serde_json::Value| -> (f64, f64) {
        let t = p[0].as_f64().unwrap_or(f64::NAN);
        let v = match p[1].as_str().unwrap_or("NaN") {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            s => s.parse().unwrap_or(f64::NAN),
        };
        (t, v)
    };
    let mut out = Vec::new();
    match &v {
        serde_json::Value::Array(items) if items.first().is_some_and(|i| !i.is_object()) => {
            out.push(("scalar".to_string(), vec![point(&v)]));
        }
        serde_json::Value::Array(items) => {
            for item in items {
                let points = match (&item["value"], &item["values"]) {
                    (serde_json::Value::Array(_), _) => vec![point(&item["value"])],
                    (_, serde_json::Value::Array(ps)) => ps.iter().map(point).collect(),
                    _ => return Err(format!("unexpected item {item}")),
                };
                out.push((item["metric"].to_string(), points));
            }
        }
        other => return Err(format!("unexpected result {other}")),
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || ((a - b).abs() <= 1e-9 * a.abs().max(b.abs()))
}

/// Differences between two normalised results, as text (empty: the same).
fn differences(ward: &[(String, Vec<(f64, f64)>)], prom: &[(String, Vec<(f64, f64)>)]) -> String {
    let names =
        |r: &[(String, Vec<(f64, f64)>)]| r.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
    if names(ward) != names(prom) {
        return format!(
            "series differ:\n  ward:       {:?}\n  prometheus: {:?}",
            names(ward),
            names(prom)
        );
    }
    for ((labels, w), (_, p)) in ward.iter().zip(prom) {
        let ok = w.len() == p.len() && w.iter().zip(p).all(|(a, b)| a.0 == b.0 && same(a.1, b.1));
        if !ok {
            return format!("{labels}:\n  ward:       {w:?}\n  prometheus: {p:?}");
        }
    }
    String::new()
}

#[test]
fn promtool_queries_agree_between_ward_and_prometheus() {
    let l = loaded();
    let (Some(prom), Some(promtool)) = (&l.prometheus, &l.promtool) else {
        return;
    };
    let mut failures = String::new();
    let mut compared = 0;
    for q in QUERIES {
        let modes = [
            vec![
                "instant".to_string(),
                "--time=1700001800".into(),
                (*q).into(),
            ],
            vec![
                "range".to_string(),
                "--start=1700000600".into(),
                "--end=1700003000".into(),
                "--step=1m".into(),
                (*q).into(),
            ],
        ];
        for mut args in modes {
            // promtool takes the server before the expression.
            let expr = args.pop().unwrap_or_default();
            let call = |server: std::net::SocketAddr| {
                let mut cmd = Command::new(promtool);
                cmd.arg("query")
                    .args(&args[..1])
                    .args(["-o", "json"])
                    .args(&args[1..]);
                cmd.arg(format!("http://{server}")).arg(&expr);
                run(cmd, Duration::from_secs(60))
            };
            let (w_ok, w_out, w_err) = call(l.ward.addr);
            let (p_ok, p_out, p_err) = call(prom.addr);
            let what = format!("{} {expr}", args[0]);
            if !p_ok {
                // Prometheus refuses it: ward must refuse it too.
                if w_ok {
                    let _ = writeln!(
                        failures,
                        "{what}: Prometheus failed ({p_err}) but ward answered {w_out}"
                    );
                }
                continue;
            }
            if !w_ok {
                let _ = writeln!(failures, "{what}: ward failed: {w_err}");
                continue;
            }
            match (normalise(&w_out), normalise(&p_out)) {
                (Ok(w), Ok(p)) => {
                    compared += 1;
                    let d = differences(&w, &p);
                    if !d.is_empty() {
                        let _ = writeln!(failures, "{what}: {d}");
                    }
                }
                (w, p) => {
                    let _ = writeln!(failures, "{what}: cannot compare: {w:?} / {p:?}");
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "ward and Prometheus disagree:\n{failures}"
    );
    // Every query but the range form of none is answered by Prometheus: all were compared.
    assert_eq!(compared, 2 * QUERIES.len(), "queries compared");
}

/// One call of the Grafana-style sequence: method, path, form body, and whether Prometheus
/// 2.42 answers it as 2.53 does (buildinfo differs; 2.42 ignores `limit`).
struct Step {
    method: &'static str,
    path: String,
    form: Option<String>,
    prometheus_agrees: bool,
}

fn grafana_steps() -> Vec<Step> {
    let range = "start=1700000000&end=1700003600";
    let get = |path: String, prometheus_agrees| Step {
        method: "GET",
        path,
        form: None,
        prometheus_agrees,
    };
    vec![
        get("/api/v1/status/buildinfo".into(), false),
        // The data source's health check.
        get("/api/v1/query?query=1%2B1&time=1700003600".into(), true),
        get(format!("/api/v1/labels?{range}"), true),
        get(format!("/api/v1/label/__name__/values?{range}"), true),
        get(
            format!("/api/v1/label/instance/values?{range}&limit=2"),
            false,
        ),
        get(format!("/api/v1/label/job/values?{range}"), true),
        get(
            format!(
                "/api/v1/series?match%5B%5D={}&{range}",
                enc(r#"up{job="api"}"#)
            ),
            true,
        ),
        get("/api/v1/metadata".into(), true),
        get(
            format!("/api/v1/query?query={}&time=1700001800", enc("up")),
            true,
        ),
        Step {
            method: "POST",
            path: "/api/v1/query_range".into(),
            // Grafana aligns start and end to the step.
            form: Some(format!(
                "query={}&start=1700001000&end=1700002800&step=60",
                enc("sum by (job) (rate(http_requests_total[1m]))")
            )),
            prometheus_agrees: true,
        },
        Step {
            method: "POST",
            path: "/api/v1/query_range".into(),
            form: Some(format!(
                "query={}&start=1700001000&end=1700001600&step=300",
                enc(r#"histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[5m]))"#)
            )),
            prometheus_agrees: true,
        },
        get(
            format!("/api/v1/query?query={}&time=1700001800", enc("sum(up")),
            true,
        ),
    ]
}

fn call(addr: std::net::SocketAddr, step: &Step) -> HttpResponse {
    match &step.form {
        Some(form) => http(
            addr,
            step.method,
            &step.path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        ),
        None => http(addr, step.method, &step.path, &[], b""),
    }
}

fn request_line(step: &Step) -> String {
    match &step.form {
        Some(form) => format!("{} {} {form}", step.method, step.path),
        None => format!("{} {}", step.method, step.path),
    }
}

/// Equal JSON, except that values (strings holding numbers) may differ in the last bits: a
/// sum depends on the order and method of its additions, which Prometheus 2.42 (the golden's
/// source) and ward's engine need not share.
fn same_json(a: &str, b: &str) -> bool {
    fn eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (a, b) {
            (V::String(x), V::String(y)) => {
                x == y
                    || matches!((x.parse::<f64>(), y.parse::<f64>()), (Ok(x), Ok(y)) if same(x, y))
            }
            (V::Array(x), V::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| eq(x, y))
            }
            (V::Object(x), V::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| eq(v, w)))
            }
            _ => a == b,
        }
    }
    match (serde_json::from_str(a), serde_json::from_str(b)) {
        (Ok(x), Ok(y)) => eq(&x, &y),
        _ => a == b,
    }
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/grafana_sequence.txt")
}

/// The golden file: request line -> (status, body).
fn read_golden() -> Vec<(String, u16, String)> {
    let text = std::fs::read_to_string(golden_path()).unwrap_or_default();
    let mut out = Vec::new();
    for block in text.split(">>> ").skip(1) {
        let mut lines = block.splitn(3, '\n');
        let request = lines.next().unwrap_or_default().to_string();
        let status = lines
            .next()
            .and_then(|s| s.strip_prefix("<<< "))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = lines
            .next()
            .unwrap_or_default()
            .trim_end_matches('\n')
            .to_string();
        out.push((request, status, body));
    }
    out
}

#[test]
fn grafana_sequence_matches_the_golden_file() {
    let l = loaded();
    let steps = grafana_steps();
    if std::env::var("WARD_BLESS").as_deref() == Ok("1") {
        let mut text = String::from(
            "# Grafana-style API calls and their answers. Steps Prometheus answers the same\n\
             # way were recorded from Prometheus; regenerate with WARD_BLESS=1.\n",
        );
        for step in &steps {
            let source = match &l.prometheus {
                Some(p) if step.prometheus_agrees => p.addr,
                _ => l.ward.addr,
            };
            let r = call(source, step);
            let _ = write!(
                text,
                ">>> {}\n<<< {}\n{}\n",
                request_line(step),
                r.status,
                r.body.trim_end()
            );
        }
        std::fs::create_dir_all(golden_path().parent().unwrap()).unwrap();
        std::fs::write(golden_path(), text).unwrap();
        return;
    }
    let golden = read_golden();
    assert_eq!(
        golden.len(),
        steps.len(),
        "{} is out of date: rerun with WARD_BLESS=1",
        golden_path().display()
    );
    let mut failures = String::new();
    for (step, (request, status, body)) in steps.iter().zip(&golden) {
        assert_eq!(&request_line(step), request, "golden file out of date");
        let mut answers = vec![("ward", call(l.ward.addr, step))];
        if let Some(p) = &l.prometheus
            && step.prometheus_agrees
        {
            answers.push(("prometheus", call(p.addr, step)));
        }
        for (who, r) in answers {
            if r.status != *status || !same_json(r.body.trim_end(), body) {
                let _ = writeln!(
                    failures,
                    "{who}: {request}\n  expected {status} {body}\n  got      {} {}",
                    r.status,
                    r.body.trim_end()
                );
            }
        }
    }
    assert!(failures.is_empty(), "{failures}");
}
