//! Preflight: one read-only probe per host, then pure checks over all hosts together.
//!
//! Nothing here changes a host, with one exception that init.sh would make anyway: when ip_vs
//! is not loaded, loading it is the only honest test that it can be loaded.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Ports a new control plane or kubelet needs free.
pub const PORTS: [u16; 2] = [6443, 10250];
/// Largest clock difference from this machine accepted (certificates and tokens are time-bound).
pub const MAX_SKEW_SECS: i64 = 30;
/// Commands the installer relies on on every host.
pub const TOOLS: [&str; 6] = ["tar", "sha256sum", "mktemp", "bash", "readlink", "timeout"];

/// The probe, run as root on each host; prints `key=value` lines.
pub fn probe_script() -> String {
    format!(
        "echo \"hostname=$(hostname)\"\n\
         echo \"uid=$(id -u)\"\n\
         echo \"now=$(date +%s)\"\n\
         echo \"swap=$(awk 'NR>1' /proc/swaps 2>/dev/null | wc -l)\"\n\
         echo \"listen=$(awk 'NR>1 && $4==\"0A\" {{n=split($2,a,\":\"); print a[n]}}' /proc/net/tcp /proc/net/tcp6 2>/dev/null | tr '\\n' ' ')\"\n\
         echo \"addrs=$(ip -o addr show 2>/dev/null | awk '$2!=\"lvscare\" {{sub(/\\/.*/,\"\",$4); print $4}}' | tr '\\n' ' ')\"\n\
         if [ -f /etc/kubernetes/admin.conf ] || [ -f /etc/kubernetes/kubelet.conf ]; then echo installed=1; else echo installed=0; fi\n\
         if grep -q '^ip_vs ' /proc/modules 2>/dev/null || [ -e /proc/net/ip_vs ]; then echo ipvs=loaded;\n\
         elif modprobe ip_vs >/dev/null 2>&1; then echo ipvs=loaded;\n\
         else echo ipvs=missing; fi\n\
         for t in {tools}; do command -v \"$t\" >/dev/null 2>&1 || echo \"missing=$t\"; done\n",
        tools = TOOLS.join(" ")
    )
}

/// What the probe found on one host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    /// `hostname` output.
    pub hostname: String,
    /// Effective uid of commands.
    pub uid: Option<u32>,
    /// The host's clock, Unix seconds.
    pub now: Option<i64>,
    /// Active swap areas.
    pub swap_areas: u32,
    /// TCP ports in LISTEN state.
    pub listening: Vec<u16>,
    /// The host's addresses (lvscare's dummy link excluded).
    pub addrs: Vec<IpAddr>,
    /// kubeadm already ran here (a re-run resumes it).
    pub installed: bool,
    /// Whether ip_vs is (or could be) loaded.
    pub ipvs: bool,
    /// Required commands that are absent.
    pub missing_tools: Vec<String>,
    /// This machine's clock, Unix seconds, when the probe was sent (set by the caller).
    pub local_now: i64,
}

/// Parses the probe's output.
pub fn parse(out: &str) -> Facts {
    let mut f = Facts::default();
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k {
            "hostname" => f.hostname = v.to_string(),
            "uid" => f.uid = v.parse().ok(),
            "now" => f.now = v.parse().ok(),
            "swap" => f.swap_areas = v.parse().unwrap_or(0),
            "listen" => {
                f.listening = v
                    .split_whitespace()
                    .filter_map(|h| u16::from_str_radix(h, 16).ok())
                    .collect()
            }
            "addrs" => {
                f.addrs = v
                    .split_whitespace()
                    .filter_map(|a| a.parse().ok())
                    .collect()
            }
            "installed" => f.installed = v == "1",
            "ipvs" => f.ipvs = v == "loaded",
            "missing" => f.missing_tools.push(v.to_string()),
            _ => {}
        }
    }
    f
}

/// How one host fared.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostReport {
    /// Its hostname, when known.
    pub hostname: Option<String>,
    /// What stops the run.
    pub problems: Vec<String>,
    /// What the operator should know but does not stop the run.
    pub warnings: Vec<String>,
}

/// Per-host results in the order the hosts were given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Each host with its findings.
    pub hosts: Vec<(IpAddr, HostReport)>,
}

