//! Request-body and query extraction that fails with the project's error shape, naming the
//! field at fault, instead of axum's plain-text rejections.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Management bodies are small; anything larger is a mistake or an attack.
pub const MAX_MANAGEMENT_BODY: usize = 1024 * 1024;

/// Read a body, refusing more than `limit` bytes with 413.
///
/// # Errors
/// 413 over the limit, 400 when the body cannot be read.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    to_bytes(body, limit).await.map_err(|err| {
        let too_large =
            std::error::Error::source(&err).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large { ApiError::too_large(limit) } else { ApiError::bad_request("could not read the body") }
    })
}

/// Parse JSON into `T`, naming the field path on a mismatch.
///
/// # Errors
/// 400 not JSON, 422 wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_json(format!("body is not JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { "(body)".to_owned() } else { path };
        ApiError::invalid_field(&path, err.into_inner())
    })
}

/// A JSON body; an empty body reads as `{}` so optional-only bodies may be omitted.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req.into_body(), MAX_MANAGEMENT_BODY).await?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        parse_json(bytes).map(ApiJson)
    }
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
            .map_err(|e| ApiError::bad_request(format!("path: {e}")))
    }
}
