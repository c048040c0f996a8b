//! Open the adapters a configuration asks for, once per process: the SQLite file for the
//! embedded default, or DynamoDB tables and an SQS queue through one shared SDK config.

use std::sync::Arc;

use patchbay_core::config::{KeysTable, QueueUrl, StoreConfig};
use patchbay_core::ports::{KeyStore, Queue, Store, StoreError};

use crate::dynamo::{DynamoKeyStore, DynamoStore};
#[cfg(feature = "sqlite")]
use crate::sqlite::{Db, SqliteKeyStore, SqliteQueue, SqliteStore};
use crate::sqs::SqsQueue;

/// Like the SQS redrive policy in `infra/`: a message received this often without being
/// settled (the worker kept crashing on it) goes to the dead-letter table.
pub const LOCAL_MAX_RECEIVE_COUNT: u32 = 20;

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
        let queue = SqliteQueue::new(db.clone(), Some(LOCAL_MAX_RECEIVE_COUNT));
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

/// Backends for tests in any crate: a throwaway SQLite file, or fresh tables and queues on the
/// moto server `./scripts/test` starts. The same scenario runs over both.
pub mod testing {
    use std::sync::Arc;

    use patchbay_core::ports::Queue;

    use super::Backends;
    use crate::aws::testing::{
        aws_endpoint_available, create_keys_table, create_main_table, create_queue, queue_arn, unique_name,
    };
    use crate::sqs::SqsQueue;

    /// A fresh SQLite database in a temporary file (removed when the process ends is not
    /// guaranteed; files are small and under the system temp dir).
    ///
    /// # Panics
    /// The file cannot be created.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite() -> Backends {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name("patchbay-test")));
        #[allow(clippy::expect_used)]
        Backends::sqlite(&path.display().to_string()).expect("sqlite backends")
    }

    /// The AWS adapters on moto, with new tables and a queue whose redrive policy sends a
    /// message to `dlq_url` after `max_receive_count` receives. `None` when moto is not
    /// running (and `PATCHBAY_REQUIRE_MOTO` is unset).
    ///
    /// # Panics
    /// moto is running but refuses to create the resources.
    pub async fn moto(test: &str, max_receive_count: u32) -> Option<MotoBackends> {
        if !aws_endpoint_available(test) {
            return None;
        }
        let sdk = crate::aws::aws_config().await;
        let dynamo = crate::aws::dynamodb_client(&sdk);
        let sqs = crate::aws::sqs_client(&sdk);
        let table = unique_name("main");
        let keys_table = unique_name("keys");
        #[allow(clippy::expect_used)]
        let (dlq_url, queue_url) = {
            create_main_table(&dynamo, &table).await.expect("main table");
            create_keys_table(&dynamo, &keys_table).await.expect("keys table");
            let dlq_url = create_queue(&sqs, &unique_name("dlq"), None).await.expect("dlq");
            let dlq_arn = queue_arn(&sqs, &dlq_url).await.expect("dlq arn");
            let queue_url =
                create_queue(&sqs, &unique_name("deliveries"), Some((&dlq_arn, max_receive_count)))
                    .await
                    .expect("queue");
            (dlq_url, queue_url)
        };
        let backends = Backends::aws(&table, &keys_table, &queue_url).await;
        Some(MotoBackends {
            backends,
            table,
            keys_table,
            queue_url,
            dlq: Arc::new(SqsQueue::new(sqs.clone(), dlq_url)),
            sqs,
        })
    }

    pub struct MotoBackends {
        pub backends: Backends,
        pub table: String,
        pub keys_table: String,
        pub queue_url: String,
        /// The dead-letter queue, to read what was redriven.
        pub dlq: Arc<dyn Queue>,
        /// For tests that need raw SQS calls (e.g. building an `SqsEvent` from real messages).
        pub sqs: aws_sdk_sqs::Client,
    }
}
