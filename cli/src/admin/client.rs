//! The HTTP client for the management, key-administration and ingest APIs: builds URLs from
//! path segments (each percent-encoded), sends JSON, and turns every non-2xx answer into a
//! [`CliError`] carrying the API's own `code` and `message`.

use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;
use url::Url;

use super::error::{CliError, CliResult};

/// Generous: a test send waits for the receiver (up to the delivery timeout) and a key batch
/// writes 10 000 rows.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// An answer with a 2xx status. `body` is the parsed JSON (`Null` for an empty body, a string
/// for a body that is not JSON); `text` is the body as sent, for printing in the API's order.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

pub struct ApiClient {
    base: Url,
    token: Option<String>,
    http: Client,
}

/// Parse `--api` (or `--url`): an absolute http(s) URL that can take path segments.
///
/// # Errors
/// Usage error naming the flag.
pub fn parse_base_url(flag: &str, text: &str) -> CliResult<Url> {
    let url = Url::parse(text).map_err(|e| CliError::usage(format!("{flag} {text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(CliError::usage(format!("{flag} {text:?} must be an http:// or https:// URL")));
    }
    Ok(url)
}

fn http_client() -> CliResult<Client> {
    Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("patchbay-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CliError::failed(format!("cannot build the HTTP client: {}", error_chain(&e))))
}

impl ApiClient {
    /// A client for `api`; `token` is sent as `Authorization: Bearer …` when present.
    ///
    /// # Errors
    /// `api` is not an http(s) URL; the HTTP client cannot be built.
    pub fn new(api: &str, token: Option<String>) -> CliResult<Self> {
        Ok(ApiClient { base: parse_base_url("--api", api)?, token, http: http_client()? })
    }

    /// `base` + segments, each percent-encoded as one path segment (so a key holding `/` or
    /// `?` stays one segment). A base with a path (an API stage) keeps it as a prefix.
    #[must_use]
    pub fn url(&self, segments: &[&str]) -> Url {
        join(&self.base, segments)
    }

    /// Like [`Self::url`] with query parameters; `None` values are left out.
    #[must_use]
    pub fn url_with_query(&self, segments: &[&str], query: &[(&str, Option<&str>)]) -> Url {
        let mut url = self.url(segments);
        if query.iter().any(|(_, v)| v.is_some()) {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                if let Some(value) = value {
                    pairs.append_pair(name, value);
                }
            }
        }
        url
    }

    /// # Errors
    /// Unreachable server or a non-2xx answer.
    pub fn get(&self, segments: &[&str]) -> CliResult<Reply> {
        self.call(Method::GET, self.url(segments), None)
    }

    /// # Errors
    /// Unreachable server or a non-2xx answer.
    pub fn post(&self, segments: &[&str], body: Option<&Value>) -> CliResult<Reply> {
        self.call(Method::POST, self.url(segments), body)
    }

    /// # Errors
    /// Unreachable server or a non-2xx answer.
    pub fn patch(&self, segments: &[&str], body: &Value) -> CliResult<Reply> {
        self.call(Method::PATCH, self.url(segments), Some(body))
    }

    /// # Errors
    /// Unreachable server or a non-2xx answer.
    pub fn delete(&self, segments: &[&str]) -> CliResult<Reply> {
        self.call(Method::DELETE, self.url(segments), None)
    }

    /// Send a JSON request with the admin token.
    ///
    /// # Errors
    /// Unreachable server or a non-2xx answer.
    pub fn call(&self, method: Method, url: Url, body: Option<&Value>) -> CliResult<Reply> {
        let mut request = self.http.request(method, url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| CliError::failed(format!("cannot encode the request: {e}")))?;
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        execute(request, &url)
    }

    /// Send raw bytes with extra headers and no admin token (the signed ingest call).
    ///
    /// # Errors
    /// Unreachable server or a non-2xx answer.
    pub fn post_raw(&self, url: Url, headers: HeaderMap, body: Vec<u8>) -> CliResult<Reply> {
        let request = self.http.post(url.clone()).headers(headers).body(body);
        execute(request, &url)
    }
}

fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    // Checked in `parse_base_url`: every base we hold can take segments.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

fn execute(request: RequestBuilder, url: &Url) -> CliResult<Reply> {
    let response = request.send().map_err(|e| unreachable(url, &e))?;
    let status = response.status();
    let text = response.text().map_err(|e| unreachable(url, &e))?;
    let body = parse_body(&text);
    if status.is_success() {
        return Ok(Reply { status: status.as_u16(), body, text });
    }
    Err(api_error(status, &body, &text))
}

fn parse_body(text: &str) -> Value {
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
    }
}

/// The project's `{"error":{"code","message"}}`, the key check's `{"message"}`, or whatever
/// text came back (a proxy's HTML page, say), in that order.
fn api_error(status: reqwest::StatusCode, body: &Value, text: &str) -> CliError {
    let str_at = |v: &Value, field: &str| v.get(field).and_then(Value::as_str).map(str::to_owned);
    let (code, message) = match body.get("error") {
        Some(inner) => (str_at(inner, "code"), str_at(inner, "message")),
        None => (None, str_at(body, "message")),
    };
    let message = message.unwrap_or_else(|| {
        let snippet: String = text.trim().chars().take(200).collect();
        if snippet.is_empty() {
            status.canonical_reason().unwrap_or("no reason given").to_owned()
        } else {
            snippet
        }
    });
    CliError::Api { status: status.as_u16(), code, message }
}

fn unreachable(url: &Url, err: &reqwest::Error) -> CliError {
    let detail = if err.is_timeout() {
        format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
    } else if err.is_connect() {
        // The innermost cause says it best: "Connection refused (os error 111)".
        root_cause(err)
    } else {
        error_chain(err)
    };
    let mut shown = url.clone();
    shown.set_query(None);
    CliError::Unreachable { url: shown.to_string(), detail }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &dyn std::error::Error = err;
    while let Some(cause) = last.source() {
        last = cause;
    }
    last.to_string()
}

/// The causes under reqwest's own "error sending request for url (…)", which repeats the URL.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut causes = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() { err.to_string() } else { causes.join(": ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_and_prefix_kept() {
        let base = parse_base_url("--api", "https://example.com/prod/").unwrap();
        let url = join(&base, &["v1", "keys", "A/B?c d#e"]);
        assert_eq!(url.as_str(), "https://example.com/prod/v1/keys/A%2FB%3Fc%20d%23e");
        let base = parse_base_url("--api", "http://127.0.0.1:8080").unwrap();
        assert_eq!(join(&base, &["v1", "apps"]).as_str(), "http://127.0.0.1:8080/v1/apps");
    }

    #[test]
    fn bad_base_urls_are_usage_errors() {
        for bad in ["127.0.0.1:8080", "ftp://x", "mailto:a@b", "not a url"] {
            assert!(matches!(parse_base_url("--api", bad), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn error_shapes() {
        let status = reqwest::StatusCode::UNPROCESSABLE_ENTITY;
        let body = serde_json::json!({"error": {"code": "invalid_field", "message": "url: bad"}});
        let err = api_error(status, &body, "");
        assert_eq!(err.to_string(), "url: bad (HTTP 422, invalid_field)");
        let body = serde_json::json!({"message": "Key blocked"});
        assert_eq!(
            api_error(reqwest::StatusCode::FORBIDDEN, &body, "").to_string(),
            "Key blocked (HTTP 403)"
        );
        let err = api_error(reqwest::StatusCode::BAD_GATEWAY, &Value::String("<html>".into()), "<html>");
        assert_eq!(err.to_string(), "<html> (HTTP 502)");
        assert_eq!(
            api_error(reqwest::StatusCode::BAD_GATEWAY, &Value::Null, "").to_string(),
            "Bad Gateway (HTTP 502)"
        );
    }
}
