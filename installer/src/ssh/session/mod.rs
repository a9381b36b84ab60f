//! One russh connection per host: the [`Session`] handle; its parts connect, authenticate, run
//! commands and transfer files over channels of that one connection.
//!
//! Parts: `connect` (TCP, handshake, host key check, retries), `auth` (password, key, agent),
//! `exec` (commands on channels, sudo, deadlines), `transfer` (uploads and atomic writes).

mod auth;
mod connect;
mod exec;
mod transfer;

use std::sync::Arc;
use std::time::Duration;

use russh::client;
use russh::Disconnect;
use tokio::sync::Semaphore;

use super::remote;
use super::{Output, Secret, SshError};
use connect::Client;

pub(crate) use transfer::{sha256_file, sha256_file_async};

/// Channels open at once on one connection: below OpenSSH's default `MaxSessions 10`.
const MAX_CHANNELS: usize = 8;

/// An authenticated SSH connection to one host. Cheap to clone (clones share the connection);
/// several commands may run on it at the same time.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    host: String,
    user: String,
    handle: client::Handle<Client>,
    /// `None` when logged in as root; otherwise sudo, with the password if one is known.
    sudo: Option<Option<Secret>>,
    io_timeout: Duration,
    channels: Semaphore,
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

    fn check(&self, cmd: &str, out: Output) -> Result<Output, SshError> {
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
