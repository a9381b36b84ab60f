//! The VIP's dummy link, its host addresses and the preferred source of its local route, kept in
//! shape over rtnetlink (no `ip` binary).
//!
//! Every `ensure_*` call observes the kernel, asks a pure planner what is wrong, applies the
//! planned operations and observes again, until the planner is satisfied. The planners
//! ([`plan_link`], [`plan_address`], [`plan_local_route`]) never touch the kernel, so the
//! decisions are unit-tested without one; the socket code below them only reads and writes
//! messages.
//!
//! Call order each tick: [`Links::ensure_dummy`] (its ifindex changes if the link was re-created),
//! then [`Links::ensure_address`], then [`Links::ensure_local_route_src`] for every VIP. Kernel
//! behaviour this relies on (checked on 6.1 and 6.18): re-adding an IPv4 address re-creates its
//! local route with the VIP as source; IPv6 drops its addresses when the link goes down, cannot
//! give a user route the metric 0 of its own local route, and keeps that route in front of a
//! replacement — so for IPv6 lvscare adds its route (metric 1024) and deletes the kernel's.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NlasIterator, NLM_F_ACK, NLM_F_ACK_TLVS,
    NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Routing table `local` (RT_TABLE_LOCAL), where the kernel keeps the routes of local addresses.
pub const TABLE_LOCAL: u32 = 255;

/// How many observe/plan/apply rounds an ensure call may take before giving up. Each planner
/// converges in at most two rounds on a quiet system; more means something is fighting us.
const MAX_ROUNDS: usize = 4;

/// How long to wait for the kernel's answer before calling the socket stuck.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// How often, and how far apart, to look for the kernel's local route of a new IPv6 address
/// (it normally appears within milliseconds).
const KERNEL_ROUTE_POLLS: usize = 200;
const KERNEL_ROUTE_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Linux IFNAMSIZ minus the terminating NUL.
const MAX_IFNAME_LEN: usize = 15;

/// IFA_F_* bits that make an IPv6 address unusable (TENTATIVE without OPTIMISTIC, DADFAILED).
const IFA_F_DADFAILED: u32 = 0x08;
const IFA_F_OPTIMISTIC: u32 = 0x04;
const IFA_F_TENTATIVE: u32 = 0x40;

/// Extended-ack attribute carrying the kernel's human-readable error text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// Errors of link, address and route management.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The rtnetlink socket could not be opened or bound.
    #[error("cannot open an rtnetlink socket: {0}")]
    Open(#[source] io::Error),
    /// Sending or receiving on the socket failed (including a timeout waiting for the kernel).
    #[error("rtnetlink {op}: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused a request.
    #[error("{op}: {source}{}", kernel_suffix(.detail, .source))]
    Kernel {
        /// What was being done.
        op: String,
        /// The errno the kernel answered with.
        #[source]
        source: io::Error,
        /// The kernel's own explanation (netlink extended ack), when it gave one.
        detail: Option<String>,
    },
    /// A kernel message could not be decoded.
    #[error("cannot decode the kernel's answer to {op}: {detail}")]
    Decode {
        /// What was being done.
        op: String,
        /// The decoder's complaint.
        detail: String,
    },
    /// The interface name is not one Linux accepts.
    #[error("invalid interface name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A link with the wanted name exists and is not a dummy: it is not ours to change.
    #[error(
        "link {name} exists and is a {kind}, not a dummy; lvscare never changes or deletes links it \
         does not own: remove or rename that link, or choose another interface name (--iface)"
    )]
    NotDummy {
        /// The link's name.
        name: String,
        /// Its IFLA_INFO_KIND ("bridge", "veth", …) or "physical device" when it has none.
        kind: String,
    },
    /// The kernel has no dummy link driver.
    #[error(
        "cannot create dummy link {name}: the kernel has no dummy driver; load it with \
         `modprobe dummy` (kernel option CONFIG_DUMMY)"
    )]
    DummyUnsupported {
        /// The link that was to be created.
        name: String,
    },
    /// The VIP and the preferred source are not of the same address family.
    #[error("VIP {vip} and source address {src} are not of the same address family")]
    FamilyMismatch {
        /// The virtual address.
        vip: IpAddr,
        /// The wanted preferred source.
        src: IpAddr,
    },
    /// The preferred source given for the VIP's route is the VIP itself.
    #[error("the preferred source of VIP {vip}'s local route must be this node's own address, not the VIP")]
    SourceIsVip {
        /// The virtual address.
        vip: IpAddr,
    },
    /// The kernel has no route to the destination.
    #[error("no route to {dst}: check this node's routes toward the control-plane nodes")]
    NoRoute {
        /// The destination looked up.
        dst: IpAddr,
    },
    /// The kernel's route to the destination names no source address.
    #[error("the route to {dst} has no source address: give this node an address on that path")]
    NoSource {
        /// The destination looked up.
        dst: IpAddr,
    },
    /// The state kept changing under us.
    #[error("{what} did not settle after {MAX_ROUNDS} attempts; is another program changing it?")]
    NotConverged {
        /// What was being ensured.
        what: String,
    },
}

