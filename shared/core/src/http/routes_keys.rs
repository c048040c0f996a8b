//! `GET /v2/keys/{key}` (PatchKit-compatible bodies) and key administration.

use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};

use super::KeysApi;
use super::api_error::ApiError;
use super::auth::{Auth, Caller, authenticate};
use super::errors::patchkit_refusal;
use super::extract::{ApiJson, ApiPath, query_param};
use crate::model::CollectionId;
use crate::service::key_admin::{CreateCollection, GenerateKeys, ImportKeys, KeyAdminError, KeyView};
use crate::service::keys::{KeyQuery, KeyRefusal, Registration};
use crate::validation::FieldError;
use crate::verdict::{NONCE_PARAM, VERDICT_HEADER, VerdictSigner, is_valid_nonce};

/// The methods the key check answers; any other gets 405.
const ALLOWED_METHODS: &str = "GET, HEAD, OPTIONS";
/// On every key-check answer with a body: the .NET clients decode it by the declared charset.
pub const PATCHKIT_CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub fn check_routes(api: Arc<KeysApi>) -> Router {
    // HEAD explicitly: axum would serve it with the GET handler, which registers a use.
    let check = get(check_key)
        .head(check_key_head)
        .options(check_options)
        .post(key_post)
        .fallback(patchkit_method_not_allowed);
    // Every path under /v2/keys/ is a key check: an empty key, or one of several segments, is
    // not known like any other (a Function URL sends every path to the function).
    Router::new()
        .route("/v2/keys/{*key}", check.clone())
        .route("/v2/keys/", check)
        // What a game embeds to verify signed verdicts: public, no auth.
        .route("/v1/verdict-key", get(verdict_key).fallback(super::method_not_allowed))
        .with_state(api)
}

/// `GET /v1/verdict-key`: `{"alg":"ed25519","public_key":"<base64 32 bytes>"}`.
async fn verdict_key(State(api): State<Arc<KeysApi>>) -> Response {
    match api.verdict.as_ref().and_then(VerdictSigner::public_key) {
        Some(public_key) => {
            Json(serde_json::json!({ "alg": "ed25519", "public_key": public_key })).into_response()
        }
        None => super::not_found().await.into_response(),
    }
}

/// Key administration: generation and import need the admin token; an app token may look up,
/// block and unblock its own app's keys (another app's key answers like an unknown one).
pub fn admin_routes(api: Arc<KeysApi>, auth: Auth) -> Router {
    Router::new()
        .route("/v1/apps/{app_id}/keys", post(generate))
        .route("/v1/apps/{app_id}/keys/import", post(import))
        .route("/v1/keys/{key}", get(show))
        .route("/v1/keys/{key}/block", post(block))
        .route("/v1/keys/{key}/unblock", post(unblock))
        .route("/v1/apps/{app_id}/collections", post(create_collection).get(list_collections))
        .route("/v1/collections/{id}/keys", get(collection_keys))
        .route("/v1/collections/{id}/block", post(block_collection))
        .route("/v1/collections/{id}/unblock", post(unblock_collection))
        // JSON 405 on every path above, not axum's empty one.
        .method_not_allowed_fallback(super::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(auth, authenticate))
        .with_state(api)
}

fn refusal_body(refusal: KeyRefusal) -> (u16, String) {
    let (status, message) = patchkit_refusal(refusal);
    (status, serde_json::json!({ "message": message }).to_string())
}

pub(super) fn patchkit(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PATCHKIT_CONTENT_TYPE));
    // A verdict is per call (it may count a registration): never cache it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn patchkit_method_not_allowed() -> Response {
    let mut response = patchkit(405, serde_json::json!({"message": "Method not allowed"}).to_string());
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    response
}

/// PatchKit's `POST /v2/keys/{key}/block|unblock` (with the `token` header); any other POST
/// under `/v2/keys/` is 405 like every method the check does not answer.
async fn key_post(
    State(api): State<Arc<KeysApi>>,
    key: Result<Path<String>, PathRejection>,
    headers: axum::http::HeaderMap,
) -> Response {
    let key = key.ok().map(|Path(key)| key);
    match super::routes_patchkit::key_post(&api, key.as_deref(), &headers).await {
        Some(response) => response,
        None => patchkit_method_not_allowed().await,
    }
}

async fn check_options() -> Response {
    (StatusCode::NO_CONTENT, [(header::ALLOW, ALLOWED_METHODS)]).into_response()
}

