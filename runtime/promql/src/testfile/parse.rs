//! The command layer of the format: `load`, `clear`, `eval*` and their indented lines, read
//! line by line as Prometheus v2.53's `promqltest` does (comments and blank lines end a block).

use super::series::{SeqValue, parse_duration, parse_number, parse_series_desc};
use crate::Labels;
use regex::Regex;
use std::sync::LazyLock;

static LOAD: LazyLock<Regex> = LazyLock::new(|| regex(r"^load\s+(.+?)$"));
static EVAL_INSTANT: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^eval(?:_(fail|ordered))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$"));
static EVAL_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"^eval(?:_(fail))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
});

/// Compiles a constant pattern (the tests cover every one).
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant regex")
}

/// One command of a test file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    /// `load <step>` and its series.
    Load(Load),
    /// `clear`: drop every series.
    Clear,
    /// `eval*` and its expected result.
    Eval(Eval),
}

/// `load <step>`: series whose values sit `step` apart from time 0.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Load {
    /// 1-based line of the `load` command.
    pub line: usize,
    /// Time between two values, ms.
    pub step: i64,
    /// Series in order of appearance, each with the line it came from; a later line with
    /// the same labels replaces an earlier one (as upstream keys them by label hash).
    pub series: Vec<(Labels, Vec<SeqValue>, usize)>,
}

/// Instant or range evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvalKind {
    /// `eval instant at <t>`.
    Instant { at: i64 },
    /// `eval range from <start> to <end> step <step>`.
    Range { start: i64, end: i64, step: i64 },
}

/// An `eval` command and what it expects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Eval {
    /// 1-based line of the command.
    pub line: usize,
    /// The query, as written.
    pub expr: String,
    pub kind: EvalKind,
    /// `eval_fail`: the query must fail.
    pub fail: bool,
    /// `eval_ordered`: the vector must come in the expected order.
    pub ordered: bool,
    pub expected: Expected,
}

/// The expected result. Upstream keeps a scalar and series in one map, so both may be set; a
/// result matches only if it matches every entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Expected {
    /// A bare number line: a scalar result.
    pub scalar: Option<f64>,
    /// `{labels} value...` lines, deduplicated by labels (the later line wins).
    pub series: Vec<ExpectedSeries>,
}

/// One expected series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExpectedSeries {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
    /// 1-based position among the expectation lines (checked by `eval_ordered`).
    pub pos: usize,
}

impl Expected {
    fn add_series(&mut self, s: ExpectedSeries) {
        match self.series.iter_mut().find(|e| e.labels == s.labels) {
            Some(e) => *e = s,
            None => self.series.push(s),
        }
    }

    /// Entries upstream's map would hold.
    pub fn len(&self) -> usize {
        self.series.len() + usize::from(self.scalar.is_some())
    }
}

/// A malformed line: 1-based line number and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseError {
    pub line: usize,
    pub message: String,
}

fn err(i: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line: i + 1,
        message: message.into(),
    }
}

/// Reads a whole test file.
pub(crate) fn parse(text: &str) -> Result<Vec<Command>, ParseError> {
    // Trimmed lines, comments blanked: a comment ends a block just as an empty line does.
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') { "" } else { l }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l
            .split([' ', '\t'])
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let (next, cmd) = if word == "clear" {
            (i, Command::Clear)
        } else if word == "load" {
            let (next, load) = parse_load(&lines, i)?;
            (next, Command::Load(load))
        } else if word.starts_with("eval") {
            let (next, eval) = parse_eval(&lines, i)?;
            (next, Command::Eval(eval))
        } else {
            return Err(err(i, format!("invalid command {l:?}")));
        };
        cmds.push(cmd);
        i = next + 1;
    }
    Ok(cmds)
}

