//! The [`Session`] handle: one authenticated connection shared by its clones, the bound on its
//! open channels, and what every command's result is checked with.

use std::sync::Arc;
use std::time::Duration;

use russh::client;
use russh::Disconnect;
use tokio::sync::Semaphore;

use super::handler::Client;
use crate::ssh::remote;
use crate::ssh::{Output, Secret, SshError};

/// Channels open at once on one connection: below OpenSSH's default `MaxSessions 10`.
pub(super) const MAX_CHANNELS: usize = 8;

/// An authenticated SSH connection to one host. Cheap to clone (clones share the connection);
/// several commands may run on it at the same time.
#[derive(Clone)]
pub struct Session {
    pub(super) inner: Arc<Inner>,
}

/// What the clones of a session share.
pub(super) struct Inner {
    /// The host as shown in messages.
    pub(super) host: String,
    /// The login user.
    pub(super) user: String,
    /// The russh connection.
    pub(super) handle: client::Handle<Client>,
    /// `None` when logged in as root; otherwise sudo, with the password if one is known.
    pub(super) sudo: Option<Option<Secret>>,
    /// Idle limit of uploads and writes.
    pub(super) io_timeout: Duration,
    /// Bounds the channels open at once.
    pub(super) channels: Semaphore,
    /// The bastion session this connection is tunnelled through, kept open as long as it is.
    pub(super) _via: Option<Session>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.inner.host)
            .field("user", &self.inner.user)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The host as shown in messages (`addr`, or `addr:port` when the port is not 22).
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// Ends the connection (for every clone of this session).
    pub async fn close(self) {
        let _ = self
            .inner
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }

    /// `out` when the command exited 0, else the failure naming host, command and stderr.
    pub(super) fn check(&self, cmd: &str, out: Output) -> Result<Output, SshError> {
        if out.status == 0 {
            return Ok(out);
        }
        Err(SshError::Failed {
            host: self.inner.host.clone(),
            cmd: remote::short(cmd),
            status: out.status,
            stderr_tail: remote::tail_text(&out.stderr, 2000),
        })
    }
}
