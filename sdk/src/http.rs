//! A small blocking HTTP client over `wasi:http`, within the operator's network grant.
//!
//! ```no_run
//! use std::time::Duration;
//! use ward_sdk::http::Request;
//!
//! let response = Request::get("http://127.0.0.1:8080/health")?
//!     .header("accept", "application/json")
//!     .timeout(Duration::from_secs(5))
//!     .send()?;
//! assert_eq!(response.status, 200);
//! println!("{} bytes in {:?}", response.body.len(), response.timings.body);
//! # Ok::<(), ward_sdk::Error>(())
//! ```
//!
//! Redirects are not followed: a 3xx is returned like any response, and
//! [`Url::join`] resolves its `location`. Errors: a request outside the grant is
//! [`Error::Permission`]; DNS failures, refused, reset and unreachable are
//! [`Error::Network`]; timeouts are [`Error::Timeout`]; anything else the peer got wrong
//! (TLS, malformed answer, body too large) is [`Error::Protocol`].

use std::fmt;
use std::time::{Duration, Instant};

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::streams::StreamError;

use crate::wait::{self, Elapsed};
use crate::{Error, Result};

/// Default cap on the response body: 10 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 10 * 1024 * 1024;

/// Default for each of the three timeouts when none is set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// An `http` or `https` URL, split the way a request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    https: bool,
    host: String,
    port: Option<u16>,
    path_and_query: String,
}

impl Url {
    /// Parse an absolute `http://` or `https://` URL. The fragment is dropped.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |why: &str| Error::Config(format!("invalid URL {url:?}: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("scheme is not http or https")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path_and_query) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path_and_query = if path_and_query.starts_with('?') {
            format!("/{path_and_query}")
        } else {
            path_and_query.to_owned()
        };
        if authority.contains('@') {
            return Err(bad("credentials in URLs are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
            };
            (format!("[{host}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(bad("no host"));
        }
        let port = match port {
            None | Some("") => None,
            Some(port) => Some(port.parse().map_err(|_| bad("invalid port"))?),
        };
        Ok(Self {
            https,
            host: host.to_ascii_lowercase(),
            port,
            path_and_query,
        })
    }

    /// Resolve `reference` (e.g. a `location` header) against this URL: absolute URLs,
    /// `//host/path`, `/path` and relative paths.
    pub fn join(&self, reference: &str) -> Result<Self> {
        let reference = reference.trim();
        if reference.contains("://") {
            return Self::parse(reference);
        }
        let scheme = if self.https { "https" } else { "http" };
        if let Some(rest) = reference.strip_prefix("//") {
            return Self::parse(&format!("{scheme}://{rest}"));
        }
        let path_and_query = if reference.starts_with('/') {
            reference.to_owned()
        } else if reference.starts_with('?') {
            let path = self.path_and_query.split('?').next().unwrap_or("/");
            format!("{path}{reference}")
        } else {
            let path = self.path_and_query.split('?').next().unwrap_or("/");
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{reference}")
        };
        Self::parse(&format!("{scheme}://{}{path_and_query}", self.authority()))
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host, lowercase; IPv6 literals keep their brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, or the scheme's default (80, 443).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }

    /// `host[:port]`, the port only when given explicitly.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// Path and query, at least `/`.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path_and_query)
    }
}

/// A request being built; [`send`](Self::send) it.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: Url,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    between_bytes_timeout: Duration,
    max_body_size: usize,
}

impl Request {
    /// A request with `method` (e.g. `"GET"`, case-sensitive as HTTP is) to `url`.
    pub fn new(method: &str, url: &str) -> Result<Self> {
        Ok(Self::to(method, Url::parse(url)?))
    }

    /// A request with `method` to an already parsed `url`.
    pub fn to(method: &str, url: Url) -> Self {
        Self {
            method: method.to_owned(),
            url,
            headers: Vec::new(),
            body: None,
            connect_timeout: DEFAULT_TIMEOUT,
            first_byte_timeout: DEFAULT_TIMEOUT,
            between_bytes_timeout: DEFAULT_TIMEOUT,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
        }
    }

    /// A `GET` request to `url`.
    pub fn get(url: &str) -> Result<Self> {
        Self::new("GET", url)
    }

    /// A `POST` request to `url`.
    pub fn post(url: &str) -> Result<Self> {
        Self::new("POST", url)
    }

