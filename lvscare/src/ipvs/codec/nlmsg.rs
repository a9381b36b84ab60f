//! Netlink framing: a payload in a `struct nlmsghdr`, a datagram split into its messages, and
//! one request's exchange followed to its ACK, NLMSG_DONE or error.

use netlink_packet_core::{NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN};

use super::error::DecodeError;

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;

/// Frames a payload in a `struct nlmsghdr` (port id 0: the kernel knows the sender).
pub fn encode_nlmsg(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = (NLMSG_HDRLEN + payload.len()) as u32;
    let mut out = Vec::with_capacity((len as usize + 3) & !3);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&msg_type.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(payload);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

/// One netlink message inside a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlMsg<'a> {
    /// nlmsg_type: a family id, or NLMSG_ERROR / NLMSG_DONE / ….
    pub msg_type: u16,
    /// nlmsg_flags.
    pub flags: u16,
    /// nlmsg_seq, echoed from the request.
    pub seq: u32,
    /// Bytes after the header (for a genl message: the genl payload).
    pub payload: &'a [u8],
}

/// Splits a datagram into its netlink messages.
pub fn split_nlmsgs(datagram: &[u8]) -> Result<Vec<NlMsg<'_>>, DecodeError> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        if rest.len() < NLMSG_HDRLEN {
            return Err(DecodeError::Truncated {
                what: "netlink header",
                need: NLMSG_HDRLEN,
                have: rest.len(),
            });
        }
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(DecodeError::Truncated {
                what: "netlink message",
                need: len.max(NLMSG_HDRLEN),
                have: rest.len(),
            });
        }
        out.push(NlMsg {
            msg_type: u16::from_ne_bytes([rest[4], rest[5]]),
            flags: u16::from_ne_bytes([rest[6], rest[7]]),
            seq: u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]),
            payload: &rest[NLMSG_HDRLEN..len],
        });
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Ok(out)
}

/// The `int error` at the start of an NLMSG_ERROR or NLMSG_DONE payload (0 or -errno).
pub fn decode_nlmsg_error(payload: &[u8]) -> Result<i32, DecodeError> {
    match payload.get(..4) {
        Some(b) => Ok(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(DecodeError::Truncated {
            what: "netlink error code",
            need: 4,
            have: payload.len(),
        }),
    }
}

/// Where a request/reply exchange stands after one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More datagrams follow.
    More,
    /// Finished: ACK with error 0, or NLMSG_DONE.
    Done,
    /// The kernel refused the request with this (positive) errno.
    Failed(i32),
}

/// Takes one received datagram of the exchange with sequence number `seq`: genl payloads of
/// messages of type `family` go to `out`; messages of other sequence numbers (left over from an
/// earlier exchange) are ignored.
pub fn absorb_datagram(
    datagram: &[u8],
    seq: u32,
    family: u16,
    out: &mut Vec<Vec<u8>>,
) -> Result<Progress, DecodeError> {
    for msg in split_nlmsgs(datagram)? {
        if msg.seq != seq {
            continue;
        }
        match msg.msg_type {
            NLMSG_NOOP => {}
            NLMSG_ERROR | NLMSG_DONE => {
                // DONE carries an int error too; a dump that failed part-way reports it there.
                let code = if msg.msg_type == NLMSG_DONE && msg.payload.is_empty() {
                    0
                } else {
                    decode_nlmsg_error(msg.payload)?
                };
                return Ok(if code == 0 {
                    Progress::Done
                } else {
                    Progress::Failed(code.saturating_neg())
                });
            }
            NLMSG_OVERRUN => return Ok(Progress::Failed(libc::ENOBUFS)),
            t if t == family => out.push(msg.payload.to_vec()),
            _ => {}
        }
    }
    Ok(Progress::More)
}

#[cfg(test)]
mod tests {
    use super::super::ipvs::{cmd, encode_del_service, encode_dump_services, encode_new_service};
    use super::super::testing::{as_reply, v4_key, v6_key};
    use super::*;
    use crate::ipvs::types::Service;

    #[test]
    fn nlmsg_framing_round_trip() {
        let payload = encode_dump_services();
        let a = encode_nlmsg(0x23, 0x301, 7, &payload);
        let b = encode_nlmsg(NLMSG_DONE, 2, 7, &0i32.to_ne_bytes());
        assert_eq!(&a[..4], &24u32.to_ne_bytes());
        let both = [a, b].concat();
        let msgs = split_nlmsgs(&both).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0],
            NlMsg {
                msg_type: 0x23,
                flags: 0x301,
                seq: 7,
                payload: &payload
            }
        );
        assert_eq!(msgs[1].msg_type, NLMSG_DONE);
        assert!(matches!(
            split_nlmsgs(&both[..30]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            split_nlmsgs(&both[..8]),
            Err(DecodeError::Truncated {
                what: "netlink header",
                ..
            })
        ));
    }

    #[test]
    fn absorb_collects_a_multipart_dump_until_done() {
        let fam = 0x23;
        let s1 = as_reply(
            encode_new_service(&Service::new(v4_key(), "rr")).unwrap(),
            cmd::NEW_SERVICE,
        );
        let s2 = as_reply(
            encode_new_service(&Service::new(v6_key(), "rr")).unwrap(),
            cmd::NEW_SERVICE,
        );
        let stale = encode_nlmsg(fam, 2, 4, &s2);
        let first = [stale, encode_nlmsg(fam, 2, 5, &s1)].concat();
        let second = [
            encode_nlmsg(fam, 2, 5, &s2),
            encode_nlmsg(NLMSG_DONE, 2, 5, &0i32.to_ne_bytes()),
        ]
        .concat();
        let mut out = Vec::new();
        assert_eq!(
            absorb_datagram(&first, 5, fam, &mut out),
            Ok(Progress::More)
        );
        assert_eq!(
            absorb_datagram(&second, 5, fam, &mut out),
            Ok(Progress::Done)
        );
        assert_eq!(
            out,
            [s1, s2],
            "the message with the stale sequence number must be ignored"
        );
    }

    #[test]
    fn absorb_reports_acks_and_errors() {
        let req = encode_nlmsg(0x23, 5, 9, &encode_del_service(&v4_key()));
        let ack = |code: i32| {
            let mut p = code.to_ne_bytes().to_vec();
            p.extend_from_slice(&req[..NLMSG_HDRLEN]);
            encode_nlmsg(NLMSG_ERROR, 0x100, 9, &p)
        };
        let mut out = Vec::new();
        assert_eq!(
            absorb_datagram(&ack(0), 9, 0x23, &mut out),
            Ok(Progress::Done)
        );
        assert_eq!(
            absorb_datagram(&ack(-libc::ESRCH), 9, 0x23, &mut out),
            Ok(Progress::Failed(libc::ESRCH))
        );
        // An error for another request is not ours.
        assert_eq!(
            absorb_datagram(&ack(-libc::EEXIST), 8, 0x23, &mut out),
            Ok(Progress::More)
        );
        let done_err = encode_nlmsg(NLMSG_DONE, 2, 9, &(-libc::EINVAL).to_ne_bytes());
        assert_eq!(
            absorb_datagram(&done_err, 9, 0x23, &mut out),
            Ok(Progress::Failed(libc::EINVAL))
        );
        let short = encode_nlmsg(NLMSG_ERROR, 0, 9, &[1, 2]);
        assert!(matches!(
            absorb_datagram(&short, 9, 0x23, &mut out),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(out.is_empty());
    }
}
