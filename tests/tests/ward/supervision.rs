//! Process supervision with real child processes under the real `ward` binary: restart
//! policies and backoff timing, stop signals and timeouts, process groups, health-gated
//! states, `depends_on`, config reload, the services API and `ward service`.

use crate::util::{HttpServer, Ward, eventually, http, process_gone, ward_bin};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use ward_tests::artifacts;

/// `[[service]]` running `sh -c script`, plus extra TOML lines.
fn service(name: &str, script: &str, extra: &str) -> String {
    format!(
        "[[service]]\nname = \"{name}\"\ncommand = \"sh\"\nargs = [\"-c\", {script:?}]\n{extra}\n"
    )
}

fn state(w: &Ward, name: &str) -> String {
    w.service(name)["state"].as_str().unwrap_or("").to_string()
}

fn wait_state(w: &Ward, name: &str, want: &str, within: Duration) -> Value {
    eventually(within, &format!("{name} {want}"), || {
        let s = w.service(name);
        (s["state"] == want).then_some(s)
    })
}

fn post(w: &Ward, path: &str) -> Value {
    let r = http(w.addr, "POST", path, &[], b"");
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()["data"].clone()
}

/// Millisecond timestamps, one per line, that the services append to `file`.
fn stamps(file: &Path) -> Vec<i64> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<i64>().ok())
        .map(|ns| ns / 1_000_000)
        .collect()
}

/// Lines the services append to `file`.
fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_failing_service_is_restarted_with_exponential_backoff_then_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let starts = dir.path().join("starts");
    let w = Ward::start(&service(
        "crashy",
        &format!("date +%s%N >> {}; echo oops >&2; exit 3", starts.display()),
        "delay = \"200ms\"\ndelay_max = \"2s\"\njitter = 0.0\nmax_restarts = 4\nrestart_window = \"1m\"",
    ));
    let s = wait_state(&w, "crashy", "failed", Duration::from_secs(20));
    assert_eq!(s["restarts"], 4, "{s}");
    assert_eq!(s["failures"], 1, "{s}");
    assert_eq!(s["last_exit"]["code"], 3, "{s}");
    assert!(
        s["detail"]
            .as_str()
            .unwrap()
            .contains("gave up: 4 restarts"),
        "{s}"
    );
    let t = stamps(&starts);
    assert_eq!(t.len(), 5, "one start and four restarts: {t:?}");
    let gaps: Vec<i64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, delay) in gaps.iter().zip([200, 400, 800, 1600]) {
        // The delay, plus the time a shell takes to start and exit.
        assert!(
            *gap >= delay && *gap < delay + 400,
            "gaps {gaps:?} should follow 200, 400, 800, 1600 ms"
        );
    }
    // The output went to the log tail and the log file.
    let logs = crate::util::api(w.addr, "/api/v1/services/crashy/logs?lines=2");
    assert_eq!(logs[1]["line"], "oops", "{logs}");
    assert_eq!(logs[1]["stream"], "stderr", "{logs}");
    let file = std::fs::read_to_string(s["log_file"].as_str().unwrap()).unwrap();
    assert_eq!(file.matches("oops").count(), 5);
    // Started by the operator, it runs again (and fails again).
    post(&w, "/api/v1/services/crashy/start");
    eventually(Duration::from_secs(5), "a sixth start", || {
        (stamps(&starts).len() >= 6).then_some(())
    });
}

#[test]
fn exit_zero_is_not_restarted_under_on_failure_but_is_under_always() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let w = Ward::start(&format!(
        "{}{}",
        service(
            "once",
            &format!("date +%s%N >> {}; exit 0", a.display()),
            "restart = \"on-failure\"\ndelay = \"100ms\""
        ),
        service(
            "again",
            &format!("date +%s%N >> {}; exit 0", b.display()),
            "restart = \"always\"\ndelay = \"100ms\"\njitter = 0.0"
        ),
    ));
    eventually(Duration::from_secs(10), "three runs of `again`", || {
        (stamps(&b).len() >= 3).then_some(())
    });
    let s = wait_state(&w, "once", "stopped", Duration::from_secs(5));
    assert_eq!(s["restarts"], 0, "{s}");
    assert_eq!(s["last_exit"]["code"], 0, "{s}");
    assert_eq!(
        stamps(&a).len(),
        1,
        "exit 0 under on-failure: not restarted"
    );
}

