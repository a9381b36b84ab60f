//! One russh connection per host: connect (with retries), host key check, authentication, and
//! commands / file transfers over channels of that one connection.

use std::io::Read;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::ssh_key::HashAlg;
use russh::keys::{Algorithm, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, ChannelWriteHalf, Disconnect, MethodKind, Preferred, Sig};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::{oneshot, Semaphore};
use zeroize::Zeroizing;

use super::known_hosts::{self, KnownHostsError};
use super::remote::{self, Capped, Keep, SudoEvent, SudoMarkers, SudoScanner, OUTPUT_CAP};
use super::{Auth, Output, Secret, SshConfig, SshError, UploadResult};

/// Channels open at once on one connection: below OpenSSH's default `MaxSessions 10`.
const MAX_CHANNELS: usize = 8;
/// After the exit status arrives, how long to wait for the rest of the output when a
/// background process keeps the channel open.
const EXIT_GRACE: Duration = Duration::from_secs(3);
/// How often deadlines are checked.
const TICK: Duration = Duration::from_millis(200);

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

/// The russh event handler: only the host key check matters here.
struct Client {
    host: String,
    port: u16,
    known_hosts: std::path::PathBuf,
}

#[derive(Debug)]
enum HandlerError {
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

/// A failed connection attempt: worth retrying or not.
enum Attempt {
    Transient(String),
    Fatal(SshError),
}

/// What a command reads on stdin.
enum Stdin<'a> {
    Bytes(&'a [u8]),
    File(tokio::fs::File),
}

/// When a command is given up on.
#[derive(Clone, Copy)]
enum Deadline {
    /// A fixed time limit from the start.
    Total(Duration),
    /// No byte moved in either direction for this long.
    Idle(Duration),
}

impl Session {
    /// Connects to `host` (an address or a name), checks its host key, authenticates.
    /// Refused, reset or timed-out connections are retried with backoff (`cfg.retries`);
    /// a changed host key or rejected credentials are not.
    pub async fn connect(host: &str, cfg: &SshConfig) -> Result<Session, SshError> {
        let shown = display_host(host, cfg.port);
        // A bad key file or an absent agent is reported before touching the network.
        let mut credentials = Credentials::load(&cfg.auth).await?;
        let known = known_hosts::read(&cfg.known_hosts)
            .map_err(|e| known_hosts_error(&cfg.known_hosts, e))?;
        let config = Arc::new(client_config(&known_hosts::known_key_types(
            &known, host, cfg.port,
        )));
        let mut attempt = 0;
        let mut handle = loop {
            attempt += 1;
            match connect_once(host, &shown, cfg, config.clone()).await {
                Ok(handle) => break handle,
                Err(Attempt::Transient(detail)) if attempt <= cfg.retries => {
                    let wait = backoff(attempt);
                    tracing::debug!(host = %shown, %detail, ?wait, "connect failed, retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(Attempt::Transient(detail)) => {
                    return Err(SshError::Connect {
                        host: shown,
                        detail,
                        attempts: attempt,
                    })
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
            }),
        })
    }

    /// The host as shown in messages (`addr`, or `addr:port` when the port is not 22).
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// Runs `cmd` with `sh` as root; a non-zero exit status is `SshError::Failed`.
    pub async fn run(&self, cmd: &str, timeout: Duration) -> Result<Output, SshError> {
        self.run_with_stdin(cmd, &[], timeout).await
    }

