//! Command line of `seal-install` (clap) and its pure validation.
//!
//! Parsing gives raw strings; [`validate_init`], [`validate_join`], [`validate_clean`] and
//! [`config_template`] turn them into checked values or a [`UsageError`] that names the problem
//! and the fix (the binary exits [`USAGE_EXIT`] on it). The few facts from the machine they need
//! (is there a file, `$HOME`, an SSH agent) come in through [`Environment`].

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::{Args, Parser, Subcommand};

use crate::cluster::{self, Cluster, MergeError};
use crate::hosts::valid_name;
use crate::kubeadm::{
    BootstrapToken, CertificateKey, Cidr, KubeVersion, KubeadmApi, KubeadmParams,
    DEFAULT_APISERVER_NAME, DEFAULT_POD_CIDR, DEFAULT_SVC_CIDR, DEFAULT_VIP,
};
use crate::plan::LvscareMode;
pub use crate::ssh::Secret;

/// Exit status for a usage error.
pub const USAGE_EXIT: u8 = 2;
/// Default lvscare image: the lvscare of this same release.
pub const DEFAULT_LVSCARE_IMAGE: &str = concat!("lvscare:v", env!("CARGO_PKG_VERSION"));
/// Largest host range one `A-B` argument may expand to.
const MAX_RANGE: u128 = 1024;

/// `seal-install`: an HA Kubernetes cluster over SSH from an offline package.
#[derive(Debug, Parser)]
#[command(
    name = "seal-install",
    version,
    about,
    after_help = "Exit status: 0 done, 1 the run failed (host, step, command and error are named), 2 bad input (nothing was changed)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per run: boxing InitArgs would only make matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a cluster: masters, nodes, lvscare on nodes.
    Init(InitArgs),
    /// Add masters or nodes to the cluster in the cluster file.
    Join(JoinArgs),
    /// Undo the installation on some hosts, or on all.
    Clean(CleanArgs),
    /// Print a default template.
    Config(ConfigArgs),
}

/// How to log in over SSH.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// SSH password; asked for when neither it, a key nor an SSH agent is available.
    #[arg(
        long,
        env = "SEAL_PASSWD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub passwd: Option<Secret>,
    /// SSH private key (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa when present).
    #[arg(long, value_name = "PATH")]
    pub pk: Option<PathBuf>,
    /// Passphrase of the private key.
    #[arg(
        long = "pk-passwd",
        env = "SEAL_PK_PASSWD",
        hide_env_values = true,
        value_name = "PASSPHRASE"
    )]
    pub pk_passwd: Option<Secret>,
    /// Known-hosts file; unknown hosts are trusted on first use and recorded (default: ~/.seal/known_hosts).
    #[arg(long = "known-hosts", value_name = "PATH")]
    pub known_hosts: Option<PathBuf>,
}

/// Options every host-touching command shares.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Print what would run on each host, change nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Hosts worked on at the same time.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub parallel: usize,
    /// The cluster file (default: ~/.seal/cluster.yaml).
    #[arg(long = "cluster-file", value_name = "PATH")]
    pub cluster_file: Option<PathBuf>,
    /// Seconds allowed for each of TCP connect, SSH handshake and login per host.
    #[arg(long = "connect-timeout", default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
}

