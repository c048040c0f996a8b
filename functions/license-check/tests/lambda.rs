//! The Lambda wiring: an API Gateway HTTP API (payload 2.0) event, parsed by `lambda_http` the
//! way `lambda_http::run` does, goes through the same router and gets PatchKit's answer.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{Harness, PATCHKIT_CONTENT_TYPE, forbidden, not_known, valid_body};
use serde_json::json;
use tower::ServiceExt;

over_both_backends!(api_gateway_v2_event_reaches_the_check);

/// `GET /v2/keys/{key}?{query}` as API Gateway HTTP API sends it to the function.
fn event(key: &str, query: &[(&str, &str)]) -> String {
    event_with_method("GET", key, query)
}

fn event_with_method(method: &str, key: &str, query: &[(&str, &str)]) -> String {
    let raw_query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let params: serde_json::Map<String, serde_json::Value> =
        query.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    json!({
        "version": "2.0",
        "routeKey": format!("{method} /v2/keys/{{key}}"),
        "rawPath": format!("/v2/keys/{key}"),
        "rawQueryString": raw_query,
        "headers": {
            "accept": "*/*",
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "PatchKit-Launcher/1.0",
            "x-forwarded-proto": "https"
        },
        "queryStringParameters": params,
        "pathParameters": { "key": key },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": format!("/v2/keys/{key}"),
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "PatchKit-Launcher/1.0"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": format!("{method} /v2/keys/{{key}}"),
            "stage": "$default",
            "time": "10/Mar/2025:12:00:00 +0000",
            "timeEpoch": 1_741_608_000_000_u64
        },
        "isBase64Encoded": false
    })
    .to_string()
}

async fn through_lambda(h: &Harness, event: &str) -> (u16, Option<String>, String) {
    let request = lambda_http::request::from_str(event).unwrap();
    let response = h.router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap());
    assert_eq!(content_type, Some(PATCHKIT_CONTENT_TYPE));
    let cache = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    (status, cache, String::from_utf8(body.to_vec()).unwrap())
}

async fn api_gateway_v2_event_reaches_the_check(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let secret = app.app_secret.expose();

    let (status, cache, body) = through_lambda(h, &event(&key, &[("app_secret", secret)])).await;
    assert_eq!((status, cache.as_deref()), (200, Some("no-store")), "{body}");
    assert_eq!(body, valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 1));

    let (status, _, body) =
        through_lambda(h, &event(&key, &[("app_secret", secret), ("key_secret", &key_secret)])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 1));

    let (status, _, body) = through_lambda(h, &event("NOPE2-NOPE2", &[("app_secret", secret)])).await;
    assert_eq!((status, body.as_str()), (404, not_known()));
    let (status, _, body) = through_lambda(h, &event(&key, &[("app_secret", "wrong")])).await;
    assert_eq!((status, body.as_str()), (403, forbidden()));
    assert_eq!(h.registrations(&key).await, 1);

    // A stale key secret registers and answers the real one.
    let (status, _, body) =
        through_lambda(h, &event(&key, &[("app_secret", secret), ("key_secret", "stale")])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 2));
    // Another app's key reads as unknown.
    let other = h.new_app().await;
    let (status, _, body) =
        through_lambda(h, &event(&key, &[("app_secret", other.app_secret.expose())])).await;
    assert_eq!((status, body.as_str()), (404, not_known()));
    assert_eq!(h.registrations(&key).await, 2);

    // HEAD through API Gateway: GET's status, no body, no registration.
    let (status, _, body) =
        through_lambda(h, &event_with_method("HEAD", &key, &[("app_secret", secret)])).await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(h.registrations(&key).await, 2);
}
