//! The command line (clap) and its validation into a typed configuration.
//!
//! Flags follow the older Go lvscare where the meaning is the same (`care --vs --rs --scheduler
//! --interval --health-path --health-schem --health-status --health-insecure-skip-verify
//! --run-once -C/--clean -i/--iface`), so existing static-pod manifests keep working.
//! Validation is a pure function from the parsed arguments to [`CareConfig`]; every error names
//! the problem and the fix.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use thiserror::Error;

use crate::ipvs::{Protocol, Service, ServiceKey};
use crate::probe::Scheme;

/// Default values of the tuning flags, chosen so that a dead master stops receiving new
/// connections within 3 s at negligible load on the apiservers.
///
/// Probes start on a fixed tick every `INTERVAL`; the `FALL`-th consecutive failed probe sets
/// the server's weight to 0. A master can die just after a successful probe, so the worst case
/// from death to "no new connections" is `FALL × INTERVAL + TIMEOUT`:
/// - apiserver process killed: the connect is refused at once, so 2 × 1 s = 2 s;
/// - master blackholed or powered off: nothing answers, each probe ends at the timeout:
///   2 × 1 s + 0.5 s = 2.5 s, leaving 0.5 s of slack for timers and the netlink update.
///
/// `TIMEOUT` 500 ms is two orders of magnitude above the latency of `/healthz` on a LAN, so only
/// a stuck server times out; `FALL` 2 means a single lost packet or slow answer never takes a
/// healthy master out (and if all masters look down, the reconciler fails open anyway).
/// `RISE` 3: a recovering master must answer for 3 s in a row before it gets traffic again —
/// slow to trust, quick to distrust; the other masters carry the load meanwhile.
/// `DRAIN_TIMEOUT` 5 s: a Down master at weight 0 keeps its existing connections at most this
/// long (about what the older lvscare's "weight 0, delete on the next probe" gave), then it is
/// deleted so clients stuck on a dead master reconnect elsewhere.
///
/// Load: one GET of the health path per second per worker per master. Estimated at well under
/// 0.1 ms of apiserver CPU per request on a kept-alive connection, that is about 1 % of a core
/// per 100 workers. A fresh TLS handshake per probe would cost roughly ten times that (an RSA
/// signature each), so the prober should reuse its connection. On apiservers older than
/// kubernetes PR #112046 (2022) every `/healthz` also costs one etcd read; very large clusters on
/// such versions can raise `--interval` (detection time grows as `FALL × interval`).
pub mod defaults {
    /// Probe interval.
    pub const INTERVAL: &str = "1s";
    /// Probe timeout (must stay below the interval).
    pub const HEALTH_TIMEOUT: &str = "500ms";
    /// Consecutive successes that bring a Down server back.
    pub const RISE: u32 = 3;
    /// Consecutive failures that take an Up server out.
    pub const FALL: u32 = 2;
    /// Longest time a Down server keeps its connections before it is deleted.
    pub const DRAIN_TIMEOUT: &str = "5s";
    /// IPVS scheduler.
    pub const SCHEDULER: &str = "rr";
    /// Health check path.
    pub const HEALTH_PATH: &str = "/healthz";
    /// Name of the dummy interface holding the VIP (same as the older lvscare).
    pub const IFACE: &str = "lvscare";
    /// Image of the static pod when `--image` is not given: this version of lvscare.
    pub const IMAGE: &str = concat!("lvscare:v", env!("CARGO_PKG_VERSION"));
}

/// Schedulers the Linux kernel ships (ip_vs_<name> modules).
pub const KNOWN_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFACE_LEN: usize = 15;

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

    /// Probe timeout, same syntax as --interval; must be shorter than the interval.
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

/// Why a duration flag could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DurationError {
    /// Nothing given.
    #[error("empty duration")]
    Empty,
    /// A number or unit could not be read.
    #[error("cannot read a duration from {0:?}")]
    Malformed(String),
    /// Unknown unit.
    #[error("unknown unit {0:?} (use ms, s, m or h)")]
    UnknownUnit(String),
    /// Too large to represent.
    #[error("duration too large")]
    Overflow,
}

/// Why an address flag could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrProblem {
    /// No `:PORT`.
    MissingPort,
    /// IPv6 without brackets.
    UnbracketedIpv6,
    /// The host is not an IP address.
    BadIp,
    /// The port is not a number.
    BadPort,
    /// 0.0.0.0 or ::.
    Unspecified,
}

impl fmt::Display for AddrProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrProblem::MissingPort => "no port",
            AddrProblem::UnbracketedIpv6 => "an IPv6 address needs brackets",
            AddrProblem::BadIp => "not an IP address (host names are not resolved)",
            AddrProblem::BadPort => "the port is not a number",
            AddrProblem::Unspecified => "the unspecified address cannot be used",
        })
    }
}

