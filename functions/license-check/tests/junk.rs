//! Junk in the key path or the query never yields a 5xx (nor a panic): fixed cases over both
//! backends, a real socket for what no `http::Uri` can carry, and a property test.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use axum::http::Method;
use common::{
    Harness, PATCHKIT_CONTENT_TYPE, forbidden, missing_app_secret, not_known, pct, pct_if_needed, valid_body,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

over_both_backends!(junk_keys_and_queries_are_4xx);

/// `http::Uri` refuses URIs of 65,534 bytes or more; this is as much as one request through the
/// router can carry. Larger ones are the HTTP server's to refuse (see `oversized_uri_is_414`).
const LARGE: usize = 60 * 1024;

async fn junk_keys_and_queries_are_4xx(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let secret = app.app_secret.expose();
    let q = format!("app_secret={secret}");

    // Keys no store holds: bytes that are not UTF-8, NUL, 10 KB (raw and percent-encoded).
    for path in [
        format!("/v2/keys/%FF%FE?{q}"),
        format!("/v2/keys/%00?{q}"),
        format!("/v2/keys/%C0%80?{q}"),
        format!("/v2/keys/{}?{q}", "A".repeat(10 * 1024)),
        format!("/v2/keys/{}?{q}", pct(&[0xFF; 10 * 1024])),
        format!("/v2/keys/{}?{q}", pct("K".repeat(10 * 1024).as_bytes())),
    ] {
        h.get(&path).await.assert_patchkit(404, not_known());
    }
    // No key at all, or several segments: still the check route, and no such key.
    for path in ["/v2/keys/", "/v2/keys//", "/v2/keys/%2F/", "/v2/keys/K/extra", &format!("/v2/keys/{key}/")]
    {
        h.get(&format!("{path}?{q}")).await.assert_patchkit(404, not_known());
        h.get(&format!("{path}?app_secret=x")).await.assert_patchkit(403, forbidden());
        h.get(path).await.assert_patchkit(400, missing_app_secret());
    }
    // `/v2/keys` itself is not the check route.
    let answer = h.get("/v2/keys").await;
    assert_eq!(answer.status.as_u16(), 404, "{}", answer.body);

    // Repeated parameters: the first one counts.
    h.check(&key, Some("a"), None).await.assert_patchkit(403, forbidden());
    h.get(&format!("/v2/keys/{key}?app_secret=a&app_secret=b")).await.assert_patchkit(403, forbidden());
    h.get(&format!("/v2/keys/{key}?app_secret=b&{q}")).await.assert_patchkit(403, forbidden());
    h.get(&format!("/v2/keys/{key}?{q}&app_secret=b&key_secret={key_secret}&key_secret=x"))
        .await
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 0));
    // (The first key_secret is a wrong one: it counts as none, and registers.)
    h.get(&format!("/v2/keys/{key}?{q}&key_secret=x&key_secret={key_secret}"))
        .await
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 1));

    // Huge query values.
    let huge = "x".repeat(LARGE);
    h.get(&format!("/v2/keys/{key}?app_secret={huge}")).await.assert_patchkit(403, forbidden());
    h.get(&format!("/v2/keys/{key}?{q}&key_secret={huge}"))
        .await
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 2));
    h.get(&format!("/v2/keys/{key}?{q}&key_secret={key_secret}&junk={huge}"))
        .await
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 2));
    let huge_encoded = pct(&vec![0xFE; LARGE / 3]);
    h.get(&format!("/v2/keys/{key}?app_secret={huge_encoded}")).await.assert_patchkit(403, forbidden());
    h.get(&format!("/v2/keys/{key}?{}", "&".repeat(LARGE))).await.assert_patchkit(400, missing_app_secret());

    // Query junk: bad percent-encoding, NULs, empty names and values, a bare name.
    let junk = [
        "app_secret=%FF",
        "app_secret=%",
        "app_secret=%Z1",
        "%00=%00",
        "&&&=&=",
        "app_secret=a%00b",
        "app_secret+=x",
    ];
    for query in junk {
        let answer = h.get(&format!("/v2/keys/{key}?{query}")).await;
        assert!(answer.status.is_client_error(), "{query}: {} {}", answer.status, answer.body);
        answer.assert_patchkit_headers();
    }
    h.get(&format!("/v2/keys/{key}?app_secret")).await.assert_patchkit(400, missing_app_secret());
    h.get(&format!("/v2/keys/{key}?{q}&key_secret=%FF"))
        .await
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 3));
    // `+` is a space in a query; a secret with a space in it is just a wrong secret.
    h.get(&format!("/v2/keys/{key}?app_secret={}+", pct_if_needed(secret.as_bytes())))
        .await
        .assert_patchkit(403, forbidden());

    // Junk on the admin routes too.
    for (method, uri) in [
        (Method::GET, "/v1/keys/%FF%FE".to_owned()),
        (Method::POST, "/v1/keys/%FF/block".to_owned()),
        (Method::GET, format!("/v1/keys/{}", "A".repeat(10 * 1024))),
        (Method::POST, "/v1/apps/%FF/keys".to_owned()),
    ] {
        let answer = h.admin(method.clone(), &uri, None).await;
        assert!(answer.status.is_client_error(), "{method} {uri}: {} {}", answer.status, answer.body);
    }

    // Through all of it, only the three calls with a wrong key secret registered.
    assert_eq!(h.registrations(&key).await, 3);
}

/// Read one HTTP/1.1 response from a raw socket; return its status code.
async fn raw_status(addr: std::net::SocketAddr, request: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {text:?}"))
}

