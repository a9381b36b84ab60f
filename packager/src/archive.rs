//! Writes images as a docker-archive (`manifest.json`, one config JSON and one uncompressed layer
//! tar per image), the format `docker save` produces and `ctr images import` reads. Everything
//! is deterministic — sorted entries, owner 0, time 0 — so the same inputs give the same bytes
//! and the same image IDs, and a cached package can be compared by hash.

use crate::spec::{Entry, Image};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// What went wrong writing an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// The file and the operation.
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// Two entries of one image want the same path.
    #[error("image {image}: '{path}' is given twice")]
    Duplicate {
        /// The image.
        image: String,
        /// The path in the image.
        path: String,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
    let what = what.into();
    move |source| ArchiveError::Io { what, source }
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hex(d: impl AsRef<[u8]>) -> String {
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A deterministic header: owner 0, time 0, the given mode and size.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

/// One layer entry after resolving its mode: a folder, a file's source and mode, or a symlink.
enum Node {
    Dir,
    File(PathBuf, u32),
    Link(String),
}

fn source_mode(src: &Path) -> Result<u32, ArchiveError> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::metadata(src)
        .map_err(io_err(format!("reading {}", src.display())))?
        .permissions()
        .mode()
        & 0o7777)
}

/// Inserts `node` at `rel` (no leading `/`) with its parent folders.
fn insert(
    nodes: &mut BTreeMap<String, Node>,
    image: &Image,
    rel: String,
    node: Node,
) -> Result<(), ArchiveError> {
    let mut at = 0;
    while let Some(i) = rel[at..].find('/') {
        nodes.entry(rel[..at + i].to_string()).or_insert(Node::Dir);
        at += i + 1;
    }
    let duplicate = match nodes.get(&rel) {
        None => false,
        Some(Node::Dir) => !matches!(node, Node::Dir),
        Some(_) => true,
    };
    if duplicate {
        return Err(ArchiveError::Duplicate {
            image: image.reference.clone(),
            path: format!("/{rel}"),
        });
    }
    nodes.insert(rel, node);
    Ok(())
}

/// Adds a host folder's content under `rel` (empty: the root), sorted, symlinks kept.
fn insert_tree(
    nodes: &mut BTreeMap<String, Node>,
    image: &Image,
    src: &Path,
    rel: &str,
) -> Result<(), ArchiveError> {
    let mut names: Vec<_> = fs::read_dir(src)
        .map_err(io_err(format!("reading {}", src.display())))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io_err(format!("reading {}", src.display())))?;
    names.sort();
    for name in names {
        let path = src.join(&name);
        let name = name.to_string_lossy();
        let child = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let meta =
            fs::symlink_metadata(&path).map_err(io_err(format!("reading {}", path.display())))?;
        if meta.file_type().is_symlink() {
            let target =
                fs::read_link(&path).map_err(io_err(format!("reading {}", path.display())))?;
            insert(
                nodes,
                image,
                child,
                Node::Link(target.to_string_lossy().into_owned()),
            )?;
        } else if meta.is_dir() {
            insert(nodes, image, child.clone(), Node::Dir)?;
            insert_tree(nodes, image, &path, &child)?;
        } else if meta.is_file() {
            let mode = source_mode(&path)?;
            insert(nodes, image, child, Node::File(path, mode))?;
        }
        // Sockets, fifos and devices have no place in an image layer: skipped.
    }
    Ok(())
}

/// The layer's entries keyed by path without the leading `/`, parent folders included.
fn layer_nodes(image: &Image) -> Result<BTreeMap<String, Node>, ArchiveError> {
    let mut nodes = BTreeMap::new();
    for e in &image.entries {
        match e {
            Entry::Dir { dest } => insert(
                &mut nodes,
                image,
                dest.trim_start_matches('/').into(),
                Node::Dir,
            )?,
            Entry::Link { dest, target } => insert(
                &mut nodes,
                image,
                dest.trim_start_matches('/').into(),
                Node::Link(target.clone()),
            )?,
            Entry::File { src, dest, mode } => {
                let mode = match mode {
                    Some(m) => *m,
                    None => source_mode(src)?,
                };
                insert(
                    &mut nodes,
                    image,
                    dest.trim_start_matches('/').into(),
                    Node::File(src.clone(), mode),
                )?
            }
            Entry::Tree { src, dest } => {
                let rel = dest.trim_start_matches('/');
                if !rel.is_empty() {
                    insert(&mut nodes, image, rel.into(), Node::Dir)?;
                }
                insert_tree(&mut nodes, image, src, rel)?
            }
        }
    }
    Ok(nodes)
}

