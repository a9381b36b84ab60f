//! kubeadm configuration: versions, credentials the installer makes itself, networks and
//! rendering; this module only assembles its parts and re-exports their names.
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
//!
//! Parts: `defaults` (the default networks, VIP and names), `version` ([`KubeVersion`], [`KubeadmApi`]), `secrets` (token, certificate key, CA
//! hash), `cidr` ([`Cidr`], [`endpoint`]), `topology` ([`Topology`]: the cluster's version,
//! hosts, VIP, name, networks and SANs), `render` ([`KubeadmParams`] and the checks of a user
//! template), `error` ([`KubeadmError`]).

/// The `String` conversions serde's `try_from`/`into` attributes use for a type kept as text:
/// parsing through `FromStr`, and back through the inner string or `Display`.
macro_rules! string_conversions {
    ($t:ident, $how:ident) => {
        impl TryFrom<String> for $t {
            type Error = $crate::kubeadm::KubeadmError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                string_conversions!(@text v, $how)
            }
        }
    };
    (@text $v:ident, inner) => {
        $v.0
    };
    (@text $v:ident, display) => {
        $v.to_string()
    };
}

mod cidr;
mod defaults;
mod error;
mod render;
mod secrets;
mod topology;
mod version;

pub use cidr::{endpoint, Cidr};
pub use defaults::{
    APISERVER_PORT, CERT_VALIDITY, DEFAULT_APISERVER_NAME, DEFAULT_POD_CIDR, DEFAULT_SVC_CIDR,
    DEFAULT_VIP,
};
pub use error::KubeadmError;
pub use render::{KubeadmParams, JOIN_TEMPLATE};
pub use secrets::{BootstrapToken, CaCertHash, CertificateKey};
pub use topology::Topology;
pub use version::{KubeVersion, KubeadmApi};
