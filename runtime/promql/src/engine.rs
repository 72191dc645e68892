//! The engine: parsing, limits, and evaluation of a whole query.
//!
//! Evaluation follows Prometheus's own design: every expression is evaluated over the whole
//! step grid of the query at once (an instant query is a grid of one step). Instant-vector
//! values are kept series by series with one optional value per step ([`Row`]), so a range
//! query loads each selector's data once and then walks it with a cursor, never reloading
//! per step. Range vectors ([`RangeVal`]) keep each series' raw points plus, per step, the
//! end of the window the step looks at.

use crate::position::Found;
use crate::value::{Labels, Point, Sample, Series, Value};
use crate::{QueryError, aggregate, binary, functions};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{self, AtModifier, Expr, Offset, VectorSelector};
use std::collections::HashMap;
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the engine reads series from. ward's store implements it.
pub trait Queryable: Sync {
    /// Every series matching all `matchers` with its samples in `[start, end]` (ms, both
    /// inclusive), samples ascending by time, staleness markers included.
    fn select(
        &self,
        matchers: &[ward_store::Matcher],
        start: i64,
        end: i64,
        limits: ward_store::SelectLimits,
    ) -> Result<Vec<ward_store::Series>, ward_store::Error>;
}

impl Queryable for ward_store::Store {
    fn select(
        &self,
        matchers: &[ward_store::Matcher],
        start: i64,
        end: i64,
        limits: ward_store::SelectLimits,
    ) -> Result<Vec<ward_store::Series>, ward_store::Error> {
        self.select_limited(matchers, start, end, limits)
    }
}

/// Engine settings, as Prometheus's `--query.*` flags.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub lookback_delta: Duration,
    /// Most samples a query may hold in memory at once (Prometheus: 50,000,000).
    pub max_samples: usize,
    /// Default and maximum query timeout (Prometheus: 2m).
    pub timeout: Duration,
    /// Most points a range query may return per series (Prometheus: 11,000).
    pub max_points_per_series: usize,
    /// Most series a result may hold (Prometheus has no such limit; VictoriaMetrics's
    /// `-search.maxUniqueTimeseries` is the like).
    pub max_series: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_points_per_series: 11_000,
            max_series: 100_000,
        }
    }
}

/// The PromQL engine. Cheap to share; each query runs on the calling thread (the runtime
/// calls it from a blocking thread).
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

/// Step of subqueries written without one (`x[1h:]`): Prometheus uses the global
/// evaluation interval, 1m by default.
const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

static REGISTER: Once = Once::new();

/// Functions Prometheus 2.x has that the parser (which follows 3.x) renamed.
pub(crate) fn register_functions() {
    REGISTER.call_once(|| {
        use promql_parser::parser::function::{Function, register_extra_functions};
        use promql_parser::parser::value::ValueType;
        // Only fails on a clash with a built-in, which would mean the parser grew it.
        let _ = register_extra_functions(vec![Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        )]);
    });
}

/// Parses a query the way the engine does (with Prometheus 2.x's function names).
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    register_functions();
    parser::parse(query).map_err(|e| {
        let (at, e) = match locate(query, &e) {
            Some(((line, col), what)) => (format!("{line}:{col}: "), what.unwrap_or(e)),
            None => (String::new(), e),
        };
        QueryError::BadData(format!("invalid parameter \"query\": {at}parse error: {e}"))
    })
}

