//! The outbox relay: what delivers the messages a unit of work wrote to the outbox.
//!
//! A message is written in the transaction of the events that caused it (a won deal's message
//! to the ERP, a rep's assignment notification), so it exists exactly when its cause does.
//! [`OutboxRelay`] then claims each tenant's due messages under a lease, hands them to a
//! [`Transport`] and records what happened: delivered, due again after a backoff, or parked.
//!
//! ## The guarantee: at least once, deduplicated by the receiver
//!
//! Every message is delivered **at least once**; none is lost while the outbox row exists.
//! It may be delivered more than once: when the process dies between the receiver's answer
//! and the record of it, when an answer is lost in transit, or when a delivery outlives its
//! lease. Every attempt carries the same `Idempotency-Key` (the message's
//! [`idempotency_key`](crate::OutboxMessage::idempotency_key), derived from its cause), and
//! the receiver is expected to dedupe on it, as Stripe's API does: the effect is then exactly
//! once. Messages carry no order: retries and concurrent deliveries reorder them.
//!
//! ## What the receiver's answer means
//!
//! - 2xx: delivered.
//! - A connection refused or reset, no answer within the timeout, 5xx, 408, 425, 429: tried
//!   again later, after the receiver's `Retry-After` when it sent one (bounded by the backoff
//!   cap), otherwise after an exponential backoff with full jitter.
//! - Any other status (4xx, a redirect): refused for good. The message is **parked**: never
//!   tried again, counted in [`OutboxHealth::parked`], kept with the reason for an operator.
//!   A message still failing after the relay's `max_attempts` is parked too.
//!
//! ## Where messages go
//!
//! A message names a logical destination (`"erp"`); [`Destinations`] maps each to a URL. A
//! destination declared [`per_message`](Destinations::per_message) lets a message name its
//! own URL in its payload's `"endpoint"` field (for per-rep webhooks); see [`Destinations`].

mod backoff;
mod destinations;
mod http;
mod relay;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use crate::uow::OutboxHealth;
use crate::uow::OutboxMessage;
pub use destinations::{DestinationError, Destinations};
pub use http::HttpTransport;
pub use relay::{OutboxRelay, RelayReport, RelaySettings};

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver took the message.
    Delivered,
    /// A transient failure (connection refused, timeout, 5xx, 408, 425, 429): try again.
    Retry {
        /// When the receiver said to try again (its `Retry-After`), if it did.
        after: Option<Duration>,
        /// What failed, for the outbox row and the logs.
        reason: String,
    },
    /// The receiver refused the message for good (4xx other than 408, 425 and 429): trying
    /// again would fail the same way, so the relay parks it.
    Rejected {
        /// Why, for the operator who looks at the parked message.
        reason: String,
    },
}

/// The port through which the relay sends a message to another system. No HTTP type appears
/// here: [`HttpTransport`] is the HTTP implementation, tests wrap or fake it.
///
/// A transport never panics and never fails outside [`Delivery`]: every failure is a
/// [`Delivery::Retry`] or a [`Delivery::Rejected`]. It sends the message's idempotency key
/// with every attempt, so the receiver can dedupe redeliveries.
pub trait Transport: Send + Sync + 'static {
    /// Sends `message` to `destination` (the message's logical destination, such as `"erp"`)
    /// once, and says what came of it.
    fn deliver(
        &self,
        destination: &str,
        message: &OutboxMessage,
    ) -> impl Future<Output = Delivery> + Send;
}

impl<T: Transport> Transport for Arc<T> {
    fn deliver(
        &self,
        destination: &str,
        message: &OutboxMessage,
    ) -> impl Future<Output = Delivery> + Send {
        T::deliver(self, destination, message)
    }
}
