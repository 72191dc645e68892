//! The HTTP API (hyper): Prometheus's query and ingest API over ward's store, ward's own
//! management endpoints, health and metrics.
//!
//! | path | module |
//! |---|---|
//! | `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query` | [`query`] |
//! | `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values` | [`series`] |
//! | `/api/v1/metadata`, `/api/v1/status/buildinfo`, `/api/v1/status/tsdb` | [`status`] |
//! | `/federate` | [`federate`] |
//! | `/api/v1/write` (remote write 1.0) | [`remote_write`] |
//! | `/api/v1/import/prometheus` (text exposition lines) | [`import`] |
//! | `/api/v1/services`, `/api/v1/services/<name>/{logs,start,stop,restart}` | [`services`] |
//! | `/api/v1/plugins`, `/api/v1/checks`, `/metrics`, `/-/healthy`, `/-/ready` | here |
//!
//! Paths, parameters, JSON shapes, status codes and error bodies are Prometheus 2.x's
//! (`{"status":"success","data":...}` or `{"status":"error","errorType":...,"error":...}`), so
//! that Grafana, promtool and remote-write senders work unchanged. [`auth`] checks bearer
//! tokens; [`params`] parses times, durations, forms and selectors; [`format`] writes numbers
//! and strings exactly as Prometheus does; [`body`] reads bounded request bodies.

mod auth;
mod body;
mod federate;
mod format;
mod import;
mod metadata;
mod params;
mod prompb;
mod query;
mod remote_write;
mod series;
mod services;
mod status;

pub use auth::Auth;
pub use metadata::MetadataStore;

use crate::config::ApiConfig;
use crate::metrics::{Metrics, labels};
use crate::plugin::Registry;
use crate::scheduler::Scheduler;
use crate::supervisor::{Action, Supervisor};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use ward_promql::{Engine, EngineOptions, QueryError};

/// Every response body: whole, with a length.
pub(crate) type Resp = Response<Full<Bytes>>;

/// What the API serves from.
pub struct App {
    /// Plugins.
    pub registry: Arc<Registry>,
    /// Checks.
    pub scheduler: Arc<Scheduler>,
    /// Services.
    pub supervisor: Arc<Supervisor>,
    /// ward's own metrics.
    pub metrics: Arc<Metrics>,
    /// The time-series store.
    pub store: Arc<ward_store::Store>,
    /// The PromQL engine.
    pub engine: Engine,
    /// Tokens and which endpoints need them.
    pub auth: Auth,
    /// Limits and lookback.
    pub config: ApiConfig,
    /// Metric metadata received by remote write and import.
    pub metadata: MetadataStore,
    /// Queries running at once.
    pub queries: Semaphore,
    /// Write requests in flight.
    pub writes: Semaphore,
}

impl App {
    /// An app over these parts with the `[api]` settings; `auth` holds the tokens.
    pub fn new(
        registry: Arc<Registry>,
        scheduler: Arc<Scheduler>,
        supervisor: Arc<Supervisor>,
        metrics: Arc<Metrics>,
        store: Arc<ward_store::Store>,
        config: ApiConfig,
        auth: Auth,
    ) -> Self {
        let engine = Engine::new(EngineOptions {
            lookback_delta: config.lookback_delta,
            max_samples: config.max_samples,
            timeout: config.query_timeout,
            max_points_per_series: query::MAX_POINTS_PER_SERIES,
            max_series: config.max_series,
        });
        Self {
            registry,
            scheduler,
            supervisor,
            metrics,
            store,
            engine,
            auth,
            queries: Semaphore::new(config.max_concurrent_queries),
            writes: Semaphore::new(config.max_concurrent_writes),
            metadata: MetadataStore::default(),
            config,
        }
    }
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
                async move { Ok::<_, std::convert::Infallible>(handle(&app, req).await) }
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

/// One endpoint of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Plugins,
    Checks,
    Services,
    ServiceLogs(String),
    Service(String, Action),
    Metrics,
    Healthy,
    Ready,
    Query,
    QueryRange,
    FormatQuery,
    Series,
    Labels,
    LabelValues(String),
    Metadata,
    BuildInfo,
    Tsdb,
    Federate,
    Write,
    Import,
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone (health checks).
    Open,
    /// The read or the write token.
    Read,
    /// The write token.
    Write,
}

