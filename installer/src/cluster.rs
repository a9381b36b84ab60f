//! The cluster file (`~/.seal/cluster.yaml`): what `join` and `clean` need to know later.
//!
//! A [`Cluster`] is its [`KubeadmParams`] (the cluster's [`Topology`], credentials and kubeadm
//! settings) plus how its hosts are reached and set up. The file is flat: `ClusterFile` is its
//! layout, and the conversions between the two are the only place the fields meet.
//!
//! It holds the bootstrap token and certificate key (so joins need nothing from kubeadm's
//! output), hence mode 0600; it never holds a password (the type has no such field, and a file
//! with one is refused). Saving is atomic: temp file in the same directory, fsync, rename.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::kubeadm::{
    BootstrapToken, CaCertHash, CertificateKey, Cidr, KubeVersion, KubeadmApi, KubeadmParams,
    Topology,
};

/// How lvscare runs on nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LvscareMode {
    /// A static pod managed by kubelet.
    StaticPod,
    /// A systemd unit.
    Systemd,
}

/// Everything known about an installed cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// What kubeadm is given (its facts read as this type's own: `cluster.masters`).
    pub kubeadm: KubeadmParams,
    /// The offline package (path or URL) used to install.
    pub package: String,
    /// Its SHA-256, hex.
    pub package_sha256: String,
    /// SSH user.
    pub user: String,
    /// SSH port.
    pub ssh_port: u16,
    /// SSH private key, when one was used.
    pub key_path: Option<PathBuf>,
    /// The SSH bastion (`[USER@]HOST[:PORT]`) the hosts are reached through, when there is one.
    pub bastion: Option<String>,
    /// How lvscare runs on nodes.
    pub lvscare_mode: LvscareMode,
    /// The lvscare image (static-pod mode).
    pub lvscare_image: String,
    /// Where nodes' lvscare serves /metrics and /healthz, when it does.
    pub lvscare_metrics_addr: Option<std::net::SocketAddr>,
    /// When `init` wrote the file (RFC 3339, UTC).
    pub created: String,
    /// When the file last changed (RFC 3339, UTC).
    pub updated: String,
}

embeds!(Cluster => mut kubeadm: KubeadmParams);

/// The file's layout: the fields of [`Cluster`], its [`KubeadmParams`] and their [`Topology`]
/// (each means what it means there), flat, in the order they are written. Serde names it
/// `Cluster`, as its messages always have.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Cluster", expecting = "struct Cluster", deny_unknown_fields)]
struct ClusterFile {
    version: KubeVersion,
    masters: Vec<IpAddr>,
    #[serde(default)]
    nodes: Vec<IpAddr>,
    vip: IpAddr,
    apiserver_name: String,
    pod_cidr: Cidr,
    svc_cidr: Cidr,
    #[serde(default)]
    cert_sans: Vec<String>,
    package: String,
    package_sha256: String,
    user: String,
    ssh_port: u16,
    #[serde(default)]
    key_path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bastion: Option<String>,
    #[serde(with = "lvscare_mode_serde")]
    lvscare_mode: LvscareMode,
    lvscare_image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lvscare_metrics_addr: Option<std::net::SocketAddr>,
    token: BootstrapToken,
    certificate_key: CertificateKey,
    #[serde(default)]
    ca_cert_hash: Option<CaCertHash>,
    #[serde(default)]
    image_repository: Option<String>,
    #[serde(default)]
    cri_socket: Option<String>,
    #[serde(default)]
    cgroup_driver: Option<String>,
    created: String,
    updated: String,
}

impl From<ClusterFile> for Cluster {
    fn from(f: ClusterFile) -> Cluster {
        Cluster {
            kubeadm: KubeadmParams {
                topology: Topology {
                    version: f.version,
                    masters: f.masters,
                    nodes: f.nodes,
                    vip: f.vip,
                    apiserver_name: f.apiserver_name,
                    pod_cidr: f.pod_cidr,
                    svc_cidr: f.svc_cidr,
                    cert_sans: f.cert_sans,
                },
                token: f.token,
                certificate_key: f.certificate_key,
                ca_cert_hash: f.ca_cert_hash,
                image_repository: f.image_repository,
                cri_socket: f.cri_socket,
                cgroup_driver: f.cgroup_driver,
            },
            package: f.package,
            package_sha256: f.package_sha256,
            user: f.user,
            ssh_port: f.ssh_port,
            key_path: f.key_path,
            bastion: f.bastion,
            lvscare_mode: f.lvscare_mode,
            lvscare_image: f.lvscare_image,
            lvscare_metrics_addr: f.lvscare_metrics_addr,
            created: f.created,
            updated: f.updated,
        }
    }
}

