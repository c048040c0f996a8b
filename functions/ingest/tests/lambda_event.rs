//! The Lambda wiring: an API Gateway HTTP API (payload 2.0) event, parsed by `lambda_http` as
//! the runtime does, served by the same router the function runs — over SQLite and over
//! DynamoDB + SQS on moto.
#![allow(clippy::unwrap_used)]

mod common;

use patchbay_adapters::backends::Backends;
use patchbay_core::ids::random_id;
use patchbay_core::model::EventName;
use patchbay_core::signing::signature_header;
use serde_json::json;

use common::{Harness, event_body, expected_deliveries, now_secs, on_both_backends};

on_both_backends!(api_gateway_v2_event);

/// An HTTP API v2 event for `POST /v1/events`, as API Gateway hands it to the function.
fn apigw_v2_event(headers: serde_json::Value, body: &str) -> String {
    json!({
        "version": "2.0",
        "routeKey": "POST /v1/events",
        "rawPath": "/v1/events",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/v1/events",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "patchkit-pipeline/1.0"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "POST /v1/events",
            "stage": "$default",
            "time": "20/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_168_800_000_u64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

async fn api_gateway_v2_event(backends: Backends) {
    let h = Harness::new(&backends).await;
    let app = h.app().await;
    let webhook = h.webhook(&app.id, &[EventName::VersionPublished], true).await;
    let id = random_id("msg");
    let body = event_body("version_published", &app.id);
    let timestamp = now_secs();
    let signature = signature_header(&[&h.secret], &id, timestamp, body.as_bytes()).unwrap();
    let headers = json!({
        "content-type": "application/json",
        "content-length": body.len().to_string(),
        "host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "user-agent": "patchkit-pipeline/1.0",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        "webhook-id": id,
        "webhook-timestamp": timestamp.to_string(),
        "webhook-signature": signature
    });
    let event = apigw_v2_event(headers.clone(), &body);
    let expected = expected_deliveries(&id, &[&webhook]);

    let request = lambda_http::request::from_str(&event).unwrap();
    assert_eq!(request.method(), "POST");
    assert_eq!(request.uri().path(), "/v1/events");
    let reply = common::call(h.router.clone(), request).await;
    assert_eq!(reply.ingest(202, &id), expected);
    assert_eq!(
        reply.json(),
        json!({"event_id": id, "deliveries": [{"id": expected[0].0, "webhook_id": webhook.id}]})
    );
    assert_eq!(h.drain().await, vec![expected[0].0.clone()]);

    // API Gateway retrying the same invocation: the duplicate answer, nothing new queued.
    let reply = common::call(h.router.clone(), lambda_http::request::from_str(&event).unwrap()).await;
    assert_eq!(reply.ingest(200, &id), expected);
    assert_eq!(h.drain().await, Vec::<String>::new());

    // A tampered body through the same path is refused.
    let tampered = apigw_v2_event(headers, &body.replace("1.0.3", "6.6.6"));
    let reply = common::call(h.router.clone(), lambda_http::request::from_str(&tampered).unwrap()).await;
    assert_eq!(
        reply.error(401, "unauthorized"),
        "event signature: no signature in webhook-signature matches"
    );
}
