//! Reading a kubeconfig (kubelet's `/etc/kubernetes/kubelet.conf`, typically) for the one thing
//! lvscare asks the apiserver: where the server is, the CA to verify it with, and the client
//! credentials (certificate and key, or a bearer token). Only what kubeadm writes is supported;
//! exec and auth-provider plugins are refused with a message, never run.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

/// Client credentials. Debug never shows key or token.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// A client certificate and its key (PEM).
    ClientCert {
        /// Certificate chain.
        cert_pem: Vec<u8>,
        /// Private key.
        key_pem: Vec<u8>,
    },
    /// A bearer token.
    Token(String),
    /// None (an apiserver that allows anonymous reads of the endpoints).
    Anonymous,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::ClientCert { cert_pem, .. } => {
                write!(f, "ClientCert({} bytes, key hidden)", cert_pem.len())
            }
            Auth::Token(_) => f.write_str("Token(hidden)"),
            Auth::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// What lvscare needs of a kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeConfig {
    /// The server's host name or address (the name its certificate is checked against).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The CA bundle (PEM); `None` means the system roots, which a kubeadm cluster never uses.
    pub ca_pem: Option<Vec<u8>>,
    /// How lvscare authenticates.
    pub auth: Auth,
}

/// Why a kubeconfig cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KubeConfigError {
    /// Not YAML of a kubeconfig's shape.
    #[error("not a kubeconfig: {0}")]
    Yaml(String),
    /// A context, cluster or user it refers to is missing.
    #[error("it has no {what} named {name:?}")]
    Missing {
        /// "context", "cluster" or "user".
        what: &'static str,
        /// The name looked for.
        name: String,
    },
    /// No current-context.
    #[error("it has no current-context")]
    NoCurrentContext,
    /// The server is not an https URL with a host.
    #[error("server {0:?} is not an https://HOST[:PORT] URL")]
    BadServer(String),
    /// A `*-data` field that is not base64.
    #[error("{0} is not base64")]
    BadBase64(&'static str),
    /// A credential plugin.
    #[error("user {0:?} authenticates through a plugin, which lvscare does not run; give a kubeconfig with a client certificate or a token (kubelet's /etc/kubernetes/kubelet.conf has one)")]
    Plugin(String),
    /// A certificate without its key or the other way round.
    #[error("user {0:?} has a client certificate or key without the other")]
    HalfPair(String),
    /// A file it names cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Raw {
    #[serde(default)]
    clusters: Vec<Named<RawCluster>>,
    #[serde(default)]
    contexts: Vec<Named<RawContext>>,
    #[serde(default)]
    users: Vec<Named<RawUser>>,
    #[serde(default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "context", alias = "user")]
    item: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawCluster {
    server: String,
    #[serde(default)]
    certificate_authority: Option<PathBuf>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
}

#[derive(Deserialize)]
struct RawContext {
    cluster: String,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawUser {
    #[serde(default)]
    client_certificate: Option<PathBuf>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key: Option<PathBuf>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    exec: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    auth_provider: Option<serde_yaml_ng::Value>,
}

fn find<'a, T>(
    list: &'a [Named<T>],
    what: &'static str,
    name: &str,
) -> Result<&'a T, KubeConfigError> {
    list.iter()
        .find(|n| n.name == name)
        .map(|n| &n.item)
        .ok_or_else(|| KubeConfigError::Missing {
            what,
            name: name.to_string(),
        })
}

/// `https://HOST[:PORT][/]` → (host, port); brackets of an IPv6 host are removed.
fn server(url: &str) -> Result<(String, u16), KubeConfigError> {
    let bad = || KubeConfigError::BadServer(url.to_string());
    let uri: hyper::Uri = url.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("https") || !matches!(uri.path(), "" | "/") {
        return Err(bad());
    }
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), uri.port_u16().unwrap_or(443)))
}

/// Inline data (base64) or a file (relative to the kubeconfig's folder), whichever is set;
/// inline wins, as in kubectl.
fn material(
    data: &Option<String>,
    file: &Option<PathBuf>,
    field: &'static str,
    dir: &Path,
    read: &dyn Fn(&Path) -> io::Result<Vec<u8>>,
) -> Result<Option<Vec<u8>>, KubeConfigError> {
    if let Some(d) = data {
        return base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map(Some)
            .map_err(|_| KubeConfigError::BadBase64(field));
    }
    match file {
        None => Ok(None),
        Some(f) => {
            let path = dir.join(f);
            read(&path)
                .map(Some)
                .map_err(|source| KubeConfigError::Read { path, source })
        }
    }
}

