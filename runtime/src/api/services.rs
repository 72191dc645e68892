//! `/api/v1/services/<name>/logs` (the last lines of a service's output) and
//! `POST /api/v1/services/<name>/{start,stop,restart}`; the list itself is served by the
//! router.

use super::{ApiError, App, Resp, success_json};
use crate::supervisor::{Action, SupervisorError};
use hyper::Request;
use hyper::body::Incoming;

/// Most lines one request may ask for (the tail holds at most this many anyway).
const MAX_LINES: usize = crate::supervisor::logs::TAIL_LINES;

/// `GET /api/v1/services/<name>/logs?lines=N` (default 100).
pub(crate) fn logs(app: &App, req: Request<Incoming>, name: &str) -> Result<Resp, ApiError> {
    let query = req.uri().query().unwrap_or("");
    let lines = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "lines")
        .map(|(_, v)| {
            v.parse::<usize>()
                .map_err(|_| ApiError::invalid_param("lines", format!("{v:?} is not a count")))
        })
        .transpose()?
        .unwrap_or(100)
        .min(MAX_LINES);
    app.supervisor
        .logs(name, lines)
        .map(|l| success_json(&l))
        .ok_or_else(|| ApiError::not_found(format!("no service named {name:?}")))
}

/// `POST /api/v1/services/<name>/<action>`: answers once the action took effect (a stop:
/// the process is gone) with the service's status.
pub(crate) async fn command(app: &App, name: &str, action: Action) -> Result<Resp, ApiError> {
    match app.supervisor.command(name, action).await {
        Ok(status) => Ok(success_json(&status)),
        Err(e @ SupervisorError::NotFound(_)) => Err(ApiError::not_found(e.to_string())),
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}
