//! kubeadm configuration: versions, credentials the installer makes itself, and rendering.
//!
//! The installer generates the bootstrap token and the certificate key before `kubeadm init` and
//! writes them into the InitConfiguration, so joins never depend on scraping kubeadm's output.
//!
//! Fields a template sees (names of the older installer kept where they existed):
//!
//! | field | value |
//! |---|---|
//! | `.Version` | `v1.20.2` |
//! | `.KubeadmApi` | `kubeadm.k8s.io/v1beta2` (by version) |
//! | `.Masters`, `.Nodes` | lists of IP addresses |
//! | `.Master0`, `.Master0Endpoint` | the first master, and `IP:6443` (`[IPv6]:6443`) |
//! | `.VIP`, `.VIPEndpoint`, `.VIPCIDR` | `10.103.97.2`, `10.103.97.2:6443`, `10.103.97.2/32` |
//! | `.ApiServer` | `apiserver.cluster.local` |
//! | `.PodCIDR`, `.SvcCIDR` | `100.64.0.0/10`, `10.96.0.0/12` |
//! | `.CertSANs` (also `.CertSANS`) | extra certificate names |
//! | `.Token` (also `.TokenDiscovery`) | the bootstrap token |
//! | `.CertificateKey` | the key of the uploaded control-plane certificates |
//! | `.CAHash` (also `.TokenDiscoveryCAHash`) | `sha256:…` or empty |
//! | `.Master` | the joining master (join of a master), else empty |
//! | `.Repo`, `.CriSocket`, `.CgroupDriver`, `.Network` | optional settings, empty when unset |
//! | `.CertValidity` | `867240h` (99 years) |
//! | `.ClusterSigningDurationFlag` | controller-manager flag for that duration, by version |

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::str::FromStr;

use crate::template::{Template, TemplateError, Value};

/// The name every host resolves to its apiserver through /etc/hosts.
pub const DEFAULT_APISERVER_NAME: &str = "apiserver.cluster.local";
/// Default pod network.
pub const DEFAULT_POD_CIDR: &str = "100.64.0.0/10";
/// Default service network.
pub const DEFAULT_SVC_CIDR: &str = "10.96.0.0/12";
/// Default VIP nodes reach the apiservers through.
pub const DEFAULT_VIP: &str = "10.103.97.2";
/// 99 years (99 × 365 × 24 h): certificates that outlive the cluster.
pub const CERT_VALIDITY: &str = "867240h";
/// The apiserver port.
pub const APISERVER_PORT: u16 = 6443;

const INIT_V1BETA2: &str = include_str!("../templates/kubeadm-init.v1beta2.yaml.tmpl");
const INIT_V1BETA3: &str = include_str!("../templates/kubeadm-init.v1beta3.yaml.tmpl");
const INIT_V1BETA4: &str = include_str!("../templates/kubeadm-init.v1beta4.yaml.tmpl");
/// The JoinConfiguration template (every API version).
pub const JOIN_TEMPLATE: &str = include_str!("../templates/kubeadm-join.yaml.tmpl");

