//! Query results: labels, samples, series and the four PromQL value types.

use std::fmt;

/// A label set: `(name, value)` pairs sorted by name, names unique, no empty values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set from pairs in any order; empty values are dropped and a later
    /// pair with the same name replaces an earlier one.
    pub fn new<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut out = Labels::default();
        for (n, v) in pairs {
            out.set(&n.into(), v.into());
        }
        out
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: &str, value: String) {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, (name.to_string(), value)),
        }
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &str) {
        if let Ok(i) = self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            self.0.remove(i);
        }
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The metric name (`__name__`), if set.
    pub fn metric_name(&self) -> Option<&str> {
        self.get("__name__")
    }

    /// Keeps only the labels for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.0.retain(|(n, _)| keep(n));
    }
}

impl From<&ward_store::Labels> for Labels {
    fn from(l: &ward_store::Labels) -> Self {
        // The store's labels are already sorted, unique and non-empty.
        Labels(
            l.iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
        )
    }
}

impl fmt::Display for Labels {
    /// `name{a="b", c="d"}`, as Prometheus prints a series.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (n, v) in self.iter().filter(|(n, _)| *n != "__name__") {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{n}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// One value at one time (milliseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Timestamp, ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub labels: Labels,
    /// Timestamp, ms (the evaluation time for computed values).
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One series of a range vector or of a range query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// Points, ascending by timestamp.
    pub points: Vec<Point>,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar at the evaluation time.
    Scalar(Point),
    /// A string at the evaluation time.
    String(i64, String),
    /// An instant vector (instant queries).
    Vector(Vec<Sample>),
    /// A range vector (instant queries of a range selector) or a range query's result,
    /// series sorted by labels.
    Matrix(Vec<Series>),
}

impl Value {
    /// The type name Prometheus uses in its HTTP API (`resultType`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(..) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Formats a sample value exactly as Prometheus's HTTP API does (Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`, `+Inf`, `-Inf`, `NaN`).
pub fn format_float(v: f64) -> String {
    let mut out = String::new();
    push_float(&mut out, v);
    out
}

/// Appends `v` as [`format_float`] formats it.
pub fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let mut buf = ryu::Buffer::new();
        let text = buf.format_finite(v);
        if !text.contains(['e', 'E']) {
            // Plain already ("1.0", "0.25", "-123.5"): Go writes whole numbers bare.
            out.push_str(text.strip_suffix(".0").unwrap_or(text));
        } else {
            out.push_str(&shortest_plain(v));
        }
    }
}

/// The shortest decimal that reads back as `v`, never in exponent form. The digits come
/// from Ryu, which (as Go's `strconv`) rounds a value exactly halfway between two shortest
/// candidates to the even one; Rust's `{}` rounds it up (0.61322784423828125 would print
/// `...813` where Prometheus prints `...812`).
fn shortest_plain(v: f64) -> String {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v);
    let (neg, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = format!("{int}{frac}");
    // The decimal point sits after `point` digits of `digits`.
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all[lead..].trim_end_matches('0');
    let point = int.len() as i64 + exp - lead as i64;
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if digits.is_empty() {
        out.push('0');
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(digits);
    } else if point as usize >= digits.len() {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_as_prometheus_does() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(-2.5), "-2.5");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(123.456), "123.456");
        assert_eq!(format_float(-1.5e-7), "-0.00000015");
        assert_eq!(format_float(1.7976931348623157e308).len(), 309);
        assert_eq!(format_float(5e-324).len(), 326);
        // Exactly halfway between two 16-digit candidates: Go (and Prometheus) round to even.
        // 80377 / 2^17 = 0.61322784423828125 exactly.
        assert_eq!(format_float(80377.0 / 131072.0), "0.6132278442382812");
    }

    #[test]
    fn floats_read_back_to_themselves() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if v.is_finite() {
                let s = format_float(v);
                assert_eq!(s.parse::<f64>().ok(), Some(v), "{v:e} printed as {s}");
                assert!(
                    s.len() <= format!("{v}").len(),
                    "{v:e}: {s} longer than Rust's"
                );
            }
        }
    }

    #[test]
    fn labels_stay_sorted_and_drop_empty_values() {
        let mut l = Labels::new([("b", "2"), ("a", "1"), ("c", "")]);
        assert_eq!(l.to_string(), r#"{a="1", b="2"}"#);
        l.set("__name__", "up".into());
        l.set("a", String::new());
        assert_eq!(l.to_string(), r#"up{b="2"}"#);
    }
}
