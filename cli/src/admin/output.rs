//! What the admin commands print: the API's JSON as-is (pretty) with `--json`, otherwise
//! aligned tables and `label  value` lines for people.

use std::io::Write;

use serde_json::Value;

use super::client::Reply;
use super::error::{CliError, CliResult};

/// Print a JSON document, pretty, on stdout.
///
/// # Errors
/// Stdout is closed.
pub fn print_json(value: &Value) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::failed(format!("cannot encode JSON: {e}")))?;
    print_text(&format!("{text}\n"))
}

/// Print an answer's JSON pretty, keeping the API's field order (a parsed `Value` would sort
/// the keys); a body that is not JSON is printed as it came.
///
/// # Errors
/// Stdout is closed.
pub fn print_reply(reply: &Reply) -> CliResult {
    match reindent(&reply.text) {
        Some(pretty) => print_text(&format!("{pretty}\n")),
        None if reply.text.trim().is_empty() => print_json(&Value::Null),
        None => print_text(&format!("{}\n", reply.text.trim_end())),
    }
}

/// Pretty-print JSON text the way `serde_json::to_string_pretty` does, without reordering
/// anything. `None` when `text` is not JSON.
#[must_use]
pub fn reindent(text: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                while chars.peek().is_some_and(char::is_ascii_whitespace) {
                    chars.next();
                }
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// Print text on stdout, reporting a closed pipe as an error rather than panicking.
///
/// # Errors
/// Stdout is closed.
pub fn print_text(text: &str) -> CliResult {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::failed(format!("cannot write to stdout: {e}")))
}

/// A field of a JSON object as display text: strings bare, `null`/missing as `-`, anything
/// else as compact JSON.
#[must_use]
pub fn field(value: &Value, name: &str) -> String {
    show(value.get(name).unwrap_or(&Value::Null))
}

#[must_use]
pub fn show(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")
        }
        other => other.to_string(),
    }
}

/// `label  value` lines with the values aligned (continuation lines of a multi-line value
/// too); `None` values are left out.
#[must_use]
pub fn fields(rows: &[(&str, Option<String>)]) -> String {
    let width = rows.iter().filter(|(_, v)| v.is_some()).map(|(l, _)| l.len()).max().unwrap_or(0);
    let continuation = format!("\n{}", " ".repeat(width + 2));
    let mut out = String::new();
    for (label, value) in rows {
        if let Some(value) = value {
            out.push_str(&format!("{label:<width$}  {}\n", value.replace('\n', &continuation)));
        }
    }
    out
}

/// A table with a header row; columns padded to their widest cell (in characters).
#[must_use]
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text.push('\n');
        text
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// The first line of `text`, cut to `max` characters with an ellipsis.
#[must_use]
pub fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim_end();
    let more_lines = text.trim().lines().count() > 1;
    let mut cut: String = line.chars().take(max).collect();
    if line.chars().count() > max || more_lines {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["id", "status"],
            &[vec!["a".into(), "ok".into()], vec!["long-id".into(), "failed".into()]],
        );
        assert_eq!(t, "id       status\na        ok\nlong-id  failed\n");
    }

    #[test]
    fn fields_skip_none_and_align() {
        let f = fields(&[("id", Some("x".into())), ("secret", None), ("name", Some("y".into()))]);
        assert_eq!(f, "id    x\nname  y\n");
    }

    #[test]
    fn show_values() {
        let v = serde_json::json!({"s": "x", "n": null, "a": ["p", "q"], "o": {"k": 1}, "b": true});
        assert_eq!(field(&v, "s"), "x");
        assert_eq!(field(&v, "n"), "-");
        assert_eq!(field(&v, "missing"), "-");
        assert_eq!(field(&v, "a"), "p,q");
        assert_eq!(field(&v, "o"), r#"{"k":1}"#);
        assert_eq!(field(&v, "b"), "true");
    }

    #[test]
    fn reindent_matches_serde_pretty_and_keeps_order() {
        let doc = serde_json::json!({
            "a": [1, {"b": "x,y:{z}", "c": []}, {}],
            "d": "quote \\\" and \\\\ backslash",
            "e": null, "f": {"g": [true, false]}, "h": 1.5
        });
        let compact = doc.to_string();
        assert_eq!(reindent(&compact).unwrap(), serde_json::to_string_pretty(&doc).unwrap());
        assert_eq!(reindent(r#"{"z":1,"a":{ }}"#).unwrap(), "{\n  \"z\": 1,\n  \"a\": {}\n}");
        assert_eq!(reindent("not json"), None);
    }

    #[test]
    fn multi_line_field_values_align() {
        assert_eq!(fields(&[("ab", Some("x\ny".into())), ("c", Some("z".into()))]), "ab  x\n    y\nc   z\n");
    }

    #[test]
    fn first_line_cuts() {
        assert_eq!(first_line("ok", 200), "ok");
        assert_eq!(first_line("\nline one\nline two", 200), "line one…");
        assert_eq!(first_line("abcdef", 3), "abc…");
        assert_eq!(first_line("", 3), "");
    }
}
