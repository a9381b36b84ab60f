//! The validated configuration: what `care` and `manifest` run with once the flags are checked.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use super::cli::LogFormat;
use crate::ipvs::{Protocol, Service, ServiceKey};
use crate::probe::Scheme;

/// Schedulers the Linux kernel ships (ip_vs_<name> modules).
pub const KNOWN_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFACE_LEN: usize = 15;

/// What `care` does after validating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Run as a daemon, probing and reconciling.
    Daemon,
    /// Set everything up once (all real servers in) and exit.
    Once,
    /// Remove everything lvscare created and exit.
    Clean,
}

/// How HTTPS probes verify the server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsVerify {
    /// Verify against this CA bundle (the file is read by the prober).
    CaFile(PathBuf),
    /// No verification (the older lvscare's only behaviour).
    Insecure,
}

/// Validated health check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// Probe kind.
    pub scheme: Scheme,
    /// Path for HTTP(S) probes, always starting with '/'.
    pub path: String,
    /// Per-probe timeout, shorter than the interval.
    pub timeout: Duration,
    /// Extra healthy HTTP statuses.
    pub extra_statuses: Vec<u16>,
    /// Certificate verification for HTTPS.
    pub tls: TlsVerify,
}

/// Validated configuration of `lvscare care`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareConfig {
    /// Virtual server address.
    pub vip: SocketAddr,
    /// Real servers, same family as the VIP, no duplicates (empty only with `--clean`).
    pub real_servers: Vec<SocketAddr>,
    /// IPVS scheduler, one of [`KNOWN_SCHEDULERS`].
    pub scheduler: String,
    /// Probe interval (> 0).
    pub interval: Duration,
    /// Health check settings.
    pub health: HealthConfig,
    /// Successes to come back Up.
    pub rise: NonZeroU32,
    /// Delay of the re-probe after a failed probe (< interval).
    pub fastinter: Duration,
    /// Failures to go Down.
    pub fall: NonZeroU32,
    /// Drain limit for Down servers.
    pub drain_timeout: Duration,
    /// Dummy interface name.
    pub iface: String,
    /// Source address for VIP connections, `None` to discover it.
    pub source_ip: Option<IpAddr>,
    /// Log format.
    pub log_format: LogFormat,
    /// Where to serve /metrics and /healthz, `None` for nowhere.
    pub metrics_addr: Option<SocketAddr>,
    /// Daemon, run once or clean.
    pub mode: RunMode,
}

/// Validated configuration of `lvscare manifest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestConfig {
    /// The `care` settings the manifest runs with (mode is always Daemon).
    pub care: CareConfig,
    /// Container image.
    pub image: String,
}

impl CareConfig {
    /// The IPVS virtual service this configuration asks for.
    pub fn service(&self) -> Service {
        Service::new(
            ServiceKey {
                addr: self.vip,
                protocol: Protocol::Tcp,
            },
            &self.scheduler,
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::care_with;
    use crate::ipvs::Protocol;

    #[test]
    fn service_matches_the_flags() {
        let c = care_with(&["--scheduler", "wrr"]).unwrap();
        let s = c.service();
        assert_eq!(s.key.addr, c.vip);
        assert_eq!(s.key.protocol, Protocol::Tcp);
        assert_eq!(s.scheduler, "wrr");
        assert_eq!(s.netmask, 0xffff_ffff);
    }
}
