//! Test guest: a discoverer that always returns the same two targets, in full.

use ward_sdk::{Description, Discoverer, Discovery, NoConfig, Target};

/// The static discoverer.
pub struct StaticTargets;

impl Discoverer for StaticTargets {
    type Config = NoConfig;

    fn describe() -> Description {
        Description::new("discoverer", "0.1.0", "Test guest: two static targets.")
    }

    fn discover(_config: NoConfig, _cursor: Option<&str>) -> ward_sdk::Result<Discovery> {
        Ok(Discovery::full(vec![
            Target::new("127.0.0.1:9001").label("__meta_test_index", "1"),
            Target::new("127.0.0.1:9002").label("__meta_test_index", "2"),
        ])
        .with_cursor("static"))
    }
}

ward_sdk::export_discoverer!(StaticTargets);
