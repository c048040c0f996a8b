//! `POST /v1/events`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::IngestApi;
use super::extract::read_body;
use crate::error::ApiError;
use crate::service::ingest::{IngestOutcome, MAX_BODY_BYTES};

pub fn routes(api: Arc<IngestApi>) -> Router {
    Router::new().route("/v1/events", post(post_event).fallback(super::method_not_allowed)).with_state(api)
}

async fn post_event(State(api): State<Arc<IngestApi>>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, MAX_BODY_BYTES).await?;
    Ok(match api.ingest.handle(&parts.headers, &body).await? {
        IngestOutcome::Accepted(r) => (StatusCode::ACCEPTED, axum::Json(r)).into_response(),
        IngestOutcome::Duplicate(r) => (StatusCode::OK, axum::Json(r)).into_response(),
    })
}
