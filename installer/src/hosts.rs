//! `/etc/hosts` edits confined to one marked block; user lines are never touched.
//!
//! A new block goes at the *top* of the file, for two reasons: the resolver takes the first
//! match, so the installer's `apiserver.cluster.local` wins over a stale line left by an older
//! tool; and removing a prepended block gives back the original bytes exactly, whatever the file
//! ended with (no newline had to be added before the block, so none has to be guessed away).
//! An existing block is rewritten where it stands (the user may have moved it).
//!
//! Writing the result on a host is [`write_script`]: temp file in the same directory, mode and
//! owner copied, rename over; it refuses if the file changed since it was read.

use std::net::IpAddr;

use crate::shell::sh_quote;

/// First line of the managed block.
pub const BEGIN: &str = "# BEGIN seal-install managed block";
/// Last line of the managed block.
pub const END: &str = "# END seal-install managed block";

/// Whether `name` can stand in a hosts line (no spaces, comments or line breaks sneak in).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// Byte ranges of the managed blocks: a BEGIN line through the next END line, newline included.
fn blocks(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n').trim_end_matches('\r');
        match start {
            None if bare == BEGIN => start = Some(pos),
            Some(s) if bare == END => {
                out.push(s..pos + line.len());
                start = None;
            }
            _ => {}
        }
        pos += line.len();
    }
    out
}

/// Entries with valid names, in order, each once.
fn clean_entries(entries: &[(IpAddr, String)]) -> Vec<(IpAddr, String)> {
    let mut out: Vec<(IpAddr, String)> = Vec::new();
    for (ip, name) in entries {
        if valid_name(name) && !out.iter().any(|(i, n)| i == ip && n == name) {
            out.push((*ip, name.clone()));
        }
    }
    out
}

/// The managed block for `entries`, ending with a newline.
pub fn block(entries: &[(IpAddr, String)]) -> String {
    let mut s = format!("{BEGIN}\n");
    for (ip, name) in clean_entries(entries) {
        s.push_str(&format!("{ip} {name}\n"));
    }
    s.push_str(END);
    s.push('\n');
    s
}

/// `current` with the managed block holding exactly `entries` (none: the block is removed).
///
/// Entries whose name fails [`valid_name`] are left out, so the file can never gain a stray line.
pub fn apply(current: &str, entries: &[(IpAddr, String)]) -> String {
    let entries = clean_entries(entries);
    if entries.is_empty() {
        return remove(current);
    }
    let new_block = block(&entries);
    let found = blocks(current);
    let Some(first) = found.first().cloned() else {
        return format!("{new_block}{current}");
    };
    let mut out = String::with_capacity(current.len() + new_block.len());
    out.push_str(&current[..first.start]);
    if current[..first.end].ends_with('\n') {
        out.push_str(&new_block);
    } else {
        // The old block closed the file without a newline: keep it that way.
        out.push_str(new_block.trim_end_matches('\n'));
    }
    let mut pos = first.end;
    for b in &found[1..] {
        out.push_str(&current[pos..b.start]);
        pos = b.end;
    }
    out.push_str(&current[pos..]);
    out
}

/// `current` without any managed block, every other byte as it was.
pub fn remove(current: &str) -> String {
    let mut out = String::with_capacity(current.len());
    let mut pos = 0;
    for b in blocks(current) {
        out.push_str(&current[pos..b.start]);
        pos = b.end;
    }
    out.push_str(&current[pos..]);
    out
}

/// The entries of the first managed block (for dry runs and checks).
pub fn entries(current: &str) -> Vec<(IpAddr, String)> {
    let Some(b) = blocks(current).into_iter().next() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in current[b].lines() {
        let mut words = line.split_whitespace();
        if let (Some(ip), Some(name)) = (words.next(), words.next()) {
            if let Ok(ip) = ip.parse::<IpAddr>() {
                out.push((ip, name.to_string()));
            }
        }
    }
    out
}

