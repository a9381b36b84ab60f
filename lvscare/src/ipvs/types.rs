//! Plain data types for IPVS services and real servers, shared by the codec, the client and the
//! reconcile core.

use std::net::{IpAddr, SocketAddr};

/// Transport protocol of a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// IPPROTO_TCP (6).
    Tcp,
    /// IPPROTO_UDP (17).
    Udp,
}

impl Protocol {
    /// The IPPROTO_* number the kernel uses.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }

    /// Maps an IPPROTO_* number back; `None` for protocols lvscare does not handle.
    pub fn from_number(n: u16) -> Option<Self> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            _ => None,
        }
    }
}

/// Identifies one virtual service: address, port and protocol (fwmark services are not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    /// Virtual address and port (IPv4 or IPv6).
    pub addr: SocketAddr,
    /// Transport protocol.
    pub protocol: Protocol,
}

/// Kernel flag the kernel sets on every hashed service; never compare it.
pub const IP_VS_SVC_F_HASHED: u32 = 0x0002;

/// A virtual service as the kernel stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Address, port and protocol.
    pub key: ServiceKey,
    /// Scheduler name, e.g. "rr".
    pub scheduler: String,
    /// IP_VS_SVC_F_* flags (HASHED masked off when read back).
    pub flags: u32,
    /// Persistence timeout in seconds (0: no persistence).
    pub timeout: u32,
    /// Netmask: 0xffff_ffff for IPv4, 128 for IPv6.
    pub netmask: u32,
}

impl Service {
    /// A non-persistent service with the netmask the kernel expects for the address family.
    pub fn new(key: ServiceKey, scheduler: &str) -> Self {
        let netmask = match key.addr.ip() {
            IpAddr::V4(_) => 0xffff_ffff,
            IpAddr::V6(_) => 128,
        };
        Service {
            key,
            scheduler: scheduler.to_string(),
            flags: 0,
            timeout: 0,
            netmask,
        }
    }
}

/// How packets reach a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardMethod {
    /// NAT (IP_VS_CONN_F_MASQ = 0): the only one usable for a local balancer.
    Masquerade,
    /// IP-in-IP tunnel (2).
    Tunnel,
    /// Direct routing (3).
    Route,
    /// Local node (1); reported by the kernel for local real servers.
    Local,
}

impl ForwardMethod {
    /// The IP_VS_CONN_F_* value the kernel uses.
    pub fn number(self) -> u32 {
        match self {
            ForwardMethod::Masquerade => 0,
            ForwardMethod::Local => 1,
            ForwardMethod::Tunnel => 2,
            ForwardMethod::Route => 3,
        }
    }

    /// Maps the kernel value (low bits of the conn flags) back.
    pub fn from_number(n: u32) -> Option<Self> {
        match n & 0x7 {
            0 => Some(ForwardMethod::Masquerade),
            1 => Some(ForwardMethod::Local),
            2 => Some(ForwardMethod::Tunnel),
            3 => Some(ForwardMethod::Route),
            _ => None,
        }
    }
}

/// A real server (destination) of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Real server address and port.
    pub addr: SocketAddr,
    /// Forwarding method.
    pub forward: ForwardMethod,
    /// Scheduling weight; 0 means "no new connections".
    pub weight: i32,
    /// Upper connection threshold (0: none).
    pub upper_threshold: u32,
    /// Lower connection threshold (0: none).
    pub lower_threshold: u32,
    /// Active connections (read only; ignored when writing).
    pub active_conns: u32,
    /// Inactive connections (read only; ignored when writing).
    pub inactive_conns: u32,
    /// Persistent connection templates (read only; ignored when writing).
    pub persist_conns: u32,
}

impl Destination {
    /// A NAT real server with the given weight and no thresholds.
    pub fn masq(addr: SocketAddr, weight: i32) -> Self {
        Destination {
            addr,
            forward: ForwardMethod::Masquerade,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
            active_conns: 0,
            inactive_conns: 0,
            persist_conns: 0,
        }
    }
}
