//! `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values`: the store's index,
//! with `match[]`, `start`, `end` (default: all time) and `limit` (0: none; a cut result
//! carries Prometheus's warning "results truncated due to limit").

use super::params::{MAX_TIME, MIN_TIME, Params};
use super::{ApiError, App, Resp, blocking, format, success};
use hyper::Request;
use hyper::body::Incoming;
use std::collections::BTreeSet;

const TRUNCATED: &str = "results truncated due to limit";

/// `GET|POST /api/v1/series`.
pub(crate) async fn series(app: &App, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let p = Params::read(req).await?;
    if p.all("match[]").is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let limit = p.limit()?;
    let start = p.time_or("start", MIN_TIME)?;
    let end = p.time_or("end", MAX_TIME)?;
    let sets = p.matcher_sets()?;
    let store = app.store.clone();
    let (data, warnings) = blocking(move || {
        let mut all = BTreeSet::new();
        for set in &sets {
            all.extend(store.series(set, start, end)?);
        }
        let (all, warnings) = truncate(all.into_iter().collect::<Vec<_>>(), limit);
        let mut data = String::from("[");
        for (i, labels) in all.iter().enumerate() {
            if i > 0 {
                data.push(',');
            }
            format::push_labels(
                &mut data,
                labels.iter().map(|l| (l.name.as_str(), l.value.as_str())),
            );
        }
        data.push(']');
        Ok((data, warnings))
    })
    .await?;
    Ok(success(&data, &warnings))
}

/// `GET|POST /api/v1/labels`.
pub(crate) async fn labels(app: &App, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let p = Params::read(req).await?;
    let limit = p.limit()?;
    let start = p.time_or("start", MIN_TIME)?;
    let end = p.time_or("end", MAX_TIME)?;
    let sets = p.matcher_sets()?;
    let store = app.store.clone();
    let names = blocking(move || {
        if sets.is_empty() {
            return Ok(store.label_names(&[], start, end)?);
        }
        let mut all = BTreeSet::new();
        for set in &sets {
            all.extend(store.label_names(set, start, end)?);
        }
        Ok(all.into_iter().collect())
    })
    .await?;
    Ok(strings(names, limit))
}

/// `GET /api/v1/label/<name>/values`.
pub(crate) async fn label_values(
    app: &App,
    req: Request<Incoming>,
    name: &str,
) -> Result<Resp, ApiError> {
    if !ward_store::is_valid_label_name(name) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let p = Params::read(req).await?;
    let limit = p.limit()?;
    let start = p.time_or("start", MIN_TIME)?;
    let end = p.time_or("end", MAX_TIME)?;
    let sets = p.matcher_sets()?;
    let store = app.store.clone();
    let name = name.to_string();
    let values = blocking(move || {
        if sets.is_empty() {
            return Ok(store.label_values(&name, &[], start, end)?);
        }
        let mut all = BTreeSet::new();
        for set in &sets {
            all.extend(store.label_values(&name, set, start, end)?);
        }
        Ok(all.into_iter().collect())
    })
    .await?;
    Ok(strings(values, limit))
}

fn strings(items: Vec<String>, limit: usize) -> Resp {
    let (items, warnings) = truncate(items, limit);
    let mut data = String::new();
    format::push_str_array(&mut data, items.iter().map(String::as_str));
    success(&data, &warnings)
}

/// Cuts `items` to `limit` (0: no limit), with the warning when something was cut.
fn truncate<T>(mut items: Vec<T>, limit: usize) -> (Vec<T>, Vec<String>) {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        (items, vec![TRUNCATED.to_string()])
    } else {
        (items, Vec::new())
    }
}
