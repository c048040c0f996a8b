//! `ReqwestSender` against real servers on loopback.
//!
//! Safety: every server here listens on 127.0.0.1 (or, as a tripwire, 127.0.0.2 / [::1]), and
//! every name is answered by an injected lookup with loopback addresses only. No test can reach a
//! non-loopback address even if the guard were broken.

// Test crate: helpers outside `#[test]` fns unwrap too (clippy's allow-unwrap-in-tests misses them).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{any, get};
use futures::future::BoxFuture;
use patchbay_adapters::sender::{NameLookup, ReqwestSender};
use patchbay_core::config::SendConfig;
use patchbay_core::model::{AttemptError, WebhookMethod};
use patchbay_core::ports::{OutgoingRequest, SendFailure, Sender};
use tokio::net::TcpListener;

#[derive(Clone, Default)]
struct Hits {
    target: Arc<AtomicUsize>,
    rebind: Arc<AtomicUsize>,
}

async fn serve() -> (SocketAddr, Hits) {
    let hits = Hits::default();
    let app = Router::new()
        .route("/ok", get(|| async { "hello" }).post(|| async { "hello" }))
        .route("/fail", any(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route(
            "/busy",
            any(|| async { (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "2")], "busy") }),
        )
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route("/redirect", any(|| async { (StatusCode::FOUND, [(header::LOCATION, "/target")]) }))
        .route(
            "/target",
            any(|State(h): State<Hits>| async move {
                h.target.fetch_add(1, Ordering::SeqCst);
                "target"
            }),
        )
        .route("/big", any(|| async { vec![b'x'; 200 * 1024] }))
        .route("/echo", any(echo))
        .route(
            "/close",
            any(|State(h): State<Hits>| async move {
                h.rebind.fetch_add(1, Ordering::SeqCst);
                ([(header::CONNECTION, "close")], "closing")
            }),
        )
        .with_state(hits.clone());
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hits)
}

async fn echo(headers: HeaderMap, body: axum::body::Bytes) -> impl IntoResponse {
    let mut map = BTreeMap::new();
    for (name, value) in &headers {
        map.entry(name.as_str().to_owned())
            .or_insert_with(Vec::new)
            .push(value.to_str().unwrap_or("").to_owned());
    }
    let json = serde_json::json!({ "headers": map, "body": String::from_utf8_lossy(&body) });
    axum::Json(json)
}

/// Answers names from a table; everything else is "not found". Counts calls per name.
#[derive(Default)]
struct TableLookup {
    calls: AtomicUsize,
}

impl NameLookup for TableLookup {
    fn lookup<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            match host {
                "local.test" => Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]),
                "rebind.test" => Ok(vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))]),
                // Answers the allowed address first, then the blocked one.
                "flip.test" if n == 0 => Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]),
                "flip.test" => Ok(vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))]),
                _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
            }
        })
    }
}

fn config(timeout: Duration) -> SendConfig {
    SendConfig { timeout, allow_cidrs: vec!["127.0.0.1/32".parse().unwrap()], ..SendConfig::default() }
}

fn sender() -> ReqwestSender {
    ReqwestSender::with_lookup(&config(Duration::from_secs(5)), Arc::new(TableLookup::default())).unwrap()
}

fn post(url: String) -> OutgoingRequest {
    OutgoingRequest {
        method: WebhookMethod::Post,
        url,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("user-agent".into(), "Patchbay-Webhooks/1.0".into()),
        ],
        body: Some(br#"{"event":"test"}"#.to_vec()),
        timeout: None,
    }
}

fn failure(out: patchbay_core::ports::SendOutcome) -> SendFailure {
    match out.result {
        Ok(r) => panic!("expected a failure, got status {}", r.status),
        Err(f) => f,
    }
}

/// A listener that records whether anything connected to it.
struct Tripwire {
    accepted: Arc<AtomicUsize>,
    port: u16,
}

async fn tripwire(ip: IpAddr, port: u16) -> Option<Tripwire> {
    let listener = TcpListener::bind((ip, port)).await.ok()?;
    let port = listener.local_addr().ok()?.port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((_sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    Some(Tripwire { accepted, port })
}

impl Tripwire {
    async fn assert_untouched(&self, what: &str) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(self.accepted.load(Ordering::SeqCst), 0, "{what}: something connected");
    }
}

#[tokio::test]
async fn ok_with_body_and_duration() {
    let (addr, _) = serve().await;
    let out = sender().send(&post(format!("http://{addr}/ok"))).await;
    let resp = out.result.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"hello");
    assert_eq!(resp.retry_after, None);
    assert!(out.duration > Duration::ZERO);
}

