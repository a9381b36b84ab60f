//! Validation: pure functions from the parsed arguments (and the cluster file) to the checked
//! settings of each subcommand, or the [`UsageError`] that stops the run.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::addresses::{check_hosts_against, no_duplicates, parse_hosts};
use super::args::{
    AuthArgs, BackupArgs, CleanArgs, ClusterLogin, CommonArgs, ConfigArgs, InitArgs, JoinArgs,
    UpgradeArgs,
};
use super::error::UsageError;
use super::settings::{
    AuthPlan, Environment, PackageSource, RunSettings, SshSettings, ValidBackup, ValidClean,
    ValidInit, ValidJoin, ValidUpgrade,
};
use crate::cluster::{self, Cluster};
use crate::hosts::valid_name;
use crate::kubeadm::{Cidr, KubeVersion, KubeadmApi, Topology, DEFAULT_VIP};
use crate::ssh::JumpHost;

/// The cluster file path: `--cluster-file`, else `~/.seal/cluster.yaml`.
pub fn cluster_file_path(common: &CommonArgs, env: &Environment) -> Result<PathBuf, UsageError> {
    match &common.cluster_file {
        Some(p) => Ok(p.clone()),
        None => cluster::default_path(env.home.as_deref().map(|h| h.as_os_str()))
            .ok_or(UsageError::NoHome),
    }
}

fn parse_version(v: &str) -> Result<(KubeVersion, KubeadmApi), UsageError> {
    let version: KubeVersion = v
        .parse()
        .map_err(|e: crate::kubeadm::KubeadmError| UsageError::BadVersion(e.to_string()))?;
    let api =
        KubeadmApi::for_version(&version).map_err(|e| UsageError::BadVersion(e.to_string()))?;
    Ok((version, api))
}

fn parse_cidr(flag: &'static str, v: &str) -> Result<Cidr, UsageError> {
    v.trim()
        .parse()
        .map_err(|e: crate::kubeadm::KubeadmError| UsageError::BadCidr {
            flag,
            why: e.to_string(),
        })
}

fn auth_plan(
    auth: &AuthArgs,
    fallback_key: Option<&Path>,
    env: &Environment,
) -> Result<AuthPlan, UsageError> {
    let key = match &auth.pk {
        Some(p) if !(env.is_file)(p) => return Err(UsageError::MissingKey { path: p.clone() }),
        Some(p) => Some(p.clone()),
        None => match fallback_key {
            Some(p) if (env.is_file)(p) => Some(p.to_path_buf()),
            _ => env.home.as_ref().and_then(|h| {
                ["id_ed25519", "id_ecdsa", "id_rsa"]
                    .iter()
                    .map(|n| h.join(".ssh").join(n))
                    .find(|p| (env.is_file)(p))
            }),
        },
    };
    let prompt = auth.passwd.is_none() && key.is_none() && !env.ssh_agent;
    Ok(AuthPlan {
        key: key.map(|k| (k, auth.pk_passwd.clone())),
        agent: env.ssh_agent,
        password: auth.passwd.clone(),
        prompt_for_password: prompt,
    })
}

fn run_settings(
    user: &str,
    port: u16,
    auth: &AuthArgs,
    fallback_key: Option<&Path>,
    fallback_bastion: Option<&str>,
    common: &CommonArgs,
    env: &Environment,
) -> Result<RunSettings, UsageError> {
    if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UsageError::BadUser {
            value: user.to_string(),
        });
    }
    if port == 0 {
        return Err(UsageError::BadPort);
    }
    if common.parallel == 0 {
        return Err(UsageError::BadParallel);
    }
    if common.connect_timeout == 0 {
        return Err(UsageError::BadConnectTimeout);
    }
    let cluster_file = cluster_file_path(common, env)?;
    let known_hosts = match &auth.known_hosts {
        Some(p) => p.clone(),
        None => env
            .home
            .as_ref()
            .map(|h| h.join(".seal").join("known_hosts"))
            .ok_or(UsageError::NoHome)?,
    };
    let bastion = match auth.bastion.as_deref().or(fallback_bastion) {
        None | Some("none") => None,
        Some(spec) => Some(JumpHost::parse(spec).map_err(|why| UsageError::BadBastion {
            value: spec.to_string(),
            why,
        })?),
    };
    Ok(RunSettings {
        ssh: SshSettings {
            user: user.to_string(),
            port,
            auth: auth_plan(auth, fallback_key, env)?,
            known_hosts,
            bastion,
        },
        dry_run: common.dry_run,
        parallel: common.parallel,
        cluster_file,
        connect_timeout: std::time::Duration::from_secs(common.connect_timeout),
    })
}

