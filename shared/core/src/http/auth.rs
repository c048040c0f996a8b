//! The management API's bearer token, compared in constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api_error::ApiError;
use crate::secret::LiveSecret;

/// Middleware: 401 unless `Authorization: Bearer <PATCHBAY_ADMIN_TOKEN>` (its current value, so a
/// rotated token takes effect without a restart). Every answer is
/// `Cache-Control: no-store`: many carry secrets (app, key and signing secrets).
pub async fn require_admin(State(token): State<LiveSecret>, request: Request, next: Next) -> Response {
    let mut response = authorized(&token, request, next).await;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn authorized(token: &LiveSecret, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    match presented {
        Some(candidate) if token.matches(candidate.trim()) => next.run(request).await,
        Some(_) => ApiError::new(401, "unauthorized", "admin token is not valid").into_response(),
        None => ApiError::new(401, "unauthorized", "send Authorization: Bearer <PATCHBAY_ADMIN_TOKEN>")
            .into_response(),
    }
}
