//! The SSH layer: one authenticated session per host (russh, pure Rust), reused for every
//! command and file transfer to that host.
//!
//! - Auth: password, private key (optionally encrypted), or ssh-agent.
//! - A bastion (`--bastion`, as `ssh -J`): a session to it per host, the host's own SSH
//!   connection tunnelled through a `direct-tcpip` channel of it; both host keys are checked.
//! - Host keys: trust on first use into an OpenSSH-format known_hosts file; a changed key is a
//!   hard error that names the file and line.
//! - Commands always run as root, through `sudo -S` for other users; passwords go over the
//!   encrypted channel only (never on a command line, never to disk, never to logs).
//! - Every command has a deadline. When it passes, the channel is closed and the command is
//!   stopped on the host too (it runs under coreutils `timeout` there). Only connection set-up
//!   is retried; a command that ran and failed is not.
//! - Uploads skip files whose remote sha256 matches, and every write goes to a temp file that is
//!   checked against the sha256 and renamed into place.
//! - Output is capped at [`OUTPUT_CAP`] bytes per stream (head of stdout, tail of stderr).

mod jump;
mod known_hosts;
mod remote;
mod secret;
mod session;

use std::path::PathBuf;
use std::time::Duration;

pub use jump::{JumpHost, JumpHostError};
pub use known_hosts::host_pattern;
pub use remote::{quote, OUTPUT_CAP};
pub use secret::Secret;
pub use session::Session;
pub(crate) use session::{sha256_file, sha256_file_async};

/// How to log in.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Password authentication (`--passwd`); also fed to sudo when the user is not root.
    Password(Secret),
    /// A private key file (`--pk`) in OpenSSH or PEM format, with its passphrase if encrypted.
    Key {
        /// The private key file.
        path: PathBuf,
        /// Passphrase of an encrypted key.
        passphrase: Option<Secret>,
    },
    /// Keys held by an ssh-agent.
    Agent {
        /// The agent's socket; `None` means `$SSH_AUTH_SOCK`.
        socket: Option<PathBuf>,
    },
}

impl Auth {
    /// Short name of the method for messages.
    pub fn method(&self) -> &'static str {
        match self {
            Auth::Password(_) => "password",
            Auth::Key { .. } => "key",
            Auth::Agent { .. } => "ssh-agent",
        }
    }
}

/// Connection settings shared by all hosts of a run.
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// Login user; commands run as root, through sudo when this is not `root`.
    pub user: String,
    /// SSH port.
    pub port: u16,
    /// How to log in.
    pub auth: Auth,
    /// sudo's password when it is not the login password (for example with key auth);
    /// `None` uses the login password, if any.
    pub sudo_password: Option<Secret>,
    /// known_hosts file (OpenSSH format) used for trust on first use.
    pub known_hosts: PathBuf,
    /// Limit for each of TCP connect, SSH handshake and authentication.
    pub connect_timeout: Duration,
    /// Extra connection attempts after a transient failure (refused, reset, timed out).
    pub retries: u32,
    /// Uploads and file writes fail when no byte moves for this long.
    pub io_timeout: Duration,
    /// The bastion every connection is tunnelled through (`--bastion`), when there is one.
    pub jump: Option<JumpHost>,
}

impl SshConfig {
    /// Defaults: port 22, `~/.seal/known_hosts`, 10 s connect timeout, 3 retries, 60 s I/O
    /// stall timeout, sudo with the login password.
    pub fn new(user: impl Into<String>, auth: Auth) -> Self {
        SshConfig {
            user: user.into(),
            port: 22,
            auth,
            sudo_password: None,
            known_hosts: Self::default_known_hosts(),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            io_timeout: Duration::from_secs(60),
            jump: None,
        }
    }

    /// The settings of the connection to the bastion itself: its port and user, the same
    /// login, known_hosts and limits, and no bastion of its own.
    fn for_jump(&self, jump: &JumpHost) -> SshConfig {
        SshConfig {
            user: jump.user.clone().unwrap_or_else(|| self.user.clone()),
            port: jump.port,
            jump: None,
            ..self.clone()
        }
    }

    /// `$HOME/.seal/known_hosts` (relative `.seal/known_hosts` when HOME is unset).
    pub fn default_known_hosts() -> PathBuf {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        home.join(".seal").join("known_hosts")
    }
}

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit status.
    pub status: u32,
    /// Standard output (first [`OUTPUT_CAP`] bytes).
    pub stdout: Vec<u8>,
    /// Standard error (last [`OUTPUT_CAP`] bytes).
    pub stderr: Vec<u8>,
    /// Whether either stream went over the cap and was cut.
    pub truncated: bool,
}

impl Output {
    /// Standard output as text (lossy UTF-8) for parsing: carriage returns removed, the terminal
    /// noise (a host's `\r\n` line ends, a tool's progress redraws) that would otherwise end up
    /// inside a parsed value.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).replace('\r', "")
    }

    /// Standard error as text (lossy UTF-8).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// What `Session::upload` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadResult {
    /// The remote file already had the same sha256; only its mode was set.
    Skipped,
    /// The file was transferred, verified remotely and renamed into place.
    Uploaded,
}

