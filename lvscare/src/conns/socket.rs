//! The NETLINK_SOCK_DIAG socket: one request at a time, each answered by its ACK, error or dump
//! end within a bounded wait. Blocking; the daemon calls it off its runtime thread.

use std::io;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};

use super::msg::{self, Answer, DecodeError};

/// The kernel answers a destroy while it is being sent; this only bounds a wedged socket.
const RECV_TIMEOUT: Duration = Duration::from_secs(1);

/// Failure of one exchange.
#[derive(Debug, thiserror::Error)]
pub enum SockError {
    /// Opening the socket or sending/receiving failed.
    #[error("sock_diag I/O: {0}")]
    Io(#[from] io::Error),
    /// The answer could not be decoded.
    #[error("{0}")]
    Decode(#[from] DecodeError),
}

/// A NETLINK_SOCK_DIAG socket in the caller's network namespace.
pub struct SockDiag {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl SockDiag {
    /// Opens and binds the socket.
    pub fn open() -> Result<Self, SockError> {
        let mut sock = Socket::new(NETLINK_SOCK_DIAG)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        crate::link::set_recv_timeout(&sock, RECV_TIMEOUT)?;
        Ok(SockDiag {
            sock,
            seq: 0,
            buf: Vec::with_capacity(8192),
        })
    }

    /// Sends one request built for a fresh sequence number and waits for its answer.
    pub fn exchange(&mut self, build: impl FnOnce(u32) -> Vec<u8>) -> Result<Answer, SockError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.sock.send(&build(seq), 0)?;
        loop {
            self.buf.clear();
            match self.sock.recv(&mut self.buf, 0) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
                Ok(_) => {}
            }
            if let Some(a) = msg::answer(&self.buf, seq)? {
                return Ok(a);
            }
        }
    }
}
