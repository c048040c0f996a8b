//! The project's one error shape: `{"error":{"code":…,"message":…}}` with an HTTP status.
//! (The key check keeps PatchKit's `{"message":…}`; see `service::keys`.)

use serde::Serialize;

use crate::ports::{QueueError, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: u16,
    /// Stable, machine-readable (`invalid_field`, `not_found`, …).
    pub code: &'static str,
    /// For humans: names the field, value or variable at fault.
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "bad_request", message)
    }

    pub fn invalid_json(message: impl Into<String>) -> Self {
        ApiError::new(400, "invalid_json", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(401, "unauthorized", message)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::new(404, "not_found", format!("{} not found", what.into()))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(409, "conflict", message)
    }

    pub fn too_large(limit: usize) -> Self {
        ApiError::new(413, "payload_too_large", format!("body exceeds {limit} bytes"))
    }

    /// A field that parsed but is not acceptable; `field` is its path, e.g. `version.id`.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        ApiError::new(422, "invalid_field", format!("{field}: {problem}"))
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(503, "unavailable", message)
    }

    /// The JSON body.
    #[must_use]
    pub fn body(&self) -> String {
        serde_json::to_string(&Body { error: Inner { code: self.code, message: &self.message } })
            .unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"internal error"}}"#.to_owned())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::AlreadyExists(what) => ApiError::conflict(format!("{what} already exists")),
            StoreError::Conflict(what) => {
                ApiError::conflict(format!("{what} was changed concurrently; retry"))
            }
            StoreError::Unavailable(detail) => {
                tracing::error!(%detail, "store unavailable");
                ApiError::unavailable("store unavailable; retry later")
            }
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        tracing::error!(error = %err, "queue unavailable");
        ApiError::unavailable("queue unavailable; retry later")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_the_one_shape() {
        let err = ApiError::invalid_field("version.id", "expected an integer");
        let v: serde_json::Value = serde_json::from_str(&err.body()).unwrap();
        assert_eq!(v["error"]["code"], "invalid_field");
        assert_eq!(v["error"]["message"], "version.id: expected an integer");
        assert_eq!(err.status, 422);
    }

    #[test]
    fn store_errors_map_to_statuses() {
        assert_eq!(ApiError::from(StoreError::NotFound("webhook x".into())).status, 404);
        assert_eq!(ApiError::from(StoreError::AlreadyExists("app a".into())).status, 409);
        assert_eq!(ApiError::from(StoreError::Unavailable("boom".into())).status, 503);
        // The store's internal detail is logged, not shown.
        assert!(
            !ApiError::from(StoreError::Unavailable("secret-host:5432".into()))
                .message
                .contains("secret-host")
        );
    }
}
