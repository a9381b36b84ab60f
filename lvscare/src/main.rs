//! `lvscare`: a local kernel IPVS load balancer for Kubernetes apiservers.

use clap::Parser;
use lvscare::config::{Cli, Command, LogFormat, RunMode};
use lvscare::{daemon, manifest};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit status for bad input (as clap uses for usage errors).
const EXIT_USAGE: u8 = 2;

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Manifest(args) => match args.validate() {
            Ok(cfg) => {
                print!("{}", manifest::render(&cfg));
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(&e.to_string()),
        },
        Command::Care(args) => {
            // Everything is validated before any rule or interface is touched.
            let cfg = match args.validate() {
                Ok(c) => c,
                Err(e) => return usage_error(&e.to_string()),
            };
            init_logging(cfg.log_format);
            let result = match cfg.mode {
                RunMode::Once => daemon::run_once(&cfg),
                RunMode::Clean => daemon::clean(&cfg),
                RunMode::Daemon => {
                    let probe_cfg = match daemon::probe_config(&cfg) {
                        Ok(p) => p,
                        Err(e) => return usage_error(&e.to_string()),
                    };
                    // Kernel passes and connection aborts are the only blocking work: a few
                    // threads bound it (the default allows 512).
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .max_blocking_threads(4)
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            eprintln!("lvscare: cannot start the async runtime: {e}");
                            return ExitCode::FAILURE;
                        }
                    };
                    rt.block_on(daemon::run(cfg, probe_cfg))
                }
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("lvscare: error: {msg}");
    ExitCode::from(EXIT_USAGE)
}
