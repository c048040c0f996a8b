//! Backends for tests in any crate: a throwaway SQLite file, or fresh tables and queues on the
//! moto server `./scripts/test` starts. The same scenario runs over both.

use std::sync::Arc;

use patchbay_adapters::aws::{aws_config, dynamodb_client, sqs_client};
use patchbay_adapters::backends::Backends;
use patchbay_adapters::sqs::SqsQueue;
use patchbay_core::ports::Queue;

use crate::aws::{
    aws_endpoint_available, create_keys_table, create_main_table, create_queue, queue_arn, unique_name,
};

/// A fresh SQLite database in a temporary file (removed when the process ends is not
/// guaranteed; files are small and under the system temp dir).
///
/// # Panics
/// The file cannot be created.
#[allow(clippy::unused_async)] // async like `moto()`, so scenarios take either the same way
pub async fn sqlite() -> Backends {
    let path = std::env::temp_dir().join(format!("{}.db", unique_name("patchbay-test")));
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
    let sdk = aws_config().await;
    let dynamo = dynamodb_client(&sdk);
    let sqs = sqs_client(&sdk);
    let table = unique_name("main");
    let keys_table = unique_name("keys");
    let (dlq_url, queue_url) = {
        create_main_table(&dynamo, &table).await.expect("main table");
        create_keys_table(&dynamo, &keys_table).await.expect("keys table");
        let dlq_url = create_queue(&sqs, &unique_name("dlq"), None).await.expect("dlq");
        let dlq_arn = queue_arn(&sqs, &dlq_url).await.expect("dlq arn");
        let queue_url = create_queue(&sqs, &unique_name("deliveries"), Some((&dlq_arn, max_receive_count)))
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
