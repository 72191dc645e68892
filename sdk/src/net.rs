//! TCP connections with timeouts, over `wasi:sockets`, within the operator's network grant.
//!
//! ```no_run
//! use std::time::Duration;
//! use ward_sdk::net::TcpStream;
//!
//! let mut stream = TcpStream::connect("127.0.0.1:6379", Duration::from_secs(2))?;
//! stream.write_all(b"PING\r\n", Duration::from_secs(1))?;
//! let answer = stream.read(512, Duration::from_secs(1))?;
//! # Ok::<(), ward_sdk::Error>(())
//! ```
//!
//! Every timeout is also clamped to the current call's [`deadline`](crate::deadline).
//! Errors: a connection outside the grant is [`Error::Permission`]; refused, reset,
//! unreachable and unresolvable are [`Error::Network`]; waiting too long is
//! [`Error::Timeout`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use wasi::io::streams::{InputStream, OutputStream, StreamError};
use wasi::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasi::sockets::tcp::{ShutdownType, TcpSocket};
use wasi::sockets::{instance_network, ip_name_lookup, tcp_create_socket};

use crate::wait::{self, Elapsed};
use crate::{Error, Result};

/// Split `"host:port"` (or `"[v6]:port"`) into host and port.
pub fn split_host_port(address: &str) -> Result<(&str, u16)> {
    let bad = || Error::Config(format!("{address:?} is not host:port"));
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']').ok_or_else(bad)?,
        None => host,
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = port.parse().map_err(|_| bad())?;
    Ok((host, port))
}

/// Resolve `host` (a name or an IP literal) to its addresses, through `wasi:sockets`'
/// name lookup, waiting at most `timeout`.
pub fn resolve(host: &str, timeout: Duration) -> Result<Vec<IpAddr>> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let deadline = wait::deadline_after(timeout);
    let network = instance_network::instance_network();
    let context = || format!("resolving {host}");
    let addresses = ip_name_lookup::resolve_addresses(&network, host)
        .map_err(|code| error(code, &context()))?;
    let mut found = Vec::new();
    loop {
        match addresses.resolve_next_address() {
            Ok(Some(address)) => found.push(from_wasi_ip(address)),
            Ok(None) => break,
            Err(ErrorCode::WouldBlock) => {
                let pollable = addresses.subscribe();
                wait::until(&pollable, deadline)
                    .map_err(|Elapsed| timeout_error(&context(), timeout))?;
            }
            Err(code) => return Err(error(code, &context())),
        }
    }
    if found.is_empty() {
        return Err(Error::Network(format!("{}: no addresses", context())));
    }
    Ok(found)
}

/// A connected TCP stream.
#[derive(Debug)]
pub struct TcpStream {
    // Field order matters: WASI requires the streams to be dropped before their socket.
    input: InputStream,
    output: OutputStream,
    socket: TcpSocket,
    peer: SocketAddr,
}

impl TcpStream {
    /// Connect to `address` (`"host:port"`), resolving the host and trying each of its
    /// addresses in turn, all within `timeout`.
    pub fn connect(address: &str, timeout: Duration) -> Result<Self> {
        let deadline = wait::deadline_after(timeout);
        let (host, port) = split_host_port(address)?;
        let ips = resolve(host, timeout)?;
        let mut last_error = None;
        for ip in ips {
            let left = deadline.saturating_duration_since(Instant::now());
            match Self::connect_addr(SocketAddr::new(ip, port), left) {
                Ok(stream) => return Ok(stream),
                // The operator's grant will not change for the next address.
                Err(error @ Error::Permission(_)) => return Err(error),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Network(format!("{address}: no addresses"))))
    }

    /// Connect to `peer`, waiting at most `timeout`.
    pub fn connect_addr(peer: SocketAddr, timeout: Duration) -> Result<Self> {
        let deadline = wait::deadline_after(timeout);
        let context = || format!("connecting to {peer}");
        let family = match peer {
            SocketAddr::V4(_) => IpAddressFamily::Ipv4,
            SocketAddr::V6(_) => IpAddressFamily::Ipv6,
        };
        let network = instance_network::instance_network();
        let socket =
            tcp_create_socket::create_tcp_socket(family).map_err(|code| error(code, &context()))?;
        socket
            .start_connect(&network, to_wasi_socket_address(peer))
            .map_err(|code| error(code, &context()))?;
        let (input, output) = {
            let pollable = socket.subscribe();
            loop {
                match socket.finish_connect() {
                    Ok(streams) => break streams,
                    Err(ErrorCode::WouldBlock) => wait::until(&pollable, deadline)
                        .map_err(|Elapsed| timeout_error(&context(), timeout))?,
                    Err(code) => return Err(error(code, &context())),
                }
            }
        };
        Ok(Self {
            input,
            output,
            socket,
            peer,
        })
    }

