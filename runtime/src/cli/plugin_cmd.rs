//! `ward plugin check|run|new`: the plugin author's inner loop.

use anyhow::{Context, bail};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use ward::capability::net::{NetGrant, NetRule};
use ward::plugin::state::CallGrant;
use ward::plugin::{Host, HostOptions, Kind, ProbeStatus};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Validate a plugin file and print its description and capabilities.
    Check {
        /// The component (.wasm).
        file: PathBuf,
    },
    /// Call a prober once and print the result (exit 0 up, 1 down or unknown, 2 plugin error).
    Run {
        /// The component (.wasm).
        file: PathBuf,
        /// Target to probe (address or URL).
        #[arg(long)]
        target: String,
        /// Plugin config as JSON.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Grant, e.g. `net=127.0.0.1:8080` (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Call deadline, e.g. 5s.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a new plugin crate from the SDK's template.
    New {
        /// Plugin kind (only `prober` has a template so far).
        kind: String,
        /// Name of the plugin (and of the crate directory).
        name: String,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Path to the ward-sdk crate (default: the SDK of the source tree ward was built from).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
}

impl PluginCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        match self {
            Self::Check { file } => check(file).await,
            Self::Run {
                file,
                target,
                config,
                grants,
                timeout,
                json,
            } => run(file, target, config, grants, timeout, json).await,
            Self::New {
                kind,
                name,
                dir,
                sdk_path,
            } => super::scaffold::new_plugin(&kind, &name, dir, sdk_path),
        }
    }
}

/// A host for one command. `check` compiles with Cranelift, as ward serves for good; `run`
/// serves the baseline compiler's code, which compiles about 5x faster: the author's loop.
fn host(baseline: bool) -> anyhow::Result<Host> {
    Ok(Host::new(HostOptions {
        max_instances: 4,
        baseline,
        ..HostOptions::default()
    })?)
}

async fn check(file: PathBuf) -> anyhow::Result<ExitCode> {
    let plugin = host(false)?.load_file(&file).await?;
    let d = plugin.description();
    println!("plugin:       {} ({})", plugin.name(), plugin.kind());
    println!("file:         {}", file.display());
    println!("sha256:       {}", plugin.sha256());
    println!("interface:    ward:plugin@{}", plugin.interface().version);
    println!("name:         {}", d.name);
    println!("version:      {}", d.version);
    println!("summary:      {}", d.summary);
    println!(
        "capabilities: {}",
        if d.capabilities.is_empty() {
            "none".to_string()
        } else {
            d.capabilities.join(", ")
        }
    );
    let imports: Vec<&str> = plugin
        .interface()
        .imports
        .iter()
        .map(String::as_str)
        .collect();
    println!("imports:      {}", imports.join(", "));
    println!(
        "config schema:\n{}",
        serde_json::to_string_pretty(&d.config_schema)?
    );
    Ok(ExitCode::SUCCESS)
}

async fn run(
    file: PathBuf,
    target: String,
    config: String,
    grants: Vec<String>,
    timeout: Duration,
    json: bool,
) -> anyhow::Result<ExitCode> {
    serde_json::from_str::<serde_json::Value>(&config)
        .with_context(|| format!("--config is not valid JSON: {config}"))?;
    let mut rules = Vec::new();
    for g in &grants {
        match g.split_once('=') {
            Some(("net", rule)) => rules.push(rule.parse::<NetRule>()?),
            _ => bail!("unknown grant {g:?}: expected net=HOST:PORT"),
        }
    }
    let plugin = host(true)?.load_file(&file).await?;
    if plugin.kind() != Kind::Prober {
        bail!(
            "{} is a {}, and `plugin run` calls probers",
            file.display(),
            plugin.kind()
        );
    }
    let mut net = NetGrant::new(rules);
    net.resolve(Duration::from_secs(2)).await;
    let grant = CallGrant {
        check: "cli".into(),
        net: Arc::new(net),
        on_deny: Arc::new(|addr| eprintln!("denied: {addr} is outside the --grant list")),
    };
    let started = std::time::Instant::now();
    let result = plugin.probe(&target, &config, &grant, timeout).await;
    let took = started.elapsed();
    match result {
        Ok(o) => {
            let duration = if o.duration.is_zero() {
                took
            } else {
                o.duration
            };
            if json {
                let samples: Vec<serde_json::Value> = o
                    .samples
                    .iter()
                    .map(|s| {
                        let labels: serde_json::Map<String, serde_json::Value> = s
                            .labels
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone().into()))
                            .collect();
                        serde_json::json!({ "name": s.name, "labels": labels, "value": s.value })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({
                        "status": o.status,
                        "message": o.message,
                        "duration_seconds": duration.as_secs_f64(),
                        "samples": samples,
                    })
                );
            } else {
                println!(
                    "status:   {}",
                    serde_json::to_value(o.status)?.as_str().unwrap_or("?")
                );
                println!("message:  {}", o.message);
                println!("duration: {duration:?}");
                if !o.samples.is_empty() {
                    println!("samples:");
                    for s in &o.samples {
                        let labels: Vec<String> =
                            s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                        println!("  {}{{{}}} {}", s.name, labels.join(","), s.value);
                    }
                }
            }
            Ok(if o.status == ProbeStatus::Up {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(e) => {
            // The plugin's own errors keep their kind; traps, deadlines and limits are "plugin".
            let (kind, message) = match &e {
                ward::plugin::CallError::Guest { kind, message } => (*kind, message.clone()),
                other => ("plugin", other.to_string()),
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "status": "error",
                        "error": { "kind": kind, "reason": e.reason(), "message": message },
                        "duration_seconds": took.as_secs_f64(),
                    })
                );
            } else {
                println!("status:   error ({})", e.reason());
                println!("message:  {message}");
            }
            Ok(ExitCode::from(2))
        }
    }
}