/// The kernel's explanation, then a hint for errnos whose cause is nearly always the same.
fn kernel_suffix(detail: &Option<String>, err: &io::Error) -> String {
    let mut out = detail
        .as_ref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    if matches!(err.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
        out.push_str("; lvscare needs CAP_NET_ADMIN (run as root)");
    }
    out
}

/// What an ensure call changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// Everything was already as wanted.
    No,
    /// The object was missing and has been created.
    Created,
    /// The object existed but was wrong; the text says what was wrong, for the log.
    Repaired(String),
}

impl Changed {
    /// True when something was created or repaired.
    pub fn is_change(&self) -> bool {
        !matches!(self, Changed::No)
    }
}

impl fmt::Display for Changed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Changed::No => f.write_str("unchanged"),
            Changed::Created => f.write_str("created"),
            Changed::Repaired(why) => write!(f, "repaired ({why})"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Observed state and the pure planners.
// ---------------------------------------------------------------------------------------------

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// Interface index.
    pub index: u32,
    /// IFLA_INFO_KIND ("dummy", "bridge", …); `None` for physical devices.
    pub kind: Option<String>,
    /// IFF_UP is set.
    pub up: bool,
}

/// One address on a link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrState {
    /// Interface index the address is on.
    pub index: u32,
    /// The address (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6).
    pub ip: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// IFA_F_* flags.
    pub flags: u32,
}

/// One route of the kernel's routing tables, reduced to what the local-route planner needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteState {
    /// Routing table id.
    pub table: u32,
    /// The route is of type `local` (RTN_LOCAL).
    pub local: bool,
    /// Destination; `None` for a default route.
    pub dst: Option<IpAddr>,
    /// Destination prefix length.
    pub dst_len: u8,
    /// Output interface.
    pub oif: Option<u32>,
    /// Preferred source (RTA_PREFSRC).
    pub pref_src: Option<IpAddr>,
    /// Metric (RTA_PRIORITY).
    pub priority: Option<u32>,
    /// RTPROT_* of the route.
    pub protocol: u8,
    /// RT_SCOPE_* of the route.
    pub scope: u8,
}

/// Operations on a link, as planned by [`plan_link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOp {
    /// Create the dummy link, up.
    Create,
    /// Set IFF_UP on the link with this index.
    SetUp(u32),
}

/// Operations on addresses, as planned by [`plan_address`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrOp {
    /// Add the wanted host address.
    Add,
    /// Delete this observed address (the wanted IP with a wrong prefix or a failed state).
    Delete(AddrState),
}

/// Operations on routes, as planned by [`plan_local_route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp {
    /// `ip route replace local VIP dev IFACE table local proto kernel scope host src SRC`.
    Replace,
    /// Delete this observed route exactly.
    Delete(RouteState),
}

/// A planner's verdict: what to do, and how to describe the change (`No` when nothing is to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<Op> {
    /// Operations to apply, in order.
    pub ops: Vec<Op>,
    /// What the operations change.
    pub change: Changed,
}

impl<Op> Plan<Op> {
    fn nothing() -> Self {
        Plan {
            ops: Vec::new(),
            change: Changed::No,
        }
    }
}

/// The host prefix length of an address: 32 or 128.
fn host_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// What is wrong with an interface name by the kernel's dev_valid_name(), if anything.
pub fn ifname_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_IFNAME_LEN {
        Some("longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("reserved")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        Some("contains '/', ':', a control character or whitespace")
    } else {
        None
    }
}

