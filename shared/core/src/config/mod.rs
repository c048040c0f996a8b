//! Configuration, read once at start-up into typed structs. A missing or malformed value is an
//! error naming the variable. The variable names are a contract shared with `infra/` (a test
//! checks the template sets exactly what each function reads) and the CLI.

use std::time::Duration;

use ipnet::IpNet;

use crate::retry::{RetrySchedule, parse_duration};
use crate::secret::Secret;

mod secrets;
mod store;

pub use secrets::{
    ADMIN_TOKEN_VARIABLE, INGEST_SECRET_VARIABLE, SECRET_VARIABLES, SecretSource, SecretVariable,
    VERDICT_KEY_VARIABLE,
};
pub use store::{AwsResource, KeysTable, QueueUrl, StoreConfig};

pub const STORE: &str = "PATCHBAY_STORE";
pub const TABLE: &str = "PATCHBAY_TABLE";
pub const KEYS_TABLE: &str = "PATCHBAY_KEYS_TABLE";
pub const QUEUE_URL: &str = "PATCHBAY_QUEUE_URL";
pub const INGEST_SECRET: &str = "PATCHBAY_INGEST_SECRET";
pub const ADMIN_TOKEN: &str = "PATCHBAY_ADMIN_TOKEN";
pub const RETRY_SCHEDULE: &str = "PATCHBAY_RETRY_SCHEDULE";
pub const DELIVERY_TIMEOUT: &str = "PATCHBAY_DELIVERY_TIMEOUT";
pub const ALLOW_CIDRS: &str = "PATCHBAY_ALLOW_CIDRS";
pub const ATTEMPT_RETENTION: &str = "PATCHBAY_ATTEMPT_RETENTION";
pub const AUTO_DISABLE_AFTER: &str = "PATCHBAY_AUTO_DISABLE_AFTER";
pub const INGEST_SECRET_ID: &str = "PATCHBAY_INGEST_SECRET_ID";
pub const ADMIN_TOKEN_ID: &str = "PATCHBAY_ADMIN_TOKEN_ID";
pub const SECRETS_REFRESH: &str = "PATCHBAY_SECRETS_REFRESH";
/// Base64 of the 32-byte Ed25519 seed that signs key-check verdicts.
pub const VERDICT_KEY: &str = "PATCHBAY_VERDICT_KEY";
pub const VERDICT_KEY_ID: &str = "PATCHBAY_VERDICT_KEY_ID";
/// Above this many registrations of one key in a clock hour the key blocks itself (unset: never).
pub const KEY_REGISTRATIONS_PER_HOUR: &str = "PATCHBAY_KEY_REGISTRATIONS_PER_HOUR";

/// The delivery queue's `maxReceiveCount`: the SQS redrive policy in `infra/template.yaml` (a
/// template check holds it to this) and the local queue's dead-letter threshold. Each attempt
/// is one receive, so a retry schedule must give fewer attempts than this, or the queue
/// dead-letters a delivery before its last try.
pub const MAX_RECEIVE_COUNT: u32 = 20;

/// The longest timeout a webhook may set for itself. The deliver function's Timeout (300 s in
/// the template, checked against this) is sized for a batch of sends of at most 60 s each plus
/// the store and queue calls around them, the same bound as the template's
/// `DeliveryTimeoutSeconds`; the local worker hides a message again for this long plus a
/// margin when a send outlasts the visibility it was received with, so a slow send never has
/// its message handed out again mid-request.
pub const MAX_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a secret read from Secrets Manager is read again, so a rotation takes effect
/// without a deploy.
pub const DEFAULT_SECRETS_REFRESH: Duration = Duration::from_secs(5 * 60);

/// Whether a function cannot start without a variable, or falls back to a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
}

/// What each Lambda function reads. `infra/template.yaml` must set these, and only these.
///
/// On Lambda a secret is named by its `*_ID` variable (required there); its value variable
/// ([`SECRET_VARIABLES`]) also works, for `patchbay dev` and tests, but the template must
/// never set it: anyone allowed `lambda:GetFunctionConfiguration` reads the environment.
pub const INGEST_VARIABLES: &[(&str, Need)] = &[
    (STORE, Need::Required),
    (TABLE, Need::Required),
    (QUEUE_URL, Need::Required),
    (INGEST_SECRET_ID, Need::Required),
    (ADMIN_TOKEN_ID, Need::Required),
    (SECRETS_REFRESH, Need::Optional),
    (DELIVERY_TIMEOUT, Need::Optional),
    (ALLOW_CIDRS, Need::Optional),
    (ATTEMPT_RETENTION, Need::Optional),
];
pub const DELIVER_VARIABLES: &[(&str, Need)] = &[
    (STORE, Need::Required),
    (TABLE, Need::Required),
    (QUEUE_URL, Need::Required),
    (RETRY_SCHEDULE, Need::Optional),
    (DELIVERY_TIMEOUT, Need::Optional),
    (ALLOW_CIDRS, Need::Optional),
    (ATTEMPT_RETENTION, Need::Optional),
    (AUTO_DISABLE_AFTER, Need::Optional),
];
pub const LICENSE_CHECK_VARIABLES: &[(&str, Need)] = &[
    (STORE, Need::Required),
    (TABLE, Need::Required),
    (KEYS_TABLE, Need::Required),
    (ADMIN_TOKEN_ID, Need::Required),
    (VERDICT_KEY_ID, Need::Required),
    (SECRETS_REFRESH, Need::Optional),
    (KEY_REGISTRATIONS_PER_HOUR, Need::Optional),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("neither {value} nor {id} (the name of a Secrets Manager secret holding it) is set")]
    MissingSecret { value: &'static str, id: &'static str },
    #[error("{name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
}

