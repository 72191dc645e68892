//! PromQL functions: per-sample math, range-vector functions (`rate`, `*_over_time`, ...),
//! label manipulation, `histogram_quantile` on classic buckets, time functions and sorting.

use crate::QueryError;
use crate::engine::{
    Evaluator, Grid, RangeVal, Row, Val, absent_labels, check_unique_labels, merge_same_labels,
    window,
};
use crate::value::{Labels, Point};
use promql_parser::parser::{Call, Expr};
use std::collections::HashMap;

/// Kahan-Neumaier compensated summation step, as Prometheus's `kahanSumInc`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The q-quantile of `values` (sorted in place), interpolating between neighbours.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, as in Prometheus.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Go's `math.Max` (NaN wins).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min` (NaN wins).
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn arg(c: &Call, i: usize) -> Result<&Expr, QueryError> {
    c.args.args.get(i).map(|b| b.as_ref()).ok_or_else(|| {
        QueryError::BadData(format!("missing argument {} of {}", i + 1, c.func.name))
    })
}

fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

fn string_arg(ev: &mut Evaluator, c: &Call, i: usize, grid: &Grid) -> Result<String, QueryError> {
    match ev.eval(arg(c, i)?, grid)? {
        Val::String(s) => Ok(s),
        _ => Err(QueryError::BadData(format!(
            "argument {} of {} must be a string",
            i + 1,
            c.func.name
        ))),
    }
}

/// Applies `f` to every value of a vector, dropping the metric name.
fn map_values(rows: Vec<Row>, f: impl Fn(f64) -> f64) -> Result<Val, QueryError> {
    let mut rows = rows;
    for r in &mut rows {
        r.labels.remove("__name__");
        for v in r.vals.iter_mut().flatten() {
            *v = f(*v);
        }
    }
    Ok(Val::Vector(merge_same_labels(rows)?))
}

