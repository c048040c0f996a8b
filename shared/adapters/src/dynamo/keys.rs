//! License keys in their own table (hash key `key`). The layout is documented on the parent
//! module.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    Select, TransactWriteItem, WriteRequest,
};
use chrono::{DateTime, Utc};
use patchbay_core::ids::key_fingerprint;
use patchbay_core::model::{AppCollections, Collection, CollectionId, LicenseKey};
use patchbay_core::ports::{KeyStore, KeyVerdict, StoreError, StoreResult};
use patchbay_core::secret::Secret;

use super::schema::{COLLECTION, KEY, KEYS_BY_COLLECTION};
use super::{
    Item, Transaction, attr_bool, attr_opt_s, attr_s, attr_ts, attr_u64, batch_get_all, build_error, n,
    reason_is_condition, s, transact, ts, unavailable, update_condition_failed,
};

/// `TransactWriteItems` takes at most 100 actions, `BatchGetItem` 100 keys.
const CHUNK: usize = 100;
/// `BatchWriteItem` takes at most 25 requests.
const BATCH_WRITE: usize = 25;
/// Rounds of retrying unprocessed batch items before giving up.
const BATCH_ROUNDS: u32 = 8;

/// License keys in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoKeyStore {
    client: Client,
    table: String,
}

fn key_of(key: &str) -> Item {
    HashMap::from([(KEY.to_owned(), s(key))])
}

fn key_item(k: &LicenseKey) -> Item {
    let mut item = key_of(&k.key);
    item.insert("app_id".into(), s(&k.app_id));
    item.insert("key_secret".into(), s(k.key_secret.expose()));
    if let Some(collection) = k.collection_id {
        item.insert(COLLECTION.into(), n(collection));
    }
    item.insert("registrations".into(), n(k.registrations));
    item.insert("blocked".into(), AttributeValue::Bool(k.blocked));
    item.insert("created_at".into(), s(ts(k.created_at)));
    if let Some(reason) = &k.blocked_reason {
        item.insert(BLOCKED_REASON.into(), s(reason));
    }
    item
}

/// Why the service blocked a key itself.
const BLOCKED_REASON: &str = "blocked_reason";
/// A key's registrations in one clock hour live in an attribute named for the hour, so the
/// registering `UpdateItem` counts them with the same `ADD` (no read, no second request).
const HOUR_PREFIX: &str = "reg_h";

fn hour_attribute(hour: i64) -> String {
    format!("{HOUR_PREFIX}{hour}")
}

fn key_from_item(item: &Item) -> StoreResult<LicenseKey> {
    Ok(LicenseKey {
        key: attr_s(item, KEY)?.to_owned(),
        app_id: attr_s(item, "app_id")?.to_owned(),
        key_secret: Secret::new(attr_s(item, "key_secret")?),
        collection_id: collection_of(item),
        registrations: attr_u64(item, "registrations")?,
        blocked: attr_bool(item, "blocked")?,
        created_at: attr_ts(item, "created_at")?,
        blocked_reason: attr_opt_s(item, BLOCKED_REASON)?.map(str::to_owned),
    })
}

/// A key's collection: `collection` (N), or on a record from before collections a
/// `collection_id` string that holds a number; otherwise `None` (the app's default).
fn collection_of(item: &Item) -> Option<CollectionId> {
    match (item.get(COLLECTION), item.get("collection_id")) {
        (Some(AttributeValue::N(id)), _) | (None, Some(AttributeValue::S(id))) => id.parse().ok(),
        _ => None,
    }
}

/// The `app_id` of the collection items: no app has it, so no key check matches them.
const META_APP_ID: &str = "#meta";
const COUNTER_KEY: &str = "#counter#collections";
/// Rounds of read, change, conditional put on an app's collections item before `Conflict`.
const META_TRIES: u32 = 5;

fn app_meta_key(app_id: &str) -> String {
    format!("#app#{app_id}")
}

fn pointer_key(id: CollectionId) -> String {
    format!("#collection#{id}")
}

/// Why a key fails the check for `app_id`, or `Valid` when it passes. Another app's key is
/// `OtherApp` whatever its state, so its state does not leak.
fn classify(item: Option<&Item>, app_id: &str) -> StoreResult<KeyVerdict> {
    let Some(item) = item.filter(|i| !i.is_empty()) else {
        return Ok(KeyVerdict::NotFound);
    };
    if attr_s(item, "app_id")? != app_id {
        return Ok(KeyVerdict::OtherApp);
    }
    if attr_bool(item, "blocked")? {
        return Ok(KeyVerdict::Blocked);
    }
    Ok(KeyVerdict::Valid(key_from_item(item)?))
}

