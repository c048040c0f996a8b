//! Secrets from AWS Secrets Manager, read through the AWS Parameters and Secrets Lambda
//! Extension: a layer that answers `GetSecretValue` on localhost from its own cache.
//!
//! Reading secrets at start-up, rather than resolving them into the environment at deploy time,
//! keeps their values out of `lambda:GetFunctionConfiguration`, and refreshing them lets a
//! rotation take effect without a deploy. The extension's HTTP interface, rather than the
//! Secrets Manager SDK, keeps the bootstraps small.

use std::time::Duration;

use patchbay_core::config::{SecretSource, SecretVariable};
use patchbay_core::secret::{LiveSecret, Secret, SecretPublisher};
use serde::Deserialize;
use url::Url;

/// The header the extension wants, holding the sandbox's `AWS_SESSION_TOKEN`.
pub const TOKEN_HEADER: &str = "X-Aws-Parameters-Secrets-Token";
/// The extension's port, when not the default.
pub const PORT_VARIABLE: &str = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT";
pub const DEFAULT_PORT: u16 = 2773;
const SESSION_TOKEN_VARIABLE: &str = "AWS_SESSION_TOKEN";
/// One call: the extension answers from its cache, or after one `GetSecretValue`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Lambda starts the function's init once the extension has registered, not once it is ready:
/// at start-up, an extension that does not listen yet or answers that it is not ready is asked
/// again, this often (about 2 s in all; Lambda allows 10 s for init).
const START_ATTEMPTS: u32 = 10;
const START_RETRY_DELAY: Duration = Duration::from_millis(200);
/// How much of an error answer is kept (it is the extension's message, never a secret).
const ERROR_DETAIL_CHARS: usize = 200;

/// Why a secret could not be read. Names the secret, never its value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the Parameters and Secrets extension cannot be used: {0}")]
    NoExtension(String),
    #[error("secret {id}: the Parameters and Secrets extension is unreachable: {reason}")]
    Unreachable { id: String, reason: String },
    #[error("secret {id}: the Parameters and Secrets extension answered {status}: {detail}")]
    Refused { id: String, status: u16, detail: String },
    #[error("secret {id}: {problem}")]
    Unusable { id: String, problem: String },
}

impl SecretsError {
    /// The extension is not up yet, or Secrets Manager behind it had a moment: worth asking
    /// again. A missing secret or a refused permission is not.
    fn is_transient(&self) -> bool {
        match self {
            SecretsError::Unreachable { .. } => true,
            SecretsError::Refused { status, detail, .. } => {
                *status >= 500 || detail.to_ascii_lowercase().contains("not ready")
            }
            SecretsError::NoExtension(_) | SecretsError::Unusable { .. } => false,
        }
    }
}

/// The part of the `GetSecretValue` answer Patchbay reads.
#[derive(Deserialize)]
struct GetSecretValue {
    #[serde(rename = "SecretString")]
    secret_string: Option<String>,
}

/// A client of the extension's `GET /secretsmanager/get?secretId=…`.
#[derive(Clone)]
pub struct SecretsExtension {
    http: reqwest::Client,
    get_url: Url,
    token: Secret,
}

