//! Test guest: a prober that panics with "boom"; in wasm a panic aborts, so the host sees a
//! trap.

use ward_sdk::{Description, NoConfig, ProbeResult, Prober};

/// The panicking prober.
pub struct Trap;

impl Prober for Trap {
    type Config = NoConfig;

    fn describe() -> Description {
        Description::new("trap", "0.1.0", "Test guest: panics.")
    }

    fn probe(_target: &str, _config: NoConfig) -> ward_sdk::Result<ProbeResult> {
        panic!("boom")
    }
}

ward_sdk::export_prober!(Trap);