/// `seal-install init`.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// A control-plane host (repeat, or A-B ranges); the first is master0.
    #[arg(
        long = "master",
        value_name = "IP",
        required = true,
        value_delimiter = ','
    )]
    pub masters: Vec<String>,
    /// A worker node (repeat, or A-B ranges).
    #[arg(long = "node", value_name = "IP", value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// SSH user.
    #[arg(long, default_value = "root")]
    pub user: String,
    /// SSH port.
    #[arg(long, default_value_t = 22)]
    pub port: u16,
    /// SSH login.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Kubernetes version of the package, e.g. v1.20.2 (v1.15 or later).
    #[arg(long, value_name = "vX.Y.Z")]
    pub version: String,
    /// The offline package: a local path or an http(s) URL.
    #[arg(long = "pkg-url", value_name = "PATH|URL")]
    pub pkg_url: String,
    /// Expected SHA-256 of the package (required for a URL).
    #[arg(long = "pkg-sha256", value_name = "HEX")]
    pub pkg_sha256: Option<String>,
    /// The VIP nodes reach the apiservers through (an unused address).
    #[arg(long, default_value = DEFAULT_VIP)]
    pub vip: String,
    /// A kubeadm configuration template (see `seal-install config -t kubeadm`).
    #[arg(long = "kubeadm-config", value_name = "FILE")]
    pub kubeadm_config: Option<PathBuf>,
    /// How lvscare runs on nodes.
    #[arg(long = "lvscare-mode", default_value = "static-pod", value_parser = ["static-pod", "systemd"])]
    pub lvscare_mode: String,
    /// Image of the lvscare static pod.
    #[arg(long = "lvscare-image", default_value = DEFAULT_LVSCARE_IMAGE)]
    pub lvscare_image: String,
    /// The lvscare binary uploaded to nodes (default: next to seal-install, else on $PATH).
    #[arg(long = "lvscare-bin", value_name = "PATH")]
    pub lvscare_bin: Option<PathBuf>,
    /// Pod network.
    #[arg(long = "pod-cidr", default_value = DEFAULT_POD_CIDR)]
    pub pod_cidr: String,
    /// Service network.
    #[arg(long = "svc-cidr", default_value = DEFAULT_SVC_CIDR)]
    pub svc_cidr: String,
    /// The name every host reaches its apiserver by.
    #[arg(long = "apiserver-name", default_value = DEFAULT_APISERVER_NAME)]
    pub apiserver_name: String,
    /// Extra names or addresses in the apiserver certificate (repeat or comma-separate).
    #[arg(long = "cert-sans", value_name = "NAME", value_delimiter = ',')]
    pub cert_sans: Vec<String>,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `seal-install join`.
#[derive(Debug, Clone, Args)]
pub struct JoinArgs {
    /// A control-plane host to add.
    #[arg(long = "master", value_name = "IP", value_delimiter = ',')]
    pub masters: Vec<String>,
    /// A worker node to add.
    #[arg(long = "node", value_name = "IP", value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// SSH user (default: the cluster file's).
    #[arg(long)]
    pub user: Option<String>,
    /// SSH port (default: the cluster file's).
    #[arg(long)]
    pub port: Option<u16>,
    /// SSH login.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// The lvscare binary uploaded to new nodes (default: next to seal-install, else on $PATH).
    #[arg(long = "lvscare-bin", value_name = "PATH")]
    pub lvscare_bin: Option<PathBuf>,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `seal-install clean`.
#[derive(Debug, Clone, Args)]
pub struct CleanArgs {
    /// A master to clean and drop from the cluster.
    #[arg(
        long = "master",
        value_name = "IP",
        value_delimiter = ',',
        conflicts_with = "all"
    )]
    pub masters: Vec<String>,
    /// A node to clean and drop from the cluster.
    #[arg(
        long = "node",
        value_name = "IP",
        value_delimiter = ',',
        conflicts_with = "all"
    )]
    pub nodes: Vec<String>,
    /// Clean every host of the cluster.
    #[arg(long)]
    pub all: bool,
    /// SSH user (default: the cluster file's, else root).
    #[arg(long)]
    pub user: Option<String>,
    /// SSH port (default: the cluster file's, else 22).
    #[arg(long)]
    pub port: Option<u16>,
    /// SSH login.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `seal-install config`.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Which template.
    #[arg(short = 't', long = "type", value_parser = ["kubeadm"])]
    pub kind: String,
    /// The Kubernetes version the template is for (default: the newest kubeadm API).
    #[arg(long, value_name = "vX.Y.Z")]
    pub version: Option<String>,
}

/// Facts from the machine that validation needs.
pub struct Environment {
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// Whether an SSH agent is reachable (`$SSH_AUTH_SOCK` set).
    pub ssh_agent: bool,
    /// Whether a regular file exists at a path.
    pub is_file: Box<dyn Fn(&Path) -> bool>,
}

