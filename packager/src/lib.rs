//! seal-package: writes the container images of seal's offline package as a docker-archive that
//! `ctr images import` (containerd) accepts, without a Docker daemon or a registry.

pub mod archive;
pub mod spec;
