//! `ward plugin new`: a new plugin crate from the SDK's template (the files under
//! `sdk/templates/`, compiled into the binary so it works from anywhere).

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// (path in the new crate, template text) for the prober template.
const PROBER: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../../sdk/templates/prober/Cargo.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../sdk/templates/prober/src/lib.rs"),
    ),
    (
        "tests/probe.rs",
        include_str!("../../../sdk/templates/prober/tests/probe.rs"),
    ),
    (
        ".gitignore",
        include_str!("../../../sdk/templates/prober/.gitignore"),
    ),
];

/// The SDK of the source tree this binary was built from.
const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

pub fn new_plugin(
    kind: &str,
    name: &str,
    dir: Option<PathBuf>,
    sdk_path: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let files = match kind {
        "prober" => PROBER,
        "discoverer" | "alert-rule" | "notifier" => bail!(
            "no template for {kind} plugins yet: start from a prober (`ward plugin new prober {name}`) and implement ward_sdk::{} instead",
            match kind {
                "discoverer" => "Discoverer",
                "alert-rule" => "AlertRule",
                _ => "Notifier",
            }
        ),
        other => bail!(
            "unknown plugin kind {other:?}: expected prober, discoverer, alert-rule or notifier"
        ),
    };
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "invalid plugin name {name:?}: use lowercase letters, digits, - and _, starting with a letter"
        );
    }
    let sdk = match sdk_path {
        Some(p) => p,
        None => PathBuf::from(BUILT_SDK),
    };
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the ward-sdk crate is not at {}: pass --sdk-path to a checkout's sdk/ directory",
            sdk.display()
        )
    })?;
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "{} has no Cargo.toml: --sdk-path must point at ward's sdk/ directory",
            sdk.display()
        );
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && dir
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!("{} already exists and is not empty", dir.display());
    }
    for (path, text) in files {
        let text = text
            .replace("{{name}}", name)
            .replace("{{sdk_path}}", &sdk.display().to_string())
            .replace("{{sdk_version}}", env!("CARGO_PKG_VERSION"));
        write(&dir.join(path), &text)?;
    }
    let wasm = name.replace('-', "_");
    println!("created {} plugin {name:?} in {}", kind, dir.display());
    println!("next:");
    println!("  cd {}", dir.display());
    println!("  cargo build --target wasm32-wasip2 --release");
    println!(
        "  ward plugin run target/wasm32-wasip2/release/{wasm}.wasm --target 127.0.0.1:8080 --grant net=127.0.0.1:8080"
    );
    println!(
        "  cp target/wasm32-wasip2/release/{wasm}.wasm <plugins dir>/.{name}.tmp && mv <plugins dir>/.{name}.tmp <plugins dir>/{name}.wasm"
    );
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
