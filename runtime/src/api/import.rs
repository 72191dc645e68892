//! `POST /api/v1/import/prometheus`: Prometheus text exposition lines
//! (`name{label="value"} value [timestamp_ms]`, the format and path VictoriaMetrics accepts),
//! for backfill and tests. A line without a timestamp gets the request's arrival time.
//!
//! The body is streamed: lines are parsed as chunks arrive and appended to the store in
//! batches, so memory stays bounded by two batches and one line, whatever the body's size.
//! Parsing and appending overlap: while the store appends one batch on a blocking thread,
//! the next is parsed. A series' text (the line up to its value) is parsed into labels
//! once per request: later lines of the same series cost a hash lookup. The
//! body (and, gzip-encoded, its decompressed text) is limited to `max_body_bytes` and
//! `max_samples_per_request` samples; a line to
//! `MAX_LINE_BYTES`. `# TYPE` and `# HELP` lines feed `/api/v1/metadata`; other comments and
//! blank lines are skipped.
//!
//! Every good line is written even when others are not. The answer is 204 when every line
//! was written; else 400 (bad lines, samples the store refused) or 413 (a limit was hit:
//! reading stopped there) with Prometheus's error envelope, whose `data` says how many lines
//! were read and samples written, and lists the first refused lines with their number and
//! reason.

use super::body::{self, BodyError};
use super::params::now_ms;
use super::remote_write::{APPEND_BATCH, reason_label};
use super::{ApiError, App, Resp, empty, format};
use hyper::body::Incoming;
use hyper::{Request, StatusCode, header};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Arc;
use tokio::task::JoinHandle;
use ward_store::{AppendReport, Labels};

/// Longest line accepted, in bytes.
const MAX_LINE_BYTES: usize = 64 << 10;
/// Refused lines listed in an answer; the rest are counted.
const MAX_LISTED: usize = 100;
/// The `endpoint` label of ingest metrics.
const ENDPOINT: &str = "import";
/// Distinct series texts remembered per request; past it the memory is cleared and starts
/// over (a body of that many series gains little from it anyway).
const MAX_KNOWN_SERIES: usize = 100_000;

/// An append running on a blocking thread, with the line number of each of its samples.
type Pending = (
    JoinHandle<Result<AppendReport, ward_store::Error>>,
    Vec<usize>,
);

/// `POST /api/v1/import/prometheus`.
pub(crate) async fn import(app: &App, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let Ok(_permit) = app.writes.try_acquire() else {
        return Err(ApiError::unavailable(
            "too many write requests in flight; retry later",
        ));
    };
    let limit = app.config.max_body_bytes;
    let mut gzip = match req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("identity") | Some("") => None,
        // As VictoriaMetrics accepts it; the decompressed text counts against the limit.
        Some("gzip") => Some(flate2::write::GzDecoder::new(Capped {
            out: Vec::new(),
            total: 0,
            limit,
            exceeded: false,
        })),
        Some(enc) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bad_data",
                format!("content encoding {enc:?} is not supported; send gzip or plain text"),
            ));
        }
    };
    let mut body = req.into_body();
    if body::declared_len(&body).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "bad_data",
            format!("request body exceeds the limit of {limit} bytes; nothing was read"),
        ));
    }
    let mut import = Import {
        app,
        default_ts: now_ms(),
        line_no: 0,
        known: HashMap::default(),
        batch: Vec::new(),
        batch_lines: Vec::new(),
        pending: None,
        samples: 0,
        written: 0,
        refused: Vec::new(),
        refused_total: 0,
        reasons: BTreeMap::new(),
        stopped: None,
    };
    let mut lines = Lines::default();
    let mut read = 0usize;
    while let Some(chunk) = body::next_chunk(&mut body).await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e @ BodyError::Read(_)) | Err(e @ BodyError::TooLarge { .. }) => {
                import.stop(StatusCode::BAD_REQUEST, e.to_string());
                break;
            }
        };
        read += chunk.len();
        if read > limit {
            import.stop(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds the limit of {limit} bytes"),
            );
            break;
        }
        match &mut gzip {
            None => lines.feed(&mut import, &chunk),
            Some(gz) => {
                let written = std::io::Write::write_all(gz, &chunk);
                let text = std::mem::take(&mut gz.get_mut().out);
                lines.feed(&mut import, &text);
                if let Err(e) = written {
                    gzip_failed(&mut import, gz.get_ref(), &e);
                }
            }
        }
        if import.batch.len() >= APPEND_BATCH {
            import.flush().await?;
        }
        if import.stopped.is_some() {
            break;
        }
    }
    if let Some(mut gz) = gzip.take()
        && import.stopped.is_none()
    {
        let finished = gz.try_finish();
        let text = std::mem::take(&mut gz.get_mut().out);
        lines.feed(&mut import, &text);
        if let Err(e) = finished {
            gzip_failed(&mut import, gz.get_ref(), &e);
        }
    }
    if import.stopped.is_none() {
        lines.finish(&mut import);
    }
    import.flush().await?;
    import.settle().await?;
    Ok(import.answer())
}

