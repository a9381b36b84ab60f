//! Pure helpers for what runs on the remote side: shell quoting, the root/sudo wrapper, the
//! scanner that tells sudo's password prompt from the command's own output, bounded output
//! buffers and the atomic-write scripts. No I/O here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Most bytes of stdout (and of stderr) kept per command; the rest is dropped and
/// `Output::truncated` is set. Installer commands print little; this only guards memory.
pub const OUTPUT_CAP: usize = 8 << 20;

pub use crate::shell::quote;

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh token that makes markers unique per command (not a secret: it only has to be unlikely
/// to appear in sudo's own messages).
pub fn token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(std::process::id().to_le_bytes());
    h.update(nanos.to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hex(&h.finalize()[..8])
}

/// The two markers of a sudo-wrapped command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SudoMarkers {
    /// What sudo prints (on stderr) when it wants the password: our `-p` prompt.
    pub prompt: String,
    /// What the root shell prints on stderr before the command starts.
    pub ready: String,
}

impl SudoMarkers {
    /// Markers around `token`.
    pub fn new(token: &str) -> Self {
        SudoMarkers {
            prompt: format!("[seal-sudo-{token}]"),
            ready: format!("[seal-ready-{token}]"),
        }
    }
}

/// Seconds between the remote time limit's TERM and its KILL.
pub const KILL_AFTER_SECS: u64 = 5;

/// The command line sent to the server: `cmd` run by `sh` as root.
///
/// As root it is `sh -c CMD`. Otherwise it is `sudo -S -p PROMPT sh -c 'printf READY >&2; CMD'`:
/// sudo reads the password from stdin (never from the command line) and only when it prints
/// PROMPT, and the caller's own stdin is sent only after READY. So the password reaches sudo
/// and nothing else, even when sudo has cached credentials or NOPASSWD and asks for nothing.
///
/// With `limit` (whole seconds), the command runs under coreutils `timeout` when the host has
/// it, so it is stopped on the host too: OpenSSH ignores "signal" requests for root logins,
/// and a closed channel alone leaves a quiet command running.
///
/// With `tied` as well, the caller sends nothing on stdin and keeps it open: the command gets
/// /dev/null, and a watcher that waits for end-of-file on the channel's stdin stops the
/// command's whole process group (timeout's) when it comes first. sshd closes that pipe when the
/// connection ends, so an operator's Ctrl-C, a killed installer or a cut connection never leaves
/// a `kubeadm join` running on the host behind a re-run.
pub fn wrap(cmd: &str, sudo: Option<&SudoMarkers>, limit: Option<u64>, tied: bool) -> String {
    let body = match (limit, tied) {
        (None, _) => cmd.to_string(),
        (Some(secs), false) => format!(
            "if command -v timeout >/dev/null 2>&1; then exec timeout -k {KILL_AFTER_SECS} {secs} sh -c {}; fi\n{cmd}",
            quote(cmd)
        ),
        // An asynchronous list gets /dev/null as stdin unless redirected, hence fd 3.
        (Some(secs), true) => format!(
            "if command -v timeout >/dev/null 2>&1; then\n\
             exec 3<&0\n\
             timeout -k {KILL_AFTER_SECS} {secs} sh -c {} </dev/null & c=$!\n\
             (while read -r _; do :; done <&3; kill -TERM $c) >/dev/null 2>&1 & w=$!\n\
             exec 3<&-\n\
             wait $c; s=$?\n\
             kill $w 2>/dev/null\n\
             exit $s\n\
             fi\n\
             {{ {cmd}\n}} </dev/null",
            quote(cmd)
        ),
    };
    match sudo {
        None => format!("sh -c {}", quote(&body)),
        Some(m) => {
            let script = format!("printf '%s' {} >&2\n{body}", quote(&m.ready));
            format!("sudo -S -p {} sh -c {}", quote(&m.prompt), quote(&script))
        }
    }
}

/// What the scanner found in sudo's stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SudoEvent {
    /// sudo asks for the password.
    Prompt,
    /// The command started; `rest` is the command's own stderr that came with the marker.
    Ready {
        /// Bytes after the marker.
        rest: Vec<u8>,
    },
}

/// Finds the prompt and ready markers in stderr as it arrives in arbitrary chunks.
#[derive(Debug)]
pub struct SudoScanner {
    markers: SudoMarkers,
    pending: Vec<u8>,
    before: Capped,
}

impl SudoScanner {
    /// A scanner for `markers`.
    pub fn new(markers: SudoMarkers) -> Self {
        SudoScanner {
            markers,
            pending: Vec::new(),
            before: Capped::new(64 << 10, Keep::Tail),
        }
    }