fn invalid(name: &'static str, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid { name, problem: problem.to_string() }
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Reads variables through a lookup function, so tests need not touch the process environment.
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Env { lookup: Box::new(lookup) }
    }

    #[must_use]
    pub fn process() -> Env<'static> {
        Env::new(|name| std::env::var(name).ok())
    }

    /// A set, non-blank value.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    fn require(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }
}

/// How deliveries are sent (shared by the deliver worker and the management API's test sends).
#[derive(Debug, Clone, PartialEq)]
pub struct SendConfig {
    pub timeout: Duration,
    /// Address ranges the SSRF guard lets through although they are private or loopback.
    pub allow_cidrs: Vec<IpNet>,
    pub attempt_retention: Duration,
}

impl Default for SendConfig {
    fn default() -> Self {
        SendConfig {
            timeout: Duration::from_secs(30),
            allow_cidrs: Vec::new(),
            attempt_retention: Duration::from_secs(30 * 86_400),
        }
    }
}

impl SendConfig {
    /// # Errors
    /// A malformed duration or CIDR, naming the variable.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let defaults = SendConfig::default();
        Ok(SendConfig {
            timeout: duration_or(env, DELIVERY_TIMEOUT, defaults.timeout)?,
            allow_cidrs: match env.get(ALLOW_CIDRS) {
                Some(text) => parse_cidrs(&text).map_err(|p| invalid(ALLOW_CIDRS, p))?,
                None => defaults.allow_cidrs,
            },
            attempt_retention: duration_or(env, ATTEMPT_RETENTION, defaults.attempt_retention)?,
        })
    }
}

fn duration_or(env: &Env<'_>, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    match env.get(name) {
        None => Ok(default),
        Some(text) => match parse_duration(&text) {
            Some(d) if !d.is_zero() => Ok(d),
            _ => Err(invalid(name, format!("{text:?} is not a duration like 30s, 5m, 2h or 30d"))),
        },
    }
}

/// `10.0.0.0/8, 127.0.0.1` (a bare address is a single-host range).
///
/// # Errors
/// Names the first entry that is neither a CIDR nor an address.
pub fn parse_cidrs(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not a CIDR like 10.0.0.0/8"))
        })
        .collect()
}

/// `functions/ingest`: events from the pipeline and the management API.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub store: StoreConfig<QueueUrl>,
    pub ingest_secret: SecretSource,
    pub admin_token: SecretSource,
    pub send: SendConfig,
}

impl IngestConfig {
    /// # Errors
    /// The first missing or malformed variable.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(IngestConfig {
            store: StoreConfig::from_env(env)?,
            ingest_secret: SecretSource::from_env(env, INGEST_SECRET_VARIABLE)?,
            admin_token: SecretSource::from_env(env, ADMIN_TOKEN_VARIABLE)?,
            send: SendConfig::from_env(env)?,
        })
    }
}

/// `functions/deliver`: the queue consumer.
#[derive(Debug, Clone)]
pub struct DeliverConfig {
    pub store: StoreConfig<QueueUrl>,
    pub retry: RetrySchedule,
    pub send: SendConfig,
    /// A webhook whose deliveries all failed for this long is disabled.
    pub auto_disable_after: Duration,
}

impl DeliverConfig {
    /// # Errors
    /// The first missing or malformed variable.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(DeliverConfig {
            store: StoreConfig::from_env(env)?,
            retry: retry_schedule(env)?,
            send: SendConfig::from_env(env)?,
            auto_disable_after: duration_or(env, AUTO_DISABLE_AFTER, Duration::from_secs(5 * 86_400))?,
        })
    }
}