impl From<Cluster> for ClusterFile {
    fn from(c: Cluster) -> ClusterFile {
        let k = c.kubeadm;
        let t = k.topology;
        ClusterFile {
            version: t.version,
            masters: t.masters,
            nodes: t.nodes,
            vip: t.vip,
            apiserver_name: t.apiserver_name,
            pod_cidr: t.pod_cidr,
            svc_cidr: t.svc_cidr,
            cert_sans: t.cert_sans,
            package: c.package,
            package_sha256: c.package_sha256,
            user: c.user,
            ssh_port: c.ssh_port,
            key_path: c.key_path,
            bastion: c.bastion,
            lvscare_mode: c.lvscare_mode,
            lvscare_image: c.lvscare_image,
            lvscare_metrics_addr: c.lvscare_metrics_addr,
            token: k.token,
            certificate_key: k.certificate_key,
            ca_cert_hash: k.ca_cert_hash,
            image_repository: k.image_repository,
            cri_socket: k.cri_socket,
            cgroup_driver: k.cgroup_driver,
            created: c.created,
            updated: c.updated,
        }
    }
}

/// The command-line name of an lvscare mode.
pub fn lvscare_mode_name(m: LvscareMode) -> &'static str {
    match m {
        LvscareMode::StaticPod => "static-pod",
        LvscareMode::Systemd => "systemd",
    }
}

/// Parses `static-pod` or `systemd`.
pub fn parse_lvscare_mode(s: &str) -> Result<LvscareMode, String> {
    match s {
        "static-pod" => Ok(LvscareMode::StaticPod),
        "systemd" => Ok(LvscareMode::Systemd),
        other => Err(format!(
            "unknown lvscare mode `{other}`: use static-pod or systemd"
        )),
    }
}

mod lvscare_mode_serde {
    use super::*;

    pub fn serialize<S: serde::Serializer>(m: &LvscareMode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(lvscare_mode_name(*m))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<LvscareMode, D::Error> {
        let s = String::deserialize(d)?;
        parse_lvscare_mode(&s).map_err(serde::de::Error::custom)
    }
}

/// A cluster file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ClusterFileError {
    /// There is no file.
    #[error("no cluster file at {path}: run `seal-install init` first, or pass --cluster-file")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Reading failed.
    #[error("cannot read cluster file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The content is not a valid cluster description.
    #[error("cluster file {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing failed.
    #[error("cannot write cluster file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A `join` or `clean` request that does not fit the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// The host is already part of the cluster.
    #[error("{ip} is already in the cluster as a {role}; leave it out (or `seal-install clean` it first)")]
    AlreadyMember {
        /// The host.
        ip: IpAddr,
        /// `master` or `node`.
        role: &'static str,
    },
    /// The host is named twice in the request.
    #[error("{ip} is listed twice; name each host once")]
    ListedTwice {
        /// The host.
        ip: IpAddr,
    },
    /// The host address is the cluster's VIP.
    #[error("{ip} is the cluster's VIP, not a host")]
    IsVip {
        /// The host.
        ip: IpAddr,
    },
    /// The host's family differs from the VIP's (lvscare balances one family).
    #[error("{ip} is not of the VIP's address family ({vip}); use hosts of one family")]
    MixedFamily {
        /// The host.
        ip: IpAddr,
        /// The VIP.
        vip: IpAddr,
    },
    /// The host is not in the cluster.
    #[error("{ip} is not a {role} of this cluster (masters: {masters}; nodes: {nodes})")]
    NotMember {
        /// The host.
        ip: IpAddr,
        /// The role asked for.
        role: &'static str,
        /// Current masters.
        masters: String,
        /// Current nodes.
        nodes: String,
    },
    /// Removal would leave nodes without a control plane.
    #[error("removing every master would leave the nodes without a control plane; clean the nodes too, or pass --all")]
    NoMastersLeft,
}