impl Environment {
    /// The real environment of this process.
    pub fn from_process() -> Environment {
        Environment {
            home: std::env::var_os("HOME").map(PathBuf::from),
            ssh_agent: std::env::var_os("SSH_AUTH_SOCK").is_some_and(|s| !s.is_empty()),
            is_file: Box::new(|p: &Path| p.is_file()),
        }
    }
}

/// A usage error: the problem and its fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// A host argument is not an address or range.
    #[error("{flag} {value}: not an IP address; give one address such as 192.168.0.2 (no port, no /prefix) or a range 192.168.0.2-192.168.0.4")]
    BadIp {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// A range argument is unusable.
    #[error("{flag} {value}: {why}")]
    BadRange {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// The same host appears twice.
    #[error("{ip} is given twice ({first} and {second}); name each host once, in one role")]
    DuplicateHost {
        /// The host.
        ip: IpAddr,
        /// Where it appeared first.
        first: &'static str,
        /// Where it appeared again.
        second: &'static str,
    },
    /// No master.
    #[error("no master: give at least one --master IP")]
    NoMasters,
    /// `--vip` is malformed.
    #[error(
        "--vip {value}: not a usable address; give an unused unicast address such as {DEFAULT_VIP}"
    )]
    BadVip {
        /// What was given.
        value: String,
    },
    /// The VIP is a host's address.
    #[error("--vip {vip} is also a host's address; the VIP must be an address no host uses")]
    VipIsHost {
        /// The VIP.
        vip: IpAddr,
    },
    /// An address lies inside the pod or service network.
    #[error("{what} {ip} lies inside the {net} network {cidr}; choose another {flag} (or another address)")]
    InCidr {
        /// `--vip` or `host`.
        what: &'static str,
        /// The address.
        ip: IpAddr,
        /// `pod` or `service`.
        net: &'static str,
        /// The network.
        cidr: Cidr,
        /// `--pod-cidr` or `--svc-cidr`.
        flag: &'static str,
    },
    /// Pod and service networks overlap.
    #[error("--pod-cidr {pod} and --svc-cidr {svc} overlap; give networks that share no address")]
    CidrOverlap {
        /// Pod network.
        pod: Cidr,
        /// Service network.
        svc: Cidr,
    },
    /// Hosts and VIP mix IPv4 and IPv6.
    #[error("{ip} and the VIP {vip} are of different address families; lvscare balances one family: use IPv4 or IPv6 throughout")]
    MixedFamily {
        /// A host.
        ip: IpAddr,
        /// The VIP.
        vip: IpAddr,
    },
    /// A CIDR flag is malformed.
    #[error("{flag}: {why}")]
    BadCidr {
        /// The flag.
        flag: &'static str,
        /// The parser's message.
        why: String,
    },
    /// The version is malformed or unsupported.
    #[error("--version: {0}")]
    BadVersion(String),
    /// `--pkg-sha256` is malformed.
    #[error(
        "--pkg-sha256 {value}: not a SHA-256; give the 64 hex digits `sha256sum PACKAGE` prints"
    )]
    BadSha256 {
        /// What was given.
        value: String,
    },
    /// The package file is missing.
    #[error("--pkg-url {}: no such file; give the path of the offline package (e.g. /root/kube1.20.2.tar.gz) or an http(s) URL", path.display())]
    MissingPackage {
        /// The path.
        path: PathBuf,
    },
    /// A URL package without a checksum.
    #[error("--pkg-url {url} is a URL; add --pkg-sha256 HEX so the download can be verified")]
    UrlNeedsSha256 {
        /// The URL.
        url: String,
    },
    /// A URL scheme the installer cannot fetch.
    #[error("--pkg-url {url}: only local paths and http:// or https:// URLs are supported")]
    BadUrlScheme {
        /// The URL.
        url: String,
    },
    /// The private key file is missing.
    #[error("--pk {}: no such file; give the private key's path, or leave --pk out to use a password or the SSH agent", path.display())]
    MissingKey {
        /// The path.
        path: PathBuf,
    },
    /// The kubeadm template is missing.
    #[error("--kubeadm-config {}: no such file; write one with `seal-install config -t kubeadm > FILE`", path.display())]
    MissingTemplate {
        /// The path.
        path: PathBuf,
    },
    /// The apiserver name is unusable.
    #[error("--apiserver-name {value}: not a host name; give a DNS name such as {DEFAULT_APISERVER_NAME}")]
    BadApiserverName {
        /// What was given.
        value: String,
    },
    /// A certificate SAN is unusable.
    #[error("--cert-sans {value}: not a DNS name or IP address")]
    BadCertSan {
        /// What was given.
        value: String,
    },
    /// The SSH user is unusable.
    #[error("--user {value:?}: give a login name such as root")]
    BadUser {
        /// What was given.
        value: String,
    },
    /// The SSH port is 0.
    #[error("--port 0: give the SSH port, usually 22")]
    BadPort,
    /// `--parallel` is 0.
    #[error("--parallel 0: give at least 1")]
    BadParallel,
    /// `--connect-timeout` is 0.
    #[error("--connect-timeout 0: give the seconds to allow, e.g. 10")]
    BadConnectTimeout,
    /// `--lvscare-mode` is unknown.
    #[error("--lvscare-mode {value}: use static-pod or systemd")]
    BadLvscareMode {
        /// What was given.
        value: String,
    },
    /// `--lvscare-image` is empty.
    #[error(
        "--lvscare-image is empty; give the image that holds lvscare, e.g. {DEFAULT_LVSCARE_IMAGE}"
    )]
    BadImage,
    /// No `$HOME` for default paths.
    #[error("$HOME is not set; pass --cluster-file PATH and --known-hosts PATH")]
    NoHome,
    /// `join` without hosts.
    #[error("join needs at least one --master IP or --node IP")]
    NothingToJoin,
    /// `clean` without hosts.
    #[error("clean needs hosts: give --master IP / --node IP, or --all for the whole cluster")]
    NothingToClean,
    /// `clean --all` without a cluster file.
    #[error("clean --all needs the cluster file {}; without it, name the hosts with --master/--node", path.display())]
    AllWithoutCluster {
        /// The missing file.
        path: PathBuf,
    },
    /// The request does not fit the cluster file.
    #[error("{0}")]
    Cluster(#[from] MergeError),
}