/// A command line that cannot work; the binary exits with status 2 on these.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// An address flag could not be parsed.
    #[error("{flag} {value:?}: {problem}; write IP:PORT, e.g. 192.168.0.2:6443 or [fd00::2]:6443")]
    BadAddress {
        /// The flag (`--vs`/`--rs`).
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is wrong.
        problem: AddrProblem,
    },
    /// Port 0.
    #[error("{flag} {value:?}: port 0 cannot be used; give the apiserver port, e.g. :6443")]
    PortZero {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// Port above 65535.
    #[error("{flag} {value:?}: port above 65535; give the apiserver port, e.g. :6443")]
    PortTooLarge {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// The VIP's address is also a real server's.
    #[error(
        "--vs {vip} has the address of real server {rs}; the VIP must be an address no node uses \
         (e.g. 10.103.97.2)"
    )]
    VipIsRealServer {
        /// The VIP.
        vip: SocketAddr,
        /// The clashing real server.
        rs: SocketAddr,
    },
    /// IPv4 and IPv6 mixed.
    #[error(
        "--vs {vip} and --rs {rs} are of different IP families; IPVS cannot forward between \
         them: use an IPv6 VIP for IPv6 masters, an IPv4 VIP for IPv4 ones"
    )]
    MixedFamilies {
        /// The VIP.
        vip: SocketAddr,
        /// The real server of the other family.
        rs: SocketAddr,
    },
    /// Scheduler unknown to the kernel.
    #[error("unknown --scheduler {0:?}; use one of: {list}", list = KNOWN_SCHEDULERS.join(" "))]
    UnknownScheduler(String),
    /// No `--rs`.
    #[error("no real server: give every apiserver with --rs IP:PORT (repeatable)")]
    MissingRealServers,
    /// The same real server twice.
    #[error("--rs {0} is given twice; list each apiserver once")]
    DuplicateRealServer(SocketAddr),
    /// Timeout not below interval.
    #[error(
        "--health-timeout {} is not shorter than --interval {}; lower the timeout or raise the interval",
        fmt_duration(*.timeout), fmt_duration(*.interval)
    )]
    TimeoutNotBelowInterval {
        /// The timeout.
        timeout: Duration,
        /// The interval.
        interval: Duration,
    },
    /// A duration flag could not be parsed.
    #[error(
        "{flag} {value:?}: {source}; write seconds (5) or a number with a unit (500ms, 2s, 1m)"
    )]
    BadDuration {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is wrong.
        source: DurationError,
    },
    /// A duration that must be positive is zero.
    #[error("{0} must be greater than 0, e.g. 1s")]
    ZeroDuration(&'static str),
    /// Not a usable interface name.
    #[error(
        "--iface {name:?}: {problem}; use 1 to {MAX_IFACE_LEN} bytes without '/', ':' or \
         whitespace, e.g. lvscare"
    )]
    BadInterface {
        /// What was given.
        name: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// `--rise 0` or `--fall 0`.
    #[error("{0} must be at least 1")]
    ZeroThreshold(&'static str),
    /// Not an HTTP status code.
    #[error("--health-status {0}: not an HTTP status; use a code from 100 to 599")]
    BadHealthStatus(u16),
    /// A path that cannot go into a request line.
    #[error(
        "--health-path {0:?}: must not contain whitespace or control characters, e.g. /healthz"
    )]
    BadHealthPath(String),
    /// Verification wanted but nothing to verify against.
    #[error(
        "--health-insecure-skip-verify=false needs --ca-file (e.g. /etc/kubernetes/pki/ca.crt) \
         to verify the apiservers against"
    )]
    VerifyWithoutCa,
    /// `--source-ip` is not an IP.
    #[error("--source-ip {0:?}: not an IP address; give this node's address, e.g. 192.168.0.10")]
    BadSourceIp(String),
    /// `--source-ip` unusable with this VIP.
    #[error(
        "--source-ip {ip} cannot be used with --vs {vip}: it must be this node's own address, of \
         the VIP's family, and not the VIP"
    )]
    SourceIpMismatch {
        /// The source address.
        ip: IpAddr,
        /// The VIP.
        vip: SocketAddr,
    },
    /// `--image ""`.
    #[error("--image is empty; give the image that holds lvscare, e.g. example.com/lvscare:v1")]
    EmptyImage,
}

/// Parses a duration: a plain number is seconds; otherwise one or more `<number><unit>` parts
/// (`500ms`, `2s`, `1m30s`, `1.5s`) with units ns, us, µs, ms, s, m, h.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| DurationError::Overflow);
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if num.is_empty() || unit.is_empty() {
            return Err(DurationError::Malformed(s.to_string()));
        }
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(DurationError::UnknownUnit(unit.to_string())),
        };
        total = total
            .checked_add(
                number_times(num, unit_nanos).ok_or_else(|| malformed_or_overflow(s, num))?,
            )
            .ok_or(DurationError::Overflow)?;
        rest = next;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    // The remainder is below 10^9 and fits.
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// `num` (digits with at most one '.') times `unit_nanos`, truncated to whole nanoseconds.
fn number_times(num: &str, unit_nanos: u128) -> Option<u128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let int_value: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut value = int_value.checked_mul(unit_nanos)?;
    // Digits past the nanosecond of the largest unit cannot matter.
    let mut scale = unit_nanos;
    for digit in frac.bytes().take(15) {
        scale /= 10;
        value = value.checked_add(u128::from(digit - b'0') * scale)?;
    }
    Some(value)
}

