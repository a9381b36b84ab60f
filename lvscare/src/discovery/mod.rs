//! Learning the master list from the cluster (`--kubeconfig`, opt-in). The pure parts so far:
//! decoding and judging the `default/kubernetes` EndpointSlice or Endpoints ([`endpoints`]),
//! reading the kubeconfig that authorises the read ([`kubeconfig`]), what each answer does to
//! the followed list ([`follow`]), and keeping the last list on disk for restarts without an
//! apiserver ([`persist`]). The watch itself, through lvscare's own VIP, comes on top of these.
pub mod endpoints;
pub mod follow;
pub mod kubeconfig;
pub mod persist;
