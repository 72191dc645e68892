//! Plugin config: parsing the JSON document ward passes, and describing it as a JSON schema.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::Error;

/// The config of a plugin that takes none: accepts `{}` (or an empty document) and nothing else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Parse `json` into `T`. An empty document means `{}`.
///
/// Errors name the field at fault, e.g.
/// `expect_status[0]: invalid type: string "x", expected u16`.
///
/// ```
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Config {
///     port: u16,
/// }
///
/// let error = ward_sdk::parse_config::<Config>(r#"{"port": "x"}"#).err().unwrap();
/// assert_eq!(error.message(), r#"port: invalid type: string "x", expected u16"#);
/// ```
pub fn parse_config<T: DeserializeOwned>(json: &str) -> Result<T, Error> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    let value: T = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = without_position(&inner);
        if path == "." {
            Error::Config(message)
        } else {
            Error::Config(format!("{path}: {message}"))
        }
    })?;
    Ok(value)
}

/// The JSON schema of `T`, as a string.
pub(crate) fn schema_of<T: JsonSchema>() -> String {
    schemars::schema_for!(T).to_value().to_string()
}

/// serde_json's message without its trailing " at line L column C": the path already says where.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&suffix) {
        Some(stripped) => stripped.to_owned(),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        /// Codes that count as up.
        expect_status: Vec<u16>,
        #[serde(default)]
        name: Option<String>,
    }

    #[track_caller]
    fn check_error(json: &str, expected: &str) {
        let error = parse_config::<Config>(json).expect_err("config should be rejected");
        assert_eq!(error, Error::Config(expected.to_owned()));
    }

    #[test]
    fn errors_name_the_field() {
        check_error(
            r#"{"expect_status": ["x"]}"#,
            r#"expect_status[0]: invalid type: string "x", expected u16"#,
        );
        check_error(
            r#"{"expect_status": [], "nmae": 1}"#,
            "nmae: unknown field `nmae`, expected `expect_status` or `name`",
        );
        check_error("{}", "missing field `expect_status`");
        check_error("[", "EOF while parsing a list");
    }

    #[test]
    fn empty_document_is_an_empty_object() {
        assert_eq!(parse_config::<NoConfig>("").ok(), Some(NoConfig {}));
        assert_eq!(parse_config::<NoConfig>("  {} ").ok(), Some(NoConfig {}));
        assert!(parse_config::<NoConfig>(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn schema_carries_doc_comments() {
        let schema = schema_of::<Config>();
        assert!(schema.contains("Codes that count as up."), "{schema}");
        assert!(
            schema.contains(r#""additionalProperties":false"#),
            "{schema}"
        );
    }
}
