//! `ward service list|start|stop|restart|logs`: talks to a running ward over its HTTP API.

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Subcommand;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

/// `ward service ...`.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// The running ward's API.
    #[arg(
        long,
        global = true,
        env = "WARD_URL",
        default_value = "http://127.0.0.1:9464"
    )]
    url: String,
    /// Bearer token (the write token for start/stop/restart when auth is on).
    #[arg(long, global = true, env = "WARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: ServiceCommand,
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Every service: state, pid, uptime, restarts, last exit, health.
    List,
    /// Start a service (also out of `failed`).
    Start {
        /// Service name.
        name: String,
    },
    /// Stop a service; returns once its processes are gone.
    Stop {
        /// Service name.
        name: String,
    },
    /// Restart a service.
    Restart {
        /// Service name.
        name: String,
    },
    /// The last lines of a service's output.
    Logs {
        /// Service name.
        name: String,
        /// How many lines.
        #[arg(long, short = 'n', default_value_t = 50)]
        lines: usize,
    },
}

impl ServiceArgs {
    /// Runs the subcommand.
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let enc = |n: &str| {
            percent_encoding::utf8_percent_encode(n, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let (method, path) = match &self.command {
            ServiceCommand::List => ("GET", "/api/v1/services".to_string()),
            ServiceCommand::Start { name } => {
                ("POST", format!("/api/v1/services/{}/start", enc(name)))
            }
            ServiceCommand::Stop { name } => {
                ("POST", format!("/api/v1/services/{}/stop", enc(name)))
            }
            ServiceCommand::Restart { name } => {
                ("POST", format!("/api/v1/services/{}/restart", enc(name)))
            }
            ServiceCommand::Logs { name, lines } => (
                "GET",
                format!("/api/v1/services/{}/logs?lines={lines}", enc(name)),
            ),
        };
        let data = request(&self.url, self.token.as_deref(), method, &path).await?;
        match self.command {
            ServiceCommand::List => print_table(&data),
            ServiceCommand::Logs { .. } => {
                for line in data.as_array().into_iter().flatten() {
                    println!(
                        "{} {} {}",
                        line["time"].as_str().unwrap_or(""),
                        line["stream"].as_str().unwrap_or(""),
                        line["line"].as_str().unwrap_or("")
                    );
                }
            }
            _ => print_table(&Value::Array(vec![data])),
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// One request to ward's API; returns `data`, or fails with ward's error message.
async fn request(
    url: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
) -> anyhow::Result<Value> {
    let base: http::Uri = url
        .parse()
        .with_context(|| format!("invalid --url {url:?}"))?;
    if base.scheme_str() != Some("http") {
        bail!("--url {url:?}: only http:// is supported");
    }
    let host = base.host().context("--url has no host")?;
    let port = base.port_u16().unwrap_or(80);
    let addr = format!("{host}:{port}");
    let stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    .with_context(|| format!("connecting to ward at {addr}: timed out"))?
    .with_context(|| format!("cannot reach ward at {addr} (is `ward run` running?)"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, &addr);
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Full::new(Bytes::new()))?;
    // A stop may wait for a service's stop timeout.
    let resp = tokio::time::timeout(Duration::from_secs(600), sender.send_request(req))
        .await
        .context("ward did not answer within 10 minutes")??;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = json["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        bail!("{status}: {message}");
    }
    Ok(json["data"].clone())
}

fn print_table(services: &Value) {
    let rows: Vec<[String; 7]> = services
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let last_exit = match &s["last_exit"] {
                Value::Null => "-".to_string(),
                e => e["reason"].as_str().unwrap_or("-").to_string(),
            };
            let health = match &s["health"] {
                Value::Null => "-".to_string(),
                h => match h["healthy"].as_bool() {
                    Some(true) => format!("{} ok", h["check"].as_str().unwrap_or("")),
                    Some(false) => format!("{} failing", h["check"].as_str().unwrap_or("")),
                    None => format!("{} pending", h["check"].as_str().unwrap_or("")),
                },
            };
            [
                s["name"].as_str().unwrap_or("").to_string(),
                s["state"].as_str().unwrap_or("").to_string(),
                s["pid"].as_i64().map_or("-".into(), |p| p.to_string()),
                s["uptime_seconds"].as_f64().map_or("-".into(), |u| {
                    humantime::format_duration(Duration::from_secs(u as u64)).to_string()
                }),
                s["restarts"].as_u64().unwrap_or(0).to_string(),
                last_exit,
                health,
            ]
        })
        .collect();
    let header = [
        "NAME",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS",
        "LAST EXIT",
        "HEALTH",
    ];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: [&str; 7]| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header);
    for r in &rows {
        line(r.each_ref().map(String::as_str));
    }
}
