//! A webhook receiver on 127.0.0.1 that records every request and answers from a script.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// How long every request waits before its answer.
    delay: Duration,
}

/// Requests inside the handler right now, and requests answered (the handler ran to the end; a
/// request whose sender went away mid-wait is dropped and never counted here).
#[derive(Default)]
struct Counters {
    in_flight: AtomicUsize,
    answered: AtomicUsize,
}

/// Counts a request as in flight for as long as its handler lives, however it ends.
struct InFlight(Arc<Counters>);

impl InFlight {
    fn enter(counters: &Arc<Counters>) -> InFlight {
        counters.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(counters.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    counters: Arc<Counters>,
}

type HandlerState = (Arc<Mutex<Shared>>, Arc<Counters>);

impl Receiver {
    /// Start on a random 127.0.0.1 port, answering `script` in order, then 200.
    pub async fn start(script: &[u16]) -> Receiver {
        Receiver::start_with(script, Duration::ZERO).await
    }

    /// Start answering 200 to everything, each request only after `delay`: sends stay in flight
    /// long enough for a test to catch them there.
    pub async fn start_slow(delay: Duration) -> Receiver {
        Receiver::start_with(&[], delay).await
    }

    async fn start_with(script: &[u16], delay: Duration) -> Receiver {
        let shared = Arc::new(Mutex::new(Shared {
            seen: Vec::new(),
            script: script.iter().copied().collect(),
            delay,
        }));
        let counters = Arc::new(Counters::default());
        let app = Router::new().fallback(any(handle)).with_state((shared.clone(), counters.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, shared, counters }
    }

    /// Requests received and not yet answered.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.counters.in_flight.load(Ordering::SeqCst)
    }

    /// Requests answered, as opposed to abandoned by their sender before the answer.
    #[must_use]
    pub fn answered(&self) -> usize {
        self.counters.answered.load(Ordering::SeqCst)
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
    State((shared, counters)): State<HandlerState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let _in_flight = InFlight::enter(&counters);
    let (status, delay) = {
        let mut shared = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        shared.seen.push(Request { uri: uri.to_string(), headers, body });
        (shared.script.pop_front().unwrap_or(200), shared.delay)
    };
    let (status, delay) = if status == HANG { (200, Duration::from_secs(3)) } else { (status, delay) };
    tokio::time::sleep(delay).await;
    counters.answered.fetch_add(1, Ordering::SeqCst);
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}
