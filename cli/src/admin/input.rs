//! Reading what the user hands us: files (or `-` for stdin), JSON documents and flag values.
//! Every failure here is a usage error (exit 2): nothing has been sent yet.

use std::io::Read;
use std::path::Path;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use patchbay_core::model::EventName;
use serde_json::Value;

use super::error::{CliError, CliResult};

/// Clap parser for an event name a webhook may subscribe to, listing them in `--help`.
pub fn event_parser() -> impl TypedValueParser<Value = EventName> {
    PossibleValuesParser::new(EventName::ALL.map(EventName::as_str))
        .try_map(|name| EventName::parse(&name).ok_or_else(|| format!("unknown event {name:?}")))
}

/// Clap parser for an event the pipeline may post (the operational ones are Patchbay's own).
pub fn pipeline_event_parser() -> impl TypedValueParser<Value = EventName> {
    PossibleValuesParser::new(EventName::PIPELINE.map(EventName::as_str))
        .try_map(|name| EventName::parse(&name).ok_or_else(|| format!("unknown event {name:?}")))
}

/// Clap parser for an RFC 3339 timestamp, kept as typed (the API parses it again).
///
/// # Errors
/// Not RFC 3339.
pub fn parse_rfc3339(text: &str) -> Result<String, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("not an RFC 3339 timestamp like 2024-05-14T09:30:00Z: {e}"))
}

/// The bytes of `path`, or of stdin when `path` is `-`.
///
/// # Errors
/// The file cannot be read.
pub fn read_bytes(path: &Path) -> CliResult<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
        return Ok(bytes);
    }
    std::fs::read(path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))
}

/// The text of `path` (or stdin), which must be UTF-8; a leading byte-order mark is dropped.
///
/// # Errors
/// Unreadable, or not UTF-8.
pub fn read_text(path: &Path) -> CliResult<String> {
    let bytes = read_bytes(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::usage(format!("{} is not UTF-8 text", path.display())))?;
    Ok(text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text))
}

/// A JSON object from a file.
///
/// # Errors
/// Unreadable, not JSON, or not an object.
pub fn read_json_object(path: &Path) -> CliResult<serde_json::Map<String, Value>> {
    let bytes = read_bytes(path)?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| CliError::usage(format!("{} is not JSON: {e}", path.display())))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(CliError::usage(format!("{} must hold a JSON object", path.display()))),
    }
}

/// A `--payload` value: inline JSON, or `@FILE` to read it from a file.
///
/// # Errors
/// Not JSON, or the file cannot be read.
pub fn parse_payload(text: &str) -> CliResult<Value> {
    let (source, bytes) = match text.strip_prefix('@') {
        Some(path) => (path.to_owned(), read_bytes(Path::new(path))?),
        None => ("--payload".to_owned(), text.as_bytes().to_vec()),
    };
    serde_json::from_slice(&bytes).map_err(|e| CliError::usage(format!("{source} is not JSON: {e}")))
}

/// A `--header 'Name: value'` flag.
///
/// # Errors
/// No colon, or an empty name.
pub fn parse_header(text: &str) -> CliResult<(String, String)> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| CliError::usage(format!("--header {text:?} must look like 'Name: value'")))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(CliError::usage(format!("--header {text:?} has no name before the colon")));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(parse_header("X-Token: a:b ").unwrap(), ("X-Token".to_owned(), "a:b".to_owned()));
        assert_eq!(parse_header("Empty:").unwrap(), ("Empty".to_owned(), String::new()));
        assert!(matches!(parse_header("no colon"), Err(CliError::Usage(_))));
        assert!(matches!(parse_header(": v"), Err(CliError::Usage(_))));
    }

    #[test]
    fn payloads() {
        assert_eq!(
            parse_payload(r#"{"a":"{{app.name}}"}"#).unwrap(),
            serde_json::json!({"a": "{{app.name}}"})
        );
        assert!(matches!(parse_payload("{nope"), Err(CliError::Usage(_))));
        assert!(matches!(parse_payload("@/definitely/not/here.json"), Err(CliError::Usage(_))));
    }
}
