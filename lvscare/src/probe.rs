//! Health probes of real servers: HTTPS, HTTP or plain TCP connect.
//!
//! One [`Prober`] per real server keeps a single HTTP/1.1 keep-alive connection and reuses it:
//! a request on an open TLS connection costs an apiserver next to nothing, while a fresh TLS
//! handshake per probe from every node every second would not. The connection is dropped after
//! any failure and rebuilt on the next probe.
//!
//! Each network wait has its own limit rather than one budget for the whole probe. The connect
//! and the answer to a request get the probe timeout: a blackholed or powered-off master never
//! completes the connect, a hung one never answers, so both are caught as fast as before. A new
//! connection's TLS handshake gets the longer handshake limit (the interval): it is the CPU-heavy
//! part, and a master that completed the TCP connect is up but perhaps busy. Failing it for
//! being slow would take busy masters out exactly when load is high and pile their load onto
//! the others (a lvscare on a loaded test VM did that at start-up with one 350 ms budget).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderMap, CONNECTION, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// Health path probed when none is configured (the apiserver's).
pub const DEFAULT_PATH: &str = "/healthz";

/// Value of the `User-Agent` header of every probe request.
const AGENT: &str = "lvscare";

/// Body bytes read and discarded per response; a longer body costs the connection instead.
const MAX_BODY: usize = 64 * 1024;

/// How a real server is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// HTTPS GET of the health path.
    Https,
    /// Plain HTTP GET of the health path.
    Http,
    /// A TCP connect only.
    Tcp,
}

/// What to probe and how to judge the answer; shared by the probers of all real servers.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Protocol of the probe.
    pub scheme: Scheme,
    /// Path (and optional query) of the GET request, e.g. `/healthz`.
    pub path: String,
    /// Limit of the connect and of the answer to each request; keep it below the interval.
    pub timeout: Duration,
    /// Limit of a new connection's TLS handshake (HTTPS only); the daemon gives it the interval.
    pub handshake_timeout: Duration,
    /// Statuses of 400 and above that still count as healthy (`--health-status`).
    pub extra_healthy: Vec<u16>,
    /// How the server certificate is checked (HTTPS only).
    pub tls: TlsMode,
}

impl ProbeConfig {
    /// Whether an HTTP answer with `status` means the server is healthy.
    pub fn is_healthy_status(&self, status: u16) -> bool {
        status < 400 || self.extra_healthy.contains(&status)
    }

    /// Checks the parts a probe cannot fix on its own, so that bad flags fail at start-up.
    pub fn validate(&self) -> Result<(), ProbeError> {
        if self.timeout.is_zero() || self.handshake_timeout.is_zero() {
            return Err(ProbeError::ZeroTimeout);
        }
        if self.scheme != Scheme::Tcp {
            request_path(&self.path).map_err(ProbeError::BadPath)?;
        }
        Ok(())
    }
}

/// How the server certificate of an HTTPS probe is checked.
#[derive(Debug, Clone)]
pub enum TlsMode {
    /// Verify the chain with this configuration (see [`load_ca`]) and the name as the target's IP.
    Verify(Arc<ClientConfig>),
    /// Accept any certificate, as the older tool did by default; the handshake is still signed.
    InsecureSkipVerify,
}

/// A configuration error, reported once at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The CA file could not be read.
    #[error("cannot read CA file {}: {source}", path.display())]
    CaRead {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        source: io::Error,
    },
    /// The CA file is not well-formed PEM.
    #[error("CA file {} is not valid PEM: {reason}", path.display())]
    CaPem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser found wrong.
        reason: String,
    },
    /// The CA file holds no `CERTIFICATE` block.
    #[error("CA file {} contains no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    CaEmpty {
        /// The file.
        path: PathBuf,
    },
    /// A certificate in the CA file cannot serve as a trust anchor.
    #[error("CA file {}: certificate #{index} is unusable: {reason}", path.display())]
    CaCert {
        /// The file.
        path: PathBuf,
        /// 1-based position of the certificate in the file.
        index: usize,
        /// Why it was rejected.
        reason: String,
    },
    /// rustls refused the client configuration.
    #[error("building the TLS client configuration: {0}")]
    TlsConfig(String),
    /// The health path cannot be sent as an HTTP request target.
    #[error("invalid health path: {0}")]
    BadPath(String),
    /// A zero timeout would fail every probe.
    #[error("the probe timeout must be greater than zero")]
    ZeroTimeout,
}

