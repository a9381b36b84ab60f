//! sock_diag messages (pure): the `SOCK_DESTROY` request naming one TCP socket by its exact
//! 4-tuple, the dump request that checks whether the kernel has TCP socket diagnostics at all,
//! and the decoding of the kernel's answers.
//!
//! The bytes come from `netlink-packet-sock-diag` (rust-netlink, on the same
//! `netlink-packet-core` as the rtnetlink code): its `SockDiagDestroy` frames an
//! `inet_diag_req_v2` under message type 21. The tests pin the bytes against the kernel's layout.

use std::net::IpAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{SockDiagDestroy, SockDiagMessage};

use super::table::Flow;

/// `INET_DIAG_NOCOOKIE`: both cookie words all ones, so the kernel matches on the 4-tuple alone.
const NO_COOKIE: [u8; 8] = [0xff; 8];

/// What the kernel answered to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Done: an acknowledgement, or the end of a dump.
    Ok,
    /// Refused with this positive errno.
    Refused(i32),
}

/// A decoding failure, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sock_diag reply: {0}")]
pub struct DecodeError(String);

fn family(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

fn frame<T>(inner: T, flags: u16, seq: u32) -> Vec<u8>
where
    T: netlink_packet_core::NetlinkSerializable + Into<NetlinkPayload<T>>,
{
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    header.sequence_number = seq;
    let mut packet = NetlinkMessage::new(header, inner.into());
    packet.finalize();
    let mut bytes = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut bytes);
    bytes
}

/// `SOCK_DESTROY` of the TCP socket whose local address is `flow.local` and peer `flow.remote`,
/// acknowledged. A v4 flow is asked for as AF_INET: the kernel's lookup then also finds an
/// AF_INET6 socket connected to a v4-mapped address (seen in the test bed: such a client of a
/// blackholed master was aborted like any other).
pub fn destroy_request(flow: &Flow, seq: u32) -> Vec<u8> {
    let req = InetRequest {
        family: family(flow.local.ip()),
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        // The exact lookup ignores states; all of them, as the kernel's own tools send.
        states: StateFlags::all(),
        socket_id: SocketId {
            source_port: flow.local.port(),
            destination_port: flow.remote.port(),
            source_address: flow.local.ip(),
            destination_address: flow.remote.ip(),
            interface_id: 0,
            cookie: NO_COOKIE,
        },
    };
    frame(
        SockDiagDestroy::new(SockDiagMessage::InetRequest(req)),
        NLM_F_ACK,
        seq,
    )
}

/// A dump of TCP sockets in no state at all: answers nothing but its end, and `ENOENT` when the
/// kernel has no TCP diagnostics (`inet_diag`/`tcp_diag` absent), which a destroy would report
/// the same way as a socket that is not there.
pub fn support_request(ip: IpAddr, seq: u32) -> Vec<u8> {
    let req = InetRequest {
        family: family(ip),
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::empty(),
        socket_id: match ip {
            IpAddr::V4(_) => SocketId::new_v4(),
            IpAddr::V6(_) => SocketId::new_v6(),
        },
    };
    frame(SockDiagMessage::InetRequest(req), NLM_F_DUMP, seq)
}

