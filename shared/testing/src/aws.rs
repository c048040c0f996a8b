//! Tables and queues on moto (or any AWS endpoint `AWS_ENDPOINT_URL` names), defined as the
//! production ones in `infra/template.yaml`, with the schema constants the adapters use.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use patchbay_adapters::dynamo::schema::{
    COLLECTION, GSI1, GSI1PK, GSI1SK, KEY, KEYS_BY_COLLECTION, PK, SK, TTL_ATTRIBUTE,
};

pub type TestResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Set by `scripts/test`: a missing `AWS_ENDPOINT_URL` is then a failure, not a skip.
pub const REQUIRE_MOTO: &str = "PATCHBAY_REQUIRE_MOTO";

/// Whether AWS-backed tests should run: `true` when `AWS_ENDPOINT_URL` points somewhere.
/// Otherwise prints a skip notice and returns `false`, or panics when `PATCHBAY_REQUIRE_MOTO=1`
/// (so the project's test command cannot silently skip them).
#[must_use]
pub fn aws_endpoint_available(test: &str) -> bool {
    if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.trim().is_empty()) {
        return true;
    }
    assert!(
        std::env::var(REQUIRE_MOTO).as_deref() != Ok("1"),
        "{test}: AWS_ENDPOINT_URL is not set but {REQUIRE_MOTO}=1; run through ./scripts/test"
    );
    eprintln!("skipping {test}: AWS_ENDPOINT_URL is not set (./scripts/test starts moto and sets it)");
    false
}

/// A name no other test in this or a concurrent run uses: `prefix-<time>-<pid>-<n>`.
#[must_use]
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{:x}-{}-{n}", nanos % (1 << 48), std::process::id())
}

fn string_attribute(name: &str) -> TestResult<AttributeDefinition> {
    Ok(AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()?)
}

fn key_element(name: &str, key_type: KeyType) -> TestResult<KeySchemaElement> {
    Ok(KeySchemaElement::builder().attribute_name(name).key_type(key_type).build()?)
}

async fn wait_active(client: &aws_sdk_dynamodb::Client, name: &str) -> TestResult<()> {
    for _ in 0..600 {
        let out = client.describe_table().table_name(name).send().await?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("table {name} did not become active").into())
}

/// The main table: `pk`/`sk`, GSI `gsi1` (`gsi1pk`/`gsi1sk`, projection ALL), TTL on
/// `expires_at`, on-demand billing.
pub async fn create_main_table(client: &aws_sdk_dynamodb::Client, name: &str) -> TestResult<()> {
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key_element(GSI1PK, KeyType::Hash)?)
        .key_schema(key_element(GSI1SK, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attribute(PK)?)
        .attribute_definitions(string_attribute(SK)?)
        .attribute_definitions(string_attribute(GSI1PK)?)
        .attribute_definitions(string_attribute(GSI1SK)?)
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?)
        .global_secondary_indexes(gsi)
        .send()
        .await?;
    wait_active(client, name).await?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().enabled(true).attribute_name(TTL_ATTRIBUTE).build()?,
        )
        .send()
        .await?;
    Ok(())
}

/// The keys table: hash key `key`, GSI `by_collection` (`collection` N / `key`, projection
/// KEYS_ONLY), on-demand billing.
pub async fn create_keys_table(client: &aws_sdk_dynamodb::Client, name: &str) -> TestResult<()> {
    let by_collection = GlobalSecondaryIndex::builder()
        .index_name(KEYS_BY_COLLECTION)
        .key_schema(key_element(COLLECTION, KeyType::Hash)?)
        .key_schema(key_element(KEY, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attribute(KEY)?)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(COLLECTION)
                .attribute_type(ScalarAttributeType::N)
                .build()?,
        )
        .key_schema(key_element(KEY, KeyType::Hash)?)
        .global_secondary_indexes(by_collection)
        .send()
        .await?;
    wait_active(client, name).await
}

/// A standard queue; with `dlq = Some((dead_letter_queue_arn, max_receive_count))`, messages
/// received that many times without being deleted move there. Returns the queue URL.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    dlq: Option<(&str, u32)>,
) -> TestResult<String> {
    let mut request = client.create_queue().queue_name(name);
    if let Some((arn, max_receive_count)) = dlq {
        let policy = serde_json::json!({
            "deadLetterTargetArn": arn,
            "maxReceiveCount": max_receive_count.to_string(),
        });
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let out = request.send().await?;
    out.queue_url.ok_or_else(|| format!("queue {name} created without a URL").into())
}

/// The ARN of a queue (for a redrive policy).
pub async fn queue_arn(client: &aws_sdk_sqs::Client, queue_url: &str) -> TestResult<String> {
    let out = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| format!("queue {queue_url} has no ARN").into())
}