impl Endpoint {
    fn resolve(path: &str) -> Option<Self> {
        Some(match path {
            "/api/v1/plugins" => Self::Plugins,
            "/api/v1/checks" => Self::Checks,
            "/api/v1/services" => Self::Services,
            "/metrics" => Self::Metrics,
            "/-/healthy" => Self::Healthy,
            "/-/ready" => Self::Ready,
            "/api/v1/query" => Self::Query,
            "/api/v1/query_range" => Self::QueryRange,
            "/api/v1/format_query" => Self::FormatQuery,
            "/api/v1/series" => Self::Series,
            "/api/v1/labels" => Self::Labels,
            "/api/v1/metadata" => Self::Metadata,
            "/api/v1/status/buildinfo" => Self::BuildInfo,
            "/api/v1/status/tsdb" => Self::Tsdb,
            "/federate" => Self::Federate,
            "/api/v1/write" => Self::Write,
            "/api/v1/import/prometheus" => Self::Import,
            _ if path.starts_with("/api/v1/services/") => {
                let rest = &path["/api/v1/services/".len()..];
                let (name, verb) = rest.split_once('/')?;
                let name = percent_encoding::percent_decode_str(name)
                    .decode_utf8()
                    .ok()?
                    .into_owned();
                if name.is_empty() {
                    return None;
                }
                match verb {
                    "logs" => Self::ServiceLogs(name),
                    "start" => Self::Service(name, Action::Start),
                    "stop" => Self::Service(name, Action::Stop),
                    "restart" => Self::Service(name, Action::Restart),
                    _ => return None,
                }
            }
            _ => {
                let name = path
                    .strip_prefix("/api/v1/label/")?
                    .strip_suffix("/values")?;
                if name.is_empty() || name.contains('/') {
                    return None;
                }
                let name = percent_encoding::percent_decode_str(name)
                    .decode_utf8()
                    .ok()?
                    .into_owned();
                Self::LabelValues(name)
            }
        })
    }

    /// The `handler` label of ward's HTTP metrics (bounded: the route, not the path).
    fn handler(&self) -> &'static str {
        match self {
            Self::Plugins => "/api/v1/plugins",
            Self::Checks => "/api/v1/checks",
            Self::Services => "/api/v1/services",
            Self::ServiceLogs(_) => "/api/v1/services/:name/logs",
            Self::Service(_, Action::Start) => "/api/v1/services/:name/start",
            Self::Service(_, Action::Stop) => "/api/v1/services/:name/stop",
            Self::Service(_, Action::Restart) => "/api/v1/services/:name/restart",
            Self::Metrics => "/metrics",
            Self::Healthy => "/-/healthy",
            Self::Ready => "/-/ready",
            Self::Query => "/api/v1/query",
            Self::QueryRange => "/api/v1/query_range",
            Self::FormatQuery => "/api/v1/format_query",
            Self::Series => "/api/v1/series",
            Self::Labels => "/api/v1/labels",
            Self::LabelValues(_) => "/api/v1/label/:name/values",
            Self::Metadata => "/api/v1/metadata",
            Self::BuildInfo => "/api/v1/status/buildinfo",
            Self::Tsdb => "/api/v1/status/tsdb",
            Self::Federate => "/federate",
            Self::Write => "/api/v1/write",
            Self::Import => "/api/v1/import/prometheus",
        }
    }

    fn access(&self) -> Access {
        match self {
            Self::Healthy | Self::Ready => Access::Open,
            Self::Write | Self::Import | Self::Service(..) => Access::Write,
            _ => Access::Read,
        }
    }

    /// Methods the endpoint answers, as Prometheus registers them (HEAD goes with GET).
    fn methods(&self) -> &'static [Method] {
        match self {
            Self::Query | Self::QueryRange | Self::FormatQuery | Self::Series | Self::Labels => {
                &[Method::GET, Method::POST]
            }
            Self::Write | Self::Import | Self::Service(..) => &[Method::POST],
            _ => &[Method::GET],
        }
    }
}

