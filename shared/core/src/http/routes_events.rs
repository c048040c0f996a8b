//! `POST /v1/events`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::IngestApi;
use super::api_error::ApiError;
use super::extract::{is_json, read_body};
use crate::service::ingest::{IngestError, IngestOutcome, IngestRequest, MAX_BODY_BYTES};
use crate::signing::SignatureHeaders;

pub fn routes(api: Arc<IngestApi>) -> Router {
    Router::new().route("/v1/events", post(post_event).fallback(super::method_not_allowed)).with_state(api)
}

async fn post_event(State(api): State<Arc<IngestApi>>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, MAX_BODY_BYTES).await?;
    let signature = SignatureHeaders::from_headers(&parts.headers).map_err(IngestError::Signature)?;
    let request = IngestRequest { signature, body: body.to_vec(), declared_json: is_json(&parts.headers) };
    Ok(match api.ingest.handle(&request).await? {
        IngestOutcome::Accepted(r) => (StatusCode::ACCEPTED, axum::Json(r)).into_response(),
        IngestOutcome::Duplicate(r) => (StatusCode::OK, axum::Json(r)).into_response(),
    })
}