/// What can go wrong preparing a kubeadm configuration.
#[derive(Debug, thiserror::Error)]
pub enum KubeadmError {
    /// The version string is malformed.
    #[error("bad Kubernetes version `{0}`: write it as vMAJOR.MINOR.PATCH, e.g. v1.20.2")]
    BadVersion(String),
    /// The version is older than the installer supports.
    #[error("Kubernetes {0} is not supported: seal-install needs v1.15.0 or later")]
    Unsupported(KubeVersion),
    /// A malformed bootstrap token.
    #[error("bad bootstrap token: it must match [a-z0-9]{{6}}.[a-z0-9]{{16}}")]
    BadToken,
    /// A malformed certificate key.
    #[error("bad certificate key: it must be 64 hex digits")]
    BadCertificateKey,
    /// A malformed CA certificate hash.
    #[error("bad CA certificate hash `{0}`: it must be sha256: followed by 64 hex digits")]
    BadCaHash(String),
    /// A malformed CIDR.
    #[error("bad CIDR `{value}`: {why}")]
    BadCidr {
        /// What was given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// There is no master to render for.
    #[error("no master: a cluster needs at least one")]
    NoMasters,
    /// A template did not parse or render.
    #[error("kubeadm template: {0}")]
    Template(#[from] TemplateError),
    /// The rendered configuration is not YAML.
    #[error("{name} rendered to invalid YAML: {message}")]
    Yaml {
        /// The template's name.
        name: String,
        /// The parser's message (its line refers to the rendered text).
        message: String,
    },
    /// A user template lacks something the installer relies on.
    #[error("{name}: {problem}; {fix}")]
    UserTemplate {
        /// The template's name.
        name: String,
        /// What is missing or wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
    /// The system's random source failed.
    #[error("cannot read /dev/urandom: {0}")]
    Random(#[from] std::io::Error),
}

// ---------------------------------------------------------------- versions

/// A Kubernetes version, `vMAJOR.MINOR.PATCH` with an optional `-suffix`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KubeVersion {
    /// Major (always 1 for supported versions).
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
    /// A pre-release suffix such as `rc.1`, without the dash.
    pub pre: Option<String>,
}

impl FromStr for KubeVersion {
    type Err = KubeadmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || KubeadmError::BadVersion(s.to_string());
        let body = s.strip_prefix('v').unwrap_or(s);
        let (core, pre) = match body.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (body, None),
        };
        if pre.is_some_and(|p| {
            p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        }) {
            return Err(bad());
        }
        let nums: Vec<&str> = core.split('.').collect();
        if nums.len() != 3 {
            return Err(bad());
        }
        let mut n = [0u32; 3];
        for (slot, part) in n.iter_mut().zip(&nums) {
            if part.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) || part.len() > 6 {
                return Err(bad());
            }
            *slot = part.parse().map_err(|_| bad())?;
        }
        Ok(KubeVersion {
            major: n[0],
            minor: n[1],
            patch: n[2],
            pre: pre.map(str::to_string),
        })
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(p) = &self.pre {
            write!(f, "-{p}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for KubeVersion {
    type Error = KubeadmError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<KubeVersion> for String {
    fn from(v: KubeVersion) -> String {
        v.to_string()
    }
}

/// The kubeadm configuration API a version takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KubeadmApi {
    /// Kubernetes 1.15 to 1.22.
    V1beta2,
    /// Kubernetes 1.23 to 1.30.
    V1beta3,
    /// Kubernetes 1.31 and later.
    V1beta4,
}

impl KubeadmApi {
    /// The API for a Kubernetes version (older than 1.15 is unsupported).
    pub fn for_version(v: &KubeVersion) -> Result<KubeadmApi, KubeadmError> {
        match (v.major, v.minor) {
            (1, 15..=22) => Ok(KubeadmApi::V1beta2),
            (1, 23..=30) => Ok(KubeadmApi::V1beta3),
            (1, 31..) => Ok(KubeadmApi::V1beta4),
            _ => Err(KubeadmError::Unsupported(v.clone())),
        }
    }

    /// The `apiVersion:` value.
    pub fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1beta2 => "kubeadm.k8s.io/v1beta2",
            KubeadmApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
            KubeadmApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }

    /// The default init template (Init, Cluster and KubeProxy configurations) for this API.
    pub fn default_init_template(self) -> &'static str {
        match self {
            KubeadmApi::V1beta2 => INIT_V1BETA2,
            KubeadmApi::V1beta3 => INIT_V1BETA3,
            KubeadmApi::V1beta4 => INIT_V1BETA4,
        }
    }
}

// ---------------------------------------------------------------- credentials

const TOKEN_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `n` characters of `alphabet`, uniformly drawn from `rng` (rejection sampling: no modulo bias).
fn random_chars(rng: &mut impl Read, alphabet: &[u8], n: usize) -> std::io::Result<String> {
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut buf = vec![0u8; n - out.len()];
        rng.read_exact(&mut buf)?;
        for b in buf {
            if (b as usize) < limit {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

fn urandom() -> std::io::Result<std::fs::File> {
    std::fs::File::open("/dev/urandom")
}

fn redacted(f: &mut fmt::Formatter<'_>, ty: &str, shown: &str) -> fmt::Result {
    write!(f, "{ty}({shown}…)")
}

/// A kubeadm bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`; Debug shows only the public id.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BootstrapToken(String);

impl BootstrapToken {
    /// A fresh token from /dev/urandom.
    pub fn generate() -> Result<Self, KubeadmError> {
        Ok(Self::generate_from(&mut urandom()?)?)
    }

    /// A token from the given random source.
    pub fn generate_from(rng: &mut impl Read) -> std::io::Result<Self> {
        let id = random_chars(rng, TOKEN_ALPHABET, 6)?;
        let secret = random_chars(rng, TOKEN_ALPHABET, 16)?;
        Ok(BootstrapToken(format!("{id}.{secret}")))
    }

    /// The public part before the dot (what `kubeadm token delete` takes).
    pub fn id(&self) -> &str {
        &self.0[..6]
    }

    /// The whole token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BootstrapToken {
    type Err = KubeadmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_part = |p: &str, n: usize| {
            p.len() == n
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        };
        match s.split_once('.') {
            Some((id, secret)) if ok_part(id, 6) && ok_part(secret, 16) => {
                Ok(BootstrapToken(s.to_string()))
            }
            _ => Err(KubeadmError::BadToken),
        }
    }
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "BootstrapToken", &format!("{}.", self.id()))
    }
}

impl TryFrom<String> for BootstrapToken {
    type Error = KubeadmError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<BootstrapToken> for String {
    fn from(t: BootstrapToken) -> String {
        t.0
    }
}

/// The key that encrypts the control-plane certificates kubeadm uploads (64 hex digits).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CertificateKey(String);

impl CertificateKey {
    /// A fresh key from /dev/urandom.
    pub fn generate() -> Result<Self, KubeadmError> {
        Ok(Self::generate_from(&mut urandom()?)?)
    }

    /// A key from the given random source (32 bytes).
    pub fn generate_from(rng: &mut impl Read) -> std::io::Result<Self> {
        let mut b = [0u8; 32];
        rng.read_exact(&mut b)?;
        Ok(CertificateKey(hex(&b)))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl FromStr for CertificateKey {
    type Err = KubeadmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_hex(s, 64) {
            Ok(CertificateKey(s.to_string()))
        } else {
            Err(KubeadmError::BadCertificateKey)
        }
    }
}

impl fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "CertificateKey", "")
    }
}

impl TryFrom<String> for CertificateKey {
    type Error = KubeadmError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CertificateKey> for String {
    fn from(k: CertificateKey) -> String {
        k.0
    }
}

/// `sha256:<hex>` of the cluster CA's public key, as `kubeadm join` verifies it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaCertHash(String);

impl CaCertHash {
    /// The hash of a DER SubjectPublicKeyInfo (what kubeadm hashes).
    pub fn of_public_key_der(spki_der: &[u8]) -> CaCertHash {
        use sha2::Digest;
        CaCertHash(format!("sha256:{}", hex(&sha2::Sha256::digest(spki_der))))
    }

