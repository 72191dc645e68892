//! Series descriptions (`metric{a="b"} 0+10x5 _ stale`), numbers and durations, read as
//! Prometheus v2.53 reads them in test files (`parser.ParseSeriesDesc`, `model.ParseDuration`,
//! test.go's `parseNumber`).

use crate::Labels;

/// One position of a value sequence.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SeqValue {
    /// A float sample (`stale` is the staleness marker NaN).
    Float(f64),
    /// `_`: no sample at this position.
    Omitted,
    /// A native histogram sample, kept as written (ward stores floats only).
    Histogram(String),
}

/// A parsed series description: a label set and its value sequence.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesDesc {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

/// Parses `metric{name="value", ...} <values>`: the metric name or the braces may be left
/// out (`{} 3`, `metric 1 2`).
pub(crate) fn parse_series_desc(line: &str) -> Result<SeriesDesc, String> {
    let mut cur = Cursor { s: line, pos: 0 };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let name = cur.take_while(|c, first| {
        if first {
            c.is_ascii_alphabetic() || c == '_' || c == ':'
        } else {
            c.is_ascii_alphanumeric() || c == '_' || c == ':'
        }
    });
    if !name.is_empty() {
        pairs.push(("__name__".to_string(), name.to_string()));
    }
    if cur.peek() == Some('{') {
        cur.bump();
        parse_label_set(&mut cur, &mut pairs)?;
    } else if name.is_empty() {
        return Err(format!(
            "expected a metric name or a label set at the start of {line:?}"
        ));
    }
    let values = parse_values(cur.rest())?;
    Ok(SeriesDesc {
        labels: Labels::new(pairs),
        values,
    })
}

fn parse_label_set(cur: &mut Cursor<'_>, pairs: &mut Vec<(String, String)>) -> Result<(), String> {
    loop {
        cur.skip_space();
        match cur.peek() {
            Some('}') => {
                cur.bump();
                return Ok(());
            }
            None => return Err("unterminated label set: missing '}'".into()),
            _ => {}
        }
        let name = cur
            .take_while(|c, first| {
                c.is_ascii_alphabetic() || c == '_' || (!first && c.is_ascii_digit())
            })
            .to_string();
        if name.is_empty() {
            return Err(format!(
                "expected a label name in the label set at {:?}",
                cur.rest()
            ));
        }
        cur.skip_space();
        if cur.peek() != Some('=') {
            return Err(format!(
                "expected '=' after label name {name:?} (series descriptions only take '=')"
            ));
        }
        cur.bump();
        if cur.peek() == Some('~') {
            return Err(format!(
                "unexpected '=~' after label name {name:?} (series descriptions only take '=')"
            ));
        }
        cur.skip_space();
        let value = cur.string_literal()?;
        pairs.push((name, value));
        cur.skip_space();
        match cur.peek() {
            Some(',') => {
                cur.bump();
            }
            Some('}') => {}
            Some(c) => {
                return Err(format!(
                    "unexpected {c:?} in label set, expected ',' or '}}'"
                ));
            }
            None => return Err("unterminated label set: missing '}'".into()),
        }
    }
}

/// Tokens of a value sequence, as Prometheus's lexer emits them in series-description mode.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Space,
    Add,
    Sub,
    Times,
    Blank,
    Number(String),
    Ident(String),
    Histogram(String),
}

fn lex_values(s: &str) -> Result<Vec<Tok>, String> {
    let mut cur = Cursor { s, pos: 0 };
    let mut out = Vec::new();
    while let Some(c) = cur.peek() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                cur.skip_space();
                out.push(Tok::Space);
            }
            '+' => {
                cur.bump();
                out.push(Tok::Add);
            }
            '-' => {
                cur.bump();
                out.push(Tok::Sub);
            }
            'x' => {
                cur.bump();
                out.push(Tok::Times);
            }
            '_' => {
                cur.bump();
                out.push(Tok::Blank);
            }
            '{' if cur.rest().starts_with("{{") => {
                let rest = cur.rest();
                let end = rest
                    .find("}}")
                    .ok_or_else(|| format!("unterminated histogram {rest:?}: missing '}}}}'"))?;
                out.push(Tok::Histogram(rest[..end + 2].to_string()));
                cur.pos += end + 2;
            }
            c if c.is_ascii_digit()
                || (c == '.' && cur.peek2().is_some_and(|d| d.is_ascii_digit())) =>
            {
                out.push(Tok::Number(lex_number(&mut cur)?));
            }
            c if c.is_ascii_alphabetic() => {
                let word = cur
                    .take_while(|c, _| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                    .to_string();
                // The lexer reads `Inf` and `NaN` (any case) as numbers.
                if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("nan") {
                    out.push(Tok::Number(word));
                } else {
                    out.push(Tok::Ident(word));
                }
            }
            c => return Err(format!("unexpected character {c:?} in series values {s:?}")),
        }
    }
    Ok(out)
}

