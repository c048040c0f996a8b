//! DynamoDB adapters: [`DynamoStore`] (apps, webhooks, events, deliveries, attempts and the
//! app-secret index, all in the main table) and [`DynamoKeyStore`] (license keys, in their own
//! table). No SDK type leaves this module except the `Client` handed to the constructors.
//!
//! # Table schemas (fixed: `infra/template.yaml` and `patchbay_testing::aws` create exactly these)
//!
//! * Main table (`PATCHBAY_TABLE`): `pk` (S) HASH, `sk` (S) RANGE; one global secondary index
//!   `gsi1` with `gsi1pk` (S) HASH, `gsi1sk` (S) RANGE, projection ALL; TTL on `expires_at`
//!   (N, epoch seconds), set on attempt records only.
//! * Keys table (`PATCHBAY_KEYS_TABLE`): `key` (S) HASH; one global secondary index
//!   `by_collection` with `collection` (N) HASH, `key` (S) RANGE, projection `KEYS_ONLY` (so a
//!   registration, which changes no projected attribute, writes nothing to the index).
//!
//! # Item layouts
//!
//! Timestamps written into keys and conditions (`TS` below) are RFC 3339 in UTC with nanoseconds
//! and a `Z` (`2025-01-31T12:00:00.123456789Z`): fixed width, so they sort as strings, and
//! exact, so an equality condition compares the very instant the caller read. Most items keep
//! the serialized domain struct as a JSON string in `doc`, plus the attributes that keys,
//! conditions and filters need; where an attribute can change without the whole item being
//! rewritten, the attribute wins over the copy in `doc` when reading.
//!
//! | record | `pk` | `sk` | other attributes |
//! | --- | --- | --- | --- |
//! | app | `APP#<id>` | `APP` | `doc` (`App` JSON, secret included), `secret_hash` (SHA-256 hex of the app secret) |
//! | app-secret index | `APPSECRET#<sha256 hex of app secret>` | `APPSECRET` | `app_id`, `doc` (copy of the `App` JSON) |
//! | webhook | `WH#<id>` | `WH` | `doc`, `gsi1pk` = `APPWH#<app_id>`, `gsi1sk` = `<TS created_at>#<id>` |
//! | event | `EVT#<id>` | `EVT` | `doc` (`StoredEvent` JSON), `state` (`accepted`/`complete`), `lease_until` (TS) — the last two are authoritative |
//! | delivery | `DLV#<id>` | `DLV` | `doc`, `status`, `enqueued` (BOOL, authoritative), `gsi1pk` = `WHDLV#<webhook_id>`, `gsi1sk` = `<TS created_at>#<id>` |
//! | attempt | `DLV#<delivery_id>` | `ATT#<number, zero-padded to 6>` | `doc` (`Attempt` JSON), `expires_at` (N, epoch seconds: the table's TTL) |
//! | app token | `TOKHASH#<sha256 hex of the token value>` | `TOKEN` | `doc` (`AppToken` JSON: hash, never the value), `token_id`, `last_used_at` (TS, authoritative, absent until used), `gsi1pk` = `APPTOK#<app_id>`, `gsi1sk` = `<TS created_at>#<id>` |
//! | app-token id | `TOKEN#<id>` | `TOKEN` | `hash` (points at the token item) |
//!
//! Keys table, one item per key, structured attributes (no `doc`, so the key check can
//! `ADD registrations` and get the whole key back in one `UpdateItem`): `key` (S), `app_id` (S),
//! `key_secret` (S), `collection` (N; records from before collections have none, or a string
//! `collection_id`, and read as the app's default collection), `registrations` (N), `blocked`
//! (BOOL), `created_at` (S, TS).
//!
//! Collections live in the keys table too (the license-check function owns that table and only
//! reads the main one), in items whose `key` starts with `#`, which no license key does, and
//! whose `app_id` is `#meta`, which no app is (so checking such a "key" answers 404):
//!
//! | item | `key` | other attributes |
//! | --- | --- | --- |
//! | id counter | `#counter#collections` | `next` (N): `UpdateItem ADD next :one`, `ReturnValues=UPDATED_NEW` hands out each id once |
//! | an app's collections | `#app#<app_id>` | `collections` (S, JSON list of `Collection`), `version` (N): replaced by a `Put` conditional on the version read |
//! | collection → app | `#collection#<id>` | `owner` (S, the app id), written with the first |
//!
//! One `GetItem` of `#app#<app_id>` gives the app's default (lowest id) and blocked
//! collections, which the key check caches with the app.
//!
//! # Writes and their conditions
//!
//! * Creates are `PutItem` with `attribute_not_exists(pk)` → `StoreError::AlreadyExists`;
//!   replaces (`update_*`) are `PutItem` with `attribute_exists(pk)` → `StoreError::NotFound`.
//! * `create_app` writes the app and its secret-index item in one `TransactWriteItems`.
//!   `update_app` reads the current app, then in one transaction puts the app (conditional on
//!   the secret hash it read, so a concurrent secret change is a `Conflict`), puts the index
//!   item for the new secret (the copy of the app there is refreshed on every update, which is
//!   what lets `app_for_secret` answer with one `GetItem`) and, when the secret changed,
//!   deletes the old index item.
//! * `create_event` writes the event and its first 99 deliveries in one `TransactWriteItems`
//!   (every put conditional on `attribute_not_exists(pk)`). If the event already exists, the
//!   stored one comes back as `EventCreation::Exists` (from the cancellation reason's old item,
//!   or a `GetItem` when the service did not return it). If only deliveries were in the way,
//!   the event is written alone and every delivery is ensured one by one. Deliveries past the
//!   first 99 are ensured by conditional puts after the transaction; already existing ones are
//!   not an error (delivery ids are deterministic, so a retried ingest converges).
//! * `renew_event_lease`: `UpdateItem` conditional on `lease_until = :expected`; a failed
//!   condition is a `Conflict`, also when the event is gone (as in the SQLite adapter).
//!   `set_event_state` and `mark_enqueued` are `UpdateItem`s conditional on the item existing
//!   (`mark_enqueued` skips unknown ids rather than creating stubs).
//! * `list_webhooks` and `list_deliveries` query `gsi1`, which is eventually consistent on real
//!   DynamoDB: a record written a moment ago may be missing from a listing for a short while.
//! * `list_deliveries` walks `gsi1` newest first (`ScanIndexForward=false`); a status filter is a
//!   `FilterExpression`, so pages of the query can come back short and the adapter keeps
//!   querying until it has `limit` items or the index runs out. The cursor is the URL-safe
//!   base64 of the last returned item's `gsi1sk`; the next page is the key condition
//!   `gsi1sk < :cursor`.
//! * License keys: `check_key` with `register` is one `UpdateItem` (`ADD registrations :one`,
//!   conditional on the key existing, belonging to the app and not being blocked,
//!   `ReturnValues=ALL_NEW`, `ReturnValuesOnConditionCheckFailure=ALL_OLD` to tell not-found,
//!   another app's and blocked apart: no old item means no such key); without `register` it is
//!   one eventually consistent `GetItem`. Another app's key is `OtherApp` whatever its state.
//!   `create_keys` checks with `BatchGetItem`, then writes with
//!   `TransactWriteItems` in chunks of 100 conditional puts: each chunk is atomic, the whole
//!   call is not; if a later chunk fails, the keys of earlier chunks are deleted again, best
//!   effort. A key given twice in one call counts as existing (its second occurrence).
//! * App tokens: `create_token` puts the token and its id item in one transaction (both
//!   `attribute_not_exists(pk)`); `token_by_hash` is one consistent `GetItem` (what every request
//!   with an app token costs); `delete_token` reads the id item, then deletes both in one
//!   transaction; `touch_token` reads the id item, then `UpdateItem`s `last_used_at` conditional
//!   on the token existing (so a touch racing a revoke never recreates it).
//! * The deliver path, two round trips per attempt: `load_attempt_context` is one
//!   strongly consistent `BatchGetItem` of the delivery, webhook and event (keys named by the
//!   queue message). `record_outcomes` writes outcomes without a health change as plain puts of
//!   the attempt and the delivery, packed into `BatchWriteItem` calls of up to 25 items (no key
//!   twice in one call; unprocessed items are re-sent), 1 write unit per item of ≤ 1 KB; each
//!   item is atomic, a call is not, which is harmless here: a lost delivery write means the
//!   message comes back and the same attempt number is written again (a duplicate message's
//!   attempt likewise replaces the record of the same number). An outcome that changes the
//!   webhook's health is one `TransactWriteItems` (attempt if new, delivery, webhook
//!   conditional on existing, so a health write never brings back a deleted webhook).
//! * `list_attempts` hides attempts whose `expires_at` has passed (DynamoDB's TTL sweep lags).
//! * Every `GetItem` and main-table `Query` is strongly consistent.
//! * A transaction cancelled by a concurrent transaction on the same items
//!   (`TransactionConflict`) is retried a few times with a short back-off; any other failure is
//!   `StoreError::Unavailable` with the service's error code and message (never item contents).
//!
//! moto (5.2, the test stand-in) honours `ReturnValuesOnConditionCheckFailure` both on
//! `UpdateItem` and inside `TransactWriteItems`, so no read-after-failure fallback is needed for
//! the key check; `create_event` still reads the event back if a cancellation reason comes
//! without the old item.