fn malformed_or_overflow(s: &str, num: &str) -> DurationError {
    let shape_ok = num.matches('.').count() <= 1 && num != ".";
    if shape_ok {
        DurationError::Overflow
    } else {
        DurationError::Malformed(s.to_string())
    }
}

/// Renders a duration in the syntax [`parse_duration`] reads, with the largest exact unit.
pub fn fmt_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    for (unit, size) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if nanos % size == 0 {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

/// Parses `IP:PORT` or `[IPv6]:PORT` into an address, with a precise error.
fn parse_endpoint(flag: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    let bad = |problem| ConfigError::BadAddress {
        flag,
        value: value.to_string(),
        problem,
    };
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad(AddrProblem::BadIp))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| bad(AddrProblem::MissingPort))?;
        let ip = host
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| bad(AddrProblem::BadIp))?;
        (IpAddr::V6(ip), port)
    } else {
        let (host, port) = value
            .rsplit_once(':')
            .ok_or_else(|| bad(AddrProblem::MissingPort))?;
        if host.contains(':') {
            return Err(bad(AddrProblem::UnbracketedIpv6));
        }
        let ip = host
            .parse::<std::net::Ipv4Addr>()
            .map_err(|_| bad(AddrProblem::BadIp))?;
        (IpAddr::V4(ip), port)
    };
    if port.is_empty() {
        return Err(bad(AddrProblem::MissingPort));
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(AddrProblem::BadPort));
    }
    // Any digit string longer than u32 holds is certainly too large.
    let port: u64 = port.parse().unwrap_or(u64::MAX);
    if port == 0 {
        return Err(ConfigError::PortZero {
            flag,
            value: value.to_string(),
        });
    }
    let port = u16::try_from(port).map_err(|_| ConfigError::PortTooLarge {
        flag,
        value: value.to_string(),
    })?;
    if host.is_unspecified() {
        return Err(bad(AddrProblem::Unspecified));
    }
    Ok(SocketAddr::new(host, port))
}

/// Checks a Linux interface name the way the kernel's dev_valid_name() does.
fn validate_iface(name: &str) -> Result<(), ConfigError> {
    match crate::link::ifname_problem(name) {
        Some(problem) => Err(ConfigError::BadInterface {
            name: name.to_string(),
            problem,
        }),
        None => Ok(()),
    }
}

fn duration_flag(flag: &'static str, value: &str) -> Result<Duration, ConfigError> {
    parse_duration(value).map_err(|source| ConfigError::BadDuration {
        flag,
        value: value.to_string(),
        source,
    })
}

impl BalancerArgs {
    /// Validates the shared flags; `require_rs` is false only for `--clean`.
    fn validate(&self, require_rs: bool, mode: RunMode) -> Result<CareConfig, ConfigError> {
        let vip = parse_endpoint("--vs", &self.vs)?;

        let mut real_servers: Vec<SocketAddr> = Vec::with_capacity(self.rs.len());
        for value in &self.rs {
            let rs = parse_endpoint("--rs", value)?;
            if rs.is_ipv4() != vip.is_ipv4() {
                return Err(ConfigError::MixedFamilies { vip, rs });
            }
            // Same IP on another port is also wrong: the VIP is local, so it would loop.
            if rs.ip() == vip.ip() {
                return Err(ConfigError::VipIsRealServer { vip, rs });
            }
            if real_servers.contains(&rs) {
                return Err(ConfigError::DuplicateRealServer(rs));
            }
            real_servers.push(rs);
        }
        if require_rs && real_servers.is_empty() {
            return Err(ConfigError::MissingRealServers);
        }

        if !KNOWN_SCHEDULERS.contains(&self.scheduler.as_str()) {
            return Err(ConfigError::UnknownScheduler(self.scheduler.clone()));
        }

        let interval = duration_flag("--interval", &self.interval)?;
        if interval.is_zero() {
            return Err(ConfigError::ZeroDuration("--interval"));
        }
        let timeout = duration_flag("--health-timeout", &self.health_timeout)?;
        if timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("--health-timeout"));
        }
        if timeout >= interval {
            return Err(ConfigError::TimeoutNotBelowInterval { timeout, interval });
        }
        let drain_timeout = duration_flag("--drain-timeout", &self.drain_timeout)?;

        let rise = NonZeroU32::new(self.rise).ok_or(ConfigError::ZeroThreshold("--rise"))?;
        let fall = NonZeroU32::new(self.fall).ok_or(ConfigError::ZeroThreshold("--fall"))?;

        validate_iface(&self.iface)?;

        if let Some(&code) = self
            .health_status
            .iter()
            .find(|c| !(100..=599).contains(*c))
        {
            return Err(ConfigError::BadHealthStatus(code));
        }
        let mut extra_statuses = self.health_status.clone();
        extra_statuses.sort_unstable();
        extra_statuses.dedup();

        if self
            .health_path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::BadHealthPath(self.health_path.clone()));
        }
        // Like the older lvscare: "healthz" means "/healthz".
        let path = if self.health_path.starts_with('/') {
            self.health_path.clone()
        } else {
            format!("/{}", self.health_path)
        };

        let scheme = Scheme::from(self.health_scheme);
        let tls = match (&self.ca_file, self.health_insecure_skip_verify) {
            (Some(ca), _) => TlsVerify::CaFile(ca.clone()),
            (None, true) => TlsVerify::Insecure,
            (None, false) if scheme == Scheme::Https => return Err(ConfigError::VerifyWithoutCa),
            // Nothing to verify for plain HTTP or TCP probes.
            (None, false) => TlsVerify::Insecure,
        };

        let source_ip = match &self.source_ip {
            None => None,
            Some(s) => {
                let ip: IpAddr = s.parse().map_err(|_| ConfigError::BadSourceIp(s.clone()))?;
                if ip.is_ipv4() != vip.is_ipv4() || ip == vip.ip() || ip.is_unspecified() {
                    return Err(ConfigError::SourceIpMismatch { ip, vip });
                }
                Some(ip)
            }
        };

        Ok(CareConfig {
            vip,
            real_servers,
            scheduler: self.scheduler.clone(),
            interval,
            health: HealthConfig {
                scheme,
                path,
                timeout,
                extra_statuses,
                tls,
            },
            rise,
            fall,
            drain_timeout,
            iface: self.iface.clone(),
            source_ip,
            log_format: self.log_format,
            mode,
        })
    }
}

