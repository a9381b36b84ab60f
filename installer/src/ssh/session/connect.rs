//! Getting a connection: TCP with retries and backoff, the SSH handshake, the host key checked
//! against known_hosts (trust on first use), then authentication within the time limit.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use russh::client;
use russh::keys::Algorithm;
use russh::Preferred;
use tokio::sync::Semaphore;

use super::auth::{authenticate, Credentials};
use super::handle::{Inner, Session, MAX_CHANNELS};
use super::handler::{Client, HandlerError};
use crate::ssh::known_hosts::{self, KnownHostsError};
use crate::ssh::{Auth, SshConfig, SshError};

/// A failed connection attempt: worth retrying or not.
enum Attempt {
    Transient(String),
    Fatal(SshError),
}

impl Session {
    /// Connects to `host` (an address or a name), checks its host key, authenticates.
    /// Refused, reset or timed-out connections are retried with backoff (`cfg.retries`);
    /// a changed host key or rejected credentials are not.
    pub async fn connect(host: &str, cfg: &SshConfig) -> Result<Session, SshError> {
        let shown = display_host(host, cfg.port);
        // A bad key file or an absent agent is reported before touching the network.
        let mut credentials = Credentials::load(&cfg.auth).await?;
        // The bastion first: its own failures (auth, host key) are reported as its own.
        let via = match &cfg.jump {
            None => None,
            Some(jump) => Some(Box::pin(Session::connect(&jump.host, &cfg.for_jump(jump))).await?),
        };
        let known = known_hosts::read(&cfg.known_hosts)
            .map_err(|e| known_hosts_error(&cfg.known_hosts, e))?;
        let config = Arc::new(client_config(&known_hosts::known_key_types(
            &known, host, cfg.port,
        )));
        let mut attempt = 0;
        let mut handle = loop {
            attempt += 1;
            let once = match &via {
                None => connect_once(host, &shown, cfg, config.clone()).await,
                Some(via) => connect_via(via, host, &shown, cfg, config.clone()).await,
            };
            match once {
                Ok(handle) => break handle,
                Err(Attempt::Transient(detail)) if attempt <= cfg.retries => {
                    let wait = backoff(attempt);
                    tracing::debug!(host = %shown, %detail, ?wait, "connect failed, retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(Attempt::Transient(detail)) => {
                    let detail = match &via {
                        None => detail,
                        Some(via) => format!("through bastion {}: {detail}", via.host()),
                    };
                    return Err(SshError::Connect {
                        host: shown,
                        detail,
                        attempts: attempt,
                    });
                }
                Err(Attempt::Fatal(e)) => return Err(e),
            }
        };
        match tokio::time::timeout(
            cfg.connect_timeout,
            authenticate(&mut handle, &shown, cfg, &mut credentials),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(SshError::Handshake {
                    host: shown,
                    detail: format!(
                        "authentication did not complete within {:?}",
                        cfg.connect_timeout
                    ),
                })
            }
        }
        let sudo = if cfg.user == "root" {
            None
        } else {
            let password = cfg.sudo_password.clone().or(match &cfg.auth {
                Auth::Password(p) => Some(p.clone()),
                _ => None,
            });
            Some(password)
        };
        tracing::debug!(host = %shown, user = %cfg.user, "SSH session ready");
        Ok(Session {
            inner: Arc::new(Inner {
                host: shown,
                user: cfg.user.clone(),
                handle,
                sudo,
                io_timeout: cfg.io_timeout,
                channels: Semaphore::new(MAX_CHANNELS),
                _via: via,
            }),
        })
    }
}

async fn connect_once(
    host: &str,
    shown: &str,
    cfg: &SshConfig,
    config: Arc<client::Config>,
) -> Result<client::Handle<Client>, Attempt> {
    let addrs = match tokio::time::timeout(
        cfg.connect_timeout,
        tokio::net::lookup_host((host, cfg.port)),
    )
    .await
    {
        Ok(Ok(addrs)) => addrs.collect::<Vec<_>>(),
        Ok(Err(e)) => return Err(Attempt::Transient(format!("cannot resolve {host}: {e}"))),
        Err(_) => return Err(Attempt::Transient(format!("resolving {host} timed out"))),
    };
    let mut last = format!("{host} resolves to no address");
    let mut stream = None;
    for addr in addrs {
        match tokio::time::timeout(cfg.connect_timeout, tokio::net::TcpStream::connect(addr)).await
        {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => {
                use std::io::ErrorKind::*;
                last = format!("{addr}: {e}");
                if !matches!(
                    e.kind(),
                    ConnectionRefused
                        | ConnectionReset
                        | ConnectionAborted
                        | TimedOut
                        | HostUnreachable
                ) {
                    return Err(Attempt::Fatal(SshError::Connect {
                        host: shown.to_string(),
                        detail: last,
                        attempts: 1,
                    }));
                }
            }
            Err(_) => {
                last = format!(
                    "{addr}: TCP connect timed out after {:?}",
                    cfg.connect_timeout
                )
            }
        }
    }
    let Some(stream) = stream else {
        return Err(Attempt::Transient(last));
    };
    let _ = stream.set_nodelay(true);
    handshake(stream, host, shown, cfg, config).await
}