mod keys;
mod main_table;
mod tokens;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, KeysAndAttributes, TransactWriteItem};
use chrono::{DateTime, SecondsFormat, Utc};
use patchbay_core::ports::{StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use keys::DynamoKeyStore;
pub use main_table::DynamoStore;

/// Attribute and index names: the tables `patchbay_testing::aws` creates use them, and the infra
/// test holds `infra/template.yaml` to them.
pub mod schema {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const GSI1: &str = "gsi1";
    pub const GSI1PK: &str = "gsi1pk";
    pub const GSI1SK: &str = "gsi1sk";
    pub const TTL_ATTRIBUTE: &str = "expires_at";
    pub const KEY: &str = "key";
    /// Keys table: a key's collection (N), and the index that lists a collection's keys.
    pub const COLLECTION: &str = "collection";
    pub const KEYS_BY_COLLECTION: &str = "by_collection";
}

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The canonical timestamp for keys and conditions: fixed width, sortable, exact.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn corrupt(what: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("corrupt record: {what}"))
}

pub(crate) fn attr_s<'a>(item: &'a Item, name: &str) -> StoreResult<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(corrupt(format_args!("attribute {name} missing or not a string"))),
    }
}

pub(crate) fn attr_opt_s<'a>(item: &'a Item, name: &str) -> StoreResult<Option<&'a str>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(corrupt(format_args!("attribute {name} is not a string"))),
    }
}

