//! ward's integration tests, and the wasm fixtures they run.
//!
//! `build.rs` builds, for `wasm32-wasip2` in release, the first-party plugins (`plugins/`) and
//! the test guests (`tests/guests/`), copies each component to a file named after the plugin
//! (`http.wasm`, `noop.wasm`, ...) under this crate's `OUT_DIR`, and [`artifacts`] holds their
//! paths. Building needs the target: `rustup target add wasm32-wasip2`. The nested cargo uses
//! `<CARGO_TARGET_DIR or target>/guest` as its target dir, and reruns when `wit/`, `sdk/`,
//! `plugins/`, `tests/guests/`, `Cargo.toml` or `Cargo.lock` change.
//!
//! The tests themselves are in `tests/*.rs`. This crate is not used by ward; it only runs it.

/// Paths of the built components, absolute. Copy one before changing it: the files are shared
/// by every test.
pub mod artifacts {
    /// The `http` prober (`plugins/prober-http`).
    pub const HTTP: &str = env!("WARD_ARTIFACT_HTTP");
    /// The `tcp` prober (`plugins/prober-tcp`).
    pub const TCP: &str = env!("WARD_ARTIFACT_TCP");
    /// Prober, up at once with message "noop v1"; description version 0.1.0.
    pub const NOOP_V1: &str = env!("WARD_ARTIFACT_NOOP_V1");
    /// The same prober built with feature `v2`: message "noop v2", version 0.2.0. The file is
    /// `noop-v2.wasm`: copy it to `noop.wasm` to stand in for v1.
    pub const NOOP_V2: &str = env!("WARD_ARTIFACT_NOOP_V2");
    /// Prober that spins on the CPU forever without calling the host.
    pub const LOOP: &str = env!("WARD_ARTIFACT_LOOP");
    /// Prober that allocates and touches memory without bound.
    pub const MEMBOMB: &str = env!("WARD_ARTIFACT_MEMBOMB");
    /// Prober that panics with "boom": a trap.
    pub const TRAP: &str = env!("WARD_ARTIFACT_TRAP");
    /// Prober that TCP-connects to its target (`host:port`) and GETs `http://<target>/`; up
    /// with both results, or the error it got (permission outside the grant).
    pub const NETGRAB: &str = env!("WARD_ARTIFACT_NETGRAB");
    /// Prober returning a 64 MiB message (`{"mode":"message"}`, default) or 1,000,000 samples
    /// (`{"mode":"samples"}`).
    pub const BIGOUT: &str = env!("WARD_ARTIFACT_BIGOUT");
    /// Discoverer returning `127.0.0.1:9001` and `127.0.0.1:9002` in full, cursor "static".
    pub const DISCOVERER: &str = env!("WARD_ARTIFACT_DISCOVERER");
    /// Alert rule querying `up` at the evaluation time; one firing alert (`alertname`
    /// "UpPresent", value = series count) when non-empty, none otherwise.
    pub const ALERT_RULE: &str = env!("WARD_ARTIFACT_ALERT_RULE");
    /// Notifier that logs the notification and answers "logged N alerts".
    pub const NOTIFIER: &str = env!("WARD_ARTIFACT_NOTIFIER");
    /// Prober of `ward:plugin@1.0.0`, a major version the host does not support.
    pub const FUTURE: &str = env!("WARD_ARTIFACT_FUTURE");
    /// Prober reading its target's TLS certificate chain through the `tls` capability; up with
    /// `probe_ssl_earliest_cert_expiry` of the leaf.
    pub const TLS: &str = env!("WARD_ARTIFACT_TLS");

    /// Every artifact, by constant name.
    pub const ALL: &[(&str, &str)] = &[
        ("HTTP", HTTP),
        ("TCP", TCP),
        ("NOOP_V1", NOOP_V1),
        ("NOOP_V2", NOOP_V2),
        ("LOOP", LOOP),
        ("MEMBOMB", MEMBOMB),
        ("TRAP", TRAP),
        ("NETGRAB", NETGRAB),
        ("BIGOUT", BIGOUT),
        ("DISCOVERER", DISCOVERER),
        ("ALERT_RULE", ALERT_RULE),
        ("NOTIFIER", NOTIFIER),
        ("FUTURE", FUTURE),
        ("TLS", TLS),
    ];
}

/// The `ward` binary that cargo built beside the running test binary.
///
/// # Panics
/// When it is not there, saying how to build it.
pub fn ward_bin() -> std::path::PathBuf {
    // tests run from target/<profile>/deps; the binary is in target/<profile>.
    let exe = std::env::current_exe().unwrap_or_default();
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("ward"))
        .unwrap_or_default();
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p ward` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_artifact_is_a_component() {
        for (name, path) in super::artifacts::ALL {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{name}: {path}: {e}"));
            // Component preamble: magic, then version 0x0d and layer 1.
            assert_eq!(
                &bytes[..8],
                b"\0asm\x0d\0\x01\0",
                "{name} is not a component"
            );
        }
    }
}
