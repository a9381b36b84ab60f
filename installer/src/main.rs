//! `seal-install`: an HA Kubernetes cluster over SSH from an offline package.
//! Exit status: 0 done, 1 the run failed, 2 bad input (nothing changed).
use std::process::ExitCode;

use clap::Parser;
use installer::app;
use installer::cli::{Cli, Environment};

fn main() -> ExitCode {
    // clap exits 2 on a usage error and 0 for --help/--version.
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SEAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("seal-install: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(app::run(cli, &Environment::from_process())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seal-install: {}", e.message());
            ExitCode::from(e.exit_code())
        }
    }
}
