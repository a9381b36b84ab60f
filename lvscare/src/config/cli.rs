//! The command line as clap parses it: subcommands, flags and their defaults, unvalidated.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use super::defaults;
use crate::probe::Scheme;

/// lvscare's command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "lvscare",
    version,
    about = "Local IPVS load balancer for Kubernetes apiservers"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Keep the virtual server pointed at the healthy real servers.
    Care(CareArgs),
    /// Print the static-pod manifest that runs `lvscare care` with these settings.
    Manifest(ManifestArgs),
}

/// Health check scheme as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemeArg {
    /// HTTPS GET of the health path.
    Https,
    /// Plain HTTP GET of the health path.
    Http,
    /// A TCP connect only.
    Tcp,
}

impl From<SchemeArg> for Scheme {
    fn from(s: SchemeArg) -> Self {
        match s {
            SchemeArg::Https => Scheme::Https,
            SchemeArg::Http => Scheme::Http,
            SchemeArg::Tcp => Scheme::Tcp,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags shared by `care` and `manifest`: the balancer and its health checks.
#[derive(Debug, Clone, Args)]
pub struct BalancerArgs {
    /// Virtual server, e.g. 10.103.97.2:6443 or [fd00::2]:6443.
    #[arg(long, value_name = "ADDR:PORT")]
    pub vs: String,

    /// Real server (an apiserver); repeat the flag or separate with commas.
    #[arg(long, value_name = "ADDR:PORT", value_delimiter = ',')]
    pub rs: Vec<String>,

    /// IPVS scheduler: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos.
    #[arg(long, default_value = defaults::SCHEDULER)]
    pub scheduler: String,

    /// Probe interval: seconds, or a number with a unit (500ms, 2s, 1m).
    #[arg(long, short = 't', value_name = "DURATION", default_value = defaults::INTERVAL)]
    pub interval: String,

    /// HTTP(S) path probed on each real server.
    #[arg(long, default_value = defaults::HEALTH_PATH)]
    pub health_path: String,

    /// How real servers are probed.
    #[arg(long, alias = "health-schem", value_enum, default_value_t = SchemeArg::Https)]
    pub health_scheme: SchemeArg,

    /// Limit of a probe's connect and of its request's answer, same syntax as --interval; must
    /// be shorter than the interval (a new connection's TLS handshake may take up to the interval).
    #[arg(long, value_name = "DURATION", default_value = defaults::HEALTH_TIMEOUT)]
    pub health_timeout: String,

    /// Extra HTTP status counted as healthy besides 2xx/3xx; repeatable or comma separated.
    #[arg(long, value_name = "CODE", value_delimiter = ',')]
    pub health_status: Vec<u16>,

    /// Skip TLS verification when no --ca-file is given (set =false to require one).
    #[arg(
        long,
        value_name = "BOOL",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true"
    )]
    pub health_insecure_skip_verify: bool,

    /// CA bundle (PEM) to verify the apiservers' certificates with.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// Consecutive successful probes that bring a Down real server back.
    #[arg(long, value_name = "N", default_value_t = defaults::RISE)]
    pub rise: u32,

    /// Delay of the quick re-probe that confirms a failed probe; shorter than the interval.
    #[arg(long, value_name = "DURATION", default_value = defaults::FASTINTER)]
    pub fastinter: String,

    /// Consecutive failed probes that take an Up real server out.
    #[arg(long, value_name = "N", default_value_t = defaults::FALL)]
    pub fall: u32,

    /// Longest time a Down real server keeps its connections before it is deleted.
    #[arg(long, value_name = "DURATION", default_value = defaults::DRAIN_TIMEOUT)]
    pub drain_timeout: String,

    /// Dummy interface that holds the VIP.
    #[arg(long, short = 'i', default_value = defaults::IFACE)]
    pub iface: String,

    /// Node address used as source for connections to the VIP (default: discovered).
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<String>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Serve Prometheus metrics at /metrics and the loop's liveness at /healthz on this
    /// address, e.g. 127.0.0.1:9102 (off by default).
    #[arg(long, value_name = "IP:PORT")]
    pub metrics_addr: Option<String>,

    /// Accepted and ignored, so the older lvscare's manifests keep working: the VIP is always
    /// on a dummy link with a route source fix (`--mode route|link` chose between iptables setups).
    #[arg(long, hide = true, value_name = "MODE")]
    pub mode: Option<String>,

    /// Accepted and ignored (the older lvscare's logger selection); see `--log-format`.
    #[arg(long, hide = true, value_name = "LOGGER")]
    pub logger: Option<String>,
}

/// `lvscare care`.
#[derive(Debug, Clone, Args)]
pub struct CareArgs {
    /// Balancer and health check settings.
    #[command(flatten)]
    pub balancer: BalancerArgs,

    /// Set up the interface and the IPVS rules once, without health checks, and exit.
    #[arg(long)]
    pub run_once: bool,

    /// Remove lvscare's IPVS service and interface, and exit.
    #[arg(long, short = 'C', conflicts_with = "run_once")]
    pub clean: bool,
}

/// `lvscare manifest`.
#[derive(Debug, Clone, Args)]
pub struct ManifestArgs {
    /// Balancer and health check settings written into the manifest.
    #[command(flatten)]
    pub balancer: BalancerArgs,

    /// Container image that holds the lvscare binary at /usr/bin/lvscare (load it into each
    /// node's container runtime, e.g. from the offline package's images).
    #[arg(long, default_value = defaults::IMAGE)]
    pub image: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{care, parse};
    use crate::config::TlsVerify;
    use std::time::Duration;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn older_lvscare_command_line_is_accepted() {
        // As written by sealos into worker static pods.
        let c = care(&[
            "--vs",
            "10.103.97.2:6443",
            "--health-path",
            "/healthz",
            "--health-schem",
            "https",
            "--rs",
            "192.168.0.2:6443,192.168.0.3:6443",
            "--rs",
            "192.168.0.4:6443",
            "--interval",
            "5",
            "--health-insecure-skip-verify",
            "--health-status",
            "401,403",
            "-i",
            "lvscare",
        ])
        .unwrap();
        assert_eq!(c.real_servers.len(), 3);
        assert_eq!(c.interval, Duration::from_secs(5));
        assert_eq!(c.health.extra_statuses, vec![401, 403]);
        assert_eq!(c.health.tls, TlsVerify::Insecure);
    }

    #[test]
    fn clap_rejects_unknown_scheme_and_non_numeric_status() {
        assert!(parse(&["care", "--vs", "10.0.0.1:1", "--health-scheme", "ftp"]).is_err());
        assert!(parse(&["care", "--vs", "10.0.0.1:1", "--health-status", "ok"]).is_err());
        assert!(parse(&["care"]).is_err(), "--vs is required");
    }
}
