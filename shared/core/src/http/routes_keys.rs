//! `GET /v2/keys/{key}` (PatchKit-compatible bodies) and key administration.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};

use super::KeysApi;
use super::api_error::ApiError;
use super::auth::require_admin;
use super::errors::patchkit_refusal;
use super::extract::{ApiJson, ApiPath, query_param};
use crate::secret::LiveSecret;
use crate::service::key_admin::{GenerateKeys, ImportKeys};
use crate::service::keys::KeyRefusal;

pub fn check_routes(api: Arc<KeysApi>) -> Router {
    Router::new()
        .route("/v2/keys/{key}", get(check_key).fallback(patchkit_method_not_allowed))
        .with_state(api)
}

pub fn admin_routes(api: Arc<KeysApi>, token: LiveSecret) -> Router {
    Router::new()
        .route("/v1/apps/{app_id}/keys", post(generate))
        .route("/v1/apps/{app_id}/keys/import", post(import))
        .route("/v1/keys/{key}", get(show))
        .route("/v1/keys/{key}/block", post(block))
        .route("/v1/keys/{key}/unblock", post(unblock))
        // JSON 405 on every path above, not axum's empty one.
        .method_not_allowed_fallback(super::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(token, require_admin))
        .with_state(api)
}

fn refused(refusal: KeyRefusal) -> Response {
    let (status, message) = patchkit_refusal(refusal);
    patchkit(status, serde_json::json!({ "message": message }).to_string())
}

fn patchkit(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // A verdict is per call (it may count a registration): never cache it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn patchkit_method_not_allowed() -> Response {
    patchkit(405, serde_json::json!({"message": "Method not allowed"}).to_string())
}

async fn check_key(
    State(api): State<Arc<KeysApi>>,
    key: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Response {
    let Ok(Path(key)) = key else {
        return refused(KeyRefusal::MalformedKey);
    };
    let app_secret = query_param(uri.query(), "app_secret");
    let key_secret = query_param(uri.query(), "key_secret");
    let answer = match api.check.check(&key, app_secret.as_deref(), key_secret.as_deref()).await {
        Ok(found) => patchkit(200, serde_json::to_string(&found).unwrap_or_default()),
        Err(refusal) => refused(refusal),
    };
    api.check.count_answer(answer.status().as_u16());
    answer
}

async fn generate(
    State(api): State<Arc<KeysApi>>,
    ApiPath(app_id): ApiPath,
    ApiJson(req): ApiJson<GenerateKeys>,
) -> Result<Response, ApiError> {
    let keys = api.admin.generate(&app_id, req).await?;
    Ok((StatusCode::CREATED, Json(keys)).into_response())
}

async fn import(
    State(api): State<Arc<KeysApi>>,
    ApiPath(app_id): ApiPath,
    ApiJson(req): ApiJson<ImportKeys>,
) -> Result<Response, ApiError> {
    let result = api.admin.import(&app_id, req).await?;
    Ok(Json(result).into_response())
}

async fn show(State(api): State<Arc<KeysApi>>, ApiPath(key): ApiPath) -> Result<Response, ApiError> {
    Ok(Json(api.admin.get(&key).await?).into_response())
}

async fn block(State(api): State<Arc<KeysApi>>, ApiPath(key): ApiPath) -> Result<Response, ApiError> {
    Ok(Json(api.admin.set_blocked(&key, true).await?).into_response())
}

async fn unblock(State(api): State<Arc<KeysApi>>, ApiPath(key): ApiPath) -> Result<Response, ApiError> {
    Ok(Json(api.admin.set_blocked(&key, false).await?).into_response())
}
