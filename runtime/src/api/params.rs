//! Request parameters as Prometheus reads them: the query string and urlencoded form bodies
//! (body first, as Go's `Request.ParseForm`), times (RFC 3339 or unix seconds with
//! milliseconds), durations (`5m`, `1h30m` or float seconds), `limit`, and `match[]`
//! selectors.

use super::{ApiError, body};
use hyper::body::Incoming;
use hyper::{Method, Request, header};
use ward_store::{MatchOp, Matcher};

/// Largest urlencoded form body read (queries are short; Grafana's biggest are kilobytes).
const MAX_FORM_BYTES: usize = 4 << 20;

/// The earliest time Prometheus's API accepts, in ms (`MinTime` in its `api.go`).
pub(crate) const MIN_TIME: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// The latest time Prometheus's API accepts, in ms (`MaxTime` in its `api.go`).
pub(crate) const MAX_TIME: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;
/// `MinTime` as Prometheus's clients send it.
const MIN_TIME_TEXT: &str = "-292273086-05-16T16:47:06Z";
/// `MaxTime` as Prometheus's clients send it.
const MAX_TIME_TEXT: &str = "292277026596-12-04T15:30:07.999999999Z";

/// The parameters of a request, in order: form body first, then query string.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Reads the query string and, for a urlencoded POST, the body.
    pub(crate) async fn read(req: Request<Incoming>) -> Result<Self, ApiError> {
        let query = req.uri().query().unwrap_or("").to_string();
        let form = req.method() == Method::POST
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.split(';').next().is_some_and(|m| {
                        m.trim()
                            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                    })
                });
        let mut pairs = Vec::new();
        if form {
            let bytes = body::read_all(req.into_body(), MAX_FORM_BYTES)
                .await
                .map_err(|e| ApiError::bad_data(format!("error parsing form values: {e}")))?;
            pairs.extend(form_urlencoded::parse(&bytes).into_owned());
        }
        pairs.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
        Ok(Self(pairs))
    }

    /// Parameters from a query string only.
    #[cfg(test)]
    pub(crate) fn from_query(query: &str) -> Self {
        Self(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `name`, or `""` (as Go's `FormValue`).
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Time parameter `name` in ms, or `default` when absent or empty.
    pub(crate) fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            "" => Ok(default),
            s => parse_time(s).map_err(|e| ApiError::invalid_param(name, e)),
        }
    }

    /// `limit`: 0 (absent) means no limit.
    pub(crate) fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            "" => Ok(0),
            s => match s.parse::<i64>() {
                Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
                Ok(_) => Err(ApiError::invalid_param(
                    "limit",
                    "limit must be non-negative",
                )),
                Err(_) => Err(ApiError::invalid_param(
                    "limit",
                    format!("strconv.Atoi: parsing {s:?}: invalid syntax"),
                )),
            },
        }
    }

    /// The `match[]` selectors, each a set of matchers.
    pub(crate) fn matcher_sets(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        self.all("match[]")
            .into_iter()
            .map(|s| parse_selector(s).map_err(|e| ApiError::invalid_param("match[]", e)))
            .collect()
    }
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A time as Prometheus's API reads it: unix seconds (float, rounded to the millisecond) or
/// RFC 3339. Returns ms.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(bad());
        }
        let secs = f.trunc();
        let ms = secs * 1000.0 + ((f - secs) * 1000.0).round();
        return Ok(ms.clamp(MIN_TIME as f64, MAX_TIME as f64) as i64);
    }
    match s {
        MIN_TIME_TEXT => return Ok(MIN_TIME),
        MAX_TIME_TEXT => return Ok(MAX_TIME),
        _ => {}
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| bad())
}

/// A duration as Prometheus's API reads it: float seconds or a Prometheus duration string
/// (`1h30m`, `5m`, `500ms`). Returns nanoseconds (Go's `time.Duration`).
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ns = f * 1e9;
        if !ns.is_finite() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    parse_prometheus_duration(s)
        .map(|ms| ms.saturating_mul(1_000_000))
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// `[0-9]+(y|w|d|h|m|s|ms)` repeated, units in that order, each at most once; or `0`.
/// Returns ms.
pub(crate) fn parse_prometheus_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // "ms" before "m": the longest unit that matches.
        let (i, (unit, scale)) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (u, _))| rest.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())?;
        rest = &rest[unit.len()..];
        next_unit = i + 1;
        total = total.checked_add(n.checked_mul(*scale)?)?;
    }
    Some(total)
}

/// Parses a `match[]` selector: a PromQL vector selector with at least one matcher that does
/// not match the empty string.
pub(crate) fn parse_selector(s: &str) -> Result<Vec<Matcher>, String> {
    let expr = promql_parser::parser::parse(s)?;
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        return Err(format!("{s:?} is not a series selector"));
    };
    if !vs.matchers.or_matchers.is_empty() {
        return Err(format!("{s:?}: `or` in a series selector is not supported"));
    }
    if vs.offset.is_some() || vs.at.is_some() {
        return Err(format!(
            "{s:?} is not a series selector (it has a modifier)"
        ));
    }
    let mut out = Vec::new();
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(ward_store::METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        use promql_parser::label::MatchOp as P;
        let op = match m.op {
            P::Equal => MatchOp::Equal,
            P::NotEqual => MatchOp::NotEqual,
            P::Re(_) => MatchOp::Regex,
            P::NotRe(_) => MatchOp::NotRegex,
        };
        out.push(Matcher::new(m.name.clone(), op, m.value.clone()).map_err(|e| e.to_string())?);
    }
    if out.iter().all(Matcher::matches_empty) {
        return Err("match[] must contain at least one non-empty matcher".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_prometheus_does() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(parse_time(MIN_TIME_TEXT), Ok(MIN_TIME));
        assert_eq!(parse_time(MAX_TIME_TEXT), Ok(MAX_TIME));
        assert_eq!(
            parse_time("yesterday"),
            Err("cannot parse \"yesterday\" to a valid timestamp".into())
        );
        assert!(parse_time("NaN").is_err());
    }

    #[test]
    fn durations_parse_as_prometheus_does() {
        assert_eq!(parse_duration("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration("5m"), Ok(300_000_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("1m500ms"), Ok(60_500_000_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000_000_000));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1e300").is_err());
    }

    #[test]
    fn params_keep_order_and_repeats() {
        let p = Params::from_query("match%5B%5D=up&match[]=%7Bjob%3D%22a%22%7D&limit=2");
        assert_eq!(p.all("match[]"), vec!["up", "{job=\"a\"}"]);
        assert_eq!(p.get("limit"), "2");
        assert_eq!(p.limit().ok(), Some(2));
        assert_eq!(p.get("none"), "");
        assert_eq!(p.matcher_sets().map(|s| s.len()).ok(), Some(2));
        assert!(Params::from_query("limit=-1").limit().is_err());
    }

    #[test]
    fn selectors_must_be_vector_selectors_with_a_non_empty_matcher() {
        let m = parse_selector(r#"up{job=~"a.*",x!="1"}"#).unwrap_or_default();
        assert_eq!(m.len(), 3);
        assert!(parse_selector("rate(up[5m])").is_err());
        assert!(parse_selector(r#"{job=~".*"}"#).is_err());
        assert!(parse_selector("up{").is_err());
    }
}
