//! [`UsageError`]: every way the command line can be wrong, each naming the problem and the fix.

use std::net::IpAddr;
use std::path::PathBuf;

use super::args::DEFAULT_LVSCARE_IMAGE;
use crate::cluster::MergeError;
use crate::kubeadm::{Cidr, DEFAULT_APISERVER_NAME, DEFAULT_VIP};

/// Exit status for a usage error.
pub const USAGE_EXIT: u8 = 2;

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
    /// `--bastion` is not `[USER@]HOST[:PORT]`.
    #[error("--bastion {value:?}: {why}; give [USER@]HOST[:PORT], such as ops@10.0.0.5 or 10.0.0.5:2222")]
    BadBastion {
        /// What was given.
        value: String,
        /// What is wrong with it.
        why: crate::ssh::JumpHostError,
    },
    /// `upgrade --version` breaks the version-skew rules.
    #[error("upgrade --version: {0}")]
    Skew(crate::upgrade::SkewError),
    /// `--node-batch` is 0.
    #[error("--node-batch 0: give at least 1")]
    BadNodeBatch,
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
    /// `--lvscare-metrics-addr` is not IP:PORT.
    #[error("--lvscare-metrics-addr {value:?} is not IP:PORT; give e.g. 127.0.0.1:9102 (loopback keeps the metrics on the node)")]
    BadMetricsAddr {
        /// What was given.
        value: String,
    },
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
    /// `backup --master` names a host that is not one of the cluster's masters.
    #[error("backup --master {ip}: not a master of the cluster in the cluster file; give one of {masters}, or leave --master out to use the first that answers")]
    NotAMaster {
        /// What was given.
        ip: IpAddr,
        /// The cluster's masters.
        masters: String,
    },
    /// `backup --out` would replace a file.
    #[error("backup --out {}: the file exists; give a new path (a snapshot is never written over another)", path.display())]
    OutExists {
        /// The path.
        path: PathBuf,
    },
    /// `backup --out` is in a folder that does not exist.
    #[error("backup --out {}: no such folder {}; create it first or give another path", path.display(), dir.display())]
    OutFolderMissing {
        /// The path.
        path: PathBuf,
        /// Its folder.
        dir: PathBuf,
    },
    #[error("{0}")]
    Cluster(#[from] MergeError),
}
