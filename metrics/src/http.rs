//! A small HTTP/1 server (hyper) for `/metrics`, `/healthz`, `/readyz` and, with
//! another handler, the admin commands. Each connection runs on its own task, so a
//! slow scraper never holds up another or the member's request processing.

use crate::registry::Metrics;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What a handler sees of a request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub query: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// What a handler answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    pub fn json(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: body.into(),
        }
    }
}

pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send>>;
pub type Handler = Arc<dyn Fn(Request) -> ResponseFuture + Send + Sync>;

/// The Prometheus text format's content type.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics`, `/healthz` and `/readyz` for one member.
pub fn metrics_routes(metrics: Arc<Metrics>) -> Handler {
    Arc::new(move |req: Request| {
        let metrics = metrics.clone();
        Box::pin(async move {
            if req.method != "GET" && req.method != "HEAD" {
                return Response::text(405, "method not allowed\n");
            }
            match req.path.as_str() {
                "/metrics" => {
                    // Encoding sorts summary windows: keep it off the async workers.
                    let body = tokio::task::spawn_blocking(move || metrics.render())
                        .await
                        .unwrap_or_default();
                    Response {
                        status: 200,
                        content_type: PROMETHEUS_TEXT,
                        body,
                    }
                }
                "/healthz" => Response::text(200, "ok\n"),
                "/readyz" if metrics.serving() => Response::text(200, "ready\n"),
                "/readyz" => Response::text(503, "not serving: no leader established\n"),
                _ => Response::text(404, "not found; try /metrics, /healthz or /readyz\n"),
            }
        })
    })
}

/// Serves `handler` on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, handler: Handler, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let handler = handler.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                async move {
                    let uri = req.uri();
                    let request = Request {
                        method: req.method().as_str().to_string(),
                        path: uri.path().to_string(),
                        query: uri.query().map(str::to_string),
                        authorization: req
                            .headers()
                            .get(hyper::header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string),
                    };
                    let head_only = request.method == "HEAD";
                    let r = handler(request).await;
                    let body = if head_only { String::new() } else { r.body };
                    let response = hyper::Response::builder()
                        .status(r.status)
                        .header("content-type", r.content_type)
                        .body(Full::new(Bytes::from(body)))
                        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())));
                    Ok::<_, Infallible>(response)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                r = conn => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "http connection ended");
                    }
                }
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Role;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_health_and_readiness() {
        let metrics = Arc::new(Metrics::new());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop) = watch::channel(false);
        let server = tokio::spawn(serve(listener, metrics_routes(metrics.clone()), stop));
        let scrape = get(addr, "/metrics").await;
        assert!(scrape.starts_with("HTTP/1.0 200") || scrape.starts_with("HTTP/1.1 200"));
        assert!(scrape.contains("text/plain; version=0.0.4"));
        assert!(scrape.contains("# TYPE looking_count counter"));
        assert!(
            !scrape.contains("\nznode_count "),
            "gauges hide while not serving"
        );
        assert!(get(addr, "/healthz").await.contains(" 200 "));
        assert!(get(addr, "/readyz").await.contains(" 503 "));
        metrics.set_role(Role::Following, true);
        assert!(get(addr, "/readyz").await.contains(" 200 "));
        assert!(get(addr, "/metrics").await.contains("\nznode_count 0\n"));
        assert!(get(addr, "/nope").await.contains(" 404 "));
        stop_tx.send(true).unwrap();
        server.await.unwrap();
    }
}
