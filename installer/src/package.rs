//! The offline package: fetched (http/https) or found locally, then checked against its SHA-256
//! before any host sees it.
//!
//! The expected sum is `--pkg-sha256`, else the `PACKAGE.sha256` file beside a local package
//! (first word, as `sha256sum` writes it). A package with neither is used as it is, and the run
//! says so once. Downloads go to `~/.seal/packages/<sha256>.tar.gz`, so a re-run fetches nothing.
//! Then its listing is read through (`contents`): a right sum only says it is the package meant,
//! not that it is whole or safe to unpack as root.

pub mod contents;

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
    /// The gzip or tar stream is cut short or damaged.
    #[error("{}: the package is truncated or corrupt ({detail}); nothing was sent to any host: download or copy it again, or rebuild it", path.display())]
    Corrupt {
        /// The package.
        path: PathBuf,
        /// What the gzip or tar reader said.
        detail: String,
    },
    /// An entry would unpack outside `kube/`, or is a device or fifo.
    #[error("{}: entry {entry:?} {problem}; nothing was sent to any host: a package may hold only kube/ (files, folders and links that stay inside it), rebuild it (e.g. `tar -czf PACKAGE kube`)", path.display())]
    UnsafeEntry {
        /// The package.
        path: PathBuf,
        /// The entry's name as the archive has it.
        entry: String,
        /// What is wrong with it.
        problem: contents::EntryProblem,
    },
    /// `kube/shell/init.sh` is missing (or not a file).
    #[error("{}: no {} file in it, which every host runs to set itself up; nothing was sent to any host: this is not a seal-install package, or it was built without kube/shell/: rebuild it", path.display(), contents::INIT_SH)]
    NoInitSh {
        /// The package.
        path: PathBuf,
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

/// Resolves and verifies the package, then checks what it holds; `cache` is where downloads
/// are kept.
pub async fn prepare(
    source: &PackageSource,
    expected: Option<&str>,
    cache: &Path,
) -> Result<Package, PackageError> {
    let package = locate(source, expected, cache).await?;
    let path = package.path.clone();
    let started = std::time::Instant::now();
    // Reading hundreds of MB through gzip is blocking work: off the runtime's threads.
    let listed = tokio::task::spawn_blocking(move || contents::check(&path))
        .await
        .map_err(|e| PackageError::Read {
            path: package.path.clone(),
            source: std::io::Error::other(format!("the contents check stopped: {e}")),
        })??;
    tracing::debug!(
        package = %package.path.display(),
        entries = listed.entries,
        tar_bytes = listed.tar_bytes,
        took = ?started.elapsed(),
        "package contents checked"
    );
    Ok(package)
}

/// The local file of the package, its sum compared with the expected one.
async fn locate(
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
            let actual = crate::ssh::sha256_file_async(path)
                .await
                .map_err(|source| PackageError::Read {
                    path: path.clone(),
                    source,
                })?;
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

impl From<&url::Url> for Url {
    fn from(u: &url::Url) -> Url {
        Url {
            tls: u.scheme() == "https",
            host: match u.host() {
                Some(url::Host::Ipv6(a)) => a.to_string(),
                Some(h) => h.to_string(),
                None => String::new(),
            },
            port: u.port_or_known_default().unwrap_or_default(),
            path: u[url::Position::BeforePath..url::Position::AfterQuery].to_string(),
        }
    }
}

/// Splits `http(s)://host[:port]/path`.
pub fn parse_url(url: &str) -> Result<Url, String> {
    http_url(url).map(|u| Url::from(&u))
}

/// Parses an http(s) URL, refusing other schemes and credentials (there is no way to keep
/// them out of logs and the cluster file).
fn http_url(url: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("only http:// and https:// URLs are supported".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials in the URL are not supported".into());
    }
    if u.host().is_none() {
        return Err("no host in the URL".into());
    }
    Ok(u)
}

/// Limit for the TCP connect, and again for the response headers to arrive.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A download fails when no byte arrives for this long.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 5;

type Body = http_body_util::Empty<bytes::Bytes>;
type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Body,
>;

/// Fetches `url` into `dest` (temp file + rename), following redirects (absolute or relative).
async fn download(url: &str, dest: &Path) -> Result<(), PackageError> {
    let err = |detail: String| PackageError::Download {
        url: url.to_string(),
        detail,
    };
    let client = client().map_err(&err)?;
    let mut current = http_url(url).map_err(&err)?;
    for _ in 0..=MAX_REDIRECTS {
        let resp = get(&client, &current).await.map_err(&err)?;
        let status = resp.status();
        if status.is_redirection() {
            let next = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| err(format!("HTTP {status} without a Location")))?;
            let next = current
                .join(next)
                .map_err(|e| err(format!("HTTP {status} with a bad Location {next:?}: {e}")))?;
            current =
                http_url(next.as_str()).map_err(|e| err(format!("redirect to {next}: {e}")))?;
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

/// An http(s) client (TLS verified against the system's roots) that opens a fresh connection
/// for every request: a download makes one, or a few when redirected.
fn client() -> Result<HttpClient, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(https),
    )
}

/// One GET; connection, TLS and response errors name the host and what failed.
async fn get(
    client: &HttpClient,
    url: &url::Url,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let u = Url::from(url);
    let req = hyper::Request::get(url.as_str())
        .header(hyper::header::USER_AGENT, "seal-install")
        .body(Body::new())
        .map_err(|e| e.to_string())?;
    let limit = 2 * CONNECT_TIMEOUT;
    match tokio::time::timeout(limit, client.request(req)).await {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(e)) if e.is_connect() => {
            Err(format!("connect to {}:{}: {}", u.host, u.port, causes(&e)))
        }
        Ok(Err(e)) => Err(causes(&e)),
        Err(_) => Err(format!("no response within {}s", limit.as_secs())),
    }
}

/// The messages of an error's causes, outermost first, without hyper's generic top line.
fn causes(e: &hyper_util::client::legacy::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
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
        std::fs::write(&pkg, contents::testing::good()).expect("write");
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
        // The right sum of a package that is no gzip: refused after the sum matched.
        std::fs::write(&pkg, b"package bytes").expect("write");
        let sum = crate::ssh::sha256_file(&pkg).expect("sum");
        let e = prepare(&PackageSource::File(pkg.clone()), Some(&sum), &dir)
            .await
            .expect_err("not a package");
        assert!(matches!(e, PackageError::Corrupt { .. }), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn download_over_http_is_verified() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let body = contents::testing::good();
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

    #[tokio::test]
    async fn relative_redirects_resolve_against_the_current_url() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let body = contents::testing::good();
        let served = body.clone();
        let server = tokio::spawn(async move {
            // Two relative redirects (a sibling path, then one with `..`), then the file; each
            // request line is kept so the test can check where the client went.
            let mut requested = Vec::new();
            for i in 0..3 {
                let Ok((mut s, _)) = listener.accept().await else {
                    break;
                };
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                requested.push(head.lines().next().unwrap_or_default().to_string());
                let resp = match i {
                    0 => b"HTTP/1.1 301 Moved Permanently\r\nLocation: mirror/kube.tgz\r\nContent-Length: 0\r\n\r\n".to_vec(),
                    1 => b"HTTP/1.1 302 Found\r\nLocation: ../final.tgz?v=2\r\nContent-Length: 0\r\n\r\n".to_vec(),
                    _ => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                            served.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&served);
                        r
                    }
                };
                let _ = s.write_all(&resp).await;
            }
            requested
        });
        let dir = std::env::temp_dir().join(format!("seal-dl-rel-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let expected = dir.join("expected");
        std::fs::write(&expected, &body).expect("write");
        let sum = crate::ssh::sha256_file(&expected).expect("sum");
        let url = format!("http://127.0.0.1:{port}/pkg/kube.tgz");
        let p = prepare(&PackageSource::Url(url), Some(&sum), &dir)
            .await
            .expect("download through relative redirects");
        assert_eq!(std::fs::read(&p.path).expect("read"), body);
        let requested = server.await.expect("server");
        assert_eq!(
            requested,
            [
                "GET /pkg/kube.tgz HTTP/1.1",
                "GET /pkg/mirror/kube.tgz HTTP/1.1",
                "GET /pkg/final.tgz?v=2 HTTP/1.1",
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