#[tokio::test]
async fn named_host_through_the_lookup() {
    let (addr, _) = serve().await;
    let out = sender().send(&post(format!("http://local.test:{}/ok", addr.port()))).await;
    assert_eq!(out.result.unwrap().status, 200);
}

#[tokio::test]
async fn server_error_is_a_response() {
    let (addr, _) = serve().await;
    let resp = sender().send(&post(format!("http://{addr}/fail"))).await.result.unwrap();
    assert_eq!(resp.status, 500);
    assert_eq!(resp.body, b"boom");
}

#[tokio::test]
async fn retry_after_is_copied() {
    let (addr, _) = serve().await;
    let resp = sender().send(&post(format!("http://{addr}/busy"))).await.result.unwrap();
    assert_eq!(resp.status, 503);
    assert_eq!(resp.retry_after.as_deref(), Some("2"));
}

#[tokio::test]
async fn slow_receiver_times_out() {
    let (addr, _) = serve().await;
    let s = ReqwestSender::with_lookup(&config(Duration::from_millis(300)), Arc::new(TableLookup::default()))
        .unwrap();
    let out = s.send(&post(format!("http://{addr}/slow"))).await;
    assert!(out.duration >= Duration::from_millis(300), "{:?}", out.duration);
    assert!(out.duration < Duration::from_secs(2), "{:?}", out.duration);
    let err = failure(out);
    assert_eq!(err.kind, AttemptError::Timeout, "{err}");
    assert_eq!(err.detail, "no complete response within 300ms");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (addr, hits) = serve().await;
    let err = failure(sender().send(&post(format!("http://{addr}/redirect"))).await);
    assert_eq!(err.kind, AttemptError::Redirect);
    assert_eq!(err.detail, "302 to /target");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(hits.target.load(Ordering::SeqCst), 0, "redirect target was hit");
}

#[tokio::test]
async fn other_redirect_statuses_too() {
    let app = Router::new()
        .route("/", any(|| async { Redirect::temporary("http://127.0.0.1:9/elsewhere") }))
        .route("/304", any(|| async { StatusCode::NOT_MODIFIED }));
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let err = failure(sender().send(&post(format!("http://{addr}/"))).await);
    assert_eq!(err.kind, AttemptError::Redirect);
    assert_eq!(err.detail, "307 to http://127.0.0.1:9/elsewhere");
    let err = failure(sender().send(&post(format!("http://{addr}/304"))).await);
    assert_eq!(err.kind, AttemptError::Redirect);
    assert_eq!(err.detail, "304 without a location");
}

#[tokio::test]
async fn big_body_is_capped() {
    let (addr, _) = serve().await;
    let out = sender().send(&post(format!("http://{addr}/big"))).await;
    let resp = out.result.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), 4 * 1024);
    assert!(resp.body.iter().all(|b| *b == b'x'));
}

