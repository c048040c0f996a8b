//! The one table from the use cases' errors to HTTP: status, stable code and message in the
//! project's shape, and PatchKit's status and `{"message"}` for the key check. Nothing else in
//! the project chooses a status code.

use super::api_error::ApiError;
use crate::ports::{QueueError, StoreError};
use crate::service::ingest::IngestError;
use crate::service::key_admin::KeyAdminError;
use crate::service::keys::KeyRefusal;
use crate::service::manage::ManageError;
use crate::service::tokens::TokenError;
use crate::validation::{BodyError, FieldError};

impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::TooLarge { limit } => too_large(limit),
            IngestError::Signature(_) => ApiError::new(401, "unauthorized", err.to_string()),
            IngestError::BadEventId => ApiError::new(400, "bad_request", err.to_string()),
            IngestError::NotDeclaredJson => ApiError::new(415, "unsupported_media_type", err.to_string()),
            IngestError::Body(e) => e.into(),
            IngestError::InProgress { .. } => ApiError::new(409, "conflict", err.to_string()),
            IngestError::Store(e) => e.into(),
            IngestError::Queue(e) => e.into(),
        }
    }
}

impl From<ManageError> for ApiError {
    fn from(err: ManageError) -> Self {
        match err {
            ManageError::Invalid(e) => e.into(),
            ManageError::NotFound(_) => ApiError::new(404, "not_found", err.to_string()),
            ManageError::StillPending(_) => ApiError::new(409, "conflict", err.to_string()),
            ManageError::BadCursor => ApiError::new(400, "bad_request", err.to_string()),
            ManageError::UnusableSecret(_) => ApiError::new(503, "unavailable", err.to_string()),
            ManageError::Store(e) => e.into(),
            ManageError::Queue(e) => e.into(),
        }
    }
}

impl From<KeyAdminError> for ApiError {
    fn from(err: KeyAdminError) -> Self {
        match err {
            KeyAdminError::Invalid(e) => e.into(),
            KeyAdminError::NotFound(_) => ApiError::new(404, "not_found", err.to_string()),
            KeyAdminError::Conflict(_) => ApiError::new(409, "conflict", err.to_string()),
            KeyAdminError::ImportConflicts(_) => ApiError::new(409, "import_conflict", err.to_string()),
            KeyAdminError::UnknownAppSecret => ApiError::new(404, "not_found", err.to_string()),
            KeyAdminError::Store(e) => e.into(),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Invalid(e) => e.into(),
            TokenError::NotFound(_) => ApiError::new(404, "not_found", err.to_string()),
            TokenError::TooMany(_) => ApiError::new(409, "conflict", err.to_string()),
            TokenError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::new(404, "not_found", format!("{what} not found")),
            StoreError::AlreadyExists(what) => {
                ApiError::new(409, "conflict", format!("{what} already exists"))
            }
            StoreError::Conflict(what) => {
                ApiError::new(409, "conflict", format!("{what} was changed concurrently; retry"))
            }
            StoreError::Unavailable(detail) => {
                // The detail may name hosts or tables: log it, don't show it.
                tracing::error!(%detail, "store unavailable");
                ApiError::new(503, "unavailable", "store unavailable; retry later")
            }
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        tracing::error!(error = %err, "queue unavailable");
        ApiError::new(503, "unavailable", "queue unavailable; retry later")
    }
}

impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::NotJson(_) => ApiError::new(400, "invalid_json", err.to_string()),
            BodyError::Field(e) => e.into(),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(err: FieldError) -> Self {
        ApiError::new(422, "invalid_field", err.to_string())
    }
}

pub(super) fn too_large(limit: usize) -> ApiError {
    ApiError::new(413, "payload_too_large", format!("body exceeds {limit} bytes"))
}

/// PatchKit's status and message for a refused key check. Existing games parse these, and a
/// PatchKit client understands only 200, 403, 404, 410 and 5xx: another app's key and a key no
/// store could hold are answered exactly like an unknown key (nothing tells them apart). A
/// missing `app_secret` stays 400: PatchKit's clients always send one.
#[must_use]
pub fn patchkit_refusal(refusal: KeyRefusal) -> (u16, &'static str) {
    match refusal {
        KeyRefusal::NotFound | KeyRefusal::OtherAppsKey | KeyRefusal::MalformedKey => (404, "Key not known"),
        KeyRefusal::Blocked => (410, "Key has been blocked"),
        KeyRefusal::UnknownAppSecret => (403, "Forbidden"),
        KeyRefusal::MissingAppSecret => (400, "app_secret is required"),
        KeyRefusal::Unavailable => (503, "Service unavailable, retry"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn field_errors_are_422_naming_the_path() {
        let err = ApiError::from(ManageError::Invalid(FieldError::new("version.id", "is required")));
        assert_eq!(
            (err.status, err.code, err.message.as_str()),
            (422, "invalid_field", "version.id: is required")
        );
        let err = ApiError::from(IngestError::Body(BodyError::NotJson("eof".into())));
        assert_eq!((err.status, err.code), (400, "invalid_json"));
    }

    #[test]
    fn patchkit_statuses_are_patchkits() {
        assert_eq!(patchkit_refusal(KeyRefusal::NotFound), (404, "Key not known"));
        assert_eq!(patchkit_refusal(KeyRefusal::Blocked), (410, "Key has been blocked"));
        assert_eq!(patchkit_refusal(KeyRefusal::UnknownAppSecret).0, 403);
        // No existence oracle: another app's key and junk read as an unknown key.
        for refusal in [KeyRefusal::OtherAppsKey, KeyRefusal::MalformedKey] {
            assert_eq!(patchkit_refusal(refusal), patchkit_refusal(KeyRefusal::NotFound));
        }
        assert_eq!(patchkit_refusal(KeyRefusal::Unavailable).0, 503);
    }
}
