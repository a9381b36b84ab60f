//! IPVS over generic netlink: data types, the message codec and a small client.
pub mod types;

pub use types::*;
