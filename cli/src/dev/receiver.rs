//! `/dev/receiver`: a webhook receiver built into the local runtime. It verifies each request's
//! signature with the webhook's own secrets (found through the delivery named by `webhook-id`)
//! and keeps the last requests for `GET /dev/receiver`, so the demo shows the whole loop.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::routing::any;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use patchbay_core::http::ApiError;
use patchbay_core::http::extract::read_body;
use patchbay_core::ports::Store;
use patchbay_core::signing::{DEFAULT_TOLERANCE_SECS, verify_headers};
use serde::Serialize;

const KEPT: usize = 100;

#[derive(Clone, Serialize)]
pub struct ReceivedRequest {
    pub at: DateTime<Utc>,
    pub method: String,
    pub uri: String,
    pub webhook_id: Option<String>,
    pub signature_valid: bool,
    pub problem: Option<String>,
    pub body: String,
}

#[derive(Clone)]
pub struct Received {
    store: Arc<dyn Store>,
    log: Arc<Mutex<VecDeque<ReceivedRequest>>>,
}

impl Received {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Received { store, log: Arc::new(Mutex::new(VecDeque::new())) }
    }
}

/// The receiver's route, only with `--demo`: it is unauthenticated and shows what it received
/// (webhook payloads) to anyone who asks, so it exists only when the demo webhook needs it.
pub fn routes(received: Received, demo: bool) -> Router {
    if !demo {
        return Router::new();
    }
    Router::new().route("/dev/receiver", any(receive)).with_state(received)
}

/// Larger than any delivery the sender makes (it renders at most the event's fields).
const MAX_BODY: usize = 1024 * 1024;

async fn receive(State(r): State<Received>, request: Request) -> Result<Json<serde_json::Value>, ApiError> {
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    // `read_body` answers 413 in the error shape; axum's `Bytes` extractor answers plain text.
    let body = read_body(body, MAX_BODY).await?;
    if method == Method::GET && !headers.contains_key("webhook-id") {
        let log = r.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        return Ok(Json(serde_json::json!({ "received": log.iter().rev().collect::<Vec<_>>() })));
    }
    let webhook_id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (valid, problem) = check(&r, webhook_id.as_deref(), &headers, &body).await;
    let entry = ReceivedRequest {
        at: Utc::now(),
        method: method.to_string(),
        uri: uri.to_string(),
        webhook_id: webhook_id.clone(),
        signature_valid: valid,
        problem: problem.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    if valid {
        tracing::info!(webhook_id = ?webhook_id, %method, %uri, body = %entry.body, "dev receiver: signed request verified");
    } else {
        tracing::warn!(webhook_id = ?webhook_id, problem = ?problem, "dev receiver: signature NOT verified");
    }
    {
        let mut log = r.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if log.len() >= KEPT {
            log.pop_front();
        }
        log.push_back(entry);
    }
    Ok(Json(serde_json::json!({ "ok": true, "signature_valid": valid })))
}

async fn check(
    r: &Received,
    webhook_id: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> (bool, Option<String>) {
    let Some(id) = webhook_id else { return (false, Some("no webhook-id header".into())) };
    let webhook = match r.store.get_delivery(id).await {
        Ok(Some(d)) => match r.store.get_webhook(&d.webhook_id).await {
            Ok(Some(w)) => w,
            _ => return (false, Some("webhook not found".into())),
        },
        _ => return (false, Some("delivery not found".into())),
    };
    let now = Utc::now();
    for secret in webhook.secrets.active(now) {
        if verify_headers(secret, headers, body, now.timestamp(), DEFAULT_TOLERANCE_SECS).is_ok() {
            return (true, None);
        }
    }
    (false, Some("no active secret of the webhook verifies the signature".into()))
}
