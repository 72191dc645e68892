//! Test guest: a prober that is up at once, its message naming its version ("noop v1", or
//! "noop v2" with feature `v2`), so hot-reload tests can tell which build answered.

use ward_sdk::{Description, NoConfig, ProbeResult, Prober};

#[cfg(not(feature = "v2"))]
const VERSION: (&str, &str) = ("0.1.0", "noop v1");
#[cfg(feature = "v2")]
const VERSION: (&str, &str) = ("0.2.0", "noop v2");

/// The noop prober.
pub struct Noop;

impl Prober for Noop {
    type Config = NoConfig;

    fn describe() -> Description {
        Description::new(
            "noop",
            VERSION.0,
            "Test guest: always up, says its version.",
        )
    }

    fn probe(_target: &str, _config: NoConfig) -> ward_sdk::Result<ProbeResult> {
        Ok(ProbeResult::up(VERSION.1))
    }
}

ward_sdk::export_prober!(Noop);
