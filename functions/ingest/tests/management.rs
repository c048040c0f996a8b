//! The management API served by the ingest function, over SQLite and over DynamoDB + SQS on
//! moto: the admin token, webhook validation, and a webhook made through the API receiving
//! the next event.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use patchbay_adapters::backends::Backends;
use patchbay_core::ids::{delivery_id, random_id};
use serde_json::json;

use common::{Harness, event_body, on_both_backends};

on_both_backends!(
    admin_token_required,
    webhook_validation_names_the_field,
    api_made_webhook_receives_events,
    an_existing_app_secret_carries_over
);

async fn admin_token_required(backends: Backends) {
    let h = Harness::new(&backends).await;
    let get = |auth: Option<&str>| {
        let builder = Request::get("/v1/apps/x/webhooks");
        let builder = match auth {
            Some(value) => builder.header(header::AUTHORIZATION, value),
            None => builder,
        };
        builder.body(Body::empty()).unwrap()
    };

    let reply = h.call(get(None)).await;
    assert_eq!(reply.error(401, "unauthorized"), "send Authorization: Bearer <PATCHBAY_ADMIN_TOKEN>");
    for wrong in ["Bearer not-the-admin-token-at-all", "Bearer ", "Basic dGVzdDp0ZXN0"] {
        let reply = h.call(get(Some(wrong))).await;
        let message = reply.error(401, "unauthorized");
        assert!(
            message == "admin token is not valid" || message.starts_with("send Authorization"),
            "{wrong}: {message}"
        );
    }
    let reply = h.call(get(Some("Bearer not-the-admin-token-at-all"))).await;
    assert_eq!(reply.text, r#"{"error":{"code":"unauthorized","message":"admin token is not valid"}}"#);
    // The events route does not take the admin token instead of a signature.
    let request = Request::post("/v1/events")
        .header(header::AUTHORIZATION, format!("Bearer {}", common::ADMIN_TOKEN))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(event_body("version_published", "x")))
        .unwrap();
    h.call(request).await.error(401, "unauthorized");
}

async fn webhook_validation_names_the_field(backends: Backends) {
    let h = Harness::new(&backends).await;
    let app_id = random_id("studio").replace('_', "-");
    let reply = h
        .admin(
            "POST",
            "/v1/apps",
            Some(json!({"id": app_id, "name": "space-race", "display_name": "Space Race"})),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    let path = format!("/v1/apps/{app_id}/webhooks");

    let reply = h
        .admin(
            "POST",
            &path,
            Some(json!({
                "events": ["version_published"],
                "method": "POST",
                "url": "https://example.com/hook",
                "payload": {"text": "{{app.nope}} released"}
            })),
        )
        .await;
    let message = reply.error(422, "invalid_field");
    assert!(message.starts_with("payload.text: "), "{message}");
    assert!(message.contains("{{app.nope}}"), "{message}");

    let reply = h
        .admin(
            "POST",
            &path,
            Some(json!({"events": ["version_published"], "method": "POST", "url": "ftp://example.com/hook"})),
        )
        .await;
    let message = reply.error(422, "invalid_field");
    assert!(message.starts_with("url: "), "{message}");

    // Nothing was created by the refused requests.
    let reply = h.admin("GET", &path, None).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    assert_eq!(reply.json(), json!({"webhooks": []}));
}

async fn api_made_webhook_receives_events(backends: Backends) {
    let h = Harness::new(&backends).await;
    let app_id = random_id("studio").replace('_', "-");
    let reply = h
        .admin(
            "POST",
            "/v1/apps",
            Some(json!({"id": app_id, "name": "space-race", "display_name": "Space Race"})),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    assert_eq!(reply.json()["id"], app_id.as_str());

    let reply = h
        .admin(
            "POST",
            &format!("/v1/apps/{app_id}/webhooks"),
            Some(json!({
                "events": ["version_published"],
                "method": "POST",
                "url": "https://example.com/hooks/{{app.name}}",
                "payload": {"text": "{{app.display_name}} {{version.label}}"}
            })),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    let created = reply.json();
    let webhook_id = created["id"].as_str().unwrap().to_owned();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"), "{created}");
    assert_eq!(created["enabled"], true);

    let listed = h.admin("GET", &format!("/v1/apps/{app_id}/webhooks"), None).await;
    assert_eq!(listed.status.as_u16(), 200, "{}", listed.text);
    let listed = listed.json();
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(listed["webhooks"][0]["id"], webhook_id.as_str());
    assert!(listed["webhooks"][0].get("secret").is_none(), "the secret is only shown once: {listed}");

    let id = random_id("msg");
    let reply = h.post_event(&id, &event_body("version_published", &app_id)).await;
    let dlv = delivery_id(&id, &webhook_id);
    assert_eq!(reply.ingest(202, &id), vec![(dlv.clone(), webhook_id.clone())]);
    assert_eq!(h.drain().await, vec![dlv.clone()]);

    let reply = h.admin("GET", &format!("/v1/deliveries/{dlv}"), None).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let delivery = reply.json();
    assert_eq!(delivery["id"], dlv.as_str());
    assert_eq!(delivery["webhook_id"], webhook_id.as_str());
    assert_eq!(delivery["status"], "pending");
}

/// Moving from PatchKit: the app secret shipped games embed is kept, validated and unique.
async fn an_existing_app_secret_carries_over(backends: Backends) {
    let h = Harness::new(&backends).await;
    let secret = format!("pk{}", random_id("s").replace('_', ""));
    let app = |id: &str, secret: serde_json::Value| json!({"id": id, "name": "old-game", "display_name": "Old Game", "app_secret": secret});
    let first = random_id("moved").replace('_', "-");
    let reply = h.admin("POST", "/v1/apps", Some(app(&first, json!(secret)))).await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    assert_eq!(reply.json()["app_secret"], secret.as_str());
    let stored = backends.store.app_for_secret(&secret).await.unwrap().unwrap();
    assert_eq!(stored.id, first);

    // Another app cannot take it.
    let second = random_id("moved").replace('_', "-");
    let reply = h.admin("POST", "/v1/apps", Some(app(&second, json!(secret)))).await;
    assert_eq!(reply.error(409, "conflict"), "app_secret already exists");
    assert!(backends.store.get_app(&second).await.unwrap().is_none());
    for bad in [json!("short"), json!("has space in it, 0123456789"), json!("x".repeat(129)), json!(42)] {
        let reply = h.admin("POST", "/v1/apps", Some(app(&second, bad.clone()))).await;
        let message = reply.error(422, "invalid_field");
        assert!(message.starts_with("app_secret: "), "{bad}: {message}");
    }
}
