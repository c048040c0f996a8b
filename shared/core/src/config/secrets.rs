//! The secrets a function reads: given as a value (`patchbay dev`, tests) or named in Secrets
//! Manager (Lambda), and what a value must look like however it arrives.

use std::time::Duration;

use super::{
    ADMIN_TOKEN, ADMIN_TOKEN_ID, ConfigError, DEFAULT_SECRETS_REFRESH, Env, INGEST_SECRET, INGEST_SECRET_ID,
    SECRETS_REFRESH, VERDICT_KEY, VERDICT_KEY_ID, duration_or, invalid,
};
use crate::secret::Secret;
use crate::signing::SigningKey;

/// A secret a function needs: the variable holding its value, the one naming it in Secrets
/// Manager instead, and what a value must look like (checked however it arrives).
#[derive(Debug, Clone, Copy)]
pub struct SecretVariable {
    pub value: &'static str,
    pub id: &'static str,
    /// Why a value is unusable; never quotes the value.
    pub check: fn(&str) -> Result<(), String>,
}

pub const INGEST_SECRET_VARIABLE: SecretVariable =
    SecretVariable { value: INGEST_SECRET, id: INGEST_SECRET_ID, check: check_ingest_secret };
pub const ADMIN_TOKEN_VARIABLE: SecretVariable =
    SecretVariable { value: ADMIN_TOKEN, id: ADMIN_TOKEN_ID, check: check_admin_token };
/// The Ed25519 seed signing key-check verdicts (`x-patchbay-verdict`).
pub const VERDICT_KEY_VARIABLE: SecretVariable =
    SecretVariable { value: VERDICT_KEY, id: VERDICT_KEY_ID, check: crate::verdict::check_verdict_key };
/// Every secret any function reads.
pub const SECRET_VARIABLES: &[SecretVariable] =
    &[INGEST_SECRET_VARIABLE, ADMIN_TOKEN_VARIABLE, VERDICT_KEY_VARIABLE];

fn check_ingest_secret(value: &str) -> Result<(), String> {
    SigningKey::from_secret(&Secret::new(value)).map(drop).map_err(|e| e.to_string())
}

fn check_admin_token(value: &str) -> Result<(), String> {
    if value.len() < 16 {
        return Err("must be at least 16 characters".to_owned());
    }
    Ok(())
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Given directly (`patchbay dev`, tests); checked already.
    Value(Secret),
    /// A Secrets Manager secret (name or ARN) whose `SecretString` is the value, read at start-up
    /// and again every `refresh` (the adapters check each value read).
    SecretsManager { id: String, refresh: Duration },
}

impl From<Secret> for SecretSource {
    fn from(secret: Secret) -> Self {
        SecretSource::Value(secret)
    }
}

impl SecretSource {
    /// The value variable if set (checked), else the id variable.
    ///
    /// # Errors
    /// Neither is set, the value fails its check, or `PATCHBAY_SECRETS_REFRESH` is malformed.
    pub fn from_env(env: &Env<'_>, variable: SecretVariable) -> Result<Self, ConfigError> {
        if let Some(value) = env.get(variable.value) {
            (variable.check)(&value).map_err(|problem| invalid(variable.value, problem))?;
            return Ok(SecretSource::Value(Secret::new(value)));
        }
        match env.get(variable.id) {
            Some(id) => Ok(SecretSource::SecretsManager {
                id: id.trim().to_owned(),
                refresh: duration_or(env, SECRETS_REFRESH, DEFAULT_SECRETS_REFRESH)?,
            }),
            None => Err(ConfigError::MissingSecret { value: variable.value, id: variable.id }),
        }
    }
}
