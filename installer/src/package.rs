//! The offline package: fetched (http/https) or found locally, then checked against its SHA-256
//! before any host sees it.
//!
//! The expected sum is `--pkg-sha256`, else the `PACKAGE.sha256` file beside a local package
//! (first word, as `sha256sum` writes it). A package with neither is used as it is, and the run
//! says so once. Downloads go to `~/.seal/packages/<sha256>.tar.gz`, so a re-run fetches nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use crate::cli::PackageSource;

/// A verified package ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The local file.
    pub path: PathBuf,
    /// Its SHA-256 (lower-case hex).
    pub sha256: String,
    /// Where the expected sum came from (`None`: nothing to compare against).
    pub verified_by: Option<String>,
}

/// Why the package cannot be used; each names the file or URL and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Reading the package or its checksum file failed.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The checksum file holds no SHA-256.
    #[error("{}: no SHA-256 in it; write one with `sha256sum PACKAGE > {}` or pass --pkg-sha256", path.display(), path.display())]
    BadChecksumFile {
        /// The `.sha256` file.
        path: PathBuf,
    },
    /// The package's sum differs from the expected one.
    #[error("{what}: SHA-256 is {actual}, but {source_of_expected} says {expected}; the package is damaged or not the one meant: fetch it again or fix the checksum")]
    Mismatch {
        /// The package.
        what: String,
        /// Its real sum.
        actual: String,
        /// The expected sum.
        expected: String,
        /// Where the expected sum came from.
        source_of_expected: String,
    },
    /// The download failed.
    #[error("{url}: download failed: {detail}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
}

/// Where the checksum file of a local package would be.
pub fn checksum_file_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// The first word of a `sha256sum`-style file, if it is a SHA-256.
pub fn parse_checksum(text: &str) -> Option<String> {
    let word = text.split_whitespace().next()?;
    (word.len() == 64 && word.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| word.to_ascii_lowercase())
}

/// Compares a computed sum with the expected one.
pub fn check_sum(
    what: &str,
    actual: &str,
    expected: &str,
    source_of_expected: &str,
) -> Result<(), PackageError> {
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(PackageError::Mismatch {
            what: what.to_string(),
            actual: actual.to_string(),
            expected: expected.to_string(),
            source_of_expected: source_of_expected.to_string(),
        })
    }
}

fn sum_of(path: &Path) -> Result<String, PackageError> {
    crate::ssh::sha256_file(path).map_err(|source| PackageError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Resolves and verifies the package; `cache` is where downloads are kept.
pub async fn prepare(
    source: &PackageSource,
    expected: Option<&str>,
    cache: &Path,
) -> Result<Package, PackageError> {
    match source {
        PackageSource::File(path) => {
            let (expected, from) = match expected {
                Some(e) => (Some(e.to_string()), "--pkg-sha256".to_string()),
                None => {
                    let file = checksum_file_of(path);
                    match std::fs::read_to_string(&file) {
                        Ok(text) => (
                            Some(
                                parse_checksum(&text)
                                    .ok_or(PackageError::BadChecksumFile { path: file.clone() })?,
                            ),
                            file.display().to_string(),
                        ),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, String::new()),
                        Err(source) => return Err(PackageError::Read { path: file, source }),
                    }
                }
            };
            let p = path.clone();
            let actual = tokio::task::spawn_blocking(move || sum_of(&p))
                .await
                .map_err(|e| PackageError::Read {
                    path: path.clone(),
                    source: std::io::Error::other(e.to_string()),
                })??;
            if let Some(e) = &expected {
                check_sum(&path.display().to_string(), &actual, e, &from)?;
            }
            Ok(Package {
                path: path.clone(),
                sha256: actual,
                verified_by: expected.map(|_| from),
            })
        }
        PackageSource::Url(url) => {
            // Validation requires --pkg-sha256 for a URL.
            let expected = expected.ok_or_else(|| PackageError::Download {
                url: url.clone(),
                detail: "no --pkg-sha256 to verify it against".into(),
            })?;
            let dest = cache.join(format!("{}.tar.gz", expected.to_ascii_lowercase()));
            if dest.is_file() && sum_of(&dest)? == expected.to_ascii_lowercase() {
                return Ok(Package {
                    path: dest,
                    sha256: expected.to_ascii_lowercase(),
                    verified_by: Some("--pkg-sha256".into()),
                });
            }
            download(url, &dest).await?;
            let actual = sum_of(&dest)?;
            if let Err(e) = check_sum(url, &actual, expected, "--pkg-sha256") {
                let _ = std::fs::remove_file(&dest);
                return Err(e);
            }
            Ok(Package {
                path: dest,
                sha256: actual,
                verified_by: Some("--pkg-sha256".into()),
            })
        }
    }
}

/// Parts of an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https` or not.
    pub tls: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Splits `http(s)://host[:port]/path`.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("only http:// and https:// URLs are supported".into());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".into());
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or("unclosed [ in the host")?;
        let port = match &v6[end + 1..] {
            "" => default_port,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or("bad port")?,
        };
        (v6[..end].to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| "bad port")?),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err("no host in the URL".into());
    }
    Ok(Url {
        tls,
        host,
        port,
        path: path.to_string(),
    })
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A download fails when no byte arrives for this long.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 5;

