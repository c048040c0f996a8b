//! Webhook templates. STUB: being implemented (see the template helper's task).

use crate::model::{EventBody, EventName, WebhookMethod, WebhookSpec};

/// A template problem, located: `url`, `headers.X-Token`, `payload.a.b[2]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct TemplateError {
    pub location: String,
    pub message: String,
}

/// The variable values for one event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Values {}

impl Values {
    #[must_use]
    pub fn from_event(_body: &EventBody) -> Values {
        Values {}
    }
    #[must_use]
    pub fn sample(_event: EventName) -> Values {
        Values {}
    }
}

/// A webhook whose templates parsed: rendering can then only fail on values that cannot be
/// placed (a header value with CR/LF, a URL that no longer parses).
#[derive(Debug, Clone)]
pub struct CompiledWebhook {
    pub method: WebhookMethod,
}

/// Exactly what will go on the wire, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRequest {
    pub method: WebhookMethod,
    pub url: String,
    /// Studio headers, rendered, in order.
    pub headers: Vec<(String, String)>,
    pub content_type: Option<&'static str>,
    pub body: Option<String>,
}

/// # Errors
/// The first template problem, located.
pub fn compile(spec: &WebhookSpec) -> Result<CompiledWebhook, TemplateError> {
    Ok(CompiledWebhook { method: spec.method })
}

impl CompiledWebhook {
    /// # Errors
    /// A value that cannot be placed where the template puts it.
    pub fn render(&self, _values: &Values) -> Result<RenderedRequest, TemplateError> {
        Err(TemplateError { location: "url".into(), message: "not implemented".into() })
    }
}
