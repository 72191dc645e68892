//! Test guest: a prober whose probe spins forever on the CPU, never calling the host, so only
//! the host's deadline (epoch interruption or fuel) can stop it.

use ward_sdk::{Description, NoConfig, ProbeResult, Prober};

/// The spinning prober.
pub struct Loop;

impl Prober for Loop {
    type Config = NoConfig;

    fn describe() -> Description {
        Description::new("loop", "0.1.0", "Test guest: never returns.")
    }

    fn probe(_target: &str, _config: NoConfig) -> ward_sdk::Result<ProbeResult> {
        let mut counter = 0_u64;
        loop {
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
}

ward_sdk::export_prober!(Loop);
