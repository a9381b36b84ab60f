//! The image spec: a small line format the package builder writes, parsed here (pure).
//!
//! ```text
//! # comment
//! image k8s.gcr.io/kube-apiserver:v1.20.2 /usr/local/bin/kube-apiserver
//! env PATH=/usr/local/bin:/usr/bin:/bin
//! add /var/cache/out/kube-apiserver /usr/local/bin/kube-apiserver 0755
//! ```
//!
//! `image REF [ENTRYPOINT ARG...]` starts an image; `add SRC DEST [MODE]` puts a host file at
//! DEST in its single layer (MODE in octal, default the source's); `tree SRC DEST` adds a host
//! folder's files, folders and symlinks under DEST (an unpacked .deb, say); `link DEST TARGET`
//! makes a symlink; `dir DEST` makes an empty folder (e.g. `/tmp`); `env K=V` sets an
//! environment entry. Words are separated by blanks; no
//! quoting is needed for what the builder writes (paths and image names have no blanks).

use std::path::PathBuf;

/// One image of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `name:tag`, exactly as kubeadm and the manifests ask for it.
    pub reference: String,
    /// The entrypoint (empty: none; the pod's `command` then decides).
    pub entrypoint: Vec<String>,
    /// `K=V` environment entries.
    pub env: Vec<String>,
    /// Files and folders of the layer.
    pub entries: Vec<Entry>,
}

/// A layer entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A host file copied to `dest`.
    File {
        /// Path on this machine.
        src: PathBuf,
        /// Absolute path in the image.
        dest: String,
        /// Mode bits, or the source's when `None`.
        mode: Option<u32>,
    },
    /// A host folder's content under `dest` (symlinks kept as symlinks).
    Tree {
        /// Folder on this machine.
        src: PathBuf,
        /// Absolute path in the image (`/` for the root).
        dest: String,
    },
    /// A symlink.
    Link {
        /// Absolute path in the image.
        dest: String,
        /// What it points to (kept as written).
        target: String,
    },
    /// An empty folder.
    Dir {
        /// Absolute path in the image.
        dest: String,
    },
}

/// A spec error, with the 1-based line it was found on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {msg}")]
pub struct SpecError {
    /// Line number.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

fn err(line: usize, msg: impl Into<String>) -> SpecError {
    SpecError {
        line,
        msg: msg.into(),
    }
}

/// A path in the image: absolute, no `..`, no empty or `.` parts.
fn image_path(line: usize, p: &str) -> Result<String, SpecError> {
    let ok = p.starts_with('/')
        && p.len() > 1
        && p[1..]
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(p.to_string())
    } else {
        Err(err(
            line,
            format!("'{p}' must be an absolute path in the image without '.', '..' or '//'"),
        ))
    }
}

/// A reference must name a tag: the runtime would otherwise store it as `:latest`.
fn reference(line: usize, r: &str) -> Result<String, SpecError> {
    let (name, tag) = r
        .rsplit_once(':')
        .filter(|(n, t)| !n.is_empty() && !t.contains('/'))
        .ok_or_else(|| err(line, format!("image '{r}' needs a tag (name:tag)")))?;
    let good = |s: &str, extra: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(c))
    };
    if !good(name, "._-/:") || !good(&tag.to_ascii_lowercase(), "._-") {
        return Err(err(line, format!("image '{r}' is not a valid name:tag")));
    }
    Ok(r.to_string())
}

