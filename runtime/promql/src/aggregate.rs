//! Aggregation operators (`sum`, `avg`, `topk`, `quantile`, `count_values`, ...) with
//! `by` / `without`, evaluated per group and step.

use crate::QueryError;
use crate::engine::{Evaluator, Grid, Row, Val};
use crate::functions::{kahan_inc, quantile};
use crate::value::{Labels, format_float};
use promql_parser::parser::{AggregateExpr, LabelModifier};
use std::collections::HashMap;

/// Evaluates an aggregation over the grid.
pub(crate) fn eval(ev: &mut Evaluator, a: &AggregateExpr, grid: &Grid) -> Result<Val, QueryError> {
    let op = a.op.to_string();
    let op = op.as_str();
    // Parameters are evaluated before the vector, as Prometheus does.
    let mut param_scalar: Option<Vec<f64>> = None;
    let mut param_string: Option<String> = None;
    if let Some(p) = &a.param {
        match ev.eval(p, grid)? {
            Val::Scalar(v) => param_scalar = Some(v),
            Val::String(s) => param_string = Some(s),
            _ => {
                return Err(QueryError::BadData(format!(
                    "the parameter of {op} must be a scalar or a string"
                )));
            }
        }
    }
    let rows = ev.eval_vector(&a.expr, grid)?;
    let modifier = a.modifier.as_ref();
    match op {
        "topk" | "bottomk" => {
            let k = param_scalar.unwrap_or_else(|| vec![f64::NAN; grid.n]);
            Ok(Val::Vector(topk(rows, &k, op == "topk", modifier, grid)?))
        }
        "count_values" => {
            let label = param_string.unwrap_or_default();
            if !ward_store::is_valid_label_name(&label) {
                return Err(QueryError::Execution(format!(
                    "invalid label name {label:?}"
                )));
            }
            Ok(Val::Vector(count_values(rows, &label, modifier, grid)))
        }
        _ => {
            let q = param_scalar.unwrap_or_else(|| vec![f64::NAN; grid.n]);
            Ok(Val::Vector(simple(rows, op, &q, modifier, grid)?))
        }
    }
}

/// The labels of the group a series falls in.
fn group_labels(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        None => Labels::default(),
        Some(LabelModifier::Include(keep)) => {
            let mut out = labels.clone();
            out.retain(|n| keep.labels.iter().any(|k| k == n));
            out
        }
        Some(LabelModifier::Exclude(drop)) => {
            let mut out = labels.clone();
            out.retain(|n| n != "__name__" && !drop.labels.iter().any(|k| k == n));
            out
        }
    }
}

/// Groups rows: (group labels, indices of member rows), in order of first appearance.
fn groups(rows: &[Row], modifier: Option<&LabelModifier>) -> Vec<(Labels, Vec<usize>)> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<(Labels, Vec<usize>)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let g = group_labels(&r.labels, modifier);
        match index.get(&g) {
            Some(&j) => out[j].1.push(i),
            None => {
                index.insert(g.clone(), out.len());
                out.push((g, vec![i]));
            }
        }
    }
    out
}

fn simple(
    rows: Vec<Row>,
    op: &str,
    q: &[f64],
    modifier: Option<&LabelModifier>,
    grid: &Grid,
) -> Result<Vec<Row>, QueryError> {
    let mut out = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    for (labels, members) in groups(&rows, modifier) {
        let mut vals = Vec::with_capacity(grid.n);
        for (step, q) in q.iter().enumerate().take(grid.n) {
            values.clear();
            values.extend(members.iter().filter_map(|&i| rows[i].vals[step]));
            vals.push(if values.is_empty() {
                None
            } else {
                Some(aggregate(op, &mut values, *q)?)
            });
        }
        out.push(Row { labels, vals });
    }
    Ok(out)
}

