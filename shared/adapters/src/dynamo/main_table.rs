//! The main table: apps, the app-secret index, webhooks, events, deliveries and attempts. The
//! item layouts are documented on the parent module.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, PutRequest, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, WriteRequest,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use patchbay_core::ids::secret_lookup_hash;
use patchbay_core::model::{App, Attempt, Delivery, DeliveryStatus, EventState, StoredEvent, Webhook};
use patchbay_core::ports::{
    AppSecretIndex, AppStore, AttemptContext, AttemptStore, DeliveryStore, EventCreation, EventStore,
    OutcomeRecord, Page, StoreError, StoreResult, WebhookStore,
};

use super::schema::{GSI1, GSI1PK, GSI1SK, PK, SK, TTL_ATTRIBUTE};
use super::{
    Item, Transaction, attr_bool, attr_s, attr_ts, batch_get_all, build_error, from_doc, n,
    reason_is_condition, s, to_doc, transact, ts, unavailable, update_condition_failed,
};

/// Deliveries written in the same transaction as their event (the 100-action limit, less one
/// for the event).
const DELIVERIES_WITH_EVENT: usize = 99;
/// Parallel single-item writes (`ensure_deliveries`, `mark_enqueued`).
const WRITE_CONCURRENCY: usize = 16;
/// The most items one `list_deliveries` call returns.
const MAX_PAGE: usize = 1_000;

/// `BatchWriteItem`'s limit.
const BATCH_WRITE: usize = 25;
/// Rounds of `UnprocessedKeys`/`UnprocessedItems` (throttling) before giving up.
const BATCH_ROUNDS: u32 = 6;

pub(super) const NOT_EXISTS: &str = "attribute_not_exists(pk)";
pub(super) const EXISTS: &str = "attribute_exists(pk)";

/// Apps, webhooks, events, deliveries, attempts and the app-secret index in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
}

fn app_pk(id: &str) -> String {
    format!("APP#{id}")
}
fn app_secret_pk(hash: &str) -> String {
    format!("APPSECRET#{hash}")
}
fn webhook_pk(id: &str) -> String {
    format!("WH#{id}")
}
fn event_pk(id: &str) -> String {
    format!("EVT#{id}")
}
fn delivery_pk(id: &str) -> String {
    format!("DLV#{id}")
}
fn attempt_sk(number: u32) -> String {
    format!("ATT#{number:06}")
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

fn app_item(app: &App, secret_hash: &str) -> StoreResult<Item> {
    let mut item = key(app_pk(&app.id), "APP");
    item.insert("doc".into(), to_doc(app)?);
    item.insert("secret_hash".into(), s(secret_hash));
    Ok(item)
}

fn secret_index_item(app: &App, secret_hash: &str) -> StoreResult<Item> {
    let mut item = key(app_secret_pk(secret_hash), "APPSECRET");
    item.insert("app_id".into(), s(&app.id));
    item.insert("doc".into(), to_doc(app)?);
    Ok(item)
}

/// The circuit's `open_until` (authoritative over the copy in `doc`: `claim_probe` moves it
/// alone).
const CIRCUIT_OPEN_UNTIL: &str = "circuit_open_until";

fn webhook_item(webhook: &Webhook) -> StoreResult<Item> {
    let mut item = key(webhook_pk(&webhook.id), "WH");
    item.insert("doc".into(), to_doc(webhook)?);
    if let Some(until) = webhook.circuit.open_until {
        item.insert(CIRCUIT_OPEN_UNTIL.into(), s(ts(until)));
    }
    item.insert(GSI1PK.into(), s(format!("APPWH#{}", webhook.app_id)));
    item.insert(GSI1SK.into(), s(format!("{}#{}", ts(webhook.created_at), webhook.id)));
    Ok(item)
}

fn webhook_from_item(item: &Item) -> StoreResult<Webhook> {
    let mut webhook: Webhook = from_doc(item)?;
    if item.contains_key(CIRCUIT_OPEN_UNTIL) {
        webhook.circuit.open_until = Some(attr_ts(item, CIRCUIT_OPEN_UNTIL)?);
    }
    Ok(webhook)
}

fn state_str(state: EventState) -> &'static str {
    match state {
        EventState::Accepted => "accepted",
        EventState::Complete => "complete",
    }
}

