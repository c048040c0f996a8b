//! Open the adapters a configuration asks for, once per process: the SQLite file for the
//! embedded default, or DynamoDB tables and an SQS queue through one shared SDK config.

use std::sync::Arc;

use patchbay_core::config::{KeysTable, QueueUrl, StoreConfig};
use patchbay_core::ports::{KeyStore, Queue, Store, StoreError};

use crate::dynamo::{DynamoKeyStore, DynamoStore};
#[cfg(feature = "sqlite")]
use crate::sqlite::{Db, SqliteKeyStore, SqliteQueue, SqliteStore};
use crate::sqs::SqsQueue;

/// What the event side needs (ingest, deliver): the main store and the delivery queue.
#[derive(Clone)]
pub struct EventBackends {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
}

/// What the key side needs (license-check): the main store (apps) and the keys table.
#[derive(Clone)]
pub struct KeyBackends {
    pub store: Arc<dyn Store>,
    pub keys: Arc<dyn KeyStore>,
}

/// Every adapter at once, over one SQLite file (`patchbay dev`, tests) or every AWS resource
/// (tests on moto).
#[derive(Clone)]
pub struct Backends {
    pub store: Arc<dyn Store>,
    pub keys: Arc<dyn KeyStore>,
    pub queue: Arc<dyn Queue>,
}

impl Backends {
    /// # Errors
    /// The SQLite file cannot be opened.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(path: &str) -> Result<Backends, StoreError> {
        let db = Db::open(path)?;
        // Like the SQS redrive policy in `infra/`: a message received this often without being
        // settled (the worker kept crashing on it) goes to the dead-letter table.
        let queue = SqliteQueue::new(db.clone(), Some(patchbay_core::config::MAX_RECEIVE_COUNT));
        Ok(Backends {
            store: Arc::new(SqliteStore::new(db.clone())),
            keys: Arc::new(SqliteKeyStore::new(db)),
            queue: Arc::new(queue),
        })
    }

    /// The AWS adapters for these resources, through one SDK configuration.
    pub async fn aws(table: &str, keys_table: &str, queue_url: &str) -> Backends {
        let sdk = crate::aws::aws_config().await;
        let dynamo = crate::aws::dynamodb_client(&sdk);
        Backends {
            store: Arc::new(DynamoStore::new(dynamo.clone(), table.to_owned())),
            keys: Arc::new(DynamoKeyStore::new(dynamo, keys_table.to_owned())),
            queue: Arc::new(SqsQueue::new(crate::aws::sqs_client(&sdk), queue_url.to_owned())),
        }
    }

    #[must_use]
    pub fn events(&self) -> EventBackends {
        EventBackends { store: self.store.clone(), queue: self.queue.clone() }
    }

    #[must_use]
    pub fn key_backends(&self) -> KeyBackends {
        KeyBackends { store: self.store.clone(), keys: self.keys.clone() }
    }
}

#[cfg(feature = "sqlite")]
fn sqlite(path: &str) -> Result<Backends, StoreError> {
    Backends::sqlite(path)
}

/// The Lambda functions leave SQLite out (it is ~1 MB of their bootstrap).
#[cfg(not(feature = "sqlite"))]
fn sqlite(_: &str) -> Result<Backends, StoreError> {
    Err(StoreError::Unavailable(
        "this build has no SQLite support (the Lambda functions run on PATCHBAY_STORE=aws)".to_owned(),
    ))
}

impl EventBackends {
    /// # Errors
    /// The SQLite file cannot be opened.
    pub async fn open(config: &StoreConfig<QueueUrl>) -> Result<EventBackends, StoreError> {
        match config {
            StoreConfig::Sqlite(path) => Ok(sqlite(path)?.events()),
            StoreConfig::Aws { table, resource: QueueUrl(queue_url) } => {
                let sdk = crate::aws::aws_config().await;
                Ok(EventBackends {
                    store: Arc::new(DynamoStore::new(crate::aws::dynamodb_client(&sdk), table.clone())),
                    queue: Arc::new(SqsQueue::new(crate::aws::sqs_client(&sdk), queue_url.clone())),
                })
            }
        }
    }
}

impl KeyBackends {
    /// # Errors
    /// The SQLite file cannot be opened.
    pub async fn open(config: &StoreConfig<KeysTable>) -> Result<KeyBackends, StoreError> {
        match config {
            StoreConfig::Sqlite(path) => Ok(sqlite(path)?.key_backends()),
            StoreConfig::Aws { table, resource: KeysTable(keys_table) } => {
                let dynamo = crate::aws::dynamodb_client(&crate::aws::aws_config().await);
                Ok(KeyBackends {
                    store: Arc::new(DynamoStore::new(dynamo.clone(), table.clone())),
                    keys: Arc::new(DynamoKeyStore::new(dynamo, keys_table.clone())),
                })
            }
        }
    }
}
