//! The key check's methods: `GET` checks (and may register), `HEAD` gives the same status and
//! headers without a body and never registers, `OPTIONS` lists the methods, anything else is a
//! 405 in PatchKit's shape. Over SQLite and over DynamoDB on moto.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use axum::http::{Method, header};
use common::{
    CHECK_METHODS, Harness, blocked, check_uri, forbidden, missing_app_secret, not_known, valid_body,
};

over_both_backends!(
    head_answers_like_get_without_registering,
    options_lists_the_methods,
    other_methods_are_405
);

async fn head_answers_like_get_without_registering(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let secret = app.app_secret.expose();

    // Valid, with or without a (right or stale) key secret: 200, GET's headers, no body.
    for given in [None, Some(key_secret.as_str()), Some("stale")] {
        let answer = h.head(&key, Some(secret), given).await;
        assert_eq!(answer.status.as_u16(), 200, "{given:?}");
        assert_eq!(answer.body, "");
        answer.assert_patchkit_headers();
        // The length GET's body would have.
        let get_body = valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 0);
        assert_eq!(answer.header(header::CONTENT_LENGTH), Some(get_body.len().to_string().as_str()));
    }
    assert_eq!(h.registrations(&key).await, 0, "HEAD registered on {}", h.backend);

    // Every refusal: GET's status, no body.
    let other = h.new_app().await;
    let (blocked_app, blocked_key, _) = h.app_with_key().await;
    h.admin(Method::POST, &format!("/v1/keys/{blocked_key}/block"), None).await;
    let refusals = [
        (check_uri("NOPE2-NOPE2", Some(secret), None), 404, not_known()),
        (check_uri(&key, Some(other.app_secret.expose()), None), 404, not_known()),
        (format!("/v2/keys/%FF?app_secret={secret}"), 404, not_known()),
        (check_uri(&key, Some("no-such-app-secret"), None), 403, forbidden()),
        (check_uri(&key, None, None), 400, missing_app_secret()),
        (check_uri(&blocked_key, Some(blocked_app.app_secret.expose()), None), 410, blocked()),
    ];
    for (uri, status, get_body) in refusals {
        let answer = h.request(Method::HEAD, &uri).await;
        assert_eq!((answer.status.as_u16(), answer.body.as_str()), (status, ""), "HEAD {uri}");
        answer.assert_patchkit_headers();
        assert_eq!(answer.header(header::CONTENT_LENGTH), Some(get_body.len().to_string().as_str()));
        h.get(&uri).await.assert_patchkit(status, get_body);
    }
    assert_eq!(h.registrations(&key).await, 0);
}

async fn options_lists_the_methods(h: &Harness) {
    let (app, key, _) = h.app_with_key().await;
    for uri in [check_uri(&key, Some(app.app_secret.expose()), None), check_uri(&key, None, None)] {
        let answer = h.request(Method::OPTIONS, &uri).await;
        assert_eq!((answer.status.as_u16(), answer.body.as_str()), (204, ""), "OPTIONS {uri}");
        assert_eq!(answer.header(header::ALLOW), Some(CHECK_METHODS));
    }
    assert_eq!(h.registrations(&key).await, 0);
}

async fn other_methods_are_405(h: &Harness) {
    let (app, key, _) = h.app_with_key().await;
    let uri = check_uri(&key, Some(app.app_secret.expose()), None);
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::TRACE] {
        let answer = h.request(method.clone(), &uri).await;
        answer.assert_patchkit(405, r#"{"message":"Method not allowed"}"#);
        assert_eq!(answer.header(header::ALLOW), Some(CHECK_METHODS), "{method}");
    }
    // None of them registered anything.
    assert_eq!(h.registrations(&key).await, 0);
}