fn list(ips: &[IpAddr]) -> String {
    if ips.is_empty() {
        "none".into()
    } else {
        ips.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Refuses an address given twice in one command (as two roles, or twice in one).
fn each_once<'a>(ips: impl IntoIterator<Item = &'a IpAddr>) -> Result<(), MergeError> {
    let mut seen: Vec<IpAddr> = Vec::new();
    for &ip in ips {
        if seen.contains(&ip) {
            return Err(MergeError::ListedTwice { ip });
        }
        seen.push(ip);
    }
    Ok(())
}

impl Cluster {
    /// The kubeadm parameters this cluster renders its configurations from.
    pub fn kubeadm_params(&self) -> &KubeadmParams {
        &self.kubeadm
    }

    /// This cluster with its joins pinning the CA hash `ca`.
    pub fn pinned_to(&self, ca: CaCertHash) -> Cluster {
        let mut c = self.clone();
        c.ca_cert_hash = Some(ca);
        c
    }

    /// Records `now` as the last change.
    pub fn touch(&mut self, now: SystemTime) {
        self.updated = rfc3339(now);
    }

    /// Adds hosts for `join`; nothing changes unless every host is acceptable.
    pub fn add_hosts(
        &mut self,
        masters: &[IpAddr],
        nodes: &[IpAddr],
        now: SystemTime,
    ) -> Result<(), MergeError> {
        each_once(masters.iter().chain(nodes))?;
        for &ip in masters.iter().chain(nodes) {
            if ip == self.vip {
                return Err(MergeError::IsVip { ip });
            }
            if ip.is_ipv4() != self.vip.is_ipv4() {
                return Err(MergeError::MixedFamily { ip, vip: self.vip });
            }
            if self.masters.contains(&ip) {
                return Err(MergeError::AlreadyMember { ip, role: "master" });
            }
            if self.nodes.contains(&ip) {
                return Err(MergeError::AlreadyMember { ip, role: "node" });
            }
        }
        self.masters.extend_from_slice(masters);
        self.nodes.extend_from_slice(nodes);
        self.touch(now);
        Ok(())
    }

    /// Removes hosts for `clean`; nothing changes unless every host is a member in that role.
    pub fn remove_hosts(
        &mut self,
        masters: &[IpAddr],
        nodes: &[IpAddr],
        now: SystemTime,
    ) -> Result<(), MergeError> {
        each_once(masters.iter().chain(nodes))?;
        for (asked, role, members) in [
            (masters, "master", &self.masters),
            (nodes, "node", &self.nodes),
        ] {
            for &ip in asked {
                if !members.contains(&ip) {
                    return Err(MergeError::NotMember {
                        ip,
                        role,
                        masters: list(&self.masters),
                        nodes: list(&self.nodes),
                    });
                }
            }
        }
        let masters_left = self.masters.iter().filter(|m| !masters.contains(m)).count();
        let nodes_left = self.nodes.iter().filter(|n| !nodes.contains(n)).count();
        if masters_left == 0 && nodes_left > 0 {
            return Err(MergeError::NoMastersLeft);
        }
        self.masters.retain(|m| !masters.contains(m));
        self.nodes.retain(|n| !nodes.contains(n));
        self.touch(now);
        Ok(())
    }

    /// Whether no host is left (after `clean`), so the file can go.
    pub fn is_empty(&self) -> bool {
        self.masters.is_empty() && self.nodes.is_empty()
    }

    /// The YAML text of the file.
    pub fn to_yaml(&self) -> String {
        // Serializing these plain types cannot fail; an empty string would fail `from_yaml`.
        serde_yaml_ng::to_string(&ClusterFile::from(self.clone())).unwrap_or_default()
    }

    /// Parses and checks the YAML text of a file (`path` names it in errors).
    pub fn from_yaml(path: &Path, text: &str) -> Result<Cluster, ClusterFileError> {
        let invalid = |message: String| ClusterFileError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let f: ClusterFile = serde_yaml_ng::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let c = Cluster::from(f);
        KubeadmApi::for_version(&c.version).map_err(|e| invalid(e.to_string()))?;
        // A saved cluster always has master0 (the file goes when its last host is cleaned), and
        // every run needs it: an edited file without one is refused here, not deep in a run.
        if c.masters.is_empty() {
            return Err(invalid(
                "it lists no master; restore the file (seal-install writes it after every run) or run `seal-install init`".into(),
            ));
        }
        let hosts = c.hosts();
        for (i, ip) in hosts.iter().enumerate() {
            if hosts[..i].contains(ip) {
                return Err(invalid(format!("{ip} is listed twice")));
            }
        }
        Ok(c)
    }
}

/// `~/.seal/cluster.yaml` under `home` (the value of $HOME).
pub fn default_path(home: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let home = home.filter(|h| !h.is_empty())?;
    Some(Path::new(home).join(".seal").join("cluster.yaml"))
}

/// Reads the cluster file.
pub fn load(path: &Path) -> Result<Cluster, ClusterFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ClusterFileError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            ClusterFileError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    Cluster::from_yaml(path, &text)
}

