//! The russh event handler of a connection: the server's host key checked against known_hosts
//! (trust on first use) before any credential is sent.

use russh::client;
use russh::keys::ssh_key::HashAlg;
use russh::keys::PublicKeyOrCertificate;

use crate::ssh::known_hosts::{self, KnownHostsError};

/// The russh event handler: only the host key check matters here.
pub(super) struct Client {
    /// The host as dialled (for known_hosts).
    pub(super) host: String,
    /// Its SSH port.
    pub(super) port: u16,
    /// The known-hosts file to check and learn into.
    pub(super) known_hosts: std::path::PathBuf,
}

/// Why the handshake failed: russh itself, or the host key check.
#[derive(Debug)]
pub(super) enum HandlerError {
    Russh(russh::Error),
    HostKey {
        error: KnownHostsError,
        fingerprint: String,
    },
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Russh(e)
    }
}

impl client::Handler for Client {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // Called after the server proved it holds the key, before any credential is sent.
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            // No certificate algorithms are advertised, so this does not happen; refuse anyway.
            return Ok(false);
        };
        match known_hosts::verify_or_learn(&self.known_hosts, &self.host, self.port, key) {
            Ok(trust) => {
                if trust == known_hosts::Trust::Learned {
                    tracing::info!(
                        host = %self.host,
                        key = %fingerprint(key),
                        file = %self.known_hosts.display(),
                        "new host key trusted and recorded"
                    );
                }
                Ok(true)
            }
            Err(error) => Err(HandlerError::HostKey {
                error,
                fingerprint: fingerprint(key),
            }),
        }
    }
}

fn fingerprint(key: &russh::keys::PublicKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        key.fingerprint(HashAlg::Sha256)
    )
}
