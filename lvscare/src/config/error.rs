//! The errors of a command line that cannot work, each naming the problem and the fix.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use thiserror::Error;

use super::duration::{fmt_duration, DurationError};
use super::types::{KNOWN_SCHEDULERS, MAX_IFACE_LEN};

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
    /// Fast re-probe delay not below interval.
    #[error(
        "--fastinter {} is not shorter than --interval {}; the quick re-probe after a failure must come before the next regular one",
        fmt_duration(*.fastinter), fmt_duration(*.interval)
    )]
    FastinterNotBelowInterval {
        /// The re-probe delay.
        fastinter: Duration,
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
    /// `--metrics-addr` is not a usable listen address.
    #[error(
        "--metrics-addr {0:?}: give an IP and a non-zero port other than the VIP's, e.g. \
         127.0.0.1:9102 (or [::1]:9102)"
    )]
    BadMetricsAddr(String),
    /// `--image ""`.
    #[error("--image is empty; give the image that holds lvscare, e.g. example.com/lvscare:v1")]
    EmptyImage,
    /// `--ca-file` is not valid UTF-8 (it could not be written into a manifest as it is).
    #[error("--ca-file {0:?} is not valid UTF-8; give the CA file a UTF-8 path")]
    CaFileNotUtf8(std::path::PathBuf),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{care, care_with};
    use crate::config::CareConfig;

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
        let m = msg(care_with(&["--interval", "1s", "--fastinter", "1s"]));
        assert!(
            m.contains("--fastinter 1s") && m.contains("--interval 1s"),
            "{m}"
        );
        let m = msg(care_with(&["--fastinter", "0"]));
        assert!(m.contains("--fastinter"), "{m}");
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
}