/// Where in the query a parse error is, as Prometheus prints it (`line:column`, both from
/// 1): from the parser's message when it allows (errors at the end of the input, errors
/// naming a function), else by searching for the first character no valid query can have
/// there (`position`). With the position, a clearer message for the parser's bare
/// "invalid promql query".
fn locate(query: &str, msg: &str) -> Option<((usize, usize), Option<String>)> {
    let pos = |offset: usize| -> (usize, usize) {
        let before = &query[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    };
    if msg.contains("end of input") || msg.contains("unclosed") {
        return Some((pos(query.trim_end().len()), None));
    }
    if let Some(rest) = msg.split("function '").nth(1) {
        let name = rest.split('\'').next()?;
        let offset = query.find(&format!("{name}("))?;
        return Some((pos(offset), None));
    }
    let generic = msg == "invalid promql query";
    match crate::position::first_bad_offset(query) {
        Found::At(offset) => {
            let found: String = query[offset..].chars().take(12).collect();
            let found = found.split_whitespace().next().unwrap_or("").to_string();
            let what = generic.then(|| format!("unexpected {found:?}"));
            Some((pos(offset), what))
        }
        Found::Incomplete if generic => Some((
            pos(query.trim_end().len()),
            Some("unexpected end of input".to_string()),
        )),
        Found::Incomplete | Found::NotSearched => None,
    }
}

impl Engine {
    /// An engine with these options.
    pub fn new(opts: EngineOptions) -> Self {
        register_functions();
        Self { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at `time` (ms). The result is a scalar, a string, an instant
    /// vector or (for a range selector) a range vector. `timeout` is capped by the engine's.
    pub fn instant(
        &self,
        db: &dyn Queryable,
        query: &str,
        time: i64,
        timeout: Option<Duration>,
    ) -> Result<Value, QueryError> {
        let expr = parse(query)?;
        let mut ev = Evaluator::new(db, &self.opts, timeout, time, time);
        let grid = Grid {
            start: time,
            step: 1,
            n: 1,
        };
        let val = ev.eval(&expr, &grid)?;
        let val = self.bounded(val)?;
        Ok(match val {
            Val::Scalar(v) => Value::Scalar(Point { t: time, v: v[0] }),
            Val::String(s) => Value::String(time, s),
            Val::Vector(rows) => Value::Vector(
                rows.into_iter()
                    .filter_map(|r| {
                        r.vals[0].map(|v| Sample {
                            labels: r.labels,
                            t: time,
                            v,
                        })
                    })
                    .collect(),
            ),
            Val::Range(rv) => {
                let mut out: Vec<Series> = rv
                    .series
                    .into_iter()
                    .filter_map(|s| {
                        let w = window(&s.points, rv.refs[0] - rv.range, rv.refs[0]);
                        (!w.is_empty()).then(|| Series {
                            labels: s.labels,
                            points: w.to_vec(),
                        })
                    })
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(out)
            }
        })
    }

    /// Refuses a result of more than `max_series` series.
    fn bounded(&self, val: Val) -> Result<Val, QueryError> {
        let n = match &val {
            Val::Vector(rows) => rows.len(),
            Val::Range(rv) => rv.series.len(),
            Val::Scalar(_) | Val::String(_) => 0,
        };
        if n > self.opts.max_series {
            return Err(QueryError::Execution(format!(
                "the query's result holds {n} series, more than the limit of {}",
                self.opts.max_series
            )));
        }
        Ok(val)
    }

    /// Evaluates `query` at every `step` (ms, > 0) from `start` to `end` (ms, inclusive).
    /// The result is always a matrix, series sorted by labels; scalars become one series
    /// without labels. Range-vector and string expressions are refused as Prometheus does.
    pub fn range(
        &self,
        db: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        timeout: Option<Duration>,
    ) -> Result<Value, QueryError> {
        if step <= 0 {
            return Err(QueryError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(QueryError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        let n = (end - start) / step + 1;
        if n as u64 > self.opts.max_points_per_series as u64 {
            return Err(QueryError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        let expr = parse(query)?;
        match expr.value_type() {
            parser::value::ValueType::Vector | parser::value::ValueType::Scalar => {}
            other => {
                return Err(QueryError::BadData(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    type_name(other)
                )));
            }
        }
        let mut ev = Evaluator::new(db, &self.opts, timeout, start, end);
        let grid = Grid {
            start,
            step,
            n: n as usize,
        };
        let val = ev.eval(&expr, &grid)?;
        let val = self.bounded(val)?;
        let mut out: Vec<Series> = match val {
            Val::Scalar(v) => vec![Series {
                labels: Labels::default(),
                points: v
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Point { t: grid.ts(i), v })
                    .collect(),
            }],
            Val::Vector(rows) => rows
                .into_iter()
                .filter_map(|r| {
                    let points: Vec<Point> = r
                        .vals
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| Point { t: grid.ts(i), v }))
                        .collect();
                    (!points.is_empty()).then_some(Series {
                        labels: r.labels,
                        points,
                    })
                })
                .collect(),
            _ => return Err(QueryError::Execution("unexpected result type".into())),
        };
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Value::Matrix(out))
    }
}

fn type_name(t: parser::value::ValueType) -> &'static str {
    use parser::value::ValueType;
    match t {
        ValueType::Vector => "instant vector",
        ValueType::Scalar => "scalar",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

/// Parses `query` and prints it back in Prometheus's canonical, prettified form (what
/// `/api/v1/format_query` answers).
pub fn format_query(query: &str) -> Result<String, QueryError> {
    parse(query).map(|e| e.prettify())
}

/// The evaluation times of one (sub)query: `start + i * step` for `i < n`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub start: i64,
    pub step: i64,
    pub n: usize,
}

impl Grid {
    pub fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// One series of an instant-vector value: a value per step of the grid, or none.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub labels: Labels,
    pub vals: Vec<Option<f64>>,
}

/// One series of a range-vector value.
#[derive(Debug, Clone)]
pub(crate) struct RangeSeries {
    pub labels: Labels,
    /// Points ascending by time, staleness markers removed.
    pub points: Vec<Point>,
}

/// A range vector over a grid: at step `i` the window is `[refs[i] - range, refs[i]]`.
#[derive(Debug, Clone)]
pub(crate) struct RangeVal {
    pub series: Vec<RangeSeries>,
    pub refs: Vec<i64>,
    pub range: i64,
    /// The label set `absent_over_time` reports (from the selector's equality matchers).
    pub absent_labels: Labels,
}

/// The points of a sorted series inside `[lo, hi]`.
pub(crate) fn window(points: &[Point], lo: i64, hi: i64) -> &[Point] {
    let a = points.partition_point(|p| p.t < lo);
    let b = points.partition_point(|p| p.t <= hi);
    &points[a..b.max(a)]
}

/// An evaluated expression over a grid.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    String(String),
    Vector(Vec<Row>),
    Range(RangeVal),
}

/// State of one query's evaluation.
pub(crate) struct Evaluator<'a> {
    db: &'a dyn Queryable,
    pub lookback: i64,
    deadline: Instant,
    max_samples: usize,
    loaded: usize,
    /// The outermost query's start and end (what `@ start()` and `@ end()` mean).
    query_start: i64,
    query_end: i64,
}

impl<'a> Evaluator<'a> {
    fn new(
        db: &'a dyn Queryable,
        opts: &EngineOptions,
        timeout: Option<Duration>,
        query_start: i64,
        query_end: i64,
    ) -> Self {
        let timeout = timeout.map_or(opts.timeout, |t| t.min(opts.timeout));
        Self {
            db,
            lookback: opts.lookback_delta.as_millis() as i64,
            deadline: Instant::now() + timeout,
            max_samples: opts.max_samples,
            loaded: 0,
            query_start,
            query_end,
        }
    }

    /// Fails once the query is past its deadline.
    pub fn check_deadline(&self) -> Result<(), QueryError> {
        if Instant::now() > self.deadline {
            Err(QueryError::Timeout("query execution"))
        } else {
            Ok(())
        }
    }

    /// Counts `n` more samples held in memory; fails past the limit.
    pub fn account(&mut self, n: usize) -> Result<(), QueryError> {
        self.loaded = self.loaded.saturating_add(n);
        if self.loaded > self.max_samples {
            return Err(QueryError::Execution(
                "query processing would load too many samples into memory in query execution"
                    .into(),
            ));
        }
        Ok(())
    }

    pub fn eval(&mut self, expr: &Expr, grid: &Grid) -> Result<Val, QueryError> {
        self.check_deadline()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; grid.n])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, grid),
            Expr::Unary(u) => match self.eval(&u.expr, grid)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(mut rows) => {
                    for r in &mut rows {
                        r.labels.remove("__name__");
                        for v in r.vals.iter_mut().flatten() {
                            *v = -*v;
                        }
                    }
                    check_unique_labels(&rows)?;
                    Ok(Val::Vector(rows))
                }
                _ => Err(QueryError::Execution(
                    "unary minus applies only to scalars and instant vectors".into(),
                )),
            },
            Expr::Binary(b) => binary::eval(self, b, grid),
            Expr::Aggregate(a) => aggregate::eval(self, a, grid),
            Expr::Call(c) => functions::eval(self, c, grid),
            Expr::VectorSelector(vs) => {
                let rows = self.eval_vector_selector(vs, grid, false)?;
                Ok(Val::Vector(rows))
            }
            Expr::MatrixSelector(ms) => {
                let range = ms.range.as_millis() as i64;
                Ok(Val::Range(self.eval_matrix_selector(&ms.vs, range, grid)?))
            }
            Expr::Subquery(sq) => Ok(Val::Range(self.eval_subquery(sq, grid)?)),
            Expr::Extension(_) => Err(QueryError::Execution(
                "extension expressions are not supported".into(),
            )),
        }
    }

    /// The reference time of each step for a selector with these modifiers: the `@` time
    /// (or the step's time) minus the offset.
    pub fn refs(&self, grid: &Grid, at: &Option<AtModifier>, offset: &Option<Offset>) -> Vec<i64> {
        let off = offset_ms(offset);
        match self.at_time(at) {
            Some(t) => vec![t - off; grid.n],
            None => (0..grid.n).map(|i| grid.ts(i) - off).collect(),
        }
    }

    /// The time an `@` modifier pins evaluation to.
    pub fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(*t)),
        }
    }

    /// Loads every series a selector matches with samples in `[start, end]`.
    fn load(
        &mut self,
        vs: &VectorSelector,
        start: i64,
        end: i64,
    ) -> Result<Vec<ward_store::Series>, QueryError> {
        self.check_deadline()?;
        let mut groups: Vec<Vec<ward_store::Matcher>> = Vec::new();
        let base = convert_matchers(&vs.matchers.matchers)?;
        if vs.matchers.or_matchers.is_empty() {
            groups.push(base);
        } else {
            for or in &vs.matchers.or_matchers {
                let mut g = base.clone();
                g.extend(convert_matchers(or)?);
                groups.push(g);
            }
        }
        if let Some(name) = &vs.name {
            for g in &mut groups {
                if !g.iter().any(|m| m.name() == "__name__") {
                    g.push(ward_store::Matcher::equal("__name__", name.clone()));
                }
            }
        }
        let limits = ward_store::SelectLimits {
            max_series: usize::MAX,
            max_samples: self.max_samples.saturating_sub(self.loaded),
        };
        let mut out: Vec<ward_store::Series> = Vec::new();
        for g in &groups {
            let got = self.db.select(g, start, end, limits).map_err(|e| match e {
                ward_store::Error::TooManySamples { .. } => QueryError::Execution(
                    "query processing would load too many samples into memory in query execution"
                        .into(),
                ),
                other => QueryError::Internal(other.to_string()),
            })?;
            out.extend(got);
        }
        if groups.len() > 1 {
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.dedup_by(|a, b| a.labels == b.labels);
        }
        let n: usize = out.iter().map(|s| s.samples.len()).sum();
        self.account(n)?;
        Ok(out)
    }

    /// An instant selector over the grid: per step, the newest sample at most the lookback
    /// delta older than the step's reference time, unless it is a staleness marker. With
    /// `timestamps`, the value is the sample's own timestamp in seconds (for `timestamp()`).
    pub fn eval_vector_selector(
        &mut self,
        vs: &VectorSelector,
        grid: &Grid,
        timestamps: bool,
    ) -> Result<Vec<Row>, QueryError> {
        let refs = self.refs(grid, &vs.at, &vs.offset);
        let (lo, hi) = min_max(&refs);
        let series = self.load(vs, lo - self.lookback, hi)?;
        let mut rows = Vec::with_capacity(series.len());
        for s in series {
            let mut vals = Vec::with_capacity(grid.n);
            let mut any = false;
            let mut cursor = 0usize;
            for &r in &refs {
                // refs are ascending (or constant): move the cursor forward only.
                if cursor > 0 && s.samples[cursor - 1].0 > r {
                    cursor = s.samples.partition_point(|p| p.0 <= r);
                } else {
                    while cursor < s.samples.len() && s.samples[cursor].0 <= r {
                        cursor += 1;
                    }
                }
                let v = if cursor == 0 {
                    None
                } else {
                    let (t, v) = s.samples[cursor - 1];
                    if t < r - self.lookback || is_stale(v) {
                        None
                    } else if timestamps {
                        Some(t as f64 / 1000.0)
                    } else {
                        Some(v)
                    }
                };
                any |= v.is_some();
                vals.push(v);
            }
            if any {
                rows.push(Row {
                    labels: Labels::from(&s.labels),
                    vals,
                });
            }
        }
        self.account(rows.len() * grid.n)?;
        Ok(rows)
    }

    fn eval_matrix_selector(
        &mut self,
        vs: &VectorSelector,
        range: i64,
        grid: &Grid,
    ) -> Result<RangeVal, QueryError> {
        let refs = self.refs(grid, &vs.at, &vs.offset);
        let (lo, hi) = min_max(&refs);
        let series = self.load(vs, lo - range, hi)?;
        let series = series
            .into_iter()
            .map(|s| RangeSeries {
                labels: Labels::from(&s.labels),
                points: s
                    .samples
                    .into_iter()
                    .filter(|(_, v)| !is_stale(*v))
                    .map(|(t, v)| Point { t, v })
                    .collect(),
            })
            .collect();
        Ok(RangeVal {
            series,
            refs,
            range,
            absent_labels: absent_labels(vs),
        })
    }

    fn eval_subquery(
        &mut self,
        sq: &parser::SubqueryExpr,
        grid: &Grid,
    ) -> Result<RangeVal, QueryError> {
        let range = sq.range.as_millis() as i64;
        let step = sq
            .step
            .map(|s| s.as_millis() as i64)
            .filter(|&s| s > 0)
            .unwrap_or(DEFAULT_SUBQUERY_STEP_MS);
        let refs = self.refs(grid, &sq.at, &sq.offset);
        let (lo, hi) = min_max(&refs);
        // The first step at or after lo - range that is a multiple of the step, as
        // Prometheus aligns subqueries to absolute time.
        let from = lo - range;
        let mut start = step * (from / step);
        if start < from {
            start += step;
        }
        let n = if hi < start {
            0
        } else {
            ((hi - start) / step + 1) as usize
        };
        let inner = Grid { start, step, n };
        let val = if n == 0 {
            Val::Vector(Vec::new())
        } else {
            self.eval(&sq.expr, &inner)?
        };
        let rows = match val {
            Val::Vector(rows) => rows,
            Val::Scalar(v) => vec![Row {
                labels: Labels::default(),
                vals: v.into_iter().map(Some).collect(),
            }],
            _ => {
                return Err(QueryError::BadData(
                    "subquery is only allowed on instant vector or scalar".into(),
                ));
            }
        };
        let series = rows
            .into_iter()
            .map(|r| RangeSeries {
                labels: r.labels,
                points: r
                    .vals
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| Point { t: inner.ts(i), v }))
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        Ok(RangeVal {
            series,
            refs,
            range,
            absent_labels: Labels::default(),
        })
    }

    /// Evaluates an expression that must be a scalar (function and aggregation parameters).
    pub fn eval_scalar(&mut self, expr: &Expr, grid: &Grid) -> Result<Vec<f64>, QueryError> {
        match self.eval(expr, grid)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(QueryError::BadData(format!(
                "expected a scalar, got {expr}"
            ))),
        }
    }

    /// Evaluates an expression that must be an instant vector.
    pub fn eval_vector(&mut self, expr: &Expr, grid: &Grid) -> Result<Vec<Row>, QueryError> {
        match self.eval(expr, grid)? {
            Val::Vector(v) => Ok(v),
            _ => Err(QueryError::BadData(format!(
                "expected an instant vector, got {expr}"
            ))),
        }
    }

    /// Evaluates an expression that must be a range vector.
    pub fn eval_range(&mut self, expr: &Expr, grid: &Grid) -> Result<RangeVal, QueryError> {
        match self.eval(expr, grid)? {
            Val::Range(r) => Ok(r),
            _ => Err(QueryError::BadData(format!(
                "expected a range vector, got {expr}"
            ))),
        }
    }
}

