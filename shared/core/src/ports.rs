//! What the use cases need from the outside world, as traits. Adapters (SQLite, DynamoDB, SQS)
//! implement them; one contract test suite holds every adapter to the same behaviour.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{
    App, AppCollections, AppToken, Attempt, Collection, CollectionId, Delivery, DeliveryStatus, EventState,
    LicenseKey, StoredEvent, Webhook,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A create-if-absent found the item already there.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A conditional update found the item in another state than expected.
    #[error("conditional write on {0} lost a race")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The backing store failed (network, throttling, I/O, corrupt record).
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait AppStore: Send + Sync {
    /// Create-if-absent: `AlreadyExists` when the id is taken.
    async fn create_app(&self, app: &App) -> StoreResult<()>;
    async fn get_app(&self, id: &str) -> StoreResult<Option<App>>;
    /// Replace an existing app (`NotFound` if it is gone).
    async fn update_app(&self, app: &App) -> StoreResult<()>;
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Create-if-absent: `AlreadyExists` when the id is taken.
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()>;
    async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>>;
    /// Every webhook of an app, oldest first.
    async fn list_webhooks(&self, app_id: &str) -> StoreResult<Vec<Webhook>>;
    /// Replace an existing webhook (`NotFound` if it is gone).
    async fn update_webhook(&self, webhook: &Webhook) -> StoreResult<()>;
    /// `NotFound` if it was not there.
    async fn delete_webhook(&self, id: &str) -> StoreResult<()>;
}

