//! Per-app API tokens: create (the value is shown once), list, revoke, and resolve a presented
//! bearer value into its token.
//!
//! Nothing is cached: every request that presents a token reads it from the store (one
//! consistent read), so a revoked token is refused by the very next request, in every process.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::secret_lookup_hash;
use crate::model::{AppToken, TOKEN_PREFIX};
use crate::ports::{Store, StoreError};
use crate::secret::{Secret, constant_time_eq};
use crate::validation::{FieldError, check_text};

/// `last_used_at` is written at most this often per token (not on every request).
pub const TOUCH_INTERVAL: TimeDelta = TimeDelta::minutes(1);
/// Most tokens one app may hold.
pub const MAX_TOKENS_PER_APP: usize = 50;

/// `POST /v1/apps/{app_id}/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
}

/// The answer to a create: the only time the token value is shown.
#[derive(Debug, Serialize)]
pub struct CreatedToken {
    pub id: String,
    pub app_id: String,
    pub name: String,
    /// Serialized as the raw value; `Debug` redacts it.
    pub token: Secret,
    pub created_at: DateTime<Utc>,
}

/// A token in a listing: never its value nor its hash.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TokenView {
    pub id: String,
    pub app_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&AppToken> for TokenView {
    fn from(t: &AppToken) -> Self {
        TokenView {
            id: t.id.clone(),
            app_id: t.app_id.clone(),
            name: t.name.clone(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("app {0} already has {MAX_TOKENS_PER_APP} tokens; revoke one first")]
    TooMany(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Tokens {
    store: Arc<dyn Store>,
}

impl Tokens {
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Tokens { store }
    }

    /// # Errors
    /// Unknown app, a bad name, too many tokens, or the store is down.
    pub async fn create(&self, app_id: &str, req: CreateToken) -> Result<CreatedToken, TokenError> {
        check_text("name", &req.name)?;
        if self.store.get_app(app_id).await?.is_none() {
            return Err(TokenError::NotFound(format!("app {app_id}")));
        }
        if self.store.list_tokens(app_id).await?.len() >= MAX_TOKENS_PER_APP {
            return Err(TokenError::TooMany(app_id.to_owned()));
        }
        let (token, value) = AppToken::generate(app_id, &req.name, Utc::now());
        self.store.create_token(&token).await?;
        tracing::info!(app_id, token_id = %token.id, "app token created");
        Ok(CreatedToken {
            id: token.id,
            app_id: token.app_id,
            name: token.name,
            token: value,
            created_at: token.created_at,
        })
    }

    /// # Errors
    /// Unknown app, or the store is down.
    pub async fn list(&self, app_id: &str) -> Result<Vec<TokenView>, TokenError> {
        if self.store.get_app(app_id).await?.is_none() {
            return Err(TokenError::NotFound(format!("app {app_id}")));
        }
        Ok(self.store.list_tokens(app_id).await?.iter().map(TokenView::from).collect())
    }

    /// Revoke at once: the next request presenting it is a 401.
    ///
    /// # Errors
    /// Unknown token, or the store is down.
    pub async fn revoke(&self, id: &str) -> Result<TokenView, TokenError> {
        let token = self.store.delete_token(id).await.map_err(|e| match e {
            StoreError::NotFound(_) => TokenError::NotFound(format!("token {id}")),
            other => other.into(),
        })?;
        tracing::info!(app_id = %token.app_id, token_id = %token.id, "app token revoked");
        Ok(TokenView::from(&token))
    }

    /// The token a bearer value names, if it is a live app token. Looked up by the hash of the
    /// value, then the hashes compared in constant time. Records the use (at most once per
    /// [`TOUCH_INTERVAL`]; a failure to record it is logged, not fatal).
    ///
    /// # Errors
    /// The store is down (the caller answers 503, not 401).
    pub async fn authenticate(&self, presented: &str) -> Result<Option<AppToken>, StoreError> {
        if !presented.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = secret_lookup_hash(presented);
        let Some(found) = self.store.token_by_hash(&hash).await? else {
            return Ok(None);
        };
        if !constant_time_eq(found.hash.as_bytes(), hash.as_bytes()) {
            return Ok(None);
        }
        let now = Utc::now();
        if found.last_used_at.is_none_or(|last| now - last >= TOUCH_INTERVAL)
            && let Err(err) = self.store.touch_token(&found.id, now).await
        {
            tracing::warn!(token_id = %found.id, error = %err, "could not record an app token's use");
        }
        Ok(Some(found))
    }
}
