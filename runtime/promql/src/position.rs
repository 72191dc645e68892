//! Where a syntax error is, when the parser does not say.
//!
//! `promql-parser` reports many grammar errors as a bare "invalid promql query" (it drops
//! the LR parser's error spans). Prometheus users expect `line:column`, so the position is
//! found from outside: the error is where the longest prefix of the query that can still
//! be completed into a valid query ends. Whether a prefix can be completed is tried with a
//! small set of likely continuations (an operand, a label value, a duration, before or
//! after the closing brackets and quotes); viability only shrinks as a prefix grows, so a binary search over
//! the prefix lengths needs a few dozen parses.

use promql_parser::parser;

/// Longest query searched, in bytes: longer ones get no position rather than slow errors.
const MAX_SEARCHED: usize = 4096;

/// Continuations tried after a prefix, before its closing brackets.
const SEEDS: &[&str] = &[
    "", " 1", "1", " x", "x", "\"x\"", "\"", "=\"x\"", "m", "5m", "[5m]", "x[5m]", " x[5m]", "1m",
    " (x)", " (x) (x)", "(x) x", " 5m",
];

/// What the search found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Byte offset of the first character that no valid query can have there.
    At(usize),
    /// Every prefix can be completed: the input ends too early.
    Incomplete,
    /// Too long to search.
    NotSearched,
}

/// Where the first character is that no valid query can have there.
pub(crate) fn first_bad_offset(query: &str) -> Found {
    if query.len() > MAX_SEARCHED {
        return Found::NotSearched;
    }
    if viable(query) {
        return Found::Incomplete;
    }
    // Invariant: the prefix of `good` chars is viable, that of `bad` chars is not.
    let bounds: Vec<usize> = query
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .collect();
    let (mut good, mut bad) = (0usize, bounds.len());
    while bad - good > 1 {
        let mid = (good + bad) / 2;
        if viable(&query[..bounds[mid - 1]]) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    // The `bad`-th character (from 1) is the first that cannot be there.
    let end = bounds[bad - 1];
    Found::At(end - query[..end].chars().next_back().map_or(0, char::len_utf8))
}

/// Whether some continuation makes `prefix` a valid query.
fn viable(prefix: &str) -> bool {
    if prefix.trim().is_empty() {
        return true;
    }
    let closers = closers(prefix);
    SEEDS.iter().any(|seed| {
        parser::parse(&format!("{prefix}{seed}{closers}")).is_ok()
            || (!closers.is_empty()
                && !seed.is_empty()
                && parser::parse(&format!("{prefix}{closers}{seed}")).is_ok())
    })
}

/// What closes the strings and brackets open at the end of `prefix`, innermost first.
fn closers(prefix: &str) -> String {
    let mut stack: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in prefix.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' | '`' => quote = Some(c),
                '(' => stack.push(')'),
                '[' => stack.push(']'),
                '{' => stack.push('}'),
                ')' | ']' | '}' if stack.last() == Some(&c) => {
                    stack.pop();
                }
                _ => {}
            },
        }
    }
    let mut out: String = quote.into_iter().collect();
    out.extend(stack.iter().rev());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(query: &str) -> Option<usize> {
        crate::engine::register_functions();
        match first_bad_offset(query) {
            Found::At(offset) => Some(offset),
            Found::Incomplete => None,
            Found::NotSearched => panic!("{query} not searched"),
        }
    }

    #[test]
    fn finds_the_character_that_cannot_be_there() {
        assert_eq!(at("1 +* 2"), Some(3));
        assert_eq!(at("foo bar"), Some(4));
        assert_eq!(at("foo{a=}"), Some(6));
        assert_eq!(at("sum by (a) b"), Some(11));
        assert_eq!(at("rate(x[5m)"), Some(9));
        assert_eq!(at(")"), Some(0));
        assert_eq!(at("rate(x[5m]) +\n  * 2"), Some(16));
    }

    #[test]
    fn incomplete_and_valid_queries_have_no_bad_character() {
        assert_eq!(at("1 +"), None);
        assert_eq!(at("sum(rate(x[5m"), None);
        assert_eq!(at("foo{a=\"b"), None);
        assert_eq!(at("up"), None);
    }

    #[test]
    fn closers_respect_quotes() {
        assert_eq!(closers("sum(rate(x{a=\"(\""), "}))");
        assert_eq!(closers("f(\"a"), "\")");
    }
}