    /// Feeds stderr bytes received before the ready marker; returns the markers found, in order.
    /// After `Ready` the caller stops feeding (everything later is the command's).
    pub fn feed(&mut self, data: &[u8]) -> Vec<SudoEvent> {
        self.pending.extend_from_slice(data);
        let mut events = Vec::new();
        loop {
            let prompt = find(&self.pending, self.markers.prompt.as_bytes());
            let ready = find(&self.pending, self.markers.ready.as_bytes());
            let prompt_first = match (prompt, ready) {
                (Some(p), Some(r)) => Some(p < r),
                (Some(_), None) => Some(true),
                (None, Some(_)) => Some(false),
                (None, None) => None,
            };
            match (prompt_first, prompt, ready) {
                (Some(true), Some(p), _) => {
                    self.before.push(&self.pending[..p]);
                    self.pending.drain(..p + self.markers.prompt.len());
                    events.push(SudoEvent::Prompt);
                }
                (Some(false), _, Some(r)) => {
                    self.before.push(&self.pending[..r]);
                    let rest = self.pending.split_off(r + self.markers.ready.len());
                    self.pending.clear();
                    events.push(SudoEvent::Ready { rest });
                    return events;
                }
                _ => {
                    // No marker yet: keep a possible start of one for the next chunk.
                    let longest = self.markers.prompt.len().max(self.markers.ready.len());
                    let keep = longest.saturating_sub(1).min(self.pending.len());
                    let cut = self.pending.len() - keep;
                    self.before.push(&self.pending[..cut]);
                    self.pending.drain(..cut);
                    return events;
                }
            }
        }
    }

    /// What sudo printed before the command started (its errors, "Sorry, try again."...),
    /// without the markers.
    pub fn before_ready(&self) -> Vec<u8> {
        let mut all = self.before.data.clone();
        all.extend_from_slice(&self.pending);
        all
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Which end of an over-long output is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The beginning (stdout: what a parser reads first).
    Head,
    /// The end (stderr: where the error usually is).
    Tail,
}

/// A byte buffer that keeps at most `cap` bytes.
#[derive(Debug)]
pub struct Capped {
    data: Vec<u8>,
    cap: usize,
    keep: Keep,
    truncated: bool,
}

impl Capped {
    /// An empty buffer.
    pub fn new(cap: usize, keep: Keep) -> Self {
        Capped {
            data: Vec::new(),
            cap,
            keep,
            truncated: false,
        }
    }

