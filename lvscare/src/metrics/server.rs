//! The HTTP endpoint of `--metrics-addr`: `GET /metrics` and `GET /healthz`, HTTP/1.1 only, a
//! few connections at a time, each with a header deadline, so a scraper can never cost the
//! daemon more than a few sockets.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{Liveness, Metrics};

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 8;
/// Longest wait for a request's headers, and for a whole connection.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// The content type of `prometheus-client`'s text encoding.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics endpoint could not be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "--metrics-addr {addr}: cannot listen: {source}; choose a free port or an address of this host"
)]
pub struct ServeError {
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// Binds the listener; done before the loop starts, so a taken port is a start-up error.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    let err = |source| ServeError { addr, source };
    let std = std::net::TcpListener::bind(addr).map_err(err)?;
    std.set_nonblocking(true).map_err(err)?;
    TcpListener::from_std(std).map_err(err)
}

/// Serves until the daemon ends. Accept errors (e.g. out of file descriptors) are logged once
/// and retried after a pause, never in a busy loop.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, liveness: Arc<Liveness>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut last_error: Option<String> = None;
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                last_error = None;
                stream
            }
            Err(e) => {
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!("metrics endpoint: accept failed: {msg} (retrying each second)");
                    last_error = Some(msg);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let (metrics, liveness) = (metrics.clone(), liveness.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let answer = respond(&metrics, &liveness, req.method(), req.uri().path());
                async move { Ok::<_, Infallible>(answer) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(permit);
        });
    }
}

/// The answer to one request.
pub fn respond(
    metrics: &Metrics,
    liveness: &Liveness,
    method: &Method,
    path: &str,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (method, path) {
        (&Method::GET, "/metrics") => (StatusCode::OK, OPENMETRICS, metrics.render()),
        (&Method::GET, "/healthz") => match liveness.stalled() {
            None => (StatusCode::OK, "text/plain", "ok\n".to_string()),
            Some(age) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!(
                    "stuck: the loop completed no pass for {:.1}s\n",
                    age.as_secs_f64()
                ),
            ),
        },
        (&Method::GET, _) => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics or /healthz\n".to_string(),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(r: Response<Full<Bytes>>) -> String {
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn routes() {
        let m = Metrics::new(&["192.168.0.2:6443".parse().unwrap()]);
        let live = Liveness::new(Duration::from_secs(10));
        let r = respond(&m, &live, &Method::GET, "/metrics");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()[hyper::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
        assert!(body(r).await.contains("lvscare_master_up"));
        let r = respond(&m, &live, &Method::GET, "/healthz");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            respond(&m, &live, &Method::GET, "/").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&m, &live, &Method::POST, "/metrics").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[tokio::test]
    async fn healthz_fails_when_the_loop_is_stuck() {
        let m = Metrics::new(&[]);
        // A zero limit: any time since the last pass is too long.
        let live = Liveness::new(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        let r = respond(&m, &live, &Method::GET, "/healthz");
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body(r)
            .await
            .starts_with("stuck: the loop completed no pass for"));
    }

    /// Over a real socket: a scrape, a keep-alive second request, and a liveness check.
    #[tokio::test]
    async fn serves_over_tcp() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let m = Arc::new(Metrics::new(&["192.168.0.2:6443".parse().unwrap()]));
        let live = Arc::new(Liveness::new(Duration::from_secs(10)));
        tokio::spawn(serve(listener, m, live));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.contains("ok\n") && out.contains("# EOF"), "{out}");
    }

    #[test]
    fn a_taken_port_is_a_clear_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let first = bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = first.local_addr().unwrap();
            let e = bind(addr).unwrap_err().to_string();
            assert!(
                e.contains(&format!("--metrics-addr {addr}")) && e.contains("choose a free port"),
                "{e}"
            );
        });
    }
}
