//! Checking what callers send, with errors that name the field at fault by its full path
//! (`version.id`, `headers.Authorization`, `keys[3]`), the same way for every use case and
//! every entry point (router, CLI, console).

use std::fmt::Display;

use serde::de::DeserializeOwned;

/// Longest id a studio or the pipeline may choose (app ids, event app ids).
pub const MAX_ID_LEN: usize = 64;
/// Longest display text (names).
pub const MAX_TEXT_LEN: usize = 256;

/// A value that parsed but is not acceptable, or did not parse; `field` is its path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl Display) -> Self {
        FieldError { field: field.into(), problem: problem.to_string() }
    }
}

/// Why a JSON body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error(transparent)]
    Field(#[from] FieldError),
}

/// Parse a JSON body into `T`, naming the full path of the field at fault.
///
/// # Errors
/// Not JSON, or a field missing, unknown or of the wrong type.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| BodyError::NotJson(e.to_string()))?;
    Ok(from_value(&value)?)
}

/// Deserialize an already parsed JSON value, naming the full path of the field at fault.
///
/// # Errors
/// A field missing, unknown or of the wrong type.
pub fn from_value<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        field_error(if path == "." { None } else { Some(path) }, &err.into_inner().to_string())
    })
}

/// serde reports a missing field at its parent (`version: missing field `id``); callers want
/// the field itself (`version.id: is required`). An unknown field's path already ends with it.
fn field_error(parent: Option<String>, message: &str) -> FieldError {
    let child = |name: &str| match &parent {
        Some(p) => format!("{p}.{name}"),
        None => name.to_owned(),
    };
    if let Some(name) = backticked(message, "missing field `") {
        return FieldError::new(child(name), "is required");
    }
    if let Some(name) = backticked(message, "unknown field `") {
        let expected = message.split_once(", expected ").map(|(_, e)| e).unwrap_or("no fields");
        let field = parent.unwrap_or_else(|| name.to_owned());
        return FieldError::new(field, format!("is not a known field (expected {expected})"));
    }
    FieldError::new(parent.unwrap_or_else(|| "(body)".to_owned()), message)
}

fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split_once('`').map(|(name, _)| name)
}

/// Ids studios and the pipeline choose: short, and safe in a URL path, a log line and a key.
///
/// # Errors
/// Empty, too long, or a character other than letters, digits, `_` and `-`.
pub fn check_id(field: &str, id: &str) -> Result<(), FieldError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(FieldError::new(field, format!("must be 1 to {MAX_ID_LEN} characters")));
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(FieldError::new(field, "may hold only letters, digits, '_' and '-'"));
    }
    Ok(())
}

/// Display text: not blank, not too long, no control characters.
///
/// # Errors
/// Blank, too long, or holding a control character.
pub fn check_text(field: &str, text: &str) -> Result<(), FieldError> {
    if text.trim().is_empty() || text.len() > MAX_TEXT_LEN || text.chars().any(char::is_control) {
        return Err(FieldError::new(field, format!("must be 1 to {MAX_TEXT_LEN} printable characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        version: Inner,
        #[serde(default)]
        list: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        id: i64,
    }

    fn field_of(body: &str) -> FieldError {
        match parse_json::<Outer>(body.as_bytes()) {
            Err(BodyError::Field(f)) => f,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_field_is_named_by_its_full_path() {
        assert_eq!(field_of(r#"{"name":"a","version":{}}"#), FieldError::new("version.id", "is required"));
        assert_eq!(field_of(r#"{"version":{"id":1}}"#), FieldError::new("name", "is required"));
        assert_eq!(field_of(r#"{"name":"a","version":{"id":1},"list":[{"id":1},{}]}"#).field, "list[1].id");
    }

    #[test]
    fn an_unknown_field_is_named_by_its_full_path() {
        let err = field_of(r#"{"name":"a","version":{"id":1,"idd":2}}"#);
        assert_eq!(err.field, "version.idd");
        assert!(err.problem.contains("`id`"), "{err}");
    }

    #[test]
    fn a_wrong_type_is_named_where_it_is() {
        let err = field_of(r#"{"name":"a","version":{"id":"x"}}"#);
        assert_eq!(err.field, "version.id");
        assert_eq!(field_of("[]").field, "(body)");
    }

    #[test]
    fn not_json_is_its_own_error() {
        assert!(matches!(parse_json::<Outer>(b"nope"), Err(BodyError::NotJson(_))));
    }

    #[test]
    fn ids_are_url_and_log_safe() {
        assert!(check_id("id", "space-race_2").is_ok());
        for bad in ["", "../x", "a\nb", "a\u{1b}[31m", &"x".repeat(MAX_ID_LEN + 1)] {
            assert_eq!(check_id("app.id", bad).unwrap_err().field, "app.id", "{bad:?}");
        }
    }
}
