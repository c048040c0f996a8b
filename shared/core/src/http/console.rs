//! The studio console: a few static files (plain HTML, CSS and JS modules in
//! `shared/core/console/`, compiled into the binary) served at `/console` by the same router as
//! the API it calls, so it needs no other host. The page signs in with a bearer token kept in
//! `sessionStorage`; it never uses cookies, so there is nothing to forge across sites.
//!
//! Every answer carries a strict Content-Security-Policy (own origin only, no inline script or
//! style, Trusted Types so no string ever becomes HTML), `frame-ancestors 'none'` and
//! `nosniff`. Files are revalidated by `ETag` on every load (`no-cache`): a deploy is picked up
//! at once, an unchanged file costs a 304.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::api_error::{ApiError, method_not_allowed};

/// Own origin only; no inline script or style; no plugins, frames, form posts or `<base>`;
/// and Trusted Types with no policy, so assigning a string to `innerHTML` throws.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; font-src 'none'; object-src 'none'; frame-src 'none'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
    require-trusted-types-for 'script'; trusted-types 'none'";

/// One file: its name under `/console/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset { name: $name, content_type: $type, bytes: include_bytes!(concat!("../../console/", $name)) }
    };
}

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("webhooks.js", "text/javascript; charset=utf-8"),
    asset!("editor.js", "text/javascript; charset=utf-8"),
    asset!("deliveries.js", "text/javascript; charset=utf-8"),
    asset!("keys.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// A strong validator per file: the first 16 bytes of its SHA-256, computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS.iter().map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.bytes)[..16]))).collect()
});

/// The total size of the console's files, in bytes (it ships inside the ingest bootstrap).
#[must_use]
pub fn total_size() -> usize {
    ASSETS.iter().map(|a| a.bytes.len()).sum()
}

/// `GET /console` (and `/console/`) is the page; `GET /console/{file}` its files.
pub fn routes() -> Router {
    let page = get(|headers: HeaderMap| async move { serve("index.html", &headers) });
    Router::new()
        .route("/console", page.clone())
        .route("/console/", page)
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move { serve(&file, &headers) }),
        )
        .method_not_allowed_fallback(method_not_allowed)
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return with_security_headers(ApiError::new(404, "no_route", "no such console file").into_response());
    };
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.bytes.into_response() };
    let headers = response.headers_mut();
    if !fresh {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    }
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    with_security_headers(response)
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers
        .insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
    response
}
