//! Building AWS clients from the environment, once per process.

use aws_config::BehaviorVersion;

/// The shared SDK configuration from the environment: credentials, region, and
/// `AWS_ENDPOINT_URL` (set it to point every client at moto or LocalStack).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

#[must_use]
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

#[must_use]
pub fn sqs_client(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}