fn event_item(event: &StoredEvent) -> StoreResult<Item> {
    let mut item = key(event_pk(&event.id), "EVT");
    item.insert("doc".into(), to_doc(event)?);
    item.insert("state".into(), s(state_str(event.state)));
    item.insert("lease_until".into(), s(ts(event.lease_until)));
    Ok(item)
}

fn event_from_item(item: &Item) -> StoreResult<StoredEvent> {
    let mut event: StoredEvent = from_doc(item)?;
    event.state = match attr_s(item, "state")? {
        "accepted" => EventState::Accepted,
        "complete" => EventState::Complete,
        other => return Err(StoreError::Unavailable(format!("corrupt record: event state {other:?}"))),
    };
    event.lease_until = attr_ts(item, "lease_until")?;
    Ok(event)
}

fn delivery_item(delivery: &Delivery) -> StoreResult<Item> {
    let mut item = key(delivery_pk(&delivery.id), "DLV");
    item.insert("doc".into(), to_doc(delivery)?);
    item.insert("status".into(), s(delivery.status.as_str()));
    item.insert("enqueued".into(), AttributeValue::Bool(delivery.enqueued));
    item.insert(GSI1PK.into(), s(format!("WHDLV#{}", delivery.webhook_id)));
    item.insert(GSI1SK.into(), s(format!("{}#{}", ts(delivery.created_at), delivery.id)));
    Ok(item)
}

fn delivery_from_item(item: &Item) -> StoreResult<Delivery> {
    let mut delivery: Delivery = from_doc(item)?;
    delivery.enqueued = attr_bool(item, "enqueued")?;
    Ok(delivery)
}

fn attempt_item(attempt: &Attempt) -> StoreResult<Item> {
    let mut item = key(delivery_pk(&attempt.delivery_id), &attempt_sk(attempt.number));
    item.insert("doc".into(), to_doc(attempt)?);
    item.insert(TTL_ATTRIBUTE.into(), n(attempt.expires_at.timestamp()));
    Ok(item)
}

fn encode_cursor(gsi1sk: &str) -> String {
    URL_SAFE_NO_PAD.encode(gsi1sk)
}

fn decode_cursor(cursor: &str) -> StoreResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .filter(|sk| sk.contains('#'))
        .ok_or_else(|| StoreError::NotFound("cursor".to_owned()))
}

/// Keep the first of each id: one transaction may not touch the same item twice.
fn unique_by_id(deliveries: &[Delivery]) -> Vec<&Delivery> {
    let mut seen = HashSet::new();
    deliveries.iter().filter(|d| seen.insert(d.id.as_str())).collect()
}