/// 100 KB in the query (or the path) is more than `http::Uri` holds: the server refuses it
/// with 414 before the router sees it, and keeps serving.
#[tokio::test]
async fn oversized_uri_is_414() {
    let h = common::sqlite().await;
    let (app, key, _) = h.app_with_key().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, h.router.clone()).await });

    let huge = "x".repeat(100 * 1024);
    for target in [
        format!("/v2/keys/{key}?app_secret={huge}"),
        format!("/v2/keys/{key}?app_secret={}&key_secret={huge}", app.app_secret.expose()),
        format!("/v2/keys/{huge}?app_secret={}", app.app_secret.expose()),
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
        assert_eq!(raw_status(addr, request.as_bytes()).await, 414);
    }
    let fine = format!(
        "GET /v2/keys/{key}?app_secret={} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
        app.app_secret.expose()
    );
    assert_eq!(raw_status(addr, fine.as_bytes()).await, 200);
    server.abort();
}

/// Bytes for a path segment or a query component, in one of three spellings.
fn spelled(bytes: Vec<u8>, mode: u8) -> String {
    match mode {
        0 => pct(&bytes),
        1 => pct_if_needed(&bytes),
        // Raw where a URI allows it (so `%` may start a broken escape), encoded elsewhere.
        _ => bytes
            .iter()
            .map(|&b| {
                let delimiter = b"#\"<>\\^`{|}/?&=".contains(&b);
                if b.is_ascii_graphic() && !delimiter {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
    }
}

/// 256 cases (stated explicitly): arbitrary bytes as the key segment and arbitrary query
/// parameters, some of them the real secrets, against the SQLite-backed router. Never a 5xx,
/// and every answer from the check route carries the PatchKit headers.
#[test]
fn arbitrary_keys_and_queries_never_5xx() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (h, secret, key, key_secret) = rt.block_on(async {
        let h = common::sqlite().await;
        let (app, key, key_secret) = h.app_with_key().await;
        let secret = app.app_secret.expose().to_owned();
        (h, secret, key, key_secret)
    });

    // Weighted so that every verdict shows up: raw bytes (mostly malformed), printable text
    // (well-formed keys nobody has), the real key, and lengths around the 128-byte limit.
    let segment = prop_oneof![
        3 => (proptest::collection::vec(any::<u8>(), 0..300), 0..3u8),
        2 => ("\\PC{1,40}".prop_map(String::into_bytes), 0..3u8),
        2 => Just((key.clone().into_bytes(), 1u8)),
        1 => (proptest::collection::vec(any::<u8>(), 120..140), 0..3u8),
        1 => ("[A-Za-z0-9._~-]{120,136}".prop_map(String::into_bytes), 1..2u8),
    ];
    let name = prop_oneof![
        3 => Just(b"app_secret".to_vec()),
        2 => Just(b"key_secret".to_vec()),
        2 => proptest::collection::vec(any::<u8>(), 0..16),
    ];
    let value = prop_oneof![
        3 => Just(secret.clone().into_bytes()),
        2 => Just(key_secret.clone().into_bytes()),
        2 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => proptest::collection::vec(any::<u8>(), 0..4096),
    ];
    let params = proptest::collection::vec((name, value.clone(), 0..3u8), 0..6);
    // Most queries lead with an app_secret (mostly the right one), so the lookup is reached.
    let lead = proptest::option::weighted(0.8, (Just(b"app_secret".to_vec()), value, 0..3u8));
    let params = (lead, params).prop_map(|(lead, rest)| lead.into_iter().chain(rest).collect::<Vec<_>>());

    let config = ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(256) };
    assert_eq!(config.cases, 256);
    let mut runner = TestRunner::new(config);
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    runner
        .run(&(segment, params, any::<bool>()), |((seg, seg_mode), params, bare_name)| {
            let mut uri = format!("/v2/keys/{}", spelled(seg, seg_mode));
            let query: Vec<String> = params
                .into_iter()
                .map(|(name, value, mode)| {
                    if bare_name && value.is_empty() {
                        spelled(name, mode)
                    } else {
                        format!("{}={}", spelled(name, mode), spelled(value, mode))
                    }
                })
                .collect();
            if !query.is_empty() {
                uri.push('?');
                uri.push_str(&query.join("&"));
            }
            let answer = rt.block_on(h.get(&uri));
            *seen.lock().unwrap().entry(answer.status.as_u16()).or_default() += 1;
            prop_assert!(answer.status.as_u16() < 500, "{uri}: {} {}", answer.status, answer.body);
            let status = answer.status.as_u16();
            prop_assert!(status != 200 || answer.json()["key"] == key.as_str(), "{uri}: {}", answer.body);
            // Every path under /v2/keys/ is the check route, which answers what a PatchKit
            // client understands, and 400 only to a missing app secret.
            prop_assert!(matches!(status, 200 | 400 | 403 | 404), "{uri}: {status}");
            prop_assert!(status != 400 || answer.body == missing_app_secret(), "{uri}: {}", answer.body);
            prop_assert_eq!(answer.header(axum::http::header::CACHE_CONTROL), Some("no-store"), "{}", uri);
            prop_assert_eq!(
                answer.header(axum::http::header::CONTENT_TYPE),
                Some(PATCHKIT_CONTENT_TYPE),
                "{}",
                uri
            );
            Ok(())
        })
        .unwrap();
    // The generator reaches every verdict, not just the cheap rejections.
    let seen = seen.into_inner().unwrap();
    eprintln!("statuses over {} cases: {seen:?}", seen.values().sum::<u32>());
    for status in [200, 400, 403, 404] {
        assert!(seen.contains_key(&status), "no {status} in {seen:?}");
    }
}
