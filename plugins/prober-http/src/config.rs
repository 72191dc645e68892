//! The `http` prober's config.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};

/// Config of the `http` prober.
#[derive(Debug, Clone, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers, name to value.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Status codes that mean up: codes (`200`) or classes (`"2xx"`). Default: any 2xx.
    #[serde(default = "default_expect_status")]
    pub expect_status: Vec<StatusPattern>,
    /// The body must contain this text.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// The body must not contain this text.
    #[serde(default)]
    pub body_not_contains: Option<String>,
    /// The body must match this regular expression.
    #[serde(default)]
    pub body_regex: Option<String>,
    /// Follow 301, 302, 303, 307 and 308 redirects.
    #[serde(default = "default_follow_redirects")]
    pub follow_redirects: bool,
    /// Most redirects to follow before giving up (down).
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u32,
    /// Give up after this many milliseconds, redirects included. Default: the time ward gives
    /// the check.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Down when the final URL is https.
    #[serde(default)]
    pub fail_if_ssl: bool,
    /// Down when the final URL is not https.
    #[serde(default)]
    pub fail_if_not_ssl: bool,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_expect_status() -> Vec<StatusPattern> {
    vec![StatusPattern::Class(2)]
}

fn default_follow_redirects() -> bool {
    true
}

fn default_max_redirects() -> u32 {
    10
}

/// An expected status: one code, or a class like `2xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    /// Exactly this code.
    Code(u16),
    /// Any code of this hundred (2 for `2xx`).
    Class(u16),
}

impl StatusPattern {
    fn matches(self, status: u16) -> bool {
        match self {
            Self::Code(code) => status == code,
            Self::Class(class) => status / 100 == class,
        }
    }
}

impl fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(code) => write!(f, "{code}"),
            Self::Class(class) => write!(f, "{class}xx"),
        }
    }
}

pub(crate) fn status_expected(expected: &[StatusPattern], status: u16) -> bool {
    expected.iter().any(|pattern| pattern.matches(status))
}

pub(crate) fn describe_expected(expected: &[StatusPattern]) -> String {
    let all: Vec<String> = expected.iter().map(ToString::to_string).collect();
    all.join(" or ")
}

impl<'de> serde::Deserialize<'de> for StatusPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PatternVisitor;

        impl Visitor<'_> for PatternVisitor {
            type Value = StatusPattern;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code (100-599) or a class like \"2xx\"")
            }

            fn visit_u64<E: de::Error>(self, code: u64) -> Result<StatusPattern, E> {
                match u16::try_from(code) {
                    Ok(code @ 100..=599) => Ok(StatusPattern::Code(code)),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(code), &self)),
                }
            }

            fn visit_i64<E: de::Error>(self, code: i64) -> Result<StatusPattern, E> {
                match u64::try_from(code) {
                    Ok(code) => self.visit_u64(code),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(code), &self)),
                }
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<StatusPattern, E> {
                let invalid = || E::invalid_value(de::Unexpected::Str(text), &self);
                let lower = text.to_ascii_lowercase();
                if let Some(class) = lower.strip_suffix("xx") {
                    return match class.parse::<u16>() {
                        Ok(class @ 1..=5) => Ok(StatusPattern::Class(class)),
                        _ => Err(invalid()),
                    };
                }
                let code = text.parse::<u64>().map_err(|_| invalid())?;
                self.visit_u64(code)
            }
        }

        deserializer.deserialize_any(PatternVisitor)
    }
}

impl JsonSchema for StatusPattern {
    fn schema_name() -> Cow<'static, str> {
        "StatusPattern".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A status code (100-599) or a class like \"2xx\".",
            "oneOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "string", "pattern": "^([1-5][xX][xX]|[1-5][0-9][0-9])$" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ward_sdk::Result<Config> {
        ward_sdk::parse_config(json)
    }

    #[test]
    fn defaults() {
        let config = parse("").expect("empty config is valid");
        assert_eq!(config.method, "GET");
        assert_eq!(config.expect_status, vec![StatusPattern::Class(2)]);
        assert!(config.follow_redirects);
        assert_eq!(config.max_redirects, 10);
    }

    #[test]
    fn status_patterns() {
        let config = parse(r#"{"expect_status": [200, "3xx", "404"]}"#).expect("valid");
        let expected = &config.expect_status;
        assert_eq!(describe_expected(expected), "200 or 3xx or 404");
        for (status, up) in [
            (200, true),
            (204, false),
            (301, true),
            (404, true),
            (500, false),
        ] {
            assert_eq!(status_expected(expected, status), up, "{status}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let error = parse(r#"{"expect_status": ["x"]}"#).expect_err("invalid");
        assert_eq!(
            error.message(),
            r#"expect_status[0]: invalid value: string "x", expected a status code (100-599) or a class like "2xx""#
        );
        let error = parse(r#"{"folow_redirects": false}"#).expect_err("invalid");
        assert!(
            error
                .message()
                .starts_with("folow_redirects: unknown field"),
            "{error}"
        );
    }
}
