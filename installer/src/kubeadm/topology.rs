//! The shape of a cluster: its version, hosts, VIP, apiserver name, networks and certificate
//! names. `init` validation makes it, [`KubeadmParams`](super::KubeadmParams) embeds it, and
//! the cluster file stores it with them: each of these facts is kept here and nowhere else.

use std::net::IpAddr;

use super::{Cidr, KubeVersion};

/// What a cluster is made of, as every layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Kubernetes version.
    pub version: KubeVersion,
    /// Control-plane hosts; the first is master0, the one others join through.
    pub masters: Vec<IpAddr>,
    /// Worker nodes.
    pub nodes: Vec<IpAddr>,
    /// The VIP lvscare serves on nodes.
    pub vip: IpAddr,
    /// The apiserver name (`apiserver.cluster.local`) in every host's /etc/hosts block.
    pub apiserver_name: String,
    /// Pod network.
    pub pod_cidr: Cidr,
    /// Service network.
    pub svc_cidr: Cidr,
    /// Extra certificate names or addresses.
    pub cert_sans: Vec<String>,
}

impl Topology {
    /// Every host, masters first.
    pub fn hosts(&self) -> Vec<IpAddr> {
        self.masters.iter().chain(&self.nodes).copied().collect()
    }
}
