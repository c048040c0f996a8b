//! Build the adapters a configuration asks for, once per process: the SQLite file for the
//! embedded default, or DynamoDB tables and an SQS queue through one shared SDK config.

use std::sync::Arc;

use patchbay_core::config::StoreConfig;
use patchbay_core::ports::{KeyStore, Queue, Store, StoreError};

use crate::dynamo::{DynamoKeyStore, DynamoStore};
#[cfg(feature = "sqlite")]
use crate::sqlite::{Db, SqliteKeyStore, SqliteQueue, SqliteStore};
use crate::sqs::SqsQueue;

/// Like the SQS redrive policy in `infra/`: a message received this often without being
/// settled (the worker kept crashing on it) goes to the dead-letter table.
pub const LOCAL_MAX_RECEIVE_COUNT: u32 = 20;

pub struct Backends {
    pub store: Arc<dyn Store>,
    /// Present when the configuration names a keys table (always for SQLite).
    pub keys: Option<Arc<dyn KeyStore>>,
    /// Present when the configuration names a queue (always for SQLite).
    pub queue: Option<Arc<dyn Queue>>,
}

impl Backends {
    /// # Errors
    /// The SQLite file cannot be opened.
    pub async fn from_config(config: &StoreConfig) -> Result<Backends, StoreError> {
        match config {
            #[cfg(feature = "sqlite")]
            StoreConfig::Sqlite(path) => {
                let db = Db::open(path)?;
                let queue = SqliteQueue::new(db.clone(), Some(LOCAL_MAX_RECEIVE_COUNT));
                Ok(Backends {
                    store: Arc::new(SqliteStore::new(db.clone())),
                    keys: Some(Arc::new(SqliteKeyStore::new(db))),
                    queue: Some(Arc::new(queue)),
                })
            }
            #[cfg(not(feature = "sqlite"))]
            StoreConfig::Sqlite(_) => Err(StoreError::Unavailable(
                "this build has no SQLite support (the Lambda functions run on PATCHBAY_STORE=aws)"
                    .to_owned(),
            )),
            StoreConfig::Aws { table, keys_table, queue_url } => {
                let sdk = crate::aws::aws_config().await;
                let dynamo = crate::aws::dynamodb_client(&sdk);
                Ok(Backends {
                    store: Arc::new(DynamoStore::new(dynamo.clone(), table.clone())),
                    keys: keys_table.as_ref().map(|t| {
                        Arc::new(DynamoKeyStore::new(dynamo.clone(), t.clone())) as Arc<dyn KeyStore>
                    }),
                    queue: queue_url.as_ref().map(|url| {
                        Arc::new(SqsQueue::new(crate::aws::sqs_client(&sdk), url.clone())) as Arc<dyn Queue>
                    }),
                })
            }
        }
    }
}