    /// The address connected to.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Write all of `data`, waiting at most `timeout` for the peer to take it.
    pub fn write_all(&mut self, data: &[u8], timeout: Duration) -> Result<()> {
        let deadline = wait::deadline_after(timeout);
        let context = || format!("writing to {}", self.peer);
        let pollable = self.output.subscribe();
        let mut rest = data;
        while !rest.is_empty() {
            let permitted = self
                .output
                .check_write()
                .map_err(|e| stream_error(e, &context()))?;
            if permitted == 0 {
                wait::until(&pollable, deadline)
                    .map_err(|Elapsed| timeout_error(&context(), timeout))?;
                continue;
            }
            let n = rest
                .len()
                .min(usize::try_from(permitted).unwrap_or(usize::MAX));
            self.output
                .write(&rest[..n])
                .map_err(|e| stream_error(e, &context()))?;
            rest = &rest[n..];
        }
        self.output
            .flush()
            .map_err(|e| stream_error(e, &context()))?;
        // A flush is complete once the stream accepts writes again.
        loop {
            wait::until(&pollable, deadline)
                .map_err(|Elapsed| timeout_error(&context(), timeout))?;
            if self
                .output
                .check_write()
                .map_err(|e| stream_error(e, &context()))?
                > 0
            {
                return Ok(());
            }
        }
    }

    /// Read what the peer sends, at most `max` bytes, waiting at most `timeout` for the first
    /// byte. Returns an empty vector once the peer closed the connection.
    pub fn read(&mut self, max: usize, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = wait::deadline_after(timeout);
        let context = || format!("reading from {}", self.peer);
        let pollable = self.input.subscribe();
        loop {
            match self.input.read(max as u64) {
                Ok(bytes) if bytes.is_empty() && max > 0 => wait::until(&pollable, deadline)
                    .map_err(|Elapsed| timeout_error(&context(), timeout))?,
                Ok(bytes) => return Ok(bytes),
                Err(StreamError::Closed) => return Ok(Vec::new()),
                Err(e) => return Err(stream_error(e, &context())),
            }
        }
    }

    /// Read until `done` says the bytes so far are enough, the peer closes, or `limit` bytes
    /// were read, all within `timeout`. Returns what was read.
    pub fn read_until(
        &mut self,
        limit: usize,
        timeout: Duration,
        mut done: impl FnMut(&[u8]) -> bool,
    ) -> Result<Vec<u8>> {
        let deadline = wait::deadline_after(timeout);
        let mut buffer = Vec::new();
        while buffer.len() < limit && !done(&buffer) {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = self.read(limit - buffer.len(), left)?;
            if chunk.is_empty() {
                break;
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer)
    }

    /// Close the sending half: the peer reads end-of-stream.
    pub fn shutdown_write(&mut self) -> Result<()> {
        self.socket
            .shutdown(ShutdownType::Send)
            .map_err(|code| error(code, &format!("shutting down {}", self.peer)))
    }
}

fn timeout_error(context: &str, timeout: Duration) -> Error {
    Error::Timeout(format!(
        "{context}: no answer within {}",
        wait::human(timeout)
    ))
}

fn stream_error(error: StreamError, context: &str) -> Error {
    match error {
        StreamError::Closed => Error::Network(format!("{context}: connection closed")),
        StreamError::LastOperationFailed(e) => {
            Error::Network(format!("{context}: {}", e.to_debug_string()))
        }
    }
}

/// Map a `wasi:sockets` error code to the SDK's error, with `context` saying what failed.
fn error(code: ErrorCode, context: &str) -> Error {
    let message = format!("{context}: {}", code.name().replace('-', " "));
    match code {
        ErrorCode::AccessDenied => Error::Permission(message),
        ErrorCode::Timeout => Error::Timeout(message),
        ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionReset
        | ErrorCode::ConnectionAborted
        | ErrorCode::RemoteUnreachable
        | ErrorCode::NameUnresolvable
        | ErrorCode::TemporaryResolverFailure
        | ErrorCode::PermanentResolverFailure => Error::Network(message),
        ErrorCode::InvalidArgument => Error::Config(message),
        _ => Error::Internal(message),
    }
}

fn from_wasi_ip(address: IpAddress) -> IpAddr {
    match address {
        IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => {
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h))
        }
    }
}

fn to_wasi_socket_address(address: SocketAddr) -> IpSocketAddress {
    match address {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: v4.port(),
                address: (a, b, c, d),
            })
        }
        SocketAddr::V6(v6) => {
            let [a, b, c, d, e, f, g, h] = v6.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: v6.port(),
                flow_info: v6.flowinfo(),
                address: (a, b, c, d, e, f, g, h),
                scope_id: v6.scope_id(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1:80").ok(),
            Some(("127.0.0.1", 80))
        );
        assert_eq!(split_host_port("[::1]:443").ok(), Some(("::1", 443)));
        assert_eq!(
            split_host_port("example.com:8080").ok(),
            Some(("example.com", 8080))
        );
        for bad in ["example.com", ":80", "host:http", "[::1:80", "host:99999"] {
            assert!(
                matches!(split_host_port(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }
}
