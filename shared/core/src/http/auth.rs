//! Who is calling the management API: the operator's admin token, or a per-app token
//! (`pbt_…`, see [`crate::service::tokens`]). Both are compared in constant time (the admin
//! token directly, an app token by the hash it is looked up with).
//!
//! The middleware puts the resolved [`Caller`] into the request's extensions; handlers take it
//! as an extractor and scope themselves with [`Caller::require_admin`],
//! [`Caller::require_app`] and [`Caller::require_owner`].

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api_error::ApiError;
use crate::model::TOKEN_PREFIX;
use crate::secret::LiveSecret;
use crate::service::tokens::Tokens;

/// What the middleware checks bearers against.
#[derive(Clone)]
pub struct Auth {
    pub admin_token: LiveSecret,
    pub tokens: Arc<Tokens>,
}

/// The authenticated caller of a management request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The operator-wide admin token: everything.
    Admin,
    /// An app token: only this app's records, and not the admin-only routes.
    App(String),
}

impl Caller {
    #[must_use]
    pub fn is_admin(&self) -> bool {
        matches!(self, Caller::Admin)
    }

    /// Whether this caller may see the records of `app_id`.
    #[must_use]
    pub fn can_access(&self, app_id: &str) -> bool {
        match self {
            Caller::Admin => true,
            Caller::App(own) => own.as_str() == app_id,
        }
    }

    /// 403 unless the admin token was presented (creating apps and tokens, key generation and
    /// import, app-secret rotation).
    ///
    /// # Errors
    /// An app token.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::new(
                403,
                "forbidden",
                "this route needs the admin token; an app token cannot use it",
            ))
        }
    }

    /// For routes naming an app: another app's id answers exactly like an unknown app (404
    /// `app … not found`), so an app token cannot learn which ids exist.
    ///
    /// # Errors
    /// An app token of another app.
    pub fn require_app(&self, app_id: &str) -> Result<(), ApiError> {
        self.require_owner(app_id, || ApiError::new(404, "not_found", format!("app {app_id} not found")))
    }

    /// For routes naming a record (webhook, delivery, key): `owner` is the record's app;
    /// `not_found` builds the answer the route gives for a missing record, which an app token
    /// of another app gets instead.
    ///
    /// # Errors
    /// An app token of another app.
    pub fn require_owner(&self, owner: &str, not_found: impl FnOnce() -> ApiError) -> Result<(), ApiError> {
        if self.can_access(owner) { Ok(()) } else { Err(not_found()) }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Only missing when a route forgot the middleware: refuse rather than assume.
        parts.extensions.get::<Caller>().cloned().ok_or_else(unauthenticated)
    }
}

fn unauthenticated() -> ApiError {
    ApiError::new(401, "unauthorized", "send Authorization: Bearer <PATCHBAY_ADMIN_TOKEN>")
}

/// Middleware: 401 unless `Authorization: Bearer <token>` names the admin token (its current
/// value, so a rotated token takes effect without a restart) or a live app token; 503 when the
/// token store cannot be read. Every answer is `Cache-Control: no-store`: many carry secrets
/// (app, key and signing secrets, new tokens).
pub async fn authenticate(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let mut response = match caller(&auth, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(err) => err.into_response(),
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn caller(auth: &Auth, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(unauthenticated)?;
    if auth.admin_token.matches(presented) {
        return Ok(Caller::Admin);
    }
    if !presented.starts_with(TOKEN_PREFIX) {
        return Err(ApiError::new(401, "unauthorized", "admin token is not valid"));
    }
    match auth.tokens.authenticate(presented).await? {
        Some(token) => Ok(Caller::App(token.app_id)),
        None => Err(ApiError::new(401, "unauthorized", "app token is not valid (unknown or revoked)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_caller_reaches_its_own_app_only() {
        let app = Caller::App("app_a".into());
        assert!(app.require_app("app_a").is_ok());
        let other = app.require_app("app_b").unwrap_err();
        assert_eq!((other.status, other.message.as_str()), (404, "app app_b not found"));
        assert_eq!(app.require_admin().unwrap_err().status, 403);
        let hidden = app.require_owner("app_b", || ApiError::new(404, "not_found", "webhook wh_1 not found"));
        assert_eq!(hidden.unwrap_err().message, "webhook wh_1 not found");
        assert!(Caller::Admin.require_app("app_b").is_ok() && Caller::Admin.require_admin().is_ok());
    }
}
