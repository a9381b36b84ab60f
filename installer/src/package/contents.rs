//! Reads a package's listing before any host sees it: the whole gzip + tar stream is walked
//! (so a cut-short or corrupt file fails here, not half-way through `tar -x` on a host), and
//! every entry must stay inside `kube/`: no absolute path, no `..`, no link leading out, no
//! device or fifo; `kube/shell/init.sh` must be a file.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufReader, Read};
use std::path::Path;

use tar::EntryType;

use super::PackageError;

/// The folder every entry must be in (the package unpacks beside it, in `/root`).
const TOP: &[u8] = b"kube";
/// The script `distribute` runs on every host.
pub const INIT_SH: &str = "kube/shell/init.sh";
/// Links followed when resolving one link before it counts as a loop (Linux's own limit).
const MAX_HOPS: usize = 40;

/// What a package holds, once it passed the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contents {
    /// Entries in the tar (files, folders, links).
    pub entries: u64,
    /// Bytes of the unpacked tar stream.
    pub tar_bytes: u64,
}

/// Why one entry of a package cannot be unpacked safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryProblem {
    /// The name starts with `/`.
    Absolute,
    /// The name has a `..` component.
    DotDot,
    /// The name is not under `kube/` (or is `kube` itself, but not a folder).
    OutsideKube,
    /// A symbolic link whose target leaves `kube/` (absolute, or through `..`, even in passing).
    LinkOut {
        /// The link's target as written.
        target: String,
    },
    /// A symbolic link that resolves through more than 40 links.
    LinkLoop {
        /// The link's target as written.
        target: String,
    },
    /// A hard link to something not under `kube/`.
    HardLinkOut {
        /// The link's target as written.
        target: String,
    },
    /// A link entry with no target.
    NoTarget,
    /// A device file, fifo or another kind tar would create as something other than a file,
    /// folder or link.
    Kind(String),
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryProblem::Absolute => write!(f, "is an absolute path"),
            EntryProblem::DotDot => write!(f, "has a `..` component"),
            EntryProblem::OutsideKube => write!(f, "is not inside kube/"),
            EntryProblem::LinkOut { target } => {
                write!(
                    f,
                    "is a symbolic link to {target:?}, which leads out of kube/"
                )
            }
            EntryProblem::LinkLoop { target } => {
                write!(
                    f,
                    "is a symbolic link to {target:?}, which never resolves (a loop of links)"
                )
            }
            EntryProblem::HardLinkOut { target } => {
                write!(f, "is a hard link to {target:?}, which is not inside kube/")
            }
            EntryProblem::NoTarget => write!(f, "is a link without a target"),
            EntryProblem::Kind(kind) => write!(f, "is a {kind}"),
        }
    }
}

/// Counts the bytes read through it and notes a read at the end of the stream: the tar crate
/// makes one only when the archive ends without its end-of-archive blocks.
struct Counted<R> {
    inner: R,
    read: u64,
    hit_end: bool,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.hit_end |= n == 0 && !buf.is_empty();
        Ok(n)
    }
}

/// Walks the package at `path` and refuses anything that could write outside `kube/`, a
/// stream that is cut short or corrupt, and a package without `kube/shell/init.sh`.
pub fn check(path: &Path) -> Result<Contents, PackageError> {
    let file = std::fs::File::open(path).map_err(|source| PackageError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    check_reader(path, file)
}

/// [`check`] of the bytes `reader` gives; `path` names the package in errors.
pub fn check_reader(path: &Path, reader: impl Read) -> Result<Contents, PackageError> {
    let corrupt = |e: io::Error| PackageError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    // MultiGzDecoder: gzip -d (which tar -z runs) reads concatenated members too.
    let gz = flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(1 << 18, reader));
    let mut archive = tar::Archive::new(Counted {
        inner: gz,
        read: 0,
        hit_end: false,
    });
    let mut listing = Listing::default();
    // Entry data is never read here: the tar crate skips it by reading it through, so a cut
    // inside a file fails as "unexpected EOF during skip".
    for entry in archive.entries().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        listing
            .add(&entry)
            .map_err(|(entry, problem)| PackageError::UnsafeEntry {
                path: path.to_path_buf(),
                entry,
                problem,
            })?;
    }
    let mut rest = archive.into_inner();
    // The tar crate stops at a zero block or at the end of the stream; only the former is a
    // whole archive (tar writes two zero blocks after the last entry).
    let ended_early = rest.hit_end;
    // Reading to the end checks the gzip trailer (CRC and length) of every member.
    io::copy(&mut rest, &mut io::sink()).map_err(corrupt)?;
    if ended_early {
        return Err(PackageError::Corrupt {
            path: path.to_path_buf(),
            detail: "the tar archive ends without its end-of-archive blocks".into(),
        });
    }
    listing.finish().map_err(|e| match e {
        Finish::NoInitSh => PackageError::NoInitSh {
            path: path.to_path_buf(),
        },
        Finish::Unsafe(entry, problem) => PackageError::UnsafeEntry {
            path: path.to_path_buf(),
            entry,
            problem,
        },
    })?;
    Ok(Contents {
        entries: listing.entries,
        tar_bytes: rest.read,
    })
}