fn not_found(key: &str) -> StoreError {
    StoreError::NotFound(format!("key {}", key_fingerprint(key)))
}

/// Administration reads its own writes; the game's read-only check need not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Consistent,
    Eventual,
}

impl DynamoKeyStore {
    async fn read(&self, key: &str, read: Read) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .consistent_read(read == Read::Consistent)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoKeyStore { client, table: table.into() }
    }

    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Which of these keys exist (strongly consistent `BatchGetItem`s of up to 100).
    async fn existing(&self, keys: &[&str]) -> StoreResult<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(CHUNK) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|k| key_of(k)).collect()))
                .projection_expression("#k")
                .expression_attribute_names("#k", KEY)
                .consistent_read(true)
                .build()
                .map_err(build_error)?;
            let items = batch_get_all(&self.client, &self.table, request, BATCH_ROUNDS, "key lookup").await?;
            for item in items {
                found.insert(attr_s(&item, KEY)?.to_owned());
            }
        }
        Ok(found)
    }

    /// Best effort: delete keys this call wrote before a later chunk failed.
    async fn roll_back(&self, written: &[&str]) {
        let mut left = 0usize;
        for chunk in written.chunks(BATCH_WRITE) {
            let mut requests: Vec<WriteRequest> = Vec::with_capacity(chunk.len());
            for key in chunk {
                match DeleteRequest::builder().set_key(Some(key_of(key))).build() {
                    Ok(delete) => requests.push(WriteRequest::builder().delete_request(delete).build()),
                    Err(_) => left += 1,
                }
            }
            for round in 0..=BATCH_ROUNDS {
                if requests.is_empty() {
                    break;
                }
                match self.client.batch_write_item().request_items(&self.table, requests.clone()).send().await
                {
                    Ok(out) => {
                        requests =
                            out.unprocessed_items.unwrap_or_default().remove(&self.table).unwrap_or_default();
                    }
                    Err(err) => {
                        tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "rolling back a key import");
                    }
                }
                if !requests.is_empty() {
                    tokio::time::sleep(Duration::from_millis(25 << round.min(5))).await;
                }
            }
            left += requests.len();
        }
        if left > 0 {
            tracing::error!(left, "a failed key import left keys behind; they were not rolled back");
        }
    }

    fn put_action(&self, k: &LicenseKey) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(key_item(k)))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

impl DynamoKeyStore {
    /// Checks and counts a registration in one request: the count is an atomic `ADD` on the item,
    /// guarded by the condition that the key exists, is the app's and is not blocked. Never a
    /// `SET` of a value read earlier: concurrent checks would overwrite each other's increments.
    fn register_check(&self, key: &str, app_id: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .update_expression("ADD #reg :one")
            .condition_expression("attribute_exists(#k) AND #app = :app AND #blocked = :false")
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#reg", "registrations")
            .expression_attribute_names("#app", "app_id")
            .expression_attribute_names("#blocked", "blocked")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":app", s(app_id))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }
}