/// `functions/license-check`: the key check and key administration.
#[derive(Debug, Clone)]
pub struct LicenseCheckConfig {
    pub store: StoreConfig<KeysTable>,
    pub admin_token: SecretSource,
    /// Signs verdicts for checks that send a nonce; `None` signs nothing (tests, benches).
    /// `from_env` requires it.
    pub verdict_key: Option<SecretSource>,
    /// `PATCHBAY_KEY_REGISTRATIONS_PER_HOUR`: `None` never blocks a key by itself.
    pub key_registrations_per_hour: Option<u64>,
}

impl LicenseCheckConfig {
    /// # Errors
    /// The first missing or malformed variable.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(LicenseCheckConfig {
            store: StoreConfig::from_env(env)?,
            admin_token: SecretSource::from_env(env, ADMIN_TOKEN_VARIABLE)?,
            verdict_key: Some(SecretSource::from_env(env, VERDICT_KEY_VARIABLE)?),
            key_registrations_per_hour: key_registrations_per_hour(env)?,
        })
    }
}

/// `PATCHBAY_KEY_REGISTRATIONS_PER_HOUR`, when set.
///
/// # Errors
/// Not a whole number above 0.
pub fn key_registrations_per_hour(env: &Env<'_>) -> Result<Option<u64>, ConfigError> {
    env.get(KEY_REGISTRATIONS_PER_HOUR)
        .map(|text| {
            text.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(KEY_REGISTRATIONS_PER_HOUR, "must be a whole number above 0"))
        })
        .transpose()
}

/// A secret that must be given as a value (`patchbay dev`).
///
/// # Errors
/// Missing, or the value fails its check.
pub fn secret_value(env: &Env<'_>, variable: SecretVariable) -> Result<Secret, ConfigError> {
    let value = env.require(variable.value)?;
    (variable.check)(&value).map_err(|problem| invalid(variable.value, problem))?;
    Ok(Secret::new(value))
}

/// # Errors
/// Missing, or not a valid `whsec_` secret.
pub fn ingest_secret(env: &Env<'_>) -> Result<Secret, ConfigError> {
    secret_value(env, INGEST_SECRET_VARIABLE)
}

/// # Errors
/// Missing, or too short to be a credential.
pub fn admin_token(env: &Env<'_>) -> Result<Secret, ConfigError> {
    secret_value(env, ADMIN_TOKEN_VARIABLE)
}

