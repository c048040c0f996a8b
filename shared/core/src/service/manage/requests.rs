//! What the management API takes, as typed requests. The router builds them from bodies and
//! query strings; errors name the field at fault by its full path.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::model::{DeliveryStatus, EventName, WebhookSpec};
use crate::validation::{FieldError, from_value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    pub id: String,
    pub name: String,
    pub display_name: String,
    /// An app secret already embedded in shipped games (moving from PatchKit); generated when
    /// absent.
    #[serde(default)]
    pub app_secret: Option<String>,
}

/// `POST /v1/apps/{app_id}/webhooks`: the spec, and whether it starts enabled.
#[derive(Debug, Clone)]
pub struct CreateWebhook {
    pub spec: WebhookSpec,
    pub enabled: bool,
}

impl CreateWebhook {
    /// # Errors
    /// Not an object, an unknown field, or a spec field of the wrong shape.
    pub fn from_json(body: Value) -> Result<Self, FieldError> {
        let (fields, enabled) = spec_fields(body)?;
        let spec = from_value(&Value::Object(fields))?;
        Ok(CreateWebhook { spec, enabled: enabled.unwrap_or(true) })
    }
}

/// `POST /v1/apps/{app_id}/webhooks/preview`: a webhook as it would be created, and which
/// event's sample values to render it with (its first event by default).
#[derive(Debug, Clone)]
pub struct PreviewWebhook {
    pub spec: WebhookSpec,
    pub event: Option<EventName>,
}

impl PreviewWebhook {
    /// # Errors
    /// As [`CreateWebhook::from_json`], or `event` not an event name.
    pub fn from_json(mut body: Value) -> Result<Self, FieldError> {
        let event = match body.as_object_mut().and_then(|fields| fields.remove("event")) {
            None | Some(Value::Null) => None,
            Some(value) => {
                Some(from_value::<EventName>(&value).map_err(|e| FieldError::new("event", e.problem))?)
            }
        };
        Ok(PreviewWebhook { spec: CreateWebhook::from_json(body)?.spec, event })
    }
}

/// `PATCH /v1/webhooks/{id}`: spec fields to replace (a JSON merge: `null` resets a field to
/// its default), and the switch.
#[derive(Debug, Clone, Default)]
pub struct PatchWebhook {
    pub changes: Map<String, Value>,
    pub enabled: Option<bool>,
}

impl PatchWebhook {
    /// # Errors
    /// Not an object, an unknown field, or `enabled` not a boolean.
    pub fn from_json(body: Value) -> Result<Self, FieldError> {
        let (changes, enabled) = spec_fields(body)?;
        Ok(PatchWebhook { changes, enabled })
    }

    /// The spec with these changes applied.
    ///
    /// # Errors
    /// A changed field of the wrong shape, or a required one reset.
    pub fn apply(&self, spec: &WebhookSpec) -> Result<WebhookSpec, FieldError> {
        let Ok(Value::Object(mut merged)) = serde_json::to_value(spec) else {
            return Err(FieldError::new("(body)", "the stored webhook could not be read"));
        };
        for (name, value) in &self.changes {
            merged.insert(name.clone(), value.clone());
        }
        merged.retain(|_, v| !v.is_null());
        from_value(&Value::Object(merged))
    }
}

/// The spec's fields of a create or patch body, and `enabled`; unknown fields are refused by
/// name, and `null`s dropped so defaults apply.
fn spec_fields(body: Value) -> Result<(Map<String, Value>, Option<bool>), FieldError> {
    let Value::Object(mut fields) = body else {
        return Err(FieldError::new("(body)", "must be a JSON object"));
    };
    let enabled = match fields.remove("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => return Err(FieldError::new("enabled", "must be true or false")),
    };
    if let Some(unknown) = fields.keys().find(|k| !WebhookSpec::FIELDS.contains(&k.as_str())) {
        return Err(FieldError::new(
            unknown.as_str(),
            format!("is not a known field (expected one of {}, enabled)", WebhookSpec::FIELDS.join(", ")),
        ));
    }
    Ok((fields, enabled))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    #[serde(default)]
    pub event: Option<EventName>,
}

/// Which deliveries of a webhook to list or replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub status: Option<DeliveryStatus>,
    /// Only deliveries created at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only deliveries of this event (a page may then hold fewer than `limit`).
    pub event: Option<EventName>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WebhookSpec {
        CreateWebhook::from_json(serde_json::json!({
            "events": ["version_published"], "method": "POST", "url": "https://example.com/hook",
            "headers": {"X-Token": "t"}
        }))
        .unwrap()
        .spec
    }

    #[test]
    fn create_names_the_field_at_fault() {
        let err = CreateWebhook::from_json(serde_json::json!({"events": [], "method": "POST"})).unwrap_err();
        assert_eq!(err, FieldError::new("url", "is required"));
        let err =
            CreateWebhook::from_json(serde_json::json!({"events": ["nope"], "method": "POST", "url": "x"}))
                .unwrap_err();
        assert_eq!(err.field, "events[0]");
        let err = CreateWebhook::from_json(serde_json::json!({"evnts": [], "method": "POST", "url": "x"}))
            .unwrap_err();
        assert_eq!(err.field, "evnts");
        let err = CreateWebhook::from_json(
            serde_json::json!({"events": [], "method": "POST", "url": "x", "headers": {"a": 1}}),
        )
        .unwrap_err();
        assert_eq!(err.field, "headers.a");
        let err = CreateWebhook::from_json(
            serde_json::json!({"events": [], "method": "POST", "url": "x", "enabled": "yes"}),
        )
        .unwrap_err();
        assert_eq!(err.field, "enabled");
    }

    #[test]
    fn preview_takes_a_create_body_and_an_event() {
        let body = serde_json::json!({"events": ["version_processed"], "method": "POST", "url": "https://e/",
            "event": "version_process_failed"});
        let preview = PreviewWebhook::from_json(body).unwrap();
        assert_eq!(preview.event, Some(EventName::VersionProcessFailed));
        assert_eq!(preview.spec.events, vec![EventName::VersionProcessed]);
        let bad = serde_json::json!({"events": [], "method": "POST", "url": "x", "event": "nope"});
        assert_eq!(PreviewWebhook::from_json(bad).unwrap_err().field, "event");
        let bad =
            serde_json::json!({"events": [], "method": "POST", "url": "x", "payload": {"a": "{{nope}}"}});
        assert!(PreviewWebhook::from_json(bad).is_ok(), "templates are checked by the use case");
    }

    #[test]
    fn patch_merges_and_null_resets() {
        let patch =
            PatchWebhook::from_json(serde_json::json!({"url": "https://other/", "headers": null})).unwrap();
        let patched = patch.apply(&spec()).unwrap();
        assert_eq!(patched.url, "https://other/");
        assert!(patched.headers.is_empty());
        assert_eq!(patched.events, spec().events);
        let reset_url = PatchWebhook::from_json(serde_json::json!({"url": null})).unwrap();
        assert_eq!(reset_url.apply(&spec()).unwrap_err(), FieldError::new("url", "is required"));
        let bad = PatchWebhook::from_json(serde_json::json!({"method": "FETCH"})).unwrap();
        assert_eq!(bad.apply(&spec()).unwrap_err().field, "method");
    }
}
