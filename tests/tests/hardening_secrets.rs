//! Secrets never reach the logs. One flow through every component, in process, with a global
//! TRACE subscriber writing both the text and the JSON format into memory: management API, key
//! administration, a signed event, deliveries that fail then succeed, a test send, key checks
//! that pass and fail, bad credentials. Then no secret may appear in what was logged, and the
//! configurations' `Debug` output must not show them either.
//!
//! One `#[test]` in this binary, so the global subscriber sees exactly this flow.
//! Network: the only receiver is on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use patchbay_core::config::{IngestConfig, LicenseCheckConfig, SendConfig, StoreConfig};

use patchbay_core::model::{DeliveryStatus, EventName};
use patchbay_core::secret::Secret;
use patchbay_core::service::worker::{process_batch, settle};
use patchbay_core::signing::{SECRET_PREFIX, generate_secret, signature_header};
use patchbay_e2e::{LocalFunctions, Receiver};
use serde_json::{Value, json};
use tower::ServiceExt;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;

/// An in-memory log sink shared by every writer the subscriber makes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
            .into_owned()
    }
}

/// Install the global subscriber: TRACE, every span event, text and JSON, into `capture`.
fn install(capture: &Capture) {
    let text = capture.clone();
    let json = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(FmtSpan::FULL)
        .with_writer(move || text.clone())
        .finish()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_span_list(true)
                .with_current_span(true)
                .with_span_events(FmtSpan::FULL)
                .with_writer(move || json.clone()),
        );
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
}

async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_else(|| panic!("no {field} in {value}"))
}

#[test]
fn secrets_never_reach_the_logs() {
    let capture = Capture::default();
    install(&capture);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let secrets = rt.block_on(flow());

    let logs = capture.text();
    if std::env::var_os("HARDENING_SHOW_LOGS").is_some() {
        eprintln!("{logs}");
    }
    assert!(logs.len() > 1_000, "the flow should have logged plenty, got:\n{logs}");
    for expected in ["event accepted", "delivery attempt", "key check", "app created", "webhook created"] {
        assert!(logs.contains(expected), "no {expected:?} line in the logs:\n{logs}");
    }
    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        assert!(secret.len() >= 8, "{what} is too short to search for meaningfully");
        if logs.contains(secret.as_str()) {
            leaks.push(what.clone());
        }
    }
    assert!(leaks.is_empty(), "secrets in the logs: {leaks:?}\n{logs}");

    // Configuration `Debug` output (printed by start-up errors and `{:?}` in logs) hides them.
    let ingest_secret = generate_secret();
    let admin_token = Secret::random_alphanumeric(32);
    let send = SendConfig::default();
    let ingest = IngestConfig {
        store: StoreConfig::Sqlite("unused.db".into()),
        ingest_secret: ingest_secret.clone().into(),
        admin_token: admin_token.clone().into(),
        send,
    };
    let license = LicenseCheckConfig {
        store: StoreConfig::Sqlite("unused.db".into()),
        admin_token: admin_token.clone().into(),
        verdict_key: None,
        key_registrations_per_hour: None,
    };
    for shown in
        [format!("{ingest:?}"), format!("{license:?}"), format!("{ingest:#?}"), format!("{license:#?}")]
    {
        assert!(!shown.contains(ingest_secret.expose()), "{shown}");
        assert!(!shown.contains(ingest_secret.expose().trim_start_matches(SECRET_PREFIX)), "{shown}");
        assert!(!shown.contains(admin_token.expose()), "{shown}");
        assert!(shown.contains("***"), "secrets show as ***: {shown}");
    }
}

