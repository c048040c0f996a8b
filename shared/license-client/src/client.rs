//! The HTTP call to the Keys service: `GET {base}/v2/keys/{key}?app_secret=…[&key_secret=…]`.

use std::fmt;
use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderValue, USER_AGENT};
use url::Url;

use crate::key_secret_cache::KeySecretCache;
use crate::signed::{VERDICT_HEADER, VerdictKey, new_nonce, now_unix};
use crate::verdict::{KeyInfo, Verdict};

/// Everything but RFC 3986 "unreserved" characters is escaped in the key's path segment, so
/// `/`, `?`, `#`, `%`, `+`, spaces and control characters reach the server exactly as they are
/// in `app_data.json`.
const KEY_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A `200` body larger than this is not parsed (the verdict stays `Valid`).
const MAX_BODY: usize = 64 * 1024;

const USER_AGENT_VALUE: &str = concat!("patchbay-license-client/", env!("CARGO_PKG_VERSION"));

/// Checks product keys against a Keys service.
///
/// Build it once and keep it: its HTTP client (one for [`check`](LicenseClient::check), one for
/// [`check_blocking`](LicenseClient::check_blocking), each made on first use) keeps connections
/// open, so repeated checks skip the TCP and TLS handshakes. Clones share them. Redirects are
/// never followed (the query carries the app secret). `Debug` redacts both secrets.
#[derive(Clone)]
pub struct LicenseClient {
    base_url: Url,
    app_secret: String,
    key_secret: Option<String>,
    key_secret_cache: Option<KeySecretCache>,
    verdict_key: Option<VerdictKey>,
    timeout: Duration,
    http: Arc<HttpClients>,
}

/// The HTTP clients, each built the first time its API is used: an async-only game never starts
/// the blocking client's runtime thread, and a blocking-only one never needs Tokio.
#[derive(Default)]
struct HttpClients {
    async_client: OnceLock<reqwest::Client>,
    blocking_client: OnceLock<reqwest::blocking::Client>,
}

/// The base URL given to [`LicenseClient::new`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("Keys service URL {url:?} is not a valid URL: {source}")]
    InvalidBaseUrl { url: String, source: url::ParseError },
    #[error("Keys service URL {url:?} must be an http:// or https:// URL")]
    UnsupportedBaseUrl { url: String },
}