impl DynamoStore {
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into() }
    }

    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    pub(super) async fn get_item(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// A conditional put: `Ok(false)` when the condition failed.
    async fn put_if(&self, item: Item, condition: &str) -> StoreResult<bool> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(PutItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    pub(super) fn put_action(
        &self,
        item: Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
        return_old_on_failure: bool,
    ) -> StoreResult<TransactWriteItem> {
        let mut put =
            Put::builder().table_name(&self.table).set_item(Some(item)).condition_expression(condition);
        for (name, value) in values {
            put = put.expression_attribute_values(*name, value.clone());
        }
        if return_old_on_failure {
            put = put.return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        }
        Ok(TransactWriteItem::builder().put(put.build().map_err(build_error)?).build())
    }

    pub(super) fn delete_action(
        &self,
        key: Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> StoreResult<TransactWriteItem> {
        let mut delete =
            Delete::builder().table_name(&self.table).set_key(Some(key)).condition_expression(condition);
        for (name, value) in values {
            delete = delete.expression_attribute_values(*name, value.clone());
        }
        Ok(TransactWriteItem::builder().delete(delete.build().map_err(build_error)?).build())
    }

    /// Query every item matching a key condition (all pages), in key order.
    pub(super) async fn query_all(
        &self,
        index: Option<&str>,
        key_condition: &str,
        filter: Option<&str>,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) -> StoreResult<Vec<Item>> {
        // Paged by hand, not with the SDK's paginator (as the key store does): the paginator adds
        // ~19 KB to the ingest bootstrap, which is 4 KB under its 6 MiB budget.
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(key_condition)
                .set_filter_expression(filter.map(str::to_owned))
                .set_exclusive_start_key(start.take())
                // Strongly consistent reads are not available on a GSI.
                .consistent_read(index.is_none());
            for (name, attr) in names {
                query = query.expression_attribute_names(*name, *attr);
            }
            for (name, value) in values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            let out = query.send().await.map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }

    /// Create-if-absent for one delivery: `Ok(true)` when it was new.
    async fn put_delivery_if_absent(&self, delivery: &Delivery) -> StoreResult<bool> {
        self.put_if(delivery_item(delivery)?, NOT_EXISTS).await
    }

    /// What is stored for an event whose create-if-absent failed: the old item the
    /// cancellation carried, else (a service that does not return it) a read.
    async fn existing_event(&self, id: &str, old: Option<&Item>) -> StoreResult<EventCreation> {
        let stored = match old {
            Some(item) if !item.is_empty() => Some(event_from_item(item)?),
            _ => self.get_event(id).await?,
        };
        stored
            .map(EventCreation::Exists)
            // Deleted between our write and our read: nothing to dedupe against, but nothing
            // was written either; the caller retries.
            .ok_or_else(|| StoreError::Conflict(format!("event {id}")))
    }
}

#[async_trait]
impl AppStore for DynamoStore {
    async fn create_app(&self, app: &App) -> StoreResult<()> {
        let hash = secret_lookup_hash(app.app_secret.expose());
        let actions = vec![
            self.put_action(app_item(app, &hash)?, NOT_EXISTS, &[], false)?,
            self.put_action(secret_index_item(app, &hash)?, NOT_EXISTS, &[], false)?,
        ];
        match transact(&self.client, actions).await? {
            Transaction::Committed => Ok(()),
            Transaction::ConditionsFailed(reasons) => {
                if reasons.first().is_some_and(reason_is_condition) {
                    Err(StoreError::AlreadyExists(format!("app {}", app.id)))
                } else {
                    Err(StoreError::AlreadyExists("app_secret".to_owned()))
                }
            }
        }
    }

    async fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        self.get_item(app_pk(id), "APP").await?.as_ref().map(from_doc).transpose()
    }

    async fn update_app(&self, app: &App) -> StoreResult<()> {
        let not_found = || StoreError::NotFound(format!("app {}", app.id));
        let current = self.get_item(app_pk(&app.id), "APP").await?.ok_or_else(not_found)?;
        let old_hash = attr_s(&current, "secret_hash")?.to_owned();
        let new_hash = secret_lookup_hash(app.app_secret.expose());
        let mut actions = vec![
            // Conditional on the secret we read, so the index cannot go stale under a race.
            self.put_action(
                app_item(app, &new_hash)?,
                "attribute_exists(pk) AND secret_hash = :old",
                &[(":old", s(&old_hash))],
                false,
            )?,
            self.put_action(
                secret_index_item(app, &new_hash)?,
                "attribute_not_exists(pk) OR app_id = :id",
                &[(":id", s(&app.id))],
                false,
            )?,
        ];
        if old_hash != new_hash {
            actions.push(self.delete_action(
                key(app_secret_pk(&old_hash), "APPSECRET"),
                "attribute_not_exists(pk) OR app_id = :id",
                &[(":id", s(&app.id))],
            )?);
        }
        match transact(&self.client, actions).await? {
            Transaction::Committed => Ok(()),
            Transaction::ConditionsFailed(reasons) => {
                if reasons.first().is_some_and(reason_is_condition)
                    && self.get_item(app_pk(&app.id), "APP").await?.is_none()
                {
                    Err(not_found())
                } else {
                    Err(StoreError::Conflict(format!("app {}", app.id)))
                }
            }
        }
    }
}

#[async_trait]
impl AppSecretIndex for DynamoStore {
    async fn app_for_secret(&self, app_secret: &str) -> StoreResult<Option<App>> {
        let hash = secret_lookup_hash(app_secret);
        let Some(item) = self.get_item(app_secret_pk(&hash), "APPSECRET").await? else {
            return Ok(None);
        };
        let app: App = from_doc(&item)?;
        // The hash found it; the secret itself must match too (constant time).
        Ok(app.app_secret.matches(app_secret).then_some(app))
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        if self.put_if(webhook_item(webhook)?, NOT_EXISTS).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists(format!("webhook {}", webhook.id)))
        }
    }

    async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
        self.get_item(webhook_pk(id), "WH").await?.as_ref().map(webhook_from_item).transpose()
    }

    async fn list_webhooks(&self, app_id: &str) -> StoreResult<Vec<Webhook>> {
        let items = self
            .query_all(
                Some(GSI1),
                "#pk = :pk",
                None,
                &[("#pk", GSI1PK)],
                &[(":pk", s(format!("APPWH#{app_id}")))],
            )
            .await?;
        items.iter().map(webhook_from_item).collect()
    }

    async fn update_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        if self.put_if(webhook_item(webhook)?, EXISTS).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("webhook {}", webhook.id)))
        }
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(webhook_pk(id), "WH")))
            .condition_expression(EXISTS)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::is_conditional_check_failed_exception) => {
                Err(StoreError::NotFound(format!("webhook {id}")))
            }
            Err(err) => Err(unavailable(err)),
        }
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn create_event(&self, event: &StoredEvent, deliveries: &[Delivery]) -> StoreResult<EventCreation> {
        let deliveries = unique_by_id(deliveries);
        let (with_event, after) = deliveries.split_at(deliveries.len().min(DELIVERIES_WITH_EVENT));
        let mut actions = vec![self.put_action(event_item(event)?, NOT_EXISTS, &[], true)?];
        for d in with_event {
            actions.push(self.put_action(delivery_item(d)?, NOT_EXISTS, &[], false)?);
        }
        match transact(&self.client, actions).await? {
            Transaction::Committed => {}
            Transaction::ConditionsFailed(reasons) => {
                if let Some(first) = reasons.first().filter(|r| reason_is_condition(r)) {
                    return self.existing_event(&event.id, first.item()).await;
                }
                // Only deliveries were in the way (left by an earlier, interrupted write): the
                // event alone, then each delivery create-if-absent.
                if !self.put_if(event_item(event)?, NOT_EXISTS).await? {
                    return self.existing_event(&event.id, None).await;
                }
                self.ensure_refs(&deliveries).await?;
                return Ok(EventCreation::Created);
            }
        }
        self.ensure_refs(after).await?;
        Ok(EventCreation::Created)
    }

    async fn get_event(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        self.get_item(event_pk(id), "EVT").await?.as_ref().map(event_from_item).transpose()
    }

    async fn renew_event_lease(
        &self,
        id: &str,
        expected_lease: DateTime<Utc>,
        new_lease: DateTime<Utc>,
    ) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(event_pk(id), "EVT")))
            .update_expression("SET #lease = :new")
            .condition_expression("attribute_exists(pk) AND #lease = :expected")
            .expression_attribute_names("#lease", "lease_until")
            .expression_attribute_values(":new", s(ts(new_lease)))
            .expression_attribute_values(":expected", s(ts(expected_lease)))
            .send()
            .await;
        // Gone or taken over: either way the caller's lease is not the stored one.
        unless_condition_failed(result, || StoreError::Conflict(format!("event {id}")))
    }

    async fn set_event_state(
        &self,
        id: &str,
        state: EventState,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(event_pk(id), "EVT")))
            .update_expression("SET #state = :state, #lease = :lease")
            .condition_expression(EXISTS)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "lease_until")
            .expression_attribute_values(":state", s(state_str(state)))
            .expression_attribute_values(":lease", s(ts(lease_until)))
            .send()
            .await;
        unless_condition_failed(result, || StoreError::NotFound(format!("event {id}")))
    }
}

