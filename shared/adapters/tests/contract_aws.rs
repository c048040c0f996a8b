//! The adapter contract, run against DynamoDB and SQS on moto (started by `./scripts/test`).
//! A plain `cargo test` reports every clause as ignored; included without `AWS_ENDPOINT_URL`,
//! each is skipped, unless `PATCHBAY_REQUIRE_MOTO=1`, where it fails. Each clause gets fresh,
//! uniquely named tables and queues.

#![allow(clippy::unwrap_used)]

use patchbay_adapters::aws::{aws_config, dynamodb_client, sqs_client};
use patchbay_adapters::dynamo::{DynamoKeyStore, DynamoStore};
use patchbay_adapters::sqs::SqsQueue;
use patchbay_testing::aws::{
    aws_endpoint_available, create_keys_table, create_main_table, create_queue, unique_name,
};

async fn main_store() -> Option<DynamoStore> {
    if !aws_endpoint_available("contract_aws") {
        return None;
    }
    let client = dynamodb_client(&aws_config().await);
    let table = unique_name("contract-main");
    create_main_table(&client, &table).await.unwrap();
    Some(DynamoStore::new(client, table))
}

async fn key_store() -> Option<DynamoKeyStore> {
    if !aws_endpoint_available("contract_aws") {
        return None;
    }
    let client = dynamodb_client(&aws_config().await);
    let table = unique_name("contract-keys");
    create_keys_table(&client, &table).await.unwrap();
    Some(DynamoKeyStore::new(client, table))
}

async fn queue() -> Option<SqsQueue> {
    if !aws_endpoint_available("contract_aws") {
        return None;
    }
    let client = sqs_client(&aws_config().await);
    let url = create_queue(&client, &unique_name("contract-q"), None).await.unwrap();
    Some(SqsQueue::new(client, url))
}

// moto's UpdateItem is not atomic under concurrency (real DynamoDB's ADD is): see `Counting`.
patchbay_contract::adapter_contract!(
    #[ignore = "needs moto: ./scripts/test runs it"]
    main: main_store(),
    keys: key_store(),
    queue: queue(),
    counting: patchbay_contract::Counting::MayLoseUpdates,
);
