//! [`Links`], the handle the rest of lvscare uses: every `ensure_*` call observes the kernel,
//! asks a planner what is wrong, applies the planned operations and observes again.

use std::net::IpAddr;
use std::time::Duration;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::RouteNetlinkMessage;

use super::error::{LinkError, MAX_ROUNDS};
use super::msg::{
    add_addr_msg, addresses_in, create_dummy_msg, del_addr_msg, del_link_msg, del_route_msg,
    dump_addresses_msg, dump_local_routes_msg, get_link_msg, get_route_msg, links_in,
    replace_local_route_msg, routes_in, set_up_msg,
};
use super::plan::{
    describe_route, kernel_local_route_present, plan_address, plan_link, plan_local_route,
    validate_ifname, AddrOp, AddrState, Changed, LinkOp, LinkState, Plan, RouteOp, RouteState,
    TABLE_LOCAL,
};
use super::socket::{ReqError, Rtnl};

/// How often, and how far apart, to look for the kernel's local route of a new IPv6 address
/// (it normally appears within milliseconds).
const KERNEL_ROUTE_POLLS: usize = 200;
const KERNEL_ROUTE_POLL_INTERVAL: Duration = Duration::from_millis(5);

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
        let msg = RouteNetlinkMessage::GetLink(get_link_msg(name));
        let op = format!("reading link {name}");
        match self.rtnl.request(&op, msg, 0) {
            Ok(replies) => Ok(links_in(&replies).next()),
            Err(ReqError::Nack(n)) if n.errno == libc::ENODEV => Ok(None),
            Err(e) => Err(e.into_link_error(&op)),
        }
    }

    /// Reads the addresses of `family` on link `ifindex`.
    pub fn addresses(&mut self, ifindex: u32, ipv6: bool) -> Result<Vec<AddrState>, LinkError> {
        let msg = RouteNetlinkMessage::GetAddress(dump_addresses_msg(ifindex, ipv6));
        let replies = self.rtnl.dump("listing addresses", msg)?;
        Ok(addresses_in(&replies)
            .filter(|a| a.index == ifindex)
            .collect())
    }

    /// Reads the local-table routes of `family` through link `ifindex`.
    pub fn local_routes(&mut self, ifindex: u32, ipv6: bool) -> Result<Vec<RouteState>, LinkError> {
        let msg = RouteNetlinkMessage::GetRoute(dump_local_routes_msg(ifindex, ipv6));
        let replies = self.rtnl.dump("listing local routes", msg)?;
        Ok(routes_in(&replies)
            .filter(|r| r.table == TABLE_LOCAL && r.oif == Some(ifindex))
            .collect())
    }

    /// Observes, plans and applies the plan until the planner asks for nothing, at most
    /// [`MAX_ROUNDS`] times; returns the converged observation and what the first plan changed.
    /// `what` names the object for [`LinkError::NotConverged`].
    fn converge<S, Op>(
        &mut self,
        what: impl FnOnce() -> String,
        mut observe: impl FnMut(&mut Self) -> Result<S, LinkError>,
        mut plan: impl FnMut(&S) -> Result<Plan<Op>, LinkError>,
        mut apply: impl FnMut(&mut Self, &Op) -> Result<(), LinkError>,
    ) -> Result<(S, Changed), LinkError> {
        let mut change = Changed::No;
        for _ in 0..MAX_ROUNDS {
            let observed = observe(self)?;
            let plan = plan(&observed)?;
            if plan.ops.is_empty() {
                return Ok((observed, change));
            }
            if change == Changed::No {
                change = plan.change;
            }
            for op in &plan.ops {
                apply(self, op)?;
            }
        }
        Err(LinkError::NotConverged { what: what() })
    }

    /// Ensures a dummy link named `name` exists and is up; returns its ifindex and what it
    /// changed. The ifindex changes when the link had to be re-created: use the returned one.
    pub fn ensure_dummy(&mut self, name: &str) -> Result<(u32, Changed), LinkError> {
        validate_ifname(name)?;
        let what = || format!("dummy link {name}");
        let (link, change) = self.converge(
            what,
            |links| links.link_by_name(name),
            |observed| plan_link(name, observed.as_ref()),
            |links, op| links.apply_link(name, op),
        )?;
        // The planner is satisfied only with an existing link, so this is always `Some`.
        let link = link.ok_or_else(|| LinkError::NotConverged { what: what() })?;
        Ok((link.index, change))
    }

    /// Applies one planned link operation.
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
        let (_, change) = self.converge(
            || format!("address {ip} on link #{ifindex}"),
            |links| links.addresses(ifindex, ip.is_ipv6()),
            |observed| Ok(plan_address(ifindex, ip, observed)),
            |links, op| links.apply_address(ifindex, ip, op),
        )?;
        Ok(change)
    }

    /// Applies one planned address operation for `ip` on link `ifindex`.
    fn apply_address(&mut self, ifindex: u32, ip: IpAddr, op: &AddrOp) -> Result<(), LinkError> {
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
                // Already gone: the next observation decides.
                self.rtnl
                    .request_unless(&what, msg, 0, &[libc::EADDRNOTAVAIL])?;
            }
        }
        Ok(())
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
        let (_, change) = self.converge(
            || format!("local route of {vip}"),
            |links| links.local_routes(ifindex, vip.is_ipv6()),
            |observed| plan_local_route(ifindex, vip, src, observed),
            |links, op| links.apply_route(ifindex, vip, src, op),
        )?;
        Ok(change)
    }

    /// Applies one planned operation on the local route of `vip` on link `ifindex`.
    fn apply_route(
        &mut self,
        ifindex: u32,
        vip: IpAddr,
        src: IpAddr,
        op: &RouteOp,
    ) -> Result<(), LinkError> {
        match op {
            RouteOp::Replace => {
                let what = format!("setting source {src} on the local route of {vip}");
                let msg = RouteNetlinkMessage::NewRoute(replace_local_route_msg(ifindex, vip, src));
                self.rtnl.must(&what, msg, NLM_F_CREATE | NLM_F_REPLACE)?;
            }
            RouteOp::Delete(route) => {
                let Some(msg) = del_route_msg(route) else {
                    return Ok(());
                };
                let what = format!(
                    "deleting a stale local route of {vip} ({})",
                    describe_route(route)
                );
                // Already gone: the next observation decides.
                self.rtnl.request_unless(
                    &what,
                    RouteNetlinkMessage::DelRoute(msg),
                    0,
                    &[libc::ESRCH, libc::ENOENT],
                )?;
            }
        }
        Ok(())
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
        let source = routes_in(&replies).find_map(|r| r.pref_src);
        source.ok_or(LinkError::NoSource { dst })
    }

    /// Deletes the link if it exists and is a dummy; `Ok(false)` if absent; an error if it is not
    /// a dummy (then it is left untouched).
    pub fn delete_dummy(&mut self, name: &str) -> Result<bool, LinkError> {
        let Some(link) = self.link_by_name(name)? else {
            return Ok(false);
        };
        if link.kind.as_deref() != Some("dummy") {
            return Err(LinkError::not_dummy(name, link.kind));
        }
        let op = format!("deleting dummy link {name}");
        let msg = RouteNetlinkMessage::DelLink(del_link_msg(link.index));
        self.rtnl.request_unless(&op, msg, 0, &[libc::ENODEV])
    }
}
