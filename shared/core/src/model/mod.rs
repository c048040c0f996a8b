//! The nouns of Patchbay: what the pipeline tells us, what studios configure, what we record.

mod app;
mod app_token;
pub mod circuit;
mod delivery;
mod event;
mod license_key;
mod signing_secrets;
mod webhook;

pub use app::App;
pub use app_token::{AppToken, TOKEN_PREFIX};
pub use circuit::{Circuit, CircuitChange, CircuitState};
pub use delivery::{Attempt, AttemptError, Delivery, DeliveryStatus};
pub use event::{
    AppInfo, DeliveryRef, EventBody, EventName, EventPayload, EventState, FailedDelivery, OperationalBody,
    StoredEvent, VersionInfo, WebhookInfo,
};
pub use license_key::{
    AppCollections, Collection, CollectionId, LicenseKey, auto_block_reason, registration_hour,
};
pub use signing_secrets::{MAX_RETIRED_SECRETS, RetiredSecret, SigningSecrets};
pub use webhook::{PayloadFormat, Webhook, WebhookMethod, WebhookSpec};
