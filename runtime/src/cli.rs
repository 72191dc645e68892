//! Subcommands: `run`, `plugin check|run|new`, `service list|start|stop|restart|logs`,
//! `promql-test`.

mod plugin_cmd;
mod scaffold;
mod service_cmd;

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
    /// Control the services of a running ward (over its HTTP API).
    Service(service_cmd::ServiceArgs),
    /// Run Prometheus PromQL test files (`load`, `eval`, `clear`, ...) against ward's engine
    /// and store; prints each file's pass rate and fails if any case fails.
    PromqlTest {
        /// Test files (`*.test`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Failures printed per file (0: none).
        #[arg(long, default_value_t = 20)]
        show_failures: usize,
    },
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
                    println!("  services: http://{addr}/api/v1/services");
                    println!("  metrics: http://{addr}/metrics");
                })
                .await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Plugin(cmd) => cmd.execute().await,
            Command::Service(args) => args.execute().await,
            Command::PromqlTest {
                files,
                show_failures,
            } => promql_test(files, show_failures).await,
        }
    }
}

/// `ward promql-test`: one line per file, `PASS`/`FAIL`, pass rate and counts, then the
/// first failures of each failing file.
async fn promql_test(files: Vec<PathBuf>, show_failures: usize) -> anyhow::Result<ExitCode> {
    let reports =
        tokio::task::spawn_blocking(move || ward_promql::testfile::run_files(&files)).await?;
    let (mut cases, mut passed, mut bad_files) = (0usize, 0usize, 0usize);
    for (path, report) in &reports {
        match report {
            Ok(r) => {
                cases += r.cases;
                passed += r.passed;
                let verdict = if r.all_passed() { "PASS" } else { "FAIL" };
                println!(
                    "{verdict} {}: {:.1}% ({}/{} cases)",
                    path.display(),
                    r.pass_rate() * 100.0,
                    r.passed,
                    r.cases
                );
                if !r.all_passed() {
                    bad_files += 1;
                    for f in r.failures.iter().take(show_failures) {
                        println!("  line {}: {}\n    {}", f.line, f.query, f.reason);
                    }
                    if r.failures.len() > show_failures && show_failures > 0 {
                        println!("  ... and {} more", r.failures.len() - show_failures);
                    }
                }
            }
            Err(e) => {
                bad_files += 1;
                println!("ERROR {}: {e}", path.display());
            }
        }
    }
    println!(
        "{} files, {bad_files} failing; {passed}/{cases} cases passed",
        reports.len()
    );
    Ok(if bad_files == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