/// Result of recording an event for the first time.
#[derive(Debug, Clone, PartialEq)]
pub enum EventCreation {
    Created,
    /// The id was already known: here is what was stored for it.
    Exists(StoredEvent),
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Write the event (create-if-absent on its id) together with its deliveries (each
    /// create-if-absent on its id). Adapters write both atomically where they can; when they
    /// cannot (very large fan-outs), the event is written first and a retry re-ensures the
    /// deliveries, which is why delivery ids are deterministic.
    async fn create_event(&self, event: &StoredEvent, deliveries: &[Delivery]) -> StoreResult<EventCreation>;
    async fn get_event(&self, id: &str) -> StoreResult<Option<StoredEvent>>;
    /// Take over an accepted event whose lease has run out: succeeds only if the stored
    /// `lease_until` still equals `expected_lease` (otherwise `Conflict`).
    async fn renew_event_lease(
        &self,
        id: &str,
        expected_lease: DateTime<Utc>,
        new_lease: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn set_event_state(
        &self,
        id: &str,
        state: EventState,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque; pass back to get the next page. `None` on the last page.
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Create-if-absent for each; returns how many were new.
    async fn ensure_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<usize>;
    async fn get_delivery(&self, id: &str) -> StoreResult<Option<Delivery>>;
    /// Replace an existing delivery (`NotFound` if it is gone).
    async fn update_delivery(&self, delivery: &Delivery) -> StoreResult<()>;
    /// Set the outbox flag on these deliveries.
    async fn mark_enqueued(&self, ids: &[String]) -> StoreResult<()>;
    /// A webhook's deliveries, newest first, optionally of one status.
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Delivery>>;
    /// Append an attempt; `AlreadyExists` if that number was already recorded.
    async fn record_attempt(&self, attempt: &Attempt) -> StoreResult<()>;
    /// A delivery's attempts, by number.
    async fn list_attempts(&self, delivery_id: &str) -> StoreResult<Vec<Attempt>>;
}

/// Everything one attempt reads, fetched in one round trip: the delivery, its webhook and its
/// event (each `None` when gone).
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptContext {
    pub delivery: Option<Delivery>,
    pub webhook: Option<Webhook>,
    pub event: Option<StoredEvent>,
}

/// Everything one attempt writes, in one round trip: the attempt record (absent when nothing
/// was sent), the delivery's new state, and the webhook when its health changed.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRecord {
    pub attempt: Option<Attempt>,
    pub delivery: Delivery,
    pub webhook: Option<Webhook>,
}

/// The deliver path's two round trips.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    /// The delivery, its webhook and its event, in one round trip (DynamoDB: one
    /// `BatchGetItem`, strongly consistent).
    async fn load_attempt_context(
        &self,
        delivery_id: &str,
        webhook_id: &str,
        event_id: &str,
    ) -> StoreResult<AttemptContext>;
    /// Write each outcome atomically (attempt + delivery + health change), in as few round
    /// trips as the store allows (SQLite: one transaction for all; DynamoDB: one
    /// `TransactWriteItems` per outcome, all at once). An attempt number that is already
    /// recorded (a duplicate message raced us) is left as it was, and the rest still written.
    /// A delivery or webhook that is gone is skipped. One result per outcome, in order.
    async fn record_outcomes(&self, outcomes: &[OutcomeRecord]) -> Vec<StoreResult<()>>;
    /// Claim the probe of a webhook whose circuit cool-down has run out: moves the circuit's
    /// `open_until` from `seen` to `until` if it still is `seen` (`Ok(false)` otherwise, or when
    /// the webhook is gone), so exactly one attempt probes.
    async fn claim_probe(
        &self,
        webhook_id: &str,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

/// How a key check went, decided by the store in one round trip where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyVerdict {
    Valid(LicenseKey),
    NotFound,
    Blocked,
    /// The key exists but belongs to another app (the key check answers it like an unknown
    /// key; the distinction is for the logs).
    OtherApp,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// All-or-nothing create-if-absent. Returns the keys that already existed; when any did,
    /// nothing is written.
    async fn create_keys(&self, keys: &[LicenseKey]) -> StoreResult<Vec<String>>;
    async fn get_key(&self, key: &str) -> StoreResult<Option<LicenseKey>>;
    /// Those of these keys that exist (strongly consistent), in no particular order.
    async fn get_keys(&self, keys: &[&str]) -> StoreResult<Vec<LicenseKey>> {
        let mut found = Vec::new();
        for key in keys {
            found.extend(self.get_key(key).await?);
        }
        Ok(found)
    }
    /// The hot path, one round trip where the store allows it. The key must exist, belong to
    /// `app_id` and not be blocked; then, when `register` is set, `registrations` goes up by one
    /// atomically and the returned key shows the new count. `OtherApp` means another app's
    /// key. The key secret is compared by the caller, in constant time.
    async fn check_key(&self, key: &str, app_id: &str, register: bool) -> StoreResult<KeyVerdict>;
    /// `NotFound` if the key does not exist.
    async fn set_key_blocked(&self, key: &str, blocked: bool) -> StoreResult<LicenseKey>;
    /// A registering [`check_key`](KeyStore::check_key) that also counts the registration in
    /// the key's window for `hour` ([`registration_hour`](crate::model::registration_hour)),
    /// in the same write: the registration that would take the window above `per_hour` blocks
    /// the key instead, with [`auto_block_reason`](crate::model::auto_block_reason), and
    /// answers `Blocked`. A store that keeps no window counts without limit.
    async fn register_limited(
        &self,
        key: &str,
        app_id: &str,
        per_hour: u64,
        hour: i64,
    ) -> StoreResult<KeyVerdict> {
        let _ = (per_hour, hour);
        self.check_key(key, app_id, true).await
    }

    /// Delete every key of an app (PatchKit's `DELETE /v2/apps/{app_secret}`); how many.
    async fn delete_app_keys(&self, app_id: &str) -> StoreResult<usize>;

    /// A new, unblocked collection of `app_id` under a fresh id, unique in the deployment
    /// (SQLite: autoincrement; DynamoDB: an atomic counter).
    async fn create_collection(
        &self,
        app_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Collection>;
    async fn get_collection(&self, id: CollectionId) -> StoreResult<Option<Collection>>;
    /// Every collection of an app, by id (the first is its default).
    async fn list_collections(&self, app_id: &str) -> StoreResult<Vec<Collection>>;
    /// `NotFound` if the collection does not exist.
    async fn set_collection_blocked(&self, id: CollectionId, blocked: bool) -> StoreResult<Collection>;
    /// The default and blocked collections of an app, read when the key check caches the app.
    async fn app_collections(&self, app_id: &str) -> StoreResult<AppCollections>;
    /// One page of a collection's keys, by key, and how many it holds in all.
    async fn list_collection_keys(
        &self,
        id: CollectionId,
        offset: usize,
        size: usize,
    ) -> StoreResult<(usize, Vec<LicenseKey>)>;
}

/// Per-app API tokens, found by the hash of their value.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Create-if-absent on the id (and on the hash): `AlreadyExists` when either is taken.
    async fn create_token(&self, token: &AppToken) -> StoreResult<()>;
    /// The token whose value hashes to `hash` (`ids::secret_lookup_hash`), read consistently:
    /// a token deleted a moment ago is not found.
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<AppToken>>;
    /// Every token of an app, oldest first.
    async fn list_tokens(&self, app_id: &str) -> StoreResult<Vec<AppToken>>;
    /// Revoke: `NotFound` if it was not there. Returns the deleted token.
    async fn delete_token(&self, id: &str) -> StoreResult<AppToken>;
    /// Set `last_used_at`; `NotFound` (and nothing written) if the token is gone.
    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
}

#[async_trait]
pub trait AppSecretIndex: Send + Sync {
    /// Which app holds this secret (the key check authenticates by app secret alone).
    async fn app_for_secret(&self, app_secret: &str) -> StoreResult<Option<App>>;
}

/// A message to put on the delivery queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    pub delay: Duration,
    /// The event's correlation id, carried beside the body (an SQS message attribute), so
    /// every log line of every attempt names it.
    pub correlation_id: Option<String>,
}

/// A message taken off the queue, invisible to others until its visibility timeout runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// How many times it has been received, this time included (SQS `ApproximateReceiveCount`).
    pub receive_count: u32,
    /// As it was sent.
    pub correlation_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The receipt handle is stale (the message was received again, or deleted).
    #[error("receipt handle is no longer valid")]
    InvalidReceipt,
}