    /// Add a header. Repeating a name sends it several times.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Send `body`.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Give up connecting after `timeout`.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Give up waiting for the response headers after `timeout`.
    #[must_use]
    pub fn first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = timeout;
        self
    }

    /// Give up when the body stalls for `timeout`.
    #[must_use]
    pub fn between_bytes_timeout(mut self, timeout: Duration) -> Self {
        self.between_bytes_timeout = timeout;
        self
    }

    /// Set all three timeouts; the whole request also never outlives `timeout`.
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.connect_timeout(timeout)
            .first_byte_timeout(timeout)
            .between_bytes_timeout(timeout)
    }

    /// Fail with [`Error::Protocol`] when the body is larger than `bytes`
    /// (default [`DEFAULT_MAX_BODY_SIZE`]).
    #[must_use]
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// The URL this request goes to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Send the request and read the whole response.
    pub fn send(self) -> Result<Response> {
        let context = format!("{} {}", self.method, self.url);
        let start = Instant::now();
        // The whole exchange ends by the sum of its phases' timeouts, or the call's deadline.
        let deadline = wait::deadline_after(
            self.connect_timeout + self.first_byte_timeout + self.between_bytes_timeout,
        );

        let mut entries: Vec<(String, Vec<u8>)> = self.headers.clone();
        // Without it the body goes chunked, which some servers do not read.
        if let Some(body) = &self.body
            && !entries
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        {
            entries.push(("content-length".to_owned(), body.len().to_string().into()));
        }
        let headers = Fields::from_list(&entries)
            .map_err(|e| Error::Config(format!("{context}: invalid header: {e:?}")))?;
        let request = OutgoingRequest::new(headers);
        let invalid = |what: &str| Error::Config(format!("{context}: invalid {what}"));
        request
            .set_method(&method(&self.method))
            .map_err(|()| invalid("method"))?;
        let scheme = if self.url.is_https() {
            Scheme::Https
        } else {
            Scheme::Http
        };
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        request
            .set_authority(Some(&self.url.authority()))
            .map_err(|()| invalid("authority"))?;
        request
            .set_path_with_query(Some(self.url.path_and_query()))
            .map_err(|()| invalid("path"))?;

        let options = RequestOptions::new();
        // A host may refuse to honor an option; the call deadline still bounds the request.
        let _ = options.set_connect_timeout(Some(wait::nanos(crate::deadline::clamp(
            self.connect_timeout,
        ))));
        let _ = options.set_first_byte_timeout(Some(wait::nanos(crate::deadline::clamp(
            self.first_byte_timeout,
        ))));
        let _ = options.set_between_bytes_timeout(Some(wait::nanos(crate::deadline::clamp(
            self.between_bytes_timeout,
        ))));

        let outgoing_body = request
            .body()
            .map_err(|()| Error::Internal(format!("{context}: request body taken twice")))?;
        let future = outgoing_handler::handle(request, Some(options))
            .map_err(|code| error(code, &context))?;
        // A server may answer (e.g. 413) without reading the whole body: a failed write is
        // reported only if no response comes.
        let written = write_body(
            outgoing_body,
            self.body.as_deref().unwrap_or_default(),
            &context,
        );

        let response = {
            let pollable = future.subscribe();
            wait::until(&pollable, deadline).map_err(|Elapsed| {
                Error::Timeout(format!(
                    "{context}: no response within {}",
                    wait::human(start.elapsed())
                ))
            })?;
            match future.get() {
                Some(Ok(Ok(response))) => response,
                Some(Ok(Err(code))) => {
                    return Err(written.err().unwrap_or_else(|| error(code, &context)));
                }
                Some(Err(())) | None => {
                    return Err(Error::Internal(format!("{context}: response lost")));
                }
            }
        };
        let response_headers = start.elapsed();

        let status = response.status();
        let headers = response.headers().entries();
        let body = response
            .consume()
            .map_err(|()| Error::Internal(format!("{context}: response body taken twice")))?;
        let body_start = Instant::now();
        let body = read_body(body, self.max_body_size, deadline, &context)?;
        let timings = Timings {
            response_headers,
            body: body_start.elapsed(),
        };
        Ok(Response {
            status,
            headers,
            body,
            timings,
        })
    }
}

/// A response, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, in the order received; names are lowercase.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
    /// How long each phase took.
    pub timings: Timings,
}

impl Response {
    /// The first value of header `name` (case-insensitive), if it is present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// How long the phases of a request took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timings {
    /// From sending the request to having the response headers: connect, TLS, processing.
    pub response_headers: Duration,
    /// Reading the body.
    pub body: Duration,
}

fn method(method: &str) -> Method {
    match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    }
}

fn write_body(body: OutgoingBody, data: &[u8], context: &str) -> Result<()> {
    {
        let stream = body
            .write()
            .map_err(|()| Error::Internal(format!("{context}: request body stream taken twice")))?;
        // `blocking-write-and-flush` takes at most 4096 bytes at a time.
        for chunk in data.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| stream_error(e, context))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|code| error(code, context))
}

