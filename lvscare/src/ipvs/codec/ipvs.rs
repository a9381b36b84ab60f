//! IPVS commands and attributes: services and destinations to and from genl payloads.
//!
//! Wire rules (include/uapi/linux/ip_vs.h and net/netfilter/ipvs/ip_vs_ctl.c): integers are in
//! host byte order except the ports, which are big-endian; addresses are always 16 bytes with an
//! IPv4 address in the first 4; the IPv4 netmask is a `__be32` mask while the IPv6 one is a
//! prefix length; WEIGHT is a u32 the kernel treats as signed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::attr::{fixed, get_be16, get_u16, get_u32, top_level, AttrWriter, Attrs};
use super::error::DecodeError;
use super::genl::genl_attrs;
use crate::ipvs::types::{
    Destination, ForwardMethod, Protocol, Service, ServiceKey, IP_VS_SVC_F_HASHED,
};

/// Name under which the kernel registers the IPVS genl family.
pub const IPVS_FAMILY_NAME: &str = "IPVS";

/// IPVS genl version (IPVS_GENL_VERSION).
const IPVS_GENL_VERSION: u8 = 1;

/// IPVS genl command numbers (enum in include/uapi/linux/ip_vs.h).
pub mod cmd {
    /// Add a service; also the command of every service reply.
    pub const NEW_SERVICE: u8 = 1;
    /// Modify a service.
    pub const SET_SERVICE: u8 = 2;
    /// Delete a service.
    pub const DEL_SERVICE: u8 = 3;
    /// Get one service, or dump all.
    pub const GET_SERVICE: u8 = 4;
    /// Add a destination; also the command of every destination reply.
    pub const NEW_DEST: u8 = 5;
    /// Modify a destination.
    pub const SET_DEST: u8 = 6;
    /// Delete a destination.
    pub const DEL_DEST: u8 = 7;
    /// Dump the destinations of one service.
    pub const GET_DEST: u8 = 8;
}

/// Top-level attributes (IPVS_CMD_ATTR_*).
const CMD_ATTR_SERVICE: u16 = 1;
const CMD_ATTR_DEST: u16 = 2;

/// Service attributes (IPVS_SVC_ATTR_*).
const SVC_AF: u16 = 1;
const SVC_PROTOCOL: u16 = 2;
const SVC_ADDR: u16 = 3;
const SVC_PORT: u16 = 4;
const SVC_FWMARK: u16 = 5;
const SVC_SCHED_NAME: u16 = 6;
const SVC_FLAGS: u16 = 7;
const SVC_TIMEOUT: u16 = 8;
const SVC_NETMASK: u16 = 9;

/// Destination attributes (IPVS_DEST_ATTR_*).
const DEST_ADDR: u16 = 1;
const DEST_PORT: u16 = 2;
const DEST_FWD_METHOD: u16 = 3;
const DEST_WEIGHT: u16 = 4;
const DEST_U_THRESH: u16 = 5;
const DEST_L_THRESH: u16 = 6;
const DEST_ACTIVE_CONNS: u16 = 7;
const DEST_INACT_CONNS: u16 = 8;
const DEST_PERSIST_CONNS: u16 = 9;
const DEST_ADDR_FAMILY: u16 = 11;

/// The kernel's IP_VS_SCHEDNAME_MAXLEN includes the NUL.
const SCHED_NAME_MAX: usize = 15;
/// `union nf_inet_addr` is 16 bytes whatever the family.
const INET_ADDR_LEN: usize = 16;

/// A request that cannot be expressed on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The kernel takes 1..=15 bytes without NUL.
    #[error("scheduler name {0:?} must be 1 to 15 bytes without NUL")]
    SchedulerName(String),
}

/// Address family as the kernel numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrFamily {
    /// AF_INET (2).
    V4,
    /// AF_INET6 (10).
    V6,
}

impl AddrFamily {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => AddrFamily::V4,
            IpAddr::V6(_) => AddrFamily::V6,
        }
    }

    /// AF_INET / AF_INET6.
    pub fn number(self) -> u16 {
        match self {
            AddrFamily::V4 => libc::AF_INET as u16,
            AddrFamily::V6 => libc::AF_INET6 as u16,
        }
    }

    /// Maps AF_INET / AF_INET6 back.
    pub fn from_number(n: u16) -> Option<Self> {
        match i32::from(n) {
            libc::AF_INET => Some(AddrFamily::V4),
            libc::AF_INET6 => Some(AddrFamily::V6),
            _ => None,
        }
    }
}

