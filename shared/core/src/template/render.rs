//! Turning a compiled webhook and one event's values into the request to send.

use serde_json::{Map, Value};

use super::{
    CONTENT_TYPE_FORM, CONTENT_TYPE_JSON, CompiledWebhook, RenderedRequest, TemplateError, form, url_template,
};
use crate::model::PayloadFormat;

impl CompiledWebhook {
    /// # Errors
    /// A value that cannot be placed where the template puts it.
    pub fn render(&self, values: &super::Values) -> Result<RenderedRequest, TemplateError> {
        let mut url =
            url_template::check(&self.url.render(values)).map_err(|m| TemplateError::at("url", m))?;
        let headers = self.headers.iter().map(|h| h.render(values)).collect::<Result<Vec<_>, _>>()?;
        let payload = self.payload.render(values)?;
        let (content_type, body) = if self.method.has_body() {
            match self.format {
                PayloadFormat::Json => {
                    let body = serde_json::to_string(&payload)
                        .map_err(|e| TemplateError::at("payload", e.to_string()))?;
                    (Some(CONTENT_TYPE_JSON), Some(body))
                }
                PayloadFormat::Form => (Some(CONTENT_TYPE_FORM), Some(form::encode(object(&payload)?))),
            }
        } else {
            let query = form::encode(object(&payload)?);
            if !query.is_empty() {
                let query = match url.query() {
                    Some(existing) if !existing.is_empty() => format!("{existing}&{query}"),
                    _ => query,
                };
                url.set_query(Some(&query));
            }
            (None, None)
        };
        Ok(RenderedRequest { method: self.method, url: url.into(), headers, content_type, body })
    }
}

/// Compile only accepts objects where one is needed; this keeps render total anyway.
fn object(payload: &Value) -> Result<&Map<String, Value>, TemplateError> {
    payload.as_object().ok_or_else(|| TemplateError::at("payload", "must be a JSON object"))
}
