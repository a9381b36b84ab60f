//! Observed states shared by the planner and message tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::plan::{host_prefix, RouteState, TABLE_LOCAL};

pub(super) const VIP4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 103, 97, 2));
pub(super) const NODE4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
pub(super) const VIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
pub(super) const NODE6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10));

/// The local-table route of `dst` through link `oif`, as the kernel reports it.
pub(super) fn local_route(
    oif: u32,
    dst: IpAddr,
    pref_src: Option<IpAddr>,
    priority: Option<u32>,
) -> RouteState {
    RouteState {
        table: TABLE_LOCAL,
        local: true,
        dst: Some(dst),
        dst_len: host_prefix(dst),
        oif: Some(oif),
        pref_src,
        priority,
        protocol: 2,
        scope: 254,
    }
}
