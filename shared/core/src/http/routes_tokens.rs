//! Per-app tokens: create (shown once), list, revoke. Admin token only.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router, middleware};

use super::api_error::ApiError;
use super::auth::{Auth, Caller, authenticate};
use super::extract::{ApiJson, ApiPath};
use crate::service::tokens::{CreateToken, Tokens};

type Answer = Result<Response, ApiError>;

pub fn routes(tokens: Arc<Tokens>, auth: Auth) -> Router {
    Router::new()
        .route("/v1/apps/{app_id}/tokens", post(create).get(list))
        .route("/v1/tokens/{id}", delete(revoke))
        .method_not_allowed_fallback(super::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(auth, authenticate))
        .with_state(tokens)
}

async fn create(
    State(tokens): State<Arc<Tokens>>,
    caller: Caller,
    ApiPath(app_id): ApiPath,
    req: Result<ApiJson<CreateToken>, ApiError>,
) -> Answer {
    caller.require_admin()?;
    let ApiJson(req) = req?;
    Ok((StatusCode::CREATED, Json(tokens.create(&app_id, req).await?)).into_response())
}

async fn list(State(tokens): State<Arc<Tokens>>, caller: Caller, ApiPath(app_id): ApiPath) -> Answer {
    caller.require_admin()?;
    Ok(Json(serde_json::json!({ "tokens": tokens.list(&app_id).await? })).into_response())
}

async fn revoke(State(tokens): State<Arc<Tokens>>, caller: Caller, ApiPath(id): ApiPath) -> Answer {
    caller.require_admin()?;
    Ok(Json(tokens.revoke(&id).await?).into_response())
}
