//! The production [`Sender`]: reqwest over rustls, behind the SSRF guard.
//!
//! - One `reqwest::Client`, built once and reused (connection pool).
//! - Whole-request timeout, covering connect, headers and body: the request's own (a webhook's
//!   override) or else `SendConfig::timeout`, never above the sender's ceiling if it has one.
//! - No redirects: a 3xx is a failure of kind `redirect` (`"302 to /elsewhere"`).
//! - No proxies, not even from the environment (they would route around the guard).
//! - The guard is enforced on the address actually connected to: IP-literal hosts are checked
//!   before sending (reqwest does not resolve them), named hosts through [`GuardedResolver`],
//!   which is what reqwest's connector dials.
//! - Reads at most 64 KiB of the response body and keeps the first 4 KiB.
//!
//! Failure kinds, from the error's source chain (see [`classify`]):
//! [`BlockedAddressError`] → `blocked_address`; [`LookupError`] (or reqwest's own DNS error) →
//! `dns`; reqwest timeout → `timeout`; a `rustls::Error` in the chain, or a message mentioning
//! TLS/certificates/handshake → `tls`; a request that cannot be built (bad URL, scheme, method,
//! header) → `invalid_request`; anything else that kept a status from coming back (refused,
//! reset, closed, malformed reply) → `connect`. Details never include the URL (GET payloads ride
//! in its query string) or header values.

pub mod guard;
pub mod resolver;

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ipnet::IpNet;
use patchbay_core::config::SendConfig;
use patchbay_core::model::{AttemptError, WebhookMethod};
use patchbay_core::ports::{HttpResponse, OutgoingRequest, SendFailure, SendOutcome, Sender};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Method, redirect};
use url::{Host, Url};

pub use guard::{blocked_reason, is_blocked};
pub use resolver::{BlockedAddressError, GuardedResolver, LookupError, NameLookup, SystemLookup};

/// The most of a response body read off the wire.
pub const READ_LIMIT: usize = 64 * 1024;
/// The most of a response body kept (`HttpResponse::body`).
pub const KEEP_LIMIT: usize = 4 * 1024;
/// Longest `SendFailure::detail`, in characters.
const DETAIL_LIMIT: usize = 300;

/// The HTTP client could not be built (TLS setup).
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct SenderBuildError(#[source] reqwest::Error);

/// Sends webhooks with reqwest, refusing private addresses. Cheap to share (`Arc`); build once.
#[derive(Debug, Clone)]
pub struct ReqwestSender {
    client: reqwest::Client,
    allow: Arc<[IpNet]>,
    timeout: Duration,
    /// The longest any request may take, whatever it asks for (test sends answer inside an
    /// API Gateway request).
    ceiling: Option<Duration>,
}

impl ReqwestSender {
    /// A sender resolving names with the system resolver.
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(config: &SendConfig) -> Result<Self, SenderBuildError> {
        Self::with_lookup(config, Arc::new(SystemLookup))
    }

    /// A sender resolving names with `lookup` (tests inject answers here).
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn with_lookup(config: &SendConfig, lookup: Arc<dyn NameLookup>) -> Result<Self, SenderBuildError> {
        let allow: Arc<[IpNet]> = config.allow_cidrs.clone().into();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(redirect::Policy::none())
            .no_proxy()
            .dns_resolver(GuardedResolver::new(lookup, Arc::clone(&allow)))
            .build()
            .map_err(SenderBuildError)?;
        Ok(ReqwestSender { client, allow, timeout: config.timeout, ceiling: None })
    }

    /// The same sender, cutting every request at `ceiling` at the latest, also those whose own
    /// timeout is longer.
    #[must_use]
    pub fn with_timeout_ceiling(self, ceiling: Duration) -> Self {
        ReqwestSender { ceiling: Some(ceiling), ..self }
    }

    /// How long `request` may take: its own timeout or the configured one, within the ceiling.
    fn timeout_for(&self, request: &OutgoingRequest) -> Duration {
        let wanted = request.timeout.unwrap_or(self.timeout);
        self.ceiling.map_or(wanted, |ceiling| wanted.min(ceiling))
    }

    async fn send_timed(&self, request: &OutgoingRequest) -> Result<HttpResponse, SendFailure> {
        let timeout = self.timeout_for(request);
        let http_request = self.prepare(request, timeout)?;
        let mut response = self.client.execute(http_request).await.map_err(|e| failure(&e, None, timeout))?;

        let status = response.status();
        if status.is_redirection() {
            let detail = match response.headers().get(LOCATION) {
                Some(to) => format!("{} to {}", status.as_u16(), String::from_utf8_lossy(to.as_bytes())),
                None => format!("{} without a location", status.as_u16()),
            };
            return Err(SendFailure { kind: AttemptError::Redirect, detail: truncate(detail) });
        }
        let retry_after =
            response.headers().get(RETRY_AFTER).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());

        // The receiver answered: its status decides. A body that breaks off (or runs past the
        // timeout) keeps what arrived; the body is only shown to the studio.
        let mut body = Vec::new();
        let mut read = 0usize;
        while read < READ_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    let room = KEEP_LIMIT.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..room.min(chunk.len())]);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %chain_detail(&e), "response body broke off");
                    break;
                }
            }
        }
        Ok(HttpResponse { status: status.as_u16(), body, retry_after })
    }

    /// Validate and build the request; refuse blocked IP-literal hosts before any connection.
    fn prepare(&self, request: &OutgoingRequest, timeout: Duration) -> Result<reqwest::Request, SendFailure> {
        let url = Url::parse(&request.url).map_err(|e| invalid(format!("invalid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!("unsupported URL scheme {:?}", url.scheme())));
        }
        // reqwest connects to IP-literal hosts without asking the resolver: check them here.
        let literal = match url.host() {
            Some(Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
            Some(Host::Domain(_)) => None,
            None => return Err(invalid("URL has no host".to_owned())),
        };
        if let Some(ip) = literal
            && let Some(why) = blocked_reason(ip, &self.allow)
        {
            tracing::warn!(%ip, range = why, "refused: blocked address");
            return Err(SendFailure {
                kind: AttemptError::BlockedAddress,
                detail: format!("{ip} is a blocked address ({why})"),
            });
        }

        let mut headers = HeaderMap::with_capacity(request.headers.len());
        for (name, value) in &request.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("invalid header name {:?}", name.escape_debug().to_string())))?;
            // Never echo the value: it may hold a secret.
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("invalid value for header {header}")))?;
            headers.append(header, value);
        }

        let mut builder = self.client.request(method(request.method), url).headers(headers).timeout(timeout);
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        builder.build().map_err(|e| failure(&e, Some(AttemptError::InvalidRequest), timeout))
    }
}

