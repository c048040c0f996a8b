//! `patchbay dev` under hostile clients, over raw sockets (#14): slow and silent connections are
//! cut off while healthy requests keep answering, open connections are capped, every 4xx the
//! server writes carries the error shape, and HTTP/2 without TLS is not offered.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use patchbay_e2e::DevServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One-second header and body timeouts keep the test short.
const QUICK: &[(&str, &str)] = &[("PATCHBAY_DEV_HEADER_TIMEOUT", "1s"), ("PATCHBAY_DEV_BODY_TIMEOUT", "1s")];

/// What a raw connection got: the bytes, and whether the server closed it.
struct Exchange {
    bytes: Vec<u8>,
    closed: bool,
}

impl Exchange {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    fn status(&self) -> u16 {
        self.text().get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    fn json(&self) -> Value {
        let text = self.text();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not a JSON body ({e}): {text:?}"))
    }
}

/// Read until the server closes the connection or `wait` passes.
async fn read_for(stream: &mut TcpStream, wait: Duration) -> Exchange {
    let deadline = tokio::time::Instant::now() + wait;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return Exchange { bytes, closed: true },
            Ok(Ok(n)) => bytes.extend_from_slice(&chunk[..n]),
            Err(_) => return Exchange { bytes, closed: false },
        }
    }
}

async fn send(addr: SocketAddr, request: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    stream
}

/// Send raw bytes and read the answer until the server closes (or 3 s).
async fn exchange(addr: SocketAddr, request: &[u8]) -> Exchange {
    read_for(&mut send(addr, request).await, Duration::from_secs(3)).await
}

/// A complete management request, answered 404 (JSON) by a healthy server; how long it took.
async fn healthy_request(dev: &DevServer) -> Duration {
    let started = Instant::now();
    let (status, body) = dev.admin(reqwest::Method::GET, "/v1/apps/app_nope", None).await;
    assert_eq!(status, 404, "{body}");
    started.elapsed()
}