impl DynamoKeyStore {
    /// [`register_check`](Self::register_check) that also `ADD`s one to the key's attribute for
    /// `hour`, on the condition that it is still at most `per_hour - 1`, and drops the previous
    /// hour's attribute: still one `UpdateItem`.
    fn register_limited_check(
        &self,
        key: &str,
        app_id: &str,
        per_hour: u64,
        hour: i64,
    ) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .update_expression("ADD #reg :one, #hour :one REMOVE #previous")
            .condition_expression(
                "attribute_exists(#k) AND #app = :app AND #blocked = :false \
                 AND (attribute_not_exists(#hour) OR #hour < :per_hour)",
            )
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#reg", "registrations")
            .expression_attribute_names("#app", "app_id")
            .expression_attribute_names("#blocked", "blocked")
            .expression_attribute_names("#hour", hour_attribute(hour))
            .expression_attribute_names("#previous", hour_attribute(hour - 1))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":app", s(app_id))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":per_hour", n(per_hour))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }

    /// Blocks a key that reached its hourly limit, with the reason; a key blocked meanwhile
    /// (by hand, or by another instance) keeps its state.
    async fn auto_block(&self, key: &str, registrations: u64) -> StoreResult<()> {
        let reason = patchbay_core::model::auto_block_reason(registrations);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .update_expression("SET #blocked = :true, #reason = :reason")
            .condition_expression("attribute_exists(#k) AND #blocked = :false")
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#blocked", "blocked")
            .expression_attribute_names("#reason", BLOCKED_REASON)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":reason", s(&reason))
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::warn!(key = %key_fingerprint(key), %reason, "key blocked automatically");
                Ok(())
            }
            Err(err) if update_condition_failed(&err) => Ok(()),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// Hour attributes older than the previous hour (left by a key idle for hours) are dropped
    /// in the background, so items do not grow.
    fn drop_stale_hours(&self, key: &str, item: &Item, hour: i64) {
        let stale: Vec<String> = item
            .keys()
            .filter(|name| {
                name.strip_prefix(HOUR_PREFIX)
                    .and_then(|h| h.parse::<i64>().ok())
                    .is_some_and(|h| h < hour - 1)
            })
            .cloned()
            .collect();
        if stale.is_empty() {
            return;
        }
        let names: Vec<String> = (0..stale.len()).map(|i| format!("#s{i}")).collect();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .update_expression(format!("REMOVE {}", names.join(", ")))
            .condition_expression("attribute_exists(#k)")
            .expression_attribute_names("#k", KEY);
        for (placeholder, name) in names.iter().zip(stale) {
            request = request.expression_attribute_names(placeholder, name);
        }
        tokio::spawn(async move {
            if let Err(err) = request.send().await {
                tracing::debug!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "dropping old hour counters");
            }
        });
    }
}

