//! One webhook, one event, one request: compile the webhook's templates, render them with the
//! event's values, sign, and send. The deliver use case and the management API's test send
//! both go through here, so a test send is exactly what a delivery would be.

use chrono::{DateTime, Utc};

use crate::model::{EventPayload, Webhook};
use crate::ports::{OutgoingRequest, SendOutcome, Sender};
use crate::service::outgoing::finalize;
use crate::signing::VerifyError;
use crate::template::{self, CompiledWebhook, TemplateError, Values};

/// Why no request could be built (nothing was sent).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("signing secret: {0}")]
    Secret(#[from] VerifyError),
}

/// The exact request, signed with the secrets active at `at`; `message_id` is its `webhook-id`.
/// It carries the webhook's own timeout, if it has one.
///
/// # Errors
/// A template that does not render, or an unusable signing secret.
pub fn prepare(
    webhook: &Webhook,
    event: &EventPayload,
    message_id: &str,
    at: DateTime<Utc>,
) -> Result<OutgoingRequest, PrepareError> {
    prepare_compiled(webhook, &template::compile(&webhook.spec)?, event, message_id, at)
}

/// [`prepare`] with templates compiled already (the deliver path caches them per revision).
///
/// # Errors
/// As [`prepare`].
pub fn prepare_compiled(
    webhook: &Webhook,
    compiled: &CompiledWebhook,
    event: &EventPayload,
    message_id: &str,
    at: DateTime<Utc>,
) -> Result<OutgoingRequest, PrepareError> {
    let rendered = compiled.render(&Values::from_payload(event))?;
    let mut request = finalize(rendered, &webhook.secrets.active(at), message_id, at)?;
    request.timeout = webhook.spec.own_timeout();
    Ok(request)
}

/// [`prepare`], then send.
///
/// # Errors
/// As [`prepare`]; sending itself never errors (its failures are in the outcome).
pub async fn render_and_send(
    sender: &dyn Sender,
    webhook: &Webhook,
    event: &EventPayload,
    message_id: &str,
    at: DateTime<Utc>,
) -> Result<(OutgoingRequest, SendOutcome), PrepareError> {
    let request = prepare(webhook, event, message_id, at)?;
    let outcome = sender.send(&request).await;
    Ok((request, outcome))
}
