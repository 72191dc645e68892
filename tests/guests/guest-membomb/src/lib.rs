//! Test guest: a prober that allocates memory without bound, writing to every page so the
//! memory is really used, until the host's memory limit stops it.

use ward_sdk::{Description, NoConfig, ProbeResult, Prober};

/// Allocation step: 1 MiB.
const CHUNK: usize = 1 << 20;

/// The memory-hungry prober.
pub struct Membomb;

impl Prober for Membomb {
    type Config = NoConfig;

    fn describe() -> Description {
        Description::new("membomb", "0.1.0", "Test guest: allocates until stopped.")
    }

    fn probe(_target: &str, _config: NoConfig) -> ward_sdk::Result<ProbeResult> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut chunk = vec![0_u8; CHUNK];
            for page in chunk.chunks_mut(4096) {
                page[0] = 1;
            }
            hoard.push(std::hint::black_box(chunk));
        }
    }
}

ward_sdk::export_prober!(Membomb);
