//! The studio console is served by the ingest function's router (so by `patchbay dev` too),
//! with its security headers; and the management API additions it reads: the webhook preview,
//! health and rotation overlap on webhooks, and the `event` filter on deliveries.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use patchbay_adapters::backends::Backends;
use patchbay_core::http::console::CONTENT_SECURITY_POLICY;
use serde_json::json;

use common::{Harness, Reply, on_both_backends};

on_both_backends!(preview_renders_sample_values_or_names_the_field, webhook_views_show_health_and_overlap);

fn get(path: &str, if_none_match: Option<&str>) -> Request<Body> {
    let builder = Request::get(path);
    let builder = match if_none_match {
        Some(tag) => builder.header(header::IF_NONE_MATCH, tag),
        None => builder,
    };
    builder.body(Body::empty()).unwrap()
}

fn assert_secure(reply: &Reply, what: &str) {
    let header = |name: &str| reply.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let csp = header("content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP"));
    assert_eq!(csp, CONTENT_SECURITY_POLICY, "{what}");
    for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]
    {
        assert!(csp.contains(directive), "{what}: {directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-"), "{what}: {csp}");
    assert!(!csp.contains("http"), "{what}: no other origin may appear: {csp}");
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{what}");
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{what}");
    assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"), "{what}");
    assert!(header("set-cookie").is_none(), "{what}: the console sets no cookie");
}

#[tokio::test]
async fn console_is_served_with_strict_headers_and_revalidated_by_etag() {
    let h = Harness::new(&patchbay_testing::backends::sqlite().await).await;
    for path in ["/console", "/console/"] {
        let reply = h.call(get(path, None)).await;
        assert_eq!(reply.status.as_u16(), 200, "{path}");
        assert_eq!(reply.content_type(), "text/html; charset=utf-8");
        assert!(reply.text.contains("<script type=\"module\" src=\"/console/app.js\">"), "{}", reply.text);
        assert_secure(&reply, path);
    }
    let page = h.call(get("/console", None)).await;
    // No inline script or style for the CSP to allow, and nothing from another origin.
    assert!(!page.text.contains("<script>") && !page.text.contains("style="), "{}", page.text);
    assert!(!page.text.contains("http://") && !page.text.contains("https://"), "{}", page.text);

    for (file, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let path = format!("/console/{file}");
        let reply = h.call(get(&path, None)).await;
        assert_eq!(reply.status.as_u16(), 200, "{path}");
        assert_eq!(reply.content_type(), content_type, "{path}");
        assert_secure(&reply, &path);
        assert_eq!(reply.headers[header::CACHE_CONTROL], "no-cache", "{path}");
        let etag = reply.headers[header::ETAG].to_str().unwrap().to_owned();
        let again = h.call(get(&path, Some(&etag))).await;
        assert_eq!(again.status.as_u16(), 304, "{path}");
        assert!(again.text.is_empty());
        assert_secure(&again, &path);
    }
    // The page never puts anything into HTML from a string (innerHTML, insertAdjacentHTML, …).
    for file in ["app.js", "api.js", "dom.js", "webhooks.js", "editor.js", "deliveries.js", "keys.js"] {
        let js = h.call(get(&format!("/console/{file}"), None)).await.text;
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "localStorage",
            "document.cookie",
        ] {
            assert!(!js.contains(sink), "{file} uses {sink}");
        }
    }

    let missing = h.call(get("/console/nope.js", None)).await;
    missing.error(404, "no_route");
    assert_secure(&missing, "404");
    let post = h.call(Request::post("/console").body(Body::empty()).unwrap()).await;
    post.error(405, "method_not_allowed");
    // Small enough for the ingest bootstrap's budget.
    assert!(
        patchbay_core::http::console::total_size() < 128 * 1024,
        "{}",
        patchbay_core::http::console::total_size()
    );
}

async fn app(h: &Harness) -> String {
    let app_id = patchbay_core::ids::random_id("studio").replace('_', "-");
    let reply = h
        .admin(
            "POST",
            "/v1/apps",
            Some(json!({"id": app_id, "name": "space-race", "display_name": "Space Race"})),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.text);
    app_id
}

