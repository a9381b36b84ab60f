//! Aborts the node's established connections to a master the moment lvscare declares it Down, so
//! clients get an error at once and reconnect to a healthy master instead of waiting for their
//! own timeouts (a blackholed master sends no RST; taking it out of IPVS only protects new
//! connections). Parts:
//!
//! - `table`: the pure parser of IPVS's connection table (`/proc/net/ip_vs_conn`), which maps
//!   each client socket through the VIP to its real server;
//! - `msg`: the pure sock_diag messages (`SOCK_DESTROY` of one exact 4-tuple, a support check);
//! - `socket`: the NETLINK_SOCK_DIAG socket;
//! - here: [`PendingAborts`] (which masters are due, pure) and [`abort_flows_to`] (the edge).
//!
//! Only a health transition to Down aborts; a master dropped from the list while healthy is
//! drained as before. Kernels without `CONFIG_INET_DIAG_DESTROY`, without `tcp_diag`, or a
//! process without CAP_NET_ADMIN give [`AbortError::Unsupported`], and lvscare behaves as before.

pub(crate) mod msg;
mod socket;
mod table;

pub use table::{flows_to, parse_line, Entry, Flow};

use std::io::{self, BufRead};
use std::net::SocketAddr;

use msg::Answer;
use socket::{SockDiag, SockError};

/// IPVS's connection table in the caller's network namespace.
pub const CONN_TABLE: &str = "/proc/net/ip_vs_conn";

/// Masters declared Down whose connections are still to be aborted: an abort waits until the
/// master takes no new connections (the reconcile that follows the transition succeeded), or a
/// client would reconnect to it; and it waits out fail-open, when every master is kept in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingAborts(Vec<SocketAddr>);

impl PendingAborts {
    /// Nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// `addr` was declared Down.
    pub fn down(&mut self, addr: SocketAddr) {
        if !self.0.contains(&addr) {
            self.0.push(addr);
        }
    }

    /// `addr` is Up again: its connections are no longer to be aborted.
    pub fn up(&mut self, addr: SocketAddr) {
        self.0.retain(|a| *a != addr);
    }

    /// After a successful reconcile: the masters whose connections to abort now (none while
    /// failing open, when they are all still in the service and keep their turn).
    pub fn take(&mut self, fail_open: bool) -> Vec<SocketAddr> {
        if fail_open {
            Vec::new()
        } else {
            std::mem::take(&mut self.0)
        }
    }
}

/// What one abort did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbortReport {
    /// Live connections through the VIP to the master in IPVS's table.
    pub found: usize,
    /// Local sockets destroyed.
    pub aborted: usize,
    /// Entries with no such local socket (a forwarded client, or closed meanwhile).
    pub not_local: usize,
    /// Sockets the kernel refused to destroy for another reason.
    pub failed: usize,
    /// The first unexpected refusal, for the log.
    pub first_failure: Option<String>,
}