/// Splits the body's text into lines across chunks.
#[derive(Default)]
struct Lines {
    /// The start of a line whose end has not come yet.
    buf: Vec<u8>,
    /// Set while the rest of an overlong line is being skipped.
    skipping: bool,
}

impl Lines {
    fn feed(&mut self, import: &mut Import<'_>, data: &[u8]) {
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            if self.skipping {
                self.skipping = false;
            } else if self.buf.is_empty() {
                import.line(&rest[..nl]);
            } else {
                self.buf.extend_from_slice(&rest[..nl]);
                import.line(&self.buf);
                self.buf.clear();
            }
            rest = &rest[nl + 1..];
        }
        if !self.skipping {
            self.buf.extend_from_slice(rest);
            if self.buf.len() > MAX_LINE_BYTES {
                import.line_no += 1;
                import.refuse(
                    import.line_no,
                    "line_too_long",
                    format!("line longer than {MAX_LINE_BYTES} bytes"),
                );
                self.buf.clear();
                self.skipping = true;
            }
        }
    }

    /// The last line, when the body does not end with a newline.
    fn finish(&mut self, import: &mut Import<'_>) {
        if !self.skipping && !self.buf.is_empty() {
            let last = std::mem::take(&mut self.buf);
            import.line(&last);
        }
    }
}

/// Decompressed text, refusing to grow past `limit` bytes in all (gzip bombs).
struct Capped {
    out: Vec<u8>,
    total: usize,
    limit: usize,
    /// Set when a write would have passed the limit.
    exceeded: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.total + data.len() > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("decompressed body exceeds the limit"));
        }
        self.total += data.len();
        self.out.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops the import on a gzip error: 413 past the limit, else 400.
fn gzip_failed(import: &mut Import<'_>, capped: &Capped, e: &std::io::Error) {
    if capped.exceeded {
        import.stop(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "decompressed request body exceeds the limit of {} bytes",
                capped.limit
            ),
        );
    } else {
        import.stop(
            StatusCode::BAD_REQUEST,
            format!("request body is not valid gzip: {e}"),
        );
    }
}

struct Import<'a> {
    app: &'a App,
    default_ts: i64,
    line_no: usize,
    /// Series text (a line up to its value) -> its labels, for this request.
    known: HashMap<Box<str>, Arc<Labels>, foldhash::fast::RandomState>,
    batch: Vec<(Arc<Labels>, i64, f64)>,
    /// The line number of each sample of `batch`.
    batch_lines: Vec<usize>,
    /// The batch the store is appending while the next one is parsed.
    pending: Option<Pending>,
    samples: usize,
    written: usize,
    refused: Vec<(usize, String)>,
    refused_total: usize,
    reasons: BTreeMap<&'static str, usize>,
    /// Why reading stopped early, and the status to answer.
    stopped: Option<(StatusCode, String)>,
}