/// Run everything; return every secret that was in play, by name.
async fn flow() -> Vec<(String, String)> {
    let mut secrets: Vec<(String, String)> = Vec::new();
    let backends = patchbay_testing::backends::sqlite().await;
    let send = SendConfig {
        timeout: Duration::from_secs(2),
        allow_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
        ..SendConfig::default()
    };
    let ingest_secret = generate_secret();
    let admin_token = Secret::random_alphanumeric(40);
    secrets.push(("ingest secret".into(), ingest_secret.expose().to_owned()));
    secrets.push((
        "ingest secret (key part)".into(),
        ingest_secret.expose().trim_start_matches(SECRET_PREFIX).to_owned(),
    ));
    secrets.push(("admin token".into(), admin_token.expose().to_owned()));
    let LocalFunctions { ingest, keys, deliver: deliverer } =
        LocalFunctions::new(&backends, &ingest_secret, &admin_token, &send, "1s,1s").await;
    let admin = Some(admin_token.expose());
    let queue = backends.queue.clone();

    // Management API: an app, a webhook with a literal bearer token in a header, keys.
    let (status, app) = call(
        &ingest,
        "POST",
        "/v1/apps",
        admin,
        Some(json!({"id": "app_secrets", "name": "s", "display_name": "S"})),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let app_secret = str_of(&app, "app_secret").to_owned();
    secrets.push(("app secret".into(), app_secret.clone()));

    let receiver = Receiver::start(&[500]).await;
    let studio_token = format!("sk_live_{}", Secret::random_alphanumeric(24).expose());
    secrets.push(("studio header bearer token".into(), studio_token.clone()));
    let (status, webhook) = call(
        &ingest,
        "POST",
        "/v1/apps/app_secrets/webhooks",
        admin,
        Some(json!({
            "events": ["version_published"],
            "method": "POST",
            "url": receiver.url("/hook"),
            "headers": {"Authorization": format!("Bearer {studio_token}"), "X-App": "{{app.name}}"},
            "payload": {"text": "{{app.display_name}} {{version.label}}"}
        })),
    )
    .await;
    assert_eq!(status, 201, "{webhook}");
    let webhook_id = str_of(&webhook, "id").to_owned();
    let webhook_secret = str_of(&webhook, "secret").to_owned();
    secrets.push(("webhook signing secret".into(), webhook_secret.clone()));
    secrets.push((
        "webhook signing secret (key part)".into(),
        webhook_secret.trim_start_matches(SECRET_PREFIX).to_owned(),
    ));

    let (status, generated) =
        call(&keys, "POST", "/v1/apps/app_secrets/keys", admin, Some(json!({"count": 2}))).await;
    assert_eq!(status, 201, "{generated}");
    let key = generated["keys"][0].as_str().unwrap().to_owned();
    let blocked_key = generated["keys"][1].as_str().unwrap().to_owned();
    let (status, shown) = call(&keys, "GET", &format!("/v1/keys/{key}"), admin, None).await;
    assert_eq!(status, 200, "{shown}");
    let key_secret = str_of(&shown, "key_secret").to_owned();
    let (status, blocked) = call(&keys, "POST", &format!("/v1/keys/{blocked_key}/block"), admin, None).await;
    assert_eq!(status, 200, "{blocked}");
    secrets.push(("license key".into(), key.clone()));
    secrets.push(("blocked license key".into(), blocked_key.clone()));
    secrets.push(("key secret".into(), key_secret.clone()));
    secrets.push(("blocked key's secret".into(), str_of(&blocked, "key_secret").to_owned()));
    let (status, imported) = call(
        &keys,
        "POST",
        "/v1/apps/app_secrets/keys/import",
        admin,
        Some(json!({"keys": ["IMPORTED-LICENSE-KEY-0001"]})),
    )
    .await;
    assert_eq!(status, 200, "{imported}");
    secrets.push(("imported license key".into(), "IMPORTED-LICENSE-KEY-0001".into()));

    // A signed event, and one signed with another secret.
    let mut event =
        serde_json::to_value(patchbay_core::template::sample_event(EventName::VersionPublished)).unwrap();
    event["app"]["id"] = json!("app_secrets");
    let body = event.to_string();
    let now = chrono::Utc::now().timestamp();
    for (secret, expected) in [(&ingest_secret, 202), (&generate_secret(), 401)] {
        let signature = signature_header(&[secret], "msg_secrets_1", now, body.as_bytes()).unwrap();
        let request = Request::builder()
            .method("POST")
            .uri("/v1/events")
            .header("webhook-id", "msg_secrets_1")
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        let response = ingest.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status().as_u16(), expected);
    }

    // Deliver from the queue as the worker does: 500 first, then 200 after the retry delay.
    let delivery_id = patchbay_core::ids::delivery_id("msg_secrets_1", &webhook_id);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let messages = queue.receive(10, Duration::from_secs(30), Duration::from_millis(200)).await.unwrap();
        if !messages.is_empty() {
            let outcomes = process_batch(&deliverer, messages.iter().map(|m| m.body.clone()).collect()).await;
            for (message, outcome) in messages.iter().zip(&outcomes) {
                settle(queue.as_ref(), message, outcome).await;
            }
        }
        let delivery = backends.store.get_delivery(&delivery_id).await.unwrap().unwrap();
        if delivery.status == DeliveryStatus::Succeeded {
            assert_eq!(delivery.attempt_count, 2, "500, then 200");
            break;
        }
        assert!(Instant::now() < deadline, "delivery never succeeded: {delivery:?}");
    }
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {studio_token}").as_str()),
        "the header was sent"
    );
    // An unreadable message and one for an unknown delivery (both logged and dropped).
    for outcome in
        process_batch(&deliverer, vec!["not json".into(), json!({"delivery_id": "dlv_nope"}).to_string()])
            .await
    {
        assert!(outcome.is_ok());
    }

    // A test send, and a rotation (whose new secret must not be logged either).
    let (status, tested) =
        call(&ingest, "POST", &format!("/v1/webhooks/{webhook_id}/test"), admin, None).await;
    assert_eq!(status, 200, "{tested}");
    let (status, rotated) =
        call(&ingest, "POST", &format!("/v1/webhooks/{webhook_id}/rotate-secret"), admin, None).await;
    assert_eq!(status, 200, "{rotated}");
    secrets.push(("rotated webhook secret".into(), str_of(&rotated, "secret").to_owned()));
    let (status, redelivered) =
        call(&ingest, "POST", &format!("/v1/deliveries/{delivery_id}/redeliver"), admin, None).await;
    assert_eq!(status, 202, "{redelivered}");

    // Key checks: valid (registering, and with the key secret), wrong secrets, blocked, unknown.
    let check = |key: &str, app_secret: &str, key_secret: Option<&str>| {
        let mut uri = format!("/v2/keys/{key}?app_secret={app_secret}");
        if let Some(s) = key_secret {
            uri.push_str(&format!("&key_secret={s}"));
        }
        uri
    };
    let wrong_secret = format!("WRONG{}", Secret::random_alphanumeric(35).expose());
    secrets.push(("wrong app secret tried".into(), wrong_secret.clone()));
    for (uri, expected) in [
        (check(&key, &app_secret, None), 200),
        (check(&key, &app_secret, Some(&key_secret)), 200),
        (check(&key, &app_secret, Some("wrong-key-secret-value")), 200),
        (check(&key, &wrong_secret, None), 403),
        (check(&blocked_key, &app_secret, None), 410),
        (check("NOPE-NOPE-NOPE-NOPE-NOPE1", &app_secret, None), 404),
        (format!("/v2/keys/{key}"), 400),
    ] {
        let (status, answer) = call(&keys, "GET", &uri, None, None).await;
        assert_eq!(status, expected, "{uri}: {answer}");
    }

    // Wrong admin tokens on both routers, each on routes it serves (a 404 would prove nothing).
    let wrong_token = format!("{}x", admin_token.expose());
    for (router, method, uri, body) in [
        (&ingest, "GET", "/v1/apps/app_secrets".to_owned(), None),
        (&keys, "POST", "/v1/apps/app_secrets/keys".to_owned(), Some(json!({"count": 1}))),
        (&keys, "GET", format!("/v1/keys/{key}"), None),
    ] {
        let (status, answer) = call(router, method, &uri, Some(&wrong_token), body).await;
        assert_eq!(status, 401, "{method} {uri} with a wrong admin token: {answer}");
    }

    // Finally rotate the app secret (the new one must not be logged either).
    let (status, rotated) = call(&ingest, "POST", "/v1/apps/app_secrets/rotate-secret", admin, None).await;
    assert_eq!(status, 200, "{rotated}");
    secrets.push(("rotated app secret".into(), str_of(&rotated, "app_secret").to_owned()));
    secrets
}
