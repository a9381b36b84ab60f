//! The clap definitions of `seal-install`'s subcommands and flags, as raw strings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::kubeadm::{DEFAULT_APISERVER_NAME, DEFAULT_POD_CIDR, DEFAULT_SVC_CIDR, DEFAULT_VIP};
use crate::ssh::Secret;

/// Default lvscare image: the lvscare of this same release.
pub const DEFAULT_LVSCARE_IMAGE: &str = concat!("lvscare:v", env!("CARGO_PKG_VERSION"));

/// `seal-install`: an HA Kubernetes cluster over SSH from an offline package.
#[derive(Debug, Parser)]
#[command(
    name = "seal-install",
    version,
    about,
    after_help = "Exit status: 0 done, 1 the run failed (host, step, command and error are named), 2 bad input (nothing was changed), 130 interrupted (run the same command again to resume)."
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
    /// Copy an etcd snapshot from a master of the cluster to this machine.
    Backup(BackupArgs),
    /// Certificates of the cluster's hosts.
    Certs(CertsArgs),
    /// Upgrade the cluster to the version of a new package: masters one at a time, then nodes
    /// in batches (drained, upgraded, uncordoned).
    Upgrade(UpgradeArgs),
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
    /// Reach every host through this SSH bastion, as `ssh -J` does (same login; `none` drops the
    /// one the cluster file keeps).
    #[arg(long, value_name = "[USER@]HOST[:PORT]")]
    pub bastion: Option<String>,
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
    /// Where each node's lvscare serves /metrics and /healthz (e.g. 127.0.0.1:9102; off when
    /// absent); a static pod then gets a liveness probe on /healthz.
    #[arg(long = "lvscare-metrics-addr", value_name = "IP:PORT")]
    pub lvscare_metrics_addr: Option<String>,
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
    /// The lvscare binary uploaded to new nodes (default: next to seal-install, else on $PATH).
    #[arg(long = "lvscare-bin", value_name = "PATH")]
    pub lvscare_bin: Option<PathBuf>,
    /// Reaching the cluster.
    #[command(flatten)]
    pub login: ClusterLogin,
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
    /// Remove the masters' etcd members even when the healthy members left would be no majority
    /// (etcd, and with it the cluster, then stops until enough members are back).
    #[arg(long)]
    pub force: bool,
    /// SSH login and shared options.
    #[command(flatten)]
    pub login: ClusterLogin,
}

/// How a command on an existing cluster (join, clean, backup, certs) reaches it: the cluster
/// file's login unless overridden (root on port 22 where there is no cluster file).
#[derive(Debug, Clone, Args)]
pub struct ClusterLogin {
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

/// `seal-install backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where the snapshot goes on this machine, mode 0600 (default: ./etcd-snapshot-TIME.db).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// The master to take it from (default: the first of the cluster's masters that answers).
    #[arg(long = "master", value_name = "IP")]
    pub master: Option<String>,
    /// Reaching the cluster.
    #[command(flatten)]
    pub login: ClusterLogin,
}

/// `seal-install certs`.
#[derive(Debug, Clone, Args)]
pub struct CertsArgs {
    /// What to do with the certificates.
    #[command(subcommand)]
    pub action: CertsAction,
}

/// `seal-install certs …`.
#[derive(Debug, Clone, Subcommand)]
pub enum CertsAction {
    /// Print every certificate's expiry on every host (etcd's and kubelet's included).
    Check(CertsLogin),
    /// Renew the control plane's certificates through kubeadm, then restart its static pods, one
    /// master at a time (each component healthy again before the next).
    Renew(CertsLogin),
}

/// `seal-install certs check` and `certs renew`: the cluster file and how to log in.
#[derive(Debug, Clone, Args)]
pub struct CertsLogin {
    /// Reaching the cluster.
    #[command(flatten)]
    pub login: ClusterLogin,
}

/// `seal-install upgrade`.
#[derive(Debug, Clone, Args)]
pub struct UpgradeArgs {
    /// Kubernetes version to upgrade to, e.g. v1.21.0: the package's kubeadm must be it, at most
    /// one minor version ahead of the cluster (the same version re-applies it).
    #[arg(long, value_name = "vX.Y.Z")]
    pub version: String,
    /// The new offline package: a local path or an http(s) URL.
    #[arg(long = "pkg-url", value_name = "PATH|URL")]
    pub pkg_url: String,
    /// Expected SHA-256 of the package (required for a URL).
    #[arg(long = "pkg-sha256", value_name = "HEX")]
    pub pkg_sha256: Option<String>,
    /// Nodes drained and upgraded at the same time.
    #[arg(long = "node-batch", default_value_t = 1, value_name = "N")]
    pub node_batch: usize,
    /// Reaching the cluster.
    #[command(flatten)]
    pub login: ClusterLogin,
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::cli::testing::env_with;
    use crate::cli::validate_init;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
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
}