/// Why one probe found a real server unhealthy; `Display` is a short reason for one log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFailure {
    /// Nothing listens on the port (RST to the SYN): the server is down.
    #[error("connection refused")]
    Refused,
    /// A step of the probe did not finish within its limit (blackholed, hung or stuck server).
    #[error("{step} timed out after {}", ShortDuration(*.after))]
    Timeout {
        /// The step that stalled.
        step: Step,
        /// Its limit.
        after: Duration,
    },
    /// The TLS handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server answered with an unhealthy status.
    #[error("HTTP {0}")]
    Status(u16),
    /// A socket error other than refusal (reset, unreachable, closed early...).
    #[error("{0}")]
    Io(String),
    /// The server's answer was not valid HTTP/1.1.
    #[error("HTTP: {0}")]
    Protocol(String),
    /// The probe cannot be sent at all (invalid path or TLS configuration).
    #[error("probe misconfigured: {0}")]
    Config(String),
}

/// A network wait within one probe, each with its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The TCP connect.
    Connect,
    /// The TLS handshake of a new connection.
    TlsHandshake,
    /// The answer to the health request.
    Answer,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Connect => "connect",
            Step::TlsHandshake => "TLS handshake",
            Step::Answer => "request",
        })
    }
}

/// `fut`, or a [`ProbeFailure::Timeout`] of `step` if it takes longer than `limit`.
async fn within<F: std::future::Future>(
    step: Step,
    limit: Duration,
    fut: F,
) -> Result<F::Output, ProbeFailure> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| ProbeFailure::Timeout { step, after: limit })
}

