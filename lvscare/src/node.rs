//! The kernel edge of lvscare: brings the node's IPVS service, dummy link, VIP address, route
//! source and sysctls to the desired state, and removes them on `--clean`. Decisions are made by
//! the pure planners (`reconcile`, `link::plan_*`); this module only reads and applies.

use crate::config::CareConfig;
use crate::health::Health;
use crate::ipvs::{IpvsClient, IpvsError, ServiceKey};
use crate::link::{Changed, LinkError, Links};
use crate::reconcile::{Desired, Observed, Op, Plan, Reconciler};
use crate::sysctl::{self, SysctlError};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// Sysctls set so that clients of a removed master fail fast instead of hanging (as kube-proxy
/// sets them). They live under net.ipv4.vs but govern IPv6 services too.
pub const SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv4.vs.expire_nodest_conn", "1"),
    ("net.ipv4.vs.expire_quiescent_template", "1"),
];

/// A kernel object lvscare owns, as named in logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    /// lvscare's IPVS virtual service.
    Service,
    /// A real server of that service.
    RealServer,
    /// The dummy interface.
    Interface,
    /// The VIP address on it.
    Address,
    /// The VIP's local route and its source.
    Route,
    /// One of the sysctls lvscare sets.
    Sysctl,
}

/// One thing [`Node::ensure_vip`] had to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipChange {
    /// What was changed.
    pub object: Object,
    /// It was missing (rather than present and wrong).
    pub created: bool,
    /// One line for the log.
    pub line: String,
}

impl VipChange {
    /// Undid someone else's change: anything wrong, and anything missing after lvscare's
    /// first pass.
    pub fn is_repair(&self, setup: bool) -> bool {
        !self.created || !setup
    }
}

/// The object an applied IPVS operation repaired, if it was a repair: after the first pass, a
/// service change always is, and a real server added or reset is when no health change asked
/// for it. Deletions are not counted: a drained server's end looks the same as a foreign one's.
pub fn ipvs_repair(op: &Op, setup: bool, health_changed: bool) -> Option<Object> {
    match op {
        _ if setup => None,
        Op::AddService(_) | Op::UpdateService(_) => Some(Object::Service),
        Op::AddDest(_) | Op::UpdateDest(_) if !health_changed => Some(Object::RealServer),
        _ => None,
    }
}

