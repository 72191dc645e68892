//! Test guest: connects to its target (`host:port`) over TCP through `ward_sdk::net`, then
//! fetches `http://<target>/` through `ward_sdk::http`, to test the host's network grants.
//!
//! Up with a message describing both results when both succeed. Otherwise the first error:
//! [`Error::Permission`] (a plugin error) when the target is outside the grant; a network
//! failure becomes a down result, as for any prober.

use std::time::Duration;

use ward_sdk::http::Request;
use ward_sdk::net::TcpStream;
use ward_sdk::{Capability, Description, NoConfig, ProbeResult, Prober};

const TIMEOUT: Duration = Duration::from_secs(5);

/// The grant-testing prober.
pub struct Netgrab;

impl Prober for Netgrab {
    type Config = NoConfig;

    fn describe() -> Description {
        Description::new(
            "netgrab",
            "0.1.0",
            "Test guest: TCP connect and HTTP GET to its target.",
        )
        .capability(Capability::Network)
    }

    fn probe(target: &str, _config: NoConfig) -> ward_sdk::Result<ProbeResult> {
        let stream = TcpStream::connect(target, TIMEOUT)?;
        let tcp = format!("tcp: connected to {}", stream.peer_addr());
        drop(stream);
        let response = Request::get(&format!("http://{target}/"))?
            .timeout(TIMEOUT)
            .send()?;
        let http = format!(
            "http: HTTP {} with {} bytes",
            response.status,
            response.body.len()
        );
        Ok(ProbeResult::up(format!("{tcp}; {http}")))
    }
}

ward_sdk::export_prober!(Netgrab);
