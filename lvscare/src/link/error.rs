//! The errors of link, address and route management, each naming the operation and the fix.

use std::io;
use std::net::IpAddr;

/// How many observe/plan/apply rounds an ensure call (or a dump retry) may take before giving up
/// with [`LinkError::NotConverged`]. Each planner converges in at most two rounds on a quiet
/// system; more means something is fighting us.
pub(super) const MAX_ROUNDS: usize = 4;

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

impl LinkError {
    /// [`LinkError::NotDummy`] for link `name` of IFLA_INFO_KIND `kind` (`None`: a physical device).
    pub(super) fn not_dummy(name: &str, kind: Option<String>) -> Self {
        LinkError::NotDummy {
            name: name.to_string(),
            kind: kind.unwrap_or_else(|| "physical device".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
