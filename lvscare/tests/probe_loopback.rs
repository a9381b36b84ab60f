//! Health probes against real servers on loopback (127.0.0.1 and ::1): plain TCP, HTTP and
//! HTTPS with rcgen-made certificates, hung and closed ports, and connection reuse counted on
//! the server side.

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use lvscare::probe::{
    load_ca, ProbeConfig, ProbeError, ProbeFailure, Prober, Scheme, Step, TlsMode, DEFAULT_PATH,
};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
/// Short, so hung-server tests are quick; long enough for a debug-build TLS handshake.
const SHORT: Duration = Duration::from_millis(200);
/// Generous bound for waits that must finish; only reached if something is broken.
const PATIENCE: Duration = Duration::from_secs(10);

// ---------- certificates ----------

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn make_ca(name: &str) -> Ca {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

fn ip_sans() -> Vec<SanType> {
    vec![SanType::IpAddress(V4), SanType::IpAddress(V6)]
}

fn leaf_params(sans: Vec<SanType>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    params.subject_alt_names = sans;
    params
}

/// A server certificate signed by `ca`, with the given subject alternative names.
fn leaf(ca: &Ca, sans: Vec<SanType>) -> Arc<ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params(sans)
        .signed_by(&key, &ca.cert, &ca.key)
        .unwrap();
    server_config(cert.der().clone(), &key)
}

/// A self-signed server certificate, as a quick test setup would have.
fn self_signed() -> Arc<ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params(ip_sans()).self_signed(&key).unwrap();
    server_config(cert.der().clone(), &key)
}

fn server_config(cert: CertificateDer<'static>, key: &KeyPair) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
    Arc::new(config)
}

