//! The VIP's dummy link, its host addresses and the preferred source of its local route, kept in
//! shape over rtnetlink (no `ip` binary). This module only assembles its parts:
//!
//! - `plan`: the pure planners ([`plan_link`], [`plan_address`], [`plan_local_route`]), which
//!   never touch the kernel, so the decisions are unit-tested without one;
//! - `msg`: decoding the kernel's rtnetlink messages and building requests;
//! - `reply`: one received datagram taken apart into the answers to a request;
//! - `socket`: one request at a time over a NETLINK_ROUTE socket;
//! - `links`: [`Links`], whose every `ensure_*` call observes the kernel, asks a planner what is
//!   wrong, applies the planned operations and observes again, until the planner is satisfied;
//! - `error`: [`LinkError`], naming the operation and the fix.
//!
//! Call order each tick: [`Links::ensure_dummy`] (its ifindex changes if the link was re-created),
//! then [`Links::ensure_address`], then [`Links::ensure_local_route_src`] for every VIP. Kernel
//! behaviour this relies on (checked on 6.1 and 6.18): re-adding an IPv4 address re-creates its
//! local route with the VIP as source; IPv6 drops its addresses when the link goes down, cannot
//! give a user route the metric 0 of its own local route, and keeps that route in front of a
//! replacement — so for IPv6 lvscare adds its route (metric 1024) and deletes the kernel's.

mod error;
mod links;
pub(crate) mod msg;
mod plan;
pub(crate) mod reply;
mod socket;
#[cfg(test)]
mod testing;

pub use error::LinkError;
pub use links::Links;
// The sock_diag socket (crate::conns) bounds its waits the same way.
pub use msg::{addr_state, link_state, route_state};
pub use plan::{
    ifname_problem, kernel_local_route_present, plan_address, plan_link, plan_local_route,
    validate_ifname, AddrOp, AddrState, Changed, LinkOp, LinkState, Plan, RouteOp, RouteState,
    TABLE_LOCAL,
};
pub(crate) use socket::set_recv_timeout;