    /// Like `run`, feeding `stdin` to the command.
    pub async fn run_with_stdin(
        &self,
        cmd: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, SshError> {
        let out = self.exec(cmd, stdin, timeout).await?;
        self.check(cmd, out)
    }

    /// Runs `cmd` as root and returns its output whatever its exit status (for checks such as
    /// `test -f FILE`). Errors only when it could not run to completion.
    pub async fn exec(
        &self,
        cmd: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, SshError> {
        self.exec_inner(cmd, Stdin::Bytes(stdin), Deadline::Total(timeout))
            .await
    }

    /// Copies a local file to `remote` (absolute) with `mode`, as root. Skipped when the remote
    /// file already has the same sha256. Otherwise streamed into a temp file next to `remote`,
    /// verified against the local sha256 on the remote side, then renamed over `remote`.
    pub async fn upload(
        &self,
        local: &Path,
        remote: &str,
        mode: u32,
    ) -> Result<UploadResult, SshError> {
        check_remote(remote, mode)?;
        let path = local.to_path_buf();
        let sum = tokio::task::spawn_blocking(move || sha256_file(&path))
            .await
            .map_err(|e| SshError::Local {
                path: local.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?
            .map_err(|source| SshError::Local {
                path: local.to_path_buf(),
                source,
            })?;
        let idle = Deadline::Idle(self.inner.io_timeout);
        let probe = remote::same_file_script(remote, &sum, mode);
        let same = self.exec_inner(&probe, Stdin::Bytes(&[]), idle).await?;
        if same.status == 0 && same.stdout == b"same\n" {
            tracing::debug!(host = %self.inner.host, remote, "upload skipped: same sha256");
            return Ok(UploadResult::Skipped);
        }
        let file = tokio::fs::File::open(local)
            .await
            .map_err(|source| SshError::Local {
                path: local.to_path_buf(),
                source,
            })?;
        let script = remote::atomic_write_script(remote, &sum, mode);
        let out = self.exec_inner(&script, Stdin::File(file), idle).await?;
        self.check(&format!("upload {} to {remote}", local.display()), out)?;
        Ok(UploadResult::Uploaded)
    }

    /// Writes `data` to `remote` (absolute) with `mode`, as root, atomically (temp file, sha256
    /// check, rename).
    pub async fn write_file(&self, remote: &str, data: &[u8], mode: u32) -> Result<(), SshError> {
        check_remote(remote, mode)?;
        let sum = remote::hex(&Sha256::digest(data));
        let script = remote::atomic_write_script(remote, &sum, mode);
        let out = self
            .exec_inner(
                &script,
                Stdin::Bytes(data),
                Deadline::Idle(self.inner.io_timeout),
            )
            .await?;
        self.check(&format!("write {remote}"), out)?;
        Ok(())
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

    async fn exec_inner(
        &self,
        cmd: &str,
        stdin: Stdin<'_>,
        deadline: Deadline,
    ) -> Result<Output, SshError> {
        let inner = &self.inner;
        let started = Instant::now();
        let lost = |detail: String| SshError::Disconnected {
            host: inner.host.clone(),
            detail,
        };
        let timed_out = || SshError::Timeout {
            host: inner.host.clone(),
            cmd: remote::short(cmd),
            after: match deadline {
                Deadline::Total(d) | Deadline::Idle(d) => d,
            },
        };
        let limit = match deadline {
            Deadline::Total(d) | Deadline::Idle(d) => d,
        };
        // Opening the channel counts against the limit too (the server may be stuck).
        let opened = tokio::time::timeout(limit, async {
            let permit = inner
                .channels
                .acquire()
                .await
                .map_err(|_| lost("session closed".into()))?;
            let channel = inner
                .handle
                .channel_open_session()
                .await
                .map_err(|e| lost(format!("cannot open a channel: {e}")))?;
            Ok::<_, SshError>((permit, channel))
        })
        .await;
        let (_permit, channel) = match opened {
            Ok(r) => r?,
            Err(_) => return Err(timed_out()),
        };
        let markers = inner
            .sudo
            .as_ref()
            .map(|_| SudoMarkers::new(&remote::token()));
        // The host's own limit is a little longer than ours, so our Timeout is what the caller
        // sees; it only makes sure the command does not outlive the channel.
        let host_limit = match deadline {
            Deadline::Total(d) => Some(d.as_secs().saturating_add(2).min(u32::MAX as u64)),
            Deadline::Idle(_) => None,
        };
        let line = remote::wrap(cmd, markers.as_ref(), host_limit);
        tracing::debug!(host = %inner.host, cmd = %remote::short(cmd), "run");
        let (mut rd, wr) = channel.split();
        let as_root = inner.sudo.is_none();
        if let Err(e) = wr.exec(true, line).await {
            stop(&wr, as_root).await;
            return Err(lost(format!("cannot start the command: {e}")));
        }

        let activity = Activity::new();
        let (ready_tx, ready_rx) = oneshot::channel::<()>();
        let sudo_password = inner.sudo.clone().flatten();
        let writer = write_stdin(&wr, stdin, markers.is_some(), ready_rx, &activity);
        let reader = read_output(&mut rd, &wr, markers, sudo_password, ready_tx, &activity);
        tokio::pin!(writer);
        tokio::pin!(reader);
        let mut writer_done = false;
        let mut ticker = tokio::time::interval(TICK);
        let result = loop {
            tokio::select! {
                done = &mut writer, if !writer_done => {
                    writer_done = true;
                    if let Err(e) = done {
                        // Usually the command exited without reading all its input: the reader
                        // still reports how it ended.
                        tracing::debug!(host = %inner.host, "stdin not fully sent: {e}");
                    }
                }
                read = &mut reader => break read,
                _ = ticker.tick() => {
                    let expired = match deadline {
                        Deadline::Total(d) => started.elapsed() >= d,
                        Deadline::Idle(d) => activity.idle() >= d,
                    };
                    if expired {
                        stop(&wr, as_root).await;
                        return Err(timed_out());
                    }
                }
            }
        };
        match result {
            Ok(Ended::Status(out)) => Ok(out),
            Ok(Ended::Signal(signal)) => Err(SshError::Signal {
                host: inner.host.clone(),
                cmd: remote::short(cmd),
                signal,
            }),
            Ok(Ended::Closed) => Err(lost(format!(
                "`{}` ended without an exit status",
                remote::short(cmd)
            ))),
            Err(ReadError::Sudo(reason)) => {
                stop(&wr, as_root).await;
                Err(SshError::Sudo {
                    host: inner.host.clone(),
                    user: inner.user.clone(),
                    reason,
                })
            }
            Err(ReadError::Refused) => {
                stop(&wr, as_root).await;
                Err(lost(format!(
                    "the server refused to run `{}`",
                    remote::short(cmd)
                )))
            }
        }
    }
}

/// Closes the channel, first asking the server to signal the command (best effort: the session
/// may already be gone). OpenSSH refuses signals for root logins (and logs an error), so those
/// rely on the host-side `timeout` of `remote::wrap` alone.
async fn stop(wr: &ChannelWriteHalf<client::Msg>, as_root: bool) {
    if !as_root {
        let _ = wr.signal(Sig::TERM).await;
    }
    let _ = wr.eof().await;
    let _ = wr.close().await;
}

/// Last time a byte moved, for idle deadlines.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A reader that records progress, so that a large upload is limited by stalls, not by size.
struct Progress<'a, R> {
    inner: R,
    activity: &'a Activity,
}

impl<R: AsyncRead + Unpin> AsyncRead for Progress<'_, R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

async fn write_stdin(
    wr: &ChannelWriteHalf<client::Msg>,
    stdin: Stdin<'_>,
    behind_sudo: bool,
    ready: oneshot::Receiver<()>,
    activity: &Activity,
) -> Result<(), russh::Error> {
    // Behind sudo, nothing is sent before the root shell announced itself: sudo must not read
    // the caller's data as a password, nor the command the password.
    if behind_sudo && ready.await.is_err() {
        return Ok(());
    }
    match stdin {
        Stdin::Bytes(bytes) => {
            if !bytes.is_empty() {
                wr.data(Progress {
                    inner: bytes,
                    activity,
                })
                .await?;
            }
        }
        Stdin::File(file) => {
            wr.data(Progress {
                inner: file,
                activity,
            })
            .await?
        }
    }
    wr.eof().await
}

enum Ended {
    Status(Output),
    Signal(String),
    Closed,
}

enum ReadError {
    Sudo(String),
    Refused,
}

async fn read_output(
    rd: &mut russh::ChannelReadHalf,
    wr: &ChannelWriteHalf<client::Msg>,
    markers: Option<SudoMarkers>,
    sudo_password: Option<Secret>,
    ready_tx: oneshot::Sender<()>,
    activity: &Activity,
) -> Result<Ended, ReadError> {
    let mut stdout = Capped::new(OUTPUT_CAP, Keep::Head);
    let mut stderr = Capped::new(OUTPUT_CAP, Keep::Tail);
    let mut scanner = markers.map(SudoScanner::new);
    let mut ready_tx = Some(ready_tx);
    let mut prompts = 0;
    let mut status = None;
    let mut signal = None;
    let mut exited_at: Option<Instant> = None;
    loop {
        let msg = match exited_at {
            // A background child may hold the channel open after the command exited.
            Some(at) => {
                match tokio::time::timeout(EXIT_GRACE.saturating_sub(at.elapsed()), rd.wait()).await
                {
                    Ok(msg) => msg,
                    Err(_) => {
                        let _ = wr.close().await;
                        None
                    }
                }
            }
            None => rd.wait().await,
        };
        let Some(msg) = msg else { break };
        activity.touch();
        match msg {
            ChannelMsg::Data { data } => stdout.push(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                let Some(scan) = scanner.as_mut() else {
                    stderr.push(&data);
                    continue;
                };
                for event in scan.feed(&data) {
                    match event {
                        SudoEvent::Prompt => {
                            prompts += 1;
                            let reason = match (&sudo_password, prompts) {
                                (None, _) => Some("it asks for a password and none is known: give --passwd (it is also used for sudo) or allow this user NOPASSWD".to_string()),
                                (Some(_), n) if n > 1 => Some("the password was rejected".to_string()),
                                (Some(p), _) if p.expose().contains(['\n', '\r']) => Some("the password contains a line break, which sudo cannot read".to_string()),
                                (Some(p), _) => {
                                    let mut line = Zeroizing::new(Vec::with_capacity(p.expose().len() + 1));
                                    line.extend_from_slice(p.expose().as_bytes());
                                    line.push(b'\n');
                                    if wr.data(&line[..]).await.is_err() {
                                        Some("the channel closed while sending the password".to_string())
                                    } else {
                                        None
                                    }
                                }
                            };
                            if let Some(reason) = reason {
                                return Err(ReadError::Sudo(reason));
                            }
                        }
                        SudoEvent::Ready { rest } => {
                            stderr.push(&rest);
                            if let Some(tx) = ready_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                    }
                }
                if ready_tx.is_none() {
                    scanner = None;
                }
            }
            ChannelMsg::ExitStatus { exit_status } => {
                status = Some(exit_status);
                exited_at.get_or_insert_with(Instant::now);
            }
            ChannelMsg::ExitSignal { signal_name, .. } => {
                signal = Some(format!("{signal_name:?}"));
                exited_at.get_or_insert_with(Instant::now);
            }
            ChannelMsg::Failure => return Err(ReadError::Refused),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    if let Some(scan) = scanner {
        // sudo never started the command: report why, from what sudo printed.
        return Err(ReadError::Sudo(sudo_failure(status, &scan.before_ready())));
    }
    let (stdout, cut_out) = stdout.finish();
    let (stderr, cut_err) = stderr.finish();
    match (status, signal) {
        (Some(status), _) => Ok(Ended::Status(Output {
            status,
            stdout,
            stderr,
            truncated: cut_out || cut_err,
        })),
        (None, Some(signal)) => Ok(Ended::Signal(signal)),
        (None, None) => Ok(Ended::Closed),
    }
}

/// Why sudo did not run the command, from its exit status and stderr.
fn sudo_failure(status: Option<u32>, stderr: &[u8]) -> String {
    let text = remote::tail_text(stderr, 1000);
    let lower = text.to_lowercase();
    if status == Some(127) && lower.contains("sudo") && lower.contains("not found") {
        return "sudo is not installed: install it or log in as root".into();
    }
    if lower.contains("tty") || lower.contains("terminal is required") {
        return format!("sudo requires a terminal (`Defaults requiretty`?): remove that for this user or log in as root ({text})");
    }
    if text.is_empty() {
        return format!("sudo exited with status {status:?} before running the command");
    }
    text
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

/// What `Auth` needs at hand, loaded before connecting.
enum Credentials {
    Password(Secret),
    Key(Arc<russh::keys::PrivateKey>),
    Agent(AgentClient<tokio::net::UnixStream>),
}

impl Credentials {
    async fn load(auth: &Auth) -> Result<Credentials, SshError> {
        match auth {
            Auth::Password(password) => Ok(Credentials::Password(password.clone())),
            Auth::Key { path, passphrase } => {
                let path_ = path.clone();
                let phrase = passphrase.clone();
                // Decrypting a key runs bcrypt rounds: keep it off the async workers.
                let loaded = tokio::task::spawn_blocking(move || {
                    russh::keys::load_secret_key(&path_, phrase.as_ref().map(|p| p.expose()))
                })
                .await
                .map_err(|e| SshError::Key {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
                let key = loaded.map_err(|e| key_error(path, passphrase.is_some(), e))?;
                Ok(Credentials::Key(Arc::new(key)))
            }
            Auth::Agent { socket } => {
                let agent = match socket {
                    Some(path) => AgentClient::connect_uds(path).await,
                    None => AgentClient::connect_env().await,
                }
                .map_err(|e| SshError::Agent {
                    detail: format!("cannot connect: {e}"),
                })?;
                Ok(Credentials::Agent(agent))
            }
        }
    }
}

async fn authenticate(
    handle: &mut client::Handle<Client>,
    shown: &str,
    cfg: &SshConfig,
    credentials: &mut Credentials,
) -> Result<(), SshError> {
    let user = cfg.user.as_str();
    let rejected = || SshError::Auth {
        host: shown.to_string(),
        user: user.to_string(),
        method: cfg.auth.method(),
    };
    let broken = |e: russh::Error| SshError::Disconnected {
        host: shown.to_string(),
        detail: format!("during authentication: {e}"),
    };
    match credentials {
        Credentials::Password(password) => {
            let result = handle
                .authenticate_password(user, password.expose())
                .await
                .map_err(broken)?;
            match result {
                AuthResult::Success => Ok(()),
                AuthResult::Failure {
                    remaining_methods, ..
                } if remaining_methods.contains(&MethodKind::KeyboardInteractive)
                    && !remaining_methods.contains(&MethodKind::Password) =>
                {
                    // Servers with `PasswordAuthentication no` still take passwords through PAM.
                    keyboard_interactive(handle, user, password)
                        .await
                        .map_err(broken)?
                        .then_some(())
                        .ok_or_else(rejected)
                }
                AuthResult::Failure { .. } => Err(rejected()),
            }
        }
        Credentials::Key(key) => {
            let hash = if key.algorithm().is_rsa() {
                handle
                    .best_supported_rsa_hash()
                    .await
                    .map_err(broken)?
                    .flatten()
            } else {
                None
            };
            let result = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                .await
                .map_err(broken)?;
            result.success().then_some(()).ok_or_else(rejected)
        }
        Credentials::Agent(agent) => {
            let agent_error = |detail: String| SshError::Agent { detail };
            if let Some(binding) = handle.agent_session_binding() {
                // Lets agents use destination-constrained keys; older agents refuse, harmlessly.
                let _ = agent.bind_session(binding, false).await;
            }
            let identities = agent
                .request_identities()
                .await
                .map_err(|e| agent_error(format!("cannot list keys: {e}")))?;
            if identities.is_empty() {
                return Err(agent_error("the agent holds no keys".into()));
            }
            for identity in identities {
                let AgentIdentity::PublicKey { key, .. } = identity else {
                    continue;
                };
                let hash = if key.algorithm().is_rsa() {
                    handle
                        .best_supported_rsa_hash()
                        .await
                        .map_err(broken)?
                        .flatten()
                } else {
                    None
                };
                match handle
                    .authenticate_publickey_with(user, key, hash, agent)
                    .await
                {
                    Ok(AuthResult::Success) => return Ok(()),
                    Ok(AuthResult::Failure { .. }) => {}
                    Err(e) => return Err(agent_error(format!("signing failed: {e}"))),
                }
            }
            Err(rejected())
        }
    }
}

/// Answers every keyboard-interactive prompt with the password; true on success.
async fn keyboard_interactive(
    handle: &mut client::Handle<Client>,
    user: &str,
    password: &Secret,
) -> Result<bool, russh::Error> {
    let mut response = handle
        .authenticate_keyboard_interactive_start(user, None::<String>)
        .await?;
    // A few rounds at most: PAM may send an empty info request before the password prompt.
    for _ in 0..4 {
        match response {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure { .. } => return Ok(false),
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|_| password.expose().to_string())
                    .collect();
                response = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await?;
            }
        }
    }
    Ok(false)
}

fn key_error(path: &Path, had_passphrase: bool, e: russh::keys::Error) -> SshError {
    use russh::keys::Error as K;
    let detail = match e {
        K::KeyIsEncrypted => "the key is encrypted: give its passphrase".to_string(),
        K::IO(io) => format!("cannot read it: {io}"),
        other if had_passphrase => format!("cannot decrypt it (wrong passphrase?): {other}"),
        other => format!("cannot parse it (OpenSSH or PEM private key expected): {other}"),
    };
    SshError::Key {
        path: path.to_path_buf(),
        detail,
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

fn check_remote(remote: &str, mode: u32) -> Result<(), SshError> {
    if !remote.starts_with('/') || remote.ends_with('/') {
        return Err(SshError::Invalid(format!(
            "remote path must be an absolute file path: {remote:?}"
        )));
    }
    if mode > 0o7777 {
        return Err(SshError::Invalid(format!(
            "file mode {mode:o} is not a mode"
        )));
    }
    Ok(())
}

/// SHA-256 of a local file, lower-case hex.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(remote::hex(&hasher.finalize()))
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

    #[test]
    fn remote_paths_and_modes_are_checked() {
        assert!(check_remote("/etc/x", 0o644).is_ok());
        assert!(check_remote("etc/x", 0o644).is_err());
        assert!(check_remote("/etc/", 0o644).is_err());
        assert!(check_remote("/etc/x", 0o10000).is_err());
    }

    #[test]
    fn sudo_failures_are_explained() {
        assert!(sudo_failure(Some(127), b"sh: 1: sudo: not found\n").contains("not installed"));
        assert!(
            sudo_failure(Some(1), b"sudo: sorry, you must have a tty to run sudo\n")
                .contains("requiretty")
        );
        assert_eq!(
            sudo_failure(Some(1), b"alice is not in the sudoers file.\n"),
            "alice is not in the sudoers file."
        );
    }
}
