//! The `ward` command line: `plugin check`, `plugin run`, `plugin new`, and `run`'s errors.

use crate::util::{HttpServer, ward_bin};
use std::process::Command;
use ward_tests::artifacts;

fn ward(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ward_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plugin_check_prints_the_description() {
    let (code, out, err) = ward(&["plugin", "check", artifacts::HTTP]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("plugin:       http (prober)"), "{out}");
    assert!(out.contains("interface:    ward:plugin@0.1.0"), "{out}");
    assert!(out.contains("capabilities: network"), "{out}");
    assert!(
        out.contains("\"expect_status\""),
        "the config schema is printed: {out}"
    );

    let (code, _, err) = ward(&["plugin", "check", artifacts::FUTURE]);
    assert_eq!(code, 1);
    assert!(
        err.contains("future.wasm: built against ward:plugin@1.0.0"),
        "{err}"
    );
}

#[test]
fn plugin_run_prints_json_and_exits_by_status() {
    let server = HttpServer::start(200, "fine");
    let url = format!("http://{}/", server.addr);
    let grant = format!("net={}", server.addr);
    let (code, out, err) = ward(&[
        "plugin",
        "run",
        artifacts::HTTP,
        "--target",
        &url,
        "--grant",
        &grant,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["status"], "up");
    assert!(v["duration_seconds"].as_f64().unwrap() > 0.0);
    let code_sample = v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "probe_http_status_code")
        .unwrap();
    assert_eq!(code_sample["value"], 200.0);

    // Down: exit 1.
    let (code, out, _) = ward(&[
        "plugin",
        "run",
        artifacts::HTTP,
        "--target",
        &url,
        "--grant",
        &grant,
        "--config",
        r#"{"body_contains":"missing"}"#,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("status:   down"), "{out}");

    // No grant: a permission error, exit 2, and the denial on stderr.
    let (code, out, err) = ward(&["plugin", "run", artifacts::HTTP, "--target", &url, "--json"]);
    assert_eq!(code, 2, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["error"]["kind"], "permission");
    assert!(err.contains(&format!("denied: {}", server.addr)), "{err}");

    // A plugin failure (trap) is kind "plugin".
    let (code, out, _) = ward(&["plugin", "run", artifacts::TRAP, "--target", "x", "--json"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["error"]["kind"], "plugin");
    assert_eq!(v["error"]["reason"], "trap");
}

#[test]
fn run_with_a_bad_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ward.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n[[check]]\nname = \"a\"\nplugin = \"http\"\ntargets = [\"x\"]\nintervall = \"1s\"\n").unwrap();
    let (code, _, err) = ward(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "{}:6:1: unknown field `intervall`",
            config.display()
        )),
        "{err}"
    );
}
