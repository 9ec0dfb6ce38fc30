//! The live lifecycle: documents folded on demand from the events, never stored. Reads only
//! the streams asked for, so memory grows with that history, not with the store.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use crm_domain::ContactId;
use crm_eventstore::{
    EventStore, GlobalPosition, RecordedEvent, StoreError, StreamId, StreamRead, TenantId,
};
use thiserror::Error;

use crate::customer360::{
    Customer360, Customer360Model, Customer360Query, CustomerDoc, contact_key,
};
use crate::decode::DecodeError;
use crate::event::{AggregateKind, ProjectedEvent, StreamRef};
use crate::memory::MemoryDocuments;
use crate::model::ReadModel;
use crate::storage::{DocumentStore, StorageError};

/// Why a live fold failed.
#[derive(Debug, Error)]
pub enum LiveError {
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// The document store (used to find a customer's streams) failed.
    #[error("document store: {0}")]
    Storage(#[from] StorageError),
    /// An event cannot be decoded: a fold that left it out would show a false history.
    #[error("event {version} of stream {stream} cannot be decoded: {source}")]
    Poison {
        /// The stream.
        stream: String,
        /// The event's version in it.
        version: u64,
        /// Why.
        source: DecodeError,
    },
    /// A stored row of the tenant cannot be read at all.
    #[error("event {version} of stream {stream} cannot be read: {reason}")]
    Unreadable {
        /// The stream.
        stream: String,
        /// The event's version in it.
        version: u64,
        /// Why.
        reason: String,
    },
    /// The model could not apply an event.
    #[error(transparent)]
    Model(#[from] crate::ProjectionError),
}

/// The moment a fold stands at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Everything recorded so far.
    Now,
    /// What had been recorded by this instant (recording time: what the CRM knew then).
    Recorded(DateTime<Utc>),
    /// What had happened by this instant in business time: each event counts from the time
    /// its source says the fact happened (the metadata's source timestamp), or from when it
    /// was recorded when the source named none. A fact recorded later about an earlier time
    /// counts; facts still fold in the order they were recorded.
    Business(DateTime<Utc>),
    /// Everything up to and including this position of the tenant's order.
    Position(GlobalPosition),
}

impl AsOf {
    fn admits(self, recorded: &RecordedEvent) -> bool {
        match self {
            AsOf::Now => true,
            AsOf::Recorded(at) => recorded.recorded_at <= at,
            AsOf::Business(at) => {
                recorded
                    .metadata
                    .source
                    .as_ref()
                    .and_then(|source| source.timestamp)
                    .unwrap_or(recorded.recorded_at)
                    <= at
            }
            AsOf::Position(position) => recorded.position <= position,
        }
    }
}

/// Folds the events of `streams` (of `tenant`) recorded at or before `as_of` (all when
/// `None`) into a fresh in-memory store of `model`, in global order: "the Customer 360 as of
/// 1 March". Events of kinds or types this build does not know are passed over; an event
/// that cannot be decoded fails the fold ([`LiveError::Poison`]).
pub async fn fold_streams<S, M>(
    store: &S,
    tenant: &TenantId,
    model: M,
    streams: &[StreamRef],
    as_of: Option<DateTime<Utc>>,
) -> Result<MemoryDocuments<M>, LiveError>
where
    S: EventStore,
    M: ReadModel,
{
    let as_of = as_of.map_or(AsOf::Now, AsOf::Recorded);
    fold_streams_at(store, tenant, model, streams, as_of).await
}

/// [`fold_streams`] at any [`AsOf`]: recording time, business time or a position.
pub async fn fold_streams_at<S, M>(
    store: &S,
    tenant: &TenantId,
    model: M,
    streams: &[StreamRef],
    as_of: AsOf,
) -> Result<MemoryDocuments<M>, LiveError>
where
    S: EventStore,
    M: ReadModel,
{
    let mut events: Vec<ProjectedEvent> = Vec::new();
    let unique: BTreeSet<StreamRef> = streams.iter().copied().collect();
    for stream in unique {
        let name = StreamId::new(stream.to_string())?;
        let read = match as_of {
            AsOf::Recorded(at) => StreamRead::forward().as_of_time(at),
            AsOf::Now | AsOf::Business(_) | AsOf::Position(_) => StreamRead::forward(),
        };
        for recorded in store.read_stream(tenant, &name, read).await? {
            if !as_of.admits(&recorded) {
                continue;
            }
            if let Some(event) = decode(tenant, recorded)? {
                events.push(event);
            }
        }
    }
    // Each stream is in order; the fold needs the tenant's global order across them.
    events.sort_by_key(ProjectedEvent::global_position);
    Ok(MemoryDocuments::fold(model, &events)?)
}

/// Every event of `tenant` admitted by `as_of`, folded into a fresh in-memory store of
/// `model`: a whole read model as it stood (the pipeline as of the end of a quarter). Reads
/// the tenant's whole history, a page at a time; memory grows with the documents, not the
/// events. Unreadable rows fail the fold, as an undecodable event does.
pub async fn fold_tenant_at<S, M>(
    store: &S,
    tenant: &TenantId,
    model: M,
    as_of: AsOf,
) -> Result<MemoryDocuments<M>, LiveError>
where
    S: EventStore,
    M: ReadModel,
{
    const PAGE: usize = 1_000;
    let mut documents = MemoryDocuments::new(model);
    let mut after = GlobalPosition::START;
    loop {
        let page = store.read_all(tenant, after, PAGE).await?;
        if let Some(unreadable) = page.unreadable.first() {
            return Err(LiveError::Unreadable {
                stream: unreadable.stream.clone(),
                version: unreadable.version,
                reason: unreadable.reason.clone(),
            });
        }
        let done = page.events.is_empty();
        for recorded in page.events {
            if let AsOf::Position(position) = as_of
                && recorded.position > position
            {
                return Ok(documents);
            }
            if !as_of.admits(&recorded) {
                continue;
            }
            if let Some(event) = decode(tenant, recorded)? {
                documents.apply(&event)?;
            }
        }
        if done || page.next == after {
            return Ok(documents);
        }
        after = page.next;
    }
}

fn decode(tenant: &TenantId, recorded: RecordedEvent) -> Result<Option<ProjectedEvent>, LiveError> {
    match ProjectedEvent::decode(
        recorded.position,
        recorded.recorded_at,
        tenant.clone(),
        recorded.stream.as_str(),
        &recorded.event_type,
        recorded.schema_version,
        recorded.payload,
    ) {
        Ok(event) => Ok(Some(event.acted_by(recorded.metadata.actor))),
        Err(error) if error.is_unknown() => Ok(None),
        Err(source) => Err(LiveError::Poison {
            stream: recorded.stream.as_str().to_owned(),
            version: recorded.version,
            source,
        }),
    }
}

/// The streams that make up the customer of `contact` as the served `documents` know it now:
/// every contact merged with it (either way, transitively) and their leads, opportunities and
/// tickets.
pub async fn customer_streams<D>(
    documents: &D,
    tenant: &TenantId,
    contact: ContactId,
) -> Result<Vec<StreamRef>, StorageError>
where
    D: DocumentStore<Customer360Model>,
{
    let mut contacts = vec![contact];
    let mut seen = BTreeSet::new();
    let mut streams = Vec::new();
    while let Some(contact) = contacts.pop() {
        if !seen.insert(contact) {
            continue;
        }
        streams.push(StreamRef::new(AggregateKind::Contact, contact.0));
        let Some(stored) = documents.get(tenant, &contact_key(contact)).await? else {
            continue;
        };
        let CustomerDoc::Contact(doc) = stored.doc else {
            continue;
        };
        contacts.extend(doc.merged_into);
        contacts.extend(doc.absorbed.iter().copied());
        streams.extend(
            doc.leads
                .iter()
                .map(|lead| StreamRef::new(AggregateKind::Lead, lead.0)),
        );
        streams.extend(
            doc.opportunities
                .iter()
                .map(|deal| StreamRef::new(AggregateKind::Opportunity, deal.0)),
        );
        streams.extend(
            doc.tickets
                .iter()
                .map(|ticket| StreamRef::new(AggregateKind::Ticket, ticket.0)),
        );
    }
    Ok(streams)
}

/// The Customer 360 of `contact` as of `as_of` (now when `None`), folded live from the events
/// of the customer's streams (found through the served `documents`), for auditors and time
/// travel. `None` when the customer had no contact document then.
pub async fn customer_360_as_of<S, D>(
    store: &S,
    documents: &D,
    tenant: &TenantId,
    contact: ContactId,
    as_of: Option<DateTime<Utc>>,
) -> Result<Option<Customer360>, LiveError>
where
    S: EventStore,
    D: DocumentStore<Customer360Model>,
{
    let streams = customer_streams(documents, tenant, contact).await?;
    let folded = fold_streams(store, tenant, Customer360Model, &streams, as_of).await?;
    Ok(folded.lookup(tenant, &Customer360Query { contact }))
}

/// [`customer_360_as_of`] at any [`AsOf`]: recording time, business time or a position.
pub async fn customer_360_at<S, D>(
    store: &S,
    documents: &D,
    tenant: &TenantId,
    contact: ContactId,
    as_of: AsOf,
) -> Result<Option<Customer360>, LiveError>
where
    S: EventStore,
    D: DocumentStore<Customer360Model>,
{
    let streams = customer_streams(documents, tenant, contact).await?;
    let folded = fold_streams_at(store, tenant, Customer360Model, &streams, as_of).await?;
    Ok(folded.lookup(tenant, &Customer360Query { contact }))
}