/// Evaluates a function call over the grid.
pub(crate) fn eval(ev: &mut Evaluator, c: &Call, grid: &Grid) -> Result<Val, QueryError> {
    let name = c.func.name;
    match name {
        "time" => Ok(Val::Scalar(
            (0..grid.n).map(|i| grid.ts(i) as f64 / 1000.0).collect(),
        )),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; grid.n])),
        "vector" => {
            let s = ev.eval_scalar(arg(c, 0)?, grid)?;
            Ok(Val::Vector(vec![Row {
                labels: Labels::default(),
                vals: s.into_iter().map(Some).collect(),
            }]))
        }
        "scalar" => {
            let rows = ev.eval_vector(arg(c, 0)?, grid)?;
            Ok(Val::Scalar(
                (0..grid.n)
                    .map(|i| {
                        let mut it = rows.iter().filter_map(|r| r.vals[i]);
                        match (it.next(), it.next()) {
                            (Some(v), None) => v,
                            _ => f64::NAN,
                        }
                    })
                    .collect(),
            ))
        }
        "timestamp" => {
            let a = unwrap_parens(arg(c, 0)?);
            let mut rows = if let Expr::VectorSelector(vs) = a {
                ev.eval_vector_selector(vs, grid, true)?
            } else {
                let mut rows = ev.eval_vector(a, grid)?;
                for r in &mut rows {
                    for (i, v) in r.vals.iter_mut().enumerate() {
                        if v.is_some() {
                            *v = Some(grid.ts(i) as f64 / 1000.0);
                        }
                    }
                }
                rows
            };
            for r in &mut rows {
                r.labels.remove("__name__");
            }
            Ok(Val::Vector(merge_same_labels(rows)?))
        }
        "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn" | "sin"
        | "cos" | "tan" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "asinh"
        | "acosh" | "atanh" | "deg" | "rad" => {
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "exp" => f64::exp,
                "sqrt" => f64::sqrt,
                "ln" => f64::ln,
                "log2" => f64::log2,
                "log10" => f64::log10,
                "sgn" => |v: f64| {
                    if v > 0.0 {
                        1.0
                    } else if v < 0.0 {
                        -1.0
                    } else {
                        v
                    }
                },
                "sin" => f64::sin,
                "cos" => f64::cos,
                "tan" => f64::tan,
                "asin" => f64::asin,
                "acos" => f64::acos,
                "atan" => f64::atan,
                "sinh" => f64::sinh,
                "cosh" => f64::cosh,
                "tanh" => f64::tanh,
                "asinh" => f64::asinh,
                "acosh" => f64::acosh,
                "atanh" => f64::atanh,
                "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
                _ => |v: f64| v * std::f64::consts::PI / 180.0,
            };
            let rows = ev.eval_vector(arg(c, 0)?, grid)?;
            map_values(rows, f)
        }
        "round" => {
            let rows = ev.eval_vector(arg(c, 0)?, grid)?;
            let to = match c.args.args.get(1) {
                Some(e) => ev.eval_scalar(e, grid)?,
                None => vec![1.0; grid.n],
            };
            per_step(rows, |i, v| {
                let inv = 1.0 / to[i];
                Some((v * inv + 0.5).floor() / inv)
            })
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let rows = ev.eval_vector(arg(c, 0)?, grid)?;
            let a = ev.eval_scalar(arg(c, 1)?, grid)?;
            let b = if name == "clamp" {
                ev.eval_scalar(arg(c, 2)?, grid)?
            } else {
                Vec::new()
            };
            per_step(rows, |i, v| match name {
                "clamp" if b[i] < a[i] => None,
                "clamp" => Some(go_max(a[i], go_min(b[i], v))),
                "clamp_min" => Some(go_max(a[i], v)),
                _ => Some(go_min(a[i], v)),
            })
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let rows = match c.args.args.first() {
                Some(e) => ev.eval_vector(e, grid)?,
                None => vec![Row {
                    labels: Labels::default(),
                    vals: (0..grid.n)
                        .map(|i| Some(grid.ts(i) as f64 / 1000.0))
                        .collect(),
                }],
            };
            map_values(rows, |v| time_part(name, v))
        }
        "sort" | "sort_desc" => {
            let mut rows = ev.eval_vector(arg(c, 0)?, grid)?;
            // Only meaningful for instant queries (one step); range results are sorted
            // by labels afterwards.
            sort_by_value(&mut rows, name == "sort_desc");
            Ok(Val::Vector(rows))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut rows = ev.eval_vector(arg(c, 0)?, grid)?;
            let mut names = Vec::new();
            for i in 1..c.args.args.len() {
                names.push(string_arg(ev, c, i, grid)?);
            }
            let desc = name == "sort_by_label_desc";
            // As Prometheus 2.53: sorted by value first (the tie breaker), then by
            // the named labels in natural order.
            sort_by_value(&mut rows, desc);
            rows.sort_by(|a, b| {
                for n in &names {
                    let (x, y) = (a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
                    let o = natural_cmp(x, y);
                    if o != std::cmp::Ordering::Equal {
                        return if desc { o.reverse() } else { o };
                    }
                }
                std::cmp::Ordering::Equal
            });
            Ok(Val::Vector(rows))
        }
        "label_replace" => {
            let rows = ev.eval_vector(arg(c, 0)?, grid)?;
            let dst = string_arg(ev, c, 1, grid)?;
            let repl = string_arg(ev, c, 2, grid)?;
            let src = string_arg(ev, c, 3, grid)?;
            let re = string_arg(ev, c, 4, grid)?;
            let re = regex::Regex::new(&format!("^(?:{re})$")).map_err(|e| {
                QueryError::Execution(format!(
                    "invalid regular expression in label_replace(): {e}"
                ))
            })?;
            if !ward_store::is_valid_label_name(&dst) {
                return Err(QueryError::Execution(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            let mut rows = rows;
            for r in &mut rows {
                let v = r.labels.get(&src).unwrap_or("").to_string();
                if let Some(caps) = re.captures(&v) {
                    let mut out = String::new();
                    caps.expand(&repl, &mut out);
                    r.labels.set(&dst, out);
                }
            }
            Ok(Val::Vector(merge_same_labels(rows)?))
        }
        "label_join" => {
            let rows = ev.eval_vector(arg(c, 0)?, grid)?;
            let dst = string_arg(ev, c, 1, grid)?;
            let sep = string_arg(ev, c, 2, grid)?;
            let mut srcs = Vec::new();
            for i in 3..c.args.args.len() {
                srcs.push(string_arg(ev, c, i, grid)?);
            }
            if !ward_store::is_valid_label_name(&dst) {
                return Err(QueryError::Execution(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            let mut rows = rows;
            for r in &mut rows {
                let joined: Vec<&str> =
                    srcs.iter().map(|s| r.labels.get(s).unwrap_or("")).collect();
                let joined = joined.join(&sep);
                r.labels.set(&dst, joined);
            }
            Ok(Val::Vector(merge_same_labels(rows)?))
        }
        "absent" => {
            let a = arg(c, 0)?;
            let rows = ev.eval_vector(a, grid)?;
            let labels = match a {
                Expr::VectorSelector(vs) => absent_labels(vs),
                _ => Labels::default(),
            };
            let vals = (0..grid.n)
                .map(|i| {
                    if rows.iter().any(|r| r.vals[i].is_some()) {
                        None
                    } else {
                        Some(1.0)
                    }
                })
                .collect();
            Ok(Val::Vector(vec![Row { labels, vals }]))
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(c, 0)?, grid)?;
            let rows = ev.eval_vector(arg(c, 1)?, grid)?;
            histogram_quantile(&q, rows, grid)
        }
        _ => range_function(ev, c, grid),
    }
}

/// Applies `f(step, value)` to every value of a vector (dropping the metric name); `None`
/// removes the value.
fn per_step(rows: Vec<Row>, f: impl Fn(usize, f64) -> Option<f64>) -> Result<Val, QueryError> {
    let mut rows = rows;
    for r in &mut rows {
        r.labels.remove("__name__");
        for (i, slot) in r.vals.iter_mut().enumerate() {
            if let Some(v) = *slot {
                *slot = f(i, v);
            }
        }
    }
    Ok(Val::Vector(merge_same_labels(rows)?))
}

/// Natural order: digit runs compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let x = std::str::from_utf8(&a[si..i])
                .unwrap_or("")
                .trim_start_matches('0');
            let y = std::str::from_utf8(&b[sj..j])
                .unwrap_or("")
                .trim_start_matches('0');
            let o = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let o = a[i].cmp(&b[j]);
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// Days since 1970-01-01 -> (year, month 1-12, day 1-31).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// One calendar field of a unix time (seconds, UTC).
fn time_part(name: &str, v: f64) -> f64 {
    if !v.is_finite() {
        return f64::NAN;
    }
    let secs = v as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match name {
        "day_of_month" => d as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => {
            let before: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
            let leap = if m > 2 && is_leap(y) { 1 } else { 0 };
            (before[(m - 1) as usize] + d + leap) as f64
        }
        "days_in_month" => match m {
            2 if is_leap(y) => 29.0,
            2 => 28.0,
            4 | 6 | 9 | 11 => 30.0,
            _ => 31.0,
        },
        "hour" => (sod / 3600) as f64,
        "minute" => (sod % 3600 / 60) as f64,
        "month" => m as f64,
        _ => y as f64,
    }
}

/// Functions over a range vector (and their scalar parameters).
fn range_function(ev: &mut Evaluator, c: &Call, grid: &Grid) -> Result<Val, QueryError> {
    let name = c.func.name;
    // Scalar parameters come before or after the range argument.
    let (range_idx, params): (usize, Vec<usize>) = match name {
        "quantile_over_time" => (1, vec![0]),
        "predict_linear" => (0, vec![1]),
        "holt_winters" | "double_exponential_smoothing" => (0, vec![1, 2]),
        _ => (0, vec![]),
    };
    let mut p: Vec<Vec<f64>> = Vec::new();
    for &i in &params {
        p.push(ev.eval_scalar(arg(c, i)?, grid)?);
    }
    let range_expr = arg(c, range_idx)?;
    let rv: RangeVal = ev.eval_range(range_expr, grid)?;
    ev.check_deadline()?;
    let range_s = rv.range as f64 / 1000.0;
    if name == "absent_over_time" {
        let vals = (0..grid.n)
            .map(|i| {
                let r = rv.refs[i];
                if rv
                    .series
                    .iter()
                    .any(|s| !window(&s.points, r - rv.range, r).is_empty())
                {
                    None
                } else {
                    Some(1.0)
                }
            })
            .collect();
        return Ok(Val::Vector(vec![Row {
            labels: rv.absent_labels.clone(),
            vals,
        }]));
    }
    if name == "holt_winters" || name == "double_exponential_smoothing" {
        for (&sf, &tf) in p[0].iter().zip(&p[1]).take(grid.n) {
            if sf <= 0.0 || sf >= 1.0 {
                return Err(QueryError::Execution(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                )));
            }
            if tf <= 0.0 || tf >= 1.0 {
                return Err(QueryError::Execution(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                )));
            }
        }
    }
    let keep_name = name == "last_over_time";
    let mut rows = Vec::with_capacity(rv.series.len());
    let mut scratch: Vec<f64> = Vec::new();
    for s in rv.series {
        let mut vals = Vec::with_capacity(grid.n);
        let mut any = false;
        let mut slider = Slider::default();
        for i in 0..grid.n {
            let r = rv.refs[i];
            let (lo, hi) = (r - rv.range, r);
            let w = slider.window(&s.points, lo, hi);
            let v = if w.is_empty() {
                None
            } else {
                over_time(name, w, lo, hi, range_s, grid.ts(i), &p, i, &mut scratch)?
            };
            any |= v.is_some();
            vals.push(v);
        }
        if any {
            let mut labels = s.labels;
            if !keep_name {
                labels.remove("__name__");
            }
            rows.push(Row { labels, vals });
        }
    }
    if keep_name {
        check_unique_labels(&rows)?;
        Ok(Val::Vector(rows))
    } else {
        Ok(Val::Vector(merge_same_labels(rows)?))
    }
}

/// The points in `[lo, hi]` for windows that mostly move forward: both ends advance from
/// where the previous window left them (amortised O(1) per step instead of two binary
/// searches); a window that moves back is searched afresh.
#[derive(Debug, Default)]
struct Slider {
    lo: i64,
    a: usize,
    b: usize,
}

impl Slider {
    fn window<'p>(&mut self, points: &'p [Point], lo: i64, hi: i64) -> &'p [Point] {
        if lo < self.lo || self.b > points.len() || (self.b > 0 && points[self.b - 1].t > hi) {
            self.a = 0;
            self.b = 0;
        }
        self.lo = lo;
        while self.a < points.len() && points[self.a].t < lo {
            self.a += 1;
        }
        if self.b < self.a {
            self.b = self.a;
        }
        while self.b < points.len() && points[self.b].t <= hi {
            self.b += 1;
        }
        &points[self.a..self.b]
    }
}

