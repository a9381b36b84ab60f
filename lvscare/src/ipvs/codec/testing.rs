//! Service keys and replies shared by the codec's tests.

use crate::ipvs::types::{Protocol, ServiceKey};

/// A TCP service on an IPv4 VIP.
pub(super) fn v4_key() -> ServiceKey {
    ServiceKey {
        addr: "10.103.97.2:6443".parse().unwrap(),
        protocol: Protocol::Tcp,
    }
}

/// A UDP service on an IPv6 VIP.
pub(super) fn v6_key() -> ServiceKey {
    ServiceKey {
        addr: "[fd00::a:2]:6443".parse().unwrap(),
        protocol: Protocol::Udp,
    }
}

/// Turns a request into what the kernel would echo back: same nests, reply command.
pub(super) fn as_reply(mut req: Vec<u8>, reply_cmd: u8) -> Vec<u8> {
    req[0] = reply_cmd;
    req
}
