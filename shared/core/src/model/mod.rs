//! The nouns of Patchbay: what the pipeline tells us, what studios configure, what we record.

mod app;
pub mod circuit;
mod delivery;
mod event;
mod license_key;
mod signing_secrets;
mod webhook;

pub use app::App;
pub use circuit::{Circuit, CircuitChange, CircuitState};
pub use delivery::{Attempt, AttemptError, Delivery, DeliveryStatus};
pub use event::{AppInfo, DeliveryRef, EventBody, EventName, EventState, StoredEvent, VersionInfo};
pub use license_key::LicenseKey;
pub use signing_secrets::{MAX_RETIRED_SECRETS, RetiredSecret, SigningSecrets};
pub use webhook::{PayloadFormat, Webhook, WebhookMethod, WebhookSpec};