/// Reads a PEM CA bundle (e.g. `/etc/kubernetes/pki/ca.crt`) into a verifying [`TlsMode`].
pub fn load_ca(path: &Path) -> Result<TlsMode, ProbeError> {
    let pem = std::fs::read(path).map_err(|source| ProbeError::CaRead {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProbeError::CaPem {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ProbeError::CaEmpty {
            path: path.to_owned(),
        });
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| ProbeError::CaCert {
            path: path.to_owned(),
            index: i + 1,
            reason: e.to_string(),
        })?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::TlsConfig(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    only_http1(&mut config);
    Ok(TlsMode::Verify(Arc::new(config)))
}

/// Probes one real server, keeping one connection to it open between probes.
pub struct Prober {
    target: SocketAddr,
    cfg: Arc<ProbeConfig>,
    /// Built once: `None` unless the scheme is HTTPS.
    tls: Option<Result<TlsConnector, String>>,
    /// The kept-alive connection, absent after a failure until the next probe rebuilds it.
    conn: Option<Conn>,
}

impl fmt::Debug for Prober {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prober")
            .field("target", &self.target)
            .field("scheme", &self.cfg.scheme)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl Prober {
    /// A prober of `target`; it connects lazily, on the first probe.
    pub fn new(target: SocketAddr, cfg: Arc<ProbeConfig>) -> Self {
        let tls = (cfg.scheme == Scheme::Https).then(|| tls_connector(&cfg.tls));
        Prober {
            target,
            cfg,
            tls,
            conn: None,
        }
    }

    /// The real server this prober checks.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Probes once, each step within its limit; `Ok` means healthy. Runs inside a tokio runtime.
    ///
    /// The kept-alive connection is taken out for the probe and put back only after a healthy
    /// answer, so a request still in flight after a timeout is never read as the next one's.
    pub async fn probe(&mut self) -> Result<(), ProbeFailure> {
        let limit = self.cfg.timeout;
        if self.cfg.scheme == Scheme::Tcp {
            // The connect is the whole check; dropping the stream closes it at once.
            within(Step::Connect, limit, TcpStream::connect(self.target))
                .await?
                .map_err(connect_failure)?;
            return Ok(());
        }
        let path = request_path(&self.cfg.path).map_err(ProbeFailure::Config)?;
        if let Some(mut conn) = self.conn.take() {
            // The server may have closed the idle connection a moment ago; that says nothing
            // about its health, so such a failure is retried once on a fresh connection. A
            // timeout is not retried: a blackholed master must cost one limit, not two.
            match within(
                Step::Answer,
                limit,
                exchange(&mut conn, self.request(&path)?),
            )
            .await?
            {
                Ok(answer) => return self.conclude(conn, answer),
                Err(e) => {
                    tracing::debug!(server = %self.target, "kept-alive connection failed ({e}); reconnecting");
                }
            }
        }
        let mut conn = self.connect().await?;
        let answer = within(
            Step::Answer,
            limit,
            exchange(&mut conn, self.request(&path)?),
        )
        .await??;
        self.conclude(conn, answer)
    }

    fn request(&self, path: &str) -> Result<Request<Empty<Bytes>>, ProbeFailure> {
        Request::get(path)
            .header(HOST, host_header(self.target))
            .header(USER_AGENT, AGENT)
            .body(Empty::new())
            .map_err(|e| ProbeFailure::Config(e.to_string()))
    }

    /// Judges the status, keeping the connection only after a healthy answer: whatever made the
    /// server fail may involve the connection, so a failing server is retried afresh.
    fn conclude(&mut self, conn: Conn, answer: Answer) -> Result<(), ProbeFailure> {
        if !self.cfg.is_healthy_status(answer.status) {
            return Err(ProbeFailure::Status(answer.status));
        }
        if answer.reusable {
            self.conn = Some(conn);
        }
        Ok(())
    }

    async fn connect(&self) -> Result<Conn, ProbeFailure> {
        let tcp = within(
            Step::Connect,
            self.cfg.timeout,
            TcpStream::connect(self.target),
        )
        .await?
        .map_err(connect_failure)?;
        // Requests are tiny: sending them at once beats waiting for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp).await,
            Some(Err(e)) => Err(ProbeFailure::Config(e.clone())),
            Some(Ok(connector)) => {
                // Apiserver certificates carry the masters' addresses as IP SANs.
                let name = ServerName::IpAddress(self.target.ip().into());
                let tls = within(
                    Step::TlsHandshake,
                    self.cfg.handshake_timeout,
                    connector.connect(name, tcp),
                )
                .await?
                .map_err(|e| tls_failure(e, self.target.ip()))?;
                handshake(tls).await
            }
        }
    }
}

/// A kept-alive HTTP/1.1 connection and the task that drives it.
struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    _driver: AbortOnDrop,
}

/// Stops the connection task when the connection is given up, so no socket outlives it.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What one request got back.
struct Answer {
    status: u16,
    /// Whether the connection can carry another request.
    reusable: bool,
}

async fn handshake<S>(io: S) -> Result<Conn, ProbeFailure>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(http_failure)?;
    // The task notices a server-side close between probes; its errors surface via `sender`.
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Conn {
        sender,
        _driver: AbortOnDrop(driver),
    })
}

async fn exchange(conn: &mut Conn, req: Request<Empty<Bytes>>) -> Result<Answer, ProbeFailure> {
    conn.sender.ready().await.map_err(http_failure)?;
    let response = conn.sender.send_request(req).await.map_err(http_failure)?;
    let status = response.status().as_u16();
    let closing = asks_to_close(response.headers());
    // The body must be consumed before the connection can carry the next request.
    let drained = drain(response.into_body()).await;
    Ok(Answer {
        status,
        reusable: drained && !closing,
    })
}

