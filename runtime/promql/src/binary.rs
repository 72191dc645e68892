//! Binary operators: arithmetic, comparison (with and without `bool`) and set operators,
//! between scalars and vectors, with Prometheus's vector matching (`on`, `ignoring`,
//! `group_left`, `group_right`).

use crate::QueryError;
use crate::engine::{Evaluator, Grid, Row, Val, merge_same_labels};
use crate::value::Labels;
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(s: &str) -> Result<Op, QueryError> {
        Ok(match s {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            other => {
                return Err(QueryError::BadData(format!(
                    "unsupported binary operator {other:?}"
                )));
            }
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    fn is_set(self) -> bool {
        matches!(self, Op::And | Op::Or | Op::Unless)
    }

    /// Arithmetic drops the metric name; comparisons and set operators keep it.
    fn drops_name(self) -> bool {
        !self.is_comparison() && !self.is_set()
    }
}

/// `lhs op rhs` for two floats: the value and whether a comparison holds.
fn apply(op: Op, l: f64, r: f64) -> (f64, bool) {
    match op {
        Op::Add => (l + r, true),
        Op::Sub => (l - r, true),
        Op::Mul => (l * r, true),
        Op::Div => (l / r, true),
        Op::Mod => (go_mod(l, r), true),
        Op::Pow => (l.powf(r), true),
        Op::Atan2 => (l.atan2(r), true),
        Op::Eq => (l, l == r),
        Op::Ne => (l, l != r),
        Op::Gt => (l, l > r),
        Op::Lt => (l, l < r),
        Op::Ge => (l, l >= r),
        Op::Le => (l, l <= r),
        Op::And | Op::Or | Op::Unless => (l, true),
    }
}

/// Go's `math.Mod`: the remainder with the sign of `x`, NaN for a zero divisor or
/// infinite dividend.
fn go_mod(x: f64, y: f64) -> f64 {
    if y == 0.0 || x.is_infinite() || x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    x % y
}

/// Evaluates a binary expression over the grid.
pub(crate) fn eval(ev: &mut Evaluator, b: &BinaryExpr, grid: &Grid) -> Result<Val, QueryError> {
    let op = Op::parse(&b.op.to_string())?;
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs, grid)?;
    let rhs = ev.eval(&b.rhs, grid)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(&r)
                .map(|(&l, &r)| {
                    let (v, keep) = apply(op, l, r);
                    if op.is_comparison() {
                        if keep { 1.0 } else { 0.0 }
                    } else {
                        v
                    }
                })
                .collect(),
        )),
        (Val::Vector(rows), Val::Scalar(s)) => Ok(Val::Vector(vector_scalar(
            rows,
            &s,
            op,
            return_bool,
            false,
        )?)),
        (Val::Scalar(s), Val::Vector(rows)) => {
            Ok(Val::Vector(vector_scalar(rows, &s, op, return_bool, true)?))
        }
        (Val::Vector(l), Val::Vector(r)) => {
            let card = b
                .modifier
                .as_ref()
                .map(|m| m.card.clone())
                .unwrap_or(VectorMatchCardinality::OneToOne);
            let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
            ev.check_deadline()?;
            let out = match op {
                Op::And | Op::Or | Op::Unless => set_op(l, r, op, matching.as_ref(), grid),
                _ => vector_vector(l, r, op, return_bool, &card, matching.as_ref(), grid)?,
            };
            Ok(Val::Vector(out))
        }
        _ => Err(QueryError::BadData(
            "binary operators apply only to scalars and instant vectors".into(),
        )),
    }
}

fn vector_scalar(
    mut rows: Vec<Row>,
    s: &[f64],
    op: Op,
    return_bool: bool,
    scalar_left: bool,
) -> Result<Vec<Row>, QueryError> {
    if op.is_set() {
        return Err(QueryError::BadData(
            "set operator not allowed in binary scalar expression".into(),
        ));
    }
    for r in &mut rows {
        for (slot, &sv) in r.vals.iter_mut().zip(s) {
            let Some(v) = *slot else { continue };
            let (l, rr) = if scalar_left { (sv, v) } else { (v, sv) };
            let (mut value, keep) = apply(op, l, rr);
            // A comparison keeps the vector's value, whichever side it is on.
            if op.is_comparison() && scalar_left {
                value = rr;
            }
            *slot = if return_bool {
                Some(if keep { 1.0 } else { 0.0 })
            } else if keep {
                Some(value)
            } else {
                None
            };
        }
        if op.drops_name() || return_bool {
            r.labels.remove("__name__");
        }
    }
    if op.drops_name() || return_bool {
        merge_same_labels(rows)
    } else {
        Ok(rows
            .into_iter()
            .filter(|r| r.vals.iter().any(Option::is_some))
            .collect())
    }
}

