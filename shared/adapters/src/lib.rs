//! Adapters for Patchbay's ports: the embedded SQLite default, DynamoDB and SQS through the
//! AWS SDK, secrets through the Parameters and Secrets Lambda Extension, and the SSRF-guarded
//! HTTP sender. AWS SDK types never leave this crate.

pub mod aws;
pub mod backends;
pub mod dynamo;
pub mod secrets;
pub mod sender;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod sqs;
pub mod wiring;