/// What went wrong, for the attempt record; `timeout` is the one this request had.
fn failure(err: &reqwest::Error, kind: Option<AttemptError>, timeout: Duration) -> SendFailure {
    let kind = kind.unwrap_or_else(|| classify(err));
    let detail = match kind {
        AttemptError::Timeout => format!("no complete response within {timeout:?}"),
        AttemptError::BlockedAddress => {
            find::<BlockedAddressError>(err).map_or_else(|| chain_detail(err), ToString::to_string)
        }
        AttemptError::Dns => find::<LookupError>(err).map_or_else(|| chain_detail(err), ToString::to_string),
        _ => chain_detail(err),
    };
    SendFailure { kind, detail: truncate(detail) }
}

#[async_trait]
impl Sender for ReqwestSender {
    async fn send(&self, request: &OutgoingRequest) -> SendOutcome {
        let started = Instant::now();
        let result = self.send_timed(request).await;
        SendOutcome { duration: started.elapsed(), result }
    }
}

fn method(method: WebhookMethod) -> Method {
    match method {
        WebhookMethod::Get => Method::GET,
        WebhookMethod::Post => Method::POST,
        WebhookMethod::Put => Method::PUT,
        WebhookMethod::Patch => Method::PATCH,
        WebhookMethod::Delete => Method::DELETE,
    }
}

fn invalid(detail: String) -> SendFailure {
    SendFailure { kind: AttemptError::InvalidRequest, detail: truncate(detail) }
}

/// The failure kind for a reqwest error, most specific first.
#[must_use]
pub fn classify(err: &reqwest::Error) -> AttemptError {
    if find::<BlockedAddressError>(err).is_some() {
        AttemptError::BlockedAddress
    } else if find::<LookupError>(err).is_some() || err.is_dns() {
        AttemptError::Dns
    } else if err.is_timeout() {
        AttemptError::Timeout
    } else if is_tls(err) {
        AttemptError::Tls
    } else if err.is_builder() {
        AttemptError::InvalidRequest
    } else if err.is_redirect() {
        AttemptError::Redirect
    } else {
        // Refused, reset, closed early, unreachable, or a reply that isn't HTTP: no status came
        // back from the connection.
        AttemptError::Connect
    }
}

/// A `rustls::Error` anywhere in the chain, or failing that a message that names TLS.
fn is_tls(err: &reqwest::Error) -> bool {
    causes(err).iter().any(|e| {
        if e.is::<rustls::Error>() {
            return true;
        }
        let text = e.to_string().to_ascii_lowercase();
        ["tls", "certificate", "handshake", "ssl"].iter().any(|w| text.contains(w))
    })
}