/// Writes the layer tar of `image` to `out`; returns its sha256 (the image's diff ID).
fn write_layer(image: &Image, out: &Path) -> Result<String, ArchiveError> {
    let nodes = layer_nodes(image)?;
    let file = fs::File::create(out).map_err(io_err(format!("creating {}", out.display())))?;
    let mut w = Hashing {
        inner: io::BufWriter::new(file),
        hash: Sha256::new(),
    };
    {
        let mut b = tar::Builder::new(&mut w);
        for (path, node) in &nodes {
            match node {
                Node::Dir => {
                    let mut h = header(tar::EntryType::Directory, 0o755, 0);
                    b.append_data(&mut h, format!("{path}/"), io::empty())
                        .map_err(io_err(format!("writing {}", out.display())))?;
                }
                Node::Link(target) => {
                    let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                    b.append_link(&mut h, path, target)
                        .map_err(io_err(format!("writing {}", out.display())))?;
                }
                Node::File(src, mode) => {
                    let f = fs::File::open(src)
                        .map_err(io_err(format!("opening {}", src.display())))?;
                    let len = f
                        .metadata()
                        .map_err(io_err(format!("reading {}", src.display())))?
                        .len();
                    let mut h = header(tar::EntryType::Regular, *mode, len);
                    // take(): a file that grows while we copy it must not break the header's size.
                    b.append_data(&mut h, path, f.take(len))
                        .map_err(io_err(format!("copying {} into the layer", src.display())))?;
                }
            }
        }
        b.finish()
            .map_err(io_err(format!("writing {}", out.display())))?;
    }
    w.flush()
        .map_err(io_err(format!("writing {}", out.display())))?;
    Ok(hex(w.hash.finalize()))
}

/// The image config (the image ID is its sha256).
fn config_json(image: &Image, diff_id: &str) -> Vec<u8> {
    let mut config = serde_json::Map::new();
    if !image.env.is_empty() {
        config.insert("Env".into(), serde_json::json!(image.env));
    }
    if !image.entrypoint.is_empty() {
        config.insert("Entrypoint".into(), serde_json::json!(image.entrypoint));
    }
    let doc = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] },
        "history": [{ "created": "1970-01-01T00:00:00Z", "created_by": "seal-package" }],
    });
    // serde_json's Map is ordered by key: the bytes are stable.
    doc.to_string().into_bytes()
}

/// What the archive holds, per image: its reference, config digest and layer digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `name:tag`.
    pub reference: String,
    /// sha256 of the config JSON: the image ID containerd shows.
    pub image_id: String,
    /// sha256 of the uncompressed layer.
    pub diff_id: String,
    /// Layer size in bytes.
    pub layer_size: u64,
}