async fn preview_renders_sample_values_or_names_the_field(backends: Backends) {
    let h = Harness::new(&backends).await;
    let app_id = app(&h).await;
    let path = format!("/v1/apps/{app_id}/webhooks/preview");
    let body = json!({
        "events": ["version_published"], "method": "POST", "url": "https://example.com/{{app.name}}",
        "headers": {"X-Label": "{{version.label}}"}, "payload": {"text": "{{app.display_name}} {{version.label}}"}
    });
    let reply = h.admin("POST", &path, Some(body.clone())).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let preview = reply.json();
    assert_eq!(preview["event"], "version_published");
    let request = &preview["request"];
    assert_eq!(request["method"], "POST");
    // PatchKit's sample values, as `patchbay render --sample` and a test send use them.
    assert_eq!(request["url"], "https://example.com/Test%20App");
    let sample = patchbay_core::template::sample_event(patchbay_core::model::EventName::VersionPublished);
    let label = sample.version.label.clone().unwrap();
    assert_eq!(request["headers"]["X-Label"], label.as_str());
    let sent: serde_json::Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["text"], format!("Test App {label}"));
    assert!(request["headers"].get("webhook-signature").is_none(), "a preview is not signed");

    // Another event's sample values on request.
    let mut failed = body.clone();
    failed["event"] = json!("version_process_failed");
    let reply = h.admin("POST", &path, Some(failed)).await;
    assert_eq!(reply.json()["event"], "version_process_failed", "{}", reply.text);

    // The save's 422s, naming the field.
    let mut bad = body.clone();
    bad["payload"] = json!({"text": "{{app.nope}}"});
    let message = h.admin("POST", &path, Some(bad)).await.error(422, "invalid_field");
    assert!(message.starts_with("payload.text: "), "{message}");
    let mut bad = body;
    bad["event"] = json!("nope");
    assert!(h.admin("POST", &path, Some(bad)).await.error(422, "invalid_field").starts_with("event: "));
    // Nothing was created, and an unknown app is a 404.
    let list = h.admin("GET", &format!("/v1/apps/{app_id}/webhooks"), None).await.json();
    assert_eq!(list["webhooks"], json!([]));
    let body = json!({"events": ["version_published"], "method": "POST", "url": "https://example.com/"});
    h.admin("POST", "/v1/apps/no-such-app/webhooks/preview", Some(body)).await.error(404, "not_found");
}

async fn webhook_views_show_health_and_overlap(backends: Backends) {
    let h = Harness::new(&backends).await;
    let app_id = app(&h).await;
    let body = json!({"events": ["version_published"], "method": "POST", "url": "https://example.com/"});
    let created = h.admin("POST", &format!("/v1/apps/{app_id}/webhooks"), Some(body)).await.json();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["failing_since"], json!(null));
    assert_eq!(created["previous_secrets_until"], json!([]));

    let rotated = h.admin("POST", &format!("/v1/webhooks/{id}/rotate-secret"), None).await.json();
    let until = rotated["previous_secrets_until"].as_array().unwrap();
    assert_eq!(until.len(), 1, "{rotated}");
    let until: chrono::DateTime<chrono::Utc> = until[0].as_str().unwrap().parse().unwrap();
    let overlap = until - chrono::Utc::now();
    assert!(overlap > chrono::TimeDelta::hours(23) && overlap <= chrono::TimeDelta::hours(24), "{overlap}");
    // The overlap shows when, never which secret.
    let shown = h.admin("GET", &format!("/v1/webhooks/{id}"), None).await;
    assert!(!shown.text.contains("whsec_"), "{}", shown.text);
    assert_eq!(shown.json()["previous_secrets_until"].as_array().unwrap().len(), 1);

    // The delivery listing filters by event, and names a bad one.
    h.post_event("msg_console_1", &common::event_body("version_published", &app_id)).await;
    let deliveries = format!("/v1/webhooks/{id}/deliveries");
    let page = h.admin("GET", &format!("{deliveries}?event=version_published"), None).await.json();
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["deliveries"][0]["next_attempt_at"], json!(null));
    let page = h.admin("GET", &format!("{deliveries}?event=version_processed"), None).await.json();
    assert_eq!(page["deliveries"], json!([]));
    h.admin("GET", &format!("{deliveries}?event=nope"), None).await.error(422, "invalid_field");
}
