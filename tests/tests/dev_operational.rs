//! Operational events end to end (`patchbay dev` as a process): a studio's other webhook hears,
//! signed, when one endpoint is auto-disabled, gives up on a delivery, or recovers.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use patchbay_core::secret::Secret;
use patchbay_core::signing::verify_headers;
use patchbay_e2e::dev::event;
use patchbay_e2e::receiver::Request;
use patchbay_e2e::{DevServer, Receiver};
use reqwest::Method;
use serde_json::{Value, json};

async fn webhook(dev: &DevServer, app_id: &str, events: &[&str], url: &str, payload: Value) -> Value {
    let (status, webhook) = dev
        .admin(
            Method::POST,
            &format!("/v1/apps/{app_id}/webhooks"),
            Some(
                json!({"events": events, "method": "POST", "url": url, "format": "json", "payload": payload}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{webhook}");
    webhook
}

/// What the listening webhook asks for: every operational variable.
fn listener_payload() -> Value {
    json!({
        "type": "{{event.name}}", "app": "{{app.display_name}}", "at": "{{event.occurred_at}}",
        "webhook": {"id": "{{webhook.id}}", "url": "{{webhook.url}}",
                    "failing_since": "{{webhook.failing_since}}", "reason": "{{webhook.disabled_reason}}"},
        "delivery": {"id": "{{delivery.id}}", "event_id": "{{delivery.event_id}}", "event": "{{delivery.event_name}}",
                     "attempts": "{{delivery.attempts}}", "last_error": "{{delivery.last_error}}"}
    })
}

/// Wait until `receiver` has seen a request whose payload `type` is `name`; verify its
/// Standard Webhooks signature with `secret` and return the payload.
async fn wait_for(dev: &DevServer, receiver: &Receiver, name: &str, secret: &str) -> (Request, Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = receiver
            .seen()
            .into_iter()
            .find(|r| serde_json::from_slice::<Value>(&r.body).is_ok_and(|body| body["type"] == name));
        if let Some(request) = found {
            let now = chrono::Utc::now().timestamp();
            verify_headers(&Secret::new(secret), &request.headers, &request.body, now, 300)
                .expect("the operational event is signed with the listener's secret");
            let body = serde_json::from_slice(&request.body).unwrap();
            return (request, body);
        }
        assert!(Instant::now() < deadline, "no {name} reached the listener\nlogs:\n{}", dev.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_auto_disabled_is_announced_signed_to_the_apps_other_webhook() {
    // The streak runs out on the second failed attempt, one second after the first.
    let dev = DevServer::start(&[
        ("PATCHBAY_RETRY_SCHEDULE", "1s,1s,1s"),
        ("PATCHBAY_DELIVERY_TIMEOUT", "2s"),
        ("PATCHBAY_AUTO_DISABLE_AFTER", "1s"),
    ]);
    dev.create_app("app_ops").await;
    let broken = Receiver::start(&[500; 20]).await;
    let listener = Receiver::start(&[]).await;
    // The failing webhook subscribes to webhook.disabled too: it must never hear about itself.
    let failing = webhook(
        &dev,
        "app_ops",
        &["version_published", "webhook.disabled"],
        &broken.url("/hook?token=abc"),
        json!({"type": "{{event.name}}"}),
    )
    .await;
    let watching = webhook(
        &dev,
        "app_ops",
        &["webhook.disabled", "delivery.failed", "webhook.recovered"],
        &listener.url("/ops"),
        listener_payload(),
    )
    .await;
    let failing_id = failing["id"].as_str().unwrap();

    let (status, body) = dev.post_event("msg_ops_1", &event("version_published", "app_ops", 1)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 1, "only the failing webhook gets the release");

    let (request, payload) =
        wait_for(&dev, &listener, "webhook.disabled", watching["secret"].as_str().unwrap()).await;
    assert_eq!(payload["app"], "Space Race");
    assert_eq!(payload["webhook"]["id"], failing_id);
    assert_eq!(payload["webhook"]["url"], broken.url("/hook"), "the query string is left out");
    assert!(payload["webhook"]["reason"].as_str().unwrap().starts_with("auto-disabled:"), "{payload}");
    let failing_since = payload["webhook"]["failing_since"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(failing_since).unwrap();
    chrono::DateTime::parse_from_rfc3339(payload["at"].as_str().unwrap()).unwrap();
    assert_eq!(payload["delivery"]["id"], "", "webhook.disabled carries no delivery");
    assert!(request.header("webhook-id").unwrap().starts_with("dlv_"));

    let (_, shown) = dev.admin(Method::GET, &format!("/v1/webhooks/{failing_id}"), None).await;
    assert_eq!(shown["enabled"], false, "{shown}");
    // The announcement is an event like any other: a delivery with its attempts.
    let (_, listed) = dev
        .admin(Method::GET, &format!("/v1/webhooks/{}/deliveries", watching["id"].as_str().unwrap()), None)
        .await;
    let deliveries = listed["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{listed}");
    assert_eq!(deliveries[0]["event"], "webhook.disabled");

    // Give any stray fan-out time to arrive: the disabled webhook never hears about itself,
    // and its last retry finds it disabled, so the listener gets no delivery.failed either.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        broken.seen().iter().all(|r| !String::from_utf8_lossy(&r.body).contains("webhook.disabled")),
        "the failing webhook was told about itself"
    );
    assert_eq!(listener.seen().len(), 1, "exactly one announcement");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_up_delivery_and_the_recovery_after_it_are_announced() {
    let dev = DevServer::start(&[("PATCHBAY_RETRY_SCHEDULE", "1s"), ("PATCHBAY_DELIVERY_TIMEOUT", "2s")]);
    dev.create_app("app_heal").await;
    // Two failures use up the one-retry schedule; the next event succeeds.
    let flaky = Receiver::start(&[503, 500]).await;
    let listener = Receiver::start(&[]).await;
    let failing = webhook(&dev, "app_heal", &["version_published"], &flaky.url("/hook"), json!({})).await;
    let watching = webhook(
        &dev,
        "app_heal",
        &["delivery.failed", "webhook.recovered"],
        &listener.url("/ops"),
        listener_payload(),
    )
    .await;
    let secret = watching["secret"].as_str().unwrap();

    let (_, body) = dev.post_event("msg_heal_1", &event("version_published", "app_heal", 1)).await;
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    dev.wait_for_delivery(&delivery_id, "failed", Duration::from_secs(20)).await;
    let (_, failed) = wait_for(&dev, &listener, "delivery.failed", secret).await;
    assert_eq!(failed["webhook"]["id"], failing["id"]);
    assert_eq!(failed["delivery"]["id"], delivery_id.as_str());
    assert_eq!(failed["delivery"]["event_id"], "msg_heal_1");
    assert_eq!(failed["delivery"]["event"], "version_published");
    assert_eq!(failed["delivery"]["attempts"], "2");
    assert_eq!(failed["delivery"]["last_error"], "receiver answered 500; gave up after 2 attempts");

    let (_, body) = dev.post_event("msg_heal_2", &event("version_published", "app_heal", 2)).await;
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    dev.wait_for_delivery(&delivery_id, "succeeded", Duration::from_secs(20)).await;
    let (_, recovered) = wait_for(&dev, &listener, "webhook.recovered", secret).await;
    assert_eq!(recovered["webhook"]["id"], failing["id"]);
    assert!(!recovered["webhook"]["failing_since"].as_str().unwrap().is_empty());
    assert_eq!(recovered["delivery"]["id"], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_names_are_for_webhooks_not_for_the_pipeline() {
    let dev = DevServer::start(&[]);
    dev.create_app("app_names").await;
    let created = webhook(&dev, "app_names", &["webhook.recovered"], "https://example.com/", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let (status, patched) = dev
        .admin(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"events": ["delivery.failed", "webhook.disabled"]})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["events"], json!(["webhook.disabled", "delivery.failed"]));
    // A test send renders the event's sample.
    let (status, tested) = dev
        .admin(Method::POST, &format!("/v1/webhooks/{id}/test"), Some(json!({"event": "delivery.failed"})))
        .await;
    assert_eq!(status, 200, "{tested}");

    let (status, refused) = dev.post_event("msg_forged", &event("webhook.disabled", "app_names", 1)).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().starts_with("event: unknown event"), "{refused}");
}