/// Writes the cluster file atomically with mode 0600 (its directory, if new, gets 0700).
pub fn save(path: &Path, cluster: &Cluster) -> Result<(), ClusterFileError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let werr = |source: std::io::Error| ClusterFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(werr)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cluster.yaml".into());
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let text = cluster.to_yaml();
    let written = (|| {
        // The mode is set at creation, so the secrets are never readable by others, not even briefly.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(werr)
}

/// RFC 3339 UTC time, to the second (`2024-05-01T12:00:00Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian algorithm by H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    pub(crate) fn sample() -> Cluster {
        Cluster {
            kubeadm: KubeadmParams {
                topology: Topology {
                    version: "v1.20.2".parse().expect("version"),
                    masters: vec![ip("192.168.0.2"), ip("192.168.0.3")],
                    nodes: vec![ip("192.168.0.5")],
                    vip: ip("10.103.97.2"),
                    apiserver_name: "apiserver.cluster.local".into(),
                    pod_cidr: "100.64.0.0/10".parse().expect("cidr"),
                    svc_cidr: "10.96.0.0/12".parse().expect("cidr"),
                    cert_sans: vec!["sealyun.com".into()],
                },
                token: "abcdef.0123456789abcdef".parse().expect("token"),
                certificate_key: "cd".repeat(32).parse().expect("key"),
                ca_cert_hash: None,
                image_repository: None,
                cri_socket: None,
                cgroup_driver: None,
            },
            package: "/root/kube1.20.2.tar.gz".into(),
            package_sha256: "ab".repeat(32),
            user: "root".into(),
            ssh_port: 22,
            bastion: None,
            key_path: Some("/root/.ssh/id_ed25519".into()),
            lvscare_mode: LvscareMode::StaticPod,
            lvscare_image: "lvscare:v0.1.0".into(),
            lvscare_metrics_addr: None,
            created: rfc3339(at(1_700_000_000)),
            updated: rfc3339(at(1_700_000_000)),
        }
    }

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!("seal-cluster-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn round_trips_through_yaml_and_disk_with_mode_0600() {
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join(".seal").join("cluster.yaml");
        let mut c = sample();
        c.lvscare_mode = LvscareMode::Systemd;
        c.ca_cert_hash = Some(format!("sha256:{}", "ef".repeat(32)).parse().expect("hash"));
        save(&path, &c).expect("save");
        assert_eq!(load(&path).expect("load"), c);
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("dir")), 0o700);
        // A file made readable by others is replaced by a 0600 one on the next save.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        save(&path, &sample()).expect("save again");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(load(&path).expect("load"), sample());
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["cluster.yaml"], "no temp file left behind");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains("lvscare_mode: static-pod") && text.contains("vip: 10.103.97.2"),
            "{text}"
        );
    }

    #[test]
    fn errors_name_the_file() {
        let dir = TempDir::new("errors");
        let missing = dir.0.join("nope.yaml");
        let err = load(&missing).expect_err("missing");
        assert!(matches!(err, ClusterFileError::Missing { .. }));
        assert!(
            err.to_string().contains(&*missing.to_string_lossy()),
            "{err}"
        );
        assert!(err.to_string().contains("seal-install init"));

        std::fs::create_dir_all(&dir.0).expect("dir");
        let bad = dir.0.join("bad.yaml");
        let cases = [
            ("masters: [1.2.3.4\n", "not valid"),
            (
                &sample().to_yaml().replace("v1.20.2", "v1.14.0") as &str,
                "not supported",
            ),
            (
                &sample().to_yaml().replace("static-pod", "daemonset"),
                "unknown lvscare mode",
            ),
            (
                &sample().to_yaml().replace("192.168.0.5", "192.168.0.2"),
                "listed twice",
            ),
            (
                &{
                    let mut c = sample();
                    c.masters = vec![];
                    c.nodes = vec![];
                    c
                }
                .to_yaml(),
                "lists no master",
            ),
            (
                &format!("{}passwd: hunter2\n", sample().to_yaml()),
                "unknown field `passwd`",
            ),
        ];
        for (text, msg) in cases {
            std::fs::write(&bad, text).expect("write");
            let err = load(&bad).expect_err(text);
            assert!(err.to_string().contains(&*bad.to_string_lossy()), "{err}");
            assert!(err.to_string().contains(msg), "{msg}: {err}");
        }
        // Writing where a directory stands fails with a typed error naming the file.
        let err = save(&dir.0, &sample()).expect_err("a directory");
        assert!(matches!(err, ClusterFileError::Write { .. }));
        assert!(err.to_string().contains(&*dir.0.to_string_lossy()));
    }

    #[test]
    fn join_adds_hosts_and_rejects_duplicates_atomically() {
        let mut c = sample();
        c.add_hosts(
            &[ip("192.168.0.4")],
            &[ip("192.168.0.6")],
            at(1_800_000_000),
        )
        .expect("adds");
        assert_eq!(c.masters.last(), Some(&ip("192.168.0.4")));
        assert_eq!(c.nodes, [ip("192.168.0.5"), ip("192.168.0.6")]);
        assert_eq!(c.updated, "2027-01-15T08:00:00Z");
        assert_eq!(c.created, sample().created);
        let before = c.clone();
        let cases: Vec<(Vec<IpAddr>, Vec<IpAddr>, MergeError)> = vec![
            (
                vec![ip("192.168.0.2")],
                vec![],
                MergeError::AlreadyMember {
                    ip: ip("192.168.0.2"),
                    role: "master",
                },
            ),
            (
                vec![ip("192.168.0.5")],
                vec![],
                MergeError::AlreadyMember {
                    ip: ip("192.168.0.5"),
                    role: "node",
                },
            ),
            (
                vec![ip("192.168.0.9")],
                vec![ip("192.168.0.9")],
                MergeError::ListedTwice {
                    ip: ip("192.168.0.9"),
                },
            ),
            (
                vec![],
                vec![ip("192.168.0.7"), ip("10.103.97.2")],
                MergeError::IsVip {
                    ip: ip("10.103.97.2"),
                },
            ),
            (
                vec![],
                vec![ip("fd00::7")],
                MergeError::MixedFamily {
                    ip: ip("fd00::7"),
                    vip: ip("10.103.97.2"),
                },
            ),
        ];
        for (m, n, want) in cases {
            assert_eq!(c.add_hosts(&m, &n, at(1)), Err(want));
            assert_eq!(c, before, "a refused join changes nothing");
        }
    }

    #[test]
    fn clean_removes_hosts() {
        let mut c = sample();
        let before = c.clone();
        let err = c
            .remove_hosts(&[ip("192.168.0.5")], &[], at(1))
            .expect_err("a node as master");
        assert!(
            err.to_string().contains("192.168.0.5 is not a master"),
            "{err}"
        );
        assert!(err.to_string().contains("nodes: 192.168.0.5"), "{err}");
        assert_eq!(
            c.remove_hosts(&[ip("192.168.0.2"), ip("192.168.0.3")], &[], at(1)),
            Err(MergeError::NoMastersLeft)
        );
        assert_eq!(
            c.remove_hosts(&[], &[ip("192.168.0.5"), ip("192.168.0.5")], at(1)),
            Err(MergeError::ListedTwice {
                ip: ip("192.168.0.5")
            })
        );
        assert_eq!(c, before);
        c.remove_hosts(&[ip("192.168.0.2")], &[], at(2))
            .expect("removes master0");
        assert_eq!(c.masters, [ip("192.168.0.3")]);
        assert_eq!(c.kubeadm_params().masters[0], ip("192.168.0.3"));
        c.remove_hosts(&[ip("192.168.0.3")], &[ip("192.168.0.5")], at(3))
            .expect("removes all");
        assert!(c.is_empty());
    }

    #[test]
    fn time_format() {
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_709_210_096)), "2024-02-29T12:34:56Z");
        assert_eq!(rfc3339(at(4_102_444_799)), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn default_path_is_under_home() {
        assert_eq!(
            default_path(Some("/home/u".as_ref())),
            Some(PathBuf::from("/home/u/.seal/cluster.yaml"))
        );
        assert_eq!(default_path(None), None);
        assert_eq!(default_path(Some("".as_ref())), None);
    }
}
