//! The body of a delivery-queue message: just a reference, so the queue never holds event data
//! or secrets, and a redelivery always renders from the stored event.

use serde::{Deserialize, Serialize};

use crate::model::Delivery;
use crate::ports::OutgoingMessage;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub delivery_id: String,
}

impl DeliveryMessage {
    /// A message for this delivery, without a correlation id.
    #[must_use]
    pub fn outgoing(delivery_id: &str) -> OutgoingMessage {
        let body = serde_json::json!({ "delivery_id": delivery_id }).to_string();
        OutgoingMessage { body, delay: std::time::Duration::ZERO, correlation_id: None }
    }

    /// The message for `delivery`, carrying its event's correlation id.
    #[must_use]
    pub fn of(delivery: &Delivery) -> OutgoingMessage {
        let mut message = DeliveryMessage::outgoing(&delivery.id);
        message.correlation_id = Some(crate::ids::correlation_id(&delivery.event_id));
        message
    }

    #[must_use]
    pub fn parse(body: &str) -> Option<DeliveryMessage> {
        serde_json::from_str(body).ok()
    }
}
