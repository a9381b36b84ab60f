//! Host arguments: addresses and `A-B` ranges parsed, duplicates refused, and hosts checked
//! against the VIP and the cluster networks.

use std::net::IpAddr;

use super::error::UsageError;
use crate::kubeadm::Cidr;

/// Largest host range one `A-B` argument may expand to.
const MAX_RANGE: u128 = 1024;

fn ip_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Parses host arguments: addresses and `A-B` ranges.
pub(super) fn parse_hosts(
    flag: &'static str,
    values: &[String],
) -> Result<Vec<IpAddr>, UsageError> {
    let mut out = Vec::new();
    for value in values {
        let v = value.trim();
        if let Ok(ip) = v.parse::<IpAddr>() {
            out.push(ip);
            continue;
        }
        let Some((a, b)) = v.split_once('-') else {
            return Err(UsageError::BadIp {
                flag,
                value: value.clone(),
            });
        };
        let bad = || UsageError::BadIp {
            flag,
            value: value.clone(),
        };
        let a: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let b: IpAddr = b.trim().parse().map_err(|_| bad())?;
        let range_err = |why: &str| UsageError::BadRange {
            flag,
            value: value.clone(),
            why: why.to_string(),
        };
        if a.is_ipv4() != b.is_ipv4() {
            return Err(range_err("the two ends are of different address families"));
        }
        let (lo, hi) = (ip_u128(a), ip_u128(b));
        if lo > hi {
            return Err(range_err(
                "the first address is above the last; write LOW-HIGH",
            ));
        }
        if hi - lo >= MAX_RANGE {
            return Err(range_err(&format!(
                "more than {MAX_RANGE} addresses; split it up"
            )));
        }
        for n in lo..=hi {
            out.push(match a {
                IpAddr::V4(_) => IpAddr::from(std::net::Ipv4Addr::from(n as u32)),
                IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::from(n)),
            });
        }
    }
    Ok(out)
}

/// Refuses an address named twice across `groups` (flag, hosts).
pub(super) fn no_duplicates(groups: &[(&'static str, &[IpAddr])]) -> Result<(), UsageError> {
    let mut seen: Vec<(IpAddr, &'static str)> = Vec::new();
    for (flag, hosts) in groups {
        for ip in *hosts {
            if let Some((_, first)) = seen.iter().find(|(s, _)| s == ip) {
                return Err(UsageError::DuplicateHost {
                    ip: *ip,
                    first,
                    second: flag,
                });
            }
            seen.push((*ip, flag));
        }
    }
    Ok(())
}

/// Refuses hosts the VIP and networks do not fit.
pub(super) fn check_hosts_against(
    hosts: &[IpAddr],
    vip: IpAddr,
    pod: &Cidr,
    svc: &Cidr,
) -> Result<(), UsageError> {
    for &ip in hosts {
        if ip == vip {
            return Err(UsageError::VipIsHost { vip });
        }
        if ip.is_ipv4() != vip.is_ipv4() {
            return Err(UsageError::MixedFamily { ip, vip });
        }
        for (net, cidr, flag) in [("pod", pod, "--pod-cidr"), ("service", svc, "--svc-cidr")] {
            if cidr.contains(ip) {
                return Err(UsageError::InCidr {
                    what: "host",
                    ip,
                    net,
                    cidr: *cidr,
                    flag,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::init_err;
    use crate::cli::UsageError;

    #[test]
    fn host_errors() {
        let e = init_err(&["--node", "192.168.0.256"]);
        assert_eq!(
            e,
            UsageError::BadIp {
                flag: "--node",
                value: "192.168.0.256".into()
            }
        );
        assert!(e.to_string().contains("no port, no /prefix"));
        assert!(matches!(
            init_err(&["--node", "192.168.0.9:22"]),
            UsageError::BadIp { .. }
        ));
        assert!(matches!(
            init_err(&["--node", "192.168.0.0/24"]),
            UsageError::BadIp { .. }
        ));
        let e = init_err(&["--node", "192.168.0.2"]);
        assert_eq!(
            e.to_string(),
            "192.168.0.2 is given twice (--master and --node); name each host once, in one role"
        );
        let e = init_err(&["--node", "192.168.0.4-192.168.0.6"]);
        assert!(
            e.to_string()
                .contains("192.168.0.5 is given twice (--node and --node)"),
            "{e}"
        );
        let e = init_err(&["--node", "192.168.0.9-192.168.0.7"]);
        assert!(e.to_string().contains("write LOW-HIGH"), "{e}");
        let e = init_err(&["--node", "10.0.0.0-10.0.255.255"]);
        assert!(e.to_string().contains("more than 1024"), "{e}");
        let e = init_err(&["--node", "10.0.0.1-fd00::1"]);
        assert!(e.to_string().contains("different address families"), "{e}");
        let e = init_err(&["--node", "fd00::5"]);
        assert!(matches!(e, UsageError::MixedFamily { .. }), "{e}");
        assert!(e.to_string().contains("use IPv4 or IPv6 throughout"));
    }
}