impl Report {
    /// Whether any host has a problem.
    pub fn failed(&self) -> bool {
        self.hosts.iter().any(|(_, r)| !r.problems.is_empty())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (ip, r) in &self.hosts {
            let name = r
                .hostname
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            if r.problems.is_empty() {
                writeln!(f, "  {ip}{name}: ok")?;
            } else {
                writeln!(f, "  {ip}{name}: FAILED")?;
            }
            for p in &r.problems {
                writeln!(f, "      - {p}")?;
            }
            for w in &r.warnings {
                writeln!(f, "      ! {w}")?;
            }
        }
        Ok(())
    }
}

/// What the checks need besides the facts.
#[derive(Debug, Clone)]
pub struct Context {
    /// The VIP (must be no host's address).
    pub vip: IpAddr,
}

/// Checks every host; `probes` holds, per host, the facts or why they could not be had.
pub fn evaluate(probes: &[(IpAddr, Result<Facts, String>)], ctx: &Context) -> Report {
    // Hostnames are node names: compare them case-insensitively across all hosts.
    let mut by_name: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for (ip, p) in probes {
        if let Ok(f) = p {
            by_name
                .entry(f.hostname.to_ascii_lowercase())
                .or_default()
                .push(*ip);
        }
    }
    let hosts = probes
        .iter()
        .map(|(ip, p)| {
            let mut r = HostReport::default();
            let f = match p {
                Err(why) => {
                    r.problems.push(why.clone());
                    return (*ip, r);
                }
                Ok(f) => f,
            };
            r.hostname = Some(f.hostname.clone());
            check_host(*ip, f, ctx, &by_name, &mut r);
            (*ip, r)
        })
        .collect();
    Report { hosts }
}