#[async_trait]
impl KeyStore for DynamoKeyStore {
    async fn register_limited(
        &self,
        key: &str,
        app_id: &str,
        per_hour: u64,
        hour: i64,
    ) -> StoreResult<KeyVerdict> {
        let result = self.register_limited_check(key, app_id, per_hour, hour).send().await;
        match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                self.drop_stale_hours(key, &item, hour);
                Ok(KeyVerdict::Valid(key_from_item(&item)?))
            }
            Err(err) if update_condition_failed(&err) => {
                let old = match err.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(e) => e.item,
                    _ => None,
                };
                match classify(old.as_ref(), app_id)? {
                    // Its app's, not blocked: the hour's count is at the limit.
                    KeyVerdict::Valid(_) => {
                        let counted = old
                            .as_ref()
                            .and_then(|item| item.get(&hour_attribute(hour)))
                            .and_then(|v| v.as_n().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                            .unwrap_or(per_hour);
                        self.auto_block(key, counted + 1).await?;
                        Ok(KeyVerdict::Blocked)
                    }
                    verdict => Ok(verdict),
                }
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    /// All or nothing within one chunk of 100 (one transaction); across chunks, a failure
    /// deletes what earlier chunks wrote again, best effort. A key given twice counts as
    /// existing (its second occurrence), as it would for a store that inserts one by one.
    async fn create_keys(&self, keys: &[LicenseKey]) -> StoreResult<Vec<String>> {
        let mut seen = HashSet::new();
        let mut duplicates: Vec<String> = Vec::new();
        let mut unique: Vec<&LicenseKey> = Vec::with_capacity(keys.len());
        for k in keys {
            if seen.insert(k.key.as_str()) {
                unique.push(k);
            } else {
                duplicates.push(k.key.clone());
            }
        }
        let names: Vec<&str> = unique.iter().map(|k| k.key.as_str()).collect();
        let existing = self.existing(&names).await?;
        duplicates.extend(names.iter().filter(|k| existing.contains(**k)).map(|k| (*k).to_owned()));
        if !duplicates.is_empty() {
            return Ok(duplicates);
        }

        let mut written: Vec<&str> = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(CHUNK) {
            let actions = match chunk.iter().map(|k| self.put_action(k)).collect::<StoreResult<Vec<_>>>() {
                Ok(actions) => actions,
                Err(err) => {
                    self.roll_back(&written).await;
                    return Err(err);
                }
            };
            match transact(&self.client, actions).await {
                Ok(Transaction::Committed) => written.extend(chunk.iter().map(|k| k.key.as_str())),
                // Someone created some of these since our check.
                Ok(Transaction::ConditionsFailed(reasons)) => {
                    self.roll_back(&written).await;
                    return Ok(chunk
                        .iter()
                        .zip(&reasons)
                        .filter(|(_, r)| reason_is_condition(r))
                        .map(|(k, _)| k.key.clone())
                        .collect());
                }
                Err(err) => {
                    self.roll_back(&written).await;
                    return Err(err);
                }
            }
        }
        Ok(Vec::new())
    }

    async fn get_key(&self, key: &str) -> StoreResult<Option<LicenseKey>> {
        if key.starts_with('#') {
            // A collection item, never a key.
            return Ok(None);
        }
        self.read(key, Read::Consistent).await?.as_ref().map(key_from_item).transpose()
    }

    async fn get_keys(&self, keys: &[&str]) -> StoreResult<Vec<LicenseKey>> {
        let keys: Vec<&str> = keys.iter().copied().filter(|k| !k.starts_with('#')).collect();
        self.read_many(&keys).await
    }

    async fn check_key(&self, key: &str, app_id: &str, register: bool) -> StoreResult<KeyVerdict> {
        if !register {
            // A check with the key's secret only reads: half a read unit, eventually consistent
            // (a block reaches it within a second or so).
            return classify(self.read(key, Read::Eventual).await?.as_ref(), app_id);
        }
        let result = self.register_check(key, app_id).send().await;
        match result {
            Ok(out) => Ok(KeyVerdict::Valid(key_from_item(&out.attributes.unwrap_or_default())?)),
            Err(err) if update_condition_failed(&err) => {
                // The failure carries the item as it was (none: there is no such key).
                let old = match err.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(e) => e.item,
                    _ => None,
                };
                match classify(old.as_ref(), app_id)? {
                    // The condition failed on an item that passes it: a malformed record.
                    KeyVerdict::Valid(_) => {
                        Err(StoreError::Unavailable(format!("corrupt record: key {}", key_fingerprint(key))))
                    }
                    verdict => Ok(verdict),
                }
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn set_key_blocked(&self, key: &str, blocked: bool) -> StoreResult<LicenseKey> {
        if key.starts_with('#') {
            return Err(not_found(key));
        }
        // By hand: no reason; an unblocked key starts a fresh hour (or its next registration
        // would block it again).
        let hour = patchbay_core::model::registration_hour(chrono::Utc::now());
        let update = if blocked {
            "SET #blocked = :blocked REMOVE #reason"
        } else {
            "SET #blocked = :blocked REMOVE #reason, #hour, #previous"
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .update_expression(update)
            .condition_expression("attribute_exists(#k)")
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#reason", BLOCKED_REASON);
        if !blocked {
            request = request
                .expression_attribute_names("#hour", hour_attribute(hour))
                .expression_attribute_names("#previous", hour_attribute(hour - 1));
        }
        let result = request
            .expression_attribute_names("#blocked", "blocked")
            .expression_attribute_values(":blocked", AttributeValue::Bool(blocked))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => key_from_item(&out.attributes.unwrap_or_default()),
            Err(err) if update_condition_failed(&err) => Err(not_found(key)),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// A `Scan` of the keys table for the app's keys (administration, rare), then batched
    /// deletes.
    async fn delete_app_keys(&self, app_id: &str) -> StoreResult<usize> {
        let items = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("#app = :app")
            .projection_expression("#k")
            .expression_attribute_names("#app", "app_id")
            .expression_attribute_names("#k", KEY)
            .expression_attribute_values(":app", s(app_id))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(unavailable)?;
        let keys =
            items.iter().map(|item| attr_s(item, KEY).map(str::to_owned)).collect::<StoreResult<Vec<_>>>()?;
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.roll_back(&names).await;
        Ok(keys.len())
    }

    async fn create_collection(
        &self,
        app_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Collection> {
        let collection = Collection {
            id: self.next_collection_id().await?,
            app_id: app_id.to_owned(),
            name: name.to_owned(),
            blocked: false,
            created_at: now,
        };
        let pointer = Put::builder()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                (KEY.to_owned(), s(pointer_key(collection.id))),
                ("app_id".to_owned(), s(META_APP_ID)),
                ("owner".to_owned(), s(app_id)),
            ])))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY)
            .build()
            .map_err(build_error)?;
        let pointer = TransactWriteItem::builder().put(pointer).build();
        self.change_app_collections(app_id, Some(pointer), |list| {
            list.push(collection.clone());
            Ok(())
        })
        .await?;
        Ok(collection)
    }

    async fn get_collection(&self, id: CollectionId) -> StoreResult<Option<Collection>> {
        let Some(owner) = self.owner_of(id).await? else {
            return Ok(None);
        };
        let (list, _) = self.app_meta(&owner).await?;
        Ok(list.into_iter().find(|c| c.id == id))
    }

    async fn list_collections(&self, app_id: &str) -> StoreResult<Vec<Collection>> {
        Ok(self.app_meta(app_id).await?.0)
    }

    async fn set_collection_blocked(&self, id: CollectionId, blocked: bool) -> StoreResult<Collection> {
        let missing = || StoreError::NotFound(format!("collection {id}"));
        let owner = self.owner_of(id).await?.ok_or_else(missing)?;
        let list = self
            .change_app_collections(&owner, None, |list| {
                let c = list.iter_mut().find(|c| c.id == id).ok_or_else(missing)?;
                c.blocked = blocked;
                Ok(())
            })
            .await?;
        list.into_iter().find(|c| c.id == id).ok_or_else(missing)
    }

    async fn app_collections(&self, app_id: &str) -> StoreResult<AppCollections> {
        Ok(AppCollections::of(&self.app_meta(app_id).await?.0))
    }

    async fn list_collection_keys(
        &self,
        id: CollectionId,
        offset: usize,
        size: usize,
    ) -> StoreResult<(usize, Vec<LicenseKey>)> {
        // The index holds keys only: walk it for the count and the page's keys, then read the
        // page's items.
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(KEYS_BY_COLLECTION)
            .key_condition_expression("#c = :c")
            .expression_attribute_names("#c", COLLECTION)
            .expression_attribute_values(":c", n(id))
            .select(Select::AllProjectedAttributes)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(unavailable)?;
        let names =
            items.iter().map(|item| attr_s(item, KEY).map(str::to_owned)).collect::<StoreResult<Vec<_>>>()?;
        let total = names.len();
        let page: Vec<&str> = names.iter().skip(offset).take(size).map(String::as_str).collect();
        Ok((total, self.read_many(&page).await?))
    }
}

impl DynamoKeyStore {
    async fn next_collection_id(&self) -> StoreResult<CollectionId> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(COUNTER_KEY)))
            .update_expression("SET #app = :meta ADD #next :one")
            .expression_attribute_names("#app", "app_id")
            .expression_attribute_names("#next", "next")
            .expression_attribute_values(":meta", s(META_APP_ID))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let next = attr_u64(&out.attributes.unwrap_or_default(), "next")?;
        CollectionId::try_from(next).map_err(StoreError::unavailable)
    }

    async fn owner_of(&self, id: CollectionId) -> StoreResult<Option<String>> {
        let item = self.read(&pointer_key(id), Read::Consistent).await?;
        item.map(|i| attr_s(&i, "owner").map(str::to_owned)).transpose()
    }

    /// An app's collections by id, and the version of the item that holds them (`None`: no
    /// item yet).
    async fn app_meta(&self, app_id: &str) -> StoreResult<(Vec<Collection>, Option<u64>)> {
        let Some(item) = self.read(&app_meta_key(app_id), Read::Consistent).await? else {
            return Ok((Vec::new(), None));
        };
        let mut list: Vec<Collection> = serde_json::from_str(attr_s(&item, "collections")?)
            .map_err(|e| StoreError::Unavailable(format!("corrupt record: collections: {e}")))?;
        list.sort_by_key(|c| c.id);
        Ok((list, Some(attr_u64(&item, "version")?)))
    }

    /// Read, change and put back an app's collections, conditional on the version read (and
    /// together with `with`, when given), retrying a lost race a few times.
    async fn change_app_collections(
        &self,
        app_id: &str,
        with: Option<TransactWriteItem>,
        change: impl Fn(&mut Vec<Collection>) -> StoreResult<()>,
    ) -> StoreResult<Vec<Collection>> {
        for _ in 0..META_TRIES {
            let (mut list, version) = self.app_meta(app_id).await?;
            change(&mut list)?;
            let doc = serde_json::to_string(&list).map_err(StoreError::unavailable)?;
            let put = Put::builder().table_name(&self.table).set_item(Some(HashMap::from([
                (KEY.to_owned(), s(app_meta_key(app_id))),
                ("app_id".to_owned(), s(META_APP_ID)),
                ("collections".to_owned(), s(doc)),
                ("version".to_owned(), n(version.map_or(1, |v| v + 1))),
            ])));
            let put = match version {
                None => {
                    put.condition_expression("attribute_not_exists(#k)").expression_attribute_names("#k", KEY)
                }
                Some(v) => put
                    .condition_expression("#v = :v")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":v", n(v)),
            };
            let mut actions =
                vec![TransactWriteItem::builder().put(put.build().map_err(build_error)?).build()];
            actions.extend(with.clone());
            match transact(&self.client, actions).await? {
                Transaction::Committed => return Ok(list),
                Transaction::ConditionsFailed(_) => {
                    tokio::time::sleep(Duration::from_millis(10 + u64::from(rand::random::<u8>() % 40)))
                        .await;
                }
            }
        }
        Err(StoreError::Conflict(format!("collections of app {app_id}")))
    }

    /// These keys' records, in this order (strongly consistent `BatchGetItem`s of up to 100).
    async fn read_many(&self, keys: &[&str]) -> StoreResult<Vec<LicenseKey>> {
        let mut found: HashMap<String, LicenseKey> = HashMap::new();
        for chunk in keys.chunks(CHUNK) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|k| key_of(k)).collect()))
                .consistent_read(true)
                .build()
                .map_err(build_error)?;
            let items = batch_get_all(&self.client, &self.table, request, BATCH_ROUNDS, "key lookup").await?;
            for item in items {
                let k = key_from_item(&item)?;
                found.insert(k.key.clone(), k);
            }
        }
        Ok(keys.iter().filter_map(|k| found.remove(*k)).collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn sample() -> LicenseKey {
        LicenseKey {
            key: "AAAAA-BBBBB".into(),
            app_id: "app_1".into(),
            key_secret: Secret::new("s3cret"),
            collection_id: None,
            registrations: 3,
            blocked: false,
            created_at: Utc::now(),
            blocked_reason: None,
        }
    }

    #[test]
    fn items_round_trip() {
        let k = sample();
        assert_eq!(key_from_item(&key_item(&k)).unwrap(), k);
        let with_collection = LicenseKey { collection_id: Some(7), ..sample() };
        assert_eq!(key_from_item(&key_item(&with_collection)).unwrap(), with_collection);
    }

    #[test]
    fn classification_hides_other_apps_state() {
        let mut k = sample();
        k.blocked = true;
        let item = key_item(&k);
        assert_eq!(classify(None, "app_1").unwrap(), KeyVerdict::NotFound);
        assert_eq!(classify(Some(&item), "app_2").unwrap(), KeyVerdict::OtherApp);
        assert_eq!(classify(Some(&item), "app_1").unwrap(), KeyVerdict::Blocked);
        k.blocked = false;
        assert_eq!(classify(Some(&key_item(&k)), "app_1").unwrap(), KeyVerdict::Valid(k));
    }

    /// `expression` with every `#name` and `:value` placeholder replaced by what it stands for.
    fn resolved(expression: &str, request: &UpdateItemFluentBuilder) -> String {
        let mut out = expression.to_owned();
        for (placeholder, name) in request.get_expression_attribute_names().iter().flatten() {
            out = out.replace(placeholder.as_str(), name);
        }
        for (placeholder, value) in request.get_expression_attribute_values().iter().flatten() {
            out = out.replace(placeholder.as_str(), &format!("{value:?}"));
        }
        out
    }

    /// moto loses concurrent increments, so the concurrent-registration tests cannot tell an
    /// atomic `ADD` from a read-then-`SET`; the request itself can.
    #[test]
    fn registration_is_counted_by_an_atomic_conditional_add() {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        let store = DynamoKeyStore { client: Client::from_conf(config), table: "keys".into() };
        let request = store.register_check("AAAAA-BBBBB", "app_1");

        assert_eq!(request.get_table_name().as_deref(), Some("keys"));
        assert_eq!(request.get_key(), &Some(key_of("AAAAA-BBBBB")));
        let update = request.get_update_expression().as_deref().unwrap_or_default();
        assert_eq!(resolved(update, &request), r#"ADD registrations N("1")"#);
        let condition = request.get_condition_expression().as_deref().unwrap_or_default();
        assert_eq!(
            resolved(condition, &request),
            r#"attribute_exists(key) AND app_id = S("app_1") AND blocked = Bool(false)"#
        );
        // Nothing read earlier travels with the request: only the increment and the condition's.
        let values = request.get_expression_attribute_values().clone().unwrap_or_default();
        let mut placeholders: Vec<&str> = values.keys().map(String::as_str).collect();
        placeholders.sort_unstable();
        assert_eq!(placeholders, [":app", ":false", ":one"]);
    }
}