impl DynamoStore {
    async fn ensure_refs(&self, deliveries: &[&Delivery]) -> StoreResult<usize> {
        // Collected first: a lazy `map` in the stream trips the Send check of async_trait.
        let writes: Vec<_> = deliveries.iter().map(|d| self.put_delivery_if_absent(d)).collect();
        stream::iter(writes)
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_fold(0, |created, new| async move { Ok(created + usize::from(new)) })
            .await
    }
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn ensure_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<usize> {
        // Sequential per id (a duplicate in the input is simply not new), parallel across ids.
        self.ensure_refs(&unique_by_id(deliveries)).await
    }

    async fn get_delivery(&self, id: &str) -> StoreResult<Option<Delivery>> {
        self.get_item(delivery_pk(id), "DLV").await?.as_ref().map(delivery_from_item).transpose()
    }

    async fn update_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
        if self.put_if(delivery_item(delivery)?, EXISTS).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("delivery {}", delivery.id)))
        }
    }

    async fn mark_enqueued(&self, ids: &[String]) -> StoreResult<()> {
        let mark = |id: &String| {
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(delivery_pk(id), "DLV")))
                .update_expression("SET enqueued = :true")
                // Never create a stub item for an unknown id.
                .condition_expression(EXISTS)
                .expression_attribute_values(":true", AttributeValue::Bool(true));
            async move {
                match request.send().await {
                    Ok(_) => Ok(()),
                    Err(err) if update_condition_failed(&err) => Ok(()),
                    Err(err) => Err(unavailable(err)),
                }
            }
        };
        let marks: Vec<_> = ids.iter().map(mark).collect();
        stream::iter(marks).buffer_unordered(WRITE_CONCURRENCY).try_collect::<Vec<()>>().await.map(|_| ())
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Delivery>> {
        let limit = limit.clamp(1, MAX_PAGE);
        // One more than asked for tells whether there is a next page.
        let wanted = limit + 1;
        let before = cursor.map(decode_cursor).transpose()?;
        let key_condition = if before.is_some() { "#pk = :pk AND #sk < :before" } else { "#pk = :pk" };
        let mut items: Vec<Item> = Vec::with_capacity(wanted);
        let mut start: Option<Item> = None;
        loop {
            let missing = wanted - items.len();
            // With a filter, the query's Limit counts items read, not items matched: read more
            // per round trip so a sparse status does not take one round trip per item.
            let read = if status.is_some() { missing.max(100) } else { missing };
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .scan_index_forward(false)
                .key_condition_expression(key_condition)
                .expression_attribute_names("#pk", GSI1PK)
                .expression_attribute_values(":pk", s(format!("WHDLV#{webhook_id}")))
                .limit(i32::try_from(read).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if let Some(before) = &before {
                query = query
                    .expression_attribute_names("#sk", GSI1SK)
                    .expression_attribute_values(":before", s(before));
            }
            if let Some(status) = status {
                query = query
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status.as_str()));
            }
            let out = query.send().await.map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() && items.len() < wanted => start = Some(last),
                _ => break,
            }
        }
        let has_more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = match items.last() {
            Some(last) if has_more => Some(encode_cursor(attr_s(last, GSI1SK)?)),
            _ => None,
        };
        let items = items.iter().map(delivery_from_item).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn record_attempt(&self, attempt: &Attempt) -> StoreResult<()> {
        if self.put_if(attempt_item(attempt)?, NOT_EXISTS).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists(format!("attempt {} of {}", attempt.number, attempt.delivery_id)))
        }
    }

    async fn list_attempts(&self, delivery_id: &str) -> StoreResult<Vec<Attempt>> {
        // DynamoDB's TTL sweep lags (up to days): hide expired records as if they were gone.
        let items = self
            .query_all(
                None,
                "pk = :pk AND begins_with(sk, :att)",
                Some("#exp > :now"),
                &[("#exp", TTL_ATTRIBUTE)],
                &[
                    (":pk", s(delivery_pk(delivery_id))),
                    (":att", s("ATT#")),
                    (":now", n(Utc::now().timestamp())),
                ],
            )
            .await?;
        let mut attempts = items.iter().map(from_doc).collect::<StoreResult<Vec<Attempt>>>()?;
        // Zero padding keeps key order numeric up to 999 999; sort anyway.
        attempts.sort_by_key(|a| a.number);
        Ok(attempts)
    }
}