fn check_host(
    ip: IpAddr,
    f: &Facts,
    ctx: &Context,
    by_name: &BTreeMap<String, Vec<IpAddr>>,
    r: &mut HostReport,
) {
    let problems = &mut r.problems;
    if f.uid != Some(0) {
        problems.push(format!(
            "commands do not run as root (uid {}); log in as root or give a user with sudo rights",
            f.uid
                .map(|u| u.to_string())
                .unwrap_or_else(|| "unknown".into())
        ));
    }
    if f.hostname.is_empty() || f.hostname == "localhost" {
        problems.push(format!(
            "hostname {:?} cannot name a Kubernetes node; set a unique one (hostnamectl set-hostname NAME)",
            f.hostname
        ));
    } else if f.hostname != f.hostname.to_ascii_lowercase() {
        problems.push(format!(
            "hostname {} has upper-case letters, which Kubernetes node names cannot; set it in lower case (hostnamectl set-hostname {})",
            f.hostname,
            f.hostname.to_ascii_lowercase()
        ));
    }
    if let Some(others) = by_name.get(&f.hostname.to_ascii_lowercase()) {
        let others: Vec<String> = others
            .iter()
            .filter(|o| **o != ip)
            .map(|o| o.to_string())
            .collect();
        if !others.is_empty() && !f.hostname.is_empty() {
            problems.push(format!(
                "hostname {} is also the hostname of {}; nodes register by hostname, so give each host its own",
                f.hostname,
                others.join(", ")
            ));
        }
    }
    if !f.installed {
        for port in PORTS {
            if f.listening.contains(&port) {
                problems.push(format!(
                    "port {port} is already in use; stop what listens there (`ss -ltnp sport = :{port}`) or clean the host (seal-install clean)"
                ));
            }
        }
    }
    match f.now {
        Some(t) if (t - f.local_now).abs() > MAX_SKEW_SECS => problems.push(format!(
            "clock is {}s off this machine's (more than {MAX_SKEW_SECS}s): certificates and tokens would not be valid; sync it (chrony/timesyncd)",
            t - f.local_now
        )),
        Some(_) => {}
        None => problems.push("could not read the clock (`date +%s`)".into()),
    }
    if !f.ipvs {
        problems.push(
            "the ip_vs kernel module cannot be loaded; install the kernel's modules package (e.g. linux-modules-extra) or use a kernel with IPVS".into(),
        );
    }
    if f.addrs.contains(&ctx.vip) {
        problems.push(format!(
            "holds the VIP {} as one of its own addresses; choose a --vip no host uses",
            ctx.vip
        ));
    }
    if !f.missing_tools.is_empty() {
        problems.push(format!(
            "missing commands: {}; install them (coreutils, tar, bash)",
            f.missing_tools.join(", ")
        ));
    }
    if f.swap_areas > 0 {
        r.warnings.push(
            "swap is on: init.sh turns it off for kubelet; remove it from /etc/fstab so it stays off after a reboot".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn good(name: &str) -> Facts {
        Facts {
            hostname: name.into(),
            uid: Some(0),
            now: Some(1_000),
            swap_areas: 0,
            listening: vec![22],
            addrs: vec![ip("127.0.0.1")],
            installed: false,
            ipvs: true,
            missing_tools: vec![],
            local_now: 1_010,
        }
    }

    fn ctx() -> Context {
        Context {
            vip: ip("10.103.97.2"),
        }
    }

    #[test]
    fn parses_the_probe_output() {
        let out = "hostname=m1\nuid=0\nnow=1700000000\nswap=1\nlisten=0016 192B \naddrs=127.0.0.1 10.77.0.11 fe80::1 \ninstalled=0\nipvs=loaded\nmissing=tar\n";
        let f = parse(out);
        assert_eq!(f.hostname, "m1");
        assert_eq!(f.uid, Some(0));
        assert_eq!(f.now, Some(1_700_000_000));
        assert_eq!(f.swap_areas, 1);
        assert_eq!(f.listening, vec![22, 6443]);
        assert_eq!(
            f.addrs,
            vec![ip("127.0.0.1"), ip("10.77.0.11"), ip("fe80::1")]
        );
        assert!(f.ipvs && !f.installed);
        assert_eq!(f.missing_tools, vec!["tar"]);
    }

    #[test]
    fn all_good_passes() {
        let r = evaluate(
            &[
                (ip("10.0.0.1"), Ok(good("m1"))),
                (ip("10.0.0.2"), Ok(good("n1"))),
            ],
            &ctx(),
        );
        assert!(!r.failed(), "{r}");
        assert_eq!(r.to_string(), "  10.0.0.1 (m1): ok\n  10.0.0.2 (n1): ok\n");
    }

    #[test]
    fn each_problem_is_reported_on_its_host() {
        let mut dup = good("Node");
        dup.ipvs = false;
        let mut busy = good("m1");
        busy.listening = vec![6443, 10250];
        busy.now = Some(2_000);
        busy.uid = Some(1000);
        let mut vip = good("m2");
        vip.addrs.push(ip("10.103.97.2"));
        vip.swap_areas = 2;
        let r = evaluate(
            &[
                (ip("10.0.0.1"), Ok(busy)),
                (ip("10.0.0.2"), Ok(vip)),
                (ip("10.0.0.3"), Ok(dup)),
                (ip("10.0.0.4"), Ok(good("node"))),
                (ip("10.0.0.5"), Err("10.0.0.5: cannot connect".into())),
            ],
            &ctx(),
        );
        assert!(r.failed());
        let text = r.to_string();
        let of = |i: usize| r.hosts[i].1.problems.join("\n");
        assert!(
            of(0).contains("port 6443") && of(0).contains("port 10250"),
            "{text}"
        );
        assert!(of(0).contains("clock is 990s off"), "{text}");
        assert!(of(0).contains("uid 1000"), "{text}");
        assert!(of(1).contains("holds the VIP"), "{text}");
        assert!(r.hosts[1].1.warnings[0].contains("swap"), "{text}");
        assert!(
            of(2).contains("upper-case") && of(2).contains("also the hostname of 10.0.0.4"),
            "{text}"
        );
        assert!(of(2).contains("ip_vs"), "{text}");
        assert!(of(3).contains("also the hostname of 10.0.0.3"), "{text}");
        assert_eq!(of(4), "10.0.0.5: cannot connect");
        assert!(text.contains("10.0.0.5: FAILED"), "{text}");
    }

    #[test]
    fn a_host_already_set_up_may_have_its_ports_in_use() {
        let mut m = good("m1");
        m.listening = vec![6443, 10250];
        m.installed = true;
        assert!(!evaluate(&[(ip("10.0.0.1"), Ok(m))], &ctx()).failed());
    }

    #[test]
    fn the_probe_script_is_valid_shell_and_reads_this_machine() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(probe_script())
            .output()
            .expect("sh");
        let f = parse(&String::from_utf8_lossy(&out.stdout));
        assert!(!f.hostname.is_empty(), "{out:?}");
        assert!(f.uid.is_some() && f.now.is_some(), "{out:?}");
        assert!(f.addrs.iter().any(|a| a.is_loopback()), "{out:?}");
    }
}
