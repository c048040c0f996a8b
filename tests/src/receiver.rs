//! A webhook receiver on 127.0.0.1 that records every request and answers from a script.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::any;

#[derive(Debug, Clone)]
pub struct Request {
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Shared {
    seen: Vec<Request>,
    /// Statuses to answer, in order; 200 once they run out. `HANG` sleeps past any test
    /// timeout instead of answering.
    script: VecDeque<u16>,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Receiver {
    /// Start on a random 127.0.0.1 port, answering `script` in order, then 200.
    pub async fn start(script: &[u16]) -> Receiver {
        let shared =
            Arc::new(Mutex::new(Shared { seen: Vec::new(), script: script.iter().copied().collect() }));
        let app = Router::new().fallback(any(handle)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, shared }
    }

    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    #[must_use]
    pub fn seen(&self) -> Vec<Request> {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).seen.clone()
    }
}

/// A script entry that makes the receiver hang (3 s) instead of answering in time.
pub const HANG: u16 = 0;

async fn handle(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = {
        let mut shared = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        shared.seen.push(Request { uri: uri.to_string(), headers, body });
        shared.script.pop_front().unwrap_or(200)
    };
    if status == HANG {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        return StatusCode::OK;
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}
