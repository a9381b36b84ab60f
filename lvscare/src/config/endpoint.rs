//! Address flags: parsing `IP:PORT` and `[IPv6]:PORT` with an error that says what is wrong.

use std::net::{IpAddr, SocketAddr};

use super::error::{AddrProblem, ConfigError};

/// Parses `IP:PORT` or `[IPv6]:PORT` into an address, with a precise error.
pub fn parse_endpoint(flag: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::care;

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
}
