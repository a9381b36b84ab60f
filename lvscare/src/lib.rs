//! lvscare: keeps a kernel IPVS virtual server pointed at the healthy apiservers.
pub mod config;
pub mod conns;
pub mod daemon;
pub mod discovery;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod ipvs;
pub mod link;
pub mod manifest;
pub mod metrics;
pub mod node;
pub mod probe;
pub mod reconcile;
pub mod schedule;
pub mod sysctl;