#[tokio::test]
async fn headers_and_body_arrive() {
    let (addr, _) = serve().await;
    let mut req = post(format!("http://{addr}/echo"));
    req.headers.push(("x-studio".into(), "one".into()));
    req.headers.push(("x-studio".into(), "two".into()));
    req.headers.push(("webhook-id".into(), "msg_1".into()));
    let resp = sender().send(&req).await.result.unwrap();
    assert_eq!(resp.status, 200);
    let echoed: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    let h = &echoed["headers"];
    assert_eq!(h["content-type"], serde_json::json!(["application/json"]));
    assert_eq!(h["user-agent"], serde_json::json!(["Patchbay-Webhooks/1.0"]), "exactly one user-agent");
    assert_eq!(h["x-studio"], serde_json::json!(["one", "two"]));
    assert_eq!(h["webhook-id"], serde_json::json!(["msg_1"]));
    assert_eq!(echoed["body"], r#"{"event":"test"}"#);
}

#[tokio::test]
async fn get_without_body() {
    let (addr, _) = serve().await;
    let mut req = post(format!("http://{addr}/ok?event=test"));
    req.method = WebhookMethod::Get;
    req.body = None;
    assert_eq!(sender().send(&req).await.result.unwrap().status, 200);
}

#[tokio::test]
async fn loopback_literal_outside_allow_list_is_blocked() {
    let wire = tripwire(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0).await.expect("bind 127.0.0.2");
    let err = failure(sender().send(&post(format!("http://127.0.0.2:{}/", wire.port))).await);
    assert_eq!(err.kind, AttemptError::BlockedAddress);
    assert_eq!(err.detail, "127.0.0.2 is a blocked address (loopback)");
    wire.assert_untouched("127.0.0.2").await;
}

#[tokio::test]
async fn ipv6_loopback_literal_is_blocked() {
    let wire = tripwire("::1".parse().unwrap(), 0).await;
    let port = wire.as_ref().map_or(9, |w| w.port);
    let err = failure(sender().send(&post(format!("http://[::1]:{port}/"))).await);
    assert_eq!(err.kind, AttemptError::BlockedAddress);
    match wire {
        Some(w) => w.assert_untouched("[::1]").await,
        None => eprintln!("[::1] unavailable here: skipped the no-connection check"),
    }
}

#[tokio::test]
async fn name_resolving_to_blocked_address_is_blocked() {
    let wire = tripwire(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0).await.expect("bind 127.0.0.2");
    let err = failure(sender().send(&post(format!("http://rebind.test:{}/", wire.port))).await);
    assert_eq!(err.kind, AttemptError::BlockedAddress, "{err}");
    assert_eq!(err.detail, "rebind.test resolves only to blocked addresses (127.0.0.2)");
    wire.assert_untouched("rebind.test").await;
}

#[tokio::test]
async fn dns_rebinding_is_caught_on_the_next_connection() {
    let (addr, hits) = serve().await;
    // The rebound address: same port on 127.0.0.2, so a slip would land on the tripwire.
    let wire = tripwire(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), addr.port()).await;
    let lookup = Arc::new(TableLookup::default());
    let s = ReqwestSender::with_lookup(&config(Duration::from_secs(5)), lookup.clone()).unwrap();
    let url = format!("http://flip.test:{}/close", addr.port());

    let first = s.send(&post(url.clone())).await.result.unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(hits.rebind.load(Ordering::SeqCst), 1);

    // The server closed the connection (`Connection: close`): the next request resolves again.
    let err = failure(s.send(&post(url)).await);
    assert_eq!(err.kind, AttemptError::BlockedAddress, "{err}");
    assert_eq!(hits.rebind.load(Ordering::SeqCst), 1, "second request reached the server");
    assert_eq!(lookup.calls.load(Ordering::SeqCst), 2, "a fresh lookup per connection");
    if let Some(w) = wire {
        w.assert_untouched("rebound address").await;
    }
}

#[tokio::test]
async fn unknown_name_is_dns() {
    let err = failure(sender().send(&post("http://nowhere.test:9/".to_owned())).await);
    assert_eq!(err.kind, AttemptError::Dns, "{err}");
    assert_eq!(err.detail, "could not resolve nowhere.test: no such host");
}

#[tokio::test]
async fn closed_port_is_connect() {
    // Bind then drop to find a port nothing listens on.
    let port = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        l.local_addr().unwrap().port()
    };
    let err = failure(sender().send(&post(format!("http://127.0.0.1:{port}/"))).await);
    assert_eq!(err.kind, AttemptError::Connect, "{err}");
    assert!(!err.detail.contains("127.0.0.1"), "detail carries the URL: {}", err.detail);
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_tls() {
    let (addr, _) = serve().await;
    let err = failure(sender().send(&post(format!("https://{addr}/ok"))).await);
    assert_eq!(err.kind, AttemptError::Tls, "{err}");
}

#[tokio::test]
async fn secret_header_values_never_reach_the_detail() {
    let (addr, _) = serve().await;
    let mut req = post(format!("http://nowhere.test:{}/", addr.port()));
    req.headers.push(("authorization".into(), "Bearer s3cr3t".into()));
    let err = failure(sender().send(&req).await);
    assert!(!err.detail.contains("s3cr3t"));
    let mut req = post(format!("http://{addr}/?token=s3cr3t"));
    req.headers.push(("x-bad".into(), "s3cr3t\r\n".into()));
    let err = failure(sender().send(&req).await);
    assert_eq!(err.kind, AttemptError::InvalidRequest);
    assert!(!err.detail.contains("s3cr3t"), "{}", err.detail);
}
