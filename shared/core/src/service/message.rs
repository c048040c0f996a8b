//! The body of a delivery-queue message: just references, so the queue never holds event data
//! or secrets, and a redelivery always renders from the stored event. It names the webhook and
//! the event besides the delivery, so the deliver function reads all three in one round trip.

use serde::{Deserialize, Serialize};

use crate::model::Delivery;
use crate::ports::OutgoingMessage;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub delivery_id: String,
    /// Absent in messages from before they carried it: the delivery is then read first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

impl DeliveryMessage {
    /// A message for this delivery, without a correlation id.
    #[must_use]
    pub fn outgoing(delivery: &Delivery) -> OutgoingMessage {
        let body = serde_json::json!({
            "delivery_id": delivery.id,
            "webhook_id": delivery.webhook_id,
            "event_id": delivery.event_id,
        })
        .to_string();
        OutgoingMessage { body, delay: std::time::Duration::ZERO, correlation_id: None }
    }

    /// A message naming only the delivery (the shape from before messages named the webhook and
    /// the event): still handled, at the cost of one read more.
    #[must_use]
    pub fn for_id(delivery_id: &str) -> OutgoingMessage {
        let body = serde_json::json!({ "delivery_id": delivery_id }).to_string();
        OutgoingMessage { body, delay: std::time::Duration::ZERO, correlation_id: None }
    }

    /// The message for `delivery`, carrying its event's correlation id.
    #[must_use]
    pub fn of(delivery: &Delivery) -> OutgoingMessage {
        let mut message = DeliveryMessage::outgoing(delivery);
        message.correlation_id = Some(crate::ids::correlation_id(&delivery.event_id));
        message
    }

    #[must_use]
    pub fn parse(body: &str) -> Option<DeliveryMessage> {
        serde_json::from_str(body).ok()
    }
}
