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
/// Not JSON, a key given twice, or a field missing, unknown or of the wrong type.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    Ok(from_value(&parse_value(bytes)?)?)
}

/// Parse JSON text strictly: an object that names a key twice is refused (serde_json would
/// keep the last one silently). Numbers keep their exact digits, however long (serde_json's
/// `arbitrary_precision`): a 30-digit id in a payload template reaches receivers as written.
///
/// # Errors
/// Not JSON, or the path of the duplicate key.
pub fn parse_value(bytes: &[u8]) -> Result<serde_json::Value, BodyError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde::de::DeserializeSeed::deserialize(strict::Strict::root(), &mut deserializer)
        .and_then(|v| deserializer.end().map(|()| v))
        .map_err(|e| match strict::duplicate_path(&e) {
            Some(path) => BodyError::Field(FieldError::new(path, "is given twice")),
            None => BodyError::NotJson(e.to_string()),
        })
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
        let expected = message.split_once(", expected ").map_or("no fields", |(_, e)| e);
        let field = parent.unwrap_or_else(|| name.to_owned());
        return FieldError::new(field, format!("is not a known field (expected {expected})"));
    }
    FieldError::new(parent.unwrap_or_else(|| "(body)".to_owned()), message)
}

fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split_once('`').map(|(name, _)| name)
}

mod strict {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    const DUPLICATE: &str = "\u{1}duplicate key at ";
    /// How serde_json (with `arbitrary_precision`) hands over a number: a one-entry map whose
    /// key is this marker and whose value is the number's text.
    const NUMBER_MARKER: &str = "$serde_json::private::Number";

    /// Builds a `Value`, refusing duplicate keys; `path` names where it is, for the error.
    pub struct Strict {
        path: String,
    }

    impl Strict {
        pub fn root() -> Self {
            Strict { path: String::new() }
        }

        fn at(&self, suffix: &str) -> Strict {
            let path = match (self.path.is_empty(), suffix.starts_with('[')) {
                (true, _) | (false, true) => format!("{}{suffix}", self.path),
                (false, false) => format!("{}.{suffix}", self.path),
            };
            Strict { path }
        }
    }

    pub fn duplicate_path(err: &serde_json::Error) -> Option<String> {
        let text = err.to_string();
        let rest = text.strip_prefix(DUPLICATE)?;
        Some(rest.split_once('\u{1}').map_or(rest, |(path, _)| path).to_owned())
    }

    impl<'de> DeserializeSeed<'de> for Strict {
        type Value = Value;

        fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Strict {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }

        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }

        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
        }

        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }

        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(self.at(&format!("[{}]", items.len())))? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if key == NUMBER_MARKER && object.is_empty() {
                    let digits: String = map.next_value()?;
                    return digits.parse::<Number>().map(Value::Number).map_err(de::Error::custom);
                }
                let child = self.at(&key);
                if object.contains_key(&key) {
                    return Err(de::Error::custom(format!("{DUPLICATE}{}\u{1}", child.path)));
                }
                let value = map.next_value_seed(child)?;
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
    }
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
    fn a_key_given_twice_is_named() {
        let err = parse_value(br#"{"a":{"b":[{"c":1,"c":2}]}}"#).unwrap_err();
        assert_eq!(err, BodyError::Field(FieldError::new("a.b[0].c", "is given twice")));
        let err = parse_value(br#"{"url":"x","url":"y"}"#).unwrap_err();
        assert_eq!(err, BodyError::Field(FieldError::new("url", "is given twice")));
        assert!(parse_value(br#"{"a":1,"b":{"a":2}}"#).is_ok());
    }

    #[test]
    fn numbers_keep_their_exact_digits() {
        for text in [
            r#"{"n":123456789012345678901234567890}"#,
            r#"{"n":-98765432109876543210.5}"#,
            r#"{"f":0.1,"i":-9223372036854775808,"u":18446744073709551615}"#,
            r#"[2.5,2,{"n":340282366920938463463374607431768211456}]"#,
        ] {
            assert_eq!(serde_json::to_string(&parse_value(text.as_bytes()).unwrap()).unwrap(), text);
        }
        assert_eq!(
            parse_value(br#"{"a":1} x"#).unwrap_err(),
            BodyError::NotJson("trailing characters at line 1 column 9".into())
        );
    }

    #[test]
    fn ids_are_url_and_log_safe() {
        assert!(check_id("id", "space-race_2").is_ok());
        for bad in ["", "../x", "a\nb", "a\u{1b}[31m", &"x".repeat(MAX_ID_LEN + 1)] {
            assert_eq!(check_id("app.id", bad).unwrap_err().field, "app.id", "{bad:?}");
        }
    }
}