async fn check_key(
    State(api): State<Arc<KeysApi>>,
    key: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Response {
    answer(&api, key, &uri, Registration::UnlessKeySecretMatches).await
}

/// GET's status and headers (`Content-Length` included), no body, and never a registration.
async fn check_key_head(
    State(api): State<Arc<KeysApi>>,
    key: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Response {
    let (mut parts, body) = answer(&api, key, &uri, Registration::Never).await.into_parts();
    if let Some(length) = body.size_hint().exact() {
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    Response::from_parts(parts, Body::empty())
}

async fn answer(
    api: &KeysApi,
    key: Result<Path<String>, PathRejection>,
    uri: &Uri,
    registration: Registration,
) -> Response {
    // Refused when it is not UTF-8 once percent-decoded, or empty (`/v2/keys/`): no such key.
    let key = key.ok().map(|Path(key)| key);
    let app_secret = query_param(uri.query(), "app_secret");
    let key_secret = query_param(uri.query(), "key_secret");
    let query = KeyQuery {
        key: key.as_deref(),
        app_secret: app_secret.as_deref(),
        key_secret: key_secret.as_deref(),
    };
    let (status, body) = match api.check.check(query, registration).await {
        Ok(found) => (200, serde_json::to_string(&found).unwrap_or_default()),
        Err(refusal) => refusal_body(refusal),
    };
    // A nonce that is not one is ignored: no header, never an error.
    let verdict = match (&api.verdict, query_param(uri.query(), NONCE_PARAM)) {
        (Some(signer), Some(nonce)) if is_valid_nonce(&nonce) => {
            signer.header(&nonce, chrono::Utc::now().timestamp(), status, body.as_bytes())
        }
        _ => None,
    };
    let mut answer = patchkit(status, body);
    if let Some(value) = verdict.and_then(|v| HeaderValue::try_from(v).ok()) {
        answer.headers_mut().insert(VERDICT_HEADER, value);
    }
    api.check.count_answer(answer.status().as_u16());
    answer
}

async fn generate(
    State(api): State<Arc<KeysApi>>,
    caller: Caller,
    ApiPath(app_id): ApiPath,
    req: Result<ApiJson<GenerateKeys>, ApiError>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let ApiJson(req) = req?;
    let keys = api.admin.generate(&app_id, req).await?;
    Ok((StatusCode::CREATED, Json(keys)).into_response())
}

async fn import(
    State(api): State<Arc<KeysApi>>,
    caller: Caller,
    ApiPath(app_id): ApiPath,
    req: Result<ApiJson<ImportKeys>, ApiError>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let ApiJson(req) = req?;
    let result = api.admin.import(&app_id, req).await?;
    Ok(Json(result).into_response())
}

/// The key, if this caller may see it; another app's key is "key not found", as a missing one.
async fn own_key(api: &KeysApi, caller: &Caller, key: &str) -> Result<KeyView, ApiError> {
    let found = api.admin.get(key).await?;
    caller.require_owner(&found.app_id, || KeyAdminError::NotFound("key".to_owned()).into())?;
    Ok(found)
}

async fn show(
    State(api): State<Arc<KeysApi>>,
    caller: Caller,
    ApiPath(key): ApiPath,
) -> Result<Response, ApiError> {
    Ok(Json(own_key(&api, &caller, &key).await?).into_response())
}

async fn block(
    State(api): State<Arc<KeysApi>>,
    caller: Caller,
    ApiPath(key): ApiPath,
) -> Result<Response, ApiError> {
    set_blocked(&api, &caller, &key, true).await
}

async fn unblock(
    State(api): State<Arc<KeysApi>>,
    caller: Caller,
    ApiPath(key): ApiPath,
) -> Result<Response, ApiError> {
    set_blocked(&api, &caller, &key, false).await
}

/// Block or unblock a key this caller may see (an app token: only its own app's keys).
async fn set_blocked(api: &KeysApi, caller: &Caller, key: &str, blocked: bool) -> Result<Response, ApiError> {
    if !caller.is_admin() {
        own_key(api, caller, key).await?;
    }
    Ok(Json(api.admin.set_blocked(key, blocked).await?).into_response())
}

/// A collection id from the path; anything but an integer names no collection.
fn collection_id(raw: &str) -> Result<CollectionId, ApiError> {
    raw.parse().map_err(|_| ApiError::new(404, "not_found", format!("collection {raw:?} not found")))
}

/// A non-negative integer query parameter, named when it is not one.
fn count_param(uri: &Uri, name: &'static str) -> Result<Option<usize>, ApiError> {
    query_param(uri.query(), name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse().map_err(|_| ApiError::from(FieldError::new(name, "must be a non-negative integer")))
        })
        .transpose()
}

async fn create_collection(
    State(api): State<Arc<KeysApi>>,
    caller: Caller,
    ApiPath(app_id): ApiPath,
    req: Result<ApiJson<CreateCollection>, ApiError>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let ApiJson(req) = req?;
    let created = api.admin.create_collection(&app_id, req).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn list_collections(
    State(api): State<Arc<KeysApi>>,
    caller: Caller,
    ApiPath(app_id): ApiPath,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    Ok(Json(api.admin.list_collections(&app_id).await?).into_response())
}

async fn collection_keys(
    State(api): State<Arc<KeysApi>>,
    caller: Caller,
    ApiPath(id): ApiPath,
    uri: Uri,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let id = collection_id(&id)?;
    let (size, offset) = (count_param(&uri, "size")?, count_param(&uri, "offset")?);
    Ok(Json(api.admin.collection_keys(id, size, offset).await?).into_response())
}

async fn block_collection(
    State(api): State<Arc<KeysApi>>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    Ok(Json(api.admin.set_collection_blocked(collection_id(&id)?, true).await?).into_response())
}

async fn unblock_collection(
    State(api): State<Arc<KeysApi>>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    Ok(Json(api.admin.set_collection_blocked(collection_id(&id)?, false).await?).into_response())
}
