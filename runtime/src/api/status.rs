//! `/api/v1/metadata`, `/api/v1/status/buildinfo` and `/api/v1/status/tsdb`.
//!
//! buildinfo reports a Prometheus version (the one whose semantics ward's API and engine
//! follow), so that clients that gate features on it (Grafana wants >= 2.24) treat ward as
//! that Prometheus; `revision` says it is ward.

use super::params::Params;
use super::{ApiError, App, Resp, blocking, format, success};
use hyper::Request;
use hyper::body::Incoming;
use std::fmt::Write;

/// The Prometheus version whose HTTP API and PromQL semantics ward follows.
pub(crate) const PROMETHEUS_VERSION: &str = "2.53.0";

/// `GET /api/v1/metadata`: `limit`, `limit_per_metric`, `metric`.
pub(crate) async fn metadata(app: &App, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let p = Params::read(req).await?;
    let number = |name: &str| -> Result<usize, ApiError> {
        match p.get(name) {
            "" => Ok(usize::MAX),
            s => s
                .parse::<i64>()
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                .map_err(|_| ApiError::bad_data(format!("{name} must be a number"))),
        }
    };
    let limit = number("limit")?;
    let per_metric = number("limit_per_metric")?;
    let metric = Some(p.get("metric")).filter(|m| !m.is_empty());
    let mut data = String::from("{");
    for (i, (name, entries)) in app
        .metadata
        .query(metric, limit, per_metric)
        .iter()
        .enumerate()
    {
        if i > 0 {
            data.push(',');
        }
        format::push_str(&mut data, name);
        data.push_str(":[");
        for (j, e) in entries.iter().enumerate() {
            if j > 0 {
                data.push(',');
            }
            data.push_str(r#"{"type":"#);
            format::push_str(&mut data, &e.kind);
            data.push_str(r#","help":"#);
            format::push_str(&mut data, &e.help);
            data.push_str(r#","unit":"#);
            format::push_str(&mut data, &e.unit);
            data.push('}');
        }
        data.push(']');
    }
    data.push('}');
    Ok(success(&data, &[]))
}

/// `GET /api/v1/status/buildinfo`.
pub(crate) fn buildinfo() -> Resp {
    let mut data = String::from("{");
    let fields = [
        ("version", PROMETHEUS_VERSION),
        ("revision", concat!("ward-", env!("CARGO_PKG_VERSION"))),
        ("branch", "main"),
        ("buildUser", "ward"),
        ("buildDate", ""),
        ("goVersion", "none (ward is written in Rust)"),
    ];
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        format::push_str(&mut data, k);
        data.push(':');
        format::push_str(&mut data, v);
    }
    data.push('}');
    success(&data, &[])
}

/// `GET /api/v1/status/tsdb`: cardinality over the whole store, the `limit` (default 10)
/// largest of each list. ward has no head block: `headStats` covers every series; it keeps
/// no chunk count (`chunkCount` is 0).
pub(crate) async fn tsdb(app: &App, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let p = Params::read(req).await?;
    let limit = match p.get("limit") {
        "" => 10,
        s => match s.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(ApiError::bad_data("limit must be a positive number")),
        },
    };
    let store = app.store.clone();
    let data = blocking(move || {
        let stats = store.stats();
        let c = store.cardinality(i64::MIN, i64::MAX, usize::MAX)?;
        let pairs: usize = c.values_by_label.iter().map(|(_, n)| n).sum();
        let mut memory: std::collections::BTreeMap<&str, usize> = Default::default();
        for (pair, _) in &c.series_by_pair {
            if let Some((name, value)) = pair.split_once('=') {
                *memory.entry(name).or_default() += value.len();
            }
        }
        let mut memory: Vec<(String, usize)> =
            memory.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        memory.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut data = String::new();
        let _ = write!(
            data,
            r#"{{"headStats":{{"numSeries":{},"numLabelPairs":{},"chunkCount":0,"minTime":{},"maxTime":{}}}"#,
            c.series,
            pairs,
            stats.min_time.unwrap_or(i64::MAX),
            stats.max_time.unwrap_or(i64::MIN),
        );
        for (key, list) in [
            ("seriesCountByMetricName", &c.series_by_metric),
            ("labelValueCountByLabelName", &c.values_by_label),
            ("memoryInBytesByLabelName", &memory),
            ("seriesCountByLabelValuePair", &c.series_by_pair),
        ] {
            let _ = write!(data, r#","{key}":["#);
            for (i, (name, value)) in list.iter().take(limit).enumerate() {
                if i > 0 {
                    data.push(',');
                }
                data.push_str(r#"{"name":"#);
                format::push_str(&mut data, name);
                let _ = write!(data, r#","value":{value}}}"#);
            }
            data.push(']');
        }
        data.push('}');
        Ok(data)
    })
    .await?;
    Ok(success(&data, &[]))
}