/// One group's value at one step from its members' values (never empty).
fn aggregate(op: &str, values: &mut [f64], q: f64) -> Result<f64, QueryError> {
    Ok(match op {
        "sum" => {
            let (mut s, mut c) = (0.0, 0.0);
            for &v in values.iter() {
                (s, c) = kahan_inc(v, s, c);
            }
            s + c
        }
        "avg" => avg(values),
        "count" => values.len() as f64,
        "group" => 1.0,
        "min" => {
            let mut m = values[0];
            for &v in &values[1..] {
                if v < m || m.is_nan() {
                    m = v;
                }
            }
            m
        }
        "max" => {
            let mut m = values[0];
            for &v in &values[1..] {
                if v > m || m.is_nan() {
                    m = v;
                }
            }
            m
        }
        "stddev" | "stdvar" => {
            let (mut count, mut mean, mut var) = (0.0f64, 0.0f64, 0.0f64);
            for &v in values.iter() {
                count += 1.0;
                let delta = v - mean;
                mean += delta / count;
                var += delta * (v - mean);
            }
            let var = var / count;
            if op == "stddev" { var.sqrt() } else { var }
        }
        "quantile" => quantile(q, values),
        other => {
            return Err(QueryError::BadData(format!(
                "aggregation {other:?} is not supported"
            )));
        }
    })
}

/// Average as Prometheus 2.x computes it: a compensated sum, falling back to an
/// incremental mean when the sum would overflow.
fn avg(values: &[f64]) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    let mut incremental = false;
    let mut mean = 0.0f64;
    let mut count = 0.0f64;
    for &v in values {
        count += 1.0;
        if !incremental {
            let (ns, nc) = kahan_inc(v, sum, c);
            if !ns.is_infinite() || v.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            // Overflow: continue with the mean of what was summed so far.
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(v / count, q * mean, q * c);
    }
    if incremental {
        if mean.is_infinite() { mean } else { mean + c }
    } else if sum.is_infinite() {
        sum
    } else {
        (sum + c) / count
    }
}

fn topk(
    rows: Vec<Row>,
    k: &[f64],
    top: bool,
    modifier: Option<&LabelModifier>,
    grid: &Grid,
) -> Result<Vec<Row>, QueryError> {
    // Results keep each series' own labels; a series appears at the steps where it is
    // among the k selected of its group.
    let mut keep: Vec<Vec<Option<f64>>> = rows.iter().map(|_| vec![None; grid.n]).collect();
    let mut cand: Vec<(usize, f64)> = Vec::new();
    // Order of output: within a group, by rank at the first step where it was chosen, as
    // Prometheus returns an instant topk sorted.
    let mut order: Vec<(usize, usize, usize)> = Vec::new(); // (group, rank, row)
    for (gi, (_, members)) in groups(&rows, modifier).into_iter().enumerate() {
        for (step, &kf) in k.iter().enumerate().take(grid.n) {
            if kf.is_nan() {
                return Err(QueryError::Execution("Parameter value is NaN".into()));
            }
            let kk = if kf >= members.len() as f64 {
                members.len()
            } else if kf < 1.0 {
                0
            } else {
                kf as usize
            };
            if kk == 0 {
                continue;
            }
            cand.clear();
            cand.extend(
                members
                    .iter()
                    .filter_map(|&i| rows[i].vals[step].map(|v| (i, v))),
            );
            // NaN ranks last in both directions.
            cand.sort_by(|a, b| {
                let (x, y) = (a.1, b.1);
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if top => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                    _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                }
            });
            for (rank, &(i, v)) in cand.iter().take(kk).enumerate() {
                if keep[i].iter().all(Option::is_none) {
                    order.push((gi, rank, i));
                }
                keep[i][step] = Some(v);
            }
        }
    }
    order.sort();
    let mut rows: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(order.len());
    for (_, _, i) in order {
        if let Some(mut r) = rows[i].take() {
            r.vals = std::mem::take(&mut keep[i]);
            out.push(r);
        }
    }
    Ok(out)
}

fn count_values(
    rows: Vec<Row>,
    label: &str,
    modifier: Option<&LabelModifier>,
    grid: &Grid,
) -> Vec<Row> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<Row> = Vec::new();
    for r in &rows {
        let base = group_labels(&r.labels, modifier);
        for (step, v) in r.vals.iter().enumerate() {
            let Some(v) = v else { continue };
            let mut l = base.clone();
            l.set(label, format_float(*v));
            let i = *index.entry(l.clone()).or_insert_with(|| {
                out.push(Row {
                    labels: l,
                    vals: vec![None; grid.n],
                });
                out.len() - 1
            });
            let slot = &mut out[i].vals[step];
            *slot = Some(slot.unwrap_or(0.0) + 1.0);
        }
    }
    out
}