/// Decimal digits, a fraction, an exponent; never hexadecimal in series descriptions. Only
/// `x` (the repetition) may follow directly.
fn lex_number(cur: &mut Cursor<'_>) -> Result<String, String> {
    let start = cur.pos;
    cur.take_while(|c, _| c.is_ascii_digit());
    if cur.peek() == Some('.') {
        cur.bump();
        cur.take_while(|c, _| c.is_ascii_digit());
    }
    if matches!(cur.peek(), Some('e' | 'E')) {
        cur.bump();
        if matches!(cur.peek(), Some('+' | '-')) {
            cur.bump();
        }
        cur.take_while(|c, _| c.is_ascii_digit());
    }
    let text = &cur.s[start..cur.pos];
    match cur.peek() {
        Some(c) if c != 'x' && (c.is_ascii_alphanumeric() || c == '_') => {
            Err(format!("bad number syntax: {:?}", &cur.s[start..=cur.pos]))
        }
        _ => Ok(text.to_string()),
    }
}

/// The value sequence grammar of `generated_parser.y` (`series_values`, `series_item`).
fn parse_values(s: &str) -> Result<Vec<SeqValue>, String> {
    let toks = lex_values(s)?;
    let mut p = TokCursor {
        toks: &toks,
        pos: 0,
    };
    let mut out = Vec::new();
    while let Some(t) = p.next() {
        if *t != Tok::Space {
            return Err(format!(
                "unexpected {} in series values {s:?}: items are separated by spaces",
                describe(t)
            ));
        }
        if p.peek().is_none() {
            break;
        }
        parse_item(&mut p, &mut out).map_err(|e| format!("{e} in series values {s:?}"))?;
    }
    Ok(out)
}

fn parse_item(p: &mut TokCursor<'_>, out: &mut Vec<SeqValue>) -> Result<(), String> {
    match p.peek() {
        Some(Tok::Blank) => {
            p.next();
            if p.eat(&Tok::Times) {
                let n = p.uint()?;
                out.extend((0..n).map(|_| SeqValue::Omitted));
            } else {
                out.push(SeqValue::Omitted);
            }
        }
        Some(Tok::Histogram(h)) => {
            let h = h.clone();
            p.next();
            if p.eat(&Tok::Times) {
                let n = p.uint()?;
                out.extend((0..=n).map(|_| SeqValue::Histogram(h.clone())));
            } else if matches!(p.peek(), Some(Tok::Add | Tok::Sub)) {
                let op = if p.eat(&Tok::Add) {
                    '+'
                } else {
                    p.next();
                    '-'
                };
                let Some(Tok::Histogram(d)) = p.next().cloned() else {
                    return Err(format!("expected a histogram after '{op}'"));
                };
                if !p.eat(&Tok::Times) {
                    return Err("expected 'x<count>' after a histogram increment".into());
                }
                let n = p.uint()?;
                let text = format!("{h}{op}{d}x{n}");
                out.extend((0..=n).map(|_| SeqValue::Histogram(text.clone())));
            } else {
                out.push(SeqValue::Histogram(h));
            }
        }
        _ => {
            let mut v = p.series_value()?;
            if p.eat(&Tok::Times) {
                let n = p.uint()?;
                out.extend((0..=n).map(|_| SeqValue::Float(v)));
            } else if matches!(p.peek(), Some(Tok::Add | Tok::Sub)) {
                let delta = p.signed_number()?;
                if !p.eat(&Tok::Times) {
                    return Err("expected 'x<count>' after an increment".into());
                }
                let n = p.uint()?;
                // Accumulated by repeated addition, as upstream does: `a + i*b` would round
                // differently.
                for _ in 0..=n {
                    out.push(SeqValue::Float(v));
                    v += delta;
                }
            } else {
                out.push(SeqValue::Float(v));
            }
        }
    }
    Ok(())
}

struct TokCursor<'a> {
    toks: &'a [Tok],
    pos: usize,
}

impl TokCursor<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<&Tok> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `uint`: a NUMBER token read as a base-10 unsigned integer.
    fn uint(&mut self) -> Result<u64, String> {
        match self.next() {
            Some(Tok::Number(n)) => n
                .parse::<u64>()
                .map_err(|e| format!("invalid repetition in series values: {n:?}: {e}")),
            Some(t) => Err(format!("expected a repetition count, got {}", describe(t))),
            None => Err("expected a repetition count at the end".into()),
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        match self.next() {
            Some(Tok::Number(n)) => parse_number(n).ok_or_else(|| format!("invalid number {n:?}")),
            Some(t) => Err(format!("expected a number, got {}", describe(t))),
            None => Err("expected a number at the end".into()),
        }
    }

    fn signed_number(&mut self) -> Result<f64, String> {
        if self.eat(&Tok::Add) {
            self.number()
        } else if self.eat(&Tok::Sub) {
            Ok(-self.number()?)
        } else {
            Err("expected '+' or '-'".into())
        }
    }

    /// `series_value`: `stale`, a number or a signed number.
    fn series_value(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(Tok::Add | Tok::Sub) => self.signed_number(),
            Some(Tok::Number(_)) => self.number(),
            Some(Tok::Ident(w)) if w == "stale" => {
                self.pos += 1;
                Ok(f64::from_bits(ward_store::STALE_NAN))
            }
            Some(t) => Err(format!(
                "unexpected {} in series values, expected number or \"stale\"",
                describe(t)
            )),
            None => Err("expected a value at the end".into()),
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Space => "space".into(),
        Tok::Add => "'+'".into(),
        Tok::Sub => "'-'".into(),
        Tok::Times => "'x'".into(),
        Tok::Blank => "'_'".into(),
        Tok::Number(n) => format!("number {n:?}"),
        Tok::Ident(w) => format!("identifier {w:?}"),
        Tok::Histogram(h) => format!("histogram {h}"),
    }
}

