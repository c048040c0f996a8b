//! The local runtime's configuration: the same `PATCHBAY_*` variables as the functions, with
//! local defaults for whatever is unset. Secrets it has to invent are generated once, kept in
//! the data directory (so restarts and the printed commands keep working) and printed once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use patchbay_core::config::{
    self, ADMIN_TOKEN, ALLOW_CIDRS, ConfigError, DeliverConfig, Env, INGEST_SECRET, IngestConfig,
    LicenseCheckConfig, QueueUrl, SendConfig, StoreConfig,
};
use patchbay_core::retry::RetrySchedule;
use patchbay_core::secret::Secret;
use patchbay_core::signing::generate_secret;
use serde::{Deserialize, Serialize};

/// Loopback only: the local runtime delivers to receivers on this machine.
const LOCAL_ALLOW_CIDRS: &str = "127.0.0.0/8,::1/128";
pub const SECRETS_FILE: &str = "local-secrets.json";

pub struct Settings {
    pub store: StoreConfig<QueueUrl>,
    pub ingest_secret: Secret,
    pub admin_token: Secret,
    pub send: SendConfig,
    pub retry: RetrySchedule,
    pub auto_disable_after: Duration,
    /// Where generated local secrets are kept.
    pub secrets_file: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct LocalSecrets {
    ingest_secret: String,
    admin_token: String,
    #[serde(default)]
    demo_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

impl Settings {
    /// # Errors
    /// A malformed variable (named), or an unreadable secrets file.
    pub fn load(data: &Path) -> Result<Settings, SettingsError> {
        let process = Env::process();
        let secrets_file = data.join(SECRETS_FILE);
        let local = local_secrets(&secrets_file)?;
        let default_store = format!("sqlite:{}", data.join("patchbay.db").display());
        let env = Env::new(|name| {
            process.get(name).or_else(|| match name {
                config::STORE => Some(default_store.clone()),
                INGEST_SECRET => Some(local.ingest_secret.clone()),
                ADMIN_TOKEN => Some(local.admin_token.clone()),
                ALLOW_CIDRS => Some(LOCAL_ALLOW_CIDRS.to_owned()),
                _ => None,
            })
        });
        let deliver = DeliverConfig::from_env(&env)?;
        Ok(Settings {
            store: deliver.store,
            ingest_secret: config::ingest_secret(&env)?,
            admin_token: config::admin_token(&env)?,
            send: deliver.send,
            retry: deliver.retry,
            auto_disable_after: deliver.auto_disable_after,
            secrets_file,
        })
    }

    /// The demo license key remembered from an earlier `--demo` run.
    /// What the ingest function would read, on this machine.
    #[must_use]
    pub fn ingest(&self) -> IngestConfig {
        IngestConfig {
            store: self.store.clone(),
            ingest_secret: self.ingest_secret.clone(),
            admin_token: self.admin_token.clone(),
            send: self.send.clone(),
        }
    }

    /// What the deliver function would read, on this machine.
    #[must_use]
    pub fn deliver(&self) -> DeliverConfig {
        DeliverConfig {
            store: self.store.clone(),
            retry: self.retry.clone(),
            send: self.send.clone(),
            auto_disable_after: self.auto_disable_after,
        }
    }

    /// What the license-check function would read, on this machine.
    #[must_use]
    pub fn license_check(&self, sqlite_path: &str) -> LicenseCheckConfig {
        LicenseCheckConfig {
            store: StoreConfig::Sqlite(sqlite_path.to_owned()),
            admin_token: self.admin_token.clone(),
        }
    }

    #[must_use]
    pub fn demo_key(&self) -> Option<String> {
        read_secrets(&self.secrets_file).ok().flatten().and_then(|s| s.demo_key)
    }

    /// Remember the demo license key next to the local secrets.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn remember_demo_key(&self, key: &str) -> Result<(), SettingsError> {
        let Some(mut secrets) = read_secrets(&self.secrets_file)? else { return Ok(()) };
        secrets.demo_key = Some(key.to_owned());
        write_secrets(&self.secrets_file, &secrets)
    }
}

fn read_secrets(path: &Path) -> Result<Option<LocalSecrets>, SettingsError> {
    let file_err = |message: String| SettingsError::File { path: path.display().to_string(), message };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| file_err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_err(e.to_string())),
    }
}

fn write_secrets(path: &Path, secrets: &LocalSecrets) -> Result<(), SettingsError> {
    let file_err = |message: String| SettingsError::File { path: path.display().to_string(), message };
    let json = serde_json::to_vec_pretty(secrets).map_err(|e| file_err(e.to_string()))?;
    std::fs::write(path, json).map_err(|e| file_err(e.to_string()))
}

fn local_secrets(path: &Path) -> Result<LocalSecrets, SettingsError> {
    if let Some(existing) = read_secrets(path)? {
        return Ok(existing);
    }
    let generated = LocalSecrets {
        ingest_secret: generate_secret().expose().to_owned(),
        admin_token: Secret::random_alphanumeric(32).expose().to_owned(),
        demo_key: None,
    };
    write_secrets(path, &generated)?;
    // Printed once, on purpose: this is the only place a newcomer learns them (they stay in
    // the file for later runs).
    eprintln!("generated local secrets (kept in {}):", path.display());
    eprintln!("  {INGEST_SECRET}={}", generated.ingest_secret);
    eprintln!("  {ADMIN_TOKEN}={}", generated.admin_token);
    Ok(generated)
}