    /// The `sha256:…` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CaCertHash {
    type Err = KubeadmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("sha256:") {
            Some(h) if is_hex(h, 64) => Ok(CaCertHash(s.to_string())),
            _ => Err(KubeadmError::BadCaHash(s.to_string())),
        }
    }
}

impl TryFrom<String> for CaCertHash {
    type Error = KubeadmError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CaCertHash> for String {
    fn from(h: CaCertHash) -> String {
        h.0
    }
}

// ---------------------------------------------------------------- networks

/// An IP network `address/prefix` with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

fn ip_bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u32::from(a) as u128, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// The network mask of `prefix` bits in a `width`-bit address, as the low bits of a u128.
fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        (u128::MAX << (128 - prefix as u32)) >> (128 - width as u32)
    }
}

impl Cidr {
    /// The single-address network of `ip` (/32 or /128).
    pub fn host(ip: IpAddr) -> Cidr {
        Cidr {
            addr: ip,
            prefix: ip_bits(ip).1,
        }
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, width) = ip_bits(self.addr);
        let (x, w) = ip_bits(ip);
        w == width && x & mask(self.prefix, width) == net
    }

    /// Whether the two networks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

impl FromStr for Cidr {
    type Err = KubeadmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| KubeadmError::BadCidr {
            value: s.to_string(),
            why,
        };
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| bad("write it as ADDRESS/PREFIX, e.g. 10.96.0.0/12".into()))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad(format!("`{addr}` is not an IP address")))?;
        let (bits, width) = ip_bits(addr);
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= width)
            .ok_or_else(|| bad(format!("the prefix must be a number from 0 to {width}")))?;
        let net = bits & mask(prefix, width);
        if net != bits {
            let fixed = match addr {
                IpAddr::V4(_) => IpAddr::from(std::net::Ipv4Addr::from(net as u32)),
                IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::from(net)),
            };
            return Err(bad(format!(
                "host bits are set; the network is {fixed}/{prefix}"
            )));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for Cidr {
    type Error = KubeadmError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

/// `ip:port`, IPv6 in brackets.
pub fn endpoint(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

// ---------------------------------------------------------------- rendering

/// Everything the kubeadm configurations are made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeadmParams {
    /// Kubernetes version.
    pub version: KubeVersion,
    /// Control-plane hosts; the first is master0.
    pub masters: Vec<IpAddr>,
    /// Worker nodes.
    pub nodes: Vec<IpAddr>,
    /// The VIP lvscare serves on nodes.
    pub vip: IpAddr,
    /// The apiserver name (`apiserver.cluster.local`).
    pub apiserver_name: String,
    /// Pod network.
    pub pod_cidr: Cidr,
    /// Service network.
    pub svc_cidr: Cidr,
    /// Extra certificate names or addresses.
    pub cert_sans: Vec<String>,
    /// The bootstrap token written into InitConfiguration.
    pub token: BootstrapToken,
    /// The certificate key written into InitConfiguration.
    pub certificate_key: CertificateKey,
    /// The CA hash for node discovery, when known (else discovery skips CA pinning).
    pub ca_cert_hash: Option<CaCertHash>,
    /// `imageRepository`, when not kubeadm's default.
    pub image_repository: Option<String>,
    /// The CRI socket, when not kubeadm's autodetection.
    pub cri_socket: Option<String>,
    /// kubelet's cgroup driver, when set explicitly.
    pub cgroup_driver: Option<String>,
}

fn strs(ips: &[IpAddr]) -> Value {
    Value::List(ips.iter().map(|i| Value::Str(i.to_string())).collect())
}

fn opt(s: &Option<String>) -> Value {
    Value::Str(s.clone().unwrap_or_default())
}

impl KubeadmParams {
    /// The kubeadm API of this version.
    pub fn api(&self) -> Result<KubeadmApi, KubeadmError> {
        KubeadmApi::for_version(&self.version)
    }

    /// The data templates see; `joining_master` fills `.Master`.
    pub fn template_data(&self, joining_master: Option<IpAddr>) -> Result<Value, KubeadmError> {
        let api = self.api()?;
        let master0 = *self.masters.first().ok_or(KubeadmError::NoMasters)?;
        let signing_flag = if self.version.minor < 19 {
            "experimental-cluster-signing-duration"
        } else {
            "cluster-signing-duration"
        };
        let sans = Value::from(self.cert_sans.clone());
        let token = Value::from(self.token.as_str());
        let ca = Value::Str(
            self.ca_cert_hash
                .as_ref()
                .map(|h| h.as_str().to_string())
                .unwrap_or_default(),
        );
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("Version", Value::Str(self.version.to_string()));
        put("KubeadmApi", api.api_version().into());
        put("Masters", strs(&self.masters));
        put("Nodes", strs(&self.nodes));
        put("Master0", Value::Str(master0.to_string()));
        put(
            "Master0Endpoint",
            Value::Str(endpoint(master0, APISERVER_PORT)),
        );
        put("VIP", Value::Str(self.vip.to_string()));
        put(
            "VIPEndpoint",
            Value::Str(endpoint(self.vip, APISERVER_PORT)),
        );
        put("VIPCIDR", Value::Str(Cidr::host(self.vip).to_string()));
        put("ApiServer", Value::Str(self.apiserver_name.clone()));
        put("PodCIDR", Value::Str(self.pod_cidr.to_string()));
        put("SvcCIDR", Value::Str(self.svc_cidr.to_string()));
        put("CertSANs", sans.clone());
        put("CertSANS", sans);
        put("Token", token.clone());
        put("TokenDiscovery", token);
        put("CertificateKey", self.certificate_key.as_str().into());
        put("CAHash", ca.clone());
        put("TokenDiscoveryCAHash", ca);
        put(
            "Master",
            Value::Str(joining_master.map(|m| m.to_string()).unwrap_or_default()),
        );
        put("Repo", opt(&self.image_repository));
        put("CriSocket", opt(&self.cri_socket));
        put("CgroupDriver", opt(&self.cgroup_driver));
        put("Network", Value::Str(String::new()));
        put("CertValidity", CERT_VALIDITY.into());
        put("ClusterSigningDurationFlag", signing_flag.into());
        Ok(Value::Map(m))
    }

    /// The init configuration from the default template, or from `user` = (name, source).
    ///
    /// A user template's output is checked: it must carry the installer's token and certificate
    /// key (or have no InitConfiguration, then the default one is added), the controlPlaneEndpoint
    /// `ApiServer:6443`, and, with kube-proxy in IPVS mode, the VIP in `excludeCIDRs` (a missing
    /// KubeProxyConfiguration gets the default one).
    pub fn render_init(&self, user: Option<(&str, &str)>) -> Result<String, KubeadmError> {
        let data = self.template_data(None)?;
        let default_src = self.api()?.default_init_template();
        let default = Template::parse("default kubeadm template", default_src)?.render(&data)?;
        let Some((name, src)) = user else {
            // The default must pass the same checks (guards the shipped templates).
            self.check_init("default kubeadm template", &default, &default)?;
            return Ok(default);
        };
        let rendered = Template::parse(name, src)?.render(&data)?;
        self.check_init(name, &rendered, &default)
    }

    /// The JoinConfiguration for a control-plane host.
    pub fn render_join_master(&self, master: IpAddr) -> Result<String, KubeadmError> {
        let data = self.template_data(Some(master))?;
        Ok(Template::parse("join template", JOIN_TEMPLATE)?.render(&data)?)
    }

    /// The JoinConfiguration for a worker node (discovery through the VIP).
    pub fn render_join_node(&self) -> Result<String, KubeadmError> {
        let data = self.template_data(None)?;
        Ok(Template::parse("join template", JOIN_TEMPLATE)?.render(&data)?)
    }

    /// Commands, run on a working master, that make this token and certificate key valid again
    /// for a later `join` (the token lives 24 h, uploaded certificates 2 h).
    pub fn refresh_join_credentials(&self) -> Vec<String> {
        vec![
            format!(
                "kubeadm token delete {} >/dev/null 2>&1; kubeadm token create {} --ttl 24h0m0s",
                self.token.id(),
                self.token.as_str()
            ),
            format!(
                "kubeadm init phase upload-certs --upload-certs --certificate-key {}",
                self.certificate_key.as_str()
            ),
        ]
    }

    /// Checks a rendered init configuration and adds what the installer can add itself.
    fn check_init(
        &self,
        name: &str,
        rendered: &str,
        default: &str,
    ) -> Result<String, KubeadmError> {
        let docs = split_documents(name, rendered)?;
        let defaults = split_documents("default kubeadm template", default)?;
        let find = |docs: &[Doc], kind: &str| docs.iter().position(|d| d.kind == kind);
        let user_err = |problem: &str, fix: &str| KubeadmError::UserTemplate {
            name: name.to_string(),
            problem: problem.to_string(),
            fix: fix.to_string(),
        };
        let mut prepend = None;
        let mut append = None;
        match find(&docs, "InitConfiguration") {
            None => {
                prepend = find(&defaults, "InitConfiguration").map(|i| defaults[i].text.clone())
            }
            Some(i) => {
                let v = &docs[i].value;
                let tokens: Vec<&str> = v
                    .get("bootstrapTokens")
                    .and_then(|t| t.as_sequence())
                    .map(|s| s.iter().filter_map(|t| t.get("token")?.as_str()).collect())
                    .unwrap_or_default();
                if !tokens.contains(&self.token.as_str()) {
                    return Err(user_err(
                        "its InitConfiguration lacks the installer's bootstrap token",
                        "add `bootstrapTokens: [{token: \"{{.Token}}\"}]` (or delete the InitConfiguration document: seal-install then adds its own)",
                    ));
                }
                if v.get("certificateKey").and_then(|k| k.as_str())
                    != Some(self.certificate_key.as_str())
                {
                    return Err(user_err(
                        "its InitConfiguration lacks the installer's certificate key",
                        "add `certificateKey: \"{{.CertificateKey}}\"` (or delete the InitConfiguration document: seal-install then adds its own)",
                    ));
                }
            }
        }
        let Some(ci) = find(&docs, "ClusterConfiguration") else {
            return Err(user_err(
                "it has no ClusterConfiguration document",
                "start from `seal-install config -t kubeadm` and keep its ClusterConfiguration",
            ));
        };
        let want_endpoint = format!("{}:{APISERVER_PORT}", self.apiserver_name);
        if docs[ci]
            .value
            .get("controlPlaneEndpoint")
            .and_then(|e| e.as_str())
            != Some(want_endpoint.as_str())
        {
            return Err(user_err(
                &format!("its controlPlaneEndpoint is not {want_endpoint} (every host reaches its apiserver through that name)"),
                "set `controlPlaneEndpoint: \"{{.ApiServer}}:6443\"`",
            ));
        }
        match find(&docs, "KubeProxyConfiguration") {
            None => {
                append = find(&defaults, "KubeProxyConfiguration").map(|i| defaults[i].text.clone())
            }
            Some(i) => {
                let v = &docs[i].value;
                let ipvs = v.get("mode").and_then(|m| m.as_str()) == Some("ipvs");
                let want = Cidr::host(self.vip).to_string();
                let excluded = v
                    .get("ipvs")
                    .and_then(|i| i.get("excludeCIDRs"))
                    .and_then(|e| e.as_sequence())
                    .is_some_and(|s| s.iter().any(|c| c.as_str() == Some(want.as_str())));
                if ipvs && !excluded {
                    return Err(user_err(
                        &format!("kube-proxy runs in IPVS mode but does not exclude {want}, so it would delete lvscare's virtual server"),
                        "add `ipvs: {excludeCIDRs: [\"{{.VIPCIDR}}\"]}` to the KubeProxyConfiguration",
                    ));
                }
            }
        }
        let mut out = String::new();
        if let Some(p) = prepend {
            out.push_str(&p);
            out.push_str("---\n");
        }
        out.push_str(rendered);
        if let Some(a) = append {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("---\n");
            out.push_str(&a);
        }
        Ok(out)
    }
}

/// One YAML document of a multi-document text.
struct Doc {
    kind: String,
    value: serde_yaml_ng::Value,
    text: String,
}

/// Splits at `---` lines, parsing each document (empty ones dropped).
fn split_documents(name: &str, text: &str) -> Result<Vec<Doc>, KubeadmError> {
    let mut chunks = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            chunks.push(String::new());
        } else if let Some(last) = chunks.last_mut() {
            last.push_str(line);
        }
    }
    let mut docs = Vec::new();
    let mut line = 1;
    for chunk in chunks {
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&chunk).map_err(|e| KubeadmError::Yaml {
                name: name.to_string(),
                message: match e.location() {
                    // The parser counts lines per document; report them in the whole text.
                    Some(l) => {
                        let msg = e.to_string();
                        let msg = msg
                            .split(" at line ")
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        format!("line {}, column {}: {msg}", line + l.line() - 1, l.column())
                    }
                    None => e.to_string(),
                },
            })?;
        line += chunk.matches('\n').count() + 1;
        if value.is_null() {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let mut text = chunk;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        docs.push(Doc { kind, value, text });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn params(version: &str) -> KubeadmParams {
        KubeadmParams {
            version: version.parse().expect("version"),
            masters: vec![ip("192.168.0.2"), ip("192.168.0.3"), ip("192.168.0.4")],
            nodes: vec![ip("192.168.0.5")],
            vip: ip(DEFAULT_VIP),
            apiserver_name: DEFAULT_APISERVER_NAME.into(),
            pod_cidr: DEFAULT_POD_CIDR.parse().expect("cidr"),
            svc_cidr: DEFAULT_SVC_CIDR.parse().expect("cidr"),
            cert_sans: vec!["sealyun.com".into(), "10.0.0.9".into()],
            token: "abcdef.0123456789abcdef".parse().expect("token"),
            certificate_key: "0123456789abcdef".repeat(4).parse().expect("key"),
            ca_cert_hash: None,
            image_repository: None,
            cri_socket: None,
            cgroup_driver: None,
        }
    }

    /// Every document, parsed back with serde_yaml_ng's multi-document reader.
    fn docs(yaml: &str) -> Vec<serde_yaml_ng::Value> {
        serde_yaml_ng::Deserializer::from_str(yaml)
            .map(|d| serde_yaml_ng::Value::deserialize(d).expect("valid YAML"))
            .filter(|v| !v.is_null())
            .collect()
    }

    fn kind<'a>(docs: &'a [serde_yaml_ng::Value], k: &str) -> &'a serde_yaml_ng::Value {
        docs.iter()
            .find(|d| d["kind"].as_str() == Some(k))
            .unwrap_or_else(|| panic!("no {k}"))
    }

    fn strings(v: &serde_yaml_ng::Value) -> Vec<String> {
        v.as_sequence()
            .expect("a list")
            .iter()
            .map(|s| s.as_str().expect("a string").to_string())
            .collect()
    }

    #[test]
    fn versions_choose_the_api() {
        let cases = [
            ("v1.15.0", KubeadmApi::V1beta2),
            ("v1.20.2", KubeadmApi::V1beta2),
            ("1.22.17", KubeadmApi::V1beta2),
            ("v1.23.0", KubeadmApi::V1beta3),
            ("v1.30.14", KubeadmApi::V1beta3),
            ("v1.31.0", KubeadmApi::V1beta4),
            ("v1.33.1-rc.1", KubeadmApi::V1beta4),
        ];
        for (v, api) in cases {
            let v: KubeVersion = v.parse().expect(v);
            assert_eq!(KubeadmApi::for_version(&v).expect("supported"), api, "{v}");
        }
        let old: KubeVersion = "v1.14.1".parse().expect("parses");
        let err = KubeadmApi::for_version(&old).expect_err("too old");
        assert_eq!(
            err.to_string(),
            "Kubernetes v1.14.1 is not supported: seal-install needs v1.15.0 or later"
        );
        assert!(KubeadmApi::for_version(&"v2.0.0".parse().expect("parses")).is_err());
    }

    #[test]
    fn version_parsing() {
        let v: KubeVersion = "1.20.2".parse().expect("parses");
        assert_eq!(v.to_string(), "v1.20.2");
        assert_eq!(
            "v1.31.0-rc.1"
                .parse::<KubeVersion>()
                .expect("pre")
                .to_string(),
            "v1.31.0-rc.1"
        );
        for bad in [
            "",
            "v",
            "v1.20",
            "v1.20.2.1",
            "1.x.2",
            "v1..2",
            "v1.20.2-",
            "v1.20.2-a b",
            "v-1.2.3",
            "v1.20.+2",
        ] {
            let err = bad.parse::<KubeVersion>().expect_err(bad);
            assert!(
                err.to_string().contains("vMAJOR.MINOR.PATCH"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn each_api_renders_valid_yaml_with_the_right_content() {
        for (version, api) in [
            ("v1.20.2", "v1beta2"),
            ("v1.26.3", "v1beta3"),
            ("v1.31.1", "v1beta4"),
        ] {
            let p = params(version);
            let yaml = p.render_init(None).expect("renders");
            let d = docs(&yaml);
            let init = kind(&d, "InitConfiguration");
            let cluster = kind(&d, "ClusterConfiguration");
            let proxy = kind(&d, "KubeProxyConfiguration");
            let want_api = format!("kubeadm.k8s.io/{api}");
            assert_eq!(
                init["apiVersion"].as_str(),
                Some(want_api.as_str()),
                "{yaml}"
            );
            assert_eq!(cluster["apiVersion"].as_str(), Some(want_api.as_str()));
            assert_eq!(
                init["bootstrapTokens"][0]["token"].as_str(),
                Some("abcdef.0123456789abcdef")
            );
            assert_eq!(
                init["certificateKey"].as_str(),
                Some(p.certificate_key.as_str())
            );
            assert_eq!(
                init["localAPIEndpoint"]["advertiseAddress"].as_str(),
                Some("192.168.0.2")
            );
            assert_eq!(cluster["kubernetesVersion"].as_str(), Some(version));
            assert_eq!(
                cluster["controlPlaneEndpoint"].as_str(),
                Some("apiserver.cluster.local:6443")
            );
            assert_eq!(
                cluster["networking"]["podSubnet"].as_str(),
                Some("100.64.0.0/10")
            );
            assert_eq!(
                cluster["networking"]["serviceSubnet"].as_str(),
                Some("10.96.0.0/12")
            );
            assert_eq!(
                strings(&cluster["apiServer"]["certSANs"]),
                [
                    "127.0.0.1",
                    "apiserver.cluster.local",
                    "192.168.0.2",
                    "192.168.0.3",
                    "192.168.0.4",
                    "sealyun.com",
                    "10.0.0.9",
                    "10.103.97.2"
                ]
            );
            assert_eq!(proxy["mode"].as_str(), Some("ipvs"));
            assert_eq!(strings(&proxy["ipvs"]["excludeCIDRs"]), ["10.103.97.2/32"]);
            assert!(cluster.get("imageRepository").is_none());
            assert!(d
                .iter()
                .all(|x| x["kind"].as_str() != Some("KubeletConfiguration")));
            if api == "v1beta4" {
                assert_eq!(
                    cluster["certificateValidityPeriod"].as_str(),
                    Some("867240h")
                );
                assert_eq!(
                    cluster["caCertificateValidityPeriod"].as_str(),
                    Some("867240h")
                );
                let args = &cluster["controllerManager"]["extraArgs"];
                assert_eq!(args[0]["name"].as_str(), Some("cluster-signing-duration"));
                assert_eq!(args[0]["value"].as_str(), Some("867240h"));
            } else {
                assert!(cluster.get("certificateValidityPeriod").is_none());
                assert_eq!(
                    cluster["controllerManager"]["extraArgs"]["cluster-signing-duration"].as_str(),
                    Some("867240h")
                );
            }
        }
    }

    #[test]
    fn old_versions_use_the_experimental_signing_flag_and_options_appear_when_set() {
        let mut p = params("v1.16.4");
        p.image_repository = Some("registry.local/k8s".into());
        p.cri_socket = Some("/run/containerd/containerd.sock".into());
        p.cgroup_driver = Some("systemd".into());
        let d = docs(&p.render_init(None).expect("renders"));
        let cluster = kind(&d, "ClusterConfiguration");
        assert_eq!(
            cluster["controllerManager"]["extraArgs"]["experimental-cluster-signing-duration"]
                .as_str(),
            Some("867240h")
        );
        assert_eq!(
            cluster["imageRepository"].as_str(),
            Some("registry.local/k8s")
        );
        assert_eq!(
            kind(&d, "InitConfiguration")["nodeRegistration"]["criSocket"].as_str(),
            Some("/run/containerd/containerd.sock")
        );
        assert_eq!(
            kind(&d, "KubeletConfiguration")["cgroupDriver"].as_str(),
            Some("systemd")
        );
    }

    #[test]
    fn ipv6_addresses_render_as_valid_yaml() {
        let mut p = params("v1.28.0");
        p.masters = vec![ip("fd00::2"), ip("fd00::3")];
        p.vip = ip("fd00::a");
        p.pod_cidr = "fd10::/56".parse().expect("cidr");
        p.svc_cidr = "fd20::/108".parse().expect("cidr");
        let d = docs(&p.render_init(None).expect("renders"));
        assert_eq!(
            strings(&kind(&d, "KubeProxyConfiguration")["ipvs"]["excludeCIDRs"]),
            ["fd00::a/128"]
        );
        let sans = strings(&kind(&d, "ClusterConfiguration")["apiServer"]["certSANs"]);
        assert!(sans.contains(&"fd00::3".to_string()) && sans.contains(&"fd00::a".to_string()));
        let join = docs(&p.render_join_node().expect("renders"));
        assert_eq!(
            join[0]["discovery"]["bootstrapToken"]["apiServerEndpoint"].as_str(),
            Some("[fd00::a]:6443")
        );
    }

    #[test]
    fn join_configurations() {
        for version in ["v1.20.2", "v1.26.0", "v1.31.0"] {
            let mut p = params(version);
            let api = p.api().expect("api").api_version();
            let node = docs(&p.render_join_node().expect("node"));
            assert_eq!(node.len(), 1);
            let n = &node[0];
            assert_eq!(n["kind"].as_str(), Some("JoinConfiguration"));
            assert_eq!(n["apiVersion"].as_str(), Some(api));
            let bt = &n["discovery"]["bootstrapToken"];
            assert_eq!(bt["apiServerEndpoint"].as_str(), Some("10.103.97.2:6443"));
            assert_eq!(bt["token"].as_str(), Some("abcdef.0123456789abcdef"));
            assert_eq!(bt["unsafeSkipCAVerification"].as_bool(), Some(true));
            assert!(n.get("controlPlane").is_none());

            let master = docs(&p.render_join_master(ip("192.168.0.3")).expect("master"));
            let m = &master[0];
            assert_eq!(
                m["discovery"]["bootstrapToken"]["apiServerEndpoint"].as_str(),
                Some("192.168.0.2:6443")
            );
            assert_eq!(
                m["controlPlane"]["localAPIEndpoint"]["advertiseAddress"].as_str(),
                Some("192.168.0.3")
            );
            assert_eq!(
                m["controlPlane"]["certificateKey"].as_str(),
                Some(p.certificate_key.as_str())
            );

            let hash = format!("sha256:{}", "ab".repeat(32));
            p.ca_cert_hash = Some(hash.parse().expect("hash"));
            let pinned = docs(&p.render_join_node().expect("node"));
            let bt = &pinned[0]["discovery"]["bootstrapToken"];
            assert_eq!(strings(&bt["caCertHashes"]), [hash]);
            assert!(bt.get("unsafeSkipCAVerification").is_none());
        }
    }

    #[test]
    fn the_older_installers_template_still_works() {
        // The shape of the older tool's documented custom template, with its field names.
        let old = r#"apiVersion: kubeadm.k8s.io/v1beta1
kind: ClusterConfiguration
kubernetesVersion: {{.Version}}
controlPlaneEndpoint: "{{.ApiServer}}:6443"
networking:
  podSubnet: {{.PodCIDR}}
apiServer:
        certSANs:
        - sealyun.com
        - 127.0.0.1
        - {{.ApiServer}}
        {{range .Masters -}}
        - {{.}}
        {{end -}}
        {{range .CertSANS -}}
        - {{.}}
        {{end -}}
        - {{.VIP}}
controllerManager:
  extraArgs:
{{- if eq .Network "cilium" }}
    allocate-node-cidrs: "true"
{{- end }}
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: "ipvs"
ipvs:
        excludeCIDRs:
        - "{{.VIP}}/32"
"#;
        let p = params("v1.20.2");
        let yaml = p.render_init(Some(("old.tmpl", old))).expect("renders");
        let d = docs(&yaml);
        // No InitConfiguration in the template: the installer's own is added, with its token.
        let init = kind(&d, "InitConfiguration");
        assert_eq!(
            init["bootstrapTokens"][0]["token"].as_str(),
            Some("abcdef.0123456789abcdef")
        );
        let sans = strings(&kind(&d, "ClusterConfiguration")["apiServer"]["certSANs"]);
        assert_eq!(sans[0], "sealyun.com");
        assert!(
            sans.contains(&"192.168.0.4".to_string()) && sans.contains(&"10.0.0.9".to_string())
        );
        assert_eq!(
            d.iter()
                .filter(|x| x["kind"].as_str() == Some("KubeProxyConfiguration"))
                .count(),
            1
        );
    }

    #[test]
    fn user_template_errors_name_the_line() {
        let src = "apiVersion: {{.KubeadmApi}}\nkind: ClusterConfiguration\nkubernetesVersion: {{.Versoin}}\n";
        let err = params("v1.20.2")
            .render_init(Some(("my.tmpl", src)))
            .expect_err("bad field");
        let KubeadmError::Template(t) = &err else {
            panic!("{err}")
        };
        assert_eq!(t.line, 3);
        assert_eq!(t.name, "my.tmpl");
        assert!(
            err.to_string()
                .contains("my.tmpl:3: unknown field .Versoin"),
            "{err}"
        );

        let src = "a: 1\n\n{{range .Masters}}\n- {{.}}\n";
        let err = params("v1.20.2")
            .render_init(Some(("my.tmpl", src)))
            .expect_err("unclosed");
        assert!(err.to_string().contains("my.tmpl:3:"), "{err}");
    }

    #[test]
    fn user_templates_missing_what_the_installer_needs_are_refused() {
        let p = params("v1.20.2");
        let cluster = "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: \"{{.ApiServer}}:6443\"\n";
        let cases = [
            (
                "apiVersion: x\nkind: InitConfiguration\n---\n".to_string() + cluster,
                "bootstrap token",
            ),
            (
                "kind: InitConfiguration\nbootstrapTokens:\n- token: {{.Token}}\n---\n".to_string()
                    + cluster,
                "certificate key",
            ),
            (
                "kind: KubeProxyConfiguration\n".into(),
                "no ClusterConfiguration",
            ),
            (
                cluster.replace("{{.ApiServer}}", "10.0.0.1"),
                "controlPlaneEndpoint",
            ),
            (
                cluster.to_string() + "---\nkind: KubeProxyConfiguration\nmode: ipvs\n",
                "does not exclude 10.103.97.2/32",
            ),
            ("key: [unclosed\n".into(), "invalid YAML"),
        ];
        for (src, msg) in cases {
            let err = p.render_init(Some(("my.tmpl", &src))).expect_err(&src);
            assert!(err.to_string().contains(msg), "{src}\n=> {err}");
        }
        // iptables mode needs no exclusion.
        let ok = cluster.to_string() + "---\nkind: KubeProxyConfiguration\nmode: iptables\n";
        assert!(p.render_init(Some(("my.tmpl", &ok))).is_ok());
    }

    #[test]
    fn yaml_errors_count_lines_across_documents() {
        let p = params("v1.20.2");
        let src = "kind: A\n---\nkind: B\nbad: ]\n";
        let err = p.render_init(Some(("my.tmpl", src))).expect_err("bad yaml");
        assert!(
            err.to_string().contains("invalid YAML: line 4, column 6: "),
            "{err}"
        );
        assert!(!err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn tokens_and_keys() {
        let mut zeros = std::io::repeat(0);
        let t = BootstrapToken::generate_from(&mut zeros).expect("token");
        assert_eq!(t.as_str(), "000000.0000000000000000");
        // Bytes at or above 252 are rejected rather than folded (no modulo bias).
        let mut src: &[u8] = &[255u8; 64]
            .iter()
            .chain([35u8; 64].iter())
            .copied()
            .collect::<Vec<_>>()[..];
        let t = BootstrapToken::generate_from(&mut src).expect("token");
        assert_eq!(t.as_str(), "zzzzzz.zzzzzzzzzzzzzzzz");
        for _ in 0..50 {
            let t = BootstrapToken::generate().expect("urandom");
            assert_eq!(t.as_str().parse::<BootstrapToken>().expect("valid"), t);
            let k = CertificateKey::generate().expect("urandom");
            assert!(is_hex(k.as_str(), 64));
        }
        assert_ne!(
            BootstrapToken::generate().expect("a"),
            BootstrapToken::generate().expect("b")
        );
        for bad in [
            "abcdef0123456789abcdef",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdefg",
            "abcdef.0123456789abcde_",
        ] {
            assert!(bad.parse::<BootstrapToken>().is_err(), "{bad}");
        }
        assert!("0123".parse::<CertificateKey>().is_err());
        assert!("g".repeat(64).parse::<CertificateKey>().is_err());
        // Secrets stay out of Debug output.
        let t: BootstrapToken = "abcdef.0123456789abcdef".parse().expect("token");
        let k: CertificateKey = "ab".repeat(32).parse().expect("key");
        let dbg = format!("{t:?} {k:?}");
        assert!(
            !dbg.contains("0123456789abcdef") && !dbg.contains("abab"),
            "{dbg}"
        );
        assert!(dbg.contains("abcdef."));
    }

    #[test]
    fn ca_hash() {
        let h = CaCertHash::of_public_key_der(b"abc");
        assert_eq!(
            h.as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!("sha256:xyz".parse::<CaCertHash>().is_err());
        assert!(
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                .parse::<CaCertHash>()
                .is_err()
        );
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "10.96.0.0/12".parse().expect("cidr");
        assert!(c.contains(ip("10.96.0.1")) && c.contains(ip("10.111.255.255")));
        assert!(!c.contains(ip("10.112.0.0")) && !c.contains(ip("fd00::1")));
        let p: Cidr = "100.64.0.0/10".parse().expect("cidr");
        assert!(!p.overlaps(&c));
        assert!(p.overlaps(&"100.100.0.0/16".parse().expect("cidr")));
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .expect("all")
            .contains(ip("1.2.3.4")));
        assert!("fd00::/8"
            .parse::<Cidr>()
            .expect("v6")
            .contains(ip("fd12::1")));
        assert!("::1/128".parse::<Cidr>().expect("v6").contains(ip("::1")));
        assert!(Cidr::host(ip("10.0.0.1")).contains(ip("10.0.0.1")));
        assert!(!Cidr::host(ip("10.0.0.1")).contains(ip("10.0.0.2")));
        let e = "10.96.0.1/12".parse::<Cidr>().expect_err("host bits");
        assert!(e.to_string().contains("the network is 10.96.0.0/12"), "{e}");
        assert!("10.96.0.0/33".parse::<Cidr>().is_err());
        assert!("10.96.0.0".parse::<Cidr>().is_err());
        assert!("10.96.0/12".parse::<Cidr>().is_err());
    }

    #[test]
    fn refresh_commands_carry_the_credentials() {
        let cmds = params("v1.20.2").refresh_join_credentials();
        assert!(
            cmds[0].contains("token delete abcdef ")
                && cmds[0].contains("token create abcdef.0123456789abcdef")
        );
        assert!(cmds[1].ends_with(&"0123456789abcdef".repeat(4)));
    }
}
