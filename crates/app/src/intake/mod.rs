//! Lead intake with zero leakage: a delivery from a marketing tool is kept in a durable inbox
//! in one insert and acknowledged; workers turn inbox items into routed leads.
//!
//! - [`Inbox::submit`] stores deliveries (one, or a bulk batch, in one statement). A
//!   redelivery with the same (source, external event id) is recognised and stored once
//!   ([`Submitted::Duplicate`]). Nothing else runs on the request path.
//! - [`IntakeWorker`] claims items in batches (on PostgreSQL `FOR UPDATE SKIP LOCKED` under a
//!   lease, so several workers in several processes share the load) and, per item: records the
//!   lead as received (with the delivery's raw payload), captures it (validation: a failure
//!   quarantines the lead with every reason, and the raw payload stays for a replay after a
//!   fix), routes and assigns a captured lead, then marks the item done. The captured leads
//!   of a pass are routed together ([`route_leads`](crate::routing::route_leads)): each team
//!   is offered all of its leads of the pass with one command and one append, so a busy team
//!   is not a turn per lead.
//! - The lead's id derives from (source, external event id), and its first append holds both
//!   its receipt and its capture (or quarantine): a second run finds the stream and goes on
//!   from it. Every later step is a command keyed by the item. A worker killed at any point
//!   and an item claimed again redo nothing that was done and skip nothing that was not.
//!   Every delivery becomes exactly one lead, never one received but not yet validated.
//! - Back-pressure, not loss: when workers fall behind the inbox grows; [`Inbox::health`]
//!   reports its depth and the age of its oldest item. Nothing is refused for being late.
//!
//! - With [`IdentityResolution`] configured, a captured lead's person is looked up in the
//!   identity index (`crm_projections::identity`) before routing; the best candidate that
//!   the linkage model does not call distinct is recorded on the lead
//!   (`LeadContactMatched`, with its per-field evidence), auto-link or review. The index is
//!   a projection, so a contact created a moment ago may not be found yet.

mod identity;
mod mapping;
mod memory;
mod postgres;
mod sqlite;
mod suppression;
mod worker;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use crm_eventstore::TenantId;
use serde_json::Value;
use thiserror::Error;
use uuid::Uuid;

pub use identity::{CandidateSource, IdentityResolution, IndexCandidates};
pub use mapping::{campaign_from, custom_values, submission_from};
pub use memory::MemoryInbox;
pub use postgres::PostgresInbox;
pub use sqlite::SqliteInbox;
pub use suppression::SuppressedIdentifier;
pub use worker::{IntakeReport, IntakeSettings, IntakeWorker, MappingReport, ReplayReport};

use crate::ids::derive_id;
use crate::uow::WorkError;

/// The namespace lead ids of deliveries derive from.
const INTAKE_NAMESPACE: Uuid = Uuid::from_u128(0x0e1a_7a5e_0000_4000_8000_0000_0000_0001);

/// The longest source name or external event id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// The largest payload accepted, in bytes of JSON: half the event store's default event size
/// limit, so the lead's first event (the payload and its envelope) always fits.
pub const MAX_PAYLOAD_BYTES: usize = crm_eventstore::DEFAULT_MAX_EVENT_BYTES / 2;

/// One delivery of a lead from a marketing tool, as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadDelivery {
    /// The sending system (`"hubspot"`, `"web-form"`).
    pub source: String,
    /// The sender's id of the event; a redelivery carries the same one.
    pub external_id: String,
    /// The payload exactly as delivered.
    pub payload: Value,
}

impl LeadDelivery {
    /// The id of the item, and of the lead it becomes: derived from source and external id,
    /// so a redelivery names the same lead.
    pub fn item_id(&self) -> Uuid {
        derive_id(
            INTAKE_NAMESPACE,
            &format!("{}\u{0}{}", self.source, self.external_id),
        )
    }

    /// Refuses what the inbox cannot keep: empty or overlong names, a payload deeper than the
    /// domain accepts or larger than [`MAX_PAYLOAD_BYTES`].
    pub fn check(&self) -> Result<(), IntakeError> {
        for (what, text) in [("source", &self.source), ("external id", &self.external_id)] {
            if text.trim().is_empty() {
                return Err(IntakeError::Invalid {
                    reason: format!("the {what} is empty"),
                });
            }
            if text.len() > MAX_ID_BYTES || text.contains('\u{0}') {
                return Err(IntakeError::Invalid {
                    reason: format!(
                        "the {what} is longer than {MAX_ID_BYTES} bytes or holds a NUL character"
                    ),
                });
            }
        }
        if crm_domain::json_depth::nests_deeper_than(&self.payload, crm_domain::MAX_JSON_DEPTH) {
            return Err(IntakeError::Invalid {
                reason: format!(
                    "the payload nests deeper than {} levels",
                    crm_domain::MAX_JSON_DEPTH
                ),
            });
        }
        // Measured only after the depth check: serializing recurses once per level.
        let size = serde_json::to_vec(&self.payload).map_or(usize::MAX, |bytes| bytes.len());
        if size > MAX_PAYLOAD_BYTES {
            return Err(IntakeError::Invalid {
                reason: format!(
                    "the payload is {size} bytes, above the {MAX_PAYLOAD_BYTES} accepted"
                ),
            });
        }
        Ok(())
    }
}