/// 16-byte `nf_inet_addr` for an address.
fn inet_addr(ip: &IpAddr) -> [u8; INET_ADDR_LEN] {
    let mut out = [0u8; INET_ADDR_LEN];
    match ip {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out.copy_from_slice(&v6.octets()),
    }
    out
}

/// The attributes identifying a service (AF, PROTOCOL, ADDR, PORT).
fn put_service_key(w: &mut AttrWriter, key: &ServiceKey) {
    w.put_u16(SVC_AF, AddrFamily::of(&key.addr.ip()).number());
    w.put_u16(SVC_PROTOCOL, key.protocol.number());
    w.put(SVC_ADDR, &inet_addr(&key.addr.ip()));
    w.put(SVC_PORT, &key.addr.port().to_be_bytes());
}

/// Netmask bytes: a `__be32` mask for IPv4, a prefix length in host order for IPv6.
fn netmask_bytes(family: AddrFamily, netmask: u32) -> [u8; 4] {
    match family {
        AddrFamily::V4 => netmask.to_be_bytes(),
        AddrFamily::V6 => netmask.to_ne_bytes(),
    }
}

/// Rejects scheduler names the kernel cannot take.
fn check_scheduler(name: &str) -> Result<(), EncodeError> {
    if name.is_empty() || name.len() > SCHED_NAME_MAX || name.bytes().any(|b| b == 0) {
        return Err(EncodeError::SchedulerName(name.to_string()));
    }
    Ok(())
}

/// NEW/SET_SERVICE: the key plus every field the kernel requires for a full entry.
fn encode_full_service(command: u8, s: &Service) -> Result<Vec<u8>, EncodeError> {
    check_scheduler(&s.scheduler)?;
    let family = AddrFamily::of(&s.key.addr.ip());
    let mut sched = s.scheduler.as_bytes().to_vec();
    sched.push(0);
    // {flags, mask}: a full mask so the kernel takes our flags as they are.
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&s.flags.to_ne_bytes());
    flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    let mut w = AttrWriter::genl(command, IPVS_GENL_VERSION);
    w.nest(CMD_ATTR_SERVICE, |w| {
        put_service_key(w, &s.key);
        w.put(SVC_SCHED_NAME, &sched);
        w.put(SVC_FLAGS, &flags);
        w.put_u32(SVC_TIMEOUT, s.timeout);
        w.put(SVC_NETMASK, &netmask_bytes(family, s.netmask));
    });
    Ok(w.buf)
}

/// A command whose only argument is the service key.
fn encode_service_key_cmd(command: u8, key: &ServiceKey) -> Vec<u8> {
    let mut w = AttrWriter::genl(command, IPVS_GENL_VERSION);
    w.nest(CMD_ATTR_SERVICE, |w| put_service_key(w, key));
    w.buf
}

/// Destination attributes; `full` adds what NEW/SET_DEST require beyond ADDR and PORT.
fn encode_dest_cmd(
    command: u8,
    key: &ServiceKey,
    addr: SocketAddr,
    full: Option<&Destination>,
) -> Vec<u8> {
    let mut w = AttrWriter::genl(command, IPVS_GENL_VERSION);
    w.nest(CMD_ATTR_SERVICE, |w| put_service_key(w, key));
    w.nest(CMD_ATTR_DEST, |w| {
        w.put(DEST_ADDR, &inet_addr(&addr.ip()));
        w.put(DEST_PORT, &addr.port().to_be_bytes());
        if let Some(d) = full {
            w.put_u32(DEST_FWD_METHOD, d.forward.number());
            // Same bits as the kernel's signed int; never truncated to u16.
            w.put_u32(DEST_WEIGHT, d.weight as u32);
            w.put_u32(DEST_U_THRESH, d.upper_threshold);
            w.put_u32(DEST_L_THRESH, d.lower_threshold);
        }
        w.put_u16(DEST_ADDR_FAMILY, AddrFamily::of(&addr.ip()).number());
    });
    w.buf
}

/// IPVS_CMD_NEW_SERVICE.
pub fn encode_new_service(s: &Service) -> Result<Vec<u8>, EncodeError> {
    encode_full_service(cmd::NEW_SERVICE, s)
}

