//! [`KubeadmError`]: what can go wrong preparing a kubeadm configuration.

use crate::template::TemplateError;

/// What can go wrong preparing a kubeadm configuration.
#[derive(Debug, thiserror::Error)]
pub enum KubeadmError {
    /// The version string is malformed.
    #[error("bad Kubernetes version `{0}`: write it as vMAJOR.MINOR.PATCH, e.g. v1.20.2")]
    BadVersion(String),
    /// The version (as `vX.Y.Z`) is older than the installer supports.
    #[error("Kubernetes {0} is not supported: seal-install needs v1.15.0 or later")]
    Unsupported(String),
    /// A malformed bootstrap token.
    #[error("bad bootstrap token: it must match [a-z0-9]{{6}}.[a-z0-9]{{16}}")]
    BadToken,
    /// A malformed certificate key.
    #[error("bad certificate key: it must be 64 hex digits")]
    BadCertificateKey,
    /// A malformed CA certificate hash.
    #[error("bad CA certificate hash `{0}`: it must be sha256: followed by 64 hex digits")]
    BadCaHash(String),
    /// The cluster CA certificate could not be read.
    #[error("unreadable CA certificate: {0}")]
    BadCaCert(String),
    /// A join configuration was asked for before the CA hash it must pin was known.
    #[error("no CA hash to pin the join to: the cluster's CA is read from master0 after its init")]
    NoCaHash,
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