/// A failure at the kernel edge.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// IPVS is not in the kernel and could not be loaded.
    #[error(
        "the kernel has no IPVS: the ip_vs module is not loaded and loading it failed; run \
         `modprobe ip_vs` on the node (as a static pod, mount the host's /lib/modules read-only)"
    )]
    IpvsUnavailable,
    /// An IPVS request failed.
    #[error("{0}")]
    Ipvs(#[from] IpvsError),
    /// A link, address or route request failed.
    #[error("{0}")]
    Link(#[from] LinkError),
    /// A sysctl could not be set.
    #[error("{0}")]
    Sysctl(#[from] SysctlError),
    /// Signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signal(String),
    /// The metrics endpoint could not be opened.
    #[error("{0}")]
    Metrics(#[from] crate::metrics::ServeError),
    /// lvscare may not change IPVS or links here: retrying cannot help.
    #[error(
        "lvscare lacks CAP_NET_ADMIN ({0}): run it as root, in a privileged static pod, or as the \
         systemd unit (AmbientCapabilities=CAP_NET_ADMIN)"
    )]
    NotPermitted(String),
    /// A blocking task at the kernel ended abnormally.
    #[error("the kernel task ended abnormally: {0}")]
    Task(String),
}

impl NodeError {
    /// The kernel refused for lack of privilege (EPERM).
    pub fn is_not_permitted(&self) -> bool {
        match self {
            NodeError::Ipvs(IpvsError::Kernel { errno, .. }) => *errno == libc::EPERM,
            NodeError::Link(LinkError::Kernel { source, .. }) => {
                source.raw_os_error() == Some(libc::EPERM)
            }
            NodeError::NotPermitted(_) => true,
            _ => false,
        }
    }
}

/// Open netlink sockets to the kernel: IPVS (generic netlink) and rtnetlink.
pub struct Node {
    ipvs: IpvsClient,
    links: Links,
}

impl Node {
    /// Opens both sockets; when IPVS is missing, asks the kernel to load it once.
    pub fn open() -> Result<Node, NodeError> {
        let ipvs = match IpvsClient::open() {
            Ok(c) => c,
            Err(IpvsError::NotLoaded) => {
                // The genl lookup already asked the kernel to load ip_vs by its family alias; this
                // covers kernels or containers where that path is unavailable but modprobe is.
                let _ = std::process::Command::new("modprobe")
                    .arg("ip_vs")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
                IpvsClient::open().map_err(|e| match e {
                    IpvsError::NotLoaded => NodeError::IpvsUnavailable,
                    other => NodeError::Ipvs(other),
                })?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Node {
            ipvs,
            links: Links::open()?,
        })
    }

    /// The node's own address toward the masters: `--source-ip`, or the kernel's route choice.
    pub fn source_ip(&mut self, cfg: &CareConfig) -> Result<IpAddr, NodeError> {
        match cfg.source_ip {
            Some(ip) => Ok(ip),
            None => {
                let first = cfg
                    .real_servers
                    .first()
                    .map(|s| s.ip())
                    .unwrap_or(cfg.vip.ip());
                Ok(self.links.source_for(first)?)
            }
        }
    }

    /// Ensures the dummy link, the VIP on it, its route source and the sysctls; returns each
    /// thing it had to create or repair.
    pub fn ensure_vip(
        &mut self,
        cfg: &CareConfig,
        source: IpAddr,
    ) -> Result<Vec<VipChange>, NodeError> {
        let mut changes = Vec::new();
        let vip = cfg.vip.ip();
        let (ifindex, c) = self.links.ensure_dummy(&cfg.iface)?;
        note(
            &mut changes,
            Object::Interface,
            &format!("interface {}", cfg.iface),
            c,
        );
        let address = self.links.ensure_address(ifindex, vip)?;
        let fresh = matches!(address, Changed::Created);
        note(
            &mut changes,
            Object::Address,
            &format!("address {vip} on {}", cfg.iface),
            address,
        );
        let route = self.links.ensure_local_route_src(ifindex, vip, source)?;
        if fresh && route.is_change() {
            // A new address always comes with the kernel's route (source = VIP): setting ours
            // is part of making the address, not a repair of its own.
            changes.push(VipChange {
                object: Object::Address,
                created: true,
                line: format!("set source {source} on the local route of {vip}"),
            });
        } else {
            note(
                &mut changes,
                Object::Route,
                &format!("local route of {vip} (source {source})"),
                route,
            );
        }
        for (key, value) in SYSCTLS {
            if sysctl::ensure(key, value)? {
                changes.push(VipChange {
                    object: Object::Sysctl,
                    created: true,
                    line: format!("set {key}={value}"),
                });
            }
        }
        Ok(changes)
    }

    /// Reads the service, plans against the desired backends, applies the plan. Returns the plan
    /// and one line per operation applied (`setup`: this is lvscare's first pass, so a missing
    /// service is being created rather than repaired); stops at the first failing operation.
    pub fn ensure_service(
        &mut self,
        cfg: &CareConfig,
        backends: Vec<(SocketAddr, Health)>,
        reconciler: &mut Reconciler,
        now: Instant,
        setup: bool,
    ) -> Result<(Plan, Vec<String>), NodeError> {
        let service = cfg.service();
        let key = service.key;
        let observed_service = self.ipvs.service(&key)?;
        let dests = match observed_service {
            Some(_) => self.ipvs.destinations(&key)?,
            None => Vec::new(),
        };
        let observed = Observed {
            service: observed_service,
            dests,
        };
        let desired = Desired {
            service,
            backends,
            drain_timeout: cfg.drain_timeout,
        };
        let plan = reconciler.plan(&desired, &observed, now);
        let mut done = Vec::new();
        for op in &plan.ops {
            self.apply(&key, op)?;
            done.push(describe(op, setup));
        }
        Ok((plan, done))
    }

    fn apply(&mut self, key: &ServiceKey, op: &Op) -> Result<(), NodeError> {
        match op {
            Op::AddService(s) => self.ipvs.add_service(s)?,
            Op::UpdateService(s) => self.ipvs.update_service(s)?,
            Op::AddDest(d) => self.ipvs.add_destination(key, d)?,
            Op::UpdateDest(d) => self.ipvs.update_destination(key, d)?,
            Op::DeleteDest(addr) => match self.ipvs.delete_destination(key, *addr) {
                Err(e) if e.is_not_found() => {}
                other => other?,
            },
        }
        Ok(())
    }

    /// Removes lvscare's IPVS service and dummy link; returns what was removed. Nothing else is
    /// touched: other services, and a non-dummy link of the same name, stay.
    pub fn clean(&mut self, cfg: &CareConfig) -> Result<Vec<String>, NodeError> {
        let mut removed = Vec::new();
        let key = cfg.service().key;
        match self.ipvs.delete_service(&key) {
            Ok(()) => removed.push(format!("IPVS service {}", cfg.vip)),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        if self.links.delete_dummy(&cfg.iface)? {
            removed.push(format!("interface {} (with {})", cfg.iface, cfg.vip.ip()));
        }
        Ok(removed)
    }
}

fn note(changes: &mut Vec<VipChange>, object: Object, what: &str, c: Changed) {
    let (created, line) = match c {
        Changed::No => return,
        Changed::Created => (true, format!("created {what}")),
        Changed::Repaired(why) => (false, format!("repaired {what}: {why}")),
    };
    changes.push(VipChange {
        object,
        created,
        line,
    });
}

/// One log line for an applied operation.
fn describe(op: &Op, setup: bool) -> String {
    match op {
        Op::AddService(s) if !setup => {
            format!(
                "repaired: IPVS service {} was gone, re-created it ({})",
                s.key.addr, s.scheduler
            )
        }
        Op::AddService(s) => format!("created IPVS service {} ({})", s.key.addr, s.scheduler),
        Op::UpdateService(s) => format!(
            "reset IPVS service {} parameters (scheduler {})",
            s.key.addr, s.scheduler
        ),
        Op::AddDest(d) => format!("added real server {} (weight {})", d.addr, d.weight),
        Op::UpdateDest(d) if d.weight == 0 => {
            format!("real server {} set to weight 0: draining", d.addr)
        }
        Op::UpdateDest(d) => format!("real server {} set to weight {}", d.addr, d.weight),
        Op::DeleteDest(addr) => format!("removed real server {addr}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{Destination, Protocol, Service, ServiceKey};

    #[test]
    fn only_eperm_is_a_lack_of_privilege() {
        let kernel = |errno| {
            NodeError::Ipvs(IpvsError::Kernel {
                op: "add_service",
                errno,
            })
        };
        assert!(kernel(libc::EPERM).is_not_permitted());
        assert!(!kernel(libc::ENOENT).is_not_permitted());
        assert!(!NodeError::IpvsUnavailable.is_not_permitted());
        let e = NodeError::NotPermitted("IPVS add_service failed".into()).to_string();
        assert!(
            e.contains("CAP_NET_ADMIN") && e.contains("privileged"),
            "{e}"
        );
    }

    #[test]
    fn repairs_are_what_nobody_asked_for() {
        let addr: SocketAddr = "192.168.0.2:6443".parse().unwrap();
        let key = ServiceKey {
            addr: "10.103.97.2:6443".parse().unwrap(),
            protocol: Protocol::Tcp,
        };
        let add_service = Op::AddService(Service::new(key, "rr"));
        let add_dest = Op::AddDest(Destination::masq(addr, 1));
        // lvscare's first pass creates everything: nothing is a repair.
        assert_eq!(ipvs_repair(&add_service, true, false), None);
        assert_eq!(ipvs_repair(&add_dest, true, false), None);
        assert_eq!(
            ipvs_repair(&add_service, false, true),
            Some(Object::Service)
        );
        // A server back after a health change is the health change, not a repair.
        assert_eq!(ipvs_repair(&add_dest, false, true), None);
        assert_eq!(
            ipvs_repair(&add_dest, false, false),
            Some(Object::RealServer)
        );
        assert_eq!(ipvs_repair(&Op::DeleteDest(addr), false, false), None);

        let made = |created| VipChange {
            object: Object::Interface,
            created,
            line: String::new(),
        };
        assert!(!made(true).is_repair(true));
        assert!(made(true).is_repair(false));
        assert!(made(false).is_repair(true));
    }
}