/// Fetches `url` into `dest` (temp file + rename), following redirects.
async fn download(url: &str, dest: &Path) -> Result<(), PackageError> {
    let err = |detail: String| PackageError::Download {
        url: url.to_string(),
        detail,
    };
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let u = parse_url(&current).map_err(&err)?;
        let resp = get(&u).await.map_err(&err)?;
        let status = resp.status();
        if status.is_redirection() {
            let next = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| err(format!("HTTP {status} without a Location")))?;
            current = if next.starts_with('/') {
                let scheme = if u.tls { "https" } else { "http" };
                let host = if u.host.contains(':') {
                    format!("[{}]", u.host)
                } else {
                    u.host.clone()
                };
                format!("{scheme}://{host}:{}{next}", u.port)
            } else {
                next.to_string()
            };
            continue;
        }
        if !status.is_success() {
            return Err(err(format!("HTTP {status}")));
        }
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let tmp = dest.with_extension(format!("part-{}", std::process::id()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
            let mut body = resp.into_body();
            loop {
                let frame = tokio::time::timeout(STALL_TIMEOUT, body.frame())
                    .await
                    .map_err(|_| format!("no data for {}s", STALL_TIMEOUT.as_secs()))?;
                let Some(frame) = frame else { break };
                let frame = frame.map_err(|e| e.to_string())?;
                if let Ok(data) = frame.into_data() {
                    file.write_all(&data)
                        .await
                        .map_err(|e| format!("{}: {e}", tmp.display()))?;
                }
            }
            file.sync_all()
                .await
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, dest).map_err(|e| format!("{}: {e}", dest.display()))
        }
        .await;
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        return result.map_err(err);
    }
    Err(err(format!("more than {MAX_REDIRECTS} redirects")))
}

type Body = http_body_util::Empty<bytes::Bytes>;

/// One GET over a fresh connection (TLS verified against the system's roots for https).
async fn get(u: &Url) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((u.host.as_str(), u.port)),
    )
    .await
    .map_err(|_| format!("connect to {}:{} timed out", u.host, u.port))?
    .map_err(|e| format!("connect to {}:{}: {e}", u.host, u.port))?;
    let host_header = if u.host.contains(':') {
        format!("[{}]:{}", u.host, u.port)
    } else {
        format!("{}:{}", u.host, u.port)
    };
    let req = hyper::Request::get(&u.path)
        .header(hyper::header::HOST, host_header)
        .header(hyper::header::USER_AGENT, "seal-install")
        .body(Body::new())
        .map_err(|e| e.to_string())?;
    if u.tls {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(u.host.clone())
            .map_err(|e| format!("{}: {e}", u.host))?;
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        send(hyper_util::rt::TokioIo::new(tls), req).await
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), req).await
    }
}