/// What the inbox made of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// Stored: it will become lead `id`.
    Accepted {
        /// The item's id (the lead's).
        id: Uuid,
    },
    /// A redelivery of an item stored before; nothing was stored.
    Duplicate {
        /// The item's id (the lead's).
        id: Uuid,
    },
}

/// An item of the inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxItem {
    /// Its id, also the lead's.
    pub id: Uuid,
    /// The delivery.
    pub delivery: LeadDelivery,
    /// When the inbox stored it.
    pub received_at: DateTime<Utc>,
    /// Attempts that failed so far.
    pub attempts: u32,
}

/// How the inbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InboxHealth {
    /// Items not yet done.
    pub depth: u64,
    /// How long the oldest of them has waited; `None` when there is none.
    pub oldest_age: Option<TimeDelta>,
    /// Items not done whose last attempt failed.
    pub failing: u64,
}

/// Why a delivery was refused or the inbox failed.
#[derive(Debug, Error)]
pub enum IntakeError {
    /// The delivery cannot be kept (see [`LeadDelivery::check`]); nothing was stored.
    #[error("delivery refused: {reason}")]
    Invalid {
        /// Why.
        reason: String,
    },
    /// The inbox's storage failed; a retry of the same deliveries is safe.
    #[error(transparent)]
    Work(#[from] WorkError),
}

/// The port of inboxes: per tenant, one item per (source, external id).
pub trait Inbox: Send + Sync + 'static {
    /// Stores the deliveries (already checked) received at `at`, each once; says per delivery
    /// whether it was new. All in one statement on PostgreSQL.
    fn submit(
        &self,
        tenant: &TenantId,
        deliveries: &[LeadDelivery],
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Submitted>, WorkError>> + Send;

    /// Up to `limit` items not done and due at `now`, oldest first, each leased to the caller
    /// until `now + lease`.
    fn claim(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<InboxItem>, WorkError>> + Send;

    /// Marks an item done; it is never claimed again.
    fn done(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Marks items done, as [`done`](Self::done) does each (on PostgreSQL in one statement).
    fn done_all(
        &self,
        tenant: &TenantId,
        ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send {
        async move {
            for id in ids {
                self.done(tenant, *id, at).await?;
            }
            Ok(())
        }
    }

    /// Records a failed attempt; the item is due again at `retry_at`.
    fn failed(
        &self,
        tenant: &TenantId,
        id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Adds identifiers of an erased person to the tenant's suppression list (see
    /// [`SuppressedIdentifier`]); adding one twice changes nothing.
    fn suppress(
        &self,
        tenant: &TenantId,
        identifiers: &[SuppressedIdentifier],
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// Whether one of `identifiers` is on the tenant's suppression list.
    fn is_suppressed(
        &self,
        tenant: &TenantId,
        identifiers: &[SuppressedIdentifier],
    ) -> impl Future<Output = Result<bool, WorkError>> + Send;

    /// Those of `identifiers` on the tenant's suppression list (on PostgreSQL in one query;
    /// by default one [`is_suppressed`](Self::is_suppressed) each).
    fn suppressed_among(
        &self,
        tenant: &TenantId,
        identifiers: &[SuppressedIdentifier],
    ) -> impl Future<Output = Result<std::collections::HashSet<SuppressedIdentifier>, WorkError>> + Send
    {
        async move {
            let mut found = std::collections::HashSet::new();
            for identifier in identifiers {
                if self
                    .is_suppressed(tenant, std::slice::from_ref(identifier))
                    .await?
                {
                    found.insert(*identifier);
                }
            }
            Ok(found)
        }
    }

    /// Marks an item done without a lead and forgets its payload (a delivery naming a
    /// suppressed person): it is never claimed again, and nothing of it but its source,
    /// external id and `reason` stays.
    fn discard(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> impl Future<Output = Result<(), WorkError>> + Send;

    /// How the tenant's inbox stands at `now`.
    fn health(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<InboxHealth, WorkError>> + Send;

    /// A signal that moves whenever this inbox, or a clone of it, stores a new delivery: an
    /// idle worker of the same process starts its pass at once instead of at the end of its
    /// pause ([`IntakeWorker::run`]). Deliveries stored by another process are seen when the
    /// pause ends. `None` (the default) for an inbox without one.
    fn arrivals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// The signal of new deliveries an inbox and its clones share (see [`Inbox::arrivals`]).
#[derive(Debug, Clone)]
pub(crate) struct Arrivals(Arc<tokio::sync::watch::Sender<u64>>);

impl Default for Arrivals {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(0)))
    }
}

impl Arrivals {
    /// Says that new deliveries were stored.
    pub(crate) fn arrived(&self) {
        self.0.send_modify(|count| *count = count.wrapping_add(1));
    }

    /// A receiver that sees the next arrival.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Checks and stores `deliveries`: the request path of a webhook. Refuses the whole batch if
/// one delivery is invalid (nothing stored), so a sender learns of it at once.
pub async fn submit<I: Inbox>(
    inbox: &I,
    tenant: &TenantId,
    deliveries: &[LeadDelivery],
    at: DateTime<Utc>,
) -> Result<Vec<Submitted>, IntakeError> {
    for delivery in deliveries {
        delivery.check()?;
    }
    Ok(inbox.submit(tenant, deliveries, at).await?)
}
