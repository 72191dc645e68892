//! `/api/v1/query`, `/api/v1/query_range` and `/api/v1/format_query`: PromQL through
//! `ward-promql`, on a blocking thread (the engine is synchronous and CPU-bound), at most
//! `max_concurrent_queries` at once.

use super::params::{Params, now_ms, parse_duration, parse_time};
use super::{ApiError, App, Resp, blocking, format, success};
use crate::metrics::labels;
use hyper::Request;
use hyper::body::Incoming;
use std::time::{Duration, Instant};
use ward_promql::{QueryError, Value};

/// Most points a range query may return per series (Prometheus's fixed 11,000).
pub(crate) const MAX_POINTS_PER_SERIES: usize = 11_000;

/// `GET|POST /api/v1/query`: `query`, `time` (default now), `timeout`.
pub(crate) async fn instant(app: &App, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let p = Params::read(req).await?;
    let time = p.time_or("time", now_ms())?;
    let timeout = timeout(app, &p)?;
    let query = p.get("query").to_string();
    run(app, "instant", timeout, move |engine, store| {
        engine.instant(store, &query, time, Some(timeout))
    })
    .await
}

/// `GET|POST /api/v1/query_range`: `query`, `start`, `end`, `step`, `timeout`.
pub(crate) async fn range(app: &App, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let p = Params::read(req).await?;
    let start = parse_time(p.get("start")).map_err(|e| ApiError::invalid_param("start", e))?;
    let end = parse_time(p.get("end")).map_err(|e| ApiError::invalid_param("end", e))?;
    if end < start {
        return Err(ApiError::invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ns = parse_duration(p.get("step")).map_err(|e| ApiError::invalid_param("step", e))?;
    let step_ms = step_ns / 1_000_000;
    if step_ns <= 0 || step_ms == 0 {
        return Err(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // As Prometheus: whole steps in the range, in nanoseconds.
    let points = (i128::from(end) - i128::from(start)) * 1_000_000 / i128::from(step_ns);
    if points > MAX_POINTS_PER_SERIES as i128 {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the \
             query resolution (?step=XX)",
        ));
    }
    let timeout = timeout(app, &p)?;
    let query = p.get("query").to_string();
    run(app, "range", timeout, move |engine, store| {
        engine.range(store, &query, start, end, step_ms, Some(timeout))
    })
    .await
}

/// `GET|POST /api/v1/format_query`: the query prettified, as a JSON string.
pub(crate) async fn format(_app: &App, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let p = Params::read(req).await?;
    let formatted = ward_promql::format_query(p.get("query"))
        .map_err(|e| ApiError::invalid_param("query", e))?;
    let mut data = String::new();
    format::push_str(&mut data, &formatted);
    Ok(success(&data, &[]))
}

/// The query's timeout: the `timeout` parameter, at most the configured one.
fn timeout(app: &App, p: &Params) -> Result<Duration, ApiError> {
    let max = app.config.query_timeout;
    match p.get("timeout") {
        "" => Ok(max),
        s => {
            let ns = parse_duration(s).map_err(|e| ApiError::invalid_param("timeout", e))?;
            Ok(Duration::from_nanos(u64::try_from(ns).unwrap_or(0)).min(max))
        }
    }
}

type EngineCall = dyn FnOnce(&ward_promql::Engine, &dyn ward_promql::Queryable) -> Result<Value, QueryError>
    + Send;

async fn run(
    app: &App,
    kind: &'static str,
    timeout: Duration,
    call: impl FnOnce(&ward_promql::Engine, &dyn ward_promql::Queryable) -> Result<Value, QueryError>
    + Send
    + 'static,
) -> Result<Resp, ApiError> {
    let started = Instant::now();
    let _permit = tokio::time::timeout(timeout, app.queries.acquire())
        .await
        .map_err(|_| ApiError::from(QueryError::Timeout("query queue")))?
        .map_err(|_| ApiError::unavailable("ward is shutting down"))?;
    let engine = app.engine.clone();
    let store = app.store.clone();
    let call: Box<EngineCall> = Box::new(call);
    let data = blocking(move || {
        let value = call(&engine, &*store).map_err(query_error)?;
        let mut data = String::new();
        format::push_query_data(&mut data, &value);
        Ok(data)
    })
    .await;
    app.metrics
        .query_duration
        .get_or_create(&labels([("kind", kind)]))
        .observe(started.elapsed().as_secs_f64());
    Ok(success(&data?, &[]))
}

/// Parse errors name the parameter, as Prometheus's `invalidParamError` does (the engine's
/// own messages may already).
fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::BadData(message) if !message.starts_with("invalid parameter") => {
            ApiError::invalid_param("query", message)
        }
        e => ApiError::from(e),
    }
}
