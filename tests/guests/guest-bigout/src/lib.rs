//! Test guest: a prober whose result is too big for any sane host limit: a 64 MiB message
//! (`{"mode":"message"}`, the default) or 1,000,000 samples (`{"mode":"samples"}`).

use ward_sdk::{Description, ProbeResult, Prober};

/// Config of the bigout prober.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What to make huge.
    #[serde(default)]
    pub mode: Mode,
}

/// What to make huge.
#[derive(Debug, Default, Clone, Copy, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A 64 MiB message.
    #[default]
    Message,
    /// 1,000,000 samples.
    Samples,
}

/// The oversized prober.
pub struct Bigout;

impl Prober for Bigout {
    type Config = Config;

    fn describe() -> Description {
        Description::new("bigout", "0.1.0", "Test guest: returns a huge result.")
    }

    fn probe(_target: &str, config: Config) -> ward_sdk::Result<ProbeResult> {
        Ok(match config.mode {
            Mode::Message => ProbeResult::up("x".repeat(64 << 20)),
            Mode::Samples => {
                let mut result = ProbeResult::up("1000000 samples");
                for i in 0..1_000_000_u32 {
                    result.push_sample("bigout_sample", &[], f64::from(i));
                }
                result
            }
        })
    }
}

ward_sdk::export_prober!(Bigout);
