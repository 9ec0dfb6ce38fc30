//! How far behind a projector is: events behind the head, seconds behind, and whether it is
//! held back by an open transaction rather than slow.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crm_eventstore::{EventStore, GlobalPosition, StoreError, TenantId};

use crate::model::ReadModel;
use crate::postgres::PostgresDocuments;
use crate::storage::StorageError;

/// A projector's lag for one tenant, measured at `measured_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lag {
    /// The projector's checkpoint.
    pub checkpoint: Option<GlobalPosition>,
    /// Committed events after the checkpoint (at least this many when `at_least`).
    pub events_behind: u64,
    /// Whether `events_behind` is a lower bound (the count stopped at a cap).
    pub at_least: bool,
    /// How long ago the oldest unprocessed event was recorded; zero when none is waiting.
    pub behind: Duration,
    /// The open transaction the store holds readers back for, when committed events wait
    /// behind it: "held at transaction X", which no speed of the projector can fix.
    pub held_by: Option<u64>,
    /// When this was measured.
    pub measured_at: DateTime<Utc>,
}

impl Lag {
    /// Measures through the event store port: reads at most `cap` events after `checkpoint`
    /// (so `events_behind` is exact below `cap` and a lower bound at it).
    pub async fn measure<S: EventStore>(
        store: &S,
        tenant: &TenantId,
        checkpoint: Option<GlobalPosition>,
        cap: usize,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let cap = cap.max(1);
        let page = store
            .read_all(tenant, checkpoint.unwrap_or(GlobalPosition::START), cap)
            .await?;
        // Unreadable rows count too: the projector still has to pass over (park) them.
        let oldest = page
            .events
            .first()
            .map(|event| event.recorded_at)
            .into_iter()
            .chain(page.unreadable.first().map(|event| event.recorded_at))
            .min();
        Ok(Self {
            checkpoint,
            events_behind: page.len() as u64,
            at_least: page.len() >= cap,
            behind: behind(oldest, now),
            held_by: page.held_by,
            measured_at: now,
        })
    }

    /// Measures exactly with one count over the event store's table, for a projection kept in
    /// the same PostgreSQL database as the events. `held_by` comes from a one-event read
    /// through `store`.
    pub async fn measure_postgres<S: EventStore, M: ReadModel>(
        store: &S,
        documents: &PostgresDocuments<M>,
        tenant: &TenantId,
        checkpoint: Option<GlobalPosition>,
        now: DateTime<Utc>,
    ) -> Result<Self, LagError> {
        let start = checkpoint.unwrap_or(GlobalPosition::START);
        let (events_behind, oldest) = documents.events_after(tenant, start).await?;
        let page = store.read_all(tenant, start, 1).await?;
        Ok(Self {
            checkpoint,
            events_behind,
            at_least: false,
            behind: behind(oldest, now),
            held_by: page.held_by,
            measured_at: now,
        })
    }
}

fn behind(oldest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Duration {
    oldest
        .and_then(|oldest| (now - oldest).to_std().ok())
        .unwrap_or(Duration::ZERO)
}

/// Why a lag could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum LagError {
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// The document store failed.
    #[error("document store: {0}")]
    Storage(#[from] StorageError),
}