impl Import<'_> {
    fn line(&mut self, raw: &[u8]) {
        self.line_no += 1;
        if self.stopped.is_some() {
            return;
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            self.refuse(self.line_no, "bad_line", "line is not valid UTF-8".into());
            return;
        };
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        if let Some(comment) = line.strip_prefix('#') {
            self.comment(comment);
            return;
        }
        let parsed = self.series(line).and_then(|(labels, rest)| {
            let (v, t) = parse_value(rest)?;
            Ok((labels, v, t))
        });
        match parsed {
            Ok((labels, v, t)) => {
                if self.samples >= self.app.config.max_samples_per_request {
                    self.stop(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "more than {} samples in one request; stopped at line {}",
                            self.app.config.max_samples_per_request, self.line_no
                        ),
                    );
                    return;
                }
                self.samples += 1;
                self.batch.push((labels, t.unwrap_or(self.default_ts), v));
                self.batch_lines.push(self.line_no);
            }
            Err(e) => self.refuse(self.line_no, "bad_line", e),
        }
    }

    /// The labels of the line's series (parsed once per request) and the rest of the line.
    fn series<'l>(&mut self, line: &'l str) -> Result<(Arc<Labels>, &'l str), String> {
        let end = series_end(line.as_bytes());
        let text = line[..end].trim_end();
        if let Some(labels) = self.known.get(text) {
            return Ok((labels.clone(), &line[end..]));
        }
        let (pairs, end) = parse_series(line)?;
        let labels = Arc::new(Labels::from_pairs(pairs).map_err(|e| e.to_string())?);
        if self.known.len() >= MAX_KNOWN_SERIES {
            self.known.clear();
        }
        self.known.insert(text.into(), labels.clone());
        Ok((labels, &line[end..]))
    }

    fn comment(&mut self, comment: &str) {
        let mut words = comment.trim_start().splitn(3, ' ');
        let (keyword, name, rest) = (words.next(), words.next(), words.next());
        let (Some(keyword), Some(name)) = (keyword, name) else {
            return;
        };
        match keyword {
            "TYPE" => self.app.metadata.update(name, rest.map(str::trim), None),
            "HELP" => {
                self.app
                    .metadata
                    .update(name, None, Some(&unescape_help(rest.unwrap_or(""))))
            }
            _ => {}
        }
    }

    fn refuse(&mut self, line: usize, reason: &'static str, message: String) {
        self.refused_total += 1;
        *self.reasons.entry(reason).or_default() += 1;
        if self.refused.len() < MAX_LISTED {
            self.refused.push((line, message));
        }
    }

    fn stop(&mut self, status: StatusCode, message: String) {
        if self.stopped.is_none() {
            self.stopped = Some((status, message));
        }
    }

    /// Hands the batch to the store on a blocking thread, once the previous one is settled.
    async fn flush(&mut self) -> Result<(), ApiError> {
        self.settle().await?;
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let lines = std::mem::take(&mut self.batch_lines);
        self.app.metrics.ingest_received(ENDPOINT, batch.len());
        let store = self.app.store.clone();
        let task = tokio::task::spawn_blocking(move || store.append(&batch));
        self.pending = Some((task, lines));
        Ok(())
    }

    /// Waits for the append in flight, if any, and accounts for what it refused.
    async fn settle(&mut self) -> Result<(), ApiError> {
        let Some((task, lines)) = self.pending.take() else {
            return Ok(());
        };
        let report = task
            .await
            .map_err(|e| ApiError::internal(format!("worker failed: {e}")))??;
        self.written += report.accepted;
        self.app.metrics.ingest_written(ENDPOINT, report.accepted);
        for (i, reason) in &report.rejected {
            let line = lines.get(*i).copied().unwrap_or(0);
            self.refuse(line, reason_label(reason), reason.to_string());
        }
        let unlisted = report.rejected_total.saturating_sub(report.rejected.len());
        if unlisted > 0 {
            self.refused_total += unlisted;
            *self.reasons.entry("other").or_default() += unlisted;
        }
        Ok(())
    }

    fn answer(self) -> Resp {
        for (reason, n) in &self.reasons {
            self.app.metrics.ingest_rejected(ENDPOINT, reason, *n);
        }
        if self.refused_total == 0 && self.stopped.is_none() {
            return empty(StatusCode::NO_CONTENT);
        }
        let mut data = String::new();
        let _ = write!(
            data,
            r#"{{"linesRead":{},"samplesWritten":{},"rejectedLines":{},"rejected":["#,
            self.line_no, self.written, self.refused_total
        );
        for (i, (line, reason)) in self.refused.iter().enumerate() {
            if i > 0 {
                data.push(',');
            }
            let _ = write!(data, r#"{{"line":{line},"reason":"#);
            format::push_str(&mut data, reason);
            data.push('}');
        }
        data.push_str("]}");
        let (status, mut message) = match self.stopped {
            Some((status, why)) => (status, format!("{why}; ")),
            None => (StatusCode::BAD_REQUEST, String::new()),
        };
        if self.refused_total > 0 {
            let first = self
                .refused
                .first()
                .map(|(l, r)| format!(" (first: line {l}: {r})"))
                .unwrap_or_default();
            let _ = write!(message, "{} lines refused{first}; ", self.refused_total);
        }
        let _ = write!(
            message,
            "{} samples from {} lines read were written",
            self.written, self.line_no
        );
        ApiError::new(status, "bad_data", message)
            .with_data(data)
            .into_response()
    }
}

/// `# HELP` text escapes: `\\` and `\n`.
fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// Where a line's series text ends: after the metric name, or after the `}` closing its
/// labels (quotes and escapes respected). A malformed line gives some end; `parse_series`
/// then says what is wrong.
fn series_end(b: &[u8]) -> usize {
    let mut i = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b':')
        .count();
    let name_end = i;
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    if b.get(i) != Some(&b'{') {
        return name_end;
    }
    let mut quoted = false;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'}' if !quoted => return i + 1,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// Parses the metric name and labels that start a sample line; returns them with the byte
