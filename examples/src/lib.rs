//! Helpers shared by the examples: an embedded CRM over the event store in one SQLite file (the
//! embedded default: durable, no server) that loads an aggregate's stream, replays it, decides,
//! and appends the new events with an expected-version check, the way the application
//! services do.

use std::path::Path;

use chrono::{DateTime, Utc};
use crm_domain::{Actor, Aggregate, CodecError, Context, decode, encode};
use crm_eventstore::sqlite::SqliteDatabase;
use crm_eventstore::{
    BlockingStore, ExpectedVersion, Metadata, NewEvent, SqliteStore, StoreError, StoreSettings,
    StreamId, StreamRead, TenantId, VerifyReport,
};
use thiserror::Error;
use uuid::Uuid;

/// Why an example step failed.
#[derive(Debug, Error)]
pub enum ExampleError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The aggregate refused the command.
    #[error("{kind} refused the command: {message}")]
    Refused {
        /// The aggregate kind.
        kind: &'static str,
        /// The aggregate's error, as text.
        message: String,
    },
}

/// A CRM embedded in the process: the SQLite store behind a blocking facade, one tenant, and a
/// clock the example moves by hand (the domain never reads a clock).
pub struct EmbeddedCrm {
    store: BlockingStore<SqliteStore>,
    tenant: TenantId,
    /// The example's "now"; every decision is taken at this instant.
    pub now: DateTime<Utc>,
}

impl EmbeddedCrm {
    /// The CRM kept in the SQLite file at `path` (created if missing, its tables too), for
    /// `tenant`, starting at `now`.
    pub fn open(path: &Path, tenant: &str, now: DateTime<Utc>) -> Result<Self, ExampleError> {
        let store = SqliteStore::open(SqliteDatabase::open(path)?, StoreSettings::default())?;
        Ok(Self {
            store: BlockingStore::new(store)?,
            tenant: TenantId::new(tenant)?,
            now,
        })
    }

    /// Moves the clock forward by `minutes`.
    pub fn advance_minutes(&mut self, minutes: i64) {
        self.now += chrono::Duration::minutes(minutes);
    }

    /// Loads the aggregate stored in `"{KIND}-{id}"` and its version.
    pub fn load<A: Aggregate>(&self, id: Uuid) -> Result<(A, u64), ExampleError> {
        let stream = StreamId::new(format!("{}-{id}", A::KIND))?;
        let recorded = self
            .store
            .read_stream(&self.tenant, &stream, StreamRead::forward())?;
        let mut state = A::default();
        let mut version = 0;
        for event in recorded {
            let domain_event: A::Event =
                decode(&event.event_type, event.schema_version, event.payload)?;
            state = state.evolve(&domain_event);
            version = event.version;
        }
        Ok((state, version))
    }

    /// Loads the aggregate, decides `command` as `actor` at the current time, and appends the
    /// resulting events expecting the version it loaded (a concurrent writer would make the
    /// append fail rather than be overwritten). Returns the new events.
    pub fn execute<A: Aggregate>(
        &self,
        id: Uuid,
        command: A::Command,
        actor: Actor,
    ) -> Result<Vec<A::Event>, ExampleError> {
        let (state, version) = self.load::<A>(id)?;
        let metadata_actor = serde_json::to_value(&actor).ok();
        let ctx = Context::new(self.now, actor, Uuid::now_v7());
        let events = state
            .decide(command, &ctx)
            .map_err(|error| ExampleError::Refused {
                kind: A::KIND,
                message: error.to_string(),
            })?;
        if events.is_empty() {
            return Ok(events);
        }
        let correlation_id = Uuid::now_v7();
        let metadata = Metadata {
            actor: metadata_actor,
            correlation_id: Some(correlation_id),
            ..Metadata::default()
        };
        let new_events = events
            .iter()
            .enumerate()
            .map(|(slot, event)| {
                let encoded = encode(event)?;
                let slot = u16::try_from(slot).unwrap_or(u16::MAX);
                Ok(
                    NewEvent::new(encoded.event_type, encoded.schema_version, encoded.payload)
                        .with_id(ctx.fresh_id(1000 + slot))
                        .with_metadata(metadata.clone()),
                )
            })
            .collect::<Result<Vec<_>, CodecError>>()?;
        let stream = StreamId::new(format!("{}-{id}", A::KIND))?;
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        self.store
            .append(&self.tenant, &stream, expected, &new_events)?;
        Ok(events)
    }

    /// Walks every stream's hash chain.
    pub fn verify(&self) -> Result<VerifyReport, ExampleError> {
        Ok(self.store.verify(&self.tenant)?)
    }

    /// How many events the tenant holds, read in global order page by page.
    pub fn count_events(&self) -> Result<usize, ExampleError> {
        let mut after = crm_eventstore::GlobalPosition::START;
        let mut count = 0;
        loop {
            let page = self.store.read_all(&self.tenant, after, 500)?;
            if page.is_empty() {
                return Ok(count);
            }
            count += page.len();
            after = page.next;
        }
    }
}