/// IPVS_CMD_SET_SERVICE.
pub fn encode_set_service(s: &Service) -> Result<Vec<u8>, EncodeError> {
    encode_full_service(cmd::SET_SERVICE, s)
}

/// IPVS_CMD_DEL_SERVICE.
pub fn encode_del_service(key: &ServiceKey) -> Vec<u8> {
    encode_service_key_cmd(cmd::DEL_SERVICE, key)
}

/// IPVS_CMD_GET_SERVICE for one service (send without NLM_F_DUMP).
pub fn encode_get_service(key: &ServiceKey) -> Vec<u8> {
    encode_service_key_cmd(cmd::GET_SERVICE, key)
}

/// IPVS_CMD_GET_SERVICE dump request: an empty nested SERVICE attribute (send with NLM_F_DUMP).
pub fn encode_dump_services() -> Vec<u8> {
    let mut w = AttrWriter::genl(cmd::GET_SERVICE, IPVS_GENL_VERSION);
    w.nest(CMD_ATTR_SERVICE, |_| {});
    w.buf
}

/// IPVS_CMD_NEW_DEST.
pub fn encode_new_dest(key: &ServiceKey, d: &Destination) -> Vec<u8> {
    encode_dest_cmd(cmd::NEW_DEST, key, d.addr, Some(d))
}

/// IPVS_CMD_SET_DEST.
pub fn encode_set_dest(key: &ServiceKey, d: &Destination) -> Vec<u8> {
    encode_dest_cmd(cmd::SET_DEST, key, d.addr, Some(d))
}

/// IPVS_CMD_DEL_DEST (ADDR and PORT identify the destination).
pub fn encode_del_dest(key: &ServiceKey, addr: SocketAddr) -> Vec<u8> {
    encode_dest_cmd(cmd::DEL_DEST, key, addr, None)
}

/// IPVS_CMD_GET_DEST dump request for the destinations of one service (send with NLM_F_DUMP).
pub fn encode_dump_dests(key: &ServiceKey) -> Vec<u8> {
    encode_service_key_cmd(cmd::GET_DEST, key)
}

/// Reads an `nf_inet_addr` (16 bytes; 4 accepted for IPv4) of the given family.
fn get_addr(attr: &'static str, family: AddrFamily, data: &[u8]) -> Result<IpAddr, DecodeError> {
    match family {
        AddrFamily::V4 if data.len() == 4 || data.len() == INET_ADDR_LEN => Ok(IpAddr::V4(
            Ipv4Addr::new(data[0], data[1], data[2], data[3]),
        )),
        AddrFamily::V6 => fixed::<INET_ADDR_LEN>(attr, data).map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        AddrFamily::V4 => Err(DecodeError::BadLength {
            attr,
            len: data.len(),
            expected: INET_ADDR_LEN,
        }),
    }
}

/// The address and port attributes (named by `attrs`) of a service or destination, both required.
fn socket_addr(
    attrs: (&'static str, &'static str),
    family: AddrFamily,
    addr: Option<&[u8]>,
    port: Option<u16>,
) -> Result<SocketAddr, DecodeError> {
    let ip = get_addr(attrs.0, family, addr.ok_or(DecodeError::Missing(attrs.0))?)?;
    let port = port.ok_or(DecodeError::Missing(attrs.1))?;
    Ok(SocketAddr::new(ip, port))
}

/// The address family numbered `n`, or why it is not one lvscare handles.
fn family_from(what: &'static str, n: u16) -> Result<AddrFamily, DecodeError> {
    AddrFamily::from_number(n).ok_or(DecodeError::Unsupported {
        what,
        value: u64::from(n),
    })
}