/// offset where the value starts.
fn parse_series(line: &str) -> Result<(Vec<(String, String)>, usize), String> {
    let b = line.as_bytes();
    let mut i = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b':')
        .count();
    if i == 0 {
        return Err(format!(
            "expected a metric name at column 1, found {:?}",
            excerpt(line, 0)
        ));
    }
    let mut pairs = vec![(ward_store::METRIC_NAME.to_string(), line[..i].to_string())];
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i < b.len() && b[i] == b'{' {
        i += 1;
        loop {
            skip_ws(&mut i);
            if i < b.len() && b[i] == b'}' {
                i += 1;
                break;
            }
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            if i == start {
                return Err(format!(
                    "expected a label name at column {}, found {:?}",
                    start + 1,
                    excerpt(line, start)
                ));
            }
            let name = line[start..i].to_string();
            skip_ws(&mut i);
            if i >= b.len() || b[i] != b'=' {
                return Err(format!(
                    "expected '=' after label {name:?} at column {}",
                    i + 1
                ));
            }
            i += 1;
            skip_ws(&mut i);
            if i >= b.len() || b[i] != b'"' {
                return Err(format!(
                    "expected '\"' to open the value of label {name:?} at column {}",
                    i + 1
                ));
            }
            i += 1;
            let mut value = String::new();
            let mut closed = false;
            let mut chars = line[i..].char_indices();
            while let Some((j, c)) = chars.next() {
                match c {
                    '"' => {
                        i += j + 1;
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, other)) => {
                            return Err(format!(
                                "invalid escape \\{other} in the value of label {name:?}"
                            ));
                        }
                        None => break,
                    },
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!("unterminated value of label {name:?}"));
            }
            pairs.push((name, value));
            skip_ws(&mut i);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => {
                    return Err(format!(
                        "expected ',' or '}}' at column {}, found {:?}",
                        i + 1,
                        excerpt(line, i)
                    ));
                }
            }
        }
    }
    Ok((pairs, i))
}

/// Parses what follows the series: the value and an optional timestamp in milliseconds.
fn parse_value(rest: &str) -> Result<(f64, Option<i64>), String> {
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next().ok_or_else(|| "missing value".to_string())?;
    let value: f64 = value
        .parse()
        .map_err(|_| format!("invalid value {value:?}"))?;
    let ts = match fields.next() {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| format!("invalid timestamp {t:?} (expected integer milliseconds)"))?,
        ),
    };
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the timestamp"));
    }
    Ok((value, ts))
}

/// Up to 20 characters of `line` from byte `at`, for an error message.
fn excerpt(line: &str, at: usize) -> String {
    line.get(at..).unwrap_or("").chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = (Vec<(String, String)>, f64, Option<i64>);

    /// A whole line, as `Import::line` reads it.
    fn parse_line(line: &str) -> Result<Parsed, String> {
        let (pairs, end) = parse_series(line)?;
        assert_eq!(
            line[..series_end(line.as_bytes())].trim_end(),
            line[..end].trim_end(),
            "the cache key of {line:?} is its series text"
        );
        let (v, t) = parse_value(&line[end..])?;
        Ok((pairs, v, t))
    }

    fn ok(line: &str) -> Parsed {
        parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn sample_lines_parse() {
        let (pairs, v, t) =
            ok(r#"http_requests_total{method="post",code="200"} 1027 1395066363000"#);
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[1], ("method".into(), "post".into()));
        assert_eq!((v, t), (1027.0, Some(1_395_066_363_000)));
        let (pairs, v, t) = ok("up 1");
        assert_eq!((pairs.len(), v, t), (1, 1.0, None));
        let (pairs, _, _) = ok(r#"x{a="q\"uo\\te\n",b="",} +Inf"#);
        assert_eq!(pairs[1].1, "q\"uo\\te\n");
        assert!(ok("x NaN").1.is_nan());
        assert_eq!(ok("x { } -2.5e3 5").1, -2500.0);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let err = |l: &str| parse_line(l).err().unwrap_or_default();
        assert!(err("{a=\"1\"} 1").contains("expected a metric name"));
        assert!(err("x{a=1} 1").contains("expected '\"'"));
        assert!(err("x{a=\"1} 1").contains("unterminated"));
        assert!(err("x{a=\"1\" b=\"2\"} 1").contains("expected ',' or '}'"));
        assert!(err("x").contains("missing value"));
        assert!(err("x one").contains("invalid value"));
        assert!(err("x 1 1.5").contains("invalid timestamp"));
        assert!(err("x 1 2 3").contains("after the timestamp"));
    }

    #[test]
    fn help_text_unescapes() {
        assert_eq!(unescape_help(r"a\nb\\c"), "a\nb\\c");
    }
}