/// An update's result, with a failed condition turned into `on_condition`'s error.
pub(super) fn unless_condition_failed<T, R>(
    result: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
    >,
    on_condition: impl FnOnce() -> StoreError,
) -> StoreResult<()>
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(err) if update_condition_failed(&err) => Err(on_condition()),
        Err(err) => Err(unavailable(err)),
    }
}

#[async_trait]
impl AttemptStore for DynamoStore {
    async fn load_attempt_context(
        &self,
        delivery_id: &str,
        webhook_id: &str,
        event_id: &str,
    ) -> StoreResult<AttemptContext> {
        let wanted =
            [(delivery_pk(delivery_id), "DLV"), (webhook_pk(webhook_id), "WH"), (event_pk(event_id), "EVT")];
        let keys: Vec<Item> = wanted.iter().map(|(pk, sk)| key(pk.clone(), sk)).collect();
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(build_error)?;
        let items = batch_get_all(&self.client, &self.table, request, BATCH_ROUNDS, "attempt read").await?;
        let mut found: HashMap<String, Item> = HashMap::new();
        for item in items {
            found.insert(attr_s(&item, PK)?.to_owned(), item);
        }
        let [(d, _), (w, _), (e, _)] = &wanted;
        Ok(AttemptContext {
            delivery: found.get(d).map(delivery_from_item).transpose()?,
            webhook: found.get(w).map(webhook_from_item).transpose()?,
            event: found.get(e).map(event_from_item).transpose()?,
        })
    }