/// User lines (1-based numbers) outside the block that also map one of `names`: worth a warning,
/// since other tools on the host may read the file differently than the resolver.
pub fn other_lines_for(current: &str, names: &[&str]) -> Vec<(usize, String)> {
    let inside = blocks(current);
    let mut out = Vec::new();
    let mut pos = 0;
    for (n, line) in current.split_inclusive('\n').enumerate() {
        let here = pos;
        pos += line.len();
        if inside.iter().any(|b| b.contains(&here)) {
            continue;
        }
        let content = line.split('#').next().unwrap_or_default();
        let mut words = content.split_whitespace();
        if words.next().is_some() && words.any(|w| names.contains(&w)) {
            out.push((n + 1, line.trim_end().to_string()));
        }
    }
    out
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Exit status of [`write_script`] when the file changed after `old` was read.
pub const CHANGED_MEANWHILE: i32 = 3;

/// A POSIX shell script that replaces `path` (normally /etc/hosts) with `new` atomically.
///
/// It follows a symlink to the real file, refuses with exit [`CHANGED_MEANWHILE`] when the file
/// no longer holds `old` (read again and retry), writes a temp file in the same directory, copies
/// mode, owner and SELinux context, and renames it over. Where rename is impossible because the
/// file is a bind mount (containers), it falls back to rewriting it in place. The temp file is
/// flushed to disk before the rename (a power loss leaves the old or the new file, never an
/// empty one), and one left by a host that lost power goes with the next edit.
pub fn write_script(path: &str, old: &str, new: &str) -> String {
    let p = sh_quote(path);
    format!(
        "set -eu\n\
         target=$(readlink -f -- {p} 2>/dev/null || echo {p})\n\
         cur=$({{ cat -- \"$target\" 2>/dev/null || true; }} | sha256sum | cut -d' ' -f1)\n\
         if [ \"$cur\" != {old_sum} ]; then echo \"seal-install: $target changed while being edited; run again\" >&2; exit {CHANGED_MEANWHILE}; fi\n\
         rm -f -- \"$(dirname -- \"$target\")\"/.hosts.seal-install.??????\n\
         tmp=$(mktemp \"$(dirname -- \"$target\")/.hosts.seal-install.XXXXXX\")\n\
         trap 'rm -f -- \"$tmp\"' EXIT\n\
         printf '%s' {data} > \"$tmp\"\n\
         chmod --reference=\"$target\" -- \"$tmp\" 2>/dev/null || chmod 0644 -- \"$tmp\"\n\
         chown --reference=\"$target\" -- \"$tmp\" 2>/dev/null || true\n\
         if command -v chcon >/dev/null 2>&1; then chcon --reference=\"$target\" -- \"$tmp\" 2>/dev/null || true; fi\n\
         sync -- \"$tmp\" 2>/dev/null || sync\n\
         if ! mv -f -- \"$tmp\" \"$target\" 2>/dev/null; then cat -- \"$tmp\" > \"$target\"; fi\n",
        old_sum = sha256_hex(old),
        data = sh_quote(new),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(ip: &str, name: &str) -> (IpAddr, String) {
        (ip.parse().expect("ip"), name.to_string())
    }

    const DEBIAN: &str = "127.0.0.1\tlocalhost\n127.0.1.1\thost1\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\n";

    #[test]
    fn adds_a_block_on_top_and_removes_it_exactly() {
        let out = apply(DEBIAN, &[e("192.168.0.2", "apiserver.cluster.local")]);
        assert_eq!(
            out,
            format!("{BEGIN}\n192.168.0.2 apiserver.cluster.local\n{END}\n{DEBIAN}")
        );
        assert_eq!(remove(&out), DEBIAN);
        assert_eq!(entries(&out), [e("192.168.0.2", "apiserver.cluster.local")]);
    }

    #[test]
    fn rerun_and_retarget_never_duplicate() {
        let once = apply(DEBIAN, &[e("192.168.0.2", "apiserver.cluster.local")]);
        assert_eq!(
            apply(&once, &[e("192.168.0.2", "apiserver.cluster.local")]),
            once
        );
        let moved = apply(&once, &[e("10.103.97.2", "apiserver.cluster.local")]);
        assert_eq!(moved.matches("apiserver.cluster.local").count(), 1);
        assert_eq!(moved.matches(BEGIN).count(), 1);
        assert!(moved.ends_with(DEBIAN));
        assert_eq!(remove(&moved), DEBIAN);
        let dup = apply(
            DEBIAN,
            &[e("1.2.3.4", "a"), e("1.2.3.4", "a"), e("1.2.3.4", "b")],
        );
        assert_eq!(entries(&dup), [e("1.2.3.4", "a"), e("1.2.3.4", "b")]);
    }

    #[test]
    fn missing_trailing_newline_and_empty_files_survive() {
        for original in ["", "127.0.0.1 localhost", "a\n\n", "\n", "x\r\ny"] {
            let out = apply(original, &[e("10.103.97.2", "apiserver.cluster.local")]);
            assert!(out.ends_with(original));
            assert_eq!(remove(&out), original, "{original:?}");
        }
    }

    #[test]
    fn a_block_the_user_moved_is_rewritten_in_place() {
        let cur = format!("127.0.0.1 localhost\n{BEGIN}\n1.1.1.1 old\n{END}\n10.0.0.1 mine\n");
        let out = apply(&cur, &[e("2.2.2.2", "new")]);
        assert_eq!(
            out,
            format!("127.0.0.1 localhost\n{BEGIN}\n2.2.2.2 new\n{END}\n10.0.0.1 mine\n")
        );
        assert_eq!(remove(&out), "127.0.0.1 localhost\n10.0.0.1 mine\n");
        // A block closing the file without a newline stays that way.
        let cur = format!("a\n{BEGIN}\n1.1.1.1 old\n{END}");
        assert_eq!(
            apply(&cur, &[e("2.2.2.2", "new")]),
            format!("a\n{BEGIN}\n2.2.2.2 new\n{END}")
        );
    }

    #[test]
    fn several_blocks_collapse_to_one_and_crlf_markers_are_recognised() {
        let cur = format!("{BEGIN}\n1.1.1.1 a\n{END}\nuser\n{BEGIN}\r\n1.1.1.1 b\r\n{END}\r\ntail");
        let out = apply(&cur, &[e("3.3.3.3", "c")]);
        assert_eq!(out, format!("{BEGIN}\n3.3.3.3 c\n{END}\nuser\ntail"));
        assert_eq!(remove(&cur), "user\ntail");
    }

    #[test]
    fn unmatched_markers_are_user_lines() {
        let cur = format!("x\n{BEGIN}\nunfinished\n");
        let out = apply(&cur, &[e("1.1.1.1", "n")]);
        assert!(out.ends_with(&cur));
        assert_eq!(remove(&out), cur);
        assert_eq!(remove(&cur), cur);
        let cur = format!("{END}\nx\n");
        assert_eq!(remove(&apply(&cur, &[e("1.1.1.1", "n")])), cur);
    }

    #[test]
    fn empty_entries_remove_and_bad_names_are_dropped() {
        let once = apply(DEBIAN, &[e("1.1.1.1", "n")]);
        assert_eq!(apply(&once, &[]), DEBIAN);
        assert_eq!(apply(DEBIAN, &[e("1.1.1.1", "bad name")]), DEBIAN);
        let out = apply(
            DEBIAN,
            &[
                e("1.1.1.1", "ok"),
                e("1.1.1.1", "x\n9.9.9.9 evil"),
                e("1.1.1.1", "#c"),
            ],
        );
        assert_eq!(entries(&out), [e("1.1.1.1", "ok")]);
        assert!(!out.contains("evil"));
        for bad in ["", "-a", ".a", "a b", "a#b", "a\tb", "ä"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name("apiserver.cluster.local") && valid_name("my_host-1"));
    }

    #[test]
    fn ipv6_entries() {
        let out = apply("", &[e("fd00::2", "apiserver.cluster.local")]);
        assert_eq!(
            out,
            format!("{BEGIN}\nfd00::2 apiserver.cluster.local\n{END}\n")
        );
        assert_eq!(entries(&out), [e("fd00::2", "apiserver.cluster.local")]);
    }

    #[test]
    fn other_lines_for_finds_stale_user_mappings_only() {
        let cur = apply(
            "127.0.0.1 localhost\n10.0.0.9 apiserver.cluster.local # old tool\n# 1.1.1.1 apiserver.cluster.local\n",
            &[e("10.103.97.2", "apiserver.cluster.local")],
        );
        assert_eq!(
            other_lines_for(&cur, &["apiserver.cluster.local"]),
            [(5, "10.0.0.9 apiserver.cluster.local # old tool".to_string())]
        );
    }

    /// A small deterministic generator (no extra crates).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[(self.next() % xs.len() as u64) as usize]
        }
    }

    const PIECES: &[&str] = &[
        "127.0.0.1 localhost",
        "\n",
        "\n",
        "\r\n",
        " ",
        "\t",
        "#",
        "# comment",
        "::1 ip6-localhost",
        "10.103.97.2 apiserver.cluster.local",
        "é",
        "BEGIN",
        "seal-install",
        BEGIN,
        END,
        "192.168.0.2",
        "\u{feff}",
    ];

    fn random_text(r: &mut Rng, allow_blocks: bool) -> String {
        loop {
            let n = r.next() % 12;
            let s: String = (0..n).map(|_| *r.pick(PIECES)).collect();
            if allow_blocks || blocks(&s).is_empty() {
                return s;
            }
        }
    }

    fn random_entries(r: &mut Rng) -> Vec<(IpAddr, String)> {
        let ips = ["192.168.0.2", "10.103.97.2", "fd00::1"];
        let names = ["apiserver.cluster.local", "a", "b.c", "bad name"];
        (0..r.next() % 4)
            .map(|_| e(r.pick::<&str>(&ips), r.pick::<&str>(&names)))
            .collect()
    }

    #[test]
    fn properties_over_random_files() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..5000 {
            let x = random_text(&mut r, false);
            let e1 = random_entries(&mut r);
            let e2 = random_entries(&mut r);
            let a1 = apply(&x, &e1);
            // User bytes untouched and removal exact.
            assert_eq!(remove(&a1), x, "{x:?} {e1:?}");
            assert_eq!(remove(&x), x);
            if clean_entries(&e1).is_empty() {
                assert_eq!(a1, x);
            } else {
                assert_eq!(a1, format!("{}{x}", block(&e1)));
                assert_eq!(entries(&a1), clean_entries(&e1));
                assert_eq!(blocks(&a1).len(), 1);
            }
            // Re-running converges; the last call wins.
            assert_eq!(apply(&a1, &e1), a1);
            assert_eq!(apply(&apply(&a1, &e2), &e2), apply(&a1, &e2));
            assert_eq!(apply(&a1, &e2), apply(&x, &e2), "{x:?} {e1:?} {e2:?}");
        }
    }

    #[test]
    fn properties_with_arbitrary_existing_blocks() {
        let mut r = Rng(42);
        for _ in 0..5000 {
            let x = random_text(&mut r, true);
            let e1 = random_entries(&mut r);
            let a = apply(&x, &e1);
            assert!(blocks(&a).len() <= 1, "{x:?} -> {a:?}");
            assert_eq!(apply(&a, &e1), a);
            // Whatever was outside blocks is still there, in order.
            assert_eq!(remove(&a), remove(&x), "{x:?}");
            assert!(blocks(&remove(&a)).is_empty());
        }
    }

    #[test]
    fn write_script_is_exact_and_guarded() {
        let s = write_script("/etc/hosts", "old\n", "it's\nnew");
        assert!(s.contains("printf '%s' 'it'\\''s\nnew' > \"$tmp\""), "{s}");
        assert!(s.contains(&sha256_hex("old\n")));
        assert!(s.contains("exit 3"));
        assert!(s.contains("mktemp \"$(dirname -- \"$target\")/.hosts.seal-install.XXXXXX\""));
        assert!(s.contains("mv -f -- \"$tmp\" \"$target\""));
    }

    /// Runs the script with the local shell on a scratch file (no remote host needed).
    #[test]
    fn write_script_runs_locally() {
        let dir = std::env::temp_dir().join(format!("seal-hosts-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let target = dir.join("hosts");
        let link = dir.join("link");
        let old = "127.0.0.1 localhost";
        std::fs::write(&target, old).expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let new = apply(old, &[e("10.103.97.2", "apiserver.cluster.local")]);
        let run = |old: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(write_script(link.to_str().expect("utf8"), old, &new))
                .status()
                .expect("sh")
        };
        // Stale expectation: refused, file untouched.
        assert_eq!(run("something else").code(), Some(CHANGED_MEANWHILE));
        assert_eq!(std::fs::read_to_string(&target).expect("read"), old);
        // A temp file left by a host that lost power in the middle of an earlier edit goes.
        let stale = dir.join(".hosts.seal-install.Ab12Cd");
        std::fs::write(&stale, "127.0.0.1 loc").expect("write");
        assert!(run(old).success());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), new);
        assert!(!stale.exists());
        let meta = std::fs::metadata(&target).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert!(std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink());
        let leftovers = std::fs::read_dir(&dir).expect("ls").count();
        assert_eq!(leftovers, 2, "no temp file left behind");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn write_script_killed_midway_leaves_the_old_file_and_the_next_edit_completes() {
        use std::time::{Duration, Instant};
        let dir = std::env::temp_dir().join(format!("seal-hosts-kill-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("dir");
        let target = dir.join("hosts");
        let old = "127.0.0.1 localhost\n";
        std::fs::write(&target, old).expect("write");
        // The script is stopped dead (SIGKILL: a cut connection's remote shell, or a power
        // loss) after its temp file is complete, just before the rename: `sync` here holds it.
        let mark = dir.join("in-sync");
        let shim = bin.join("sync");
        std::fs::write(
            &shim,
            format!("#!/bin/sh\n: > '{}'\nsleep 10\n", mark.display()),
        )
        .expect("shim");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let new = apply(old, &[e("10.103.97.2", "apiserver.cluster.local")]);
        let script = write_script(target.to_str().expect("utf8"), old, &new);
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", path)
            .spawn()
            .expect("sh");
        let start = Instant::now();
        while !mark.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "never reached sync"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), old);
        let temps = || {
            std::fs::read_dir(&dir)
                .expect("ls")
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".hosts.seal-install.")
                })
                .count()
        };
        assert_eq!(temps(), 1, "the killed edit's temp file");
        // The re-run's edit completes and takes the left-over temp file with it.
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .status()
            .expect("sh");
        assert!(status.success());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), new);
        assert_eq!(temps(), 0);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