/// One range function over one window (never empty).
#[allow(clippy::too_many_arguments)]
fn over_time(
    name: &str,
    w: &[Point],
    lo: i64,
    hi: i64,
    range_s: f64,
    eval_t: i64,
    p: &[Vec<f64>],
    step: usize,
    scratch: &mut Vec<f64>,
) -> Result<Option<f64>, QueryError> {
    Ok(match name {
        "rate" => extrapolated_rate(w, lo, hi, range_s, true, true),
        "increase" => extrapolated_rate(w, lo, hi, range_s, true, false),
        "delta" => extrapolated_rate(w, lo, hi, range_s, false, false),
        "irate" | "idelta" => {
            if w.len() < 2 {
                None
            } else {
                let (prev, last) = (w[w.len() - 2], w[w.len() - 1]);
                let is_rate = name == "irate";
                let mut v = if is_rate && last.v < prev.v {
                    last.v
                } else {
                    last.v - prev.v
                };
                let dt = last.t - prev.t;
                if dt == 0 {
                    None
                } else {
                    if is_rate {
                        v /= dt as f64 / 1000.0;
                    }
                    Some(v)
                }
            }
        }
        "count_over_time" => Some(w.len() as f64),
        "present_over_time" => Some(1.0),
        "last_over_time" => w.last().map(|p| p.v),
        "sum_over_time" => {
            let (mut s, mut c) = (0.0, 0.0);
            for pt in w {
                (s, c) = kahan_inc(pt.v, s, c);
            }
            Some(if s.is_infinite() { s } else { s + c })
        }
        "avg_over_time" => {
            let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
            for pt in w {
                count += 1.0;
                if mean.is_infinite() {
                    if pt.v.is_infinite() && (mean > 0.0) == (pt.v > 0.0) {
                        continue;
                    }
                    if !pt.v.is_infinite() && !pt.v.is_nan() {
                        continue;
                    }
                }
                (mean, c) = kahan_inc(pt.v / count - mean / count, mean, c);
            }
            Some(if mean.is_infinite() { mean } else { mean + c })
        }
        "min_over_time" | "max_over_time" => {
            let mut m = w[0].v;
            for pt in &w[1..] {
                let better = if name == "min_over_time" {
                    pt.v < m
                } else {
                    pt.v > m
                };
                if better || m.is_nan() {
                    m = pt.v;
                }
            }
            Some(m)
        }
        "stddev_over_time" | "stdvar_over_time" => {
            let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
            for pt in w {
                count += 1.0;
                let delta = pt.v - (mean + cm);
                (mean, cm) = kahan_inc(delta / count, mean, cm);
                (aux, ca) = kahan_inc(delta * (pt.v - (mean + cm)), aux, ca);
            }
            let var = (aux + ca) / count;
            Some(if name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            })
        }
        "quantile_over_time" => {
            scratch.clear();
            scratch.extend(w.iter().map(|p| p.v));
            Some(quantile(p[0][step], scratch))
        }
        "mad_over_time" => {
            scratch.clear();
            scratch.extend(w.iter().map(|p| p.v));
            let median = quantile(0.5, scratch);
            for v in scratch.iter_mut() {
                *v = (*v - median).abs();
            }
            Some(quantile(0.5, scratch))
        }
        "changes" => {
            let mut n = 0.0;
            for pair in w.windows(2) {
                let (a, b) = (pair[0].v, pair[1].v);
                if b != a && !(a.is_nan() && b.is_nan()) {
                    n += 1.0;
                }
            }
            Some(n)
        }
        "resets" => {
            let mut n = 0.0;
            for pair in w.windows(2) {
                if pair[1].v < pair[0].v {
                    n += 1.0;
                }
            }
            Some(n)
        }
        "deriv" => {
            if w.len() < 2 {
                None
            } else {
                Some(linear_regression(w, w[0].t).0)
            }
        }
        "predict_linear" => {
            if w.len() < 2 {
                None
            } else {
                let (slope, intercept) = linear_regression(w, eval_t);
                Some(intercept + slope * p[0][step])
            }
        }
        "holt_winters" | "double_exponential_smoothing" => {
            if w.len() < 2 {
                None
            } else {
                let (sf, tf) = (p[0][step], p[1][step]);
                let mut s1 = w[0].v;
                let mut s0 = 0.0;
                let mut b = w[1].v - w[0].v;
                for (i, pt) in w.iter().enumerate().skip(1) {
                    let x = sf * pt.v;
                    if i > 1 {
                        b = tf * (s1 - s0) + (1.0 - tf) * b;
                    }
                    let y = (1.0 - sf) * (s1 + b);
                    s0 = s1;
                    s1 = x + y;
                }
                Some(s1)
            }
        }
        other => {
            return Err(QueryError::BadData(format!(
                "function {other:?} is not supported"
            )));
        }
    })
}

