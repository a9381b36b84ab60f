//! seal-install: builds an HA Kubernetes cluster over SSH from an offline package.
pub mod cli;
pub mod cluster;
pub mod hosts;
pub mod kubeadm;
pub mod plan;
pub mod ssh;
pub mod template;
