//! The rtnetlink socket: one synchronous request at a time, its answers collected and the
//! kernel's refusals kept apart from other failures.

use std::io;
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::error::{LinkError, MAX_ROUNDS};
use super::reply::{absorb_reply, Nack, Progress, ReplyError};

/// How long to wait for the kernel's answer before calling the socket stuck.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// Failure of one request: a refusal the caller may want to handle, or anything else.
pub(super) enum ReqError {
    /// The kernel answered with an error.
    Nack(Nack),
    /// Anything else, already a [`LinkError`].
    Other(LinkError),
}

impl ReqError {
    /// The error as the caller reports it, with `op` naming what was being done.
    pub(super) fn into_link_error(self, op: &str) -> LinkError {
        match self {
            ReqError::Nack(n) => LinkError::Kernel {
                op: op.to_string(),
                source: io::Error::from_raw_os_error(n.errno),
                detail: n.detail,
            },
            ReqError::Other(e) => e,
        }
    }
}

/// A synchronous NETLINK_ROUTE socket doing one request at a time.
pub(super) struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    /// Opens and binds the socket, with the optional refinements the kernel offers.
    pub(super) fn open() -> Result<Self, LinkError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(LinkError::Open)?;
        sock.bind_auto().map_err(LinkError::Open)?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(LinkError::Open)?;
        // All three are optional refinements (kernel-side dump filters, error texts, short
        // acks); older kernels without them still work, so failures are ignored.
        let _ = sock.set_netlink_get_strict_chk(true);
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        set_recv_timeout(&sock, RECV_TIMEOUT).map_err(LinkError::Open)?;
        Ok(Rtnl {
            sock,
            seq: 0,
            buf: Vec::new(),
        })
    }

    /// Sends one request and collects the messages answering it: up to NLMSG_DONE for a dump,
    /// up to the acknowledgement otherwise.
    pub(super) fn request(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, ReqError> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut bytes = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut bytes);
        let io_err = |source| {
            ReqError::Other(LinkError::Io {
                op: op.to_string(),
                source,
            })
        };
        self.sock.send(&bytes, 0).map_err(io_err)?;

        let mut replies = Vec::new();
        loop {
            self.recv_datagram().map_err(io_err)?;
            match absorb_reply(&self.buf, seq, dump, &mut replies) {
                Ok(Progress::Done) => return Ok(replies),
                Ok(Progress::More) => {}
                Err(ReplyError::Nack(n)) => return Err(ReqError::Nack(n)),
                Err(ReplyError::Decode(detail)) => {
                    return Err(ReqError::Other(LinkError::Decode {
                        op: op.to_string(),
                        detail,
                    }))
                }
            }
        }
    }

    /// Receives one whole datagram into `self.buf`, however large.
    fn recv_datagram(&mut self) -> io::Result<()> {
        loop {
            self.buf.clear();
            // Peek with MSG_TRUNC to learn the datagram's full size, then read it whole.
            let size = match self
                .sock
                .recv(&mut self.buf, libc::MSG_PEEK | libc::MSG_TRUNC)
            {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other?,
            };
            self.buf.clear();
            self.buf.reserve(size.max(64));
            match self.sock.recv(&mut self.buf, 0) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(got) => {
                    self.buf.truncate(got);
                    return Ok(());
                }
            }
        }
    }

    /// A request that must succeed, with `op` naming it in the error.
    pub(super) fn must(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, LinkError> {
        self.request(op, msg, flags)
            .map_err(|e| e.into_link_error(op))
    }

    /// A request that may be refused with one of the `benign` errnos (the object is already
    /// gone, or somebody else did the work): `Ok(true)` when the kernel did it, `Ok(false)` when
    /// it answered a benign errno.
    pub(super) fn request_unless(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
        benign: &[i32],
    ) -> Result<bool, LinkError> {
        match self.request(op, msg, flags) {
            Ok(_) => Ok(true),
            Err(ReqError::Nack(n)) if benign.contains(&n.errno) => Ok(false),
            Err(e) => Err(e.into_link_error(op)),
        }
    }

    /// A dump, retried when the kernel reports it inconsistent.
    pub(super) fn dump(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, LinkError> {
        let mut last = None;
        for _ in 0..MAX_ROUNDS {
            match self.request(op, msg.clone(), NLM_F_DUMP) {
                Err(ReqError::Nack(n)) if n.errno == libc::EINTR => last = Some(ReqError::Nack(n)),
                other => return other.map_err(|e| e.into_link_error(op)),
            }
        }
        Err(last
            .map(|e| e.into_link_error(op))
            .unwrap_or(LinkError::NotConverged {
                what: op.to_string(),
            }))
    }
}

/// Sets SO_RCVTIMEO, so a kernel that never answers cannot block lvscare for ever.
pub(crate) fn set_recv_timeout(sock: &Socket, timeout: Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: valid fd owned by `sock`, pointer and length describe a live timeval.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