/// Prometheus's `extrapolatedRate` for `rate`, `increase` and `delta`.
/// Stable sort of an instant vector by its (first step's) value, NaN and
/// absent values last in both directions, as `sort`/`sort_desc` do.
fn sort_by_value(rows: &mut [Row], desc: bool) {
    rows.sort_by(|a, b| {
        let x = a.vals.first().copied().flatten().unwrap_or(f64::NAN);
        let y = b.vals.first().copied().flatten().unwrap_or(f64::NAN);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if desc => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
            _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        }
    });
}

fn extrapolated_rate(
    w: &[Point],
    lo: i64,
    hi: i64,
    range_s: f64,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut result = last.v - first.v;
    if counter {
        let mut prev = 0.0f64;
        for pt in w {
            if pt.v < prev {
                result += prev;
            }
            prev = pt.v;
        }
    }
    let mut to_start = (first.t - lo) as f64 / 1000.0;
    let mut to_end = (hi - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (w.len() - 1) as f64;
    // As Prometheus 2.53: a gap wider than 1.1 average intervals is
    // extrapolated by half an interval only; then a counter is never
    // extrapolated below zero.
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let interval = sampled + to_start + to_end;
    let mut factor = interval / sampled;
    if rate {
        factor /= range_s;
    }
    Some(result * factor)
}

/// Least-squares fit of the points: (slope per second, intercept at `intercept_t`).
fn linear_regression(w: &[Point], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = w[0].v;
    let mut const_y = true;
    for (i, pt) in w.iter().enumerate() {
        if const_y && i > 0 && pt.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (pt.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(pt.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * pt.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// `histogram_quantile` over classic buckets (`le` label), per step.
fn histogram_quantile(q: &[f64], rows: Vec<Row>, grid: &Grid) -> Result<Val, QueryError> {
    // Group buckets by their labels without `le`. The metric name is part of
    // the group (two histograms differing only in name stay apart) and is
    // dropped from the result, where two such groups then collide as in
    // Prometheus ("vector cannot contain metrics with the same labelset").
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Vec<(f64, usize)>)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let Some(le) = r.labels.get("le") else {
            continue;
        };
        let Some(upper) = parse_go_float(le) else {
            continue;
        };
        let mut key = r.labels.clone();
        key.remove("le");
        let g = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push((upper, i));
    }
    for g in &mut groups {
        g.0.remove("__name__");
    }
    let mut out = Vec::with_capacity(groups.len());
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for (labels, members) in groups {
        let mut vals = Vec::with_capacity(grid.n);
        for (step, &qs) in q.iter().enumerate().take(grid.n) {
            buckets.clear();
            buckets.extend(
                members
                    .iter()
                    .filter_map(|&(ub, i)| rows[i].vals[step].map(|c| (ub, c))),
            );
            vals.push(if buckets.is_empty() {
                None
            } else {
                Some(bucket_quantile(qs, &mut buckets))
            });
        }
        out.push(Row { labels, vals });
    }
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// Parses a bucket bound as Go's `strconv.ParseFloat` would (`+Inf`, `1e3`, ...).
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t != s {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Prometheus's `bucketQuantile`: linear interpolation inside the bucket the rank falls in.
fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if !buckets.last().is_some_and(|b| b.0 == f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce buckets with the same bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    *buckets = merged;
    // Ensure monotonic counts, ignoring tiny float deltas.
    let mut prev = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) || curr < prev {
            b.1 = prev;
            continue;
        }
        prev = curr;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|x| x.1 < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let mut start = 0.0;
    let end = buckets[b].0;
    let mut count = buckets[b].1;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    let min_normal = f64::from_bits(0x0010_0000_0000_0000);
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < min_normal {
        return diff < eps * min_normal;
    }
    diff / (a.abs() + b.abs()) < eps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slider_finds_the_windows_binary_search_finds() {
        let points: Vec<Point> = (0..200)
            .map(|i| Point {
                t: i * 15 + (i % 7),
                v: i as f64,
            })
            .collect();
        let mut slider = Slider::default();
        let mut x = 7u64;
        let mut hi = -100i64;
        for _ in 0..5_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Mostly forward, sometimes back, sometimes a jump; widths vary.
            hi += match x >> 60 {
                0 => -(((x >> 20) % 400) as i64),
                1 => ((x >> 20) % 2_000) as i64,
                _ => ((x >> 20) % 40) as i64,
            };
            let lo = hi - ((x >> 40) % 120) as i64;
            assert_eq!(
                slider.window(&points, lo, hi),
                crate::engine::window(&points, lo, hi),
                "[{lo}, {hi}]"
            );
        }
    }

    #[test]
    fn calendar_fields() {
        // 2021-03-01T01:02:03Z, a Monday, day 60 of a non-leap year.
        let t = 1_614_560_523.0;
        assert_eq!(time_part("year", t), 2021.0);
        assert_eq!(time_part("month", t), 3.0);
        assert_eq!(time_part("day_of_month", t), 1.0);
        assert_eq!(time_part("day_of_week", t), 1.0);
        assert_eq!(time_part("day_of_year", t), 60.0);
        assert_eq!(time_part("hour", t), 1.0);
        assert_eq!(time_part("minute", t), 2.0);
        assert_eq!(time_part("days_in_month", 1_582_934_400.0), 29.0); // 2020-02-29
    }

    #[test]
    fn natural_order() {
        assert!(natural_cmp("a2", "a10").is_lt());
        assert!(natural_cmp("b", "a10").is_gt());
        assert!(natural_cmp("10", "10").is_eq());
    }
}