/// Parses a whole spec.
pub fn parse(text: &str) -> Result<Vec<Image>, SpecError> {
    let mut images: Vec<Image> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let words: Vec<&str> = raw.split_whitespace().collect();
        let Some((&kw, args)) = words.split_first() else {
            continue;
        };
        if kw.starts_with('#') {
            continue;
        }
        if kw == "image" {
            let (r, ep) = args
                .split_first()
                .ok_or_else(|| err(line, "image needs a name:tag"))?;
            let reference = reference(line, r)?;
            if images.iter().any(|i| i.reference == reference) {
                return Err(err(line, format!("image '{reference}' appears twice")));
            }
            images.push(Image {
                reference,
                entrypoint: ep.iter().map(|s| s.to_string()).collect(),
                env: Vec::new(),
                entries: Vec::new(),
            });
            continue;
        }
        let image = images
            .last_mut()
            .ok_or_else(|| err(line, format!("'{kw}' before the first 'image' line")))?;
        match (kw, args) {
            ("add", [src, dest]) | ("add", [src, dest, _]) => {
                let mode = match args.get(2) {
                    Some(m) => Some(
                        u32::from_str_radix(m, 8)
                            .ok()
                            .filter(|m| *m <= 0o7777)
                            .ok_or_else(|| err(line, format!("mode '{m}' is not octal (0755)")))?,
                    ),
                    None => None,
                };
                image.entries.push(Entry::File {
                    src: PathBuf::from(src),
                    dest: image_path(line, dest)?,
                    mode,
                });
            }
            ("tree", [src, dest]) => image.entries.push(Entry::Tree {
                src: PathBuf::from(src),
                dest: if *dest == "/" {
                    "/".to_string()
                } else {
                    image_path(line, dest)?
                },
            }),
            ("link", [dest, target]) => image.entries.push(Entry::Link {
                dest: image_path(line, dest)?,
                target: target.to_string(),
            }),
            ("dir", [dest]) => image.entries.push(Entry::Dir {
                dest: image_path(line, dest)?,
            }),
            ("env", [kv]) if kv.split_once('=').is_some_and(|(k, _)| !k.is_empty()) => {
                image.env.push(kv.to_string())
            }
            ("add" | "tree" | "link" | "dir" | "env", _) => {
                return Err(err(
                    line,
                    format!(
                        "wrong words for '{kw}': add SRC DEST [MODE] | tree SRC DEST | \
                         link DEST TARGET | dir DEST | env K=V"
                    ),
                ))
            }
            _ => return Err(err(line, format!("unknown keyword '{kw}'"))),
        }
    }
    if images.is_empty() {
        return Err(err(0, "no image in the spec"));
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_images_files_dirs_and_env() {
        let s = "# c\n\nimage k8s.gcr.io/pause:3.2 /pause\nadd /x/pause /pause 0755\n\
                 image k8s.gcr.io/etcd:3.4.13-0\nenv PATH=/usr/local/bin:/bin\ndir /tmp\nadd /y/etcd /usr/local/bin/etcd\n";
        let images = parse(s).unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].reference, "k8s.gcr.io/pause:3.2");
        assert_eq!(images[0].entrypoint, vec!["/pause"]);
        assert_eq!(
            images[0].entries,
            vec![Entry::File {
                src: "/x/pause".into(),
                dest: "/pause".into(),
                mode: Some(0o755)
            }]
        );
        assert!(images[1].entrypoint.is_empty());
        assert_eq!(images[1].env, vec!["PATH=/usr/local/bin:/bin"]);
        assert_eq!(
            images[1].entries[0],
            Entry::Dir {
                dest: "/tmp".into()
            }
        );
        assert_eq!(
            images[1].entries[1],
            Entry::File {
                src: "/y/etcd".into(),
                dest: "/usr/local/bin/etcd".into(),
                mode: None
            }
        );
    }

    #[test]
    fn rejects_bad_lines_with_their_number() {
        let cases = [
            ("add /a /b\n", 1, "before the first"),
            ("image pause\n", 1, "needs a tag"),
            ("image a:1\nadd /a ../b\n", 2, "absolute path"),
            ("image a:1\nadd /a /b/../c\n", 2, "absolute path"),
            ("image a:1\nadd /a /b 999\n", 2, "not octal"),
            ("image a:1\nfrob x\n", 2, "unknown keyword"),
            ("image a:1\nenv =x\n", 2, "wrong words"),
            ("image a:1\nlink /a\n", 2, "wrong words"),
            ("image a:1\ntree /a b\n", 2, "absolute path"),
            ("image a:1\nimage a:1\n", 2, "twice"),
            ("image Upper/x:1\n", 1, "not a valid"),
            ("# nothing\n", 0, "no image"),
        ];
        for (text, line, msg) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.msg.contains(msg), "{text:?}: {e}");
        }
    }

    #[test]
    fn trees_and_links() {
        let i = parse("image a:1\ntree /x/root /\ntree /y /opt/y\nlink /usr/sbin/iptables xtables-nft-multi\n").unwrap();
        assert_eq!(
            i[0].entries[0],
            Entry::Tree {
                src: "/x/root".into(),
                dest: "/".into()
            }
        );
        assert_eq!(
            i[0].entries[1],
            Entry::Tree {
                src: "/y".into(),
                dest: "/opt/y".into()
            }
        );
        assert_eq!(
            i[0].entries[2],
            Entry::Link {
                dest: "/usr/sbin/iptables".into(),
                target: "xtables-nft-multi".into()
            }
        );
    }

    #[test]
    fn registry_ports_are_not_tags() {
        assert!(parse("image localhost:5000/x\n").is_err());
        assert!(parse("image localhost:5000/x:v1\n").is_ok());
    }
}
