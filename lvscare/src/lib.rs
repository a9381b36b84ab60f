//! lvscare: keeps a kernel IPVS virtual server pointed at the healthy apiservers.
pub mod ipvs;
pub mod link;
pub mod probe;
pub mod sysctl;
pub mod health;
pub mod reconcile;
pub mod config;
pub mod daemon;
pub mod manifest;
pub mod node;
