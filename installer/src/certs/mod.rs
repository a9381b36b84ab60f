//! The cluster's certificates: `check` lists every host's and their expiry, `renew` renews a
//! control plane's through kubeadm and restarts its static pods one master at a time. Both are
//! pure here (scripts, parsers, plans); `app::certs` runs them.

mod check;
mod renew;

pub use check::{listing_script, parse_listing, table, Cert, WARN_DAYS};
pub use renew::{renew_command, renew_stages, Component, RenewError, COMPONENTS, PARKED};
