//! The last master list learnt from the cluster, kept on disk so that a restart while no
//! apiserver answers still balances to the masters the cluster last named (rather than only to
//! the `--rs` seed, which may be years old). Written atomically: a crash mid-write leaves the
//! previous list, never half of one.

use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;

use super::endpoints::MAX_MASTERS;

const HEADER: &str = "# lvscare: the masters the cluster last named (one IP:PORT a line)\n";

/// Why a kept list was not used.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading or writing the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// A line that is not an address, or no address at all.
    #[error("{path}: {detail}; it is ignored and rewritten at the next update from the cluster")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
}

/// The file's text for `masters`.
pub fn render(masters: &[SocketAddr]) -> String {
    let mut s = String::from(HEADER);
    for m in masters {
        s.push_str(&m.to_string());
        s.push('\n');
    }
    s
}

/// The masters in a file's text; `Err` names what is wrong.
pub fn parse(text: &str) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let addr = line
            .parse::<SocketAddr>()
            .map_err(|_| format!("line {}: {line:?} is not IP:PORT", i + 1))?;
        if out.len() == MAX_MASTERS {
            return Err(format!("more than {MAX_MASTERS} masters"));
        }
        out.push(addr);
    }
    if out.is_empty() {
        return Err("no master in it".into());
    }
    Ok(out)
}

/// Writes `masters` to `path` atomically: a temp file beside it, synced, renamed over, the
/// directory synced.
pub fn save(path: &Path, masters: &[SocketAddr]) -> Result<(), PersistError> {
    let io_err = |source| PersistError::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let write = || -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(render(masters).as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(e)
    })
}

/// The kept list, `None` when there is none yet.
pub fn load(path: &Path) -> Result<Option<Vec<SocketAddr>>, PersistError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    parse(&text)
        .map(Some)
        .map_err(|detail| PersistError::Corrupt {
            path: path.display().to_string(),
            detail,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn a_list_round_trips_through_the_file() {
        let dir = std::env::temp_dir().join(format!("lvscare-persist-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("masters");
        assert!(load(&path).unwrap().is_none());
        let list = addrs(&["10.0.0.11:6443", "[fd00::12]:6443"]);
        save(&path, &list).unwrap();
        assert_eq!(load(&path).unwrap(), Some(list.clone()));
        // Overwritten whole; no temp file left beside it.
        save(&path, &list[..1]).unwrap();
        assert_eq!(load(&path).unwrap(), Some(list[..1].to_vec()));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::write(&path, "10.0.0.1:6443\nnot an address\n").unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        fs::write(&path, HEADER).unwrap();
        assert!(matches!(load(&path), Err(PersistError::Corrupt { .. })));
        // A folder that cannot be written: an error, not a panic.
        let e = save(&dir.join("missing").join("masters"), &list).unwrap_err();
        assert!(matches!(e, PersistError::Io { .. }), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parse_bounds_the_list() {
        let many: String = (0..=MAX_MASTERS)
            .map(|i| format!("10.0.{}.{}:6443\n", i / 250, i % 250))
            .collect();
        assert!(parse(&many).unwrap_err().contains("more than"));
        assert_eq!(
            parse(" # c\n\n10.0.0.1:6443 \n"),
            Ok(addrs(&["10.0.0.1:6443"]))
        );
    }
}