fn assert_error_shape(exchange: &Exchange, status: u16, code: &str) {
    assert_eq!(exchange.status(), status, "{}", exchange.text());
    assert_eq!(exchange.json()["error"]["code"], code, "{}", exchange.text());
    assert!(exchange.json()["error"]["message"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_while_healthy_requests_answer() {
    let dev = DevServer::start(QUICK);
    let addr = dev.addr;
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut half_headers = send(addr, b"GET /v1/apps/x HTTP/1.1\r\nHost: local\r\nX-Slow: ").await;
    let mut short_body = send(
        addr,
        b"POST /v1/events HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"",
    )
    .await;
    let mut idle = send(addr, b"GET /v1/apps/x HTTP/1.1\r\nHost: local\r\n\r\n").await;
    let mut first_answer = [0u8; 12];
    idle.read_exact(&mut first_answer).await.unwrap();
    assert_eq!(&first_answer, b"HTTP/1.1 401");

    for _ in 0..5 {
        assert!(healthy_request(&dev).await < Duration::from_millis(500));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let wait = Duration::from_secs(3);
    assert!(read_for(&mut silent, wait).await.closed, "a silent connection stays open");
    assert!(read_for(&mut half_headers, wait).await.closed, "half-sent headers keep the connection");
    let idle = read_for(&mut idle, wait).await;
    assert!(idle.closed, "an idle keep-alive connection stays open");
    let short = read_for(&mut short_body, wait).await;
    assert_error_shape(&short, 408, "request_timeout");
    assert!(short.closed, "the connection of a timed-out body is closed");
    assert!(started.elapsed() < Duration::from_secs(4), "cut off after {:?}", started.elapsed());
    assert!(healthy_request(&dev).await < Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_are_capped() {
    let mut env = QUICK.to_vec();
    env.push(("PATCHBAY_DEV_MAX_CONNECTIONS", "3"));
    let dev = DevServer::start(&env);
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(dev.addr).await.unwrap());
    }
    // A fourth connection waits in the backlog until the silent ones time out (1 s).
    let waited = healthy_request(&dev).await;
    assert!(waited >= Duration::from_millis(700), "answered past the cap after {waited:?}");
    assert!(waited < Duration::from_secs(3), "answered only after {waited:?}");
    drop(silent);
    assert!(healthy_request(&dev).await < Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_outside_the_router_has_a_json_body() {
    let dev = DevServer::start(QUICK);
    let addr = dev.addr;

    let garbage = exchange(addr, b"GARBAGE\r\n\r\n").await;
    assert_error_shape(&garbage, 400, "bad_request");
    let control_byte =
        exchange(addr, b"POST /v1/events HTTP/1.1\r\nHost: local\r\nwebhook-id: msg\x7fid\r\n\r\n").await;
    assert_error_shape(&control_byte, 400, "bad_request");
    let two_lengths = exchange(
        addr,
        b"POST /v1/events HTTP/1.1\r\nHost: local\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    )
    .await;
    assert_error_shape(&two_lengths, 400, "bad_request");

    let long_uri = format!("GET /v1/apps/{} HTTP/1.1\r\nHost: local\r\n\r\n", "a".repeat(70_000));
    assert_error_shape(&exchange(addr, long_uri.as_bytes()).await, 414, "uri_too_long");
    let many_headers: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    let many_headers = format!("GET /v1/apps/x HTTP/1.1\r\nHost: local\r\n{many_headers}\r\n");
    assert_error_shape(&exchange(addr, many_headers.as_bytes()).await, 431, "headers_too_large");

    // The key check keeps PatchKit's shape, as games parse it.
    let key_uri = format!("GET /v2/keys/{}?app_secret=s HTTP/1.1\r\nHost: local\r\n\r\n", "K".repeat(70_000));
    let key_check = exchange(addr, key_uri.as_bytes()).await;
    assert_eq!(key_check.status(), 414, "{}", key_check.text());
    assert!(key_check.json()["message"].is_string(), "{}", key_check.text());
    let key_405 = exchange(addr, b"DELETE /v2/keys/ABC HTTP/1.1\r\nHost: local\r\n\r\n").await;
    assert_eq!(key_405.status(), 405, "{}", key_405.text());
    assert!(key_405.json()["message"].is_string(), "{}", key_405.text());

    // 405 on known paths, with the admin token so authentication is not what answers.
    for (method, path) in [
        ("GET", "/v1/events"),
        ("DELETE", "/v1/apps"),
        ("PUT", "/v1/webhooks/wh_x/test"),
        ("GET", "/v1/apps/app_x/keys/import"),
        ("DELETE", "/v1/keys/ABC"),
    ] {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: local\r\nAuthorization: Bearer {}\r\n\r\n",
            dev.admin_token
        );
        let answer = exchange(addr, request.as_bytes()).await;
        assert_error_shape(&answer, 405, "method_not_allowed");
    }
    // Healthy requests on the same server still answer.
    assert!(healthy_request(&dev).await < Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_ascii_webhook_id_is_reported_invalid_not_missing() {
    let dev = DevServer::start(QUICK);
    let mut request =
        b"POST /v1/events HTTP/1.1\r\nHost: local\r\nContent-Length: 2\r\nwebhook-id: msg_".to_vec();
    request.extend_from_slice("é".as_bytes());
    request.extend_from_slice(
        b"\r\nwebhook-timestamp: 1\r\nwebhook-signature: v1,x\r\nConnection: close\r\n\r\n{}",
    );
    let answer = exchange(dev.addr, &request).await;
    assert_error_shape(&answer, 401, "unauthorized");
    let message = answer.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("invalid header webhook-id"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_without_tls_is_not_offered_and_large_uploads_get_413() {
    let dev = DevServer::start(QUICK);
    // Prior-knowledge h2c: the preface and an empty SETTINGS frame. An HTTP/2 server answers
    // with its own SETTINGS frame (type 0x4 at byte 3); this one closes without a frame.
    let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    preface.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let answer = exchange(dev.addr, &preface).await;
    assert!(answer.closed, "h2c connection left open");
    assert!(answer.bytes.get(3) != Some(&4), "an HTTP/2 SETTINGS frame came back: {:?}", answer.bytes);

    // An h2c upgrade request is served as HTTP/1.1: 2 MB gets the JSON 413.
    let body = vec![b'x'; 2 * 1024 * 1024];
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: local\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
         HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = send(dev.addr, head.as_bytes()).await;
    // The server may answer and close before reading it all: a failed write is fine.
    let _ = stream.write_all(&body).await;
    let answer = read_for(&mut stream, Duration::from_secs(3)).await;
    assert_error_shape(&answer, 413, "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_receiver_is_not_served_without_demo() {
    let dev = DevServer::start(QUICK);
    let answer =
        exchange(dev.addr, b"GET /dev/receiver HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n").await;
    assert_error_shape(&answer, 404, "no_route");
}