#[test]
fn a_process_that_ignores_sigterm_is_killed_after_the_stop_timeout() {
    let w = Ward::start(&service(
        "stubborn",
        "trap '' TERM; echo ready; while true; do sleep 0.1; done",
        "stop_timeout = \"1s\"",
    ));
    let s = wait_state(&w, "stubborn", "running", Duration::from_secs(10));
    let pid = s["pid"].as_i64().unwrap();
    // The shell ignores SIGTERM only once its trap is set: it says so with
    // "ready". Stopping before that would test the shell's startup race.
    let log = s["log_file"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(10), "the trap set (\"ready\")", || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|l| l.contains("ready"))
    });
    let started = std::time::Instant::now();
    let s = post(&w, "/api/v1/services/stubborn/stop");
    let took = started.elapsed();
    assert_eq!(s["state"], "stopped", "{s}");
    assert_eq!(s["last_exit"]["signal"], 9, "SIGKILLed: {s}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "stop took {took:?}"
    );
    assert!(process_gone(pid));
    // Stopped by the operator: stays stopped.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state(&w, "stubborn"), "stopped");
}

#[test]
fn a_forking_service_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let w = Ward::start(&service(
        "forker",
        &format!(
            "sleep 1000 & echo $! >> {p}; (sleep 1000 & echo $! >> {p}; wait) & echo $$ >> {p}; wait",
            p = pids.display()
        ),
        "stop_timeout = \"2s\"",
    ));
    wait_state(&w, "forker", "running", Duration::from_secs(10));
    let all = eventually(Duration::from_secs(5), "three pids", || {
        let l = lines(&pids);
        (l.len() == 3).then_some(l)
    });
    let all: Vec<i64> = all.iter().map(|p| p.parse().unwrap()).collect();
    assert!(all.iter().all(|p| !process_gone(*p)));
    post(&w, "/api/v1/services/forker/stop");
    eventually(Duration::from_secs(5), "every process gone", || {
        all.iter().all(|p| process_gone(*p)).then_some(())
    });

    // The same when the leader exits by itself and leaves its children running.
    std::fs::remove_file(&pids).unwrap();
    let w2 = Ward::start(&service(
        "leaver",
        &format!(
            "sleep 1000 & echo $! >> {p}; sleep 0.5; exit 1",
            p = pids.display()
        ),
        "restart = \"never\"\nstop_timeout = \"1s\"",
    ));
    wait_state(&w2, "leaver", "failed", Duration::from_secs(10));
    let orphan: i64 = lines(&pids)[0].parse().unwrap();
    eventually(Duration::from_secs(5), "the orphan killed", || {
        process_gone(orphan).then_some(())
    });
}

#[test]
fn ward_shutdown_stops_services_in_reverse_dependency_order_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    let e = events.display();
    // Each records its start and, on SIGTERM, its stop.
    let script = |name: &str| {
        format!(
            "trap 'echo stop {name} >> {e}; exit 0' TERM; echo start {name} >> {e}; while true; do sleep 0.05; done"
        )
    };
    let mut w = Ward::start(&format!(
        "{}{}{}",
        service("web", &script("web"), "depends_on = [\"app\"]"),
        service(
            "app",
            &script("app"),
            "depends_on = [\"db\"]\nstart_period = \"300ms\""
        ),
        service("db", &script("db"), "start_period = \"300ms\""),
    ));
    for s in ["db", "app", "web"] {
        wait_state(&w, s, "running", Duration::from_secs(10));
    }
    let pids: Vec<i64> = ["db", "app", "web"]
        .iter()
        .map(|s| w.service(s)["pid"].as_i64().unwrap())
        .collect();
    // "running" comes with the fork: the shell writes its line (after its
    // trap is set) a moment later.
    eventually(Duration::from_secs(10), "three starts", || {
        (lines(&events).len() >= 3).then_some(())
    });
    assert_eq!(lines(&events), ["start db", "start app", "start web"]);
    let status = w.terminate();
    assert!(status.success(), "{status}");
    assert_eq!(
        lines(&events),
        [
            "start db",
            "start app",
            "start web",
            "stop web",
            "stop app",
            "stop db"
        ]
    );
    assert!(pids.iter().all(|p| process_gone(*p)));
}

#[test]
fn a_dependency_that_stops_stops_or_holds_its_dependents() {
    let w = Ward::start(&format!(
        "{}{}{}",
        service("db", "exec sleep 1000", "restart = \"never\""),
        service("api", "exec sleep 1000", "depends_on = [\"db\"]"),
        service(
            "batch",
            "exec sleep 1000",
            "depends_on = [\"db\"]\non_dependency_failure = \"hold\""
        ),
    ));
    for s in ["db", "api", "batch"] {
        wait_state(&w, s, "running", Duration::from_secs(10));
    }
    let batch_pid = w.service("batch")["pid"].as_i64().unwrap();
    post(&w, "/api/v1/services/db/stop");
    let api = wait_state(&w, "api", "starting", Duration::from_secs(10));
    assert!(
        api["detail"].as_str().unwrap().contains("waiting for db"),
        "{api}"
    );
    assert_eq!(state(&w, "batch"), "running");
    assert_eq!(w.service("batch")["pid"], batch_pid);
    post(&w, "/api/v1/services/db/start");
    wait_state(&w, "api", "running", Duration::from_secs(10));
}

