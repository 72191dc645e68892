//! Parsing kernel text as bytes, without allocating.

/// The lines of `text`, without their `\n`, empty ones skipped.
pub(crate) fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// The fields of `line`, split on ASCII white space.
pub(crate) fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    line.split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
}

/// A decimal unsigned integer, nothing else.
pub(crate) fn u64_of(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

/// A decimal integer with an optional sign.
pub(crate) fn i64_of(b: &[u8]) -> Option<i64> {
    match b.split_first() {
        Some((b'-', rest)) => u64_of(rest).and_then(|n| i64::try_from(n).ok()).map(|n| -n),
        _ => u64_of(b).and_then(|n| i64::try_from(n).ok()),
    }
}

/// A number as Go's `strconv.ParseFloat` reads the kernel's numbers (integers, decimals).
pub(crate) fn f64_of(b: &[u8]) -> Option<f64> {
    if let Some(n) = u64_of(b) {
        return Some(n as f64);
    }
    str_of(b)?.parse().ok()
}

/// `b` as UTF-8.
pub(crate) fn str_of(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// Whether `s` may follow a metric name prefix: `[A-Za-z0-9_]+`.
pub(crate) fn is_name_part(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// `buf` cleared, then `parts` appended: a metric name built without allocating once `buf`
/// has grown.
pub(crate) fn name<'a>(buf: &'a mut String, parts: &[&str]) -> &'a str {
    buf.clear();
    for p in parts {
        buf.push_str(p);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(u64_of(b"0"), Some(0));
        assert_eq!(u64_of(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(u64_of(b"18446744073709551616"), None);
        assert_eq!(u64_of(b""), None);
        assert_eq!(u64_of(b"12a"), None);
        assert_eq!(u64_of(b"-1"), None);
        assert_eq!(i64_of(b"-1"), Some(-1));
        assert_eq!(i64_of(b"-"), None);
        assert_eq!(f64_of(b"0.25"), Some(0.25));
        assert_eq!(f64_of(b"-3"), Some(-3.0));
        assert_eq!(f64_of(b"x"), None);
        assert_eq!(f64_of(b"\xff"), None);
    }

    #[test]
    fn lines_and_fields() {
        let text = b"a  b\tc\n\n d \n";
        let l: Vec<&[u8]> = lines(text).collect();
        assert_eq!(l, vec![&b"a  b\tc"[..], &b" d "[..]]);
        let f: Vec<&[u8]> = fields(l[0]).collect();
        assert_eq!(f, vec![&b"a"[..], b"b", b"c"]);
    }
}
