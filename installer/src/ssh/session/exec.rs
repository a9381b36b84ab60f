//! Running a command on a channel of the session: as root (through sudo for other users, the
//! password fed only on sudo's prompt), stdin streamed, output capped, and a deadline (total or
//! idle) that stops the command on the host too.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use russh::client;
use russh::{ChannelMsg, ChannelWriteHalf, Sig};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use super::handle::Session;
use crate::ssh::remote::{self, Capped, Keep, SudoEvent, SudoMarkers, SudoScanner, OUTPUT_CAP};
use crate::ssh::{Output, Secret, SshError};

/// After the exit status arrives, how long to wait for the rest of the output when a
/// background process keeps the channel open.
const EXIT_GRACE: Duration = Duration::from_secs(3);
/// How often deadlines are checked.
const TICK: Duration = Duration::from_millis(200);

/// What a command reads on stdin.
pub(super) enum Stdin<'a> {
    Bytes(&'a [u8]),
    File(tokio::fs::File),
}

/// When a command is given up on.
#[derive(Clone, Copy)]
pub(super) enum Deadline {
    /// A fixed time limit from the start.
    Total(Duration),
    /// No byte moved in either direction for this long.
    Idle(Duration),
}

impl Session {
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

    pub(super) async fn exec_inner(
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
        // A command that reads nothing is tied to the channel (see `remote::wrap`): its stdin
        // stays open, and its end-of-file means the connection is gone.
        let tied = host_limit.is_some() && matches!(&stdin, Stdin::Bytes(b) if b.is_empty());
        let line = remote::wrap(cmd, markers.as_ref(), host_limit, tied);
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
        let writer = write_stdin(&wr, stdin, !tied, markers.is_some(), ready_rx, &activity);
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

/// Sends `stdin`, then end-of-file when `eof` (a tied command's stdin stays open).
async fn write_stdin(
    wr: &ChannelWriteHalf<client::Msg>,
    stdin: Stdin<'_>,
    eof: bool,
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
    if eof {
        wr.eof().await?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
