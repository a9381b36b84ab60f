//! rtnetlink messages: decoding what the kernel reports into observed states, and building the
//! requests that change them (pure, unit-tested).

use std::net::IpAddr;

use netlink_packet_core::{NlasIterator, NLM_F_ACK_TLVS, NLM_F_CAPPED};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::plan::{host_prefix, AddrState, LinkState, RouteState, TABLE_LOCAL};

/// Extended-ack attribute carrying the kernel's human-readable error text.
pub(super) const NLMSGERR_ATTR_MSG: u16 = 1;

/// The address family of an address.
fn family_of(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// The IP address of a route attribute, if it is one.
fn route_ip(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// Reduces an RTM_NEWLINK message to a [`LinkState`].
pub fn link_state(msg: &LinkMessage) -> LinkState {
    let kind = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k.to_string()),
            _ => None,
        }),
        _ => None,
    });
    LinkState {
        index: msg.header.index,
        kind,
        up: msg.header.flags.contains(LinkFlags::Up),
    }
}

/// Reduces an RTM_NEWADDR message to an [`AddrState`]; `None` if it carries no address.
pub fn addr_state(msg: &AddressMessage) -> Option<AddrState> {
    // IPv4 puts the interface's own address in IFA_LOCAL (IFA_ADDRESS is the peer on
    // point-to-point links); IPv6 only sends IFA_ADDRESS.
    let local = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let address = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    });
    let flags = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            AddressAttribute::Flags(f) => Some(f.bits()),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.flags.bits()));
    Some(AddrState {
        index: msg.header.index,
        ip: local.or(address)?,
        prefix_len: msg.header.prefix_len,
        flags,
    })
}

/// Reduces an RTM_NEWROUTE message to a [`RouteState`].
pub fn route_state(msg: &RouteMessage) -> RouteState {
    let mut state = RouteState {
        table: u32::from(msg.header.table),
        local: msg.header.kind == RouteType::Local,
        dst: None,
        dst_len: msg.header.destination_prefix_length,
        oif: None,
        pref_src: None,
        priority: None,
        protocol: msg.header.protocol.into(),
        scope: msg.header.scope.into(),
    };
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => state.table = *t,
            RouteAttribute::Destination(a) => state.dst = route_ip(a),
            RouteAttribute::Oif(i) => state.oif = Some(*i),
            RouteAttribute::PrefSource(a) => state.pref_src = route_ip(a),
            RouteAttribute::Priority(p) => state.priority = Some(*p),
            _ => {}
        }
    }
    state
}

/// The links among the kernel's answers.
pub(super) fn links_in(replies: &[RouteNetlinkMessage]) -> impl Iterator<Item = LinkState> + '_ {
    replies.iter().filter_map(|r| match r {
        RouteNetlinkMessage::NewLink(l) => Some(link_state(l)),
        _ => None,
    })
}

/// The addresses among the kernel's answers.
pub(super) fn addresses_in(
    replies: &[RouteNetlinkMessage],
) -> impl Iterator<Item = AddrState> + '_ {
    replies.iter().filter_map(|r| match r {
        RouteNetlinkMessage::NewAddress(a) => addr_state(a),
        _ => None,
    })
}

/// The routes among the kernel's answers.
pub(super) fn routes_in(replies: &[RouteNetlinkMessage]) -> impl Iterator<Item = RouteState> + '_ {
    replies.iter().filter_map(|r| match r {
        RouteNetlinkMessage::NewRoute(m) => Some(route_state(m)),
        _ => None,
    })
}

/// AF_INET6 or AF_INET.
fn family(ipv6: bool) -> AddressFamily {
    if ipv6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}

/// RTM_GETLINK asking for the link named `name`.
pub(super) fn get_link_msg(name: &str) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg
}

/// RTM_DELLINK removing link `index`.
pub(super) fn del_link_msg(index: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg
}

/// RTM_GETADDR dump request for the addresses of one family on `ifindex`.
pub(super) fn dump_addresses_msg(ifindex: u32, ipv6: bool) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = family(ipv6);
    msg.header.index = ifindex;
    msg
}