/// What the whole listing still has to show once every entry is read.
enum Finish {
    NoInitSh,
    Unsafe(String, EntryProblem),
}

/// The entries seen so far: symbolic links are resolved once all are known, so a link through
/// another link is followed wherever in the archive that one is.
#[derive(Default)]
struct Listing {
    entries: u64,
    /// Normalised path → target, of every symbolic link (a later entry of the same path
    /// replaces it, as tar does).
    links: HashMap<Vec<u8>, Vec<u8>>,
    /// Whether the last entry named `kube/shell/init.sh` was a file.
    init_sh: bool,
}

/// A name's components without empty ones and `.`, as tar reads them.
fn components(name: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    name.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

/// A name or target for messages (tar names are bytes).
fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl Listing {
    /// Checks one entry's name, kind and (for a hard link) target.
    fn add<R: Read>(&mut self, entry: &tar::Entry<'_, R>) -> Result<(), (String, EntryProblem)> {
        let kind = entry.header().entry_type();
        let raw = entry.path_bytes();
        let fail = |problem| Err((shown(&raw), problem));
        if kind == EntryType::XGlobalHeader {
            // pax global metadata (git archive writes one): nothing is created from it.
            return Ok(());
        }
        self.entries += 1;
        let path = match normalise(&raw) {
            Ok(p) => p,
            Err(problem) => return fail(problem),
        };
        let is_top = path == TOP;
        let target = entry.link_name_bytes().map(|t| t.into_owned());
        self.links.remove(&path);
        match kind {
            EntryType::Directory => {}
            _ if is_top => return fail(EntryProblem::OutsideKube),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {}
            EntryType::Symlink => match target {
                Some(t) if !t.is_empty() => {
                    self.links.insert(path.clone(), t);
                }
                _ => return fail(EntryProblem::NoTarget),
            },
            // A hard link's target is a name in the archive, relative to where it unpacks.
            EntryType::Link => match target {
                Some(t) if !t.is_empty() => {
                    if !matches!(normalise(&t), Ok(p) if p != TOP) {
                        return fail(EntryProblem::HardLinkOut { target: shown(&t) });
                    }
                }
                _ => return fail(EntryProblem::NoTarget),
            },
            EntryType::Char => return fail(EntryProblem::Kind("character device".into())),
            EntryType::Block => return fail(EntryProblem::Kind("block device".into())),
            EntryType::Fifo => return fail(EntryProblem::Kind("fifo".into())),
            other => {
                return fail(EntryProblem::Kind(format!(
                    "tar entry of type {:?}",
                    char::from(other.as_byte())
                )))
            }
        }
        if path == INIT_SH.as_bytes() {
            self.init_sh = matches!(
                kind,
                EntryType::Regular | EntryType::Continuous | EntryType::Link
            );
        }
        Ok(())
    }

    /// Resolves every symbolic link and checks `kube/shell/init.sh` is there.
    fn finish(&self) -> Result<(), Finish> {
        // Sorted: the same package always names the same first offender.
        let mut links: Vec<_> = self.links.iter().collect();
        links.sort();
        for (path, target) in links {
            if let Err(problem) = self.resolve(path, target) {
                return Err(Finish::Unsafe(shown(path), problem));
            }
        }
        if self.init_sh {
            Ok(())
        } else {
            Err(Finish::NoInitSh)
        }
    }

    /// Follows the link at `path` to `target` through the archive's own links; it must never
    /// leave `kube/`, even in passing (outside it, what a name means depends on the host).
    fn resolve(&self, path: &[u8], target: &[u8]) -> Result<(), EntryProblem> {
        let out = || EntryProblem::LinkOut {
            target: shown(target),
        };
        if target.starts_with(b"/") {
            return Err(out());
        }
        // The link's folder, then its target, component by component; a link met on the way
        // is replaced by its own target (its folder being where the walk is).
        let mut todo: Vec<&[u8]> = components(path).collect();
        todo.pop();
        todo.extend(components(target));
        todo.reverse();
        let mut at: Vec<&[u8]> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == b".." {
                // `at` starts with kube: popping that would leave it.
                if at.len() <= 1 {
                    return Err(out());
                }
                at.pop();
                continue;
            }
            at.push(c);
            if let Some(next) = self.links.get(&at.join(&b'/')) {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(EntryProblem::LinkLoop {
                        target: shown(target),
                    });
                }
                if next.starts_with(b"/") {
                    return Err(out());
                }
                at.pop();
                todo.extend(components(next).rev());
            }
        }
        Ok(())
    }
}

