//! Trust-on-first-use host keys in an OpenSSH-format known_hosts file.
//!
//! The matching logic is pure (`check` over the file's text) so it can be tested without a
//! server; `verify_or_learn` is the thin I/O edge that reads the file and appends new hosts.
//! Supported: plain and `[host]:port` patterns, comma lists, `*`/`?` wildcards, `!` negation,
//! hashed `|1|salt|hash` entries, `@revoked`; `@cert-authority` lines are ignored (host
//! certificates are not accepted).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::PublicKey;
use russh::keys::PublicKeyBase64;
use sha1::Sha1;

/// What the file says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this host holds exactly this key.
    Known,
    /// No line names this host.
    Unknown,
    /// Lines name this host but none holds this key; `line` (1-based) is the first of them.
    Changed {
        /// The line to remove if the host really was reinstalled.
        line: usize,
    },
    /// The key is listed under `@revoked` at `line` (1-based).
    Revoked {
        /// The `@revoked` line.
        line: usize,
    },
}

/// The outcome of a successful check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The key was already in the file.
    Known,
    /// The host was unknown; its key is now appended to the file.
    Learned,
}

/// Why a host key is not accepted, or the file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    /// The host presents a different key than the one on `line`.
    #[error("host key differs from line {line}")]
    Changed {
        /// 1-based line number.
        line: usize,
    },
    /// The host's key is marked `@revoked`.
    #[error("host key is revoked at line {line}")]
    Revoked {
        /// 1-based line number.
        line: usize,
    },
    /// Reading or appending the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The known_hosts file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The name a host is looked up (and written) under: `host` on port 22, `[host]:port` otherwise.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The line (without newline) recorded for a newly trusted host.
pub fn entry(host: &str, port: u16, key: &PublicKey) -> String {
    format!(
        "{} {} {}",
        host_pattern(host, port),
        key.algorithm().as_str(),
        key.public_key_base64()
    )
}

/// One parsed, non-comment line.
struct Line<'a> {
    number: usize,
    marker: Option<&'a str>,
    hosts: &'a str,
    key_type: &'a str,
    key_base64: &'a str,
}

fn lines(contents: &str) -> impl Iterator<Item = Line<'_>> {
    contents.lines().enumerate().filter_map(|(i, raw)| {
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            return None;
        }
        let mut fields = text.split_whitespace();
        let first = fields.next()?;
        let (marker, hosts) = if first.starts_with('@') {
            (Some(first), fields.next()?)
        } else {
            (None, first)
        };
        Some(Line {
            number: i + 1,
            marker,
            hosts,
            key_type: fields.next()?,
            key_base64: fields.next()?,
        })
    })
}

