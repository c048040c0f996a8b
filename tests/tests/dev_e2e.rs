//! `patchbay dev` as a real process, driven only through HTTP and the CLI.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use patchbay_core::secret::Secret;
use patchbay_core::signing::verify_headers;
use patchbay_e2e::dev::event;
use patchbay_e2e::{DevServer, Receiver};
use reqwest::Method;
use serde_json::{Value, json};

const FAST: &[(&str, &str)] = &[("PATCHBAY_RETRY_SCHEDULE", "1s,1s"), ("PATCHBAY_DELIVERY_TIMEOUT", "2s")];

async fn app_and_webhook(dev: &DevServer, app_id: &str, url: &str) -> Value {
    let (status, app) = dev
        .admin(
            Method::POST,
            "/v1/apps",
            Some(json!({"id": app_id, "name": "space-race", "display_name": "Space Race"})),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    let (status, webhook) = dev
        .admin(
            Method::POST,
            &format!("/v1/apps/{app_id}/webhooks"),
            Some(json!({
                "events": ["version_published"],
                "method": "POST",
                "url": url,
                "headers": {"X-Token": "t-{{app.name}}"},
                "format": "json",
                "payload": {"text": "{{app.display_name}} {{version.label}}", "changes": "{{version.changes}}"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{webhook}");
    assert!(webhook["secret"].as_str().unwrap().starts_with("whsec_"));
    webhook
}

fn verify(request: &patchbay_e2e::receiver::Request, secret: &str) {
    let now = chrono::Utc::now().timestamp();
    verify_headers(&Secret::new(secret), &request.headers, &request.body, now, 300)
        .expect("signature verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_event_reaches_the_receiver_and_is_recorded() {
    let dev = DevServer::start(FAST);
    let receiver = Receiver::start(&[]).await;
    let webhook = app_and_webhook(&dev, "app_e2e", &receiver.url("/hook")).await;

    let (status, body) = dev.post_event("msg_e2e_1", &event("version_published", "app_e2e", 42)).await;
    assert_eq!(status, 202, "{body}");
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["deliveries"][0]["webhook_id"], webhook["id"]);

    let delivery = dev.wait_for_delivery(&delivery_id, "succeeded", Duration::from_secs(20)).await;
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status_code"], 200);
    assert_eq!(attempts[0]["number"], 1);

    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    verify(&seen[0], webhook["secret"].as_str().unwrap());
    assert_eq!(seen[0].header("webhook-id"), Some(delivery_id.as_str()));
    assert_eq!(seen[0].header("x-token"), Some("t-space-race"));
    assert!(seen[0].header("user-agent").unwrap().starts_with("Patchbay-Webhooks/"));
    let payload: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(payload["changes"], "Fixed \"jump\" bug\nNew map 🚀");
    assert_eq!(payload["text"], "Space Race 1.0.3");

    // The same event again: same answer, nothing new sent.
    let (status, again) = dev.post_event("msg_e2e_1", &event("version_published", "app_e2e", 42)).await;
    assert_eq!(status, 200);
    assert_eq!(again, body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_receiver_is_retried_then_redelivered_and_replayed() {
    let dev = DevServer::start(FAST);
    // Two failures, then success: three attempts on the 1s,1s schedule.
    let receiver = Receiver::start(&[500, 503]).await;
    let webhook = app_and_webhook(&dev, "app_retry", &receiver.url("/hook")).await;
    let webhook_id = webhook["id"].as_str().unwrap();

    let (_, body) = dev.post_event("msg_retry", &event("version_published", "app_retry", 7)).await;
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let delivery = dev.wait_for_delivery(&delivery_id, "succeeded", Duration::from_secs(30)).await;
    let codes: Vec<&Value> =
        delivery["attempts"].as_array().unwrap().iter().map(|a| &a["status_code"]).collect();
    assert_eq!(codes, [&json!(500), &json!(503), &json!(200)]);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|r| r.header("webhook-id") == Some(delivery_id.as_str())), "stable webhook-id");

    // Redeliver: a new series, same webhook-id.
    let (status, redelivered) =
        dev.admin(Method::POST, &format!("/v1/deliveries/{delivery_id}/redeliver"), None).await;
    assert_eq!(status, 202, "{redelivered}");
    let delivery = dev.wait_for_attempts(&delivery_id, 4).await;
    assert_eq!(delivery["status"], "succeeded");
    assert_eq!(receiver.seen().len(), 4);
    assert_eq!(receiver.seen()[3].header("webhook-id"), Some(delivery_id.as_str()));

    // Replay of failed deliveries: none failed yet.
    let (status, replay) =
        dev.admin(Method::POST, &format!("/v1/webhooks/{webhook_id}/replay?status=failed"), None).await;
    assert_eq!(status, 202);
    assert_eq!(replay["replayed"], 0);
    // Replay of succeeded ones since the start of the test: exactly ours.
    let since = "2000-01-01T00:00:00Z";
    let (status, replay) = dev
        .admin(
            Method::POST,
            &format!("/v1/webhooks/{webhook_id}/replay?status=succeeded&since={since}"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["replayed"], 1);
    dev.wait_for_attempts(&delivery_id, 5).await;

    // Listing, newest first, filtered.
    let (status, page) =
        dev.admin(Method::GET, &format!("/v1/webhooks/{webhook_id}/deliveries?status=succeeded"), None).await;
    assert_eq!(status, 200);
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_delivery_fails_and_test_send_is_recorded() {
    let dev = DevServer::start(&[("PATCHBAY_RETRY_SCHEDULE", "1s"), ("PATCHBAY_DELIVERY_TIMEOUT", "2s")]);
    let receiver = Receiver::start(&[500, 500]).await;
    let webhook = app_and_webhook(&dev, "app_fail", &receiver.url("/hook")).await;
    let webhook_id = webhook["id"].as_str().unwrap();
    let (_, body) = dev.post_event("msg_fail", &event("version_published", "app_fail", 1)).await;
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let failed = dev.wait_for_delivery(&delivery_id, "failed", Duration::from_secs(20)).await;
    assert_eq!(failed["attempts"].as_array().unwrap().len(), 2);
    assert!(failed["reason"].as_str().unwrap().contains("gave up"), "{failed}");

    // Replay the failed one: the receiver answers 200 now.
    let (status, replay) = dev.admin(Method::POST, &format!("/v1/webhooks/{webhook_id}/replay"), None).await;
    assert_eq!((status, &replay["replayed"]), (202, &json!(1)));
    let done = dev.wait_for_delivery(&delivery_id, "succeeded", Duration::from_secs(20)).await;
    assert_eq!(done["attempts"].as_array().unwrap().len(), 3);

    // Test send: sample values, recorded, marked as a test.
    let (status, test) = dev.admin(Method::POST, &format!("/v1/webhooks/{webhook_id}/test"), None).await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["status_code"], 200);
    let sent: Value = serde_json::from_str(test["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["text"], "Test App Test Version");
    let (status, recorded) = dev
        .admin(Method::GET, &format!("/v1/deliveries/{}", test["delivery_id"].as_str().unwrap()), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(recorded["test"], true);
    assert_eq!(recorded["status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_refuses_bad_requests_with_one_error_shape() {
    let dev = DevServer::start(FAST);
    let receiver = Receiver::start(&[]).await;
    let webhook = app_and_webhook(&dev, "app_4xx", &receiver.url("/hook")).await;
    let webhook_id = webhook["id"].as_str().unwrap();
    let client = dev.http();

    let cases: Vec<(Method, String, Option<Value>, u16, &str)> = vec![
        (
            Method::POST,
            "/v1/apps".into(),
            Some(json!({"id": "app_4xx", "name": "n", "display_name": "d"})),
            409,
            "conflict",
        ),
        (
            Method::POST,
            "/v1/apps".into(),
            Some(json!({"id": "bad id!", "name": "n", "display_name": "d"})),
            422,
            "invalid_field",
        ),
        (Method::POST, "/v1/apps".into(), Some(json!({"name": "n"})), 422, "invalid_field"),
        (Method::GET, "/v1/webhooks/wh_nope".into(), None, 404, "not_found"),
        (Method::GET, "/v1/deliveries/dlv_nope".into(), None, 404, "not_found"),
        (
            Method::POST,
            "/v1/apps/app_nope/webhooks".into(),
            Some(json!({"events": ["version_published"], "method": "POST", "url": "https://example.com"})),
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/v1/apps/app_4xx/webhooks".into(),
            Some(
                json!({"events": ["version_published"], "method": "POST", "url": "https://example.com/{{app.nmae}}"}),
            ),
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/apps/app_4xx/webhooks".into(),
            Some(json!({"events": ["version_published"], "method": "POST", "url": "ftp://example.com"})),
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/apps/app_4xx/webhooks".into(),
            Some(
                json!({"events": ["version_published"], "method": "POST", "url": "https://example.com", "headers": {"Bad Header": "x"}}),
            ),
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/apps/app_4xx/webhooks".into(),
            Some(json!({"events": ["version_deleted"], "method": "POST", "url": "https://example.com"})),
            422,
            "invalid_field",
        ),
        (
            Method::PATCH,
            format!("/v1/webhooks/{webhook_id}"),
            Some(json!({"payload": {"x": "{{version.nope}}"}})),
            422,
            "invalid_field",
        ),
        (
            Method::GET,
            format!("/v1/webhooks/{webhook_id}/deliveries?status=lost"),
            None,
            422,
            "invalid_field",
        ),
        (Method::GET, format!("/v1/webhooks/{webhook_id}/deliveries?cursor=zz"), None, 400, "bad_request"),
        (
            Method::POST,
            format!("/v1/webhooks/{webhook_id}/replay?since=yesterday"),
            None,
            422,
            "invalid_field",
        ),
        (Method::GET, "/v1/nothing-here".into(), None, 404, "no_route"),
        (Method::GET, "/v1/webhooks/%FF%FE".into(), None, 400, "bad_request"),
        (Method::POST, "/v1/keys/%C3%28/block".into(), None, 400, "bad_request"),
    ];
    for (method, path, body, status, code) in cases {
        let (got, answer) = dev.admin(method.clone(), &path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // Not JSON at all.
    let response = client
        .post(format!("{}/v1/apps", dev.base))
        .bearer_auth(&dev.admin_token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    // No token, wrong token.
    for token in [None, Some("wrong-token-wrong-token")] {
        let mut request = client.get(format!("{}/v1/apps/app_4xx/webhooks", dev.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // The template error names the field and the variable.
    let (_, answer) = dev
        .admin(Method::POST, "/v1/apps/app_4xx/webhooks", Some(json!({"events": ["version_published"], "method": "POST", "url": "https://example.com", "payload": {"a": {"b": "{{app.titel}}"}}})))
        .await;
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("payload.a.b") && message.contains("app.titel"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_nothing() {
    let mut dev =
        DevServer::start(&[("PATCHBAY_DELIVERY_TIMEOUT", "1s"), ("PATCHBAY_RETRY_SCHEDULE", "1s,1s,1s")]);
    let receiver = Receiver::start(&[]).await;
    app_and_webhook(&dev, "app_kill", &receiver.url("/hook")).await;
    for extra in 0..4 {
        let (status, _) = dev
            .admin(
                Method::POST,
                "/v1/apps/app_kill/webhooks",
                Some(json!({"events": ["version_published"], "method": "POST", "url": receiver.url(&format!("/hook{extra}")), "payload": {"v": "{{version.id}}"}})),
            )
            .await;
        assert_eq!(status, 201);
    }
    // 1 000 deliveries (200 events × 5 webhooks), the process SIGKILLed four times while they flow.
    let mut deliveries = Vec::new();
    for i in 0..200 {
        let (status, body) =
            dev.post_event(&format!("msg_kill_{i}"), &event("version_published", "app_kill", i)).await;
        assert_eq!(status, 202, "{body}");
        deliveries.extend(
            body["deliveries"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()),
        );
        if i % 50 == 49 {
            dev.kill();
            dev.restart();
        }
    }
    assert_eq!(deliveries.len(), 1000);
    for id in &deliveries {
        dev.wait_for_delivery(id, "succeeded", Duration::from_secs(60)).await;
    }
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for request in receiver.seen() {
        *per_id.entry(request.header("webhook-id").unwrap().to_owned()).or_default() += 1;
    }
    for id in &deliveries {
        assert!(per_id.get(id).is_some_and(|n| *n >= 1), "{id} never reached the receiver");
    }
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    eprintln!(
        "sigkill: {} deliveries, {} duplicate receipts (same webhook-id)",
        deliveries.len(),
        duplicates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_outage_then_recovery_delivers_everything_on_schedule() {
    use patchbay_e2e::receiver::HANG;
    // 1 s timeout, five retries a second apart: an outage of 5xx and hangs, then recovery.
    let dev = DevServer::start(&[
        ("PATCHBAY_DELIVERY_TIMEOUT", "1s"),
        ("PATCHBAY_RETRY_SCHEDULE", "1s,1s,1s,1s,1s"),
    ]);
    let outage: Vec<u16> = (0..24).map(|i| if i % 3 == 0 { HANG } else { 503 }).collect();
    let receiver = Receiver::start(&outage).await;
    app_and_webhook(&dev, "app_outage", &receiver.url("/hook")).await;
    let mut deliveries = Vec::new();
    for i in 0..8 {
        let (status, body) =
            dev.post_event(&format!("msg_outage_{i}"), &event("version_published", "app_outage", i)).await;
        assert_eq!(status, 202, "{body}");
        deliveries.push(body["deliveries"][0]["id"].as_str().unwrap().to_owned());
    }
    for id in &deliveries {
        let done = dev.wait_for_delivery(id, "succeeded", Duration::from_secs(60)).await;
        let attempts = done["attempts"].as_array().unwrap();
        assert!(attempts.len() <= 6, "more attempts than the schedule allows: {done}");
        for failed in &attempts[..attempts.len() - 1] {
            assert!(failed["status_code"] == 503 || failed["error"] == "timeout", "{failed}");
        }
        // Attempts follow the schedule: about a second apart, never before the delay is up.
        let times: Vec<chrono::DateTime<chrono::Utc>> =
            attempts.iter().map(|a| a["at"].as_str().unwrap().parse().unwrap()).collect();
        for pair in times.windows(2) {
            assert!((pair[1] - pair[0]).num_milliseconds() >= 700, "retried early: {done}");
        }
    }
    assert!(receiver.seen().len() >= 8 + 24, "the outage was not exercised");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_finishes_and_restart_keeps_state() {
    let mut dev = DevServer::start(FAST);
    let receiver = Receiver::start(&[]).await;
    app_and_webhook(&dev, "app_stop", &receiver.url("/hook")).await;
    let (_, body) = dev.post_event("msg_stop", &event("version_published", "app_stop", 3)).await;
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let status = dev.stop().unwrap();
    assert!(status.success(), "graceful stop exits 0: {status}");
    dev.restart();
    dev.wait_for_delivery(&delivery_id, "succeeded", Duration::from_secs(30)).await;
    let (_, again) = dev.post_event("msg_stop", &event("version_published", "app_stop", 3)).await;
    assert_eq!(again, body, "the event survived the restart");
}