/// Writes `images` into one docker-archive at `out` (atomically: a temp file, then a rename).
pub fn write(images: &[Image], out: &Path) -> Result<Vec<Written>, ArchiveError> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "images.tar".into());
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = write_to(images, &tmp, dir, &name);
    match result {
        Ok(w) => {
            fs::rename(&tmp, out).map_err(io_err(format!("renaming to {}", out.display())))?;
            Ok(w)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_to(
    images: &[Image],
    tmp: &Path,
    dir: &Path,
    name: &str,
) -> Result<Vec<Written>, ArchiveError> {
    let file = fs::File::create(tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
    let mut outer = tar::Builder::new(io::BufWriter::new(file));
    let mut manifest = Vec::new();
    let mut written = Vec::new();
    let mut seen_layers = std::collections::BTreeSet::new();
    for (i, image) in images.iter().enumerate() {
        let layer_tmp = dir.join(format!(".{name}.layer{i}.tmp"));
        let layer = write_layer(image, &layer_tmp).and_then(|diff_id| {
            let config = config_json(image, &diff_id);
            let image_id = hex(Sha256::digest(&config));
            let layer_path = format!("{diff_id}/layer.tar");
            // Two images with identical layers share the entry (as docker save does).
            if seen_layers.insert(diff_id.clone()) {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                outer
                    .append_data(&mut h, format!("{diff_id}/"), io::empty())
                    .map_err(io_err(format!("writing {}", tmp.display())))?;
                let f = fs::File::open(&layer_tmp)
                    .map_err(io_err(format!("opening {}", layer_tmp.display())))?;
                let len = f
                    .metadata()
                    .map_err(io_err(format!("reading {}", layer_tmp.display())))?
                    .len();
                let mut h = header(tar::EntryType::Regular, 0o644, len);
                outer
                    .append_data(&mut h, &layer_path, f)
                    .map_err(io_err(format!("writing {}", tmp.display())))?;
            }
            let layer_size = fs::metadata(&layer_tmp)
                .map_err(io_err(format!("reading {}", layer_tmp.display())))?
                .len();
            let mut h = header(tar::EntryType::Regular, 0o644, config.len() as u64);
            outer
                .append_data(&mut h, format!("{image_id}.json"), config.as_slice())
                .map_err(io_err(format!("writing {}", tmp.display())))?;
            manifest.push(serde_json::json!({
                "Config": format!("{image_id}.json"),
                "RepoTags": [image.reference],
                "Layers": [layer_path],
            }));
            Ok(Written {
                reference: image.reference.clone(),
                image_id,
                diff_id,
                layer_size,
            })
        });
        let _ = fs::remove_file(&layer_tmp);
        written.push(layer?);
    }
    let manifest = serde_json::Value::Array(manifest).to_string().into_bytes();
    let mut h = header(tar::EntryType::Regular, 0o644, manifest.len() as u64);
    outer
        .append_data(&mut h, "manifest.json", manifest.as_slice())
        .map_err(io_err(format!("writing {}", tmp.display())))?;
    let mut w = outer
        .into_inner()
        .map_err(io_err(format!("writing {}", tmp.display())))?;
    w.flush()
        .map_err(io_err(format!("writing {}", tmp.display())))?;
    w.get_ref()
        .sync_all()
        .map_err(io_err(format!("syncing {}", tmp.display())))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;

    /// Reads every entry of a tar into (path, mode, uid, mtime, bytes).
    fn entries(bytes: &[u8]) -> Vec<(String, u32, u64, u64, Vec<u8>)> {
        let mut a = tar::Archive::new(bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (
                    path,
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                    data,
                )
            })
            .collect()
    }

    fn fixture() -> (tempfile::TempDir, Vec<Image>) {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("pause"), b"\x7fELF pause").unwrap();
        fs::write(d.path().join("etcd"), b"\x7fELF etcd").unwrap();
        let s = format!(
            "image k8s.gcr.io/pause:3.2 /pause\nadd {p}/pause /pause 0755\n\
             image k8s.gcr.io/etcd:3.4.13-0\nenv PATH=/usr/local/bin:/bin\ndir /tmp\nadd {p}/etcd /usr/local/bin/etcd 0700\n",
            p = d.path().display()
        );
        (d, spec::parse(&s).unwrap())
    }

    #[test]
    fn the_archive_is_what_a_docker_save_reader_expects() {
        let (d, images) = fixture();
        let out = d.path().join("images.tar");
        let written = write(&images, &out).unwrap();
        let outer = entries(&fs::read(&out).unwrap());
        let find = |p: &str| {
            outer
                .iter()
                .find(|e| e.0 == p)
                .unwrap_or_else(|| panic!("{p} missing"))
                .4
                .clone()
        };
        let manifest: serde_json::Value = serde_json::from_slice(&find("manifest.json")).unwrap();
        assert_eq!(manifest.as_array().unwrap().len(), 2);
        for (m, w) in manifest.as_array().unwrap().iter().zip(&written) {
            assert_eq!(m["RepoTags"][0], w.reference);
            // The config's name is its own digest, and it names the layer's digest.
            let config = find(m["Config"].as_str().unwrap());
            assert_eq!(hex(Sha256::digest(&config)), w.image_id);
            let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
            assert_eq!(
                config["rootfs"]["diff_ids"][0],
                format!("sha256:{}", w.diff_id)
            );
            let layer = find(m["Layers"][0].as_str().unwrap());
            assert_eq!(hex(Sha256::digest(&layer)), w.diff_id);
            assert_eq!(layer.len() as u64, w.layer_size);
        }
        // The etcd layer: parents first, modes kept, owner and time 0.
        let layer = find(&format!("{}/layer.tar", written[1].diff_id));
        let l = entries(&layer);
        let paths: Vec<&str> = l.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "tmp/",
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "usr/local/bin/etcd"
            ]
        );
        let etcd = &l[4];
        assert_eq!((etcd.1, etcd.2, etcd.3), (0o700, 0, 0));
        assert_eq!(etcd.4, b"\x7fELF etcd");
        let config: serde_json::Value =
            serde_json::from_slice(&find(&format!("{}.json", written[1].image_id))).unwrap();
        assert_eq!(config["config"]["Env"][0], "PATH=/usr/local/bin:/bin");
        assert!(config["config"].get("Entrypoint").is_none());
        let config: serde_json::Value =
            serde_json::from_slice(&find(&format!("{}.json", written[0].image_id))).unwrap();
        assert_eq!(config["config"]["Entrypoint"][0], "/pause");
        // No temp file is left beside the archive.
        let left: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 3, "{left:?}");
    }

    #[test]
    fn trees_keep_symlinks_and_modes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        fs::create_dir_all(root.join("usr/sbin")).unwrap();
        fs::write(root.join("usr/sbin/xtables-nft-multi"), b"x").unwrap();
        std::os::unix::fs::symlink("xtables-nft-multi", root.join("usr/sbin/iptables")).unwrap();
        let images = spec::parse(&format!(
            "image a:1\ntree {} /\nlink /usr/sbin/iptables-restore xtables-nft-multi\n",
            root.display()
        ))
        .unwrap();
        let out = d.path().join("o.tar");
        let w = write(&images, &out).unwrap();
        let outer = entries(&fs::read(&out).unwrap());
        let layer = &outer
            .iter()
            .find(|e| e.0 == format!("{}/layer.tar", w[0].diff_id))
            .unwrap()
            .4;
        let mut a = tar::Archive::new(layer.as_slice());
        let got: Vec<(String, String)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (e.path().unwrap().to_string_lossy().into_owned(), link)
            })
            .collect();
        let want: Vec<(String, String)> = [
            ("usr/", ""),
            ("usr/sbin/", ""),
            ("usr/sbin/iptables", "xtables-nft-multi"),
            ("usr/sbin/iptables-restore", "xtables-nft-multi"),
            ("usr/sbin/xtables-nft-multi", ""),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
        // A link given over a file the tree already holds is a duplicate.
        let images = spec::parse(&format!(
            "image a:1\ntree {} /\nlink /usr/sbin/iptables x\n",
            root.display()
        ))
        .unwrap();
        assert!(matches!(
            write(&images, &out),
            Err(ArchiveError::Duplicate { .. })
        ));
    }

    #[test]
    fn same_inputs_give_the_same_bytes() {
        let (d, images) = fixture();
        let a = d.path().join("a.tar");
        let b = d.path().join("b.tar");
        write(&images, &a).unwrap();
        write(&images, &b).unwrap();
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    }

    #[test]
    fn a_missing_source_fails_and_leaves_nothing() {
        let (d, mut images) = fixture();
        images[1].entries.push(Entry::File {
            src: d.path().join("nope"),
            dest: "/nope".into(),
            mode: Some(0o644),
        });
        let out = d.path().join("images.tar");
        let e = write(&images, &out).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        let left: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn a_path_given_twice_is_refused() {
        let (d, mut images) = fixture();
        images[0].entries.push(Entry::File {
            src: d.path().join("etcd"),
            dest: "/pause".into(),
            mode: None,
        });
        let e = write(&images, &d.path().join("x.tar")).unwrap_err();
        assert!(matches!(e, ArchiveError::Duplicate { .. }), "{e}");
    }
}