/// Whether `name` (as built by `host_pattern`) matches a line's host field.
fn hosts_match(field: &str, name: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        return hashed_match(hashed, name);
    }
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), name.as_bytes()) {
                // A negated match excludes the host whatever else matches.
                return false;
            }
        } else if glob(pattern.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as written by `HashKnownHosts yes`.
fn hashed_match(rest: &str, name: &str) -> bool {
    let Some((salt, hash)) = rest.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (
        BASE64.decode(salt.as_bytes()),
        BASE64.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Case-insensitive glob with `*` and `?` (OpenSSH's host pattern syntax).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => match text.split_first() {
            Some((t, text_rest)) => c.eq_ignore_ascii_case(t) && glob(rest, text_rest),
            None => false,
        },
    }
}

fn same_key(line: &Line<'_>, key: &PublicKey) -> bool {
    // Compare the decoded key blobs, not the text: base64 may be formatted differently.
    match russh::keys::parse_public_key_base64(line.key_base64) {
        Ok(known) => known.key_data() == key.key_data(),
        Err(_) => false,
    }
}

/// Checks `key` for `host:port` against the text of a known_hosts file.
pub fn check(contents: &str, host: &str, port: u16, key: &PublicKey) -> Verdict {
    let name = host_pattern(host, port);
    let mut first_other = None;
    for line in lines(contents).filter(|l| hosts_match(l.hosts, &name)) {
        match line.marker {
            Some("@revoked") if same_key(&line, key) => {
                return Verdict::Revoked { line: line.number }
            }
            Some(_) => {}
            None if same_key(&line, key) => return Verdict::Known,
            None => {
                first_other.get_or_insert(line.number);
            }
        }
    }
    match first_other {
        Some(line) => Verdict::Changed { line },
        None => Verdict::Unknown,
    }
}

/// Key types (`ssh-ed25519`, `ssh-rsa`...) the file holds for `host:port`, in file order: the
/// client prefers these so that a host with several keys presents one that can be checked.
pub fn known_key_types(contents: &str, host: &str, port: u16) -> Vec<String> {
    let name = host_pattern(host, port);
    let mut types: Vec<String> = Vec::new();
    for line in lines(contents) {
        if line.marker.is_none()
            && hosts_match(line.hosts, &name)
            && !types.iter().any(|t| t == line.key_type)
        {
            types.push(line.key_type.to_string());
        }
    }
    types
}

/// Reads a known_hosts file; a missing file is an empty one.
pub fn read(path: &Path) -> Result<String, KnownHostsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(KnownHostsError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Serialises check-then-append between sessions of this process connecting in parallel, so a
/// host is not recorded twice and lines never interleave.
static FILE_LOCK: Mutex<()> = Mutex::new(());

/// Accepts a known key, records an unknown one (trust on first use), refuses a changed one.
pub fn verify_or_learn(
    path: &Path,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<Trust, KnownHostsError> {
    let _guard = FILE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let contents = read(path)?;
    match check(&contents, host, port, key) {
        Verdict::Known => Ok(Trust::Known),
        Verdict::Changed { line } => Err(KnownHostsError::Changed { line }),
        Verdict::Revoked { line } => Err(KnownHostsError::Revoked { line }),
        Verdict::Unknown => {
            let mut text = String::new();
            if !contents.is_empty() && !contents.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&entry(host, port, key));
            text.push('\n');
            append(path, &text).map_err(|source| KnownHostsError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            Ok(Trust::Learned)
        }
    }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    // One write of the whole line: O_APPEND keeps it intact even if another process appends.
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const ED_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).unwrap()
    }

    #[test]
    fn patterns_for_default_and_other_ports() {
        assert_eq!(host_pattern("192.168.0.2", 22), "192.168.0.2");
        assert_eq!(host_pattern("192.168.0.2", 2222), "[192.168.0.2]:2222");
        assert_eq!(host_pattern("fd00::1", 2222), "[fd00::1]:2222");
        assert_eq!(
            entry("10.0.0.1", 22, &key(ED_A)),
            format!("10.0.0.1 ssh-ed25519 {ED_A}")
        );
    }

    #[test]
    fn unknown_known_and_changed() {
        let file = format!(
            "# comment\n\n10.0.0.9 ssh-ed25519 {ED_B}\n[10.0.0.1]:2222 ssh-ed25519 {ED_A}\n10.0.0.1 ssh-ed25519 {ED_A}\n"
        );
        assert_eq!(check(&file, "10.0.0.1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(check(&file, "10.0.0.1", 2222, &key(ED_A)), Verdict::Known);
        assert_eq!(check(&file, "10.0.0.2", 22, &key(ED_A)), Verdict::Unknown);
        // The port is part of the identity: 10.0.0.1:2200 is another host.
        assert_eq!(check(&file, "10.0.0.1", 2200, &key(ED_A)), Verdict::Unknown);
        assert_eq!(
            check(&file, "10.0.0.1", 22, &key(ED_B)),
            Verdict::Changed { line: 5 }
        );
        assert_eq!(
            check(&file, "10.0.0.9", 22, &key(ED_A)),
            Verdict::Changed { line: 3 }
        );
    }

    #[test]
    fn lists_wildcards_and_negation() {
        let file = format!("web1,10.0.0.*,!10.0.0.7 ssh-ed25519 {ED_A}\n");
        assert_eq!(check(&file, "10.0.0.3", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(check(&file, "WEB1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(check(&file, "10.0.0.7", 22, &key(ED_A)), Verdict::Unknown);
        assert_eq!(
            check(&file, "10.0.0.3", 22, &key(ED_B)),
            Verdict::Changed { line: 1 }
        );
        assert!(glob(b"a?c*", b"abcdef"));
        assert!(!glob(b"a?c", b"ac"));
    }

    #[test]
    fn hashed_entries() {
        // Written by `ssh-keygen -H` from "10.0.0.1 ..." and "[10.0.0.1]:2222 ..." lines.
        let file = format!(
            "|1|erLuNGB2lOODNl+AEKeTSIxtYhU=|2jhTSCRVbd/HvZCpopiqDtczgn8= ssh-ed25519 {ED_A}\n\
             |1|zmlM/XTNaAsbuSnFBR+H/sqkL68=|T8ci/W/wlyCQXiHMxp48HeiE1iw= ssh-ed25519 {ED_A}\n"
        );
        assert_eq!(check(&file, "10.0.0.1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(check(&file, "10.0.0.1", 2222, &key(ED_A)), Verdict::Known);
        assert_eq!(
            check(&file, "10.0.0.1", 22, &key(ED_B)),
            Verdict::Changed { line: 1 }
        );
        assert_eq!(
            check(&file, "10.0.0.1", 2222, &key(ED_B)),
            Verdict::Changed { line: 2 }
        );
        assert_eq!(check(&file, "10.0.0.2", 22, &key(ED_A)), Verdict::Unknown);
    }

    #[test]
    fn markers() {
        let file =
            format!("@cert-authority * ssh-ed25519 {ED_B}\n@revoked 10.0.0.1 ssh-ed25519 {ED_B}\n");
        assert_eq!(check(&file, "10.0.0.2", 22, &key(ED_B)), Verdict::Unknown);
        assert_eq!(
            check(&file, "10.0.0.1", 22, &key(ED_B)),
            Verdict::Revoked { line: 2 }
        );
        assert_eq!(check(&file, "10.0.0.1", 22, &key(ED_A)), Verdict::Unknown);
    }

    #[test]
    fn known_types_in_file_order() {
        let file = format!(
            "10.0.0.1 ecdsa-sha2-nistp256 AAAA\n10.0.0.1 ssh-ed25519 {ED_A}\n10.0.0.2 ssh-rsa AAAA\n"
        );
        assert_eq!(
            known_key_types(&file, "10.0.0.1", 22),
            vec!["ecdsa-sha2-nistp256".to_string(), "ssh-ed25519".to_string()]
        );
    }

    #[test]
    fn learn_then_known_then_changed() {
        let dir = std::env::temp_dir().join(format!("seal-kh-{}", std::process::id()));
        let path = dir.join("sub").join("known_hosts");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            verify_or_learn(&path, "10.0.0.1", 22, &key(ED_A)).unwrap(),
            Trust::Learned
        );
        assert_eq!(
            verify_or_learn(&path, "10.0.0.1", 22, &key(ED_A)).unwrap(),
            Trust::Known
        );
        assert_eq!(
            verify_or_learn(&path, "10.0.0.2", 22, &key(ED_B)).unwrap(),
            Trust::Learned
        );
        assert!(matches!(
            verify_or_learn(&path, "10.0.0.1", 22, &key(ED_B)),
            Err(KnownHostsError::Changed { line: 1 })
        ));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
