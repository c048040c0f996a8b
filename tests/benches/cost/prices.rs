//! us-east-1 list prices the cost bench multiplies counted operations by. Read from the AWS
//! pricing pages on 2026-12-06 (on-demand, no free tier, first pricing tier); the README's key
//! check cost table uses the same ones.

/// When these were read.
pub const READ_ON: &str = "2026-12-06";

/// DynamoDB on-demand: per million write / read request units.
pub const DYNAMODB_PER_MILLION_WRU: f64 = 0.625;
pub const DYNAMODB_PER_MILLION_RRU: f64 = 0.125;
/// SQS standard queue: per million requests (each up to 64 KiB).
pub const SQS_PER_MILLION_REQUESTS: f64 = 0.40;
/// Lambda: per million invocations, and per GB-second on arm64 (first 7.5 billion GB-s/month).
pub const LAMBDA_PER_MILLION_REQUESTS: f64 = 0.20;
pub const LAMBDA_ARM_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// API Gateway HTTP API: per million requests (first 300 million/month).
pub const HTTP_API_PER_MILLION_REQUESTS: f64 = 1.00;

/// The template's `MemorySize` for every function, in GB.
pub const LAMBDA_MEMORY_GB: f64 = 0.25;
