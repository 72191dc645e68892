//! The `{{name}}` prober: fetches `http://<target><path>` and checks the status code.
//!
//! Build: `cargo build --target wasm32-wasip2 --release`.
//! Try:   `ward plugin run target/wasm32-wasip2/release/<file>.wasm --target 127.0.0.1:8080
//!         --grant net=127.0.0.1:8080`.

use std::time::Duration;

use ward_sdk::http::Request;
use ward_sdk::{Capability, Description, ProbeResult, Prober};

/// Config of the `{{name}}` prober. Every field's doc comment ends up in the JSON schema that
/// `ward plugin check` prints.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Path (and query) to fetch.
    #[serde(default = "default_path")]
    pub path: String,
    /// Status code that means up.
    #[serde(default = "default_expect_status")]
    pub expect_status: u16,
    /// Give up after this many milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_path() -> String {
    "/".to_owned()
}

fn default_expect_status() -> u16 {
    200
}

fn default_timeout_ms() -> u64 {
    5000
}

/// The prober.
pub struct Check;

impl Prober for Check {
    type Config = Config;

    fn describe() -> Description {
        Description::new(
            "{{name}}",
            env!("CARGO_PKG_VERSION"),
            "Fetches a path over HTTP and checks the status code.",
        )
        // Ask for what the probe uses; the operator grants it per check.
        .capability(Capability::Network)
    }

    fn probe(target: &str, config: Config) -> ward_sdk::Result<ProbeResult> {
        let url = format!("http://{target}{}", config.path);
        // A refused connection or a timeout becomes a "down" result by itself: `?` is enough.
        let response = Request::get(&url)?
            .timeout(Duration::from_millis(config.timeout_ms))
            .send()?;
        let result = if response.status == config.expect_status {
            ProbeResult::up(format!("HTTP {} from {url}", response.status))
        } else {
            ProbeResult::down(format!(
                "HTTP {} from {url}, expected {}",
                response.status, config.expect_status
            ))
        };
        Ok(result.with_sample("probe_http_status_code", &[], f64::from(response.status)))
    }
}

ward_sdk::export_prober!(Check);
