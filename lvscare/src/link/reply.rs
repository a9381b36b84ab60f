//! One received rtnetlink datagram taken apart (pure, so it is fuzzed without a socket): the
//! answers to one request collected, and whether the exchange ended, was refused or goes on.

use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_DUMP_INTR};
use netlink_packet_route::RouteNetlinkMessage;

use super::msg::extack_message;

/// A kernel refusal, before it is given context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    /// The positive errno.
    pub errno: i32,
    /// The kernel's extended-ack text, if any.
    pub detail: Option<String>,
}

/// Why a datagram ended the exchange without its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The kernel refused the request (or interrupted its dump: `EINTR`).
    Nack(Nack),
    /// The bytes are not rtnetlink messages.
    Decode(String),
}

/// Where the exchange stands after one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More datagrams follow.
    More,
    /// Finished: the acknowledgement, or the end of the dump.
    Done,
}

/// Takes one datagram of the exchange with sequence number `seq`: its messages go to `replies`;
/// messages of other sequence numbers (late answers to an earlier, abandoned request) are skipped.
pub fn absorb_reply(
    datagram: &[u8],
    seq: u32,
    dump: bool,
    replies: &mut Vec<RouteNetlinkMessage>,
) -> Result<Progress, ReplyError> {
    let mut off = 0;
    while off < datagram.len() {
        let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[off..])
            .map_err(|e| ReplyError::Decode(e.to_string()))?;
        let len = reply.header.length as usize;
        if len == 0 {
            return Err(ReplyError::Decode("zero-length message".to_string()));
        }
        off += (len + 3) & !3;
        if reply.header.sequence_number != seq {
            continue;
        }
        if reply.header.flags & NLM_F_DUMP_INTR != 0 {
            // The table changed during the dump; the caller observes again next round.
            return Err(ReplyError::Nack(Nack {
                errno: libc::EINTR,
                detail: Some("dump interrupted".into()),
            }));
        }
        let outer_flags = reply.header.flags;
        match reply.payload {
            NetlinkPayload::InnerMessage(m) => replies.push(m),
            NetlinkPayload::Error(e) => match e.code {
                None => return Ok(Progress::Done),
                Some(code) => {
                    return Err(ReplyError::Nack(Nack {
                        // No errno is i32::MIN, but the bytes may say so.
                        errno: code.get().saturating_abs(),
                        detail: extack_message(outer_flags, &e.header),
                    }));
                }
            },
            NetlinkPayload::Done(d) if d.code < 0 => {
                return Err(ReplyError::Nack(Nack {
                    errno: d.code.saturating_neg(),
                    detail: None,
                }))
            }
            NetlinkPayload::Done(_) if dump => return Ok(Progress::Done),
            _ => {}
        }
    }
    Ok(Progress::More)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NLMSG_DONE, NLMSG_ERROR};

    /// A netlink message of type `ty` for `seq` carrying `payload`.
    fn nlmsg(ty: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(payload);
        b
    }

    /// An NLMSG_ERROR with `code`, echoing a bare request header.
    fn error(seq: u32, code: i32) -> Vec<u8> {
        let mut payload = code.to_ne_bytes().to_vec();
        payload.extend(nlmsg(16, seq, &[]));
        nlmsg(NLMSG_ERROR, seq, &payload)
    }

    #[test]
    fn acks_refusals_and_late_answers() {
        let mut replies = Vec::new();
        assert_eq!(
            absorb_reply(&error(3, 0), 3, false, &mut replies),
            Ok(Progress::Done)
        );
        let nack = |errno| {
            Err(ReplyError::Nack(Nack {
                errno,
                detail: None,
            }))
        };
        assert_eq!(
            absorb_reply(&error(3, -libc::ENODEV), 3, false, &mut replies),
            nack(libc::ENODEV)
        );
        // An answer to an earlier request is skipped.
        assert_eq!(
            absorb_reply(&error(2, -libc::EEXIST), 3, false, &mut replies),
            Ok(Progress::More)
        );
        let done = nlmsg(NLMSG_DONE, 3, &0i32.to_ne_bytes());
        assert_eq!(
            absorb_reply(&done, 3, true, &mut replies),
            Ok(Progress::Done)
        );
        assert!(replies.is_empty());
    }

    /// The codes no errno negates to, in both places a refusal can come from (the same case the
    /// sock_diag_reply fuzz target found in conns::msg).
    #[test]
    fn an_error_code_of_i32_min_is_a_refusal_not_a_panic() {
        let mut replies = Vec::new();
        let done = nlmsg(NLMSG_DONE, 3, &i32::MIN.to_ne_bytes());
        let refused = Err(ReplyError::Nack(Nack {
            errno: i32::MAX,
            detail: None,
        }));
        assert_eq!(absorb_reply(&done, 3, true, &mut replies), refused);
        assert_eq!(
            absorb_reply(&error(3, i32::MIN), 3, false, &mut replies),
            refused
        );
    }

    #[test]
    fn bytes_that_are_no_message_are_a_decode_error() {
        let mut replies = Vec::new();
        let mut zero = error(3, 0);
        zero[..4].copy_from_slice(&0u32.to_ne_bytes());
        assert!(matches!(
            absorb_reply(&zero, 3, false, &mut replies),
            Err(ReplyError::Decode(_))
        ));
        assert!(matches!(
            absorb_reply(&error(3, 0)[..10], 3, false, &mut replies),
            Err(ReplyError::Decode(_))
        ));
    }
}