/// Reads and discards a body; false if it was cut off or longer than [`MAX_BODY`].
async fn drain(mut body: Incoming) -> bool {
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                seen += frame.data_ref().map_or(0, Bytes::len);
                if seen > MAX_BODY {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

fn asks_to_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("close"))
}

/// The request target for a configured health path; a missing leading `/` is supplied.
fn request_path(path: &str) -> Result<String, String> {
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    match path.parse::<hyper::Uri>() {
        Ok(uri) if uri.scheme().is_none() && uri.authority().is_none() => Ok(path),
        Ok(_) => Err(format!("{path:?} is not a path")),
        Err(e) => Err(format!("{path:?}: {e}")),
    }
}

/// `Host:` value for a target: `10.0.0.1:6443` or `[fd00::1]:6443`.
fn host_header(target: SocketAddr) -> String {
    match target {
        SocketAddr::V4(a) => a.to_string(),
        // A scope id (`%eth0`) is meaningless to the server and not valid in a Host header.
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

fn connect_failure(e: io::Error) -> ProbeFailure {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        ProbeFailure::Refused
    } else {
        io_failure(&e)
    }
}

fn io_failure(e: &io::Error) -> ProbeFailure {
    use io::ErrorKind::*;
    let reason = match e.kind() {
        ConnectionRefused => return ProbeFailure::Refused,
        ConnectionReset => "connection reset",
        ConnectionAborted => "connection aborted",
        BrokenPipe => "connection closed (broken pipe)",
        UnexpectedEof => "connection closed by the server",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        AddrNotAvailable => "address not available",
        _ => return ProbeFailure::Io(e.to_string()),
    };
    ProbeFailure::Io(reason.to_owned())
}

fn http_failure(e: hyper::Error) -> ProbeFailure {
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<io::Error>() {
            return io_failure(io);
        }
        source = inner.source();
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        ProbeFailure::Io("connection closed by the server".to_owned())
    } else {
        ProbeFailure::Protocol(e.to_string())
    }
}

fn tls_failure(e: io::Error, ip: IpAddr) -> ProbeFailure {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(cert)) => {
            ProbeFailure::Tls(certificate_reason(cert, ip))
        }
        Some(other) => ProbeFailure::Tls(other.to_string()),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            ProbeFailure::Tls("connection closed during the handshake".to_owned())
        }
        None => io_failure(&e),
    }
}

/// A short reason for a rejected server certificate, naming the address it was checked against.
fn certificate_reason(e: &CertificateError, ip: IpAddr) -> String {
    match e {
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("certificate not valid for {ip}")
        }
        CertificateError::UnknownIssuer => "certificate signed by an unknown authority".to_owned(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "certificate expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate not yet valid".to_owned()
        }
        other => format!("invalid certificate: {other}"),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The probe speaks HTTP/1.1 only; offering h2 could get it chosen.
fn only_http1(config: &mut ClientConfig) {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
}

fn tls_connector(mode: &TlsMode) -> Result<TlsConnector, String> {
    let config = match mode {
        TlsMode::Verify(config) => Arc::clone(config),
        TlsMode::InsecureSkipVerify => {
            let provider = provider();
            let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SkipCertVerification(provider)))
                .with_no_client_auth();
            only_http1(&mut config);
            Arc::new(config)
        }
    };
    Ok(TlsConnector::from(config))
}

/// Accepts any server certificate but still checks the handshake signature made with its key.
#[derive(Debug)]
struct SkipCertVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for SkipCertVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Formats `700ms`, `2s`, `1500ms`: the form people write in flags.
struct ShortDuration(Duration);