/// Why nothing could be aborted.
#[derive(Debug, thiserror::Error)]
pub enum AbortError {
    /// The kernel or the process lacks what it takes; lvscare falls back to draining only.
    #[error("{0}")]
    Unsupported(String),
    /// The connection table could not be read.
    #[error("reading {CONN_TABLE}: {0}")]
    Table(io::Error),
    /// Talking to sock_diag failed.
    #[error("{0}")]
    Sock(#[from] SockError),
    /// The blocking task running the abort did not finish.
    #[error("the abort task failed: {0}")]
    Task(String),
}

/// Destroys the node's live TCP sockets whose IPVS connection through `service` goes to `dest`.
/// Blocking (procfs and netlink), typically milliseconds: call it off the runtime thread.
pub fn abort_flows_to(service: SocketAddr, dest: SocketAddr) -> Result<AbortReport, AbortError> {
    let flows = read_flows(service, dest)?;
    let mut report = AbortReport {
        found: flows.len(),
        ..AbortReport::default()
    };
    if flows.is_empty() {
        return Ok(report);
    }
    let mut diag = open()?;
    ensure_tcp_diag(&mut diag, service)?;
    for flow in &flows {
        match diag.exchange(|seq| msg::destroy_request(flow, seq))? {
            Answer::Ok => report.aborted += 1,
            Answer::Refused(e) if e == libc::ENOENT => report.not_local += 1,
            Answer::Refused(e) if e == libc::EOPNOTSUPP => {
                return Err(AbortError::Unsupported(
                    "the kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY is off)".into(),
                ))
            }
            Answer::Refused(e) if e == libc::EPERM || e == libc::EACCES => {
                return Err(AbortError::Unsupported(
                    "destroying sockets needs CAP_NET_ADMIN in the node's network namespace".into(),
                ))
            }
            Answer::Refused(e) => {
                report.failed += 1;
                report
                    .first_failure
                    .get_or_insert_with(|| io::Error::from_raw_os_error(e).to_string());
            }
        }
    }
    Ok(report)
}

/// Checks that this node can abort connections (and so has the kernel load `tcp_diag` ahead of
/// the first failure, which then costs no module load): `Ok` or [`AbortError::Unsupported`].
pub fn check_support(service: SocketAddr) -> Result<(), AbortError> {
    let mut diag = open()?;
    ensure_tcp_diag(&mut diag, service)
}

fn open() -> Result<SockDiag, AbortError> {
    SockDiag::open().map_err(|e| match e {
        SockError::Io(io) if io.raw_os_error() == Some(libc::EPROTONOSUPPORT) => {
            AbortError::Unsupported(
                "the kernel has no socket diagnostics (NETLINK_SOCK_DIAG)".into(),
            )
        }
        other => other.into(),
    })
}

/// Streams the table line by line: it holds every IPVS connection of the node (kube-proxy's
/// too), which may be many.
fn read_flows(service: SocketAddr, dest: SocketAddr) -> Result<Vec<Flow>, AbortError> {
    let file = std::fs::File::open(CONN_TABLE).map_err(AbortError::Table)?;
    let mut lines = Vec::new();
    let mut flows = Vec::new();
    for line in io::BufReader::new(file).lines() {
        lines.push(line.map_err(AbortError::Table)?);
        // Filter in batches, so memory stays bounded whatever the table's size.
        if lines.len() == 1024 {
            merge(
                &mut flows,
                flows_to(lines.iter().map(String::as_str), service, dest),
            );
            lines.clear();
        }
    }
    merge(
        &mut flows,
        flows_to(lines.iter().map(String::as_str), service, dest),
    );
    Ok(flows)
}

fn merge(into: &mut Vec<Flow>, more: Vec<Flow>) {
    for f in more {
        if !into.contains(&f) {
            into.push(f);
        }
    }
}

/// A destroy answers ENOENT both for a socket that is not there and for a kernel without TCP
/// diagnostics, so that is checked first. The kernel loads `inet_diag` and `tcp_diag` on demand;
/// `modprobe` covers a setup where that path is unavailable but the binary is (as for ip_vs).
fn ensure_tcp_diag(diag: &mut SockDiag, service: SocketAddr) -> Result<(), AbortError> {
    let check = |d: &mut SockDiag| d.exchange(|seq| msg::support_request(service.ip(), seq));
    if check(diag)? == Answer::Ok {
        return Ok(());
    }
    let _ = std::process::Command::new("modprobe")
        .args(["-q", "tcp_diag"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match check(diag)? {
        Answer::Ok => Ok(()),
        Answer::Refused(e) => Err(AbortError::Unsupported(format!(
            "the kernel has no TCP socket diagnostics (tcp_diag: {})",
            io::Error::from_raw_os_error(e)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(n: u8) -> SocketAddr {
        SocketAddr::from(([192, 168, 0, n], 6443))
    }

    #[test]
    fn a_down_master_is_due_once_after_the_next_reconcile() {
        let mut p = PendingAborts::new();
        p.down(rs(1));
        p.down(rs(1));
        assert_eq!(p.take(false), vec![rs(1)]);
        assert_eq!(p.take(false), vec![]);
    }

    #[test]
    fn a_master_up_again_before_the_abort_is_not_aborted() {
        let mut p = PendingAborts::new();
        p.down(rs(1));
        p.down(rs(2));
        p.up(rs(1));
        assert_eq!(p.take(false), vec![rs(2)]);
    }

    #[test]
    fn fail_open_keeps_aborts_pending_until_it_ends() {
        let mut p = PendingAborts::new();
        p.down(rs(1));
        p.down(rs(2));
        assert_eq!(p.take(true), vec![]);
        // rs3 comes back: fail-open ends, and the still-Down masters' clients can move to it.
        p.up(rs(2));
        assert_eq!(p.take(false), vec![rs(1)]);
    }
}
