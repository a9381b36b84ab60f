//! seal-install: builds an HA Kubernetes cluster over SSH from an offline package.
pub mod plan;
