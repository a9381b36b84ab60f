//! `seal-install`: an HA Kubernetes cluster over SSH from an offline package.
//! Exit status: 0 done, 1 the run failed, 2 bad input (nothing changed), 130 interrupted.
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
    // Ctrl-C (or a TERM/HUP) ends the run here rather than by the default action, so the
    // operator is told what state the hosts are in. Either way the process's connections close,
    // and every command it started on a host stops with its connection (`ssh::remote::wrap`).
    let env = Environment::from_process();
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = app::run(cli, &env) => Some(r),
            _ = interrupted() => None,
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(e)) => {
            eprintln!("seal-install: {}", e.message());
            ExitCode::from(e.exit_code())
        }
        None => {
            eprintln!(
                "seal-install: interrupted: the commands it was running on hosts stop with their \
                 connections; run the same command again to resume"
            );
            ExitCode::from(INTERRUPTED)
        }
    }
}

/// Exit status of an interrupted run (128 + SIGINT, as shells report one).
const INTERRUPTED: u8 = 130;

/// Resolves on the first SIGINT, SIGTERM or SIGHUP. A signal whose handler cannot be installed
/// keeps its default action (the process ends), which is still safe for the hosts.
async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    async fn on(kind: SignalKind) {
        match signal(kind) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    }
    tokio::select! {
        _ = on(SignalKind::interrupt()) => {}
        _ = on(SignalKind::terminate()) => {}
        _ = on(SignalKind::hangup()) => {}
    }
}
