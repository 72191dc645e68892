//! The network grant: which addresses a plugin may reach in one check.
//!
//! A grant is a list of `host:port` rules from the operator's config (`grant.net`). `host` is
//! an IP address, a DNS name or `*`; `port` is a number or `*`. Names are resolved by the host
//! when a call starts, so a socket connect (which only sees IP addresses) to any address the
//! name resolves to is allowed. HTTP requests are checked on their authority before the host
//! makes them. Everything else is denied, logged and counted.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use wasmtime_wasi::sockets::SocketAddrUse;

/// One `host:port` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRule {
    host: HostPattern,
    /// `None` for any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Ip(IpAddr),
    Name(String),
}

/// Why a grant rule does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid network grant {rule:?}: {reason} (expected host:port, e.g. \"127.0.0.1:8080\", \"[::1]:443\", \"example.com:*\")"
)]
pub struct GrantError {
    rule: String,
    reason: &'static str,
}

impl FromStr for NetRule {
    type Err = GrantError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| GrantError {
            rule: s.to_string(),
            reason,
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(|| err("missing port"))?;
        let port = match port {
            "*" => None,
            p => Some(
                p.parse::<u16>()
                    .map_err(|_| err("port is not a number or *"))?,
            ),
        };
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            HostPattern::Ip(IpAddr::from_str(v6).map_err(|_| err("bad IPv6 address"))?)
        } else if let Ok(ip) = IpAddr::from_str(host) {
            HostPattern::Ip(ip)
        } else if !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            HostPattern::Name(host.to_ascii_lowercase())
        } else {
            return Err(err("host is not an IP address, a DNS name or *"));
        };
        Ok(Self { host, port })
    }
}

impl fmt::Display for NetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Any => f.write_str("*")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Ip(ip) => write!(f, "{ip}")?,
            HostPattern::Name(n) => f.write_str(n)?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => f.write_str(":*"),
        }
    }
}

impl NetRule {
    fn port_ok(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }
}

/// A check's network grant, with its names resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetGrant {
    rules: Vec<NetRule>,
    /// Addresses the named rules resolved to, with the rule's port.
    resolved: Vec<(IpAddr, Option<u16>)>,
}

impl NetGrant {
    /// A grant of exactly `rules`, names not yet resolved.
    pub fn new(rules: Vec<NetRule>) -> Self {
        Self {
            rules,
            resolved: Vec::new(),
        }
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules as configured.
    pub fn rules(&self) -> &[NetRule] {
        &self.rules
    }

    /// Resolves the named rules (bounded by `timeout`); a name that does not resolve grants
    /// nothing for sockets but still allows HTTP requests by that name (which then fail to
    /// resolve on their own).
    pub async fn resolve(&mut self, timeout: std::time::Duration) {
        let mut resolved = Vec::new();
        for rule in &self.rules {
            if let HostPattern::Name(name) = &rule.host {
                let lookup = tokio::net::lookup_host((name.as_str(), rule.port.unwrap_or(0)));
                if let Ok(Ok(addrs)) = tokio::time::timeout(timeout, lookup).await {
                    resolved.extend(addrs.map(|a| (a.ip(), rule.port)));
                }
            }
        }
        self.resolved = resolved;
    }

    /// Whether a socket may use `addr` for `usage`. Listening and accepting are never
    /// granted; binding only to an ephemeral wildcard (which connecting needs).
    pub fn allows_socket(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        match usage {
            SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
                self.allows_ip(addr.ip(), addr.port())
            }
            // Connecting binds to an ephemeral wildcard first; denying that would hide the
            // connect attempt (and its log line) behind a bind error.
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                addr.ip().is_unspecified() && addr.port() == 0
            }
            SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
        }
    }

    fn allows_ip(&self, ip: IpAddr, port: u16) -> bool {
        let ip = canonical(ip);
        self.rules.iter().any(|r| {
            r.port_ok(port)
                && match &r.host {
                    HostPattern::Any => true,
                    HostPattern::Ip(granted) => canonical(*granted) == ip,
                    HostPattern::Name(_) => false,
                }
        }) || self
            .resolved
            .iter()
            .any(|(granted, p)| canonical(*granted) == ip && p.is_none_or(|p| p == port))
    }

    /// Whether an HTTP request to `host`:`port` is allowed.
    pub fn allows_authority(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = IpAddr::from_str(host) {
            return self.allows_ip(ip, port);
        }
        self.rules.iter().any(|r| {
            r.port_ok(port)
                && match &r.host {
                    HostPattern::Any => true,
                    HostPattern::Name(n) => n.eq_ignore_ascii_case(host),
                    HostPattern::Ip(_) => false,
                }
        })
    }
}

/// `::ffff:127.0.0.1` and `127.0.0.1` are the same peer.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Called when a plugin is denied an address: logs and counts it.
pub type DenyHook = Arc<dyn Fn(&str) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(rules: &[&str]) -> NetGrant {
        NetGrant::new(rules.iter().map(|r| r.parse().unwrap()).collect())
    }

    #[test]
    fn parses_and_prints_rules() {
        for r in ["127.0.0.1:8080", "[::1]:443", "example.com:*", "*:53"] {
            assert_eq!(r.parse::<NetRule>().unwrap().to_string(), r);
        }
        let e = "example.com".parse::<NetRule>().unwrap_err();
        assert!(e.to_string().contains("missing port"), "{e}");
        let e = "a b:80".parse::<NetRule>().unwrap_err();
        assert!(e.to_string().contains("not an IP address"), "{e}");
        let e = "h:http".parse::<NetRule>().unwrap_err();
        assert!(e.to_string().contains("port is not a number"), "{e}");
    }

    #[test]
    fn sockets_only_reach_granted_addresses() {
        let g = grant(&["127.0.0.1:8080"]);
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(g.allows_socket(a("127.0.0.1:8080"), SocketAddrUse::TcpConnect));
        assert!(g.allows_socket(a("[::ffff:127.0.0.1]:8080"), SocketAddrUse::TcpConnect));
        assert!(!g.allows_socket(a("127.0.0.1:8081"), SocketAddrUse::TcpConnect));
        assert!(!g.allows_socket(a("127.0.0.2:8080"), SocketAddrUse::TcpConnect));
        assert!(g.allows_socket(a("0.0.0.0:0"), SocketAddrUse::TcpBind));
        assert!(!g.allows_socket(a("0.0.0.0:8080"), SocketAddrUse::TcpBind));
        assert!(!g.allows_socket(a("127.0.0.1:8080"), SocketAddrUse::TcpListen));
        let none = NetGrant::default();
        assert!(!none.allows_socket(a("127.0.0.1:8080"), SocketAddrUse::TcpConnect));
    }

    #[test]
    fn http_authority_by_name_or_ip() {
        let g = grant(&["example.com:443", "127.0.0.1:*"]);
        assert!(g.allows_authority("EXAMPLE.com", 443));
        assert!(!g.allows_authority("example.com", 80));
        assert!(!g.allows_authority("other.com", 443));
        assert!(g.allows_authority("127.0.0.1", 9));
        assert!(!g.allows_authority("[::1]", 9));
    }

    #[tokio::test]
    async fn names_resolve_for_sockets() {
        let mut g = grant(&["localhost:8080"]);
        g.resolve(std::time::Duration::from_secs(2)).await;
        let a = "127.0.0.1:8080".parse::<SocketAddr>().unwrap();
        assert!(g.allows_socket(a, SocketAddrUse::TcpConnect));
    }
}
