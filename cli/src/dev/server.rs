//! `patchbay dev`'s HTTP server: the router under hyper's HTTP/1.1 connection, with the limits
//! `axum::serve` does not set: a header-read timeout (which hyper also runs while a keep-alive
//! connection waits for its next request), a request-body deadline, and a cap on open
//! connections. HTTP/1.1 only: no h2c, whose stream resets would bypass the 413s and the error
//! shape (API Gateway terminates HTTP/2 in front of the Lambda functions anyway).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use patchbay_core::bounded::BoundedTasks;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Sleep;
use tower::ServiceExt;

use super::wire_errors::{self, ErrorBodies};

/// What a client may cost the local server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From when the server starts waiting for a request (a new connection, or a keep-alive one
    /// after its last response) until its headers are complete. Past it the connection closes.
    pub header_timeout: Duration,
    /// From the end of the headers until the body is complete; past it, 408.
    pub body_timeout: Duration,
    /// Open connections at once; further ones wait in the listen backlog.
    pub max_connections: usize,
}

/// Serve `router` on `listener` until `shutdown` flips to true, then let open connections
/// finish their current request (idle ones close at once) and return.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = BoundedTasks::new(limits.max_connections);
    while let Some(slot) = connections.slot(&mut shutdown).await {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        match accepted {
            Ok((stream, _)) => {
                connections.spawn(slot, connection(stream, router.clone(), limits, shutdown.clone()));
            }
            Err(err) => {
                // Out of file descriptors, usually: give connections a moment to close.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    connections.finish().await;
}

async fn connection(stream: TcpStream, router: Router, limits: Limits, mut shutdown: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    // Responses the router produced that hyper has yet to write: anything else hyper writes is
    // its own parse-error answer, which `ErrorBodies` gives the project's error body.
    let router_responses = Arc::new(AtomicUsize::new(0));
    let io = TokioIo::new(ErrorBodies::new(stream, router_responses.clone()));
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let (router, router_responses) = (router.clone(), router_responses.clone());
        async move {
            let response = answer(router, request, limits.body_timeout).await;
            router_responses.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>(response)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // A dropped sender means the server is going away too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The router's answer, or 408 if the body did not arrive in time.
async fn answer(router: Router, request: Request<Incoming>, body_timeout: Duration) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let timed_out = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| Body::new(DeadlineBody::new(body, body_timeout, timed_out.clone())));
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if !timed_out.load(Ordering::SeqCst) {
        return response;
    }
    let message = format!("the request body did not arrive within {} s", body_timeout.as_secs_f32());
    let mut response = wire_errors::error_response(&path, 408, "request_timeout", &message).into_response();
    // The rest of the body may still come: the connection cannot carry another request.
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline passes, and says so through `timed_out` (the
/// router turns a body error into a 400; the server makes that a 408).
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration, timed_out: Arc<AtomicBool>) -> Self {
        DeadlineBody { inner, deadline: Box::pin(tokio::time::sleep(timeout)), timed_out }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::SeqCst);
            return Poll::Ready(Some(Err("request body timed out".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
