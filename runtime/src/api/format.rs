//! Byte-exact encodings of Prometheus's HTTP API: JSON strings escaped as Go's encoding/json
//! escapes them, timestamps as seconds with at most three decimals (`1435781451.781`,
//! `1700000000`), values as strings (`"+Inf"`), and the text exposition format of `/federate`.

use std::fmt::Write;
use ward_promql::{Value, format_float, push_float};

/// Appends `s` as a JSON string, escaped as Go's encoding/json does (HTML characters and
/// U+2028/U+2029 as `\u` escapes).
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a JSON array of strings.
pub(crate) fn push_str_array<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, s);
    }
    out.push(']');
}

/// Appends a label set as a JSON object (labels are sorted by name already).
pub(crate) fn push_labels<'a>(
    out: &mut String,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    out.push('{');
    for (i, (name, value)) in labels.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, name);
        out.push(':');
        push_str(out, value);
    }
    out.push('}');
}

/// Appends a timestamp (ms) in seconds as Prometheus writes it: no decimals on whole seconds,
/// else exactly three.
pub(crate) fn push_timestamp(out: &mut String, ms: i64) {
    let (sign, abs) = if ms < 0 {
        ("-", ms.unsigned_abs())
    } else {
        ("", ms as u64)
    };
    let (secs, frac) = (abs / 1000, abs % 1000);
    out.push_str(sign);
    out.push_str(itoa::Buffer::new().format(secs));
    if frac != 0 {
        let digits = [
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        out.push_str(std::str::from_utf8(&digits).unwrap_or(""));
    }
}

/// Appends `[<t>,"<v>"]`.
pub(crate) fn push_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    push_timestamp(out, t);
    out.push_str(",\"");
    push_float(out, v);
    out.push_str("\"]");
}

/// Appends `{"resultType":...,"result":...}` for a query result.
pub(crate) fn push_query_data(out: &mut String, value: &Value) {
    out.push_str(r#"{"resultType":"#);
    push_str(out, value.type_name());
    out.push_str(r#","result":"#);
    match value {
        Value::Scalar(p) => push_point(out, p.t, p.v),
        Value::String(t, s) => {
            out.push('[');
            push_timestamp(out, *t);
            out.push(',');
            push_str(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                push_labels(out, s.labels.iter());
                out.push_str(r#","value":"#);
                push_point(out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                push_labels(out, s.labels.iter());
                out.push_str(r#","values":["#);
                for (j, p) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_point(out, p.t, p.v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// A float as the text exposition format writes it (Go's `strconv.FormatFloat(v, 'g', -1,
/// 64)`: shortest digits, exponent form below 1e-4 and from 1e6 up).
pub(crate) fn text_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde<exp>`.
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if v < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs())
    } else {
        format!("{sign}{}", format_float(v.abs()))
    }
}

/// Appends a label value escaped for the text exposition format.
pub(crate) fn push_text_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: i64) -> String {
        let mut s = String::new();
        push_timestamp(&mut s, ms);
        s
    }

    #[test]
    fn timestamps_are_seconds_with_milliseconds() {
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(1_700_000_000_000), "1700000000");
        assert_eq!(ts(1_700_000_000_500), "1700000000.500");
        assert_eq!(ts(1_700_000_000_005), "1700000000.005");
        assert_eq!(ts(-1500), "-1.500");
        assert_eq!(ts(0), "0");
    }

    #[test]
    fn strings_escape_as_go_does() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\n<&>\u{1}\u{2028}é");
        assert_eq!(s, r#""a\"b\\c\n\u003c\u0026\u003e\u0001\u2028é""#);
    }

    #[test]
    fn text_floats_use_go_g_format() {
        assert_eq!(text_float(1.0), "1");
        assert_eq!(text_float(0.5), "0.5");
        assert_eq!(text_float(123_456.0), "123456");
        assert_eq!(text_float(1_000_000.0), "1e+06");
        assert_eq!(text_float(1_234_567.0), "1.234567e+06");
        assert_eq!(text_float(1e21), "1e+21");
        assert_eq!(text_float(1.5e-7), "1.5e-07");
        assert_eq!(text_float(0.0001), "0.0001");
        assert_eq!(text_float(-2.25), "-2.25");
        assert_eq!(text_float(f64::INFINITY), "+Inf");
        assert_eq!(text_float(f64::NAN), "NaN");
    }

    #[test]
    fn query_data_is_prometheus_shaped() {
        let mut s = String::new();
        push_query_data(
            &mut s,
            &Value::Vector(vec![ward_promql::Sample {
                labels: ward_promql::Labels::new([("__name__", "up"), ("job", "a")]),
                t: 1_700_000_000_000,
                v: 1.0,
            }]),
        );
        assert_eq!(
            s,
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1700000000,"1"]}]}"#
        );
        let mut s = String::new();
        push_query_data(
            &mut s,
            &Value::Scalar(ward_promql::Point {
                t: 1_700_000_000_123,
                v: 2.0,
            }),
        );
        assert_eq!(
            s,
            r#"{"resultType":"scalar","result":[1700000000.123,"2"]}"#
        );
    }
}