/// `--pkg-url` and `--pkg-sha256`: a file that exists, or an http(s) URL with its sum.
fn package_source(
    url: &str,
    sha256: Option<&str>,
    env: &Environment,
) -> Result<(PackageSource, Option<String>), UsageError> {
    let url = url.trim();
    let package = if url.starts_with("http://") || url.starts_with("https://") {
        PackageSource::Url(url.to_string())
    } else if url.contains("://") {
        return Err(UsageError::BadUrlScheme {
            url: url.to_string(),
        });
    } else {
        PackageSource::File(PathBuf::from(url))
    };
    let package_sha256 = match sha256 {
        Some(s) if !is_sha256(s.trim()) => {
            return Err(UsageError::BadSha256 {
                value: s.to_string(),
            })
        }
        Some(s) => Some(s.trim().to_ascii_lowercase()),
        None => None,
    };
    match &package {
        PackageSource::File(p) if !(env.is_file)(p) => {
            return Err(UsageError::MissingPackage { path: p.clone() })
        }
        PackageSource::Url(u) if package_sha256.is_none() => {
            return Err(UsageError::UrlNeedsSha256 { url: u.clone() })
        }
        _ => {}
    }
    Ok((package, package_sha256))
}

/// Checks `upgrade` against the cluster file: the version (the skew rules from the cluster's),
/// the package, the batch size, the login.
pub fn validate_upgrade(
    args: &UpgradeArgs,
    cluster: &Cluster,
    env: &Environment,
) -> Result<ValidUpgrade, UsageError> {
    let (version, _) = parse_version(&args.version)?;
    crate::upgrade::check_skew(&cluster.version, &version).map_err(UsageError::Skew)?;
    let (package, package_sha256) = package_source(&args.pkg_url, args.pkg_sha256.as_deref(), env)?;
    if args.node_batch == 0 {
        return Err(UsageError::BadNodeBatch);
    }
    Ok(ValidUpgrade {
        version,
        package,
        package_sha256,
        node_batch: args.node_batch,
        run: login_settings(&args.login, Some(cluster), env)?,
    })
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn valid_san(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok() || valid_name(s) || s.strip_prefix("*.").is_some_and(valid_name)
}

/// Checks `init`.
pub fn validate_init(args: &InitArgs, env: &Environment) -> Result<ValidInit, UsageError> {
    let masters = parse_hosts("--master", &args.masters)?;
    let nodes = parse_hosts("--node", &args.nodes)?;
    if masters.is_empty() {
        return Err(UsageError::NoMasters);
    }
    no_duplicates(&[("--master", &masters), ("--node", &nodes)])?;
    let vip: IpAddr = args.vip.trim().parse().map_err(|_| UsageError::BadVip {
        value: args.vip.clone(),
    })?;
    if vip.is_unspecified() || vip.is_loopback() || vip.is_multicast() {
        return Err(UsageError::BadVip {
            value: args.vip.clone(),
        });
    }
    let pod_cidr = parse_cidr("--pod-cidr", &args.pod_cidr)?;
    let svc_cidr = parse_cidr("--svc-cidr", &args.svc_cidr)?;
    if pod_cidr.overlaps(&svc_cidr) {
        return Err(UsageError::CidrOverlap {
            pod: pod_cidr,
            svc: svc_cidr,
        });
    }
    if pod_cidr.contains(vip) {
        return Err(UsageError::InCidr {
            what: "--vip",
            ip: vip,
            net: "pod",
            cidr: pod_cidr,
            flag: "--pod-cidr",
        });
    }
    let mut warnings = Vec::new();
    // Only a warning: the long-standing defaults (VIP 10.103.97.2, services 10.96.0.0/12) overlap.
    if svc_cidr.contains(vip) {
        warnings.push(format!(
            "--vip {vip} lies inside the service network {svc_cidr}: a Service given that \
             ClusterIP would collide with lvscare's virtual server; choose a VIP outside it, \
             or keep the address from being allocated (a Service with clusterIP: {vip})"
        ));
    }
    let all: Vec<IpAddr> = masters.iter().chain(&nodes).copied().collect();
    check_hosts_against(&all, vip, &pod_cidr, &svc_cidr)?;
    let (version, api) = parse_version(&args.version)?;
    let (package, package_sha256) = package_source(&args.pkg_url, args.pkg_sha256.as_deref(), env)?;
    if let Some(t) = &args.kubeadm_config {
        if !(env.is_file)(t) {
            return Err(UsageError::MissingTemplate { path: t.clone() });
        }
    }
    let name = args.apiserver_name.trim();
    if !valid_name(name)
        || name.parse::<IpAddr>().is_ok()
        || !name.bytes().any(|b| b.is_ascii_alphabetic())
    {
        return Err(UsageError::BadApiserverName {
            value: args.apiserver_name.clone(),
        });
    }
    let mut cert_sans = Vec::new();
    for s in args
        .cert_sans
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        if !valid_san(s) {
            return Err(UsageError::BadCertSan {
                value: s.to_string(),
            });
        }
        if !cert_sans.iter().any(|c| c == s) {
            cert_sans.push(s.to_string());
        }
    }
    let lvscare_mode = cluster::parse_lvscare_mode(&args.lvscare_mode).map_err(|_| {
        UsageError::BadLvscareMode {
            value: args.lvscare_mode.clone(),
        }
    })?;
    if args.lvscare_image.trim().is_empty() {
        return Err(UsageError::BadImage);
    }
    let lvscare_metrics_addr = args
        .lvscare_metrics_addr
        .as_deref()
        .map(|a| {
            a.trim()
                .parse::<std::net::SocketAddr>()
                .ok()
                .filter(|s| s.port() != 0)
                .ok_or_else(|| UsageError::BadMetricsAddr {
                    value: a.to_string(),
                })
        })
        .transpose()?;
    let run = run_settings(
        &args.user,
        args.port,
        &args.auth,
        None,
        None,
        &args.common,
        env,
    )?;
    Ok(ValidInit {
        topology: Topology {
            version,
            masters,
            nodes,
            vip,
            apiserver_name: name.to_string(),
            pod_cidr,
            svc_cidr,
            cert_sans,
        },
        api,
        package,
        package_sha256,
        kubeadm_template: args.kubeadm_config.clone(),
        lvscare_mode,
        lvscare_image: args.lvscare_image.trim().to_string(),
        lvscare_metrics_addr,
        run,
        warnings,
    })
}