/// Reads one received datagram: the answer to request `seq` if it is in there, `None` if the
/// datagram holds only other messages (a dump's sockets, a late answer to an earlier request).
pub fn answer(datagram: &[u8], seq: u32) -> Result<Option<Answer>, DecodeError> {
    let mut off = 0;
    while off < datagram.len() {
        let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&datagram[off..])
            .map_err(|e| DecodeError(e.to_string()))?;
        let len = msg.header.length as usize;
        if len == 0 {
            return Err(DecodeError("zero-length message".into()));
        }
        off += (len + 3) & !3;
        if msg.header.sequence_number != seq {
            continue;
        }
        match msg.payload {
            NetlinkPayload::Error(e) => {
                return Ok(Some(match e.code {
                    None => Answer::Ok,
                    // No errno is i32::MIN, but the bytes may say so.
                    Some(code) => Answer::Refused(code.get().saturating_abs()),
                }));
            }
            NetlinkPayload::Done(d) if d.code < 0 => {
                return Ok(Some(Answer::Refused(d.code.saturating_neg())))
            }
            NetlinkPayload::Done(_) => return Ok(Some(Answer::Ok)),
            _ => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Flow {
        Flow {
            local: "192.168.0.10:40022".parse().unwrap(),
            remote: "10.103.97.2:6443".parse().unwrap(),
        }
    }

    /// `struct nlmsghdr` + `struct inet_diag_req_v2` written out by hand from
    /// include/uapi/linux/{netlink,sock_diag,inet_diag}.h; the test bed's kernel destroys the
    /// socket these bytes name (tests/tests/lvscare_conn_abort.rs).
    #[test]
    fn destroy_request_bytes_match_the_kernel_layout() {
        let b = destroy_request(&flow(), 7);
        let mut want = Vec::new();
        want.extend_from_slice(&72u32.to_ne_bytes()); // nlmsg_len: 16 + 56
        want.extend_from_slice(&21u16.to_ne_bytes()); // SOCK_DESTROY
        want.extend_from_slice(&0x0005u16.to_ne_bytes()); // NLM_F_REQUEST | NLM_F_ACK
        want.extend_from_slice(&7u32.to_ne_bytes()); // seq
        want.extend_from_slice(&0u32.to_ne_bytes()); // port id
        want.extend_from_slice(&[2, 6, 0, 0]); // AF_INET, IPPROTO_TCP, idiag_ext, pad
        want.extend_from_slice(&0x0ffeu32.to_ne_bytes()); // idiag_states: every TCP state
        want.extend_from_slice(&40022u16.to_be_bytes()); // idiag_sport
        want.extend_from_slice(&6443u16.to_be_bytes()); // idiag_dport
        want.extend_from_slice(&[192, 168, 0, 10]);
        want.extend_from_slice(&[0; 12]); // idiag_src
        want.extend_from_slice(&[10, 103, 97, 2]);
        want.extend_from_slice(&[0; 12]); // idiag_dst
        want.extend_from_slice(&0u32.to_ne_bytes()); // idiag_if: any
        want.extend_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
        assert_eq!(b, want);
    }

    #[test]
    fn ipv6_destroy_carries_whole_addresses() {
        let f = Flow {
            local: "[fd00:10::10]:45252".parse().unwrap(),
            remote: "[fd00:97::2]:6443".parse().unwrap(),
        };
        let b = destroy_request(&f, 1);
        assert_eq!(b.len(), 72);
        assert_eq!(b[16], 10, "AF_INET6");
        let src: [u8; 16] = b[16 + 12..16 + 28].try_into().unwrap();
        let dst: [u8; 16] = b[16 + 28..16 + 44].try_into().unwrap();
        assert_eq!(std::net::Ipv6Addr::from(src), f.local.ip());
        assert_eq!(std::net::Ipv6Addr::from(dst), f.remote.ip());
    }

    #[test]
    fn support_request_is_a_dump_of_no_state() {
        let b = support_request("10.103.97.2".parse().unwrap(), 3);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 20, "SOCK_DIAG_BY_FAMILY");
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), 0x0301, "REQUEST | DUMP");
        assert_eq!(&b[16..20], &[2, 6, 0, 0]);
        assert_eq!(&b[20..24], &[0; 4], "no state: nothing is dumped");
    }

    /// An NLMSG_ERROR message as the kernel sends it: the code, then the request's header.
    fn nlmsgerr(seq: u32, code: i32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&36u32.to_ne_bytes());
        b.extend_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        b.extend_from_slice(&0x0100u16.to_ne_bytes()); // NLM_F_CAPPED
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&code.to_ne_bytes());
        b.extend_from_slice(&72u32.to_ne_bytes()); // the request's header
        b.extend_from_slice(&21u16.to_ne_bytes());
        b.extend_from_slice(&5u16.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b
    }

    fn done(seq: u32, code: i32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&20u32.to_ne_bytes());
        b.extend_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE
        b.extend_from_slice(&0x0002u16.to_ne_bytes()); // NLM_F_MULTI
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&code.to_ne_bytes());
        b
    }

    #[test]
    fn acks_refusals_and_dump_ends_decode() {
        assert_eq!(answer(&nlmsgerr(4, 0), 4), Ok(Some(Answer::Ok)));
        assert_eq!(
            answer(&nlmsgerr(4, -libc::ENOENT), 4),
            Ok(Some(Answer::Refused(libc::ENOENT)))
        );
        assert_eq!(
            answer(&nlmsgerr(4, -libc::EOPNOTSUPP), 4),
            Ok(Some(Answer::Refused(libc::EOPNOTSUPP)))
        );
        assert_eq!(answer(&done(5, 0), 5), Ok(Some(Answer::Ok)));
        assert_eq!(
            answer(&done(5, -libc::ENOENT), 5),
            Ok(Some(Answer::Refused(libc::ENOENT)))
        );
    }

    #[test]
    fn answers_to_other_requests_are_skipped() {
        let mut two = nlmsgerr(3, -libc::EPERM);
        two.extend(nlmsgerr(4, 0));
        assert_eq!(answer(&two, 4), Ok(Some(Answer::Ok)));
        assert_eq!(answer(&nlmsgerr(3, 0), 4), Ok(None));
    }

    /// Found by the sock_diag_reply fuzz target: an NLMSG_DONE whose code is i32::MIN (which no
    /// errno negates to) overflowed the negation.
    #[cfg(target_endian = "little")]
    #[test]
    fn an_error_code_of_i32_min_is_a_refusal_not_a_panic() {
        #[rustfmt::skip]
        let crash: &[u8] = &[
            0x14, 0, 0, 0, 3, 0, 2, 0, 0x01, 0xf7, 0x01, 0, 0, 0, 0, 0, // DONE, seq 0x1f701
            0, 0, 0, 0x80,                                              // code i32::MIN
            0, 0, 0, 0, 0x04, 0x10, 0, 0, 0, 0x02, 0, 0x01, 0x01, 0, 0, 0,
            0, 0, 0, 0, 0, 0x04, 0x10, 0, 0, 0, 0, 0,
        ];
        assert_eq!(answer(crash, 0x1f701), Ok(Some(Answer::Refused(i32::MAX))));
        assert_eq!(
            answer(&nlmsgerr(4, i32::MIN), 4),
            Ok(Some(Answer::Refused(i32::MAX)))
        );
    }

    #[test]
    fn truncated_datagrams_are_errors_not_panics() {
        let b = nlmsgerr(4, 0);
        for cut in [1, 8, 15, 17, 30] {
            assert!(answer(&b[..cut], 4).is_err(), "cut at {cut}");
        }
        let mut zero = b.clone();
        zero[..4].copy_from_slice(&0u32.to_ne_bytes());
        assert!(answer(&zero, 4).is_err());
    }
}