impl fmt::Debug for LicenseClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LicenseClient")
            .field("base_url", &self.base_url.as_str())
            .field("app_secret", &"***")
            .field("key_secret", &self.key_secret.as_ref().map(|_| "***"))
            .field("key_secret_cache", &self.key_secret_cache.as_ref().map(KeySecretCache::dir))
            .field("verdict_key", &self.verdict_key)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl LicenseClient {
    /// How long a check may take, connection included, unless [`with_timeout`] says otherwise.
    ///
    /// [`with_timeout`]: LicenseClient::with_timeout
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// A client for the Keys service at `base_url` (e.g. `https://keys.example.com`, or one with
    /// a path prefix such as `https://api.example.com/prod`; any query or fragment is dropped).
    pub fn new(base_url: &str, app_secret: impl Into<String>) -> Result<Self, ConfigError> {
        let mut url = Url::parse(base_url)
            .map_err(|source| ConfigError::InvalidBaseUrl { url: base_url.to_owned(), source })?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(ConfigError::UnsupportedBaseUrl { url: base_url.to_owned() });
        }
        url.set_query(None);
        url.set_fragment(None);
        Ok(Self {
            base_url: url,
            app_secret: app_secret.into(),
            key_secret: None,
            key_secret_cache: None,
            verdict_key: None,
            timeout: Self::DEFAULT_TIMEOUT,
            http: Arc::default(),
        })
    }

    /// Limits each check (connecting, sending, reading the answer) to `timeout`; past it the
    /// verdict is [`Verdict::Unverified`].
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        // The clients carry the timeout: new ones, not shared with clones made before.
        self.http = Arc::default();
        self
    }

    /// Sends `key_secret` with each check. The service then verifies it and does not count a new
    /// registration (a check without it registers one use of the key).
    #[must_use]
    pub fn with_key_secret(mut self, key_secret: impl Into<String>) -> Self {
        self.key_secret = Some(key_secret.into());
        self
    }

    /// Keeps the key secret of each valid check in `cache` and sends it on later checks of the
    /// same key, so only the first start of an install registers a use and later starts only
    /// read the key. When a valid answer carries a different secret than the cached one (the
    /// service registers again when it is sent a stale secret), the cache takes the new one.
    /// Nothing is cached from any other answer. A secret given with
    /// [`with_key_secret`](LicenseClient::with_key_secret) is sent instead of the cached one.
    ///
    /// A `403` to a check that sent a cached secret is retried once without it: a service that
    /// refuses stale secrets instead of registering again (PatchKit's own, or an older one)
    /// must not lock the player out over a file on their disk. The cache is small local files,
    /// read and written in place, in the async API too. A failed write is not an error: it only
    /// means the next start registers again.
    #[must_use]
    pub fn with_key_secret_cache(mut self, cache: KeySecretCache) -> Self {
        self.key_secret_cache = Some(cache);
        self
    }

    /// Checks that each answer comes from the Keys service holding `key` (its public verdict
    /// key, from `patchbay verdict-key`): every check sends a fresh nonce, and an answer whose
    /// `x-patchbay-verdict` signature is missing or wrong, names another nonce, is dated more
    /// than 5 minutes from this machine's clock, or a `200` about another key, is
    /// [`Verdict::Spoofed`]. A `5xx`, a timeout or an unexpected status carries no claim about
    /// the key and stays [`Verdict::Unverified`] (so [`UnverifiedPolicy`] still decides; a game
    /// that wants proof uses [`UnverifiedPolicy::TreatAsInvalid`]).
    ///
    /// [`UnverifiedPolicy`]: crate::UnverifiedPolicy
    /// [`UnverifiedPolicy::TreatAsInvalid`]: crate::UnverifiedPolicy::TreatAsInvalid
    #[must_use]
    pub fn with_verdict_key(mut self, key: VerdictKey) -> Self {
        self.verdict_key = Some(key);
        self
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The configured base URL.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// Checks `product_key`, asynchronously. Needs a Tokio runtime (reqwest's async client).
    ///
    /// Never fails: anything that keeps the service from answering is [`Verdict::Unverified`].
    /// A key that cannot be a key (empty, `.` or `..`) is [`Verdict::Invalid`] without a request.
    pub async fn check(&self, product_key: &str) -> Verdict {
        let cached = self.cached_key_secret(product_key);
        let mut verdict = self.request(product_key, self.key_secret_to_send(cached.as_deref())).await;
        if self.refused_cached_secret(cached.as_deref(), &verdict) {
            verdict = self.request(product_key, None).await;
        }
        self.remember_key_secret(product_key, cached.as_deref(), &verdict);
        verdict
    }

    /// Checks `product_key`, blocking the calling thread for at most about the timeout (twice
    /// that if a cached key secret is refused and retried without).
    ///
    /// For games without an async runtime. Do not call it from inside one (reqwest's blocking
    /// client panics there): use [`check`](LicenseClient::check), or call this from
    /// `tokio::task::spawn_blocking` or a plain thread.
    pub fn check_blocking(&self, product_key: &str) -> Verdict {
        let cached = self.cached_key_secret(product_key);
        let mut verdict = self.request_blocking(product_key, self.key_secret_to_send(cached.as_deref()));
        if self.refused_cached_secret(cached.as_deref(), &verdict) {
            verdict = self.request_blocking(product_key, None);
        }
        self.remember_key_secret(product_key, cached.as_deref(), &verdict);
        verdict
    }

    /// The cached secret for `product_key`, when a cache is configured.
    fn cached_key_secret(&self, product_key: &str) -> Option<String> {
        self.key_secret_cache.as_ref()?.load(product_key)
    }

    /// The explicit secret if there is one, else the cached one.
    fn key_secret_to_send<'a>(&'a self, cached: Option<&'a str>) -> Option<&'a str> {
        self.key_secret.as_deref().or(cached)
    }

    /// Whether the service refused a check that carried the cached secret (not an explicit one:
    /// that is the game's own to handle).
    fn refused_cached_secret(&self, cached: Option<&str>, verdict: &Verdict) -> bool {
        self.key_secret.is_none() && cached.is_some() && *verdict == Verdict::Forbidden
    }

    /// Caches the secret of a valid answer when it differs from the cached one.
    fn remember_key_secret(&self, product_key: &str, cached: Option<&str>, verdict: &Verdict) {
        let Some(cache) = &self.key_secret_cache else {
            return;
        };
        let answered = verdict.info().and_then(|info| info.key_secret.as_deref()).filter(|s| !s.is_empty());
        if let Some(answered) = answered
            && Some(answered) != cached
        {
            // Best effort (see `with_key_secret_cache`): the verdict stands either way.
            let _ = cache.store(product_key, answered);
        }
    }

    /// One request to the Keys service, sending `key_secret` when given.
    async fn request(&self, product_key: &str, key_secret: Option<&str>) -> Verdict {
        let nonce = self.verdict_key.map(|_| new_nonce());
        let Some(url) = self.key_url(product_key, key_secret, nonce.as_deref()) else {
            return Verdict::Invalid;
        };
        let client = match built_once(&self.http.async_client, || {
            reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
        }) {
            Ok(client) => client,
            Err(err) => return self.unverified_by(err, key_secret),
        };
        let response = match client
            .get(url)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .send()
            .await
        {
            Ok(response) => response,
            Err(err) => return self.unverified_by(err, key_secret),
        };
        let status = response.status();
        let Some((key, nonce)) = self.verdict_key.as_ref().zip(nonce) else {
            return match verdict_for_status(status) {
                Some(verdict) => verdict,
                None => {
                    Verdict::Valid { info: read_body_async(response).await.and_then(|b| KeyInfo::parse(&b)) }
                }
            };
        };
        let header = verdict_header(response.headers());
        let body = read_body_async(response).await;
        signed_verdict(key, &nonce, product_key, status, header.as_deref(), body.as_deref())
    }

    /// One blocking request to the Keys service, sending `key_secret` when given.
    fn request_blocking(&self, product_key: &str, key_secret: Option<&str>) -> Verdict {
        let nonce = self.verdict_key.map(|_| new_nonce());
        let Some(url) = self.key_url(product_key, key_secret, nonce.as_deref()) else {
            return Verdict::Invalid;
        };
        let client = match built_once(&self.http.blocking_client, || {
            reqwest::blocking::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
        }) {
            Ok(client) => client,
            Err(err) => return self.unverified_by(err, key_secret),
        };
        let response = match client
            .get(url)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .send()
        {
            Ok(response) => response,
            Err(err) => return self.unverified_by(err, key_secret),
        };
        let status = response.status();
        let signed = self.verdict_key.as_ref().zip(nonce);
        if signed.is_none()
            && let Some(verdict) = verdict_for_status(status)
        {
            return verdict;
        }
        let header = verdict_header(response.headers());
        let mut body = Vec::new();
        let limit = u64::try_from(MAX_BODY + 1).unwrap_or(u64::MAX);
        let body = match response.take(limit).read_to_end(&mut body) {
            Ok(_) if body.len() <= MAX_BODY => Some(body),
            _ => None,
        };
        match signed {
            Some((key, nonce)) => {
                signed_verdict(key, &nonce, product_key, status, header.as_deref(), body.as_deref())
            }
            None => Verdict::Valid { info: body.as_deref().and_then(KeyInfo::parse) },
        }
    }

    /// The request URL, secrets included: never log it. `None` for keys that cannot be sent as
    /// one path segment.
    fn key_url(&self, product_key: &str, key_secret: Option<&str>, nonce: Option<&str>) -> Option<Url> {
        if matches!(product_key, "" | "." | "..") {
            return None;
        }
        let mut url = self.base_url.clone();
        // `new` rejected cannot-be-a-base URLs, so the path is always editable.
        url.path_segments_mut().ok()?.pop_if_empty().extend(["v2", "keys"]);
        // The key segment is encoded here rather than by `path_segments_mut`, which drops tabs
        // and newlines; `set_path` keeps the `%XX` escapes as they are.
        let path = format!("{}/{}", url.path(), utf8_percent_encode(product_key, KEY_SEGMENT));
        url.set_path(&path);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("app_secret", &self.app_secret);
            if let Some(key_secret) = key_secret {
                query.append_pair("key_secret", key_secret);
            }
            if let Some(nonce) = nonce {
                query.append_pair("nonce", nonce);
            }
        }
        Some(url)
    }

    /// An `Unverified` verdict for a transport error, with the URL (and so the secrets) removed.
    fn unverified_by(&self, err: reqwest::Error, key_secret: Option<&str>) -> Verdict {
        let err = err.without_url();
        let mut reason = if err.is_timeout() {
            format!("no answer within {:?}", self.timeout)
        } else if err.is_connect() {
            String::from("could not connect to the Keys service")
        } else {
            String::from("request to the Keys service failed")
        };
        let mut source: Option<&dyn std::error::Error> = Some(&err);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !reason.contains(&text) {
                reason.push_str(": ");
                reason.push_str(&text);
            }
            source = cause.source();
        }
        Verdict::Unverified { reason: self.scrub(reason, key_secret) }
    }

    /// Belt and braces: no reason string may carry a secret, whatever an error chain says.
    fn scrub(&self, mut text: String, key_secret: Option<&str>) -> String {
        let secrets = std::iter::once(self.app_secret.as_str()).chain(key_secret);
        for secret in secrets.filter(|s| !s.is_empty()) {
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            for form in [secret, encoded.as_str()] {
                if text.contains(form) {
                    text = text.replace(form, "***");
                }
            }
        }
        text
    }
}

