//! From a rendered template to the exact request on the wire: our headers added after the
//! studio's (which cannot hold ours: the template compiler refuses those names), and the
//! Standard Webhooks signature over the final body.

use chrono::{DateTime, Utc};

use crate::ports::OutgoingRequest;
use crate::secret::Secret;
use crate::signing::{VerifyError, signature_header};
use crate::template::RenderedRequest;

/// `Patchbay-Webhooks/<version>`: receivers may log it, never authenticate by it.
pub const USER_AGENT: &str = concat!("Patchbay-Webhooks/", env!("CARGO_PKG_VERSION"));

/// Add content type, user agent, and — when `secrets` is not empty — the signature headers.
/// `message_id` becomes `webhook-id`: the delivery id, the same on every attempt, so receivers
/// can drop duplicates.
///
/// # Errors
/// A malformed signing secret.
pub fn finalize(
    rendered: RenderedRequest,
    secrets: &[&Secret],
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<OutgoingRequest, VerifyError> {
    let mut headers = rendered.headers;
    if let Some(content_type) = rendered.content_type {
        headers.push(("content-type".to_owned(), content_type.to_owned()));
    }
    headers.push(("user-agent".to_owned(), USER_AGENT.to_owned()));
    let body = rendered.body.map(String::into_bytes);
    if !secrets.is_empty() {
        let timestamp = now.timestamp();
        let signature =
            signature_header(secrets, message_id, timestamp, body.as_deref().unwrap_or_default())?;
        headers.push(("webhook-id".to_owned(), message_id.to_owned()));
        headers.push(("webhook-timestamp".to_owned(), timestamp.to_string()));
        headers.push(("webhook-signature".to_owned(), signature));
    }
    Ok(OutgoingRequest { method: rendered.method, url: rendered.url, headers, body, timeout: None })
}

/// The request as JSON for people: `{"method","url","headers":{…},"body"}` (body as a string).
#[must_use]
pub fn describe(request: &OutgoingRequest) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> =
        request.headers.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    serde_json::json!({
        "method": request.method.as_str(),
        "url": request.url,
        "headers": headers,
        "body": request.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
    })
}
