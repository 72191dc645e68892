//! Test guest: a prober built with wit-bindgen directly against `wit/`, a copy of ward's WIT
//! whose package version is `ward:plugin@1.0.0`, so the host can test that it refuses a major
//! version it does not know. Its code would work; its version is what is wrong.

#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "prober-plugin",
        path: "wit",
    });
}

use bindings::exports::ward::plugin::plugin::Guest as PluginGuest;
use bindings::exports::ward::plugin::prober::{Guest as ProberGuest, ProbeResult, Status};
use bindings::ward::plugin::types::{Description, Error, Kind};

/// The prober from the future.
struct Future;

impl PluginGuest for Future {
    fn describe() -> Description {
        Description {
            name: "future".to_owned(),
            version: "1.0.0".to_owned(),
            kind: Kind::Prober,
            summary: "Test guest: speaks ward:plugin@1.0.0.".to_owned(),
            config_schema: String::new(),
            capabilities: Vec::new(),
        }
    }
}

impl ProberGuest for Future {
    fn probe(_target: String, _config: String, _timeout_ms: u32) -> Result<ProbeResult, Error> {
        Ok(ProbeResult {
            status: Status::Up,
            duration_ns: 0,
            message: "from the future".to_owned(),
            samples: Vec::new(),
        })
    }
}

/// The generated exports: `unsafe` glue around the trait impls above.
#[allow(unsafe_code)]
mod exported {
    use super::{Future, bindings};

    bindings::export!(Future with_types_in bindings);
}