/// How to authenticate, in the order to try.
#[derive(Debug, Clone)]
pub struct AuthPlan {
    /// Private key to offer, with its passphrase.
    pub key: Option<(PathBuf, Option<Secret>)>,
    /// Whether to ask the SSH agent.
    pub agent: bool,
    /// Password to try.
    pub password: Option<Secret>,
    /// No method at all: ask for a password on the terminal.
    pub prompt_for_password: bool,
}

/// SSH settings of a run.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// Login user.
    pub user: String,
    /// Port.
    pub port: u16,
    /// Authentication.
    pub auth: AuthPlan,
    /// Known-hosts file (trust on first use).
    pub known_hosts: PathBuf,
}

/// Where the package comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageSource {
    /// A local file.
    File(PathBuf),
    /// An http(s) URL.
    Url(String),
}

impl fmt::Display for PackageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackageSource::File(p) => write!(f, "{}", p.display()),
            PackageSource::Url(u) => f.write_str(u),
        }
    }
}

/// Settings every host-touching command ends up with.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// SSH.
    pub ssh: SshSettings,
    /// Change nothing.
    pub dry_run: bool,
    /// Concurrency bound.
    pub parallel: usize,
    /// The cluster file.
    pub cluster_file: PathBuf,
    /// Limit for each of TCP connect, SSH handshake and login.
    pub connect_timeout: std::time::Duration,
}