/// Decodes one service reply (genl cmd 1, as sent for GET_SERVICE and its dump).
///
/// The HASHED flag is masked off; statistics, PE name and unknown attributes are skipped.
/// Fwmark services and protocols other than TCP/UDP give [`DecodeError::Unsupported`].
pub fn decode_service_reply(genl_payload: &[u8]) -> Result<Service, DecodeError> {
    let attrs = genl_attrs(genl_payload, cmd::NEW_SERVICE)?;
    let nest = top_level(attrs, CMD_ATTR_SERVICE, "SERVICE")?;
    let (mut af, mut proto, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
    let (mut sched, mut flags, mut timeout, mut netmask) = (None, None, None, None);
    for attr in Attrs::new(nest) {
        let (ty, data) = attr?;
        match ty {
            SVC_AF => af = Some(get_u16("SVC_AF", data)?),
            SVC_PROTOCOL => proto = Some(get_u16("SVC_PROTOCOL", data)?),
            SVC_ADDR => addr = Some(data),
            SVC_PORT => port = Some(get_be16("SVC_PORT", data)?),
            SVC_FWMARK => fwmark = Some(get_u32("SVC_FWMARK", data)?),
            SVC_SCHED_NAME => sched = Some(data),
            SVC_FLAGS => flags = Some(fixed::<8>("SVC_FLAGS", data)?),
            SVC_TIMEOUT => timeout = Some(get_u32("SVC_TIMEOUT", data)?),
            SVC_NETMASK => netmask = Some(fixed::<4>("SVC_NETMASK", data)?),
            _ => {}
        }
    }
    let family = family_from(
        "service address family",
        af.ok_or(DecodeError::Missing("SVC_AF"))?,
    )?;
    if let Some(mark) = fwmark.filter(|m| *m != 0) {
        return Err(DecodeError::Unsupported {
            what: "fwmark service",
            value: u64::from(mark),
        });
    }
    let proto = proto.ok_or(DecodeError::Missing("SVC_PROTOCOL"))?;
    let protocol = Protocol::from_number(proto).ok_or(DecodeError::Unsupported {
        what: "protocol",
        value: u64::from(proto),
    })?;
    let addr = socket_addr(("SVC_ADDR", "SVC_PORT"), family, addr, port)?;
    let sched = sched.ok_or(DecodeError::Missing("SVC_SCHED_NAME"))?;
    let sched_end = sched.iter().position(|b| *b == 0).unwrap_or(sched.len());
    let flags = flags.ok_or(DecodeError::Missing("SVC_FLAGS"))?;
    let flags = u32::from_ne_bytes([flags[0], flags[1], flags[2], flags[3]]);
    let netmask = netmask.ok_or(DecodeError::Missing("SVC_NETMASK"))?;
    Ok(Service {
        key: ServiceKey { addr, protocol },
        scheduler: String::from_utf8_lossy(&sched[..sched_end]).into_owned(),
        flags: flags & !IP_VS_SVC_F_HASHED,
        timeout: timeout.ok_or(DecodeError::Missing("SVC_TIMEOUT"))?,
        netmask: match family {
            AddrFamily::V4 => u32::from_be_bytes(netmask),
            AddrFamily::V6 => u32::from_ne_bytes(netmask),
        },
    })
}

/// Decodes one destination reply (genl cmd 5, as sent for the GET_DEST dump).
///
/// `fallback` is the service's family, used only when the kernel (< 3.18) omits ADDR_FAMILY.
/// Statistics, tunnel settings and unknown attributes are skipped.
pub fn decode_dest_reply(
    genl_payload: &[u8],
    fallback: AddrFamily,
) -> Result<Destination, DecodeError> {
    let attrs = genl_attrs(genl_payload, cmd::NEW_DEST)?;
    let nest = top_level(attrs, CMD_ATTR_DEST, "DEST")?;
    let (mut addr, mut port, mut fwd, mut weight, mut af) = (None, None, None, None, None);
    let (mut upper, mut lower) = (None, None);
    let (mut active, mut inactive, mut persist) = (0, 0, 0);
    for attr in Attrs::new(nest) {
        let (ty, data) = attr?;
        match ty {
            DEST_ADDR => addr = Some(data),
            DEST_PORT => port = Some(get_be16("DEST_PORT", data)?),
            DEST_FWD_METHOD => fwd = Some(get_u32("DEST_FWD_METHOD", data)?),
            DEST_WEIGHT => weight = Some(get_u32("DEST_WEIGHT", data)?),
            DEST_U_THRESH => upper = Some(get_u32("DEST_U_THRESH", data)?),
            DEST_L_THRESH => lower = Some(get_u32("DEST_L_THRESH", data)?),
            DEST_ACTIVE_CONNS => active = get_u32("DEST_ACTIVE_CONNS", data)?,
            DEST_INACT_CONNS => inactive = get_u32("DEST_INACT_CONNS", data)?,
            DEST_PERSIST_CONNS => persist = get_u32("DEST_PERSIST_CONNS", data)?,
            DEST_ADDR_FAMILY => af = Some(get_u16("DEST_ADDR_FAMILY", data)?),
            _ => {}
        }
    }
    let family = match af {
        Some(n) => family_from("destination address family", n)?,
        None => fallback,
    };
    let addr = socket_addr(("DEST_ADDR", "DEST_PORT"), family, addr, port)?;
    let fwd = fwd.ok_or(DecodeError::Missing("DEST_FWD_METHOD"))?;
    let forward = match ForwardMethod::from_number(fwd) {
        Some(f) if fwd <= 3 => f,
        _ => {
            return Err(DecodeError::BadValue {
                what: "forwarding method",
                value: u64::from(fwd),
            })
        }
    };
    Ok(Destination {
        addr,
        forward,
        // The kernel's atomic_t weight, sent as its u32 bit pattern.
        weight: weight.ok_or(DecodeError::Missing("DEST_WEIGHT"))? as i32,
        upper_threshold: upper.ok_or(DecodeError::Missing("DEST_U_THRESH"))?,
        lower_threshold: lower.ok_or(DecodeError::Missing("DEST_L_THRESH"))?,
        active_conns: active,
        inactive_conns: inactive,
        persist_conns: persist,
    })
}

#[cfg(test)]
mod tests {
    use super::super::genl::GENL_HDRLEN;
    use super::super::testing::{as_reply, v4_key, v6_key};
    use super::*;

    /// The attributes of the first nest of type `ty` in a genl payload, as (type, payload).
    fn nest_attrs(genl: &[u8], ty: u16) -> Vec<(u16, Vec<u8>)> {
        let nest = top_level(&genl[GENL_HDRLEN..], ty, "nest").unwrap();
        Attrs::new(nest)
            .map(|a| a.map(|(t, d)| (t, d.to_vec())).unwrap())
            .collect()
    }

    #[test]
    fn service_round_trip_v4_and_v6() {
        let mut v4 = Service::new(v4_key(), "rr");
        v4.flags = 0x1;
        v4.timeout = 300;
        let mut v6 = Service::new(v6_key(), "wlc");
        v6.netmask = 64;
        for s in [v4, v6] {
            for enc in [
                encode_new_service(&s).unwrap(),
                encode_set_service(&s).unwrap(),
            ] {
                let back = decode_service_reply(&as_reply(enc, cmd::NEW_SERVICE)).unwrap();
                assert_eq!(back, s);
            }
        }
    }

    #[test]
    fn dest_round_trip_v4_and_v6() {
        let mut d4 = Destination::masq("192.168.0.2:6443".parse().unwrap(), 70_000);
        d4.upper_threshold = 10;
        d4.lower_threshold = 2;
        let mut d6 = Destination::masq("[fd00::2]:443".parse().unwrap(), 0);
        d6.forward = ForwardMethod::Route;
        for (key, d) in [(v4_key(), d4), (v6_key(), d6)] {
            let fallback = AddrFamily::of(&key.addr.ip());
            for enc in [encode_new_dest(&key, &d), encode_set_dest(&key, &d)] {
                // The request also carries the SERVICE nest; the decoder must only use DEST.
                let back = decode_dest_reply(&as_reply(enc, cmd::NEW_DEST), fallback).unwrap();
                assert_eq!(back, d);
            }
        }
    }

    #[test]
    fn weight_above_u16_survives() {
        // The Go library reads WEIGHT as u16 and would turn 70000 into 4464.
        let d = Destination::masq("192.168.0.2:6443".parse().unwrap(), 70_000);
        let enc = encode_new_dest(&v4_key(), &d);
        let attrs = nest_attrs(&enc, CMD_ATTR_DEST);
        let weight = attrs.iter().find(|(t, _)| *t == DEST_WEIGHT).unwrap();
        assert_eq!(weight.1, 70_000u32.to_ne_bytes());
        assert_eq!(
            decode_dest_reply(&as_reply(enc, cmd::NEW_DEST), AddrFamily::V4)
                .unwrap()
                .weight,
            70_000
        );
    }

    #[test]
    fn new_service_carries_every_required_attribute() {
        let enc = encode_new_service(&Service::new(v4_key(), "rr")).unwrap();
        assert_eq!(&enc[..4], &[cmd::NEW_SERVICE, 1, 0, 0]);
        let attrs = nest_attrs(&enc, CMD_ATTR_SERVICE);
        let types: Vec<u16> = attrs.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            types,
            [
                SVC_AF,
                SVC_PROTOCOL,
                SVC_ADDR,
                SVC_PORT,
                SVC_SCHED_NAME,
                SVC_FLAGS,
                SVC_TIMEOUT,
                SVC_NETMASK
            ]
        );
        let get = |t| attrs.iter().find(|(ty, _)| *ty == t).unwrap().1.clone();
        assert_eq!(get(SVC_AF), 2u16.to_ne_bytes());
        assert_eq!(get(SVC_PROTOCOL), 6u16.to_ne_bytes());
        assert_eq!(
            get(SVC_ADDR),
            [10, 103, 97, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(get(SVC_PORT), [0x19, 0x2b]); // 6443 big-endian
        assert_eq!(get(SVC_SCHED_NAME), b"rr\0");
        assert_eq!(get(SVC_FLAGS)[4..], [0xff; 4]);
        assert_eq!(get(SVC_NETMASK), [0xff; 4]);
        assert_eq!(enc.len() % 4, 0);
    }

    #[test]
    fn v6_netmask_is_a_host_order_prefix_length() {
        let enc = encode_new_service(&Service::new(v6_key(), "rr")).unwrap();
        let attrs = nest_attrs(&enc, CMD_ATTR_SERVICE);
        assert!(attrs.contains(&(SVC_NETMASK, 128u32.to_ne_bytes().to_vec())));
        assert!(attrs.contains(&(SVC_AF, 10u16.to_ne_bytes().to_vec())));
    }

    #[test]
    fn dest_requests_send_family_and_del_sends_only_the_key() {
        let d = Destination::masq("[fd00::2]:443".parse().unwrap(), 1);
        let types = |enc: &[u8]| {
            nest_attrs(enc, CMD_ATTR_DEST)
                .iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            types(&encode_new_dest(&v6_key(), &d)),
            [
                DEST_ADDR,
                DEST_PORT,
                DEST_FWD_METHOD,
                DEST_WEIGHT,
                DEST_U_THRESH,
                DEST_L_THRESH,
                DEST_ADDR_FAMILY
            ]
        );
        let del = encode_del_dest(&v6_key(), d.addr);
        assert_eq!(del[0], cmd::DEL_DEST);
        assert_eq!(types(&del), [DEST_ADDR, DEST_PORT, DEST_ADDR_FAMILY]);
        // The service the destination belongs to is identified by its key.
        let svc: Vec<u16> = nest_attrs(&del, CMD_ATTR_SERVICE)
            .iter()
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(svc, [SVC_AF, SVC_PROTOCOL, SVC_ADDR, SVC_PORT]);
    }

    #[test]
    fn dump_requests() {
        // genl header, then an empty nest: len 4, type SERVICE.
        assert_eq!(encode_dump_services(), [4, 1, 0, 0, 4, 0, 1, 0]);
        let dests = encode_dump_dests(&v4_key());
        assert_eq!(dests[0], cmd::GET_DEST);
        assert_eq!(nest_attrs(&dests, CMD_ATTR_SERVICE).len(), 4);
        assert_eq!(encode_get_service(&v4_key())[0], cmd::GET_SERVICE);
        assert_eq!(encode_del_service(&v4_key())[0], cmd::DEL_SERVICE);
    }

    #[test]
    fn scheduler_name_is_validated() {
        for bad in ["", "a\0b", "sixteen-chars-xx"] {
            let s = Service::new(v4_key(), bad);
            assert_eq!(
                encode_new_service(&s),
                Err(EncodeError::SchedulerName(bad.to_string()))
            );
        }
        assert!(encode_new_service(&Service::new(v4_key(), "fifteen-chars-x")).is_ok());
    }

    /// A service dump entry laid out as ip_vs_genl_fill_service (6.1) writes it for
    /// `ipvsadm -A -t 10.103.97.2:6443 -s rr`, with statistics nests.
    #[cfg(target_endian = "little")]
    #[rustfmt::skip]
    const KERNEL_SERVICE_V4: &[u8] = &[
        1, 1, 0, 0,                         // genl: NEW_SERVICE, version 1
        0x94, 0, 1, 0,                      // SERVICE nest, len 148
          6, 0, 1, 0, 2, 0, 0, 0,           //   AF = AF_INET (padded)
          6, 0, 2, 0, 6, 0, 0, 0,           //   PROTOCOL = TCP
          20, 0, 3, 0,                      //   ADDR, 16 bytes
            10, 103, 97, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
          6, 0, 4, 0, 0x19, 0x2b, 0, 0,     //   PORT = 6443 big-endian
          7, 0, 6, 0, b'r', b'r', 0, 0,     //   SCHED_NAME "rr\0"
          12, 0, 7, 0, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // FLAGS {HASHED, ~0}
          8, 0, 8, 0, 0, 0, 0, 0,           //   TIMEOUT 0
          8, 0, 9, 0, 0xff, 0xff, 0xff, 0xff, // NETMASK
          36, 0, 10, 0,                     //   STATS nest
            8, 0, 1, 0, 9, 0, 0, 0,         //     CONNS 9
            4, 0, 11, 0,                    //     PAD
            12, 0, 4, 0, 0x10, 0x27, 0, 0, 0, 0, 0, 0, // INBYTES (u64)
            8, 0, 6, 0, 0, 0, 0, 0,         //     CPS
          28, 0, 12, 0,                     //   STATS64 nest
            12, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0,
            12, 0, 2, 0, 50, 0, 0, 0, 0, 0, 0, 0,
    ];

    /// A destination dump entry as ip_vs_genl_fill_dest (6.1) writes it for
    /// `ipvsadm -a -t 10.103.97.2:6443 -r 192.168.0.2:6443 -m -w 1`.
    #[cfg(target_endian = "little")]
    #[rustfmt::skip]
    const KERNEL_DEST_V4: &[u8] = &[
        5, 1, 0, 0,                         // genl: NEW_DEST, version 1
        0x94, 0, 2, 0,                      // DEST nest, len 148
          20, 0, 1, 0,                      //   ADDR
            192, 168, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
          6, 0, 2, 0, 0x19, 0x2b, 0, 0,     //   PORT 6443
          8, 0, 3, 0, 0, 0, 0, 0,           //   FWD_METHOD masq
          8, 0, 4, 0, 1, 0, 0, 0,           //   WEIGHT 1
          5, 0, 13, 0, 0, 0, 0, 0,          //   TUN_TYPE u8 (padded)
          6, 0, 14, 0, 0, 0, 0, 0,          //   TUN_PORT
          6, 0, 15, 0, 0, 0, 0, 0,          //   TUN_FLAGS
          8, 0, 5, 0, 0, 0, 0, 0,           //   U_THRESH
          8, 0, 6, 0, 0, 0, 0, 0,           //   L_THRESH
          8, 0, 7, 0, 3, 0, 0, 0,           //   ACTIVE_CONNS 3
          8, 0, 8, 0, 4, 0, 0, 0,           //   INACT_CONNS 4
          8, 0, 9, 0, 0, 0, 0, 0,           //   PERSIST_CONNS
          6, 0, 11, 0, 2, 0, 0, 0,          //   ADDR_FAMILY AF_INET
          12, 0, 10, 0,                     //   STATS nest
            8, 0, 1, 0, 7, 0, 0, 0,
          16, 0, 12, 0,                     //   STATS64 nest
            12, 0, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[cfg(target_endian = "little")]
    #[test]
    fn decodes_kernel_layout_service() {
        let s = decode_service_reply(KERNEL_SERVICE_V4).unwrap();
        assert_eq!(s, Service::new(v4_key(), "rr"), "HASHED must be masked off");
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn decodes_kernel_layout_dest() {
        let d = decode_dest_reply(KERNEL_DEST_V4, AddrFamily::V6).unwrap();
        let mut want = Destination::masq("192.168.0.2:6443".parse().unwrap(), 1);
        want.active_conns = 3;
        want.inactive_conns = 4;
        assert_eq!(d, want, "ADDR_FAMILY must win over the fallback family");
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn decodes_kernel_layout_v6_dest_without_addr_family() {
        // An old kernel (< 3.18) sends no ADDR_FAMILY: the service's family decides.
        #[rustfmt::skip]
        let reply: &[u8] = &[
            5, 1, 0, 0,
            64, 0, 2, 0,
              20, 0, 1, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
              6, 0, 2, 0, 0x01, 0xbb, 0, 0,
              8, 0, 3, 0, 3, 0, 0, 0,
              8, 0, 4, 0, 0xff, 0xff, 0xff, 0x7f,
              8, 0, 5, 0, 0, 0, 0, 0,
              8, 0, 6, 0, 0, 0, 0, 0,
        ];
        let d = decode_dest_reply(reply, AddrFamily::V6).unwrap();
        assert_eq!(d.addr, "[fd00::2]:443".parse::<SocketAddr>().unwrap());
        assert_eq!(d.forward, ForwardMethod::Route);
        assert_eq!(d.weight, i32::MAX);
    }

    #[test]
    fn unknown_attributes_are_skipped() {
        let s = Service::new(v6_key(), "rr");
        let mut enc = encode_new_service(&s).unwrap();
        // Append attrs with numbers no kernel uses yet, inside the nest and at top level.
        let mut extra = AttrWriter { buf: Vec::new() };
        extra.put(200, &[1, 2, 3]);
        extra.nest(201 | 0x8000, |w| w.put_u32(1, 5));
        let nest_len = u16::from_ne_bytes([enc[4], enc[5]]) + extra.buf.len() as u16;
        enc[4..6].copy_from_slice(&nest_len.to_ne_bytes());
        enc.extend_from_slice(&extra.buf);
        enc.extend_from_slice(&extra.buf);
        assert_eq!(
            decode_service_reply(&as_reply(enc, cmd::NEW_SERVICE)),
            Ok(s)
        );
    }

    #[test]
    fn truncated_input_gives_typed_errors() {
        let s = encode_new_service(&Service::new(v4_key(), "rr")).unwrap();
        let reply = as_reply(s, cmd::NEW_SERVICE);
        // Every proper prefix must fail cleanly, never panic and never yield a service.
        for cut in 0..reply.len() {
            assert!(
                decode_service_reply(&reply[..cut]).is_err(),
                "prefix {cut} decoded"
            );
        }
        assert!(matches!(
            decode_service_reply(&reply[..2]),
            Err(DecodeError::Truncated {
                what: "genl header",
                ..
            })
        ));
        assert!(matches!(
            decode_service_reply(&reply[..10]),
            Err(DecodeError::Truncated { .. })
        ));
        let d = encode_new_dest(
            &v4_key(),
            &Destination::masq("1.2.3.4:5".parse().unwrap(), 1),
        );
        let d = as_reply(d, cmd::NEW_DEST);
        for cut in 0..d.len() {
            assert!(
                decode_dest_reply(&d[..cut], AddrFamily::V4).is_err(),
                "prefix {cut} decoded"
            );
        }
    }

    #[test]
    fn wrong_sizes_and_commands_are_rejected() {
        let mut reply = as_reply(
            encode_new_service(&Service::new(v4_key(), "rr")).unwrap(),
            cmd::NEW_SERVICE,
        );
        assert_eq!(
            decode_dest_reply(&reply, AddrFamily::V4),
            Err(DecodeError::UnexpectedCommand {
                got: cmd::NEW_SERVICE,
                expected: cmd::NEW_DEST
            })
        );
        // Shrink the AF attribute's declared length from 6 to 5.
        assert_eq!(&reply[8..12], &[6, 0, 1, 0]);
        reply[8] = 5;
        assert_eq!(
            decode_service_reply(&reply),
            Err(DecodeError::BadLength {
                attr: "SVC_AF",
                len: 1,
                expected: 2
            })
        );
    }

    #[test]
    fn fwmark_and_sctp_services_are_unsupported() {
        let mut w = AttrWriter::genl(cmd::NEW_SERVICE, 1);
        w.nest(CMD_ATTR_SERVICE, |w| {
            w.put_u16(SVC_AF, 2);
            w.put_u32(SVC_FWMARK, 7);
            w.put(SVC_SCHED_NAME, b"rr\0");
            w.put(SVC_FLAGS, &[0; 8]);
            w.put_u32(SVC_TIMEOUT, 0);
            w.put_u32(SVC_NETMASK, u32::MAX);
        });
        assert_eq!(
            decode_service_reply(&w.buf),
            Err(DecodeError::Unsupported {
                what: "fwmark service",
                value: 7
            })
        );

        let mut sctp = as_reply(
            encode_new_service(&Service::new(v4_key(), "rr")).unwrap(),
            cmd::NEW_SERVICE,
        );
        assert_eq!(&sctp[16..20], &[6, 0, 2, 0]);
        sctp[20..22].copy_from_slice(&132u16.to_ne_bytes());
        assert_eq!(
            decode_service_reply(&sctp),
            Err(DecodeError::Unsupported {
                what: "protocol",
                value: 132
            })
        );
    }
}
