//! The management API: apps, webhooks, deliveries. Bearer `PATCHBAY_ADMIN_TOKEN`, or an app
//! token for its own app's records (another app's answer like missing ones); creating apps and
//! rotating an app secret need the admin token.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};

use super::IngestApi;
use super::api_error::ApiError;
use super::auth::{Auth, Caller, authenticate};
use super::extract::{ApiJson, ApiPath, delivery_query};
use crate::service::manage::owners::{delivery_not_found, webhook_not_found};
use crate::service::manage::{CreateApp, CreateWebhook, PatchWebhook, PreviewWebhook, TestRequest};

type Api = State<Arc<IngestApi>>;
type Answer = Result<Response, ApiError>;

pub fn routes(api: Arc<IngestApi>, auth: Auth) -> Router {
    Router::new()
        .route("/v1/apps", post(create_app))
        .route("/v1/apps/{app_id}", get(get_app))
        .route("/v1/apps/{app_id}/rotate-secret", post(rotate_app_secret))
        .route("/v1/apps/{app_id}/webhooks", post(create_webhook).get(list_webhooks))
        .route("/v1/apps/{app_id}/webhooks/preview", post(preview_webhook))
        .route("/v1/webhooks/{id}", get(get_webhook).patch(patch_webhook).delete(delete_webhook))
        .route("/v1/webhooks/{id}/enable", post(enable))
        .route("/v1/webhooks/{id}/disable", post(disable))
        .route("/v1/webhooks/{id}/rotate-secret", post(rotate_webhook_secret))
        .route("/v1/webhooks/{id}/test", post(test_webhook))
        .route("/v1/webhooks/{id}/deliveries", get(list_deliveries))
        .route("/v1/webhooks/{id}/replay", post(replay))
        .route("/v1/deliveries/{id}", get(get_delivery))
        .route("/v1/deliveries/{id}/redeliver", post(redeliver))
        // JSON 405 on every path above, not axum's empty one.
        .method_not_allowed_fallback(super::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(auth, authenticate))
        .with_state(api)
}

