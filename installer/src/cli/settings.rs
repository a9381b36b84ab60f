//! What validation produces: the checked settings of each subcommand, and the machine facts
//! ([`Environment`]) it reads.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::cluster::{self, Cluster};
use crate::kubeadm::{
    BootstrapToken, CertificateKey, KubeVersion, KubeadmApi, KubeadmParams, Topology,
};
use crate::plan::LvscareMode;
use crate::ssh::Secret;

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
    /// The bastion every host is reached through.
    pub bastion: Option<crate::ssh::JumpHost>,
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
    /// The cluster to make (its facts read as this type's own: `v.masters`).
    pub topology: Topology,
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
    /// Where nodes' lvscare serves metrics, if anywhere.
    pub lvscare_metrics_addr: Option<std::net::SocketAddr>,
    /// SSH, dry run, concurrency, cluster file.
    pub run: RunSettings,
    /// Things worth telling the operator that do not stop the run.
    pub warnings: Vec<String>,
}

embeds!(ValidInit => topology: Topology);

impl ValidInit {
    /// The cluster this install makes, as its cluster file records it (no password: the type
    /// holds none); its kubeadm parameters and stages are derived from it.
    pub fn new_cluster(
        &self,
        token: BootstrapToken,
        key: CertificateKey,
        package_sha256: String,
        now: SystemTime,
    ) -> Cluster {
        let stamp = cluster::rfc3339(now);
        Cluster {
            kubeadm: KubeadmParams {
                topology: self.topology.clone(),
                token,
                certificate_key: key,
                ca_cert_hash: None,
                image_repository: None,
                cri_socket: None,
                cgroup_driver: None,
            },
            package: self.package.to_string(),
            package_sha256,
            user: self.run.ssh.user.clone(),
            ssh_port: self.run.ssh.port,
            key_path: self.run.ssh.auth.key.as_ref().map(|(p, _)| p.clone()),
            bastion: self.run.ssh.bastion.as_ref().map(ToString::to_string),
            lvscare_mode: self.lvscare_mode,
            lvscare_image: self.lvscare_image.clone(),
            lvscare_metrics_addr: self.lvscare_metrics_addr,
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

/// A checked `backup`.
#[derive(Debug, Clone)]
pub struct ValidBackup {
    /// The masters to try, in order.
    pub masters: Vec<IpAddr>,
    /// The local file to write.
    pub out: PathBuf,
    /// SSH, dry run, cluster file.
    pub run: RunSettings,
}

/// A checked `upgrade`.
#[derive(Debug, Clone)]
pub struct ValidUpgrade {
    /// The version to go to (allowed by the skew rules from the cluster's).
    pub version: KubeVersion,
    /// The new package.
    pub package: PackageSource,
    /// Its expected SHA-256, when given.
    pub package_sha256: Option<String>,
    /// Nodes at the same time (at least 1).
    pub node_batch: usize,
    /// SSH, dry run, cluster file.
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

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use crate::cli::testing::env;
    use crate::cli::testing::init;
    use crate::cli::validate_init;
    use crate::cluster;

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
}