    async fn record_outcomes(&self, outcomes: &[OutcomeRecord]) -> Vec<StoreResult<()>> {
        // A health change must not bring back a deleted webhook, so its outcome is a
        // transaction with conditions; every other outcome is plain puts, packed into as few
        // `BatchWriteItem` calls as the 25-item limit allows.
        let mut results: Vec<Option<StoreResult<()>>> =
            std::iter::repeat_with(|| None).take(outcomes.len()).collect();
        let mut plain = Vec::new();
        let mut guarded = Vec::new();
        for (i, outcome) in outcomes.iter().enumerate() {
            if outcome.webhook.is_some() {
                guarded.push(i);
            } else {
                plain.push(i);
            }
        }
        let transactions: Vec<_> = guarded.iter().map(|&i| self.record_guarded(&outcomes[i])).collect();
        let plain_outcomes: Vec<&OutcomeRecord> = plain.iter().map(|&i| &outcomes[i]).collect();
        let (batched, transacted) =
            tokio::join!(self.record_plain(&plain_outcomes), futures::future::join_all(transactions));
        for (&i, result) in plain.iter().zip(batched) {
            results[i] = Some(result);
        }
        for (&i, result) in guarded.iter().zip(transacted) {
            results[i] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(StoreError::Unavailable("unwritten".into()))))
            .collect()
    }
    async fn claim_probe(
        &self,
        webhook_id: &str,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(webhook_pk(webhook_id), "WH")))
            .update_expression("SET #open = :until")
            .condition_expression("#open = :seen")
            .expression_attribute_names("#open", CIRCUIT_OPEN_UNTIL)
            .expression_attribute_values(":until", s(ts(until)))
            .expression_attribute_values(":seen", s(ts(seen)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if update_condition_failed(&err) => Ok(false),
            Err(err) => Err(unavailable(err)),
        }
    }
}

impl DynamoStore {
    /// Attempts and deliveries as plain puts (the attempt number is the sort key, so a
    /// duplicate message's attempt replaces the other's record of the same try), in calls of
    /// 25 items with no key twice in one call (all at once).
    async fn record_plain(&self, outcomes: &[&OutcomeRecord]) -> Vec<StoreResult<()>> {
        let mut calls: Vec<BatchCall> = Vec::new();
        let mut failed: Vec<Option<StoreError>> =
            std::iter::repeat_with(|| None).take(outcomes.len()).collect();
        for (i, outcome) in outcomes.iter().enumerate() {
            let items = match outcome_items(outcome) {
                Ok(items) => items,
                Err(err) => {
                    failed[i] = Some(err);
                    continue;
                }
            };
            let keys: Vec<(String, String)> = items.iter().map(item_key).collect();
            let fits = calls.last().is_some_and(|(_, batch, seen)| {
                batch.len() + items.len() <= BATCH_WRITE && keys.iter().all(|k| !seen.contains(k))
            });
            if !fits {
                calls.push((Vec::new(), Vec::new(), HashSet::new()));
            }
            let (owners, batch, seen) = calls.last_mut().expect("pushed above");
            owners.extend(std::iter::repeat_n(i, items.len()));
            batch.extend(items);
            seen.extend(keys);
        }
        let writes: Vec<_> = calls.iter().map(|(_, batch, _)| self.batch_put(batch.clone())).collect();
        let written = futures::future::join_all(writes).await;
        for ((owners, _, _), result) in calls.iter().zip(written) {
            if let Err(err) = result {
                for &i in owners {
                    failed[i].get_or_insert_with(|| StoreError::Unavailable(err.to_string()));
                }
            }
        }
        failed.into_iter().map(|f| f.map_or(Ok(()), Err)).collect()
    }

