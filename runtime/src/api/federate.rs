//! `GET /federate`: the newest sample within the lookback delta of every series matching any
//! `match[]`, in the text exposition format (0.0.4) with millisecond timestamps, each family
//! typed `untyped`, as Prometheus's federation endpoint writes it. Stale markers are skipped.
//! No `match[]` gives an empty answer, as in Prometheus.

use super::params::{Params, now_ms};
use super::{ApiError, App, Resp, blocking, format, plain, text};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use std::collections::BTreeMap;
use std::fmt::Write;
use ward_store::{Labels, METRIC_NAME, STALE_NAN, SelectLimits};

/// `GET /federate`.
pub(crate) async fn federate(app: &App, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let p = Params::read(req).await?;
    let sets = p.all("match[]");
    // Errors are plain text here, as Prometheus's federation handler writes them.
    let sets = match sets
        .into_iter()
        .map(super::params::parse_selector)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(sets) => sets,
        Err(e) => return Ok(plain(StatusCode::BAD_REQUEST, &format!("{e}\n"))),
    };
    let now = now_ms();
    let lookback = i64::try_from(app.config.lookback_delta.as_millis()).unwrap_or(i64::MAX);
    let store = app.store.clone();
    let limits = SelectLimits {
        max_series: usize::MAX,
        max_samples: app.config.max_samples,
    };
    let body = blocking(move || {
        let mut latest: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
        for set in &sets {
            for s in store.select_limited(set, now.saturating_sub(lookback), now, limits)? {
                if let Some(&(t, v)) = s.samples.last()
                    && v.to_bits() != STALE_NAN
                {
                    latest.insert(s.labels, (t, v));
                }
            }
        }
        let mut out = String::new();
        let mut family = None;
        for (labels, (t, v)) in &latest {
            let name = labels.metric_name().unwrap_or("");
            if family != Some(name) {
                let _ = writeln!(out, "# TYPE {name} untyped");
                family = Some(name);
            }
            out.push_str(name);
            let mut first = true;
            for l in labels.iter().filter(|l| l.name != METRIC_NAME) {
                out.push(if first { '{' } else { ',' });
                first = false;
                out.push_str(&l.name);
                out.push_str("=\"");
                format::push_text_label_value(&mut out, &l.value);
                out.push('"');
            }
            if !first {
                out.push('}');
            }
            let _ = writeln!(out, " {} {t}", format::text_float(*v));
        }
        Ok(out)
    })
    .await?;
    Ok(text("text/plain; version=0.0.4; charset=utf-8", body))
}