/// Checks `join` against the cluster file's content.
pub fn validate_join(
    args: &JoinArgs,
    cluster: &Cluster,
    env: &Environment,
    now: SystemTime,
) -> Result<ValidJoin, UsageError> {
    let masters = parse_hosts("--master", &args.masters)?;
    let nodes = parse_hosts("--node", &args.nodes)?;
    if masters.is_empty() && nodes.is_empty() {
        return Err(UsageError::NothingToJoin);
    }
    no_duplicates(&[("--master", &masters), ("--node", &nodes)])?;
    let new: Vec<IpAddr> = masters.iter().chain(&nodes).copied().collect();
    let mut merged = cluster.clone();
    merged.add_hosts(&masters, &nodes, now)?;
    check_hosts_against(&new, cluster.vip, &cluster.pod_cidr, &cluster.svc_cidr)?;
    let run = login_settings(&args.login, Some(cluster), env)?;
    Ok(ValidJoin {
        masters,
        nodes,
        cluster: merged,
        run,
    })
}

/// Checks `clean`; `cluster` is the cluster file's content, if there is one.
pub fn validate_clean(
    args: &CleanArgs,
    cluster: Option<&Cluster>,
    env: &Environment,
    now: SystemTime,
) -> Result<ValidClean, UsageError> {
    let masters = parse_hosts("--master", &args.masters)?;
    let nodes = parse_hosts("--node", &args.nodes)?;
    no_duplicates(&[("--master", &masters), ("--node", &nodes)])?;
    if !args.all && masters.is_empty() && nodes.is_empty() {
        return Err(UsageError::NothingToClean);
    }
    let (hosts, clean_nodes, vip, remaining) = match cluster {
        None if args.all => {
            return Err(UsageError::AllWithoutCluster {
                path: cluster_file_path(&args.login.common, env)?,
            })
        }
        // No cluster file (say, an init that failed early): clean what is named, default VIP.
        None => {
            let hosts = masters.iter().chain(&nodes).copied().collect();
            let vip = DEFAULT_VIP.parse().map_err(|_| UsageError::BadVip {
                value: DEFAULT_VIP.into(),
            })?;
            (hosts, nodes.clone(), vip, None)
        }
        Some(c) if args.all => (c.hosts(), c.nodes.clone(), c.vip, None),
        Some(c) => {
            let mut rest = c.clone();
            rest.remove_hosts(&masters, &nodes, now)?;
            let hosts = masters.iter().chain(&nodes).copied().collect();
            let remaining = if rest.is_empty() { None } else { Some(rest) };
            (hosts, nodes.clone(), c.vip, remaining)
        }
    };
    let run = login_settings(&args.login, cluster, env)?;
    Ok(ValidClean {
        hosts,
        nodes: clean_nodes,
        vip,
        remaining,
        run,
    })
}

/// The template `config` prints.
pub fn config_template(args: &ConfigArgs) -> Result<&'static str, UsageError> {
    let api = match &args.version {
        Some(v) => parse_version(v)?.1,
        None => KubeadmApi::V1beta4,
    };
    Ok(api.default_init_template())
}