/// Everything that can go wrong; each message names the host, what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// No SSH connection could be made (after retries for transient failures).
    #[error("{host}: cannot connect ({detail}) after {attempts} attempt(s): check the address and --port, that sshd runs there and that no firewall blocks it")]
    Connect {
        /// The host (with port when not 22).
        host: String,
        /// The last failure.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The SSH protocol handshake failed for a reason retrying will not fix.
    #[error("{host}: SSH handshake failed: {detail}")]
    Handshake {
        /// The host.
        host: String,
        /// What the protocol layer said.
        detail: String,
    },
    /// The host presents a key that differs from the recorded one.
    #[error("{host}: HOST KEY CHANGED: it now presents {fingerprint}, which does not match line {line} of {file}. This can be a man-in-the-middle attack. If the host was reinstalled, remove line {line} from {file} and retry")]
    HostKeyChanged {
        /// The host.
        host: String,
        /// Type and SHA256 fingerprint of the presented key.
        fingerprint: String,
        /// The known_hosts file.
        file: PathBuf,
        /// The line (1-based) holding the old key.
        line: usize,
    },
    /// The host presents a key marked `@revoked`.
    #[error(
        "{host}: host key {fingerprint} is revoked (line {line} of {file}); refusing to connect"
    )]
    HostKeyRevoked {
        /// The host.
        host: String,
        /// Type and SHA256 fingerprint of the presented key.
        fingerprint: String,
        /// The known_hosts file.
        file: PathBuf,
        /// The `@revoked` line.
        line: usize,
    },
    /// The known_hosts file could not be read or written.
    #[error("known_hosts file {file}: {source}: check its permissions or choose another file")]
    KnownHosts {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The server rejected the credentials.
    #[error(
        "{host}: authentication failed for user {user} ({method}): check --user, --passwd / --pk"
    )]
    Auth {
        /// The host.
        host: String,
        /// The login user.
        user: String,
        /// The method tried.
        method: &'static str,
    },
    /// The private key could not be loaded.
    #[error("private key {path}: {detail}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong and what to do.
        detail: String,
    },
    /// The ssh-agent could not be used.
    #[error("ssh-agent: {detail}: check SSH_AUTH_SOCK and `ssh-add -l`")]
    Agent {
        /// What went wrong.
        detail: String,
    },
    /// sudo refused to run the command as root.
    #[error("{host}: sudo failed for user {user}: {reason}")]
    Sudo {
        /// The host.
        host: String,
        /// The login user.
        user: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A command did not finish in time (it was sent SIGTERM and its channel closed).
    #[error("{host}: `{cmd}` did not finish within {after:?}; it was stopped")]
    Timeout {
        /// The host.
        host: String,
        /// The command (shortened).
        cmd: String,
        /// The limit.
        after: std::time::Duration,
    },
    /// A command ran and exited with a non-zero status.
    #[error("{host}: `{cmd}` failed with exit status {status}: {stderr_tail}")]
    Failed {
        /// The host.
        host: String,
        /// The command (shortened).
        cmd: String,
        /// Its exit status.
        status: u32,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// A command was killed by a signal.
    #[error("{host}: `{cmd}` was killed by signal {signal}")]
    Signal {
        /// The host.
        host: String,
        /// The command (shortened).
        cmd: String,
        /// The signal's name.
        signal: String,
    },
    /// The session broke (network, server restart) or the server refused a channel.
    #[error("{host}: SSH session lost: {detail}; reconnect and retry")]
    Disconnected {
        /// The host.
        host: String,
        /// What happened.
        detail: String,
    },
    /// A downloaded copy is not what the host holds (it changed meanwhile, or bytes were lost).
    #[error("{host}: the copy of {remote} does not match the host's ({detail}); run again")]
    Download {
        /// The host.
        host: String,
        /// The remote file.
        remote: String,
        /// Sizes or sums that differ.
        detail: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Local {
        /// The local file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The caller passed something unusable (relative remote path, bad mode).
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl SshError {
    /// The exit status when a remote command ran and failed.
    pub fn status(&self) -> Option<u32> {
        match self {
            SshError::Failed { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_output_has_no_carriage_returns() {
        let out = Output {
            status: 0,
            stdout: b"sha256:ab\r\n==> /etc/x\r\nok\r".to_vec(),
            stderr: b"e\r\n".to_vec(),
            truncated: false,
        };
        assert_eq!(out.stdout_text(), "sha256:ab\n==> /etc/x\nok");
        assert_eq!(
            crate::certs::parse_listing(&out.stdout_text())[0]
                .as_ref()
                .err()
                .map(|e| e.starts_with("/etc/x: ")),
            Some(true)
        );
    }

    #[test]
    fn config_debug_never_shows_secrets() {
        let mut cfg = SshConfig::new("alice", Auth::Password(Secret::new("p4ss'w$rd")));
        cfg.sudo_password = Some(Secret::new("sudo-secret"));
        let key = Auth::Key {
            path: "/k".into(),
            passphrase: Some(Secret::new("k3y-unl0ck")),
        };
        let shown = format!("{cfg:?} {key:?}");
        for secret in ["p4ss", "sudo-secret", "k3y-unl0ck"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn messages_name_host_failure_and_fix() {
        let e = SshError::Auth {
            host: "192.168.0.2".into(),
            user: "root".into(),
            method: "password",
        };
        assert_eq!(
            e.to_string(),
            "192.168.0.2: authentication failed for user root (password): check --user, --passwd / --pk"
        );
        let e = SshError::HostKeyChanged {
            host: "10.0.0.1".into(),
            fingerprint: "ssh-ed25519 SHA256:abc".into(),
            file: "/root/.seal/known_hosts".into(),
            line: 7,
        };
        let text = e.to_string();
        assert!(text.starts_with("10.0.0.1: HOST KEY CHANGED"), "{text}");
        assert!(
            text.contains("remove line 7 from /root/.seal/known_hosts"),
            "{text}"
        );
    }
}