async fn handle(app: &App, req: Request<Incoming>) -> Resp {
    let started = Instant::now();
    let Some(endpoint) = Endpoint::resolve(req.uri().path()) else {
        // Go's http.NotFound, as Prometheus's router answers.
        let r = plain(StatusCode::NOT_FOUND, "404 page not found\n");
        record(app, "other", &r, started);
        return r;
    };
    let methods = endpoint.methods();
    let method = req.method();
    let allowed =
        methods.contains(method) || (method == Method::HEAD && methods.contains(&Method::GET));
    let response = if !allowed {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        let allow: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
        if let Ok(v) = header::HeaderValue::from_str(&allow.join(", ")) {
            r.headers_mut().insert(header::ALLOW, v);
        }
        r
    } else if let Err(denied) = app.auth.check(endpoint.access(), req.headers()) {
        denied.into_response()
    } else {
        dispatch(app, endpoint.clone(), req)
            .await
            .unwrap_or_else(ApiError::into_response)
    };
    record(app, endpoint.handler(), &response, started);
    response
}

fn record(app: &App, handler: &str, response: &Resp, started: Instant) {
    let code = response.status().as_u16().to_string();
    app.metrics
        .http_requests
        .get_or_create(&labels([("handler", handler), ("code", &code)]))
        .inc();
    app.metrics
        .http_request_duration
        .get_or_create(&labels([("handler", handler)]))
        .observe(started.elapsed().as_secs_f64());
}

async fn dispatch(app: &App, endpoint: Endpoint, req: Request<Incoming>) -> Result<Resp, ApiError> {
    match endpoint {
        Endpoint::Plugins => Ok(success_json(&app.registry.statuses())),
        Endpoint::Checks => Ok(success_json(&app.scheduler.statuses())),
        Endpoint::Services => Ok(success_json(&app.supervisor.list())),
        Endpoint::ServiceLogs(name) => services::logs(app, req, &name),
        Endpoint::Service(name, action) => services::command(app, &name, action).await,
        Endpoint::Metrics => {
            app.metrics.observe_store(&app.store.stats());
            Ok(text(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                app.metrics.encode(),
            ))
        }
        Endpoint::Healthy => Ok(text(
            "text/plain; charset=utf-8",
            "ward is Healthy.\n".into(),
        )),
        Endpoint::Ready => Ok(text("text/plain; charset=utf-8", "ward is Ready.\n".into())),
        Endpoint::Query => query::instant(app, req).await,
        Endpoint::QueryRange => query::range(app, req).await,
        Endpoint::FormatQuery => query::format(app, req).await,
        Endpoint::Series => series::series(app, req).await,
        Endpoint::Labels => series::labels(app, req).await,
        Endpoint::LabelValues(name) => series::label_values(app, req, &name).await,
        Endpoint::Metadata => status::metadata(app, req).await,
        Endpoint::BuildInfo => Ok(status::buildinfo()),
        Endpoint::Tsdb => status::tsdb(app, req).await,
        Endpoint::Federate => federate::federate(app, req).await,
        Endpoint::Write => remote_write::write(app, req).await,
        Endpoint::Import => import::import(app, req).await,
    }
}

