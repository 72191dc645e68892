//! A plugin author's path through `sdk/README.md`, for real: `ward plugin new`, build the
//! component, run the template's own tests, `ward plugin run` it against a loopback server.
//!
//! Its own test binary, so that its cargo builds (a minute or two the first time, on 2 cores)
//! never run beside the timing-sensitive tests of the `ward` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use ward_tests::ward_bin;

/// Runs `cmd`, killed if it takes longer than `limit`.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{shown}: {e}"));
    // Drain the pipes while waiting, so a chatty build cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Answers every request with 200 and "ok" until the test ends; returns `host:port`.
fn serve_ok() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    addr
}

#[test]
fn a_new_prober_from_the_template_builds_passes_its_tests_and_runs() {
    let ward = ward_bin();
    // target/debug/ward -> target/: the author's builds get a target dir of their own there,
    // kept between runs.
    let target = ward
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("author"))
        .unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let work = tempfile::tempdir().unwrap();
    let dir: PathBuf = work.path().join("my-check");
    let minute = Duration::from_secs(60);

    // 1. `ward plugin new prober my-check`.
    let out = run(
        Command::new(&ward)
            .args(["plugin", "new", "prober", "my-check", "--dir"])
            .arg(&dir),
        minute,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    for file in ["Cargo.toml", "src/lib.rs", "tests/probe.rs"] {
        assert!(dir.join(file).is_file(), "ward plugin new wrote no {file}");
    }
    // The workspace's lock file, so the author's crate resolves the versions ward is tested
    // with, without asking the registry for new ones.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .unwrap();

    // 2. `cargo build --target wasm32-wasip2 --release`.
    let out = run(
        Command::new(&cargo)
            .args(["build", "--target", "wasm32-wasip2", "--release"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target),
        10 * minute,
    );
    assert!(out.status.success(), "build failed:\n{}", text(&out.stderr));
    let component = target.join("wasm32-wasip2/release/my_check.wasm");
    assert!(component.is_file(), "no {}", component.display());

    // 3. The template's own tests, against that component, through this ward.
    let out = run(
        Command::new(&cargo)
            .args(["test", "--", "--nocapture"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .env("WARD", &ward),
        10 * minute,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("3 passed"), "{stdout}");
    assert!(
        !stderr.contains("skipped"),
        "the template's tests skipped: {stderr}"
    );

    // 4. `ward plugin check` and `ward plugin run` on the author's component.
    let out = run(
        Command::new(&ward)
            .arg("plugin")
            .arg("check")
            .arg(&component),
        minute,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("plugin:       my_check (prober)"),
        "{}",
        text(&out.stdout)
    );
    let addr = serve_ok();
    let out = run(
        Command::new(&ward)
            .arg("plugin")
            .arg("run")
            .arg(&component)
            .args(["--target", &addr, "--json"])
            .arg(format!("--grant=net={addr}")),
        minute,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["status"], "up", "{result}");
}