/// Rejects names Linux would reject (dev_valid_name), before any request is sent.
pub fn validate_ifname(name: &str) -> Result<(), LinkError> {
    match ifname_problem(name) {
        Some(reason) => Err(LinkError::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Decides what to do about the link named `name`, given what the kernel reported for that name.
pub fn plan_link(name: &str, observed: Option<&LinkState>) -> Result<Plan<LinkOp>, LinkError> {
    match observed {
        None => Ok(Plan {
            ops: vec![LinkOp::Create],
            change: Changed::Created,
        }),
        Some(link) if link.kind.as_deref() != Some("dummy") => Err(LinkError::NotDummy {
            name: name.to_string(),
            kind: link
                .kind
                .clone()
                .unwrap_or_else(|| "physical device".to_string()),
        }),
        Some(link) if !link.up => Ok(Plan {
            ops: vec![LinkOp::SetUp(link.index)],
            change: Changed::Repaired(format!("link {name} was down")),
        }),
        Some(_) => Ok(Plan::nothing()),
    }
}

/// Why an observed copy of the wanted address is not acceptable, if it is not.
fn address_fault(addr: &AddrState) -> Option<String> {
    if addr.prefix_len != host_prefix(addr.ip) {
        return Some(format!(
            "address {} had prefix /{} instead of /{}",
            addr.ip,
            addr.prefix_len,
            host_prefix(addr.ip)
        ));
    }
    if addr.ip.is_ipv6() {
        if addr.flags & IFA_F_DADFAILED != 0 {
            return Some(format!(
                "address {} had failed duplicate address detection",
                addr.ip
            ));
        }
        if addr.flags & IFA_F_TENTATIVE != 0 && addr.flags & IFA_F_OPTIMISTIC == 0 {
            return Some(format!("address {} was tentative (not usable)", addr.ip));
        }
    }
    None
}

/// Decides what to do so that `want` is a usable host address on link `ifindex`. Addresses on
/// other links and other addresses on this link are left alone.
pub fn plan_address(ifindex: u32, want: IpAddr, observed: &[AddrState]) -> Plan<AddrOp> {
    let copies: Vec<&AddrState> = observed
        .iter()
        .filter(|a| a.index == ifindex && a.ip == want)
        .collect();
    let good = copies.iter().any(|a| address_fault(a).is_none());
    let bad: Vec<(&AddrState, String)> = copies
        .iter()
        .filter_map(|a| address_fault(a).map(|why| (*a, why)))
        .collect();
    let mut ops: Vec<AddrOp> = bad
        .iter()
        .map(|(a, _)| AddrOp::Delete((*a).clone()))
        .collect();
    if !good {
        ops.push(AddrOp::Add);
    }
    let change = match (bad.first(), good) {
        (Some((_, why)), _) => Changed::Repaired(why.clone()),
        (None, true) => Changed::No,
        (None, false) => Changed::Created,
    };
    Plan { ops, change }
}

/// True when the kernel's own local route for address `ip` (one without a preferred source; the
/// routes lvscare writes always have one) is on link `ifindex`.
pub fn kernel_local_route_present(ifindex: u32, ip: IpAddr, routes: &[RouteState]) -> bool {
    routes.iter().any(|r| {
        r.local
            && r.table == TABLE_LOCAL
            && r.dst == Some(ip)
            && r.oif == Some(ifindex)
            && r.pref_src.is_none()
    })
}

/// Describes a wrong local route for the log.
fn describe_route(route: &RouteState) -> String {
    let src = route
        .pref_src
        .map(|s| s.to_string())
        .unwrap_or_else(|| "none".to_string());
    let metric = route
        .priority
        .map(|m| format!(", metric {m}"))
        .unwrap_or_default();
    format!("src {src}{metric}")
}

/// Decides what to do so that the local route of `vip` on link `ifindex` in table local carries
/// `src` as preferred source, and is the only local route of `vip` on that link (IPv6 keeps the
/// kernel's own metric-0 route beside a user one, and the lower metric wins, so it has to go).
pub fn plan_local_route(
    ifindex: u32,
    vip: IpAddr,
    src: IpAddr,
    observed: &[RouteState],
) -> Result<Plan<RouteOp>, LinkError> {
    if vip.is_ipv4() != src.is_ipv4() {
        return Err(LinkError::FamilyMismatch { vip, src });
    }
    if vip == src {
        return Err(LinkError::SourceIsVip { vip });
    }
    let ours: Vec<&RouteState> = observed
        .iter()
        .filter(|r| {
            r.local
                && r.table == TABLE_LOCAL
                && r.dst == Some(vip)
                && r.dst_len == host_prefix(vip)
                && r.oif == Some(ifindex)
        })
        .collect();
    let (right, wrong): (Vec<&RouteState>, Vec<&RouteState>) =
        ours.iter().partition(|r| r.pref_src == Some(src));
    if right.is_empty() {
        let change = match wrong.first() {
            None => Changed::Created,
            Some(r) => Changed::Repaired(format!(
                "local route of {vip} had {}, wanted src {src}",
                describe_route(r)
            )),
        };
        return Ok(Plan {
            ops: vec![RouteOp::Replace],
            change,
        });
    }
    // Identical duplicates are possible in IPv4 only through `ip route append`; drop all but one.
    let extra: Vec<&RouteState> = wrong.iter().chain(right.iter().skip(1)).copied().collect();
    match extra.first() {
        None => Ok(Plan::nothing()),
        Some(first) => Ok(Plan {
            ops: extra
                .iter()
                .map(|r| RouteOp::Delete((*r).clone()))
                .collect(),
            change: Changed::Repaired(format!(
                "extra local route of {vip} with {}",
                describe_route(first)
            )),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel messages: decoding observed state and building requests (pure, unit-tested).
// ---------------------------------------------------------------------------------------------

fn family_of(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

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

/// RTM_NEWLINK creating a dummy link named `name`, already up.
fn create_dummy_msg(name: &str) -> LinkMessage {
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
fn set_up_msg(index: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    msg
}

/// RTM_NEWADDR adding `ip` as a host address on `ifindex`.
fn add_addr_msg(ifindex: u32, ip: IpAddr) -> AddressMessage {
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
fn del_addr_msg(addr: &AddrState) -> AddressMessage {
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
fn replace_local_route_msg(ifindex: u32, vip: IpAddr, src: IpAddr) -> RouteMessage {
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
fn del_route_msg(route: &RouteState) -> Option<RouteMessage> {
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

/// RTM_GETROUTE dump request for the local routes of `family` on `ifindex`. The kernel filters
/// by table, type and interface when strict checking is on; the caller filters again anyway.
fn dump_local_routes_msg(family: AddressFamily, ifindex: u32) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family;
    msg.header.table = TABLE_LOCAL as u8;
    msg.header.kind = RouteType::Local;
    msg.attributes.push(RouteAttribute::Oif(ifindex));
    msg
}

/// RTM_GETROUTE asking which route (and source) the kernel would use toward `dst`.
fn get_route_msg(dst: IpAddr) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family_of(dst);
    msg.header.destination_prefix_length = host_prefix(dst);
    msg.attributes.push(RouteAttribute::Destination(dst.into()));
    msg
}

/// Extracts the kernel's error text from an NLMSG_ERROR payload (netlink extended ack).
fn extack_message(outer_flags: u16, payload: &[u8]) -> Option<String> {
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

// ---------------------------------------------------------------------------------------------
// The socket.
// ---------------------------------------------------------------------------------------------

/// A kernel refusal, before it is given context.
struct Nack {
    errno: i32,
    detail: Option<String>,
}

/// Failure of one request: a refusal the caller may want to handle, or anything else.
enum ReqError {
    Nack(Nack),
    Other(LinkError),
}

impl ReqError {
    fn into_link_error(self, op: &str) -> LinkError {
        match self {
            ReqError::Nack(n) => LinkError::Kernel {
                op: op.to_string(),
                source: io::Error::from_raw_os_error(n.errno),
                detail: n.detail,
            },
            ReqError::Other(e) => e,
        }
    }
}

/// A synchronous NETLINK_ROUTE socket doing one request at a time.
struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    fn open() -> Result<Self, LinkError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(LinkError::Open)?;
        sock.bind_auto().map_err(LinkError::Open)?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(LinkError::Open)?;
        // All three are optional refinements (kernel-side dump filters, error texts, short
        // acks); older kernels without them still work, so failures are ignored.
        let _ = sock.set_netlink_get_strict_chk(true);
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        set_recv_timeout(&sock, RECV_TIMEOUT).map_err(LinkError::Open)?;
        Ok(Rtnl {
            sock,
            seq: 0,
            buf: Vec::new(),
        })
    }

    /// Sends one request and collects the messages answering it: up to NLMSG_DONE for a dump,
    /// up to the acknowledgement otherwise.
    fn request(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, ReqError> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut bytes = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut bytes);
        let io_err = |source| {
            ReqError::Other(LinkError::Io {
                op: op.to_string(),
                source,
            })
        };
        self.sock.send(&bytes, 0).map_err(io_err)?;

        let mut replies = Vec::new();
        loop {
            self.recv_datagram().map_err(io_err)?;
            let mut off = 0;
            while off < self.buf.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..])
                    .map_err(|e| {
                        ReqError::Other(LinkError::Decode {
                            op: op.to_string(),
                            detail: e.to_string(),
                        })
                    })?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(ReqError::Other(LinkError::Decode {
                        op: op.to_string(),
                        detail: "zero-length message".to_string(),
                    }));
                }
                off += (len + 3) & !3;
                if reply.header.sequence_number != seq {
                    continue; // a late answer to an earlier, abandoned request
                }
                if reply.header.flags & NLM_F_DUMP_INTR != 0 {
                    // The table changed during the dump; the caller observes again next round.
                    return Err(ReqError::Nack(Nack {
                        errno: libc::EINTR,
                        detail: Some("dump interrupted".into()),
                    }));
                }
                let outer_flags = reply.header.flags;
                match reply.payload {
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(replies),
                        Some(code) => {
                            return Err(ReqError::Nack(Nack {
                                errno: code.get().abs(),
                                detail: extack_message(outer_flags, &e.header),
                            }))
                        }
                    },
                    NetlinkPayload::Done(d) if d.code < 0 => {
                        return Err(ReqError::Nack(Nack {
                            errno: d.code.abs(),
                            detail: None,
                        }))
                    }
                    NetlinkPayload::Done(_) if dump => return Ok(replies),
                    _ => {}
                }
            }
        }
    }

    /// Receives one whole datagram into `self.buf`, however large.
    fn recv_datagram(&mut self) -> io::Result<()> {
        loop {
            self.buf.clear();
            // Peek with MSG_TRUNC to learn the datagram's full size, then read it whole.
            let size = match self
                .sock
                .recv(&mut self.buf, libc::MSG_PEEK | libc::MSG_TRUNC)
            {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other?,
            };
            self.buf.clear();
            self.buf.reserve(size.max(64));
            match self.sock.recv(&mut self.buf, 0) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(got) => {
                    self.buf.truncate(got);
                    return Ok(());
                }
            }
        }
    }

    /// A request that must succeed, with `op` naming it in the error.
    fn must(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, LinkError> {
        self.request(op, msg, flags)
            .map_err(|e| e.into_link_error(op))
    }

    /// A dump, retried when the kernel reports it inconsistent.
    fn dump(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, LinkError> {
        let mut last = None;
        for _ in 0..MAX_ROUNDS {
            match self.request(op, msg.clone(), NLM_F_DUMP) {
                Err(ReqError::Nack(n)) if n.errno == libc::EINTR => last = Some(ReqError::Nack(n)),
                other => return other.map_err(|e| e.into_link_error(op)),
            }
        }
        Err(last
            .map(|e| e.into_link_error(op))
            .unwrap_or(LinkError::NotConverged {
                what: op.to_string(),
            }))
    }
}

fn set_recv_timeout(sock: &Socket, timeout: Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: valid fd owned by `sock`, pointer and length describe a live timeval.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The public handle.
// ---------------------------------------------------------------------------------------------

/// Manages lvscare's dummy link, its addresses and its local routes over rtnetlink. The socket
/// belongs to the network namespace of the thread that called [`Links::open`].
pub struct Links {
    rtnl: Rtnl,
}

impl Links {
    /// Opens the rtnetlink socket (needs CAP_NET_ADMIN for every change, not for opening).
    pub fn open() -> Result<Self, LinkError> {
        Ok(Links {
            rtnl: Rtnl::open()?,
        })
    }

    /// Reads the link named `name`; `None` if there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<LinkState>, LinkError> {
        validate_ifname(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        let op = format!("reading link {name}");
        match self.rtnl.request(&op, RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => Ok(replies.iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(link_state(l)),
                _ => None,
            })),
            Err(ReqError::Nack(n)) if n.errno == libc::ENODEV => Ok(None),
            Err(e) => Err(e.into_link_error(&op)),
        }
    }

    /// Reads the addresses of `family` on link `ifindex`.
    pub fn addresses(&mut self, ifindex: u32, ipv6: bool) -> Result<Vec<AddrState>, LinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = if ipv6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        msg.header.index = ifindex;
        let replies = self
            .rtnl
            .dump("listing addresses", RouteNetlinkMessage::GetAddress(msg))?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(a) => addr_state(a),
                _ => None,
            })
            .filter(|a| a.index == ifindex)
            .collect())
    }

    /// Reads the local-table routes of `family` through link `ifindex`.
    pub fn local_routes(&mut self, ifindex: u32, ipv6: bool) -> Result<Vec<RouteState>, LinkError> {
        let family = if ipv6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let msg = dump_local_routes_msg(family, ifindex);
        let replies = self
            .rtnl
            .dump("listing local routes", RouteNetlinkMessage::GetRoute(msg))?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewRoute(m) => Some(route_state(m)),
                _ => None,
            })
            .filter(|r| r.table == TABLE_LOCAL && r.oif == Some(ifindex))
            .collect())
    }

    /// Ensures a dummy link named `name` exists and is up; returns its ifindex and what it
    /// changed. The ifindex changes when the link had to be re-created: use the returned one.
    pub fn ensure_dummy(&mut self, name: &str) -> Result<(u32, Changed), LinkError> {
        validate_ifname(name)?;
        let mut change = Changed::No;
        for _ in 0..MAX_ROUNDS {
            let observed = self.link_by_name(name)?;
            let plan = plan_link(name, observed.as_ref())?;
            if let (true, Some(link)) = (plan.ops.is_empty(), &observed) {
                return Ok((link.index, change));
            }
            if change == Changed::No {
                change = plan.change;
            }
            for op in &plan.ops {
                self.apply_link(name, op)?;
            }
        }
        Err(LinkError::NotConverged {
            what: format!("dummy link {name}"),
        })
    }

    fn apply_link(&mut self, name: &str, op: &LinkOp) -> Result<(), LinkError> {
        match op {
            LinkOp::Create => {
                let what = format!("creating dummy link {name}");
                let msg = RouteNetlinkMessage::NewLink(create_dummy_msg(name));
                match self.rtnl.request(&what, msg, NLM_F_CREATE | NLM_F_EXCL) {
                    Ok(_) => Ok(()),
                    // Somebody created it meanwhile: the next observation decides.
                    Err(ReqError::Nack(n)) if n.errno == libc::EEXIST => Ok(()),
                    Err(ReqError::Nack(n)) if n.errno == libc::EOPNOTSUPP => {
                        Err(LinkError::DummyUnsupported {
                            name: name.to_string(),
                        })
                    }
                    Err(e) => Err(e.into_link_error(&what)),
                }
            }
            LinkOp::SetUp(index) => {
                let what = format!("setting link {name} up");
                self.rtnl
                    .must(&what, RouteNetlinkMessage::SetLink(set_up_msg(*index)), 0)
                    .map(drop)
            }
        }
    }

    /// Ensures `ip` is on link `ifindex` as a host address (/32 or /128; IPv6 with IFA_F_NODAD
    /// so it is usable at once). A copy with another prefix length is replaced.
    pub fn ensure_address(&mut self, ifindex: u32, ip: IpAddr) -> Result<Changed, LinkError> {
        let mut change = Changed::No;
        for _ in 0..MAX_ROUNDS {
            let observed = self.addresses(ifindex, ip.is_ipv6())?;
            let plan = plan_address(ifindex, ip, &observed);
            if plan.ops.is_empty() {
                return Ok(change);
            }
            if change == Changed::No {
                change = plan.change;
            }
            for op in &plan.ops {
                match op {
                    AddrOp::Add => {
                        let what = format!("adding address {ip} to link #{ifindex}");
                        let msg = RouteNetlinkMessage::NewAddress(add_addr_msg(ifindex, ip));
                        self.rtnl.must(&what, msg, NLM_F_CREATE | NLM_F_REPLACE)?;
                        if ip.is_ipv6() {
                            self.await_kernel_local_route(ifindex, ip)?;
                        }
                    }
                    AddrOp::Delete(addr) => {
                        let what = format!(
                            "deleting address {}/{} from link #{ifindex}",
                            addr.ip, addr.prefix_len
                        );
                        let msg = RouteNetlinkMessage::DelAddress(del_addr_msg(addr));
                        match self.rtnl.request(&what, msg, 0) {
                            Ok(_) => {}
                            // Already gone: the next observation decides.
                            Err(ReqError::Nack(n)) if n.errno == libc::EADDRNOTAVAIL => {}
                            Err(e) => return Err(e.into_link_error(&what)),
                        }
                    }
                }
            }
        }
        Err(LinkError::NotConverged {
            what: format!("address {ip} on link #{ifindex}"),
        })
    }

    /// Waits (briefly) for the local route the kernel adds for a new IPv6 address. IPv6 inserts
    /// it from a work queue after the netlink answer; a route repair done before it appears
    /// would be undone by it. Gives up silently: the next ensure pass repairs what comes late.
    fn await_kernel_local_route(&mut self, ifindex: u32, ip: IpAddr) -> Result<(), LinkError> {
        for _ in 0..KERNEL_ROUTE_POLLS {
            let routes = self.local_routes(ifindex, ip.is_ipv6())?;
            if kernel_local_route_present(ifindex, ip, &routes) {
                return Ok(());
            }
            std::thread::sleep(KERNEL_ROUTE_POLL_INTERVAL);
        }
        tracing::debug!(%ip, ifindex, "the kernel's local route for the new address did not appear yet");
        Ok(())
    }

    /// Ensures the local route of `vip` in table local carries `src` as preferred source, so
    /// that this node's connections to the VIP leave with an address the masters can answer.
    pub fn ensure_local_route_src(
        &mut self,
        ifindex: u32,
        vip: IpAddr,
        src: IpAddr,
    ) -> Result<Changed, LinkError> {
        let mut change = Changed::No;
        for _ in 0..MAX_ROUNDS {
            let observed = self.local_routes(ifindex, vip.is_ipv6())?;
            let plan = plan_local_route(ifindex, vip, src, &observed)?;
            if plan.ops.is_empty() {
                return Ok(change);
            }
            if change == Changed::No {
                change = plan.change;
            }
            for op in &plan.ops {
                match op {
                    RouteOp::Replace => {
                        let what = format!("setting source {src} on the local route of {vip}");
                        let msg = RouteNetlinkMessage::NewRoute(replace_local_route_msg(
                            ifindex, vip, src,
                        ));
                        self.rtnl.must(&what, msg, NLM_F_CREATE | NLM_F_REPLACE)?;
                    }
                    RouteOp::Delete(route) => {
                        let Some(msg) = del_route_msg(route) else {
                            continue;
                        };
                        let what = format!(
                            "deleting a stale local route of {vip} ({})",
                            describe_route(route)
                        );
                        match self
                            .rtnl
                            .request(&what, RouteNetlinkMessage::DelRoute(msg), 0)
                        {
                            Ok(_) => {}
                            // Already gone: the next observation decides.
                            Err(ReqError::Nack(n))
                                if n.errno == libc::ESRCH || n.errno == libc::ENOENT => {}
                            Err(e) => return Err(e.into_link_error(&what)),
                        }
                    }
                }
            }
        }
        Err(LinkError::NotConverged {
            what: format!("local route of {vip}"),
        })
    }

    /// The source address the kernel would use to reach `dst` (RTM_GETROUTE), i.e. this node's
    /// own address toward the masters.
    pub fn source_for(&mut self, dst: IpAddr) -> Result<IpAddr, LinkError> {
        let op = format!("looking up the route to {dst}");
        let replies =
            match self
                .rtnl
                .request(&op, RouteNetlinkMessage::GetRoute(get_route_msg(dst)), 0)
            {
                Ok(r) => r,
                Err(ReqError::Nack(n))
                    if n.errno == libc::ENETUNREACH || n.errno == libc::EHOSTUNREACH =>
                {
                    return Err(LinkError::NoRoute { dst })
                }
                Err(e) => return Err(e.into_link_error(&op)),
            };
        replies
            .iter()
            .find_map(|r| match r {
                RouteNetlinkMessage::NewRoute(m) => route_state(m).pref_src,
                _ => None,
            })
            .ok_or(LinkError::NoSource { dst })
    }

    /// Deletes the link if it exists and is a dummy; `Ok(false)` if absent; an error if it is not
    /// a dummy (then it is left untouched).
    pub fn delete_dummy(&mut self, name: &str) -> Result<bool, LinkError> {
        let Some(link) = self.link_by_name(name)? else {
            return Ok(false);
        };
        if link.kind.as_deref() != Some("dummy") {
            return Err(LinkError::NotDummy {
                name: name.to_string(),
                kind: link.kind.unwrap_or_else(|| "physical device".to_string()),
            });
        }
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        let op = format!("deleting dummy link {name}");
        match self.rtnl.request(&op, RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(_) => Ok(true),
            Err(ReqError::Nack(n)) if n.errno == libc::ENODEV => Ok(false),
            Err(e) => Err(e.into_link_error(&op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const VIP4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 103, 97, 2));
    const NODE4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    const VIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
    const NODE6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10));

    fn dummy(index: u32, up: bool) -> LinkState {
        LinkState {
            index,
            kind: Some("dummy".into()),
            up,
        }
    }

    #[test]
    fn names_linux_rejects_are_rejected() {
        for bad in [
            "",
            "a/b",
            "a:b",
            "a b",
            ".",
            "..",
            "sixteen-chars-xx",
            "tab\there",
        ] {
            assert!(
                matches!(validate_ifname(bad), Err(LinkError::InvalidName { .. })),
                "{bad:?} accepted"
            );
        }
        for good in ["lvscare", "kube-ipvs0", "a", "fifteen-chars-x"] {
            assert!(validate_ifname(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn missing_link_is_created() {
        let plan = plan_link("lvscare", None).unwrap();
        assert_eq!(plan.ops, vec![LinkOp::Create]);
        assert_eq!(plan.change, Changed::Created);
    }

    #[test]
    fn down_dummy_is_set_up_and_up_dummy_left_alone() {
        let plan = plan_link("lvscare", Some(&dummy(7, false))).unwrap();
        assert_eq!(plan.ops, vec![LinkOp::SetUp(7)]);
        assert!(matches!(plan.change, Changed::Repaired(ref w) if w.contains("down")));
        assert_eq!(
            plan_link("lvscare", Some(&dummy(7, true))).unwrap(),
            Plan::nothing()
        );
    }

    #[test]
    fn foreign_links_are_refused_whatever_their_state() {
        for kind in [Some("bridge"), Some("veth"), None] {
            for up in [false, true] {
                let link = LinkState {
                    index: 3,
                    kind: kind.map(String::from),
                    up,
                };
                match plan_link("lvscare", Some(&link)) {
                    Err(LinkError::NotDummy { name, kind: k }) => {
                        assert_eq!(name, "lvscare");
                        assert_eq!(k, kind.unwrap_or("physical device"));
                    }
                    other => panic!("{kind:?} up={up}: {other:?}"),
                }
            }
        }
    }

    fn addr(index: u32, ip: IpAddr, prefix_len: u8, flags: u32) -> AddrState {
        AddrState {
            index,
            ip,
            prefix_len,
            flags,
        }
    }

    #[test]
    fn missing_address_is_added() {
        let other = addr(4, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 32, 0);
        let elsewhere = addr(9, VIP4, 32, 0);
        let plan = plan_address(4, VIP4, &[other, elsewhere]);
        assert_eq!(plan.ops, vec![AddrOp::Add]);
        assert_eq!(plan.change, Changed::Created);
    }

    #[test]
    fn present_host_address_needs_nothing() {
        assert_eq!(
            plan_address(4, VIP4, &[addr(4, VIP4, 32, 0x80)]),
            Plan::nothing()
        );
        assert_eq!(
            plan_address(4, VIP6, &[addr(4, VIP6, 128, 0x82)]),
            Plan::nothing()
        );
    }

    #[test]
    fn wrong_prefix_is_replaced_by_host_prefix() {
        let wide = addr(4, VIP4, 24, 0);
        let plan = plan_address(4, VIP4, std::slice::from_ref(&wide));
        assert_eq!(plan.ops, vec![AddrOp::Delete(wide), AddrOp::Add]);
        assert!(matches!(plan.change, Changed::Repaired(ref w) if w.contains("/24")));
    }

    #[test]
    fn wrong_prefix_beside_good_copy_is_only_deleted() {
        let wide = addr(4, VIP6, 64, 0);
        let plan = plan_address(4, VIP6, &[addr(4, VIP6, 128, 0), wide.clone()]);
        assert_eq!(plan.ops, vec![AddrOp::Delete(wide)]);
        assert!(plan.change.is_change());
    }

    #[test]
    fn unusable_ipv6_address_is_re_added() {
        for flags in [IFA_F_DADFAILED, IFA_F_TENTATIVE] {
            let bad = addr(4, VIP6, 128, flags);
            let plan = plan_address(4, VIP6, std::slice::from_ref(&bad));
            assert_eq!(
                plan.ops,
                vec![AddrOp::Delete(bad), AddrOp::Add],
                "flags {flags:#x}"
            );
        }
        // Optimistic addresses are usable while tentative.
        assert_eq!(
            plan_address(
                4,
                VIP6,
                &[addr(4, VIP6, 128, IFA_F_TENTATIVE | IFA_F_OPTIMISTIC)]
            ),
            Plan::nothing()
        );
    }

    fn local_route(
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

    #[test]
    fn kernel_route_with_vip_source_is_replaced() {
        let kernel = local_route(4, VIP4, Some(VIP4), None);
        let plan = plan_local_route(4, VIP4, NODE4, &[kernel]).unwrap();
        assert_eq!(plan.ops, vec![RouteOp::Replace]);
        assert!(matches!(plan.change, Changed::Repaired(ref w) if w.contains("src 10.103.97.2")));
    }

    #[test]
    fn missing_route_is_created_and_correct_one_left_alone() {
        assert_eq!(
            plan_local_route(4, VIP4, NODE4, &[]).unwrap().change,
            Changed::Created
        );
        let good = local_route(4, VIP4, Some(NODE4), None);
        assert_eq!(
            plan_local_route(4, VIP4, NODE4, &[good]).unwrap(),
            Plan::nothing()
        );
    }

    #[test]
    fn ipv6_kernel_route_beside_ours_is_deleted() {
        let ours = local_route(4, VIP6, Some(NODE6), Some(1024));
        let kernel = local_route(4, VIP6, None, Some(0));
        let plan = plan_local_route(4, VIP6, NODE6, &[kernel.clone(), ours]).unwrap();
        assert_eq!(plan.ops, vec![RouteOp::Delete(kernel)]);
        assert!(matches!(plan.change, Changed::Repaired(ref w) if w.contains("metric 0")));
    }

    #[test]
    fn ipv6_kernel_route_alone_gets_ours_added_first() {
        // Deleting first would leave the VIP without a local route for a moment.
        let kernel = local_route(4, VIP6, None, Some(0));
        assert_eq!(
            plan_local_route(4, VIP6, NODE6, &[kernel]).unwrap().ops,
            vec![RouteOp::Replace]
        );
    }

    #[test]
    fn kernel_route_is_recognised_by_its_missing_source() {
        let ours = local_route(4, VIP6, Some(NODE6), Some(1024));
        assert!(!kernel_local_route_present(
            4,
            VIP6,
            std::slice::from_ref(&ours)
        ));
        let kernel = local_route(4, VIP6, None, Some(0));
        assert!(kernel_local_route_present(4, VIP6, &[ours, kernel.clone()]));
        assert!(!kernel_local_route_present(5, VIP6, &[kernel]));
    }

    #[test]
    fn duplicate_correct_routes_are_reduced_to_one() {
        let good = local_route(4, VIP4, Some(NODE4), None);
        let plan = plan_local_route(4, VIP4, NODE4, &[good.clone(), good.clone()]).unwrap();
        assert_eq!(plan.ops, vec![RouteOp::Delete(good)]);
    }

    #[test]
    fn routes_of_other_links_tables_and_addresses_are_ignored() {
        let mut other_table = local_route(4, VIP4, Some(VIP4), None);
        other_table.table = 254;
        let mut not_local = local_route(4, VIP4, Some(VIP4), None);
        not_local.local = false;
        let other_link = local_route(9, VIP4, Some(VIP4), None);
        let other_dst = local_route(4, NODE4, Some(NODE4), None);
        let good = local_route(4, VIP4, Some(NODE4), None);
        let plan = plan_local_route(
            4,
            VIP4,
            NODE4,
            &[other_table, not_local, other_link, other_dst, good],
        )
        .unwrap();
        assert_eq!(plan, Plan::nothing());
    }

    #[test]
    fn mismatched_or_circular_source_is_an_error() {
        assert!(matches!(
            plan_local_route(4, VIP4, NODE6, &[]),
            Err(LinkError::FamilyMismatch { .. })
        ));
        assert!(matches!(
            plan_local_route(4, VIP4, VIP4, &[]),
            Err(LinkError::SourceIsVip { .. })
        ));
    }

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
        while payload.len() % 4 != 0 {
            payload.push(0);
        }
        let flags = NLM_F_ACK_TLVS | NLM_F_CAPPED;
        assert_eq!(
            extack_message(flags, &payload).as_deref(),
            Some("Unknown device type")
        );
        assert_eq!(extack_message(NLM_F_CAPPED, &payload), None);
    }

    #[test]
    fn kernel_errors_name_the_operation_and_the_fix() {
        let e = LinkError::Kernel {
            op: "creating dummy link lvscare".into(),
            source: io::Error::from_raw_os_error(libc::EPERM),
            detail: None,
        };
        let text = e.to_string();
        assert!(
            text.contains("creating dummy link lvscare") && text.contains("CAP_NET_ADMIN"),
            "{text}"
        );
    }
}