/// The labels two series are matched on.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    let mut out = labels.clone();
    match matching {
        Some(LabelModifier::Include(on)) => out.retain(|n| on.labels.iter().any(|k| k == n)),
        Some(LabelModifier::Exclude(ign)) => {
            out.retain(|n| n != "__name__" && !ign.labels.iter().any(|k| k == n))
        }
        None => out.retain(|n| n != "__name__"),
    }
    out
}

fn set_op(
    lhs: Vec<Row>,
    rhs: Vec<Row>,
    op: Op,
    matching: Option<&LabelModifier>,
    grid: &Grid,
) -> Vec<Row> {
    let lsig: Vec<Labels> = lhs.iter().map(|r| signature(&r.labels, matching)).collect();
    let rsig: Vec<Labels> = rhs.iter().map(|r| signature(&r.labels, matching)).collect();
    match op {
        Op::And | Op::Unless => {
            // Per signature, the steps at which the right side has a sample.
            let mut present: HashMap<&Labels, Vec<bool>> = HashMap::new();
            for (r, sig) in rhs.iter().zip(&rsig) {
                let p = present.entry(sig).or_insert_with(|| vec![false; grid.n]);
                for (slot, v) in p.iter_mut().zip(&r.vals) {
                    *slot |= v.is_some();
                }
            }
            let none = vec![false; grid.n];
            lhs.into_iter()
                .zip(&lsig)
                .filter_map(|(mut r, sig)| {
                    let p = present.get(sig).unwrap_or(&none);
                    for (slot, &has) in r.vals.iter_mut().zip(p) {
                        if (op == Op::And) != has {
                            *slot = None;
                        }
                    }
                    r.vals.iter().any(Option::is_some).then_some(r)
                })
                .collect()
        }
        _ => {
            let mut present: HashMap<Labels, Vec<bool>> = HashMap::new();
            for (r, sig) in lhs.iter().zip(&lsig) {
                let p = present
                    .entry(sig.clone())
                    .or_insert_with(|| vec![false; grid.n]);
                for (slot, v) in p.iter_mut().zip(&r.vals) {
                    *slot |= v.is_some();
                }
            }
            let none = vec![false; grid.n];
            let mut out = lhs;
            for (mut r, sig) in rhs.into_iter().zip(&rsig) {
                let p = present.get(sig).unwrap_or(&none);
                for (slot, &has) in r.vals.iter_mut().zip(p) {
                    if has {
                        *slot = None;
                    }
                }
                if r.vals.iter().any(Option::is_some) {
                    out.push(r);
                }
            }
            out
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    lhs: Vec<Row>,
    rhs: Vec<Row>,
    op: Op,
    return_bool: bool,
    card: &VectorMatchCardinality,
    matching: Option<&LabelModifier>,
    grid: &Grid,
) -> Result<Vec<Row>, QueryError> {
    // The "one" side is looked up by signature; for group_right the sides swap.
    let swap = matches!(card, VectorMatchCardinality::OneToMany(_));
    let (many, one) = if swap { (rhs, lhs) } else { (lhs, rhs) };
    let include: &[String] = match card {
        VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => &l.labels,
        _ => &[],
    };
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    let one_sigs: Vec<Labels> = one.iter().map(|r| signature(&r.labels, matching)).collect();
    let mut by_sig: HashMap<&Labels, Vec<usize>> = HashMap::new();
    for (i, sig) in one_sigs.iter().enumerate() {
        by_sig.entry(sig).or_default().push(i);
    }
    // Result rows by result labels.
    let mut out: Vec<Row> = Vec::new();
    let mut out_index: HashMap<Labels, usize> = HashMap::new();
    // Signature ids of the many side, so duplicate detection works on small keys.
    let mut sig_ids: HashMap<Labels, usize> = HashMap::new();
    // Per signature id and step: whether a one-to-one match was produced already.
    let mut sig_used: Vec<Vec<bool>> = Vec::new();
    // Per result row and step: the signature id that wrote the value.
    let mut writer: Vec<Vec<usize>> = Vec::new();
    for m in &many {
        let sig = signature(&m.labels, matching);
        let Some(cands) = by_sig.get(&sig) else {
            continue;
        };
        let next_id = sig_ids.len();
        let sig_id = *sig_ids.entry(sig).or_insert(next_id);
        if one_to_one && sig_id == sig_used.len() {
            sig_used.push(vec![false; grid.n]);
        }
        // Result row per matched one-side series (labels depend on it only with group_x).
        let mut result_rows: Vec<(usize, usize)> = Vec::new();
        for step in 0..grid.n {
            let Some(mv) = m.vals[step] else { continue };
            // The one-side sample at this step; two means many-to-many.
            let mut found: Option<usize> = None;
            for &c in cands {
                if one[c].vals[step].is_some() {
                    if let Some(prev) = found {
                        let side = if swap { "left" } else { "right" };
                        return Err(QueryError::Execution(format!(
                            "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                            match_group(&one[c].labels, matching),
                            one[c].labels,
                            one[prev].labels
                        )));
                    }
                    found = Some(c);
                }
            }
            let Some(c) = found else { continue };
            let Some(ov) = one[c].vals[step] else {
                continue;
            };
            let (l, r) = if swap { (ov, mv) } else { (mv, ov) };
            let (value, keep) = apply(op, l, r);
            let value = if return_bool {
                if keep { 1.0 } else { 0.0 }
            } else if keep {
                value
            } else {
                continue;
            };
            let key = if include.is_empty() { usize::MAX } else { c };
            let row = match result_rows.iter().find(|(k, _)| *k == key) {
                Some(&(_, row)) => row,
                None => {
                    let labels = result_metric(
                        &m.labels,
                        &one[c].labels,
                        op,
                        one_to_one,
                        matching,
                        include,
                        return_bool,
                    );
                    let row = match out_index.get(&labels) {
                        Some(&i) => i,
                        None => {
                            out_index.insert(labels.clone(), out.len());
                            out.push(Row {
                                labels,
                                vals: vec![None; grid.n],
                            });
                            writer.push(vec![usize::MAX; grid.n]);
                            out.len() - 1
                        }
                    };
                    result_rows.push((key, row));
                    row
                }
            };
            if one_to_one {
                if sig_used[sig_id][step] {
                    return Err(QueryError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
                sig_used[sig_id][step] = true;
            }
            if out[row].vals[step].is_some() {
                return Err(QueryError::Execution(if writer[row][step] == sig_id {
                    "multiple matches for labels: grouping labels must ensure unique matches".into()
                } else {
                    "vector cannot contain metrics with the same labelset".into()
                }));
            }
            writer[row][step] = sig_id;
            out[row].vals[step] = Some(value);
        }
    }
    out.retain(|r| r.vals.iter().any(Option::is_some));
    Ok(out)
}

/// The labels `matching` looks at, printed for error messages.
fn match_group(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    let mut out = labels.clone();
    match matching {
        Some(LabelModifier::Include(on)) => out.retain(|n| on.labels.iter().any(|k| k == n)),
        Some(LabelModifier::Exclude(ign)) => out.retain(|n| !ign.labels.iter().any(|k| k == n)),
        None => {}
    }
    out
}

/// The labels of a vector-vector result (Prometheus's `resultMetric`).
fn result_metric(
    many: &Labels,
    one: &Labels,
    op: Op,
    one_to_one: bool,
    matching: Option<&LabelModifier>,
    include: &[String],
    return_bool: bool,
) -> Labels {
    let mut l = many.clone();
    if op.drops_name() || return_bool {
        l.remove("__name__");
    }
    if one_to_one {
        match matching {
            Some(LabelModifier::Include(on)) => l.retain(|n| on.labels.iter().any(|k| k == n)),
            Some(LabelModifier::Exclude(ign)) => l.retain(|n| !ign.labels.iter().any(|k| k == n)),
            None => {}
        }
    }
    for name in include {
        match one.get(name) {
            Some(v) => l.set(name, v.to_string()),
            None => l.remove(name),
        }
    }
    l
}
