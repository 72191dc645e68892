//! Executing parsed commands: loading into a fresh store, evaluating each case the ways
//! upstream does (plain, `@` re-runs, range mode) and recording why a case failed.

use super::at;
use super::compare;
use super::parse::{Command, Eval, EvalKind, Load};
use super::series::SeqValue;
use super::{CaseFailure, FileReport, TestFileError};
use crate::{Engine, QueryError, Value};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;
use ward_store::{Store, StoreOptions};

/// Retention and out-of-order window of the test stores: test data sits in 1970.
const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// Step and half-width of the range-mode re-run of an instant case.
const RANGE_MODE_STEP: i64 = 60_000;
/// Samples per append when loading.
const LOAD_BATCH: usize = 100_000;

/// Runs `cmds` (parsed from `path`) with `engine`, each `clear` starting a new store.
pub(crate) fn run(
    cmds: &[Command],
    engine: &Engine,
    path: &Path,
) -> Result<FileReport, TestFileError> {
    let mut store = new_store(path)?;
    let mut report = FileReport::default();
    for cmd in cmds {
        match cmd {
            Command::Clear => {
                drop(store);
                store = new_store(path)?;
            }
            Command::Load(load) => load_into(&store, load, path)?,
            Command::Eval(eval) => {
                report.cases += 1;
                match run_eval(engine, &store, eval) {
                    Ok(()) => report.passed += 1,
                    Err(reason) => report.failures.push(CaseFailure {
                        line: eval.line,
                        query: eval.expr.clone(),
                        reason,
                    }),
                }
            }
        }
    }
    Ok(report)
}

fn new_store(path: &Path) -> Result<Store, TestFileError> {
    Store::temporary(StoreOptions {
        retention: CENTURY,
        out_of_order_window: CENTURY,
        maintenance_interval: None,
        cache_bytes: 4 << 20,
        ..StoreOptions::default()
    })
    .map_err(|source| TestFileError::Store {
        path: path.to_path_buf(),
        source,
    })
}

/// Appends a `load` block: value `i` of a series at `i * step`; `_` and native histograms
/// (which ward cannot store) write nothing.
fn load_into(store: &Store, load: &Load, path: &Path) -> Result<(), TestFileError> {
    let mut batch = Vec::new();
    let mut lines = Vec::new();
    for (labels, values, line) in &load.series {
        let series =
            ward_store::Labels::from_pairs(labels.iter()).map_err(|e| TestFileError::Load {
                path: path.to_path_buf(),
                line: *line,
                message: format!("series {labels} is not valid in ward's store: {e}"),
            })?;
        let mut t = 0;
        for v in values {
            if let SeqValue::Float(f) = v {
                batch.push((series.clone(), t, *f));
                lines.push(*line);
            }
            t += load.step;
        }
    }
    for (n, chunk) in batch.chunks(LOAD_BATCH).enumerate() {
        let report = store.append(chunk).map_err(|source| TestFileError::Store {
            path: path.to_path_buf(),
            source,
        })?;
        if let Some((i, reason)) = report.rejected.first() {
            let (labels, t, _) = &chunk[*i];
            return Err(TestFileError::Load {
                path: path.to_path_buf(),
                line: lines[n * LOAD_BATCH + i],
                message: format!(
                    "the store refused {} sample(s), the first {labels} at t={t}ms: {reason}",
                    report.rejected_total
                ),
            });
        }
    }
    Ok(())
}

fn run_eval(engine: &Engine, db: &Store, eval: &Eval) -> Result<(), String> {
    match eval.kind {
        EvalKind::Instant { at } => run_instant(engine, db, eval, at),
        EvalKind::Range { start, end, step } => run_range(engine, db, eval, start, end, step),
    }
}