    /// Appends, dropping what exceeds the cap.
    pub fn push(&mut self, bytes: &[u8]) {
        match self.keep {
            Keep::Head => {
                let room = self.cap.saturating_sub(self.data.len());
                if bytes.len() > room {
                    self.truncated = true;
                }
                self.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            Keep::Tail => {
                self.data.extend_from_slice(bytes);
                // Trim only past twice the cap so the cost of trimming stays linear.
                if self.data.len() > 2 * self.cap.max(1) {
                    self.trim_tail();
                }
            }
        }
    }

    fn trim_tail(&mut self) {
        if self.data.len() > self.cap {
            let excess = self.data.len() - self.cap;
            self.data.drain(..excess);
            self.truncated = true;
        }
    }

    /// The kept bytes and whether anything was dropped.
    pub fn finish(mut self) -> (Vec<u8>, bool) {
        if self.keep == Keep::Tail {
            self.trim_tail();
        }
        (self.data, self.truncated)
    }
}

/// The last `max` bytes of `bytes` as trimmed text (lossy UTF-8), for error messages.
pub fn tail_text(bytes: &[u8], max: usize) -> String {
    let start = bytes.len().saturating_sub(max);
    let text = String::from_utf8_lossy(&bytes[start..]);
    text.trim().to_string()
}

/// A command shortened to its first line and at most 120 characters, for error messages.
pub fn short(cmd: &str) -> String {
    let first = cmd.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(120).collect();
    if out.len() < cmd.trim_end().len() {
        out.push_str(" …");
    }
    out
}

/// Exit status of the upload script when the bytes that arrived do not have the expected sha256.
pub const CHECKSUM_MISMATCH: u32 = 86;

/// A script that prints `same` when `dest` already holds content with sha256 `sum` (and then
/// only fixes its mode), and nothing otherwise.
pub fn same_file_script(dest: &str, sum: &str, mode: u32) -> String {
    let d = quote(dest);
    format!(
        "if [ -f {d} ] && [ \"$(sha256sum < {d} | cut -c1-64)\" = {sum} ]; then chmod {mode:o} {d} && echo same; fi"
    )
}

/// A script that writes stdin to `dest` atomically: into a fresh temp file next to it (mktemp:
/// never follows a planted name), checks the sha256 of what arrived, sets the mode, flushes it
/// to disk, renames. A failed or interrupted transfer leaves `dest` untouched and no temp file
/// behind: also when the connection is gone, where saying why on the closed stderr would
/// otherwise raise SIGPIPE and end the shell before its EXIT trap. A host that loses power runs
/// no trap: its temp file (named after `dest`) goes with the next write of `dest`, and the flush
/// before the rename means the power loss leaves the old or the new file, never an empty one.
pub fn atomic_write_script(dest: &str, sum: &str, mode: u32) -> String {
    let d = quote(dest);
    format!(
        "set -e\n\
         dest={d}\n\
         dir=$(dirname -- \"$dest\")\n\
         if [ -d \"$dest\" ]; then echo \"$dest is a directory\" >&2; exit 1; fi\n\
         mkdir -p -- \"$dir\"\n\
         base=$(basename -- \"$dest\")\n\
         rm -f -- \"$dir/.seal-tmp.$base\".??????\n\
         tmp=$(mktemp \"$dir/.seal-tmp.$base.XXXXXX\")\n\
         trap 'rm -f -- \"$tmp\"' EXIT\n\
         trap 'exit 1' HUP INT TERM PIPE\n\
         cat > \"$tmp\"\n\
         got=$(sha256sum < \"$tmp\" | cut -c1-64)\n\
         if [ \"$got\" != {sum} ]; then echo \"checksum mismatch after transfer: got $got\" >&2; exit {CHECKSUM_MISMATCH}; fi\n\
         chmod {mode:o} \"$tmp\"\n\
         sync -- \"$tmp\" 2>/dev/null || sync\n\
         mv -f -- \"$tmp\" \"$dest\"\n\
         trap - EXIT\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> (String, i32) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    }

    #[test]
    fn quote_round_trips_through_sh() {
        for s in ["plain", "it's", "a b", "$HOME `x` \\ \"q\"", "'", "", "\n;"] {
            let (out, code) = sh(&format!("printf '%s' {}", quote(s)));
            assert_eq!((out.as_str(), code), (s, 0), "{s:?}");
        }
    }

    #[test]
    fn root_wrap_runs_the_command_in_sh() {
        let cmd = "echo \"it's $((1+2))\"; exit 4";
        let (out, code) = sh(&wrap(cmd, None, None, false));
        assert_eq!(out, "it's 3\n");
        assert_eq!(code, 4);
    }

    #[test]
    fn sudo_wrap_puts_no_password_and_both_markers() {
        let m = SudoMarkers::new("abc");
        let line = wrap("id -u", Some(&m), None, false);
        assert!(
            line.starts_with("sudo -S -p '[seal-sudo-abc]' sh -c "),
            "{line}"
        );
        // The inner script prints the ready marker, then runs the command.
        let inner = line.split_once(" sh -c ").unwrap().1;
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("sh -c {inner}"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stderr), "[seal-ready-abc]");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            sh("id -u").0.trim()
        );
    }

    #[test]
    fn limit_stops_the_command_on_the_host() {
        // Under a 1 s limit a long sleep ends with timeout's status 124, well before 30 s.
        let started = std::time::Instant::now();
        let (_, code) = sh(&wrap("sleep 30; echo never", None, Some(1), false));
        assert_eq!(code, 124);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        // Quick commands are unaffected, quoting included.
        let (out, code) = sh(&wrap("echo \"it's\"; exit 3", None, Some(10), false));
        assert_eq!((out.as_str(), code), ("it's\n", 3));
    }