/// A number as test.go's `parseNumber` (and the parser's `number`) reads it: Go's
/// `strconv.ParseInt(s, 0, 64)` (so `0x1f`, `0o17`, `017` and `1_000` are integers), else
/// `strconv.ParseFloat(s, 64)` (`Inf`, `+Inf`, `NaN` in any case, exponents).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    if let Some(i) = go_parse_int(s) {
        return Some(i as f64);
    }
    go_parse_float(s)
}

fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    // Go allows `_` between digits (and after a base prefix) when the base is inferred.
    if digits.is_empty()
        || digits.ends_with('_')
        || digits.contains("__")
        || (!prefixed && digits.starts_with('_'))
    {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || !clean.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    if neg {
        if magnitude == 1 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|m| -m)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

fn go_parse_float(s: &str) -> Option<f64> {
    let (sign, body) = match s.as_bytes().first()? {
        b'+' => (1.0, &s[1..]),
        b'-' => (-1.0, &s[1..]),
        _ => (1.0, s),
    };
    let lower = body.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "infinity" => return Some(sign * f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    // Decimal floats only: digits, at most one '.', an optional exponent. Rust's parser
    // accepts the same decimal forms Go does ("1.", ".5", "1e-3").
    let ok_chars = lower
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'));
    if !ok_chars || !lower.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    lower.parse::<f64>().ok().map(|v| sign * v)
}

/// Prometheus's `model.ParseDuration` in milliseconds: `0`, or units `y w d h m s ms` in this
/// order, each at most once (`1h30m`, `50m`, `10s`, `1ms`).
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: {s:?}");
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.len() - rest.trim_start_matches(|c: char| !c.is_ascii_digit()).len();
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let (pos, (_, mult)) = UNITS
            .iter()
            .enumerate()
            .find(|(_, (u, _))| *u == unit)
            .ok_or_else(|| format!("unknown unit {unit:?} in duration {s:?}"))?;
        if pos < last_unit {
            return Err(invalid());
        }
        last_unit = pos + 1;
        total = n
            .checked_mul(*mult)
            .and_then(|v| total.checked_add(v))
            .filter(|&v| v <= i64::MAX as u64 / 1_000_000)
            .ok_or_else(|| "duration out of range".to_string())?;
    }
    i64::try_from(total).map_err(|_| "duration out of range".to_string())
}

/// A byte cursor over one line.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.s[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn skip_space(&mut self) {
        self.take_while(|c, _| c.is_whitespace());
    }

    /// Consumes characters while `keep(c, is_first)` holds and returns them.
    fn take_while(&mut self, mut keep: impl FnMut(char, bool) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !keep(c, self.pos == start) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    /// A Go string literal: `"..."` or `'...'` with escapes, or a raw `` `...` ``.
    fn string_literal(&mut self) -> Result<String, String> {
        let quote = match self.bump() {
            Some(q @ ('"' | '\'' | '`')) => q,
            Some(c) => return Err(format!("expected a quoted label value, got {c:?}")),
            None => return Err("expected a quoted label value at the end".into()),
        };
        let mut out = String::new();
        loop {
            let c = self
                .bump()
                .ok_or_else(|| format!("unterminated string: missing {quote}"))?;
            if c == quote {
                return Ok(out);
            }
            if c == '\\' && quote != '`' {
                out.push(self.escape(quote)?);
            } else if c == '\n' && quote != '`' {
                return Err("newline in string".into());
            } else {
                out.push(c);
            }
        }
    }

    fn escape(&mut self, quote: char) -> Result<char, String> {
        let c = self.bump().ok_or("unterminated escape sequence")?;
        let hex = |cur: &mut Self, n: usize| -> Result<char, String> {
            let digits: String = (0..n).filter_map(|_| cur.bump()).collect();
            u32::from_str_radix(&digits, 16)
                .ok()
                .filter(|_| digits.len() == n)
                .and_then(char::from_u32)
                .ok_or_else(|| format!("invalid escape \\{c}{digits}"))
        };
        Ok(match c {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\\' => '\\',
            'x' => hex(self, 2)?,
            'u' => hex(self, 4)?,
            'U' => hex(self, 8)?,
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = self
                        .bump()
                        .and_then(|d| d.to_digit(8))
                        .ok_or("invalid octal escape")?;
                    v = v * 8 + d;
                }
                char::from_u32(v)
                    .filter(|_| v < 256)
                    .ok_or("invalid octal escape")?
            }
            c if c == quote => c,
            c => return Err(format!("unknown escape sequence \\{c}")),
        })
    }
}
