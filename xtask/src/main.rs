//! ward's build helper, run as `cargo xtask <command>` (an alias in `.cargo/config.toml`).
//!
//! - `run [ARGS...]`: installs the wasm32-wasip2 target if missing, builds the first-party
//!   plugins into `target/ward-plugins/`, builds ward in release and runs
//!   `ward run --plugins-dir target/ward-plugins ARGS...`.
//! - `test`: the whole test suite as CI runs it: rustfmt check, clippy with warnings denied,
//!   every test of the workspace (`runtime/tests/` makes cargo build the `ward` binary that
//!   the whole-system tests in `tests/` run).
//! - `plugins [DIR]`: builds the first-party plugins into DIR (default `target/ward-plugins`).
//!
//! Only std: it must build in seconds on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// First-party plugins: (crate, plugin name). The plugin name is the file stem ward sees.
const PLUGINS: [(&str, &str); 2] = [("prober-http", "http"), ("prober-tcp", "tcp")];
const WASM_TARGET: &str = "wasm32-wasip2";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(),
        Some("plugins") => {
            let out = args
                .get(1)
                .map(PathBuf::from)
                .unwrap_or_else(|| root().join("target/ward-plugins"));
            plugins(&out)
        }
        _ => Err("usage: cargo xtask run [WARD RUN ARGS...] | test | plugins [DIR]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    // xtask/ is one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn status(mut cmd: Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let s = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if s.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({s})"))
    }
}

/// Installs the wasm32-wasip2 target through rustup when it is missing.
fn ensure_wasm_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup (needed for the {WASM_TARGET} target): {e}"))?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", WASM_TARGET]);
    status(add)
}

fn plugins(out: &Path) -> Result<(), String> {
    ensure_wasm_target()?;
    let target_dir = root().join("target/guest");
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--target",
        WASM_TARGET,
        "--target-dir",
    ]);
    build.arg(&target_dir);
    // Plugins carry no debug info: it would make each component ten times larger and slower
    // to load, for backtraces nobody reads from a monitoring plugin.
    build.env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    build.env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    for (krate, _) in PLUGINS {
        build.args(["-p", krate]);
    }
    status(build)?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    for (krate, name) in PLUGINS {
        let built = target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", krate.replace('-', "_")));
        // Copy beside, then rename: a running ward sees the new version appear atomically.
        let tmp = out.join(format!(".{name}.wasm.tmp"));
        let dest = out.join(format!("{name}.wasm"));
        std::fs::copy(&built, &tmp).map_err(|e| format!("cannot copy {}: {e}", built.display()))?;
        std::fs::rename(&tmp, &dest)
            .map_err(|e| format!("cannot install {}: {e}", dest.display()))?;
        eprintln!("xtask: plugin {name} -> {}", dest.display());
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let out = root().join("target/ward-plugins");
    plugins(&out)?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "ward"]);
    status(build)?;
    let mut ward = Command::new(root().join("target/release/ward"));
    ward.arg("run").arg("--plugins-dir").arg(&out).args(args);
    status(ward)
}

fn test() -> Result<(), String> {
    ensure_wasm_target()?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    status(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    status(clippy)?;
    let mut test = cargo();
    test.args(["test", "--workspace"]);
    status(test)
}