fn read_body(body: IncomingBody, max: usize, deadline: Instant, context: &str) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| Error::Internal(format!("{context}: body stream taken twice")))?;
        let pollable = stream.subscribe();
        loop {
            match stream.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => {
                    wait::until(&pollable, deadline).map_err(|Elapsed| {
                        Error::Timeout(format!("{context}: body not complete in time"))
                    })?
                }
                Ok(chunk) => {
                    if data.len() + chunk.len() > max {
                        return Err(Error::Protocol(format!(
                            "{context}: body larger than {max} bytes"
                        )));
                    }
                    data.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error(e, context)),
            }
        }
    }
    drop(IncomingBody::finish(body));
    Ok(data)
}

fn stream_error(error: StreamError, context: &str) -> Error {
    match error {
        StreamError::Closed => Error::Network(format!("{context}: connection closed")),
        StreamError::LastOperationFailed(e) => match wasi::http::types::http_error_code(&e) {
            Some(code) => self::error(code, context),
            None => Error::Network(format!("{context}: {}", e.to_debug_string())),
        },
    }
}

/// Map a `wasi:http` error code to the SDK's error, with `context` saying what failed.
fn error(code: ErrorCode, context: &str) -> Error {
    let message = format!("{context}: {}", describe(&code));
    match code {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            Error::Permission(message)
        }
        ErrorCode::DnsTimeout
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => Error::Timeout(message),
        ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionLimitReached => Error::Network(message),
        ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong => Error::Config(message),
        _ => Error::Protocol(message),
    }
}

fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::DnsTimeout => "name lookup timed out".to_owned(),
        ErrorCode::DnsError(payload) => match (&payload.rcode, payload.info_code) {
            (Some(rcode), _) => format!("name lookup failed ({rcode})"),
            (None, Some(info)) => format!("name lookup failed (info code {info})"),
            (None, None) => "name lookup failed".to_owned(),
        },
        ErrorCode::DestinationNotFound => "host not found".to_owned(),
        ErrorCode::DestinationUnavailable => "host unavailable".to_owned(),
        ErrorCode::DestinationIpProhibited => "destination address prohibited".to_owned(),
        ErrorCode::DestinationIpUnroutable => "destination address unroutable".to_owned(),
        ErrorCode::ConnectionRefused => "connection refused".to_owned(),
        ErrorCode::ConnectionTerminated => "connection reset".to_owned(),
        ErrorCode::ConnectionTimeout => "connect timed out".to_owned(),
        ErrorCode::ConnectionReadTimeout => "read timed out".to_owned(),
        ErrorCode::ConnectionWriteTimeout => "write timed out".to_owned(),
        ErrorCode::HttpResponseTimeout => "no response in time".to_owned(),
        ErrorCode::HttpRequestDenied => "request not granted".to_owned(),
        ErrorCode::TlsProtocolError => "TLS protocol error".to_owned(),
        ErrorCode::TlsCertificateError => "TLS certificate rejected".to_owned(),
        ErrorCode::TlsAlertReceived(alert) => format!(
            "TLS alert {}",
            alert.alert_message.as_deref().unwrap_or("received")
        ),
        ErrorCode::InternalError(Some(message)) => message.clone(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_url(input: &str, expected: &str) {
        let url = Url::parse(input).expect("url should parse");
        assert_eq!(url.to_string(), expected);
    }

    #[test]
    fn parse() {
        check_url("http://Example.com", "http://example.com/");
        check_url(
            "https://example.com:8443/a/b?c=d#frag",
            "https://example.com:8443/a/b?c=d",
        );
        check_url("http://127.0.0.1:8080?x", "http://127.0.0.1:8080/?x");
        check_url("http://[::1]:80/", "http://[::1]:80/");
        let url = Url::parse("https://[::1]/x").expect("url should parse");
        assert_eq!((url.host(), url.port()), ("[::1]", 443));
        for bad in [
            "example.com",
            "ftp://x/",
            "http://",
            "http://a:b/",
            "http://u@h/",
        ] {
            assert!(matches!(Url::parse(bad), Err(Error::Config(_))), "{bad}");
        }
    }

    #[track_caller]
    fn check_join(base: &str, reference: &str, expected: &str) {
        let base = Url::parse(base).expect("base should parse");
        let joined = base.join(reference).expect("join should succeed");
        assert_eq!(joined.to_string(), expected);
    }

    #[test]
    fn join() {
        let base = "http://h:81/a/b?q";
        check_join(base, "https://other/x", "https://other/x");
        check_join(base, "//other/y", "http://other/y");
        check_join(base, "/root", "http://h:81/root");
        check_join(base, "c", "http://h:81/a/c");
        check_join(base, "?r", "http://h:81/a/b?r");
        check_join("http://h", "c", "http://h/c");
    }
}