/// A checked `init`.
#[derive(Debug, Clone)]
pub struct ValidInit {
    /// Masters; the first is master0.
    pub masters: Vec<IpAddr>,
    /// Nodes.
    pub nodes: Vec<IpAddr>,
    /// VIP.
    pub vip: IpAddr,
    /// Kubernetes version.
    pub version: KubeVersion,
    /// Its kubeadm API.
    pub api: KubeadmApi,
    /// The package.
    pub package: PackageSource,
    /// Its expected SHA-256 (lower-case hex), if given.
    pub package_sha256: Option<String>,
    /// User kubeadm template.
    pub kubeadm_template: Option<PathBuf>,
    /// lvscare mode.
    pub lvscare_mode: LvscareMode,
    /// lvscare image.
    pub lvscare_image: String,
    /// Pod network.
    pub pod_cidr: Cidr,
    /// Service network.
    pub svc_cidr: Cidr,
    /// Apiserver name.
    pub apiserver_name: String,
    /// Extra SANs.
    pub cert_sans: Vec<String>,
    /// SSH, dry run, concurrency, cluster file.
    pub run: RunSettings,
    /// Things worth telling the operator that do not stop the run.
    pub warnings: Vec<String>,
}

impl ValidInit {
    /// The kubeadm parameters with freshly generated credentials.
    pub fn kubeadm_params(&self, token: BootstrapToken, key: CertificateKey) -> KubeadmParams {
        KubeadmParams {
            version: self.version.clone(),
            masters: self.masters.clone(),
            nodes: self.nodes.clone(),
            vip: self.vip,
            apiserver_name: self.apiserver_name.clone(),
            pod_cidr: self.pod_cidr,
            svc_cidr: self.svc_cidr,
            cert_sans: self.cert_sans.clone(),
            token,
            certificate_key: key,
            ca_cert_hash: None,
            image_repository: None,
            cri_socket: None,
            cgroup_driver: None,
        }
    }

    /// The cluster file content for this install (no password: the type holds none).
    pub fn new_cluster(
        &self,
        token: BootstrapToken,
        key: CertificateKey,
        package_sha256: String,
        now: SystemTime,
    ) -> Cluster {
        let stamp = cluster::rfc3339(now);
        Cluster {
            version: self.version.clone(),
            masters: self.masters.clone(),
            nodes: self.nodes.clone(),
            vip: self.vip,
            apiserver_name: self.apiserver_name.clone(),
            pod_cidr: self.pod_cidr,
            svc_cidr: self.svc_cidr,
            cert_sans: self.cert_sans.clone(),
            package: self.package.to_string(),
            package_sha256,
            user: self.run.ssh.user.clone(),
            ssh_port: self.run.ssh.port,
            key_path: self.run.ssh.auth.key.as_ref().map(|(p, _)| p.clone()),
            lvscare_mode: self.lvscare_mode,
            lvscare_image: self.lvscare_image.clone(),
            token,
            certificate_key: key,
            ca_cert_hash: None,
            image_repository: None,
            cri_socket: None,
            cgroup_driver: None,
            created: stamp.clone(),
            updated: stamp,
        }
    }
}

/// A checked `join`.
#[derive(Debug, Clone)]
pub struct ValidJoin {
    /// Masters to add.
    pub masters: Vec<IpAddr>,
    /// Nodes to add.
    pub nodes: Vec<IpAddr>,
    /// The cluster with them added (save it once the join succeeded).
    pub cluster: Cluster,
    /// SSH, dry run, concurrency, cluster file.
    pub run: RunSettings,
}

/// A checked `clean`.
#[derive(Debug, Clone)]
pub struct ValidClean {
    /// Hosts to clean.
    pub hosts: Vec<IpAddr>,
    /// Which of them are nodes (lvscare is removed there).
    pub nodes: Vec<IpAddr>,
    /// The VIP of lvscare's service on nodes.
    pub vip: IpAddr,
    /// The cluster without them (None: no cluster file, or nothing left — delete the file).
    pub remaining: Option<Cluster>,
    /// SSH, dry run, concurrency, cluster file.
    pub run: RunSettings,
}

/// The cluster file path: `--cluster-file`, else `~/.seal/cluster.yaml`.
pub fn cluster_file_path(common: &CommonArgs, env: &Environment) -> Result<PathBuf, UsageError> {
    match &common.cluster_file {
        Some(p) => Ok(p.clone()),
        None => cluster::default_path(env.home.as_deref().map(|h| h.as_os_str()))
            .ok_or(UsageError::NoHome),
    }
}

