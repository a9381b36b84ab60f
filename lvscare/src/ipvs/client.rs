//! A small synchronous IPVS client over a NETLINK_GENERIC socket.
//!
//! Every call is one request and its replies; all byte work is in [`super::codec`]. Calls
//! block, but normally not for long: the kernel answers a genl request while it is being sent
//! and builds each further dump part inside the read. A receive timeout still bounds every
//! call, so a kernel that never answers (a stuck ip_vs mutex) cannot hold the daemon's kernel
//! work for ever; a late answer is skipped by its sequence number.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr as NlAddr};

use super::codec::{self, AddrFamily, DecodeError, EncodeError, Progress};
use super::types::{Destination, Service, ServiceKey};

/// Receive buffer to start with; grown when the kernel sends a larger datagram
/// (dump parts are at most 32 KiB).
const RECV_BUF: usize = 64 * 1024;

/// Longest wait for one datagram of an answer.
const RECV_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What can go wrong talking to IPVS.
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    /// The kernel has no "IPVS" genl family (ip_vs not built or not loadable).
    #[error(
        "IPVS is not available in this kernel (genl family \"IPVS\" unknown; is ip_vs loaded?)"
    )]
    NotLoaded,
    /// The kernel refused a request.
    #[error("IPVS {op} failed: {}", io::Error::from_raw_os_error(*errno))]
    Kernel {
        /// The operation, e.g. "add_service".
        op: &'static str,
        /// Positive errno.
        errno: i32,
    },
    /// The kernel did not answer within the receive timeout.
    #[error("IPVS {op}: the kernel did not answer within {RECV_TIMEOUT:?}")]
    Timeout {
        /// The operation, e.g. "add_service".
        op: &'static str,
    },
    /// Socket I/O failed.
    #[error("IPVS netlink I/O: {0}")]
    Io(#[from] io::Error),
    /// A reply could not be decoded.
    #[error("IPVS reply: {0}")]
    Decode(#[from] DecodeError),
    /// A request could not be encoded.
    #[error("IPVS request: {0}")]
    Encode(#[from] EncodeError),
}

impl IpvsError {
    /// The kernel said the object already exists (EEXIST).
    pub fn is_exists(&self) -> bool {
        matches!(self, IpvsError::Kernel { errno, .. } if *errno == libc::EEXIST)
    }

    /// The kernel said the service (ESRCH) or destination (ENOENT) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, IpvsError::Kernel { errno, .. } if *errno == libc::ESRCH || *errno == libc::ENOENT)
    }
}

/// A connection to the kernel's IPVS, in the caller's network namespace.
pub struct IpvsClient {
    sock: Socket,
    family: u16,
    seq: u32,
    buf: Vec<u8>,
}

impl fmt::Debug for IpvsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpvsClient")
            .field("family", &self.family)
            .field("seq", &self.seq)
            .finish()
    }
}

impl IpvsClient {
    /// Opens a genl socket and resolves the IPVS family; [`IpvsError::NotLoaded`] if unknown.
    pub fn open() -> Result<Self, IpvsError> {
        let mut client = Self::connect()?;
        client.family = match client.resolve_family(codec::IPVS_FAMILY_NAME) {
            Err(IpvsError::Kernel { errno, .. }) if errno == libc::ENOENT => {
                return Err(IpvsError::NotLoaded)
            }
            other => other?,
        };
        Ok(client)
    }