/// Writes `contents` to a file of its own under the test scratch directory.
fn scratch_file(name: &str, contents: &[u8]) -> PathBuf {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("probe-{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

fn ca_mode(ca: &Ca) -> TlsMode {
    let path = scratch_file("ca.crt", ca.cert.pem().as_bytes());
    load_ca(&path).unwrap()
}

// ---------- a small HTTP/1.1 server ----------

#[derive(Clone)]
struct Spec {
    ip: IpAddr,
    tls: Option<Arc<ServerConfig>>,
    /// Status answered on /healthz; other paths get 404.
    status: u16,
    /// Accept connections but never read or answer.
    silent: bool,
    /// Answer with `Connection: close` and close after each response.
    close_each: bool,
    /// Bytes of body per response.
    body_len: usize,
    /// Close with RST (SO_LINGER 0) rather than FIN, as a killed process's kernel would.
    reset_on_close: bool,
    /// Stop answering on a connection after this many responses.
    hang_after: Option<usize>,
    /// Wait this long before the TLS handshake, as a CPU-starved server would.
    handshake_delay: Duration,
}

impl Spec {
    fn http(ip: IpAddr) -> Self {
        Spec {
            ip,
            tls: None,
            status: 200,
            silent: false,
            close_each: false,
            body_len: 2,
            reset_on_close: false,
            hang_after: None,
            handshake_delay: Duration::ZERO,
        }
    }

    fn https(ip: IpAddr, tls: Arc<ServerConfig>) -> Self {
        Spec {
            tls: Some(tls),
            ..Spec::http(ip)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    path: String,
    host: Option<String>,
    user_agent: Option<String>,
}

struct Server {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Seen>>>,
    /// Bumped to make every open connection close.
    drop_all: watch::Sender<u64>,
    /// Number of connections the server has finished with.
    closed: watch::Receiver<usize>,
    listener: JoinHandle<()>,
}

impl Server {
    async fn start(spec: Spec) -> Server {
        let listener = TcpListener::bind(SocketAddr::new(spec.ip, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (drop_all, drop_rx) = watch::channel(0u64);
        let (closed_tx, closed) = watch::channel(0usize);
        let closed_tx = Arc::new(closed_tx);
        let task = {
            let accepts = Arc::clone(&accepts);
            let requests = Arc::clone(&requests);
            tokio::spawn(async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    accepts.fetch_add(1, Ordering::SeqCst);
                    if spec.reset_on_close {
                        tcp.set_zero_linger().unwrap();
                    }
                    let spec = spec.clone();
                    let requests = Arc::clone(&requests);
                    let mut drop_rx = drop_rx.clone();
                    // Only bumps after this accept concern this connection.
                    drop_rx.borrow_and_update();
                    let closed_tx = Arc::clone(&closed_tx);
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = serve(tcp, &spec, &requests) => {}
                            _ = drop_rx.changed() => {}
                        }
                        closed_tx.send_modify(|n| *n += 1);
                    });
                }
            })
        };
        Server {
            addr,
            accepts,
            requests,
            drop_all,
            closed,
            listener: task,
        }
    }

    fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<Seen> {
        self.requests.lock().unwrap().clone()
    }

    /// Closes every open connection and waits until the server side has let go of them.
    async fn drop_connections(&mut self) {
        let open = self.accepts();
        self.drop_all.send_modify(|g| *g += 1);
        self.wait_closed(open).await;
    }

    async fn wait_closed(&mut self, n: usize) {
        tokio::time::timeout(PATIENCE, self.closed.wait_for(|c| *c >= n))
            .await
            .expect("server connections did not close")
            .unwrap();
    }

    /// Stops listening; once this returns, connecting to the port is refused.
    async fn stop_listening(&mut self) {
        self.listener.abort();
        let _ = (&mut self.listener).await;
    }
}

async fn serve(tcp: TcpStream, spec: &Spec, requests: &Mutex<Vec<Seen>>) {
    if spec.silent {
        // Hold the socket open and say nothing, like a hung apiserver.
        std::future::pending::<()>().await;
    }
    match &spec.tls {
        None => answer(tcp, spec, requests).await,
        Some(config) => {
            tokio::time::sleep(spec.handshake_delay).await;
            if let Ok(tls) = TlsAcceptor::from(Arc::clone(config)).accept(tcp).await {
                answer(tls, spec, requests).await;
            }
        }
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    spec: &Spec,
    requests: &Mutex<Vec<Seen>>,
) {
    let mut buf = Vec::new();
    for answered in 0.. {
        if spec.hang_after == Some(answered) {
            std::future::pending::<()>().await;
        }
        let Some(head) = read_head(&mut stream, &mut buf).await else {
            if buf.first() == Some(&0x16) {
                // A TLS ClientHello on the plain port: answer as a real HTTP server does.
                let _ = write_all(&mut stream, b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
            return;
        };
        let seen = parse_head(&head);
        let status = if seen.path == DEFAULT_PATH {
            spec.status
        } else {
            404
        };
        requests.lock().unwrap().push(seen);
        let connection = if spec.close_each {
            "Connection: close\r\n"
        } else {
            ""
        };
        let mut response = format!(
            "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\n{connection}\r\n",
            spec.body_len
        )
        .into_bytes();
        response.resize(response.len() + spec.body_len, b'x');
        if write_all(&mut stream, &response).await.is_err() || spec.close_each {
            return;
        }
    }
}

/// Reads one request head (GET requests carry no body); None at end of stream.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return Some(head);
        }
        let mut chunk = [0u8; 4096];
        if buf.first() == Some(&0x16) {
            return None;
        }
        match read_some(stream, &mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn parse_head(head: &str) -> Seen {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let path = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut seen = Seen {
        path,
        host: None,
        user_agent: None,
    };
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = Some(value.trim().to_owned());
            match name.to_ascii_lowercase().as_str() {
                "host" => seen.host = value,
                "user-agent" => seen.user_agent = value,
                _ => {}
            }
        }
    }
    seen
}

async fn read_some<S: AsyncRead + Unpin>(stream: &mut S, chunk: &mut [u8]) -> io::Result<usize> {
    poll_fn(|cx| {
        let mut rb = ReadBuf::new(&mut *chunk);
        match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx)).await
}

// ---------- helpers ----------

fn config(scheme: Scheme, tls: TlsMode) -> Arc<ProbeConfig> {
    Arc::new(ProbeConfig {
        scheme,
        path: DEFAULT_PATH.to_owned(),
        timeout: Duration::from_secs(5),
        handshake_timeout: Duration::from_secs(5),
        extra_healthy: Vec::new(),
        tls,
    })
}

fn insecure() -> Arc<ProbeConfig> {
    config(Scheme::Https, TlsMode::InsecureSkipVerify)
}

/// A loopback port nothing listens on (bound, then released).
async fn closed_port(ip: IpAddr) -> SocketAddr {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
    listener.local_addr().unwrap()
}

fn assert_send<T: Send>(_: &T) {}

// ---------- status handling ----------

#[tokio::test]
async fn healthy_200_over_https_on_both_families() {
    let ca = make_ca("kubernetes");
    for ip in [V4, V6] {
        let server = Server::start(Spec::https(ip, leaf(&ca, ip_sans()))).await;
        let mut prober = Prober::new(server.addr, config(Scheme::Https, ca_mode(&ca)));
        let probe = prober.probe();
        assert_send(&probe);
        assert_eq!(probe.await, Ok(()), "{ip}");
        let expected_host = match ip {
            IpAddr::V4(_) => format!("127.0.0.1:{}", server.addr.port()),
            IpAddr::V6(_) => format!("[::1]:{}", server.addr.port()),
        };
        assert_eq!(
            server.requests(),
            vec![Seen {
                path: "/healthz".to_owned(),
                host: Some(expected_host),
                user_agent: Some("lvscare".to_owned()),
            }]
        );
    }
}

#[tokio::test]
async fn status_500_is_unhealthy_unless_listed() {
    let server = Server::start(Spec {
        status: 500,
        ..Spec::https(V4, self_signed())
    })
    .await;
    let mut plain = Prober::new(server.addr, insecure());
    let failure = plain.probe().await.unwrap_err();
    assert_eq!(failure, ProbeFailure::Status(500));
    assert_eq!(failure.to_string(), "HTTP 500");

    let mut cfg = (*insecure()).clone();
    cfg.extra_healthy = vec![503, 500];
    let mut tolerant = Prober::new(server.addr, Arc::new(cfg));
    assert_eq!(tolerant.probe().await, Ok(()));
}

#[tokio::test]
async fn wrong_path_gets_404() {
    let server = Server::start(Spec::https(V6, self_signed())).await;
    let mut cfg = (*insecure()).clone();
    cfg.path = "/nothing-here".to_owned();
    let mut prober = Prober::new(server.addr, Arc::new(cfg));
    assert_eq!(prober.probe().await, Err(ProbeFailure::Status(404)));
    assert_eq!(server.requests()[0].path, "/nothing-here");
}

// ---------- dead and hung servers ----------

#[tokio::test]
async fn closed_port_is_refused_for_every_scheme() {
    for ip in [V4, V6] {
        let addr = closed_port(ip).await;
        for scheme in [Scheme::Https, Scheme::Http, Scheme::Tcp] {
            let mut prober = Prober::new(addr, config(scheme, TlsMode::InsecureSkipVerify));
            let failure = prober.probe().await.unwrap_err();
            assert_eq!(failure, ProbeFailure::Refused, "{addr} {scheme:?}");
            assert_eq!(failure.to_string(), "connection refused");
        }
    }
}

#[tokio::test]
async fn server_that_accepts_but_never_answers_times_out() {
    // The step that stalls is named, with its own limit: a silent TLS server never finishes
    // the handshake; a silent HTTP server, or a TLS one that stops after it, never answers.
    let handshake = SHORT * 2;
    for ip in [V4, V6] {
        let cases = [
            (
                Scheme::Https,
                Some(self_signed()),
                true,
                Step::TlsHandshake,
                handshake,
            ),
            (
                Scheme::Https,
                Some(self_signed()),
                false,
                Step::Answer,
                SHORT,
            ),
            (Scheme::Http, None, true, Step::Answer, SHORT),
        ];
        for (scheme, tls, silent, step, after) in cases {
            let server = Server::start(Spec {
                silent,
                hang_after: Some(0),
                tls,
                ..Spec::http(ip)
            })
            .await;
            let mut cfg = (*config(scheme, TlsMode::InsecureSkipVerify)).clone();
            cfg.timeout = SHORT;
            cfg.handshake_timeout = handshake;
            let mut prober = Prober::new(server.addr, Arc::new(cfg));
            let failure = prober.probe().await.unwrap_err();
            assert_eq!(
                failure,
                ProbeFailure::Timeout { step, after },
                "{ip} {scheme:?}"
            );
            assert_eq!(server.accepts(), 1);
        }
    }
}

#[tokio::test]
async fn slow_tls_handshake_within_its_own_limit_is_healthy() {
    // A busy master that takes longer than the probe timeout to sign the handshake is up:
    // only the connect and the answer are held to the short limit.
    let server = Server::start(Spec {
        handshake_delay: SHORT * 3,
        ..Spec::https(V4, self_signed())
    })
    .await;
    let mut cfg = (*insecure()).clone();
    cfg.timeout = SHORT;
    cfg.handshake_timeout = PATIENCE;
    let mut prober = Prober::new(server.addr, Arc::new(cfg));
    assert_eq!(prober.probe().await, Ok(()));
    // The kept connection needs no handshake: the next probe is a plain request.
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(server.accepts(), 1);
}

#[tokio::test]
async fn dropped_syn_times_out() {
    // A listener with a full accept queue drops further SYNs, as a blackholed host would.
    for ip in [V4, V6] {
        let socket = match ip {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }
        .unwrap();
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let _filler = TcpStream::connect(addr).await.unwrap();
        for scheme in [Scheme::Tcp, Scheme::Https] {
            let mut cfg = (*config(scheme, TlsMode::InsecureSkipVerify)).clone();
            cfg.timeout = SHORT;
            let mut prober = Prober::new(addr, Arc::new(cfg));
            assert_eq!(
                prober.probe().await,
                Err(ProbeFailure::Timeout {
                    step: Step::Connect,
                    after: SHORT
                }),
                "{addr} {scheme:?}"
            );
        }
    }
}

#[tokio::test]
async fn killed_server_fails_with_refused_not_a_timeout() {
    let mut server = Server::start(Spec {
        reset_on_close: true,
        ..Spec::https(V4, self_signed())
    })
    .await;
    let mut prober = Prober::new(server.addr, insecure());
    assert_eq!(prober.probe().await, Ok(()));
    // Kill: the listening socket goes away and the kept-alive connection is reset.
    server.stop_listening().await;
    server.drop_connections().await;
    assert_eq!(prober.probe().await, Err(ProbeFailure::Refused));
}

// ---------- TLS verification ----------

#[tokio::test]
async fn ca_verification_accepts_the_right_ca_only() {
    let ca = make_ca("kubernetes");
    let other = make_ca("someone-else");
    for ip in [V4, V6] {
        let server = Server::start(Spec::https(ip, leaf(&ca, ip_sans()))).await;
        let mut good = Prober::new(server.addr, config(Scheme::Https, ca_mode(&ca)));
        assert_eq!(good.probe().await, Ok(()), "{ip}");

        let mut bad = Prober::new(server.addr, config(Scheme::Https, ca_mode(&other)));
        let failure = bad.probe().await.unwrap_err();
        assert_eq!(
            failure,
            ProbeFailure::Tls("certificate signed by an unknown authority".to_owned()),
            "{ip}"
        );
        // The rejected handshake sent no request.
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn certificate_without_the_ip_san_is_rejected() {
    let ca = make_ca("kubernetes");
    let dns_only = vec![SanType::DnsName(
        "apiserver.cluster.local".try_into().unwrap(),
    )];
    let server = Server::start(Spec::https(V4, leaf(&ca, dns_only))).await;
    let mut prober = Prober::new(server.addr, config(Scheme::Https, ca_mode(&ca)));
    let failure = prober.probe().await.unwrap_err();
    assert_eq!(
        failure.to_string(),
        "TLS: certificate not valid for 127.0.0.1"
    );

    // A certificate for the IPv4 address only is not valid for ::1 either.
    let v4_only = vec![SanType::IpAddress(V4)];
    let server = Server::start(Spec::https(V6, leaf(&ca, v4_only))).await;
    let mut prober = Prober::new(server.addr, config(Scheme::Https, ca_mode(&ca)));
    assert_eq!(
        prober.probe().await,
        Err(ProbeFailure::Tls(
            "certificate not valid for ::1".to_owned()
        ))
    );
}

#[tokio::test]
async fn insecure_mode_accepts_a_self_signed_certificate() {
    let server = Server::start(Spec::https(V4, self_signed())).await;
    let mut prober = Prober::new(server.addr, insecure());
    assert_eq!(prober.probe().await, Ok(()));

    // The same certificate fails verification against an unrelated CA.
    let other = make_ca("kubernetes");
    let mut strict = Prober::new(server.addr, config(Scheme::Https, ca_mode(&other)));
    assert!(matches!(strict.probe().await, Err(ProbeFailure::Tls(_))));
}

#[tokio::test]
async fn https_probe_of_a_plain_http_server_is_a_tls_failure() {
    let server = Server::start(Spec::http(V4)).await;
    let mut prober = Prober::new(server.addr, insecure());
    assert!(matches!(prober.probe().await, Err(ProbeFailure::Tls(_))));
}

// ---------- CA file errors ----------

#[test]
fn ca_file_errors_name_the_file_and_the_problem() {
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-ca.crt");
    let err = load_ca(&missing).unwrap_err();
    assert!(matches!(err, ProbeError::CaRead { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("no-such-ca.crt"), "{msg}");
    assert!(msg.starts_with("cannot read CA file"), "{msg}");

    let empty = scratch_file("empty.crt", b"this is not a certificate\n");
    let err = load_ca(&empty).unwrap_err();
    assert!(matches!(err, ProbeError::CaEmpty { .. }), "{err:?}");
    assert!(err.to_string().contains(&*empty.to_string_lossy()));

    let truncated = scratch_file("truncated.crt", b"-----BEGIN CERTIFICATE-----\nMIIB\n");
    let err = load_ca(&truncated).unwrap_err();
    assert!(matches!(err, ProbeError::CaPem { .. }), "{err:?}");
    assert!(err.to_string().contains(&*truncated.to_string_lossy()));

    let garbage = scratch_file(
        "garbage.crt",
        b"-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
    );
    let err = load_ca(&garbage).unwrap_err();
    assert!(
        matches!(err, ProbeError::CaCert { index: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&*garbage.to_string_lossy()));
}

#[test]
fn ca_file_may_hold_a_bundle() {
    let a = make_ca("a");
    let b = make_ca("b");
    let bundle = format!("{}{}", a.cert.pem(), b.cert.pem());
    let path = scratch_file("bundle.crt", bundle.as_bytes());
    assert!(matches!(load_ca(&path), Ok(TlsMode::Verify(_))));
}

// ---------- plain HTTP and TCP ----------

#[tokio::test]
async fn plain_http_probe() {
    for ip in [V4, V6] {
        let server = Server::start(Spec::http(ip)).await;
        let mut prober = Prober::new(
            server.addr,
            config(Scheme::Http, TlsMode::InsecureSkipVerify),
        );
        assert_eq!(prober.probe().await, Ok(()));
        assert_eq!(server.requests()[0].user_agent.as_deref(), Some("lvscare"));

        let failing = Server::start(Spec {
            status: 503,
            ..Spec::http(ip)
        })
        .await;
        let mut prober = Prober::new(
            failing.addr,
            config(Scheme::Http, TlsMode::InsecureSkipVerify),
        );
        assert_eq!(prober.probe().await, Err(ProbeFailure::Status(503)));
    }
}

#[tokio::test]
async fn tcp_probe_only_connects() {
    for ip in [V4, V6] {
        // Silent: a TCP probe needs nothing beyond the accepted connection.
        let server = Server::start(Spec {
            silent: true,
            ..Spec::http(ip)
        })
        .await;
        let mut prober = Prober::new(
            server.addr,
            config(Scheme::Tcp, TlsMode::InsecureSkipVerify),
        );
        assert_eq!(prober.probe().await, Ok(()));
        assert_eq!(prober.probe().await, Ok(()));
        assert_eq!(server.accepts(), 2);
        assert!(server.requests().is_empty());
    }
}

// ---------- connection reuse ----------

#[tokio::test]
async fn probes_in_a_row_share_one_connection() {
    for (scheme, tls) in [(Scheme::Https, Some(self_signed())), (Scheme::Http, None)] {
        let server = Server::start(Spec {
            tls,
            ..Spec::http(V6)
        })
        .await;
        let mut prober = Prober::new(server.addr, config(scheme, TlsMode::InsecureSkipVerify));
        for _ in 0..10 {
            assert_eq!(prober.probe().await, Ok(()));
        }
        assert_eq!(server.accepts(), 1, "{scheme:?}");
        assert_eq!(server.requests().len(), 10, "{scheme:?}");
    }
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_connection() {
    let mut server = Server::start(Spec::https(V4, self_signed())).await;
    let mut prober = Prober::new(server.addr, insecure());
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(server.accepts(), 1);

    server.drop_connections().await;
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(server.accepts(), 2);
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(server.accepts(), 2);
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn connection_close_answers_are_not_reused() {
    let server = Server::start(Spec {
        close_each: true,
        ..Spec::https(V4, self_signed())
    })
    .await;
    let mut prober = Prober::new(server.addr, insecure());
    for _ in 0..3 {
        assert_eq!(prober.probe().await, Ok(()));
    }
    assert_eq!(server.accepts(), 3);
}

#[tokio::test]
async fn a_failed_probe_drops_the_connection() {
    let server = Server::start(Spec {
        status: 500,
        ..Spec::http(V4)
    })
    .await;
    let mut prober = Prober::new(
        server.addr,
        config(Scheme::Http, TlsMode::InsecureSkipVerify),
    );
    assert_eq!(prober.probe().await, Err(ProbeFailure::Status(500)));
    assert_eq!(prober.probe().await, Err(ProbeFailure::Status(500)));
    assert_eq!(server.accepts(), 2);
}

#[tokio::test]
async fn oversized_body_is_bounded_and_costs_the_connection() {
    let server = Server::start(Spec {
        body_len: 200 * 1024,
        ..Spec::http(V4)
    })
    .await;
    let mut prober = Prober::new(
        server.addr,
        config(Scheme::Http, TlsMode::InsecureSkipVerify),
    );
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(server.accepts(), 2);

    let small = Server::start(Spec {
        body_len: 60 * 1024,
        ..Spec::http(V4)
    })
    .await;
    let mut prober = Prober::new(
        small.addr,
        config(Scheme::Http, TlsMode::InsecureSkipVerify),
    );
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(small.accepts(), 1);
}

#[tokio::test]
async fn dropping_the_prober_closes_its_connection() {
    let mut server = Server::start(Spec::https(V4, self_signed())).await;
    let mut prober = Prober::new(server.addr, insecure());
    assert_eq!(prober.probe().await, Ok(()));
    drop(prober);
    server.wait_closed(1).await;
}

#[tokio::test]
async fn timed_out_connection_is_not_reused() {
    // Each connection answers once, then hangs: the second probe times out on the kept
    // connection, and the third must open a new one rather than wait on the hung one.
    let server = Server::start(Spec {
        hang_after: Some(1),
        ..Spec::http(V4)
    })
    .await;
    // Long enough that the healthy probes cannot time out even on a loaded machine.
    let timeout = Duration::from_secs(2);
    let mut cfg = (*config(Scheme::Http, TlsMode::InsecureSkipVerify)).clone();
    cfg.timeout = timeout;
    let mut prober = Prober::new(server.addr, Arc::new(cfg));
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(
        prober.probe().await,
        Err(ProbeFailure::Timeout {
            step: Step::Answer,
            after: timeout
        })
    );
    assert_eq!(server.accepts(), 1);
    assert_eq!(prober.probe().await, Ok(()));
    assert_eq!(server.accepts(), 2);
}