/// Parses the `load` at line `i` and its series; returns the index of its last line.
fn parse_load(lines: &[&str], mut i: usize) -> Result<(usize, Load), ParseError> {
    let caps = LOAD
        .captures(lines[i])
        .ok_or_else(|| err(i, "invalid load command. (load <step:duration>)"))?;
    let step_text = caps.get(1).map_or("", |m| m.as_str());
    let step = parse_duration(step_text)
        .map_err(|e| err(i, format!("invalid step definition {step_text:?}: {e}")))?;
    let mut load = Load {
        line: i + 1,
        step,
        series: Vec::new(),
    };
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
        let desc = parse_series_desc(lines[i]).map_err(|e| err(i, e))?;
        let entry = (desc.labels, desc.values, i + 1);
        match load.series.iter_mut().find(|s| s.0 == entry.0) {
            Some(s) => *s = entry,
            None => load.series.push(entry),
        }
    }
    Ok((i, load))
}

/// Parses the `eval*` at line `i` and its expected result; returns the index of its last line.
fn parse_eval(lines: &[&str], mut i: usize) -> Result<(usize, Eval), ParseError> {
    let line = lines[i];
    let instant = EVAL_INSTANT.captures(line);
    let range = EVAL_RANGE.captures(line);
    let group = |c: &regex::Captures<'_>, n: usize| c.get(n).map_or("", |m| m.as_str()).to_string();
    let (modifier, expr, kind) = if let Some(c) = &instant {
        let at = group(c, 2);
        let expr = group(c, 3);
        let at = parse_duration(&at).map_err(|e| {
            err(
                i,
                format!(
                    "error in eval {expr} (line {}): invalid timestamp definition {at:?}: {e}",
                    i + 1
                ),
            )
        })?;
        (group(c, 1), expr, EvalKind::Instant { at })
    } else if let Some(c) = &range {
        let expr = group(c, 5);
        let bad = |what: &str, text: &str, e: String| {
            err(
                i,
                format!(
                    "error in eval {expr} (line {}): invalid {what} definition {text:?}: {e}",
                    i + 1
                ),
            )
        };
        let (from, to, step) = (group(c, 2), group(c, 3), group(c, 4));
        let start = parse_duration(&from).map_err(|e| bad("start timestamp", &from, e))?;
        let end = parse_duration(&to).map_err(|e| bad("end timestamp", &to, e))?;
        if end < start {
            return Err(err(
                i,
                format!(
                    "error in eval {expr} (line {}): invalid test definition, end timestamp ({to}) is before start timestamp ({from})",
                    i + 1
                ),
            ));
        }
        let step = parse_duration(&step).map_err(|e| bad("step", &step, e))?;
        (group(c, 1), expr, EvalKind::Range { start, end, step })
    } else {
        return Err(err(
            i,
            "invalid evaluation command. Must be either 'eval[_fail|_ordered] instant [at <offset:duration>] <query>' or 'eval[_fail] range from <from> to <to> step <step> <query>'",
        ));
    };
    let mut eval = Eval {
        line: i + 1,
        expr,
        kind,
        fail: modifier == "fail",
        ordered: modifier == "ordered",
        expected: Expected::default(),
    };
    let mut pos = 1;
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
        if let Some(v) = parse_number(lines[i]) {
            // A scalar ends the expectation, whatever follows.
            eval.expected.scalar = Some(v);
            break;
        }
        let desc = parse_series_desc(lines[i]).map_err(|e| err(i, e))?;
        if desc.values.is_empty() {
            return Err(err(i, "expected series has no value"));
        }
        if desc.values.len() > 1 && matches!(eval.kind, EvalKind::Instant { .. }) {
            return Err(err(
                i,
                format!(
                    "error in eval {} (line {}): expecting multiple values in instant evaluation not allowed",
                    eval.expr, eval.line
                ),
            ));
        }
        eval.expected.add_series(ExpectedSeries {
            labels: desc.labels,
            values: desc.values,
            pos,
        });
        pos += 1;
    }
    Ok((i, eval))
}