/// RTM_NEWLINK creating a dummy link named `name`, already up.
pub(super) fn create_dummy_msg(name: &str) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg.attributes
        .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
            InfoKind::Dummy,
        )]));
    msg
}

/// RTM_SETLINK setting IFF_UP on link `index`.
pub(super) fn set_up_msg(index: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    msg
}

/// RTM_NEWADDR adding `ip` as a host address on `ifindex`.
pub(super) fn add_addr_msg(ifindex: u32, ip: IpAddr) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = family_of(ip);
    msg.header.prefix_len = host_prefix(ip);
    msg.header.index = ifindex;
    match ip {
        IpAddr::V4(_) => {
            msg.attributes.push(AddressAttribute::Local(ip));
            msg.attributes.push(AddressAttribute::Address(ip));
        }
        IpAddr::V6(_) => {
            // NODAD: usable at once; duplicate detection makes no sense for an address every
            // node carries on purpose.
            msg.header.flags = AddressHeaderFlags::Nodad;
            msg.attributes.push(AddressAttribute::Address(ip));
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
    }
    msg
}

/// RTM_DELADDR removing exactly the observed address.
pub fn del_addr_msg(addr: &AddrState) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = family_of(addr.ip);
    msg.header.prefix_len = addr.prefix_len;
    msg.header.index = addr.index;
    if addr.ip.is_ipv4() {
        msg.attributes.push(AddressAttribute::Local(addr.ip));
    }
    msg.attributes.push(AddressAttribute::Address(addr.ip));
    msg
}

/// Route header fields shared by requests: a table that fits the header byte goes there too.
fn route_msg_base(family: AddressFamily, table: u32) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family;
    msg.header.table = u8::try_from(table).unwrap_or(0);
    msg.attributes.push(RouteAttribute::Table(table));
    msg
}

/// RTM_NEWROUTE (with NLM_F_REPLACE) for the wanted local route.
pub(super) fn replace_local_route_msg(ifindex: u32, vip: IpAddr, src: IpAddr) -> RouteMessage {
    let mut msg = route_msg_base(family_of(vip), TABLE_LOCAL);
    msg.header.destination_prefix_length = host_prefix(vip);
    msg.header.protocol = RouteProtocol::Kernel;
    msg.header.scope = RouteScope::Host;
    msg.header.kind = RouteType::Local;
    msg.attributes.push(RouteAttribute::Destination(vip.into()));
    msg.attributes.push(RouteAttribute::Oif(ifindex));
    msg.attributes.push(RouteAttribute::PrefSource(src.into()));
    msg
}

/// RTM_DELROUTE matching exactly the observed route (prefsrc and metric included, so the right
/// one of two routes to the same destination goes).
pub fn del_route_msg(route: &RouteState) -> Option<RouteMessage> {
    let dst = route.dst?;
    let mut msg = route_msg_base(family_of(dst), route.table);
    msg.header.destination_prefix_length = route.dst_len;
    msg.header.protocol = route.protocol.into();
    msg.header.scope = route.scope.into();
    msg.header.kind = if route.local {
        RouteType::Local
    } else {
        RouteType::Unicast
    };
    msg.attributes.push(RouteAttribute::Destination(dst.into()));
    if let Some(oif) = route.oif {
        msg.attributes.push(RouteAttribute::Oif(oif));
    }
    if let Some(src) = route.pref_src {
        msg.attributes.push(RouteAttribute::PrefSource(src.into()));
    }
    if let Some(metric) = route.priority {
        msg.attributes.push(RouteAttribute::Priority(metric));
    }
    Some(msg)
}

/// RTM_GETROUTE dump request for the local routes of one family on `ifindex`. The kernel filters
/// by table, type and interface when strict checking is on; the caller filters again anyway.
pub(super) fn dump_local_routes_msg(ifindex: u32, ipv6: bool) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family(ipv6);
    msg.header.table = TABLE_LOCAL as u8;
    msg.header.kind = RouteType::Local;
    msg.attributes.push(RouteAttribute::Oif(ifindex));
    msg
}

