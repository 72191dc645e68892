//! Test guest: reads the certificate chain its target (`host:port`) presents, through the
//! host's `tls` capability, and reports the leaf's subject and expiry.

use std::time::Duration;

use ward_sdk::{Capability, Description, NoConfig, ProbeResult, Prober};

/// The certificate-reading prober.
pub struct Tls;

impl Prober for Tls {
    type Config = NoConfig;

    fn describe() -> Description {
        Description::new(
            "tls",
            "0.1.0",
            "Test guest: the certificate chain of a TLS server.",
        )
        .capability(Capability::Network)
    }

    fn probe(target: &str, _config: NoConfig) -> ward_sdk::Result<ProbeResult> {
        let (host, port) = target
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| {
                ward_sdk::Error::Config(format!("target {target:?} is not host:port"))
            })?;
        let chain =
            ward_sdk::tls::peer_certificates(host, port, "localhost", Duration::from_secs(5))?;
        let leaf = chain
            .first()
            .ok_or_else(|| ward_sdk::Error::Protocol("empty certificate chain".into()))?;
        Ok(ProbeResult::up(format!(
            "{} certificates; leaf {}",
            chain.len(),
            leaf.subject
        ))
        .with_sample(
            "probe_ssl_earliest_cert_expiry",
            &[],
            leaf.not_after_ms as f64 / 1000.0,
        ))
    }
}

ward_sdk::export_prober!(Tls);