impl fmt::Display for ShortDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.as_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{d:?}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &[u16]) -> ProbeConfig {
        ProbeConfig {
            scheme: Scheme::Https,
            path: DEFAULT_PATH.to_owned(),
            timeout: Duration::from_millis(700),
            handshake_timeout: Duration::from_secs(1),
            extra_healthy: extra.to_vec(),
            tls: TlsMode::InsecureSkipVerify,
        }
    }

    #[test]
    fn statuses_below_400_or_listed_are_healthy() {
        let c = cfg(&[500, 401]);
        assert!(c.is_healthy_status(200));
        assert!(c.is_healthy_status(302));
        assert!(c.is_healthy_status(399));
        assert!(!c.is_healthy_status(400));
        assert!(!c.is_healthy_status(404));
        assert!(c.is_healthy_status(401));
        assert!(c.is_healthy_status(500));
        assert!(!c.is_healthy_status(503));
    }

    #[test]
    fn failure_reasons_read_as_one_log_line() {
        assert_eq!(ProbeFailure::Refused.to_string(), "connection refused");
        let timeout = |step, after| ProbeFailure::Timeout { step, after };
        assert_eq!(
            timeout(Step::Connect, Duration::from_millis(700)).to_string(),
            "connect timed out after 700ms"
        );
        assert_eq!(
            timeout(Step::TlsHandshake, Duration::from_secs(10)).to_string(),
            "TLS handshake timed out after 10s"
        );
        assert_eq!(
            timeout(Step::Answer, Duration::from_millis(1500)).to_string(),
            "request timed out after 1500ms"
        );
        assert_eq!(ProbeFailure::Status(500).to_string(), "HTTP 500");
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let reason = certificate_reason(&CertificateError::NotValidForName, ip);
        assert_eq!(
            ProbeFailure::Tls(reason).to_string(),
            "TLS: certificate not valid for 127.0.0.1"
        );
    }

    #[test]
    fn host_header_brackets_ipv6_and_drops_scope() {
        assert_eq!(
            host_header("10.0.0.1:6443".parse().unwrap()),
            "10.0.0.1:6443"
        );
        assert_eq!(host_header("[::1]:6443".parse().unwrap()), "[::1]:6443");
        let scoped = SocketAddr::V6(std::net::SocketAddrV6::new(
            "fe80::1".parse().unwrap(),
            6443,
            0,
            2,
        ));
        assert_eq!(host_header(scoped), "[fe80::1]:6443");
    }

    #[test]
    fn health_path_is_normalised_and_checked() {
        assert_eq!(request_path("/healthz").unwrap(), "/healthz");
        assert_eq!(request_path("readyz").unwrap(), "/readyz");
        assert_eq!(request_path("").unwrap(), "/");
        assert_eq!(request_path("/livez?verbose").unwrap(), "/livez?verbose");
        assert!(request_path("/has space").is_err());
    }

    #[test]
    fn validate_rejects_zero_timeout_and_bad_path() {
        let mut c = cfg(&[]);
        assert!(c.validate().is_ok());
        c.path = "/bad path".to_owned();
        assert!(matches!(c.validate(), Err(ProbeError::BadPath(_))));
        c.scheme = Scheme::Tcp;
        assert!(c.validate().is_ok(), "TCP probes send no path");
        c.timeout = Duration::ZERO;
        assert!(matches!(c.validate(), Err(ProbeError::ZeroTimeout)));
    }

    #[test]
    fn connection_close_is_recognised_among_tokens() {
        let mut h = HeaderMap::new();
        assert!(!asks_to_close(&h));
        h.insert(CONNECTION, "keep-alive".parse().unwrap());
        assert!(!asks_to_close(&h));
        h.insert(CONNECTION, "Upgrade, Close".parse().unwrap());
        assert!(asks_to_close(&h));
    }

    #[test]
    fn io_errors_map_to_short_reasons() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(connect_failure(refused), ProbeFailure::Refused);
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(connect_failure(reset).to_string(), "connection reset");
    }
}
