//! The certificates a TLS server presents, which `wasi:http` does not expose. Subject to the
//! same network grant as any connection.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! let chain = ward_sdk::tls::peer_certificates("example.com", 443, "example.com", Duration::from_secs(5))?;
//! let expiry = chain.iter().map(|cert| cert.not_after_ms).min();
//! # Ok::<(), ward_sdk::Error>(())
//! ```

use std::time::Duration;

use crate::bindings::host::ward::plugin::tls as wit;
use crate::{Error, Result};

/// One certificate of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity, ms since the Unix epoch.
    pub not_before_ms: i64,
    /// End of validity, ms since the Unix epoch.
    pub not_after_ms: i64,
}

/// Connect to `host`:`port`, complete a TLS handshake using `server_name` for SNI, and return
/// the chain the server presented, leaf first. The chain is not validated: a prober can report
/// the expiry even of a certificate it would reject.
///
/// The host answers with text only; the SDK reads it as [`Error::Permission`] when it says the
/// connection was denied or not granted, [`Error::Timeout`] when it says it timed out, and
/// [`Error::Network`] otherwise.
pub fn peer_certificates(
    host: &str,
    port: u16,
    server_name: &str,
    timeout: Duration,
) -> Result<Vec<Certificate>> {
    let timeout = crate::deadline::clamp(timeout);
    let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    match wit::peer_certificates(host, port, server_name, timeout_ms) {
        Ok(chain) => Ok(chain
            .into_iter()
            .map(|cert| Certificate {
                subject: cert.subject,
                issuer: cert.issuer,
                not_before_ms: cert.not_before_ms,
                not_after_ms: cert.not_after_ms,
            })
            .collect()),
        Err(message) => Err(classify(format!(
            "tls handshake with {host}:{port}: {message}"
        ))),
    }
}

fn classify(message: String) -> Error {
    let lower = message.to_ascii_lowercase();
    if lower.contains("denied") || lower.contains("not granted") || lower.contains("permission") {
        Error::Permission(message)
    } else if lower.contains("timed out") || lower.contains("timeout") {
        Error::Timeout(message)
    } else {
        Error::Network(message)
    }
}
