//! PatchKit's key administration routes (`swagger-keys.json`, License Server API v2.1) under
//! `/v2`, authenticated by the `token` header (the admin token), answering PatchKit's shapes:
//! errors are `{"message":…}`, a wrong or missing token is 403. A script written for PatchKit's
//! Keys service works by changing the host.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;

use super::KeysApi;
use super::extract::query_param;
use super::routes_keys::patchkit;
use crate::model::CollectionId;
use crate::secret::LiveSecret;
use crate::service::key_admin::KeyAdminError;

/// The header PatchKit's administration authenticates with.
pub const TOKEN_HEADER: &str = "token";

pub fn routes(api: Arc<KeysApi>, token: LiveSecret) -> Router {
    Router::new()
        .route("/v2/jobs/{guid}", get(job))
        .route("/v2/collections/{id}/keys", get(collection_keys))
        .route("/v2/collections/{id}/block", post(block_collection))
        .route("/v2/collections/{id}/unblock", post(unblock_collection))
        .route("/v2/apps/{app_secret}", delete(delete_app_keys))
        .route_layer(middleware::from_fn_with_state(token, require_token))
        // Outside the layer: any other method on `/v2/keys` stays the unknown route it always
        // was; POST checks the token itself.
        .route("/v2/keys", post(create_keys).fallback(super::not_found))
        .with_state(api)
}

fn message(status: u16, text: &str) -> Response {
    patchkit(status, json!({ "message": text }).to_string())
}

fn token_ok(token: &LiveSecret, headers: &HeaderMap) -> bool {
    headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|t| token.matches(t.trim()))
}

async fn require_token(State(token): State<LiveSecret>, request: Request, next: Next) -> Response {
    if token_ok(&token, request.headers()) { next.run(request).await } else { message(403, "Forbidden") }
}

/// A use-case error as PatchKit's `{"message"}` with its status.
fn refused(err: &KeyAdminError, not_found: &str) -> Response {
    match err {
        KeyAdminError::NotFound(_) => message(404, not_found),
        KeyAdminError::UnknownAppSecret => message(403, "Forbidden"),
        KeyAdminError::Invalid(e) => message(400, &format!("{}: {}", e.field, e.problem)),
        KeyAdminError::Conflict(_) | KeyAdminError::ImportConflicts(_) => message(409, &err.to_string()),
        KeyAdminError::Store(_) => message(503, "Service unavailable"),
    }
}

fn collection_id(raw: &str) -> Option<CollectionId> {
    raw.parse().ok()
}

/// `POST /v2/keys` with form fields `app_secret`, `count`, `collection_id` (URL-encoded; the
/// query string is read too). Keys are generated before the answer: the job is finished.
async fn create_keys(State(api): State<Arc<KeysApi>>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    if !token_ok(&api.admin_token, &headers) {
        return message(403, "Forbidden");
    }
    let form = String::from_utf8_lossy(&body).into_owned();
    let field = |name: &str| query_param(Some(&form), name).or_else(|| query_param(uri.query(), name));
    let Some(app_secret) = field("app_secret").filter(|s| !s.is_empty()) else {
        return message(400, "app_secret is required");
    };
    let Some(count) = field("count").and_then(|c| c.parse::<usize>().ok()) else {
        return message(400, "count must be an integer");
    };
    let Some(collection) = field("collection_id").and_then(|c| collection_id(&c)) else {
        return message(400, "collection_id must be an integer");
    };
    match api.admin.patchkit_generate(&app_secret, count, collection).await {
        Ok(_) => patchkit(201, job_body(&new_guid())),
        Err(KeyAdminError::Invalid(e)) if e.field == "collection_id" => {
            message(404, "Collection does not exist.")
        }
        Err(err) => refused(&err, "Not found"),
    }
}

fn new_guid() -> String {
    let n: u128 = rand::random();
    let hex = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn is_guid(guid: &str) -> bool {
    let parts: Vec<&str> = guid.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
}

fn job_body(guid: &str) -> String {
    json!({ "guid": guid, "pending": false, "finished": true }).to_string()
}

/// Jobs finish before `POST /v2/keys` answers, so every job id it hands out reads finished.
async fn job(Path(guid): Path<String>) -> Response {
    if is_guid(&guid) { patchkit(200, job_body(&guid)) } else { message(404, "Job not found") }
}

async fn collection_keys(State(api): State<Arc<KeysApi>>, Path(id): Path<String>, uri: Uri) -> Response {
    let Some(id) = collection_id(&id) else {
        return message(404, "Collection does not exist.");
    };
    let number = |name: &str, default: usize| match query_param(uri.query(), name).filter(|v| !v.is_empty()) {
        None => Some(default),
        Some(v) => v.parse::<usize>().ok(),
    };
    let (Some(size), Some(offset)) = (number("size", 100), number("offset", 0)) else {
        return message(400, "size and offset must be non-negative integers");
    };
    match api.admin.patchkit_collection_keys(id, size, offset).await {
        Ok((total, keys)) => {
            patchkit(200, json!({ "_metadata": { "total_count": total }, "keys": keys }).to_string())
        }
        Err(err) => refused(&err, "Collection does not exist."),
    }
}

async fn set_collection(api: &KeysApi, id: &str, blocked: bool) -> Response {
    let Some(id) = collection_id(id) else {
        return message(404, "Collection does not exist.");
    };
    match api.admin.set_collection_blocked(id, blocked).await {
        Ok(view) => patchkit(200, json!(view).to_string()),
        Err(err) => refused(&err, "Collection does not exist."),
    }
}

async fn block_collection(State(api): State<Arc<KeysApi>>, Path(id): Path<String>) -> Response {
    set_collection(&api, &id, true).await
}

async fn unblock_collection(State(api): State<Arc<KeysApi>>, Path(id): Path<String>) -> Response {
    set_collection(&api, &id, false).await
}

async fn delete_app_keys(State(api): State<Arc<KeysApi>>, Path(app_secret): Path<String>) -> Response {
    match api.admin.patchkit_delete_app_keys(&app_secret).await {
        Ok(_) => (StatusCode::NO_CONTENT, Body::empty()).into_response(),
        Err(KeyAdminError::UnknownAppSecret) => message(404, "Secret not known"),
        Err(err) => refused(&err, "Secret not known"),
    }
}

/// `POST /v2/keys/{key}/block|unblock`, reached through the key check's catch-all path (every
/// other POST there is 405, as before). Authenticated here, as the route is the check's.
pub async fn key_post(api: &KeysApi, path: Option<&str>, headers: &HeaderMap) -> Option<Response> {
    let path = path?;
    let (key, blocked) = if let Some(key) = path.strip_suffix("/block") {
        (key, true)
    } else {
        (path.strip_suffix("/unblock")?, false)
    };
    if key.is_empty() || key.contains('/') {
        return None;
    }
    if !token_ok(&api.admin_token, headers) {
        return Some(message(403, "Forbidden"));
    }
    Some(match api.admin.patchkit_set_blocked(key, blocked).await {
        Ok(view) => patchkit(200, json!(view).to_string()),
        Err(err) => refused(&err, "Key not known"),
    })
}
