//! Runs the built component in ward against a local HTTP server.
//!
//! Build the component first (`cargo build --target wasm32-wasip2 --release`), then
//! `cargo test`. The `ward` binary is taken from `$WARD`, else from `PATH`; without one the
//! tests print why and pass without checking anything.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[test]
fn up_when_the_status_is_expected() {
    let Some(ward) = Ward::find() else { return };
    let server = serve("200 OK", "hello");
    let result = ward.run(&server, "{}");
    assert_eq!(result["status"], "up", "{result}");
    assert!(
        result["message"]
            .as_str()
            .is_some_and(|m| m.contains("HTTP 200")),
        "{result}"
    );
    assert!(result["duration_seconds"].as_f64().is_some(), "{result}");
    let samples = result["samples"].as_array().expect("samples is a list");
    assert!(
        samples
            .iter()
            .any(|s| s["name"] == "probe_http_status_code" && s["value"] == 200.0),
        "{result}"
    );
}

#[test]
fn down_when_the_status_is_not_expected() {
    let Some(ward) = Ward::find() else { return };
    let server = serve("503 Service Unavailable", "busy");
    let result = ward.run(&server, "{}");
    assert_eq!(result["status"], "down", "{result}");
    assert!(
        result["message"]
            .as_str()
            .is_some_and(|m| m.contains("503")),
        "{result}"
    );
}

#[test]
fn a_bad_config_names_the_field() {
    let Some(ward) = Ward::find() else { return };
    let server = serve("200 OK", "hello");
    let result = ward.run(&server, r#"{"expect_status": "x"}"#);
    assert_eq!(result["error"]["kind"], "config", "{result}");
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("expect_status"), "{result}");
}

/// The ward binary and the component under test.
struct Ward {
    binary: PathBuf,
    component: PathBuf,
}

impl Ward {
    /// Both, or `None` (with the reason printed) when one is missing.
    fn find() -> Option<Self> {
        let Some(binary) = std::env::var_os("WARD")
            .map(PathBuf::from)
            .or_else(|| find_in_path("ward"))
        else {
            eprintln!("skipped: no ward binary (set WARD=/path/to/ward or put ward on PATH)");
            return None;
        };
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let file = format!("{}.wasm", env!("CARGO_PKG_NAME").replace('-', "_"));
        let component = target_dir.join("wasm32-wasip2/release").join(file);
        if !component.is_file() {
            eprintln!(
                "skipped: {} is missing: run `cargo build --target wasm32-wasip2 --release` first",
                component.display()
            );
            return None;
        }
        Some(Self { binary, component })
    }

    /// `ward plugin run --json` against `target` with `config`, granted `target`.
    fn run(&self, target: &str, config: &str) -> Value {
        let output = Command::new(&self.binary)
            .arg("plugin")
            .arg("run")
            .arg(&self.component)
            .args(["--target", target, "--config", config, "--json"])
            .arg(format!("--grant=net={target}"))
            .output()
            .expect("run ward");
        let stdout = String::from_utf8_lossy(&output.stdout);
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "ward printed no JSON ({e}):\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }
}

/// Serve every connection on 127.0.0.1 with `status` and `body`; returns `host:port`.
fn serve(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("local address").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0_u8; 4096];
            let _ = stream.read(&mut request);
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    address
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
