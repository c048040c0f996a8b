//! Where state lives: the embedded SQLite file, or DynamoDB and the one AWS resource a function
//! needs besides the main table.

use super::{ConfigError, Env, KEYS_TABLE, QUEUE_URL, STORE, TABLE, invalid};

/// Where state lives. `R` is the AWS resource a function needs besides the main table (a
/// queue or the keys table), so a function's configuration cannot lack it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig<R> {
    /// Embedded SQLite database file (`sqlite::memory:` for a throwaway one); it holds every
    /// table and the queue.
    Sqlite(String),
    /// The main DynamoDB table and `R`.
    Aws { table: String, resource: R },
}

/// An AWS resource named by one variable.
pub trait AwsResource: Sized {
    const VARIABLE: &'static str;
    fn named(name: String) -> Self;
}

/// `PATCHBAY_QUEUE_URL`: the delivery queue (ingest, deliver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrl(pub String);

impl AwsResource for QueueUrl {
    const VARIABLE: &'static str = QUEUE_URL;
    fn named(name: String) -> Self {
        QueueUrl(name)
    }
}

/// `PATCHBAY_KEYS_TABLE`: the license keys table (license-check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysTable(pub String);

impl AwsResource for KeysTable {
    const VARIABLE: &'static str = KEYS_TABLE;
    fn named(name: String) -> Self {
        KeysTable(name)
    }
}

impl<R: AwsResource> StoreConfig<R> {
    /// # Errors
    /// A missing or malformed `PATCHBAY_STORE`, or a missing AWS resource name it needs.
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let store = env.require(STORE)?;
        if let Some(path) = store.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(invalid(STORE, "sqlite: needs a path, e.g. sqlite:.patchbay/patchbay.db"));
            }
            return Ok(StoreConfig::Sqlite(path.to_owned()));
        }
        if store != "aws" {
            return Err(invalid(STORE, format!("{store:?} is neither sqlite:PATH nor aws")));
        }
        Ok(StoreConfig::Aws { table: env.require(TABLE)?, resource: R::named(env.require(R::VARIABLE)?) })
    }
}
