//! The `http` prober: fetch a URL, following redirects, and check the status and body.
//!
//! Up when the final response's status is expected and the body checks pass; down otherwise,
//! or when the target cannot be reached. Built with ward-sdk's public API only; the component
//! is installed as `http.wasm`.
//!
//! Samples follow blackbox_exporter's names: `probe_http_status_code`,
//! `probe_http_content_length`, `probe_http_redirects`, `probe_http_ssl`,
//! `probe_http_duration_seconds{phase="processing"|"transfer"}` (summed over redirects),
//! `probe_ssl_earliest_cert_expiry` (https only) and `probe_failed_due_to_regex` (when a body
//! check is configured).

mod config;

use std::time::{Duration, Instant};

use regex_lite::Regex;
use ward_sdk::http::{Request, Response, Url};
use ward_sdk::{Capability, Description, Error, ProbeResult, Prober, Status};

pub use config::{Config, StatusPattern};

/// The `http` prober.
pub struct Http;

impl Prober for Http {
    type Config = Config;

    fn describe() -> Description {
        Description::new(
            "http",
            env!("CARGO_PKG_VERSION"),
            "Fetches a URL, following redirects, and checks the status code and body.",
        )
        .capability(Capability::Network)
    }

    fn probe(target: &str, config: Config) -> ward_sdk::Result<ProbeResult> {
        let body_regex = compile(config.body_regex.as_deref(), "body_regex")?;
        let timeout = config
            .timeout_ms
            .map(Duration::from_millis)
            .or_else(ward_sdk::deadline::time_left)
            .unwrap_or(Duration::from_secs(10));
        let start = Instant::now();

        let fetched = fetch(Url::parse(target)?, &config, start, timeout)?;
        let response = &fetched.response;
        let url = &fetched.url;

        let content_length = response
            .header("content-length")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(response.body.len() as f64);
        let mut result = ProbeResult::up(format!(
            "HTTP {} from {url} in {}",
            response.status,
            human(start.elapsed())
        ))
        .with_sample("probe_http_status_code", &[], f64::from(response.status))
        .with_sample("probe_http_content_length", &[], content_length)
        .with_sample("probe_http_redirects", &[], f64::from(fetched.redirects))
        .with_sample(
            "probe_http_ssl",
            &[],
            if url.is_https() { 1.0 } else { 0.0 },
        )
        .with_sample(
            "probe_http_duration_seconds",
            &[("phase", "processing")],
            fetched.processing.as_secs_f64(),
        )
        .with_sample(
            "probe_http_duration_seconds",
            &[("phase", "transfer")],
            fetched.transfer.as_secs_f64(),
        );

        if url.is_https() {
            let host = url.host().trim_start_matches('[').trim_end_matches(']');
            let left = timeout.saturating_sub(start.elapsed());
            match ward_sdk::tls::peer_certificates(host, url.port(), host, left) {
                Ok(chain) => {
                    if let Some(expiry) = chain.iter().map(|cert| cert.not_after_ms).min() {
                        result.push_sample(
                            "probe_ssl_earliest_cert_expiry",
                            &[],
                            expiry as f64 / 1000.0,
                        );
                    }
                }
                Err(e @ Error::Permission(_)) => return Err(e),
                Err(e) => ward_sdk::log::warn!("no certificate expiry for {url}: {e}"),
            }
        }

        if let Some(failure) = check(response, url, &config, body_regex.as_ref()) {
            result = result.with_message(failure).with_status(Status::Down);
        }
        let body_checked = config.body_contains.is_some()
            || config.body_not_contains.is_some()
            || body_regex.is_some();
        if body_checked {
            let failed = body_failure(response, &config, body_regex.as_ref()).is_some();
            result.push_sample(
                "probe_failed_due_to_regex",
                &[],
                if failed { 1.0 } else { 0.0 },
            );
        }
        Ok(result)
    }
}

ward_sdk::export_prober!(Http);

/// The final response of a fetch and how it got there.
struct Fetched {
    url: Url,
    response: Response,
    redirects: u32,
    processing: Duration,
    transfer: Duration,
}

/// Send the request, following redirects as configured.
fn fetch(
    mut url: Url,
    config: &Config,
    start: Instant,
    timeout: Duration,
) -> ward_sdk::Result<Fetched> {
    let mut method = config.method.clone();
    let mut body = config.body.clone();
    let mut redirects = 0;
    let mut processing = Duration::ZERO;
    let mut transfer = Duration::ZERO;
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(Error::Timeout(format!(
                "{url}: no answer within {}",
                human(timeout)
            )));
        }
        let mut request = Request::to(&method, url.clone()).timeout(left);
        for (name, value) in &config.headers {
            request = request.header(name.as_str(), value.as_bytes());
        }
        if let Some(body) = &body {
            request = request.body(body.as_bytes());
        }
        let response = request.send()?;
        processing += response.timings.response_headers;
        transfer += response.timings.body;

        let location = response.header("location").map(str::to_owned);
        let redirect = matches!(response.status, 301 | 302 | 303 | 307 | 308);
        match location {
            Some(location) if redirect && config.follow_redirects => {
                if redirects >= config.max_redirects {
                    return Err(Error::Protocol(format!(
                        "{url}: more than {} redirects",
                        config.max_redirects
                    )));
                }
                redirects += 1;
                url = url.join(&location)?;
                // As browsers do: 303, and 301/302 after a POST, continue with a GET.
                if response.status == 303 || (method == "POST" && response.status <= 302) {
                    method = "GET".to_owned();
                    body = None;
                }
            }
            _ => {
                return Ok(Fetched {
                    url,
                    response,
                    redirects,
                    processing,
                    transfer,
                });
            }
        }
    }
}

/// Why the final response means down, if it does.
fn check(
    response: &Response,
    url: &Url,
    config: &Config,
    body_regex: Option<&Regex>,
) -> Option<String> {
    let status = response.status;
    if !config::status_expected(&config.expect_status, status) {
        return Some(format!(
            "HTTP {status} from {url}, expected {}",
            config::describe_expected(&config.expect_status)
        ));
    }
    if config.fail_if_ssl && url.is_https() {
        return Some(format!(
            "HTTP {status} from {url}: https, and fail_if_ssl is set"
        ));
    }
    if config.fail_if_not_ssl && !url.is_https() {
        return Some(format!(
            "HTTP {status} from {url}: not https, and fail_if_not_ssl is set"
        ));
    }
    body_failure(response, config, body_regex)
        .map(|why| format!("HTTP {status} from {url}, but the body {why}"))
}

/// Which body check fails, if one does.
fn body_failure(
    response: &Response,
    config: &Config,
    body_regex: Option<&Regex>,
) -> Option<String> {
    let text = response.text();
    if let Some(needle) = &config.body_contains
        && !text.contains(needle.as_str())
    {
        return Some(format!("does not contain {needle:?}"));
    }
    if let Some(needle) = &config.body_not_contains
        && text.contains(needle.as_str())
    {
        return Some(format!("contains {needle:?}"));
    }
    if let Some(regex) = body_regex
        && !regex.is_match(&text)
    {
        return Some(format!("does not match /{regex}/"));
    }
    None
}

fn compile(pattern: Option<&str>, field: &str) -> ward_sdk::Result<Option<Regex>> {
    pattern
        .map(|p| Regex::new(p).map_err(|e| Error::Config(format!("{field}: {e}"))))
        .transpose()
}

/// "0.4 ms", "12.3 ms", "1.2 s".
fn human(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 1.0 {
        format!("{seconds:.1} s")
    } else {
        format!("{:.1} ms", seconds * 1e3)
    }
}