    /// Starts a tied command with stdin a pipe that the caller holds (the channel).
    fn tied(cmd: &str) -> std::process::Child {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(wrap(cmd, None, Some(60), true))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    #[test]
    fn tied_command_runs_while_stdin_stays_open() {
        let mut child = tied("read x || echo \"stdin is empty\"; echo \"it's\"; exit 3");
        let _channel = child.stdin.take();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "stdin is empty\nit's\n"
        );
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn tied_command_and_its_children_stop_when_stdin_closes() {
        let dir = std::env::temp_dir().join(format!("seal-tied-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pids = dir.join("pids");
        let mut child = tied(&format!(
            "sleep 300 & echo $! > {p}; echo $$ >> {p}; wait",
            p = quote(pids.to_str().unwrap())
        ));
        let started = std::time::Instant::now();
        while std::fs::read_to_string(&pids).map_or(true, |t| t.lines().count() < 2) {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The connection is gone: sshd closes the command's stdin.
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        // The signal is delivered to the group as timeout exits: allow the members a moment.
        for pid in std::fs::read_to_string(&pids).unwrap().lines() {
            let gone = || {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let state = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .next();
                matches!(state, None | Some("Z"))
            };
            let since = std::time::Instant::now();
            while !gone() {
                assert!(
                    since.elapsed() < std::time::Duration::from_secs(10),
                    "{pid} still runs"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn scanner_finds_markers_split_across_chunks() {
        let m = SudoMarkers::new("t0");
        let stream = b"We trust you have received the usual lecture\n[seal-sudo-t0]Sorry, try again.\n[seal-sudo-t0][seal-ready-t0]own stderr";
        for chunk in [1usize, 2, 3, 7, 1000] {
            let mut s = SudoScanner::new(m.clone());
            let mut events = Vec::new();
            for piece in stream.chunks(chunk) {
                if matches!(events.last(), Some(SudoEvent::Ready { .. })) {
                    // After Ready the caller passes bytes straight through.
                    if let Some(SudoEvent::Ready { rest }) = events.last_mut() {
                        rest.extend_from_slice(piece);
                    }
                    continue;
                }
                events.extend(s.feed(piece));
            }
            assert_eq!(
                events,
                vec![
                    SudoEvent::Prompt,
                    SudoEvent::Prompt,
                    SudoEvent::Ready {
                        rest: b"own stderr".to_vec()
                    }
                ],
                "chunk {chunk}"
            );
            assert_eq!(
                String::from_utf8_lossy(&s.before_ready()),
                "We trust you have received the usual lecture\nSorry, try again.\n"
            );
        }
    }

    #[test]
    fn scanner_keeps_sudo_errors_without_markers() {
        let mut s = SudoScanner::new(SudoMarkers::new("t1"));
        assert!(s.feed(b"alice is not in the sudoers file.\n").is_empty());
        assert_eq!(s.before_ready(), b"alice is not in the sudoers file.\n");
    }

    #[test]
    fn capped_keeps_head_or_tail() {
        let mut head = Capped::new(4, Keep::Head);
        head.push(b"abc");
        head.push(b"defg");
        assert_eq!(head.finish(), (b"abcd".to_vec(), true));
        let mut tail = Capped::new(4, Keep::Tail);
        for _ in 0..10 {
            tail.push(b"xyz");
        }
        tail.push(b"end");
        assert_eq!(tail.finish(), (b"zend".to_vec(), true));
        let mut small = Capped::new(4, Keep::Tail);
        small.push(b"ok");
        assert_eq!(small.finish(), (b"ok".to_vec(), false));
    }

    #[test]
    fn short_and_tail() {
        assert_eq!(short("echo hi"), "echo hi");
        assert_eq!(short("a\nb"), "a …");
        assert_eq!(tail_text(b"  line1\nline2\n", 6), "line2");
    }

    #[test]
    fn atomic_write_and_skip_scripts_work_in_sh() {
        let dir = std::env::temp_dir().join(format!("seal-remote-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dest = dir.join("a dir").join("it's.txt");
        let dest = dest.to_str().unwrap();
        let data = b"hello\n";
        let sum = hex(&Sha256::digest(data));
        let run = |script: String, input: &[u8]| {
            use std::io::Write;
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(input).unwrap();
            let out = child.wait_with_output().unwrap();
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                out.status.code(),
            )
        };
        assert_eq!(
            run(same_file_script(dest, &sum, 0o640), b""),
            (String::new(), Some(0))
        );
        // Wrong bytes: refused, destination untouched, no temp file left.
        assert_eq!(
            run(atomic_write_script(dest, &sum, 0o640), b"HELLO\n").1,
            Some(CHECKSUM_MISMATCH as i32)
        );
        assert!(!std::path::Path::new(dest).exists());
        assert_eq!(std::fs::read_dir(dir.join("a dir")).unwrap().count(), 0);
        // The connection dies mid-transfer: part of the data, then end-of-file, with stdout
        // and stderr already closed (sshd gone). Still no temp file, destination untouched.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(atomic_write_script(dest, &sum, 0o640))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        drop(child.stderr.take());
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"hel").unwrap();
        }
        assert!(!child.wait().unwrap().success());
        assert!(!std::path::Path::new(dest).exists());
        assert_eq!(std::fs::read_dir(dir.join("a dir")).unwrap().count(), 0);
        assert_eq!(run(atomic_write_script(dest, &sum, 0o640), data).1, Some(0));
        assert_eq!(std::fs::read(dest).unwrap(), data);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dest).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            run(same_file_script(dest, &sum, 0o600), b""),
            ("same\n".to_string(), Some(0))
        );
        let mode = std::fs::metadata(dest).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.join("a dir")).unwrap().count(), 1);
        // A temp file left by a host that lost power mid-write goes with the next write of
        // that file; another file's stays.
        let stale = dir.join("a dir").join(".seal-tmp.it's.txt.AbC123");
        let other = dir.join("a dir").join(".seal-tmp.other.txt.AbC123");
        std::fs::write(&stale, b"hel").unwrap();
        std::fs::write(&other, b"x").unwrap();
        assert_eq!(run(atomic_write_script(dest, &sum, 0o640), data).1, Some(0));
        assert!(!stale.exists() && other.exists());
        assert_eq!(std::fs::read(dest).unwrap(), data);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
