//! Validation: a pure function from the parsed flags to the typed configuration.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use super::cli::{BalancerArgs, CareArgs, ManifestArgs};
use super::duration::parse_duration;
use super::endpoint::parse_endpoint;
use super::error::ConfigError;
use super::types::{
    CareConfig, HealthConfig, ManifestConfig, RunMode, TlsVerify, KNOWN_SCHEDULERS,
};
use crate::probe::Scheme;

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
        let fastinter = duration_flag("--fastinter", &self.fastinter)?;
        if fastinter.is_zero() {
            return Err(ConfigError::ZeroDuration("--fastinter"));
        }
        if fastinter >= interval {
            return Err(ConfigError::FastinterNotBelowInterval {
                fastinter,
                interval,
            });
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
            // The manifest's arguments and mount are text: a path that is not UTF-8 would come
            // back as another path.
            (Some(ca), _) if ca.to_str().is_none() => {
                return Err(ConfigError::CaFileNotUtf8(ca.clone()))
            }
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

        let metrics_addr = match &self.metrics_addr {
            None => None,
            Some(s) => {
                let addr: SocketAddr = s
                    .parse()
                    .map_err(|_| ConfigError::BadMetricsAddr(s.clone()))?;
                if addr.port() == 0 || addr == vip {
                    return Err(ConfigError::BadMetricsAddr(s.clone()));
                }
                Some(addr)
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
            fastinter,
            drain_timeout,
            iface: self.iface.clone(),
            source_ip,
            log_format: self.log_format,
            metrics_addr,
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

#[cfg(test)]
mod tests {
    use crate::config::testing::{addr, care, care_with, parse};
    use crate::config::*;
    use crate::probe::Scheme;
    use std::time::Duration;

    #[test]
    fn a_ca_file_path_that_is_not_utf8_is_refused() {
        // What the fuzz target cli_argv found: the manifest gave back another path.
        use std::os::unix::ffi::OsStringExt;
        let path = std::ffi::OsString::from_vec(b"/etc/\x9fca.crt".to_vec());
        let mut argv: Vec<std::ffi::OsString> =
            ["lvscare", "care"].iter().map(Into::into).collect();
        argv.extend(crate::config::testing::BASE.iter().map(Into::into));
        argv.push("--ca-file".into());
        argv.push(path);
        let cli = <crate::config::Cli as clap::Parser>::try_parse_from(argv).expect("parses");
        let crate::config::Command::Care(c) = cli.command else {
            panic!("not care")
        };
        let err = c.validate().expect_err("refused");
        assert!(matches!(err, ConfigError::CaFileNotUtf8(_)), "{err}");
        assert!(err.to_string().contains("--ca-file"), "{err}");
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
    fn metrics_addr_is_an_ip_and_a_port() {
        let c = care_with(&["--metrics-addr", "127.0.0.1:9102"]).unwrap();
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9102".parse().unwrap()));
        let c = care_with(&["--metrics-addr", "[::1]:9102"]).unwrap();
        assert_eq!(c.metrics_addr, Some("[::1]:9102".parse().unwrap()));
        for bad in [
            "9102",
            "localhost:9102",
            "127.0.0.1:0",
            "10.103.97.2:6443",
            "",
        ] {
            let e = care_with(&["--metrics-addr", bad]).unwrap_err().to_string();
            assert!(
                e.contains("--metrics-addr") && e.contains("127.0.0.1:9102"),
                "{bad}: {e}"
            );
        }
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
}