fn created(value: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

fn ok(value: impl serde::Serialize) -> Response {
    Json(value).into_response()
}

/// An app token may act on this webhook only if it is its app's (else: as if it did not exist).
async fn own_webhook(api: &IngestApi, caller: &Caller, id: &str) -> Result<(), ApiError> {
    if caller.is_admin() {
        return Ok(());
    }
    let owner = api.manage.webhook_owner(id).await?;
    caller.require_owner(&owner, || webhook_not_found(id).into())
}

/// As [`own_webhook`], for a delivery.
async fn own_delivery(api: &IngestApi, caller: &Caller, id: &str) -> Result<(), ApiError> {
    if caller.is_admin() {
        return Ok(());
    }
    let owner = api.manage.delivery_owner(id).await?;
    caller.require_owner(&owner, || delivery_not_found(id).into())
}

async fn create_app(State(api): Api, caller: Caller, req: Result<ApiJson<CreateApp>, ApiError>) -> Answer {
    caller.require_admin()?;
    let ApiJson(req) = req?;
    Ok(created(api.manage.create_app(req).await?))
}

async fn get_app(State(api): Api, caller: Caller, ApiPath(app_id): ApiPath) -> Answer {
    caller.require_app(&app_id)?;
    Ok(ok(api.manage.get_app(&app_id).await?))
}

async fn rotate_app_secret(State(api): Api, caller: Caller, ApiPath(app_id): ApiPath) -> Answer {
    caller.require_admin()?;
    Ok(ok(api.manage.rotate_app_secret(&app_id).await?))
}

async fn create_webhook(
    State(api): Api,
    caller: Caller,
    ApiPath(app_id): ApiPath,
    body: Result<ApiJson<serde_json::Value>, ApiError>,
) -> Answer {
    caller.require_app(&app_id)?;
    let ApiJson(body) = body?;
    let req = CreateWebhook::from_json(body).map_err(ApiError::from)?;
    Ok(created(api.manage.create_webhook(&app_id, req).await?))
}

async fn preview_webhook(
    State(api): Api,
    caller: Caller,
    ApiPath(app_id): ApiPath,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Answer {
    caller.require_app(&app_id)?;
    let req = PreviewWebhook::from_json(body).map_err(ApiError::from)?;
    Ok(ok(api.manage.preview_webhook(&app_id, req).await?))
}

async fn list_webhooks(State(api): Api, caller: Caller, ApiPath(app_id): ApiPath) -> Answer {
    caller.require_app(&app_id)?;
    Ok(ok(serde_json::json!({ "webhooks": api.manage.list_webhooks(&app_id).await? })))
}

async fn get_webhook(State(api): Api, caller: Caller, ApiPath(id): ApiPath) -> Answer {
    own_webhook(&api, &caller, &id).await?;
    Ok(ok(api.manage.get_webhook(&id).await?))
}

async fn patch_webhook(
    State(api): Api,
    caller: Caller,
    ApiPath(id): ApiPath,
    body: Result<ApiJson<serde_json::Value>, ApiError>,
) -> Answer {
    own_webhook(&api, &caller, &id).await?;
    let ApiJson(body) = body?;
    let patch = PatchWebhook::from_json(body).map_err(ApiError::from)?;
    Ok(ok(api.manage.patch_webhook(&id, patch).await?))
}

async fn delete_webhook(State(api): Api, caller: Caller, ApiPath(id): ApiPath) -> Answer {
    own_webhook(&api, &caller, &id).await?;
    api.manage.delete_webhook(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn enable(State(api): Api, caller: Caller, ApiPath(id): ApiPath) -> Answer {
    own_webhook(&api, &caller, &id).await?;
    Ok(ok(api.manage.set_webhook_enabled(&id, true).await?))
}

async fn disable(State(api): Api, caller: Caller, ApiPath(id): ApiPath) -> Answer {
    own_webhook(&api, &caller, &id).await?;
    Ok(ok(api.manage.set_webhook_enabled(&id, false).await?))
}

async fn rotate_webhook_secret(State(api): Api, caller: Caller, ApiPath(id): ApiPath) -> Answer {
    own_webhook(&api, &caller, &id).await?;
    Ok(ok(api.manage.rotate_webhook_secret(&id).await?))
}

async fn test_webhook(
    State(api): Api,
    caller: Caller,
    ApiPath(id): ApiPath,
    req: Result<ApiJson<TestRequest>, ApiError>,
) -> Answer {
    own_webhook(&api, &caller, &id).await?;
    let ApiJson(req) = req?;
    Ok(ok(api.manage.test_webhook(&id, req).await?))
}

async fn list_deliveries(State(api): Api, caller: Caller, ApiPath(id): ApiPath, uri: Uri) -> Answer {
    own_webhook(&api, &caller, &id).await?;
    let query = delivery_query(uri.query()).map_err(ApiError::from)?;
    Ok(ok(api.manage.list_deliveries(&id, &query).await?))
}

async fn get_delivery(State(api): Api, caller: Caller, ApiPath(id): ApiPath) -> Answer {
    own_delivery(&api, &caller, &id).await?;
    Ok(ok(api.manage.get_delivery(&id).await?))
}

async fn redeliver(State(api): Api, caller: Caller, ApiPath(id): ApiPath) -> Answer {
    own_delivery(&api, &caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(api.manage.redeliver(&id).await?)).into_response())
}

async fn replay(State(api): Api, caller: Caller, ApiPath(id): ApiPath, uri: Uri) -> Answer {
    own_webhook(&api, &caller, &id).await?;
    let query = delivery_query(uri.query()).map_err(ApiError::from)?;
    let replayed = api.manage.replay(&id, &query).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "replayed": replayed }))).into_response())
}