/// An instant case: the query at its time, then (unless it uses a time-dependent function)
/// with `@ <time>` on its selectors at other times; each also as a range query around its
/// time. Every run must pass.
fn run_instant(engine: &Engine, db: &Store, eval: &Eval, at: i64) -> Result<(), String> {
    let mut failures = Vec::new();
    if let Err(why) = check_instant(engine, db, eval, &eval.expr, at) {
        failures.push(format!("at {}: {why}", show_time(at)));
    }
    let variants = match at::variants(&eval.expr, at) {
        Ok(v) => v,
        Err(why) => {
            failures.push(why);
            Vec::new()
        }
    };
    let runs = 1 + variants.len();
    for (query, t) in &variants {
        if let Err(why) = check_instant(engine, db, eval, query, *t) {
            failures.push(format!("@ re-run `{query}` at {}: {why}", show_time(*t)));
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(failures.swap_remove(0)),
        n => Err(format!(
            "{} (and {} more of the {runs} runs fail)",
            failures[0],
            n - 1
        )),
    }
}

/// One run of an instant case, as upstream's `execInstantEval` loop body.
fn check_instant(
    engine: &Engine,
    db: &Store,
    eval: &Eval,
    query: &str,
    t: i64,
) -> Result<(), String> {
    let value = match guarded(|| engine.instant(db, query, t, None)) {
        Ok(v) => v,
        Err(Failure::Query(_)) if eval.fail => return Ok(()),
        Err(f) => return Err(format!("instant query failed: {f}")),
    };
    if eval.fail {
        return Err(format!(
            "expected the query to fail, but it returned {}",
            summary(&value)
        ));
    }
    match &value {
        Value::Vector(samples) => compare::vector(&eval.expected, samples, eval.ordered)?,
        Value::Scalar(p) => compare::scalar(&eval.expected, p.v)?,
        Value::Matrix(m) if m.is_empty() && eval.expected.len() == 0 && !eval.ordered => {}
        Value::Matrix(m) => {
            return Err(format!(
                "expected an instant vector or a scalar but got a range vector of {} series",
                m.len()
            ));
        }
        Value::String(_, s) => {
            return Err(format!(
                "got string {s:?}: the v2.53 format has no way to expect a string"
            ));
        }
    }

    let (start, end) = (t - RANGE_MODE_STEP, t + RANGE_MODE_STEP);
    let range_mode = format!(
        "range mode (from {} to {} step 1m)",
        show_time(start),
        show_time(end)
    );
    let ranged = match guarded(|| engine.range(db, query, start, end, RANGE_MODE_STEP, None)) {
        Ok(v) => v,
        Err(f) => return Err(format!("{range_mode}: query failed: {f}")),
    };
    if eval.ordered {
        // A range query's series are sorted by labels: nothing to compare an order with.
        return Ok(());
    }
    let Value::Matrix(m) = ranged else {
        return Err(format!(
            "{range_mode}: got {}, not a matrix",
            summary(&ranged)
        ));
    };
    compare::sorted(&m).map_err(|why| format!("{range_mode}: {why}"))?;
    let at_t = compare::at_time(&m, t);
    let compared = match value {
        Value::Scalar(_) => match at_t.first() {
            Some(s) => compare::scalar(&eval.expected, s.v),
            None => Err(format!("no point at {}", show_time(t))),
        },
        _ => compare::vector(&eval.expected, &at_t, false),
    };
    compared.map_err(|why| format!("{range_mode}, step at {}: {why}", show_time(t)))
}

/// A range case (`eval range from .. to .. step ..`).
fn run_range(
    engine: &Engine,
    db: &Store,
    eval: &Eval,
    start: i64,
    end: i64,
    step: i64,
) -> Result<(), String> {
    let value = match guarded(|| engine.range(db, &eval.expr, start, end, step, None)) {
        Ok(v) => v,
        Err(Failure::Query(_)) if eval.fail => return Ok(()),
        Err(f) => return Err(format!("range query failed: {f}")),
    };
    if eval.fail {
        return Err(format!(
            "expected the query to fail, but it returned {}",
            summary(&value)
        ));
    }
    match value {
        Value::Matrix(m) => compare::matrix(&eval.expected, &m, start, end, step),
        other => Err(format!(
            "range query returned {}, not a matrix",
            summary(&other)
        )),
    }
}

/// Why a query gave no value.
enum Failure {
    /// The engine's error.
    Query(QueryError),
    /// The engine panicked (never a pass, not even for `eval_fail`).
    Panic(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Query(e) => write!(f, "{} error: {e}", e.error_type()),
            Failure::Panic(msg) => write!(f, "engine panicked: {msg}"),
        }
    }
}

/// Runs a query, turning a panic into a failure so one engine bug does not end the file.
fn guarded(query: impl FnOnce() -> Result<Value, QueryError>) -> Result<Value, Failure> {
    match catch_unwind(AssertUnwindSafe(query)) {
        Ok(r) => r.map_err(Failure::Query),
        Err(payload) => Err(Failure::Panic(
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into()),
        )),
    }
}

/// A short description of a value, for "expected X but got ...".
fn summary(v: &Value) -> String {
    match v {
        Value::Scalar(p) => format!("scalar {}", crate::format_float(p.v)),
        Value::String(_, s) => format!("string {s:?}"),
        Value::Vector(s) => {
            let shown: Vec<String> = s
                .iter()
                .take(4)
                .map(|s| format!("{} {}", s.labels, crate::format_float(s.v)))
                .collect();
            let more = if s.len() > 4 { ", ..." } else { "" };
            format!(
                "a vector of {} sample(s) [{}{more}]",
                s.len(),
                shown.join(", ")
            )
        }
        Value::Matrix(m) => format!("a matrix of {} series", m.len()),
    }
}

/// `3000s` for whole seconds, else `1234ms`.
fn show_time(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
