//! The pure planners: from the observed link, addresses and routes to the operations that put
//! them right. They never touch the kernel, so every decision is unit-tested without one.

use std::fmt;
use std::net::IpAddr;

use super::error::LinkError;

/// Routing table `local` (RT_TABLE_LOCAL), where the kernel keeps the routes of local addresses.
pub const TABLE_LOCAL: u32 = 255;

/// Linux IFNAMSIZ minus the terminating NUL.
const MAX_IFNAME_LEN: usize = 15;

/// IFA_F_* bits that make an IPv6 address unusable (TENTATIVE without OPTIMISTIC, DADFAILED).
const IFA_F_DADFAILED: u32 = 0x08;
const IFA_F_OPTIMISTIC: u32 = 0x04;
const IFA_F_TENTATIVE: u32 = 0x40;

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
    /// No operation: everything is as wanted.
    pub(super) fn nothing() -> Self {
        Plan {
            ops: Vec::new(),
            change: Changed::No,
        }
    }
}

/// The host prefix length of an address: 32 or 128.
pub(super) fn host_prefix(ip: IpAddr) -> u8 {
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
        Some(link) if link.kind.as_deref() != Some("dummy") => {
            Err(LinkError::not_dummy(name, link.kind.clone()))
        }
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
pub(super) fn describe_route(route: &RouteState) -> String {
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

#[cfg(test)]
mod tests {
    use super::super::testing::{local_route, NODE4, NODE6, VIP4, VIP6};
    use super::*;
    use std::net::Ipv4Addr;

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
}
