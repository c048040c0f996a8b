//! Studio headers. Names are fixed when the webhook is saved; only values hold variables, and a
//! rendered value that would not be one header value (CR, LF, other control characters) is an
//! error, never sent: event data must not be able to add headers or split the request.

use std::collections::BTreeMap;

use http::{HeaderName, HeaderValue};

use super::TemplateError;
use super::parse::Template;
use super::vars::Values;

#[derive(Debug, Clone)]
pub struct HeaderTemplate {
    name: String,
    location: String,
    value: Template,
}

/// Why a studio may not set `name` (lowercase), if it may not.
fn reserved(name: &str) -> Option<&'static str> {
    Some(match name {
        "webhook-id" | "webhook-timestamp" | "webhook-signature" => {
            "is reserved: Patchbay sets it to sign every delivery (Standard Webhooks)"
        }
        "content-type" => "is set by Patchbay from the request format (json or form)",
        "user-agent" => "is set by Patchbay",
        // Framing and connection headers belong to the HTTP client; a wrong one corrupts the
        // request instead of customising it.
        "host" | "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "te" | "trailer"
        | "upgrade" => "is managed by the HTTP client and cannot be set",
        _ => return None,
    })
}

/// # Errors
/// The first header whose name is invalid, reserved, repeated (names are case-insensitive) or
/// templated, or whose value does not parse.
pub fn compile(headers: &BTreeMap<String, String>) -> Result<Vec<HeaderTemplate>, TemplateError> {
    let mut seen: Vec<HeaderName> = Vec::with_capacity(headers.len());
    let mut compiled = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let location = format!("headers.{name}");
        let error = |message: String| TemplateError { location: location.clone(), message };
        if name.contains("{{") {
            return Err(error("header names cannot contain variables; only values can".to_owned()));
        }
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| error("is not a valid HTTP header name".to_owned()))?;
        if let Some(why) = reserved(parsed.as_str()) {
            return Err(error(format!("header `{name}` {why}")));
        }
        if seen.contains(&parsed) {
            return Err(error(format!("header `{name}` is given twice (header names are case-insensitive)")));
        }
        seen.push(parsed);
        let value = Template::parse(value).map_err(|e| error(e.to_string()))?;
        compiled.push(HeaderTemplate { name: name.clone(), location, value });
    }
    Ok(compiled)
}

impl HeaderTemplate {
    /// # Errors
    /// A rendered value that is not a valid header value.
    pub fn render(&self, values: &Values) -> Result<(String, String), TemplateError> {
        let value = self.value.render(values);
        if HeaderValue::from_str(&value).is_err() {
            return Err(TemplateError {
                location: self.location.clone(),
                message: "the rendered value is not a valid HTTP header value (it contains a line \
                          break or another control character)"
                    .to_owned(),
            });
        }
        Ok((self.name.clone(), value))
    }
}

#[cfg(test)]
mod tests {
    use super::super::vars::Variable;
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn renders_values_and_keeps_names_as_written() {
        let compiled =
            compile(&headers(&[("X-App", "{{app.name}}"), ("Authorization", "Bearer t")])).unwrap();
        let values = Values::default().with(Variable::AppName, "Café \"X\"\t1");
        let rendered: Vec<_> = compiled.iter().map(|h| h.render(&values).unwrap()).collect();
        assert_eq!(
            rendered,
            [("Authorization".into(), "Bearer t".into()), ("X-App".into(), "Café \"X\"\t1".into())]
        );
    }

    #[test]
    fn line_breaks_and_controls_are_render_errors() {
        let compiled = compile(&headers(&[("X-Label", "v={{version.label}}")])).unwrap();
        for bad in ["a\r\nX-Injected: 1", "a\nb", "a\rb", "nul\0", "del\u{7f}"] {
            let err = compiled[0].render(&Values::default().with(Variable::VersionLabel, bad)).unwrap_err();
            assert_eq!(err.location, "headers.X-Label", "{bad:?}");
        }
    }

    #[test]
    fn names_are_checked() {
        let err = |pairs: &[(&str, &str)]| compile(&headers(pairs)).unwrap_err();
        assert_eq!(err(&[("X-{{app.name}}", "v")]).location, "headers.X-{{app.name}}");
        assert!(err(&[("X-{{app.name}}", "v")]).message.contains("cannot contain variables"));
        assert_eq!(err(&[("Bad Name", "v")]).message, "is not a valid HTTP header name");
        assert_eq!(err(&[("", "v")]).location, "headers.");
        for name in ["webhook-id", "Webhook-Timestamp", "WEBHOOK-SIGNATURE"] {
            let e = err(&[(name, "v")]);
            assert_eq!(e.location, format!("headers.{name}"));
            assert!(e.message.contains("reserved"), "{e}");
        }
        assert!(err(&[("Content-Type", "text/plain")]).message.contains("request format"));
        assert!(err(&[("user-agent", "me")]).message.contains("set by Patchbay"));
        assert!(err(&[("Content-Length", "1")]).message.contains("HTTP client"));
        let dup = err(&[("X-A", "1"), ("x-a", "2")]);
        assert_eq!(dup.location, "headers.x-a");
        assert!(dup.message.contains("twice"));
    }

    #[test]
    fn value_templates_are_checked() {
        let e = compile(&headers(&[("X-A", "{{app.nam}}")])).unwrap_err();
        assert_eq!(e.to_string(), "headers.X-A: unknown variable `{{app.nam}}` at character 1");
    }
}
