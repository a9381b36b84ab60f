//! The defaults a cluster gets when the command line names none, and fixed kubeadm settings.

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