async fn send<T>(
    io: T,
    req: hyper::Request<Body>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    tokio::time::timeout(CONNECT_TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| "no response".to_string())?
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://10.0.0.1:8080/pkg/kube.tar.gz"),
            Ok(Url {
                tls: false,
                host: "10.0.0.1".into(),
                port: 8080,
                path: "/pkg/kube.tar.gz".into()
            })
        );
        let u = parse_url("https://[fd00::1]/k.tgz").expect("v6");
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "fd00::1", 443));
        assert_eq!(parse_url("https://example.com").expect("bare").path, "/");
        assert!(parse_url("ftp://x/y").is_err());
        assert!(parse_url("http://u:p@x/y").is_err());
        assert!(parse_url("http://x:port/y").is_err());
    }

    #[test]
    fn checksum_files() {
        let sum = "a".repeat(64);
        assert_eq!(
            parse_checksum(&format!("{sum}  kube.tar.gz\n")),
            Some(sum.clone())
        );
        assert_eq!(parse_checksum(&sum.to_uppercase()), Some(sum));
        assert_eq!(parse_checksum("not a sum"), None);
        assert_eq!(parse_checksum(""), None);
        assert_eq!(
            checksum_file_of(Path::new("/root/kube.tar.gz")),
            PathBuf::from("/root/kube.tar.gz.sha256")
        );
    }

    #[tokio::test]
    async fn local_package_is_checked_against_the_file_beside_it() {
        let dir = std::env::temp_dir().join(format!("seal-pkg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let pkg = dir.join("kube.tar.gz");
        std::fs::write(&pkg, b"package bytes").expect("write");
        let real = crate::ssh::sha256_file(&pkg).expect("sum");
        // No checksum anywhere: used, not verified.
        let p = prepare(&PackageSource::File(pkg.clone()), None, &dir)
            .await
            .expect("unverified");
        assert_eq!((p.sha256.as_str(), p.verified_by), (real.as_str(), None));
        // A wrong sum beside it is refused, naming both sums and the file.
        let wrong = "0".repeat(64);
        std::fs::write(checksum_file_of(&pkg), format!("{wrong}  kube.tar.gz\n")).expect("sum");
        let e = prepare(&PackageSource::File(pkg.clone()), None, &dir)
            .await
            .expect_err("mismatch")
            .to_string();
        assert!(
            e.contains(&real) && e.contains(&wrong) && e.contains(".sha256"),
            "{e}"
        );
        // --pkg-sha256 takes precedence over the file.
        let p = prepare(&PackageSource::File(pkg.clone()), Some(&real), &dir)
            .await
            .expect("flag wins");
        assert_eq!(p.verified_by.as_deref(), Some("--pkg-sha256"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn download_over_http_is_verified() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let body = b"the package".to_vec();
        let served = body.clone();
        tokio::spawn(async move {
            // A redirect, then the file twice (the second run re-downloads: a wrong sum has no cache hit).
            for i in 0..3 {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let resp = if i == 0 {
                    b"HTTP/1.1 302 Found\r\nLocation: /real.tgz\r\nContent-Length: 0\r\n\r\n"
                        .to_vec()
                } else {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        served.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&served);
                    r
                };
                let _ = s.write_all(&resp).await;
            }
        });
        let dir = std::env::temp_dir().join(format!("seal-dl-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sum = {
            use sha2::Digest;
            sha2::Sha256::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let url = format!("http://127.0.0.1:{port}/kube.tgz");
        let p = prepare(&PackageSource::Url(url.clone()), Some(&sum), &dir)
            .await
            .expect("download");
        assert_eq!(std::fs::read(&p.path).expect("read"), body);
        assert_eq!(p.sha256, sum);
        // A wrong expected sum: refused, nothing left in the cache under that name.
        let wrong = "f".repeat(64);
        let e = prepare(&PackageSource::Url(url), Some(&wrong), &dir)
            .await
            .expect_err("mismatch");
        assert!(matches!(e, PackageError::Mismatch { .. }), "{e}");
        assert!(!dir.join(format!("{wrong}.tar.gz")).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