/// The client in `cell`, built by `build` if this is the first use. A failed build is not kept,
/// so the next check tries again.
fn built_once<C>(cell: &OnceLock<C>, build: impl FnOnce() -> reqwest::Result<C>) -> reqwest::Result<&C> {
    if let Some(client) = cell.get() {
        return Ok(client);
    }
    let client = build()?;
    // Two first checks at once both build; one client wins and the other is dropped.
    Ok(cell.get_or_init(|| client))
}

/// The verdict a status code gives, or `None` for `200` (valid; the body is read next).
fn verdict_for_status(status: StatusCode) -> Option<Verdict> {
    let verdict = match status.as_u16() {
        200 => return None,
        400 | 404 => Verdict::Invalid,
        401 | 403 => Verdict::Forbidden,
        410 => Verdict::Blocked,
        code @ 500..=599 => Verdict::Unverified { reason: format!("Keys service error: HTTP {code}") },
        code @ 300..=399 => Verdict::Unverified {
            reason: format!("Keys service redirected (HTTP {code}); redirects are not followed"),
        },
        code => {
            Verdict::Unverified { reason: format!("unexpected answer from the Keys service: HTTP {code}") }
        }
    };
    Some(verdict)
}

fn verdict_header(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers.get(VERDICT_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The verdict of an answer to a check that sent `nonce`: the answers that say something about
/// the key (`200`, `400`, `403`, `404`, `410`; also `401`) must carry a valid signature, and a
/// `200` must be about `product_key`. Anything else says nothing about the key and maps as
/// unsigned.
fn signed_verdict(
    key: &VerdictKey,
    nonce: &str,
    product_key: &str,
    status: StatusCode,
    header: Option<&str>,
    body: Option<&[u8]>,
) -> Verdict {
    let unsigned = verdict_for_status(status);
    if let Some(verdict @ Verdict::Unverified { .. }) = unsigned {
        return verdict;
    }
    let Some(body) = body else {
        return Verdict::Spoofed { reason: "answer body too large to verify".to_owned() };
    };
    if let Err(reason) = key.verify(header, nonce, now_unix(), status.as_u16(), body) {
        return Verdict::Spoofed { reason };
    }
    if let Some(verdict) = unsigned {
        return verdict;
    }
    let info = KeyInfo::parse(body);
    if info.as_ref().and_then(|i| i.key.as_deref()) != Some(product_key) {
        return Verdict::Spoofed { reason: "signed answer is about another key".to_owned() };
    }
    Verdict::Valid { info }
}

/// Reads a `200` body up to [`MAX_BODY`]; `None` if it is larger or cannot be read.
async fn read_body_async(mut response: reqwest::Response) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > MAX_BODY {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}