#[test]
fn health_checks_gate_running_and_restart_a_service_that_fails_them() {
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let server = HttpServer::start_with(move |_| {
        if flag.load(Ordering::SeqCst) {
            (200, vec![], "ok".into())
        } else {
            (503, vec![], "not yet".into())
        }
    });
    let config = format!(
        r#"
[[check]]
name = "app-health"
plugin = "http"
targets = ["http://{addr}/health"]
interval = "200ms"
timeout = "200ms"
config = {{ expect_status = [200] }}
grant = {{ net = ["{addr}"] }}

{svc}"#,
        addr = server.addr,
        svc = service(
            "app",
            "exec sleep 1000",
            "health_check = \"app-health\"\nhealth_failures = 3\nstart_timeout = \"30s\"\ndelay = \"100ms\""
        )
    );
    let w = Ward::start(&config);
    w.install(artifacts::HTTP, "http");
    // Alive but not healthy: starting.
    let s = wait_state(&w, "app", "starting", Duration::from_secs(10));
    let first_pid = eventually(Duration::from_secs(10), "a pid", || {
        w.service("app")["pid"].as_i64()
    });
    eventually(Duration::from_secs(10), "a failed probe seen", || {
        (w.service("app")["health"]["healthy"] == false).then_some(())
    });
    assert_eq!(state(&w, "app"), "starting", "{s}");
    healthy.store(true, Ordering::SeqCst);
    let s = wait_state(&w, "app", "running", Duration::from_secs(10));
    assert_eq!(s["pid"], first_pid);
    assert_eq!(s["health"]["healthy"], true);
    // Three failures in a row: restarted.
    healthy.store(false, Ordering::SeqCst);
    let s = eventually(Duration::from_secs(10), "a restart", || {
        let s = w.service("app");
        (s["restarts"] == 1).then_some(s)
    });
    assert!(
        s["last_exit"]["reason"]
            .as_str()
            .unwrap()
            .contains("health check failed 3 times"),
        "{s}"
    );
    assert!(process_gone(first_pid));
    healthy.store(true, Ordering::SeqCst);
    let s = wait_state(&w, "app", "running", Duration::from_secs(10));
    assert_ne!(s["pid"], first_pid);
}

#[test]
fn a_config_reload_touches_only_the_services_that_changed() {
    let a = service("a", "exec sleep 1000", "");
    let b = service("b", "exec sleep 1000", "");
    let c = service("c", "exec sleep 1000", "");
    let w = Ward::start(&format!("{a}{b}{c}"));
    for s in ["a", "b", "c"] {
        wait_state(&w, s, "running", Duration::from_secs(10));
    }
    let pid = |s: &str| w.service(s)["pid"].as_i64();
    let (pa, pb, pc) = (pid("a").unwrap(), pid("b").unwrap(), pid("c").unwrap());
    let b2 = service("b", "exec sleep 2000", "");
    let d = service("d", "exec sleep 1000", "");
    let tmp = w.dir.path().join(".ward.toml.tmp");
    std::fs::write(&tmp, format!("{a}{b2}{d}")).unwrap();
    std::fs::rename(&tmp, w.dir.path().join("ward.toml")).unwrap();
    wait_state(&w, "d", "running", Duration::from_secs(10));
    eventually(Duration::from_secs(10), "b restarted", || {
        pid("b").filter(|p| *p != pb)
    });
    eventually(Duration::from_secs(10), "c removed", || {
        w.service("c").is_null().then_some(())
    });
    assert_eq!(pid("a"), Some(pa), "an unchanged service is left alone");
    assert!(process_gone(pb) && process_gone(pc));
}

#[test]
fn the_api_and_cli_control_services_and_unless_stopped_outlives_a_restart() {
    let w = Ward::start(&format!(
        "[api]\nwrite_token = \"w\"\n{}",
        service("svc", "exec sleep 1000", "restart = \"unless-stopped\"")
    ));
    wait_state(&w, "svc", "running", Duration::from_secs(10));
    let url = format!("http://{}", w.addr);
    let cli = |args: &[&str], token: Option<&str>| {
        let mut c = std::process::Command::new(ward_bin());
        c.arg("service").args(args).arg("--url").arg(&url);
        if let Some(t) = token {
            c.arg("--token").arg(t);
        }
        let out = c.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = cli(&["list"], Some("w"));
    assert!(ok, "{err}");
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("svc") && l.contains("running")),
        "{out}"
    );
    // Writes need the write token.
    let r = http(w.addr, "POST", "/api/v1/services/svc/stop", &[], b"");
    assert_eq!(r.status, 401);
    let (ok, _, err) = cli(&["stop", "svc"], None);
    assert!(!ok && err.contains("401"), "{err}");
    let (ok, out, err) = cli(&["stop", "svc"], Some("w"));
    assert!(ok, "{err}");
    assert!(out.contains("stopped"), "{out}");
    let (ok, _, err) = cli(&["restart", "nope"], Some("w"));
    assert!(!ok && err.contains("no service named \"nope\""), "{err}");

    // Stopped by the operator under unless-stopped: still stopped after ward restarts.
    let dir = w.stop();
    let w = Ward::start_in(dir);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state(&w, "svc"), "stopped");
    let url = format!("http://{}", w.addr);
    let out = std::process::Command::new(ward_bin())
        .args(["service", "start", "svc", "--url", &url, "--token", "w"])
        .output()
        .unwrap();
    assert!(out.status.success());
    wait_state(&w, "svc", "running", Duration::from_secs(10));
}