/// # Errors
/// A malformed schedule, naming the variable.
pub fn retry_schedule(env: &Env<'_>) -> Result<RetrySchedule, ConfigError> {
    match env.get(RETRY_SCHEDULE) {
        None => Ok(RetrySchedule::default()),
        Some(text) => RetrySchedule::parse(&text).map_err(|e| invalid(RETRY_SCHEDULE, e)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn lookup(map: &HashMap<String, String>) -> Env<'_> {
        Env::new(move |k| map.get(k).cloned())
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn ingest_reads_every_variable() {
        let vars = env(&[
            (STORE, "aws"),
            (TABLE, "main"),
            (QUEUE_URL, "https://sqs/q"),
            (INGEST_SECRET, SECRET),
            (ADMIN_TOKEN, "0123456789abcdef"),
            (DELIVERY_TIMEOUT, "10s"),
            (ALLOW_CIDRS, "127.0.0.1, 10.0.0.0/8"),
        ]);
        let cfg = IngestConfig::from_env(&lookup(&vars)).unwrap();
        assert_eq!(
            cfg.store,
            StoreConfig::Aws { table: "main".into(), resource: QueueUrl("https://sqs/q".into()) }
        );
        assert_eq!(cfg.send.timeout, Duration::from_secs(10));
        assert_eq!(cfg.send.allow_cidrs.len(), 2);
        assert!(!format!("{cfg:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn errors_name_the_variable() {
        let vars = env(&[(STORE, "aws")]);
        assert_eq!(IngestConfig::from_env(&lookup(&vars)).unwrap_err(), ConfigError::Missing(TABLE));

        let vars = env(&[(STORE, "postgres")]);
        let err = IngestConfig::from_env(&lookup(&vars)).unwrap_err();
        assert!(err.to_string().starts_with("PATCHBAY_STORE is invalid"), "{err}");

        let vars = env(&[(STORE, "sqlite:x.db"), (INGEST_SECRET, "nope"), (ADMIN_TOKEN, "0123456789abcdef")]);
        let err = IngestConfig::from_env(&lookup(&vars)).unwrap_err();
        assert!(err.to_string().starts_with("PATCHBAY_INGEST_SECRET is invalid"), "{err}");

        let vars = env(&[(STORE, "sqlite:x.db"), (RETRY_SCHEDULE, "1s,forever")]);
        let err = DeliverConfig::from_env(&lookup(&vars)).unwrap_err();
        assert!(err.to_string().starts_with("PATCHBAY_RETRY_SCHEDULE is invalid"), "{err}");

        let vars = env(&[(STORE, "sqlite:x.db"), (ALLOW_CIDRS, "10.0.0.0/33")]);
        let err = DeliverConfig::from_env(&lookup(&vars)).unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
    }

    #[test]
    fn deliver_defaults() {
        let vars = env(&[(STORE, "sqlite:x.db")]);
        let cfg = DeliverConfig::from_env(&lookup(&vars)).unwrap();
        assert_eq!(cfg.retry, RetrySchedule::default());
        assert_eq!(cfg.send, SendConfig::default());
        assert_eq!(cfg.auto_disable_after, Duration::from_secs(5 * 86_400));
    }

    #[test]
    fn secrets_come_as_values_or_as_secrets_manager_ids() {
        let vars = env(&[
            (STORE, "sqlite:x.db"),
            (INGEST_SECRET_ID, "patchbay/ingest-secret"),
            (ADMIN_TOKEN_ID, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin-AbCdEf"),
            (SECRETS_REFRESH, "30s"),
        ]);
        let cfg = IngestConfig::from_env(&lookup(&vars)).unwrap();
        assert_eq!(
            cfg.ingest_secret,
            SecretSource::SecretsManager {
                id: "patchbay/ingest-secret".into(),
                refresh: Duration::from_secs(30)
            }
        );
        assert!(
            matches!(cfg.admin_token, SecretSource::SecretsManager { ref id, .. } if id.ends_with("admin-AbCdEf"))
        );

        // A value wins over an id, and is checked at once.
        let vars = env(&[
            (STORE, "sqlite:x.db"),
            (ADMIN_TOKEN, "0123456789abcdef"),
            (ADMIN_TOKEN_ID, "patchbay/admin-token"),
            (VERDICT_KEY_ID, "patchbay/verdict-key"),
        ]);
        let cfg = LicenseCheckConfig::from_env(&lookup(&vars)).unwrap();
        assert_eq!(cfg.admin_token, SecretSource::Value(Secret::new("0123456789abcdef")));
        assert!(
            matches!(cfg.verdict_key, Some(SecretSource::SecretsManager { ref id, .. }) if id == "patchbay/verdict-key")
        );
        // The verdict key is required, and checked as a 32-byte seed without being quoted.
        let vars = env(&[(STORE, "sqlite:x.db"), (ADMIN_TOKEN, "0123456789abcdef")]);
        let err = LicenseCheckConfig::from_env(&lookup(&vars)).unwrap_err();
        assert_eq!(err, ConfigError::MissingSecret { value: VERDICT_KEY, id: VERDICT_KEY_ID });
        let vars = env(&[
            (STORE, "sqlite:x.db"),
            (ADMIN_TOKEN, "0123456789abcdef"),
            (VERDICT_KEY, "c2hvcnQtc2VlZA=="),
        ]);
        let err = LicenseCheckConfig::from_env(&lookup(&vars)).unwrap_err();
        assert!(err.to_string().starts_with("PATCHBAY_VERDICT_KEY is invalid"), "{err}");
        assert!(!err.to_string().contains("c2hvcnQtc2VlZA"), "{err}");
        let vars = env(&[(STORE, "sqlite:x.db"), (ADMIN_TOKEN, "short")]);
        let err = LicenseCheckConfig::from_env(&lookup(&vars)).unwrap_err();
        assert!(err.to_string().starts_with("PATCHBAY_ADMIN_TOKEN is invalid"), "{err}");
        assert!(!err.to_string().contains("short"), "{err}");

        let vars = env(&[(STORE, "sqlite:x.db")]);
        let err = LicenseCheckConfig::from_env(&lookup(&vars)).unwrap_err();
        assert_eq!(err, ConfigError::MissingSecret { value: ADMIN_TOKEN, id: ADMIN_TOKEN_ID });
        assert!(err.to_string().contains("PATCHBAY_ADMIN_TOKEN_ID"), "{err}");

        let vars = env(&[(STORE, "sqlite:x.db"), (ADMIN_TOKEN_ID, "t"), (SECRETS_REFRESH, "often")]);
        let err = LicenseCheckConfig::from_env(&lookup(&vars)).unwrap_err();
        assert!(err.to_string().starts_with("PATCHBAY_SECRETS_REFRESH is invalid"), "{err}");
    }

    #[test]
    fn license_check_needs_keys_table_on_aws() {
        let vars = env(&[(STORE, "aws"), (TABLE, "t"), (ADMIN_TOKEN, "0123456789abcdef")]);
        assert_eq!(
            LicenseCheckConfig::from_env(&lookup(&vars)).unwrap_err(),
            ConfigError::Missing(KEYS_TABLE)
        );
    }
}