fn ip_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Parses host arguments: addresses and `A-B` ranges.
fn parse_hosts(flag: &'static str, values: &[String]) -> Result<Vec<IpAddr>, UsageError> {
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
fn no_duplicates(groups: &[(&'static str, &[IpAddr])]) -> Result<(), UsageError> {
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
fn check_hosts_against(
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
    Ok(RunSettings {
        ssh: SshSettings {
            user: user.to_string(),
            port,
            auth: auth_plan(auth, fallback_key, env)?,
            known_hosts,
        },
        dry_run: common.dry_run,
        parallel: common.parallel,
        cluster_file,
        connect_timeout: std::time::Duration::from_secs(common.connect_timeout),
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
    let url = args.pkg_url.trim();
    let package = if url.starts_with("http://") || url.starts_with("https://") {
        PackageSource::Url(url.to_string())
    } else if url.contains("://") {
        return Err(UsageError::BadUrlScheme {
            url: url.to_string(),
        });
    } else {
        PackageSource::File(PathBuf::from(url))
    };
    let package_sha256 = match &args.pkg_sha256 {
        Some(s) if !is_sha256(s.trim()) => return Err(UsageError::BadSha256 { value: s.clone() }),
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
    let run = run_settings(&args.user, args.port, &args.auth, None, &args.common, env)?;
    Ok(ValidInit {
        masters,
        nodes,
        vip,
        version,
        api,
        package,
        package_sha256,
        kubeadm_template: args.kubeadm_config.clone(),
        lvscare_mode,
        lvscare_image: args.lvscare_image.trim().to_string(),
        pod_cidr,
        svc_cidr,
        apiserver_name: name.to_string(),
        cert_sans,
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
    let user = args.user.clone().unwrap_or_else(|| cluster.user.clone());
    let port = args.port.unwrap_or(cluster.ssh_port);
    let run = run_settings(
        &user,
        port,
        &args.auth,
        cluster.key_path.as_deref(),
        &args.common,
        env,
    )?;
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
                path: cluster_file_path(&args.common, env)?,
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
    let user = args
        .user
        .clone()
        .or_else(|| cluster.map(|c| c.user.clone()))
        .unwrap_or_else(|| "root".into());
    let port = args.port.or(cluster.map(|c| c.ssh_port)).unwrap_or(22);
    let key = cluster.and_then(|c| c.key_path.as_deref());
    let run = run_settings(&user, port, &args.auth, key, &args.common, env)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn env_with(files: &[&str]) -> Environment {
        let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
        Environment {
            home: Some(PathBuf::from("/home/op")),
            ssh_agent: false,
            is_file: Box::new(move |p: &Path| files.iter().any(|f| f == p)),
        }
    }

    /// The key choice with its passphrase exposed, for comparisons.
    fn key_of(a: &AuthPlan) -> Option<(PathBuf, Option<String>)> {
        a.key
            .as_ref()
            .map(|(p, s)| (p.clone(), s.as_ref().map(|s| s.expose().to_string())))
    }

    /// The error of a refused validation.
    fn refused<T: fmt::Debug>(r: Result<T, UsageError>) -> UsageError {
        r.expect_err("should be refused")
    }

    fn env() -> Environment {
        env_with(&["/root/kube1.20.2.tar.gz", "/keys/id", "/t/kubeadm.tmpl"])
    }

    /// Parses as the binary would, but blind to SEAL_PASSWD / SEAL_PK_PASSWD in the test's own
    /// environment (a developer may have them exported).
    fn parse(args: &[&str]) -> Command {
        use clap::FromArgMatches;
        let mut v = vec!["seal-install"];
        v.extend_from_slice(args);
        let mut cmd = Cli::command();
        for sub in ["init", "join", "clean"] {
            cmd = cmd.mut_subcommand(sub, |s| {
                s.mut_arg("passwd", |a| a.env(None))
                    .mut_arg("pk_passwd", |a| a.env(None))
            });
        }
        let parsed = cmd
            .try_get_matches_from(&v)
            .and_then(|m| Cli::from_arg_matches(&m));
        match parsed {
            Ok(c) => c.command,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    /// `init` with three hosts, v1.20.2 and a package, plus `extra` (which may replace
    /// `--version` or `--pkg-url`).
    fn init(extra: &[&str]) -> InitArgs {
        let mut v = vec![
            "init",
            "--master",
            "192.168.0.2",
            "--master",
            "192.168.0.3",
            "--node",
            "192.168.0.5",
        ];
        for (flag, value) in [
            ("--version", "v1.20.2"),
            ("--pkg-url", "/root/kube1.20.2.tar.gz"),
        ] {
            if !extra.contains(&flag) {
                v.extend([flag, value]);
            }
        }
        v.extend_from_slice(extra);
        match parse(&v) {
            Command::Init(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn init_err(extra: &[&str]) -> UsageError {
        validate_init(&init(extra), &env()).expect_err("should be refused")
    }

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

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
    fn password_never_shows_in_debug_or_help() {
        let cli = Cli::try_parse_from([
            "seal-install",
            "init",
            "--master",
            "192.168.0.2",
            "--version",
            "v1.20.2",
            "--pkg-url",
            "/p",
            "--passwd",
            "hunter2-S3cret",
            "--pk-passwd",
            "pass-phrase-9",
        ])
        .expect("parses");
        let dbg = format!("{cli:?} {:#?}", cli);
        assert!(
            !dbg.contains("hunter2-S3cret") && !dbg.contains("pass-phrase-9"),
            "{dbg}"
        );
        let Command::Init(a) = &cli.command else {
            panic!()
        };
        assert_eq!(
            a.auth.passwd.as_ref().map(Secret::expose),
            Some("hunter2-S3cret")
        );
        let v = validate_init(a, &env_with(&["/p"])).expect("valid");
        assert!(!format!("{v:?}").contains("hunter2"));
        // The environment variables are declared, and their values hidden from --help.
        let cmd = Cli::command();
        let init = cmd.find_subcommand("init").expect("init");
        for (id, var) in [("passwd", "SEAL_PASSWD"), ("pk_passwd", "SEAL_PK_PASSWD")] {
            let arg = init.get_arguments().find(|a| a.get_id() == id).expect(id);
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(var));
            assert!(arg.is_hide_env_values_set());
        }
    }

    #[test]
    fn the_cluster_file_holds_no_password() {
        let a = init(&[
            "--passwd",
            "hunter2-S3cret",
            "--pk",
            "/keys/id",
            "--pk-passwd",
            "pass-phrase-9",
        ]);
        let v = validate_init(&a, &env()).expect("valid");
        let c = v.new_cluster(
            "abcdef.0123456789abcdef".parse().expect("token"),
            "ab".repeat(32).parse().expect("key"),
            "cd".repeat(32),
            SystemTime::UNIX_EPOCH,
        );
        let dir = std::env::temp_dir().join(format!("seal-cli-nopass-{}", std::process::id()));
        let path = dir.join("cluster.yaml");
        cluster::save(&path, &c).expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert!(
            !text.contains("hunter2") && !text.contains("pass-phrase"),
            "{text}"
        );
        assert!(
            !text.to_lowercase().contains("passwd") && !text.to_lowercase().contains("password")
        );
        assert!(text.contains("key_path: /keys/id"), "{text}");
        assert!(text.contains("token: abcdef.0123456789abcdef"));
    }

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

    fn cluster() -> Cluster {
        crate::cluster::tests::sample()
    }

    fn join(args: &[&str]) -> JoinArgs {
        let mut v = vec!["join"];
        v.extend_from_slice(args);
        match parse(&v) {
            Command::Join(a) => a,
            other => panic!("{other:?}"),
        }
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

    fn clean(args: &[&str]) -> CleanArgs {
        let mut v = vec!["clean"];
        v.extend_from_slice(args);
        match parse(&v) {
            Command::Clean(a) => a,
            other => panic!("{other:?}"),
        }
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