/// `absent()`'s labels for a selector: its equality matchers, except the metric name and
/// any label matched more than once (Prometheus's historic behaviour).
pub(crate) fn absent_labels(vs: &VectorSelector) -> Labels {
    let mut out = Labels::default();
    let mut seen: HashMap<&str, bool> = HashMap::new();
    for m in &vs.matchers.matchers {
        if m.name == "__name__" {
            continue;
        }
        let first = !seen.contains_key(m.name.as_str());
        if matches!(m.op, PMatchOp::Equal) && first {
            out.set(&m.name, m.value.clone());
        } else {
            out.remove(&m.name);
        }
        seen.insert(&m.name, true);
    }
    out
}

fn convert_matchers(
    ms: &[promql_parser::label::Matcher],
) -> Result<Vec<ward_store::Matcher>, QueryError> {
    ms.iter()
        .map(|m| {
            let op = match m.op {
                PMatchOp::Equal => ward_store::MatchOp::Equal,
                PMatchOp::NotEqual => ward_store::MatchOp::NotEqual,
                PMatchOp::Re(_) => ward_store::MatchOp::Regex,
                PMatchOp::NotRe(_) => ward_store::MatchOp::NotRegex,
            };
            ward_store::Matcher::new(m.name.clone(), op, m.value.clone())
                .map_err(|e| QueryError::BadData(e.to_string()))
        })
        .collect()
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

fn min_max(v: &[i64]) -> (i64, i64) {
    let lo = v.iter().copied().min().unwrap_or(0);
    let hi = v.iter().copied().max().unwrap_or(0);
    (lo, hi)
}

/// True for Prometheus's staleness marker (one specific NaN).
pub(crate) fn is_stale(v: f64) -> bool {
    v.to_bits() == ward_store::STALE_NAN
}

/// Fails when two series of a vector share a label set (Prometheus's "vector cannot contain
/// metrics with the same labelset").
pub(crate) fn check_unique_labels(rows: &[Row]) -> Result<(), QueryError> {
    let mut seen: HashMap<&Labels, ()> = HashMap::with_capacity(rows.len());
    for r in rows {
        if seen.insert(&r.labels, ()).is_some() {
            return Err(QueryError::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}

/// Merges series that ended up with the same labels (after a function dropped the metric
/// name): fine when they never have a value at the same step, an error otherwise.
pub(crate) fn merge_same_labels(rows: Vec<Row>) -> Result<Vec<Row>, QueryError> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(rows.len());
    let mut out: Vec<Row> = Vec::with_capacity(rows.len());
    for r in rows {
        if !r.vals.iter().any(Option::is_some) {
            continue;
        }
        match index.get(&r.labels) {
            None => {
                index.insert(r.labels.clone(), out.len());
                out.push(r);
            }
            Some(&i) => {
                let dst = &mut out[i];
                for (d, s) in dst.vals.iter_mut().zip(r.vals) {
                    if let Some(s) = s {
                        if d.is_some() {
                            return Err(QueryError::Execution(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                        *d = Some(s);
                    }
                }
            }
        }
    }
    Ok(out)
}
