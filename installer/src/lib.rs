//! seal-install: builds an HA Kubernetes cluster over SSH from an offline package.
pub mod app;
pub mod backup;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod etcd;
pub mod exec;
pub mod hosts;
pub mod kubeadm;
pub mod package;
pub mod plan;
pub mod preflight;
pub mod redact;
pub mod runs;
pub mod shell;
pub mod ssh;
pub mod template;