/// The run settings of a command on an existing cluster: the cluster file's login unless
/// overridden.
pub fn login_settings(
    login: &ClusterLogin,
    cluster: Option<&Cluster>,
    env: &Environment,
) -> Result<RunSettings, UsageError> {
    let user = login
        .user
        .clone()
        .or_else(|| cluster.map(|c| c.user.clone()))
        .unwrap_or_else(|| "root".into());
    run_settings(
        &user,
        login.port.or(cluster.map(|c| c.ssh_port)).unwrap_or(22),
        &login.auth,
        cluster.and_then(|c| c.key_path.as_deref()),
        cluster.and_then(|c| c.bastion.as_deref()),
        &login.common,
        env,
    )
}

/// Checks `backup` against the cluster file; `now` names the default output file.
pub fn validate_backup(
    args: &BackupArgs,
    cluster: &Cluster,
    env: &Environment,
    now: SystemTime,
) -> Result<ValidBackup, UsageError> {
    let masters = match &args.master {
        None => cluster.masters.clone(),
        Some(m) => {
            let ip = parse_hosts("--master", std::slice::from_ref(m))?;
            match ip.as_slice() {
                [one] if cluster.masters.contains(one) => vec![*one],
                _ => {
                    return Err(UsageError::NotAMaster {
                        ip: ip.first().copied().unwrap_or(cluster.masters[0]),
                        masters: cluster
                            .masters
                            .iter()
                            .map(|m| m.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
        }
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::backup::default_file_name(&cluster::rfc3339(now))));
    if (env.is_file)(&out) {
        return Err(UsageError::OutExists { path: out });
    }
    let run = login_settings(&args.login, Some(cluster), env)?;
    Ok(ValidBackup { masters, out, run })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::path::{Path, PathBuf};
    use std::time::SystemTime;

    use clap::Parser;

    use super::*;
    use crate::cli::testing::{
        backup, clean, cluster, env, env_with, init, init_err, join, key_of, parse, refused,
        upgrade,
    };
    use crate::cli::{Cli, Command, PackageSource, Secret, UsageError, DEFAULT_LVSCARE_IMAGE};
    use crate::kubeadm::KubeadmApi;
    use crate::plan::LvscareMode;

    #[test]
    fn defaults() {
        let v = validate_init(&init(&[]), &env()).expect("valid");
        assert_eq!(v.masters.len(), 2);
        assert_eq!(v.vip, "10.103.97.2".parse::<IpAddr>().expect("ip"));
        assert_eq!(v.pod_cidr.to_string(), "100.64.0.0/10");
        assert_eq!(v.svc_cidr.to_string(), "10.96.0.0/12");
        assert_eq!(v.apiserver_name, "apiserver.cluster.local");
        assert_eq!(v.api, KubeadmApi::V1beta2);
        assert_eq!(v.lvscare_mode, LvscareMode::StaticPod);
        assert_eq!(v.lvscare_image, DEFAULT_LVSCARE_IMAGE);
        assert_eq!(v.run.ssh.user, "root");
        assert_eq!(v.run.ssh.port, 22);
        assert_eq!(v.run.parallel, 8);
        assert!(!v.run.dry_run);
        assert_eq!(
            v.run.cluster_file,
            PathBuf::from("/home/op/.seal/cluster.yaml")
        );
        assert_eq!(
            v.run.ssh.known_hosts,
            PathBuf::from("/home/op/.seal/known_hosts")
        );
        assert_eq!(
            v.package,
            PackageSource::File("/root/kube1.20.2.tar.gz".into())
        );
        assert!(
            v.run.ssh.auth.prompt_for_password,
            "no password, key or agent: prompt"
        );
    }

    #[test]
    fn every_option_is_taken() {
        let a = init(&[
            "--user",
            "admin",
            "--passwd",
            "p",
            "--pk",
            "/keys/id",
            "--pk-passwd",
            "kp",
            "--port",
            "2222",
            "--pkg-sha256",
            &"AB".repeat(32),
            "--vip",
            "10.200.0.1",
            "--kubeadm-config",
            "/t/kubeadm.tmpl",
            "--lvscare-mode",
            "systemd",
            "--lvscare-image",
            "reg/lvscare:v9",
            "--pod-cidr",
            "172.16.0.0/16",
            "--svc-cidr",
            "172.17.0.0/16",
            "--apiserver-name",
            "api.example.com",
            "--cert-sans",
            "a.example.com,10.0.0.9",
            "--cert-sans",
            "*.example.org",
            "--dry-run",
            "--parallel",
            "3",
            "--cluster-file",
            "/c.yaml",
            "--known-hosts",
            "/kh",
            "--node",
            "192.168.0.6-192.168.0.8",
        ]);
        let v = validate_init(&a, &env()).expect("valid");
        assert_eq!(v.nodes.len(), 4);
        assert_eq!(v.package_sha256, Some("ab".repeat(32)));
        assert_eq!(v.lvscare_mode, LvscareMode::Systemd);
        assert_eq!(v.cert_sans, ["a.example.com", "10.0.0.9", "*.example.org"]);
        assert_eq!(
            key_of(&v.run.ssh.auth),
            Some((PathBuf::from("/keys/id"), Some("kp".to_string())))
        );
        assert_eq!(
            v.run.ssh.auth.password.as_ref().map(Secret::expose),
            Some("p")
        );
        assert!(!v.run.ssh.auth.prompt_for_password);
        assert_eq!((v.run.ssh.user.as_str(), v.run.ssh.port), ("admin", 2222));
        assert_eq!(v.run.cluster_file, PathBuf::from("/c.yaml"));
        assert_eq!(v.run.ssh.known_hosts, PathBuf::from("/kh"));
        assert!(v.run.dry_run && v.run.parallel == 3);
        assert_eq!(v.kubeadm_template, Some(PathBuf::from("/t/kubeadm.tmpl")));
    }

    #[test]
    fn vip_errors() {
        let e = init_err(&["--vip", "192.168.0.3"]);
        assert_eq!(
            e,
            UsageError::VipIsHost {
                vip: "192.168.0.3".parse().expect("ip")
            }
        );
        assert!(e.to_string().contains("an address no host uses"));
        // Inside the service network: allowed (the defaults overlap), with a warning.
        let v = validate_init(&init(&[]), &env()).expect("defaults");
        assert_eq!(v.warnings.len(), 1);
        assert!(v.warnings[0]
            .starts_with("--vip 10.103.97.2 lies inside the service network 10.96.0.0/12"));
        let v = validate_init(&init(&["--vip", "10.200.0.1"]), &env()).expect("outside");
        assert!(v.warnings.is_empty());
        let e = init_err(&["--vip", "100.64.1.1"]);
        assert!(e.to_string().contains("pod network 100.64.0.0/10"), "{e}");
        for bad in ["nope", "127.0.0.1", "0.0.0.0", "224.0.0.1"] {
            assert!(
                matches!(init_err(&["--vip", bad]), UsageError::BadVip { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn network_errors() {
        let e = init_err(&["--pod-cidr", "10.0.0.0/33"]);
        assert!(
            e.to_string()
                .starts_with("--pod-cidr: bad CIDR `10.0.0.0/33`"),
            "{e}"
        );
        let e = init_err(&["--svc-cidr", "10.96.0.1/12"]);
        assert!(e.to_string().contains("the network is 10.96.0.0/12"), "{e}");
        let e = init_err(&["--pod-cidr", "10.0.0.0/8"]);
        assert!(matches!(e, UsageError::CidrOverlap { .. }), "{e}");
        let e = init_err(&["--pod-cidr", "192.168.0.0/16"]);
        assert!(
            e.to_string()
                .contains("host 192.168.0.2 lies inside the pod network"),
            "{e}"
        );
    }

    #[test]
    fn version_package_and_file_errors() {
        let e = init_err(&["--version", "1.20"]);
        assert!(e.to_string().contains("vMAJOR.MINOR.PATCH"), "{e}");
        let e = init_err(&["--version", "v1.14.3"]);
        assert!(e.to_string().contains("needs v1.15.0 or later"), "{e}");
        let e = init_err(&["--pkg-sha256", "xyz"]);
        assert!(
            matches!(e, UsageError::BadSha256 { .. }) && e.to_string().contains("sha256sum"),
            "{e}"
        );
        let e = init_err(&["--pkg-sha256", &"a".repeat(63)]);
        assert!(matches!(e, UsageError::BadSha256 { .. }));
        let a = init(&["--pkg-url", "/root/missing.tar.gz"]);
        let e = validate_init(&a, &env()).expect_err("missing");
        assert!(
            e.to_string()
                .starts_with("--pkg-url /root/missing.tar.gz: no such file"),
            "{e}"
        );
        let a = init(&["--pkg-url", "https://example.com/kube.tgz"]);
        let e = validate_init(&a, &env()).expect_err("url without sha");
        assert!(matches!(e, UsageError::UrlNeedsSha256 { .. }), "{e}");
        let a = init(&[
            "--pkg-url",
            "https://example.com/kube.tgz",
            "--pkg-sha256",
            &"0".repeat(64),
        ]);
        assert_eq!(
            validate_init(&a, &env()).expect("url").package,
            PackageSource::Url("https://example.com/kube.tgz".into())
        );
        let a = init(&["--pkg-url", "ftp://example.com/kube.tgz"]);
        assert!(matches!(
            validate_init(&a, &env()),
            Err(UsageError::BadUrlScheme { .. })
        ));
        let e = init_err(&["--pk", "/keys/missing"]);
        assert!(
            e.to_string()
                .starts_with("--pk /keys/missing: no such file"),
            "{e}"
        );
        let e = init_err(&["--kubeadm-config", "/t/missing"]);
        assert!(
            e.to_string().contains("seal-install config -t kubeadm"),
            "{e}"
        );
    }

    #[test]
    fn name_and_misc_errors() {
        for bad in ["10.0.0.1", "bad name", "-x", "123"] {
            let arg = format!("--apiserver-name={bad}");
            assert!(
                matches!(init_err(&[&arg]), UsageError::BadApiserverName { .. }),
                "{bad}"
            );
        }
        assert!(matches!(
            init_err(&["--cert-sans", "a b"]),
            UsageError::BadCertSan { .. }
        ));
        assert_eq!(init_err(&["--parallel", "0"]), UsageError::BadParallel);
        assert_eq!(init_err(&["--port", "0"]), UsageError::BadPort);
        assert!(matches!(
            init_err(&["--user", ""]),
            UsageError::BadUser { .. }
        ));
        assert_eq!(init_err(&["--lvscare-image", " "]), UsageError::BadImage);
        for bad in ["9102", "localhost:9102", "127.0.0.1:0", "127.0.0.1:x"] {
            assert!(
                matches!(
                    init_err(&["--lvscare-metrics-addr", bad]),
                    UsageError::BadMetricsAddr { .. }
                ),
                "{bad}"
            );
        }
        let mut no_home = env();
        no_home.home = None;
        assert_eq!(
            refused(validate_init(&init(&[]), &no_home)),
            UsageError::NoHome
        );
        assert!(validate_init(
            &init(&["--cluster-file", "/c", "--known-hosts", "/k"]),
            &no_home
        )
        .is_ok());
        // clap itself refuses a missing --master and an unknown lvscare mode (exit 2 as well).
        assert!(Cli::try_parse_from([
            "seal-install",
            "init",
            "--version",
            "v1.20.2",
            "--pkg-url",
            "/p"
        ])
        .is_err());
        assert!(Cli::try_parse_from([
            "seal-install",
            "init",
            "--master",
            "1.1.1.1",
            "--version",
            "v1.20.2",
            "--pkg-url",
            "/p",
            "--lvscare-mode",
            "pod",
        ])
        .is_err());
    }

    #[test]
    fn auth_choices() {
        let mut e = env_with(&["/root/kube1.20.2.tar.gz", "/home/op/.ssh/id_rsa"]);
        let v = validate_init(&init(&[]), &e).expect("valid");
        assert_eq!(
            key_of(&v.run.ssh.auth),
            Some((PathBuf::from("/home/op/.ssh/id_rsa"), None))
        );
        assert!(!v.run.ssh.auth.prompt_for_password);
        e.is_file = Box::new(|p: &Path| p == Path::new("/root/kube1.20.2.tar.gz"));
        e.ssh_agent = true;
        let v = validate_init(&init(&[]), &e).expect("valid");
        assert!(
            v.run.ssh.auth.agent
                && v.run.ssh.auth.key.is_none()
                && !v.run.ssh.auth.prompt_for_password
        );
    }

    #[test]
    fn a_bastion_is_validated_kept_in_the_cluster_file_and_dropped_with_none() {
        let v = validate_init(&init(&["--bastion", "ops@10.0.0.5:2222"]), &env()).expect("valid");
        let jump = v.run.ssh.bastion.clone().expect("bastion");
        assert_eq!(
            (jump.user.as_deref(), jump.host.as_str(), jump.port),
            (Some("ops"), "10.0.0.5", 2222)
        );
        assert_eq!(v.run.ssh.user, "root", "the hosts' own login is unchanged");
        let file = v.new_cluster(
            "abcdef.0123456789abcdef".parse().expect("token"),
            "ab".repeat(32).parse().expect("key"),
            "cd".repeat(32),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(file.bastion.as_deref(), Some("ops@10.0.0.5:2222"));
        // A later command takes it from the cluster file unless told otherwise.
        let e = env_with(&["/root/.ssh/id_ed25519"]);
        let now = SystemTime::UNIX_EPOCH;
        let joined = validate_join(&join(&["--node", "192.168.0.6"]), &file, &e, now);
        assert_eq!(joined.expect("valid").run.ssh.bastion, Some(jump));
        let none = validate_join(
            &join(&["--node", "192.168.0.6", "--bastion", "none"]),
            &file,
            &e,
            now,
        );
        assert_eq!(none.expect("valid").run.ssh.bastion, None);
        assert!(matches!(
            init_err(&["--bastion", "b1:0"]),
            UsageError::BadBastion { .. }
        ));
        let shown = init_err(&["--bastion", "@b1"]).to_string();
        assert!(
            shown.contains("--bastion \"@b1\": bad user") && shown.contains("[USER@]HOST[:PORT]"),
            "{shown}"
        );
    }

    #[test]
    fn upgrade_follows_the_skew_rules_and_takes_the_login_from_the_cluster_file() {
        let e = env_with(&["/root/kube1.20.5.tar.gz", "/root/.ssh/id_ed25519"]);
        let pkg = ["--pkg-url", "/root/kube1.20.5.tar.gz"];
        let args = |extra: &[&str]| {
            let mut a = pkg.to_vec();
            a.extend_from_slice(extra);
            upgrade(&a)
        };
        let v = validate_upgrade(
            &args(&["--version", "v1.20.5", "--node-batch", "3"]),
            &cluster(),
            &e,
        )
        .expect("valid");
        assert_eq!(v.version.to_string(), "v1.20.5");
        assert_eq!(v.node_batch, 3);
        assert_eq!(
            v.package,
            PackageSource::File("/root/kube1.20.5.tar.gz".into())
        );
        assert_eq!(
            key_of(&v.run.ssh.auth),
            Some((PathBuf::from("/root/.ssh/id_ed25519"), None))
        );
        // The same version re-applies; one minor ahead is allowed.
        assert!(validate_upgrade(&args(&["--version", "v1.20.2"]), &cluster(), &e).is_ok());
        assert!(validate_upgrade(&args(&["--version", "v1.21.0"]), &cluster(), &e).is_ok());
        let skips = refused(validate_upgrade(
            &args(&["--version", "v1.22.1"]),
            &cluster(),
            &e,
        ));
        assert!(
            skips
                .to_string()
                .starts_with("upgrade --version: v1.20.2 to v1.22.1 skips a minor version"),
            "{skips}"
        );
        let down = refused(validate_upgrade(
            &args(&["--version", "v1.19.9"]),
            &cluster(),
            &e,
        ));
        assert!(matches!(
            down,
            UsageError::Skew(crate::upgrade::SkewError::Downgrade { .. })
        ));
        assert_eq!(
            refused(validate_upgrade(
                &args(&["--version", "v1.20.5", "--node-batch", "0"]),
                &cluster(),
                &e
            )),
            UsageError::BadNodeBatch
        );
        let missing = upgrade(&["--version", "v1.20.5", "--pkg-url", "/nope.tar.gz"]);
        assert!(matches!(
            refused(validate_upgrade(&missing, &cluster(), &e)),
            UsageError::MissingPackage { .. }
        ));
    }

    #[test]
    fn join_takes_the_rest_from_the_cluster_file() {
        let e = env_with(&["/root/.ssh/id_ed25519"]);
        let v = validate_join(
            &join(&["--node", "192.168.0.6", "--master", "192.168.0.4"]),
            &cluster(),
            &e,
            SystemTime::UNIX_EPOCH,
        )
        .expect("valid");
        assert_eq!(
            v.cluster.nodes.last(),
            Some(&"192.168.0.6".parse().expect("ip"))
        );
        assert_eq!(
            v.cluster.masters.last(),
            Some(&"192.168.0.4".parse().expect("ip"))
        );
        assert_eq!(
            key_of(&v.run.ssh.auth),
            Some((PathBuf::from("/root/.ssh/id_ed25519"), None))
        );
        assert_eq!((v.run.ssh.user.as_str(), v.run.ssh.port), ("root", 22));
        let v = validate_join(
            &join(&["--node", "192.168.0.6", "--user", "ops", "--port", "2200"]),
            &cluster(),
            &e,
            SystemTime::UNIX_EPOCH,
        )
        .expect("valid");
        assert_eq!((v.run.ssh.user.as_str(), v.run.ssh.port), ("ops", 2200));
    }

    #[test]
    fn backup_choices_and_errors() {
        let (e, c) = (env(), cluster());
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
        let v = validate_backup(&backup(&[]), &c, &e, now).expect("valid");
        assert_eq!(v.masters, c.masters);
        assert_eq!(v.out, PathBuf::from("etcd-snapshot-1970-01-02T000000Z.db"));
        assert_eq!(v.run.ssh.user, c.user);
        let v = validate_backup(
            &backup(&["--master", "192.168.0.3", "--out", "/b/s.db"]),
            &c,
            &e,
            now,
        )
        .expect("valid");
        assert_eq!(
            (v.masters, v.out),
            (vec![c.masters[1]], PathBuf::from("/b/s.db"))
        );
        let err = validate_backup(&backup(&["--master", "192.168.0.5"]), &c, &e, now)
            .expect_err("a node");
        assert_eq!(
            err.to_string(),
            "backup --master 192.168.0.5: not a master of the cluster in the cluster file; give one of \
             192.168.0.2, 192.168.0.3, or leave --master out to use the first that answers"
        );
        let err =
            validate_backup(&backup(&["--out", "/keys/id"]), &c, &e, now).expect_err("exists");
        assert!(matches!(err, UsageError::OutExists { .. }), "{err}");
        let err = validate_backup(&backup(&["--master", "nope"]), &c, &e, now).expect_err("bad ip");
        assert!(matches!(err, UsageError::BadIp { .. }), "{err}");
    }

    #[test]
    fn join_errors() {
        let e = env();
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(
            refused(validate_join(&join(&[]), &cluster(), &e, now)),
            UsageError::NothingToJoin
        );
        let err = validate_join(&join(&["--node", "192.168.0.5"]), &cluster(), &e, now)
            .expect_err("member");
        assert!(
            err.to_string()
                .contains("192.168.0.5 is already in the cluster as a node"),
            "{err}"
        );
        let err =
            validate_join(&join(&["--node", "10.103.97.2"]), &cluster(), &e, now).expect_err("vip");
        assert!(err.to_string().contains("is the cluster's VIP"), "{err}");
        let err = validate_join(&join(&["--node", "100.64.0.9"]), &cluster(), &e, now)
            .expect_err("pod cidr");
        assert!(err.to_string().contains("pod network"), "{err}");
        let err = validate_join(
            &join(&["--node", "1.1.1.1", "--master", "1.1.1.1"]),
            &cluster(),
            &e,
            now,
        )
        .expect_err("twice");
        assert!(matches!(err, UsageError::DuplicateHost { .. }), "{err}");
    }

    #[test]
    fn clean_choices_and_errors() {
        let e = env();
        let now = SystemTime::UNIX_EPOCH;
        let c = cluster();
        let v = validate_clean(&clean(&["--all", "--dry-run"]), Some(&c), &e, now).expect("all");
        assert_eq!(v.hosts, c.hosts());
        assert_eq!(v.nodes, c.nodes);
        assert!(v.remaining.is_none() && v.run.dry_run);
        let v = validate_clean(&clean(&["--node", "192.168.0.5"]), Some(&c), &e, now)
            .expect("one node");
        assert_eq!(v.hosts, ["192.168.0.5".parse::<IpAddr>().expect("ip")]);
        assert_eq!(v.remaining.as_ref().map(|r| r.nodes.len()), Some(0));
        assert_eq!(
            refused(validate_clean(&clean(&[]), Some(&c), &e, now)),
            UsageError::NothingToClean
        );
        let err = validate_clean(&clean(&["--master", "192.168.0.9"]), Some(&c), &e, now)
            .expect_err("not member");
        assert!(
            err.to_string()
                .contains("192.168.0.9 is not a master of this cluster"),
            "{err}"
        );
        let err = validate_clean(&clean(&["--all"]), None, &e, now).expect_err("no file");
        assert!(
            err.to_string().contains("/home/op/.seal/cluster.yaml"),
            "{err}"
        );
        let v = validate_clean(&clean(&["--node", "192.168.0.7"]), None, &e, now)
            .expect("without a file");
        assert_eq!(v.vip.to_string(), DEFAULT_VIP);
        assert!(
            Cli::try_parse_from(["seal-install", "clean", "--all", "--node", "1.1.1.1"]).is_err()
        );
    }

    #[test]
    fn config_prints_the_template_for_the_version() {
        let args = |v: Option<&str>| {
            let mut a = vec!["config", "-t", "kubeadm"];
            if let Some(v) = v {
                a.extend(["--version", v]);
            }
            match parse(&a) {
                Command::Config(c) => c,
                other => panic!("{other:?}"),
            }
        };
        assert!(config_template(&args(Some("v1.20.2")))
            .expect("ok")
            .contains("kubeadm.k8s.io/v1beta2"));
        assert!(config_template(&args(Some("v1.25.0")))
            .expect("ok")
            .contains("kubeadm.k8s.io/v1beta3"));
        let newest = config_template(&args(None)).expect("ok");
        assert!(newest.contains("kubeadm.k8s.io/v1beta4") && newest.contains("{{.Token}}"));
        assert!(matches!(
            config_template(&args(Some("v1.9.0"))),
            Err(UsageError::BadVersion(_))
        ));
        assert!(Cli::try_parse_from(["seal-install", "config", "-t", "other"]).is_err());
    }
}