pub(crate) fn attr_bool(item: &Item, name: &str) -> StoreResult<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        _ => Err(corrupt(format_args!("attribute {name} missing or not a boolean"))),
    }
}

pub(crate) fn attr_u64(item: &Item, name: &str) -> StoreResult<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => {
            v.parse().map_err(|_| corrupt(format_args!("attribute {name} is not a count")))
        }
        _ => Err(corrupt(format_args!("attribute {name} missing or not a number"))),
    }
}

pub(crate) fn attr_ts(item: &Item, name: &str) -> StoreResult<DateTime<Utc>> {
    let text = attr_s(item, name)?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| corrupt(format_args!("attribute {name} is not a timestamp")))
}

pub(crate) fn to_doc<T: Serialize>(value: &T) -> StoreResult<AttributeValue> {
    serde_json::to_string(value).map(AttributeValue::S).map_err(StoreError::unavailable)
}

pub(crate) fn from_doc<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    serde_json::from_str(attr_s(item, "doc")?).map_err(|e| corrupt(format_args!("doc: {e}")))
}

/// Any SDK failure we do not interpret: the store is unavailable. The message carries the
/// service's error code and text (no request payloads, so no secrets).
/// Every item one table's `BatchGetItem` of `request` returns, asking again for the keys
/// DynamoDB left unprocessed (throttling) after a growing pause, at most `rounds` times; then
/// `Unavailable("{what} throttled")`.
pub(crate) async fn batch_get_all(
    client: &Client,
    table: &str,
    mut request: KeysAndAttributes,
    rounds: u32,
    what: &str,
) -> StoreResult<Vec<Item>> {
    let mut items = Vec::new();
    for round in 0.. {
        let out = client.batch_get_item().request_items(table, request).send().await.map_err(unavailable)?;
        items.extend(out.responses.unwrap_or_default().remove(table).unwrap_or_default());
        match out.unprocessed_keys.unwrap_or_default().remove(table) {
            Some(rest) if !rest.keys().is_empty() => {
                if round >= rounds {
                    return Err(StoreError::Unavailable(format!("{what} throttled")));
                }
                request = rest;
                tokio::time::sleep(Duration::from_millis(25 << round.min(5))).await;
            }
            _ => break,
        }
    }
    Ok(items)
}

