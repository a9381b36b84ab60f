//! The `lvscare care ...` command line that reproduces a configuration, for the manifest.

use crate::config::{fmt_duration, CareConfig, LogFormat, RunMode, TlsVerify};
use crate::probe::Scheme;

impl CareConfig {
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
        flag("fastinter", fmt_duration(self.fastinter));
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
        if let Some(addr) = self.metrics_addr {
            flag("metrics-addr", addr.to_string());
        }
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
    use crate::config::testing::{care, care_with, parse, BASE};
    use crate::config::Command;

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
                "--metrics-addr",
                "[::1]:9102",
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
}
