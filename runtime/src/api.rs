//! The HTTP API (hyper): management endpoints for plugins and checks, health, and ward's own
//! metrics.
//!
//! - `GET /api/v1/plugins`: every plugin with kind, version, hash, state, last error and call
//!   statistics.
//! - `GET /api/v1/checks`: every check with its targets' last status.
//! - `GET /metrics`: ward's own metrics (OpenMetrics text).
//! - `GET /-/healthy`, `GET /-/ready`: liveness and readiness, as Prometheus answers them.
//!
//! Responses to the JSON endpoints use Prometheus's envelope: `{"status":"success","data":...}`.

use crate::metrics::Metrics;
use crate::plugin::Registry;
use crate::scheduler::Scheduler;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What the API serves from.
pub struct App {
    /// Plugins.
    pub registry: Arc<Registry>,
    /// Checks.
    pub scheduler: Arc<Scheduler>,
    /// ward's own metrics.
    pub metrics: Arc<Metrics>,
    /// The time-series store.
    pub store: Arc<ward_store::Store>,
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(route(&app, req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("connection error: {e}");
            }
        });
    }
}

/// Binds `addr` (with a clear error when it is taken).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

fn route(app: &App, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "bad_data",
            &format!("method {} not allowed on {path}", req.method()),
        );
    }
    match path {
        "/api/v1/plugins" => success(&app.registry.statuses()),
        "/api/v1/checks" => success(&app.scheduler.statuses()),
        "/metrics" => {
            app.metrics.observe_store(&app.store.stats());
            text(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                app.metrics.encode(),
            )
        }
        "/-/healthy" => text("text/plain; charset=utf-8", "ward is Healthy.\n".into()),
        "/-/ready" => text("text/plain; charset=utf-8", "ward is Ready.\n".into()),
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no endpoint {path}"),
        ),
    }
}

fn success<T: serde::Serialize>(data: &T) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "status": "success", "data": data });
    json(StatusCode::OK, &body)
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "status": "error", "errorType": kind, "error": message });
    json(status, &body)
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn text(content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}
