//! `ward:plugin/tls`: the certificate chain a TLS server presents, for certificate-expiry
//! probes (wasi:http hides the peer's certificates).
//!
//! The chain is read, not validated: a probe must report the expiry of a certificate that is
//! expired or self-signed too. Access is bound by the same network grant as sockets and HTTP.

use crate::plugin::bindings::v0_1::tls::{Certificate, Host};
use crate::plugin::state::HostState;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use std::time::Duration;

/// Longest chain returned.
const MAX_CHAIN: usize = 16;

impl Host for HostState {
    async fn peer_certificates(
        &mut self,
        host: String,
        port: u16,
        server_name: String,
        timeout_ms: u32,
    ) -> Result<Vec<Certificate>, String> {
        if !self.call.net.allows_authority(&host, port) {
            let target = format!("{host}:{port}");
            (self.call.on_deny)(&target);
            return Err(format!(
                "permission denied: {target} is outside this check's network grant"
            ));
        }
        let timeout = Duration::from_millis(u64::from(timeout_ms)).min(self.call.remaining());
        match tokio::time::timeout(timeout, fetch(&host, port, &server_name)).await {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {timeout:?}")),
        }
    }
}

async fn fetch(host: &str, port: u16, server_name: &str) -> Result<Vec<Certificate>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ReadOnly(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| format!("invalid server name {server_name:?}: {e}"))?;
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connect {host}:{port}: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {host}:{port}: {e}"))?;
    let (_, conn) = tls.get_ref();
    let chain = conn.peer_certificates().unwrap_or_default();
    chain.iter().take(MAX_CHAIN).map(describe).collect()
}

fn describe(der: &CertificateDer<'_>) -> Result<Certificate, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("unparsable certificate: {e}"))?;
    let validity = cert.validity();
    Ok(Certificate {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before_ms: validity.not_before.timestamp().saturating_mul(1000),
        not_after_ms: validity.not_after.timestamp().saturating_mul(1000),
    })
}

/// Accepts any chain (the probe reads it; it does not trust it), but still checks handshake
/// signatures so the peer proves it holds the key.
#[derive(Debug)]
struct ReadOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for ReadOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
