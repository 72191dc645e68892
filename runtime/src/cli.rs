//! Subcommands: `run`, `plugin check`, `plugin run`, `plugin new`.

mod plugin_cmd;
mod scaffold;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// ward: health checks, supervision and metrics in one binary, extended with sandboxed
/// WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "ward", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run ward: load plugins, run checks, serve the API. With no flags, an embedded default
    /// that probes ward's own API with the first-party plugins in ./plugins.
    Run {
        /// Config file (TOML); watched and reloaded on change.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address of the HTTP API (overrides `listen`).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Plugins directory, watched for *.wasm (overrides `plugins_dir`).
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
    },
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Run {
                config,
                listen,
                data_dir,
                plugins_dir,
            } => {
                let options = ward::RunOptions {
                    config,
                    listen,
                    data_dir,
                    plugins_dir,
                };
                ward::run(options, shutdown_signal(), |addr, config| {
                    println!(
                        "ward is serving on http://{addr}/ (plugins: {}, data: {}, checks: {})",
                        config.plugins_dir.display(),
                        config.data_dir.display(),
                        config.checks.len()
                    );
                    println!("  plugins: http://{addr}/api/v1/plugins");
                    println!("  checks:  http://{addr}/api/v1/checks");
                    println!("  metrics: http://{addr}/metrics");
                })
                .await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Plugin(cmd) => cmd.execute().await,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
