//! Error bodies for the answers hyper writes itself. When a request cannot be parsed (a garbage
//! request line, a control byte in a header value, conflicting `Content-Length`s, headers too
//! large, a URI too long), hyper answers 400, 431 or 414 with an empty body before the router
//! ever runs, and offers no hook to change that. `ErrorBodies` sits between hyper and the socket
//! and rewrites exactly those answers (a response head hyper writes while the router has no
//! response pending) into the project's error shape, or PatchKit's under `/v2/keys`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use patchbay_core::http::{ApiError, PATCHKIT_CONTENT_TYPE};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Enough of a request to see its path prefix.
const REQUEST_START_KEPT: usize = 64;
const PATCHKIT_PREFIX: &str = "/v2/keys";

/// An error answer in the shape clients of `path` parse: PatchKit's `{"message":…}` under
/// `/v2/keys` (existing games read it), the project's `{"error":{"code","message"}}` elsewhere.
pub fn error_response(path: &str, status: u16, code: &'static str, message: &str) -> Response {
    if !path.starts_with(PATCHKIT_PREFIX) {
        return ApiError::new(status, code, message).into_response();
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, serde_json::json!({ "message": message }).to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PATCHKIT_CONTENT_TYPE));
    response
}

/// The status, code and message for each answer hyper writes on its own.
fn automatic_answer(head: &[u8]) -> Option<(u16, &'static str, &'static str)> {
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..4)?;
    match status {
        b"400 " => {
            Some((400, "bad_request", "the request is not valid HTTP/1.1 (request line, header or length)"))
        }
        b"414 " => Some((414, "uri_too_long", "the request target is too long")),
        b"431 " => Some((431, "headers_too_large", "the request headers are too large or too many")),
        _ => None,
    }
}

/// The path of a request line, if `start` holds one far enough.
fn request_path(start: &[u8]) -> &str {
    let line = start.split(|&b| b == b' ').nth(1).unwrap_or_default();
    std::str::from_utf8(line).unwrap_or_default()
}

/// The whole HTTP/1.1 answer for one of hyper's own errors; the connection closes after it
/// (hyper closes it after a parse error anyway).
fn rewritten(status: u16, code: &'static str, message: &str, path: &str) -> Vec<u8> {
    let (body, content_type) = if path.starts_with(PATCHKIT_PREFIX) {
        (serde_json::json!({ "message": message }).to_string(), PATCHKIT_CONTENT_TYPE)
    } else {
        (ApiError::new(status, code, message).body(), "application/json")
    };
    let reason = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let mut bytes = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// The socket as hyper sees it. Writes are not vectored, so each response head reaches
/// `poll_write` at the start of one buffer.
pub struct ErrorBodies<S> {
    inner: S,
    router_responses: Arc<AtomicUsize>,
    /// The first bytes of the request being read, for its path.
    request_start: Vec<u8>,
    /// A rewritten answer still to be written, and how much of it is.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> ErrorBodies<S> {
    pub fn new(inner: S, router_responses: Arc<AtomicUsize>) -> Self {
        ErrorBodies { inner, router_responses, request_start: Vec::new(), pending: None }
    }

    /// Whether this head belongs to a response the router produced (and count it written).
    fn take_router_response(&self) -> bool {
        self.router_responses.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

impl<S: AsyncWrite + Unpin> ErrorBodies<S> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ErrorBodies<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let room = REQUEST_START_KEPT.saturating_sub(self.request_start.len());
        let new = &buf.filled()[before..];
        let kept = &new[..new.len().min(room)];
        self.request_start.extend_from_slice(kept);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ErrorBodies<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if buf.starts_with(b"HTTP/1.") {
            if self.take_router_response() {
                // The next bytes read start the next request.
                self.request_start.clear();
            } else if !self.request_start.is_empty()
                && let Some((status, code, message)) = automatic_answer(buf)
            {
                // Hyper answers a parse error only after reading the bad request, so bytes were
                // read since the last router response: a later chunk of that response's body is
                // never mistaken for a head.
                // Hyper's head has an empty body: everything up to the blank line is replaced.
                let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").map_or(buf.len(), |p| p + 4);
                let mut answer = rewritten(status, code, message, request_path(&self.request_start));
                answer.extend_from_slice(&buf[head_end..]);
                self.pending = Some((answer, 0));
                // Written as far as the socket takes it now; flush and shutdown finish it.
                if let Poll::Ready(Err(err)) = self.poll_pending(cx) {
                    return Poll::Ready(Err(err));
                }
                return Poll::Ready(Ok(buf.len()));
            }
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_own_error_statuses_are_rewritten() {
        assert_eq!(
            automatic_answer(b"HTTP/1.1 431 Request Header Fields Too Large\r\n").map(|a| a.0),
            Some(431)
        );
        assert_eq!(automatic_answer(b"HTTP/1.1 100 Continue\r\n\r\n"), None);
        assert_eq!(automatic_answer(b"HTTP/1.1 200 OK\r\n"), None);
    }

    #[test]
    fn key_check_paths_get_patchkits_shape() {
        let answer = rewritten(414, "uri_too_long", "too long", request_path(b"GET /v2/keys/AAAA"));
        let text = String::from_utf8(answer).unwrap();
        assert!(text.ends_with(r#"{"message":"too long"}"#), "{text}");
        let answer = rewritten(400, "bad_request", "bad", request_path(b"POST /v1/events HTTP/1.1\r\n"));
        let text = String::from_utf8(answer).unwrap();
        assert!(text.ends_with(r#"{"error":{"code":"bad_request","message":"bad"}}"#), "{text}");
        assert!(text.contains("content-length: 48\r\n"), "{text}");
    }
}