/// The TCP leg through the bastion: a `direct-tcpip` channel from it to `host:port`.
async fn connect_via(
    via: &Session,
    host: &str,
    shown: &str,
    cfg: &SshConfig,
    config: Arc<client::Config>,
) -> Result<client::Handle<Client>, Attempt> {
    let open =
        via.inner
            .handle
            .channel_open_direct_tcpip(host, u32::from(cfg.port), "127.0.0.1", 0);
    let channel = match tokio::time::timeout(cfg.connect_timeout, open).await {
        Ok(Ok(channel)) => channel,
        // The bastion could not reach the host (down, refused): as a refused TCP connect.
        Ok(Err(russh::Error::ChannelOpenFailure(russh::ChannelOpenFailure::ConnectFailed))) => {
            return Err(Attempt::Transient(format!(
                "the bastion cannot connect to {shown}"
            )))
        }
        Ok(Err(russh::Error::ChannelOpenFailure(why))) => {
            return Err(Attempt::Fatal(SshError::Connect {
                host: shown.to_string(),
                detail: format!(
                    "bastion {} refused to forward ({why:?}): it needs AllowTcpForwarding",
                    via.host()
                ),
                attempts: 1,
            }))
        }
        Ok(Err(e)) => {
            return Err(Attempt::Transient(format!(
                "opening a tunnel on bastion {}: {e}",
                via.host()
            )))
        }
        Err(_) => {
            return Err(Attempt::Transient(format!(
                "the bastion's tunnel did not open within {:?}",
                cfg.connect_timeout
            )))
        }
    };
    handshake(channel.into_stream(), host, shown, cfg, config).await
}

/// The SSH handshake over an open stream, the host key checked against known_hosts.
async fn handshake<S>(
    stream: S,
    host: &str,
    shown: &str,
    cfg: &SshConfig,
    config: Arc<client::Config>,
) -> Result<client::Handle<Client>, Attempt>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let handler = Client {
        host: host.to_string(),
        port: cfg.port,
        known_hosts: cfg.known_hosts.clone(),
    };
    match tokio::time::timeout(
        cfg.connect_timeout,
        client::connect_stream(config, stream, handler),
    )
    .await
    {
        Ok(Ok(handle)) => Ok(handle),
        Ok(Err(HandlerError::HostKey { error, fingerprint })) => {
            let file = cfg.known_hosts.clone();
            Err(Attempt::Fatal(match error {
                KnownHostsError::Changed { line } => SshError::HostKeyChanged {
                    host: shown.to_string(),
                    fingerprint,
                    file,
                    line,
                },
                KnownHostsError::Revoked { line } => SshError::HostKeyRevoked {
                    host: shown.to_string(),
                    fingerprint,
                    file,
                    line,
                },
                other => known_hosts_error(&file, other),
            }))
        }
        Ok(Err(HandlerError::Russh(e))) => match e {
            // The server dropped us during the handshake (MaxStartups, restarting sshd).
            russh::Error::IO(_)
            | russh::Error::HUP
            | russh::Error::Disconnect
            | russh::Error::ConnectionTimeout => {
                Err(Attempt::Transient(format!("during SSH handshake: {e}")))
            }
            other => Err(Attempt::Fatal(SshError::Handshake {
                host: shown.to_string(),
                detail: other.to_string(),
            })),
        },
        Err(_) => Err(Attempt::Transient(format!(
            "SSH handshake timed out after {:?}",
            cfg.connect_timeout
        ))),
    }
}

fn known_hosts_error(file: &Path, e: KnownHostsError) -> SshError {
    match e {
        KnownHostsError::Io { source, .. } => SshError::KnownHosts {
            file: file.to_path_buf(),
            source,
        },
        other => SshError::KnownHosts {
            file: file.to_path_buf(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

/// The client configuration: keepalives to notice dead peers, and host key algorithms
/// reordered so that a type already recorded for this host is negotiated first.
fn client_config(known_types: &[String]) -> client::Config {
    let defaults = Preferred::default();
    let key_type = |a: &Algorithm| {
        if matches!(a, Algorithm::Rsa { .. }) {
            "ssh-rsa".to_string()
        } else {
            a.as_str().to_string()
        }
    };
    let mut keys: Vec<Algorithm> = Vec::new();
    for known in known_types {
        keys.extend(
            defaults
                .key
                .iter()
                .filter(|a| &key_type(a) == known && !keys.contains(a))
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    keys.extend(
        defaults
            .key
            .iter()
            .filter(|a| !keys.contains(a))
            .cloned()
            .collect::<Vec<_>>(),
    );
    client::Config {
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        nodelay: true,
        preferred: Preferred {
            key: keys.into(),
            ..defaults
        },
        ..Default::default()
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64 << attempt.saturating_sub(1).min(4))
}

fn display_host(host: &str, port: u16) -> String {
    match (port, host.contains(':')) {
        (22, _) => host.to_string(),
        (_, true) => format!("[{host}]:{port}"),
        (_, false) => format!("{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_come_first() {
        let config = client_config(&["ssh-rsa".to_string()]);
        assert!(matches!(config.preferred.key[0], Algorithm::Rsa { .. }));
        assert_eq!(config.preferred.key.len(), Preferred::default().key.len());
        let config = client_config(&["ecdsa-sha2-nistp256".to_string()]);
        assert_eq!(config.preferred.key[0].as_str(), "ecdsa-sha2-nistp256");
        let config = client_config(&[]);
        assert_eq!(config.preferred.key, Preferred::default().key);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_millis(1000));
        assert_eq!(backoff(9), Duration::from_millis(8000));
    }

    #[test]
    fn hosts_for_messages() {
        assert_eq!(display_host("10.0.0.1", 22), "10.0.0.1");
        assert_eq!(display_host("10.0.0.1", 2222), "10.0.0.1:2222");
        assert_eq!(display_host("fd00::1", 2222), "[fd00::1]:2222");
    }
}
