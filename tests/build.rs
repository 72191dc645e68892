//! Builds ward's wasm fixtures: the first-party plugins and the test guests, for
//! `wasm32-wasip2` in release, and exposes their paths to `src/lib.rs` as `WARD_ARTIFACT_*`.
//!
//! The nested cargo uses its own target dir (`<target dir>/guest`): sharing the outer build's
//! would deadlock on cargo's lock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// (constant name, cargo package, file name in the artifact dir). The file stem is the plugin
/// name ward sees.
const ARTIFACTS: &[(&str, &str, &str)] = &[
    ("HTTP", "prober-http", "http.wasm"),
    ("TCP", "prober-tcp", "tcp.wasm"),
    ("NOOP_V1", "guest-noop", "noop.wasm"),
    ("LOOP", "guest-loop", "loop.wasm"),
    ("MEMBOMB", "guest-membomb", "membomb.wasm"),
    ("TRAP", "guest-trap", "trap.wasm"),
    ("NETGRAB", "guest-netgrab", "netgrab.wasm"),
    ("BIGOUT", "guest-bigout", "bigout.wasm"),
    ("DISCOVERER", "guest-discoverer", "discoverer.wasm"),
    ("ALERT_RULE", "guest-alert-rule", "alert-rule.wasm"),
    ("NOTIFIER", "guest-notifier", "notifier.wasm"),
    ("FUTURE", "guest-future", "future.wasm"),
    ("TLS", "guest-tls", "tls.wasm"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    for watched in [
        "wit",
        "sdk",
        "plugins",
        "tests/guests",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    check_target_installed();

    // A relative CARGO_TARGET_DIR is taken from the workspace root, where cargo is run (the
    // build script itself runs in `tests/`).
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
    .join("guest");
    let built = target_dir.join(TARGET).join("release");
    let artifacts = out_dir.join("wasm");
    std::fs::create_dir_all(&artifacts).expect("create the artifact dir");

    let mut packages: Vec<&str> = ARTIFACTS.iter().map(|&(_, package, _)| package).collect();
    packages.dedup();
    cargo_build(&root, &target_dir, &packages, None);
    for &(name, package, file) in ARTIFACTS {
        let destination = artifacts.join(file);
        copy(&built.join(wasm_name(package)), &destination);
        println!(
            "cargo:rustc-env=WARD_ARTIFACT_{name}={}",
            destination.display()
        );
    }

    // Same crate, other feature: build it alone so the plain build above is not affected, and
    // after copying the plain one away.
    cargo_build(&root, &target_dir, &["guest-noop"], Some("guest-noop/v2"));
    let destination = artifacts.join("noop-v2.wasm");
    copy(&built.join(wasm_name("guest-noop")), &destination);
    println!(
        "cargo:rustc-env=WARD_ARTIFACT_NOOP_V2={}",
        destination.display()
    );
}

fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .expect("run rustc --print target-libdir");
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || libdir.is_empty() || !Path::new(&libdir).is_dir() {
        panic!(
            "the {TARGET} target is not installed, and ward's wasm test fixtures need it: \
             run `rustup target add {TARGET}`"
        );
    }
}

fn cargo_build(root: &Path, target_dir: &Path, packages: &[&str], features: Option<&str>) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    if let Some(features) = features {
        command.args(["--features", features]);
    }
    command
        // Flags cargo computed for the outer build's target, not for wasm.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        // Fixtures need no DWARF: smaller files, faster loading in tests.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    let output = command
        .output()
        .expect("run cargo to build the wasm fixtures");
    if !output.status.success() {
        panic!(
            "building the wasm fixtures failed: {command:?}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The file cargo writes for a cdylib package.
fn wasm_name(package: &str) -> String {
    format!("{}.wasm", package.replace('-', "_"))
}

fn copy(from: &Path, to: &Path) {
    if let Err(error) = std::fs::copy(from, to) {
        panic!("copy {} to {}: {error}", from.display(), to.display());
    }
}
