//! The `tcp` prober: connect to `host:port`, optionally send a line and expect an answer.
//!
//! Up when the connection (and the expected answer, if configured) succeeds; down when the
//! target refuses, times out, or answers something else. Built with ward-sdk's public API only;
//! the component is installed as `tcp.wasm`.
//!
//! Samples, named as blackbox_exporter's where it has them: `probe_dns_lookup_time_seconds`,
//! `probe_tcp_connect_duration_seconds`, `probe_ip_protocol`, and
//! `probe_failed_due_to_regex` when `expect` is set.

use std::time::{Duration, Instant};

use regex_lite::Regex;
use ward_sdk::net::{self, TcpStream};
use ward_sdk::{Capability, Description, Error, ProbeResult, Prober, Status};

/// Config of the `tcp` prober.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Text to send once connected, e.g. `"PING\r\n"`.
    #[serde(default)]
    pub send: Option<String>,
    /// Regular expression the answer must match (searched in what is read, as text).
    /// Without it, the prober reads nothing.
    #[serde(default)]
    pub expect: Option<String>,
    /// Most bytes to read while looking for `expect`.
    #[serde(default = "default_read_limit")]
    pub read_limit: usize,
    /// Give up after this many milliseconds (connect, send and read together). Default: the
    /// time ward gives the check.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

fn default_read_limit() -> usize {
    4096
}

/// The `tcp` prober.
pub struct Tcp;

impl Prober for Tcp {
    type Config = Config;

    fn describe() -> Description {
        Description::new(
            "tcp",
            env!("CARGO_PKG_VERSION"),
            "Connects to host:port over TCP, optionally sends a line and expects an answer.",
        )
        .capability(Capability::Network)
    }

    fn probe(target: &str, config: Config) -> ward_sdk::Result<ProbeResult> {
        let expect = config
            .expect
            .as_deref()
            .map(|pattern| Regex::new(pattern).map_err(|e| Error::Config(format!("expect: {e}"))))
            .transpose()?;
        let timeout = config
            .timeout_ms
            .map(Duration::from_millis)
            .or_else(ward_sdk::deadline::time_left)
            .unwrap_or(Duration::from_secs(10));
        let start = Instant::now();

        let (host, port) = net::split_host_port(target)?;
        let ips = net::resolve(host, timeout)?;
        let lookup = start.elapsed();

        let connect_start = Instant::now();
        let mut last_error = None;
        let mut stream = None;
        for ip in ips {
            let left = timeout.saturating_sub(start.elapsed());
            match TcpStream::connect_addr(std::net::SocketAddr::new(ip, port), left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e @ Error::Permission(_)) => return Err(e),
                Err(e) => last_error = Some(e),
            }
        }
        let Some(mut stream) = stream else {
            return Err(
                last_error.unwrap_or_else(|| Error::Network(format!("{target}: no addresses")))
            );
        };
        let connect = connect_start.elapsed();
        let peer = stream.peer_addr();

        let mut result = ProbeResult::up(format!("connected to {peer} in {}", human(connect)))
            .with_sample("probe_dns_lookup_time_seconds", &[], lookup.as_secs_f64())
            .with_sample(
                "probe_tcp_connect_duration_seconds",
                &[],
                connect.as_secs_f64(),
            )
            .with_sample(
                "probe_ip_protocol",
                &[],
                if peer.is_ipv4() { 4.0 } else { 6.0 },
            );

        if let Some(send) = &config.send {
            stream.write_all(send.as_bytes(), timeout.saturating_sub(start.elapsed()))?;
        }
        if let Some(expect) = expect {
            let read = stream.read_until(
                config.read_limit,
                timeout.saturating_sub(start.elapsed()),
                |bytes| expect.is_match(&String::from_utf8_lossy(bytes)),
            );
            let read = match read {
                Ok(read) => read,
                Err(Error::Timeout(_)) => {
                    return Ok(result
                        .with_sample("probe_failed_due_to_regex", &[], 1.0)
                        .with_message(format!(
                            "connected to {peer}, but expected /{expect}/ not seen within {}",
                            human(timeout)
                        ))
                        .with_status(Status::Down));
                }
                Err(e) => return Err(e),
            };
            let text = String::from_utf8_lossy(&read);
            if expect.is_match(&text) {
                result = result
                    .with_sample("probe_failed_due_to_regex", &[], 0.0)
                    .with_message(format!(
                        "connected to {peer} in {}, /{expect}/ matched in {} bytes read",
                        human(connect),
                        read.len()
                    ));
            } else {
                return Ok(result
                    .with_sample("probe_failed_due_to_regex", &[], 1.0)
                    .with_message(format!(
                        "expected /{expect}/ not found in {} bytes read from {peer}",
                        read.len()
                    ))
                    .with_status(Status::Down));
            }
        }
        Ok(result)
    }
}

ward_sdk::export_prober!(Tcp);

/// "0.4 ms", "12.3 ms", "1.2 s".
fn human(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 1.0 {
        format!("{seconds:.1} s")
    } else {
        format!("{:.1} ms", seconds * 1e3)
    }
}