pub type QueueResult<T> = Result<T, QueueError>;

/// A queue with SQS semantics: at-least-once, visibility timeouts, receive counts.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Send up to any number of messages (adapters batch by 10). All-or-error: on error, the
    /// caller cannot tell which were sent, so it re-sends them all (receivers dedupe).
    async fn send(&self, messages: &[OutgoingMessage]) -> QueueResult<()>;
    /// Up to `max` visible messages, each made invisible for `visibility`. May wait up to
    /// `wait` for the first message (long polling).
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> QueueResult<Vec<ReceivedMessage>>;
    /// Make the message visible again after `visibility` from now (zero: at once).
    async fn change_visibility(&self, receipt_handle: &str, visibility: Duration) -> QueueResult<()>;
    async fn delete(&self, receipt_handle: &str) -> QueueResult<()>;
}

/// A request ready to go on the wire: rendered, signed, headers final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    pub method: crate::model::WebhookMethod,
    pub url: String,
    /// Final headers in order (studio headers, then ours: content-type, user-agent, webhook-*).
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The webhook's own timeout; the sender's configured one when `None`.
    pub timeout: Option<Duration>,
}

/// What came back from a receiver that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// At most the first 4 KiB of the body (the sender reads no more than 64 KiB).
    pub body: Vec<u8>,
    /// The raw `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

/// Why no status came back: the kind recorded on the attempt, and a human detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", kind.as_str())]
pub struct SendFailure {
    pub kind: crate::model::AttemptError,
    pub detail: String,
}

/// The outcome of one send, timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    pub duration: Duration,
    pub result: Result<HttpResponse, SendFailure>,
}

/// Sends webhook requests. The production adapter refuses private addresses (SSRF guard),
/// follows no redirects, and enforces a timeout (the request's own, when it has one).
#[async_trait]
pub trait Sender: Send + Sync {
    async fn send(&self, request: &OutgoingRequest) -> SendOutcome;
}

/// Every port the main table serves, as one object-safe trait for `Arc<dyn Store>`.
pub trait Store:
    AppStore + AppSecretIndex + WebhookStore + EventStore + DeliveryStore + AttemptStore + TokenStore
{
}
impl<T: AppStore + AppSecretIndex + WebhookStore + EventStore + DeliveryStore + AttemptStore + TokenStore>
    Store for T
{
}