/// RTM_GETROUTE asking which route (and source) the kernel would use toward `dst`.
pub(super) fn get_route_msg(dst: IpAddr) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family_of(dst);
    msg.header.destination_prefix_length = host_prefix(dst);
    msg.attributes.push(RouteAttribute::Destination(dst.into()));
    msg
}

/// Extracts the kernel's error text from an NLMSG_ERROR payload (netlink extended ack).
pub(super) fn extack_message(outer_flags: u16, payload: &[u8]) -> Option<String> {
    if outer_flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    // The payload echoes the request's header (and the whole request unless capped).
    let echoed = if outer_flags & NLM_F_CAPPED != 0 {
        16
    } else {
        let len = payload.get(..4)?;
        (u32::from_ne_bytes([len[0], len[1], len[2], len[3]]) as usize + 3) & !3
    };
    let tlvs = payload.get(echoed..)?;
    NlasIterator::new(tlvs)
        .filter_map(Result::ok)
        .find(|nla| nla.kind() == NLMSGERR_ATTR_MSG)
        .map(|nla| {
            String::from_utf8_lossy(nla.value())
                .trim_end_matches('\0')
                .trim()
                .to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::super::plan::{plan_address, Plan};
    use super::super::testing::{local_route, NODE4, VIP4, VIP6};
    use super::*;

    #[test]
    fn link_message_decodes_kind_and_state() {
        let mut msg = create_dummy_msg("lvscare");
        msg.header.index = 12;
        assert_eq!(
            link_state(&msg),
            LinkState {
                index: 12,
                kind: Some("dummy".into()),
                up: true
            }
        );
        let mut down = set_up_msg(3);
        down.header.flags = LinkFlags::empty();
        assert_eq!(
            link_state(&down),
            LinkState {
                index: 3,
                kind: None,
                up: false
            }
        );
    }

    #[test]
    fn address_requests_carry_host_prefix_and_nodad() {
        let v4 = add_addr_msg(5, VIP4);
        assert_eq!(
            (v4.header.prefix_len, v4.header.index, v4.header.family),
            (32, 5, AddressFamily::Inet)
        );
        assert!(v4.attributes.contains(&AddressAttribute::Local(VIP4)));
        let v6 = add_addr_msg(5, VIP6);
        assert_eq!(v6.header.prefix_len, 128);
        assert!(v6
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
        // And they decode back to what the planner calls a good address.
        let back = addr_state(&v6).unwrap();
        assert_eq!(plan_address(5, VIP6, &[back]), Plan::nothing());
        let back4 = addr_state(&v4).unwrap();
        assert_eq!(
            back4,
            AddrState {
                index: 5,
                ip: VIP4,
                prefix_len: 32,
                flags: 0
            }
        );
    }

    #[test]
    fn route_requests_round_trip_through_the_decoder() {
        let replace = replace_local_route_msg(6, VIP4, NODE4);
        assert_eq!(replace.header.kind, RouteType::Local);
        assert_eq!(replace.header.scope, RouteScope::Host);
        assert_eq!(replace.header.protocol, RouteProtocol::Kernel);
        let state = route_state(&replace);
        assert_eq!(state, local_route(6, VIP4, Some(NODE4), None));
        // The delete of an observed route names its source and metric, so only it matches.
        let stale = local_route(6, VIP6, Some(VIP6), Some(0));
        let del = del_route_msg(&stale).unwrap();
        assert!(del.attributes.contains(&RouteAttribute::Priority(0)));
        assert_eq!(route_state(&del), stale);
    }

    #[test]
    fn extack_text_is_extracted() {
        // NLMSGERR payload as the kernel sends it with NETLINK_CAP_ACK: the request's 16-byte
        // header, then TLVs; attribute 1 is the message.
        let mut payload = vec![0u8; 16];
        let text = b"Unknown device type\0";
        let nla_len = (4 + text.len()) as u16;
        payload.extend_from_slice(&nla_len.to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        while !payload.len().is_multiple_of(4) {
            payload.push(0);
        }
        let flags = NLM_F_ACK_TLVS | NLM_F_CAPPED;
        assert_eq!(
            extack_message(flags, &payload).as_deref(),
            Some("Unknown device type")
        );
        assert_eq!(extack_message(NLM_F_CAPPED, &payload), None);
    }
}
