//! The `@` re-runs of an instant case (upstream's `atModifierTestCases`): every selector and
//! subquery outside a subquery gets `@ <eval time>` (unless it has a fixed `@` already), and the
//! query is evaluated again at other times, where it must give the same result.

use promql_parser::parser::{AtModifier, Expr};
use std::time::{Duration, SystemTime};

/// Functions whose result changes with the evaluation time even when their arguments are
/// step invariant (Prometheus's `AtModifierUnsafeFunctions`): a query using one outside a
/// subquery gets no `@` re-runs.
const UNSAFE_FUNCTIONS: [&str; 11] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// The `@` variants of `expr` evaluated at `t` (ms): `(query, evaluation time)` pairs, none when
/// the query uses an unsafe function or does not parse (the plain run reports that).
/// `Err` when the rewritten query cannot be printed faithfully (a limit of the runner).
pub(crate) fn variants(expr: &str, t: i64) -> Result<Vec<(String, i64)>, String> {
    let Ok(mut ast) = crate::engine::parse(expr) else {
        return Ok(Vec::new());
    };
    let at = at_modifier(t);
    let mut unsafe_call = false;
    pin(&mut ast, &at, &mut unsafe_call);
    if unsafe_call {
        return Ok(Vec::new());
    }
    if has_negative_at(&ast) {
        // The parser prints an `@` before 1970 as `@ 0.000`.
        return Err(
            "the runner cannot print the @ variant of a query with an @ before 1970".into(),
        );
    }
    // The parser's printing sorts matchers and drops no-op modifiers (`ignoring()`, unary
    // `+`), so the printed query is checked to be stable rather than equal to the tree.
    let printed = ast.to_string();
    match crate::engine::parse(&printed) {
        Ok(again) if again.to_string() == printed => {}
        _ => {
            return Err(format!(
                "the runner cannot print the @ variant of this query (got `{printed}`)"
            ));
        }
    }
    let times: Vec<i64> = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    Ok(times.into_iter().map(|et| (printed.clone(), et)).collect())
}

/// True when a selector or subquery has an `@` before the epoch.
fn has_negative_at(e: &Expr) -> bool {
    let negative = |at: &Option<AtModifier>| matches!(at, Some(AtModifier::At(t)) if *t < SystemTime::UNIX_EPOCH);
    match e {
        Expr::VectorSelector(vs) => negative(&vs.at),
        Expr::MatrixSelector(ms) => negative(&ms.vs.at),
        Expr::Subquery(sq) => negative(&sq.at) || has_negative_at(&sq.expr),
        Expr::Call(call) => call.args.args.iter().any(|a| has_negative_at(a)),
        Expr::Aggregate(agg) => {
            agg.param.as_deref().is_some_and(has_negative_at) || has_negative_at(&agg.expr)
        }
        Expr::Unary(u) => has_negative_at(&u.expr),
        Expr::Binary(b) => has_negative_at(&b.lhs) || has_negative_at(&b.rhs),
        Expr::Paren(p) => has_negative_at(&p.expr),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    }
}

fn at_modifier(t: i64) -> AtModifier {
    let d = Duration::from_millis(t.unsigned_abs());
    let time = if t >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(d)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(d)
    };
    AtModifier::At(time.unwrap_or(SystemTime::UNIX_EPOCH))
}

/// Sets `@` on selectors and subqueries not under a subquery, in place. `@ start()` and
/// `@ end()` are replaced, as upstream (whose parser leaves their timestamp unset) does.
fn pin(e: &mut Expr, at: &AtModifier, unsafe_call: &mut bool) {
    let set = |slot: &mut Option<AtModifier>| {
        if !matches!(slot, Some(AtModifier::At(_))) {
            *slot = Some(at.clone());
        }
    };
    match e {
        Expr::VectorSelector(vs) => set(&mut vs.at),
        Expr::MatrixSelector(ms) => set(&mut ms.vs.at),
        // Everything below a subquery keeps its own times (and is not checked for unsafe
        // functions, as upstream skips those nodes too).
        Expr::Subquery(sq) => set(&mut sq.at),
        Expr::Call(call) => {
            *unsafe_call |= UNSAFE_FUNCTIONS.contains(&call.func.name);
            for arg in &mut call.args.args {
                pin(arg, at, unsafe_call);
            }
        }
        Expr::Aggregate(agg) => {
            if let Some(p) = &mut agg.param {
                pin(p, at, unsafe_call);
            }
            pin(&mut agg.expr, at, unsafe_call);
        }
        Expr::Unary(u) => pin(&mut u.expr, at, unsafe_call),
        Expr::Binary(b) => {
            pin(&mut b.lhs, at, unsafe_call);
            pin(&mut b.rhs, at, unsafe_call);
        }
        Expr::Paren(p) => pin(&mut p.expr, at, unsafe_call),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}
