//! IPVS over generic netlink: data types, the message codec and a small client.
pub mod client;
pub mod codec;
pub mod types;

pub use client::{IpvsClient, IpvsError};
pub use types::*;
