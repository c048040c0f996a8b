//! `ApiError` as an HTTP response: the one JSON error shape, with its status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.status == 409 || self.status == 503 {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// JSON 404 for unknown routes, so even a typo gets the one error shape.
pub async fn not_found() -> ApiError {
    ApiError::new(404, "no_route", "no such route")
}

/// JSON 405 for a known path with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(405, "method_not_allowed", "method not allowed on this route")
}