    /// One `BatchWriteItem` of puts, re-sending unprocessed items (throttling) a few times.
    async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()> {
        let mut requests = Vec::with_capacity(items.len());
        for item in items {
            let put = PutRequest::builder().set_item(Some(item)).build().map_err(build_error)?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        for round in 0.. {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(unavailable)?;
            requests = out.unprocessed_items.unwrap_or_default().remove(&self.table).unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            if round >= BATCH_ROUNDS {
                return Err(StoreError::Unavailable("outcome write throttled".into()));
            }
            tokio::time::sleep(std::time::Duration::from_millis(25 << round.min(5))).await;
        }
        Ok(())
    }

    /// An outcome with a health change: one `TransactWriteItems` of the attempt (if that number
    /// is new), the delivery and the webhook (if it still exists). Failed conditions drop their
    /// action and the rest is tried again.
    async fn record_guarded(&self, outcome: &OutcomeRecord) -> StoreResult<()> {
        let mut with_attempt = outcome.attempt.is_some();
        let mut with_webhook = true;
        for _ in 0..3 {
            let mut actions = Vec::new();
            if with_attempt && let Some(attempt) = &outcome.attempt {
                actions.push(self.put_action(attempt_item(attempt)?, NOT_EXISTS, &[], false)?);
            }
            actions.push(self.put_action(delivery_item(&outcome.delivery)?, EXISTS, &[], false)?);
            if with_webhook && let Some(webhook) = &outcome.webhook {
                actions.push(self.put_action(webhook_item(webhook)?, EXISTS, &[], false)?);
            }
            let had_attempt = with_attempt && outcome.attempt.is_some();
            match transact(&self.client, actions).await? {
                Transaction::Committed => return Ok(()),
                Transaction::ConditionsFailed(reasons) => {
                    let failed: Vec<bool> = reasons.iter().map(reason_is_condition).collect();
                    let mut at = 0;
                    if had_attempt {
                        with_attempt &= !failed[at];
                        at += 1;
                    }
                    if failed.get(at).copied().unwrap_or(false) {
                        // The delivery is gone: nothing to record.
                        return Ok(());
                    }
                    with_webhook &= !failed.get(at + 1).copied().unwrap_or(false);
                }
            }
        }
        Err(StoreError::Conflict(format!("delivery {}", outcome.delivery.id)))
    }
}

/// One `BatchWriteItem`: the outcome each item belongs to, the items, their keys (a call holds
/// each key at most once).
type BatchCall = (Vec<usize>, Vec<Item>, HashSet<(String, String)>);

/// The plain items of an outcome without a health change.
fn outcome_items(outcome: &OutcomeRecord) -> StoreResult<Vec<Item>> {
    let mut items = Vec::with_capacity(2);
    if let Some(attempt) = &outcome.attempt {
        items.push(attempt_item(attempt)?);
    }
    items.push(delivery_item(&outcome.delivery)?);
    Ok(items)
}

fn item_key(item: &Item) -> (String, String) {
    let part = |name| match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    };
    (part(PK), part(SK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let sk = "2025-01-31T12:00:00.000000000Z#dlv_abc";
        assert_eq!(decode_cursor(&encode_cursor(sk)).unwrap(), sk);
        assert!(matches!(decode_cursor("!!"), Err(StoreError::NotFound(_))));
        assert!(matches!(decode_cursor(&URL_SAFE_NO_PAD.encode("nohash")), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn attempt_keys_sort_by_number() {
        assert_eq!(attempt_sk(7), "ATT#000007");
        assert!(attempt_sk(9) < attempt_sk(10));
    }
}
