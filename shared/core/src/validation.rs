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
/// Not JSON, a key given twice, an integer beyond 64 bits, or a field missing, unknown or of
/// the wrong type.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    Ok(from_value(&parse_value(bytes)?)?)
}

/// Parse JSON text strictly: an object that names a key twice is refused (serde_json would
/// keep the last one silently), and so is an integer too large for 64 bits (it would be
/// rounded to a float, and the receiver would get another number).
///
/// # Errors
/// Not JSON, or the path of the duplicate key or oversized integer.
pub fn parse_value(bytes: &[u8]) -> Result<serde_json::Value, BodyError> {
    let mut rounded = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde::de::DeserializeSeed::deserialize(strict::Strict::new(&mut rounded), &mut deserializer)
        .and_then(|v| deserializer.end().map(|()| v))
        .map_err(|e| match strict::duplicate_path(&e) {
            Some(path) => BodyError::Field(FieldError::new(path, "is given twice")),
            None => BodyError::NotJson(e.to_string()),
        })?;
    if let Some(path) = rounded.first()
        && strict::has_oversized_integer(bytes)
    {
        return Err(FieldError::new(
            path.clone(),
            "is an integer beyond 64 bits, which JSON receivers round; send it as a string",
        )
        .into());
    }
    Ok(value)
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
    use serde_json::{Map, Value};

    const DUPLICATE: &str = "\u{1}duplicate key at ";

    /// Builds a `Value`, refusing duplicate keys, and notes where an integral float beyond
    /// 64 bits landed (serde_json hands oversized integers over as floats).
    pub struct Strict<'r> {
        path: String,
        rounded: &'r mut Vec<String>,
    }

    impl<'r> Strict<'r> {
        pub fn new(rounded: &'r mut Vec<String>) -> Self {
            Strict { path: String::new(), rounded }
        }

        fn child(&mut self, path: String) -> Strict<'_> {
            Strict { path, rounded: self.rounded }
        }

        fn at(&self, suffix: &str) -> String {
            match (self.path.is_empty(), suffix.starts_with('[')) {
                (true, _) | (false, true) => format!("{}{suffix}", self.path),
                (false, false) => format!("{}.{suffix}", self.path),
            }
        }
    }

    pub fn duplicate_path(err: &serde_json::Error) -> Option<String> {
        let text = err.to_string();
        let rest = text.strip_prefix(DUPLICATE)?;
        Some(rest.split_once('\u{1}').map_or(rest, |(path, _)| path).to_owned())
    }

    /// Whether the text holds, outside strings, an integer literal that fits neither i64 nor u64.
    pub fn has_oversized_integer(bytes: &[u8]) -> bool {
        let (mut in_string, mut escaped, mut i) = (false, false, 0);
        while i < bytes.len() {
            let b = bytes[i];
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                i += 1;
                continue;
            }
            if b == b'"' {
                in_string = true;
                i += 1;
                continue;
            }
            if b == b'-' || b.is_ascii_digit() {
                let end = bytes[i..]
                    .iter()
                    .position(|c| !(c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')))
                    .map_or(bytes.len(), |n| i + n);
                let token = std::str::from_utf8(&bytes[i..end]).unwrap_or_default();
                let integral = !token.contains(['.', 'e', 'E']);
                if integral && token.parse::<i64>().is_err() && token.parse::<u64>().is_err() {
                    return true;
                }
                i = end;
                continue;
            }
            i += 1;
        }
        false
    }

    impl<'de> DeserializeSeed<'de> for Strict<'_> {
        type Value = Value;

        fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Strict<'_> {
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

        #[allow(clippy::cast_precision_loss)]
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            if v.fract() == 0.0 && v.abs() >= i64::MAX as f64 {
                self.rounded.push(if self.path.is_empty() { "(body)".to_owned() } else { self.path.clone() });
            }
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
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

        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            loop {
                let path = self.at(&format!("[{}]", items.len()));
                match seq.next_element_seed(self.child(path))? {
                    Some(item) => items.push(item),
                    None => return Ok(Value::Array(items)),
                }
            }
        }

        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let path = self.at(&key);
                if object.contains_key(&key) {
                    return Err(de::Error::custom(format!("{DUPLICATE}{path}\u{1}")));
                }
                let value = map.next_value_seed(self.child(path))?;
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
    fn an_integer_beyond_64_bits_is_named_not_rounded() {
        let err = parse_value(br#"{"payload":{"n":123456789012345678901234567890}}"#).unwrap_err();
        assert_eq!(
            err,
            BodyError::Field(FieldError::new(
                "payload.n",
                "is an integer beyond 64 bits, which JSON receivers round; send it as a string"
            ))
        );
        // Floats, 64-bit extremes and digits inside strings are fine.
        for ok in [
            r#"{"f":1e30}"#,
            r#"{"u":18446744073709551615,"i":-9223372036854775808}"#,
            r#"{"s":"123456789012345678901234567890"}"#,
        ] {
            assert!(parse_value(ok.as_bytes()).is_ok(), "{ok}");
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