pub(crate) fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

/// A conditional `UpdateItem` found the item absent or in another state.
pub(crate) fn update_condition_failed<R>(err: &SdkError<UpdateItemError, R>) -> bool {
    err.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception)
}

pub(crate) fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("building a DynamoDB request: {err}"))
}

/// Whether a transaction cancellation reason is a failed condition (rather than `None`, a
/// conflict with another transaction, throttling, ...).
pub(crate) fn reason_is_condition(reason: &CancellationReason) -> bool {
    reason.code() == Some("ConditionalCheckFailed")
}

/// Whether a transaction cancellation was caused only by failed conditions. Other reasons
/// (`TransactionConflict`, throttling, validation) make the whole call `Unavailable`.
pub(crate) fn only_conditions_failed(reasons: &[CancellationReason]) -> bool {
    reasons.iter().any(reason_is_condition)
        && reasons.iter().all(|r| matches!(r.code(), None | Some("None" | "ConditionalCheckFailed")))
}

/// Transactions cancelled by a conflicting transaction on the same items are retried this often.
const TRANSACTION_TRIES: u32 = 5;

/// How a transaction ended, when it did not fail outright.
pub(crate) enum Transaction {
    Committed,
    /// Cancelled by failed conditions only; one reason per action, in order (a failed
    /// `Put`/`Delete` that asked for it carries the old item).
    ConditionsFailed(Vec<CancellationReason>),
}

fn cancelled(reasons: &[CancellationReason]) -> StoreError {
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("?")).collect();
    StoreError::Unavailable(format!("transaction cancelled: {}", codes.join(",")))
}

/// Run a `TransactWriteItems`. A cancellation caused by another transaction on the same items
/// (`TransactionConflict`, `TransactionInProgressException`) is retried with a short back-off;
/// a cancellation by failed conditions is returned; anything else is `Unavailable`.
pub(crate) async fn transact(client: &Client, actions: Vec<TransactWriteItem>) -> StoreResult<Transaction> {
    let mut tries = 0;
    loop {
        tries += 1;
        let Err(err) = client.transact_write_items().set_transact_items(Some(actions.clone())).send().await
        else {
            return Ok(Transaction::Committed);
        };
        match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                let reasons = e.cancellation_reasons();
                if only_conditions_failed(reasons) {
                    return Ok(Transaction::ConditionsFailed(reasons.to_vec()));
                }
                let contended = reasons.iter().any(|r| r.code() == Some("TransactionConflict"));
                if !contended || tries >= TRANSACTION_TRIES {
                    return Err(cancelled(reasons));
                }
            }
            Some(e) if e.is_transaction_in_progress_exception() && tries < TRANSACTION_TRIES => {}
            _ => return Err(unavailable(err)),
        }
        let jitter = u64::from(rand::random::<u8>() % 20);
        tokio::time::sleep(Duration::from_millis(20 * u64::from(tries) + jitter)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_and_sortable() {
        let a = DateTime::parse_from_rfc3339("2025-01-31T12:00:00Z").unwrap().with_timezone(&Utc);
        let b = a + chrono::Duration::nanoseconds(1);
        assert_eq!(ts(a), "2025-01-31T12:00:00.000000000Z");
        assert_eq!(ts(a).len(), ts(b).len());
        assert!(ts(a) < ts(b));
        let item: Item = [("t".to_owned(), s(ts(b)))].into_iter().collect();
        assert_eq!(attr_ts(&item, "t").unwrap(), b);
    }

    #[test]
    fn cancellation_reasons() {
        let ccf = CancellationReason::builder().code("ConditionalCheckFailed").build();
        let none = CancellationReason::builder().code("None").build();
        let conflict = CancellationReason::builder().code("TransactionConflict").build();
        assert!(only_conditions_failed(&[none.clone(), ccf.clone()]));
        assert!(!only_conditions_failed(std::slice::from_ref(&none)));
        assert!(!only_conditions_failed(&[ccf, conflict]));
    }
}
