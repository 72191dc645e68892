//! The `ward` binary's command line, as a user first meets it. (Being an integration test of
//! this package, it also makes `cargo test --workspace` build the binary that the
//! whole-system tests in `tests/` run.)

use std::process::Command;

fn ward(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .output()
        .expect("run ward");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn version_and_help_name_the_commands() {
    let (ok, out) = ward(&["--version"]);
    assert!(ok);
    assert_eq!(out.trim(), format!("ward {}", env!("CARGO_PKG_VERSION")));
    let (ok, out) = ward(&["plugin", "--help"]);
    assert!(ok, "{out}");
    for command in ["check", "run", "new"] {
        assert!(out.contains(command), "{out}");
    }
}

#[test]
fn unknown_plugin_kind_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("ward-cli-test-{}", std::process::id()));
    let (ok, out) = ward(&[
        "plugin",
        "new",
        "exporter",
        "x",
        "--dir",
        dir.to_str().unwrap_or("."),
    ]);
    assert!(!ok);
    assert!(
        out.contains(
            "unknown plugin kind \"exporter\": expected prober, discoverer, alert-rule or notifier"
        ),
        "{out}"
    );
    assert!(!dir.exists(), "nothing is created on error");
}
