//! Webhook templates: a studio's URL, headers and payload with `{{variable}}` holes (PatchKit's
//! syntax and variables), compiled when the webhook is saved and rendered for each delivery.
//!
//! Compiling catches every template mistake up front, located (`url`, `headers.X-Token`,
//! `payload.a.b[2]`), and renders once with sample values so a URL or header that could never
//! work is refused at save time. Rendering then only fails on event data that cannot be placed
//! safely, and every value is escaped for where it lands: JSON inside the parsed payload,
//! percent-encoding in the URL, validation in headers, form encoding for `form` bodies and
//! GET/DELETE queries.

mod cache;
mod form;
mod headers;
mod parse;
mod payload;
mod render;
mod url_template;
mod vars;

use crate::model::{EventName, PayloadFormat, WebhookMethod, WebhookSpec};

pub use cache::TemplateCache;
pub use parse::{ParseError, Segment, Template};
pub use vars::{PATCHKIT_VARIABLES, Values, Variable, sample_event, sample_payload};

use headers::HeaderTemplate;
use payload::PayloadTemplate;
use url_template::UrlTemplate;

pub const CONTENT_TYPE_JSON: &str = "application/json";
pub const CONTENT_TYPE_FORM: &str = "application/x-www-form-urlencoded";

/// A template problem, located: `url`, `headers.X-Token`, `payload.a.b[2]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct TemplateError {
    pub location: String,
    pub message: String,
}

impl TemplateError {
    fn at(location: &str, message: impl Into<String>) -> TemplateError {
        TemplateError { location: location.to_owned(), message: message.into() }
    }
}

/// A webhook whose templates parsed: rendering can then only fail on values that cannot be
/// placed (a header value with CR/LF, a URL that no longer parses).
#[derive(Debug, Clone)]
pub struct CompiledWebhook {
    pub method: WebhookMethod,
    format: PayloadFormat,
    url: UrlTemplate,
    headers: Vec<HeaderTemplate>,
    payload: PayloadTemplate,
    spec: WebhookSpec,
    /// The longest URL the sample renders produced, and for which event: the save-time URL
    /// limit reads it instead of rendering the samples again.
    longest_sample_url: (usize, EventName),
}

/// Exactly what will go on the wire, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRequest {
    pub method: WebhookMethod,
    /// Absolute http(s), as the `url` crate serialises it.
    pub url: String,
    /// Studio headers, rendered, in order.
    pub headers: Vec<(String, String)>,
    pub content_type: Option<&'static str>,
    pub body: Option<String>,
}

/// Parses every template of `spec` and checks it renders with the sample values of each event
/// it fires on.
///
/// # Errors
/// The first template problem, located.
pub fn compile(spec: &WebhookSpec) -> Result<CompiledWebhook, TemplateError> {
    let url = UrlTemplate::parse(&spec.url).map_err(|e| TemplateError::at("url", e.to_string()))?;
    let headers = headers::compile(&spec.headers)?;
    if !spec.payload.is_object() {
        if spec.format == PayloadFormat::Form {
            return Err(TemplateError::at("payload", "must be a JSON object with the form format"));
        }
        if !spec.method.has_body() {
            return Err(TemplateError::at(
                "payload",
                format!("must be a JSON object: {} sends it as query parameters", spec.method.as_str()),
            ));
        }
    }
    let payload = PayloadTemplate::compile(&spec.payload)?;
    let mut compiled = CompiledWebhook {
        method: spec.method,
        format: spec.format,
        url,
        headers,
        payload,
        spec: spec.clone(),
        longest_sample_url: (0, EventName::VersionPublished),
    };
    let mut events = spec.events.clone();
    events.sort_unstable();
    events.dedup();
    if events.is_empty() {
        events.push(EventName::VersionPublished);
    }
    for event in events {
        let url_len = compiled.render(&Values::sample(event))?.url.len();
        if url_len > compiled.longest_sample_url.0 {
            compiled.longest_sample_url = (url_len, event);
        }
    }
    Ok(compiled)
}

impl CompiledWebhook {
    /// The length of the longest URL the sample values of the subscribed events render to, and
    /// the event that gave it.
    #[must_use]
    pub fn longest_sample_url(&self) -> (usize, EventName) {
        self.longest_sample_url
    }

    /// The spec this was compiled from.
    #[must_use]
    pub fn spec(&self) -> &WebhookSpec {
        &self.spec
    }
}