/// The first error of type `T` in the chain.
fn find<T: StdError + 'static>(err: &reqwest::Error) -> Option<&T> {
    causes(err).into_iter().find_map(|e| e.downcast_ref::<T>())
}

/// `err` and its causes, looking inside `io::Error`s too (their `source()` skips the error they
/// wrap, which is where rustls and resolver errors sit).
fn causes(err: &reqwest::Error) -> Vec<&(dyn StdError + 'static)> {
    let mut out: Vec<&(dyn StdError + 'static)> = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if out.len() >= 32 {
            break;
        }
        out.push(e);
        next = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner),
            None => e.source(),
        };
    }
    out
}

/// The causes' messages, outermost first, without reqwest's own (it may carry the URL).
fn chain_detail(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in causes(err).into_iter().skip(1) {
        let text = e.to_string();
        if text.is_empty() || parts.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    if parts.is_empty() {
        // Only reqwest's own error: its message without the URL.
        let text = match err.url() {
            Some(url) => err.to_string().replace(&format!(" for url ({url})"), ""),
            None => err.to_string(),
        };
        parts.push(text);
    }
    parts.join(": ")
}

fn truncate(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(DETAIL_LIMIT) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(allow: &[&str]) -> ReqwestSender {
        let config = SendConfig {
            allow_cidrs: allow.iter().map(|s| s.parse().unwrap()).collect(),
            timeout: Duration::from_secs(1),
            ..SendConfig::default()
        };
        ReqwestSender::new(&config).unwrap()
    }

    fn request(url: &str, headers: &[(&str, &str)]) -> OutgoingRequest {
        OutgoingRequest {
            method: WebhookMethod::Post,
            url: url.to_owned(),
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            body: Some(b"{}".to_vec()),
            timeout: None,
        }
    }

    #[test]
    fn a_requests_own_timeout_wins_within_the_ceiling() {
        let own =
            |secs| OutgoingRequest { timeout: Some(Duration::from_secs(secs)), ..request("http://x/", &[]) };
        let plain = sender(&[]);
        assert_eq!(plain.timeout_for(&request("http://x/", &[])), Duration::from_secs(1));
        assert_eq!(plain.timeout_for(&own(45)), Duration::from_secs(45));
        let capped = sender(&[]).with_timeout_ceiling(Duration::from_secs(20));
        assert_eq!(capped.timeout_for(&own(45)), Duration::from_secs(20));
        assert_eq!(capped.timeout_for(&own(10)), Duration::from_secs(10));
    }

    // None of these reach the network: each is refused while preparing the request.

    #[tokio::test]
    async fn refuses_blocked_ip_literals_before_connecting() {
        let s = sender(&[]);
        for url in [
            "http://127.0.0.1:9/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:9/",
            "http://[::ffff:10.0.0.1]/",
            "http://[fe80::1]/",
            "http://0x7f.1:9/",
            "http://2130706433:9/",
        ] {
            let out = s.send(&request(url, &[])).await;
            let err = out.result.unwrap_err();
            assert_eq!(err.kind, AttemptError::BlockedAddress, "{url}: {err}");
        }
        let err = s.send(&request("http://169.254.169.254/", &[])).await.result.unwrap_err();
        assert_eq!(err.detail, "169.254.169.254 is a blocked address (link-local)");
    }

    #[tokio::test]
    async fn invalid_requests() {
        // 127.0.0.1 allowed so the header checks are reached (nothing listens on :9 anyway).
        let s = sender(&["127.0.0.1/32"]);
        for (url, headers) in [
            ("not a url", vec![]),
            ("ftp://example.com/", vec![]),
            ("file:///etc/passwd", vec![]),
            ("http://127.0.0.1:9/", vec![("bad name", "x")]),
            ("http://127.0.0.1:9/", vec![("x-secret", "line\nbreak-s3cr3t")]),
        ] {
            let err = s.send(&request(url, &headers)).await.result.unwrap_err();
            assert_eq!(err.kind, AttemptError::InvalidRequest, "{url}: {err}");
            assert!(!err.detail.contains("s3cr3t"), "detail leaks a header value: {}", err.detail);
        }
    }

    #[test]
    fn truncates_details_on_char_boundaries() {
        let long = "é".repeat(400);
        let cut = truncate(long);
        assert_eq!(cut.chars().count(), DETAIL_LIMIT + 1);
        assert_eq!(truncate("short".to_owned()), "short");
    }
}