#[test]
fn bad_service_configs_are_refused_with_the_service_and_key() {
    for (config, expected) in [
        (
            service("a", "true", "depends_on = [\"ghost\"]"),
            "service \"a\": depends_on: no [[service]] named \"ghost\"",
        ),
        (
            format!(
                "{}{}",
                service("a", "true", "depends_on = [\"b\"]"),
                service("b", "true", "depends_on = [\"a\"]")
            ),
            "dependency cycle a -> b -> a",
        ),
        (
            service("a", "true", "stop_signal = \"SIGNOPE\""),
            "unknown stop signal \"SIGNOPE\"",
        ),
        (
            service("a", "true", "health_check = \"missing\""),
            "service \"a\": health_check: no [[check]] named \"missing\"",
        ),
        (
            service("a", "true", "restart = \"sometimes\""),
            "unknown variant `sometimes`",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ward.toml");
        std::fs::write(&file, &config).unwrap();
        let out = std::process::Command::new(ward_bin())
            .arg("run")
            .arg("--config")
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(expected), "{config}\n{err}");
        assert!(err.contains("ward.toml:"), "names the file and line: {err}");
    }
}

/// Zombie children of `pid` (host pids).
fn zombies_of(pid: u32) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let (state, ppid) = (f.next(), f.next().and_then(|p| p.parse::<u32>().ok()));
        if state == Some("Z") && ppid == Some(pid) {
            n += 1;
        }
    }
    n
}

#[test]
fn as_pid_1_ward_reaps_orphaned_zombies() {
    // A PID namespace makes ward PID 1, as in a container. Creating one needs privileges.
    let probe = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        println!("skipped: `unshare --pid --fork --mount-proc` is not permitted here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Orphans: each subshell starts a short sleep and exits; the sleep is re-parented to
    // PID 1 and becomes its zombie when it ends.
    std::fs::write(
        dir.path().join("ward.toml"),
        service(
            "orphans",
            "while true; do (sleep 0.05 &); sleep 0.1; done",
            "",
        ),
    )
    .unwrap();
    let mut unshare = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(ward_bin())
        .arg("run")
        .arg("--config")
        .arg(dir.path().join("ward.toml"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--plugins-dir")
        .arg(dir.path().join("plugins"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ward = eventually(
        Duration::from_secs(10),
        "ward started in the namespace",
        || {
            let children =
                std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
                    .unwrap_or_default();
            children.split_whitespace().next()?.parse::<u32>().ok()
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    // About 20 orphans have ended by now; a reaped one is gone, an unreaped one stays a zombie.
    let zombies = zombies_of(ward);
    crate::util::signal(ward, rustix::process::Signal::TERM);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline && matches!(unshare.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = unshare.kill();
    let _ = unshare.wait();
    assert!(
        zombies <= 2,
        "{zombies} zombies left unreaped under ward as PID 1"
    );
}

#[test]
fn a_service_runs_as_its_configured_user_when_ward_is_root() {
    if !rustix::process::geteuid().is_root() {
        println!("skipped: ward is not running as root here, so it cannot switch users");
        return;
    }
    let w = Ward::start(&service(
        "unprivileged",
        "exec sleep 1000",
        "user = \"nobody\"",
    ));
    let s = wait_state(&w, "unprivileged", "running", Duration::from_secs(10));
    let status = std::fs::read_to_string(format!("/proc/{}/status", s["pid"])).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let nobody = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .and_then(|l| l.split(':').nth(2))
        .unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == nobody),
        "{uid_line}"
    );
    // An unknown user fails the start with a reason, not ward.
    let w = Ward::start(&service(
        "ghost",
        "exec sleep 1000",
        "user = \"no-such-user-here\"\nrestart = \"never\"",
    ));
    let s = wait_state(&w, "ghost", "failed", Duration::from_secs(10));
    assert!(
        s["last_exit"]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown user \"no-such-user-here\""),
        "{s}"
    );
}
