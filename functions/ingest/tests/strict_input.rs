//! What the HTTP layer refuses before a use case runs, and the limits checked when a webhook is
//! saved: each a regression test for a finding of the hostile probe (issue #14).
#![allow(clippy::unwrap_used)]

#[allow(unused)]
mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::{ADMIN_TOKEN, Harness};
use patchbay_core::ids::random_id;
use serde_json::json;

async fn harness_with_app() -> (Harness, String) {
    let h = Harness::new(&patchbay_testing::backends::sqlite().await).await;
    let app_id = random_id("app").replace('_', "-");
    let reply =
        h.admin("POST", "/v1/apps", Some(json!({"id": app_id, "name": "n", "display_name": "N"}))).await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    (h, app_id)
}

fn admin_raw(method: &str, path: &str, content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"));
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

fn webhook(extra: serde_json::Value) -> serde_json::Value {
    let mut body =
        json!({"events": ["version_published"], "method": "POST", "url": "https://example.com/hook"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn bodies_not_declared_json_get_415() {
    let (h, app_id) = harness_with_app().await;
    let body = webhook(json!({})).to_string();
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let reply =
            h.call(admin_raw("POST", &format!("/v1/apps/{app_id}/webhooks"), content_type, &body)).await;
        reply.error(415, "unsupported_media_type");
    }
    let reply = h
        .call(admin_raw(
            "POST",
            &format!("/v1/apps/{app_id}/webhooks"),
            Some("application/json; charset=utf-8"),
            &body,
        ))
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    // The pipeline's events too, once the signature holds (an unsigned caller learns only 401).
    let body = json!({"event": "version_published", "app": {"id": app_id}, "version": {"id": 1}}).to_string();
    let mut request = h.signed(&random_id("msg"), body.clone());
    request.headers_mut().insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    h.call(request).await.error(415, "unsupported_media_type");
    let mut unsigned = Request::post("/v1/events").body(Body::from(body)).unwrap();
    unsigned.headers_mut().insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    h.call(unsigned).await.error(401, "unauthorized");
}

#[tokio::test]
async fn a_key_given_twice_is_refused_by_name() {
    let (h, app_id) = harness_with_app().await;
    let body = r#"{"events":["version_published"],"method":"POST","url":"https://a.example/","url":"https://b.example/"}"#;
    let reply = h
        .call(admin_raw("POST", &format!("/v1/apps/{app_id}/webhooks"), Some("application/json"), body))
        .await;
    assert_eq!(reply.error(422, "invalid_field"), "url: is given twice");
    let event = r#"{"event":"version_published","app":{"id":"a","id":"b"},"version":{"id":1}}"#;
    let reply = h.post_event(&random_id("msg"), event).await;
    assert_eq!(reply.error(422, "invalid_field"), "app.id: is given twice");
}

#[tokio::test]
async fn a_payload_integer_beyond_64_bits_is_sent_exactly() {
    let (h, app_id) = harness_with_app().await;
    let digits = "123456789012345678901234567890";
    let body = format!(
        r#"{{"events":["version_published"],"method":"POST","url":"https://a.example/","payload":{{"n":{digits}}}}}"#
    );
    let reply = h
        .call(admin_raw("POST", &format!("/v1/apps/{app_id}/webhooks"), Some("application/json"), &body))
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    assert!(reply.text.contains(&format!(r#""n":{digits}"#)), "{}", reply.text);
    // Stored and rendered with its digits intact: the receiver gets the number as written.
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let webhook = h.store.get_webhook(&id).await.unwrap().unwrap();
    let event = patchbay_core::template::sample_event(patchbay_core::model::EventName::VersionPublished);
    let request =
        patchbay_core::service::send::prepare(&webhook, &event.into(), "msg_1", webhook.created_at).unwrap();
    let sent = String::from_utf8(request.body.unwrap()).unwrap();
    assert!(sent.contains(&format!(r#""n":{digits}"#)), "{sent}");
}

#[tokio::test]
async fn event_app_ids_follow_the_management_rule() {
    let (h, _) = harness_with_app().await;
    for forged in ["../x", "a\nINFO forged line", "a\u{1b}[31mred"] {
        let body =
            json!({"event": "version_published", "app": {"id": forged}, "version": {"id": 1}}).to_string();
        let reply = h.post_event(&random_id("msg"), &body).await;
        assert!(reply.error(422, "invalid_field").starts_with("app.id: "), "{forged:?}: {}", reply.text);
    }
}

#[tokio::test]
async fn webhooks_that_could_never_deliver_are_refused_at_save() {
    let (h, app_id) = harness_with_app().await;
    let path = format!("/v1/apps/{app_id}/webhooks");
    let long_url = format!("https://example.com/{}", "a".repeat(600 * 1024));
    let reply = h.admin("POST", &path, Some(webhook(json!({"url": long_url})))).await;
    assert!(reply.error(422, "invalid_field").starts_with("url: "));
    let many: serde_json::Map<_, _> = (0..10_000).map(|i| (format!("X-H{i}"), json!("v"))).collect();
    let reply = h.admin("POST", &path, Some(webhook(json!({"headers": many})))).await;
    assert!(reply.error(422, "invalid_field").starts_with("headers: "));
    let reply =
        h.admin("POST", &path, Some(webhook(json!({"headers": {"X-Big": "v".repeat(100 * 1024)}})))).await;
    assert!(reply.error(422, "invalid_field").starts_with("headers.X-Big: "));
}

#[tokio::test]
async fn overrides_the_queue_or_the_function_cannot_honour_are_refused_by_name() {
    let (h, app_id) = harness_with_app().await;
    let path = format!("/v1/apps/{app_id}/webhooks");
    let refused = [
        (json!({"timeout": "61s"}), "timeout"),
        (json!({"timeout": "0s"}), "timeout"),
        (json!({"timeout": "soon"}), "timeout"),
        (json!({"timeout": 10}), "timeout"),
        (json!({"retry_schedule": "30s,13h"}), "retry_schedule"),
        (json!({"retry_schedule": vec!["1s"; 19].join(",")}), "retry_schedule"),
        (json!({"retry_schedule": "30s,2x"}), "retry_schedule"),
        (json!({"retry_schedule": ""}), "retry_schedule"),
    ];
    for (extra, field) in refused {
        let reply = h.admin("POST", &path, Some(webhook(extra.clone()))).await;
        let message = reply.error(422, "invalid_field");
        assert!(message.starts_with(&format!("{field}: ")), "{extra}: {message}");
    }
    // The largest of each bound is accepted: 60 s, 12 h steps, 18 delays (19 attempts < 20).
    let edge = json!({"timeout": "60s", "retry_schedule": format!("12h,{}", vec!["1s"; 17].join(","))});
    let reply = h.admin("POST", &path, Some(webhook(edge))).await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
}

#[tokio::test]
async fn overrides_show_as_written_and_a_patch_sets_and_clears_them() {
    let (h, app_id) = harness_with_app().await;
    let created = h.admin("POST", &format!("/v1/apps/{app_id}/webhooks"), Some(webhook(json!({})))).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    let view = created.json();
    assert!(view.get("timeout").is_none() && view.get("retry_schedule").is_none(), "{view}");
    let path = format!("/v1/webhooks/{}", view["id"].as_str().unwrap());

    let set = json!({"timeout": "10s", "retry_schedule": "30s, 2m,10m"});
    let patched = h.admin("PATCH", &path, Some(set)).await;
    assert_eq!(patched.status.as_u16(), 200, "{}", patched.text);
    let shown = h.admin("GET", &path, None).await.json();
    assert_eq!((&shown["timeout"], &shown["retry_schedule"]), (&json!("10s"), &json!("30s, 2m,10m")));

    let refused = h.admin("PATCH", &path, Some(json!({"timeout": "2m"}))).await;
    assert!(refused.error(422, "invalid_field").starts_with("timeout: "));
    assert_eq!(h.admin("GET", &path, None).await.json()["timeout"], "10s");

    let cleared = h.admin("PATCH", &path, Some(json!({"timeout": null}))).await;
    assert_eq!(cleared.status.as_u16(), 200, "{}", cleared.text);
    let shown = h.admin("GET", &path, None).await.json();
    assert!(shown.get("timeout").is_none(), "{shown}");
    assert_eq!(shown["retry_schedule"], "30s, 2m,10m");
    let cleared = h.admin("PATCH", &path, Some(json!({"retry_schedule": null}))).await;
    assert!(cleared.json().get("retry_schedule").is_none(), "{}", cleared.text);
}

#[tokio::test]
async fn answers_carrying_secrets_are_not_cacheable() {
    let (h, app_id) = harness_with_app().await;
    let created = h.admin("POST", &format!("/v1/apps/{app_id}/webhooks"), Some(webhook(json!({})))).await;
    assert_eq!(created.status.as_u16(), 201);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    for reply in [
        created,
        h.admin("GET", &format!("/v1/apps/{app_id}"), None).await,
        h.admin("POST", &format!("/v1/apps/{app_id}/rotate-secret"), None).await,
        h.admin("POST", &format!("/v1/webhooks/{id}/rotate-secret"), None).await,
    ] {
        assert_eq!(reply.headers.get(header::CACHE_CONTROL).unwrap(), "no-store", "{}", reply.text);
    }
}

#[tokio::test]
async fn three_rotations_in_a_day_keep_every_replaced_secret_signing() {
    let (h, app_id) = harness_with_app().await;
    let created = h.admin("POST", &format!("/v1/apps/{app_id}/webhooks"), Some(webhook(json!({})))).await;
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let original = created.json()["secret"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let reply = h.admin("POST", &format!("/v1/webhooks/{id}/rotate-secret"), None).await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    }
    let stored = h.store.get_webhook(&id).await.unwrap().unwrap();
    let active: Vec<_> =
        stored.secrets.active(stored.updated_at).into_iter().map(|s| s.expose().to_owned()).collect();
    assert_eq!(active.len(), 4, "the current secret and all three replaced ones sign");
    assert!(active.contains(&original), "the original signs until 24 h after it was replaced");
}