/// An API error as Prometheus reports it: an HTTP status, an `errorType` and a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    /// Extra JSON put in the error's `data` (already encoded), as Prometheus may.
    data: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            data: None,
        }
    }

    /// 400 `bad_data`.
    pub(crate) fn bad_data(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_data", message)
    }

    /// 400 `bad_data` naming the parameter, as Prometheus's `invalidParamError`.
    pub(crate) fn invalid_param(param: &str, message: impl std::fmt::Display) -> Self {
        Self::bad_data(format!("invalid parameter {param:?}: {message}"))
    }

    /// 404 `not_found`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500 `internal`.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 503 `unavailable`.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// Adds a JSON `data` member (already encoded).
    pub(crate) fn with_data(mut self, data: String) -> Self {
        self.data = Some(data);
        self
    }

    pub(crate) fn into_response(self) -> Resp {
        let mut body = String::from(r#"{"status":"error","errorType":"#);
        format::push_str(&mut body, self.kind);
        body.push_str(r#","error":"#);
        format::push_str(&mut body, &self.message);
        if let Some(data) = &self.data {
            body.push_str(r#","data":"#);
            body.push_str(data);
        }
        body.push('}');
        json_response(self.status, body)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, e.error_type(), e.to_string())
    }
}

impl From<ward_store::Error> for ApiError {
    fn from(e: ward_store::Error) -> Self {
        match e {
            ward_store::Error::InvalidRegex { .. }
            | ward_store::Error::InvalidLabelName(_)
            | ward_store::Error::InvalidMetricName(_) => Self::bad_data(e.to_string()),
            ward_store::Error::TooManySamples { .. } | ward_store::Error::TooManySeries { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "execution", e.to_string())
            }
            _ => Self::internal(e.to_string()),
        }
    }
}

/// Runs store work on a blocking thread (reads and appends wait on I/O and fsync).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

/// `{"status":"success","data":<data>}` with `data` already encoded, plus warnings.
pub(crate) fn success(data: &str, warnings: &[String]) -> Resp {
    let mut body = String::with_capacity(data.len() + 40);
    body.push_str(r#"{"status":"success","data":"#);
    body.push_str(data);
    if !warnings.is_empty() {
        body.push_str(r#","warnings":"#);
        format::push_str_array(&mut body, warnings.iter().map(String::as_str));
    }
    body.push('}');
    json_response(StatusCode::OK, body)
}

/// `success` for a value serde encodes (management endpoints).
pub(crate) fn success_json<T: serde::Serialize>(data: &T) -> Resp {
    match serde_json::to_string(data) {
        Ok(data) => success(&data, &[]),
        Err(e) => ApiError::internal(format!("encoding the response: {e}")).into_response(),
    }
}

fn json_response(status: StatusCode, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) fn text(content_type: &'static str, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

/// A plain-text answer with a status, as Go's `http.Error` writes it.
pub(crate) fn plain(status: StatusCode, body: &str) -> Resp {
    let mut r = text("text/plain; charset=utf-8", body.to_string());
    *r.status_mut() = status;
    r
}

/// An empty answer with a status (204 after a write).
pub(crate) fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_endpoints() {
        assert_eq!(Endpoint::resolve("/api/v1/query"), Some(Endpoint::Query));
        assert_eq!(
            Endpoint::resolve("/api/v1/label/job/values"),
            Some(Endpoint::LabelValues("job".into()))
        );
        assert_eq!(
            Endpoint::resolve("/api/v1/label/__name__/values"),
            Some(Endpoint::LabelValues("__name__".into()))
        );
        assert_eq!(
            Endpoint::resolve("/api/v1/label/a%62/values"),
            Some(Endpoint::LabelValues("ab".into()))
        );
        assert_eq!(Endpoint::resolve("/api/v1/label//values"), None);
        assert_eq!(Endpoint::resolve("/api/v1/label/a/b/values"), None);
        assert_eq!(Endpoint::resolve("/api/v1/nope"), None);
        assert_eq!(
            Endpoint::resolve("/api/v1/services/db/restart"),
            Some(Endpoint::Service("db".into(), Action::Restart))
        );
        assert_eq!(
            Endpoint::resolve("/api/v1/services/db/logs"),
            Some(Endpoint::ServiceLogs("db".into()))
        );
        assert_eq!(Endpoint::resolve("/api/v1/services/db/explode"), None);
        assert_eq!(Endpoint::resolve("/api/v1/services//stop"), None);
    }

    #[test]
    fn errors_use_prometheus_envelope() {
        let r = ApiError::invalid_param("time", "cannot parse \"x\" to a valid timestamp");
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let e = ApiError::from(QueryError::Timeout("query execution"));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.kind, "timeout");
    }
}