/// Parses kubeconfig `text` whose files are relative to `dir`, reading them with `read`.
pub fn parse(
    text: &str,
    dir: &Path,
    read: &dyn Fn(&Path) -> io::Result<Vec<u8>>,
) -> Result<KubeConfig, KubeConfigError> {
    let raw: Raw =
        serde_yaml_ng::from_str(text).map_err(|e| KubeConfigError::Yaml(e.to_string()))?;
    let current = raw
        .current_context
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(KubeConfigError::NoCurrentContext)?;
    let context = find(&raw.contexts, "context", current)?;
    let cluster = find(&raw.clusters, "cluster", &context.cluster)?;
    let (host, port) = server(&cluster.server)?;
    let ca_pem = material(
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
        "certificate-authority-data",
        dir,
        read,
    )?;
    let none = RawUser::default();
    let (user_name, user) = match &context.user {
        Some(u) => (u.as_str(), find(&raw.users, "user", u)?),
        None => ("", &none),
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(KubeConfigError::Plugin(user_name.to_string()));
    }
    let cert = material(
        &user.client_certificate_data,
        &user.client_certificate,
        "client-certificate-data",
        dir,
        read,
    )?;
    let key = material(
        &user.client_key_data,
        &user.client_key,
        "client-key-data",
        dir,
        read,
    )?;
    let auth = match (cert, key, &user.token) {
        (Some(cert_pem), Some(key_pem), _) => Auth::ClientCert { cert_pem, key_pem },
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(KubeConfigError::HalfPair(user_name.to_string()))
        }
        (None, None, Some(t)) => Auth::Token(t.clone()),
        (None, None, None) => Auth::Anonymous,
    };
    Ok(KubeConfig {
        host,
        port,
        ca_pem,
        auth,
    })
}

/// Reads and parses the kubeconfig at `path`.
pub fn load(path: &Path) -> Result<KubeConfig, KubeConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| KubeConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, dir, &|p| std::fs::read(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What kubeadm v1.20 writes as /etc/kubernetes/kubelet.conf on a joined node.
    const KUBELET_CONF: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EgUEVN
    server: https://apiserver.cluster.local:6443
  name: default-cluster
contexts:
- context:
    cluster: default-cluster
    namespace: default
    user: default-auth
  name: default-context
current-context: default-context
kind: Config
preferences: {}
users:
- name: default-auth
  user:
    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem
    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem
";

    fn files(p: &Path) -> io::Result<Vec<u8>> {
        match p.to_str() {
            Some("/var/lib/kubelet/pki/kubelet-client-current.pem") => Ok(b"CERT AND KEY".to_vec()),
            Some("/etc/kubernetes/ca.crt") => Ok(b"CA FILE".to_vec()),
            _ => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    fn parse_str(text: &str) -> Result<KubeConfig, KubeConfigError> {
        parse(text, Path::new("/etc/kubernetes"), &files)
    }

    #[test]
    fn kubelets_kubeconfig_gives_server_ca_and_client_pair() {
        let k = parse_str(KUBELET_CONF).unwrap();
        assert_eq!((k.host.as_str(), k.port), ("apiserver.cluster.local", 6443));
        assert_eq!(k.ca_pem.as_deref(), Some(&b"CA PEM"[..]));
        assert_eq!(
            k.auth,
            Auth::ClientCert {
                cert_pem: b"CERT AND KEY".to_vec(),
                key_pem: b"CERT AND KEY".to_vec()
            }
        );
        // Debug shows no key material.
        assert!(!format!("{k:?}").contains("CERT AND KEY"));
    }

    #[test]
    fn token_files_relative_paths_and_ipv6_servers() {
        let text = KUBELET_CONF
            .replace("certificate-authority-data: Q0EgUEVN", "certificate-authority: ca.crt")
            .replace("https://apiserver.cluster.local:6443", "https://[fd00::2]:6443/")
            .replace(
                "    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n",
                "    token: abc.def\n",
            );
        let k = parse_str(&text).unwrap();
        assert_eq!((k.host.as_str(), k.port), ("fd00::2", 6443));
        assert_eq!(k.ca_pem.as_deref(), Some(&b"CA FILE"[..]));
        assert_eq!(k.auth, Auth::Token("abc.def".into()));
        assert_eq!(format!("{:?}", k.auth), "Token(hidden)");
    }

    #[test]
    fn unusable_kubeconfigs_say_why() {
        let cases: Vec<(String, &str)> = vec![
            ("{}".into(), "no current-context"),
            (
                KUBELET_CONF.replace("current-context: default-context", "current-context: other"),
                "no context named \"other\"",
            ),
            (
                KUBELET_CONF.replace("  name: default-cluster", "  name: renamed"),
                "no cluster named \"default-cluster\"",
            ),
            (
                KUBELET_CONF.replace("https://", "http://"),
                "is not an https://HOST[:PORT] URL",
            ),
            (
                KUBELET_CONF.replace(":6443", ":6443/api"),
                "is not an https://HOST[:PORT] URL",
            ),
            (
                KUBELET_CONF.replace("Q0EgUEVN", "not*base64"),
                "certificate-authority-data is not base64",
            ),
            (
                KUBELET_CONF.replace(
                    "    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n",
                    "",
                ),
                "without the other",
            ),
            (
                KUBELET_CONF.replace(
                    "    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n",
                    "    exec:\n      command: aws\n",
                ),
                "through a plugin",
            ),
            (
                KUBELET_CONF.replace(
                    "/var/lib/kubelet/pki/kubelet-client-current.pem",
                    "gone.pem",
                ),
                "/etc/kubernetes/gone.pem",
            ),
            ("- just\n- a list\n".into(), "not a kubeconfig"),
        ];
        for (text, want) in cases {
            let e = parse_str(&text).expect_err(want);
            assert!(e.to_string().contains(want), "{e} lacks {want:?}");
        }
    }
}