    /// A socket talking to the genl controller, family not yet resolved.
    fn connect() -> Result<Self, IpvsError> {
        let mut sock = Socket::new(NETLINK_GENERIC)?;
        sock.bind_auto()?;
        sock.connect(&NlAddr::new(0, 0))?;
        crate::link::set_recv_timeout(&sock, RECV_TIMEOUT)?;
        Ok(IpvsClient {
            sock,
            family: codec::GENL_ID_CTRL,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Asks the controller for a family id; must be called while `self.family` is the controller.
    fn resolve_family(&mut self, name: &str) -> Result<u16, IpvsError> {
        let request = codec::encode_get_family(name);
        let replies = self.exchange("resolve family", NLM_F_REQUEST | NLM_F_ACK, &request)?;
        let reply = replies
            .first()
            .ok_or(DecodeError::Missing("CTRL_ATTR_FAMILY_ID"))?;
        Ok(codec::decode_family_id(reply)?)
    }

    /// The genl family id the kernel assigned to IPVS.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// All TCP/UDP services (fwmark and other-protocol services are left out).
    pub fn services(&mut self) -> Result<Vec<Service>, IpvsError> {
        let mut out = Vec::new();
        for raw in self.dump_raw_services()? {
            match codec::decode_service_reply(&raw) {
                Ok(s) => out.push(s),
                Err(DecodeError::Unsupported { what, value }) => {
                    tracing::debug!(
                        what,
                        value,
                        "skipping an IPVS service lvscare does not model"
                    )
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// One service, `None` if it does not exist.
    pub fn service(&mut self, key: &ServiceKey) -> Result<Option<Service>, IpvsError> {
        let request = codec::encode_get_service(key);
        match self.exchange("get_service", NLM_F_REQUEST | NLM_F_ACK, &request) {
            Ok(replies) => match replies.first() {
                Some(raw) => Ok(Some(codec::decode_service_reply(raw)?)),
                None => Ok(None),
            },
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a service (EEXIST if it exists: see [`IpvsError::is_exists`]).
    pub fn add_service(&mut self, s: &Service) -> Result<(), IpvsError> {
        self.ack("add_service", &codec::encode_new_service(s)?)
    }

    /// Changes a service's scheduler, flags, timeout and netmask.
    pub fn update_service(&mut self, s: &Service) -> Result<(), IpvsError> {
        self.ack("update_service", &codec::encode_set_service(s)?)
    }

    /// Deletes a service and its destinations.
    pub fn delete_service(&mut self, key: &ServiceKey) -> Result<(), IpvsError> {
        self.ack("delete_service", &codec::encode_del_service(key))
    }

    /// The destinations of a service (empty if the service does not exist).
    pub fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<Destination>, IpvsError> {
        let fallback = AddrFamily::of(&key.addr.ip());
        let raw = self.dump_raw_destinations(key)?;
        let dests = raw
            .iter()
            .map(|r| codec::decode_dest_reply(r, fallback))
            .collect::<Result<_, _>>()?;
        Ok(dests)
    }

    /// Adds a destination to a service.
    pub fn add_destination(&mut self, key: &ServiceKey, d: &Destination) -> Result<(), IpvsError> {
        self.ack("add_destination", &codec::encode_new_dest(key, d))
    }

    /// Changes a destination's forwarding method, weight and thresholds.
    pub fn update_destination(
        &mut self,
        key: &ServiceKey,
        d: &Destination,
    ) -> Result<(), IpvsError> {
        self.ack("update_destination", &codec::encode_set_dest(key, d))
    }

    /// Removes a destination from a service.
    pub fn delete_destination(
        &mut self,
        key: &ServiceKey,
        addr: SocketAddr,
    ) -> Result<(), IpvsError> {
        self.ack("delete_destination", &codec::encode_del_dest(key, addr))
    }

    /// The genl payloads of the service dump, exactly as received (for fixtures).
    pub fn dump_raw_services(&mut self) -> Result<Vec<Vec<u8>>, IpvsError> {
        self.exchange(
            "dump_services",
            NLM_F_REQUEST | NLM_F_DUMP,
            &codec::encode_dump_services(),
        )
    }

    /// The genl payloads of a service's destination dump, exactly as received (for fixtures).
    pub fn dump_raw_destinations(&mut self, key: &ServiceKey) -> Result<Vec<Vec<u8>>, IpvsError> {
        self.exchange(
            "dump_destinations",
            NLM_F_REQUEST | NLM_F_DUMP,
            &codec::encode_dump_dests(key),
        )
    }

    /// A request that only expects an acknowledgement.
    fn ack(&mut self, op: &'static str, genl_payload: &[u8]) -> Result<(), IpvsError> {
        self.exchange(op, NLM_F_REQUEST | NLM_F_ACK, genl_payload)
            .map(|_| ())
    }

    /// Sends one request and reads until its ACK or NLMSG_DONE, returning the data payloads.
    ///
    /// Replies are collected raw and decoded afterwards, so a bad entry never leaves the rest
    /// of a dump unread in the socket (the kernel would refuse the next dump with EBUSY).
    fn exchange(
        &mut self,
        op: &'static str,
        flags: u16,
        genl_payload: &[u8],
    ) -> Result<Vec<Vec<u8>>, IpvsError> {
        self.seq = self.seq.wrapping_add(1);
        let msg = codec::encode_nlmsg(self.family, flags, self.seq, genl_payload);
        retry_eintr(|| self.sock.send(&msg, 0))?;
        let mut out = Vec::new();
        loop {
            self.recv_datagram().map_err(|e| match e {
                IpvsError::Io(io) if io.kind() == io::ErrorKind::WouldBlock => {
                    IpvsError::Timeout { op }
                }
                other => other,
            })?;
            match codec::absorb_datagram(&self.buf, self.seq, self.family, &mut out)? {
                Progress::More => {}
                Progress::Done => return Ok(out),
                Progress::Failed(errno) => return Err(IpvsError::Kernel { op, errno }),
            }
        }
    }

    /// Reads one whole datagram into `self.buf`, growing it if the datagram is larger.
    fn recv_datagram(&mut self) -> Result<(), IpvsError> {
        self.buf.clear();
        // Peek with MSG_TRUNC for the real size, so nothing is ever cut off.
        let size = retry_eintr(|| {
            self.sock
                .recv(&mut self.buf, libc::MSG_PEEK | libc::MSG_TRUNC)
        })?;
        self.buf.clear();
        self.buf.reserve(size);
        let got = retry_eintr(|| self.sock.recv(&mut self.buf, 0))?;
        self.buf.truncate(got);
        Ok(())
    }
}

/// Repeats a syscall interrupted by a signal.
fn retry_eintr<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// True when this kernel can have no IPVS family: ip_vs is neither loaded nor available
    /// as a module or built in, so the controller cannot autoload it.
    fn ipvs_surely_absent() -> bool {
        if std::path::Path::new("/proc/net/ip_vs").exists()
            || std::path::Path::new("/sys/module/ip_vs").exists()
        {
            return false;
        }
        let release = match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
            Ok(r) => r.trim().to_string(),
            Err(_) => return false,
        };
        let dir = std::path::Path::new("/lib/modules").join(release);
        ["modules.dep", "modules.builtin"].iter().all(|f| {
            match std::fs::read_to_string(dir.join(f)) {
                Ok(text) => !text.contains("/ip_vs.ko"),
                Err(e) => e.kind() == io::ErrorKind::NotFound,
            }
        })
    }

    #[test]
    fn open_reports_not_loaded_on_a_kernel_without_ipvs() {
        if !ipvs_surely_absent() {
            eprintln!("skipped: this kernel may have IPVS");
            return;
        }
        let result = IpvsClient::open();
        assert!(
            matches!(result, Err(IpvsError::NotLoaded)),
            "got {result:?}"
        );
    }

    #[test]
    fn request_and_dump_round_trips_with_the_real_genl_controller() {
        // The controller family exists on every kernel, so this exercises the socket, the
        // ACK path and a multi-part dump against the host kernel itself.
        let mut c = IpvsClient::connect().unwrap();
        assert_eq!(c.resolve_family("nlctrl").unwrap(), codec::GENL_ID_CTRL);
        let dump = c
            .exchange(
                "dump families",
                NLM_F_REQUEST | NLM_F_DUMP,
                &codec::encode_get_family_dump(),
            )
            .unwrap();
        let ids: Vec<u16> = dump
            .iter()
            .map(|p| codec::decode_family_id(p).unwrap())
            .collect();
        assert!(ids.contains(&codec::GENL_ID_CTRL), "{ids:?}");
        // The dump was read to its end: the socket is usable for the next request.
        let err = c.resolve_family("no-such-family").unwrap_err();
        assert!(
            matches!(err, IpvsError::Kernel { op: "resolve family", errno } if errno == libc::ENOENT),
            "{err}"
        );
        assert_eq!(c.seq, 3);
    }

    #[test]
    fn error_helpers_and_display() {
        let exists = IpvsError::Kernel {
            op: "add_service",
            errno: libc::EEXIST,
        };
        assert!(exists.is_exists());
        assert!(!exists.is_not_found());
        assert_eq!(
            exists.to_string(),
            "IPVS add_service failed: File exists (os error 17)"
        );
        for errno in [libc::ESRCH, libc::ENOENT] {
            let e = IpvsError::Kernel {
                op: "delete_destination",
                errno,
            };
            assert!(e.is_not_found() && !e.is_exists());
        }
        assert!(!IpvsError::Kernel {
            op: "x",
            errno: libc::EPERM
        }
        .is_not_found());
        assert!(!IpvsError::NotLoaded.is_not_found());
    }
}
