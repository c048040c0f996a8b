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

/// Backends for tests in any crate: a throwaway SQLite file, or fresh tables and queues on the
/// moto server `./scripts/test` starts. The same scenario runs over both.
pub mod testing {
    use std::sync::Arc;

    use patchbay_core::config::StoreConfig;
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
        Backends::from_config(&StoreConfig::Sqlite(path.display().to_string()))
            .await
            .expect("sqlite backends")
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
        let config =
            StoreConfig::Aws { table, keys_table: Some(keys_table), queue_url: Some(queue_url.clone()) };
        #[allow(clippy::expect_used)]
        let backends = Backends::from_config(&config).await.expect("aws backends");
        Some(MotoBackends {
            backends,
            config,
            queue_url,
            dlq: Arc::new(SqsQueue::new(sqs.clone(), dlq_url)),
            sqs,
        })
    }

    pub struct MotoBackends {
        pub backends: Backends,
        pub config: StoreConfig,
        pub queue_url: String,
        /// The dead-letter queue, to read what was redriven.
        pub dlq: Arc<dyn Queue>,
        /// For tests that need raw SQS calls (e.g. building an `SqsEvent` from real messages).
        pub sqs: aws_sdk_sqs::Client,
    }
}
