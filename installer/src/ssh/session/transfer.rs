//! File transfer over the session: uploads skipped when the remote sha256 already matches, and
//! every write streamed into a temp file, checked against the sha256 and renamed into place;
//! downloads read in chunks below the output cap, checked the same way on this side.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::exec::{Deadline, Stdin};
use super::handle::Session;
use crate::ssh::remote;
use crate::ssh::{SshError, UploadResult};

impl Session {
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
        let sum = sha256_file_async(local)
            .await
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
}

/// Bytes read per command of a download: well below the output cap, so nothing is cut.
const DOWNLOAD_CHUNK: u64 = 4 << 20;

impl Session {
    /// Copies the host's `remote` file to `local` (mode 0600), as root: its size and sha256
    /// first, then the bytes in chunks into `local.part`, which is renamed to `local` only when
    /// its size and sha256 are the host's. Returns the size.
    pub async fn download(&self, remote: &str, local: &Path) -> Result<u64, SshError> {
        check_remote(remote, 0o600)?;
        let q = remote::quote(remote);
        let idle = Deadline::Idle(self.inner.io_timeout);
        let probe = format!("stat -c %s {q} && sha256sum {q}");
        let out = self.exec_inner(&probe, Stdin::Bytes(&[]), idle).await?;
        let out = self.check(&probe, out)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = text.split_whitespace();
        let (size, sum) = match (
            words.next().and_then(|w| w.parse::<u64>().ok()),
            words.next(),
        ) {
            (Some(size), Some(sum)) if sum.len() == 64 => (size, sum.to_string()),
            _ => {
                return Err(SshError::Invalid(format!(
                    "unexpected answer to `{probe}`: {text}"
                )))
            }
        };
        let part = local.with_extension("part");
        let local_err = |source| SshError::Local {
            path: part.clone(),
            source,
        };
        let result = async {
            let mut file = open_private(&part).await.map_err(local_err)?;
            let mut hasher = Sha256::new();
            let mut offset = 0u64;
            while offset < size {
                let cmd = format!(
                    "dd if={q} bs={DOWNLOAD_CHUNK} skip={} count=1 status=none",
                    offset / DOWNLOAD_CHUNK
                );
                let out = self.exec_inner(&cmd, Stdin::Bytes(&[]), idle).await?;
                let out = self.check(&cmd, out)?;
                let want = DOWNLOAD_CHUNK.min(size - offset);
                if out.stdout.len() as u64 != want {
                    return Err(self.mismatch(
                        remote,
                        format!(
                            "{} bytes at offset {offset}, {want} expected",
                            out.stdout.len()
                        ),
                    ));
                }
                hasher.update(&out.stdout);
                tokio::io::AsyncWriteExt::write_all(&mut file, &out.stdout)
                    .await
                    .map_err(local_err)?;
                offset += want;
            }
            tokio::io::AsyncWriteExt::flush(&mut file)
                .await
                .map_err(local_err)?;
            file.sync_all().await.map_err(local_err)?;
            let got = remote::hex(&hasher.finalize());
            if got != sum {
                return Err(self.mismatch(remote, format!("sha256 {got}, the host's {sum}")));
            }
            tokio::fs::rename(&part, local)
                .await
                .map_err(|source| SshError::Local {
                    path: local.to_path_buf(),
                    source,
                })
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&part).await;
        }
        result.map(|()| size)
    }

    fn mismatch(&self, remote: &str, detail: String) -> SshError {
        SshError::Download {
            host: self.inner.host.clone(),
            remote: remote.to_string(),
            detail,
        }
    }
}

/// A new file only its owner can read (a snapshot holds every Secret of a cluster).
async fn open_private(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .await
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

/// [`sha256_file`] on a blocking thread, off the async workers (a package is hundreds of MB).
pub(crate) async fn sha256_file_async(path: &Path) -> std::io::Result<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || sha256_file(&path))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_and_modes_are_checked() {
        assert!(check_remote("/etc/x", 0o644).is_ok());
        assert!(check_remote("etc/x", 0o644).is_err());
        assert!(check_remote("/etc/", 0o644).is_err());
        assert!(check_remote("/etc/x", 0o10000).is_err());
    }
}
