//! Comparing a query's result with the expected one, as upstream's `compareResult` does, but
//! naming every difference instead of the first. One stricter check: a label set twice in a
//! vector fails (upstream's comparison would let it pass; Prometheus's engine never returns one).

use super::parse::{Expected, ExpectedSeries};
use super::series::SeqValue;
use crate::{Sample, Series, format_float};
use std::collections::HashSet;

/// Relative error allowed between an expected and a computed value.
const EPSILON: f64 = 0.000_001;
/// Differences listed in one reason before the rest are counted.
const MAX_LISTED: usize = 6;

/// Upstream's `almostEqual`: NaN equals NaN, equal values (and infinities) are equal, values near
/// zero must be within `EPSILON` times the smallest normal float, others within `EPSILON`
/// relative to their sum.
pub(crate) fn almost_equal(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPSILON * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

/// Collects differences and renders them as one reason.
#[derive(Default)]
struct Diffs(Vec<String>);

impl Diffs {
    fn push(&mut self, d: String) {
        self.0.push(d);
    }

    fn finish(self, summary: impl FnOnce() -> String) -> Result<(), String> {
        if self.0.is_empty() {
            return Ok(());
        }
        let n = self.0.len();
        let mut out = summary();
        for d in self.0.iter().take(MAX_LISTED) {
            out.push_str("; ");
            out.push_str(d);
        }
        if n > MAX_LISTED {
            out.push_str(&format!("; and {} more", n - MAX_LISTED));
        }
        Err(out)
    }
}

fn show(v: &SeqValue) -> String {
    match v {
        SeqValue::Float(f) => format_float(*f),
        SeqValue::Omitted => "_".into(),
        SeqValue::Histogram(h) => h.clone(),
    }
}

/// An instant vector against the expected series (`ordered`: at the expected positions too).
pub(crate) fn vector(exp: &Expected, got: &[Sample], ordered: bool) -> Result<(), String> {
    let mut d = Diffs::default();
    let mut seen = HashSet::new();
    for (i, s) in got.iter().enumerate() {
        let Some(e) = exp.series.iter().find(|e| e.labels == s.labels) else {
            d.push(format!(
                "unexpected series {} = {}",
                s.labels,
                format_float(s.v)
            ));
            continue;
        };
        if !seen.insert(&e.labels) {
            d.push(format!("series {} appears twice in the result", s.labels));
            continue;
        }
        if ordered && e.pos != i + 1 {
            d.push(format!(
                "{} at position {} but expected at {}",
                s.labels,
                i + 1,
                e.pos
            ));
        }
        match e.values.first() {
            Some(SeqValue::Float(want)) if !almost_equal(*want, s.v) => d.push(format!(
                "{}: expected {} but got {}",
                s.labels,
                format_float(*want),
                format_float(s.v)
            )),
            Some(SeqValue::Histogram(h)) => d.push(format!(
                "{}: expected native histogram {h} but got float {}",
                s.labels,
                format_float(s.v)
            )),
            _ => {}
        }
    }
    for e in &exp.series {
        if !seen.contains(&e.labels) {
            d.push(format!(
                "missing series {} (expected {})",
                e.labels,
                e.values.first().map(show).unwrap_or_default()
            ));
        }
    }
    if let Some(v) = exp.scalar {
        d.push(format!(
            "expected scalar {} but got a vector",
            format_float(v)
        ));
    }
    d.finish(|| {
        format!(
            "vector of {} sample(s) does not match the {} expected",
            got.len(),
            exp.len()
        )
    })
}

/// A scalar result.
pub(crate) fn scalar(exp: &Expected, got: f64) -> Result<(), String> {
    match exp.scalar {
        Some(want) if exp.series.is_empty() => {
            if almost_equal(want, got) {
                Ok(())
            } else {
                Err(format!(
                    "expected scalar {} but got {}",
                    format_float(want),
                    format_float(got)
                ))
            }
        }
        _ => Err(format!(
            "expected a vector of {} series but got scalar {}",
            exp.series.len(),
            format_float(got)
        )),
    }
}

/// A range query's matrix against the expected series, whose values sit `step` apart from
/// `start` (`_` skips a step) and may not run past `end`.
pub(crate) fn matrix(
    exp: &Expected,
    got: &[Series],
    start: i64,
    end: i64,
    step: i64,
) -> Result<(), String> {
    sorted(got)?;
    let mut d = Diffs::default();
    let mut seen = HashSet::new();
    for s in got {
        let Some(e) = exp.series.iter().find(|e| e.labels == s.labels) else {
            d.push(format!("unexpected series {} with {}", s.labels, points(s)));
            continue;
        };
        seen.insert(&e.labels);
        if let Err(why) = series_points(e, s, start, end, step) {
            d.push(why);
        }
    }
    for e in &exp.series {
        if !seen.contains(&e.labels) {
            d.push(format!("missing series {}", e.labels));
        }
    }
    if let Some(v) = exp.scalar {
        d.push(format!(
            "expected scalar {} but got a matrix",
            format_float(v)
        ));
    }
    d.finish(|| {
        format!(
            "matrix of {} series does not match the {} expected",
            got.len(),
            exp.len()
        )
    })
}

fn series_points(
    e: &ExpectedSeries,
    s: &Series,
    start: i64,
    end: i64,
    step: i64,
) -> Result<(), String> {
    let mut want = Vec::new();
    for (i, v) in e.values.iter().enumerate() {
        let t = start + i as i64 * step;
        if t > end {
            return Err(format!(
                "{}: expected {} points, but the query range cannot return this many",
                e.labels,
                e.values.len()
            ));
        }
        match v {
            SeqValue::Float(f) => want.push((t, *f)),
            SeqValue::Omitted => {}
            SeqValue::Histogram(h) => {
                return Err(format!(
                    "{}: expects native histogram {h} at t={t}ms (ward has float samples only)",
                    e.labels
                ));
            }
        }
    }
    if want.len() != s.points.len() {
        return Err(format!(
            "{}: expected {} points but got {}",
            e.labels,
            want.len(),
            points(s)
        ));
    }
    for (i, ((t, v), p)) in want.iter().zip(&s.points).enumerate() {
        if *t != p.t {
            return Err(format!(
                "{}: point {i} expected at t={t}ms but is at t={}ms (got {})",
                e.labels,
                p.t,
                points(s)
            ));
        }
        if !almost_equal(*v, p.v) {
            return Err(format!(
                "{}: at t={t}ms expected {} but got {} (got {})",
                e.labels,
                format_float(*v),
                format_float(p.v),
                points(s)
            ));
        }
    }
    Ok(())
}

/// `n points [v@t, ...]`, shortened past a dozen.
fn points(s: &Series) -> String {
    let shown: Vec<String> = s
        .points
        .iter()
        .take(12)
        .map(|p| format!("{}@{}", format_float(p.v), p.t))
        .collect();
    let more = if s.points.len() > 12 { ", ..." } else { "" };
    format!("{} point(s) [{}{more}]", s.points.len(), shown.join(", "))
}

/// A matrix must come sorted by labels.
pub(crate) fn sorted(m: &[Series]) -> Result<(), String> {
    for (i, w) in m.windows(2).enumerate() {
        if w[0].labels > w[1].labels {
            return Err(format!(
                "matrix is not sorted by labels: series {} ({}) sorts before series {} ({})",
                i + 1,
                w[1].labels,
                i,
                w[0].labels
            ));
        }
    }
    Ok(())
}

/// The samples of a range query's matrix at time `t`: how upstream reads an instant result
/// back from the range-mode re-run.
pub(crate) fn at_time(m: &[Series], t: i64) -> Vec<Sample> {
    m.iter()
        .filter_map(|s| {
            s.points.iter().find(|p| p.t == t).map(|p| Sample {
                labels: s.labels.clone(),
                t: p.t,
                v: p.v,
            })
        })
        .collect()
}
