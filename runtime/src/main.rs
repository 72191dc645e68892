//! The `ward` command line.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    ward::memory::tune();
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARD_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,wasmtime_wasi_http=error,lsm_tree=warn,fjall=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(cli.execute()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