/// A name as its normalised path under `kube/` (components joined by `/`).
fn normalise(name: &[u8]) -> Result<Vec<u8>, EntryProblem> {
    if name.starts_with(b"/") {
        return Err(EntryProblem::Absolute);
    }
    let parts: Vec<&[u8]> = components(name).collect();
    if parts.contains(&&b".."[..]) {
        return Err(EntryProblem::DotDot);
    }
    if parts.first() != Some(&TOP) {
        return Err(EntryProblem::OutsideKube);
    }
    Ok(parts.join(&b'/'))
}

/// Tiny packages built in memory, with names the tar crate's own builder would refuse.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::Write;

    use tar::EntryType;

    /// One entry of a crafted package.
    #[derive(Clone, Copy)]
    pub enum Entry<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
        HardLink(&'a str, &'a str),
        Other(&'a str, EntryType),
    }

    /// A tar of `entries`, names written into the headers as they are.
    pub fn tar(entries: &[Entry]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let (name, kind, link, data): (&str, _, &str, &[u8]) = match e {
                Entry::File(n, d) => (n, EntryType::Regular, "", d),
                Entry::Dir(n) => (n, EntryType::Directory, "", b""),
                Entry::Symlink(n, t) => (n, EntryType::Symlink, t, b""),
                Entry::HardLink(n, t) => (n, EntryType::Link, t, b""),
                Entry::Other(n, k) => (n, *k, "", b""),
            };
            if name.len() > 100 {
                // GNU long name: an `L` entry holding the name, then the entry itself.
                let mut long = header(b"././@LongLink", EntryType::GNULongName, b"");
                long.set_size(name.len() as u64 + 1);
                long.set_cksum();
                let mut bytes = name.as_bytes().to_vec();
                bytes.push(0);
                b.append(&long, &bytes[..]).expect("long name");
            }
            let short = &name.as_bytes()[..name.len().min(100)];
            let mut h = header(short, kind, link.as_bytes());
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, data).expect("append");
        }
        b.into_inner().expect("finish")
    }

    fn header(name: &[u8], kind: EntryType, link: &[u8]) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(0);
        h
    }

    /// `data` gzip-compressed.
    pub fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    /// The smallest package that passes: kube/shell/init.sh and a folder or two.
    pub fn good() -> Vec<u8> {
        gz(&tar(&[
            Entry::Dir("kube/"),
            Entry::Dir("kube/shell/"),
            Entry::File("kube/shell/init.sh", b"#!/bin/bash\nexit 0\n"),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{gz, tar, Entry};
    use super::*;

    const PKG: &str = "/tmp/kube1.20.2.tar.gz";

    fn check_bytes(bytes: &[u8]) -> Result<Contents, PackageError> {
        check_reader(Path::new(PKG), bytes)
    }

    /// The problem `entries` (after a valid init.sh) are refused for, naming `offender`.
    fn refused(entries: &[Entry]) -> (String, EntryProblem) {
        let mut all = vec![
            Entry::Dir("kube/shell/"),
            Entry::File("kube/shell/init.sh", b"exit 0\n"),
        ];
        all.extend_from_slice(entries);
        match check_bytes(&gz(&tar(&all))) {
            Err(PackageError::UnsafeEntry {
                entry,
                problem,
                path,
            }) => {
                assert_eq!(path, Path::new(PKG));
                (entry, problem)
            }
            other => panic!("not refused as unsafe: {other:?}"),
        }
    }

    #[test]
    fn a_whole_package_inside_kube_passes() {
        let long = format!("kube/{}/deep", "d".repeat(120));
        let entries = [
            Entry::Dir("./kube/"),
            Entry::Dir("kube/shell/"),
            Entry::File("./kube/shell/init.sh", b"#!/bin/bash\n"),
            Entry::File("kube/bin/kubeadm", b"binary"),
            Entry::File("kube/lib/libfoo.so.1.2", b"lib"),
            Entry::Symlink("kube/lib/libfoo.so.1", "libfoo.so.1.2"),
            Entry::Symlink("kube/lib/libfoo.so", "./libfoo.so.1"),
            Entry::Symlink("kube/bin/lib", "../lib"),
            Entry::Symlink("kube/bin/libfoo", "lib/../lib/libfoo.so"),
            Entry::Symlink("kube/top", "."),
            Entry::HardLink("kube/bin/kubeadm2", "./kube/bin/kubeadm"),
            Entry::File(&long, b"long name"),
        ];
        let c = check_bytes(&gz(&tar(&entries))).expect("good package");
        assert_eq!(c.entries, 12);
        assert!(c.tar_bytes >= 14 * 512, "{c:?}");
        check_bytes(&testing::good()).expect("smallest package");
        // `./` is /root itself: refused (tar would set its mode and owner).
        let mut with_dot = vec![Entry::Dir("./")];
        with_dot.extend_from_slice(&entries);
        let e = check_bytes(&gz(&tar(&with_dot))).expect_err("./ is outside kube");
        assert!(
            matches!(&e, PackageError::UnsafeEntry { entry, problem: EntryProblem::OutsideKube, .. } if entry == "./"),
            "{e:?}"
        );
    }

    #[test]
    fn names_outside_kube_are_refused() {
        for (name, want) in [
            ("../etc/cron.d/evil", EntryProblem::DotDot),
            ("kube/../../etc/cron.d/evil", EntryProblem::DotDot),
            ("kube/bin/..", EntryProblem::DotDot),
            ("/etc/cron.d/evil", EntryProblem::Absolute),
            ("//etc/cron.d/evil", EntryProblem::Absolute),
            ("etc/cron.d/evil", EntryProblem::OutsideKube),
            ("kubex/file", EntryProblem::OutsideKube),
            ("kube", EntryProblem::OutsideKube),
        ] {
            assert_eq!(
                refused(&[Entry::File(name, b"x")]),
                (name.to_string(), want),
                "{name}"
            );
        }
        // Past the 100 bytes of a header, in a GNU long name.
        let long = format!("kube/{}/../../../etc/evil", "d".repeat(110));
        assert_eq!(
            refused(&[Entry::File(&long, b"x")]),
            (long.clone(), EntryProblem::DotDot)
        );
    }

    #[test]
    fn links_leading_out_of_kube_are_refused() {
        let out = |t: &str| EntryProblem::LinkOut { target: t.into() };
        for (name, target) in [
            ("kube/etc", "/etc"),
            ("kube/up", ".."),
            ("kube/bin/x", "../../etc/shadow"),
            // Out and back in: outside kube/ a name means whatever the host has there.
            ("kube/bin/y", "../../kube/bin"),
            ("kube", "."),
        ] {
            let want = if name == "kube" {
                EntryProblem::OutsideKube
            } else {
                out(target)
            };
            assert_eq!(
                refused(&[Entry::Symlink(name, target)]),
                (name.to_string(), want),
                "{name} -> {target}"
            );
        }
        // Through another link: kube/sub/up is kube itself, so sub/up/.. is /root. Read by
        // name alone, kube/m would be kube/sub. Either order in the archive.
        let (up, m) = (
            Entry::Symlink("kube/sub/up", ".."),
            Entry::Symlink("kube/m", "sub/up/.."),
        );
        for order in [[up, m], [m, up]] {
            assert_eq!(refused(&order), ("kube/m".into(), out("sub/up/..")));
        }
        // A link inside a folder that is itself a link (to kube/sub): ../.. from there is /root.
        assert_eq!(
            refused(&[
                Entry::Dir("kube/sub/"),
                Entry::Symlink("kube/sub/here", "."),
                Entry::Symlink("kube/sub/here/x", "../.."),
            ]),
            ("kube/sub/here/x".into(), out("../.."))
        );
        assert_eq!(
            refused(&[Entry::Symlink("kube/a", "b"), Entry::Symlink("kube/b", "a")]),
            (
                "kube/a".into(),
                EntryProblem::LinkLoop { target: "b".into() }
            )
        );
        assert_eq!(
            refused(&[Entry::Symlink("kube/a", "")]),
            ("kube/a".into(), EntryProblem::NoTarget)
        );
        // A later entry of the same name replaces the link, as tar does.
        check_bytes(&gz(&tar(&[
            Entry::Symlink("kube/x", "/etc"),
            Entry::Dir("kube/x/"),
            Entry::File("kube/shell/init.sh", b""),
        ])))
        .expect("replaced link");
    }

    #[test]
    fn hard_links_out_and_special_files_are_refused() {
        for target in ["/etc/shadow", "../etc/shadow", "etc/shadow", "kube"] {
            assert_eq!(
                refused(&[Entry::HardLink("kube/h", target)]),
                (
                    "kube/h".into(),
                    EntryProblem::HardLinkOut {
                        target: target.into()
                    }
                ),
                "{target}"
            );
        }
        for (kind, what) in [
            (EntryType::Char, "character device"),
            (EntryType::Block, "block device"),
            (EntryType::Fifo, "fifo"),
            (EntryType::new(b'V'), "tar entry of type 'V'"),
        ] {
            assert_eq!(
                refused(&[Entry::Other("kube/dev/sda", kind)]),
                ("kube/dev/sda".into(), EntryProblem::Kind(what.into()))
            );
        }
    }

    #[test]
    fn init_sh_must_be_a_file() {
        for entries in [
            vec![Entry::Dir("kube/"), Entry::File("kube/shell/clean.sh", b"")],
            vec![Entry::Dir("kube/shell/init.sh/")],
            vec![
                Entry::File("kube/shell/real.sh", b""),
                Entry::Symlink("kube/shell/init.sh", "real.sh"),
            ],
            // A later entry replaces the file.
            vec![
                Entry::File("kube/shell/init.sh", b""),
                Entry::Dir("kube/shell/init.sh/"),
            ],
        ] {
            let e = check_bytes(&gz(&tar(&entries))).expect_err("no init.sh");
            assert!(matches!(e, PackageError::NoInitSh { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(
                msg.starts_with(PKG) && msg.contains("no kube/shell/init.sh file"),
                "{msg}"
            );
        }
        check_bytes(&gz(&tar(&[
            Entry::File("kube/shell/real.sh", b""),
            Entry::HardLink("kube/shell/init.sh", "kube/shell/real.sh"),
        ])))
        .expect("a hard link is a file");
    }

    fn corrupt(bytes: &[u8]) -> String {
        match check_bytes(bytes) {
            Err(e @ PackageError::Corrupt { .. }) => e.to_string(),
            other => panic!("not refused as corrupt: {other:?}"),
        }
    }

    #[test]
    fn cut_short_or_damaged_packages_are_refused() {
        let plain = tar(&[
            Entry::Dir("kube/shell/"),
            Entry::File("kube/shell/init.sh", b"exit 0\n"),
            Entry::File("kube/images/images.tar", &[7u8; 20_000]),
        ]);
        let good = gz(&plain);
        check_bytes(&good).expect("whole");
        // A download cut short anywhere, down to the trailer's last byte.
        for keep in [0, 10, good.len() / 2, good.len() - 8, good.len() - 1] {
            let msg = corrupt(&good[..keep]);
            assert!(
                msg.starts_with(PKG) && msg.contains("truncated or corrupt"),
                "{keep}: {msg}"
            );
            assert!(msg.contains("download or copy it again"), "{msg}");
        }
        // A wrong CRC in the trailer.
        let mut bad_crc = good.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 0xff;
        corrupt(&bad_crc);
        // Not gzip at all.
        corrupt(&plain);
        // A whole gzip of a tar that was cut: inside the images' data, and at an entry's end
        // (every entry whole, but no end-of-archive blocks).
        let msg = corrupt(&gz(&plain[..3 * 512 + 4000]));
        assert!(msg.contains("truncated or corrupt"), "{msg}");
        let msg = corrupt(&gz(&plain[..plain.len() - 1024]));
        assert!(msg.contains("end-of-archive"), "{msg}");
        // Concatenated gzip members are one stream, as gzip -d reads them.
        let mut members = gz(&plain[..1024]);
        members.extend(gz(&plain[1024..]));
        check_bytes(&members).expect("two members");
    }

    #[test]
    fn messages_name_the_package_the_entry_and_the_fix() {
        let e = check_bytes(&gz(&tar(&[
            Entry::File("kube/shell/init.sh", b""),
            Entry::File("kube/../../etc/cron.d/evil", b"x"),
        ])))
        .expect_err("refused")
        .to_string();
        assert_eq!(
            e,
            format!("{PKG}: entry \"kube/../../etc/cron.d/evil\" has a `..` component; nothing was sent to any host: a package may hold only kube/ (files, folders and links that stay inside it), rebuild it (e.g. `tar -czf PACKAGE kube`)")
        );
    }
}
