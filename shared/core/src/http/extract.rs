//! Request-body and query extraction that fails with the project's error shape, naming the
//! field at fault, instead of axum's plain-text rejections.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::api_error::ApiError;
use super::errors::too_large;
use crate::model::{DeliveryStatus, EventName};
use crate::service::manage::DeliveryQuery;
use crate::validation::{FieldError, parse_json};

/// Management bodies are small; anything larger is a mistake or an attack.
pub const MAX_MANAGEMENT_BODY: usize = 1024 * 1024;

/// Read a body, refusing more than `limit` bytes with 413.
///
/// # Errors
/// 413 over the limit, 400 when the body cannot be read.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    to_bytes(body, limit).await.map_err(|err| {
        let too_large = std::error::Error::source(&err)
            .is_some_and(<dyn std::error::Error + 'static>::is::<http_body_util::LengthLimitError>);
        if too_large {
            self::too_large(limit)
        } else {
            ApiError::new(400, "bad_request", "could not read the body")
        }
    })
}

/// A JSON body; an empty body reads as `{}` so optional-only bodies may be omitted.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let declared_json = is_json(req.headers());
        let bytes = read_body(req.into_body(), MAX_MANAGEMENT_BODY).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiJson(parse_json(b"{}")?));
        }
        if !declared_json {
            return Err(unsupported_media_type());
        }
        Ok(ApiJson(parse_json(&bytes)?))
    }
}

/// Whether the request declares a JSON body (`application/json`, or a `+json` type).
#[must_use]
pub fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"))
}

/// A body we would have to guess the format of: say what we take instead.
#[must_use]
pub fn unsupported_media_type() -> ApiError {
    ApiError::new(415, "unsupported_media_type", "send the body as JSON, with Content-Type: application/json")
}

/// The first value of each query parameter; junk is skipped, never an error.
#[must_use]
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// One path parameter; a parameter that is not valid UTF-8 once decoded gets the JSON error
/// shape instead of axum's plain-text 400.
pub struct ApiPath(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|e| ApiError::new(400, "bad_request", format!("path: {e}")))
    }
}

/// `?status=&since=&cursor=&limit=` of the delivery listing and replay routes.
///
/// # Errors
/// A value that does not parse, named by its parameter.
pub fn delivery_query(query: Option<&str>) -> Result<DeliveryQuery, FieldError> {
    let param = |name| query_param(query, name).filter(|v| !v.is_empty());
    let status = param("status")
        .map(|s| {
            DeliveryStatus::parse(&s)
                .ok_or_else(|| FieldError::new("status", "must be pending, succeeded or failed"))
        })
        .transpose()?;
    let since = param("since")
        .map(|s| s.parse().map_err(|_| FieldError::new("since", "must be an RFC 3339 timestamp")))
        .transpose()?;
    let event = param("event")
        .map(|e| {
            EventName::parse(&e).ok_or_else(|| {
                FieldError::new(
                    "event",
                    "must be version_published, version_processed or version_process_failed",
                )
            })
        })
        .transpose()?;
    let limit = param("limit")
        .map(|l| l.parse().map_err(|_| FieldError::new("limit", "must be a number")))
        .transpose()?;
    Ok(DeliveryQuery { status, since, event, cursor: param("cursor"), limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_query_names_the_parameter_at_fault() {
        let q = delivery_query(Some("status=failed&limit=5&since=2026-01-01T00:00:00Z&cursor=abc")).unwrap();
        assert_eq!(q.status, Some(DeliveryStatus::Failed));
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.cursor.as_deref(), Some("abc"));
        assert!(q.since.is_some());
        assert_eq!(delivery_query(Some("status=nope")).unwrap_err().field, "status");
        assert_eq!(delivery_query(Some("since=yesterday")).unwrap_err().field, "since");
        assert_eq!(delivery_query(Some("limit=ten")).unwrap_err().field, "limit");
        assert_eq!(
            delivery_query(Some("event=version_processed")).unwrap().event,
            Some(EventName::VersionProcessed)
        );
        assert_eq!(delivery_query(Some("event=nope")).unwrap_err().field, "event");
        assert_eq!(delivery_query(None).unwrap(), DeliveryQuery::default());
    }
}