impl SecretsExtension {
    /// The extension at `base` (e.g. `http://localhost:2773`), authenticating with `token`.
    ///
    /// # Errors
    /// `base` is not a URL, or the HTTP client cannot be built.
    pub fn new(base: &str, token: Secret) -> Result<Self, SecretsError> {
        let get_url = Url::parse(base)
            .and_then(|base| base.join("/secretsmanager/get"))
            .map_err(|e| SecretsError::NoExtension(format!("{base:?} is not a URL: {e}")))?;
        // The extension is local: a proxy from the environment must not see the session token.
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| SecretsError::NoExtension(format!("HTTP client: {e}")))?;
        Ok(SecretsExtension { http, get_url, token })
    }

    /// The extension as Lambda runs it: this sandbox's session token, the configured port.
    ///
    /// # Errors
    /// No `AWS_SESSION_TOKEN` (not on Lambda), or a malformed port.
    pub fn from_env() -> Result<Self, SecretsError> {
        let token = std::env::var(SESSION_TOKEN_VARIABLE)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SecretsError::NoExtension(format!("{SESSION_TOKEN_VARIABLE} is not set")))?;
        let port = match std::env::var(PORT_VARIABLE) {
            Err(_) => DEFAULT_PORT,
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| SecretsError::NoExtension(format!("{PORT_VARIABLE}={text:?} is not a port")))?,
        };
        SecretsExtension::new(&format!("http://localhost:{port}"), Secret::new(token))
    }

    /// The secret's current `SecretString`.
    ///
    /// # Errors
    /// The extension is unreachable or refuses (no such secret, no permission), or the secret
    /// holds no string.
    pub async fn fetch(&self, id: &str) -> Result<Secret, SecretsError> {
        let mut url = self.get_url.clone();
        url.query_pairs_mut().append_pair("secretId", id);
        let response =
            self.http.get(url).header(TOKEN_HEADER, self.token.expose()).send().await.map_err(|e| {
                SecretsError::Unreachable { id: id.to_owned(), reason: e.without_url().to_string() }
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| SecretsError::Unreachable {
            id: id.to_owned(),
            reason: e.without_url().to_string(),
        })?;
        if !status.is_success() {
            let detail: String = String::from_utf8_lossy(&body).chars().take(ERROR_DETAIL_CHARS).collect();
            return Err(SecretsError::Refused { id: id.to_owned(), status: status.as_u16(), detail });
        }
        // The body holds the secret: parse errors are reported without quoting it.
        let answer: GetSecretValue = serde_json::from_slice(&body).map_err(|_| SecretsError::Unusable {
            id: id.to_owned(),
            problem: "the answer is not GetSecretValue JSON".to_owned(),
        })?;
        answer.secret_string.map(Secret::new).ok_or_else(|| SecretsError::Unusable {
            id: id.to_owned(),
            problem: "it has no SecretString (binary secrets are not supported)".to_owned(),
        })
    }

    /// [`fetch`](Self::fetch), and the value passes `variable`'s check.
    async fn fetch_checked(&self, id: &str, variable: SecretVariable) -> Result<Secret, SecretsError> {
        let secret = self.fetch(id).await?;
        (variable.check)(secret.expose()).map_err(|problem| SecretsError::Unusable {
            id: id.to_owned(),
            problem: format!("not a valid {}: {problem}", variable.value),
        })?;
        Ok(secret)
    }

    /// At start-up the extension may still be starting: ask again briefly while it says so.
    async fn fetch_at_start(&self, id: &str, variable: SecretVariable) -> Result<Secret, SecretsError> {
        let mut attempt = 1;
        loop {
            match self.fetch_checked(id, variable).await {
                Err(err) if attempt < START_ATTEMPTS && err.is_transient() => {
                    attempt += 1;
                    tokio::time::sleep(START_RETRY_DELAY).await;
                }
                result => return result,
            }
        }
    }
}

/// Turns each [`SecretSource`] into a [`LiveSecret`]: a value as it is; a Secrets Manager
/// secret read now (start-up fails without it) and again every `refresh` in the background.
pub struct SecretResolver {
    /// `None`: the extension as Lambda runs it, set up only when a source needs it.
    extension: Option<SecretsExtension>,
}

impl SecretResolver {
    /// The extension as Lambda runs it ([`SecretsExtension::from_env`]). Sources given as
    /// values never need it, so only a Secrets Manager source fails where it is missing.
    #[must_use]
    pub fn from_env() -> Self {
        SecretResolver { extension: None }
    }

    #[must_use]
    pub fn with_extension(extension: SecretsExtension) -> Self {
        SecretResolver { extension: Some(extension) }
    }

    /// # Errors
    /// A Secrets Manager secret cannot be read, or its value fails `variable`'s check.
    pub async fn resolve(
        &self,
        source: &SecretSource,
        variable: SecretVariable,
    ) -> Result<LiveSecret, SecretsError> {
        match source {
            SecretSource::Value(secret) => Ok(LiveSecret::fixed(secret.clone())),
            SecretSource::SecretsManager { id, refresh } => {
                let extension = match &self.extension {
                    Some(extension) => extension.clone(),
                    None => SecretsExtension::from_env()?,
                };
                let (publisher, live) = LiveSecret::publisher(extension.fetch_at_start(id, variable).await?);
                tokio::spawn(keep_fresh(extension, id.clone(), variable, *refresh, publisher));
                Ok(live)
            }
        }
    }
}

/// Reads the secret again every `every` until nobody holds it. A failed read keeps the last
/// good value. On Lambda this runs only while the sandbox is thawed: a refresh due during a
/// freeze happens at the next invocation, beside it, never in its way.
async fn keep_fresh(
    extension: SecretsExtension,
    id: String,
    variable: SecretVariable,
    every: Duration,
    publisher: SecretPublisher,
) {
    loop {
        tokio::select! {
            () = publisher.unused() => return,
            () = tokio::time::sleep(every) => {}
        }
        match extension.fetch_checked(&id, variable).await {
            Ok(secret) => publisher.publish(secret),
            Err(err) => {
                tracing::warn!(secret_id = %id, error = %err, "secret refresh failed; keeping the last good value");
            }
        }
    }
}