impl CareArgs {
    /// Validates `lvscare care` into a [`CareConfig`].
    pub fn validate(&self) -> Result<CareConfig, ConfigError> {
        let mode = if self.clean {
            RunMode::Clean
        } else if self.run_once {
            RunMode::Once
        } else {
            RunMode::Daemon
        };
        // Cleaning needs only the VIP, as in the older lvscare.
        self.balancer.validate(mode != RunMode::Clean, mode)
    }
}

impl ManifestArgs {
    /// Validates `lvscare manifest` into a [`ManifestConfig`].
    pub fn validate(&self) -> Result<ManifestConfig, ConfigError> {
        let care = self.balancer.validate(true, RunMode::Daemon)?;
        if self.image.trim().is_empty() {
            return Err(ConfigError::EmptyImage);
        }
        Ok(ManifestConfig {
            care,
            image: self.image.clone(),
        })
    }
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

    /// The `lvscare care ...` arguments (subcommand first) that reproduce this configuration,
    /// for rendering the static-pod manifest.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["care".to_string(), "--vs".to_string(), self.vip.to_string()];
        for rs in &self.real_servers {
            args.push("--rs".to_string());
            args.push(rs.to_string());
        }
        let mut flag = |name: &str, value: String| {
            args.push(format!("--{name}"));
            args.push(value);
        };
        flag("scheduler", self.scheduler.clone());
        flag("interval", fmt_duration(self.interval));
        flag("health-path", self.health.path.clone());
        let scheme = match self.health.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
            Scheme::Tcp => "tcp",
        };
        flag("health-scheme", scheme.to_string());
        flag("health-timeout", fmt_duration(self.health.timeout));
        for code in &self.health.extra_statuses {
            flag("health-status", code.to_string());
        }
        if let TlsVerify::CaFile(path) = &self.health.tls {
            flag("ca-file", path.display().to_string());
        }
        flag("rise", self.rise.to_string());
        flag("fall", self.fall.to_string());
        flag("drain-timeout", fmt_duration(self.drain_timeout));
        flag("iface", self.iface.clone());
        if let Some(ip) = self.source_ip {
            flag("source-ip", ip.to_string());
        }
        let format = match self.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        flag("log-format", format.to_string());
        match self.mode {
            RunMode::Daemon => {}
            RunMode::Once => args.push("--run-once".to_string()),
            RunMode::Clean => args.push("--clean".to_string()),
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("lvscare").chain(args.iter().copied()))
    }

    fn care(args: &[&str]) -> Result<CareConfig, ConfigError> {
        let mut full = vec!["care"];
        full.extend_from_slice(args);
        match parse(&full)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .command
        {
            Command::Care(c) => c.validate(),
            Command::Manifest(_) => panic!("not care"),
        }
    }

    const BASE: &[&str] = &["--vs", "10.103.97.2:6443", "--rs", "192.168.0.2:6443"];

    fn care_with(extra: &[&str]) -> Result<CareConfig, ConfigError> {
        let mut args = BASE.to_vec();
        args.extend_from_slice(extra);
        care(&args)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let c = care(&[
            "--vs",
            "10.103.97.2:6443",
            "--rs",
            "192.168.0.2:6443",
            "--rs",
            "192.168.0.3:6443",
        ])
        .unwrap();
        assert_eq!(c.vip, addr("10.103.97.2:6443"));
        assert_eq!(
            c.real_servers,
            vec![addr("192.168.0.2:6443"), addr("192.168.0.3:6443")]
        );
        assert_eq!(c.scheduler, "rr");
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.health.timeout, Duration::from_millis(500));
        assert_eq!(c.health.path, "/healthz");
        assert_eq!(c.health.scheme, Scheme::Https);
        assert_eq!(c.health.tls, TlsVerify::Insecure);
        assert!(c.health.extra_statuses.is_empty());
        assert_eq!((c.rise.get(), c.fall.get()), (3, 2));
        assert_eq!(c.drain_timeout, Duration::from_secs(5));
        assert_eq!(c.iface, "lvscare");
        assert_eq!(c.source_ip, None);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.mode, RunMode::Daemon);
    }

    #[test]
    fn defaults_take_a_dead_master_out_within_3s() {
        let c = care(BASE).unwrap();
        // Worst case: dies right after a successful probe, then every probe times out.
        let worst = c.interval * c.fall.get() + c.health.timeout;
        assert!(worst <= Duration::from_secs(3), "{worst:?}");
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
    fn run_once_and_clean() {
        assert_eq!(care_with(&["--run-once"]).unwrap().mode, RunMode::Once);
        assert_eq!(care_with(&["-C"]).unwrap().mode, RunMode::Clean);
        // Cleaning needs no real servers.
        let c = care(&["--vs", "10.103.97.2:6443", "--clean"]).unwrap();
        assert_eq!(c.mode, RunMode::Clean);
        assert!(c.real_servers.is_empty());
        assert!(parse(&["care", "--vs", "10.0.0.1:1", "--run-once", "--clean"]).is_err());
    }

    #[test]
    fn all_flags() {
        let c = care_with(&[
            "--scheduler",
            "wlc",
            "--interval",
            "2s",
            "--health-path",
            "readyz",
            "--health-scheme",
            "http",
            "--health-timeout",
            "1500ms",
            "--health-status",
            "429",
            "--health-status",
            "401",
            "--ca-file",
            "/etc/kubernetes/pki/ca.crt",
            "--rise",
            "1",
            "--fall",
            "4",
            "--drain-timeout",
            "1m",
            "--iface",
            "kube-lb0",
            "--source-ip",
            "192.168.0.10",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(c.scheduler, "wlc");
        assert_eq!(c.interval, Duration::from_secs(2));
        assert_eq!(c.health.path, "/readyz");
        assert_eq!(c.health.scheme, Scheme::Http);
        assert_eq!(c.health.timeout, Duration::from_millis(1500));
        assert_eq!(c.health.extra_statuses, vec![401, 429]);
        assert_eq!(
            c.health.tls,
            TlsVerify::CaFile("/etc/kubernetes/pki/ca.crt".into())
        );
        assert_eq!((c.rise.get(), c.fall.get()), (1, 4));
        assert_eq!(c.drain_timeout, Duration::from_secs(60));
        assert_eq!(c.iface, "kube-lb0");
        assert_eq!(c.source_ip, Some("192.168.0.10".parse().unwrap()));
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn ipv6() {
        let c = care(&[
            "--vs",
            "[fd00::1]:6443",
            "--rs",
            "[fd00::a]:6443",
            "--source-ip",
            "fd00::5",
        ])
        .unwrap();
        assert_eq!(c.vip, addr("[fd00::1]:6443"));
        assert_eq!(c.real_servers, vec![addr("[fd00::a]:6443")]);
        assert_eq!(c.service().netmask, 128);
    }

    #[test]
    fn service_matches_the_flags() {
        let c = care_with(&["--scheduler", "wrr"]).unwrap();
        let s = c.service();
        assert_eq!(s.key.addr, c.vip);
        assert_eq!(s.key.protocol, Protocol::Tcp);
        assert_eq!(s.scheduler, "wrr");
        assert_eq!(s.netmask, 0xffff_ffff);
    }

    #[test]
    fn skip_verify_false_needs_a_ca_for_https() {
        assert_eq!(
            care_with(&["--health-insecure-skip-verify=false"]),
            Err(ConfigError::VerifyWithoutCa)
        );
        let c = care_with(&[
            "--health-insecure-skip-verify=false",
            "--ca-file",
            "/ca.pem",
        ])
        .unwrap();
        assert_eq!(c.health.tls, TlsVerify::CaFile("/ca.pem".into()));
        let c = care_with(&[
            "--health-insecure-skip-verify=false",
            "--health-scheme",
            "tcp",
        ]);
        assert!(c.is_ok());
    }

    fn bad_address(flag: &'static str, value: &str, problem: AddrProblem) -> ConfigError {
        ConfigError::BadAddress {
            flag,
            value: value.to_string(),
            problem,
        }
    }

    #[test]
    fn malformed_addresses() {
        let cases = [
            ("10.103.97.2", AddrProblem::MissingPort),
            ("10.103.97.2:", AddrProblem::MissingPort),
            ("fd00::1:6443", AddrProblem::UnbracketedIpv6),
            ("apiserver.cluster.local:6443", AddrProblem::BadIp),
            ("10.103.97:6443", AddrProblem::BadIp),
            ("[fd00::1:6443", AddrProblem::BadIp),
            ("[fd00::1]", AddrProblem::MissingPort),
            ("[10.0.0.1]:6443", AddrProblem::BadIp),
            ("10.103.97.2:https", AddrProblem::BadPort),
            ("10.103.97.2:-1", AddrProblem::BadPort),
            ("0.0.0.0:6443", AddrProblem::Unspecified),
            ("[::]:6443", AddrProblem::Unspecified),
        ];
        for (value, problem) in cases {
            assert_eq!(
                care(&["--vs", value, "--rs", "192.168.0.2:6443"]),
                Err(bad_address("--vs", value, problem.clone())),
                "{value}"
            );
            assert_eq!(
                care(&["--vs", "10.103.97.2:6443", "--rs", value]),
                Err(bad_address("--rs", value, problem)),
                "{value}"
            );
        }
    }

    #[test]
    fn port_zero_and_too_large() {
        assert_eq!(
            care(&["--vs", "10.103.97.2:0", "--rs", "192.168.0.2:6443"]),
            Err(ConfigError::PortZero {
                flag: "--vs",
                value: "10.103.97.2:0".into()
            })
        );
        assert_eq!(
            care(&["--vs", "10.103.97.2:6443", "--rs", "[fd00::1]:0"]),
            Err(ConfigError::PortZero {
                flag: "--rs",
                value: "[fd00::1]:0".into()
            })
        );
        for value in ["192.168.0.2:65536", "192.168.0.2:99999999999999999999999"] {
            assert_eq!(
                care(&["--vs", "10.103.97.2:6443", "--rs", value]),
                Err(ConfigError::PortTooLarge {
                    flag: "--rs",
                    value: value.into()
                })
            );
        }
        assert!(care(&["--vs", "10.103.97.2:65535", "--rs", "192.168.0.2:1"]).is_ok());
    }

    #[test]
    fn vip_equal_to_a_real_server() {
        let e = care(&["--vs", "192.168.0.2:6443", "--rs", "192.168.0.2:6443"]);
        assert_eq!(
            e,
            Err(ConfigError::VipIsRealServer {
                vip: addr("192.168.0.2:6443"),
                rs: addr("192.168.0.2:6443")
            })
        );
        // Another port on the VIP's address is just as wrong.
        let e = care(&["--vs", "192.168.0.2:6443", "--rs", "192.168.0.2:443"]);
        assert!(matches!(e, Err(ConfigError::VipIsRealServer { .. })));
    }

    #[test]
    fn mixed_families() {
        let e = care(&["--vs", "10.103.97.2:6443", "--rs", "[fd00::2]:6443"]);
        assert_eq!(
            e,
            Err(ConfigError::MixedFamilies {
                vip: addr("10.103.97.2:6443"),
                rs: addr("[fd00::2]:6443")
            })
        );
        let e = care(&[
            "--vs",
            "[fd00::1]:6443",
            "--rs",
            "[fd00::2]:6443",
            "--rs",
            "192.168.0.3:6443",
        ]);
        assert!(matches!(e, Err(ConfigError::MixedFamilies { .. })));
    }

    #[test]
    fn schedulers() {
        for s in KNOWN_SCHEDULERS {
            assert_eq!(care_with(&["--scheduler", s]).unwrap().scheduler, *s);
        }
        for s in ["", "RR", "roundrobin", "maglev"] {
            assert_eq!(
                care_with(&["--scheduler", s]),
                Err(ConfigError::UnknownScheduler(s.to_string()))
            );
        }
    }

    #[test]
    fn missing_rs() {
        assert_eq!(
            care(&["--vs", "10.103.97.2:6443"]),
            Err(ConfigError::MissingRealServers)
        );
        assert!(care(&["--vs", "10.103.97.2:6443", "--run-once"]).is_err());
    }

    #[test]
    fn duplicate_rs() {
        let e = care_with(&["--rs", "192.168.0.3:6443", "--rs", "192.168.0.2:6443"]);
        assert_eq!(
            e,
            Err(ConfigError::DuplicateRealServer(addr("192.168.0.2:6443")))
        );
        // Equal after parsing, even if spelt differently.
        let e = care(&[
            "--vs",
            "[fd00::1]:6443",
            "--rs",
            "[fd00::2]:6443",
            "--rs",
            "[fd00:0::2]:6443",
        ]);
        assert_eq!(
            e,
            Err(ConfigError::DuplicateRealServer(addr("[fd00::2]:6443")))
        );
        // Same host, other port: two distinct real servers.
        assert_eq!(
            care_with(&["--rs", "192.168.0.2:6444"])
                .unwrap()
                .real_servers
                .len(),
            2
        );
    }

    #[test]
    fn timeout_not_below_interval() {
        let e = care_with(&["--interval", "1s", "--health-timeout", "1000ms"]);
        assert_eq!(
            e,
            Err(ConfigError::TimeoutNotBelowInterval {
                timeout: Duration::from_secs(1),
                interval: Duration::from_secs(1)
            })
        );
        assert!(matches!(
            care_with(&["--interval", "2", "--health-timeout", "10s"]),
            Err(ConfigError::TimeoutNotBelowInterval { .. })
        ));
        assert!(care_with(&["--interval", "2", "--health-timeout", "1999ms"]).is_ok());
    }

    #[test]
    fn zero_and_malformed_durations() {
        assert_eq!(
            care_with(&["--interval", "0"]),
            Err(ConfigError::ZeroDuration("--interval"))
        );
        assert_eq!(
            care_with(&["--health-timeout", "0ms"]),
            Err(ConfigError::ZeroDuration("--health-timeout"))
        );
        assert!(
            care_with(&["--drain-timeout", "0"]).is_ok(),
            "no drain is allowed"
        );
        assert_eq!(
            care_with(&["--interval", "5x"]),
            Err(ConfigError::BadDuration {
                flag: "--interval",
                value: "5x".into(),
                source: DurationError::UnknownUnit("x".into())
            })
        );
        assert!(matches!(
            care_with(&["--drain-timeout", "soon"]),
            Err(ConfigError::BadDuration {
                flag: "--drain-timeout",
                ..
            })
        ));
    }

    #[test]
    fn bad_interface_names() {
        for name in [
            "",
            "a-very-long-name0",
            ".",
            "..",
            "lvs/care",
            "lvs:0",
            "lvs care",
        ] {
            assert!(
                matches!(
                    care_with(&["--iface", name]),
                    Err(ConfigError::BadInterface { .. })
                ),
                "{name:?}"
            );
        }
        assert_eq!(
            care_with(&["--iface", "exactly15-bytes"]).unwrap().iface,
            "exactly15-bytes"
        );
    }

    #[test]
    fn zero_rise_or_fall() {
        assert_eq!(
            care_with(&["--rise", "0"]),
            Err(ConfigError::ZeroThreshold("--rise"))
        );
        assert_eq!(
            care_with(&["--fall", "0"]),
            Err(ConfigError::ZeroThreshold("--fall"))
        );
    }

    #[test]
    fn other_validation_errors() {
        assert_eq!(
            care_with(&["--health-status", "99"]),
            Err(ConfigError::BadHealthStatus(99))
        );
        assert_eq!(
            care_with(&["--health-status", "600"]),
            Err(ConfigError::BadHealthStatus(600))
        );
        assert_eq!(
            care_with(&["--health-path", "/health z"]),
            Err(ConfigError::BadHealthPath("/health z".into()))
        );
        assert_eq!(
            care_with(&["--source-ip", "node1"]),
            Err(ConfigError::BadSourceIp("node1".into()))
        );
        for ip in ["fd00::5", "10.103.97.2", "0.0.0.0"] {
            assert!(
                matches!(
                    care_with(&["--source-ip", ip]),
                    Err(ConfigError::SourceIpMismatch { .. })
                ),
                "{ip}"
            );
        }
    }

    #[test]
    fn errors_name_the_problem_and_the_fix() {
        let msg = |r: Result<CareConfig, ConfigError>| r.unwrap_err().to_string();
        let m = msg(care(&["--vs", "10.103.97.2:0", "--rs", "192.168.0.2:6443"]));
        assert!(
            m.contains("--vs") && m.contains("port 0") && m.contains(":6443"),
            "{m}"
        );
        let m = msg(care_with(&["--scheduler", "maglev"]));
        assert!(
            m.contains("maglev") && m.contains("wlc") && m.contains("twos"),
            "{m}"
        );
        let m = msg(care_with(&["--interval", "1", "--health-timeout", "2s"]));
        assert!(
            m.contains("2s") && m.contains("1s") && m.contains("lower the timeout"),
            "{m}"
        );
        let m = msg(care(&["--vs", "10.103.97.2:6443"]));
        assert!(m.contains("--rs IP:PORT"), "{m}");
        let m = msg(care_with(&["--iface", "a-very-long-name0"]));
        assert!(
            m.contains("longer than 15") && m.contains("e.g. lvscare"),
            "{m}"
        );
        let m = msg(care(&["--vs", "fd00::1:6443", "--rs", "192.168.0.2:6443"]));
        assert!(
            m.contains("brackets") && m.contains("[fd00::2]:6443"),
            "{m}"
        );
    }

    #[test]
    fn clap_rejects_unknown_scheme_and_non_numeric_status() {
        assert!(parse(&["care", "--vs", "10.0.0.1:1", "--health-scheme", "ftp"]).is_err());
        assert!(parse(&["care", "--vs", "10.0.0.1:1", "--health-status", "ok"]).is_err());
        assert!(parse(&["care"]).is_err(), "--vs is required");
    }

    #[test]
    fn manifest_args() {
        let cli = parse(&[
            "manifest",
            "--vs",
            "10.103.97.2:6443",
            "--rs",
            "192.168.0.2:6443",
            "--image",
            "example.com/lvscare:v1",
            "--interval",
            "2s",
        ])
        .unwrap();
        let Command::Manifest(m) = cli.command else {
            panic!("not manifest")
        };
        let c = m.validate().unwrap();
        assert_eq!(c.image, "example.com/lvscare:v1");
        assert_eq!(c.care.interval, Duration::from_secs(2));
        assert_eq!(c.care.mode, RunMode::Daemon);

        let cli = parse(&["manifest", "--vs", "10.103.97.2:6443", "--image", "x"]).unwrap();
        let Command::Manifest(m) = cli.command else {
            panic!("not manifest")
        };
        assert_eq!(m.validate(), Err(ConfigError::MissingRealServers));

        let cli = parse(&[
            "manifest",
            "--vs",
            "10.103.97.2:6443",
            "--rs",
            "10.0.0.1:1",
            "--image",
            " ",
        ])
        .unwrap();
        let Command::Manifest(m) = cli.command else {
            panic!("not manifest")
        };
        assert_eq!(m.validate(), Err(ConfigError::EmptyImage));
        // Without --image, this version's image.
        let cli = parse(&["manifest", "--vs", "10.103.97.2:6443", "--rs", "10.0.0.1:1"]).unwrap();
        let Command::Manifest(m) = cli.command else {
            panic!("not manifest")
        };
        assert_eq!(
            m.validate().map(|c| c.image),
            Ok(defaults::IMAGE.to_string())
        );
    }

    #[test]
    fn to_args_round_trips() {
        let configs = [
            care(BASE).unwrap(),
            care_with(&[
                "--run-once",
                "--health-status",
                "401",
                "--ca-file",
                "/ca.pem",
            ])
            .unwrap(),
            care(&["--vs", "10.103.97.2:6443", "-C"]).unwrap(),
            care(&[
                "--vs",
                "[fd00::1]:6443",
                "--rs",
                "[fd00::2]:6443",
                "--rs",
                "[fd00::3]:443",
                "--interval",
                "1.5s",
                "--health-timeout",
                "250ms",
                "--health-scheme",
                "tcp",
                "--source-ip",
                "fd00::9",
                "--drain-timeout",
                "0",
                "--log-format",
                "json",
            ])
            .unwrap(),
        ];
        for c in configs {
            let args = c.to_args();
            let strs: Vec<&str> = args.iter().map(String::as_str).collect();
            let Command::Care(parsed) = parse(&strs).unwrap().command else {
                panic!()
            };
            assert_eq!(parsed.validate().unwrap(), c, "{args:?}");
        }
    }

    #[test]
    fn duration_parser() {
        let ok = [
            ("5", Duration::from_secs(5)),
            ("0", Duration::ZERO),
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("1m", Duration::from_secs(60)),
            ("1h", Duration::from_secs(3600)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5s", Duration::from_millis(1500)),
            (".5s", Duration::from_millis(500)),
            ("2.s", Duration::from_secs(2)),
            ("0.25m", Duration::from_secs(15)),
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("7ns", Duration::from_nanos(7)),
            ("1s500ms", Duration::from_millis(1500)),
            ("0.0000000001s", Duration::ZERO),
        ];
        for (s, d) in ok {
            assert_eq!(parse_duration(s), Ok(d), "{s}");
        }
        let err = [
            ("", DurationError::Empty),
            ("s", DurationError::Malformed("s".into())),
            ("5 s", DurationError::UnknownUnit(" s".into())),
            ("5x", DurationError::UnknownUnit("x".into())),
            ("5S", DurationError::UnknownUnit("S".into())),
            ("1.2.3s", DurationError::Malformed("1.2.3s".into())),
            (".s", DurationError::Malformed(".s".into())),
            ("-1s", DurationError::Malformed("-1s".into())),
            ("1s5", DurationError::Malformed("1s5".into())),
            ("99999999999999999999", DurationError::Overflow),
            ("99999999999999999999h", DurationError::Overflow),
        ];
        for (s, e) in err {
            assert_eq!(parse_duration(s), Err(e), "{s:?}");
        }
    }

    #[test]
    fn duration_formatting_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_millis(1500),
            Duration::from_secs(90),
            Duration::from_secs(7200),
            Duration::from_nanos(1_000_000_001),
            Duration::from_micros(3),
        ] {
            assert_eq!(parse_duration(&fmt_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(fmt_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(fmt_duration(Duration::from_secs(90)), "90s");
        assert_eq!(fmt_duration(Duration::from_secs(120)), "2m");
    }
}
